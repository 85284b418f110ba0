/* What every output shares: the end of a render, the per-record results of a reply. */
#include "core/output.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/text.h"
#include "base/util.h"
#include "core/config.h"
#include "core/normalize.h"
#include "transport/http.h"

void gf_reply_clear(struct gf_reply *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_items; i++) {
		free(r->items[i].booking_no);
		free(r->items[i].reason);
	}
	free(r->items);
	r->items = NULL;
	r->n_items = 0;
	r->accepted = r->rejected = 0;
}

int gf_render_end(int r, struct gf_buf *out, size_t start, char **reasons, size_t n, size_t count,
                  size_t *n_rendered)
{
	if (r < 0) {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
		for (size_t i = 0; reasons && i < n; i++)
			reasons[i] = gf_free(reasons[i]);
		return r;
	}
	if (n_rendered)
		*n_rendered = count;
	return 0;
}

int gf_output_gzip_level(const struct gf_job *job)
{
	return job->compress == GF_COMPRESS_GZIP && job->output->compressible ? job->gzip_level : 0;
}

int gf_output_post(struct gf_http *h, struct gf_http_req *req, const struct gf_job *job,
                   const struct gf_output_target *t)
{
	const struct gf_output *o = job->output;
	char *url = o->url(job->endpoint, t, true);
	char *auth = o->auth_header ? o->auth_header(t) : NULL;
	int r = gf_http_start(h, req, url, t->secret, t->batch_key, o->content_type, auth,
	                      gf_output_gzip_level(job) > 0);
	if (auth) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	return r;
}

int gf_output_get(struct gf_http *h, struct gf_http_req *req, const struct gf_job *job, char *url,
                  const struct gf_output_target *t)
{
	const struct gf_output *o = job->output;
	char *auth = o->auth_header ? o->auth_header(t) : NULL;
	int r = gf_http_get(h, req, url, t->secret, auth);
	if (auth) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	return r;
}

void gf_events_clear(struct gf_events *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->n; i++) {
		free(e->items[i].booking_no);
		free(e->items[i].at);
		free(e->items[i].reason);
		free(e->items[i].batch_key);
	}
	free(e->items);
	for (size_t i = 0; i < e->n_done; i++)
		free(e->done[i]);
	free(e->done);
	free(e->next);
	*e = (struct gf_events){ 0 };
}

static const char *const event_names[] = {
	[GF_EVENT_INVITED] = "invited",
	[GF_EVENT_BOUNCED] = "bounced",
	[GF_EVENT_REVIEWED] = "reviewed",
	[GF_EVENT_UNSUBSCRIBED] = "unsubscribed",
	[GF_EVENT_REJECTED] = "rejected",
};

const char *gf_event_type_name(enum gf_event_type t)
{
	return (size_t)t < sizeof(event_names) / sizeof(event_names[0]) ? event_names[t] : "?";
}

int gf_event_type_parse(const char *s)
{
	for (int t = GF_EVENT_INVITED; t <= GF_EVENT_UNSUBSCRIBED; t++)
		if (s && strcmp(s, event_names[t]) == 0)
			return t;
	return -1;
}

static bool digits(const char *s, int n)
{
	for (int i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* A number of n digits at s, already checked. */
static int num(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

bool gf_event_time_valid(const char *s)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (!s || strlen(s) < 20 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
	    !digits(s + 8, 2) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2) || s[13] != ':' ||
	    !digits(s + 14, 2) || s[16] != ':' || !digits(s + 17, 2))
		return false;
	int y = num(s, 4), mo = num(s + 5, 2), d = num(s + 8, 2);
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
	    num(s + 11, 2) > 23 || num(s + 14, 2) > 59 || num(s + 17, 2) > 60)
		return false;
	const char *p = s + 19;
	if (*p == '.') {
		/* (at most nanoseconds: the database keeps microseconds) */
		int n = 0;
		for (p++; *p >= '0' && *p <= '9'; p++)
			n++;
		if (n < 1 || n > 9)
			return false;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
		return true;
	/* (offsets as the database takes them: up to 15:59) */
	return (*p == '+' || *p == '-') && digits(p + 1, 2) && p[3] == ':' && digits(p + 4, 2) && p[6] == '\0' &&
	       num(p + 1, 2) <= 15 && num(p + 4, 2) <= 59;
}

int gf_output_http_verdict(const struct gf_http_req *req, char *why, size_t whylen)
{
	if (req->result != CURLE_OK)
		return -1;
	long st = req->status;
	if (st >= 200 && st < 300)
		return GF_TEST_OK;
	char excerpt[160];
	gf_text_safe_to(excerpt, sizeof(excerpt), req->resp.data ? req->resp.data : "", req->resp.len, req->secret);
	gf_set_why(why, whylen, "HTTP %ld%s%s", st, excerpt[0] ? ": " : "", excerpt);
	if (st == 401 || st == 403)
		return GF_TEST_CREDENTIALS;
	if (st == 404)
		return GF_TEST_UNKNOWN_ID;
	/* there, but not serving: as unavailable as no answer at all */
	if (st == 429 || st >= 500)
		return GF_TEST_UNREACHABLE;
	return GF_TEST_UNEXPECTED;
}

int gf_output_http_read(const struct gf_http_req *req, const struct gf_output_target *t, gf_output_body_reader read,
                        void *out, char *why, size_t whylen)
{
	int v = gf_output_http_verdict(req, why, whylen);
	if (v != GF_TEST_OK)
		return v;
	char what[400];
	if (read(req->resp.data, req->resp.len, t, out, what, sizeof(what)) < 0) {
		gf_set_why(why, whylen, "HTTP %ld, but %s", req->status, what);
		return GF_TEST_UNEXPECTED;
	}
	return GF_TEST_OK;
}

int gf_output_check_id_text(const char *id, char *why, size_t whylen)
{
	char what[128];
	if (!id || !*id) {
		gf_set_why(why, whylen, "missing");
		return -GF_E_RENDER;
	}
	if (gf_text_check(id, SIZE_MAX, what, sizeof(what)) < 0) {
		gf_set_why(why, whylen, "%s", what);
		return -GF_E_RENDER;
	}
	return 0;
}

int gf_output_check_secret_text(const char *secret, size_t len, char *why, size_t whylen)
{
	static const char rule[] = "8 to 8192 printable ASCII characters (0x21-0x7E: no spaces, no control or"
	                           " non-ASCII characters)";
	if (len < 8 || len > 8192) {
		gf_set_why(why, whylen, "this one has %zu characters; it is %s", len, rule);
		return -GF_E_RENDER;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)secret[i];
		if (c < 0x21 || c > 0x7e) {
			gf_set_why(why, whylen, "character %zu is %s; it is %s", i + 1,
			           c == ' ' ? "a space" : c < 0x20 || c == 0x7f ? "a control character" : "not ASCII", rule);
			return -GF_E_RENDER;
		}
	}
	return 0;
}

const char *gf_output_id_heading(const struct gf_output *o, char *buf, size_t size)
{
	size_t i = 0;
	for (const char *p = o->id_label; *p && i + 1 < size; p++)
		buf[i++] = (char)toupper((unsigned char)*p);
	buf[i] = '\0';
	return buf;
}
