/* gzip compression of request bodies (zlib). */
#ifndef GF_GZIP_H
#define GF_GZIP_H

#include <stddef.h>

#include "base/buf.h"

/* Compress in[0..len) as one gzip member at level 1..9, appended to out. */
int gf_gzip(const void *in, size_t len, int level, struct gf_buf *out);

/* The same member written piece by piece, so that the uncompressed bytes
 * are never held whole: begin, any number of writes, end. The first error
 * sticks (the later calls return it); after a failed end, out is as it was
 * before begin. Uses the thread's deflate state: one stream at a time per
 * thread, and no gf_gzip in between. */
struct gf_gzip_stream {
	struct gf_buf *out;
	size_t start;
	int err;
};
int gf_gzip_begin(struct gf_gzip_stream *st, int level, struct gf_buf *out);
int gf_gzip_write(struct gf_gzip_stream *st, const void *in, size_t len);
int gf_gzip_end(struct gf_gzip_stream *st);
/* gf_gzip keeps one zlib deflate state (~256 KiB) per thread, re-made when
 * the level changes; this frees the calling thread's. Optional at process
 * exit, but a thread other than the main one that used gf_gzip must call it
 * before it ends or the state leaks. gf_gzip works again afterwards. */
void gf_gzip_cleanup(void);
/* Inflate a gzip (or zlib) stream into out, failing with -GF_E_TOO_BIG past out->max. */
int gf_gunzip(const void *in, size_t len, struct gf_buf *out);

#endif
