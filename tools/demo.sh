#!/usr/bin/env bash
# The embedded default: from a fresh Debian machine to a finished nightly
# review export. Installs what is missing, builds, starts a throwaway
# PostgreSQL in a local directory with the reference PMS schema and a few
# hundred demo bookings, starts the partner simulator, runs the job
# review-nightly (review-xml) and survey-nightly (guest-json, a second
# platform served from the same database) and shows what happened. Running
# it again shows that nothing is sent twice.
#
#   tools/demo.sh            run (reusing the demo database if it exists)
#   tools/demo.sh --fresh    start over with a new database
#   tools/demo.sh --keep     leave PostgreSQL running afterwards, to explore
#   tools/demo.sh --stop     stop a PostgreSQL left running by --keep
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

fresh=0 keep=0 stop=0
for a in "$@"; do
	case "$a" in
	--fresh) fresh=1 ;;
	--keep) keep=1 ;;
	--stop) stop=1 ;;
	-h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "demo.sh: unknown option $a (see --help)" >&2; exit 64 ;;
	esac
done

# The demo lives in .demo/ unless the server's user cannot reach it (a
# checkout under /root, say) or the path is too long for a Unix socket.
DEMO=${GF_DEMO_DIR:-$ROOT/.demo}
if [ -z "${GF_DEMO_DIR:-}" ]; then
	if [ ${#DEMO} -gt 60 ] || { [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$ROOT"; }; then
		DEMO=/tmp/guestflow-demo-$(id -u)
	fi
fi

if [ $stop = 1 ]; then
	bash tools/pgctl.sh stop "$DEMO/pg"
	echo "stopped the demo PostgreSQL in $DEMO/pg"
	exit 0
fi

echo "== 1. packages and build"
# The demo test (tests/demo) passes the binaries it built; nothing to build then.
if [ -z "${GF_GUESTFLOW:-}" ]; then
	bash tools/deps.sh
	[ -f build/build.ninja ] || meson setup build >/dev/null
	ninja -C build >/dev/null
fi
GF=${GF_GUESTFLOW:-$ROOT/build/src/guestflow}
SIM=${GF_PARTNER_SIM:-$ROOT/build/tests/partner-sim/partner-sim}

if [ $fresh = 1 ]; then
	bash tools/pgctl.sh stop "$DEMO/pg"
	rm -rf "$DEMO"
fi
mkdir -p "$DEMO/jobs.d"

sim_pid=
cleanup() {
	if [ -n "$sim_pid" ]; then
		kill "$sim_pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$sim_pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$sim_pid" 2>/dev/null || true
	fi
	if [ $keep = 0 ]; then bash tools/pgctl.sh stop "$DEMO/pg" || true; fi
}
trap cleanup EXIT

echo "== 2. throwaway PostgreSQL in $DEMO/pg"
CONNINFO=$(bash tools/pgctl.sh start "$DEMO/pg")
PSQL=(psql "$CONNINFO" -X -q -v ON_ERROR_STOP=1)
first_run=0
if [ "$("${PSQL[@]}" -Atc "SELECT to_regclass('pms.bookings') IS NULL")" = t ]; then
	first_run=1
	"${PSQL[@]}" -f schemas/sql/reference/pms.sql
	"${PSQL[@]}" -f tools/demo-data.sql >/dev/null
	echo "loaded the reference PMS schema and $("${PSQL[@]}" -Atc 'SELECT count(*) FROM pms.bookings') demo bookings"
fi

echo "== 3. partner simulator on 127.0.0.1"
: >"$DEMO/accounts"
# review-xml: hotel ids and access keys (reviewhub); guest-json: property ids
# and API tokens (surveyhub). One simulator speaks both.
for i in $(seq 1 10); do
	echo "H-$((1000 + i)) demo-key+/=$i" >>"$DEMO/accounts"
	echo "SV-$((2000 + i)) demo-token-$i" >>"$DEMO/accounts"
done
rm -f "$DEMO/sim.port"
"$SIM" --port 0 --port-file "$DEMO/sim.port" --xsd schemas/xsd/review-xml-1.xsd \
	--record "$DEMO/partner-received.jsonl" --accounts-file "$DEMO/accounts" \
	--log "$DEMO/partner-sim.log" &
sim_pid=$!
for _ in $(seq 100); do [ -s "$DEMO/sim.port" ] && break; sleep 0.1; done
[ -s "$DEMO/sim.port" ] || { echo "demo.sh: the partner simulator did not start (see $DEMO/partner-sim.log)" >&2; exit 1; }
ENDPOINT="http://127.0.0.1:$(cat "$DEMO/sim.port")/v1/guests"
JSON_ENDPOINT="http://127.0.0.1:$(cat "$DEMO/sim.port")/api/v1"
echo "listening at $ENDPOINT (accepted guests go to $DEMO/partner-received.jsonl)"

cat >"$DEMO/guestflow.yaml" <<YAML
# Written by tools/demo.sh: the demo database and the shipped job, pointed at
# the local partner simulator.
database:
  conninfo: "$CONNINFO"
jobs_dir: jobs.d
logging:
  level: warn
secrets:
  key_file: "$DEMO/secrets.key"
YAML
# The simulator speaks plain http:// on 127.0.0.1: the job has to allow that.
sed -e "s|^endpoint: .*|endpoint: \"$ENDPOINT\"|" -e "s|^allow_insecure_http: .*|allow_insecure_http: true|" \
	jobs/review-nightly.yaml >"$DEMO/jobs.d/review-nightly.yaml"
# A second platform, a survey tool with a JSON API (guest-json), gets the
# same night from the same database: the shipped job with another partner,
# format and endpoint.
sed -e "s|^name: .*|name: survey-nightly|" -e "s|^partner: .*|partner: surveyhub|" \
	-e "s|^format: .*|format: guest-json|" -e "s|^endpoint: .*|endpoint: \"$JSON_ENDPOINT\"|" \
	-e "s|^allow_insecure_http: .*|allow_insecure_http: true|" \
	jobs/review-nightly.yaml >"$DEMO/jobs.d/survey-nightly.yaml"
G=("$GF" -c "$DEMO/guestflow.yaml")

echo "== 4. guestflow db migrate"
"${G[@]}" db migrate
if [ $first_run = 1 ]; then
	# Who hears about problems: one alert and one technical contact for all.
	"${G[@]}" contact add alerts@hotel-group.example --role alert --name "Night desk" >/dev/null
	"${G[@]}" contact add it@hotel-group.example --role technical --name "IT on call" >/dev/null
	for i in $(seq 1 10); do
		p=P$(printf %03d "$i")
		echo "demo-key+/=$i" | "${G[@]}" connection add "$p" reviewhub --hotel-id "H-$((1000 + i))" >/dev/null
		echo "demo-token-$i" | "${G[@]}" connection add "$p" surveyhub --property-id "SV-$((2000 + i))" >/dev/null
		# P010 stays in 'setup': its guests are not sent until it is activated.
		if [ "$i" -lt 10 ]; then
			# The go-live gate: the hotel's consent, the contacts above and
			# a connection test that succeeded, then live.
			for partner in reviewhub surveyhub; do
				"${G[@]}" connection consent "$p" "$partner" --by "General manager $p" --terms-version 2026-01 >/dev/null
				"${G[@]}" connection test "$p" "$partner" >/dev/null
				"${G[@]}" connection activate "$p" "$partner" >/dev/null
			done
		fi
	done
fi
"${G[@]}" connection list

for job in review-nightly survey-nightly; do
	echo "== 5. guestflow run $job"
	set +e
	"${G[@]}" run "$job"
	code=$?
	set -e
	case $code in
	0) echo "(exit 0: everything due was delivered, or nothing was due)" ;;
	1) echo "(exit 1: the run finished, but some records were rejected or left pending — see below)" ;;
	*) echo "(exit $code: see 'guestflow run --help')" ;;
	esac
done

echo
echo "== What happened: guestflow status"
"${G[@]}" status
echo "('guestflow status --json' gives the same for scripts)"
for job in review-nightly survey-nightly; do
	echo
	echo "== guestflow log --job $job --limit 3"
	"${G[@]}" log --job "$job" --limit 3
done
# One guest delivered and one refused, as an operator asks about them (the
# booking numbers picked from the deliveries; what is shown is guestflow's).
delivered=$("${PSQL[@]}" -Atc "SELECT booking_no FROM guestflow.deliveries WHERE job = 'review-nightly' AND state = 'delivered' ORDER BY booking_id LIMIT 1")
refused=$("${PSQL[@]}" -Atc "SELECT booking_no FROM guestflow.deliveries WHERE job = 'review-nightly' AND state = 'rejected' ORDER BY reason LIKE '%U+0007%' DESC, booking_id LIMIT 1")
for no in $delivered $refused; do
	echo
	echo "== guestflow explain $no --job review-nightly"
	"${G[@]}" explain "$no" --job review-nightly
done
echo
json_guests=$(grep -c '"format":"guest-json"' "$DEMO/partner-received.jsonl" || true)
echo "The partners received $(wc -l <"$DEMO/partner-received.jsonl") guests in all ($DEMO/partner-received.jsonl):"
echo "  reviewhub (review-xml) $(( $(wc -l <"$DEMO/partner-received.jsonl") - json_guests )), surveyhub (guest-json) $json_guests."
if [ $first_run = 0 ]; then
	echo "This was a rerun on the same data: nothing was sent twice. 'tools/demo.sh --fresh' starts over."
fi

cat <<EOT

== See for yourself
  tools/demo.sh --keep                  # run again and leave PostgreSQL running, then:
  $GF -c $DEMO/guestflow.yaml status         # last run, state and queue per connection
  $GF -c $DEMO/guestflow.yaml log --errors   # the API-call log
  $GF -c $DEMO/guestflow.yaml explain BOOKING_NO   # why was this guest (not) sent?
  psql "$CONNINFO"   # the tables themselves
  tools/demo.sh --stop                  # stop that PostgreSQL
EOT
