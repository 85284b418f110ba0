/* The event pull: for each live connection of a job, the output's pull
 * after the stored cursor, its events stored with the new cursor in one
 * statement (history entries, the suppression list, deliveries the
 * partner could not import), then the output's ack; page after page until
 * a page brings nothing new. A connection that fails is logged and
 * counted; the others go on. */
#include "core/pull.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/util.h"
#include "core/alert.h"
#include "core/complete.h"
#include "core/conntest.h"
#include "core/output.h"
#include "core/secret.h"
#include "db/db.h"
#include "base/template.h"
#include "transport/http.h"

/* One page's events and the cursor after them, in one statement: the
 * events new to guestflow (partner_events_once), a history entry for each
 * whose booking the PMS has, the guest's address suppressed for bounced
 * and unsubscribed, a delivery the partner could not import rejected with
 * its reason, and the cursor. $1 connection, $2..$6 the events' booking
 * numbers, types, times, reasons and batch keys, $7 job, $8 property,
 * $9 the next cursor (NULL: unchanged), $10 partner, $11..$15 the job's
 * history.events templates for invited, bounced, reviewed, unsubscribed
 * and rejected ({partner} and {job} filled in; the rest per event here,
 * the partner's own text last, so that nothing in it is taken for a
 * placeholder), $16 the cursor the page was read after (NULL: none). The
 * cursor moves only from that one: another pull of the same feed that
 * moved it meanwhile is not taken back (the events are stored all the
 * same, once). */
static const char STORE_SQL[] =
	"WITH e AS ("
	"  SELECT * FROM unnest($2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[])"
	"         WITH ORDINALITY AS e(booking_no, type, at, reason, batch_key, i)"
	"), ins AS ("
	"  INSERT INTO guestflow.partner_events (connection_id, job, booking_no, booking_id, type, at, reason, batch_key)"
	"  SELECT $1::bigint, $7, e.booking_no,"
	/* the booking, when it was planned for this connection: a partner
	 * speaks for the guests it was sent, not for any booking number of
	 * the property (no history entry, no suppression for another) */
	"         (SELECT min(s.booking_id) FROM guestflow.source_bookings s"
	"           WHERE s.booking_no = e.booking_no AND s.property_id = $8"
	"             AND EXISTS (SELECT 1 FROM guestflow.deliveries d"
	"                          WHERE d.connection_id = $1::bigint AND d.booking_id = s.booking_id)),"
	"         e.type, e.at, e.reason, e.batch_key FROM e ORDER BY e.i"
	"  ON CONFLICT DO NOTHING"
	"  RETURNING id, booking_id, booking_no, type, at, reason, batch_key"
	/* A bounce is of an address that was sent. guestflow keeps of it only
	 * its hash (deliveries.email_hash, the address each delivery was first
	 * planned with): when the booking's address now is not the one of
	 * every delivery of it to the connection that may have gone out (by
	 * any job; not one rejected for its data), the partner may have had
	 * another (a typo corrected, then sent again by a rerun), and the
	 * bounce may be of either: the current one is not suppressed. Nor
	 * when that address is not known (NULL), nor when no delivery of it
	 * may have gone out (all rejected for their data: nothing bounced).
	 * An unsubscribe is the guest's, whatever the address. */
	"), changed AS ("
	"  SELECT ins.id FROM ins WHERE ins.type = 'bounced' AND ins.booking_id IS NOT NULL AND ("
	"    EXISTS (SELECT 1 FROM guestflow.source_bookings s"
	"              JOIN guestflow.deliveries d ON d.connection_id = $1::bigint AND d.booking_id = s.booking_id"
	"             WHERE s.booking_id = ins.booking_id AND NOT d.data_rejected"
	"               AND d.email_hash IS DISTINCT FROM guestflow.email_hash(s.email))"
	"    OR NOT EXISTS (SELECT 1 FROM guestflow.deliveries d WHERE d.connection_id = $1::bigint"
	"                      AND d.booking_id = ins.booking_id AND NOT d.data_rejected))"
	/* One event an address, the one the list keeps: an unsubscribe (the
	 * guest's own request, which only 'suppression remove --force' lifts)
	 * before a bounce, the latest of a kind. An address on the list
	 * already keeps it unless this page has such a later event (an
	 * unsubscribe behind an earlier bounce would otherwise be lifted as
	 * a bounce). */
	"), cand AS ("
	"  SELECT DISTINCT ON (1) guestflow.email_key(s.email) AS email, ins.type AS reason, ins.id AS event_id"
	"    FROM ins JOIN guestflow.source_bookings s ON s.booking_id = ins.booking_id"
	/* (an address longer than any mail system delivers, RFC 5321's 254
	 * octets, is no address to suppress: it never reaches anyone, and a
	 * key of some kilobytes would fail the list's index, and with it
	 * every later page of the feed) */
	"   WHERE ins.type IN ('bounced', 'unsubscribed') AND guestflow.email_key(s.email) <> ''"
	"     AND octet_length(guestflow.email_key(s.email)) <= 254"
	"     AND ins.id NOT IN (SELECT id FROM changed)"
	"   ORDER BY 1, ins.type = 'unsubscribed' DESC, ins.id DESC"
	"), kept AS ("
	"  UPDATE guestflow.suppressions x SET reason = cand.reason, event_id = cand.event_id"
	"    FROM cand WHERE x.email = cand.email AND (cand.reason = 'unsubscribed' OR x.reason = 'bounced')"
	"  RETURNING x.email"
	"), sup AS ("
	"  INSERT INTO guestflow.suppressions (email, reason, event_id) SELECT email, reason, event_id FROM cand"
	"  ON CONFLICT (email) DO NOTHING RETURNING email, reason"
	/* what is queued for the address and was never sent (pending, in no
	 * batch or in one never attempted) is not sent either; a batch under
	 * a lease is on its way, and one attempted before may be held by the
	 * partner under its key */
	"), unq AS ("
	"  UPDATE guestflow.deliveries d SET state = 'rejected', updated_at = now(), finished_at = now(),"
	"         reason = 'the guest''s address is on the suppression list (' || x.reason || ', reported by '"
	"                  || $10 || ')'"
	"    FROM sup x"
	/* (only when this page suppressed someone; the queue through the
	 * batches' and the unbatched deliveries' indexes, each guest by key) */
	"   WHERE EXISTS (SELECT 1 FROM sup) AND d.state = 'pending'"
	"     AND (d.batch_id = ANY(ARRAY(SELECT b.id FROM guestflow.batches b WHERE b.state = 'open'"
	"                                   AND b.attempts = 0 AND b.last_error IS NULL AND b.lease_until IS NULL))"
	"          OR d.batch_id IS NULL)"
	"     AND x.email = (SELECT guestflow.email_key(s.email) FROM guestflow.source_bookings s"
	"                     WHERE s.booking_id = d.booking_id LIMIT 1)"
	"  RETURNING d.booking_id"
	"), rej AS ("
	"  UPDATE guestflow.deliveries d SET state = 'rejected',"
	"         reason = 'partner: ' || coalesce(nullif(ins.reason, ''), 'could not import the guest'),"
	"         updated_at = now(), finished_at = now()"
	"    FROM ins JOIN guestflow.batches b ON b.idempotency_key = ins.batch_key"
	"   WHERE ins.type = 'rejected' AND d.batch_id = b.id AND d.connection_id = $1::bigint"
	"     AND d.booking_no = ins.booking_no AND d.state IN ('sending', 'delivered')"
	"  RETURNING d.booking_id"
	"), hm AS MATERIALIZED ("
	"  SELECT ins.id, ins.booking_id, ins.booking_no,"
	"         replace(replace(replace(replace(CASE ins.type"
	"              WHEN 'invited' THEN $11 WHEN 'bounced' THEN $12 WHEN 'reviewed' THEN $13"
	"              WHEN 'unsubscribed' THEN $14 ELSE $15 END,"
	"           '{event}', ins.type),"
	"           '{at}', coalesce(to_char(ins.at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC', 'time not given')),"
	"           '{booking_no}', ins.booking_no),"
	"           '{reason}', coalesce(nullif(ins.reason, ''), 'no reason given')) AS message"
	"    FROM ins WHERE ins.booking_id IS NOT NULL"
	"), h AS ("
	"  SELECT guestflow.write_history(array_agg(hm.booking_id ORDER BY hm.id), array_agg(hm.message ORDER BY hm.id))"
	"         AS ok"
	"    FROM hm WHERE NOT $17::bool HAVING count(*) > 0"
	"), cur AS ("
	"  UPDATE guestflow.connections SET events_cursor = coalesce($9, events_cursor), events_pulled_at = now(),"
	"         pull_failures = CASE WHEN $18::bool THEN pull_failures ELSE 0 END"
	"   WHERE id = $1::bigint AND events_cursor IS NOT DISTINCT FROM $16 RETURNING id"
	") SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM ins WHERE booking_id IS NOT NULL),"
	"         (SELECT count(*) FROM sup), (SELECT count(*) FROM rej), (SELECT count(*) FROM h),"
	"         (SELECT count(*) FROM cur), (SELECT count(*) FROM unq),"
	/* (the failures before this page: the statement sees the row as it was) */
	"         (SELECT pull_failures FROM guestflow.connections WHERE id = $1::bigint),"
	"         (SELECT json_agg(ins.booking_no ORDER BY ins.id) FROM ins JOIN changed USING (id)),"
	/* (each entry apart: store_each) */
	"         CASE WHEN $17::bool THEN (SELECT json_agg(json_build_array(hm.booking_id, hm.booking_no, hm.message,"
	"                                                                    hm.id) ORDER BY hm.id) FROM hm) END";

/* The most pages one pull reads of a connection's feed. */
#define PULL_PAGES 100

struct page {
	int64_t events, history, suppressed, rejected, unqueued;
	int64_t failures_before; /* the connection's pulls that had failed in a row */
	bool moved;              /* the cursor moved (not moved meanwhile by another pull) */
	int64_t not_suppressed;  /* bounces of bookings whose address is not the one planned */
	int64_t history_refused; /* entries the PMS refused (store with each) */
};

static int history_each(PGconn *c, const struct gf_job *job, const char *property, PGresult *res,
                        struct page *out);

/* each: the page's history entries written one by one, each under a
 * savepoint, in the page's transaction (history_each): for a page whose
 * statement the database refused for what may be one entry's values. */
static int store(PGconn *c, const struct gf_job *job, const char *conn, const char *property,
                 const char *cursor, const struct gf_events *ev, bool each, struct page *out)
{
	struct gf_buf a[5];
	for (int k = 0; k < 5; k++)
		a[k] = (struct gf_buf)GF_BUF_INIT((size_t)1 << 30);
	int r = 0;
	for (int k = 0; k < 5 && r == 0; k++)
		r = gf_buf_puts(&a[k], "{");
	for (size_t i = 0; i < ev->n && r == 0; i++) {
		const struct gf_partner_event *e = &ev->items[i];
		const char *v[5] = { e->booking_no, gf_event_type_name(e->type), e->at, e->reason, e->batch_key };
		for (int k = 0; k < 5 && r == 0; k++)
			r = gf_db_array_add_text(&a[k], v[k], i == 0);
	}
	for (int k = 0; k < 5 && r == 0; k++)
		r = gf_buf_puts(&a[k], "}");
	/* the job's entry for each type, {partner} and {job} filled in */
	struct gf_buf t[5];
	const struct gf_template_vars vars = { .partner = job->partner, .job = job->name };
	for (int k = 0; k < 5; k++) {
		t[k] = (struct gf_buf)GF_BUF_INIT((size_t)1 << 20);
		if (r == 0)
			r = gf_template_expand(job->event_message[k], &vars, &t[k]);
	}
	_Static_assert(GF_EVENT_INVITED == 0 && GF_EVENT_BOUNCED == 1 && GF_EVENT_REVIEWED == 2 &&
	               GF_EVENT_UNSUBSCRIBED == 3 && GF_EVENT_REJECTED == 4, "history.events in config.c's order");
	if (r == 0) {
		const char *p[] = { conn, gf_buf_str(&a[0]), gf_buf_str(&a[1]), gf_buf_str(&a[2]), gf_buf_str(&a[3]),
		                    gf_buf_str(&a[4]), job->name, property, ev->next, job->partner,
		                    gf_buf_str(&t[0]), gf_buf_str(&t[1]), gf_buf_str(&t[2]), gf_buf_str(&t[3]),
		                    gf_buf_str(&t[4]), cursor, each ? "true" : "false", ev->partial ? "true" : "false" };
		int err;
		PGresult *res = gf_db_query(c, &err, "pull_store", STORE_SQL, 18, p);
		if (!res) {
			r = err;
		} else {
			*out = (struct page){ gf_db_get_int(res, 0, 0), gf_db_get_int(res, 0, 4) ? gf_db_get_int(res, 0, 1) : 0,
			                      gf_db_get_int(res, 0, 2), gf_db_get_int(res, 0, 3), gf_db_get_int(res, 0, 6),
			                      gf_db_get_int(res, 0, 7), gf_db_get_int(res, 0, 5) > 0, 0, 0 };
			/* (booking numbers as the partner gave them: a JSON array) */
			json_t *nos = PQgetisnull(res, 0, 8) ? NULL : json_loads(PQgetvalue(res, 0, 8), 0, NULL);
			size_t k;
			json_t *no;
			json_array_foreach(nos, k, no) {
				gf_info("bounce_not_suppressed", "job=%s property=%s booking_no=%s msg=%s", job->name,
				        gf_log_q(property), gf_log_q(json_string_value(no) ? json_string_value(no) : ""),
				        gf_log_q("the booking's e-mail address now is not the one it was planned with for this"
				                 " connection (changed since, or not known), or the booking was never sent to it"
				                 " (rejected for its data): the bounce may be of another address, and this one is"
				                 " not put on the suppression list"));
				out->not_suppressed++;
			}
			json_decref(nos);
			if (each)
				r = history_each(c, job, property, res, out);
			PQclear(res);
		}
	}
	for (int k = 0; k < 5; k++) {
		gf_buf_free(&a[k]);
		gf_buf_free(&t[k]);
	}
	return r;
}

/* The entries of a page stored with each (STORE_SQL's last column: booking
 * id, number and message of each), written one by one: one the PMS
 * refuses (its adapter raising for that booking, a column too short for
 * the partner's reason) is left out and named, the others written. 0;
 * -GF_E_DATA when not one could be written (the history store may be
 * failing as a whole: the page is not stored); another error of a
 * statement but the entry's. */
static int history_each(PGconn *c, const struct gf_job *job, const char *property, PGresult *res,
                        struct page *out)
{
	json_t *v = PQgetisnull(res, 0, 9) ? NULL : json_loads(PQgetvalue(res, 0, 9), 0, NULL);
	size_t k;
	json_t *e;
	int64_t written = 0, refused = 0;
	struct refused_entry {
		const char *booking_no; /* in v */
		char state[6];
	} *refused_at = NULL;
	int r = 0;
	json_array_foreach(v, k, e) {
		char id[32];
		snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_array_get(e, 0)));
		const char *no = json_string_value(json_array_get(e, 1)), *msg = json_string_value(json_array_get(e, 2));
		if ((r = gf_db_exec(c, "pull_savepoint", "SAVEPOINT gf_entry", 0, NULL)) < 0)
			break;
		r = gf_db_exec(c, "pull_history_one", "SELECT guestflow.write_history(ARRAY[$1::bigint], ARRAY[$2])", 2,
		               (const char *[]){ id, msg });
		if (r == 0) {
			if ((r = gf_db_exec(c, "pull_release", "RELEASE SAVEPOINT gf_entry", 0, NULL)) < 0)
				break;
			written++;
			continue;
		}
		char state[6];
		snprintf(state, sizeof(state), "%s", gf_db_sqlstate(c));
		if (gf_db_session_gone(c) || !gf_db_sqlstate_may_be_row(state) ||
		    (r = gf_db_exec(c, "pull_rollback", "ROLLBACK TO SAVEPOINT gf_entry", 0, NULL)) < 0)
			break;
		/* (owed: written by a later run or pull of the job) */
		char ev[32];
		snprintf(ev, sizeof(ev), "%lld", (long long)json_integer_value(json_array_get(e, 3)));
		if ((r = gf_db_exec(c, "pull_history_owed", "UPDATE guestflow.partner_events SET history_pending = $2"
		                    " WHERE id = $1::bigint", 2, (const char *[]){ ev, msg })) < 0)
			break;
		refused_at = gf_xrealloc(refused_at, (size_t)(refused + 1) * sizeof(*refused_at));
		refused_at[refused++] = (struct refused_entry){ .booking_no = no ? no : "", .state = "" };
		snprintf(refused_at[refused - 1].state, sizeof(refused_at[refused - 1].state), "%s", state);
	}
	if (r == 0 && refused > 0 && written == 0)
		r = -GF_E_DATA;
	for (int64_t i = 0; r == 0 && i < refused; i++)
		gf_warn("history_refused", "job=%s property=%s booking_no=%s sqlstate=%s msg=%s", job->name,
		        gf_log_q(property), gf_log_q(refused_at[i].booking_no), gf_log_q(refused_at[i].state),
		        gf_log_q("the PMS refused the history entry of this event (the db_error line of"
		                 " pull_history_one has its message): the event is stored, its entry owed; each later"
		                 " run and pull of the job tries to write it"));
	free(refused_at);
	json_decref(v);
	out->history = written;
	out->history_refused = refused;
	return r;
}

static int clear_failed(PGconn *c, int64_t id);

/* One request of the output on h: 0 when it ended (its verdict is the
 * caller's to read), or a negative error: nothing could be started. */
static int pull_page(struct gf_http *h, struct gf_http_req *req, const struct gf_job *job,
                     const struct gf_output_target *t, const char *cursor)
{
	int r = job->output->pull(h, req, job, t, cursor);
	return r == 0 ? gf_http_wait(h, req) : r;
}

/* The pull of one connection (row i of conns): 0, -EAGAIN when the
 * partner's side failed (logged, and why in failure), or a negative
 * database error. */
static int pull_one(PGconn *c, const struct gf_job *job, struct gf_http *h, PGresult *conns, int i,
                    struct gf_pull_result *out, char *failure, size_t failure_len)
{
	const struct gf_output *o = job->output;
	int64_t id = gf_db_get_int(conns, i, 0);
	const char *conn = PQgetvalue(conns, i, 0), *property = PQgetvalue(conns, i, 1);
	char *secret = NULL;
	if (!PQgetisnull(conns, i, 3) && gf_secret_unseal(id, gf_db_get(conns, i, 3), &secret) < 0) {
		/* (gf_secret_unseal() logged why) */
		snprintf(failure, failure_len, "its stored %s cannot be decrypted with the key in %s",
		         o->secret_label ? o->secret_label : "secret", gf_secret_source());
		return -EAGAIN;
	}
	struct gf_output_target t = { .partner_id = PQgetvalue(conns, i, 2), .secret = secret };
	_cleanup_free_ char *cursor = PQgetisnull(conns, i, 4) ? NULL : gf_xstrdup(PQgetvalue(conns, i, 4));
	int r = 0;
	for (int page = 1;; page++) {
		struct gf_http_req *req = gf_http_req_new();
		struct gf_events ev = { 0 };
		char why[600] = "";
		r = pull_page(h, req, job, &t, cursor);
		int v = r == 0 ? o->parse_events(req, &t, &ev, why, sizeof(why)) : GF_TEST_UNEXPECTED;
		if (r == 0 && v < 0) {
			v = (int)gf_conntest_transport_verdict(req->result);
			gf_http_error_text(req, why, sizeof(why));
		}
		gf_http_req_free(req);
		if (r < 0 || v != GF_TEST_OK) {
			gf_warn("pull_failed", "job=%s property=%s verdict=%s msg=%s", job->name, gf_log_q(property),
			        gf_conntest_name((enum gf_test_verdict)v), gf_log_q(r < 0 ? gf_strerror(r) : why));
			snprintf(failure, failure_len, "%s: %s", gf_conntest_name((enum gf_test_verdict)v),
			         r < 0 ? gf_strerror(r) : why);
			gf_events_clear(&ev);
			r = -EAGAIN;
			break;
		}
		if (why[0]) /* a part the output left for later (an error file it could not read) */
			gf_warn("pull_partial", "job=%s property=%s msg=%s", job->name, gf_log_q(property), gf_log_q(why));
		bool partial = ev.partial;
		struct page pg = { 0 };
		r = store(c, job, conn, property, cursor, &ev, false, &pg);
		char st[6] = "";
		bool gone = false;
		if (r < 0) {
			snprintf(st, sizeof(st), "%s", gf_db_sqlstate(c));
			gone = gf_db_session_gone(c);
		}
		if (r < 0 && !gone && gf_db_sqlstate_may_be_row(st)) {
			/* Refused for what may be one history entry's values:
			 * the page again, its entries one by one (-GF_E_DATA:
			 * not one could be written; the page fails as it did). */
			pg = (struct page){ 0 };
			int e = gf_db_begin(c);
			if (e == 0)
				e = store(c, job, conn, property, cursor, &ev, true, &pg);
			if (e == 0)
				e = gf_db_commit(c);
			if (e != -GF_E_DATA && e < 0 && gf_db_session_gone(c)) {
				gone = true;
				r = e;
			} else if (e == 0) {
				r = 0;
			}
			gf_db_rollback(c);
		}
		if (r < 0) {
			gf_events_clear(&ev);
			if (!gone && gf_db_sqlstate_may_be_row(st)) {
				/* a value of the partner's the database cannot take (a
				 * wrong one, or one beyond a limit of the server's), or
				 * the PMS refusing every history entry of the page: this
				 * connection's pull fails (the cursor stays), not the run */
				gf_warn("pull_failed", "job=%s property=%s verdict=unexpected sqlstate=%s msg=%s", job->name,
				        gf_log_q(property), st, gf_log_q("the database refused to store the page (a value of the"
				                                         " partner's reply, or the PMS's history entries: see the"
				                                         " db_error line above): nothing of the page was stored,"
				                                         " the cursor stays"));
				snprintf(failure, failure_len, "unexpected: the database refused to store the partner's events"
				         " (SQLSTATE %s)", st);
				r = -EAGAIN;
			} else if (!gone && strcmp(st, "55P03") == 0) {
				/* a booking the PMS keeps locked (the history entry waits
				 * for its row): this connection's page waits for the next
				 * pull, the others go on */
				gf_warn("pull_failed", "job=%s property=%s verdict=locked sqlstate=%s msg=%s", job->name,
				        gf_log_q(property), st, gf_log_q("storing the page waited longer than"
				                                         " database.lock_timeout for a lock another session holds"
				                                         " (a booking the PMS is editing, or a row of guestflow's"
				                                         " another command holds): nothing of the page was"
				                                         " stored, the cursor stays"));
				snprintf(failure, failure_len, "storing its events waited longer than database.lock_timeout for a"
				         " lock another session holds (SQLSTATE 55P03)");
				r = -EAGAIN;
			}
			break;
		}
		if (pg.moved && pg.failures_before > 0 && !partial && (r = clear_failed(c, id)) < 0) {
			gf_events_clear(&ev);
			break;
		}
		out->events += pg.events;
		out->history += pg.history;
		out->history_refused += pg.history_refused;
		out->suppressed += pg.suppressed;
		out->rejected += pg.rejected;
		out->unqueued += pg.unqueued;
		out->not_suppressed += pg.not_suppressed;
		if (o->ack && ev.n_done > 0) {
			/* stored: what was read can be retired; if it is not, the
			 * next pull reads it again and stores nothing twice */
			struct gf_http_req *ack = gf_http_req_new();
			int a = o->ack(h, ack, job, &ev);
			if (a == 0)
				a = gf_http_wait(h, ack);
			if (a < 0 || ack->result != CURLE_OK) {
				char err[300];
				if (a == 0)
					gf_http_error_text(ack, err, sizeof(err));
				gf_warn("pull_ack_failed", "job=%s property=%s msg=%s", job->name, gf_log_q(property),
				        gf_log_q(a < 0 ? gf_strerror(a) : err));
			}
			gf_http_req_free(ack);
		}
		if (partial) {
			/* (what was read is stored; the rest is a failure of this
			 * connection's pull, counted toward its pull_failed alert) */
			snprintf(failure, failure_len, "unexpected: %s", why);
			gf_events_clear(&ev);
			r = -EAGAIN;
			break;
		}
		if (!pg.moved) {
			/* another pull of this feed moved the cursor since this one
			 * read it: it reads on from there, not this one */
			gf_info("pull_concurrent", "job=%s property=%s msg=%s", job->name, gf_log_q(property),
			        gf_log_q("another pull of this feed moved its cursor meanwhile: the events of this page are"
			                 " stored (each once), the cursor stays where that pull put it"));
			gf_events_clear(&ev);
			break;
		}
		/* the next page, while this one brought something new under a new cursor */
		bool again = ev.n > 0 && pg.events > 0 && ev.next && (!cursor || strcmp(ev.next, cursor) != 0);
		if (again) {
			free(cursor);
			cursor = gf_xstrdup(ev.next);
		}
		gf_events_clear(&ev);
		if (!again)
			break;
		if (page == PULL_PAGES) {
			/* (a feed that never runs dry must not hold the pull: the rest
			 * waits for the next one, from the cursor stored) */
			gf_info("pull_more", "job=%s property=%s pages=%d msg=%s", job->name, gf_log_q(property), page,
			        gf_log_q("the partner has more events: the next pull reads on from the stored cursor"));
			break;
		}
	}
	if (secret) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
	return r;
}

/* A statement of the failure count that failed (a lock held, the session
 * fine): logged, the pull goes on; the session lost: the pull's error. */
static int counted(PGconn *c, int err)
{
	if (err >= 0 || gf_db_session_gone(c))
		return err;
	gf_warn("pull_failure_not_counted", "sqlstate=%s msg=%s", gf_log_q(gf_db_sqlstate(c)),
	        gf_log_q("the failed pulls of this connection's feed could not be counted (see the db_error line"
	                 " above); the others' pulls go on"));
	return 0;
}

/* A connection whose pull failed: counted, by whichever job pulled its
 * feed (a connection is the partner's: every job of the partner pulls the
 * same feed); the failed_pulls-th failure in a row raises the feed's one
 * pull_failed alert (open until a pull reads the feed). */
static int count_failure(PGconn *c, const struct gf_job *job, int failed_pulls, PGresult *conns, int i,
                         const char *failure)
{
	const char *conn = PQgetvalue(conns, i, 0), *property = PQgetvalue(conns, i, 1);
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "pull_failure",
		"UPDATE guestflow.connections SET pull_failures = least(pull_failures, 2147483646) + 1"
		" WHERE id = $1::bigint RETURNING pull_failures,"
		/* (one alert a feed, whichever job raised it) */
		"   EXISTS (SELECT 1 FROM guestflow.alert_events WHERE connection_id = $1::bigint"
		"            AND kind = 'pull_failed' AND cleared_at IS NULL)", 1, (const char *[]){ conn });
	if (!r)
		return counted(c, err);
	int64_t n = PQntuples(r) ? gf_db_get_int(r, 0, 0) : 0;
	if (n < failed_pulls || PQgetvalue(r, 0, 1)[0] == 't')
		return 0;
	char msg[1500];
	snprintf(msg, sizeof(msg), "the %s event feed of property %s (%s %s) could not be read %lld pull%s in a row"
	         " (the last: %s); the bounces and unsubscribes it reports do not reach the suppression list until"
	         " it is, and each pull reads on from the stored cursor", job->partner, property,
	         job->output->id_label, PQgetvalue(conns, i, 2), (long long)n, n == 1 ? "" : "s",
	         failure[0] ? failure : "see the log");
	return counted(c, gf_alert_raise(c, job->name, gf_db_get_int(conns, i, 0), "pull_failed", msg, 0));
}

/* The feed read again: its pull_failed alert cleared, whichever job
 * raised it. */
static int clear_failed(PGconn *c, int64_t id)
{
	char conn[32];
	snprintf(conn, sizeof(conn), "%lld", (long long)id);
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "pull_failed_clear",
		"UPDATE guestflow.alert_events SET cleared_at = now()"
		" WHERE connection_id = $1::bigint AND kind = 'pull_failed' AND cleared_at IS NULL RETURNING id, job", 1,
		(const char *[]){ conn });
	if (!r)
		return counted(c, err);
	for (int i = 0; i < PQntuples(r); i++)
		gf_info("alert_cleared", "alert=%s kind=pull_failed connection=%s job=%s", PQgetvalue(r, i, 0), conn,
		        gf_log_q(PQgetvalue(r, i, 1)));
	return 0;
}

int gf_pull(PGconn *c, const struct gf_job *job, int failed_pulls, int64_t lock_timeout_ms,
            struct gf_pull_result *out)
{
	*out = (struct gf_pull_result){ 0 };
	/* The entries the job owes first (the PMS refused them before): this
	 * pull's own refusals are tried again by the next run or pull. */
	int err = gf_complete_history_owed_write(c, job->name, 0, lock_timeout_ms, &out->owed_written);
	if (err < 0)
		return err;
	_cleanup_pgresult_ PGresult *conns = gf_db_query(c, &err, "pull_connections",
		"SELECT id, property_id, id_at_partner, encode(secret_enc, 'hex'), events_cursor"
		"  FROM guestflow.connections WHERE partner = $1 AND status = 'live' ORDER BY id", 1, (const char *[]){ job->partner });
	if (!conns)
		return err;
	struct gf_http *h = gf_http_new(job);
	if (!h)
		return -ENOMEM;
	int r = 0;
	for (int i = 0; i < PQntuples(conns) && r == 0; i++) {
		char failure[800] = "";
		int one = pull_one(c, job, h, conns, i, out, failure, sizeof(failure));
		out->connections++;
		if (one == -EAGAIN) {
			out->failed++;
			r = count_failure(c, job, failed_pulls, conns, i, failure);
		} else {
			r = one;
		}
	}
	gf_http_free(h);
	if (r == 0)
		r = gf_complete_history_owed_alert(c, job->name, 0, &out->owed);
	return r;
}
