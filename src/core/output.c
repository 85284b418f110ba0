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
	return GF_TEST_UNEXPECTED;
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

const char *gf_output_id_heading(const struct gf_output *o, char *buf, size_t size)
{
	size_t i = 0;
	for (const char *p = o->id_label; *p && i + 1 < size; p++)
		buf[i++] = (char)toupper((unsigned char)*p);
	buf[i] = '\0';
	return buf;
}
