//! Which file systems the special-file walk enters: the mount table parsed, local types kept,
//! bind mounts of a tree already walked dropped, and the plan of where to start.

use super::*;

/// One line of `mountinfo`: what is mounted where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Mount {
    pub(super) dev: String,
    pub(super) root: Vec<u8>,
    pub(super) point: Vec<u8>,
    pub(super) fstype: String,
}

/// File systems whose files live on this machine (see the module documentation).
pub(super) const LOCAL_FS: &[&str] = &[
    "ext2", "ext3", "ext4", "xfs", "btrfs", "bcachefs", "vfat", "msdos", "exfat", "ntfs", "ntfs3",
    "f2fs", "zfs", "jfs", "reiserfs", "nilfs2", "hfs", "hfsplus", "ufs", "tmpfs", "ramfs",
    "rootfs",
];

/// Parses mountinfo; malformed lines are skipped. Works on bytes: mount points need not be
/// UTF-8, and a lossy conversion would make two different points compare equal.
pub(super) fn parse_mountinfo(text: &[u8]) -> Vec<Mount> {
    let mut out = Vec::new();
    for line in text.split(|b| *b == b'\n') {
        let cols: Vec<&[u8]> = line.split(|b| *b == b' ').collect();
        let Some(sep) = cols.iter().skip(6).position(|c| *c == b"-").map(|p| p + 6) else {
            continue;
        };
        let (Some(dev), Some(root), Some(point), Some(fstype)) =
            (cols.get(2), cols.get(3), cols.get(4), cols.get(sep + 1))
        else {
            continue;
        };
        out.push(Mount {
            dev: String::from_utf8_lossy(dev).into_owned(),
            root: crate::sources::mountinfo::unescape_octal(root),
            point: crate::sources::mountinfo::unescape_octal(point),
            fstype: String::from_utf8_lossy(fstype).into_owned(),
        });
    }
    out
}

/// Whether host path `p` is `dir` or below it.
pub(super) fn is_under(p: &[u8], dir: &[u8]) -> bool {
    p == dir || (p.starts_with(dir) && (dir.ends_with(b"/") || p.get(dir.len()) == Some(&b'/')))
}

/// The mount points to walk, in table order, from all mounts.
pub(super) fn select_mounts(mounts: &[Mount]) -> Vec<Vec<u8>> {
    // A later mount on the same point hides the earlier one.
    let mut top: HashMap<&[u8], usize> = HashMap::new();
    for (i, m) in mounts.iter().enumerate() {
        top.insert(&m.point, i);
    }
    let mut wanted: Vec<&Mount> = mounts
        .iter()
        .enumerate()
        .filter(|(i, m)| top.get(m.point.as_slice()) == Some(i))
        .map(|(_, m)| m)
        .filter(|m| {
            let local =
                LOCAL_FS.contains(&m.fstype.as_str()) || (m.fstype == "overlay" && m.point == b"/");
            local && !is_under(&m.point, b"/proc") && !is_under(&m.point, b"/sys")
        })
        .collect();
    // Bind mounts: a tree of a device already reached through a mount of it (or of an
    // ancestor of it) is walked once, from the shortest mount point.
    wanted.sort_by_key(|m| (m.point.len(), m.point.clone()));
    let mut kept: Vec<&Mount> = Vec::new();
    for m in wanted {
        let covered = kept
            .iter()
            .any(|k| k.dev == m.dev && is_under(&m.root, &k.root));
        if !covered {
            kept.push(m);
        }
    }
    kept.into_iter().map(|m| m.point.clone()).collect()
}

/// Where the walk starts and where it stops.
pub(super) struct Plan {
    /// Anchors alive (see [`MAX_ANCHORS`]).
    pub(super) anchors: Arc<std::sync::atomic::AtomicUsize>,
    pub(super) starts: Vec<PathBuf>,
    /// Real paths of every mount point, when a mount table was read: the walk never enters
    /// them (they are walked from their own start, or not at all). Without a table, the walk
    /// stays on the device of each start instead.
    pub(super) mount_points: Option<HashSet<PathBuf>>,
}

pub(super) fn plan(host: &Host) -> Result<Plan, String> {
    // The scanner's own mount table, never one inside a scanned image: an image's
    // proc/self/mountinfo is just a file its author wrote (it could declare /usr a network
    // mount to hide it). On the live host, init's table (see Host::mountinfo).
    let table = if host.is_live() {
        host.mountinfo()
    } else {
        "/proc/self/mountinfo"
    };
    let all = match host.own_mount_table() {
        Ok(b) => parse_mountinfo(&b),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        // Without the table the walk would silently skip every other mount (/boot, /home).
        Err(e) => return Err(format!("cannot read the mount table {table}: {e}")),
    };
    // Mounts at or below the root, with points made relative to it.
    let root = host.root().as_os_str().as_bytes();
    let root = if root.len() > 1 {
        root.strip_suffix(b"/").unwrap_or(root)
    } else {
        root
    };
    let mounts: Vec<Mount> = all
        .into_iter()
        .filter_map(|mut m| {
            if root == b"/" {
                return Some(m);
            }
            let rest = m.point.strip_prefix(root)?;
            if rest.is_empty() {
                m.point = b"/".to_vec();
            } else if rest.starts_with(b"/") {
                m.point = rest.to_vec();
            } else {
                return None;
            }
            Some(m)
        })
        .collect();
    if mounts.is_empty() {
        return Ok(Plan {
            starts: vec![host.path("/")],
            mount_points: None,
            anchors: Arc::default(),
        });
    }
    let mut starts: Vec<PathBuf> = select_mounts(&mounts)
        .iter()
        .map(|p| host.path(OsStr::from_bytes(p)))
        .collect();
    if !mounts.iter().any(|m| m.point == b"/") {
        // A root that is no mount point itself (a directory of the host): still walk it.
        starts.insert(0, host.path("/"));
    }
    let mount_points = mounts
        .iter()
        .map(|m| host.path(OsStr::from_bytes(&m.point)))
        .collect();
    Ok(Plan {
        starts,
        mount_points: Some(mount_points),
        anchors: Arc::default(),
    })
}
