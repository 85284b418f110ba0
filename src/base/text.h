/* Partner text made safe to store, log and show: valid UTF-8 without control
 * characters, capped at a character boundary, the access key redacted in
 * every form. */
#ifndef GF_TEXT_H
#define GF_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The most bytes guestflow keeps of one piece of partner text it stores: a
 * rejection reason, an error, an alert message. (A reply excerpt is the
 * first 511 bytes of the body.) */
#define GF_TEXT_MAX 1024

/* What the making safe does, in this order, to text from a partner or
 * about a request to one (reply bodies, reasons, header values, curl
 * errors):
 *  1. redacts, over the whole text and before anything is cut: every
 *     occurrence of secret (when not NULL or "") as it is, percent-encoded
 *     (%HH in either case, any mix of encoded and plain characters, encoded
 *     again and again: %25HH, %2525HH, ... up to 16 times), with '+' for a
 *     space (and each '+' of the secret read as a space, as a form decoder
 *     would), JSON-escaped (\/, \u00HH), as HTML character references
 *     (&amp; &lt; &gt; &quot; &apos;, decimal and hexadecimal ones with any
 *     number of leading zeros, the ';' optional, as browsers read them), and
 *     in all of these forms with NUL bytes between its characters (UTF-16
 *     text); and the value of every access_key parameter in any of these
 *     forms (access_key=V, access_key%3DV, "access_key":"V", whatever the
 *     key). Each becomes "***" (or another character three times when the
 *     secret holds '*': the result never spells the secret);
 *  2. makes it valid UTF-8: each invalid sequence (a Latin-1 byte, a
 *     character cut in two, an overlong form, a surrogate) becomes U+FFFD;
 *     NUL, the other C0 controls (tab and newline too: the text is one
 *     line), DEL, the C1 controls and U+2028/U+2029 become a space; bidi
 *     controls (U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+2069),
 *     which reorder what a terminal or mail reader shows, become U+FFFD;
 *  3. keeps at most max bytes, cut at a character boundary; text that was
 *     cut ends in "…". Of a long text only the first 2 * max bytes are shown
 *     from, and only as much past them is read as a secret starting there
 *     spans in any of those forms, up to 1 MiB; a text whose escapes run on
 *     past that (padded without end) is cut where no secret can be hidden.
 * Should the result still spell the secret in any of those forms (a secret
 * made of the very characters the cleaning writes), it is replaced by a
 * fixed note. */

/* Into out, an array of size bytes (size >= 1): at most size - 1 bytes and
 * a NUL. data may hold NUL bytes; data NULL is empty text. */
void gf_text_safe_to(char *out, size_t size, const char *data, size_t len, const char *secret);
/* A malloc'd safe copy of the NUL-terminated s (NULL: ""), at most max
 * bytes. */
char *gf_text_safe_dup(const char *s, const char *secret, size_t max);
/* Rewrite the NUL-terminated s, held in an array of size bytes, in place. */
void gf_text_safe_inplace(char *s, size_t size, const char *secret);

/* Redaction alone (step 1, no cleaning, no cap), in place: s only shrinks
 * (a redacted part shorter than three bytes is masked byte for byte).
 * Terminates for any secret. */
void gf_text_redact(char *s, const char *secret);

/* True when s[0..len) is valid UTF-8 without anything step 2 replaces. */
bool gf_text_is_safe(const char *s, size_t len);

/* The character at p (n > 0 bytes available): its length (1..4) with the
 * code point in *cp, or minus the length (1..3) of the invalid sequence
 * there (its longest start that some valid character shares). */
int gf_text_decode(const char *p, size_t n, uint32_t *cp);
/* Control characters, bidi controls, line and paragraph separators. */
bool gf_text_cp_unsafe(uint32_t cp);
/* Characters a terminal shows as nothing, or as a plain space: format
 * characters (soft hyphen, zero-width space and joiners, word joiner, bidi
 * marks, byte order mark, tags, ...), variation selectors, fillers, and
 * every space but U+0020. A value that differs by them from another looks
 * the same (explain quotes it); a name of nothing else is no name
 * (gf_text_visible, and GF_SQL_RULE_NAME in plan.h, the same set). */
bool gf_text_cp_blank(uint32_t cp);

/* s[0..n) for a terminal: every character gf_text_cp_unsafe() names but
 * newline and tab written as an escape of the format (XML: &#x202E;, JSON:
 * \u202E; CSV, which has none: <U+202E>, and a CR that ends a line as it
 * is), the rest as it is; bytes that are not UTF-8 as U+FFFD. */
enum gf_text_escape { GF_ESCAPE_XML, GF_ESCAPE_JSON, GF_ESCAPE_CSV };
void gf_text_show(const char *s, size_t n, enum gf_text_escape esc, FILE *out);
/* When an access_key parameter name starts at s[0..n): true, with its
 * value at s[*vstart..*vend) (possibly empty). */
bool gf_text_key_param(const char *s, size_t n, size_t *vstart, size_t *vend);

#endif
