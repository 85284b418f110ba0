/* Connections: credentials and lifecycle of one property's link to one partner. */
#include "connection.h"

#include <string.h>

#include "db.h"
#include "log.h"

int gf_connection_add(PGconn *c, const char *property, const char *partner,
                      const char *hotel_id, const char *access_key)
{
	const char *p[] = { property, partner, hotel_id, access_key };
	int r = gf_db_begin(c);
	if (r < 0)
		return r;
	r = gf_db_exec(c, "partner_upsert",
	               "INSERT INTO guestflow.partners (id, name) VALUES ($1, $1) ON CONFLICT DO NOTHING",
	               1, &p[1]);
	int err = 0;
	PGresult *res = NULL;
	if (r == 0) {
		res = gf_db_query(c, &err, "connection_add",
			"WITH ins AS (INSERT INTO guestflow.connections (property_id, partner, hotel_id, access_key)"
			" VALUES ($1, $2, $3, $4) ON CONFLICT (property_id, partner) DO NOTHING RETURNING id)"
			" INSERT INTO guestflow.connection_events (connection_id, from_status, to_status, note)"
			" SELECT id, NULL, 'setup', 'connection added' FROM ins RETURNING connection_id", 4, p);
		r = err;
	}
	if (r == 0 && PQntuples(res) == 0)
		r = -EEXIST;
	if (res)
		PQclear(res);
	if (r == 0)
		r = gf_db_commit(c);
	else
		gf_db_rollback(c);
	return r;
}

static const char *const statuses[] = { "setup", "live", "stopped", "deactivated" };

int gf_connection_set_status(PGconn *c, const char *property, const char *partner,
                             const char *status, const char *note)
{
	bool known = false;
	for (size_t i = 0; i < GF_ARRAY_SIZE(statuses); i++)
		known |= strcmp(status, statuses[i]) == 0;
	if (!known)
		return -EINVAL;
	int r = gf_db_begin(c);
	if (r < 0)
		return r;
	const char *p[] = { property, partner };
	int err;
	_cleanup_pgresult_ PGresult *cur = gf_db_query(c, &err, "connection_lock",
		"SELECT id, status FROM guestflow.connections WHERE property_id = $1 AND partner = $2 FOR UPDATE",
		2, p);
	if (!cur) {
		gf_db_rollback(c);
		return err;
	}
	if (PQntuples(cur) == 0) {
		gf_db_rollback(c);
		return -ENOENT;
	}
	const char *from = PQgetvalue(cur, 0, 1);
	if (strcmp(from, status) == 0) {
		gf_db_rollback(c);
		return 0;
	}
	/* Stopping is the partner's answer to a connection it served. */
	if (strcmp(status, "stopped") == 0 && strcmp(from, "live") != 0) {
		gf_db_rollback(c);
		return -EPERM;
	}
	const char *q[] = { PQgetvalue(cur, 0, 0), from, status, note };
	r = gf_db_exec(c, "connection_status",
		"WITH u AS (UPDATE guestflow.connections SET status = $3, status_changed_at = now(), updated_at = now()"
		" WHERE id = $1::bigint RETURNING id)"
		" INSERT INTO guestflow.connection_events (connection_id, from_status, to_status, note)"
		" SELECT id, $2, $3, $4 FROM u", 4, q);
	if (r == 0)
		r = gf_db_commit(c);
	else
		gf_db_rollback(c);
	return r;
}

int gf_connection_list(PGconn *c, FILE *out)
{
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "connection_list",
		"SELECT property_id, partner, hotel_id, status, to_char(status_changed_at, 'YYYY-MM-DD HH24:MI')"
		" FROM guestflow.connections ORDER BY partner, property_id", 0, NULL);
	if (!r)
		return err;
	fprintf(out, "%-16s %-16s %-20s %-12s %s\n", "PROPERTY", "PARTNER", "HOTEL ID", "STATUS", "SINCE");
	for (int i = 0; i < PQntuples(r); i++)
		fprintf(out, "%-16s %-16s %-20s %-12s %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
		        PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
	return 0;
}

int gf_connection_show(PGconn *c, const char *property, const char *partner, FILE *out)
{
	const char *p[] = { property, partner };
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "connection_show",
		"SELECT id, property_id, partner, hotel_id, status, created_at, status_changed_at,"
		" (SELECT count(*) FROM guestflow.deliveries d WHERE d.connection_id = c.id AND d.state = 'delivered'),"
		" (SELECT count(*) FROM guestflow.deliveries d WHERE d.connection_id = c.id AND d.state IN ('pending', 'sending'))"
		" FROM guestflow.connections c WHERE property_id = $1 AND partner = $2", 2, p);
	if (!r)
		return err;
	if (PQntuples(r) == 0)
		return -ENOENT;
	fprintf(out, "property:    %s\npartner:     %s\nhotel id:    %s\naccess key:  (stored, not shown)\n"
	        "status:      %s (since %s)\ncreated:     %s\ndelivered:   %s\npending:     %s\n",
	        PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3), PQgetvalue(r, 0, 4),
	        PQgetvalue(r, 0, 6), PQgetvalue(r, 0, 5), PQgetvalue(r, 0, 7), PQgetvalue(r, 0, 8));
	const char *id = PQgetvalue(r, 0, 0);
	_cleanup_pgresult_ PGresult *ev = gf_db_query(c, &err, "connection_events",
		"SELECT to_char(at, 'YYYY-MM-DD HH24:MI:SS'), coalesce(from_status, '-'), to_status, actor, coalesce(note, '')"
		" FROM guestflow.connection_events WHERE connection_id = $1::bigint ORDER BY at DESC, id DESC LIMIT 20",
		1, &id);
	if (!ev)
		return err;
	fprintf(out, "events:\n");
	for (int i = 0; i < PQntuples(ev); i++)
		fprintf(out, "  %s  %s -> %s  by %s  %s\n", PQgetvalue(ev, i, 0), PQgetvalue(ev, i, 1),
		        PQgetvalue(ev, i, 2), PQgetvalue(ev, i, 3), PQgetvalue(ev, i, 4));
	return 0;
}
