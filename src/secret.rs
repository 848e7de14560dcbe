//! The per-database fingerprint key and the keyed hash (HMAC-SHA256) made with it.
//!
//! Values that may be secret (an environment variable holding a token, say) are never stored in
//! clear; a fingerprint still shows that they changed. A plain hash of a short password can be
//! guessed offline by anyone who reads the database, so fingerprints are keyed: each database
//! holds its own random key (`Store::fingerprint_key`), the engine passes it
//! to the collectors through `Host::with_secret`, and the same value fingerprints
//! alike within one database and differently in another. The key is never printed: its `Debug`
//! is redacted and nothing renders it.

use sha2::{Digest, Sha256};

/// Bytes in a key.
pub const KEY_LEN: usize = 32;

/// A database's fingerprint key.
#[derive(Clone, PartialEq, Eq)]
pub struct FingerprintKey([u8; KEY_LEN]);

impl std::fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FingerprintKey(<redacted>)")
    }
}

impl FingerprintKey {
    /// A key from its bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        FingerprintKey(bytes)
    }

    /// A fresh random key from the kernel (getrandom(2), the source behind /dev/urandom).
    pub fn generate() -> std::io::Result<Self> {
        random_key().map(FingerprintKey)
    }

    /// The key as it is stored in the database (hex).
    pub(crate) fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// A key read back from the database; `None` for text that is not 32 bytes of hex.
    pub(crate) fn from_hex(text: &str) -> Option<Self> {
        let bytes = hex::decode(text.trim()).ok()?;
        Some(FingerprintKey(bytes.try_into().ok()?))
    }

    /// The fingerprint of `value`: the first 16 hex digits (64 bits) of HMAC-SHA256 under this
    /// key. Enough to tell a change apart; useless without the key.
    pub fn fingerprint(&self, value: &[u8]) -> String {
        hex::encode(&hmac_sha256(&self.0, value)[..8])
    }
}

/// 32 random bytes from the kernel (getrandom(2), the source behind /dev/urandom).
pub fn random_key() -> std::io::Result<[u8; KEY_LEN]> {
    let mut key = [0u8; KEY_LEN];
    let mut filled = 0;
    while filled < KEY_LEN {
        let rest = &mut key[filled..];
        // SAFETY: the pointer and length describe the unfilled tail of `key`, which
        // getrandom writes at most `rest.len()` bytes into.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        filled += n as usize;
    }
    Ok(key)
}

/// HMAC-SHA256 (RFC 2104) of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

#[cfg(test)]
mod tests;
