/* The state of one run, shared by the files of the run module (run.c, run_complete.c, run_ahead.c). Not an API. */
#ifndef GF_RUN_PRIVATE_H
#define GF_RUN_PRIVATE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/claim.h"
#include "core/complete.h"
#include "core/config.h"
#include "transport/http.h"
#include "core/outcome.h"
#include "core/plan.h"
#include "core/progress.h"
#include "core/run.h"

/* A batch on its way: claimed, rendered, maybe sent. */
struct slot {
	struct gf_batch *batch;
	struct gf_http_req *req;
	struct gf_batch_rows *rows;  /* while rendering; then only... */
	int64_t *ids;                /* ...each row's booking id */
	char **nos;                  /* ...and booking number (into nos_data) */
	char *nos_data;
	char **reasons;              /* per row: why it was not rendered, or NULL */
	size_t n_rows;
	size_t n_rendered;
	char *url_public;
	int64_t claimed_ms;          /* when its lease began (about) */
	int64_t accepted_before;     /* its connection's requests accepted when it was sent */
};

/* Accepted completions sent down a completion session's pipeline and not
 * yet read back, oldest first: database work that overlaps claiming,
 * rendering and sending the next batches. Two sessions share them, so that
 * completing (the history entries above all) is not one server process's
 * work alone. */
#define PIPE_MAX 16
#define COMPLETERS 2
/* A completion sent and not read back: its batch is kept, so that a
 * completion the database refuses for its data can be done again as a
 * retry (gf_complete_refused) with what the API-call row needs. */
struct sent {
	struct gf_batch *batch;
	struct gf_api_call call;     /* numbers only: url_public is owned here, no partner text */
	int64_t retry_delay_ms;
	char sqlstate[6];            /* once refused */
	struct gf_accepted acc;      /* the completion as sent: sent again alone if its group is refused */
	int group;                   /* in a pipeline: the first of a statement's batches says how many */
};
/* Accepted completions wait to go out together, up to this many in one
 * statement, while both completion sessions are busy. */
#define GROUP_MAX 8
struct pipe {
	PGconn *c;
	struct sent q[PIPE_MAX];
	int head, n;
};

struct run {
	const struct gf_job *job;
	PGconn *db;                  /* plan, claim, rows */
	struct pipe pipes[COMPLETERS]; /* completion sessions, in pipeline mode */
	const char *conninfo;
	struct gf_planner plan;      /* on db: batches written slice by slice */
	int64_t plan_claimed;        /* the highest batch of the plan this run claimed */
	bool claiming;               /* a claim sent ahead on db, not read back yet */
	bool claim_probed;           /* that claim looks the plan's bookings up in the source view */
	int64_t ahead_after_ms;      /* the last claim ahead found nothing: the next not before */
	int claim_retries;           /* claims failed in a row for a moment's reason (gf_run_claim_transient) */
	struct slot *ready;          /* a batch claimed ahead and rendered, waiting for a slot */
	struct gf_batch **queue;     /* batches claimed (several at a time), not rendered yet: */
	size_t q_head, q_len;        /* queue[q_head .. q_len), in batch order */
	struct gf_http *http;
	struct gf_run_stats *st;
	int64_t *skip;               /* connections held for the rest of this run */
	size_t n_skip;
	int64_t *ended;              /* connections stopped or deactivated since the run began
	                              * (guestflow_connection_ended): nothing more is sent to them */
	size_t n_ended;
	const char **pjobs;          /* the jobs of the job's partner, and where its partner is told, */
	size_t n_pjobs;              /* for the automatic stop, made again during the run */
	const char *notice_to;       /* (gf_run_poll_ended) */
	int64_t autostop_next_ms;    /* not before then */
	int autostop_locked;         /* made again and given up in a row: a lock another session kept */
	struct gf_outcome_conns seen; /* per connection answered in this run */
	struct sent *redo;           /* completions the database refused, to retry */
	size_t n_redo;
	struct sent group[GROUP_MAX]; /* accepted completions not sent yet, to go out together */
	int n_group;
	struct sent *solo;           /* accepted completions of a group the database refused: */
	size_t n_solo;               /* each sent again alone, to find the one it refuses */
	int64_t *refused_ids;        /* batches whose completion the database refused in this run */
	size_t n_refused_ids;
	int refused_in_row;          /* of them, refused first since the last history written */
	bool account_refused;        /* the partner refused the job's own account (SFTP login, host key):
	                              * nothing more is sent in this run */
	bool account_alerted;        /* ...and the alert for it is raised */
	bool store_down;             /* too many: the history store fails as a whole, the run ends */
	char store_msg[300];
	char first_rejected[600];    /* the first record rejected in this run: "B-1: reason" */
	char unreached[512];         /* the last request not answered, or answered 5xx: why */
	uint64_t rng;
	char today[16];
	char run_id[32];
	int fatal;                   /* a database error that ends the run */
	int64_t limit;               /* --limit: deliveries this run may still claim (-1: no limit) */
	int64_t due;                 /* deliveries due when the run began, for progress */
	struct gf_progress progress;
	bool pipeline;               /* accepted completions go down the pipelines: not for a
	                              * database whose encoding may refuse a partner's text
	                              * (gf_complete then records it folded) */
};

/* The completion sessions (run_complete.c). */

/* Complete the slot's batch as cp says: an accepted one with an API call
 * down the pipeline of the session with the shorter queue, any other on
 * the first session once the pipelines are drained. The batch passes to
 * the pipeline (s->batch NULL then). A database error ends the run
 * (rn->fatal, returned). */
int gf_run_finish(struct run *rn, struct slot *s, const struct gf_completion *cp);
/* Read back the completions that are done (with block, all of them). */
int gf_run_collect(struct run *rn, bool block);
/* Send the accepted completions waiting to go out together: now with
 * force, else when a completion session is idle (or their group is full). */
int gf_run_flush(struct run *rn, bool force);
/* Everything sent read back, the sessions out of pipeline mode, the
 * completions the database refused done again as retries. */
int gf_run_drain(struct run *rn);
/* Free what a completion sent and not read back holds. */
void gf_run_sent_clear(struct sent *e);

/* The claim-ahead (run_ahead.c). */

/* While every slot is busy, render the next claimed batch into rn->ready,
 * or claim the next batches ahead on the main session. */
void gf_run_claim_ahead(struct run *rn);
/* Claim up to a round of batches (batch.in_flight) now, waiting for them:
 * into the queue. 0 when none was due, 1 when some were claimed, < 0 on an
 * error (rn->fatal). */
int gf_run_claim_round(struct run *rn);
/* The claim sent ahead read back when it is there (with block, waiting
 * for it): its batches queued, the first rendered into rn->ready. */
void gf_run_settle(struct run *rn, bool block);
/* The next claimed batch of the queue, rendered; NULL when the queue is
 * empty or the batch was done at once (not to be sent). */
struct slot *gf_run_next_queued(struct run *rn);
/* Whether batches claimed wait in the queue. */
bool gf_run_queued(const struct run *rn);
/* The queued batches given back (not sent); frees them. */
void gf_run_give_back_queued(struct run *rn);
/* The batch claimed ahead, about to be sent: false when it is not to be
 * sent (released, or its lease lost; the slot freed then). */
bool gf_run_ready_to_send(struct run *rn, struct slot *s);
/* A batch claimed ahead that will not be sent: given back, freed. */
void gf_run_give_back(struct run *rn, struct gf_batch *b);
/* Whether batches rendered from what the plan read are checked against
 * the source for bookings deleted since. */
bool gf_run_probe_source(const struct run *rn);
/* A claim with probe (gf_run_probe_source) failed: when the source view may
 * have raised for one booking's values, the plan's copies are forgotten
 * (every batch read the long way) and true is returned: claim again,
 * without the probe. */
bool gf_run_probe_failed(struct run *rn, bool probed);
/* Whether the claim that failed on rn->db failed for a moment's reason (a
 * deadlock with a rerun or another worker locking the same deliveries,
 * 40P01; a serialization failure, 40001), so that it is made again, not
 * the end of the run: at most CLAIM_RETRIES in a row (logged). */
#define CLAIM_RETRIES 10
bool gf_run_claim_transient(struct run *rn);
/* While the automatic stop made again during the run could not be made (a
 * lock another session keeps on a connection), a batch about to go is
 * checked against the property rule (plan.h, GF_SQL_PROPERTY_ALLOWED): one
 * of a property the PMS no longer allows has its connection held for the
 * run, as if stopped (gf_run_withheld then says so). */
void gf_run_hold_if_not_allowed(struct run *rn, const struct gf_batch *b);

/* What the claim-ahead uses of run.c. */

/* Write the next slice of the plan when the claims are catching up with
 * the last one (or, with need, now). The batches written, < 0 on error. */
int gf_run_plan_feed(struct run *rn, bool need);
/* A batch claimed: counted, rendered. Its slot ready to start, or NULL. */
struct slot *gf_run_take(struct run *rn, struct gf_batch *b);
/* A batch of a connection held in this run: back to the queue; frees s. */
void gf_run_release_skipped(struct run *rn, struct slot *s);
/* Whether the connection is held for the rest of this run. */
bool gf_run_skipped(const struct run *rn, int64_t conn);
/* Whether nothing more is to be sent to the connection in this run: held,
 * or no longer live (gf_run_poll_ended() read so). */
bool gf_run_withheld(const struct run *rn, int64_t conn);
/* The connections announced stopped or deactivated since the last look,
 * read without waiting, into rn->ended. */
void gf_run_poll_ended(struct run *rn);
void gf_run_slot_free(struct slot *s);

#endif
