/* gzip compression of request bodies (zlib). */
#include "gzip.h"

#include <string.h>
#include <zlib.h>

/* One deflate state per thread, kept between calls. A fresh one per body
 * (deflateInit2 allocates about 256 KiB, deflateEnd frees it, and malloc
 * often hands that back to the kernel only to fault it in again) cost more
 * than compressing a typical ~60 KiB body at level 1. deflateReset returns a
 * used state to what deflateInit2 gives, so the output is byte-identical. */
static _Thread_local struct {
	z_stream zs;
	int level; /* 0: no live state */
} gz;

void gf_gzip_cleanup(void)
{
	if (gz.level) {
		deflateEnd(&gz.zs);
		gz.level = 0;
	}
}

/* The thread's stream, ready for a new member at level, or NULL. */
static z_stream *gz_stream(int level)
{
	if (gz.level == level && deflateReset(&gz.zs) == Z_OK)
		return &gz.zs;
	gf_gzip_cleanup(); /* other level (or, never expected, a failed reset) */
	memset(&gz.zs, 0, sizeof(gz.zs));
	/* 15 window bits + 16: a gzip header instead of a zlib one. */
	if (deflateInit2(&gz.zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return NULL;
	gz.level = level;
	return &gz.zs;
}

int gf_gzip(const void *in, size_t len, int level, struct gf_buf *out)
{
	if (level < 1 || level > 9)
		return -EINVAL;
	z_stream *zs = gz_stream(level);
	if (!zs)
		return -ENOMEM;
	uLong bound = deflateBound(zs, (uLong)len);
	size_t start = out->len;
	if (bound > out->max || start > out->max - bound)
		return -GF_E_TOO_BIG;
	/* Room for the worst case, then deflate in one call. */
	if (start + bound + 1 > out->cap) {
		out->cap = start + bound + 1;
		out->data = gf_xrealloc(out->data, out->cap);
	}
	zs->next_in = (Bytef *)(uintptr_t)in;
	zs->avail_in = (uInt)len;
	zs->next_out = (Bytef *)out->data + start;
	zs->avail_out = (uInt)bound;
	int zr = deflate(zs, Z_FINISH);
	/* Drop the pointers into the caller's buffers; the state stays. */
	zs->next_in = zs->next_out = NULL;
	zs->avail_in = zs->avail_out = 0;
	if (zr != Z_STREAM_END)
		return -EIO;
	out->len = start + zs->total_out;
	out->data[out->len] = '\0';
	return 0;
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
