/* The failure table: what a partner's answer to one request means for its batch and its connection. */
#ifndef GF_OUTCOME_H
#define GF_OUTCOME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/output.h"

/* What a run knows of a connection from the partner's answers to it: the
 * 400/413 breaker, and whether a 401/403/404 is the credentials' or one
 * batch's (README, "When things fail"). gf_outcome_judge() keeps it. */
struct gf_outcome_conn {
	int64_t id;
	int64_t accepted;            /* requests answered 2xx and understood, in this run */
	int refusals;                /* 400/413 answers since the last accepted one */
	int auth_refusals;           /* 401/403/404 answers since the last accepted one... */
	int64_t *auth_batches;       /* ...and the batches they refused (each once) */
	size_t n_auth_batches;
	struct gf_outcome_single *singles; /* bookings refused (400) alone in this run */
	size_t n_singles;
	int64_t refused_total;       /* 400/413 answers in this run */
	size_t too_large_bytes;      /* the smallest body of several records refused 413 in this run
	                              * (0: none): a batch of the connection whose body is as large is
	                              * halved before it is sent (the partner's size limit, learned) */
};

/* A booking refused with 400 alone: how many requests of its connection
 * had been accepted, and how many refused (400/413), then. */
struct gf_outcome_single {
	int64_t booking;
	int64_t accepted_then;
	int64_t refused_total_then;
};

/* The connections answered in a run. */
struct gf_outcome_conns {
	struct gf_outcome_conn *v;
	size_t n;
};
/* The connection's memory (a new, empty one at its first answer). */
struct gf_outcome_conn *gf_outcome_conn_get(struct gf_outcome_conns *t, int64_t id);
void gf_outcome_conns_free(struct gf_outcome_conns *t);

/* One answer (or none) to one request of a batch, and what the run knows
 * around it: all the table reads. */
struct gf_outcome_in {
	/* the transfer */
	bool transfer_failed;        /* no complete answer (a transport error, a timeout) */
	int transport_error;         /* transfer_failed: its CURLcode */
	bool resp_too_big;           /* the reply passed its cap: not read */
	bool body_went_out;          /* transfer_failed: all of the request's body was sent */
	long status;                 /* the HTTP status, 0 when none */
	const struct gf_output *output; /* whose failure table classifies it (output.h) */
	bool understood;             /* GF_ANSWER_OK: the reply parsed and its counts fit the batch */
	bool named;                  /* GF_ANSWER_REFUSED: the reply names the records refused, every one
	                              * of them sent in this request */
	const char *retry_after;     /* the Retry-After header, "" or NULL when none */
	int64_t now_wall_ms;         /* for a Retry-After that is an HTTP date */
	/* the batch */
	int64_t batch_id;
	bool maybe_sent;             /* an earlier attempt may have reached the partner */
	size_t n_sent;               /* records in this request */
	size_t body_bytes;           /* its body's size, as sent */
	int64_t single_booking;      /* n_sent 1: its booking id */
	int64_t accepted_before;     /* the connection's requests accepted (gf_outcome_conn.accepted)
	                              * when this one was sent: evidence that came later is not about it */
	/* the run */
	bool held;                   /* the connection is held for the rest of the run already */
	int in_flight;               /* the job's batch.in_flight */
	int64_t max_records;         /* the job's batch.max_records */
	int64_t retry_after_max_ms;  /* the job's cap on a Retry-After */
};

/* The row of the table that answered: it says why (the caller words it). */
enum gf_outcome_rule {
	GF_OUTCOME_TRANSPORT,        /* no answer: retried; maybe sent if the body went out */
	GF_OUTCOME_REPLY_ERROR,      /* 2xx not understood: retried whole under its key */
	GF_OUTCOME_ACCEPTED,         /* 2xx understood: per record as the reply says */
	GF_OUTCOME_REFUSED_ALL,      /* 400/413, more in a row than isolating a record takes: held */
	GF_OUTCOME_REFUSED_RESEND,   /* 400/413 after an attempt that may have reached it: whole again */
	GF_OUTCOME_REFUSED_SPLIT,    /* 400/413: bisected/halved; a single record: rejected */
	GF_OUTCOME_REFUSED_NAMED,    /* 400 naming records: those rejected, the rest at once as one batch */
	GF_OUTCOME_REFUSED_REQUEUE,  /* 400/413 of a single record, not yet proof: behind the others */
	GF_OUTCOME_AUTH_BATCH,       /* 401/403/404 while others are accepted: this batch's, retried */
	GF_OUTCOME_AUTH_FIRST,       /* 401/403/404 before anything was accepted: behind the others */
	GF_OUTCOME_AUTH_HELD,        /* 401/403/404 again: the credentials', the connection held */
	GF_OUTCOME_ACCOUNT,          /* the job's account refused (SFTP login, host key): every connection held */
	GF_OUTCOME_TEMPORARY,        /* 408/409/425/429/5xx: retried */
	GF_OUTCOME_UNEXPECTED,       /* any other status: retried */
};

/* What becomes of the batch (gf_completion's kinds). */
enum gf_outcome_action {
	GF_OUTCOME_ACCEPT,           /* completed per record */
	GF_OUTCOME_RETRY,            /* same members, same key, later (the attempt counts) */
	GF_OUTCOME_SPLIT,            /* halved into new batches under new keys */
	GF_OUTCOME_RELEASE,          /* back to pending */
};

struct gf_outcome {
	enum gf_outcome_rule rule;
	enum gf_outcome_action action;
	const char *log_outcome;     /* the API-call log's outcome (static) */
	bool maybe_sent;             /* RETRY, RELEASE: this attempt may have reached the partner */
	bool requeue;                /* RELEASE: to the back of the queue */
	bool hold;                   /* the connection is held for the rest of the run */
	bool hold_job;               /* every connection of the job is */
	const char *alert_kind;      /* NULL, or the alert to raise (static) */
	bool reject_single;          /* SPLIT of a single record: it is rejected */
	bool split_whole;            /* SPLIT: the rest as one batch, not halves (REFUSED_NAMED) */
	bool reached;                /* an answer that shows the partner is there (1xx-4xx) */
	int64_t retry_after_ms;      /* RETRY: the partner's Retry-After as a delay, -1: backoff */
	bool retry_after_bad;        /* RETRY: a Retry-After that is neither seconds nor a date */
};

/* The table. Reads in and updates the connection's memory cs (the answer
 * counted); no database, no network, no clock but in->now_wall_ms. */
void gf_outcome_judge(struct gf_outcome_conn *cs, const struct gf_outcome_in *in, struct gf_outcome *out);

/* 400/413 answers in a row, none accepted, after which the partner is
 * taken as refusing the connection as a whole (see outcome.c); too_large:
 * for a 413. */
int gf_outcome_breaker_limit(int in_flight, int64_t max_records, bool too_large);

#endif
