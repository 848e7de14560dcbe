//! What a new scan is compared with: per collector the newest scan in which it worked, the
//! runs of scans in which it could not (gaps), and the outage and recovery changes and
//! warnings those make.

use super::*;

impl Engine {
    /// What the collectors in `names` found last before scan `id`: for each, the output of
    /// the newest earlier scan in which it WORKED, however far back — so a change made while a
    /// collector was unavailable (or not run, in a scan of a subset) is reported by the first
    /// scan in which it works again, never lost. Also notes since when each was not compared.
    ///
    /// Only manifests (content hashes) are read to find them; the content is read only for
    /// collectors whose output differs from scan `id`'s (`new`), so an unchanged host costs no
    /// load and no diff, and then item by item, keeping only the items that differ.
    pub(super) async fn earlier_outcomes(
        &self,
        id: i64,
        names: &[String],
        new: &Snapshot,
    ) -> Result<Option<Earlier>, Error> {
        let Some(prev) = self.store.previous(id).await? else {
            return Ok(None);
        };
        let history = self.store.history_before(id).await?;
        let mut manifests: HashMap<String, store::Manifest> = HashMap::new();
        let mut found = store::Manifest::new();
        let mut base: BTreeMap<String, (i64, DateTime<Utc>)> = BTreeMap::new();
        let mut gaps: BTreeMap<String, Gap> = BTreeMap::new();
        let mut pending: Vec<&String> = names.iter().collect();
        for (scan, finished, hash) in &history {
            if pending.is_empty() {
                break;
            }
            if !manifests.contains_key(hash) {
                let m = self.store.manifest_by_hash(*scan, hash).await?;
                manifests.insert(hash.clone(), m);
            }
            let m = &manifests[hash];
            pending.retain(|name| match m.get(*name) {
                Some(entry @ store::ManifestEntry::Blob(_)) => {
                    found.insert((*name).clone(), entry.clone());
                    base.insert((*name).clone(), (*scan, *finished));
                    false
                }
                Some(store::ManifestEntry::Unavailable(why)) => {
                    // Going back in time: each one found is older.
                    let gap = gaps.entry((*name).clone()).or_insert_with(|| Gap {
                        scans: 0,
                        why: why.clone(),
                    });
                    gap.scans += 1;
                    found
                        .entry((*name).clone())
                        .or_insert_with(|| store::ManifestEntry::Unavailable(why.clone()));
                    true
                }
                None => true, // not run in that scan (a subset): look further back
            });
        }
        let now = self.store.manifest(id).await?;
        let unchanged = |n: &String| {
            matches!(found.get(n), Some(store::ManifestEntry::Blob(_)))
                && found.get(n) == now.get(n)
        };
        let compare: Vec<String> = names.iter().filter(|n| !unchanged(n)).cloned().collect();
        found.retain(|n, _| compare.contains(n));
        let (old, new) = self.store.load_differing(prev.id, found, new).await?;
        Ok(Some(Earlier {
            prev,
            old,
            new,
            compare,
            base,
            gaps,
        }))
    }
}

/// A run of scans in which a collector could not run, back from the scan being compared.
#[derive(Debug, Clone)]
pub(super) struct Gap {
    /// How many scans in a row it was unavailable.
    pub(super) scans: usize,
    /// Why, in the newest of them.
    pub(super) why: String,
}

/// What a new scan is compared with (see [`Engine::earlier_outcomes`]).
pub(super) struct Earlier {
    /// The scan just before the new one.
    pub(super) prev: ScanInfo,
    /// Per collector, the output of the newest scan in which it worked (or, if it never
    /// did, its newest failure), for the collectors whose output differs: of their items,
    /// only those that differ from the new scan's (see [`store::Store::load_differing`]).
    pub(super) old: Snapshot,
    /// The new scan's items that differ from `old`'s, by collector (every other outcome as
    /// it is).
    pub(super) new: Snapshot,
    /// The collectors to compare.
    pub(super) compare: Vec<String>,
    /// Per collector, the newest scan in which it worked, and when.
    pub(super) base: BTreeMap<String, (i64, DateTime<Utc>)>,
    /// Per collector, the scans right before the new one in which it could not run.
    pub(super) gaps: BTreeMap<String, Gap>,
}

/// The pseudo-key of an outage or recovery change (no item has a key in brackets).
pub const OUTAGE_KEY: &str = "(collector)";

impl Earlier {
    /// An outage is itself a change worth hearing about: a collector that worked in the scan
    /// before and could not run now (what it watches is blind until it recovers), and its
    /// recovery (what changed meanwhile follows in the same report). The severity is the
    /// rules' (`outage.*` and `recovery.*` in dist/config/rules.toml, keyed [`OUTAGE_KEY`]).
    /// A continuing outage is a warning only.
    pub(super) fn outages(&self, new: &Snapshot, rules: &crate::rules::Rules) -> Vec<Change> {
        let mut out = Vec::new();
        for (name, outcome) in &new.results {
            let worked_before = self.base.contains_key(name) && !self.gaps.contains_key(name);
            match outcome {
                Outcome::Unavailable(why) if worked_before => {
                    let mut after = Fields::new();
                    after.insert("reason", why);
                    out.push(Change {
                        collector: name.clone(),
                        kind: ChangeKind::Added,
                        key: OUTAGE_KEY.into(),
                        message: format!(
                            "collector {name} stopped working: {why} (its changes are not seen \
                             until it works again)"
                        ),
                        severity: Default::default(),
                        rule: None,
                        before: None,
                        after: Some(after),
                    });
                }
                Outcome::Items(_) => {
                    let (Some(gap), Some((scan, at))) = (self.gaps.get(name), self.base.get(name))
                    else {
                        continue;
                    };
                    let mut before = Fields::new();
                    before.insert("reason", &gap.why);
                    out.push(Change {
                        collector: name.clone(),
                        kind: ChangeKind::Removed,
                        key: OUTAGE_KEY.into(),
                        message: format!(
                            "collector {name} works again after failing in the last {} stored \
                             scan{}: compared with scan {scan} ({}), its last good one",
                            gap.scans,
                            if gap.scans == 1 { "" } else { "s" },
                            at.format("%Y-%m-%d %H:%M UTC"),
                        ),
                        severity: Default::default(),
                        rule: None,
                        before: Some(before),
                        after: None,
                    });
                }
                _ => {}
            }
        }
        for change in &mut out {
            let subject = crate::rules::Subject {
                collector: &change.collector,
                kind: change.kind,
                key: &change.key,
                old: change.before.as_ref(),
                new: change.after.as_ref(),
            };
            let (severity, rule) = rules.judge(&subject);
            change.rule = rule.map(str::to_string);
            change.severity = severity;
        }
        out
    }

    /// "Not compared since": for a collector still unavailable that worked in some earlier scan
    /// but not in the previous one, say since when it is blind.
    pub(super) fn gap_warnings(&self, new: &Snapshot) -> Vec<Warning> {
        let mut out = Vec::new();
        for (name, gap) in &self.gaps {
            if !matches!(new.results.get(name), Some(Outcome::Unavailable(_))) {
                continue;
            }
            // A collector that never worked here (no systemd on this host) has the diff's own
            // "not compared" line; repeating it every scan would be noise.
            let Some((scan, at)) = self.base.get(name) else {
                continue;
            };
            let since = format!(
                "not compared since scan {scan} ({}), the last in which it worked",
                at.format("%Y-%m-%d %H:%M UTC")
            );
            out.push(Warning {
                collector: name.clone(),
                message: format!(
                    "{name} {since}; unavailable in the last {} stored scan{} and this one ({})",
                    gap.scans,
                    if gap.scans == 1 { "" } else { "s" },
                    gap.why,
                ),
            });
        }
        out
    }
}

/// For a first scan, which has nothing to compare with: which collectors could not run.
pub(super) fn unavailable_warnings(snapshot: &Snapshot) -> Vec<crate::model::Warning> {
    snapshot
        .results
        .iter()
        .filter_map(|(name, o)| match o {
            crate::model::Outcome::Unavailable(why) => Some(crate::model::Warning {
                collector: name.clone(),
                message: format!("{name} unavailable: {why}"),
            }),
            _ => None,
        })
        .collect()
}
