//! `--by package`: a report regrouped under the package that brought each change, each package
//! with a one-line verdict. Pure: it only groups what the report holds.
//!
//! - A change's package is its item's `package` field, as collectors set it from dpkg's file
//!   lists (after for added and modified changes, before for removed ones, or the other side
//!   when one lacks it; a modified change carries only the fields that differ, so it names its
//!   package only when that changed too). `none` means the host has a package database that does
//!   not know the item: those changes are grouped last, under a loud heading. A change without
//!   the field (its collector does not attribute) goes under "not attributed", just before.
//!   A path several packages share (`a,b`, a directory) goes to the first of them with an
//!   operation in this report, else under the name as given.
//! - The operation of a package (installed, removed, upgraded from → to, ...) comes from the
//!   `list_packages` changes of the same report; a package with changes but no operation is
//!   "unchanged package" (an edited conffile, a replaced binary).
//! - Packages come loudest first (then by name), each group's changes loudest first.

use std::cmp::Ordering;
use std::collections::HashMap;

use serde::Serialize;

use crate::collectors;
use crate::model::{Change, ChangeKind, Fields, Severity};

use super::{Report, TextOptions, change_line, hidden, summary};

/// The collector whose changes are package operations.
pub const PACKAGES: &str = "list_packages";

/// Who a group of changes belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Package(String),
    /// Their collectors do not say which package (no `package` field).
    Unattributed,
    /// The host's package database knows none of them (`package=none`).
    NoPackage,
}

/// What happened to a package between the two scans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Operation {
    /// `installed`, `removed`, `upgraded`, `downgraded`, `reinstalled`, or the status change
    /// (`status install ok installed → deinstall ok config-files`).
    pub verb: String,
    pub from_version: Option<String>,
    pub to_version: Option<String>,
}

impl Operation {
    /// The operation a `list_packages` change records.
    pub fn of(change: &Change) -> Operation {
        let get = |side: &Option<Fields>, name: &str| side.as_ref()?.get(name).map(str::to_string);
        let status = |side: &Option<Fields>| get(side, "status").unwrap_or_default();
        let clean = |s: &str| s.is_empty() || s == "install ok installed" || s == "installed";
        let (before, after) = (&change.before, &change.after);
        let (verb, from, to) = match change.kind {
            ChangeKind::Added if clean(&status(after)) => {
                ("installed".to_string(), None, get(after, "version"))
            }
            ChangeKind::Added => (
                format!("added with status {}", status(after)),
                None,
                get(after, "version"),
            ),
            ChangeKind::Removed => ("removed".to_string(), get(before, "version"), None),
            ChangeKind::Modified => {
                let (from, to) = (get(before, "version"), get(after, "version"));
                let verb = match (&from, &to) {
                    _ if get(after, "status").is_some() => format!(
                        "status {} → {}",
                        status(before),
                        get(after, "status").unwrap_or_default()
                    ),
                    (Some(f), Some(t)) => match compare_versions(f, t) {
                        Ordering::Less => "upgraded".to_string(),
                        Ordering::Greater => "downgraded".to_string(),
                        Ordering::Equal => "reinstalled".to_string(),
                    },
                    _ => "changed".to_string(),
                };
                (verb, from, to)
            }
        };
        Operation {
            verb,
            from_version: from,
            to_version: to,
        }
    }

    /// `installed nginx 1.24`, `upgraded libc6 2.36-9 → 2.36-9+deb12u4`.
    pub fn describe(&self, package: &str) -> String {
        format!("{} {package}{}", self.verb, self.versions())
    }

    /// ` 1.24`, ` 2.36-9 → 2.36-9+deb12u4`, or nothing.
    fn versions(&self) -> String {
        match (&self.from_version, &self.to_version) {
            (Some(f), Some(t)) if f != t => format!(" {f} → {t}"),
            (_, Some(v)) | (Some(v), None) => format!(" {v}"),
            (None, None) => String::new(),
        }
    }
}

/// The changes of one package (or of none).
#[derive(Debug, Clone)]
pub struct Group<'a> {
    pub owner: Owner,
    pub operation: Option<Operation>,
    /// The `list_packages` change the operation comes from.
    pub package_change: Option<&'a Change>,
    /// The other changes, loudest first.
    pub changes: Vec<&'a Change>,
}

impl Group<'_> {
    /// The package's name (empty for the groups of no package).
    pub fn name(&self) -> &str {
        match &self.owner {
            Owner::Package(p) => p,
            _ => "",
        }
    }

    /// The loudest level among the group's changes, its package change included.
    pub fn max_severity(&self) -> Severity {
        self.changes
            .iter()
            .chain(self.package_change.as_ref())
            .map(|c| c.severity)
            .max()
            .unwrap_or_default()
    }

    /// `nginx 1.24 (installed): 1 port tcp 0.0.0.0:80 [high], 2 systemd unit files [low]`.
    pub fn verdict(&self) -> String {
        let head = match (&self.owner, &self.operation) {
            (Owner::Package(p), Some(op)) => format!("{p}{} ({})", op.versions(), op.verb),
            (Owner::Package(p), None) => format!("{p} (unchanged package)"),
            (Owner::Unattributed, _) => "Not attributed to a package".to_string(),
            (Owner::NoPackage, _) => "NO PACKAGE OWNS THESE".to_string(),
        };
        let counts = counts_by_noun(&self.changes);
        if counts.is_empty() {
            return format!("{head}: no other change");
        }
        format!("{head}: {counts}")
    }
}

/// `1 suid binary /usr/bin/x [high], 2 files [medium]`: per collector, in order of appearance,
/// the count by the collector's noun (the key when there is one) and the loudest level.
fn counts_by_noun(changes: &[&Change]) -> String {
    let mut by: Vec<(&str, Vec<&Change>)> = Vec::new();
    for c in changes {
        match by.iter_mut().find(|(n, _)| *n == c.collector) {
            Some((_, v)) => v.push(c),
            None => by.push((&c.collector, vec![c])),
        }
    }
    by.iter()
        .map(|(collector, cs)| {
            let noun = collectors::by_name(collector).map_or(*collector, |c| c.noun());
            let loudest = cs.iter().map(|c| c.severity).max().unwrap_or_default();
            match cs.as_slice() {
                [one] => format!("1 {noun} {} [{loudest}]", one.key),
                _ => format!("{} {} [{loudest}]", cs.len(), plural(noun)),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `suid binary` → `suid binaries`, `file with capabilities` → `files with capabilities`.
fn plural(noun: &str) -> String {
    let (head, tail) = match noun.find(" with ") {
        Some(i) => noun.split_at(i),
        None => (noun, ""),
    };
    let head = if let Some(stem) = head
        .strip_suffix('y')
        .filter(|s| !s.ends_with(['a', 'e', 'o']))
    {
        format!("{stem}ies")
    } else if head.ends_with('s') || head.ends_with("sh") || head.ends_with("ch") {
        format!("{head}es")
    } else {
        format!("{head}s")
    };
    format!("{head}{tail}")
}

/// The package a change names: its `package` field (see the module text).
pub fn package_of(c: &Change) -> Option<&str> {
    fn get(side: &Option<Fields>) -> Option<&str> {
        side.as_ref()?.get("package")
    }
    match c.kind {
        ChangeKind::Removed => get(&c.before).or(get(&c.after)),
        _ => get(&c.after).or(get(&c.before)),
    }
}

/// The host path a change is about, from its fields, never from its message: the file it came
/// from (`file`, `path`, an absolute `source`: a sudoers file, a key file, a unit file, a
/// crontab), else its key when that is an absolute path (a setuid file, a root-run path).
/// A message can hold any text a user wrote (a crontab command saying `(file=/bin/ls)`); the
/// fields of the item cannot be steered that way.
pub fn subject(c: &Change) -> Option<&str> {
    let side = match c.kind {
        ChangeKind::Removed => c.before.as_ref(),
        _ => c.after.as_ref(),
    }?;
    ["file", "path", "source"]
        .iter()
        .filter_map(|f| side.get(f))
        .chain(std::iter::once(c.key.as_str()))
        .find(|p| p.starts_with('/'))
}

/// Gives the changes that name no package one from `owner` (the owning package(s) of a host
/// path, `None` when none is known), looked up by their [`subject`]. Removed changes and
/// package operations are left as they are: dpkg no longer lists what it removed, and another
/// path would name the wrong package.
pub fn attribute(report: &mut Report, owner: impl Fn(&str) -> Option<String>) {
    for c in &mut report.changes {
        if c.collector == PACKAGES || c.kind == ChangeKind::Removed || package_of(c).is_some() {
            continue;
        }
        let Some(pkg) = subject(c).and_then(&owner) else {
            continue;
        };
        if let Some(after) = c.after.as_mut() {
            after.insert("package", pkg);
        }
    }
}

/// The report's changes grouped by package: packages loudest first (then by name), then the
/// changes not attributed, then those no package owns.
pub fn group(report: &Report) -> Vec<Group<'_>> {
    let mut groups: Vec<Group> = Vec::new();
    // Package name → index in `groups` (a dist-upgrade has thousands of both).
    let mut index: HashMap<String, usize> = HashMap::new();
    for c in report.changes.iter().filter(|c| c.collector == PACKAGES) {
        index.insert(c.key.clone(), groups.len());
        groups.push(Group {
            owner: Owner::Package(c.key.clone()),
            operation: Some(Operation::of(c)),
            package_change: Some(c),
            changes: Vec::new(),
        });
    }
    let operated = index.clone();
    let mut unattributed = Vec::new();
    let mut unowned = Vec::new();
    for c in report.changes.iter().filter(|c| c.collector != PACKAGES) {
        let name = match package_of(c) {
            None => {
                unattributed.push(c);
                continue;
            }
            Some("none") => {
                unowned.push(c);
                continue;
            }
            Some(p) => p,
        };
        let name = name
            .split(',')
            .find(|n| operated.contains_key(*n))
            .unwrap_or(name);
        match index.get(name) {
            Some(&i) => groups[i].changes.push(c),
            None => {
                index.insert(name.to_string(), groups.len());
                groups.push(Group {
                    owner: Owner::Package(name.to_string()),
                    operation: None,
                    package_change: None,
                    changes: vec![c],
                });
            }
        }
    }
    groups.sort_by_cached_key(|g| (std::cmp::Reverse(g.max_severity()), g.name().to_string()));
    for (owner, changes) in [
        (Owner::Unattributed, unattributed),
        (Owner::NoPackage, unowned),
    ] {
        if !changes.is_empty() {
            groups.push(Group {
                owner,
                operation: None,
                package_change: None,
                changes,
            });
        }
    }
    for g in &mut groups {
        g.changes.sort_by_key(|c| std::cmp::Reverse(c.severity));
    }
    groups
}

/// `Package operation: installed nginx 1.24, upgraded libc6 2.36-9 → 2.36-9+deb12u4` (at most
/// ten named, then how many more), or `None` when the report has no package change.
pub fn operation_line(report: &Report) -> Option<String> {
    const NAMED: usize = 10;
    let ops: Vec<String> = report
        .changes
        .iter()
        .filter(|c| c.collector == PACKAGES)
        .map(|c| Operation::of(c).describe(&c.key))
        .collect();
    if ops.is_empty() {
        return None;
    }
    let mut line = format!(
        "Package operation: {}",
        ops[..ops.len().min(NAMED)].join(", ")
    );
    if ops.len() > NAMED {
        line.push_str(&format!(" and {} more", ops.len() - NAMED));
    }
    Some(line)
}

/// The groups a reader sees at `min_severity`: those with a change at or above it.
pub fn shown<'a>(groups: &'a [Group<'a>], min: Severity) -> impl Iterator<Item = &'a Group<'a>> {
    groups.iter().filter(move |g| g.max_severity() >= min)
}

/// The report as text, grouped by package: the summary, the package operation, then each
/// group's verdict and its change lines (indented), then the warnings.
pub fn render_text(report: &Report, opts: TextOptions) -> String {
    let mut out = summary(&report.changes, report.warnings.len(), opts.min_severity);
    out.push('\n');
    if let Some(line) = operation_line(report) {
        out.push_str(&line);
        out.push('\n');
    }
    let groups = group(report);
    for g in shown(&groups, opts.min_severity) {
        out.push('\n');
        out.push_str(&g.verdict());
        out.push('\n');
        for c in g.changes.iter().filter(|c| c.severity >= opts.min_severity) {
            out.push_str("  ");
            out.push_str(&change_line(c, report.to.started_at, opts));
            out.push('\n');
        }
    }
    if !report.warnings.is_empty() {
        out.push('\n');
    }
    for w in &report.warnings {
        out.push_str(&format!("! {}\n", w.message));
    }
    out
}

/// The report as JSON, grouped by package: `from`, `to`, `operations`, `groups` (each with
/// `owner`: `package`, `unattributed` or `none`; `package`, `operation`, `package_change`,
/// `max_severity`, `verdict`, `changes`), `warnings`, and `filter` when `min_severity` left
/// changes out (as in the plain JSON report).
pub fn render_json(report: &Report, min: Severity) -> String {
    #[derive(Serialize)]
    struct JsonGroup<'a> {
        owner: &'static str,
        package: Option<&'a str>,
        operation: &'a Option<Operation>,
        package_change: Option<&'a Change>,
        max_severity: Severity,
        verdict: String,
        changes: Vec<&'a Change>,
    }
    #[derive(Serialize)]
    struct JsonOperation<'a> {
        package: &'a str,
        #[serde(flatten)]
        operation: Operation,
    }
    #[derive(Serialize)]
    struct Filter {
        min_severity: Severity,
        hidden: usize,
    }
    #[derive(Serialize)]
    struct Json<'a> {
        from: &'a Option<super::ScanRef>,
        to: &'a super::ScanRef,
        operations: Vec<JsonOperation<'a>>,
        groups: Vec<JsonGroup<'a>>,
        warnings: &'a [crate::model::Warning],
        #[serde(skip_serializing_if = "Option::is_none")]
        filter: Option<Filter>,
    }
    let all = group(report);
    let groups = shown(&all, min)
        .map(|g| {
            let (owner, package) = match &g.owner {
                Owner::Package(p) => ("package", Some(p.as_str())),
                Owner::Unattributed => ("unattributed", None),
                Owner::NoPackage => ("none", None),
            };
            JsonGroup {
                owner,
                package,
                operation: &g.operation,
                package_change: g.package_change,
                max_severity: g.max_severity(),
                verdict: g.verdict(),
                changes: g
                    .changes
                    .iter()
                    .copied()
                    .filter(|c| c.severity >= min)
                    .collect(),
            }
        })
        .collect();
    let operations = report
        .changes
        .iter()
        .filter(|c| c.collector == PACKAGES)
        .map(|c| JsonOperation {
            package: &c.key,
            operation: Operation::of(c),
        })
        .collect();
    let left_out = hidden(&report.changes, min);
    let out = Json {
        from: &report.from,
        to: &report.to,
        operations,
        groups,
        warnings: &report.warnings,
        filter: (left_out > 0).then_some(Filter {
            min_severity: min,
            hidden: left_out,
        }),
    };
    serde_json::to_string_pretty(&out).expect("reports serialise")
}

/// Debian version order (`[epoch:]upstream[-revision]`, `~` sorting before everything, as
/// dpkg --compare-versions does).
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> (u64, &str, &str) {
        let (epoch, rest) = match v.split_once(':') {
            Some((e, r)) if e.bytes().all(|b| b.is_ascii_digit()) => (e.parse().unwrap_or(0), r),
            _ => (0, v),
        };
        match rest.rsplit_once('-') {
            Some((u, r)) => (epoch, u, r),
            None => (epoch, rest, ""),
        }
    }
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb)
        .then_with(|| part_cmp(ua, ub))
        .then_with(|| part_cmp(ra, rb))
}

/// dpkg's `verrevcmp`: alternating non-digit runs (letters before other characters, `~` before
/// the end) and numbers.
fn part_cmp(a: &str, b: &str) -> Ordering {
    fn weight(c: Option<&u8>) -> i32 {
        match c {
            None => 0,
            Some(b'~') => -1,
            Some(c) if c.is_ascii_digit() => 0,
            Some(c) if c.is_ascii_alphabetic() => *c as i32,
            Some(c) => *c as i32 + 256,
        }
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let digit = |s: &[u8], i: usize| s.get(i).is_some_and(u8::is_ascii_digit);
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (x, y) = (weight(a.get(i)), weight(b.get(j)));
            if x != y {
                return x.cmp(&y);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first == Ordering::Equal {
                first = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first != Ordering::Equal {
            return first;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests;
