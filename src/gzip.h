/* gzip compression of request bodies (zlib). */
#ifndef GF_GZIP_H
#define GF_GZIP_H

#include <stddef.h>

#include "buf.h"

/* Compress in[0..len) as one gzip member at level 1..9, appended to out. */
int gf_gzip(const void *in, size_t len, int level, struct gf_buf *out);
/* gf_gzip keeps one zlib deflate state (~256 KiB) per thread, re-made when
 * the level changes; this frees the calling thread's. Optional at process
 * exit, but a thread other than the main one that used gf_gzip must call it
 * before it ends or the state leaks. gf_gzip works again afterwards. */
void gf_gzip_cleanup(void);
/* Inflate a gzip (or zlib) stream into out, failing with -GF_E_TOO_BIG past out->max. */
int gf_gunzip(const void *in, size_t len, struct gf_buf *out);

#endif
