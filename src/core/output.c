/* What every output shares: the per-record results of a reply. */
#include "core/output.h"

#include <stdlib.h>

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
