/* guestflow timers: each job's 'schedule:' written into its systemd timer
 * drop-in (or the cron file), so that the job file is the one place a job's
 * time is written (issue 18 item 4). */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "cli/cmd.h"
#include "gf_config.h"
#include "core/schedule.h"

extern char **environ;

static const char help[] =
	"Usage: guestflow [-c FILE] timers [--unit-dir DIR | --cron FILE]\n"
	"\n"
	"Writes each job's schedule: into the drop-in\n"
	"DIR/guestflow@JOB.timer.d/" GF_TIMER_DROPIN " (DIR: /etc/systemd/system),\n"
	"so that guestflow@JOB.timer runs the job when its job file says, and removes\n"
	"the drop-ins it wrote for jobs no longer configured. Then run\n"
	"'systemctl daemon-reload', and enable and start the timers you want\n"
	"(guestflow@JOB.timer; see guestflow(1)). Each schedule is checked\n"
	"with 'systemd-analyze calendar' first when that is installed; nothing is\n"
	"written when one is invalid (exit 78).\n"
	"\n"
	"  --unit-dir DIR  where the drop-ins go (default /etc/systemd/system)\n"
	"  --cron FILE     for hosts without systemd timers: write the cron file\n"
	"                  (e.g. /etc/cron.d/guestflow) instead, one line per job, and\n"
	"                  the daily purge and pull; a schedule cron cannot say is an\n"
	"                  error (exit 78)\n"
	"\n"
	"check-config warns whenever an installed timer or the cron file disagrees\n"
	"with the job files.\n";

/* 'systemd-analyze calendar SCHEDULE': 0 valid, 1 invalid, -1 not installed. */
static int analyze_calendar(const char *schedule)
{
	char *argv[] = { "systemd-analyze", "calendar", "--", (char *)schedule, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	int r = posix_spawnp(&pid, "systemd-analyze", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return -1;
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
		return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

static int write_dropins(const struct gf_config *cfg, const char *unit_dir)
{
	bool checked = false;
	for (size_t i = 0; i < cfg->n_jobs; i++) {
		const struct gf_job *job = cfg->jobs[i];
		int v = analyze_calendar(job->schedule);
		if (v == 1) {
			fprintf(stderr, "guestflow timers: %s: schedule '%s' is not a systemd calendar expression"
			        " (systemd-analyze calendar refuses it); nothing written\n", job->path, job->schedule);
			return GF_EXIT_CONFIG;
		}
		checked |= v == 0;
	}
	for (size_t i = 0; i < cfg->n_jobs; i++) {
		const struct gf_job *job = cfg->jobs[i];
		_cleanup_free_ char *dir = gf_xasprintf("%s/guestflow@%s.timer.d", unit_dir, job->name);
		_cleanup_free_ char *path = gf_xasprintf("%s/" GF_TIMER_DROPIN, dir);
		_cleanup_free_ char *text = gf_schedule_dropin(job);
		int r = mkdir(dir, 0755) < 0 && errno != EEXIST ? -errno : 0;
		/* a directory of its own, not a symlink to somewhere else */
		struct stat st;
		if (r == 0 && (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode)))
			r = -ENOTDIR;
		if (r == 0)
			r = gf_replace_file(path, text, strlen(text), 0644);
		if (r < 0) {
			fprintf(stderr, "guestflow timers: %s: %s\n", path, strerror(-r));
			return GF_EXIT_CANTCREAT;
		}
		printf("guestflow@%s.timer: OnCalendar=%s (%s)\n", job->name, job->schedule, path);
	}
	/* The drop-ins written for jobs that are gone. */
	_cleanup_free_ char **stale = gf_schedule_stale(cfg, unit_dir);
	for (char **p = stale; p && *p; p++) {
		if (unlink(*p) == 0) {
			printf("%s: removed (no such job)\n", *p);
			*strrchr(*p, '/') = '\0';
			(void)rmdir(*p); /* unless it holds an operator's own drop-ins */
		}
		free(*p);
	}
	if (!checked && cfg->n_jobs)
		printf("(systemd-analyze is not installed: the schedules were not checked)\n");
	printf("now: systemctl daemon-reload; then enable and start the timer of each job to run"
	       " (guestflow@JOB.timer)\n");
	return 0;
}

static int write_cron(const struct gf_config *cfg, const char *config_arg, const char *file)
{
	_cleanup_buf_ struct gf_buf b = GF_BUF_INIT((size_t)1 << 20);
	_cleanup_free_ char *c = config_arg ? gf_xasprintf(" -c %s", config_arg) : gf_xstrdup("");
	_cleanup_free_ char *file_c = gf_schedule_comment(file), *jobs_dir_c = gf_schedule_comment(cfg->jobs_dir);
	gf_buf_printf(&b,
		"# guestflow's jobs for hosts without systemd timers. Written by 'guestflow timers\n"
		"# --cron %s' from the job files' schedule: (%s). Do not edit the\n"
		"# times here: change a job's schedule: and run that command again\n"
		"# ('guestflow check-config' warns when this file and the jobs disagree).\n"
		"# Owned by root, mode 0644, and the file name must stay without a dot, or\n"
		"# cron ignores it. Runs as the system user guestflow; overlapping runs are\n"
		"# harmless. Output goes to syslog (tag guestflow) through a process\n"
		"# substitution, not a pipe, so that the exit status is guestflow's; timeout\n"
		"# bounds a run like the systemd unit (2 h, then SIGTERM; SIGKILL 60 s later).\n"
		"SHELL=/bin/bash\n"
		"PATH=/usr/local/bin:/usr/bin:/bin\n"
		"GUESTFLOW_TRIGGER=cron\n"
		"PGPASSFILE=" GF_SYSCONFDIR "/pgpass\n",
		file_c, jobs_dir_c);
	for (size_t i = 0; i < cfg->n_jobs; i++) {
		const struct gf_job *job = cfg->jobs[i];
		char fields[256], why[512];
		if (gf_schedule_cron(job->schedule, fields, sizeof(fields), why, sizeof(why)) < 0) {
			fprintf(stderr, "guestflow timers: %s: schedule %s; nothing written\n", job->path, why);
			return GF_EXIT_CONFIG;
		}
		_cleanup_free_ char *path_c = gf_schedule_comment(job->path);
		gf_buf_printf(&b, "\n# %s: schedule '%s' (%s)%s\n"
		              "%s  guestflow  timeout --preserve-status --kill-after=60s 2h guestflow%s run %s"
		              " > >(exec logger -t guestflow) 2>&1\n",
		              job->name, job->schedule, path_c, job->enabled ? "" : "; enabled: false, a run does nothing",
		              fields, c, job->name);
	}
	gf_buf_printf(&b,
		"\n# Deliveries past each job's retention.deliveries (and out of its window) and\n"
		"# partner events past its retention.events, and the API-call log past\n"
		"# api_log.retention; then what the partners report\n"
		"# back (history entries, the suppression list).\n"
		"45 4 * * *  guestflow  timeout --preserve-status --kill-after=60s 2h guestflow%s purge"
		" > >(exec logger -t guestflow) 2>&1\n"
		"50 4 * * *  guestflow  timeout --preserve-status --kill-after=60s 2h guestflow%s log --purge"
		" > >(exec logger -t guestflow) 2>&1\n"
		"55 4 * * *  guestflow  timeout --preserve-status --kill-after=60s 2h guestflow%s pull"
		" > >(exec logger -t guestflow) 2>&1\n", c, c, c);
	int r = gf_replace_file(file, gf_buf_str(&b), strlen(gf_buf_str(&b)), 0644);
	if (r < 0) {
		fprintf(stderr, "guestflow timers: %s: %s\n", file, strerror(-r));
		return GF_EXIT_CANTCREAT;
	}
	printf("%s: %zu job%s written\n", file, cfg->n_jobs, cfg->n_jobs == 1 ? "" : "s");
	const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
	if (base[strspn(base, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")])
		fprintf(stderr, "guestflow timers: warning: cron ignores a file in /etc/cron.d whose name has other"
		        " characters than letters, digits, '_' and '-' (such as '%s')\n", base);
	return 0;
}

int gf_cmd_timers(int argc, char **argv, const struct gf_cmd_ctx *ctx)
{
	if (gf_cmd_help(argc, argv, help))
		return 0;
	const char *unit_dir = NULL, *cron = NULL;
	if (gf_cmd_schedule_args(argc, argv, "timers", help, &unit_dir, &cron))
		return GF_EXIT_USAGE;
	if (unit_dir && cron) {
		fprintf(stderr, "guestflow timers: --unit-dir and --cron: one or the other\n%s", help);
		return GF_EXIT_USAGE;
	}
	struct gf_config *cfg = NULL;
	int r = gf_cmd_load_config(ctx, &cfg);
	if (r)
		return r;
	/* The cron lines name the main file when it is not the default one
	 * (cron has no $GUESTFLOW_CONFIG), quoted for the shell; cron itself
	 * would cut the line at a '%'. */
	/* (absolute, but not resolved: a relative jobs_dir is found from the
	 * main file's path as given, symlinks and all) */
	char cwd[PATH_MAX];
	const char *path = gf_config_default_path(ctx->config_path);
	_cleanup_free_ char *config_arg = NULL;
	if (cron && strcmp(path, GF_SYSCONFDIR "/guestflow.yaml") != 0) {
		_cleanup_free_ char *abs = path[0] == '/' ? gf_xstrdup(path)
		                          : getcwd(cwd, sizeof(cwd)) ? gf_xasprintf("%s/%s", cwd, path) : NULL;
		bool bad = !abs || strpbrk(abs, "%'") != NULL;
		for (const char *p = abs; p && *p && !bad; p++)
			bad = (unsigned char)*p < 0x20 || *p == 0x7f;
		if (bad) {
			fprintf(stderr, "guestflow timers: %s: cannot be named in a cron line (%s)\n", path,
			        abs ? "a %, ' or control character in its path" : strerror(errno));
			gf_config_free(cfg);
			return GF_EXIT_CONFIG;
		}
		config_arg = gf_xasprintf("'%s'", abs);
	}
	r = cron ? write_cron(cfg, config_arg, cron) : write_dropins(cfg, unit_dir ? unit_dir : GF_UNIT_DIR);
	gf_config_free(cfg);
	return r;
}
