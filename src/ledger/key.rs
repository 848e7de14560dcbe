//! The forward-secure key: a random seed, evolved one way at each epoch (Bellare–Yee's
//! forward-secure MAC, key update by a one-way function as in Schneier–Kelsey's audit logs).
//!
//! `k[e+1] = SHA-256("dawgmon seal evolve v1" ‖ k[e])`. The host keeps only the current
//! epoch's key, in one file beside the database; the verification key (the seed, with its
//! generation and first epoch) is printed once and kept off the host. Whoever holds `k[e]`
//! can derive every later key but no earlier one.
//!
//! The file is created exclusively (`O_EXCL`), mode 0600, never through a symbolic link
//! (`O_NOFOLLOW`); one with other permissions, another owner or another type is refused with
//! the fix. A new epoch's key is written to a fresh file, fsynced and renamed over the old one,
//! after the old file's bytes were overwritten with zeros and fsynced: what the file system
//! still keeps of them (journal, copy-on-write, flash remapping) is outside our reach, as
//! docs/trust.md says.

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// One epoch's key.
#[derive(Clone, PartialEq, Eq)]
pub struct EpochKey {
    /// Which `seal init` made the seed (0 for the first; a re-init adds one).
    pub generation: u64,
    /// The epoch this key seals.
    pub epoch: u64,
    bytes: [u8; 32],
}

impl fmt::Debug for EpochKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "EpochKey(generation {}, epoch {}, <redacted>)",
            self.generation, self.epoch
        )
    }
}

impl EpochKey {
    /// A fresh random seed for epoch `epoch` of generation `generation`.
    pub fn generate(generation: u64, epoch: u64) -> io::Result<Self> {
        Ok(EpochKey {
            generation,
            epoch,
            bytes: crate::secret::random_key()?,
        })
    }

    /// The key of the next epoch (one way: this one cannot be recovered from it).
    pub fn evolve(&self) -> Self {
        EpochKey {
            generation: self.generation,
            epoch: self.epoch + 1,
            bytes: Sha256::new()
                .chain_update(b"dawgmon seal evolve v1")
                .chain_update(self.bytes)
                .finalize()
                .into(),
        }
    }

    /// This key evolved up to `epoch` (`None` when `epoch` is before it: no way back).
    pub fn at(&self, epoch: u64) -> Option<Self> {
        if epoch < self.epoch {
            return None;
        }
        let mut k = self.clone();
        while k.epoch < epoch {
            k = k.evolve();
        }
        Some(k)
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// The verification key's text: `dawgmon-key-v1:GENERATION:EPOCH:HEX`. It is this key:
    /// who holds it can check (and make) every seal from its epoch on, so it belongs off the
    /// host.
    pub fn to_text(&self) -> String {
        format!(
            "dawgmon-key-v1:{}:{}:{}",
            self.generation,
            self.epoch,
            hex::encode(self.bytes)
        )
    }

    /// Parses [`EpochKey::to_text`].
    pub fn from_text(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "not a dawgmon verification key (expected dawgmon-key-v1:GENERATION:EPOCH:64 hex \
                 digits, as `dawgctl seal init` printed it): {:?}",
                text.trim().chars().take(24).collect::<String>()
            )
        };
        let mut parts = text.trim().split(':');
        if parts.next() != Some("dawgmon-key-v1") {
            return Err(bad());
        }
        let generation = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let epoch = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let bytes = parts
            .next()
            .and_then(|p| hex::decode(p).ok())
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(bad)?;
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(EpochKey {
            generation,
            epoch,
            bytes,
        })
    }
}

/// The key file of the database at `database`: `DATABASE.seal-key`.
pub fn key_path(database: &Path) -> PathBuf {
    let mut p = database.as_os_str().to_owned();
    p.push(".seal-key");
    PathBuf::from(p)
}

/// Reads the key file. `Ok(None)` when there is none.
pub fn read(path: &Path) -> Result<Option<EpochKey>, String> {
    let mut file = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(format!(
                "the seal key {} is a symbolic link, which dawgmon never follows: remove the \
                 link and restore the key file from a backup, or start a new chain with \
                 `dawgctl seal init --reinit` (recorded in the log)",
                path.display()
            ));
        }
        Err(e) => return Err(format!("cannot open the seal key {}: {e}", path.display())),
    };
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read the seal key {}: {e}", path.display()))?;
    if !meta.file_type().is_file() {
        return Err(format!(
            "the seal key {} is not a regular file: remove it and restore the key file, or \
             start a new chain with `dawgctl seal init --reinit`",
            path.display()
        ));
    }
    let mode = meta.permissions().mode() & 0o7777;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if mode & 0o077 != 0 || meta.uid() != me {
        return Err(format!(
            "the seal key {} has mode {mode:04o} and owner uid {} (it must be 0600 and owned \
             by uid {me}): others may have read it, so seals from now on prove less; fix it with \
             `chown {me} {p} && chmod 600 {p}`",
            path.display(),
            meta.uid(),
            p = path.display()
        ));
    }
    let mut text = String::new();
    (&mut file)
        .take(4096)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read the seal key {}: {e}", path.display()))?;
    let line = text
        .lines()
        .find(|l| l.starts_with("dawgmon-key-v1:"))
        .ok_or_else(|| {
            format!(
                "the seal key {} is damaged (no dawgmon-key-v1 line): restore it from a \
                 backup, or start a new chain with `dawgctl seal init --reinit`",
                path.display()
            )
        })?;
    EpochKey::from_text(line)
        .map(Some)
        .map_err(|e| format!("the seal key {} is damaged: {e}", path.display()))
}

/// Writes `key` as the key file at `path`, erasing the key it held: the new key goes to a
/// fresh file (`O_EXCL | O_NOFOLLOW`, 0600) that is fsynced; the old file is overwritten with
/// zeros and fsynced; the new one is renamed over it and the directory fsynced.
pub fn write(path: &Path, key: &EpochKey) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    let tmp = PathBuf::from(tmp);
    // A stale temporary file (a crash mid-write) holds a key too: erase it first.
    if fs::symlink_metadata(&tmp).is_ok() {
        erase(&tmp)?;
        fs::remove_file(&tmp)?;
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)?;
    let text = format!(
        "# dawgmon seal key: the current epoch's key only (see docs/trust.md). Never copy it.\n{}\n",
        key.to_text()
    );
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    drop(f);
    if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file()) {
        erase(path)?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Overwrites a regular file's bytes with zeros, in place, and fsyncs it (no link followed).
fn erase(path: &Path) -> io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let len = f.metadata()?.len().min(1 << 16) as usize;
    f.write_all(&vec![0u8; len])?;
    f.sync_all()
}

/// Creates a file exclusively (0600, no link followed) holding `text`: the verification key
/// the daemon leaves for the admin at its first start.
pub fn create_private(path: &Path, text: &str) -> io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_evolve_one_way_and_round_trip() {
        let k0 = EpochKey::generate(0, 0).unwrap();
        let k3 = k0.at(3).unwrap();
        assert_eq!(k3.epoch, 3);
        assert_eq!(k3, k0.evolve().evolve().evolve());
        assert!(k3.at(2).is_none());
        assert_ne!(k3.bytes(), k0.bytes());
        assert_eq!(EpochKey::from_text(&k3.to_text()).unwrap(), k3);
        assert!(EpochKey::from_text("dawgmon-key-v1:0:0:abcd").is_err());
        assert!(!format!("{k3:?}").contains(&hex::encode(k3.bytes())[..8]));
    }

    #[test]
    fn the_key_file_is_private_replaced_and_refused_when_loose() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.seal-key");
        assert_eq!(read(&path).unwrap(), None);
        let k0 = EpochKey::generate(0, 0).unwrap();
        write(&path, &k0).unwrap();
        assert_eq!(read(&path).unwrap(), Some(k0.clone()));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        write(&path, &k0.evolve()).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&hex::encode(k0.bytes())));
        assert_eq!(read(&path).unwrap(), Some(k0.evolve()));

        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let e = read(&path).unwrap_err();
        assert!(e.contains("mode 0644") && e.contains("chmod 600"), "{e}");

        let link = dir.path().join("link.seal-key");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        let e = read(&link).unwrap_err();
        assert!(e.contains("symbolic link"), "{e}");
    }
}
