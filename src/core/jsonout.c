/* The --json documents: building them with jansson, and writing them. */
#include "core/jsonout.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "base/buf.h"
#include "base/text.h"
#include "base/util.h"
#include "db/db.h"

static json_t *checked(json_t *v)
{
	if (!v)
		gf_oom();
	return v;
}

json_t *gf_json_doc(void)
{
	json_t *doc = checked(json_object());
	gf_json_set(doc, "format_version", gf_json_int(GF_JSON_FORMAT_VERSION));
	return doc;
}

json_t *gf_json_obj(void)
{
	return checked(json_object());
}

json_t *gf_json_arr(void)
{
	return checked(json_array());
}

json_t *gf_json_null(void)
{
	return checked(json_null());
}

json_t *gf_json_text(const char *s)
{
	if (!s)
		return checked(json_null());
	size_t len = strlen(s);
	if (gf_text_is_safe(s, len) && !strcasestr(s, "access_key"))
		return checked(json_stringn(s, len));
	/* As the terminal output quotes it (log.c): an access_key value
	 * blanked, invalid bytes replaced; control characters stay (the
	 * writer escapes them). */
	_cleanup_buf_ struct gf_buf b = GF_BUF_INIT(SIZE_MAX);
	size_t i = 0, blank_at = SIZE_MAX, blank_to = 0;
	while (i < len) {
		size_t vs, ve;
		if (i == blank_at) {
			gf_buf_puts(&b, "***");
			i = blank_to;
			blank_at = SIZE_MAX;
			continue;
		}
		if (blank_at == SIZE_MAX && (s[i] | 0x20) == 'a' && gf_text_key_param(s + i, len - i, &vs, &ve) &&
		    ve > vs) {
			blank_at = i + vs;
			blank_to = i + ve;
		}
		uint32_t cp;
		int l = gf_text_decode(s + i, len - i, &cp);
		if (l < 0) {
			gf_buf_puts(&b, "\xef\xbf\xbd");
			l = -l;
		} else {
			gf_buf_append(&b, s + i, (size_t)l);
		}
		i += (size_t)l;
	}
	return checked(json_stringn(b.data ? b.data : "", b.len));
}

json_t *gf_json_int(int64_t v)
{
	return checked(json_integer((json_int_t)v));
}

json_t *gf_json_bool(bool v)
{
	return checked(json_boolean(v));
}

json_t *gf_json_col_text(const PGresult *r, int row, int col)
{
	return gf_json_text(gf_db_get(r, row, col));
}

json_t *gf_json_col_num(const PGresult *r, int row, int col)
{
	const char *s = gf_db_get(r, row, col);
	int64_t v;
	if (!s)
		return checked(json_null());
	if (gf_parse_int64(s, &v) == 0)
		return gf_json_int(v);
	char *end;
	errno = 0;
	double d = strtod(s, &end);
	/* (jansson has no NaN or infinity, which numeric and float have) */
	if (end != s && *end == '\0' && errno == 0 && isfinite(d))
		return checked(json_real(d));
	/* (not a number: shown as it is rather than lost) */
	return gf_json_text(s);
}

json_t *gf_json_col_bool(const PGresult *r, int row, int col)
{
	const char *s = gf_db_get(r, row, col);
	return s ? gf_json_bool(s[0] == 't') : checked(json_null());
}

json_t *gf_json_col_ts(const PGresult *r, int row, int col)
{
	const char *s = gf_db_get(r, row, col);
	size_t n = s ? strlen(s) : 0;
	/* 'OF' writes +00 for a whole hour: +00:00, as ISO 8601's extended
	 * format and GF_JSON_TS_FMT have it */
	if (n > 3 && (s[n - 3] == '+' || s[n - 3] == '-') && strchr(s, 'T')) {
		_cleanup_free_ char *full = gf_xasprintf("%s:00", s);
		return gf_json_text(full);
	}
	return gf_json_text(s);
}

void gf_json_set(json_t *obj, const char *key, json_t *v)
{
	if (json_object_set_new(obj, key, v) < 0)
		gf_oom();
}

void gf_json_add(json_t *arr, json_t *v)
{
	if (json_array_append_new(arr, v) < 0)
		gf_oom();
}

int gf_json_print(json_t *doc, FILE *out)
{
	errno = 0;
	int r = json_dumpf(doc, out, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(doc);
	if (r < 0 || fputc('\n', out) == EOF || fflush(out) != 0 || ferror(out)) {
		if (errno == 0)
			errno = EIO;
		return -EIO;
	}
	return 0;
}

json_t *gf_json_row(const PGresult *r, int row, const struct gf_json_col *cols, size_t n)
{
	json_t *o = gf_json_obj();
	for (size_t k = 0; k < n; k++)
		gf_json_set(o, cols[k].key, cols[k].read(r, row, cols[k].col));
	return o;
}

json_t *gf_json_rows(const PGresult *r, const struct gf_json_col *cols, size_t n)
{
	json_t *a = gf_json_arr();
	for (int i = 0; i < PQntuples(r); i++)
		gf_json_add(a, gf_json_row(r, i, cols, n));
	return a;
}
