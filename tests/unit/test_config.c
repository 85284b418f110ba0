/* Unit tests for the configuration loader (src/core/config.c). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "gf_config.h"
#include "core/record.h"
#include "tap.h"
#include "base/util.h"

#define CONFIG_E (-GF_E_CONFIG)

/* A minimal valid job; tests append or replace keys. */
#define JOB_HEAD "name: t\npartner: reviewhub\nformat: review-xml\n" \
                 "endpoint: \"https://api.example/v1\"\n"
#define JOB_MIN JOB_HEAD "history:\n  message: \"sent to {partner}\"\n"
#define MAIN_MIN "database:\n  conninfo: \"dbname=guestflow\"\n"

static char tmpdir[] = "/tmp/gf-test-config-XXXXXX";
static char *created[64];
static size_t n_created;

static const char *src_root(void)
{
	const char *r = getenv("GF_SOURCE_ROOT");
	return r && *r ? r : ".";
}

/* Path of a file under the temporary directory (static ring, a few at a time). */
static const char *tmp_path(const char *name)
{
	static char ring[4][PATH_MAX];
	static unsigned slot;
	char *p = ring[slot++ % 4];
	snprintf(p, PATH_MAX, "%s/%s", tmpdir, name);
	return p;
}

/* Remember a created file for cleanup; returns a copy that stays valid. */
static const char *track(const char *path)
{
	if (n_created == GF_ARRAY_SIZE(created)) {
		diag("too many temporary files");
		exit(2);
	}
	return created[n_created++] = gf_xstrdup(path);
}

static const char *write_tmp(const char *name, const char *text)
{
	const char *path = tmp_path(name);
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		diag("cannot write %s", path);
		exit(2);
	}
	return track(path);
}

static const char *mkdir_tmp(const char *name)
{
	const char *path = tmp_path(name);
	if (mkdir(path, 0755) < 0) {
		diag("cannot create %s", path);
		exit(2);
	}
	return track(path);
}

static void cleanup_tmp(void)
{
	while (n_created > 0) {
		char *p = created[--n_created];
		remove(p);
		free(p);
	}
	rmdir(tmpdir);
}

/* Parse a job from text as file "t.yaml" (expected name "t"); returns the error
 * text or "" on success. The job is freed. */
static const char *job_error(const char *text)
{
	static struct gf_config_error err;
	struct gf_job *job = NULL;
	int r = gf_job_parse(text, strlen(text), "t.yaml", "t", &job, &err);
	if (r == 0) {
		gf_job_free(job);
		return "";
	}
	if (r != CONFIG_E)
		return "(unexpected return code)";
	return err.text;
}

static const char *main_error(const char *text)
{
	static struct gf_config_error err;
	struct gf_config *cfg = NULL;
	int r = gf_config_parse(text, strlen(text), "etc/gf.yaml", &cfg, &err);
	if (r == 0) {
		gf_config_free(cfg);
		return "";
	}
	return r == CONFIG_E ? err.text : "(unexpected return code)";
}

static void test_shipped_job(void)
{
	char *path = gf_xasprintf("%s/jobs/review-nightly.yaml", src_root());
	struct gf_config_error err = { "" };
	struct gf_job *job = NULL;
	int r = gf_job_load(path, &job, &err);
	if (!is_int(r, 0, "shipped jobs/review-nightly.yaml loads")) {
		diag("%s", err.text);
		free(path);
		return;
	}
	is_str(job->name, "review-nightly", "job name");
	is_str(job->path, path, "job path is the file it came from");
	ok(job->enabled, "job enabled");
	is_str(job->partner, "reviewhub", "partner");
	is_str(job->format, "review-xml", "format");
	is_str(job->endpoint, "https://api.reviewhub.example/v1/guests", "endpoint");
	is_str(job->schedule, "*-*-* 03:15:00", "schedule");
	is_int(job->window_ms, 14LL * 86400 * 1000, "selection.window 14d");
	is_str(job->default_language, "en", "selection.default_language");
	is_int(job->max_records, 500, "batch.max_records");
	is_int(job->in_flight, 4, "batch.in_flight");
	is_int(job->compress, GF_COMPRESS_GZIP, "batch.compress gzip");
	is_int(job->gzip_level, 1, "batch.gzip_level");
	is_int(job->connect_timeout_ms, 10000, "http.connect_timeout");
	is_int(job->timeout_ms, 120000, "http.timeout");
	is_int(job->low_speed_limit, 100, "http.low_speed_limit");
	is_int(job->low_speed_time_ms, 30000, "http.low_speed_time");
	ok(job->ca_file == NULL, "http.ca_file unset");
	is_int(job->max_reply_bytes, 1048576, "http.max_reply_bytes");
	ok(!job->allow_insecure_http, "allow_insecure_http false");
	ok(job->proxy == NULL && job->no_proxy == NULL, "no http.proxy, no http.no_proxy");
	is_int(job->max_attempts, 8, "retry.max_attempts");
	is_int(job->backoff_initial_ms, 30000, "retry.backoff_initial");
	is_int(job->backoff_max_ms, 6LL * 3600 * 1000, "retry.backoff_max");
	is_int(job->retry_after_max_ms, 3600 * 1000, "retry.retry_after_max");
	is_int(job->linger_ms, 120000, "retry.linger");
	is_int(job->lease_ms, 600000, "lease 10m");
	is_str(job->history_message,
	       "Guest data sent to {partner} for a review invitation (job {job}, batch {batch})",
	       "history.message");
	gf_job_free(job);
	free(path);
}

static void test_shipped_main(void)
{
	char *path = gf_xasprintf("%s/etc/guestflow.yaml", src_root());
	char *want_dir = gf_xasprintf("%s/etc/jobs.d", src_root());
	char *data = NULL;
	size_t len = 0;
	struct gf_config_error err = { "" };
	struct gf_config *cfg = NULL;

	if (!is_int(gf_read_file(path, 1 << 20, &data, &len), 0, "read etc/guestflow.yaml"))
		goto out;
	if (!is_int(gf_config_parse(data, len, path, &cfg, &err), 0, "shipped etc/guestflow.yaml parses")) {
		diag("%s", err.text);
		goto out;
	}
	is_str(cfg->conninfo, "dbname=guestflow", "database.conninfo");
	is_str(cfg->jobs_dir, want_dir, "jobs_dir resolved against the main file's directory");
	is_int(cfg->log_level, GF_LOG_INFO, "logging.level info");
	is_int((int64_t)cfg->n_jobs, 0, "gf_config_parse loads no jobs");
	is_str(cfg->path, path, "config path");
out:
	gf_config_free(cfg);
	free(data);
	free(path);
	free(want_dir);
}

static void test_load_all(void)
{
	struct gf_config_error err = { "" };
	struct gf_config *cfg = NULL;

	/* The shipped job through the whole loader, jobs_dir absolute. */
	char *text = gf_xasprintf("database:\n  conninfo: \"host=/tmp dbname=x\"\njobs_dir: %s/jobs\n",
	                          src_root());
	const char *main_path = write_tmp("abs.yaml", text);
	free(text);
	int r = gf_config_load(main_path, &cfg, &err);
	if (is_int(r, 0, "config with the shipped jobs dir loads")) {
		is_int((int64_t)cfg->n_jobs, 1, "one shipped job");
		const struct gf_job *j = gf_config_find_job(cfg, "review-nightly");
		ok(j && strcmp(j->partner, "reviewhub") == 0, "find_job finds review-nightly");
		ok(gf_config_find_job(cfg, "nope") == NULL, "find_job of an unknown job is NULL");
	} else {
		diag("%s", err.text);
	}
	gf_config_free(cfg);
	cfg = NULL;

	/* Relative jobs_dir, sorting, ignored files. */
	mkdir_tmp("jobs");
	write_tmp("jobs/zeta.yaml", "name: zeta\npartner: p\nformat: review-xml\n"
	                            "endpoint: https://127.0.0.1:8080/x\nhistory: {message: m}\n");
	write_tmp("jobs/alpha.yaml", "name: alpha\npartner: p\nformat: review-xml\n"
	                             "endpoint: https://127.0.0.1:8080/x\nhistory: {message: m}\n");
	write_tmp("jobs/.hidden.yaml", "not: [valid");
	write_tmp("jobs/alpha.yaml~", "not: [valid");
	write_tmp("jobs/README.txt", "not: [valid");
	main_path = write_tmp("rel.yaml", "database:\n  conninfo: dbname=x\njobs_dir: jobs\n"
	                                  "logging:\n  level: debug\n");
	r = gf_config_load(main_path, &cfg, &err);
	if (is_int(r, 0, "config with a relative jobs_dir loads")) {
		is_int((int64_t)cfg->n_jobs, 2, "two jobs; hidden, backup and other files ignored");
		is_str(cfg->jobs[0]->name, "alpha", "jobs sorted by name (first)");
		is_str(cfg->jobs[1]->name, "zeta", "jobs sorted by name (second)");
		is_str(cfg->jobs_dir, tmp_path("jobs"), "relative jobs_dir resolved");
		is_int(cfg->log_level, GF_LOG_DEBUG, "logging.level debug");
		is_str(cfg->jobs[0]->path, tmp_path("jobs/alpha.yaml"), "job path inside jobs_dir");
	} else {
		diag("%s", err.text);
	}

	/* Two jobs with the same name. */
	struct gf_job *dup = NULL;
	const char *dup_path = write_tmp("alpha.yaml", "name: alpha\npartner: q\nformat: review-xml\n"
	                                                "endpoint: https://h/x\nhistory: {message: m}\n");
	if (cfg && is_int(gf_job_load(dup_path, &dup, &err), 0, "second 'alpha' job loads alone")) {
		char *want = gf_xasprintf("%s:1:1: duplicate job name 'alpha' (also defined in %s)",
		                          dup_path, tmp_path("jobs/alpha.yaml"));
		is_int(gf_config_add_job(cfg, dup, &err), CONFIG_E, "duplicate job name refused");
		is_str(err.text, want, "duplicate job name message");
		free(want);
		gf_job_free(dup);
	}
	/* One partner, two formats: its connections hold one format's credentials. */
	struct gf_job *other = NULL;
	const char *other_path = write_tmp("beta.yaml", "name: beta\npartner: p\nformat: guest-json\n"
	                                                "endpoint: https://h/x\nhistory: {message: m}\n");
	if (cfg && is_int(gf_job_load(other_path, &other, &err), 0, "a guest-json job for partner p loads alone")) {
		char *want = gf_xasprintf("%s:1:1: job 'beta' sends guest-json to partner 'p', which job 'alpha' (%s) sends"
		                          " review-xml: a partner's connections hold the credentials of one format, so all"
		                          " its jobs must use it", other_path, tmp_path("jobs/alpha.yaml"));
		is_int(gf_config_add_job(cfg, other, &err), CONFIG_E, "a second format for one partner refused");
		is_str(err.text, want, "and the message names both jobs");
		free(want);
		gf_job_free(other);
	}
	gf_config_free(cfg);
	cfg = NULL;

	/* A job error is reported with the job file's path. */
	const char *bad = write_tmp("jobs/broken.yaml", JOB_HEAD "name: broken\n");
	r = gf_config_load(main_path, &cfg, &err);
	char *want = gf_xasprintf("%s:5:1: duplicate key 'name' at the top level (first given at line 1)", bad);
	is_int(r, CONFIG_E, "a broken job fails the whole load");
	is_str(err.text, want, "job error names the job file");
	ok(cfg == NULL, "no config returned on error");
	free(want);

	/* A missing jobs directory. */
	main_path = write_tmp("nodir.yaml", "database: {conninfo: dbname=x}\njobs_dir: missing.d\n");
	r = gf_config_load(main_path, &cfg, &err);
	want = gf_xasprintf("%s:2:11: jobs directory '%s' does not exist", main_path, tmp_path("missing.d"));
	is_int(r, CONFIG_E, "missing jobs dir is an error");
	is_str(err.text, want, "missing jobs dir named, at the jobs_dir key's value");
	free(want);

	/* The default jobs_dir is beside the main file. */
	main_path = write_tmp("deflt.yaml", "database: {conninfo: dbname=x}\n");
	r = gf_config_load(main_path, &cfg, &err);
	want = gf_xasprintf("%s:1:1: jobs directory '%s' does not exist", main_path, tmp_path("jobs.d"));
	is_str(err.text, want, "default jobs_dir is jobs.d beside the main file");
	free(want);

	/* A main file that does not exist. */
	r = gf_config_load(tmp_path("nothere.yaml"), &cfg, &err);
	want = gf_xasprintf("%s:1:1: cannot read file: No such file or directory", tmp_path("nothere.yaml"));
	is_int(r, CONFIG_E, "missing main file is an error");
	is_str(err.text, want, "missing main file named");
	free(want);
}

static void test_defaults(void)
{
	struct gf_config_error err = { "" };
	struct gf_job *job = NULL;
	if (!is_int(gf_job_parse(JOB_MIN, strlen(JOB_MIN), "t.yaml", "t", &job, &err), 0,
	            "minimal job parses")) {
		diag("%s", err.text);
		return;
	}
	ok(job->enabled && job->description == NULL, "default: enabled, no description");
	is_str(job->schedule, "daily", "default schedule");
	is_int(job->window_ms, 14LL * 86400000, "default window");
	is_str(job->default_language, "en", "default language");
	ok(job->max_records == 500 && job->in_flight == 4 && job->compress == GF_COMPRESS_GZIP &&
	   job->gzip_level == 1, "default batch");
	ok(job->connect_timeout_ms == 10000 && job->timeout_ms == 120000 &&
	   job->low_speed_limit == 100 && job->low_speed_time_ms == 30000 && !job->ca_file &&
	   job->max_reply_bytes == 1048576, "default http");
	ok(job->max_attempts == 8 && job->backoff_initial_ms == 30000 &&
	   job->backoff_max_ms == 21600000 && job->retry_after_max_ms == 3600000 &&
	   job->linger_ms == 120000, "default retry");
	is_int(job->lease_ms, 600000, "default lease");
	is_int(job->stop_timeout_ms, 30000, "default stop_timeout");
	ok(job->on_removed == GF_ON_REMOVED_KEEP, "default on_removed: keep");
	gf_job_free(job);

	const char *m = "database:\n  conninfo: dbname=x\n";
	struct gf_config *cfg = NULL;
	if (is_int(gf_config_parse(m, strlen(m), "gf.yaml", &cfg, &err), 0, "minimal main parses")) {
		is_str(cfg->jobs_dir, "jobs.d", "default jobs_dir (main path without directory)");
		is_int(cfg->log_level, GF_LOG_INFO, "default log level");
	}
	gf_config_free(cfg);

	/* Empty sections: defaults. */
	is_str(job_error(JOB_MIN "batch:\nhttp: {}\n"), "", "empty sections allowed");
}

static void test_values(void)
{
	struct gf_config_error err = { "" };
	struct gf_job *job = NULL;
	const char *t = JOB_HEAD
		"enabled: off\n"
		"description: \"\"\n"
		"selection: {window: 36h, default_language: de}\n"
		"batch: {compress: none, max_records: 10000, in_flight: 64, gzip_level: 9}\n"
		"http:\n  connect_timeout: 500ms\n  timeout: 90\n  low_speed_limit: 0\n"
		"  ca_file: /etc/ssl/x.pem\n  max_reply_bytes: 1024\n"
		"retry: {backoff_initial: 1m, backoff_max: 1m, linger: 0, max_attempts: 1}\n"
		"lease: 2m\nstop_timeout: 0\n"
		"history: {message: \"{partner}{job}{batch}{booking_no}{hotel_id}{run_id}{date}\"}\n"
		"fields: {omit: [first_name]}\n"
		"on_removed: deactivate\n";
	if (!is_int(gf_job_parse(t, strlen(t), "t.yaml", "t", &job, &err), 0, "job with every key parses")) {
		diag("%s", err.text);
		return;
	}
	ok(!job->enabled, "enabled: off is false");
	ok(job->on_removed == GF_ON_REMOVED_DEACTIVATE, "on_removed: deactivate");
	is_str(job->description, "", "empty quoted description");
	is_int(job->window_ms, 36LL * 3600000, "duration 36h");
	is_str(job->default_language, "de", "language de");
	ok(job->compress == GF_COMPRESS_NONE && job->max_records == 10000 && job->in_flight == 64 &&
	   job->gzip_level == 9, "batch upper bounds accepted");
	is_int(job->connect_timeout_ms, 500, "duration 500ms");
	is_int(job->timeout_ms, 90000, "plain number is seconds");
	is_int(job->low_speed_limit, 0, "low_speed_limit 0 allowed");
	is_str(job->ca_file, "/etc/ssl/x.pem", "ca_file");
	is_int(job->max_reply_bytes, 1024, "max_reply_bytes lower bound");
	ok(job->backoff_initial_ms == 60000 && job->backoff_max_ms == 60000, "backoff_max == backoff_initial ok");
	is_int(job->linger_ms, 0, "linger 0 allowed");
	is_int(job->lease_ms, 120000, "lease");
	is_int(job->stop_timeout_ms, 0, "stop_timeout 0 allowed");
	is_int(job->omit, GF_OMIT_FIRST_NAME, "fields.omit");
	gf_job_free(job);
}

static void test_errors(void)
{
	/* The brief's examples, exactly. */
	is_str(job_error(JOB_MIN "batch:\n  in_flight: many\n"),
	       "t.yaml:8:14: 'in_flight' must be an integer from 1 to 64, got 'many'", "int not a number");
	is_str(job_error(JOB_MIN "batch:\n  in_flight: 65\n"),
	       "t.yaml:8:14: 'in_flight' must be an integer from 1 to 64, got '65'", "int out of range");
	is_str(job_error("name: t\npartner: p\nformat: review-xml\nhistory: {message: m}\n"),
	       "t.yaml:1:1: missing required key 'endpoint'", "missing required key");
	is_str(job_error(JOB_HEAD), "t.yaml:1:1: missing required key 'history' (a mapping with message)",
	       "missing required section");
	is_str(job_error(JOB_HEAD "history: {}\n"),
	       "t.yaml:5:1: missing required key 'message' in 'history'", "missing key in a section");
	is_str(job_error(JOB_HEAD "history:\n  kind: x\n  message: m\n"),
	       "t.yaml:6:3: unknown key 'kind' in 'history' (expected one of: message, events)", "history.kind is gone");
	is_str(job_error(JOB_MIN "lease: 60s\n"),
	       "t.yaml:7:8: 'lease' (60 s) must be longer than http.timeout plus http.connect_timeout (130 s)",
	       "lease shorter than a request");
	is_str(job_error(JOB_MIN "lease_time: 10m\n"),
	       "t.yaml:7:1: unknown key 'lease_time' at the top level (expected one of: name, description, "
	       "enabled, partner, format, endpoint, allow_insecure_http, schedule, selection, batch, http, sftp, retry, lease, stop_timeout, ping, history, retention, fields, on_removed)",
	       "unknown top-level key");
	is_str(job_error(JOB_MIN "name: t\n"),
	       "t.yaml:7:1: duplicate key 'name' at the top level (first given at line 1)", "duplicate key");
	is_str(job_error(JOB_MIN "batch: {gzip_level: 1, gzip_level: 2}\n"),
	       "t.yaml:7:24: duplicate key 'gzip_level' in 'batch' (first given at line 7)",
	       "duplicate key in a section");

	/* Wrong types. */
	is_str(job_error(JOB_MIN "schedule:\n  daily: yes\n"),
	       "t.yaml:8:3: 'schedule' must be a non-empty text value, got a mapping",
	       "mapping where a scalar is expected");
	is_str(job_error(JOB_MIN "lease: [1, 2]\n"),
	       "t.yaml:7:8: 'lease' must be a duration of at least 10s (like 30s, 10m, 2h or 14d; "
	       "a plain number means seconds), got a sequence", "sequence where a duration is expected");
	is_str(job_error(JOB_MIN "batch: 500\n"),
	       "t.yaml:7:8: 'batch' must be a mapping with keys max_records, in_flight, compress, "
	       "gzip_level, got a single value", "scalar where a mapping is expected");
	is_str(job_error("- name: t\n"),
	       "t.yaml:1:1: expected a mapping with keys name, description, enabled, partner, format, "
	       "endpoint, allow_insecure_http, schedule, selection, batch, http, sftp, retry, lease, stop_timeout, ping, history, retention, fields, on_removed at the top level, "
	       "got a sequence", "top level not a mapping");
	is_str(job_error(JOB_MIN "? [a]\n: b\n"), "t.yaml:7:3: a key must be a plain name, got a sequence",
	       "complex key");

	/* Values. */
	is_str(job_error(JOB_MIN "enabled: maybe\n"),
	       "t.yaml:7:10: 'enabled' must be true or false (or yes/no, on/off), got 'maybe'", "bad bool");
	is_str(job_error(JOB_MIN "batch: {compress: zip}\n"),
	       "t.yaml:7:19: 'compress' must be one of: none, gzip, got 'zip'", "bad enum");
	/* Formats: the registry's outputs, and each one's own limits. */
	is_str(job_error("name: t\npartner: p\nformat: review-json\nendpoint: \"https://a.example/\"\n"
	                 "history: {message: m}\n"),
	       "t.yaml:3:9: 'format' must be one of: review-xml, guest-json, visits-csv, got 'review-json'", "unknown format");
	is_str(job_error("name: t\npartner: p\nformat: guest-json\nendpoint: \"https://a.example/\"\n"
	                 "history: {message: m}\nbatch: {max_records: 1001}\n"),
	       "t.yaml:6:8: 'batch.max_records' (1001) is more than a guest-json request may hold (1000 guests)",
	       "guest-json: at most 1000 guests a request");
	is_str(job_error("name: t\npartner: p\nformat: guest-json\nendpoint: \"https://a.example/\"\n"
	                 "history: {message: m}\nbatch: {max_records: 1000}\n"), "", "guest-json: 1000 guests");
	/* fields.omit: a list of the optional fields, those the format allows. */
	struct gf_job *oj = NULL;
	struct gf_config_error oerr;
	const char *ot = "name: t\npartner: p\nformat: guest-json\nendpoint: \"https://a.example/\"\n"
	                 "history: {message: m}\nfields:\n  omit: [gender, language, status, first_name, arrival]\n";
	if (is_int(gf_job_parse(ot, strlen(ot), "t.yaml", "t", &oj, &oerr), 0, "guest-json: every optional field omitted"))
		is_int(oj->omit, GF_OMIT_FIRST_NAME | GF_OMIT_GENDER | GF_OMIT_LANGUAGE | GF_OMIT_STATUS | GF_OMIT_ARRIVAL,
		       "fields.omit read as bits");
	gf_job_free(oj);
	is_str(job_error(JOB_MIN "fields: {omit: [first_name]}\n"), "", "review-xml may leave out first_name");
	is_str(job_error(JOB_MIN "fields: {omit: []}\n"), "", "an empty list");
	is_str(job_error(JOB_MIN "fields: {omit: [first_name, gender]}\n"),
	       "t.yaml:7:9: 'fields.omit' cannot leave out gender in review-xml: the format requires it (its contract,"
	       " README \"Partner formats\")", "review-xml requires gender");
	is_str(job_error(JOB_MIN "fields: {omit: [email]}\n"),
	       "t.yaml:7:17: 'omit' must be a list of any of: first_name, gender, language, status, arrival, got 'email'",
	       "e-mail is always sent");
	is_str(job_error(JOB_MIN "fields: {omit: gender}\n"),
	       "t.yaml:7:16: 'omit' must be a list of any of: first_name, gender, language, status, arrival, got 'gender'",
	       "a scalar is not a list");
	is_str(job_error(JOB_MIN "http: {timeout: 0}\n"),
	       "t.yaml:7:17: 'timeout' must be a duration greater than 0 (like 30s, 10m, 2h or 14d; "
	       "a plain number means seconds), got '0'", "zero duration refused");
	is_str(job_error(JOB_MIN "http: {timeout: 5 min}\n"),
	       "t.yaml:7:17: 'timeout' must be a duration greater than 0 (like 30s, 10m, 2h or 14d; "
	       "a plain number means seconds), got '5 min'", "malformed duration");
	is_str(job_error(JOB_MIN "lease: 9s\n"),
	       "t.yaml:7:8: 'lease' must be a duration of at least 10s (like 30s, 10m, 2h or 14d; "
	       "a plain number means seconds), got '9s'", "lease below 10s");
	is_str(job_error(JOB_MIN "selection: {window: 99999999999999d}\n"),
	       "t.yaml:7:21: 'window' must be a duration of at most 3650d, got '99999999999999d'",
	       "huge duration refused");
	is_str(job_error(JOB_MIN "retry:\n  backoff_initial: 10m\n  backoff_max: 5m\n"),
	       "t.yaml:9:16: 'backoff_max' (5m) must not be less than 'backoff_initial' (10m)",
	       "backoff_max < backoff_initial");
	is_str(job_error(JOB_MIN "retry:\n  backoff_initial: 7h\n"),
	       "t.yaml:8:20: 'backoff_max' (6h) must not be less than 'backoff_initial' (7h)",
	       "backoff_initial above the default backoff_max");
	is_str(job_error(JOB_MIN "http: {max_reply_bytes: 1023}\n"),
	       "t.yaml:7:25: 'max_reply_bytes' must be an integer from 1024 to 67108864, got '1023'",
	       "max_reply_bytes range");
	is_str(job_error(JOB_MIN "selection: {default_language: EN}\n"),
	       "t.yaml:7:31: 'default_language' must be a two-letter lower-case ISO 639-1 code such as "
	       "en or de, got 'EN'", "upper-case language");
	is_str(job_error("name: t\npartner: reviewhub\nformat: review-xml\n"
	                 "endpoint: \"https://api.example/v1?id=1\"\nhistory: {message: m}\n"),
	       "t.yaml:4:11: 'endpoint' must not have a query string ('?'): the hotel id and access key "
	       "are added to each request, got 'https://api.example/v1?id=1'", "endpoint with a query");
	is_str(job_error("name: t\npartner: p\nformat: review-xml\nendpoint: ftp://x/y\nhistory: {message: m}\n"),
	       "t.yaml:4:11: 'endpoint' must start with https:// (or sftp:// for visits-csv), got 'ftp://x/y'",
	       "endpoint scheme");
	is_str(job_error("name: t\npartner: p\nformat: review-xml\nendpoint: http://x/a b\nhistory: {message: m}\n"),
	       "t.yaml:4:11: 'endpoint' must not contain spaces, got 'http://x/a b'", "endpoint with a space");
	is_str(job_error("name: t\npartner: p\nformat: xml\nendpoint: http://x/\nhistory: {message: m}\n"),
	       "t.yaml:3:9: 'format' must be one of: review-xml, guest-json, visits-csv, got 'xml'", "unknown format");
	is_str(job_error("name: t\npartner: Review Hub\nformat: review-xml\nendpoint: http://x/\nhistory: {message: m}\n"),
	       "t.yaml:2:10: 'partner' must consist of a-z, 0-9, '_' and '-' only, got 'Review Hub'",
	       "bad partner id");
	is_str(job_error(JOB_HEAD "history: {message: \"  \"}\n"),
	       "t.yaml:5:20: 'message' must not be empty", "blank history message");
	is_str(job_error(JOB_MIN "schedule:\n"), "t.yaml:7:10: 'schedule' must not be empty",
	       "key without a value");
	is_str(job_error(JOB_MIN "schedule: \"daily\\n[Service]\"\n"),
	       "t.yaml:7:11: 'schedule' must be a systemd calendar expression on one line, without control characters"
	       " or spaces around it (e.g. \"*-*-* 03:15:00\" or daily), got 'daily\\x0a[Service]'",
	       "a new line in schedule (it would add directives to the timer's drop-in)");
	is_str(job_error(JOB_MIN "description: \"a\\0b\"\n"),
	       "t.yaml:7:14: 'description' must not contain NUL characters", "NUL in a value");

	/* Template placeholders. */
	is_str(job_error(JOB_HEAD "history:\n  message: \"Hello {guest} from {partner}\"\n"),
	       "t.yaml:6:12: 'message' has an unknown placeholder '{guest}' (expected one of: {partner}, "
	       "{job}, {batch}, {booking_no}, {hotel_id}, {run_id}, {date})", "unknown placeholder");
	is_str(job_error(JOB_HEAD "history:\n  message: \"sent to {partner\"\n"),
	       "t.yaml:6:12: 'message' has a '{' that is not closed by '}' (placeholders look like {partner})",
	       "unclosed brace");
	is_str(job_error(JOB_HEAD "history:\n  message: \"sent to {partner}}\"\n"),
	       "t.yaml:6:12: 'message' has a '}' without a matching '{' (placeholders look like {partner})",
	       "stray closing brace");
	is_str(job_error(JOB_HEAD "history:\n  message: \"x {{job}}\"\n"),
	       "t.yaml:6:12: 'message' has a '{' that is not closed by '}' (placeholders look like {partner})",
	       "nested brace");

	/* Name rules. */
	is_str(job_error("name: other\npartner: p\nformat: review-xml\nendpoint: http://x/\nhistory: {message: m}\n"),
	       "t.yaml:1:7: 'name' is 'other' but must equal the file name without .yaml ('t')",
	       "name differs from the file name");
	is_str(job_error("name: Nightly Run\n"),
	       "t.yaml:1:7: 'name' must be 1 to 64 characters from a-z, 0-9, '_' and '-', got 'Nightly Run'",
	       "bad job name characters");
	char long_name[100];
	memset(long_name, 'a', 65);
	long_name[65] = '\0';
	char *t = gf_xasprintf("name: %s\n", long_name);
	ok(strstr(job_error(t), "'name' must be 1 to 64 characters") != NULL, "job name over 64 chars");
	free(t);

	/* YAML-level problems. */
	is_str(job_error(""), "t.yaml:1:1: file is empty (expected a mapping with keys name, description, "
	       "enabled, partner, format, endpoint, allow_insecure_http, schedule, selection, batch, http, sftp, retry, lease, stop_timeout, ping, history, retention, fields, on_removed)",
	       "empty text");
	is_str(job_error("a: 1\nb: [2\n"),
	       "t.yaml:3:1: did not find expected ',' or ']' (while parsing a flow sequence at line 2, column 4)",
	       "syntax error with its context");
	is_str(job_error("name: &n t\n"),
	       "t.yaml:1:7: anchors (&n) are not supported: write the value out", "anchor refused");
	is_str(job_error(JOB_MIN "---\nname: t\n"),
	       "t.yaml:7:1: only one YAML document is allowed in a file", "two documents refused");
	{
		/* libyaml is quadratic in flow nesting: deep input must stop early. */
		size_t depth = 400000;
		char *deep = gf_xmalloc(2 * depth + 8);
		memcpy(deep, "name: ", 6);
		memset(deep + 6, '[', depth);
		memset(deep + 6 + depth, ']', depth);
		deep[6 + 2 * depth] = '\0';
		int64_t t0 = gf_now_mono_ms();
		is_str(job_error(deep), "t.yaml:1:22: values are nested more than 16 levels deep",
		       "deep nesting refused");
		ok(gf_now_mono_ms() - t0 < 2000, "deep nesting refused quickly");
		free(deep);
	}
	is_str(job_error("name: \"ab\xff\"\n"),
	       "t.yaml:1:10: invalid leading UTF-8 octet (byte 0xff): the file must be UTF-8 text",
	       "invalid UTF-8");

	/* Main file. */
	is_str(main_error("jobs_dir: x\n"),
	       "etc/gf.yaml:1:1: missing required key 'database' (a mapping with conninfo)", "main: no database");
	is_str(main_error("database: {conninfo: \"\"}\n"),
	       "etc/gf.yaml:1:22: 'conninfo' must not be empty", "main: empty conninfo");
	is_str(main_error("database: {conninfo: x}\nlogging: {level: verbose}\n"),
	       "etc/gf.yaml:2:18: 'level' must be one of: error, warn, info, debug, got 'verbose'",
	       "main: bad log level");
	is_str(main_error("database: {conninfo: x, password: secret}\n"),
	       "etc/gf.yaml:1:25: unknown key 'password' in 'database' (expected one of: conninfo, lock_timeout)",
	       "main: unknown key in database");
	is_str(main_error("database: {conninfo: x, lock_timeout: 50ms}\n"),
	       "etc/gf.yaml:1:39: 'lock_timeout' must be a duration of at least 100ms (like 30s, 10m, 2h or 14d; a plain"
	       " number means seconds), got '50ms'", "main: lock_timeout under 100ms");
	is_str(main_error("database: {conninfo: x, lock_timeout: 25d}\n"),
	       "etc/gf.yaml:1:39: 'lock_timeout' must be a duration of at most 24d, got '25d'",
	       "main: lock_timeout over PostgreSQL's limit");
	is_str(main_error("database:\n  conninfo: [a]\n"),
	       "etc/gf.yaml:2:13: 'conninfo' must be a non-empty text value, got a sequence",
	       "main: conninfo as a sequence is refused");
}

static void test_files(void)
{
	struct gf_config_error err = { "" };
	struct gf_job *job = NULL;
	char *dir = gf_xasprintf("%s/tests/unit/data/config", src_root());
	char *path, *want;

#define CHECK_FILE(file, expect, what)                                                   \
	do {                                                                              \
		path = gf_xasprintf("%s/%s", dir, file);                                  \
		want = gf_xasprintf("%s%s", path, expect);                                \
		is_int(gf_job_load(path, &job, &err), CONFIG_E, what " fails");           \
		is_str(err.text, want, what " message");                                  \
		free(path);                                                               \
		free(want);                                                               \
	} while (0)

	CHECK_FILE("unknown-key.yaml", ":12:3: unknown key 'max_record' in 'batch' (expected one of: "
	           "max_records, in_flight, compress, gzip_level)", "file: unknown nested key");
	CHECK_FILE("syntax-error.yaml", ":5:1: found unexpected end of stream (while scanning a quoted "
	           "scalar at line 3, column 11)", "file: YAML syntax error");
	CHECK_FILE("empty.yaml", ":1:1: file is empty (expected a mapping with keys name, description, "
	           "enabled, partner, format, endpoint, allow_insecure_http, schedule, selection, batch, http, sftp, retry, lease, stop_timeout, ping, "
	           "history, retention, fields, on_removed)", "file: empty");
	CHECK_FILE("comments-only.yaml", ":1:1: file is empty (expected a mapping with keys name, "
	           "description, enabled, partner, format, endpoint, allow_insecure_http, schedule, selection, batch, http, sftp, "
	           "retry, lease, stop_timeout, ping, history, retention, fields, on_removed)", "file: comments only");
	CHECK_FILE("bad-template.yaml", ":6:12: 'message' has an unknown placeholder '{guest_name}' "
	           "(expected one of: {partner}, {job}, {batch}, {booking_no}, {hotel_id}, {run_id}, "
	           "{date})", "file: template placeholder");
	CHECK_FILE("billion-laughs.yaml", ":2:4: anchors (&a) are not supported: write the value out",
	           "file: billion laughs");
	CHECK_FILE("wrong-name.yaml", ":1:7: 'name' is 'review-nightly' but must equal the file name "
	           "without .yaml ('wrong-name')", "file: name/file mismatch");
	CHECK_FILE("bad-utf8.yaml", ":2:19: invalid trailing UTF-8 octet (byte 0x22): the file must be "
	           "UTF-8 text", "file: invalid UTF-8");
#undef CHECK_FILE
	ok(job == NULL, "no job returned on errors");
	free(dir);

	/* Files over 1 MiB are refused before parsing. */
	size_t n = (1 << 20) + 1;
	char *big = gf_xmalloc(n + 1);
	memset(big, '#', n);
	big[n] = '\0';
	const char *big_path = write_tmp("big.yaml", big);
	free(big);
	want = gf_xasprintf("%s:1:1: file is larger than 1 MiB; refusing to load it", big_path);
	is_int(gf_job_load(big_path, &job, &err), CONFIG_E, "file over 1 MiB refused");
	is_str(err.text, want, "file over 1 MiB message");
	free(want);

	/* A directory is not a job file. */
	const char *d = mkdir_tmp("dir.yaml");
	want = gf_xasprintf("%s:1:1: cannot read file: not a regular file", d);
	is_int(gf_job_load(d, &job, &err), CONFIG_E, "directory refused");
	is_str(err.text, want, "directory message");
	free(want);
}

/* Issue 14, items 7-9: transport, SMTP and database secrets. */
static void test_security_keys(void)
{
	struct gf_job *job = NULL;
	struct gf_config *cfg = NULL;
	struct gf_config_error err = { "" };
	const char *j;

	/* https:// unless the job opts in to plain http://, for the pings too. */
#define JOB_HTTP "name: t\npartner: p\nformat: review-xml\nendpoint: http://127.0.0.1:8080/x\n" \
                 "history: {message: m}\n"
	is_str(job_error(JOB_HTTP),
	       "t.yaml:4:11: 'endpoint' must start with https:// (the access keys travel in its URL): plain "
	       "http:// is allowed only with 'allow_insecure_http: true', meant for a test partner on this "
	       "machine", "plain http:// endpoint refused");
	j = JOB_HTTP "allow_insecure_http: true\nping: {start: \"http://127.0.0.1:9/p\"}\n";
	if (is_int(gf_job_parse(j, strlen(j), "t.yaml", "t", &job, &err), 0, "plain http:// with the opt-in")) {
		ok(job->allow_insecure_http, "allow_insecure_http true");
		gf_job_free(job);
	}
	is_str(job_error(JOB_MIN "ping:\n  start: \"https://hc.example/s\"\n  failure: \"http://hc.example/f\"\n"),
	       "t.yaml:9:12: 'failure' in 'ping' must start with https://: plain http:// is allowed only with "
	       "'allow_insecure_http: true', meant for a test partner on this machine", "plain http:// ping refused");
	is_str(job_error(JOB_MIN "allow_insecure_http: maybe\n"),
	       "t.yaml:7:22: 'allow_insecure_http' must be true or false (or yes/no, on/off), got 'maybe'",
	       "allow_insecure_http is a boolean");

	/* No password in a URL of a job. */
	is_str(job_error("name: t\npartner: p\nformat: review-xml\nendpoint: \"https://u:Pw9@h/x\"\n"
	                 "history: {message: m}\n"),
	       "t.yaml:4:11: 'endpoint' must not hold a password (the user:password@ part of the URL): a "
	       "connection's credentials are given with 'guestflow connection add'", "password in the endpoint");
	is_str(job_error(JOB_MIN "ping: {success: \"https://u:Pw9@hc.example/x\"}\n"),
	       "t.yaml:7:17: 'success' must not hold a password (the user:password@ part of the URL): use a "
	       "ping URL that needs no password", "password in a ping URL");

	/* Proxies: from the job only, without credentials; no_proxy only with a proxy. */
	j = JOB_MIN "http:\n  proxy: \"http://proxy.example:3128\"\n  no_proxy: \"localhost, .corp.example ,10.0.0.0/8\"\n";
	if (is_int(gf_job_parse(j, strlen(j), "t.yaml", "t", &job, &err), 0, "http.proxy and http.no_proxy")) {
		is_str(job->proxy, "http://proxy.example:3128", "http.proxy");
		is_str(job->no_proxy, "localhost,.corp.example,10.0.0.0/8", "http.no_proxy without spaces");
		gf_job_free(job);
	}
	is_str(job_error(JOB_MIN "http: {proxy: \"http://u:Pw9@proxy:3128\"}\n"),
	       "t.yaml:7:15: 'proxy' must not hold a user name or password: guestflow uses proxies that need no "
	       "credentials (a proxy that admits this host by its address)", "proxy credentials refused");
	is_str(job_error(JOB_MIN "http: {proxy: \"proxy:3128\"}\n"),
	       "t.yaml:7:15: 'proxy' must start with http://, https://, socks4://, socks4a://, socks5:// or "
	       "socks5h://", "proxy without a scheme refused");
	is_str(job_error(JOB_MIN "http: {no_proxy: localhost}\n"),
	       "t.yaml:7:18: 'no_proxy' in 'http' has no effect without 'proxy': guestflow uses a proxy only "
	       "when http.proxy names one (http_proxy, https_proxy, all_proxy and no_proxy in the environment "
	       "are ignored)", "no_proxy without a proxy");
	is_str(job_error(JOB_MIN "http: {proxy: \"socks5h://p:1080\", no_proxy: \"a,\"}\n"),
	       "t.yaml:7:45: 'no_proxy' must not end with a comma, got 'a,'", "no_proxy trailing comma");
	is_str(job_error(JOB_MIN "http: {proxy: \"socks5h://p:1080\", no_proxy: \"a b\"}\n"),
	       "t.yaml:7:45: 'no_proxy' must be a comma-separated list of host names, domains (.example.com), "
	       "IP addresses or networks (10.0.0.0/8), or *, without empty entries, got 'a b'",
	       "no_proxy entry with a space");

	/* database.conninfo: never a password, in any form libpq reads. */
	static const char *const with_password[] = {
		"host=db password=Pw9 dbname=gf",
		"host=db password='P w9'",
		"postgresql://gf:Pw9@db/gf",
		"postgres://db/gf?sslmode=require&password=Pw9",
		"postgresql://gf:%50w9@db/gf",
	};
	for (size_t i = 0; i < GF_ARRAY_SIZE(with_password); i++) {
		char *text = gf_xasprintf("database:\n  conninfo: \"%s\"\n", with_password[i]);
		const char *e = main_error(text);
		ok(strstr(e, "etc/gf.yaml:2:13: 'conninfo' must not hold a password") == e && !strstr(e, "w9"),
		   "password refused: %s (%s)", with_password[i], e);
		free(text);
	}
	is_str(main_error("database:\n  conninfo: \"host=db Pw9 dbname=gf\"\n"),
	       "etc/gf.yaml:2:13: 'conninfo' is not a connection string libpq can read: missing \"=\" after "
	       "\"...\" in connection info string (the parts libpq quoted are not shown here: they could be "
	       "part of a password)", "unreadable conninfo: libpq's message without what it quoted");
	is_str(main_error("database:\n  conninfo: \"postgresql://u:Pw9@[::1/gf\"\n"),
	       "etc/gf.yaml:2:13: 'conninfo' is not a connection string libpq can read: end of string reached "
	       "when looking for matching \"]\" in IPv6 host address in URI: \"...\" (the parts libpq quoted "
	       "are not shown here: they could be part of a password)", "unreadable URI not echoed");
	is_str(main_error("database:\n  conninfo: guestflow\n"), "", "a plain database name");
	is_str(main_error("database:\n  conninfo: \"host=db password=\"\n"), "", "an empty password is none");
	is_str(main_error("database:\n  conninfo: \"host=db sslpassword=Pw9\"\n"), "",
	       "sslpassword accepted when the file's mode is not known");

	/* A main file holding a secret is readable by its owner only. */
	const char *path = write_tmp("secret.yaml", "database:\n  conninfo: \"host=db sslpassword=Pw9\"\n"
	                                            "jobs_dir: /nonexistent-gf\n");
	chmod(path, 0640);
	is_int(gf_config_load(path, &cfg, &err), CONFIG_E, "group-readable file with sslpassword refused");
	char *want = gf_xasprintf("%s:2:13: 'conninfo' holds a secret (libpq keyword sslpassword) but %s is "
	                          "readable by group or others (mode 0640): make it readable by its owner only "
	                          "(chmod 600 %s)", path, path, path);
	is_str(err.text, want, "the file and its mode named");
	free(want);
	chmod(path, 0600);
	gf_config_load(path, &cfg, &err);
	ok(strstr(err.text, "jobs directory '/nonexistent-gf' does not exist") != NULL,
	   "an owner-only file with sslpassword passes the check (%s)", err.text);
	gf_config_free(cfg);
	cfg = NULL;
	path = write_tmp("password.yaml", "database:\n  conninfo: \"host=db password=Pw9\"\n");
	chmod(path, 0604);
	is_int(gf_config_load(path, &cfg, &err), CONFIG_E, "password refused");
	want = gf_xasprintf("%s:2:13: 'conninfo' must not hold a password (the libpq keyword 'password', the "
	                    "password of a URI's user part or its ?password=): libpq reads it from the file named "
	                    "by PGPASSFILE (the systemd credential pgpass), PGPASSWORD or ~/.pgpass; %s is "
	                    "readable by group or others (mode 0604): take that password as known and change it",
	                    path, path);
	is_str(err.text, want, "password refused, the mode named");
	free(want);

	/* SMTP: the password only from a file. */
	is_str(main_error(MAIN_MIN "alerting: {smtp_url: \"smtps://u:Pw9@mail.example\"}\n"),
	       "etc/gf.yaml:3:22: 'smtp_url' must not hold a password (the user:password@ part of the URL): put "
	       "the SMTP password in the file named by alerting.smtp_password_file or in the systemd "
	       "credential smtp-password", "password in smtp_url refused");
	is_str(main_error(MAIN_MIN "alerting: {smtp_url: \"smtp://u@mail\", smtp_user: v}\n"),
	       "etc/gf.yaml:3:50: 'smtp_user' in 'alerting' and the user part of 'smtp_url' both name the "
	       "SMTP user: keep one", "two SMTP users");
	is_str(main_error(MAIN_MIN "alerting: {smtp_url: \"smtp://mail\", smtp_password_file: /p}\n"),
	       "etc/gf.yaml:3:57: 'smtp_password_file' in 'alerting' needs a user: set alerting.smtp_user "
	       "(or the user part of smtp_url)", "password file without a user");
	is_str(main_error(MAIN_MIN "alerting: {smtp_password_file: /p}\n"),
	       "etc/gf.yaml:3:32: 'smtp_password_file' in 'alerting' has no effect without 'smtp_url'",
	       "password file without smtp_url");
	const char *m = MAIN_MIN "alerting:\n  smtp_url: \"smtp://mail.example:587\"\n  smtp_user: gf\n"
	                "  smtp_password_file: /etc/guestflow/smtp-password\n";
	if (is_int(gf_config_parse(m, strlen(m), "etc/gf.yaml", &cfg, &err), 0, "SMTP user and password file")) {
		is_str(cfg->smtp_user, "gf", "alerting.smtp_user");
		is_str(cfg->smtp_password_file, "/etc/guestflow/smtp-password", "alerting.smtp_password_file");
		gf_config_free(cfg);
	}
#undef JOB_HTTP
}

/* partners: each partner's address for the notices of its connections'
 * changes (issue 17 item 5). */
static void test_partners(void)
{
	struct gf_config_error err = { "" };
	struct gf_config *cfg = NULL;
	const char *m = MAIN_MIN "partners:\n  reviewhub:\n    email: \"onboarding@reviewhub.example\"\n"
	                "  upsell_co: {email: ops@upsell.example}\n";
	if (is_int(gf_config_parse(m, strlen(m), "etc/gf.yaml", &cfg, &err), 0, "partners parse")) {
		is_int((int64_t)cfg->n_partners, 2, "two partners");
		is_str(gf_config_partner_email(cfg, "reviewhub"), "onboarding@reviewhub.example", "partners.reviewhub.email");
		is_str(gf_config_partner_email(cfg, "upsell_co"), "ops@upsell.example", "partners.upsell_co.email");
		ok(gf_config_partner_email(cfg, "other") == NULL, "a partner not listed has no address");
		gf_config_free(cfg);
	} else {
		diag("%s", err.text);
	}
	m = MAIN_MIN "partners:\n";
	if (is_int(gf_config_parse(m, strlen(m), "etc/gf.yaml", &cfg, &err), 0, "partners left empty")) {
		is_int((int64_t)cfg->n_partners, 0, "no partners");
		gf_config_free(cfg);
	}
	/* A bad address: the file and line named, the rule said. */
	is_str(main_error(MAIN_MIN "partners:\n  reviewhub:\n    email: \"a@b\\r\\nBcc: x@evil.example\"\n"),
	       "etc/gf.yaml:5:12: 'email' must be an e-mail address (an e-mail address is something@domain, with"
	       " one '@'), got 'a@b\\x0d\\x0aBcc: x@evil.example'", "CR LF in an address refused");
	is_str(main_error(MAIN_MIN "partners:\n  reviewhub:\n    email: \"a@b\\r\\nBcc x\"\n"),
	       "etc/gf.yaml:5:12: 'email' must be an e-mail address (an e-mail address is printable ASCII without"
	       " spaces, control characters (CR, LF) or any of <>(),;:\"\\ (byte 4 is not)), got 'a@b\\x0d\\x0aBcc x'",
	       "control characters in an address refused");
	is_str(main_error(MAIN_MIN "partners:\n  reviewhub: {email: nobody}\n"),
	       "etc/gf.yaml:4:22: 'email' must be an e-mail address (an e-mail address is something@domain, with"
	       " one '@'), got 'nobody'", "no '@'");
	is_str(main_error(MAIN_MIN "partners:\n  reviewhub: {email: \"Ops <ops@x.example>\"}\n"),
	       "etc/gf.yaml:4:22: 'email' must be an e-mail address (an e-mail address is printable ASCII without"
	       " spaces, control characters (CR, LF) or any of <>(),;:\"\\ (byte 4 is not)), got 'Ops <ops@x.example>'",
	       "a display name refused");
	is_str(main_error(MAIN_MIN "partners:\n  reviewhub: {}\n"),
	       "etc/gf.yaml:4:3: missing required key 'email' in 'partners'", "an entry without email");
	is_str(main_error(MAIN_MIN "partners:\n  reviewhub: ops@x.example\n"),
	       "etc/gf.yaml:4:14: 'partners.reviewhub' must be a mapping with keys email, got a single value",
	       "an address without email:");
	is_str(main_error(MAIN_MIN "partners:\n  reviewhub: {email: a@b.example, cc: c@d.example}\n"),
	       "etc/gf.yaml:4:35: unknown key 'cc' in 'partners' (expected one of: email)", "unknown key");
	is_str(main_error(MAIN_MIN "partners:\n  Review Hub: {email: a@b.example}\n"),
	       "etc/gf.yaml:4:3: a partner id in 'partners' must consist of a-z, 0-9, '_' and '-' only, got"
	       " 'Review Hub'", "a partner id that is none");
	is_str(main_error(MAIN_MIN "partners:\n  r: {email: a@b.example}\n  r: {email: c@d.example}\n"),
	       "etc/gf.yaml:5:3: duplicate partner 'r' in 'partners'", "a partner twice");
	is_str(main_error(MAIN_MIN "partners: [a@b.example]\n"),
	       "etc/gf.yaml:3:11: 'partners' must be a mapping from partner id (a-z, 0-9, '_' and '-') to a mapping"
	       " with keys email, got a sequence", "partners not a mapping");
}

static void test_default_path(void)
{
	is_str(gf_config_default_path("/x/y.yaml"), "/x/y.yaml", "default_path: explicit wins");
	setenv("GUESTFLOW_CONFIG", "/env/gf.yaml", 1);
	is_str(gf_config_default_path(NULL), "/env/gf.yaml", "default_path: $GUESTFLOW_CONFIG");
	is_str(gf_config_default_path("/x/y.yaml"), "/x/y.yaml", "default_path: explicit beats env");
	unsetenv("GUESTFLOW_CONFIG");
	is_str(gf_config_default_path(NULL), GF_SYSCONFDIR "/guestflow.yaml", "default_path: built-in");
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 2;
	}
	test_shipped_job();
	test_shipped_main();
	test_load_all();
	test_defaults();
	test_values();
	test_errors();
	test_files();
	test_security_keys();
	test_partners();
	test_default_path();
	cleanup_tmp();
	return done_testing();
}
