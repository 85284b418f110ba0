/* The suppression list as an operator reads and lifts it. */
#include "core/suppression.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "core/jsonout.h"
#include "db/db.h"

int gf_suppression_list(PGconn *c, const char *email, json_t *doc, FILE *out, int64_t *n)
{
	int err;
	*n = 0;
	/* Who reported it: the event's partner, job and booking (NULL once
	 * the event is purged: the list keeps the address). */
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "suppression_list",
		"SELECT x.email, x.reason, to_char(x.created_at, 'YYYY-MM-DD HH24:MI:SS TZ'), cc.partner, e.job,"
		"       e.booking_no, to_char(x.created_at, " GF_JSON_TS_FMT ")"
		"  FROM guestflow.suppressions x"
		"  LEFT JOIN guestflow.partner_events e ON e.id = x.event_id"
		"  LEFT JOIN guestflow.connections cc ON cc.id = e.connection_id"
		" WHERE $1::text IS NULL OR x.email = guestflow.email_key($1)"
		" ORDER BY x.created_at, x.email", 1, (const char *[]){ email });
	if (!r)
		return err;
	*n = PQntuples(r);
	if (doc) {
		static const struct gf_json_col cols[] = {
			{ "email", 0, gf_json_col_text }, { "reason", 1, gf_json_col_text }, { "since", 6, gf_json_col_ts },
			{ "partner", 3, gf_json_col_text }, { "job", 4, gf_json_col_text },
			{ "booking_no", 5, gf_json_col_text },
		};
		gf_json_set(doc, "suppressions", gf_json_rows(r, cols, GF_ARRAY_SIZE(cols)));
		return 0;
	}
	fprintf(out, "%-32s %-13s %-24s %s\n", "E-MAIL", "REASON", "SINCE", "REPORTED BY");
	/* database text escaped as in the logs: nothing in it drives the terminal */
	for (int i = 0; i < PQntuples(r); i++) {
		fprintf(out, "%-32s %-13s %-24s ", gf_log_qt(PQgetvalue(r, i, 0)), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
		if (PQgetisnull(r, i, 3))
			fputs("(its event was purged)\n", out);
		else
			fprintf(out, "%s (job %s, booking %s)\n", gf_log_qt(PQgetvalue(r, i, 3)), gf_log_qt(PQgetvalue(r, i, 4)),
			        gf_log_qt(PQgetvalue(r, i, 5)));
	}
	return 0;
}

void gf_suppression_removed_free(struct gf_suppression_removed *r)
{
	for (size_t i = 0; i < r->n_jobs; i++) {
		free(r->jobs[i]);
		free(r->booking_nos[i]);
	}
	free(r->jobs);
	free(r->booking_nos);
	free(r->email);
	r->email = NULL;
	r->jobs = r->booking_nos = NULL;
	r->n_jobs = 0;
}

/* Per job, the deliveries the suppression withdrew (rejected for it by the
 * pull, or when a batch was read: the reason's words, plan.h and pull.c)
 * of bookings that have the address now. A scan of the rejected
 * deliveries: a command run by hand, now and then. */
static int withdrawn(PGconn *c, const char *email, struct gf_suppression_removed *out)
{
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "suppression_withdrawn",
		"SELECT d.job, string_agg(d.booking_no, ' ' ORDER BY d.booking_no), count(*)"
		"  FROM guestflow.deliveries d"
		" WHERE d.state = 'rejected' AND d.reason LIKE 'the guest''s address is on the suppression list%'"
		"   AND (SELECT guestflow.email_key(s.email) FROM guestflow.source_bookings s"
		"         WHERE s.booking_id = d.booking_id LIMIT 1) = $1"
		" GROUP BY d.job ORDER BY d.job", 1, (const char *[]){ email });
	if (!r)
		return err;
	int n = PQntuples(r);
	out->jobs = gf_xcalloc((size_t)n + 1, sizeof(*out->jobs));
	out->booking_nos = gf_xcalloc((size_t)n + 1, sizeof(*out->booking_nos));
	for (int i = 0; i < n; i++) {
		out->jobs[i] = gf_xstrdup(PQgetvalue(r, i, 0));
		out->booking_nos[i] = gf_xstrdup(PQgetvalue(r, i, 1));
		out->withdrawn += gf_db_get_int(r, i, 2);
	}
	out->n_jobs = (size_t)n;
	return 0;
}

int gf_suppression_remove(PGconn *c, const char *email, const char *because, bool force,
                          struct gf_suppression_removed *out)
{
	*out = (struct gf_suppression_removed){ 0 };
	int err;
	/* One statement: the row deleted and its record written together. The
	 * subquery sees the list as the statement found it: whether the
	 * address was on it, and why. */
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "suppression_remove",
		"WITH del AS ("
		"  DELETE FROM guestflow.suppressions WHERE email = guestflow.email_key($1)"
		"     AND (reason <> 'unsubscribed' OR $3::bool)"
		"  RETURNING email, reason, created_at, event_id"
		"), rec AS ("
		"  INSERT INTO guestflow.suppression_removals (email, reason, suppressed_at, event_id, because)"
		"  SELECT email, reason, created_at, event_id, $2 FROM del RETURNING 1"
		") SELECT (SELECT x.reason FROM guestflow.suppressions x WHERE x.email = guestflow.email_key($1)),"
		"         (SELECT count(*) FROM rec), guestflow.email_key($1)",
		3, (const char *[]){ email, because, force ? "t" : "f" });
	if (!r)
		return err;
	if (PQgetisnull(r, 0, 0))
		return -ENOENT;
	snprintf(out->reason, sizeof(out->reason), "%s", PQgetvalue(r, 0, 0));
	out->email = gf_xstrdup(PQgetvalue(r, 0, 2));
	if (gf_db_get_int(r, 0, 1) == 0)
		return -EPERM;
	return withdrawn(c, out->email, out);
}
