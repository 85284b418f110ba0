/* guestflow run JOB: one run of a job. */
#include <stdio.h>
#include <string.h>

#include "cli/cmd.h"
#include "core/jsonout.h"
#include "core/metrics.h"
#include "core/run.h"
#include "core/secret.h"
#include "base/signals.h"

static const char help[] =
	"Usage: guestflow [-c FILE] run JOB [--dry-run [--json]] [--limit N]\n"
	"\n"
	"Runs JOB once: plans a delivery for every eligible booking x live connection,\n"
	"sends due batches (several in flight), writes a history entry on every\n"
	"delivered booking, records the run in guestflow.runs and prints one summary\n"
	"line. Safe to run from several hosts or overlapping timers at once.\n"
	"\n"
	"  --dry-run   show what would be sent now (counts per connection and the\n"
	"              first batch as rendered); writes and sends nothing; names a\n"
	"              booking the source view raises an error for, as a run\n"
	"              rejects it, and counts the others (exit 0)\n"
	"  --limit N   claim at most N deliveries in this run (with --dry-run: at\n"
	"              most N records in the batch shown); the rest waits\n"
	"  --json      with --dry-run: the same as one JSON document (guestflow(1),\n"
	"              JSON OUTPUT)\n"
	"\n"
	"Exit codes: 0 all due delivered or nothing to do; 1 some records rejected or\n"
	"dead, history entries still owed (the PMS refused them), deliveries left\n"
	"pending, or a connection skipped (credentials refused);\n"
	"69 no partner reachable; 75 cut short (signal, database lost), retry later;\n"
	"78 configuration or schema error, or the secrets key file (secrets.key_file)\n"
	"missing or wrong, nothing ran; 64 usage error.\n";

int gf_cmd_run(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	if (gf_cmd_help(argc, argv, help))
		return 0;
	const char *name = NULL;
	bool dry = false, json = false;
	int64_t limit = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dry-run") == 0) {
			dry = true;
		} else if (strcmp(argv[i], "--json") == 0) {
			if (gf_cmd_json_opt("run", &json))
				return GF_EXIT_USAGE;
		} else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
			if (gf_parse_int64(argv[++i], &limit) < 0 || limit < 1) {
				fprintf(stderr, "guestflow run: --limit takes a whole number of at least 1, got '%s'\n", argv[i]);
				return GF_EXIT_USAGE;
			}
		} else if (argv[i][0] != '-' && !name) {
			name = argv[i];
		} else {
			fprintf(stderr, "guestflow run: unexpected argument '%s'\n%s", argv[i], help);
			return GF_EXIT_USAGE;
		}
	}
	if (!name) {
		fputs(help, stderr);
		return GF_EXIT_USAGE;
	}
	if (json && !dry) {
		fprintf(stderr, "guestflow run: --json goes with --dry-run (a run prints one summary line)\n");
		return GF_EXIT_USAGE;
	}
	struct gf_config *cfg = NULL;
	int r = gf_cmd_load_config(ctx, &cfg);
	if (r)
		return r;
	const struct gf_job *job = gf_cmd_find_job(cfg, name, "run");
	if (!job) {
		gf_config_free(cfg);
		return GF_EXIT_USAGE;
	}
	if (dry) {
		json_t *doc = json ? gf_json_doc() : NULL;
		int code = gf_run_dry(cfg, job, limit, doc, stdout);
		gf_config_free(cfg);
		if (code == 0 && doc)
			return gf_cmd_print_json("run", doc);
		json_decref(doc);
		return code;
	}
	gf_signals_install();
	struct gf_run_stats st;
	struct gf_run_opts opts = { .limit = limit };
	if (job->enabled)
		gf_ping(job, job->ping_start, "start");
	/* The key for the stored access keys, before anything is claimed: a
	 * key file that is missing or wrong concerns every connection, so the
	 * run stops there (78), with nothing claimed and nothing changed. */
	int code = job->enabled ? gf_cmd_open_secrets(cfg, NULL, "run") : 0;
	if (code == 0) {
		code = gf_run_job(cfg, job, &opts, &st);
		gf_run_print_summary(job, &st, code);
	}
	if (job->enabled)
		gf_ping(job, code == 0 ? job->ping_success : job->ping_failure, code == 0 ? "success" : "failure");
	gf_secret_close();
	gf_config_free(cfg);
	return code;
}
