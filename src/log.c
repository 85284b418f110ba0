/* Logging: one key=value line per event on stderr, journald-friendly. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "buf.h"

static enum gf_log_level cur_level = GF_LOG_INFO;
static char ctx_job[128];
static int64_t ctx_run_id;
static int want_ts = -1;

void gf_log_set_level(enum gf_log_level level) { cur_level = level; }
enum gf_log_level gf_log_get_level(void) { return cur_level; }

static const char *const level_names[] = { "error", "warn", "info", "debug" };

int gf_log_parse_level(const char *s, enum gf_log_level *out)
{
	for (size_t i = 0; i < GF_ARRAY_SIZE(level_names); i++)
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum gf_log_level)i;
			return 0;
		}
	return -EINVAL;
}

void gf_log_set_context(const char *job, int64_t run_id)
{
	snprintf(ctx_job, sizeof(ctx_job), "%s", job ? job : "");
	ctx_run_id = run_id;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *p)
{
	if (p[0] < 0x80)
		return 1;
	size_t n = p[0] >= 0xF0 && p[0] <= 0xF4 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC2 && p[0] < 0xE0 ? 2 : 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	return n;
}

const char *gf_log_q(const char *s)
{
	static _Thread_local char ring[4][600];
	static _Thread_local unsigned slot;
	if (!s)
		return "\"\"";
	bool plain = *s != '\0';
	for (const unsigned char *p = (const unsigned char *)s; *p && plain; p++)
		if (*p == ' ' || *p == '"' || *p == '=' || *p == '\\' || *p < 0x20 || *p >= 0x7f)
			plain = false;
	if (plain && strlen(s) <= 512)
		return s;
	char *d = ring[slot++ % 4];
	size_t n = 0;
	const unsigned char *p = (const unsigned char *)s;
	d[n++] = '"';
	/* Escape what is not printable text, never split a character: the
	 * result is valid UTF-8 whatever s holds. */
	while (*p && n < 512) {
		unsigned char c = *p;
		size_t len = utf8_len(p);
		if (c == '"' || c == '\\') {
			d[n++] = '\\';
			d[n++] = (char)c;
			p++;
		} else if (c == '\n') {
			d[n++] = '\\';
			d[n++] = 'n';
			p++;
		} else if (c < 0x20 || c == 0x7f || len == 0) {
			n += (size_t)snprintf(d + n, 8, "\\x%02x", c);
			p++;
		} else {
			memcpy(d + n, p, len);
			n += len;
			p += len;
		}
	}
	if (*p) {
		memcpy(d + n, "...", 3);
		n += 3;
	}
	d[n++] = '"';
	d[n] = '\0';
	return d;
}

void gf_log(enum gf_log_level level, const char *event, const char *fields, ...)
{
	if (level > cur_level)
		return;
	if (want_ts < 0)
		want_ts = getenv("JOURNAL_STREAM") == NULL;
	struct gf_buf b = GF_BUF_INIT(16384);
	if (want_ts) {
		char ts[40];
		struct timespec now;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &now);
		gmtime_r(&now.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		gf_buf_printf(&b, "ts=%s.%03ldZ ", ts, now.tv_nsec / 1000000);
	}
	gf_buf_printf(&b, "level=%s", level_names[level]);
	if (ctx_run_id > 0)
		gf_buf_printf(&b, " run_id=%lld", (long long)ctx_run_id);
	if (ctx_job[0])
		gf_buf_printf(&b, " job=%s", gf_log_q(ctx_job));
	gf_buf_printf(&b, " event=%s", event);
	if (fields && *fields) {
		va_list ap;
		va_start(ap, fields);
		gf_buf_puts(&b, " ");
		gf_buf_vprintf(&b, fields, ap);
		va_end(ap);
	}
	gf_buf_puts(&b, "\n");
	fputs(gf_buf_str(&b), stderr);
	fflush(stderr);
	gf_buf_free(&b);
}
