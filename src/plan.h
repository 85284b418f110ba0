/* Planning: one set-based statement inserts a pending delivery for every
 * eligible booking x live connection of the job that has none yet. */
#ifndef GF_PLAN_H
#define GF_PLAN_H

#include <libpq-fe.h>
#include <stdint.h>

#include "config.h"

/* The eligibility rules of DESIGN.md section 2 as a SQL condition over
 * guestflow.source_bookings s, with $3 = the job's window in milliseconds.
 * The connection join (c) is added by the statements that use it. */
#define GF_SQL_ELIGIBLE \
	"s.status = 'checked_out'" \
	" AND s.notify IS TRUE" \
	" AND btrim(s.email, E' \\t\\r\\n') ~ '^[^@[:space:]]+@[^@[:space:]]+$'" \
	" AND s.last_name ~ '[^[:space:]]'" \
	" AND s.checked_out_at >= now() - $3::bigint * interval '1 millisecond'"

struct gf_plan_result {
	int64_t eligible; /* eligible booking x connection pairs right now */
	int64_t planned;  /* new pending deliveries this run created */
};

int gf_plan(PGconn *c, const struct gf_job *job, int64_t run_id, struct gf_plan_result *out);

#endif
