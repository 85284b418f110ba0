/* Carrying a job's record over to a new name (guestflow db rename-job). A
 * job is its name: the deliveries that keep a booking from being sent twice
 * are keyed by it, so a job file renamed without its record would send
 * every booking of its window again. */
#ifndef GF_JOBRENAME_H
#define GF_JOBRENAME_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most tables with a job column the result reports on. */
#define GF_RENAME_TABLES 16

struct gf_rename_result {
	size_t n;
	struct {
		char table[64];
		int64_t rows;
	} t[GF_RENAME_TABLES];
};

/* Refusals: the caller's exit code for each (GF_EXIT_*), why in *why. */
enum {
	GF_RENAME_OK = 0,
	GF_RENAME_NOTHING,   /* no record under old */
	GF_RENAME_TAKEN,     /* new has a record of its own */
	GF_RENAME_PARTNER,   /* old's deliveries went to another partner than new's */
	GF_RENAME_RUNNING,   /* a run of old has not ended, or holds a batch under a lease */
};

/* In one transaction: every row of every guestflow table with a job column
 * (found in the catalog, so that a table added later is never left behind)
 * moved from old to new, after checking that old has a record, that new has
 * none of its own (contacts aside: they may be added for the new name
 * first), that old's deliveries went to partner (new's partner), and that
 * no run of old is going on: none under a lease, none unfinished unless its
 * process is known dead (this host, no such pid) or force. Returns 0 with
 * *refusal set (GF_RENAME_*, why says it in a sentence naming the rows),
 * or < 0 for a database error (logged; nothing changed). */
int gf_job_rename(PGconn *c, const char *old, const char *new_name, const char *partner, bool force,
                  int *refusal, char *why, size_t whylen, struct gf_rename_result *out);

#endif
