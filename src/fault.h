/* Fault injection for the crash tests: GUESTFLOW_FAULT=POINT makes the process
 * kill itself with SIGKILL (as kill -9 would) when it reaches POINT. Points:
 * after_claim, after_send (the partner accepted, nothing recorded yet),
 * in_commit (completion statements done, COMMIT not sent). Unset in
 * production, where this costs one getenv() per process. */
#ifndef GF_FAULT_H
#define GF_FAULT_H

void gf_fault_point(const char *point);

#endif
