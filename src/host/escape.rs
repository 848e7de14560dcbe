//! How bytes from the host reach a report: as UTF-8 text where they are, with every byte and
//! character that could hide or reorder text escaped (`\xNN`), and back again.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// Whether a character must not reach a report raw: control characters, Unicode format
/// characters (general category Cf: U+200B–200F, U+202A–202E right-to-left overrides, U+2066–2069,
/// U+FEFF, ...), which reorder or hide text on screen, and the line and paragraph separators
/// U+2028 and U+2029. The category comes from the `unicode-properties` crate's tables.
pub fn is_unsafe_char(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    // No ASCII character is a format character or a separator: paths are mostly ASCII, and
    // every walked path passes here, so they skip the table's search.
    if c.is_ascii() {
        return c.is_ascii_control();
    }
    c.is_control()
        || matches!(
            c.general_category(),
            GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        )
}

/// Escapes bytes into text that round-trips: valid UTF-8 stays as it is except `\` (as `\\`)
/// and the characters [`is_unsafe_char`] names (each of their UTF-8 bytes as `\xNN`, so U+202E
/// is `\xe2\x80\xae`), and bytes that are not UTF-8 become `\xNN`.
pub fn escape_bytes(bytes: &[u8]) -> String {
    // Nearly every name is printable ASCII without a backslash: nothing to escape.
    if bytes
        .iter()
        .all(|b| (0x20..0x7f).contains(b) && *b != b'\\')
    {
        return String::from_utf8(bytes.to_vec()).expect("ASCII is UTF-8");
    }
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                c if is_unsafe_char(c) => {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("\\x{b:02x}"));
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// The inverse of [`escape_bytes`]. Returns `None` for text that no escaping produced.
pub fn unescape_bytes(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        match b.get(i + 1)? {
            b'\\' => {
                out.push(b'\\');
                i += 2;
            }
            b'x' => {
                let hex = std::str::from_utf8(b.get(i + 2..i + 4)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 4;
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Escapes an OS string (a file name) as [`escape_bytes`] does.
pub fn escape_os(s: &OsStr) -> String {
    escape_bytes(s.as_bytes())
}
