/* One growable byte buffer with a hard size cap (after curl's dynbuf). */
#ifndef GF_BUF_H
#define GF_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "base/util.h"

struct gf_buf {
	char *data;   /* always NUL-terminated when non-NULL */
	size_t len;
	size_t cap;   /* allocated bytes */
	size_t max;   /* hard limit on len; appends beyond fail with -GF_E_TOO_BIG */
};

#define GF_BUF_INIT(limit) { NULL, 0, 0, (limit) }

void gf_buf_init(struct gf_buf *b, size_t max);
void gf_buf_free(struct gf_buf *b);
void gf_buf_reset(struct gf_buf *b);   /* len = 0, keeps memory */
int gf_buf_append(struct gf_buf *b, const void *p, size_t n);
int gf_buf_puts(struct gf_buf *b, const char *s);
int gf_buf_printf(struct gf_buf *b, const char *fmt, ...) GF_PRINTF(2, 3);
int gf_buf_vprintf(struct gf_buf *b, const char *fmt, va_list ap) GF_PRINTF(2, 0);
/* Take ownership of the contents (never NULL); the buffer is left empty. */
char *gf_buf_steal(struct gf_buf *b);
const char *gf_buf_str(const struct gf_buf *b); /* "" when empty */

static inline void gf_buf_freep(struct gf_buf *b) { gf_buf_free(b); }
#define _cleanup_buf_ _cleanup_(gf_buf_freep)

#endif
