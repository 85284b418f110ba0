/* guestflow suppression list|remove: the addresses no job sends to any
 * partner, and lifting one by hand. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "cli/cmd.h"
#include "core/jsonout.h"
#include "core/suppression.h"
#include "db/db.h"

static const char help[] =
	"Usage: guestflow [-c FILE] suppression list [EMAIL] [--json]\n"
	"       guestflow [-c FILE] suppression remove EMAIL --reason TEXT [--force]\n"
	"\n"
	"The suppression list: the guests' e-mail addresses that no job sends to any\n"
	"partner, because a partner reported them bounced or unsubscribed ('guestflow\n"
	"pull'). list shows each address (or EMAIL's), why, since when and who reported\n"
	"it. remove takes EMAIL off the list, when the guest has fixed the mailbox that\n"
	"bounced or asked the hotel again for the partners' e-mails:\n"
	"  --reason TEXT  why (required); kept with who removed it and when, in\n"
	"                 guestflow.suppression_removals\n"
	"  --force        also an unsubscribe, which is the guest's own request\n"
	"The guest's bookings inside a job's window are planned by its next run;\n"
	"deliveries the suppression withdrew stay rejected, and remove prints the\n"
	"rerun that sends them. Addresses are compared lower-cased and trimmed, as the\n"
	"eligibility rules compare them. list --json writes one JSON document\n"
	"(guestflow(1), JSON OUTPUT). Exit 0; 65 when EMAIL is not on the list (list:\n"
	"after an empty list), or is an unsubscribe and --force was not given.\n";

struct args {
	bool list, remove, json, force;
	const char *email, *reason;
};

static int parse(int argc, char **argv, struct args *a)
{
	a->list = strcmp(argv[1], "list") == 0;
	a->remove = strcmp(argv[1], "remove") == 0;
	if (!a->list && !a->remove)
		goto usage;
	for (int i = 2; i < argc; i++) {
		const char *v = argv[i];
		if (a->list && strcmp(v, "--json") == 0) {
			if (gf_cmd_json_opt("suppression list", &a->json))
				return GF_EXIT_USAGE;
		} else if (a->remove && strcmp(v, "--force") == 0 && !a->force) {
			a->force = true;
		} else if (a->remove && strcmp(v, "--reason") == 0 && !a->reason && i + 1 < argc) {
			a->reason = argv[++i];
		} else if (v[0] != '-' && !a->email) {
			a->email = v;
		} else {
			fprintf(stderr, "guestflow suppression %s: unexpected argument %s\n", argv[1], gf_log_qt(v));
			goto usage;
		}
	}
	if (a->remove && (!a->email || !a->reason))
		goto usage;
	if (a->remove && strspn(a->reason, " \t\r\n") == strlen(a->reason)) {
		fprintf(stderr, "guestflow suppression remove: --reason is empty: say why the address may be sent again\n");
		return GF_EXIT_USAGE;
	}
	return 0;
usage:
	fputs(help, stderr);
	return GF_EXIT_USAGE;
}

static int remove_one(PGconn *db, const struct args *a)
{
	struct gf_suppression_removed rm;
	int r = gf_suppression_remove(db, a->email, a->reason, a->force, &rm);
	if (r == -ENOENT) {
		fprintf(stderr, "guestflow suppression remove: %s is not on the suppression list\n", gf_log_qt(a->email));
	} else if (r == -EPERM) {
		fprintf(stderr, "guestflow suppression remove: %s unsubscribed: that is the guest's own request; remove it"
		        " only on the guest's word, with --force\n", gf_log_qt(rm.email));
	} else if (r == 0) {
		printf("%s removed from the suppression list (it was %s)\n", gf_log_qt(rm.email), rm.reason);
		if (rm.withdrawn == 0)
			printf("the guest's bookings inside a job's window are planned by its next run\n");
		else
			printf("the guest's bookings inside a job's window are planned by its next run; %lld deliver%s the"
			       " suppression withdrew stay%s rejected, sent by:\n", (long long)rm.withdrawn,
			       rm.withdrawn == 1 ? "y" : "ies", rm.withdrawn == 1 ? "s" : "");
		for (size_t i = 0; i < rm.n_jobs; i++)
			printf("  guestflow rerun %s --booking %s\n", gf_log_qt(rm.jobs[i]), gf_log_qt(rm.booking_nos[i]));
	}
	gf_suppression_removed_free(&rm);
	return r;
}

int gf_cmd_suppression(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	if (gf_cmd_help(argc, argv, help))
		return 0;
	if (argc < 2) {
		fputs(help, stderr);
		return GF_EXIT_USAGE;
	}
	struct args a = { 0 };
	int r = parse(argc, argv, &a);
	if (r)
		return r;
	struct gf_config *cfg = NULL;
	PGconn *db = NULL;
	if ((r = gf_cmd_open_current(ctx, &cfg, &db)))
		return r;
	gf_config_free(cfg);
	if (a.remove) {
		r = remove_one(db, &a);
	} else {
		json_t *doc = a.json ? gf_json_doc() : NULL;
		int64_t n = 0;
		r = gf_suppression_list(db, a.email, doc, stdout, &n);
		if (r == 0 && doc) {
			PQfinish(db);
			int w = gf_cmd_print_json("suppression list", doc);
			return w ? w : a.email && n == 0 ? GF_EXIT_DATAERR : 0;
		}
		json_decref(doc);
		if (r == 0 && a.email && n == 0) {
			fprintf(stderr, "guestflow suppression list: %s is not on the suppression list\n", gf_log_qt(a.email));
			r = -ENOENT;
		}
	}
	PQfinish(db);
	if (r == -ENOENT || r == -EPERM)
		return GF_EXIT_DATAERR;
	return r < 0 ? gf_cmd_db_error(r) : 0;
}
