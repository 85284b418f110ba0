/* Normalising PMS values for partners: gender, language, text checks. */
#ifndef GF_NORMALIZE_H
#define GF_NORMALIZE_H

#include <stdbool.h>
#include <stddef.h>

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

/* Whether s[0..len) has a character that shows: one that is not white
 * space, a control, a format character (soft hyphen, zero-width, bidi
 * controls, BOM) or a combining mark (the set of GF_SQL_RULE_NAME, plan.h).
 * Bytes that are not UTF-8 count as showing (gf_text_check_len refuses them). */
bool gf_text_visible(const char *s, size_t len);

#endif
