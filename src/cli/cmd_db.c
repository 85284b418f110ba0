/* guestflow db migrate: create or upgrade the guestflow schema.
 * guestflow db rename-job OLD NEW: carry a job's record over to its new name.
 * guestflow db forget-job JOB: delete the record of a job removed. */
#include <stdio.h>
#include <string.h>

#include "cli/cmd.h"
#include "core/jobrename.h"
#include "db/db.h"
#include "db/migrate.h"

static const char help[] =
	"Usage: guestflow [-c FILE] db migrate\n"
	"       guestflow [-c FILE] db rename-job OLD NEW [--force]\n"
	"       guestflow [-c FILE] db forget-job JOB [--force]\n"
	"\n"
	"migrate: creates or upgrades the guestflow schema in the configured database\n"
	"from the migrations built into this binary, each in its own transaction,\n"
	"recorded in guestflow.schema_migrations. A second run does nothing. A database\n"
	"migrated by a newer guestflow is refused. When the reference PMS schema (pms.*)\n"
	"exists and no source adapter is installed yet, the reference adapters are\n"
	"installed.\n"
	"\n"
	"rename-job: a job is its name. After renaming a job's file (and its name:) from\n"
	"OLD to NEW, this carries OLD's record over to NEW in one transaction:\n"
	"deliveries, batches, runs, the API-call log, partner events, alerts, the purge\n"
	"horizon and OLD's contacts (where NEW has the same open alert or contact, NEW's\n"
	"stays). Without it, NEW's first run would send every booking of its window\n"
	"again. NEW must be a job of the configuration, OLD no longer. Refused when\n"
	"nothing is recorded under OLD, when NEW has run already (a run, batch or\n"
	"delivery of its own), when OLD sent to another partner than NEW's, and while a\n"
	"run of OLD may be going on: a batch of it under a lease, or a run that has not\n"
	"recorded its end whose process is alive on this host, or that ran on another\n"
	"host or PID namespace (--force: that run is known to have died). Other jobs'\n"
	"deliveries wait while it works; it waits at most 5 s for theirs to end (then\n"
	"exit 75).\n"
	"\n"
	"forget-job: after removing a job from the configuration (on every host that\n"
	"runs it), deletes its record in one transaction: runs, batches, deliveries,\n"
	"the API-call log, the partner events it pulled, its alerts and contacts, its\n"
	"purge horizon; no purge reaches them otherwise. The history entries in the\n"
	"PMS and the suppression list stay (and the events that put an address on it).\n"
	"A job added again under that name later starts afresh: its first run sends\n"
	"every eligible booking of its window. JOB must not be a job of the\n"
	"configuration. Refused as rename-job is: nothing recorded under JOB, a run of\n"
	"it that may be going on (--force), the deliveries held for more than 5 s.\n";

static int rename_job(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	const char *names[2] = { NULL, NULL };
	bool force = false;
	int n = 0;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0 && !force) {
			force = true;
		} else if (argv[i][0] == '-' || n == 2) {
			fprintf(stderr, "guestflow db rename-job: unexpected argument '%s' (usage: db rename-job OLD NEW"
			        " [--force])\n", argv[i]);
			return GF_EXIT_USAGE;
		} else {
			names[n++] = argv[i];
		}
	}
	if (n != 2) {
		fprintf(stderr, "guestflow db rename-job: expects the job's old name and its new one (usage: db"
		        " rename-job OLD NEW [--force])\n");
		return GF_EXIT_USAGE;
	}
	const char *old = names[0], *new_name = names[1];
	if (strcmp(old, new_name) == 0) {
		fprintf(stderr, "guestflow db rename-job: OLD and NEW are the same name ('%s')\n", old);
		return GF_EXIT_USAGE;
	}
	struct gf_config *cfg = NULL;
	PGconn *db = NULL;
	int r = gf_cmd_open_current(ctx, &cfg, &db);
	if (r)
		return r;
	const struct gf_job *job = NULL;
	for (size_t i = 0; i < cfg->n_jobs; i++)
		if (strcmp(cfg->jobs[i]->name, old) == 0) {
			fprintf(stderr, "guestflow db rename-job: job '%s' is still in the configuration (%s): rename its"
			        " file and its name: to '%s' first, so that no run of '%s' starts again\n", old,
			        cfg->jobs[i]->path, new_name, old);
			r = GF_EXIT_CONFIG;
		}
	if (r == 0 && !(job = gf_cmd_find_job(cfg, new_name, "db rename-job")))
		r = GF_EXIT_CONFIG;
	if (r) {
		PQfinish(db);
		gf_config_free(cfg);
		return r;
	}
	int refusal;
	char why[1024];
	struct gf_rename_result res;
	r = gf_job_rename(db, old, new_name, job->partner, force, &refusal, why, sizeof(why), &res);
	PQfinish(db);
	gf_config_free(cfg);
	if (r < 0) {
		fprintf(stderr, "guestflow db rename-job: failed, nothing renamed: %s\n", gf_strerror(r));
		return gf_cmd_db_error(r);
	}
	if (refusal) {
		fprintf(stderr, "guestflow db rename-job: refusing: %s\n", why);
		return refusal == GF_RENAME_RUNNING || refusal == GF_RENAME_BUSY ? GF_EXIT_TEMPFAIL : GF_EXIT_DATAERR;
	}
	printf("renamed job '%s' to '%s':", old, new_name);
	for (size_t i = 0; i < res.n; i++)
		printf("%s %s %lld", i ? "," : "", res.t[i].table, (long long)res.t[i].rows);
	printf("\n");
	gf_rename_result_free(&res);
	return 0;
}

static int forget_job(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	const char *name = NULL;
	bool force = false;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0 && !force) {
			force = true;
		} else if (argv[i][0] == '-' || name) {
			fprintf(stderr, "guestflow db forget-job: unexpected argument '%s' (usage: db forget-job JOB"
			        " [--force])\n", argv[i]);
			return GF_EXIT_USAGE;
		} else {
			name = argv[i];
		}
	}
	if (!name) {
		fprintf(stderr, "guestflow db forget-job: expects the name of the job removed (usage: db forget-job JOB"
		        " [--force])\n");
		return GF_EXIT_USAGE;
	}
	struct gf_config *cfg = NULL;
	PGconn *db = NULL;
	int r = gf_cmd_open_current(ctx, &cfg, &db);
	if (r)
		return r;
	for (size_t i = 0; i < cfg->n_jobs; i++)
		if (strcmp(cfg->jobs[i]->name, name) == 0) {
			fprintf(stderr, "guestflow db forget-job: job '%s' is in the configuration (%s): remove it first (on"
			        " every host that runs it), so that no run of '%s' starts again; renamed: guestflow db"
			        " rename-job\n", name, cfg->jobs[i]->path, name);
			r = GF_EXIT_CONFIG;
		}
	if (r) {
		PQfinish(db);
		gf_config_free(cfg);
		return r;
	}
	int refusal;
	char why[1024];
	struct gf_rename_result res;
	r = gf_job_forget(db, name, force, &refusal, why, sizeof(why), &res);
	PQfinish(db);
	gf_config_free(cfg);
	if (r < 0) {
		fprintf(stderr, "guestflow db forget-job: failed, nothing deleted: %s\n", gf_strerror(r));
		return gf_cmd_db_error(r);
	}
	if (refusal) {
		fprintf(stderr, "guestflow db forget-job: refusing: %s\n", why);
		return refusal == GF_RENAME_RUNNING || refusal == GF_RENAME_BUSY ? GF_EXIT_TEMPFAIL
		       : refusal == GF_RENAME_UNKNOWN                              ? GF_EXIT_SOFTWARE
		                                                                   : GF_EXIT_DATAERR;
	}
	printf("forgot job '%s': deleted", name);
	for (size_t i = 0; i < res.n; i++)
		printf("%s %s %lld", i ? "," : "", res.t[i].table, (long long)res.t[i].rows);
	printf("; kept %lld partner event%s (they put an address on the suppression list)\n",
	       (long long)res.kept_events, res.kept_events == 1 ? "" : "s");
	gf_rename_result_free(&res);
	return 0;
}

int gf_cmd_db(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	if (gf_cmd_help(argc, argv, help))
		return 0;
	if (argc >= 2 && strcmp(argv[1], "rename-job") == 0)
		return rename_job(argc, argv, ctx);
	if (argc >= 2 && strcmp(argv[1], "forget-job") == 0)
		return forget_job(argc, argv, ctx);
	if (argc != 2 || strcmp(argv[1], "migrate") != 0) {
		fputs(help, stderr);
		return GF_EXIT_USAGE;
	}
	struct gf_config *cfg = NULL;
	PGconn *db = NULL;
	int r = gf_cmd_open(ctx, &cfg, &db);
	gf_config_free(cfg);
	if (r)
		return r;
	int applied = 0, adapters = 0;
	r = gf_migrate(db, &applied, &adapters);
	PQfinish(db);
	if (r == -GF_E_SCHEMA) {
		fprintf(stderr, "guestflow db migrate: refusing: the database schema is newer than this guestflow (version %d)"
		        " or was migrated by an unreleased development version (the error above says which)\n",
		        gf_schema_version_known());
		return GF_EXIT_CONFIG;
	}
	if (r < 0) {
		fprintf(stderr, "guestflow db migrate: failed: %s\n", gf_strerror(r));
		return gf_cmd_db_error(r);
	}
	if (applied)
		printf("applied %d migration%s; schema at version %d\n", applied, applied == 1 ? "" : "s",
		       gf_schema_version_known());
	else
		printf("schema up to date at version %d\n", gf_schema_version_known());
	if (adapters)
		printf("installed the reference source adapters (guestflow.source_bookings, guestflow.write_history)\n");
	return 0;
}
