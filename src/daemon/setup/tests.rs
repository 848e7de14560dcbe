use super::*;

#[test]
fn missing_groups_and_an_unreadable_password_are_refused_naming_the_key() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _in = rt.enter();
    let check = |text: &str| Prepared::new(Config::parse(text).unwrap()).err();
    let e = check("admin_group = \"dawgmon-no-such-group\"\n").unwrap();
    assert!(e.to_string().contains("admin_group") && e.to_string().contains("groupadd"));
    let e = check("socket_group = \"dawgmon-no-such-group\"\n").unwrap();
    assert!(e.to_string().contains("socket_group"), "{e}");
    let e = check(
        "[mail]\nfrom = \"a@b.example\"\nto = [\"c@d.example\"]\n[mail.smtp]\n\
         username = \"u\"\npassword_file = \"/nonexistent/dawgmon-password\"\n",
    )
    .unwrap();
    assert!(
        e.to_string().contains("/nonexistent/dawgmon-password"),
        "{e}"
    );
    assert!(check("admin_group = \"0\"\nsocket_group = \"root\"\n").is_none());
}
