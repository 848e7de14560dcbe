//! `list_file_caps`: files carrying file capabilities (`setcap`), keyed by their host path.
//!
//! A binary with `cap_net_admin` or `cap_dac_override` in its `security.capability` xattr is
//! setuid in disguise: `find -perm` does not see it. The shared walk of
//! [`fswalk::special_files`] queries the xattr only on regular files with an execute bit:
//! capabilities take effect only on `exec`, and skipping the rest keeps the walk cheap. The
//! kernel's `vfs_cap_data` (revisions 1-3) is decoded into libcap's text form
//! (`cap_net_raw,cap_net_admin=ep`, plus ` [rootid=N]` for namespaced v3 capabilities).

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::Host;
use crate::model::{Change, ChangeKind, Fields, Item};
use crate::sources::common::{mode_string, render_fields, render_modified};
use crate::sources::fswalk;

/// Lists files with capabilities.
pub struct ListFileCaps;

impl Collector for ListFileCaps {
    fn watches_setid(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "list_file_caps"
    }
    fn description(&self) -> &'static str {
        "executables with file capabilities (security.capability xattr) on local file systems"
    }
    fn noun(&self) -> &'static str {
        "file with capabilities"
    }
    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let found = fswalk::special_files(host)?;
        Ok(found
            .list(fswalk::List::Caps)?
            .iter()
            .map(|s| {
                let raw = s.caps.as_deref().unwrap_or_default();
                let caps =
                    decode_caps(raw).unwrap_or_else(|| format!("undecoded:{}", hex::encode(raw)));
                let mut fields = Fields::new();
                fields.insert("owner", host.user_name(s.uid));
                fields.insert("group", host.group_name(s.gid));
                fields.insert("perm", mode_string(s.mode));
                fields.insert("caps", caps);
                let key = host.display(&s.path);
                crate::sources::pkgdb::attribute(host, &key, &mut fields);
                Item { key, fields }
            })
            .collect())
    }
    /// `file with capabilities /usr/bin/ping got created (caps=cap_net_raw=ep, owner=root, ...)`.
    fn message(&self, change: &Change) -> String {
        match change.kind {
            ChangeKind::Added => {
                let mut f = change.after.clone().unwrap_or_default();
                let caps = f.remove("caps").unwrap_or_default();
                format!(
                    "file with capabilities {} got created (caps={caps}, {})",
                    change.key,
                    render_fields(&f)
                )
            }
            ChangeKind::Removed => format!("file with capabilities {} got deleted", change.key),
            ChangeKind::Modified => format!(
                "file with capabilities {} changed: {}",
                change.key,
                render_modified(change)
            ),
        }
    }
}

/// Capability names by number, as the kernel's `capability.h` numbers them.
const CAP_NAMES: [&str; 41] = [
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
];

fn cap_name(n: u32) -> String {
    match CAP_NAMES.get(n as usize) {
        Some(name) => format!("cap_{name}"),
        None => format!("cap_{n}"),
    }
}

/// Decodes a `security.capability` value (little-endian `vfs_cap_data`): a magic word with the
/// revision and the effective flag, then permitted/inheritable words (one pair for revision 1,
/// two for 2 and 3), then the root uid for revision 3. Capabilities with the same flags are
/// grouped: `cap_a,cap_b=ep cap_c=i`. `None` for a value that matches no revision.
pub(crate) fn decode_caps(raw: &[u8]) -> Option<String> {
    let word = |i: usize| -> Option<u32> {
        raw.get(i * 4..i * 4 + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let magic = word(0)?;
    let (pairs, len) = match magic & 0xFF00_0000 {
        0x0100_0000 => (1, 12),
        0x0200_0000 => (2, 20),
        0x0300_0000 => (2, 24),
        _ => return None,
    };
    if raw.len() != len {
        return None;
    }
    let effective = magic & 1 != 0;
    let (mut permitted, mut inheritable) = (0u64, 0u64);
    for i in 0..pairs {
        permitted |= u64::from(word(1 + 2 * i)?) << (32 * i);
        inheritable |= u64::from(word(2 + 2 * i)?) << (32 * i);
    }
    // Group capabilities by their flag string, in order of first capability.
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for n in 0..64u32 {
        let (p, i) = (permitted >> n & 1 == 1, inheritable >> n & 1 == 1);
        if !p && !i {
            continue;
        }
        let mut flags = String::new();
        if effective {
            flags.push('e');
        }
        if i {
            flags.push('i');
        }
        if p {
            flags.push('p');
        }
        match groups.iter_mut().find(|(f, _)| *f == flags) {
            Some((_, names)) => names.push(cap_name(n)),
            None => groups.push((flags, vec![cap_name(n)])),
        }
    }
    let mut text = if groups.is_empty() {
        "=".to_string()
    } else {
        groups
            .iter()
            .map(|(flags, names)| format!("{}={flags}", names.join(",")))
            .collect::<Vec<_>>()
            .join(" ")
    };
    if magic & 0xFF00_0000 == 0x0300_0000 {
        text.push_str(&format!(" [rootid={}]", word(5)?));
    }
    Some(text)
}

#[cfg(test)]
mod tests;
