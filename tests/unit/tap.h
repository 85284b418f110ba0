/* A minimal TAP producer for the unit tests: ok(), is_str(), is_int(). */
#ifndef GF_TAP_H
#define GF_TAP_H

#include <stdbool.h>
#include <stdint.h>

#define TAP_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Each returns cond/equality and prints "ok N - name" or "not ok N - name". */
bool ok(bool cond, const char *name, ...) TAP_PRINTF(2, 3);
bool is_str(const char *got, const char *want, const char *name, ...) TAP_PRINTF(3, 4);
bool is_int(int64_t got, int64_t want, const char *name, ...) TAP_PRINTF(3, 4);
void diag(const char *fmt, ...) TAP_PRINTF(1, 2);
/* Prints the plan; returns the process exit code (0 when all passed and at
 * least one test ran). */
int done_testing(void);

#endif
