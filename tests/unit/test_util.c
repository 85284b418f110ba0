/* Unit tests for util.c, buf.c and log.c. */
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "tap.h"
#include "base/util.h"

static void test_durations(void)
{
	struct { const char *in; int64_t ms; } good[] = {
		{ "500ms", 500 }, { "30s", 30000 }, { "30", 30000 }, { "10m", 600000 },
		{ "2h", 7200000 }, { "14d", 14LL * 86400000 }, { "0", 0 },
	};
	for (size_t i = 0; i < GF_ARRAY_SIZE(good); i++) {
		int64_t ms = -1;
		int r = gf_parse_duration_ms(good[i].in, &ms);
		ok(r == 0 && ms == good[i].ms, "duration '%s' = %lld ms (got %lld)", good[i].in,
		   (long long)good[i].ms, (long long)ms);
	}
	const char *bad[] = { "", "s", "-1s", "1.5s", "10 s", "10x", "99999999999999999999d", " 5" };
	for (size_t i = 0; i < GF_ARRAY_SIZE(bad); i++) {
		int64_t ms = 7;
		ok(gf_parse_duration_ms(bad[i], &ms) < 0 && ms == 7, "duration '%s' refused, output untouched", bad[i]);
	}
}

static void test_ints(void)
{
	int64_t v = 0;
	ok(gf_parse_int64("42", &v) == 0 && v == 42, "int 42");
	ok(gf_parse_int64("-7", &v) == 0 && v == -7, "int -7");
	is_int(gf_parse_int64("4x", &v), -EINVAL, "trailing garbage refused");
	is_int(gf_parse_int64("", &v), -EINVAL, "empty refused");
	is_int(gf_parse_int64("99999999999999999999", &v), -ERANGE, "overflow refused");
}

static void test_buf(void)
{
	struct gf_buf b = GF_BUF_INIT(16);
	is_str(gf_buf_str(&b), "", "empty buffer reads as empty string");
	ok(gf_buf_puts(&b, "hello ") == 0, "append within cap");
	ok(gf_buf_printf(&b, "%d%s", 42, "!") == 0, "printf within cap");
	is_str(gf_buf_str(&b), "hello 42!", "contents");
	is_int(gf_buf_puts(&b, "0123456789"), -GF_E_TOO_BIG, "append past the cap refused");
	is_str(gf_buf_str(&b), "hello 42!", "refused append leaves contents intact");
	is_int(gf_buf_printf(&b, "%s", "abcdefghijkl"), -GF_E_TOO_BIG, "printf past the cap refused");
	ok(gf_buf_append(&b, "1234567", 7) == 0 && b.len == 16, "fill exactly to the cap");
	gf_buf_reset(&b);
	is_int((int64_t)b.len, 0, "reset empties");
	gf_buf_puts(&b, "x");
	char *s = gf_buf_steal(&b);
	is_str(s, "x", "steal returns the contents");
	ok(b.data == NULL && b.len == 0, "steal leaves the buffer empty");
	free(s);
	gf_buf_free(&b);
}

static void test_log_quote(void)
{
	is_str(gf_log_q("plain"), "plain", "plain value unquoted");
	is_str(gf_log_q("two words"), "\"two words\"", "space quoted");
	is_str(gf_log_q("a\"b\\c"), "\"a\\\"b\\\\c\"", "quote and backslash escaped");
	is_str(gf_log_q("line\nbreak"), "\"line\\nbreak\"", "newline escaped");
	is_str(gf_log_q(""), "\"\"", "empty quoted");
	is_str(gf_log_q(NULL), "\"\"", "NULL quoted as empty");
	char big[2000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ok(strlen(gf_log_q(big)) < 600, "long values are truncated");
	is_str(gf_log_q("B-\xff\xfe" "1"), "\"B-\\xff\\xfe1\"", "invalid UTF-8 escaped byte by byte");
	is_str(gf_log_q("M\xc3\xbcller"), "\"M\xc3\xbcller\"", "valid UTF-8 kept");
	is_str(gf_log_q("\xe2\x82"), "\"\\xe2\\x82\"", "truncated sequence escaped");
	char wide[1200];
	for (int i = 0; i < 300; i++)
		memcpy(wide + 2 * i, "\xc3\xbc", 2); /* u-umlaut, 2 bytes each */
	wide[600] = '\0';
	const char *q = gf_log_q(wide);
	size_t ql = strlen(q);
	ok(ql > 500 && strcmp(q + ql - 4, "...\"") == 0 && (unsigned char)q[ql - 5] == 0xbc,
	   "truncation ends on a whole character");
	enum gf_log_level l;
	ok(gf_log_parse_level("debug", &l) == 0 && l == GF_LOG_DEBUG, "level debug");
	ok(gf_log_parse_level("loud", &l) < 0, "unknown level refused");
}

static void test_read_file(void)
{
	char *data = NULL;
	size_t len = 0;
	ok(gf_read_file("/nonexistent/guestflow", 100, &data, &len) == -ENOENT, "missing file: -ENOENT");
	const char *root = getenv("GF_SOURCE_ROOT");
	if (root) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/meson.build", root);
		ok(gf_read_file(path, 1 << 20, &data, &len) == 0 && len > 100 && strlen(data) == len,
		   "reads a file whole");
		free(data);
		is_int(gf_read_file(path, 10, &data, &len), -GF_E_TOO_BIG, "file over the limit refused");
	} else {
		ok(false, "GF_SOURCE_ROOT is set by meson");
	}
}

/* A reason cut short ends at a character boundary. */
static void test_set_why_cut(void)
{
	char b[8];
	gf_set_why(b, sizeof(b), "%s", "ab\xe2\x82\xac\xe2\x82\xac"); /* "ab€€": 8 bytes, 7 fit */
	is_str(b, "ab\xe2\x82\xac", "a cut inside a 3-byte character drops it");
	gf_set_why(b, sizeof(b), "%s", "abcde\xc3\xa9x"); /* 'é' fits exactly */
	is_str(b, "abcde\xc3\xa9", "a character that fits stays");
	gf_set_why(b, sizeof(b), "%s", "abcdef\xf0\x9f\x8c\x8a");
	is_str(b, "abcdef", "a 4-byte character cut after its lead byte goes");
	gf_set_why(b, sizeof(b), "%s", "abc\xf0\x9f\x8c\x8ax");
	is_str(b, "abc\xf0\x9f\x8c\x8a", "a 4-byte character that fits stays");
	gf_set_why(b, sizeof(b), "%s", "short");
	is_str(b, "short", "a reason that fits is whole");
}

int main(void)
{
	test_set_why_cut();
	test_durations();
	test_ints();
	test_buf();
	test_log_quote();
	test_read_file();
	return done_testing();
}
