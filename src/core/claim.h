/* Claiming: taking due batches under a lease, with FOR UPDATE SKIP LOCKED,
 * so that any number of processes can run the same job at once. */
#ifndef GF_CLAIM_H
#define GF_CLAIM_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/record.h"

struct gf_batch {
	int64_t id;
	int64_t connection_id;
	char *property_id;
	char *id_at_partner;   /* the id the partner knows the property by (output.h id_label) */
	char *secret;           /* access key, API token: never logged; decrypted at the claim, wiped when freed;
	                         * NULL when the stored key cannot be decrypted, or none is stored */
	char *idempotency_key;
	char *lease_token;      /* proves at completion that the lease is still ours: "RUN.uuid" */
	int attempts;           /* including this one */
	int records;            /* members still to deliver when claimed */
	int members;            /* members it was formed with, under its key (batches.records):
	                         * what a partner holding it from an earlier attempt counts */
	bool resend;            /* an existing batch (retry or expired lease) */
	bool fresh;             /* never sent before this claim (attempts 0, no error) */
	bool maybe_sent;        /* an earlier attempt may have reached the partner: never split */
	int64_t *gone;          /* with probe_source: members no longer in the source view */
	size_t n_gone;
	bool withdrawn;         /* with probe_source: the PMS turned a member's notify flag off since it was
	                         * planned: the plan's copy is not used */
	int64_t claimed_ms;     /* when the claim came back (gf_now_mono_ms) */
	char day[9];            /* the day it was formed, UTC, "YYYYMMDD" */
};

/* A batch's rows, ready to render, in booking order. */
struct gf_batch_rows {
	size_t n;
	struct gf_record *recs;  /* the values point into res or data */
	bool *in_source;         /* false: the booking is gone from the source view */
	char **why;              /* NULL, or per row: why the source view could not give it
	                          * (its error, for that booking alone), else NULL */
	PGresult *res;           /* owns the values, or */
	char *data;              /* owns them */
};
void gf_batch_rows_free(struct gf_batch_rows *r);

/* Deliveries left 'sending' in open batches of the job whose lease ran out
 * (a worker killed, or a connection stopped since, whose batch nobody
 * claims): set back to 'pending', so that the state says what is true.
 * The batches are locked (SKIP LOCKED: one being claimed now is left to its
 * claim), so that a claim never has its fresh 'sending' undone. */
int gf_claim_sweep(PGconn *c, const char *job);

/* Claim the next due batch of the job, skipping the given connections: an
 * open batch (formed by the plan, due for a retry, or abandoned by a crashed
 * worker) of a live connection, under a new lease; attempts counts this one.
 * Its deliveries are set 'sending' (the lease says for how long). A
 * batch never sent that holds more than max_records (--limit) is cut to
 * max_records first. With probe_source, a batch never sent comes with its
 * members gone from the source view since they were planned (b->gone), and whether the PMS turned a member's notify
 * flag off since (b->withdrawn), for a caller that renders it from what the plan read. Should the source view
 * raise an error for a member then, the claim fails and nothing changes: when gf_db_sqlstate() says it may be
 * one row's, the caller claims again without probe_source and reads its batches the long way (gf_batch_rows()). *out is NULL when nothing is due. Caller frees with
 * gf_batch_free(). */
int gf_claim(PGconn *c, const struct gf_job *job, int64_t run_id, int max_records, const int64_t *skip,
             size_t n_skip, bool probe_source, struct gf_batch **out);
/* The same claim (without a cut) of up to n batches, sent now and read
 * back later, so that the caller can work meanwhile; c must not be used for
 * anything else until gf_claim_recv() says done. With block false, it
 * returns 0 with *done false while the answer is not there. The batches
 * come in batch order (*n 0 when none was due); caller frees each with
 * gf_batch_free() and the array with free(). */
int gf_claim_send(PGconn *c, const struct gf_job *job, int64_t run_id, const int64_t *skip, size_t n_skip,
                  bool probe_source, int n);
int gf_claim_recv(PGconn *c, bool block, bool *done, struct gf_batch ***out, size_t *n);
/* A batch claimed and never sent, given back as it was: no lease, its
 * members pending, the claim's attempt not counted (it is fresh again if
 * it was). */
int gf_claim_giveback(PGconn *c, const struct gf_batch *b);
/* A claimed batch's lease, from now on, again (before it is sent, when it
 * waited). 1: renewed; 0: the lease was lost (another worker may hold the
 * batch: it must not be sent). */
int gf_claim_renew(PGconn *c, const struct gf_job *job, const struct gf_batch *b);

/* The batch's members joined with the source view, ready to render (a
 * member gone from the view has in_source false). When the view raises an
 * error that may be one row's (gf_db_sqlstate_may_be_row: an operator's
 * cast or RAISE that fails for one booking), the members are read one by
 * one and the failing ones come with the database's message in why[i]:
 * they alone are rejected. When every member fails and the view gives no
 * other booking either, the view is broken as a whole: an error, nothing
 * rejected. Caller frees *out with gf_batch_rows_free(). */
int gf_batch_rows(PGconn *c, const struct gf_job *job, const struct gf_batch *b, struct gf_batch_rows **out);

void gf_batch_free(struct gf_batch *b);

#endif
