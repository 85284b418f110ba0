/* partner-sim: request bodies — gzip inflate, guestList parse + XSD check, importResult reply. */
#include "sim.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlwriter.h>
#include <zlib.h>

const char *const sim_field_names[SIM_F_COUNT] = {
	"bookingNo", "lastName", "firstName", "email", "gender",
	"language", "status", "arrival", "departure",
};

int sim_gunzip(const char *in, size_t n, size_t max, struct sim_buf *out)
{
	enum { CHUNK = 16384 };
	z_stream zs;
	memset(&zs, 0, sizeof zs);
	if (n == 0 || n > UINT_MAX)
		return -EINVAL;
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
		return -ENOMEM;
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)n;
	int r = 0;
	/* a first guess at the inflated size saves most of the regrowing */
	if (sim_buf_reserve(out, n < max / 4 ? 4 * n : max) < 0)
		r = -ENOMEM;
	/* Inflate straight into out, CHUNK bytes per call; a chunk that would take out past
	 * max is not kept. */
	while (r == 0) {
		if (sim_buf_reserve(out, CHUNK) < 0) {
			r = -ENOMEM;
			break;
		}
		zs.next_out = (Bytef *)out->data + out->len;
		zs.avail_out = CHUNK;
		int z = inflate(&zs, Z_NO_FLUSH);
		if (z != Z_OK && z != Z_STREAM_END) {
			r = z == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
			break;
		}
		size_t got = CHUNK - zs.avail_out;
		if (got > out->max || out->len > out->max - got) {
			r = -E2BIG;
			break;
		}
		out->len += got;
		if (z == Z_STREAM_END) {
			if (zs.avail_in == 0)
				break;
			if (inflateReset(&zs) != Z_OK) { /* next gzip member */
				r = -EINVAL;
				break;
			}
		}
	}
	if (out->data)
		out->data[out->len] = '\0';
	inflateEnd(&zs);
	if (r == -E2BIG || out->len > max)
		return -E2BIG;
	return r;
}

struct first_error {
	char *msg;
	size_t size;
	bool have;
};

static void capture_error(void *ctx, xmlErrorPtr e)
{
	struct first_error *fe = ctx;
	if (fe->have || !e || e->level < XML_ERR_ERROR)
		return;
	fe->have = true;
	const char *m = e->message ? e->message : "unknown error";
	size_t len = strlen(m);
	while (len > 0 && (m[len - 1] == '\n' || m[len - 1] == ' '))
		len--;
	snprintf(fe->msg, fe->size, "line %d: %.*s", e->line, (int)len, m);
}

/* ---- the guestList, read with SAX: no document tree ----------------------------------
 * The simulator shares the machine with what it tests; a tree of ten nodes per guest,
 * built and freed for every request, was most of its work. The handlers keep what the
 * tree walk kept: the root's hotelId and batchId, and per <guest> of the namespace the
 * text of the first of each field element (all text below it, as xmlNodeGetContent has
 * it). The strings go into one arena, fixed up into pointers at the end. */

#define NO_FIELD SIZE_MAX

struct sax {
	xmlParserCtxtPtr ctxt;
	struct sim_buf text;                /* every string, NUL-terminated */
	size_t (*offs)[SIM_F_COUNT];        /* per guest: offset of each field, or NO_FIELD */
	size_t n, cap;
	size_t hotel_id, batch_id;          /* offsets, or NO_FIELD */
	int depth;                          /* of the element being read (root 1) */
	int field;                          /* field being collected, or -1 */
	int field_depth;
	bool in_guest, doctype, oom;
	const char *why;                    /* first structural problem, or NULL */
	const xmlChar *ns;                  /* a URI seen to be SIM_NS (interned) */
};

static bool sax_in_ns(struct sax *x, const xmlChar *uri)
{
	if (!uri)
		return false;
	if (uri == x->ns)
		return true;
	if (!xmlStrEqual(uri, BAD_CAST SIM_NS))
		return false;
	x->ns = uri;
	return true;
}

static void sax_stop(struct sax *x)
{
	xmlStopParser(x->ctxt);
}

static size_t sax_keep(struct sax *x, const xmlChar *s, size_t len)
{
	size_t at = x->text.len;
	if (sim_buf_add(&x->text, s, len) < 0 || sim_buf_add(&x->text, "", 1) < 0) {
		x->oom = true;
		sax_stop(x);
		return NO_FIELD;
	}
	return at;
}

static void sax_start(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
		      int nb_namespaces, const xmlChar **namespaces, int nb_attributes, int nb_defaulted,
		      const xmlChar **attributes)
{
	(void)prefix, (void)nb_namespaces, (void)namespaces, (void)nb_defaulted;
	struct sax *x = ctx;
	x->depth++;
	if (x->why || x->oom)
		return;
	if (x->depth == 1) {
		if (!sax_in_ns(x, uri) || !xmlStrEqual(localname, BAD_CAST "guestList")) {
			x->why = "root element is not {" SIM_NS "}guestList";
			return;
		}
		/* five pointers an attribute: localname, prefix, URI, value, end of value */
		for (int i = 0; i < nb_attributes; i++) {
			const xmlChar **a = attributes + 5 * i;
			size_t *dst = NULL;
			if (!a[2] && xmlStrEqual(a[0], BAD_CAST "hotelId"))
				dst = &x->hotel_id;
			else if (!a[2] && xmlStrEqual(a[0], BAD_CAST "batchId"))
				dst = &x->batch_id;
			if (dst && *dst == NO_FIELD)
				*dst = sax_keep(x, a[3], (size_t)(a[4] - a[3]));
		}
		if (x->hotel_id == NO_FIELD)
			x->why = "guestList without hotelId";
		else if (x->batch_id == NO_FIELD)
			x->why = "guestList without batchId";
		return;
	}
	if (x->depth == 2) {
		if (!sax_in_ns(x, uri) || !xmlStrEqual(localname, BAD_CAST "guest"))
			return;
		if (x->n == x->cap) {
			size_t cap = x->cap ? x->cap * 2 : 256;
			size_t(*o)[SIM_F_COUNT] = realloc(x->offs, cap * sizeof *o);
			if (!o) {
				x->oom = true;
				sax_stop(x);
				return;
			}
			x->offs = o;
			x->cap = cap;
		}
		for (int i = 0; i < SIM_F_COUNT; i++)
			x->offs[x->n][i] = NO_FIELD;
		x->n++;
		x->in_guest = true;
		return;
	}
	if (x->depth == 3 && x->in_guest && sax_in_ns(x, uri)) {
		for (int i = 0; i < SIM_F_COUNT; i++) {
			if (!xmlStrEqual(localname, BAD_CAST sim_field_names[i]))
				continue;
			if (x->offs[x->n - 1][i] == NO_FIELD) { /* the first one counts */
				x->field = i;
				x->field_depth = 3;
				x->offs[x->n - 1][i] = x->text.len;
			}
			break;
		}
	}
}

static void sax_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
	(void)localname, (void)prefix, (void)uri;
	struct sax *x = ctx;
	if (x->field >= 0 && x->depth == x->field_depth) {
		if (sim_buf_add(&x->text, "", 1) < 0) {
			x->oom = true;
			sax_stop(x);
		}
		x->field = -1;
	} else if (x->depth == 2) {
		x->in_guest = false;
	}
	x->depth--;
}

static void sax_text(void *ctx, const xmlChar *ch, int len)
{
	struct sax *x = ctx;
	if (x->field >= 0 && len > 0 && sim_buf_add(&x->text, ch, (size_t)len) < 0) {
		x->oom = true;
		sax_stop(x);
	}
}

/* No DTDs: guestflow never sends one, and entity references would reach the schema
 * validator, which does not support them (and leaks in libxml2 2.9.14). The parse
 * stops at the DOCTYPE. */
static void sax_doctype(void *ctx, const xmlChar *name, const xmlChar *external_id, const xmlChar *system_id)
{
	(void)name, (void)external_id, (void)system_id;
	struct sax *x = ctx;
	x->doctype = true;
	sax_stop(x);
}

/* The batch from what the handlers kept: -EINVAL with *why for a guest that lacks a
 * required field (possible only without XSD validation), -ENOMEM. */
static int sax_batch(struct sax *x, struct sim_batch *out, const char **why)
{
	out->guests = calloc(x->n ? x->n : 1, sizeof *out->guests);
	if (!out->guests)
		return -ENOMEM;
	out->text = x->text.data; /* the arena moves to the batch */
	x->text.data = NULL;
	out->n = x->n;
	out->hotel_id = out->text + x->hotel_id;
	out->batch_id = out->text + x->batch_id;
	for (size_t g = 0; g < x->n; g++) {
		for (int i = 0; i < SIM_F_COUNT; i++) {
			size_t o = x->offs[g][i];
			if (o == NO_FIELD && i != SIM_F_FIRST_NAME) {
				*why = "incomplete guest"; /* cannot happen after XSD validation */
				return -EINVAL;
			}
			out->guests[g].f[i] = o == NO_FIELD ? NULL : out->text + o;
		}
	}
	return 0;
}

static bool is_element(xmlNodePtr n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && n->ns && xmlStrEqual(n->ns->href, BAD_CAST SIM_NS) &&
	       xmlStrEqual(n->name, BAD_CAST name);
}

/* The document sampling picked, against the schema: 0, or -EINVAL with the first
 * error in fe. */
static int validate(xmlSchemaPtr schema, const char *data, size_t n, struct first_error *fe)
{
	xmlDocPtr doc = xmlReadMemory(data, (int)n, "body.xml", NULL,
				      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc) {
		if (!fe->have)
			snprintf(fe->msg, fe->size, "document is not well-formed");
		return -EINVAL;
	}
	int r = -ENOMEM;
	xmlSchemaValidCtxtPtr v = xmlSchemaNewValidCtxt(schema);
	if (v) {
		xmlSchemaSetValidStructuredErrors(v, capture_error, fe);
		int vr = xmlSchemaValidateDoc(v, doc);
		if (vr != 0 && !fe->have)
			snprintf(fe->msg, fe->size, "schema validation failed (code %d)", vr);
		r = vr == 0 ? 0 : -EINVAL;
		xmlSchemaFreeValidCtxt(v);
	} else {
		snprintf(fe->msg, fe->size, "out of memory");
	}
	/* (the root is checked here too: the schema would take another root element) */
	if (r == 0 && !is_element(xmlDocGetRootElement(doc), "guestList")) {
		snprintf(fe->msg, fe->size, "root element is not {%s}guestList", SIM_NS);
		r = -EINVAL;
	}
	xmlFreeDoc(doc);
	return r;
}

int sim_batch_parse(xmlSchemaPtr schema, struct sim_sample *sample, const char *data, size_t n,
		    struct sim_batch *out, char *err, size_t errsz)
{
	struct first_error fe = { err, errsz, false };
	struct sim_batch b = { 0 };
	struct sax x = { .hotel_id = NO_FIELD, .batch_id = NO_FIELD, .field = -1 };
	sim_buf_init(&x.text, SIZE_MAX / 2);
	int r = -EINVAL;

	/* per-thread handler: catches parser errors and keeps them off stderr */
	xmlSetStructuredErrorFunc(&fe, capture_error);
	if (n > INT_MAX) {
		snprintf(err, errsz, "document too large");
		goto out;
	}
	xmlSAXHandler h;
	memset(&h, 0, sizeof h);
	xmlSAXVersion(&h, 2); /* the SAX2 defaults (entities, errors), then ours */
	h.startElementNs = sax_start;
	h.endElementNs = sax_end;
	h.characters = sax_text;
	h.ignorableWhitespace = sax_text;
	h.cdataBlock = sax_text;
	h.internalSubset = sax_doctype;
	h.externalSubset = sax_doctype;
	h.startDocument = NULL; /* no document tree */
	h.endDocument = NULL;
	h.comment = NULL;
	h.processingInstruction = NULL;
	h.reference = NULL;
	h.setDocumentLocator = NULL;
	x.ctxt = xmlCreatePushParserCtxt(&h, &x, NULL, 0, "body.xml");
	if (!x.ctxt) {
		snprintf(err, errsz, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	xmlCtxtUseOptions(x.ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlParseChunk(x.ctxt, data, (int)n, 1);
	bool well_formed = x.ctxt->wellFormed;
	xmlFreeParserCtxt(x.ctxt);
	if (x.oom) {
		snprintf(err, errsz, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	if (x.doctype) {
		snprintf(err, errsz, "DOCTYPE is not allowed");
		goto out;
	}
	if (!well_formed) {
		if (!fe.have)
			snprintf(err, errsz, "document is not well-formed");
		goto out;
	}
	/* Sampling: of the well-formed documents without a DOCTYPE, the ones picked are
	 * parsed again into a tree and validated; every one was read above. */
	if (!sample || atomic_fetch_add(&sample->reached, 1) % sample->every == 0) {
		if (sample)
			atomic_fetch_add(&sample->validated, 1);
		if ((r = validate(schema, data, n, &fe)) < 0)
			goto out;
		r = -EINVAL;
	}
	if (x.why) {
		snprintf(err, errsz, "%s", x.why);
		goto out;
	}
	const char *why = "invalid guestList";
	r = sax_batch(&x, &b, &why);
	if (r < 0) {
		snprintf(err, errsz, "%s", r == -ENOMEM ? "out of memory" : why);
		sim_batch_free(&b);
		goto out;
	}
	*out = b;
out:
	sim_buf_free(&x.text);
	free(x.offs);
	xmlSetStructuredErrorFunc(NULL, NULL);
	return r;
}

void sim_batch_free(struct sim_batch *b)
{
	free(b->guests);
	free(b->text);
	memset(b, 0, sizeof *b);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *sim_batch_members(const struct sim_batch *b)
{
	const char **v = calloc(b->n ? b->n : 1, sizeof *v);
	if (!v)
		return NULL;
	for (size_t i = 0; i < b->n; i++)
		v[i] = b->guests[i].f[SIM_F_BOOKING_NO];
	qsort(v, b->n, sizeof *v, cmp_str);
	struct sim_buf out;
	sim_buf_init(&out, SIZE_MAX / 2);
	int r = sim_buf_add(&out, "", 0);
	for (size_t i = 0; r == 0 && i < b->n; i++) {
		r = sim_buf_adds(&out, v[i]);
		if (r == 0)
			r = sim_buf_add(&out, "\n", 1);
	}
	free(v);
	if (r < 0) {
		sim_buf_free(&out);
		return NULL;
	}
	return out.data;
}

/* Attribute text escaped as xmlTextWriter does it. */
static int add_attr(struct sim_buf *b, const char *s)
{
	int e = 0;
	for (; e == 0 && *s; s++) {
		switch (*s) {
		case '&': e = sim_buf_adds(b, "&amp;"); break;
		case '<': e = sim_buf_adds(b, "&lt;"); break;
		case '>': e = sim_buf_adds(b, "&gt;"); break;
		case '"': e = sim_buf_adds(b, "&quot;"); break;
		case '\t': e = sim_buf_adds(b, "&#9;"); break;
		case '\n': e = sim_buf_adds(b, "&#10;"); break;
		case '\r': e = sim_buf_adds(b, "&#13;"); break;
		default: e = sim_buf_add(b, s, 1);
		}
	}
	return e;
}

/* The reply written out by hand: the declared encoding as asked (whether or
 * not the bytes are in it), raw reasons as they are. */
static char *import_result_by_hand(size_t accepted, size_t nrej, const char *const *booking_nos,
				   const char *const *reasons, const char *encoding)
{
	struct sim_buf b;
	sim_buf_init(&b, SIZE_MAX / 2);
	int e = sim_buf_printf(&b, "<?xml version=\"1.0\" encoding=\"%s\"?>\n<importResult xmlns=\"" SIM_NS
			       "\" accepted=\"%zu\" rejected=\"%zu\">", encoding ? encoding : "UTF-8", accepted, nrej);
	for (size_t i = 0; e == 0 && i < nrej; i++) {
		e = sim_buf_adds(&b, "<rejected bookingNo=\"");
		e = e ? e : add_attr(&b, booking_nos[i]);
		e = e ? e : sim_buf_adds(&b, "\" reason=\"");
		if (e == 0)
			e = reasons[i][0] == SIM_RAW_REASON ? sim_buf_adds(&b, reasons[i] + 1) : add_attr(&b, reasons[i]);
		e = e ? e : sim_buf_adds(&b, "\"/>");
	}
	e = e ? e : sim_buf_adds(&b, "</importResult>\n");
	if (e) {
		sim_buf_free(&b);
		return NULL;
	}
	return b.data;
}

char *sim_import_result(size_t accepted, size_t nrej, const char *const *booking_nos,
			const char *const *reasons, const char *encoding)
{
	bool raw = encoding != NULL;
	for (size_t i = 0; i < nrej && !raw; i++)
		raw = reasons[i][0] == SIM_RAW_REASON;
	if (raw)
		return import_result_by_hand(accepted, nrej, booking_nos, reasons, encoding);

	xmlBufferPtr xb = xmlBufferCreate();
	if (!xb)
		return NULL;
	xmlTextWriterPtr w = xmlNewTextWriterMemory(xb, 0);
	if (!w) {
		xmlBufferFree(xb);
		return NULL;
	}
	char na[32], nr[32];
	snprintf(na, sizeof na, "%zu", accepted);
	snprintf(nr, sizeof nr, "%zu", nrej);
	int ok = xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL) >= 0 &&
		 xmlTextWriterStartElement(w, BAD_CAST "importResult") >= 0 &&
		 xmlTextWriterWriteAttribute(w, BAD_CAST "xmlns", BAD_CAST SIM_NS) >= 0 &&
		 xmlTextWriterWriteAttribute(w, BAD_CAST "accepted", BAD_CAST na) >= 0 &&
		 xmlTextWriterWriteAttribute(w, BAD_CAST "rejected", BAD_CAST nr) >= 0;
	for (size_t i = 0; ok && i < nrej; i++)
		ok = xmlTextWriterStartElement(w, BAD_CAST "rejected") >= 0 &&
		     xmlTextWriterWriteAttribute(w, BAD_CAST "bookingNo", BAD_CAST booking_nos[i]) >= 0 &&
		     xmlTextWriterWriteAttribute(w, BAD_CAST "reason", BAD_CAST reasons[i]) >= 0 &&
		     xmlTextWriterEndElement(w) >= 0;
	ok = ok && xmlTextWriterEndDocument(w) >= 0;
	xmlFreeTextWriter(w); /* flushes into xb */
	char *s = ok ? strdup((const char *)xmlBufferContent(xb)) : NULL;
	xmlBufferFree(xb);
	return s;
}

char *sim_pong(const char *hotel_id)
{
	xmlBufferPtr xb = xmlBufferCreate();
	if (!xb)
		return NULL;
	xmlTextWriterPtr w = xmlNewTextWriterMemory(xb, 0);
	if (!w) {
		xmlBufferFree(xb);
		return NULL;
	}
	int ok = xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL) >= 0 &&
		 xmlTextWriterStartElement(w, BAD_CAST "pong") >= 0 &&
		 xmlTextWriterWriteAttribute(w, BAD_CAST "xmlns", BAD_CAST SIM_NS) >= 0 &&
		 xmlTextWriterWriteAttribute(w, BAD_CAST "hotelId", BAD_CAST hotel_id) >= 0 &&
		 xmlTextWriterEndElement(w) >= 0 && xmlTextWriterEndDocument(w) >= 0;
	xmlFreeTextWriter(w);
	char *s = ok ? strdup((const char *)xmlBufferContent(xb)) : NULL;
	xmlBufferFree(xb);
	return s;
}

char *sim_events_xml(const struct sim_event *ev, size_t n, const char *next)
{
	xmlBufferPtr xb = xmlBufferCreate();
	if (!xb)
		return NULL;
	xmlTextWriterPtr w = xmlNewTextWriterMemory(xb, 0);
	if (!w) {
		xmlBufferFree(xb);
		return NULL;
	}
	int ok = xmlTextWriterStartDocument(w, NULL, "UTF-8", NULL) >= 0 &&
		 xmlTextWriterStartElement(w, BAD_CAST "events") >= 0 &&
		 xmlTextWriterWriteAttribute(w, BAD_CAST "xmlns", BAD_CAST SIM_NS) >= 0 &&
		 xmlTextWriterWriteAttribute(w, BAD_CAST "next", BAD_CAST next) >= 0;
	for (size_t i = 0; ok && i < n; i++)
		ok = xmlTextWriterStartElement(w, BAD_CAST "event") >= 0 &&
		     xmlTextWriterWriteAttribute(w, BAD_CAST "bookingNo", BAD_CAST ev[i].booking_no) >= 0 &&
		     xmlTextWriterWriteAttribute(w, BAD_CAST "type", BAD_CAST ev[i].type) >= 0 &&
		     xmlTextWriterWriteAttribute(w, BAD_CAST "at", BAD_CAST ev[i].at) >= 0 &&
		     xmlTextWriterEndElement(w) >= 0;
	ok = ok && xmlTextWriterEndElement(w) >= 0 && xmlTextWriterEndDocument(w) >= 0;
	xmlFreeTextWriter(w);
	char *s = ok ? strdup((const char *)xmlBufferContent(xb)) : NULL;
	xmlBufferFree(xb);
	return s;
}
