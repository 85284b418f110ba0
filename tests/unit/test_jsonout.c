/* Unit tests for jsonout.c: the values of the --json documents (text made
 * valid, an access_key value blanked, columns as numbers, booleans and
 * ISO 8601 timestamps) and writing one (compact, ASCII, a write error). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/jsonout.h"
#include "tap.h"

/* v as compact JSON (v released). */
static char *dump(json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
	json_decref(v);
	return s;
}

static void is_json(json_t *v, const char *want, const char *name)
{
	char *got = dump(v);
	is_str(got, want, "%s", name);
	free(got);
}

static void test_text(void)
{
	is_json(gf_json_text(NULL), "null", "NULL is null");
	is_json(gf_json_text("M\xc3\xbcller"), "\"M\\u00FCller\"", "non-ASCII as a \\u escape");
	is_json(gf_json_text("M\xfcller"), "\"M\\uFFFDller\"", "an invalid byte becomes U+FFFD");
	is_json(gf_json_text("a\x1b[2J\xe2\x80\xae"), "\"a\\u001B[2J\\u202E\"", "control and bidi characters escaped");
	is_json(gf_json_text("GET /v1?id=H-1&access_key=s3cr%2Bet&x=1"), "\"GET /v1?id=H-1&access_key=***&x=1\"",
	        "an access_key value blanked");
	is_json(gf_json_int(-42), "-42", "an integer");
	is_json(gf_json_bool(true), "true", "a boolean");
}

static void test_columns(void)
{
	PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	PGresAttDesc att[6] = { { .name = (char *)"a" }, { .name = (char *)"b" }, { .name = (char *)"c" },
		                { .name = (char *)"d" }, { .name = (char *)"e" }, { .name = (char *)"f" } };
	ok(r && PQsetResultAttrs(r, 6, att), "a result to read");
	const char *row[] = { "17", "0.25", "t", "2026-11-23T10:00:00+00", "2026-11-23T10:00:00+05:30", NULL };
	for (int i = 0; i < 6; i++)
		PQsetvalue(r, 0, i, (char *)row[i], row[i] ? (int)strlen(row[i]) : -1);
	is_json(gf_json_col_num(r, 0, 0), "17", "a count is a number");
	is_json(gf_json_col_num(r, 0, 1), "0.25", "a fraction is a real");
	is_json(gf_json_col_num(r, 0, 5), "null", "SQL NULL is null");
	is_json(gf_json_col_bool(r, 0, 2), "true", "'t' is true");
	is_json(gf_json_col_bool(r, 0, 5), "null", "a NULL flag is null");
	is_json(gf_json_col_ts(r, 0, 3), "\"2026-11-23T10:00:00+00:00\"", "an offset of hours alone completed");
	is_json(gf_json_col_ts(r, 0, 4), "\"2026-11-23T10:00:00+05:30\"", "a full offset kept");
	is_json(gf_json_col_ts(r, 0, 5), "null", "a NULL timestamp is null");
	is_json(gf_json_col_text(r, 0, 0), "\"17\"", "text as text");
	PQclear(r);
}

static void test_print(void)
{
	FILE *f = tmpfile();
	json_t *doc = gf_json_doc();
	gf_json_set(doc, "jobs", gf_json_arr());
	gf_json_set(doc, "note", gf_json_null());
	is_int(gf_json_print(doc, f), 0, "written");
	rewind(f);
	char buf[256] = "";
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	is_str(buf, "{\"format_version\":1,\"jobs\":[],\"note\":null}\n", "one line: format_version first, compact");
	fclose(f);

	FILE *full = fopen("/dev/full", "w");
	if (!full) {
		ok(true, "# SKIP no /dev/full");
		return;
	}
	doc = gf_json_doc();
	errno = 0;
	is_int(gf_json_print(doc, full), -EIO, "a full device is a write error");
	is_int(errno, ENOSPC, "errno says why");
	fclose(full);
}

int main(void)
{
	test_text();
	test_columns();
	test_print();
	return done_testing();
}
