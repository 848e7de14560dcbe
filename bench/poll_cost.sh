#!/usr/bin/env bash
# bench/poll_cost.sh — what polling listening sockets, kernel modules and mounts costs
# (issue 17, item 5): the daemon's CPU time over a window with poll_interval = 1, minus the same
# window with polling off, per look, and per hour at the default interval (5 s).
#
# Usage: bench/poll_cost.sh [SECONDS]   (default 120 per run; needs root for the live root /)
# Environment: DAWGMOND (default target/release/dawgmond, else target/debug/dawgmond);
#   BUSY=1 runs the daemon in the host's namespaces (other processes' listeners and mounts
#   then start poll scans, counted and included); by default it runs in new network, mount
#   and PID namespaces (unshare), a quiet host, so the figure is the cost of the looks alone.
#
# The daemon scans the live root "/" with the three surfaces' collectors, no schedule and no
# realtime watch. Its CPU time is utime + stime of /proc/PID/stat.
set -euo pipefail
SECS=${1:-120}
cd "$(dirname "$0")/.."
BIN=${DAWGMOND:-}
[[ -n $BIN ]] || for b in target/release/dawgmond target/debug/dawgmond; do
	[[ -x $b ]] && BIN=$b && break
done
[[ -x ${BIN:-} ]] || { echo "no dawgmond binary: cargo build --release" >&2; exit 2; }
TICK=$(getconf CLK_TCK)

run() { # $1 = poll_interval; prints "cpu_ticks poll_scans"
	local dir pid t0 t1 scans
	dir=$(mktemp -d)
	cat >"$dir/c.toml" <<CONF
socket = "$dir/s.sock"
database = "$dir/db"
root = "/"
schedule = "off"
poll_interval = $1
collectors = ["list_tcpudp_ports", "list_unix_ports", "kernel_modules", "kernel_version", "list_mount", "mount_options"]
log_target = "stderr"
realtime = false
CONF
	if [[ ${BUSY:-0} == 1 ]]; then
		"$BIN" --config "$dir/c.toml" 2>"$dir/log" &
		pid=$!
	else
		unshare --net --mount --pid --fork --mount-proc "$BIN" --config "$dir/c.toml" 2>"$dir/log" &
		sleep 1
		pid=$(pgrep -P $! | head -n1)
	fi
	sleep 3 # start-up, the first look
	t0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
	sleep "$SECS"
	t1=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
	kill "$pid"
	wait 2>/dev/null || true
	scans=$(grep -c 'trigger=poll\|trigger="poll"' "$dir/log" || true)
	rm -rf "$dir"
	echo "$((t1 - t0)) ${scans:-0}"
}

read -r on scans_on < <(run 1)
read -r off _ < <(run 0)
awk -v on="$on" -v off="$off" -v tick="$TICK" -v secs="$SECS" -v scans="$scans_on" \
	-v bin="$BIN" -v mode="$([[ ${BUSY:-0} == 1 ]] && echo 'host namespaces (busy)' || echo 'own namespaces (quiet)')" -v nproc="$(nproc)" -v kernel="$(uname -r)" 'BEGIN {
	cpu = (on - off) / tick; per_look = cpu / secs
	printf "binary %s, nproc %s, kernel %s, %d s per run, %s\n", bin, nproc, kernel, secs, mode
	printf "daemon CPU, poll_interval = 1: %.2f s; off: %.2f s (%d poll scans during the polled run)\n", on / tick, off / tick, scans
	printf "polling: %.2f ms CPU per look; %.2f s CPU per hour at poll_interval = 5 (%.4f%% of one core)\n",
		per_look * 1000, per_look * 720, per_look * 720 / 3600 * 100
}'
