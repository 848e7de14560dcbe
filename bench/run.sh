#!/usr/bin/env bash
# dawgmon benchmarks (issue 5): our scans against dawgmon 1.1 and against the file-system floor.
#
#   sudo bench/run.sh
#
# Run from anywhere in a checkout, as root (both tools then see the whole host). It builds the
# release binaries and the bench targets, installs dawgmon 1.1 into a throw-away virtualenv,
# and prints one table (also written to $BENCH_OUT when set). Everything it creates lives in
# one temporary directory, removed on exit. About 10 minutes on a 2-core machine.
#
# Knobs (environment):
#   RUNS=5              timed runs per side (after one warm-up); the median is reported
#   FILES=1000000       files in the synthetic tree
#   BENCH_TMPDIR=/var/tmp  where the temporary directory goes (needs ~5 GB and 1M inodes for
#                       the tree: keep it on a disk, not a small tmpfs)
#   DAWGMON_VENV=DIR    reuse a virtualenv that already has dawgmon 1.1 (skips the pip install)
#   SKIP_BUILD=1        use the binaries already built
#   BENCH_OUT=FILE      also write the table and the raw figures there
#
# Steps that need a missing tool install it with apt-get (and say so): /usr/bin/time (package
# `time`), python3-venv, and the tools dawgmon 1.1's commands call. A dawgmon 1.1 command that
# still fails is left out of both sides, and the table says which.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
RUNS=${RUNS:-5}
FILES=${FILES:-1000000}
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
BIN=$TARGET/release

say() { printf '>> %s\n' "$*" >&2; }
die() { printf 'bench/run.sh: %s\n' "$*" >&2; exit 2; }

[ "$(uname -s)" = Linux ] || die "Linux only"
[ "$(id -u)" = 0 ] || say "not root: both tools will see only what this user can read (run with sudo for the real figures)"
command -v python3 >/dev/null || die "python3 is needed (apt-get install python3)"
command -v cargo >/dev/null || die "cargo is needed (https://rustup.rs)"

WORK=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/dawgmon-bench.XXXXXX")
DAEMON_PID=
cleanup() {
    if [ -n "$DAEMON_PID" ]; then kill "$DAEMON_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
RAW=$WORK/raw.txt
: >"$RAW"
NOTES=()
record() { echo "$1=$2" >>"$RAW"; }
get() { grep -m1 "^$1=" "$RAW" | cut -d= -f2-; }

apt_install() {
    command -v apt-get >/dev/null && [ "$(id -u)" = 0 ] || return 1
    say "installing with apt-get: $*"
    NOTES+=("installed with apt-get: $*")
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1 &&
          DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; }
}

[ -x /usr/bin/time ] || apt_install time || die "/usr/bin/time is needed (apt-get install time)"

# --- helpers ------------------------------------------------------------------------------------
now_ns() { date +%s%N; }
# timed NAME CMD...: runs CMD (stdout/stderr to $WORK/NAME.out/.err); sets WALL (seconds),
# RSS (peak resident kB) and CPU (user + system seconds), the last two from /usr/bin/time. A failing command aborts, except for `find`,
# which fails on unreadable directories as a matter of course.
timed() {
    local name=$1
    shift
    local t0 t1 rc=0
    t0=$(now_ns)
    /usr/bin/time -f '%M %U %S' -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
    t1=$(now_ns)
    if [ "$rc" != 0 ] && [ "$1" != find ]; then
        cat "$WORK/$name.err" >&2
        die "$* failed (exit $rc)"
    fi
    WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
    RSS=$(tail -n1 "$WORK/$name.time" | cut -d' ' -f1)
    CPU=$(tail -n1 "$WORK/$name.time" | awk '{ printf "%.2f", $2 + $3 }')
}
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "-" }'; }
# The "N items in S s" line dawgctl prints after a scan: items and in-process scan seconds.
scan_items() { sed -n 's/.*: \([0-9]*\) items in \([0-9.]*\)s.*/\1/p' "$1" | tail -n1; }
scan_secs() { sed -n 's/.*: \([0-9]*\) items in \([0-9.]*\)s.*/\2/p' "$1" | tail -n1; }

# --- build --------------------------------------------------------------------------------------
if [ -z "${SKIP_BUILD:-}" ]; then
    say "cargo build --release (and the bench targets)"
    cargo build --release --locked --bins
    cargo bench --locked --no-run >/dev/null 2>&1 || cargo bench --locked --no-run
fi
DAWGCTL=$BIN/dawgctl
[ -x "$DAWGCTL" ] || die "$DAWGCTL missing: build with cargo build --release"

# --- dawgmon 1.1 --------------------------------------------------------------------------------
if [ -n "${DAWGMON_VENV:-}" ]; then
    VENV=$DAWGMON_VENV
else
    VENV=$WORK/venv
    say "installing dawgmon 1.1 into a temporary virtualenv"
    python3 -m venv "$VENV" >/dev/null 2>&1 || { apt_install python3-venv && python3 -m venv "$VENV"; } ||
        die "cannot create a virtualenv (apt-get install python3-venv)"
    "$VENV/bin/pip" install -q --disable-pip-version-check dawgmon==1.1 >&2
fi
DAWGMON=$VENV/bin/dawgmon
"$DAWGMON" --version 2>&1 | grep -q '1\.1' || die "$DAWGMON is not dawgmon 1.1"

# Tools dawgmon 1.1's commands run, and the Debian packages that have them.
for pair in netstat:net-tools lsblk:util-linux ipcs:util-linux mount:mount ip:iproute2 \
    ps:procps uptime:procps lsb_release:lsb-release service:init-system-helpers dpkg:dpkg; do
    command -v "${pair%%:*}" >/dev/null || apt_install "${pair#*:}" || true
done

# --- which commands / collectors ----------------------------------------------------------------
if [ -d /run/systemd/system ]; then
    HAS_SYSTEMD=1
else
    HAS_SYSTEMD=
    NOTES+=("no systemd on this host: dawgmon 1.1's systemd_* commands and our systemd_units, systemd_timers, systemd_sockets, systemd_props are left out (our systemd_unitfiles reads unit files from disk and stays in)")
fi
mapfile -t DM_CMDS < <("$DAWGMON" -E | awk 'NR > 1 { print $1 }' | { if [ -z "$HAS_SYSTEMD" ]; then grep -v '^systemd_'; else cat; fi; })
mapfile -t OUR_COLS < <("$DAWGCTL" --local collectors --format json | python3 -c '
import json, sys
skip = set() if sys.argv[1] else {"systemd_units", "systemd_timers", "systemd_sockets", "systemd_props"}
for c in json.load(sys.stdin):
    if c["default"] and c["name"] not in skip:
        print(c["name"])' "$HAS_SYSTEMD")

dm_args() { local c; for c in "${DM_CMDS[@]}"; do printf -- '-e\0%s\0' "$c"; done; }
our_args() { local c; for c in "${OUR_COLS[@]}"; do printf -- '-c\0%s\0' "$c"; done; }

# dawgmon 1.1 stops at the first command that fails ("NAME failed with non-zero exit status"):
# warm up, and leave such a command out of both sides.
DM_CACHE=$WORK/dawgmon.cache
for _ in 1 2 3 4 5 6; do
    mapfile -d '' -t DMA < <(dm_args)
    "$DAWGMON" -A -f -t "${DMA[@]}" -l "$DM_CACHE" >"$WORK/dm-warm.out" 2>&1 || true
    failed=$(sed -n 's/^\([a-z_]*\) failed with non-zero exit status.*/\1/p' "$WORK/dm-warm.out" | head -n1)
    [ -z "$failed" ] && break
    say "dawgmon 1.1 command $failed fails on this host: left out of both sides"
    NOTES+=("dawgmon 1.1 command $failed fails here; left out of both sides")
    mapfile -t DM_CMDS < <(printf '%s\n' "${DM_CMDS[@]}" | grep -vx "$failed")
    mapfile -t OUR_COLS < <(printf '%s\n' "${OUR_COLS[@]}" | grep -vx "$failed")
done
mapfile -d '' -t DMA < <(dm_args)
mapfile -d '' -t OURA < <(our_args)
record dawgmon_commands "${#DM_CMDS[@]}"
record our_collectors "${#OUR_COLS[@]}"

# --- 1. full scan against dawgmon 1.1 ------------------------------------------------------------
say "1. full scan: ${#OUR_COLS[@]} collectors against dawgmon 1.1's ${#DM_CMDS[@]} commands, warm-up + $RUNS runs each"
FULL_DB=$WORK/full.db
timed full-warm "$DAWGCTL" --local --database "$FULL_DB" --color never "${OURA[@]}" scan
ours=() theirs=() ours_rss=() theirs_rss=()
for i in $(seq "$RUNS"); do
    timed full-ours "$DAWGCTL" --local --database "$FULL_DB" --color never "${OURA[@]}" scan
    ours+=("$WALL") ours_rss+=("$RSS")
    timed full-dm "$DAWGMON" -A -f -t "${DMA[@]}" -l "$DM_CACHE"
    theirs+=("$WALL") theirs_rss+=("$RSS")
    say "   run $i: dawgctl ${ours[-1]}s, dawgmon 1.1 ${theirs[-1]}s"
done
record full_ours_s "$(median "${ours[@]}")"
record full_ours_all "${ours[*]}"
record full_ours_rss_kb "$(median "${ours_rss[@]}")"
record full_ours_items "$(scan_items "$WORK/full-ours.err")"
record full_dm_s "$(median "${theirs[@]}")"
record full_dm_all "${theirs[*]}"
record full_dm_rss_kb "$(median "${theirs_rss[@]}")"
record full_ratio "$(ratio "$(get full_dm_s)" "$(get full_ours_s)")"
# Per-collector times, to see where a full scan goes.
: >"$WORK/percol.txt"
for c in "${OUR_COLS[@]}"; do
    timed percol "$DAWGCTL" --local --database "$WORK/percol.db" --color never -c "$c" scan
    echo "$c $WALL" >>"$WORK/percol.txt"
done
record full_ours_slowest "$(sort -k2 -gr "$WORK/percol.txt" | head -n4 | awk '{ printf "%s%s %ss", sep, $1, $2; sep = ", " }')"

# --- 2. setuid scan against find ----------------------------------------------------------------
mapfile -d '' -t MOUNTS < <(python3 "$REPO/bench/mounts.py" -0)
say "2. setuid scan against find ${MOUNTS[*]} -xdev -perm /6000, warm-up + $RUNS runs each"
SUID_DB=$WORK/suid.db
timed suid-warm "$DAWGCTL" --local --database "$SUID_DB" --color never -c list_suids scan
timed find-warm find "${MOUNTS[@]}" -xdev -perm /6000
ours=() theirs=()
for i in $(seq "$RUNS"); do
    timed suid-ours "$DAWGCTL" --local --database "$SUID_DB" --color never -c list_suids scan
    ours+=("$WALL")
    timed suid-find find "${MOUNTS[@]}" -xdev -perm /6000
    theirs+=("$WALL")
done
record suid_ours_s "$(median "${ours[@]}")"
record suid_ours_all "${ours[*]}"
record suid_find_s "$(median "${theirs[@]}")"
record suid_find_all "${theirs[*]}"
record suid_ratio "$(ratio "$(get suid_ours_s)" "$(get suid_find_s)")"
record suid_ours_items "$(scan_items "$WORK/suid-ours.err")"
record suid_find_lines "$(wc -l <"$WORK/suid-find.out")"
record suid_mounts "${MOUNTS[*]}"

# --- 2b. the default full scan against one find walk, in interleaved pairs ----------------------
say "2b. default full scan against find ${MOUNTS[*]} -xdev -perm /6000, $RUNS interleaved pairs"
FIND_DB=$WORK/full-find.db
timed ff-warm "$DAWGCTL" --local --database "$FIND_DB" --color never scan --timings
wall_r=() cpu_r=()
for i in $(seq "$RUNS"); do
    timed ff-ours "$DAWGCTL" --local --database "$FIND_DB" --color never scan --timings
    w=$WALL c=$CPU
    timed ff-find find "${MOUNTS[@]}" -xdev -perm /6000
    wall_r+=("$(awk -v a="$w" -v b="$WALL" 'BEGIN { printf "%.3f", b > 0 ? a / b : 0 }')")
    cpu_r+=("$(awk -v a="$c" -v b="$CPU" 'BEGIN { printf "%.3f", b > 0 ? a / b : 0 }')")
    say "   pair $i: scan ${w}s (cpu ${c}s), find ${WALL}s (cpu ${CPU}s)"
done
record full_find_wall_ratio "$(median "${wall_r[@]}")"
record full_find_cpu_ratio "$(median "${cpu_r[@]}")"
record full_find_wall_all "${wall_r[*]}"
record full_find_cpu_all "${cpu_r[*]}"
# The ten collectors that took longest in the last of those scans (dawgctl scan --timings).
record full_top10 "$(awk '/^ *MS  COLLECTOR$/ { on = 1; next } on && n < 10 { printf "%s%s %s ms", sep, $2, $1; sep = ", "; n++ }' "$WORK/ff-ours.err")"

# --- 3. a tree of $FILES files under check_etc ---------------------------------------------------
TREE=$WORK/tree
say "3. making a tree of $FILES files (not timed in the results)"
t0=$(now_ns)
python3 "$REPO/bench/mktree.py" "$TREE" "$FILES"
record tree_create_s "$(awk -v a="$t0" -v b="$(now_ns)" 'BEGIN { printf "%.0f", (b - a) / 1e9 }')"
say "   check_etc over it: first run (warms the cache), then the measured second run"
ETC=(--local --root "$TREE" --color never -c check_etc scan)
timed etc-1 "$DAWGCTL" --database "$WORK/etc.db" "${ETC[@]}"
record etc_first_s "$WALL"
timed etc-2 "$DAWGCTL" --database "$WORK/etc.db" "${ETC[@]}"
record etc_s "$WALL"
record etc_rss_kb "$RSS"
record etc_items "$(scan_items "$WORK/etc-2.err")"
record etc_collect_s "$(scan_secs "$WORK/etc-2.err")"
record etc_files_per_s "$(awk -v n="$FILES" -v s="$WALL" 'BEGIN { printf "%.0f", n / s }')"
# One file of the tree changed: the scan reports it, and the database grows by what changed
# (measured as the pages in use, after a checkpoint folds the WAL into the file).
db_used() {
    python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
n, free, size = (c.execute("PRAGMA " + p).fetchone()[0] for p in ("page_count", "freelist_count", "page_size"))
print((n - free) * size)' "$1"
}
before=$(db_used "$WORK/etc.db")
one=$(find "$TREE/etc" -type f -print -quit)
echo "changed by the benchmark" >>"$one"
timed etc-changed "$DAWGCTL" --database "$WORK/etc.db" --no-timestamps "${ETC[@]}"
record etc_changed_s "$WALL"
record etc_changed_rss_kb "$RSS"
record etc_changed_lines "$(grep -c '^[-+~] ' "$WORK/etc-changed.out" || true)"
record etc_changed_names_it "$(grep -cF -- "${one#"$TREE"}" "$WORK/etc-changed.out" || true)"
record etc_changed_growth_bytes "$(($(db_used "$WORK/etc.db") - before))"
# The same warm tree into an empty database: a first scan (no digests to carry over: every
# file is read and hashed), scan + store, against the find | xargs sha256sum floor below.
timed etc-3 "$DAWGCTL" --database "$WORK/etc-fresh.db" "${ETC[@]}"
record etc_fresh_s "$WALL"
record etc_fresh_rss_kb "$RSS"
record etc_fresh_collect_s "$(scan_secs "$WORK/etc-3.err")"
record etc_db_bytes "$(stat -c %s "$WORK/etc.db")"
# The floors on the same warm tree: metadata alone (find -printf stats every entry), and
# metadata plus reading and hashing every file (find | xargs sha256sum, one process per CPU).
timed etc-floor-stat find "$TREE/etc" -printf '%s %m %U %G\n'
record etc_floor_stat_s "$WALL"
timed etc-floor-hash sh -c 'find "$1/etc" -type f -print0 | xargs -0 -n 2000 -P "$(nproc)" sha256sum' sh "$TREE"
record etc_floor_hash_s "$WALL"
record etc_floor_hash_files_per_s "$(awk -v n="$FILES" -v s="$WALL" 'BEGIN { printf "%.0f", n / s }')"
record etc_first_ratio "$(awk -v a="$(get etc_fresh_s)" -v b="$(get etc_floor_hash_s)" 'BEGIN { printf "%.2f", a / b }')"
# What the warm re-scan read: "files: N hashed, M unchanged by metadata".
record etc_reread "$(sed -n 's/.*files: \([0-9]*\) hashed, \([0-9]*\) unchanged.*/\1 read, \2 carried over/p' "$WORK/etc-2.err" | tail -n1)"
# The same tree as a watch tree of the live root (`--watch`): what an administrator runs. Files
# are opened once (a foreign --root opens each O_PATH first), and every file is looked up in
# the host's package database (`package=none` here).
WATCH=(--local --color never --watch "$TREE/etc" -c "watch:$TREE/etc" scan)
timed watch-1 "$DAWGCTL" --database "$WORK/watch.db" "${WATCH[@]}"
record watch_first_s "$WALL"
timed watch-2 "$DAWGCTL" --database "$WORK/watch.db" "${WATCH[@]}"
record watch_s "$WALL"
record watch_rss_kb "$RSS"
record watch_files_per_s "$(awk -v n="$FILES" -v s="$WALL" 'BEGIN { printf "%.0f", n / s }')"
say "   removing the tree"
rm -rf "$TREE" "$WORK"/etc*.db* "$WORK"/watch.db*

# --- 4 and 5. cargo bench: diff of 1M items, database growth ------------------------------------
say "4. cargo bench --bench diff"
cargo bench --locked --bench diff 2>"$WORK/bench-diff.err" | tee -a "$WORK/bench.out" >&2 ||
    { cat "$WORK/bench-diff.err" >&2; die "cargo bench --bench diff failed"; }
say "5. cargo bench --bench store"
skip=
[ -n "$HAS_SYSTEMD" ] || skip=systemd_units,systemd_timers,systemd_sockets,systemd_props
STORE_SKIP=$skip cargo bench --locked --bench store 2>"$WORK/bench-store.err" | tee -a "$WORK/bench.out" >&2 ||
    { cat "$WORK/bench-store.err" >&2; die "cargo bench --bench store failed"; }
grep -E '^[a-z_0-9]+=' "$WORK/bench.out" >>"$RAW" || true

# --- 6. the daemon's memory ---------------------------------------------------------------------
say "6. dawgmond resident memory, idle and during a scan"
status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null; }
if ! "$BIN/dawgmond" --help >/dev/null 2>&1 || "$BIN/dawgmond" --help 2>&1 | grep -q 'not implemented'; then
    record daemon "not available (src/bin/dawgmond.rs is a stub in this checkout)"
else
    SOCK=$WORK/dawgmond.sock
    {
        echo "socket = \"$SOCK\""
        echo "database = \"$WORK/daemon.db\""
        echo 'schedule = "off"'
        echo 'log_level = "warn"'
        printf 'collectors = [%s]\n' "$(printf '"%s", ' "${OUR_COLS[@]}" | sed 's/, $//')"
    } >"$WORK/dawgmond.toml"
    "$BIN/dawgmond" --config "$WORK/dawgmond.toml" >"$WORK/daemon.log" 2>&1 &
    DAEMON_PID=$!
    for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
    [ -S "$SOCK" ] || { cat "$WORK/daemon.log" >&2; die "dawgmond did not create its socket"; }
    sleep 3
    record daemon_idle_rss_kb "$(status_kb "$DAEMON_PID" VmRSS)"
    # The daemon runs its configured collectors (the same set as the full scan above).
    "$DAWGCTL" --socket "$SOCK" --color never scan >"$WORK/daemon-scan.out" 2>&1 &
    client=$!
    peak=0
    while kill -0 "$client" 2>/dev/null; do
        r=$(status_kb "$DAEMON_PID" VmRSS)
        [ -n "$r" ] && [ "$r" -gt "$peak" ] && peak=$r
        sleep 0.05
    done
    wait "$client" || { cat "$WORK/daemon-scan.out" "$WORK/daemon.log" >&2; die "scan through dawgmond failed"; }
    record daemon_scan_rss_kb "$peak"
    record daemon_hwm_kb "$(status_kb "$DAEMON_PID" VmHWM)"
    sleep 3
    record daemon_after_rss_kb "$(status_kb "$DAEMON_PID" VmRSS)"
    kill "$DAEMON_PID"
    wait "$DAEMON_PID" 2>/dev/null || true
    DAEMON_PID=
fi

# --- the table ----------------------------------------------------------------------------------
mb() { awk -v k="$1" 'BEGIN { if (k == "") print "-"; else printf "%.1f MB", k * 1024 / 1e6 }'; }
mbb() { awk -v b="$1" 'BEGIN { if (b == "") print "-"; else printf "%.2f MB", b / 1e6 }'; }
yes_no() { awk "BEGIN { exit !($1) }" && echo met || echo "NOT met"; }
load=$(cut -d' ' -f1-3 /proc/loadavg)
mem=$(awk '$1 == "MemTotal:" { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo)
dev=$(df --output=source "${BENCH_TMPDIR:-/var/tmp}" | tail -n1)
{
    echo "dawgmon benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "machine: $(nproc) CPUs ($(sed -n 's/^model name\t*: //p' /proc/cpuinfo | head -n1)), $mem RAM, Linux $(uname -r), temp dir on $dev; load average at the end: $load"
    echo
    printf '| %-44s | %-40s | %-34s | %-7s |\n' "measure" "dawgmon (Rust)" "reference" "target"
    printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "$(printf -- '-%.0s' {1..42})" "$(printf -- '-%.0s' {1..36})" "$(printf -- '-%.0s' {1..9})"
    row() { printf '| %-44s | %-40s | %-34s | %-7s |\n' "$@"; }
    row "full scan, median of $RUNS (wall)" "$(get full_ours_s) s ($(get our_collectors) collectors)" "dawgmon 1.1: $(get full_dm_s) s ($(get dawgmon_commands) cmds)" "$(yes_no "$(get full_ratio) >= 10")"
    row "  ratio dawgmon 1.1 / ours (target >= 10x)" "$(get full_ratio)x faster" "" ""
    row "  peak memory (max RSS)" "$(mb "$(get full_ours_rss_kb)")" "$(mb "$(get full_dm_rss_kb)") (largest process)" ""
    row "setuid scan, median of $RUNS (wall)" "$(get suid_ours_s) s ($(get suid_ours_items) files)" "find -xdev -perm /6000: $(get suid_find_s) s" "$(yes_no "$(get suid_ratio) <= 1.0")"
    row "  ratio ours / find (target <= 1)" "$(get suid_ratio)" "" ""
    row "default full scan / find, wall (pairs)" "$(get full_find_wall_ratio)" "target <= 0.5" "$(yes_no "$(get full_find_wall_ratio) <= 0.5")"
    row "default full scan / find, CPU (pairs)" "$(get full_find_cpu_ratio)" "target <= 1.0" "$(yes_no "$(get full_find_cpu_ratio) <= 1.0")"
    row "$FILES files, check_etc, warm (2nd run)" "$(get etc_s) s, $(get etc_files_per_s) files/s" "target >= 200000 files/s" "$(yes_no "$(get etc_files_per_s) >= 200000")"
    row "  peak memory of that run" "$(mb "$(get etc_rss_kb)")" "target < 300 MB" "$(yes_no "$(get etc_rss_kb) * 1024 < 300e6")"
    row "  of which collecting (in-process)" "$(get etc_collect_s) s" "" ""
    row "  floor: find -printf (stat only)" "$(get etc_floor_stat_s) s" "" ""
    row "  floor: find | xargs -P$(nproc) sha256sum" "$(get etc_floor_hash_s) s, $(get etc_floor_hash_files_per_s) files/s" "" ""
    row "  files read by that re-scan" "$(get etc_reread)" "" ""
    row "  first scan (empty database: all hashed)" "$(get etc_fresh_s) s, $(mb "$(get etc_fresh_rss_kb)")" "$(get etc_first_ratio)x the sha256sum floor" "$(yes_no "$(get etc_first_ratio) <= 1.5")"
    row "  one file changed: scan" "$(get etc_changed_s) s, $(mb "$(get etc_changed_rss_kb)"), $(get etc_changed_lines) change line(s)" "names the file: $(get etc_changed_names_it)" ""
    row "  one file changed: peak memory" "$(mb "$(get etc_changed_rss_kb)")" "target < 300 MB" "$(yes_no "$(get etc_changed_rss_kb) * 1024 < 300e6")"
    row "  one file changed: database growth" "$(awk -v b="$(get etc_changed_growth_bytes)" 'BEGIN { printf "%.1f KB", b / 1e3 }')" "target < 100 KB" "$(yes_no "$(get etc_changed_growth_bytes) < 100e3")"
    row "same tree as --watch on the live root, warm" "$(get watch_s) s, $(get watch_files_per_s) files/s, $(mb "$(get watch_rss_kb)")" "first run: $(get watch_first_s) s" ""
    row "diff of 2 x $(get diff_items) items, median" "$(get diff_seconds_median) s ($(get diff_changes) changes)" "target < 1 s" "$(yes_no "$(get diff_seconds_median) < 1")"
    row "  peak memory of the diff" "$(mbb "$(get diff_peak_extra_bytes)") above the snapshots" "snapshots: $(mbb "$(get diff_snapshots_rss_bytes)")" ""
    row "database after 1 unchanged scan" "$(mbb "$(get store_unchanged_1_bytes)")" "" ""
    row "database after 100 unchanged scans" "$(mbb "$(get store_unchanged_100_bytes)")" "" ""
    row "database after 1000 unchanged scans" "$(mbb "$(get store_unchanged_1000_bytes)")" "" ""
    row "  added by 999 unchanged scans" "$(mbb "$(get store_unchanged_added_bytes)") ($(get store_unchanged_per_scan_bytes) B/scan)" "target < 1 MB" "$(yes_no "$(get store_unchanged_added_bytes) < 1e6")"
    row "database after 100 scans, 1 file changed each" "$(mbb "$(get store_changed_100_bytes)")" "$(get store_changed_collector) output: $(mbb "$(get store_changed_blob_bytes)")" ""
    if [ -n "$(get daemon_idle_rss_kb)" ]; then
        row "dawgmond RSS idle" "$(mb "$(get daemon_idle_rss_kb)")" "target < 20 MB" "$(yes_no "$(get daemon_idle_rss_kb) * 1024 < 20e6")"
        row "dawgmond RSS during a full scan (peak)" "$(mb "$(get daemon_scan_rss_kb)") (VmHWM $(mb "$(get daemon_hwm_kb)"))" "" ""
        row "dawgmond RSS idle after the scan" "$(mb "$(get daemon_after_rss_kb)")" "" ""
    else
        row "dawgmond RSS idle / during a scan" "skipped: daemon not available" "target < 20 MB idle" "-"
    fi
    echo
    echo "all runs (s): full ours [$(get full_ours_all)], dawgmon 1.1 [$(get full_dm_all)]; setuid ours [$(get suid_ours_all)], find [$(get suid_find_all)]; diff [$(get diff_seconds_all)]"
    echo "slowest collectors run alone (wall, process included): $(get full_ours_slowest)"
    echo "ten slowest collectors in a default scan (scan --timings): $(get full_top10)"
    echo "full scan / find per pair: wall [$(get full_find_wall_all)], cpu [$(get full_find_cpu_all)]"
    echo "setuid: find printed $(get suid_find_lines) paths (it also matches setgid directories) over: $(get suid_mounts)"
    echo "tree: made in $(get tree_create_s) s; first (cold-ish) check_etc run $(get etc_first_s) s; stored output $(mbb "$(get etc_db_bytes)")"
    for n in "${NOTES[@]}"; do echo "note: $n"; done
} >"$WORK/table.txt"
cat "$WORK/table.txt"
if [ -n "${BENCH_OUT:-}" ]; then
    { cat "$WORK/table.txt"; echo; echo "raw:"; cat "$RAW"; } >"$BENCH_OUT"
fi
