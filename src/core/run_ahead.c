/* The claims of a run: a round of batches claimed at once, and claimed ahead while every slot is busy, rendered one
 * at a time as slots come free. */
#include "core/run_private.h"

#include <string.h>

#include "base/log.h"
#include "base/signals.h"
#include "db/db.h"

/* A batch claimed ahead that will not be sent, the run having failed: given
 * back as it was on the main session when that one is still fine (else its
 * lease expires). Frees it. */
void gf_run_give_back(struct run *rn, struct gf_batch *b)
{
	if (PQstatus(rn->db) == CONNECTION_OK && PQtransactionStatus(rn->db) == PQTRANS_IDLE &&
	    gf_claim_giveback(rn->db, b) == 0)
		gf_warn("batch_given_back", "batch=%lld msg=%s", (long long)b->id,
		        gf_log_q("claimed ahead and not sent: back in the queue as it was"));
	gf_batch_free(b);
}

/* Batches rendered from what the plan read are checked against the source
 * for bookings deleted since. */
bool gf_run_probe_source(const struct run *rn)
{
	return !rn->plan.no_keep && (gf_plan_active(&rn->plan) || rn->plan.kept);
}

bool gf_run_probe_failed(struct run *rn, bool probed)
{
	if (!probed || PQstatus(rn->db) != CONNECTION_OK || !gf_db_sqlstate_may_be_row(gf_db_sqlstate(rn->db)))
		return false;
	gf_warn("claim_probe_failed", "sqlstate=%s msg=%s", gf_db_sqlstate(rn->db),
	        gf_log_q("the source view raised an error when the claim looked up planned bookings (deleted, consent"
	                 " withdrawn since?): claimed again without that look-up, this run reads every batch"
	                 " through the view, booking by booking where it fails"));
	gf_plan_forget(&rn->plan);
	return true;
}

bool gf_run_claim_transient(struct run *rn)
{
	const char *st = gf_db_sqlstate(rn->db);
	if (PQstatus(rn->db) != CONNECTION_OK || strncmp(st, "40", 2) != 0 || rn->claim_retries >= CLAIM_RETRIES)
		return false;
	rn->claim_retries++;
	gf_warn("claim_retry", "sqlstate=%s attempt=%d msg=%s", st, rn->claim_retries,
	        gf_log_q("the claim met another session's locks (a rerun, another worker) and was rolled back:"
	                 " claimed again"));
	return true;
}

bool gf_run_queued(const struct run *rn)
{
	return rn->q_head < rn->q_len;
}

/* Batches claimed, in batch order, behind those queued already. A batch of
 * a connection held since the claim was sent goes back at once. */
static void enqueue(struct run *rn, struct gf_batch **v, size_t n)
{
	if (rn->q_head == rn->q_len)
		rn->q_head = rn->q_len = 0;
	rn->queue = gf_xrealloc(rn->queue, (rn->q_len + n) * sizeof(*rn->queue));
	gf_run_poll_ended(rn);
	for (size_t i = 0; i < n; i++) {
		if (gf_run_withheld(rn, v[i]->connection_id)) {
			struct slot *s = gf_xcalloc(1, sizeof(*s));
			s->batch = v[i];
			gf_run_release_skipped(rn, s);
			continue;
		}
		rn->queue[rn->q_len++] = v[i];
	}
	free(v);
}

struct slot *gf_run_next_queued(struct run *rn)
{
	while (gf_run_queued(rn) && !rn->fatal) {
		struct gf_batch *b = rn->queue[rn->q_head++];
		if (gf_run_withheld(rn, b->connection_id)) {
			struct slot *s = gf_xcalloc(1, sizeof(*s));
			s->batch = b;
			gf_run_release_skipped(rn, s);
			continue;
		}
		struct slot *s = gf_run_take(rn, b);
		if (s)
			return s;
	}
	return NULL;
}

void gf_run_give_back_queued(struct run *rn)
{
	while (gf_run_queued(rn)) {
		struct gf_batch *b = rn->queue[rn->q_head++];
		if (rn->fatal)
			gf_batch_free(b); /* no database: its lease will expire */
		else
			gf_run_give_back(rn, b);
	}
	free(rn->queue);
	rn->queue = NULL;
	rn->q_head = rn->q_len = 0;
}

/* While every slot is busy, the next batch is rendered, or the next round
 * of batches claimed ahead on the main session without waiting for the
 * answer (and the first of them rendered when it comes), so that claiming
 * and rendering overlap the partner's replies and the database's other
 * work. Only without --limit (a cut needs its own transaction). */
#define AHEAD_RETRY_MS 100
void gf_run_claim_ahead(struct run *rn)
{
	if (gf_signals_stop || rn->fatal || rn->store_down || rn->account_refused || rn->limit >= 0 || rn->ready || rn->claiming ||
	    gf_http_in_flight(rn->http) < rn->job->in_flight)
		return;
	if (gf_run_queued(rn)) {
		rn->ready = gf_run_next_queued(rn);
		return;
	}
	if (gf_now_mono_ms() < rn->ahead_after_ms)
		return;
	if (gf_run_plan_feed(rn, false) < 0)
		return;
	rn->claim_probed = gf_run_probe_source(rn);
	int r = gf_claim_send(rn->db, rn->job, rn->st->run_id, rn->skip, rn->n_skip, rn->claim_probed,
	                      rn->job->in_flight);
	if (r < 0)
		rn->fatal = r;
	else
		rn->claiming = true;
}

/* The claim sent ahead, read back when it is there (with block, waiting
 * for it): its batches queued, the first rendered into rn->ready. The main
 * session is free again afterwards. */
void gf_run_settle(struct run *rn, bool block)
{
	if (!rn->claiming)
		return;
	bool done = false;
	struct gf_batch **v = NULL;
	size_t n = 0;
	int r = gf_claim_recv(rn->db, block, &done, &v, &n);
	if (!done)
		return;
	rn->claiming = false;
	if (r < 0) {
		if (gf_run_probe_failed(rn, rn->claim_probed))
			rn->ahead_after_ms = 0; /* at once, without the probe */
		else if (gf_run_claim_transient(rn))
			rn->ahead_after_ms = gf_now_mono_ms() + AHEAD_RETRY_MS;
		else
			rn->fatal = r;
		return;
	}
	rn->claim_retries = 0;
	if (n == 0) {
		/* Nothing due: the plan's next slice (when this run writes the
		 * plan), or another try a moment later (batches of other
		 * processes' plans, retries coming due), not at once. */
		if (gf_signals_stop || rn->store_down || gf_run_plan_feed(rn, true) <= 0)
			rn->ahead_after_ms = gf_now_mono_ms() + AHEAD_RETRY_MS;
		return;
	}
	enqueue(rn, v, n);
	if (!rn->ready && !gf_signals_stop)
		rn->ready = gf_run_next_queued(rn);
}

int gf_run_claim_round(struct run *rn)
{
	bool probed = gf_run_probe_source(rn);
	int r = gf_claim_send(rn->db, rn->job, rn->st->run_id, rn->skip, rn->n_skip, probed, rn->job->in_flight);
	if (r < 0) {
		rn->fatal = r;
		return r;
	}
	bool done = false;
	struct gf_batch **v = NULL;
	size_t n = 0;
	r = gf_claim_recv(rn->db, true, &done, &v, &n);
	if (r < 0 && (gf_run_probe_failed(rn, probed) || gf_run_claim_transient(rn)))
		return gf_run_claim_round(rn); /* (once without the probe; a few times after a deadlock) */
	if (r < 0) {
		rn->fatal = r;
		return r;
	}
	rn->claim_retries = 0;
	if (n == 0)
		return 0;
	enqueue(rn, v, n);
	return 1;
}

/* The batch claimed ahead, about to be sent: not if its connection was
 * refused its credentials since, or stopped or deactivated since (the
 * announcement read now: the property's consent withdrawn while the batch
 * waited for a slot), and under a lease that outlasts the request (it may
 * have waited for a slot as long as a request takes). False: it is not to
 * be sent (given back, or its lease lost). */
#define LEASE_MARGIN_MS 1000
bool gf_run_ready_to_send(struct run *rn, struct slot *s)
{
	const struct gf_job *job = rn->job;
	gf_run_poll_ended(rn);
	gf_run_hold_if_not_allowed(rn, s->batch);
	if (gf_run_withheld(rn, s->batch->connection_id)) {
		gf_run_release_skipped(rn, s);
		return false;
	}
	int64_t waited = gf_now_mono_ms() - s->claimed_ms;
	if (waited + job->timeout_ms + job->connect_timeout_ms + LEASE_MARGIN_MS < job->lease_ms)
		return true;
	int r = gf_claim_renew(rn->db, job, s->batch);
	if (r == 1)
		return true;
	if (r < 0) {
		rn->fatal = r;
	} else {
		gf_warn("lease_lost", "batch=%lld msg=%s", (long long)s->batch->id,
		        gf_log_q("claimed ahead, its lease ran out before a slot was free; another worker has it"));
	}
	gf_run_slot_free(s);
	return false;
}
