//! The collector model and the ordered registry.
//!
//! A collector reads one part of the attack surface through [`Host`] and returns [`Item`]s with
//! a stable key. Adding a check is one file in this directory and one line in [`COLLECTORS`].
//! Collectors are plain synchronous code: the scanner runs them on worker threads, so they may
//! block on the file system freely.

use std::borrow::Cow;

use crate::error::CollectError;
use crate::host::Host;
use crate::model::{Change, ChangeKind, Item};

mod apparmor;
mod blkdev;
mod boot;
mod cron_jobs;
mod dbus;
mod env;
mod etc;
mod file_caps;
mod groups;
mod ifaces;
mod integrity;
mod kernel;
mod loader;
mod lsb;
mod mount_options;
mod mounts;
mod needs_restart;
mod packages;
mod pam;
mod pipes;
mod polkit;
mod processes;
mod rootrun;
mod ssh_access;
mod sudo_rules;
mod suids;
mod sysctl;
mod systemd;
mod sysvinit;
mod sysvipc;
mod tcpudp;
mod udev;
mod unitfiles;
mod unix_ports;
mod uptime;
mod users;
pub mod watch;
mod worldwritable;

mod registry;
pub use registry::Registry;

/// One check of the attack surface.
pub trait Collector: Sync {
    /// Unique snake_case name, used on the command line (`--collector NAME`) and in storage.
    fn name(&self) -> &'static str;

    /// One line for `dawgctl collectors`.
    fn description(&self) -> &'static str;

    /// What one item is called in change messages: "suid binary", "group", "port".
    fn noun(&self) -> &'static str;

    /// Whether a scan without an explicit collector list runs it.
    fn default_enabled(&self) -> bool {
        true
    }

    /// Reads the host. An error marks the collector unavailable for this scan (it is then
    /// reported as "not compared", never as everything removed).
    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError>;

    /// The file one of this collector's items comes from (a unit file, a cron.d file, a PAM
    /// file), as [`Host::display`] renders it: the scan records the package dpkg says owns it
    /// as the item's `package` field (`none` when none does). `None` (the default): the item
    /// has no such file (a user, a mount), or the collector set `package` itself.
    fn package_path<'a>(&self, _item: &'a Item) -> Option<Cow<'a, str>> {
        None
    }

    /// The one-line message for a change of one of this collector's items.
    fn message(&self, change: &Change) -> String {
        default_message(self.noun(), change)
    }

    /// Host paths (as seen under the scanned root) whose changes can change this collector's
    /// output: the realtime watch runs it when an entry at or below one changes. A component
    /// may hold `*` (any run of characters within one name: `/home/*/.ssh`, `/etc/rc*.d`).
    fn watch_paths(&self) -> Vec<String> {
        Vec::new()
    }

    /// Whether a new or changed setuid, setgid or file-capability entry, wherever it is,
    /// concerns it (the realtime watch then runs it).
    fn watches_setid(&self) -> bool {
        false
    }

    /// Whether the realtime watch runs it at once when its paths change, to record what it
    /// saw even if it is undone before the next scan. Only for collectors that read a few
    /// small files.
    fn observes(&self) -> bool {
        false
    }
}

/// [`Collector::watch_paths`] from a literal list.
fn paths(list: &[&str]) -> Vec<String> {
    list.iter().map(|p| p.to_string()).collect()
}

/// The absolute path in `item`'s field `name` (a `file`, `path` or `source`), for
/// [`Collector::package_path`].
pub fn field_path<'a>(item: &'a Item, name: &str) -> Option<Cow<'a, str>> {
    item.fields
        .get(name)
        .filter(|p| p.starts_with('/'))
        .map(Cow::Borrowed)
}

/// The absolute path after `prefix` in `item`'s key (`policy /etc/dbus-1/system.d/x.conf`),
/// for [`Collector::package_path`].
pub fn key_path<'a>(item: &'a Item, prefix: &str) -> Option<Cow<'a, str>> {
    item.key
        .strip_prefix(prefix)
        .filter(|p| p.starts_with('/'))
        .map(Cow::Borrowed)
}

/// Every collector, in execution and report order. One line per collector.
pub static COLLECTORS: &[&dyn Collector] = &[
    &boot::CheckBoot,
    &etc::CheckEtc,
    &pipes::ListPipes,
    &suids::ListSuids,
    &file_caps::ListFileCaps,
    &worldwritable::WorldWritable,
    &env::Env,
    &sysvipc::ListMsq,
    &sysvipc::ListSem,
    &sysvipc::ListShm,
    &unix_ports::ListUnixPorts,
    &mounts::ListMount,
    &mount_options::MountOptions,
    &processes::ListProcesses,
    &systemd::SystemdProps,
    &systemd::SystemdSockets,
    &systemd::SystemdTimers,
    &unitfiles::SystemdUnitfiles,
    &systemd::SystemdUnits,
    &sysvinit::ListSysvinitJobs,
    &rootrun::RootRunWritable,
    &needs_restart::NeedsRestart,
    &packages::ListPackages,
    &integrity::PackageIntegrity,
    &uptime::Uptime,
    &groups::CheckGroups,
    &users::CheckUsers,
    &sudo_rules::SudoRules,
    &cron_jobs::CronJobs,
    &ssh_access::SshAccess,
    &pam::PamStacks,
    &loader::DynamicLoader,
    &polkit::PolkitRules,
    &dbus::DbusServices,
    &udev::UdevRules,
    &sysctl::SysctlHardening,
    &apparmor::ApparmorProfiles,
    &kernel::KernelVersion,
    &kernel::KernelModules,
    &lsb::LsbVersion,
    &tcpudp::ListTcpudpPorts,
    &ifaces::ListIfaces,
    &blkdev::ListBlkdev,
];

/// The collector called `name`; for a watch tree (`watch:PATH`), configured or not, one that
/// renders its messages.
pub fn by_name(name: &str) -> Option<&'static dyn Collector> {
    if name.starts_with(watch::PREFIX) {
        return Some(&watch::ANY);
    }
    COLLECTORS.iter().copied().find(|c| c.name() == name)
}

/// Whether `name` names watch trees: `watch` (all of them) or `watch:PATH`.
pub fn is_watch_name(name: &str) -> bool {
    name == "watch" || name.starts_with(watch::PREFIX)
}

/// Whether a collector `name` is among the `only` names (`watch` standing for every tree).
pub fn named_in(name: &str, only: &[String]) -> bool {
    only.iter()
        .any(|o| o == name || (o == "watch" && name.starts_with(watch::PREFIX)))
}

/// The generic message: `group x added (gid=5)`, `group x removed`,
/// `group x changed: gid from 5 to 6`.
pub fn default_message(noun: &str, change: &Change) -> String {
    match change.kind {
        ChangeKind::Added => {
            let fields = change
                .after
                .as_ref()
                .map(crate::sources::common::render_fields)
                .unwrap_or_default();
            if fields.is_empty() {
                format!("{noun} {} added", change.key)
            } else {
                format!("{noun} {} added ({fields})", change.key)
            }
        }
        ChangeKind::Removed => format!("{noun} {} removed", change.key),
        ChangeKind::Modified => {
            format!(
                "{noun} {} changed: {}",
                change.key,
                crate::sources::common::render_modified(change)
            )
        }
    }
}

/// Builders shared by the collectors' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    /// Held by the unit tests that change the live /etc (a cron.d entry) and by those that read
    /// it twice expecting no change: they run in parallel threads of one process.
    pub fn live_etc() -> std::sync::MutexGuard<'static, ()> {
        static LIVE_ETC: std::sync::Mutex<()> = std::sync::Mutex::new(());
        LIVE_ETC.lock().unwrap_or_else(|p| p.into_inner())
    }

    use crate::model::{Change, ChangeKind, Fields, Severity};

    /// A collector's output over the fake root at `root` is the same on a second scan (an idle
    /// host is silent), and a root without what it reads gives no items (not an error).
    pub fn idle_and_absent(c: &dyn super::Collector, root: &std::path::Path) {
        let host = crate::host::Host::new(root);
        assert_eq!(c.collect(&host).unwrap(), c.collect(&host).unwrap());
        let empty = tempfile::tempdir().unwrap();
        let host = crate::host::Host::new(empty.path());
        assert!(c.collect(&host).unwrap().is_empty(), "{}", c.name());
    }

    /// The item called `key`; panics listing the keys there are.
    pub fn item<'a>(items: &'a [crate::model::Item], key: &str) -> &'a crate::model::Item {
        items.iter().find(|i| i.key == key).unwrap_or_else(|| {
            panic!(
                "no item {key:?} in {:#?}",
                items.iter().map(|i| &i.key).collect::<Vec<_>>()
            )
        })
    }

    /// The fields of the item called `key` (see [`item`]).
    pub fn fields<'a>(items: &'a [crate::model::Item], key: &str) -> &'a Fields {
        &item(items, key).fields
    }

    /// Writes `content` to `rel` under a fake root, creating the directories on the way.
    pub fn write(root: &std::path::Path, rel: &str, content: impl AsRef<[u8]>) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    /// A change of `collector`'s item `key`, as the diff would build it before asking the
    /// collector for its message and severity. An empty field list means "no such side".
    pub fn change(
        collector: &str,
        kind: ChangeKind,
        key: &str,
        before: &[(&str, &str)],
        after: &[(&str, &str)],
    ) -> Change {
        let fields = |kv: &[(&str, &str)]| -> Option<Fields> {
            (!kv.is_empty()).then(|| {
                kv.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
        };
        Change {
            collector: collector.into(),
            kind,
            key: key.into(),
            message: String::new(),
            severity: Severity::Info,
            rule: None,
            before: fields(before),
            after: fields(after),
        }
    }
}

#[cfg(test)]
pub(crate) mod fuzz;

#[cfg(test)]
mod tests;
