use chrono::DateTime;

use super::*;
use crate::model::{ChangeKind, Fields};

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

fn change(collector: &str, key: &str, severity: Severity) -> Change {
    Change {
        collector: collector.into(),
        kind: ChangeKind::Added,
        key: key.into(),
        message: format!("{collector} item {key} added"),
        severity,
        rule: None,
        before: None,
        after: Some(Fields::new()),
    }
}

fn report(changes: Vec<Change>, warnings: usize) -> Report {
    Report {
        from: Some(ScanRef {
            id: 7,
            label: Some("pre-upgrade".into()),
            started_at: at(1_700_000_000),
        }),
        to: ScanRef {
            id: 9,
            label: None,
            started_at: at(1_700_003_600),
        },
        changes,
        warnings: (0..warnings)
            .map(|i| Warning {
                collector: format!("c{i}"),
                message: format!("c{i} not compared: gone"),
            })
            .collect(),
        ignored: 0,
    }
}

const OPTS: RenderOptions = RenderOptions {
    subject: super::super::DEFAULT_SUBJECT,
    max_lines: 500,
};

/// The report rendered for host web1 with the subject "x", cut after `max_lines` lines.
fn cut_at(r: &Report, max_lines: usize) -> Rendered {
    render(
        r,
        "web1",
        RenderOptions {
            subject: "x",
            max_lines,
        },
    )
}

#[test]
fn groups_by_severity_then_collector_in_report_order() {
    let r = report(
        vec![
            change("list_suids", "/a", Severity::Info),
            change("list_suids", "/b", Severity::High),
            change("check_groups", "g", Severity::High),
            change("check_groups", "h", Severity::Medium),
            change("list_tcpudp_ports", "tcp 22", Severity::Low),
        ],
        1,
    );
    let m = render(&r, "web1", OPTS);
    let pos = |needle: &str| {
        m.text
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing from:\n{}", m.text))
    };
    // Severity sections, most severe first.
    assert!(pos("== high ==") < pos("== medium =="));
    assert!(pos("== medium ==") < pos("== low =="));
    assert!(pos("== low ==") < pos("== info =="));
    // Within high, collectors in report order; each change under its section.
    assert!(pos("+ list_suids item /b added [high]") < pos("+ check_groups item g added [high]"));
    assert!(pos("== info ==") < pos("+ list_suids item /a added"));
    assert!(pos("== medium ==") < pos("+ check_groups item h added [medium]"));
    // The host, the two scans, the headline and the warnings.
    assert!(
        m.text.starts_with(
            "dawgmon on web1: 5 changes detected (1 warning), highest severity high\n"
        )
    );
    assert!(
        m.text
            .contains("Compared scan 7 \"pre-upgrade\" (2023-11-1"),
        "{}",
        m.text
    );
    assert!(m.text.contains("with scan 9 (2023-11-1"), "{}", m.text);
    assert!(pos("Warnings:") < pos("! c0 not compared: gone"));
    assert!(m.text.contains("dawgctl diff --since 7 --to 9"));
    assert!(!m.text.contains("not shown"));
    // HTML has the same order.
    let h = |needle: &str| m.html.find(needle).unwrap();
    assert!(h(">high<") < h(">medium<") && h(">low<") < h(">info<"));
    assert_eq!(
        m.subject,
        "[dawgmon] web1: 5 changes, 1 warnings (highest: high)"
    );
}

#[test]
fn long_reports_are_cut_with_a_count_and_the_command() {
    let changes = (0..10)
        .map(|i| change("list_suids", &format!("/f{i}"), Severity::Info))
        .chain([change("check_groups", "sudo", Severity::High)])
        .collect();
    let r = report(changes, 4);
    let m = cut_at(&r, 3);
    let shown = m.text.lines().filter(|l| l.starts_with("+ ")).count();
    assert_eq!(shown, 3, "{}", m.text);
    // The high change survives the cut: the least severe are dropped first.
    assert!(m.text.contains("+ check_groups item sudo added [high]"));
    assert!(!m.text.contains("Warnings:"));
    assert!(
        m.text.contains(
            "... 8 more changes (8 info) and 4 more warnings not shown (this message stops after 3 \
             lines, critical lines after 12)."
        ),
        "{}",
        m.text
    );
    assert!(
        m.text
            .contains("See everything with: dawgctl diff --since 7 --to 9")
    );
    assert!(m.html.contains("dawgctl diff --since 7 --to 9"));
    assert_eq!(m.html.matches("<li>").count(), 3);

    // Room for all changes and some of the warnings.
    let m = cut_at(&r, 13);
    assert_eq!(m.text.lines().filter(|l| l.starts_with("! ")).count(), 2);
    assert!(
        m.text.contains("... 2 more warnings not shown"),
        "{}",
        m.text
    );
}

/// Issue 15 item 6: a flood of lesser lines under /home never pushes a critical line under
/// /usr out of the mail; the cut says how many lines of each severity were left out and the
/// command that shows them all.
#[test]
fn a_flood_never_hides_a_critical_line_and_the_cut_counts_each_severity() {
    let mut changes: Vec<Change> = (0..600)
        .map(|i| {
            let sev = [Severity::High, Severity::Medium, Severity::Low][i % 3];
            change("list_suids", &format!("/home/u/f{i:03}"), sev)
        })
        .collect();
    changes.push(change("list_suids", "/usr/bin/zz-real", Severity::Critical));
    let r = report(changes, 1);
    let m = render(&r, "web1", OPTS);
    assert!(
        m.text
            .contains("+ list_suids item /usr/bin/zz-real added [critical]"),
        "{}",
        m.text
    );
    let lines = |sev: &str| {
        m.text
            .lines()
            .filter(|l| l.starts_with("+ ") && l.ends_with(&format!("[{sev}]")))
            .count()
    };
    // 1 critical + 200 high + 200 medium fill 401 lines; 99 of the 200 low ones fit.
    assert_eq!(
        (
            lines("critical"),
            lines("high"),
            lines("medium"),
            lines("low")
        ),
        (1, 200, 200, 99)
    );
    assert!(
        m.text.contains(
            "... 101 more changes (101 low) and 1 more warning not shown (this message stops \
             after 500 lines, critical lines after 2000).\n\
             See everything with: dawgctl diff --since 7 --to 9"
        ),
        "{}",
        m.text
    );

    // Critical lines beyond the cap are all kept; high ones fill what is left, then the cut.
    let mut changes: Vec<Change> = (0..5)
        .map(|i| change("list_suids", &format!("/usr/bin/c{i}"), Severity::Critical))
        .collect();
    changes.extend((0..4).map(|i| change("list_suids", &format!("/home/h{i}"), Severity::High)));
    changes.extend((0..2).map(|i| change("check_etc", &format!("/etc/m{i}"), Severity::Medium)));
    let r = report(changes, 0);
    let m = cut_at(&r, 3);
    assert_eq!(m.text.matches("[critical]").count(), 5, "{}", m.text);
    assert_eq!(m.text.matches("[high]").count(), 0, "{}", m.text);
    assert!(
        m.text.contains(
            "... 6 more changes (4 high, 2 medium) not shown (this message stops after 3"
        ),
        "{}",
        m.text
    );
    assert_eq!(m.html.matches("<li>").count(), 5);

    // A flood of critical lines is bounded too (CRITICAL_FACTOR × max_lines), and counted.
    let changes: Vec<Change> = (0..20)
        .map(|i| change("list_suids", &format!("/srv/c{i:02}"), Severity::Critical))
        .chain([change("check_groups", "sudo", Severity::High)])
        .collect();
    let r = report(changes, 0);
    let m = cut_at(&r, 3);
    assert_eq!(m.text.matches("[critical]").count(), 12, "{}", m.text);
    assert!(
        m.text.contains(
            "... 9 more changes (8 critical, 1 high) not shown (this message stops after 3 \
             lines, critical lines after 12)."
        ),
        "{}",
        m.text
    );
}

#[test]
fn html_escapes_host_data() {
    let mut c = change("check_users", "x", Severity::High);
    c.message = "user <script>alert(\"x\")</script> & co added".into();
    let r = report(vec![c], 0);
    let m = render(&r, "h<1>", OPTS);
    assert!(!m.html.contains("<script>"), "{}", m.html);
    assert!(
        m.html
            .contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co")
    );
    assert!(m.html.contains("dawgmon on h&lt;1&gt;"));
    // The text part is plain text: unchanged.
    assert!(
        m.text
            .contains("user <script>alert(\"x\")</script> & co added")
    );
    assert_eq!(esc("a'b"), "a&#39;b");
}

#[test]
fn subject_template() {
    let r = report(
        vec![
            change("a", "1", Severity::Low),
            change("a", "2", Severity::Medium),
        ],
        3,
    );
    assert_eq!(
        subject(
            "{host}: {changes}/{warnings} {severity} #{scan} {{literal}}",
            &r,
            "web1"
        ),
        "web1: 2/3 medium #9 {literal}"
    );
    assert_eq!(subject("{severity}", &report(vec![], 0), "h"), "none");
    // A host name cannot inject headers.
    assert_eq!(subject("{host}", &r, "a\r\nBcc: x"), "a  Bcc: x");
    let lookup = |n: &str| (n == "host").then(|| "H".to_string());
    assert!(
        fill_subject("{hots}", lookup)
            .unwrap_err()
            .contains("unknown placeholder {hots}")
    );
    assert!(
        fill_subject("{host", lookup)
            .unwrap_err()
            .contains("unclosed")
    );
    assert!(
        fill_subject("a}", lookup)
            .unwrap_err()
            .contains("unmatched")
    );
}

#[test]
fn first_scan_gets_a_short_note_only() {
    let to = ScanRef {
        id: 1,
        label: None,
        started_at: at(1_700_000_000),
    };
    let warnings = vec![Warning {
        collector: "kernel_modules".into(),
        message: "kernel_modules unavailable: /proc/modules absent".into(),
    }];
    let m = started_note("web<1>", &to, 1234, &warnings);
    assert_eq!(
        m.subject,
        "[dawgmon] monitoring started on web<1>: 1234 items recorded"
    );
    assert!(
        m.text
            .starts_with("dawgmon monitoring started on web<1>: 1234 items recorded in scan 1 (")
    );
    assert!(m.text.contains("! kernel_modules unavailable"));
    assert!(m.text.lines().count() <= 5, "{}", m.text);
    assert!(m.html.contains("web&lt;1&gt;"));
}

fn with_package(collector: &str, key: &str, severity: Severity, package: &str) -> Change {
    let mut c = change(collector, key, severity);
    c.after = Some(Fields::from([("package".to_string(), package.to_string())]));
    c
}

/// Issue 9's leftover and issue 10: after a package operation (the scan after an apt run), the
/// message names the operation on top and groups the changes under their packages.
#[test]
fn a_package_operation_is_named_on_top_and_changes_grouped_by_package() {
    let mut installed = change("list_packages", "nginx", Severity::Low);
    installed.after = Some(Fields::from([
        ("version", "1.24.0-1"),
        ("status", "install ok installed"),
    ]));
    let mut upgraded = change("list_packages", "libc6", Severity::Info);
    upgraded.kind = ChangeKind::Modified;
    upgraded.before = Some(Fields::from([("version", "2.36-9")]));
    upgraded.after = Some(Fields::from([("version", "2.36-9+deb12u4")]));
    let r = report(
        vec![
            with_package(
                "list_suids",
                "/usr/local/bin/sh",
                Severity::Critical,
                "none",
            ),
            with_package(
                "list_suids",
                "/usr/lib/nginx/helper",
                Severity::High,
                "nginx",
            ),
            with_package(
                "check_etc",
                "/etc/nginx/nginx.conf",
                Severity::Medium,
                "nginx",
            ),
            change("list_tcpudp_ports", "tcp 0.0.0.0:80", Severity::High),
            upgraded,
            installed,
        ],
        0,
    );
    let m = render(&r, "web1", OPTS);
    let lines: Vec<&str> = m.text.lines().collect();
    assert_eq!(
        lines[1],
        "Package operation: upgraded libc6 2.36-9 → 2.36-9+deb12u4, installed nginx 1.24.0-1"
    );
    assert!(lines[2].starts_with("Compared scan 7"), "{}", m.text);
    let pos = |needle: &str| {
        m.text
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing from:\n{}", m.text))
    };
    assert!(
        pos(
            "== nginx 1.24.0-1 (installed): 1 suid binary /usr/lib/nginx/helper [high], 1 file /etc/nginx/nginx.conf [medium] =="
        ) < pos("+ list_suids item /usr/lib/nginx/helper added [high]")
    );
    assert!(pos("+ list_suids item /usr/lib/nginx/helper added") < pos("== Not attributed"));
    assert!(pos("== Not attributed") < pos("+ list_tcpudp_ports item tcp 0.0.0.0:80"));
    assert!(pos("+ list_tcpudp_ports item") < pos("== NO PACKAGE OWNS THESE"));
    assert!(pos("== NO PACKAGE OWNS THESE") < pos("+ list_suids item /usr/local/bin/sh"));
    assert!(
        !m.text.contains("== high =="),
        "no severity layout: {}",
        m.text
    );
    // Package changes are told by the operation line, not as lines of their own.
    assert_eq!(m.text.lines().filter(|l| l.starts_with("+ ")).count(), 4);
    assert!(
        m.html
            .contains("<p><b>Package operation: upgraded libc6 2.36-9 → 2.36-9+deb12u4")
    );
    assert!(
        m.html
            .contains(">NO PACKAGE OWNS THESE: 1 suid binary /usr/local/bin/sh [critical]</h3>")
    );

    // Cut to two lines: the loudest two stay (critical, then a high one), whatever their package.
    let cut = cut_at(&r, 2);
    let shown: Vec<&str> = cut.text.lines().filter(|l| l.starts_with("+ ")).collect();
    assert_eq!(shown.len(), 2, "{}", cut.text);
    assert!(
        cut.text
            .contains("+ list_suids item /usr/local/bin/sh added [critical]")
    );
    assert!(
        shown.iter().all(|l| !l.ends_with("[medium]")),
        "{}",
        cut.text
    );
    assert!(
        cut.text
            .contains("... 2 more changes (1 high, 1 medium) not shown"),
        "{}",
        cut.text
    );
    assert!(cut.text.contains("Package operation: "));

    // Without package changes, the severity layout stays.
    let plain = report(
        vec![with_package("list_suids", "/x", Severity::High, "none")],
        0,
    );
    let m = render(&plain, "web1", OPTS);
    assert!(!m.text.contains("Package operation"));
    assert!(m.text.contains("== high =="));
}

#[test]
fn header_values_carry_no_format_or_control_characters() {
    assert_eq!(one_line("web\u{202e}1\u{2028}x\ny\u{200b}"), "web 1 x y ");
}
