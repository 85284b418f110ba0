/* PostgreSQL access: connecting, statements, transactions, error reporting. */
#include "db/db.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"

#define REDACTED "***"
#define MSG_LIMIT ((size_t)1 << 20) /* far above any libpq message */

/* s with every occurrence of secret replaced by REDACTED. The scan goes
 * forward past each replacement, so it ends whatever the secret is made of. */
static void blank_value(struct gf_buf *s, const char *secret)
{
	size_t sl = strlen(secret);
	if (sl == 0 || s->len < sl || !memmem(s->data, s->len, secret, sl))
		return;
	struct gf_buf out = GF_BUF_INIT(MSG_LIMIT);
	for (size_t i = 0; i < s->len;) {
		if (s->len - i >= sl && memcmp(s->data + i, secret, sl) == 0) {
			gf_buf_puts(&out, REDACTED);
			i += sl;
		} else {
			gf_buf_append(&out, s->data + i, 1);
			i++;
		}
	}
	explicit_bzero(s->data, s->len);
	gf_buf_free(s);
	*s = out;
}

/* Append the secret options' values (libpq marks them with dispchar '*':
 * password, sslpassword) of opts to the list *v. */
static void collect_secrets(PQconninfoOption *opts, char ***v, size_t *n)
{
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (o->val && *o->val && o->dispchar && strchr(o->dispchar, '*')) {
			*v = gf_xrealloc(*v, (*n + 1) * sizeof(**v));
			(*v)[(*n)++] = gf_xstrdup(o->val);
		}
}

static void free_options(PQconninfoOption *opts)
{
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (o->val)
			explicit_bzero(o->val, strlen(o->val));
	PQconninfoFree(opts);
}

/* Where libpq echoed a connection string: the value after "password=" (also
 * sslpassword=, ?password=), quoted or not, and the password of a URI's
 * user part ("://user:PASSWORD@host"). */
static void blank_patterns(struct gf_buf *s)
{
	struct gf_buf out = GF_BUF_INIT(MSG_LIMIT);
	const char *p = gf_buf_str(s), *end = p + s->len;
	while (p < end) {
		if ((size_t)(end - p) >= 8 && strncasecmp(p, "password", 8) == 0) {
			const char *q = p + 8;
			while (q < end && *q == ' ')
				q++;
			if (q < end && *q == '=') {
				q++;
				while (q < end && *q == ' ')
					q++;
				gf_buf_append(&out, p, (size_t)(q - p));
				if (q < end && *q == '\'') {
					for (q++; q < end && *q != '\''; q++)
						if (*q == '\\' && q + 1 < end)
							q++;
					if (q < end)
						q++;
				} else {
					while (q < end && !isspace((unsigned char)*q) && !strchr("&\"'", *q))
						q++;
				}
				gf_buf_puts(&out, REDACTED);
				p = q;
				continue;
			}
		}
		if ((size_t)(end - p) >= 3 && memcmp(p, "://", 3) == 0) {
			const char *a = p + 3, *q = a;
			while (q < end && !strchr("/?#@\" \t\r\n", *q))
				q++;
			const char *colon = q < end && *q == '@' ? memchr(a, ':', (size_t)(q - a)) : NULL;
			if (colon) {
				gf_buf_append(&out, p, (size_t)(colon + 1 - p));
				gf_buf_puts(&out, REDACTED);
				p = q;
				continue;
			}
		}
		gf_buf_append(&out, p, 1);
		p++;
	}
	explicit_bzero(s->data, s->len);
	gf_buf_free(s);
	*s = out;
}

void gf_db_error_line(PGconn *c, const char *conninfo, const char *msg, char *out, size_t outlen)
{
	if (!msg)
		msg = c ? PQerrorMessage(c) : NULL;
	if (!msg || !*msg)
		msg = "unknown error";
	struct gf_buf s = GF_BUF_INIT(MSG_LIMIT);
	gf_buf_puts(&s, msg);

	char **secrets = NULL;
	size_t n = 0;
	if (c) {
		PQconninfoOption *opts = PQconninfo(c);
		collect_secrets(opts, &secrets, &n);
		free_options(opts);
	}
	if (conninfo) {
		PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
		collect_secrets(opts, &secrets, &n);
		free_options(opts);
	}
	for (size_t i = 0; i < n; i++) {
		blank_value(&s, secrets[i]);
		explicit_bzero(secrets[i], strlen(secrets[i]));
		free(secrets[i]);
	}
	free(secrets);
	blank_patterns(&s);

	/* Only now cut it: a secret cut in two would no longer be found. */
	const char *t = gf_buf_str(&s);
	size_t len = strcspn(t, "\n");
	if (outlen > 0) {
		if (len >= outlen)
			len = outlen - 1;
		memcpy(out, t, len);
		out[len] = '\0';
	}
	if (s.data)
		explicit_bzero(s.data, s.len);
	gf_buf_free(&s);
}

static void note_state(const PGconn *c, const char *state);

int gf_db_connect(const char *conninfo, PGconn **out)
{
	const char *keys[] = { "dbname", "fallback_application_name", NULL };
	const char *vals[] = { conninfo, "guestflow", NULL };
	/* expand_dbname=1: conninfo may be keywords or a URI. */
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	if (!c || PQstatus(c) != CONNECTION_OK) {
		char line[512];
		gf_db_error_line(c, conninfo, c ? NULL : "out of memory", line, sizeof(line));
		gf_error("db_connect_failed", "error=%s", gf_log_q(line));
		if (c)
			PQfinish(c);
		return -GF_E_DB;
	}
	/* The session's formats are guestflow's, whatever the database, the
	 * role or the environment (PGDATESTYLE, PGOPTIONS, PGCLIENTENCODING)
	 * set: dates as YYYY-MM-DD (a date column's text is what the partner
	 * gets), text in UTF-8, intervals as PostgreSQL prints them. The time
	 * zone stays the operator's: "today" and the window are the hotel's.
	 * A SQL_ASCII database stores bytes, not characters: they come as they
	 * are (PostgreSQL would refuse a whole row for one byte that is not
	 * UTF-8; the renderer judges each field instead). */
	const char *enc = PQparameterStatus(c, "server_encoding");
	bool bytes = enc && strcmp(enc, "SQL_ASCII") == 0;
	PGresult *r = PQexec(c, bytes ? "SET client_min_messages = warning; SET datestyle = 'ISO, YMD';"
	                                " SET intervalstyle = 'postgres'; SET client_encoding = 'SQL_ASCII'"
	                              : "SET client_min_messages = warning; SET datestyle = 'ISO, YMD';"
	                                " SET intervalstyle = 'postgres'; SET client_encoding = 'UTF8'");
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		char line[512];
		gf_db_error_line(c, conninfo, PQresultErrorMessage(r), line, sizeof(line));
		gf_error("db_connect_failed", "error=%s msg=%s", gf_log_q(line),
		         gf_log_q("could not set the session's date style and encoding"));
		PQclear(r);
		PQfinish(c);
		return -GF_E_DB;
	}
	PQclear(r);
	note_state(c, ""); /* not the SQLSTATE of a session that had this address before */
	*out = c;
	return 0;
}

int gf_db_error_code(PGconn *c)
{
	return PQstatus(c) == CONNECTION_BAD ? -GF_E_DB_LOST : -GF_E_DB;
}

/* The SQLSTATE of each session's last statement (errno for the database):
 * few sessions, looked up by address. A session that ends leaves its entry
 * behind; a new one at the same address overwrites it with its first
 * statement (every path that reports an error sets it). */
struct last_state {
	const PGconn *conn;
	char state[6];
};
static struct last_state *states;
static size_t n_states, cap_states;

static void note_state(const PGconn *c, const char *state)
{
	struct last_state *e = NULL;
	for (size_t i = 0; i < n_states && !e; i++)
		if (states[i].conn == c)
			e = &states[i];
	if (!e) {
		if (!state || !*state)
			return; /* nothing to remember: "" is what an unknown session reads */
		if (n_states == cap_states) {
			cap_states = cap_states ? cap_states * 2 : 8;
			states = gf_xrealloc(states, cap_states * sizeof(*states));
		}
		e = &states[n_states++];
		e->conn = c;
	}
	snprintf(e->state, sizeof(e->state), "%s", state && strlen(state) == 5 ? state : "");
}

const char *gf_db_sqlstate(const PGconn *c)
{
	for (size_t i = 0; i < n_states; i++)
		if (states[i].conn == c)
			return states[i].state;
	return "";
}

bool gf_db_sqlstate_is_data(const char *sqlstate)
{
	return sqlstate && (strncmp(sqlstate, "22", 2) == 0 || strncmp(sqlstate, "23", 2) == 0);
}

bool gf_db_sqlstate_may_be_row(const char *sqlstate)
{
	static const char *const whole[] = { "08", "0A", "25", "26", "28", "34", "3D", "3F", "40", "42",
	                                     "53", "55", "57", "58", "72", "F0" };
	if (!sqlstate || strlen(sqlstate) != 5)
		return false;
	for (size_t i = 0; i < GF_ARRAY_SIZE(whole); i++)
		if (strncmp(sqlstate, whole[i], 2) == 0)
			return false;
	return true;
}

bool gf_db_sqlstate_untranslatable(const char *sqlstate)
{
	return sqlstate && (strcmp(sqlstate, "22P05") == 0 || strcmp(sqlstate, "22021") == 0);
}

/* Length of the valid UTF-8 sequence at p (1..4; 0: not one). */
static size_t utf8_seq(const unsigned char *p);

char *gf_db_fold_ascii(const char *s)
{
	if (!s)
		return NULL;
	char *out = gf_xcalloc(strlen(s) + 1, 1);
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t len = utf8_seq(p);
		if (len == 1)
			out[n++] = *p < 0x20 || *p == 0x7f ? ' ' : (char)*p;
		else
			out[n++] = '?';
		p += len ? len : 1;
	}
	out[n] = '\0';
	return out;
}

bool gf_db_session_gone(PGconn *c)
{
	const char *s = gf_db_sqlstate(c);
	return PQstatus(c) != CONNECTION_OK || strlen(s) != 5 || strncmp(s, "08", 2) == 0 ||
	       strcmp(s, "57P01") == 0 || strcmp(s, "57P02") == 0 || strcmp(s, "57P03") == 0;
}

int gf_db_result_error(PGconn *c, const PGresult *r, const char *what)
{
	const char *msg = r ? PQresultErrorMessage(r) : NULL;
	if (!msg || !*msg)
		msg = PQerrorMessage(c);
	char line[1024];
	gf_db_error_line(c, NULL, msg && *msg ? msg : "unknown error", line, sizeof(line));
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	note_state(c, state);
	int err = gf_db_error_code(c);
	if (state && *state)
		gf_error(err == -GF_E_DB_LOST ? "db_lost" : "db_error", "statement=%s sqlstate=%s error=%s", what,
		         gf_log_q(state), gf_log_q(line));
	else
		gf_error(err == -GF_E_DB_LOST ? "db_lost" : "db_error", "statement=%s error=%s", what, gf_log_q(line));
	return err;
}

/* Length of the valid UTF-8 sequence at p (1..4; 0: not one). */
static size_t utf8_seq(const unsigned char *p)
{
	if (p[0] < 0x80)
		return 1;
	size_t n = p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : p[0] >= 0xe0 && p[0] <= 0xef ? 3 : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

void gf_db_error_reason(const PGresult *r, char *out, size_t outlen)
{
	if (!outlen)
		return;
	const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	char tail[24] = "";
	if (state && *state)
		snprintf(tail, sizeof(tail), " (SQLSTATE %.5s)", state);
	size_t room = outlen > strlen(tail) + 1 ? outlen - strlen(tail) - 1 : 0;
	size_t n = 0;
	const unsigned char *p = (const unsigned char *)(msg && *msg ? msg : "error without a message");
	while (*p) {
		size_t len = utf8_seq(p);
		if (len == 0 || *p < 0x20 || *p == 0x7f) {
			if (n + 1 > room)
				break;
			out[n++] = len == 0 ? '?' : ' ';
			p++;
			continue;
		}
		if (n + len > room)
			break;
		memcpy(out + n, p, len);
		n += len;
		p += len;
	}
	out[n] = '\0';
	if (n + strlen(tail) < outlen)
		memcpy(out + n, tail, strlen(tail) + 1);
}

int gf_db_check_input(PGconn *c, const char *what, const char *sql, const char *value, char *reason,
                      size_t reasonlen)
{
	_cleanup_pgresult_ PGresult *r = PQexecParams(c, sql, 1, NULL, &value, NULL, NULL, 0);
	if (r && PQresultStatus(r) == PGRES_TUPLES_OK) {
		note_state(c, "");
		return 0;
	}
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	if (PQstatus(c) == CONNECTION_OK && state && strncmp(state, "22", 2) == 0) {
		note_state(c, state);
		gf_db_error_reason(r, reason, reasonlen);
		return -GF_E_DATA;
	}
	return gf_db_result_error(c, r, what);
}

/* A result of the wanted kind, or NULL after logging the error. */
static PGresult *checked(PGconn *c, PGresult *r, int *err, const char *what)
{
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		note_state(c, "");
		*err = 0;
		return r;
	}
	*err = gf_db_result_error(c, r, what);
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

/* A statement that could not be sent: logged, and the error code. */
static int send_failed(PGconn *c, const char *what)
{
	char line[512];
	gf_db_error_line(c, NULL, NULL, line, sizeof(line));
	int r = gf_db_error_code(c);
	note_state(c, "");
	gf_error(r == -GF_E_DB_LOST ? "db_lost" : "db_error", "statement=%s error=%s", what, gf_log_q(line));
	return r;
}

/* Without waiting: whether the next result can be read now (*err 0 when it
 * is only not there yet, < 0 when the connection failed). */
static bool arrived(PGconn *c, int *err, const char *what)
{
	*err = 0;
	if (!PQconsumeInput(c)) {
		note_state(c, "");
		*err = gf_db_error_code(c);
		char line[512];
		gf_db_error_line(c, NULL, NULL, line, sizeof(line));
		gf_error("db_lost", "statement=%s error=%s", what, gf_log_q(line));
		return false;
	}
	return !PQisBusy(c);
}

int gf_db_pipe_send(PGconn *c, const char *what, int nparams, const char *const *params)
{
	if (PQsendQueryPrepared(c, what, nparams, params, NULL, NULL, 0) && PQpipelineSync(c))
		return 0;
	return send_failed(c, what);
}

PGresult *gf_db_pipe_result(PGconn *c, bool block, int *err, const char *what)
{
	*err = 0;
	if (!block && !arrived(c, err, what))
		return NULL;
	/* The statement's result, the end of its results, its Sync. */
	PGresult *r = PQgetResult(c);
	if (!r) {
		*err = gf_db_error_code(c);
		note_state(c, "");
		gf_error("db_error", "statement=%s error=%s", what, gf_log_q("no result in the pipeline"));
		return NULL;
	}
	for (PGresult *more; (more = PQgetResult(c)) != NULL;)
		PQclear(more);
	PGresult *sync = PQgetResult(c);
	if (sync && PQresultStatus(sync) == PGRES_FATAL_ERROR && PQresultStatus(r) != PGRES_FATAL_ERROR) {
		/* The statement ran, and the commit its Sync makes was refused
		 * (a deferred constraint): that is the statement's error. Its
		 * Sync follows (after the end of the error's results). */
		PQclear(r);
		r = sync;
		sync = NULL;
		for (int i = 0; i < 2 && !sync; i++) {
			PGresult *x = PQgetResult(c);
			if (x && PQresultStatus(x) == PGRES_PIPELINE_SYNC)
				sync = x;
			else if (x)
				PQclear(x);
		}
	}
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

int gf_db_async_send(PGconn *c, const char *what, const char *sql, int nparams, const char *const *params)
{
	int r = prepare(c, what, sql, nparams);
	if (r < 0)
		return r;
	if (PQsendQueryPrepared(c, what, nparams, params, NULL, NULL, 0))
		return 0;
	return send_failed(c, what);
}

PGresult *gf_db_async_result(PGconn *c, bool block, int *err, const char *what)
{
	*err = 0;
	if (!block && !arrived(c, err, what))
		return NULL;
	PGresult *r = PQgetResult(c);
	/* the end of the statement's results: the session is free again */
	for (PGresult *more; (more = PQgetResult(c)) != NULL;)
		PQclear(more);
	return checked(c, r, err, what);
}

PGresult *gf_db_query_stoppable(PGconn *c, int *err, const char *what, const char *sql, int nparams,
                                const char *const *params, const volatile sig_atomic_t *stop)
{
	/* Parsed, planned and run in one exchange (not prepared first: the
	 * locks its tables' parse takes may be waited for too). */
	if (!PQsendQueryParams(c, sql, nparams, NULL, params, NULL, NULL, 0)) {
		*err = send_failed(c, what);
		return NULL;
	}
	int64_t cancelled_ms = -1;
	for (;;) {
		PGresult *r = gf_db_async_result(c, false, err, what);
		if (r || *err < 0)
			return r;
		/* (again every second: a function of the view may catch one) */
		if (stop && *stop && (cancelled_ms < 0 || gf_now_mono_ms() - cancelled_ms >= 1000)) {
			char why[256] = "";
			PGcancel *cn = PQgetCancel(c);
			if (!cn || !PQcancel(cn, why, sizeof(why)))
				gf_warn("db_cancel_failed", "statement=%s error=%s", what, gf_log_q(why));
			PQfreeCancel(cn);
			if (cancelled_ms < 0)
				gf_info("db_cancel", "statement=%s msg=%s", what,
				        gf_log_q("stopped by a signal: the statement is cancelled, its transaction rolled back"));
			cancelled_ms = gf_now_mono_ms();
		}
		struct pollfd pfd = { .fd = PQsocket(c), .events = POLLIN };
		if (poll(&pfd, 1, 200) < 0 && errno != EINTR) {
			gf_error("db_lost", "statement=%s error=%s", what, gf_log_q(strerror(errno)));
			*err = -GF_E_DB_LOST;
			return NULL;
		}
	}
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

int gf_db_array_add_text(struct gf_buf *out, const char *val, bool first)
{
	int r = first ? 0 : gf_buf_append(out, ",", 1);
	if (r == 0 && !val)
		return gf_buf_puts(out, "NULL");
	if (r == 0)
		r = gf_buf_append(out, "\"", 1);
	while (r == 0 && *val) {
		size_t k = strcspn(val, "\"\\");
		r = gf_buf_append(out, val, k);
		val += k;
		if (r == 0 && *val) {
			char esc[2] = { '\\', *val++ };
			r = gf_buf_append(out, esc, 2);
		}
	}
	return r ? r : gf_buf_append(out, "\"", 1);
}

int gf_db_array_add_int(struct gf_buf *out, int64_t val, bool first)
{
	char tmp[24];
	char *p = tmp + sizeof(tmp);
	uint64_t u = val < 0 ? (uint64_t)0 - (uint64_t)val : (uint64_t)val;
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (val < 0)
		*--p = '-';
	if (!first)
		*--p = ',';
	return gf_buf_append(out, p, (size_t)(tmp + sizeof(tmp) - p));
}

int gf_db_text_array(struct gf_buf *out, const char *const *vals, size_t n)
{
	int r = gf_buf_puts(out, "{");
	for (size_t i = 0; i < n && r == 0; i++)
		r = gf_db_array_add_text(out, vals[i], i == 0);
	return r ? r : gf_buf_puts(out, "}");
}

int gf_db_int_array(struct gf_buf *out, const int64_t *vals, size_t n)
{
	int r = gf_buf_puts(out, "{");
	for (size_t i = 0; i < n && r == 0; i++)
		r = gf_db_array_add_int(out, vals[i], i == 0);
	return r ? r : gf_buf_puts(out, "}");
}

int gf_db_parse_int_array(const char *text, int64_t **out, size_t *n)
{
	size_t len = strlen(text);
	if (len < 2 || text[0] != '{' || text[len - 1] != '}')
		return -GF_E_DB;
	size_t count = 0, cap = 0;
	int64_t *v = NULL;
	const char *p = text + 1;
	while (*p != '}') {
		char num[32];
		size_t k = strcspn(p, ",}");
		if (k == 0 || k >= sizeof(num)) {
			free(v);
			return -GF_E_DB;
		}
		memcpy(num, p, k);
		num[k] = '\0';
		if (count == cap) {
			cap = cap ? cap * 2 : 8;
			v = gf_xrealloc(v, cap * sizeof(*v));
		}
		if (gf_parse_int64(num, &v[count]) < 0) {
			free(v);
			return -GF_E_DB;
		}
		count++;
		p += k;
		if (*p == ',' && *++p == '}') {
			free(v);
			return -GF_E_DB;
		}
	}
	if (p != text + len - 1) {
		free(v);
		return -GF_E_DB;
	}
	*out = v;
	*n = count;
	return 0;
}

int64_t gf_db_get_int(const PGresult *r, int row, int col)
{
	const char *v = gf_db_get(r, row, col);
	int64_t x = 0;
	if (v)
		(void)gf_parse_int64(v, &x);
	return x;
}

int gf_db_lock_timeout(PGconn *c, int64_t ms)
{
	char v[32];
	snprintf(v, sizeof(v), "%lldms", (long long)ms);
	int err;
	_cleanup_pgresult_ PGresult *r = gf_db_query(c, &err, "lock_timeout", "SELECT set_config('lock_timeout', $1, false)",
	                                             1, (const char *[]){ v });
	return r ? 0 : err;
}
