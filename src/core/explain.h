/* "Why was this guest (not) sent?": every eligibility rule with the
 * booking's value, then the delivery and its history, per job. */
#ifndef GF_EXPLAIN_H
#define GF_EXPLAIN_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>

#include "core/config.h"

/* Explain booking_no for each given job, on out, or with doc into doc (the
 * keys of guestflow(1), JSON OUTPUT). -ENOENT when the booking is not in
 * guestflow.source_bookings. */
int gf_explain(PGconn *c, const struct gf_job *const *jobs, size_t n_jobs, const char *booking_no,
               json_t *doc, FILE *out);

#endif
