/* Normalising PMS values for partners: gender and language codes, UTF-8 text checks, trimming. */
#include "core/normalize.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/text.h"
#include "base/util.h"

/* ---- UTF-8 ------------------------------------------------------------- */

/* Decode one strictly valid UTF-8 sequence at s[0..len) (len >= 1). Returns its
 * length and sets *cp, or 0 for an invalid, overlong, surrogate, out-of-range
 * or truncated sequence. */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	unsigned char c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	size_t n;
	uint32_t v;
	unsigned char lo = 0x80, hi = 0xbf;   /* allowed range of the second byte */
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		v = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0;    /* overlong below U+0800 */
		else if (c == 0xed)
			hi = 0x9f;    /* U+D800..U+DFFF are surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		v = c & 0x07;
		if (c == 0xf0)
			lo = 0x90;    /* overlong below U+10000 */
		else if (c == 0xf4)
			hi = 0x8f;    /* beyond U+10FFFF */
	} else {
		return 0;             /* continuation byte, C0/C1 overlong, F5..FF */
	}
	if (len < n)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	v = (v << 6) | (s[1] & 0x3f);
	for (size_t i = 2; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	*cp = v;
	return n;
}

static size_t utf8_encode(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

int gf_text_check_len(const char *s, size_t len, size_t max_chars, char *why, size_t whylen)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, nchars = 0;

	if (!s) {
		gf_set_why(why, whylen, "missing");
		return -EINVAL;
	}
	while (i < len) {
		uint32_t cp;
		size_t n;
		if (p[i] >= 0x20 && p[i] < 0x7f) {   /* fast path: printable ASCII */
			i++;
			nchars++;
			continue;
		}
		n = utf8_decode(p + i, len - i, &cp);
		if (n == 0) {
			gf_set_why(why, whylen, "invalid UTF-8 at byte %zu", i + 1);
			return -EINVAL;
		}
		nchars++;
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
			gf_set_why(why, whylen, "control character U+%04X at character %zu",
			        (unsigned)cp, nchars);
			return -EINVAL;
		}
		/* Valid Unicode, but XML 1.0 has no way to carry these two. */
		if (cp == 0xfffe || cp == 0xffff) {
			gf_set_why(why, whylen, "non-character U+%04X at character %zu",
			        (unsigned)cp, nchars);
			return -EINVAL;
		}
		i += n;
	}
	if (nchars > max_chars) {
		gf_set_why(why, whylen, "too long (%zu characters, at most %zu)", nchars, max_chars);
		return -EINVAL;
	}
	return 0;
}

int gf_text_check(const char *s, size_t max_chars, char *why, size_t whylen)
{
	return gf_text_check_len(s, s ? strlen(s) : 0, max_chars, why, whylen);
}

/* ---- trimming ---------------------------------------------------------- */

/* Length of the white-space character at s[0..len), or 0. */
static size_t space_at(const unsigned char *s, size_t len)
{
	switch (s[0]) {
	case ' ': case '\t': case '\n': case '\r': case '\v': case '\f':
		return 1;
	case 0xc2:   /* U+00A0 */
		return len >= 2 && s[1] == 0xa0 ? 2 : 0;
	case 0xe1:   /* U+1680 */
		return len >= 3 && s[1] == 0x9a && s[2] == 0x80 ? 3 : 0;
	case 0xe2:
		if (len < 3)
			return 0;
		if (s[1] == 0x80 && (s[2] <= 0x8b ||             /* U+2000..U+200B */
		                     s[2] == 0xa8 || s[2] == 0xa9 || /* U+2028, U+2029 */
		                     s[2] == 0xaf))                  /* U+202F */
			return 3;
		if (s[1] == 0x81 && s[2] == 0x9f)                    /* U+205F */
			return 3;
		return 0;
	case 0xe3:   /* U+3000 */
		return len >= 3 && s[1] == 0x80 && s[2] == 0x80 ? 3 : 0;
	case 0xef:   /* U+FEFF, a byte-order mark left by CSV imports */
		return len >= 3 && s[1] == 0xbb && s[2] == 0xbf ? 3 : 0;
	default:
		return 0;
	}
}

/* Length of the white-space character ending at s[len), or 0. Only whole
 * characters match: every multi-byte pattern starts with a lead byte. */
static size_t space_before(const unsigned char *s, size_t len)
{
	if (len >= 1 && space_at(s + len - 1, 1) == 1)
		return 1;
	if (len >= 2 && space_at(s + len - 2, 2) == 2)
		return 2;
	if (len >= 3 && space_at(s + len - 3, 3) == 3)
		return 3;
	return 0;
}

size_t gf_trim_span(const char *s, size_t len, size_t *start)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t b = 0, e = len, n;

	while (b < e && (n = space_at(p + b, e - b)) > 0)
		b += n;
	while (e > b && (n = space_before(p + b, e - b)) > 0)
		e -= n;
	*start = b;
	return e - b;
}

/* Combining marks: nothing to show without a character before them. */
static bool combining(uint32_t cp)
{
	return (cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x0591 && cp <= 0x05BD) || cp == 0x05BF ||
	       (cp >= 0x05C1 && cp <= 0x05C2) || (cp >= 0x05C4 && cp <= 0x05C5) || cp == 0x05C7 ||
	       (cp >= 0x0610 && cp <= 0x061A) || (cp >= 0x064B && cp <= 0x065F) || cp == 0x0670 || cp == 0x0E31 ||
	       (cp >= 0x0E34 && cp <= 0x0E3A) || (cp >= 0x0E47 && cp <= 0x0E4E) || (cp >= 0x1AB0 && cp <= 0x1AFF) ||
	       (cp >= 0x1DC0 && cp <= 0x1DFF) || (cp >= 0x20D0 && cp <= 0x20FF) || (cp >= 0xFE20 && cp <= 0xFE2F);
}

bool gf_cp_shows(uint32_t cp)
{
	return cp > 0x20 && !(cp >= 0x7F && cp <= 0x9F) && !gf_text_cp_blank(cp) && !combining(cp);
}

bool gf_text_visible(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = utf8_decode(p + i, len - i, &cp);
		if (n == 0)
			return true; /* (not UTF-8: gf_text_check_len says so) */
		if (gf_cp_shows(cp))
			return true;
		i += n;
	}
	return false;
}

char *gf_trim_dup(const char *s)
{
	if (!s)
		return NULL;
	size_t start, n = gf_trim_span(s, strlen(s), &start);
	return gf_xstrndup(s + start, n);
}

/* ---- lookups ----------------------------------------------------------- */

/* Simple lower-case mapping for the scripts our tables use (Latin-1, Latin
 * Extended-A, Greek, Cyrillic); other characters are kept as they are. */
static uint32_t fold_cp(uint32_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c + 0x20;
	if (c < 0xc0)
		return c;
	if (c <= 0xde)
		return c == 0xd7 ? c : c + 0x20;
	if (c >= 0x100 && c <= 0x137)
		return c | 1;
	if (c >= 0x139 && c <= 0x148)
		return (c & 1) ? c + 1 : c;
	if (c >= 0x14a && c <= 0x177)
		return c | 1;
	if (c == 0x178)
		return 0xff;
	if (c >= 0x179 && c <= 0x17e)
		return (c & 1) ? c + 1 : c;
	if (c == 0x386)
		return 0x3ac;
	if (c >= 0x388 && c <= 0x38a)
		return c + 0x25;
	if (c == 0x38c)
		return 0x3cc;
	if (c == 0x38e || c == 0x38f)
		return c + 0x3f;
	if (c >= 0x391 && c <= 0x3ab && c != 0x3a2)
		return c + 0x20;
	if (c >= 0x400 && c <= 0x40f)
		return c + 0x50;
	if (c >= 0x410 && c <= 0x42f)
		return c + 0x20;
	return c;
}

/* Trimmed, lower-cased copy of s into out (NUL-terminated). Returns its
 * length, or -1 when s is empty, not valid UTF-8 or longer than out. */
static int fold_key(const char *s, char *out, size_t outsz)
{
	size_t start, len = gf_trim_span(s, strlen(s), &start);
	const unsigned char *p = (const unsigned char *)s + start;
	size_t o = 0;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = utf8_decode(p + i, len - i, &cp);
		if (n == 0 || o + 4 >= outsz)
			return -1;
		o += utf8_encode(fold_cp(cp), out + o);
		i += n;
	}
	out[o] = '\0';
	return (int)o;
}

struct code_map {
	const char *key;
	const char *value;
};

static const char *lookup(const struct code_map *map, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(map[i].key, key) == 0)
			return map[i].value;
	return NULL;
}

static const struct code_map genders[] = {
	/* codes */
	{ "m", "male" }, { "f", "female" }, { "w", "female" },
	{ "d", "diverse" }, { "x", "diverse" },
	/* words */
	{ "male", "male" }, { "man", "male" }, { "masculine", "male" },
	{ "female", "female" }, { "woman", "female" }, { "feminine", "female" },
	{ "diverse", "diverse" }, { "divers", "diverse" }, { "non-binary", "diverse" },
	{ "nonbinary", "diverse" }, { "non binary", "diverse" },
	{ "männlich", "male" }, { "maennlich", "male" }, { "männl", "male" },
	{ "mann", "male" },
	{ "weiblich", "female" }, { "weibl", "female" }, { "frau", "female" },
	{ "masculin", "male" }, { "féminin", "female" }, { "feminin", "female" },
	{ "homme", "male" }, { "femme", "female" },
	{ "masculino", "male" }, { "femenino", "female" }, { "feminino", "female" },
	{ "hombre", "male" }, { "mujer", "female" },
	{ "maschile", "male" }, { "femminile", "female" },
	/* salutations */
	{ "herr", "male" }, { "hr", "male" }, { "fr", "female" },
	{ "mr", "male" }, { "mister", "male" }, { "sir", "male" },
	{ "mrs", "female" }, { "ms", "female" }, { "miss", "female" },
	{ "madam", "female" }, { "madame", "female" }, { "mme", "female" },
	{ "mlle", "female" }, { "monsieur", "male" },
	{ "señor", "male" }, { "senor", "male" }, { "sr", "male" },
	{ "señora", "female" }, { "senora", "female" }, { "sra", "female" },
	{ "señorita", "female" }, { "srta", "female" },
	{ "signor", "male" }, { "signore", "male" }, { "signora", "female" },
	{ "signorina", "female" },
};

const char *gf_norm_gender(const char *raw)
{
	char key[64];
	int n;

	if (!raw || (n = fold_key(raw, key, sizeof(key))) < 0)
		return "unknown";
	if (n > 1 && key[n - 1] == '.') {   /* "Mr.", "Fr.", "männl." */
		size_t start, len = gf_trim_span(key, (size_t)n - 1, &start);
		key[start + len] = '\0';
	}
	const char *g = lookup(genders, GF_ARRAY_SIZE(genders), key);
	return g ? g : "unknown";
}

/* ISO 639-1 (all current two-letter codes), so that "xx" is not taken for a
 * language. */
static const char iso639_1[] =
	"aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce "
	"ch co cr cs cu cv cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr "
	"fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is "
	"it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln "
	"lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv "
	"ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk "
	"sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw "
	"ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu";

/* Withdrawn two-letter codes still found in old systems. */
static const struct code_map iso639_1_old[] = {
	{ "iw", "he" }, { "in", "id" }, { "ji", "yi" }, { "jw", "jv" }, { "mo", "ro" },
};

/* ISO 639-2/T and /B codes. */
static const struct code_map iso639_2[] = {
	{ "deu", "de" }, { "ger", "de" }, { "gsw", "de" }, { "eng", "en" },
	{ "fra", "fr" }, { "fre", "fr" }, { "ita", "it" }, { "spa", "es" },
	{ "nld", "nl" }, { "dut", "nl" }, { "por", "pt" }, { "pol", "pl" },
	{ "ces", "cs" }, { "cze", "cs" }, { "slk", "sk" }, { "slo", "sk" },
	{ "hun", "hu" }, { "ron", "ro" }, { "rum", "ro" }, { "hrv", "hr" },
	{ "scr", "hr" }, { "slv", "sl" }, { "swe", "sv" }, { "dan", "da" },
	{ "nor", "no" }, { "nob", "nb" }, { "nno", "nn" }, { "fin", "fi" },
	{ "ell", "el" }, { "gre", "el" }, { "tur", "tr" }, { "rus", "ru" },
	{ "ukr", "uk" }, { "ara", "ar" }, { "zho", "zh" }, { "chi", "zh" },
	{ "jpn", "ja" }, { "kor", "ko" },
	{ "bul", "bg" }, { "srp", "sr" }, { "scc", "sr" }, { "bos", "bs" },
	{ "mkd", "mk" }, { "mac", "mk" }, { "sqi", "sq" }, { "alb", "sq" },
	{ "lit", "lt" }, { "lav", "lv" }, { "est", "et" }, { "isl", "is" },
	{ "ice", "is" }, { "gle", "ga" }, { "cym", "cy" }, { "wel", "cy" },
	{ "cat", "ca" }, { "eus", "eu" }, { "baq", "eu" }, { "glg", "gl" },
	{ "ltz", "lb" }, { "mlt", "mt" }, { "bel", "be" }, { "heb", "he" },
	{ "hin", "hi" }, { "tha", "th" }, { "vie", "vi" }, { "ind", "id" },
	{ "msa", "ms" }, { "may", "ms" }, { "fas", "fa" }, { "per", "fa" },
	{ "ben", "bn" }, { "urd", "ur" }, { "afr", "af" }, { "swa", "sw" },
	{ "kat", "ka" }, { "geo", "ka" }, { "hye", "hy" }, { "arm", "hy" },
	{ "aze", "az" }, { "kaz", "kk" }, { "uzb", "uz" }, { "tgl", "tl" },
	{ "lat", "la" }, { "epo", "eo" }, { "roh", "rm" }, { "fao", "fo" },
};

/* English, native and German names, lower case (with ASCII spellings). */
static const struct code_map language_names[] = {
	{ "german", "de" }, { "deutsch", "de" },
	{ "english", "en" }, { "englisch", "en" },
	{ "french", "fr" }, { "français", "fr" }, { "francais", "fr" }, { "französisch", "fr" },
	{ "italian", "it" }, { "italiano", "it" }, { "italienisch", "it" },
	{ "spanish", "es" }, { "español", "es" }, { "espanol", "es" }, { "castellano", "es" },
	{ "spanisch", "es" },
	{ "dutch", "nl" }, { "nederlands", "nl" }, { "flemish", "nl" }, { "vlaams", "nl" },
	{ "niederländisch", "nl" }, { "holländisch", "nl" },
	{ "portuguese", "pt" }, { "português", "pt" }, { "portugues", "pt" },
	{ "portugiesisch", "pt" },
	{ "polish", "pl" }, { "polski", "pl" }, { "polnisch", "pl" },
	{ "czech", "cs" }, { "čeština", "cs" }, { "cestina", "cs" }, { "tschechisch", "cs" },
	{ "slovak", "sk" }, { "slovenčina", "sk" }, { "slovencina", "sk" },
	{ "slowakisch", "sk" },
	{ "hungarian", "hu" }, { "magyar", "hu" }, { "ungarisch", "hu" },
	{ "romanian", "ro" }, { "română", "ro" }, { "romana", "ro" }, { "rumänisch", "ro" },
	{ "croatian", "hr" }, { "hrvatski", "hr" }, { "kroatisch", "hr" },
	{ "slovenian", "sl" }, { "slovene", "sl" }, { "slovenščina", "sl" },
	{ "slovenscina", "sl" }, { "slowenisch", "sl" },
	{ "swedish", "sv" }, { "svenska", "sv" }, { "schwedisch", "sv" },
	{ "danish", "da" }, { "dansk", "da" }, { "dänisch", "da" },
	{ "norwegian", "no" }, { "norsk", "no" }, { "norwegisch", "no" },
	{ "bokmål", "nb" }, { "bokmal", "nb" }, { "nynorsk", "nn" },
	{ "finnish", "fi" }, { "suomi", "fi" }, { "finnisch", "fi" },
	{ "greek", "el" }, { "ελληνικά", "el" }, { "ελληνικα", "el" }, { "griechisch", "el" },
	{ "turkish", "tr" }, { "türkçe", "tr" }, { "turkce", "tr" }, { "türkisch", "tr" },
	{ "russian", "ru" }, { "русский", "ru" }, { "russisch", "ru" },
	{ "ukrainian", "uk" }, { "українська", "uk" }, { "ukrainisch", "uk" },
	{ "arabic", "ar" }, { "العربية", "ar" }, { "arabisch", "ar" },
	{ "chinese", "zh" }, { "mandarin", "zh" }, { "中文", "zh" }, { "汉语", "zh" },
	{ "漢語", "zh" }, { "普通话", "zh" }, { "chinesisch", "zh" },
	{ "japanese", "ja" }, { "日本語", "ja" }, { "japanisch", "ja" },
	{ "korean", "ko" }, { "한국어", "ko" }, { "koreanisch", "ko" },
	{ "bulgarian", "bg" }, { "български", "bg" },
	{ "serbian", "sr" }, { "српски", "sr" }, { "srpski", "sr" },
	{ "hebrew", "he" }, { "עברית", "he" },
	{ "hindi", "hi" }, { "हिन्दी", "hi" },
	{ "lithuanian", "lt" }, { "lietuvių", "lt" },
	{ "latvian", "lv" }, { "latviešu", "lv" },
	{ "estonian", "et" }, { "eesti", "et" },
	{ "icelandic", "is" }, { "íslenska", "is" },
	{ "catalan", "ca" }, { "català", "ca" },
	{ "luxembourgish", "lb" }, { "lëtzebuergesch", "lb" }, { "luxemburgisch", "lb" },
	{ "thai", "th" }, { "vietnamese", "vi" }, { "tiếng việt", "vi" },
	{ "indonesian", "id" }, { "bahasa indonesia", "id" },
	{ "persian", "fa" }, { "farsi", "fa" }, { "فارسی", "fa" },
};

int gf_norm_language(const char *raw, char out[3])
{
	char key[64];
	int n;

	if (!raw || (n = fold_key(raw, key, sizeof(key))) < 0)
		return -ENOENT;

	const char *code = lookup(language_names, GF_ARRAY_SIZE(language_names), key);
	if (!code) {
		/* The primary subtag of a tag or locale: "de-DE", "de_AT.UTF-8". */
		size_t sub = strcspn(key, "-_.@ ");
		key[sub] = '\0';
		if (sub == 2) {
			/* Entries are space-separated, so two letters only match one. */
			if (key[0] >= 'a' && key[0] <= 'z' && key[1] >= 'a' && key[1] <= 'z'
			    && strstr(iso639_1, key))
				code = key;
			else
				code = lookup(iso639_1_old, GF_ARRAY_SIZE(iso639_1_old), key);
		} else if (sub == 3) {
			code = lookup(iso639_2, GF_ARRAY_SIZE(iso639_2), key);
		} else if (sub < (size_t)n) {
			code = lookup(language_names, GF_ARRAY_SIZE(language_names), key);
		}
	}
	if (!code)
		return -ENOENT;
	out[0] = code[0];
	out[1] = code[1];
	out[2] = '\0';
	return 0;
}

bool gf_is_language_code(const char *code)
{
	return code && code[0] >= 'a' && code[0] <= 'z' && code[1] >= 'a' && code[1] <= 'z'
	       && code[2] == '\0';
}
