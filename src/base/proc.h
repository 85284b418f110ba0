/* Whether a process recorded by a run (its host, pid and start) may still
 * be going: what db rename-job and a run's start (a run killed before it
 * recorded its end) need to know. */
#ifndef GF_PROC_H
#define GF_PROC_H

enum gf_proc_state {
	GF_PROC_DEAD,    /* this host, and no process of that pid, or one started after the run */
	GF_PROC_ALIVE,   /* this host, a process of that pid started no later than the run */
	GF_PROC_UNKNOWN, /* another host (or no pid recorded): nothing here can tell */
};

/* host and pid as the run recorded them, started its start in seconds
 * since the epoch. */
enum gf_proc_state gf_proc_state(const char *host, long pid, double started);

#endif
