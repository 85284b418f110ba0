/* guestflow status [JOB] [--json] and guestflow log: what operators look at. */
#include <stdio.h>
#include <string.h>

#include "core/apilog.h"
#include "cli/cmd.h"
#include "db/db.h"
#include "core/jsonout.h"
#include "core/status.h"

static const char status_help[] =
	"Usage: guestflow [-c FILE] status [JOB] [--json]\n"
	"\n"
	"Per job and connection: the last run (when, trigger, exit code, counts) and\n"
	"the queue: pending, retrying (waiting for another attempt), sending, dead,\n"
	"delivered, rejected, the age of the oldest pending delivery and the next\n"
	"attempt. A table, or with --json one JSON document for scripts (its keys:\n"
	"guestflow(1), JSON OUTPUT).\n";

static const char log_help[] =
	"Usage: guestflow [-c FILE] log [--job JOB] [--connection PROPERTY] [--since WHEN]\n"
	"                               [--errors] [--limit N] [--json]\n"
	"       guestflow [-c FILE] log --purge\n"
	"\n"
	"Shows the API-call log, one request a line, oldest first: time, job,\n"
	"property, HTTP status, latency, records, bytes, outcome, Idempotency-Key,\n"
	"URL (never the access key) and error. WHEN is a duration back from now\n"
	"(30m, 2h, 7d) or a date/time (2026-11-20, '2026-11-20 03:00'). --errors\n"
	"shows only calls that were not accepted; --limit N the newest N (default 100).\n"
	"--json writes the rows as one JSON document (guestflow(1), JSON OUTPUT).\n"
	"--purge deletes rows older than api_log.retention of the main file.\n";

int gf_cmd_status(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	if (gf_cmd_help(argc, argv, status_help))
		return 0;
	const char *name = NULL;
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			if (gf_cmd_json_opt("status", &json))
				return GF_EXIT_USAGE;
		} else if (argv[i][0] != '-' && !name)
			name = argv[i];
		else {
			fprintf(stderr, "guestflow status: unexpected argument '%s'\n%s", argv[i], status_help);
			return GF_EXIT_USAGE;
		}
	}
	struct gf_config *cfg = NULL;
	PGconn *db = NULL;
	const struct gf_job *one, *const *jobs;
	size_t n;
	int r = gf_cmd_open_jobs(ctx, name, "status", &cfg, &db, &one, &jobs, &n);
	if (r)
		return r;
	json_t *doc = json ? gf_json_doc() : NULL;
	r = gf_status(db, jobs, n, doc, stdout);
	PQfinish(db);
	gf_config_free(cfg);
	if (r < 0) {
		json_decref(doc);
		return gf_cmd_db_error(r);
	}
	return doc ? gf_cmd_print_json("status", doc) : 0;
}

int gf_cmd_log(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	if (gf_cmd_help(argc, argv, log_help))
		return 0;
	struct gf_apilog_filter f = { 0 };
	bool purge = false, json = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has_val = i + 1 < argc;
		if (strcmp(a, "--job") == 0 && has_val)
			f.job = argv[++i];
		else if (strcmp(a, "--connection") == 0 && has_val)
			f.property = argv[++i];
		else if (strcmp(a, "--since") == 0 && has_val)
			f.since = argv[++i];
		else if (strcmp(a, "--errors") == 0)
			f.errors_only = true;
		else if (strcmp(a, "--purge") == 0)
			purge = true;
		else if (strcmp(a, "--json") == 0) {
			if (gf_cmd_json_opt("log", &json))
				return GF_EXIT_USAGE;
		}
		else if (strcmp(a, "--limit") == 0 && has_val) {
			if (gf_parse_int64(argv[++i], &f.limit) < 0 || f.limit < 1) {
				fprintf(stderr, "guestflow log: --limit takes a whole number of at least 1\n");
				return GF_EXIT_USAGE;
			}
		} else {
			fprintf(stderr, "guestflow log: unexpected argument '%s'\n%s", a, log_help);
			return GF_EXIT_USAGE;
		}
	}
	if (purge && (f.job || f.property || f.since || f.errors_only || f.limit || json)) {
		fprintf(stderr, "guestflow log: --purge takes no filters nor --json (it uses api_log.retention)\n");
		return GF_EXIT_USAGE;
	}
	struct gf_config *cfg = NULL;
	PGconn *db = NULL;
	int r = gf_cmd_open(ctx, &cfg, &db);
	if (r)
		return r;
	if (purge) {
		int64_t n = 0;
		r = gf_apilog_purge(db, cfg->api_log_retention_ms, &n);
		if (r == 0)
			printf("deleted %lld API-call log row%s older than %lld days\n", (long long)n, n == 1 ? "" : "s",
			       (long long)(cfg->api_log_retention_ms / 86400000));
	} else {
		int64_t ms;
		if (f.since && gf_parse_duration_ms(f.since, &ms) < 0)
			r = gf_cmd_check_value(db, "log", "--since", f.since, gf_apilog_since_sql,
			                       "neither a duration (30m, 2h, 7d) nor a date/time");
		if (r == 0 && json) {
			json_t *doc = gf_json_doc();
			r = gf_apilog_print(db, &f, doc, stdout);
			if (r == 0) {
				PQfinish(db);
				gf_config_free(cfg);
				return gf_cmd_print_json("log", doc);
			}
			json_decref(doc);
		} else if (r == 0) {
			r = gf_apilog_print(db, &f, NULL, stdout);
		}
	}
	PQfinish(db);
	gf_config_free(cfg);
	return r > 0 ? r : r < 0 ? gf_cmd_db_error(r) : 0;
}
