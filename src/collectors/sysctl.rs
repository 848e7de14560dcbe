//! `sysctl_hardening`: the kernel settings that matter for hardening, live and configured.
//!
//! One item per setting of [`KEYS`] (keyed by its dotted name), with `live` (read from
//! `proc/sys`) and, when a configuration file sets it, `configured` and `file`: the value
//! that wins at boot. Files are read as systemd-sysctl reads them: `*.conf` of `etc/sysctl.d`,
//! `run/sysctl.d`, `usr/local/lib/sysctl.d`, `usr/lib/sysctl.d`, `lib/sysctl.d` merged by file
//! name (the first directory wins, a symlink to `/dev/null` masks), in name order, a later
//! assignment overriding an earlier one; then `etc/sysctl.conf` last, as `sysctl --system`
//! does. Keys may use `/` or `.`, a leading `-`, and globs (`net.ipv4.conf.*.rp_filter`).
//! A setting this kernel does not have and no file sets (a container, an older kernel, a
//! distribution patch such as `kernel.unprivileged_userns_clone`) is simply absent. A line
//! that is not `key = value` is an item `malformed FILE: TEXT`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::Host;
use crate::model::Item;
use crate::sources::confdirs::{self, Content, Keys, line_text};

pub struct SysctlHardening;

/// The settings reported.
pub const KEYS: [&str; 23] = [
    "kernel.kptr_restrict",
    "kernel.dmesg_restrict",
    "kernel.unprivileged_bpf_disabled",
    "kernel.yama.ptrace_scope",
    "kernel.kexec_load_disabled",
    "kernel.unprivileged_userns_clone",
    "kernel.perf_event_paranoid",
    "kernel.randomize_va_space",
    "kernel.sysrq",
    "fs.protected_symlinks",
    "fs.protected_hardlinks",
    "fs.protected_fifos",
    "fs.protected_regular",
    "fs.suid_dumpable",
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.accept_redirects",
    "net.ipv4.conf.all.send_redirects",
    "net.ipv4.conf.all.rp_filter",
    "net.ipv4.tcp_syncookies",
    "user.max_user_namespaces",
    "vm.mmap_min_addr",
    "dev.tty.ldisc_autoload",
    "kernel.modules_disabled",
];

const DIRS: [&str; 5] = [
    "/etc/sysctl.d",
    "/run/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
    "/lib/sysctl.d",
];

impl Collector for SysctlHardening {
    fn name(&self) -> &'static str {
        "sysctl_hardening"
    }
    fn description(&self) -> &'static str {
        "hardening sysctls (kptr_restrict, ptrace_scope, protected_*...): live value and configured value"
    }
    fn noun(&self) -> &'static str {
        "sysctl"
    }

    /// The sysctl.d file that sets a value.
    fn package_path<'a>(&self, item: &'a Item) -> Option<Cow<'a, str>> {
        super::field_path(item, "file").or_else(|| super::key_path(item, "unreadable "))
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let mut keys = Keys::default();
        let mut extra = Vec::new();
        // name -> (value, file)
        let mut configured: BTreeMap<&str, (String, String)> = BTreeMap::new();
        let mut files: Vec<(String, std::path::PathBuf)> = Vec::new();
        for f in confdirs::merged(host, &DIRS, ".conf")? {
            if confdirs::masked(host, &f.real) {
                continue;
            }
            files.push((f.path, f.real));
        }
        files.push(("/etc/sysctl.conf".into(), host.path("/etc/sysctl.conf")));
        for (path, real) in files {
            match confdirs::read(host, &real) {
                None => {}
                Some(Content::Failed(why)) => extra
                    .push(Item::new(keys.unique(format!("unreadable {path}"))).with("error", why)),
                Some(Content::Text(text, _)) => {
                    parse(&text, &path, &mut configured, &mut keys, &mut extra)
                }
            }
        }
        let mut out = Vec::new();
        for name in KEYS {
            let live = live(host, name);
            let conf = configured.remove(name);
            if live.is_none() && conf.is_none() {
                continue;
            }
            let mut item = Item::new(name);
            if let Some(v) = live {
                item = item.with("live", v);
            }
            if let Some((v, file)) = conf {
                item = item.with("configured", v).with("file", file);
            }
            out.push(item);
        }
        out.extend(extra);
        Ok(out)
    }
}

/// The live value of `name` from `proc/sys`, white space collapsed; `None` when this kernel
/// does not have it.
fn live(host: &Host, name: &str) -> Option<String> {
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    match host.read_bytes(&path) {
        Ok(b) => Some(line_text(&String::from_utf8_lossy(&b))),
        Err(e) if confdirs::absent(&e) => None,
        Err(e) => {
            if e.kind() == std::io::ErrorKind::PermissionDenied {
                host.note_denied(&path);
            }
            Some(format!("unreadable ({})", confdirs::reason(&e)))
        }
    }
}

/// Applies one configuration file's assignments of reported keys to `configured`.
fn parse(
    text: &str,
    file: &str,
    configured: &mut BTreeMap<&'static str, (String, String)>,
    keys: &mut Keys,
    extra: &mut Vec<Item>,
) {
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            extra.push(
                Item::new(keys.unique(format!("malformed {file}: {}", line_text(line))))
                    .with("line", n + 1)
                    .with("error", "not key = value"),
            );
            continue;
        };
        let key = key.trim();
        let key = key.strip_prefix('-').unwrap_or(key);
        if key.is_empty() || key.starts_with('!') {
            continue;
        }
        // systemd: when the first separator is a slash, slashes separate and dots are literal.
        let key = match key.find(['.', '/']) {
            Some(i) if key.as_bytes()[i] == b'/' => key.replace('.', "\u{0}").replace('/', "."),
            _ => key.to_string(),
        };
        let value = line_text(value.trim());
        for name in KEYS {
            if name == key || confdirs::fnmatch(key.as_bytes(), name.as_bytes()) {
                configured.insert(name, (value.clone(), file.to_string()));
            }
        }
    }
}

#[cfg(test)]
mod tests;
