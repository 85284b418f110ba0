/* A stack of id ranges [lo, hi] for finding, among the ids of a table, the
 * ones a statement fails for alone: a range that fails is halved, its lower
 * half on top (read first), down to the one id. */
#ifndef GF_IDRANGES_H
#define GF_IDRANGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/util.h"

struct gf_id_ranges {
	struct gf_id_range {
		int64_t lo, hi;
	} *v;
	size_t n, cap;
};

static inline void gf_id_ranges_push(struct gf_id_ranges *s, int64_t lo, int64_t hi)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = gf_xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = (struct gf_id_range){ lo, hi };
}

/* Every id, as the first range. */
static inline void gf_id_ranges_all(struct gf_id_ranges *s)
{
	gf_id_ranges_push(s, INT64_MIN, INT64_MAX);
}

/* The range on top, taken off; false when none is left. */
static inline bool gf_id_ranges_pop(struct gf_id_ranges *s, int64_t *lo, int64_t *hi)
{
	if (s->n == 0)
		return false;
	s->n--;
	*lo = s->v[s->n].lo;
	*hi = s->v[s->n].hi;
	return true;
}

/* [lo, hi] failed: its halves pushed, the lower one on top; false when it
 * is one id (nothing to halve). */
static inline bool gf_id_ranges_halve(struct gf_id_ranges *s, int64_t lo, int64_t hi)
{
	if (lo >= hi)
		return false;
	int64_t mid = (int64_t)((uint64_t)lo + (((uint64_t)hi - (uint64_t)lo) >> 1));
	gf_id_ranges_push(s, mid + 1, hi);
	gf_id_ranges_push(s, lo, mid);
	return true;
}

static inline void gf_id_ranges_free(struct gf_id_ranges *s)
{
	free(s->v);
	*s = (struct gf_id_ranges){ 0 };
}

#endif
