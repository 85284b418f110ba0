/* Unit tests for text.c (partner text made safe, the key redacted in every
 * form) and the quoting of log.c that shares its rules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "tap.h"
#include "base/text.h"
#include "base/util.h"

#define FFFD "\xEF\xBF\xBD"
#define ELLIPSIS "\xE2\x80\xA6"

static char out[4096];

static const char *safe(const char *data, size_t len, const char *secret, size_t size)
{
	gf_text_safe_to(out, size, data, len, secret);
	return out;
}

static const char *safes(const char *s, const char *secret)
{
	return safe(s, strlen(s), secret, sizeof(out));
}

/* The key in none of the forms a partner may write it in. */
static bool no_key(const char *s, const char *key)
{
	return !gf_text_is_safe(s, strlen(s)) ? false : strstr(s, key) == NULL;
}

static void test_utf8(void)
{
	is_str(safes("M\xfcller caf\xe9", NULL), "M" FFFD "ller caf" FFFD, "Latin-1 bytes become U+FFFD");
	is_str(safes("M\xc3\xbcller", NULL), "M\xc3\xbcller", "valid UTF-8 kept");
	is_str(safes("M\xc3", NULL), "M" FFFD, "a character cut at the end becomes one U+FFFD");
	is_str(safes("a\xe2\x82z", NULL), "a" FFFD "z", "a cut 3-byte character is one U+FFFD");
	is_str(safes("\xf0\x9f\x98", NULL), FFFD, "a cut 4-byte character is one U+FFFD");
	is_str(safes("\xc0\xaf", NULL), FFFD FFFD, "overlong form refused");
	is_str(safes("\xed\xa0\x80", NULL), FFFD FFFD FFFD, "surrogate refused");
	is_str(safes("\xf4\x90\x80\x80", NULL), FFFD FFFD FFFD FFFD, "beyond U+10FFFF refused");
	is_str(safes("\xf0\x9f\x98\x80!", NULL), "\xf0\x9f\x98\x80!", "emoji kept");
	is_str(safe("a\0b\tc\nd\re\x1b[31mf\x7f", 16, NULL, sizeof(out)), "a b c d e [31mf ",
	       "NUL, tab, newline, CR, ESC and DEL become spaces");
	is_str(safes("x\xc2\x9b" "31my\xc2\x85z", NULL), "x 31my z", "C1 controls (CSI, NEL) become spaces");
	is_str(safes("abc\xe2\x80\xae" "cba\xe2\x81\xa6z\xe2\x80\x8f", NULL), "abc" FFFD "cba" FFFD "z" FFFD,
	       "bidi overrides, isolates and marks become U+FFFD");
	is_str(safes("a\xe2\x80\xa8" "b", NULL), "a b", "line separator becomes a space");
	is_str(safe(NULL, 5, NULL, sizeof(out)), "", "NULL is empty text");
	ok(gf_text_is_safe("M\xc3\xbcller", 7) && !gf_text_is_safe("a\x01", 2) && !gf_text_is_safe("\xff", 1) &&
	   !gf_text_is_safe("\xe2\x80\xae", 3) && !gf_text_is_safe("\xc2\x9b", 2), "gf_text_is_safe");
}

static void test_cap(void)
{
	char wide[1201];
	for (int i = 0; i < 600; i++)
		memcpy(wide + 2 * i, "\xc3\xbc", 2);
	wide[1200] = '\0';
	const char *r = safe(wide, 1200, NULL, 101);
	size_t n = strlen(r);
	ok(n <= 100 && n >= 95, "capped at 100 bytes (got %zu)", n);
	ok(gf_text_is_safe(r, n), "cut at a character boundary: valid UTF-8");
	ok(n >= 3 && strcmp(r + n - 3, ELLIPSIS) == 0, "a cut text ends in an ellipsis");
	r = safe("short", 5, NULL, 101);
	is_str(r, "short", "an uncut text has no ellipsis");
	r = safe("abcdef", 6, NULL, 4);
	is_str(r, ELLIPSIS, "a tiny cap still ends on a boundary");
	r = safe("abcdef", 6, NULL, 3);
	is_str(r, "ab", "a cap too small for the ellipsis simply cuts");
	/* Latin-1 grows (one byte, three out): still capped */
	char latin[300];
	memset(latin, 0xe9, sizeof(latin));
	r = safe(latin, sizeof(latin), NULL, 512);
	ok(strlen(r) <= 511 && gf_text_is_safe(r, strlen(r)), "growing text capped, valid");
	char *d = gf_text_safe_dup("fine text", NULL, GF_TEXT_MAX);
	is_str(d, "fine text", "dup of safe text is the text");
	char *again = gf_text_safe_dup(d, NULL, GF_TEXT_MAX);
	is_str(again, d, "making safe text safe changes nothing");
	free(d);
	free(again);
	char buf[16] = "a\x01\xff";
	gf_text_safe_inplace(buf, sizeof(buf), NULL);
	is_str(buf, "a " FFFD, "in place, within the array");
	char tiny[4] = "\xff\xff\xff";
	gf_text_safe_inplace(tiny, sizeof(tiny), NULL);
	ok(strlen(tiny) <= 3 && gf_text_is_safe(tiny, strlen(tiny)), "in place never overflows its array");
}

static void test_redact_forms(void)
{
	const char *key = "k3y+/=one";
	const char *forms[] = {
		"raw k3y+/=one!",
		"upper k3y%2B%2F%3Done!",
		"lower k3y%2b%2f%3done!",
		"mixed k3y%2b/%3Done!",
		"all encoded %6B%33%79%2B%2F%3D%6F%6E%65!",
		"twice k3y%252B%252F%253Done!",
		"json k3y+\\/=one!",
		"json-u k3y\\u002b\\/\\u003done!",
		"html k3y&#43;/&#x3D;one!",
		"control-split k3y+/=one\x01!",
		"plus-read-as-space k3y /=one!",
	};
	for (size_t i = 0; i < GF_ARRAY_SIZE(forms); i++) {
		const char *r = safes(forms[i], key);
		ok(strstr(r, "***") && !strstr(r, "one!") && !strstr(r, "k3y"), "form '%s' redacted: '%s'", forms[i], r);
	}
	is_str(safes("a key is a+key or a%20key or a%20Key", "a key"), "*** is *** or *** or a%20Key",
	       "'+' and %%20 for a space");
	is_str(safes("k3y+/=onek3y+/=one", key), "***", "adjacent occurrences: one marker");
	is_str(safes("nothing here", key), "nothing here", "text without the key unchanged");
	is_str(safes("nothing here", ""), "nothing here", "empty key ignored");

	/* before any truncation: the key runs across the cap */
	char body[700];
	memset(body, 'x', sizeof(body));
	memcpy(body + 500, "k3y%2B%2F%3Done", 15);
	const char *r = safe(body, sizeof(body), key, 512);
	ok(!strstr(r, "k3y") && strlen(r) <= 511, "a key across the cap is redacted before the cut");
	/* far past the cap: looked at only as far as needed, never leaks a piece */
	char big[20000];
	for (size_t i = 0; i + 9 <= sizeof(big); i += 9)
		memcpy(big + i, "k3y+/=one", 9);
	r = safe(big, sizeof(big) - sizeof(big) % 9, key, 512);
	ok(!strstr(r, "k3y") && !strstr(r, "one") && gf_text_is_safe(r, strlen(r)), "a body full of keys: '%.40s'", r);
}

/* A piece of key of at least 8 characters in s. */
static bool holds_piece(const char *s, const char *key)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i + 8 <= kl; i++)
		if (memmem(s, strlen(s), key + i, 8))
			return true;
	return false;
}

/* Escapes written as browsers and servers also read them: references with
 * leading zeros or without ';', percent-encoding three times, UTF-16. */
static void test_redact_more_forms(void)
{
	const char *key = "k3y+/=one";
	const char *forms[] = {
		"dec-10-digits &#0000000107;&#0000000051;&#0000000121;&#0000000043;&#0000000047;&#0000000061;"
		"&#0000000111;&#0000000110;&#0000000101;!",
		"hex-padded &#x0000006B;&#X00000033;&#x00000079;+/=one!",
		"no-semicolon &#107&#51&#121&#43&#47&#61&#111&#110&#101 !",
		"hex-no-semicolon &#x6B&#x33&#x79+/=one!",
		"thrice k3y%25252B%25252F%25253Done!",
		"mixed-depths %2525256B%252533%79%2B%2F%3Done!",
		"hex-digits-encoded k3y%25%32%42%25%32%46%25%33%44one!",
		"four-times k3y%2525252B%2525252F%2525253Done!",
		"nul-split k3y\0+/=one!",
	};
	for (size_t i = 0; i < GF_ARRAY_SIZE(forms); i++) {
		size_t len = strlen(forms[i]);
		if (strncmp(forms[i], "nul-split", 9) == 0)
			len += 1 + strlen(forms[i] + len + 1);
		const char *r = safe(forms[i], len, key, sizeof(out));
		ok(strstr(r, "***") && !strstr(r, "one!") && !strstr(r, "one ") && !strstr(r, "k3y") &&
		   !strstr(r, "&#107"), "form '%s' redacted: '%s'", forms[i], r);
	}
	is_str(safes("a&ampb and a&amp;b", "a&b"), "*** and ***", "&amp without ';'");
	is_str(safes("&#1234567890123; &#0; &#x; &; &#", "k"), "&#1234567890123; &#0; &#x; &; &#",
	       "what is not a reference of ASCII stays as it is");

	/* UTF-16 (little and big endian): ASCII with a NUL by each character */
	const char *page = "<html>invalid access_key=Sup3rS3cretKey-ABCD for you</html>";
	char le[256], be[256];
	size_t n = strlen(page);
	for (size_t i = 0; i < n; i++) {
		le[2 * i] = page[i];
		le[2 * i + 1] = '\0';
		be[2 * i] = '\0';
		be[2 * i + 1] = page[i];
	}
	const char *r = safe(le, 2 * n, "Sup3rS3cretKey-ABCD", sizeof(out));
	ok(!strstr(r, "S u p 3") && !strstr(r, "S3cret") && strstr(r, "***") && strstr(r, "f o r   y o u"),
	   "UTF-16LE: the key redacted: '%s'", r);
	r = safe(be, 2 * n, "Sup3rS3cretKey-ABCD", sizeof(out));
	ok(!strstr(r, "S u p 3") && strstr(r, "***"), "UTF-16BE: the key redacted: '%s'", r);
	r = safe(le, 2 * n, NULL, sizeof(out));
	ok(!strstr(r, "S u p 3") && strstr(r, "k e y =***") && strstr(r, "f o r"), "UTF-16: any access_key value blanked: '%s'", r);
	r = safe(le, 2 * n - 1, NULL, sizeof(out));
	ok(!strstr(r, "S u p 3") && gf_text_is_safe(r, strlen(r)), "UTF-16 cut after a byte: '%s'", r);
}

/* A key encoded so long that it outruns any fixed window past the cut. */
static void test_long_encodings(void)
{
	char key[513];
	for (int i = 0; i < 512; i++)
		key[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"[(i * 7) % 62];
	key[512] = '\0';
	struct gf_buf b = GF_BUF_INIT((size_t)16 << 20);
	gf_buf_puts(&b, "bad key ");
	for (int i = 0; i < 512; i++)
		gf_buf_printf(&b, "&#x%08X;", (unsigned char)key[i]);
	const char *r = safe(b.data, b.len, key, 512);
	ok(!holds_piece(r, key) && strstr(r, "***"), "a 512-character key as padded references: '%.60s'", r);

	/* one reference padded with 300000 zeros, then the rest of the key */
	gf_buf_reset(&b);
	gf_buf_puts(&b, "key &#");
	for (int i = 0; i < 300000; i++)
		gf_buf_puts(&b, "0");
	gf_buf_printf(&b, "%u;%s end", (unsigned char)key[0], key + 1);
	r = safe(b.data, b.len, key, 512);
	ok(!holds_piece(r, key) && gf_text_is_safe(r, strlen(r)), "300000 zeros in a reference: '%.60s'", r);

	/* a text padded past anything read (4 MiB): cut early, never the key */
	gf_buf_reset(&b);
	gf_buf_puts(&b, key);
	gf_buf_puts(&b, " &#");
	for (int i = 0; i < (4 << 20); i++)
		gf_buf_puts(&b, "0");
	gf_buf_puts(&b, "107;");
	r = safe(b.data, b.len, key, 512);
	ok(!holds_piece(r, key) && strlen(r) <= 511 && gf_text_is_safe(r, strlen(r)), "4 MiB of zeros: '%.60s'", r);
	gf_buf_free(&b);
}

static void test_key_params(void)
{
	is_str(safes("GET /v1?id=H-1&access_key=abc%2Bdef&x=1 failed", NULL),
	       "GET /v1?id=H-1&access_key=***&x=1 failed", "access_key= value blanked, whatever the key");
	is_str(safes("{\"url\":\"x\",\"access_key\": \"zz\\\"z\", \"n\":1}", NULL),
	       "{\"url\":\"x\",\"access_key\": \"***\", \"n\":1}", "JSON access_key value blanked");
	is_str(safes("next=%2Fv1%3Fid%3DH%26ACCESS_KEY%3Dabc%252B%26y=2", NULL),
	       "next=%2Fv1%3Fid%3DH%26ACCESS_KEY%3D***%26y=2", "access_key inside an encoded URL");
	is_str(safes("<a href=\"/v?access_key=s3cr3t\">", NULL), "<a href=\"/v?access_key=***\">", "in HTML");
	is_str(safes("access_key= and access_key", NULL), "access_key= and access_key", "no value: nothing to blank");
	size_t vs = 0, ve = 0;
	ok(gf_text_key_param("access_key=v1&b", 15, &vs, &ve) && vs == 11 && ve == 13, "value bounds");
	ok(!gf_text_key_param("access_kez=v", 12, &vs, &ve), "other names are not it");
}

static void test_star_keys(void)
{
	const char *stars = "****************";
	const char *r = safes("key **************** and %2A%2A%2A%2A%2A%2A%2A%2A%2A%2A%2A%2A%2A%2A%2A%2A "
	                      "and %2a%2a%2a%2a%2a%2a%2a%2a%2a%2a%2a%2a%2a%2a%2a%2a end ********************************",
	                      stars);
	ok(no_key(r, stars) && strstr(r, "###") && strstr(r, " end "), "key of '*': every form redacted, '%s'", r);
	r = safes("a*b", "*");
	ok(!strchr(r, '*'), "one-star key: '%s'", r);
	char s1[64] = "x***y*z";
	gf_text_redact(s1, "***");
	ok(!strstr(s1, "***"), "gf_text_redact terminates for '***': '%s'", s1);
	char s2[64] = "*****";
	gf_text_redact(s2, "*");
	ok(!strchr(s2, '*'), "gf_text_redact terminates for '*': '%s'", s2);
	/* a key holding every marker character: bullets */
	r = safes("x*#~!^y", "*#~!^");
	is_str(r, "x\xE2\x80\xA2\xE2\x80\xA2\xE2\x80\xA2y", "a key of every marker character: bullets");
	/* a key the cleaning itself would write: withheld */
	r = safes("bad \xff byte", FFFD);
	is_str(r, "(text withheld: it held the access key)", "result spelling the key is withheld");
}

static void test_log_quote(void)
{
	is_str(gf_log_q("rlo\xe2\x80\xae" "x"), "\"rlo\\u202ex\"", "bidi override escaped in log values");
	is_str(gf_log_q("csi\xc2\x9b" "2J"), "\"csi\\u009b2J\"", "C1 control escaped in log values");
	is_str(gf_log_q("esc\x1b[2J"), "\"esc\\x1b[2J\"", "ESC escaped");
	is_str(gf_log_q("u?id=1&access_key=k3y%2B"), "\"u?id=1&access_key=***\"", "access_key value blanked");
	is_str(gf_log_q("u?access_key%3Dzz"), "\"u?access_key%3D***\"", "even when it looked plain");
	const char *t = "plain text with spaces";
	ok(gf_log_qt(t) == t, "terminal: safe text shown as it is");
	is_str(gf_log_qt("evil\x1b]0;title\x07"), "\"evil\\x1b]0;title\\x07\"", "terminal: escapes quoted");
	is_str(gf_log_qt("a\"b"), "a\"b", "terminal: a quote alone is safe");
	is_str(gf_log_qt("say \"hi\"\xe2\x80\xae"), "\"say \\\"hi\\\"\\u202e\"", "terminal: quoted form escapes quotes");
	is_str(gf_log_qt("M\xfcller"), "\"M\\xfcller\"", "terminal: invalid byte escaped");
}

/* Whatever the bytes, the result is safe text without the key. */
static void test_random(void)
{
	const char *keys[] = { "k3y+/=one", "****************", "a b", "%2B" };
	const char alphabet[] = "k3y+/=one%2B2b2F3D*#&;\\u00x\0" "0557\x01\x1b\xc3\xbc\xe2\x80\xae\xff access_key=\"";
	srand(14);
	bool all = true;
	for (int round = 0; round < 3000 && all; round++) {
		char in[300];
		size_t n = (size_t)(rand() % (int)sizeof(in));
		for (size_t i = 0; i < n; i++)
			in[i] = alphabet[rand() % (int)(sizeof(alphabet) - 1)];
		const char *key = keys[round % 4];
		/* sometimes with the key in it, in some form */
		if (n > 40 && round % 3 == 0)
			memcpy(in + rand() % (int)(n - 30), "k3y%2b%2F=one", 13);
		size_t cap = (size_t)(rand() % 200) + 1;
		safe(in, n, key, cap + 1);
		size_t l = strlen(out);
		bool good = l <= cap && gf_text_is_safe(out, l) && !strstr(out, key);
		if (strcmp(key, "k3y+/=one") == 0)
			good = good && !strstr(out, "k3y%2b%2F=one");
		if (!good) {
			diag("round %d key '%s' cap %zu: '%s'", round, key, cap, out);
			all = false;
		}
	}
	ok(all, "3000 random texts: safe, capped, without the key");
}

int main(void)
{
	test_utf8();
	test_cap();
	test_redact_forms();
	test_redact_more_forms();
	test_long_encodings();
	test_key_params();
	test_star_keys();
	test_log_quote();
	test_random();
	return done_testing();
}
