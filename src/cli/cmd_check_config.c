/* guestflow check-config: validate the main file and every job. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd.h"
#include "transport/http.h"
#include "base/log.h"
#include "core/notify.h"
#include "core/schedule.h"
#include "db/db.h"
#include "db/migrate.h"

static const char help[] =
	"Usage: guestflow [-c FILE] check-config [--unit-dir DIR] [--cron FILE] | --keys\n"
	"\n"
	"Validates the main configuration file and every job in its jobs directory\n"
	"and prints one line per job. Errors name FILE:LINE:COLUMN; exit 78 on any.\n"
	"Warns about every job that sends over plain http:// (allow_insecure_http),\n"
	"and checks that the SMTP password of alerting can be read. Warns where an\n"
	"installed timer (DIR/guestflow@JOB.timer.d/, DIR: /etc/systemd/system) or\n"
	"the cron file (/etc/cron.d/guestflow) disagrees with a job's schedule:\n"
	"'guestflow timers' writes them from the job files. When the database can be\n"
	"reached and is migrated, checks the source adapters' columns and their types\n"
	"against the contract (exit 78 naming the view, the column and its type).\n"
	"\n"
	"  --unit-dir DIR  look for the timers' drop-ins there\n"
	"  --cron FILE     the cron file to compare\n"
	"  --keys   list every key of the main file and of a job file instead, one per\n"
	"           line: file (main|job), key, type, required|optional, default,\n"
	"           range or values (tab-separated); reads no configuration\n";

/* The plain http:// URLs a job is allowed to use: worth a warning every time. */
static void warn_insecure(const struct gf_job *j)
{
	const char *keys[4];
	size_t n = gf_http_insecure_urls(j, keys, GF_ARRAY_SIZE(keys));
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "guestflow: warning: %s: '%s' is plain http:// (allow_insecure_http: true): "
		        "%s unencrypted; meant only for a test partner on this machine\n", j->path, keys[i],
		        strcmp(keys[i], "endpoint") == 0 ? "access keys and guest data travel" : "the ping travels");
}

/* The source adapters against the contract (gf_adapter_check: the views'
 * columns and their types), as a run checks them before it plans. A
 * database not reachable, or not migrated yet, is said, not refused: the
 * configuration may well be right. */
static int check_adapters(const struct gf_config *cfg)
{
	_cleanup_pgconn_ PGconn *db = NULL;
	if (gf_db_connect(cfg->conninfo, &db) < 0) {
		printf("database: not reachable: the source adapters are not checked\n");
		return 0;
	}
	int v = gf_schema_version(db);
	if (v < -1) {
		printf("database: the source adapters could not be checked (database error)\n");
		return 0;
	}
	if (v != gf_schema_version_known()) {
		printf("database: the guestflow schema is not this binary's ('guestflow db migrate'): the source"
		       " adapters are not checked\n");
		return 0;
	}
	int r = gf_adapter_check(db);
	if (r == -GF_E_SCHEMA)
		return GF_EXIT_CONFIG;
	if (r < 0) {
		printf("database: the source adapters could not be checked (database error)\n");
		return 0;
	}
	printf("source adapters: of the contract's shape (guestflow.source_bookings, guestflow.source_properties,"
	       " guestflow.write_history)\n");
	return 0;
}

/* How alert mails would go: TLS and the SMTP credentials. The password is
 * read (then dropped) to prove it can be; a systemd credential can only be
 * checked from inside the service, where $CREDENTIALS_DIRECTORY is set. */
static int check_smtp(const struct gf_config *cfg, char *line, size_t size)
{
	long use_ssl = CURLUSESSL_ALL;
	if (!cfg->smtp_url)
		return 0;
	if (gf_smtp_tls(cfg->smtp_url, &use_ssl) < 0) {
		fprintf(stderr, "guestflow: %s: alerting.smtp_url cannot be read as an SMTP URL\n", cfg->path);
		return GF_EXIT_CONFIG;
	}
	const char *tls = use_ssl == CURLUSESSL_TRY ? "STARTTLS when the server offers it (loopback)"
	                  : strncmp(cfg->smtp_url, "smtps://", 8) == 0 ? "TLS (smtps)"
	                                                               : "STARTTLS required";
	char *user = NULL, *password = NULL, *source = NULL, err[512] = "";
	const char *creds = getenv("CREDENTIALS_DIRECTORY");
	if (!cfg->smtp_password_file && (!creds || !*creds)) {
		snprintf(line, size, "alerting: mail over %s; SMTP AUTH only when the service has the "
		         "systemd credential smtp-password (not visible here)\n", tls);
		return 0;
	}
	int r = gf_smtp_credentials(cfg, &user, &password, &source, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "guestflow: %s: alerting: %s\n", cfg->path, err);
		return GF_EXIT_CONFIG;
	}
	if (user)
		snprintf(line, size, "alerting: mail over %s; SMTP AUTH as '%s' with the password from %s\n",
		         tls, user, source);
	else
		snprintf(line, size, "alerting: mail over %s; no SMTP AUTH\n", tls);
	if (password)
		explicit_bzero(password, strlen(password));
	free(password);
	free(user);
	free(source);
	return 0;
}

int gf_cmd_check_config(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	if (gf_cmd_help(argc, argv, help))
		return 0;
	if (argc == 2 && strcmp(argv[1], "--keys") == 0) {
		gf_config_print_keys(stdout);
		return 0; /* (a write that failed: 74, main.c) */
	}
	const char *unit_dir = NULL, *cron = NULL;
	if (gf_cmd_schedule_args(argc, argv, "check-config", help, &unit_dir, &cron))
		return GF_EXIT_USAGE;
	struct gf_config *cfg = NULL;
	int r = gf_cmd_load_config(ctx, &cfg);
	if (r)
		return r;
	char smtp[1024] = "";
	if ((r = check_smtp(cfg, smtp, sizeof(smtp))) != 0) {
		gf_config_free(cfg);
		return r;
	}
	printf("%s: ok, %zu job%s in %s\n", cfg->path, cfg->n_jobs, cfg->n_jobs == 1 ? "" : "s", cfg->jobs_dir);
	for (size_t i = 0; i < cfg->n_jobs; i++) {
		const struct gf_job *j = cfg->jobs[i];
		printf("job %s: %s, partner %s, format %s, endpoint %s, schedule \"%s\", batches of %d, %d in flight%s%s (%s)\n",
		       j->name, j->enabled ? "enabled" : "disabled", j->partner, j->format, j->endpoint,
		       j->schedule, j->max_records, j->in_flight, j->proxy ? ", proxy " : "",
		       j->proxy ? j->proxy : "", j->path);
		warn_insecure(j);
		const struct gf_job *twin = j->enabled ? gf_config_twin_job(cfg, j) : NULL;
		if (twin && strcmp(twin->name, j->name) > 0)
			fprintf(stderr, "guestflow: warning: %s and %s: jobs '%s' and '%s' both send to partner %s at %s and"
			        " select the same statuses: a booking both select is sent twice, once by each (a copied"
			        " job file? a job renamed without 'guestflow db rename-job'?)\n", j->path, twin->path,
			        j->name, twin->name, j->partner, j->endpoint);
	}
	fputs(smtp, stdout);
	/* Where each partner hears of its connections' changes. */
	for (size_t i = 0; i < cfg->n_partners; i++)
		printf("partner %s: told of its connections' changes at %s%s\n", cfg->partners[i].partner,
		       cfg->partners[i].email, cfg->smtp_url ? "" : " (once alerting.smtp_url is set; till then the"
		       " notices wait)");
	for (size_t i = 0; i < cfg->n_jobs; i++) {
		const char *p = cfg->jobs[i]->partner;
		bool first = true;
		for (size_t k = 0; k < i && first; k++)
			first = strcmp(cfg->jobs[k]->partner, p) != 0;
		if (first && !gf_config_partner_email(cfg, p))
			printf("partner %s: no partners.%s.email; told of a connection's changes only where the connection"
			       " names an address (connection set-partner-email)\n", p, p);
	}
	/* One schedule: the timers and the cron file as the job files say. */
	fflush(stdout);
	gf_schedule_check(cfg, unit_dir ? unit_dir : GF_UNIT_DIR, cron ? cron : GF_CRON_FILE);
	r = check_adapters(cfg);
	gf_config_free(cfg);
	return r;
}
