/* guestflow purge [JOB]: deliveries past their job's retention.deliveries,
 * partner events past its retention.events. */
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "cli/cmd.h"
#include "db/db.h"
#include "core/purge.h"

static const char purge_help[] =
	"Usage: guestflow [-c FILE] purge [JOB]\n"
	"\n"
	"Deletes the finished deliveries (delivered, rejected, dead) of each job, or of\n"
	"JOB, that finished longer ago than the job's retention.deliveries (default\n"
	"400d, always longer than selection.window) and whose booking is not inside\n"
	"the job's window any more, then the job's batches finished as long ago that\n"
	"nothing refers to. A booking still inside the window keeps its delivery, so\n"
	"that it is never sent again, and no run reaches back before the window's start\n"
	"at a purge (the job's purge horizon), even if selection.window is widened later.\n"
	"Then the events the job pulled from the partner ('guestflow pull') longer ago\n"
	"than its retention.events (default 400d), but for one that put an address on\n"
	"the suppression list (the list keeps it) and each connection's latest.\n"
	"Works in short chunks; safe while runs go on. Without JOB, it then names on\n"
	"standard error each job that ran here and is no job of the configuration any\n"
	"more: no purge reaches its record (renamed without 'db rename-job', or removed:\n"
	"'db forget-job' deletes it).\n"
	"The shipped timer (guestflow-purge.timer) runs it daily.\n";

/* The jobs that ran here and are no job of the configuration any more: no
 * purge reaches their record (a job renamed without 'db rename-job', or
 * removed). Said on stderr, each with its last run; not an error. */
static int warn_unknown_jobs(PGconn *db, const struct gf_config *cfg)
{
	_cleanup_free_ const char **v = gf_xcalloc(cfg->n_jobs + 1, sizeof(*v));
	for (size_t i = 0; i < cfg->n_jobs; i++)
		v[i] = cfg->jobs[i]->name;
	_cleanup_buf_ struct gf_buf names = GF_BUF_INIT((size_t)1 << 20);
	int r = gf_db_text_array(&names, v, cfg->n_jobs);
	if (r < 0)
		return r;
	int err;
	_cleanup_pgresult_ PGresult *q = gf_db_query(db, &err, "purge_unknown_jobs",
		"SELECT job, count(*), to_char(max(started_at), 'YYYY-MM-DD') FROM guestflow.runs"
		" WHERE job <> ALL($1::text[]) GROUP BY job ORDER BY job", 1, (const char *[]){ gf_buf_str(&names) });
	if (!q)
		return err;
	for (int i = 0; i < PQntuples(q); i++)
		fprintf(stderr, "guestflow purge: job '%s' ran here (%s run%s, the last on %s) and is no job of %s:"
		        " its record is never purged; if it was renamed: guestflow db rename-job %s NEW; if it was"
		        " removed: guestflow db forget-job %s\n",
		        gf_db_get(q, i, 0), gf_db_get(q, i, 1), strcmp(gf_db_get(q, i, 1), "1") ? "s" : "",
		        gf_db_get(q, i, 2), cfg->jobs_dir, gf_db_get(q, i, 0), gf_db_get(q, i, 0));
	return 0;
}

int gf_cmd_purge(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	if (gf_cmd_help(argc, argv, purge_help))
		return 0;
	const char *name;
	if (gf_cmd_job_arg(argc, argv, "purge", purge_help, &name))
		return GF_EXIT_USAGE;
	struct gf_config *cfg = NULL;
	PGconn *db = NULL;
	const struct gf_job *one, *const *jobs;
	size_t n;
	int r = gf_cmd_open_jobs(ctx, name, "purge", &cfg, &db, &one, &jobs, &n);
	if (r)
		return r;
	for (size_t j = 0; j < n && r == 0; j++) {
		struct gf_purge_result res;
		r = gf_purge(db, jobs[j], &res);
		if (r == 0)
			printf("%s: deleted %lld deliver%s and %lld batch%s finished more than %lld days ago"
			       " (%lld kept: their booking is still inside the window), %lld partner event%s pulled"
			       " more than %lld days ago\n", jobs[j]->name,
			       (long long)res.deliveries, res.deliveries == 1 ? "y" : "ies", (long long)res.batches,
			       res.batches == 1 ? "" : "es", (long long)(jobs[j]->retention_ms / 86400000),
			       (long long)res.kept, (long long)res.events, res.events == 1 ? "" : "s",
			       (long long)(jobs[j]->events_retention_ms / 86400000));
	}
	if (r == 0 && !name)
		r = warn_unknown_jobs(db, cfg);
	PQfinish(db);
	gf_config_free(cfg);
	return r < 0 ? gf_cmd_db_error(r) : 0;
}
