/* guestflow rerun JOB --dead: put dead deliveries back in the queue. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "db.h"
#include "rerun.h"

static const char help[] =
	"Usage: guestflow [-c FILE] rerun JOB --dead\n"
	"\n"
	"--dead   puts the job's dead deliveries (their batch used up retry.max_attempts)\n"
	"         back in the queue: their batches start counting attempts again and\n"
	"         keep their members and Idempotency-Key. The next run sends them.\n";

int gf_cmd_rerun(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	if (gf_cmd_help(argc, argv, help))
		return 0;
	if (argc != 3 || argv[1][0] == '-' || strcmp(argv[2], "--dead") != 0) {
		fputs(help, stderr);
		return GF_EXIT_USAGE;
	}
	struct gf_config *cfg = NULL;
	int r = gf_cmd_load_config(ctx, &cfg);
	if (r)
		return r;
	if (!gf_config_find_job(cfg, argv[1])) {
		fprintf(stderr, "guestflow rerun: no job '%s' in %s\n", argv[1], cfg->jobs_dir);
		gf_config_free(cfg);
		return GF_EXIT_USAGE;
	}
	PGconn *db = NULL;
	r = gf_db_connect(cfg->conninfo, &db);
	gf_config_free(cfg);
	if (r < 0)
		return GF_EXIT_TEMPFAIL;
	struct gf_rerun_result res = { 0 };
	r = gf_rerun_dead(db, argv[1], &res);
	PQfinish(db);
	if (r < 0)
		return r == -GF_E_DB_LOST ? GF_EXIT_TEMPFAIL : GF_EXIT_SOFTWARE;
	printf("%s: %lld dead deliver%s in %lld batch%s back in the queue; the next run sends them\n", argv[1],
	       (long long)res.deliveries, res.deliveries == 1 ? "y" : "ies", (long long)res.batches,
	       res.batches == 1 ? "" : "es");
	return 0;
}
