use super::*;
use crate::collectors::testing::write;

fn root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(r, "proc/sys/kernel/kptr_restrict", "1\n");
    write(r, "proc/sys/kernel/yama/ptrace_scope", "1\n");
    write(r, "proc/sys/kernel/randomize_va_space", "2\n");
    write(r, "proc/sys/net/ipv4/conf/all/rp_filter", "2\n");
    write(r, "proc/sys/fs/protected_regular", "2\n");
    write(
        r,
        "usr/lib/sysctl.d/10-vendor.conf",
        "kernel.kptr_restrict = 2\nkernel/yama/ptrace_scope=2\n-net.ipv4.conf.*.rp_filter = 2\n",
    );
    write(
        r,
        "usr/lib/sysctl.d/50-default.conf",
        "kernel.sysrq = 1\nfs.protected_regular = 1\n",
    );
    write(
        r,
        "etc/sysctl.d/50-default.conf",
        "  fs.protected_regular\t=   0  \nthis line is wrong\n; comment\n",
    );
    write(
        r,
        "etc/sysctl.d/99-zz.conf",
        "kernel.randomize_va_space = 1\n",
    );
    write(
        r,
        "etc/sysctl.conf",
        "# last word\nkernel.yama.ptrace_scope = 3\n",
    );
    dir
}

#[test]
fn live_and_configured_values_with_systemd_precedence() {
    let dir = root();
    let items = SysctlHardening.collect(&Host::new(dir.path())).unwrap();
    let got: Vec<String> = items
        .iter()
        .map(|i| {
            let f = |n: &str| i.fields.get(n).unwrap_or("-");
            format!("{} {} {} {}", i.key, f("live"), f("configured"), f("file"))
        })
        .collect();
    assert_eq!(
        got,
        [
            "kernel.kptr_restrict 1 2 /usr/lib/sysctl.d/10-vendor.conf",
            "kernel.yama.ptrace_scope 1 3 /etc/sysctl.conf",
            "kernel.randomize_va_space 2 1 /etc/sysctl.d/99-zz.conf",
            "fs.protected_regular 2 0 /etc/sysctl.d/50-default.conf",
            "net.ipv4.conf.all.rp_filter 2 2 /usr/lib/sysctl.d/10-vendor.conf",
            "malformed /etc/sysctl.d/50-default.conf: this line is wrong - - -",
        ]
    );
    assert_eq!(&items[5].fields["line"], "2");
    // kernel.sysrq is set only in the vendor 50-default.conf, which /etc's file hides.
    assert!(!items.iter().any(|i| i.key == "kernel.sysrq"));
}

#[test]
fn idle_rescan_is_identical_and_nothing_is_no_items() {
    crate::collectors::testing::idle_and_absent(&SysctlHardening, root().path());
}

#[test]
fn live_host_values_are_read() {
    let items = SysctlHardening.collect(&Host::new("/")).unwrap();
    let aslr = items.iter().find(|i| i.key == "kernel.randomize_va_space");
    let expected = std::fs::read_to_string("/proc/sys/kernel/randomize_va_space").unwrap();
    assert_eq!(&aslr.unwrap().fields["live"], expected.trim());
}

proptest::proptest! {
    #![proptest_config(crate::collectors::fuzz::config())]
    #[test]
    fn fuzz_sysctl_conf(text in crate::collectors::fuzz::text("kernel.sysrq = 0\n-net/ipv4/ip_forward=1\n# c\nfs.protected_*=1\n")) {
        let mut conf = BTreeMap::new();
        let mut extra = Vec::new();
        parse(&text, "/f", &mut conf, &mut Keys::default(), &mut extra);
        crate::collectors::fuzz::assert_printable(&extra);
        for (v, _) in conf.values() {
            proptest::prop_assert!(!v.chars().any(char::is_control));
        }
    }
}
