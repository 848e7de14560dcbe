//! The daemon's side of the sealed history ([`crate::seal`]): at start, the seal initialised
//! when there is none yet (never over an existing chain), one epoch sealed (which also logs the
//! scans `dawgctl --local` stored meanwhile and shows the restart), and an epoch at least every
//! [`crate::seal::EPOCH_MAX`] while no scan runs. Each scan seals its own epoch
//! ([`super::scans`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::ledger::key;
use crate::seal::{self, Sealer};
use crate::store::Store;

/// Where the daemon leaves the verification key it made at its first start, for the admin to
/// move off the host: `DATABASE.verification-key`.
pub fn verification_key_path(database: &Path) -> PathBuf {
    let mut p = database.as_os_str().to_owned();
    p.push(".verification-key");
    PathBuf::from(p)
}

/// The sealer of the daemon's database, initialised if it never was, with one epoch sealed.
pub async fn start(config: &Config, store: &Store) -> Arc<Sealer> {
    let sealer = Arc::new(Sealer::new(store.clone(), &config.database));
    sealer.load_latest().await;
    let fresh = matches!(key::read(sealer.key_path()), Ok(None))
        && matches!(store.latest_seal().await, Ok(None));
    if fresh {
        match seal::init(store, &config.database, false).await {
            Ok(done) => hand_over(config, store, &done.verification_key).await,
            Err(e) => tracing::warn!("cannot initialise the seal: {e}"),
        }
        sealer.load_latest().await;
    } else {
        sealer.seal_logged(&[]).await;
    }
    sealer
}

/// Leaves the verification key for the admin: a 0600 file beside the database, and in the
/// first mailed report when mail is configured. The journal only says where it is.
async fn hand_over(config: &Config, store: &Store, vk: &str) {
    let path = verification_key_path(&config.database);
    let text = format!(
        "{vk}\n\n# The verification key of this host's sealed history (docs/trust.md).\n\
         # Store it OFF this host, then delete this file: whoever holds it can forge seals.\n\
         # Check a copy of the database with: dawgctl verify --database COPY --key KEY\n"
    );
    match key::create_private(&path, &text) {
        Ok(()) => tracing::warn!(
            path = %path.display(),
            "the history is now sealed: the verification key is in {}; store it off this \
             host, then delete the file (see docs/trust.md)",
            path.display()
        ),
        Err(e) => tracing::warn!(
            "the history is now sealed but the verification key could not be written to {}: \
             {e}; run `dawgctl seal init --reinit` to make a new one",
            path.display()
        ),
    }
    // Mailed with the first report (so it leaves with the "monitoring started" note, not as
    // a message of its own), then forgotten.
    if config.mail.is_some()
        && let Err(e) = store.set_pending_key(Some(vk)).await
    {
        tracing::warn!("cannot keep the verification key for mail: {e}");
    }
}

/// Seals an epoch whenever the last seal is [`seal::EPOCH_MAX`] old (checked every minute).
pub fn spawn_ticker(sealer: Arc<Sealer>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            every.tick().await;
            if sealer.due() {
                sealer.seal_logged(&[]).await;
            }
        }
    })
}
