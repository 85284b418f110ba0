/* Fault injection for the crash tests: GUESTFLOW_FAULT=POINT makes the process
 * kill itself with SIGKILL (as kill -9 would) when it reaches POINT. Points:
 * after_claim, after_send (the partner accepted, nothing recorded yet),
 * in_commit (completion statements done, COMMIT not sent).
 *
 * Only in test builds (meson -Dfault_injection=true: GF_FAULT_INJECTION is 1
 * in gf_config.h). In any other build a fault point is an empty inline
 * function and GUESTFLOW_FAULT is never read: no environment variable can
 * make a production process die at a chosen moment. */
#ifndef GF_FAULT_H
#define GF_FAULT_H

#include <stdbool.h>

#include "gf_config.h"

#if GF_FAULT_INJECTION
void gf_fault_point(const char *point);
#define GF_FAULT_ENABLED true
#else
static inline void gf_fault_point(const char *point)
{
	(void)point;
}
#define GF_FAULT_ENABLED false
#endif

#endif
