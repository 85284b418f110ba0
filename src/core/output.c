/* What every output shares: the end of a render, the per-record results of a reply. */
#include "core/output.h"

#include <stdlib.h>

#include "base/util.h"

void gf_reply_clear(struct gf_reply *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_items; i++) {
		free(r->items[i].booking_no);
		free(r->items[i].reason);
	}
	free(r->items);
	r->items = NULL;
	r->n_items = 0;
	r->accepted = r->rejected = 0;
}

int gf_render_end(int r, struct gf_buf *out, size_t start, char **reasons, size_t n, size_t count,
                  size_t *n_rendered)
{
	if (r < 0) {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
		for (size_t i = 0; reasons && i < n; i++)
			reasons[i] = gf_free(reasons[i]);
		return r;
	}
	if (n_rendered)
		*n_rendered = count;
	return 0;
}
