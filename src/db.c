/* PostgreSQL access: connecting, statements, transactions, error reporting. */
#include "db.h"

#include <string.h>

#include "log.h"

int gf_db_connect(const char *conninfo, PGconn **out)
{
	const char *keys[] = { "dbname", "fallback_application_name", NULL };
	const char *vals[] = { conninfo, "guestflow", NULL };
	/* expand_dbname=1: conninfo may be keywords or a URI. */
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	if (!c || PQstatus(c) != CONNECTION_OK) {
		const char *msg = c ? PQerrorMessage(c) : "out of memory";
		char line[512];
		snprintf(line, sizeof(line), "%s", msg);
		line[strcspn(line, "\n")] = '\0';
		gf_error("db_connect_failed", "error=%s", gf_log_q(line));
		if (c)
			PQfinish(c);
		return -GF_E_DB;
	}
	PGresult *r = PQexec(c, "SET client_min_messages = warning");
	PQclear(r);
	*out = c;
	return 0;
}

int gf_db_error_code(PGconn *c)
{
	return PQstatus(c) == CONNECTION_BAD ? -GF_E_DB_LOST : -GF_E_DB;
}

/* A result of the wanted kind, or NULL after logging the error. */
static PGresult *checked(PGconn *c, PGresult *r, int *err, const char *what)
{
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		*err = 0;
		return r;
	}
	const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(c);
	if (!msg || !*msg)
		msg = PQerrorMessage(c);
	char line[1024];
	snprintf(line, sizeof(line), "%s", msg ? msg : "unknown error");
	line[strcspn(line, "\n")] = '\0';
	*err = gf_db_error_code(c);
	gf_error(*err == -GF_E_DB_LOST ? "db_lost" : "db_error", "statement=%s error=%s",
	         what, gf_log_q(line));
	if (r)
		PQclear(r);
	return NULL;
}

PGresult *gf_db_query(PGconn *c, int *err, const char *what, const char *sql,
                      int nparams, const char *const *params)
{
	/* Without parameters PQexec, which also runs multi-statement scripts. */
	PGresult *r = nparams ? PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0)
	                      : PQexec(c, sql);
	return checked(c, r, err, what);
}

/* Statements prepared on which session: a connection is known by its
 * PGconn and its server process, so a new connection at a reused address
 * prepares again. Sessions are few (one or two per process). */
struct prepared {
	const PGconn *conn;
	int backend_pid;
	const char *what;  /* a string literal: the statement's name */
};
static struct prepared *prepared;
static size_t n_prepared, cap_prepared;

static bool is_prepared(const PGconn *c, const char *what)
{
	int pid = PQbackendPID(c);
	for (size_t i = 0; i < n_prepared; i++)
		if (prepared[i].conn == c && prepared[i].backend_pid == pid && strcmp(prepared[i].what, what) == 0)
			return true;
	return false;
}

static int prepare(PGconn *c, const char *what, const char *sql, int nparams)
{
	if (is_prepared(c, what))
		return 0;
	int err;
	PGresult *r = checked(c, PQprepare(c, what, sql, nparams, NULL), &err, what);
	if (!r)
		return err;
	PQclear(r);
	if (n_prepared == cap_prepared) {
		cap_prepared = cap_prepared ? cap_prepared * 2 : 32;
		prepared = gf_xrealloc(prepared, cap_prepared * sizeof(*prepared));
	}
	prepared[n_prepared++] = (struct prepared){ .conn = c, .backend_pid = PQbackendPID(c), .what = what };
	return 0;
}

PGresult *gf_db_query_prepared(PGconn *c, int *err, const char *what, const char *sql,
                               int nparams, const char *const *params)
{
	*err = prepare(c, what, sql, nparams);
	if (*err < 0)
		return NULL;
	return checked(c, PQexecPrepared(c, what, nparams, params, NULL, NULL, 0), err, what);
}

int gf_db_prepare(PGconn *c, const char *what, const char *sql, int nparams)
{
	return prepare(c, what, sql, nparams);
}

int gf_db_pipe_send(PGconn *c, const char *what, int nparams, const char *const *params)
{
	if (PQsendQueryPrepared(c, what, nparams, params, NULL, NULL, 0) && PQpipelineSync(c))
		return 0;
	char line[512];
	snprintf(line, sizeof(line), "%s", PQerrorMessage(c));
	line[strcspn(line, "\n")] = '\0';
	int r = gf_db_error_code(c);
	gf_error(r == -GF_E_DB_LOST ? "db_lost" : "db_error", "statement=%s error=%s", what, gf_log_q(line));
	return r;
}

PGresult *gf_db_pipe_result(PGconn *c, bool block, int *err, const char *what)
{
	*err = 0;
	if (!block) {
		if (!PQconsumeInput(c)) {
			*err = gf_db_error_code(c);
			gf_error("db_lost", "statement=%s error=%s", what, gf_log_q(PQerrorMessage(c)));
			return NULL;
		}
		if (PQisBusy(c))
			return NULL; /* not there yet: *err 0 */
	}
	/* The statement's result, the end of its results, its Sync. */
	PGresult *r = PQgetResult(c);
	if (!r) {
		*err = gf_db_error_code(c);
		gf_error("db_error", "statement=%s error=%s", what, gf_log_q("no result in the pipeline"));
		return NULL;
	}
	for (PGresult *more; (more = PQgetResult(c)) != NULL;)
		PQclear(more);
	PGresult *sync = PQgetResult(c);
	bool synced = sync && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
	if (sync)
		PQclear(sync);
	r = checked(c, r, err, what);
	if (r && !synced) {
		PQclear(r);
		*err = gf_db_error_code(c);
		gf_error("db_error", "statement=%s error=%s", what, gf_log_q("pipeline out of step"));
		return NULL;
	}
	return r;
}

int gf_db_exec(PGconn *c, const char *what, const char *sql, int nparams,
               const char *const *params)
{
	int err;
	PGresult *r = gf_db_query(c, &err, what, sql, nparams, params);
	if (r)
		PQclear(r);
	return err;
}

int gf_db_begin(PGconn *c) { return gf_db_exec(c, "begin", "BEGIN", 0, NULL); }
int gf_db_commit(PGconn *c) { return gf_db_exec(c, "commit", "COMMIT", 0, NULL); }

void gf_db_rollback(PGconn *c)
{
	if (PQstatus(c) != CONNECTION_OK || PQtransactionStatus(c) == PQTRANS_IDLE)
		return;
	PGresult *r = PQexec(c, "ROLLBACK");
	PQclear(r);
}

int gf_db_text_array(struct gf_buf *out, const char *const *vals, size_t n)
{
	int r = gf_buf_puts(out, "{");
	for (size_t i = 0; i < n && r == 0; i++) {
		if (i)
			r = gf_buf_puts(out, ",");
		if (r == 0 && !vals[i]) {
			r = gf_buf_puts(out, "NULL");
			continue;
		}
		if (r == 0)
			r = gf_buf_puts(out, "\"");
		for (const char *p = vals[i]; r == 0 && *p; p++) {
			if (*p == '"' || *p == '\\')
				r = gf_buf_append(out, "\\", 1);
			if (r == 0)
				r = gf_buf_append(out, p, 1);
		}
		if (r == 0)
			r = gf_buf_puts(out, "\"");
	}
	if (r == 0)
		r = gf_buf_puts(out, "}");
	return r;
}

int gf_db_int_array(struct gf_buf *out, const int64_t *vals, size_t n)
{
	int r = gf_buf_puts(out, "{");
	for (size_t i = 0; i < n && r == 0; i++)
		r = gf_buf_printf(out, i ? ",%lld" : "%lld", (long long)vals[i]);
	if (r == 0)
		r = gf_buf_puts(out, "}");
	return r;
}

int64_t gf_db_get_int(const PGresult *r, int row, int col)
{
	const char *v = gf_db_get(r, row, col);
	int64_t x = 0;
	if (v)
		(void)gf_parse_int64(v, &x);
	return x;
}
