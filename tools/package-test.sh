#!/usr/bin/env bash
# The Debian package, end to end, on this machine (Debian 12, as root):
#   1. installs what the build needs (apt-get build-dep on packaging/debian,
#      lintian, man-db), after apt-get update, when something is missing;
#   2. copies the source (git ls-files, else the tree without build dirs) to a
#      temporary directory with debian -> packaging/debian and builds it:
#      dpkg-buildpackage -us -uc -b (DEB_BUILD_OPTIONS="nocheck parallel=2"),
#      with libmicrohttpd (test-only) hidden from pkg-config;
#   3. lintian: no error; every warning listed in README.md ("Installing the
#      Debian package", between the lintian markers) and every tag listed
#      there still reported, so that the README and lintian agree;
#   4. installs it and checks the disk: the files, the conffiles (everything
#      under /etc), the user and group guestflow (sysusers.d), /var/lib/guestflow
#      (0700 guestflow), no timer or service enabled, no cron file active, the
#      completion; `guestflow --version` (a production build), `man -w
#      guestflow`, `check-config` on the installed files (offline: it reads
#      files only), also as the user guestflow with the default path;
#   5. edits /etc/guestflow/guestflow.yaml, reinstalls the same package, then
#      upgrades to a rebuilt 0.1.0-2 whose job file changed upstream: the
#      local edit is kept, the job file updated, no .dpkg-* files;
#   6. dpkg -r: the program and units gone, /etc/guestflow (with the edit)
#      and /var/lib/guestflow kept; dpkg -P: both gone, also files the admin
#      or guestflow put there, and nothing else of the package left under
#      /etc /usr /var/lib (a file list before and after, without dpkg's and
#      apt's own databases and caches). The user stays (Debian policy).
# On exit, whatever happened: the package is purged if installed, the user
# removed if this script's install created it, the temporary directory
# removed - the machine is left as it was found.
#
# Refuses to run where guestflow is installed already (a package, or files in
# /usr/bin, /etc/guestflow, /var/lib/guestflow): it would replace and purge
# them. That refusal is a skip (exit 77), a failure when CI=true.
#
# Usage: tools/package-test.sh [--if-asked]
#   --if-asked  (the meson test `package`) run only when GF_PACKAGE_TEST=1,
#               else exit 77 (skipped); tools/test.sh decides (see there).
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
say() { printf '== %s\n' "$*"; }
ok() { printf 'ok: %s\n' "$*"; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
skip() { # refuse to run: a skip, a failure in CI
	if [ "${CI:-}" = true ]; then die "$*"; fi
	printf 'SKIP: %s\n' "$*"
	exit 77
}

if [ "${1:-}" = --if-asked ]; then
	[ "${GF_PACKAGE_TEST:-0}" = 1 ] || {
		echo "SKIP: the Debian package test runs when GF_PACKAGE_TEST=1 (tools/test.sh: as root with apt, or CI=true)"
		exit 77
	}
	shift
fi
[ $# -eq 0 ] || die "usage: tools/package-test.sh [--if-asked]"

[ "$(id -u)" = 0 ] || skip "needs root (apt-get, dpkg -i)"
command -v apt-get >/dev/null && command -v dpkg >/dev/null || skip "needs a Debian system (apt-get, dpkg)"
if [ "$(dpkg-query -W -f='${db:Status-Status}' guestflow 2>/dev/null || true)" != "" ] &&
	[ "$(dpkg-query -W -f='${db:Status-Status}' guestflow 2>/dev/null)" != not-installed ]; then
	skip "the package guestflow is on this machine already ($(dpkg-query -W -f='${db:Status-Abbrev}' guestflow)): not touching it"
fi
for p in /usr/bin/guestflow /etc/guestflow /var/lib/guestflow /etc/cron.d/guestflow; do
	[ ! -e "$p" ] || skip "$p exists already: guestflow is installed here, not touching it"
done

export DEBIAN_FRONTEND=noninteractive
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gf-package.XXXXXX")
user_existed=0
getent passwd guestflow >/dev/null && user_existed=1
group_existed=0
getent group guestflow >/dev/null && group_existed=1
cleanup() {
	local rc=$?
	set +e
	if [ "$(dpkg-query -W -f='${db:Status-Status}' guestflow 2>/dev/null)" ] &&
		[ "$(dpkg-query -W -f='${db:Status-Status}' guestflow 2>/dev/null)" != not-installed ]; then
		echo "cleanup: dpkg -P guestflow"
		timeout 120 dpkg -P guestflow >/dev/null 2>&1 || echo "cleanup: dpkg -P guestflow failed" >&2
	fi
	# The package leaves the user (policy); this test leaves the machine as it found it.
	if [ $user_existed = 0 ] && getent passwd guestflow >/dev/null; then
		userdel guestflow 2>/dev/null || echo "cleanup: userdel guestflow failed" >&2
	fi
	if [ $group_existed = 0 ] && getent group guestflow >/dev/null; then
		groupdel guestflow 2>/dev/null || echo "cleanup: groupdel guestflow failed" >&2
	fi
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. the source and what the build needs --------------------------------
say "source copy in $tmp/guestflow-0.1.0"
mkdir "$tmp/guestflow-0.1.0"
pkgsrc=$tmp/guestflow-0.1.0
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	# tracked and new (not ignored) files of the working tree, as they are now
	(cd "$src" && git ls-files -z -co --exclude-standard | xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' _ |
		tar --null -T - -cf -) | tar -xf - -C "$pkgsrc"
else
	(cd "$src" && tar --exclude='./build*' --exclude=./.demo --exclude=./bench/work --exclude=./.git -cf - .) |
		tar -xf - -C "$pkgsrc"
fi
[ ! -e "$pkgsrc/debian" ] || die "the source has a top-level debian/: packaging/debian is the one"
ln -s packaging/debian "$pkgsrc/debian"

need=()
command -v dpkg-checkbuilddeps >/dev/null && (cd "$pkgsrc" && dpkg-checkbuilddeps >/dev/null 2>&1) || need+=(build-dep)
for p in lintian man-db; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	say "installing ${need[*]}"
	timeout 600 apt-get update -q >"$tmp/apt.log" 2>&1 || { cat "$tmp/apt.log" >&2; die "apt-get update"; }
	timeout 900 apt-get build-dep -y -q -o APT::Install-Recommends=false "$pkgsrc" >>"$tmp/apt.log" 2>&1 ||
		{ tail -n 30 "$tmp/apt.log" >&2; die "apt-get build-dep $pkgsrc"; }
	timeout 900 apt-get install -y -q --no-install-recommends lintian man-db >>"$tmp/apt.log" 2>&1 ||
		{ tail -n 30 "$tmp/apt.log" >&2; die "apt-get install lintian man-db"; }
fi
# man -w finds pages through man-db's configuration; a minimal image may
# exclude /usr/share/man from dpkg (path-exclude): then the test cannot check it.
if grep -rqs '^path-exclude=/usr/share/man' /etc/dpkg/dpkg.cfg.d/; then
	die "dpkg excludes /usr/share/man here (/etc/dpkg/dpkg.cfg.d): man -w guestflow cannot be checked"
fi

build() { # the package from $pkgsrc, its .deb into $tmp
	local log=$1
	(cd "$pkgsrc" && DEB_BUILD_OPTIONS="nocheck parallel=2" timeout 900 dpkg-buildpackage -us -uc -b) >"$log" 2>&1 ||
		{ tail -n 40 "$log" >&2; die "dpkg-buildpackage failed (log above, $log)"; }
}

# --- 2. build ---------------------------------------------------------------
say "dpkg-buildpackage -us -uc -b"
SECONDS=0
# The test-only libmicrohttpd (the partner simulator) is installed here for
# the suite: this build does not see it, to show that the package needs no
# test-only package (pkg-config's directories without libmicrohttpd.pc).
mkdir "$tmp/pkgconfig"
IFS=: read -ra pc_dirs <<<"$(pkg-config --variable pc_path pkg-config)"
for d in "${pc_dirs[@]}"; do
	for f in "$d"/*.pc; do
		[ -e "$f" ] && [ "${f##*/}" != libmicrohttpd.pc ] && [ ! -e "$tmp/pkgconfig/${f##*/}" ] &&
			ln -s "$f" "$tmp/pkgconfig/"
	done
done
PKG_CONFIG_LIBDIR=$tmp/pkgconfig build "$tmp/build-1.log"
grep -q 'libmicrohttpd not found' "$tmp/build-1.log" ||
	die "the build saw libmicrohttpd: it was meant to build without the test-only packages"
deb=$tmp/guestflow_0.1.0-1_$(dpkg --print-architecture).deb
[ -f "$deb" ] || die "no $deb after the build: $(ls "$tmp")"
ok "built $(basename "$deb") in ${SECONDS}s"
# A production binary, nothing of the tests.
grep -q -- '-Dfault_injection=false' "$tmp/build-1.log" || die "the build was not configured with -Dfault_injection=false"
dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$tmp/contents"
if grep -E 'partner-sim|/tests?/|test_|fuzz' "$tmp/contents"; then
	die "test files in the package (above)"
fi

# --- 3. lintian -------------------------------------------------------------
say "lintian"
changes=$tmp/guestflow_0.1.0-1_$(dpkg --print-architecture).changes
timeout 300 lintian --display-info --pedantic "$changes" >"$tmp/lintian.txt" 2>"$tmp/lintian.err" || true
grep -v 'running with root privileges' "$tmp/lintian.err" >&2 || true
cat "$tmp/lintian.txt"
if grep -q '^E: ' "$tmp/lintian.txt"; then
	die "lintian reports errors (above)"
fi
# The warnings the README lists: "| `tag` | why |" rows between the markers.
sed -n '/<!-- lintian warnings: begin -->/,/<!-- lintian warnings: end -->/p' "$src/README.md" |
	sed -n 's/^| `\([a-z0-9][a-z0-9.+-]*\)` |.*/\1/p' | sort -u >"$tmp/lintian.documented"
grep -q '<!-- lintian warnings: end -->' "$src/README.md" || die "README.md lacks the lintian warnings markers"
sed -n 's/^W: [^ ]*: \([^ ]*\).*/\1/p' "$tmp/lintian.txt" | sort -u >"$tmp/lintian.warnings"
undocumented=$(comm -23 "$tmp/lintian.warnings" "$tmp/lintian.documented")
[ -z "$undocumented" ] || die "lintian warnings not listed in README.md (Installing the Debian package): $undocumented"
stale=$(comm -13 "$tmp/lintian.warnings" "$tmp/lintian.documented")
[ -z "$stale" ] || die "README.md lists lintian warnings that lintian no longer reports: $stale"
ok "lintian: no errors; warnings as README.md lists them: $(tr '\n' ' ' <"$tmp/lintian.warnings")"

# --- 4. install -------------------------------------------------------------
snapshot() { # the files under /etc /usr /var/lib, without dpkg's and apt's own
	{ find /etc /usr /var/lib -xdev \( -path /var/lib/dpkg -o -path /var/lib/apt -o -path /var/lib/ucf \
		-o -path /var/lib/man-db \) -prune -o -print 2>/dev/null || true; } | sort
}
snapshot >"$tmp/before"

say "install"
timeout 300 dpkg -i "$deb" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; die "dpkg -i $deb"; }
[ "$(dpkg-query -W -f='${db:Status-Abbrev}' guestflow)" = "ii " ] || die "guestflow not installed: $(dpkg-query -W -f='${db:Status-Abbrev}' guestflow)"
ok "dpkg -i $(basename "$deb")"
# New on disk: the package's files and directories and /var/lib/guestflow, nothing else.
snapshot >"$tmp/installed"
# (merged /usr: the package's /lib/... is found as /usr/lib/... too)
dpkg -L guestflow | sed -e p -e 's,^/\(lib\|bin\|sbin\)/,/usr/\1/,' | sort -u >"$tmp/package-paths"
# deb-systemd-helper's record of guestflow-purge.timer (its [Install]
# section; what to enable if the admin does, to be undone on purge): state,
# not an enabled unit, and gone with the purge (checked at the end).
dsh_state='^/var/lib/systemd/deb-systemd-helper-enabled(/guestflow[^/]*\.dsh-also)?$'
new=$(comm -13 "$tmp/before" "$tmp/installed" | comm -23 - "$tmp/package-paths" | grep -vx /var/lib/guestflow |
	grep -vE "$dsh_state" || true)
[ -z "$new" ] || die "the install made more than the package's files and /var/lib/guestflow:"$'\n'"$new"
ok "new on disk: the package's $(dpkg -L guestflow | wc -l) paths and /var/lib/guestflow, nothing else"

for f in /usr/bin/guestflow /etc/guestflow/guestflow.yaml /etc/guestflow/jobs.d/review-nightly.yaml \
	/lib/systemd/system/guestflow@.service /lib/systemd/system/guestflow@.timer \
	/usr/lib/sysusers.d/guestflow.conf /usr/lib/tmpfiles.d/guestflow.conf \
	/usr/share/man/man1/guestflow.1.gz /usr/share/bash-completion/completions/guestflow \
	/usr/share/guestflow/schemas/xsd/review-xml-1.xsd /usr/share/guestflow/schemas/sql/reference/pms.sql \
	/lib/systemd/system/guestflow-purge.service /lib/systemd/system/guestflow-purge.timer \
	/usr/share/man/man5/guestflow.yaml.5.gz /usr/share/man/man5/guestflow-job.5.gz \
	/usr/share/doc/guestflow/copyright; do
	[ -f "$f" ] || die "not installed: $f"
done
ok "installed files in place"

# Conffiles: every file the package has under /etc, and nothing else.
dpkg-query -W -f='${Conffiles}\n' guestflow | awk 'NF { print $1 }' | sort >"$tmp/conffiles"
dpkg -L guestflow | while IFS= read -r f; do if [[ $f == /etc/* && -f $f ]]; then echo "$f"; fi; done | sort >"$tmp/etcfiles"
[ -s "$tmp/conffiles" ] || die "no conffiles"
cmp -s "$tmp/conffiles" "$tmp/etcfiles" ||
	die "conffiles ($(tr '\n' ' ' <"$tmp/conffiles")) are not the package's files under /etc ($(tr '\n' ' ' <"$tmp/etcfiles"))"
ok "conffiles: $(tr '\n' ' ' <"$tmp/conffiles")"

# The program: a production build.
[ "$(command -v guestflow)" = /usr/bin/guestflow ] || die "guestflow on PATH is '$(command -v guestflow)', not /usr/bin/guestflow"
version=$(timeout 10 guestflow --version) || die "guestflow --version failed: $version"
[ "$(head -n1 <<<"$version")" = "guestflow 0.1.0" ] || die "guestflow --version: $version"
! grep -q 'test build' <<<"$version" || die "the packaged binary is a test build (GUESTFLOW_FAULT hook): $version"
grep -q '^libpq ' <<<"$version" || die "guestflow --version names no libraries: $version"
ok "guestflow --version: $(head -n1 <<<"$version"), production build"
manpage=$(man -w guestflow 2>&1) || die "man -w guestflow: $manpage"
[ "$manpage" = /usr/share/man/man1/guestflow.1.gz ] || die "man -w guestflow: $manpage"
ok "man -w guestflow: $manpage"
for page in guestflow.yaml guestflow-job; do
	manpage=$(man -w 5 "$page" 2>&1) || die "man -w 5 $page: $manpage"
	[ "$manpage" = "/usr/share/man/man5/$page.5.gz" ] || die "man -w 5 $page: $manpage"
done
ok "man -w 5 guestflow.yaml, guestflow-job: the generated pages"

# check-config reads the files only (no database): on the shipped files it
# lists the shipped job. Also as the service user, with the default path.
out=$(timeout 30 guestflow -c /etc/guestflow/guestflow.yaml check-config 2>&1) || die "check-config: $out"
grep -q '^job review-nightly: enabled' <<<"$out" || die "check-config does not list review-nightly: $out"
ok "guestflow -c /etc/guestflow/guestflow.yaml check-config: $(head -n1 <<<"$out")"
out=$(cd / && timeout 30 runuser -u guestflow -- env -u GUESTFLOW_CONFIG guestflow check-config 2>&1) ||
	die "check-config as the user guestflow, default path: $out"
ok "check-config as the user guestflow with the default main file"

# The user and group from sysusers.d, the state directory from tmpfiles.d.
pw=$(getent passwd guestflow) || die "no user guestflow"
IFS=: read -r _ _ uid gid _ home shell <<<"$pw"
[ "$uid" -lt 1000 ] || die "guestflow is not a system user (uid $uid)"
[ "$(getent group guestflow | cut -d: -f3)" = "$gid" ] || die "guestflow's primary group is not the group guestflow"
case $shell in */nologin | /bin/false) ;; *) die "guestflow has a login shell: $shell" ;; esac
ok "user guestflow: uid $uid, group guestflow, home $home, shell $shell"
[ "$(stat -c '%U:%G %a' /var/lib/guestflow)" = "guestflow:guestflow 700" ] ||
	die "/var/lib/guestflow is $(stat -c '%U:%G %a' /var/lib/guestflow), want guestflow:guestflow 700"
ok "/var/lib/guestflow: guestflow:guestflow 0700"

# Nothing enabled, nothing scheduled.
enabled=$(find /etc/systemd /var/lib/systemd -name 'guestflow*' ! -name '*.dsh-also' 2>/dev/null || true)
[ -z "$enabled" ] || die "units enabled or state left by the install: $enabled"
[ ! -e /etc/cron.d/guestflow ] || die "/etc/cron.d/guestflow is installed: nightly runs would start"
ok "no timer or service enabled (nothing under /etc/systemd), no /etc/cron.d/guestflow"

# The completion loads and completes.
out=$(bash -c 'source /usr/share/bash-completion/completions/guestflow && complete -p guestflow &&
	COMP_WORDS=(guestflow connection s) COMP_CWORD=2 && _guestflow && echo "${COMPREPLY[*]}"' 2>&1) ||
	die "the bash completion: $out"
grep -q 'set-partner-email set-credentials set-key show stop' <<<"$out" || die "the bash completion: $out"
ok "bash completion loads and completes"

# --- 5. upgrades keep a local edit -------------------------------------------
say "upgrade"
edit="# local edit by package-test.sh $$"
echo "$edit" >>/etc/guestflow/guestflow.yaml
timeout 300 dpkg -i "$deb" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; die "dpkg -i $deb again"; }
tail -n1 /etc/guestflow/guestflow.yaml | grep -qxF "$edit" || die "reinstalling the same version lost the edit of guestflow.yaml"
ok "reinstall of 0.1.0-1: the local edit of guestflow.yaml kept"

# 0.1.0-2: the job file changed upstream, guestflow.yaml not.
job_mark="# changed upstream in 0.1.0-2 (package-test.sh)"
echo "$job_mark" >>"$pkgsrc/jobs/review-nightly.yaml"
{
	printf 'guestflow (0.1.0-2) unstable; urgency=medium\n\n  * Rebuilt by tools/package-test.sh (upgrade test).\n\n'
	printf ' -- %s  %s\n\n' "$(sed -n 's/^Maintainer: //p' "$pkgsrc/debian/control")" "$(date -R)"
	cat "$pkgsrc/debian/changelog"
} >"$tmp/changelog" && cp "$tmp/changelog" "$pkgsrc/debian/changelog"
SECONDS=0
build "$tmp/build-2.log"
deb2=$tmp/guestflow_0.1.0-2_$(dpkg --print-architecture).deb
[ -f "$deb2" ] || die "no $deb2 after the second build"
ok "built $(basename "$deb2") in ${SECONDS}s"
timeout 300 dpkg -i "$deb2" >"$tmp/dpkg.log" 2>&1 </dev/null || { cat "$tmp/dpkg.log" >&2; die "dpkg -i $deb2 (upgrade)"; }
[ "$(dpkg-query -W -f='${Version}' guestflow)" = 0.1.0-2 ] || die "not upgraded: $(dpkg-query -W -f='${Version}' guestflow)"
tail -n1 /etc/guestflow/guestflow.yaml | grep -qxF "$edit" || die "the upgrade lost the local edit of guestflow.yaml"
tail -n1 /etc/guestflow/jobs.d/review-nightly.yaml | grep -qxF "$job_mark" || die "the upgrade did not update the unedited job file"
left=$(find /etc/guestflow -name '*.dpkg-*' -o -name '*.ucf-*')
[ -z "$left" ] || die "conffile prompts' leftovers: $left"
ok "upgrade to 0.1.0-2: the local edit kept, the unchanged-here job file updated, no .dpkg-* files"

# --- 6. remove, purge ---------------------------------------------------------
say "remove"
# What an admin and guestflow add: more files in both directories.
install -m 0600 /dev/null /etc/guestflow/pgpass
head -c 32 /dev/urandom | install -m 0600 -o guestflow -g guestflow /dev/stdin /var/lib/guestflow/secrets.key
timeout 300 dpkg -r guestflow >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; die "dpkg -r guestflow"; }
[ "$(dpkg-query -W -f='${db:Status-Abbrev}' guestflow)" = "rc " ] || die "after dpkg -r: $(dpkg-query -W -f='${db:Status-Abbrev}' guestflow)"
for f in /usr/bin/guestflow /lib/systemd/system/guestflow@.service /lib/systemd/system/guestflow@.timer \
	/lib/systemd/system/guestflow-purge.service /lib/systemd/system/guestflow-purge.timer \
	/usr/share/man/man5/guestflow.yaml.5.gz /usr/share/guestflow /usr/share/man/man1/guestflow.1.gz /usr/share/bash-completion/completions/guestflow; do
	[ ! -e "$f" ] || die "after dpkg -r, $f is still there"
done
tail -n1 /etc/guestflow/guestflow.yaml | grep -qxF "$edit" || die "after dpkg -r, the edited guestflow.yaml is gone or changed"
[ -f /etc/guestflow/jobs.d/review-nightly.yaml ] || die "after dpkg -r, the job file is gone"
[ -f /var/lib/guestflow/secrets.key ] || die "after dpkg -r, /var/lib/guestflow/secrets.key is gone"
snapshot >"$tmp/removed"
new=$(comm -13 "$tmp/before" "$tmp/removed" | grep -vE '^(/etc/guestflow|/var/lib/guestflow)(/|$)' |
	grep -vE "$dsh_state" || true)
[ -z "$new" ] || die "after dpkg -r, more is left than /etc/guestflow and /var/lib/guestflow:"$'\n'"$new"
ok "dpkg -r: the program, units, data gone; /etc/guestflow (edited) and /var/lib/guestflow kept, nothing else left"

say "purge"
timeout 300 dpkg -P guestflow >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log" >&2; die "dpkg -P guestflow"; }
! dpkg-query -W -f='${db:Status-Status}' guestflow 2>/dev/null | grep -qv not-installed ||
	die "after dpkg -P: $(dpkg-query -W -f='${db:Status-Abbrev}' guestflow)"
[ ! -e /etc/guestflow ] || die "after dpkg -P, /etc/guestflow is still there: $(find /etc/guestflow)"
[ ! -e /var/lib/guestflow ] || die "after dpkg -P, /var/lib/guestflow is still there: $(find /var/lib/guestflow)"
getent passwd guestflow >/dev/null || die "dpkg -P removed the user guestflow (policy: users stay)"
snapshot >"$tmp/after"
new=$(comm -13 "$tmp/before" "$tmp/after")
gone=$(comm -23 "$tmp/before" "$tmp/after")
[ -z "$new" ] || die "after dpkg -P, new under /etc /usr /var/lib:"$'\n'"$new"
[ -z "$gone" ] || die "after dpkg -P, gone from /etc /usr /var/lib:"$'\n'"$gone"
ok "dpkg -P: /etc/guestflow and /var/lib/guestflow gone, nothing else left or taken; the user guestflow stays"

echo "package test passed"
