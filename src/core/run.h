/* One run of a job: plan, then claim, render, send and complete batches with
 * several in flight, until nothing is due. */
#ifndef GF_RUN_H
#define GF_RUN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/config.h"

struct gf_run_stats {
	int64_t run_id;
	int64_t eligible;
	int64_t planned;
	int64_t delivered;
	int64_t rejected;
	int64_t retried;          /* batch members put back for a later attempt */
	int64_t dead;
	int64_t history_refused;  /* of delivered, those whose history entry the PMS refused */
	int64_t history_owed;     /* at the end: the job's delivered bookings whose history entry the
	                           * PMS refused and has not taken since */
	int64_t requests;
	int64_t accepted_requests; /* requests answered 2xx */
	int64_t reached_requests; /* requests the partner answered, with anything but 5xx */
	int64_t pending_left;     /* deliveries of the job still pending at the end, ... */
	int64_t leased_left;      /* ...of them in batches under a lease (another run's, or one
	                           * that died and whose lease runs out) */
	int64_t pending_stopped;  /* pending deliveries of connections stopped or deactivated
	                           * (not in pending_left; no exit 1 for them) */
	int64_t skipped_connections;
	int64_t not_planned;      /* bookings left unplanned: their property's rule cannot be read */
	int64_t duration_ms;
	bool interrupted;         /* a stop signal arrived */
	bool db_lost;
	bool disabled;            /* the job has enabled: false */
	bool limit_reached;       /* --limit stopped the run: pending is expected */
	char message[512];        /* why the run was cut short, if it was */
	char first_rejected[600]; /* the first record rejected: "BOOKING_NO: reason" */
};

struct gf_run_opts {
	int64_t limit;   /* at most this many deliveries claimed in this run (0: no limit) */
};

/* Run the job. Returns the exit code of DESIGN.md section 5 and fills *st. */
int gf_run_job(const struct gf_config *cfg, const struct gf_job *job, const struct gf_run_opts *opts,
               struct gf_run_stats *st);

/* --dry-run: what a run would send now — counts per connection and the first
 * batch as it would be rendered — in a read-only transaction: nothing is
 * written, nothing sent. At most limit records in that batch (0: the job's
 * max_records). With doc, all of it goes into doc instead (guestflow(1),
 * JSON OUTPUT). Returns an exit code. */
int gf_run_dry(const struct gf_config *cfg, const struct gf_job *job, int64_t limit, json_t *doc, FILE *out);

/* One summary line for people and scripts. */
void gf_run_print_summary(const struct gf_job *job, const struct gf_run_stats *st, int exit_code);

#endif
