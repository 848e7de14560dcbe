#!/usr/bin/env bash
# The fleet store's figures (issue 19): ingestion rate, bytes per change row, the three
# questions' p50/p99, and what the push adds to a daemon's peak memory and CPU.
#
#   sudo bench/fleet.sh
#
# Starts its own PostgreSQL 15 (Debian's postgresql-15: initdb in a temporary directory, run as
# the postgres user, pg_ctl on a UNIX socket there), runs benches/fleet.rs against it (hosts
# made with add-host, each host's scans pushed as that host through the daemon's own
# fleet::push::send, batched), then runs the release dawgmond twice on this host's root (three
# scans of list_suids, check_users and list_packages each, without and with [fleet]) and
# compares peak RSS (VmHWM) and CPU time. Everything lives in one temporary directory, removed
# on exit.
#
# Knobs (environment):
#   FLEET_HOSTS=10000   hosts
#   FLEET_DAYS=30       days of history per host (one scan a day; a year is FLEET_DAYS=365:
#                       about 12 times the rows and the time)
#   FLEET_RUNS=20       runs per question
#   FLEET_TASKS=2       hosts pushing at once
#   SKIP_BUILD=1        use the binaries already built
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
PGBIN=/usr/lib/postgresql/15/bin
[ -x "$PGBIN/initdb" ] || { echo "PostgreSQL 15 is missing: apt-get install postgresql-15" >&2; exit 1; }
TMP=$(mktemp -d /var/tmp/dawgmon-fleet-bench.XXXXXX)
chmod 755 "$TMP"
chown postgres: "$TMP"
PORT=55432
stop() {
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$TMP/data" -m immediate -w stop >/dev/null 2>&1 || true
    [ -n "${DAEMON:-}" ] && kill "$DAEMON" 2>/dev/null || true
    rm -rf "$TMP"
}
trap stop EXIT
runuser -u postgres -- "$PGBIN/initdb" -D "$TMP/data" -U owner -A trust -E UTF8 --locale=C >/dev/null
cat >> "$TMP/data/postgresql.conf" <<CONF
unix_socket_directories = '$TMP'
listen_addresses = ''
port = $PORT
shared_buffers = 256MB
max_wal_size = 4GB
CONF
printf 'local all owner trust\nlocal all all scram-sha-256\n' > "$TMP/data/pg_hba.conf"
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$TMP/data" -l "$TMP/log" -w start >/dev/null
"$PGBIN/psql" -X -q -h "$TMP" -p $PORT -U owner -d postgres -c "CREATE DATABASE dawgmon"
URL="postgres://owner@localhost/dawgmon?host=$TMP&port=$PORT"

echo "machine: $(nproc) cores, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GB; commit $(git rev-parse --short HEAD)"
echo "PostgreSQL: $("$PGBIN/postgres" --version)"
echo "scale: ${FLEET_HOSTS:-10000} hosts x ${FLEET_DAYS:-30} days (one scan a day each)"
FLEET_BENCH_URL="$URL" cargo bench --bench fleet 2>/dev/null

# What the push adds to a daemon: the same three scans without and with [fleet].
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --bins 2>/dev/null
"$PGBIN/psql" -X -q -h "$TMP" -p $PORT -U owner -d dawgmon -c "SELECT 1" >/dev/null
CREDS=$(target/release/dawgctl fleet add-host benchdaemon --url "$URL" --daemon-config /nonexistent)
measure() { # $1: label, $2: extra config
    local dir=$TMP/daemon-$1
    mkdir -p "$dir"
    cat > "$dir/dawgmond.toml" <<CONF
socket = "$dir/sock"
database = "$dir/db"
schedule = "off"
collectors = ["list_suids", "check_users", "list_packages"]
log_target = "stderr"
$2
CONF
    target/release/dawgmond --config "$dir/dawgmond.toml" 2>"$dir/log" &
    DAEMON=$!
    for _ in $(seq 100); do [ -S "$dir/sock" ] && break; sleep 0.1; done
    for _ in 1 2 3; do target/release/dawgctl --socket "$dir/sock" scan >/dev/null; done
    if [ -n "$2" ]; then
        for _ in $(seq 100); do
            target/release/dawgctl --socket "$dir/sock" status --format json | grep -q '"pending":0' && break
            sleep 0.2
        done
    fi
    local hwm cpu
    hwm=$(awk '/VmHWM/ {print $2}' /proc/$DAEMON/status)
    cpu=$(awk '{printf "%.2f", ($14+$15)/100}' /proc/$DAEMON/stat)
    kill $DAEMON; wait $DAEMON 2>/dev/null || true; DAEMON=
    echo "daemon $1: peak RSS ${hwm} kB, CPU ${cpu} s for 3 scans"
}
measure without ""
measure with "$CREDS"
