/* guestflow status-map set|list|remove: what a PMS status is called for a
 * partner (seed 004). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "cli/cmd.h"
#include "core/normalize.h"
#include "core/record.h"
#include "core/status_map.h"
#include "db/db.h"

static const char help[] =
	"Usage: guestflow [-c FILE] status-map set PARTNER PMS_STATUS PARTNER_STATUS\n"
	"       guestflow [-c FILE] status-map list [PARTNER]\n"
	"       guestflow [-c FILE] status-map remove PARTNER PMS_STATUS\n"
	"\n"
	"What a booking's PMS status is sent as to a partner. The reference statuses\n"
	"(confirmed, in_house, checked_out, cancelled, no_show) are sent as they are\n"
	"unless mapped; a booking with any other status is not sent to a partner\n"
	"until its status is mapped for that partner ('explain' names the rule).\n"
	"Which statuses a job sends at all is its selection.statuses (default\n"
	"[checked_out]). PARTNER is a job's partner or one with connections.\n";

/* 0 when a job names the partner or the database knows it, else 65 after
 * saying why. */
static int known_partner(const struct gf_config *cfg, PGconn *db, const char *partner)
{
	for (size_t i = 0; i < cfg->n_jobs; i++)
		if (strcmp(cfg->jobs[i]->partner, partner) == 0)
			return 0;
	int err = 0;
	_cleanup_pgresult_ PGresult *r = gf_db_query(db, &err, "partner_known",
		"SELECT 1 FROM guestflow.partners WHERE id = $1", 1, (const char *[]){ partner });
	if (!r)
		return gf_cmd_db_error(err);
	if (PQntuples(r) > 0)
		return 0;
	fprintf(stderr, "guestflow status-map: no job and no connection names partner %s; the jobs' partners:",
	        gf_log_qt(partner));
	for (size_t i = 0; i < cfg->n_jobs; i++)
		fprintf(stderr, " %s", gf_log_qt(cfg->jobs[i]->partner));
	fputc('\n', stderr);
	return GF_EXIT_DATAERR;
}

/* A job of the partner that sends the status, or a note that none does. */
static void note_selection(const struct gf_config *cfg, const char *partner, const char *status)
{
	for (size_t i = 0; i < cfg->n_jobs; i++) {
		const struct gf_job *j = cfg->jobs[i];
		for (size_t s = 0; strcmp(j->partner, partner) == 0 && s < j->statuses.n; s++)
			if (strcmp(j->statuses.v[s], status) == 0)
				return;
	}
	printf("note: no job of partner %s sends status %s (its selection.statuses)\n", gf_log_qt(partner),
	       gf_log_qt(status));
}

int gf_cmd_status_map(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	if (gf_cmd_help(argc, argv, help))
		return 0;
	const char *sub = argc > 1 ? argv[1] : "";
	bool set = strcmp(sub, "set") == 0 && argc == 5, remove = strcmp(sub, "remove") == 0 && argc == 4,
	     list = strcmp(sub, "list") == 0 && argc <= 3;
	if (!set && !remove && !list) {
		fputs(help, stderr);
		return GF_EXIT_USAGE;
	}
	char why[256] = "";
	for (int i = 2; i < argc; i++) {
		size_t n = strlen(argv[i]);
		if (gf_text_check(argv[i], SIZE_MAX, why, sizeof(why)) == 0 &&
		    (n == 0 || strchr(" \t", argv[i][0]) || strchr(" \t", argv[i][n - 1])))
			snprintf(why, sizeof(why), "%s", n == 0 ? "empty" : "white space around it (statuses are compared"
			         " and sent exactly; a PMS status with spaces around it: trim it in the source view)");
		if (*why) {
			/* (gf_log_q: quoted when it holds spaces, so that they are seen) */
			fprintf(stderr, "guestflow status-map %s: %s refused: %s\n", sub, gf_log_q(argv[i]), why);
			return GF_EXIT_DATAERR;
		}
	}
	if (set && gf_record_check_status(argv[4], why, sizeof(why)) < 0) {
		fprintf(stderr, "guestflow status-map set: PARTNER_STATUS %s refused, no record could carry it: %s\n",
		        gf_log_qt(argv[4]), why);
		return GF_EXIT_DATAERR;
	}
	struct gf_config *cfg = NULL;
	PGconn *db = NULL;
	int r = gf_cmd_open_current(ctx, &cfg, &db);
	if (r)
		return r;
	if (!list || argc == 3)
		r = known_partner(cfg, db, argv[2]);
	if (r == 0 && set) {
		bool changed = false;
		r = gf_status_map_set(db, argv[2], argv[3], argv[4], &changed);
		if (r == 0) {
			printf("%s: PMS status %s is sent as %s%s\n", gf_log_qt(argv[2]), gf_log_qt(argv[3]),
			       gf_log_qt(argv[4]), changed ? "" : " (unchanged)");
			note_selection(cfg, argv[2], argv[3]);
		}
	} else if (r == 0 && remove) {
		r = gf_status_map_remove(db, argv[2], argv[3]);
		if (r == 0)
			printf("%s: PMS status %s is no longer mapped\n", gf_log_qt(argv[2]), gf_log_qt(argv[3]));
		else if (r == -ENOENT)
			fprintf(stderr, "guestflow status-map remove: %s has no mapping for %s\n", gf_log_qt(argv[2]),
			        gf_log_qt(argv[3]));
	} else if (r == 0) {
		const char **partners = gf_xcalloc(cfg->n_jobs + 1, sizeof(*partners));
		size_t n = 0;
		if (argc == 3)
			partners[n++] = argv[2];
		for (size_t i = 0; argc == 2 && i < cfg->n_jobs; i++)
			partners[n++] = cfg->jobs[i]->partner;
		r = gf_status_map_list(db, partners, n, stdout, argc == 3);
		free(partners);
	}
	PQfinish(db);
	gf_config_free(cfg);
	if (r == -ENOENT)
		return GF_EXIT_DATAERR;
	return r < 0 ? gf_cmd_db_error(r) : r;
}
