#!/usr/bin/env bash
# dawgmon attack replay (issue 15): each attack of the issue played for real against the real
# binaries on this machine, one table row per attack with what was done, the wall time and peak
# memory of the step under attack, what dawgmon reported (grep'd from its real output) and a
# PASS/FAIL verdict against the expected outcome. RELIABILITY.md quotes the table.
#
#   sudo bench/attacks.sh                      # builds the release binaries first
#   sudo SKIP_BUILD=1 bench/attacks.sh         # uses target/release as it is
#   sudo BIN_DIR=target/debug bench/attacks.sh # any directory holding dawgctl and dawgmond
#
# Run as root from a checkout (it acts as the users nobody and uid 1000, chowns files and starts
# daemons). Everything happens in one temporary directory under /tmp (on the root file system
# here; the FIFO flood must be on a file system the live walk covers), removed on exit with
# every daemon it started; nothing on the host outside it is changed. About a minute on 2 cores
# once built. Knobs: FIFOS=300000 (the FIFO flood), OUT=FILE (also write the table to FILE),
# KEEP=1 (keep the temporary directory, less the FIFOs, to read the outputs behind each row),
# APT_HOOK=FILE (the apt hook to play item 8 with; default dist/apt/apt-hook, set it with BIN_DIR
# to replay an older release: `git archive OLD`, build it, point both at that tree).
# Exit status: 0 when every row passed, 1 otherwise.
set -uo pipefail
umask 022 # the attackers must reach the directories made for them

REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO" || exit 2
FIFOS=${FIFOS:-300000}
APT_HOOK=${APT_HOOK:-dist/apt/apt-hook}

say() { printf '>> %s\n' "$*" >&2; }
if [ "$(id -u)" != 0 ]; then
    say "run as root: the attacks act as other users (setpriv) and chown files"
    exit 2
fi
for tool in setpriv timeout ssh-keygen md5sum; do
    command -v "$tool" >/dev/null || say "$tool is missing: the rows that need it will fail"
done

if [ -z "${BIN_DIR:-}" ]; then
    if [ "${SKIP_BUILD:-0}" != 1 ]; then
        say "building the release binaries"
        cargo build --release --locked --bins >&2 || exit 2
    fi
    BIN_DIR=target/release
fi
BIN_DIR=$(cd "$BIN_DIR" && pwd) || exit 2
case $BIN_DIR in
"$REPO/target/release") PROFILE="release build" ;;
"$REPO/target/debug") PROFILE="debug build" ;;
*) PROFILE="binaries in $BIN_DIR" ;;
esac
DAWGCTL=$BIN_DIR/dawgctl
DAWGMOND=$BIN_DIR/dawgmond
for b in "$DAWGCTL" "$DAWGMOND"; do
    [ -x "$b" ] || {
        say "$b is missing: build it (cargo build --release --bins) or set BIN_DIR"
        exit 2
    }
done
# Nothing from the caller's environment steers the binaries (a host config, a socket, a bus).
unset NOTIFY_SOCKET WATCHDOG_USEC RUST_LOG DAWGMON_SYSTEMD_BUS DAWGMON_SOCKET DAWGMON_DATABASE \
    DAWGMOND_CONFIG DAWGMON_NO_OPENAT2

TIME=/usr/bin/time
if [ ! -x "$TIME" ]; then
    say "/usr/bin/time is missing: wall time only (bash), no peak memory"
    TIME=""
fi

WORK=$(mktemp -d /tmp/dawgmon-attacks.XXXXXX) || exit 2
chmod 755 "$WORK" # the attackers (nobody, uid 1000) reach their directories under it
DAEMONS=()
# alive PID: the process exists and is not a zombie.
alive() {
    local state
    state=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) && [ "$state" != Z ]
}
cleanup() {
    local p _
    for p in "${DAEMONS[@]}"; do
        kill "$p" 2>/dev/null || continue
        for _ in $(seq 50); do # SIGTERM, then SIGKILL after 5 s (a daemon stuck in a hook)
            alive "$p" || break
            sleep 0.1
        done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    if [ "${KEEP:-0}" = 1 ]; then
        rm -rf "$WORK/fifos"
        say "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
NOCONFIG=$WORK/no-such-dawgmond.toml # --local takes no setting from a host's config

# --- helpers -----------------------------------------------------------------------------------

ROWS=()
FAILS=0
# row ITEM WHAT TIME MEMORY REPORTED VERDICT
row() {
    local cells=() c
    for c in "$@"; do
        c=${c//$'\n'/; }
        cells+=("${c//|/\\|}")
    done
    ROWS+=("| ${cells[0]} | ${cells[1]} | ${cells[2]} | ${cells[3]} | ${cells[4]} | ${cells[5]} |")
    [ "$6" = PASS ] || FAILS=$((FAILS + 1))
    say "item ${cells[0]}: ${cells[5]}"
}

# timed OUT ERR CMD...: runs CMD (killed after LIMIT seconds, default 120) with its output in OUT
# and ERR; sets RC, T (seconds, or "killed after N") and M (peak RSS, kB; empty without
# /usr/bin/time or when killed).
timed() {
    local out=$1 err=$2 limit=${LIMIT:-120}
    shift 2
    rm -f "$WORK/.time"
    T=""
    M=""
    if [ -n "$TIME" ]; then
        timeout "$limit" "$TIME" -f '%e %M' -o "$WORK/.time" "$@" >"$out" 2>"$err"
        RC=$?
        [ -s "$WORK/.time" ] && read -r T M < <(tail -n1 "$WORK/.time")
    else
        local start
        start=$(date +%s%N)
        timeout "$limit" "$@" >"$out" 2>"$err"
        RC=$?
        T=$(awk -v ns=$(($(date +%s%N) - start)) 'BEGIN { printf "%.2f", ns / 1e9 }')
    fi
    if [ "$RC" = 124 ]; then
        T="killed after $limit"
        M=""
    fi
}
secs() { printf '%s s' "$1"; }
mb() { [ -n "${1:-}" ] && awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }' || echo "n/a"; }
# The daemon's peak RSS so far (VmHWM), as mb prints it.
daemon_mb() { mb "$(awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null)"; }

# as UID CMD...: CMD as an unprivileged user (uid = gid), no supplementary groups.
as() {
    local id=$1
    shift
    setpriv --reuid="$id" --regid="$id" --clear-groups "$@"
}

# dawgctl --local with no host config, plain text without timestamps; local_ctl DB ROOT ARGS...
# on a fake root (timed needs a command: timed OUT ERR "${LOCAL[@]}" --database DB --root ROOT).
LOCAL=("$DAWGCTL" --local --daemon-config "$NOCONFIG" --no-timestamps --color never)
local_ctl() {
    local db=$1 root=$2
    shift 2
    "${LOCAL[@]}" --database "$db" --root "$root" "$@"
}

# fake_root DIR: a root with the accounts every collector expects (root, nobody, alice = 1000).
fake_root() {
    mkdir -p "$1/etc" "$1/tmp"
    chmod 755 "$1"
    chmod 1777 "$1/tmp"
    printf '%s\n' 'root:x:0:0:root:/root:/bin/bash' 'alice:x:1000:1000::/home/alice:/bin/bash' \
        'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' >"$1/etc/passwd"
    printf '%s\n' 'root:x:0:' 'staff:x:50:' 'alice:x:1000:' 'nogroup:x:65534:' >"$1/etc/group"
}

# start_daemon DIR ROOT EXTRA: dawgmond with a config in DIR (socket, database, schedule off)
# scanning ROOT; sets DPID and SOCK; fails when it does not answer within 30 s.
start_daemon() {
    local dir=$1 root=$2 extra=$3
    SOCK=$dir/dawgmond.sock
    mkdir -p "$dir/state"
    cat >"$dir/dawgmond.toml" <<EOF
socket = "$SOCK"
database = "$dir/state/dawgmon.db"
root = "$root"
schedule = "off"
collectors = ["check_groups"]
retention = 0
log_level = "debug"
$extra
EOF
    "$DAWGMOND" --config "$dir/dawgmond.toml" </dev/null >"$dir/dawgmond.log" 2>&1 &
    DPID=$!
    DAEMONS+=("$DPID")
    local _
    for _ in $(seq 300); do
        "$DAWGCTL" --socket "$SOCK" status >/dev/null 2>&1 && return 0
        kill -0 "$DPID" 2>/dev/null || break
        sleep 0.1
    done
    say "dawgmond did not start: $(tail -n3 "$dir/dawgmond.log")"
    return 1
}
ctl() { timeout 20 "$DAWGCTL" --socket "$SOCK" --no-timestamps --color never "$@"; }

# The change lines of a text report whose text contains NEEDLE.
lines_with() { grep -F -- "$2" "$1" | grep -E '^[-+~!*] |\[(info|low|medium|high|critical)\]$'; }
severity() { grep -oE '\[(info|low|medium|high|critical)\]$' <<<"$1" | tr -d '[]'; }

# --- 2. the hooks' files --------------------------------------------------------------------------

attack_hooks() {
    local d=$WORK/hooks root=$WORK/hooks/root
    mkdir -p "$d/out/textfile" "$d/out/log" "$d/victims"
    fake_root "$root"
    chmod 755 "$d" "$d/out"
    chown 65534:65534 "$d/out/textfile" "$d/out/log" # prometheus's directory, say
    local prom=$d/out/textfile/dawgmon.prom log=$d/out/log/changes.jsonl v
    for v in a b c; do
        printf precious >"$d/victims/$v"
        chmod 600 "$d/victims/$v"
    done
    if ! start_daemon "$d" "$root" "prometheus_textfile = \"$prom\"
change_log = \"$log\""; then
        row 2a "hooks" "" "" "dawgmond did not start" FAIL
        row 2b "hooks" "" "" "dawgmond did not start" FAIL
        return
    fi
    local old=$d/out/textfile/.dawgmon.prom.$DPID.tmp
    # (a) nobody plants symbolic links to root's 0600 files where root writes.
    as 65534 ln -s "$d/victims/a" "$old"
    as 65534 ln -s "$d/victims/b" "$prom"
    as 65534 ln -s "$d/victims/c" "$log"
    ctl baseline pre >/dev/null 2>&1
    echo "planted:x:4949:" >>"$root/etc/group"
    LIMIT=30 timed "$d/scan.out" "$d/scan.err" "$DAWGCTL" --socket "$SOCK" scan
    local t1=$T
    local changed=""
    for v in a b c; do
        [ "$(cat "$d/victims/$v")" = precious ] && [ "$(stat -c %a "$d/victims/$v")" = 600 ] ||
            changed="$changed $v"
    done
    local hooks
    hooks=$(ctl status 2>&1 | grep '^hooks:')
    local verdict=FAIL regular=no
    [ -f "$prom" ] && [ ! -L "$prom" ] && regular=yes
    [ "$RC" = 0 ] && [ -z "$changed" ] && [ $regular = yes ] &&
        grep -q "symbolic link" <<<"$hooks" && verdict=PASS
    row 2a "symlinks planted by nobody at the textfile, the change log and the old \`.dawgmon.prom.<pid>.tmp\` name, each to a root 0600 file; a group added, \`dawgctl scan\`" \
        "$(secs "$t1")" "dawgmond $(daemon_mb "$DPID")" \
        "$([ -n "$changed" ] && echo "victims CHANGED:$changed" || echo "victims unchanged (content, mode 0600)"); textfile a regular file of its own: $regular; status: \`${hooks#hooks:     }\`" \
        "$verdict"

    # (b) FIFOs at the textfile, its old temporary name and the change log.
    rm -f "$prom" "$old" "$log"
    as 65534 mkfifo -m 666 "$prom" "$old" "$log"
    echo "fifo:x:4848:" >>"$root/etc/group"
    LIMIT=30 timed "$d/scan1.out" "$d/scan1.err" "$DAWGCTL" --socket "$SOCK" scan
    local t1=$T rc1=$RC
    echo "fifo2:x:4849:" >>"$root/etc/group"
    LIMIT=30 timed "$d/scan2.out" "$d/scan2.err" "$DAWGCTL" --socket "$SOCK" scan
    hooks=$(ctl status 2>&1 | grep '^hooks:')
    verdict=FAIL
    regular=no
    [ -f "$prom" ] && [ ! -L "$prom" ] && regular=yes
    [ "$rc1" = 0 ] && [ "$RC" = 0 ] && [ $regular = yes ] && [ -p "$log" ] &&
        grep -q "not a regular file" <<<"$hooks" && grep -q "failing since" <<<"$hooks" &&
        kill -0 "$DPID" 2>/dev/null && verdict=PASS
    row 2b "FIFOs made by nobody at the textfile, its old temporary name and the change log; two scans" \
        "$(secs "$t1") + $(secs "$T")" "dawgmond $(daemon_mb "$DPID")" \
        "scans answered: $([ "$rc1$RC" = 00 ] && echo both || echo "NO (exit $rc1, $RC)"); textfile a regular file: $regular; status: \`${hooks#hooks:     }\`" "$verdict"
}

# --- 3. include bombs -------------------------------------------------------------------------------

# small: the last timed step took under 5 s and 100 MB (the issue's bombs took 28-61 s, 207-670 MB).
small() { awk -v t="$T" -v m="${M:-0}" 'BEGIN { exit !(t + 0 < 5 && m + 0 < 102400 && t ~ /^[0-9.]+$/) }'; }

# items ERR: the item count of "scan N stored: X items in ..." on dawgctl's stderr.
items_of() { sed -n 's/^scan [0-9]* stored: \([0-9]*\) items in.*/\1/p' "$1" | head -n1; }

# bomb_scan DIR COLLECTOR: scans DIR/root with that collector alone; sets N (the items stored)
# and VERDICT (PASS when the scan succeeded with no warning, at most 100 items, and small).
bomb_scan() {
    timed "$1/out" "$1/err" "${LOCAL[@]}" --database "$1/db" --root "$1/root" -c "$2" scan
    N=$(items_of "$1/err")
    VERDICT=FAIL
    [ "$RC" = 0 ] && [ -n "$N" ] && [ "$N" -le 100 ] && grep -q '(0 warnings)' "$1/out" &&
        small && VERDICT=PASS
    return 0
}

attack_includes() {
    local d=$WORK/ldso i
    fake_root "$d/root"
    mkdir -p "$d/root/etc/ld.so.conf.d"
    echo "include /etc/ld.so.conf.d/*.conf" >"$d/root/etc/ld.so.conf"
    for i in $(seq 0 8); do
        printf '/opt/lib%s\ninclude /etc/ld.so.conf.d/*\n' "$i" >"$d/root/etc/ld.so.conf.d/$i.conf"
    done
    bomb_scan "$d" dynamic_loader
    row 3a "fake root: nine \`etc/ld.so.conf.d/*.conf\`, each \`include /etc/ld.so.conf.d/*\`; \`dawgctl --local -c dynamic_loader scan\` (before: 61 s, 986,410 items, 207 MB)" \
        "$(secs "$T")" "$(mb "$M")" "$N items (19 when each file is read once: 9 paths, 10 includes); \`$(tail -n1 "$d/out")\`" \
        "$VERDICT"

    d=$WORK/sshd
    fake_root "$d/root"
    mkdir -p "$d/root/etc/ssh/sshd_config.d"
    echo "Include /etc/ssh/sshd_config.d/*.conf" >"$d/root/etc/ssh/sshd_config"
    for i in $(seq 0 5); do
        printf 'Include /etc/ssh/sshd_config.d/*\nPort 220%s\n' "$i" >"$d/root/etc/ssh/sshd_config.d/$i.conf"
    done
    bomb_scan "$d" ssh_access
    row 3b "fake root: six \`etc/ssh/sshd_config.d/*.conf\`, each \`Include /etc/ssh/sshd_config.d/*\`; \`dawgctl --local -c ssh_access scan\` (before: 28 s, 670 MB)" \
        "$(secs "$T")" "$(mb "$M")" "$N items (each file read once: its settings, and one \`sshd unread\` item per file for the repeats); \`$(tail -n1 "$d/out")\`" \
        "$VERDICT"
}

# --- 4. what the tree walks missed -----------------------------------------------------------------

attack_walks() {
    # A sparse 300 MiB file: above the default max_hash_mib (256), so it is never hashed.
    local d=$WORK/bigfile
    fake_root "$d/root"
    mkdir -p "$d/root/srv/tree"
    local big=$d/root/srv/tree/big.bin
    truncate -s 300M "$big"
    local watch=(--daemon-config "$NOCONFIG" --database "$d/db" --root "$d/root"
        --no-timestamps --color never --watch /srv/tree -c watch)
    "$DAWGCTL" --local "${watch[@]}" scan >/dev/null 2>&1
    local mtime before after
    mtime=$(stat -c %y "$big")
    before=$(stat -c '%s %Y' "$big")
    sleep 0.05 # a ctime of another nanosecond than the first scan saw
    printf 'EVIL' | dd of="$big" bs=1 seek=$((100 << 20)) conv=notrunc status=none
    touch -d "$mtime" "$big"
    after=$(stat -c '%s %Y' "$big")
    timed "$d/out" "$d/err" "$DAWGCTL" --local "${watch[@]}" scan
    local line
    line=$(lines_with "$d/out" "/srv/tree/big.bin" | head -n1)
    local verdict=FAIL
    [ "$RC" = 0 ] && [ "$before" = "$after" ] && [ -n "$line" ] && verdict=PASS
    row 4a "watch tree: 4 bytes written into a sparse 300 MiB file (above the default \`max_hash_mib\` = 256, not hashed), its mtime put back with \`touch -d\` (size and mtime as before: $([ "$before" = "$after" ] && echo yes || echo NO)); \`dawgctl --local --watch /srv/tree scan\`" \
        "$(secs "$T")" "$(mb "$M")" "\`${line:-no change reported: $(head -n1 "$d/out")}\`" "$verdict"

    # 300,000 FIFOs made by nobody on the live root file system, and the live walk.
    d=$WORK/fifos
    mkdir -p "$d/p"
    chown 65534:65534 "$d/p"
    local start=$SECONDS
    (cd "$d/p" && seq -f 'p%.0f' 1 "$FIFOS" | as 65534 xargs mkfifo -m 644)
    local made=$SECONDS n
    n=$(find "$d/p" -maxdepth 1 -type p | wc -l)
    timed "$d/out" "$d/err" "$DAWGCTL" --local --daemon-config "$NOCONFIG" --database "$d/db" \
        --no-timestamps --color never -c list_pipes scan
    local outage
    outage=$(grep -h -m1 'named pipes' "$d/out" "$d/err")
    rm -rf "$d/p"
    verdict=FAIL
    [ "$RC" = 0 ] && [ "$n" = "$FIFOS" ] && grep -q "max_items" <<<"$outage" &&
        [ "${M:-0}" -lt 102400 ] && verdict=PASS
    row 4b "$n FIFOs made by nobody in a directory under /tmp on the live root file system ($((made - start)) s to make, removed after); \`dawgctl --local -c list_pipes scan\` of the live host, default \`max_items\` (before: 125 MB for list_pipes alone)" \
        "$(secs "$T")" "$(mb "$M")" "\`$(sed 's/^ *//' <<<"$outage")\`" "$verdict"
}

# --- 5. spellings that dodged the rules -------------------------------------------------------------

# spell ROOT ROOT_LOGIN EMPTY STRICT PTRACE: writes the settings.
spell() {
    mkdir -p "$1/etc/ssh" "$1/etc/sysctl.d"
    printf 'PermitRootLogin %s\nPermitEmptyPasswords %s\nStrictModes %s\n' "$2" "$3" "$4" >"$1/etc/ssh/sshd_config"
    printf 'kernel.yama.ptrace_scope = %s\n' "$5" >"$1/etc/sysctl.d/99-hardening.conf"
}

attack_spellings() {
    local d=$WORK/spell
    fake_root "$d/root"
    fake_root "$d/canon"
    local c=(-c ssh_access -c sysctl_hardening)
    spell "$d/root" no no yes 1
    spell "$d/canon" no no yes 1
    local_ctl "$d/db" "$d/root" "${c[@]}" scan >/dev/null 2>&1
    local_ctl "$d/canon.db" "$d/canon" "${c[@]}" scan >/dev/null 2>&1
    spell "$d/root" YES Yes No 00
    spell "$d/canon" yes yes no 0
    timed "$d/out" "$d/err" "${LOCAL[@]}" --database "$d/db" --root "$d/root" "${c[@]}" scan
    local_ctl "$d/canon.db" "$d/canon" "${c[@]}" scan >"$d/canon.out" 2>/dev/null
    local shown=() verdict=PASS key line canon sev
    for key in PermitRootLogin PermitEmptyPasswords StrictModes ptrace_scope; do
        line=$(lines_with "$d/out" "$key" | head -n1)
        canon=$(lines_with "$d/canon.out" "$key" | head -n1)
        sev=$(severity "$line")
        shown+=("$key: $(severity "$canon") / ${sev:-not reported}")
        case $sev in
        medium | high | critical) [ "$sev" = "$(severity "$canon")" ] || verdict=FAIL ;;
        *) verdict=FAIL ;;
        esac
    done
    [ "$RC" = 0 ] || verdict=FAIL
    local example
    example=$(lines_with "$d/out" PermitRootLogin | head -n1)
    row 5 "fake root, baseline \`PermitRootLogin no\`, \`PermitEmptyPasswords no\`, \`StrictModes yes\`, \`kernel.yama.ptrace_scope = 1\`; then \`YES\`, \`Yes\`, \`No\`, \`00\` (beside a root changed to \`yes\`, \`yes\`, \`no\`, \`0\`); \`-c ssh_access -c sysctl_hardening scan\`" \
        "$(secs "$T")" "$(mb "$M")" \
        "severity as canonical / as spelt: $(
            IFS=';'
            echo "${shown[*]}"
        ); e.g. \`$example\`" "$verdict"
}

# --- 6. rules too kind or too loud ------------------------------------------------------------------

attack_rules() {
    local d=$WORK/pkg root=$WORK/pkg/root
    fake_root "$root"
    mkdir -p "$root/opt/app/bin" "$root/var/lib/dpkg/info"
    printf 'tool v1\n' >"$root/opt/app/bin/tool"
    chmod 755 "$root/opt/app/bin/tool"
    printf '/.\n/opt\n/opt/app\n/opt/app/bin\n/opt/app/bin/tool\n' >"$root/var/lib/dpkg/info/tool.list"
    printf '%s  opt/app/bin/tool\n' "$(md5sum <"$root/opt/app/bin/tool" | cut -c1-32)" \
        >"$root/var/lib/dpkg/info/tool.md5sums"
    local_ctl "$d/db" "$root" --watch /opt/app -c watch scan >/dev/null 2>&1
    chgrp 50 "$root/opt/app/bin/tool"
    chmod 775 "$root/opt/app/bin/tool"
    timed "$d/out" "$d/err" "${LOCAL[@]}" --database "$d/db" --root "$root" --watch /opt/app -c watch scan
    local line sev verdict=FAIL
    line=$(lines_with "$d/out" /opt/app/bin/tool | head -n1)
    sev=$(severity "$line")
    [ "$RC" = 0 ] && [ "$sev" = high ] && verdict=PASS
    row 6a "packaged file in a watch tree (fake dpkg database, digest still matching): \`chgrp staff; chmod 775\`; \`dawgctl --local --watch /opt/app scan\` (before: [low])" \
        "$(secs "$T")" "$(mb "$M")" "\`$line\`" "$verdict"

    # 600 set-uid files of uid 1000 in its own home, and one root's set-uid file nobody owns.
    d=$WORK/usersuid
    root=$d/root
    fake_root "$root"
    mkdir -p "$root/home/alice/bin" "$root/usr/local/bin" "$root/var/lib/dpkg/info"
    chown -R 1000:1000 "$root/home/alice"
    # A dpkg database, so that a file no package lists is known to be unowned (package=none).
    printf 'Package: base-files\nStatus: install ok installed\nArchitecture: amd64\nVersion: 12.4\n' \
        >"$root/var/lib/dpkg/status"
    printf '/.\n/etc\n/etc/passwd\n' >"$root/var/lib/dpkg/info/base-files.list"
    local_ctl "$d/db" "$root" -c list_suids scan >/dev/null 2>&1
    (cd "$root/home/alice/bin" && seq -f 'tool%.0f' 1 600 | as 1000 xargs touch &&
        seq -f 'tool%.0f' 1 600 | as 1000 xargs chmod u+s)
    printf '\177ELF' >"$root/usr/local/bin/rootsh"
    chmod 4755 "$root/usr/local/bin/rootsh"
    timed "$d/out" "$d/err" "${LOCAL[@]}" --database "$d/db" --root "$root" -c list_suids scan
    local high crit rootsh
    high=$(lines_with "$d/out" /home/alice/bin/tool | grep -c '\[high\]$')
    crit=$(lines_with "$d/out" /home/alice/bin/tool | grep -c '\[critical\]$')
    rootsh=$(severity "$(lines_with "$d/out" /usr/local/bin/rootsh | head -n1)")
    verdict=FAIL
    [ "$RC" = 0 ] && [ "$high" = 600 ] && [ "$crit" = 0 ] && [ "$rootsh" = critical ] && verdict=PASS
    row 6b "fake root with a dpkg database: 600 files made and \`chmod u+s\` by uid 1000 in its own home, and one root-owned 4755 file no package lists in /usr/local/bin; \`dawgctl --local -c list_suids scan\` (before: all [critical])" \
        "$(secs "$T")" "$(mb "$M")" \
        "$high of the user's lines [high], $crit [critical]; the root-owned one [${rootsh:-not reported}]; e.g. \`$(lines_with "$d/out" /home/alice/bin/tool1 | head -n1)\`" \
        "$verdict"
}

# --- 7. ssh keys and root-run scripts ---------------------------------------------------------------

attack_ssh_and_scripts() {
    local d=$WORK/key root=$WORK/key/root
    fake_root "$root"
    mkdir -p "$root/root/.ssh"
    chmod 700 "$root/root" "$root/root/.ssh"
    local key
    if ssh-keygen -q -t ed25519 -N '' -C attacker -f "$d/id" >/dev/null 2>&1; then
        key=$(cat "$d/id.pub")
    else # a public key from the tests (src/collectors/ssh_access_tests.rs)
        key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBrK96mgGvblVOIPUjcbKTWVrrGzpiNjoIst/s3kyfVl attacker"
    fi
    printf 'from="10.0.0.1",command="/bin/true" %s\n' "$key" >"$root/root/.ssh/authorized_keys"
    chmod 600 "$root/root/.ssh/authorized_keys"
    local_ctl "$d/db" "$root" -c ssh_access scan >/dev/null 2>&1
    printf '%s\n' "$key" >>"$root/root/.ssh/authorized_keys"
    timed "$d/out" "$d/err" "${LOCAL[@]}" --database "$d/db" --root "$root" -c ssh_access scan
    local line verdict=FAIL
    line=$(lines_with "$d/out" "added again" | head -n1)
    [ "$RC" = 0 ] && [ "$(severity "$line")" = high ] && verdict=PASS
    row 7a "root key with \`from=\"10.0.0.1\",command=\"/bin/true\"\`, then the same key appended without options; \`dawgctl --local -c ssh_access scan\` (before: 0 changes detected)" \
        "$(secs "$T")" "$(mb "$M")" "\`${line:-no duplicate reported: $(head -n1 "$d/out")}\`" "$verdict"

    d=$WORK/rootrun
    root=$d/root
    fake_root "$root"
    mkdir -p "$root/usr/lib/systemd/system" "$root/usr/bin" "$root/srv/app"
    printf '\177ELF' >"$root/usr/bin/python3"
    chmod 755 "$root/usr/bin/python3"
    printf 'print("hi")\n' >"$root/srv/app/main.py"
    printf '[Service]\nExecStart=/usr/bin/python3 /srv/app/main.py\n' \
        >"$root/usr/lib/systemd/system/app.service"
    local_ctl "$d/db" "$root" -c root_run_writable scan >/dev/null 2>&1
    chown 1000:1000 "$root/srv/app"
    timed "$d/out" "$d/err" "${LOCAL[@]}" --database "$d/db" --root "$root" -c root_run_writable scan
    line=$(lines_with "$d/out" "/srv/app" | head -n1)
    verdict=FAIL
    [ "$RC" = 0 ] && [ -n "$line" ] && verdict=PASS
    row 7b "root unit \`ExecStart=/usr/bin/python3 /srv/app/main.py\`, then /srv/app given to uid 1000 (alice); \`dawgctl --local -c root_run_writable scan\` (before: not reported)" \
        "$(secs "$T")" "$(mb "$M")" "\`${line:-not reported: $(head -n1 "$d/out")}\`" "$verdict"
}

# --- 8. reports that attacker text steered -----------------------------------------------------------

attack_reports() {
    local d=$WORK/apt root=$WORK/apt/root
    fake_root "$root"
    mkdir -p "$root/var/lib/dpkg/info" "$root/bin" "$root/etc/cron.d"
    printf 'Package: coreutils\nStatus: install ok installed\nArchitecture: amd64\nVersion: 9.1-1\n\nPackage: cronpkg\nStatus: install ok installed\nArchitecture: all\nVersion: 1.0\n' \
        >"$root/var/lib/dpkg/status"
    printf '/.\n/bin\n/bin/ls\n' >"$root/var/lib/dpkg/info/coreutils.list"
    printf '/.\n/etc/cron.d/cronpkg\n' >"$root/var/lib/dpkg/info/cronpkg.list"
    printf '\177ELF' >"$root/bin/ls"
    : >"$root/etc/crontab"
    # The shipped hook, with dawgctl pointed at the fake root and a database of its own.
    cat >"$d/dawgctl" <<EOF
#!/bin/sh
exec '$DAWGCTL' --daemon-config '$NOCONFIG' --root '$root' --database '$d/db' -c cron_jobs "\$@"
EOF
    chmod 755 "$d/dawgctl"
    sed -e "s|/usr/bin/dawgctl|$d/dawgctl|g" -e "s|/usr/bin/dawgmond|/nonexistent/dawgmond|g" \
        "$APT_HOOK" >"$d/apt-hook"
    env DAWGMON_SOCKET="$d/no.sock" sh "$d/apt-hook" pre >/dev/null 2>&1
    printf '%s\n' '* * * * * root /usr/local/bin/x (file=/bin/ls)' \
        '* * * * * root /usr/local/bin/y package=evil' >"$root/etc/cron.d/evil"
    printf '0 1 * * * root /usr/bin/true\n' >"$root/etc/cron.d/cronpkg"
    timed "$d/out" "$d/err" env DAWGMON_SOCKET="$d/no.sock" sh "$d/apt-hook" post
    # Each change line with the heading it is listed under.
    local placed
    placed=$(awk '/^    [-+~!*] / { print h " >> " substr($0, 7); next }
        NR > 1 && NF { h = $0; sub(/^ +/, "", h) }' "$d/out")
    local ls evil pkg verdict=FAIL
    ls=$(grep -F '(file=/bin/ls)' <<<"$placed" | head -n1)
    evil=$(grep -F 'package=evil' <<<"$placed" | head -n1)
    pkg=$(grep -F '/usr/bin/true' <<<"$placed" | head -n1)
    # Where the output has no such heading (an older hook), the line as it was printed.
    raw() { grep -F -m1 -- "$1" "$d/out" | sed 's/^ *//'; }
    ls=${ls:-$(raw '(file=/bin/ls)')}
    evil=${evil:-$(raw 'package=evil')}
    pkg=${pkg:-$(raw '/usr/bin/true')}
    [ "$RC" = 0 ] && [[ $ls == "Not attributed"* ]] && [[ $evil == "Not attributed"* ]] &&
        [[ $pkg == cronpkg* ]] && ! grep -q 'coreutils\|\[package=' "$d/out" && verdict=PASS
    row 8a "crontab lines \`... (file=/bin/ls)\` and \`... package=evil\` (and a packaged cron.d file) between the shipped apt hook's pre and post phases ($APT_HOOK, dawgctl --local on a fake root with a dpkg database); time of \`apt-hook post\`" \
        "$(secs "$T")" "$(mb "$M")" \
        "each line as listed (heading >> line): \`${ls:-(file=/bin/ls) line missing}\`; \`${evil:-package=evil line missing}\`; \`${pkg:-packaged line missing}\`; \"coreutils\" or \"[package=\" in the output: $(grep -q 'coreutils\|\[package=' "$d/out" && echo yes || echo no)" \
        "$verdict"

    d=$WORK/rlo
    root=$d/root
    fake_root "$root"
    mkdir -p "$root/usr/bin"
    local_ctl "$d/db" "$root" -c list_suids scan >/dev/null 2>&1
    local name=$'\xe2\x80\xae'"fdp.sh"$'\xe2\x80\x8b'
    printf '\177ELF' >"$root/usr/bin/$name"
    chmod 4755 "$root/usr/bin/$name"
    timed "$d/out" "$d/err" "${LOCAL[@]}" --database "$d/db" --root "$root" -c list_suids scan
    local_ctl "$d/db" "$root" -c list_suids --format sarif diff --since 1 --to 2 >"$d/sarif" 2>/dev/null
    local raw
    raw=$(cat "$d/out" "$d/sarif" | grep -c $'\xe2\x80\xae\|\xe2\x80\x8b')
    local line
    line=$(lines_with "$d/out" 'suid binary' | head -n1)
    verdict=FAIL
    [ "$RC" = 0 ] && [ "$raw" = 0 ] && grep -qF '\xe2\x80\xae' <<<"$line" &&
        grep -qF '\\xe2\\x80\\xaefdp.sh' "$d/sarif" && verdict=PASS
    row 8b "setuid file \`/usr/bin/<U+202E>fdp.sh<U+200B>\` (shows as \`hs.pdf\`); \`dawgctl --local -c list_suids scan\`, then \`--format sarif diff\`" \
        "$(secs "$T")" "$(mb "$M")" "$raw lines with a raw U+202E or U+200B in text and SARIF; \`$line\`" "$verdict"
}

# --- 9. a reload that stopped the daemon -------------------------------------------------------------

attack_reload() {
    local d=$WORK/reload root=$WORK/reload/root group=dawgmon-no-such-group
    fake_root "$root"
    if getent group "$group" >/dev/null; then
        row 9 "reload" "" "" "the group $group exists on this host" FAIL
        return
    fi
    if ! start_daemon "$d" "$root" ""; then
        row 9 "reload" "" "" "dawgmond did not start" FAIL
        return
    fi
    printf 'admin_group = "%s"\n' "$group" >>"$d/dawgmond.toml"
    local start end warning=""
    start=$(date +%s%N)
    kill -HUP "$DPID"
    local _
    for _ in $(seq 200); do
        warning=$(ctl status 2>/dev/null | grep 'reload refused')
        [ -n "$warning" ] && break
        sleep 0.05
    done
    end=$(date +%s%N)
    local running=no shown check_msg
    alive "$DPID" && ctl scan >/dev/null 2>&1 && running=yes
    if ! alive "$DPID"; then
        wait "$DPID"
        running="no, dawgmond exited with status $?"
    fi
    if [ -n "$warning" ]; then
        shown=$(awk -v ns=$((end - start)) 'BEGIN { printf "%.2f s to the refusal in status", ns / 1e9 }')
    else
        shown="no refusal in status within 10 s"
    fi
    timed "$d/check.out" "$d/check.err" "$DAWGMOND" --check --config "$d/dawgmond.toml"
    check_msg=$(grep -m1 admin_group "$d/check.err")
    local verdict=FAIL
    [ -n "$warning" ] && [ "$running" = yes ] && [ "$RC" = 2 ] && [ -n "$check_msg" ] && verdict=PASS
    row 9 "running dawgmond's config rewritten to name a missing \`admin_group\`, then SIGHUP; \`dawgmond --check\` on the same file (before: the daemon exited 1, --check passed)" \
        "$shown; --check $(secs "$T")" "dawgmond $(daemon_mb "$DPID")" \
        "still running and scanning: $running; status: \`$(sed 's/^ *//' <<<"$warning")\`; \`dawgmond --check\` exit $RC${check_msg:+: \`$check_msg\`}" \
        "$verdict"
}

# --- run --------------------------------------------------------------------------------------------

START=$SECONDS
for attack in attack_hooks attack_includes attack_walks attack_spellings attack_rules \
    attack_ssh_and_scripts attack_reports attack_reload; do
    say "${attack#attack_}"
    before=${#ROWS[@]}
    "$attack"
    [ "${#ROWS[@]}" -gt "$before" ] || row "?" "$attack" "" "" "the script stopped in this attack" FAIL
done

{
    echo
    echo "== issue 15's attacks, played for real (commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $PROFILE, $(nproc) cores, kernel $(uname -r), $(date -u +%Y-%m-%d), $((SECONDS - START)) s in all)"
    echo
    echo "| item | what was done | time | peak RSS | what was reported | verdict |"
    echo "|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "${#ROWS[@]} attacks, $FAILS failed"
} | tee ${OUT:+"$OUT"}
[ "$FAILS" = 0 ]
