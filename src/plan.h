/* Planning: every eligible booking x live connection of the job that has no
 * delivery yet becomes a pending delivery in a batch, read in one set-based
 * statement and written slice by slice (see struct gf_planner). */
#ifndef GF_PLAN_H
#define GF_PLAN_H

#include <libpq-fe.h>
#include <stdint.h>

#include "claim.h"
#include "config.h"

/* The eligibility rules of DESIGN.md section 2, one SQL condition each over
 * guestflow.source_bookings s, with $3 = the job's window in milliseconds.
 * GF_SQL_ELIGIBLE combines them for the plan; explain shows them one by one.
 * The connection rule (a live connection to the job's partner) is the join
 * the statements make. */
#define GF_SQL_RULE_CHECKED_OUT "s.status = 'checked_out'"
#define GF_SQL_RULE_EMAIL "btrim(s.email, E' \\t\\r\\n') ~ '^[^@[:space:]]+@[^@[:space:]]+$'"
#define GF_SQL_RULE_NAME "s.last_name ~ '[^[:space:]]'"
#define GF_SQL_RULE_NOTIFY "s.notify IS TRUE"
#define GF_SQL_RULE_WINDOW "s.checked_out_at >= now() - $3::bigint * interval '1 millisecond'"
/* The transaction lock that slices of a plan and reruns of job $1 take in
 * turns (plan.c, rerun.c). */
#define GF_SQL_MEMBERS_LOCK "pg_advisory_xact_lock(hashtext('guestflow.members:' || $1))"

#define GF_SQL_ELIGIBLE \
	GF_SQL_RULE_CHECKED_OUT " AND " GF_SQL_RULE_EMAIL " AND " GF_SQL_RULE_NAME \
	" AND " GF_SQL_RULE_NOTIFY " AND " GF_SQL_RULE_WINDOW

struct gf_plan_result {
	int64_t eligible; /* eligible booking x connection pairs right now */
	int64_t found;    /* of them new: no delivery yet */
	int64_t planned;  /* new pending deliveries written so far */
	int64_t batches;  /* new batches written so far */
};

/* Planning in steps, so that the first batches go out while the rest is
 * still being written. gf_plan_start reads every eligible booking once, under
 * the job's planning lock, into a temporary table of the session (one
 * statement, which PostgreSQL may run with parallel workers): the new pairs
 * numbered per connection and cut into chunks of max_records, with the
 * columns to render. Each gf_plan_step then writes the next slice of those
 * chunks as batches with their pending deliveries (one short transaction
 * each); the lock is released when the last slice is in. A batch planned
 * this way is rendered from the temporary table (gf_plan_rows) instead of
 * being read again through the source view.
 *
 * Another process planning the same job at the moment (it holds the lock):
 * gf_plan_start does not wait and plans nothing (skipped); the caller claims
 * what the other process plans, and tries again before it finishes. */
struct gf_planner {
	PGconn *c;
	const struct gf_job *job;
	int64_t run_id;
	bool skipped;       /* the lock was held by another process: nothing planned */
	bool locked;        /* holds the job's planning lock */
	bool table;         /* the session's temporary table exists */
	int64_t next_conn;  /* the next chunk to write: (connection, chunk) */
	int64_t next_chunk;
	int64_t upto;       /* the last batch written */
	int64_t mark;       /* once this batch is claimed, write the next slice */
	int64_t unwritten;  /* batches of this plan not yet written */
	struct gf_plan_result res;
};

int gf_plan_start(struct gf_planner *p, PGconn *c, const struct gf_job *job, int64_t run_id);
/* Write up to max_batches more batches; *written: how many (0: all are in,
 * and the lock is released). mark is set to the batch margin batches before
 * the last one written: claims go in batch order, so once it is claimed (by
 * any process) the slice is running out. */
int gf_plan_step(struct gf_planner *p, int max_batches, int margin, int64_t *written);
/* Release the lock without writing the rest (a run that ends early): the
 * bookings of unwritten batches stay unplanned, for the next run. */
void gf_plan_release(struct gf_planner *p);
/* The rows of a batch of this plan, never sent and not cut, as
 * gf_batch_rows returns them; NULL with *err 0 when the batch is not one
 * (the caller reads it through the source view). */
PGresult *gf_plan_rows(struct gf_planner *p, const struct gf_batch *b, int *err);

#endif
