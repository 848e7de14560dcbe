//! What start-up checks beyond the file's syntax, in one place: the groups it names exist, the
//! mail transport can be built (its SMTP password read). Start-up, `dawgmond --check` and every
//! reload (SIGHUP) call [`Prepared::new`], so a file that would not start is refused by all
//! three alike: at start with exit status 2, on reload by keeping the running configuration
//! (the refusal is logged and shown by `dawgctl status` until a reload succeeds).

use std::sync::{Arc, Mutex};

use crate::config::Config;
use crate::error::Error;

/// A configuration that passed every start-up check, with what the checks resolved.
pub struct Prepared {
    pub config: Config,
    /// `admin_group`, resolved.
    pub admin: Option<super::auth::AdminGroup>,
    /// `socket_group`'s gid.
    pub socket_gid: Option<u32>,
    /// The mail transport (`[mail]`), built.
    pub mailer: Option<crate::mail::Mailer>,
    /// The database, when it was opened ahead ([`Prepared::open_store`]); else the daemon
    /// opens it as it starts.
    pub store: Option<crate::store::Store>,
}

impl Prepared {
    /// Runs the checks. Call it inside the Tokio runtime (the SMTP transport's pool lives
    /// there).
    pub fn new(config: Config) -> Result<Prepared, Error> {
        let admin = match &config.admin_group {
            Some(name) => Some(super::auth::AdminGroup {
                name: name.clone(),
                gid: resolve_group(name, "admin_group")?,
            }),
            None => None,
        };
        let socket_gid = match &config.socket_group {
            Some(name) => Some(resolve_group(name, "socket_group")?),
            None => None,
        };
        let mailer = match &config.mail {
            Some(m) => Some(
                crate::mail::Mailer::new(m)
                    .map_err(|e| Error::Usage(format!("cannot set up mail reports: {e}")))?,
            ),
            None => None,
        };
        // A fleet password file that cannot be read stops the start, as mail's does.
        if let Some(f) = &config.fleet {
            f.connect_options()
                .map_err(|e| Error::Usage(format!("cannot set up the fleet store: {e}")))?;
        }
        // The rules are checked as the file is parsed; the watch trees' collectors are made
        // when the engine is (once per configuration), from specs the parse checked too.
        config.rules().map_err(Error::Usage)?;
        Ok(Prepared {
            config,
            admin,
            socket_gid,
            mailer,
            store: None,
        })
    }

    /// Opens the database now: a reload to another database opens it before the running
    /// daemon stops, so one that cannot be opened refuses the reload instead of ending the
    /// daemon.
    pub async fn open_store(&mut self) -> Result<(), Error> {
        self.store = Some(crate::store::Store::open(&self.config.database).await?);
        Ok(())
    }
}

/// The gid of a configured group, or an error naming the key and the fix.
fn resolve_group(name: &str, key: &str) -> Result<u32, Error> {
    if let Ok(gid) = name.parse::<u32>() {
        return Ok(gid);
    }
    match nix::unistd::Group::from_name(name) {
        Ok(Some(g)) => Ok(g.gid.as_raw()),
        Ok(None) => Err(Error::Usage(format!(
            "{key} = {name:?}: no such group (create it with `groupadd {name}` or fix the config)"
        ))),
        Err(e) => Err(Error::Usage(format!(
            "{key} = {name:?}: cannot look it up: {e}"
        ))),
    }
}

/// The last reload's refusal, shown by `dawgctl status` until a reload succeeds. Shared by
/// every run of the daemon in one process (a reload restarts the run).
#[derive(Clone, Default)]
pub struct ReloadNote(Arc<Mutex<Option<String>>>);

impl ReloadNote {
    /// Records a refused reload.
    pub fn refused(&self, why: String) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
    }

    /// Forgets the refusal (a reload succeeded).
    pub fn clear(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The refusal, if the last reload was refused.
    pub fn get(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests;
