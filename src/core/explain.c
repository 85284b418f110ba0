/* "Why was this guest (not) sent?" for one booking and each job. */
#include "core/explain.h"

#include <string.h>

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

/* The deliveries of explain_delivery's rows d, into the job's entry j:
 * "deliveries", and "delivery_note" when there are none. */
static int delivery_json(const struct gf_job *job, PGresult *d, bool before_horizon, json_t *j)
{
	json_t *a = gf_json_arr();
	gf_json_set(j, "deliveries", a);
	gf_json_set(j, "delivery_note", PQntuples(d) ? gf_json_null() : gf_json_text(before_horizon ?
		"none: purged (retention.deliveries), or the booking was never eligible when this job ran" :
		"none: the booking has never been eligible when this job ran"));
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
	return 0;
}

/* updated_at: the booking's, as the source view gives it (NULL: unknown). */
static int explain_delivery(PGconn *c, const struct gf_job *job, const char *booking_id, const char *property_id,
                            const char *updated_at, bool before_horizon, json_t *jdoc, FILE *out)
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
	if (jdoc)
		return delivery_json(job, d, before_horizon, jdoc);
	if (PQntuples(d) == 0) {
		fprintf(out, before_horizon ? "  delivery: none — purged (retention.deliveries), or the booking was never"
		                              " eligible when this job ran\n"
		                            : "  delivery: none — the booking has never been eligible when this job ran\n");
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
 * guestflow.read_history(bigint) (schemas/sql/reference/adapters.sql). */
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
	_cleanup_pgresult_ PGresult *h = gf_db_query(c, &err, "explain_history",
		"SELECT to_char(h.created_at, 'YYYY-MM-DD HH24:MI:SS TZ'), h.kind, h.message,"
		"       to_char(h.created_at, " GF_JSON_TS_FMT ")"
		"  FROM guestflow.read_history($1::bigint) h", 1, (const char *[]){ booking_id });
	if (!h)
		return err;
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

static int explain_unreadable(PGconn *c, const struct gf_job *job, const char *booking_no, const char *sqlstate,
                              json_t *j, FILE *out)
{
	if (j) {
		gf_json_set(j, "verdict", gf_json_text("unreadable"));
		gf_json_set(j, "sqlstate", gf_json_text(sqlstate));
	} else {
		fprintf(out, "booking %s\n\njob %s (partner %s, %s): the source view raises an error for this booking"
		        " (SQLSTATE %s, logged above), so its rules cannot be shown\n", gf_log_q(booking_no), job->name,
		        job->partner, job->path, sqlstate);
	}
	int err;
	_cleanup_pgresult_ PGresult *d = gf_db_query(c, &err, "explain_by_number",
		"SELECT booking_id::text, property_id FROM guestflow.deliveries WHERE job = $1 AND booking_no = $2"
		" ORDER BY created_at LIMIT 1", 2, (const char *[]){ job->name, booking_no });
	if (!d)
		return err;
	if (PQntuples(d) == 0 && j) {
		gf_json_set(j, "deliveries", gf_json_arr());
		gf_json_set(j, "delivery_note", gf_json_text("none"));
		return 0;
	}
	if (PQntuples(d) == 0) {
		fprintf(out, "  delivery: none\n");
		return 0;
	}
	return explain_delivery(c, job, PQgetvalue(d, 0, 0), PQgetvalue(d, 0, 1), NULL, false, j, out);
}

/* The two status rules (issue 17 item 8): the job sends the status
 * (selection.statuses), and the partner knows it (a reference status, or
 * one its status map maps). r: the explain_rules row. */
static void explain_status(struct sink *k, const struct gf_job *job, PGresult *r)
{
	const char *status = gf_db_get(r, 0, 2);
	_cleanup_buf_ struct gf_buf b = GF_BUF_INIT(SIZE_MAX);
	gf_buf_printf(&b, "status = %s (selection.statuses:", status ? gf_log_qt(status) : "(none)");
	for (size_t i = 0; i < job->statuses.n; i++)
		gf_buf_printf(&b, "%s %s", i ? "," : "", gf_log_qt(job->statuses.v[i]));
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
		              " PARTNER_STATUS", gf_log_qt(job->partner), gf_log_qt(job->partner), gf_log_qt(status));
	rule_to(k, "status_known", PQgetvalue(r, 0, 21)[0] == 't', "status known to the partner", "", gf_buf_str(&b),
	        status);
}

int gf_explain(PGconn *c, const struct gf_job *const *jobs, size_t n_jobs, const char *booking_no,
               json_t *doc, FILE *out)
{
	_cleanup_free_ char *booking_id = NULL;
	json_t *jobs_json = NULL;
	if (doc) {
		gf_json_set(doc, "booking_no", gf_json_text(booking_no));
		gf_json_set(doc, "booking_id", gf_json_null());
		gf_json_set(doc, "property", gf_json_null());
		gf_json_set(doc, "guest", gf_json_null());
		gf_json_set(doc, "note", gf_json_null());
		jobs_json = gf_json_arr();
		gf_json_set(doc, "jobs", jobs_json);
		gf_json_set(doc, "history", gf_json_null());
		gf_json_set(doc, "history_note", gf_json_null());
	}
	for (size_t j = 0; j < n_jobs; j++) {
		const struct gf_job *job = jobs[j];
		struct sink k = { .out = out };
		if (doc) {
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
		char window[32];
		snprintf(window, sizeof(window), "%lld", (long long)window_ms);
		_cleanup_free_ char *statuses = gf_plan_statuses(job);
		_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "explain_rules",
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
			" WHERE s.booking_no = $1", 4, (const char *[]){ booking_no, job->partner, window, statuses });
		if (!r && PQstatus(c) == CONNECTION_OK && gf_db_sqlstate_may_be_row(gf_db_sqlstate(c))) {
			/* The view raises an error for this booking (an operator's
			 * expression that fails for its values): what guestflow did
			 * with it is in its delivery, found by its number. */
			int e = explain_unreadable(c, job, booking_no, gf_db_sqlstate(c), k.job, out);
			if (e < 0)
				return e;
			continue;
		}
		if (!r)
			return err;
		if (PQntuples(r) == 0)
			return -ENOENT;
		if (PQgetisnull(r, 0, 0) && doc) {
			/* (no job can send it: the document says why, with no job) */
			json_array_clear(jobs_json);
			gf_json_set(doc, "property", gf_json_col_text(r, 0, 1));
			gf_json_set(doc, "note", gf_json_text("the source view gives it no booking_id, so guestflow cannot"
			                                      " track it and does not send it; fix"
			                                      " guestflow.source_bookings or the PMS"));
			gf_json_set(doc, "history_note", gf_json_text("not shown: the source view gives no booking id for"
			                                              " it"));
			return 0;
		}
		if (PQgetisnull(r, 0, 0)) {
			fprintf(out, "booking %s (property %s): the source view gives it no booking_id, so guestflow cannot"
			        " track it and does not send it; fix guestflow.source_bookings or the PMS\n",
			        gf_log_q(booking_no), gf_log_q(or_none(gf_db_get(r, 0, 1))));
			return 0;
		}
		if (!booking_id) {
			booking_id = gf_xstrdup(PQgetvalue(r, 0, 0));
			if (doc) {
				gf_json_set(doc, "booking_id", gf_json_col_num(r, 0, 0));
				gf_json_set(doc, "property", gf_json_col_text(r, 0, 1));
				json_t *g = gf_json_obj();
				gf_json_set(g, "first_name", gf_json_col_text(r, 0, 15));
				gf_json_set(g, "last_name", gf_json_col_text(r, 0, 6));
				gf_json_set(doc, "guest", g);
			}
			/* Values are quoted and escaped as in the log: PMS data may hold
			 * control characters that must not reach the terminal raw. */
			else
				fprintf(out, "booking %s (booking id %s, property %s, guest %s %s)\n", gf_log_qt(booking_no),
			        booking_id, gf_log_qt(PQgetvalue(r, 0, 1)), gf_log_q(or_none(gf_db_get(r, 0, 15))),
			        gf_log_q(or_none(gf_db_get(r, 0, 6))));
		}
		bool all = job->enabled;
		for (int col = 3; col <= 13; col += 2)
			all = all && PQgetvalue(r, 0, col)[0] == 't';
		all = all && PQgetvalue(r, 0, 17)[0] == 't' && PQgetvalue(r, 0, 19)[0] == 't' &&
		      PQgetvalue(r, 0, 21)[0] == 't';
		if (doc)
			gf_json_set(k.job, "verdict", gf_json_text(all ? "eligible" : "not_eligible"));
		else
			fprintf(out, "\njob %s (partner %s, %s): %s\n", gf_log_qt(job->name), gf_log_qt(job->partner),
			        gf_log_qt(job->path), all ? "eligible" : "NOT eligible");
		rule_to(&k, "job_enabled", job->enabled, "job enabled", "",
		        job->enabled ? "enabled: true" : "enabled: false in the job file", job->enabled ? "true" : "false");
		explain_status(&k, job, r);
		rule_to(&k, "email", PQgetvalue(r, 0, 5)[0] == 't', "e-mail present and plausible", "email = ",
		        gf_db_get(r, 0, 4) ? gf_log_q(PQgetvalue(r, 0, 4)) : "(none)", gf_db_get(r, 0, 4));
		rule_to(&k, "last_name", PQgetvalue(r, 0, 7)[0] == 't', "last name present", "last_name = ",
		        gf_db_get(r, 0, 6) ? gf_log_q(PQgetvalue(r, 0, 6)) : "(none)", gf_db_get(r, 0, 6));
		rule_to(&k, "notify", PQgetvalue(r, 0, 9)[0] == 't', "notify flag on", "notify = ",
		        or_none(gf_db_get(r, 0, 8)), gf_db_get(r, 0, 8));
		_cleanup_free_ char *sup = gf_db_get(r, 0, 18) ?
			gf_xasprintf("the address is on the suppression list: %s; no job sends it to any partner"
			             " ('guestflow suppression remove' lifts it)",
			             gf_log_q(PQgetvalue(r, 0, 18))) : gf_xstrdup("not on the suppression list");
		rule_to(&k, "not_suppressed", PQgetvalue(r, 0, 17)[0] == 't', "not unsubscribed or bounced", "", sup,
		        gf_db_get(r, 0, 4));
		rule_to(&k, "property_allowed", PQgetvalue(r, 0, 19)[0] == 't', "property allows export", "",
		     gf_db_get(r, 0, 20) ? (PQgetvalue(r, 0, 19)[0] == 't' ? "export_allowed = true in guestflow.source_properties"
		                                                          : "export_allowed is not true in"
		                                                            " guestflow.source_properties")
		                         : "the PMS does not list the property (guestflow.source_properties)",
		        gf_db_get(r, 0, 20));
		char win[400];
		if (PQgetvalue(r, 0, 24)[0] == 't')
			snprintf(win, sizeof(win), "checked_out_at = %s: in the future (the PMS's clock or time zone?); planned"
			         " once that time has come", or_none(gf_db_get(r, 0, 10)));
		else if (*horizon)
			snprintf(win, sizeof(win), "checked_out_at = %s (window %lld days, but not before %s: bookings checked"
			         " out before it may have had their deliveries purged, and are not planned again)",
			         or_none(gf_db_get(r, 0, 10)), (long long)(job->window_ms / 86400000), horizon);
		else
			snprintf(win, sizeof(win), "checked_out_at = %s (window %lld days)", or_none(gf_db_get(r, 0, 10)),
			         (long long)(job->window_ms / 86400000));
		rule_to(&k, "window", PQgetvalue(r, 0, 11)[0] == 't', "checked out within the window", "", win,
		        gf_db_get(r, 0, 23));
		_cleanup_free_ char *conn = gf_db_get(r, 0, 12) ?
			gf_xasprintf("connection %s (hotel id %s)", gf_log_qt(PQgetvalue(r, 0, 12)),
			             gf_log_qt(PQgetvalue(r, 0, 14))) :
			gf_xasprintf("no connection to %s", gf_log_qt(job->partner));
		rule_to(&k, "connection_live", PQgetvalue(r, 0, 13)[0] == 't', "property connected and live", "", conn,
		        gf_db_get(r, 0, 12));
		int e = explain_delivery(c, job, booking_id, PQgetvalue(r, 0, 1), gf_db_get(r, 0, 16),
		                         *horizon && PQgetvalue(r, 0, 11)[0] != 't', k.job, out);
		if (e < 0)
			return e;
	}
	if (booking_id) {
		if (!doc)
			fputc('\n', out);
		return explain_history(c, booking_id, doc, out);
	}
	if (doc)
		gf_json_set(doc, "history_note", gf_json_text("not shown: the source view gives no booking id for it"));
	return 0;
}
