/* Fuzz target: guest-json's reply parsers, gf_reply_parse_guest_json() (a
 * 2xx reply) and gf_refusal_parse_guest_json() (a 400 naming guests), on the
 * same input. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "base/text.h"
#include "base/util.h"
#include "fuzz.h"
#include "outputs/guest_json/output.h"

/* http.max_reply_bytes defaults to 1 MiB; more only slows the fuzzer down. */
#define FUZZ_MAX_INPUT ((size_t)1024 * 1024)

/* What output.h promises of a reply read, and that the input was JSON. */
static void check(const struct gf_reply *res, bool refusal, const uint8_t *data, size_t size, const char *key)
{
	FUZZ_CHECK(res->accepted >= 0 && (!refusal || res->accepted == 0), "accepted %lld", (long long)res->accepted);
	FUZZ_CHECK((int64_t)res->n_items == res->rejected, "%zu items, rejected=%lld", res->n_items,
	           (long long)res->rejected);
	FUZZ_CHECK(res->n_items <= GF_GUEST_JSON_MAX_GUESTS, "%zu items", res->n_items);
	FUZZ_CHECK(!refusal || res->n_items > 0, "a refusal naming no guest");
	for (size_t i = 0; i < res->n_items; i++) {
		FUZZ_CHECK(res->items[i].booking_no && res->items[i].reason, "item %zu: NULL", i);
		FUZZ_CHECK(gf_text_is_safe(res->items[i].reason, strlen(res->items[i].reason)) &&
		           strlen(res->items[i].reason) <= GF_TEXT_MAX, "item %zu: reason is not safe text", i);
		FUZZ_CHECK(!strstr(res->items[i].reason, key), "the token in reason '%s'", res->items[i].reason);
		for (size_t k = 0; k < i; k++)
			FUZZ_CHECK(strcmp(res->items[k].booking_no, res->items[i].booking_no) != 0, "pmsId %s twice",
			           res->items[i].booking_no);
	}
	json_error_t e;
	json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &e);
	FUZZ_CHECK(json_is_object(root), "read, but not a JSON object");
	json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_MAX_INPUT)
		return 0;
	/* the token of the request: never in why or a reason, whatever is quoted */
	static const char key[] = "tok3n+/=one";
	for (int refusal = 0; refusal < 2; refusal++) {
		struct gf_reply res = { -7, -7, NULL, 7 };
		char why[256] = "";
		int r = refusal ? gf_refusal_parse_guest_json((const char *)data, size, key, &res, why, sizeof(why))
		                : gf_reply_parse_guest_json((const char *)data, size, key, &res, why, sizeof(why));
		FUZZ_CHECK(!strstr(why, key), "the token in why '%s'", why);
		if (r < 0) {
			FUZZ_CHECK(r == -GF_E_REPLY, "error %d", r);
			FUZZ_CHECK(why[0] && gf_text_is_safe(why, strlen(why)), "no reason, or one that is not safe text");
			FUZZ_CHECK(res.items == NULL && res.n_items == 0, "items left on failure");
			continue;
		}
		check(&res, refusal, data, size, key);
		gf_reply_clear(&res);
		FUZZ_CHECK(res.items == NULL && res.n_items == 0, "gf_reply_clear left items");
	}
	return 0;
}
