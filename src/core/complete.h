/* Completing a batch: delivery states, retry state, history entries and the
 * API-call log row, all in one transaction. */
#ifndef GF_COMPLETE_H
#define GF_COMPLETE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/claim.h"
#include "core/config.h"

/* The end of the reason of a member of a batch that may have reached the
 * partner, not sent again (its data changed since): not a rejection for
 * its data (explain says so). */
#define GF_HELD_NOT_SENT_AGAIN "not sent again: the partner may hold it from an earlier attempt under the same key"

struct gf_rejection {
	int64_t booking_id;
	const char *reason;
	bool partner;   /* the partner refused it, or may hold it (a member of a batch that may
	                 * have reached it, not sent again): stays rejected until rerun; else guestflow
	                 * did, for the booking's own data (a value it cannot send, the source
	                 * view failing for it, gone from it): planned again once the PMS
	                 * changes the booking (deliveries.data_rejected) */
};

/* One request to a partner, for guestflow.api_calls. */
struct gf_api_call {
	const char *url_public;     /* never holds the access key */
	long status;                /* 0: no HTTP response */
	int64_t latency_ms;
	int64_t request_bytes;
	int64_t response_bytes;
	int records;
	const char *outcome;        /* accepted, retry, split, auth, rejected, reply_error */
	const char *error;          /* NULL when none */
	const char *response_excerpt;
};

enum gf_complete_kind {
	GF_COMPLETE_ACCEPTED, /* partner answered per record (or nothing was sendable) */
	GF_COMPLETE_RETRY,    /* temporary failure: same members, same key, later */
	GF_COMPLETE_SPLIT,    /* 400 or 413: halve into new batches with new keys */
	GF_COMPLETE_RELEASE,  /* credentials refused: back to pending for the next run */
};

struct gf_completion {
	enum gf_complete_kind kind;
	const struct gf_rejection *rejections; /* records refused (render or partner) */
	size_t n_rejections;
	const char *error;           /* RETRY, SPLIT, RELEASE: what failed */
	int64_t retry_delay_ms;      /* RETRY; and any kind, should the database refuse it (below) */
	bool maybe_sent;             /* RETRY, RELEASE: this attempt may have reached the partner
	                              * (its body was sent, no answer was understood): the batch
	                              * is marked and is never split from then on */
	bool split_whole;            /* SPLIT: the members not rejected go on as one new batch (a
	                              * partner that named the records it refused), under a key
	                              * derived from the batch's (md5(key || '.rest') as a UUID),
	                              * sent at once */
	bool requeue;                /* RELEASE: to the back of the queue (next_attempt_at now),
	                              * behind the batches due before it */
	const char *alert_kind;      /* RELEASE: raise this alert for the batch's connection... */
	const char *alert_message;   /* ...with this message */
	bool alert_job_wide;          /* ...for the job, not the connection (the job's own account) */
	const char *history_message; /* ACCEPTED: template expanded but for {booking_no} */
	const struct gf_api_call *call; /* NULL when nothing was sent */
};

struct gf_complete_result {
	int64_t delivered;
	int64_t rejected;
	int64_t dead;
	int64_t retried;        /* members waiting for a retry */
	int64_t new_batches;    /* batches made by a split */
	bool collected;         /* gf_complete_accepted_collect(): a result was read */
	int64_t history_refused; /* of delivered, those whose history entry the PMS refused: owed
	                         * to them (gf_complete_accepted_each) */
	bool refused;           /* the database refused the completion asked for: done as a
	                         * RETRY instead (gf_complete_refused) */
	char sqlstate[6];       /* ...for this SQLSTATE */
};

/* Apply a completion. Returns -ESTALE (and changes nothing) when the batch's
 * lease was taken over by another worker, a database error otherwise.
 *
 * A completion the database refuses (any error but the session lost,
 * gf_db_session_gone: the adapter write_history raising for one booking,
 * with a data exception or a plain RAISE, a value it cannot store, a
 * constraint) fails that batch, not the run: it is rolled back and the
 * batch completed instead as a RETRY with a generic error text naming the
 * SQLSTATE (none of the partner's text, which may be what the database
 * refused), out->refused set, so that it goes dead after max_attempts like
 * any other. Whether the store fails as a whole is the caller's to judge
 * (run.c counts batches refused in a row). A SPLIT of a batch
 * marked maybe_sent is applied as a RETRY too (it is never split). */
int gf_complete(PGconn *c, const struct gf_job *job, int64_t run_id, const struct gf_batch *b,
                const struct gf_completion *cp, struct gf_complete_result *out);

/* That RETRY, for a completion the database refused in the pipeline
 * (gf_complete_accepted_collect() said -GF_E_DATA): call is the API call
 * of the refused completion (its partner text is left out), sqlstate what
 * the database said; maybe_sent: the partner may hold the batch (it
 * answered it 2xx), so it is never split. */
int gf_complete_refused(PGconn *c, const struct gf_job *job, int64_t run_id, const struct gf_batch *b,
                        const struct gf_api_call *call, const char *sqlstate, int64_t retry_delay_ms,
                        bool maybe_sent, struct gf_complete_result *out);

/* The common case without waiting: c in pipeline mode, with
 * gf_complete_pipe_prepare() done before entering it. ACCEPTED completions
 * with their API calls (cp->call set), made into struct gf_accepted, go out
 * as one statement for one or several batches that commits on its own;
 * gf_complete_accepted_collect() reads the results back in the order sent:
 * 0 with *collected set and per batch each[i] (0 with out[i], or -ESTALE:
 * nothing changed for it, its lease was lost); 0 without *collected when
 * block is false and the result is not there yet; -GF_E_DATA (nothing
 * changed for any of them: the database refused it, any error but the
 * session lost, in gf_db_sqlstate(c); the other statements in the
 * pipeline are not affected, each has its own Sync) or a database error. */
enum { GF_ACC_ID, GF_ACC_TOKEN, GF_ACC_HISTORY, GF_ACC_REJ_IDS, GF_ACC_REJ_REASONS, GF_ACC_REJ_DATA, GF_ACC_CONN,
       GF_ACC_URL, GF_ACC_STATUS, GF_ACC_LATENCY, GF_ACC_REQUEST_BYTES, GF_ACC_RESPONSE_BYTES, GF_ACC_RECORDS,
       GF_ACC_KEY, GF_ACC_EXCERPT, GF_ACCEPTED_FIELDS };
/* An accepted completion of a batch as the statement takes it: text, owned
 * (NULL for SQL NULL), the key already redacted from the partner's text. */
struct gf_accepted {
	char *v[GF_ACCEPTED_FIELDS];
};
int gf_complete_accepted_make(const struct gf_batch *b, const struct gf_completion *cp, struct gf_accepted *out);
void gf_complete_accepted_clear(struct gf_accepted *a);
int gf_complete_pipe_prepare(PGconn *c);
int gf_complete_accepted_send(PGconn *c, const struct gf_job *job, int64_t run_id,
                              const struct gf_accepted *const *v, size_t n);
/* An accepted completion the database refused (sqlstate), done again
 * member by member (complete.c says when, and what it writes): 0 with out
 * set; 1 when it does not apply (the caller completes the batch as
 * refused, gf_complete_refused, for the SQLSTATE left in sqlstate);
 * -ESTALE; or a database error (the session gone). */
int gf_complete_accepted_each(PGconn *c, const struct gf_job *job, int64_t run_id, const struct gf_batch *b,
                              const struct gf_accepted *a, char sqlstate[6], struct gf_complete_result *out);
/* The history entries the job owes (deliveries.history_pending, and
 * partner_events.history_pending of the events it pulled) but those of
 * run_id's deliveries, written where the PMS takes them now (waiting for a lock no
 * longer than lock_timeout_ms; not after a stop signal); then the job's
 * history_refused alert raised while any is owed (*owed), cleared once
 * none is. 0, or the error of a session gone. */
int gf_complete_history_owed(PGconn *c, const struct gf_job *job, int64_t run_id, int64_t lock_timeout_ms,
                             int64_t *written, int64_t *owed);
/* The writing part of it alone, for a job by name (db forget-job, before it
 * deletes the record, and pull: run_id 0 excludes none), the pulled events'
 * entries owed included (partner_events.history_pending): each entry in a
 * transaction of its own, with its delivery's or event's flag cleared; a booking gone from the PMS
 * is owed nothing any more; an entry refused stays owed (logged). *written:
 * the entries written. 0, or the error of a session gone. */
int gf_complete_history_owed_write(PGconn *c, const char *job, int64_t run_id, int64_t lock_timeout_ms,
                                   int64_t *written);
/* The alerting part of it alone: the job's history_refused alert raised
 * while any entry is owed, by a delivery or a pulled event (*owed, their
 * number), cleared once none is. 0, or the error of a session gone. */
int gf_complete_history_owed_alert(PGconn *c, const char *job, int64_t run_id, int64_t *owed);
int gf_complete_accepted_collect(PGconn *c, const int64_t *batch_ids, size_t n, bool block, bool *collected,
                                 int *each, struct gf_complete_result *out);

#endif
