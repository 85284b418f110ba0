/* The failure table: what a partner's answer to one request means for its batch and its connection. */
#include "core/outcome.h"

#include "base/backoff.h"
#include "base/util.h"

struct gf_outcome_conn *gf_outcome_conn_get(struct gf_outcome_conns *t, int64_t id)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].id == id)
			return &t->v[i];
	t->v = gf_xrealloc(t->v, (t->n + 1) * sizeof(*t->v));
	t->v[t->n] = (struct gf_outcome_conn){ .id = id };
	return &t->v[t->n++];
}

void gf_outcome_conns_free(struct gf_outcome_conns *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].auth_batches);
		free(t->v[i].singles);
	}
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

/* Note batch id among those refused 401/403/404 since the last accepted
 * request (each once): whether it was among them already. */
static bool auth_batch_note(struct gf_outcome_conn *cs, int64_t id)
{
	for (size_t i = 0; i < cs->n_auth_batches; i++)
		if (cs->auth_batches[i] == id)
			return true;
	cs->auth_batches = gf_xrealloc(cs->auth_batches, (cs->n_auth_batches + 1) * sizeof(*cs->auth_batches));
	cs->auth_batches[cs->n_auth_batches++] = id;
	return false;
}

/* Is a single booking refused with 400 (once more now) the partner's
 * verdict on it? Only when it was refused alone before in this run, and
 * since then the partner has accepted a request of the connection (it
 * showed that it takes the good ones while still refusing this one), or
 * has refused no other request, having accepted some in this run (the bad
 * one is the last left: nothing else to accept). A gateway that
 * refuses most requests at random (one good backend out of ten), or all
 * after one, refuses innocent bookings once, others in between, and they
 * are sent again. Only acceptances known when this request was sent
 * (accepted_before) count: requests in flight at once are answered in any
 * order, and a partner that starts to accept a moment after refusing says
 * nothing about the request it refused. And they must outnumber the other
 * requests it refused in between: a gateway that accepts one request in
 * ten refuses the others nine times as often. Notes the refusal. */
static bool refused_twice(struct gf_outcome_conn *cs, int64_t booking, int64_t accepted_before)
{
	for (size_t i = 0; i < cs->n_singles; i++)
		if (cs->singles[i].booking == booking) {
			struct gf_outcome_single *x = &cs->singles[i];
			int64_t accepted = accepted_before - x->accepted_then;
			int64_t others_refused = cs->refused_total - 1 - x->refused_total_then;
			bool twice = (accepted > 0 && accepted > others_refused) ||
			             (accepted_before > 0 && others_refused == 0);
			x->accepted_then = cs->accepted;
			x->refused_total_then = cs->refused_total;
			return twice;
		}
	cs->singles = gf_xrealloc(cs->singles, (cs->n_singles + 1) * sizeof(*cs->singles));
	cs->singles[cs->n_singles++] = (struct gf_outcome_single){ .booking = booking, .accepted_then = cs->accepted,
		                                                           .refused_total_then = cs->refused_total };
	return false;
}

/* The partner refusing (400/413) more requests of one connection in a row,
 * none accepted in between, than isolating one bad record can take when
 * every slot is busy: batch.in_flight refused at once, then one halving
 * after another down to a single record (1 + ceil(log2(max_records))). A
 * partner that refuses every request (a broken gateway) trips it; one with
 * a bad record accepts the other halves before. A partner whose size limit
 * is below the job's batches (413) accepts nothing until the halves fit:
 * each halving may find every slot busy with batches of the size just
 * refused, so for a 413 it is batch.in_flight refusals a halving, if that
 * is more (a batch as large as one refused is halved before it is sent:
 * run.c). README, "When things fail". */
int gf_outcome_breaker_limit(int in_flight, int64_t max_records, bool too_large)
{
	int depth = 1;
	for (int64_t n = 1; n < max_records; n *= 2)
		depth++;
	int limit = in_flight + depth;
	return too_large && in_flight * depth > limit ? in_flight * depth : limit;
}

/* 400 or 413. Refused: bisected (400) or halved (413) while the partner
 * certainly never took the batch. A single record refused is that
 * record's rejection once the partner has shown that it takes this
 * connection's good requests: refused alone twice with an accepted request
 * in between (refused_twice), with 413 (its own size) as with 400: one
 * 413 from a gateway having a bad moment is no verdict on a guest. */
static void refused(struct gf_outcome_conn *cs, const struct gf_outcome_in *in, bool too_large,
                    struct gf_outcome *o)
{
	if (!too_large && in->named && !in->maybe_sent) {
		/* The partner said which records it refuses: no guessing, no
		 * bisecting, and no sign of a partner refusing everything. */
		o->rule = GF_OUTCOME_REFUSED_NAMED;
		o->action = GF_OUTCOME_SPLIT;
		o->split_whole = true;
		o->log_outcome = "split";
		return;
	}
	cs->refusals++;
	cs->refused_total++;
	if (too_large && !in->maybe_sent && in->n_sent > 1 && in->body_bytes > 0 &&
	    (cs->too_large_bytes == 0 || in->body_bytes < cs->too_large_bytes))
		cs->too_large_bytes = in->body_bytes;
	if (cs->refusals >= gf_outcome_breaker_limit(in->in_flight, in->max_records, too_large)) {
		o->rule = GF_OUTCOME_REFUSED_ALL;
		o->action = GF_OUTCOME_RELEASE;
		o->hold = true;
		o->alert_kind = "requests_refused";
		o->maybe_sent = in->maybe_sent;
		o->log_outcome = "held";
	} else if (in->maybe_sent) {
		/* not split: an earlier attempt may have reached the partner */
		o->rule = GF_OUTCOME_REFUSED_RESEND;
		o->action = GF_OUTCOME_RETRY;
		o->maybe_sent = true;
		o->log_outcome = "retry";
	} else if (in->n_sent > 1 || refused_twice(cs, in->single_booking, in->accepted_before)) {
		o->rule = GF_OUTCOME_REFUSED_SPLIT;
		o->action = GF_OUTCOME_SPLIT;
		o->reject_single = in->n_sent <= 1;
		o->log_outcome = "split";
	} else {
		/* One record, not yet proof that it is bad. Back in the queue
		 * behind the others, so that they may show it. */
		o->rule = GF_OUTCOME_REFUSED_REQUEUE;
		o->action = GF_OUTCOME_RELEASE;
		o->requeue = true;
		o->log_outcome = "retry";
	}
}

/* 401, 403 or 404. The credentials, or this batch? A gateway (a WAF) may
 * refuse one batch for its content with these too. Once the partner has
 * accepted a request of this connection in this run, the credentials work:
 * the refusal is this batch's, retried (the attempt counted), then dead.
 * Before that, the first refusal sends the batch back behind the others, so
 * that another batch may show which it is; a second one is the
 * credentials'. And more different batches refused in a row than a run has
 * in flight at once is the credentials' again (revoked meanwhile), as is a
 * batch refused again while another is refused too, nothing accepted in
 * between: at the end of a run, fewer batches may be left than are in
 * flight, and revoked credentials made them dead, not held. (One batch
 * left, refused again and again, is a gateway's verdict on its content as
 * much as the credentials': retried, then dead.) */
static void auth_refused(struct gf_outcome_conn *cs, const struct gf_outcome_in *in, struct gf_outcome *o)
{
	cs->auth_refusals++;
	bool again = auth_batch_note(cs, in->batch_id);
	if (cs->accepted > 0 && (int)cs->n_auth_batches <= in->in_flight && !(again && cs->n_auth_batches >= 2)) {
		o->rule = GF_OUTCOME_AUTH_BATCH;
		o->action = GF_OUTCOME_RETRY;
		o->log_outcome = "retry";
	} else if (cs->accepted == 0 && cs->auth_refusals == 1 && !in->held) {
		o->rule = GF_OUTCOME_AUTH_FIRST;
		o->action = GF_OUTCOME_RELEASE;
		o->requeue = true;
		o->log_outcome = "retry";
	} else {
		o->rule = GF_OUTCOME_AUTH_HELD;
		o->action = GF_OUTCOME_RELEASE;
		o->hold = true;
		o->alert_kind = "auth_failed";
		o->log_outcome = "auth";
	}
}

/* An answer, as the output's failure table classified it. */
static void answered(struct gf_outcome_conn *cs, const struct gf_outcome_in *in, const struct gf_answer *a,
                     struct gf_outcome *o)
{
	switch (a->kind) {
	case GF_ANSWER_OK:
		if (!in->understood) {
			/* Not knowing what was accepted, resend under the same key. */
			o->rule = GF_OUTCOME_REPLY_ERROR;
			o->action = GF_OUTCOME_RETRY;
			o->maybe_sent = true;
			o->log_outcome = "reply_error";
			break;
		}
		cs->accepted++;
		cs->refusals = 0;
		cs->auth_refusals = 0;
		cs->n_auth_batches = 0;
		o->rule = GF_OUTCOME_ACCEPTED;
		o->action = GF_OUTCOME_ACCEPT;
		o->log_outcome = "accepted";
		break;
	case GF_ANSWER_REFUSED:
	case GF_ANSWER_TOO_LARGE:
		refused(cs, in, a->kind == GF_ANSWER_TOO_LARGE, o);
		break;
	case GF_ANSWER_CREDENTIALS:
		auth_refused(cs, in, o);
		break;
	case GF_ANSWER_ACCOUNT:
		/* One account for the whole job: no other batch can fare better. */
		o->rule = GF_OUTCOME_ACCOUNT;
		o->action = GF_OUTCOME_RELEASE;
		o->hold = o->hold_job = true;
		o->alert_kind = "auth_failed";
		o->log_outcome = "auth";
		break;
	case GF_ANSWER_LATER:
	case GF_ANSWER_UNEXPECTED:
		o->rule = a->kind == GF_ANSWER_LATER ? GF_OUTCOME_TEMPORARY : GF_OUTCOME_UNEXPECTED;
		o->action = GF_OUTCOME_RETRY;
		o->maybe_sent = a->maybe_taken;
		o->log_outcome = "retry";
		break;
	}
}

void gf_outcome_judge(struct gf_outcome_conn *cs, const struct gf_outcome_in *in, struct gf_outcome *o)
{
	*o = (struct gf_outcome){ .retry_after_ms = -1 };
	struct gf_answer failure = { 0 };
	bool known = in->transfer_failed && in->output->classify_failure &&
	             in->output->classify_failure(in->transport_error, &failure);
	if (known) {
		answered(cs, in, &failure, o);
		o->reached = failure.reached;
	} else if (in->transfer_failed || in->resp_too_big) {
		o->rule = GF_OUTCOME_TRANSPORT;
		o->action = GF_OUTCOME_RETRY;
		o->maybe_sent = in->resp_too_big || in->body_went_out;
		o->log_outcome = "retry";
		/* (a reply past its cap, or cut short: the partner was there; or
		 * the output's table says its server answered) */
		o->reached = (in->status > 0 && in->status < 500) || failure.reached;
	} else {
		struct gf_answer a;
		in->output->classify(in->status, &a);
		answered(cs, in, &a, o);
		/* Reached: an answer that shows the partner (not only a gateway
		 * in front of an absent service) is there, as the output's
		 * table says. */
		o->reached = a.reached;
	}
	if (o->action == GF_OUTCOME_RETRY && in->retry_after && in->retry_after[0]) {
		int64_t delay = -1;
		if (gf_retry_after_ms(in->retry_after, in->now_wall_ms, in->retry_after_max_ms, &delay) < 0) {
			o->retry_after_bad = true;
			delay = -1;
		}
		o->retry_after_ms = delay;
	}
}
