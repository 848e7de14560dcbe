use super::*;

#[test]
fn mode_strings_match_ls() {
    assert_eq!(mode_string(libc::S_IFREG | 0o4755), "-rwsr-xr-x");
    assert_eq!(mode_string(libc::S_IFREG | 0o2711), "-rwx--s--x");
    assert_eq!(mode_string(libc::S_IFREG | 0o4644), "-rwSr--r--");
    assert_eq!(mode_string(libc::S_IFDIR | 0o1777), "drwxrwxrwt");
    assert_eq!(mode_string(libc::S_IFLNK | 0o777), "lrwxrwxrwx");
    assert_eq!(mode_string(libc::S_IFIFO | 0o620), "prw--w----");
    assert_eq!(mode_string(libc::S_IFREG | 0o511), "-r-x--x--x");
}

#[test]
fn fields_render_file_fields_first_and_short_digests() {
    let mut f = Fields::new();
    f.insert("sha256", "0123456789abcdef0123");
    f.insert("size", "10");
    f.insert("owner", "root");
    assert_eq!(
        render_fields(&f),
        "owner=root, size=10, sha256=0123456789ab"
    );
}
