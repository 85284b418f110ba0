/* Unit tests for the connection test's tables: each output's verdict on a
 * finished test request (built here, as the transport leaves it), the
 * engine's table for transport failures, and the exit codes. No database,
 * no network. */
#include <curl/curl.h>
#include <string.h>

#include "core/conntest.h"
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
		{ "500", CURLE_OK, 500, "", GF_TEST_UNEXPECTED, "HTTP 500" },
		{ "302", CURLE_OK, 302, "", GF_TEST_UNEXPECTED, "HTTP 302" },
		{ "429", CURLE_OK, 429, "", GF_TEST_UNEXPECTED, "HTTP 429" },
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
		{ "503", CURLE_OK, 503, "", GF_TEST_UNEXPECTED, "HTTP 503" },
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

int main(void)
{
	test_review_xml();
	test_guest_json();
	test_visits_csv();
	test_engine_table();
	return done_testing();
}
