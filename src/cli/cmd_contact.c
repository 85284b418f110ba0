/* guestflow contact add|edit|list|remove: who hears about problems (seed 002). */
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "cli/cmd.h"
#include "db/db.h"
#include "base/log.h"
#include "core/jsonout.h"
#include "core/normalize.h"
#include "core/notify.h"

static const char help[] =
	"Usage: guestflow [-c FILE] contact add EMAIL --role ROLE [--name NAME]\n"
	"                               [--job JOB] [--connection PROPERTY PARTNER]\n"
	"                               [--hours HH:MM-HH:MM --time-zone ZONE]\n"
	"       guestflow [-c FILE] contact edit ID [--email EMAIL] [--role ROLE] [--name NAME]\n"
	"                               [--hours HH:MM-HH:MM | --no-hours] [--time-zone ZONE]\n"
	"       guestflow [-c FILE] contact list [--json]\n"
	"       guestflow [-c FILE] contact remove ID\n"
	"\n"
	"ROLE says what a contact hears of (seed 002): alert, every new alert (dead\n"
	"deliveries, credentials refused, partner unreachable, failed runs in a row,\n"
	"a connection stopped or deactivated); technical, what needs a hand on a\n"
	"connection (credentials refused, an id or secret the format cannot carry, a\n"
	"connection stopped or deactivated); escalation, a job failing\n"
	"alerting.failed_runs runs in a row. 'connection activate' wants an alert and\n"
	"a technical contact covering the connection. Without --job and --connection\n"
	"a contact covers every job and connection. --hours is when the contact can\n"
	"be reached, every day, in --time-zone (an IANA name such as Europe/Berlin;\n"
	"an end before the start spans midnight). E-mails go out through\n"
	"alerting.smtp_url of the main file, one per condition until it clears.\n"
	"list --json writes one JSON document (guestflow(1), JSON OUTPUT).\n";

static bool plausible_email(const char *e)
{
	const char *at = strchr(e, '@');
	return at && at != e && at[1] && !strchr(at + 1, '@') && !strpbrk(e, " \t\r\n<>,;\"");
}

/* The options of add and edit, checked: 0, or an exit code after saying why. */
static int parse(int argc, char **argv, bool add, struct gf_contact *k, const char **lead)
{
	const char *sub = argv[1];
	for (int i = 2; i < argc; i++) {
		bool v = i + 1 < argc;
		const char **to = NULL;
		if (strcmp(argv[i], "--role") == 0)
			to = &k->role;
		else if (strcmp(argv[i], "--name") == 0)
			to = &k->name;
		else if (strcmp(argv[i], "--hours") == 0)
			to = &k->hours;
		else if (strcmp(argv[i], "--time-zone") == 0)
			to = &k->time_zone;
		else if (!add && strcmp(argv[i], "--email") == 0)
			to = &k->email;
		else if (add && strcmp(argv[i], "--job") == 0)
			to = &k->job;
		/* (a value that starts with '-' is an option forgotten its value) */
		if (to && v && !*to && argv[i + 1][0] != '-') {
			*to = argv[++i];
		} else if (add && strcmp(argv[i], "--connection") == 0 && i + 2 < argc && !k->property) {
			k->property = argv[++i];
			k->partner = argv[++i];
		} else if (!add && strcmp(argv[i], "--no-hours") == 0) {
			k->clear_hours = true;
		} else if (!to && argv[i][0] != '-' && !*lead) {
			*lead = argv[i];
		} else {
			fprintf(stderr, "guestflow contact %s: unexpected argument '%s'\n%s", sub, argv[i], help);
			return GF_EXIT_USAGE;
		}
	}
	if (!*lead || (add && !k->role)) {
		fprintf(stderr, "guestflow contact %s: needs %s\n", sub, add ? "EMAIL and --role" : "ID");
		return GF_EXIT_USAGE;
	}
	if (add)
		k->email = *lead;
	if (k->clear_hours && (k->hours || k->time_zone)) {
		fprintf(stderr, "guestflow contact edit: --no-hours removes the hours and the time zone; not with"
		        " --hours or --time-zone\n");
		return GF_EXIT_USAGE;
	}
	if (add && k->hours && !k->time_zone) {
		fprintf(stderr, "guestflow contact add: --hours needs --time-zone (hours mean nothing without one)\n");
		return GF_EXIT_USAGE;
	}
	if (k->role && strcmp(k->role, "alert") && strcmp(k->role, "technical") && strcmp(k->role, "escalation")) {
		fprintf(stderr, "guestflow contact %s: --role must be alert, technical or escalation, got %s\n", sub,
		        gf_log_qt(k->role));
		return GF_EXIT_DATAERR;
	}
	if (k->email && !plausible_email(k->email)) {
		fprintf(stderr, "guestflow contact %s: %s is not a plausible e-mail address\n", sub, gf_log_qt(k->email));
		return GF_EXIT_DATAERR;
	}
	char why[256];
	if (k->hours && gf_contact_check_hours(k->hours, why, sizeof(why)) < 0) {
		fprintf(stderr, "guestflow contact %s: --hours refused: %s\n", sub, why);
		return GF_EXIT_DATAERR;
	}
	/* shown in 'contact list' and alert mails: text, nothing to drive a
	 * terminal or a mail header */
	const char *texts[][2] = { { "--name", k->name }, { "--time-zone", k->time_zone } };
	for (size_t t = 0; t < 2; t++)
		if (texts[t][1] && gf_text_check(texts[t][1], SIZE_MAX, why, sizeof(why)) < 0) {
			fprintf(stderr, "guestflow contact %s: %s refused: %s\n", sub, texts[t][0], why);
			return GF_EXIT_DATAERR;
		}
	return 0;
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
	bool add = strcmp(sub, "add") == 0, edit = strcmp(sub, "edit") == 0;
	struct gf_contact k = { 0 };
	const char *lead = NULL;
	int64_t n;
	bool json = false;
	if (add || edit) {
		int r = parse(argc, argv, add, &k, &lead);
		if (r)
			return r;
		if (edit && gf_parse_int64(lead, &n) < 0) {
			fprintf(stderr, "guestflow contact edit: ID must be a number\n");
			return GF_EXIT_USAGE;
		}
	} else if (strcmp(sub, "list") == 0) {
		for (int i = 2; i < argc; i++) {
			if (strcmp(argv[i], "--json") != 0) {
				fprintf(stderr, "guestflow contact list: unexpected argument '%s'\n%s", argv[i], help);
				return GF_EXIT_USAGE;
			}
			if (gf_cmd_json_opt("contact list", &json))
				return GF_EXIT_USAGE;
		}
	} else if (!(strcmp(sub, "remove") == 0 && argc == 3)) {
		fputs(help, stderr);
		return GF_EXIT_USAGE;
	}
	struct gf_config *cfg = NULL;
	PGconn *db = NULL;
	int r = gf_cmd_open_current(ctx, &cfg, &db);
	if (r)
		return r;
	bool unknown_job = k.job && !gf_cmd_find_job(cfg, k.job, "contact add");
	gf_config_free(cfg);
	if (unknown_job) {
		PQfinish(db);
		return GF_EXIT_DATAERR;
	}
	int64_t id = 0;
	if (add) {
		r = gf_contact_add(db, &k, &id);
		if (r == 0)
			printf("contact %lld added: %s (%s)\n", (long long)id, gf_log_qt(k.email), k.role);
		else if (r == -ENOENT)
			fprintf(stderr, "guestflow contact add: no connection %s -> %s\n", gf_log_qt(k.property),
			        gf_log_qt(k.partner));
	} else if (edit) {
		r = gf_contact_edit(db, lead, &k);
		if (r == 0)
			printf("contact %s changed\n", lead);
		else if (r == -ENOENT)
			fprintf(stderr, "guestflow contact edit: no contact %s\n", lead);
		else if (r == -EDOM)
			fprintf(stderr, "guestflow contact edit: contact %s has no time zone: give --time-zone with"
			        " --hours\n", lead);
	} else if (strcmp(sub, "list") == 0) {
		json_t *doc = json ? gf_json_doc() : NULL;
		r = gf_contact_list(db, doc, stdout);
		if (r == 0 && doc) {
			PQfinish(db);
			return gf_cmd_print_json("contact list", doc);
		}
		json_decref(doc);
	} else {
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
	if (r == -EINVAL)
		fprintf(stderr, "guestflow contact %s: --time-zone %s is not a time zone PostgreSQL knows (an IANA name"
		        " such as Europe/Berlin; SELECT name FROM pg_timezone_names lists them)\n", sub,
		        gf_log_qt(k.time_zone));
	if (r == -ENOENT || r == -EDOM || r == -EINVAL)
		return GF_EXIT_DATAERR;
	return r < 0 ? gf_cmd_db_error(r) : 0;
}
