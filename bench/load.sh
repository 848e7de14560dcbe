#!/bin/sh
# Load check for dawgmond (not a timed test): starts the daemon on a temporary socket and
# database, stores some scans, then runs many concurrent clients reading status and history
# (examples/load.rs) and reports requests per second and the daemon's peak memory (VmHWM).
#
#   bench/load.sh [CLIENTS=64] [SECONDS=15] [SCANS=200]
#
# Builds with the dev profile unless PROFILE=release; CARGO_TARGET_DIR is honoured.
set -eu
CLIENTS=${1:-64}
SECONDS_=${2:-15}
SCANS=${3:-200}
PROFILE=${PROFILE:-dev}
cd "$(dirname "$0")/.."
cargo build --profile "$PROFILE" --bin dawgmond --bin dawgctl --example load >/dev/null 2>&1 || cargo build --profile "$PROFILE" --bin dawgmond --bin dawgctl --example load
dir=$(cargo metadata --format-version 1 --no-deps | sed 's/.*"target_directory":"\([^"]*\)".*/\1/')
[ "$PROFILE" = dev ] && sub=debug || sub=$PROFILE
bin=$dir/$sub

tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
cat >"$tmp/dawgmond.toml" <<CONF
socket = "$tmp/s.sock"
database = "$tmp/db/dawgmon.db"
schedule = "off"
retention = 0
collectors = ["check_groups", "check_users", "kernel_version"]
log_level = "warn"
CONF
"$bin/dawgmond" --config "$tmp/dawgmond.toml" 2>"$tmp/log" &
pid=$!
for _ in $(seq 100); do [ -S "$tmp/s.sock" ] && break; sleep 0.1; done

echo "storing $SCANS scans..."
i=0
while [ $i -lt "$SCANS" ]; do "$bin/dawgctl" --socket "$tmp/s.sock" scan >/dev/null 2>&1; i=$((i + 1)); done
echo "idle daemon: $(grep VmRSS /proc/$pid/status | tr -s ' ')"
"$bin/examples/load" "$tmp/s.sock" "$CLIENTS" "$SECONDS_"
grep -E 'VmHWM|VmRSS|Threads' /proc/$pid/status | tr -s ' '
echo "database: $(du -h "$tmp/db/dawgmon.db" | cut -f1)"
