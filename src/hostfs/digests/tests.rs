use super::*;

fn stat(ino: u64, size: i64, ctime_nsec: i64) -> Stat {
    // SAFETY: libc::stat is plain old data; all-zero is a valid value.
    let mut st: Stat = unsafe { std::mem::zeroed() };
    st.st_dev = 7;
    st.st_ino = ino;
    st.st_size = size;
    st.st_mtime = 1_700_000_000;
    st.st_ctime = 1_700_000_000;
    st.st_ctime_nsec = ctime_nsec;
    st
}

#[test]
fn a_digest_comes_back_only_for_the_same_identity() {
    let first = DigestCache::default();
    first.remember(&stat(1, 10, 0), [1; 32], PackageMatch::Unknown);
    first.remember(&stat(2, 10, 0), [2; 32], PackageMatch::Differs);
    let next = DigestCache::decode(&first.encode()).unwrap();
    assert_eq!(next.previous_len(), 2);
    assert_eq!(
        next.lookup(&stat(1, 10, 0)),
        Some(([1; 32], PackageMatch::Unknown))
    );
    assert_eq!(
        next.lookup(&stat(2, 10, 0)),
        Some(([2; 32], PackageMatch::Differs))
    );
    // Another size, another ctime (a write, a chmod), another inode: not the same file.
    assert_eq!(next.lookup(&stat(1, 11, 0)), None);
    assert_eq!(next.lookup(&stat(1, 10, 1)), None);
    assert_eq!(next.lookup(&stat(3, 10, 0)), None);
    assert_eq!(next.counts(), (0, 2));
    // What was reused is carried on; what was not looked up is dropped.
    let third = DigestCache::decode(&next.encode()).unwrap();
    assert_eq!(third.previous_len(), 2);
}

#[test]
fn lookups_find_every_entry_of_a_large_cache_and_nothing_else() {
    let first = DigestCache::default();
    for ino in 0..20_000u64 {
        first.remember(
            &stat(ino, 1, 0),
            [(ino % 251) as u8; 32],
            PackageMatch::Unknown,
        );
    }
    let stored = first.encode();
    assert_eq!(stored.len(), 1, "20,000 entries fit one chunk");
    let next = DigestCache::decode(&stored).unwrap();
    assert!(next.bits >= 10, "{} bits", next.bits);
    for ino in 0..20_000u64 {
        let hit = next.lookup(&stat(ino, 1, 0)).map(|(d, _)| d[0]);
        assert_eq!(hit, Some((ino % 251) as u8), "inode {ino}");
    }
    for ino in 20_000..21_000u64 {
        assert_eq!(next.lookup(&stat(ino, 1, 0)), None);
        next.remember(&stat(ino, 1, 0), [1; 32], PackageMatch::Unknown);
    }
    assert_eq!(next.counts(), (1_000, 20_000));
    let stored = next.encode();
    assert_eq!(stored.len(), 2, "21,000 entries are two chunks");
    assert_eq!(DigestCache::decode(&stored).unwrap().previous_len(), 21_000);
}

#[test]
fn a_damaged_row_is_an_error_not_a_wrong_answer() {
    assert!(DigestCache::decode(&[b""]).is_err());
    let short = DigestCache::decode(&[[FORMAT, 1, 2, 3]]);
    assert!(short.unwrap_err().contains("whole number"));
    assert!(DigestCache::decode(&[[9u8]]).is_err(), "another format");
    let mut bad_verdict = vec![FORMAT];
    bad_verdict.extend_from_slice(&[0u8; 48]);
    bad_verdict.push(7);
    assert!(DigestCache::decode(&[bad_verdict]).is_err());
    // No chunk at all is an empty cache (nothing stored yet).
    let none: [Vec<u8>; 0] = [];
    assert_eq!(DigestCache::decode(&none).unwrap().previous_len(), 0);
}

#[test]
fn a_file_hashed_again_replaces_its_carried_entry() {
    let first = DigestCache::default();
    first.remember(&stat(1, 10, 0), [1; 32], PackageMatch::Unknown);
    let next = DigestCache::decode(&first.encode()).unwrap();
    assert!(next.lookup(&stat(1, 10, 0)).is_some());
    next.remember(&stat(1, 10, 0), [2; 32], PackageMatch::Matches);
    let third = DigestCache::decode(&next.encode()).unwrap();
    assert_eq!(third.previous_len(), 1);
    assert_eq!(
        third.lookup(&stat(1, 10, 0)),
        Some(([2; 32], PackageMatch::Matches))
    );
}
