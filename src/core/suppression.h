/* The suppression list (guestflow.suppressions) as an operator reads and
 * lifts it: 'guestflow pull' puts a bounced or unsubscribed guest's address
 * on it; 'guestflow suppression remove' takes one off, and keeps who, when
 * and why (guestflow.suppression_removals). */
#ifndef GF_SUPPRESSION_H
#define GF_SUPPRESSION_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Every suppressed address, or the one of email (compared as the rules
 * compare it: guestflow.email_key), as a table on out, or into doc (its
 * "suppressions" array) when doc is not NULL. *n: how many. */
int gf_suppression_list(PGconn *c, const char *email, json_t *doc, FILE *out, int64_t *n);

struct gf_suppression_removed {
	char reason[16];  /* bounced, unsubscribed */
	char *email;      /* as it is on the list */
	/* per job, the bookings of the address whose deliveries the
	 * suppression withdrew: still rejected, a rerun sends them */
	size_t n_jobs;
	char **jobs;
	char **booking_nos; /* space-separated, per job */
	int64_t withdrawn;
};

/* Take email off the list, recording because and the actor. -ENOENT: not
 * on it; -EPERM: an unsubscribe and not force (out->reason says so). */
int gf_suppression_remove(PGconn *c, const char *email, const char *because, bool force,
                          struct gf_suppression_removed *out);
void gf_suppression_removed_free(struct gf_suppression_removed *r);

#endif
