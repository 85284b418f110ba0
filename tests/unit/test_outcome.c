/* Unit tests for the failure table (outcome.c): every row, then the
 * sequences that decide a single booking's and the credentials' fate.
 * Linked with outcome.c and backoff.c only: no database, no network. */
#include <stdlib.h>
#include <string.h>

#include "core/outcome.h"
#include "outputs/review_xml/output.h"
#include "tap.h"

/* Wed, 21 Oct 2015 07:28:00 GMT */
#define NOW 1445412480000LL
#define HOUR 3600000LL

/* A connection's memory before the answer. */
struct before {
	int64_t accepted;
	int refusals;
	int auth_refusals;
	size_t n_auth_batches;   /* batches 1001.. refused 401/403/404 before */
};

struct row {
	const char *name;
	struct before conn;
	struct gf_outcome_in in;
	struct gf_outcome want;
	int want_refusals;       /* the connection's memory after */
	int64_t want_accepted;
};

/* The job of every row: batch.in_flight 4, batch.max_records 8: the breaker
 * trips at 4 + 1 + log2(8) = 8 refusals in a row, 4 * (1 + log2(8)) = 16
 * for a 413. */
#define JOB .output = &gf_output_review_xml, .in_flight = 4, .max_records = 8, .retry_after_max_ms = HOUR, .now_wall_ms = NOW, .batch_id = 7
#define BATCH(n) .n_sent = (n), .single_booking = 42

static const struct row rows[] = {
	/* no answer */
	{ "timeout before the body went out: retried, not maybe sent", { 0 },
	  { JOB, BATCH(5), .transfer_failed = true },
	  { .rule = GF_OUTCOME_TRANSPORT, .action = GF_OUTCOME_RETRY, .log_outcome = "retry" }, 0, 0 },
	{ "timeout after the body went out: retried, maybe sent", { 0 },
	  { JOB, BATCH(5), .transfer_failed = true, .body_went_out = true },
	  { .rule = GF_OUTCOME_TRANSPORT, .action = GF_OUTCOME_RETRY, .maybe_sent = true, .log_outcome = "retry" }, 0, 0 },
	{ "a reply past its cap: retried, maybe sent, reached", { 0 },
	  { JOB, BATCH(5), .resp_too_big = true, .status = 200 },
	  { .rule = GF_OUTCOME_TRANSPORT, .action = GF_OUTCOME_RETRY, .maybe_sent = true, .reached = true,
	    .log_outcome = "retry" }, 0, 0 },
	{ "a transport error with Retry-After seconds: its delay", { 0 },
	  { JOB, BATCH(5), .transfer_failed = true, .retry_after = "30" },
	  { .rule = GF_OUTCOME_TRANSPORT, .action = GF_OUTCOME_RETRY, .retry_after_ms = 30000,
	    .log_outcome = "retry" }, 0, 0 },
	/* 2xx */
	{ "200 understood: accepted, the connection's refusals reset", { .refusals = 3, .auth_refusals = 1,
	  .n_auth_batches = 1 },
	  { JOB, BATCH(5), .status = 200, .understood = true },
	  { .rule = GF_OUTCOME_ACCEPTED, .action = GF_OUTCOME_ACCEPT, .reached = true, .log_outcome = "accepted" },
	  0, 1 },
	{ "202 understood after a timeout: accepted", { .accepted = 2 },
	  { JOB, BATCH(5), .status = 202, .understood = true, .maybe_sent = true },
	  { .rule = GF_OUTCOME_ACCEPTED, .action = GF_OUTCOME_ACCEPT, .reached = true, .log_outcome = "accepted" },
	  0, 3 },
	{ "200 not understood: resent whole under its key, maybe sent", { .refusals = 2 },
	  { JOB, BATCH(5), .status = 200 },
	  { .rule = GF_OUTCOME_REPLY_ERROR, .action = GF_OUTCOME_RETRY, .maybe_sent = true, .reached = true,
	    .log_outcome = "reply_error" }, 2, 0 },
	{ "an accepted answer's Retry-After is not read", { 0 },
	  { JOB, BATCH(5), .status = 200, .understood = true, .retry_after = "120" },
	  { .rule = GF_OUTCOME_ACCEPTED, .action = GF_OUTCOME_ACCEPT, .reached = true, .log_outcome = "accepted" },
	  0, 1 },
	/* 400 / 413 */
	{ "400 on five records: bisected", { 0 },
	  { JOB, BATCH(5), .status = 400 },
	  { .rule = GF_OUTCOME_REFUSED_SPLIT, .action = GF_OUTCOME_SPLIT, .reached = true, .log_outcome = "split" },
	  1, 0 },
	{ "413 on five records: halved", { .accepted = 1 },
	  { JOB, BATCH(5), .status = 413 },
	  { .rule = GF_OUTCOME_REFUSED_SPLIT, .action = GF_OUTCOME_SPLIT, .reached = true, .log_outcome = "split" },
	  1, 1 },
	{ "400 naming records: those rejected, the rest as one batch, not counted for the breaker", { .refusals = 7 },
	  { JOB, BATCH(5), .status = 400, .named = true },
	  { .rule = GF_OUTCOME_REFUSED_NAMED, .action = GF_OUTCOME_SPLIT, .split_whole = true, .reached = true,
	    .log_outcome = "split" },
	  7, 0 },
	{ "400 naming records after an uncertain attempt: resent whole all the same", { 0 },
	  { JOB, BATCH(5), .status = 400, .named = true, .maybe_sent = true },
	  { .rule = GF_OUTCOME_REFUSED_RESEND, .action = GF_OUTCOME_RETRY, .maybe_sent = true, .reached = true,
	    .log_outcome = "retry" },
	  1, 0 },
	{ "400 after an uncertain attempt: resent whole, never split", { 0 },
	  { JOB, BATCH(5), .status = 400, .maybe_sent = true },
	  { .rule = GF_OUTCOME_REFUSED_RESEND, .action = GF_OUTCOME_RETRY, .maybe_sent = true, .reached = true,
	    .log_outcome = "retry" }, 1, 0 },
	{ "413 after an uncertain attempt: resent whole, never halved", { .accepted = 3 },
	  { JOB, BATCH(5), .status = 413, .maybe_sent = true },
	  { .rule = GF_OUTCOME_REFUSED_RESEND, .action = GF_OUTCOME_RETRY, .maybe_sent = true, .reached = true,
	    .log_outcome = "retry" }, 1, 3 },
	{ "400 after an uncertain attempt with Retry-After: resent whole after it", { 0 },
	  { JOB, BATCH(5), .status = 400, .maybe_sent = true, .retry_after = "5" },
	  { .rule = GF_OUTCOME_REFUSED_RESEND, .action = GF_OUTCOME_RETRY, .maybe_sent = true, .reached = true,
	    .retry_after_ms = 5000, .log_outcome = "retry" }, 1, 0 },
	{ "413 on a single record after an accepted request, the first time: behind the others", { .accepted = 1 },
	  { JOB, BATCH(1), .status = 413, .accepted_before = 1 },
	  { .rule = GF_OUTCOME_REFUSED_REQUEUE, .action = GF_OUTCOME_RELEASE, .requeue = true, .reached = true,
	    .log_outcome = "retry" }, 1, 1 },
	{ "413 on a single record sent before the first acceptance: behind the others", { .accepted = 1 },
	  { JOB, BATCH(1), .status = 413, .accepted_before = 0 },
	  { .rule = GF_OUTCOME_REFUSED_REQUEUE, .action = GF_OUTCOME_RELEASE, .requeue = true, .reached = true,
	    .log_outcome = "retry" }, 1, 1 },
	{ "413 on a single record, nothing accepted: behind the others", { 0 },
	  { JOB, BATCH(1), .status = 413 },
	  { .rule = GF_OUTCOME_REFUSED_REQUEUE, .action = GF_OUTCOME_RELEASE, .requeue = true, .reached = true,
	    .log_outcome = "retry" }, 1, 0 },
	{ "400 on a single record the first time: behind the others", { .accepted = 4 },
	  { JOB, BATCH(1), .status = 400 },
	  { .rule = GF_OUTCOME_REFUSED_REQUEUE, .action = GF_OUTCOME_RELEASE, .requeue = true, .reached = true,
	    .log_outcome = "retry" }, 1, 4 },
	{ "400 the 7th in a row: not yet the breaker", { .refusals = 6 },
	  { JOB, BATCH(5), .status = 400 },
	  { .rule = GF_OUTCOME_REFUSED_SPLIT, .action = GF_OUTCOME_SPLIT, .reached = true, .log_outcome = "split" },
	  7, 0 },
	{ "400 the 8th in a row: the connection held, alert", { .refusals = 7 },
	  { JOB, BATCH(5), .status = 400 },
	  { .rule = GF_OUTCOME_REFUSED_ALL, .action = GF_OUTCOME_RELEASE, .hold = true,
	    .alert_kind = "requests_refused", .reached = true, .log_outcome = "held" }, 8, 0 },
	{ "413 the 8th in a row: not yet the breaker (in_flight 4 a halving for a 413)", { .refusals = 7 },
	  { JOB, BATCH(1), .status = 413, .maybe_sent = true },
	  { .rule = GF_OUTCOME_REFUSED_RESEND, .action = GF_OUTCOME_RETRY, .maybe_sent = true, .reached = true,
	    .log_outcome = "retry" }, 8, 0 },
	{ "413 the 16th in a row after an uncertain attempt: held, still maybe sent", { .refusals = 15 },
	  { JOB, BATCH(1), .status = 413, .maybe_sent = true },
	  { .rule = GF_OUTCOME_REFUSED_ALL, .action = GF_OUTCOME_RELEASE, .hold = true, .maybe_sent = true,
	    .alert_kind = "requests_refused", .reached = true, .log_outcome = "held" }, 16, 0 },
	/* 401 / 403 / 404 */
	{ "401 before anything was accepted: behind the others", { 0 },
	  { JOB, BATCH(5), .status = 401 },
	  { .rule = GF_OUTCOME_AUTH_FIRST, .action = GF_OUTCOME_RELEASE, .requeue = true, .reached = true,
	    .log_outcome = "retry" }, 0, 0 },
	{ "403 the second time, nothing accepted: the credentials', held", { .auth_refusals = 1, .n_auth_batches = 1 },
	  { JOB, BATCH(5), .status = 403 },
	  { .rule = GF_OUTCOME_AUTH_HELD, .action = GF_OUTCOME_RELEASE, .hold = true, .alert_kind = "auth_failed",
	    .reached = true, .log_outcome = "auth" }, 0, 0 },
	{ "403 the first time on a connection already held: held", { 0 },
	  { JOB, BATCH(5), .status = 403, .held = true },
	  { .rule = GF_OUTCOME_AUTH_HELD, .action = GF_OUTCOME_RELEASE, .hold = true, .alert_kind = "auth_failed",
	    .reached = true, .log_outcome = "auth" }, 0, 0 },
	{ "403 while the connection's other requests are accepted: this batch's, retried", { .accepted = 2 },
	  { JOB, BATCH(5), .status = 403 },
	  { .rule = GF_OUTCOME_AUTH_BATCH, .action = GF_OUTCOME_RETRY, .reached = true, .log_outcome = "retry" },
	  0, 2 },
	{ "404 while accepted, the 4th batch refused (in_flight 4): still this batch's", { .accepted = 2,
	  .auth_refusals = 3, .n_auth_batches = 3 },
	  { JOB, BATCH(5), .status = 404 },
	  { .rule = GF_OUTCOME_AUTH_BATCH, .action = GF_OUTCOME_RETRY, .reached = true, .log_outcome = "retry" },
	  0, 2 },
	{ "401 while accepted, the 5th batch refused in a row: revoked, held", { .accepted = 2, .auth_refusals = 4,
	  .n_auth_batches = 4 },
	  { JOB, BATCH(5), .status = 401 },
	  { .rule = GF_OUTCOME_AUTH_HELD, .action = GF_OUTCOME_RELEASE, .hold = true, .alert_kind = "auth_failed",
	    .reached = true, .log_outcome = "auth" }, 0, 2 },
	{ "401 with Retry-After: no delay read (not a retry)", { 0 },
	  { JOB, BATCH(5), .status = 401, .retry_after = "60" },
	  { .rule = GF_OUTCOME_AUTH_FIRST, .action = GF_OUTCOME_RELEASE, .requeue = true, .reached = true,
	    .log_outcome = "retry" }, 0, 0 },
	/* temporary and other statuses */
	{ "429 with Retry-After seconds: retried after it, not maybe sent", { 0 },
	  { JOB, BATCH(5), .status = 429, .retry_after = "120" },
	  { .rule = GF_OUTCOME_TEMPORARY, .action = GF_OUTCOME_RETRY, .reached = true, .retry_after_ms = 120000,
	    .log_outcome = "retry" }, 0, 0 },
	{ "429 with a Retry-After past the cap: the cap", { 0 },
	  { JOB, BATCH(5), .status = 429, .retry_after = "86400" },
	  { .rule = GF_OUTCOME_TEMPORARY, .action = GF_OUTCOME_RETRY, .reached = true, .retry_after_ms = HOUR,
	    .log_outcome = "retry" }, 0, 0 },
	{ "503 with a Retry-After date: retried then, not maybe sent, not reached", { 0 },
	  { JOB, BATCH(5), .status = 503, .retry_after = "Wed, 21 Oct 2015 07:29:00 GMT" },
	  { .rule = GF_OUTCOME_TEMPORARY, .action = GF_OUTCOME_RETRY, .retry_after_ms = 60000,
	    .log_outcome = "retry" }, 0, 0 },
	{ "503 with a Retry-After that is neither: backoff, flagged", { 0 },
	  { JOB, BATCH(5), .status = 503, .retry_after = "soon" },
	  { .rule = GF_OUTCOME_TEMPORARY, .action = GF_OUTCOME_RETRY, .retry_after_bad = true,
	    .log_outcome = "retry" }, 0, 0 },
	{ "500: retried, maybe sent (the work may be done)", { 0 },
	  { JOB, BATCH(5), .status = 500 },
	  { .rule = GF_OUTCOME_TEMPORARY, .action = GF_OUTCOME_RETRY, .maybe_sent = true, .log_outcome = "retry" },
	  0, 0 },
	{ "502 from a gateway: retried, maybe sent", { 0 },
	  { JOB, BATCH(5), .status = 502 },
	  { .rule = GF_OUTCOME_TEMPORARY, .action = GF_OUTCOME_RETRY, .maybe_sent = true, .log_outcome = "retry" },
	  0, 0 },
	{ "504 from a gateway: retried, maybe sent", { 0 },
	  { JOB, BATCH(5), .status = 504 },
	  { .rule = GF_OUTCOME_TEMPORARY, .action = GF_OUTCOME_RETRY, .maybe_sent = true, .log_outcome = "retry" },
	  0, 0 },
	{ "409 (a key in progress): retried, maybe sent", { 0 },
	  { JOB, BATCH(5), .status = 409 },
	  { .rule = GF_OUTCOME_TEMPORARY, .action = GF_OUTCOME_RETRY, .maybe_sent = true, .reached = true,
	    .log_outcome = "retry" }, 0, 0 },
	{ "408: retried, not maybe sent", { 0 },
	  { JOB, BATCH(5), .status = 408 },
	  { .rule = GF_OUTCOME_TEMPORARY, .action = GF_OUTCOME_RETRY, .reached = true, .log_outcome = "retry" },
	  0, 0 },
	{ "425: retried", { 0 },
	  { JOB, BATCH(5), .status = 425 },
	  { .rule = GF_OUTCOME_TEMPORARY, .action = GF_OUTCOME_RETRY, .reached = true, .log_outcome = "retry" },
	  0, 0 },
	{ "422: unexpected, retried (a refusal: not taken)", { 0 },
	  { JOB, BATCH(5), .status = 422 },
	  { .rule = GF_OUTCOME_UNEXPECTED, .action = GF_OUTCOME_RETRY, .reached = true, .log_outcome = "retry" },
	  0, 0 },
	{ "302: unexpected, retried, maybe sent", { .refusals = 3 },
	  { JOB, BATCH(5), .status = 302 },
	  { .rule = GF_OUTCOME_UNEXPECTED, .action = GF_OUTCOME_RETRY, .maybe_sent = true, .reached = true,
	    .log_outcome = "retry" },
	  3, 0 },
};

static struct gf_outcome_conn conn_before(const struct before *b)
{
	struct gf_outcome_conn c = { .id = 1, .accepted = b->accepted, .refusals = b->refusals,
	                             .auth_refusals = b->auth_refusals };
	if (b->n_auth_batches) {
		c.auth_batches = calloc(b->n_auth_batches, sizeof(*c.auth_batches));
		for (size_t i = 0; i < b->n_auth_batches; i++)
			c.auth_batches[i] = 1001 + (int64_t)i;
		c.n_auth_batches = b->n_auth_batches;
	}
	return c;
}

static void test_rows(void)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct gf_outcome_conns t = { 0 };
		struct gf_outcome_conn *c = gf_outcome_conn_get(&t, 1);
		*c = conn_before(&r->conn);
		struct gf_outcome o;
		gf_outcome_judge(c, &r->in, &o);
		const struct gf_outcome *w = &r->want;
		int64_t want_delay = w->retry_after_ms ? w->retry_after_ms : -1;
		bool same = o.rule == w->rule && o.action == w->action && o.maybe_sent == w->maybe_sent &&
		            o.requeue == w->requeue && o.hold == w->hold && o.reject_single == w->reject_single &&
		    o.split_whole == w->split_whole &&
		            o.reached == w->reached && o.retry_after_ms == want_delay &&
		            o.retry_after_bad == w->retry_after_bad &&
		            strcmp(o.log_outcome, w->log_outcome) == 0 &&
		            (o.alert_kind && w->alert_kind ? strcmp(o.alert_kind, w->alert_kind) == 0
		                                           : o.alert_kind == w->alert_kind);
		if (!ok(same, "%s", r->name))
			diag("got rule=%d action=%d maybe_sent=%d requeue=%d hold=%d alert=%s reject_single=%d reached=%d"
			     " retry_after_ms=%lld bad=%d outcome=%s", o.rule, o.action, o.maybe_sent, o.requeue, o.hold,
			     o.alert_kind ? o.alert_kind : "-", o.reject_single, o.reached, (long long)o.retry_after_ms,
			     o.retry_after_bad, o.log_outcome);
		ok(c->refusals == r->want_refusals && c->accepted == r->want_accepted,
		   "%s: the connection's memory after (refusals %d, accepted %lld)", r->name, c->refusals,
		   (long long)c->accepted);
		gf_outcome_conns_free(&t);
	}
}

static struct gf_outcome judge(struct gf_outcome_conn *c, long status, size_t n, int64_t booking, int64_t batch)
{
	struct gf_outcome_in in = { JOB, .n_sent = n, .single_booking = booking, .status = status,
	                            .understood = true, .accepted_before = c->accepted };
	in.batch_id = batch;
	struct gf_outcome o;
	gf_outcome_judge(c, &in, &o);
	return o;
}

/* A single booking refused with 400 is rejected only the second time, with
 * an accepted request in between, or when it is the only single refused
 * since (the bad one left last). */
static void test_single_refused_twice(void)
{
	struct gf_outcome_conns t = { 0 };
	struct gf_outcome_conn *c = gf_outcome_conn_get(&t, 1);
	is_int(judge(c, 400, 1, 42, 1).rule, GF_OUTCOME_REFUSED_REQUEUE, "B-42 refused alone, nothing accepted: again later");
	is_int(judge(c, 200, 3, 0, 2).rule, GF_OUTCOME_ACCEPTED, "another request accepted");
	struct gf_outcome o = judge(c, 400, 1, 42, 3);
	ok(o.rule == GF_OUTCOME_REFUSED_SPLIT && o.reject_single,
	   "B-42 refused alone again after an accepted request: rejected");

	struct gf_outcome_conn *d = gf_outcome_conn_get(&t, 2);
	ok(d != c && d->accepted == 0, "a second connection has its own memory");
	is_int(judge(d, 200, 5, 0, 10).rule, GF_OUTCOME_ACCEPTED, "accepted once");
	is_int(judge(d, 400, 1, 7, 11).rule, GF_OUTCOME_REFUSED_REQUEUE, "B-7 refused alone: again later");
	is_int(judge(d, 400, 1, 8, 12).rule, GF_OUTCOME_REFUSED_REQUEUE, "B-8 refused alone: again later");
	is_int(judge(d, 400, 1, 7, 13).rule, GF_OUTCOME_REFUSED_REQUEUE,
	       "B-7 again, another single refused in between and nothing accepted: still not proof");
	o = judge(d, 400, 1, 7, 14);
	ok(o.rule == GF_OUTCOME_REFUSED_SPLIT && o.reject_single,
	   "B-7 refused again with no other single in between: the bad one left last, rejected");
	gf_outcome_conns_free(&t);
}

/* Requests in flight at once are answered in any order: an acceptance
 * that arrives after a request was sent is no proof against that request's
 * booking (poison_text's P003, one 400 and one 200 racing). */
static void test_single_refused_while_another_is_accepted(void)
{
	struct gf_outcome_conns t = { 0 };
	struct gf_outcome_conn *c = gf_outcome_conn_get(&t, 1);
	is_int(judge(c, 400, 1, 42, 1).rule, GF_OUTCOME_REFUSED_REQUEUE, "B-42 refused alone, nothing accepted");
	/* B-42 is sent again (nothing accepted yet), and so is another batch. */
	struct gf_outcome_in again = { JOB, BATCH(1), .status = 400, .accepted_before = c->accepted };
	again.batch_id = 3;
	is_int(judge(c, 200, 3, 0, 2).rule, GF_OUTCOME_ACCEPTED, "the other batch's answer comes first: accepted");
	struct gf_outcome o;
	gf_outcome_judge(c, &again, &o);
	is_int(o.rule, GF_OUTCOME_REFUSED_REQUEUE,
	       "B-42 refused again, sent before that acceptance: not proof, behind the others");
	o = judge(c, 400, 1, 42, 4);
	ok(o.rule == GF_OUTCOME_REFUSED_SPLIT && o.reject_single,
	   "B-42 sent after the acceptance and refused once more: rejected");
	gf_outcome_conns_free(&t);
}

/* A gateway that accepts one request in ten: a single booking refused,
 * then one request accepted and others refused, then the booking refused
 * again is no proof (the refusals outnumber the acceptance); the partner
 * accepting more than it refuses in between is. */
static void test_single_refused_by_a_flaky_gateway(void)
{
	struct gf_outcome_conns t = { 0 };
	struct gf_outcome_conn *c = gf_outcome_conn_get(&t, 1);
	is_int(judge(c, 400, 1, 42, 1).rule, GF_OUTCOME_REFUSED_REQUEUE, "B-42 refused alone");
	is_int(judge(c, 200, 5, 0, 2).rule, GF_OUTCOME_ACCEPTED, "one request accepted");
	is_int(judge(c, 400, 5, 0, 3).rule, GF_OUTCOME_REFUSED_SPLIT, "another refused: split");
	is_int(judge(c, 400, 3, 0, 4).rule, GF_OUTCOME_REFUSED_SPLIT, "and another: split");
	is_int(judge(c, 400, 1, 42, 5).rule, GF_OUTCOME_REFUSED_REQUEUE,
	       "B-42 refused again, one acceptance and two other refusals in between: not proof");
	for (int64_t b = 6; b < 9; b++)
		is_int(judge(c, 200, 2, 0, b).rule, GF_OUTCOME_ACCEPTED, "request %lld accepted", (long long)b);
	is_int(judge(c, 400, 1, 7, 9).rule, GF_OUTCOME_REFUSED_REQUEUE, "B-7 refused alone");
	struct gf_outcome o = judge(c, 400, 1, 42, 10);
	ok(o.rule == GF_OUTCOME_REFUSED_SPLIT && o.reject_single,
	   "B-42 refused again after three acceptances and one other refusal: rejected");
	gf_outcome_conns_free(&t);
}

/* 401/403/404 once, then accepted, then refused again: the batch's; the
 * same batch refused twice counts once. */
static void test_auth_sequence(void)
{
	struct gf_outcome_conns t = { 0 };
	struct gf_outcome_conn *c = gf_outcome_conn_get(&t, 1);
	is_int(judge(c, 403, 5, 0, 1).rule, GF_OUTCOME_AUTH_FIRST, "403 first: behind the others");
	is_int(judge(c, 200, 5, 0, 2).rule, GF_OUTCOME_ACCEPTED, "another batch accepted: the credentials work");
	ok(c->auth_refusals == 0 && c->n_auth_batches == 0, "an accepted request forgets the refusals");
	for (int k = 0; k < 6; k++)
		is_int(judge(c, 403, 5, 0, 1).rule, GF_OUTCOME_AUTH_BATCH, "batch 1 refused again (%d): its own, retried",
		       k + 1);
	is_int((int64_t)c->n_auth_batches, 1, "one batch refused, however often");
	for (int64_t b = 3; b <= 5; b++)
		is_int(judge(c, 401, 5, 0, b).rule, GF_OUTCOME_AUTH_BATCH, "batch %lld refused: still a batch's",
		       (long long)b);
	is_int(judge(c, 401, 5, 0, 6).rule, GF_OUTCOME_AUTH_HELD,
	       "a 5th different batch in a row (more than in_flight 4): the credentials', held");
	gf_outcome_conns_free(&t);
}

/* Credentials revoked near a run's end, fewer batches left than are in
 * flight: one of them refused again while another is refused too, nothing
 * accepted in between, is the credentials' (held, pending), not the
 * batches' (retried until dead). */
static void test_auth_revoked_with_few_batches_left(void)
{
	struct gf_outcome_conns t = { 0 };
	struct gf_outcome_conn *c = gf_outcome_conn_get(&t, 1);
	is_int(judge(c, 200, 5, 0, 1).rule, GF_OUTCOME_ACCEPTED, "batch 1 accepted");
	is_int(judge(c, 401, 5, 0, 2).rule, GF_OUTCOME_AUTH_BATCH, "batch 2 refused: retried");
	is_int(judge(c, 401, 1, 0, 3).rule, GF_OUTCOME_AUTH_BATCH, "batch 3 refused: retried");
	struct gf_outcome o = judge(c, 401, 5, 0, 2);
	ok(o.rule == GF_OUTCOME_AUTH_HELD && o.hold && o.alert_kind && strcmp(o.alert_kind, "auth_failed") == 0,
	   "batch 2 refused again, batch 3 too, nothing accepted since: the credentials', held with an alert");
	gf_outcome_conns_free(&t);
}

/* A single booking refused with 413 once, after an accepted request, is
 * sent again behind the others; refused again after another acceptance,
 * it is rejected (its own size). */
static void test_single_too_large_twice(void)
{
	struct gf_outcome_conns t = { 0 };
	struct gf_outcome_conn *c = gf_outcome_conn_get(&t, 1);
	is_int(judge(c, 200, 1, 0, 1).rule, GF_OUTCOME_ACCEPTED, "B-1 accepted");
	is_int(judge(c, 413, 1, 42, 2).rule, GF_OUTCOME_REFUSED_REQUEUE,
	       "B-42 refused 413 once: a gateway's bad moment, behind the others");
	is_int(judge(c, 200, 1, 0, 3).rule, GF_OUTCOME_ACCEPTED, "B-3 accepted");
	struct gf_outcome o = judge(c, 413, 1, 42, 2);
	ok(o.rule == GF_OUTCOME_REFUSED_SPLIT && o.reject_single, "B-42 refused 413 again, after B-3: rejected");
	gf_outcome_conns_free(&t);
}

static void test_breaker_limit(void)
{
	is_int(gf_outcome_breaker_limit(4, 500, false), 4 + 1 + 9, "in_flight 4, 500 records: 14");
	is_int(gf_outcome_breaker_limit(1, 1, false), 2, "in_flight 1, 1 record: 2");
	is_int(gf_outcome_breaker_limit(4, 8, false), 8, "in_flight 4, 8 records: 8");
	is_int(gf_outcome_breaker_limit(64, 10000, false), 64 + 1 + 14, "in_flight 64, 10000 records: 79");
	is_int(gf_outcome_breaker_limit(4, 50, true), 4 * 7, "413, in_flight 4, 50 records: in_flight a halving, 28");
	is_int(gf_outcome_breaker_limit(1, 1, true), 2, "413, in_flight 1, 1 record: 2, as for a 400");
}

/* A 413 for a body of several records teaches the connection the
 * partner's limit (the smallest such body); a single record's, or one of
 * an attempt that may have reached the partner, does not. */
static void test_too_large_learned(void)
{
	struct gf_outcome_conns t = { 0 };
	struct gf_outcome_conn *c = gf_outcome_conn_get(&t, 1);
	struct gf_outcome_in in = { JOB, BATCH(8), .status = 413, .body_bytes = 4000 };
	struct gf_outcome o;
	gf_outcome_judge(c, &in, &o);
	ok(o.rule == GF_OUTCOME_REFUSED_SPLIT && c->too_large_bytes == 4000, "8 records, 4000 bytes refused: learned");
	in.body_bytes = 5000;
	gf_outcome_judge(c, &in, &o);
	is_int((int64_t)c->too_large_bytes, 4000, "a larger body refused: the limit stays the smallest");
	in = (struct gf_outcome_in){ JOB, BATCH(4), .status = 413, .body_bytes = 2000, .maybe_sent = true };
	gf_outcome_judge(c, &in, &o);
	is_int((int64_t)c->too_large_bytes, 4000, "an attempt that may have reached the partner: not learned");
	in = (struct gf_outcome_in){ JOB, BATCH(1), .status = 413, .body_bytes = 900 };
	gf_outcome_judge(c, &in, &o);
	is_int((int64_t)c->too_large_bytes, 4000, "a single record: its own size, not learned");
	in = (struct gf_outcome_in){ JOB, BATCH(2), .status = 400, .body_bytes = 100 };
	gf_outcome_judge(c, &in, &o);
	is_int((int64_t)c->too_large_bytes, 4000, "a 400: not a size");
	gf_outcome_conns_free(&t);
}

/* Each output's own table: what an HTTP status means, before the run's
 * policy (the rows above) decides what becomes of the batch. */
static void test_output_tables(void)
{
	static const struct {
		long status;
		enum gf_answer_kind kind;
		bool maybe_taken, reached;
	} review_xml[] = {
		{ 200, GF_ANSWER_OK, false, true },          { 204, GF_ANSWER_OK, false, true },
		{ 400, GF_ANSWER_REFUSED, false, true },     { 413, GF_ANSWER_TOO_LARGE, false, true },
		{ 401, GF_ANSWER_CREDENTIALS, false, true }, { 403, GF_ANSWER_CREDENTIALS, false, true },
		{ 404, GF_ANSWER_CREDENTIALS, false, true }, { 408, GF_ANSWER_LATER, false, true },
		{ 409, GF_ANSWER_LATER, true, true },        { 425, GF_ANSWER_LATER, false, true },
		{ 429, GF_ANSWER_LATER, false, true },       { 500, GF_ANSWER_LATER, true, false },
		{ 502, GF_ANSWER_LATER, true, false },       { 503, GF_ANSWER_LATER, false, false },
		{ 504, GF_ANSWER_LATER, true, false },       { 302, GF_ANSWER_UNEXPECTED, true, true },
		{ 303, GF_ANSWER_UNEXPECTED, true, true },   { 405, GF_ANSWER_UNEXPECTED, false, true },
		{ 418, GF_ANSWER_UNEXPECTED, false, true },  { 100, GF_ANSWER_UNEXPECTED, true, true },
	};
	for (size_t i = 0; i < sizeof(review_xml) / sizeof(review_xml[0]); i++) {
		struct gf_answer a;
		gf_output_review_xml.classify(review_xml[i].status, &a);
		ok(a.kind == review_xml[i].kind && a.maybe_taken == review_xml[i].maybe_taken &&
		   a.reached == review_xml[i].reached, "review-xml: HTTP %ld is answer %d (maybe taken %d, reached %d)",
		   review_xml[i].status, (int)review_xml[i].kind, review_xml[i].maybe_taken, review_xml[i].reached);
	}
}

int main(void)
{
	test_output_tables();
	test_rows();
	test_single_refused_twice();
	test_single_refused_while_another_is_accepted();
	test_single_refused_by_a_flaky_gateway();
	test_auth_sequence();
	test_auth_revoked_with_few_batches_left();
	test_single_too_large_twice();
	test_breaker_limit();
	test_too_large_learned();
	return done_testing();
}
