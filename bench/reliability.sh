#!/usr/bin/env bash
# dawgmon fault matrix (issue 8): faults and attacks played for real against the real binaries,
# with many rounds, and the figures RELIABILITY.md quotes.
#
#   sudo bench/reliability.sh
#
# Run from anywhere in a checkout, as root (the tests mount a tmpfs, act as the unprivileged
# user nobody, and flood the daemon from several uids). It runs the same tests `cargo test`
# runs in CI, with larger counts, one suite at a time (they change the live host), and prints
# every figure line they produce plus a summary table. Then bench/attacks.sh replays issue
# 15's attacks against the debug binaries those tests were built with and prints its table (one
# row per attack: time, peak memory, what was reported, verdict). About 5 minutes on a 2-core
# machine with the defaults once the tests are built (parsers 3 of them, the attack replay 12 s;
# 6.5 minutes in all with an incremental build of the tests). The tests install nothing: run .ci/run once first (it installs
# python3-aiosmtpd and the other Debian packages they need).
#
# Knobs (environment):
#   ROUNDS=30        rounds per fault (SIGKILLs, full-disk rounds, hostile-name scans, reports
#                    queued while SMTP is down)
#   CASES=20000      random and truncated inputs per parser property
#   SEED=N           replay the SIGKILL points of an earlier run (printed as "fault seed")
#   NSPAWN=1         also boot a real systemd in a container (tests/nspawn/run.sh) for the
#                    unit's checks and its `systemd-analyze security` exposure
#   OUT=FILE         also write everything printed to FILE
#   RELEASE=1        replay the attacks (bench/attacks.sh) against a release build instead of
#                    the debug binaries (builds it first)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
ROUNDS=${ROUNDS:-30}
CASES=${CASES:-20000}
LOG=$(mktemp /tmp/dawgmon-reliability.XXXXXX)

say() { printf '>> %s\n' "$*" >&2; }
[ "$(id -u)" = 0 ] || say "not root: the full-disk and unprivileged-user faults will be skipped or fail"

run() {
    # run NAME CARGO-TEST-ARGS...: one suite, its output kept for the summary.
    local name=$1
    shift
    say "$name"
    local start=$SECONDS
    if cargo test --locked "$@" -- --nocapture --test-threads=1 >>"$LOG" 2>&1; then
        printf '%-14s PASS  %4ss\n' "$name" $((SECONDS - start)) >>"$LOG.summary"
    else
        printf '%-14s FAIL  %4ss\n' "$name" $((SECONDS - start)) >>"$LOG.summary"
    fi
}

: >"$LOG.summary"
say "building the tests"
cargo test --locked --no-run --all-targets >/dev/null 2>&1 || cargo test --locked --no-run --all-targets

export DAWGMON_FAULT_ROUNDS=$ROUNDS
[ -n "${SEED:-}" ] && export DAWGMON_FAULT_SEED=$SEED
run "faults" --test tests faults::
run "attacks" --test tests trust::
run "flood" --test tests daemon_limits::root_is_answered
run "corrupt-db" --test tests daemon::a_damaged_database
run "smtp-5xx" --test tests mail::daemon::a_permanently_refused_report_is_given_up_and_shown_in_status
unset DAWGMON_FAULT_ROUNDS DAWGMON_FAULT_SEED
DAWGMON_PROPTEST_CASES=$CASES run "parsers" --lib fuzz

# Issue 15's attacks, played against the binaries (debug: those the tests above ran).
say "attacks.sh: issue 15's attacks"
start=$SECONDS
if [ "${RELEASE:-0}" = 1 ]; then
    attacks=(env -u BIN_DIR -u SKIP_BUILD bash bench/attacks.sh)
else
    attacks=(env BIN_DIR=target/debug bash bench/attacks.sh)
fi
if "${attacks[@]}" >"$LOG.attacks" 2>>"$LOG"; then
    printf '%-14s PASS  %4ss\n' "attacks.sh" $((SECONDS - start)) >>"$LOG.summary"
else
    printf '%-14s FAIL  %4ss\n' "attacks.sh" $((SECONDS - start)) >>"$LOG.summary"
fi
cat "$LOG.attacks" >>"$LOG"

if [ "${NSPAWN:-0}" = 1 ]; then
    say "nspawn: a real systemd as PID 1"
    start=$SECONDS
    if bash tests/nspawn/run.sh >>"$LOG" 2>&1; then
        printf '%-14s PASS  %4ss\n' "systemd" $((SECONDS - start)) >>"$LOG.summary"
    else
        printf '%-14s FAIL  %4ss\n' "systemd" $((SECONDS - start)) >>"$LOG.summary"
    fi
fi

{
    echo
    echo "== figures (commit $(git rev-parse --short HEAD), $(nproc) cores, kernel $(uname -r))"
    # A test's output follows its "test NAME ..." line: match anywhere in the line.
    grep -oE 'FIGURE .*|flood: .*|scan with a 1 TiB.*|hostile image scanned.*|[0-9]+ swaps, .* scans during the attack|fault seed: [0-9]+|Overall exposure level.*' "$LOG" || true
    grep -E '^test result' "$LOG" | sed 's/^/   /' || true
    cat "$LOG.attacks"
    echo
    echo "== suites (ROUNDS=$ROUNDS, CASES=$CASES)"
    cat "$LOG.summary"
} | tee ${OUT:+"$OUT"}
failed=$(grep -c ' FAIL ' "$LOG.summary" || true)
rm -f "$LOG.summary" "$LOG.attacks"
if [ "$failed" != 0 ]; then
    say "$failed suite(s) failed; the whole output is in $LOG"
    exit 1
fi
rm -f "$LOG"
