/* Planning: eligible bookings x live connections become pending deliveries,
 * already grouped into batches, written slice by slice. */
#include "plan.h"

#include <stdio.h>

#include "db.h"
#include "log.h"

#define LOCK_KEY "hashtext('guestflow.plan:' || $1)"

/* The rows gf_plan_rows returns, in gf_batch_rows' columns, kept as the
 * source view gave them (the email trimmed and the status mapped on the way
 * out, as gf_batch_rows does). */
#define PLAN_TABLE \
	"CREATE TEMP TABLE IF NOT EXISTS gf_plan (" \
	"  batch_id bigint NOT NULL, delivery_id bigint NOT NULL, connection_id bigint NOT NULL," \
	"  property_id text NOT NULL, booking_id bigint NOT NULL, booking_no text NOT NULL," \
	"  last_name text, first_name text, email text, gender text, language text, status text," \
	"  arrival date, departure date)"

static int unlock(struct gf_planner *p)
{
	if (!p->locked)
		return 0;
	p->locked = false;
	return gf_db_exec(p->c, "plan_unlock", "SELECT pg_advisory_unlock(" LOCK_KEY ")", 1,
	                  (const char *[]){ p->job->name });
}

void gf_plan_release(struct gf_planner *p)
{
	if (p->locked && PQstatus(p->c) == CONNECTION_OK)
		(void)unlock(p);
	p->locked = false;
	p->unwritten = 0;
}

/* Under the lock, in one transaction: the eligible pairs read once into the
 * session's table, and pending deliveries outside any batch (reruns, the rest
 * of a batch cut by --limit) batched at once. */
static int read_eligible(struct gf_planner *p)
{
	const struct gf_job *job = p->job;
	char window[32], run[32], max[16];
	snprintf(window, sizeof(window), "%lld", (long long)job->window_ms);
	snprintf(run, sizeof(run), "%lld", (long long)p->run_id);
	snprintf(max, sizeof(max), "%d", job->max_records);
	int r = gf_db_begin(p->c);
	if (r < 0)
		return r;
	/* Sorting a night's bookings by connection in memory, not on disk. */
	r = gf_db_exec(p->c, "plan_work_mem", "SET LOCAL work_mem = '256MB'", 0, NULL);
	if (r == 0 && !p->table) {
		r = gf_db_exec(p->c, "plan_table", PLAN_TABLE, 0, NULL);
		if (r == 0)
			r = gf_db_exec(p->c, "plan_table_index",
			               "CREATE INDEX IF NOT EXISTS gf_plan_batch ON gf_plan (batch_id)", 0, NULL);
		p->table = r == 0;
	}
	if (r == 0)
		r = gf_db_exec(p->c, "plan_truncate", "TRUNCATE gf_plan", 0, NULL);
	int err = 0;
	/* The new pairs numbered per connection and cut into batches of
	 * max_records; batch and delivery ids drawn now, so that every later
	 * step only copies rows. */
	PGresult *res = r < 0 ? NULL : gf_db_query(p->c, &err, "plan",
		"WITH eligible AS MATERIALIZED ("
		"  SELECT s.booking_id, s.property_id, s.booking_no, s.last_name, s.first_name, s.email, s.gender,"
		"         s.language, s.status, s.arrival, s.departure, c.id AS connection_id, d.id IS NULL AS new"
		"    FROM guestflow.source_bookings s"
		"    JOIN guestflow.connections c"
		"      ON c.property_id = s.property_id AND c.partner = $2 AND c.status = 'live'"
		"    LEFT JOIN guestflow.deliveries d"
		"      ON d.booking_id = s.booking_id AND d.connection_id = c.id AND d.job = $1"
		"   WHERE " GF_SQL_ELIGIBLE
		"), numbered AS MATERIALIZED ("
		"  SELECT e.*, (row_number() OVER (PARTITION BY e.connection_id ORDER BY e.booking_id) - 1) / $4::int AS chunk"
		"    FROM eligible e WHERE e.new"
		"), chunks AS MATERIALIZED ("
		"  SELECT connection_id, chunk, nextval('guestflow.batches_id_seq') AS batch_id"
		"    FROM numbered GROUP BY connection_id, chunk"
		"), ins AS ("
		"  INSERT INTO gf_plan"
		"  SELECT k.batch_id, nextval('guestflow.deliveries_id_seq'), n.connection_id, n.property_id,"
		"         n.booking_id, n.booking_no, n.last_name, n.first_name, n.email, n.gender, n.language,"
		"         n.status, n.arrival, n.departure"
		"    FROM numbered n JOIN chunks k ON k.connection_id = n.connection_id AND k.chunk = n.chunk"
		"   ORDER BY k.batch_id, n.booking_id"
		"  RETURNING 1"
		") SELECT (SELECT count(*) FROM eligible), (SELECT count(*) FROM ins), (SELECT count(*) FROM chunks),"
		"         (SELECT coalesce(min(batch_id), 1) - 1 FROM chunks)",
		4, (const char *[]){ job->name, job->partner, window, max });
	if (!res)
		r = r < 0 ? r : err;
	if (r == 0) {
		p->res.eligible = gf_db_get_int(res, 0, 0);
		p->res.found = gf_db_get_int(res, 0, 1);
		p->unwritten = gf_db_get_int(res, 0, 2);
		p->first = p->upto = gf_db_get_int(res, 0, 3);
	}
	if (res)
		PQclear(res);
	res = r < 0 ? NULL : gf_db_query(p->c, &err, "plan_loose",
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
		p->res.batches += gf_db_get_int(res, 0, 0);
		r = gf_db_commit(p->c);
	}
	if (res)
		PQclear(res);
	if (r < 0)
		gf_db_rollback(p->c);
	/* Fresh statistics, so that gf_plan_rows looks batches up by index. */
	if (r == 0)
		r = gf_db_exec(p->c, "plan_analyze", "ANALYZE gf_plan", 0, NULL);
	return r;
}

int gf_plan_start(struct gf_planner *p, PGconn *c, const struct gf_job *job, int64_t run_id)
{
	bool table = p->c == c && p->table;
	*p = (struct gf_planner){ .c = c, .job = job, .run_id = run_id, .table = table };
	int err;
	/* Planners of one job (several processes, a rerun) take turns, so that
	 * each one's anti-join sees every delivery already planned; the lock is
	 * the session's, held until the last slice is written (or the session
	 * ends, whatever ends it). */
	_cleanup_pgresult_ PGresult *l = gf_db_query(c, &err, "plan_lock",
		"SELECT pg_try_advisory_lock(" LOCK_KEY ")", 1, (const char *[]){ job->name });
	if (!l)
		return err;
	if (PQgetvalue(l, 0, 0)[0] != 't') {
		p->skipped = true;
		return 0;
	}
	p->locked = true;
	int r = read_eligible(p);
	if (r == 0 && p->unwritten == 0)
		r = unlock(p);
	if (r < 0)
		gf_plan_release(p);
	return r;
}

int gf_plan_step(struct gf_planner *p, int max_batches, int margin, int64_t *written)
{
	*written = 0;
	if (!p->locked || p->unwritten == 0)
		return 0;
	char job_run[32], upto[32], max[16], mark[16];
	snprintf(job_run, sizeof(job_run), "%lld", (long long)p->run_id);
	snprintf(upto, sizeof(upto), "%lld", (long long)p->upto);
	snprintf(max, sizeof(max), "%d", max_batches);
	snprintf(mark, sizeof(mark), "%d", max_batches > margin ? max_batches - margin : 0);
	int err;
	/* The next max_batches batches of the table, written in one statement:
	 * its own transaction. */
	_cleanup_pgresult_ PGresult *res = gf_db_query(p->c, &err, "plan_step",
		"WITH ids AS MATERIALIZED ("
		"  SELECT DISTINCT batch_id FROM gf_plan WHERE batch_id > $3::bigint ORDER BY batch_id LIMIT $4::int"
		"), s AS MATERIALIZED ("
		"  SELECT g.* FROM gf_plan g WHERE g.batch_id > $3::bigint AND g.batch_id <= (SELECT max(batch_id) FROM ids)"
		"), b AS ("
		"  INSERT INTO guestflow.batches (id, job, connection_id, property_id, idempotency_key, records, created_run_id)"
		"  SELECT batch_id, $1, connection_id, min(property_id), gen_random_uuid()::text, count(*), $2::bigint"
		"    FROM s GROUP BY batch_id, connection_id"
		"  RETURNING 1"
		"), ins AS ("
		"  INSERT INTO guestflow.deliveries (id, job, connection_id, property_id, booking_id, booking_no, batch_id,"
		"                                    planned_run_id)"
		"  SELECT delivery_id, $1, connection_id, property_id, booking_id, booking_no, batch_id, $2::bigint"
		"    FROM s ORDER BY batch_id, booking_id"
		"  RETURNING 1"
		") SELECT (SELECT count(*) FROM b), (SELECT count(*) FROM ins), (SELECT max(batch_id) FROM ids),"
		"         (SELECT batch_id FROM ids ORDER BY batch_id OFFSET $5::int LIMIT 1)",
		5, (const char *[]){ p->job->name, job_run, upto, max, mark });
	if (!res) {
		gf_plan_release(p);
		return err;
	}
	int64_t batches = gf_db_get_int(res, 0, 0);
	p->res.batches += batches;
	p->res.planned += gf_db_get_int(res, 0, 1);
	if (batches > 0)
		p->upto = gf_db_get_int(res, 0, 2);
	p->mark = PQgetisnull(res, 0, 3) ? p->upto : gf_db_get_int(res, 0, 3);
	p->unwritten = batches > 0 && p->unwritten > batches ? p->unwritten - batches : 0;
	*written = batches;
	if (p->unwritten == 0) {
		int r = unlock(p);
		if (r < 0)
			return r;
	}
	return 0;
}

PGresult *gf_plan_rows(struct gf_planner *p, const struct gf_batch *b, int *err)
{
	*err = 0;
	if (!p->table || !b->fresh || b->id <= p->first || b->id > p->upto)
		return NULL;
	char id[32];
	snprintf(id, sizeof(id), "%lld", (long long)b->id);
	PGresult *r = gf_db_query_prepared(p->c, err, "plan_rows",
		"SELECT g.delivery_id, g.booking_no, g.last_name, g.first_name, btrim(g.email, E' \\t\\r\\n'), g.gender,"
		"       g.language, coalesce(m.partner_status, g.status), g.arrival::text, g.departure::text, true"
		"  FROM gf_plan g"
		"  LEFT JOIN guestflow.status_map m ON m.partner = $2 AND m.source_status = g.status"
		" WHERE g.batch_id = $1::bigint"
		" ORDER BY g.delivery_id", 2, (const char *[]){ id, p->job->partner });
	/* Members that left the batch since (it was cut): read it the long way. */
	if (r && PQntuples(r) != b->records) {
		PQclear(r);
		return NULL;
	}
	return r;
}
