/* partner-sim: a scriptable review platform on 127.0.0.1 for guestflow's tests, demo and bench;
 * it speaks review-xml and guest-json. */
#include "sim.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <microhttpd.h>

#define CONTROL_PREFIX "/_sim/"
#define TEXT "text/plain; charset=utf-8"
#define JSON "application/json"

enum script_kind { SCRIPT_STATUS, SCRIPT_STALL, SCRIPT_DROP, SCRIPT_ACCEPT_THEN_FAIL, SCRIPT_KINDS };
static const char *const script_names[SCRIPT_KINDS] = { "status", "stall", "drop", "accept_then_fail" };

struct script {
	enum script_kind kind;
	int status;
	long stall_ms, count;
	char *retry_after, *body, *hotel;
	size_t body_len;	/* body may hold any bytes (body_hex) */
	char *ctype;		/* Content-Type of the answer, NULL: text/plain */
	char *header;		/* one more header line, "Name: value" (header_hex), or NULL */
	bool tmpl;		/* expand {url}, {key}... in the body */
	struct script *next;
};

/* What the simulator remembers about an Idempotency-Key it answered 200 to. */
struct key_entry {
	char *reply;   /* the importResult sent the first time */
	char *members; /* sorted booking numbers of that batch, to spot a key reused for others */
	bool json;     /* the reply is guest-json's (application/json), not an importResult */
};

static struct {
	/* fixed once the daemon runs */
	struct sim_map *accounts; /* hotel id -> access key */
	xmlSchemaPtr schema;
	struct sim_sample xsd; /* every fixed; counters atomic (reset under lock) */
	size_t max_body;
	FILE *record, *log;
	/* the rest is guarded by lock */
	pthread_mutex_t lock;
	pthread_cond_t wake; /* broadcast at shutdown to cut sleeps short */
	bool stopping;
	struct script *scripts, **scripts_tail;
	struct sim_map *refuse; /* booking number -> reason */
	struct sim_map *named400; /* pmsId -> reason: guest-json requests naming it get 400 */
	struct sim_map *keys;	/* Idempotency-Key -> struct key_entry */
	struct sim_buf lines;	/* record lines of the batch being accepted, reused */
	char *reply_encoding;	/* declared in 200 replies (not converted to), NULL: UTF-8 */
	long latency_ms;
	unsigned long requests, accepted, rejected, replays, drops, conflicts, guest_json;
	unsigned long status[600];
	unsigned inflight, max_concurrent;
	/* events to report (control "event"), in order; an event's cursor is its index + 1 */
	struct stored_event {
		char *id, *booking_no, *type, *at;
	} *events;
	size_t n_events, cap_events;
} S = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Per-request state, from the first handler call to MHD's completion callback. */
struct req {
	char *uri;		/* the request line's URI as received, query included, or NULL */
	bool started;		/* the handler has seen the request */
	const char *url, *method;
	bool control, guest;	/* /_sim/ endpoint; POST guest list (else 405) */
	bool json, json_get;	/* guest-json: POST .../properties/ID/guests; GET .../properties/ID */
	bool ping;		/* review-xml's test call: GET .../ping */
	bool events;		/* the event pull: review-xml GET .../events, guest-json GET .../properties/ID/events */
	char *prop;		/* guest-json: the property id, decoded */
	bool counted;		/* included in S.inflight */
	bool gzip, discard, too_big;
	struct script *script;	/* the scripted entry this request consumed */
	int verdict;		/* refusal decided from the headers, sent once the body is read */
	const char *verdict_msg;
	struct sim_buf body;
	size_t raw;
	struct timespec t0;
};

static void script_free(struct script *s)
{
	if (!s)
		return;
	free(s->retry_after);
	free(s->body);
	free(s->hotel);
	free(s->ctype);
	free(s->header);
	free(s);
}

static void key_entry_free(void *p)
{
	struct key_entry *e = p;
	if (!e)
		return;
	free(e->reply);
	free(e->members);
	free(e);
}

static char *dup_or_null(const char *s, bool *fail)
{
	char *d = s ? strdup(s) : NULL;
	if (s && !d)
		*fail = true;
	return d;
}

static struct script *script_copy(const struct script *s)
{
	struct script *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	bool fail = false;
	*c = *s;
	c->next = NULL;
	c->retry_after = dup_or_null(s->retry_after, &fail);
	c->body = NULL;
	if (s->body) {
		if ((c->body = malloc(s->body_len + 1))) {
			memcpy(c->body, s->body, s->body_len);
			c->body[s->body_len] = '\0';
		} else {
			fail = true;
		}
	}
	c->hotel = dup_or_null(s->hotel, &fail);
	c->ctype = dup_or_null(s->ctype, &fail);
	c->header = dup_or_null(s->header, &fail);
	if (fail) {
		script_free(c);
		return NULL;
	}
	return c;
}

static int parse_long(const char *s, long min, long max, long *out)
{
	if (!s || !*s)
		return -EINVAL;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '.' || c == '_' || c == '~';
}

static int hexdig(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

/* Hex digits to bytes (malloc'd, NUL-terminated, the length in *len); NULL
 * when h is not an even number of hex digits or memory runs out. */
static char *unhex(const char *h, size_t *len)
{
	size_t n = strlen(h);
	if (n % 2)
		return NULL;
	char *out = malloc(n / 2 + 1);
	for (size_t i = 0; out && i < n; i += 2) {
		int a = hexdig(h[i]), b = hexdig(h[i + 1]);
		if (a < 0 || b < 0) {
			free(out);
			return NULL;
		}
		out[i / 2] = (char)(a * 16 + b);
	}
	if (out) {
		out[n / 2] = '\0';
		*len = n / 2;
	}
	return out;
}

/* "Name: value" for one more response header: a token for a name, a value of
 * any bytes but NUL, CR and LF (which would end the header). */
static bool header_ok(const char *h, size_t len)
{
	const char *colon = memchr(h, ':', len);
	if (!colon || colon == h || colon - h > 100 || strlen(h) != len || strpbrk(h, "\r\n"))
		return false;
	for (const char *p = h; p < colon; p++)
		if (!(unreserved((unsigned char)*p) || strchr("!#$%&'*+^`|", *p)))
			return false;
	return true;
}

static const char *arg(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

static const char *header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* The account a request names: the property id (guest-json) or the id parameter. */
static const char *req_id(struct MHD_Connection *c, const struct req *r)
{
	return r->json || r->json_get ? r->prop : arg(c, "id");
}

/* The token of "Authorization: Bearer <token>" (scheme in any case), or NULL. */
static const char *bearer(struct MHD_Connection *c)
{
	const char *h = header(c, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h || strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t'))
		return NULL;
	for (h += 6; *h == ' ' || *h == '\t';)
		h++;
	return h;
}

/* The credential a request carries: the bearer token (guest-json) or access_key. */
static const char *req_secret(struct MHD_Connection *c, const struct req *r)
{
	return r->json || r->json_get ? bearer(c) : arg(c, "access_key");
}

/* Sleep up to ms milliseconds; returns false early when the simulator shuts down. */
static bool sim_sleep(long ms)
{
	bool awake = true;
	if (ms <= 0)
		return true;
	struct timespec end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += ms / 1000;
	end.tv_nsec += (ms % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&S.lock);
	while (!S.stopping && pthread_cond_timedwait(&S.wake, &S.lock, &end) != ETIMEDOUT)
		;
	awake = !S.stopping;
	pthread_mutex_unlock(&S.lock);
	return awake;
}

/* Copy s for a log line: printable ASCII only, bounded. */
static const char *clean(char *dst, size_t n, const char *s)
{
	size_t i = 0;
	for (; s && *s && i + 1 < n; s++)
		dst[i++] = (*s > 0x20 && *s < 0x7f) ? *s : '?';
	dst[i] = '\0';
	return i ? dst : "-";
}

static void log_request(struct MHD_Connection *c, const struct req *r, int status, const char *note)
{
	struct timespec now, mono;
	struct tm tm;
	char ts[32], m[16], path[128], hotel[80], key[80];
	clock_gettime(CLOCK_REALTIME, &now);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	long ms = (long)(mono.tv_sec - r->t0.tv_sec) * 1000 + (mono.tv_nsec - r->t0.tv_nsec) / 1000000;
	/* the URL MHD hands us has no query string: the access key never reaches the log */
	fprintf(S.log, "%s.%03ldZ %s %s hotel=%s idem=%s status=%d in=%zu ms=%ld%s%s\n", ts,
		now.tv_nsec / 1000000, clean(m, sizeof m, r->method), clean(path, sizeof path, r->url),
		clean(hotel, sizeof hotel, req_id(c, r)), clean(key, sizeof key, header(c, "Idempotency-Key")),
		status, r->raw, ms, note ? " " : "", note ? note : "");
}

static void count_request(int status, bool drop, bool json)
{
	pthread_mutex_lock(&S.lock);
	S.requests++;
	if (json)
		S.guest_json++;
	if (drop)
		S.drops++;
	else if (status >= 0 && status < 600)
		S.status[status]++;
	pthread_mutex_unlock(&S.lock);
}

/* An answer of any bytes, with one more header line ("Name: value") when given. */
static enum MHD_Result reply_bytes(struct MHD_Connection *c, struct req *r, int status, const char *ctype,
				   const char *body, size_t len, const char *retry_after, const char *header,
				   const char *note)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (retry_after)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
	if (header) {
		char name[128];
		const char *colon = strchr(header, ':');
		size_t nl = colon ? (size_t)(colon - header) : 0;
		if (nl && nl < sizeof name) {
			memcpy(name, header, nl);
			name[nl] = '\0';
			const char *v = colon + 1;
			while (*v == ' ')
				v++;
			MHD_add_response_header(resp, name, v);
		}
	}
	enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	if (r->guest)
		count_request(status, false, r->json);
	log_request(c, r, status, note);
	return ret;
}

static enum MHD_Result reply(struct MHD_Connection *c, struct req *r, int status, const char *ctype,
			     const char *body, const char *retry_after, const char *note)
{
	return reply_bytes(c, r, status, ctype, body, strlen(body), retry_after, NULL, note);
}

/* A refusal: the text as it is (review-xml), or {"error":"text"} (guest-json). */
static enum MHD_Result refuse(struct MHD_Connection *c, struct req *r, int status, const char *msg, const char *note)
{
	if (!r->json && !r->json_get)
		return reply(c, r, status, TEXT, msg, NULL, note);
	char *body = sim_json_error(msg, 0, NULL, NULL);
	enum MHD_Result ret = body ? reply(c, r, status, JSON, body, NULL, note)
				   : reply(c, r, 500, TEXT, "out of memory", NULL, note);
	free(body);
	return ret;
}

/* s percent-encoded: hex in upper or lower case, a space as '+' when plus. */
static int add_encoded(struct sim_buf *b, const char *s, bool lower, bool plus)
{
	int e = 0;
	for (const unsigned char *p = (const unsigned char *)s; e == 0 && *p; p++) {
		if (unreserved(*p))
			e = sim_buf_add(b, p, 1);
		else if (*p == ' ' && plus)
			e = sim_buf_add(b, "+", 1);
		else
			e = sim_buf_printf(b, lower ? "%%%02x" : "%%%02X", *p);
	}
	return e;
}

/* A scripted body with {url} (the URI as received, access key and all),
 * {key} (the access key as decoded; guest-json: the bearer token), {key_upper},
 * {key_lower} (percent-encoded in that hex case), {key_plus} ('+' for a space)
 * and {hotel} (guest-json: the property id) expanded. */
static int expand(struct MHD_Connection *c, const struct req *r, const char *body, size_t len, struct sim_buf *out)
{
	static const char *const toks[] = { "{url}", "{key}", "{key_upper}", "{key_lower}", "{key_plus}", "{hotel}" };
	const char *key = req_secret(c, r), *hotel = req_id(c, r);
	int e = 0;
	if (!key)
		key = "";
	for (size_t i = 0; e == 0 && i < len; i++) {
		size_t t = 0;
		while (t < sizeof toks / sizeof *toks &&
		       (len - i < strlen(toks[t]) || memcmp(body + i, toks[t], strlen(toks[t])) != 0))
			t++;
		switch (t) {
		case 0: e = sim_buf_adds(out, r->uri ? r->uri : r->url); break;
		case 1: e = sim_buf_adds(out, key); break;
		case 2: e = add_encoded(out, key, false, false); break;
		case 3: e = add_encoded(out, key, true, false); break;
		case 4: e = add_encoded(out, key, false, true); break;
		case 5: e = sim_buf_adds(out, hotel ? hotel : ""); break;
		default: e = sim_buf_add(out, body + i, 1); continue;
		}
		i += strlen(toks[t]) - 1;
	}
	return e;
}

/* The answer a status or accept_then_fail script gives. */
static enum MHD_Result scripted(struct MHD_Connection *c, struct req *r, const struct script *s,
				const char *default_body, const char *note)
{
	const char *body = s->body ? s->body : default_body;
	size_t len = s->body ? s->body_len : strlen(default_body);
	const char *ctype = s->ctype ? s->ctype : TEXT;
	if (!s->tmpl)
		return reply_bytes(c, r, s->status, ctype, body, len, s->retry_after, s->header, note);
	struct sim_buf b;
	sim_buf_init(&b, 1 << 24);
	if (sim_buf_add(&b, "", 0) < 0 || expand(c, r, body, len, &b) < 0) {
		sim_buf_free(&b);
		return reply(c, r, 500, TEXT, "out of memory", NULL, NULL);
	}
	enum MHD_Result ret = reply_bytes(c, r, s->status, ctype, b.data, b.len, s->retry_after, s->header, note);
	sim_buf_free(&b);
	return ret;
}

/* First queued script that applies to this hotel; consumes one of its count. Under lock. */
static struct script *take_script(const char *hotel)
{
	for (struct script **pp = &S.scripts; *pp; pp = &(*pp)->next) {
		struct script *s = *pp;
		if (s->hotel && (!hotel || strcmp(s->hotel, hotel) != 0))
			continue;
		struct script *c = script_copy(s);
		if (--s->count == 0) {
			*pp = s->next;
			if (S.scripts_tail == &s->next)
				S.scripts_tail = pp;
			script_free(s);
		}
		return c;
	}
	return NULL;
}

static void set_verdict(struct req *r, int status, const char *msg)
{
	if (!r->verdict) {
		r->verdict = status;
		r->verdict_msg = msg;
	}
}

/* Headers are in: take a script, decide what the headers alone already refuse. */
static enum MHD_Result begin_guest(struct MHD_Connection *c, struct req *r)
{
	const char *id = req_id(c, r);
	pthread_mutex_lock(&S.lock);
	if (++S.inflight > S.max_concurrent)
		S.max_concurrent = S.inflight;
	r->counted = true;
	r->script = take_script(id);
	pthread_mutex_unlock(&S.lock);
	if (r->script && (r->script->kind == SCRIPT_STATUS || r->script->kind == SCRIPT_DROP)) {
		r->discard = true; /* the body is read and thrown away */
		return MHD_YES;
	}

	const char *key = req_secret(c, r);
	const char *want = id && *id ? sim_map_get(S.accounts, id) : NULL;
	const char *idem = header(c, "Idempotency-Key");
	const char *enc = header(c, MHD_HTTP_HEADER_CONTENT_ENCODING);
	if (!want)
		set_verdict(r, 404, r->json ? "unknown property" : "invalid hotel");
	else if (!key || !*key || strcmp(key, want) != 0)
		set_verdict(r, r->json ? 401 : 403, r->json ? "invalid token" : "invalid access key");
	else if (!idem || !*idem)
		set_verdict(r, 400, "missing Idempotency-Key");
	else if (enc && (!strcasecmp(enc, "gzip") || !strcasecmp(enc, "x-gzip")))
		r->gzip = true;
	else if (enc && *enc && strcasecmp(enc, "identity") != 0)
		set_verdict(r, 415, "unsupported Content-Encoding");

	/* A declared length past the cap is refused before the body is read at all. */
	const char *cl = header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		errno = 0;
		unsigned long long n = strtoull(cl, NULL, 10);
		if (errno == ERANGE || n > S.max_body) {
			set_verdict(r, 413, "request body too large");
			r->too_big = true;
			return refuse(c, r, r->verdict, r->verdict_msg, "early");
		}
	}
	return MHD_YES;
}

/* The record keys before each field's value, in sim_field_names order. */
#define RECORD_KEY(k) { ",\"" k "\":", sizeof(",\"" k "\":") - 1 }
static const struct {
	const char *s;
	size_t n;
} record_keys[SIM_F_COUNT] = {
	RECORD_KEY("bookingNo"), RECORD_KEY("lastName"), RECORD_KEY("firstName"),
	RECORD_KEY("email"),	 RECORD_KEY("gender"),	 RECORD_KEY("language"),
	RECORD_KEY("status"),	 RECORD_KEY("arrival"),	 RECORD_KEY("departure"),
};

/* One record line: head (hotelId, the same for the whole batch), the guest's fields,
 * tail (idempotencyKey, batchId, for guest-json format, end of line). */
static int append_record(struct sim_buf *out, const struct sim_buf *head, const struct sim_buf *tail,
			 const struct sim_guest *g)
{
	int r = sim_buf_add(out, head->data, head->len);
	for (int i = 0; r == 0 && i < SIM_F_COUNT; i++) {
		r = sim_buf_add(out, record_keys[i].s, record_keys[i].n);
		r = r ? r : sim_buf_json(out, g->f[i]);
	}
	return r ? r : sim_buf_add(out, tail->data, tail->len);
}

/* Accept a validated batch: refuse listed bookings, record the rest, remember the key.
 * Under lock. Returns 200 with *body set (an importResult, or guest-json's reply when
 * json), or 500. Takes ownership of members. */
static int accept_batch(const char *id, const char *idem, const struct sim_batch *b, char *members,
			char **body, bool json)
{
	const char **bn = calloc(b->n + 1, sizeof *bn), **why = calloc(b->n + 1, sizeof *why);
	struct key_entry *e = calloc(1, sizeof *e);
	struct sim_buf *lines = &S.lines, head, tail;
	sim_buf_init(&head, SIZE_MAX / 2);
	sim_buf_init(&tail, SIZE_MAX / 2);
	lines->len = 0; /* kept from the last batch, under the same lock */
	size_t nacc = 0, nrej = 0;
	int r = bn && why && e && members ? 0 : -ENOMEM;
	r = r ? r : sim_buf_add(&head, "{\"hotelId\":", sizeof "{\"hotelId\":" - 1);
	r = r ? r : sim_buf_json(&head, id);
	r = r ? r : sim_buf_add(&tail, ",\"idempotencyKey\":", sizeof ",\"idempotencyKey\":" - 1);
	r = r ? r : sim_buf_json(&tail, idem);
	r = r ? r : sim_buf_add(&tail, ",\"batchId\":", sizeof ",\"batchId\":" - 1);
	r = r ? r : sim_buf_json(&tail, b->batch_id);
	if (json)
		r = r ? r : sim_buf_adds(&tail, ",\"format\":\"guest-json\"");
	r = r ? r : sim_buf_add(&tail, "}\n", sizeof "}\n" - 1);
	for (size_t i = 0; r == 0 && i < b->n; i++) {
		const struct sim_guest *g = &b->guests[i];
		const char *reason = sim_map_get(S.refuse, g->f[SIM_F_BOOKING_NO]);
		if (reason) {
			bn[nrej] = g->f[SIM_F_BOOKING_NO];
			why[nrej++] = reason;
		} else {
			nacc++;
			r = append_record(lines, &head, &tail, g);
		}
	}
	if (r == 0 && !(e->reply = json ? sim_json_result(nacc, nrej, bn, why)
					: sim_import_result(nacc, nrej, bn, why, S.reply_encoding)))
		r = -ENOMEM;
	if (r == 0)
		e->json = json;
	if (r == 0 && !(*body = strdup(e->reply)))
		r = -ENOMEM;
	if (r == 0 && lines->len && (fwrite(lines->data, 1, lines->len, S.record) != lines->len || fflush(S.record)))
		r = -EIO;
	if (r == 0) {
		e->members = members;
		members = NULL;
		if (sim_map_put(S.keys, idem, e) < 0)
			key_entry_free(e); /* recorded, but a replay will be recorded again */
		e = NULL;
		S.accepted += nacc;
		S.rejected += nrej;
	} else if (*body) {
		free(*body);
		*body = NULL;
	}
	key_entry_free(e);
	free(members);
	free(bn);
	free(why);
	sim_buf_free(&head);
	sim_buf_free(&tail);
	if (lines->cap > (16u << 20)) /* keep a usual batch's worth for the next one */
		sim_buf_free(lines);
	if (r == -EIO)
		fprintf(S.log, "partner-sim: cannot write the record file\n");
	return r == 0 ? 200 : 500;
}

/* Guests of a checked guest-json batch that are on the named-400 list: the body of
 * a 400 naming them, or NULL (none, or *oom set). Under lock. */
static char *named_400(const struct sim_batch *b, size_t *named, bool *oom)
{
	const char **ids = calloc(b->n + 1, sizeof *ids), **why = calloc(b->n + 1, sizeof *why);
	char *body = NULL;
	size_t n = 0;
	for (size_t i = 0; ids && why && i < b->n; i++) {
		const char *reason = sim_map_get(S.named400, b->guests[i].f[SIM_F_BOOKING_NO]);
		if (reason) {
			ids[n] = b->guests[i].f[SIM_F_BOOKING_NO];
			why[n++] = reason;
		}
	}
	if (!ids || !why)
		*oom = true;
	else if (n && !(body = sim_json_error("invalid records", n, ids, why)))
		*oom = true;
	*named = body ? n : 0;
	free(ids);
	free(why);
	return body;
}

/* The body is in and the headers were fine: decode, check, replay or accept. */
static enum MHD_Result import(struct MHD_Connection *c, struct req *r)
{
	const char *id = req_id(c, r), *idem = header(c, "Idempotency-Key");
	const char *data = r->body.data ? r->body.data : "";
	size_t n = r->body.len;
	struct sim_buf plain;
	struct sim_batch xb = { 0 };
	struct sim_json_batch jb = { 0 };
	const struct sim_batch *b = r->json ? &jb.b : &xb;
	char err[600];
	int status = 0;
	const char *msg = NULL;
	char *body = NULL;
	bool replay = false, reply_json = r->json;

	sim_buf_init(&plain, S.max_body);
	if (r->gzip) {
		int g = sim_gunzip(data, n, S.max_body, &plain);
		if (g == -E2BIG)
			status = 413, msg = "request body too large";
		else if (g < 0)
			status = 400, msg = "bad gzip";
		data = plain.data ? plain.data : "";
		n = plain.len;
	}
	if (!status && r->json) {
		int j;
		if (!sim_json_ctype_ok(header(c, MHD_HTTP_HEADER_CONTENT_TYPE)))
			status = 415, msg = "unsupported Content-Type";
		else if ((j = sim_json_parse(data, n, idem, &jb, err, sizeof err)) != 0)
			status = j < 0 ? 500 : j, msg = err;
	} else if (!status) {
		if (sim_batch_parse(S.schema, &S.xsd, data, n, &xb, err, sizeof err) < 0)
			status = 400, msg = err;
		if (!status && strcmp(xb.hotel_id, id) != 0)
			status = 400, msg = "hotelId mismatch";
	}
	char *members = status ? NULL : sim_batch_members(b);

	/* One critical section for lookup, record and remember: concurrent requests with
	 * the same key cannot both be recorded. Parsing and checks above run in parallel. */
	pthread_mutex_lock(&S.lock);
	struct key_entry *e = sim_map_get(S.keys, idem);
	if (e) {
		replay = true;
		S.replays++;
		/* keys are global: one first answered in the other format is a conflict too */
		if (!members || strcmp(members, e->members) != 0 || e->json != r->json)
			S.conflicts++;
		body = strdup(e->reply);
		reply_json = e->json;
		status = body ? 200 : 500;
		free(members);
	} else if (!status) {
		size_t named = 0;
		bool oom = false;
		if (r->json && (body = named_400(b, &named, &oom))) {
			status = 400; /* not remembered: a resend is checked again */
			S.rejected += named;
			free(members);
		} else if (oom) {
			status = 500, msg = "out of memory";
			free(members);
		} else {
			status = accept_batch(id, idem, b, members, &body, r->json);
		}
	} else {
		free(members);
	}
	pthread_mutex_unlock(&S.lock);
	sim_batch_free(&xb);
	sim_json_batch_free(&jb);
	sim_buf_free(&plain);

	enum MHD_Result ret;
	const struct script *s = r->script;
	if (status == 200 && s && s->kind == SCRIPT_ACCEPT_THEN_FAIL)
		ret = scripted(c, r, s, "accepted, then failed (scripted)",
			       replay ? "replay accept_then_fail" : "accept_then_fail");
	else if (status == 200)
		ret = reply(c, r, 200, reply_json ? JSON : "application/xml", body, NULL, replay ? "replay" : NULL);
	else if (body) /* guest-json's 400 naming records */
		ret = reply(c, r, status, JSON, body, NULL, "named400");
	else
		ret = refuse(c, r, status, msg ? msg : "internal error", NULL);
	free(body);
	return ret;
}

static enum MHD_Result finish_guest(struct MHD_Connection *c, struct req *r)
{
	pthread_mutex_lock(&S.lock);
	long latency = S.latency_ms;
	pthread_mutex_unlock(&S.lock);
	const struct script *s = r->script;
	/* shutting down: do not start recording anything */
	if (!sim_sleep(latency) || (s && s->kind == SCRIPT_STALL && !sim_sleep(s->stall_ms)))
		return MHD_NO;
	if (s && s->kind == SCRIPT_DROP) {
		count_request(0, true, r->json);
		log_request(c, r, 0, "drop");
		return MHD_NO; /* MHD closes the connection without answering */
	}
	if (s && s->kind == SCRIPT_STATUS)
		return scripted(c, r, s, "scripted response", "script");
	if (r->verdict)
		return refuse(c, r, r->verdict, r->verdict_msg, NULL);
	if (r->too_big)
		return refuse(c, r, 413, "request body too large", NULL);
	return import(c, r);
}

static enum MHD_Result ctl_script(struct MHD_Connection *c, struct req *r)
{
	struct script s = { .count = 1 };
	const char *action = arg(c, "action"), *v;
	long n;
	int k = 0;
	if (action)
		for (k = 0; k < SCRIPT_KINDS && strcmp(action, script_names[k]) != 0; k++)
			;
	if (k == SCRIPT_KINDS)
		return reply(c, r, 400, TEXT, "unknown action", NULL, NULL);
	s.kind = (enum script_kind)k;
	if ((v = arg(c, "count")) && parse_long(v, 1, 1000000, &s.count) < 0)
		return reply(c, r, 400, TEXT, "bad count", NULL, NULL);
	if (s.kind == SCRIPT_STATUS || s.kind == SCRIPT_ACCEPT_THEN_FAIL) {
		if (parse_long(arg(c, "status"), 200, 599, &n) < 0)
			return reply(c, r, 400, TEXT, "bad or missing status (200-599)", NULL, NULL);
		s.status = (int)n;
	}
	if (s.kind == SCRIPT_STALL) {
		char *end;
		double sec = (v = arg(c, "seconds")) ? strtod(v, &end) : -1;
		if (!v || *end || !isfinite(sec) || sec < 0 || sec > 3600)
			return reply(c, r, 400, TEXT, "bad or missing seconds (0-3600)", NULL, NULL);
		s.stall_ms = lround(sec * 1000);
	}
	if ((v = arg(c, "retry_after")) && (!sim_text_ok(v) || strchr(v, '\n')))
		return reply(c, r, 400, TEXT, "bad retry_after", NULL, NULL);
	s.retry_after = (char *)(uintptr_t)v;
	if ((v = arg(c, "content_type")) && (!*v || !sim_text_ok(v) || strpbrk(v, "\r\n")))
		return reply(c, r, 400, TEXT, "bad content_type", NULL, NULL);
	s.ctype = (char *)(uintptr_t)v;
	if ((v = arg(c, "template")) && strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
		return reply(c, r, 400, TEXT, "bad template (0 or 1)", NULL, NULL);
	s.tmpl = v && v[0] == '1';
	const char *body = arg(c, "body"), *body_hex = arg(c, "body_hex"), *header_hex = arg(c, "header_hex");
	if (body && body_hex)
		return reply(c, r, 400, TEXT, "body and body_hex exclude each other", NULL, NULL);
	char *bytes = NULL, *header = NULL;
	size_t header_n = 0, body_n = 0;
	if (body_hex && !(bytes = unhex(body_hex, &body_n)))
		return reply(c, r, 400, TEXT, "bad body_hex (hex digits, two a byte)", NULL, NULL);
	if (header_hex && (!(header = unhex(header_hex, &header_n)) || !header_ok(header, header_n))) {
		free(bytes);
		free(header);
		return reply(c, r, 400, TEXT, "bad header_hex (Name: value, no NUL, CR or LF)", NULL, NULL);
	}
	s.body = bytes ? bytes : (char *)(uintptr_t)body;
	s.body_len = bytes ? body_n : body ? strlen(body) : 0;
	s.header = header;
	s.hotel = (char *)(uintptr_t)arg(c, "hotel");
	struct script *copy = script_copy(&s);
	free(bytes);
	free(header);
	if (!copy)
		return reply(c, r, 500, TEXT, "out of memory", NULL, NULL);
	pthread_mutex_lock(&S.lock);
	*S.scripts_tail = copy;
	S.scripts_tail = &copy->next;
	pthread_mutex_unlock(&S.lock);
	return reply(c, r, 200, TEXT, "ok", NULL, script_names[k]);
}

static enum MHD_Result ctl_refuse(struct MHD_Connection *c, struct req *r)
{
	const char *bn = arg(c, "bookingNo"), *reason = arg(c, "reason"), *reason_hex = arg(c, "reason_hex");
	const char *named = arg(c, "named400");
	if (!bn || !*bn)
		return reply(c, r, 400, TEXT, "missing bookingNo", NULL, NULL);
	if (named && strcmp(named, "0") != 0 && strcmp(named, "1") != 0)
		return reply(c, r, 400, TEXT, "bad named400 (0 or 1)", NULL, NULL);
	struct sim_map *list = named && named[0] == '1' ? S.named400 : S.refuse;
	if (reason && reason_hex)
		return reply(c, r, 400, TEXT, "reason and reason_hex exclude each other", NULL, NULL);
	if (!reason)
		reason = "refused by simulator";
	if (!reason_hex && !sim_text_ok(reason))
		return reply(c, r, 400, TEXT, "reason must be UTF-8 text", NULL, NULL);
	char *copy;
	if (reason_hex) {
		/* raw: the bytes go into the reply's reason="..." as they are (SIM_RAW_REASON) */
		size_t n = 0;
		char *bytes = unhex(reason_hex, &n);
		if (!bytes || strlen(bytes) != n) {
			free(bytes);
			return reply(c, r, 400, TEXT, "bad reason_hex (hex digits, two a byte, no NUL)", NULL, NULL);
		}
		copy = malloc(n + 2);
		if (copy) {
			copy[0] = SIM_RAW_REASON;
			memcpy(copy + 1, bytes, n + 1);
		}
		free(bytes);
	} else {
		copy = strdup(reason);
	}
	pthread_mutex_lock(&S.lock);
	int e = copy ? sim_map_put(list, bn, copy) : -ENOMEM;
	pthread_mutex_unlock(&S.lock);
	if (e < 0) {
		free(copy);
		return reply(c, r, 500, TEXT, "out of memory", NULL, NULL);
	}
	return reply(c, r, 200, TEXT, "ok", NULL, NULL);
}

static enum MHD_Result ctl_stats(struct MHD_Connection *c, struct req *r)
{
	struct sim_buf j;
	sim_buf_init(&j, 1 << 20);
	pthread_mutex_lock(&S.lock);
	size_t nscripts = 0;
	for (struct script *s = S.scripts; s; s = s->next)
		nscripts += (size_t)s->count;
	int e = sim_buf_printf(&j, "{\"requests\":%lu,\"accepted\":%lu,\"rejected\":%lu,\"replays\":%lu,"
				   "\"drops\":%lu,\"key_conflicts\":%lu,\"guest_json\":%lu,\"status\":{",
			       S.requests, S.accepted, S.rejected, S.replays, S.drops, S.conflicts, S.guest_json);
	const char *sep = "";
	for (int i = 0; e == 0 && i < 600; i++) {
		if (S.status[i]) {
			e = sim_buf_printf(&j, "%s\"%d\":%lu", sep, i, S.status[i]);
			sep = ",";
		}
	}
	if (e == 0)
		e = sim_buf_printf(&j, "},\"max_concurrent\":%u,\"keys\":%zu,\"scripts\":%zu,\"latency_ms\":%ld,"
				   "\"validated\":%llu}",
				   S.max_concurrent, sim_map_count(S.keys), nscripts, S.latency_ms,
				   atomic_load(&S.xsd.validated));
	pthread_mutex_unlock(&S.lock);
	enum MHD_Result ret = e ? reply(c, r, 500, TEXT, "out of memory", NULL, NULL)
				: reply(c, r, 200, "application/json", j.data, NULL, NULL);
	sim_buf_free(&j);
	return ret;
}

static enum MHD_Result control(struct MHD_Connection *c, struct req *r)
{
	const char *what = r->url + strlen(CONTROL_PREFIX);
	long n;
	if (!strcmp(what, "health"))
		return reply(c, r, 200, TEXT, "ok", NULL, NULL);
	if (!strcmp(what, "stats"))
		return ctl_stats(c, r);
	if (!strcmp(what, "script"))
		return ctl_script(c, r);
	if (!strcmp(what, "refuse"))
		return ctl_refuse(c, r);
	if (!strcmp(what, "reply")) {
		const char *enc = arg(c, "encoding");
		for (const char *p = enc; p && *p; p++)
			if (!unreserved((unsigned char)*p) && *p != ':')
				return reply(c, r, 400, TEXT, "bad encoding (letters, digits, - . _ : ~)", NULL, NULL);
		char *copy = enc && *enc ? strdup(enc) : NULL;
		if (enc && *enc && !copy)
			return reply(c, r, 500, TEXT, "out of memory", NULL, NULL);
		pthread_mutex_lock(&S.lock);
		free(S.reply_encoding);
		S.reply_encoding = copy;
		pthread_mutex_unlock(&S.lock);
		return reply(c, r, 200, TEXT, "ok", NULL, NULL);
	}
	if (!strcmp(what, "event")) {
		const char *id = arg(c, "id"), *no = arg(c, "bookingNo"), *type = arg(c, "type"), *at = arg(c, "at");
		if (!id || !*id || !no || !*no || !type || !*type)
			return reply(c, r, 400, TEXT, "needs id, bookingNo and type (at optional)", NULL, NULL);
		pthread_mutex_lock(&S.lock);
		int e = 0;
		if (S.n_events == S.cap_events) {
			size_t cap = S.cap_events ? 2 * S.cap_events : 16;
			void *v = realloc(S.events, cap * sizeof *S.events);
			if (v) {
				S.events = v;
				S.cap_events = cap;
			} else {
				e = -1;
			}
		}
		if (e == 0) {
			struct stored_event *x = &S.events[S.n_events];
			x->id = strdup(id);
			x->booking_no = strdup(no);
			x->type = strdup(type);
			x->at = strdup(at && *at ? at : "2026-11-23T10:00:00Z");
			if (x->id && x->booking_no && x->type && x->at)
				S.n_events++;
			else
				e = -1;
		}
		pthread_mutex_unlock(&S.lock);
		return e ? reply(c, r, 500, TEXT, "out of memory", NULL, NULL) : reply(c, r, 200, TEXT, "ok", NULL, NULL);
	}
	if (!strcmp(what, "latency")) {
		if (parse_long(arg(c, "ms"), 0, 600000, &n) < 0)
			return reply(c, r, 400, TEXT, "bad or missing ms (0-600000)", NULL, NULL);
		pthread_mutex_lock(&S.lock);
		S.latency_ms = n;
		pthread_mutex_unlock(&S.lock);
		return reply(c, r, 200, TEXT, "ok", NULL, NULL);
	}
	if (!strcmp(what, "reset")) {
		pthread_mutex_lock(&S.lock);
		while (S.scripts) {
			struct script *s = S.scripts;
			S.scripts = s->next;
			script_free(s);
		}
		S.scripts_tail = &S.scripts;
		sim_map_clear(S.refuse);
		sim_map_clear(S.named400);
		sim_map_clear(S.keys);
		free(S.reply_encoding);
		S.reply_encoding = NULL;
		S.requests = S.accepted = S.rejected = S.replays = S.drops = S.conflicts = S.guest_json = 0;
		atomic_store(&S.xsd.reached, 0); /* the next document is validated again */
		atomic_store(&S.xsd.validated, 0);
		memset(S.status, 0, sizeof S.status);
		S.max_concurrent = S.inflight;
		pthread_mutex_unlock(&S.lock);
		return reply(c, r, 200, TEXT, "ok", NULL, NULL);
	}
	return reply(c, r, 404, TEXT, "unknown control endpoint", NULL, NULL);
}

/* guest-json's test call, GET .../properties/ID: not a guest list (no stats, scripts or latency). */
static enum MHD_Result property(struct MHD_Connection *c, struct req *r)
{
	const char *want = *r->prop ? sim_map_get(S.accounts, r->prop) : NULL, *token = bearer(c);
	if (!want)
		return refuse(c, r, 404, "unknown property", NULL);
	if (!token || strcmp(token, want) != 0)
		return refuse(c, r, 401, "invalid token", NULL);
	char *body = sim_json_property(r->prop);
	enum MHD_Result ret = body ? reply(c, r, 200, JSON, body, NULL, NULL) : refuse(c, r, 500, "out of memory", NULL);
	free(body);
	return ret;
}

/* review-xml's test call, GET .../ping?id=&access_key=: not a guest list either. */
static enum MHD_Result ping(struct MHD_Connection *c, struct req *r)
{
	const char *id = arg(c, "id"), *key = arg(c, "access_key");
	const char *want = id && *id ? sim_map_get(S.accounts, id) : NULL;
	if (!want)
		return refuse(c, r, 404, "invalid hotel", NULL);
	if (!key || strcmp(key, want) != 0)
		return refuse(c, r, 403, "invalid access key", NULL);
	char *body = sim_pong(id);
	enum MHD_Result ret = body ? reply(c, r, 200, "application/xml", body, NULL, NULL) : refuse(c, r, 500, "out of memory", NULL);
	free(body);
	return ret;
}

/* The event pull of both formats: the account's events after the cursor
 * (after=N: the N-th event reported so far), up to limit=; next is the
 * last one's cursor (or after= when there is none). */
static enum MHD_Result events(struct MHD_Connection *c, struct req *r)
{
	bool json = r->prop != NULL;
	const char *id = json ? r->prop : arg(c, "id");
	const char *key = json ? bearer(c) : arg(c, "access_key");
	const char *want = id && *id ? sim_map_get(S.accounts, id) : NULL;
	if (!want)
		return json ? refuse(c, r, 404, "unknown property", NULL) : refuse(c, r, 404, "invalid hotel", NULL);
	if (!key || strcmp(key, want) != 0)
		return json ? refuse(c, r, 401, "invalid token", NULL) : refuse(c, r, 403, "invalid access key", NULL);
	long after = 0, limit = 1000000;
	const char *a = arg(c, "after"), *l = arg(c, "limit");
	if ((a && parse_long(a, 0, 1000000000, &after) < 0) || (l && parse_long(l, 1, 1000000, &limit) < 0))
		return refuse(c, r, 400, "bad after or limit", NULL);
	pthread_mutex_lock(&S.lock);
	struct sim_event *out = calloc(S.n_events ? S.n_events : 1, sizeof *out);
	size_t n = 0, last = (size_t)after;
	for (size_t i = (size_t)after; out && i < S.n_events && (long)n < limit; i++) {
		if (strcmp(S.events[i].id, id) != 0)
			continue;
		out[n++] = (struct sim_event){ S.events[i].booking_no, S.events[i].type, S.events[i].at };
		last = i + 1;
	}
	char next[32];
	snprintf(next, sizeof next, "%zu", n ? last : (size_t)after);
	char *body = out ? (json ? sim_json_events(out, n, next) : sim_events_xml(out, n, next)) : NULL;
	pthread_mutex_unlock(&S.lock);
	free(out);
	enum MHD_Result ret = body ? reply(c, r, 200, json ? JSON : "application/xml", body, NULL, NULL)
				   : refuse(c, r, 500, "out of memory", NULL);
	free(body);
	return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			       const char *version, const char *upload, size_t *upload_size, void **ctx)
{
	(void)cls;
	(void)version;
	struct req *r = *ctx;
	if (!r || !r->started) {
		if (!r && !(r = calloc(1, sizeof *r)))
			return MHD_NO;
		*ctx = r;
		r->started = true;
		r->url = url;
		r->method = method;
		clock_gettime(CLOCK_MONOTONIC, &r->t0);
		sim_buf_init(&r->body, S.max_body);
		r->control = strncmp(url, CONTROL_PREFIX, strlen(CONTROL_PREFIX)) == 0;
		r->guest = !r->control && strcmp(method, MHD_HTTP_METHOD_POST) == 0;
		r->discard = !r->guest;
		if (!r->control) {
			/* guest-json is told by the path as sent: MHD's url is decoded (%2F) */
			enum sim_route route = sim_json_route(r->uri ? r->uri : url, &r->prop);
			if (route == SIM_ROUTE_OOM)
				return MHD_NO;
			r->json = r->guest && route == SIM_ROUTE_GUESTS;
			r->json_get = route == SIM_ROUTE_PROPERTY && strcmp(method, MHD_HTTP_METHOD_GET) == 0;
			size_t ul = strlen(url);
			bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
			r->ping = !r->json_get && get && route == SIM_ROUTE_NONE && ul >= 5 &&
				  strcmp(url + ul - 5, "/ping") == 0;
			r->events = get && (route == SIM_ROUTE_EVENTS ||
					    (route == SIM_ROUTE_NONE && ul >= 7 && strcmp(url + ul - 7, "/events") == 0));
		}
		return r->guest ? begin_guest(c, r) : MHD_YES;
	}
	if (*upload_size) {
		/* past the cap: stop storing, keep draining, answer 413 at the end */
		r->raw += *upload_size;
		if (!r->discard && !r->too_big && sim_buf_add(&r->body, upload, *upload_size) < 0) {
			r->too_big = true;
			sim_buf_free(&r->body);
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->control)
		return control(c, r);
	if (r->json_get)
		return property(c, r);
	if (r->ping)
		return ping(c, r);
	if (r->events)
		return events(c, r);
	if (!r->guest)
		return reply(c, r, 405, TEXT, "method not allowed", NULL, NULL);
	return finish_guest(c, r);
}

static void completed(void *cls, struct MHD_Connection *c, void **ctx, enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	struct req *r = *ctx;
	if (!r)
		return;
	if (r->counted) {
		pthread_mutex_lock(&S.lock);
		S.inflight--;
		pthread_mutex_unlock(&S.lock);
	}
	script_free(r->script);
	sim_buf_free(&r->body);
	free(r->uri);
	free(r->prop);
	free(r);
	*ctx = NULL;
}

/* Called with the request line's URI, query and all, before the handler: the
 * request's state starts here, so that {url} can echo what was sent. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	(void)cls;
	(void)c;
	struct req *r = calloc(1, sizeof *r);
	if (r)
		r->uri = strdup(uri); /* NULL: {url} falls back to the path */
	return r;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	flockfile(S.log);
	fputs("mhd: ", S.log);
	vfprintf(S.log, fmt, ap);
	funlockfile(S.log);
}

static int add_account(const char *id, const char *key)
{
	char *k = strdup(key);
	if (!*id || !*key || !k || sim_map_put(S.accounts, id, k) < 0) {
		free(k);
		return -EINVAL;
	}
	return 0;
}

static int load_accounts(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "partner-sim: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	char *line = NULL, *save;
	size_t cap = 0;
	int lineno = 0, r = 0;
	while (r == 0 && getline(&line, &cap, f) >= 0) {
		lineno++;
		char *id = strtok_r(line, " \t\r\n", &save);
		if (!id || id[0] == '#')
			continue;
		char *key = strtok_r(NULL, " \t\r\n", &save);
		if (!key || strtok_r(NULL, " \t\r\n", &save) || add_account(id, key) < 0) {
			fprintf(stderr, "partner-sim: %s:%d: expected \"HOTEL_ID ACCESS_KEY\"\n", path, lineno);
			r = -EINVAL;
		}
	}
	free(line);
	fclose(f);
	return r;
}

static int write_port_file(const char *path, unsigned port)
{
	char tmp[PATH_MAX];
	int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof tmp)
		return -ENAMETOOLONG;
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -errno;
	int w = fprintf(f, "%u\n", port);
	if (fclose(f) != 0 || w < 0 || rename(tmp, path) != 0) {
		int e = -errno;
		unlink(tmp);
		return e ? e : -EIO;
	}
	return 0;
}

static void usage(FILE *f)
{
	fputs("usage: partner-sim --xsd PATH --record PATH [--port N] [--port-file PATH]\n"
	      "         [--account HOTEL_ID:ACCESS_KEY]... [--accounts-file PATH]\n"
	      "         [--latency-ms N] [--max-body BYTES] [--log PATH]\n"
	      "         [--validate-every N]\n"
	      "A review platform on 127.0.0.1 for tests (review-xml and guest-json);\n"
	      "see tests/partner-sim/README.md.\n", f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },	   { "port-file", required_argument, NULL, 'P' },
		{ "xsd", required_argument, NULL, 'x' },	   { "record", required_argument, NULL, 'r' },
		{ "account", required_argument, NULL, 'a' },   { "accounts-file", required_argument, NULL, 'A' },
		{ "latency-ms", required_argument, NULL, 'l' }, { "max-body", required_argument, NULL, 'm' },
		{ "log", required_argument, NULL, 'L' },	   { "help", no_argument, NULL, 'h' },
		{ "validate-every", required_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *port_file = NULL, *xsd = NULL, *record = NULL, *log_path = NULL;
	const char *accounts_files[64];
#ifdef __GLIBC__
	/* Each request's document tree is built and freed whole: keep the freed
	 * memory for the next one instead of handing it back to the kernel
	 * (madvise) and faulting it in again. The simulator shares the bench's
	 * cores with guestflow; its memory does not matter. */
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
#endif
	size_t naccounts_files = 0;
	long port = 0, v;
	int opt, rc = 1;

	LIBXML_TEST_VERSION
	xmlInitParser();
	S.accounts = sim_map_new(free);
	S.refuse = sim_map_new(free);
	S.named400 = sim_map_new(free);
	json_object_seed(0); /* before any thread: jansson's hash seed */
	S.keys = sim_map_new(key_entry_free);
	S.scripts_tail = &S.scripts;
	sim_buf_init(&S.lines, SIZE_MAX / 2);
	S.max_body = 32u << 20;
	S.xsd.every = 1;
	S.log = stderr;
	if (!S.accounts || !S.refuse || !S.named400 || !S.keys)
		return 1;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		char *colon;
		switch (opt) {
		case 'p':
			if (parse_long(optarg, 0, 65535, &port) < 0)
				goto bad;
			break;
		case 'P': port_file = optarg; break;
		case 'x': xsd = optarg; break;
		case 'r': record = optarg; break;
		case 'L': log_path = optarg; break;
		case 'a':
			colon = strchr(optarg, ':');
			if (!colon)
				goto bad;
			*colon = '\0';
			if (add_account(optarg, colon + 1) < 0)
				goto bad;
			break;
		case 'A':
			if (naccounts_files == sizeof accounts_files / sizeof *accounts_files)
				goto bad;
			accounts_files[naccounts_files++] = optarg;
			break;
		case 'l':
			if (parse_long(optarg, 0, 600000, &v) < 0)
				goto bad;
			S.latency_ms = v;
			break;
		case 'm':
			if (parse_long(optarg, 1, 1L << 30, &v) < 0)
				goto bad;
			S.max_body = (size_t)v;
			break;
		case 'V':
			if (parse_long(optarg, 1, 1000000, &v) < 0)
				goto bad;
			S.xsd.every = (unsigned long)v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (optind != argc || !xsd || !record)
		goto bad;
	for (size_t i = 0; i < naccounts_files; i++)
		if (load_accounts(accounts_files[i]) < 0)
			return 2;

	xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(xsd);
	S.schema = pc ? xmlSchemaParse(pc) : NULL;
	xmlSchemaFreeParserCtxt(pc);
	if (!S.schema) {
		fprintf(stderr, "partner-sim: cannot load schema %s\n", xsd);
		return 2;
	}
	if (!(S.record = fopen(record, "a"))) {
		fprintf(stderr, "partner-sim: %s: %s\n", record, strerror(errno));
		return 2;
	}
	if (log_path) {
		if (!(S.log = fopen(log_path, "a"))) {
			fprintf(stderr, "partner-sim: %s: %s\n", log_path, strerror(errno));
			return 2;
		}
		setvbuf(S.log, NULL, _IOLBF, 0);
	}

	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&S.wake, &ca);
	pthread_condattr_destroy(&ca);

	/* Block the stop signals before MHD starts its threads, so only sigwait() sees them. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
			MHD_USE_ERROR_LOG,
		(uint16_t)port, NULL, NULL, handler, NULL, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
		MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024),
		MHD_OPTION_LISTEN_BACKLOG_SIZE, 512u, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "partner-sim: cannot listen on 127.0.0.1:%ld\n", port);
		goto out;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	unsigned bound = info ? info->port : (unsigned)port;
	int e = port_file ? write_port_file(port_file, bound) : 0;
	if (e < 0) {
		fprintf(stderr, "partner-sim: %s: %s\n", port_file, strerror(-e));
	} else {
		fprintf(S.log, "partner-sim listening on 127.0.0.1:%u (%zu accounts)\n", bound,
			sim_map_count(S.accounts));
		int sig;
		sigwait(&stop, &sig);
		fprintf(S.log, "partner-sim: signal %d, shutting down\n", sig);
		rc = 0;
	}
	pthread_mutex_lock(&S.lock);
	S.stopping = true;
	pthread_cond_broadcast(&S.wake);
	pthread_mutex_unlock(&S.lock);
	MHD_stop_daemon(d);
out:
	while (S.scripts) {
		struct script *s = S.scripts;
		S.scripts = s->next;
		script_free(s);
	}
	sim_map_free(S.accounts);
	sim_map_free(S.refuse);
	sim_map_free(S.named400);
	sim_map_free(S.keys);
	free(S.reply_encoding);
	sim_buf_free(&S.lines);
	xmlSchemaFree(S.schema);
	xmlCleanupParser();
	fclose(S.record);
	if (S.log != stderr)
		fclose(S.log);
	pthread_cond_destroy(&S.wake);
	return rc;
bad:
	usage(stderr);
	return 2;
}
