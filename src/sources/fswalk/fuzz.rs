//! Fault matrix for the walk's own mountinfo parser (kept out of `fswalk.rs`, which changes
//! often): random and truncated mount tables never panic the parser or the mount selection,
//! and every selected mount point is one the table named.

use super::{parse_mountinfo, select_mounts};

const MOUNTINFO: &str = "22 27 0:21 / /proc rw,relatime - proc proc rw\n\
    27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard\n\
    30 27 254:0 /srv /mnt/bind\\040dir rw shared:5 - ext4 /dev/vda rw\n\
    31 27 0:30 / /tmp rw,nosuid - tmpfs tmpfs rw\n\
    32 31 0:31 / /tmp rw - overlay overlay rw\n";

proptest::proptest! {
    #![proptest_config(crate::collectors::fuzz::config())]
    #[test]
    fn fuzz_walk_mountinfo(text in crate::collectors::fuzz::text(MOUNTINFO)) {
        let mounts = parse_mountinfo(text.as_bytes());
        for point in select_mounts(&mounts) {
            proptest::prop_assert!(mounts.iter().any(|m| m.point == point));
        }
    }
}
