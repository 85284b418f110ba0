/* Alert events: conditions an operator must hear about. */
#include "core/alert.h"

#include <stdio.h>

#include "db/db.h"
#include "base/log.h"
#include "base/text.h"

int gf_alert_raise(PGconn *c, const char *job, int64_t connection_id, const char *kind,
                   const char *message, int64_t run_id)
{
	char conn[32], run[32];
	snprintf(conn, sizeof(conn), "%lld", (long long)connection_id);
	snprintf(run, sizeof(run), "%lld", (long long)run_id);
	/* Messages quote errors and partner text: stored (and mailed) as safe
	 * text, every access_key value blanked. Callers redact the key itself. */
	_cleanup_free_ char *msg = gf_text_safe_dup(message, NULL, 2 * GF_TEXT_MAX);
	int err;
	/* An alert of the kind open already (an earlier run's) is this run's
	 * too from now on (run_id): an answer this run had before it is no
	 * reason to clear it (gf_alert_clear_answered). */
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "alert_raise",
		"INSERT INTO guestflow.alert_events AS e (job, connection_id, kind, message, run_id)"
		" VALUES ($1, nullif($2::bigint, 0), $3, $4, nullif($5::bigint, 0))"
		" ON CONFLICT (job, (coalesce(connection_id, 0)), kind) WHERE cleared_at IS NULL"
		" DO UPDATE SET run_id = coalesce(EXCLUDED.run_id, e.run_id)"
		" RETURNING id, xmax = 0", 5, (const char *[]){ job, conn, kind, msg, run });
	if (!r)
		return err;
	if (PQntuples(r) == 1 && PQgetvalue(r, 0, 1)[0] == 't')
		gf_error("alert_raised", "alert=%s kind=%s connection=%s msg=%s", PQgetvalue(r, 0, 0), kind,
		         conn, gf_log_q(msg));
	return 0;
}

int gf_alert_clear(PGconn *c, const char *job, int64_t connection_id, const char *kinds)
{
	char conn[32];
	snprintf(conn, sizeof(conn), "%lld", (long long)connection_id);
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "alert_clear",
		"UPDATE guestflow.alert_events SET cleared_at = now()"
		" WHERE job = $1 AND coalesce(connection_id, 0) = $2::bigint AND cleared_at IS NULL"
		"   AND kind = ANY(string_to_array($3, ',')) RETURNING id, kind", 3,
		(const char *[]){ job, conn, kinds });
	if (!r)
		return err;
	for (int i = 0; i < PQntuples(r); i++)
		gf_info("alert_cleared", "alert=%s kind=%s connection=%s", PQgetvalue(r, i, 0),
		        PQgetvalue(r, i, 1), conn);
	return 0;
}

int gf_alert_clear_answered(PGconn *c, const char *job, int64_t connection_id, int64_t run_id)
{
	char conn[32], run[32];
	snprintf(conn, sizeof(conn), "%lld", (long long)connection_id);
	snprintf(run, sizeof(run), "%lld", (long long)run_id);
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "alert_clear_answered",
		"UPDATE guestflow.alert_events SET cleared_at = now()"
		" WHERE job = $1 AND cleared_at IS NULL"
		"   AND " GF_SQL_ANSWER_CLEARS("= $2::bigint", "nullif($3::bigint, 0)")
		" RETURNING id, kind, coalesce(connection_id, 0)", 3,
		(const char *[]){ job, conn, run });
	if (!r)
		return err;
	for (int i = 0; i < PQntuples(r); i++)
		gf_info("alert_cleared", "alert=%s kind=%s connection=%s", PQgetvalue(r, i, 0),
		        PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
	return 0;
}
