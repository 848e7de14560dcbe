#!/usr/bin/env bash
# A/B of two dawgctl builds on the measures of issue 16, printed as a table:
#
#   sudo bench/ab.sh NEW_DAWGCTL OLD_DAWGCTL
#
# 1. the default full scan against one `find MOUNTS -xdev -perm /6000` walk, in RUNS
#    interleaved pairs per build (scan, find, scan, find ...): the median of the per-pair wall
#    and CPU ratios; then the ten slowest collectors of one more scan (`scan --timings`, NEW only:
#    OLD may not have the flag);
# 2. FILES files under check_etc (`--root`): an unchanged warm re-scan (wall, files/s, peak
#    memory) and a re-scan that finds one changed file (peak memory), for both builds.
#
# Knobs: RUNS=5, FILES=1000000, BENCH_TMPDIR=/var/tmp (the tree needs ~5 GB and FILES inodes),
# TREE=DIR (reuse a tree bench/mktree.py made; it is then left in place), SKIP_TREE=1 (part 1
# only). Part 2 runs first, and the tree is removed before part 1, so that both walks of part 1
# see the host as it is. Needs /usr/bin/time (package `time`) and python3.
set -euo pipefail

NEW=${1:?usage: bench/ab.sh NEW_DAWGCTL OLD_DAWGCTL}
OLD=${2:?usage: bench/ab.sh NEW_DAWGCTL OLD_DAWGCTL}
REPO=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-5}
FILES=${FILES:-1000000}
[ -x /usr/bin/time ] || { echo "bench/ab.sh: /usr/bin/time is needed (apt-get install time)" >&2; exit 2; }
WORK=$(mktemp -d "${BENCH_TMPDIR:-/var/tmp}/dawgmon-ab.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
say() { printf '>> %s\n' "$*" >&2; }

# timed NAME CMD...: sets WALL (s), CPU (user + system s), RSS (peak kB) of one run.
timed() {
    local name=$1 t0 t1
    shift
    t0=$(date +%s%N)
    /usr/bin/time -f '%M %U %S' -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || {
        [ "$1" = find ] || { cat "$WORK/$name.err" >&2; exit 2; }
    }
    t1=$(date +%s%N)
    WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
    RSS=$(tail -n1 "$WORK/$name.time" | cut -d' ' -f1)
    CPU=$(tail -n1 "$WORK/$name.time" | awk '{ printf "%.2f", $2 + $3 }')
}
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b > 0 ? a / b : 0 }'; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k * 1024 / 1e6 }'; }

OUT=()
row() { OUT+=("$(printf '| %-44s | %-34s | %-34s |' "$@")"); }

# --- 2. the tree ----------------------------------------------------------------------------------
if [ -z "${SKIP_TREE:-}" ]; then
    if [ -n "${TREE:-}" ]; then
        tree=$TREE
    else
        tree=$WORK/tree
        say "making a tree of $FILES files"
        python3 "$REPO/bench/mktree.py" "$tree" "$FILES"
    fi
    declare -A t_s t_rss t_fps c_rss c_lines
    for side in NEW OLD; do
        bin=${!side}
        etc=(--local --root "$tree" --color never -c check_etc scan)
        say "$side: first scan of the tree (not reported), then the unchanged re-scan"
        timed "$side-1" "$bin" --database "$WORK/$side.db" "${etc[@]}"
        timed "$side-2" "$bin" --database "$WORK/$side.db" "${etc[@]}"
        t_s[$side]=$WALL t_rss[$side]=$RSS
        t_fps[$side]=$(awk -v n="$FILES" -v s="$WALL" 'BEGIN { printf "%.0f", n / s }')
    done
    one=$(find "$tree/etc" -type f -name 'f*' -print -quit)
    echo "changed by bench/ab.sh" >>"$one"
    for side in NEW OLD; do
        bin=${!side}
        say "$side: re-scan with one changed file"
        timed "$side-c" "$bin" --database "$WORK/$side.db" --local --root "$tree" --color never \
            --no-timestamps -c check_etc scan
        c_rss[$side]=$RSS
        c_lines[$side]=$(grep -c '^[-+~] ' "$WORK/$side-c.out" || true)
    done
    [ -n "${TREE:-}" ] || rm -rf "$tree"
    rm -f "$WORK"/*.db*
    row "$FILES files, check_etc, unchanged re-scan" "${t_s[NEW]} s, ${t_fps[NEW]} files/s" "${t_s[OLD]} s, ${t_fps[OLD]} files/s"
    row "  its peak memory" "$(mb "${t_rss[NEW]}")" "$(mb "${t_rss[OLD]}")"
    row "  one changed file: peak memory" "$(mb "${c_rss[NEW]}") (${c_lines[NEW]} line)" "$(mb "${c_rss[OLD]}") (${c_lines[OLD]} line)"
fi

# --- 1. full scan against find, interleaved pairs -------------------------------------------------
mapfile -d '' -t MOUNTS < <(python3 "$REPO/bench/mounts.py" -0)
declare -A w_r c_r w_s f_s
for side in NEW OLD; do
    bin=${!side}
    say "$side: default full scan against find ${MOUNTS[*]} -xdev -perm /6000, $RUNS pairs"
    timed "$side-warm" "$bin" --local --database "$WORK/$side-full.db" --color never scan
    timed find-warm find "${MOUNTS[@]}" -xdev -perm /6000
    wr=() cr=() ws=() fs=()
    for i in $(seq "$RUNS"); do
        timed "$side-full" "$bin" --local --database "$WORK/$side-full.db" --color never scan
        w=$WALL c=$CPU
        timed find find "${MOUNTS[@]}" -xdev -perm /6000
        wr+=("$(div "$w" "$WALL")") cr+=("$(div "$c" "$CPU")") ws+=("$w") fs+=("$WALL")
        say "   pair $i: scan ${w}s (cpu ${c}s), find ${WALL}s (cpu ${CPU}s)"
    done
    w_r[$side]=$(median "${wr[@]}") c_r[$side]=$(median "${cr[@]}")
    w_s[$side]=$(median "${ws[@]}") f_s[$side]=$(median "${fs[@]}")
    OUT+=("$side pairs: wall ratios [${wr[*]}], cpu ratios [${cr[*]}]")
done
row "default full scan, median wall" "${w_s[NEW]} s (find: ${f_s[NEW]} s)" "${w_s[OLD]} s (find: ${f_s[OLD]} s)"
row "  / find, wall (median of pair ratios)" "${w_r[NEW]}" "${w_r[OLD]}"
row "  / find, CPU (median of pair ratios)" "${c_r[NEW]}" "${c_r[OLD]}"
"$NEW" --local --database "$WORK/NEW-full.db" --color never scan --timings >/dev/null 2>"$WORK/timings.err"
top=$(awk '/^ *MS  COLLECTOR$/ { on = 1; next } on && n < 10 { printf "%s%s %s ms", sep, $2, $1; sep = ", "; n++ }' "$WORK/timings.err")

echo "bench/ab.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, Linux $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "NEW: $NEW ($("$NEW" --version 2>/dev/null || echo '?')); OLD: $OLD"
printf '| %-44s | %-34s | %-34s |\n' measure NEW OLD
for l in "${OUT[@]}"; do echo "$l"; done
echo "ten slowest collectors of a NEW default scan (scan --timings): $top"
