/* Sending batches: libcurl multi, several requests in flight, keep-alive,
 * timeouts, strict TLS. */
#ifndef GF_HTTP_H
#define GF_HTTP_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "core/config.h"

struct gf_http;

struct gf_http_req {
	CURL *easy;
	struct curl_slist *headers;
	struct gf_buf body;        /* request body, owned */
	struct gf_buf resp;        /* response body, capped at the job's max_reply_bytes */
	bool resp_too_big;
	size_t header_bytes;       /* of the reply's header lines received: an answer began */
	char retry_after[128];     /* Retry-After header value made safe text (text.h), "" when absent */
	char *url;                 /* full URL with credentials: never logged */
	const char *secret;        /* access key, redacted from error texts */
	long status;               /* HTTP status, 0 when no response */
	CURLcode result;
	char errbuf[CURL_ERROR_SIZE];
	int64_t started_ms;
	int64_t latency_ms;
	long new_connections;      /* connections this transfer had to open (0: reused) */
	bool answered;             /* a transfer of the request before the last one was served (sftp.c:
	                            * logged in, listed): the partner is there */
	char detail[512];          /* what the transport knows better than libcurl's text (sftp.c: the host
	                            * key refused), safe text; "" when nothing */
	/* A request of more than one transfer (sftp.c): called as each ends,
	 * before the caller sees it; returns 1 when it set up the next
	 * transfer on easy (started again at once), 0 when the request is
	 * done (result, detail and status as the caller is to see them). */
	int (*next)(struct gf_http_req *r);
	void *stage;               /* next's state, freed with the request by stage_free */
	void (*stage_free)(void *stage);
	void *user;                /* caller's context */
};

/* The transport rules every libcurl handle of guestflow follows (partner
 * requests, pings, SMTP): only the given protocols ("https", "http,https",
 * "smtp,smtps"), no redirects, TLS 1.2 at least, certificate and host name
 * always verified (against ca_file when given, else the system store), and
 * a proxy only when the configuration names one (proxy NULL: none; the
 * environment's http_proxy, HTTPS_PROXY, ALL_PROXY and NO_PROXY are never
 * read), with no_proxy as libcurl's CURLOPT_NOPROXY list. Returns
 * -EPROTONOSUPPORT when libcurl refused one of them: the handle must not be
 * used then. */
int gf_http_secure(CURL *e, const char *protocols, const char *ca_file, const char *proxy,
                   const char *no_proxy);
/* The protocols a job's handles may use: "https", or "http,https" with
 * allow_insecure_http. */
const char *gf_http_protocols(const struct gf_job *job);
/* The configuration keys of job whose URLs are plain http:// (endpoint,
 * ping.start, ...), at most max of them; returns how many. */
size_t gf_http_insecure_urls(const struct gf_job *job, const char **keys, size_t max);

/* The sockets of e's transfers are h's (gf_http_abort()); every handle
 * started on h sets it. */
void gf_http_track_sockets(struct gf_http *h, CURL *e);
/* End every connection of h at once (shutdown(2) of its sockets): what is
 * in flight fails, and no protocol goodbye can wait on a partner that does
 * not answer (libcurl's SFTP disconnect waits with no time limit) when
 * a stopped run cancels and cleans up. */
void gf_http_abort(struct gf_http *h);

/* Start req->easy (set up by the caller) on h. 0, or -EIO. */
int gf_http_add(struct gf_http *h, struct gf_http_req *req);
/* The job h sends for. */
const struct gf_job *gf_http_job(const struct gf_http *h);

/* One multi handle for a run of the job; requests share its connection pool
 * (gf_http_free() ends its connections without waiting on the partner).
 * Logs an insecure_http warning when the endpoint is plain http://. */
struct gf_http *gf_http_new(const struct gf_job *job);
void gf_http_free(struct gf_http *h);

struct gf_http_req *gf_http_req_new(void);
void gf_http_req_free(struct gf_http_req *r);

/* Start a POST of req->body to url (taken over by req), of content_type
 * (the output's), with the header line auth (the output's, carrying the
 * secret; NULL: none). secret is redacted from every error text. */
int gf_http_start(struct gf_http *h, struct gf_http_req *req, char *url, const char *secret,
                  const char *idempotency_key, const char *content_type, const char *auth, bool gzip);

/* Start a GET of url (taken over by req) with the header line auth (NULL:
 * none): an output's connection test or event pull. */
int gf_http_get(struct gf_http *h, struct gf_http_req *req, char *url, const char *secret, const char *auth);

/* Wait up to timeout_ms for transfers to progress, or for fd (when >= 0)
 * to become readable; returns the next finished request in *done (NULL when
 * none finished yet). The caller owns it again. */
int gf_http_poll(struct gf_http *h, int timeout_ms, int fd, struct gf_http_req **done);
int gf_http_in_flight(const struct gf_http *h);
/* Wait for req, the only request in flight on h, to end (the job's
 * timeouts bound it). 0, or a negative error (then it is cancelled). */
int gf_http_wait(struct gf_http *h, struct gf_http_req *req);
/* Abort a request in flight; the caller owns it again. */
void gf_http_cancel(struct gf_http *h, struct gf_http_req *req);

/* base + "/" (unless it ends with one) + before + segment percent-encoded
 * + after (malloc'd): a URL under a job's endpoint. */
char *gf_http_url_under(const char *base, const char *before, const char *segment, const char *after);

/* Person-readable transport error for a finished request ("timeout after
 * 120000 ms", "connection refused: ...", "reply header too large ..." for
 * what libcurl calls out of memory then), made safe text (text.h) with the
 * secret redacted. */
void gf_http_error_text(const struct gf_http_req *r, char *out, size_t outlen);

/* Redact secret in s, in place, in every form gf_text_redact() knows (raw,
 * percent-encoded, '+' for space, JSON and HTML escapes) and every
 * access_key value; s only shrinks. Terminates for any secret. */
void gf_redact(char *s, const char *secret);

#endif
