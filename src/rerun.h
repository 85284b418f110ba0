/* Reruns: putting deliveries back in the queue by hand. */
#ifndef GF_RERUN_H
#define GF_RERUN_H

#include <libpq-fe.h>
#include <stdint.h>

struct gf_rerun_result {
	int64_t batches;
	int64_t deliveries;
};

/* Reopen the job's dead batches: attempts start again, members and
 * Idempotency-Key stay (a partner that saw the batch under that key
 * deduplicates it), the dead deliveries become pending, and the open
 * dead_deliveries alerts of the job are cleared. One transaction. */
int gf_rerun_dead(PGconn *c, const char *job, struct gf_rerun_result *out);

#endif
