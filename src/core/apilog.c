/* The API-call log: reading it, and purging it after its retention. */
#include "core/apilog.h"

#include <string.h>

#include "db/db.h"
#include "core/jsonout.h"
#include "base/log.h"

int gf_apilog_print(PGconn *c, const struct gf_apilog_filter *f, json_t *doc, FILE *out)
{
	char since_ms[32] = "", limit[32];
	const char *since_ts = NULL;
	int64_t ms;
	if (f->since) {
		if (gf_parse_duration_ms(f->since, &ms) == 0)
			snprintf(since_ms, sizeof(since_ms), "%lld", (long long)ms);
		else
			since_ts = f->since;
	}
	snprintf(limit, sizeof(limit), "%lld", (long long)(f->limit > 0 ? f->limit : 100));
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "apilog",
		"SELECT * FROM ("
		" SELECT a.id, to_char(a.at, 'YYYY-MM-DD HH24:MI:SS'), a.job, coalesce(c.property_id, '-'), a.url,"
		"        coalesce(a.status_code::text, '-'), coalesce(a.latency_ms::text, '-'),"
		"        coalesce(a.records::text, '-'), coalesce(a.request_bytes::text, '-'),"
		"        coalesce(a.idempotency_key, '-'), a.outcome, coalesce(a.error, ''),"
		/* (12..) for --json: the values, NULL where the table shows '-' */
		"        to_char(a.at, " GF_JSON_TS_FMT "), c.property_id, a.status_code, a.latency_ms, a.records,"
		"        a.request_bytes, a.idempotency_key, a.error"
		"   FROM guestflow.api_calls a LEFT JOIN guestflow.connections c ON c.id = a.connection_id"
		"  WHERE ($1::text IS NULL OR a.job = $1)"
		"    AND ($2::text IS NULL OR c.property_id = $2)"
		"    AND ($3::bigint IS NULL OR a.at >= now() - $3::bigint * interval '1 millisecond')"
		"    AND ($4::timestamptz IS NULL OR a.at >= $4::timestamptz)"
		"    AND (NOT $5::bool OR a.outcome <> 'accepted')"
		"  ORDER BY a.id DESC LIMIT $6::bigint) t ORDER BY 1", 6,
		(const char *[]){ f->job, f->property, since_ms[0] ? since_ms : NULL, since_ts,
		                  f->errors_only ? "true" : "false", limit });
	if (!r)
		return err;
	if (doc) {
		static const char *const keys[] = { "at", "property", "status_code", "latency_ms", "records",
			"request_bytes", "idempotency_key", "error" };
		json_t *a = gf_json_arr();
		for (int i = 0; i < PQntuples(r); i++) {
			json_t *o = gf_json_obj();
			gf_json_set(o, "id", gf_json_col_num(r, i, 0));
			gf_json_set(o, "job", gf_json_col_text(r, i, 2));
			/* (the URL as stored: its access key never is) */
			gf_json_set(o, "url", gf_json_col_text(r, i, 4));
			gf_json_set(o, "outcome", gf_json_col_text(r, i, 10));
			for (int k = 0; k < (int)GF_ARRAY_SIZE(keys); k++) {
				int col = 12 + k;
				gf_json_set(o, keys[k], k == 0 ? gf_json_col_ts(r, i, col)
				                        : (k >= 2 && k <= 5) ? gf_json_col_num(r, i, col)
				                                             : gf_json_col_text(r, i, col));
			}
			gf_json_add(a, o);
		}
		gf_json_set(doc, "calls", a);
		return 0;
	}
	fprintf(out, "%-19s %-16s %-10s %-6s %7s %7s %9s %-11s %-36s %s\n", "TIME", "JOB", "PROPERTY", "STATUS",
	        "MS", "RECORDS", "BYTES", "OUTCOME", "IDEMPOTENCY KEY", "URL / ERROR");
	/* What the rows hold is shown through gf_log_qt()/gf_log_q(): rows
	 * written before text was made safe may hold anything, and nothing may
	 * drive the terminal or show an access_key value. */
	for (int i = 0; i < PQntuples(r); i++) {
		fprintf(out, "%-19s %-16s %-10s %-6s %7s %7s %9s %-11s %-36s %s", PQgetvalue(r, i, 1),
		        gf_log_qt(PQgetvalue(r, i, 2)), gf_log_qt(PQgetvalue(r, i, 3)), PQgetvalue(r, i, 5),
		        PQgetvalue(r, i, 6), PQgetvalue(r, i, 7), PQgetvalue(r, i, 8), PQgetvalue(r, i, 10),
		        gf_log_qt(PQgetvalue(r, i, 9)), gf_log_qt(PQgetvalue(r, i, 4)));
		if (*PQgetvalue(r, i, 11))
			fprintf(out, "  error=%s", gf_log_q(PQgetvalue(r, i, 11)));
		fputc('\n', out);
	}
	return 0;
}

int gf_apilog_purge(PGconn *c, int64_t retention_ms, int64_t *deleted)
{
	char ms[32];
	snprintf(ms, sizeof(ms), "%lld", (long long)retention_ms);
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "apilog_purge",
		"DELETE FROM guestflow.api_calls WHERE at < now() - $1::bigint * interval '1 millisecond'", 1,
		(const char *[]){ ms });
	if (!r)
		return err;
	*deleted = 0;
	(void)gf_parse_int64(PQcmdTuples(r), deleted);
	return 0;
}
