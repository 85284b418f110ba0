/* guestflow status: per job and connection, the last run and the queue. */
#include "core/status.h"
#include "core/jsonout.h"
#include "core/output.h"

#include <string.h>

#include "base/buf.h"
#include "base/proc.h"
#include "db/db.h"
#include "base/log.h"

static const char *const run_cols[] = { "run_id", "started_at", "finished_at", "trigger", "exit_code",
	"eligible", "delivered", "rejected", "dead", "duration_s", "message", "lost_at" };
/* (the connection's id at the partner: a hotel or property id, as the job's format names it) */
static const char *const conn_cols[] = { "property", "id_at_partner", "connection_status", "pending", "retrying",
	"sending", "dead", "delivered", "rejected", "oldest_pending_s", "next_attempt_at",
	"consent_terms_version", "consent_accepted_by", "consent_accepted_at", "last_test_at", "last_test_verdict",
	"last_delivered_at", "last_event_type", "last_event_at", "events_pulled_at", "pull_failures" };
/* Columns holding timestamps, and text (the others are numbers). */
static bool run_col_is_ts(int i) { return i == 1 || i == 2 || i == 11; }
static bool run_col_is_str(int i) { return i == 3 || i == 10; }
static bool conn_col_is_ts(int i) { return i == 10 || i == 13 || i == 14 || i == 16 || i == 18 || i == 19; }
static bool conn_col_is_str(int i) { return i <= 2 || (i >= 10 && i <= 19); }

/* One job's entry of the document. */
static json_t *job_json(const struct gf_job *job, PGresult *run, PGresult *q)
{
	json_t *o = gf_json_obj();
	gf_json_set(o, "job", gf_json_text(job->name));
	gf_json_set(o, "enabled", gf_json_bool(job->enabled));
	gf_json_set(o, "partner", gf_json_text(job->partner));
	gf_json_set(o, "format", gf_json_text(job->output->name));
	json_t *last = gf_json_null();
	if (PQntuples(run) > 0) {
		last = gf_json_obj();
		for (int i = 0; i < (int)GF_ARRAY_SIZE(run_cols); i++)
			gf_json_set(last, run_cols[i], run_col_is_ts(i) ? gf_json_col_ts(run, 0, i)
			                               : run_col_is_str(i) ? gf_json_col_text(run, 0, i)
			                                                   : gf_json_col_num(run, 0, i));
	}
	gf_json_set(o, "last_run", last);
	json_t *conns = gf_json_arr();
	for (int r = 0; r < PQntuples(q); r++) {
		json_t *c = gf_json_obj();
		for (int i = 0; i < (int)GF_ARRAY_SIZE(conn_cols); i++)
			gf_json_set(c, conn_cols[i], conn_col_is_ts(i) ? gf_json_col_ts(q, r, i)
			                             : conn_col_is_str(i) ? gf_json_col_text(q, r, i)
			                                                  : gf_json_col_num(q, r, i));
		gf_json_add(conns, c);
	}
	gf_json_set(o, "connections", conns);
	return o;
}

/* A run that has not recorded its end (row 0 of run): what this host can
 * tell of its process (the job's next run here marks a dead one lost). */
static const char *unended(PGresult *run)
{
	switch (gf_proc_state(PQgetvalue(run, 0, 12), (long)gf_db_get_int(run, 0, 13), gf_db_get(run, 0, 14))) {
	case GF_PROC_ALIVE:
		return "- (running: its process is alive on this host)";
	case GF_PROC_DEAD:
		return "- (killed: its process is gone from this host; the job's next run records it as lost)";
	default:
		return "- (running, or killed and not yet found so: it ran on another host)";
	}
}

/* The connection's lifecycle beyond its queue, on one line under the table. */
static void conn_details(FILE *out, PGresult *q, int r)
{
	fprintf(out, "    %s: consent ", gf_log_qt(PQgetvalue(q, r, 0)));
	if (PQgetisnull(q, r, 11))
		fputs("none", out);
	else
		fprintf(out, "terms %s by %s", gf_log_qt(PQgetvalue(q, r, 11)), gf_log_qt(PQgetvalue(q, r, 12)));
	if (!PQgetisnull(q, r, 11))
		fprintf(out, " (%s)", PQgetvalue(q, r, 13));
	fputs("; last test ", out);
	if (PQgetisnull(q, r, 14))
		fputs("never", out);
	else
		fprintf(out, "%s (%s)", PQgetvalue(q, r, 15), PQgetvalue(q, r, 14));
	fprintf(out, "; last delivery %s; last event ", PQgetisnull(q, r, 16) ? "never" : PQgetvalue(q, r, 16));
	if (PQgetisnull(q, r, 17))
		fputs("none", out);
	else
		fprintf(out, "%s (%s)", PQgetvalue(q, r, 17), PQgetvalue(q, r, 18));
	if (!PQgetisnull(q, r, 19))
		fprintf(out, ", pulled %s", PQgetvalue(q, r, 19));
	if (gf_db_get_int(q, r, 20) > 0 && strcmp(PQgetvalue(q, r, 2), "live") == 0)
		fprintf(out, "; its last %s pull%s failed (alerting.failed_pulls)", PQgetvalue(q, r, 20),
		        strcmp(PQgetvalue(q, r, 20), "1") ? "s" : "");
	fputc('\n', out);
}

int gf_status(PGconn *c, const struct gf_job *const *jobs, size_t n_jobs, json_t *doc, FILE *out)
{
	json_t *all = NULL;
	if (doc) {
		all = gf_json_arr();
		gf_json_set(doc, "jobs", all);
	}
	for (size_t j = 0; j < n_jobs; j++) {
		const struct gf_job *job = jobs[j];
		int err;
		_cleanup_pgresult_ PGresult *run = gf_db_query(c, &err, "status_run",
			"SELECT id, to_char(started_at, 'YYYY-MM-DD\"T\"HH24:MI:SSOF'),"
			"       to_char(finished_at, 'YYYY-MM-DD\"T\"HH24:MI:SSOF'), trigger, exit_code, eligible, delivered,"
			"       rejected, dead, round(extract(epoch FROM finished_at - started_at)::numeric, 2), message,"
			"       to_char(lost_at, 'YYYY-MM-DD\"T\"HH24:MI:SSOF'), coalesce(host, ''), coalesce(pid, 0), process"
			"  FROM guestflow.runs WHERE job = $1 ORDER BY id DESC LIMIT 1", 1, (const char *[]){ job->name });
		if (!run)
			return err;
		/* Every connection of the job's partner (and any other its
		 * deliveries went to): its lifecycle state, consent, last test,
		 * queue, last delivery and last event pulled (issue 17 item 10). */
		_cleanup_pgresult_ PGresult *q = gf_db_query(c, &err, "status_queue",
			"WITH q AS ("
			"  SELECT d.connection_id,"
			"         count(*) FILTER (WHERE d.state = 'pending' AND coalesce(b.attempts, 0) = 0) AS pending,"
			"         count(*) FILTER (WHERE d.state = 'pending' AND b.attempts > 0) AS retrying,"
			"         count(*) FILTER (WHERE d.state = 'sending') AS sending,"
			"         count(*) FILTER (WHERE d.state = 'dead') AS dead,"
			"         count(*) FILTER (WHERE d.state = 'delivered') AS delivered,"
			"         count(*) FILTER (WHERE d.state = 'rejected') AS rejected,"
			/* waiting since it was queued: its batch was formed, or (in no
			 * batch yet) it was put back (a rerun keeps the row and its
			 * created_at) */
			"         extract(epoch FROM now() - min(coalesce(b.created_at, d.updated_at))"
			"                                    FILTER (WHERE d.state IN ('pending', 'sending')))::bigint AS oldest,"
			"         min(b.next_attempt_at) FILTER (WHERE b.state = 'open' AND d.state = 'pending') AS next_at,"
			"         max(d.finished_at) FILTER (WHERE d.state = 'delivered') AS last_delivered"
			"    FROM guestflow.deliveries d LEFT JOIN guestflow.batches b ON b.id = d.batch_id"
			"   WHERE d.job = $1 GROUP BY d.connection_id"
			") SELECT c.property_id, c.id_at_partner, c.status, coalesce(q.pending, 0), coalesce(q.retrying, 0),"
			"         coalesce(q.sending, 0), coalesce(q.dead, 0), coalesce(q.delivered, 0), coalesce(q.rejected, 0),"
			"         q.oldest, to_char(q.next_at, 'YYYY-MM-DD\"T\"HH24:MI:SSOF'),"
			"         cs.terms_version, cs.accepted_by, to_char(cs.accepted_at, 'YYYY-MM-DD\"T\"HH24:MI:SSOF'),"
			"         to_char(c.last_test_at, 'YYYY-MM-DD\"T\"HH24:MI:SSOF'), c.last_test_verdict,"
			"         to_char(q.last_delivered, 'YYYY-MM-DD\"T\"HH24:MI:SSOF'),"
			"         ev.type, to_char(ev.at, 'YYYY-MM-DD\"T\"HH24:MI:SSOF'), to_char(c.events_pulled_at, 'YYYY-MM-DD\"T\"HH24:MI:SSOF'),"
			"         c.pull_failures"
			"    FROM guestflow.connections c LEFT JOIN q ON q.connection_id = c.id"
			"    LEFT JOIN guestflow.consents cs ON cs.connection_id = c.id AND cs.ended_at IS NULL"
			"    LEFT JOIN LATERAL (SELECT e.type, coalesce(e.at, e.pulled_at) AS at FROM guestflow.partner_events e"
			"                        WHERE e.connection_id = c.id ORDER BY e.id DESC LIMIT 1) ev ON true"
			"   WHERE c.partner = $2 OR q.connection_id IS NOT NULL ORDER BY 1, c.partner",
			2, (const char *[]){ job->name, job->partner });
		if (!q)
			return err;
		if (doc) {
			gf_json_add(all, job_json(job, run, q));
			continue;
		}
		/* Names, ids and the trigger come from configuration, the
		 * environment and the database: shown through gf_log_qt(), so that
		 * nothing in them can drive the terminal. */
		fprintf(out, "%sjob %s (%s, partner %s)\n", j ? "\n" : "", gf_log_qt(job->name),
		        job->enabled ? "enabled" : "disabled", gf_log_qt(job->partner));
		if (PQntuples(run) == 0)
			fprintf(out, "  last run: never\n");
		else
			fprintf(out, "  last run: %s (%s), %s, exit %s: eligible %s, delivered %s, rejected %s, dead %s, %ss\n",
			        PQgetvalue(run, 0, 0), gf_log_qt(PQgetvalue(run, 0, 3)), PQgetvalue(run, 0, 1),
			        !PQgetisnull(run, 0, 4) ? PQgetvalue(run, 0, 4)
			        : !PQgetisnull(run, 0, 11) ? "- (lost: ended without recording its end)"
			                                   : unended(run),
			        PQgetvalue(run, 0, 5), PQgetvalue(run, 0, 6), PQgetvalue(run, 0, 7), PQgetvalue(run, 0, 8),
			        PQgetisnull(run, 0, 9) ? "-" : PQgetvalue(run, 0, 9));
		if (PQntuples(run) > 0 && !PQgetisnull(run, 0, 10))
			fprintf(out, "    %s\n", gf_log_qt(PQgetvalue(run, 0, 10)));
		if (PQntuples(q) == 0) {
			fprintf(out, "  no connections to %s\n", gf_log_qt(job->partner));
			continue;
		}
		char idh[32];
		fprintf(out, "  %-12s %-12s %-8s %8s %8s %8s %6s %10s %9s %12s  %s\n", "PROPERTY",
		        gf_output_id_heading(job->output, idh, sizeof(idh)), "STATUS",
		        "PENDING", "RETRYING", "SENDING", "DEAD", "DELIVERED", "REJECTED", "OLDEST (s)", "NEXT ATTEMPT");
		for (int r = 0; r < PQntuples(q); r++)
			fprintf(out, "  %-12s %-12s %-8s %8s %8s %8s %6s %10s %9s %12s  %s\n", gf_log_qt(PQgetvalue(q, r, 0)),
			        gf_log_qt(PQgetvalue(q, r, 1)), gf_log_qt(PQgetvalue(q, r, 2)), PQgetvalue(q, r, 3), PQgetvalue(q, r, 4),
			        PQgetvalue(q, r, 5), PQgetvalue(q, r, 6), PQgetvalue(q, r, 7), PQgetvalue(q, r, 8),
			        PQgetisnull(q, r, 9) ? "-" : PQgetvalue(q, r, 9),
			        PQgetisnull(q, r, 10) ? "-" : PQgetvalue(q, r, 10));
		for (int r = 0; r < PQntuples(q); r++)
			conn_details(out, q, r);
	}
	return 0;
}
