/* Helpers shared by the commands: --help, loading the configuration,
 * opening the database, finding a job. */
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cmd.h"
#include "db/db.h"
#include "db/migrate.h"
#include "base/log.h"
#include "core/jsonout.h"
#include "core/secret.h"

bool gf_cmd_help(int argc, char **argv, const char *help)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(help, stdout);
			return true;
		}
	}
	return false;
}

int gf_cmd_load_config(const struct gf_cmd_ctx *ctx, struct gf_config **out)
{
	struct gf_config_error err = { { 0 } };
	const char *path = gf_config_default_path(ctx->config_path);
	int r = gf_config_load(path, out, &err);
	if (r < 0) {
		fprintf(stderr, "guestflow: %s\n", err.text[0] ? err.text : gf_strerror(r));
		return GF_EXIT_CONFIG;
	}
	gf_log_set_level((*out)->log_level);
	/* (a job file misnamed is a job that does not run: said by every
	 * command, check-config and timers included) */
	for (size_t i = 0; i < (*out)->n_unread_job_files; i++)
		fprintf(stderr, "guestflow: warning: %s is not read: job files are named *.yaml (rename it to run"
		        " its job)\n", gf_log_qt((*out)->unread_job_files[i]));
	return 0;
}

int gf_cmd_open(const struct gf_cmd_ctx *ctx, struct gf_config **cfg, PGconn **db)
{
	int r = gf_cmd_load_config(ctx, cfg);
	if (r)
		return r;
	if (gf_db_connect((*cfg)->conninfo, db) < 0) {
		fprintf(stderr, "guestflow: cannot connect to the database (see the db_connect_failed line above)\n");
		gf_config_free(*cfg);
		*cfg = NULL;
		return GF_EXIT_TEMPFAIL;
	}
	return 0;
}

int gf_cmd_open_current(const struct gf_cmd_ctx *ctx, struct gf_config **cfg, PGconn **db)
{
	int r = gf_cmd_open(ctx, cfg, db);
	if (r)
		return r;
	int v = gf_schema_version(*db);
	if (v >= -1 && v == gf_schema_version_known()) {
		/* Who changes a connection, as the activity log records it: the
		 * Unix user (the column's default reads it; the database role is
		 * added when it differs). */
		char who[300];
		const struct passwd *pw = getpwuid(getuid());
		/* (sudo -u guestflow: the operator behind it named too) */
		const char *sudo = getenv("SUDO_USER");
		if (pw)
			snprintf(who, sizeof(who), "%s%s%s", pw->pw_name, sudo && *sudo ? " via sudo from " : "",
			         sudo && *sudo ? sudo : "");
		else
			snprintf(who, sizeof(who), "uid %u", (unsigned)getuid());
		int r2 = gf_db_exec(*db, "set_actor", "SELECT set_config('guestflow.actor', $1, false)", 1,
		                    (const char *[]){ who });
		if (r2 == 0)
			return 0;
		v = r2;
	}
	/* (gf_schema_check() says which, and what to do) */
	int s = v < -1 ? v : gf_schema_check(*db);
	PQfinish(*db);
	*db = NULL;
	gf_config_free(*cfg);
	*cfg = NULL;
	return s == -GF_E_SCHEMA ? GF_EXIT_CONFIG : gf_cmd_db_error(s);
}

const struct gf_job *gf_cmd_find_job(const struct gf_config *cfg, const char *name, const char *verb)
{
	const struct gf_job *job = gf_config_find_job(cfg, name);
	if (!job) {
		fprintf(stderr, "guestflow %s: no job '%s' in %s; jobs:", verb, name, cfg->jobs_dir);
		for (size_t i = 0; i < cfg->n_jobs; i++)
			fprintf(stderr, " %s", cfg->jobs[i]->name);
		fprintf(stderr, "\n");
	}
	return job;
}

int gf_cmd_open_jobs(const struct gf_cmd_ctx *ctx, const char *name, const char *verb, struct gf_config **cfg,
                     PGconn **db, const struct gf_job **one, const struct gf_job *const **jobs, size_t *n)
{
	int r = gf_cmd_open(ctx, cfg, db);
	if (r)
		return r;
	*one = name ? gf_cmd_find_job(*cfg, name, verb) : NULL;
	if (name && !*one) {
		PQfinish(*db);
		*db = NULL;
		gf_config_free(*cfg);
		*cfg = NULL;
		return GF_EXIT_USAGE;
	}
	*jobs = *one ? one : (const struct gf_job *const *)(*cfg)->jobs;
	*n = *one ? 1 : (*cfg)->n_jobs;
	return 0;
}

int gf_cmd_db_error(int r)
{
	return r == -GF_E_DB_LOST ? GF_EXIT_TEMPFAIL : GF_EXIT_SOFTWARE;
}

int gf_cmd_open_secrets(const struct gf_config *cfg, PGconn *db, const char *verb)
{
	_cleanup_pgconn_ PGconn *own = NULL;
	if (!db) {
		if (gf_db_connect(cfg->conninfo, &own) < 0)
			return 0;
		db = own;
	}
	/* A schema of another version stores its secrets elsewhere, or not
	 * yet: said as such (run 'db migrate'), not as the database error
	 * reading them would be. A run, rerun or pull (own) says it itself. */
	int v = gf_schema_version(db);
	if (v >= -1 && v != gf_schema_version_known()) {
		if (own)
			return 0;
		int s = gf_schema_check(db);
		if (s < 0)
			return s == -GF_E_SCHEMA ? GF_EXIT_CONFIG : gf_cmd_db_error(s);
	}
	struct gf_secret_error err = { { 0 } };
	int r = gf_secret_open(db, cfg, &err);
	if (r == 0 || (r == -GF_E_SCHEMA && own))
		return 0;
	fprintf(stderr, "guestflow %s: %s\n", verb, err.text[0] ? err.text : gf_strerror(r));
	if (r == -GF_E_CONFIG || r == -GF_E_SCHEMA)
		return GF_EXIT_CONFIG;
	return gf_cmd_db_error(r);
}

int gf_cmd_check_value(PGconn *db, const char *verb, const char *option, const char *value, const char *sql,
                       const char *expected)
{
	char reason[512];
	int r = gf_db_check_input(db, option, sql, value, reason, sizeof(reason));
	if (r == -GF_E_DATA) {
		fprintf(stderr, "guestflow %s: %s %s is %s: the database refused it: %s\n", verb, option, gf_log_q(value),
		        expected, gf_log_qt(reason));
		return GF_EXIT_DATAERR;
	}
	return r < 0 ? gf_cmd_db_error(r) : 0;
}

int gf_cmd_job_arg(int argc, char **argv, const char *verb, const char *help, const char **name)
{
	*name = NULL;
	for (int i = 1; i < argc; i++) {
		if (argv[i][0] != '-' && !*name) {
			*name = argv[i];
		} else {
			fprintf(stderr, "guestflow %s: unexpected argument '%s'\n%s", verb, argv[i], help);
			return GF_EXIT_USAGE;
		}
	}
	return 0;
}

int gf_cmd_print_json(const char *verb, json_t *doc)
{
	if (gf_json_print(doc, stdout) == 0)
		return 0;
	fprintf(stderr, "guestflow %s: cannot write the output: %s\n", verb, gf_strerror(errno));
	return GF_EXIT_IOERR;
}

int gf_cmd_json_opt(const char *verb, bool *json)
{
	if (*json) {
		fprintf(stderr, "guestflow %s: --json given twice\n", verb);
		return GF_EXIT_USAGE;
	}
	*json = true;
	/* A reader that goes away (`| head -c 10`, a script that stopped
	 * reading) is a write error the command reports, exit 74 (EXIT
	 * STATUS), not a silent death by SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int gf_cmd_schedule_args(int argc, char **argv, const char *verb, const char *help, const char **unit_dir,
                         const char **cron)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--unit-dir") == 0 && i + 1 < argc && !*unit_dir)
			*unit_dir = argv[++i];
		else if (strcmp(argv[i], "--cron") == 0 && i + 1 < argc && !*cron)
			*cron = argv[++i];
		else {
			fprintf(stderr, "guestflow %s: unexpected argument '%s'\n%s", verb, argv[i], help);
			return GF_EXIT_USAGE;
		}
	}
	return 0;
}
