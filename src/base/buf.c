/* One growable byte buffer with a hard size cap. */
#include "base/buf.h"

#include <stdio.h>
#include <string.h>

void gf_buf_init(struct gf_buf *b, size_t max)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max;
}

void gf_buf_free(struct gf_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void gf_buf_reset(struct gf_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

static int reserve(struct gf_buf *b, size_t extra)
{
	if (extra > b->max || b->len > b->max - extra)
		return -GF_E_TOO_BIG;
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	/* Capacities 2^k - 64: a block and malloc's header stay within a power
	 * of two, so that a buffer of the 64 KiB class (a batch's rows or body)
	 * is not one page over the process's mmap threshold (main.c) and is
	 * reused from the heap instead of mapped and unmapped every batch. */
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 4 ? need : cap * 2 + 64;
	b->data = gf_xrealloc(b->data, cap);
	b->cap = cap;
	return 0;
}

int gf_buf_append(struct gf_buf *b, const void *p, size_t n)
{
	int r = reserve(b, n);
	if (r < 0)
		return r;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int gf_buf_puts(struct gf_buf *b, const char *s)
{
	return gf_buf_append(b, s, strlen(s));
}

int gf_buf_vprintf(struct gf_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return -EINVAL;
	int r = reserve(b, (size_t)n);
	if (r < 0)
		return r;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int gf_buf_printf(struct gf_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = gf_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

char *gf_buf_steal(struct gf_buf *b)
{
	char *p = b->data ? b->data : gf_xstrdup("");
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

const char *gf_buf_str(const struct gf_buf *b)
{
	return b->data ? b->data : "";
}
