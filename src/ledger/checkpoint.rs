//! A sealed checkpoint and its one-line text, the form in which it leaves the host (mail body
//! and header, journal field, change log, `dawgctl status`) and comes back (`dawgctl verify
//! --checkpoint`):
//!
//! `dawgmon-checkpoint v1 gen=0 epoch=12 size=40 root=<64 hex> time=2025-01-02T03:04:05.678Z seal=<64 hex>`
//!
//! The seal is HMAC-SHA256, under the key of epoch `epoch`, of everything before ` seal=`:
//! the epoch number is part of what is sealed, so a seal made with one epoch's key can never
//! pass for another epoch's (the mistake of CVE-2023-31439).

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::key::EpochKey;
use super::merkle::Hash;

/// A checkpoint: the tree at one size, sealed at one epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub generation: u64,
    pub epoch: u64,
    pub size: u64,
    pub root: Hash,
    /// Unix milliseconds.
    pub time: i64,
    pub seal: Hash,
}

const PREFIX: &str = "dawgmon-checkpoint v1";

impl Checkpoint {
    /// Seals the tree of `size` leaves with root `root` at `time` under `key` (whose epoch and
    /// generation it takes).
    pub fn seal(key: &EpochKey, size: u64, root: Hash, time: i64) -> Self {
        let mut cp = Checkpoint {
            generation: key.generation,
            epoch: key.epoch,
            size,
            root,
            time,
            seal: [0; 32],
        };
        cp.seal = cp.mac(key);
        cp
    }

    /// The text that is sealed.
    fn body(&self) -> String {
        format!(
            "{PREFIX} gen={} epoch={} size={} root={} time={}",
            self.generation,
            self.epoch,
            self.size,
            hex::encode(self.root),
            time_text(self.time)
        )
    }

    fn mac(&self, key: &EpochKey) -> Hash {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(key.bytes()).expect("HMAC takes any key size");
        mac.update(self.body().as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Whether the seal is valid under `key` (which must be this checkpoint's epoch's key:
    /// a key of another epoch or generation never is).
    pub fn valid_under(&self, key: &EpochKey) -> bool {
        if key.epoch != self.epoch || key.generation != self.generation {
            return false;
        }
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(key.bytes()).expect("HMAC takes any key size");
        mac.update(self.body().as_bytes());
        mac.verify_slice(&self.seal).is_ok()
    }

    /// The one-line text.
    pub fn to_line(&self) -> String {
        format!("{} seal={}", self.body(), hex::encode(self.seal))
    }

    /// Parses [`Checkpoint::to_line`], wherever it sits in `text` (a mail header, a log line).
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!(
                "not a dawgmon checkpoint ({why}): expected one line `{PREFIX} gen=… epoch=… \
                 size=… root=… time=… seal=…` as mail, the journal or `dawgctl status` show it"
            )
        };
        let at = text.find(PREFIX).ok_or_else(|| bad("no marker"))?;
        let rest = &text[at + PREFIX.len()..];
        let mut fields = std::collections::BTreeMap::new();
        for word in rest.split_whitespace().take(6) {
            let (k, v) = word.split_once('=').ok_or_else(|| bad(word))?;
            fields.insert(k, v);
        }
        let get = |k: &str| {
            fields
                .get(k)
                .copied()
                .ok_or_else(|| bad(&format!("no {k}=")))
        };
        let num = |k: &str| -> Result<u64, String> {
            get(k)?
                .parse()
                .map_err(|_| bad(&format!("{k}= is not a number")))
        };
        let hash = |k: &str| -> Result<Hash, String> {
            hex::decode(get(k)?)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| bad(&format!("{k}= is not 64 hex digits")))
        };
        let time = DateTime::parse_from_rfc3339(get("time")?)
            .map_err(|_| bad("time= is not an RFC 3339 time"))?
            .timestamp_millis();
        let cp = Checkpoint {
            generation: num("gen")?,
            epoch: num("epoch")?,
            size: num("size")?,
            root: hash("root")?,
            time,
            seal: hash("seal")?,
        };
        Ok(cp)
    }
}

/// A time as checkpoints write it: RFC 3339, UTC, milliseconds.
pub fn time_text(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_round_trips_and_binds_its_epoch() {
        let k0 = EpochKey::generate(0, 0).unwrap();
        let k5 = k0.at(5).unwrap();
        let cp = Checkpoint::seal(&k5, 40, [7; 32], 1_700_000_000_123);
        let line = cp.to_line();
        assert!(!line.contains('\n'));
        assert_eq!(
            Checkpoint::parse(&format!("X-Dawgmon-Checkpoint: {line}")).unwrap(),
            cp
        );
        assert!(cp.valid_under(&k5));
        // The same MAC relabelled as another epoch, or checked with another epoch's key: no.
        let mut moved = cp.clone();
        moved.epoch = 6;
        assert!(!moved.valid_under(&k0.at(6).unwrap()));
        assert!(!cp.valid_under(&k0.at(6).unwrap()));
        let mut grown = cp.clone();
        grown.size = 41;
        assert!(!grown.valid_under(&k5));
        assert!(Checkpoint::parse("dawgmon-checkpoint v1 gen=0 epoch=x").is_err());
    }
}
