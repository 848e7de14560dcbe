//! `proc/self/mountinfo` lines: the mount table as the kernel writes it, read by `list_mount`,
//! `mount_options` and the file-system walkers.

use std::collections::BTreeSet;

use crate::host::escape_bytes;
use crate::model::Item;

/// Superblock flags worth carrying over into the options.
const SUPER_FLAGS: [&str; 3] = ["nosuid", "nodev", "noexec"];

/// One mountinfo line:
/// `id parent maj:min root mount-point mount-opts [optional...] - fstype source super-opts`.
/// `None` for malformed lines.
pub(crate) fn parse_line(line: &[u8]) -> Option<Item> {
    let cols: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    if cols.len() < 10 {
        return None;
    }
    // The fixed columns must look right, so garbage does not become a mount.
    let text = |b: &[u8]| std::str::from_utf8(b).ok().map(str::to_string);
    text(cols[0])?.parse::<u64>().ok()?;
    text(cols[1])?.parse::<u64>().ok()?;
    let fs_root = unescape_octal(cols[3]);
    let point = unescape_octal(cols[4]);
    if !point.starts_with(b"/") {
        return None;
    }
    let mount_opts = text(cols[5])?;
    let sep = cols[6..].iter().position(|c| *c == b"-")? + 6;
    let (fstype, source, super_opts) = (cols.get(sep + 1)?, cols.get(sep + 2)?, cols.get(sep + 3)?);
    let super_opts = text(super_opts)?;
    let super_opts: BTreeSet<&str> = super_opts.split(',').collect();

    let mut options: BTreeSet<String> = mount_opts.split(',').map(str::to_string).collect();
    if super_opts.contains("ro") && options.remove("rw") {
        options.insert("ro".into());
    }
    for flag in SUPER_FLAGS {
        if super_opts.contains(flag) {
            options.insert(flag.into());
        }
    }
    Some(
        Item::new(escape_bytes(&point))
            .with("fstype", escape_bytes(&unescape_octal(fstype)))
            .with("source", source_text(&unescape_octal(source), &fs_root))
            .with(
                "options",
                escape_bytes(options.into_iter().collect::<Vec<_>>().join(",").as_bytes()),
            ),
    )
}

/// The source as `findmnt` shows it: a bind mount of a subdirectory as `/dev/sda1[/srv]`.
fn source_text(source: &[u8], fs_root: &[u8]) -> String {
    if fs_root == b"/" {
        escape_bytes(source)
    } else {
        format!("{}[{}]", escape_bytes(source), escape_bytes(fs_root))
    }
}

/// Undoes the kernel's octal escapes (`\040` space, `\011` tab, `\012` newline, `\134` `\`).
pub(crate) fn unescape_octal(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\'
            && let Some(oct) = field.get(i + 1..i + 4)
            && oct.iter().all(|b| (b'0'..=b'7').contains(b))
        {
            let v = oct
                .iter()
                .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(field[i]);
        i += 1;
    }
    out
}
