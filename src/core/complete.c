/* Completing a batch in one transaction. */
#include "core/complete.h"
#include "core/output.h"

#include <stdio.h>
#include <string.h>

#include "core/alert.h"
#include "core/claim.h"
#include "base/buf.h"
#include "db/db.h"
#include "base/fault.h"
#include "base/log.h"
#include "base/signals.h"
#include "base/text.h"

struct ctx {
	PGconn *c;
	const struct gf_job *job;
	const struct gf_batch *b;
	char id[32];
	char run[32];
	int64_t run_id;
	struct gf_complete_result *out;
};

static int64_t affected(PGresult *r)
{
	int64_t n = 0;
	(void)gf_parse_int64(PQcmdTuples(r), &n);
	return n;
}

/* The rejected members as three array literals: booking ids, reasons,
 * whether for the booking's data (a booking is in a batch at most once). */
static int rejection_arrays(const struct gf_completion *cp, struct gf_buf *ids, struct gf_buf *reasons,
                            struct gf_buf *data)
{
	size_t n = cp->n_rejections;
	int64_t *idv = gf_xcalloc(n ? n : 1, sizeof(*idv));
	const char **rv = gf_xcalloc(n ? n : 1, sizeof(*rv));
	for (size_t i = 0; i < n; i++) {
		idv[i] = cp->rejections[i].booking_id;
		rv[i] = cp->rejections[i].reason ? cp->rejections[i].reason : "rejected";
	}
	int r = gf_db_int_array(ids, idv, n);
	if (r == 0)
		r = gf_db_text_array(reasons, rv, n);
	r = r ? r : gf_buf_puts(data, "{");
	for (size_t i = 0; i < n && r == 0; i++)
		r = gf_buf_puts(data, cp->rejections[i].partner ? (i ? ",f" : "f") : (i ? ",t" : "t"));
	r = r ? r : gf_buf_puts(data, "}");
	free(idv);
	free(rv);
	return r;
}

static int reject_listed(struct ctx *x, const struct gf_completion *cp)
{
	if (cp->n_rejections == 0)
		return 0;
	_cleanup_buf_ struct gf_buf ids = GF_BUF_INIT((size_t)64 << 20);
	_cleanup_buf_ struct gf_buf reasons = GF_BUF_INIT((size_t)64 << 20);
	_cleanup_buf_ struct gf_buf data = GF_BUF_INIT((size_t)64 << 20);
	int r = rejection_arrays(cp, &ids, &reasons, &data);
	if (r < 0)
		return r;
	const char *p[] = { x->id, gf_buf_str(&ids), gf_buf_str(&reasons), x->run, gf_buf_str(&data) };
	int err;
	_cleanup_pgresult_ PGresult *res = gf_db_query(x->c, &err, "complete_rejected",
		"UPDATE guestflow.deliveries d SET state = 'rejected', reason = t.reason, data_rejected = t.data,"
		"       updated_at = now(), finished_at = now(), finished_run_id = $4::bigint"
		"  FROM unnest($2::bigint[], $3::text[], $5::bool[]) AS t(id, reason, data)"
		" WHERE d.booking_id = t.id AND d.batch_id = $1::bigint AND d.state IN ('pending', 'sending')", 5, p);
	if (!res)
		return err;
	x->out->rejected += affected(res);
	return 0;
}

static int api_call(struct ctx *x, const struct gf_api_call *call)
{
	if (!call)
		return 0;
	char conn[32], status[16], lat[32], rq[32], rs[32], recs[16];
	snprintf(conn, sizeof(conn), "%lld", (long long)x->b->connection_id);
	snprintf(status, sizeof(status), "%ld", call->status);
	snprintf(lat, sizeof(lat), "%lld", (long long)call->latency_ms);
	snprintf(rq, sizeof(rq), "%lld", (long long)call->request_bytes);
	snprintf(rs, sizeof(rs), "%lld", (long long)call->response_bytes);
	snprintf(recs, sizeof(recs), "%d", call->records);
	/* The API-call log holds safe text only, whoever built it (text.h). */
	const char *key = x->b->secret;
	_cleanup_free_ char *url = call->url_public ? gf_text_safe_dup(call->url_public, key, GF_TEXT_MAX) : NULL;
	_cleanup_free_ char *error = call->error ? gf_text_safe_dup(call->error, key, GF_TEXT_MAX) : NULL;
	_cleanup_free_ char *excerpt = call->response_excerpt ?
		gf_text_safe_dup(call->response_excerpt, key, GF_TEXT_MAX) : NULL;
	const char *p[] = { x->run, x->job->name, conn, x->id, url,
	                    call->status ? status : NULL, lat, rq, rs, recs,
	                    x->b->idempotency_key, call->outcome, error, excerpt, x->job->output->method };
	return gf_db_exec(x->c, "api_call",
		"INSERT INTO guestflow.api_calls (run_id, job, connection_id, batch_id, url, status_code,"
		" latency_ms, request_bytes, response_bytes, records, idempotency_key, outcome, error,"
		" response_excerpt, method) VALUES ($1::bigint, $2, $3::bigint, $4::bigint, $5, $6::int, $7::int,"
		" $8::bigint, $9::bigint, $10::int, $11, $12, $13, $14, $15)", 15, p);
}

static int accepted(struct ctx *x, const struct gf_completion *cp)
{
	const char *p[] = { x->id, x->run, cp->history_message ? cp->history_message : "" };
	int err;
	/* Deliveries and their history entries in one statement: the adapter
	 * function is called once with the whole batch. */
	_cleanup_pgresult_ PGresult *res = gf_db_query(x->c, &err, "complete_delivered",
		"WITH d AS ("
		"  UPDATE guestflow.deliveries SET state = 'delivered', reason = NULL, updated_at = now(),"
		"         finished_at = now(), finished_run_id = $2::bigint"
		"   WHERE batch_id = $1::bigint AND state IN ('pending', 'sending')"
		"  RETURNING booking_id, booking_no, rerun"
		"), h AS ("
		"  SELECT guestflow.write_history(array_agg(booking_id ORDER BY booking_id),"
		"         array_agg(replace($3, '{booking_no}', booking_no)"
		"                   || CASE WHEN rerun THEN ' (rerun)' ELSE '' END ORDER BY booking_id)) AS ok"
		"    FROM d HAVING count(*) > 0"
		") SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM h)", 3, p);
	if (!res)
		return err;
	x->out->delivered += gf_db_get_int(res, 0, 0);
	/* The partner answered: whatever kept it from doing so is over. */
	int r = gf_alert_clear_answered(x->c, x->job->name, x->b->connection_id, x->run_id);
	if (r < 0)
		return r;
	return gf_db_exec(x->c, "complete_batch_done",
		"UPDATE guestflow.batches SET state = 'done', lease_until = NULL, finished_at = now(),"
		" finished_run_id = $2::bigint WHERE id = $1::bigint", 2, p);
}

static int retry(struct ctx *x, const struct gf_completion *cp)
{
	bool dead = x->b->attempts >= x->job->max_attempts;
	char delay[32];
	snprintf(delay, sizeof(delay), "%lld", (long long)cp->retry_delay_ms);
	const char *p[] = { x->id, cp->error ? cp->error : "temporary failure", delay, x->run };
	int err;
	if (dead) {
		int r = gf_db_exec(x->c, "complete_batch_dead",
			"UPDATE guestflow.batches SET state = 'dead', last_error = $2, lease_until = NULL,"
			" maybe_sent = maybe_sent OR $3::bool, finished_at = now() WHERE id = $1::bigint", 3,
			(const char *[]){ p[0], p[1], cp->maybe_sent ? "true" : "false" });
		if (r < 0)
			return r;
		_cleanup_pgresult_ PGresult *res = gf_db_query(x->c, &err, "complete_dead",
			"UPDATE guestflow.deliveries SET state = 'dead', reason = $2, updated_at = now(),"
			"       finished_at = now(), finished_run_id = $3::bigint"
			" WHERE batch_id = $1::bigint AND state IN ('pending', 'sending')", 3,
			(const char *[]){ p[0], p[1], p[3] });
		if (!res)
			return err;
		x->out->dead += affected(res);
		char msg[1024];
		snprintf(msg, sizeof(msg), "deliveries of property %s went dead after %d attempts (last error: %s);"
		         " fix the cause, then 'guestflow rerun %s --dead' puts them back in the queue",
		         x->b->property_id, x->b->attempts, p[1], x->job->name);
		return gf_alert_raise(x->c, x->job->name, x->b->connection_id, "dead_deliveries", msg,
		                      x->run_id);
	}
	int r = gf_db_exec(x->c, "complete_batch_retry",
		"UPDATE guestflow.batches SET last_error = $2, lease_until = NULL, maybe_sent = maybe_sent OR $4::bool,"
		" next_attempt_at = now() + $3::bigint * interval '1 millisecond' WHERE id = $1::bigint", 4,
		(const char *[]){ p[0], p[1], p[2], cp->maybe_sent ? "true" : "false" });
	if (r < 0)
		return r;
	_cleanup_pgresult_ PGresult *res = gf_db_query(x->c, &err, "complete_retry",
		"UPDATE guestflow.deliveries SET state = 'pending', reason = $2, updated_at = now()"
		" WHERE batch_id = $1::bigint AND state IN ('pending', 'sending')", 2, p);
	if (!res)
		return err;
	x->out->retried += affected(res);
	return 0;
}

static int release(struct ctx *x, const struct gf_completion *cp)
{
	/* Not the batch's fault: the attempt the claim counted is given back.
	 * requeue: behind the batches due now. */
	const char *p[] = { x->id, cp->error ? cp->error : "released", cp->maybe_sent ? "true" : "false",
	                    cp->requeue ? "true" : "false" };
	int r = gf_db_exec(x->c, "complete_batch_release",
		"UPDATE guestflow.batches SET last_error = $2, lease_until = NULL,"
		" attempts = greatest(attempts - 1, 0), maybe_sent = maybe_sent OR $3::bool,"
		" next_attempt_at = CASE WHEN $4::bool THEN now() ELSE next_attempt_at END WHERE id = $1::bigint", 4, p);
	if (r == 0)
		r = gf_db_exec(x->c, "complete_release",
			"UPDATE guestflow.deliveries SET state = 'pending', reason = $2, updated_at = now()"
			" WHERE batch_id = $1::bigint AND state IN ('pending', 'sending')", 2, p);
	if (r == 0 && cp->alert_kind)
		r = gf_alert_raise(x->c, x->job->name, cp->alert_job_wide ? 0 : x->b->connection_id, cp->alert_kind,
		                   cp->alert_message ? cp->alert_message : p[1], x->run_id);
	return r;
}

static int split(struct ctx *x, const struct gf_completion *cp)
{
	int err;
	_cleanup_pgresult_ PGresult *m = gf_db_query(x->c, &err, "split_members",
		"SELECT booking_id FROM guestflow.deliveries WHERE batch_id = $1::bigint AND state IN ('pending', 'sending')"
		" ORDER BY booking_id", 1, (const char *[]){ x->id });
	if (!m)
		return err;
	int n = PQntuples(m);
	const char *why = cp->error ? cp->error : "refused by partner";
	bool made = false;
	if (cp->split_whole && n == 0) {
		/* every member named: nothing left to send */
	} else if (n <= 1 && !cp->split_whole) {
		/* One record the partner will not take: it is the bad one. */
		const char *p[] = { x->id, why, x->run };
		_cleanup_pgresult_ PGresult *res = gf_db_query(x->c, &err, "split_reject_last",
			"UPDATE guestflow.deliveries SET state = 'rejected', reason = $2, updated_at = now(),"
			"       finished_at = now(), finished_run_id = $3::bigint"
			" WHERE batch_id = $1::bigint AND state IN ('pending', 'sending')", 3, p);
		if (!res)
			return err;
		x->out->rejected += affected(res);
	} else {
		int half = cp->split_whole ? 0 : n / 2;
		for (int part = cp->split_whole ? 1 : 0; part < 2; part++) {
			int from = part ? half : 0, to = part ? n : half;
			_cleanup_buf_ struct gf_buf ids = GF_BUF_INIT((size_t)16 << 20);
			int r = gf_buf_puts(&ids, "{");
			for (int i = from; i < to && r == 0; i++)
				r = gf_buf_printf(&ids, i > from ? ",%s" : "%s", PQgetvalue(m, i, 0));
			if (r == 0)
				r = gf_buf_puts(&ids, "}");
			if (r < 0)
				return r;
			const char *p[] = { x->id, gf_buf_str(&ids), x->run, cp->split_whole ? "true" : "false" };
			r = gf_db_exec(x->c, "split_new_batch",
				"WITH nb AS ("
				/* The halves take their parent's place in the queue
				 * (claims go by next_attempt_at, then id): they go
				 * before the batches planned after it, so that a bad
				 * record is isolated (and the partner shows that it
				 * takes the rest) before the others are sent. */
				"  INSERT INTO guestflow.batches (job, connection_id, property_id, idempotency_key,"
				"         records, parent_id, created_run_id, next_attempt_at)"
				/* (the rest after named rejections: a key derived
				 * from the batch's, as the contract asks, a UUID
				 * again however often it is derived) */
				"  SELECT job, connection_id, property_id,"
				"         CASE WHEN $4::bool THEN md5(idempotency_key || '.rest')::uuid::text"
				"              ELSE gen_random_uuid()::text END,"
				"         cardinality($2::bigint[]), id, $3::bigint, next_attempt_at"
				"    FROM guestflow.batches WHERE id = $1::bigint RETURNING id"
				") UPDATE guestflow.deliveries d SET batch_id = nb.id, state = 'pending', updated_at = now()"
				"    FROM nb WHERE d.batch_id = $1::bigint AND d.booking_id = ANY($2::bigint[])"
				"     AND d.state IN ('pending', 'sending')", 4, p);
			if (r < 0)
				return r;
			x->out->new_batches++;
			made = true;
		}
	}
	/* A batch of one was not split: it is done, its record rejected. */
	return gf_db_exec(x->c, "split_batch_done",
		"UPDATE guestflow.batches SET state = CASE WHEN $3 THEN 'split' ELSE 'done' END,"
		" last_error = $2, lease_until = NULL, finished_at = now() WHERE id = $1::bigint", 3,
		(const char *[]){ x->id, why, made ? "true" : "false" });
}

/* One completion in one transaction. A SPLIT of a batch marked maybe_sent
 * (read under its lock) is applied as a RETRY: it is never split. */
static int complete_tx(PGconn *c, const struct gf_job *job, int64_t run_id, const struct gf_batch *b,
                       const struct gf_completion *cp, struct gf_complete_result *out)
{
	struct ctx x = { .c = c, .job = job, .b = b, .run_id = run_id, .out = out };
	snprintf(x.id, sizeof(x.id), "%lld", (long long)b->id);
	snprintf(x.run, sizeof(x.run), "%lld", (long long)run_id);
	int r = gf_db_begin(c);
	if (r < 0)
		return r;
	int err;
	PGresult *lease = gf_db_query(c, &err, "complete_lease",
		"SELECT maybe_sent FROM guestflow.batches WHERE id = $1::bigint AND lease_token = $2"
		" AND state = 'open' FOR UPDATE", 2, (const char *[]){ x.id, b->lease_token });
	r = lease ? (PQntuples(lease) == 1 ? 0 : -ESTALE) : err;
	bool maybe_sent = r == 0 && PQgetvalue(lease, 0, 0)[0] == 't';
	if (lease)
		PQclear(lease);
	struct gf_completion whole;
	if (r == 0 && cp->kind == GF_COMPLETE_SPLIT && maybe_sent) {
		/* The partner may hold this batch under its key: resent whole. */
		whole = *cp;
		whole.kind = GF_COMPLETE_RETRY;
		whole.maybe_sent = true;
		cp = &whole;
	}
	if (r == 0)
		r = reject_listed(&x, cp);
	if (r == 0) {
		switch (cp->kind) {
		case GF_COMPLETE_ACCEPTED: r = accepted(&x, cp); break;
		case GF_COMPLETE_RETRY: r = retry(&x, cp); break;
		case GF_COMPLETE_SPLIT: r = split(&x, cp); break;
		case GF_COMPLETE_RELEASE: r = release(&x, cp); break;
		}
	}
	if (r == 0)
		r = api_call(&x, cp->call);
	if (r == 0)
		gf_fault_point("in_commit");
	if (r == 0)
		r = gf_db_commit(c);
	if (r < 0)
		gf_db_rollback(c);
	return r;
}

static void lease_lost(int64_t batch_id)
{
	gf_warn("lease_lost", "batch=%lld msg=%s", (long long)batch_id,
	        gf_log_q("another worker took over this batch after its lease expired; its result stands"));
}

int gf_complete_refused(PGconn *c, const struct gf_job *job, int64_t run_id, const struct gf_batch *b,
                        const struct gf_api_call *call, const char *sqlstate, int64_t retry_delay_ms,
                        bool maybe_sent, struct gf_complete_result *out)
{
	/* Generic: the partner's text (reasons, the reply's excerpt) may be
	 * what the database refused; the log has the database's message. */
	char err[400];
	if (sqlstate && strcmp(sqlstate, "55P03") == 0)
		/* (lock_not_available: database.lock_timeout ran out) */
		snprintf(err, sizeof(err), "recording the outcome of this batch waited longer than database.lock_timeout"
		         " for a lock another session holds (the PMS editing one of its bookings? SQLSTATE 55P03, see the"
		         " log of run %lld); it is sent again under its key", (long long)run_id);
	else
		snprintf(err, sizeof(err), "the database refused to record the outcome of this batch (SQLSTATE %s,"
		         " see the log of run %lld); it is sent again under its key", sqlstate && *sqlstate ? sqlstate : "?",
		         (long long)run_id);
	struct gf_api_call plain;
	if (call) {
		plain = *call;
		plain.outcome = "retry";
		plain.error = err;
		plain.response_excerpt = NULL;
	}
	struct gf_completion cp = { .kind = GF_COMPLETE_RETRY, .error = err, .retry_delay_ms = retry_delay_ms,
	                            .maybe_sent = maybe_sent, .call = call ? &plain : NULL };
	struct gf_complete_result res = { 0 };
	int r = complete_tx(c, job, run_id, b, &cp, &res);
	if (r == -ESTALE)
		lease_lost(b->id);
	if (r < 0)
		return r;
	gf_warn("completion_refused", "batch=%lld sqlstate=%s attempt=%d of=%d msg=%s", (long long)b->id,
	        gf_log_q(sqlstate && *sqlstate ? sqlstate : "?"), b->attempts, job->max_attempts,
	        gf_log_q(res.dead ? "the database refused to record this batch's outcome: it is dead now"
	                          : "the database refused to record this batch's outcome: it is retried"));
	res.refused = true;
	snprintf(res.sqlstate, sizeof(res.sqlstate), "%s", sqlstate ? sqlstate : "");
	*out = res;
	return 0;
}

/* An accepted batch whose completion the database refused for what may be
 * one booking's values (gf_db_sqlstate_may_be_row: the adapter's
 * write_history raising for one booking, a column of the PMS too short for
 * one entry, a booking deleted from the PMS under a foreign key), completed
 * member by member in one transaction, with the constraints checked as
 * each statement runs (a deferred foreign key too): each member delivered
 * with its history entry under a savepoint of its own. The partner holds
 * every member, so a member whose entry the PMS refuses is delivered all
 * the same (never sent again), the entry it is owed kept in
 * deliveries.history_pending for a later run of the job to write
 * (gf_complete_history_owed). Returns 0 (out set; out->history_refused of
 * out->delivered without their entry: all of them may be the history store
 * failing as a whole, the caller judges), 1 when it does not apply (no
 * member to deliver, or a statement failed otherwise than for one member's
 * entry: state set to that statement's SQLSTATE, for the caller to
 * complete the batch as refused), -ESTALE (the lease lost) or the error
 * of a session gone. */
static int each_fails(PGconn *c, int r, char *state)
{
	snprintf(state, 6, "%s", gf_db_sqlstate(c));
	bool gone = gf_db_session_gone(c);
	gf_db_rollback(c);
	return gone ? (r < 0 ? r : -GF_E_DB_LOST) : 1;
}

int gf_complete_accepted_each(PGconn *c, const struct gf_job *job, int64_t run_id, const struct gf_batch *b,
                              const struct gf_accepted *a, char sqlstate[6], struct gf_complete_result *out)
{
	if (!gf_db_sqlstate_may_be_row(sqlstate))
		return 1;
	char run[32];
	snprintf(run, sizeof(run), "%lld", (long long)run_id);
	const char *id = a->v[GF_ACC_ID];
	struct gf_complete_result res = { 0 };
	int err, r = gf_db_begin(c);
	if (r == 0)
		r = gf_db_exec(c, "each_immediate", "SET CONSTRAINTS ALL IMMEDIATE", 0, NULL);
	if (r < 0)
		return each_fails(c, r, sqlstate);
	PGresult *lease = gf_db_query(c, &err, "each_lease",
		"SELECT 1 FROM guestflow.batches WHERE id = $1::bigint AND lease_token = $2 AND state = 'open' FOR UPDATE",
		2, (const char *[]){ id, a->v[GF_ACC_TOKEN] });
	if (!lease)
		return each_fails(c, err, sqlstate);
	int held = PQntuples(lease);
	PQclear(lease);
	if (held != 1) {
		gf_db_rollback(c);
		lease_lost(b->id);
		return -ESTALE;
	}
	PGresult *rej = gf_db_query(c, &err, "each_rejected",
		"UPDATE guestflow.deliveries d SET state = 'rejected', reason = t.reason, data_rejected = t.data,"
		"       updated_at = now(), finished_at = now(), finished_run_id = $4::bigint"
		"  FROM unnest($2::bigint[], $3::text[], $5::bool[]) AS t(id, reason, data)"
		" WHERE d.booking_id = t.id AND d.batch_id = $1::bigint AND d.state IN ('pending', 'sending')", 5,
		(const char *[]){ id, a->v[GF_ACC_REJ_IDS], a->v[GF_ACC_REJ_REASONS], run, a->v[GF_ACC_REJ_DATA] });
	if (!rej)
		return each_fails(c, err, sqlstate);
	res.rejected = affected(rej);
	PQclear(rej);
	/* each member's entry, as the batch's statement would write it */
	_cleanup_pgresult_ PGresult *m = gf_db_query(c, &err, "each_members",
		"SELECT booking_id, booking_no,"
		"       replace($2, '{booking_no}', booking_no) || CASE WHEN rerun THEN ' (rerun)' ELSE '' END"
		"  FROM guestflow.deliveries"
		" WHERE batch_id = $1::bigint AND state IN ('pending', 'sending') ORDER BY booking_id", 2,
		(const char *[]){ id, a->v[GF_ACC_HISTORY] });
	if (!m)
		return each_fails(c, err, sqlstate);
	if (PQntuples(m) == 0) {
		gf_db_rollback(c);
		return 1;
	}
	int64_t refused = 0;
	for (int i = 0; i < PQntuples(m); i++) {
		const char *bid = PQgetvalue(m, i, 0), *no = PQgetvalue(m, i, 1), *entry = PQgetvalue(m, i, 2);
		if ((r = gf_db_exec(c, "each_savepoint", "SAVEPOINT gf_member", 0, NULL)) < 0)
			return each_fails(c, r, sqlstate);
		r = gf_db_exec(c, "each_delivered",
			"WITH d AS ("
			"  UPDATE guestflow.deliveries SET state = 'delivered', reason = NULL, updated_at = now(),"
			"         finished_at = now(), finished_run_id = $3::bigint"
			"   WHERE batch_id = $1::bigint AND booking_id = $2::bigint RETURNING 1"
			") SELECT guestflow.write_history(ARRAY[$2::bigint], ARRAY[$4]) FROM d", 4,
			(const char *[]){ id, bid, run, entry });
		if (r == 0) {
			if ((r = gf_db_exec(c, "each_release", "RELEASE SAVEPOINT gf_member", 0, NULL)) < 0)
				return each_fails(c, r, sqlstate);
			res.delivered++;
			continue;
		}
		char state[6];
		snprintf(state, sizeof(state), "%s", gf_db_sqlstate(c));
		if (!gf_db_sqlstate_may_be_row(state))
			return each_fails(c, r, sqlstate);
		if ((r = gf_db_exec(c, "each_rollback", "ROLLBACK TO SAVEPOINT gf_member", 0, NULL)) < 0)
			return each_fails(c, r, sqlstate);
		char reason[256];
		snprintf(reason, sizeof(reason), "delivered; the PMS refused its history entry (SQLSTATE %s, see the log"
		         " of run %lld): each run of the job tries to write it again", state, (long long)run_id);
		r = gf_db_exec(c, "each_delivered_entry_owed",
			"UPDATE guestflow.deliveries SET state = 'delivered', reason = $3,"
			"       history_pending = coalesce(history_pending, '{}') || $5::text,"
			"       updated_at = now(), finished_at = now(), finished_run_id = $4::bigint"
			" WHERE batch_id = $1::bigint AND booking_id = $2::bigint", 5,
			(const char *[]){ id, bid, reason, run, entry });
		if (r < 0)
			return each_fails(c, r, sqlstate);
		gf_warn("history_refused", "batch=%s booking=%s sqlstate=%s msg=%s", id, gf_log_q(no), gf_log_q(state),
		        gf_log_q("the partner accepted this booking; the PMS refused its history entry (the db_error line"
		                 " of each_delivered has its message): it is delivered, its entry owed to it, written by a"
		                 " later run of the job"));
		refused++;
		res.delivered++;
	}
	r = gf_db_exec(c, "each_batch_done",
		"UPDATE guestflow.batches SET state = 'done', lease_until = NULL, finished_at = now(),"
		" finished_run_id = $2::bigint WHERE id = $1::bigint", 2, (const char *[]){ id, run });
	if (r == 0)
		r = gf_db_exec(c, "each_api_call",
			"INSERT INTO guestflow.api_calls (run_id, job, connection_id, batch_id, method, url, status_code,"
			" latency_ms, request_bytes, response_bytes, records, idempotency_key, outcome, response_excerpt)"
			" VALUES ($1::bigint, $2, $3::bigint, $4::bigint, $5, $6, $7::int, $8::int, $9::bigint, $10::bigint,"
			" $11::int, $12, 'accepted', $13)", 13,
			(const char *[]){ run, job->name, a->v[GF_ACC_CONN], id, job->output->method, a->v[GF_ACC_URL],
			                  a->v[GF_ACC_STATUS], a->v[GF_ACC_LATENCY], a->v[GF_ACC_REQUEST_BYTES],
			                  a->v[GF_ACC_RESPONSE_BYTES], a->v[GF_ACC_RECORDS], a->v[GF_ACC_KEY],
			                  a->v[GF_ACC_EXCERPT] });
	if (r == 0)
		r = gf_alert_clear_answered(c, job->name, b->connection_id, run_id);
	if (r == 0)
		r = gf_db_commit(c);
	if (r < 0)
		return each_fails(c, r, sqlstate);
	gf_warn("completion_each", "batch=%s delivered=%lld history_refused=%lld rejected=%lld sqlstate=%s msg=%s", id,
	        (long long)res.delivered, (long long)refused, (long long)res.rejected, gf_log_q(sqlstate),
	        gf_log_q("the database refused this batch's completion; completed member by member"));
	res.history_refused = refused;
	res.collected = true;
	*out = res;
	return 0;
}

int gf_complete_history_owed_write(PGconn *c, const char *job, int64_t run_id, int64_t lock_timeout_ms,
                                   int64_t *written)
{
	*written = 0;
	char run[32], lock_timeout[32];
	snprintf(run, sizeof(run), "%lld", (long long)run_id);
	snprintf(lock_timeout, sizeof(lock_timeout), "%lld", (long long)lock_timeout_ms);
	int err;
	/* The deliveries' entries (not those this run refused: tried again by
	 * the next), then the pulled events' (those of a pull going on
	 * meanwhile are not committed yet, or are taken with their row lock). */
	_cleanup_pgresult_ PGresult *m = gf_db_query(c, &err, "history_owed",
		"SELECT * FROM ("
		"  SELECT false, d.connection_id, d.booking_id, d.booking_no,"
		"         EXISTS (SELECT 1 FROM guestflow.source_bookings s WHERE s.booking_id = d.booking_id)"
		"    FROM guestflow.deliveries d WHERE d.job = $1 AND d.history_pending IS NOT NULL"
		"     AND d.finished_run_id IS DISTINCT FROM $2::bigint"
		"  UNION ALL"
		"  SELECT true, e.id, e.booking_id, e.booking_no,"
		"         EXISTS (SELECT 1 FROM guestflow.source_bookings s WHERE s.booking_id = e.booking_id)"
		"    FROM guestflow.partner_events e WHERE e.job = $1 AND e.history_pending IS NOT NULL) x"
		" ORDER BY 3, 1, 2", 2, (const char *[]){ job, run });
	if (!m)
		return gf_db_session_gone(c) ? err : 0;
	for (int i = 0; i < PQntuples(m); i++) {
		bool event = PQgetvalue(m, i, 0)[0] == 't';
		const char *conn = PQgetvalue(m, i, 1), *bid = PQgetvalue(m, i, 2), *no = PQgetvalue(m, i, 3);
		bool exists = PQgetvalue(m, i, 4)[0] == 't';
		const char *p[] = { job, conn, bid };
		if (gf_signals_stop)
			break;
		/* (a transaction each: the entries written and the flag cleared
		 * together, or neither; waiting for a booking the PMS keeps
		 * locked no longer than database.lock_timeout: then it stays
		 * owed, for the next run) */
		int r = gf_db_begin(c);
		if (r == 0)
			r = gf_db_exec(c, "history_owed_lock_timeout", "SELECT set_config('lock_timeout', $1, true)", 1,
			               (const char *[]){ lock_timeout });
		PGresult *w = NULL;
		if (r == 0 && exists && event) {
			/* (an event's: $2 is its id) */
			w = gf_db_query(c, &err, "history_owed_event",
				"WITH o AS ("
				"  SELECT id, booking_id, history_pending FROM guestflow.partner_events"
				"   WHERE id = $2::bigint AND job = $1 AND history_pending IS NOT NULL FOR UPDATE"
				"), e AS ("
				"  UPDATE guestflow.partner_events x SET history_pending = NULL FROM o WHERE x.id = o.id"
				"  RETURNING o.booking_id, o.history_pending"
				") SELECT guestflow.write_history(ARRAY[e.booking_id], ARRAY[e.history_pending]) FROM e", 2, p);
			r = w ? 0 : err;
		} else if (r == 0 && event) {
			r = gf_db_exec(c, "history_owed_event_gone",
				"UPDATE guestflow.partner_events SET history_pending = NULL"
				" WHERE id = $2::bigint AND job = $1 AND history_pending IS NOT NULL", 2, p);
		} else if (r == 0 && exists) {
			w = gf_db_query(c, &err, "history_owed_write",
				"WITH o AS ("
				"  SELECT booking_id, history_pending FROM guestflow.deliveries"
				"   WHERE job = $1 AND connection_id = $2::bigint AND booking_id = $3::bigint"
				"     AND history_pending IS NOT NULL FOR UPDATE"
				"), d AS ("
				"  UPDATE guestflow.deliveries x SET history_pending = NULL, updated_at = now(),"
				"         reason = CASE WHEN x.state = 'delivered' THEN NULL ELSE x.reason END FROM o"
				"   WHERE x.job = $1 AND x.connection_id = $2::bigint AND x.booking_id = o.booking_id"
				"  RETURNING o.booking_id, o.history_pending"
				") SELECT guestflow.write_history(array_fill(d.booking_id, ARRAY[cardinality(d.history_pending)]),"
				"         d.history_pending) FROM d", 3, p);
			r = w ? 0 : err;
		} else if (r == 0) {
			r = gf_db_exec(c, "history_owed_gone",
				"UPDATE guestflow.deliveries SET history_pending = NULL, updated_at = now(),"
				"       reason = 'delivered; its booking is gone from the PMS, so the history entry the PMS refused was"
				" never written'"
				" WHERE job = $1 AND connection_id = $2::bigint AND booking_id = $3::bigint"
				"   AND history_pending IS NOT NULL", 3, p);
		}
		/* (none when another run wrote them first) */
		bool wrote = w && PQntuples(w) > 0;
		if (w)
			PQclear(w);
		char state[6];
		snprintf(state, sizeof(state), "%s", r < 0 ? gf_db_sqlstate(c) : "");
		if (r == 0)
			r = gf_db_commit(c);
		else
			gf_db_rollback(c);
		if (r == 0 && exists && wrote) {
			(*written)++;
			gf_info("history_written", "booking=%s msg=%s", gf_log_q(no),
			        gf_log_q(event ? "the history entry of a partner's event, which the PMS refused before,"
			                         " is written now"
			                       : "the history entry the PMS refused before is written now"));
		} else if (r == 0 && !exists) {
			gf_warn("history_abandoned", "booking=%s msg=%s", gf_log_q(no),
			        gf_log_q("the booking is gone from the PMS: the history entry it was owed is not written"));
		} else if (r < 0 && gf_db_session_gone(c)) {
			return r;
		} else if (r < 0 && strcmp(state, "55P03") == 0) {
			/* A booking the PMS keeps locked: the others are tried
			 * without waiting (1 ms), so that a run's end waits one
			 * lock timeout at most, not one for each entry owed, and
			 * an entry behind a locked booking is not starved. */
			snprintf(lock_timeout, sizeof(lock_timeout), "1");
		}
	}
	return 0;
}

int gf_complete_history_owed(PGconn *c, const struct gf_job *job, int64_t run_id, int64_t lock_timeout_ms,
                             int64_t *written, int64_t *owed)
{
	*owed = 0;
	int err = gf_complete_history_owed_write(c, job->name, run_id, lock_timeout_ms, written);
	if (err < 0)
		return err;
	return gf_complete_history_owed_alert(c, job->name, run_id, owed);
}

int gf_complete_history_owed_alert(PGconn *c, const char *job, int64_t run_id, int64_t *owed)
{
	*owed = 0;
	int err;
	_cleanup_pgresult_ PGresult *n = gf_db_query(c, &err, "history_owed_count",
		"SELECT (SELECT count(*) FROM guestflow.deliveries WHERE job = $1 AND history_pending IS NOT NULL),"
		"       (SELECT min(booking_no) FROM guestflow.deliveries WHERE job = $1 AND history_pending IS NOT NULL),"
		"       (SELECT count(*) FROM guestflow.partner_events WHERE job = $1 AND history_pending IS NOT NULL),"
		"       (SELECT min(booking_no) FROM guestflow.partner_events WHERE job = $1 AND history_pending IS NOT NULL)",
		1, (const char *[]){ job });
	if (!n)
		return gf_db_session_gone(c) ? err : 0;
	int64_t deliveries = gf_db_get_int(n, 0, 0), events = gf_db_get_int(n, 0, 2);
	*owed = deliveries + events;
	if (*owed == 0)
		return gf_alert_clear(c, job, 0, "history_refused");
	char msg[1400], part[600];
	msg[0] = '\0';
	if (deliveries > 0)
		snprintf(msg, sizeof(msg), "the partner has %lld booking(s) of job %s whose history entries the PMS"
		         " refused (the first: %s): they are delivered and not sent again", (long long)deliveries, job,
		         gf_db_get(n, 0, 1) ? gf_db_get(n, 0, 1) : "?");
	if (events > 0) {
		snprintf(part, sizeof(part), "%s%lld event(s) the partner reported of job %s's guests are stored without"
		         " the history entry the PMS refused (the first: booking %s)", deliveries > 0 ? "; " : "",
		         (long long)events, job, gf_db_get(n, 0, 3) ? gf_db_get(n, 0, 3) : "?");
		strncat(msg, part, sizeof(msg) - strlen(msg) - 1);
	}
	strncat(msg, "; each run and pull of the job tries to write them, and 'guestflow log --errors' has what the PMS"
	        " said", sizeof(msg) - strlen(msg) - 1);
	return gf_alert_raise(c, job, 0, "history_refused", msg, run_id);
}

/* The completion with every text it writes folded to ASCII
 * (gf_db_fold_ascii), for a database whose encoding has no room for some
 * character of it (a LATIN1 database and a partner's reason with a euro
 * sign): the partner's answer still counts, its text is kept as well as
 * the database can. The reply excerpt is left out. */
struct folded {
	struct gf_completion cp;
	struct gf_api_call call;
	struct gf_rejection *rej;
	char **texts;
	size_t n_texts;
};

static const char *fold(struct folded *f, const char *s)
{
	if (!s)
		return NULL;
	f->texts[f->n_texts] = gf_db_fold_ascii(s);
	return f->texts[f->n_texts++];
}

static void fold_completion(const struct gf_completion *cp, struct folded *f)
{
	*f = (struct folded){ .cp = *cp };
	f->texts = gf_xcalloc(cp->n_rejections + 8, sizeof(*f->texts));
	f->rej = gf_xcalloc(cp->n_rejections ? cp->n_rejections : 1, sizeof(*f->rej));
	for (size_t i = 0; i < cp->n_rejections; i++)
		f->rej[i] = (struct gf_rejection){ cp->rejections[i].booking_id, fold(f, cp->rejections[i].reason),
		                                   cp->rejections[i].partner };
	f->cp.rejections = f->rej;
	f->cp.error = fold(f, cp->error);
	f->cp.alert_message = fold(f, cp->alert_message);
	f->cp.history_message = fold(f, cp->history_message);
	if (cp->call) {
		f->call = *cp->call;
		f->call.url_public = fold(f, cp->call->url_public);
		f->call.error = fold(f, cp->call->error);
		f->call.response_excerpt = NULL;
		f->cp.call = &f->call;
	}
}

static void folded_free(struct folded *f)
{
	for (size_t i = 0; i < f->n_texts; i++)
		free(f->texts[i]);
	free(f->texts);
	free(f->rej);
}

/* Refused (one batch's data, the adapter's own RAISE, a constraint, a
 * timeout...): that batch fails, not the run; the caller counts such
 * failures (a store down as a whole). A batch the partner accepted may be
 * held by it under its key. */
static int refused(PGconn *c, const struct gf_job *job, int64_t run_id, const struct gf_batch *b,
                   const struct gf_completion *cp, const char *state, struct gf_complete_result *out)
{
	return gf_complete_refused(c, job, run_id, b, cp->call, state,
	                           cp->retry_delay_ms > 0 ? cp->retry_delay_ms : job->backoff_initial_ms,
	                           cp->kind == GF_COMPLETE_ACCEPTED || cp->maybe_sent, out);
}

int gf_complete(PGconn *c, const struct gf_job *job, int64_t run_id, const struct gf_batch *b,
                const struct gf_completion *cp, struct gf_complete_result *out)
{
	struct gf_complete_result res = { 0 };
	int r = complete_tx(c, job, run_id, b, cp, &res);
	struct folded f = { 0 };
	const struct gf_completion *done = cp;
	if (r < 0 && r != -ESTALE && !gf_db_session_gone(c) && gf_db_sqlstate_untranslatable(gf_db_sqlstate(c))) {
		/* Text the database's encoding cannot hold: the same outcome,
		 * its text folded to ASCII. */
		char state[6];
		snprintf(state, sizeof(state), "%s", gf_db_sqlstate(c));
		fold_completion(cp, &f);
		done = &f.cp;
		res = (struct gf_complete_result){ 0 };
		r = complete_tx(c, job, run_id, b, done, &res);
		if (r == 0)
			gf_warn("completion_folded", "batch=%lld sqlstate=%s msg=%s", (long long)b->id, gf_log_q(state),
			        gf_log_q("the database's encoding cannot hold some character of this batch's outcome (a"
			                 " partner's reason?): recorded with those characters as '?'"));
	}
	if (r < 0 && r != -ESTALE && !gf_db_session_gone(c)) {
		char state[6];
		snprintf(state, sizeof(state), "%s", gf_db_sqlstate(c));
		int e = 1;
		if (done->kind == GF_COMPLETE_ACCEPTED && done->call) {
			/* Refused for what may be one member's values: member
			 * by member (which logs a lease lost itself, and sets
			 * state to what refused it otherwise). */
			struct gf_accepted acc;
			e = gf_complete_accepted_make(b, done, &acc) == 0 ?
				gf_complete_accepted_each(c, job, run_id, b, &acc, state, &res) : 1;
			gf_complete_accepted_clear(&acc);
		}
		if (e == 0) /* (for the caller's judgement of the store) */
			snprintf(res.sqlstate, sizeof(res.sqlstate), "%s", state);
		r = e == 1 ? refused(c, job, run_id, b, done, state, &res) : e;
	} else if (r == -ESTALE) {
		lease_lost(b->id);
	}
	if (f.texts)
		folded_free(&f);
	if (r < 0)
		return r;
	*out = res;
	return 0;
}

/* Accepted batches, one or several, in one statement, so that they can be
 * sent without waiting and a run of many small batches pays one statement
 * and one commit for several: every part is gated on each batch's lease (a
 * lost lease changes nothing for that batch, and says so). The members the
 * partner or guestflow refused rejected (with whether for their data), the
 * others delivered; the history entries of the delivered (write_history
 * once for them all), the batches done, their API-call rows, and the
 * alerts an answer clears (not a connection's hold this run raised: the
 * answer may have come before the hold, its completion after). $1, $2, $4..$6, $8..$17: one element per batch
 * (struct gf_accepted, as text; the rejections as array literals), $3 the
 * run, $7 the job, $18 its output's method. One row per batch, in the order given. The batches
 * are locked by id and token, one primary-key probe each (a subquery per
 * batch, in id order): joined to the table, the planner, whose statistics
 * see a small table while the run's slices grow it, hashed the group and
 * read every batch row, the finished ones and their dead versions
 * included, for every completion. Their state is tested on the locked rows
 * (a CTE apart): with the state beside the ids, the planner read every open
 * batch through batches_due instead of probing the primary key. The rejected members are looked up by
 * their batches' ids (= ANY), so that the plan stays on the index while the
 * statistics still say the table is empty (a first night: a scan of every
 * delivery for a group with no rejection cost more than the rest). */
#define ACCEPTED_SQL \
	"WITH g AS MATERIALIZED (" \
	"  SELECT u.i, u.id::bigint AS id, u.token, u.history, u.rej_ids::bigint[] AS rej_ids," \
	"         u.rej_reasons::text[] AS rej_reasons, u.rej_data::bool[] AS rej_data, u.conn::bigint AS conn, u.url," \
	"         u.status::int AS status, u.latency::int AS latency, u.rq::bigint AS rq, u.rs::bigint AS rs," \
	"         u.records::int AS records, u.ikey, u.excerpt" \
	"    FROM unnest($1::text[], $2::text[], $4::text[], $5::text[], $6::text[], $17::text[], $8::text[]," \
	"                $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[]," \
	"                $16::text[])" \
	"         WITH ORDINALITY AS u(id, token, history, rej_ids, rej_reasons, rej_data, conn, url, status, latency," \
	"                              rq, rs, records, ikey, excerpt, i)" \
	"), locked AS MATERIALIZED (" \
	"  SELECT l.id, l.state FROM (SELECT g.id, g.token FROM g ORDER BY g.id) o," \
	"         LATERAL (SELECT b.id, b.state FROM guestflow.batches b" \
	"                   WHERE b.id = o.id AND b.lease_token = o.token FOR UPDATE) l" \
	"), lease AS MATERIALIZED (" \
	"  SELECT id FROM locked WHERE state = 'open'" \
	"), rj AS MATERIALIZED (" \
	"  SELECT g.id AS batch, t.id, t.reason, t.data FROM g JOIN lease l ON l.id = g.id," \
	"         unnest(g.rej_ids, g.rej_reasons, g.rej_data) AS t(id, reason, data)" \
	"), rej AS (" \
	"  UPDATE guestflow.deliveries d SET state = 'rejected', reason = rj.reason, data_rejected = rj.data," \
	"         updated_at = now(), finished_at = now(), finished_run_id = $3::bigint" \
	"    FROM rj WHERE d.batch_id = ANY(ARRAY(SELECT rj.batch FROM rj)) AND d.booking_id = rj.id" \
	"     AND d.batch_id = rj.batch AND d.state IN ('pending', 'sending')" \
	"  RETURNING d.batch_id" \
	"), d AS (" \
	"  UPDATE guestflow.deliveries d SET state = 'delivered', reason = NULL, updated_at = now()," \
	"         finished_at = now(), finished_run_id = $3::bigint" \
	"    FROM lease l WHERE d.batch_id = l.id AND d.state IN ('pending', 'sending')" \
	"     AND NOT EXISTS (SELECT 1 FROM rj WHERE rj.batch = d.batch_id AND rj.id = d.booking_id)" \
	"  RETURNING d.batch_id, d.booking_id, d.booking_no, d.rerun" \
	"), h AS (" \
	"  SELECT guestflow.write_history(array_agg(d.booking_id ORDER BY d.booking_id)," \
	"         array_agg(replace(g.history, '{booking_no}', d.booking_no)" \
	"                   || CASE WHEN d.rerun THEN ' (rerun)' ELSE '' END ORDER BY d.booking_id)) AS ok" \
	"    FROM d JOIN g ON g.id = d.batch_id HAVING count(*) > 0" \
	"), b AS (" \
	"  UPDATE guestflow.batches b SET state = 'done', lease_until = NULL, finished_at = now()," \
	"         finished_run_id = $3::bigint" \
	"    FROM lease l WHERE b.id = l.id RETURNING b.id" \
	"), call AS (" \
	"  INSERT INTO guestflow.api_calls (run_id, job, connection_id, batch_id, method, url, status_code," \
	"         latency_ms, request_bytes, response_bytes, records, idempotency_key, outcome, error," \
	"         response_excerpt)" \
	"  SELECT $3::bigint, $7, g.conn, g.id, $18, g.url, g.status, g.latency, g.rq, g.rs, g.records, g.ikey," \
	"         'accepted', NULL, g.excerpt FROM g JOIN lease l ON l.id = g.id ORDER BY g.i RETURNING batch_id" \
	"), cleared AS (" \
	"  UPDATE guestflow.alert_events SET cleared_at = now()" \
	"   WHERE job = $7 AND cleared_at IS NULL AND EXISTS (SELECT 1 FROM lease)" \
	"     AND " GF_SQL_ANSWER_CLEARS("IN (SELECT g.conn FROM g JOIN lease l ON l.id = g.id)", "$3::bigint") \
	"  RETURNING id, kind, coalesce(connection_id, 0) AS conn" \
	") SELECT g.id, l.id IS NOT NULL, (SELECT count(*) FROM d WHERE d.batch_id = g.id)," \
	"         (SELECT count(*) FROM rej WHERE rej.batch_id = g.id), (SELECT count(*) FROM h)," \
	"         (SELECT count(*) FROM b WHERE b.id = g.id), (SELECT count(*) FROM call WHERE call.batch_id = g.id)," \
	"         CASE WHEN g.i = 1 THEN (SELECT string_agg(id || ' ' || kind || ' ' || conn, ',') FROM cleared) END" \
	"    FROM g LEFT JOIN lease l ON l.id = g.id ORDER BY g.i"

int gf_complete_pipe_prepare(PGconn *c)
{
	return gf_db_prepare(c, "complete_accepted", ACCEPTED_SQL, 18);
}

void gf_complete_accepted_clear(struct gf_accepted *a)
{
	for (size_t i = 0; i < GF_ACCEPTED_FIELDS; i++)
		free(a->v[i]);
	*a = (struct gf_accepted){ 0 };
}

static char *fmt_int(int64_t v)
{
	char tmp[32];
	snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
	return gf_xstrdup(tmp);
}

int gf_complete_accepted_make(const struct gf_batch *b, const struct gf_completion *cp, struct gf_accepted *out)
{
	*out = (struct gf_accepted){ 0 };
	_cleanup_buf_ struct gf_buf ids = GF_BUF_INIT((size_t)64 << 20);
	_cleanup_buf_ struct gf_buf reasons = GF_BUF_INIT((size_t)64 << 20);
	_cleanup_buf_ struct gf_buf data = GF_BUF_INIT((size_t)64 << 20);
	int r = rejection_arrays(cp, &ids, &reasons, &data);
	if (r < 0)
		return r;
	const struct gf_api_call *call = cp->call;
	char **v = out->v;
	v[GF_ACC_ID] = fmt_int(b->id);
	v[GF_ACC_TOKEN] = gf_xstrdup(b->lease_token);
	v[GF_ACC_HISTORY] = gf_xstrdup(cp->history_message ? cp->history_message : "");
	v[GF_ACC_REJ_IDS] = gf_buf_steal(&ids);
	v[GF_ACC_REJ_REASONS] = gf_buf_steal(&reasons);
	v[GF_ACC_REJ_DATA] = gf_buf_steal(&data);
	v[GF_ACC_CONN] = fmt_int(b->connection_id);
	v[GF_ACC_URL] = call->url_public ? gf_text_safe_dup(call->url_public, b->secret, GF_TEXT_MAX) : NULL;
	v[GF_ACC_STATUS] = fmt_int(call->status);
	v[GF_ACC_LATENCY] = fmt_int(call->latency_ms);
	v[GF_ACC_REQUEST_BYTES] = fmt_int(call->request_bytes);
	v[GF_ACC_RESPONSE_BYTES] = fmt_int(call->response_bytes);
	v[GF_ACC_RECORDS] = fmt_int(call->records);
	v[GF_ACC_KEY] = gf_xstrdup(b->idempotency_key);
	v[GF_ACC_EXCERPT] = call->response_excerpt ?
		gf_text_safe_dup(call->response_excerpt, b->secret, GF_TEXT_MAX) : NULL;
	return 0;
}

int gf_complete_accepted_send(PGconn *c, const struct gf_job *job, int64_t run_id,
                              const struct gf_accepted *const *v, size_t n)
{
	/* Statement parameter of each field ($3 and $7 are the run's). */
	static const int param[GF_ACCEPTED_FIELDS] = {
		[GF_ACC_ID] = 1, [GF_ACC_TOKEN] = 2, [GF_ACC_HISTORY] = 4, [GF_ACC_REJ_IDS] = 5,
		[GF_ACC_REJ_REASONS] = 6, [GF_ACC_REJ_DATA] = 17, [GF_ACC_CONN] = 8, [GF_ACC_URL] = 9,
		[GF_ACC_STATUS] = 10, [GF_ACC_LATENCY] = 11, [GF_ACC_REQUEST_BYTES] = 12,
		[GF_ACC_RESPONSE_BYTES] = 13, [GF_ACC_RECORDS] = 14, [GF_ACC_KEY] = 15, [GF_ACC_EXCERPT] = 16,
	};
	struct gf_buf arrays[GF_ACCEPTED_FIELDS];
	const char *p[18] = { 0 };
	char run[32];
	snprintf(run, sizeof(run), "%lld", (long long)run_id);
	p[2] = run;
	p[6] = job->name;
	p[17] = job->output->method;
	int r = 0;
	for (size_t f = 0; f < GF_ACCEPTED_FIELDS; f++) {
		arrays[f] = (struct gf_buf)GF_BUF_INIT((size_t)1 << 30);
		r = r ? r : gf_buf_puts(&arrays[f], "{");
		for (size_t i = 0; i < n && r == 0; i++)
			r = gf_db_array_add_text(&arrays[f], v[i]->v[f], i == 0);
		r = r ? r : gf_buf_puts(&arrays[f], "}");
		p[param[f] - 1] = gf_buf_str(&arrays[f]);
	}
	gf_fault_point("in_commit");
	if (r == 0)
		r = gf_db_pipe_send(c, "complete_accepted", 18, p);
	for (size_t f = 0; f < GF_ACCEPTED_FIELDS; f++)
		gf_buf_free(&arrays[f]);
	return r;
}

int gf_complete_accepted_collect(PGconn *c, const int64_t *batch_ids, size_t n, bool block, bool *collected,
                                 int *each, struct gf_complete_result *out)
{
	int err;
	*collected = false;
	_cleanup_pgresult_ PGresult *r = gf_db_pipe_result(c, block, &err, "complete_accepted");
	if (!r && err < 0 && !gf_db_session_gone(c))
		return -GF_E_DATA;
	if (!r)
		return err < 0 ? err : 0;
	*collected = true;
	if ((size_t)PQntuples(r) != n) {
		gf_error("db_error", "statement=complete_accepted error=%s",
		         gf_log_q("not one row per batch completed"));
		return -GF_E_DB;
	}
	for (size_t i = 0; i < n; i++) {
		out[i] = (struct gf_complete_result){ 0 };
		if (PQgetvalue(r, (int)i, 1)[0] != 't') {
			gf_warn("lease_lost", "batch=%lld msg=%s", (long long)batch_ids[i],
			        gf_log_q("another worker took over this batch after its lease expired; its result stands"));
			each[i] = -ESTALE;
			continue;
		}
		each[i] = 0;
		out[i].delivered = gf_db_get_int(r, (int)i, 2);
		out[i].rejected = gf_db_get_int(r, (int)i, 3);
		out[i].collected = true;
	}
	const char *cleared = n ? gf_db_get(r, 0, 7) : NULL;
	while (cleared && *cleared) {
		long long alert = 0, conn = 0;
		char kind[64] = "";
		if (sscanf(cleared, "%lld %63s %lld", &alert, kind, &conn) == 3)
			gf_info("alert_cleared", "alert=%lld kind=%s connection=%lld", alert, kind, conn);
		cleared = strchr(cleared, ',');
		if (cleared)
			cleared++;
	}
	return 0;
}
