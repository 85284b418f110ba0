/* Reruns: putting deliveries back in the queue by hand. */
#include "rerun.h"

#include <stdio.h>

#include "buf.h"
#include "db.h"
#include "log.h"
#include "plan.h"

int gf_rerun_dead(PGconn *c, const char *job, struct gf_rerun_result *out)
{
	int r = gf_db_begin(c);
	if (r < 0)
		return r;
	int err;
	PGresult *res = gf_db_query(c, &err, "rerun_dead",
		"WITH b AS ("
		"  UPDATE guestflow.batches SET state = 'open', attempts = 0, next_attempt_at = now(),"
		"         lease_until = NULL, lease_token = NULL, finished_at = NULL"
		"   WHERE job = $1 AND state = 'dead' RETURNING id"
		"), d AS ("
		"  UPDATE guestflow.delivery_log SET state = 'pending', updated_at = now(), finished_at = NULL,"
		"         reason = 'rerun after: ' || coalesce(reason, 'dead')"
		"   WHERE job = $1 AND state = 'dead' AND batch_id IN (SELECT id FROM b) RETURNING 1"
		"), a AS ("
		"  UPDATE guestflow.alert_events SET cleared_at = now()"
		"   WHERE job = $1 AND kind = 'dead_deliveries' AND cleared_at IS NULL RETURNING 1"
		") SELECT (SELECT count(*) FROM b), (SELECT count(*) FROM d), (SELECT count(*) FROM a)",
		1, (const char *[]){ job });
	if (!res) {
		gf_db_rollback(c);
		return err;
	}
	out->batches = gf_db_get_int(res, 0, 0);
	out->deliveries = gf_db_get_int(res, 0, 1);
	PQclear(res);
	r = gf_db_commit(c);
	if (r == 0)
		gf_info("rerun_dead", "batches=%lld deliveries=%lld", (long long)out->batches,
		        (long long)out->deliveries);
	return r;
}

int gf_rerun_select(PGconn *c, const struct gf_job *job, const struct gf_rerun_select *sel,
                    struct gf_rerun_counts *out)
{
	_cleanup_buf_ struct gf_buf nos = GF_BUF_INIT((size_t)16 << 20);
	int r = gf_db_text_array(&nos, sel->booking_nos, sel->n_booking_nos);
	if (r < 0)
		return r;
	const char *p[] = { job->name, job->partner, sel->booking_nos ? gf_buf_str(&nos) : NULL, sel->from, sel->to,
	                    sel->force ? "true" : "false" };
	/* A run planning at the same time is not waited for, only one slice of
	 * it: slices and reruns take turns (GF_SQL_MEMBERS_LOCK), and a slice
	 * leaves out a pair a rerun has written (plan.c), so a pair inserted
	 * here stays this rerun's, batched by the next run's plan. The
	 * statement below starts after the lock, with a snapshot that sees
	 * every batch written before. */
	r = gf_db_begin(c);
	if (r == 0)
		r = gf_db_exec(c, "rerun_lock", "SELECT " GF_SQL_MEMBERS_LOCK, 1, (const char *[]){ job->name });
	int err = 0;
	/* A booking delivered in a batch that still holds it in its row (0010):
	 * that batch's members are written out into the log first, where the
	 * statement below finds them. The batches holding the bookings, open
	 * ones too, are locked until the commit: one accepted meanwhile would
	 * be neither written out here nor open below (and its members queued
	 * again); its completion waits for this rerun instead, or this rerun
	 * for it and then sees it done (or written out already). */
	PGresult *held = r < 0 ? NULL : gf_db_query(c, &err, "rerun_held",
		"WITH t AS ("
		"  SELECT s.booking_id, s.property_id FROM guestflow.source_bookings s"
		"   WHERE ($2::text[] IS NOT NULL AND s.booking_no = ANY($2::text[]))"
		"      OR ($2::text[] IS NULL AND s.checked_out_at >= $3::date AND s.checked_out_at < $4::date + 1)"
		"), h AS ("
		"  SELECT b.id, b.state FROM guestflow.batches b"
		"   WHERE b.job = $1 AND b.state IN ('open', 'done') AND b.member_ids IS NOT NULL"
		"     AND b.connection_id IN (SELECT pc.id FROM guestflow.connections pc"
		"                              WHERE pc.property_id IN (SELECT property_id FROM t))"
		"     AND EXISTS (SELECT 1 FROM unnest(b.member_bookings) AS m(booking_id)"
		"                  JOIN t ON t.booking_id = m.booking_id)"
		"   ORDER BY b.id FOR SHARE OF b"
		") SELECT array_agg(id) FILTER (WHERE state = 'done') FROM h",
		4, (const char *[]){ p[0], p[2], p[3], p[4] });
	if (r == 0 && !held)
		r = err;
	if (held && !PQgetisnull(held, 0, 0))
		r = gf_batch_materialise_many(c, PQgetvalue(held, 0, 0));
	if (held)
		PQclear(held);
	if (r < 0) {
		gf_db_rollback(c);
		return r;
	}
	/* $3 booking numbers, or $4..$5 checkout dates; the eligibility rules but
	 * the window (a rerun is how bookings outside it are sent). */
	PGresult *res = gf_db_query(c, &err, "rerun_select",
		"WITH t AS ("
		"  SELECT s.*, c.id AS conn,"
		"         (c.id IS NOT NULL AND " GF_SQL_RULE_CHECKED_OUT " AND " GF_SQL_RULE_EMAIL
		"          AND " GF_SQL_RULE_NAME " AND " GF_SQL_RULE_NOTIFY ") IS TRUE AS ok"
		"    FROM guestflow.source_bookings s"
		"    LEFT JOIN guestflow.connections c"
		"      ON c.property_id = s.property_id AND c.partner = $2 AND c.status = 'live'"
		"   WHERE ($3::text[] IS NOT NULL AND s.booking_no = ANY($3::text[]))"
		"      OR ($3::text[] IS NULL AND s.checked_out_at >= $4::date"
		"          AND s.checked_out_at < $5::date + 1)"
		"), held AS ("
		/* members an open batch still holds in its row: pending, in that batch */
		"  SELECT m.booking_id, b.connection_id FROM guestflow.batches b"
		"   CROSS JOIN LATERAL unnest(b.member_bookings) AS m(booking_id)"
		"   JOIN t ON t.booking_id = m.booking_id AND t.conn = b.connection_id AND t.ok"
		"   WHERE b.job = $1 AND b.member_ids IS NOT NULL AND b.state = 'open'"
		"), ins AS ("
		"  INSERT INTO guestflow.delivery_log (job, connection_id, property_id, booking_id, booking_no, rerun)"
		"  SELECT $1, conn, property_id, booking_id, booking_no, true FROM t WHERE ok"
		"     AND NOT EXISTS (SELECT 1 FROM held WHERE held.booking_id = t.booking_id AND held.connection_id = t.conn)"
		"  ON CONFLICT (job, connection_id, booking_id) DO NOTHING RETURNING 1"
		"), old AS ("
		/* the booking's deliveries go to its property's connections: the
		 * log's key (connection, booking, job) finds them */
		"  SELECT d.id, d.state FROM t JOIN guestflow.connections pc ON pc.property_id = t.property_id"
		"    JOIN guestflow.delivery_log d ON d.connection_id = pc.id AND d.booking_id = t.booking_id"
		"   WHERE d.job = $1 FOR UPDATE OF d"
		"), up AS ("
		"  UPDATE guestflow.delivery_log d SET state = 'pending', batch_id = NULL, rerun = true,"
		"         reason = 'rerun requested by ' || current_user || ' (was ' || d.state || ')',"
		"         updated_at = now(), finished_at = NULL"
		"    FROM old WHERE d.id = old.id"
		"     AND (old.state IN ('rejected', 'dead') OR (old.state = 'delivered' AND $6::bool))"
		"  RETURNING 1"
		") SELECT (SELECT count(DISTINCT booking_id) FROM t), (SELECT count(*) FROM ins), (SELECT count(*) FROM up),"
		"         (SELECT count(*) FROM old WHERE state = 'delivered' AND NOT $6::bool),"
		"         (SELECT count(*) FROM old WHERE state IN ('pending', 'sending')) + (SELECT count(*) FROM held),"
		"         (SELECT count(*) FROM t WHERE NOT ok)", 6, p);
	if (!res) {
		gf_db_rollback(c);
		return err;
	}
	*out = (struct gf_rerun_counts){
		.matched = gf_db_get_int(res, 0, 0), .planned = gf_db_get_int(res, 0, 1),
		.requeued = gf_db_get_int(res, 0, 2), .delivered_skipped = gf_db_get_int(res, 0, 3),
		.already_queued = gf_db_get_int(res, 0, 4), .not_eligible = gf_db_get_int(res, 0, 5),
	};
	PQclear(res);
	r = gf_db_commit(c);
	if (r == 0)
		gf_info("rerun", "matched=%lld planned=%lld requeued=%lld delivered_skipped=%lld already_queued=%lld"
		        " not_eligible=%lld force=%d", (long long)out->matched, (long long)out->planned,
		        (long long)out->requeued, (long long)out->delivered_skipped, (long long)out->already_queued,
		        (long long)out->not_eligible, sel->force);
	return r;
}
