/* partner-sim: small helpers — capped buffer, JSON strings, UTF-8 checks, hash map. */
#include "sim.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sim_buf_init(struct sim_buf *b, size_t max)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max;
}

void sim_buf_free(struct sim_buf *b)
{
	free(b->data);
	sim_buf_init(b, b->max);
}

/* Make room for n more bytes and the NUL (the size cap is the caller's business). */
static int grow_buf(struct sim_buf *b, size_t n)
{
	if (n > SIZE_MAX / 2 - b->len - 1)
		return -ENOMEM;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + n + 1)
		cap *= 2;
	char *d = realloc(b->data, cap);
	if (!d)
		return -ENOMEM;
	b->data = d;
	b->cap = cap;
	return 0;
}

int sim_buf_reserve(struct sim_buf *b, size_t n)
{
	return b->len + n + 1 > b->cap ? grow_buf(b, n) : 0;
}

int sim_buf_add(struct sim_buf *b, const void *p, size_t n)
{
	if (n > b->max || b->len > b->max - n)
		return -E2BIG;
	if (b->len + n + 1 > b->cap) {
		int r = grow_buf(b, n);
		if (r < 0)
			return r;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int sim_buf_adds(struct sim_buf *b, const char *s)
{
	return sim_buf_add(b, s, strlen(s));
}

int sim_buf_printf(struct sim_buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n < sizeof tmp)
		return sim_buf_add(b, tmp, (size_t)n);
	char *big = malloc((size_t)n + 1);
	if (!big)
		return -ENOMEM;
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	int r = sim_buf_add(b, big, (size_t)n);
	free(big);
	return r;
}

size_t sim_utf8_len(const unsigned char *s, size_t n)
{
	if (n == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	size_t len;
	uint32_t cp;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* reject overlong forms, surrogates and values past U+10FFFF */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

bool sim_text_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);
	while (n > 0) {
		if ((*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7f)
			return false;
		size_t l = sim_utf8_len(p, n);
		if (l == 0)
			return false;
		p += l;
		n -= l;
	}
	return true;
}

/* Bytes that go into a JSON string as they are: printable ASCII other than '"' and '\\'
 * (UTF-8 sequences are checked one by one). */
static bool json_plain(unsigned char c)
{
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

int sim_buf_json(struct sim_buf *b, const char *s)
{
	if (!s)
		return sim_buf_add(b, "null", 4);
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s, *run = p, *end = p + strlen(s);
	int r = sim_buf_add(b, "\"", 1);
	/* runs of bytes that need no escaping are appended whole */
	while (r == 0 && p < end) {
		size_t l;
		if (json_plain(*p)) {
			p++;
			continue;
		}
		if (*p >= 0x80 && (l = sim_utf8_len(p, (size_t)(end - p))) > 0) {
			p += l;
			continue;
		}
		char u[6] = { '\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15] };
		const char *esc = u;
		size_t n = 2;
		if (*p == '"')
			esc = "\\\"";
		else if (*p == '\\')
			esc = "\\\\";
		else if (*p == '\n')
			esc = "\\n";
		else if (*p == '\r')
			esc = "\\r";
		else if (*p == '\t')
			esc = "\\t";
		else if (*p < 0x20 || *p == 0x7f)
			n = 6; /* \u00XX */
		else
			esc = "\\ufffd", n = 6; /* invalid UTF-8, one byte at a time */
		r = sim_buf_add(b, run, (size_t)(p - run));
		r = r ? r : sim_buf_add(b, esc, n);
		run = ++p;
	}
	r = r ? r : sim_buf_add(b, run, (size_t)(p - run));
	return r ? r : sim_buf_add(b, "\"", 1);
}

struct sim_entry {
	char *key;
	void *val;
	struct sim_entry *next;
};

struct sim_map {
	struct sim_entry **slots;
	size_t nslots, count;
	void (*free_val)(void *);
};

static size_t hash(const char *s)
{
	uint64_t h = 14695981039346656037u; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return (size_t)h;
}

struct sim_map *sim_map_new(void (*free_val)(void *))
{
	struct sim_map *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	m->nslots = 64;
	m->slots = calloc(m->nslots, sizeof *m->slots);
	if (!m->slots) {
		free(m);
		return NULL;
	}
	m->free_val = free_val;
	return m;
}

void sim_map_clear(struct sim_map *m)
{
	for (size_t i = 0; i < m->nslots; i++) {
		while (m->slots[i]) {
			struct sim_entry *e = m->slots[i];
			m->slots[i] = e->next;
			if (m->free_val)
				m->free_val(e->val);
			free(e->key);
			free(e);
		}
	}
	m->count = 0;
}

void sim_map_free(struct sim_map *m)
{
	if (!m)
		return;
	sim_map_clear(m);
	free(m->slots);
	free(m);
}

static struct sim_entry **find(const struct sim_map *m, const char *key)
{
	struct sim_entry **pp = &m->slots[hash(key) & (m->nslots - 1)];
	while (*pp && strcmp((*pp)->key, key) != 0)
		pp = &(*pp)->next;
	return pp;
}

void *sim_map_get(const struct sim_map *m, const char *key)
{
	struct sim_entry *e = *find(m, key);
	return e ? e->val : NULL;
}

static void grow(struct sim_map *m)
{
	size_t n = m->nslots * 2;
	struct sim_entry **slots = calloc(n, sizeof *slots);
	if (!slots)
		return; /* stay correct, just slower */
	for (size_t i = 0; i < m->nslots; i++) {
		while (m->slots[i]) {
			struct sim_entry *e = m->slots[i];
			m->slots[i] = e->next;
			size_t j = hash(e->key) & (n - 1);
			e->next = slots[j];
			slots[j] = e;
		}
	}
	free(m->slots);
	m->slots = slots;
	m->nslots = n;
}

int sim_map_put(struct sim_map *m, const char *key, void *val)
{
	struct sim_entry **pp = find(m, key);
	if (*pp) {
		if (m->free_val && (*pp)->val != val)
			m->free_val((*pp)->val);
		(*pp)->val = val;
		return 0;
	}
	struct sim_entry *e = calloc(1, sizeof *e);
	if (!e || !(e->key = strdup(key))) {
		free(e);
		return -ENOMEM;
	}
	e->val = val;
	*pp = e;
	if (++m->count > m->nslots - m->nslots / 4)
		grow(m);
	return 0;
}

bool sim_map_del(struct sim_map *m, const char *key)
{
	struct sim_entry **pp = find(m, key);
	struct sim_entry *e = *pp;
	if (!e)
		return false;
	*pp = e->next;
	if (m->free_val)
		m->free_val(e->val);
	free(e->key);
	free(e);
	m->count--;
	return true;
}

size_t sim_map_count(const struct sim_map *m)
{
	return m->count;
}
