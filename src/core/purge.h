/* Purging deliveries after the job's retention.deliveries, partner events
 * after its retention.events (guestflow purge). */
#ifndef GF_PURGE_H
#define GF_PURGE_H

#include <libpq-fe.h>
#include <stdint.h>

#include "core/config.h"

struct gf_purge_result {
	int64_t deliveries; /* deleted */
	int64_t batches;    /* deleted: finished, older than the retention, no delivery left */
	int64_t kept;       /* finished and older than the retention, but the booking is still
	                     * inside the job's window: not deleted */
	int64_t events;     /* partner events deleted: pulled before retention.events */
};

/* Delete the job's finished deliveries (delivered, rejected, dead) whose
 * finished_at is older than job->retention_ms and whose booking the source
 * view does not give inside the job's window (a booking still inside it
 * keeps its delivery, so that it is never planned and sent again); then its
 * batches finished before the retention that have no delivery, API call or
 * half left; then the partner events the job pulled (guestflow pull) before
 * job->events_retention_ms, but for those a suppression names (the list
 * keeps saying who reported the address) and each connection's latest
 * (status shows it). In chunks of a bounded size, each its own transaction,
 * walking the deliveries' key: the whole purge reads each row once. A row
 * whose booking the source view raises an error for is kept (logged as
 * purge_row_kept), and the purge goes on. */
int gf_purge(PGconn *c, const struct gf_job *job, struct gf_purge_result *out);

/* The job's window as far as a plan may reach: selection.window, cut short
 * at the job's purge horizon (guestflow.purge_horizons: bookings checked out
 * before it may have lost their deliveries to a purge, and must not be
 * planned again when the window is widened later). *window_ms: the window
 * to use, in milliseconds; horizon (may be NULL): the horizon as text when
 * it cut the window short, else "". */
int gf_purge_window(PGconn *c, const struct gf_job *job, int64_t *window_ms, char *horizon, size_t len);

#endif
