use chrono::DateTime;

use super::*;
use crate::model::Warning;
use crate::report::ScanRef;
use serde_json::Value;

fn fields(pairs: &[(&str, &str)]) -> Option<Fields> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn change(
    collector: &str,
    kind: ChangeKind,
    key: &str,
    severity: Severity,
    before: Option<Fields>,
    after: Option<Fields>,
) -> Change {
    Change {
        collector: collector.into(),
        kind,
        key: key.into(),
        message: format!("{collector} {key} {}", kind.as_str()),
        severity,
        rule: None,
        before,
        after,
    }
}

fn installed(pkg: &str, version: &str) -> Change {
    change(
        PACKAGES,
        ChangeKind::Added,
        pkg,
        Severity::Low,
        None,
        fields(&[("version", version), ("status", "install ok installed")]),
    )
}

fn owned(collector: &str, key: &str, pkg: &str, severity: Severity) -> Change {
    change(
        collector,
        ChangeKind::Added,
        key,
        severity,
        None,
        fields(&[("package", pkg)]),
    )
}

/// What an install of nginx and an upgrade of libc6 look like, with a setuid file no package
/// owns and a listener no collector attributes.
fn install() -> Report {
    let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    Report {
        from: Some(ScanRef {
            id: 1,
            label: Some("apt-pre".into()),
            started_at: at,
        }),
        to: ScanRef {
            id: 2,
            label: None,
            started_at: at,
        },
        changes: vec![
            owned(
                "list_suids",
                "/usr/local/bin/sh",
                "none",
                Severity::Critical,
            ),
            owned(
                "check_etc",
                "/etc/nginx/nginx.conf",
                "nginx",
                Severity::Medium,
            ),
            owned("check_etc", "/etc/nginx/sites", "nginx", Severity::Low),
            owned(
                "list_suids",
                "/usr/lib/nginx/helper",
                "nginx",
                Severity::High,
            ),
            owned("check_etc", "/etc/ld.so.cache", "libc-bin", Severity::Info),
            owned("check_etc", "/etc/cron.d", "cron,nginx", Severity::Low),
            change(
                "list_tcpudp_ports",
                ChangeKind::Added,
                "tcp 0.0.0.0:80",
                Severity::High,
                None,
                fields(&[("process", "nginx")]),
            ),
            change(
                PACKAGES,
                ChangeKind::Modified,
                "libc6:amd64",
                Severity::Info,
                fields(&[("version", "2.36-9")]),
                fields(&[("version", "2.36-9+deb12u4")]),
            ),
            installed("nginx", "1.24.0-1"),
            change(
                PACKAGES,
                ChangeKind::Removed,
                "apache2",
                Severity::Low,
                fields(&[("version", "2.4.57-2"), ("status", "install ok installed")]),
                None,
            ),
        ],
        warnings: vec![Warning {
            collector: "kernel_modules".into(),
            message: "kernel_modules not compared: absent".into(),
        }],
        ignored: 0,
    }
}

#[test]
fn changes_go_under_their_package_with_a_verdict() {
    let report = install();
    let groups = group(&report);
    let names: Vec<String> = groups.iter().map(|g| g.verdict()).collect();
    assert_eq!(
        names,
        [
            "nginx 1.24.0-1 (installed): 1 suid binary /usr/lib/nginx/helper [high], \
             3 files [medium]",
            "apache2 2.4.57-2 (removed): no other change",
            "libc-bin (unchanged package): 1 file /etc/ld.so.cache [info]",
            "libc6:amd64 2.36-9 → 2.36-9+deb12u4 (upgraded): no other change",
            "Not attributed to a package: 1 port tcp 0.0.0.0:80 [high]",
            "NO PACKAGE OWNS THESE: 1 suid binary /usr/local/bin/sh [critical]",
        ],
    );
    // Loudest first inside a group; a path two packages share goes to the one installed.
    let nginx: Vec<&str> = groups[0].changes.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(
        nginx,
        [
            "/usr/lib/nginx/helper",
            "/etc/nginx/nginx.conf",
            "/etc/nginx/sites",
            "/etc/cron.d"
        ]
    );
    assert_eq!(groups[0].max_severity(), Severity::High);
    assert_eq!(
        operation_line(&report).unwrap(),
        "Package operation: upgraded libc6:amd64 2.36-9 → 2.36-9+deb12u4, \
         installed nginx 1.24.0-1, removed apache2 2.4.57-2"
    );
}

#[test]
fn text_and_json_forms() {
    let report = install();
    let text = render_text(&report, TextOptions::default());
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("10 changes detected (1 warning): 1 critical"));
    assert!(lines[1].starts_with("Package operation: upgraded libc6"));
    assert_eq!(lines[2], "");
    assert!(lines[3].starts_with("nginx 1.24.0-1 (installed)"), "{text}");
    assert!(lines[4].starts_with("  + list_suids /usr/lib/nginx/helper"));
    let last_group = text.find("NO PACKAGE OWNS THESE").unwrap();
    assert!(text.find("Not attributed").unwrap() < last_group);
    assert!(
        text.ends_with("! kernel_modules not compared: absent\n"),
        "{text}"
    );

    // Filtered: quieter groups and lines go, the summary says how many.
    let high = render_text(
        &report,
        TextOptions {
            min_severity: Severity::High,
            ..Default::default()
        },
    );
    assert!(
        high.lines()
            .next()
            .unwrap()
            .contains("7 below high not shown")
    );
    assert!(!high.contains("libc-bin"), "{high}");
    assert!(!high.contains("/etc/nginx/sites"), "{high}");
    assert!(high.contains("nginx 1.24.0-1 (installed): 1 suid binary"));

    let v: Value = serde_json::from_str(&render_json(&report, Severity::Info)).unwrap();
    assert_eq!(v["from"]["label"], "apt-pre");
    assert_eq!(v["operations"].as_array().unwrap().len(), 3);
    assert_eq!(v["operations"][0]["verb"], "upgraded");
    assert_eq!(v["operations"][0]["package"], "libc6:amd64");
    assert_eq!(v["operations"][0]["from_version"], "2.36-9");
    let groups = v["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 6);
    assert_eq!(groups[0]["owner"], "package");
    assert_eq!(groups[0]["package"], "nginx");
    assert_eq!(groups[0]["operation"]["verb"], "installed");
    assert_eq!(groups[0]["package_change"]["key"], "nginx");
    assert_eq!(groups[0]["max_severity"], "high");
    assert_eq!(groups[0]["changes"].as_array().unwrap().len(), 4);
    assert_eq!(groups[4]["owner"], "unattributed");
    assert_eq!(groups[5]["owner"], "none");
    assert!(groups[5]["package"].is_null());
    assert!(v.get("filter").is_none());
    let v: Value = serde_json::from_str(&render_json(&report, Severity::Critical)).unwrap();
    assert_eq!(v["groups"].as_array().unwrap().len(), 1);
    assert_eq!(v["filter"]["hidden"], 9);
}

#[test]
fn a_report_without_packages_has_no_operation() {
    let mut report = install();
    report.changes.retain(|c| c.collector != PACKAGES);
    assert_eq!(operation_line(&report), None);
    let groups = group(&report);
    assert!(groups[0].verdict().contains("(unchanged package)"));
    // Without an installed nginx, the shared directory goes under the name as given.
    assert!(groups.iter().any(|g| g.name() == "cron,nginx"));
}

#[test]
fn operations_from_package_changes() {
    let modified = |before: &[(&str, &str)], after: &[(&str, &str)]| {
        Operation::of(&change(
            PACKAGES,
            ChangeKind::Modified,
            "p",
            Severity::Info,
            fields(before),
            fields(after),
        ))
    };
    assert_eq!(
        modified(&[("version", "2.0")], &[("version", "1.9")]).verb,
        "downgraded"
    );
    assert_eq!(
        modified(
            &[("status", "install ok installed")],
            &[("status", "deinstall ok config-files")]
        )
        .describe("p"),
        "status install ok installed → deinstall ok config-files p"
    );
    let half = change(
        PACKAGES,
        ChangeKind::Added,
        "q",
        Severity::Low,
        None,
        fields(&[
            ("version", "1"),
            ("status", "install reinstreq half-installed"),
        ]),
    );
    assert_eq!(
        Operation::of(&half).describe("q"),
        "added with status install reinstreq half-installed q 1"
    );
}

#[test]
fn debian_version_order() {
    use Ordering::*;
    for (a, b, want) in [
        ("2.36-9", "2.36-9+deb12u4", Less),
        ("1.0~rc1", "1.0", Less),
        ("1:1.0", "2.0", Greater),
        ("1.10", "1.9", Greater),
        ("1.0-1", "1.0-1", Equal),
        ("1.0a", "1.0+", Less),
        ("1.001", "1.1", Equal),
        ("7.88.1-10+deb12u5", "7.88.1-10+deb12u12", Less),
    ] {
        assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
    }
}

#[test]
fn nouns_in_the_plural() {
    assert_eq!(plural("suid binary"), "suid binaries");
    assert_eq!(plural("file with capabilities"), "files with capabilities");
    assert_eq!(plural("process"), "processes");
    assert_eq!(plural("systemd unit file"), "systemd unit files");
    assert_eq!(plural("port"), "ports");
}

/// Issue 15 item 8: the package of a change comes from its fields (`file`, `path`, an
/// absolute `source`, a path key), never from its message; removals and changes that name a
/// package already are left alone.
#[test]
fn attribution_comes_from_fields_not_from_the_message() {
    let mut steer = change(
        "cron_jobs",
        ChangeKind::Added,
        "/etc/cron.d/x: root * * * * * /opt/x (file=/bin/ls) package=evil",
        Severity::Medium,
        None,
        fields(&[
            ("source", "/etc/cron.d/x"),
            ("command", "/opt/x (file=/bin/ls)"),
        ]),
    );
    steer.message = "cron job ... (file=/bin/ls) package=evil added".into();
    let key = change(
        "ssh_access",
        ChangeKind::Added,
        "root:SHA256:abc",
        Severity::High,
        None,
        fields(&[
            ("file", "/root/.ssh/authorized_keys"),
            ("source", "default"),
        ]),
    );
    let unit = change(
        "systemd_unitfiles",
        ChangeKind::Added,
        "x.service",
        Severity::Low,
        None,
        fields(&[("path", "/usr/lib/systemd/system/x.service")]),
    );
    let gone = change(
        "root_run_writable",
        ChangeKind::Removed,
        "/usr/bin/gone",
        Severity::Low,
        fields(&[("what", "file")]),
        None,
    );
    let named = owned("list_suids", "/usr/bin/su", "login", Severity::High);
    assert_eq!(subject(&steer), Some("/etc/cron.d/x"));
    assert_eq!(subject(&key), Some("/root/.ssh/authorized_keys"));
    assert_eq!(subject(&unit), Some("/usr/lib/systemd/system/x.service"));
    assert_eq!(subject(&gone), Some("/usr/bin/gone"));
    let mut report = install();
    report.changes = vec![steer, key, unit, gone, named];
    let asked = std::cell::RefCell::new(Vec::new());
    attribute(&mut report, |p| {
        asked.borrow_mut().push(p.to_string());
        (p != "/etc/cron.d/x").then(|| format!("owner-of-{p}"))
    });
    assert_eq!(
        asked.into_inner(),
        [
            "/etc/cron.d/x",
            "/root/.ssh/authorized_keys",
            "/usr/lib/systemd/system/x.service"
        ]
    );
    let pkgs: Vec<Option<&str>> = report.changes.iter().map(package_of).collect();
    assert_eq!(
        pkgs,
        [
            None,
            Some("owner-of-/root/.ssh/authorized_keys"),
            Some("owner-of-/usr/lib/systemd/system/x.service"),
            None,
            Some("login")
        ]
    );
}
