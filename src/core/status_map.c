/* The partners' status maps (status_map.h). */
#include <errno.h>
#include <stdlib.h>

#include "base/buf.h"
#include "base/log.h"
#include "core/plan.h"
#include "core/status_map.h"
#include "db/db.h"

int gf_status_map_set(PGconn *c, const char *partner, const char *pms_status, const char *partner_status,
                      bool *changed)
{
	int err = 0;
	/* The partner's row as 'connection add' makes it: a job names it. */
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "status_map_set",
		"WITH p AS (INSERT INTO guestflow.partners (id, name) VALUES ($1, $1) ON CONFLICT DO NOTHING)"
		" INSERT INTO guestflow.status_map AS m (partner, source_status, partner_status) VALUES ($1, $2, $3)"
		" ON CONFLICT (partner, source_status) DO UPDATE SET partner_status = EXCLUDED.partner_status"
		"   WHERE m.partner_status IS DISTINCT FROM EXCLUDED.partner_status"
		" RETURNING 1", 3, (const char *[]){ partner, pms_status, partner_status });
	if (!r)
		return err;
	*changed = PQntuples(r) > 0;
	if (*changed)
		gf_info("status_map_set", "partner=%s pms_status=%s partner_status=%s", gf_log_q(partner),
		        gf_log_q(pms_status), gf_log_q(partner_status));
	return 0;
}

int gf_status_map_remove(PGconn *c, const char *partner, const char *pms_status)
{
	int err = 0;
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "status_map_remove",
		"DELETE FROM guestflow.status_map WHERE partner = $1 AND source_status = $2 RETURNING 1", 2,
		(const char *[]){ partner, pms_status });
	if (!r)
		return err;
	if (PQntuples(r) == 0)
		return -ENOENT;
	gf_info("status_map_removed", "partner=%s pms_status=%s", gf_log_q(partner), gf_log_q(pms_status));
	return 0;
}

int gf_status_map_list(PGconn *c, const char *const *partners, size_t n, FILE *out, bool only)
{
	_cleanup_buf_ struct gf_buf arr = GF_BUF_INIT(SIZE_MAX);
	int err = gf_db_text_array(&arr, partners, n);
	if (err < 0)
		return err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "status_map_list",
		"WITH p AS (SELECT unnest($1::text[]) AS partner UNION SELECT partner FROM guestflow.status_map WHERE NOT $2),"
		" ref AS (SELECT unnest(ARRAY[" GF_SQL_REFERENCE_STATUSES "]) AS status)"
		" SELECT p.partner, s.status, coalesce(m.partner_status, s.status),"
		"        CASE WHEN m.partner_status IS NULL THEN 'reference, as it is'"
		"             WHEN s.ref THEN 'mapped (instead of the reference status)' ELSE 'mapped' END"
		"   FROM p CROSS JOIN LATERAL ("
		"          SELECT status, true AS ref FROM ref"
		"          UNION ALL SELECT source_status, false FROM guestflow.status_map x"
		"           WHERE x.partner = p.partner AND x.source_status NOT IN (" GF_SQL_REFERENCE_STATUSES ")) s"
		"   LEFT JOIN guestflow.status_map m ON m.partner = p.partner AND m.source_status = s.status"
		"  ORDER BY 1, s.ref DESC, 2", 2, (const char *[]){ gf_buf_str(&arr), only ? "true" : "false" });
	if (!r)
		return err;
	fprintf(out, "%-20s %-20s %-20s %s\n", "PARTNER", "PMS STATUS", "SENT AS", "HOW");
	for (int i = 0; i < PQntuples(r); i++) {
		/* database text escaped as explain and status show it */
		fprintf(out, "%-20s ", gf_log_qt(PQgetvalue(r, i, 0)));
		fprintf(out, "%-20s ", gf_log_qt(PQgetvalue(r, i, 1)));
		fprintf(out, "%-20s %s\n", gf_log_qt(PQgetvalue(r, i, 2)), PQgetvalue(r, i, 3));
	}
	fprintf(out, "Other PMS statuses are not sent to a partner until mapped for it"
	        " (guestflow status-map set PARTNER PMS_STATUS PARTNER_STATUS).\n");
	return 0;
}
