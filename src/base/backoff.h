/* Retry timing: capped exponential backoff with full jitter, Retry-After. */
#ifndef GF_BACKOFF_H
#define GF_BACKOFF_H

#include <stdint.h>

/* Delay before attempt number `attempt` + 1, after `attempt` (>= 1) failed
 * tries: uniform in [initial/10, min(max, initial * 2^(attempt-1))] ("full
 * jitter", floored so that a retry never comes at once). rng is xorshift state
 * (never 0). */
int64_t gf_backoff_ms(int attempt, int64_t initial_ms, int64_t max_ms, uint64_t *rng);

/* Parse a Retry-After value: delta seconds or an HTTP date (RFC 9110). The
 * delay is relative to now_wall_ms, clamped to [0, max_ms]. Returns 0 or
 * -EINVAL for an unparsable value. */
int gf_retry_after_ms(const char *value, int64_t now_wall_ms, int64_t max_ms, int64_t *out);

uint64_t gf_rand_next(uint64_t *state);
/* A seed from the clock and pid, never 0. */
uint64_t gf_rand_seed(void);

#endif
