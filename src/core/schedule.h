/* A job's schedule is written once, as 'schedule:' in its job file (issue 18
 * item 4); from there 'guestflow timers' writes the systemd timer drop-ins
 * and the cron file, and check-config compares what is installed with it. */
#ifndef GF_SCHEDULE_H
#define GF_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"

#define GF_TIMER_DROPIN "guestflow-schedule.conf"
/* Where check-config looks by default (and guestflow timers writes). */
#define GF_UNIT_DIR "/etc/systemd/system"
#define GF_CRON_FILE "/etc/cron.d/guestflow"

/* The five cron time fields ("15 3 * * 1-5") of a systemd OnCalendar
 * expression, for the forms cron can say: minutely, hourly, daily, weekly,
 * monthly, yearly/annually, and "[WEEKDAYS] [*-*-*] HH:MM[:00]" (hours and
 * minutes as numbers, comma lists or *; weekdays as names, lists and
 * Mon..Fri ranges). 0, or -EINVAL with why set. */
int gf_schedule_cron(const char *oncalendar, char *out, size_t size, char *why, size_t why_size);

/* Cron time fields with numbers written without leading zeros, single
 * spaces: for comparing two lines' times. */
void gf_schedule_cron_normalize(const char *fields, char *out, size_t size);

/* s for a comment line of a unit or cron file: a copy (caller frees) with
 * every control character as '?', so that no path can start a line. */
char *gf_schedule_comment(const char *s);

/* The text of job's timer drop-in. Caller frees. */
char *gf_schedule_dropin(const struct gf_job *job);

/* The OnCalendar= values systemd would use for guestflow@JOB.timer from the
 * drop-ins in unit_dir/guestflow@JOB.timer.d/ and unit_dir/guestflow@.timer.d/
 * (one list in file name order, an empty value resets): written into out as
 * "a; b" (empty: none). Returns how many, or -ENOENT when neither directory
 * is there. */
int gf_schedule_installed(const char *unit_dir, const char *job, char *out, size_t size);

/* The drop-ins 'guestflow timers' wrote (unit_dir/guestflow@JOB.timer.d/
 * GF_TIMER_DROPIN: a regular file in a directory, no symlink, whose first
 * line is the mark naming a job file in cfg's jobs dir) for jobs cfg does
 * not have: a
 * NULL-terminated array of paths, each and the array for the caller to
 * free; NULL when unit_dir cannot be read. */
char **gf_schedule_stale(const struct gf_config *cfg, const char *unit_dir);

/* Warnings (one line each, on stderr, prefixed "guestflow: warning: ") for
 * every place the installed timers or the cron file disagree with the jobs'
 * schedules; unit_dir and cron_file may not exist. Returns the count. */
int gf_schedule_check(const struct gf_config *cfg, const char *unit_dir, const char *cron_file);

#endif
