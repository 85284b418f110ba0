/* guestflow pull [JOB]: the partners' events, for each live connection. */
#include <stdio.h>
#include <string.h>

#include "cli/cmd.h"
#include "core/notify.h"
#include "core/pull.h"
#include "core/secret.h"
#include "db/db.h"

static const char pull_help[] =
	"Usage: guestflow [-c FILE] pull [JOB]\n"
	"\n"
	"Fetches what each partner reports about the guests it was sent (PARTNERS.md,\n"
	"\"events pulled back\"), for every live connection of each job, or of JOB:\n"
	"review-xml and guest-json an event feed after the connection's stored cursor\n"
	"(invited, bounced, reviewed, unsubscribed), visits-csv the error files the\n"
	"partner left in the job's errors/ directory (moved to errors/done/ once read).\n"
	"Each event becomes a history entry on its booking; a bounced or unsubscribed\n"
	"guest's e-mail address goes on the suppression list, which every job of every\n"
	"partner honours from then on ('guestflow explain' says so), but for a bounce\n"
	"of a booking whose address now is not the one it was planned with for the\n"
	"connection (a corrected one, which may not have bounced: logged\n"
	"bounce_not_suppressed); a guest the\n"
	"partner could not import has its delivery rejected with the partner's reason.\n"
	"The cursor is stored in the transaction that stores the events: a pull cut\n"
	"short reads them again and stores each once. A connection whose pull fails is\n"
	"logged and the others go on; alerting.failed_pulls failures of its feed in a\n"
	"row raise a pull_failed alert for it (mailed to the alert and technical\n"
	"contacts), which the next pull that reads the feed clears. A history entry the\n"
	"PMS refuses (its write_history raising for one booking) is named in the log\n"
	"(event=history_refused) and owed, its event stored: each later run and pull\n"
	"of the job (this one first) writes the entries owed that the PMS takes, and\n"
	"the job's history_refused alert is open while any is owed; when the PMS\n"
	"refuses every entry of a page, that connection's pull fails. Exit 0, or 1\n"
	"when some connection's pull failed or an entry is owed.\n";

int gf_cmd_pull(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	if (gf_cmd_help(argc, argv, pull_help))
		return 0;
	const char *name;
	if (gf_cmd_job_arg(argc, argv, "pull", pull_help, &name))
		return GF_EXIT_USAGE;
	struct gf_config *cfg = NULL;
	PGconn *db = NULL;
	const struct gf_job *one, *const *jobs;
	size_t n;
	int r = gf_cmd_open_jobs(ctx, name, "pull", &cfg, &db, &one, &jobs, &n);
	if (r)
		return r;
	/* (a booking the PMS keeps locked fails its connection's page after
	 * database.lock_timeout, not the whole pull) */
	if (gf_db_lock_timeout(db, cfg->lock_timeout_ms) < 0) {
		PQfinish(db);
		gf_config_free(cfg);
		return GF_EXIT_TEMPFAIL;
	}
	if ((r = gf_cmd_open_secrets(cfg, db, "pull"))) {
		PQfinish(db);
		gf_config_free(cfg);
		return r;
	}
	bool failed = false;
	for (size_t j = 0; j < n && r == 0; j++) {
		struct gf_pull_result res;
		r = gf_pull(db, jobs[j], cfg->failed_pulls, cfg->lock_timeout_ms, &res);
		if (r == 0)
			printf("%s: pulled %lld connection%s (%lld failed): %lld new event%s, %lld history entr%s,"
			       " %lld address%s suppressed (%lld queued deliver%s of them withdrawn), %lld deliver%s rejected"
			       " by the partner%s%s\n", jobs[j]->name,
			       (long long)res.connections, res.connections == 1 ? "" : "s", (long long)res.failed,
			       (long long)res.events, res.events == 1 ? "" : "s", (long long)res.history,
			       res.history == 1 ? "y" : "ies", (long long)res.suppressed, res.suppressed == 1 ? "" : "es",
			       (long long)res.unqueued, res.unqueued == 1 ? "y" : "ies",
			       (long long)res.rejected, res.rejected == 1 ? "y" : "ies",
			       res.not_suppressed ? "; bounces of bookings whose address changed since they were planned,"
			                            " not suppressed: see event=bounce_not_suppressed" : "",
			       res.history_refused ? "; history entries the PMS refused (the events stored, their entries"
			                             " owed): see event=history_refused" : "");
		if (r == 0 && res.owed_written > 0)
			printf("%s: wrote %lld history entr%s the PMS had refused before\n", jobs[j]->name,
			       (long long)res.owed_written, res.owed_written == 1 ? "y" : "ies");
		if (r == 0 && res.owed > 0)
			printf("%s: %lld history entr%s still owed (the PMS refuses them; alert history_refused)\n",
			       jobs[j]->name, (long long)res.owed, res.owed == 1 ? "y" : "ies");
		failed |= r == 0 && (res.failed > 0 || res.history_refused > 0 || res.owed > 0);
		/* (a pull_failed alert raised now is told now, not after the
		 * job's next run) */
		int sent;
		if (r == 0)
			r = gf_notify_alerts(db, cfg, jobs[j], &sent);
	}
	gf_secret_close();
	PQfinish(db);
	gf_config_free(cfg);
	if (r < 0)
		return gf_cmd_db_error(r);
	return failed ? GF_EXIT_PARTIAL : 0;
}
