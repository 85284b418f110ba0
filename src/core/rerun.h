/* Reruns: putting deliveries back in the queue by hand. */
#ifndef GF_RERUN_H
#define GF_RERUN_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/source.h"

struct gf_rerun_result {
	int64_t batches;
	int64_t deliveries;
};

struct gf_rerun_select {
	const char *const *booking_nos; /* --booking NO...; NULL: by dates */
	size_t n_booking_nos;
	const char *from, *to;          /* --from/--to: checkout dates, inclusive */
	bool force;                     /* also re-send what was delivered */
};

struct gf_rerun_counts {
	int64_t matched;     /* bookings in the source that match the selection */
	int64_t planned;     /* never sent before (e.g. outside the window): planned now */
	int64_t requeued;    /* rejected or dead, or delivered with --force: queued again */
	int64_t delivered_skipped; /* delivered, not re-sent without --force */
	int64_t already_queued;    /* pending or being sent already */
	int64_t held_skipped;      /* dead after an attempt that may have reached the partner: not
	                            * sent as new without --force (rerun --dead resends them) */
	int64_t not_eligible;      /* no e-mail, no name, notify off, not checked out, no live connection */
	int64_t purged_skipped;    /* no delivery, but checked out before the job's purge horizon: its
	                            * delivery may have been purged; not sent without force */
	struct gf_source_faults unreadable; /* selected, but the source view raises an error for them:
	                                     * not queued, each with the database's message (the caller
	                                     * frees them: gf_source_faults_free) */
};

/* Queue the selected bookings again for the job, in one transaction: bookings
 * that were never planned get deliveries (the job's window does not apply; the
 * other eligibility rules do), rejected and dead ones (and delivered ones with
 * force) go back to pending outside their old batch, marked as a rerun so that
 * their history entries say so. A selected booking the source view raises an
 * error for is not queued (out->unreadable, logged); the others are. */
int gf_rerun_select(PGconn *c, const struct gf_job *job, const struct gf_rerun_select *sel,
                    struct gf_rerun_counts *out);

/* Reopen the job's dead batches: attempts start again, members and
 * Idempotency-Key stay (a partner that saw the batch under that key
 * deduplicates it), the dead deliveries become pending, and the open
 * dead_deliveries alerts of the job are cleared. One transaction. */
int gf_rerun_dead(PGconn *c, const char *job, struct gf_rerun_result *out);

#endif
