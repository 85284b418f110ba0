/* The event pull (PARTNERS.md, "events pulled back"): each live connection
 * of a job, its partner's events after the stored cursor, stored with the
 * cursor in one transaction. */
#ifndef GF_PULL_H
#define GF_PULL_H

#include <libpq-fe.h>
#include <stdint.h>

#include "core/config.h"

struct gf_pull_result {
	int64_t connections; /* pulled */
	int64_t failed;      /* connections whose pull failed (logged; the others went on) */
	int64_t events;      /* new events stored */
	int64_t history;     /* history entries written for them */
	int64_t history_refused; /* entries the PMS refused (those events stored without one) */
	int64_t suppressed;  /* e-mail addresses put on the suppression list */
	int64_t rejected;    /* deliveries the partner reported it could not import */
	int64_t unqueued;    /* queued deliveries never sent, of addresses suppressed now: rejected */
	int64_t not_suppressed; /* bounces of bookings the PMS changed since they were first planned: not suppressed */
	int64_t owed_written;   /* history entries the job owed (the PMS refused them before), written now */
	int64_t owed;           /* history entries the job still owes at the end (its history_refused alert open) */
};

/* Pull every live connection of job (the secrets key open), after writing
 * the history entries the job owes where the PMS takes them now (waiting
 * for a booking's lock no longer than lock_timeout_ms); an entry the PMS
 * refuses is owed by its event (partner_events.history_pending), and the
 * job's history_refused alert is open while any is owed. 0 and *out
 * (a connection that fails is counted, not fatal: failed_pulls failures of
 * its feed in a row raise its pull_failed alert, which the next pull that
 * reads the feed clears), or a negative error: the database failed. */
int gf_pull(PGconn *c, const struct gf_job *job, int failed_pulls, int64_t lock_timeout_ms,
            struct gf_pull_result *out);

#endif
