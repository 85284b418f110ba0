/* Partner text made safe to store, log and show (see text.h for the rules). */
#include "base/text.h"

#include <string.h>
#include <strings.h>

#include "base/util.h"

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

bool gf_text_cp_blank(uint32_t cp)
{
	return cp == 0x00A0 || cp == 0x00AD || cp == 0x034F || (cp >= 0x0600 && cp <= 0x0605) || cp == 0x061C ||
	       cp == 0x06DD || cp == 0x070F || cp == 0x08E2 || cp == 0x115F || cp == 0x1160 || cp == 0x1680 ||
	       cp == 0x17B4 || cp == 0x17B5 || (cp >= 0x180B && cp <= 0x180F) || (cp >= 0x2000 && cp <= 0x200F) ||
	       (cp >= 0x2028 && cp <= 0x202F) || (cp >= 0x205F && cp <= 0x206F) || cp == 0x2800 || cp == 0x3000 ||
	       cp == 0x3164 || (cp >= 0xFE00 && cp <= 0xFE0F) || cp == 0xFEFF || cp == 0xFFA0 ||
	       (cp >= 0xFFF0 && cp <= 0xFFFB) || cp == 0x110BD || cp == 0x110CD || (cp >= 0x13430 && cp <= 0x1343F) ||
	       (cp >= 0x1BCA0 && cp <= 0x1BCA3) || (cp >= 0x1D173 && cp <= 0x1D17A) || (cp >= 0xE0000 && cp <= 0xE0FFF);
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
 * URL back. A view is one such reading: byte j of it stands for the text
 * from off[j] to off[j + 1]. The first views read the text as it is (with
 * control characters as spaces, as the cleaning writes them) and, when it
 * holds NUL bytes, without them (UTF-16 text of ASCII is the ASCII with a
 * NUL after each character); every other view decodes one kind of escape
 * in one of those: HTML character references, JSON escapes, and
 * percent-encoding applied again and again (with and without '+' for a
 * space) until a pass changes nothing. The secret, and every access_key
 * value, found in a view marks the text it came from. Each pass is a plain
 * left-to-right decoding, so the search is linear in the text read.
 *
 * Of a long text only a prefix (the window) is read. A view ends where its
 * next byte depends on text past the window (an escape the window cuts),
 * so that what it holds is what the whole text would give; the window is
 * wide enough when every view reaches the end of the text or holds
 * "look" bytes (at least the secret's length) past the point where the
 * output stops. It doubles until it is, up to WINDOW_MAX bytes; past
 * that (a text of escapes padded without end) the output stops earlier,
 * where every view still sees a whole secret. */

#define WINDOW_MAX ((size_t)1 << 20)
#define PCT_PASSES 16
#define NO_MORE ((size_t)0)

struct view {
	unsigned char *b;
	size_t *off; /* n + 1 entries */
	size_t n, cap;
	bool whole;  /* read to the end of the text */
};

static void view_free(struct view *v)
{
	if (v->b)
		explicit_bzero(v->b, v->cap); /* it holds the secret wherever the text did */
	free(v->b);
	free(v->off);
	*v = (struct view){ 0 };
}

/* Room for n bytes; what the view held is not kept (it is rebuilt). */
static void view_reserve(struct view *v, size_t n)
{
	if (n + 1 <= v->cap)
		return;
	view_free(v);
	v->cap = n + 1;
	v->b = gf_xmalloc(v->cap);
	v->off = gf_xmalloc(v->cap * sizeof(*v->off));
}

/* A decoder reads the byte at s[0..left) in *out and returns how many units
 * of its input that byte stands for (>= 1), or NO_MORE when that depends on
 * what follows s[left - 1] and more says something does. */
typedef size_t (*decoder)(const unsigned char *s, size_t left, bool more, unsigned char *out);

/* The text as it is: what the cleaning turns into a space is a space. */
static size_t dec_text(const unsigned char *s, size_t left, bool more, unsigned char *out)
{
	unsigned char c = s[0];
	if (c == 0xC2 && left < 2 && more)
		return NO_MORE;
	if (c == 0xC2 && left >= 2 && s[1] >= 0x80 && s[1] <= 0x9F) {
		*out = ' '; /* a C1 control */
		return 2;
	}
	if (c == 0xE2 && (left < 2 || (s[1] == 0x80 && left < 3)) && more)
		return NO_MORE;
	if (c == 0xE2 && left >= 3 && s[1] == 0x80 && (s[2] == 0xA8 || s[2] == 0xA9)) {
		*out = ' '; /* U+2028, U+2029 */
		return 3;
	}
	*out = c < 0x20 || c == 0x7F ? ' ' : c;
	return 1;
}

/* The same, NUL bytes dropped: each run of them goes with the byte after it. */
static size_t dec_text_nonul(const unsigned char *s, size_t left, bool more, unsigned char *out)
{
	size_t i = 0;
	while (i < left && s[i] == 0)
		i++;
	if (i == left) {
		if (more)
			return NO_MORE;
		*out = ' '; /* NULs at the end of the text */
		return i;
	}
	size_t l = dec_text(s + i, left - i, more, out);
	return l == NO_MORE ? NO_MORE : i + l;
}

static size_t pct(const unsigned char *s, size_t left, bool more, bool plus, unsigned char *out)
{
	*out = s[0];
	if (plus && s[0] == '+') {
		*out = ' ';
		return 1;
	}
	if (s[0] != '%' || (left >= 2 && hexval(s[1]) < 0) || (left >= 3 && hexval(s[2]) < 0))
		return 1;
	if (left < 3)
		return more ? NO_MORE : 1;
	*out = (unsigned char)(hexval(s[1]) * 16 + hexval(s[2]));
	return 3;
}

static size_t dec_pct(const unsigned char *s, size_t left, bool more, unsigned char *out)
{
	return pct(s, left, more, false, out);
}

static size_t dec_pct_plus(const unsigned char *s, size_t left, bool more, unsigned char *out)
{
	return pct(s, left, more, true, out);
}

/* \/ \\ \" and \u00HH (HH < 0x80) */
static size_t dec_json(const unsigned char *s, size_t left, bool more, unsigned char *out)
{
	*out = s[0];
	if (s[0] != '\\')
		return 1;
	if (left < 2)
		return more ? NO_MORE : 1;
	if (s[1] == '/' || s[1] == '\\' || s[1] == '"') {
		*out = s[1];
		return 2;
	}
	if (s[1] != 'u')
		return 1;
	for (size_t i = 2; i < 6; i++) {
		if (i >= left)
			return more ? NO_MORE : 1;
		int d = hexval(s[i]);
		if (i < 4 ? s[i] != '0' : i == 4 ? d < 0 || d >= 8 : d < 0)
			return 1;
	}
	*out = (unsigned char)(hexval(s[4]) * 16 + hexval(s[5]));
	return 6;
}

/* HTML character references as browsers read them: the five named ones,
 * decimal and hexadecimal ones with any number of digits (leading zeros),
 * the ';' optional. Only those of ASCII characters matter here. */
static size_t dec_html(const unsigned char *s, size_t left, bool more, unsigned char *out)
{
	static const struct {
		const char *name;
		char c;
	} named[] = { { "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' }, { "apos", '\'' } };

	*out = s[0];
	if (s[0] != '&')
		return 1;
	for (size_t k = 0; k < GF_ARRAY_SIZE(named); k++) {
		size_t l = strlen(named[k].name);
		size_t have = left - 1 < l ? left - 1 : l;
		if (strncasecmp((const char *)s + 1, named[k].name, have) != 0)
			continue;
		if (have < l || left == 1 + l)
			/* a prefix of the name, or the name and perhaps a ';' after */
			return more ? NO_MORE : have < l ? 1 : (*out = (unsigned char)named[k].c, 1 + l);
		*out = (unsigned char)named[k].c;
		return 1 + l + (s[1 + l] == ';');
	}
	if (left < 2)
		return more ? NO_MORE : 1;
	if (s[1] != '#')
		return 1;
	size_t i = 2;
	unsigned base = 10, v = 0;
	if (i < left && (s[i] | 0x20) == 'x') {
		base = 16;
		i++;
	}
	size_t first = i;
	for (; i < left; i++) {
		int d = hexval(s[i]);
		if (d < 0 || (unsigned)d >= base)
			break;
		if (v < 0x80)
			v = v * base + (unsigned)d;
	}
	if (i == left && more)
		return NO_MORE; /* more digits, or the ';', may follow */
	if (i == first || v >= 0x80)
		return 1;
	*out = (unsigned char)v;
	return i + (i < left && s[i] == ';');
}

/* The text's first w bytes (all of it when w == len) read by dec. */
static void view_of_text(struct view *v, const char *text, size_t w, size_t len, decoder dec)
{
	const unsigned char *t = (const unsigned char *)text;
	size_t i = 0;
	view_reserve(v, w);
	v->n = 0;
	while (i < w) {
		size_t l = dec(t + i, w - i, w < len, &v->b[v->n]);
		if (l == NO_MORE)
			break;
		v->off[v->n++] = i;
		i += l;
	}
	v->off[v->n] = i;
	v->whole = i == len;
}

/* out: one pass of dec over in. Returns whether it differs from in: it
 * decoded something, or stopped before in's end. */
static bool view_pass(struct view *out, const struct view *in, decoder dec)
{
	size_t j = 0;
	bool changed = false;
	view_reserve(out, in->n);
	out->n = 0;
	while (j < in->n) {
		size_t l = dec(in->b + j, in->n - j, !in->whole, &out->b[out->n]);
		if (l == NO_MORE)
			break;
		changed |= l > 1 || out->b[out->n] != in->b[j];
		out->off[out->n++] = in->off[j];
		j += l;
	}
	out->off[out->n] = in->off[j];
	out->whole = in->whole && j == in->n;
	return changed || j < in->n;
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

/* What the views look for: the secret, and when it holds a '+' also the
 * secret as a form decoder reads it sent raw (each '+' a space); every
 * access_key value when params. */
struct search {
	const char *secret, *spaced; /* NULL: none */
	size_t kl;
	bool params;
	size_t stop, look;  /* every view must see look bytes past stop */
	bool enough;        /* ... and did */
	size_t safe_stop;   /* else: where the output may stop instead */
	struct spans sp;
};

static void find_in(const struct view *v, const char *needle, size_t kl, struct spans *sp)
{
	const unsigned char *d = v->b;
	size_t m = v->n;
	/* every occurrence, overlapping ones too: no piece of one is left */
	for (const unsigned char *p = d; kl && m - (size_t)(p - d) >= kl; p++) {
		p = memmem(p, m - (size_t)(p - d), needle, kl);
		if (!p)
			break;
		size_t a = (size_t)(p - d);
		spans_add(sp, v->off[a], v->off[a + kl]);
	}
}

static void search_view(struct search *s, const struct view *v)
{
	if (!v->whole && (v->n < s->look || v->off[v->n - s->look] < s->stop)) {
		s->enough = false;
		size_t at = v->n < s->look ? 0 : v->off[v->n - s->look];
		if (at < s->safe_stop)
			s->safe_stop = at;
	}
	if (s->secret)
		find_in(v, s->secret, s->kl, &s->sp);
	if (s->spaced)
		find_in(v, s->spaced, s->kl, &s->sp);
	if (!s->params)
		return;
	const char *t = (const char *)v->b;
	for (size_t i = 0; i + 10 <= v->n; i++) {
		size_t vs, ve;
		if ((t[i] | 0x20) == 'a' && gf_text_key_param(t + i, v->n - i, &vs, &ve)) {
			spans_add(&s->sp, v->off[i + vs], v->off[i + ve]);
			i += ve > 0 ? ve - 1 : 0;
		}
	}
}

/* Every view of text[0..w) searched. */
static void search_text(struct search *s, const char *text, size_t w, size_t len)
{
	struct view base = { 0 }, other = { 0 }, level[2] = { { 0 } };
	for (int nul = 0; nul < 2; nul++) {
		if (nul && !memchr(text, '\0', w))
			break;
		view_of_text(&base, text, w, len, nul ? dec_text_nonul : dec_text);
		search_view(s, &base);
		/* a view whose escape character the text does not hold is the base view */
		if (memchr(base.b, '&', base.n) && view_pass(&other, &base, dec_html))
			search_view(s, &other);
		if (memchr(base.b, '\\', base.n) && view_pass(&other, &base, dec_json))
			search_view(s, &other);
		/* percent-decoded again and again, each level also with '+' for a space */
		const struct view *prev = &base;
		for (int pass = 0, k = 0; pass < PCT_PASSES; pass++, k ^= 1) {
			if (memchr(prev->b, '+', prev->n) && view_pass(&other, prev, dec_pct_plus))
				search_view(s, &other);
			if (!memchr(prev->b, '%', prev->n) || !view_pass(&level[k], prev, dec_pct))
				break;
			search_view(s, &level[k]);
			prev = &level[k];
		}
	}
	view_free(&base);
	view_free(&other);
	view_free(&level[0]);
	view_free(&level[1]);
}

/* The spans of text[0..len) to redact, for an output that stops at *stop:
 * every form of secret (NULL or "": none) and, when params, every
 * access_key value. *stop may come down (see WINDOW_MAX). */
static void find_spans(const char *text, size_t len, size_t *stop, const char *secret, bool params,
                       struct spans *sp)
{
	struct search s = { .params = params };
	char *spaced = NULL;
	*sp = (struct spans){ 0 };
	if (!text || len == 0)
		return;
	if (secret && *secret) {
		s.secret = secret;
		s.kl = strlen(secret);
		if (strchr(secret, '+')) {
			spaced = gf_xstrdup(secret);
			for (char *p = spaced; *p; p++)
				if (*p == '+')
					*p = ' ';
			s.spaced = spaced;
		}
	}
	/* an access_key parameter name, encoded twice, and its '=': 15 bytes */
	s.look = s.kl > 32 ? s.kl : 32;
	s.stop = *stop;
	size_t w = len;
	if (*stop < len) {
		size_t want = *stop + (s.kl > SIZE_MAX / 16 ? SIZE_MAX / 4 : 8 * s.kl + 64);
		w = want < *stop || want > len ? len : want;
	}
	for (;;) {
		s.enough = true;
		s.safe_stop = *stop;
		s.sp.n = 0;
		search_text(&s, text, w, len);
		if (s.enough || w == len)
			break;
		if (w >= WINDOW_MAX) {
			*stop = s.safe_stop;
			break;
		}
		size_t next = w > len / 2 ? len : 2 * w;
		w = next <= WINDOW_MAX ? next : WINDOW_MAX < len ? WINDOW_MAX : len;
	}
	if (spaced) {
		explicit_bzero(spaced, strlen(spaced));
		free(spaced);
	}
	spans_merge(&s.sp);
	*sp = s.sp;
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
	size_t stop = n;
	find_spans(s, n, &stop, secret, false, &sp);
	free(sp.v);
	return sp.n > 0;
}

/* The rules of text.h into d (max bytes and a NUL); returns the length. */
static size_t make_safe(char *d, size_t max, const char *data, size_t len, const char *secret)
{
	if (!data)
		len = 0;
	size_t kl = secret ? strlen(secret) : 0;
	/* Of a long text, the output is made of its first 2 * max bytes at
	 * most; the search reads as far past them as a secret starting there
	 * may run on, encoded (find_spans). */
	size_t keep = max > SIZE_MAX / 4 ? SIZE_MAX / 4 : 2 * max;
	size_t stop = len > keep ? keep : len;

	struct spans sp = { 0 };
	find_spans(data, len, &stop, secret, true, &sp);
	/* What is redacted takes three bytes of the output, however long it
	 * was: shown from as much more text (once) */
	size_t hidden = 0;
	for (size_t k = 0; k < sp.n && sp.v[k][0] < stop; k++)
		hidden += sp.v[k][1] - sp.v[k][0];
	if (hidden && stop == keep && stop < len) {
		stop = hidden > len - stop ? len : stop + hidden;
		free(sp.v);
		find_spans(data, len, &stop, secret, true, &sp);
	}
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
		size_t avail = (k < sp.n ? sp.v[k][0] : len) - i;
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
	size_t n = strlen(s), stop = n;
	struct spans sp = { 0 };
	find_spans(s, n, &stop, secret, true, &sp);
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

void gf_text_show(const char *s, size_t n, enum gf_text_escape esc, FILE *out)
{
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		int l = gf_text_decode(s + i, n - i, &cp);
		if (l < 0) {
			fputs("\xEF\xBF\xBD", out);
			i += (size_t)-l;
			continue;
		}
		bool line_end = esc == GF_ESCAPE_CSV && cp == '\r' && i + 1 < n && s[i + 1] == '\n';
		if (cp != '\n' && cp != '\t' && !line_end && gf_text_cp_unsafe(cp))
			fprintf(out, esc == GF_ESCAPE_XML ? "&#x%X;" : esc == GF_ESCAPE_JSON ? "\\u%04X" : "<U+%04X>",
			        (unsigned)cp);
		else
			fwrite(s + i, 1, (size_t)l, out);
		i += (size_t)l;
	}
}
