/* Unit tests for the connection test's tables: each output's verdict on a
 * finished test request (built here, as the transport leaves it), the
 * engine's table for transport failures, and the exit codes. No database,
 * no network. */
#include <curl/curl.h>
#include <string.h>

#include "core/conntest.h"
#include "outputs/guest_json/output.h"
#include "outputs/review_xml/reply.h"
#include "outputs/visits_csv/output.h"
#include "core/output.h"
#include "transport/http.h"
#include "tap.h"

struct row {
	const char *name;
	int result;          /* CURLcode */
	long status;
	const char *body;
	int want;            /* a verdict, or -1: the engine's */
	const char *why_has; /* NULL: anything */
};

static void run_rows(const char *output, const char *id, const char *secret, const struct row *rows, size_t n)
{
	const struct gf_output *o = gf_output_find(output);
	if (!ok(o && o->test && o->test_verdict, "%s declares a test call and its verdict", output))
		return;
	struct gf_output_target t = { .partner_id = id, .secret = secret };
	for (size_t i = 0; i < n; i++) {
		struct gf_http_req *req = gf_http_req_new();
		req->result = (CURLcode)rows[i].result;
		req->status = rows[i].status;
		req->secret = secret;
		req->resp.max = 1 << 20;
		if (rows[i].body)
			gf_buf_puts(&req->resp, rows[i].body);
		char why[600] = "";
		int v = o->test_verdict(req, &t, why, sizeof(why));
		ok(v == rows[i].want && (!rows[i].why_has || strstr(why, rows[i].why_has)) &&
		   (!secret || !strstr(why, secret)),
		   "%s: %s -> %d (got %d: %s)", output, rows[i].name, rows[i].want, v, why);
		gf_http_req_free(req);
	}
}

#define PONG(id) "<pong xmlns=\"urn:guestflow:review-xml:1\" hotelId=\"" id "\"/>"

static void test_review_xml(void)
{
	static const struct row rows[] = {
		{ "200 with its pong", CURLE_OK, 200, PONG("H-1"), GF_TEST_OK, "knows the hotel id" },
		{ "200 with a pong without namespace", CURLE_OK, 200, "<pong hotelId=\"H-1\"/>", GF_TEST_OK, NULL },
		{ "200 naming another hotel", CURLE_OK, 200, PONG("H-2"), GF_TEST_UNEXPECTED, "names hotel \"H-2\"" },
		{ "200 without hotelId", CURLE_OK, 200, "<pong/>", GF_TEST_UNEXPECTED, "hotelId missing" },
		{ "200 with another root", CURLE_OK, 200, "<importResult accepted=\"0\" rejected=\"0\"/>",
		  GF_TEST_UNEXPECTED, "expected <pong>" },
		{ "200 in another namespace", CURLE_OK, 200, "<pong xmlns=\"urn:x\" hotelId=\"H-1\"/>",
		  GF_TEST_UNEXPECTED, "namespace" },
		{ "200 with a DOCTYPE", CURLE_OK, 200, "<!DOCTYPE pong [<!ENTITY x \"H-1\">]><pong hotelId=\"&x;\"/>",
		  GF_TEST_UNEXPECTED, "DOCTYPE" },
		{ "200 not XML", CURLE_OK, 200, "hello", GF_TEST_UNEXPECTED, "not well-formed" },
		{ "200 empty", CURLE_OK, 200, "", GF_TEST_UNEXPECTED, "empty body" },
		{ "401", CURLE_OK, 401, "no", GF_TEST_CREDENTIALS, "HTTP 401" },
		{ "403 quoting the key", CURLE_OK, 403, "invalid access key s3cret-key", GF_TEST_CREDENTIALS, "HTTP 403" },
		{ "404", CURLE_OK, 404, "invalid hotel", GF_TEST_UNKNOWN_ID, "invalid hotel" },
		{ "500", CURLE_OK, 500, "", GF_TEST_UNREACHABLE, "HTTP 500" },
		{ "302", CURLE_OK, 302, "", GF_TEST_UNEXPECTED, "HTTP 302" },
		{ "429", CURLE_OK, 429, "", GF_TEST_UNREACHABLE, "HTTP 429" },
		{ "418", CURLE_OK, 418, "", GF_TEST_UNEXPECTED, "HTTP 418" },
		{ "no connection: the engine's", CURLE_COULDNT_CONNECT, 0, NULL, -1, NULL },
		{ "certificate: the engine's", CURLE_PEER_FAILED_VERIFICATION, 0, NULL, -1, NULL },
	};
	run_rows("review-xml", "H-1", "s3cret-key", rows, sizeof(rows) / sizeof(rows[0]));
}

static void test_guest_json(void)
{
	static const struct row rows[] = {
		{ "200 naming the property", CURLE_OK, 200, "{\"id\": \"P-1\", \"name\": \"Hotel\"}", GF_TEST_OK,
		  "took the API token" },
		{ "200 without a name", CURLE_OK, 200, "{\"id\": \"P-1\"}", GF_TEST_OK, NULL },
		{ "200 naming another property", CURLE_OK, 200, "{\"id\": \"P-2\", \"name\": \"x\"}",
		  GF_TEST_UNEXPECTED, "names property P-2" },
		{ "200 with a number for id", CURLE_OK, 200, "{\"id\": 1}", GF_TEST_UNEXPECTED, "\"id\"" },
		{ "200 with a name not text", CURLE_OK, 200, "{\"id\": \"P-1\", \"name\": 5}", GF_TEST_UNEXPECTED,
		  "\"name\"" },
		{ "200 with an id holding NUL", CURLE_OK, 200, "{\"id\": \"P-1\\u0000\"}", GF_TEST_UNEXPECTED, "not JSON" },
		{ "200 with a key twice", CURLE_OK, 200, "{\"id\": \"P-1\", \"id\": \"P-1\"}", GF_TEST_UNEXPECTED,
		  "not JSON" },
		{ "200 a list", CURLE_OK, 200, "[]", GF_TEST_UNEXPECTED, "not a JSON object" },
		{ "200 not JSON quoting the token", CURLE_OK, 200, "tok-secret-9", GF_TEST_UNEXPECTED, "not JSON" },
		{ "401", CURLE_OK, 401, "{\"error\": \"invalid token tok-secret-9\"}", GF_TEST_CREDENTIALS, "HTTP 401" },
		{ "403", CURLE_OK, 403, "", GF_TEST_CREDENTIALS, "HTTP 403" },
		{ "404", CURLE_OK, 404, "{\"error\": \"unknown property\"}", GF_TEST_UNKNOWN_ID, "unknown property" },
		{ "503", CURLE_OK, 503, "", GF_TEST_UNREACHABLE, "HTTP 503" },
		{ "timeout: the engine's", CURLE_OPERATION_TIMEDOUT, 0, NULL, -1, NULL },
	};
	run_rows("guest-json", "P-1", "tok-secret-9", rows, sizeof(rows) / sizeof(rows[0]));
}

static void test_visits_csv(void)
{
	static const struct row rows[] = {
		{ "done", CURLE_OK, 0, NULL, GF_TEST_OK, "probe file" },
		{ "login refused", CURLE_LOGIN_DENIED, 0, NULL, GF_TEST_CREDENTIALS, "refused the job's login" },
		{ "no directory", CURLE_REMOTE_FILE_NOT_FOUND, 0, NULL, GF_TEST_UNEXPECTED, "directory is not there" },
		{ "write refused", CURLE_REMOTE_ACCESS_DENIED, 0, NULL, GF_TEST_UNEXPECTED, "could not write" },
		{ "disk full", CURLE_REMOTE_DISK_FULL, 0, NULL, GF_TEST_UNEXPECTED, "could not write" },
		{ "upload failed", CURLE_UPLOAD_FAILED, 0, NULL, GF_TEST_UNEXPECTED, "could not write" },
		{ "probe not removed", CURLE_QUOTE_ERROR, 0, NULL, GF_TEST_UNEXPECTED, "could not remove" },
		{ "no SSH session", CURLE_FAILED_INIT, 0, NULL, GF_TEST_UNREACHABLE, "no SSH session" },
		{ "host key: the engine's", CURLE_PEER_FAILED_VERIFICATION, 0, NULL, -1, NULL },
		{ "refused: the engine's", CURLE_COULDNT_CONNECT, 0, NULL, -1, NULL },
	};
	run_rows("visits-csv", "H-1", NULL, rows, sizeof(rows) / sizeof(rows[0]));
	/* once logged in and listed, a failure is the probe's step: the server is there */
	static const int after_login[] = { CURLE_OPERATION_TIMEDOUT, CURLE_FAILED_INIT, CURLE_RECV_ERROR };
	const struct gf_output *o = gf_output_find("visits-csv");
	struct gf_output_target t = { .partner_id = "H-1" };
	for (size_t i = 0; i < sizeof(after_login) / sizeof(after_login[0]); i++) {
		struct gf_http_req *req = gf_http_req_new();
		req->result = (CURLcode)after_login[i];
		req->answered = true;
		snprintf(req->detail, sizeof(req->detail), "failed writing or removing the probe file .guestflow-probe-1");
		char why[600] = "";
		int v = o->test_verdict(req, &t, why, sizeof(why));
		ok(v == GF_TEST_UNEXPECTED && strstr(why, "logged in and listed the directory, but then") &&
		   strstr(why, ".guestflow-probe-1"), "visits-csv: %s once logged in is the probe's (%d: %s)",
		   curl_easy_strerror(req->result), v, why);
		gf_http_req_free(req);
	}
}

static void test_engine_table(void)
{
	static const struct {
		int code;
		enum gf_test_verdict want;
	} rows[] = {
		{ CURLE_COULDNT_RESOLVE_HOST, GF_TEST_UNREACHABLE }, { CURLE_COULDNT_RESOLVE_PROXY, GF_TEST_UNREACHABLE },
		{ CURLE_COULDNT_CONNECT, GF_TEST_UNREACHABLE },      { CURLE_OPERATION_TIMEDOUT, GF_TEST_UNREACHABLE },
		{ CURLE_GOT_NOTHING, GF_TEST_UNREACHABLE },          { CURLE_RECV_ERROR, GF_TEST_UNREACHABLE },
		{ CURLE_SEND_ERROR, GF_TEST_UNREACHABLE },           { CURLE_SSH, GF_TEST_UNREACHABLE },
		{ CURLE_PEER_FAILED_VERIFICATION, GF_TEST_PEER_REFUSED },
		{ CURLE_LOGIN_DENIED, GF_TEST_CREDENTIALS },         { CURLE_SSL_CONNECT_ERROR, GF_TEST_UNEXPECTED },
		{ CURLE_WRITE_ERROR, GF_TEST_UNEXPECTED },           { CURLE_UNSUPPORTED_PROTOCOL, GF_TEST_UNEXPECTED },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		is_int(gf_conntest_transport_verdict(rows[i].code), rows[i].want, "transport: %s",
		       curl_easy_strerror((CURLcode)rows[i].code));
	/* every verdict its own exit code and name */
	static const int want_exit[] = { 0, 77, 67, 79, 69, 76 };
	static const char *const want_name[] = { "ok", "credentials_refused", "unknown_id", "peer_refused",
	                                         "unreachable", "unexpected" };
	for (int v = GF_TEST_OK; v <= GF_TEST_UNEXPECTED; v++) {
		is_int(gf_conntest_exit_code((enum gf_test_verdict)v), want_exit[v], "exit code of %s", want_name[v]);
		is_str(gf_conntest_name((enum gf_test_verdict)v), want_name[v], "name of verdict %d", v);
	}
}

static void test_times(void)
{
	static const char *const good[] = { "2026-11-23T10:00:00Z", "2024-02-29T23:59:60Z", "2026-11-23t10:00:00.123z",
	                                    "2026-11-23T10:00:00+01:00", "2026-11-23T10:00:00-15:59",
	                                    "0001-01-01T00:00:00.123456789Z" };
	static const char *const bad[] = { "", "yesterday", "2026-11-23", "2026-11-23 10:00:00Z", "2025-02-29T10:00:00Z",
	                                   "2026-13-01T10:00:00Z", "2026-11-31T10:00:00Z", "2026-11-23T24:00:00Z",
	                                   "2026-11-23T10:00:00", "2026-11-23T10:00:00.Z", "2026-11-23T10:00:00+1:00",
	                                   "2026-11-23T10:00:00Zjunk", "2026-11-23T10:00:00+01:00x",
	                                   "0000-01-01T00:00:00Z", "2026-11-23T10:00:00+16:00",
	                                   "2026-11-23T10:00:00.1234567890Z" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ok(gf_event_time_valid(good[i]), "event time %s is RFC 3339", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(!gf_event_time_valid(bad[i]), "event time '%s' is not", bad[i]);
}

typedef int (*events_parser)(const char *, size_t, const char *, struct gf_events *, char *, size_t);

static void events_rows(const char *what, events_parser parse, const char *const (*rows)[3], size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct gf_events ev = { 0 };
		char why[300] = "";
		int r = parse(rows[i][0], strlen(rows[i][0]), "s3cret-key", &ev, why, sizeof(why));
		const char *want = rows[i][1], *want_why = rows[i][2];
		if (want) { /* "n:next" */
			char got[64];
			snprintf(got, sizeof(got), "%zu:%s", ev.n, ev.next ? ev.next : "-");
			ok(r == 0 && strcmp(got, want) == 0, "%s events: %s -> %s (got %d %s %s)", what, rows[i][0], want, r,
			   got, why);
		} else {
			ok(r < 0 && strstr(why, want_why) && !strstr(why, "s3cret-key"), "%s events: %s refused: %s (got %d: %s)",
			   what, rows[i][0], want_why, r, why);
		}
		gf_events_clear(&ev);
	}
}

static void test_events(void)
{
	static const char *const rx[][3] = {
		{ "<events xmlns=\"urn:guestflow:review-xml:1\" next=\"C2\"><event bookingNo=\"B-1\" type=\"invited\""
		  " at=\"2026-11-23T10:00:00Z\"/><event bookingNo=\"B-2\" type=\"unsubscribed\""
		  " at=\"2026-11-23T11:00:00+01:00\"/></events>", "2:C2", NULL },
		{ "<events next=\"C1\"/>", "0:C1", NULL },
		{ "<events/>", "0:-", NULL },
		{ "<events next=\"x\"><other/><event bookingNo=\"B-1\" type=\"reviewed\" at=\"2026-11-23T10:00:00Z\"/>"
		  "</events>", "1:x", NULL },
		{ "<events><event bookingNo=\"B-1\" type=\"reviewed\" at=\"2026-11-23T10:00:00Z\"/></events>", NULL,
		  "no next cursor" },
		{ "<events next=\"1\"><event type=\"reviewed\" at=\"2026-11-23T10:00:00Z\"/></events>", NULL,
		  "has no bookingNo" },
		{ "<events next=\"1\"><event bookingNo=\"B-1\" at=\"2026-11-23T10:00:00Z\"/></events>", NULL, "has no type" },
		{ "<events next=\"1\"><event bookingNo=\"B-1\" type=\"reviewed\"/></events>", NULL, "has no at" },
		{ "<events next=\"1\"><event bookingNo=\"B-1\" type=\"s3cret-key\" at=\"2026-11-23T10:00:00Z\"/></events>",
		  NULL, "has type" },
		{ "<events next=\"1\"><event bookingNo=\"B-1\" type=\"reviewed\" at=\"soon\"/></events>", NULL,
		  "not an RFC 3339" },
		{ "<importResult accepted=\"1\" rejected=\"0\"/>", NULL, "expected <events>" },
		{ "<!DOCTYPE events><events/>", NULL, "DOCTYPE" },
		{ "<events", NULL, "not well-formed" },
	};
	events_rows("review-xml", gf_reply_parse_review_xml_events, rx, sizeof(rx) / sizeof(rx[0]));
	static const char *const gj[][3] = {
		{ "{\"events\": [{\"pmsId\": \"B-1\", \"type\": \"reviewed\", \"at\": \"2026-11-23T10:00:00Z\"},"
		  " {\"pmsId\": \"B-2\", \"type\": \"bounced\", \"at\": \"2026-11-23T10:00:00Z\"}], \"next\": \"7\"}",
		  "2:7", NULL },
		{ "{\"events\": [], \"next\": \"7\"}", "0:7", NULL },
		{ "{\"events\": []}", "0:-", NULL },
		{ "{\"events\": [], \"next\": null}", "0:-", NULL },
		{ "{\"events\": [{\"pmsId\": \"B-1\", \"type\": \"reviewed\", \"at\": \"2026-11-23T10:00:00Z\"}]}",
		  NULL, "no next cursor" },
		{ "{\"events\": {}, \"next\": \"1\"}", NULL, "not a list" },
		{ "{\"next\": \"1\"}", NULL, "not a list" },
		{ "{\"events\": [], \"next\": 5}", NULL, "\"next\" is not text" },
		{ "{\"events\": [1], \"next\": \"1\"}", NULL, "not an object" },
		{ "{\"events\": [{\"type\": \"reviewed\", \"at\": \"2026-11-23T10:00:00Z\"}], \"next\": \"1\"}", NULL,
		  "\"pmsId\" is missing" },
		{ "{\"events\": [{\"pmsId\": \"\", \"type\": \"reviewed\", \"at\": \"2026-11-23T10:00:00Z\"}], \"next\":"
		  " \"1\"}", NULL, "\"pmsId\" is missing, empty" },
		{ "{\"events\": [{\"pmsId\": \"B-1\", \"type\": \"s3cret-key\", \"at\": \"2026-11-23T10:00:00Z\"}],"
		  " \"next\": \"1\"}", NULL, "has type" },
		{ "{\"events\": [{\"pmsId\": \"B-1\", \"type\": \"reviewed\", \"at\": 3}], \"next\": \"1\"}", NULL,
		  "\"at\" is missing" },
		{ "{\"events\": [], \"events\": [], \"next\": \"1\"}", NULL, "not JSON" },
		{ "[]", NULL, "not a JSON object" },
	};
	events_rows("guest-json", gf_events_parse_guest_json, gj, sizeof(gj) / sizeof(gj[0]));
}

static void test_error_files(void)
{
	static const char name[] = "20261123_H-1_6f1c0000-0000-4000-8000-000000000001.csv.errors.csv";
	static const struct {
		const char *data;
		int want_n; /* -1: refused */
		const char *first_no, *first_reason;
	} rows[] = {
		{ "B-1;invalid email\r\nB-2;\"a;b \"\"c\"\"\"\r\n", 2, "B-1", "invalid email" },
		{ "B-1;x\nB-2;y", 2, "B-1", "x" },
		{ "\"B;1\";\"multi\r\nline\"\r\n", 1, "B;1", "multi  line" },
		{ "", 0, NULL, NULL },
		{ "\r\n\r\n", 0, NULL, NULL },
		{ "B-1;", 1, "B-1", "" },
		{ "B-1\r\n", -1, NULL, NULL },
		{ ";reason\r\n", -1, NULL, NULL },
		{ "B-1;a;b\r\n", -1, NULL, NULL },
		{ "B-1;\"open\r\n", -1, NULL, NULL },
		{ "B-1;x\"y\r\n", -1, NULL, NULL },
		{ "B-1;\"q\"z\r\n", -1, NULL, NULL },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct gf_events ev = { 0 };
		char why[300] = "";
		int r = gf_visits_csv_parse_errors(name, rows[i].data, strlen(rows[i].data), &ev, why, sizeof(why));
		if (rows[i].want_n < 0) {
			ok(r < 0 && ev.n == 0 && strstr(why, "line 1"), "error file line %zu refused (%s)", i, why);
		} else {
			bool first = rows[i].want_n == 0 ||
			             (!strcmp(ev.items[0].booking_no, rows[i].first_no) &&
			              !strcmp(ev.items[0].reason, rows[i].first_reason) &&
			              ev.items[0].type == GF_EVENT_REJECTED &&
			              !strcmp(ev.items[0].batch_key, "6f1c0000-0000-4000-8000-000000000001"));
			ok(r == 0 && ev.n == (size_t)rows[i].want_n && first, "error file %zu: %d events (got %d, %zu: %s)", i,
			   rows[i].want_n, r, ev.n, why);
		}
		gf_events_clear(&ev);
	}
	struct gf_events ev = { 0 };
	char why[100];
	ok(gf_visits_csv_parse_errors("short.errors.csv", "B-1;x", 5, &ev, why, sizeof(why)) < 0,
	   "an error file's name must name its batch");
}

int main(void)
{
	test_times();
	test_events();
	test_error_files();
	test_review_xml();
	test_guest_json();
	test_visits_csv();
	test_engine_table();
	return done_testing();
}
