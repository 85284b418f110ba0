/* "Why was this guest (not) sent?" for one booking and each job. */
#include "core/explain.h"

#include <stdlib.h>
#include <string.h>

#include "base/idranges.h"
#include "base/text.h"
#include "core/complete.h"
#include "db/db.h"
#include "core/jsonout.h"
#include "base/log.h"
#include "core/plan.h"
#include "core/purge.h"

/* Where explain writes: a terminal (out), or, with rules set, the --json
 * document's entry of the job being explained. */
struct sink {
	FILE *out;
	json_t *rules;      /* this job's "rules" (NULL: text) */
	json_t *job;        /* this job's entry */
};

static void rule(FILE *out, bool ok, const char *what, const char *label, const char *val)
{
	fprintf(out, "  %-5s %-32s %s%s\n", ok ? "yes" : "NO", what, label, val);
}

/* One rule: as a line, or as {"rule", "passed", "value", "detail"} (value:
 * the booking's, as the source view gives it; detail: the line's text). */
static void rule_to(struct sink *k, const char *id, bool ok, const char *what, const char *label,
                    const char *detail, const char *value)
{
	if (!k->rules) {
		rule(k->out, ok, what, label, detail);
		return;
	}
	json_t *o = gf_json_obj();
	gf_json_set(o, "rule", gf_json_text(id));
	gf_json_set(o, "passed", gf_json_bool(ok));
	gf_json_set(o, "value", gf_json_text(value));
	gf_json_set(o, "detail", gf_json_text(detail));
	gf_json_add(k->rules, o);
}

static const char *or_none(const char *v)
{
	return v ? v : "(none)";
}

static const char *vis_q(const char *s)
{
	return gf_log_qv(s, false);
}

static const char *vis_qt(const char *s)
{
	return gf_log_qv(s, true);
}

/* A duration as a job file writes it: "14 days", else in the largest unit
 * that gives it exactly ("12h", "90m", "1500ms"). */
static void duration_text(int64_t ms, char *out, size_t size)
{
	static const struct { int64_t ms; const char *unit; } units[] = {
		{ 3600000, "h" }, { 60000, "m" }, { 1000, "s" },
	};
	if (ms > 0 && ms % 86400000 == 0) {
		snprintf(out, size, "%lld day%s", (long long)(ms / 86400000), ms == 86400000 ? "" : "s");
		return;
	}
	for (size_t i = 0; i < GF_ARRAY_SIZE(units); i++)
		if (ms > 0 && ms % units[i].ms == 0) {
			snprintf(out, size, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
			return;
		}
	snprintf(out, size, "%lldms", (long long)ms);
}

/* A statement whose failure may be one booking's (an operator's view or
 * adapter raising for its values), run quietly: 1 and its result in *out;
 * 0 when the server refused it with an SQLSTATE gf_db_sqlstate_may_be_row()
 * names, the reason in why (gf_db_error_reason) and the SQLSTATE in state;
 * else the error, logged naming what. */
static int try_query(PGconn *c, const char *what, const char *sql, int n, const char *const *params,
                     PGresult **out, char *why, size_t whylen, char state[6])
{
	PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	if (r && (PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK)) {
		*out = r;
		return 1;
	}
	const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	if (PQstatus(c) == CONNECTION_OK && st && gf_db_sqlstate_may_be_row(st)) {
		snprintf(state, 6, "%s", st);
		gf_db_error_reason(r, why, whylen);
		PQclear(r);
		return 0;
	}
	int err = gf_db_result_error(c, r, what);
	if (r)
		PQclear(r);
	return err;
}

/* When a job has no delivery of the booking: why, from the job's runs. A
 * run that ended with 0, 1 or 69 read the whole plan; one that failed
 * before (a database error, a configuration error: 75, 78, 70) or was lost
 * may never have read the booking, and neither may a job that has not
 * run. */
static int no_delivery_note(PGconn *c, const struct gf_job *job, bool before_horizon, bool eligible, char *out,
                            size_t size)
{
	int err;
	_cleanup_pgresult_ PGresult *p = gf_db_query(c, &err, "explain_planned_run",
		"SELECT id, to_char(started_at, 'YYYY-MM-DD HH24:MI:SS TZ') FROM guestflow.runs"
		" WHERE job = $1 AND exit_code IN (0, 1, 69) ORDER BY id DESC LIMIT 1", 1, (const char *[]){ job->name });
	if (!p)
		return err;
	const char *since = PQntuples(p) ? PQgetvalue(p, 0, 0) : "0";
	_cleanup_pgresult_ PGresult *f = gf_db_query(c, &err, "explain_failed_runs",
		"SELECT count(*) OVER (), id, to_char(started_at, 'YYYY-MM-DD HH24:MI:SS TZ'),"
		"       coalesce(exit_code::text, 'none (lost)'), coalesce(message, '')"
		"  FROM guestflow.runs WHERE job = $1 AND id > $2::bigint AND (finished_at IS NOT NULL OR lost_at IS NOT NULL)"
		" ORDER BY id DESC LIMIT 1", 2, (const char *[]){ job->name, since });
	if (!f)
		return err;
	char failed[800] = "";
	if (PQntuples(f))
		snprintf(failed, sizeof(failed), "%s run%s ended before the end of planning (the last: run %s at %s, exit"
		         " %s%s%s)", PQgetvalue(f, 0, 0), strcmp(PQgetvalue(f, 0, 0), "1") ? "s" : "", PQgetvalue(f, 0, 1),
		         PQgetvalue(f, 0, 2), PQgetvalue(f, 0, 3), *PQgetvalue(f, 0, 4) ? ": " : "",
		         *PQgetvalue(f, 0, 4) ? gf_log_qt(PQgetvalue(f, 0, 4)) : "");
	if (PQntuples(p) == 0 && PQntuples(f) == 0)
		snprintf(out, size, "this job has not run yet (guestflow.runs has no run of it)");
	else if (PQntuples(p) == 0)
		snprintf(out, size, "no run of this job has read its plan to the end: %s; the booking may never have"
		         " been planned", failed);
	else if (PQntuples(f))
		snprintf(out, size, "not eligible when this job last read its plan to the end (run %s at %s); since then %s,"
		         " so it may not have been planned since", PQgetvalue(p, 0, 0), PQgetvalue(p, 0, 1), failed);
	else if (before_horizon)
		snprintf(out, size, "purged (retention.deliveries), or the booking was never eligible when this job ran");
	else if (eligible)
		snprintf(out, size, "not eligible when this job last ran (run %s at %s): the next run plans it",
		         PQgetvalue(p, 0, 0), PQgetvalue(p, 0, 1));
	else
		snprintf(out, size, "the booking has never been eligible when this job ran");
	return 0;
}

/* The deliveries of explain_delivery's rows d, into the job's entry j:
 * "deliveries", and "delivery_note" when there are none. */
static void delivery_json(const struct gf_job *job, PGresult *d, const char *note, json_t *j)
{
	json_t *a = gf_json_arr();
	gf_json_set(j, "deliveries", a);
	_cleanup_free_ char *none = gf_xasprintf("none: %s", note);
	gf_json_set(j, "delivery_note", PQntuples(d) ? gf_json_null() : gf_json_text(none));
	for (int i = 0; i < PQntuples(d); i++) {
		const char *state = PQgetvalue(d, i, 1);
		bool rejected = strcmp(state, "rejected") == 0, waiting = strcmp(state, "pending") == 0 ||
		                                                          strcmp(state, "sending") == 0;
		json_t *o = gf_json_obj();
		gf_json_set(o, "property", gf_json_col_text(d, i, 0));
		gf_json_set(o, "state", gf_json_text(state));
		gf_json_set(o, "reason", gf_json_col_text(d, i, 17));
		gf_json_set(o, "planned_at", gf_json_col_ts(d, i, 14));
		gf_json_set(o, "planned_run_id", gf_json_col_num(d, i, 11));
		gf_json_set(o, "finished_at", gf_json_col_ts(d, i, 15));
		gf_json_set(o, "data_rejected", gf_json_col_bool(d, i, 12));
		/* what happens next, as the text says it (null: nothing) */
		const char *next = NULL;
		_cleanup_free_ char *rerun = gf_xasprintf("stays rejected until 'guestflow rerun %s --booking ...'",
		                                          job->name);
		if (rejected && PQgetvalue(d, i, 12)[0] == 't')
			next = PQgetvalue(d, i, 13)[0] == 't' ? "the booking changed since: planned again at the next run"
			                                      : "will be planned again when the booking changes in the PMS";
		else if (rejected)
			next = rerun;
		else if (PQgetisnull(d, i, 3) && strcmp(state, "pending") == 0)
			next = "waiting for the next run to put it in a batch";
		gf_json_set(o, "next_step", gf_json_text(next));
		json_t *b = gf_json_null();
		if (!PQgetisnull(d, i, 3)) {
			json_decref(b);
			b = gf_json_obj();
			gf_json_set(b, "id", gf_json_col_num(d, i, 3));
			gf_json_set(b, "state", gf_json_col_text(d, i, 10));
			gf_json_set(b, "attempts", gf_json_col_num(d, i, 4));
			gf_json_set(b, "idempotency_key", gf_json_col_text(d, i, 5));
			gf_json_set(b, "last_error", gf_json_col_text(d, i, 18));
			gf_json_set(b, "next_attempt_at", waiting ? gf_json_col_ts(d, i, 16) : gf_json_null());
		}
		gf_json_set(o, "batch", b);
		gf_json_add(a, o);
	}
}

/* The job's deliveries of the booking. property_id: the booking's now
 * (NULL: the source view does not give it); updated_at: the booking's, as
 * the source view gives it (NULL: unknown); eligible: the verdict now, for
 * the note when there is none. */
static int explain_delivery(PGconn *c, const struct gf_job *job, const char *booking_id, const char *property_id,
                            const char *updated_at, bool before_horizon, bool eligible, bool gone, json_t *jdoc,
                            FILE *out)
{
	int err;
	_cleanup_pgresult_ PGresult *d = gf_db_query(c, &err, "explain_delivery",
		"SELECT c.property_id, d.state, coalesce(d.reason, ''), d.batch_id, b.attempts, b.idempotency_key,"
		"       coalesce(b.last_error, ''), to_char(b.next_attempt_at, 'YYYY-MM-DD HH24:MI:SS TZ'),"
		"       to_char(d.finished_at, 'YYYY-MM-DD HH24:MI:SS TZ'), to_char(d.created_at, 'YYYY-MM-DD HH24:MI:SS TZ'),"
		"       b.state, d.planned_run_id, d.data_rejected, coalesce($4::timestamptz > coalesce(fr.started_at, d.finished_at) AND $4::timestamptz <= now(), false),"
		/* (14..) for --json */
		"       to_char(d.created_at, " GF_JSON_TS_FMT "), to_char(d.finished_at, " GF_JSON_TS_FMT "),"
		"       to_char(b.next_attempt_at, " GF_JSON_TS_FMT "), d.reason, b.last_error"
		"  FROM guestflow.deliveries d JOIN guestflow.connections c ON c.id = d.connection_id"
		"  LEFT JOIN guestflow.batches b ON b.id = d.batch_id"
		/* (plan.c: a change after the start of the run that rejected it) */
		"  LEFT JOIN guestflow.runs fr ON fr.id = d.finished_run_id"
		/* (through the connections to the job's partner: the key begins
		 * with the connection; not only the property's now, the booking may
		 * have been moved to another property since it was delivered) */
		" WHERE d.job = $1 AND d.booking_id = $2::bigint"
		"   AND d.connection_id IN (SELECT id FROM guestflow.connections WHERE partner = $5 OR property_id = $3)"
		" ORDER BY d.connection_id", 5,
		(const char *[]){ job->name, booking_id, property_id, updated_at, job->partner });
	if (!d)
		return err;
	char note[1200] = "guestflow recorded no delivery of it for this job";
	if (PQntuples(d) == 0 && !gone && (err = no_delivery_note(c, job, before_horizon, eligible, note, sizeof(note))) < 0)
		return err;
	if (jdoc) {
		delivery_json(job, d, note, jdoc);
		return 0;
	}
	if (PQntuples(d) == 0) {
		fprintf(out, "  delivery: none — %s\n", note);
		return 0;
	}
	/* Reasons and errors quote partners and the PMS: shown through
	 * gf_log_qt(), so that nothing in them can drive the terminal. */
	for (int i = 0; i < PQntuples(d); i++) {
		const char *state = PQgetvalue(d, i, 1);
		fprintf(out, "  delivery to %s: %s", gf_log_qt(PQgetvalue(d, i, 0)), gf_log_qt(state));
		if (strcmp(state, "delivered") == 0)
			fprintf(out, " at %s", PQgetvalue(d, i, 8));
		fprintf(out, " (planned %s by run %s)\n", PQgetvalue(d, i, 9), PQgetvalue(d, i, 11));
		if (*PQgetvalue(d, i, 2))
			fprintf(out, "    reason: %s\n", gf_log_qt(PQgetvalue(d, i, 2)));
		if (strcmp(state, "rejected") == 0 && PQgetvalue(d, i, 12)[0] == 't')
			fprintf(out, "    rejected for its data at %s; %s\n", PQgetvalue(d, i, 8),
			        PQgetvalue(d, i, 13)[0] == 't' ? "the booking changed since: planned again at the next run"
			                                       : "will be planned again when the booking changes in the PMS");
		else if (strcmp(state, "rejected") == 0 && strstr(PQgetvalue(d, i, 2), GF_HELD_NOT_SENT_AGAIN))
			fprintf(out, "    not planned again when the booking changes: the partner may hold it from an earlier"
			        " attempt; stays rejected until 'guestflow rerun %s --booking ...'\n", gf_log_qt(job->name));
		else if (strcmp(state, "rejected") == 0)
			fprintf(out, "    rejected by the partner: stays rejected until 'guestflow rerun %s --booking ...'\n",
			        gf_log_qt(job->name));
		if (!PQgetisnull(d, i, 3)) {
			fprintf(out, "    batch %s (%s), attempts %s, Idempotency-Key %s\n", PQgetvalue(d, i, 3),
			        gf_log_qt(PQgetvalue(d, i, 10)), PQgetvalue(d, i, 4), gf_log_qt(PQgetvalue(d, i, 5)));
			if (*PQgetvalue(d, i, 6))
				fprintf(out, "    last error: %s\n", gf_log_qt(PQgetvalue(d, i, 6)));
			if (strcmp(state, "pending") == 0 || strcmp(state, "sending") == 0)
				fprintf(out, "    next attempt: %s\n", PQgetvalue(d, i, 7));
		} else if (strcmp(state, "pending") == 0) {
			fprintf(out, "    waiting for the next run to put it in a batch\n");
		}
	}
	return 0;
}

/* The booking's history, read only through the source contract's
 * guestflow.read_history(bigint) (schemas/sql/reference/adapters.sql). The
 * function raising for the booking is said where the history would be;
 * the rest of the answer stands. */
static int explain_history(PGconn *c, const char *booking_id, json_t *doc, FILE *out)
{
	int err;
	_cleanup_pgresult_ PGresult *t = gf_db_query(c, &err, "explain_history_adapter",
		"SELECT to_regprocedure('guestflow.read_history(bigint)') IS NOT NULL", 0, NULL);
	if (!t)
		return err;
	if (PQgetvalue(t, 0, 0)[0] != 't' && doc) {
		gf_json_set(doc, "history", gf_json_null());
		gf_json_set(doc, "history_note", gf_json_text("not shown: this PMS's adapters have no"
		                                              " guestflow.read_history(bigint)"));
		return 0;
	}
	if (PQgetvalue(t, 0, 0)[0] != 't') {
		fprintf(out, "history: not shown: this PMS's adapters have no guestflow.read_history(bigint)"
		        " (see schemas/sql/reference/adapters.sql)\n");
		return 0;
	}
	PGresult *h = NULL;
	char why[400], state[6];
	int r = try_query(c, "explain_history",
		"SELECT to_char(h.created_at, 'YYYY-MM-DD HH24:MI:SS TZ'), h.kind, h.message,"
		"       to_char(h.created_at, " GF_JSON_TS_FMT ")"
		"  FROM guestflow.read_history($1::bigint) h", 1, (const char *[]){ booking_id }, &h, why, sizeof(why),
		state);
	if (r < 0)
		return r;
	if (r == 0) {
		_cleanup_free_ char *note = gf_xasprintf("could not be read: guestflow.read_history(bigint) raises an error"
		                                         " for this booking: %s", why);
		if (doc) {
			gf_json_set(doc, "history", gf_json_null());
			gf_json_set(doc, "history_note", gf_json_text(note));
		} else {
			fprintf(out, "history: %s\n", gf_log_qt(note));
		}
		return 0;
	}
	_cleanup_pgresult_ PGresult *hh = h;
	if (doc) {
		json_t *a = gf_json_arr();
		for (int i = 0; i < PQntuples(h); i++) {
			json_t *o = gf_json_obj();
			gf_json_set(o, "at", gf_json_col_ts(h, i, 3));
			gf_json_set(o, "kind", gf_json_col_text(h, i, 1));
			gf_json_set(o, "message", gf_json_col_text(h, i, 2));
			gf_json_add(a, o);
		}
		gf_json_set(doc, "history", a);
		gf_json_set(doc, "history_note", gf_json_null());
		return 0;
	}
	fprintf(out, "history entries on the booking: %d\n", PQntuples(h));
	for (int i = 0; i < PQntuples(h); i++)
		fprintf(out, "  %s  [%s] %s\n", PQgetvalue(h, i, 0), gf_log_qt(PQgetvalue(h, i, 1)),
		        gf_log_qt(PQgetvalue(h, i, 2)));
	return 0;
}

/* The two status rules (issue 17 item 8): the job sends the status
 * (selection.statuses), and the partner knows it (a reference status, or
 * one its status map maps). r: the explain_rules row. */
static void explain_status(struct sink *k, const struct gf_job *job, PGresult *r)
{
	const char *status = gf_db_get(r, 0, 2);
	_cleanup_buf_ struct gf_buf b = GF_BUF_INIT(SIZE_MAX);
	gf_buf_printf(&b, "status = %s (selection.statuses:", status ? vis_qt(status) : "(none)");
	for (size_t i = 0; i < job->statuses.n; i++)
		gf_buf_printf(&b, "%s %s", i ? "," : "", vis_qt(job->statuses.v[i]));
	gf_buf_puts(&b, ")");
	rule_to(k, "status_selected", PQgetvalue(r, 0, 3)[0] == 't', "status sent by the job", "", gf_buf_str(&b),
	        status);
	/* (the document has both rules always) */
	if ((PQgetvalue(r, 0, 3)[0] != 't' || !status) && !k->rules)
		return;
	gf_buf_reset(&b);
	if (gf_db_get(r, 0, 22))
		gf_buf_printf(&b, "mapped to %s for %s (guestflow status-map list %s)", gf_log_qt(PQgetvalue(r, 0, 22)),
		              gf_log_qt(job->partner), gf_log_qt(job->partner));
	else if (PQgetvalue(r, 0, 21)[0] == 't')
		gf_buf_puts(&b, "a reference status, sent as it is");
	else
		gf_buf_printf(&b, "not a reference status and not mapped for %s: guestflow status-map set %s %s"
		              " PARTNER_STATUS", gf_log_qt(job->partner), gf_log_qt(job->partner), vis_qt(status));
	rule_to(k, "status_known", PQgetvalue(r, 0, 21)[0] == 't', "status known to the partner", "", gf_buf_str(&b),
	        status);
}

/* Every rule for the booking's explain_rules row r, under the job's line;
 * *eligible: whether all passed. */
static void explain_rules(struct sink *k, const struct gf_job *job, PGresult *r, const char *horizon, bool *eligible)
{
	bool all = job->enabled;
	for (int col = 3; col <= 13; col += 2)
		all = all && PQgetvalue(r, 0, col)[0] == 't';
	all = all && PQgetvalue(r, 0, 17)[0] == 't' && PQgetvalue(r, 0, 19)[0] == 't' &&
	      PQgetvalue(r, 0, 21)[0] == 't';
	*eligible = all;
	if (k->rules)
		gf_json_set(k->job, "verdict", gf_json_text(all ? "eligible" : "not_eligible"));
	else
		fprintf(k->out, "\njob %s (partner %s, %s): %s\n", gf_log_qt(job->name), gf_log_qt(job->partner),
		        gf_log_qt(job->path), all ? "eligible" : "NOT eligible");
	rule_to(k, "job_enabled", job->enabled, "job enabled", "",
	        job->enabled ? "enabled: true" : "enabled: false in the job file", job->enabled ? "true" : "false");
	explain_status(k, job, r);
	rule_to(k, "email", PQgetvalue(r, 0, 5)[0] == 't', "e-mail present and plausible", "email = ",
	        gf_db_get(r, 0, 4) ? vis_q(PQgetvalue(r, 0, 4)) : "(none)", gf_db_get(r, 0, 4));
	rule_to(k, "last_name", PQgetvalue(r, 0, 7)[0] == 't', "last name present", "last_name = ",
	        gf_db_get(r, 0, 6) ? vis_q(PQgetvalue(r, 0, 6)) : "(none)", gf_db_get(r, 0, 6));
	rule_to(k, "notify", PQgetvalue(r, 0, 9)[0] == 't', "notify flag on", "notify = ",
	        or_none(gf_db_get(r, 0, 8)), gf_db_get(r, 0, 8));
	_cleanup_free_ char *sup = gf_db_get(r, 0, 18) ?
		gf_xasprintf("the address is on the suppression list: %s; no job sends it to any partner"
		             " ('guestflow suppression remove' lifts it)",
		             gf_log_q(PQgetvalue(r, 0, 18))) : gf_xstrdup("not on the suppression list");
	rule_to(k, "not_suppressed", PQgetvalue(r, 0, 17)[0] == 't', "not unsubscribed or bounced", "", sup,
	        gf_db_get(r, 0, 4));
	rule_to(k, "property_allowed", PQgetvalue(r, 0, 19)[0] == 't', "property allows export", "",
	     gf_db_get(r, 0, 20) ? (PQgetvalue(r, 0, 19)[0] == 't' ? "export_allowed = true in guestflow.source_properties"
	                                                          : "export_allowed is not true in"
	                                                            " guestflow.source_properties")
	                         : "the PMS does not list the property (guestflow.source_properties)",
	        gf_db_get(r, 0, 20));
	char win[400], dur[64];
	duration_text(job->window_ms, dur, sizeof(dur));
	if (PQgetvalue(r, 0, 24)[0] == 't')
		snprintf(win, sizeof(win), "checked_out_at = %s: in the future (the PMS's clock or time zone?); planned"
		         " once that time has come", or_none(gf_db_get(r, 0, 10)));
	else if (*horizon)
		snprintf(win, sizeof(win), "checked_out_at = %s (window %s, but not before %s: bookings checked"
		         " out before it may have had their deliveries purged, and are not planned again)",
		         or_none(gf_db_get(r, 0, 10)), dur, horizon);
	else
		snprintf(win, sizeof(win), "checked_out_at = %s (window %s)", or_none(gf_db_get(r, 0, 10)), dur);
	rule_to(k, "window", PQgetvalue(r, 0, 11)[0] == 't', "checked out within the window", "", win,
	        gf_db_get(r, 0, 23));
	_cleanup_free_ char *conn = gf_db_get(r, 0, 12) ?
		gf_xasprintf("connection %s (hotel id %s)", gf_log_qt(PQgetvalue(r, 0, 12)),
		             gf_log_qt(PQgetvalue(r, 0, 14))) :
		gf_xasprintf("no connection to %s", gf_log_qt(job->partner));
	rule_to(k, "connection_live", PQgetvalue(r, 0, 13)[0] == 't', "property connected and live", "", conn,
	        gf_db_get(r, 0, 12));
}

/* What the source view gives of one booking id, read once for its header. */
enum seen { SEEN, UNREADABLE, GONE };

/* One job's part for the booking booking_id: its rules when the source view
 * gives them, then its deliveries. property: the booking's (NULL: the view
 * does not give it). */
static int explain_job(PGconn *c, const struct gf_job *job, const char *booking_id, enum seen seen,
                       const char *property, const char *sqlstate, const char *why, json_t *jobs_json, FILE *out)
{
	struct sink k = { .out = out };
	if (jobs_json) {
		k.job = gf_json_obj();
		gf_json_add(jobs_json, k.job);
		gf_json_set(k.job, "job", gf_json_text(job->name));
		gf_json_set(k.job, "partner", gf_json_text(job->partner));
		gf_json_set(k.job, "path", gf_json_text(job->path));
		gf_json_set(k.job, "verdict", gf_json_null());
		gf_json_set(k.job, "sqlstate", gf_json_null());
		k.rules = gf_json_arr();
		gf_json_set(k.job, "rules", k.rules);
		gf_json_set(k.job, "deliveries", gf_json_arr());
		gf_json_set(k.job, "delivery_note", gf_json_null());
	}
	/* The window as the plan reaches it: not back before a purge. */
	int64_t window_ms = 0;
	char horizon[64];
	int err = gf_purge_window(c, job, &window_ms, horizon, sizeof(horizon));
	if (err < 0)
		return err;
	PGresult *r = NULL;
	char rwhy[400], rstate[6];
	if (seen == SEEN) {
		char window[32];
		snprintf(window, sizeof(window), "%lld", (long long)window_ms);
		_cleanup_free_ char *statuses = gf_plan_statuses(job);
		int q = try_query(c, "explain_rules",
			"SELECT s.booking_id, s.property_id, s.status, coalesce(" GF_SQL_RULE_STATUS_SELECTED("$4::text[]") ", false),"
			"       s.email, coalesce(" GF_SQL_RULE_EMAIL ", false),"
			"       s.last_name, coalesce(" GF_SQL_RULE_NAME ", false),"
			"       s.notify::text, coalesce(" GF_SQL_RULE_NOTIFY ", false),"
			"       to_char(s.checked_out_at, 'YYYY-MM-DD HH24:MI:SS TZ'), coalesce(" GF_SQL_RULE_WINDOW_MS("$3") " AND " GF_SQL_NOT_FUTURE ", false),"
			"       c.status, coalesce(c.status = 'live', false), c.id_at_partner, s.first_name, s.updated_at::text,"
			"       coalesce(" GF_SQL_RULE_NOT_SUPPRESSED ", true),"
			"       (SELECT x.reason || ' (' || to_char(x.created_at, 'YYYY-MM-DD') || coalesce(', reported by '"
			"               || (SELECT cc.partner FROM guestflow.partner_events pe"
			"                     JOIN guestflow.connections cc ON cc.id = pe.connection_id WHERE pe.id = x.event_id), '')"
			"               || ')' FROM guestflow.suppressions x WHERE x.email = guestflow.email_key(s.email)),"
			"       coalesce(" GF_SQL_RULE_PROPERTY_ALLOWED ", false),"
			"       (SELECT string_agg(coalesce(p.export_allowed::text, 'null'), ', ')"
			"          FROM guestflow.source_properties p WHERE p.property_id = s.property_id),"
			"       coalesce(" GF_SQL_RULE_STATUS_MAPPED("$2") ", false),"
			"       (SELECT m.partner_status FROM guestflow.status_map m WHERE m.partner = $2 AND m.source_status = s.status),"
			"       to_char(s.checked_out_at, " GF_JSON_TS_FMT "), coalesce(s.checked_out_at > now(), false)"
			"  FROM guestflow.source_bookings s"
			"  LEFT JOIN guestflow.connections c ON c.property_id = s.property_id AND c.partner = $2"
			/* (by its id: another booking's row the view fails for is never read) */
			" WHERE s.booking_id = $1::bigint LIMIT 1", 4,
			(const char *[]){ booking_id, job->partner, window, statuses }, &r, rwhy, sizeof(rwhy), rstate);
		if (q < 0)
			return q;
		if (q == 0) {
			seen = UNREADABLE;
			sqlstate = rstate;
			why = rwhy;
		} else if (PQntuples(r) == 0) {
			/* (gone from the view since the header was read) */
			seen = GONE;
		}
	}
	_cleanup_pgresult_ PGresult *rr = r;
	bool eligible = false;
	if (seen == SEEN) {
		explain_rules(&k, job, r, horizon, &eligible);
		return explain_delivery(c, job, booking_id, PQgetvalue(r, 0, 1), gf_db_get(r, 0, 16),
		                        *horizon && PQgetvalue(r, 0, 11)[0] != 't', eligible, false, k.job, out);
	}
	if (k.job) {
		gf_json_set(k.job, "verdict", gf_json_text(seen == GONE ? "not_in_source" : "unreadable"));
		gf_json_set(k.job, "sqlstate", seen == GONE ? gf_json_null() : gf_json_text(sqlstate));
	} else if (seen == GONE) {
		fprintf(out, "\njob %s (partner %s, %s): not in guestflow.source_bookings, so not sent again; its"
		        " deliveries as guestflow recorded them:\n", gf_log_qt(job->name), gf_log_qt(job->partner),
		        gf_log_qt(job->path));
	} else {
		fprintf(out, "\njob %s (partner %s, %s): the source view raises an error for this booking (SQLSTATE %s),"
		        " so its rules cannot be shown\n    error: %s\n", gf_log_qt(job->name), gf_log_qt(job->partner),
		        gf_log_qt(job->path), sqlstate, gf_log_qt(why));
	}
	return explain_delivery(c, job, booking_id, property, NULL, false, false, seen == GONE, k.job, out);
}

/* A new entry of the document's "bookings" (NULL: text). */
static json_t *booking_json(json_t *bookings)
{
	if (!bookings)
		return NULL;
	json_t *b = gf_json_obj();
	gf_json_add(bookings, b);
	static const char *const keys[] = { "booking_no", "booking_id", "property", "guest", "note", "jobs",
	                                    "history", "history_note" };
	for (size_t i = 0; i < GF_ARRAY_SIZE(keys); i++)
		gf_json_set(b, keys[i], gf_json_null());
	return b;
}

/* Everything about the booking booking_id, for each job: what the source
 * view gives of it (asked_no: the number asked about, NULL when asked by
 * id), the rules, the deliveries, the history. */
static int explain_booking(PGconn *c, const struct gf_job *const *jobs, size_t n_jobs, const char *asked_no,
                           const char *booking_id, json_t *bookings, FILE *out)
{
	PGresult *h = NULL;
	char why[400] = "", state[6] = "";
	int q = try_query(c, "explain_booking",
		"SELECT s.booking_no, s.property_id, s.first_name, s.last_name, count(*) OVER ()"
		"  FROM guestflow.source_bookings s WHERE s.booking_id = $1::bigint"
		" ORDER BY s.booking_no IS DISTINCT FROM $2 LIMIT 1", 2, (const char *[]){ booking_id, asked_no }, &h,
		why, sizeof(why), state);
	if (q < 0)
		return q;
	_cleanup_pgresult_ PGresult *hh = h;
	enum seen seen = q == 0 ? UNREADABLE : PQntuples(h) == 0 ? GONE : SEEN;
	if (seen == GONE && !asked_no) {
		/* (asked by id: a booking neither the view nor guestflow knows) */
		int err;
		_cleanup_pgresult_ PGresult *d = gf_db_query(c, &err, "explain_recorded_id",
			"SELECT 1 FROM guestflow.deliveries WHERE booking_id = $1::bigint LIMIT 1", 1,
			(const char *[]){ booking_id });
		if (!d)
			return err;
		if (PQntuples(d) == 0)
			return -ENOENT;
	}
	/* Its number: the view's; else the one asked about; else the one
	 * guestflow recorded (asked by id). */
	const char *no = seen == SEEN ? gf_db_get(h, 0, 0) : NULL;
	_cleanup_free_ char *recorded = NULL;
	if (!no && !asked_no) {
		int err;
		_cleanup_pgresult_ PGresult *d = gf_db_query(c, &err, "explain_recorded_no",
			"SELECT booking_no FROM guestflow.deliveries WHERE booking_id = $1::bigint AND booking_no <> ''"
			" ORDER BY created_at DESC LIMIT 1", 1, (const char *[]){ booking_id });
		if (!d)
			return err;
		if (PQntuples(d))
			recorded = gf_xstrdup(PQgetvalue(d, 0, 0));
	}
	if (!no)
		no = asked_no ? asked_no : recorded;
	_cleanup_free_ char *note = NULL;
	if (seen == GONE)
		note = gf_xstrdup("not in guestflow.source_bookings: deleted or archived in the PMS, or left out by the"
		                  " view; shown is what guestflow recorded of it");
	else if (seen == UNREADABLE)
		note = gf_xasprintf("the source view raises an error for this booking (SQLSTATE %s), so its rules cannot be"
		                    " shown: %s", state, why);
	else if (asked_no && no && strcmp(no, asked_no) != 0)
		note = gf_xasprintf("the source view gives it the number %s now; guestflow recorded it under %s", no,
		                    asked_no);
	else if (strcmp(PQgetvalue(h, 0, 4), "1") != 0)
		note = gf_xasprintf("the source view gives this booking_id in %s rows: guestflow plans it once, from one"
		                    " of them; the rules shown are of one", PQgetvalue(h, 0, 4));
	json_t *b = booking_json(bookings), *jobs_json = NULL;
	if (b) {
		gf_json_set(b, "booking_no", gf_json_text(no));
		gf_json_set(b, "booking_id", gf_json_int(strtoll(booking_id, NULL, 10)));
		gf_json_set(b, "note", gf_json_text(note));
		if (seen == SEEN) {
			gf_json_set(b, "property", gf_json_col_text(h, 0, 1));
			json_t *g = gf_json_obj();
			gf_json_set(g, "first_name", gf_json_col_text(h, 0, 2));
			gf_json_set(g, "last_name", gf_json_col_text(h, 0, 3));
			gf_json_set(b, "guest", g);
		}
		jobs_json = gf_json_arr();
		gf_json_set(b, "jobs", jobs_json);
	} else if (seen == SEEN) {
		/* Values are quoted and escaped as in the log: PMS data may hold
		 * control characters that must not reach the terminal raw. */
		fprintf(out, "booking %s (booking id %s, property %s, guest %s %s)\n", no ? vis_qt(no) : "(none)", booking_id,
		        vis_qt(or_none(gf_db_get(h, 0, 1))), gf_log_q(or_none(gf_db_get(h, 0, 2))),
		        gf_log_q(or_none(gf_db_get(h, 0, 3))));
		if (note)
			fprintf(out, "  (%s)\n", gf_log_qt(note));
	} else {
		fprintf(out, "booking %s (booking id %s): %s\n", no ? vis_qt(no) : "(number unknown)", booking_id,
		        seen == GONE ? "not in guestflow.source_bookings: deleted or archived in the PMS, or left out by"
		                       " the view; what guestflow recorded of it:"
		                     : "the source view raises an error for this booking, so its rules cannot be shown");
		if (seen == UNREADABLE)
			fprintf(out, "  error: %s\n", gf_log_qt(why));
	}
	for (size_t j = 0; j < n_jobs; j++) {
		int e = explain_job(c, jobs[j], booking_id, seen, seen == SEEN ? gf_db_get(h, 0, 1) : NULL, state, why,
		                    jobs_json, out);
		if (e < 0)
			return e;
	}
	if (!b)
		fputc('\n', out);
	return explain_history(c, booking_id, b, out);
}

/* A row of the number without a booking_id: guestflow cannot track it. */
static void explain_no_id(const char *booking_no, const char *property, json_t *bookings, FILE *out)
{
	static const char why[] = "the source view gives it no booking_id, so guestflow cannot track it and does not"
	                          " send it; fix guestflow.source_bookings or the PMS";
	json_t *b = booking_json(bookings);
	if (b) {
		gf_json_set(b, "booking_no", gf_json_text(booking_no));
		gf_json_set(b, "property", gf_json_text(property));
		gf_json_set(b, "note", gf_json_text(why));
		gf_json_set(b, "jobs", gf_json_arr());
		gf_json_set(b, "history_note", gf_json_text("not shown: the source view gives no booking id for it"));
		return;
	}
	fprintf(out, "booking %s (property %s): %s\n", vis_qt(booking_no), vis_qt(or_none(property)), why);
}

/* The booking ids the source view gives a number to, and what it cannot
 * be asked about. */
struct found {
	int64_t *ids;            /* booking ids (sorted and unique by found_done) */
	size_t n, cap;
	int64_t *bad;            /* ids whose number the view cannot give */
	size_t n_bad, cap_bad;
	char bad_why[400];       /* the first of their errors */
	bool broken;             /* the view fails for every booking asked: bad_why */
	char **no_id;            /* the properties of the number's rows without a booking_id */
	size_t n_no_id;
	char no_id_why[400];     /* those rows could not be read: why ("": they were) */
};

static void add_id(int64_t **v, size_t *n, size_t *cap, int64_t id)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*v = gf_xrealloc(*v, *cap * sizeof(**v));
	}
	(*v)[(*n)++] = id;
}

static int cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void found_done(struct found *f)
{
	if (f->n > 1)
		qsort(f->ids, f->n, sizeof(*f->ids), cmp_id);
	size_t k = 0;
	for (size_t i = 0; i < f->n; i++)
		if (k == 0 || f->ids[k - 1] != f->ids[i])
			f->ids[k++] = f->ids[i];
	f->n = k;
}

static void found_free(struct found *f)
{
	free(f->ids);
	free(f->bad);
	for (size_t i = 0; i < f->n_no_id; i++)
		free(f->no_id[i]);
	free(f->no_id);
}

/* As the plan (plan.c, list_by_value): this many bookings the view fails
 * for, and none it gives, and the view is taken as broken as a whole. */
#define RANGE_GIVE_UP 10

/* Whether the view gives a number to some booking other than f->bad:
 * evidence that those fail alone. */
static bool view_gives_others(PGconn *c, const struct found *f)
{
	_cleanup_buf_ struct gf_buf ids = GF_BUF_INIT(SIZE_MAX);
	if (gf_db_int_array(&ids, f->bad, f->n_bad) < 0)
		return false;
	PGresult *r = NULL;
	char why[400], state[6];
	if (try_query(c, "explain_view_probe", "SELECT 1 FROM guestflow.source_bookings s WHERE s.booking_id IS NOT NULL"
	              " AND s.booking_id <> ALL($1::bigint[]) AND s.booking_no IS NOT NULL LIMIT 1", 1,
	              (const char *[]){ gf_buf_str(&ids) }, &r, why, sizeof(why), state) != 1)
		return false;
	bool some = PQntuples(r) > 0;
	PQclear(r);
	return some;
}

/* The view failed for some row when asked for the number: asked again a
 * range of booking_id values at a time (a condition on booking_id alone
 * reaches the PMS's table first, plan.c), a range that fails halved down
 * to the one id, which goes to f->bad: the view cannot say whether it has
 * the number. */
static int list_by_range(PGconn *c, const char *booking_no, struct found *f)
{
	struct gf_id_ranges st = { 0 };
	bool healthy = false;
	int err = 0;
	int64_t lo, hi;
	gf_id_ranges_all(&st);
	while (err == 0 && gf_id_ranges_pop(&st, &lo, &hi)) {
		char los[32], his[32], why[400], state[6];
		snprintf(los, sizeof(los), "%lld", (long long)lo);
		snprintf(his, sizeof(his), "%lld", (long long)hi);
		PGresult *r = NULL;
		int q = try_query(c, "explain_list_range",
			"SELECT DISTINCT s.booking_id FROM guestflow.source_bookings s"
			" WHERE s.booking_id >= $2::bigint AND s.booking_id <= $3::bigint AND s.booking_no = $1", 3,
			(const char *[]){ booking_no, los, his }, &r, why, sizeof(why), state);
		if (q < 0) {
			err = q;
			break;
		}
		if (q == 1) {
			for (int i = 0; i < PQntuples(r); i++)
				add_id(&f->ids, &f->n, &f->cap, gf_db_get_int(r, i, 0));
			healthy = healthy || PQntuples(r) > 0;
			PQclear(r);
			continue;
		}
		if (gf_id_ranges_halve(&st, lo, hi))
			continue;
		if (!f->n_bad)
			snprintf(f->bad_why, sizeof(f->bad_why), "%s", why);
		add_id(&f->bad, &f->n_bad, &f->cap_bad, lo);
		if (!healthy && f->n_bad == RANGE_GIVE_UP && !(healthy = view_gives_others(c, f))) {
			f->broken = true;
			break;
		}
	}
	gf_id_ranges_free(&st);
	return err;
}

/* The bookings the view gives booking_no: by the number, or, when that
 * fails for some row, range by range (list_by_range); and its rows without
 * a booking_id. */
static int list_numbered(PGconn *c, const char *booking_no, struct found *f)
{
	PGresult *r = NULL;
	char why[400], state[6];
	int q = try_query(c, "explain_list", "SELECT DISTINCT s.booking_id FROM guestflow.source_bookings s"
	                  " WHERE s.booking_no = $1 AND s.booking_id IS NOT NULL", 1, (const char *[]){ booking_no },
	                  &r, why, sizeof(why), state);
	if (q < 0)
		return q;
	if (q == 1) {
		for (int i = 0; i < PQntuples(r); i++)
			add_id(&f->ids, &f->n, &f->cap, gf_db_get_int(r, i, 0));
		PQclear(r);
	} else if ((q = list_by_range(c, booking_no, f)) < 0) {
		return q;
	}
	q = try_query(c, "explain_list_no_id", "SELECT s.property_id FROM guestflow.source_bookings s"
	              " WHERE s.booking_id IS NULL AND s.booking_no = $1", 1, (const char *[]){ booking_no }, &r,
	              f->no_id_why, sizeof(f->no_id_why), state);
	if (q < 0)
		return q;
	if (q == 1) {
		f->no_id_why[0] = '\0';
		f->n_no_id = (size_t)PQntuples(r);
		f->no_id = gf_xcalloc(f->n_no_id ? f->n_no_id : 1, sizeof(*f->no_id));
		for (size_t i = 0; i < f->n_no_id; i++)
			f->no_id[i] = gf_db_get(r, (int)i, 0) ? gf_xstrdup(PQgetvalue(r, (int)i, 0)) : NULL;
		PQclear(r);
	}
	return 0;
}

/* The bookings guestflow recorded deliveries of under the number, for the
 * jobs explained: also those gone from the view, or numbered otherwise now. */
static int list_recorded(PGconn *c, const struct gf_job *const *jobs, size_t n_jobs, const char *booking_no,
                         struct found *f)
{
	for (size_t j = 0; j < n_jobs; j++) {
		int err;
		_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "explain_recorded",
			"SELECT DISTINCT booking_id FROM guestflow.deliveries WHERE job = $1 AND booking_no = $2", 2,
			(const char *[]){ jobs[j]->name, booking_no });
		if (!r)
			return err;
		for (int i = 0; i < PQntuples(r); i++)
			add_id(&f->ids, &f->n, &f->cap, gf_db_get_int(r, i, 0));
	}
	return 0;
}

/* What the view could not say, in text and in the document. */
static void unknown_note(const struct found *f, const char *booking_no, json_t *doc, FILE *out)
{
	if (doc) {
		json_t *a = gf_json_arr();
		for (size_t i = 0; i < f->n_bad; i++)
			gf_json_add(a, gf_json_int(f->bad[i]));
		gf_json_set(doc, "unreadable_ids", a);
		gf_json_set(doc, "unreadable_note", gf_json_null());
		if (f->broken || f->no_id_why[0])
			gf_json_set(doc, "unreadable_note", gf_json_text(f->broken ? f->bad_why : f->no_id_why));
		else if (f->n_bad)
			gf_json_set(doc, "unreadable_note", gf_json_text(f->bad_why));
		return;
	}
	if (f->broken)
		fprintf(out, "note: the source view raises an error for every booking it is asked for (%s): it cannot say"
		        " which bookings have the number %s; shown is what guestflow recorded\n", gf_log_qt(f->bad_why),
		        vis_qt(booking_no));
	else if (f->n_bad) {
		fprintf(out, "note: the source view cannot give the number of booking id");
		for (size_t i = 0; i < f->n_bad; i++)
			fprintf(out, "%s %lld", i ? "," : "", (long long)f->bad[i]);
		fprintf(out, " (%s), so explain cannot tell whether %s %s; 'guestflow explain --booking-id ID' shows"
		        " what guestflow did with %s\n", gf_log_qt(f->bad_why), f->n_bad == 1 ? "it has" : "they have",
		        vis_qt(booking_no), f->n_bad == 1 ? "it" : "each");
	}
	if (f->no_id_why[0])
		fprintf(out, "note: the rows of the number without a booking_id could not be read: %s\n",
		        gf_log_qt(f->no_id_why));
}

int gf_explain(PGconn *c, const struct gf_job *const *jobs, size_t n_jobs, const char *booking_no,
               const char *booking_id, json_t *doc, FILE *out)
{
	struct found f = { 0 };
	int err = 0;
	if (booking_no) {
		err = list_numbered(c, booking_no, &f);
		if (err == 0)
			err = list_recorded(c, jobs, n_jobs, booking_no, &f);
	} else {
		add_id(&f.ids, &f.n, &f.cap, strtoll(booking_id, NULL, 10));
	}
	found_done(&f);
	/* (one guestflow recorded under the number is shown: not unknown) */
	size_t k = 0;
	for (size_t i = 0; i < f.n_bad; i++)
		if (!f.n || !bsearch(&f.bad[i], f.ids, f.n, sizeof(*f.ids), cmp_id))
			f.bad[k++] = f.bad[i];
	f.n_bad = k;
	json_t *bookings = doc ? gf_json_arr() : NULL;
	if (err == 0 && booking_no && f.n + f.n_no_id > 1 && !doc)
		fprintf(out, "booking number %s: %zu bookings have it (a group booking, or a number the PMS gave"
		        " twice); each is shown\n\n", vis_qt(booking_no), f.n + f.n_no_id);
	if (err == 0 && booking_no)
		unknown_note(&f, booking_no, doc, out);
	else if (doc) {
		gf_json_set(doc, "unreadable_ids", gf_json_arr());
		gf_json_set(doc, "unreadable_note", gf_json_null());
	}
	for (size_t i = 0; i < f.n && err == 0; i++) {
		char id[32];
		snprintf(id, sizeof(id), "%lld", (long long)f.ids[i]);
		if (i > 0 && !doc)
			fputc('\n', out);
		err = explain_booking(c, jobs, n_jobs, booking_no, id, bookings, out);
	}
	for (size_t i = 0; i < f.n_no_id && err == 0; i++) {
		if ((i > 0 || f.n > 0) && !doc)
			fputc('\n', out);
		explain_no_id(booking_no, f.no_id[i], bookings, out);
	}
	bool none = f.n + f.n_no_id == 0;
	found_free(&f);
	if (err == 0 && none)
		err = -ENOENT;
	if (err < 0 || !doc) {
		json_decref(bookings);
		return err;
	}
	/* The document's own keys are its first booking's (a number of one
	 * booking reads as it always did); "bookings" has them all. */
	json_t *first = json_array_get(bookings, 0);
	static const char *const keys[] = { "booking_id", "property", "guest", "note", "jobs", "history",
	                                    "history_note" };
	gf_json_set(doc, "booking_no", booking_no ? gf_json_text(booking_no)
	                                          : json_incref(json_object_get(first, "booking_no")));
	for (size_t i = 0; i < GF_ARRAY_SIZE(keys); i++)
		gf_json_set(doc, keys[i], json_incref(json_object_get(first, keys[i])));
	gf_json_set(doc, "bookings", bookings);
	return 0;
}
