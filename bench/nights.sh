#!/usr/bin/env bash
# A month of nights (issue 15, "Speed must hold"): does a job that runs every
# night get slower as its history grows?
#
# One throwaway PostgreSQL (tools/pgctl.sh) with the reference PMS schema,
# 2,000 properties each with a live connection to the partner simulator, and
# no bookings. Then, NIGHTS times: NEW new checkouts (checked out during the
# last day, spread over the properties by a hash, messy data as in
# bench/run.sh: 3 in 10 are not eligible: broken or missing e-mail, notify
# off), then `guestflow run review-nightly`, timed. The window (14d, the
# job's default) slides: from night 15 on, a night's bookings leave the window
# as new ones enter, so nights 15..30 have the same amount of work (the same
# number of bookings in the window, the same number new) and differ only in
# how much history lies behind them. The summary compares night 30 with night
# 15 (issue 15's target: within 10 %) and, less sensitive to a noisy machine,
# the median of nights 26-30 with that of nights 11-15.
#
# How time moves forward: between two nights every date and time in the
# database is moved one day back - every timestamptz, timestamp and date
# column of every table in the schemas pms and guestflow (bookings' arrival,
# departure, checked_out_at, updated_at; history entries; guestflow's runs,
# batches, deliveries, leases, retry times, alerts, API-call log ... whatever
# the data model has), in one transaction with triggers off
# (session_replication_role = replica). For PostgreSQL's now(), which the
# window and every age are measured against, that is exactly a day passing:
# all ages grow by a day, all order is kept, and guestflow's own rows age
# with the bookings (so retention or purge by age sees the days pass). The
# shift, a VACUUM ANALYZE and a CHECKPOINT happen outside the timed run.
# (A faked clock for the server, e.g. libfaketime, would do the same without
# the UPDATE, but is not installed and would also fake the server's own
# timers.)
#
# At the end it checks: every booking that was eligible on its night has
# exactly one delivered delivery and one history entry, and no booking number
# reached the partner twice.
#
#   bench/nights.sh
#   NIGHTS=30                 nights (default 30; the summary needs at least 15)
#   NIGHTS_NEW=2000           new checkouts per night (default 2000)
#   NIGHTS_BACKLOG=1000000    history before the month: that many checkouts are delivered
#                             by one run (not counted as a night), then 15 days pass, so
#                             they lie out of the window with their deliveries on record
#                             (default 0: the month starts with no history)
#   BENCH_IN_FLIGHT=8         batch.in_flight (default 8)
#   BENCH_VALIDATE_EVERY=20   the simulator checks one request in 20 against the XSD
#   BENCH_RUN_TIMEOUT=600     seconds one night's run may take before the bench fails
#   BENCH_KEEP=1              leave PostgreSQL running at the end
#   BENCH_DIR=/tmp/...        work directory (default /tmp/guestflow-nights-UID)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
NIGHTS=${NIGHTS:-30}
NEW=${NIGHTS_NEW:-2000}
BACKLOG=${NIGHTS_BACKLOG:-0}
PROPERTIES=2000
IN_FLIGHT=${BENCH_IN_FLIGHT:-8}
VALIDATE_EVERY=${BENCH_VALIDATE_EVERY:-20}
RUN_TIMEOUT=${BENCH_RUN_TIMEOUT:-600}
WORK=${BENCH_DIR:-/tmp/guestflow-nights-$(id -u)}

bash tools/deps.sh
for tool in /usr/bin/time bc; do
	command -v "$tool" >/dev/null || apt-get install -y -q "$(basename "$tool")" >/dev/null
done
# A release build, as bench/run.sh builds it.
[ -f build-bench/build.ninja ] || meson setup build-bench -Dbuildtype=release -Dfault_injection=false >/dev/null
ninja -C build-bench >/dev/null
GF=$ROOT/build-bench/src/guestflow
SIM=$ROOT/build-bench/tests/partner-sim/partner-sim

sim_pid=
cleanup() {
	if [ -n "$sim_pid" ]; then
		kill "$sim_pid" 2>/dev/null || true
		wait "$sim_pid" 2>/dev/null || true
	fi
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		echo "PostgreSQL left running: psql \"$(bash tools/pgctl.sh conninfo "$WORK/pg")\"; bash tools/pgctl.sh stop $WORK/pg"
	else
		bash tools/pgctl.sh stop "$WORK/pg" || true
	fi
}
trap cleanup EXIT
bash tools/pgctl.sh stop "$WORK/pg" 2>/dev/null || true
rm -rf "$WORK"
mkdir -p "$WORK/jobs.d"
chmod 755 "$WORK"
CONNINFO=$(bash tools/pgctl.sh start "$WORK/pg")
PSQL=(psql "$CONNINFO" -X -q -v ON_ERROR_STOP=1)
"${PSQL[@]}" -c "ALTER SYSTEM SET max_wal_size = '8GB'" -c "ALTER SYSTEM SET checkpoint_timeout = '30min'" \
	-c "SELECT pg_reload_conf()" >/dev/null
secs() { echo "$(date +%s.%N) - $1" | bc; }
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15 + $16 + $17) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0; }
pg_cpu() {
	local pm t c
	pm=$(head -n 1 "$WORK/pg/data/postmaster.pid")
	t=$(cpu_of "$pm")
	for c in $(cat "/proc/$pm/task/$pm/children" 2>/dev/null); do t=$(echo "$t + $(cpu_of "$c")" | bc); done
	echo "$t"
}
median() { sort -n | awk '{ v[NR] = $1 } END { printf "%.2f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

"${PSQL[@]}" -f schemas/sql/reference/pms.sql
"${PSQL[@]}" -c "INSERT INTO pms.properties SELECT 'P' || i, 'Hotel ' || i FROM generate_series(1, $PROPERTIES) i"
cat >"$WORK/guestflow.yaml" <<YAML
database:
  conninfo: "$CONNINFO"
jobs_dir: jobs.d
logging:
  level: warn
secrets:
  key_file: "$WORK/secrets.key"
YAML
for i in $(seq 1 "$PROPERTIES"); do echo "H-$i bench-key-$i"; done >"$WORK/accounts"
"$SIM" --port 0 --port-file "$WORK/sim.port" --xsd schemas/xsd/review-xml-1.xsd --record "$WORK/received.jsonl" \
	--accounts-file "$WORK/accounts" --log /dev/null --validate-every "$VALIDATE_EVERY" &
sim_pid=$!
for _ in $(seq 100); do [ -s "$WORK/sim.port" ] && break; sleep 0.1; done
[ -s "$WORK/sim.port" ] || { echo "nights: the partner simulator did not start" >&2; exit 1; }
ENDPOINT="http://127.0.0.1:$(cat "$WORK/sim.port")/v1/guests"
sed -e "s|^endpoint: .*|endpoint: \"$ENDPOINT\"|" -e "s|^allow_insecure_http: .*|allow_insecure_http: true|" \
	-e "s|^  in_flight: .*|  in_flight: $IN_FLIGHT|" \
	jobs/review-nightly.yaml >"$WORK/jobs.d/review-nightly.yaml"
G=("$GF" -c "$WORK/guestflow.yaml")
"${G[@]}" db migrate >/dev/null
"${PSQL[@]}" <<SQL
INSERT INTO guestflow.partners VALUES ('reviewhub', 'reviewhub');
INSERT INTO guestflow.connections (property_id, partner, id_at_partner, secret, status)
SELECT 'P' || i, 'reviewhub', 'H-' || i, 'bench-key-' || i, 'live' FROM generate_series(1, $PROPERTIES) i;
SQL
"${G[@]}" connection rekey >/dev/null
# Which bookings were eligible on their night (for the final check).
"${PSQL[@]}" -c "CREATE TABLE public.bench_eligible (booking_id bigint PRIMARY KEY, night int NOT NULL)"

# DAYS days pass: every date and time in pms and guestflow DAYS days back.
shift_sql() { # DAYS
	sed "s/@DAYS@/$1/" <<'SQL'
DO $$
DECLARE
	t record;
	sets text;
BEGIN
	SET LOCAL session_replication_role = replica;
	FOR t IN SELECT c.table_schema, c.table_name,
	                string_agg(format('%I = %I - interval ''@DAYS@ days''', c.column_name, c.column_name), ', ') AS sets
	           FROM information_schema.columns c
	           JOIN information_schema.tables tb USING (table_schema, table_name)
	          WHERE c.table_schema IN ('pms', 'guestflow') AND tb.table_type = 'BASE TABLE'
	            AND c.data_type IN ('timestamp with time zone', 'timestamp without time zone', 'date')
	            AND c.is_generated = 'NEVER'
	          GROUP BY 1, 2
	LOOP
		EXECUTE format('UPDATE %I.%I SET %s', t.table_schema, t.table_name, t.sets);
	END LOOP;
END
$$;
SQL
}
time_passes() { # DAYS
	"${PSQL[@]}" -c "BEGIN" -c "$(shift_sql "$1")" -c "COMMIT" >/dev/null
}

# COUNT checkouts during the last day; which of them are eligible is noted as NIGHT's.
add_checkouts() { # COUNT NIGHT
	"${PSQL[@]}" >/dev/null <<SQL
SELECT setseed(0.3);
WITH n AS (SELECT coalesce(max(id), 0) AS base FROM pms.bookings)
INSERT INTO pms.guests (id, first_name, last_name, email, gender, language)
SELECT n.base + j,
       (ARRAY['Anna', ' Jürgen', 'Siobhán', 'José', NULL, '陽翔', 'محمد', 'Éléonore'])[1 + j % 8],
       (ARRAY['Müller', 'O''Brien & Sons', '  Weber ', 'García Márquez', 'Nakamura', 'عبد الله', 'van der Berg', 'Ångström'])[1 + j % 8] || ' ' || (n.base + j),
       CASE WHEN j % 10 = 3 THEN NULL WHEN j % 10 = 7 THEN 'broken-address' ELSE 'guest' || (n.base + j) || '@example.org' END,
       (ARRAY['m', 'F', 'Herr', 'Frau', 'x', '', 'Mrs', 'd'])[1 + j % 8],
       (ARRAY['de-DE', 'DEU', 'en', 'English', 'fr_FR', 'ita', 'xx', NULL])[1 + j % 8]
  FROM n, generate_series(1, $1) j;
WITH n AS (SELECT coalesce(max(id), 0) AS base FROM pms.bookings)
INSERT INTO pms.bookings (id, property_id, booking_no, guest_id, status, arrival, departure, checked_out_at,
                          notify_on_occupancy, updated_at)
SELECT n.base + j, 'P' || (1 + abs(hashint4((n.base + j)::int)) % $PROPERTIES), 'B-' || (n.base + j), n.base + j,
       'checked_out', current_date - 3, current_date,
       now() - (j % 1440) * interval '1 minute', j % 10 <> 9, now() - (j % 1440) * interval '1 minute'
  FROM n, generate_series(1, $1) j;
INSERT INTO public.bench_eligible
SELECT s.booking_id, $2 FROM guestflow.source_bookings s
 WHERE s.status = 'checked_out' AND s.notify AND btrim(s.email, E' \t\r\n') ~ '^[^@[:space:]]+@[^@[:space:]]+\$'
   AND s.last_name ~ '[^[:space:]]' AND s.checked_out_at >= now() - interval '14 days'
ON CONFLICT DO NOTHING;
SQL
	"${PSQL[@]}" -c "VACUUM ANALYZE" -c CHECKPOINT >/dev/null
}

if [ "$BACKLOG" -gt 0 ]; then
	echo "== backlog: $BACKLOG checkouts delivered by one run, then 15 days pass"
	t0=$(date +%s.%N)
	add_checkouts "$BACKLOG" 0
	timeout "$RUN_TIMEOUT" "${G[@]}" run review-nightly >"$WORK/run.0.out" 2>"$WORK/run.0.err" ||
		{ cat "$WORK/run.0.out" "$WORK/run.0.err" >&2; echo "nights: the backlog's run failed" >&2; exit 1; }
	cat "$WORK/run.0.out"
	time_passes 15
	"${PSQL[@]}" -c "VACUUM ANALYZE" -c CHECKPOINT >/dev/null
	echo "backlog ready in $(secs "$t0") s; deliveries on record: $("${PSQL[@]}" -Atc "SELECT count(*) FROM guestflow.deliveries")"
fi

echo "== $NIGHTS nights, $NEW new checkouts a night over $PROPERTIES properties, window 14d, in_flight $IN_FLIGHT," \
	"backlog $BACKLOG"
: >"$WORK/nights.txt"
for night in $(seq 1 "$NIGHTS"); do
	[ "$night" -gt 1 ] && time_passes 1
	add_checkouts "$NEW" "$night"
	in_window=$("${PSQL[@]}" -Atc "SELECT count(*) FROM pms.bookings WHERE checked_out_at >= now() - interval '14 days'")
	new_eligible=$("${PSQL[@]}" -Atc "SELECT count(*) FROM public.bench_eligible WHERE night = $night")
	pg0=$(pg_cpu)
	t0=$(date +%s.%N)
	rc=0
	timeout "$RUN_TIMEOUT" /usr/bin/time -f "%U %S %M" -o "$WORK/time.$night.txt" "${G[@]}" run review-nightly \
		>"$WORK/run.$night.out" 2>"$WORK/run.$night.err" || rc=$?
	wall=$(secs "$t0")
	pg=$(echo "$(pg_cpu) - $pg0" | bc)
	[ "$rc" = 0 ] || { cat "$WORK/run.$night.out" "$WORK/run.$night.err" >&2; echo "nights: night $night's run exited $rc" >&2; exit 1; }
	gfcpu=$(awk '{ printf "%.2f", $1 + $2 }' "$WORK/time.$night.txt")
	on_record=$("${PSQL[@]}" -Atc "SELECT count(*) FROM guestflow.deliveries")
	printf 'night %2d: %5.2fs wall, CPU guestflow %5.2fs PostgreSQL %5.2fs; in window %6d, newly eligible %5d, deliveries on record %7d; %s\n' \
		"$night" "$wall" "$gfcpu" "$pg" "$in_window" "$new_eligible" "$on_record" "$(sed 's/^review-nightly: run [0-9]* //' "$WORK/run.$night.out")"
	echo "$night $wall $gfcpu $pg" >>"$WORK/nights.txt"
done

echo "== checks"
eligible=$("${PSQL[@]}" -Atc "SELECT count(*) FROM public.bench_eligible")
delivered=$("${PSQL[@]}" -Atc "SELECT count(*) FROM guestflow.deliveries d JOIN public.bench_eligible e USING (booking_id) WHERE d.state = 'delivered'")
delivered_all=$("${PSQL[@]}" -Atc "SELECT count(*) FROM guestflow.deliveries WHERE state = 'delivered'")
history=$("${PSQL[@]}" -Atc "SELECT count(*) FROM pms.booking_history")
history_bookings=$("${PSQL[@]}" -Atc "SELECT count(DISTINCT booking_id) FROM pms.booking_history h JOIN public.bench_eligible e USING (booking_id)")
received=$(wc -l <"$WORK/received.jsonl")
dup=$(grep -o '"bookingNo":"[^"]*"' "$WORK/received.jsonl" | sort | uniq -d | wc -l)
echo "bookings eligible on their night: $eligible; delivered: $delivered (all delivered deliveries: $delivered_all);" \
	"history entries: $history (bookings: $history_bookings); guests received: $received; booking numbers received twice: $dup"
[ "$delivered" = "$eligible" ] && [ "$delivered_all" = "$eligible" ] && [ "$history" = "$eligible" ] &&
	[ "$history_bookings" = "$eligible" ] && [ "$received" = "$eligible" ] && [ "$dup" = 0 ] ||
	{ echo "nights: NOT every eligible booking delivered exactly once" >&2; exit 1; }
echo "every night: every eligible booking delivered once, one history entry each, no booking number twice"

echo "== summary"
if [ "$NIGHTS" -ge 15 ]; then
	w() { awk -v n="$1" -v f="$2" '$1 == n { print $f }' "$WORK/nights.txt"; }
	echo "night 15: $(w 15 2)s wall ($(w 15 4)s PostgreSQL CPU); night $NIGHTS: $(w "$NIGHTS" 2)s wall ($(w "$NIGHTS" 4)s PostgreSQL CPU)"
	echo "night $NIGHTS / night 15: wall $(echo "scale=2; $(w "$NIGHTS" 2) / $(w 15 2)" | bc)," \
		"PostgreSQL CPU $(echo "scale=2; $(w "$NIGHTS" 4) / $(w 15 4)" | bc) (target: wall within 10 %)"
	if [ "$NIGHTS" -ge 20 ]; then
		early=$(awk '$1 >= 11 && $1 <= 15 { print $2 }' "$WORK/nights.txt" | median)
		late=$(awk -v n="$NIGHTS" '$1 > n - 5 { print $2 }' "$WORK/nights.txt" | median)
		echo "median wall of nights 11-15: ${early}s; of the last five nights: ${late}s; ratio $(echo "scale=2; $late / $early" | bc)"
		early=$(awk '$1 >= 11 && $1 <= 15 { print $3 + $4 }' "$WORK/nights.txt" | median)
		late=$(awk -v n="$NIGHTS" '$1 > n - 5 { print $3 + $4 }' "$WORK/nights.txt" | median)
		echo "median CPU (guestflow + PostgreSQL) of nights 11-15: ${early}s; of the last five: ${late}s;" \
			"ratio $(echo "scale=2; $late / $early" | bc) (on a shared machine the CPU seconds vary less than the wall time)"
	fi
fi
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r), load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
