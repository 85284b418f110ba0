/* Planning: one set-based statement inserts a pending delivery for every
 * eligible booking x live connection of the job that has none yet. */
#ifndef GF_PLAN_H
#define GF_PLAN_H

#include <libpq-fe.h>
#include <stdint.h>

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
#define GF_SQL_ELIGIBLE \
	GF_SQL_RULE_CHECKED_OUT " AND " GF_SQL_RULE_EMAIL " AND " GF_SQL_RULE_NAME \
	" AND " GF_SQL_RULE_NOTIFY " AND " GF_SQL_RULE_WINDOW

struct gf_plan_result {
	int64_t eligible; /* eligible booking x connection pairs right now */
	int64_t planned;  /* new pending deliveries this run created */
	int64_t batches;  /* new batches they were grouped into */
};

/* Plan in one transaction: insert a pending delivery for every eligible
 * booking x live connection that has none yet, grouped per connection into
 * new batches of up to max_records (not sent yet: attempts 0). */
int gf_plan(PGconn *c, const struct gf_job *job, int64_t run_id, struct gf_plan_result *out);

#endif
