/* One run of a job: plan, then claim, render, send and complete batches. */
#include "core/run.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/backoff.h"
#include "core/claim.h"
#include "core/connection.h"
#include "core/complete.h"
#include "core/alert.h"
#include "db/db.h"
#include "base/fault.h"
#include "base/gzip.h"
#include "transport/http.h"
#include "base/log.h"
#include "core/metrics.h"
#include "db/migrate.h"
#include "core/notify.h"
#include "base/proc.h"
#include "core/outcome.h"
#include "core/output.h"
#include "core/plan.h"
#include "core/run_private.h"
#include "core/progress.h"
#include "core/secret.h"
#include "base/signals.h"
#include "base/template.h"
#include "base/text.h"

/* Records done of the total, rate and ETA (progress.c). */
static void progress(struct run *rn, bool final)
{
	int64_t done = rn->st->delivered + rn->st->rejected + rn->st->dead;
	/* While the plan is read, the total is what it has found so far. */
	int64_t total = rn->due + rn->plan.res.found;
	gf_progress_report(&rn->progress, done, total, gf_plan_active(&rn->plan), final);
}

void gf_run_slot_free(struct slot *s)
{
	if (!s)
		return;
	gf_batch_free(s->batch);
	gf_http_req_free(s->req);
	gf_batch_rows_free(s->rows);
	free(s->ids);
	free(s->nos);
	free(s->nos_data);
	for (size_t i = 0; i < s->n_rows && s->reasons; i++)
		free(s->reasons[i]);
	free(s->reasons);
	free(s->url_public);
	free(s);
}

bool gf_run_skipped(const struct run *rn, int64_t conn)
{
	for (size_t i = 0; i < rn->n_skip; i++)
		if (rn->skip[i] == conn)
			return true;
	return false;
}

static bool ended(const struct run *rn, int64_t conn)
{
	for (size_t i = 0; i < rn->n_ended; i++)
		if (rn->ended[i] == conn)
			return true;
	return false;
}

bool gf_run_withheld(const struct run *rn, int64_t conn)
{
	return gf_run_skipped(rn, conn) || ended(rn, conn); /* (ended ones are skipped too: gf_run_poll_ended) */
}

#define ENDED_CHANNEL "guestflow_connection_ended"

/* How often a run makes the automatic stop again (gf_run_poll_ended), and
 * how long that waits for a lock. */
#define AUTOSTOP_EVERY_MS 1000
#define AUTOSTOP_LOCK_MS 200

/* The connection ended for this run: what it holds of it goes back to the
 * queue, and it is held for the rest of the run: no claim of this run
 * takes its batches again, also when it is live again meanwhile (else
 * claimed and given back without end), nor waits for them. */
static void hold_ended(struct run *rn, int64_t id)
{
	rn->ended = gf_xrealloc(rn->ended, (rn->n_ended + 1) * sizeof(*rn->ended));
	rn->ended[rn->n_ended++] = id;
	if (!gf_run_skipped(rn, id)) {
		rn->skip = gf_xrealloc(rn->skip, (rn->n_skip + 1) * sizeof(*rn->skip));
		rn->skip[rn->n_skip++] = id;
	}
}

void gf_run_poll_ended(struct run *rn)
{
	/* (a session in trouble: the next statement on it says so) */
	if (!rn->db || PQconsumeInput(rn->db) == 0)
		return;
	/* The PMS may stop allowing a property's export during the run: the
	 * automatic stop made again, at most every AUTOSTOP_EVERY_MS, when the
	 * main session is free, stops such a connection, whose announcement
	 * is read below (before, only the next run did, and this one sent the
	 * rest of the night's guests, a batch retried included). */
	if (rn->pjobs && !rn->claiming && PQtransactionStatus(rn->db) == PQTRANS_IDLE &&
	    gf_now_mono_ms() >= rn->autostop_next_ms) {
		rn->autostop_next_ms = gf_now_mono_ms() + AUTOSTOP_EVERY_MS;
		int changed = 0;
		/* (a connection another session keeps locked: not waited for,
		 * which would hold up the requests out; until it is made again,
		 * each batch is checked against the rule before it goes,
		 * gf_run_hold_if_not_allowed) */
		int e = gf_connection_autostop(rn->db, rn->job, rn->pjobs, rn->n_pjobs, rn->notice_to, AUTOSTOP_LOCK_MS,
		                               true, &changed);
		if (e == 0)
			rn->autostop_locked = 0;
		else if (strcmp(gf_db_sqlstate(rn->db), "55P03") == 0)
			rn->autostop_locked++;
		if (PQconsumeInput(rn->db) == 0)
			return;
	}
	for (PGnotify *n; (n = PQnotifies(rn->db)) != NULL; PQfreemem(n)) {
		int64_t id;
		if (strcmp(n->relname, ENDED_CHANNEL) != 0 || gf_parse_int64(n->extra, &id) < 0 || ended(rn, id))
			continue;
		hold_ended(rn, id);
		gf_info("connection_ended", "connection=%lld msg=%s", (long long)id,
		        gf_log_q("stopped or deactivated during the run: what this run holds of it and has not sent"
		                 " goes back to the queue"));
	}
}

void gf_run_hold_if_not_allowed(struct run *rn, const struct gf_batch *b)
{
	if (rn->autostop_locked == 0 || rn->claiming || PQtransactionStatus(rn->db) != PQTRANS_IDLE ||
	    ended(rn, b->connection_id))
		return;
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(rn->db, &err, "property_allowed",
		"SELECT " GF_SQL_PROPERTY_ALLOWED("$1"), 1, (const char *[]){ b->property_id });
	if (!r || PQgetvalue(r, 0, 0)[0] == 't')
		return;
	hold_ended(rn, b->connection_id);
	gf_warn("connection_held", "connection=%lld property=%s msg=%s", (long long)b->connection_id,
	        gf_log_q(b->property_id), gf_log_q("the PMS no longer allows the property's guests to be exported, and"
	                                           " the automatic stop waits for a lock another session keeps: nothing"
	                                           " more is sent to it in this run"));
}

/* The first record rejected in this run, for the summary line. */
static void note_rejected(struct run *rn, const char *booking_no, const char *reason)
{
	if (!rn->first_rejected[0])
		snprintf(rn->first_rejected, sizeof(rn->first_rejected), "%s: %s",
		         booking_no && *booking_no ? booking_no : "(no booking number)", reason ? reason : "rejected");
}

/* Rejections for the rows not rendered, plus the partner's. */
struct rejections {
	struct gf_rejection *v;
	char **owned;
	size_t n, cap;
};

static void rej_add(struct rejections *r, int64_t id, char *reason_owned)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->v = gf_xrealloc(r->v, r->cap * sizeof(*r->v));
		r->owned = gf_xrealloc(r->owned, r->cap * sizeof(*r->owned));
	}
	r->v[r->n].booking_id = id;
	r->v[r->n].reason = reason_owned;
	r->v[r->n].partner = false;
	r->owned[r->n] = reason_owned;
	r->n++;
}

/* Replace the reason of id's entry (reason_owned is taken either way);
 * false when there is none. */
static bool rej_replace(struct rejections *r, int64_t id, char *reason_owned)
{
	for (size_t k = 0; k < r->n; k++)
		if (r->v[k].booking_id == id) {
			free(r->owned[k]);
			r->v[k].reason = r->owned[k] = reason_owned;
			return true;
		}
	free(reason_owned);
	return false;
}

/* id's entry is the partner's rejection, not one for the booking's data. */
static void rej_partner(struct rejections *r, int64_t id)
{
	for (size_t k = 0; k < r->n; k++)
		if (r->v[k].booking_id == id)
			r->v[k].partner = true;
}

/* Drop the entries after the first n, freeing their reasons. */
static void rej_truncate(struct rejections *r, size_t n)
{
	while (r->n > n)
		free(r->owned[--r->n]);
}

static void rej_free(struct rejections *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->owned[i]);
	free(r->v);
	free(r->owned);
}

/* A member of a batch that may have reached the partner is not rejected
 * for its data (planned again once the PMS changes it): the partner may
 * hold it under the batch's key, and planning it again would send it a
 * second time under another. It stays rejected until a rerun. */
static void render_rejections(const struct slot *s, struct rejections *rej)
{
	for (size_t i = 0; i < s->n_rows; i++)
		if (s->reasons[i]) {
			rej_add(rej, s->ids[i], gf_xstrdup(s->reasons[i]));
			rej->v[rej->n - 1].partner = s->batch->maybe_sent;
		}
}

static char *history_message(const struct run *rn, const struct slot *s)
{
	char batch[32];
	snprintf(batch, sizeof(batch), "%lld", (long long)s->batch->id);
	struct gf_template_vars v = {
		.partner = rn->job->partner, .job = rn->job->name, .batch = batch,
		.booking_no = NULL, .hotel_id = s->batch->id_at_partner, .run_id = rn->run_id,
		.date = rn->today,
	};
	struct gf_buf b = GF_BUF_INIT(65536);
	if (gf_template_expand(rn->job->history_message, &v, &b) < 0)
		gf_buf_reset(&b);
	return gf_buf_steal(&b);
}

/* The connection is held for the rest of the run: its batches are given
 * back as they are claimed, its deliveries stay pending, and the caller
 * raises an alert. For a fault of the connection, not of a batch
 * (credentials refused, a hotel id the format cannot carry, a partner
 * refusing everything); the next run tries again. */
static void hold(struct run *rn, const struct gf_batch *b, const char *event, const char *error, const char *advice)
{
	if (gf_run_skipped(rn, b->connection_id))
		return;
	rn->skip = gf_xrealloc(rn->skip, (rn->n_skip + 1) * sizeof(*rn->skip));
	rn->skip[rn->n_skip++] = b->connection_id;
	rn->st->skipped_connections++;
	gf_error(event, "connection=%lld property=%s hotel_id=%s error=%s msg=%s", (long long)b->connection_id,
	         gf_log_q(b->property_id), gf_log_q(b->id_at_partner), gf_log_q(error), gf_log_q(advice));
}

/* hold() for a batch never sent: given back as it is, with the alert. */
static int hold_connection(struct run *rn, struct slot *s, const char *alert_kind, const char *error,
                           const char *alert_message)
{
	hold(rn, s->batch, "connection_held", error,
	     "this connection is held for the rest of the run; its deliveries stay pending for the next run");
	struct gf_completion cp = { .kind = GF_COMPLETE_RELEASE, .error = error, .alert_kind = alert_kind,
	                            .alert_message = alert_message, .retry_delay_ms = rn->job->backoff_initial_ms };
	return gf_run_finish(rn, s, &cp);
}

/* What the reply needs of the rows (booking id and number), so that the
 * rows are not held while the batch is in flight. */
static void keep_members(struct slot *s)
{
	size_t n = s->n_rows, bytes = 0;
	const struct gf_record *recs = s->rows->recs;
	for (size_t i = 0; i < n; i++)
		bytes += strlen(recs[i].booking_no ? recs[i].booking_no : "") + 1;
	s->ids = gf_xcalloc(n ? n : 1, sizeof(*s->ids));
	s->nos = gf_xcalloc(n ? n : 1, sizeof(*s->nos));
	s->nos_data = gf_xcalloc(bytes ? bytes : 1, 1);
	char *p = s->nos_data;
	for (size_t i = 0; i < n; i++) {
		s->ids[i] = recs[i].booking_id;
		const char *no = recs[i].booking_no ? recs[i].booking_no : "";
		size_t len = strlen(no);
		memcpy(p, no, len + 1);
		s->nos[i] = p;
		p += len + 1;
	}
	gf_batch_rows_free(s->rows);
	s->rows = NULL;
}

/* The body could not be rendered whole (r < 0): that batch fails, never
 * the run. A body past the request's buffer (the cap is memory's, not the
 * format's) is halved like a 413, down to the one record that is too large
 * alone, rejected; a batch that may have reached the partner is never split
 * and is retried whole (then dead). Anything else: retried with the reason,
 * then dead with an alert. */
static int render_failed(struct run *rn, struct slot *s, size_t n, int r)
{
	struct gf_batch *b = s->batch;
	char err[256];
	struct rejections rej = { 0 };
	render_rejections(s, &rej); /* (the rows gone from the source view) */
	struct gf_completion cp = { .retry_delay_ms = gf_backoff_ms(b->attempts, rn->job->backoff_initial_ms,
	                                                            rn->job->backoff_max_ms, &rn->rng),
	                            .rejections = rej.v, .n_rejections = rej.n };
	if (r == -GF_E_TOO_BIG && n == 1 && !b->maybe_sent) {
		size_t i = 0;
		while (i < s->n_rows && s->reasons[i])
			i++;
		snprintf(err, sizeof(err), "too large to send: rendered, it is over the %zu bytes one request may hold",
		         s->req->body.max);
		if (i < s->n_rows) {
			rej_add(&rej, s->rows->recs[i].booking_id, gf_xstrdup(err));
			note_rejected(rn, s->rows->recs[i].booking_no, err);
		}
		cp.kind = GF_COMPLETE_ACCEPTED;
		cp.rejections = rej.v;
		cp.n_rejections = rej.n;
	} else if (r == -GF_E_TOO_BIG && !b->maybe_sent) {
		snprintf(err, sizeof(err), "the batch's body is over the %zu bytes one request may hold: halved",
		         s->req->body.max);
		cp.kind = GF_COMPLETE_SPLIT;
	} else {
		snprintf(err, sizeof(err), "could not render the batch: %s", gf_strerror(r));
		cp.kind = GF_COMPLETE_RETRY;
	}
	cp.error = err;
	gf_error("render_failed", "batch=%lld records=%zu error=%s", (long long)b->id, n, gf_log_q(err));
	int rc = gf_run_finish(rn, s, &cp);
	rej_free(&rej);
	return rc < 0 ? rc : 0;
}

/* Render the batch; complete it at once when nothing is left to send.
 * Returns 1 when there is a request to start, 0 when completed, < 0 on
 * error. */
static int prepare(struct run *rn, struct slot *s)
{
	const struct gf_job *job = rn->job;
	/* A connection the format cannot carry (a hotel id stored before it
	 * was checked when entered): held, with an alert, not the batch's
	 * fault and no reason to end the run. */
	const struct gf_output *out = job->output;
	char why[160];
	if (out->check_id(s->batch->id_at_partner, why, sizeof(why)) < 0) {
		char err[256], msg[768];
		snprintf(err, sizeof(err), "the connection's %s cannot be sent in %s: %s: %s", out->id_label, out->name,
		         out->id_label, why);
		snprintf(msg, sizeof(msg), "the %s of property %s (%s) cannot be sent in %s (%s); correct the"
		         " connection's %s ('guestflow connection show %s %s'); its deliveries stay pending",
		         out->id_label, s->batch->property_id, gf_log_q(s->batch->id_at_partner), out->name, why,
		         out->id_label, s->batch->property_id, job->partner);
		int r = hold_connection(rn, s, "connection_invalid", err, msg);
		return r < 0 ? r : 0;
	}
	/* The same for a secret the format cannot carry (one written by SQL,
	 * or entered for a partner before a job sent it this format). */
	const char *sec = s->batch->secret;
	if (sec && out->check_secret && out->check_secret(sec, strlen(sec), why, sizeof(why)) < 0) {
		char err[256], msg[768];
		snprintf(err, sizeof(err), "the connection's %s cannot be sent in %s: %s", out->secret_label, out->name,
		         why);
		snprintf(msg, sizeof(msg), "the %s of property %s cannot be sent in %s (%s); set the right one with"
		         " 'guestflow connection set-credentials %s %s'; its deliveries stay pending", out->secret_label,
		         s->batch->property_id, out->name, why, s->batch->property_id, job->partner);
		int r = hold_connection(rn, s, "connection_invalid", err, msg);
		return r < 0 ? r : 0;
	}
	/* A batch this run planned: its rows as the plan read them; any
	 * other as the source view has them now. */
	s->rows = gf_plan_take(&rn->plan, s->batch);
	if (!s->rows) {
		int err = gf_batch_rows(rn->db, job, s->batch, &s->rows);
		if (err < 0) {
			rn->fatal = err;
			return err;
		}
	}
	s->n_rows = s->rows->n;
	s->reasons = gf_xcalloc(s->n_rows ? s->n_rows : 1, sizeof(char *));
	struct gf_record *recs = gf_xcalloc(s->n_rows ? s->n_rows : 1, sizeof(*recs));
	size_t *map = gf_xcalloc(s->n_rows ? s->n_rows : 1, sizeof(*map));
	char **rr = gf_xcalloc(s->n_rows ? s->n_rows : 1, sizeof(char *));
	size_t n = 0;
	for (size_t i = 0; i < s->n_rows; i++) {
		if (s->rows->why && s->rows->why[i]) {
			s->reasons[i] = gf_xstrdup(s->rows->why[i]);
			continue;
		}
		if (!s->rows->in_source[i]) {
			s->reasons[i] = gf_xstrdup("booking no longer in the source view (deleted in the PMS?)");
			continue;
		}
		recs[n] = s->rows->recs[i];
		map[n++] = i;
	}
	s->req = gf_http_req_new();
	/* The body, deflated as it is rendered when the partner takes gzip. */
	struct gf_buf *body = &s->req->body;
	const struct gf_output_target t = { .partner_id = s->batch->id_at_partner, .secret = s->batch->secret,
		                            .batch_key = s->batch->idempotency_key, .batch_day = s->batch->day,
		                            .maybe_sent = s->batch->maybe_sent };
	int r = out->render(&t, recs, n, job->default_language, job->omit,
	                    gf_output_gzip_level(job), body, rr, &s->n_rendered);
	for (size_t k = 0; k < n; k++)
		if (rr[k])
			s->reasons[map[k]] = rr[k];
	free(rr);
	free(recs);
	free(map);
	if (r < 0)
		return render_failed(rn, s, n, r);
	/* A member of a batch that may have reached the partner, not sent
	 * again: the partner may hold it all the same. */
	for (size_t i = 0; i < s->n_rows && s->batch->maybe_sent; i++)
		if (s->reasons[i]) {
			char *was = s->reasons[i];
			s->reasons[i] = gf_xasprintf("%s; " GF_HELD_NOT_SENT_AGAIN, was);
			free(was);
		}
	for (size_t i = 0; i < s->n_rows; i++)
		if (s->reasons[i]) {
			const char *no = s->rows->recs[i].booking_no ? s->rows->recs[i].booking_no : "";
			gf_warn("record_rejected", "batch=%lld booking_no=%s reason=%s", (long long)s->batch->id,
			        gf_log_q(no), gf_log_q(s->reasons[i]));
			note_rejected(rn, no, s->reasons[i]);
		}
	keep_members(s);

	if (s->n_rendered == 0) {
		struct rejections rej = { 0 };
		render_rejections(s, &rej);
		struct gf_completion cp = { .kind = GF_COMPLETE_ACCEPTED, .rejections = rej.v,
		                            .n_rejections = rej.n };
		r = gf_run_finish(rn, s, &cp);
		rej_free(&rej);
		return r < 0 ? r : 0;
	}
	/* The partner refused a body as large as this one as too large (413)
	 * in this run: halved before it is sent (never one that may have
	 * reached the partner: that one goes whole under its key). */
	const struct gf_outcome_conn *cs = gf_outcome_conn_get(&rn->seen, s->batch->connection_id);
	if (!s->batch->maybe_sent && s->n_rendered > 1 && cs->too_large_bytes > 0 &&
	    s->req->body.len >= cs->too_large_bytes) {
		struct rejections rej = { 0 };
		render_rejections(s, &rej);
		char err[300];
		snprintf(err, sizeof(err), "not sent, halved: the partner refused a request of this connection of %zu"
		         " bytes as too large (HTTP 413) in this run, and this one has %zu bytes",
		         cs->too_large_bytes, s->req->body.len);
		gf_info("batch_halved", "batch=%lld records=%zu bytes=%zu msg=%s", (long long)s->batch->id,
		        s->n_rendered, s->req->body.len, gf_log_q(err));
		struct gf_completion cp = { .kind = GF_COMPLETE_SPLIT, .rejections = rej.v, .n_rejections = rej.n,
		                            .error = err };
		r = gf_run_finish(rn, s, &cp);
		rej_free(&rej);
		return r < 0 ? r : 0;
	}
	return 1;
}

/* Send a rendered batch. Returns 1 when the request was started, < 0 on
 * error. */
static int start(struct run *rn, struct slot *s)
{
	const struct gf_job *job = rn->job;
	const struct gf_output_target t = { .partner_id = s->batch->id_at_partner, .secret = s->batch->secret,
		                            .batch_key = s->batch->idempotency_key, .batch_day = s->batch->day,
		                            .maybe_sent = s->batch->maybe_sent };
	s->url_public = job->output->url(job->endpoint, &t, false);
	int r = job->output->send(rn->http, s->req, job, &t);
	if (r < 0)
		return r;
	rn->st->requests++;
	s->accepted_before = gf_outcome_conn_get(&rn->seen, s->batch->connection_id)->accepted;
	gf_debug("batch_sent", "batch=%lld connection=%lld records=%zu bytes=%zu attempt=%d key=%s",
	         (long long)s->batch->id, (long long)s->batch->connection_id, s->n_rendered,
	         s->req->body.len, s->batch->attempts, s->batch->idempotency_key);
	return 1;
}

/* The start of the reply body as safe text (text.h): the key redacted in
 * the whole body before it is cut, valid UTF-8, at most outlen - 1 bytes. */
static void excerpt(const struct gf_buf *b, const char *secret, char *out, size_t outlen)
{
	gf_text_safe_to(out, outlen, b->data, b->len, secret);
}

/* Map the partner's per-record rejections to deliveries; fails when the reply
 * names a booking that was not sent or counts do not add up.
 *
 * A batch that may have reached the partner before (maybe_sent) and is
 * sent again with fewer members (one deleted from the PMS, or no longer
 * renderable, since) may be answered for the members it had then: a
 * partner that deduplicates by Idempotency-Key replays its stored reply.
 * Its counts may then cover up to the batch's members under its key, and
 * it may name a member not sent this time: that one takes the partner's
 * reason instead of the local one. The members sent are delivered as the
 * reply says; those not sent are rejected locally (prepare() says why, and
 * that the partner may hold them). */
static int partner_rejections(const struct slot *s, const struct gf_reply *rep,
                              struct rejections *rej, char *why, size_t whylen)
{
	const struct gf_batch *b = s->batch;
	int64_t sent = (int64_t)s->n_rendered;
	int64_t held = b->maybe_sent && b->members > sent ? b->members : sent;
	/* (each count is at most INT32_MAX, reply.c: the sum cannot overflow;
	 * checked apart first all the same) */
	bool fits = rep->accepted >= 0 && rep->rejected >= 0 && rep->accepted <= held && rep->rejected <= held;
	int64_t answered = fits ? rep->accepted + rep->rejected : -1;
	/* An answer to this request counts the records sent and names only
	 * them; the partner's stored answer to an earlier attempt under the
	 * key (a replay) counts the whole batch held. Counts in between, or a
	 * fresh count naming a record not sent, are neither: not understood
	 * (guests not sent would be taken as accepted, or named ones sent). */
	bool replay = held > sent && answered == held;
	if (answered != sent && !replay) {
		if (held > sent)
			snprintf(why, whylen, "reply counts accepted=%lld rejected=%lld but %zu records were sent (of the"
			         " %lld this batch holds under its key)", (long long)rep->accepted, (long long)rep->rejected,
			         s->n_rendered, (long long)held);
		else
			snprintf(why, whylen, "reply counts accepted=%lld rejected=%lld but %zu records were sent",
			         (long long)rep->accepted, (long long)rep->rejected, s->n_rendered);
		return -GF_E_REPLY;
	}
	for (size_t k = 0; k < rep->n_items; k++) {
		const char *bn = rep->items[k].booking_no;
		size_t i = 0;
		while (i < s->n_rows && !(strcmp(s->nos[i], bn) == 0 && (!s->reasons[i] || replay)))
			i++;
		if (i == s->n_rows) {
			char no[100];
			gf_text_safe_to(no, sizeof(no), bn, strlen(bn), b->secret);
			snprintf(why, whylen, "reply rejects booking %s, which was not %s", no,
			         held > sent ? "among the records sent (and the counts are not of the whole batch held under"
			                       " its key)" : "in the batch");
			return -GF_E_REPLY;
		}
		const char *reason = rep->items[k].reason;
		_cleanup_free_ char *said = gf_xasprintf("partner: %s", reason && *reason ? reason : "rejected without a reason");
		char *safe = gf_text_safe_dup(said, b->secret, GF_TEXT_MAX);
		if (s->reasons[i])
			(void)rej_replace(rej, s->ids[i], safe); /* refused from an earlier attempt */
		else
			rej_add(rej, s->ids[i], safe);
		rej_partner(rej, s->ids[i]);
	}
	return 0;
}

/* A transfer that failed: may the partner have the whole request? Only if
 * all of the body went out (a partner cannot accept what it did not get). */
static bool body_went_out(const struct gf_http_req *q)
{
	curl_off_t up = 0;
	if (!q->easy || curl_easy_getinfo(q->easy, CURLINFO_SIZE_UPLOAD_T, &up) != CURLE_OK)
		return true;
	return up >= (curl_off_t)q->body.len;
}

/* The booking number and id of a batch's only record sent. */
static const char *single_no(const struct slot *s)
{
	for (size_t i = 0; i < s->n_rows; i++)
		if (!s->reasons[i])
			return s->nos[i];
	return "";
}

static int64_t single_id(const struct slot *s)
{
	for (size_t i = 0; i < s->n_rows; i++)
		if (!s->reasons[i])
			return s->ids[i];
	return -1;
}

/* The output's failure table on an answer's status. */
static enum gf_answer_kind answer_kind(const struct gf_output *out, long status)
{
	struct gf_answer a;
	out->classify(status, &a);
	return a.kind;
}

/* A refusal that names the records refused (the output's parse_refusal):
 * each is rejected with the partner's reason. 0 when every name is a
 * record sent in this request; otherwise -1, rej as it was, and the batch
 * is bisected as for a refusal that names none. */
static int named_rejections(const struct slot *s, const struct gf_reply *rep, struct rejections *rej)
{
	const struct gf_batch *b = s->batch;
	size_t before = rej->n;
	for (size_t k = 0; k < rep->n_items; k++) {
		size_t i = 0;
		while (i < s->n_rows && !(!s->reasons[i] && strcmp(s->nos[i], rep->items[k].booking_no) == 0))
			i++;
		if (i == s->n_rows) {
			rej_truncate(rej, before);
			return -1;
		}
		for (size_t j = before; j < rej->n; j++)
			if (rej->v[j].booking_id == s->ids[i]) {
				rej_truncate(rej, before);
				return -1; /* named twice */
			}
		const char *reason = rep->items[k].reason;
		_cleanup_free_ char *said = gf_xasprintf("partner: %s", reason && *reason ? reason : "rejected without a reason");
		rej_add(rej, s->ids[i], gf_text_safe_dup(said, b->secret, GF_TEXT_MAX));
		rej_partner(rej, s->ids[i]);
	}
	return 0;
}

static void handle_reply(struct run *rn, struct slot *s)
{
	if (rn->fatal)
		return; /* the database is gone: the batch's lease will expire */
	const struct gf_job *job = rn->job;
	struct gf_http_req *q = s->req;
	struct gf_batch *b = s->batch;
	char err[1024] = "";
	char body[512] = "";
	char alert[4096] = "";
	struct gf_completion cp = { 0 };
	struct rejections rej = { 0 };
	struct gf_reply rep = { 0 };
	const char *outcome;
	_cleanup_free_ char *history = NULL;

	render_rejections(s, &rej);
	size_t n_render_rej = rej.n;
	excerpt(&q->resp, b->secret, body, sizeof(body));
	/* Any kind of completion may end as a retry (the database refusing it). */
	cp.retry_delay_ms = gf_backoff_ms(b->attempts, job->backoff_initial_ms, job->backoff_max_ms, &rn->rng);

	bool failed = q->result != CURLE_OK || q->resp_too_big;
	struct gf_outcome_in in = {
		.transfer_failed = q->result != CURLE_OK, .transport_error = (int)q->result, .resp_too_big = q->resp_too_big,
		.body_went_out = failed && !q->resp_too_big && body_went_out(q), .status = q->status,
		.output = job->output, .retry_after = q->retry_after, .now_wall_ms = gf_now_wall_ms(),
		.batch_id = b->id, .maybe_sent = b->maybe_sent, .n_sent = s->n_rendered, .body_bytes = q->body.len,
		.single_booking = single_id(s), .accepted_before = s->accepted_before, .held = gf_run_skipped(rn, b->connection_id),
		.in_flight = job->in_flight, .max_records = job->max_records,
		.retry_after_max_ms = job->retry_after_max_ms,
	};
	char why[512] = "";
	if (failed) {
		gf_http_error_text(q, err, sizeof(err));
	} else if (answer_kind(job->output, q->status) == GF_ANSWER_REFUSED && job->output->parse_refusal) {
		struct gf_reply named = { 0 };
		if (job->output->parse_refusal(q->resp.data ? q->resp.data : "", q->resp.len, b->secret, &named, why,
		                               sizeof(why)) == 0)
			in.named = named_rejections(s, &named, &rej) == 0;
		gf_reply_clear(&named);
	} else if (answer_kind(job->output, q->status) == GF_ANSWER_OK) {
		/* (a format that answers nothing per record: all of it taken) */
		rep.accepted = (int64_t)s->n_rendered;
		int r = job->output->parse_reply ? job->output->parse_reply(q->resp.data ? q->resp.data : "", q->resp.len,
		                                                            b->secret, &rep, why, sizeof(why)) : 0;
		if (r == 0)
			r = partner_rejections(s, &rep, &rej, why, sizeof(why));
		in.understood = r == 0;
	}
	struct gf_outcome_conn *cs = gf_outcome_conn_get(&rn->seen, b->connection_id);
	struct gf_outcome o;
	gf_outcome_judge(cs, &in, &o);
	if (in.named && o.rule != GF_OUTCOME_REFUSED_NAMED)
		rej_truncate(&rej, n_render_rej); /* (resent whole, its named records with it) */
	static const enum gf_complete_kind kinds[] = {
		[GF_OUTCOME_ACCEPT] = GF_COMPLETE_ACCEPTED, [GF_OUTCOME_RETRY] = GF_COMPLETE_RETRY,
		[GF_OUTCOME_SPLIT] = GF_COMPLETE_SPLIT, [GF_OUTCOME_RELEASE] = GF_COMPLETE_RELEASE,
	};
	cp.kind = kinds[o.action];
	cp.maybe_sent = o.maybe_sent;
	cp.requeue = o.requeue;
	cp.alert_kind = o.alert_kind;
	outcome = o.log_outcome;
	size_t l;

	switch (o.rule) {
	case GF_OUTCOME_TRANSPORT:
		break;
	case GF_OUTCOME_REPLY_ERROR:
		snprintf(err, sizeof(err), "HTTP %ld but reply not understood: %s", q->status, why);
		rej_truncate(&rej, n_render_rej);
		break;
	case GF_OUTCOME_ACCEPTED:
		gf_fault_point("after_send");
		rn->st->accepted_requests++;
		for (size_t k = n_render_rej; k < rej.n; k++)
			for (size_t i = 0; i < s->n_rows; i++)
				if (!s->reasons[i] && s->ids[i] == rej.v[k].booking_id)
					note_rejected(rn, s->nos[i], rej.v[k].reason);
		history = history_message(rn, s);
		cp.history_message = history;
		break;
	case GF_OUTCOME_REFUSED_ALL: {
		snprintf(err, sizeof(err), "partner: HTTP %ld %s", q->status, body);
		char held[256];
		snprintf(held, sizeof(held), "held: the partner refused %d requests of this connection in a row"
		         " (400/413) and accepted none", cs->refusals);
		hold(rn, b, "connection_refused_all", err,
		     "the partner refuses every request of this connection (a broken gateway or endpoint?);"
		     " it is held for the rest of the run, its deliveries stay pending, none is rejected");
		snprintf(alert, sizeof(alert), "the partner refused %d requests in a row for property %s (%s %s),"
		         " accepted none, and refused single bookings too (last: %s): a broken gateway or endpoint?"
		         " The connection is held for this run; its deliveries stay pending, none was rejected;"
		         " the next run tries again", cs->refusals, b->property_id, job->output->id_label,
		         gf_log_q(b->id_at_partner), err);
		l = strlen(err);
		snprintf(err + l, sizeof(err) - l, " (%s)", held);
		cp.alert_message = alert;
		break;
	}
	case GF_OUTCOME_REFUSED_RESEND:
		snprintf(err, sizeof(err), "partner: HTTP %ld %s", q->status, body);
		l = strlen(err);
		snprintf(err + l, sizeof(err) - l, " (not split: an earlier attempt may have reached the partner,"
		         " so the batch is sent again whole under its key)");
		break;
	case GF_OUTCOME_REFUSED_SPLIT:
		snprintf(err, sizeof(err), "partner: HTTP %ld %s", q->status, body);
		if (o.reject_single)
			note_rejected(rn, single_no(s), err);
		break;
	case GF_OUTCOME_REFUSED_NAMED:
		snprintf(err, sizeof(err), "partner: HTTP %ld %s", q->status, body);
		l = strlen(err);
		snprintf(err + l, sizeof(err) - l, " (it named %zu record(s): rejected; the rest sent again at once"
		         " under a key derived from this batch's)", rej.n - n_render_rej);
		for (size_t k = n_render_rej; k < rej.n; k++)
			for (size_t i = 0; i < s->n_rows; i++)
				if (s->ids[i] == rej.v[k].booking_id)
					note_rejected(rn, s->nos[i], rej.v[k].reason);
		cp.split_whole = true;
		break;
	case GF_OUTCOME_REFUSED_REQUEUE:
		snprintf(err, sizeof(err), "partner: HTTP %ld %s", q->status, body);
		l = strlen(err);
		snprintf(err + l, sizeof(err) - l, "%s", cs->accepted == 0
		         ? " (a single booking refused before the partner accepted anything of this connection in this"
		           " run: sent again after the others)"
		         : " (a single booking refused, not again since the partner accepted a request of this"
		           " connection: sent again after the others; refused again then, it is rejected unless the"
		           " partner refused other requests of this connection in between, at least as many as it"
		           " accepted)");
		break;
	case GF_OUTCOME_AUTH_BATCH:
		snprintf(err, sizeof(err), "partner: HTTP %ld %s (this connection's other requests are accepted in"
		         " this run: taken as this batch's refusal, not the credentials')", q->status, body);
		break;
	case GF_OUTCOME_AUTH_FIRST:
		snprintf(err, sizeof(err), "partner: HTTP %ld %s (before the partner accepted anything of this"
		         " connection in this run: sent again after the others, to tell the credentials from this"
		         " batch)", q->status, body);
		break;
	case GF_OUTCOME_AUTH_HELD:
		snprintf(err, sizeof(err), "partner refused the credentials: HTTP %ld %s", q->status, body);
		hold(rn, b, "connection_auth_failed", err,
		     "check this connection's id and secret at the partner ('guestflow connection show'); its"
		     " deliveries stay pending for the next run");
		snprintf(alert, sizeof(alert), "the partner refused the credentials of property %s (%s %s): %s;"
		         " check them with 'guestflow connection show %s %s' and set the %s again with 'guestflow"
		         " connection set-credentials %s %s' if it changed; deliveries stay pending",
		         b->property_id, job->output->id_label, b->id_at_partner, err, b->property_id, job->partner,
		         job->output->secret_label, b->property_id, job->partner);
		cp.alert_message = alert;
		break;
	case GF_OUTCOME_ACCOUNT:
		gf_http_error_text(q, err, sizeof(err));
		hold(rn, b, "account_refused", err,
		     "the partner refused the job's own account (its login or its server's host key): every"
		     " connection of the job is held for the rest of the run; deliveries stay pending");
		rn->account_refused = true;
		cp.alert_job_wide = true;
		if (!rn->account_alerted) {
			rn->account_alerted = true;
			snprintf(alert, sizeof(alert), "job %s: %s (%s); no batch of the job is sent until it is fixed"
			         " in the job file %s (see guestflow-job(5)); deliveries stay pending",
			         job->name, err, job->endpoint, job->path);
			cp.alert_message = alert;
		} else {
			cp.alert_kind = NULL;
		}
		break;
	case GF_OUTCOME_TEMPORARY:
		snprintf(err, sizeof(err), "partner: HTTP %ld %s", q->status, body);
		break;
	case GF_OUTCOME_UNEXPECTED:
		snprintf(err, sizeof(err), "partner: unexpected HTTP %ld %s", q->status, body);
		break;
	}

	/* What is stored and logged from here on is safe text (text.h), the
	 * key redacted in every form, whatever the partner sent. */
	gf_text_safe_inplace(err, sizeof(err), s->batch->secret);
	if (o.reached)
		rn->st->reached_requests++;
	else
		gf_text_safe_to(rn->unreached, sizeof(rn->unreached), err, strlen(err), b->secret);
	if (cp.kind == GF_COMPLETE_RETRY) {
		if (o.retry_after_bad)
			gf_warn("retry_after_ignored", "batch=%lld value=%s msg=%s", (long long)s->batch->id,
			        gf_log_q(q->retry_after), gf_log_q("neither seconds nor an HTTP date: backoff instead"));
		if (o.retry_after_ms >= 0)
			cp.retry_delay_ms = o.retry_after_ms;
		gf_warn("batch_retry", "batch=%lld connection=%lld attempt=%d of=%d delay_ms=%lld maybe_sent=%d error=%s",
		        (long long)b->id, (long long)b->connection_id, b->attempts, job->max_attempts,
		        (long long)cp.retry_delay_ms, cp.maybe_sent || b->maybe_sent, gf_log_q(err));
	} else if (cp.kind == GF_COMPLETE_SPLIT) {
		gf_warn("batch_split", "batch=%lld records=%zu error=%s", (long long)b->id, s->n_rendered, gf_log_q(err));
	}
	cp.error = err[0] ? err : NULL;
	cp.rejections = rej.v;
	cp.n_rejections = rej.n;
	struct gf_api_call call = {
		.url_public = s->url_public, .status = q->status, .latency_ms = q->latency_ms,
		.request_bytes = (int64_t)q->body.len, .response_bytes = (int64_t)q->resp.len,
		.records = (int)s->n_rendered, .outcome = outcome, .error = cp.error,
		.response_excerpt = body[0] ? body : NULL,
	};
	cp.call = &call;
	gf_info("api_call", "batch=%lld connection=%lld status=%ld latency_ms=%lld records=%zu outcome=%s new_connections=%ld",
	        (long long)b->id, (long long)b->connection_id, q->status,
	        (long long)q->latency_ms, s->n_rendered, outcome, q->new_connections);
	(void)gf_run_finish(rn, s, &cp);
	gf_reply_clear(&rep);
	rej_free(&rej);
}

/* Milliseconds until the next open batch of the job comes due (-1: none). */
static int64_t next_due_ms(struct run *rn)
{
	if (gf_run_drain(rn) < 0)
		return -1;
	_cleanup_buf_ struct gf_buf skipv = GF_BUF_INIT(1 << 20);
	if (gf_db_int_array(&skipv, rn->skip, rn->n_skip) < 0)
		return -1;
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(rn->db, &err, "next_due",
		"SELECT ceil(extract(epoch FROM min(greatest(b.next_attempt_at, coalesce(b.lease_until, b.next_attempt_at))) - now()) * 1000)::bigint"
		"  FROM guestflow.batches b JOIN guestflow.connections c ON c.id = b.connection_id AND c.status = 'live'"
		" WHERE b.job = $1 AND b.state = 'open' AND b.connection_id <> ALL($2::bigint[])", 2,
		(const char *[]){ rn->job->name, gf_buf_str(&skipv) });
	if (!r) {
		rn->fatal = err;
		return -1;
	}
	if (PQgetisnull(r, 0, 0))
		return -1;
	int64_t ms = gf_db_get_int(r, 0, 0);
	return ms < 0 ? 0 : ms;
}

/* How long the run sleeps, at most, before it looks again at what it waits
 * for (next_due_ms). */
#define WAIT_STEP_MS 1000
/* The pause before claiming again what is due but could not be claimed. */
#define LOCKED_STEP_MS 200

static void sleep_ms_interruptible(int64_t ms)
{
	int64_t until = gf_now_mono_ms() + ms;
	while (!gf_signals_stop) {
		int64_t left = until - gf_now_mono_ms();
		if (left <= 0)
			break;
		if (left > 100)
			left = 100;
		struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)left * 1000000L };
		nanosleep(&ts, NULL);
	}
}

/* What started the run, for guestflow.runs and the log: GUESTFLOW_TRIGGER
 * as printable ASCII (a label: the database refuses bytes that are not
 * UTF-8, or characters its encoding has no room for), at most 64 bytes, or
 * what can be told from the process. */
#define TRIGGER_MAX 64
static const char *trigger(void)
{
	static char safe[TRIGGER_MAX + 1];
	const char *t = getenv("GUESTFLOW_TRIGGER");
	if (t && *t) {
		_cleanup_free_ char *folded = gf_db_fold_ascii(t);
		snprintf(safe, sizeof(safe), "%s", folded);
		return safe;
	}
	if (getenv("INVOCATION_ID"))
		return "systemd";
	return isatty(STDIN_FILENO) ? "manual" : "scheduled";
}

/* Give a batch back for the next run (stop timeout reached): in_flight,
 * its request was out (it may have reached the partner: never split from
 * now on), else it was claimed ahead and never sent. */
static void release(struct run *rn, struct slot *s, bool in_flight)
{
	if (in_flight)
		gf_http_cancel(rn->http, s->req);
	if (rn->fatal)
		return; /* no database: the lease will expire */
	struct gf_completion cp = { .kind = GF_COMPLETE_RELEASE, .maybe_sent = in_flight,
	                            .retry_delay_ms = rn->job->backoff_initial_ms,
	                            .error = "released: guestflow was stopped before the partner answered" };
	if (gf_run_finish(rn, s, &cp) == 0)
		gf_warn("batch_released", "batch=%lld records=%zu", (long long)s->batch->id, s->n_rendered);
}

/* The plan's batches are written a slice at a time, ahead of the claims:
 * the first ones go out while the rest is still being read. A slice's rows
 * are held until claimed: as many as PLAN_SLICE full batches, so that memory
 * stays flat; many small batches (small hotels) share one slice statement.
 * The next slice is written when a round of claims is left of this one. */
#define PLAN_SLICE 4
#define PLAN_MARGIN 2

static void planned(struct run *rn)
{
	const struct gf_plan_result *p = &rn->plan.res;
	gf_info("planned", "eligible=%lld new=%lld batches=%lld", (long long)p->eligible, (long long)p->planned,
	        (long long)p->batches);
}

/* Write the next slice when the claims are catching up with the last one
 * (or, with need, now). Returns the batches written, < 0 on error. */
int gf_run_plan_feed(struct run *rn, bool need)
{
	if (!gf_plan_active(&rn->plan))
		return 0;
	if (!need && rn->plan_claimed < rn->plan.mark)
		return 0;
	int64_t n = 0;
	int margin = rn->job->in_flight > PLAN_MARGIN ? rn->job->in_flight : PLAN_MARGIN;
	int r = gf_plan_step(&rn->plan, PLAN_SLICE, (size_t)PLAN_SLICE * (size_t)rn->job->max_records, margin, &n);
	if (r == -GF_E_INTERRUPTED)
		return 0; /* stopped while waiting for the plan: the rest is the next run's */
	if (r < 0) {
		rn->fatal = r;
		return r;
	}
	if (!gf_plan_active(&rn->plan))
		planned(rn);
	return (int)n;
}

/* A batch whose connection's stored access key cannot be decrypted (the
 * claim logged why): not sent, back to the queue; the connection is held
 * for the rest of the run as one whose credentials the partner refused
 * (its deliveries stay pending, exit 1), with an auth_failed alert that
 * says what to do. Frees the slot. */
static void hold_unreadable_key(struct run *rn, struct slot *s)
{
	const struct gf_batch *b = s->batch;
	bool first = !gf_run_skipped(rn, b->connection_id);
	if (first) {
		rn->skip = gf_xrealloc(rn->skip, (rn->n_skip + 1) * sizeof(*rn->skip));
		rn->skip[rn->n_skip++] = b->connection_id;
		rn->st->skipped_connections++;
	}
	struct gf_completion cp = { .kind = GF_COMPLETE_RELEASE,
	                            .error = "released: this connection's stored access key cannot be decrypted" };
	if (gf_run_finish(rn, s, &cp) == 0 && first) {
		char msg[1024];
		snprintf(msg, sizeof(msg), "the stored %s of property %s cannot be decrypted with the key in %s;"
		         " set it again with 'guestflow connection set-credentials %s %s' (on standard input);"
		         " deliveries stay pending", rn->job->output->secret_label, b->property_id, gf_secret_source(),
		         b->property_id, rn->job->partner);
		(void)gf_alert_raise(rn->pipes[0].c, rn->job->name, b->connection_id, "auth_failed", msg,
		                     rn->st->run_id);
	}
	gf_run_slot_free(s);
}

/* A batch claimed: counted against --limit and the plan, then rendered.
 * Returns its slot, ready to start, or NULL when it was completed at once
 * or on an error (rn->fatal). */
struct slot *gf_run_take(struct run *rn, struct gf_batch *b)
{
	if (b->fresh && b->id > rn->plan_claimed && b->id <= rn->plan.upto)
		rn->plan_claimed = b->id;
	gf_fault_point("after_claim");
	if (rn->limit > 0)
		rn->limit = b->records >= rn->limit ? 0 : rn->limit - b->records;
	struct slot *s = gf_xcalloc(1, sizeof(*s));
	s->batch = b;
	s->claimed_ms = b->claimed_ms ? b->claimed_ms : gf_now_mono_ms();
	if (b->attempts > rn->job->max_attempts) {
		/* Taken over after its lease ran out, with every attempt used
		 * already: the workers that had it died, or could not record
		 * its outcome. Dead like any batch past max_attempts (with its
		 * deliveries and an alert), not sent again. */
		char err[256];
		snprintf(err, sizeof(err), "taken over after its lease ran out with its %d attempts used: the worker that"
		         " last had it stopped, or could not record its outcome (see the log of the runs before)",
		         rn->job->max_attempts);
		struct gf_completion cp = { .kind = GF_COMPLETE_RETRY, .error = err, .maybe_sent = true };
		(void)gf_run_finish(rn, s, &cp);
		gf_run_slot_free(s);
		return NULL;
	}
	if (!b->secret && rn->job->output->secret_label) {
		hold_unreadable_key(rn, s);
		return NULL;
	}
	int r = prepare(rn, s);
	if (r == 1)
		return s;
	if (r < 0 && !rn->fatal)
		rn->fatal = r;
	gf_run_slot_free(s);
	return NULL;
}

/* A batch claimed for a connection held in this run (hold: its
 * credentials refused, the partner refusing every request, an id or a
 * secret the format cannot carry), or stopped or deactivated since: back
 * to the queue, not sent. Frees the slot. */
void gf_run_release_skipped(struct run *rn, struct slot *s)
{
	struct gf_completion cp = {
		.kind = GF_COMPLETE_RELEASE,
		.error = ended(rn, s->batch->connection_id)
			? "released: the connection was stopped or deactivated during the run; nothing more is sent to it"
			: "released: this connection is held for the rest of the run (the partner refused its credentials"
			  " or every request, or its id or secret cannot be sent: the run's log and alert say which)"
	};
	(void)gf_run_finish(rn, s, &cp);
	gf_run_slot_free(s);
}

static void loop(struct run *rn)
{
	const struct gf_job *job = rn->job;
	struct slot **slots = gf_xcalloc((size_t)job->in_flight, sizeof(*slots));
	int64_t linger_left = job->linger_ms;
	int64_t waiting_until = -1;
	int64_t sent_at_due = -1;
	int64_t stop_deadline = 0;
	bool more = true;
	for (;;) {
		if (gf_signals_stop && !stop_deadline) {
			stop_deadline = gf_now_mono_ms() + job->stop_timeout_ms;
			gf_warn("stopping", "signal=%d in_flight=%d stop_timeout_ms=%lld msg=%s", (int)gf_signals_stop,
			        gf_http_in_flight(rn->http), (long long)job->stop_timeout_ms,
			        gf_log_q("no new batches; waiting for the ones in flight"));
		}
		while (!gf_signals_stop && !rn->fatal && !rn->store_down && !rn->account_refused &&
		       (more || rn->ready || rn->claiming || gf_run_queued(rn)) &&
		       rn->limit != 0 &&
		       gf_http_in_flight(rn->http) < job->in_flight) {
			if (rn->claiming) {
				gf_run_settle(rn, true);
				continue;
			}
			struct slot *s = rn->ready;
			rn->ready = NULL;
			if (!s && gf_run_queued(rn) && !(s = gf_run_next_queued(rn)))
				continue;
			if (s && !gf_run_ready_to_send(rn, s))
				continue;
			if (!s) {
				struct gf_batch *b = NULL;
				if (gf_run_plan_feed(rn, false) < 0)
					break;
				int r;
				if (rn->limit < 0) {
					/* a round at once: one statement for several batches */
					if ((r = gf_run_claim_round(rn)) < 0)
						break;
					if (r > 0)
						continue;
				} else {
					int max = job->max_records;
					if (rn->limit > 0 && rn->limit < max)
						max = (int)rn->limit;
					bool probed = gf_run_probe_source(rn);
					r = gf_claim(rn->db, job, rn->st->run_id, max, rn->skip, rn->n_skip, probed, &b);
					if (r < 0 && gf_run_probe_failed(rn, probed))
						r = gf_claim(rn->db, job, rn->st->run_id, max, rn->skip, rn->n_skip, false, &b);
					while (r < 0 && gf_run_claim_transient(rn))
						r = gf_claim(rn->db, job, rn->st->run_id, max, rn->skip, rn->n_skip, false, &b);
					if (r == 0)
						rn->claim_retries = 0;
					if (r < 0) {
						rn->fatal = r;
						break;
					}
				}
				if (!b) {
					r = gf_run_plan_feed(rn, true);
					if (r < 0)
						break;
					if (r > 0)
						continue;
					more = false;
					break;
				}
				if (!(s = gf_run_take(rn, b)))
					continue;
				/* (claimed one at a time under --limit: the same
				 * look before it goes as a batch claimed ahead) */
				if (!gf_run_ready_to_send(rn, s))
					continue;
			}
			int r = start(rn, s);
			if (r == 1) {
				s->req->user = s;
				for (int i = 0; i < job->in_flight; i++)
					if (!slots[i]) {
						slots[i] = s;
						break;
					}
			} else {
				if (r < 0 && !rn->fatal)
					rn->fatal = r;
				gf_run_slot_free(s);
			}
		}
		if (gf_http_in_flight(rn->http) == 0) {
			if (gf_run_flush(rn, true) < 0)
				break;
			if (gf_signals_stop || rn->fatal || rn->store_down || rn->account_refused || rn->limit == 0)
				break;
			int64_t due = next_due_ms(rn);
			/* Due now again, and nothing was sent since it was last
			 * (a due batch row-locked by another session, which the
			 * claim's SKIP LOCKED passes): a step's pause, counted
			 * against the linger, not a spin. */
			if (due == 0 && sent_at_due == rn->st->requests)
				due = LOCKED_STEP_MS;
			sent_at_due = rn->st->requests;
			if (due < 0 || due > linger_left)
				break;
			if (due > 0) {
				/* In steps, looking again after each: what is due may be
				 * a batch under another worker's lease, finished (or
				 * retried) by it long before its lease would end. Said
				 * once per thing waited for, not at every step. */
				int64_t at = gf_now_mono_ms();
				if (waiting_until < 0 || at + due < waiting_until - WAIT_STEP_MS ||
				    at + due > waiting_until + WAIT_STEP_MS)
					gf_info("waiting_for_retry", "ms=%lld linger_left_ms=%lld", (long long)due,
					        (long long)linger_left);
				waiting_until = at + due;
				sleep_ms_interruptible(due < WAIT_STEP_MS ? due : WAIT_STEP_MS);
				linger_left -= gf_now_mono_ms() - at;
			}
			more = true;
			continue;
		}
		if (rn->fatal || rn->store_down || (stop_deadline && gf_now_mono_ms() >= stop_deadline))
			break;
		if (more)
			gf_run_claim_ahead(rn);
		if (gf_run_collect(rn, false) < 0 || gf_run_flush(rn, false) < 0)
			break;
		/* A completion the database refused: retried now, under the
		 * batch's lease (gf_run_drain() does it, out of pipeline mode). */
		if (rn->n_redo && gf_run_drain(rn) < 0)
			break;
		struct gf_http_req *done = NULL;
		if (gf_http_poll(rn->http, 200, rn->claiming ? PQsocket(rn->db) : -1, &done) < 0) {
			rn->fatal = -EIO;
			break;
		}
		gf_run_settle(rn, false);
		if (!done)
			continue;
		struct slot *s = done->user;
		for (int i = 0; i < job->in_flight; i++)
			if (slots[i] == s)
				slots[i] = NULL;
		handle_reply(rn, s);
		gf_run_slot_free(s);
		more = true;
		rn->ahead_after_ms = 0;
		progress(rn, false);
	}
	/* Stopped or cut short: what is still in flight, or claimed ahead, goes
	 * back to the queue (or, without a database, to its lease). */
	if (!rn->fatal) {
		gf_run_settle(rn, true);
	} else if (rn->claiming) {
		bool done = false;
		struct gf_batch **v = NULL;
		size_t n = 0;
		rn->claiming = false;
		if (PQstatus(rn->db) == CONNECTION_OK && gf_claim_recv(rn->db, true, &done, &v, &n) == 0) {
			for (size_t i = 0; i < n; i++)
				gf_run_give_back(rn, v[i]);
			free(v);
		}
	}
	if (rn->ready) {
		if (rn->fatal || rn->store_down) {
			gf_run_give_back(rn, rn->ready->batch);
			rn->ready->batch = NULL;
		} else {
			release(rn, rn->ready, false);
		}
		gf_run_slot_free(rn->ready);
		rn->ready = NULL;
	}
	gf_run_give_back_queued(rn);
	/* Requests still in flight (stopped, cut short): their connections
	 * ended at once, so that neither the cancel nor the clean-up waits on
	 * the partner (stop_timeout bounds the stop). */
	for (int i = 0; i < job->in_flight; i++)
		if (slots[i]) {
			gf_http_abort(rn->http);
			break;
		}
	for (int i = 0; i < job->in_flight; i++) {
		if (!slots[i])
			continue;
		release(rn, slots[i], true);
		gf_run_slot_free(slots[i]);
	}
	(void)gf_run_drain(rn);
	gf_plan_release(&rn->plan);
	free(slots);
}

/* Deliveries of the job waiting to be sent: *out those free to be claimed,
 * *leased those in batches under a lease (another run's at work on them,
 * or one that died: its lease runs out). A pending delivery is either in
 * no batch or in an open one: both are found by index, however long the
 * job's history. */
/* A status selection.statuses lists that no booking of it can ever be sent
 * with: no reference status, and not in the partner's status map (a typo,
 * or a map not made yet): said every run, with what to do. */
static void warn_statuses(PGconn *db, const struct gf_job *job)
{
	_cleanup_free_ char *statuses = gf_plan_statuses(job);
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(db, &err, "statuses_never_sent",
		"SELECT s FROM unnest($1::text[]) s WHERE s NOT IN (" GF_SQL_REFERENCE_STATUSES ")"
		"   AND NOT EXISTS (SELECT 1 FROM guestflow.status_map m WHERE m.partner = $2 AND m.source_status = s)",
		2, (const char *[]){ statuses, job->partner });
	for (int i = 0; r && i < PQntuples(r); i++)
		gf_warn("status_never_sent", "status=%s msg=%s", gf_log_q(PQgetvalue(r, i, 0)),
		        gf_log_q("selection.statuses lists it, but it is no reference status (confirmed, in_house,"
		                 " checked_out, cancelled, no_show) and the partner's status map does not map it: no"
		                 " booking of it is sent (a typo? else 'guestflow status-map')"));
}

/* What the run leaves: deliveries still to send (*out, with those in
 * batches under a lease, *leased) and, apart, the pending deliveries of
 * connections an operator (or the automatic stop) stopped or deactivated
 * that were never sent (*stopped): they wait for the connection by
 * decision, not for a fault, so they are counted but do not make the run
 * exit 1. A batch of such a connection that may have reached the partner
 * without an answer (maybe_sent: a timeout; or a lease left by a worker that
 * died, as the claim counts it) stays in *out: the partner may hold it, and
 * a person has to look. */
static int pending_count(PGconn *db, const struct gf_job *job, int64_t *out, int64_t *leased, int64_t *stopped)
{
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(db, &err, "pending_count",
		"WITH b AS MATERIALIZED ("
		"  SELECT id, coalesce(lease_until > now(), false) AS leased, NOT (maybe_sent OR lease_until IS NOT NULL) AS unsent"
		"    FROM guestflow.batches WHERE job = $1 AND state = 'open'"
		"), n AS ("
		"  SELECT b.leased, b.unsent, d.connection_id, count(*) AS n"
		"    FROM b JOIN guestflow.deliveries d ON d.batch_id = b.id"
		"   WHERE d.state IN ('pending', 'sending') GROUP BY 1, 2, 3"
		"), w AS ("
		"  SELECT connection_id, true AS unsent, count(*) AS n FROM guestflow.deliveries"
		"   WHERE job = $1 AND batch_id IS NULL AND state = 'pending' GROUP BY 1"
		"  UNION ALL SELECT connection_id, unsent, n FROM n WHERE NOT leased"
		") SELECT coalesce(sum(w.n) FILTER (WHERE NOT (w.unsent AND c.status IN ('stopped', 'deactivated'))), 0),"
		"         (SELECT coalesce(sum(n), 0) FROM n WHERE leased),"
		"         coalesce(sum(w.n) FILTER (WHERE w.unsent AND c.status IN ('stopped', 'deactivated')), 0)"
		"    FROM w JOIN guestflow.connections c ON c.id = w.connection_id", 1, (const char *[]){ job->name });
	if (!r)
		return err;
	*out = gf_db_get_int(r, 0, 0);
	*leased = gf_db_get_int(r, 0, 1);
	*stopped = gf_db_get_int(r, 0, 2);
	return 0;
}

static int run_end(const struct gf_config *cfg, PGconn *db, const struct gf_job *job, struct gf_run_stats *st,
                   int code);

int gf_run_job(const struct gf_config *cfg, const struct gf_job *job, const struct gf_run_opts *opts,
               struct gf_run_stats *st)
{
	memset(st, 0, sizeof(*st));
	int64_t t0 = gf_now_mono_ms();
	if (!job->enabled) {
		st->disabled = true;
		gf_info("job_disabled", "file=%s msg=%s", gf_log_q(job->path),
		        gf_log_q("enabled: false; nothing done"));
		return GF_EXIT_OK;
	}
	_cleanup_pgconn_ PGconn *db = NULL;
	_cleanup_pgconn_ PGconn *dbc0 = NULL;
	_cleanup_pgconn_ PGconn *dbc1 = NULL;
	_Static_assert(COMPLETERS == 2, "one session variable per completer");
	if (gf_db_connect(cfg->conninfo, &db) < 0) {
		snprintf(st->message, sizeof(st->message), "database not reachable");
		return GF_EXIT_TEMPFAIL;
	}
	int r = gf_schema_check_own(db);
	if (r < 0) {
		snprintf(st->message, sizeof(st->message), "database schema not ready");
		return r == -GF_E_SCHEMA ? GF_EXIT_CONFIG : GF_EXIT_TEMPFAIL;
	}
	/* Adapters missing or of the wrong shape (a PMS upgrade that dropped
	 * the view): nothing can be planned, but the run is recorded, so that
	 * status shows it and the failed-runs alert escalates it. */
	bool no_adapter = false;
	if ((r = gf_adapter_check(db)) < 0) {
		if (r != -GF_E_SCHEMA) {
			snprintf(st->message, sizeof(st->message), "database schema not ready");
			return GF_EXIT_TEMPFAIL;
		}
		no_adapter = true;
	}
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	int err;
	char process[256];
	gf_proc_self(process, sizeof(process));
	PGresult *rr = gf_db_query(db, &err, "run_start",
		"INSERT INTO guestflow.runs (job, trigger, host, pid, process) VALUES ($1, $2, $3, $4::int, nullif($5, ''))"
		" RETURNING id, to_char(now(), 'YYYY-MM-DD')", 5,
		(const char *[]){ job->name, trigger(), host, pid, process });
	if (!rr) {
		snprintf(st->message, sizeof(st->message), "could not record the run");
		/* (adapters missing: a configuration error all the same, not one
		 * to retry later) */
		return no_adapter ? GF_EXIT_CONFIG : GF_EXIT_TEMPFAIL;
	}
	struct run rn = { .job = job, .db = db, .conninfo = cfg->conninfo, .st = st, .rng = gf_rand_seed(),
	                  .limit = opts && opts->limit > 0 ? opts->limit : -1 };
	const char *encoding = PQparameterStatus(db, "server_encoding");
	rn.pipeline = encoding && (strcmp(encoding, "UTF8") == 0 || strcmp(encoding, "SQL_ASCII") == 0);
	st->run_id = gf_db_get_int(rr, 0, 0);
	snprintf(rn.today, sizeof(rn.today), "%s", PQgetvalue(rr, 0, 1));
	snprintf(rn.run_id, sizeof(rn.run_id), "%lld", (long long)st->run_id);
	PQclear(rr);
	gf_log_set_context(job->name, st->run_id);
	gf_info("run_start", "trigger=%s host=%s pid=%s", gf_log_q(trigger()), gf_log_q(host), pid);
	/* Runs of the job killed here before they recorded their end: said,
	 * and counted as failed (a failure the run itself cannot report). */
	int lost;
	(void)gf_notify_lost_runs(db, cfg, job, st->run_id, host, &lost);
	if (no_adapter) {
		snprintf(st->message, sizeof(st->message), "the source adapters are missing or not of the contract's"
		         " shape (guestflow.source_bookings, source_properties, write_history): nothing planned");
		st->duration_ms = gf_now_mono_ms() - t0;
		return run_end(cfg, db, job, st, GF_EXIT_CONFIG);
	}

	/* Connections the PMS no longer allows, stopped before anything is
	 * planned for them. */
	int auto_stopped = 0;
	size_t n_pjobs;
	const char **pjobs = gf_config_partner_jobs(cfg, job->partner, &n_pjobs);
	if (n_pjobs == 0) /* (a job run from a file outside the jobs directory) */
		pjobs[n_pjobs++] = job->name;
	/* (the partner is told of each after the run: gf_notify_after_run).
	 * Listening first: a connection stopped or deactivated from now on is
	 * announced to this run (gf_run_poll_ended), which then sends nothing
	 * more to it, also of the batches it claimed before. */
	r = gf_db_exec(db, "listen", "LISTEN " ENDED_CHANNEL, 0, NULL);
	rn.notice_to = gf_config_partner_email(cfg, job->partner);
	if (r == 0)
		r = gf_connection_autostop(db, job, pjobs, n_pjobs, rn.notice_to, 0, false, &auto_stopped);
	rn.pjobs = pjobs;
	rn.n_pjobs = n_pjobs;
	rn.autostop_next_ms = gf_now_mono_ms() + AUTOSTOP_EVERY_MS;
	if (r == 0)
		warn_statuses(db, job);
	const struct gf_job *twin = gf_config_twin_job(cfg, job);
	if (twin)
		gf_warn("job_twin", "other=%s msg=%s", gf_log_q(twin->name),
		        gf_log_q("another job of the configuration sends to this partner at this endpoint and selects the"
		                 " same statuses: a booking both select is sent twice, once by each (a copied job file? a"
		                 " job renamed without 'guestflow db rename-job'?)"));
	if (r == 0)
		r = gf_claim_sweep(db, job->name);
	if (r == 0)
		r = gf_plan_start(&rn.plan, db, cfg->conninfo, job, st->run_id, &gf_signals_stop);
	if (r < 0) {
		rn.fatal = r;
	} else {
		gf_info("planning", "msg=%s", gf_log_q("reading the eligible bookings; sending as they come"));
		int64_t leased_due, stopped_due;
		(void)pending_count(db, job, &rn.due, &leased_due, &stopped_due);
		gf_progress_start(&rn.progress, job->name);
		rn.http = gf_http_new(job);
		if (!rn.http)
			rn.fatal = -ENOMEM;
		/* The completion sessions write the history entries: a lock
		 * another session holds for long (a PMS editing a booking holds
		 * its row, which the entry's foreign key waits for) fails the
		 * completion after database.lock_timeout: that batch is retried
		 * later, the run goes on, and a stop is not held up by it. (The
		 * main session writes only guestflow's own rows, and waits.) */
		else if (gf_db_connect(cfg->conninfo, &dbc0) < 0 || gf_db_connect(cfg->conninfo, &dbc1) < 0 ||
		         gf_db_lock_timeout(dbc0, cfg->lock_timeout_ms) < 0 ||
		         gf_db_lock_timeout(dbc1, cfg->lock_timeout_ms) < 0)
			rn.fatal = -GF_E_DB_LOST;
		else if ((r = gf_complete_pipe_prepare(dbc0)) < 0 || (r = gf_complete_pipe_prepare(dbc1)) < 0)
			rn.fatal = r;
		else {
			rn.pipes[0].c = dbc0;
			rn.pipes[1].c = dbc1;
			loop(&rn);
		}
		if (rn.progress.tty && rn.due + rn.plan.res.found > 0)
			progress(&rn, true);
	}
	bool planned_whole = !rn.plan.active; /* (every batch of the plan written) */
	gf_plan_release(&rn.plan);
	st->eligible = rn.plan.res.eligible;
	st->planned = rn.plan.res.planned;
	gf_http_free(rn.http);
	free(rn.skip);
	free(rn.ended);
	gf_outcome_conns_free(&rn.seen);
	free(rn.refused_ids);
	free(rn.pjobs);
	/* (what a failed run left unread: the batches' leases expire) */
	for (int k = 0; k < COMPLETERS; k++)
		for (int i = 0; i < PIPE_MAX; i++)
			gf_run_sent_clear(&rn.pipes[k].q[i]);
	for (size_t i = 0; i < rn.n_redo; i++)
		gf_run_sent_clear(&rn.redo[i]);
	free(rn.redo);
	/* (left unsent only when the database was lost: their leases expire) */
	for (int i = 0; i < rn.n_group; i++)
		gf_run_sent_clear(&rn.group[i]);
	for (size_t i = 0; i < rn.n_solo; i++)
		gf_run_sent_clear(&rn.solo[i]);
	free(rn.solo);
	/* Bookings the plan rejected: the source view could not give them. */
	st->rejected += rn.plan.res.rejected;
	st->not_planned = rn.plan.res.held;
	if (st->not_planned > 0) {
		gf_warn("bookings_not_planned", "count=%lld first=%s msg=%s", (long long)st->not_planned,
		        gf_log_q(rn.plan.res.first_held),
		        gf_log_q("guestflow.source_properties raises an error for their properties: whether the PMS"
		                 " allows their guests to be exported cannot be read, so they are not sent (nor"
		                 " rejected) until it reads again"));
		char msg[1200];
		snprintf(msg, sizeof(msg), "run %lld of job %s left %lld eligible-looking booking(s) unplanned: the PMS's"
		         " guestflow.source_properties raises an error for their properties (the first: %s), so whether"
		         " their guests may be exported cannot be read; they are neither sent nor rejected, and are lost"
		         " once they leave the selection window", (long long)st->run_id, job->name,
		         (long long)st->not_planned, rn.plan.res.first_held);
		(void)gf_alert_raise(db, job->name, 0, "bookings_not_planned", msg, st->run_id);
	} else if (!rn.fatal && !gf_signals_stop && planned_whole) {
		/* (a plan read whole left none) */
		(void)gf_alert_clear(db, job->name, 0, "bookings_not_planned");
	}
	if (rn.first_rejected[0] || rn.plan.res.first_rejected[0])
		snprintf(st->first_rejected, sizeof(st->first_rejected), "%s",
		         rn.plan.res.first_rejected[0] ? rn.plan.res.first_rejected : rn.first_rejected);

	st->interrupted = gf_signals_stop != 0;
	st->limit_reached = rn.limit == 0;
	st->db_lost = rn.fatal == -GF_E_DB_LOST || PQstatus(db) == CONNECTION_BAD ||
	              (dbc0 && PQstatus(dbc0) == CONNECTION_BAD) || (dbc1 && PQstatus(dbc1) == CONNECTION_BAD);
	if (!st->db_lost && pending_count(db, job, &st->pending_left, &st->leased_left, &st->pending_stopped) == 0)
		st->pending_left += st->leased_left;
	/* History entries the PMS refused before, written if it takes them
	 * now; the job's history_refused alert follows what is still owed. */
	int64_t written = 0;
	if (!st->db_lost && !st->interrupted)
		(void)gf_complete_history_owed(db, job, st->run_id, cfg->lock_timeout_ms, &written, &st->history_owed);
	st->interrupted = gf_signals_stop != 0;

	int code;
	if (st->interrupted || st->db_lost || rn.fatal || rn.store_down) {
		code = GF_EXIT_TEMPFAIL;
		snprintf(st->message, sizeof(st->message), "%s",
		         st->interrupted ? "stopped by a signal" :
		         st->db_lost ? "connection to the database lost" :
		         rn.fatal ? gf_strerror(rn.fatal) : rn.store_msg);
	} else if (st->requests > 0 && st->reached_requests == 0) {
		/* Not one answer but 5xx: the partner is not there (an answer
		 * it gives, a 400, a reply it cannot be understood in, is
		 * not this: exit 1 for what it did to the deliveries). */
		code = GF_EXIT_UNAVAILABLE;
		snprintf(st->message, sizeof(st->message), "no partner could be reached");
		char msg[1600], left[400] = "";
		int64_t waiting = st->pending_left - st->leased_left;
		if (waiting > 0 && st->dead > 0)
			snprintf(left, sizeof(left), "%lld deliveries stay pending and are retried with backoff; %lld went"
			         " dead after retry.max_attempts ('guestflow rerun %s --dead' puts them back)",
			         (long long)waiting, (long long)st->dead, job->name);
		else if (st->dead > 0)
			snprintf(left, sizeof(left), "%lld deliveries went dead after retry.max_attempts ('guestflow rerun"
			         " %s --dead' puts them back)", (long long)st->dead, job->name);
		else
			snprintf(left, sizeof(left), "%lld deliveries stay pending and are retried with backoff",
			         (long long)waiting);
		snprintf(msg, sizeof(msg), "run %lld of job %s reached no partner (%s): every request failed without"
		         " an answer, or with 5xx (last: %s); %s", (long long)st->run_id, job->name, job->endpoint,
		         rn.unreached, left);
		gf_alert_raise(db, job->name, 0, "partner_unreachable", msg, st->run_id);
	} else if (st->rejected || st->dead || st->history_owed || st->skipped_connections || st->not_planned ||
	           (st->pending_left > st->leased_left && !st->limit_reached)) {
		code = GF_EXIT_PARTIAL;
	} else {
		code = GF_EXIT_OK;
	}
	st->duration_ms = gf_now_mono_ms() - t0;
	return run_end(cfg, db, job, st, code);
}

/* The run's row finished, the alerts it raises or clears and their mails,
 * the metrics; returns code. */
static int run_end(const struct gf_config *cfg, PGconn *db, const struct gf_job *job, struct gf_run_stats *st,
                   int code)
{
	if (!st->db_lost) {
		char v[10][32];
		int64_t nums[] = { (int64_t)code, st->eligible, st->planned, st->delivered, st->rejected,
		                   st->retried, st->dead, st->requests };
		for (size_t i = 0; i < GF_ARRAY_SIZE(nums); i++)
			snprintf(v[i], sizeof(v[i]), "%lld", (long long)nums[i]);
		char run_id[32];
		snprintf(run_id, sizeof(run_id), "%lld", (long long)st->run_id);
		const char *p[] = { run_id, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7],
		                    st->message[0] ? st->message : NULL };
		gf_db_exec(db, "run_finish",
			"UPDATE guestflow.runs SET finished_at = now(), exit_code = $2::int, eligible = $3::bigint,"
			" planned = $4::bigint, delivered = $5::bigint, rejected = $6::bigint, retried = $7::bigint,"
			/* (a run found lost that ends after all was not lost) */
			" dead = $8::bigint, requests = $9::bigint, message = $10, lost_at = NULL WHERE id = $1::bigint", 10, p);
	}
	if (!st->db_lost && code == GF_EXIT_TEMPFAIL && PQtransactionStatus(db) == PQTRANS_IDLE) {
		/* Cut short (an error, not the database lost): the leases this
		 * run still holds end with it, so that the next run takes those
		 * batches over at once (sent again under their keys) instead of
		 * waiting for them to run out. */
		char run[32];
		snprintf(run, sizeof(run), "%lld", (long long)st->run_id);
		(void)gf_db_exec(db, "run_leases_end",
			"UPDATE guestflow.batches SET lease_until = now()"
			" WHERE job = $1 AND state = 'open' AND lease_until > now() AND lease_token LIKE $2 || '.%'", 2,
			(const char *[]){ job->name, run });
	}
	if (!st->db_lost) {
		int sent = 0;
		gf_notify_after_run(db, cfg, job, st->run_id, code, &sent);
	}
	if (cfg->metrics_dir)
		gf_metrics_write(cfg->metrics_dir, st->db_lost ? NULL : db, job, st, code);
	gf_info("run_end", "exit=%d delivered=%lld rejected=%lld dead=%lld pending=%lld pending_stopped=%lld", code,
	        (long long)st->delivered, (long long)st->rejected, (long long)st->dead,
	        (long long)st->pending_left, (long long)st->pending_stopped);
	return code;
}

void gf_run_print_summary(const struct gf_job *job, const struct gf_run_stats *st, int exit_code)
{
	if (st->disabled) {
		printf("%s: disabled (enabled: false in %s), nothing done\n", job->name, job->path);
		return;
	}
	/* The first record rejected, with its reason: enough to act on one,
	 * and 'guestflow explain BOOKING_NO' for each. */
	char leased[96] = "";
	int l = 0;
	if (st->leased_left)
		l = snprintf(leased, sizeof(leased), " in_flight_elsewhere=%lld", (long long)st->leased_left);
	if (st->pending_stopped)
		snprintf(leased + l, sizeof(leased) - (size_t)l, " pending_stopped=%lld", (long long)st->pending_stopped);
	printf("%s: run %lld eligible=%lld new=%lld delivered=%lld rejected=%lld retried=%lld dead=%lld"
	       " pending=%lld%s requests=%lld duration=%.2fs exit=%d%s%s%s%s%s\n",
	       job->name, (long long)st->run_id, (long long)st->eligible, (long long)st->planned,
	       (long long)st->delivered, (long long)st->rejected, (long long)st->retried,
	       (long long)st->dead, (long long)st->pending_left, leased, (long long)st->requests,
	       (double)st->duration_ms / 1000.0, exit_code, st->limit_reached ? " limit=reached" : "",
	       st->message[0] ? " reason=" : "", st->message[0] ? gf_log_q(st->message) : "",
	       st->rejected && st->first_rejected[0] ? " first_rejected=" : "",
	       st->rejected && st->first_rejected[0] ? gf_log_q(st->first_rejected) : "");
	fflush(stdout);
}
