/* Planning: eligible bookings x live connections become pending deliveries,
 * already grouped into batches. */
#include "plan.h"

#include <stdio.h>

#include "db.h"

int gf_plan(PGconn *c, const struct gf_job *job, int64_t run_id, struct gf_plan_result *out)
{
	char window[32], run[32], max[16];
	snprintf(window, sizeof(window), "%lld", (long long)job->window_ms);
	snprintf(run, sizeof(run), "%lld", (long long)run_id);
	snprintf(max, sizeof(max), "%d", job->max_records);
	const char *p[] = { job->name, job->partner, window, run, max };
	int r = gf_db_begin(c);
	if (r < 0)
		return r;
	/* Planners of one job (several processes, or a rerun) take turns, so the
	 * anti-join below sees every delivery already planned. */
	r = gf_db_exec(c, "plan_lock", "SELECT pg_advisory_xact_lock(hashtext('guestflow.plan:' || $1))", 1, p);
	/* Sorting a night's bookings by connection in memory, not on disk. */
	if (r == 0)
		r = gf_db_exec(c, "plan_work_mem", "SET LOCAL work_mem = '256MB'", 0, NULL);
	int err = 0;
	/* In one statement: the eligible pairs, the new ones numbered per
	 * connection and cut into batches of max_records (batch ids drawn first,
	 * so that deliveries are written once, already in their batch). */
	PGresult *res = r < 0 ? NULL : gf_db_query(c, &err, "plan",
		"WITH eligible AS MATERIALIZED ("
		"  SELECT s.booking_id, s.property_id, s.booking_no, c.id AS connection_id, d.id IS NULL AS new"
		"    FROM guestflow.source_bookings s"
		"    JOIN guestflow.connections c"
		"      ON c.property_id = s.property_id AND c.partner = $2 AND c.status = 'live'"
		"    LEFT JOIN guestflow.deliveries d"
		"      ON d.booking_id = s.booking_id AND d.connection_id = c.id AND d.job = $1"
		"   WHERE " GF_SQL_ELIGIBLE
		"), numbered AS MATERIALIZED ("
		"  SELECT e.*, (row_number() OVER (PARTITION BY e.connection_id ORDER BY e.booking_id) - 1) / $5::int AS chunk"
		"    FROM eligible e WHERE e.new"
		"), chunks AS MATERIALIZED ("
		"  SELECT connection_id, chunk, min(property_id) AS property_id, count(*) AS records,"
		"         nextval('guestflow.batches_id_seq') AS batch_id"
		"    FROM numbered GROUP BY connection_id, chunk"
		"), b AS ("
		"  INSERT INTO guestflow.batches (id, job, connection_id, property_id, idempotency_key, records, created_run_id)"
		"  SELECT batch_id, $1, connection_id, property_id, gen_random_uuid()::text, records, $4::bigint FROM chunks"
		"  RETURNING 1"
		"), ins AS ("
		"  INSERT INTO guestflow.deliveries (job, connection_id, property_id, booking_id, booking_no, batch_id,"
		"                                    planned_run_id)"
		"  SELECT $1, n.connection_id, n.property_id, n.booking_id, n.booking_no, k.batch_id, $4::bigint"
		"    FROM numbered n JOIN chunks k ON k.connection_id = n.connection_id AND k.chunk = n.chunk"
		"   ORDER BY k.batch_id, n.booking_id"
		"  RETURNING 1"
		") SELECT (SELECT count(*) FROM eligible), (SELECT count(*) FROM ins), (SELECT count(*) FROM b)", 5, p);
	if (!res)
		r = r < 0 ? r : err;
	if (r == 0) {
		out->eligible = gf_db_get_int(res, 0, 0);
		out->planned = gf_db_get_int(res, 0, 1);
		out->batches = gf_db_get_int(res, 0, 2);
	}
	if (res)
		PQclear(res);
	/* Pending deliveries outside any batch (reruns, the rest of a batch cut
	 * by --limit) go into new batches the same way. */
	res = r < 0 ? NULL : gf_db_query(c, &err, "plan_loose",
		"WITH loose AS MATERIALIZED ("
		"  SELECT d.id, d.connection_id, d.property_id,"
		"         (row_number() OVER (PARTITION BY d.connection_id ORDER BY d.id) - 1) / $2::int AS chunk"
		"    FROM guestflow.deliveries d"
		"    JOIN guestflow.connections c ON c.id = d.connection_id AND c.status = 'live'"
		"   WHERE d.job = $1 AND d.batch_id IS NULL AND d.state = 'pending'"
		"), chunks AS MATERIALIZED ("
		"  SELECT connection_id, chunk, min(property_id) AS property_id, count(*) AS records,"
		"         nextval('guestflow.batches_id_seq') AS batch_id"
		"    FROM loose GROUP BY connection_id, chunk"
		"), b AS ("
		"  INSERT INTO guestflow.batches (id, job, connection_id, property_id, idempotency_key, records, created_run_id)"
		"  SELECT batch_id, $1, connection_id, property_id, gen_random_uuid()::text, records, $3::bigint FROM chunks"
		"  RETURNING 1"
		"), u AS ("
		"  UPDATE guestflow.deliveries d SET batch_id = k.batch_id, updated_at = now()"
		"    FROM loose l JOIN chunks k ON k.connection_id = l.connection_id AND k.chunk = l.chunk"
		"   WHERE d.id = l.id RETURNING 1"
		") SELECT (SELECT count(*) FROM b)", 3, (const char *[]){ job->name, max, run });
	if (r == 0 && !res)
		r = err;
	if (r == 0) {
		out->batches += gf_db_get_int(res, 0, 0);
		r = gf_db_commit(c);
	}
	if (res)
		PQclear(res);
	if (r < 0)
		gf_db_rollback(c);
	return r;
}
