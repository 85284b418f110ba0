/* Sending batches as files over SFTP: two transfers on one handle (a look,
 * then the upload and its rename), run by http.c's loop through req->next. */
#include "transport/sftp.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "gf_config.h"
#include "base/log.h"
#include "base/text.h"
#include "base/util.h"

struct put {
	struct gf_http *h;
	const struct gf_job *job;
	char *name;               /* the file's name, as given */
	char *final_url;          /* <dir>/<name> */
	char *part_url;           /* <dir>/.<name>.part */
	struct curl_slist *rename; /* the upload's POSTQUOTE: rename .part to name */
	struct curl_slist *quote;  /* commands before the (first) transfer: the error files' moves */
	size_t offset;            /* of the body, read by the upload */
	char *password;           /* or NULL: the private key */
	bool uploading;
	bool maybe_sent;          /* an earlier attempt may have put the file there */
	bool looking_part;        /* a file of another size at the name: is this batch's .part still there? */
	curl_off_t found_size;    /* that file's size (-1: not known) */
	bool probe;               /* the test call: a listing, then the probe uploaded and removed */
	/* the event pull: the error files' listing, then each file of the
	 * hotel read (into bodies) */
	bool pull;
	char *hotel;              /* whose files */
	char **names;             /* the files to read, in the listing's order */
	struct gf_buf *bodies;    /* what each held; n_read of them read */
	size_t n_names, n_read;
	struct gf_buf skipped;    /* the files that could not be read, and why (safe text) */
	char **retire;            /* the error files moved into errors/done/ (then listed: still there?) */
	size_t n_retire;
	int64_t t0;               /* the request's start: the test call fits in the job's timeout */
};

static void put_free(void *p)
{
	struct put *s = p;
	free(s->name);
	free(s->final_url);
	free(s->part_url);
	curl_slist_free_all(s->rename);
	curl_slist_free_all(s->quote);
	free(s->hotel);
	for (size_t i = 0; i < s->n_names; i++) {
		free(s->names[i]);
		gf_buf_free(&s->bodies[i]);
	}
	free(s->names);
	free(s->bodies);
	for (size_t i = 0; i < s->n_retire; i++)
		free(s->retire[i]);
	free(s->retire);
	gf_buf_free(&s->skipped);
	if (s->password) {
		explicit_bzero(s->password, strlen(s->password));
		free(s->password);
	}
	free(s);
}

char *gf_sftp_url(const char *endpoint, const char *name)
{
	return gf_http_url_under(endpoint, "", name, "");
}

/* A path as a quoted argument of libcurl's SFTP quote commands: inside
 * "...", with \ and " escaped. */
static void quoted(struct gf_buf *b, const char *path)
{
	gf_buf_append(b, "\"", 1);
	for (const char *p = path; *p; p++) {
		if (*p == '"' || *p == '\\')
			gf_buf_append(b, "\\", 1);
		gf_buf_append(b, p, 1);
	}
	gf_buf_append(b, "\"", 1);
}

/* The endpoint's directory as the quote commands name it (decoded from
 * its URL; /~/ is the login's home, which a relative path names), with a
 * trailing '/' unless it is the home itself (""); NULL when the URL does
 * not parse. */
static char *dir_path(const char *endpoint)
{
	CURLU *u = curl_url();
	char *path = NULL;
	if (!u || curl_url_set(u, CURLUPART_URL, endpoint, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &path, CURLU_URLDECODE) != CURLUE_OK) {
		curl_url_cleanup(u);
		return NULL;
	}
	curl_url_cleanup(u);
	const char *dir = path;
	if (strncmp(dir, "/~/", 3) == 0)
		dir += 3;
	size_t dl = strlen(dir);
	char *r = gf_xasprintf("%s%s", dir, dl && dir[dl - 1] != '/' ? "/" : "");
	curl_free(path);
	return r;
}

/* The rename command of the upload: .name.part to name in the endpoint's
 * directory. */
static char *rename_command(const char *endpoint, const char *name)
{
	_cleanup_free_ char *dir = dir_path(endpoint);
	if (!dir)
		return NULL;
	_cleanup_free_ char *from = gf_xasprintf("%s.%s.part", dir, name);
	_cleanup_free_ char *to = gf_xasprintf("%s%s", dir, name);
	struct gf_buf b = GF_BUF_INIT(1 << 16);
	gf_buf_append(&b, "rename ", 7);
	quoted(&b, from);
	gf_buf_append(&b, " ", 1);
	quoted(&b, to);
	return gf_buf_steal(&b);
}

/* The remove command of the test call's probe file. */
static char *rm_command(const char *endpoint, const char *name)
{
	_cleanup_free_ char *dir = dir_path(endpoint);
	if (!dir)
		return NULL;
	_cleanup_free_ char *path = gf_xasprintf("%s%s", dir, name);
	struct gf_buf b = GF_BUF_INIT(1 << 16);
	gf_buf_append(&b, "rm ", 3);
	quoted(&b, path);
	return gf_buf_steal(&b);
}

int gf_sftp_password(const struct gf_job *job, char **out, char *err, size_t errlen)
{
	int r = gf_read_first_line(job->sftp_password_file, out);
	if (r == -ENODATA)
		snprintf(err, errlen, "sftp.password_file %s holds no password on its first line", job->sftp_password_file);
	else if (r < 0)
		snprintf(err, errlen, "cannot read sftp.password_file %s: %s", job->sftp_password_file, gf_strerror(r));
	return r;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
	struct gf_http_req *r = ud;
	struct put *s = r->stage;
	size_t left = r->body.len - s->offset, want = size * n;
	if (want > left)
		want = left;
	if (want)
		memcpy(buf, r->body.data + s->offset, want);
	s->offset += want;
	return want;
}

static size_t on_discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

/* What a pull reads goes to the request's reply buffer, up to its cap. */
static size_t on_collect(char *p, size_t size, size_t n, void *ud)
{
	struct gf_http_req *r = ud;
	if (gf_buf_append(&r->resp, p, size * n) < 0) {
		r->resp_too_big = true;
		return 0;
	}
	return size * n;
}

/* The listing after the error files' moves: kept up to the reply's cap,
 * the rest read and dropped (the moves are done; a listing too long only
 * names fewer files that could not be moved). */
static size_t on_listing(char *p, size_t size, size_t n, void *ud)
{
	struct gf_http_req *r = ud;
	if (!r->resp_too_big && gf_buf_append(&r->resp, p, size * n) < 0)
		r->resp_too_big = true;
	return size * n;
}

/* The server's host key against the known_hosts file: only a match goes
 * on, and the request says why not otherwise. */
static int on_host_key(CURL *e, const struct curl_khkey *known, const struct curl_khkey *found,
                       enum curl_khmatch match, void *ud)
{
	(void)e;
	(void)known;
	(void)found;
	struct gf_http_req *r = ud;
	struct put *s = r->stage;
	if (match == CURLKHMATCH_OK)
		return CURLKHSTAT_FINE;
	snprintf(r->detail, sizeof(r->detail), "the SFTP server's host key %s sftp.known_hosts_file %s (%s): not"
	         " connected", match == CURLKHMATCH_MISMATCH ? "differs from the one in" : "is not in",
	         s->job->sftp_known_hosts_file, match == CURLKHMATCH_MISMATCH ?
	         "changed: a new server, or someone in between; check the new key with the partner before"
	         " replacing the line" : "unknown: add the partner's host key line, checked with the partner");
	gf_text_safe_inplace(r->detail, sizeof(r->detail), NULL);
	return CURLKHSTAT_REJECT;
}

/* The options of both transfers: the job's account, host key and times. */
static int setup(struct gf_http_req *r, const char *url)
{
	struct put *s = r->stage;
	const struct gf_job *job = s->job;
	CURL *e = r->easy;
	curl_easy_reset(e);
	if (gf_http_secure(e, "sftp", NULL, job->proxy, job->no_proxy) < 0)
		return -EPROTONOSUPPORT;
	CURLcode c = CURLE_OK;
#define SET(opt, val) (void)(c == CURLE_OK && (c = curl_easy_setopt(e, opt, val)) != CURLE_OK)
	SET(CURLOPT_URL, url);
	gf_http_track_sockets(s->h, e);
	if (job->proxy)
		SET(CURLOPT_HTTPPROXYTUNNEL, 1L);
	SET(CURLOPT_USERNAME, job->sftp_user);
	SET(CURLOPT_SSH_KNOWNHOSTS, job->sftp_known_hosts_file);
	SET(CURLOPT_SSH_KEYFUNCTION, on_host_key);
	SET(CURLOPT_SSH_KEYDATA, r);
	if (s->password) {
		SET(CURLOPT_SSH_AUTH_TYPES, (long)CURLSSH_AUTH_PASSWORD);
		SET(CURLOPT_PASSWORD, s->password);
	} else {
		SET(CURLOPT_SSH_AUTH_TYPES, (long)CURLSSH_AUTH_PUBLICKEY);
		SET(CURLOPT_SSH_PRIVATE_KEYFILE, job->sftp_private_key_file);
		/* "": libssh2 derives the public key from the private one */
		SET(CURLOPT_SSH_PUBLIC_KEYFILE, "");
	}
	SET(CURLOPT_NOSIGNAL, 1L);
	int64_t timeout = job->timeout_ms, connect = job->connect_timeout_ms;
	if (s->probe) {
		/* one budget for all the transfers of the test call (a pull reads
		 * file after file, each in the job's time) */
		int64_t left = job->timeout_ms - (gf_now_mono_ms() - s->t0);
		timeout = left > 1 ? left : 1;
		connect = connect < timeout ? connect : timeout;
	}
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)connect);
	SET(CURLOPT_TIMEOUT_MS, (long)timeout);
	SET(CURLOPT_LOW_SPEED_LIMIT, (long)job->low_speed_limit);
	SET(CURLOPT_LOW_SPEED_TIME, (long)((job->low_speed_time_ms + 999) / 1000));
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_WRITEFUNCTION, s->pull ? on_collect : s->retire ? on_listing : on_discard);
	if (s->pull || s->retire)
		SET(CURLOPT_WRITEDATA, r);
	if (s->quote)
		SET(CURLOPT_QUOTE, s->quote);
	SET(CURLOPT_ERRORBUFFER, r->errbuf);
#undef SET
	r->errbuf[0] = '\0';
	return c == CURLE_OK ? 0 : -EINVAL;
}

/* After the look: the same file there is delivered, another one is not
 * overwritten, none is uploaded. */
static int upload(struct gf_http_req *r, const char *url)
{
	struct put *s = r->stage;
	s->uploading = true;
	s->offset = 0;
	CURL *e = r->easy;
	if (setup(r, url) < 0 || curl_easy_setopt(e, CURLOPT_UPLOAD, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_READDATA, r) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body.len) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_POSTQUOTE, s->rename) != CURLE_OK) {
		r->result = CURLE_FAILED_INIT;
		return 0;
	}
	r->result = CURLE_OK;
	return 1;
}

/* Whether name is an error file of hotel's batches:
 * <YYYYMMDD>_<hotel>_<batch id, 36 characters>.csv.errors.csv. */
static bool hotel_error_file(const char *name, const char *hotel)
{
	static const char tail[] = ".csv.errors.csv";
	size_t n = strlen(name), h = strlen(hotel), t = sizeof(tail) - 1;
	if (n != 9 + h + 1 + 36 + t || name[8] != '_' || strcmp(name + n - t, tail) != 0)
		return false;
	for (int i = 0; i < 8; i++)
		if (name[i] < '0' || name[i] > '9')
			return false;
	return memcmp(name + 9, hotel, h) == 0 && name[9 + h] == '_';
}

/* The pull's next file, or 0 when all are read. */
static int read_next(struct gf_http_req *r)
{
	struct put *s = r->stage;
	if (s->n_read >= s->n_names)
		return 0;
	_cleanup_free_ char *errs = gf_sftp_url(s->job->endpoint, "errors");
	_cleanup_free_ char *url = gf_sftp_url(errs, s->names[s->n_read]);
	gf_buf_reset(&r->resp);
	r->resp_too_big = false;
	if (setup(r, url) < 0) {
		r->result = CURLE_FAILED_INIT;
		return 0;
	}
	r->result = CURLE_OK;
	return 1;
}

/* The next name of a directory listing (CURLOPT_DIRLISTONLY: one a line,
 * LF or CRLF) from *p, up to end: *name and *len (not terminated); false at
 * its end. */
static bool listing_next(const char **p, const char *end, const char **name, size_t *len)
{
	if (*p >= end)
		return false;
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	*name = *p;
	*len = (size_t)((nl ? nl : end) - *p);
	if (*len && (*p)[*len - 1] == '\r')
		(*len)--;
	*p = nl ? nl + 1 : end;
	return true;
}

static int pull_next(struct gf_http_req *r)
{
	struct put *s = r->stage;
	if (!s->names) {
		/* the listing */
		r->answered = r->result == CURLE_OK || r->result == CURLE_REMOTE_FILE_NOT_FOUND;
		if (r->result == CURLE_REMOTE_FILE_NOT_FOUND) {
			r->result = CURLE_OK; /* no errors/ directory: nothing reported */
			return 0;
		}
		if (r->result != CURLE_OK)
			return 0;
		size_t cap = 8;
		s->names = gf_xcalloc(cap, sizeof(*s->names));
		const char *p = r->resp.data ? r->resp.data : "", *end = p + r->resp.len, *line;
		size_t len;
		while (listing_next(&p, end, &line, &len)) {
			char *name = gf_xstrndup(line, len);
			if (strlen(name) == len && hotel_error_file(name, s->hotel)) {
				if (s->n_names == cap)
					s->names = gf_xrealloc(s->names, (cap *= 2) * sizeof(*s->names));
				s->names[s->n_names++] = name;
			} else {
				free(name);
			}
		}
		s->bodies = gf_xcalloc(s->n_names ? s->n_names : 1, sizeof(*s->bodies));
		return read_next(r);
	}
	if (r->result != CURLE_OK) {
		/* One file that cannot be read (too large for the reply cap, a
		 * dangling link, not readable, a directory of its name: the SSH
		 * layer's error) is skipped, said, and left where it is, for the
		 * next pull; the others are read (a session lost meanwhile is
		 * connected again for the next, and one that cannot be ends the
		 * pull: a failure to connect is not one file's). */
		bool one = r->resp_too_big || r->result == CURLE_REMOTE_FILE_NOT_FOUND ||
		           r->result == CURLE_REMOTE_ACCESS_DENIED || r->result == CURLE_SSH;
		if (!one)
			return 0;
		char err[200];
		if (r->resp_too_big)
			snprintf(err, sizeof(err), "larger than %zu bytes (the job's http.max_reply_bytes)", r->resp.max);
		else if (r->result == CURLE_SSH)
			snprintf(err, sizeof(err), "%s (a directory, or a file the server would not send?)",
			         curl_easy_strerror(r->result));
		else
			snprintf(err, sizeof(err), "%s", curl_easy_strerror(r->result));
		if (!s->skipped.max)
			s->skipped = (struct gf_buf)GF_BUF_INIT(1 << 16);
		(void)gf_buf_printf(&s->skipped, "%serror file %s not read: %s", s->skipped.len ? "; " : "",
		                    s->names[s->n_read], err);
		free(s->names[s->n_read]);
		memmove(s->names + s->n_read, s->names + s->n_read + 1, (s->n_names - s->n_read - 1) * sizeof(*s->names));
		s->n_names--;
		r->result = CURLE_OK;
		r->resp_too_big = false;
		return read_next(r);
	}
	/* a file read */
	s->bodies[s->n_read] = r->resp;
	r->resp = (struct gf_buf)GF_BUF_INIT(s->bodies[s->n_read].max);
	s->n_read++;
	return read_next(r);
}

/* The error files' moves done (their quote commands may fail unseen: a
 * file that cannot be moved is read again by the next pull, its events
 * stored once), errors/ listed: those still there are named in a warning,
 * so that an operator learns why they are read at every pull. */
static void retired(const struct gf_http_req *r, const struct put *s)
{
	if (r->result != CURLE_OK || !r->resp.data)
		return;
	struct gf_buf left = GF_BUF_INIT(1 << 16);
	const char *p = r->resp.data, *end = p + r->resp.len, *line;
	size_t len;
	while (listing_next(&p, end, &line, &len))
		for (size_t i = 0; i < s->n_retire; i++)
			if (len == strlen(s->retire[i]) && memcmp(line, s->retire[i], len) == 0)
				(void)gf_buf_printf(&left, "%s%s", left.len ? ", " : "", s->retire[i]);
	if (left.len)
		gf_warn("pull_files_not_moved", "job=%s files=%s msg=%s", s->job->name, gf_log_q(gf_buf_str(&left)),
		        gf_log_q("read and stored, but still in errors/ after the move into errors/done/ (is errors/done"
		                 " a directory the job's account may write?): read again by every pull, their events"
		                 " stored once"));
	gf_buf_free(&left);
}

static int next(struct gf_http_req *r)
{
	struct put *s = r->stage;
	if (s->pull)
		return pull_next(r);
	if (s->retire) {
		retired(r, s);
		return 0;
	}
	if (s->probe && s->uploading) {
		if (r->result != CURLE_OK && !r->detail[0]) {
			char err[300];
			snprintf(err, sizeof(err), "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(r->result));
			snprintf(r->detail, sizeof(r->detail), "%s the probe file %s (%s): %s",
			         r->result == CURLE_QUOTE_ERROR ? "could not remove" : "failed writing or removing", s->name,
			         r->result == CURLE_QUOTE_ERROR ? "written: remove it by hand" : "remove it by hand if it is there",
			         err);
			gf_text_safe_inplace(r->detail, sizeof(r->detail), NULL);
		}
		return 0;
	}
	if (s->uploading)
		return 0;
	if (s->probe) { /* the directory listed: now the probe file */
		r->answered = r->result == CURLE_OK;
		return r->answered ? upload(r, s->final_url) : 0;
	}
	if (s->looking_part) {
		/* The file at the name is of another size: this batch's, as an
		 * earlier attempt renamed it (re-rendered from the PMS as it is
		 * now, the guests' data changed since), only if that attempt's
		 * .part is gone; while it is there, the rename never happened,
		 * and the file is someone else's. */
		s->looking_part = false;
		if (r->result != CURLE_OK && r->result != CURLE_REMOTE_FILE_NOT_FOUND)
			return 0; /* (not known: tried again) */
		if (r->result == CURLE_OK) {
			r->result = CURLE_REMOTE_FILE_EXISTS;
			snprintf(r->detail, sizeof(r->detail), "another file named %s is on the server (%lld bytes, this"
			         " batch has %zu), and this batch's upload is still at .%s.part (its rename never"
			         " happened): not overwritten", s->name, (long long)s->found_size, r->body.len, s->name);
			gf_text_safe_inplace(r->detail, sizeof(r->detail), NULL);
			return 0;
		}
		r->result = CURLE_OK;
		/* (as the answer, for the API-call log: the server's word) */
		gf_buf_reset(&r->resp);
		(void)gf_buf_printf(&r->resp, "%s was on the server already (%lld bytes; %zu as rendered now, the guests'"
		                    " data changed since) and this batch's .part is gone: delivered by an earlier"
		                    " attempt of this batch, not uploaded again", s->name, (long long)s->found_size,
		                    r->body.len);
		return 0;
	}
	if (r->result == CURLE_OK) {
		curl_off_t size = -1;
		curl_easy_getinfo(r->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &size);
		if (size == (curl_off_t)r->body.len) {
			/* (as the answer, for the API-call log: the server's word) */
			gf_buf_reset(&r->resp);
			(void)gf_buf_printf(&r->resp, "%s was on the server already with the same size (%zu bytes):"
			                    " delivered by an earlier attempt, not uploaded again", s->name, r->body.len);
		} else if (s->maybe_sent && size > 0) {
			/* (an empty file, or one whose size the server does not
			 * say, is not one of ours: ours holds a header at least) */
			s->looking_part = true;
			s->found_size = size;
			if (setup(r, s->part_url) < 0 || curl_easy_setopt(r->easy, CURLOPT_NOBODY, 1L) != CURLE_OK) {
				r->result = CURLE_FAILED_INIT;
				return 0;
			}
			return 1;
		} else {
			r->result = CURLE_REMOTE_FILE_EXISTS;
			if (size < 0)
				snprintf(r->detail, sizeof(r->detail), "another file named %s is on the server (of a size the"
				         " server does not say; this batch has %zu bytes): not overwritten", s->name, r->body.len);
			else
				snprintf(r->detail, sizeof(r->detail), "another file named %s is on the server (%lld bytes, this"
				         " batch has %zu): not overwritten", s->name, (long long)size, r->body.len);
			gf_text_safe_inplace(r->detail, sizeof(r->detail), NULL);
		}
		return 0;
	}
	if (r->result != CURLE_REMOTE_FILE_NOT_FOUND)
		return 0;
	return upload(r, s->part_url);
}

/* A request on req of the stage s: its password read, the first
 * transfer started on url (NOBODY: a look at a file; or a listing). */
static int start(struct gf_http *h, struct gf_http_req *req, struct put *s, const char *url, bool nobody)
{
	const struct gf_job *job = s->job;
	s->t0 = gf_now_mono_ms();
	req->answered = false;
	if (job->sftp_password_file) {
		char err[512];
		int r = gf_sftp_password(job, &s->password, err, sizeof(err));
		if (r < 0) {
			gf_error("sftp_password", "job=%s msg=%s", job->name, gf_log_q(err));
			put_free(s);
			return r;
		}
	}
	if (req->stage && req->stage_free)
		req->stage_free(req->stage);
	req->stage = s;
	req->stage_free = put_free;
	req->next = next;
	req->status = 0;
	req->result = CURLE_OK;
	req->resp_too_big = false;
	gf_buf_reset(&req->resp);
	if (!req->easy && !(req->easy = curl_easy_init()))
		return -ENOMEM;
	if (setup(req, url) < 0 ||
	    curl_easy_setopt(req->easy, nobody ? CURLOPT_NOBODY : CURLOPT_DIRLISTONLY, 1L) != CURLE_OK)
		return -EINVAL;
	return gf_http_add(h, req);
}

int gf_sftp_put(struct gf_http *h, struct gf_http_req *req, const char *name, bool maybe_sent)
{
	const struct gf_job *job = gf_http_job(h);
	struct put *s = gf_xcalloc(1, sizeof(*s));
	s->h = h;
	s->job = job;
	s->maybe_sent = maybe_sent;
	s->name = gf_xstrdup(name);
	s->final_url = gf_sftp_url(job->endpoint, name);
	_cleanup_free_ char *part = gf_xasprintf(".%s.part", name);
	s->part_url = gf_sftp_url(job->endpoint, part);
	_cleanup_free_ char *cmd = rename_command(job->endpoint, name);
	if (!cmd || !(s->rename = curl_slist_append(NULL, cmd))) {
		put_free(s);
		return -EINVAL;
	}
	return start(h, req, s, s->final_url, true);
}

int gf_sftp_probe(struct gf_http *h, struct gf_http_req *req)
{
	const struct gf_job *job = gf_http_job(h);
	unsigned char rnd[8];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -errno;
	char hex[2 * sizeof(rnd) + 1];
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	struct put *s = gf_xcalloc(1, sizeof(*s));
	s->h = h;
	s->job = job;
	s->probe = true;
	s->name = gf_xasprintf(".guestflow-probe-%s", hex);
	s->final_url = gf_sftp_url(job->endpoint, s->name);
	_cleanup_free_ char *cmd = rm_command(job->endpoint, s->name);
	if (!cmd || !(s->rename = curl_slist_append(NULL, cmd))) {
		put_free(s);
		return -EINVAL;
	}
	gf_buf_reset(&req->body);
	if (gf_buf_puts(&req->body, "guestflow connection test: this file is removed at once\r\n") < 0) {
		put_free(s);
		return -ENOMEM;
	}
	return start(h, req, s, job->endpoint, false);
}

int gf_sftp_pull_errors(struct gf_http *h, struct gf_http_req *req, const char *hotel_id)
{
	const struct gf_job *job = gf_http_job(h);
	struct put *s = gf_xcalloc(1, sizeof(*s));
	s->h = h;
	s->job = job;
	s->pull = true;
	s->hotel = gf_xstrdup(hotel_id);
	_cleanup_free_ char *dir = gf_sftp_url(job->endpoint, "errors");
	_cleanup_free_ char *listing = gf_xasprintf("%s/", dir);
	req->resp.max = (size_t)job->max_reply_bytes;
	return start(h, req, s, listing, false);
}

const char *gf_sftp_pull_skipped(const struct gf_http_req *req)
{
	const struct put *s = req->stage;
	return s && s->pull && s->skipped.len ? gf_buf_str(&s->skipped) : NULL;
}

size_t gf_sftp_pulled(const struct gf_http_req *req, const char *const **names, const struct gf_buf **bodies)
{
	const struct put *s = req->stage;
	if (!s || !s->pull || !s->names) {
		*names = NULL;
		*bodies = NULL;
		return 0;
	}
	*names = (const char *const *)s->names;
	*bodies = s->bodies;
	return s->n_read;
}

int gf_sftp_retire_errors(struct gf_http *h, struct gf_http_req *req, const char *const *names, size_t n)
{
	const struct gf_job *job = gf_http_job(h);
	_cleanup_free_ char *dir = dir_path(job->endpoint);
	if (!dir)
		return -EINVAL;
	struct put *s = gf_xcalloc(1, sizeof(*s));
	s->h = h;
	s->job = job;
	/* Before the listing: errors/done made (already there: fine), then
	 * each file moved into it; one that cannot be moved stays, to be read
	 * again by the next pull (its events are stored once all the same). */
	struct gf_buf b = GF_BUF_INIT(1 << 16);
	_cleanup_free_ char *done_dir = gf_xasprintf("%serrors/done", dir);
	gf_buf_puts(&b, "*mkdir ");
	quoted(&b, done_dir);
	s->quote = curl_slist_append(NULL, gf_buf_str(&b));
	for (size_t i = 0; i < n && s->quote; i++) {
		_cleanup_free_ char *from = gf_xasprintf("%serrors/%s", dir, names[i]);
		_cleanup_free_ char *to = gf_xasprintf("%serrors/done/%s", dir, names[i]);
		gf_buf_reset(&b);
		gf_buf_puts(&b, "*rename ");
		quoted(&b, from);
		gf_buf_puts(&b, " ");
		quoted(&b, to);
		struct curl_slist *l = curl_slist_append(s->quote, gf_buf_str(&b));
		if (!l) {
			curl_slist_free_all(s->quote);
			s->quote = NULL;
		} else {
			s->quote = l;
		}
	}
	gf_buf_free(&b);
	if (!s->quote) {
		put_free(s);
		return -ENOMEM;
	}
	_cleanup_free_ char *errs = gf_sftp_url(job->endpoint, "errors");
	_cleanup_free_ char *listing = gf_xasprintf("%s/", errs);
	req->resp.max = (size_t)job->max_reply_bytes;
	s->retire = gf_xcalloc(n ? n : 1, sizeof(*s->retire));
	for (size_t i = 0; i < n; i++)
		s->retire[s->n_retire++] = gf_xstrdup(names[i]);
	s->uploading = true; /* one transfer: next() ends it */
	return start(h, req, s, listing, false);
}
