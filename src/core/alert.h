/* Alert events: conditions an operator must hear about, one open event per
 * job, connection and kind. */
#ifndef GF_ALERT_H
#define GF_ALERT_H

#include <libpq-fe.h>
#include <stdint.h>

/* Raise an event unless the same one is open already (connection_id 0: the
 * job as a whole). Logs event=alert_raised when a new one was raised. Runs in
 * the caller's transaction, if any. The message is stored as safe text
 * (text.h: valid UTF-8, no control characters, every access_key value
 * blanked, at most 2 * GF_TEXT_MAX bytes); the caller redacts the key
 * itself from what it quotes. */
int gf_alert_raise(PGconn *c, const char *job, int64_t connection_id, const char *kind,
                   const char *message, int64_t run_id);

/* Clear the open events of these kinds (a comma-separated list) for the job
 * and connection (0: the job-wide ones). */
int gf_alert_clear(PGconn *c, const char *job, int64_t connection_id, const char *kinds);
/* What an accepted answer of connection_id clears: its alerts of the
 * partner not answering, refusing the credentials or the requests, and the
 * job-wide ones of the partner not answering or the account refused; not
 * a hold that run_id raised itself, of the connection or of the job's
 * account (the answer may have come before the hold, its completion
 * after). 0, or a database error. */
/* The same as an SQL condition over guestflow.alert_events, for the
 * accepted completions that clear in their own statement (complete.c):
 * conn_pred a predicate on the connection's id (e.g. "= $2::bigint"), run
 * the answering run's id (SQL). */
#define GF_SQL_ANSWER_CLEARS(conn_pred, run) \
	"((coalesce(connection_id, 0) " conn_pred \
	"  AND kind IN ('auth_failed', 'partner_unreachable', 'requests_refused', 'connection_invalid')" \
	"  AND NOT (run_id IS NOT DISTINCT FROM " run " AND kind IN ('auth_failed', 'requests_refused', 'connection_invalid')))" \
	" OR (coalesce(connection_id, 0) = 0 AND kind IN ('partner_unreachable', 'auth_failed')" \
	"     AND NOT (run_id IS NOT DISTINCT FROM " run " AND kind = 'auth_failed')))"
int gf_alert_clear_answered(PGconn *c, const char *job, int64_t connection_id, int64_t run_id);

#endif
