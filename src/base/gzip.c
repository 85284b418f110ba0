/* gzip compression of request bodies (zlib). */
#include "base/gzip.h"

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

int gf_gzip_begin(struct gf_gzip_stream *st, int level, struct gf_buf *out)
{
	*st = (struct gf_gzip_stream){ .out = out, .start = out->len };
	if (level < 1 || level > 9)
		return st->err = -EINVAL;
	if (!gz_stream(level))
		return st->err = -ENOMEM;
	return 0;
}

/* Deflate in[0..len) with flush, growing out (doubling, up to out->max) as
 * the compressed bytes need room. */
static int gz_run(struct gf_gzip_stream *st, const void *in, size_t len, int flush)
{
	struct gf_buf *out = st->out;
	z_stream *zs = &gz.zs;
	zs->next_in = (Bytef *)(uintptr_t)in;
	zs->avail_in = (uInt)len;
	int zr;
	do {
		if (out->cap - out->len < 4096 + 1 || !out->data) {
			/* 2^k - 64, as gf_buf grows (buf.c) */
			size_t want = out->cap ? out->cap * 2 + 64 : 65536 - 64;
			if (want > out->max + 1)
				want = out->max + 1;
			if (want <= out->len + 1)
				return -GF_E_TOO_BIG;
			out->data = gf_xrealloc(out->data, want);
			out->cap = want;
		}
		size_t room = out->cap - 1 - out->len;
		if (room > out->max - out->len)
			room = out->max - out->len;
		zs->next_out = (Bytef *)out->data + out->len;
		zs->avail_out = (uInt)room;
		zr = deflate(zs, flush);
		out->len += room - zs->avail_out;
		out->data[out->len] = '\0';
		if (zr == Z_STREAM_ERROR)
			return -EIO;
		if (zs->avail_out == 0 && out->len >= out->max && zr != Z_STREAM_END)
			return -GF_E_TOO_BIG;
	} while (flush == Z_FINISH ? zr != Z_STREAM_END : zs->avail_in > 0);
	/* Drop the pointers into the caller's buffers; the state stays. */
	zs->next_in = zs->next_out = NULL;
	zs->avail_in = zs->avail_out = 0;
	return 0;
}

int gf_gzip_write(struct gf_gzip_stream *st, const void *in, size_t len)
{
	if (st->err == 0 && len > 0)
		st->err = gz_run(st, in, len, Z_NO_FLUSH);
	return st->err;
}

int gf_gzip_end(struct gf_gzip_stream *st)
{
	if (st->err == 0)
		st->err = gz_run(st, NULL, 0, Z_FINISH);
	if (st->err < 0) {
		/* Nothing half-written stays behind. */
		st->out->len = st->start;
		if (st->out->data)
			st->out->data[st->start] = '\0';
	}
	return st->err;
}

int gf_gzip(const void *in, size_t len, int level, struct gf_buf *out)
{
	struct gf_gzip_stream st;
	if (gf_gzip_begin(&st, level, out) < 0)
		return st.err;
	(void)gf_gzip_write(&st, in, len);
	return gf_gzip_end(&st);
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
