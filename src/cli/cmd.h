/* The subcommands: one thin gf_cmd_<verb>() per verb over the core modules. */
#ifndef GF_CMD_H
#define GF_CMD_H

#include <jansson.h>
#include <libpq-fe.h>

#include "core/config.h"

struct gf_cmd_ctx {
	const char *config_path; /* -c FILE, or NULL for the default */
};

/* Each takes the verb's own argv (argv[0] is the verb) and returns an exit code. */
int gf_cmd_db(int argc, char **argv, const struct gf_cmd_ctx *ctx);
int gf_cmd_check_config(int argc, char **argv, const struct gf_cmd_ctx *ctx);
int gf_cmd_run(int argc, char **argv, const struct gf_cmd_ctx *ctx);
int gf_cmd_connection(int argc, char **argv, const struct gf_cmd_ctx *ctx);
int gf_cmd_rerun(int argc, char **argv, const struct gf_cmd_ctx *ctx);
int gf_cmd_explain(int argc, char **argv, const struct gf_cmd_ctx *ctx);
int gf_cmd_status(int argc, char **argv, const struct gf_cmd_ctx *ctx);
int gf_cmd_log(int argc, char **argv, const struct gf_cmd_ctx *ctx);
int gf_cmd_contact(int argc, char **argv, const struct gf_cmd_ctx *ctx);
int gf_cmd_purge(int argc, char **argv, const struct gf_cmd_ctx *ctx);
int gf_cmd_pull(int argc, char **argv, const struct gf_cmd_ctx *ctx);
int gf_cmd_status_map(int argc, char **argv, const struct gf_cmd_ctx *ctx);
int gf_cmd_suppression(int argc, char **argv, const struct gf_cmd_ctx *ctx);
int gf_cmd_timers(int argc, char **argv, const struct gf_cmd_ctx *ctx);

/* Load the configuration or print why not; returns 0 or GF_EXIT_CONFIG. */
int gf_cmd_load_config(const struct gf_cmd_ctx *ctx, struct gf_config **out);

/* Load the configuration and connect; returns 0, or an exit code after saying
 * why (then *cfg is NULL). The caller frees cfg and finishes db. */
int gf_cmd_open(const struct gf_cmd_ctx *ctx, struct gf_config **cfg, PGconn **db);
/* gf_cmd_open(), for a command that reads or writes guestflow's tables:
 * a schema of another version than this binary's is an error that says to
 * run 'guestflow db migrate' (exit 78), not a database error. */
int gf_cmd_open_current(const struct gf_cmd_ctx *ctx, struct gf_config **cfg, PGconn **db);

/* The job called name, or NULL after listing the jobs there are. */
const struct gf_job *gf_cmd_find_job(const struct gf_config *cfg, const char *name, const char *verb);

/* gf_cmd_open(), then the jobs a command works on: the one called name, or
 * every job when name is NULL (*jobs points into *cfg, or at *one). Returns
 * 0, or an exit code after saying why (then nothing is left open). */
int gf_cmd_open_jobs(const struct gf_cmd_ctx *ctx, const char *name, const char *verb, struct gf_config **cfg,
                     PGconn **db, const struct gf_job **one, const struct gf_job *const **jobs, size_t *n);

/* Load the key for the stored access keys (gf_secret_open) on db, or on a
 * session of its own when db is NULL. Returns 0, or an exit code after
 * saying why on stderr: 78 for the key file (missing, unreadable, wrong),
 * 75/70 for the database. With db NULL, an unreachable database or an old
 * schema return 0: the caller's own connection reports those. */
int gf_cmd_open_secrets(const struct gf_config *cfg, PGconn *db, const char *verb);

/* Whether the database reads value, given as option, the way sql casts it
 * ("SELECT $1::date", the cast the command's statement applies): 0, or an
 * exit code after saying why on stderr: 65 naming the option and the value
 * when the server refused the value (by its SQLSTATE, gf_db_check_input;
 * expected says what the option takes), 75/70 when the database failed. */
int gf_cmd_check_value(PGconn *db, const char *verb, const char *option, const char *value, const char *sql,
                       const char *expected);

/* Exit code for a database error: 75 when the connection was lost, else 70. */
int gf_cmd_db_error(int r);

/* Write a --json document (gf_json_print; doc is released): 0, or 74 after
 * saying on stderr why the output could not be written (a full disk, a
 * closed pipe). */
int gf_cmd_print_json(const char *verb, json_t *doc);
/* A --json option: sets *json, or says it was given twice and returns
 * GF_EXIT_USAGE. */
int gf_cmd_json_opt(const char *verb, bool *json);

/* The options of check-config and timers: [--unit-dir DIR] [--cron FILE],
 * each at most once. 0, or GF_EXIT_USAGE after printing help. */
int gf_cmd_schedule_args(int argc, char **argv, const char *verb, const char *help, const char **unit_dir,
                         const char **cron);

/* When argv asks for help (-h or --help), print help on stdout and return
 * true: the command then exits 0. */
bool gf_cmd_help(int argc, char **argv, const char *help);
/* The arguments of a command that takes [JOB] alone: *name (NULL: every
 * job), or GF_EXIT_USAGE after printing help. */
int gf_cmd_job_arg(int argc, char **argv, const char *verb, const char *help, const char **name);

#endif
