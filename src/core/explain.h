/* "Why was this guest (not) sent?": every eligibility rule with the
 * booking's value, then the delivery and its history, per job. */
#ifndef GF_EXPLAIN_H
#define GF_EXPLAIN_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>

#include "core/config.h"

/* Explain, for each given job, on out, or with doc into doc (the keys of
 * guestflow(1), JSON OUTPUT), the booking booking_id (a decimal integer),
 * or every booking booking_no stands for: each booking the source view
 * gives that number (a group booking, a number given twice, rows without a
 * booking_id), and each guestflow recorded deliveries of under it (gone from
 * the view since, or numbered otherwise now). Exactly one of booking_no
 * and booking_id is set. A row the view raises an error for is explained
 * without its rules, and never stops the others; the history adapter
 * raising for the booking is said in its place. -ENOENT when the view gives
 * no such booking and guestflow recorded none. */
int gf_explain(PGconn *c, const struct gf_job *const *jobs, size_t n_jobs, const char *booking_no,
               const char *booking_id, json_t *doc, FILE *out);

#endif
