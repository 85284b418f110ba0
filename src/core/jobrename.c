/* guestflow db rename-job and forget-job: a job's record carried over to
 * its new name, or deleted, in one transaction, or nothing at all. */
#include "core/jobrename.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/proc.h"
#include "base/util.h"
#include "core/complete.h"
#include "db/db.h"

/* Every table of the schema with a job column (partitions counted with
 * their parent). */
static const char TABLES_SQL[] =
	"SELECT c.relname FROM pg_catalog.pg_attribute a"
	"  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid"
	"  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
	" WHERE n.nspname = 'guestflow' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
	"   AND a.attname = 'job' AND NOT a.attisdropped"
	" ORDER BY c.relname";

/* The partners old's deliveries and batches went to. */
static const char PARTNERS_SQL[] =
	"SELECT string_agg(DISTINCT c.partner, ', ' ORDER BY c.partner) FILTER (WHERE c.partner <> $2),"
	"       count(*) FILTER (WHERE c.partner <> $2)"
	"  FROM (SELECT connection_id FROM guestflow.deliveries WHERE job = $1"
	"        UNION SELECT connection_id FROM guestflow.batches WHERE job = $1) x"
	"  JOIN guestflow.connections c ON c.id = x.connection_id";

static const char LEASED_SQL[] =
	"SELECT id, to_char(lease_until, 'YYYY-MM-DD HH24:MI:SS TZ') FROM guestflow.batches"
	" WHERE job = $1 AND state = 'open' AND lease_until > now() ORDER BY lease_until DESC LIMIT 1";

static const char UNFINISHED_SQL[] =
	"SELECT id, coalesce(host, ''), coalesce(pid, 0), to_char(started_at, 'YYYY-MM-DD HH24:MI:SS TZ'),"
	"       process"
	"  FROM guestflow.runs WHERE job = $1 AND finished_at IS NULL AND lost_at IS NULL ORDER BY id";

static int refuse(int *refusal, int kind, char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int refuse(int *refusal, int kind, char *why, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	*refusal = kind;
	return 0;
}

/* Whether a run of old may be going on: refusal set when one is (verb:
 * what the command does, for its message). */
static int check_running(PGconn *c, const char *old, const char *verb, bool force, int *refusal, char *why,
                         size_t len)
{
	int err;
	_cleanup_pgresult_ PGresult *l = gf_db_query(c, &err, "rename_leased", LEASED_SQL, 1, (const char *[]){ old });
	if (!l)
		return err;
	if (PQntuples(l))
		return refuse(refusal, GF_RENAME_RUNNING, why, len,
		              "batch %s of job '%s' is under a lease until %s: a run of the job is sending it; %s"
		              " once no run of '%s' is going on", gf_db_get(l, 0, 0), old, gf_db_get(l, 0, 1), verb, old);
	_cleanup_pgresult_ PGresult *u = gf_db_query(c, &err, "rename_unfinished", UNFINISHED_SQL, 1,
	                                             (const char *[]){ old });
	if (!u)
		return err;
	for (int i = 0; i < PQntuples(u); i++) {
		const char *host = gf_db_get(u, i, 1);
		long pid = (long)gf_db_get_int(u, i, 2);
		enum gf_proc_state ps = gf_proc_state(host, pid, gf_db_get(u, i, 4));
		if (ps == GF_PROC_ALIVE)
			return refuse(refusal, GF_RENAME_RUNNING, why, len,
			              "run %s of job '%s' (pid %ld, started %s) has not recorded its end, and its process"
			              " is still running on this host; %s once it has ended", gf_db_get(u, i, 0), old,
			              pid, gf_db_get(u, i, 3), verb);
		if (ps == GF_PROC_UNKNOWN && !force)
			return refuse(refusal, GF_RENAME_RUNNING, why, len,
			              "run %s of job '%s' (host %s, pid %ld, started %s) has not recorded its end, and this"
			              " host cannot tell whether it is still going on (another host, or another PID"
			              " namespace); %s once it has ended"
			              " (--force: it is known to have died)", gf_db_get(u, i, 0), old,
			              *host ? host : "unknown", pid, gf_db_get(u, i, 3), verb);
	}
	return 0;
}

void gf_rename_result_free(struct gf_rename_result *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->t[i].table);
	free(r->t);
	*r = (struct gf_rename_result){ 0 };
}

/* What only one job may hold, merged where new has it already: new's stays. */
static const char *const MERGE_SQL[] = {
	"UPDATE guestflow.alert_events o SET cleared_at = now()"
	" WHERE o.job = $1 AND o.cleared_at IS NULL AND EXISTS (SELECT 1 FROM guestflow.alert_events n"
	"  WHERE n.job = $2 AND n.cleared_at IS NULL AND coalesce(n.connection_id, 0) = coalesce(o.connection_id, 0)"
	"    AND n.kind = o.kind)",
	"DELETE FROM guestflow.contacts o WHERE o.job = $1 AND EXISTS (SELECT 1 FROM guestflow.contacts n"
	"  WHERE n.job = $2 AND n.email = o.email AND n.role = o.role"
	"    AND n.connection_id IS NOT DISTINCT FROM o.connection_id)",
	"UPDATE guestflow.purge_horizons n SET checked_out_before = greatest(n.checked_out_before, o.checked_out_before)"
	"  FROM guestflow.purge_horizons o WHERE n.job = $2 AND o.job = $1",
	"DELETE FROM guestflow.purge_horizons o WHERE o.job = $1"
	" AND EXISTS (SELECT 1 FROM guestflow.purge_horizons n WHERE n.job = $2)",
};

/* head, the table (of the guestflow schema) as an identifier, tail: run
 * with old as $1 and, when given, new as $2. */
static PGresult *on_table(PGconn *c, int *err, const char *what, const char *head, const char *table,
                          const char *tail, const char *old, const char *new_name)
{
	char *id = PQescapeIdentifier(c, table, strlen(table));
	if (!id) {
		*err = -ENOMEM;
		return NULL;
	}
	char *text = gf_xasprintf("%sguestflow.%s%s", head, id, tail);
	PQfreemem(id);
	PGresult *r = gf_db_query(c, err, what, text, new_name ? 2 : 1, (const char *[]){ old, new_name });
	free(text);
	return r;
}

/* The tables that say a job has run: new must have no row in them. */
static bool own_record(const char *table)
{
	return strcmp(table, "runs") == 0 || strcmp(table, "batches") == 0 || strcmp(table, "deliveries") == 0;
}

/* The transaction's locks on the deliveries and the runs (no one else
 * writes them until it ends: no run starts meanwhile, one configured on
 * another host included, so that the checks hold until the commit; it
 * waits, then starts with the record as the commit left it), waited for
 * 5 s at most, as every lock of the transaction. */
static int lock_deliveries(PGconn *c)
{
	int err = gf_db_exec(c, "job_record_lock_timeout", "SET LOCAL lock_timeout = '5s'", 0, NULL);
	if (err == 0)
		err = gf_db_exec(c, "job_record_lock", "LOCK TABLE guestflow.deliveries, guestflow.runs IN SHARE ROW"
		                 " EXCLUSIVE MODE", 0, NULL);
	return err;
}

static int rename_tx(PGconn *c, const char *old, const char *new_name, const char *partner, bool force,
                     int *refusal, char *why, size_t len, struct gf_rename_result *out)
{
	/* Deliveries are written by no one else until the record has its new
	 * name: a run of the new job planning meanwhile inserts its rows after
	 * the commit, where the key (connection, booking, job) makes it skip
	 * every booking the record holds; the checks below see what is true.
	 * Waited for a few seconds at most: every writer of deliveries queues
	 * behind a lock that is waited for. */
	int err = lock_deliveries(c);
	if (err < 0)
		return err;
	_cleanup_pgresult_ PGresult *t = gf_db_query(c, &err, "rename_tables", TABLES_SQL, 0, NULL);
	if (!t)
		return err;
	int64_t had_old = 0, had_new = 0;
	char new_where[64] = "";
	for (int i = 0; i < PQntuples(t); i++) {
		const char *table = gf_db_get(t, i, 0);
		_cleanup_pgresult_ PGresult *n = on_table(c, &err, "rename_count",
			"SELECT count(*) FILTER (WHERE job = $1), count(*) FILTER (WHERE job = $2) FROM ", table,
			" WHERE job IN ($1, $2)", old, new_name);
		if (!n)
			return err;
		had_old += gf_db_get_int(n, 0, 0);
		if (own_record(table) && gf_db_get_int(n, 0, 1) > 0) {
			if (!had_new)
				snprintf(new_where, sizeof(new_where), "%s", table);
			had_new += gf_db_get_int(n, 0, 1);
		}
	}
	if (had_old == 0)
		return refuse(refusal, GF_RENAME_NOTHING, why, len,
		              "nothing is recorded under job '%s' in this database: no job of that name ever ran here",
		              old);
	if (had_new)
		return refuse(refusal, GF_RENAME_TAKEN, why, len,
		              "job '%s' has run already (guestflow.%s holds its rows), so its record and that of '%s'"
		              " cannot be merged: rename before the first run of '%s'", new_name, new_where, old,
		              new_name);
	_cleanup_pgresult_ PGresult *p = gf_db_query(c, &err, "rename_partners", PARTNERS_SQL, 2,
	                                             (const char *[]){ old, partner });
	if (!p)
		return err;
	if (gf_db_get_int(p, 0, 1) > 0)
		return refuse(refusal, GF_RENAME_PARTNER, why, len,
		              "job '%s' sent to partner %s, job '%s' sends to %s: that is a new job, not a rename (its"
		              " first run sends the window to %s; the record of '%s' stays, for purge and explain)",
		              old, gf_db_get(p, 0, 0), new_name, partner, partner, old);
	int r = check_running(c, old, "rename", force, refusal, why, len);
	if (r < 0 || *refusal)
		return r;
	for (size_t i = 0; i < sizeof(MERGE_SQL) / sizeof(MERGE_SQL[0]); i++)
		if ((r = gf_db_exec(c, "rename_merge", MERGE_SQL[i], 2, (const char *[]){ old, new_name })) < 0)
			return r;
	out->t = gf_xcalloc((size_t)PQntuples(t) + 1, sizeof(*out->t));
	for (int i = 0; i < PQntuples(t); i++) {
		const char *table = gf_db_get(t, i, 0);
		_cleanup_pgresult_ PGresult *u = on_table(c, &err, "rename_update", "UPDATE ", table,
		                                          " SET job = $2 WHERE job = $1", old, new_name);
		if (!u)
			return err;
		int64_t rows = 0;
		(void)gf_parse_int64(PQcmdTuples(u), &rows);
		out->t[out->n].table = gf_xstrdup(table);
		out->t[out->n++].rows = rows;
	}
	return 0;
}

/* The transaction ended: committed when r is 0 and nothing refused, else
 * rolled back (done: what the command did, for its message). */
static int end_tx(PGconn *c, int r, const char *job, const char *done, int *refusal, char *why, size_t whylen,
                  struct gf_rename_result *out)
{
	if (r == 0 && *refusal == GF_RENAME_OK)
		r = gf_db_commit(c);
	/* A lock waited for longer than the transaction's lock_timeout: the
	 * deliveries' table, or a row of the record (an alert being mailed). */
	if (r < 0 && strcmp(gf_db_sqlstate(c), "55P03") == 0) {
		r = 0;
		refuse(refusal, GF_RENAME_BUSY, why, whylen,
		       "another session has held guestflow.deliveries or guestflow.runs, or a row of the record of '%s',"
		       " for more than 5 seconds (a long transaction, a vacuum, a command at work): try again later;"
		       " nothing %s", job, done);
	}
	if (r < 0 || *refusal != GF_RENAME_OK) {
		gf_db_rollback(c);
		gf_rename_result_free(out);
	}
	return r;
}

int gf_job_rename(PGconn *c, const char *old, const char *new_name, const char *partner, bool force,
                  int *refusal, char *why, size_t whylen, struct gf_rename_result *out)
{
	*out = (struct gf_rename_result){ 0 };
	*refusal = GF_RENAME_OK;
	why[0] = '\0';
	int r = gf_db_begin(c);
	if (r == 0)
		r = rename_tx(c, old, new_name, partner, force, refusal, why, whylen, out);
	return end_tx(c, r, old, "renamed", refusal, why, whylen, out);
}

/* The tables of a job's record in the order they are deleted from: a row
 * that refers to another row of the record before that row. */
static const char *const FORGET_ORDER[] = {
	"api_calls", "alert_events", "contacts", "deliveries", "batches", "partner_events", "purge_horizons", "runs",
};

static int forget_tx(PGconn *c, const char *job, bool force, int *refusal, char *why, size_t len,
                     struct gf_rename_result *out)
{
	int err = lock_deliveries(c);
	if (err < 0)
		return err;
	_cleanup_pgresult_ PGresult *t = gf_db_query(c, &err, "forget_tables", TABLES_SQL, 0, NULL);
	if (!t)
		return err;
	int64_t had = 0;
	for (int i = 0; i < PQntuples(t); i++) {
		const char *table = gf_db_get(t, i, 0);
		_cleanup_pgresult_ PGresult *n = on_table(c, &err, "forget_count", "SELECT count(*) FROM ", table,
		                                          " WHERE job = $1", job, NULL);
		if (!n)
			return err;
		int64_t rows = gf_db_get_int(n, 0, 0);
		bool known = false;
		for (size_t k = 0; k < sizeof(FORGET_ORDER) / sizeof(FORGET_ORDER[0]) && !known; k++)
			known = strcmp(FORGET_ORDER[k], table) == 0;
		/* (a table a later migration added: forgotten only once this
		 * command knows where it goes in the order) */
		if (rows > 0 && !known)
			return refuse(refusal, GF_RENAME_UNKNOWN, why, len,
			              "guestflow.%s holds %lld rows of job '%s' and this guestflow does not know how to"
			              " forget them (a table of a newer migration?): nothing deleted", table,
			              (long long)rows, job);
		had += rows;
	}
	if (had == 0)
		return refuse(refusal, GF_RENAME_NOTHING, why, len,
		              "nothing is recorded under job '%s' in this database: no job of that name ever ran here",
		              job);
	int r = check_running(c, job, "forget it", force, refusal, why, len);
	if (r < 0 || *refusal)
		return r;
	/* (the entries the PMS took were written before this transaction) */
	_cleanup_pgresult_ PGresult *o = gf_db_query(c, &err, "forget_owed",
		"SELECT count(*), min(booking_no) FROM ("
		"  SELECT booking_no FROM guestflow.deliveries WHERE job = $1 AND history_pending IS NOT NULL"
		"  UNION ALL"
		"  SELECT booking_no FROM guestflow.partner_events WHERE job = $1 AND history_pending IS NOT NULL) x",
		1, (const char *[]){ job });
	if (!o)
		return err;
	int64_t owed = gf_db_get_int(o, 0, 0);
	if (owed > 0 && !force)
		return refuse(refusal, GF_RENAME_OWED, why, len,
		              "%lld history entr%s the PMS refused (for bookings job '%s' delivered, or for the events the"
		              " partner reported of them) %s still owed (the first: booking %s; 'guestflow log --errors'"
		              " has what the PMS said), and the PMS refused %s again just now: forgetting the job would"
		              " drop %s for good. Make the PMS take %s and run this again, or --force: forget %s with the"
		              " rest", (long long)owed, owed == 1 ? "y" : "ies", job, owed == 1 ? "is" : "are",
		              gf_db_get(o, 0, 1) ? gf_db_get(o, 0, 1) : "?", owed == 1 ? "it" : "them",
		              owed == 1 ? "it" : "them", owed == 1 ? "it" : "them", owed == 1 ? "it" : "them");
	out->owed_dropped = owed;
	/* (an event kept for the suppression list owes nothing any more) */
	if (owed > 0 && (err = gf_db_exec(c, "forget_owed_events", "UPDATE guestflow.partner_events"
	                                  " SET history_pending = NULL WHERE job = $1 AND history_pending IS NOT NULL",
	                                  1, (const char *[]){ job })) < 0)
		return err;
	size_t n = sizeof(FORGET_ORDER) / sizeof(FORGET_ORDER[0]);
	out->t = gf_xcalloc(n + 1, sizeof(*out->t));
	for (size_t k = 0; k < n; k++) {
		/* The events that put an address on the suppression list stay,
		 * as purge keeps them: the list names who reported it. */
		bool events = strcmp(FORGET_ORDER[k], "partner_events") == 0;
		_cleanup_pgresult_ PGresult *d = on_table(c, &err, "forget_delete", "DELETE FROM ", FORGET_ORDER[k],
			events ? " e WHERE e.job = $1"
			         " AND NOT EXISTS (SELECT 1 FROM guestflow.suppressions s WHERE s.event_id = e.id)"
			       : " WHERE job = $1", job, NULL);
		if (!d)
			return err;
		int64_t rows = 0;
		(void)gf_parse_int64(PQcmdTuples(d), &rows);
		out->t[out->n].table = gf_xstrdup(FORGET_ORDER[k]);
		out->t[out->n++].rows = rows;
	}
	_cleanup_pgresult_ PGresult *kept = gf_db_query(c, &err, "forget_kept",
		"SELECT count(*) FROM guestflow.partner_events WHERE job = $1", 1, (const char *[]){ job });
	if (!kept)
		return err;
	out->kept_events = gf_db_get_int(kept, 0, 0);
	int64_t deleted = 0;
	for (size_t i = 0; i < out->n; i++)
		deleted += out->t[i].rows;
	if (deleted == 0)
		return refuse(refusal, GF_RENAME_NOTHING, why, len,
		              "nothing is left of job '%s' but the %lld partner events that put an address on the"
		              " suppression list, which stay", job, (long long)out->kept_events);
	return 0;
}

int gf_job_forget(PGconn *c, const char *job, bool force, int64_t lock_timeout_ms, int *refusal, char *why,
                  size_t whylen, struct gf_rename_result *out)
{
	*out = (struct gf_rename_result){ 0 };
	*refusal = GF_RENAME_OK;
	why[0] = '\0';
	/* (no run of the job is needed to write them: the entries are in the
	 * deliveries; writing one twice is prevented by its row lock) */
	int64_t written = 0;
	int r = gf_complete_history_owed_write(c, job, 0, lock_timeout_ms, &written);
	if (r < 0)
		return r;
	r = gf_db_begin(c);
	if (r == 0)
		r = forget_tx(c, job, force, refusal, why, whylen, out);
	r = end_tx(c, r, job, "deleted", refusal, why, whylen, out);
	out->owed_written = written;
	return r;
}
