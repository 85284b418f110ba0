/* Progress of a run: records done of the total, rate and ETA, on a terminal or in the log. */
#ifndef GF_PROGRESS_H
#define GF_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct gf_progress {
	const char *job;             /* the job's name, for the terminal line */
	int64_t started_ms;
	int64_t last_ms;
	int64_t every_ms;            /* plain progress lines off a terminal */
	bool tty;                    /* stderr is a terminal: one live progress line */
};

/* Start counting now (GUESTFLOW_PROGRESS_SECONDS: the interval of the plain
 * lines, default 10 s). */
void gf_progress_start(struct gf_progress *p, const char *job);

/* Records done of the total, rate and ETA: a live line on a terminal, a
 * plain log line every every_ms otherwise. While planning, total is what
 * the plan has found so far. final: the last terminal line (with its
 * newline), whatever the time. */
void gf_progress_report(struct gf_progress *p, int64_t done, int64_t total, bool planning, bool final);

#endif
