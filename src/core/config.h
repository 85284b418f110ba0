/* Configuration: the main file and one YAML file per job, loaded with libyaml. */
#ifndef GF_CONFIG_H
#define GF_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/log.h"

struct gf_output;

enum gf_compress { GF_COMPRESS_NONE, GF_COMPRESS_GZIP };
/* on_removed: what a run does with a live connection whose property is gone
 * from the PMS (seed 004: what disappears on the other side). */
enum gf_on_removed { GF_ON_REMOVED_KEEP, GF_ON_REMOVED_DEACTIVATE };

/* A list of strings from the configuration (a K_LIST key): n items. */
struct gf_strv {
	char **v;
	size_t n;
};
void gf_strv_free(struct gf_strv *l);

struct gf_job {
	char *name;              /* required; must equal the file name without .yaml */
	char *path;              /* file it was loaded from */
	char *description;       /* optional */
	bool enabled;            /* default true */
	char *partner;           /* required: partner id as used by connections */
	char *format;            /* required: an output's name (gf_output_names()) */
	const struct gf_output *output; /* that output */
	char *endpoint;          /* required: https:// URL (http:// only with allow_insecure_http),
	                          * no query string, no password */
	bool allow_insecure_http; /* allow_insecure_http: plain http:// for the endpoint and the
	                          * ping URLs (loopback tests), warned about at every run; default false */
	char *schedule;          /* optional: systemd OnCalendar expression, default "daily" */

	/* selection */
	int64_t window_ms;       /* selection.window, default 14d */
	char *default_language;  /* selection.default_language: ISO 639-1, default "en" */
	struct gf_strv statuses; /* selection.statuses: the PMS statuses the job sends (each also
	                          * mapped for the partner unless a reference one, GF_SQL_RULE_STATUS_*),
	                          * default [checked_out] */
	unsigned omit;           /* fields.omit: GF_OMIT_* bits (record.h), fields not sent; default none */

	/* retention */
	int64_t retention_ms;    /* retention.deliveries: 'guestflow purge' deletes finished deliveries
	                          * older than this whose booking is out of the window; default 400d,
	                          * longer than the window */
	int64_t events_retention_ms; /* retention.events: 'guestflow purge' deletes the partner events
	                              * this job pulled longer ago than this (not one a suppression
	                              * names, nor a connection's latest); default 400d, at least 30d */

	/* batch */
	int max_records;         /* batch.max_records, default 500, 1..10000 */
	int in_flight;           /* batch.in_flight, default 4, 1..64 */
	enum gf_compress compress; /* batch.compress: none|gzip, default gzip */
	int gzip_level;          /* batch.gzip_level 1..9, default 1 */

	/* http */
	int64_t connect_timeout_ms; /* http.connect_timeout, default 10s */
	int64_t timeout_ms;         /* http.timeout, default 120s */
	int64_t low_speed_limit;    /* http.low_speed_limit bytes/s, default 100 */
	int64_t low_speed_time_ms;  /* http.low_speed_time, default 30s */
	char *ca_file;              /* http.ca_file, optional */
	char *sftp_user;            /* sftp.user: the account of a format sent over SFTP */
	char *sftp_private_key_file; /* sftp.private_key_file, or */
	char *sftp_password_file;   /* sftp.password_file (its first line) */
	char *sftp_known_hosts_file; /* sftp.known_hosts_file: required; the host key always checked */
	int64_t max_reply_bytes;    /* http.max_reply_bytes, default 1048576 */
	char *proxy;                /* http.proxy: proxy URL without credentials; NULL: no proxy
	                             * (the environment's http_proxy & co. are never read) */
	char *no_proxy;             /* http.no_proxy: comma-separated hosts reached without the
	                             * proxy (libcurl's CURLOPT_NOPROXY syntax); only with proxy */

	/* retry */
	int max_attempts;           /* retry.max_attempts, default 8, 1..100 */
	int64_t backoff_initial_ms; /* retry.backoff_initial, default 30s */
	int64_t backoff_max_ms;     /* retry.backoff_max, default 6h */
	int64_t retry_after_max_ms; /* retry.retry_after_max, default 1h */
	int64_t linger_ms;          /* retry.linger: how long a run waits for due retries, default 2m */

	int64_t lease_ms;           /* lease, default 10m; longer than http timeouts */
	int64_t stop_timeout_ms;    /* stop_timeout: after SIGTERM, how long in-flight batches may
	                             * finish before they are released, default 30s */

	/* ping: healthchecks-style URLs fetched at start, success and failure (optional) */
	char *ping_start;
	char *ping_success;
	char *ping_failure;

	/* history */
	char *history_message;      /* history.message, template, required */
	/* history.events.<type>: the entry 'guestflow pull' writes for a partner's
	 * event, by enum gf_event_type (invited, bounced, reviewed, unsubscribed,
	 * rejected); templates with {partner} {job} {booking_no} {event} {at}
	 * {reason}; defaults in config.c */
	char *event_message[5];

	enum gf_on_removed on_removed; /* on_removed: keep | deactivate, default keep */
};

/* Where the key for access keys at rest lives unless secrets.key_file says
 * otherwise: the service's StateDirectory= (guestflow@.service), writable
 * by the service user under ProtectSystem=strict. */
#define GF_SECRETS_KEY_FILE_DEFAULT "/var/lib/guestflow/secrets.key"

/* The names of cfg's jobs that send to partner, in a malloc'd array (*n of
 * them; never NULL): the jobs whose contacts and alerts a connection to
 * the partner concerns. */
struct gf_config;
const char **gf_config_partner_jobs(const struct gf_config *cfg, const char *partner, size_t *n);

/* partners.ID.email of the main file: where partner ID hears of its
 * connections' changes (requested, activated, deactivated, stopped). */
struct gf_partner_address {
	char *partner;
	char *email;
};
/* The address of partner in cfg's 'partners', or NULL. */
struct gf_config;
const char *gf_config_partner_email(const struct gf_config *cfg, const char *partner);

struct gf_config {
	char *path;              /* main file */
	char *conninfo;          /* database.conninfo, required */
	int64_t lock_timeout_ms; /* database.lock_timeout: how long a run's statement waits for another session's lock */
	char *jobs_dir;          /* jobs_dir, default "jobs.d" beside the main file;
	                          * relative paths resolve against the main file's directory */
	enum gf_log_level log_level; /* logging.level, default info */
	int64_t api_log_retention_ms; /* api_log.retention: 'guestflow log --purge' deletes
	                               * API-call log rows older than this, default 90d, >= 1d */
	char *smtp_url;          /* alerting.smtp_url: smtp:// or smtps://, no password; NULL: no alert e-mails */
	char *smtp_user;         /* alerting.smtp_user: SMTP AUTH user (or the user part of smtp_url) */
	char *smtp_password_file; /* alerting.smtp_password_file: file holding the SMTP password;
	                          * NULL: $CREDENTIALS_DIRECTORY/smtp-password when that exists */
	char *mail_from;         /* alerting.from, default guestflow@localhost */
	int failed_runs;         /* alerting.failed_runs: alert after this many failed runs in a row, default 3 */
	int failed_pulls;        /* alerting.failed_pulls: alert after this many failed pulls of a connection's feed in a row, default 3 */
	char *metrics_dir;       /* metrics.textfile_dir: Prometheus textfile collector dir, NULL: none */
	char *secrets_key_file;  /* secrets.key_file: the key for access keys at rest (absolute path),
	                          * default GF_SECRETS_KEY_FILE_DEFAULT; created on first use */
	struct gf_partner_address *partners; /* partners: the partners' addresses, as the file lists them */
	size_t n_partners;
	struct gf_job **jobs;    /* every *.yaml in jobs_dir, sorted by name */
	size_t n_jobs;
	char **unread_job_files; /* files in jobs_dir named like a job file but not *.yaml
	                          * (*.yml, *.YAML...): not read, worth a warning */
	size_t n_unread_job_files;
};

/* Error details: "FILE:LINE:COLUMN: message" (1-based line and column). */
struct gf_config_error {
	char text[1024];
};

/* Load the main file and every job. On error returns -GF_E_CONFIG and fills
 * err (the first error found); *out is set only on success, caller frees with
 * gf_config_free(). */
int gf_config_load(const char *path, struct gf_config **out, struct gf_config_error *err);
/* Load a single job file (used by gf_config_load and the tests). */
int gf_job_load(const char *path, struct gf_job **out, struct gf_config_error *err);
/* Parse a job from memory; name_hint is the expected job name (NULL: not checked),
 * path is used in messages only. Used by the fuzz target. */
int gf_job_parse(const char *data, size_t len, const char *path, const char *name_hint,
                 struct gf_job **out, struct gf_config_error *err);
/* Parse a main config from memory, without loading jobs. */
int gf_config_parse(const char *data, size_t len, const char *path,
                    struct gf_config **out, struct gf_config_error *err);

const struct gf_job *gf_config_find_job(const struct gf_config *cfg, const char *name);
/* Another enabled job of cfg that sends to job's partner, format and
 * endpoint and selects a status job selects too, or NULL: a booking both
 * select is sent by each (deliveries are per job), as a copied job file or
 * one renamed without 'db rename-job' does. */
const struct gf_job *gf_config_twin_job(const struct gf_config *cfg, const struct gf_job *job);
/* Add a job to cfg, keeping jobs sorted by name; a second job with the same
 * name is an error. On success cfg owns job; on error the caller still does. */
int gf_config_add_job(struct gf_config *cfg, struct gf_job *job, struct gf_config_error *err);
void gf_job_free(struct gf_job *job);
void gf_config_free(struct gf_config *cfg);

/* Which main file to use: explicit, else $GUESTFLOW_CONFIG, else the default. */
const char *gf_config_default_path(const char *explicit_path);

/* Every key of the main file ("main") and of a job file ("job"), one line
 * each, tab-separated: scope, dotted path (partners.*.email for a mapping's
 * entries), type, required|optional, default (empty: none), range or values.
 * 'guestflow check-config --keys'; the man pages are checked against it. */
void gf_config_print_keys(FILE *out);

#endif
