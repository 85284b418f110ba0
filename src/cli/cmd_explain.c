/* guestflow explain BOOKING_NO [--job JOB]: why was this guest (not) sent? */
#include <stdio.h>
#include <string.h>

#include "cli/cmd.h"
#include "db/db.h"
#include "core/explain.h"
#include "core/jsonout.h"

static const char help[] =
	"Usage: guestflow [-c FILE] explain BOOKING_NO [--job JOB] [--json]\n"
	"\n"
	"Answers \"why was this guest (not) sent?\": for every job (or JOB), each\n"
	"eligibility rule with the booking's value and whether it passed (job enabled,\n"
	"checked out, e-mail, last name, notify flag, within the window, property\n"
	"connected and live), then the delivery (state, reason, attempts, last error,\n"
	"next attempt, batch, when delivered) and the history entries on the booking.\n"
	"--json writes the same as one JSON document: the verdict per job and each\n"
	"rule as data (guestflow(1), JSON OUTPUT).\n"
	"Exit 65 when the booking is not in guestflow.source_bookings.\n";

int gf_cmd_explain(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	if (gf_cmd_help(argc, argv, help))
		return 0;
	const char *booking = NULL, *job_name = NULL;
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--job") == 0 && i + 1 < argc)
			job_name = argv[++i];
		else if (strcmp(argv[i], "--json") == 0) {
			if (gf_cmd_json_opt("explain", &json))
				return GF_EXIT_USAGE;
		}
		else if (argv[i][0] != '-' && !booking)
			booking = argv[i];
		else {
			fprintf(stderr, "guestflow explain: unexpected argument '%s'\n%s", argv[i], help);
			return GF_EXIT_USAGE;
		}
	}
	if (!booking) {
		fputs(help, stderr);
		return GF_EXIT_USAGE;
	}
	struct gf_config *cfg = NULL;
	PGconn *db = NULL;
	const struct gf_job *one, *const *jobs;
	size_t n;
	int r = gf_cmd_open_jobs(ctx, job_name, "explain", &cfg, &db, &one, &jobs, &n);
	if (r)
		return r;
	json_t *doc = json ? gf_json_doc() : NULL;
	r = gf_explain(db, jobs, n, booking, doc, stdout);
	PQfinish(db);
	gf_config_free(cfg);
	if (r == 0 && doc)
		return gf_cmd_print_json("explain", doc);
	json_decref(doc);
	if (r == -ENOENT) {
		fprintf(stderr, "guestflow explain: booking %s is not in guestflow.source_bookings\n", booking);
		return GF_EXIT_DATAERR;
	}
	return r < 0 ? gf_cmd_db_error(r) : 0;
}
