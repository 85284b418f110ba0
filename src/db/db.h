/* PostgreSQL access: connecting, statements, transactions, error reporting. */
#ifndef GF_DB_H
#define GF_DB_H

#include <libpq-fe.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/util.h"

static inline void gf_pgresult_clearp(PGresult **r)
{
	if (*r)
		PQclear(*r);
	*r = NULL;
}
static inline void gf_pgconn_finishp(PGconn **c)
{
	if (*c)
		PQfinish(*c);
	*c = NULL;
}
#define _cleanup_pgresult_ _cleanup_(gf_pgresult_clearp)
#define _cleanup_pgconn_ _cleanup_(gf_pgconn_finishp)

/* Connect with application_name=guestflow. Returns 0 and *out, or -GF_E_DB
 * after logging why (without the password). */
int gf_db_connect(const char *conninfo, PGconn **out);

/* Run a statement with text parameters. Returns the result when its status is
 * PGRES_COMMAND_OK or PGRES_TUPLES_OK; otherwise logs the error (what names
 * the statement) and returns NULL with *err set to -GF_E_DB, or -GF_E_DB_LOST
 * when the connection is gone. */
PGresult *gf_db_query(PGconn *c, int *err, const char *what, const char *sql,
                      int nparams, const char *const *params);
/* Same, as a statement prepared on the connection at its first use (what
 * must be a string literal naming one SQL text). For the statements of the
 * per-batch path, which are parsed and planned once per session. */
PGresult *gf_db_query_prepared(PGconn *c, int *err, const char *what, const char *sql,
                               int nparams, const char *const *params);
/* Prepare a statement on the connection now (see gf_db_query_prepared). */
int gf_db_prepare(PGconn *c, const char *what, const char *sql, int nparams);
/* Pipeline mode (PQenterPipelineMode): send a statement prepared before,
 * each followed by a Sync, so each commits on its own; and read the results
 * back in order. gf_db_pipe_result() with block false returns NULL and
 * *err 0 when the next result is not there yet. */
int gf_db_pipe_send(PGconn *c, const char *what, int nparams, const char *const *params);
PGresult *gf_db_pipe_result(PGconn *c, bool block, int *err, const char *what);
/* One statement in flight on a session out of pipeline mode: sent as
 * gf_db_query_prepared would run it (prepared at its first use), its result
 * read back later. gf_db_async_result() with block false returns NULL and
 * *err 0 while the result is not there; the session is free again once it
 * returned the result or an error. */
int gf_db_async_send(PGconn *c, const char *what, const char *sql, int nparams, const char *const *params);
/* As gf_db_query, for a statement that may take long on the operator's
 * objects (a slow view, a table another session has locked): should *stop
 * be set while it runs or waits (a stop signal), it is cancelled (SQLSTATE
 * 57014; again every second), and the caller sees it fail within a fifth
 * of a second instead of when it ends. */
PGresult *gf_db_query_stoppable(PGconn *c, int *err, const char *what, const char *sql, int nparams,
                                const char *const *params, const volatile sig_atomic_t *stop);
PGresult *gf_db_async_result(PGconn *c, bool block, int *err, const char *what);
/* Same for a statement without results; returns 0 or the negative error. */
int gf_db_exec(PGconn *c, const char *what, const char *sql, int nparams,
               const char *const *params);

/* The session's lock_timeout (ms): a statement that waits longer for a
 * lock another session holds fails with 55P03, for its caller to contain. */
int gf_db_lock_timeout(PGconn *c, int64_t ms);

int gf_db_begin(PGconn *c);
int gf_db_commit(PGconn *c);
/* Rolls back if a transaction is open; never fails loudly. */
void gf_db_rollback(PGconn *c);

/* A libpq message made safe to log, its first line into out: msg (NULL:
 * PQerrorMessage(c)) with every value of a libpq secret option (password,
 * sslpassword: those libpq marks with dispchar '*') that c uses or conninfo
 * names blanked, and so are "password=..." values and the password of a
 * URI's user part, wherever libpq echoed a connection string. Redacted
 * before it is cut. c and conninfo may be NULL. Every libpq error text
 * goes through this before it reaches a log. */
void gf_db_error_line(PGconn *c, const char *conninfo, const char *msg, char *out, size_t outlen);

/* -GF_E_DB_LOST when the connection is bad, else -GF_E_DB. */
int gf_db_error_code(PGconn *c);

/* Errors carry their SQLSTATE (PostgreSQL's errcodes) to whoever decides.
 * gf_db_sqlstate(): the five characters of the last statement on c that the
 * server refused, "" when the last statement succeeded or failed without
 * one (the connection lost, libpq's own failure). Set by every gf_db_* call
 * that runs or reads a statement on c, like errno: read it right after the
 * call that failed. */
const char *gf_db_sqlstate(const PGconn *c);
/* Classes 22 (data exception: a value that cannot be cast, stored or
 * encoded) and 23 (integrity constraint violation): the statement failed
 * on the values it was given or read, not because the database failed. */
bool gf_db_sqlstate_is_data(const char *sqlstate);
/* Whether a statement reading rows (the plan's, a batch's read through the
 * source view) may have failed for one row's values rather than as a whole:
 * every SQLSTATE but those that say the session or the server cannot go on,
 * or that the statement itself is wrong whatever the rows. Not: none (the
 * connection lost, libpq's own failure); 08 connection; 0A feature not
 * supported; 25 transaction state; 26, 34 statement or cursor name; 28
 * authorization; 3D, 3F database or schema; 40 rollback (serialization,
 * deadlock); 42 syntax, undefined object, privilege; 53 resources (disk,
 * memory, connections); 55 object state (lock not available); 57 operator
 * intervention (cancel, statement timeout, shutdown); 58 system I/O; 72
 * snapshot too old; F0 configuration file. Everything else (22 and 23 data,
 * P0 a plpgsql RAISE, XX internal, 54 limits of one value, 2F/38/39 a
 * function's own error, 21 a subquery's cardinality, ...) may be one
 * booking's: the reader looks for it, and a view failing for every booking
 * is still taken as broken as a whole. */
bool gf_db_sqlstate_may_be_row(const char *sqlstate);
/* Whether the last statement on c failed because the session is gone or
 * going (the connection lost, no SQLSTATE, class 08, an administrator's or
 * a crash's shutdown 57P01-57P03), rather than the server refusing that
 * statement: the first ends the run, the second may be one batch's. */
bool gf_db_session_gone(PGconn *c);
/* A statement refused because text it writes has no place in the
 * database's encoding (22P05: a LATIN1 database and a character beyond
 * it; guestflow's sessions speak UTF-8), or is not valid in it (22021). */
bool gf_db_sqlstate_untranslatable(const char *sqlstate);
/* A malloc'd copy of s (NULL: NULL) that any database encoding can store:
 * every character beyond ASCII, and every byte that is not UTF-8, as '?',
 * control characters as spaces. */
char *gf_db_fold_ascii(const char *s);

/* Whether PostgreSQL reads value, a person's input (a command's option),
 * the way sql casts it ("SELECT $1::date"): 0 when it does; -GF_E_DATA when
 * the server refused the value itself (SQLSTATE class 22: 22007 invalid
 * datetime format, 22008 out of range, 22P02 invalid text representation,
 * 22023 a time zone it does not know, ...), its reason in reason
 * (gf_db_error_reason) and its SQLSTATE in gf_db_sqlstate(c), nothing
 * logged: the command says which option it was. Else -GF_E_DB or
 * -GF_E_DB_LOST after logging why. The statement casts only that value, so
 * a class 22 refusal can only be about it. */
int gf_db_check_input(PGconn *c, const char *what, const char *sql, const char *value, char *reason,
                      size_t reasonlen);

/* For a caller that reads a result itself (COPY): log the failed result r
 * (NULL: the session's error) naming the statement, note its SQLSTATE on c,
 * and return -GF_E_DB, or -GF_E_DB_LOST when the connection is gone. */
int gf_db_result_error(PGconn *c, const PGresult *r, const char *what);
/* The server's message of a failed result as a reason a person reads and
 * the database stores: its primary message and SQLSTATE ("invalid input
 * syntax for type date: "x" (SQLSTATE 22007)"), control characters as
 * spaces, bytes that are not UTF-8 as '?', cut at a character boundary to
 * fit outlen. */
void gf_db_error_reason(const PGresult *r, char *out, size_t outlen);

/* Append a PostgreSQL array literal of the given text values ("{...}"), each
 * quoted; NULL entries become NULL. */
int gf_db_text_array(struct gf_buf *out, const char *const *vals, size_t n);
/* Append "{1,2,3}" for an int64 array. */
int gf_db_int_array(struct gf_buf *out, const int64_t *vals, size_t n);
/* One element of an array literal being built (the caller writes the
 * braces): a comma first unless first; a text value quoted, NULL as NULL. */
int gf_db_array_add_text(struct gf_buf *out, const char *val, bool first);
int gf_db_array_add_int(struct gf_buf *out, int64_t val, bool first);

/* Parse an int8[] value as PostgreSQL prints it ("{1,2,3}", "{}") into a
 * new array (*out, caller frees; NULL when empty). -GF_E_DB when it is not one. */
int gf_db_parse_int_array(const char *text, int64_t **out, size_t *n);

/* Value of row/col or NULL when SQL NULL. */
static inline const char *gf_db_get(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}
int64_t gf_db_get_int(const PGresult *r, int row, int col);

#endif
