/* Fuzz target: the partner-reply parser gf_reply_parse_review_xml() (review-xml <importResult>). */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "fuzz.h"
#include "outputs/review_xml/reply.h"
#include "base/text.h"
#include "base/util.h"

/* http.max_reply_bytes defaults to 1 MiB; more only slows the fuzzer down. */
#define FUZZ_MAX_INPUT ((size_t)1024 * 1024)

static int cmp_booking(const void *a, const void *b)
{
	const struct gf_reply_rejection *const *x = a, *const *y = b;
	return strcmp((*x)->booking_no, (*y)->booking_no);
}

/* An accepted reply must be what reply.h promises. */
static void check_reply(const struct gf_reply *res, const uint8_t *data, size_t size)
{
	FUZZ_CHECK(res->accepted >= 0 && res->rejected >= 0, "counts %lld/%lld",
	           (long long)res->accepted, (long long)res->rejected);
	FUZZ_CHECK((int64_t)res->n_items == res->rejected, "%zu items, rejected=%lld",
	           res->n_items, (long long)res->rejected);
	FUZZ_CHECK(res->n_items == 0 || res->items, "items NULL");
	for (size_t i = 0; i < res->n_items; i++) {
		FUZZ_CHECK(res->items[i].booking_no && *res->items[i].booking_no, "item %zu: bookingNo", i);
		FUZZ_CHECK(res->items[i].reason != NULL, "item %zu: reason NULL", i);
		FUZZ_CHECK(gf_text_is_safe(res->items[i].reason, strlen(res->items[i].reason)) &&
		           strlen(res->items[i].reason) <= GF_TEXT_MAX, "item %zu: reason is not safe text", i);
	}
	if (res->n_items > 1) {
		const struct gf_reply_rejection **v = gf_xmalloc(res->n_items * sizeof(*v));
		for (size_t i = 0; i < res->n_items; i++)
			v[i] = &res->items[i];
		qsort(v, res->n_items, sizeof(*v), cmp_booking);
		for (size_t i = 1; i < res->n_items; i++)
			FUZZ_CHECK(strcmp(v[i]->booking_no, v[i - 1]->booking_no) != 0,
			           "booking %s listed twice", v[i]->booking_no);
		free(v);
	}

	/* An accepted reply is well-formed XML without a DOCTYPE, rooted at <importResult>. */
	xmlDocPtr doc = xmlReadMemory((const char *)data, (int)size, NULL, NULL,
	                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	FUZZ_CHECK(doc != NULL, "accepted, but xmlReadMemory rejects it");
	xmlNodePtr root = xmlDocGetRootElement(doc);
	FUZZ_CHECK(doc->intSubset == NULL && doc->extSubset == NULL, "accepted with a DOCTYPE");
	FUZZ_CHECK(root && strcmp((const char *)root->name, "importResult") == 0, "root <%s>",
	           root ? (const char *)root->name : "(none)");
	xmlFreeDoc(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct gf_reply sentinel = { -7, -7, NULL, 7 };
	struct gf_reply res = sentinel;
	char why[256] = "";

	if (size > FUZZ_MAX_INPUT)
		return 0;
	stray_messages = 0;
	xmlSetGenericErrorFunc(NULL, on_generic_error);
	/* the access key of the request: never in why or a reason, whatever is quoted */
	static const char key[] = "k3y+/=one";
	int r = gf_reply_parse_review_xml((const char *)data, size, key, &res, why, sizeof(why));
	FUZZ_CHECK(!strstr(why, key), "the key in why '%s'", why);
	FUZZ_CHECK(stray_messages == 0, "libxml2 printed %u message(s) on stderr, the first: %s",
	           stray_messages, stray_first);
	if (r < 0) {
		FUZZ_CHECK(r == -GF_E_REPLY || r == -ENOMEM, "error %d", r);
		FUZZ_CHECK(res.accepted == sentinel.accepted && res.rejected == sentinel.rejected
		           && res.items == sentinel.items && res.n_items == sentinel.n_items,
		           "*out changed on failure");
		FUZZ_CHECK(r != -GF_E_REPLY || strncmp(why, "reply: ", 7) == 0, "why '%s'", why);
		return 0;
	}
	FUZZ_CHECK(r == 0, "returned %d", r);
	check_reply(&res, data, size);
	for (size_t i = 0; i < res.n_items; i++)
		FUZZ_CHECK(!strstr(res.items[i].reason, key), "the key in reason '%s'", res.items[i].reason);
	gf_reply_clear(&res);
	FUZZ_CHECK(res.items == NULL && res.n_items == 0, "gf_reply_clear left items");
	return 0;
}
