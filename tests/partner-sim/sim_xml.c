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

/* Names and the namespace, compared by pointer first: the parser interns element names
 * in the document's dictionary, and a document's elements mostly share one xmlNs. A
 * pointer miss falls back to comparing the strings. */
struct names {
	const xmlChar *guest, *field[SIM_F_COUNT];
	xmlNsPtr ns; /* an xmlNs seen to be SIM_NS */
};

static void names_init(struct names *nm, xmlDocPtr doc)
{
	memset(nm, 0, sizeof *nm);
	if (!doc->dict)
		return;
	nm->guest = xmlDictExists(doc->dict, BAD_CAST "guest", -1);
	for (int i = 0; i < SIM_F_COUNT; i++)
		nm->field[i] = xmlDictExists(doc->dict, BAD_CAST sim_field_names[i], -1);
}

static bool in_sim_ns(xmlNodePtr n, struct names *nm)
{
	if (n->type != XML_ELEMENT_NODE || !n->ns)
		return false;
	if (n->ns == nm->ns)
		return true;
	if (!xmlStrEqual(n->ns->href, BAD_CAST SIM_NS))
		return false;
	nm->ns = n->ns;
	return true;
}

static bool is_element(xmlNodePtr n, const char *name)
{
	struct names nm = { 0 };
	return in_sim_ns(n, &nm) && xmlStrEqual(n->name, BAD_CAST name);
}

/* Index of the field element called name, -1 if none. */
static int field_index(const struct names *nm, const xmlChar *name)
{
	for (int i = 0; i < SIM_F_COUNT; i++)
		if (name == nm->field[i])
			return i;
	for (int i = 0; i < SIM_F_COUNT; i++)
		if (xmlStrEqual(name, BAD_CAST sim_field_names[i]))
			return i;
	return -1;
}

/* The text of element c, as xmlNodeGetContent has it. An element holding one text node
 * (the usual case) lends that node's text; anything else is copied (*owned set). */
static char *element_text(xmlNodePtr c, bool *owned)
{
	xmlNodePtr t = c->children;
	if (t && !t->next && t->type == XML_TEXT_NODE && t->content) {
		*owned = false;
		return (char *)t->content;
	}
	*owned = true;
	return (char *)xmlNodeGetContent(c);
}

/* Fields of a guestList. Without XSD validation (--validate-every) the document may lack
 * what the schema requires: -EINVAL with *why set. The fields point into the tree. */
static int extract(xmlNodePtr root, struct sim_batch *out, const char **why)
{
	static const char *const attrs[] = { "hotelId", "batchId" };
	char **dst[] = { &out->hotel_id, &out->batch_id };
	for (int i = 0; i < 2; i++) {
		if (!xmlHasNsProp(root, BAD_CAST attrs[i], NULL)) {
			*why = i == 0 ? "guestList without hotelId" : "guestList without batchId";
			return -EINVAL;
		}
		if (!(*dst[i] = (char *)xmlGetNoNsProp(root, BAD_CAST attrs[i])))
			return -ENOMEM;
	}
	struct names nm;
	names_init(&nm, root->doc);
	size_t cap = 0;
	for (xmlNodePtr g = root->children; g; g = g->next) {
		if (!in_sim_ns(g, &nm) || (g->name != nm.guest && !xmlStrEqual(g->name, BAD_CAST "guest")))
			continue;
		if (out->n == cap) {
			cap = cap ? cap * 2 : 256;
			struct sim_guest *ng = realloc(out->guests, cap * sizeof *ng);
			if (!ng)
				return -ENOMEM;
			out->guests = ng;
		}
		struct sim_guest *guest = &out->guests[out->n++];
		memset(guest, 0, sizeof *guest);
		for (xmlNodePtr c = g->children; c; c = c->next) {
			/* the namespace once per child, then its name against the fields */
			int i;
			if (!in_sim_ns(c, &nm) || (i = field_index(&nm, c->name)) < 0 || guest->f[i])
				continue;
			bool owned;
			if (!(guest->f[i] = element_text(c, &owned)))
				return -ENOMEM;
			if (owned)
				guest->owned |= 1u << i;
		}
		for (int i = 0; i < SIM_F_COUNT; i++) {
			if (!guest->f[i] && i != SIM_F_FIRST_NAME) {
				*why = "incomplete guest"; /* cannot happen after XSD validation */
				return -EINVAL;
			}
		}
	}
	return 0;
}

int sim_batch_parse(xmlSchemaPtr schema, struct sim_sample *sample, const char *data, size_t n,
		    struct sim_batch *out, char *err, size_t errsz)
{
	struct first_error fe = { err, errsz, false };
	struct sim_batch b = { 0 };
	xmlDocPtr doc = NULL;
	xmlSchemaValidCtxtPtr v = NULL;
	int r = -EINVAL;

	/* per-thread handler: catches parser errors and keeps them off stderr */
	xmlSetStructuredErrorFunc(&fe, capture_error);
	if (n > INT_MAX) {
		snprintf(err, errsz, "document too large");
		goto out;
	}
	doc = xmlReadMemory(data, (int)n, "body.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_COMPACT);
	if (!doc) {
		if (!fe.have)
			snprintf(err, errsz, "document is not well-formed");
		goto out;
	}
	/* No DTDs: guestflow never sends one, and entity references would reach the schema
	 * validator, which does not support them (and leaks in libxml2 2.9.14). */
	if (doc->intSubset || doc->extSubset) {
		snprintf(err, errsz, "DOCTYPE is not allowed");
		goto out;
	}
	/* Sampling: the document is parsed and its fields extracted either way. */
	if (!sample || atomic_fetch_add(&sample->reached, 1) % sample->every == 0) {
		if (sample)
			atomic_fetch_add(&sample->validated, 1);
		v = xmlSchemaNewValidCtxt(schema);
		if (!v) {
			snprintf(err, errsz, "out of memory");
			r = -ENOMEM;
			goto out;
		}
		xmlSchemaSetValidStructuredErrors(v, capture_error, &fe);
		int vr = xmlSchemaValidateDoc(v, doc);
		if (vr != 0) {
			if (!fe.have)
				snprintf(err, errsz, "schema validation failed (code %d)", vr);
			goto out;
		}
	}
	xmlNodePtr root = xmlDocGetRootElement(doc);
	if (!root || !is_element(root, "guestList")) {
		snprintf(err, errsz, "root element is not {%s}guestList", SIM_NS);
		goto out;
	}
	const char *why = "invalid guestList";
	b.doc = doc; /* the batch's fields point into it */
	doc = NULL;
	r = extract(root, &b, &why);
	if (r < 0) {
		snprintf(err, errsz, "%s", r == -ENOMEM ? "out of memory" : why);
		sim_batch_free(&b);
		goto out;
	}
	*out = b;
out:
	xmlSchemaFreeValidCtxt(v);
	xmlFreeDoc(doc);
	xmlSetStructuredErrorFunc(NULL, NULL);
	return r;
}

void sim_batch_free(struct sim_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		for (int f = 0; f < SIM_F_COUNT; f++)
			if (b->guests[i].owned & (1u << f))
				xmlFree(b->guests[i].f[f]);
	free(b->guests);
	xmlFree(b->hotel_id);
	xmlFree(b->batch_id);
	xmlFreeDoc(b->doc);
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

char *sim_import_result(size_t accepted, size_t nrej, const char *const *booking_nos,
			const char *const *reasons)
{
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
