//! The engine's part of "what lived only between two scans": reads the observations in the
//! window of a report and hands them to the pure [`crate::between::transients`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::Engine;
use crate::error::Error;
use crate::model::{Change, Snapshot};
use crate::store::ScanInfo;

impl Engine {
    /// For each collector, when the earlier scan it is compared with started (`bases`: the
    /// scan ids of [`super::Earlier::base`]).
    pub(super) async fn window_starts(
        &self,
        bases: &BTreeMap<String, (i64, DateTime<Utc>)>,
    ) -> Result<BTreeMap<String, DateTime<Utc>>, Error> {
        let mut started: BTreeMap<i64, DateTime<Utc>> = BTreeMap::new();
        let mut out = BTreeMap::new();
        for (name, (id, _)) in bases {
            let at = match started.get(id) {
                Some(t) => *t,
                None => {
                    let t = self.store.get(*id).await?.started_at;
                    started.insert(*id, t);
                    t
                }
            };
            out.insert(name.clone(), at);
        }
        Ok(out)
    }

    /// Adds to `changes` (scan `to`'s, against its `snapshot`) the items seen between scans
    /// that `to` no longer has, and names who made the others where the watch saw it; a
    /// collector's window opens when its earlier scan started (`starts`) and closes when `to`
    /// started.
    pub(super) async fn between(
        &self,
        starts: &BTreeMap<String, DateTime<Utc>>,
        to: &ScanInfo,
        snapshot: &Snapshot,
        changes: &mut Vec<Change>,
    ) -> Result<(), Error> {
        let Some(first) = starts.values().min() else {
            return Ok(());
        };
        let seen = self
            .store
            .observations_between(*first, to.started_at)
            .await?;
        if seen.is_empty() {
            return Ok(());
        }
        let after = |c: &str| starts.get(c).copied();
        crate::between::attribute(changes, &seen, &after, to.started_at);
        changes.extend(crate::between::transients(
            &seen,
            &after,
            to.started_at,
            snapshot,
            to.finished_at,
            &self.rules,
        ));
        Ok(())
    }

    /// [`Engine::between`] for two stored scans compared directly (`dawgctl diff --since`):
    /// one window, from `from`'s start to `to`'s, for every collector `to` ran.
    pub(super) async fn between_stored(
        &self,
        from: &ScanInfo,
        to: &ScanInfo,
        snapshot: &Snapshot,
        only: Option<&[String]>,
        changes: &mut Vec<Change>,
    ) -> Result<(), Error> {
        let starts = snapshot
            .results
            .keys()
            .filter(|n| only.is_none_or(|o| crate::collectors::named_in(n, o)))
            .map(|n| (n.clone(), from.started_at))
            .collect();
        self.between(&starts, to, snapshot, changes).await
    }
}
