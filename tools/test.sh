#!/usr/bin/env bash
# Install what is needed, build, and run every test (unit, fuzz corpora,
# partner simulator, integration against a real PostgreSQL, the demo) twice:
# in a plain build (build/) and under AddressSanitizer + UndefinedBehavior-
# Sanitizer (build-asan/). GF_SANITIZE=0 skips the second pass. Extra
# arguments go to both 'meson test' calls. In CI (CI=true) warnings are errors.
# Both builds are test builds: -Dfault_injection=true compiles in the
# GUESTFLOW_FAULT hook the crash tests need (a release build has none).
#
# The plain pass also runs the Debian package test (the meson test `package`,
# tools/package-test.sh: builds the package from packaging/debian, installs,
# upgrades, removes and purges it on this machine, installing its build
# dependencies and lintian first), alone and last. GF_PACKAGE_TEST=1 runs it,
# 0 skips it; by default it runs when CI=true, or as root where apt-get and
# dpkg are (the README's "new machine, as root"), and is skipped otherwise.
# It also skips itself (fails when CI=true) where guestflow is installed
# already, and leaves the machine as it found it. The sanitizer pass leaves
# it out (the package is a production build).
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/deps.sh

if [ -z "${GF_PACKAGE_TEST:-}" ]; then
	GF_PACKAGE_TEST=0
	if [ "${CI:-}" = true ] ||
		{ [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && command -v dpkg >/dev/null; }; then
		GF_PACKAGE_TEST=1
	fi
fi
export GF_PACKAGE_TEST

werror=false
[ "${CI:-}" = true ] && werror=true

setup() { # DIR [meson options...]
	local dir=$1; shift
	if [ -f "$dir/build.ninja" ]; then
		meson configure "$dir" -Dwerror=$werror "$@" >/dev/null
	else
		meson setup "$dir" -Dwerror=$werror "$@" >/dev/null
	fi
	ninja -C "$dir"
}

status=0
setup build -Dfault_injection=true
meson test -C build --print-errorlogs "$@" || status=1

if [ "${GF_SANITIZE:-1}" != 0 ]; then
	setup build-asan -Dfault_injection=true -Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fno-sanitize-recover=all -Dbuildtype=debug
	# Sanitized code is slower: give every test twice its time.
	meson test -C build-asan --print-errorlogs --timeout-multiplier 2 --no-suite package "$@" || status=1
fi
exit $status
