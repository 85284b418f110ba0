/* Connections: credentials and lifecycle of one property's link to one partner. */
#include "core/connection.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "base/log.h"
#include "base/signals.h"
#include "core/alert.h"
#include "core/config.h"
#include "core/jsonout.h"
#include "core/plan.h"
#include "core/secret.h"

static int status_alerts(PGconn *c, const char *id, const char *property, const char *partner, const char *status,
                         const char *why, const char *const *jobs, size_t n_jobs);

/* The code point at s[*i] (n bytes in all), *i moved past it; -1 when the
 * bytes there are not UTF-8 (overlong, surrogate, beyond U+10FFFF, cut). */
static int32_t utf8_next(const unsigned char *s, size_t n, size_t *i)
{
	unsigned char c = s[*i];
	if (c < 0x80) {
		(*i)++;
		return c;
	}
	size_t need;
	int32_t cp;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		cp = c & 0x07;
	} else {
		return -1;
	}
	for (size_t k = 1; k <= need; k++) {
		if (*i + k >= n || (s[*i + k] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (s[*i + k] & 0x3f);
	}
	if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*i += need + 1;
	return cp;
}

/* Bidi controls: they reorder what a terminal or mail reader shows around
 * them, so that an id could be made to look like another. */
static bool bidi_control(int32_t cp)
{
	return cp == 0x061c || cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069);
}

/* The rule of both ids (connection.h), rule being its statement for why. */
static int check_id(const char *id, const char *rule, char *why, size_t whylen)
{
	const unsigned char *s = (const unsigned char *)id;
	size_t n = strlen(id), i = 0, chars = 0;
	bool visible = false;
	while (i < n) {
		size_t at = i;
		int32_t cp = utf8_next(s, n, &i);
		chars++;
		if (cp < 0) {
			gf_set_why(why, whylen, "%s; byte %zu is not UTF-8", rule, at + 1);
			return -EINVAL;
		}
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0xfffe || cp == 0xffff) {
			gf_set_why(why, whylen, "%s; character %zu is U+%04X, a control character or non-character", rule,
			           chars, (unsigned)cp);
			return -EINVAL;
		}
		if (bidi_control(cp)) {
			gf_set_why(why, whylen, "%s; character %zu is U+%04X, a bidi control", rule, chars, (unsigned)cp);
			return -EINVAL;
		}
		visible |= cp != ' ';
	}
	if (!visible) {
		gf_set_why(why, whylen, "%s; this one is %s", rule, n ? "only spaces" : "empty");
		return -EINVAL;
	}
	return 0;
}

int gf_connection_check_id_at_partner(const char *id, char *why, size_t whylen)
{
	return check_id(id, "a partner's id for a property goes into every request (review-xml: the hotelId"
	                    " attribute, XSD type nonEmpty, and the URL; guest-json: the URL path) and is shown in"
	                    " guestflow's output: it must be valid UTF-8 without control characters or bidi"
	                    " controls (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), with at least one"
	                    " character other than a space", why, whylen);
}

int gf_connection_check_property(const char *id, char *why, size_t whylen)
{
	return check_id(id, "a property id is shown in guestflow's output, logs and alert mails: it must be valid"
	                    " UTF-8 without control characters or bidi controls (U+061C, U+200E, U+200F,"
	                    " U+202A-U+202E, U+2066-U+2069), with at least one character other than a space",
	                why, whylen);
}

int gf_connection_check_text(const char *s, char *why, size_t whylen)
{
	return check_id(s, "it is shown in guestflow's output and recorded in the connection's events: it must be"
	                   " valid UTF-8 without control characters or bidi controls (U+061C, U+200E, U+200F,"
	                   " U+202A-U+202E, U+2066-U+2069), with at least one character other than a space",
	                why, whylen);
}

int gf_connection_add(PGconn *c, const char *property, const char *partner,
                      const char *id_at_partner, const char *secret, const char *partner_email,
                      const char *notice_to)
{
	int r = gf_db_begin(c);
	if (r < 0)
		return r;
	r = gf_db_exec(c, "partner_upsert",
	               "INSERT INTO guestflow.partners (id, name) VALUES ($1, $1) ON CONFLICT DO NOTHING",
	               1, &partner);
	int err = 0;
	PGresult *res = NULL;
	/* The id first: it is the associated data the key is encrypted with. */
	_cleanup_pgresult_ PGresult *idr = r < 0 ? NULL : gf_db_query(c, &err, "connection_next_id",
		"SELECT nextval(pg_get_serial_sequence('guestflow.connections', 'id'))", 0, NULL);
	if (r == 0 && !idr)
		r = err;
	_cleanup_free_ char *hex = NULL;
	/* (none: a format whose connections hold no secret) */
	if (r == 0 && secret)
		r = gf_secret_seal(gf_db_get_int(idr, 0, 0), secret, &hex);
	if (r == 0) {
		const char *p[] = { PQgetvalue(idr, 0, 0), property, partner, id_at_partner, hex, partner_email,
		                    notice_to };
		/* the request, a notice to the partner (connection.h) */
		res = gf_db_query(c, &err, "connection_add",
			"WITH ins AS (INSERT INTO guestflow.connections (id, property_id, partner, id_at_partner, secret_enc,"
			"                                               partner_email)"
			" VALUES ($1::bigint, $2, $3, $4, decode($5, 'hex'), $6) ON CONFLICT (property_id, partner) DO NOTHING"
			" RETURNING id, partner_email)"
			" INSERT INTO guestflow.connection_events (connection_id, from_status, to_status, note, partner_notice,"
			"                                          partner_to)"
			" SELECT id, NULL, 'setup', 'connection added', true, coalesce(partner_email, $7) FROM ins"
			" RETURNING connection_id", 7, p);
		r = err;
	}
	if (r == 0 && PQntuples(res) == 0)
		r = -EEXIST;
	if (res)
		PQclear(res);
	if (r == 0)
		r = gf_db_commit(c);
	else
		gf_db_rollback(c);
	return r;
}

int gf_connection_set_secret(PGconn *c, const char *property, const char *partner, const char *secret,
                             const char *what)
{
	int r = gf_db_begin(c);
	if (r < 0)
		return r;
	int err;
	_cleanup_pgresult_ PGresult *cur = gf_db_query(c, &err, "connection_lock_key",
		"SELECT id FROM guestflow.connections WHERE property_id = $1 AND partner = $2 FOR UPDATE",
		2, (const char *[]){ property, partner });
	if (!cur) {
		gf_db_rollback(c);
		return err;
	}
	if (PQntuples(cur) == 0) {
		gf_db_rollback(c);
		return -ENOENT;
	}
	_cleanup_free_ char *hex = NULL;
	r = gf_secret_seal(gf_db_get_int(cur, 0, 0), secret, &hex);
	if (r == 0) {
		char note[128];
		snprintf(note, sizeof(note), "%s replaced (stored encrypted, key %d)", what, gf_secret_key_id());
		r = gf_db_exec(c, "connection_set_key",
			/* a test of the secret replaced says nothing of this one: the
			 * go-live gate wants a test of it */
			"WITH u AS (UPDATE guestflow.connections SET secret_enc = decode($2, 'hex'), secret = NULL,"
			" last_test_at = NULL, last_test_verdict = NULL, last_test_detail = NULL,"
			" updated_at = now() WHERE id = $1::bigint RETURNING id, status)"
			" INSERT INTO guestflow.connection_events (connection_id, from_status, to_status, note)"
			" SELECT id, status, status, $3 FROM u", 3,
			(const char *[]){ PQgetvalue(cur, 0, 0), hex, note });
	}
	if (r == 0)
		r = gf_db_commit(c);
	else
		gf_db_rollback(c);
	return r;
}

int gf_connection_set_partner_email(PGconn *c, const char *property, const char *partner, const char *email,
                                    const char *notice_to, bool *same, int *repointed)
{
	int err;
	/* One statement: the old address read under the row's lock, the new
	 * one and its event written when it differs. The notices already
	 * written keep the address they were given. */
	_cleanup_pgresult_ PGresult *q = gf_db_query(c, &err, "connection_partner_email",
		"WITH cur AS (SELECT id, status, partner_email FROM guestflow.connections"
		"             WHERE property_id = $1 AND partner = $2 FOR UPDATE),"
		" u AS (UPDATE guestflow.connections c SET partner_email = $3, updated_at = now() FROM cur"
		"       WHERE c.id = cur.id AND cur.partner_email IS DISTINCT FROM $3 RETURNING c.id, c.status),"
		" ev AS (INSERT INTO guestflow.connection_events (connection_id, from_status, to_status, note)"
		"        SELECT id, status, status, coalesce('partner e-mail set to ' || $3,"
		"               'partner e-mail cleared (the main config''s partners.' || $2 || '.email applies)') FROM u),"
		/* the changes not told yet go to the new address (not one being
		 * sent right now: that one finishes as it began) */
		" re AS (UPDATE guestflow.connection_events e SET partner_to = coalesce($3, $4), partner_attempts = 0,"
		"        partner_error = NULL FROM u WHERE e.connection_id = u.id AND e.partner_notice"
		"        AND e.partner_told_at IS NULL AND e.partner_to IS DISTINCT FROM coalesce($3, $4)"
		/* (to no address: those keep the one they have) */
		"        AND coalesce($3, $4) IS NOT NULL"
		"        AND (e.partner_sending_until IS NULL OR e.partner_sending_until < now())"
		/* a change older than one the partner was told of is superseded:
		 * told now, it would contradict what the partner knows */
		"        AND e.id > coalesce((SELECT max(o.id) FROM guestflow.connection_events o"
		"                             WHERE o.connection_id = u.id AND o.partner_told_at IS NOT NULL), 0)"
		"        RETURNING 1)"
		" SELECT (SELECT count(*) FROM cur), (SELECT count(*) FROM u), (SELECT count(*) FROM re)", 4,
		(const char *[]){ property, partner, email, notice_to });
	if (!q)
		return err;
	if (gf_db_get_int(q, 0, 0) == 0)
		return -ENOENT;
	*same = gf_db_get_int(q, 0, 1) == 0;
	*repointed = (int)gf_db_get_int(q, 0, 2);
	return 0;
}

static const char *const statuses[] = { "setup", "live", "stopped", "deactivated" };

int gf_connection_set_status(PGconn *c, const char *property, const char *partner,
                             const char *status, const char *note, const char *const *jobs, size_t n_jobs,
                             const char *notice_to)
{
	bool known = false;
	for (size_t i = 0; i < GF_ARRAY_SIZE(statuses); i++)
		known |= strcmp(status, statuses[i]) == 0;
	if (!known)
		return -EINVAL;
	int r = gf_db_begin(c);
	if (r < 0)
		return r;
	const char *p[] = { property, partner };
	int err;
	_cleanup_pgresult_ PGresult *cur = gf_db_query(c, &err, "connection_lock",
		"SELECT id, status FROM guestflow.connections WHERE property_id = $1 AND partner = $2 FOR UPDATE",
		2, p);
	if (!cur) {
		gf_db_rollback(c);
		return err;
	}
	if (PQntuples(cur) == 0) {
		gf_db_rollback(c);
		return -ENOENT;
	}
	const char *from = PQgetvalue(cur, 0, 1);
	if (strcmp(from, status) == 0) {
		gf_db_rollback(c);
		return 0;
	}
	/* Stopping is the partner's answer to a connection it served. */
	if (strcmp(status, "stopped") == 0 && strcmp(from, "live") != 0) {
		gf_db_rollback(c);
		return -EPERM;
	}
	const char *q[] = { PQgetvalue(cur, 0, 0), from, status, note, notice_to };
	r = gf_db_exec(c, "connection_status",
		"WITH u AS (UPDATE guestflow.connections SET status = $3, status_changed_at = now(), updated_at = now()"
		" WHERE id = $1::bigint RETURNING id, partner_email)"
		" INSERT INTO guestflow.connection_events (connection_id, from_status, to_status, note, partner_notice,"
		"                                          partner_to)"
		" SELECT id, $2, $3, $4, true, coalesce(partner_email, $5) FROM u", 5, q);
	if (r == 0)
		r = status_alerts(c, q[0], property, partner, status, note, jobs, n_jobs);
	if (r == 0)
		r = gf_db_commit(c);
	else
		gf_db_rollback(c);
	return r;
}

/* The alerts of a connection's new status, for each of the jobs: raised
 * for stopped and deactivated, cleared for live. */
static int status_alerts(PGconn *c, const char *id, const char *property, const char *partner, const char *status,
                         const char *why, const char *const *jobs, size_t n_jobs)
{
	int64_t conn = strtoll(id, NULL, 10);
	bool live = strcmp(status, "live") == 0;
	const char *kind = strcmp(status, "stopped") == 0 ? "connection_stopped"
	                   : strcmp(status, "deactivated") == 0 ? "connection_deactivated" : NULL;
	int r = 0;
	for (size_t i = 0; r == 0 && i < n_jobs; i++) {
		if (live) {
			r = gf_alert_clear(c, jobs[i], conn, "connection_stopped,connection_deactivated");
		} else if (kind) {
			_cleanup_free_ char *msg = gf_xasprintf("the connection of property %s to %s is %s: %s; its guests"
			                                        " are not sent until it is live again", property, partner,
			                                        status, why);
			r = gf_alert_raise(c, jobs[i], conn, kind, msg, 0);
		}
	}
	return r;
}

/* The connection's id, locked for the transaction begun: 0, -ENOENT or a
 * database error (rolled back then). */
static int lock_connection(PGconn *c, const char *property, const char *partner, char *id, size_t idlen,
                           char *status, size_t statuslen)
{
	int err;
	_cleanup_pgresult_ PGresult *cur = gf_db_query(c, &err, "connection_lock",
		"SELECT id, status FROM guestflow.connections WHERE property_id = $1 AND partner = $2 FOR UPDATE",
		2, (const char *[]){ property, partner });
	if (!cur || PQntuples(cur) == 0) {
		gf_db_rollback(c);
		return cur ? -ENOENT : err;
	}
	snprintf(id, idlen, "%s", PQgetvalue(cur, 0, 0));
	snprintf(status, statuslen, "%s", PQgetvalue(cur, 0, 1));
	return 0;
}

int gf_connection_consent(PGconn *c, const char *property, const char *partner, const char *by,
                          const char *version, bool *already)
{
	*already = false;
	int r = gf_db_begin(c);
	char id[32], status[32];
	if (r < 0 || (r = lock_connection(c, property, partner, id, sizeof(id), status, sizeof(status))) < 0)
		return r;
	int err;
	/* The consent in force ends as replaced, then the new one starts (two
	 * statements: the unique index on the one in force is checked as each
	 * row is written), the connection's events saying so; nothing when the
	 * terms in force are these. */
	_cleanup_pgresult_ PGresult *ended = gf_db_query(c, &err, "connection_consent_replace",
		"WITH cur AS (SELECT id, terms_version FROM guestflow.consents"
		"             WHERE connection_id = $1::bigint AND ended_at IS NULL)"
		" UPDATE guestflow.consents k SET ended_at = now(), ended_by = $2, ended_how = 'replaced'"
		" FROM cur WHERE k.id = cur.id AND cur.terms_version <> $3 RETURNING k.terms_version",
		3, (const char *[]){ id, by, version });
	if (!ended) {
		gf_db_rollback(c);
		return err;
	}
	const char *replaced = PQntuples(ended) ? PQgetvalue(ended, 0, 0) : NULL;
	_cleanup_pgresult_ PGresult *q = gf_db_query(c, &err, "connection_consent",
		"WITH ins AS (INSERT INTO guestflow.consents (connection_id, terms_version, accepted_by)"
		"             SELECT $1::bigint, $3, $2 WHERE NOT EXISTS (SELECT 1 FROM guestflow.consents"
		"                    WHERE connection_id = $1::bigint AND ended_at IS NULL)"
		"             RETURNING id),"
		" ev AS (INSERT INTO guestflow.connection_events (connection_id, from_status, to_status, note)"
		"        SELECT $1::bigint, $4, $4, 'consent: terms ' || $3 || ' accepted by ' || $2"
		"               || coalesce(' (replacing terms ' || $5 || ')', '') FROM ins)"
		" SELECT count(*) FROM ins", 5, (const char *[]){ id, by, version, status, replaced });
	if (!q) {
		gf_db_rollback(c);
		return err;
	}
	*already = gf_db_get_int(q, 0, 0) == 0;
	return gf_db_commit(c);
}

int gf_connection_consent_withdraw(PGconn *c, const char *property, const char *partner, const char *by,
                                   const char *const *jobs, size_t n_jobs, const char *notice_to)
{
	int r = gf_db_begin(c);
	char id[32], status[32];
	if (r < 0 || (r = lock_connection(c, property, partner, id, sizeof(id), status, sizeof(status))) < 0)
		return r;
	int err;
	/* The property withdraws: whatever consent is in force ends, and the
	 * connection is deactivated even when none was recorded (made live
	 * with --force, or before consents were) — no more data flows either
	 * way. A deactivated one stays as it is, the withdrawal recorded. */
	_cleanup_pgresult_ PGresult *q = gf_db_query(c, &err, "connection_consent_withdraw",
		"WITH ended AS (UPDATE guestflow.consents SET ended_at = now(), ended_by = $2, ended_how = 'withdrawn'"
		"               WHERE connection_id = $1::bigint AND ended_at IS NULL RETURNING terms_version),"
		" conn AS (UPDATE guestflow.connections SET status = 'deactivated', status_changed_at = now(),"
		"          updated_at = now() WHERE id = $1::bigint AND status <> 'deactivated'"
		"          RETURNING id, partner_email),"
		/* the partner is told when the connection was deactivated now */
		" ev AS (INSERT INTO guestflow.connection_events (connection_id, from_status, to_status, note,"
		"                                                 partner_notice, partner_to)"
		"        SELECT $1::bigint, $3, 'deactivated', coalesce('consent to terms ' || (SELECT terms_version"
		"               FROM ended), 'consent (none in force)') || ' withdrawn by ' || $2,"
		"               EXISTS (SELECT 1 FROM conn), (SELECT coalesce(partner_email, $4) FROM conn))"
		" SELECT (SELECT count(*) FROM ended)", 4, (const char *[]){ id, by, status, notice_to });
	if (!q) {
		gf_db_rollback(c);
		return err;
	}
	bool none = gf_db_get_int(q, 0, 0) == 0;
	_cleanup_free_ char *why = gf_xasprintf("the property's consent was withdrawn by %s", by);
	r = strcmp(status, "deactivated") == 0 ? 0
	    : status_alerts(c, id, property, partner, "deactivated", why, jobs, n_jobs);
	if (r < 0) {
		gf_db_rollback(c);
		return r;
	}
	r = gf_db_commit(c);
	return r < 0 ? r : none ? 1 : 0;
}

int gf_connection_activate(PGconn *c, const char *property, const char *partner, const char *const *jobs,
                           size_t n_jobs, const char *force_reason, const char *notice_to, struct gf_buf *missing)
{
	_cleanup_buf_ struct gf_buf arr = GF_BUF_INIT(SIZE_MAX);
	int r = gf_db_text_array(&arr, jobs, n_jobs);
	if (r < 0)
		return r;
	r = gf_db_begin(c);
	char id[32], status[32];
	if (r < 0 || (r = lock_connection(c, property, partner, id, sizeof(id), status, sizeof(status))) < 0)
		return r;
	if (strcmp(status, "live") == 0) {
		gf_db_rollback(c);
		return 1;
	}
	int err;
	/* Each item of the gate, read under the connection's lock. A contact
	 * covers the connection when the alert mails of the partner's jobs
	 * reach it (notify.c): its job is one of them or none, its connection
	 * this one or none. */
	_cleanup_pgresult_ PGresult *g = gf_db_query(c, &err, "connection_gate",
		"SELECT (SELECT terms_version FROM guestflow.consents WHERE connection_id = c.id AND ended_at IS NULL),"
		"       (SELECT ended_how || ' by ' || ended_by || ' at ' || to_char(ended_at, 'YYYY-MM-DD HH24:MI')"
		"        FROM guestflow.consents WHERE connection_id = c.id ORDER BY id DESC LIMIT 1),"
		"       EXISTS (SELECT 1 FROM guestflow.contacts k WHERE k.role = 'alert'"
		"               AND (k.job IS NULL OR k.job = ANY ($2::text[]))"
		"               AND (k.connection_id IS NULL OR k.connection_id = c.id)),"
		"       EXISTS (SELECT 1 FROM guestflow.contacts k WHERE k.role = 'technical'"
		"               AND (k.job IS NULL OR k.job = ANY ($2::text[]))"
		"               AND (k.connection_id IS NULL OR k.connection_id = c.id)),"
		"       coalesce(last_test_verdict = 'ok' AND last_test_at > now() - interval '24 hours', false),"
		"       CASE WHEN last_test_at IS NULL THEN 'never tested'"
		"            ELSE 'last: ' || last_test_verdict || ' at ' || to_char(last_test_at, 'YYYY-MM-DD HH24:MI TZ')"
		"       END"
		" FROM guestflow.connections c WHERE id = $1::bigint", 2, (const char *[]){ id, arr.data });
	if (!g) {
		gf_db_rollback(c);
		return err;
	}
	const char *pq = gf_log_qt(property), *ptq = gf_log_qt(partner);
	size_t before = missing->len;
	if (PQgetisnull(g, 0, 0)) {
		gf_buf_printf(missing, "no consent in force%s%s%s: record who accepted which terms with 'guestflow"
		              " connection consent %s %s --by NAME --terms-version V'\n",
		              PQgetisnull(g, 0, 1) ? "" : " (the last was ",
		              PQgetisnull(g, 0, 1) ? "" : gf_log_qt(PQgetvalue(g, 0, 1)),
		              PQgetisnull(g, 0, 1) ? "" : ")", pq, ptq);
	}
	static const char *const roles[] = { "alert", "technical" };
	for (int i = 0; i < 2; i++)
		if (PQgetvalue(g, 0, 2 + i)[0] != 't')
			gf_buf_printf(missing, "no %s contact covers it: add one with 'guestflow contact add EMAIL --role %s"
			              " --connection %s %s' (or for its job, or for all)\n", roles[i], roles[i], pq, ptq);
	if (PQgetvalue(g, 0, 4)[0] != 't')
		gf_buf_printf(missing, "no connection test succeeded in the last 24 hours (%s): run 'guestflow connection"
		              " test %s %s'\n", PQgetvalue(g, 0, 5), pq, ptq);
	/* The PMS's word on the property (when the source contract's view is
	 * there: 'db migrate' does not need it): a run would stop the
	 * connection again at once. */
	_cleanup_pgresult_ PGresult *pa = gf_db_query(c, &err, "connection_gate_property",
		"SELECT to_regclass('guestflow.source_properties') IS NULL", 0, NULL);
	if (!pa) {
		gf_db_rollback(c);
		return err;
	}
	if (PQgetvalue(pa, 0, 0)[0] != 't') {
		_cleanup_pgresult_ PGresult *al = gf_db_query(c, &err, "connection_gate_allowed",
			"SELECT " GF_SQL_PROPERTY_ALLOWED("$1"), 1, &property);
		if (!al) {
			gf_db_rollback(c);
			return err;
		}
		if (PQgetvalue(al, 0, 0)[0] != 't')
			gf_buf_printf(missing, "the PMS does not allow the property's guests to be exported (it does not list"
			              " it in guestflow.source_properties, or export_allowed is not true there): a run would"
			              " stop the connection again\n");
	}
	bool short_of = missing->len > before;
	if (short_of && !(force_reason && *force_reason)) {
		gf_db_rollback(c);
		return -EACCES;
	}
	_cleanup_free_ char *note = short_of
		? gf_xasprintf("activated with --force: %s (the gate found: %.*s)", force_reason,
		               (int)(missing->len - before - 1), missing->data + before)
		: gf_xstrdup("activated: consent, contacts and a connection test in the last 24 hours checked");
	for (char *p = note; *p; p++)
		if (*p == '\n')
			*p = ';';
	r = gf_db_exec(c, "connection_activate",
		"WITH u AS (UPDATE guestflow.connections SET status = 'live', status_changed_at = now(), updated_at = now()"
		" WHERE id = $1::bigint RETURNING id, partner_email)"
		" INSERT INTO guestflow.connection_events (connection_id, from_status, to_status, note, partner_notice,"
		"                                          partner_to)"
		" SELECT id, $2, 'live', $3, true, coalesce(partner_email, $4) FROM u", 4,
		(const char *[]){ id, status, note, notice_to });
	if (r == 0)
		r = status_alerts(c, id, property, partner, "live", NULL, jobs, n_jobs);
	if (r == 0)
		r = gf_db_commit(c);
	else
		gf_db_rollback(c);
	return r;
}

/* The live connections of a partner ($1) the PMS no longer allows (or has
 * no more), locked; those to move ($2: a property removed deactivates),
 * moved, with their events ($3 the job, $4 the partner's address). Of one
 * connection only when $5 is given. A property the view lists twice counts
 * as allowed only if every row says so. */
static const char AUTOSTOP_SQL[] =
	"WITH cand AS ("
	"  SELECT c.id, c.property_id,"
	"         CASE WHEN NOT EXISTS (SELECT 1 FROM guestflow.source_properties p"
	"                               WHERE p.property_id = c.property_id) THEN 'removed'"
	"              ELSE 'not_allowed' END AS why"
	/* (the rule a booking's eligibility uses, plan.h) */
	"    FROM guestflow.connections c WHERE c.partner = $1 AND c.status = 'live'"
	"     AND ($5::bigint IS NULL OR c.id = $5::bigint)"
	"     AND NOT " GF_SQL_PROPERTY_ALLOWED("c.property_id")
	/* (not FOR UPDATE: the key share that another worker's deliveries
	 * hold on the row while it plans must not make this wait) */
	"     FOR NO KEY UPDATE OF c),"
	" moved AS ("
	"  UPDATE guestflow.connections c"
	"     SET status = CASE cand.why WHEN 'removed' THEN 'deactivated' ELSE 'stopped' END,"
	"         status_changed_at = now(), updated_at = now()"
	"    FROM cand WHERE c.id = cand.id AND (cand.why = 'not_allowed' OR (cand.why = 'removed' AND $2::bool))"
	"  RETURNING c.id, c.property_id, c.status, cand.why, c.partner_email),"
	" ev AS ("
	"  INSERT INTO guestflow.connection_events (connection_id, from_status, to_status, actor, partner_notice,"
	"                                           partner_to, note)"
	"  SELECT id, 'live', status, 'guestflow (automatic stop)', true, coalesce(partner_email, $4), CASE why"
	"         WHEN 'removed' THEN 'stopped automatically: the property is gone from the PMS"
	" (guestflow.source_properties; job ' || $3 || ', on_removed: deactivate)'"
	"         ELSE 'stopped automatically: the PMS no longer allows the property''s guests to be exported"
	" (guestflow.source_properties.export_allowed; job ' || $3 || ')' END FROM moved)"
	" SELECT id, property_id, status, why, true FROM moved"
	" UNION ALL SELECT id, property_id, 'live', why, false FROM cand"
	"  WHERE why = 'removed' AND NOT $2::bool ORDER BY 2";

/* One transaction of the automatic stop: of every live connection of the
 * job's partner (conn NULL), or of one. 0, or the error (rolled back;
 * *sqlstate its SQLSTATE). */
static int autostop_tx(PGconn *c, const struct gf_job *job, const char *const *jobs, size_t n_jobs,
                       const char *notice_to, int64_t lock_timeout_ms, bool again, const char *conn,
                       int *changed, char sqlstate[6])
{
	sqlstate[0] = '\0';
	int r = gf_db_begin(c);
	/* Without JIT: the planner charges the CASE's look-up below to every
	 * live connection, so from about two thousand connections the cost
	 * passes jit_above_cost, and compiling took 10 to 30 ms of a statement
	 * that runs in 1 ms, at the start of every run (bench/RESULTS.md). */
	if (r == 0 && (r = gf_db_exec(c, "connection_autostop_jit", "SET LOCAL jit = off", 0, NULL)) < 0)
		gf_db_rollback(c);
	if (r == 0 && lock_timeout_ms > 0) {
		char ms[32];
		snprintf(ms, sizeof(ms), "%lld", (long long)lock_timeout_ms);
		if ((r = gf_db_exec(c, "connection_autostop_lock_timeout", "SELECT set_config('lock_timeout', $1, true)",
		                    1, (const char *[]){ ms })) < 0)
			gf_db_rollback(c);
	}
	if (r < 0)
		return r;
	const char *deactivate = job->on_removed == GF_ON_REMOVED_DEACTIVATE ? "t" : "f";
	int err;
	/* (stoppable: the operator's view may be slow, and the connections
	 * stay locked while it runs) */
	_cleanup_pgresult_ PGresult *q = gf_db_query_stoppable(c, &err, "connection_autostop", AUTOSTOP_SQL, 5,
		(const char *[]){ job->partner, deactivate, job->name, notice_to, conn }, &gf_signals_stop);
	if (!q) {
		snprintf(sqlstate, 6, "%s", gf_db_sqlstate(c));
		gf_db_rollback(c);
		return err;
	}
	for (int i = 0; r == 0 && i < PQntuples(q); i++) {
		const char *id = PQgetvalue(q, i, 0), *prop = PQgetvalue(q, i, 1), *status = PQgetvalue(q, i, 2);
		bool removed = strcmp(PQgetvalue(q, i, 3), "removed") == 0;
		if (PQgetvalue(q, i, 4)[0] != 't') {
			if (again)
				continue; /* (said when the run began) */
			gf_warn("property_removed", "connection=%s property=%s msg=%s", id, gf_log_q(prop),
			        gf_log_q("the property is gone from the PMS (guestflow.source_properties); its connection"
			                 " stays live (on_removed: keep), and its guests are not sent while the PMS does not"
			                 " list it"));
			continue;
		}
		const char *why = removed ? "the property is gone from the PMS"
		                          : "the PMS no longer allows its guests to be exported";
		gf_warn("connection_auto_stopped", "connection=%s property=%s status=%s msg=%s", id, gf_log_q(prop),
		        status, gf_log_q(why));
		/* (every job of the partner hears of it, as of a manual stop) */
		r = status_alerts(c, id, prop, job->partner, status, why, jobs, n_jobs);
		(*changed)++;
	}
	if (r == 0)
		r = gf_db_commit(c);
	else
		gf_db_rollback(c);
	return r;
}

int gf_connection_autostop(PGconn *c, const struct gf_job *job, const char *const *jobs, size_t n_jobs,
                           const char *notice_to, int64_t lock_timeout_ms, bool again, int *changed)
{
	*changed = 0;
	char state[6];
	int r = autostop_tx(c, job, jobs, n_jobs, notice_to, lock_timeout_ms, again, NULL, changed, state);
	if (r == 0 || gf_db_session_gone(c) || !gf_db_sqlstate_may_be_row(state))
		return r;
	/* The PMS's properties view raising for one property (a value it
	 * cannot give): each connection apart, so that the others are judged;
	 * one whose property rule cannot be read is neither stopped nor kept
	 * from its run here (its guests' eligibility reads the same rule).
	 * Once, when the run begins: a transaction a connection, each reading
	 * the view, is too much to repeat every second while the run sends
	 * (the run's main loop would wait for it); made again while it sends,
	 * the automatic stop is left for the next run then. */
	if (again)
		return 0;
	int err;
	_cleanup_pgresult_ PGresult *l = gf_db_query(c, &err, "connection_autostop_each",
		"SELECT id, property_id FROM guestflow.connections WHERE partner = $1 AND status = 'live' ORDER BY id",
		1, (const char *[]){ job->partner });
	if (!l)
		return err;
	for (int i = 0; i < PQntuples(l) && !gf_signals_stop; i++) {
		r = autostop_tx(c, job, jobs, n_jobs, notice_to, lock_timeout_ms, again, PQgetvalue(l, i, 0), changed,
		                state);
		if (r == 0)
			continue;
		if (gf_db_session_gone(c) || !gf_db_sqlstate_may_be_row(state))
			return r;
		if (!again)
			gf_warn("property_rule_unreadable", "connection=%s property=%s sqlstate=%s msg=%s",
			        PQgetvalue(l, i, 0), gf_log_q(PQgetvalue(l, i, 1)), state,
			        gf_log_q("guestflow.source_properties raises an error for this property (the db_error line"
			                 " before has the PMS's message): whether the PMS still allows its guests to be"
			                 " exported cannot be read, so its connection is not stopped automatically"));
	}
	return 0;
}

int gf_connection_list(PGconn *c, json_t *doc, FILE *out)
{
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "connection_list",
		"SELECT property_id, partner, id_at_partner, status, to_char(status_changed_at, 'YYYY-MM-DD HH24:MI'),"
		"       to_char(status_changed_at, " GF_JSON_TS_FMT ")"
		" FROM guestflow.connections ORDER BY partner, property_id", 0, NULL);
	if (!r)
		return err;
	if (doc) {
		static const struct gf_json_col cols[] = {
			{ "property", 0, gf_json_col_text }, { "partner", 1, gf_json_col_text },
			{ "id_at_partner", 2, gf_json_col_text }, { "status", 3, gf_json_col_text },
			{ "status_since", 5, gf_json_col_ts },
		};
		gf_json_set(doc, "connections", gf_json_rows(r, cols, GF_ARRAY_SIZE(cols)));
		return 0;
	}
	/* (the partner's id of the connection: a hotel or a property id, as
	 * its format names it) */
	fprintf(out, "%-16s %-16s %-20s %-12s %s\n", "PROPERTY", "PARTNER", "ID AT PARTNER", "STATUS", "SINCE");
	/* Rows written before the ids were checked, or by another program: shown
	 * escaped, so that nothing in them drives the terminal (log.h). */
	for (int i = 0; i < PQntuples(r); i++) {
		fprintf(out, "%-16s %-16s %-20s ", gf_log_qt(PQgetvalue(r, i, 0)), gf_log_qt(PQgetvalue(r, i, 1)),
		        gf_log_qt(PQgetvalue(r, i, 2)));
		fprintf(out, "%-12s %s\n", gf_log_qt(PQgetvalue(r, i, 3)), gf_log_qt(PQgetvalue(r, i, 4)));
	}
	return 0;
}

/* The connection of show's row r (and its events ev) for --json. */
static json_t *show_json(PGresult *r, PGresult *ev, const char *id_label, const char *secret_label)
{
	json_t *o = gf_json_obj();
	gf_json_set(o, "property", gf_json_col_text(r, 0, 1));
	gf_json_set(o, "partner", gf_json_col_text(r, 0, 2));
	gf_json_set(o, "id_at_partner", gf_json_col_text(r, 0, 3));
	gf_json_set(o, "id_label", gf_json_text(id_label));
	gf_json_set(o, "status", gf_json_col_text(r, 0, 4));
	gf_json_set(o, "status_since", gf_json_col_ts(r, 0, 14));
	gf_json_set(o, "created_at", gf_json_col_ts(r, 0, 13));
	gf_json_set(o, "delivered", gf_json_col_num(r, 0, 7));
	gf_json_set(o, "pending", gf_json_col_num(r, 0, 8));
	/* how the secret is kept, never the secret: "encrypted", "plain_text"
	 * (until guestflow next opens its key), "none"; not_used: the format
	 * takes none (the job holds the account) */
	gf_json_set(o, "secret_label", gf_json_text(secret_label));
	gf_json_set(o, "secret_storage", gf_json_text(secret_label ? PQgetvalue(r, 0, 15) : "not_used"));
	json_t *t = gf_json_null();
	if (!PQgetisnull(r, 0, 16)) {
		json_decref(t);
		t = gf_json_obj();
		gf_json_set(t, "at", gf_json_col_ts(r, 0, 16));
		gf_json_set(t, "verdict", gf_json_col_text(r, 0, 17));
		gf_json_set(t, "detail", gf_json_col_text(r, 0, 18));
	}
	gf_json_set(o, "last_test", t);
	json_t *k = gf_json_null();
	if (!PQgetisnull(r, 0, 19)) {
		json_decref(k);
		k = gf_json_obj();
		gf_json_set(k, "terms_version", gf_json_col_text(r, 0, 19));
		gf_json_set(k, "accepted_by", gf_json_col_text(r, 0, 20));
		gf_json_set(k, "accepted_at", gf_json_col_ts(r, 0, 21));
		gf_json_set(k, "in_force", gf_json_bool(PQgetisnull(r, 0, 22)));
		gf_json_set(k, "ended_at", gf_json_col_ts(r, 0, 22));
		gf_json_set(k, "ended_how", gf_json_col_text(r, 0, 23));
		gf_json_set(k, "ended_by", gf_json_col_text(r, 0, 24));
	}
	gf_json_set(o, "consent", k);
	gf_json_set(o, "partner_email", gf_json_col_text(r, 0, 12));
	json_t *a = gf_json_arr();
	for (int i = 0; i < PQntuples(ev); i++) {
		json_t *e = gf_json_obj();
		gf_json_set(e, "at", gf_json_col_ts(ev, i, 6));
		gf_json_set(e, "from_status", gf_json_col_text(ev, i, 7));
		gf_json_set(e, "to_status", gf_json_col_text(ev, i, 2));
		gf_json_set(e, "actor", gf_json_col_text(ev, i, 3));
		gf_json_set(e, "note", gf_json_col_text(ev, i, 8));
		/* whether the partner was told (null: the change is not one it
		 * is told of) */
		json_t *n = gf_json_null();
		if (!PQgetisnull(ev, i, 9)) {
			json_decref(n);
			n = gf_json_obj();
			gf_json_set(n, "state", gf_json_col_text(ev, i, 9));
			gf_json_set(n, "to", gf_json_col_text(ev, i, 10));
			gf_json_set(n, "told_at", gf_json_col_ts(ev, i, 11));
			gf_json_set(n, "attempts", gf_json_col_num(ev, i, 12));
			gf_json_set(n, "error", gf_json_col_text(ev, i, 13));
			gf_json_set(n, "text", gf_json_col_text(ev, i, 5));
		}
		gf_json_set(e, "partner_notice", n);
		gf_json_add(a, e);
	}
	gf_json_set(o, "events", a);
	return o;
}

int gf_connection_show(PGconn *c, const char *property, const char *partner, const char *id_label,
                       const char *secret_label, json_t *doc, FILE *out)
{
	const char *p[] = { property, partner };
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "connection_show",
		"SELECT id, property_id, partner, id_at_partner, status, created_at, status_changed_at,"
		" (SELECT count(*) FROM guestflow.deliveries d WHERE d.connection_id = c.id AND d.state = 'delivered'),"
		" (SELECT count(*) FROM guestflow.deliveries d WHERE d.connection_id = c.id AND d.state IN ('pending', 'sending')),"
		" CASE WHEN secret IS NOT NULL THEN 'stored in plain text until guestflow next opens its key, not shown'"
		"      WHEN secret_enc IS NOT NULL"
		"      THEN 'stored encrypted (key ' || get_byte(secret_enc, 1) || '), not shown' ELSE 'none' END,"
		" CASE WHEN last_test_at IS NULL THEN 'never (guestflow connection test)'"
		"      ELSE to_char(last_test_at, 'YYYY-MM-DD HH24:MI:SS TZ') || ' ' || last_test_verdict"
		"           || coalesce(': ' || last_test_detail, '') END,"
		" coalesce((SELECT 'terms ' || terms_version || ' accepted by ' || accepted_by || ' at '"
		"                  || to_char(accepted_at, 'YYYY-MM-DD HH24:MI:SS TZ')"
		"           FROM guestflow.consents WHERE connection_id = c.id AND ended_at IS NULL),"
		"          (SELECT 'none in force (terms ' || terms_version || ' ' || ended_how || ' by ' || ended_by"
		"                  || ' at ' || to_char(ended_at, 'YYYY-MM-DD HH24:MI:SS TZ') || ')'"
		"           FROM guestflow.consents WHERE connection_id = c.id ORDER BY id DESC LIMIT 1),"
		"          'none recorded (guestflow connection consent)'), partner_email,"
		/* (13..) for --json: the same, as values */
		" to_char(created_at, " GF_JSON_TS_FMT "), to_char(status_changed_at, " GF_JSON_TS_FMT "),"
		" CASE WHEN secret IS NOT NULL THEN 'plain_text' WHEN secret_enc IS NOT NULL THEN 'encrypted' ELSE 'none' END,"
		" to_char(last_test_at, " GF_JSON_TS_FMT "), last_test_verdict, last_test_detail,"
		" k.terms_version, k.accepted_by, to_char(k.accepted_at, " GF_JSON_TS_FMT "),"
		" to_char(k.ended_at, " GF_JSON_TS_FMT "), k.ended_how, k.ended_by"
		" FROM guestflow.connections c"
		" LEFT JOIN LATERAL (SELECT terms_version, accepted_by, accepted_at, ended_at, ended_how, ended_by"
		"                      FROM guestflow.consents WHERE connection_id = c.id"
		"                     ORDER BY ended_at IS NULL DESC, id DESC LIMIT 1) k ON true"
		" WHERE property_id = $1 AND partner = $2", 2, p);
	if (!r)
		return err;
	if (PQntuples(r) == 0)
		return -ENOENT;
	const char *id = PQgetvalue(r, 0, 0);
	_cleanup_pgresult_ PGresult *ev = gf_db_query(c, &err, "connection_events",
		"SELECT to_char(at, 'YYYY-MM-DD HH24:MI:SS'), coalesce(from_status, '-'), to_status, actor, coalesce(note, ''),"
		/* whether the partner was told of it (gf_notify_partners) */
		"       CASE WHEN NOT partner_notice THEN NULL"
		"            WHEN partner_to IS NULL THEN 'partner not told: no address (partners.' || c.partner"
		"                 || '.email in the main file, or connection set-partner-email)'"
		"            WHEN partner_sending_until > now() THEN 'partner being told now (' || partner_to || ')'"
		"            WHEN partner_told_at IS NOT NULL THEN 'partner told at '"
		"                 || to_char(partner_told_at, 'YYYY-MM-DD HH24:MI:SS') || ' (' || partner_to || ')'"
		"            WHEN partner_attempts = 0 THEN 'partner not told yet (' || partner_to || '): not tried yet (it"
		" waits for the changes before it, for alerting.smtp_url, or for the next connection command or run)'"
		"            ELSE 'partner not told yet (' || partner_to || '): ' || partner_attempts || ' attempt'"
		"                 || CASE WHEN partner_attempts = 1 THEN '' ELSE 's' END || ', the last: '"
		"                 || coalesce(partner_error, 'no details') END,"
		/* (6..) for --json */
		"       to_char(at, " GF_JSON_TS_FMT "), from_status, note,"
		"       CASE WHEN NOT partner_notice THEN NULL WHEN partner_to IS NULL THEN 'no_address'"
		"            WHEN partner_sending_until > now() THEN 'sending' WHEN partner_told_at IS NOT NULL THEN 'told'"
		"            WHEN partner_attempts = 0 THEN 'waiting' ELSE 'failing' END,"
		"       partner_to, to_char(partner_told_at, " GF_JSON_TS_FMT "), partner_attempts, partner_error"
		" FROM guestflow.connection_events e JOIN guestflow.connections c ON c.id = e.connection_id"
		" WHERE e.connection_id = $1::bigint ORDER BY at DESC, e.id DESC LIMIT 20",
		1, &id);
	if (!ev)
		return err;
	if (doc) {
		gf_json_set(doc, "connection", show_json(r, ev, id_label, secret_label));
		return 0;
	}
	/* database text escaped as in list */
	char idl[32], secl[32];
	snprintf(idl, sizeof(idl), "%s:", id_label);
	snprintf(secl, sizeof(secl), "%s:", secret_label ? secret_label : "secret");
	fprintf(out, "property:    %s\npartner:     %s\n%-12s %s\n", gf_log_qt(PQgetvalue(r, 0, 1)),
	        gf_log_qt(PQgetvalue(r, 0, 2)), idl, gf_log_qt(PQgetvalue(r, 0, 3)));
	fprintf(out, "%-12s %s\nstatus:      %s (since %s)\ncreated:     %s\ndelivered:   %s\npending:     %s\n",
	        secl, secret_label ? PQgetvalue(r, 0, 9) : "none: the job holds the account",
	        gf_log_qt(PQgetvalue(r, 0, 4)), PQgetvalue(r, 0, 6), PQgetvalue(r, 0, 5), PQgetvalue(r, 0, 7),
	        PQgetvalue(r, 0, 8));
	fprintf(out, "last test:   %s\n", gf_log_qt(PQgetvalue(r, 0, 10)));
	fprintf(out, "consent:     %s\n", gf_log_qt(PQgetvalue(r, 0, 11)));
	if (PQgetisnull(r, 0, 12))
		fprintf(out, "partner e-mail: none of its own (partners.%s.email of the main file applies)\n",
		        gf_log_qt(PQgetvalue(r, 0, 2)));
	else
		fprintf(out, "partner e-mail: %s\n", gf_log_qt(PQgetvalue(r, 0, 12)));
	fprintf(out, "events:\n");
	for (int i = 0; i < PQntuples(ev); i++) {
		fprintf(out, "  %s  %s -> %s", PQgetvalue(ev, i, 0), gf_log_qt(PQgetvalue(ev, i, 1)),
		        gf_log_qt(PQgetvalue(ev, i, 2)));
		fprintf(out, "  by %s  %s\n", gf_log_qt(PQgetvalue(ev, i, 3)), gf_log_qt(PQgetvalue(ev, i, 4)));
		if (!PQgetisnull(ev, i, 5))
			fprintf(out, "    %s\n", gf_log_qt(PQgetvalue(ev, i, 5)));
	}
	return 0;
}
