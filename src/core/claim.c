/* Claiming: taking one due batch under a lease, with FOR UPDATE SKIP LOCKED. */
#include "core/claim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "db/db.h"
#include "base/log.h"
#include "core/plan.h"
#include "core/rows.h"
#include "core/secret.h"
#include "base/util.h"

void gf_batch_free(struct gf_batch *b)
{
	if (!b)
		return;
	free(b->property_id);
	free(b->id_at_partner);
	if (b->secret) {
		explicit_bzero(b->secret, strlen(b->secret));
		free(b->secret);
	}
	free(b->idempotency_key);
	free(b->lease_token);
	free(b->gone);
	free(b);
}

void gf_batch_rows_free(struct gf_batch_rows *r)
{
	if (!r)
		return;
	free(r->recs);
	free(r->in_source);
	for (size_t i = 0; r->why && i < r->n; i++)
		free(r->why[i]);
	free(r->why);
	if (r->res)
		PQclear(r->res);
	free(r->data);
	free(r);
}

/* Columns: id, connection_id, idempotency_key, attempts, lease_token, then
 * connection property_id, id_at_partner, secret_enc (hex). The secret is
 * decrypted here, for the request; secret stays NULL when it cannot be
 * (gf_secret_unseal() logged why), and the caller holds the connection. */
static struct gf_batch *batch_from(PGresult *r, int i)
{
	struct gf_batch *b = gf_xcalloc(1, sizeof(*b));
	b->id = gf_db_get_int(r, i, 0);
	b->connection_id = gf_db_get_int(r, i, 1);
	b->idempotency_key = gf_xstrdup(PQgetvalue(r, i, 2));
	b->attempts = (int)gf_db_get_int(r, i, 3);
	b->lease_token = gf_xstrdup(PQgetvalue(r, i, 4));
	b->property_id = gf_xstrdup(PQgetvalue(r, i, 5));
	b->id_at_partner = gf_xstrdup(PQgetvalue(r, i, 6));
	/* (none stored: a format whose connections have no secret) */
	if (!PQgetisnull(r, i, 7) && gf_secret_unseal(b->connection_id, gf_db_get(r, i, 7), &b->secret) < 0)
		b->secret = NULL;
	return b;
}

/* The next due batches (up to a number): new from the plan, due for a
 * retry, or abandoned by a crashed worker. Their members are set 'sending'
 * in the same statement (the lease says for how long). fresh: never sent
 * (nothing under its key yet). One statement for several batches, so that
 * a run of many small batches (small hotels) does not pay a statement, a
 * transaction and a look at the source view per batch. The claim's commit
 * does not wait for the disk (synchronous_commit off for its transaction
 * only): lost in a crash of the server, it leaves the batches as they were,
 * with the same members and keys, to be claimed and sent again, the
 * contract's worst case; and the next synchronous commit (a completion)
 * flushes it anyway. The lease's token names the run that holds it.
 * Parameters: job name, skipped connections, lease ms, probe source, run,
 * how many batches at most. */
static const char CLAIM_SQL[] =
	"WITH due AS MATERIALIZED ("
	"  SELECT b.id, b.attempts = 0 AND b.last_error IS NULL AS fresh FROM guestflow.batches b"
	"    JOIN guestflow.connections c ON c.id = b.connection_id AND c.status = 'live'"
	"   WHERE b.job = $1 AND b.state = 'open' AND b.next_attempt_at <= now()"
	"     AND (b.lease_until IS NULL OR b.lease_until < now())"
	"     AND b.connection_id <> ALL($2::bigint[])"
	"   ORDER BY b.next_attempt_at, b.id LIMIT $6::int FOR UPDATE OF b SKIP LOCKED"
	"), m AS MATERIALIZED ("
	"  UPDATE guestflow.deliveries d SET state = 'sending', updated_at = now()"
	"    FROM due WHERE d.batch_id = due.id AND d.state IN ('pending', 'sending')"
	"  RETURNING d.batch_id, d.booking_id"
	/* Members deleted from the PMS since they were planned: they are not
	 * sent (the caller has only the plan's copy of them). The view is
	 * probed for each member by its id, in a scalar subquery: one index
	 * probe a member, never an anti-join over all of the view (which
	 * computes every row, one that may raise included), and never a join
	 * of two CTEs, which the planner, estimating one row each, runs as a
	 * nested loop: quadratic in the claim's size (40 ms for 8 batches of
	 * 100 at "<> ALL (subquery)"). */
	/* And whether the PMS turned the notify flag off since (plan.h,
	 * GF_SQL_NOTIFY_WITHDRAWN_WHEN: a suppression is dealt with when the
	 * slice is written and by the pull): NULL gone, '' as planned, else
	 * why not (the caller then reads the batch again the long way,
	 * gf_batch_rows(), which says why for each member). */
	"), probe AS MATERIALIZED ("
	"  SELECT m.batch_id, m.booking_id,"
	"         (SELECT CASE" GF_SQL_NOTIFY_WITHDRAWN_WHEN " ELSE '' END FROM guestflow.source_bookings s"
	"           WHERE s.booking_id = m.booking_id LIMIT 1) AS why"
	"    FROM m JOIN due ON due.id = m.batch_id WHERE $4::bool AND due.fresh"
	"), gone AS MATERIALIZED ("
	"  SELECT batch_id, array_agg(booking_id) FILTER (WHERE why IS NULL) AS ids,"
	"         bool_or(why <> '') AS withdrawn"
	"    FROM probe WHERE why IS DISTINCT FROM '' GROUP BY batch_id"
	") UPDATE guestflow.batches b"
	"    SET lease_until = now() + $3::bigint * interval '1 millisecond',"
	"        lease_token = $5 || '.' || gen_random_uuid()::text, attempts = b.attempts + 1,"
	/* A lease that ran out under another worker: it may have sent the
	 * batch before it died (the old row's lease_until, in SET). */
	"        maybe_sent = b.maybe_sent OR b.lease_until IS NOT NULL"
	"   FROM due, guestflow.connections c"
	"  WHERE b.id = due.id AND c.id = b.connection_id"
	"    AND set_config('synchronous_commit', 'off', true) IS NOT NULL"
	" RETURNING b.id, b.connection_id, b.idempotency_key, b.attempts, b.lease_token,"
	"           c.property_id, c.id_at_partner, encode(c.secret_enc, 'hex'), due.fresh,"
	/* the members still to deliver */
	"           (SELECT count(*) FROM m WHERE m.batch_id = b.id),"
	"           (SELECT g.ids FROM gone g WHERE g.batch_id = b.id),"
	"           b.maybe_sent,"
	/* the members under its key, as the partner may hold them */
	"           b.records,"
	/* the day it was formed, for a format that names its files by it */
	"           to_char(b.created_at AT TIME ZONE 'UTC', 'YYYYMMDD'),"
	"           coalesce((SELECT g.withdrawn FROM gone g WHERE g.batch_id = b.id), false)";

/* Row i of a claim's result as a batch; NULL on an error. */
static struct gf_batch *claimed_row(PGresult *r, int i, int *err)
{
	struct gf_batch *b = batch_from(r, i);
	b->resend = b->attempts > 1;
	b->records = (int)gf_db_get_int(r, i, 9);
	b->fresh = PQgetvalue(r, i, 8)[0] == 't';
	b->maybe_sent = PQgetvalue(r, i, 11)[0] == 't';
	b->members = (int)gf_db_get_int(r, i, 12);
	snprintf(b->day, sizeof(b->day), "%s", PQgetvalue(r, i, 13));
	b->withdrawn = PQgetvalue(r, i, 14)[0] == 't';
	b->claimed_ms = gf_now_mono_ms();
	if (!PQgetisnull(r, i, 10) && (*err = gf_db_parse_int_array(PQgetvalue(r, i, 10), &b->gone, &b->n_gone)) < 0) {
		gf_batch_free(b);
		return NULL;
	}
	return b;
}

/* The claimed batch of a claim's result (of one batch), or NULL when none was due. */
static int claimed(PGresult *r, struct gf_batch **out)
{
	*out = NULL;
	if (PQntuples(r) == 0)
		return 0;
	int err = 0;
	*out = claimed_row(r, 0, &err);
	return err;
}

static int by_id(const void *a, const void *b)
{
	int64_t x = (*(struct gf_batch *const *)a)->id, y = (*(struct gf_batch *const *)b)->id;
	return (x > y) - (x < y);
}

/* The claimed batches of a claim's result, in batch order (the plan's
 * order: gf_plan_take() expects its batches so). */
static int claimed_all(PGresult *r, struct gf_batch ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	int rows = PQntuples(r);
	if (rows == 0)
		return 0;
	struct gf_batch **v = gf_xcalloc((size_t)rows, sizeof(*v));
	for (int i = 0; i < rows; i++) {
		int err = 0;
		if (!(v[i] = claimed_row(r, i, &err))) {
			while (i-- > 0)
				gf_batch_free(v[i]);
			free(v);
			return err;
		}
	}
	qsort(v, (size_t)rows, sizeof(*v), by_id);
	*out = v;
	*n = (size_t)rows;
	return 0;
}

/* p: job name, max records, skipped connections, lease ms, probe source. */
static int claim_tx(PGconn *c, const char *const *p, struct gf_batch **out)
{
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query_prepared(c, &err, "claim", CLAIM_SQL,
		6, (const char *[]){ p[0], p[2], p[3], p[4], p[5], "1" });
	if (!r)
		return err;
	struct gf_batch *b;
	if ((err = claimed(r, &b)) < 0 || !b) {
		*out = NULL;
		return err;
	}
	int64_t max = 0;
	(void)gf_parse_int64(p[1], &max);
	if (b->records > max && b->fresh) {
		/* --limit: a batch never sent may still be cut; the rest waits,
		 * outside any batch, for the next run's plan. This commit must be
		 * durable before the cut batch is sent under its key. */
		char id[32];
		snprintf(id, sizeof(id), "%lld", (long long)b->id);
		_cleanup_pgresult_ PGresult *t = gf_db_query(c, &err, "claim_trim",
			"WITH keep AS ("
			"  SELECT booking_id FROM guestflow.deliveries WHERE batch_id = $1::bigint AND state = 'sending'"
			"   ORDER BY booking_id LIMIT $2::int"
			"), cut AS ("
			"  UPDATE guestflow.deliveries d SET batch_id = NULL, state = 'pending', updated_at = now()"
			"   WHERE d.batch_id = $1::bigint AND d.state = 'sending'"
			"     AND d.booking_id NOT IN (SELECT booking_id FROM keep) RETURNING 1"
			") UPDATE guestflow.batches SET records = (SELECT count(*) FROM keep)"
			"   WHERE id = $1::bigint RETURNING records", 2, (const char *[]){ id, p[1] });
		if (t)
			err = gf_db_exec(c, "claim_durable", "SET LOCAL synchronous_commit = on", 0, NULL);
		if (!t || err < 0) {
			gf_batch_free(b);
			return err;
		}
		b->records = b->members = (int)gf_db_get_int(t, 0, 0);
	}
	*out = b;
	return 0;
}

int gf_claim(PGconn *c, const struct gf_job *job, int64_t run_id, int max_records, const int64_t *skip,
             size_t n_skip, bool probe_source, struct gf_batch **out)
{
	_cleanup_buf_ struct gf_buf skipv = GF_BUF_INIT(1 << 20);
	char max[16], lease[32], run[32];
	int r = gf_db_int_array(&skipv, skip, n_skip);
	if (r < 0)
		return r;
	snprintf(max, sizeof(max), "%d", max_records);
	snprintf(lease, sizeof(lease), "%lld", (long long)job->lease_ms);
	snprintf(run, sizeof(run), "%lld", (long long)run_id);
	const char *p[] = { job->name, max, gf_buf_str(&skipv), lease, probe_source ? "true" : "false", run };
	*out = NULL;
	/* Without a cut, one statement: its own transaction. */
	bool tx = max_records < job->max_records;
	if (tx && (r = gf_db_begin(c)) < 0)
		return r;
	struct gf_batch *b = NULL;
	r = claim_tx(c, p, &b);
	if (r == 0 && tx)
		r = gf_db_commit(c);
	if (r < 0) {
		if (tx)
			gf_db_rollback(c);
		gf_batch_free(b);
		return r;
	}
	*out = b;
	return 0;
}

int gf_claim_send(PGconn *c, const struct gf_job *job, int64_t run_id, const int64_t *skip, size_t n_skip,
                  bool probe_source, int n)
{
	_cleanup_buf_ struct gf_buf skipv = GF_BUF_INIT(1 << 20);
	char lease[32], run[32], limit[16];
	int r = gf_db_int_array(&skipv, skip, n_skip);
	if (r < 0)
		return r;
	snprintf(lease, sizeof(lease), "%lld", (long long)job->lease_ms);
	snprintf(run, sizeof(run), "%lld", (long long)run_id);
	snprintf(limit, sizeof(limit), "%d", n > 0 ? n : 1);
	const char *p[] = { job->name, gf_buf_str(&skipv), lease, probe_source ? "true" : "false", run, limit };
	return gf_db_async_send(c, "claim", CLAIM_SQL, 6, p);
}

int gf_claim_recv(PGconn *c, bool block, bool *done, struct gf_batch ***out, size_t *n)
{
	int err;
	*out = NULL;
	*n = 0;
	*done = false;
	PGresult *r = gf_db_async_result(c, block, &err, "claim");
	if (!r) {
		*done = err < 0;
		return err;
	}
	*done = true;
	err = claimed_all(r, out, n);
	PQclear(r);
	return err;
}

int gf_claim_sweep(PGconn *c, const char *job)
{
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "claim_sweep",
		"WITH b AS ("
		"  SELECT id FROM guestflow.batches"
		"   WHERE job = $1 AND state = 'open' AND lease_until < now() FOR UPDATE SKIP LOCKED"
		") UPDATE guestflow.deliveries d SET state = 'pending', updated_at = now()"
		"    FROM b WHERE d.batch_id = b.id AND d.state = 'sending'", 1, (const char *[]){ job });
	if (!r)
		return err;
	int64_t n = 0;
	(void)gf_parse_int64(PQcmdTuples(r), &n);
	if (n > 0)
		gf_info("lease_expired", "deliveries=%lld msg=%s", (long long)n,
		        gf_log_q("deliveries of batches whose lease ran out (a worker that died?) are pending again"));
	return 0;
}

int gf_claim_giveback(PGconn *c, const struct gf_batch *b)
{
	char id[32];
	snprintf(id, sizeof(id), "%lld", (long long)b->id);
	return gf_db_exec(c, "claim_giveback",
		"WITH b AS ("
		"  UPDATE guestflow.batches SET lease_until = NULL, attempts = greatest(attempts - 1, 0)"
		"   WHERE id = $1::bigint AND lease_token = $2 AND state = 'open' RETURNING id"
		") UPDATE guestflow.deliveries d SET state = 'pending', updated_at = now()"
		"    FROM b WHERE d.batch_id = b.id AND d.state = 'sending'", 2,
		(const char *[]){ id, b->lease_token });
}

int gf_claim_renew(PGconn *c, const struct gf_job *job, const struct gf_batch *b)
{
	char id[32], lease[32];
	snprintf(id, sizeof(id), "%lld", (long long)b->id);
	snprintf(lease, sizeof(lease), "%lld", (long long)job->lease_ms);
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "claim_renew",
		"UPDATE guestflow.batches SET lease_until = now() + $3::bigint * interval '1 millisecond'"
		" WHERE id = $1::bigint AND lease_token = $2 AND state = 'open' AND lease_until > now()"
		" RETURNING 1", 3,
		(const char *[]){ id, b->lease_token, lease });
	if (!r)
		return err;
	return PQntuples(r) == 1;
}

/* The columns every read of a batch's rows gives: the booking, its values
 * to render (rows.h, the booking number the delivery's), then whether the
 * booking is in the source view; over the batch's open deliveries d. */
#define ROWS_SELECT \
	"SELECT d.booking_id, d.booking_no, " GF_SQL_RECORD_VALUES("coalesce(m.partner_status, s.status)") "," \
	"       s.booking_id IS NOT NULL," \
	/* the status rules again (a status the partner has no name for is \
	 * never sent: the PMS may have changed the booking's status, or an \
	 * operator removed its mapping, since the plan) */ \
	"       CASE WHEN s.booking_id IS NULL THEN NULL" \
	/* the guest's consent, as it is now (withdrawn since the plan: \
	 * never sent, whatever the batch's age) */ \
	GF_SQL_CONSENT_WITHDRAWN_WHEN \
	"            WHEN NOT coalesce(" GF_SQL_RULE_STATUS_SELECTED("$3::text[]") ", false)" \
	"            THEN format('status %s is not one the job sends (selection.statuses)', coalesce(s.status, 'NULL'))" \
	"            WHEN NOT " GF_SQL_RULE_STATUS_MAPPED("$2") \
	"            THEN format('status %s is not mapped for partner %s (guestflow status-map set %s %s'" \
	"                        || ' PARTNER_STATUS, then guestflow rerun)', s.status, $2, $2, s.status) END" \
	"  FROM guestflow.deliveries d" \
	/* (one row per delivery: a view that gives a booking twice, the \
	 * operator's mistake, must not send it twice) */ \
	"  LEFT JOIN LATERAL (SELECT * FROM guestflow.source_bookings s1 WHERE s1.booking_id = d.booking_id" \
	"                      LIMIT 1) s ON true" \
	"  LEFT JOIN guestflow.status_map m ON m.partner = $2 AND m.source_status = s.status" \
	" WHERE d.batch_id = $1::bigint AND d.state IN ('pending', 'sending')"

#define ROW_COLS 12

_Static_assert(ROW_COLS == 3 + GF_REC_FIELDS,
               "ROWS_SELECT: booking, the record's values, in the source view, why its status is not sent");

static void set_record(struct gf_batch_rows *r, size_t i, const char *const *v)
{
	int64_t id = 0;
	(void)gf_parse_int64(v[0] ? v[0] : "0", &id);
	r->recs[i] = gf_record_of(id, v + 1);
	r->in_source[i] = v[10] && v[10][0] == 't';
	if (v[11] && !(r->why && r->why[i])) {
		if (!r->why)
			r->why = gf_xcalloc(r->n ? r->n : 1, sizeof(*r->why));
		r->why[i] = gf_xstrdup(v[11]);
	}
}

/* Whether the source view gives some booking other than the batch's members
 * (m: their ids in column 0) whole, every column evaluated: evidence that
 * members failing one by one are bad alone, not the view as a whole (as the
 * plan's careful mode asks, plan.c). */
static bool view_gives_others(PGconn *c, const PGresult *m)
{
	_cleanup_buf_ struct gf_buf ids = GF_BUF_INIT((size_t)1 << 30);
	int r = gf_buf_puts(&ids, "{");
	for (int i = 0; i < PQntuples(m) && r == 0; i++)
		r = gf_db_array_add_int(&ids, gf_db_get_int(m, i, 0), i == 0);
	if (r == 0)
		r = gf_buf_puts(&ids, "}");
	if (r < 0)
		return false;
	int err;
	_cleanup_pgresult_ PGresult *res = gf_db_query(c, &err, "batch_view_probe",
		"SELECT row_to_json(s)::text FROM guestflow.source_bookings s"
		" WHERE s.booking_id IS NOT NULL AND s.booking_id <> ALL($1::bigint[]) LIMIT 10", 1,
		(const char *[]){ gf_buf_str(&ids) });
	return res && PQntuples(res) > 0;
}

/* The view raised an error for the batch that may be one booking's: each
 * member read alone, the values copied into r->data; a member the view
 * cannot give gets its error as why[i]. All of them failing, with no other
 * booking the view gives: the view is broken as a whole (an error). */
static int rows_one_by_one(PGconn *c, const struct gf_job *job, const char *id, const char *statuses,
                           struct gf_batch_rows **out)
{
	int err;
	_cleanup_pgresult_ PGresult *m = gf_db_query(c, &err, "batch_members",
		"SELECT d.booking_id, d.booking_no FROM guestflow.deliveries d"
		" WHERE d.batch_id = $1::bigint AND d.state IN ('pending', 'sending') ORDER BY d.booking_id",
		1, (const char *[]){ id });
	if (!m)
		return err;
	size_t n = (size_t)PQntuples(m);
	struct gf_batch_rows *r = gf_xcalloc(1, sizeof(*r));
	r->n = n;
	r->recs = gf_xcalloc(n ? n : 1, sizeof(*r->recs));
	r->in_source = gf_xcalloc(n ? n : 1, sizeof(*r->in_source));
	r->why = gf_xcalloc(n ? n : 1, sizeof(*r->why));
	size_t *off = gf_xcalloc((n ? n : 1) * ROW_COLS, sizeof(*off));
	struct gf_buf data = GF_BUF_INIT(SIZE_MAX / 2);
	for (size_t i = 0; i < n && err == 0; i++) {
		const char *p[] = { id, job->partner, statuses, PQgetvalue(m, (int)i, 0) };
		_cleanup_pgresult_ PGresult *one = PQexecParams(c, ROWS_SELECT " AND d.booking_id = $4::bigint", 4, NULL, p,
		                                                NULL, NULL, 0);
		const char *v[ROW_COLS] = { gf_db_get(m, (int)i, 0), gf_db_get(m, (int)i, 1) };
		if (one && PQresultStatus(one) == PGRES_TUPLES_OK) {
			for (int f = 0; f < ROW_COLS && PQntuples(one) == 1; f++)
				v[f] = gf_db_get(one, 0, f);
			if (PQntuples(one) != 1)
				v[10] = "f"; /* gone since */
		} else {
			err = gf_db_result_error(c, one, "batch_row");
			if (!gf_db_sqlstate_may_be_row(gf_db_sqlstate(c)))
				break;
			err = 0;
			char why[400];
			gf_db_error_reason(one, why, sizeof(why));
			r->why[i] = gf_xasprintf("the source view cannot give this booking: %s", why);
			v[10] = "t";
		}
		/* (the values are copied: offsets, the buffer may move) */
		for (int f = 0; f < ROW_COLS && err == 0; f++) {
			off[i * ROW_COLS + f] = v[f] ? data.len : SIZE_MAX;
			if (v[f])
				err = gf_buf_append(&data, v[f], strlen(v[f]) + 1);
		}
	}
	size_t failed = 0;
	for (size_t i = 0; i < n && err == 0; i++)
		failed += r->why[i] != NULL;
	if (err == 0 && n > 0 && failed == n && !view_gives_others(c, m)) {
		gf_error("batch_rows_failed", "batch=%s bookings=%zu error=%s msg=%s", id, n, gf_log_q(r->why[0]),
		         gf_log_q("the source view raised an error for every booking it was asked for: it is broken as a"
		                  " whole, so nothing is rejected; fix guestflow.source_bookings"));
		err = -GF_E_DB;
	}
	if (err < 0) {
		free(off);
		gf_buf_free(&data);
		gf_batch_rows_free(r);
		return err;
	}
	r->data = gf_buf_steal(&data);
	for (size_t i = 0; i < n; i++) {
		const char *v[ROW_COLS];
		for (int f = 0; f < ROW_COLS; f++)
			v[f] = off[i * ROW_COLS + f] == SIZE_MAX ? NULL : r->data + off[i * ROW_COLS + f];
		set_record(r, i, v);
	}
	free(off);
	*out = r;
	return 0;
}

int gf_batch_rows(PGconn *c, const struct gf_job *job, const struct gf_batch *b, struct gf_batch_rows **out)
{
	char id[32];
	snprintf(id, sizeof(id), "%lld", (long long)b->id);
	_cleanup_free_ char *statuses = gf_plan_statuses(job);
	const char *p[] = { id, job->partner, statuses };
	int err;
	/* In booking order, as the plan reads them: every send of a batch
	 * carries its records in the same order. */
	PGresult *res = gf_db_query_prepared(c, &err, "batch_rows", ROWS_SELECT " ORDER BY d.booking_id", 3, p);
	if (!res && PQstatus(c) == CONNECTION_OK && gf_db_sqlstate_may_be_row(gf_db_sqlstate(c))) {
		gf_warn("batch_rows_one_by_one", "batch=%s msg=%s", id,
		        gf_log_q("the source view raised an error for this batch: its bookings are read one by one,"
		                 " and those it cannot give are rejected alone"));
		return rows_one_by_one(c, job, id, statuses, out);
	}
	if (!res)
		return err;
	struct gf_batch_rows *r = gf_xcalloc(1, sizeof(*r));
	r->res = res;
	r->n = (size_t)PQntuples(res);
	r->recs = gf_xcalloc(r->n ? r->n : 1, sizeof(*r->recs));
	r->in_source = gf_xcalloc(r->n ? r->n : 1, sizeof(*r->in_source));
	for (size_t i = 0; i < r->n; i++) {
		const char *v[ROW_COLS];
		for (int f = 0; f < ROW_COLS; f++)
			v[f] = gf_db_get(res, (int)i, f);
		set_record(r, i, v);
	}
	*out = r;
	return 0;
}
