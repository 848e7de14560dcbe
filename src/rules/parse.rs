//! Values read as the program that consumes them reads them, so that a rule judges what the
//! host does and not how a value is spelt (`PermitRootLogin YES` is `yes` to sshd,
//! `kernel.yama.ptrace_scope = 00` is 0 to the kernel).
//!
//! A rule names the reading per field (`parse = { value = "nocase" }`); its `item`, `was`,
//! `changed`, `has` and `lost` conditions then compare the value as read. The stored items
//! keep the text as written (a reader sees what is in the file, and an upgrade does not
//! report every such value as changed). A value the consumer would refuse is left as written:
//! it matches no canonical spelling.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// How a field's value is read before a rule compares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Parse {
    /// ASCII letters compared without regard to case, as sshd compares its keywords' values
    /// (`yes`, `no`, `prohibit-password`: `strcasecmp` in its `multistate` tables).
    Nocase,
    /// An integer as the kernel's `proc_dointvec` reads a sysctl write, in decimal: leading
    /// white space skipped, one optional `-`, then `0x`/`0X` hexadecimal, `0` octal or
    /// decimal digits (`00`, `0x0`, `-0` are all `0`), ended by the end, a space, tab or
    /// newline; out of `int` range or anything else is refused.
    Int,
    /// A boolean as systemd's `parse_boolean` reads it, as `yes` or `no`: `1`, `yes`, `y`,
    /// `true`, `t`, `on` (case-insensitive) and their opposites.
    Bool,
}

impl Parse {
    /// The name rules use (`nocase`, `int`, `bool`).
    pub fn as_str(self) -> &'static str {
        match self {
            Parse::Nocase => "nocase",
            Parse::Int => "int",
            Parse::Bool => "bool",
        }
    }

    /// `value` as the consumer reads it (as written when the consumer would refuse it).
    pub fn read(self, value: &str) -> Cow<'_, str> {
        let read = match self {
            Parse::Nocase => {
                if value.bytes().any(|b| b.is_ascii_uppercase()) {
                    Some(value.to_ascii_lowercase())
                } else {
                    None
                }
            }
            Parse::Int => kernel_int(value).map(|n| n.to_string()),
            Parse::Bool => systemd_bool(value).map(|b| if b { "yes" } else { "no" }.to_string()),
        };
        match read {
            Some(v) if v != value => Cow::Owned(v),
            _ => Cow::Borrowed(value),
        }
    }
}

/// The kernel's reading of one integer written to a `proc_dointvec` sysctl (`proc_get_long`
/// with base 0, then the `int` range check); `None` when the write would fail with EINVAL.
pub fn kernel_int(text: &str) -> Option<i32> {
    // proc_skip_spaces: isspace().
    let s = text.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let b = s.as_bytes();
    let (neg, digits) = match b.first() {
        Some(b'-') if b.len() > 1 => (true, &b[1..]),
        _ => (false, b),
    };
    if !digits.first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    // _parse_integer_fixup_radix with base 0.
    let (radix, body) = match digits {
        [b'0', x, h, ..] if x.eq_ignore_ascii_case(&b'x') && h.is_ascii_hexdigit() => {
            (16, &digits[2..])
        }
        [b'0', ..] => (8, digits),
        _ => (10, digits),
    };
    let end = body
        .iter()
        .position(|c| !(*c as char).is_digit(radix))
        .unwrap_or(body.len());
    // proc_get_long copies at most 21 bytes: a number that fills them is refused.
    let consumed = b.len() - digits.len() + (digits.len() - body.len()) + end;
    if consumed >= 21 {
        return None;
    }
    // The number must end the text or be followed by a space, tab or newline.
    if body.get(end).is_some_and(|c| !b" \t\n".contains(c)) {
        return None;
    }
    let mut n: u64 = 0;
    for c in &body[..end] {
        let d = (*c as char).to_digit(radix)?;
        n = n.checked_mul(u64::from(radix))?.checked_add(u64::from(d))?;
    }
    if neg {
        (n <= 1 << 31).then(|| (-(n as i64)) as i32)
    } else {
        i32::try_from(n).ok()
    }
}

/// systemd's `parse_boolean`.
pub fn systemd_bool(text: &str) -> Option<bool> {
    const YES: [&str; 5] = ["yes", "y", "true", "t", "on"];
    const NO: [&str; 5] = ["no", "n", "false", "f", "off"];
    if text == "1" || YES.iter().any(|w| w.eq_ignore_ascii_case(text)) {
        Some(true)
    } else if text == "0" || NO.iter().any(|w| w.eq_ignore_ascii_case(text)) {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
