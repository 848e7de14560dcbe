//! What the log's leaves commit to: one entry per event, in a canonical byte form
//! (`dawgmon-leaf v1\n` and compact JSON with fields in a fixed order and maps sorted by key),
//! so the same event always hashes alike. Pure, and below the store (which appends label,
//! report and prune entries in the transactions that make those events).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::merkle::{Hash, leaf_hash};

const MAGIC: &[u8] = b"dawgmon-leaf v1\n";

/// One event of the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Entry {
    /// A stored scan: its id, times, what started it, and per collector the content hash of
    /// its output (`blob:<sha256>`) or why it could not run (`unavailable:<reason>`).
    Scan {
        scan: i64,
        started_at: i64,
        finished_at: i64,
        hostname: String,
        root: String,
        trigger: String,
        collectors: BTreeMap<String, String>,
    },
    /// The report of a scan went out: the SHA-256 of the mail's text body.
    Report { scan: i64, report: String },
    /// A label (baseline) set on a scan, moved to it, or removed (`scan: null`).
    Label {
        label: String,
        scan: Option<i64>,
        at: i64,
    },
    /// Retention removed these scans' data (inclusive id ranges); their leaves stay.
    Prune { scans: Vec<(i64, i64)>, at: i64 },
    /// `seal init` made a seed: the first (generation 0) or an explicit re-init.
    Init {
        generation: u64,
        epoch: u64,
        at: i64,
    },
}

impl Entry {
    /// The canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        serde_json::to_writer(&mut out, self).expect("an entry serialises");
        out
    }

    /// Parses [`Entry::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let json = bytes
            .strip_prefix(MAGIC)
            .ok_or("no dawgmon-leaf v1 header")?;
        serde_json::from_slice(json).map_err(|e| e.to_string())
    }

    /// The RFC 6962 leaf hash of the canonical bytes.
    pub fn leaf(&self) -> Hash {
        leaf_hash(&self.to_bytes())
    }

    /// The kind, as the log table's `kind` column holds it.
    pub fn kind(&self) -> &'static str {
        match self {
            Entry::Scan { .. } => "scan",
            Entry::Report { .. } => "report",
            Entry::Label { .. } => "label",
            Entry::Prune { .. } => "prune",
            Entry::Init { .. } => "init",
        }
    }

    /// The scan the entry is about, if one.
    pub fn scan(&self) -> Option<i64> {
        match self {
            Entry::Scan { scan, .. } | Entry::Report { scan, .. } => Some(*scan),
            Entry::Label { scan, .. } => *scan,
            _ => None,
        }
    }
}

/// The SHA-256 (hex) of a report's text, as [`Entry::Report`] holds it.
pub fn report_hash(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Sorted ids as inclusive ranges: [1,2,3,7] → [(1,3),(7,7)].
pub fn ranges(ids: &[i64]) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    for &id in ids {
        match out.last_mut() {
            Some((_, hi)) if *hi + 1 == id => *hi = id,
            _ => out.push((id, id)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_canonical_and_round_trip() {
        let e = Entry::Scan {
            scan: 3,
            started_at: 1,
            finished_at: 2,
            hostname: "h".into(),
            root: "/".into(),
            trigger: "schedule".into(),
            collectors: [("b".to_string(), "blob:x".to_string())]
                .into_iter()
                .collect(),
        };
        let bytes = e.to_bytes();
        assert!(bytes.starts_with(b"dawgmon-leaf v1\n{\"kind\":\"scan\",\"scan\":3,"));
        assert_eq!(Entry::from_bytes(&bytes).unwrap(), e);
        assert_eq!(e.leaf(), leaf_hash(&bytes));
        assert_eq!(ranges(&[1, 2, 3, 7, 9, 10]), vec![(1, 3), (7, 7), (9, 10)]);
    }
}
