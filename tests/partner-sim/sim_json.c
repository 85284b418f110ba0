/* partner-sim: guest-json v1 — route, Content-Type, body parse and check (jansson), JSON replies. */
#include "sim.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#define SEGMENT_PROPERTIES "properties"
#define SEGMENT_GUESTS "guests"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

/* A percent-encoded path segment decoded; "" when the encoding is broken or
 * holds a NUL (no property has such an id). NULL on allocation failure. */
static char *decode_segment(const char *s, size_t n)
{
	char *out = malloc(n + 1);
	size_t j = 0;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			out[j++] = s[i];
			continue;
		}
		int a = i + 2 < n ? hexval(s[i + 1]) : -1, b = a >= 0 ? hexval(s[i + 2]) : -1;
		if (b < 0 || (a | b) == 0) {
			j = 0; /* a broken escape or %00 */
			break;
		}
		out[j++] = (char)(a * 16 + b);
		i += 2;
	}
	out[j] = '\0';
	return out;
}

/* Start of the path segment that ends at end (after the '/' before it, or 0). */
static size_t segment_start(const char *path, size_t end)
{
	size_t i = end;
	while (i > 0 && path[i - 1] != '/')
		i--;
	return i;
}

static bool segment_is(const char *path, size_t start, size_t end, const char *name)
{
	return end - start == strlen(name) && memcmp(path + start, name, end - start) == 0;
}

/* Does path[0..end) end in /properties/ID (then /tail when tail)? The ID's bounds. */
static bool route_match(const char *path, size_t end, const char *tail, size_t *id_start, size_t *id_end)
{
	size_t e = end, s;
	if (tail) {
		s = segment_start(path, e);
		if (s == 0 || !segment_is(path, s, e, tail))
			return false;
		e = s - 1;
	}
	s = segment_start(path, e);
	if (s == 0)
		return false;
	*id_start = s;
	*id_end = e;
	e = s - 1;
	s = segment_start(path, e);
	return s > 0 && segment_is(path, s, e, SEGMENT_PROPERTIES);
}

enum sim_route sim_json_route(const char *uri, char **property)
{
	size_t end = strcspn(uri, "?#"), s, e;
	enum sim_route route = SIM_ROUTE_NONE;
	*property = NULL;
	if (route_match(uri, end, SEGMENT_GUESTS, &s, &e))
		route = SIM_ROUTE_GUESTS;
	else if (route_match(uri, end, "events", &s, &e))
		route = SIM_ROUTE_EVENTS;
	else if (route_match(uri, end, NULL, &s, &e))
		route = SIM_ROUTE_PROPERTY;
	else
		return SIM_ROUTE_NONE;
	*property = decode_segment(uri + s, e - s);
	return *property ? route : SIM_ROUTE_OOM;
}

/* RFC 9110 whitespace */
static const char *skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

bool sim_json_ctype_ok(const char *ct)
{
	static const char media[] = "application/json";
	if (!ct)
		return false;
	const char *p = skip_ows(ct);
	if (strncasecmp(p, media, sizeof media - 1) != 0)
		return false;
	p = skip_ows(p + sizeof media - 1);
	while (*p == ';') {
		p = skip_ows(p + 1);
		size_t nlen = strcspn(p, "=; \t\"");
		const char *name = p;
		if (nlen == 0 || p[nlen] != '=')
			return false;
		p += nlen + 1;
		char value[32];
		size_t vlen = 0;
		bool fits = true;
		if (*p == '"') { /* quoted-string, with \-escapes */
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
				if (vlen + 1 < sizeof value)
					value[vlen++] = *p;
				else
					fits = false;
			}
			if (*p++ != '"')
				return false;
		} else {
			size_t n = strcspn(p, "; \t\"");
			if (n == 0)
				return false;
			fits = n < sizeof value;
			vlen = fits ? n : 0;
			memcpy(value, p, vlen);
			p += n;
		}
		value[vlen] = '\0';
		/* the body is UTF-8: another declared charset is refused */
		if (nlen == 7 && strncasecmp(name, "charset", 7) == 0 && (!fits || strcasecmp(value, "utf-8") != 0))
			return false;
		p = skip_ows(p);
	}
	return *p == '\0';
}

/* The keys of a guest, in the order of the record's fields. */
static const struct {
	const char *key;
	int field;
	bool required, date;
} guest_keys[] = {
	{ "pmsId", SIM_F_BOOKING_NO, true, false },  { "lastName", SIM_F_LAST_NAME, true, false },
	{ "firstName", SIM_F_FIRST_NAME, false, false }, { "email", SIM_F_EMAIL, true, false },
	{ "gender", SIM_F_GENDER, false, false },	     { "language", SIM_F_LANGUAGE, false, false },
	{ "status", SIM_F_STATUS, false, false },	     { "checkin", SIM_F_ARRIVAL, false, true },
	{ "checkout", SIM_F_DEPARTURE, true, true },
};
#define NGUEST_KEYS (sizeof guest_keys / sizeof *guest_keys)

static int guest_key(const char *key)
{
	for (size_t k = 0; k < NGUEST_KEYS; k++)
		if (!strcmp(key, guest_keys[k].key))
			return (int)k;
	return -1;
}

/* YYYY-MM-DD, a day of the Gregorian calendar (year 0001-9999). */
static bool is_date(const char *s)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	for (int i = 0; i < 10; i++)
		if (i == 4 || i == 7 ? s[i] != '-' : !(s[i] >= '0' && s[i] <= '9'))
			return false;
	if (s[10])
		return false;
	int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= days[m - 1] + (m == 2 && leap);
}

static int fail(char *err, size_t errsz, int status, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errsz, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	return status;
}

/* A value that must be a string: the problem with it, or NULL. */
static const char *not_string(const json_t *v)
{
	return json_is_null(v) ? "null is not allowed" : json_is_string(v) ? NULL : "not a string";
}

/* Check guest i and fill g; 0, 400 with err, or -ENOMEM. */
static int check_guest(const json_t *o, size_t i, struct sim_guest *g, struct sim_map *seen, char *err, size_t errsz)
{
	const char *key, *why;
	json_t *v;
	if (!json_is_object(o))
		return fail(err, errsz, 400, "guests[%zu]: not an object", i);
	json_object_foreach((json_t *)o, key, v) {
		if (guest_key(key) < 0)
			return fail(err, errsz, 400, "guests[%zu].%s: unknown key", i, key);
		if ((why = not_string(v)))
			return fail(err, errsz, 400, "guests[%zu].%s: %s", i, key, why);
	}
	for (size_t k = 0; k < NGUEST_KEYS; k++) {
		const char *s = json_string_value(json_object_get(o, guest_keys[k].key));
		g->f[guest_keys[k].field] = (char *)(uintptr_t)s;
		if (!s && guest_keys[k].required)
			return fail(err, errsz, 400, "guests[%zu].%s: missing", i, guest_keys[k].key);
		/* gender, language and status are free text; every other field is never "" */
		bool free_text = guest_keys[k].field == SIM_F_GENDER || guest_keys[k].field == SIM_F_LANGUAGE ||
				 guest_keys[k].field == SIM_F_STATUS;
		if (s && !*s && !free_text)
			return fail(err, errsz, 400, "guests[%zu].%s: empty", i, guest_keys[k].key);
		if (s && guest_keys[k].date && !is_date(s))
			return fail(err, errsz, 400, "guests[%zu].%s: not a date (YYYY-MM-DD)", i, guest_keys[k].key);
	}
	const char *pms = g->f[SIM_F_BOOKING_NO];
	void *first = sim_map_get(seen, pms);
	if (first)
		return fail(err, errsz, 400, "guests[%zu].pmsId: duplicate of guests[%zu]", i, (size_t)(uintptr_t)first - 1);
	if (sim_map_put(seen, pms, (void *)(uintptr_t)(i + 1)) < 0)
		return fail(err, errsz, -ENOMEM, "out of memory");
	return 0;
}

int sim_json_parse(const char *data, size_t n, const char *idem, struct sim_json_batch *out, char *err, size_t errsz)
{
	json_error_t je;
	const char *key, *why;
	json_t *v, *root = NULL;
	struct sim_map *seen = NULL;
	int r;

	memset(out, 0, sizeof *out);
	if (n >= 3 && !memcmp(data, "\xef\xbb\xbf", 3))
		return fail(err, errsz, 400, "byte order mark is not allowed");
	/* strict: UTF-8 only, no NUL in strings, nothing after the value, no key twice */
	if (!(root = json_loadb(data, n, JSON_REJECT_DUPLICATES, &je)))
		return fail(err, errsz, 400, "invalid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
	if (!json_is_object(root)) {
		r = fail(err, errsz, 400, "body is not a JSON object");
		goto out;
	}
	json_object_foreach(root, key, v) {
		if (strcmp(key, "batchId") != 0 && strcmp(key, "guests") != 0) {
			r = fail(err, errsz, 400, "%s: unknown key", key);
			goto out;
		}
	}
	json_t *batch_id = json_object_get(root, "batchId"), *guests = json_object_get(root, "guests");
	if (!batch_id || (why = not_string(batch_id))) {
		r = fail(err, errsz, 400, "batchId: %s", batch_id ? why : "missing");
		goto out;
	}
	if (!guests || !json_is_array(guests)) {
		r = fail(err, errsz, 400, "guests: %s", guests ? "not an array" : "missing");
		goto out;
	}
	size_t count = json_array_size(guests);
	if (count == 0) {
		r = fail(err, errsz, 400, "guests: empty");
		goto out;
	}
	if (count > SIM_JSON_MAX_GUESTS) {
		r = fail(err, errsz, 413, "too many guests");
		goto out;
	}
	if (!(out->b.guests = calloc(count, sizeof *out->b.guests)) || !(seen = sim_map_new(NULL))) {
		r = fail(err, errsz, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < count; i++)
		if ((r = check_guest(json_array_get(guests, i), i, &out->b.guests[i], seen, err, errsz)) != 0)
			goto out;
	if (strcmp(json_string_value(batch_id), idem) != 0) {
		r = fail(err, errsz, 400, "batchId differs from Idempotency-Key");
		goto out;
	}
	out->b.n = count;
	out->b.batch_id = (char *)(uintptr_t)json_string_value(batch_id);
	out->root = root;
	root = NULL;
	r = 0;
out:
	sim_map_free(seen);
	if (r) {
		free(out->b.guests);
		memset(out, 0, sizeof *out);
	}
	json_decref(root);
	return r;
}

void sim_json_batch_free(struct sim_json_batch *jb)
{
	free(jb->b.guests);
	json_decref(jb->root);
	memset(jb, 0, sizeof *jb);
}

/* s as a JSON string: a raw refuse reason (SIM_RAW_REASON) without its mark, and
 * bytes that are not UTF-8 as U+FFFD, one a byte (JSON text is UTF-8). */
static json_t *text(const char *s)
{
	if (s[0] == SIM_RAW_REASON)
		s++;
	size_t n = strlen(s);
	struct sim_buf b;
	sim_buf_init(&b, SIZE_MAX / 2);
	int e = sim_buf_add(&b, "", 0);
	for (size_t i = 0, l; e == 0 && i < n; i += l ? l : 1) {
		l = sim_utf8_len((const unsigned char *)s + i, n - i);
		e = l ? sim_buf_add(&b, s + i, l) : sim_buf_add(&b, "\xef\xbf\xbd", 3);
	}
	json_t *j = e ? NULL : json_stringn(b.data, b.len);
	sim_buf_free(&b);
	return j;
}

/* [{"pmsId": ..., "reason": ...}...] */
static json_t *rejected_list(size_t nrej, const char *const *ids, const char *const *reasons)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < nrej; i++) {
		json_t *o = json_object();
		if (!o || json_array_append_new(a, o) < 0 || json_object_set_new(o, "pmsId", text(ids[i])) < 0 ||
		    json_object_set_new(o, "reason", text(reasons[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* The object dumped compactly (keys in insertion order), then freed. */
static char *dump(json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

char *sim_json_result(size_t accepted, size_t nrej, const char *const *ids, const char *const *reasons)
{
	json_t *o = json_object();
	if (o && (json_object_set_new(o, "accepted", json_integer((json_int_t)accepted)) < 0 ||
		  (nrej && json_object_set_new(o, "rejected", rejected_list(nrej, ids, reasons)) < 0))) {
		json_decref(o);
		o = NULL;
	}
	return dump(o);
}

char *sim_json_error(const char *msg, size_t nrej, const char *const *ids, const char *const *reasons)
{
	json_t *o = json_object();
	if (o && (json_object_set_new(o, "error", text(msg)) < 0 ||
		  (nrej && json_object_set_new(o, "rejected", rejected_list(nrej, ids, reasons)) < 0))) {
		json_decref(o);
		o = NULL;
	}
	return dump(o);
}

char *sim_json_property(const char *id)
{
	json_t *o = json_object();
	char *name = malloc(strlen(id) + sizeof "Property ");
	if (name)
		sprintf(name, "Property %s", id);
	if (o && (!name || json_object_set_new(o, "id", text(id)) < 0 || json_object_set_new(o, "name", text(name)) < 0)) {
		json_decref(o);
		o = NULL;
	}
	free(name);
	return dump(o);
}

char *sim_json_events(const struct sim_event *ev, size_t n, const char *next)
{
	json_t *o = json_object(), *list = json_array();
	int e = o && list ? 0 : -1;
	for (size_t i = 0; e == 0 && i < n; i++) {
		json_t *x = json_object();
		e = x && json_object_set_new(x, "pmsId", text(ev[i].booking_no)) == 0 &&
		    json_object_set_new(x, "type", text(ev[i].type)) == 0 &&
		    json_object_set_new(x, "at", text(ev[i].at)) == 0 && json_array_append_new(list, x) == 0 ? 0 : -1;
	}
	if (e == 0 && (json_object_set(o, "events", list) < 0 || json_object_set_new(o, "next", text(next)) < 0))
		e = -1;
	json_decref(list);
	if (e < 0) {
		json_decref(o);
		o = NULL;
	}
	return dump(o);
}
