/* Unit tests for the guest-json output (src/outputs/guest_json): every body
 * rendered is read back with a strict reader of PARTNERS.md's contract; the
 * reply parser on good and bad replies; URL, header and failure table. No
 * database, no network. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/gzip.h"
#include "base/util.h"
#include "core/record.h"
#include "core/output.h"
#include "outputs/guest_json/output.h"
#include "tap.h"

#define BUF_MAX ((size_t)64 << 20)

static struct gf_record rec(const char *booking_no)
{
	return (struct gf_record){
		.booking_id = 1, .booking_no = booking_no, .last_name = "  Müller ", .first_name = "Anna",
		.email = "anna@example.org", .gender = "w", .language = "de-DE", .status = "checked_out",
		.arrival = "2026-11-20", .departure = "2026-11-22",
	};
}

/* The contract, strictly: the keys of the body and of a guest, their types,
 * no null, firstName never "", at most 1000 guests, no raw control
 * character in the bytes. Returns the guests (a new reference) or NULL
 * with why. */
static json_t *contract(const char *body, size_t len, const char *batch_id, char *why, size_t whylen)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)body[i] < 0x20) {
			snprintf(why, whylen, "raw control character 0x%02x at byte %zu", (unsigned char)body[i], i);
			return NULL;
		}
	if (len >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0) {
		snprintf(why, whylen, "a BOM");
		return NULL;
	}
	json_error_t e;
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
	if (!root) {
		snprintf(why, whylen, "not JSON: %s", e.text);
		return NULL;
	}
	json_t *guests = json_incref(json_object_get(root, "guests"));
	const char *bid = json_string_value(json_object_get(root, "batchId"));
	bool good = json_is_object(root) && json_object_size(root) == 2 && bid && strcmp(bid, batch_id) == 0 &&
	            json_is_array(guests) && json_array_size(guests) >= 1 && json_array_size(guests) <= 1000;
	json_decref(root);
	if (!good) {
		snprintf(why, whylen, "not {\"batchId\": \"%s\", \"guests\": [1..1000]}", batch_id);
		json_decref(guests);
		return NULL;
	}
	static const char *const required[] = { "pmsId", "lastName", "email", "checkout" };
	static const char *const optional[] = { "firstName", "gender", "language", "status", "checkin" };
	size_t i;
	json_t *g;
	json_array_foreach(guests, i, g) {
		const char *k;
		json_t *v;
		size_t found = 0;
		json_object_foreach(g, k, v) {
			bool known = false;
			for (size_t r = 0; r < 4; r++)
				known |= strcmp(k, required[r]) == 0;
			for (size_t r = 0; r < 5; r++)
				known |= strcmp(k, optional[r]) == 0;
			if (!known || !json_is_string(v) || (strcmp(k, "firstName") == 0 && json_string_length(v) == 0)) {
				snprintf(why, whylen, "guest %zu: key %s not allowed, not a string, or an empty firstName", i, k);
				json_decref(guests);
				return NULL;
			}
		}
		for (size_t r = 0; r < 4; r++)
			found += json_is_string(json_object_get(g, required[r])) &&
			         json_string_length(json_object_get(g, required[r])) > 0;
		if (found != 4) {
			snprintf(why, whylen, "guest %zu: a required key is missing or empty", i);
			json_decref(guests);
			return NULL;
		}
	}
	return guests;
}

static const char *field(json_t *guests, size_t i, const char *key)
{
	return json_string_value(json_object_get(json_array_get(guests, i), key));
}

static void test_render(void)
{
	struct gf_record recs[5] = { rec("B-1"), rec("B-2"), rec("B-3"), rec("B-1"), rec("B-5") };
	recs[1].first_name = "   ";           /* blank: left out */
	recs[1].gender = NULL;
	recs[1].language = "xx";              /* unknown: the default */
	recs[2].email = "not an address";     /* rejected */
	recs[4].last_name = "O\"Brien \\ \xe2\x80\xae tab\xc2\xa0" "end"; /* escaped, bidi kept as UTF-8 */
	char *reasons[5];
	size_t nr = 0;
	struct gf_buf out = GF_BUF_INIT(BUF_MAX);
	int rc = gf_render_guest_json("6f1c-key", recs, 5, "en", 0, 0, &out, reasons, &nr);
	is_int(rc, 0, "a batch renders");
	is_int((int64_t)nr, 3, "three of five rendered (a bad e-mail, a booking number twice)");
	ok(reasons[2] && strstr(reasons[2], "email"), "the bad e-mail is rejected with a reason: %s",
	   reasons[2] ? reasons[2] : "(none)");
	ok(reasons[3] && strstr(reasons[3], "twice"), "the second B-1 is rejected: %s", reasons[3] ? reasons[3] : "(none)");
	ok(!reasons[0] && !reasons[1] && !reasons[4], "the others have no reason (%s)", reasons[4] ? reasons[4] : "");
	char why[256] = "";
	json_t *g = contract(out.data, out.len, "6f1c-key", why, sizeof(why));
	ok(g != NULL, "the body keeps the contract (%s)", why);
	if (g) {
		is_str(field(g, 0, "pmsId"), "B-1", "pmsId is the booking number");
		is_str(field(g, 0, "lastName"), "Müller", "names are trimmed");
		is_str(field(g, 0, "gender"), "female", "gender normalised");
		is_str(field(g, 0, "language"), "de", "language normalised");
		is_str(field(g, 0, "checkin"), "2026-11-20", "checkin is the arrival");
		is_str(field(g, 0, "checkout"), "2026-11-22", "checkout is the departure");
		is_str(field(g, 0, "status"), "checked_out", "status");
		ok(json_object_get(json_array_get(g, 1), "firstName") == NULL, "a blank first name is left out");
		is_str(field(g, 1, "language"), "en", "an unknown language falls back to the default");
		is_str(field(g, 2, "lastName"), "O\"Brien \\ \xe2\x80\xae tab\xc2\xa0" "end", "quotes, backslash and UTF-8 survive");
		json_decref(g);
	}
	for (size_t i = 0; i < 5; i++)
		free(reasons[i]);

	/* gzip: the same document, deflated as it is written */
	struct gf_buf gz = GF_BUF_INIT(BUF_MAX), plain = GF_BUF_INIT(BUF_MAX);
	rc = gf_render_guest_json("6f1c-key", recs, 5, "en", 0, 6, &gz, reasons, &nr);
	ok(rc == 0 && gf_gunzip(gz.data, gz.len, &plain) == 0 && plain.len == out.len &&
	   memcmp(plain.data, out.data, out.len) == 0, "gzip level 6 inflates to the same body");
	for (size_t i = 0; i < 5; i++)
		free(reasons[i]);
	gf_buf_free(&gz);
	gf_buf_free(&plain);
	gf_buf_free(&out);

	/* nothing to send: nothing written */
	struct gf_buf none = GF_BUF_INIT(BUF_MAX);
	struct gf_record bad = rec("B-9");
	bad.email = NULL;
	rc = gf_render_guest_json("k", &bad, 1, "en", 0, 0, &none, reasons, &nr);
	ok(rc == 0 && nr == 0 && none.len == 0, "a batch with nothing to send writes nothing");
	free(reasons[0]);

	/* the contract's 1000 guests */
	struct gf_record *many = gf_xcalloc(1001, sizeof(*many));
	char (*nos)[16] = gf_xcalloc(1001, sizeof(*nos));
	for (size_t i = 0; i < 1001; i++) {
		snprintf(nos[i], sizeof(nos[i]), "B-%zu", i);
		many[i] = rec(nos[i]);
	}
	is_int(gf_render_guest_json("k", many, 1001, "en", 0, 0, &none, NULL, &nr), -GF_E_TOO_BIG,
	       "more than 1000 guests is too big (the engine halves the batch), nothing written");
	rc = gf_render_guest_json("k", many, 1000, "en", 0, 0, &none, NULL, &nr);
	g = rc == 0 ? contract(none.data, none.len, "k", why, sizeof(why)) : NULL;
	ok(g && json_array_size(g) == 1000, "1000 guests render and keep the contract (%s)", why);
	json_decref(g);
	free(many);
	free(nos);

	/* a cap reached: nothing half-written */
	struct gf_buf tiny = GF_BUF_INIT(64);
	struct gf_record one = rec("B-1");
	is_int(gf_render_guest_json("k", &one, 1, "en", 0, 0, &tiny, NULL, &nr), -GF_E_TOO_BIG, "past the cap: too big");
	ok(tiny.len == 0, "and nothing is left in the buffer");
	gf_buf_free(&tiny);
	gf_buf_free(&none);
}

/* fields.omit: the optional keys left out, and not checked either. */
static void test_omit(void)
{
	struct gf_record recs[2] = { rec("B-1"), rec("B-2") };
	recs[1].arrival = "not a date";   /* not sent: no reason to refuse the guest */
	recs[1].status = "   ";
	recs[1].language = NULL;
	unsigned all = GF_OMIT_FIRST_NAME | GF_OMIT_GENDER | GF_OMIT_LANGUAGE | GF_OMIT_STATUS | GF_OMIT_ARRIVAL;
	char *reasons[2];
	size_t nr = 0;
	struct gf_buf out = GF_BUF_INIT(BUF_MAX);
	int rc = gf_render_guest_json("k", recs, 2, NULL, all, 0, &out, reasons, &nr);
	ok(rc == 0 && nr == 2, "every optional field left out: both guests go, a bad arrival and status not sent (%s)",
	   reasons[1] ? reasons[1] : "");
	char why[256] = "";
	json_t *g = contract(out.data, out.len, "k", why, sizeof(why));
	ok(g != NULL, "and the body keeps the contract (%s)", why);
	if (g) {
		json_t *first = json_array_get(g, 0);
		ok(json_object_size(first) == 4 && json_object_get(first, "pmsId") && json_object_get(first, "lastName") &&
		   json_object_get(first, "email") && json_object_get(first, "checkout"),
		   "a guest holds only pmsId, lastName, email and checkout");
		json_decref(g);
	}
	for (size_t i = 0; i < 2; i++)
		free(reasons[i]);
	gf_buf_reset(&out);
	rc = gf_render_guest_json("k", recs, 2, "en", GF_OMIT_GENDER, 0, &out, reasons, &nr);
	ok(rc == 0 && nr == 1 && reasons[1] && strstr(reasons[1], "status"),
	   "what is sent is still checked: a blank status refuses the guest (%s)", reasons[1] ? reasons[1] : "");
	g = contract(out.data, out.len, "k", why, sizeof(why));
	ok(g && !json_object_get(json_array_get(g, 0), "gender") && json_object_get(json_array_get(g, 0), "firstName"),
	   "gender left out, first name kept");
	json_decref(g);
	for (size_t i = 0; i < 2; i++)
		free(reasons[i]);
	gf_buf_free(&out);
}

static int parse(const char *s, struct gf_reply *r, char *why, size_t whylen)
{
	return gf_reply_parse_guest_json(s, strlen(s), "s3cr3t-token", r, why, whylen);
}

static void test_reply(void)
{
	struct gf_reply r;
	char why[256] = "";
	int rc = parse("{\"accepted\": 2, \"rejected\": [{\"pmsId\": \"B-1\", \"reason\": \"invalid email\"}]}", &r, why,
	               sizeof(why));
	ok(rc == 0 && r.accepted == 2 && r.rejected == 1 && r.n_items == 1 &&
	   strcmp(r.items[0].booking_no, "B-1") == 0 && strcmp(r.items[0].reason, "invalid email") == 0,
	   "accepted with a rejected guest (%s)", why);
	gf_reply_clear(&r);
	rc = parse("{\"accepted\": 3}", &r, why, sizeof(why));
	ok(rc == 0 && r.accepted == 3 && r.rejected == 0, "rejected may be absent");
	gf_reply_clear(&r);
	rc = parse("{\"accepted\": 1, \"rejected\": [{\"pmsId\": \"B-1\", \"reason\": \"key s3cr3t-token\"}]}", &r, why,
	           sizeof(why));
	ok(rc == 0 && !strstr(r.items[0].reason, "s3cr3t-token"), "the token is redacted from a reason: %s",
	   rc == 0 ? r.items[0].reason : why);
	gf_reply_clear(&r);
	static const struct {
		const char *body, *what;
	} bad[] = {
		{ "", "empty" },
		{ "<html>ok</html>", "not JSON" },
		{ "[1, 2]", "not an object" },
		{ "{\"rejected\": []}", "accepted missing" },
		{ "{\"accepted\": -1}", "a negative count" },
		{ "{\"accepted\": 1.5}", "a count that is not an integer" },
		{ "{\"accepted\": \"2\"}", "a count as a string" },
		{ "{\"accepted\": 1, \"accepted\": 2}", "a duplicate key" },
		{ "{\"accepted\": 1, \"rejected\": {}}", "rejected not a list" },
		{ "{\"accepted\": 1, \"rejected\": [{\"reason\": \"x\"}]}", "a rejected entry without pmsId" },
		{ "{\"accepted\": 1, \"rejected\": [{\"pmsId\": 7}]}", "a pmsId that is not text" },
		{ "{\"accepted\": 0, \"rejected\": [{\"pmsId\": \"B\"}, {\"pmsId\": \"B\"}]}", "a pmsId twice" },
		{ "{\"accepted\": 1, \"rejected\": [{\"pmsId\": \"B\", \"reason\": 5}]}", "a reason that is not text" },
		{ "{\"accepted\": 1} trailing", "something after the object" },
		{ "{\"accepted\": 1, \"x\": \"\xff\"}", "invalid UTF-8" },
		{ "{\"accepted\": 99999999999}", "a count past any batch" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		rc = parse(bad[i].body, &r, why, sizeof(why));
		ok(rc == -GF_E_REPLY && why[0], "refused: %s (%s)", bad[i].what, why);
		if (rc == 0)
			gf_reply_clear(&r);
	}
	/* jansson's message quotes a piece of the body: never kept, a
	 * piece of the token is no longer the token redaction finds */
	rc = gf_reply_parse_guest_json("{\"accepted\": s3cr3tXtoken}", 26, "s3cr3tXtoken", &r, why, sizeof(why));
	ok(rc == -GF_E_REPLY && !strstr(why, "s3cr3t"), "not JSON: no piece of the body in the reason (%s)", why);
	/* more rejected than a request holds: refused before any work on them */
	struct gf_buf big = GF_BUF_INIT(BUF_MAX);
	gf_buf_puts(&big, "{\"accepted\": 0, \"rejected\": [");
	for (int i = 0; i < 1001; i++)
		gf_buf_printf(&big, "%s{\"pmsId\": \"B-%d\"}", i ? "," : "", i);
	gf_buf_puts(&big, "]}");
	rc = gf_reply_parse_guest_json(big.data, big.len, NULL, &r, why, sizeof(why));
	ok(rc == -GF_E_REPLY && strstr(why, "1000"), "1001 rejected guests refused (%s)", why);
	rc = gf_refusal_parse_guest_json(big.data, big.len, NULL, &r, why, sizeof(why));
	ok(rc == -GF_E_REPLY, "and in a 400 too (%s)", why);
	gf_buf_free(&big);
	/* a NUL inside the body */
	static const char nul[] = "{\"accepted\": 1, \"rejected\": [{\"pmsId\": \"B\\u0000x\"}]}";
	rc = gf_reply_parse_guest_json(nul, sizeof(nul) - 1, NULL, &r, why, sizeof(why));
	ok(rc == -GF_E_REPLY, "a pmsId holding \\u0000 is refused (%s)", why);
}

/* A 400 that names the guests refused. */
static void test_refusal(void)
{
	struct gf_reply r;
	char why[256] = "";
	const char *named = "{\"error\": \"invalid records\", \"rejected\": [{\"pmsId\": \"B-2\", \"reason\": \"bad\"},"
	                    " {\"pmsId\": \"B-5\"}]}";
	int rc = gf_refusal_parse_guest_json(named, strlen(named), NULL, &r, why, sizeof(why));
	ok(rc == 0 && r.n_items == 2 && strcmp(r.items[0].booking_no, "B-2") == 0 &&
	   strcmp(r.items[0].reason, "bad") == 0 && strcmp(r.items[1].reason, "") == 0, "names read (%s)", why);
	if (rc == 0)
		gf_reply_clear(&r);
	static const char *const none[] = {
		"{\"error\": \"bad batch\"}", "{\"error\": \"x\", \"rejected\": []}", "bad batch", "[]",
		"{\"rejected\": [{\"pmsId\": \"B\"}, {\"pmsId\": \"B\"}]}", "{\"rejected\": [{\"reason\": \"r\"}]}",
	};
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		rc = gf_refusal_parse_guest_json(none[i], strlen(none[i]), NULL, &r, why, sizeof(why));
		ok(rc == -GF_E_REPLY, "no usable names, bisected instead: %s (%s)", none[i], why);
		if (rc == 0)
			gf_reply_clear(&r);
	}
}

static void test_request(void)
{
	const struct gf_output *o = gf_output_find("guest-json");
	ok(o == &gf_output_guest_json, "guest-json is in the registry");
	if (!o)
		return;
	const struct gf_output_target t = { .partner_id = "P 1/ü", .secret = "tok", .batch_key = "k" };
	char *u = o->url("https://api.example/v1", &t, true);
	is_str(u, "https://api.example/v1/properties/P%201%2F%C3%BC/guests", "the property id is one path segment");
	free(u);
	u = o->url("https://api.example/v1/", &t, false);
	is_str(u, "https://api.example/v1/properties/P%201%2F%C3%BC/guests", "a trailing slash is not doubled");
	free(u);
	char *h = o->auth_header(&t);
	is_str(h, "Authorization: Bearer tok", "the token goes in the Authorization header");
	free(h);
	is_str(o->content_type, "application/json", "content type");
	is_int(o->max_records, 1000, "at most 1000 guests a request");
	char why[128];
	ok(o->check_id("P-1", why, sizeof(why)) == 0 && o->check_id("", why, sizeof(why)) < 0 &&
	   o->check_id("P\x01", why, sizeof(why)) < 0, "a property id: text, not empty");
	ok(o->check_id(".", why, sizeof(why)) < 0 && o->check_id("..", why, sizeof(why)) < 0 &&
	   o->check_id("...", why, sizeof(why)) == 0 && o->check_id("a/..", why, sizeof(why)) == 0,
	   "'.' and '..' refused: the URL would resolve them away");
	static const struct {
		long status;
		enum gf_answer_kind kind;
		bool maybe_taken;
	} table[] = {
		{ 200, GF_ANSWER_OK, false },          { 202, GF_ANSWER_OK, false },
		{ 400, GF_ANSWER_REFUSED, false },     { 413, GF_ANSWER_TOO_LARGE, false },
		{ 401, GF_ANSWER_CREDENTIALS, false }, { 403, GF_ANSWER_CREDENTIALS, false },
		{ 404, GF_ANSWER_CREDENTIALS, false }, { 409, GF_ANSWER_LATER, true },
		{ 429, GF_ANSWER_LATER, false },       { 500, GF_ANSWER_LATER, true },
		{ 503, GF_ANSWER_LATER, true },        { 408, GF_ANSWER_UNEXPECTED, false },
		{ 302, GF_ANSWER_UNEXPECTED, true },   { 303, GF_ANSWER_UNEXPECTED, true },
		{ 418, GF_ANSWER_UNEXPECTED, false },
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		struct gf_answer a;
		o->classify(table[i].status, &a);
		ok(a.kind == table[i].kind && a.maybe_taken == table[i].maybe_taken,
		   "guest-json: HTTP %ld is answer %d (maybe taken %d)", table[i].status, (int)table[i].kind,
		   table[i].maybe_taken);
	}
}

int main(void)
{
	test_render();
	test_omit();
	test_reply();
	test_refusal();
	test_request();
	return done_testing();
}
