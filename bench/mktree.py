#!/usr/bin/env python3
"""Makes the synthetic tree for the 1,000,000-file bench: ROOT/etc/dXXX/fYYYYYY, 1000 files per
directory, each a few bytes of distinct content, plus a minimal etc/passwd and etc/group so the
collector resolves owner names as it would on a real root. Usage: mktree.py ROOT [FILES]"""
import os
import sys

def main():
    root = sys.argv[1]
    files = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    etc = os.path.join(root, "etc")
    os.makedirs(etc, exist_ok=True)
    with open(os.path.join(etc, "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
    with open(os.path.join(etc, "group"), "w") as f:
        f.write("root:x:0:\n")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    per_dir = 1000
    for d in range((files + per_dir - 1) // per_dir):
        path = os.path.join(etc, "d%03d" % d)
        os.mkdir(path)
        dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for i in range(d * per_dir, min(files, (d + 1) * per_dir)):
                fd = os.open("f%06d" % i, flags, 0o644, dir_fd=dfd)
                os.write(fd, b"value=%d\n" % i)
                os.close(fd)
        finally:
            os.close(dfd)

if __name__ == "__main__":
    main()
