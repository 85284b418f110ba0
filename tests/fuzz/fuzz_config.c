/* Fuzz target: the YAML loader, each input parsed as a job file (gf_job_parse) and as the main file (gf_config_parse). */
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/config.h"
#include "fuzz.h"
#include "base/util.h"

/* What gf_job_load()/gf_config_load() accept from a file. */
#define FUZZ_MAX_INPUT ((size_t)1024 * 1024)
#define DURATION_MAX_MS ((int64_t)3650 * 86400 * 1000)

#define JOB_PATH "/etc/guestflow/jobs.d/review-nightly.yaml"
#define JOB_NAME "review-nightly"
#define MAIN_DIR "/etc/guestflow"
#define MAIN_PATH MAIN_DIR "/guestflow.yaml"

static bool nonempty(const char *s)
{
	return s && *s;
}

static bool digits_then(const char **p, char c)
{
	const char *s = *p;
	if (*s < '1' || *s > '9')   /* lines and columns are 1-based */
		return false;
	while (*s >= '0' && *s <= '9')
		s++;
	if (*s != c)
		return false;
	*p = s + 1;
	return true;
}

/* A failure: -GF_E_CONFIG and "PATH:LINE:COLUMN: message". */
static void check_error(int r, const struct gf_config_error *err, const char *path)
{
	size_t n = strlen(path);
	const char *p = err->text + n + 1;

	FUZZ_CHECK(r == -GF_E_CONFIG, "error %d", r);
	FUZZ_CHECK(memchr(err->text, '\0', sizeof(err->text)) != NULL, "unterminated error text");
	FUZZ_CHECK(strncmp(err->text, path, n) == 0 && err->text[n] == ':', "'%s'", err->text);
	FUZZ_CHECK(digits_then(&p, ':') && digits_then(&p, ':') && p[0] == ' ' && p[1], "'%s'", err->text);
}

static void check_duration(const char *what, int64_t ms, int64_t min)
{
	FUZZ_CHECK(ms >= min && ms <= DURATION_MAX_MS, "%s = %lld", what, (long long)ms);
}

/* A job the loader accepted must hold what config.h promises. */
static void check_job(const struct gf_job *j, const char *path)
{
	FUZZ_CHECK(j->path && strcmp(j->path, path) == 0, "path '%s'", j->path ? j->path : "(null)");
	FUZZ_CHECK(nonempty(j->name) && strlen(j->name) <= 64
	           && strspn(j->name, "abcdefghijklmnopqrstuvwxyz0123456789_-") == strlen(j->name),
	           "name '%s'", j->name ? j->name : "(null)");
	FUZZ_CHECK(nonempty(j->partner), "partner");
	FUZZ_CHECK(j->format && strcmp(j->format, "review-xml") == 0, "format");
	FUZZ_CHECK(j->endpoint && (strncmp(j->endpoint, "https://", 8) == 0
	                           || strncmp(j->endpoint, "http://", 7) == 0)
	           && !strpbrk(j->endpoint, "?# \t\r\n"), "endpoint '%s'",
	           j->endpoint ? j->endpoint : "(null)");
	FUZZ_CHECK(strncmp(j->endpoint, "https://", 8) == 0 || j->allow_insecure_http,
	           "plain http:// endpoint without allow_insecure_http");
	FUZZ_CHECK(!j->no_proxy || (j->proxy && *j->no_proxy && !strchr(j->no_proxy, ' ')),
	           "http.no_proxy without a proxy, empty or with spaces");
	FUZZ_CHECK(!j->proxy || !strchr(j->proxy, '@'), "http.proxy with credentials");
	FUZZ_CHECK(nonempty(j->schedule), "schedule");
	FUZZ_CHECK(nonempty(j->history_message), "history.message");
	FUZZ_CHECK(!j->ca_file || *j->ca_file, "http.ca_file is empty");
	FUZZ_CHECK(j->default_language && strlen(j->default_language) == 2
	           && j->default_language[0] >= 'a' && j->default_language[0] <= 'z'
	           && j->default_language[1] >= 'a' && j->default_language[1] <= 'z',
	           "default_language");
	FUZZ_CHECK(j->max_records >= 1 && j->max_records <= 10000, "max_records %d", j->max_records);
	FUZZ_CHECK(j->in_flight >= 1 && j->in_flight <= 64, "in_flight %d", j->in_flight);
	FUZZ_CHECK(j->compress == GF_COMPRESS_NONE || j->compress == GF_COMPRESS_GZIP, "compress");
	FUZZ_CHECK(j->gzip_level >= 1 && j->gzip_level <= 9, "gzip_level %d", j->gzip_level);
	FUZZ_CHECK(j->low_speed_limit >= 0 && j->low_speed_limit <= INT32_MAX, "low_speed_limit");
	FUZZ_CHECK(j->max_reply_bytes >= 1024 && j->max_reply_bytes <= 67108864, "max_reply_bytes");
	FUZZ_CHECK(j->max_attempts >= 1 && j->max_attempts <= 100, "max_attempts %d", j->max_attempts);
	check_duration("window", j->window_ms, 1);
	check_duration("connect_timeout", j->connect_timeout_ms, 1);
	check_duration("timeout", j->timeout_ms, 1);
	check_duration("low_speed_time", j->low_speed_time_ms, 1);
	check_duration("backoff_initial", j->backoff_initial_ms, 1);
	check_duration("backoff_max", j->backoff_max_ms, j->backoff_initial_ms);
	check_duration("retry_after_max", j->retry_after_max_ms, 1);
	check_duration("linger", j->linger_ms, 0);
	check_duration("lease", j->lease_ms, 10000);
	FUZZ_CHECK(j->lease_ms > j->timeout_ms + j->connect_timeout_ms, "lease %lld not longer "
	           "than the http timeouts", (long long)j->lease_ms);
	check_duration("stop_timeout", j->stop_timeout_ms, 0);
}

static void fuzz_job(const char *data, size_t len)
{
	struct gf_config_error err;
	struct gf_job sentinel, *job = &sentinel;

	int r = gf_job_parse(data, len, JOB_PATH, NULL, &job, &err);
	if (r < 0) {
		FUZZ_CHECK(job == &sentinel, "*out set on failure");
		check_error(r, &err, JOB_PATH);
		return;
	}
	FUZZ_CHECK(job && job != &sentinel, "*out not set on success");
	check_job(job, JOB_PATH);

	/* The expected name changes nothing but the name check. */
	struct gf_job *again = &sentinel;
	bool match = strcmp(job->name, JOB_NAME) == 0;
	r = gf_job_parse(data, len, JOB_PATH, JOB_NAME, &again, &err);
	FUZZ_CHECK((r == 0) == match, "name '%s', hint " JOB_NAME ": %d %s", job->name, r,
	           r < 0 ? err.text : "");
	if (r < 0) {
		FUZZ_CHECK(again == &sentinel, "*out set on failure");
		check_error(r, &err, JOB_PATH);
	} else {
		check_job(again, JOB_PATH);
		gf_job_free(again);
	}
	gf_job_free(job);
}

static void check_config(const struct gf_config *cfg, const char *path)
{
	FUZZ_CHECK(cfg->path && strcmp(cfg->path, path) == 0, "path");
	FUZZ_CHECK(nonempty(cfg->conninfo), "conninfo");
	/* A password in conninfo is refused, in every form libpq reads. */
	PQconninfoOption *opts = PQconninfoParse(cfg->conninfo, NULL);
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		FUZZ_CHECK(strcmp(o->keyword, "password") != 0 || !o->val || !*o->val, "password in conninfo");
	PQconninfoFree(opts);
	FUZZ_CHECK(cfg->smtp_url || (!cfg->smtp_user && !cfg->smtp_password_file),
	           "SMTP credentials without smtp_url");
	FUZZ_CHECK(nonempty(cfg->jobs_dir), "jobs_dir");
	FUZZ_CHECK(cfg->log_level >= GF_LOG_ERROR && cfg->log_level <= GF_LOG_DEBUG, "log_level");
	FUZZ_CHECK(cfg->jobs == NULL && cfg->n_jobs == 0, "jobs loaded by gf_config_parse");
}

static void fuzz_main(const char *data, size_t len)
{
	struct gf_config_error err;
	struct gf_config sentinel, *cfg = &sentinel;

	int r = gf_config_parse(data, len, MAIN_PATH, &cfg, &err);
	if (r < 0) {
		FUZZ_CHECK(cfg == &sentinel, "*out set on failure");
		check_error(r, &err, MAIN_PATH);
		return;
	}
	FUZZ_CHECK(cfg && cfg != &sentinel, "*out not set on success");
	check_config(cfg, MAIN_PATH);
	FUZZ_CHECK(cfg->jobs_dir[0] == '/', "jobs_dir '%s' not resolved against " MAIN_DIR,
	           cfg->jobs_dir);

	/* Without a directory in the path, jobs_dir stays as written; with one, a
	 * relative jobs_dir is resolved against it. */
	struct gf_config *bare = &sentinel;
	r = gf_config_parse(data, len, "guestflow.yaml", &bare, &err);
	FUZZ_CHECK(r == 0, "fails only without a directory in the path: %s", err.text);
	check_config(bare, "guestflow.yaml");
	if (bare->jobs_dir[0] == '/')
		FUZZ_CHECK(strcmp(cfg->jobs_dir, bare->jobs_dir) == 0, "'%s' vs '%s'",
		           cfg->jobs_dir, bare->jobs_dir);
	else
		FUZZ_CHECK(strncmp(cfg->jobs_dir, MAIN_DIR "/", sizeof(MAIN_DIR)) == 0
		           && strcmp(cfg->jobs_dir + sizeof(MAIN_DIR), bare->jobs_dir) == 0,
		           "'%s' vs '%s'", cfg->jobs_dir, bare->jobs_dir);
	gf_config_free(bare);
	gf_config_free(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_MAX_INPUT)
		return 0;
	fuzz_job((const char *)data, size);
	fuzz_main((const char *)data, size);
	return 0;
}
