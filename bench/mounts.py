#!/usr/bin/env python3
"""Prints, one per line, the mount points the setuid walk of dawgmon (src/collectors/fswalk.rs,
select_mounts) walks on this host: local file-system types (disk file systems plus tmpfs and
ramfs; overlay only as /), nothing under /proc or /sys, the top mount of each point, and bind
mounts of a tree already covered dropped. `find` gets the same list, so both walk the same
files. Mount points with spaces or newlines are printed as they are (NUL-separated with -0)."""
import sys

LOCAL_FS = {"ext2", "ext3", "ext4", "xfs", "btrfs", "bcachefs", "vfat", "msdos", "exfat",
            "ntfs", "ntfs3", "f2fs", "zfs", "jfs", "reiserfs", "nilfs2", "hfs", "hfsplus",
            "ufs", "tmpfs", "ramfs", "rootfs"}

def unescape(s):
    out, i, b = bytearray(), 0, s.encode("utf-8", "surrogateescape")
    while i < len(b):
        oct_ = b[i+1:i+4]
        if b[i] == 0x5C and len(oct_) == 3 and all(0x30 <= c <= 0x37 for c in oct_):
            out.append(int(oct_, 8)); i += 4
        else:
            out.append(b[i]); i += 1
    return bytes(out)

def under(p, d):
    return p == d or (p.startswith(d) and (d.endswith(b"/") or p[len(d):len(d)+1] == b"/"))

def main():
    mounts = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            cols = line.rstrip("\n").split(" ")
            try:
                sep = cols.index("-", 6)
                mounts.append((cols[2], unescape(cols[3]), unescape(cols[4]), cols[sep + 1]))
            except (ValueError, IndexError):
                continue
    top = {}
    for i, m in enumerate(mounts):
        top[m[2]] = i
    wanted = [m for i, m in enumerate(mounts) if top[m[2]] == i
              and (m[3] in LOCAL_FS or (m[3] == "overlay" and m[2] == b"/"))
              and not under(m[2], b"/proc") and not under(m[2], b"/sys")]
    wanted.sort(key=lambda m: (len(m[2]), m[2]))
    kept = []
    for m in wanted:
        if not any(k[0] == m[0] and under(m[1], k[1]) for k in kept):
            kept.append(m)
    end = b"\0" if "-0" in sys.argv else b"\n"
    for m in kept:
        sys.stdout.buffer.write(m[2] + end)

if __name__ == "__main__":
    main()
