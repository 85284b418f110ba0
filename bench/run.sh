#!/usr/bin/env bash
# Benchmark: N bookings over 2,000 properties (each with a live connection,
# about half eligible, messy data), the nightly export end to end against the
# partner simulator on loopback, and in the same run the raw floor: COPY of the
# eligible rows out plus COPY of as many rows into pms.booking_history, with
# psql. Prints bookings/s, wall time, peak RSS and guestflow's time as a ratio
# to the floor, then checks that every eligible booking went exactly once. It
# does this in rounds on the same data (each from the same empty state, the
# floor measured right before the run) and reports the median ratio.
#
#   bench/run.sh [N]                  N bookings (default 100000)
#   bench/run.sh --case small-hotels [N]   (or BENCH_CASE=small-hotels)
#                                     issue 15's "many small hotels": N bookings (default
#                                     20000) in blocks of ten per property, so at 20,000 every
#                                     one of the 2,000 properties has 10 bookings, 5 of them
#                                     eligible: 10,000 eligible, 2,000 batches of five. Each
#                                     round also runs bench/plain_export.py (the same export as a
#                                     plain Python script without delivery tracking) from the
#                                     same state, checks it delivered every eligible booking
#                                     once, and the summary gives guestflow's time against it
#                                     (targets: guestflow <= 5x the floor, script / guestflow >= 2)
#   BENCH_ROUNDS=3                    rounds of floor + run (default 3)
#   BENCH_FORMAT=guest-json           the job's output (default review-xml; the plain script
#                                     of small-hotels always sends review-xml)
#   BENCH_LATENCY_MS=200              the simulator answers after 200 ms
#   BENCH_IN_FLIGHT=16                batch.in_flight (default 8)
#   BENCH_PLAIN_IN_FLIGHT=1           small-hotels: the plain script's requests at once
#                                     (default: BENCH_IN_FLIGHT)
#   BENCH_PROCS=4                     that many guestflow processes at once
#   BENCH_VALIDATE_EVERY=1            the simulator checks every request against the XSD
#                                     (default: one in 20; every request is parsed)
#   BENCH_PERF=1                      record the whole machine with perf during the run
#                                     (BENCH_DIR/perf.N.data per round: guestflow, PostgreSQL,
#                                     simulator)
#   BENCH_STATEMENTS=1                log every statement's duration during the run and
#                                     print the total per statement (slows the run a little)
#   BENCH_EXPLAIN=MS                  log the plan (EXPLAIN ANALYZE, auto_explain) of every
#                                     statement of the run that takes MS ms or more, to the
#                                     server log (slows the run)
#   BENCH_WRAP="valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out"
#                                     run guestflow under that command
#   BENCH_KEEP=1                      leave PostgreSQL running at the end (to explore)
#   BENCH_DIR=/tmp/...                work directory (PostgreSQL, logs, plans)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
CASE=${BENCH_CASE:-default}
N=
while [ $# -gt 0 ]; do
	case $1 in
	--case) [ $# -ge 2 ] || { echo "bench: --case needs a name" >&2; exit 2; }; CASE=$2; shift 2 ;;
	--case=*) CASE=${1#--case=}; shift ;;
	*) N=$1; shift ;;
	esac
done
case $CASE in
default) N=${N:-100000} ;;
small-hotels) N=${N:-20000} ;;
*) echo "bench: unknown case '$CASE' (default, small-hotels)" >&2; exit 2 ;;
esac
LATENCY=${BENCH_LATENCY_MS:-0}
FORMAT=${BENCH_FORMAT:-review-xml}
case $FORMAT in
review-xml | guest-json) ;;
*) echo "bench: unknown BENCH_FORMAT '$FORMAT' (review-xml, guest-json)" >&2; exit 2 ;;
esac
IN_FLIGHT=${BENCH_IN_FLIGHT:-8}
PLAIN_IN_FLIGHT=${BENCH_PLAIN_IN_FLIGHT:-$IN_FLIGHT}
PROCS=${BENCH_PROCS:-1}
VALIDATE_EVERY=${BENCH_VALIDATE_EVERY:-20}
WORK=${BENCH_DIR:-/tmp/guestflow-bench-$(id -u)}

bash tools/deps.sh
for tool in /usr/bin/time bc; do
	command -v "$tool" >/dev/null || apt-get install -y -q "$(basename "$tool")" >/dev/null
done
# A release build: no GUESTFLOW_FAULT hook (-Dfault_injection=false, the default).
[ -f build-bench/build.ninja ] || meson setup build-bench -Dbuildtype=release -Dfault_injection=false >/dev/null
ninja -C build-bench >/dev/null
GF=$ROOT/build-bench/src/guestflow
SIM=$ROOT/build-bench/tests/partner-sim/partner-sim

sim_pid=
vmstat_pid=
gf_pids=()
cleanup() {
	[ -n "$vmstat_pid" ] && { kill "$vmstat_pid" 2>/dev/null || true; }
	for p in "${gf_pids[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -n "$sim_pid" ] && { kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; }
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
# A night's export writes a few GB of WAL; at the default max_wal_size (1 GB)
# PostgreSQL checkpoints every 10 s and logs "checkpoints are occurring too
# frequently ... consider increasing max_wal_size". Sized as that advice says,
# for the floor and guestflow alike.
"${PSQL[@]}" -c "ALTER SYSTEM SET max_wal_size = '8GB'" -c "ALTER SYSTEM SET checkpoint_timeout = '30min'" \
	-c "SELECT pg_reload_conf()" >/dev/null
secs() { echo "$(date +%s.%N) - $1" | bc; }

# default: hotels of uneven size (blocks of ten bookings hashed over the
# properties); small-hotels: block k of ten bookings goes to property k mod 2000.
if [ "$CASE" = small-hotels ]; then PROPERTY_OF="1 + (i / 10) % 2000"; else PROPERTY_OF="1 + abs(hashint4(i / 10)) % 2000"; fi
echo "== case $CASE: loading $N bookings over 2000 properties"
t0=$(date +%s.%N)
"${PSQL[@]}" -f schemas/sql/reference/pms.sql
# Hotels (see PROPERTY_OF); names with spaces, apostrophes, non-Latin scripts; missing and broken
# e-mails; genders and languages in every spelling the PMSs use.
"${PSQL[@]}" <<SQL
SELECT setseed(0.7);
INSERT INTO pms.properties SELECT 'P' || i, 'Hotel ' || i FROM generate_series(1, 2000) i;
INSERT INTO pms.guests (id, first_name, last_name, email, gender, language)
SELECT i,
       (ARRAY['Anna', ' Jürgen', 'Siobhán', 'José', NULL, '陽翔', 'محمد', 'Éléonore'])[1 + i % 8],
       (ARRAY['Müller', 'O''Brien & Sons', '  Weber ', 'García Márquez', 'Nakamura', 'عبد الله', 'van der Berg', 'Ångström'])[1 + i % 8] || ' ' || i,
       CASE WHEN i % 10 = 3 THEN NULL WHEN i % 10 = 7 THEN 'broken-address' ELSE 'guest' || i || '@example.org' END,
       (ARRAY['m', 'F', 'Herr', 'Frau', 'x', '', 'Mrs', 'd'])[1 + i % 8],
       (ARRAY['de-DE', 'DEU', 'en', 'English', 'fr_FR', 'ita', 'xx', NULL])[1 + i % 8]
  FROM generate_series(1, $N) i;
INSERT INTO pms.bookings (id, property_id, booking_no, guest_id, status, arrival, departure, checked_out_at,
                          notify_on_occupancy)
SELECT i, 'P' || ($PROPERTY_OF), 'B-' || i, i,
       CASE WHEN i % 10 IN (1, 5) THEN 'in_house' ELSE 'checked_out' END,
       current_date - 4, current_date - 1,
       CASE WHEN i % 10 IN (1, 5) THEN NULL ELSE now() - (i % 10) * interval '1 day' END,
       i % 10 <> 9
  FROM generate_series(1, $N) i;
ANALYZE;
SQL
cat >"$WORK/guestflow.yaml" <<YAML
database:
  conninfo: "$CONNINFO"
jobs_dir: jobs.d
logging:
  level: warn
secrets:
  key_file: "$WORK/secrets.key"
YAML
for i in $(seq 1 2000); do echo "H-$i bench-key-$i"; done >"$WORK/accounts"
# The simulator parses every request, validates one in BENCH_VALIDATE_EVERY
# against the XSD (the integration tests validate every one; a real partner
# validates on its own machine, not on these two cores) and records every
# guest it accepts (checked for duplicates across idempotency keys below).
"$SIM" --port 0 --port-file "$WORK/sim.port" --xsd schemas/xsd/review-xml-1.xsd --record "$WORK/received.jsonl" \
	--accounts-file "$WORK/accounts" --latency-ms "$LATENCY" --log /dev/null --validate-every "$VALIDATE_EVERY" &
sim_pid=$!
for _ in $(seq 100); do [ -s "$WORK/sim.port" ] && break; sleep 0.1; done
[ -s "$WORK/sim.port" ] || { echo "bench: the partner simulator did not start" >&2; exit 1; }
ENDPOINT="http://127.0.0.1:$(cat "$WORK/sim.port")/v1/guests"
# guest-json: the same simulator and accounts (hotel id as property id, key as
# token); its URLs go under the endpoint as the base.
JOB_ENDPOINT=$ENDPOINT
[ "$FORMAT" = guest-json ] && JOB_ENDPOINT="http://127.0.0.1:$(cat "$WORK/sim.port")/v1"
sed -e "s|^endpoint: .*|endpoint: \"$JOB_ENDPOINT\"|" -e "s|^allow_insecure_http: .*|allow_insecure_http: true|" \
	-e "s|^  in_flight: .*|  in_flight: $IN_FLIGHT|" -e "s|^format: .*|format: $FORMAT|" \
	jobs/review-nightly.yaml >"$WORK/jobs.d/review-nightly.yaml"
G=("$GF" -c "$WORK/guestflow.yaml")
"${G[@]}" db migrate >/dev/null
"${PSQL[@]}" <<SQL
INSERT INTO guestflow.partners VALUES ('reviewhub', 'reviewhub');
INSERT INTO guestflow.connections (property_id, partner, id_at_partner, secret, status)
SELECT 'P' || i, 'reviewhub', 'H-' || i, 'bench-key-' || i, 'live' FROM generate_series(1, 2000) i;
ANALYZE;
SQL
# Access keys are stored encrypted: any command that opens the key encrypts
# the plain-text ones inserted above (here, not inside a timed round).
"${G[@]}" connection rekey >/dev/null
ELIGIBLE_SQL="SELECT s.* FROM guestflow.source_bookings s WHERE s.status = 'checked_out'
  AND s.notify AND btrim(s.email, E' \t\r\n') ~ '^[^@[:space:]]+@[^@[:space:]]+\$' AND s.last_name ~ '[^[:space:]]'
  AND s.checked_out_at >= now() - interval '14 days'"
ELIGIBLE=$("${PSQL[@]}" -Atc "SELECT count(*) FROM ($ELIGIBLE_SQL) e")
echo "loaded in $(secs "$t0") s; eligible: $ELIGIBLE"

# CPU seconds of a process and its reaped children (/proc/PID/stat fields 14-17).
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15 + $16 + $17) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# PostgreSQL: the postmaster (with its exited backends) plus the live children.
pg_cpu() {
	local pm t c
	pm=$(head -n 1 "$WORK/pg/data/postmaster.pid")
	t=$(cpu_of "$pm")
	for c in $(cat "/proc/$pm/task/$pm/children" 2>/dev/null); do t=$(echo "$t + $(cpu_of "$c")" | bc); done
	echo "$t"
}
# The whole machine, from /proc/stat (jiffies): user+nice, system+irq+softirq, idle, iowait.
machine() { awk '/^cpu / { print $2 + $3, $4 + $7 + $8, $5, $6 }' /proc/stat; }
sim_stat() { curl -s "http://127.0.0.1:$(cat "$WORK/sim.port")/_sim/stats" | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }
median() { sort -n | awk '{ v[NR] = $1 } END { printf "%.2f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# One round: the same starting state every time (no deliveries, no history,
# the bookings' row locks of earlier rounds vacuumed away), the floor, then
# guestflow, then the checks. The machine's speed drifts by tens of per cent
# within minutes (bench/RESULTS.md), so each round measures the floor right
# before its run, and the summary takes the median ratio of the rounds.
# guestflow's tables of a run, those of them that are tables here (the data
# model may change under this bench: issue 15), and the PMS history.
RUN_TABLES=$("${PSQL[@]}" -Atc "SELECT string_agg(t, ', ' ORDER BY o) FROM unnest(ARRAY['guestflow.api_calls',
  'guestflow.delivery_log', 'guestflow.deliveries', 'guestflow.batches', 'guestflow.runs', 'guestflow.alert_events'])
  WITH ORDINALITY AS u(t, o) WHERE (SELECT relkind FROM pg_class WHERE oid = to_regclass(t)) IN ('r', 'p')")
reset_state() {
	"${PSQL[@]}" -c "TRUNCATE $RUN_TABLES" -c "TRUNCATE pms.booking_history" >/dev/null
}
# The bookings' row locks of earlier runs vacuumed away, statistics fresh.
vacuum_state() {
	local t v=()
	for t in ${RUN_TABLES//,/}; do [ "$t" = guestflow.api_calls ] || v+=(-c "VACUUM ANALYZE $t"); done
	"${PSQL[@]}" -c "VACUUM (FREEZE, ANALYZE) pms.bookings" "${v[@]}" -c CHECKPOINT >/dev/null
}

# small-hotels: bench/plain_export.py from the same state as guestflow's run;
# checks that it delivered every eligible booking once with one history entry.
plain_round() { # N
	local n=$1 t0 received0 requests0 history history_bookings received dup
	echo "== round $n: plain script (bench/plain_export.py, in_flight $PLAIN_IN_FLIGHT)"
	received0=$(wc -l <"$WORK/received.jsonl")
	requests0=$(sim_stat requests)
	t0=$(date +%s.%N)
	python3 bench/plain_export.py --conninfo "$CONNINFO" --endpoint "$ENDPOINT" --keys "$WORK/accounts" \
		--in-flight "$PLAIN_IN_FLIGHT" >"$WORK/plain.$n.out" 2>"$WORK/plain.$n.err" ||
		{ cat "$WORK/plain.$n.out" "$WORK/plain.$n.err" >&2; echo "bench: the plain script failed" >&2; exit 1; }
	PLAIN=$(secs "$t0")
	cat "$WORK/plain.$n.out"
	history=$("${PSQL[@]}" -Atc "SELECT count(*) FROM pms.booking_history")
	history_bookings=$("${PSQL[@]}" -Atc "SELECT count(DISTINCT booking_id) FROM pms.booking_history")
	received=$(tail -n +"$((received0 + 1))" "$WORK/received.jsonl" | wc -l)
	dup=$(tail -n +"$((received0 + 1))" "$WORK/received.jsonl" | grep -o '"bookingNo":"[^"]*"' | sort | uniq -d | wc -l)
	echo "plain script: eligible: $ELIGIBLE, guests received by the partner: $received, history entries: $history" \
		"(bookings: $history_bookings), requests: $(( $(sim_stat requests) - requests0 )), booking numbers received twice: $dup"
	echo "plain script wall time: ${PLAIN}s"
	[ "$received" = "$ELIGIBLE" ] && [ "$history" = "$ELIGIBLE" ] && [ "$history_bookings" = "$ELIGIBLE" ] && [ "$dup" = 0 ] ||
		{ echo "bench: the plain script did NOT deliver every eligible booking exactly once in round $n" >&2; exit 1; }
}

round() { # N
	local n=$1
	PLAIN=0
	if [ "$CASE" = small-hotels ]; then
		[ "$n" -gt 1 ] && reset_state
		vacuum_state
		plain_round "$n"
		reset_state
	elif [ "$n" -gt 1 ]; then
		reset_state
	fi
	vacuum_state

	echo "== round $n: raw floor (COPY the eligible rows out, COPY as many history rows in)"
	local t0
	t0=$(date +%s.%N)
	"${PSQL[@]}" -c "COPY ($ELIGIBLE_SQL) TO STDOUT" >"$WORK/floor.tsv"
	"${PSQL[@]}" -c "BEGIN" -c "\\copy pms.booking_history (booking_id, kind, message) FROM PROGRAM 'cut -f1 $WORK/floor.tsv | sed \"s/\$/\tguestflow\tfloor/\"'" -c "ROLLBACK"
	FLOOR=$(secs "$t0")
	echo "floor: $FLOOR s"
	"${PSQL[@]}" -c "VACUUM ANALYZE pms.booking_history" -c CHECKPOINT >/dev/null

	echo "== round $n: guestflow run review-nightly ($PROCS process(es), in_flight $IN_FLIGHT, latency $LATENCY ms)"
	local log_from=0 perf_pid=
	if [ "${BENCH_STATEMENTS:-0}" = 1 ]; then
		"${PSQL[@]}" -c "ALTER SYSTEM SET log_min_duration_statement = 0" -c "SELECT pg_reload_conf()" >/dev/null
		log_from=$(wc -c <"$WORK/pg/server.log")
	fi
	if [ -n "${BENCH_EXPLAIN:-}" ]; then
		"${PSQL[@]}" -c "LOAD 'auto_explain'" -c "ALTER SYSTEM SET session_preload_libraries = 'auto_explain'" \
			-c "ALTER SYSTEM SET auto_explain.log_min_duration = '${BENCH_EXPLAIN}ms'" \
			-c "ALTER SYSTEM SET auto_explain.log_analyze = on" -c "ALTER SYSTEM SET auto_explain.log_buffers = on" \
			-c "ALTER SYSTEM SET auto_explain.log_nested_statements = on" -c "SELECT pg_reload_conf()" >/dev/null
	fi
	if [ "${BENCH_PERF:-0}" = 1 ]; then
		perf record -a -g -o "$WORK/perf.$n.data" >/dev/null 2>&1 &
		perf_pid=$!
		sleep 1
	fi
	"${PSQL[@]}" -Atc "SELECT pg_stat_reset()" >/dev/null # autovacuum counts below are the run's
	local pg_cpu0 machine0 sim_cpu0 replays0 requests0 received0
	pg_cpu0=$(pg_cpu)
	machine0=$(machine)
	sim_cpu0=$(cpu_of "$sim_pid")
	replays0=$(sim_stat replays)
	requests0=$(sim_stat requests)
	received0=$(wc -l <"$WORK/received.jsonl")
	vmstat -n 1 >"$WORK/vmstat.$n.txt" 2>/dev/null &
	vmstat_pid=$!
	rm -f "$WORK"/time.*.txt
	t0=$(date +%s.%N)
	for p in $(seq 1 "$PROCS"); do
		# shellcheck disable=SC2086 # BENCH_WRAP is a command line
		/usr/bin/time -v -o "$WORK/time.$p.txt" ${BENCH_WRAP:-} "${G[@]}" run review-nightly >"$WORK/run.$p.out" 2>"$WORK/run.$p.err" &
		gf_pids+=($!)
	done
	local rc=0
	for p in "${gf_pids[@]}"; do wait "$p" || rc=$?; done
	gf_pids=()
	SECS=$(secs "$t0")
	local pg_cpu_run sim_cpu_run machine_run gf_cpu
	pg_cpu_run=$(echo "$(pg_cpu) - $pg_cpu0" | bc)
	sim_cpu_run=$(echo "$(cpu_of "$sim_pid") - $sim_cpu0" | bc)
	machine_run=$(echo "$machine0 $(machine)" | awk -v hz="$(getconf CLK_TCK)" \
		'{ printf "user %.1fs, system %.1fs, idle %.1fs, iowait %.1fs", ($5 - $1) / hz, ($6 - $2) / hz, ($7 - $3) / hz, ($8 - $4) / hz }')
	kill "$vmstat_pid" 2>/dev/null || true
	wait "$vmstat_pid" 2>/dev/null || true
	vmstat_pid=
	gf_cpu=$(awk -F': ' '/User time|System time/ { t += $2 } END { printf "%.1f", t }' "$WORK"/time.*.txt)
	if [ -n "$perf_pid" ]; then
		kill -INT "$perf_pid"
		wait "$perf_pid" || true
		# (head closes the pipe early: that is not a failure of the bench)
		perf report -i "$WORK/perf.$n.data" --sort comm --no-children -g none --stdio 2>/dev/null |
			grep -v '^#' | grep -v '^$' | head -8 || true
	fi
	cat "$WORK"/run.*.out
	[ "$rc" = 0 ] || { echo "bench: a guestflow run exited $rc" >&2; cat "$WORK"/run.*.err >&2; exit 1; }
	RSS=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK"/time.*.txt | sort -n | tail -1)

	if [ -n "${BENCH_EXPLAIN:-}" ]; then
		"${PSQL[@]}" -c "LOAD 'auto_explain'" -c "ALTER SYSTEM RESET session_preload_libraries" -c "ALTER SYSTEM RESET auto_explain.log_min_duration" \
			-c "ALTER SYSTEM RESET auto_explain.log_analyze" -c "ALTER SYSTEM RESET auto_explain.log_buffers" \
			-c "ALTER SYSTEM RESET auto_explain.log_nested_statements" -c "SELECT pg_reload_conf()" >/dev/null
		echo "== plans of the statements that took ${BENCH_EXPLAIN} ms or more: $WORK/pg/server.log"
	fi
	if [ "${BENCH_STATEMENTS:-0}" = 1 ]; then
		"${PSQL[@]}" -c "ALTER SYSTEM RESET log_min_duration_statement" -c "SELECT pg_reload_conf()" >/dev/null
		echo "== database time per statement (ms, count)"
		tail -c +"$((log_from + 1))" "$WORK/pg/server.log" |
			sed -n 's/.*duration: \([0-9.]*\) ms  \(statement\|execute\|parse\|bind\) \([^:]*\).*/\1 \2 \3/p' |
			awk '{ k = ($2 == "statement") ? "statement " substr($3, 1, 40) : $2 " " $3; t[k] += $1; n[k]++ }
			     END { for (k in t) printf "%10.0f %7d  %s\n", t[k], n[k], k }' | sort -rn | head -15
	fi
	echo "== autovacuum during the run (table: vacuums, analyzes)"
	"${PSQL[@]}" -Atc "SELECT relname || ': ' || autovacuum_count || ', ' || autoanalyze_count FROM pg_stat_user_tables
	  WHERE autovacuum_count + autoanalyze_count > 0 AND schemaname IN ('guestflow', 'pms') ORDER BY 1" | sed 's/^/  /'

	local delivered history history_bookings replays requests dup
	delivered=$("${PSQL[@]}" -Atc "SELECT count(*) FROM guestflow.deliveries WHERE state = 'delivered'")
	history=$("${PSQL[@]}" -Atc "SELECT count(*) FROM pms.booking_history")
	history_bookings=$("${PSQL[@]}" -Atc "SELECT count(DISTINCT booking_id) FROM pms.booking_history")
	replays=$(( $(sim_stat replays) - replays0 ))
	requests=$(( $(sim_stat requests) - requests0 ))
	dup=$(tail -n +"$((received0 + 1))" "$WORK/received.jsonl" | grep -o '"bookingNo":"[^"]*"' | sort | uniq -d | wc -l)
	echo "bookings: $N, eligible: $ELIGIBLE, delivered: $delivered, history entries: $history" \
		"(bookings: $history_bookings), requests: $requests, replays: $replays," \
		"booking numbers received twice: $dup"
	echo "guestflow wall time: ${SECS}s ($(echo "scale=0; $ELIGIBLE / $SECS" | bc) bookings/s), peak RSS: $((RSS / 1024)) MiB ($RSS kB)"
	echo "CPU during the run: guestflow ${gf_cpu}s, PostgreSQL ${pg_cpu_run}s, partner simulator ${sim_cpu_run}s" \
		"($(nproc) cores x ${SECS}s = $(echo "$(nproc) * $SECS" | bc)s)"
	echo "whole machine during the run (/proc/stat): $machine_run; per second in $WORK/vmstat.$n.txt"
	RATIO=$(echo "scale=2; $SECS / $FLOOR" | bc)
	echo "round $n: floor ${FLOOR}s, guestflow ${SECS}s, ratio $RATIO, peak RSS $RSS kB"
	if [ "$LATENCY" != 0 ]; then
		echo "latency bound: requests x $LATENCY ms / in_flight = $(echo "scale=2; $requests * $LATENCY / 1000 / $IN_FLIGHT" | bc)s"
	fi
	local ok=1
	[ "$delivered" = "$ELIGIBLE" ] && [ "$history" = "$ELIGIBLE" ] && [ "$history_bookings" = "$ELIGIBLE" ] || ok=0
	[ "$dup" = 0 ] && [ "$replays" = 0 ] || ok=0
	[ "$ok" = 1 ] || { echo "bench: NOT every eligible booking delivered exactly once in round $n" >&2; exit 1; }
	if [ "$CASE" = small-hotels ]; then
		echo "round $n: plain script ${PLAIN}s, script / guestflow $(echo "scale=2; $PLAIN / $SECS" | bc)"
	fi
	echo "$FLOOR $SECS $RATIO $RSS $PLAIN $(echo "scale=2; $PLAIN / $SECS" | bc)" >>"$WORK/rounds.txt"
}

ROUNDS=${BENCH_ROUNDS:-3}
: >"$WORK/rounds.txt"
for n in $(seq 1 "$ROUNDS"); do round "$n"; done

echo "== EXPLAIN ANALYZE of the per-batch statements (on a batch put back in the queue)"
# (written for the model of migrations 0001-0012; on another model it says so and the summary follows)
"${PSQL[@]}" >"$WORK/explain.txt" 2>&1 <<SQL || echo "  (EXPLAIN failed, see $WORK/explain.txt)"
BEGIN;
UPDATE guestflow.batches SET state = 'open' WHERE id = (SELECT max(id) FROM guestflow.batches);
UPDATE guestflow.deliveries SET state = 'pending' WHERE batch_id = (SELECT max(id) FROM guestflow.batches);
EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) SELECT b.id FROM guestflow.batches b
    JOIN guestflow.connections c ON c.id = b.connection_id AND c.status = 'live'
   WHERE b.job = 'review-nightly' AND b.state = 'open' AND b.next_attempt_at <= now()
     AND (b.lease_until IS NULL OR b.lease_until < now()) AND b.connection_id <> ALL('{}'::bigint[])
   ORDER BY b.next_attempt_at, b.id LIMIT 1 FOR UPDATE OF b SKIP LOCKED;
EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) SELECT d.booking_id, d.booking_no, s.last_name, s.first_name, s.email, s.gender,
       s.language, coalesce(m.partner_status, s.status), s.arrival::text, s.departure::text
  FROM guestflow.deliveries d
  LEFT JOIN guestflow.source_bookings s ON s.booking_id = d.booking_id
  LEFT JOIN guestflow.status_map m ON m.partner = 'reviewhub' AND m.source_status = s.status
 WHERE d.batch_id = (SELECT max(id) FROM guestflow.batches) AND d.state IN ('pending', 'sending') ORDER BY d.booking_id;
ROLLBACK;
SQL
grep -E "Execution Time|Index Scan|Seq Scan" "$WORK/explain.txt" | sed 's/^ */  /'

echo
echo "== summary ($ROUNDS round(s), each: floor, then guestflow, on the same data)"
awk '{ printf "round %d: floor %.2fs, guestflow %.2fs, ratio %.2f, peak RSS %d kB\n", NR, $1, $2, $3, $4 }' "$WORK/rounds.txt"
echo "guestflow wall time: median $(cut -d' ' -f2 "$WORK/rounds.txt" | median)s" \
	"($(echo "scale=0; $ELIGIBLE / $(cut -d' ' -f2 "$WORK/rounds.txt" | median)" | bc) bookings/s);" \
	"raw floor: median $(cut -d' ' -f1 "$WORK/rounds.txt" | median)s"
echo "ratio guestflow / floor: median $(cut -d' ' -f3 "$WORK/rounds.txt" | median)" \
	"(rounds: $(cut -d' ' -f3 "$WORK/rounds.txt" | tr '\n' ' ' | sed 's/ $//'))"
echo "peak RSS: max $(cut -d' ' -f4 "$WORK/rounds.txt" | sort -n | tail -1) kB" \
	"(rounds: $(cut -d' ' -f4 "$WORK/rounds.txt" | tr '\n' ' ' | sed 's/ $//') kB)"
if [ "$CASE" = small-hotels ]; then
	echo "plain script (bench/plain_export.py): median $(cut -d' ' -f5 "$WORK/rounds.txt" | median)s" \
		"(rounds: $(cut -d' ' -f5 "$WORK/rounds.txt" | tr '\n' ' ' | sed 's/ $//'))"
	echo "script / guestflow (same round): median $(cut -d' ' -f6 "$WORK/rounds.txt" | median)" \
		"(rounds: $(cut -d' ' -f6 "$WORK/rounds.txt" | tr '\n' ' ' | sed 's/ $//'));" \
		"targets: guestflow / floor <= 5, script / guestflow >= 2"
fi
echo "every round: every eligible booking delivered once, one history entry each, no booking number twice, no replay"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r), latency ${LATENCY} ms," \
	"in_flight $IN_FLIGHT, processes $PROCS, case $CASE, format $FORMAT"
