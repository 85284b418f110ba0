/* guestflow rerun JOB (--booking NO... | --from DATE --to DATE | --dead): send again by hand. */
#include <stdio.h>
#include <string.h>

#include "cli/cmd.h"
#include "db/db.h"
#include "core/rerun.h"
#include "core/run.h"
#include "core/secret.h"
#include "base/signals.h"

static const char help[] =
	"Usage: guestflow [-c FILE] rerun JOB (--booking [--] NO... | --from DATE --to DATE | --dead)\n"
	"                                 [--force] [--no-run]\n"
	"\n"
	"Puts bookings back in JOB's queue by hand, then runs the job (unless --no-run)\n"
	"and prints what it did.\n"
	"\n"
	"  --booking NO...        these booking numbers; after --booking, -- ends the\n"
	"                         options: every argument after it is a booking\n"
	"                         number, also one beginning with '-' (options go\n"
	"                         before --booking)\n"
	"  --from DATE --to DATE  bookings checked out on these days (inclusive), also\n"
	"                         older than the job's window: the way to catch up after\n"
	"                         a long outage\n"
	"  --dead                 the job's dead deliveries, in their batches and under\n"
	"                         their Idempotency-Keys (after the cause was fixed)\n"
	"  --force                also re-send bookings that were delivered already,\n"
	"                         and those checked out before the job's purge horizon\n"
	"                         (their delivery may have been purged); without it\n"
	"                         they are refused\n"
	"  --no-run               only queue; the next run sends them\n"
	"\n"
	"Bookings never sent get a delivery; rejected and dead ones are queued again as\n"
	"new attempts. Their history entries end in \"(rerun)\". The other eligibility\n"
	"rules (e-mail, name, notify flag, checked out, and not in the future, live\n"
	"connection) still apply.\n"
	"A booking the source view raises an error for is named with the database's\n"
	"message and not queued; the others are.\n"
	"Exit code: that of the run (see guestflow run --help), else 0; 1 when a\n"
	"selected booking could not be read through the source view (and the run, if\n"
	"any, exited 0); 65 for a date that is none, or --from after --to.\n";

/* How many different booking numbers (one given twice is one booking). */
static size_t distinct_count(const char *const *v, size_t n)
{
	size_t d = 0;
	for (size_t i = 0; i < n; i++) {
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(v[i], v[j]) == 0;
		d += !seen;
	}
	return d;
}

int gf_cmd_rerun(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	if (gf_cmd_help(argc, argv, help))
		return 0;
	const char *name = NULL, *from = NULL, *to = NULL;
	bool dead = false, force = false, no_run = false, unreadable = false;
	const char **nos = gf_xcalloc((size_t)argc, sizeof(*nos));
	size_t n_nos = 0;
	bool bookings = false;
	int r = 0;
	for (int i = 1; i < argc && r == 0; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--booking") == 0) {
			bookings = true;
			while (i + 1 < argc && argv[i + 1][0] != '-')
				nos[n_nos++] = argv[++i];
		} else if (strcmp(a, "--") == 0 && bookings) {
			/* the end of the options: the rest are booking numbers,
			 * also those beginning with '-' */
			while (i + 1 < argc)
				nos[n_nos++] = argv[++i];
		} else if (strcmp(a, "--from") == 0 && i + 1 < argc) {
			from = argv[++i];
		} else if (strcmp(a, "--to") == 0 && i + 1 < argc) {
			to = argv[++i];
		} else if (strcmp(a, "--dead") == 0) {
			dead = true;
		} else if (strcmp(a, "--force") == 0) {
			force = true;
		} else if (strcmp(a, "--no-run") == 0) {
			no_run = true;
		} else if (a[0] != '-' && !name) {
			name = a;
		} else {
			fprintf(stderr, "guestflow rerun: unexpected argument '%s'\n%s", a, help);
			r = GF_EXIT_USAGE;
		}
	}
	int modes = (bookings ? 1 : 0) + (from || to ? 1 : 0) + (dead ? 1 : 0);
	if (r == 0 && (!name || modes != 1 || (bookings && n_nos == 0) || ((from || to) && !(from && to)) ||
	               (dead && force))) {
		fprintf(stderr, "guestflow rerun: give JOB and exactly one of --booking NO..., --from DATE --to DATE,"
		                " --dead (--force does not go with --dead)\n");
		r = GF_EXIT_USAGE;
	}
	struct gf_config *cfg = NULL;
	PGconn *db = NULL;
	if (r == 0)
		r = gf_cmd_open(ctx, &cfg, &db);
	const struct gf_job *job = r == 0 ? gf_cmd_find_job(cfg, name, "rerun") : NULL;
	if (r == 0 && !job)
		r = GF_EXIT_USAGE;
	if (r == 0 && dead) {
		struct gf_rerun_result res = { 0 };
		int e = gf_rerun_dead(db, name, &res);
		if (e < 0)
			r = gf_cmd_db_error(e);
		else
			printf("%s: %lld dead deliver%s in %lld batch%s back in the queue\n", name, (long long)res.deliveries,
			       res.deliveries == 1 ? "y" : "ies", (long long)res.batches, res.batches == 1 ? "" : "es");
	} else if (r == 0) {
		/* the dates as the selection casts them: a refusal names its option */
		static const char date_sql[] = "SELECT $1::date", date[] = "not a date (YYYY-MM-DD)";
		if (from)
			r = gf_cmd_check_value(db, "rerun", "--from", from, date_sql, date);
		/* (the selection reads --to up to the end of its day) */
		if (r == 0 && to)
			r = gf_cmd_check_value(db, "rerun", "--to", to, "SELECT $1::date + 1", date);
		int err = 0;
		PGresult *q = r == 0 && from && to ? gf_db_query(db, &err, "rerun_dates", "SELECT $1::date > $2::date", 2,
		                                                 (const char *[]){ from, to }) : NULL;
		if (err < 0)
			r = gf_cmd_db_error(err);
		else if (q && PQgetvalue(q, 0, 0)[0] == 't') {
			fprintf(stderr, "guestflow rerun: --from %s is after --to %s: no day is both\n", gf_log_qt(from),
			        gf_log_qt(to));
			r = GF_EXIT_DATAERR;
		}
		if (q)
			PQclear(q);
	}
	if (r == 0 && !dead) {
		struct gf_rerun_select sel = { .booking_nos = n_nos ? nos : NULL, .n_booking_nos = n_nos,
		                               .from = from, .to = to, .force = force };
		struct gf_rerun_counts n = { 0 };
		int e = gf_rerun_select(db, job, &sel, &n);
		if (e < 0) {
			r = gf_cmd_db_error(e);
		} else {
			printf("%s: %lld booking%s matched; queued: %lld never sent before, %lld again (rejected, dead%s)\n",
			       name, (long long)n.matched, n.matched == 1 ? "" : "s", (long long)n.planned,
			       (long long)n.requeued, force ? " or delivered" : "");
			if (n.delivered_skipped)
				printf("  %lld already delivered: not re-sent (add --force to send them again)\n",
				       (long long)n.delivered_skipped);
			if (n.purged_skipped)
				printf("  %lld checked out before the purge horizon: its delivery may have been purged, so it"
				       " may have been sent; not sent without --force\n", (long long)n.purged_skipped);
			if (n.held_skipped)
				printf("  %lld dead after an attempt that may have reached the partner: not sent as new without"
				       " --force ('guestflow rerun %s --dead' sends them again under their key)\n",
				       (long long)n.held_skipped, name);
			if (n.already_queued)
				printf("  %lld already waiting to be sent\n", (long long)n.already_queued);
			if (n.not_eligible)
				printf("  %lld not eligible (see guestflow explain BOOKING_NO)\n", (long long)n.not_eligible);
			for (size_t i = 0; i < n.unreadable.n; i++)
				printf("  not queued: %s (booking_id %lld): %s\n",
				       n.unreadable.v[i].booking_no ? gf_log_qt(n.unreadable.v[i].booking_no) : "?",
				       (long long)n.unreadable.v[i].booking_id, gf_log_qt(n.unreadable.v[i].reason));
			unreadable = n.unreadable.n > 0;
			/* (those the view cannot give are in it, but not matched) */
			int64_t distinct = (int64_t)distinct_count(nos, n_nos), found = n.matched + (int64_t)n.unreadable.n;
			gf_source_faults_free(&n.unreadable);
			if (bookings && distinct > found)
				printf("  %lld booking number%s not in guestflow.source_bookings\n",
				       (long long)(distinct - found), distinct - found == 1 ? "" : "s");
		}
	}
	if (db)
		PQfinish(db);
	free(nos);
	if (r == 0 && !no_run) {
		gf_signals_install();
		struct gf_run_stats st;
		struct gf_run_opts opts = { 0 };
		setenv("GUESTFLOW_TRIGGER", "rerun", 0);
		/* the key for the stored access keys, as for run */
		r = job->enabled ? gf_cmd_open_secrets(cfg, NULL, "rerun") : 0;
		if (r == 0) {
			r = gf_run_job(cfg, job, &opts, &st);
			gf_run_print_summary(job, &st, r);
		}
		gf_secret_close();
	} else if (r == 0) {
		printf("queued only (--no-run): the next run of %s sends them\n", name);
	}
	gf_config_free(cfg);
	return r == 0 && unreadable ? GF_EXIT_PARTIAL : r;
}
