#!/usr/bin/env bash
# Install what is needed, build, and run every test (unit, partner simulator,
# integration against a real PostgreSQL). Usage: tools/test.sh [meson test args]
# In CI (CI=true) warnings are errors.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/deps.sh

BUILD=${GF_BUILD_DIR:-build}
werror=false
[ "${CI:-}" = true ] && werror=true
if [ -f "$BUILD/build.ninja" ]; then
	meson configure "$BUILD" -Dwerror=$werror >/dev/null
else
	meson setup "$BUILD" -Dwerror=$werror >/dev/null
fi
ninja -C "$BUILD"
meson test -C "$BUILD" --print-errorlogs "$@"
