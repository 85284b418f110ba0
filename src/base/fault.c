/* Fault injection for the crash tests (GUESTFLOW_FAULT); test builds only. */
#include "base/fault.h"

#if GF_FAULT_INJECTION
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gf_fault_point(const char *point)
{
	static const char *want;
	static int looked;
	if (!looked) {
		want = getenv("GUESTFLOW_FAULT");
		looked = 1;
	}
	if (want && strcmp(want, point) == 0) {
		fprintf(stderr, "guestflow: GUESTFLOW_FAULT=%s: killing myself with SIGKILL\n", point);
		fflush(stderr);
		raise(SIGKILL);
	}
}
#else
/* ISO C wants at least one declaration in a translation unit. */
typedef int gf_fault_disabled;
#endif
