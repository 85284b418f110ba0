/* The review-xml output's table: its renderer, its reply parser, its URL
 * (the hotel id and access key in the query string) and its failure table. */
#include "outputs/review_xml/output.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "base/text.h"
#include "core/config.h"
#include "transport/http.h"
#include "base/util.h"
#include "outputs/review_xml/render_xml.h"
#include "outputs/review_xml/reply.h"

/* The XSD requires every field but firstName: that one alone may be left
 * out (fields.omit), by rendering the records without it. */
static int render(const struct gf_output_target *t, const struct gf_record *recs, size_t n,
                  const char *default_language, unsigned omit, int gzip_level, struct gf_buf *out, char **reasons,
                  size_t *n_rendered)
{
	struct gf_record *copy = NULL;
	if ((omit & GF_OMIT_FIRST_NAME) && n > 0) {
		copy = gf_xcalloc(n, sizeof(*copy));
		for (size_t i = 0; i < n; i++) {
			copy[i] = recs[i];
			copy[i].first_name = NULL;
		}
		recs = copy;
	}
	int r = gzip_level > 0
	        ? gf_render_review_xml_gzip(t->partner_id, t->batch_key, recs, n, default_language, gzip_level, out,
	                                    reasons, n_rendered)
	        : gf_render_review_xml(t->partner_id, t->batch_key, recs, n, default_language, out, reasons,
	                               n_rendered);
	free(copy);
	return r;
}

static char *escape(const char *s)
{
	char *e = curl_easy_escape(NULL, s ? s : "", 0);
	if (!e)
		gf_oom();
	char *r = gf_xstrdup(e);
	curl_free(e);
	return r;
}

/* endpoint?id=HOTEL&access_key=KEY, both percent-encoded (DESIGN.md §4). */
static char *url(const char *endpoint, const struct gf_output_target *t, bool with_secret)
{
	_cleanup_free_ char *id = escape(t->partner_id);
	if (!with_secret)
		return gf_xasprintf("%s?id=%s", endpoint, id);
	char *key = escape(t->secret);
	char *u = gf_xasprintf("%s?id=%s&access_key=%s", endpoint, id, key);
	explicit_bzero(key, strlen(key));
	free(key);
	return u;
}

/* The test call, PARTNERS.md "review-xml v1 additions": GET
 * <endpoint>/ping with the id and key as for a batch. */
static int test(struct gf_http *h, struct gf_http_req *req, const struct gf_job *job,
                const struct gf_output_target *t)
{
	size_t n = strlen(job->endpoint);
	_cleanup_free_ char *ping = gf_xasprintf("%s%sping", job->endpoint,
	                                         n && job->endpoint[n - 1] == '/' ? "" : "/");
	return gf_output_get(h, req, job, url(ping, t, true), t);
}

static int read_pong(const char *data, size_t len, const struct gf_output_target *t, void *out, char *what,
                     size_t whatlen)
{
	(void)out;
	return gf_reply_parse_review_xml_pong(data, len, t->secret, t->partner_id, what, whatlen);
}

static int test_verdict(const struct gf_http_req *req, const struct gf_output_target *t, char *why, size_t whylen)
{
	int v = gf_output_http_read(req, t, read_pong, NULL, why, whylen);
	if (v == GF_TEST_OK)
		gf_set_why(why, whylen, "the partner knows the hotel id and took the access key");
	return v;
}

/* The event pull: GET <endpoint>/events with the id and key, and the
 * cursor as after= (none the first time). */
static int pull(struct gf_http *h, struct gf_http_req *req, const struct gf_job *job,
                const struct gf_output_target *t, const char *cursor)
{
	size_t n = strlen(job->endpoint);
	_cleanup_free_ char *base = gf_xasprintf("%s%sevents", job->endpoint,
	                                         n && job->endpoint[n - 1] == '/' ? "" : "/");
	char *u = url(base, t, true);
	if (cursor) {
		_cleanup_free_ char *c = escape(cursor);
		char *with = gf_xasprintf("%s&after=%s", u, c);
		explicit_bzero(u, strlen(u));
		free(u);
		u = with;
	}
	return gf_output_get(h, req, job, u, t);
}

static int read_events(const char *data, size_t len, const struct gf_output_target *t, void *out, char *what,
                       size_t whatlen)
{
	return gf_reply_parse_review_xml_events(data, len, t->secret, out, what, whatlen);
}

static int parse_events(const struct gf_http_req *req, const struct gf_output_target *t, struct gf_events *out,
                        char *why, size_t whylen)
{
	*out = (struct gf_events){ 0 };
	return gf_output_http_read(req, t, read_events, out, why, whylen);
}

/* DESIGN.md §4's status table. */
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
	else if (st == 408 || st == 409 || st == 425 || st == 429 || st >= 500)
		out->kind = GF_ANSWER_LATER;
	else
		out->kind = GF_ANSWER_UNEXPECTED;
	/* A gateway's 502/504, a 500 after the work was done, a 409 for a key
	 * in progress: it may have been taken. 503 is the partner's
	 * "maintenance", a 4xx a refusal. A status outside the table that is
	 * no refusal (a 303 after the import, a 1xx without a final answer)
	 * says nothing of what became of the request: it may have been taken,
	 * and the batch is never split under new keys. */
	out->maybe_taken = st == 409 || (st >= 500 && st != 503) || (out->kind == GF_ANSWER_UNEXPECTED && st < 400);
}

/* The document for a terminal: every character that could drive the
 * terminal or reorder what it shows (a control character other than
 * newline and tab, a C1 or bidi control, a line separator: legal in XML,
 * and sent to the partner as they are) written as an XML character
 * reference, e.g. &#x202E;. Readable, and still the document a run sends
 * (README, "Dry run"). */
static void show(const char *s, size_t n, FILE *out)
{
	gf_text_show(s, n, GF_ESCAPE_XML, out);
}

const struct gf_output gf_output_review_xml = {
	.name = "review-xml",
	.method = "POST",
	.scheme = "https",
	.compressible = true,
	.send = gf_output_post,
	.id_label = "hotel id",
	.id_option = "--hotel-id",
	.secret_label = "access key",
	.content_type = "application/xml; charset=utf-8",
	.omittable = GF_OMIT_FIRST_NAME,
	.check_id = gf_review_xml_check_id,
	/* (the access key is percent-encoded into the URL: any of them travels) */
	.check_secret = gf_output_check_secret_text,
	.render = render,
	.url = url,
	.parse_reply = gf_reply_parse_review_xml,
	.classify = classify,
	.test = test,
	.test_verdict = test_verdict,
	.pull = pull,
	.parse_events = parse_events,
	.show = show,
};
