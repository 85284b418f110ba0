/* What the fuzz targets and the replay driver share: the libFuzzer entry point and FUZZ_CHECK. */
#ifndef GF_FUZZ_H
#define GF_FUZZ_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Defined once per target (fuzz_<name>.c); called by libFuzzer or by replay.c. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant: say which, then abort() so that libFuzzer saves the
 * input as a crash and a replay test fails. */
static inline void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 4, 5)));
static inline void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s:%d: invariant violated: %s: ", file, line, cond);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	abort();
}

/* libxml2's generic error channel prints on stderr, between guestflow's log
 * lines: targets install on_generic_error and check that nothing reached it. */
__attribute__((unused)) static unsigned stray_messages;
__attribute__((unused)) static char stray_first[256];

static void on_generic_error(void *ctx, const char *msg, ...) __attribute__((unused, format(printf, 2, 3)));
static void on_generic_error(void *ctx, const char *msg, ...)
{
	(void)ctx;
	if (stray_messages++ == 0) {
		va_list ap;
		va_start(ap, msg);
		vsnprintf(stray_first, sizeof(stray_first), msg, ap);
		va_end(ap);
	}
}

#define FUZZ_CHECK(cond, ...) \
	do { \
		if (!(cond)) \
			fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); \
	} while (0)

#endif
