/* Claiming: taking one due batch under a lease, with FOR UPDATE SKIP LOCKED. */
#include "claim.h"

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "db.h"
#include "log.h"

void gf_batch_free(struct gf_batch *b)
{
	if (!b)
		return;
	free(b->property_id);
	free(b->hotel_id);
	if (b->access_key) {
		explicit_bzero(b->access_key, strlen(b->access_key));
		free(b->access_key);
	}
	free(b->idempotency_key);
	free(b->lease_token);
	free(b);
}

/* Columns: id, connection_id, idempotency_key, attempts, lease_token, then
 * connection property_id, hotel_id, access_key. */
static struct gf_batch *batch_from(PGresult *r)
{
	struct gf_batch *b = gf_xcalloc(1, sizeof(*b));
	b->id = gf_db_get_int(r, 0, 0);
	b->connection_id = gf_db_get_int(r, 0, 1);
	b->idempotency_key = gf_xstrdup(PQgetvalue(r, 0, 2));
	b->attempts = (int)gf_db_get_int(r, 0, 3);
	b->lease_token = gf_xstrdup(PQgetvalue(r, 0, 4));
	b->property_id = gf_xstrdup(PQgetvalue(r, 0, 5));
	b->hotel_id = gf_xstrdup(PQgetvalue(r, 0, 6));
	b->access_key = gf_xstrdup(PQgetvalue(r, 0, 7));
	return b;
}

/* p: job name, max records, skipped connections, lease ms, run id. */
static int claim_tx(PGconn *c, const char *const *p, struct gf_batch **out)
{
	int err;
	/* 1. An existing batch: due for retry, or abandoned by a crashed worker. */
	_cleanup_pgresult_ PGresult *old = gf_db_query(c, &err, "claim_existing",
		"WITH due AS ("
		"  SELECT b.id FROM guestflow.batches b"
		"    JOIN guestflow.connections c ON c.id = b.connection_id AND c.status = 'live'"
		"   WHERE b.job = $1 AND b.state = 'open' AND b.next_attempt_at <= now()"
		"     AND (b.lease_until IS NULL OR b.lease_until < now())"
		"     AND b.connection_id <> ALL($2::bigint[])"
		"   ORDER BY b.next_attempt_at, b.id LIMIT 1 FOR UPDATE OF b SKIP LOCKED"
		") UPDATE guestflow.batches b"
		"    SET lease_until = now() + $3::bigint * interval '1 millisecond',"
		"        lease_token = gen_random_uuid()::text, attempts = b.attempts + 1"
		"   FROM due, guestflow.connections c"
		"  WHERE b.id = due.id AND c.id = b.connection_id"
		" RETURNING b.id, b.connection_id, b.idempotency_key, b.attempts, b.lease_token,"
		"           c.property_id, c.hotel_id, c.access_key", 3, (const char *[]){ p[0], p[2], p[3] });
	if (!old)
		return err;
	if (PQntuples(old) == 1) {
		struct gf_batch *b = batch_from(old);
		b->resend = true;
		char id[32];
		snprintf(id, sizeof(id), "%lld", (long long)b->id);
		const char *q[] = { id };
		_cleanup_pgresult_ PGresult *u = gf_db_query(c, &err, "claim_existing_members",
			"UPDATE guestflow.deliveries SET state = 'sending', updated_at = now()"
			" WHERE batch_id = $1::bigint AND state IN ('pending', 'sending')", 1, q);
		if (!u) {
			gf_batch_free(b);
			return err;
		}
		int64_t n = 0;
		(void)gf_parse_int64(PQcmdTuples(u), &n);
		b->records = (int)n;
		*out = b;
		return 0;
	}

	/* 2. A new batch from the pending deliveries of one live connection. */
	_cleanup_pgresult_ PGresult *conn = gf_db_query(c, &err, "claim_pick_connection",
		"SELECT d.connection_id FROM guestflow.deliveries d"
		"  JOIN guestflow.connections c ON c.id = d.connection_id AND c.status = 'live'"
		" WHERE d.job = $1 AND d.state = 'pending' AND d.batch_id IS NULL"
		"   AND d.connection_id <> ALL($2::bigint[])"
		" LIMIT 1 FOR UPDATE OF d SKIP LOCKED", 2, (const char *[]){ p[0], p[2] });
	if (!conn)
		return err;
	if (PQntuples(conn) == 0) {
		*out = NULL;
		return 0;
	}
	const char *q[] = { p[0], PQgetvalue(conn, 0, 0), p[1], p[3], p[4] };
	_cleanup_pgresult_ PGresult *nb = gf_db_query(c, &err, "claim_new",
		"WITH picked AS ("
		"  SELECT id FROM guestflow.deliveries"
		"   WHERE job = $1 AND connection_id = $2::bigint AND state = 'pending' AND batch_id IS NULL"
		"   ORDER BY id LIMIT $3::int FOR UPDATE SKIP LOCKED"
		"), b AS ("
		"  INSERT INTO guestflow.batches (job, connection_id, property_id, idempotency_key, records,"
		"                                 attempts, lease_until, lease_token, created_run_id)"
		"  SELECT $1, c.id, c.property_id, gen_random_uuid()::text, (SELECT count(*) FROM picked),"
		"         1, now() + $4::bigint * interval '1 millisecond', gen_random_uuid()::text, $5::bigint"
		"    FROM guestflow.connections c WHERE c.id = $2::bigint"
		"  RETURNING id, connection_id, idempotency_key, attempts, lease_token, records"
		"), u AS ("
		"  UPDATE guestflow.deliveries d SET batch_id = b.id, state = 'sending', updated_at = now()"
		"    FROM picked, b WHERE d.id = picked.id RETURNING d.id"
		") SELECT b.id, b.connection_id, b.idempotency_key, b.attempts, b.lease_token,"
		"         c.property_id, c.hotel_id, c.access_key, (SELECT count(*) FROM u)"
		"    FROM b JOIN guestflow.connections c ON c.id = b.connection_id", 5, q);
	if (!nb)
		return err;
	struct gf_batch *b = batch_from(nb);
	b->records = (int)gf_db_get_int(nb, 0, 8);
	*out = b;
	return 0;
}

int gf_claim(PGconn *c, const struct gf_job *job, int64_t run_id, int max_records,
             const int64_t *skip, size_t n_skip, struct gf_batch **out)
{
	_cleanup_buf_ struct gf_buf skipv = GF_BUF_INIT(1 << 20);
	char max[16], lease[32], run[32];
	int r = gf_db_int_array(&skipv, skip, n_skip);
	if (r < 0)
		return r;
	snprintf(max, sizeof(max), "%d", max_records);
	snprintf(lease, sizeof(lease), "%lld", (long long)job->lease_ms);
	snprintf(run, sizeof(run), "%lld", (long long)run_id);
	const char *p[] = { job->name, max, gf_buf_str(&skipv), lease, run };
	*out = NULL;
	r = gf_db_begin(c);
	if (r < 0)
		return r;
	struct gf_batch *b = NULL;
	r = claim_tx(c, p, &b);
	if (r == 0)
		r = gf_db_commit(c);
	if (r < 0) {
		gf_db_rollback(c);
		gf_batch_free(b);
		return r;
	}
	*out = b;
	return 0;
}

PGresult *gf_batch_rows(PGconn *c, const struct gf_job *job, const struct gf_batch *b, int *err)
{
	char id[32];
	snprintf(id, sizeof(id), "%lld", (long long)b->id);
	const char *p[] = { id, job->partner };
	return gf_db_query(c, err, "batch_rows",
		"SELECT d.id, d.booking_no, s.last_name, s.first_name, btrim(s.email, E' \\t\\r\\n'), s.gender,"
		"       s.language, coalesce(m.partner_status, s.status), s.arrival::text, s.departure::text,"
		"       s.booking_id IS NOT NULL"
		"  FROM guestflow.deliveries d"
		"  LEFT JOIN guestflow.source_bookings s ON s.booking_id = d.booking_id"
		"  LEFT JOIN guestflow.status_map m ON m.partner = $2 AND m.source_status = s.status"
		" WHERE d.batch_id = $1::bigint AND d.state = 'sending'"
		" ORDER BY d.id", 2, p);
}
