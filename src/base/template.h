/* History message templates: {partner} {job} {batch} {booking_no} {hotel_id}
 * {run_id} {date}. */
#ifndef GF_TEMPLATE_H
#define GF_TEMPLATE_H

#include "base/buf.h"

struct gf_template_vars {
	const char *partner, *job, *batch, *booking_no, *hotel_id, *run_id, *date;
};

/* Expand tmpl into out. A placeholder whose value is NULL is kept as written
 * (so "{booking_no}" can be filled later, per booking, in SQL). Unknown
 * placeholders were refused when the config was loaded; here they are kept. */
int gf_template_expand(const char *tmpl, const struct gf_template_vars *v, struct gf_buf *out);

#endif
