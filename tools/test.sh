#!/usr/bin/env bash
# Install what is needed, build, and run every test (unit, fuzz corpora,
# partner simulator, integration against a real PostgreSQL, the demo) twice:
# in a plain build (build/) and under AddressSanitizer + UndefinedBehavior-
# Sanitizer (build-asan/). GF_SANITIZE=0 skips the second pass. Extra
# arguments go to both 'meson test' calls. In CI (CI=true) warnings are errors.
# Both builds are test builds: -Dfault_injection=true compiles in the
# GUESTFLOW_FAULT hook the crash tests need (a release build has none).
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/deps.sh

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
	meson test -C build-asan --print-errorlogs --timeout-multiplier 2 "$@" || status=1
fi
exit $status
