/* guestflow check-config: validate the main file and every job. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "log.h"

static const char help[] =
	"Usage: guestflow [-c FILE] check-config\n"
	"\n"
	"Validates the main configuration file and every job in its jobs directory\n"
	"and prints one line per job. Errors name FILE:LINE:COLUMN; exit 78 on any.\n";

int gf_cmd_check_config(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	if (gf_cmd_help(argc, argv, help))
		return 0;
	if (argc > 1) {
		fprintf(stderr, "guestflow check-config: unexpected argument '%s'\n%s", argv[1], help);
		return GF_EXIT_USAGE;
	}
	struct gf_config *cfg = NULL;
	int r = gf_cmd_load_config(ctx, &cfg);
	if (r)
		return r;
	printf("%s: ok, %zu job%s in %s\n", cfg->path, cfg->n_jobs, cfg->n_jobs == 1 ? "" : "s", cfg->jobs_dir);
	for (size_t i = 0; i < cfg->n_jobs; i++) {
		const struct gf_job *j = cfg->jobs[i];
		printf("job %s: %s, partner %s, format %s, endpoint %s, schedule \"%s\", batches of %d, %d in flight (%s)\n",
		       j->name, j->enabled ? "enabled" : "disabled", j->partner, j->format, j->endpoint,
		       j->schedule, j->max_records, j->in_flight, j->path);
	}
	gf_config_free(cfg);
	return 0;
}
