use super::*;
use crate::collectors::testing::write;
use std::os::unix::fs::PermissionsExt;

const CONF: &str = "include /etc/ld.so.conf.d/*.conf\n\n# comment\n";

fn root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(
        r,
        "etc/ld.so.preload",
        "/usr/lib/libevil.so  /missing.so:/usr/lib/libevil.so\n",
    );
    write(r, "usr/lib/libevil.so", "x");
    write(r, "etc/ld.so.conf", CONF);
    write(
        r,
        "etc/ld.so.conf.d/libc.conf",
        "# libc default\n/usr/local/lib/\n",
    );
    write(
        r,
        "etc/ld.so.conf.d/x86_64-linux-gnu.conf",
        "  /lib/x86_64-linux-gnu  # arch\n/usr/lib/x86_64-linux-gnu\nhwcap 0 nosegneg\nrelative/dir\ninclude\ninclude sub/*.conf\n",
    );
    write(
        r,
        "etc/ld.so.conf.d/sub/loop.conf",
        "/opt/app/lib\ninclude ../*.conf\n",
    );
    write(r, "etc/ld.so.conf.d/notes.txt", "/not/read\n");
    std::fs::create_dir_all(r.join("usr/local/lib")).unwrap();
    std::fs::create_dir_all(r.join("opt/app/lib")).unwrap();
    std::fs::set_permissions(
        r.join("opt/app/lib"),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    dir
}

use crate::collectors::testing::fields as by;

#[test]
fn preload_paths_includes_and_malformed_lines() {
    let dir = root();
    let items = DynamicLoader.collect(&Host::new(dir.path())).unwrap();
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "preload /usr/lib/libevil.so",
            "preload /missing.so",
            "preload /usr/lib/libevil.so#2",
            "include /etc/ld.so.conf.d/*.conf",
            "path /usr/local/lib",
            "path /lib/x86_64-linux-gnu",
            "path /usr/lib/x86_64-linux-gnu",
            "malformed /etc/ld.so.conf.d/x86_64-linux-gnu.conf: relative/dir",
            "malformed /etc/ld.so.conf.d/x86_64-linux-gnu.conf: include",
            "include /etc/ld.so.conf.d/sub/*.conf",
            "path /opt/app/lib",
            "include /etc/ld.so.conf.d/sub/../*.conf",
        ]
    );
    let evil = by(&items, "preload /usr/lib/libevil.so");
    assert_eq!((&evil["exists"], &evil["position"]), ("yes", "1"));
    assert!(evil.contains_key("owner") && evil["perm"].starts_with("-rw"));
    assert_eq!(&by(&items, "preload /missing.so")["exists"], "no");
    assert_eq!(
        &by(&items, "include /etc/ld.so.conf.d/*.conf")["matches"],
        "2"
    );
    let local = by(&items, "path /usr/local/lib");
    assert_eq!(&local["file"], "/etc/ld.so.conf.d/libc.conf");
    assert_eq!(&local["exists"], "yes");
    assert_eq!(&by(&items, "path /lib/x86_64-linux-gnu")["exists"], "no");
    let opt = by(&items, "path /opt/app/lib");
    assert_eq!(&opt["perm"], "drwxrwxrwx");
    assert!(opt["writable_by"].ends_with("others"), "{opt:?}");
    let lp = by(&items, "include /etc/ld.so.conf.d/sub/../*.conf");
    assert_eq!((&lp["matches"], &lp["loop"]), ("2", "yes"));
    let bad = by(
        &items,
        "malformed /etc/ld.so.conf.d/x86_64-linux-gnu.conf: relative/dir",
    );
    assert_eq!(
        (&bad["line"], &bad["error"]),
        ("4", "not an absolute directory")
    );
}

#[test]
fn idle_rescan_is_identical_and_absence_is_no_items() {
    crate::collectors::testing::idle_and_absent(&DynamicLoader, root().path());
}

#[test]
fn an_unreadable_conf_is_an_item() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("etc/ld.so.preload")).unwrap();
    let items = DynamicLoader.collect(&Host::new(dir.path())).unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].key, "unreadable /etc/ld.so.preload");
    assert_eq!(&items[0].fields["error"], "not a regular file");
}

/// Nine drop-ins that each `include *` of their own directory, and the ld.so.conf with
/// `include` that reaches them all.
fn include_storm(r: &std::path::Path) {
    write(r, "etc/ld.so.conf", CONF);
    for i in 0..9 {
        write(
            r,
            &format!("etc/ld.so.conf.d/{i}.conf"),
            format!("/opt/lib{i}\ninclude *\n"),
        );
    }
}

/// Regression (issue 15): nine ld.so.conf.d files that each `include *` were followed on
/// every chain that did not repeat a file (61 s, 986,410 items, 207 MB). Each file is now
/// read once per scan: one path and one include item per file.
#[test]
fn nine_files_that_include_everything_are_read_once_each() {
    let dir = tempfile::tempdir().unwrap();
    include_storm(dir.path());
    let t = std::time::Instant::now();
    let items = DynamicLoader.collect(&Host::new(dir.path())).unwrap();
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        t.elapsed()
    );
    let paths = items.iter().filter(|i| i.key.starts_with("path ")).count();
    let includes: Vec<&Item> = items
        .iter()
        .filter(|i| i.key.starts_with("include "))
        .collect();
    assert_eq!(
        (paths, includes.len(), items.len()),
        (9, 10, 19),
        "{items:?}"
    );
    let again = by(&items, "include /etc/ld.so.conf.d/*");
    assert_eq!((&again["matches"], &again["loop"]), ("9", "yes"));
}

/// More lines than `max_items` make the collector unavailable, naming the key; never a
/// partial list.
#[test]
fn past_max_items_the_collector_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    include_storm(dir.path());
    let lines: String = (0..100).map(|i| format!("/opt/many/{i}\n")).collect();
    write(dir.path(), "etc/ld.so.conf.d/many.conf", &lines);
    let host = Host::new(dir.path()).with_max_items(50);
    let e = DynamicLoader.collect(&host).unwrap_err().to_string();
    assert!(
        e.contains("ld.so.conf and its includes: more than 50") && e.contains("max_items"),
        "{e}"
    );
    // The default cap lets the same files through.
    assert!(DynamicLoader.collect(&Host::new(dir.path())).is_ok());
}

proptest::proptest! {
    #![proptest_config(crate::collectors::fuzz::config())]
    /// Random and damaged configuration never panics the collector and stays printable.
    #[test]
    fn fuzz_ld_so_conf(conf in crate::collectors::fuzz::bytes(CONF), preload in crate::collectors::fuzz::bytes("/usr/lib/a.so b.so:c\n")) {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "etc/ld.so.conf", &conf);
        write(dir.path(), "etc/ld.so.preload", &preload);
        let items = DynamicLoader.collect(&Host::new(dir.path())).unwrap();
        crate::collectors::fuzz::assert_printable(&items);
    }
}
