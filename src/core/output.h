/* Partner outputs: one table of functions per partner format
 * (../shared/PARTNERS.md), the way curl declares a protocol handler. The
 * engine (plan, claim, complete, run, dry run) reaches a format only
 * through its table and never names one; src/outputs/registry.c lists the
 * tables, and a job's `format:` picks one (config.c). Adding a format is a
 * folder under src/outputs/ and a line in the registry. */
#ifndef GF_OUTPUT_H
#define GF_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/buf.h"
#include "core/record.h"

/* The per-record results of a request the partner answered as accepted. */
struct gf_reply_rejection {
	char *booking_no; /* as the partner wrote it: matched byte for byte, not safe text */
	char *reason;     /* may be ""; safe text (text.h), the secret redacted, at most GF_TEXT_MAX bytes */
};

struct gf_reply {
	int64_t accepted;
	int64_t rejected;
	struct gf_reply_rejection *items;
	size_t n_items;
};

void gf_reply_clear(struct gf_reply *r);

/* Whom a request is for: a batch of one connection. */
struct gf_output_target {
	const char *partner_id; /* the connection's id at the partner (review-xml: the hotel id) */
	const char *secret;     /* its credential (review-xml: the access key); NULL: none */
	const char *batch_key;  /* the batch's idempotency key, the same on every resend */
	const char *batch_day;  /* the day the batch was formed, UTC, "YYYYMMDD": the same on every resend */
	bool maybe_sent;        /* an earlier attempt of the batch may have reached the partner */
};

/* What an answer means, by the output's failure table; the run's policy
 * (outcome.c: bisect or halve, the breaker, whose refusal a 401 is) is
 * the engine's, the same for every output. */
enum gf_answer_kind {
	GF_ANSWER_OK,          /* taken: the reply says per record (parse_reply) */
	GF_ANSWER_REFUSED,     /* the batch refused for its content: bisected */
	GF_ANSWER_TOO_LARGE,   /* refused for its size: halved */
	GF_ANSWER_CREDENTIALS, /* the credentials or the partner id refused (or this batch, by a gateway) */
	GF_ANSWER_ACCOUNT,     /* the job's own account refused (an SFTP login, the server's host key):
	                        * every connection of the job is held for the run */
	GF_ANSWER_LATER,       /* not now: retried, after the partner's Retry-After when it gives one */
	GF_ANSWER_UNEXPECTED,  /* an answer the contract does not know: retried */
};

struct gf_answer {
	enum gf_answer_kind kind;
	bool maybe_taken;      /* LATER, UNEXPECTED: the partner may have taken the batch all the same */
	bool reached;          /* the answer shows that the partner is there */
};

/* What a connection test found (PARTNERS.md "test call"), worst last but one. */
enum gf_test_verdict {
	GF_TEST_OK,
	GF_TEST_CREDENTIALS,  /* the connection's credentials refused, or the job's SFTP login */
	GF_TEST_UNKNOWN_ID,   /* the partner does not know the hotel or property id */
	GF_TEST_PEER_REFUSED, /* the partner's TLS certificate or SSH host key refused: not connected */
	GF_TEST_UNREACHABLE,  /* no answer: DNS, connection refused or reset, timeout */
	GF_TEST_UNEXPECTED,   /* an answer the contract does not know */
};

/* What a partner reports about a guest later (PARTNERS.md "events pulled back"). */
enum gf_event_type {
	GF_EVENT_INVITED,      /* the review invitation went out */
	GF_EVENT_BOUNCED,      /* the guest's e-mail address bounced */
	GF_EVENT_REVIEWED,     /* the guest wrote a review */
	GF_EVENT_UNSUBSCRIBED, /* the guest asked to hear no more */
	GF_EVENT_REJECTED,     /* the partner could not import the guest (visits-csv's error files) */
};

struct gf_partner_event {
	char *booking_no;      /* as the partner wrote it: matched byte for byte, not safe text */
	enum gf_event_type type;
	char *at;              /* when, as RFC 3339 text the partner wrote (checked); NULL: not given */
	char *reason;          /* REJECTED: the partner's reason, safe text; else NULL */
	char *batch_key;       /* the batch it is about, when the format says (visits-csv); else NULL */
};

/* One pull's events, in the partner's order. */
struct gf_events {
	struct gf_partner_event *items;
	size_t n;
	char *next;            /* the cursor to store for the next pull; NULL: none given */
	char **done;           /* what ack() is to retire once the events are stored (visits-csv:
	                        * the error files read); n_done of them */
	size_t n_done;
	bool partial;          /* some of the feed could not be read (why says what): the events read are
	                        * stored, and the pull counts as failed for alerting.failed_pulls */
};

void gf_events_clear(struct gf_events *e);
/* The name of an event type as stored: "invited", ... "rejected". */
const char *gf_event_type_name(enum gf_event_type t);
/* The type named so (the four of the HTTP contracts), or -1. */
int gf_event_type_parse(const char *s);
/* Whether s is an RFC 3339 date-time (YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM))
 * the database can store: year 0001 on, at most 9 fraction digits, an
 * offset up to 15:59. */
bool gf_event_time_valid(const char *s);

struct gf_http;
struct gf_http_req;
struct gf_job;

struct gf_output {
	const char *name;         /* the job's `format:` */
	const char *scheme;       /* of its endpoint: "https" (plain "http" too with allow_insecure_http), "sftp" */
	const char *method;       /* what a request is, for the API-call log: "POST", "PUT" (an SFTP upload) */
	const char *id_label;     /* what the partner calls a connection's id, for messages: "hotel id" */
	const char *id_option;    /* the option of 'connection add' that gives it: "--hotel-id" */
	const char *secret_label; /* what the partner calls its secret: "access key"; NULL: a
	                           * connection has none (the job holds the account) */
	const char *content_type; /* of a request's body */
	bool compressible;        /* the partner takes a gzip body (batch.compress) */
	int64_t max_records;      /* the most records a request may hold by the contract; 0: the job's */
	unsigned omittable;       /* the fields (GF_OMIT_* bits, record.h) its contract lets a job leave out */
	/* Whether the format can carry a connection's partner id as it is:
	 * 0, or -GF_E_RENDER with the rule broken in why. */
	int (*check_id)(const char *id, char *why, size_t whylen);
	/* Whether secret (len bytes) is one the format can carry, by its
	 * own rules (gf_output_check_secret_text() and what the format
	 * adds): 0, or -GF_E_RENDER with the rule broken in why, never
	 * quoting the secret. NULL when secret_label is. */
	int (*check_secret)(const char *secret, size_t len, char *why, size_t whylen);
	/* The body of a request for the records that pass the format's
	 * checks, without the fields in omit (GF_OMIT_* bits, within
	 * omittable), appended to out; gzip_level 1..9 deflates it as it is
	 * written, 0 not. reasons[i]: a malloc'd reason for record i left
	 * out, NULL for those rendered (*n_rendered of them); nothing is
	 * appended when none is. Returns 0 or a negative error when no body
	 * could be made (-GF_E_TOO_BIG: out's cap). */
	int (*render)(const struct gf_output_target *t, const struct gf_record *recs, size_t n,
	              const char *default_language, unsigned omit, int gzip_level, struct gf_buf *out,
	              char **reasons, size_t *n_rendered);
	/* The request's URL under the job's endpoint: with the secret when
	 * the format carries it in the URL (with_secret), or without it, for
	 * logs and the API-call log. */
	char *(*url)(const char *endpoint, const struct gf_output_target *t, bool with_secret);
	/* Start sending req->body (rendered) for t on the shared transport
	 * (transport/http.h): an HTTP POST (gf_output_post) or an SFTP upload
	 * (transport/sftp.h). 0, or a negative error: nothing started. */
	int (*send)(struct gf_http *h, struct gf_http_req *req, const struct gf_job *job,
	            const struct gf_output_target *t);
	/* The header line that carries the secret ("Authorization: Bearer
	 * ..."), or NULL: the format carries it in the URL. */
	char *(*auth_header)(const struct gf_output_target *t);
	/* The reply to a request answered GF_ANSWER_OK: 0 and *out, or
	 * -GF_E_REPLY with why. Every piece of the reply kept is safe text
	 * with secret redacted. NULL: the format answers nothing per record
	 * (visits-csv), a request done is every record in it taken. */
	int (*parse_reply)(const char *data, size_t len, const char *secret, struct gf_reply *out, char *why,
	                   size_t whylen);
	/* A GF_ANSWER_REFUSED reply that names the records refused (NULL:
	 * the format never does): 0 and the names in out->items, or
	 * -GF_E_REPLY. The engine then rejects those and sends the rest at
	 * once as one batch; otherwise it bisects. */
	int (*parse_refusal)(const char *data, size_t len, const char *secret, struct gf_reply *out, char *why,
	                     size_t whylen);
	/* The failure table: what an answer (its HTTP status; 0 when the
	 * transport has none, e.g. SFTP) means for the batch... */
	void (*classify)(long status, struct gf_answer *out);
	/* ...and what a transfer that failed (a CURLcode) means, when the
	 * output's table says more than the engine's default (retried; maybe
	 * taken when the whole body went out): true and *out, or false (then
	 * only out->reached is read: whether the partner answered all the
	 * same). NULL: the default for every failure. */
	bool (*classify_failure)(int curl_code, struct gf_answer *out);
	/* The connection test (PARTNERS.md, "test call"): start it for t
	 * (batch_key and batch_day NULL) on the shared transport. 0, or a
	 * negative error: nothing started. */
	int (*test)(struct gf_http *h, struct gf_http_req *req, const struct gf_job *job,
	            const struct gf_output_target *t);
	/* What the finished test request means by the output's contract: a
	 * verdict with why (safe text, the secret redacted), or -1 when it is
	 * a transport failure the engine's table knows (core/conntest.c). */
	int (*test_verdict)(const struct gf_http_req *req, const struct gf_output_target *t, char *why,
	                    size_t whylen);
	/* The event pull (PARTNERS.md, "events pulled back"): start fetching
	 * t's events after cursor (NULL: from the start). 0, or a negative
	 * error: nothing started. */
	int (*pull)(struct gf_http *h, struct gf_http_req *req, const struct gf_job *job,
	            const struct gf_output_target *t, const char *cursor);
	/* The finished pull's events: 0 (GF_TEST_OK) and *out; otherwise what
	 * went wrong as for the test call, with why (safe text, the secret
	 * redacted): a verdict (credentials refused, unknown id, unexpected
	 * for a reply the contract does not know), or -1 for a transport
	 * failure the engine's table knows (core/conntest.c). */
	int (*parse_events)(const struct gf_http_req *req, const struct gf_output_target *t, struct gf_events *out,
	                    char *why, size_t whylen);
	/* Retire what a pull read once its events are stored (out->done); NULL:
	 * the cursor is all (the HTTP outputs). 0, or a negative error (the
	 * next pull reads them again: storing an event twice is harmless). */
	int (*ack)(struct gf_http *h, struct gf_http_req *req, const struct gf_job *job, const struct gf_events *ev);
	/* A rendered body (not deflated) for a terminal: the dry run. */
	void (*show)(const char *body, size_t n, FILE *out);
};

/* How every render ends (r: its result so far): on success *n_rendered =
 * count; on an error nothing half-written stays in out (cut back to start)
 * and no reason is left to free. Returns r. */
int gf_render_end(int r, struct gf_buf *out, size_t start, char **reasons, size_t n, size_t count,
                  size_t *n_rendered);

/* The send of an HTTP output: a POST of req->body to the output's url()
 * with its content type, its auth_header() and the batch's key as
 * Idempotency-Key, gzip'd when the job says so and the output takes it. */
int gf_output_post(struct gf_http *h, struct gf_http_req *req, const struct gf_job *job,
                   const struct gf_output_target *t);
/* The start of an HTTP output's test call: a GET of the output's
 * test_url(), with its auth_header(). */
int gf_output_get(struct gf_http *h, struct gf_http_req *req, const struct gf_job *job, char *url,
                  const struct gf_output_target *t);
/* The part of an HTTP output's test verdict every contract shares: -1 for
 * a transport failure (the engine's), GF_TEST_OK for a 2xx (the output
 * then reads the body), credentials refused for 401/403, unknown id for
 * 404, unreachable for 429 and 5xx (there, but not serving), unexpected for
 * any other status (why: the status and an excerpt). */
int gf_output_http_verdict(const struct gf_http_req *req, char *why, size_t whylen);
/* How an HTTP output reads the body of a 2xx to its test call or event
 * pull: 0, or negative with what (safe text). */
typedef int (*gf_output_body_reader)(const char *data, size_t len, const struct gf_output_target *t, void *out,
                                     char *what, size_t whatlen);
/* The verdict on a test call's or pull's reply: gf_output_http_verdict()'s,
 * then for a 2xx the body read by read (into out): unexpected, with the
 * status and what, when it cannot be. */
int gf_output_http_read(const struct gf_http_req *req, const struct gf_output_target *t, gf_output_body_reader read,
                        void *out, char *why, size_t whylen);
/* The gzip level to render a job's batches at (0: plain). */
int gf_output_gzip_level(const struct gf_job *job);

/* The rule every output's check_id starts with: an id that is there and
 * is text (gf_text_check(): valid UTF-8, no control or bidi character).
 * 0, or -GF_E_RENDER with why. */
int gf_output_check_id_text(const char *id, char *why, size_t whylen);

/* The rule every output's check_secret starts with: 8 to 8192 printable
 * ASCII characters without spaces (0x21-0x7E). A secret goes into a
 * request's URL or header, where a space or control character cannot
 * travel unchanged, and a space at either end is a copying mistake that
 * would otherwise be stored and refused by the partner every night. The
 * bounds are guestflow's, not a contract's: every occurrence of a secret
 * is blanked in what guestflow stores, logs and mails (text.h), which a
 * shorter one would do to ordinary words; and HTTP servers refuse request
 * lines and header fields well before 8 KiB grows into what a longer one
 * (percent-encoded, up to 3 bytes a character) makes, so it would fail
 * every night. 0, or -GF_E_RENDER with why. */
int gf_output_check_secret_text(const char *secret, size_t len, char *why, size_t whylen);

/* The output's id_label as a column heading ("HOTEL ID") in buf. */
const char *gf_output_id_heading(const struct gf_output *o, char *buf, size_t size);

/* The output named so, or NULL. */
const struct gf_output *gf_output_find(const char *name);
/* Every output's name, ", "-separated, for messages. */
const char *gf_output_names(void);

#endif
