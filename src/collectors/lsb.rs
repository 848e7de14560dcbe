//! `lsb_version`: the distribution's identity from `etc/os-release` (or `usr/lib/os-release`,
//! its fallback per os-release(5)) and `etc/lsb-release`.
//!
//! One item per variable, keyed by its name, with the unquoted value: a distribution upgrade
//! shows as `VERSION_ID changed from 11 to 12`. os-release wins when both files set a name.

use crate::collectors::Collector;
use crate::error::CollectError;
use crate::host::{Host, escape_bytes};
use crate::model::{Change, ChangeKind, Item};

pub struct LsbVersion;

impl Collector for LsbVersion {
    fn name(&self) -> &'static str {
        "lsb_version"
    }
    fn description(&self) -> &'static str {
        "distribution name and version from etc/os-release and etc/lsb-release"
    }
    fn noun(&self) -> &'static str {
        "OS release field"
    }

    fn collect(&self, host: &Host) -> Result<Vec<Item>, CollectError> {
        let os_release = match host.read_optional("/etc/os-release")? {
            Some(t) => Some(t),
            None => host.read_optional("/usr/lib/os-release")?,
        };
        let lsb_release = host.read_optional("/etc/lsb-release")?;
        if os_release.is_none() && lsb_release.is_none() {
            return Err(CollectError::Unavailable(format!(
                "none of etc/os-release, usr/lib/os-release, etc/lsb-release exists under {}",
                host.root().display()
            )));
        }
        let mut items: Vec<Item> = Vec::new();
        for text in [os_release, lsb_release].into_iter().flatten() {
            for (name, value) in parse(&text) {
                if !items.iter().any(|i| i.key == name) {
                    items.push(Item::new(name).with("value", escape_bytes(value.as_bytes())));
                }
            }
        }
        Ok(items)
    }

    fn message(&self, change: &Change) -> String {
        fn value(f: &Option<crate::model::Fields>) -> &str {
            f.as_ref().and_then(|f| f.get("value")).unwrap_or_default()
        }
        let key = &change.key;
        match change.kind {
            ChangeKind::Added => format!("OS release field {key} added ({})", value(&change.after)),
            ChangeKind::Removed => format!("OS release field {key} removed"),
            ChangeKind::Modified => format!(
                "OS release field {key} changed from {} to {}",
                value(&change.before),
                value(&change.after)
            ),
        }
    }
}

/// `NAME=value` assignments in shell syntax; comments, blank and malformed lines are skipped.
fn parse(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, raw)) = line.split_once('=') else {
            continue;
        };
        let valid_name = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            continue;
        }
        if let Some(value) = unquote(raw.trim()) {
            out.push((name.to_string(), value));
        }
    }
    out
}

/// The value of a shell word: `"a \"b\""`, `'a b'` or `bare`. `None` when a quote is not closed.
fn unquote(raw: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => {
                        let e = chars.next()?;
                        if !matches!(e, '"' | '\\' | '$' | '`') {
                            out.push('\\');
                        }
                        out.push(e);
                    }
                    other => out.push(other),
                }
            },
            '\'' => loop {
                match chars.next()? {
                    '\'' => break,
                    other => out.push(other),
                }
            },
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Severity;

    use crate::collectors::testing::write;

    #[test]
    fn os_release_values_are_unquoted() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "etc/os-release",
            "# comment\n\
             PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n\
             VERSION_ID=\"12\"\n\
             ID=debian\n\
             QUOTED='single $quoted'\n\
             ESCAPED=\"say \\\"hi\\\" \\\\ \\$HOME\"\n\
             not a line\n\
             1BAD=x\n\
             UNCLOSED=\"oops\n\
             \n",
        );
        write(
            dir.path(),
            "etc/lsb-release",
            "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=22.04\nID=ignored-dup\n",
        );
        let items = LsbVersion.collect(&Host::new(dir.path())).unwrap();
        let get = |k: &str| {
            items
                .iter()
                .find(|i| i.key == k)
                .map(|i| &i.fields["value"])
        };
        assert_eq!(get("PRETTY_NAME"), Some("Debian GNU/Linux 12 (bookworm)"));
        assert_eq!(get("VERSION_ID"), Some("12"));
        assert_eq!(get("ID"), Some("debian"), "os-release wins");
        assert_eq!(get("QUOTED"), Some("single $quoted"));
        assert_eq!(get("ESCAPED"), Some("say \"hi\" \\\\ $HOME"));
        assert_eq!(get("DISTRIB_RELEASE"), Some("22.04"));
        assert_eq!(get("UNCLOSED"), None);
        assert_eq!(get("1BAD"), None);
        assert_eq!(items.len(), 7);
    }

    #[test]
    fn usr_lib_fallback_and_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            LsbVersion.collect(&Host::new(dir.path())),
            Err(CollectError::Unavailable(m)) if m.contains("os-release")
        ));
        write(dir.path(), "usr/lib/os-release", "VERSION_ID=11\n");
        let items = LsbVersion.collect(&Host::new(dir.path())).unwrap();
        assert_eq!(items[0].key, "VERSION_ID");
        assert_eq!(&items[0].fields["value"], "11");
    }

    #[test]
    fn messages() {
        let change = Change {
            collector: "lsb_version".into(),
            kind: ChangeKind::Modified,
            key: "VERSION_ID".into(),
            message: String::new(),
            severity: Severity::Info,
            rule: None,
            before: Some([("value".to_string(), "11".to_string())].into()),
            after: Some([("value".to_string(), "12".to_string())].into()),
        };
        assert_eq!(
            LsbVersion.message(&change),
            "OS release field VERSION_ID changed from 11 to 12"
        );
        assert_eq!(crate::rules::testing::severity(&change), Severity::Low);
    }

    proptest::proptest! {
        #![proptest_config(crate::collectors::fuzz::config())]
        /// Fault matrix: random and truncated os-release and lsb-release never panic the
        /// parser or the collector.
        #[test]
        fn fuzz_os_release(text in crate::collectors::fuzz::text(
            "NAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID='12'\nPRETTY_NAME=\"a \\\"b\\\" $c\"\n# x\nBAD NAME=1\nX=\"open\n"
        )) {
            let _ = parse(&text);
            let dir = tempfile::tempdir().unwrap();
            crate::collectors::testing::write(dir.path(), "etc/os-release", &text);
            crate::collectors::testing::write(dir.path(), "etc/lsb-release", &text);
            let items = LsbVersion.collect(&Host::new(dir.path())).unwrap();
            crate::collectors::fuzz::assert_printable(&items);
        }
    }
}
