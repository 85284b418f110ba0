#!/usr/bin/env bash
# Benchmark: N bookings over 2,000 properties (each with a live connection,
# about half eligible, messy data), the nightly export end to end against the
# partner simulator on loopback, and in the same run the raw floor: COPY of the
# eligible rows out plus COPY of as many rows into pms.booking_history, with
# psql. Prints bookings/s, wall time, peak RSS and guestflow's time as a ratio
# to the floor.   Usage: bench/run.sh [N] (default 100000)
#   BENCH_LATENCY_MS=200 BENCH_IN_FLIGHT=16   a slow partner
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
N=${1:-100000}
LATENCY=${BENCH_LATENCY_MS:-0}
IN_FLIGHT=${BENCH_IN_FLIGHT:-8}
WORK=${BENCH_DIR:-/tmp/guestflow-bench-$(id -u)}

bash tools/deps.sh
for tool in /usr/bin/time bc; do
	command -v "$tool" >/dev/null || apt-get install -y -q "$(basename "$tool")" >/dev/null
done
[ -f build-bench/build.ninja ] || meson setup build-bench -Dbuildtype=release >/dev/null
ninja -C build-bench >/dev/null
GF=$ROOT/build-bench/src/guestflow
SIM=$ROOT/build-bench/tests/partner-sim/partner-sim

sim_pid=
cleanup() {
	[ -n "$sim_pid" ] && { kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; }
	bash tools/pgctl.sh stop "$WORK/pg" || true
}
trap cleanup EXIT
bash tools/pgctl.sh stop "$WORK/pg" 2>/dev/null || true
rm -rf "$WORK"
mkdir -p "$WORK/jobs.d"
chmod 755 "$WORK"
CONNINFO=$(bash tools/pgctl.sh start "$WORK/pg")
PSQL=(psql "$CONNINFO" -X -q -v ON_ERROR_STOP=1)

echo "== loading $N bookings over 2000 properties"
t0=$(date +%s.%N)
"${PSQL[@]}" -f schemas/sql/reference/pms.sql
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
SELECT i, 'P' || (1 + i % 2000), 'B-' || i, i,
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
YAML
for i in $(seq 1 2000); do echo "H-$i key-$i"; done >"$WORK/accounts"
"$SIM" --port 0 --port-file "$WORK/sim.port" --xsd schemas/xsd/review-xml-1.xsd --record "$WORK/received.jsonl" \
	--accounts-file "$WORK/accounts" --latency-ms "$LATENCY" --log /dev/null &
sim_pid=$!
for _ in $(seq 100); do [ -s "$WORK/sim.port" ] && break; sleep 0.1; done
ENDPOINT="http://127.0.0.1:$(cat "$WORK/sim.port")/v1/guests"
sed -e "s|^endpoint: .*|endpoint: \"$ENDPOINT\"|" -e "s|^  in_flight: .*|  in_flight: $IN_FLIGHT|" \
	jobs/review-nightly.yaml >"$WORK/jobs.d/review-nightly.yaml"
G=("$GF" -c "$WORK/guestflow.yaml")
"${G[@]}" db migrate >/dev/null
"${PSQL[@]}" <<SQL
INSERT INTO guestflow.partners VALUES ('reviewhub', 'reviewhub');
INSERT INTO guestflow.connections (property_id, partner, hotel_id, access_key, status)
SELECT 'P' || i, 'reviewhub', 'H-' || i, 'key-' || i, 'live' FROM generate_series(1, 2000) i;
ANALYZE;
SQL
ELIGIBLE=$("${PSQL[@]}" -Atc "SELECT count(*) FROM guestflow.source_bookings s WHERE s.status = 'checked_out'
  AND s.notify AND btrim(s.email, E' \t\r\n') ~ '^[^@[:space:]]+@[^@[:space:]]+\$' AND s.last_name ~ '[^[:space:]]'
  AND s.checked_out_at >= now() - interval '14 days'")
echo "loaded in $(echo "$(date +%s.%N) - $t0" | bc) s; eligible: $ELIGIBLE"

echo "== raw floor: COPY the eligible rows out, COPY as many history rows in"
t0=$(date +%s.%N)
"${PSQL[@]}" -c "COPY (SELECT s.* FROM guestflow.source_bookings s WHERE s.status = 'checked_out' AND s.notify
  AND btrim(s.email, E' \t\r\n') ~ '^[^@[:space:]]+@[^@[:space:]]+\$' AND s.last_name ~ '[^[:space:]]'
  AND s.checked_out_at >= now() - interval '14 days') TO STDOUT" >"$WORK/floor.tsv"
"${PSQL[@]}" -c "BEGIN" -c "\\copy pms.booking_history (booking_id, kind, message) FROM PROGRAM 'cut -f1 $WORK/floor.tsv | sed \"s/\$/\tguestflow\tfloor/\"'" -c "ROLLBACK"
FLOOR=$(echo "$(date +%s.%N) - $t0" | bc)
echo "floor: $FLOOR s"

echo "== guestflow run review-nightly"
/usr/bin/time -v -o "$WORK/time.txt" "${G[@]}" run review-nightly || true
WALL=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/time.txt")
SECS=$(echo "$WALL" | awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }')
RSS=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")
DELIVERED=$("${PSQL[@]}" -Atc "SELECT count(*) FROM guestflow.deliveries WHERE state = 'delivered'")
HISTORY=$("${PSQL[@]}" -Atc "SELECT count(*) FROM pms.booking_history")
echo
echo "bookings: $N, eligible: $ELIGIBLE, delivered: $DELIVERED, history entries: $HISTORY"
echo "guestflow wall time: ${SECS}s ($(echo "scale=0; $ELIGIBLE / $SECS" | bc) bookings/s), peak RSS: $((RSS / 1024)) MiB"
echo "raw floor: ${FLOOR}s; ratio guestflow / floor: $(echo "scale=2; $SECS / $FLOOR" | bc)"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r), latency ${LATENCY} ms, in_flight $IN_FLIGHT"
