/* Reruns: putting deliveries back in the queue by hand. */
#include "rerun.h"

#include "db.h"
#include "log.h"

int gf_rerun_dead(PGconn *c, const char *job, struct gf_rerun_result *out)
{
	int r = gf_db_begin(c);
	if (r < 0)
		return r;
	int err;
	PGresult *res = gf_db_query(c, &err, "rerun_dead",
		"WITH b AS ("
		"  UPDATE guestflow.batches SET state = 'open', attempts = 0, next_attempt_at = now(),"
		"         lease_until = NULL, lease_token = NULL, finished_at = NULL"
		"   WHERE job = $1 AND state = 'dead' RETURNING id"
		"), d AS ("
		"  UPDATE guestflow.deliveries SET state = 'pending', updated_at = now(), finished_at = NULL,"
		"         reason = 'rerun after: ' || coalesce(reason, 'dead')"
		"   WHERE job = $1 AND state = 'dead' AND batch_id IN (SELECT id FROM b) RETURNING 1"
		"), a AS ("
		"  UPDATE guestflow.alert_events SET cleared_at = now()"
		"   WHERE job = $1 AND kind = 'dead_deliveries' AND cleared_at IS NULL RETURNING 1"
		") SELECT (SELECT count(*) FROM b), (SELECT count(*) FROM d), (SELECT count(*) FROM a)",
		1, (const char *[]){ job });
	if (!res) {
		gf_db_rollback(c);
		return err;
	}
	out->batches = gf_db_get_int(res, 0, 0);
	out->deliveries = gf_db_get_int(res, 0, 1);
	PQclear(res);
	r = gf_db_commit(c);
	if (r == 0)
		gf_info("rerun_dead", "batches=%lld deliveries=%lld", (long long)out->batches,
		        (long long)out->deliveries);
	return r;
}
