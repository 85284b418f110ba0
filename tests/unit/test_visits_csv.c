/* Unit tests for the visits-csv output (src/outputs/visits_csv): every file
 * rendered is read back with a strict reader of PARTNERS.md's contract; the
 * file name; the failure table. No database, no network. */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "base/buf.h"
#include "base/util.h"
#include "core/output.h"
#include "core/record.h"
#include "outputs/visits_csv/output.h"
#include "tap.h"

#define BUF_MAX ((size_t)64 << 20)
#define COLS 10

static struct gf_record rec(const char *booking_no)
{
	return (struct gf_record){
		.booking_id = 1, .booking_no = booking_no, .last_name = "  Müller ", .first_name = "Anna",
		.email = "anna@example.org", .gender = "w", .language = "de-DE", .status = "checked_out",
		.arrival = "2026-11-20", .departure = "2026-11-22",
	};
}

/* The contract, strictly: no BOM, CRLF after every line and no bare CR or
 * LF outside quotes, ';' between ten fields, a field quoted exactly when it
 * holds ';', '"', CR or LF, '"' doubled inside. rows[r][c]: malloc'd
 * fields. Returns the number of lines, or -1 with why. */
static int contract(const char *s, size_t len, char *rows[][COLS], int max_rows, char *why, size_t whylen)
{
	if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
		snprintf(why, whylen, "a BOM");
		return -1;
	}
	int row = 0, col = 0;
	size_t i = 0;
	while (i < len) {
		struct gf_buf f = GF_BUF_INIT(BUF_MAX);
		bool quoted = s[i] == '"', special = false;
		if (quoted) {
			i++;
			for (;;) {
				if (i >= len) {
					snprintf(why, whylen, "line %d: an unclosed quote", row + 1);
					gf_buf_free(&f);
					return -1;
				}
				if (s[i] == '"' && i + 1 < len && s[i + 1] == '"') {
					gf_buf_append(&f, "\"", 1);
					special = true;
					i += 2;
				} else if (s[i] == '"') {
					i++;
					break;
				} else {
					special |= s[i] == ';' || s[i] == '\r' || s[i] == '\n';
					gf_buf_append(&f, s + i++, 1);
				}
			}
			if (!special) {
				snprintf(why, whylen, "line %d field %d: quoted without need", row + 1, col + 1);
				gf_buf_free(&f);
				return -1;
			}
		} else {
			while (i < len && s[i] != ';' && s[i] != '\r' && s[i] != '\n' && s[i] != '"')
				gf_buf_append(&f, s + i++, 1);
		}
		if (row < max_rows && col < COLS)
			rows[row][col] = gf_buf_steal(&f);
		else
			gf_buf_free(&f);
		col++;
		if (i < len && s[i] == ';') {
			i++;
		} else if (i + 1 < len && s[i] == '\r' && s[i + 1] == '\n') {
			i += 2;
			if (col != COLS) {
				snprintf(why, whylen, "line %d: %d fields", row + 1, col);
				return -1;
			}
			row++;
			col = 0;
		} else {
			snprintf(why, whylen, "line %d field %d: not followed by ';' or CRLF", row + 1, col);
			return -1;
		}
	}
	return row;
}

static void free_rows(char *rows[][COLS], int n)
{
	for (int r = 0; r < n; r++)
		for (int c = 0; c < COLS; c++)
			free(rows[r][c]);
}

static void test_render(void)
{
	/* (a CR or LF never reaches a file: the record's checks refuse
	 * control characters in every field, the quoting rule is there for
	 * the contract) */
	struct gf_record r[5] = { rec("B-1"), rec("B;2"), rec("B-3"), rec("B-1"), rec("B-5") };
	r[1].last_name = "O'Brien \"Ltd\"";
	r[1].first_name = NULL;
	r[1].gender = "?";
	r[2].last_name = "Semi;colon \"and\" quote";
	r[2].first_name = "   ";
	r[2].language = NULL;
	r[4].email = "not an address"; /* refused: not rendered */
	struct gf_buf out = GF_BUF_INIT(BUF_MAX);
	char *reasons[5];
	size_t n = 0;
	is_int(gf_render_visits_csv("H-1", r, 5, "en", 0, &out, reasons, &n), 0, "render");
	is_int((int64_t)n, 3, "three rendered");
	ok(!reasons[0] && !reasons[1] && !reasons[2] && reasons[3] && reasons[4], "the same booking number twice and"
	   " a bad e-mail are refused");
	for (int i = 0; i < 5; i++) {
		if (reasons[i] && i < 3)
			diag("record %d refused: %s", i + 1, reasons[i]);
		free(reasons[i]);
	}
	char *rows[8][COLS] = { { 0 } };
	char why[200] = "";
	int lines = contract(out.data, out.len, rows, 8, why, sizeof(why));
	is_int(lines, 3, "three lines by the contract's reader (%s)", why);
	if (lines == 3) {
		const char *want[3][COLS] = {
			{ "H-1", "B-1", "Müller", "Anna", "anna@example.org", "female", "de", "checked_out", "2026-11-20",
			  "2026-11-22" },
			{ "H-1", "B;2", "O'Brien \"Ltd\"", "", "anna@example.org", "", "de", "checked_out", "2026-11-20",
			  "2026-11-22" },
			{ "H-1", "B-3", "Semi;colon \"and\" quote", "", "anna@example.org", "female", "en", "checked_out",
			  "2026-11-20", "2026-11-22" },
		};
		for (int l = 0; l < 3; l++)
			for (int c = 0; c < COLS; c++)
				is_str(rows[l][c], want[l][c], "line %d field %d", l + 1, c + 1);
	}
	free_rows(rows, lines > 0 ? lines : 0);
	ok(strncmp(out.data, "H-1;B-1;Müller;Anna;", strlen("H-1;B-1;Müller;Anna;")) == 0, "as it is when nothing"
	   " needs quoting");
	ok(strstr(out.data, "H-1;\"B;2\";\"O'Brien \"\"Ltd\"\"\";;") != NULL, "quoted, '\"' doubled");
	gf_buf_free(&out);

	/* Nothing to render: nothing written. */
	struct gf_record bad = rec("B-9");
	bad.last_name = "";
	char *rs[1];
	gf_buf_init(&out, BUF_MAX);
	is_int(gf_render_visits_csv("H-1", &bad, 1, "en", 0, &out, rs, &n), 0, "a batch of refused records");
	ok(out.len == 0 && n == 0 && rs[0], "renders nothing");
	free(rs[0]);
	is_int(gf_render_visits_csv("", r, 1, "en", 0, &out, NULL, &n), -EINVAL, "no hotel id: refused");
	gf_buf_free(&out);
}

static void test_omit(void)
{
	struct gf_record r = rec("B-1");
	r.gender = "nonsense";  /* not checked when left out */
	struct gf_buf out = GF_BUF_INIT(BUF_MAX);
	size_t n = 0;
	unsigned all = GF_OMIT_FIRST_NAME | GF_OMIT_GENDER | GF_OMIT_LANGUAGE | GF_OMIT_STATUS | GF_OMIT_ARRIVAL;
	is_int(gf_render_visits_csv("H-1", &r, 1, NULL, all, &out, NULL, &n), 0, "render without the optional fields");
	is_str(out.data, "H-1;B-1;Müller;;anna@example.org;;;;;2026-11-22\r\n", "omitted fields are empty");
	gf_buf_free(&out);
}

static void test_table(void)
{
	const struct gf_output *o = gf_output_find("visits-csv");
	ok(o != NULL, "visits-csv is in the registry");
	if (!o)
		return;
	ok(o->secret_label == NULL && !o->compressible && strcmp(o->scheme, "sftp") == 0 &&
	   strcmp(o->id_option, "--hotel-id") == 0, "a hotel id, no secret, files not gzip'd, over sftp");
	const struct gf_output_target t = { .partner_id = "H 1", .batch_key = "0b6f1f7e-8c1e-4a53-9b1f-1d1e0e4b2a10",
		                            .batch_day = "20261206" };
	char *name = gf_visits_csv_name(&t);
	is_str(name, "20261206_H 1_0b6f1f7e-8c1e-4a53-9b1f-1d1e0e4b2a10.csv", "the file's name");
	free(name);
	char *u = o->url("sftp://host:2222/in/", &t, true);
	is_str(u, "sftp://host:2222/in/20261206_H%201_0b6f1f7e-8c1e-4a53-9b1f-1d1e0e4b2a10.csv", "its URL, encoded");
	free(u);
	char why[200];
	ok(o->check_id("H-1", why, sizeof(why)) == 0, "a hotel id");
	ok(o->check_id("H/1", why, sizeof(why)) < 0 && strstr(why, "'/'"), "no '/' in a file name: %s", why);
	ok(o->check_id("", why, sizeof(why)) < 0, "not empty");
	struct gf_answer a;
	o->classify(0, &a);
	ok(a.kind == GF_ANSWER_OK, "a transfer done is the batch taken");
	static const struct {
		int code;
		bool known;
		enum gf_answer_kind kind;
	} failures[] = {
		{ CURLE_LOGIN_DENIED, true, GF_ANSWER_ACCOUNT },
		{ CURLE_PEER_FAILED_VERIFICATION, true, GF_ANSWER_ACCOUNT },
		{ CURLE_COULDNT_CONNECT, false, 0 },
		{ CURLE_OPERATION_TIMEDOUT, false, 0 },
		{ CURLE_REMOTE_DISK_FULL, false, 0 },
		{ CURLE_UPLOAD_FAILED, false, 0 },
		{ CURLE_QUOTE_ERROR, false, 0 },
		{ CURLE_REMOTE_FILE_EXISTS, false, 0 },
		{ CURLE_SSH, false, 0 },
	};
	for (size_t i = 0; i < sizeof(failures) / sizeof(failures[0]); i++) {
		bool known = o->classify_failure(failures[i].code, &a);
		/* (the server answered all but a connection that failed or hung) */
		bool there = failures[i].code != CURLE_COULDNT_CONNECT && failures[i].code != CURLE_OPERATION_TIMEDOUT &&
		             failures[i].code != CURLE_SSH;
		ok(a.reached == there, "visits-csv: %s: the partner %s", curl_easy_strerror(failures[i].code),
		   there ? "answered" : "was not reached");
		ok(known == failures[i].known && (!known || a.kind == failures[i].kind),
		   "visits-csv: %s is %s", curl_easy_strerror(failures[i].code),
		   failures[i].known ? "the job's account refused" : "the engine's default (retried)");
	}
}

int main(void)
{
	test_render();
	test_omit();
	test_table();
	return done_testing();
}
