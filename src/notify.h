/* Telling people: alert e-mails to the alert contacts (SMTP through
 * libcurl), the failed-runs condition, and the contacts themselves. */
#ifndef GF_NOTIFY_H
#define GF_NOTIFY_H

#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

/* After a run: raise failed_runs when the last cfg->failed_runs runs of the
 * job failed (exit 69, 70 or 75), clear it after a successful one (exit 0 or
 * 1), then e-mail each open alert event of the job not yet notified to its
 * alert contacts, one e-mail per event; notified_at is set once sent.
 * Without alerting.smtp_url nothing is sent (the events stay for 'status').
 * *sent counts e-mails sent. */
int gf_notify_after_run(PGconn *c, const struct gf_config *cfg, const struct gf_job *job, int64_t run_id,
                        int exit_code, int *sent);

/* Contacts (seed 002): role alert, technical or escalation; for a job, a
 * connection, or everything (both NULL / 0). */
int gf_contact_add(PGconn *c, const char *role, const char *email, const char *name, const char *job,
                   const char *property, const char *partner, int64_t *id);
int gf_contact_list(PGconn *c, FILE *out);
/* -ENOENT when there is no such contact. */
int gf_contact_remove(PGconn *c, const char *id);

#endif
