/* Stop signals: the first asks a run to stop starting batches, the second exits at once. */
#ifndef GF_SIGNALS_H
#define GF_SIGNALS_H

#include <signal.h>

/* Install SIGTERM/SIGINT handlers: the first asks the run to stop starting
 * batches, the second exits at once (75). SIGPIPE is ignored. */
void gf_signals_install(void);

/* The signal that asked to stop, 0 while none did. Set from the handler. */
extern volatile sig_atomic_t gf_signals_stop;

#endif
