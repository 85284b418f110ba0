/* The guest-json output's table (PARTNERS.md "guest-json v1"): the body
 * and the replies with jansson, the property id in the URL path, the token
 * in an Authorization header, and its failure table. */
#include "outputs/guest_json/output.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "base/gzip.h"
#include "base/text.h"
#include "base/util.h"
#include "core/normalize.h"
#include "core/config.h"
#include "transport/http.h"

/* ---- the request ---------------------------------------------------------- */

struct sink {
	struct gf_buf *out;
	struct gf_gzip_stream *gz; /* or NULL: plain */
	int err;
};

static int sink_write(const char *data, size_t len, void *ctx)
{
	struct sink *s = ctx;
	if (s->err == 0)
		s->err = s->gz ? gf_gzip_write(s->gz, data, len) : gf_buf_append(s->out, data, len);
	return s->err < 0 ? -1 : 0;
}

/* One key of a guest from a part of the record's text. */
static int set_span(json_t *o, const char *key, const struct gf_span *sp)
{
	json_t *v = json_stringn(sp->p ? sp->p : "", sp->len);
	return v ? json_object_set_new(o, key, v) : -1;
}

/* A checked record as the contract's guest object: firstName left out when
 * unknown (never null, never ""). */
static json_t *guest(const struct gf_record_checked *c, const char *default_language, unsigned omit)
{
	json_t *o = json_object();
	const char *lang = c->has_language ? c->language : default_language;
	if (!o || set_span(o, "pmsId", &c->f[GF_RECORD_BOOKING_NO]) < 0 ||
	    set_span(o, "lastName", &c->f[GF_RECORD_LAST_NAME]) < 0 ||
	    (c->f[GF_RECORD_FIRST_NAME].len > 0 && set_span(o, "firstName", &c->f[GF_RECORD_FIRST_NAME]) < 0) ||
	    set_span(o, "email", &c->f[GF_RECORD_EMAIL]) < 0 ||
	    (!(omit & GF_OMIT_GENDER) && json_object_set_new(o, "gender", json_string(c->gender)) < 0) ||
	    (!(omit & GF_OMIT_LANGUAGE) && json_object_set_new(o, "language", json_string(lang)) < 0) ||
	    (!(omit & GF_OMIT_STATUS) && set_span(o, "status", &c->f[GF_RECORD_STATUS]) < 0) ||
	    (!(omit & GF_OMIT_ARRIVAL) && set_span(o, "checkin", &c->f[GF_RECORD_ARRIVAL]) < 0) ||
	    set_span(o, "checkout", &c->f[GF_RECORD_DEPARTURE]) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int gf_render_guest_json(const char *batch_id, const struct gf_record *recs, size_t n,
                         const char *default_language, unsigned omit, int gzip_level, struct gf_buf *out,
                         char **reasons, size_t *n_rendered)
{
	if (!out || (n > 0 && !recs) || !batch_id || !*batch_id ||
	    (default_language && !gf_is_language_code(default_language)) || gzip_level < 0 || gzip_level > 9)
		return -EINVAL;
	/* More than a request may hold (a batch formed under another format):
	 * too big, so that the engine halves it. */
	if (n > GF_GUEST_JSON_MAX_GUESTS)
		return -GF_E_TOO_BIG;
	for (size_t i = 0; reasons && i < n; i++)
		reasons[i] = NULL;
	/* (the reply names guests by pmsId: two with one could not be told apart) */
	struct gf_seen seen;
	gf_seen_init(&seen, n);
	json_t *root = json_object(), *guests = json_array();
	int r = root && guests && json_object_set_new(root, "batchId", json_string(batch_id)) == 0 ? 0 : -ENOMEM;
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct gf_record_checked c;
		if (!gf_record_take(recs, i, omit, default_language, &seen, &c, reasons ? &reasons[i] : NULL))
			continue;
		json_t *g = guest(&c, default_language, omit);
		if (!g || json_array_append_new(guests, g) < 0)
			r = -ENOMEM;
	}
	gf_seen_free(&seen);
	size_t count = guests ? json_array_size(guests) : 0;
	size_t start = out->len;
	if (r == 0 && count > 0) {
		struct gf_gzip_stream gz;
		struct sink s = { out, gzip_level ? &gz : NULL, 0 };
		json_object_set(root, "guests", guests);
		if (gzip_level && gf_gzip_begin(&gz, gzip_level, out) < 0)
			r = gz.err;
		else if (json_dump_callback(root, sink_write, &s, JSON_COMPACT) < 0)
			r = s.err < 0 ? s.err : -ENOMEM;
		else if (gzip_level)
			r = gf_gzip_end(&gz);
	}
	json_decref(guests);
	json_decref(root);
	return gf_render_end(r, out, start, reasons, n, count, n_rendered);
}

static int render(const struct gf_output_target *t, const struct gf_record *recs, size_t n,
                  const char *default_language, unsigned omit, int gzip_level, struct gf_buf *out,
                  char **reasons, size_t *n_rendered)
{
	return gf_render_guest_json(t->batch_key, recs, n, default_language, omit, gzip_level, out, reasons,
	                            n_rendered);
}

/* What the contract requires of a property id: it goes into the URL as a
 * path segment, percent-encoded, so any text does but "." and ".."; not
 * empty. */
static int check_id(const char *id, char *why, size_t whylen)
{
	if (gf_output_check_id_text(id, why, whylen) < 0)
		return -GF_E_RENDER;
	/* a path segment a URL resolves away: the request would go elsewhere */
	if (strcmp(id, ".") == 0 || strcmp(id, "..") == 0) {
		gf_set_why(why, whylen, "'.' and '..' are not a path segment of their own in a URL");
		return -GF_E_RENDER;
	}
	return 0;
}

/* <endpoint>/properties/<property id>/guests; the token goes in a header. */
static char *url(const char *endpoint, const struct gf_output_target *t, bool with_secret)
{
	(void)with_secret;
	return gf_http_url_under(endpoint, "properties/", t->partner_id, "/guests");
}

static char *auth_header(const struct gf_output_target *t)
{
	return gf_xasprintf("Authorization: Bearer %s", t->secret ? t->secret : "");
}

/* ---- the reply ------------------------------------------------------------ */

/* A piece of the reply quoted in why or kept: safe text, the secret redacted. */
static void quote(char *buf, size_t size, const char *s, const char *secret)
{
	gf_text_safe_to(buf, size, s ? s : "", s ? strlen(s) : 0, secret);
}

#define COUNT_MAX INT32_MAX

/* The "rejected" list of a reply into res->items: each entry an object
 * with a pmsId (text without NUL) and an optional text reason; no pmsId
 * twice. */
static int rejected_list(json_t *rej, const char *secret, struct gf_reply *res, char *why, size_t whylen)
{
	char piece[200];
	size_t i;
	json_t *item;
	res->items = gf_xcalloc(json_array_size(rej) ? json_array_size(rej) : 1, sizeof(*res->items));
	json_array_foreach(rej, i, item) {
		json_t *id = json_object_get(item, "pmsId"), *reason = json_object_get(item, "reason");
		if (!json_is_string(id) || (reason && !json_is_string(reason) && !json_is_null(reason))) {
			gf_set_why(why, whylen, "\"rejected\" entry %zu has no pmsId, or a reason that is not text", i + 1);
			return -GF_E_REPLY;
		}
		const char *no = json_string_value(id);
		if (strlen(no) != json_string_length(id)) {
			gf_set_why(why, whylen, "\"rejected\" entry %zu: pmsId holds a NUL character", i + 1);
			return -GF_E_REPLY;
		}
		for (size_t k = 0; k < res->n_items; k++)
			if (strcmp(res->items[k].booking_no, no) == 0) {
				quote(piece, sizeof(piece), no, secret);
				gf_set_why(why, whylen, "\"rejected\" lists pmsId %s twice", piece);
				return -GF_E_REPLY;
			}
		res->items[res->n_items].booking_no = gf_xstrdup(no);
		const char *said = json_is_string(reason) ? json_string_value(reason) : "";
		res->items[res->n_items].reason = gf_text_safe_dup(said, secret, GF_TEXT_MAX);
		res->n_items++;
	}
	return 0;
}

/* A reply body as a JSON object, or NULL with why. */
static json_t *load(const char *data, size_t len, char *why, size_t whylen)
{
	json_error_t e;
	json_t *root = json_loadb(data ? data : "", len, JSON_REJECT_DUPLICATES, &e);
	if (!root) {
		/* (not jansson's text: it quotes a piece of the body, which
		 * may be a piece of the token that no redaction finds) */
		gf_set_why(why, whylen, "not JSON (line %d, column %d)", e.line, e.column);
	} else if (!json_is_object(root)) {
		gf_set_why(why, whylen, "the reply is not a JSON object");
		json_decref(root);
		root = NULL;
	}
	return root;
}

/* A reply's body: an accepted one ({"accepted": N, "rejected": [...]},
 * rejected optional) or, refusal, a 400 that names the records it refuses
 * ({"rejected": [...]}, at least one). */
static int parse(const char *data, size_t len, const char *secret, bool refusal, struct gf_reply *out, char *why,
                 size_t whylen)
{
	*out = (struct gf_reply){ 0 };
	json_t *root = load(data, len, why, whylen);
	if (!root)
		return -GF_E_REPLY;
	struct gf_reply res = { 0 };
	int r = -GF_E_REPLY;
	json_t *acc = json_object_get(root, "accepted"), *rej = json_object_get(root, "rejected");
	if (!refusal && (!json_is_integer(acc) || json_integer_value(acc) < 0 || json_integer_value(acc) > COUNT_MAX)) {
		gf_set_why(why, whylen, "\"accepted\" is missing or not a count");
	} else if (refusal && (!json_is_array(rej) || json_array_size(rej) == 0)) {
		gf_set_why(why, whylen, "names no record (no \"rejected\" list)");
	} else if (rej && !json_is_array(rej)) {
		gf_set_why(why, whylen, "\"rejected\" is not a list");
	} else if (rej && json_array_size(rej) > GF_GUEST_JSON_MAX_GUESTS) {
		gf_set_why(why, whylen, "\"rejected\" lists more guests than a request holds (%d)",
		           GF_GUEST_JSON_MAX_GUESTS);
	} else {
		res.accepted = refusal ? 0 : json_integer_value(acc);
		res.rejected = rej ? (int64_t)json_array_size(rej) : 0;
		r = rejected_list(rej, secret, &res, why, whylen);
	}
	json_decref(root);
	if (r < 0) {
		gf_reply_clear(&res);
		return r;
	}
	*out = res;
	return 0;
}

int gf_reply_parse_guest_json(const char *data, size_t len, const char *secret, struct gf_reply *out, char *why,
                              size_t whylen)
{
	return parse(data, len, secret, false, out, why, whylen);
}

int gf_refusal_parse_guest_json(const char *data, size_t len, const char *secret, struct gf_reply *out, char *why,
                                size_t whylen)
{
	return parse(data, len, secret, true, out, why, whylen);
}

/* The test call's reply, {"id": "P-1", "name": "..."}: 0 when it is that
 * object and names property_id, or -GF_E_REPLY with why. */
int gf_property_parse_guest_json(const char *data, size_t len, const char *secret, const char *property_id,
                                 char *why, size_t whylen)
{
	json_t *root = load(data, len, why, whylen);
	if (!root)
		return -GF_E_REPLY;
	json_t *id = json_object_get(root, "id"), *name = json_object_get(root, "name");
	int r = -GF_E_REPLY;
	char piece[120];
	if (!json_is_string(id) || strlen(json_string_value(id)) != json_string_length(id)) {
		gf_set_why(why, whylen, "\"id\" is missing or not text");
	} else if (name && !json_is_string(name)) {
		gf_set_why(why, whylen, "\"name\" is not text");
	} else if (strcmp(json_string_value(id), property_id) != 0) {
		quote(piece, sizeof(piece), json_string_value(id), secret);
		gf_set_why(why, whylen, "the reply names property %s, not the connection's", piece);
	} else {
		r = 0;
	}
	json_decref(root);
	return r;
}

/* A text member of an event object into *out (malloc'd), or -GF_E_REPLY. */
static int event_text(json_t *e, const char *key, size_t k, char **out, char *why, size_t whylen)
{
	json_t *v = json_object_get(e, key);
	if (!json_is_string(v) || json_string_length(v) == 0 || strlen(json_string_value(v)) != json_string_length(v)) {
		gf_set_why(why, whylen, "event %zu: \"%s\" is missing, empty or not text", k, key);
		return -GF_E_REPLY;
	}
	*out = gf_xstrdup(json_string_value(v));
	return 0;
}

int gf_events_parse_guest_json(const char *data, size_t len, const char *secret, struct gf_events *out, char *why,
                               size_t whylen)
{
	*out = (struct gf_events){ 0 };
	json_t *root = load(data, len, why, whylen);
	if (!root)
		return -GF_E_REPLY;
	json_t *list = json_object_get(root, "events"), *next = json_object_get(root, "next");
	struct gf_events ev = { 0 };
	int r = 0;
	if (!json_is_array(list)) {
		gf_set_why(why, whylen, "\"events\" is missing or not a list");
		r = -GF_E_REPLY;
	} else if (next && !json_is_null(next) &&
	           (!json_is_string(next) || strlen(json_string_value(next)) != json_string_length(next))) {
		gf_set_why(why, whylen, "\"next\" is not text");
		r = -GF_E_REPLY;
	} else if (json_array_size(list) > 0 && (!json_is_string(next) || json_string_length(next) == 0)) {
		gf_set_why(why, whylen, "the reply lists events but gives no next cursor");
		r = -GF_E_REPLY;
	}
	if (r == 0 && json_is_string(next) && json_string_length(next) > 0)
		ev.next = gf_xstrdup(json_string_value(next));
	size_t i;
	json_t *item;
	if (r == 0)
		ev.items = gf_xcalloc(json_array_size(list) ? json_array_size(list) : 1, sizeof(*ev.items));
	if (r == 0)
		json_array_foreach(list, i, item) {
			struct gf_partner_event *e = &ev.items[ev.n++];
			char *type = NULL;
			char piece[64];
			if (!json_is_object(item)) {
				gf_set_why(why, whylen, "event %zu is not an object", i + 1);
				r = -GF_E_REPLY;
			} else if ((r = event_text(item, "pmsId", i + 1, &e->booking_no, why, whylen)) < 0 ||
			           (r = event_text(item, "type", i + 1, &type, why, whylen)) < 0 ||
			           (r = event_text(item, "at", i + 1, &e->at, why, whylen)) < 0) {
				/* (why set) */
			} else if (gf_event_type_parse(type) < 0) {
				quote(piece, sizeof(piece), type, secret);
				gf_set_why(why, whylen, "event %zu has type %s (invited, bounced, reviewed, unsubscribed)", i + 1,
				           piece);
				r = -GF_E_REPLY;
			} else if (!gf_event_time_valid(e->at)) {
				quote(piece, sizeof(piece), e->at, secret);
				gf_set_why(why, whylen, "event %zu has at %s, not an RFC 3339 date-time", i + 1, piece);
				r = -GF_E_REPLY;
			} else {
				e->type = (enum gf_event_type)gf_event_type_parse(type);
			}
			free(type);
			if (r < 0)
				break;
		}
	json_decref(root);
	if (r < 0) {
		gf_events_clear(&ev);
		return r;
	}
	*out = ev;
	return 0;
}

/* ---- the test call -------------------------------------------------------- */

/* GET <endpoint>/properties/<property id> with the token (PARTNERS.md). */
static int test(struct gf_http *h, struct gf_http_req *req, const struct gf_job *job,
                const struct gf_output_target *t)
{
	return gf_output_get(h, req, job, gf_http_url_under(job->endpoint, "properties/", t->partner_id, ""), t);
}

static int read_property(const char *data, size_t len, const struct gf_output_target *t, void *out, char *what,
                         size_t whatlen)
{
	(void)out;
	return gf_property_parse_guest_json(data, len, t->secret, t->partner_id, what, whatlen);
}

static int test_verdict(const struct gf_http_req *req, const struct gf_output_target *t, char *why, size_t whylen)
{
	int v = gf_output_http_read(req, t, read_property, NULL, why, whylen);
	if (v == GF_TEST_OK)
		gf_set_why(why, whylen, "the partner knows the property id and took the API token");
	return v;
}

/* ---- the event pull -------------------------------------------------------- */

/* GET <endpoint>/properties/<property id>/events?after=<cursor>&limit=1000
 * with the token (after= left out the first time). */
static int pull(struct gf_http *h, struct gf_http_req *req, const struct gf_job *job,
                const struct gf_output_target *t, const char *cursor)
{
	char *u;
	if (cursor) {
		char *c = curl_easy_escape(NULL, cursor, 0);
		if (!c)
			gf_oom();
		_cleanup_free_ char *after = gf_xasprintf("/events?after=%s&limit=%d", c, GF_GUEST_JSON_MAX_GUESTS);
		curl_free(c);
		u = gf_http_url_under(job->endpoint, "properties/", t->partner_id, after);
	} else {
		_cleanup_free_ char *first = gf_xasprintf("/events?limit=%d", GF_GUEST_JSON_MAX_GUESTS);
		u = gf_http_url_under(job->endpoint, "properties/", t->partner_id, first);
	}
	return gf_output_get(h, req, job, u, t);
}

static int read_events(const char *data, size_t len, const struct gf_output_target *t, void *out, char *what,
                       size_t whatlen)
{
	return gf_events_parse_guest_json(data, len, t->secret, out, what, whatlen);
}

static int parse_events(const struct gf_http_req *req, const struct gf_output_target *t, struct gf_events *out,
                        char *why, size_t whylen)
{
	*out = (struct gf_events){ 0 };
	return gf_output_http_read(req, t, read_events, out, why, whylen);
}

/* ---- the failure table ---------------------------------------------------- */

/* PARTNERS.md: 401/403 credentials refused; 404 unknown property (the
 * same); 409 (a request with this key still being processed), 429, 5xx
 * retried; 413 halved; 400 bisected; any other status retried as an
 * unreadable reply. */
static void classify(long st, struct gf_answer *out)
{
	*out = (struct gf_answer){ .reached = st > 0 && st < 500 };
	if (st >= 200 && st < 300)
		out->kind = GF_ANSWER_OK;
	else if (st == 400)
		out->kind = GF_ANSWER_REFUSED;
	else if (st == 413)
		out->kind = GF_ANSWER_TOO_LARGE;
	else if (st == 401 || st == 403 || st == 404)
		out->kind = GF_ANSWER_CREDENTIALS;
	else if (st == 409 || st == 429 || st >= 500)
		out->kind = GF_ANSWER_LATER;
	else
		out->kind = GF_ANSWER_UNEXPECTED;
	/* 409: the partner holds a request under this key, in progress; a 5xx
	 * (503 included: the contract gives it no meaning of its own) may come
	 * after the work was done. Any other status is retried as an
	 * unreadable reply (PARTNERS.md); one that is no refusal (a 303 after
	 * the import, a 1xx without a final answer) may have been taken as well:
	 * never split under new keys. Another 4xx refused the request. */
	out->maybe_taken = st == 409 || st >= 500 || (out->kind == GF_ANSWER_UNEXPECTED && st < 400);
}

/* The body for a terminal: jansson escapes every control character, so
 * only what could reorder the display (bidi controls, line separators,
 * sent as they are in JSON strings) is shown, as \u escapes. */
static void show(const char *s, size_t n, FILE *out)
{
	gf_text_show(s, n, GF_ESCAPE_JSON, out);
}

const struct gf_output gf_output_guest_json = {
	.name = "guest-json",
	.method = "POST",
	.scheme = "https",
	.compressible = true,
	.send = gf_output_post,
	.id_label = "property id",
	.id_option = "--property-id",
	.secret_label = "API token",
	.content_type = "application/json",
	.max_records = GF_GUEST_JSON_MAX_GUESTS,
	.omittable = GF_OMIT_FIRST_NAME | GF_OMIT_GENDER | GF_OMIT_LANGUAGE | GF_OMIT_STATUS | GF_OMIT_ARRIVAL,
	.check_id = check_id,
	/* (the token goes into the Authorization header as it is: the rule
	 * every output's starts with is what a header carries; RFC 6750's
	 * b64token is not required, as partners issue tokens outside it) */
	.check_secret = gf_output_check_secret_text,
	.render = render,
	.url = url,
	.auth_header = auth_header,
	.parse_reply = gf_reply_parse_guest_json,
	.parse_refusal = gf_refusal_parse_guest_json,
	.classify = classify,
	.test = test,
	.test_verdict = test_verdict,
	.pull = pull,
	.parse_events = parse_events,
	.show = show,
};
