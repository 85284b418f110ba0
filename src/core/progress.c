/* Progress of a run: records done of the total, rate and ETA, on a terminal or in the log. */
#include "core/progress.h"

#include <stdio.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"

void gf_progress_start(struct gf_progress *p, const char *job)
{
	p->job = job;
	p->started_ms = p->last_ms = gf_now_mono_ms();
	p->every_ms = gf_env_number("GUESTFLOW_PROGRESS_SECONDS", 1, 86400, 10) * 1000;
	p->tty = isatty(STDERR_FILENO);
}

void gf_progress_report(struct gf_progress *p, int64_t done, int64_t total, bool planning, bool final)
{
	int64_t now = gf_now_mono_ms();
	if (!final && now - p->last_ms < (p->tty ? 250 : p->every_ms))
		return;
	p->last_ms = now;
	double secs = (double)(now - p->started_ms) / 1000.0;
	double rate = secs > 0 ? (double)done / secs : 0;
	int64_t left = total > done ? total - done : 0;
	double eta = rate > 0 ? (double)left / rate : 0;
	if (p->tty) {
		if (planning)
			fprintf(stderr, "\r%s: %lld/%lld+ records, %.0f/s, planning   ", p->job, (long long)done,
			        (long long)total, rate);
		else
			fprintf(stderr, "\r%s: %lld/%lld records, %.0f/s, ETA %.0fs   %s", p->job, (long long)done,
			        (long long)total, rate, eta, final ? "\n" : "");
		fflush(stderr);
	} else if (!final) {
		if (planning)
			gf_info("progress", "done=%lld found=%lld rate=%.0f planning=1", (long long)done, (long long)total,
			        rate);
		else
			gf_info("progress", "done=%lld total=%lld rate=%.0f eta_s=%.0f", (long long)done, (long long)total,
			        rate, eta);
	}
}
