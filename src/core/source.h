/* Reading the source view when it raises an error for some booking: the
 * bookings an operator's command cannot read, found one at a time, so that
 * the command does its work for the others (run --dry-run, rerun). */
#ifndef GF_SOURCE_H
#define GF_SOURCE_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/* Every column of the contract, over guestflow.source_bookings s. */
#define GF_SQL_SOURCE_COLUMNS \
	"s.booking_id, s.property_id, s.booking_no, s.status, s.arrival, s.departure, s.checked_out_at, s.notify," \
	" s.last_name, s.first_name, s.email, s.gender, s.language, s.updated_at"
/* The source view as s, only the rows of booking_id lo..hi (parameters),
 * for a probe: a subquery that is not pulled up (OFFSET 0), so that the
 * view's columns are computed only for those rows, whatever the planner
 * does with the conditions of the statement around it. */
#define GF_SQL_SOURCE_RANGE(lo, hi) \
	"(SELECT * FROM guestflow.source_bookings s0 WHERE s0.booking_id BETWEEN " lo "::bigint AND " hi "::bigint" \
	" OFFSET 0) s"
/* The same without the rows of the booking ids ids (a bigint[] parameter):
 * the statement of a command that found bookings the view cannot give. */
#define GF_SQL_SOURCE_WITHOUT(ids) \
	"(SELECT * FROM guestflow.source_bookings s0 WHERE coalesce(s0.booking_id <> ALL(" ids "::bigint[]), true)" \
	" OFFSET 0) s"

/* A booking the source view cannot give: its booking number when the view
 * gives that much of it (else NULL), and the database's message. */
struct gf_source_fault {
	int64_t booking_id;
	char *booking_no;
	char *reason;
};

struct gf_source_faults {
	struct gf_source_fault *v;
	size_t n;
};

/* The bookings for which probe raises an error that may be one row's
 * (gf_db_sqlstate_may_be_row), in the transaction open on c (each statement
 * under a savepoint: the transaction stays usable, and read-only ones do
 * too). probe reads the view as GF_SQL_SOURCE_RANGE of its last two
 * parameters ($n_params+1, $n_params+2) after params, and returns one row:
 * how many rows it read whole. It is run once over every booking id; only
 * when it fails are the view's ids listed and a range that fails halved
 * down to the one booking. Returns 0 and *out (none: n 0; the caller frees
 * it with gf_source_faults_free), or a negative error logged: a failure
 * that is not one row's, the ids cannot be listed, or the view gives no
 * booking whole (broken as a whole: the command fails, naming nothing). */
int gf_source_faults_find(PGconn *c, const char *probe, int n_params, const char *const *params,
                          struct gf_source_faults *out);
/* Their booking ids as a bigint[] literal (for GF_SQL_SOURCE_WITHOUT); the
 * caller frees it. */
char *gf_source_faults_ids(const struct gf_source_faults *f);
void gf_source_faults_free(struct gf_source_faults *f);

#endif
