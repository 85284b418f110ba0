/* The --json documents of the listing and reporting commands: one JSON
 * object each, built with jansson, with "format_version" on top. */
#ifndef GF_JSONOUT_H
#define GF_JSONOUT_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* The shape of every document (guestflow(1), JSON OUTPUT): keys may be
 * added within a version; removing or renaming one, or changing its type,
 * bumps it. */
#define GF_JSON_FORMAT_VERSION 1

/* A new document: an object holding "format_version". The caller owns it
 * (gf_json_print() takes it). */
json_t *gf_json_doc(void);

/* Values. Each returns a new reference and never NULL (out of memory
 * aborts). Text is made valid UTF-8 (an invalid byte becomes U+FFFD) and
 * the value of an access_key parameter becomes ***, as the text output
 * shows them; NULL is null. */
json_t *gf_json_obj(void);
json_t *gf_json_arr(void);
json_t *gf_json_null(void);
json_t *gf_json_text(const char *s);
json_t *gf_json_int(int64_t v);
json_t *gf_json_bool(bool v);

/* A column of row r: null when SQL NULL, else text, a number (an integer,
 * or a real when it has a fraction), a boolean ('t'/'f') or a timestamp
 * from to_char(..., GF_JSON_TS_FMT) (or its 'OF' offset of hours alone,
 * completed as +HH:00). */
json_t *gf_json_col_text(const PGresult *r, int row, int col);
json_t *gf_json_col_num(const PGresult *r, int row, int col);
json_t *gf_json_col_bool(const PGresult *r, int row, int col);
json_t *gf_json_col_ts(const PGresult *r, int row, int col);

/* A row of r as an object: each key from its column, read as the column
 * says (the list commands' documents: one table of keys each, not a
 * loop of gf_json_set per command). */
typedef json_t *(*gf_json_col_fn)(const PGresult *r, int row, int col);
struct gf_json_col {
	const char *key;
	int col;
	gf_json_col_fn read; /* gf_json_col_text, _num, _bool, _ts */
};
json_t *gf_json_row(const PGresult *r, int row, const struct gf_json_col *cols, size_t n);
/* Every row of r so, as an array. */
json_t *gf_json_rows(const PGresult *r, const struct gf_json_col *cols, size_t n);

/* to_char() pattern of a timestamp in the documents: ISO 8601 with offset. */
#define GF_JSON_TS_FMT "'YYYY-MM-DD\"T\"HH24:MI:SSTZH:TZM'"

/* json_decref() that returns NULL, for doc = gf_free_json(doc). */
static inline json_t *gf_free_json(json_t *v)
{
	json_decref(v);
	return NULL;
}

/* obj[key] = v (v's reference taken); arr += v. */
void gf_json_set(json_t *obj, const char *key, json_t *v);
void gf_json_add(json_t *arr, json_t *v);

/* Write doc as one line (compact, non-ASCII and every control character
 * as \u escapes: nothing in it can drive a terminal) and a newline, then
 * flush; doc is released. 0, or -EIO (errno as the write left it) when the
 * output could not be written. */
int gf_json_print(json_t *doc, FILE *out);

#endif
