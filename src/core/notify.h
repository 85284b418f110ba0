/* Telling people: alert e-mails to the alert contacts (SMTP through
 * libcurl), the failed-runs condition, and the contacts themselves. */
#ifndef GF_NOTIFY_H
#define GF_NOTIFY_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/config.h"

/* After a run: raise failed_runs when the last cfg->failed_runs runs of the
 * job failed (exit 69, 70 or 75), clear it after a successful one (exit 0 or
 * 1), then e-mail each open alert event of the job not yet notified to its
 * alert contacts, one e-mail per event; notified_at is set once sent; then
 * the notices still untold of the job's partner (gf_notify_partners).
 * Without alerting.smtp_url nothing is sent (the events stay for 'status').
 * *sent counts e-mails sent. */
/* At a run's start: the job's runs on this host that have not recorded
 * their end and whose process is gone (gf_proc_state) marked lost
 * (runs.lost_at, their message saying who found them), each logged as
 * run_lost; when any was, alerting.failed_runs is looked at and the job's
 * untold alerts are mailed now (this run may end the same way). *lost: how
 * many were marked. 0 or a database error. */
int gf_notify_lost_runs(PGconn *c, const struct gf_config *cfg, const struct gf_job *job, int64_t run_id,
                        const char *host, int *lost);

int gf_notify_after_run(PGconn *c, const struct gf_config *cfg, const struct gf_job *job, int64_t run_id,
                        int exit_code, int *sent);

/* The job's open alert events not yet notified, mailed as after a run (a
 * stop signal ends the mailing; the rest goes after the next run). Without
 * alerting.smtp_url nothing is sent. *sent counts e-mails sent. 0 or a
 * database error. */
int gf_notify_alerts(PGconn *c, const struct gf_config *cfg, const struct gf_job *job, int *sent);

/* The partner is told (issue 17 item 5): each notice in the activity log
 * (guestflow.connection_events with partner_notice, an address and not yet
 * told) of partner's connections (property NULL) or of one, mailed to its
 * address, one e-mail each, tried once per call; each claimed FOR UPDATE
 * SKIP LOCKED and marked told in the transaction that follows the SMTP
 * server's acceptance, so that two processes never mail the same one. A
 * failure is recorded on the entry (attempts, error) and counted, never
 * returned: < 0 only for a database error. Without alerting.smtp_url
 * nothing is sent (t->waiting). */
struct gf_notice_tally {
	int sent, failed;
	int waiting;          /* no alerting.smtp_url: the notices that wait */
	char why[512];        /* the last failure */
};
int gf_notify_partners(PGconn *c, const struct gf_config *cfg, const char *partner, const char *property,
                       struct gf_notice_tally *t);

/* How an SMTP URL is sent over TLS (CURLOPT_USE_SSL): smtps:// is TLS from
 * the start; smtp:// requires STARTTLS (CURLUSESSL_ALL: refused when the
 * server does not offer it) unless the host is 127.0.0.1, ::1 or localhost,
 * where STARTTLS is used when offered (CURLUSESSL_TRY). -EINVAL for a URL
 * that is not smtp:// or smtps://. */
int gf_smtp_tls(const char *url, long *use_ssl);
/* SMTP AUTH credentials for cfg: the user (alerting.smtp_user, else the user
 * part of smtp_url) and the password, read from alerting.smtp_password_file,
 * else from $CREDENTIALS_DIRECTORY/smtp-password when that exists (one line;
 * its line end dropped; not readable by others). *source names the file.
 * All three stay NULL when neither a user nor a password is configured
 * (no AUTH). A user without a password, a password without a user or an
 * unreadable file: < 0 with the reason in err. Caller frees all three
 * (zero the password first). */
int gf_smtp_credentials(const struct gf_config *cfg, char **user, char **password, char **source,
                        char *err, size_t errlen);

/* Contacts (seed 002): role alert, technical or escalation; for a job, a
 * connection, or everything (job and property NULL); support hours
 * ("HH:MM-HH:MM", every day) in a time zone. */
struct gf_contact {
	const char *role, *email, *name, *job, *property, *partner, *hours, *time_zone;
	bool clear_hours; /* edit: the hours (and zone) removed */
};
/* -ENOENT when the connection named does not exist, -EINVAL when the time
 * zone is not one PostgreSQL knows. */
int gf_contact_add(PGconn *c, const struct gf_contact *k, int64_t *id);
/* Change the fields given (non-NULL) of contact id; -ENOENT when there is
 * no such contact, -EINVAL as for add, -EDOM when the hours would be left
 * without a time zone. */
int gf_contact_edit(PGconn *c, const char *id, const struct gf_contact *k);
/* 0 when s is support hours as a contact takes them (HH:MM-HH:MM, 00:00
 * to 24:00), else -EINVAL with why. */
int gf_contact_check_hours(const char *s, char *why, size_t whylen);
/* The contacts as a table on out, or with doc added to doc ("contacts"). */
int gf_contact_list(PGconn *c, json_t *doc, FILE *out);
/* -ENOENT when there is no such contact. */
int gf_contact_remove(PGconn *c, const char *id);

#endif
