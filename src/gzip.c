/* gzip compression of request bodies (zlib). */
#include "gzip.h"

#include <string.h>
#include <zlib.h>

int gf_gzip(const void *in, size_t len, int level, struct gf_buf *out)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	if (level < 1 || level > 9)
		return -EINVAL;
	/* 15 window bits + 16: a gzip header instead of a zlib one. */
	if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	uLong bound = deflateBound(&zs, (uLong)len);
	size_t start = out->len;
	int r = 0;
	if (bound > out->max || start > out->max - bound) {
		r = -GF_E_TOO_BIG;
	} else {
		/* Room for the worst case, then deflate in one call. */
		if (start + bound + 1 > out->cap) {
			out->cap = start + bound + 1;
			out->data = gf_xrealloc(out->data, out->cap);
		}
		zs.next_in = (Bytef *)(uintptr_t)in;
		zs.avail_in = (uInt)len;
		zs.next_out = (Bytef *)out->data + start;
		zs.avail_out = (uInt)bound;
		if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
			r = -EIO;
		} else {
			out->len = start + zs.total_out;
			out->data[out->len] = '\0';
		}
	}
	deflateEnd(&zs);
	return r;
}

int gf_gunzip(const void *in, size_t len, struct gf_buf *out)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	/* 15 + 32: detect gzip or zlib headers automatically. */
	if (inflateInit2(&zs, 15 + 32) != Z_OK)
		return -ENOMEM;
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	int r = 0;
	char chunk[16384];
	for (;;) {
		zs.next_out = (Bytef *)chunk;
		zs.avail_out = sizeof(chunk);
		int zr = inflate(&zs, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END) {
			r = -EINVAL;
			break;
		}
		r = gf_buf_append(out, chunk, sizeof(chunk) - zs.avail_out);
		if (r < 0 || zr == Z_STREAM_END)
			break;
		if (zs.avail_in == 0 && zs.avail_out != 0) {
			r = -EINVAL; /* truncated stream */
			break;
		}
	}
	inflateEnd(&zs);
	return r;
}
