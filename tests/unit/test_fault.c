/* Unit test of the crash-test hook (src/base/fault.c) as a release build has it
 * (GF_FAULT_INJECTION 0: GUESTFLOW_FAULT is ignored) and as a test build has
 * it (1: the process kills itself at the named point), whatever this build's
 * -Dfault_injection says. Each case runs in a child process. */
#include "gf_config.h"
#undef GF_FAULT_INJECTION
#ifdef GF_TEST_FAULT_ON
#define GF_FAULT_INJECTION 1
#else
#define GF_FAULT_INJECTION 0
#endif
#include "base/fault.c"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"

/* Status of a child that sets GUESTFLOW_FAULT=after_claim and passes the
 * after_claim point. */
static int child_status(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		setenv("GUESTFLOW_FAULT", "after_claim", 1);
		gf_fault_point("after_send");
		gf_fault_point("after_claim");
		_exit(0);
	}
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return st;
}

int main(void)
{
	int st = child_status();
#ifdef GF_TEST_FAULT_ON
	ok(GF_FAULT_ENABLED, "a test build says it has the hook");
	ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "test build: GUESTFLOW_FAULT=after_claim kills at after_claim");
#else
	ok(!GF_FAULT_ENABLED, "a release build says it has no hook");
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "release build: GUESTFLOW_FAULT=after_claim is ignored");
#endif
	return done_testing();
}
