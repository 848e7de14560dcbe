# tests/nspawn/deb-checks.sh — sourced by tests/nspawn/run.sh when DAWGMON_DEB names a .deb:
# the package as an administrator meets it. Uses run.sh's ct, ct_sh, show, pass, fail, log,
# now_ms, secs, $OUT, $ROOT, $UNIT, $DB and $DEB_NAME (copied to /root in the container).
# shellcheck shell=bash

readonly TESTPKG=dawgmon-testpkg
# The test package's items, named unlike the package so that a line naming the package says
# something the item's name does not.
readonly TP_SUID=/usr/libexec/zz-nspawn-helper
readonly TP_UNIT=zz-nspawn-probe.service
readonly TP_CRON=/etc/cron.d/zz-nspawn-job
readonly TP_SUDO=/etc/sudoers.d/zz-nspawn-rule
# The unit's ExecStart: the postinst makes it group-writable by staff (a root-run file others
# can write), and adds an SSH key for root (a change no package file explains).
readonly TP_EXEC=/usr/libexec/zz-nspawn-daemon
readonly TP_KEY_COMMENT=zz-nspawn-key@test
# A made-up ed25519 public key (its 32 bytes spell text; no private half exists): the
# fingerprint `ssh-keygen -lf` prints for it is TP_KEY_FP.
readonly TP_KEY='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDawgmonTestKeyOnlyForTheNspawnPackageTest00'
readonly TP_KEY_FP='SHA256:RwMeSAGiKEDMX/1hKv9MuxV7c05lD6F0iqjcPbjWcPs'

# 4.1 from the package: apt-get install ./dawgmon.deb; its postinst enables and starts the unit.
deb_install() {
	local t0 enabled active
	t0=$(now_ms)
	if ct_sh "cd /root && DEBIAN_FRONTEND=noninteractive apt-get install -y ./$DEB_NAME" \
		>"$OUT/apt-install-dawgmon.log" 2>&1; then
		pass "apt-get install ./$DEB_NAME" "$(secs $(($(now_ms) - t0)))"
	else
		fail "apt-get install ./$DEB_NAME" "see $OUT/apt-install-dawgmon.log"
	fi
	enabled=$(ct systemctl is-enabled "$UNIT" 2>&1 || true)
	active=$(ct systemctl is-active "$UNIT" 2>&1 || true)
	if [[ $enabled == enabled && $active == active ]]; then
		pass "enabled and active from the .deb" "is-enabled=$enabled is-active=$active"
	else
		fail "enabled and active from the .deb" "is-enabled=$enabled is-active=$active"
	fi
}

# An upgrade: the same package repacked with a higher version. Its postinst restarts the unit
# (a new MainPID), and an administrator's edit of the conffile survives.
deb_upgrade_check() {
	local dir=$OUT/upgrade ver pid_before pid_after state kept installed
	rm -rf "$dir"
	dpkg-deb -R "$OUT/$DEB_NAME" "$dir"
	ver=$(sed -n 's/^Version: //p' "$dir/DEBIAN/control")
	sed -i "s/^Version: .*/Version: ${ver}+nspawn1/" "$dir/DEBIAN/control"
	dpkg-deb -Zgzip -z1 --root-owner-group --build "$dir" "$ROOT/root/dawgmon-upgrade.deb" >/dev/null
	ct_sh "echo '# edited by the nspawn test' >>/etc/dawgmon/dawgmond.toml"
	pid_before=$(show MainPID)
	ct_sh "cd /root && DEBIAN_FRONTEND=noninteractive apt-get install -y ./dawgmon-upgrade.deb" \
		>"$OUT/apt-upgrade.log" 2>&1 || fail "apt-get install (upgrade)" "see $OUT/apt-upgrade.log"
	pid_after=$(show MainPID)
	state=$(show ActiveState)/$(show SubState)
	installed=$(ct dpkg-query -W -f='${Version}' dawgmon 2>/dev/null || true)
	kept=$(ct grep -c '^# edited by the nspawn test$' /etc/dawgmon/dawgmond.toml 2>/dev/null || true)
	if [[ $installed == "${ver}+nspawn1" && $pid_after != "$pid_before" && $state == active/running && $kept == 1 ]]; then
		pass "upgrade: restarted, conffile kept" "$ver → $installed, MainPID $pid_before → $pid_after, $state"
	else
		fail "upgrade: restarted, conffile kept" "version ${installed:-?}, MainPID $pid_before → $pid_after, $state, edit kept: ${kept:-0}"
	fi
}

# A package built now with dpkg-deb: a setuid helper, a unit, a cron.d file, a sudoers drop-in.
build_test_package() {
	local dir=$OUT/testpkg
	rm -rf "$dir"
	mkdir -p "$dir/DEBIAN" "$dir/usr/libexec" "$dir/lib/systemd/system" "$dir/etc/cron.d" \
		"$dir/etc/sudoers.d"
	cat >"$dir/DEBIAN/control" <<-CONTROL
		Package: $TESTPKG
		Version: 1.0
		Architecture: all
		Maintainer: dawgmon tests <root@localhost>
		Description: dawgmon nspawn test package
		 A setuid helper, a unit with a group-writable ExecStart, a cron job, a sudoers
		 rule and (from its postinst) an SSH key for root, for the apt hook test.
	CONTROL
	cp /bin/true "$dir$TP_SUID"
	chmod 4755 "$dir$TP_SUID"
	cp /bin/true "$dir$TP_EXEC"
	printf '[Unit]\nDescription=dawgmon test probe\n[Service]\nExecStart=%s\n[Install]\nWantedBy=multi-user.target\n' \
		"$TP_EXEC" >"$dir/lib/systemd/system/$TP_UNIT"
	cat >"$dir/DEBIAN/postinst" <<-POSTINST
		#!/bin/sh
		set -e
		chgrp staff $TP_EXEC
		chmod 0775 $TP_EXEC
		mkdir -p /root/.ssh
		chmod 0700 /root/.ssh
		grep -qF '$TP_KEY_COMMENT' /root/.ssh/authorized_keys 2>/dev/null ||
			echo '$TP_KEY $TP_KEY_COMMENT' >>/root/.ssh/authorized_keys
	POSTINST
	cat >"$dir/DEBIAN/postrm" <<-POSTRM
		#!/bin/sh
		set -e
		if [ "\$1" = remove ] || [ "\$1" = purge ]; then
			if [ -f /root/.ssh/authorized_keys ]; then
				sed -i '/$TP_KEY_COMMENT/d' /root/.ssh/authorized_keys
			fi
		fi
	POSTRM
	chmod 0755 "$dir/DEBIAN/postinst" "$dir/DEBIAN/postrm"
	printf '# dawgmon test\n17 * * * * root /bin/true\n' >"$dir$TP_CRON"
	printf '# dawgmon test\nnobody ALL=(root) NOPASSWD: /bin/true\n' >"$dir$TP_SUDO"
	chmod 0440 "$dir$TP_SUDO"
	dpkg-deb --root-owner-group --build "$dir" "$OUT/${TESTPKG}_1.0_all.deb" >/dev/null
	cp "$OUT/${TESTPKG}_1.0_all.deb" "$ROOT/root/"
}

# Does FILE have a line naming ITEM that also names the package?
# The change lines of the hook's summary in $1 holding $2, each as "HEADING<TAB>LINE": the
# hook prints `dawgctl diff --by package`, so HEADING is the group the line is listed under
# (a package's verdict line, "Not attributed to a package", ...).
hook_lines() {
	awk -v want="$2" '
		/^dawgmon: what this package operation changed/ { on = 1; next }
		on && /^  [^ ]/ { heading = substr($0, 3) }
		on && /^    [+] / && index($0, want) { print heading "\t" $0 }' "$1"
}

# Whether a "HEADING<TAB>LINE" of hook_lines is attributed to the test package.
under_package() {
	[[ ${1%%$'\t'*} == "$TESTPKG "* || ${1#*$'\t'} == *"$TESTPKG"* ]]
}

names_with_package() {
	local hl
	while IFS= read -r hl; do
		under_package "$hl" && return 0
	done < <(hook_lines "$1" "$2")
	return 1
}

deb_package_checks() {
	local f out line item t0 missing
	deb_upgrade_check
	# Man pages and completion from the installed package.
	out=$(ct man -w dawgctl 2>&1 || true)
	if [[ $out == */man1/dawgctl.1.gz ]]; then
		pass "man -w dawgctl" "$out"
	else
		fail "man -w dawgctl" "$out"
	fi
	missing=""
	for f in "8 dawgmond" "5 dawgmond.toml" "1 dawgctl-diff"; do
		# shellcheck disable=SC2086
		ct man -w $f >/dev/null 2>&1 || missing+=" ${f#* }(${f%% *})"
	done
	if [[ -z $missing ]]; then
		pass "man -w dawgmond(8), dawgmond.toml(5)" "and dawgctl-diff(1)"
	else
		fail "man -w dawgmond(8), dawgmond.toml(5)" "missing:$missing"
	fi
	# bash-completion loads /usr/share/bash-completion/completions/dawgctl on demand.
	out=$(ct bash -c '. /usr/share/bash-completion/bash_completion
		_completion_loader dawgctl
		spec=$(complete -p dawgctl) || exit 1
		fn=$(printf "%s\n" "$spec" | sed -n "s/.*-F \([^ ]*\).*/\1/p")
		COMP_WORDS=(dawgctl bas); COMP_CWORD=1; COMP_LINE="dawgctl bas"; COMP_POINT=${#COMP_LINE}
		"$fn" dawgctl bas dawgctl
		printf "%s\n" "${COMPREPLY[@]}"' 2>&1 || true)
	out=$(printf '%s' "$out" | sort -u | paste -sd' ' -)
	if [[ $out == "baseline baselines" ]]; then
		pass "bash completion: dawgctl bas<TAB>" "$out"
	else
		fail "bash completion: dawgctl bas<TAB>" "got: ${out:-(nothing)}"
	fi

	# The apt hook around a package with a setuid helper, a unit, a cron job, a sudoers rule.
	build_test_package
	t0=$(now_ms)
	if ct_sh "cd /root && DEBIAN_FRONTEND=noninteractive apt-get install -y ./${TESTPKG}_1.0_all.deb" \
		>"$OUT/apt-install-testpkg.log" 2>&1; then
		pass "apt-get install test package" "$(secs $(($(now_ms) - t0))) with the hook's scans"
	else
		fail "apt-get install test package" "see $OUT/apt-install-testpkg.log"
	fi
	if grep -q '^dawgmon: what this package operation changed' "$OUT/apt-install-testpkg.log"; then
		pass "apt hook summary on apt's output" "$(grep -c '^    + ' "$OUT/apt-install-testpkg.log") change lines"
	else
		fail "apt hook summary on apt's output" "no summary; see $OUT/apt-install-testpkg.log"
	fi
	ct dawgctl --color never --no-timestamps diff --since apt-pre >"$OUT/diff-apt-pre.txt" 2>&1 || true
	for item in "$TP_SUID" "$TP_UNIT" "$TP_CRON" "$TP_SUDO"; do
		line=$(hook_lines "$OUT/apt-install-testpkg.log" "$item" | head -n1)
		line=${line#*$'\t'}
		if names_with_package "$OUT/apt-install-testpkg.log" "$item"; then
			pass "hook names $item" "${line:0:110}"
		else
			fail "hook names $item with $TESTPKG" "${line:-(no line)}"
		fi
		if grep -qF -- "$item" "$OUT/diff-apt-pre.txt"; then
			pass "diff --since apt-pre: $item" ""
		else
			fail "diff --since apt-pre: $item" "see $OUT/diff-apt-pre.txt"
		fi
	done
	deb_attack_surface_checks
	deb_package_field_checks
	deb_hook_local_check
	deb_hook_switch_check
	deb_testpkg_purge_check
}

# Issue 10: what the install granted, one line each, with its severity (from the rules) and
# the package that brought it, on the hook's summary. Each entry: a text the line must hold,
# the severity tag, and whether the line must name the test package (the SSH key comes from
# the postinst: no package owns it, so its line must not name one).
readonly SURFACE_LINES=(
	"suid binary $TP_SUID got created|[high]|pkg"
	"root-run file $TP_EXEC is writable by group:staff|[critical]|pkg"
	"sudo rule nobody -> root: /bin/true added|[high]|pkg"
	"cron job $TP_CRON: root 17 * * * * /bin/true added|[medium]|pkg"
	"authorized key $TP_KEY_FP for root added|[high]|none"
)
deb_attack_surface_checks() {
	local entry want sev owner hl line log=$OUT/apt-install-testpkg.log
	for entry in "${SURFACE_LINES[@]}"; do
		IFS='|' read -r want sev owner <<<"$entry"
		hl=$(hook_lines "$log" "$want" | head -n1)
		line=${hl#*$'\t'}
		if [[ -z $hl ]]; then
			fail "install: $want" "no such line; see $log"
		elif [[ $line != *"$sev"* ]]; then
			fail "install: $want" "not $sev: ${line:0:160}"
		elif [[ $owner == pkg ]] && ! under_package "$hl"; then
			fail "install: $want" "not under $TESTPKG: ${hl:0:160}"
		elif [[ $owner == none ]] && under_package "$hl"; then
			fail "install: $want" "names $TESTPKG, which does not own it: ${line:0:160}"
		else
			pass "install: ${want:0:48} $sev" "$([[ $owner == pkg ]] && echo "$TESTPKG" || echo "no package")"
		fi
	done
	# The key's fingerprint is reported, never the key.
	ct dawgctl --format json diff --since apt-pre >"$OUT/diff-apt-pre.json" 2>&1 || true
	if ! grep -qF -- "$TP_KEY_FP" "$OUT/diff-apt-pre.json" ||
		grep -qF -- "${TP_KEY#ssh-ed25519 }" "$log" "$OUT/diff-apt-pre.txt" "$OUT/diff-apt-pre.json"; then
		fail "SSH key material never shown" "the base64 key appears in a report, or the JSON lacks its fingerprint"
	else
		pass "SSH key material never shown" "fingerprint only"
	fi
}

# Issue 16: the scan records the package on each item (what a script reads in the JSON, with
# no file list looked up at report time), and `--by package` groups them under it: the setuid
# helper, the unit file, the cron.d file and the sudoers drop-in. Read on the host with python3.
deb_package_field_checks() {
	local plain=$OUT/diff-apt-pre.json grouped=$OUT/diff-apt-pre-by-package.json out
	ct dawgctl --format json --by package diff --since apt-pre >"$grouped" 2>&1 || true
	if ! command -v python3 >/dev/null; then
		fail "diff names the package of each item" "python3 is needed on the host to read the JSON"
		return
	fi
	out=$(python3 - "$plain" "$grouped" "$TESTPKG" "$TP_SUID" "$TP_UNIT" "$TP_CRON" "$TP_SUDO" <<-'PY' 2>&1
		import json, sys
		plain, grouped, pkg, suid, unit, cron, sudo = sys.argv[1:]
		wanted = {
		    "list_suids": lambda c: c["key"] == suid,
		    "systemd_unitfiles": lambda c: c["key"] == unit,
		    "cron_jobs": lambda c: (c["after"] or {}).get("source") == cron,
		    "sudo_rules": lambda c: (c["after"] or {}).get("file") == sudo,
		}
		changes = json.load(open(plain))["changes"]
		bad = []
		for collector, match in wanted.items():
		    mine = [c for c in changes if c["collector"] == collector and c["kind"] == "added" and match(c)]
		    if not mine:
		        bad.append(f"no added {collector} change")
		    elif any(c["after"].get("package") != pkg for c in mine):
		        bad.append(f"{collector}: package={mine[0]['after'].get('package')}")
		groups = [g for g in json.load(open(grouped))["groups"] if g.get("package") == pkg]
		under = {c["collector"] for g in groups for c in g["changes"]}
		bad += [f"{c} not grouped under {pkg}" for c in wanted if c not in under]
		print("; ".join(bad) if bad else "ok")
	PY
	)
	if [[ $out == ok ]]; then
		pass "diff names the package of each item" "setuid helper, unit file, cron.d, sudoers.d: package=$TESTPKG, grouped"
	else
		fail "diff names the package of each item" "${out:0:200}; see $plain, $grouped"
	fi
}

# Purging the test package: the hook reports each item gone.
deb_testpkg_purge_check() {
	local item missing="" log=$OUT/apt-purge-testpkg.log
	ct_sh "DEBIAN_FRONTEND=noninteractive apt-get purge -y $TESTPKG" >"$log" 2>&1 ||
		fail "apt-get purge $TESTPKG" "see $log"
	for item in "suid binary $TP_SUID" "root-run file $TP_EXEC" "sudo rule nobody -> root: /bin/true" \
		"cron job $TP_CRON" "authorized key $TP_KEY_FP for root"; do
		grep -F -- "$item" "$log" | grep -qE 'removed|got deleted|no longer' || missing+=" [$item]"
	done
	if [[ -z $missing ]]; then
		pass "purge $TESTPKG: each item reported gone" "$(grep -cE 'removed|got deleted|no longer' "$log") removal lines"
	else
		fail "purge $TESTPKG: each item reported gone" "no removal line for:$missing; see $log"
	fi
}

# With dawgmond stopped, the hook scans in-process (dawgctl --local, same database).
deb_hook_local_check() {
	ct systemctl stop "$UNIT"
	ct_sh "cd /root && DEBIAN_FRONTEND=noninteractive apt-get install -y --reinstall ./${TESTPKG}_1.0_all.deb" \
		>"$OUT/apt-reinstall-local.log" 2>&1 || true
	ct systemctl start "$UNIT"
	if grep -q '^dawgmon: what this package operation changed' "$OUT/apt-reinstall-local.log"; then
		pass "apt hook without the daemon" "summary printed (dawgctl --local): $(grep -A1 '^dawgmon: what' "$OUT/apt-reinstall-local.log" | tail -n1 | sed 's/^ *//')"
	else
		fail "apt hook without the daemon" "no summary; see $OUT/apt-reinstall-local.log"
	fi
}

# apt_hook = false in the configuration: the hook stays silent (and scans nothing).
deb_hook_switch_check() {
	ct_sh "cp /etc/dawgmon/dawgmond.toml /root/dawgmond.toml.orig && echo 'apt_hook = false' >>/etc/dawgmon/dawgmond.toml"
	local before after
	before=$(ct dawgctl --format json history --limit 1 2>/dev/null | grep -m1 -o '"id": *[0-9]*' || true)
	ct_sh "cd /root && DEBIAN_FRONTEND=noninteractive apt-get install -y --reinstall ./${TESTPKG}_1.0_all.deb" \
		>"$OUT/apt-reinstall-hook-off.log" 2>&1 || true
	after=$(ct dawgctl --format json history --limit 1 2>/dev/null | grep -m1 -o '"id": *[0-9]*' || true)
	ct_sh "cp /root/dawgmond.toml.orig /etc/dawgmon/dawgmond.toml"
	if ! grep -q '^dawgmon:' "$OUT/apt-reinstall-hook-off.log" && [[ -n $before && $before == "$after" ]]; then
		pass "apt_hook = false: hook silent" "no summary, no scan stored (newest scan $before)"
	else
		fail "apt_hook = false: hook silent" "newest scan $before → $after; see $OUT/apt-reinstall-hook-off.log"
	fi
}

# Remove keeps the configuration and the database; purge removes them; nothing else stays.
deb_remove_and_purge() {
	local left
	ct_sh "DEBIAN_FRONTEND=noninteractive apt-get remove -y dawgmon" >"$OUT/apt-remove.log" 2>&1 ||
		fail "apt-get remove dawgmon" "see $OUT/apt-remove.log"
	if ct test -e "$DB" && ct test -e /etc/dawgmon/dawgmond.toml && ! ct test -e /usr/bin/dawgctl; then
		pass "remove keeps config and database" "$DB, /etc/dawgmon/dawgmond.toml"
	else
		fail "remove keeps config and database" "$(ct ls -la /var/lib/dawgmon /etc/dawgmon 2>&1 | paste -sd' ' -)"
	fi
	# The hook file stays (a conffile) while dawgctl is gone: its guard must keep apt working.
	# The test package is purged on its own before (deb_testpkg_purge_check) unless that failed.
	local pkgs=dawgmon
	ct dpkg-query -W "$TESTPKG" >/dev/null 2>&1 && pkgs+=" $TESTPKG"
	if ct_sh "DEBIAN_FRONTEND=noninteractive apt-get purge -y $pkgs" \
		>"$OUT/apt-purge.log" 2>&1; then
		pass "apt-get purge $pkgs" "exit 0 (hook guarded after remove)"
	else
		fail "apt-get purge $pkgs" "see $OUT/apt-purge.log"
	fi
	left=$(ct find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /root -o -path /.dawgmon-recipe \) -prune \
		-o \( -name '*dawgmon*' -o -name 'dawgmond*' -o -name 'dawgctl*' -o -name 'zz-nspawn-*' \) \
		-print 2>/dev/null | paste -sd' ' -)
	if [[ -z $left ]]; then
		pass "purge leaves nothing" "no *dawgmon*, dawgctl*, dawgmond*, zz-nspawn-* file left (/root aside)"
	else
		fail "purge leaves nothing" "left: ${left:0:200}"
	fi
}
