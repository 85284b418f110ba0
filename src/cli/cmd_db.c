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
	"configuration. The history entries the job still owes to bookings it\n"
	"delivered (the PMS refused them when they were due) are written first.\n"
	"Refused as rename-job is: nothing recorded under JOB, a run of it that may\n"
	"be going on (--force), the deliveries held for more than 5 s; while an\n"
	"entry owed is refused by the PMS again (exit 65; --force forgets it);\n"
	"and while another job of the configuration sends to a partner JOB sent to\n"
	"(its feeds are still pulled, and the partner's later bounces and unsubscribes\n"
	"of guests only JOB sent would no longer be matched to their bookings; --force\n"
	"forgets it all the same).\n";

/* rename-job's and forget-job's words: want names and --force; usage
 * says them. 0, or the exit code (said on stderr). */
static int job_args(int argc, char **argv, const char *cmd, const char *usage, const char **names, int want,
                    bool *force)
{
	int n = 0;
	*force = false;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0 && !*force) {
			*force = true;
		} else if (argv[i][0] == '-' || n == want) {
			fprintf(stderr, "guestflow db %s: unexpected argument '%s' (usage: db %s)\n", cmd, argv[i], usage);
			return GF_EXIT_USAGE;
		} else {
			names[n++] = argv[i];
		}
	}
	if (n == want)
		return 0;
	fprintf(stderr, "guestflow db %s: expects %s (usage: db %s)\n", cmd,
	        want == 2 ? "the job's old name and its new one" : "the name of the job removed", usage);
	return GF_EXIT_USAGE;
}

/* The job still in the configuration (said on stderr, with what to do
 * first): GF_EXIT_CONFIG, else 0. */
static int still_configured(const struct gf_config *cfg, const char *cmd, const char *name, const char *first)
{
	for (size_t i = 0; i < cfg->n_jobs; i++)
		if (strcmp(cfg->jobs[i]->name, name) == 0) {
			fprintf(stderr, "guestflow db %s: job '%s' is still in the configuration (%s): %s, so that no run"
			        " of '%s' starts again\n", cmd, name, cfg->jobs[i]->path, first, name);
			return GF_EXIT_CONFIG;
		}
	return 0;
}

/* What became of it: the rows per table (prefix first) and 0, or the exit
 * code of an error or a refusal (said on stderr; nothing: what was not done). */
static int report(const char *cmd, const char *nothing, int r, int refusal, const char *why,
                  const struct gf_rename_result *res, const char *prefix)
{
	if (r < 0) {
		fprintf(stderr, "guestflow db %s: failed, nothing %s: %s\n", cmd, nothing, gf_strerror(r));
		return gf_cmd_db_error(r);
	}
	if (refusal) {
		fprintf(stderr, "guestflow db %s: refusing: %s\n", cmd, why);
		return refusal == GF_RENAME_RUNNING || refusal == GF_RENAME_BUSY ? GF_EXIT_TEMPFAIL
		       : refusal == GF_RENAME_UNKNOWN                              ? GF_EXIT_SOFTWARE
		                                                                   : GF_EXIT_DATAERR;
	}
	fputs(prefix, stdout);
	for (size_t i = 0; i < res->n; i++)
		printf("%s %s %lld", i ? "," : "", res->t[i].table, (long long)res->t[i].rows);
	return 0;
}

static int rename_job(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	const char *names[2] = { NULL, NULL };
	bool force;
	int r = job_args(argc, argv, "rename-job", "rename-job OLD NEW [--force]", names, 2, &force);
	if (r)
		return r;
	const char *old = names[0], *new_name = names[1];
	if (strcmp(old, new_name) == 0) {
		fprintf(stderr, "guestflow db rename-job: OLD and NEW are the same name ('%s')\n", old);
		return GF_EXIT_USAGE;
	}
	struct gf_config *cfg = NULL;
	PGconn *db = NULL;
	if ((r = gf_cmd_open_current(ctx, &cfg, &db)))
		return r;
	char first[512];
	snprintf(first, sizeof(first), "rename its file and its name: to '%s' first", new_name);
	const struct gf_job *job = NULL;
	r = still_configured(cfg, "rename-job", old, first);
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
	char prefix[600];
	snprintf(prefix, sizeof(prefix), "renamed job '%s' to '%s':", old, new_name);
	if ((r = report("rename-job", "renamed", r, refusal, why, &res, prefix)) == 0)
		printf("\n");
	gf_rename_result_free(&res);
	return r;
}

/* A partner the job sent to that a job of the configuration still sends
 * to: its feeds are still pulled, and the events about guests only the
 * job sent are matched to their bookings through the job's deliveries.
 * Refused (65) without force, said with it; 0 when there is none. */
static int shared_feeds(PGconn *db, const struct gf_config *cfg, const char *name, bool force)
{
	int err;
	_cleanup_pgresult_ PGresult *p = gf_db_query(db, &err, "forget_partners",
		"SELECT DISTINCT c.partner FROM guestflow.connections c"
		" WHERE c.id IN (SELECT DISTINCT connection_id FROM guestflow.deliveries WHERE job = $1) ORDER BY 1", 1,
		(const char *[]){ name });
	if (!p)
		return gf_cmd_db_error(err);
	for (int i = 0; i < PQntuples(p); i++)
		for (size_t j = 0; j < cfg->n_jobs; j++) {
			if (strcmp(cfg->jobs[j]->partner, PQgetvalue(p, i, 0)) != 0)
				continue;
			fprintf(stderr, "guestflow db forget-job: %s: job '%s' of the configuration sends to %s too, and"
			        " pulls the same feeds: the partner's later bounces and unsubscribes of the guests only '%s'"
			        " sent are matched to their bookings through its deliveries; once forgotten, they are stored"
			        " without a booking (no history entry, not on the suppression list)%s\n",
			        force ? "warning" : "refusing", cfg->jobs[j]->name, cfg->jobs[j]->partner, name,
			        force ? "" : " (--force: forget it all the same)");
			if (!force)
				return GF_EXIT_DATAERR;
			break;
		}
	return 0;
}

static int forget_job(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	const char *name = NULL;
	bool force;
	int r = job_args(argc, argv, "forget-job", "forget-job JOB [--force]", &name, 1, &force);
	if (r)
		return r;
	struct gf_config *cfg = NULL;
	PGconn *db = NULL;
	if ((r = gf_cmd_open_current(ctx, &cfg, &db)))
		return r;
	if ((r = still_configured(cfg, "forget-job", name, "remove it first, on every host that runs it")) ||
	    (r = shared_feeds(db, cfg, name, force))) {
		PQfinish(db);
		gf_config_free(cfg);
		return r;
	}
	int refusal;
	char why[1024];
	struct gf_rename_result res;
	r = gf_job_forget(db, name, force, cfg->lock_timeout_ms, &refusal, why, sizeof(why), &res);
	PQfinish(db);
	gf_config_free(cfg);
	if (res.owed_written > 0)
		fprintf(stderr, "guestflow db forget-job: wrote %lld history entr%s the PMS had refused before, owed to"
		        " bookings job '%s' delivered\n", (long long)res.owed_written,
		        res.owed_written == 1 ? "y" : "ies", name);
	char prefix[400];
	snprintf(prefix, sizeof(prefix), "forgot job '%s': deleted", name);
	if ((r = report("forget-job", "deleted", r, refusal, why, &res, prefix)) == 0) {
		printf("; kept %lld partner event%s (they put an address on the suppression list)\n",
		       (long long)res.kept_events, res.kept_events == 1 ? "" : "s");
		if (res.owed_dropped > 0)
			fprintf(stderr, "guestflow db forget-job: --force: %lld history entr%s owed to bookings (the PMS"
			        " refused them) forgotten with the job, never written\n", (long long)res.owed_dropped,
			        res.owed_dropped == 1 ? "y" : "ies");
	}
	gf_rename_result_free(&res);
	return r;
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
