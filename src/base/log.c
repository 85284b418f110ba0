/* Logging: one key=value line per event on stderr, journald-friendly. */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/text.h"

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

/* Writes s quoted into d: '"' and '\\' escaped, a newline as \n, other
 * control characters and invalid bytes as \xHH, C1 controls, bidi controls
 * and line separators as \uHHHH, the value of an access_key parameter as
 * ***; with blanks, also the characters a terminal shows as nothing or as
 * a plain space (gf_text_cp_blank) as \uHHHH. Stops at about max bytes, on
 * a whole character, with "...". d holds max + 16 bytes. The result is
 * valid UTF-8 that a terminal shows as it is. */
static void quote(char *d, size_t max, const char *s, bool blanks)
{
	size_t n = 0, len = strlen(s), i = 0, blank_at = SIZE_MAX, blank_to = 0;
	d[n++] = '"';
	while (i < len && n < max) {
		unsigned char c = (unsigned char)s[i];
		size_t vs, ve;
		if (i == blank_at) {
			memcpy(d + n, "***", 3);
			n += 3;
			i = blank_to;
			blank_at = SIZE_MAX;
			continue;
		}
		if (blank_at == SIZE_MAX && (c | 0x20) == 'a' && gf_text_key_param(s + i, len - i, &vs, &ve) && ve > vs) {
			blank_at = i + vs;
			blank_to = i + ve;
		}
		uint32_t cp;
		int l = gf_text_decode(s + i, len - i, &cp);
		if (c == '"' || c == '\\') {
			d[n++] = '\\';
			d[n++] = (char)c;
		} else if (c == '\n') {
			d[n++] = '\\';
			d[n++] = 'n';
		} else if (l < 0) {
			for (int k = 0; k < -l; k++)
				n += (size_t)snprintf(d + n, 8, "\\x%02x", (unsigned char)s[i + (size_t)k]);
			l = -l;
		} else if (cp < 0x80 && gf_text_cp_unsafe(cp)) {
			n += (size_t)snprintf(d + n, 8, "\\x%02x", c);
		} else if (gf_text_cp_unsafe(cp) || (blanks && gf_text_cp_blank(cp))) {
			n += (size_t)snprintf(d + n, 12, "\\u%04x", (unsigned)cp);
		} else {
			memcpy(d + n, s + i, (size_t)l);
			n += (size_t)l;
		}
		i += (size_t)l;
	}
	if (i < len) {
		memcpy(d + n, "...", 3);
		n += 3;
	}
	d[n++] = '"';
	d[n] = '\0';
}

#define Q_LOG_MAX 512
#define Q_TERM_MAX 4096

const char *gf_log_q(const char *s)
{
	/* an invalid sequence of 3 bytes is 12 escaped, plus "..." and '"' */
	static _Thread_local char ring[4][Q_LOG_MAX + 16];
	static _Thread_local unsigned slot;
	if (!s)
		return "\"\"";
	bool plain = *s != '\0';
	for (const unsigned char *p = (const unsigned char *)s; *p && plain; p++)
		if (*p == ' ' || *p == '"' || *p == '=' || *p == '\\' || *p < 0x20 || *p >= 0x7f)
			plain = false;
	if (plain && strlen(s) <= Q_LOG_MAX && !strcasestr(s, "access_key"))
		return s;
	char *d = ring[slot++ % 4];
	quote(d, Q_LOG_MAX, s, false);
	return d;
}

const char *gf_log_qt(const char *s)
{
	static _Thread_local char ring[4][Q_TERM_MAX + 16];
	static _Thread_local unsigned slot;
	if (!s)
		return "\"\"";
	size_t len = strlen(s);
	if (len <= Q_TERM_MAX && gf_text_is_safe(s, len) && !strcasestr(s, "access_key"))
		return s;
	char *d = ring[slot++ % 4];
	quote(d, Q_TERM_MAX, s, false);
	return d;
}

const char *gf_log_qv(const char *s, bool term)
{
	static _Thread_local char ring[4][Q_TERM_MAX + 16];
	static _Thread_local unsigned slot;
	size_t len = s ? strlen(s) : 0;
	bool odd = len > 0 && (strchr(" \t", s[0]) || strchr(" \t", s[len - 1]));
	for (size_t i = 0; i < len && !odd;) {
		uint32_t cp;
		int l = gf_text_decode(s + i, len - i, &cp);
		odd = l > 0 && gf_text_cp_blank(cp);
		i += (size_t)(l < 0 ? -l : l);
	}
	if (!odd)
		return term ? gf_log_qt(s) : gf_log_q(s);
	char *d = ring[slot++ % 4];
	quote(d, Q_TERM_MAX, s, true);
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
