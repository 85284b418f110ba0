/* guestflow run JOB: one run of a job. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "run.h"

static const char help[] =
	"Usage: guestflow [-c FILE] run JOB\n"
	"\n"
	"Runs JOB once: plans a delivery for every eligible booking x live connection,\n"
	"sends due batches (several in flight), writes a history entry on every\n"
	"delivered booking, records the run in guestflow.runs and prints one summary\n"
	"line. Safe to run from several hosts or overlapping timers at once.\n"
	"\n"
	"Exit codes: 0 all due delivered or nothing to do; 1 some records rejected or\n"
	"dead, deliveries left pending, or a connection skipped (credentials refused);\n"
	"69 no partner reachable; 75 cut short (signal, database lost), retry later;\n"
	"78 configuration or schema error, nothing ran; 64 usage error.\n";

int gf_cmd_run(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	if (gf_cmd_help(argc, argv, help))
		return 0;
	if (argc != 2 || argv[1][0] == '-') {
		fputs(help, stderr);
		return GF_EXIT_USAGE;
	}
	struct gf_config *cfg = NULL;
	int r = gf_cmd_load_config(ctx, &cfg);
	if (r)
		return r;
	const struct gf_job *job = gf_config_find_job(cfg, argv[1]);
	if (!job) {
		fprintf(stderr, "guestflow run: no job '%s' in %s; jobs:", argv[1], cfg->jobs_dir);
		for (size_t i = 0; i < cfg->n_jobs; i++)
			fprintf(stderr, " %s", cfg->jobs[i]->name);
		fprintf(stderr, "\n");
		gf_config_free(cfg);
		return GF_EXIT_USAGE;
	}
	gf_run_install_signals();
	struct gf_run_stats st;
	int code = gf_run_job(cfg, job, &st);
	gf_run_print_summary(job, &st, code);
	gf_config_free(cfg);
	return code;
}
