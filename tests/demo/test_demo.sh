#!/usr/bin/env bash
# The README's first command, tools/demo.sh, on the binaries meson built: a
# fresh run delivers the demo's eligible guests, a second run sends nothing,
# and no server is left running.
set -euo pipefail
src=$1
export GF_GUESTFLOW=$2 GF_PARTNER_SIM=$3
dir=$(mktemp -d /tmp/gf-demo-test.XXXXXX)
chmod 755 "$dir"
export GF_DEMO_DIR=$dir/d
trap 'bash "$src/tools/pgctl.sh" stop "$dir/d/pg" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT

fail() { echo "FAIL: $*"; exit 1; }

bash "$src/tools/demo.sh" --fresh >"$dir/first.log" 2>&1 || { cat "$dir/first.log"; fail "first demo run exited $?"; }
grep -q '^review-nightly: run 1 eligible=210 new=210 delivered=200 rejected=10 retried=0 dead=0 pending=0 ' "$dir/first.log" \
	|| { cat "$dir/first.log"; fail "first run summary"; }
grep -q 'first_name: control character U+0007' "$dir/first.log" || fail "rejection reasons shown"
grep -q 'Guest data sent to reviewhub for a review invitation' "$dir/first.log" || fail "history entries shown"
grep -Eq ' 200 .* accepted .*\?id=H-10[0-9][0-9]$' "$dir/first.log" || fail "API-call log shown (guestflow log)"
grep -q '^job review-nightly (enabled, partner reviewhub)$' "$dir/first.log" || fail "guestflow status shown"
grep -Eq '^  delivery to P[0-9]+: delivered at ' "$dir/first.log" || fail "explain of a delivered guest shown"
grep -q '^    reason: first_name: control character U+0007' "$dir/first.log" || fail "explain of a refused guest shown"
grep -q '^survey-nightly: run [0-9]* eligible=210 new=210 delivered=200 rejected=10 retried=0 dead=0 pending=0 ' "$dir/first.log" \
	|| { cat "$dir/first.log"; fail "first guest-json run summary"; }
grep -Eq ' 200 .* accepted .*/properties/SV-20[0-9][0-9]/guests$' "$dir/first.log" || fail "guest-json API calls shown"
[ "$(grep -vc '"format":"guest-json"' "$dir/d/partner-received.jsonl")" = 200 ] || fail "reviewhub received 200 guests"
[ "$(grep -c '"format":"guest-json"' "$dir/d/partner-received.jsonl")" = 200 ] || fail "surveyhub received 200 guests"

bash "$src/tools/demo.sh" >"$dir/second.log" 2>&1 || { cat "$dir/second.log"; fail "second demo run exited $?"; }
grep -q '^review-nightly: run [0-9]* eligible=210 new=0 delivered=0 ' "$dir/second.log" || { cat "$dir/second.log"; fail "second run summary"; }
grep -q 'nothing was sent twice' "$dir/second.log" || fail "rerun explained"
grep -q '^survey-nightly: run [0-9]* eligible=210 new=0 delivered=0 ' "$dir/second.log" || { cat "$dir/second.log"; fail "second guest-json run summary"; }
[ "$(wc -l <"$dir/d/partner-received.jsonl")" = 400 ] || fail "no guest sent twice"
[ ! -f "$dir/d/pg/data/postmaster.pid" ] || fail "PostgreSQL left running"
echo "ok: demo delivered 200 to each of two platforms (review-xml, guest-json), rejected 10 each, and sent nothing on the second run"
