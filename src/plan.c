/* Planning: eligible bookings x live connections become pending deliveries. */
#include "plan.h"

#include <stdio.h>

#include "db.h"

int gf_plan(PGconn *c, const struct gf_job *job, int64_t run_id, struct gf_plan_result *out)
{
	char window[32], run[32];
	snprintf(window, sizeof(window), "%lld", (long long)job->window_ms);
	snprintf(run, sizeof(run), "%lld", (long long)run_id);
	const char *p[] = { job->name, job->partner, window, run };
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "plan",
		"WITH eligible AS ("
		"  SELECT s.booking_id, s.property_id, s.booking_no, c.id AS connection_id"
		"    FROM guestflow.source_bookings s"
		"    JOIN guestflow.connections c"
		"      ON c.property_id = s.property_id AND c.partner = $2 AND c.status = 'live'"
		"   WHERE " GF_SQL_ELIGIBLE
		"), ins AS ("
		"  INSERT INTO guestflow.deliveries (job, connection_id, property_id, booking_id, booking_no, planned_run_id)"
		"  SELECT $1, connection_id, property_id, booking_id, booking_no, $4::bigint FROM eligible"
		"  ON CONFLICT (job, connection_id, booking_id) DO NOTHING"
		"  RETURNING 1"
		") SELECT (SELECT count(*) FROM eligible), (SELECT count(*) FROM ins)", 4, p);
	if (!r)
		return err;
	out->eligible = gf_db_get_int(r, 0, 0);
	out->planned = gf_db_get_int(r, 0, 1);
	return 0;
}
