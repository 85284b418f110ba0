/* guestflow explain (BOOKING_NO | --booking-id ID) [--job JOB]: why was this guest (not) sent? */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd.h"
#include "db/db.h"
#include "core/explain.h"
#include "core/jsonout.h"

static const char help[] =
	"Usage: guestflow [-c FILE] explain [--job JOB] [--json] [--] BOOKING_NO\n"
	"       guestflow [-c FILE] explain --booking-id ID [--job JOB] [--json]\n"
	"\n"
	"Answers \"why was this guest (not) sent?\": for every job (or JOB), each\n"
	"eligibility rule with the booking's value and whether it passed (job enabled,\n"
	"checked out, e-mail, last name, notify flag, within the window, property\n"
	"connected and live), then the delivery (state, reason, attempts, last error,\n"
	"next attempt, batch, when delivered) and the history entries on the booking.\n"
	"Every booking that has the number is shown (a group booking, a number the\n"
	"PMS gave twice), and so is one guestflow recorded under it that is no longer\n"
	"in the source view (deleted or archived in the PMS): what guestflow did.\n"
	"\n"
	"  --booking-id ID  the booking of this booking_id (for one the source view\n"
	"                   cannot give a number)\n"
	"  --job JOB        only this job\n"
	"  --json           the same as one JSON document: the verdict per job and\n"
	"                   each rule as data (guestflow(1), JSON OUTPUT)\n"
	"  --               the next argument is the booking number, even if it\n"
	"                   begins with '-'\n"
	"\n"
	"Exit 65 when the source view gives no booking that number (or id) and\n"
	"guestflow recorded none, or ID is not an integer.\n";

int gf_cmd_explain(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	if (gf_cmd_help(argc, argv, help))
		return 0;
	const char *booking = NULL, *booking_id = NULL, *job_name = NULL;
	bool json = false, options = true;
	for (int i = 1; i < argc; i++) {
		if (options && strcmp(argv[i], "--job") == 0 && i + 1 < argc)
			job_name = argv[++i];
		else if (options && strcmp(argv[i], "--booking-id") == 0 && i + 1 < argc && !booking_id)
			booking_id = argv[++i];
		else if (options && strcmp(argv[i], "--json") == 0) {
			if (gf_cmd_json_opt("explain", &json))
				return GF_EXIT_USAGE;
		}
		else if (options && strcmp(argv[i], "--") == 0)
			options = false;
		else if ((!options || argv[i][0] != '-') && !booking)
			booking = argv[i];
		else {
			fprintf(stderr, "guestflow explain: unexpected argument '%s'\n%s", argv[i], help);
			return GF_EXIT_USAGE;
		}
	}
	if (!booking == !booking_id) {
		if (booking)
			fprintf(stderr, "guestflow explain: give BOOKING_NO or --booking-id ID, not both\n");
		fputs(help, stderr);
		return GF_EXIT_USAGE;
	}
	if (booking_id) {
		char *end;
		errno = 0;
		(void)strtoll(booking_id, &end, 10);
		if (errno || end == booking_id || *end) {
			fprintf(stderr, "guestflow explain: --booking-id %s: not a booking id (an integer)\n",
			        gf_log_qt(booking_id));
			return GF_EXIT_DATAERR;
		}
	}
	struct gf_config *cfg = NULL;
	PGconn *db = NULL;
	const struct gf_job *one, *const *jobs;
	size_t n;
	int r = gf_cmd_open_jobs(ctx, job_name, "explain", &cfg, &db, &one, &jobs, &n);
	if (r)
		return r;
	json_t *doc = json ? gf_json_doc() : NULL;
	r = gf_explain(db, jobs, n, booking, booking_id, doc, stdout);
	PQfinish(db);
	gf_config_free(cfg);
	if (r == 0 && doc)
		return gf_cmd_print_json("explain", doc);
	json_decref(doc);
	if (r == -ENOENT && booking) {
		fprintf(stderr, "guestflow explain: booking %s is not in guestflow.source_bookings, and guestflow has no"
		        " delivery of it\n", gf_log_qt(booking));
		return GF_EXIT_DATAERR;
	}
	if (r == -ENOENT) {
		fprintf(stderr, "guestflow explain: booking id %s is not in guestflow.source_bookings, and guestflow has"
		        " no delivery of it\n", booking_id);
		return GF_EXIT_DATAERR;
	}
	return r < 0 ? gf_cmd_db_error(r) : 0;
}
