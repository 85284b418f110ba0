/* Creating and upgrading the guestflow schema from the embedded migrations. */
#include "db/migrate.h"

#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "db/db.h"
#include "db/embedded_sql.h"
#include "base/locks.h"
#include "base/log.h"

/* Serialises concurrent `db migrate` runs (locks.h). */
#define MIGRATE_LOCK_KEY GF_LOCK_CLASS_MIGRATE ", 0"

int gf_schema_version_known(void)
{
	return (int)gf_n_migrations;
}

/* -1 when there is no migrations table yet. */
static int db_version(PGconn *c, int *version)
{
	int err;
	_cleanup_pgresult_ PGresult *t = gf_db_query(c, &err, "schema_present",
		"SELECT to_regclass('guestflow.schema_migrations') IS NOT NULL", 0, NULL);
	if (!t)
		return err;
	if (PQgetvalue(t, 0, 0)[0] != 't') {
		*version = -1;
		return 0;
	}
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "schema_version",
		"SELECT coalesce(max(version), 0) FROM guestflow.schema_migrations", 0, NULL);
	if (!r)
		return err;
	*version = (int)gf_db_get_int(r, 0, 0);
	return 0;
}

int gf_schema_version(PGconn *c)
{
	int v = 0;
	int r = db_version(c, &v);
	return r < 0 ? (r == -1 ? -2 : r) : v;
}

/* A database whose recorded migrations are not this binary's (by version
 * and name): an old development database migrated by the steps squashed
 * into 0001_baseline (nothing had been released, so nothing converts it). */
static int history_check(PGconn *c)
{
	_cleanup_buf_ struct gf_buf names = GF_BUF_INIT(1 << 20);
	const char **v = gf_xcalloc(gf_n_migrations ? gf_n_migrations : 1, sizeof(*v));
	for (size_t i = 0; i < gf_n_migrations; i++)
		v[i] = gf_migrations[i].name;
	int r = gf_db_text_array(&names, v, gf_n_migrations);
	free(v);
	if (r < 0)
		return r;
	int err;
	_cleanup_pgresult_ PGresult *q = gf_db_query(c, &err, "schema_history",
		"SELECT m.version, m.name FROM guestflow.schema_migrations m"
		" WHERE m.version <= cardinality($1::text[]) AND m.name IS DISTINCT FROM ($1::text[])[m.version]"
		" ORDER BY 1 LIMIT 1", 1, (const char *[]){ gf_buf_str(&names) });
	if (!q)
		return err;
	if (PQntuples(q) == 0)
		return 0;
	gf_error("schema_history_unknown", "version=%s name=%s msg=%s", PQgetvalue(q, 0, 0), gf_log_q(PQgetvalue(q, 0, 1)),
	         gf_log_q("this database was migrated by a development version of guestflow whose migrations were"
	                  " squashed into 0001_baseline (nothing had been released): it cannot be converted; create"
	                  " the guestflow schema anew ('DROP SCHEMA guestflow CASCADE', then 'guestflow db migrate')"
	                  " in a database whose deliveries you do not need to keep"));
	return -GF_E_SCHEMA;
}

static int too_new(int have)
{
	gf_error("schema_too_new",
	         "schema_version=%d known=%d msg=%s", have, gf_schema_version_known(),
	         gf_log_q("the database was migrated by a newer guestflow; install that version (or newer) instead of running this one"));
	return -GF_E_SCHEMA;
}

static int apply_one(PGconn *c, const struct gf_migration *m, int *applied)
{
	int r = gf_db_begin(c);
	if (r < 0)
		return r;
	r = gf_db_exec(c, "migrate_lock", "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")", 0, NULL);
	int have = 0;
	if (r == 0)
		r = db_version(c, &have);
	if (r == 0 && have >= m->version) {
		/* Another process applied it while we waited for the lock. */
		gf_db_rollback(c);
		return 0;
	}
	if (r == 0 && have != m->version - 1)
		r = -GF_E_SCHEMA;
	if (r == 0)
		r = gf_db_exec(c, m->name, m->sql, 0, NULL);
	if (r == 0) {
		char v[16];
		snprintf(v, sizeof(v), "%d", m->version);
		const char *p[] = { v, m->name };
		r = gf_db_exec(c, "record_migration",
		               "INSERT INTO guestflow.schema_migrations (version, name) VALUES ($1::int, $2)", 2, p);
	}
	if (r == 0)
		r = gf_db_commit(c);
	if (r < 0) {
		gf_db_rollback(c);
		gf_error("migration_failed", "version=%04d name=%s", m->version, m->name);
		return r;
	}
	gf_info("migration_applied", "version=%04d name=%s", m->version, m->name);
	(*applied)++;
	return 0;
}

int gf_migrate(PGconn *c, int *applied, int *adapters_installed)
{
	*applied = 0;
	*adapters_installed = 0;
	int r = gf_db_exec(c, "create_schema",
		"SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ");"
		"CREATE SCHEMA IF NOT EXISTS guestflow;"
		"CREATE TABLE IF NOT EXISTS guestflow.schema_migrations ("
		" version integer PRIMARY KEY, name text NOT NULL,"
		" applied_at timestamptz NOT NULL DEFAULT now());"
		"SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", 0, NULL);
	if (r < 0)
		return r;
	int have = 0;
	r = db_version(c, &have);
	if (r == 0 && have > 0)
		r = history_check(c);
	if (r < 0)
		return r;
	if (have > gf_schema_version_known())
		return too_new(have);
	for (size_t i = 0; i < gf_n_migrations; i++) {
		if (gf_migrations[i].version <= have)
			continue;
		r = apply_one(c, &gf_migrations[i], applied);
		if (r < 0)
			return r;
	}
	int err;
	_cleanup_pgresult_ PGresult *q = gf_db_query(c, &err, "adapter_check",
		"SELECT to_regclass('guestflow.source_bookings') IS NULL"
		" AND to_regclass('pms.bookings') IS NOT NULL"
		" AND to_regclass('pms.guests') IS NOT NULL"
		" AND to_regclass('pms.booking_history') IS NOT NULL", 0, NULL);
	if (!q)
		return err;
	if (PQgetvalue(q, 0, 0)[0] == 't') {
		r = gf_db_begin(c);
		if (r == 0)
			r = gf_db_exec(c, "reference_adapters", gf_sql_adapters, 0, NULL);
		if (r == 0)
			r = gf_db_commit(c);
		if (r < 0) {
			gf_db_rollback(c);
			return r;
		}
		*adapters_installed = 1;
		gf_info("adapters_installed", "msg=%s", gf_log_q("installed the reference source adapters over the pms schema"));
	}
	/* The contract's view of the properties (newer than the others): over
	 * the reference pms.properties when it is missing, so that an install
	 * of the reference schema keeps its adapters whole. */
	_cleanup_pgresult_ PGresult *pq = gf_db_query(c, &err, "adapter_properties_check",
		"SELECT to_regclass('guestflow.source_properties') IS NULL"
		" AND EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('pms.properties')"
		"             AND attname = 'export_allowed' AND attnum > 0 AND NOT attisdropped)", 0, NULL);
	if (!pq)
		return err;
	_cleanup_pgresult_ PGresult *old = gf_db_query(c, &err, "adapter_properties_old",
		"SELECT to_regclass('guestflow.source_properties') IS NULL AND to_regclass('guestflow.source_bookings')"
		" IS NOT NULL", 0, NULL);
	if (!old)
		return err;
	if (PQgetvalue(pq, 0, 0)[0] != 't' && PQgetvalue(old, 0, 0)[0] == 't')
		gf_warn("adapter_missing", "msg=%s",
		        gf_log_q("the source view guestflow.source_properties (property_id text, name, export_allowed"
		                 " boolean) is missing, and runs refuse to start without it: create it over the PMS's"
		                 " properties (see schemas/sql/reference/adapter_properties.sql; for the reference PMS"
		                 " schema, load pms.sql again and run 'guestflow db migrate')"));
	if (PQgetvalue(pq, 0, 0)[0] == 't') {
		r = gf_db_exec(c, "reference_adapter_properties", gf_sql_adapter_properties, 0, NULL);
		if (r < 0)
			return r;
		*adapters_installed = 1;
		gf_info("adapters_installed", "msg=%s",
		        gf_log_q("installed the reference view guestflow.source_properties over pms.properties"));
	}
	return 0;
}

int gf_schema_check(PGconn *c)
{
	int r = gf_schema_check_own(c);
	return r < 0 ? r : gf_adapter_check(c);
}

int gf_schema_check_own(PGconn *c)
{
	int have = 0;
	int r = db_version(c, &have);
	if (r == 0 && have > 0)
		r = history_check(c);
	if (r < 0)
		return r;
	if (have > gf_schema_version_known())
		return too_new(have);
	if (have < gf_schema_version_known()) {
		gf_error("schema_outdated", "schema_version=%d known=%d msg=%s", have < 0 ? 0 : have,
		         gf_schema_version_known(),
		         gf_log_q("the guestflow schema is missing or older than this binary: run 'guestflow db migrate'"));
		return -GF_E_SCHEMA;
	}
	return 0;
}

/* The source contract's columns (schemas/sql/reference/adapters.sql and
 * adapter_properties.sql), each with the type guestflow reads it as. A view
 * is checked by its catalog entry (pg_attribute), before anything is read
 * through it: a column of another type fails every plan as a database error
 * (a booking_id of integer: the plan's binary stream reads eight bytes), or
 * worse, rejects every guest for data that is fine (an arrival of timestamp
 * gives a time with the date), rejections that no fixed view undoes. A
 * column's type is acceptable when it is the one wanted, or a domain over
 * it (an int8 domain for booking_id), or, for text, character varying of any
 * length (the same values, compared and sent as text). Nothing else: not
 * integer for bigint, not timestamp without time zone for timestamptz (the
 * view says in which zone its times are, with AT TIME ZONE), not timestamp
 * for date, not character(n) for text (it pads the value with blanks). Other
 * columns of the view are not read. source_properties' name is not read
 * either (any type). */
#define CONTRACT_COLUMNS \
	"(1, 'source_bookings', 'booking_id', 'bigint'::regtype), (2, 'source_bookings', 'property_id', 'text')," \
	"(3, 'source_bookings', 'booking_no', 'text'), (4, 'source_bookings', 'status', 'text')," \
	"(5, 'source_bookings', 'arrival', 'date'), (6, 'source_bookings', 'departure', 'date')," \
	"(7, 'source_bookings', 'checked_out_at', 'timestamptz'), (8, 'source_bookings', 'notify', 'boolean')," \
	"(9, 'source_bookings', 'last_name', 'text'), (10, 'source_bookings', 'first_name', 'text')," \
	"(11, 'source_bookings', 'email', 'text'), (12, 'source_bookings', 'gender', 'text')," \
	"(13, 'source_bookings', 'language', 'text'), (14, 'source_bookings', 'updated_at', 'timestamptz')," \
	"(15, 'source_properties', 'property_id', 'text'), (16, 'source_properties', 'export_allowed', 'boolean')"

/* One line per column of the contract a view lacks or gives as another
 * type: view, column, its type (NULL: none), the type wanted. */
static const char CONTRACT_SQL[] =
	"SELECT w.rel, w.col, format_type(a.atttypid, a.atttypmod), format_type(w.typ, NULL)"
	"  FROM (VALUES " CONTRACT_COLUMNS ") w(n, rel, col, typ)"
	"  LEFT JOIN pg_attribute a ON a.attrelid = to_regclass('guestflow.' || w.rel) AND a.attname = w.col"
	"        AND a.attnum > 0 AND NOT a.attisdropped"
	/* the type under its domains (a domain may be over another) */
	"  LEFT JOIN LATERAL (WITH RECURSIVE d(t, k) AS (SELECT a.atttypid, 0 UNION ALL"
	"                       SELECT y.typbasetype, d.k + 1 FROM pg_type y JOIN d ON y.oid = d.t WHERE y.typtype = 'd')"
	"                     SELECT d.t FROM d ORDER BY d.k DESC LIMIT 1) b ON true"
	" WHERE to_regclass('guestflow.' || w.rel) IS NOT NULL"
	"   AND (a.attname IS NULL OR NOT (b.t = w.typ OR (w.typ = 'text'::regtype AND b.t = 'varchar'::regtype)))"
	" ORDER BY w.n";

static const char PROPERTIES_SHAPE[] =
	"the source view guestflow.source_properties (property_id text, name, export_allowed"
	" boolean) is missing or not of that shape: each run stops the connections of a"
	" property that no longer allows its"
	" guests to be exported, and sends nothing before it can tell; for the reference PMS"
	" schema run 'guestflow db migrate' after loading it, for another PMS create the view"
	" (see schemas/sql/reference/adapter_properties.sql)";

/* Each column of the contract the views lack or give as another type,
 * logged; -GF_E_SCHEMA when there is one. */
static int contract_columns_check(PGconn *c)
{
	int err;
	_cleanup_pgresult_ PGresult *q = gf_db_query(c, &err, "adapter_columns", CONTRACT_SQL, 0, NULL);
	if (!q)
		return err;
	for (int i = 0; i < PQntuples(q); i++) {
		const char *rel = PQgetvalue(q, i, 0), *col = PQgetvalue(q, i, 1), *want = PQgetvalue(q, i, 3);
		bool missing = PQgetisnull(q, i, 2);
		bool properties = strcmp(rel, "source_properties") == 0;
		char msg[1024];
		if (missing && strcmp(col, "updated_at") == 0)
			snprintf(msg, sizeof(msg), "the source view guestflow.source_bookings has no column updated_at"
			         " (when the PMS last changed the booking or its guest: how a booking rejected for its data"
			         " is planned again); add it to the view (see schemas/sql/reference/adapters.sql)");
		else if (missing)
			snprintf(msg, sizeof(msg), "the source view guestflow.%s has no column %s (%s wanted): add it to the"
			         " view, nothing is read through it before (see schemas/sql/reference/%s)", rel, col, want,
			         properties ? "adapter_properties.sql" : "adapters.sql");
		else
			snprintf(msg, sizeof(msg), "the source view guestflow.%s gives %s as %s, %s wanted: cast it in the"
			         " view (... AS %s), nothing is read through it before (see schemas/sql/reference/%s)", rel,
			         col, PQgetvalue(q, i, 2), want, col, properties ? "adapter_properties.sql" : "adapters.sql");
		gf_error(missing ? "adapter_missing" : "adapter_wrong_type", "view=guestflow.%s column=%s type=%s wanted=%s"
		         " msg=%s", rel, col, missing ? "none" : gf_log_q(PQgetvalue(q, i, 2)), gf_log_q(want), gf_log_q(msg));
		if (properties)
			gf_error("adapter_missing", "msg=%s", gf_log_q(PROPERTIES_SHAPE));
	}
	return PQntuples(q) > 0 ? -GF_E_SCHEMA : 0;
}

int gf_adapter_check(PGconn *c)
{
	int err;
	_cleanup_pgresult_ PGresult *q = gf_db_query(c, &err, "adapter_check",
		"SELECT to_regclass('guestflow.source_bookings') IS NOT NULL,"
		" to_regprocedure('guestflow.write_history(bigint[], text[])') IS NOT NULL,"
		/* (issue 17: the properties, for the automatic stop) */
		" to_regclass('guestflow.source_properties') IS NOT NULL,"
		/* (explain's only, and optional: of another shape, explain fails) */
		" coalesce((SELECT pg_get_function_result(p.oid) FROM pg_proc p"
		"            WHERE p.oid = to_regprocedure('guestflow.read_history(bigint)')),"
		"          'TABLE(created_at timestamp with time zone, kind text, message text)')",
		0, NULL);
	if (!q)
		return err;
	if (PQgetvalue(q, 0, 0)[0] != 't' || PQgetvalue(q, 0, 1)[0] != 't') {
		gf_error("adapter_missing", "msg=%s",
		         gf_log_q("the source adapters guestflow.source_bookings (view) and guestflow.write_history(bigint[], text[]) must exist: for the reference PMS schema run 'guestflow db migrate' after loading it; for another PMS create both (see schemas/sql/reference/adapters.sql)"));
		return -GF_E_SCHEMA;
	}
	if (PQgetvalue(q, 0, 2)[0] != 't') {
		gf_error("adapter_missing", "msg=%s", gf_log_q(PROPERTIES_SHAPE));
		return -GF_E_SCHEMA;
	}
	if (strcmp(PQgetvalue(q, 0, 3), "TABLE(created_at timestamp with time zone, kind text, message text)") != 0)
		gf_warn("adapter_wrong_type", "function=%s returns=%s msg=%s", "guestflow.read_history(bigint)",
		        gf_log_q(PQgetvalue(q, 0, 3)),
		        gf_log_q("guestflow.read_history(bigint) should return TABLE(created_at timestamp with time zone,"
		                 " kind text, message text): 'guestflow explain' fails to show the history of a booking"
		                 " until it does (see schemas/sql/reference/adapters.sql); runs do not read it"));
	return contract_columns_check(c);
}
