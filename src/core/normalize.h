/* Normalising PMS values for partners: gender, language, text checks. */
#ifndef GF_NORMALIZE_H
#define GF_NORMALIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "male", "female", "diverse" or "unknown" (static strings) from the usual PMS
 * codes: m/f/w/d/x in either case, male/female/diverse, Herr/Frau, Mr/Mrs/Ms/Miss,
 * with surrounding white space and a trailing '.' ignored. NULL or anything
 * else gives "unknown". */
const char *gf_norm_gender(const char *raw);

/* ISO 639-1 lower-case code from "de", "DE", "de-DE", "de_AT", "deu", "ger",
 * "DEU", "German", "Deutsch", ... Writes two letters + NUL into out and returns
 * 0, or -ENOENT when raw is NULL, empty or unknown. */
int gf_norm_language(const char *raw, char out[3]);

/* True when code is two lower-case ASCII letters (for default_language). */
bool gf_is_language_code(const char *code);

/* Check that s holds valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF)
 * and no control characters (C0 incl. tab/newline, DEL, C1), no U+FFFE/U+FFFF
 * (XML 1.0 cannot carry them) and at most max_chars code points (SIZE_MAX: any
 * number; the renderer checks no length, see record.h). Returns 0, or
 * -EINVAL with a person-readable reason such as "invalid UTF-8 at byte 5" or
 * "control character U+0007 at character 3" written into why (NUL-terminated,
 * truncated to whylen). */
int gf_text_check(const char *s, size_t max_chars, char *why, size_t whylen);

/* As gf_text_check() for s[0..len), which need not be NUL-terminated; a NUL
 * byte counts as control character U+0000. Positions in why are 1-based. */
int gf_text_check_len(const char *s, size_t len, size_t max_chars, char *why,
                      size_t whylen);

/* Copy of s without leading/trailing white space (ASCII space, tab, CR, LF, and
 * U+00A0; also VT, FF, the Unicode space separators U+1680, U+2000..U+200A,
 * U+202F, U+205F, U+3000, line/paragraph separators U+2028/U+2029, and the
 * invisible U+200B and U+FEFF). Caller frees. NULL gives NULL. */
char *gf_trim_dup(const char *s);

/* The same trimming without copying: returns the length of the trimmed part of
 * s[0..len) and sets *start to its offset. */
size_t gf_trim_span(const char *s, size_t len, size_t *start);

/* Whether the character shows on its own: not white space, a control, a
 * blank one (gf_text_cp_blank: format characters, fillers, spaces) or a
 * combining mark of the common blocks (Latin, Hebrew, Arabic, Thai
 * diacritics; a hand-made list: no Unicode database is linked). */
bool gf_cp_shows(uint32_t cp);
/* The characters gf_cp_shows() refuses, as the body of a PostgreSQL regex
 * bracket expression (the eligibility rule of a name, GF_SQL_RULE_NAME;
 * test_render checks that the two agree on every code point). */
#define GF_SQL_NO_SHOW \
	"\\u0001-\\u0020\\u007f-\\u00a0\\u00ad\\u0300-\\u036f\\u0591-\\u05bd\\u05bf\\u05c1-\\u05c2" \
	"\\u05c4-\\u05c5\\u05c7\\u0600-\\u0605\\u0610-\\u061a\\u061c\\u064b-\\u065f\\u0670\\u06dd\\u070f" \
	"\\u08e2\\u0e31\\u0e34-\\u0e3a\\u0e47-\\u0e4e\\u115f-\\u1160\\u1680\\u17b4-\\u17b5\\u180b-\\u180f" \
	"\\u1ab0-\\u1aff\\u1dc0-\\u1dff\\u2000-\\u200f\\u2028-\\u202f\\u205f-\\u206f\\u20d0-\\u20ff" \
	"\\u2800\\u3000\\u3164\\ufe00-\\ufe0f\\ufe20-\\ufe2f\\ufeff\\uffa0\\ufff0-\\ufffb\\U000110bd" \
	"\\U000110cd\\U00013430-\\U0001343f\\U0001bca0-\\U0001bca3\\U0001d173-\\U0001d17a" \
	"\\U000e0000-\\U000e0fff"
/* Whether s[0..len) has a character that shows (gf_cp_shows). Bytes that
 * are not UTF-8 count as showing (gf_text_check_len refuses them). */
bool gf_text_visible(const char *s, size_t len);

#endif
