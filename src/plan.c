/* Planning: eligible bookings x live connections become pending deliveries,
 * already grouped into batches, written slice by slice. */
#include "plan.h"

#include <stdio.h>

#include "db.h"
#include "log.h"

#define LOCK_KEY "hashtext('guestflow.plan:' || $1)"

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
 * session's table gf_plan (a parallel query: CREATE TABLE AS may use
 * PostgreSQL's parallel workers), the new ones numbered per connection and
 * cut into chunks of max_records, with what a batch needs to be rendered;
 * and pending deliveries outside any batch (reruns, the rest of a batch cut
 * by --limit) batched at once. */
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
	/* Sorting a night's bookings by connection in memory, not on disk; and
	 * the session's table in memory too (temp_buffers can only be set before
	 * the session's first temporary table: later plans keep the first
	 * value). Both are upper bounds, taken only as far as needed. */
	r = gf_db_exec(p->c, "plan_work_mem", "SET LOCAL work_mem = '256MB'", 0, NULL);
	if (r == 0)
		r = gf_db_exec(p->c, "plan_temp_buffers", "SET temp_buffers = '256MB'", 0, NULL);
	if (r == 0)
		r = gf_db_exec(p->c, "plan_drop", "DROP TABLE IF EXISTS pg_temp.gf_plan, pg_temp.gf_plan_batches", 0, NULL);
	/* Columns kept only for the new pairs: the rest are counted. */
	if (r == 0)
		r = gf_db_exec(p->c, "plan", "CREATE TEMP TABLE gf_plan AS"
			" SELECT x.*, CASE WHEN x.new THEN (row_number() OVER (PARTITION BY x.connection_id, x.new"
			"                                   ORDER BY x.booking_id) - 1) / $4::int END AS chunk"
			"   FROM (SELECT s.booking_id, c.id AS connection_id, d.id IS NULL AS new,"
			"                CASE WHEN d.id IS NULL THEN s.property_id END AS property_id,"
			"                CASE WHEN d.id IS NULL THEN s.booking_no END AS booking_no,"
			"                CASE WHEN d.id IS NULL THEN s.last_name END AS last_name,"
			"                CASE WHEN d.id IS NULL THEN s.first_name END AS first_name,"
			"                CASE WHEN d.id IS NULL THEN s.email END AS email,"
			"                CASE WHEN d.id IS NULL THEN s.gender END AS gender,"
			"                CASE WHEN d.id IS NULL THEN s.language END AS language,"
			/* the partner's status, mapped here once: the map is read
			 * once (an InitPlan) and looked up per row */
			"                CASE WHEN d.id IS NULL THEN coalesce((SELECT jsonb_object_agg(m.source_status, m.partner_status)"
			"                                                        FROM guestflow.status_map m WHERE m.partner = $2)"
			"                                                     ->> s.status, s.status) END AS status,"
			"                CASE WHEN d.id IS NULL THEN s.arrival END AS arrival,"
			"                CASE WHEN d.id IS NULL THEN s.departure END AS departure"
			"           FROM guestflow.source_bookings s"
			"           JOIN guestflow.connections c"
			"             ON c.property_id = s.property_id AND c.partner = $2 AND c.status = 'live'"
			"           LEFT JOIN guestflow.deliveries d"
			"             ON d.booking_id = s.booking_id AND d.connection_id = c.id AND d.job = $1"
			"          WHERE " GF_SQL_ELIGIBLE ") x",
			4, (const char *[]){ job->name, job->partner, window, max });
	if (r == 0)
		r = gf_db_exec(p->c, "plan_index", "CREATE INDEX ON gf_plan (connection_id, chunk) WHERE new", 0, NULL);
	if (r == 0)
		r = gf_db_exec(p->c, "plan_batches",
		               "CREATE TEMP TABLE gf_plan_batches (batch_id bigint PRIMARY KEY, connection_id bigint, chunk bigint)",
		               0, NULL);
	int err = 0;
	PGresult *res = r < 0 ? NULL : gf_db_query(p->c, &err, "plan_count",
		/* chunks: ceil(new pairs / max_records) per connection (a hash
		 * aggregate over the connections, where counting distinct
		 * (connection, chunk) pairs sorted the whole table) */
		"SELECT coalesce(sum(n), 0), coalesce(sum(n_new), 0), coalesce(sum((n_new + $1::int - 1) / $1::int), 0)"
		"  FROM (SELECT count(*) AS n, count(*) FILTER (WHERE new) AS n_new FROM gf_plan GROUP BY connection_id) c",
		1, (const char *[]){ max });
	if (!res)
		r = r < 0 ? r : err;
	if (r == 0) {
		p->res.eligible = gf_db_get_int(res, 0, 0);
		p->res.found = gf_db_get_int(res, 0, 1);
		p->unwritten = gf_db_get_int(res, 0, 2);
	}
	if (res)
		PQclear(res);
	res = r < 0 ? NULL : gf_db_query(p->c, &err, "plan_loose",
		"WITH loose AS MATERIALIZED ("
		"  SELECT d.id, d.connection_id, d.property_id,"
		"         (row_number() OVER (PARTITION BY d.connection_id ORDER BY d.id) - 1) / $2::int AS chunk"
		"    FROM guestflow.delivery_log d"
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
		"  UPDATE guestflow.delivery_log d SET batch_id = k.batch_id, updated_at = now()"
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
	/* Fresh statistics, so that the steps and gf_plan_rows go by index. */
	if (r == 0)
		r = gf_db_exec(p->c, "plan_analyze", "ANALYZE gf_plan (new, connection_id, chunk)", 0, NULL);
	p->table = r == 0;
	return r;
}

int gf_plan_start(struct gf_planner *p, PGconn *c, const struct gf_job *job, int64_t run_id)
{
	*p = (struct gf_planner){ .c = c, .job = job, .run_id = run_id };
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
	char run[32], conn[32], chunk[32], max[16], mark[16];
	snprintf(run, sizeof(run), "%lld", (long long)p->run_id);
	snprintf(conn, sizeof(conn), "%lld", (long long)p->next_conn);
	snprintf(chunk, sizeof(chunk), "%lld", (long long)p->next_chunk);
	snprintf(max, sizeof(max), "%d", max_batches);
	snprintf(mark, sizeof(mark), "%d", max_batches > margin ? max_batches - margin : 0);
	/* Slices and reruns of the job take turns (a transaction lock, held
	 * for one slice): each sees the other's pairs, so that no pair is both
	 * a new batch's member and a rerun's delivery. The slice's statement
	 * starts after the lock is taken, with a snapshot that sees them. */
	int err = gf_db_begin(p->c);
	if (err == 0)
		err = gf_db_exec(p->c, "plan_step_lock", "SELECT " GF_SQL_MEMBERS_LOCK, 1,
		                 (const char *[]){ p->job->name });
	if (err < 0) {
		gf_db_rollback(p->c);
		gf_plan_release(p);
		return err;
	}
	/* The next max_batches chunks of the table (by connection, chunk) become
	 * batches, in one statement. A batch holds its members (delivery ids
	 * drawn here, bookings, booking numbers) in its own row: their delivery
	 * rows are written once, when the batch is answered (see 0007). Batch
	 * ids are drawn in (connection, chunk) order. */
	_cleanup_pgresult_ PGresult *res = gf_db_query(p->c, &err, "plan_step",
		"WITH k AS MATERIALIZED ("
		"  SELECT connection_id, chunk, nextval('guestflow.batches_id_seq') AS batch_id FROM ("
		"    SELECT DISTINCT connection_id, chunk FROM gf_plan"
		"     WHERE new AND (connection_id, chunk) >= ($3::bigint, $4::bigint)"
		"     ORDER BY connection_id, chunk LIMIT $5::int) x"
		"), g AS MATERIALIZED ("
		/* A pair a rerun wrote since the table was read is left to that
		 * delivery (whether or not this plan's own plan_loose has batched
		 * it already): the batch is formed of the others. */
		"  SELECT k.batch_id, g.connection_id, g.property_id, g.booking_id, g.booking_no"
		"    FROM k JOIN gf_plan g ON g.new AND g.connection_id = k.connection_id AND g.chunk = k.chunk"
		"   WHERE NOT EXISTS (SELECT 1 FROM guestflow.delivery_log d"
		"                      WHERE d.booking_id = g.booking_id AND d.connection_id = g.connection_id"
		"                        AND d.job = $1)"
		"   ORDER BY k.batch_id, g.booking_id"
		"), n AS MATERIALIZED ("
		"  SELECT g.*, nextval('guestflow.deliveries_id_seq') AS id FROM g"
		"), b AS ("
		"  INSERT INTO guestflow.batches (id, job, connection_id, property_id, idempotency_key, records, created_run_id,"
		"                                 member_ids, member_bookings, member_nos)"
		"  SELECT batch_id, $1, connection_id, min(property_id), gen_random_uuid()::text, count(*), $2::bigint,"
		"         array_agg(id ORDER BY booking_id), array_agg(booking_id ORDER BY booking_id),"
		"         array_agg(booking_no ORDER BY booking_id)"
		"    FROM n GROUP BY batch_id, connection_id"
		"  RETURNING id, records"
		"), m AS ("
		"  INSERT INTO gf_plan_batches SELECT k.batch_id, k.connection_id, k.chunk FROM k JOIN b ON b.id = k.batch_id"
		"  RETURNING 1"
		"), last AS ("
		"  SELECT connection_id, chunk, batch_id FROM k ORDER BY connection_id DESC, chunk DESC LIMIT 1"
		") SELECT (SELECT count(*) FROM k), (SELECT coalesce(sum(records), 0) FROM b), (SELECT count(*) FROM b),"
		"         (SELECT batch_id FROM last), (SELECT connection_id FROM last), (SELECT chunk FROM last),"
		"         (SELECT batch_id FROM k ORDER BY batch_id OFFSET $6::int LIMIT 1)",
		6, (const char *[]){ p->job->name, run, conn, chunk, max, mark });
	if (res && (err = gf_db_commit(p->c)) < 0) {
		PQclear(res);
		res = NULL;
	}
	if (!res) {
		gf_db_rollback(p->c);
		gf_plan_release(p);
		return err;
	}
	int64_t batches = gf_db_get_int(res, 0, 0); /* chunks taken */
	p->res.planned += gf_db_get_int(res, 0, 1);
	p->res.batches += gf_db_get_int(res, 0, 2);
	if (batches > 0) {
		p->upto = gf_db_get_int(res, 0, 3);
		p->next_conn = gf_db_get_int(res, 0, 4);
		p->next_chunk = gf_db_get_int(res, 0, 5) + 1;
	}
	p->mark = PQgetisnull(res, 0, 6) ? p->upto : gf_db_get_int(res, 0, 6);
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
	/* A batch sent before (a retry, a resend) is read as the source has it now. */
	if (!p->table || !b->fresh)
		return NULL;
	char id[32];
	snprintf(id, sizeof(id), "%lld", (long long)b->id);
	/* The batch's members with the columns the plan read; a batch this
	 * plan did not write has none here. */
	PGresult *r = gf_db_query_prepared(p->c, err, "plan_rows",
		"SELECT g.booking_id, g.booking_no, g.last_name, g.first_name, btrim(g.email, E' \\t\\r\\n'),"
		"       g.gender, g.language, g.status, g.arrival::text, g.departure::text,"
		"       EXISTS (SELECT 1 FROM guestflow.source_bookings s WHERE s.booking_id = g.booking_id)"
		"  FROM gf_plan_batches k"
		"  JOIN gf_plan g ON g.new AND g.connection_id = k.connection_id AND g.chunk = k.chunk"
		" WHERE k.batch_id = $1::bigint"
		" ORDER BY g.booking_id", 1, (const char *[]){ id });
	/* The members of an open batch only ever leave it (cut by --limit,
	 * rerun): when the count still matches, these are all of them. Else
	 * (cut, or a batch of another plan or a split) read it the long way. */
	if (r && PQntuples(r) != b->records) {
		PQclear(r);
		return NULL;
	}
	return r;
}
