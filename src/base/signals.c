/* Stop signals: the first asks a run to stop starting batches, the second exits at once. */
#include "base/signals.h"

#include <string.h>
#include <unistd.h>

volatile sig_atomic_t gf_signals_stop;

static void on_stop_signal(int sig)
{
	if (gf_signals_stop) {
		static const char msg[] = "guestflow: second stop signal, exiting at once\n";
		ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
		(void)w;
		_exit(75);
	}
	gf_signals_stop = sig;
}

void gf_signals_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}
