/* One booking as guestflow sends it, and the checks it passes before any output renders it. */
#ifndef GF_RECORD_H
#define GF_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One booking as read from guestflow.source_bookings (text values, any may be
 * NULL). status is already mapped through the partner's status map.
 * arrival/departure are ISO dates "YYYY-MM-DD". */
struct gf_record {
	int64_t booking_id;
	const char *booking_no;
	const char *last_name;
	const char *first_name;
	const char *email;
	const char *gender;
	const char *language;
	const char *status;
	const char *arrival;
	const char *departure;
};

/* No length is checked anywhere: the format (schemas/xsd/review-xml-1.xsd)
 * states none, so the partner decides.
 *
 * Check and normalise one record without writing it. Returns 0, or -GF_E_RENDER
 * with a reason naming the field and the problem in why (e.g. "last_name:
 * invalid UTF-8 at byte 5", "departure 2026-11-01 is before arrival
 * 2026-11-05", "email: missing"). */
int gf_record_check(const struct gf_record *rec, char *why, size_t whylen);
/* The check of a record's status alone (what a status map may send). */
int gf_record_check_status(const char *status, char *why, size_t whylen);

/* The text fields of a record that an output writes. */
enum gf_record_field { GF_RECORD_BOOKING_NO, GF_RECORD_LAST_NAME, GF_RECORD_FIRST_NAME, GF_RECORD_EMAIL,
                       GF_RECORD_STATUS, GF_RECORD_ARRIVAL, GF_RECORD_DEPARTURE, GF_RECORD_N_FIELDS };

/* A part of a record's value, pointing into the record's own text. */
struct gf_span {
	const char *p;
	size_t len;
	bool terminated;   /* p[len] == '\0': usable without a copy */
};

/* One record after checking: what will be written. Names are trimmed (the
 * booking number is not: the partner's reply names it as it was sent); a
 * missing or blank first name has len 0; gender is one of
 * gf_norm_gender()'s; language only when has_language. */
struct gf_record_checked {
	struct gf_span f[GF_RECORD_N_FIELDS];
	const char *gender;
	char language[3];
	bool has_language;
};

/* gf_record_check(), also giving the values to write in *c (which points
 * into rec). */
int gf_record_check_into(const struct gf_record *rec, struct gf_record_checked *c, char *why, size_t whylen);

/* The optional fields a job may leave out (fields.omit: data minimisation,
 * PARTNERS.md); booking number, last name, e-mail and departure always go. */
enum gf_omit {
	GF_OMIT_FIRST_NAME = 1 << 0,
	GF_OMIT_GENDER = 1 << 1,
	GF_OMIT_LANGUAGE = 1 << 2,
	GF_OMIT_STATUS = 1 << 3,
	GF_OMIT_ARRIVAL = 1 << 4,
};

/* gf_record_check_into() for a record sent without the fields in omit
 * (GF_OMIT_* bits): they are neither checked nor given (their spans are
 * empty), so that a value that is not sent cannot keep a guest from being
 * sent. */
int gf_record_check_omit(const struct gf_record *rec, unsigned omit, struct gf_record_checked *c, char *why,
                         size_t whylen);

/* The booking numbers of a batch seen so far: a batch may not name one
 * twice (the partner's reply names guests by it). */
struct gf_seen {
	size_t *slot;   /* record index or SIZE_MAX */
	size_t mask;
};
void gf_seen_init(struct gf_seen *t, size_t n);
/* True when recs[i]'s booking number was added before; otherwise remembers it. */
bool gf_seen_add(struct gf_seen *t, const struct gf_record *recs, size_t i);
void gf_seen_free(struct gf_seen *t);

/* Whether an output may write recs[i] in a batch: it passes
 * gf_record_check_omit() (*c: what to write), has a language unless that
 * is omitted or default_language stands in, and its booking number is not
 * an earlier record's (seen). false with a malloc'd reason in *reason
 * (when reason is not NULL) otherwise. Every renderer's step per record. */
bool gf_record_take(const struct gf_record *recs, size_t i, unsigned omit, const char *default_language,
                    struct gf_seen *seen, struct gf_record_checked *c, char **reason);

#endif
