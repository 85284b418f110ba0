/* gzip compression of request bodies (zlib). */
#ifndef GF_GZIP_H
#define GF_GZIP_H

#include <stddef.h>

#include "buf.h"

/* Compress in[0..len) as one gzip member at level 1..9, appended to out. */
int gf_gzip(const void *in, size_t len, int level, struct gf_buf *out);
/* Inflate a gzip (or zlib) stream into out, failing with -GF_E_TOO_BIG past out->max. */
int gf_gunzip(const void *in, size_t len, struct gf_buf *out);

#endif
