/* guestflow run JOB --dry-run: what a run would send, nothing written or sent. */
#include <stdio.h>
#include <time.h>
#include <string.h>

#include "core/claim.h"
#include "core/output.h"
#include "db/db.h"
#include "core/jsonout.h"
#include "base/log.h"
#include "db/migrate.h"
#include "core/plan.h"
#include "core/purge.h"
#include "core/run.h"
#include "core/source.h"
#include "base/text.h"

/* Per live connection: bookings a run would plan now, and pending ones;
 * over src, the source view as s (without the bookings it cannot give, $5). */
#define COUNTS_SQL(src) \
	"WITH e AS (" \
	"  SELECT c.id AS conn, count(*) AS n FROM " src \
	"    JOIN guestflow.connections c ON c.property_id = s.property_id AND c.partner = $2 AND c.status = 'live'" \
	"   WHERE " GF_SQL_ELIGIBLE_MS("$3", "$4::text[]", "$2") " AND " GF_SQL_NOT_FUTURE \
	"     AND NOT EXISTS (SELECT 1 FROM guestflow.deliveries d WHERE d.job = $1" \
	"                        AND d.connection_id = c.id AND d.booking_id = s.booking_id)" \
	"   GROUP BY c.id" \
	"), p AS (" \
	"  SELECT connection_id AS conn, count(*) AS n FROM guestflow.deliveries" \
	"   WHERE job = $1 AND state IN ('pending', 'sending') GROUP BY 1" \
	") SELECT c.id, c.property_id, c.id_at_partner, coalesce(e.n, 0), coalesce(p.n, 0)" \
	"    FROM guestflow.connections c LEFT JOIN e ON e.conn = c.id LEFT JOIN p ON p.conn = c.id" \
	"   WHERE c.partner = $2 AND c.status = 'live' AND (e.n > 0 OR p.n > 0)" \
	"   ORDER BY c.property_id"

/* The bookings the counts and the first batch read, each evaluated as they
 * read it (the rules, then the values to render), over the ids $5..$6
 * (source.h): how many it read whole. */
static const char PROBE_SQL[] =
	"SELECT count(*) FROM " GF_SQL_SOURCE_RANGE("$5", "$6")
	"  JOIN guestflow.connections c ON c.property_id = s.property_id AND c.partner = $2 AND c.status = 'live'"
	/* (a CASE: the values only of the bookings the rules let through) */
	" WHERE CASE WHEN " GF_SQL_ELIGIBLE_MS("$3", "$4::text[]", "$2") " AND " GF_SQL_NOT_FUTURE
	"             AND NOT EXISTS (SELECT 1 FROM guestflow.deliveries d WHERE d.job = $1"
	"                                AND d.connection_id = c.id AND d.booking_id = s.booking_id)"
	"        THEN ROW(s.booking_no, " GF_SQL_RECORD_VALUES("s.status") ")::text IS NOT NULL ELSE false END";

static int print_counts(PGconn *c, const struct gf_job *job, const char *window, const char *without, json_t *doc,
                        FILE *out, char **first_conn)
{
	_cleanup_free_ char *statuses = gf_plan_statuses(job);
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "dry_counts",
		without ? COUNTS_SQL(GF_SQL_SOURCE_WITHOUT("$5")) : COUNTS_SQL("guestflow.source_bookings s"),
		without ? 5 : 4, (const char *[]){ job->name, job->partner, window, statuses, without });
	if (!r)
		return err;
	int64_t total_new = 0, total_pending = 0;
	if (doc) {
		json_t *a = gf_json_arr();
		for (int i = 0; i < PQntuples(r); i++) {
			json_t *o = gf_json_obj();
			gf_json_set(o, "property", gf_json_col_text(r, i, 1));
			gf_json_set(o, "id_at_partner", gf_json_col_text(r, i, 2));
			gf_json_set(o, "new", gf_json_col_num(r, i, 3));
			gf_json_set(o, "pending", gf_json_col_num(r, i, 4));
			gf_json_add(a, o);
			total_new += gf_db_get_int(r, i, 3);
			total_pending += gf_db_get_int(r, i, 4);
			if (!*first_conn && gf_db_get_int(r, i, 3) > 0)
				*first_conn = gf_xstrdup(PQgetvalue(r, i, 0));
		}
		gf_json_set(doc, "connections", a);
		gf_json_set(doc, "total_new", gf_json_int(total_new));
		gf_json_set(doc, "total_pending", gf_json_int(total_pending));
		return 0;
	}
	char idh[32];
	fprintf(out, "%-16s %-20s %10s %10s\n", "PROPERTY", gf_output_id_heading(job->output, idh, sizeof(idh)), "NEW",
	        "PENDING");
	for (int i = 0; i < PQntuples(r); i++) {
		/* database text escaped as explain and status show it (log.h) */
		fprintf(out, "%-16s %-20s %10s %10s\n", gf_log_qt(PQgetvalue(r, i, 1)), gf_log_qt(PQgetvalue(r, i, 2)),
		        PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
		total_new += gf_db_get_int(r, i, 3);
		total_pending += gf_db_get_int(r, i, 4);
		if (!*first_conn && gf_db_get_int(r, i, 3) > 0)
			*first_conn = gf_xstrdup(PQgetvalue(r, i, 0));
	}
	fprintf(out, "%-16s %-20s %10lld %10lld\n", "total", "", (long long)total_new, (long long)total_pending);
	return 0;
}

/* The first batch a run would form from new bookings of one connection. */
/* The first batch for --json: to which connection, each record's fields
 * as they would be sent (or why it would be rejected), and the body. */
static json_t *batch_json(const struct gf_output *o, PGresult *r, const struct gf_record *recs, char **reasons,
                          size_t n, size_t rendered, const struct gf_buf *body)
{
	json_t *b = gf_json_obj();
	gf_json_set(b, "property", gf_json_col_text(r, 0, GF_REC_FIELDS + 1));
	gf_json_set(b, "id_at_partner", gf_json_col_text(r, 0, GF_REC_FIELDS));
	gf_json_set(b, "would_send", gf_json_int((int64_t)rendered));
	gf_json_set(b, "would_reject", gf_json_int((int64_t)(n - rendered)));
	json_t *a = gf_json_arr();
	for (size_t i = 0; i < n; i++) {
		const struct gf_record *k = &recs[i];
		json_t *e = gf_json_obj();
		gf_json_set(e, "booking_no", gf_json_text(k->booking_no));
		gf_json_set(e, "reject_reason", gf_json_text(reasons[i]));
		gf_json_set(e, "first_name", gf_json_text(k->first_name));
		gf_json_set(e, "last_name", gf_json_text(k->last_name));
		gf_json_set(e, "email", gf_json_text(k->email));
		gf_json_set(e, "gender", gf_json_text(k->gender));
		gf_json_set(e, "language", gf_json_text(k->language));
		gf_json_set(e, "status", gf_json_text(k->status));
		gf_json_set(e, "arrival", gf_json_text(k->arrival));
		gf_json_set(e, "departure", gf_json_text(k->departure));
		gf_json_add(a, e);
	}
	gf_json_set(b, "records", a);
	gf_json_set(b, "content_type", gf_json_text(o->content_type));
	_cleanup_free_ char *text = gf_xstrndup(body->data ? body->data : "", body->len);
	gf_json_set(b, "payload", gf_json_text(text));
	return b;
}

/* The first batch of connection $4, over src (without the bookings the view
 * cannot give, $7). */
#define BATCH_SQL(src) \
	"SELECT s.booking_no, " GF_SQL_RECORD_VALUES("coalesce(m.partner_status, s.status)") ", c.id_at_partner," \
	"       c.property_id" \
	"  FROM " src \
	"  JOIN guestflow.connections c ON c.property_id = s.property_id AND c.id = $4::bigint" \
	"  LEFT JOIN guestflow.status_map m ON m.partner = $2 AND m.source_status = s.status" \
	" WHERE " GF_SQL_ELIGIBLE_MS("$3", "$6::text[]", "$2") " AND " GF_SQL_NOT_FUTURE \
	"   AND NOT EXISTS (SELECT 1 FROM guestflow.deliveries d WHERE d.job = $1" \
	"                      AND d.connection_id = c.id AND d.booking_id = s.booking_id)" \
	" ORDER BY s.booking_id LIMIT $5::bigint"

static int print_first_batch(PGconn *c, const struct gf_job *job, const char *window, const char *without,
                             const char *conn, int64_t limit, json_t *doc, FILE *out)
{
	char max[32];
	snprintf(max, sizeof(max), "%lld", (long long)(limit > 0 && limit < job->max_records ? limit : job->max_records));
	_cleanup_free_ char *statuses = gf_plan_statuses(job);
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "dry_batch",
		without ? BATCH_SQL(GF_SQL_SOURCE_WITHOUT("$7")) : BATCH_SQL("guestflow.source_bookings s"), without ? 7 : 6,
		(const char *[]){ job->name, job->partner, window, conn, max, statuses, without });
	if (!r)
		return err;
	size_t n = (size_t)PQntuples(r);
	if (n == 0)
		return 0;
	struct gf_record *recs = gf_xcalloc(n, sizeof(*recs));
	char **reasons = gf_xcalloc(n, sizeof(*reasons));
	for (size_t i = 0; i < n; i++) {
		int row = (int)i;
		const char *v[GF_REC_FIELDS];
		for (int f = 0; f < GF_REC_FIELDS; f++)
			v[f] = gf_db_get(r, row, f);
		recs[i] = gf_record_of(0, v);
	}
	struct gf_buf body = GF_BUF_INIT((size_t)512 << 20);
	size_t rendered = 0;
	const struct gf_output *o = job->output;
	char day[16];
	time_t now = time(NULL);
	struct tm tm;
	strftime(day, sizeof(day), "%Y%m%d", gmtime_r(&now, &tm));
	const struct gf_output_target t = { .partner_id = PQgetvalue(r, 0, GF_REC_FIELDS), .batch_key = "dry-run",
		                            .batch_day = day };
	int rc = o->render(&t, recs, n, job->default_language, job->omit, 0, &body, reasons, &rendered);
	if (rc == 0 && doc) {
		gf_json_set(doc, "first_batch", batch_json(o, r, recs, reasons, n, rendered, &body));
	} else if (rc == 0) {
		fprintf(out, "\nfirst batch (%zu records for %s %s, %zu would be rejected):\n", n, o->id_label,
		        gf_log_qt(PQgetvalue(r, 0, GF_REC_FIELDS)), n - rendered);
		for (size_t i = 0; i < n; i++)
			if (reasons[i])
				fprintf(out, "  would reject %s: %s\n", gf_log_q(recs[i].booking_no), gf_log_qt(reasons[i]));
		o->show(body.data ? body.data : "", body.len, out);
		fputc('\n', out);
	}
	for (size_t i = 0; i < n; i++)
		free(reasons[i]);
	free(reasons);
	free(recs);
	gf_buf_free(&body);
	return rc;
}

/* The bookings the view cannot give: not counted, not in the first batch;
 * named with the database's message. */
static void print_faults(const struct gf_source_faults *f, json_t *doc, FILE *out)
{
	if (doc) {
		json_t *a = gf_json_arr();
		for (size_t i = 0; i < f->n; i++) {
			json_t *o = gf_json_obj();
			gf_json_set(o, "booking_id", gf_json_int(f->v[i].booking_id));
			gf_json_set(o, "booking_no", gf_json_text(f->v[i].booking_no));
			gf_json_set(o, "reason", gf_json_text(f->v[i].reason));
			gf_json_add(a, o);
		}
		gf_json_set(doc, "unreadable", a);
		return;
	}
	if (f->n == 0)
		return;
	fprintf(out, "\nthe source view cannot give %zu booking%s (not counted above; a run rejects %s, unless"
	        " already planned):\n", f->n, f->n == 1 ? "" : "s", f->n == 1 ? "it" : "them");
	for (size_t i = 0; i < f->n; i++)
		fprintf(out, "  would reject %s (booking_id %lld): %s\n",
		        f->v[i].booking_no ? gf_log_q(f->v[i].booking_no) : "?", (long long)f->v[i].booking_id,
		        gf_log_qt(f->v[i].reason));
}

int gf_run_dry(const struct gf_config *cfg, const struct gf_job *job, int64_t limit, json_t *doc, FILE *out)
{
	_cleanup_pgconn_ PGconn *db = NULL;
	if (gf_db_connect(cfg->conninfo, &db) < 0)
		return GF_EXIT_TEMPFAIL;
	int r = gf_schema_check(db);
	if (r < 0)
		return r == -GF_E_SCHEMA ? GF_EXIT_CONFIG : GF_EXIT_TEMPFAIL;
	/* Read only: PostgreSQL itself refuses any write from here on. */
	r = gf_db_exec(db, "dry_begin", "BEGIN TRANSACTION READ ONLY", 0, NULL);
	if (r < 0)
		return GF_EXIT_TEMPFAIL;
	/* The window as the plan reaches it: not back before a purge. */
	int64_t window_ms = 0;
	r = gf_purge_window(db, job, &window_ms, NULL, 0);
	if (r < 0) {
		gf_db_rollback(db);
		return r == -GF_E_DB_LOST ? GF_EXIT_TEMPFAIL : GF_EXIT_SOFTWARE;
	}
	char window[32];
	snprintf(window, sizeof(window), "%lld", (long long)window_ms);
	if (doc) {
		gf_json_set(doc, "job", gf_json_text(job->name));
		gf_json_set(doc, "partner", gf_json_text(job->partner));
		gf_json_set(doc, "format", gf_json_text(job->output->name));
		gf_json_set(doc, "endpoint", gf_json_text(job->endpoint));
		gf_json_set(doc, "enabled", gf_json_bool(job->enabled));
		gf_json_set(doc, "limit", limit > 0 ? gf_json_int(limit) : gf_json_null());
		gf_json_set(doc, "first_batch", gf_json_null());
	} else {
		fprintf(out, "dry run of %s (%s): nothing is written, nothing sent%s\n", job->name, job->endpoint,
		        job->enabled ? "" : "; the job is disabled (enabled: false), a real run does nothing");
	}
	/* One booking the view cannot give is one booking's: the others are
	 * shown as a run would plan them, and it is named (source.h). */
	_cleanup_free_ char *statuses = gf_plan_statuses(job);
	struct gf_source_faults faults = { 0 };
	r = gf_source_faults_find(db, PROBE_SQL, 4, (const char *[]){ job->name, job->partner, window, statuses },
	                          &faults);
	_cleanup_free_ char *without = r == 0 && faults.n ? gf_source_faults_ids(&faults) : NULL;
	_cleanup_free_ char *conn = NULL;
	if (r == 0)
		r = print_counts(db, job, window, without, doc, out, &conn);
	if (r == 0 && conn)
		r = print_first_batch(db, job, window, without, conn, limit, doc, out);
	if (r == 0)
		print_faults(&faults, doc, out);
	gf_source_faults_free(&faults);
	gf_db_rollback(db);
	return r < 0 ? (r == -GF_E_DB_LOST ? GF_EXIT_TEMPFAIL : GF_EXIT_SOFTWARE) : GF_EXIT_OK;
}
