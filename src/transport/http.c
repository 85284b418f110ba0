/* Sending batches: libcurl multi, several requests in flight, keep-alive. */
#include "transport/http.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gf_config.h"
#include "base/log.h"
#include "base/text.h"

struct gf_http {
	CURLM *multi;
	const struct gf_job *job;
	int running;
	int in_flight;
	curl_socket_t *socks;      /* the sockets libcurl opened for h's handles */
	size_t n_socks, cap_socks;
};

/* Every socket of h's transfers is opened and closed here, so that
 * gf_http_abort() can end them all at once. */
static curl_socket_t open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
	(void)purpose;
	struct gf_http *h = ud;
	curl_socket_t fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	if (fd == CURL_SOCKET_BAD)
		return fd;
	if (h->n_socks == h->cap_socks) {
		h->cap_socks = h->cap_socks ? 2 * h->cap_socks : 16;
		h->socks = gf_xrealloc(h->socks, h->cap_socks * sizeof(*h->socks));
	}
	h->socks[h->n_socks++] = fd;
	return fd;
}

static int close_socket(void *ud, curl_socket_t fd)
{
	struct gf_http *h = ud;
	for (size_t i = 0; i < h->n_socks; i++)
		if (h->socks[i] == fd) {
			h->socks[i] = h->socks[--h->n_socks];
			break;
		}
	return close(fd);
}

void gf_http_track_sockets(struct gf_http *h, CURL *e)
{
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, h);
	curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
	curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, h);
}

void gf_http_abort(struct gf_http *h)
{
	for (size_t i = 0; h && i < h->n_socks; i++)
		(void)shutdown(h->socks[i], SHUT_RDWR);
}

static void init_curl_once(void)
{
	static bool done;
	if (!done) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		done = true;
	}
}

int gf_http_secure(CURL *e, const char *protocols, const char *ca_file, const char *proxy,
                   const char *no_proxy)
{
	/* Fail closed: a handle on which one of these did not take is not used. */
	CURLcode c = CURLE_OK;
#define SET(opt, val) (void)(c == CURLE_OK && (c = curl_easy_setopt(e, opt, val)) != CURLE_OK)
	SET(CURLOPT_PROTOCOLS_STR, protocols);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (ca_file)
		SET(CURLOPT_CAINFO, ca_file);
	/* Without CURLOPT_PROXY libcurl would take http_proxy, HTTPS_PROXY or
	 * ALL_PROXY from the environment; "" means no proxy. A NOPROXY of ""
	 * likewise keeps NO_PROXY from the environment out of it. */
	SET(CURLOPT_PROXY, proxy ? proxy : "");
	SET(CURLOPT_NOPROXY, no_proxy ? no_proxy : "");
	/* An https:// proxy is held to the same rules as the partner. */
	SET(CURLOPT_PROXY_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SET(CURLOPT_PROXY_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_PROXY_SSL_VERIFYHOST, 2L);
#undef SET
	return c == CURLE_OK ? 0 : -EPROTONOSUPPORT;
}

const char *gf_http_protocols(const struct gf_job *job)
{
	return job->allow_insecure_http ? "http,https" : "https";
}

size_t gf_http_insecure_urls(const struct gf_job *job, const char **keys, size_t max)
{
	const struct { const char *key, *url; } urls[] = {
		{ "endpoint", job->endpoint }, { "ping.start", job->ping_start },
		{ "ping.success", job->ping_success }, { "ping.failure", job->ping_failure },
	};
	size_t n = 0;
	for (size_t i = 0; i < GF_ARRAY_SIZE(urls); i++)
		if (urls[i].url && strncmp(urls[i].url, "http://", 7) == 0 && n < max)
			keys[n++] = urls[i].key;
	return n;
}

struct gf_http *gf_http_new(const struct gf_job *job)
{
	init_curl_once();
	/* Once per run (the pings warn as they are sent, gf_ping()). */
	if (strncmp(job->endpoint, "http://", 7) == 0)
		gf_warn("insecure_http", "key=endpoint msg=%s",
		        gf_log_q("plain http:// (allow_insecure_http: true): access keys and guest data travel "
		                 "unencrypted; meant only for a test partner on this machine"));
	struct gf_http *h = gf_xcalloc(1, sizeof(*h));
	h->multi = curl_multi_init();
	if (!h->multi) {
		free(h);
		return NULL;
	}
	h->job = job;
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)job->in_flight);
	curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)job->in_flight);
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)job->in_flight);
	return h;
}

void gf_http_free(struct gf_http *h)
{
	if (!h)
		return;
	/* (no protocol goodbye may wait on a partner without a time limit:
	 * libcurl's SFTP disconnect would) */
	gf_http_abort(h);
	curl_multi_cleanup(h->multi);
	free(h->socks);
	free(h);
}

struct gf_http_req *gf_http_req_new(void)
{
	struct gf_http_req *r = gf_xcalloc(1, sizeof(*r));
	gf_buf_init(&r->body, (size_t)1 << 30);
	gf_buf_init(&r->resp, (size_t)1 << 20);
	return r;
}

void gf_http_req_free(struct gf_http_req *r)
{
	if (!r)
		return;
	if (r->easy)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	gf_buf_free(&r->body);
	gf_buf_free(&r->resp);
	if (r->url) {
		explicit_bzero(r->url, strlen(r->url));
		free(r->url);
	}
	if (r->stage && r->stage_free)
		r->stage_free(r->stage);
	free(r);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct gf_http_req *r = ud;
	size_t len = size * n;
	if (gf_buf_append(&r->resp, p, len) < 0) {
		r->resp_too_big = true;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct gf_http_req *r = ud;
	size_t len = size * n;
	r->header_bytes += len;
	static const char name[] = "retry-after:";
	if (len > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0) {
		const char *v = p + sizeof(name) - 1;
		size_t vl = len - (sizeof(name) - 1);
		while (vl && (*v == ' ' || *v == '\t')) {
			v++;
			vl--;
		}
		while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t' || v[vl - 1] == '\r' || v[vl - 1] == '\n'))
			vl--;
		/* The partner's bytes, whatever they are: kept as safe text (a
		 * value that is not a date or a number is then simply not used). */
		gf_text_safe_to(r->retry_after, sizeof(r->retry_after), v, vl, r->secret);
	}
	/* A new status line (e.g. after 100 Continue) starts a new header set. */
	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0)
		r->retry_after[0] = '\0';
	return len;
}

/* What every request of a job sets: its URL, the transport rules, times,
 * the reply's buffers and the header list (req->headers, set by the
 * caller). */
static int request_setup(struct gf_http *h, struct gf_http_req *req, char *url, const char *secret)
{
	const struct gf_job *job = h->job;
	if (req->url && req->url != url) {
		explicit_bzero(req->url, strlen(req->url));
		free(req->url);
	}
	req->url = url;
	req->secret = secret;
	req->status = 0;
	req->result = CURLE_OK;
	req->errbuf[0] = '\0';
	req->retry_after[0] = '\0';
	req->resp_too_big = false;
	req->header_bytes = 0;
	gf_buf_reset(&req->resp);
	req->resp.max = (size_t)job->max_reply_bytes;
	if (!req->easy)
		req->easy = curl_easy_init();
	else
		curl_easy_reset(req->easy);
	if (!req->easy)
		return -ENOMEM;
	CURL *e = req->easy;
	if (gf_http_secure(e, gf_http_protocols(job), job->ca_file, job->proxy, job->no_proxy) < 0)
		return -EPROTONOSUPPORT;
	curl_easy_setopt(e, CURLOPT_URL, url);
	gf_http_track_sockets(h, e);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "guestflow/" GF_VERSION);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)job->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)job->timeout_ms);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, (long)job->low_speed_limit);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)((job->low_speed_time_ms + 999) / 1000));
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf);
	return 0;
}

int gf_http_start(struct gf_http *h, struct gf_http_req *req, char *url, const char *secret,
                  const char *idempotency_key, const char *content_type, const char *auth, bool gzip)
{
	curl_slist_free_all(req->headers);
	req->headers = NULL;
	char idem[256];
	char type[160];
	/* (never a header cut short: another batch's key, or another type) */
	int ki = snprintf(idem, sizeof(idem), "Idempotency-Key: %s", idempotency_key);
	int ti = snprintf(type, sizeof(type), "Content-Type: %s", content_type);
	if (ki < 0 || (size_t)ki >= sizeof(idem) || ti < 0 || (size_t)ti >= sizeof(type)) {
		explicit_bzero(url, strlen(url));
		free(url);
		return -EINVAL;
	}
	req->headers = curl_slist_append(req->headers, type);
	if (auth && req->headers)
		req->headers = curl_slist_append(req->headers, auth);
	req->headers = curl_slist_append(req->headers, idem);
	req->headers = curl_slist_append(req->headers, "Expect:");
	if (gzip)
		req->headers = curl_slist_append(req->headers, "Content-Encoding: gzip");
	int r = request_setup(h, req, url, secret);
	if (r < 0)
		return r;
	if (!req->headers)
		return -ENOMEM;
	CURL *e = req->easy;
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body.data ? req->body.data : "");
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body.len);
	return gf_http_add(h, req);
}

int gf_http_get(struct gf_http *h, struct gf_http_req *req, char *url, const char *secret, const char *auth)
{
	curl_slist_free_all(req->headers);
	req->headers = curl_slist_append(NULL, "Accept: */*");
	if (auth && req->headers)
		req->headers = curl_slist_append(req->headers, auth);
	int r = request_setup(h, req, url, secret);
	if (r < 0)
		return r;
	if (!req->headers)
		return -ENOMEM;
	curl_easy_setopt(req->easy, CURLOPT_HTTPGET, 1L);
	return gf_http_add(h, req);
}

int gf_http_add(struct gf_http *h, struct gf_http_req *req)
{
	req->started_ms = gf_now_mono_ms();
	req->detail[0] = '\0';
	curl_easy_setopt(req->easy, CURLOPT_PRIVATE, req);
	CURLMcode mc = curl_multi_add_handle(h->multi, req->easy);
	if (mc != CURLM_OK)
		return -EIO;
	h->in_flight++;
	return 0;
}

const struct gf_job *gf_http_job(const struct gf_http *h)
{
	return h->job;
}

static struct gf_http_req *next_done(struct gf_http *h)
{
	int queued;
	CURLMsg *m;
	while ((m = curl_multi_info_read(h->multi, &queued))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct gf_http_req *r = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		r->result = m->data.result;
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &r->status);
		curl_easy_getinfo(m->easy_handle, CURLINFO_NUM_CONNECTS, &r->new_connections);
		curl_multi_remove_handle(h->multi, m->easy_handle);
		/* The next transfer of a request of several: the same handle
		 * again (its connection kept), the request's time still running. */
		if (r->next && r->next(r) == 1) {
			curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
			if (curl_multi_add_handle(h->multi, r->easy) == CURLM_OK)
				continue;
			r->result = CURLE_FAILED_INIT;
		}
		r->latency_ms = gf_now_mono_ms() - r->started_ms;
		h->in_flight--;
		return r;
	}
	return NULL;
}

int gf_http_poll(struct gf_http *h, int timeout_ms, int fd, struct gf_http_req **done)
{
	if ((*done = next_done(h)))
		return 0;
	if (curl_multi_perform(h->multi, &h->running) != CURLM_OK)
		return -EIO;
	if ((*done = next_done(h)) || h->in_flight == 0)
		return 0;
	struct curl_waitfd extra = { .fd = fd, .events = CURL_WAIT_POLLIN };
	CURLMcode mc = curl_multi_poll(h->multi, fd >= 0 ? &extra : NULL, fd >= 0 ? 1 : 0, timeout_ms, NULL);
	if (mc != CURLM_OK)
		return -EIO;
	if (curl_multi_perform(h->multi, &h->running) != CURLM_OK)
		return -EIO;
	*done = next_done(h);
	return 0;
}

int gf_http_wait(struct gf_http *h, struct gf_http_req *req)
{
	struct gf_http_req *done = NULL;
	int r = 0;
	/* (each transfer is bounded by the job's timeouts; the loop ends with it) */
	while (r == 0 && !done && h->in_flight > 0)
		r = gf_http_poll(h, 1000, -1, &done);
	if (r == 0 && done != req)
		r = -EIO;
	if (r < 0 && h->in_flight > 0)
		gf_http_cancel(h, req);
	return r;
}

void gf_http_cancel(struct gf_http *h, struct gf_http_req *req)
{
	if (req->easy && curl_multi_remove_handle(h->multi, req->easy) == CURLM_OK)
		h->in_flight--;
}

int gf_http_in_flight(const struct gf_http *h)
{
	return h->in_flight;
}

void gf_redact(char *s, const char *secret)
{
	gf_text_redact(s, secret);
}

/* A reply whose header line passed libcurl's limit (CURL_MAX_HTTP_HEADER):
 * libcurl 8.6 and later say CURLE_TOO_LARGE (100, compared by number: a
 * build against older headers may run with a newer libcurl), older ones
 * CURLE_OUT_OF_MEMORY, with nothing in the error buffer. Only once the
 * answer began (header lines came): before that, it is memory. */
static bool header_too_large(const struct gf_http_req *r)
{
	return (r->result == CURLE_OUT_OF_MEMORY || (int)r->result == 100) && r->header_bytes > 0;
}

void gf_http_error_text(const struct gf_http_req *r, char *out, size_t outlen)
{
	if (r->detail[0])
		snprintf(out, outlen, "%s", r->detail);
	else if (r->resp_too_big)
		snprintf(out, outlen, "reply larger than %zu bytes", r->resp.max);
	else if (header_too_large(r) && r->errbuf[0])
		snprintf(out, outlen, "reply header too large (libcurl refuses headers over %d bytes): %s",
		         CURL_MAX_HTTP_HEADER, r->errbuf);
	else if (header_too_large(r))
		snprintf(out, outlen, "reply header too large (libcurl refuses headers over %d bytes; it reports \"%s\")",
		         CURL_MAX_HTTP_HEADER, curl_easy_strerror(r->result));
	else if (r->result == CURLE_OPERATION_TIMEDOUT)
		snprintf(out, outlen, "timeout after %lld ms: %s", (long long)r->latency_ms,
		         r->errbuf[0] ? r->errbuf : curl_easy_strerror(r->result));
	else
		snprintf(out, outlen, "%s: %s", curl_easy_strerror(r->result),
		         r->errbuf[0] ? r->errbuf : "no details");
	/* curl's error buffer may quote what the server sent or the URL */
	gf_text_safe_inplace(out, outlen, r->secret);
}

char *gf_http_url_under(const char *base, const char *before, const char *segment, const char *after)
{
	char *e = curl_easy_escape(NULL, segment ? segment : "", 0);
	if (!e)
		gf_oom();
	size_t l = strlen(base);
	char *u = gf_xasprintf("%s%s%s%s%s", base, l && base[l - 1] == '/' ? "" : "/", before, e, after);
	curl_free(e);
	return u;
}
