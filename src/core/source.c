/* Reading the source view when it raises an error for some booking (source.h). */
#include "core/source.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/buf.h"
#include "base/log.h"
#include "db/db.h"

/* Bookings isolated with not one row read whole: the view may be broken as
 * a whole; it is asked once (gives_others) rather than halved for each of
 * its bookings. */
#define GIVE_UP 10

struct span {
	size_t lo, hi; /* ids [lo, hi) */
};

static int savepoint(PGconn *c, const char *verb)
{
	char sql[64];
	snprintf(sql, sizeof(sql), "%s gf_source", verb);
	return gf_db_exec(c, "source_savepoint", sql, 0, NULL);
}

/* Run sql quietly under a savepoint: the result (rows), or NULL with *bad
 * the failed result (the caller clears it) when it failed in a way that may
 * be one row's; any other failure is logged and returned. */
static int quiet(PGconn *c, const char *what, const char *sql, int n, const char *const *pv, PGresult **ok,
                 PGresult **bad)
{
	*ok = *bad = NULL;
	int r = savepoint(c, "SAVEPOINT");
	if (r < 0)
		return r;
	PGresult *res = PQexecParams(c, sql, n, NULL, pv, NULL, NULL, 0);
	if (res && PQresultStatus(res) == PGRES_TUPLES_OK) {
		*ok = res;
		return savepoint(c, "RELEASE SAVEPOINT");
	}
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (PQstatus(c) != CONNECTION_OK || !gf_db_sqlstate_may_be_row(state)) {
		r = gf_db_result_error(c, res, what);
		PQclear(res);
		if (PQstatus(c) == CONNECTION_OK)
			savepoint(c, "ROLLBACK TO SAVEPOINT");
		return r;
	}
	*bad = res;
	return savepoint(c, "ROLLBACK TO SAVEPOINT");
}

static int add_fault(PGconn *c, struct gf_source_faults *f, int64_t id, const PGresult *bad)
{
	char why[400], idv[32];
	gf_db_error_reason(bad, why, sizeof(why));
	snprintf(idv, sizeof(idv), "%lld", (long long)id);
	/* Its number, if the view can give that much of it. */
	PGresult *ok = NULL, *nb = NULL;
	int r = quiet(c, "source_fault_no", "SELECT s.booking_no FROM guestflow.source_bookings s"
	              " WHERE s.booking_id = $1::bigint AND s.booking_no IS NOT NULL LIMIT 1", 1,
	              (const char *[]){ idv }, &ok, &nb);
	f->v = gf_xrealloc(f->v, (f->n + 1) * sizeof(*f->v));
	f->v[f->n++] = (struct gf_source_fault){
		.booking_id = id, .booking_no = ok && PQntuples(ok) ? gf_xstrdup(PQgetvalue(ok, 0, 0)) : NULL,
		.reason = gf_xasprintf("the source view cannot give this booking: %s", why),
	};
	PQclear(ok);
	PQclear(nb);
	return r;
}

/* Whether the view gives some booking other than the faults whole. */
static int gives_others(PGconn *c, const struct gf_source_faults *f, bool *yes)
{
	_cleanup_free_ char *ids = gf_source_faults_ids(f);
	PGresult *ok = NULL, *bad = NULL;
	int r = quiet(c, "source_probe_others",
	              "SELECT 1 FROM " GF_SQL_SOURCE_WITHOUT("$1")
	              " WHERE s.booking_id IS NOT NULL AND ROW(" GF_SQL_SOURCE_COLUMNS ")::text IS NOT NULL LIMIT 1", 1,
	              (const char *[]){ ids }, &ok, &bad);
	*yes = ok && PQntuples(ok) > 0;
	PQclear(ok);
	PQclear(bad);
	return r;
}

/* The view's booking ids, ascending, each once. */
static int list_ids(PGconn *c, int64_t **out, size_t *n_out)
{
	PGresult *ok = NULL, *bad = NULL;
	int r = quiet(c, "source_list", "SELECT DISTINCT s.booking_id FROM guestflow.source_bookings s"
	              " WHERE s.booking_id IS NOT NULL ORDER BY 1", 0, NULL, &ok, &bad);
	if (r == 0 && bad) {
		char why[400];
		gf_db_error_reason(bad, why, sizeof(why));
		gf_error("source_unreadable", "error=%s msg=%s", gf_log_q(why),
		         gf_log_q("the source view raises an error when only its booking ids are read: its bookings"
		                  " cannot be told apart; fix guestflow.source_bookings"));
		r = -GF_E_DB;
	}
	PQclear(bad);
	if (r < 0) {
		PQclear(ok);
		return r;
	}
	size_t n = (size_t)PQntuples(ok);
	int64_t *v = gf_xcalloc(n ? n : 1, sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = gf_db_get_int(ok, (int)i, 0);
	PQclear(ok);
	*out = v;
	*n_out = n;
	return 0;
}

/* Probe the ids [lo, hi] by value: 1 read whole (*whole rows), 0 failed
 * (*bad its result), or a negative error. */
static int probe_range(PGconn *c, const char *probe, int n_params, const char *const *params, int64_t lo,
                       int64_t hi, int64_t *whole, PGresult **bad)
{
	char los[32], his[32];
	snprintf(los, sizeof(los), "%lld", (long long)lo);
	snprintf(his, sizeof(his), "%lld", (long long)hi);
	const char **pv = gf_xcalloc((size_t)n_params + 2, sizeof(*pv));
	for (int i = 0; i < n_params; i++)
		pv[i] = params[i];
	pv[n_params] = los;
	pv[n_params + 1] = his;
	PGresult *ok = NULL;
	int r = quiet(c, "source_probe", probe, n_params + 2, pv, &ok, bad);
	free(pv);
	if (r == 0 && ok)
		*whole += PQntuples(ok) ? gf_db_get_int(ok, 0, 0) : 0;
	PQclear(ok);
	return r < 0 ? r : !*bad;
}

int gf_source_faults_find(PGconn *c, const char *probe, int n_params, const char *const *params,
                          struct gf_source_faults *out)
{
	struct gf_source_faults f = { 0 };
	int64_t whole = 0;
	PGresult *bad = NULL;
	int r = probe_range(c, probe, n_params, params, INT64_MIN, INT64_MAX, &whole, &bad);
	if (r != 0) {
		*out = f;
		return r < 0 ? r : 0;
	}
	char first[400];
	gf_db_error_reason(bad, first, sizeof(first));
	PQclear(bad);
	gf_warn("source_careful", "error=%s msg=%s", gf_log_q(first),
	        gf_log_q("the source view raised an error that may be one booking's: its bookings are read a range"
	                 " at a time, and those it cannot give are named"));
	int64_t *ids = NULL;
	size_t n = 0;
	if ((r = list_ids(c, &ids, &n)) < 0)
		return r;
	struct span *st = gf_xcalloc(64, sizeof(*st));
	size_t n_st = 0, cap_st = 64;
	if (n > 0)
		st[n_st++] = (struct span){ 0, n };
	bool broken = false;
	while (n_st > 0 && r == 0) {
		struct span sp = st[--n_st];
		r = probe_range(c, probe, n_params, params, ids[sp.lo], ids[sp.hi - 1], &whole, &bad);
		if (r != 0) {
			r = r < 0 ? r : 0;
			continue;
		}
		if (sp.hi - sp.lo > 1) {
			size_t mid = sp.lo + (sp.hi - sp.lo) / 2;
			if (n_st + 2 > cap_st) {
				cap_st *= 2;
				st = gf_xrealloc(st, cap_st * sizeof(*st));
			}
			/* a stack: the lower half on top, read first */
			st[n_st++] = (struct span){ mid, sp.hi };
			st[n_st++] = (struct span){ sp.lo, mid };
		} else {
			r = add_fault(c, &f, ids[sp.lo], bad);
		}
		PQclear(bad);
		bad = NULL;
		if (r == 0 && whole == 0 && (f.n == GIVE_UP || (n_st == 0 && f.n > 0))) {
			bool others = false;
			r = gives_others(c, &f, &others);
			broken = r == 0 && !others;
			if (broken)
				break;
		}
	}
	free(st);
	free(ids);
	if (r == 0 && broken) {
		gf_error("source_unreadable", "bookings=%zu error=%s msg=%s", f.n, gf_log_q(first),
		         gf_log_q("the source view raised an error for every booking it was asked for: it is broken"
		                  " as a whole, so no booking is named; fix guestflow.source_bookings"));
		r = -GF_E_DB;
	}
	if (r == 0 && f.n == 0) {
		/* It failed whole and not for any one booking (a row without a
		 * booking_id, a failure of the moment): as the statement would. */
		gf_error("source_unreadable", "error=%s", gf_log_q(first));
		r = -GF_E_DB;
	}
	if (r < 0) {
		gf_source_faults_free(&f);
		return r;
	}
	*out = f;
	return 0;
}

char *gf_source_faults_ids(const struct gf_source_faults *f)
{
	struct gf_buf b = GF_BUF_INIT(SIZE_MAX);
	int r = gf_buf_puts(&b, "{");
	for (size_t i = 0; i < f->n && r == 0; i++)
		r = gf_db_array_add_int(&b, f->v[i].booking_id, i == 0);
	if (r == 0)
		r = gf_buf_puts(&b, "}");
	if (r < 0)
		abort(); /* no limit to exceed */
	return gf_buf_steal(&b);
}

void gf_source_faults_free(struct gf_source_faults *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].booking_no);
		free(f->v[i].reason);
	}
	f->v = gf_free(f->v);
	f->n = 0;
}
