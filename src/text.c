/* Partner text made safe to store, log and show (see text.h for the rules). */
#include "text.h"

#include <string.h>
#include <strings.h>

#include "util.h"

int gf_text_decode(const char *s, size_t n, uint32_t *cp)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char c = p[0], lo = 0x80, hi = 0xBF;
	size_t need;
	uint32_t v;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		need = 1;
		v = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 2;
		v = c & 0x0F;
		if (c == 0xE0)
			lo = 0xA0; /* no overlong forms */
		else if (c == 0xED)
			hi = 0x9F; /* no surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 3;
		v = c & 0x07;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F; /* nothing past U+10FFFF */
	} else {
		return -1;
	}
	for (size_t i = 1; i <= need; i++) {
		if (i >= n || p[i] < lo || p[i] > hi)
			return -(int)i;
		v = (v << 6) | (p[i] & 0x3F);
		lo = 0x80;
		hi = 0xBF;
	}
	*cp = v;
	return (int)need + 1;
}

bool gf_text_cp_unsafe(uint32_t c)
{
	return c < 0x20 || (c >= 0x7F && c <= 0x9F) || c == 0x061C || c == 0x200E || c == 0x200F ||
	       (c >= 0x2028 && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069);
}

/* What an unsafe character becomes: a space for what breaks or controls a
 * line, U+FFFD (a visible sign) for a bidi control. */
static const char *replacement(uint32_t c)
{
	return c <= 0x9F || c == 0x2028 || c == 0x2029 ? " " : "\xEF\xBF\xBD";
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t';
}

bool gf_text_key_param(const char *s, size_t n, size_t *vstart, size_t *vend)
{
	static const char name[] = "access_key";
	size_t i = sizeof(name) - 1;
	bool encoded = false;
	char quote = 0;

	if (n < i || strncasecmp(s, name, i) != 0)
		return false;
	if (i + 3 <= n && s[i] == '%' && s[i + 1] == '3' && (s[i + 2] | 0x20) == 'd') {
		i += 3; /* access_key%3D: a URL inside another URL's query */
		encoded = true;
	} else if (i + 5 <= n && s[i] == '%' && s[i + 1] == '2' && s[i + 2] == '5' && s[i + 3] == '3' &&
	           (s[i + 4] | 0x20) == 'd') {
		i += 5;
		encoded = true;
	} else {
		/* access_key=V, "access_key": "V", 'access_key' = 'V', access_key: V
		 * (but in access_key= V the value is empty, as in a URL) */
		bool spaced = false;
		if (i < n && (s[i] == '"' || s[i] == '\''))
			i++;
		while (i < n && is_space((unsigned char)s[i])) {
			i++;
			spaced = true;
		}
		if (i >= n || (s[i] != '=' && s[i] != ':'))
			return false;
		if (s[i++] == ':' || spaced)
			while (i < n && is_space((unsigned char)s[i]))
				i++;
		if (i < n && (s[i] == '"' || s[i] == '\''))
			quote = s[i++];
	}
	*vstart = i;
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7F)
			break;
		if (quote) {
			if (c == '\\' && i + 1 < n && (unsigned char)s[i + 1] >= 0x20) {
				i += 2;
				continue;
			}
			if (c == (unsigned char)quote)
				break;
		} else {
			if (c == ' ' || strchr("&;#\"'<>,)]}\\`", c))
				break;
			/* inside a URL that is itself encoded: an encoded '&' or '#' ends it */
			if (encoded && c == '%' && i + 2 < n && s[i + 1] == '2' && (s[i + 2] == '6' || s[i + 2] == '3'))
				break;
		}
		i++;
	}
	*vend = i > n ? n : i;
	return true;
}

/* ---- where the secret is ----------------------------------------------
 * The text is read in several ways a partner may have written the request
 * URL back: each view decodes one kind of escape (and turns control
 * characters into spaces, as the cleaning will), keeping for every decoded
 * byte where it started in the text. The secret found in a view marks the
 * text it came from. Each view is deterministic, so the search is a plain
 * memmem, linear in the text. */

enum view { V_RAW, V_PCT, V_PCT_PLUS, V_PCT_TWICE, V_JSON, V_HTML, V_COUNT };

static size_t html_ref(const unsigned char *s, size_t left, unsigned char *out)
{
	static const struct {
		const char *name;
		char c;
	} named[] = { { "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&quot;", '"' }, { "&apos;", '\'' } };
	for (size_t k = 0; k < GF_ARRAY_SIZE(named); k++) {
		size_t l = strlen(named[k].name);
		if (left >= l && strncasecmp((const char *)s, named[k].name, l) == 0) {
			*out = (unsigned char)named[k].c;
			return l;
		}
	}
	if (left < 4 || s[1] != '#')
		return 0;
	size_t i = 2;
	int base = 10;
	if ((s[2] | 0x20) == 'x') {
		base = 16;
		i++;
	}
	unsigned v = 0;
	size_t digits = 0;
	for (; i < left && digits < 8; i++, digits++) {
		int d = hexval(s[i]);
		if (d < 0 || d >= base)
			break;
		v = v * (unsigned)base + (unsigned)d;
	}
	if (!digits || i >= left || s[i] != ';' || v >= 0x80)
		return 0;
	*out = (unsigned char)v;
	return i + 1;
}

/* The byte the view reads at s[0..left), in *out; returns the bytes of text
 * it stands for. */
static size_t view_byte(enum view v, const unsigned char *s, size_t left, unsigned char *out)
{
	unsigned char c = s[0];
	size_t l = 0;

	switch (v) {
	case V_PCT:
	case V_PCT_PLUS:
	case V_PCT_TWICE:
		if (c == '%' && left >= 3 && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
			unsigned char b = (unsigned char)(hexval(s[1]) * 16 + hexval(s[2]));
			if (v == V_PCT_TWICE && b == '%' && left >= 5 && hexval(s[3]) >= 0 && hexval(s[4]) >= 0) {
				b = (unsigned char)(hexval(s[3]) * 16 + hexval(s[4]));
				l = 5;
			} else {
				l = 3;
			}
			*out = b;
		} else if (v == V_PCT_PLUS && c == '+') {
			*out = ' ';
			l = 1;
		}
		break;
	case V_JSON:
		if (c == '\\' && left >= 2 && (s[1] == '/' || s[1] == '\\' || s[1] == '"')) {
			*out = s[1];
			l = 2;
		} else if (c == '\\' && left >= 6 && s[1] == 'u' && s[2] == '0' && s[3] == '0' && hexval(s[4]) >= 0 &&
		           hexval(s[4]) < 8 && hexval(s[5]) >= 0) {
			*out = (unsigned char)(hexval(s[4]) * 16 + hexval(s[5]));
			l = 6;
		}
		break;
	case V_HTML:
		if (c == '&')
			l = html_ref(s, left, out);
		break;
	case V_RAW:
	case V_COUNT:
		break;
	}
	if (l)
		return l;
	/* what the cleaning turns into a space is a space here too */
	if (c == 0xC2 && left >= 2 && s[1] >= 0x80 && s[1] <= 0x9F) {
		*out = ' ';
		return 2;
	}
	if (c == 0xE2 && left >= 3 && s[1] == 0x80 && (s[2] == 0xA8 || s[2] == 0xA9)) {
		*out = ' ';
		return 3;
	}
	*out = c < 0x20 || c == 0x7F ? ' ' : c;
	return 1;
}

struct spans {
	size_t (*v)[2];
	size_t n, cap;
};

static void spans_add(struct spans *sp, size_t from, size_t to)
{
	if (to <= from)
		return;
	if (sp->n == sp->cap) {
		sp->cap = sp->cap ? 2 * sp->cap : 16;
		sp->v = gf_xrealloc(sp->v, sp->cap * sizeof(*sp->v));
	}
	sp->v[sp->n][0] = from;
	sp->v[sp->n][1] = to;
	sp->n++;
}

static int cmp_span(const void *a, const void *b)
{
	const size_t *x = a, *y = b;
	return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0;
}

/* Sorted, overlapping and touching spans joined. */
static void spans_merge(struct spans *sp)
{
	if (sp->n < 2)
		return;
	qsort(sp->v, sp->n, sizeof(*sp->v), cmp_span);
	size_t k = 0;
	for (size_t i = 1; i < sp->n; i++) {
		if (sp->v[i][0] <= sp->v[k][1]) {
			if (sp->v[i][1] > sp->v[k][1])
				sp->v[k][1] = sp->v[i][1];
		} else {
			k++;
			sp->v[k][0] = sp->v[i][0];
			sp->v[k][1] = sp->v[i][1];
		}
	}
	sp->n = k + 1;
}

static void find_one(const char *text, size_t n, const char *secret, struct spans *sp);

/* The secret, and when it holds a '+' also the secret as a form decoder
 * reads it sent raw: each '+' a space. */
static void find_secret(const char *text, size_t n, const char *secret, struct spans *sp)
{
	if (!secret || !*secret)
		return;
	find_one(text, n, secret, sp);
	if (strchr(secret, '+')) {
		char *spaced = gf_xstrdup(secret);
		for (char *p = spaced; *p; p++)
			if (*p == '+')
				*p = ' ';
		find_one(text, n, spaced, sp);
		explicit_bzero(spaced, strlen(spaced));
		free(spaced);
	}
}

static void find_one(const char *text, size_t n, const char *secret, struct spans *sp)
{
	size_t kl = strlen(secret);
	if (n == 0)
		return;
	const unsigned char *t = (const unsigned char *)text;
	unsigned char *dec = gf_xmalloc(n);
	size_t *off = gf_xmalloc((n + 1) * sizeof(*off));
	/* the character each view starts an escape with: without it the view is the raw one */
	static const char trigger[V_COUNT][3] = { "", "%", "%+", "%", "\\", "&" };
	for (int v = 0; v < V_COUNT; v++) {
		size_t m = 0;
		bool decoded = false;
		if (v != V_RAW && !memchr(text, trigger[v][0], n) && !(trigger[v][1] && memchr(text, trigger[v][1], n)))
			continue;
		for (size_t i = 0; i < n; m++) {
			off[m] = i;
			size_t l = view_byte((enum view)v, t + i, n - i, &dec[m]);
			decoded |= l > 1;
			i += l;
		}
		off[m] = n;
		if (v != V_RAW && !decoded)
			continue; /* the same as the raw view */
		/* every occurrence, overlapping ones too: no piece of one is left */
		for (const unsigned char *p = dec; m - (size_t)(p - dec) >= kl; p++) {
			p = memmem(p, m - (size_t)(p - dec), secret, kl);
			if (!p)
				break;
			size_t a = (size_t)(p - dec);
			spans_add(sp, off[a], off[a + kl]);
		}
	}
	/* the views hold the secret wherever the text did */
	explicit_bzero(dec, n);
	free(dec);
	free(off);
}

static void find_key_params(const char *t, size_t n, struct spans *sp)
{
	for (size_t i = 0; i + 10 <= n; i++) {
		size_t vs, ve;
		if ((t[i] | 0x20) == 'a' && gf_text_key_param(t + i, n - i, &vs, &ve)) {
			spans_add(sp, i + vs, i + ve);
			i += ve > 0 ? ve - 1 : 0;
		}
	}
}

/* A character not in the secret and not part of any escape the views read. */
static const char *marker(const char *secret)
{
	static const char *const cand[] = { "***", "###", "~~~", "!!!", "^^^" };
	for (size_t i = 0; i < GF_ARRAY_SIZE(cand); i++)
		if (!secret || !strchr(secret, cand[i][0]))
			return cand[i];
	return "\xE2\x80\xA2\xE2\x80\xA2\xE2\x80\xA2"; /* three bullets */
}

struct out {
	char *d;
	size_t n, max;
	bool full;
};

static bool put(struct out *o, const char *p, size_t l)
{
	if (o->full || l > o->max - o->n) {
		o->full = true;
		return false;
	}
	memcpy(o->d + o->n, p, l);
	o->n += l;
	return true;
}

static bool spells_secret(const char *s, size_t n, const char *secret)
{
	struct spans sp = { 0 };
	find_secret(s, n, secret, &sp);
	free(sp.v);
	return sp.n > 0;
}

/* The rules of text.h into d (max bytes and a NUL); returns the length. */
static size_t make_safe(char *d, size_t max, const char *data, size_t len, const char *secret)
{
	if (!data)
		len = 0;
	size_t kl = secret ? strlen(secret) : 0;
	/* A secret that starts in the part kept may run on, encoded, for at
	 * most 6 bytes a character (&#x2B; \u002b): look that far. */
	size_t keep = max > SIZE_MAX / 4 ? SIZE_MAX / 4 : 2 * max;
	size_t slack = kl > SIZE_MAX / 16 ? SIZE_MAX / 4 : 8 * kl + 64;
	size_t n = len, stop = len;
	if (len > keep + slack) {
		n = keep + slack;
		stop = keep;
	}

	struct spans sp = { 0 };
	find_secret(data, n, secret, &sp);
	find_key_params(data, n, &sp);
	spans_merge(&sp);
	const char *mark = marker(secret);

	struct out o = { d, 0, max, false };
	size_t i = 0, k = 0;
	while (i < stop && !o.full) {
		while (k < sp.n && sp.v[k][1] <= i)
			k++;
		if (k < sp.n && sp.v[k][0] <= i) {
			if (put(&o, mark, strlen(mark)))
				i = sp.v[k][1];
			continue;
		}
		/* a character never runs into a redacted part: cut there, it is invalid */
		size_t avail = (k < sp.n ? sp.v[k][0] : n) - i;
		uint32_t cp;
		int l = gf_text_decode(data + i, avail, &cp);
		bool ok;
		if (l < 0) {
			ok = put(&o, "\xEF\xBF\xBD", 3);
			l = -l;
		} else if (gf_text_cp_unsafe(cp)) {
			ok = put(&o, replacement(cp), strlen(replacement(cp)));
		} else {
			ok = put(&o, data + i, (size_t)l);
		}
		if (ok)
			i += (size_t)l;
	}
	free(sp.v);
	if (i < len) {
		/* cut: make room for the ellipsis, at a character boundary */
		static const char ell[] = "\xE2\x80\xA6";
		if (max >= sizeof(ell) - 1) {
			while (o.n > max - (sizeof(ell) - 1)) {
				o.n--;
				while (o.n > 0 && ((unsigned char)d[o.n] & 0xC0) == 0x80)
					o.n--;
			}
			memcpy(d + o.n, ell, sizeof(ell) - 1);
			o.n += sizeof(ell) - 1;
		}
	}
	d[o.n] = '\0';
	if (kl && spells_secret(d, o.n, secret)) {
		static const char note[] = "(text withheld: it held the access key)";
		bool fits = sizeof(note) - 1 <= max && !spells_secret(note, sizeof(note) - 1, secret);
		o.n = fits ? sizeof(note) - 1 : 0;
		memcpy(d, note, o.n);
		d[o.n] = '\0';
	}
	return o.n;
}

void gf_text_safe_to(char *out, size_t size, const char *data, size_t len, const char *secret)
{
	if (size == 0)
		return;
	make_safe(out, size - 1, data, len, secret);
}

char *gf_text_safe_dup(const char *s, const char *secret, size_t max)
{
	if (max > (size_t)1 << 30)
		max = (size_t)1 << 30;
	size_t len = s ? strlen(s) : 0;
	/* The result is rarely longer than the text (each invalid byte is
	 * three): do not allocate max for a short one. */
	size_t room = len > max / 3 ? max : 3 * len + 64;
	if (room > max)
		room = max;
	char *d = gf_xmalloc(room + 1);
	make_safe(d, room, s, len, secret);
	return d;
}

void gf_text_safe_inplace(char *s, size_t size, const char *secret)
{
	if (!s || size == 0)
		return;
	char *t = gf_xmalloc(size);
	make_safe(t, size - 1, s, strnlen(s, size - 1), secret);
	memcpy(s, t, strlen(t) + 1);
	free(t);
}

void gf_text_redact(char *s, const char *secret)
{
	if (!s)
		return;
	size_t n = strlen(s);
	struct spans sp = { 0 };
	find_secret(s, n, secret, &sp);
	find_key_params(s, n, &sp);
	spans_merge(&sp);
	const char *mark = marker(secret);
	size_t ml = strlen(mark), w = 0, r = 0;
	for (size_t k = 0; k < sp.n; k++) {
		memmove(s + w, s + r, sp.v[k][0] - r);
		w += sp.v[k][0] - r;
		size_t span = sp.v[k][1] - sp.v[k][0];
		if (span >= ml) {
			memcpy(s + w, mark, ml);
			w += ml;
		} else {
			/* shorter than the marker: masked byte for byte */
			memset(s + w, (unsigned char)mark[0] < 0x80 ? mark[0] : '*', span);
			w += span;
		}
		r = sp.v[k][1];
	}
	memmove(s + w, s + r, n - r + 1);
	free(sp.v);
}

bool gf_text_is_safe(const char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		int l = gf_text_decode(s + i, len - i, &cp);
		if (l < 0 || gf_text_cp_unsafe(cp))
			return false;
		i += (size_t)l;
	}
	return true;
}
