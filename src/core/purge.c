/* Purging deliveries after the job's retention.deliveries, partner events
 * after its retention.events. */
#include "core/purge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "base/log.h"
#include "core/plan.h"

/* Rows read per chunk (one short transaction each). */
#define CHUNK "10000"

/* One chunk: the next CHUNK deliveries after the key ($2, $3, $4) (all
 * jobs', in key order), of which the job's finished ones older than the
 * retention ($5 ms) and out of the window ($6 ms) are deleted, and the
 * job's purge horizon moved up to the window's start when any was. Rows:
 * rows read, deleted, kept (inside the window), and the last key read. */
static const char CHUNK_SQL[] =
	"WITH c AS MATERIALIZED ("
	"  SELECT d.connection_id, d.booking_id, d.job, d.state, d.finished_at, d.history_pending IS NOT NULL AS owed"
	"    FROM guestflow.deliveries d"
	"   WHERE (d.connection_id, d.booking_id, d.job) > ($2::bigint, $3::bigint, $4::text)"
	"   ORDER BY d.connection_id, d.booking_id, d.job LIMIT $7::int"
	"), old AS MATERIALIZED ("
	"  SELECT c.connection_id, c.booking_id, c.job,"
	/* (the window rule of the plan, over the source view: a booking it
	 * gives inside the window, or checked out after now, keeps its
	 * delivery) */
	"         EXISTS (SELECT 1 FROM guestflow.source_bookings s WHERE s.booking_id = c.booking_id"
	"                    AND " GF_SQL_CHECKED_OUT_SINCE_MS("$6") ") AS inside"
	/* (one that still owes its booking a history entry is kept) */
	"    FROM c WHERE c.job = $1 AND c.state IN ('delivered', 'rejected', 'dead') AND NOT c.owed"
	"     AND c.finished_at < now() - $5::bigint * interval '1 millisecond'"
	"), del AS ("
	"  DELETE FROM guestflow.deliveries d USING old"
	"   WHERE NOT old.inside AND d.connection_id = old.connection_id AND d.booking_id = old.booking_id"
	"     AND d.job = old.job AND d.state IN ('delivered', 'rejected', 'dead') AND d.history_pending IS NULL"
	"     AND d.finished_at < now() - $5::bigint * interval '1 millisecond'"
	"  RETURNING 1"
	/* the horizon moves up to the window's start (gf_purge_window), in the
	 * transaction that deletes */
	"), horizon AS ("
	"  INSERT INTO guestflow.purge_horizons AS h (job, checked_out_before)"
	"  SELECT $1, now() - $6::bigint * interval '1 millisecond' WHERE EXISTS (SELECT 1 FROM del)"
	"  ON CONFLICT (job) DO UPDATE SET checked_out_before = greatest(h.checked_out_before, EXCLUDED.checked_out_before),"
	"         purged_at = now()"
	"), last AS ("
	"  SELECT connection_id, booking_id, job FROM c ORDER BY connection_id DESC, booking_id DESC, job DESC LIMIT 1"
	") SELECT (SELECT count(*) FROM c), (SELECT count(*) FROM del), (SELECT count(*) FROM old WHERE inside),"
	"         (SELECT connection_id FROM last), (SELECT booking_id FROM last), (SELECT job FROM last)";

/* Batches of the job finished before the retention that nothing refers to
 * any more, CHUNK at a time. */
static const char BATCHES_SQL[] =
	"WITH x AS ("
	"  SELECT b.id FROM guestflow.batches b"
	"   WHERE b.job = $1 AND b.state IN ('done', 'split', 'dead')"
	"     AND b.finished_at < now() - $2::bigint * interval '1 millisecond'"
	"     AND NOT EXISTS (SELECT 1 FROM guestflow.deliveries d WHERE d.batch_id = b.id)"
	"     AND NOT EXISTS (SELECT 1 FROM guestflow.batches h WHERE h.parent_id = b.id)"
	"     AND NOT EXISTS (SELECT 1 FROM guestflow.api_calls a WHERE a.batch_id = b.id)"
	"   LIMIT " CHUNK " FOR UPDATE SKIP LOCKED"
	") DELETE FROM guestflow.batches b USING x WHERE b.id = x.id";

/* The job's partner events pulled before the retention ($2 ms), CHUNK at a
 * time, oldest first: not one a suppression names (the suppression would
 * outlive it, but not who reported the address: explain says it), nor the
 * latest of its connection (status shows it), nor one whose history entry
 * is still owed (the PMS refused it). History entries the events wrote are
 * the PMS's and stay. */
static const char EVENTS_SQL[] =
	"WITH x AS ("
	"  SELECT e.id FROM guestflow.partner_events e"
	"   WHERE e.job = $1 AND e.pulled_at < now() - $2::bigint * interval '1 millisecond'"
	"     AND NOT EXISTS (SELECT 1 FROM guestflow.suppressions s WHERE s.event_id = e.id)"
	"     AND e.history_pending IS NULL"
	"     AND EXISTS (SELECT 1 FROM guestflow.partner_events n WHERE n.connection_id = e.connection_id"
	"                    AND n.id > e.id)"
	"   ORDER BY e.id LIMIT " CHUNK " FOR UPDATE SKIP LOCKED"
	") DELETE FROM guestflow.partner_events e USING x WHERE e.id = x.id";

/* A chunked delete (sql: $1 the job, $2 the retention in ms), run until it
 * deletes nothing; *count adds what it deleted. */
static int delete_chunks(PGconn *c, const char *what, const char *sql, const char *job, const char *retention,
                         int64_t *count)
{
	for (;;) {
		int err;
		PGresult *res = gf_db_query(c, &err, what, sql, 2, (const char *[]){ job, retention });
		if (!res)
			return err;
		int64_t n = 0;
		(void)gf_parse_int64(PQcmdTuples(res), &n);
		PQclear(res);
		*count += n;
		if (n == 0)
			return 0;
	}
}

int gf_purge(PGconn *c, const struct gf_job *job, struct gf_purge_result *out)
{
	*out = (struct gf_purge_result){ 0 };
	char retention[32], window[32];
	snprintf(retention, sizeof(retention), "%lld", (long long)job->retention_ms);
	snprintf(window, sizeof(window), "%lld", (long long)job->window_ms);
	char *conn = gf_xstrdup("-1"), *booking = gf_xstrdup("-1"), *after = gf_xstrdup("");
	int r = 0;
	/* A chunk the source view raises an error for (one booking's values:
	 * an operator's expression) is read again in halves, down to the one
	 * row, which is kept (whether its booking is out of the window cannot be
	 * known) and passed over: the others are purged all the same. */
	int limit = atoi(CHUNK);
	for (;;) {
		int err;
		char lim[16];
		snprintf(lim, sizeof(lim), "%d", limit);
		PGresult *res = gf_db_query(c, &err, "purge_chunk", CHUNK_SQL, 7,
			(const char *[]){ job->name, conn, booking, after, retention, window, lim });
		if (!res && PQstatus(c) == CONNECTION_OK && gf_db_sqlstate_may_be_row(gf_db_sqlstate(c))) {
			if (limit > 1) {
				limit /= 2;
				continue;
			}
			/* The one row: kept, and the walk goes on after it. */
			PGresult *one = gf_db_query(c, &err, "purge_skip",
				"SELECT connection_id, booking_id, job, booking_no FROM guestflow.deliveries"
				" WHERE (connection_id, booking_id, job) > ($1::bigint, $2::bigint, $3::text)"
				" ORDER BY connection_id, booking_id, job LIMIT 1", 3, (const char *[]){ conn, booking, after });
			if (!one) {
				r = err;
				break;
			}
			if (PQntuples(one) == 0) {
				PQclear(one);
				break;
			}
			gf_warn("purge_row_kept", "booking_id=%s booking_no=%s msg=%s", PQgetvalue(one, 0, 1),
			        gf_log_q(PQgetvalue(one, 0, 3)),
			        gf_log_q("the source view raises an error for this booking (logged above): its delivery is kept,"
			                 " since whether it is out of the window cannot be known"));
			free(conn);
			free(booking);
			free(after);
			conn = gf_xstrdup(PQgetvalue(one, 0, 0));
			booking = gf_xstrdup(PQgetvalue(one, 0, 1));
			after = gf_xstrdup(PQgetvalue(one, 0, 2));
			PQclear(one);
			limit = atoi(CHUNK);
			continue;
		}
		if (!res) {
			r = err;
			break;
		}
		int64_t read = gf_db_get_int(res, 0, 0);
		out->deliveries += gf_db_get_int(res, 0, 1);
		out->kept += gf_db_get_int(res, 0, 2);
		if (read > 0) {
			free(conn);
			free(booking);
			free(after);
			conn = gf_xstrdup(PQgetvalue(res, 0, 3));
			booking = gf_xstrdup(PQgetvalue(res, 0, 4));
			after = gf_xstrdup(PQgetvalue(res, 0, 5));
		}
		PQclear(res);
		if (read == 0)
			break;
	}
	free(conn);
	free(booking);
	free(after);
	if (r == 0)
		r = delete_chunks(c, "purge_batches", BATCHES_SQL, job->name, retention, &out->batches);
	char events_retention[32];
	snprintf(events_retention, sizeof(events_retention), "%lld", (long long)job->events_retention_ms);
	if (r == 0)
		r = delete_chunks(c, "purge_events", EVENTS_SQL, job->name, events_retention, &out->events);
	if (r == 0)
		gf_info("purged", "job=%s deliveries=%lld batches=%lld kept_inside_window=%lld events=%lld", job->name,
		        (long long)out->deliveries, (long long)out->batches, (long long)out->kept,
		        (long long)out->events);
	return r;
}

int gf_purge_window(PGconn *c, const struct gf_job *job, int64_t *window_ms, char *horizon, size_t len)
{
	char window[32];
	snprintf(window, sizeof(window), "%lld", (long long)job->window_ms);
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "purge_window",
		"SELECT w, CASE WHEN w < $2::bigint THEN to_char(h, 'YYYY-MM-DD HH24:MI:SS TZ') ELSE '' END"
		"  FROM (SELECT least($2::bigint, coalesce(max(floor(extract(epoch FROM now() - checked_out_before) * 1000)"
		"                                          ::bigint), $2::bigint)) AS w, max(checked_out_before) AS h"
		"          FROM guestflow.purge_horizons WHERE job = $1) x", 2, (const char *[]){ job->name, window });
	if (!r)
		return err;
	*window_ms = gf_db_get_int(r, 0, 0);
	if (horizon)
		snprintf(horizon, len, "%s", PQgetvalue(r, 0, 1));
	return 0;
}
