//! Text a hostile user or image controls (account names, GECOS, device models, the host name)
//! reaches terminals and mail: every collector escapes control characters at collection, so a
//! report never carries a raw escape sequence (issue 8).

use std::sync::Arc;

use crate::collectors::by_name;
use crate::collectors::testing::write;
use crate::engine::{Engine, ProgressFn};
use crate::report::{TextOptions, render_text};
use crate::store::Store;

fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| crate::host::is_unsafe_char(*c) && *c != '\n')
        .collect()
}

#[tokio::test]
async fn hostile_names_gecos_models_and_hostname_are_escaped_in_reports() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    write(&root, "etc/passwd", "daemon:x:1:1::/:/usr/sbin/nologin\n");
    write(&root, "etc/hostname", "web\x1b]0;owned\x07\n");
    write(&root, "sys/block/vda/size", "2048\n");
    let store = Store::open(&dir.path().join("d.db")).await.unwrap();
    let engine = Engine::new(store, root.clone());
    let collectors = vec![
        by_name("check_etc").unwrap(),
        by_name("check_users").unwrap(),
        by_name("list_blkdev").unwrap(),
    ];
    let quiet: ProgressFn = Arc::new(|_| {});
    engine
        .scan(None, collectors.clone(), quiet.clone())
        .await
        .unwrap();

    // The image now names our uid (the owner of every file here) with a colour escape, has a
    // GECOS that rewrites the line, and a disk whose model clears the screen.
    let uid = nix::unistd::geteuid().as_raw();
    write(
        &root,
        "etc/passwd",
        format!(
            "\x1b[31mmallory:x:{uid}:{uid}:Mal\rlory\x1b[2J:/root:/bin/sh\n\
             daemon:x:1:1::/:/usr/sbin/nologin\n"
        ),
    );
    write(&root, "etc/new.conf", "x\n");
    write(&root, "sys/block/sdb/size", "4096\n");
    write(&root, "sys/block/sdb/device/model", "Disk\x1b[2J\x1b[H\n");
    let scan = engine.scan(None, collectors, quiet).await.unwrap();

    let text = render_text(
        &scan.report,
        TextOptions {
            color: false,
            timestamps: true,
            ..Default::default()
        },
    );
    assert!(raw_controls(&text).is_empty(), "{text:?}");
    assert!(text.contains("\\x1b[31mmallory"), "{text}");
    assert!(
        text.contains("owner=\\x1b[31mmallory"),
        "file owners too: {text}"
    );
    let json = crate::report::render_json(&scan.report);
    assert!(
        !json.contains("\\u00"),
        "no control characters to escape: {json}"
    );
    let snapshot = engine.store.load(scan.info.id).await.unwrap();
    let crate::model::Outcome::Items(users) = &snapshot.results["check_users"] else {
        panic!("check_users did not run");
    };
    let mallory = users.iter().find(|u| u.key.contains("mallory")).unwrap();
    assert_eq!(&mallory.fields["gecos"], "Mal\\x0dlory\\x1b[2J");
    assert!(text.contains("Disk\\x1b[2J\\x1b[H"), "{text}");
    assert!(raw_controls(&scan.info.hostname).is_empty());
    assert_eq!(scan.info.hostname, "web\\x1b]0;owned\\x07");
}
