use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::time::{Duration, Instant};

use super::*;

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    n.sort();
    n
}

fn fifo(p: &Path) {
    nix::unistd::mkfifo(p, Mode::from_bits_truncate(0o666)).unwrap();
}

/// A planted link or FIFO at the target is replaced, never opened: the file it points at
/// keeps its content and mode; with O_TMPFILE and with the named fallback alike.
#[test]
fn replace_never_opens_what_is_at_the_target() {
    for unnamed in [true, false] {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
        let out = d.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let prom = out.join("dawgmon.prom");
        symlink(&victim, &prom).unwrap();
        replace_in(&prom, b"metric 1\n", 0o644, unnamed).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(mode(&victim), 0o600);
        assert!(std::fs::symlink_metadata(&prom).unwrap().is_file());
        assert_eq!(std::fs::read_to_string(&prom).unwrap(), "metric 1\n");
        assert_eq!(mode(&prom), 0o644);

        std::fs::remove_file(&prom).unwrap();
        fifo(&prom);
        let t = Instant::now();
        replace_in(&prom, b"metric 2\n", 0o644, unnamed).unwrap();
        assert!(t.elapsed() < Duration::from_secs(5));
        assert_eq!(std::fs::read_to_string(&prom).unwrap(), "metric 2\n");
        assert_eq!(
            names(&out),
            ["dawgmon.prom"],
            "left behind (unnamed: {unnamed})"
        );
    }
}

/// A directory that is a link is refused, naming the fix; nothing is written through it.
#[test]
fn a_linked_directory_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let real = d.path().join("real");
    std::fs::create_dir(&real).unwrap();
    symlink(&real, d.path().join("link")).unwrap();
    let e = replace(&d.path().join("link/x.prom"), b"x", 0o644).unwrap_err();
    assert!(e.to_string().contains("is a symbolic link"), "{e}");
    assert!(e.to_string().contains("name the real directory"), "{e}");
    let e = append(&d.path().join("link/x.jsonl"), b"x", 0o640).unwrap_err();
    assert!(e.to_string().contains("is a symbolic link"), "{e}");
    assert!(names(&real).is_empty());
}

/// The change log: created 0640 and appended to; a link, a FIFO (read or not) and a hard link
/// are refused at once and the files behind them are untouched.
#[test]
fn append_writes_only_to_a_regular_file_of_its_own() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("changes.jsonl");
    // Nothing to append: nothing created.
    append(&log, b"", 0o640).unwrap();
    assert!(!log.exists());
    append(&log, b"one\n", 0o640).unwrap();
    append(&log, b"two\n", 0o640).unwrap();
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "one\ntwo\n");
    assert_eq!(mode(&log), 0o640);
    // An existing file keeps the mode its owner gave it.
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o600)).unwrap();
    append(&log, b"three\n", 0o640).unwrap();
    assert_eq!(mode(&log), 0o600);

    let victim = d.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let linked = d.path().join("linked.jsonl");
    symlink(&victim, &linked).unwrap();
    let e = append(&linked, b"x\n", 0o640).unwrap_err();
    assert!(e.to_string().contains("symbolic link"), "{e}");
    let hard = d.path().join("hard.jsonl");
    std::fs::hard_link(&victim, &hard).unwrap();
    let e = append(&hard, b"x\n", 0o640).unwrap_err();
    assert!(e.to_string().contains("2 hard links"), "{e}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");

    let pipe = d.path().join("fifo.jsonl");
    fifo(&pipe);
    let t = Instant::now();
    let e = append(&pipe, b"x\n", 0o640).unwrap_err();
    assert!(e.to_string().contains("not a regular file"), "{e}");
    // Also with nothing to append: what is planted stays a warning.
    let e = append(&pipe, b"", 0o640).unwrap_err();
    assert!(e.to_string().contains("not a regular file"), "{e}");
    // With a reader at the other end the open succeeds; the file type refuses it.
    let reader = OpenOptionsNonBlocking::open(&pipe);
    let e = append(&pipe, b"x\n", 0o640).unwrap_err();
    assert!(e.to_string().contains("not a regular file"), "{e}");
    drop(reader);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

struct OpenOptionsNonBlocking;

impl OpenOptionsNonBlocking {
    /// A reader of a FIFO, opened without waiting for a writer.
    fn open(p: &Path) -> File {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(p)
            .unwrap()
    }
}
