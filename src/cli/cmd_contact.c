/* guestflow contact add|list|remove: who hears about problems (seed 002). */
#include <stdio.h>
#include <string.h>

#include "cli/cmd.h"
#include "db/db.h"
#include "core/notify.h"

static const char help[] =
	"Usage: guestflow [-c FILE] contact add EMAIL --role ROLE [--name NAME]\n"
	"                               [--job JOB] [--connection PROPERTY PARTNER]\n"
	"       guestflow [-c FILE] contact list\n"
	"       guestflow [-c FILE] contact remove ID\n"
	"\n"
	"ROLE is alert (gets an e-mail for every new alert: dead deliveries, credentials\n"
	"refused, partner unreachable, failed runs in a row), technical (emergencies)\n"
	"or escalation (operational escalations). Without --job and --connection a\n"
	"contact covers every job and connection. E-mails go out through\n"
	"alerting.smtp_url of the main file, one per condition until it clears.\n";

static bool plausible_email(const char *e)
{
	const char *at = strchr(e, '@');
	return at && at != e && at[1] && !strchr(at + 1, '@') && !strpbrk(e, " \t\r\n<>,;\"");
}

int gf_cmd_contact(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	if (gf_cmd_help(argc, argv, help))
		return 0;
	if (argc < 2) {
		fputs(help, stderr);
		return GF_EXIT_USAGE;
	}
	const char *sub = argv[1];
	const char *email = NULL, *role = NULL, *name = NULL, *job = NULL, *prop = NULL, *partner = NULL;
	if (strcmp(sub, "add") == 0) {
		for (int i = 2; i < argc; i++) {
			bool v = i + 1 < argc;
			if (strcmp(argv[i], "--role") == 0 && v)
				role = argv[++i];
			else if (strcmp(argv[i], "--name") == 0 && v)
				name = argv[++i];
			else if (strcmp(argv[i], "--job") == 0 && v)
				job = argv[++i];
			else if (strcmp(argv[i], "--connection") == 0 && i + 2 < argc) {
				prop = argv[++i];
				partner = argv[++i];
			} else if (argv[i][0] != '-' && !email)
				email = argv[i];
			else {
				fprintf(stderr, "guestflow contact add: unexpected argument '%s'\n%s", argv[i], help);
				return GF_EXIT_USAGE;
			}
		}
		if (!email || !role) {
			fprintf(stderr, "guestflow contact add: needs EMAIL and --role\n");
			return GF_EXIT_USAGE;
		}
		if (strcmp(role, "alert") && strcmp(role, "technical") && strcmp(role, "escalation")) {
			fprintf(stderr, "guestflow contact add: --role must be alert, technical or escalation, got '%s'\n", role);
			return GF_EXIT_DATAERR;
		}
		if (!plausible_email(email)) {
			fprintf(stderr, "guestflow contact add: '%s' is not a plausible e-mail address\n", email);
			return GF_EXIT_DATAERR;
		}
	} else if (!((strcmp(sub, "list") == 0 && argc == 2) || (strcmp(sub, "remove") == 0 && argc == 3))) {
		fputs(help, stderr);
		return GF_EXIT_USAGE;
	}
	struct gf_config *cfg = NULL;
	PGconn *db = NULL;
	int r = gf_cmd_open(ctx, &cfg, &db);
	if (r)
		return r;
	bool unknown_job = job && !gf_cmd_find_job(cfg, job, "contact add");
	gf_config_free(cfg);
	if (unknown_job) {
		PQfinish(db);
		return GF_EXIT_DATAERR;
	}
	int64_t id = 0;
	if (strcmp(sub, "add") == 0) {
		r = gf_contact_add(db, role, email, name, job, prop, partner, &id);
		if (r == 0)
			printf("contact %lld added: %s (%s)\n", (long long)id, email, role);
		else if (r == -ENOENT)
			fprintf(stderr, "guestflow contact add: no connection %s -> %s\n", prop, partner);
	} else if (strcmp(sub, "list") == 0) {
		r = gf_contact_list(db, stdout);
	} else {
		int64_t n;
		if (gf_parse_int64(argv[2], &n) < 0) {
			fprintf(stderr, "guestflow contact remove: ID must be a number\n");
			PQfinish(db);
			return GF_EXIT_USAGE;
		}
		r = gf_contact_remove(db, argv[2]);
		if (r == 0)
			printf("contact %s removed\n", argv[2]);
		else if (r == -ENOENT)
			fprintf(stderr, "guestflow contact remove: no contact %s\n", argv[2]);
	}
	PQfinish(db);
	if (r == -ENOENT)
		return GF_EXIT_DATAERR;
	return r < 0 ? gf_cmd_db_error(r) : 0;
}
