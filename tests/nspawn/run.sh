#!/usr/bin/env bash
# tests/nspawn/run.sh — the shipped systemd unit under a REAL systemd as PID 1.
#
# Boots a minimal Debian bookworm container with systemd-nspawn (its systemd is PID 1 of the
# container), installs dawgmond, dawgctl and dist/systemd/dawgmond.service from the checkout
# this script lives in, runs `systemctl enable --now dawgmond`, and checks what a user would
# see: READY=1, the capabilities of the running daemon, the socket's access control, reload by
# SIGHUP, an on-demand scan, no restart loop on a corrupt database; then records the unit's
# `systemd-analyze security` exposure. Recipes: the project's testing notes ("A real systemd
# system manager (PID 1 of a container)"); documentation: docs/nspawn.md.
#
# Needs root, a host whose PID 1 need not be systemd, and the Debian mirror apt uses (for the
# first run only, to build the cached root file system).
#
# Usage: run.sh            every check (the unit, or the package with DAWGMON_DEB)
#        run.sh --prepare  only install the host packages and build the cached root file
#                          system, then exit (.ci/run does this before any test starts)
#
# Environment:
#   DAWGMON_BIN_DIR       directory holding already-built dawgmond and dawgctl (skips the build;
#                         default: `cargo build --locked --bins`, a debug build, into
#                         $CARGO_TARGET_DIR or target/)
#   DAWGMON_NSPAWN_OUT    directory for the logs and the security table
#                         (default: /tmp/dawgmon-nspawn.<date>.<pid>)
#   DAWGMON_NSPAWN_DROPIN a drop-in file installed as
#                         /etc/systemd/system/dawgmond.service.d/50-nspawn-test.conf, to try
#                         unit changes against the same checks without editing the unit
#   DAWGMON_NSPAWN_CONFIG a configuration file installed as /etc/dawgmon/dawgmond.toml instead
#                         of dist/config/dawgmond.toml
#   DAWGMON_NSPAWN_NO_CONFIG=1  do not install dist/config/dawgmond.toml as
#                         /etc/dawgmon/dawgmond.toml (built-in defaults then)
#   DAWGMON_NSPAWN_COPY=1 work on a copy (cp -a --reflink=auto) of the cached root file system
#                         instead of an overlay on it
#   DAWGMON_NSPAWN_KEEP=1 keep the container's throwaway copy (its path is printed)
#   DAWGMON_DEB           a dawgmon .deb (`cargo deb`): installed with `apt-get install` inside
#                         the container instead of copying binaries, unit and configuration;
#                         then the package checks of tests/nspawn/deb-checks.sh run too (man
#                         pages, completion, the apt hook around a test package, remove/purge)
#
# Exit status: 0 when every check passed, 1 when a check failed, 2 when the harness itself
# could not run (no root, no rootfs, the container did not boot, ...).

set -euo pipefail

# ---------------------------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------------------------

# Bump when the debootstrap recipe below changes: a cached root file system whose marker
# differs is rebuilt.
# (man-db and bash-completion: the .deb checks, `man -w` and a completion from the installed
# package.) The directory carries the recipe's number, so branches with another recipe sharing
# this host keep their own cache instead of rebuilding each other's.
readonly RECIPE_VERSION="2 bookworm minbase systemd,dbus,systemd-sysv,man-db,bash-completion"
readonly SUITE=bookworm
readonly INCLUDE=systemd,dbus,systemd-sysv,man-db,bash-completion
readonly MACHINES=/var/lib/machines
readonly BASE="$MACHINES/dawgmon-bookworm-base-2"
readonly MARKER="$BASE/.dawgmon-recipe"
# A name unique to this run: several runs may share the host.
readonly NAME="dawgmon-nspawn-$$"
readonly RUN_DIR="$MACHINES/$NAME"
readonly UNIT=dawgmond.service
readonly DB=/var/lib/dawgmon/dawgmon.db
readonly TEST_USER=dawgtest
# The container's PATH for every command run inside it (nsenter keeps the host environment
# otherwise).
readonly CT_PATH=/usr/sbin:/usr/bin:/sbin:/bin

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/../.." && pwd)"
readonly SCRIPT_DIR REPO
OUT="${DAWGMON_NSPAWN_OUT:-/tmp/dawgmon-nspawn.$(date +%Y%m%d-%H%M%S).$$}"
readonly OUT

# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------

now_ms() { date +%s%3N; }
# Milliseconds → "12.3 s".
secs() { awk -v ms="$1" 'BEGIN { printf "%.1f s", ms / 1000 }'; }
log() { printf '[nspawn] %s\n' "$*" >&2; }
die() {
	printf '[nspawn] ERROR: %s\n' "$*" >&2
	exit 2
}

T_START=$(now_ms)
PASSED=0
FAILED=0
RESULTS=()
# pass|fail NAME DETAIL: one result line now, and again in the summary.
record() {
	local verdict=$1 name=$2 detail="${*:3}"
	local line
	line=$(printf '%-4s %-34s %s' "$verdict" "$name" "$detail")
	RESULTS+=("$line")
	printf '%s\n' "$line"
	if [[ $verdict == PASS ]]; then PASSED=$((PASSED + 1)); else FAILED=$((FAILED + 1)); fi
}
pass() { record PASS "$@"; }
fail() { record FAIL "$@"; }

# ---------------------------------------------------------------------------------------------
# Preconditions and packages
# ---------------------------------------------------------------------------------------------

[[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap, systemd-nspawn, nsenter)"
mkdir -p "$OUT"
log "logs and reports: $OUT"

need_pkgs=()
command -v systemd-nspawn >/dev/null || need_pkgs+=(systemd-container)
command -v debootstrap >/dev/null || need_pkgs+=(debootstrap)
command -v capsh >/dev/null || need_pkgs+=(libcap2-bin)
command -v nsenter >/dev/null || need_pkgs+=(util-linux)
if ((${#need_pkgs[@]})); then
	# .ci/run installs these before any test starts; this is for a run by hand. Two runs (the
	# unit and the package test run at once) must not fight over dpkg's lock: both wait for it
	# (DPkg::Lock::Timeout) instead of failing with "Could not get lock".
	log "installing ${need_pkgs[*]}"
	apt_wait=(-o DPkg::Lock::Timeout=600)
	# --no-install-recommends: the recommended libnss-mymachines edits the host's nsswitch.conf.
	DEBIAN_FRONTEND=noninteractive apt-get "${apt_wait[@]}" install -y --no-install-recommends \
		"${need_pkgs[@]}" >"$OUT/apt.log" 2>&1 || {
		apt-get "${apt_wait[@]}" update >>"$OUT/apt.log" 2>&1
		DEBIAN_FRONTEND=noninteractive apt-get "${apt_wait[@]}" install -y --no-install-recommends \
			"${need_pkgs[@]}" >>"$OUT/apt.log" 2>&1
	} || die "apt-get install ${need_pkgs[*]} failed; see $OUT/apt.log"
fi

# ---------------------------------------------------------------------------------------------
# Cleanup: registered before anything is created, so every exit path (a failed check, set -e,
# Ctrl-C) stops the container and removes what this run made.
# ---------------------------------------------------------------------------------------------

NSPAWN_PID=""
OVERLAY_MOUNTED=""
CGROUPS=()
cleanup() {
	local rc=$?
	set +e
	if [[ -n $NSPAWN_PID ]] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
		# SIGTERM to systemd-nspawn is a clean poweroff of the container (~1.5 s).
		kill -TERM "$NSPAWN_PID"
		local i
		for ((i = 0; i < 300; i++)); do
			kill -0 "$NSPAWN_PID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$NSPAWN_PID" 2>/dev/null; then
			log "systemd-nspawn ($NSPAWN_PID) still running after 30 s: SIGKILL"
			kill -KILL "$NSPAWN_PID"
		fi
		wait "$NSPAWN_PID" 2>/dev/null
	fi
	# The cgroups made for nspawn (and anything the container left below them): deepest first.
	local cg
	for cg in "${CGROUPS[@]}"; do
		[[ -d $cg ]] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
		[[ -d $cg ]] && log "could not remove cgroup $cg"
	done
	if [[ ${DAWGMON_NSPAWN_KEEP:-0} == 1 ]]; then
		log "kept the container copy: $RUN_DIR"
	else
		if [[ -n $OVERLAY_MOUNTED ]]; then
			umount "$RUN_DIR/root" 2>/dev/null || umount -l "$RUN_DIR/root"
		fi
		[[ -d $RUN_DIR ]] && rm -rf --one-file-system "$RUN_DIR"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# 1. The cached root file system (debootstrap once, ~95 s), then a throwaway copy for this run
# ---------------------------------------------------------------------------------------------

# The mirror apt already uses: deb822 .sources first, then the one-line sources.list.
apt_mirror() {
	local f uri
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -e $f ]] || continue
		# The URIs of a stanza whose Suites include bookworm (not the -security archive).
		uri=$(awk '
			/^[[:space:]]*$/ { if (u != "" && s ~ /(^| )bookworm( |$)/) { print u; exit } u = ""; s = "" }
			/^URIs:/ { u = $2 }
			/^Suites:/ { $1 = ""; s = $0 " " }
			END { if (u != "" && s ~ /(^| )bookworm( |$)/) print u }' "$f" | head -n1)
		[[ -n $uri ]] && {
			echo "$uri"
			return
		}
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -e $f ]] || continue
		uri=$(awk '$1 == "deb" && $0 ~ / bookworm / {
			for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' "$f")
		[[ -n $uri ]] && {
			echo "$uri"
			return
		}
	done
	echo http://deb.debian.org/debian
}

T0=$(now_ms)
mkdir -p "$MACHINES"
# One build of the base at a time: a second run (the unit and the package test start together
# on a fresh machine) waits here for the first one's debootstrap, then finds the cache ready.
exec {BASE_LOCK}>"$MACHINES/.dawgmon-base.lock"
if ! flock -w 900 "$BASE_LOCK"; then
	die "another run has held $MACHINES/.dawgmon-base.lock for 15 minutes (a debootstrap hung?)"
fi
if [[ -f $MARKER && $(cat "$MARKER") == "$RECIPE_VERSION" ]]; then
	ROOTFS_ACTION="reused"
	log "reusing $BASE"
else
	ROOTFS_ACTION="built"
	MIRROR=$(apt_mirror)
	log "building $BASE with debootstrap from $MIRROR (~95 s; cached for later runs)"
	# Built under a temporary name and renamed when complete: an interrupted build is never
	# mistaken for a good cache.
	tmp="$BASE.tmp.$$"
	rm -rf --one-file-system "$tmp"
	if ! debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$tmp" "$MIRROR" \
		>"$OUT/debootstrap.log" 2>&1; then
		rm -rf --one-file-system "$tmp"
		die "debootstrap failed; see $OUT/debootstrap.log"
	fi
	# Smaller and quieter boots: no apt timers, no getty on a console nobody reads.
	rm -f "$tmp"/etc/systemd/system/timers.target.wants/apt-daily*.timer
	echo "$RECIPE_VERSION" >"$tmp/.dawgmon-recipe"
	rm -rf --one-file-system "$BASE"
	mv "$tmp" "$BASE"
fi
exec {BASE_LOCK}>&-
T_ROOTFS=$(($(now_ms) - T0))
if [[ ${1:-} == --prepare ]]; then
	log "prepared: the packages and $BASE ($ROOTFS_ACTION in $(secs "$T_ROOTFS"))"
	exit 0
fi

# The run's own root: an overlay on the cached base (instant; runs never see each other's
# changes), or a reflink/plain copy where overlayfs is not available.
T0=$(now_ms)
mkdir -p "$RUN_DIR"/{upper,work,root}
if [[ ${DAWGMON_NSPAWN_COPY:-0} != 1 ]] && grep -qw overlay /proc/filesystems &&
	mount -t overlay overlay \
		-o "lowerdir=$BASE,upperdir=$RUN_DIR/upper,workdir=$RUN_DIR/work" "$RUN_DIR/root" \
		2>/dev/null; then
	OVERLAY_MOUNTED=1
	COPY_KIND="overlay"
else
	rmdir "$RUN_DIR/root"
	cp -a --reflink=auto "$BASE" "$RUN_DIR/root"
	COPY_KIND="copy"
fi
ROOT="$RUN_DIR/root"
T_COPY=$(($(now_ms) - T0))
log "container root ($COPY_KIND, $(secs "$T_COPY")): $ROOT"

# ---------------------------------------------------------------------------------------------
# 2. The binaries and the unit, installed as a package would
# ---------------------------------------------------------------------------------------------

DEB_NAME=""
if [[ -n ${DAWGMON_DEB:-} ]]; then
	[[ -f $DAWGMON_DEB ]] || die "DAWGMON_DEB=$DAWGMON_DEB: no such file"
	# Installed with apt inside the container (section 4.1); copied at once, as the binaries.
	DEB_NAME=$(basename "$DAWGMON_DEB")
	cp "$DAWGMON_DEB" "$OUT/$DEB_NAME"
	cp "$DAWGMON_DEB" "$ROOT/root/$DEB_NAME"
	BUILD_ACTION="deb $DEB_NAME"
	T_BUILD=0
	log "package: $DAWGMON_DEB, sha256 $(sha256sum "$DAWGMON_DEB" | head -c 12)…"
else
	T0=$(now_ms)
	if [[ -n ${DAWGMON_BIN_DIR:-} ]]; then
		BIN_DIR=$DAWGMON_BIN_DIR
		BUILD_ACTION="given"
	else
		BUILD_ACTION="cargo build"
		log "building the binaries (cargo build --locked --bins)"
		(cd "$REPO" && cargo build --locked --bins) >"$OUT/cargo-build.log" 2>&1 ||
			die "cargo build failed; see $OUT/cargo-build.log"
		BIN_DIR="${CARGO_TARGET_DIR:-$REPO/target}/debug"
	fi
	T_BUILD=$(($(now_ms) - T0))
	# Copied at once: a target directory shared with other checkouts may get their build of the
	# same binaries at any moment. The copies in $OUT/bin are the ones tested.
	mkdir -p "$OUT/bin"
	for b in dawgmond dawgctl; do
		[[ -x $BIN_DIR/$b ]] || die "$BIN_DIR/$b missing or not executable"
		cp "$BIN_DIR/$b" "$OUT/bin/$b"
	done
	log "binaries: $BIN_DIR ($BUILD_ACTION), $("$OUT/bin/dawgmond" --version)," \
		"sha256 $(sha256sum "$OUT/bin/dawgmond" | head -c 12)…"

	install -m 0755 "$OUT/bin/dawgmond" "$ROOT/usr/bin/dawgmond"
	install -m 0755 "$OUT/bin/dawgctl" "$ROOT/usr/bin/dawgctl"
	install -m 0644 "$REPO/dist/systemd/dawgmond.service" "$ROOT/lib/systemd/system/dawgmond.service"
	if [[ -n ${DAWGMON_NSPAWN_CONFIG:-} ]]; then
		install -D -m 0644 "$DAWGMON_NSPAWN_CONFIG" "$ROOT/etc/dawgmon/dawgmond.toml"
		log "configuration installed: $DAWGMON_NSPAWN_CONFIG"
	elif [[ ${DAWGMON_NSPAWN_NO_CONFIG:-0} != 1 ]]; then
		install -D -m 0644 "$REPO/dist/config/dawgmond.toml" "$ROOT/etc/dawgmon/dawgmond.toml"
	fi
fi
if [[ -n ${DAWGMON_NSPAWN_DROPIN:-} ]]; then
	install -D -m 0644 "$DAWGMON_NSPAWN_DROPIN" \
		"$ROOT/etc/systemd/system/dawgmond.service.d/50-nspawn-test.conf"
	log "drop-in installed: $DAWGMON_NSPAWN_DROPIN"
fi

# ---------------------------------------------------------------------------------------------
# 3. Boot the container: systemd as its PID 1
# ---------------------------------------------------------------------------------------------

# nspawn goes into cgroups of its own first, or it leaves empty cgroups at the host's root
# (the host has no systemd to make a scope for it). Both hierarchies of a v1/hybrid host, or
# the one of a unified host.
for h in systemd unified; do
	[[ -d /sys/fs/cgroup/$h ]] && CGROUPS+=("/sys/fs/cgroup/$h/$NAME")
done
if ((${#CGROUPS[@]} == 0)) && [[ -f /sys/fs/cgroup/cgroup.procs ]]; then
	CGROUPS+=("/sys/fs/cgroup/$NAME")
fi
for cg in "${CGROUPS[@]}"; do mkdir -p "$cg"; done

T0=$(now_ms)
(
	# The subshell moves itself, then execs nspawn: nspawn starts inside the new cgroups.
	for cg in "${CGROUPS[@]}"; do echo "$BASHPID" >"$cg/cgroup.procs"; done
	# --register=no needs --keep-unit: there is no host bus or machined to register with.
	# --private-network: the container sees only its own loopback.
	# nspawn's own system-call filter refuses fanotify_init, fanotify_mark and
	# open_by_handle_at to a container (EPERM, whatever the unit allows): a host runs dawgmond
	# outside any container, so the container is given them, as a host has them.
	exec systemd-nspawn --boot --keep-unit --register=no --link-journal=no \
		--system-call-filter="fanotify_init fanotify_mark open_by_handle_at" \
		--console=passive --private-network -M "$NAME" -D "$ROOT"
) </dev/null >"$OUT/nspawn.log" 2>&1 &
NSPAWN_PID=$!

# The container's PID 1 (as the host sees it) is nspawn's child.
LEADER=""
for ((i = 0; i < 300; i++)); do
	kill -0 "$NSPAWN_PID" 2>/dev/null || die "systemd-nspawn exited early; see $OUT/nspawn.log"
	LEADER=$(cat "/proc/$NSPAWN_PID/task/$NSPAWN_PID/children" 2>/dev/null | awk '{print $1}')
	[[ -n $LEADER ]] && break
	sleep 0.1
done
[[ -n $LEADER ]] || die "no container leader after 30 s; see $OUT/nspawn.log"

# Run a command inside the container: every namespace of its PID 1, a clean environment.
# (It keeps the host's capabilities and cgroup: anything that must run as a real unit goes
# through systemd-run inside.) A timeout guards every call.
ct() { timeout 120 nsenter -t "$LEADER" -a env -i PATH="$CT_PATH" LC_ALL=C "$@"; }
ct_sh() { ct /bin/sh -c "$1"; }

STATE=""
for ((i = 0; i < 600; i++)); do
	STATE=$(ct systemctl is-system-running 2>/dev/null || true)
	[[ $STATE == running || $STATE == degraded ]] && break
	kill -0 "$NSPAWN_PID" 2>/dev/null || die "container stopped while booting; see $OUT/nspawn.log"
	sleep 0.1
done
T_BOOT=$(($(now_ms) - T0))
[[ $STATE == running || $STATE == degraded ]] ||
	die "container not up after 60 s (state: ${STATE:-none}); see $OUT/nspawn.log"
log "container up in $(secs "$T_BOOT") (is-system-running: $STATE)"
if [[ $STATE == degraded ]]; then
	ct systemctl --failed --no-pager >"$OUT/failed-units.txt" 2>&1 || true
	log "degraded before dawgmond was started; see $OUT/failed-units.txt"
fi

# ---------------------------------------------------------------------------------------------
# 4. The checks
# ---------------------------------------------------------------------------------------------

echo
echo "=== dawgmond under systemd $(ct systemctl --version | head -n1 | awk '{print $2}') (PID 1 of $NAME) ==="

show() { ct systemctl show -P "$1" "$UNIT"; }

# 4.1 enable --now: for Type=notify, start returns once READY=1 arrived (or fails). From the
# .deb: its postinst enables and starts the unit.
T0=$(now_ms)
if [[ -n $DEB_NAME ]]; then
	source "$SCRIPT_DIR/deb-checks.sh"
	deb_install
elif ct systemctl enable --now "$UNIT" >"$OUT/enable.log" 2>&1; then
	pass "enable --now" "$(secs $(($(now_ms) - T0)))"
else
	fail "enable --now" "exit $?; see $OUT/enable.log"
fi

# 4.2 active (for Type=notify, ActiveState=active means READY=1 was received; before that the
# unit is "activating").
active=$(show ActiveState)
sub=$(show SubState)
if [[ $active == active && $sub == running ]]; then
	pass "unit active (READY=1 received)" "ActiveState=$active SubState=$sub Type=$(show Type)"
else
	fail "unit active (READY=1 received)" "ActiveState=$active SubState=$sub"
fi
status_text=$(show StatusText)
if [[ -n $status_text ]]; then
	pass "StatusText set" "\"$status_text\""
else
	fail "StatusText set" "empty (the daemon sends no STATUS=)"
fi

# 4.3 The capabilities of the running daemon against the unit's CapabilityBoundingSet.
MAINPID=$(show MainPID)
unit_files=("$ROOT/lib/systemd/system/$UNIT")
for f in "$ROOT/etc/systemd/system/$UNIT.d"/*.conf; do [[ -e $f ]] && unit_files+=("$f"); done
# The unit's CapabilityBoundingSet= lines in order (an empty one resets the list; a ~ list
# after the first removes its names, as the realtime-off drop-in of docs/trust.md does), as
# sorted lower-case names.
unit_caps=$(awk -F= '$1 == "CapabilityBoundingSet" {
		v = tolower($2)
		if (v == "") { delete c; next }
		drop = substr(v, 1, 1) == "~"
		if (drop) v = substr(v, 2)
		n = split(v, a, " ")
		for (i = 1; i <= n; i++) { if (drop) delete c[a[i]]; else c[a[i]] = 1 } }
	END { for (k in c) print k }' "${unit_files[@]}" | sort -u | paste -sd, -)
# A /proc/PID/status field, hex → sorted names (capsh --decode prints 0xHEX=name,name).
decode() { capsh --decode="$1" | sed 's/^0x[0-9a-f]*=\{0,1\}//' | tr ',' '\n' | sed '/^$/d' | sort -u | paste -sd, -; }
if [[ $MAINPID =~ ^[1-9][0-9]*$ ]]; then
	ct cat "/proc/$MAINPID/status" >"$OUT/mainpid-status.txt"
	field() { awk -v f="$1:" '$1 == f { print $2 }' "$OUT/mainpid-status.txt"; }
	cap_eff=$(field CapEff) cap_prm=$(field CapPrm) cap_bnd=$(field CapBnd) cap_amb=$(field CapAmb)
	cap_inh=$(field CapInh)
	eff_names=$(decode "$cap_eff") bnd_names=$(decode "$cap_bnd")
	echo "     MainPID $MAINPID (uid $(field Uid)): CapEff=$cap_eff [$eff_names]"
	echo "     CapBnd=$cap_bnd [$bnd_names] CapPrm=$cap_prm CapInh=$cap_inh CapAmb=$cap_amb"
	echo "     NoNewPrivs=$(field NoNewPrivs) Seccomp=$(field Seccomp) unit set: [$unit_caps]"
	if [[ $bnd_names == "$unit_caps" ]]; then
		pass "CapBnd == unit's bounding set" "[$bnd_names]"
	else
		fail "CapBnd == unit's bounding set" "CapBnd [$bnd_names] vs unit [$unit_caps]"
	fi
	# Effective ⊆ bounding set; no ambient capabilities.
	extra=$(comm -23 <(tr ',' '\n' <<<"$eff_names" | sed '/^$/d') \
		<(tr ',' '\n' <<<"$unit_caps") | paste -sd, -)
	if [[ -z $extra && $cap_amb =~ ^0+$ ]]; then
		pass "CapEff within the bounding set" "[$eff_names], no ambient"
	else
		fail "CapEff within the bounding set" "beyond the unit: [$extra] CapAmb=$cap_amb"
	fi
	# CAP_SYS_ADMIN is in the bounding set only for the fanotify marks: no thread of the
	# daemon holds it effective once they are placed (docs/trust.md, "Realtime and
	# CAP_SYS_ADMIN"); it stays permitted, to mark a file system mounted later.
	if [[ ,$unit_caps, == *,cap_sys_admin,* ]]; then
		sleep 2 # the marks are placed right after READY=1
		holding="" threads=0
		for task in $(ct ls "/proc/$MAINPID/task"); do
			eff=$(ct cat "/proc/$MAINPID/task/$task/status" 2>/dev/null | awk '$1 == "CapEff:" { print $2 }')
			[[ -n $eff ]] || continue
			threads=$((threads + 1))
			[[ ,$(decode "$eff"), == *,cap_sys_admin,* ]] && holding+=" $task"
		done
		prm_names=$(decode "$cap_prm")
		if [[ -z $holding && $threads -gt 0 ]]; then
			pass "CAP_SYS_ADMIN not effective" "no thread of $threads holds it; permitted [$prm_names]"
		else
			fail "CAP_SYS_ADMIN not effective" "threads holding it effective:${holding:- (none read)}"
		fi
	fi
	if [[ $(field NoNewPrivs) == 1 && $(field Seccomp) == 2 ]]; then
		pass "NoNewPrivs and seccomp filter" "NoNewPrivs=1 Seccomp=2"
	else
		fail "NoNewPrivs and seccomp filter" "NoNewPrivs=$(field NoNewPrivs) Seccomp=$(field Seccomp)"
	fi
	# Nice= and IOSchedulingClass=idle (field 19 of /proc/PID/stat is the nice value).
	nice=$(ct cat "/proc/$MAINPID/stat" | sed 's/.*) //' | awk '{ print $17 }')
	ioclass=$(ct ionice -p "$MAINPID" 2>/dev/null | cut -d: -f1 || true)
	if [[ $nice == 10 && $ioclass == idle ]]; then
		pass "background priority (Nice=10, IOSchedulingClass=idle)" "nice $nice, I/O class $ioclass"
	else
		fail "background priority (Nice=10, IOSchedulingClass=idle)" "nice '$nice', I/O class '$ioclass'"
	fi
else
	fail "capabilities of MainPID" "no MainPID ($MAINPID)"
fi

# The socket as created (owner, group, mode): socket_group and socket_mode at work.
sock=$(ct stat -c '%U:%G %a' /run/dawgmon/dawgmond.sock 2>/dev/null || true)
want_group=$(sed -n 's/^socket_group *= *"\(.*\)".*/\1/p' "$ROOT/etc/dawgmon/dawgmond.toml" 2>/dev/null || true)
if [[ $sock == "root:${want_group:-root} 660" ]]; then
	pass "socket owner and mode" "$sock"
else
	fail "socket owner and mode" "$sock, expected root:${want_group:-root} 660"
fi

# 4.4 dawgctl status as root.
if ct dawgctl status >"$OUT/status-root.txt" 2>&1; then
	pass "dawgctl status (root)" "$(head -n1 "$OUT/status-root.txt")"
else
	fail "dawgctl status (root)" "$(tail -n1 "$OUT/status-root.txt")"
fi

# 4.5 dawgctl status as an unprivileged user: refused with a permission error (the socket is
# root:root 0660 by default). setpriv drops every capability the nsenter'd shell kept.
ct useradd --create-home --shell /bin/sh "$TEST_USER" 2>/dev/null || true
if ct setpriv --reuid="$TEST_USER" --regid="$TEST_USER" --init-groups --inh-caps=-all \
	dawgctl status >"$OUT/status-user.txt" 2>&1; then
	fail "dawgctl status (unprivileged)" "allowed: $(head -n1 "$OUT/status-user.txt")"
elif grep -qi 'permission denied' "$OUT/status-user.txt"; then
	pass "dawgctl status (unprivileged)" "refused: $(head -c 100 "$OUT/status-user.txt" | head -n1)…"
else
	fail "dawgctl status (unprivileged)" "failed without a permission error: $(tail -n1 "$OUT/status-user.txt")"
fi

# The daemon after a reload: same MainPID, active, and still answering on its socket.
after_reload() {
	local what=$1 before=$2 t0=$3
	local pid state text
	pid=$(show MainPID)
	state=$(show ActiveState)/$(show SubState)
	if [[ $pid == "$before" && $state == active/running ]] && ct dawgctl status >/dev/null 2>&1; then
		pass "$what" "MainPID $pid kept, $state, socket answers ($(secs $(($(now_ms) - t0))))"
	else
		text=$(ct dawgctl status 2>&1 | tail -n1 || true)
		fail "$what" "MainPID $before → $pid, $state; dawgctl: $text"
	fi
}

# 4.6 systemctl reload (ExecReload= sends SIGHUP; the daemon sends RELOADING=1, then READY=1).
before=$(show MainPID)
T0=$(now_ms)
if ct systemctl reload "$UNIT" >"$OUT/reload.log" 2>&1; then
	sleep 1
	after_reload "systemctl reload" "$before" "$T0"
else
	fail "systemctl reload" "exit $?; see $OUT/reload.log"
fi

# 4.7 A bare SIGHUP, as `kill -HUP` or logrotate would send it.
before=$(show MainPID)
T0=$(now_ms)
ct systemctl kill -s SIGHUP "$UNIT" || log "systemctl kill -s SIGHUP failed"
sleep 2
after_reload "systemctl kill -s SIGHUP" "$before" "$T0"
if ct journalctl -u "$UNIT" --no-pager -o cat | grep -q 'SIGHUP received'; then
	pass "SIGHUP logged" "$(ct journalctl -u "$UNIT" --no-pager -o cat | grep -c 'SIGHUP received') × 'SIGHUP received'"
else
	fail "SIGHUP logged" "no 'SIGHUP received' in the journal"
fi

# 4.8 An on-demand scan through the API.
T0=$(now_ms)
if timeout 600 nsenter -t "$LEADER" -a env -i PATH="$CT_PATH" LC_ALL=C dawgctl scan \
	>"$OUT/scan.txt" 2>&1; then
	pass "dawgctl scan" "$(secs $(($(now_ms) - T0))), $(wc -l <"$OUT/scan.txt") lines of report"
else
	fail "dawgctl scan" "exit $?: $(tail -n1 "$OUT/scan.txt")"
fi
# Every collector worked under the unit's sandbox, except kernel_modules on a kernel without
# module support (/proc/modules absent, on the host and so in the container).
unavailable=$(sed -n 's/^! \([a-z_0-9]*\) unavailable: .*/\1/p' "$OUT/scan.txt" |
	{ if [[ -e /proc/modules ]]; then cat; else grep -vx kernel_modules; fi; } | paste -sd' ' - || true)
if [[ -s $OUT/scan.txt && -z $unavailable ]]; then
	pass "scan: every collector available" "$(grep -c '^! ' "$OUT/scan.txt") warnings, none an unexpected outage"
else
	fail "scan: every collector available" "unavailable: ${unavailable:-(no scan)}; see $OUT/scan.txt"
fi
if [[ $(show ActiveState) == active ]]; then
	pass "active after the scan" "NRestarts=$(show NRestarts) MainPID=$(show MainPID)"
else
	fail "active after the scan" "ActiveState=$(show ActiveState)"
fi

# Structured journald fields: the scan's own event is found by its SCAN_ID field.
scan_id=$(ct dawgctl history --limit 1 2>/dev/null | awk 'NR == 2 { print $1 }' || true)
ct journalctl --sync >/dev/null 2>&1 || true
ct journalctl --no-pager -u "$UNIT" SCAN_ID="${scan_id:-none}" -o cat >"$OUT/journal-scan.txt" 2>&1 || true
if [[ -n $scan_id ]] && grep -q "scan $scan_id stored" "$OUT/journal-scan.txt"; then
	pass "journald fields" "journalctl -u $UNIT SCAN_ID=$scan_id: $(head -n1 "$OUT/journal-scan.txt")"
else
	fail "journald fields" "no 'scan ${scan_id:-?} stored' under SCAN_ID=${scan_id:-?}; see $OUT/journal-scan.txt"
fi

# 4.8b Between scans: a setuid file that lives one second, with no scheduled scan in between,
# is reported by `dawgctl diff --since` (realtime events, issue 17). Skipped when the
# configuration or a drop-in turns realtime off.
if ct_sh "grep -Eqs '^realtime *= *(false|\"off\"|\"inotify\")' /etc/dawgmon/dawgmond.toml" ||
	[[ ,$unit_caps, != *,cap_sys_admin,* ]]; then
	log "realtime is off (realtime = false or no CAP_SYS_ADMIN): transient setuid check skipped"
elif [[ $COPY_KIND == overlay ]]; then
	# overlayfs refuses a file-system mark (EOPNOTSUPP): the root waits for the schedule, and
	# status must say so (the copy-root run, tests/nspawn_live.rs's first test, plays the
	# transient file itself).
	ct dawgctl status >"$OUT/status-realtime.txt" 2>&1 || true
	if grep -q "not marked (scheduled scans only): /: " "$OUT/status-realtime.txt"; then
		pass "overlay root: fallback said" "$(grep -m1 'not marked' "$OUT/status-realtime.txt" | sed 's/^ *//' | cut -c1-70)"
	else
		fail "overlay root: fallback said" "status does not list / as not marked; see $OUT/status-realtime.txt"
	fi
else
	# The id of the last scheduled scan (empty: none yet).
	last_scheduled() {
		ct dawgctl status --format json 2>/dev/null | tr -d ' \n\t' |
			sed -n 's/.*"last_scheduled":{"id":\([0-9]*\).*/\1/p'
	}
	sched_before=$(last_scheduled)
	ct dawgctl baseline nspawn-transient >"$OUT/transient-baseline.txt" 2>&1 || true
	transient=/usr/local/bin/zz-nspawn-transient
	T0=$(now_ms)
	ct_sh "cp /bin/true $transient && chmod 4755 $transient && sleep 1 && rm -f $transient"
	# Debounce (≤ 1 s after the last event) plus a targeted scan. Each `diff --since` without
	# --to runs and stores a fresh scan (seconds with debug binaries): three tries at most.
	found=""
	for _ in 1 2 3; do
		sleep 3
		timeout 120 nsenter -t "$LEADER" -a env -i PATH="$CT_PATH" LC_ALL=C \
			dawgctl diff --since nspawn-transient >"$OUT/transient-diff.txt" 2>&1 || true
		if grep -q "$transient" "$OUT/transient-diff.txt"; then
			found=1
			break
		fi
	done
	sched_after=$(last_scheduled)
	if [[ -n $found && $sched_before == "$sched_after" ]]; then
		pass "transient setuid file reported" "$(secs $(($(now_ms) - T0))): $(grep -m1 "$transient" "$OUT/transient-diff.txt" | head -c 110)"
	elif [[ -n $found ]]; then
		fail "transient setuid file reported" "a scheduled scan ran in between ($sched_before → $sched_after)"
	else
		fail "transient setuid file reported" "diff --since nspawn-transient does not name $transient; see $OUT/transient-diff.txt"
	fi
	[[ -n $found ]] && ct_sh "test ! -e $transient" || true
fi

# What started each scan so far (schedule, request, event, overflow, startup, poll).
ct dawgctl history --limit 100 >"$OUT/history.txt" 2>&1 || true

# 4.9 systemd-analyze security: the exposure score of the unit as systemd runs it.
ct systemd-analyze security --no-pager "$UNIT" >"$OUT/security-dawgmond.txt" 2>&1 || true
ct systemd-analyze security --no-pager >"$OUT/security-all.txt" 2>&1 || true
EXPOSURE=$(grep -a 'Overall exposure level' "$OUT/security-dawgmond.txt" || true)
if [[ -n $EXPOSURE ]]; then
	pass "systemd-analyze security" "${EXPOSURE#*: }"
else
	fail "systemd-analyze security" "no overall line; see $OUT/security-dawgmond.txt"
fi

# The package: man pages, completion, the apt hook around a test package.
[[ -z $DEB_NAME ]] || deb_package_checks

# 4.10 A corrupt database must stop the unit, not restart it in a loop, and say which file.
ct systemctl stop "$UNIT" || log "systemctl stop failed"
ct_sh "rm -f $DB-wal $DB-shm; head -c 65536 /dev/urandom > $DB"
ct systemctl reset-failed "$UNIT" 2>/dev/null || true
# Journal lines from here on only.
cursor=$(ct journalctl -n 0 --show-cursor --no-pager | sed -n 's/^-- cursor: //p')
T0=$(now_ms)
ct systemctl start "$UNIT" >"$OUT/start-corrupt.log" 2>&1 || true
# Long enough for at least two restarts of a loop: 2 × RestartSec + 5 s, 15 s at least.
restart_us=$(ct systemd-analyze timespan "$(show RestartUSec)" 2>/dev/null | awk '$1 ~ /s:$/ && $2 ~ /^[0-9]+$/ { print $2 }')
settle=$((2 * ${restart_us:-5000000} / 1000000 + 5))
((settle >= 15)) || settle=15
sleep "$settle"
nrestarts=$(show NRestarts)
state=$(show ActiveState)/$(show SubState)
result=$(show Result)
status=$(show ExecMainStatus)
ct journalctl -u "$UNIT" --no-pager --after-cursor="$cursor" >"$OUT/journal-corrupt.txt" 2>&1 || true
ct systemctl status --no-pager -l "$UNIT" >"$OUT/status-corrupt.txt" 2>&1 || true
if [[ $nrestarts =~ ^[01]$ && $state != active/* && $state != activating/* ]]; then
	pass "corrupt db: no restart loop" "NRestarts=$nrestarts after $settle s, $state Result=$result exit=$status"
else
	fail "corrupt db: no restart loop" "NRestarts=$nrestarts after $settle s, $state exit=$status" \
		"RestartPreventExitStatus=$(show RestartPreventExitStatus)"
fi
if grep -qF "$DB" "$OUT/journal-corrupt.txt" "$OUT/status-corrupt.txt"; then
	msg=$(grep -hF "$DB" "$OUT/journal-corrupt.txt" | head -n1 | sed 's/^.*dawgmond\[[0-9]*\]: //')
	pass "corrupt db: message names the file" "${msg:0:110}"
else
	msg=$(grep -h 'dawgmond\[' "$OUT/journal-corrupt.txt" | tail -n1 | sed 's/^.*dawgmond\[[0-9]*\]: //')
	fail "corrupt db: message names the file" "last line: ${msg:0:110}"
fi

# Everything the unit logged, for the record.
ct journalctl -u "$UNIT" --no-pager >"$OUT/journal-dawgmond.txt" 2>&1 || true

# Remove, then purge, both packages: what stays behind.
[[ -z $DEB_NAME ]] || deb_remove_and_purge

# ---------------------------------------------------------------------------------------------
# 5. Summary
# ---------------------------------------------------------------------------------------------

T_TOTAL=$(($(now_ms) - T_START))
echo
echo "=== Summary ($(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')) ==="
printf '%s\n' "${RESULTS[@]}"
echo
echo "${EXPOSURE:-→ Overall exposure level: (not measured)}"
echo "security table: $OUT/security-dawgmond.txt (all units: $OUT/security-all.txt)"
echo "rootfs: $ROOTFS_ACTION in $(secs "$T_ROOTFS"); container root ($COPY_KIND): $(secs "$T_COPY");" \
	"binaries ($BUILD_ACTION): $(secs "$T_BUILD"); boot: $(secs "$T_BOOT"); total: $(secs "$T_TOTAL")"
echo "checks: $PASSED passed, $FAILED failed; logs: $OUT"
((FAILED == 0)) || exit 1
