/* Small shared helpers: allocation, clocks, number and duration parsing. */
#include "base/util.h"

#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

_Noreturn void gf_oom(void)
{
	static const char msg[] = "guestflow: out of memory\n";
	ssize_t r = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)r;
	abort();
}

void *gf_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		gf_oom();
	return p;
}

void *gf_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		gf_oom();
	return p;
}

void *gf_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		gf_oom();
	return q;
}

char *gf_xstrdup(const char *s)
{
	char *p = strdup(s ? s : "");
	if (!p)
		gf_oom();
	return p;
}

char *gf_xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (!p)
		gf_oom();
	return p;
}

char *gf_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p = NULL;
	va_start(ap, fmt);
	int r = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (r < 0)
		gf_oom();
	return p;
}

static int64_t clock_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t gf_now_mono_ms(void) { return clock_ms(CLOCK_MONOTONIC); }
int64_t gf_now_wall_ms(void) { return clock_ms(CLOCK_REALTIME); }

int gf_parse_int64(const char *s, int64_t *out)
{
	if (!s || !*s || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	char *end = NULL;
	long long v = strtoll(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (end == s || *end != '\0')
		return -EINVAL;
	*out = v;
	return 0;
}

int64_t gf_env_number(const char *name, int64_t min, int64_t max, int64_t def)
{
	const char *s = getenv(name);
	if (!s)
		return def;
	int64_t v = 0;
	if (gf_parse_int64(s, &v) == 0 && v >= min && v <= max)
		return v;
	char why[160];
	snprintf(why, sizeof(why), "must be a whole number from %lld to %lld; using the default %lld",
	         (long long)min, (long long)max, (long long)def);
	gf_warn("env_ignored", "name=%s value=%s msg=%s", name, gf_log_q(s), gf_log_q(why));
	return def;
}

int gf_parse_duration_ms(const char *s, int64_t *ms)
{
	if (!s || !*s)
		return -EINVAL;
	const char *p = s;
	int64_t v = 0;
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	while (isdigit((unsigned char)*p)) {
		if (v > (INT64_MAX - 9) / 10)
			return -ERANGE;
		v = v * 10 + (*p - '0');
		p++;
	}
	int64_t mult;
	if (*p == '\0' || strcmp(p, "s") == 0)
		mult = 1000;
	else if (strcmp(p, "ms") == 0)
		mult = 1;
	else if (strcmp(p, "m") == 0 || strcmp(p, "min") == 0)
		mult = 60 * 1000;
	else if (strcmp(p, "h") == 0)
		mult = 3600 * 1000;
	else if (strcmp(p, "d") == 0)
		mult = 86400 * 1000;
	else
		return -EINVAL;
	if (v > INT64_MAX / mult)
		return -ERANGE;
	*ms = v * mult;
	return 0;
}

int gf_replace_file(const char *path, const char *data, size_t len, mode_t mode)
{
	const char *slash = strrchr(path, '/');
	int dir_len = slash ? (int)(slash - path) : 1;
	_cleanup_free_ char *tmp = gf_xasprintf("%.*s/.%s.XXXXXX", dir_len, slash ? path : ".", slash ? slash + 1 : path);
	int fd = mkstemp(tmp);
	if (fd < 0)
		return -errno;
	int r = 0;
	size_t done = 0;
	if (fchmod(fd, mode) < 0)
		r = -errno;
	while (r == 0 && done < len) {
		ssize_t n = write(fd, data + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = -errno;
		else
			done += (size_t)n;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

int gf_read_file(const char *path, size_t max, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* Room for max + 1 bytes at most: reading past max proves the file too big. */
	size_t limit = max + 1;
	size_t cap = limit < 4096 ? limit : 4096, n = 0;
	char *buf = gf_xmalloc(cap + 1);
	for (;;) {
		if (n == cap) {
			if (cap >= limit)
				break;
			cap = cap * 2 > limit ? limit : cap * 2;
			buf = gf_xrealloc(buf, cap + 1);
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = -errno;
			close(fd);
			free(buf);
			return e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (n > max) {
		free(buf);
		return -GF_E_TOO_BIG;
	}
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	return 0;
}

void gf_set_why(char *why, size_t whylen, const char *fmt, ...)
{
	if (!why || whylen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n < whylen)
		return;
	/* Cut short: never in the middle of a UTF-8 character (the reason
	 * goes to the database and a terminal as text). */
	size_t len = strlen(why), i = len;
	while (i > 0 && ((unsigned char)why[i - 1] & 0xC0) == 0x80 && len - i < 3)
		i--;
	if (i > 0 && (unsigned char)why[i - 1] >= 0xC0) {
		unsigned char lead = (unsigned char)why[i - 1];
		size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
		if (len - (i - 1) < need)
			why[i - 1] = '\0';
	}
}

const char *gf_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case GF_E_CONFIG: return "configuration error";
	case GF_E_DB: return "database error";
	case GF_E_DB_LOST: return "connection to the database lost";
	case GF_E_SCHEMA: return "database schema mismatch";
	case GF_E_DATA: return "bad input data";
	case GF_E_RENDER: return "record could not be rendered";
	case GF_E_REPLY: return "partner reply not understood";
	case GF_E_TOO_BIG: return "too large";
	case GF_E_INTERRUPTED: return "interrupted";
	default: return strerror(err);
	}
}

int gf_read_first_line(const char *path, char **out)
{
	*out = NULL;
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	char *line = NULL;
	size_t cap = 0;
	errno = 0;
	ssize_t n = getline(&line, &cap, f);
	int e = n < 0 && errno ? -errno : 0;
	fclose(f);
	if (e < 0) {
		free(line);
		return e;
	}
	if (n < 0)
		line = gf_xstrdup("");
	line[strcspn(line, "\r\n")] = '\0';
	if (!line[0]) {
		free(line);
		return -ENODATA;
	}
	*out = line;
	return 0;
}

int gf_check_email(const char *s, char *why, size_t whylen)
{
	const char *at = strchr(s, '@');
	if (!at || at == s || !at[1] || strchr(at + 1, '@')) {
		gf_set_why(why, whylen, "an e-mail address is something@domain, with one '@'");
		return -EINVAL;
	}
	if (strlen(s) > 254) {
		gf_set_why(why, whylen, "an e-mail address is at most 254 characters (the longest SMTP carries), got %zu",
		           strlen(s));
		return -EINVAL;
	}
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= 0x20 || *p >= 0x7f || strchr("<>(),;:\"\\", *p)) {
			gf_set_why(why, whylen, "an e-mail address is printable ASCII without spaces, control characters"
			           " (CR, LF) or any of <>(),;:\"\\ (byte %zu is not)", (size_t)(p - (const unsigned char *)s) + 1);
			return -EINVAL;
		}
	return 0;
}
