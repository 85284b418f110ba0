/* One booking as guestflow sends it: the checks every record passes before any output renders it. */
#include "core/record.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/normalize.h"
#include "base/util.h"

/* No lengths are checked: review-xml-1.xsd states no maxLength, so a value
 * of any length is sent and the partner decides (a refusal of one record is
 * isolated by bisection, a body too large by halving). */

/* A text field: trimmed when trim is set (the original is still checked for
 * being blank otherwise); required fields must be non-blank. */
static int check_text(const char *name, const char *raw, bool required, bool trim, struct gf_span *sp,
                      char *why, size_t whylen)
{
	char what[128];

	sp->p = raw;
	sp->len = 0;
	sp->terminated = true;
	if (!raw) {
		if (!required)
			return 0;
		gf_set_why(why, whylen, "%s: missing", name);
		return -GF_E_RENDER;
	}
	size_t full = strlen(raw), start;
	size_t len = gf_trim_span(raw, full, &start);
	if (len == 0) {
		if (!required)
			return 0;
		gf_set_why(why, whylen, "%s: %s", name, full ? "only white space" : "empty");
		return -GF_E_RENDER;
	}
	if (trim) {
		sp->p = raw + start;
		sp->len = len;
		sp->terminated = start + len == full;
	} else {
		sp->len = full;
	}
	if (gf_text_check_len(sp->p, sp->len, SIZE_MAX, what, sizeof(what)) < 0) {
		gf_set_why(why, whylen, "%s: %s", name, what);
		return -GF_E_RENDER;
	}
	return 0;
}

/* The guest's name: a text field (check_text) with a character that shows,
 * as the eligibility rule says (GF_SQL_RULE_NAME). */
static int check_name(const char *name, const char *raw, struct gf_span *sp, char *why, size_t whylen)
{
	int r = check_text(name, raw, true, true, sp, why, whylen);
	if (r == 0 && !gf_text_visible(sp->p, sp->len)) {
		gf_set_why(why, whylen, "%s: only invisible characters (format characters, combining marks)", name);
		return -GF_E_RENDER;
	}
	return r;
}

int gf_record_check_status(const char *status, char *why, size_t whylen)
{
	struct gf_span sp;
	return check_text("status", status, true, true, &sp, why, whylen);
}

/* Exactly one '@', something on both sides, no white space. */
static int check_email(const struct gf_span *sp, char *why, size_t whylen)
{
	const char *p = sp->p;
	size_t at = SIZE_MAX, n_at = 0;

	for (size_t i = 0; i < sp->len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '@') {
			n_at++;
			at = i;
		} else if (c == ' ') {
			gf_set_why(why, whylen, "email: contains white space");
			return -GF_E_RENDER;
		} else if (c >= 0xc2) {
			size_t st;
			gf_trim_span(p + i, sp->len - i, &st);
			if (st > 0) {
				gf_set_why(why, whylen, "email: contains white space");
				return -GF_E_RENDER;
			}
		}
	}
	if (n_at != 1) {
		gf_set_why(why, whylen, n_at ? "email: more than one '@'" : "email: no '@'");
		return -GF_E_RENDER;
	}
	if (at == 0 || at == sp->len - 1) {
		gf_set_why(why, whylen, at == 0 ? "email: nothing before '@'" : "email: no domain after '@'");
		return -GF_E_RENDER;
	}
	return 0;
}

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* "YYYY-MM-DD", a real date in years 0001..9999 (what xs:date accepts). */
static int check_date(const char *name, const char *s, struct gf_span *sp, char *why,
                      size_t whylen)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int v[3] = { 0, 0, 0 };

	sp->p = s;
	sp->len = 0;
	sp->terminated = true;
	if (!s || !*s) {
		gf_set_why(why, whylen, "%s: missing", name);
		return -GF_E_RENDER;
	}
	for (size_t i = 0; i < 10; i++) {
		bool dash = i == 4 || i == 7;
		if (dash ? s[i] != '-' : (s[i] < '0' || s[i] > '9')) {
			gf_set_why(why, whylen, "%s: not a date of the form YYYY-MM-DD", name);
			return -GF_E_RENDER;
		}
		if (!dash)
			v[i < 4 ? 0 : i < 7 ? 1 : 2] = v[i < 4 ? 0 : i < 7 ? 1 : 2] * 10 + (s[i] - '0');
	}
	if (s[10] != '\0') {
		gf_set_why(why, whylen, "%s: not a date of the form YYYY-MM-DD", name);
		return -GF_E_RENDER;
	}
	if (v[0] < 1 || v[1] < 1 || v[1] > 12 || v[2] < 1
	    || v[2] > mdays[v[1] - 1] + (v[1] == 2 && is_leap(v[0]))) {
		gf_set_why(why, whylen, "%s: %s is not a real date", name, s);
		return -GF_E_RENDER;
	}
	sp->len = 10;
	return 0;
}

int gf_record_check_omit(const struct gf_record *rec, unsigned omit, struct gf_record_checked *c, char *why,
                         size_t whylen)
{
	int r;

	memset(c, 0, sizeof(*c));
	if (!rec) {
		gf_set_why(why, whylen, "no record");
		return -GF_E_RENDER;
	}
	const char *first = omit & GF_OMIT_FIRST_NAME ? NULL : rec->first_name;
	/* The booking number goes out as it is: the partner's reply names it. */
	if ((r = check_text("booking_no", rec->booking_no, true, false, &c->f[GF_RECORD_BOOKING_NO], why, whylen)) < 0 ||
	    (r = check_name("last_name", rec->last_name, &c->f[GF_RECORD_LAST_NAME], why, whylen)) < 0 ||
	    (r = check_text("first_name", first, false, true, &c->f[GF_RECORD_FIRST_NAME], why, whylen)) < 0 ||
	    (r = check_text("email", rec->email, true, true, &c->f[GF_RECORD_EMAIL], why, whylen)) < 0 ||
	    (r = check_email(&c->f[GF_RECORD_EMAIL], why, whylen)) < 0 ||
	    (!(omit & GF_OMIT_STATUS) &&
	     (r = check_text("status", rec->status, true, true, &c->f[GF_RECORD_STATUS], why, whylen)) < 0) ||
	    (!(omit & GF_OMIT_ARRIVAL) &&
	     (r = check_date("arrival", rec->arrival, &c->f[GF_RECORD_ARRIVAL], why, whylen)) < 0) ||
	    (r = check_date("departure", rec->departure, &c->f[GF_RECORD_DEPARTURE], why, whylen)) < 0)
		return r;
	/* Same fixed-width format: byte order is date order. */
	if (!(omit & GF_OMIT_ARRIVAL) && strcmp(rec->departure, rec->arrival) < 0) {
		gf_set_why(why, whylen, "departure %s is before arrival %s", rec->departure,
		        rec->arrival);
		return -GF_E_RENDER;
	}
	c->gender = omit & GF_OMIT_GENDER ? NULL : gf_norm_gender(rec->gender);
	c->has_language = !(omit & GF_OMIT_LANGUAGE) && gf_norm_language(rec->language, c->language) == 0;
	return 0;
}

int gf_record_check_into(const struct gf_record *rec, struct gf_record_checked *c, char *why, size_t whylen)
{
	return gf_record_check_omit(rec, 0, c, why, whylen);
}

int gf_record_check(const struct gf_record *rec, char *why, size_t whylen)
{
	struct gf_record_checked c;
	return gf_record_check_into(rec, &c, why, whylen);
}

static uint64_t hash_bytes(const char *s)
{
	uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

void gf_seen_init(struct gf_seen *t, size_t n)
{
	t->mask = 1;
	while (t->mask < 2 * n)
		t->mask <<= 1;
	t->slot = gf_xmalloc(t->mask * sizeof(*t->slot));
	memset(t->slot, 0xff, t->mask * sizeof(*t->slot));
	t->mask--;
}

bool gf_seen_add(struct gf_seen *t, const struct gf_record *recs, size_t i)
{
	const char *key = recs[i].booking_no;
	for (size_t h = (size_t)hash_bytes(key) & t->mask;; h = (h + 1) & t->mask) {
		if (t->slot[h] == SIZE_MAX) {
			t->slot[h] = i;
			return false;
		}
		if (strcmp(recs[t->slot[h]].booking_no, key) == 0)
			return true;
	}
}

void gf_seen_free(struct gf_seen *t)
{
	free(t->slot);
	t->slot = NULL;
}

bool gf_record_take(const struct gf_record *recs, size_t i, unsigned omit, const char *default_language,
                    struct gf_seen *seen, struct gf_record_checked *c, char **reason)
{
	char why[256];
	bool good = gf_record_check_omit(&recs[i], omit, c, why, sizeof(why)) == 0;
	if (good && !(omit & GF_OMIT_LANGUAGE) && !c->has_language && !default_language) {
		gf_set_why(why, sizeof(why), "language: missing or unknown, and no default_language set");
		good = false;
	}
	if (good && gf_seen_add(seen, recs, i)) {
		gf_set_why(why, sizeof(why), "booking_no: listed twice in this batch");
		good = false;
	}
	if (!good && reason)
		*reason = gf_xstrdup(why);
	return good;
}
