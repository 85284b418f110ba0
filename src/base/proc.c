/* Whether a process recorded by a run (host, pid, start) may still be going. */
#include "base/proc.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* When the process of that pid started, in seconds since the epoch (from
 * /proc: its start in clock ticks after boot, and the boot time); -1 when
 * it cannot be told. */
static double proc_started(long pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	char line[1024];
	bool got = fgets(line, sizeof(line), f) != NULL;
	fclose(f);
	/* after the command's closing parenthesis: state (field 3) ... starttime (22) */
	char *p = got ? strrchr(line, ')') : NULL;
	unsigned long long ticks = 0;
	int field = 2;
	char *save = NULL;
	for (char *tok = p ? strtok_r(p + 1, " ", &save) : NULL; tok; tok = strtok_r(NULL, " ", &save))
		if (++field == 22) {
			ticks = strtoull(tok, NULL, 10);
			break;
		}
	if (field != 22)
		return -1;
	f = fopen("/proc/stat", "re");
	if (!f)
		return -1;
	long long btime = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "btime %lld", &btime) == 1)
			break;
	fclose(f);
	long hz = sysconf(_SC_CLK_TCK);
	return btime < 0 || hz <= 0 ? -1 : (double)btime + (double)ticks / (double)hz;
}

/* Whether the run's process (started at started, seconds since the epoch)
 * may still be going: on this host, a process of that pid that started no
 * later than the run (one started after it is another process, the pid
 * reused); on another host, nothing here can tell. */
enum gf_proc_state gf_proc_state(const char *host, long pid, double started)
{
	char here[256] = "";
	gethostname(here, sizeof(here) - 1);
	if (strcmp(host, here) != 0 || pid <= 0)
		return GF_PROC_UNKNOWN;
	if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
		return GF_PROC_DEAD;
	double at = proc_started(pid);
	/* (a second of slack: the run's row is written after its process starts,
	 * by another clock's reading of the same time) */
	return at > 0 && at > started + 1.0 ? GF_PROC_DEAD : GF_PROC_ALIVE;
}
