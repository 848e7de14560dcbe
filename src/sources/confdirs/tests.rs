use super::*;
use crate::collectors::testing::write;

#[test]
fn globs_match_like_the_shell() {
    assert!(fnmatch(b"*.conf", b"libc.conf"));
    assert!(!fnmatch(b"*.conf", b"libc.conf.bak"));
    assert!(fnmatch(b"x86_64-*", b"x86_64-linux-gnu.conf"));
    assert!(fnmatch(b"?[0-9]*", b"a1"));
    assert!(!fnmatch(b"[!a]*", b"abc"));
    assert!(fnmatch(b"[^a]*", b"bc"));
    assert!(fnmatch(b"a[b", b"a[b"), "an unclosed bracket is literal");
    assert!(fnmatch(b"*", b""));
    assert!(!fnmatch(b"?", b""));
}

#[test]
fn merged_dirs_hide_lower_names_and_skip_dotfiles() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "etc/r.d/10-a.rules", "etc\n");
    write(dir.path(), "etc/r.d/.hidden.rules", "x\n");
    write(dir.path(), "usr/lib/r.d/10-a.rules", "usr\n");
    write(dir.path(), "usr/lib/r.d/05-b.rules", "usr\n");
    write(dir.path(), "usr/lib/r.d/notes.txt", "x\n");
    std::os::unix::fs::symlink("usr/lib", dir.path().join("lib")).unwrap();
    let host = Host::new(dir.path());
    let files = merged(&host, &["/etc/r.d", "/usr/lib/r.d", "/lib/r.d"], ".rules").unwrap();
    let names: Vec<(&str, &str)> = files
        .iter()
        .map(|f| (f.name.as_str(), f.path.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("05-b.rules", "/usr/lib/r.d/05-b.rules"),
            ("10-a.rules", "/etc/r.d/10-a.rules")
        ]
    );
    assert_eq!(
        files[1].hides,
        ["/usr/lib/r.d/10-a.rules"],
        "/lib is /usr/lib"
    );
    let Some(Content::Text(text, sha)) = read(&host, &files[1].real) else {
        panic!("readable");
    };
    assert_eq!((text.as_str(), sha.len()), ("etc\n", 64));
}

#[test]
fn lines_are_collapsed_escaped_and_capped() {
    assert_eq!(line_text("  a \t b\x1b[2J "), "a b\\x1b[2J");
    assert!(line_text(&"x".repeat(500)).len() <= 203);
    let mut k = Keys::default();
    assert_eq!(k.unique("a".into()), "a");
    assert_eq!(k.unique("a".into()), "a#2");
}
