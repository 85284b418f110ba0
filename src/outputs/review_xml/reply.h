/* Parsing a partner's reply to a batch (review-xml importResult). */
#ifndef GF_REPLY_H
#define GF_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "core/output.h"

/* Parse an <importResult accepted="N" rejected="M"> document, with or without
 * the urn:guestflow:review-xml:1 namespace, without network access, entity
 * expansion or DTD loading. Fails with -GF_E_REPLY and a reason in why when the
 * body is not well-formed XML, the root element is wrong, a count is missing
 * or not a non-negative integer, a <rejected> lacks bookingNo, the number of
 * <rejected> elements differs from the rejected count, or the same booking is
 * listed twice. On success fills *out (caller calls gf_reply_clear).
 * secret (NULL: none) is the access key the request carried: every piece of
 * the reply quoted in why or kept as a reason is safe text with the key
 * redacted in all of it before the piece is cut (text.h), so that no part
 * of the key survives a cut. */
int gf_reply_parse_review_xml(const char *data, size_t len, const char *secret, struct gf_reply *out,
                              char *why, size_t whylen);

/* The test call's reply, <pong hotelId="ID"/> (PARTNERS.md "review-xml v1
 * additions"), parsed as safely: 0 when it is that element and names
 * hotel_id, or -GF_E_REPLY with why. */
int gf_reply_parse_review_xml_pong(const char *data, size_t len, const char *secret, const char *hotel_id,
                                   char *why, size_t whylen);

/* The event pull's reply, <events next="CURSOR"><event bookingNo= type=
 * at=/>...</events> (PARTNERS.md), parsed as safely: every event with a
 * booking number, one of the four types and an RFC 3339 time; a next
 * cursor whenever there are events. 0 and *out (gf_events_clear), or
 * -GF_E_REPLY with why. */
int gf_reply_parse_review_xml_events(const char *data, size_t len, const char *secret, struct gf_events *out,
                                     char *why, size_t whylen);

#endif
