/* History message templates. */
#include "base/template.h"

#include <string.h>

int gf_template_expand(const char *tmpl, const struct gf_template_vars *v, struct gf_buf *out)
{
	const struct { const char *name; const char *val; } vars[] = {
		{ "partner", v->partner }, { "job", v->job }, { "batch", v->batch },
		{ "booking_no", v->booking_no }, { "hotel_id", v->hotel_id },
		{ "run_id", v->run_id }, { "date", v->date },
	};
	const char *p = tmpl;
	int r = 0;
	while (r == 0 && *p) {
		const char *open = strchr(p, '{');
		if (!open)
			return gf_buf_puts(out, p);
		r = gf_buf_append(out, p, (size_t)(open - p));
		const char *close = strchr(open, '}');
		if (r < 0 || !close)
			return r < 0 ? r : gf_buf_puts(out, open);
		size_t len = (size_t)(close - open - 1);
		const char *val = NULL;
		for (size_t i = 0; i < GF_ARRAY_SIZE(vars); i++)
			if (strlen(vars[i].name) == len && strncmp(open + 1, vars[i].name, len) == 0)
				val = vars[i].val;
		r = val ? gf_buf_puts(out, val) : gf_buf_append(out, open, len + 2);
		p = close + 1;
	}
	return r;
}
