/* The guest-json output (PARTNERS.md "guest-json v1"): a JSON API over
 * HTTPS, a bearer token per connection. Rendered and read with jansson. */
#ifndef GF_OUTPUT_GUEST_JSON_H
#define GF_OUTPUT_GUEST_JSON_H

#include <stddef.h>

#include "base/buf.h"
#include "core/output.h"

extern const struct gf_output gf_output_guest_json;

/* The contract's largest request. */
#define GF_GUEST_JSON_MAX_GUESTS 1000

/* The request body for recs (the output's render, exposed for the unit
 * tests and fuzz targets): {"batchId": ..., "guests": [...]}, without the
 * keys of the fields in omit (GF_OMIT_* bits: any of the optional ones). */
int gf_render_guest_json(const char *batch_id, const struct gf_record *recs, size_t n,
                         const char *default_language, unsigned omit, int gzip_level, struct gf_buf *out,
                         char **reasons, size_t *n_rendered);

/* A 2xx reply: {"accepted": N, "rejected": [{"pmsId": ..., "reason": ...}]}
 * (rejected may be absent). Fails with -GF_E_REPLY and why when the body
 * is not that JSON: not an object, a count missing or negative, a rejected
 * entry without pmsId, a pmsId listed twice, duplicate keys. */
int gf_reply_parse_guest_json(const char *data, size_t len, const char *secret, struct gf_reply *out, char *why,
                              size_t whylen);

/* A 400 reply that names the records refused: {"error": ..., "rejected":
 * [{"pmsId": ..., "reason": ...}]}. 0 and out->items when it names at least
 * one; -GF_E_REPLY with why otherwise (then the batch is bisected). */
int gf_refusal_parse_guest_json(const char *data, size_t len, const char *secret, struct gf_reply *out, char *why,
                                size_t whylen);

/* The test call's reply, {"id": ID, "name": "..."} (name optional, text):
 * 0 when it names property_id, or -GF_E_REPLY with why (safe text, the
 * secret redacted). */
int gf_property_parse_guest_json(const char *data, size_t len, const char *secret, const char *property_id,
                                 char *why, size_t whylen);

/* The event pull's reply, {"events": [{"pmsId", "type", "at"}...], "next":
 * CURSOR}: every event with a pmsId, one of the four types and an RFC 3339
 * time; a next cursor whenever there are events. 0 and *out
 * (gf_events_clear), or -GF_E_REPLY with why. */
int gf_events_parse_guest_json(const char *data, size_t len, const char *secret, struct gf_events *out, char *why,
                               size_t whylen);

#endif
