/* The API-call log (seed 000): reading it, and purging it after its retention. */
#ifndef GF_APILOG_H
#define GF_APILOG_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct gf_apilog_filter {
	const char *job;        /* NULL: every job */
	const char *property;   /* NULL: every connection */
	const char *since;      /* a duration ("2h", "7d") back from now, or a date/time; NULL: all */
	bool errors_only;       /* only calls that did not end accepted */
	int64_t limit;          /* newest rows at most, 0: 100 */
};

/* Print the matching calls, oldest first. A since that is not a duration
 * is read as timestamptz: the statement fails (-GF_E_DB) when PostgreSQL
 * does not read it so; a command checks it first (gf_apilog_since_sql). */
#define gf_apilog_since_sql "SELECT $1::timestamptz"

/* (with doc: added to doc, "calls", instead) */
int gf_apilog_print(PGconn *c, const struct gf_apilog_filter *f, json_t *doc, FILE *out);
/* Delete rows older than retention_ms; *deleted counts them. */
int gf_apilog_purge(PGconn *c, int64_t retention_ms, int64_t *deleted);

#endif
