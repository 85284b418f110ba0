#!/usr/bin/env python3
"""One schedule (issue 18 item 4): a job's time is written once, as
'schedule:' in its job file. 'guestflow timers' writes it into the systemd
timer drop-ins or the cron file, and check-config warns wherever what is
installed disagrees with the job files."""
import os
import shutil
import stat

from gftest import GFTestCase, main


class TimersTest(GFTestCase):

    def setUp(self):
        super().setUp()
        self.units = os.path.join(self.env.dir, 'system')
        os.makedirs(self.units)
        self.cron = os.path.join(self.env.dir, 'cron.d', 'guestflow')
        os.makedirs(os.path.dirname(self.cron))

    def write_jobs(self, **schedules):
        env = self.env
        for f in os.listdir(env.jobs_dir):
            os.unlink(os.path.join(env.jobs_dir, f))
        for name, schedule in schedules.items():
            env.write_config({'schedule': schedule}, job_name=name.replace('_', '-'))

    def dropin(self, job):
        return os.path.join(self.units, f'guestflow@{job}.timer.d', 'guestflow-schedule.conf')

    def check(self):
        r = self.env.gf('check-config', '--unit-dir', self.units, '--cron', self.cron)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [line for line in r.stderr.splitlines() if 'warning:' in line and 'plain http://' not in line]

    def test_timers_write_each_jobs_schedule_and_remove_those_of_jobs_gone(self):
        env = self.env
        self.write_jobs(review_nightly='*-*-* 03:15:00', survey_weekly='Mon *-*-* 06:00:00')
        r = env.gf('timers', '--unit-dir', self.units)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('guestflow@review-nightly.timer: OnCalendar=*-*-* 03:15:00', r.stdout)
        self.assertIn('systemctl daemon-reload', r.stdout)
        with open(self.dropin('survey-weekly'), encoding='utf-8') as f:
            text = f.read()
        self.assertIn('[Timer]\nOnCalendar=\nOnCalendar=Mon *-*-* 06:00:00\n', text)
        self.assertIn("Do not edit: change 'schedule:' there", text)
        self.assertEqual(stat.S_IMODE(os.stat(self.dropin('survey-weekly')).st_mode), 0o644)
        self.assertEqual(self.check(), [])
        # An operator's own drop-in beside ours stays; ours goes with its job.
        with open(os.path.join(os.path.dirname(self.dropin('survey-weekly')), 'local.conf'), 'w') as f:
            f.write('[Timer]\nRandomizedDelaySec=1h\n')
        self.write_jobs(review_nightly='*-*-* 04:00:00')
        self.assertEqual(self.check(), [
            "guestflow: warning: guestflow@review-nightly.timer runs at '*-*-* 03:15:00' "
            f"({self.units}/guestflow@review-nightly.timer.d/), but the job's schedule is '*-*-* 04:00:00' "
            f"({env.jobs_dir}/review-nightly.yaml): run 'guestflow timers'",
            f"guestflow: warning: {self.dropin('survey-weekly')} is for job 'survey-weekly', which is not "
            "configured: run 'guestflow timers' to remove it"])
        r = env.gf('timers', '--unit-dir', self.units)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(self.dropin('survey-weekly') + ': removed (no such job)', r.stdout)
        self.assertFalse(os.path.exists(self.dropin('survey-weekly')))
        self.assertTrue(os.path.exists(os.path.join(os.path.dirname(self.dropin('survey-weekly')), 'local.conf')))
        self.assertEqual(self.check(), [])

    def test_a_timer_enabled_without_a_schedule_and_a_drop_in_edited_by_hand(self):
        env = self.env
        self.write_jobs(review_nightly='daily')
        wants = os.path.join(self.units, 'timers.target.wants')
        os.makedirs(wants)
        os.symlink('/usr/lib/systemd/system/guestflow@.timer', os.path.join(wants, 'guestflow@review-nightly.timer'))
        self.assertEqual(self.check(), [
            'guestflow: warning: guestflow@review-nightly.timer is enabled but has no schedule (no OnCalendar= in '
            f"{self.units}/guestflow@review-nightly.timer.d/): run 'guestflow timers'"])
        self.assertEqual(env.gf('timers', '--unit-dir', self.units).returncode, 0)
        self.assertEqual(self.check(), [])
        # 'systemctl edit' adds an override sorted after ours: it wins, and is noticed.
        with open(os.path.join(os.path.dirname(self.dropin('review-nightly')), 'override.conf'), 'w') as f:
            f.write('[Timer]\nOnCalendar=\nOnCalendar=*-*-* 05:00\n')
        self.assertEqual(len(self.check()), 1)
        self.assertIn("runs at '*-*-* 05:00'", self.check()[0])

    def test_an_invalid_schedule_writes_nothing(self):
        if not shutil.which('systemd-analyze'):
            self.skipTest('systemd-analyze is not installed')
        env = self.env
        self.write_jobs(review_nightly='*-*-* 03:15:00', survey='every night at three')
        r = env.gf('timers', '--unit-dir', self.units)
        self.assertEqual(r.returncode, 78, r.stdout + r.stderr)
        self.assertIn("schedule 'every night at three' is not a systemd calendar expression", r.stderr)
        self.assertIn('survey.yaml', r.stderr)
        self.assertEqual(os.listdir(self.units), [])

    def test_cron_file_from_the_schedules(self):
        env = self.env
        self.write_jobs(review_nightly='*-*-* 03:15:00', survey='Mon..Fri *-*-* 06:30:00')
        r = env.gf('timers', '--cron', self.cron)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.cron, encoding='utf-8') as f:
            lines = [line for line in f.read().splitlines() if line and not line.startswith('#')]
        cfg = os.path.realpath(env.config)
        self.assertIn('15 3 * * *  guestflow  timeout --preserve-status --kill-after=60s 2h guestflow '
                      f"-c '{cfg}' run review-nightly > >(exec logger -t guestflow) 2>&1", lines)
        self.assertIn('30 6 * * 1-5  guestflow  timeout --preserve-status --kill-after=60s 2h guestflow '
                      f"-c '{cfg}' run survey > >(exec logger -t guestflow) 2>&1", lines)
        self.assertEqual(len([line for line in lines if ' purge ' in line or ' log --purge ' in line
                              or ' pull ' in line]), 3)
        self.assertEqual(stat.S_IMODE(os.stat(self.cron).st_mode), 0o644)
        self.assertEqual(self.check(), [])
        # Changed by hand, a job gone, a job also on an enabled timer.
        with open(self.cron, encoding='utf-8') as f:
            text = f.read()
        text = text.replace('15 3 * * *', '20 3 * * *') + (
            '10 1 * * *  guestflow  guestflow run old-job\n')
        with open(self.cron, 'w', encoding='utf-8') as f:
            f.write(text)
        wants = os.path.join(self.units, 'timers.target.wants')
        os.makedirs(wants)
        os.symlink('/usr/lib/systemd/system/guestflow@.timer', os.path.join(wants, 'guestflow@survey.timer'))
        warnings = '\n'.join(self.check())
        lineno = text.splitlines().index([line for line in text.splitlines() if 'run review-nightly' in line][0]) + 1
        self.assertIn(f"{self.cron}:{lineno}: runs job review-nightly at '20 3 * * *', but its schedule '*-*-* 03:15:00'", warnings)
        self.assertIn(f"is '15 3 * * *' in cron: run 'guestflow timers --cron {self.cron}'", warnings)
        self.assertIn("runs job 'old-job', which is not configured", warnings)
        self.assertIn('runs job survey, and so does the enabled guestflow@survey.timer: it runs twice', warnings)

    def test_a_schedule_cron_cannot_say(self):
        env = self.env
        self.write_jobs(review_nightly='*-*-01 03:15:00')
        r = env.gf('timers', '--cron', self.cron)
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn("'*-*-01 03:15:00' has no cron form", r.stderr)
        self.assertIn('review-nightly.yaml', r.stderr)
        self.assertFalse(os.path.exists(self.cron))
        # and check-config says so of a cron line for it
        with open(self.cron, 'w', encoding='utf-8') as f:
            f.write('15 3 1 * *  guestflow  guestflow run review-nightly\n')
        self.assertIn("'*-*-01 03:15:00' has no cron form", '\n'.join(self.check()))

    def test_usage(self):
        env = self.env
        self.assertEqual(env.gf('timers', '--unit-dir', self.units, '--cron', self.cron).returncode, 64)
        self.assertEqual(env.gf('timers', '--frob').returncode, 64)
        self.assertEqual(env.gf('timers', '--unit-dir').returncode, 64)
        self.assertEqual(env.gf('check-config', '--cron').returncode, 64)


if __name__ == '__main__':
    main()
