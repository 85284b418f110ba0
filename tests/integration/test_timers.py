#!/usr/bin/env python3
"""One schedule (issue 18 item 4): a job's time is written once, as
'schedule:' in its job file. 'guestflow timers' writes it into the systemd
timer drop-ins or the cron file, and check-config warns wherever what is
installed disagrees with the job files."""
import os
import shutil
import stat
import subprocess

from gftest import GUESTFLOW, GFTestCase, main


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
        # (the timers' and the cron file's warnings: not plain http://, nor
        # the jobs of this test sending to one partner, which it means)
        return [line for line in r.stderr.splitlines()
                if 'warning:' in line and 'plain http://' not in line and 'both send to partner' not in line]

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

    def test_red_team_drop_ins(self):
        """What 'systemctl edit guestflow@.timer' writes counts (systemd merges
        template and instance drop-ins by file name); an enabled timer of a
        job that is gone is noticed; timers never writes or deletes through a
        symlink, never deletes the template's, another configuration's or an
        unmarked file."""
        env = self.env
        self.write_jobs(review_nightly='*-*-* 03:15:00')
        self.assertEqual(env.gf('timers', '--unit-dir', self.units).returncode, 0)
        tmpl = os.path.join(self.units, 'guestflow@.timer.d')
        os.makedirs(tmpl)
        with open(os.path.join(tmpl, 'override.conf'), 'w') as f:
            f.write('[Timer]\nOnCalendar=\nOnCalendar=*-*-* 02:00:00\n')
        self.assertIn("runs at '*-*-* 02:00:00'", '\n'.join(self.check()))
        os.unlink(os.path.join(tmpl, 'override.conf'))
        # the template's own directory holding a file of our name: not a job ''
        with open(os.path.join(tmpl, 'guestflow-schedule.conf'), 'w') as f:
            f.write('[Timer]\nAccuracySec=1s\n')
        wants = os.path.join(self.units, 'timers.target.wants')
        os.makedirs(wants)
        os.symlink('/usr/lib/systemd/system/guestflow@.timer', os.path.join(wants, 'guestflow@gone.timer'))
        self.assertEqual(self.check(), [
            f"guestflow: warning: {wants}/guestflow@gone.timer: the timer of job 'gone' is enabled, but no such job"
            f" is configured (in {env.jobs_dir}): disable it ('systemctl disable --now guestflow@gone.timer')"])
        # stale candidates: a symlink to a victim's directory, an unmarked
        # file, another configuration's drop-in; none may go
        victim = os.path.join(env.dir, 'victim')
        os.makedirs(victim)
        with open(os.path.join(victim, 'guestflow-schedule.conf'), 'w') as f:
            f.write(f"# Written by 'guestflow timers' from the schedule of job gone ({env.jobs_dir}/gone.yaml).\n")
        os.symlink(victim, os.path.join(self.units, 'guestflow@gone.timer.d'))
        for job, first in (('mine', '[Timer]\n'),
                           ('other', "# Written by 'guestflow timers' from the schedule of job other"
                                     " (/etc/elsewhere/jobs.d/other.yaml).\n")):
            os.makedirs(os.path.dirname(self.dropin(job)))
            with open(self.dropin(job), 'w') as f:
                f.write(first + 'OnCalendar=daily\n')
        r = env.gf('timers', '--unit-dir', self.units)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn('removed', r.stdout)
        for path in (os.path.join(victim, 'guestflow-schedule.conf'), self.dropin('mine'), self.dropin('other'),
                     os.path.join(tmpl, 'guestflow-schedule.conf')):
            self.assertTrue(os.path.exists(path), path)
        # writing through a symlinked directory: refused
        os.symlink(victim, os.path.join(self.units, 'guestflow@survey.timer.d'))
        self.write_jobs(review_nightly='*-*-* 03:15:00', survey='daily')
        r = env.gf('timers', '--unit-dir', self.units)
        self.assertEqual(r.returncode, 73, r.stdout + r.stderr)
        self.assertIn('guestflow@survey.timer.d/guestflow-schedule.conf: Not a directory', r.stderr)
        with open(os.path.join(victim, 'guestflow-schedule.conf')) as f:
            self.assertNotIn('OnCalendar', f.read())

    def test_red_team_paths_in_comments_and_cron_lines(self):
        """A new line in a path cannot start a line of the cron file or the
        drop-in; the cron lines name the main file as given (a relative
        jobs_dir follows it through a symlink); check-config reads the -c
        forms timers writes, and cron's @daily."""
        env = self.env
        self.write_jobs(review_nightly='*-*-* 03:15:00')
        evil = os.path.join(env.dir, 'j\n* * * * * root touch /tmp/gf-cron-pwned\n#')
        os.makedirs(evil)
        shutil.copy(os.path.join(env.jobs_dir, 'review-nightly.yaml'), evil)
        with open(env.config, encoding='utf-8') as f:
            text = f.read()
        self.assertIn('jobs_dir: "jobs.d"', text)
        with open(env.config, 'w', encoding='utf-8') as f:
            f.write(text.replace('jobs_dir: "jobs.d"', 'jobs_dir: "' + evil.replace('\n', '\\n') + '"'))
        self.assertEqual(env.gf('timers', '--cron', self.cron).returncode, 0)
        self.assertEqual(env.gf('timers', '--unit-dir', self.units).returncode, 0)
        for path in (self.cron, self.dropin('review-nightly')):
            with open(path, encoding='utf-8') as f:
                lines = f.read().splitlines()
            self.assertEqual([line for line in lines if 'gf-cron-pwned' in line and not line.startswith('#')], [],
                             path)
        # the main file through a symlinked directory, its jobs_dir relative
        real = os.path.join(env.dir, 'real')
        os.makedirs(os.path.join(real, 'jobs.d'))
        link = os.path.join(env.dir, 'link')
        os.symlink(real, link)
        with open(os.path.join(real, 'g.yaml'), 'w', encoding='utf-8') as f:
            f.write(text)
        shutil.copy(os.path.join(evil, 'review-nightly.yaml'), os.path.join(real, 'jobs.d'))
        r = subprocess.run([GUESTFLOW, '-c', os.path.join(link, 'g.yaml'), 'timers', '--cron', self.cron],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.cron, encoding='utf-8') as f:
            self.assertIn(f"guestflow -c '{link}/g.yaml' run review-nightly", f.read())
        # check-config reads -c 'with space' and --config=, and @daily
        for line, warned in ((f"15 3 * * *  guestflow  guestflow -c '{env.dir}/a b.yaml' run review-nightly", False),
                             ("20 3 * * *  guestflow  guestflow -c '/x y/g.yaml' run review-nightly", True),
                             ("20 3 * * *  guestflow  guestflow --config=/x/g.yaml run review-nightly", True),
                             ('@daily guestflow guestflow run review-nightly', True)):
            with open(self.cron, 'w', encoding='utf-8') as f:
                f.write(line + '\n')
            r = env.gf('check-config', '--unit-dir', self.units, '--cron', self.cron)
            self.assertEqual('runs job review-nightly at' in r.stderr, warned, (line, r.stderr))
        self.write_jobs(review_nightly='daily')
        r = env.gf('check-config', '--unit-dir', self.units, '--cron', self.cron)
        self.assertNotIn('runs job review-nightly at', r.stderr)   # @daily is daily
        # a cron file name cron ignores
        r = env.gf('timers', '--cron', os.path.join(env.dir, 'cron.d', 'guestflow.cron'))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("cron ignores a file in /etc/cron.d whose name has other characters", r.stderr)

    def test_usage(self):
        env = self.env
        self.assertEqual(env.gf('timers', '--unit-dir', self.units, '--cron', self.cron).returncode, 64)
        self.assertEqual(env.gf('timers', '--frob').returncode, 64)
        self.assertEqual(env.gf('timers', '--unit-dir').returncode, 64)
        self.assertEqual(env.gf('check-config', '--cron').returncode, 64)


if __name__ == '__main__':
    main()
