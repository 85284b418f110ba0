/* guestflow status: per job and connection, the last run and the queue. */
#ifndef GF_STATUS_H
#define GF_STATUS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>

#include "core/config.h"

/* Print the status of the given jobs as a table on out, or, with doc, add
 * them to doc ("jobs") instead. */
int gf_status(PGconn *c, const struct gf_job *const *jobs, size_t n_jobs, json_t *doc, FILE *out);

#endif
