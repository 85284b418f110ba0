/* Unit tests for the pure parts of the core: backoff, Retry-After, history
 * templates, secret redaction, partner URLs, PostgreSQL array literals. */
#include <string.h>

#include "base/backoff.h"
#include "base/buf.h"
#include "db/db.h"
#include "core/output.h"
#include "transport/http.h"
#include "tap.h"
#include "base/template.h"

static void test_backoff(void)
{
	uint64_t rng = 12345;
	bool all_in_range = true, grows = false;
	int64_t prev_cap_max = 0;
	for (int attempt = 1; attempt <= 12; attempt++) {
		int64_t cap = 1000;
		for (int i = 1; i < attempt; i++)
			cap = cap * 2 > 60000 ? 60000 : cap * 2;
		int64_t seen_max = 0;
		for (int k = 0; k < 2000; k++) {
			int64_t d = gf_backoff_ms(attempt, 1000, 60000, &rng);
			if (d < 100 || d > cap)
				all_in_range = false;
			if (d > seen_max)
				seen_max = d;
		}
		if (seen_max > prev_cap_max)
			grows = true;
		prev_cap_max = seen_max;
		ok(seen_max > cap / 2, "attempt %d: jitter spreads up to the cap %lld (max seen %lld)",
		   attempt, (long long)cap, (long long)seen_max);
	}
	ok(all_in_range, "every delay within [initial/10, min(max, initial*2^(n-1))]");
	ok(grows, "the cap grows with the attempts");
	ok(gf_backoff_ms(1000, 1000, 60000, &rng) <= 60000, "huge attempt numbers stay capped");
	ok(gf_backoff_ms(0, 0, 0, &rng) >= 0, "degenerate settings do not crash");
}

static void test_retry_after(void)
{
	int64_t ms = -1;
	int64_t now = 1445412480000; /* Wed, 21 Oct 2015 07:28:00 GMT */
	ok(gf_retry_after_ms("120", now, 3600000, &ms) == 0 && ms == 120000, "delta seconds");
	ok(gf_retry_after_ms(" 5 ", now, 3600000, &ms) == 0 && ms == 5000, "white space around seconds");
	ok(gf_retry_after_ms("999999999999999999999", now, 3600000, &ms) == 0 && ms == 3600000,
	   "absurd seconds clamped to the maximum");
	ok(gf_retry_after_ms("Wed, 21 Oct 2015 07:29:00 GMT", now, 3600000, &ms) == 0 && ms == 60000,
	   "HTTP date one minute ahead");
	ok(gf_retry_after_ms("Wed, 21 Oct 2015 07:00:00 GMT", now, 3600000, &ms) == 0 && ms == 0,
	   "HTTP date in the past means now");
	ok(gf_retry_after_ms("Thu, 22 Oct 2015 07:28:00 GMT", now, 3600000, &ms) == 0 && ms == 3600000,
	   "HTTP date a day ahead clamped");
	ok(gf_retry_after_ms("Fri, 31 Dec 2147483647 23:59:59 GMT", now, 3600000, &ms) == 0 && ms == 3600000,
	   "a date too far for milliseconds in an int64_t: clamped, no overflow");
	char many[301];
	memset(many, '9', 300);
	many[300] = '\0';
	ok(gf_retry_after_ms(many, now, 3600000, &ms) == 0 && ms == 3600000, "300 digits of seconds: clamped");
	ok(gf_retry_after_ms("00000000000000000005", now, 3600000, &ms) == 0 && ms == 5000,
	   "leading zeros: 5 seconds, however many");
	ok(gf_retry_after_ms("0000000000000000000", now, 3600000, &ms) == 0 && ms == 0, "zero with zeros: now");
	ms = 7;
	ok(gf_retry_after_ms("soon", now, 3600000, &ms) < 0 && ms == 7, "garbage refused");
	ok(gf_retry_after_ms("", now, 3600000, &ms) < 0, "empty refused");
	ok(gf_retry_after_ms("-5", now, 3600000, &ms) < 0, "negative refused");
}

static void test_template(void)
{
	struct gf_template_vars v = { .partner = "reviewhub", .job = "review-nightly", .batch = "42",
	                              .booking_no = NULL, .hotel_id = "H-1", .run_id = "7", .date = "2026-11-23" };
	struct gf_buf b = GF_BUF_INIT(4096);
	ok(gf_template_expand("Sent to {partner} by {job} (batch {batch}, run {run_id}, {date}, {hotel_id}) {booking_no}",
	                      &v, &b) == 0, "expand");
	is_str(gf_buf_str(&b), "Sent to reviewhub by review-nightly (batch 42, run 7, 2026-11-23, H-1) {booking_no}",
	       "placeholders filled, NULL ones kept for later");
	gf_buf_reset(&b);
	gf_template_expand("no placeholders", &v, &b);
	is_str(gf_buf_str(&b), "no placeholders", "plain text unchanged");
	gf_buf_reset(&b);
	gf_template_expand("{unknown} {partner", &v, &b);
	is_str(gf_buf_str(&b), "{unknown} {partner", "unknown and unclosed braces kept as written");
	gf_buf_free(&b);
}

static void test_redact(void)
{
	char s[128] = "error for key S3cr3t+/= at S3cr3t+/=!";
	gf_redact(s, "S3cr3t+/=");
	is_str(s, "error for key *** at ***!", "every occurrence of the secret replaced");
	char t[32] = "ab";
	gf_redact(t, "ab");
	is_str(t, "**", "short secret masked in place");
	char u[32] = "nothing here";
	gf_redact(u, "zzz");
	is_str(u, "nothing here", "text without the secret unchanged");
	gf_redact(u, "");
	is_str(u, "nothing here", "empty secret ignored");
	char v[128] = "url ?id=1&access_key=S3cr3t%2B%2f%3D and S3cr3t%2b%2F%3d";
	gf_redact(v, "S3cr3t+/=");
	is_str(v, "url ?id=1&access_key=*** and ***", "percent-encoded forms, either hex case");
	/* The old loop never ended for these: the replacement held the key. */
	char w[64] = "a * b ** c ***";
	gf_redact(w, "*");
	ok(strchr(w, '*') == NULL, "a key of one '*' terminates and leaves none: '%s'", w);
	char y[64] = "****************";
	gf_redact(y, "***");
	ok(strstr(y, "***") == NULL, "a key of '***' terminates and leaves none: '%s'", y);
}

static void test_urls(void)
{
	const struct gf_output *o = gf_output_find("review-xml");
	ok(o != NULL, "review-xml is in the registry");
	if (!o)
		return;
	const struct gf_output_target t = { .partner_id = "H 1&2", .secret = "k+/=y", .batch_key = "b" };
	char *url = o->url("https://partner.example/v1/guests", &t, true);
	is_str(url, "https://partner.example/v1/guests?id=H%201%262&access_key=k%2B%2F%3Dy",
	       "hotel id and access key percent-encoded");
	free(url);
	const struct gf_output_target pt = { .partner_id = "H-1001", .secret = "k", .batch_key = "b" };
	char *pub = o->url("https://partner.example/v1/guests", &pt, false);
	is_str(pub, "https://partner.example/v1/guests?id=H-1001", "public URL has no access key");
	free(pub);
	ok(gf_output_find("review-json") == NULL && gf_output_find(NULL) == NULL, "unknown outputs are not found");
}

static void test_arrays(void)
{
	struct gf_buf b = GF_BUF_INIT(4096);
	const char *vals[] = { "plain", "with \"quote\"", "back\\slash", NULL, "", "{braces},comma" };
	ok(gf_db_text_array(&b, vals, 6) == 0, "text array");
	is_str(gf_buf_str(&b), "{\"plain\",\"with \\\"quote\\\"\",\"back\\\\slash\",NULL,\"\",\"{braces},comma\"}",
	       "text array literal quotes and escapes");
	gf_buf_reset(&b);
	int64_t ids[] = { 1, -2, 9007199254740993LL };
	gf_db_int_array(&b, ids, 3);
	is_str(gf_buf_str(&b), "{1,-2,9007199254740993}", "int array literal");
	gf_buf_reset(&b);
	gf_db_int_array(&b, ids, 0);
	is_str(gf_buf_str(&b), "{}", "empty array");
	gf_buf_free(&b);
}

/* Which SQLSTATEs a completion or a read takes as one row's data. */
static void test_sqlstate(void)
{
	ok(gf_db_sqlstate_is_data("22001") && gf_db_sqlstate_is_data("22P02") && gf_db_sqlstate_is_data("22007"),
	   "class 22 (data exception) is data");
	ok(gf_db_sqlstate_is_data("23502") && gf_db_sqlstate_is_data("23505"), "class 23 (integrity) is data");
	ok(!gf_db_sqlstate_is_data("P0001") && !gf_db_sqlstate_is_data("08006") && !gf_db_sqlstate_is_data("40001") &&
	   !gf_db_sqlstate_is_data("57014") && !gf_db_sqlstate_is_data("2") && !gf_db_sqlstate_is_data(""),
	   "RAISE without an errcode, connection, serialization, cancel, junk: not data");
	ok(!gf_db_sqlstate_is_data(NULL), "no SQLSTATE: not data");
	/* What a read of the source view takes as possibly one row's error. */
	ok(gf_db_sqlstate_may_be_row("22007") && gf_db_sqlstate_may_be_row("23505"), "data and integrity: a row's");
	ok(gf_db_sqlstate_may_be_row("P0001") && gf_db_sqlstate_may_be_row("P0004"), "a plpgsql RAISE, an ASSERT: a row's");
	ok(gf_db_sqlstate_may_be_row("XX000") && gf_db_sqlstate_may_be_row("XX001"), "internal error, corrupt data: a row's");
	ok(gf_db_sqlstate_may_be_row("54000") && gf_db_sqlstate_may_be_row("21000") &&
	   gf_db_sqlstate_may_be_row("2F005") && gf_db_sqlstate_may_be_row("38001") &&
	   gf_db_sqlstate_may_be_row("39P01") && gf_db_sqlstate_may_be_row("HV004"),
	   "one value's limit, a subquery's cardinality, a function's own errors: a row's");
	ok(!gf_db_sqlstate_may_be_row("08006") && !gf_db_sqlstate_may_be_row("08P01"), "connection: not a row's");
	ok(!gf_db_sqlstate_may_be_row("57014") && !gf_db_sqlstate_may_be_row("57P01") &&
	   !gf_db_sqlstate_may_be_row("57P03"), "cancel, statement timeout, shutdown: not a row's");
	ok(!gf_db_sqlstate_may_be_row("53100") && !gf_db_sqlstate_may_be_row("53200") &&
	   !gf_db_sqlstate_may_be_row("53300"), "disk full, out of memory, too many connections: not a row's");
	ok(!gf_db_sqlstate_may_be_row("40001") && !gf_db_sqlstate_may_be_row("40P01"), "serialization, deadlock: not a row's");
	ok(!gf_db_sqlstate_may_be_row("42P01") && !gf_db_sqlstate_may_be_row("42883") &&
	   !gf_db_sqlstate_may_be_row("42501") && !gf_db_sqlstate_may_be_row("42601"),
	   "undefined table or function, privilege, syntax: not a row's");
	ok(!gf_db_sqlstate_may_be_row("55P03") && !gf_db_sqlstate_may_be_row("25P02") &&
	   !gf_db_sqlstate_may_be_row("0A000") && !gf_db_sqlstate_may_be_row("58030") &&
	   !gf_db_sqlstate_may_be_row("72000") && !gf_db_sqlstate_may_be_row("3D000") &&
	   !gf_db_sqlstate_may_be_row("3F000") && !gf_db_sqlstate_may_be_row("28000") &&
	   !gf_db_sqlstate_may_be_row("26000") && !gf_db_sqlstate_may_be_row("34000") &&
	   !gf_db_sqlstate_may_be_row("F0000"),
	   "lock not available, failed transaction, unsupported, I/O, snapshot, catalog, auth, names: not a row's");
	ok(!gf_db_sqlstate_may_be_row("") && !gf_db_sqlstate_may_be_row(NULL) && !gf_db_sqlstate_may_be_row("P00"),
	   "no SQLSTATE (connection lost), junk: not a row's");
	static char never_seen;
	is_str(gf_db_sqlstate((const PGconn *)(const void *)&never_seen), "", "a session never seen has none");
}

int main(void)
{
	test_backoff();
	test_retry_after();
	test_template();
	test_redact();
	test_urls();
	test_arrays();
	test_sqlstate();
	return done_testing();
}
