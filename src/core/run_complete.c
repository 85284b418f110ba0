/* The completion sessions of a run: accepted completions down two pipelines, read back, redone when refused. */
#include "core/run_private.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "db/db.h"
#include "base/log.h"

static void account(struct run *rn, const struct gf_complete_result *res)
{
	rn->st->delivered += res->delivered;
	rn->st->rejected += res->rejected;
	rn->st->dead += res->dead;
	rn->st->retried += res->retried;
	rn->st->history_refused += res->history_refused;
}

/* A completion done: was it refused (done as a retry instead), or did it
 * write history? The history store failing as a whole ends the run
 * (README, "When things fail"): more batches refused for the first time in
 * this run, no history written in between, than a run has completions
 * under way when the store goes down (one per slot and the batch claimed
 * ahead: batch.in_flight + 1). A poison batch refused again on each retry
 * counts once, so it goes dead after max_attempts while the run goes on;
 * a store down costs those few batches an attempt each, not the night. A
 * completion that waited longer than database.lock_timeout for a lock
 * (55P03: bookings the PMS keeps locked, a hotel's at its night audit) is
 * its batch's, not the store's: not counted. */
static void judge_completion(struct run *rn, int64_t batch_id, const struct gf_complete_result *res)
{
	/* (completed member by member without one entry written: delivered,
	 * their entries owed, but as far as the store goes, refused) */
	bool none_written = res->history_refused > 0 && res->history_refused == res->delivered;
	if (!res->refused && !none_written) {
		if (res->delivered > 0)
			rn->refused_in_row = 0;
		return;
	}
	if (strcmp(res->sqlstate, "55P03") == 0)
		return;
	for (size_t i = 0; i < rn->n_refused_ids; i++)
		if (rn->refused_ids[i] == batch_id)
			return;
	rn->refused_ids = gf_xrealloc(rn->refused_ids, (rn->n_refused_ids + 1) * sizeof(*rn->refused_ids));
	rn->refused_ids[rn->n_refused_ids++] = batch_id;
	if (++rn->refused_in_row < rn->job->in_flight + 1 || rn->store_down)
		return;
	rn->store_down = true;
	snprintf(rn->store_msg, sizeof(rn->store_msg), "the database refused to record the outcome of %d batches in a"
	         " row (SQLSTATE %s, see the log): the history store fails as a whole", rn->refused_in_row,
	         res->sqlstate[0] ? res->sqlstate : "?");
	gf_error("store_failing", "batches=%d sqlstate=%s msg=%s", rn->refused_in_row, gf_log_q(res->sqlstate),
	         gf_log_q("no new batches; those refused keep their counted attempts, those in flight go back to the"
	                  " queue; the run ends (75)"));
}

void gf_run_sent_clear(struct sent *e)
{
	gf_batch_free(e->batch);
	free((char *)e->call.url_public);
	gf_complete_accepted_clear(&e->acc);
	*e = (struct sent){ 0 };
}

/* Read back the completions in a pipeline that are done; with block, all
 * of them. A statement of one batch the database refused for its data is
 * kept for redo_refused (after the pipeline is drained: it needs a
 * transaction of its own); one of several batches, each of them is sent
 * again alone (rn->solo), so that the refusal is the one batch's. */
static int collect_pipe(struct run *rn, struct pipe *q, bool block)
{
	while (q->n > 0) {
		struct sent *first = &q->q[q->head];
		size_t k = first->group > 0 ? (size_t)first->group : 1;
		int64_t ids[GROUP_MAX];
		int each[GROUP_MAX];
		struct gf_complete_result res[GROUP_MAX];
		for (size_t i = 0; i < k; i++)
			ids[i] = q->q[(q->head + (int)i) % PIPE_MAX].batch->id;
		bool collected = false;
		int r = gf_complete_accepted_collect(q->c, ids, k, block, &collected, each, res);
		if (r == 0 && !collected)
			return 0; /* not done yet */
		for (size_t i = 0; i < k; i++) {
			struct sent *e = &q->q[q->head];
			q->head = (q->head + 1) % PIPE_MAX;
			q->n--;
			if (r == -GF_E_DATA && k == 1) {
				snprintf(e->sqlstate, sizeof(e->sqlstate), "%s", gf_db_sqlstate(q->c));
				rn->redo = gf_xrealloc(rn->redo, (rn->n_redo + 1) * sizeof(*rn->redo));
				rn->redo[rn->n_redo++] = *e;
				*e = (struct sent){ 0 };
				continue;
			}
			if (r == -GF_E_DATA) {
				rn->solo = gf_xrealloc(rn->solo, (rn->n_solo + 1) * sizeof(*rn->solo));
				rn->solo[rn->n_solo++] = *e;
				*e = (struct sent){ 0 };
				continue;
			}
			gf_run_sent_clear(e);
			if (r < 0 || each[i] == -ESTALE)
				continue;
			account(rn, &res[i]);
			judge_completion(rn, ids[i], &res[i]);
		}
		if (r == -GF_E_DATA && k > 1)
			gf_debug("completion_group_refused", "batches=%zu sqlstate=%s msg=%s", k,
			         gf_log_q(gf_db_sqlstate(q->c)), gf_log_q("each sent again alone"));
		if (r < 0 && r != -GF_E_DATA) {
			rn->fatal = r;
			return r;
		}
	}
	return 0;
}

/* Send n completions (of the group, or one alone) as one statement down
 * the pipeline of the session with the shorter queue; they pass to it. */
static int send_group(struct run *rn, struct sent *v, int n)
{
	struct pipe *q = &rn->pipes[0];
	for (int k = 1; k < COMPLETERS; k++) {
		if (collect_pipe(rn, &rn->pipes[k], false) < 0)
			return rn->fatal;
		if (rn->pipes[k].n < q->n)
			q = &rn->pipes[k];
	}
	if (q->n + n > PIPE_MAX && collect_pipe(rn, q, true) < 0)
		return rn->fatal;
	if (PQpipelineStatus(q->c) == PQ_PIPELINE_OFF && !PQenterPipelineMode(q->c)) {
		char line[512];
		gf_db_error_line(q->c, NULL, NULL, line, sizeof(line));
		gf_error("db_error", "statement=pipeline error=%s", gf_log_q(line));
		return rn->fatal = gf_db_error_code(q->c);
	}
	const struct gf_accepted *accs[GROUP_MAX];
	for (int i = 0; i < n; i++)
		accs[i] = &v[i].acc;
	int r = gf_complete_accepted_send(q->c, rn->job, rn->st->run_id, accs, (size_t)n);
	if (r < 0)
		return rn->fatal = r;
	for (int i = 0; i < n; i++) {
		struct sent *e = &q->q[(q->head + q->n++) % PIPE_MAX];
		*e = v[i];
		e->group = i == 0 ? n : 0;
		v[i] = (struct sent){ 0 };
	}
	return 0;
}

int gf_run_flush(struct run *rn, bool force)
{
	while (rn->n_solo > 0 && !rn->fatal) {
		struct sent e = rn->solo[--rn->n_solo];
		if (send_group(rn, &e, 1) < 0) {
			gf_run_sent_clear(&e);
			return rn->fatal;
		}
	}
	if (rn->n_group == 0 || rn->fatal)
		return rn->fatal;
	bool idle = false;
	for (int k = 0; k < COMPLETERS; k++)
		idle = idle || rn->pipes[k].n == 0;
	if (!force && !idle && rn->n_group < GROUP_MAX)
		return 0;
	int n = rn->n_group;
	rn->n_group = 0;
	return send_group(rn, rn->group, n);
}

static void log_dead(const struct gf_batch *b, const struct gf_complete_result *res, const char *error)
{
	if (res->dead)
		gf_error("batch_dead", "batch=%lld connection=%lld records=%lld attempts=%d error=%s", (long long)b->id,
		         (long long)b->connection_id, (long long)res->dead, b->attempts, gf_log_q(error));
}

/* The completions the database refused in a pipeline (any error but the
 * session lost): each batch retried (then dead), the run goes on (unless
 * the store fails as a whole, judge_completion).
 * On the first completion session, out of pipeline mode. */
static int redo_refused(struct run *rn)
{
	for (size_t i = 0; i < rn->n_redo && !rn->fatal; i++) {
		struct sent *e = &rn->redo[i];
		struct gf_complete_result res = { 0 };
		int r = gf_complete_accepted_each(rn->pipes[0].c, rn->job, rn->st->run_id, e->batch, &e->acc,
		                                  e->sqlstate, &res);
		if (r == 0)
			snprintf(res.sqlstate, sizeof(res.sqlstate), "%s", e->sqlstate);
		if (r == 1)
			r = gf_complete_refused(rn->pipes[0].c, rn->job, rn->st->run_id, e->batch, &e->call, e->sqlstate,
			                        e->retry_delay_ms, true, &res);
		if (r < 0 && r != -ESTALE)
			rn->fatal = r;
		if (r == 0) {
			account(rn, &res);
			log_dead(e->batch, &res, "the database refused to record its outcome");
			judge_completion(rn, e->batch->id, &res);
		}
	}
	for (size_t i = 0; i < rn->n_redo; i++)
		gf_run_sent_clear(&rn->redo[i]);
	rn->n_redo = 0;
	return rn->fatal;
}

int gf_run_collect(struct run *rn, bool block)
{
	for (int k = 0; k < COMPLETERS; k++)
		if (rn->pipes[k].c && collect_pipe(rn, &rn->pipes[k], block) < 0)
			return rn->fatal;
	return 0;
}

/* Everything sent read back, and the sessions out of pipeline mode for the
 * statements that wait for their result. */
int gf_run_drain(struct run *rn)
{
	/* (a group the database refused is sent again alone: until none is left) */
	do {
		if (gf_run_flush(rn, true) < 0 || gf_run_collect(rn, true) < 0)
			return rn->fatal;
	} while (rn->n_solo > 0 || rn->n_group > 0);
	for (int k = 0; k < COMPLETERS; k++) {
		PGconn *c = rn->pipes[k].c;
		if (c && PQpipelineStatus(c) != PQ_PIPELINE_OFF && !PQexitPipelineMode(c)) {
			char line[512];
			gf_db_error_line(c, NULL, NULL, line, sizeof(line));
			gf_error("db_error", "statement=pipeline error=%s", gf_log_q(line));
			rn->fatal = gf_db_error_code(c);
		}
	}
	if (!rn->fatal && rn->n_redo)
		redo_refused(rn);
	return rn->fatal;
}

/* Complete a batch; a lost lease is not an error of this run. An accepted
 * answer goes out without waiting for the database (read back later). */
int gf_run_finish(struct run *rn, struct slot *s, const struct gf_completion *cp)
{
	int r;
	struct gf_completion kept;
	if (cp->kind != GF_COMPLETE_ACCEPTED && cp->n_rejections && s->batch->maybe_sent) {
		/* The partner may hold this batch, all its members, under its
		 * key: they stay members, not sent, until an answer covers
		 * them (partner_rejections), or the batch goes dead. */
		kept = *cp;
		kept.rejections = NULL;
		kept.n_rejections = 0;
		cp = &kept;
	}
	if (cp->kind == GF_COMPLETE_ACCEPTED && cp->call && rn->pipeline) {
		/* Waits for the others of its group (gf_run_flush). */
		if (rn->n_group == GROUP_MAX && gf_run_flush(rn, true) < 0)
			return rn->fatal;
		struct sent *e = &rn->group[rn->n_group];
		*e = (struct sent){ .call = *cp->call, .retry_delay_ms = cp->retry_delay_ms };
		if ((r = gf_complete_accepted_make(s->batch, cp, &e->acc)) < 0) {
			gf_complete_accepted_clear(&e->acc);
			return rn->fatal = r;
		}
		e->call.url_public = gf_xstrdup(cp->call->url_public ? cp->call->url_public : "");
		e->call.error = NULL;
		e->call.response_excerpt = NULL;
		/* The batch goes with it (the slot is done with it). */
		e->batch = s->batch;
		s->batch = NULL;
		rn->n_group++;
		return gf_run_flush(rn, false);
	}
	if ((r = gf_run_drain(rn)) < 0)
		return r;
	struct gf_complete_result res = { 0 };
	r = gf_complete(rn->pipes[0].c, rn->job, rn->st->run_id, s->batch, cp, &res);
	if (r == -ESTALE)
		return 0;
	if (r < 0) {
		rn->fatal = r;
		return r;
	}
	account(rn, &res);
	log_dead(s->batch, &res, cp->error);
	judge_completion(rn, s->batch->id, &res);
	return 0;
}
