/* A job's schedule, written once (the job file) and carried from there into
 * systemd timer drop-ins and cron lines; what is installed checked against it. */
#include "core/schedule.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "base/util.h"

/* ---- OnCalendar -> cron ------------------------------------------------------ */

/* "3", "03", "1,13", "*" within lo..hi: the cron field (numbers without
 * leading zeros) or -EINVAL. */
static int cron_numbers(const char *s, int lo, int hi, struct gf_buf *out)
{
	if (strcmp(s, "*") == 0)
		return gf_buf_puts(out, "*");
	const char *p = s;
	while (*p) {
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		long v = 0;
		int digits = 0;
		while (isdigit((unsigned char)*p) && digits < 3) {
			v = v * 10 + (*p++ - '0');
			digits++;
		}
		if (isdigit((unsigned char)*p) || v < lo || v > hi)
			return -EINVAL;
		gf_buf_printf(out, "%s%ld", p - digits == s ? "" : ",", v);
		if (*p == ',' && p[1])
			p++;
		else if (*p)
			return -EINVAL;
	}
	return 0;
}

static int weekday(const char *s, size_t n)
{
	static const char *const names[] = { "sunday", "monday", "tuesday", "wednesday", "thursday", "friday",
		                             "saturday" };
	if (n < 3)
		return -1;
	for (int i = 0; i < 7; i++)
		if ((n == 3 || n == strlen(names[i])) && strncasecmp(s, names[i], n) == 0)
			return i;
	return -1;
}

/* "Mon,Wed..Fri" -> "1,3-5" */
static int cron_weekdays(const char *s, struct gf_buf *out)
{
	bool first = true;
	for (const char *p = s; *p;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const char *dots = memmem(p, n, "..", 2);
		int a, b;
		if (dots) {
			a = weekday(p, (size_t)(dots - p));
			b = weekday(dots + 2, n - (size_t)(dots - p) - 2);
			/* systemd counts Mon..Sun; cron 0 is Sunday, 7 too */
			if (a == 0)
				return -EINVAL;
			if (b == 0)
				b = 7;
			if (a < 0 || b < 0 || a > b)
				return -EINVAL;
		} else {
			a = b = weekday(p, n);
			if (a < 0)
				return -EINVAL;
		}
		if (a == b)
			gf_buf_printf(out, "%s%d", first ? "" : ",", a);
		else
			gf_buf_printf(out, "%s%d-%d", first ? "" : ",", a, b);
		first = false;
		if (!end)
			break;
		p = end + 1;
		if (!*p)
			return -EINVAL;
	}
	return first ? -EINVAL : 0;
}

int gf_schedule_cron(const char *oncalendar, char *out, size_t size, char *why, size_t why_size)
{
	static const struct { const char *name, *cron; } shorthands[] = {
		{ "minutely", "* * * * *" }, { "hourly", "0 * * * *" }, { "daily", "0 0 * * *" },
		{ "weekly", "0 0 * * 1" }, { "monthly", "0 0 1 * *" }, { "yearly", "0 0 1 1 *" },
		{ "annually", "0 0 1 1 *" },
	};
	for (size_t i = 0; i < GF_ARRAY_SIZE(shorthands); i++)
		if (strcasecmp(oncalendar, shorthands[i].name) == 0) {
			snprintf(out, size, "%s", shorthands[i].cron);
			return 0;
		}
	char *tok[4] = { 0 };
	int n = 0;
	_cleanup_free_ char *copy = gf_xstrdup(oncalendar);
	for (char *save = NULL, *t = strtok_r(copy, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (n == 3) {
			n = 4;
			break;
		}
		tok[n++] = t;
	}
	const char *days = NULL, *time = NULL;
	if (n == 1) {
		time = tok[0];
	} else if (n == 2 && strcmp(tok[0], "*-*-*") == 0) {
		time = tok[1];
	} else if (n == 2) {
		days = tok[0];
		time = tok[1];
	} else if (n == 3 && strcmp(tok[1], "*-*-*") == 0) {
		days = tok[0];
		time = tok[2];
	}
	_cleanup_buf_ struct gf_buf hours = GF_BUF_INIT(256), minutes = GF_BUF_INIT(256), dow = GF_BUF_INIT(256);
	char *hh = time ? gf_xstrdup(time) : NULL;
	char *mm = hh ? strchr(hh, ':') : NULL;
	char *ss = mm ? strchr(mm + 1, ':') : NULL;
	if (mm)
		*mm++ = '\0';
	if (ss)
		*ss++ = '\0';
	bool ok = hh && mm && (!ss || strcmp(ss, "00") == 0 || strcmp(ss, "0") == 0) &&
	          cron_numbers(hh, 0, 23, &hours) == 0 && cron_numbers(mm, 0, 59, &minutes) == 0 &&
	          strcmp(mm, "*") != 0 && (!days || cron_weekdays(days, &dow) == 0);
	free(hh);
	if (!ok) {
		gf_set_why(why, why_size, "'%s' has no cron form (cron takes minutely, hourly, daily, weekly, monthly,"
		           " yearly and '[Mon..Fri] *-*-* HH:MM[:00]'); use the systemd timer for it", oncalendar);
		return -EINVAL;
	}
	snprintf(out, size, "%s %s * * %s", gf_buf_str(&minutes), gf_buf_str(&hours), days ? gf_buf_str(&dow) : "*");
	return 0;
}

void gf_schedule_cron_normalize(const char *fields, char *out, size_t size)
{
	size_t o = 0;
	bool space = false, in_num = false;
	for (const char *p = fields; *p && o + 1 < size; p++) {
		if (*p == ' ' || *p == '\t') {
			space = o > 0;
			in_num = false;
			continue;
		}
		if (space && o + 1 < size) {
			out[o++] = ' ';
			space = false;
		}
		/* a leading zero of a number (not the number 0 itself) */
		if (*p == '0' && !in_num && isdigit((unsigned char)p[1]))
			continue;
		in_num = isdigit((unsigned char)*p);
		out[o++] = *p;
	}
	out[o] = '\0';
}

/* ---- systemd drop-ins -------------------------------------------------------- */

char *gf_schedule_comment(const char *s)
{
	char *c = gf_xstrdup(s);
	for (char *p = c; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return c;
}

/* The first line of a drop-in 'guestflow timers' wrote: it names the job
 * and its file, whose directory tells which configuration wrote it. */
#define DROPIN_MARK "# Written by 'guestflow timers' from the schedule of job "

char *gf_schedule_dropin(const struct gf_job *job)
{
	_cleanup_free_ char *path = gf_schedule_comment(job->path);
	return gf_xasprintf(DROPIN_MARK "%s (%s).\n"
	                    "# Do not edit: change 'schedule:' there and run 'guestflow timers' again.\n"
	                    "[Timer]\n"
	                    "OnCalendar=\n"
	                    "OnCalendar=%s\n",
	                    job->name, path, job->schedule);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(strrchr(*(char *const *)a, '/') + 1, strrchr(*(char *const *)b, '/') + 1);
}

/* The *.conf files of dir, as paths, added to v (n of them so far); a name
 * already there (from an earlier, higher-priority dir) is not added. */
static size_t add_confs(const char *dir, char ***v, size_t n)
{
	DIR *d = opendir(dir);
	for (struct dirent *e; d && (e = readdir(d));) {
		size_t l = strlen(e->d_name);
		if (l <= 5 || strcmp(e->d_name + l - 5, ".conf") != 0)
			continue;
		bool seen = false;
		for (size_t i = 0; i < n && !seen; i++)
			seen = strcmp(strrchr((*v)[i], '/') + 1, e->d_name) == 0;
		if (seen)
			continue;
		*v = gf_xrealloc(*v, (n + 1) * sizeof(**v));
		(*v)[n++] = gf_xasprintf("%s/%s", dir, e->d_name);
	}
	if (d)
		closedir(d);
	return n;
}

int gf_schedule_installed(const char *unit_dir, const char *job, char *out, size_t size)
{
	/* As systemd reads them: the drop-ins of the instance and of the
	 * template (guestflow@.timer.d, what 'systemctl edit guestflow@.timer'
	 * writes), one list sorted by file name, the instance's file winning
	 * over a template's of the same name. */
	_cleanup_free_ char *inst = gf_xasprintf("%s/guestflow@%s.timer.d", unit_dir, job);
	_cleanup_free_ char *tmpl = gf_xasprintf("%s/guestflow@.timer.d", unit_dir);
	char **files = NULL;
	size_t n = add_confs(inst, &files, 0);
	n = add_confs(tmpl, &files, n);
	out[0] = '\0';
	struct stat st;
	if (n == 0 && stat(inst, &st) < 0 && stat(tmpl, &st) < 0) {
		free(files);
		return -ENOENT;
	}
	qsort(files, n, sizeof(*files), by_name);
	int count = 0;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *text = NULL;
		size_t text_len;
		if (gf_read_file(files[i], 1 << 20, &text, &text_len) < 0)
			text = NULL;
		free(files[i]);
		for (char *save = NULL, *line = text ? strtok_r(text, "\n", &save) : NULL; line;
		     line = strtok_r(NULL, "\n", &save)) {
			while (isspace((unsigned char)*line))
				line++;
			if (strncmp(line, "OnCalendar", 10) != 0)
				continue;
			char *v = line + 10;
			while (*v == ' ' || *v == '\t')
				v++;
			if (*v++ != '=')
				continue;
			while (*v == ' ' || *v == '\t')
				v++;
			size_t vl = strlen(v);
			while (vl && isspace((unsigned char)v[vl - 1]))
				v[--vl] = '\0';
			if (!*v) {
				count = 0;
				o = 0;
				out[0] = '\0';
				continue;
			}
			int w = snprintf(out + o, size - o, "%s%s", count ? "; " : "", v);
			if (w > 0 && (size_t)w < size - o)
				o += (size_t)w;
			count++;
		}
	}
	free(files);
	return count;
}

char **gf_schedule_stale(const struct gf_config *cfg, const char *unit_dir)
{
	DIR *d = opendir(unit_dir);
	if (!d)
		return NULL;
	size_t n = 0;
	char **out = gf_xcalloc(1, sizeof(*out));
	/* ours: the mark, naming a job file of this configuration's jobs dir */
	_cleanup_free_ char *jobs_dir = gf_schedule_comment(cfg->jobs_dir);
	for (struct dirent *e; (e = readdir(d));) {
		size_t l = strlen(e->d_name);
		/* guestflow@JOB.timer.d, JOB not empty (guestflow@.timer.d is the
		 * template's, the operator's) */
		if (strncmp(e->d_name, "guestflow@", 10) != 0 || l <= 18 || strcmp(e->d_name + l - 8, ".timer.d") != 0)
			continue;
		_cleanup_free_ char *job = gf_xstrndup(e->d_name + 10, l - 18);
		_cleanup_free_ char *dir = gf_xasprintf("%s/%s", unit_dir, e->d_name);
		char *ours = gf_xasprintf("%s/" GF_TIMER_DROPIN, dir);
		struct stat st;
		_cleanup_free_ char *text = NULL;
		size_t len;
		_cleanup_free_ char *mark = gf_xasprintf(DROPIN_MARK "%s (%s/", job, jobs_dir);
		/* never through a symlink, never a file without the mark */
		if (gf_config_find_job(cfg, job) || lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
		    lstat(ours, &st) != 0 || !S_ISREG(st.st_mode) || gf_read_file(ours, 1 << 16, &text, &len) < 0 ||
		    strncmp(text, mark, strlen(mark)) != 0) {
			free(ours);
			continue;
		}
		out = gf_xrealloc(out, (n + 2) * sizeof(*out));
		out[n++] = ours;
		out[n] = NULL;
	}
	closedir(d);
	return out;
}

/* ---- the check --------------------------------------------------------------- */

#define WARN(...) (fprintf(stderr, "guestflow: warning: " __VA_ARGS__), fputc('\n', stderr), warnings++)

static bool timer_enabled(const char *unit_dir, const char *job)
{
	_cleanup_free_ char *link = gf_xasprintf("%s/timers.target.wants/guestflow@%s.timer", unit_dir, job);
	struct stat st;
	return lstat(link, &st) == 0;
}

/* The cron file's lines that run a job: "M H DOM MON DOW USER COMMAND" with
 * "guestflow [-c FILE] run JOB" in COMMAND. */
static int check_cron(const struct gf_config *cfg, const char *unit_dir, const char *cron_file)
{
	int warnings = 0;
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = gf_read_file(cron_file, 1 << 24, &text, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		WARN("%s: cannot be read to compare it with the jobs' schedules: %s", cron_file, gf_strerror(r));
		return warnings;
	}
	if (strlen(text) != len)
		WARN("%s: has a NUL byte; what follows it is not compared with the jobs' schedules", cron_file);
	/* guestflow [-c FILE | -c 'FILE' | --config=FILE ...] run JOB */
	regex_t re;
	if (regcomp(&re, "guestflow([[:space:]]+(-c|--config)([[:space:]]+|=)('[^']*'|\"[^\"]*\"|[^[:space:]]+))?"
	            "[[:space:]]+run[[:space:]]+([^[:space:];&|>)]+)", REG_EXTENDED) != 0)
		return warnings;
	int lineno = 0;
	for (char *line = text, *next; line && *line; line = next) {
		lineno++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		while (isspace((unsigned char)*line))
			line++;
		regmatch_t m[6];
		if (*line == '#' || regexec(&re, line, 6, m, 0) != 0)
			continue;
		/* the five time fields, or cron's @daily and the like */
		static const struct { const char *name, *fields; } at[] = {
			{ "@yearly", "0 0 1 1 *" }, { "@annually", "0 0 1 1 *" }, { "@monthly", "0 0 1 * *" },
			{ "@weekly", "0 0 * * 0" }, { "@daily", "0 0 * * *" }, { "@midnight", "0 0 * * *" },
			{ "@hourly", "0 * * * *" }, { "@reboot", "@reboot" },
		};
		char fields[256] = "";
		const char *p = line;
		size_t o = 0;
		for (size_t i = 0; *line == '@' && i < GF_ARRAY_SIZE(at); i++)
			if (strncmp(line, at[i].name, strlen(at[i].name)) == 0 &&
			    isspace((unsigned char)line[strlen(at[i].name)])) {
				snprintf(fields, sizeof(fields), "%s", at[i].fields);
				p = "";
			}
		for (int f = 0; f < 5 && *p; f++) {
			while (*p == ' ' || *p == '\t')
				p++;
			while (*p && *p != ' ' && *p != '\t' && o + 2 < sizeof(fields))
				fields[o++] = *p++;
			if (f < 4 && o + 1 < sizeof(fields))
				fields[o++] = ' ';
		}
		/* (fields is zero-filled, and o stays below its size) */
		_cleanup_free_ char *name = gf_xstrndup(line + m[5].rm_so, (size_t)(m[5].rm_eo - m[5].rm_so));
		const struct gf_job *job = gf_config_find_job(cfg, name);
		if (!job) {
			WARN("%s:%d: runs job '%s', which is not configured", cron_file, lineno, name);
			continue;
		}
		char want[256], why[512], got_n[256], want_n[256];
		if (gf_schedule_cron(job->schedule, want, sizeof(want), why, sizeof(why)) < 0) {
			WARN("%s:%d: runs job %s at '%s', but its schedule %s: run it from the systemd timer "
			     "(guestflow timers) instead", cron_file, lineno, name, fields, why);
		} else {
			gf_schedule_cron_normalize(fields, got_n, sizeof(got_n));
			gf_schedule_cron_normalize(want, want_n, sizeof(want_n));
			if (strcmp(got_n, want_n) != 0)
				WARN("%s:%d: runs job %s at '%s', but its schedule '%s' (%s) is '%s' in cron: run "
				     "'guestflow timers --cron %s'", cron_file, lineno, name, fields, job->schedule,
				     job->path, want, cron_file);
		}
		if (timer_enabled(unit_dir, name))
			WARN("%s:%d: runs job %s, and so does the enabled guestflow@%s.timer: it runs twice; "
			     "keep one", cron_file, lineno, name, name);
	}
	regfree(&re);
	return warnings;
}

int gf_schedule_check(const struct gf_config *cfg, const char *unit_dir, const char *cron_file)
{
	int warnings = 0;
	for (size_t i = 0; i < cfg->n_jobs; i++) {
		const struct gf_job *job = cfg->jobs[i];
		char got[1024];
		int n = gf_schedule_installed(unit_dir, job->name, got, sizeof(got));
		if (n > 0 && (n != 1 || strcmp(got, job->schedule) != 0))
			WARN("guestflow@%s.timer runs at '%s' (%s/guestflow@%s.timer.d/), but the job's schedule is "
			     "'%s' (%s): run 'guestflow timers'", job->name, got, unit_dir, job->name, job->schedule,
			     job->path);
		else if (n <= 0 && timer_enabled(unit_dir, job->name))
			WARN("guestflow@%s.timer is enabled but has no schedule (no OnCalendar= in %s/guestflow@%s.timer.d/):"
			     " run 'guestflow timers'", job->name, unit_dir, job->name);
	}
	/* Drop-ins left by 'guestflow timers' for a job no longer configured. */
	_cleanup_free_ char **stale = gf_schedule_stale(cfg, unit_dir);
	for (char **p = stale; p && *p; p++) {
		const char *dir = strrchr(*p, '@') + 1;
		WARN("%s is for job '%.*s', which is not configured: run 'guestflow timers' to remove it", *p,
		     (int)(strstr(dir, ".timer.d/") - dir), dir);
		free(*p);
	}
	/* A timer enabled for a job that is not configured: it starts a run
	 * that fails (64) every time. */
	_cleanup_free_ char *wants = gf_xasprintf("%s/timers.target.wants", unit_dir);
	DIR *d = opendir(wants);
	for (struct dirent *e; d && (e = readdir(d));) {
		size_t l = strlen(e->d_name);
		if (strncmp(e->d_name, "guestflow@", 10) != 0 || l <= 16 || strcmp(e->d_name + l - 6, ".timer") != 0)
			continue;
		_cleanup_free_ char *job = gf_xstrndup(e->d_name + 10, l - 16);
		if (!gf_config_find_job(cfg, job))
			WARN("%s/%s: the timer of job '%s' is enabled, but no such job is configured (in %s): disable it"
			     " ('systemctl disable --now %s')", wants, e->d_name, job, cfg->jobs_dir, e->d_name);
	}
	if (d)
		closedir(d);
	return warnings + check_cron(cfg, unit_dir, cron_file);
}
