/* Reruns: putting deliveries back in the queue by hand. */
#include "core/rerun.h"

#include <stdio.h>

#include "base/buf.h"
#include "db/db.h"
#include "base/log.h"
#include "core/plan.h"
#include "core/source.h"

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
		"  UPDATE guestflow.deliveries SET state = 'pending', updated_at = now(), finished_at = NULL,"
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

/* The selection's statement over src, the source view as s: $3 booking
 * numbers, or $4..$5 checkout dates; the eligibility rules but the window (a
 * rerun is how bookings outside it are sent). */
#define SELECT_SQL(src) \
	"WITH t AS (" \
	"  SELECT " GF_SQL_SOURCE_COLUMNS ", c.id AS conn," \
	/* checked out before the purge horizon: a delivery it has not \
	 * may have been purged (delivered, or not) */ \
	"         coalesce(s.checked_out_at < (SELECT h.checked_out_before FROM guestflow.purge_horizons h" \
	"                                       WHERE h.job = $1), false) AS purged," \
	/* (outside the window is the point of a rerun, a checkout in \
	 * the future not: the guest is not invited before leaving) */ \
	"         (c.id IS NOT NULL AND " GF_SQL_ELIGIBLE_BUT_WINDOW("$7::text[]", "$2") \
	"          AND " GF_SQL_NOT_FUTURE ") IS TRUE AS ok" \
	"    FROM " src \
	"    LEFT JOIN guestflow.connections c" \
	"      ON c.property_id = s.property_id AND c.partner = $2 AND c.status = 'live'" \
	"   WHERE ($3::text[] IS NOT NULL AND s.booking_no = ANY($3::text[]))" \
	"      OR ($3::text[] IS NULL AND s.checked_out_at >= $4::date" \
	"          AND s.checked_out_at < $5::date + 1)" \
	"), ins AS (" \
	"  INSERT INTO guestflow.deliveries (job, connection_id, property_id, booking_id, booking_no, rerun, email_hash)" \
	"  SELECT $1, conn, property_id, booking_id, coalesce(booking_no, ''), true, guestflow.email_hash(email)" \
	"    FROM t WHERE ok AND (NOT purged OR $6::bool)" \
	"  ON CONFLICT DO NOTHING RETURNING 1" \
	"), old AS (" \
	/* the booking's deliveries go to its property's connections: the \
	 * key (connection, booking, job) finds them */ \
	"  SELECT d.connection_id, d.booking_id, d.state, t.email, t.ok, coalesce(b.maybe_sent, false) AS maybe_sent" \
	"    FROM t" \
	"    JOIN guestflow.connections pc ON pc.property_id = t.property_id" \
	"    JOIN guestflow.deliveries d ON d.connection_id = pc.id AND d.booking_id = t.booking_id" \
	"    LEFT JOIN guestflow.batches b ON b.id = d.batch_id" \
	/* (locked in the key's order, as a claim's batches are: two \
	 * commands at once wait for each other instead of deadlocking) */ \
	"   WHERE d.job = $1 ORDER BY d.connection_id, d.booking_id FOR UPDATE OF d" \
	"), up AS (" \
	/* (the address a delivery rejected for its data would have had \
	 * was never sent: the one now is the one planned; any other keeps \
	 * the one it was first planned with, see email_hash) */ \
	"  UPDATE guestflow.deliveries d SET state = 'pending', batch_id = NULL, rerun = true, data_rejected = false," \
	"         email_hash = CASE WHEN d.data_rejected THEN guestflow.email_hash(old.email) ELSE d.email_hash END," \
	"         reason = 'rerun requested by ' || current_user || ' (was ' || d.state || ')'," \
	"         updated_at = now(), finished_at = NULL" \
	"    FROM old WHERE d.connection_id = old.connection_id AND d.booking_id = old.booking_id AND d.job = $1" \
	"     AND (old.state IN ('rejected', 'dead') OR (old.state = 'delivered' AND $6::bool))" \
	/* the rules apply to them as to a booking never sent; and a dead \
	 * one the partner may hold (an attempt may have reached it) goes \
	 * as new only with --force: 'rerun --dead' resends it under its \
	 * key */ \
	"     AND old.ok AND (old.state <> 'dead' OR NOT old.maybe_sent OR $6::bool)" \
	"  RETURNING 1" \
	") SELECT (SELECT count(DISTINCT booking_id) FROM t), (SELECT count(*) FROM ins), (SELECT count(*) FROM up)," \
	"         (SELECT count(*) FROM old WHERE state = 'delivered' AND NOT $6::bool)," \
	"         (SELECT count(*) FROM old WHERE state IN ('pending', 'sending'))," \
	"         (SELECT count(*) FROM t WHERE NOT ok)," \
	"         (SELECT count(*) FROM t WHERE ok AND purged AND NOT $6::bool AND NOT EXISTS" \
	"            (SELECT 1 FROM guestflow.deliveries d WHERE d.connection_id = t.conn AND d.booking_id = t.booking_id" \
	"                AND d.job = $1))," \
	"         (SELECT count(*) FROM old WHERE state = 'dead' AND maybe_sent AND ok AND NOT $6::bool)"

/* The bookings the selection reads ($1 booking numbers, or $2..$3 checkout
 * dates), every column of the contract evaluated and their property's
 * rule (guestflow.source_properties, which may raise for one property),
 * over the ids $4..$5 (source.h): how many it read whole. */
static const char PROBE_SQL[] =
	"SELECT count(*) FROM " GF_SQL_SOURCE_RANGE("$4", "$5")
	/* (a CASE: the columns only of the bookings selected) */
	" WHERE CASE WHEN ($1::text[] IS NOT NULL AND s.booking_no = ANY($1::text[]))"
	"               OR ($1::text[] IS NULL AND s.checked_out_at >= $2::date AND s.checked_out_at < $3::date + 1)"
	"        THEN ROW(" GF_SQL_SOURCE_COLUMNS ")::text IS NOT NULL"
	"             AND CASE WHEN " GF_SQL_RULE_PROPERTY_ALLOWED " THEN 1 ELSE 2 END > 0 ELSE false END";

int gf_rerun_select(PGconn *c, const struct gf_job *job, const struct gf_rerun_select *sel,
                    struct gf_rerun_counts *out)
{
	_cleanup_buf_ struct gf_buf nos = GF_BUF_INIT((size_t)16 << 20);
	int r = gf_db_text_array(&nos, sel->booking_nos, sel->n_booking_nos);
	if (r < 0)
		return r;
	_cleanup_free_ char *statuses = gf_plan_statuses(job);
	const char *p[] = { job->name, job->partner, sel->booking_nos ? gf_buf_str(&nos) : NULL, sel->from, sel->to,
	                    sel->force ? "true" : "false", statuses };
	/* A run planning at the same time is not waited for: a pair is the
	 * rerun's or the plan's by the deliveries' key (whichever inserts it
	 * first), and an existing delivery is changed under its row lock. */
	r = gf_db_begin(c);
	if (r < 0)
		return r;
	/* A booking the view cannot give is that booking's: named, not queued,
	 * and the others are (source.h); in the same transaction. */
	struct gf_source_faults faults = { 0 };
	r = gf_source_faults_find(c, PROBE_SQL, 3, p + 2, &faults);
	if (r < 0) {
		gf_db_rollback(c);
		return r;
	}
	_cleanup_free_ char *without = faults.n ? gf_source_faults_ids(&faults) : NULL;
	const char *pw[] = { p[0], p[1], p[2], p[3], p[4], p[5], p[6], without };
	int err = 0;
	/* $3 booking numbers, or $4..$5 checkout dates; the eligibility rules but
	 * the window (a rerun is how bookings outside it are sent). */
	PGresult *res = gf_db_query(c, &err, "rerun_select",
		without ? SELECT_SQL(GF_SQL_SOURCE_WITHOUT("$8")) : SELECT_SQL("guestflow.source_bookings s"),
		without ? 8 : 7, pw);
	if (!res) {
		gf_source_faults_free(&faults);
		gf_db_rollback(c);
		return err;
	}
	*out = (struct gf_rerun_counts){
		.matched = gf_db_get_int(res, 0, 0), .planned = gf_db_get_int(res, 0, 1),
		.requeued = gf_db_get_int(res, 0, 2), .delivered_skipped = gf_db_get_int(res, 0, 3),
		.already_queued = gf_db_get_int(res, 0, 4), .not_eligible = gf_db_get_int(res, 0, 5),
		.purged_skipped = gf_db_get_int(res, 0, 6), .held_skipped = gf_db_get_int(res, 0, 7),
		.unreadable = faults,
	};
	PQclear(res);
	r = gf_db_commit(c);
	if (r < 0) {
		gf_source_faults_free(&out->unreadable);
		return r;
	}
	for (size_t i = 0; i < faults.n; i++)
		gf_warn("source_row_unreadable", "booking_no=%s booking_id=%lld reason=%s",
		        gf_log_q(faults.v[i].booking_no ? faults.v[i].booking_no : ""), (long long)faults.v[i].booking_id,
		        gf_log_q(faults.v[i].reason));
	if (r == 0)
		gf_info("rerun", "matched=%lld planned=%lld requeued=%lld delivered_skipped=%lld already_queued=%lld"
		        " not_eligible=%lld unreadable=%zu force=%d", (long long)out->matched, (long long)out->planned,
		        (long long)out->requeued, (long long)out->delivered_skipped, (long long)out->already_queued,
		        (long long)out->not_eligible, out->unreadable.n, sel->force);
	return r;
}
