/* After a run: the Prometheus textfile-collector file and health pings. */
#ifndef GF_METRICS_H
#define GF_METRICS_H

#include <libpq-fe.h>

#include "core/config.h"
#include "core/run.h"

/* Write DIR/guestflow_JOB.prom atomically (temp file + rename): last run and
 * last success timestamps, duration, exit code, the run's counts and the
 * job's deliveries per state (c may be NULL when the database is gone: the
 * per-state gauges are left out then). */
int gf_metrics_write(const char *dir, PGconn *c, const struct gf_job *job, const struct gf_run_stats *st,
                     int exit_code);

/* GET a healthchecks-style URL of job (10 s at most) under the job's
 * transport rules (gf_http_secure: its proxy, the system's CAs); failures
 * are logged, never fatal. */
void gf_ping(const struct gf_job *job, const char *url, const char *what);

#endif
