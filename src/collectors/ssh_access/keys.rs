//! One `authorized_keys` line (sshd(8), "AUTHORIZED_KEYS FILE FORMAT"): options, key type,
//! base64 key data, comment. Only the fingerprint of the data is kept.

use sha2::{Digest, Sha256};

use crate::host::escape_bytes;
use crate::model::Item;

/// A parsed key line, without the key data.
pub struct Key {
    pub options: Vec<String>,
    pub kind: String,
    pub fingerprint: String,
    pub comment: String,
}

fn is_key_type(word: &str) -> bool {
    word.starts_with("ssh-")
        || word.starts_with("ecdsa-sha2-")
        || word.starts_with("sk-ssh-")
        || word.starts_with("sk-ecdsa-")
}

/// Splits off the first word; in options, `"..."` (with `\"`) may hold blanks.
fn first_word(s: &str) -> (&str, &str) {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if !quoted && (c == ' ' || c == '\t') {
            return (&s[..i], s[i..].trim_start());
        }
    }
    (s, "")
}

/// Splits options at commas outside quotes.
fn split_options(s: &str) -> Result<Vec<String>, &'static str> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == ',' && !quoted {
            out.push(String::new());
            continue;
        }
        out.last_mut().expect("one option").push(c);
    }
    if quoted {
        return Err("unterminated quote in the options");
    }
    if out.iter().any(String::is_empty) {
        return Err("empty option");
    }
    Ok(out)
}

/// Parses a key line (not blank, not a comment).
pub fn parse(line: &str) -> Result<Key, &'static str> {
    let (first, rest) = first_word(line);
    let (options, kind, rest) = if is_key_type(first) {
        (Vec::new(), first, rest)
    } else {
        let (kind, rest) = first_word(rest);
        if !is_key_type(kind) {
            return Err("no known key type");
        }
        (split_options(first)?, kind, rest)
    };
    let (data, comment) = first_word(rest);
    let blob = base64_decode(data).ok_or("key data is not base64")?;
    // The data starts with its own type name, as a length-prefixed string.
    let len = blob
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let inner = len.and_then(|l| blob.get(4..4 + l));
    if inner != Some(kind.as_bytes()) {
        return Err("key data does not match its type");
    }
    Ok(Key {
        options,
        kind: kind.to_string(),
        fingerprint: fingerprint(&blob),
        comment: comment.to_string(),
    })
}

/// `SHA256:` and the unpadded base64 of the SHA-256 of the key blob, as `ssh-keygen -l` prints.
pub fn fingerprint(blob: &[u8]) -> String {
    let mut b64 = base64_encode(&Sha256::digest(blob));
    while b64.ends_with('=') {
        b64.pop();
    }
    format!("SHA256:{b64}")
}

impl Key {
    /// The item of this key for `user` (escaped already).
    pub fn item(&self, user: &str) -> Item {
        let mut shown = Vec::new();
        let mut forced = None;
        let mut from = None;
        for o in &self.options {
            let (name, value) = o.split_once('=').unwrap_or((o, ""));
            // sshd's quoting: one pair of quotes, `\"` inside for a quote.
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value)
                .replace("\\\"", "\"");
            match name.to_ascii_lowercase().as_str() {
                "command" => forced = Some(value.clone()),
                "from" => from = Some(value.clone()),
                // The value may be a secret: keep the variable's name only.
                "environment" => {
                    let var = value.split('=').next().unwrap_or("");
                    shown.push(format!("environment={var}"));
                    continue;
                }
                _ => {}
            }
            shown.push(o.clone());
        }
        let text = |s: &str| escape_bytes(s.as_bytes());
        let mut item = Item::new(format!("{user}:{}", self.fingerprint))
            .with("kind", "key")
            .with("user", user)
            .with("type", text(&self.kind))
            .with("fingerprint", &self.fingerprint);
        if !self.comment.is_empty() {
            item = item.with("comment", text(&self.comment));
        }
        if !shown.is_empty() {
            item = item.with("options", text(&shown.join(",")));
        }
        item.with_opt("forced_command", forced.as_deref().map(text))
            .with_opt("from", from.as_deref().map(text))
    }
}

/// The restrictions of a line, as sshd applies them when it accepts a connection by it: the
/// names of [`Key::restrictions`], in this order.
pub const RESTRICTIONS: [&str; 13] = [
    "from",
    "expiry-time",
    "command",
    "principals",
    "no-pty",
    "no-port-forwarding",
    "permitopen",
    "permitlisten",
    "no-agent-forwarding",
    "no-X11-forwarding",
    "no-user-rc",
    "verify-required",
    "touch-required",
];

/// One option's value as sshd reads it: one pair of quotes, `\"` inside for a quote.
fn unquote(value: &str) -> String {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
        .replace("\\\"", "\"")
}

/// A `from=` pattern list that admits (nearly) any address: an entry of only `*`, `.` and `:`
/// with a `*` (`*`, `*.*.*.*`), or a CIDR block `/0`. A `!` entry beside it still lets all
/// others in.
fn admits_anyone(list: &str) -> bool {
    list.split(',').map(str::trim).any(|p| {
        !p.starts_with('!')
            && (p.ends_with("/0")
                || (p.contains('*') && p.chars().all(|c| matches!(c, '*' | '.' | ':'))))
    })
}

impl Key {
    /// Whether the line is a `cert-authority` one (a CA, only matched by certificates), and the
    /// restrictions sshd applies to a login by it (sshd(8), options by name regardless of
    /// case, later ones overriding earlier ones): `from` (a `from=` that does not admit
    /// everyone) and `expiry-time` (both make sshd refuse the line and try the next one),
    /// `command`, `principals`, the forwarding and pty switches as they end up after
    /// `restrict` and the `no-*` and positive options (no port forwarding implies the
    /// `permitopen`/`permitlisten` limits), `verify-required`, and for security keys (`sk-`)
    /// `touch-required` unless `no-touch-required`.
    pub fn restrictions(&self) -> (bool, Vec<&'static str>) {
        let mut ca = false;
        let mut on = [false; RESTRICTIONS.len()];
        on[12] = self.kind.starts_with("sk-");
        let idx = |n: &str| RESTRICTIONS.iter().position(|r| r.eq_ignore_ascii_case(n));
        for o in &self.options {
            let (name, value) = o.split_once('=').unwrap_or((o, ""));
            let name = name.to_ascii_lowercase();
            match name.as_str() {
                "cert-authority" => ca = true,
                "from" => on[0] = !admits_anyone(&unquote(value)),
                "restrict" => [4, 5, 8, 9, 10].into_iter().for_each(|i| on[i] = true),
                "no-touch-required" => on[12] = false,
                "pty" | "port-forwarding" | "agent-forwarding" | "x11-forwarding" | "user-rc" => {
                    if let Some(i) = idx(&format!("no-{name}")) {
                        on[i] = false;
                    }
                }
                other => {
                    if let Some(i) = idx(other).filter(|&i| i != 12) {
                        on[i] = true;
                    }
                }
            }
        }
        if on[5] {
            on[6] = true;
            on[7] = true;
        }
        let names = RESTRICTIONS
            .iter()
            .zip(on)
            .filter_map(|(n, on)| on.then_some(*n))
            .collect();
        (ca, names)
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from_be_bytes([0, b[0], b[1], b[2]]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 (padding optional); `None` for anything else.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let body = text.trim_end_matches('=');
    if text.len() - body.len() > 2 || body.len() % 4 == 1 || body.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in body.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}
