/* Parsing a partner's review-xml <importResult> reply, safely: no network, no DTD, no entities. */
#include "outputs/review_xml/reply.h"

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "base/text.h"
#include "base/util.h"

#define REVIEW_XML_NS "urn:guestflow:review-xml:1"

#if LIBXML_VERSION >= 21200
typedef const xmlError *gf_xml_error_ptr;
#else
typedef xmlErrorPtr gf_xml_error_ptr;
#endif

struct parse_state {
	char error[200];   /* first error libxml2 reported, "" if none */
	bool doctype;
	const char *secret; /* the access key the request carried, or NULL */
};

static void copy_error(struct parse_state *st, int line, const char *msg)
{
	if (!msg)
		msg = "unknown error";
	/* libxml2's messages quote names and bytes from the reply: made safe
	 * text after the prefix, so that a cut falls at a character boundary */
	int k = snprintf(st->error, sizeof(st->error), "line %d: ", line);
	size_t at = k < 0 ? 0 : (size_t)k < sizeof(st->error) ? (size_t)k : sizeof(st->error) - 1;
	gf_text_safe_to(st->error + at, sizeof(st->error) - at, msg, strlen(msg), st->secret);
	size_t n = strlen(st->error);
	while (n > at && st->error[n - 1] == ' ')
		st->error[--n] = '\0';
}

/* A piece of the reply quoted in a reason: safe text, at most size - 1
 * bytes, the key redacted in all of it before it is cut (a cut piece of the
 * key is no longer the key that a later redaction could find). */
static const char *piece(char *buf, size_t size, const xmlChar *s, const char *secret)
{
	const char *t = s ? (const char *)s : "";
	gf_text_safe_to(buf, size, t, strlen(t), secret);
	return buf;
}

/* libxml2 calls this instead of printing to stderr; ctx is the parser context. */
static void on_error(void *ctx, gf_xml_error_ptr err)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct parse_state *st = ctxt ? ctxt->_private : NULL;
	if (!st || !err || err->level < XML_ERR_ERROR || st->error[0])
		return;
	copy_error(st, err->line, err->message);
}

/* A DOCTYPE is where entity bombs and external references live: stop before
 * its internal subset is read. */
static void on_doctype(void *ctx, const xmlChar *name, const xmlChar *external_id,
                       const xmlChar *system_id)
{
	xmlParserCtxtPtr ctxt = ctx;
	struct parse_state *st = ctxt->_private;
	(void)name;
	(void)external_id;
	(void)system_id;
	st->doctype = true;
	xmlStopParser(ctxt);
}

static void on_entity_decl(void *ctx, const xmlChar *name, int type, const xmlChar *public_id,
                           const xmlChar *system_id, xmlChar *content)
{
	(void)name;
	(void)type;
	(void)public_id;
	(void)system_id;
	(void)content;
	on_doctype(ctx, NULL, NULL, NULL);
}

/* xs:nonNegativeInteger as partners write it: optional white space and '+'.
 * A count above INT32_MAX is no batch's (far more records than a request
 * carries) and unreadable here, so that counts can be added safely. */
#define COUNT_MAX INT32_MAX
static int parse_count(const char *s, int64_t *out)
{
	int64_t v = 0;
	bool digits = false;

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	if (*s == '+')
		s++;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (COUNT_MAX - (*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (*s - '0');
		digits = true;
	}
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	if (!digits || *s)
		return -EINVAL;
	*out = v;
	return 0;
}

static bool in_our_ns(const xmlNode *n)
{
	return !n->ns || !n->ns->href || strcmp((const char *)n->ns->href, REVIEW_XML_NS) == 0;
}

static bool is_element(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0
	       && in_our_ns(n);
}

static int get_count(const xmlNode *root, const char *attr, const char *secret, int64_t *out, char *why,
                     size_t whylen)
{
	xmlChar *v = xmlGetNoNsProp(root, (const xmlChar *)attr);
	int r = 0;
	if (!v) {
		gf_set_why(why, whylen, "reply: attribute %s missing on <importResult>", attr);
		return -GF_E_REPLY;
	}
	if (parse_count((const char *)v, out) < 0) {
		char p[48];
		gf_set_why(why, whylen, "reply: %s=\"%s\" is not a non-negative integer up to 2147483647", attr,
		        piece(p, sizeof(p), v, secret));
		r = -GF_E_REPLY;
	}
	xmlFree(v);
	return r;
}

static int cmp_items(const void *a, const void *b)
{
	const struct gf_reply_rejection *const *x = a, *const *y = b;
	return strcmp((*x)->booking_no, (*y)->booking_no);
}

static int read_result(const xmlNode *root, const char *secret, struct gf_reply *res, char *why, size_t whylen)
{
	size_t n = 0, k = 0;
	int r;

	if ((r = get_count(root, "accepted", secret, &res->accepted, why, whylen)) < 0 ||
	    (r = get_count(root, "rejected", secret, &res->rejected, why, whylen)) < 0)
		return r;
	for (const xmlNode *ch = root->children; ch; ch = ch->next)
		n += is_element(ch, "rejected");
	if ((int64_t)n != res->rejected) {
		gf_set_why(why, whylen, "reply: rejected=\"%lld\" but %zu <rejected> elements",
		        (long long)res->rejected, n);
		return -GF_E_REPLY;
	}
	res->items = gf_xcalloc(n, sizeof(*res->items));
	for (const xmlNode *ch = root->children; ch; ch = ch->next) {
		if (!is_element(ch, "rejected"))
			continue;
		xmlChar *no = xmlGetNoNsProp(ch, (const xmlChar *)"bookingNo");
		if (!no || !*no) {
			xmlFree(no);
			gf_set_why(why, whylen, "reply: <rejected> number %zu has no bookingNo", k + 1);
			return -GF_E_REPLY;
		}
		xmlChar *reason = xmlGetNoNsProp(ch, (const xmlChar *)"reason");
		/* The booking number is matched against the ones sent, byte for
		 * byte; the reason is stored: safe text. */
		res->items[k].booking_no = gf_xstrdup((const char *)no);
		res->items[k].reason = gf_text_safe_dup((const char *)reason, secret, GF_TEXT_MAX);
		res->n_items = ++k;
		xmlFree(no);
		xmlFree(reason);
	}

	if (n > 1) {
		const struct gf_reply_rejection **sorted = gf_xmalloc(n * sizeof(*sorted));
		for (size_t i = 0; i < n; i++)
			sorted[i] = &res->items[i];
		qsort(sorted, n, sizeof(*sorted), cmp_items);
		for (size_t i = 1; i < n && r == 0; i++) {
			if (strcmp(sorted[i]->booking_no, sorted[i - 1]->booking_no) == 0) {
				char p[104];
				gf_set_why(why, whylen, "reply: booking %s is listed twice",
				        piece(p, sizeof(p), (const xmlChar *)sorted[i]->booking_no, secret));
				r = -GF_E_REPLY;
			}
		}
		free(sorted);
	}
	return r;
}

/* A reply document whose root is <root_name> (in our namespace or none),
 * parsed safely: 0 and *out (to xmlFreeDoc), or -GF_E_REPLY with why. */
static int parse_doc(const char *data, size_t len, const char *secret, const char *root_name, xmlDocPtr *out,
                     char *why, size_t whylen)
{
	struct parse_state st = { "", false, secret };
	*out = NULL;
	if (!data || len == 0) {
		gf_set_why(why, whylen, "reply: empty body");
		return -GF_E_REPLY;
	}
	if (len > INT_MAX) {
		gf_set_why(why, whylen, "reply: too large (%zu bytes)", len);
		return -GF_E_REPLY;
	}
	xmlParserCtxtPtr ctxt = xmlCreateMemoryParserCtxt(data, (int)len);
	if (!ctxt)
		return -ENOMEM;
	/* No XML_PARSE_NOENT (entity substitution) nor DTDLOAD/DTDATTR/DTDVALID. */
	xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	ctxt->_private = &st;
	ctxt->sax->serror = on_error;
	ctxt->sax->internalSubset = on_doctype;
	ctxt->sax->entityDecl = on_entity_decl;
	/* Encoding errors are raised without a parser context and would go to
	 * libxml2's global channel (stderr, where our log lines are): route them
	 * to on_error too for the duration of the parse. */
	xmlStructuredErrorFunc old_handler = xmlStructuredError;
	void *old_handler_ctx = xmlStructuredErrorContext;
	xmlSetStructuredErrorFunc(ctxt, on_error);
	xmlParseDocument(ctxt);
	xmlSetStructuredErrorFunc(old_handler_ctx, old_handler);
	xmlDocPtr doc = ctxt->myDoc;
	bool well_formed = ctxt->wellFormed && !st.doctype;
	if (!st.error[0] && ctxt->lastError.code != XML_ERR_OK)
		copy_error(&st, ctxt->lastError.line, ctxt->lastError.message);
	ctxt->myDoc = NULL;
	xmlFreeParserCtxt(ctxt);

	const xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
	int r = 0;
	if (st.doctype) {
		gf_set_why(why, whylen, "reply: has a DOCTYPE, which is not accepted");
		r = -GF_E_REPLY;
	} else if (!well_formed || !root) {
		gf_set_why(why, whylen, "reply: not well-formed XML (%s)",
		        st.error[0] ? st.error : "no root element");
		r = -GF_E_REPLY;
	} else if (strcmp((const char *)root->name, root_name) != 0) {
		char p[64];
		gf_set_why(why, whylen, "reply: root element is <%s>, expected <%s>",
		        piece(p, sizeof(p), root->name, secret), root_name);
		r = -GF_E_REPLY;
	} else if (!in_our_ns(root)) {
		char p[64];
		gf_set_why(why, whylen, "reply: <%s> is in namespace \"%s\", expected "
		        REVIEW_XML_NS " or none", root_name, piece(p, sizeof(p), root->ns->href, secret));
		r = -GF_E_REPLY;
	}
	if (r < 0) {
		xmlFreeDoc(doc);
		return r;
	}
	*out = doc;
	return 0;
}

int gf_reply_parse_review_xml(const char *data, size_t len, const char *secret, struct gf_reply *out,
                              char *why, size_t whylen)
{
	struct gf_reply res = { 0, 0, NULL, 0 };
	xmlDocPtr doc;
	int r = parse_doc(data, len, secret, "importResult", &doc, why, whylen);
	if (r < 0)
		return r;
	r = read_result(xmlDocGetRootElement(doc), secret, &res, why, whylen);
	xmlFreeDoc(doc);
	if (r < 0) {
		gf_reply_clear(&res);
		return r;
	}
	*out = res;
	return 0;
}

int gf_reply_parse_review_xml_pong(const char *data, size_t len, const char *secret, const char *hotel_id,
                                   char *why, size_t whylen)
{
	xmlDocPtr doc;
	int r = parse_doc(data, len, secret, "pong", &doc, why, whylen);
	if (r < 0)
		return r;
	xmlChar *id = xmlGetNoNsProp(xmlDocGetRootElement(doc), (const xmlChar *)"hotelId");
	if (!id) {
		gf_set_why(why, whylen, "reply: attribute hotelId missing on <pong>");
		r = -GF_E_REPLY;
	} else if (strcmp((const char *)id, hotel_id) != 0) {
		char p[104];
		gf_set_why(why, whylen, "reply: <pong> names hotel \"%s\", not the connection's",
		           piece(p, sizeof(p), id, secret));
		r = -GF_E_REPLY;
	}
	xmlFree(id);
	xmlFreeDoc(doc);
	return r;
}

/* An attribute of an <event> into *out (malloc'd), or -GF_E_REPLY. */
static int event_attr(const xmlNode *e, const char *name, size_t k, const char *secret, char **out, char *why,
                      size_t whylen)
{
	xmlChar *v = xmlGetNoNsProp(e, (const xmlChar *)name);
	if (!v || !*v) {
		xmlFree(v);
		gf_set_why(why, whylen, "reply: <event> number %zu has no %s", k, name);
		return -GF_E_REPLY;
	}
	*out = gf_xstrdup((const char *)v);
	xmlFree(v);
	(void)secret;
	return 0;
}

int gf_reply_parse_review_xml_events(const char *data, size_t len, const char *secret, struct gf_events *out,
                                     char *why, size_t whylen)
{
	*out = (struct gf_events){ 0 };
	xmlDocPtr doc;
	int r = parse_doc(data, len, secret, "events", &doc, why, whylen);
	if (r < 0)
		return r;
	const xmlNode *root = xmlDocGetRootElement(doc);
	struct gf_events ev = { 0 };
	size_t n = 0;
	for (const xmlNode *ch = root->children; ch; ch = ch->next)
		n += is_element(ch, "event");
	ev.items = gf_xcalloc(n ? n : 1, sizeof(*ev.items));
	xmlChar *next = xmlGetNoNsProp(root, (const xmlChar *)"next");
	if (next && *next)
		ev.next = gf_xstrdup((const char *)next);
	xmlFree(next);
	if (n > 0 && !ev.next) {
		gf_set_why(why, whylen, "reply: <events> lists events but gives no next cursor");
		r = -GF_E_REPLY;
	}
	for (const xmlNode *ch = root->children; ch && r == 0; ch = ch->next) {
		if (!is_element(ch, "event"))
			continue;
		struct gf_partner_event *e = &ev.items[ev.n];
		char *type = NULL;
		size_t k = ev.n + 1;
		if ((r = event_attr(ch, "bookingNo", k, secret, &e->booking_no, why, whylen)) < 0 ||
		    (r = event_attr(ch, "type", k, secret, &type, why, whylen)) < 0 ||
		    (r = event_attr(ch, "at", k, secret, &e->at, why, whylen)) < 0) {
			free(type);
			ev.n++;
			break;
		}
		ev.n++;
		int t = gf_event_type_parse(type);
		char p[64];
		if (t < 0) {
			gf_set_why(why, whylen, "reply: <event> number %zu has type \"%s\" (invited, bounced, reviewed,"
			           " unsubscribed)", k, piece(p, sizeof(p), (const xmlChar *)type, secret));
			r = -GF_E_REPLY;
		} else if (!gf_event_time_valid(e->at)) {
			gf_set_why(why, whylen, "reply: <event> number %zu has at=\"%s\", not an RFC 3339 date-time", k,
			           piece(p, sizeof(p), (const xmlChar *)e->at, secret));
			r = -GF_E_REPLY;
		}
		e->type = t < 0 ? GF_EVENT_INVITED : (enum gf_event_type)t;
		free(type);
	}
	xmlFreeDoc(doc);
	if (r < 0) {
		gf_events_clear(&ev);
		return r;
	}
	*out = ev;
	return 0;
}
