/* Parsing a partner's reply to a batch (review-xml importResult). */
#ifndef GF_REPLY_H
#define GF_REPLY_H

#include <stddef.h>
#include <stdint.h>

struct gf_reply_rejection {
	char *booking_no;
	char *reason;   /* may be ""; safe text (text.h), at most GF_TEXT_MAX bytes */
};

struct gf_reply {
	int64_t accepted;
	int64_t rejected;
	struct gf_reply_rejection *items;
	size_t n_items;
};

/* Parse an <importResult accepted="N" rejected="M"> document, with or without
 * the urn:guestflow:review-xml:1 namespace, without network access, entity
 * expansion or DTD loading. Fails with -GF_E_REPLY and a reason in why when the
 * body is not well-formed XML, the root element is wrong, a count is missing
 * or not a non-negative integer, a <rejected> lacks bookingNo, the number of
 * <rejected> elements differs from the rejected count, or the same booking is
 * listed twice. On success fills *out (caller calls gf_reply_clear). */
int gf_reply_parse_review_xml(const char *data, size_t len, struct gf_reply *out,
                              char *why, size_t whylen);
void gf_reply_clear(struct gf_reply *r);

#endif
