use super::*;
use crate::collectors::testing::write;

const POLICY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE policyconfig PUBLIC "-//freedesktop//DTD PolicyKit Policy Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/PolicyKit/1/policyconfig.dtd">
<policyconfig>
  <vendor>Example</vendor>
  <action id="org.example.open">
    <description>Open for all</description>
    <defaults>
      <allow_any>  yes </allow_any>
      <allow_inactive>no</allow_inactive>
      <allow_active>yes</allow_active>
    </defaults>
    <annotate key="org.freedesktop.policykit.exec.path">/usr/libexec/example-helper</annotate>
  </action>
  <action id="org.example.admin">
    <defaults>
      <allow_any>auth_admin</allow_any>
      <allow_inactive>auth_admin</allow_inactive>
      <allow_active>auth_admin_keep</allow_active>
    </defaults>
  </action>
  <action id="org.example.active">
    <defaults><allow_active>yes</allow_active></defaults>
  </action>
  <action><defaults><allow_any>yes</allow_any></defaults></action>
</policyconfig>
"#;

const PKLA_FILE: &str = "[Let staff mount]\n\
    Identity=unix-group:staff\n\
    Action=org.freedesktop.udisks2.*\n\
    ResultAny=no\n\
    ResultActive=yes\n\
    garbage line\n\
    \n\
    [Second]\n\
    Identity = unix-user:bob\n";

fn root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(r, "usr/share/polkit-1/actions/org.example.policy", POLICY);
    write(
        r,
        "usr/share/polkit-1/actions/broken.policy",
        "<policyconfig><action id=\"x\">",
    );
    write(
        r,
        "usr/share/polkit-1/actions/bomb.policy",
        "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\"><!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\"><!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\"><!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\"><!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\">]><x>&g;</x>",
    );
    write(
        r,
        "usr/share/polkit-1/actions/ext.policy",
        "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/shadow\">]><x>&e;</x>",
    );
    write(
        r,
        "etc/polkit-1/rules.d/49-admin.rules",
        "polkit.addRule(function(a, s) { return polkit.Result.YES; });\n",
    );
    write(
        r,
        "usr/share/polkit-1/rules.d/49-admin.rules",
        "// vendor\n",
    );
    write(
        r,
        "usr/share/polkit-1/rules.d/50-default.rules",
        "polkit.addAdminRule(function() { return ['unix-group:sudo']; });\n",
    );
    write(
        r,
        "etc/polkit-1/localauthority/50-local.d/staff.pkla",
        PKLA_FILE,
    );
    dir
}

use crate::collectors::testing::fields as by;

#[test]
fn rules_files_actions_and_pkla() {
    let dir = root();
    let items = PolkitRules.collect(&Host::new(dir.path())).unwrap();
    let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "rules /etc/polkit-1/rules.d/49-admin.rules",
            "rules /usr/share/polkit-1/rules.d/49-admin.rules",
            "rules /usr/share/polkit-1/rules.d/50-default.rules",
            "malformed /usr/share/polkit-1/actions/bomb.policy",
            "malformed /usr/share/polkit-1/actions/broken.policy",
            "malformed /usr/share/polkit-1/actions/ext.policy",
            "action org.example.open",
            "action org.example.active",
            "malformed /usr/share/polkit-1/actions/org.example.policy: action without id",
            "malformed /etc/polkit-1/localauthority/50-local.d/staff.pkla: garbage line",
            "pkla /etc/polkit-1/localauthority/50-local.d/staff.pkla [Let staff mount]",
            "pkla /etc/polkit-1/localauthority/50-local.d/staff.pkla [Second]",
        ]
    );
    let etc = by(&items, "rules /etc/polkit-1/rules.d/49-admin.rules");
    assert_eq!(
        &etc["overrides"],
        "/usr/share/polkit-1/rules.d/49-admin.rules"
    );
    assert_eq!(&etc["returns_yes"], "yes");
    assert_eq!(etc["sha256"].len(), 64);
    let usr = by(&items, "rules /usr/share/polkit-1/rules.d/49-admin.rules");
    assert_eq!(
        &usr["overridden_by"],
        "/etc/polkit-1/rules.d/49-admin.rules"
    );
    assert!(!usr.contains_key("returns_yes"));
    let open = by(&items, "action org.example.open");
    assert_eq!(&open["allow_any"], "yes", "whitespace trimmed");
    assert_eq!(&open["allow_inactive"], "no");
    assert_eq!(&open["exec_path"], "/usr/libexec/example-helper");
    assert_eq!(
        &open["file"],
        "/usr/share/polkit-1/actions/org.example.policy"
    );
    let active = by(&items, "action org.example.active");
    assert!(!active.contains_key("allow_any"));
    let staff = by(
        &items,
        "pkla /etc/polkit-1/localauthority/50-local.d/staff.pkla [Let staff mount]",
    );
    assert_eq!(&staff["identity"], "unix-group:staff");
    assert_eq!(&staff["result_active"], "yes");
    assert_eq!(
        &by(
            &items,
            "pkla /etc/polkit-1/localauthority/50-local.d/staff.pkla [Second]"
        )["identity"],
        "unix-user:bob"
    );
    let bomb = by(&items, "malformed /usr/share/polkit-1/actions/bomb.policy");
    assert!(bomb["error"].contains("entity"), "{bomb:?}");
    // The external entity was never read into an item.
    assert!(!serde_json::to_string(&items).unwrap().contains("root:"));
}

#[test]
fn idle_rescan_is_identical_and_no_polkit_is_no_items() {
    crate::collectors::testing::idle_and_absent(&PolkitRules, root().path());
}

proptest::proptest! {
    #![proptest_config(crate::collectors::fuzz::config())]
    /// Random and damaged policy and pkla files never panic and stay printable.
    #[test]
    fn fuzz_policy_and_pkla(policy in crate::collectors::fuzz::text(POLICY), p in crate::collectors::fuzz::text(PKLA_FILE)) {
        let mut keys = Keys::default();
        let mut out = Vec::new();
        actions(&policy, "/p", &mut keys, &mut out);
        pkla(&p, "/k", &mut keys, &mut out);
        crate::collectors::fuzz::assert_printable(&out);
    }
}
