#!/usr/bin/env bash
# Packaging test: `meson install` into a temporary DESTDIR, then check
#   (a) every file is installed where it belongs, and nothing elsewhere; the
#       installed configuration passes check-config with its jobs.d;
#   (b) the systemd units pass `systemd-analyze verify` (ExecStart pointed at
#       the DESTDIR binary), agree with the job (schedule, stop_timeout), and
#       the sysusers.d file is accepted by systemd-sysusers, the tmpfiles.d
#       file makes the key file's directory for that user;
#   (c) the man pages render without a groff warning;
#   (d) the cron file parses: 5 valid time fields, the user, the command,
#       bounded like the unit, keeping guestflow's exit status.
# Needs: bash, python3, systemd (systemd-analyze, systemd-sysusers),
# groff-base (groff). A missing tool fails the test when CI=true; otherwise
# the checks that need it are skipped and the test exits 77 (skipped) after
# running all the others.
#
# Usage: test_packaging.sh SOURCE_ROOT BUILD_ROOT
set -euo pipefail

src=${1:?usage: test_packaging.sh SOURCE_ROOT BUILD_ROOT}
build=${2:?usage: test_packaging.sh SOURCE_ROOT BUILD_ROOT}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gf-packaging.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
missing=()
have() { # TOOL DEBIAN_PACKAGE: true if TOOL is there, else note it
	if command -v "$1" >/dev/null 2>&1; then
		return 0
	fi
	missing+=("$1 (Debian package $2)")
	echo "missing: $1 (Debian package $2)" >&2
	return 1
}

# --- the build's install locations, from its options ---------------------
opts=$(meson introspect "$build" --buildoptions | python3 -c '
import json, os, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
p = o["prefix"]
for k in ("bindir", "sysconfdir", "mandir", "datadir"):
    print(k, os.path.join(p, o[k]))
print("prefix", p)')
opt() { awk -v k="$1" '$1 == k { print $2 }' <<<"$opts"; }
prefix=$(opt prefix)
bindir=$(opt bindir)
sysconfdir=$(opt sysconfdir)
mandir=$(opt mandir)
datadir=$(opt datadir)
# Same rule as packaging/meson.build: systemd.pc's directories under our prefix.
unitdir=$prefix/lib/systemd/system
sysusersdir=$prefix/lib/sysusers.d
tmpfilesdir=$prefix/lib/tmpfiles.d
completionsdir=$datadir/bash-completion/completions
if pkg-config --exists bash-completion 2>/dev/null; then
	d=$(pkg-config --define-variable="datadir=$datadir" --variable=completionsdir bash-completion)
	[[ $d == "$prefix"/* ]] && completionsdir=$d
fi
if pkg-config --exists systemd 2>/dev/null; then
	for v in root_prefix prefix; do
		d=$(pkg-config --define-variable="$v=$prefix" --variable=systemd_system_unit_dir systemd)
		if [[ $d == "$prefix"/* ]]; then unitdir=$d; break; fi
	done
	for v in prefix root_prefix; do
		d=$(pkg-config --define-variable="$v=$prefix" --variable=sysusers_dir systemd)
		if [[ $d == "$prefix"/* ]]; then sysusersdir=$d; break; fi
	done
	for v in prefix root_prefix; do
		d=$(pkg-config --define-variable="$v=$prefix" --variable=tmpfiles_dir systemd)
		if [[ $d == "$prefix"/* ]]; then tmpfilesdir=$d; break; fi
	done
fi
echo "prefix=$prefix bindir=$bindir sysconfdir=$sysconfdir unitdir=$unitdir sysusersdir=$sysusersdir"

# --- (a) install and the layout -------------------------------------------
dest=$tmp/dest
meson install -C "$build" --destdir "$dest" --no-rebuild --quiet >"$tmp/install.log" 2>&1 || {
	cat "$tmp/install.log" >&2
	echo "FAIL: meson install --destdir failed" >&2
	exit 1
}

bin=$dest$bindir/guestflow
cfg=$dest$sysconfdir/guestflow/guestflow.yaml
job=$dest$sysconfdir/guestflow/jobs.d/review-nightly.yaml
service=$dest$unitdir/guestflow@.service
timer=$dest$unitdir/guestflow@.timer
purge_service=$dest$unitdir/guestflow-purge.service
purge_timer=$dest$unitdir/guestflow-purge.timer
sysusers=$dest$sysusersdir/guestflow.conf
tmpfiles=$dest$tmpfilesdir/guestflow.conf
man=$dest$mandir/man1/guestflow.1
man5_main=$dest$mandir/man5/guestflow.yaml.5
man5_job=$dest$mandir/man5/guestflow-job.5
completion=$dest$completionsdir/guestflow
expected=("$bin" "$cfg" "$job" "$service" "$timer" "$purge_service" "$purge_timer" "$sysusers" "$tmpfiles" "$man"
	"$man5_main" "$man5_job" "$completion"
	"$dest$datadir/guestflow/schemas/xsd/review-xml-1.xsd"
	"$dest$datadir/guestflow/schemas/sql/reference/pms.sql"
	"$dest$datadir/guestflow/schemas/sql/reference/adapters.sql"
	"$dest$datadir/guestflow/schemas/sql/reference/adapter_properties.sql")
for f in "${expected[@]}"; do
	[ -f "$f" ] && ok "installed ${f#"$dest"}" || fail "not installed: ${f#"$dest"}"
done
[ -x "$bin" ] || fail "${bin#"$dest"} is not executable"
[ -e "$dest$sysconfdir/guestflow/jobs" ] && fail "jobs installed to ${sysconfdir}/guestflow/jobs, not jobs.d"

# Nothing outside the expected places (a stray test program, a wrong dir).
while IFS= read -r f; do
	case $f in
	"$bin" | "$cfg" | "$service" | "$timer" | "$purge_service" | "$purge_timer" | "$sysusers" | "$tmpfiles" | "$man" | \
		"$man5_main" | "$man5_job" | "$completion") ;;
	"$dest$sysconfdir/guestflow/jobs.d/"*.yaml) ;;
	"$dest$datadir/guestflow/schemas/"*) ;;
	*) fail "unexpected installed file ${f#"$dest"}" ;;
	esac
done < <(find "$dest" -type f -o -type l)

# Installed files must have had their @VARIABLES@ substituted.
if grep -n '@[A-Z_]*@' "$service" "$timer" "$purge_service" "$purge_timer" "$sysusers" "$man" "$completion"; then
	fail "unsubstituted @VARIABLE@ in an installed file"
fi

grep -qxF "_guestflow_default_config=$sysconfdir/guestflow/guestflow.yaml" "$completion" ||
	fail "the bash completion does not name $sysconfdir/guestflow/guestflow.yaml as the default main file"

# The binary's compiled-in default is where the main file was installed, and
# that file finds its jobs (jobs_dir: jobs.d, relative to it).
# (the help read whole first: grep -q would stop reading at the match, and
# under pipefail the writer's SIGPIPE would fail the check)
help=$("$bin" --help)
grep -qF "else $sysconfdir/guestflow/guestflow.yaml)" <<<"$help" ||
	fail "guestflow --help does not name $sysconfdir/guestflow/guestflow.yaml as its default"
if out=$("$bin" -c "$cfg" check-config 2>&1); then
	grep -q '^job review-nightly: enabled' <<<"$out" && ok "installed configuration: $(head -n1 <<<"$out")" ||
		fail "check-config on the installed configuration does not list review-nightly: $out"
else
	fail "check-config on the installed configuration failed: $out"
fi

# --- (b) systemd units -----------------------------------------------------
unit_value() { # FILE KEY: the last value of KEY= in FILE
	sed -n "s/^$2=//p" "$1" | tail -n1
}
seconds() { # systemd or guestflow duration (30s, 1min, 2h, 10m, 500ms) -> s
	python3 -c '
import re, sys
units = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
total = 0.0
for n, u in re.findall(r"(\d+)\s*([a-z]*)", sys.argv[1]):
    total += int(n) * units[u or "s"]
print(int(total))' "$1"
}

[ "$(unit_value "$service" ExecStart)" = "$bindir/guestflow run %i" ] ||
	fail "ExecStart is '$(unit_value "$service" ExecStart)', want '$bindir/guestflow run %i'"
# after each run, whatever its result: the purge, then the partners' events
[ "$(sed -n 's/^ExecStopPost=//p' "$service" | tr '\n' '|')" = "-$bindir/guestflow purge %i|-$bindir/guestflow pull %i|" ] ||
	fail "ExecStopPost is '$(sed -n 's/^ExecStopPost=//p' "$service" | tr '\n' '|')', want '-$bindir/guestflow purge %i' then '-$bindir/guestflow pull %i'"
[ "$(unit_value "$service" LoadCredential)" = "pgpass:$sysconfdir/guestflow/pgpass" ] ||
	fail "LoadCredential is '$(unit_value "$service" LoadCredential)'"
for want in Type=oneshot User=guestflow Group=guestflow ProtectSystem=strict PrivateTmp=yes \
	NoNewPrivileges=yes ProtectHome=yes PrivateDevices=yes 'Environment=PGPASSFILE=%t/guestflow-%i/pgpass' \
	'ExecStartPre=/usr/bin/install -m 0600 %d/pgpass %t/guestflow-%i/pgpass' \
	'Environment=GUESTFLOW_TRIGGER=timer' SyslogIdentifier=guestflow KillSignal=SIGTERM \
	'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' SystemCallFilter=@system-service \
	LimitCORE=0 StateDirectory=guestflow StateDirectoryMode=0700; do
	grep -qxF "$want" "$service" || fail "guestflow@.service lacks $want"
done
# The shipped key file lies in the unit's StateDirectory= (writable there
# under ProtectSystem=strict, owned by the service user).
key_file=$(sed -n 's/^  key_file: *//p' "$cfg")
[ "$key_file" = "/var/lib/$(unit_value "$service" StateDirectory)/secrets.key" ] ||
	fail "secrets.key_file '$key_file' is not in the unit's StateDirectory=/var/lib/$(unit_value "$service" StateDirectory)"
grep -q 'GF_SECRETS_KEY_FILE_DEFAULT "'"$key_file"'"' "$src/src/core/config.h" ||
	fail "the shipped secrets.key_file '$key_file' is not the built-in default (src/core/config.h)"
for want in 'Unit=guestflow@%i.service' Persistent=true; do
	grep -qxF "$want" "$timer" || fail "guestflow@.timer lacks $want"
done

# One schedule: the timer has none of its own; 'guestflow timers' writes the
# job's into a drop-in, and check-config notices when it is changed by hand.
schedule=$(sed -n 's/^schedule: *"\(.*\)"$/\1/p' "$job")
[ -n "$schedule" ] || fail "no schedule in ${job#"$dest"}"
grep -q '^OnCalendar' "$timer" && fail "guestflow@.timer has an OnCalendar= of its own (the job file's schedule: is the one)"
mkdir "$tmp/units"
if out=$("$bin" -c "$cfg" timers --unit-dir "$tmp/units" 2>&1); then
	dropin=$tmp/units/guestflow@review-nightly.timer.d/guestflow-schedule.conf
	[ "$(sed -n 's/^OnCalendar=//p' "$dropin" | tr '\n' '|')" = "|$schedule|" ] &&
		ok "guestflow timers: the drop-in clears OnCalendar= and sets the job's schedule '$schedule'" ||
		fail "guestflow timers wrote: $(cat "$dropin")"
	out=$("$bin" -c "$cfg" check-config --unit-dir "$tmp/units" --cron "$tmp/no-cron" 2>&1)
	grep -q 'warning' <<<"$out" && fail "check-config warns about the drop-in guestflow timers wrote: $out"
	sed -i 's/^OnCalendar=\*.*/OnCalendar=*-*-* 05:00:00/' "$dropin"
	out=$("$bin" -c "$cfg" check-config --unit-dir "$tmp/units" --cron "$tmp/no-cron" 2>&1)
	grep -q "warning: guestflow@review-nightly.timer runs at '\*-\*-\* 05:00:00'" <<<"$out" &&
		ok "check-config: a drop-in changed by hand is a warning" || fail "check-config did not notice: $out"
	"$bin" -c "$cfg" timers --unit-dir "$tmp/units" >/dev/null
else
	fail "guestflow timers failed: $out"
fi
[ "$(unit_value "$purge_service" ExecStart)" = "$bindir/guestflow log --purge" ] ||
	fail "guestflow-purge.service's last ExecStart is '$(unit_value "$purge_service" ExecStart)'"
for want in User=guestflow ProtectSystem=strict NoNewPrivileges=yes 'Environment=PGPASSFILE=%t/guestflow-purge/pgpass'; do
	grep -qxF "$want" "$purge_service" || fail "guestflow-purge.service lacks $want"
done
stop_timeout=$(sed -n 's/^stop_timeout: *//p' "$job")
stop_sec=$(seconds "${stop_timeout:-30s}")
unit_stop_sec=$(seconds "$(unit_value "$service" TimeoutStopSec)")
[ "$unit_stop_sec" -gt "$stop_sec" ] ||
	fail "TimeoutStopSec (${unit_stop_sec}s) must exceed the job's stop_timeout (${stop_sec}s)"

if have systemd-analyze systemd; then
	# verify needs ExecStart to exist: a copy of the units with the DESTDIR
	# binary, instantiated (from the templates in the same directory) as the
	# shipped job. The man: reference is resolved against the installed page.
	sed -e "s|^ExecStart=$bindir/guestflow |ExecStart=$bin |" -e "s|^ExecStopPost=-$bindir/guestflow |ExecStopPost=-$bin |" \
		"$service" >"$tmp/units/guestflow@.service"
	cp "$timer" "$tmp/units/guestflow@.timer"
	sed -e "s|^ExecStart=$bindir/guestflow |ExecStart=$bin |" "$purge_service" >"$tmp/units/guestflow-purge.service"
	cp "$purge_timer" "$tmp/units/guestflow-purge.timer"
	grep -q "^ExecStart=$bin run %i\$" "$tmp/units/guestflow@.service" || fail "could not point ExecStart at $bin"
	man_check=--man=no
	command -v man >/dev/null 2>&1 && man_check=--man=yes
	if out=$(cd "$tmp/units" && MANPATH=$dest$mandir systemd-analyze verify "$man_check" \
		"$tmp/units/guestflow@review-nightly.service" "$tmp/units/guestflow@review-nightly.timer" \
		"$tmp/units/guestflow-purge.service" "$tmp/units/guestflow-purge.timer" 2>&1) &&
		[ -z "$out" ]; then
		ok "systemd-analyze verify ($man_check): guestflow@review-nightly.service, .timer (with its drop-in), guestflow-purge.service, .timer"
	else
		fail "systemd-analyze verify:"$'\n'"$out"
	fi
	# The same checks must catch a broken unit (the test tests something).
	sed 's|^ProtectSystem=strict|ProtectSystem=strict\nNoSuchKey=1|' "$tmp/units/guestflow@.service" >"$tmp/units/broken@.service"
	out=$(cd "$tmp/units" && systemd-analyze verify --man=no "$tmp/units/broken@x.service" 2>&1) || true
	grep -q NoSuchKey <<<"$out" || fail "systemd-analyze verify did not report an unknown key: $out"
fi
if have systemd-sysusers systemd; then
	mkdir -p "$tmp/root/etc"
	if out=$(systemd-sysusers --root="$tmp/root" "$sysusers" 2>&1) &&
		grep -q '^guestflow:x:[0-9]*:[0-9]*:' "$tmp/root/etc/passwd" &&
		grep -q '^guestflow:x:[0-9]*:' "$tmp/root/etc/group"; then
		ok "systemd-sysusers creates user and group guestflow"
	else
		fail "systemd-sysusers on ${sysusers#"$dest"}: $out"
	fi
	# The key file's directory, owned by that user, private.
	key_dir=$(dirname "$(sed -n 's/^  key_file: *//p' "$cfg")")
	if have systemd-tmpfiles systemd &&
		out=$(systemd-tmpfiles --root="$tmp/root" --create "$tmpfiles" 2>&1); then
		uid=$(awk -F: '$1 == "guestflow" { print $3 }' "$tmp/root/etc/passwd")
		got=$(stat -c '%u %a' "$tmp/root$key_dir" 2>&1) || true
		[ "$got" = "$uid 700" ] && ok "systemd-tmpfiles makes $key_dir, owner guestflow, mode 700" ||
			fail "systemd-tmpfiles on ${tmpfiles#"$dest"}: $key_dir is '$got', want '$uid 700' $out"
	elif command -v systemd-tmpfiles >/dev/null 2>&1; then
		fail "systemd-tmpfiles on ${tmpfiles#"$dest"}: $out"
	fi
fi

# --- (c) the man pages -----------------------------------------------------
# (That guestflow(1) covers --help and guestflow.yaml(5), guestflow-job(5)
# every key is checked when they are built, by tools/mkman.py, and by
# tests/docs/test_docs.py.)
if have groff groff-base; then
	for m in "$man" "$man5_main" "$man5_job"; do
		if out=$(LC_ALL=C.UTF-8 groff -man -ww -z -Tutf8 "$m" 2>&1) && [ -z "$out" ]; then
			ok "groff -man -ww ${m##*/}: no warnings"
		else
			fail "groff -man -ww on ${m##*/}:"$'\n'"$out"
		fi
	done
fi

# --- (d) the cron file -----------------------------------------------------
# None is installed: 'guestflow timers --cron' writes it from the job files.
# The one it writes for the installed configuration, checked as cron reads it.
cron=$tmp/cron.d/guestflow
mkdir -p "$tmp/cron.d"
"$bin" -c "$cfg" timers --cron "$cron" >/dev/null || fail "guestflow timers --cron failed"
mode=$(stat -c %a "$cron")
[ "$mode" = 644 ] || fail "cron file mode $mode, cron wants 644 (never group/world-writable)"
cron_field() { # VALUE MIN MAX [NAMES]: a valid crontab(5) time field?
	local v=$1 min=$2 max=$3 names=${4:-} item base step a b items
	IFS=, read -ra items <<<"$v"
	for item in "${items[@]}"; do
		base=${item%%/*} step=
		[[ $item == */* ]] && step=${item#*/}
		if [ -n "$step" ] && ! [[ $step =~ ^[0-9]+$ && $step -ge 1 ]]; then return 1; fi
		[ "$base" = '*' ] && continue
		if [ -n "$names" ] && [[ " $names " == *" ${base,,} "* ]]; then continue; fi
		[[ $base =~ ^([0-9]+)(-([0-9]+))?$ ]] || return 1
		a=${BASH_REMATCH[1]} b=${BASH_REMATCH[3]:-${BASH_REMATCH[1]}}
		((10#$a >= min && 10#$b <= max && 10#$a <= 10#$b)) || return 1
	done
	[ -n "$v" ]
}
[ -z "$(tail -c1 "$cron")" ] || fail "cron file does not end in a newline (cron ignores such a last line)"
[[ $(basename "$cron") == *.* ]] && fail "cron.d file name contains a dot (cron would ignore it)"
cron_user=$(awk '$1 == "u" { print $2 }' "$sysusers")
entries=0
cron_cmds=()
while IFS= read -r line || [ -n "$line" ]; do
	[[ $line =~ ^[[:space:]]*(#|$) ]] && continue
	[[ $line =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] && continue
	read -r m h dom mon dow user cmd <<<"$line"
	entries=$((entries + 1))
	cron_field "$m" 0 59 || fail "cron minute '$m': $line"
	cron_field "$h" 0 23 || fail "cron hour '$h': $line"
	cron_field "$dom" 1 31 || fail "cron day of month '$dom': $line"
	cron_field "$mon" 1 12 "jan feb mar apr may jun jul aug sep oct nov dec" || fail "cron month '$mon': $line"
	cron_field "$dow" 0 7 "sun mon tue wed thu fri sat" || fail "cron day of week '$dow': $line"
	[ "$user" = "$cron_user" ] || fail "cron user '$user', the sysusers.d user is '$cron_user': $line"
	# timeout --preserve-status --kill-after=STOP LIMIT guestflow run JOB ...
	# (the installed main file is not at the default path: each line names it)
	cmd=${cmd//" -c '$(realpath "$cfg")'"/}
	if [[ $cmd =~ ^timeout\ --preserve-status\ --kill-after=([0-9]+[smh]?)\ ([0-9]+[smh]?)\ guestflow\ (purge|pull|log\ --purge)( |$) ]]; then
		# guestflow purge, log --purge and pull: the same bounds
		[ "${BASH_REMATCH[2]}" = "$(awk -F= '$1 == "TimeoutStartSec" { print $2 }' "$service")" ] ||
			fail "cron ${BASH_REMATCH[3]} bound ${BASH_REMATCH[2]} differs from the unit's TimeoutStartSec"
		cron_cmds+=("$cmd")
	elif [[ $cmd =~ ^timeout\ --preserve-status\ --kill-after=([0-9]+[smh]?)\ ([0-9]+[smh]?)\ guestflow\ run\ ([a-z0-9_-]+)( |$) ]]; then
		ckill=${BASH_REMATCH[1]} climit=${BASH_REMATCH[2]} cjob=${BASH_REMATCH[3]}
		# The same bounds as the systemd unit's.
		unit_start=$(awk -F= '$1 == "TimeoutStartSec" { print $2 }' "$service")
		unit_stop=$(awk -F= '$1 == "TimeoutStopSec" { print $2 }' "$service")
		[ "$climit" = "$unit_start" ] || fail "cron run bound $climit, the unit's TimeoutStartSec is $unit_start"
		[ "$ckill" = "$unit_stop" ] || fail "cron kill-after $ckill, the unit's TimeoutStopSec is $unit_stop"
		cron_cmds+=("$cmd")
		[ -f "$dest$sysconfdir/guestflow/jobs.d/$cjob.yaml" ] || fail "cron runs job '$cjob', not installed"
		# The shipped job's schedule "*-*-* HH:MM:SS" is "MM HH * * *" in cron.
		if [ "$cjob" = review-nightly ] && [[ $schedule =~ ^\*-\*-\*\ ([0-9]+):([0-9]+):00$ ]]; then
			[ "$((10#$m)) $((10#$h)) $dom $mon $dow" = \
				"$((10#${BASH_REMATCH[2]})) $((10#${BASH_REMATCH[1]})) * * *" ] ||
				fail "cron time '$m $h $dom $mon $dow' differs from the job's schedule '$schedule'"
		fi
	else
		fail "cron command is not 'timeout --preserve-status --kill-after=T LIMIT guestflow run JOB ...': $cmd"
	fi
done <"$cron"
# The command keeps guestflow's exit status and logs its output: run each
# one as cron would (its SHELL, -c), with a stand-in guestflow that prints a
# line and exits 75, and a stand-in logger that keeps what it reads.
cron_shell=$(awk -F= '$1 == "SHELL" { print $2 }' "$cron")
fake=$tmp/cron-bin
mkdir -p "$fake"
printf '#!/bin/sh\necho "summary line exit=75"\necho "a log line" >&2\nexit 75\n' >"$fake/guestflow"
printf '#!/bin/sh\n[ "$1 $2" = "-t guestflow" ] || exit 9\ncat >>"%s"\n' "$tmp/cron-syslog" >"$fake/logger"
chmod +x "$fake/guestflow" "$fake/logger"
for c in "${cron_cmds[@]}"; do
	: >"$tmp/cron-syslog"
	rc=0
	PATH=$fake:$PATH timeout 30 "${cron_shell:-/bin/sh}" -c "$c" </dev/null >"$tmp/cron-out" 2>&1 || rc=$?
	[ "$rc" = 75 ] && ok "cron command keeps guestflow's exit status (75)" ||
		fail "cron command exited $rc where guestflow exited 75: $c"
	[ -s "$tmp/cron-out" ] && fail "cron command printed to cron instead of syslog: $(head -c 200 "$tmp/cron-out")"
	for _ in $(seq 50); do grep -q 'a log line' "$tmp/cron-syslog" && break; sleep 0.1; done
	grep -q 'summary line exit=75' "$tmp/cron-syslog" && grep -q 'a log line' "$tmp/cron-syslog" &&
		ok "cron command logs stdout and stderr through logger -t guestflow" ||
		fail "cron command's output did not reach logger: $(cat "$tmp/cron-syslog")"
done
[ "$entries" -ge 1 ] && ok "cron file: $entries entr$([ "$entries" = 1 ] && echo y || echo ies)" ||
	fail "cron file has no entry"
# The checker must reject what cron rejects.
for bad in '60 3 * * *' '15 24 * * *' '15 3 0 * *' '15 3 * 13 *' '15 3 * * 8' '15 3 * *' '*/0 3 * * *' 'x 3 * * *'; do
	read -r m h dom mon dow <<<"$bad"
	if cron_field "$m" 0 59 && cron_field "$h" 0 23 && cron_field "$dom" 1 31 &&
		cron_field "$mon" 1 12 "jan feb mar apr may jun jul aug sep oct nov dec" &&
		cron_field "$dow" 0 7 "sun mon tue wed thu fri sat"; then
		fail "cron field check accepts '$bad'"
	fi
done

# --- verdict ---------------------------------------------------------------
if [ "$failures" -gt 0 ]; then
	echo "$failures check(s) failed" >&2
	exit 1
fi
if [ ${#missing[@]} -gt 0 ]; then
	if [ "${CI:-}" = true ]; then
		echo "FAIL: CI=true and tools are missing: ${missing[*]}" >&2
		exit 1
	fi
	echo "SKIP: some checks not run, missing: ${missing[*]}"
	exit 77
fi
echo "all packaging checks passed"
