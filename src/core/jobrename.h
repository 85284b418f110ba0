/* Carrying a job's record over to a new name (guestflow db rename-job), or
 * deleting the record of a job removed from the configuration (guestflow
 * db forget-job). A job is its name: the deliveries that keep a booking
 * from being sent twice are keyed by it, so a job file renamed without its
 * record would send every booking of its window again, and the record of a
 * removed job is reached by no purge. */
#ifndef GF_JOBRENAME_H
#define GF_JOBRENAME_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Rows moved (or deleted), per table (gf_rename_result_free). */
struct gf_rename_result {
	size_t n;
	struct gf_rename_table {
		char *table;
		int64_t rows;
	} *t;
	int64_t kept_events; /* forget: the partner events kept (they put an address on the suppression list) */
	int64_t owed_written; /* forget: history entries owed to bookings, written into the PMS first */
	int64_t owed_dropped; /* forget --force: history entries owed that the PMS still refused, forgotten */
};

void gf_rename_result_free(struct gf_rename_result *r);

/* Refusals: the caller's exit code for each (GF_EXIT_*), why in *why. */
enum {
	GF_RENAME_OK = 0,
	GF_RENAME_NOTHING,   /* no record under old */
	GF_RENAME_TAKEN,     /* new has a record of its own */
	GF_RENAME_PARTNER,   /* old's deliveries went to another partner than new's */
	GF_RENAME_RUNNING,   /* a run of old has not ended, or holds a batch under a lease */
	GF_RENAME_BUSY,      /* the deliveries' lock not had within a few seconds */
	GF_RENAME_UNKNOWN,   /* forget: a table this guestflow does not know holds rows of the job */
	GF_RENAME_OWED,      /* forget: history entries the PMS refused are still owed to bookings */
};

/* In one transaction: every row of every guestflow table with a job column
 * (found in the catalog, so that a table added later is never left behind)
 * moved from old to new, after checking that old has a record, that new has
 * not run (no run, batch or delivery of its own: what else names it, such as
 * an alert raised for every job, a pulled event, a contact or a connection
 * test's API call, is merged), that old's deliveries went to partner (new's
 * partner), and that no run of old may be going on: none holds a batch
 * under a lease, none has not recorded its end unless its process is known
 * dead (on this host: no such process, or one started after the run) or,
 * on another host, force says so. Where new has a row that only one job may
 * hold, new's stays (an open alert of the same kind: old's is cleared; a
 * contact of the same address and role: old's is dropped; the purge
 * horizons: the later one). Returns 0 with *refusal set (GF_RENAME_*, why
 * says it in a sentence naming the rows), or < 0 for a database error
 * (logged; nothing changed). */
int gf_job_rename(PGconn *c, const char *old, const char *new_name, const char *partner, bool force,
                  int *refusal, char *why, size_t whylen, struct gf_rename_result *out);

/* First the history entries the job still owes to bookings it delivered
 * (the PMS refused them when they were due) written where the PMS takes
 * them now, each in its own transaction (waiting for a booking's lock no
 * longer than lock_timeout_ms). Then in one transaction: every row of job
 * deleted from the tables of its record (runs, batches, deliveries, the
 * API-call log, partner events but those that put an address on the
 * suppression list, alerts, job-scoped contacts, the purge horizon), after
 * checking that it has a record, that no table this guestflow does not know
 * holds rows of it, that no run of it may be going on (as for
 * gf_job_rename), and that no history entry is still owed (force: forgotten
 * with the rest, counted in out->owed_dropped). The history entries written
 * into the PMS and the suppression list stay. Same refusals and return as
 * gf_job_rename (GF_RENAME_NOTHING, _RUNNING, _BUSY, _UNKNOWN), and
 * GF_RENAME_OWED. */
int gf_job_forget(PGconn *c, const char *job, bool force, int64_t lock_timeout_ms, int *refusal, char *why,
                  size_t whylen, struct gf_rename_result *out);

#endif
