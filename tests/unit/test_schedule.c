/* core/schedule.c: a job's schedule (systemd OnCalendar) as cron fields, and
 * the drop-in that 'guestflow timers' writes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/schedule.h"
#include "tap.h"

static const char *cron(const char *cal)
{
	static char out[600], why[512];
	if (gf_schedule_cron(cal, out, sizeof(out), why, sizeof(why)) < 0)
		snprintf(out, sizeof(out), "error: %s", why);
	return out;
}

static void test_cron(void)
{
	is_str(cron("*-*-* 03:15:00"), "15 3 * * *", "the shipped schedule");
	is_str(cron("03:15"), "15 3 * * *", "time alone");
	is_str(cron("*-*-* 3:05"), "5 3 * * *", "leading zeros dropped");
	is_str(cron("daily"), "0 0 * * *", "daily");
	is_str(cron("Daily"), "0 0 * * *", "shorthands in any case, as systemd takes them");
	is_str(cron("hourly"), "0 * * * *", "hourly");
	is_str(cron("weekly"), "0 0 * * 1", "weekly: Monday, as systemd");
	is_str(cron("monthly"), "0 0 1 * *", "monthly");
	is_str(cron("yearly"), "0 0 1 1 *", "yearly");
	is_str(cron("Mon..Fri *-*-* 06:30:00"), "30 6 * * 1-5", "weekdays range");
	is_str(cron("Sat,Sun 22:00"), "0 22 * * 6,0", "weekday list");
	is_str(cron("Fri..Sun 01:00"), "0 1 * * 5-7", "range to Sunday: cron's 7");
	is_str(cron("Monday *-*-* 1,13:00"), "0 1,13 * * 1", "full day name, hour list");
	is_str(cron("*-*-* *:15:00"), "15 * * * *", "every hour at :15");
	ok(strncmp(cron("*-*-* 03:15:30"), "error: '*-*-* 03:15:30' has no cron form", 39) == 0, "seconds: %s",
	   cron("*-*-* 03:15:30"));
	ok(strncmp(cron("*-*-01 03:15"), "error:", 6) == 0, "a date: not said in cron by this");
	ok(strncmp(cron("*-*-* 24:00"), "error:", 6) == 0, "hour 24");
	ok(strncmp(cron("*-*-* 03:60"), "error:", 6) == 0, "minute 60");
	ok(strncmp(cron("*-*-* 03:*"), "error:", 6) == 0, "every minute of an hour");
	ok(strncmp(cron("Sun..Mon 03:00"), "error:", 6) == 0, "a range that wraps");
	ok(strncmp(cron("Mo 03:00"), "error:", 6) == 0, "a weekday cut short");
	ok(strncmp(cron("*-*-* 03:15 UTC"), "error:", 6) == 0, "a time zone");
	ok(strncmp(cron("Mon, 03:00"), "error:", 6) == 0, "a list ending in a comma");
	ok(strncmp(cron("*-*-* 3,:00"), "error:", 6) == 0, "an hour list ending in a comma");
	ok(strncmp(cron("*-*-* 0003:00"), "error:", 6) == 0, "four digits");
	ok(strncmp(cron(""), "error:", 6) == 0, "empty");
}

static void test_normalize(void)
{
	char out[64];
	gf_schedule_cron_normalize("15  03 *\t* *", out, sizeof(out));
	is_str(out, "15 3 * * *", "spaces and leading zeros");
	gf_schedule_cron_normalize("0 0 1 * 0", out, sizeof(out));
	is_str(out, "0 0 1 * 0", "a zero stays");
	gf_schedule_cron_normalize("05,07 1-05 * * *", out, sizeof(out));
	is_str(out, "5,7 1-5 * * *", "in lists and ranges");
}

static void test_installed(void)
{
	char dir[] = "/tmp/gf-schedule-XXXXXX", got[256];
	if (!mkdtemp(dir)) {
		ok(false, "mkdtemp");
		return;
	}
	is_int(gf_schedule_installed(dir, "j", got, sizeof(got)), -ENOENT, "no drop-in directory");
	char path[512];
	snprintf(path, sizeof(path), "%s/guestflow@j.timer.d", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/guestflow@j.timer.d/10-a.conf", dir);
	FILE *f = fopen(path, "w");
	fputs("[Timer]\nOnCalendar=daily\n", f);
	fclose(f);
	is_int(gf_schedule_installed(dir, "j", got, sizeof(got)), 1, "one value");
	is_str(got, "daily", "its value");
	snprintf(path, sizeof(path), "%s/guestflow@j.timer.d/20-b.conf", dir);
	f = fopen(path, "w");
	fputs("[Timer]\nOnCalendar = \nOnCalendar= Mon 01:00 \nOnCalendar=Tue 02:00\n", f);
	fclose(f);
	is_int(gf_schedule_installed(dir, "j", got, sizeof(got)), 2, "an empty value resets, in file order");
	is_str(got, "Mon 01:00; Tue 02:00", "the values after the reset");
	struct gf_job job = { .name = "j", .path = "/etc/guestflow/jobs.d/j.yaml", .schedule = "Mon 01:00" };
	char *text = gf_schedule_dropin(&job);
	/* (the text has newlines: not in the TAP line) */
	ok(strstr(text, "[Timer]\nOnCalendar=\nOnCalendar=Mon 01:00\n") != NULL,
	   "the drop-in resets OnCalendar, then sets the job's schedule");
	snprintf(path, sizeof(path), "%s/guestflow@j.timer.d/" GF_TIMER_DROPIN, dir);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	free(text);
	is_int(gf_schedule_installed(dir, "j", got, sizeof(got)), 1, "ours last (g > 2): resets the others");
	is_str(got, "Mon 01:00", "the job's schedule");
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ok(system(cmd) == 0, "cleaned up");
}

int main(void)
{
	test_cron();
	test_normalize();
	test_installed();
	return done_testing();
}
