/* guestflow purge [JOB]: deliveries past their job's retention.deliveries,
 * partner events past its retention.events. */
#include <stdio.h>
#include <string.h>

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
	"Works in short chunks; safe while runs go on.\n"
	"The shipped timer (guestflow-purge.timer) runs it daily.\n";

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
	PQfinish(db);
	gf_config_free(cfg);
	return r < 0 ? gf_cmd_db_error(r) : 0;
}
