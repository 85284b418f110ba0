/* guestflow run JOB --dry-run: what a run would send, nothing written or sent. */
#include <stdio.h>
#include <time.h>
#include <string.h>

#include "core/claim.h"
#include "core/output.h"
#include "db/db.h"
#include "base/log.h"
#include "db/migrate.h"
#include "core/plan.h"
#include "core/purge.h"
#include "core/run.h"
#include "base/text.h"

/* Per live connection: bookings a run would plan now, and pending ones. */
static int print_counts(PGconn *c, const struct gf_job *job, const char *window, FILE *out, char **first_conn)
{
	_cleanup_free_ char *statuses = gf_plan_statuses(job);
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "dry_counts",
		"WITH e AS ("
		"  SELECT c.id AS conn, count(*) AS n FROM guestflow.source_bookings s"
		"    JOIN guestflow.connections c ON c.property_id = s.property_id AND c.partner = $2 AND c.status = 'live'"
		"   WHERE " GF_SQL_ELIGIBLE_MS("$3", "$4::text[]", "$2")
		"     AND NOT EXISTS (SELECT 1 FROM guestflow.deliveries d WHERE d.job = $1"
		"                        AND d.connection_id = c.id AND d.booking_id = s.booking_id)"
		"   GROUP BY c.id"
		"), p AS ("
		"  SELECT connection_id AS conn, count(*) AS n FROM guestflow.deliveries"
		"   WHERE job = $1 AND state IN ('pending', 'sending') GROUP BY 1"
		") SELECT c.id, c.property_id, c.id_at_partner, coalesce(e.n, 0), coalesce(p.n, 0)"
		"    FROM guestflow.connections c LEFT JOIN e ON e.conn = c.id LEFT JOIN p ON p.conn = c.id"
		"   WHERE c.partner = $2 AND c.status = 'live' AND (e.n > 0 OR p.n > 0)"
		"   ORDER BY c.property_id", 4, (const char *[]){ job->name, job->partner, window, statuses });
	if (!r)
		return err;
	int64_t total_new = 0, total_pending = 0;
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
static int print_first_batch(PGconn *c, const struct gf_job *job, const char *window, const char *conn,
                             int64_t limit, FILE *out)
{
	char max[32];
	snprintf(max, sizeof(max), "%lld", (long long)(limit > 0 && limit < job->max_records ? limit : job->max_records));
	_cleanup_free_ char *statuses = gf_plan_statuses(job);
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "dry_batch",
		"SELECT s.booking_no, " GF_SQL_RECORD_VALUES("coalesce(m.partner_status, s.status)") ", c.id_at_partner"
		"  FROM guestflow.source_bookings s"
		"  JOIN guestflow.connections c ON c.property_id = s.property_id AND c.id = $4::bigint"
		"  LEFT JOIN guestflow.status_map m ON m.partner = $2 AND m.source_status = s.status"
		" WHERE " GF_SQL_ELIGIBLE_MS("$3", "$6::text[]", "$2")
		"   AND NOT EXISTS (SELECT 1 FROM guestflow.deliveries d WHERE d.job = $1"
		"                      AND d.connection_id = c.id AND d.booking_id = s.booking_id)"
		" ORDER BY s.booking_id LIMIT $5::bigint", 6,
		(const char *[]){ job->name, job->partner, window, conn, max, statuses });
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
	if (rc == 0) {
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

int gf_run_dry(const struct gf_config *cfg, const struct gf_job *job, int64_t limit, FILE *out)
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
	fprintf(out, "dry run of %s (%s): nothing is written, nothing sent%s\n", job->name, job->endpoint,
	        job->enabled ? "" : "; the job is disabled (enabled: false), a real run does nothing");
	_cleanup_free_ char *conn = NULL;
	r = print_counts(db, job, window, out, &conn);
	if (r == 0 && conn)
		r = print_first_batch(db, job, window, conn, limit, out);
	gf_db_rollback(db);
	return r < 0 ? (r == -GF_E_DB_LOST ? GF_EXIT_TEMPFAIL : GF_EXIT_SOFTWARE) : GF_EXIT_OK;
}
