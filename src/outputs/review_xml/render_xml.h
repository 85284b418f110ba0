/* Rendering a batch in the review-xml v1 format (DESIGN.md section 4). */
#ifndef GF_RENDER_XML_H
#define GF_RENDER_XML_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "core/record.h"

/* What the format requires of the hotelId and batchId attributes, checked
 * as they are (not trimmed): present, valid UTF-8 that XML can carry (no
 * control characters), not only white space. Returns 0, or -GF_E_RENDER
 * with the rule broken in why ("control character U+0007 at character 3",
 * "only white space", "missing"). For a connection's hotel id when it is
 * entered, and before a batch is rendered. */
int gf_review_xml_check_id(const char *value, char *why, size_t whylen);

/* Render the records that pass gf_record_check() into one <guestList> document
 * (UTF-8, with XML declaration) appended to out, using libxml2's xmlTextWriter.
 * reasons[i] is set to a malloc'd reason for each record i that was left out,
 * NULL for records rendered (the caller frees them). *n_rendered counts the
 * records written; when it is 0 nothing is appended. Names are trimmed;
 * firstName is omitted when missing or blank; gender and language are
 * normalised, language falling back to default_language. Returns 0, or a
 * negative error when the document could not be produced at all: -EINVAL
 * for a hotel_id or batch_id gf_review_xml_check_id() refuses (or a bad
 * default_language or gzip_level), -GF_E_TOO_BIG when out's cap was
 * reached. Nothing is appended then. */
int gf_render_review_xml(const char *hotel_id, const char *batch_id,
                         const struct gf_record *recs, size_t n,
                         const char *default_language,
                         struct gf_buf *out, char **reasons, size_t *n_rendered);
/* The same document as one gzip member at gzip_level (1..9), deflated as it
 * is written: the uncompressed document is never held whole. */
int gf_render_review_xml_gzip(const char *hotel_id, const char *batch_id,
                              const struct gf_record *recs, size_t n,
                              const char *default_language, int gzip_level,
                              struct gf_buf *out, char **reasons, size_t *n_rendered);

#endif
