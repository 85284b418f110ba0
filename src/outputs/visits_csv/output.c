/* The visits-csv output's table (PARTNERS.md "visits-csv v1 over SFTP"):
 * the file, its name, the SFTP upload (transport/sftp.c) and its failure
 * table. */
#include "outputs/visits_csv/output.h"

#include <errno.h>
#include <string.h>

#include <curl/curl.h>

#include "base/text.h"
#include "base/util.h"
#include "core/normalize.h"
#include "transport/sftp.h"

/* One field: as it is, or enclosed in '"' with '"' doubled when it holds
 * ';', '"', CR or LF. */
static int field(struct gf_buf *out, const char *p, size_t len, bool last)
{
	bool quote = false;
	for (size_t i = 0; i < len && !quote; i++)
		quote = p[i] == ';' || p[i] == '"' || p[i] == '\r' || p[i] == '\n';
	int r = 0;
	if (!quote) {
		r = len ? gf_buf_append(out, p, len) : 0;
	} else {
		r = gf_buf_append(out, "\"", 1);
		size_t from = 0;
		for (size_t i = 0; r == 0 && i < len; i++)
			if (p[i] == '"') {
				/* up to and with this '"', then the second one */
				r = gf_buf_append(out, p + from, i + 1 - from);
				if (r == 0)
					r = gf_buf_append(out, "\"", 1);
				from = i + 1;
			}
		if (r == 0 && len > from)
			r = gf_buf_append(out, p + from, len - from);
		if (r == 0)
			r = gf_buf_append(out, "\"", 1);
	}
	if (r == 0)
		r = last ? gf_buf_append(out, "\r\n", 2) : gf_buf_append(out, ";", 1);
	return r;
}

static int span(struct gf_buf *out, const struct gf_span *sp)
{
	return field(out, sp->p ? sp->p : "", sp->p ? sp->len : 0, false);
}

static int text(struct gf_buf *out, const char *s, bool last)
{
	return field(out, s ? s : "", s ? strlen(s) : 0, last);
}

int gf_render_visits_csv(const char *hotel_id, const struct gf_record *recs, size_t n,
                         const char *default_language, unsigned omit, struct gf_buf *out, char **reasons,
                         size_t *n_rendered)
{
	if (!out || (n > 0 && !recs) || !hotel_id || !*hotel_id ||
	    (default_language && !gf_is_language_code(default_language)))
		return -EINVAL;
	for (size_t i = 0; reasons && i < n; i++)
		reasons[i] = NULL;
	/* (the partner's error files name guests by booking number) */
	struct gf_seen seen;
	gf_seen_init(&seen, n);
	size_t start = out->len, count = 0;
	int r = 0;
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct gf_record_checked c;
		if (!gf_record_take(recs, i, omit, default_language, &seen, &c, reasons ? &reasons[i] : NULL))
			continue;
		const char *lang = c.has_language ? c.language : default_language;
		/* (no gender when it is left out; "unknown" is an unknown field: empty) */
		const char *gender = !c.gender || strcmp(c.gender, "unknown") == 0 ? "" : c.gender;
		r = text(out, hotel_id, false);
		if (r == 0)
			r = span(out, &c.f[GF_RECORD_BOOKING_NO]);
		if (r == 0)
			r = span(out, &c.f[GF_RECORD_LAST_NAME]);
		if (r == 0)
			r = span(out, &c.f[GF_RECORD_FIRST_NAME]); /* (empty when unknown or omitted) */
		if (r == 0)
			r = span(out, &c.f[GF_RECORD_EMAIL]);
		if (r == 0)
			r = text(out, omit & GF_OMIT_GENDER ? "" : gender, false);
		if (r == 0)
			r = text(out, omit & GF_OMIT_LANGUAGE || !lang ? "" : lang, false);
		if (r == 0)
			r = span(out, &c.f[GF_RECORD_STATUS]);
		if (r == 0)
			r = span(out, &c.f[GF_RECORD_ARRIVAL]);
		if (r == 0) {
			const struct gf_span *d = &c.f[GF_RECORD_DEPARTURE];
			r = field(out, d->p ? d->p : "", d->p ? d->len : 0, true);
		}
		count++;
	}
	gf_seen_free(&seen);
	return gf_render_end(r, out, start, reasons, n, count, n_rendered);
}

static int render(const struct gf_output_target *t, const struct gf_record *recs, size_t n,
                  const char *default_language, unsigned omit, int gzip_level, struct gf_buf *out,
                  char **reasons, size_t *n_rendered)
{
	(void)gzip_level; /* (files go as they are: not compressible) */
	return gf_render_visits_csv(t->partner_id, recs, n, default_language, omit, out, reasons, n_rendered);
}

char *gf_visits_csv_name(const struct gf_output_target *t)
{
	return gf_xasprintf("%s_%s_%s.csv", t->batch_day ? t->batch_day : "", t->partner_id, t->batch_key);
}

/* A hotel id is part of a file name: text without '/' (a path separator
 * in SFTP), not empty. */
static int check_id(const char *id, char *why, size_t whylen)
{
	if (gf_output_check_id_text(id, why, whylen) < 0)
		return -GF_E_RENDER;
	if (strchr(id, '/')) {
		gf_set_why(why, whylen, "'/' cannot be part of a file name (the hotel id names the batch's file)");
		return -GF_E_RENDER;
	}
	return 0;
}

/* The file's URL; there is no secret in it. */
static char *url(const char *endpoint, const struct gf_output_target *t, bool with_secret)
{
	(void)with_secret;
	_cleanup_free_ char *name = gf_visits_csv_name(t);
	return gf_sftp_url(endpoint, name);
}

static int put(struct gf_http *h, struct gf_http_req *req, const struct gf_job *job,
                const struct gf_output_target *t)
{
	(void)job;
	_cleanup_free_ char *name = gf_visits_csv_name(t);
	return gf_sftp_put(h, req, name, t->maybe_sent);
}

/* A transfer that ends (the rename done, or the same file found there)
 * is the batch delivered; per-record results come later, as error files
 * (the event pull). */
static void classify(long status, struct gf_answer *out)
{
	(void)status;
	*out = (struct gf_answer){ .kind = GF_ANSWER_OK, .reached = true };
}

/* PARTNERS.md: login refused, host key unknown or changed: the job's
 * account, every connection held, an alert. Connection refused, timeouts,
 * resets, a write refused, a full disk, another file under the batch's
 * name: the engine's default (retried with backoff, then dead with the
 * server's message). */
static bool classify_failure(int code, struct gf_answer *out)
{
	/* The server answered (logged in, then refused a write, a rename, or
	 * had another file): the partner is there, whatever became of the
	 * batch. */
	static const int answered[] = {
		CURLE_REMOTE_FILE_EXISTS, CURLE_QUOTE_ERROR, CURLE_UPLOAD_FAILED, CURLE_REMOTE_DISK_FULL,
		CURLE_REMOTE_ACCESS_DENIED, CURLE_REMOTE_FILE_NOT_FOUND,
	};
	*out = (struct gf_answer){ 0 };
	for (size_t i = 0; i < sizeof(answered) / sizeof(answered[0]); i++)
		out->reached |= code == answered[i];
	if (code != CURLE_LOGIN_DENIED && code != CURLE_PEER_FAILED_VERIFICATION)
		return false;
	*out = (struct gf_answer){ .kind = GF_ANSWER_ACCOUNT, .reached = true };
	return true;
}

/* The test call (PARTNERS.md): log in, list the directory, write and
 * remove a probe file; it tests the job's account, the same for every
 * connection of the job (a hotel id is never sent on its own). */
static int test(struct gf_http *h, struct gf_http_req *req, const struct gf_job *job,
                const struct gf_output_target *t)
{
	(void)job;
	(void)t;
	return gf_sftp_probe(h, req);
}

static int test_verdict(const struct gf_http_req *req, const struct gf_output_target *t, char *why, size_t whylen)
{
	(void)t;
	char err[400];
	switch (req->result) {
	case CURLE_OK:
		gf_set_why(why, whylen, "logged in, listed the directory, wrote and removed a probe file");
		return GF_TEST_OK;
	case CURLE_LOGIN_DENIED:
		gf_set_why(why, whylen, "the SFTP server refused the job's login (sftp.user and its key or password)");
		return GF_TEST_CREDENTIALS;
	case CURLE_REMOTE_FILE_NOT_FOUND:
		gf_set_why(why, whylen, "logged in, but the endpoint's directory is not there");
		return GF_TEST_UNEXPECTED;
	case CURLE_REMOTE_ACCESS_DENIED:
	case CURLE_UPLOAD_FAILED:
	case CURLE_REMOTE_DISK_FULL:
	case CURLE_QUOTE_ERROR:
		gf_http_error_text(req, err, sizeof(err));
		gf_set_why(why, whylen, "logged in, but %s the probe file: %s",
		           req->result == CURLE_QUOTE_ERROR ? "could not remove" : "could not write", err);
		return GF_TEST_UNEXPECTED;
	case CURLE_FAILED_INIT:
		if (req->answered)
			break;
		/* libcurl's code for an SSH session that could not be set up:
		 * the server closed or reset the connection before its banner */
		gf_http_error_text(req, err, sizeof(err));
		gf_set_why(why, whylen, "no SSH session: %s", err);
		return GF_TEST_UNREACHABLE;
	default:
		if (!req->answered)
			return -1;
		break;
	}
	/* logged in and listed, then the probe failed (a timeout, the
	 * session lost): the server is there, the probe's step is the news */
	gf_http_error_text(req, err, sizeof(err));
	gf_set_why(why, whylen, "logged in and listed the directory, but then: %s", err);
	return GF_TEST_UNEXPECTED;
}

/* ---- the event pull ---------------------------------------------------- */

/* The partner's error files (PARTNERS.md): <dir>/errors/<name>.errors.csv
 * for each batch file it could not import whole. */
static int pull(struct gf_http *h, struct gf_http_req *req, const struct gf_job *job,
                const struct gf_output_target *t, const char *cursor)
{
	(void)job;
	(void)cursor; /* the files are the cursor: read, stored, moved to errors/done/ */
	return gf_sftp_pull_errors(h, req, t->partner_id);
}

/* One field of a line, CSV as the contract writes it (quoted when it holds
 * ';', '"', CR or LF, inner '"' doubled), from *p up to end; *p moves past
 * it and its separator. -1 when the quoting is broken. */
static int csv_field(const char **p, const char *end, struct gf_buf *out, bool *last)
{
	const char *s = *p;
	gf_buf_reset(out);
	if (s < end && *s == '"') {
		for (s++;; s++) {
			if (s >= end)
				return -1;
			if (*s == '"') {
				if (s + 1 < end && s[1] == '"') {
					gf_buf_append(out, "\"", 1);
					s++;
					continue;
				}
				s++;
				break;
			}
			gf_buf_append(out, s, 1);
		}
		if (s < end && *s != ';')
			return -1;
	} else {
		const char *e = s;
		while (e < end && *e != ';') {
			if (*e == '"')
				return -1;
			e++;
		}
		gf_buf_append(out, s, (size_t)(e - s));
		s = e;
	}
	*last = s >= end;
	*p = s < end ? s + 1 : s;
	return 0;
}

/* The records of one line: "booking no;reason". */
static int csv_line(const char *line, size_t len, const char *secret, struct gf_partner_event *e)
{
	struct gf_buf f = GF_BUF_INIT(1 << 20);
	const char *p = line, *end = line + len;
	bool last = false;
	int r = csv_field(&p, end, &f, &last);
	char why[64];
	/* the booking number is matched byte for byte and stored: text */
	if (r == 0 && (last || f.len == 0 || gf_text_check_len(gf_buf_str(&f), f.len, SIZE_MAX, why, sizeof(why)) < 0))
		r = -1;
	if (r == 0)
		e->booking_no = gf_xstrdup(gf_buf_str(&f));
	if (r == 0 && ((r = csv_field(&p, end, &f, &last)) < 0 || !last))
		r = -1;
	if (r == 0)
		e->reason = gf_text_safe_dup(gf_buf_str(&f), secret, GF_TEXT_MAX);
	gf_buf_free(&f);
	return r;
}

int gf_visits_csv_parse_errors(const char *name, const char *data, size_t size, struct gf_events *ev, char *why,
                               size_t whylen)
{
	const char *p = data ? data : "", *end = p + size;
	size_t first = ev->n, line_no = 0;
	/* the batch's id: <YYYYMMDD>_<hotel id>_<batch id>.csv.errors.csv */
	size_t nl = strlen(name);
	if (nl < 9 + 1 + 1 + 36 + 15) {
		gf_set_why(why, whylen, "not an error file's name");
		return -1;
	}
	_cleanup_free_ char *key = gf_xstrndup(name + nl - 15 - 36, 36);
	while (p < end) {
		const char *e = p;
		bool quoted = false;
		while (e < end && (quoted || (*e != '\n' && *e != '\r'))) {
			if (*e == '"')
				quoted = !quoted;
			e++;
		}
		size_t len = (size_t)(e - p);
		line_no++;
		if (len > 0) {
			ev->items = gf_xrealloc(ev->items, (ev->n + 1) * sizeof(*ev->items));
			struct gf_partner_event *it = &ev->items[ev->n];
			*it = (struct gf_partner_event){ .type = GF_EVENT_REJECTED, .batch_key = gf_xstrdup(key) };
			ev->n++;
			if (csv_line(p, len, NULL, it) < 0) {
				char piece[120];
				gf_text_safe_to(piece, sizeof(piece), name, nl, NULL);
				gf_set_why(why, whylen, "error file %s, line %zu: not \"booking no;reason\" as CSV: the file is"
				           " left in errors/ for the partner to correct", piece, line_no);
				while (ev->n > first) {
					struct gf_partner_event *x = &ev->items[--ev->n];
					free(x->booking_no);
					free(x->reason);
					free(x->batch_key);
				}
				return -1;
			}
		}
		if (e < end && *e == '\r' && e + 1 < end && e[1] == '\n')
			e++;
		p = e < end ? e + 1 : e;
	}
	return 0;
}

static int parse_events(const struct gf_http_req *req, const struct gf_output_target *t, struct gf_events *out,
                        char *why, size_t whylen)
{
	*out = (struct gf_events){ 0 };
	if (req->result != CURLE_OK) {
		int v = test_verdict(req, t, why, whylen);
		return v == GF_TEST_OK ? GF_TEST_UNEXPECTED : v;
	}
	const char *const *names;
	const struct gf_buf *bodies;
	size_t n = gf_sftp_pulled(req, &names, &bodies);
	out->done = gf_xcalloc(n ? n : 1, sizeof(*out->done));
	const char *skipped = gf_sftp_pull_skipped(req);
	if (skipped) {
		gf_set_why(why, whylen, "%s%s", n ? "" : "no error file could be read: ", skipped);
		gf_text_safe_inplace(why, whylen, NULL);
		if (n == 0) {
			/* Not one file read: the feed cannot be read, a failure of
			 * the pull (counted, alerted after alerting.failed_pulls),
			 * not a part left for later. */
			return GF_TEST_UNEXPECTED;
		}
		out->partial = true;
	}
	/* A file that is not the contract's: left where it is (read again by
	 * every pull), named, and the pull counted as failed (alerted after
	 * alerting.failed_pulls), the other files' events stored. */
	for (size_t i = 0; i < n; i++) {
		char bad[400];
		if (gf_visits_csv_parse_errors(names[i], bodies[i].data, bodies[i].len, out, bad, sizeof(bad)) == 0) {
			out->done[out->n_done++] = gf_xstrdup(names[i]);
		} else if (!out->partial || !why[0]) {
			out->partial = true;
			gf_set_why(why, whylen, "%s (the partner's rejections in it are not read)", bad);
			gf_text_safe_inplace(why, whylen, NULL);
		}
	}
	return GF_TEST_OK;
}

static int ack(struct gf_http *h, struct gf_http_req *req, const struct gf_job *job, const struct gf_events *ev)
{
	(void)job;
	if (ev->n_done == 0)
		return 0;
	return gf_sftp_retire_errors(h, req, (const char *const *)ev->done, ev->n_done);
}

static void show(const char *s, size_t n, FILE *out)
{
	gf_text_show(s, n, GF_ESCAPE_CSV, out);
}

const struct gf_output gf_output_visits_csv = {
	.name = "visits-csv",
	.method = "PUT",
	.scheme = "sftp",
	.id_label = "hotel id",
	.id_option = "--hotel-id",
	.secret_label = NULL,
	.content_type = "text/csv; charset=utf-8",
	.omittable = GF_OMIT_FIRST_NAME | GF_OMIT_GENDER | GF_OMIT_LANGUAGE | GF_OMIT_STATUS | GF_OMIT_ARRIVAL,
	.check_id = check_id,
	.render = render,
	.url = url,
	.send = put,
	.classify = classify,
	.classify_failure = classify_failure,
	.test = test,
	.test_verdict = test_verdict,
	.pull = pull,
	.parse_events = parse_events,
	.ack = ack,
	.show = show,
};
