/* A delivery's values to render: the columns read from the source view and
 * the row -> struct gf_record mapping, written once for every reader (the
 * plan's stream, a batch read again at its claim, the dry run). */
#ifndef GF_ROWS_H
#define GF_ROWS_H

#include <stdint.h>

#include "core/record.h"

/* The values of a record after its booking number, in the order of struct
 * gf_record, over guestflow.source_bookings s; status: the SQL expression
 * of the partner's status (the job's status map applied to s.status). A
 * statement selects the booking number first, then these. */
#define GF_SQL_RECORD_VALUES(status) GF_SQL_RECORD_VALUES_EACH("", status, "")
/* The same with each column written pre COLUMN post (the plan reads them
 * only for the pairs it plans: CASE WHEN ... THEN column END, so that the
 * source view computes nothing more for the others). */
#define GF_SQL_RECORD_VALUES_EACH(pre, status, post) \
	pre "s.last_name" post ", " pre "s.first_name" post ", " pre "btrim(s.email, E' \\t\\r\\n')" post ", " \
	pre "s.gender" post ", " pre "s.language" post ", " pre status post ", " pre "s.arrival::text" post ", " \
	pre "s.departure::text" post

/* The values in that order, the booking number first (v[GF_REC_NO]). */
enum { GF_REC_NO, GF_REC_LAST, GF_REC_FIRST, GF_REC_EMAIL, GF_REC_GENDER, GF_REC_LANGUAGE,
       GF_REC_STATUS, GF_REC_ARRIVAL, GF_REC_DEPARTURE, GF_REC_FIELDS };

/* The record of booking_id from GF_REC_FIELDS values (NULL for SQL NULL);
 * it points into v's strings. */
static inline struct gf_record gf_record_of(int64_t booking_id, const char *const *v)
{
	return (struct gf_record){
		.booking_id = booking_id, .booking_no = v[GF_REC_NO], .last_name = v[GF_REC_LAST],
		.first_name = v[GF_REC_FIRST], .email = v[GF_REC_EMAIL], .gender = v[GF_REC_GENDER],
		.language = v[GF_REC_LANGUAGE], .status = v[GF_REC_STATUS], .arrival = v[GF_REC_ARRIVAL],
		.departure = v[GF_REC_DEPARTURE],
	};
}

#endif
