/* Whether the process of a run may still be going, by its identity. */
#include "base/proc.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The start of process pid ("self" for this one) in clock ticks after
 * boot, as text (field 22 of /proc/PID/stat, after the command name in
 * parentheses, which may hold spaces, parentheses and newlines: the last
 * ')' of the whole file ends it). false when there is no such process. */
static bool start_ticks(const char *pid, char *out, size_t size)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	char data[4096];
	size_t n = fread(data, 1, sizeof(data) - 1, f);
	fclose(f);
	data[n] = '\0';
	char *p = strrchr(data, ')');
	int field = 2;
	char *save = NULL;
	for (char *tok = p ? strtok_r(p + 1, " \n", &save) : NULL; tok; tok = strtok_r(NULL, " \n", &save))
		if (++field == 22) {
			snprintf(out, size, "%s", tok);
			return tok[strspn(tok, "0123456789")] == '\0';
		}
	return false;
}

static bool read_line(const char *path, char *out, size_t size)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool got = fgets(out, (int)size, f) != NULL;
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
	return got && *out;
}

/* The kernel's boot id and this process's PID namespace, as "BOOT PIDNS". */
static bool boot_and_ns(char *out, size_t size)
{
	char boot[64], ns[64];
	if (!read_line("/proc/sys/kernel/random/boot_id", boot, sizeof(boot)))
		return false;
	ssize_t n = readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1);
	if (n <= 0)
		return false;
	ns[n] = '\0';
	snprintf(out, size, "%s %s", boot, ns);
	return true;
}

void gf_proc_self(char *out, size_t size)
{
	char here[160], ticks[32];
	if (size == 0)
		return;
	out[0] = '\0';
	if (boot_and_ns(here, sizeof(here)) && start_ticks("self", ticks, sizeof(ticks)))
		snprintf(out, size, "%s %s", here, ticks);
}

enum gf_proc_state gf_proc_state(const char *host, long pid, const char *identity)
{
	char name[256] = "";
	gethostname(name, sizeof(name) - 1);
	if (!host || strcmp(host, name) != 0 || pid <= 0)
		return GF_PROC_UNKNOWN;
	char pids[32];
	snprintf(pids, sizeof(pids), "%ld", pid);
	if (!identity || !*identity) /* (a row from before identities) */
		return kill((pid_t)pid, 0) != 0 && errno == ESRCH ? GF_PROC_DEAD : GF_PROC_ALIVE;
	char boot[64], ns[64], ticks[32], here[160];
	if (sscanf(identity, "%63s %63s %31s", boot, ns, ticks) != 3 || !boot_and_ns(here, sizeof(here)))
		return GF_PROC_UNKNOWN;
	size_t blen = strlen(boot);
	if (strncmp(here, boot, blen) != 0 || here[blen] != ' ')
		return GF_PROC_DEAD; /* the kernel restarted: every process of before is gone */
	if (strcmp(here + blen + 1, ns) != 0)
		return GF_PROC_UNKNOWN; /* another PID namespace: its pids are not ours to look up */
	char now[32];
	if (!start_ticks(pids, now, sizeof(now)))
		return GF_PROC_DEAD;
	return strcmp(now, ticks) == 0 ? GF_PROC_ALIVE : GF_PROC_DEAD;
}
