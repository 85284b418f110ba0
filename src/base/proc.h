/* Whether the process of a run (as it recorded itself: host, pid and the
 * process's identity) may still be going: what a run's start (a run killed
 * before it recorded its end) and db rename-job need to know. */
#ifndef GF_PROC_H
#define GF_PROC_H

#include <stddef.h>

enum gf_proc_state {
	GF_PROC_DEAD,    /* this host: the kernel restarted since, or no such process, or another one of that pid */
	GF_PROC_ALIVE,   /* this host: that very process */
	GF_PROC_UNKNOWN, /* another host, another PID namespace, or nothing recorded to tell by */
};

/* This process's identity, for the runs row: "BOOT_ID PIDNS STARTTIME" (the
 * kernel's boot id, the PID namespace, the start in clock ticks after boot,
 * all read from /proc: no clock is compared). Empty when /proc cannot tell. */
void gf_proc_self(char *out, size_t size);

/* host, pid and identity (gf_proc_self; NULL or empty for a row written
 * before identities were: then a pid that exists counts as that process)
 * as the run recorded them. */
enum gf_proc_state gf_proc_state(const char *host, long pid, const char *identity);

#endif
