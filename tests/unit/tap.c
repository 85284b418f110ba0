/* A minimal TAP producer for the unit tests. */
#include "tap.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int n_run, n_failed;

static bool report(bool pass, const char *name, va_list ap) TAP_PRINTF(2, 0);

static bool report(bool pass, const char *name, va_list ap)
{
	n_run++;
	if (!pass)
		n_failed++;
	printf("%sok %d - ", pass ? "" : "not ", n_run);
	vprintf(name, ap);
	printf("\n");
	fflush(stdout);
	return pass;
}

bool ok(bool cond, const char *name, ...)
{
	va_list ap;
	va_start(ap, name);
	bool r = report(cond, name, ap);
	va_end(ap);
	return r;
}

bool is_str(const char *got, const char *want, const char *name, ...)
{
	bool pass = (got == NULL && want == NULL) || (got && want && strcmp(got, want) == 0);
	va_list ap;
	va_start(ap, name);
	report(pass, name, ap);
	va_end(ap);
	if (!pass)
		printf("#   got: '%s'\n#   expected: '%s'\n", got ? got : "(null)", want ? want : "(null)");
	return pass;
}

bool is_int(int64_t got, int64_t want, const char *name, ...)
{
	va_list ap;
	va_start(ap, name);
	report(got == want, name, ap);
	va_end(ap);
	if (got != want)
		printf("#   got: %lld\n#   expected: %lld\n", (long long)got, (long long)want);
	return got == want;
}

void diag(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("# ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

int done_testing(void)
{
	printf("1..%d\n", n_run);
	if (n_run == 0) {
		printf("# no tests ran\n");
		return 1;
	}
	return n_failed ? 1 : 0;
}
