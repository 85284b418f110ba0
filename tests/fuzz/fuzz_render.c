/* Fuzz target: the review-xml renderer gf_render_review_xml(), on records cut out of the input.
 *
 * Input: chunks separated by 0xFF bytes (never part of UTF-8). The first chunk
 * is the header, the others are one record each; fields within a chunk are
 * separated by NUL bytes:
 *   header: hotel_id NUL batch_id NUL default_language
 *   record: booking_no NUL last_name NUL first_name NUL email NUL gender NUL
 *           language NUL status NUL arrival NUL departure
 * A missing field, or one that is the single byte 0x01, is NULL.
 *
 * Invariants checked: every record gets a reason or is rendered, never both;
 * *n_rendered counts the rendered ones; nothing that gf_record_check() rejects
 * is rendered; the document appended to the buffer parses as XML, holds
 * exactly the rendered records (bookingNo, trimmed lastName) in order, and is
 * valid against schemas/xsd/review-xml-1.xsd; and when the buffer cap is hit
 * nothing is left behind (no bytes, no reasons). */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlschemas.h>
#include <libxml/xmlversion.h>

#include "base/buf.h"
#include "fuzz.h"
#include "core/normalize.h"
#include "outputs/review_xml/render_xml.h"
#include "base/util.h"

#define NS "urn:guestflow:review-xml:1"
#define MAX_RECORDS 1000
#define MAX_FIELDS 9
#define OUT_MAX ((size_t)16 * 1024 * 1024)
#define PREFIX "earlier batch;"   /* what the buffer held before: must survive */

/* ---- the XSD, loaded once ------------------------------------------------ */

#if LIBXML_VERSION >= 21200
typedef const xmlError *gf_xml_error_ptr;
#else
typedef xmlErrorPtr gf_xml_error_ptr;
#endif

static char schema_error[512];

static void on_schema_error(void *ctx, gf_xml_error_ptr e)
{
	(void)ctx;
	if (!schema_error[0] && e)
		snprintf(schema_error, sizeof(schema_error), "line %d: %s", e->line,
		         e->message ? e->message : "?");
}

static xmlSchemaPtr get_schema(void)
{
	static xmlSchemaPtr schema;
	if (schema)
		return schema;
	const char *path = getenv("GF_XSD");
#ifdef GF_FUZZ_XSD
	if (!path)
		path = GF_FUZZ_XSD;
#endif
	FUZZ_CHECK(path != NULL, "set GF_XSD to schemas/xsd/review-xml-1.xsd");
	xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(path);
	schema = pc ? xmlSchemaParse(pc) : NULL;
	xmlSchemaFreeParserCtxt(pc);
	FUZZ_CHECK(schema != NULL, "cannot load the XSD %s (set GF_XSD)", path);
	return schema;
}

static void check_valid(xmlDocPtr doc, const char *xml)
{
	xmlSchemaValidCtxtPtr vc = xmlSchemaNewValidCtxt(get_schema());
	FUZZ_CHECK(vc != NULL, "out of memory");
	schema_error[0] = '\0';
	xmlSchemaSetValidStructuredErrors(vc, on_schema_error, NULL);
	int r = xmlSchemaValidateDoc(vc, doc);
	xmlSchemaFreeValidCtxt(vc);
	FUZZ_CHECK(r == 0, "rendered document is not valid against the XSD: %s\n%s", schema_error, xml);
}

/* ---- input -> records ------------------------------------------------------ */

struct input {
	char *copy;                   /* the input with separators turned into NULs */
	const char *header[3];
	struct gf_record *recs;
	size_t n;
};

/* Split chunk [p, end) into at most max NUL-separated fields (missing: NULL). */
static void split_fields(char *p, char *end, const char **f, size_t max)
{
	for (size_t i = 0; i < max; i++) {
		if (p > end) {
			f[i] = NULL;
			continue;
		}
		char *nul = memchr(p, '\0', (size_t)(end - p));
		f[i] = strcmp(p, "\x01") == 0 ? NULL : p;
		p = (nul ? nul : end) + 1;
	}
}

static void input_parse(struct input *in, const uint8_t *data, size_t size)
{
	memset(in, 0, sizeof(*in));
	in->copy = gf_xmalloc(size + 1);
	memcpy(in->copy, data, size);
	in->copy[size] = '\0';

	size_t n_chunks = 1;
	for (size_t i = 0; i < size; i++)
		n_chunks += data[i] == 0xff;
	if (n_chunks - 1 > MAX_RECORDS)
		n_chunks = MAX_RECORDS + 1;
	in->recs = gf_xcalloc(n_chunks, sizeof(*in->recs));

	char *p = in->copy, *end = in->copy + size;
	for (size_t c = 0; c < n_chunks; c++) {
		char *sep = memchr(p, 0xff, (size_t)(end - p));
		char *stop = sep ? sep : end;
		*stop = '\0';
		if (c == 0) {
			split_fields(p, stop, in->header, 3);
		} else {
			const char *f[MAX_FIELDS];
			split_fields(p, stop, f, MAX_FIELDS);
			in->recs[in->n++] = (struct gf_record){
				.booking_id = (int64_t)c, .booking_no = f[0], .last_name = f[1],
				.first_name = f[2], .email = f[3], .gender = f[4], .language = f[5],
				.status = f[6], .arrival = f[7], .departure = f[8],
			};
		}
		if (!sep)
			break;
		p = sep + 1;
	}
}

static void input_free(struct input *in)
{
	free(in->recs);
	free(in->copy);
}

/* ---- checks ---------------------------------------------------------------- */

static xmlNodePtr next_element(xmlNodePtr n)
{
	while (n && n->type != XML_ELEMENT_NODE)
		n = n->next;
	return n;
}

static bool has_name(xmlNodePtr n, const char *name)
{
	return n && strcmp((const char *)n->name, name) == 0 && n->ns && n->ns->href
	       && strcmp((const char *)n->ns->href, NS) == 0;
}

static void check_text(xmlNodePtr el, const char *want, const char *what, size_t i)
{
	xmlChar *got = xmlNodeGetContent(el);
	FUZZ_CHECK(got && strcmp((const char *)got, want) == 0, "record %zu: %s '%s', want '%s'",
	           i, what, got ? (const char *)got : "(null)", want);
	xmlFree(got);
}

static void check_attr(xmlNodePtr el, const char *name, const char *want)
{
	xmlChar *got = xmlGetNoNsProp(el, (const xmlChar *)name);
	FUZZ_CHECK(got && strcmp((const char *)got, want) == 0, "%s '%s', want '%s'", name,
	           got ? (const char *)got : "(null)", want);
	xmlFree(got);
}

/* The document appended after the prefix. */
static void check_document(const struct input *in, char *const *reasons, size_t n_rendered,
                           const char *xml, size_t len)
{
	xmlDocPtr doc = xmlReadMemory(xml, (int)len, NULL, NULL,
	                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	FUZZ_CHECK(doc != NULL, "rendered document is not well-formed XML:\n%s", xml);

	xmlNodePtr root = xmlDocGetRootElement(doc);
	FUZZ_CHECK(has_name(root, "guestList"), "root element");
	check_attr(root, "hotelId", in->header[0]);
	check_attr(root, "batchId", in->header[1]);

	xmlNodePtr g = next_element(root->children);
	size_t seen = 0;
	for (size_t i = 0; i < in->n; i++) {
		if (reasons[i])
			continue;
		FUZZ_CHECK(has_name(g, "guest"), "record %zu rendered but no <guest> for it", i);
		xmlNodePtr b = next_element(g->children);
		FUZZ_CHECK(has_name(b, "bookingNo"), "record %zu: first child", i);
		check_text(b, in->recs[i].booking_no, "bookingNo", i);
		xmlNodePtr l = next_element(b->next);
		FUZZ_CHECK(has_name(l, "lastName"), "record %zu: second child", i);
		char *trimmed = gf_trim_dup(in->recs[i].last_name);
		check_text(l, trimmed, "lastName", i);
		free(trimmed);
		g = next_element(g->next);
		seen++;
	}
	FUZZ_CHECK(g == NULL, "more <guest> elements than rendered records");
	FUZZ_CHECK(seen == n_rendered, "%zu <guest>, n_rendered %zu", seen, n_rendered);

	check_valid(doc, xml);
	xmlFreeDoc(doc);
}

static void free_reasons(char **reasons, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(reasons[i]);
}

static bool no_reasons(char *const *reasons, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (reasons[i])
			return false;
	return true;
}

/* Rendering again into a buffer too small for the document must fail and
 * leave the buffer and the reasons as they were before the call. */
static void check_cap(const struct input *in, size_t doc_len)
{
	size_t plen = strlen(PREFIX);
	struct gf_buf out = GF_BUF_INIT(plen + doc_len / 2);
	char **reasons = gf_xcalloc(in->n + 1, sizeof(*reasons));
	size_t n_rendered = SIZE_MAX;

	gf_buf_puts(&out, PREFIX);
	stray_messages = 0;
	int r = gf_render_review_xml(in->header[0], in->header[1], in->recs, in->n, in->header[2],
	                             &out, reasons, &n_rendered);
	FUZZ_CHECK(r == -GF_E_TOO_BIG, "cap of %zu bytes for %zu: returned %d", out.max, doc_len, r);
	FUZZ_CHECK(out.len == plen && strcmp(out.data, PREFIX) == 0, "buffer not restored");
	FUZZ_CHECK(no_reasons(reasons, in->n), "reasons left after a failure");
	FUZZ_CHECK(n_rendered == SIZE_MAX, "n_rendered set on failure");
	FUZZ_CHECK(stray_messages == 0, "at the cap, libxml2 printed %u message(s) on stderr, the first: %s",
	           stray_messages, stray_first);
	free(reasons);
	gf_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in;
	input_parse(&in, data, size);

	size_t plen = strlen(PREFIX);
	struct gf_buf out = GF_BUF_INIT(OUT_MAX);
	char **reasons = gf_xcalloc(in.n + 1, sizeof(*reasons));
	size_t n_rendered = SIZE_MAX;

	gf_buf_puts(&out, PREFIX);
	stray_messages = 0;
	xmlSetGenericErrorFunc(NULL, on_generic_error);
	int r = gf_render_review_xml(in.header[0], in.header[1], in.recs, in.n, in.header[2],
	                             &out, reasons, &n_rendered);
	FUZZ_CHECK(stray_messages == 0, "libxml2 printed %u message(s) on stderr, the first: %s",
	           stray_messages, stray_first);
	FUZZ_CHECK(out.len >= plen && memcmp(out.data, PREFIX, plen) == 0, "prefix overwritten");
	/* Only a bad header fails the whole call (the cap is far away): a hotel
	 * or batch id gf_review_xml_check_id() refuses, or a bad default
	 * language. No length is ever refused. */
	bool header_ok = gf_review_xml_check_id(in.header[0], NULL, 0) == 0 &&
	                 gf_review_xml_check_id(in.header[1], NULL, 0) == 0 &&
	                 (!in.header[2] || gf_is_language_code(in.header[2]));
	FUZZ_CHECK(header_ok == (r == 0), "header %s but the call returned %d", header_ok ? "good" : "bad", r);
	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL, "returned %d", r);
		FUZZ_CHECK(out.len == plen, "bytes appended on failure");
		FUZZ_CHECK(no_reasons(reasons, in.n), "reasons set on failure");
		FUZZ_CHECK(n_rendered == SIZE_MAX, "n_rendered set on failure");
		goto done;
	}

	size_t count = 0;
	for (size_t i = 0; i < in.n; i++) {
		char why[256];
		bool ok = gf_record_check(&in.recs[i], why, sizeof(why)) == 0;
		FUZZ_CHECK(ok || reasons[i], "record %zu rendered although gf_record_check says: %s",
		           i, why);
		FUZZ_CHECK(!reasons[i] || reasons[i][0], "record %zu: empty reason", i);
		count += reasons[i] == NULL;
	}
	FUZZ_CHECK(n_rendered == count, "n_rendered %zu, %zu records without a reason",
	           n_rendered, count);
	if (count == 0) {
		FUZZ_CHECK(out.len == plen, "nothing rendered, but %zu bytes appended", out.len - plen);
		goto done;
	}
	FUZZ_CHECK(out.len > plen, "%zu records rendered, nothing appended", count);
	check_document(&in, reasons, n_rendered, out.data + plen, out.len - plen);
	check_cap(&in, out.len - plen);

done:
	free_reasons(reasons, in.n);
	free(reasons);
	gf_buf_free(&out);
	input_free(&in);
	return 0;
}
