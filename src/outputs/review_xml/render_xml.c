/* Rendering a batch of bookings as a review-xml v1 <guestList> with libxml2's xmlTextWriter. */
#include "outputs/review_xml/render_xml.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <libxml/xmlIO.h>
#include <libxml/xmlwriter.h>

#include "base/gzip.h"
#include "core/output.h"
#include "core/normalize.h"
#include "base/util.h"

#define REVIEW_XML_NS "urn:guestflow:review-xml:1"

/* ---- writing ------------------------------------------------------------ */

struct sink {
	struct gf_buf *out;
	struct gf_gzip_stream *gz; /* or NULL: plain */
	int err;
};

/* Past the cap, data is dropped and the error kept for the caller: failing the
 * write would make libxml2 print an I/O error on stderr. */
static int sink_write(void *ctx, const char *data, int len)
{
	struct sink *s = ctx;
	if (s->err == 0)
		s->err = s->gz ? gf_gzip_write(s->gz, data, (size_t)len) : gf_buf_append(s->out, data, (size_t)len);
	return len;
}

static int sink_close(void *ctx)
{
	(void)ctx;
	return 0;
}

struct scratch {
	char *p;
	size_t cap;
};

/* NUL-terminated text of a span, copied only when it has to be. */
static const xmlChar *span_str(const struct gf_span *sp, struct scratch *sc)
{
	if (sp->terminated)
		return (const xmlChar *)sp->p;
	if (sp->len + 1 > sc->cap) {
		sc->cap = sp->len + 1 > 256 ? sp->len + 1 : 256;
		sc->p = gf_xrealloc(sc->p, sc->cap);
	}
	memcpy(sc->p, sp->p, sp->len);
	sc->p[sp->len] = '\0';
	return (const xmlChar *)sc->p;
}

static int write_element(xmlTextWriterPtr w, const char *name, const struct gf_span *sp,
                         struct scratch *sc)
{
	return xmlTextWriterWriteElement(w, (const xmlChar *)name, span_str(sp, sc));
}

static int write_guest(xmlTextWriterPtr w, const struct gf_record_checked *c,
                       const char *default_language, struct scratch *sc)
{
	const char *lang = c->has_language ? c->language : default_language;

	if (xmlTextWriterStartElement(w, (const xmlChar *)"guest") < 0 ||
	    write_element(w, "bookingNo", &c->f[GF_RECORD_BOOKING_NO], sc) < 0 ||
	    write_element(w, "lastName", &c->f[GF_RECORD_LAST_NAME], sc) < 0 ||
	    (c->f[GF_RECORD_FIRST_NAME].len > 0 &&
	     write_element(w, "firstName", &c->f[GF_RECORD_FIRST_NAME], sc) < 0) ||
	    write_element(w, "email", &c->f[GF_RECORD_EMAIL], sc) < 0 ||
	    xmlTextWriterWriteElement(w, (const xmlChar *)"gender",
	                              (const xmlChar *)c->gender) < 0 ||
	    xmlTextWriterWriteElement(w, (const xmlChar *)"language",
	                              (const xmlChar *)lang) < 0 ||
	    write_element(w, "status", &c->f[GF_RECORD_STATUS], sc) < 0 ||
	    write_element(w, "arrival", &c->f[GF_RECORD_ARRIVAL], sc) < 0 ||
	    write_element(w, "departure", &c->f[GF_RECORD_DEPARTURE], sc) < 0 ||
	    xmlTextWriterEndElement(w) < 0)
		return -1;
	return 0;
}

/* A document being written: opened at the first record that can be sent,
 * so that a batch with none writes nothing. */
struct doc {
	struct gf_gzip_stream gz;
	struct sink sink;
	struct scratch sc;
	xmlTextWriterPtr w;
};

static int doc_begin(struct doc *d, const char *hotel_id, const char *batch_id, int gzip_level,
                     struct gf_buf *out)
{
	d->sink = (struct sink){ out, gzip_level ? &d->gz : NULL, 0 };
	if (gzip_level && gf_gzip_begin(&d->gz, gzip_level, out) < 0)
		return d->gz.err;
	/* No encoder: the writer's UTF-8 goes straight into out. */
	xmlOutputBufferPtr ob = xmlOutputBufferCreateIO(sink_write, sink_close, &d->sink, NULL);
	if (ob && !(d->w = xmlNewTextWriter(ob)))
		xmlOutputBufferClose(ob);
	if (!d->w)
		return -ENOMEM;
	if (xmlTextWriterStartDocument(d->w, NULL, "UTF-8", NULL) < 0 ||
	    xmlTextWriterStartElement(d->w, (const xmlChar *)"guestList") < 0 ||
	    xmlTextWriterWriteAttribute(d->w, (const xmlChar *)"xmlns",
	                                (const xmlChar *)REVIEW_XML_NS) < 0 ||
	    xmlTextWriterWriteAttribute(d->w, (const xmlChar *)"hotelId",
	                                (const xmlChar *)hotel_id) < 0 ||
	    xmlTextWriterWriteAttribute(d->w, (const xmlChar *)"batchId",
	                                (const xmlChar *)batch_id) < 0)
		return d->sink.err < 0 ? d->sink.err : -ENOMEM;
	return d->sink.err;
}

/* Ends the document when r is 0 and frees the writer either way. */
static int doc_end(struct doc *d, int r)
{
	if (r == 0 && (xmlTextWriterEndDocument(d->w) < 0 || xmlTextWriterFlush(d->w) < 0))
		r = -ENOMEM;
	xmlFreeTextWriter(d->w);   /* closes the output buffer */
	d->w = NULL;
	free(d->sc.p);
	if (d->sink.err < 0)
		return d->sink.err;
	/* (a failed stream is simply dropped: the next one resets the state) */
	if (r == 0 && d->sink.gz)
		r = gf_gzip_end(&d->gz);
	return r;
}

int gf_review_xml_check_id(const char *value, char *why, size_t whylen)
{
	size_t start;
	if (gf_output_check_id_text(value, why, whylen) < 0)
		return -GF_E_RENDER;
	/* (the XSD's nonEmpty: something that is not white space) */
	if (gf_trim_span(value, strlen(value), &start) == 0) {
		gf_set_why(why, whylen, "only white space");
		return -GF_E_RENDER;
	}
	return 0;
}

/* hotel_id and batch_id must be sendable as they are. */
static bool id_ok(const char *s)
{
	return gf_review_xml_check_id(s, NULL, 0) == 0;
}

/* One pass: each record is checked and, when it can be sent, written at
 * once; the document is begun at the first such record. */
static int render(const char *hotel_id, const char *batch_id, const struct gf_record *recs, size_t n,
                  const char *default_language, int gzip_level, struct gf_buf *out, char **reasons,
                  size_t *n_rendered)
{
	size_t count = 0;
	int r = 0;

	if (!out || (n > 0 && !recs) || !id_ok(hotel_id) || !id_ok(batch_id)
	    || (default_language && !gf_is_language_code(default_language)) || gzip_level < 0 || gzip_level > 9)
		return -EINVAL;

	/* (the XSD makes bookingNo unique) */
	struct gf_seen seen;
	gf_seen_init(&seen, n);
	for (size_t i = 0; reasons && i < n; i++)
		reasons[i] = NULL;

	size_t start = out->len;
	struct doc d = { .w = NULL };
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct gf_record_checked c;
		if (!gf_record_take(recs, i, 0, default_language, &seen, &c, reasons ? &reasons[i] : NULL))
			continue;
		if (count++ == 0)
			r = doc_begin(&d, hotel_id, batch_id, gzip_level, out);
		if (r == 0 && (write_guest(d.w, &c, default_language, &d.sc) < 0 || d.sink.err < 0))
			r = d.sink.err < 0 ? d.sink.err : -ENOMEM;
	}
	gf_seen_free(&seen);
	if (count > 0)
		r = doc_end(&d, r);
	return gf_render_end(r, out, start, reasons, n, count, n_rendered);
}

int gf_render_review_xml(const char *hotel_id, const char *batch_id,
                         const struct gf_record *recs, size_t n,
                         const char *default_language,
                         struct gf_buf *out, char **reasons, size_t *n_rendered)
{
	return render(hotel_id, batch_id, recs, n, default_language, 0, out, reasons, n_rendered);
}

int gf_render_review_xml_gzip(const char *hotel_id, const char *batch_id,
                              const struct gf_record *recs, size_t n,
                              const char *default_language, int gzip_level,
                              struct gf_buf *out, char **reasons, size_t *n_rendered)
{
	if (gzip_level < 1)
		return -EINVAL;
	return render(hotel_id, batch_id, recs, n, default_language, gzip_level, out, reasons, n_rendered);
}
