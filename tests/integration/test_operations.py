#!/usr/bin/env python3
"""Operating guestflow: explain, run --dry-run / --limit, status, log."""
import collections
import json
import os
import re
import socket
import subprocess
import urllib.parse

from gftest import XSD, GFTestCase, add_booking, add_many, hold_in_session, main, proc_identity
from test_poison_engine import view_with


class OperationsTest(GFTestCase):

    def job_tables(self):
        """The tables of the guestflow schema with a job column (of a job's record)."""
        tables = [t for (t,) in self.env.psql(
            "SELECT c.relname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'guestflow' AND c.relkind = 'r' AND a.attname = 'job' AND NOT a.attisdropped")]
        self.assertGreaterEqual(len(tables), 8, tables)
        return tables

    def rename(self, old, new, *extra, expect, says=None):
        r = self.env.gf('db', 'rename-job', old, new, *extra)
        self.assertEqual(r.returncode, expect, r.stdout + r.stderr)
        if says:
            self.assertIn(says, r.stderr)
        return r

    def test_db_rename_job_carries_the_record_over(self):
        """A job renamed with its record: its next run sends only what is new,
        nothing is left under the old name, and each refusal says why."""
        env = self.env
        add_many(env, 20, ['P001', 'P002'])
        self.run_job(expect=0)
        r = env.gf('contact', 'add', 'ops@example.org', '--role', 'alert', '--job', 'review-nightly')
        self.assertEqual(r.returncode, 0, r.stderr)
        env.write_config(job_name='nightly-reviews')
        self.rename('review-nightly', 'nightly-reviews', expect=78, says="'review-nightly' is still in the configuration")
        os.remove(os.path.join(env.jobs_dir, 'review-nightly.yaml'))
        self.rename('review-nightly', 'no-such-job', expect=78, says="no job 'no-such-job'")
        # purge says whose record it cannot reach
        r = env.gf('purge')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr, r"job 'review-nightly' ran here \(1 run, the last on \d{4}-\d\d-\d\d\) and is no job"
                                   r" of .*jobs\.d: its record is never purged; if it was renamed: guestflow db"
                                   r" rename-job review-nightly NEW")

        # Arguments.
        r = env.gf('db', 'rename-job', 'review-nightly', 'review-nightly')
        self.assertEqual(r.returncode, 64, r.stderr)
        self.assertIn("OLD and NEW are the same name ('review-nightly')", r.stderr)
        r = env.gf('db', 'rename-job', 'review-nightly', '--bogus', 'nightly-reviews')
        self.assertEqual(r.returncode, 64, r.stderr)
        self.assertIn("unexpected argument '--bogus'", r.stderr)

        # A run of the old job that has not recorded its end, its process
        # alive here: refused, --force or not.
        me = os.getpid()
        env.psql("INSERT INTO guestflow.runs (job, host, pid, process)"
                 f" VALUES ('review-nightly', '{socket.gethostname()}', {me}, '{proc_identity(me)}')")
        self.rename('review-nightly', 'nightly-reviews', expect=75, says='its process is still running on this host')
        self.rename('--force', 'review-nightly', 'nightly-reviews', expect=75, says='still running on this host')
        # In another PID namespace (a container of the same host name): unknown.
        env.psql(f"UPDATE guestflow.runs SET process = '{proc_identity(me, ns='pid:[1]')}' WHERE finished_at IS NULL")
        self.rename('review-nightly', 'nightly-reviews', expect=75, says='(another host, or another PID namespace)')
        # Another process of that pid (started at another tick): that run's is gone.
        env.psql(f"UPDATE guestflow.runs SET process = '{proc_identity(me, ticks='1')}' WHERE finished_at IS NULL")
        # On another host: only --force says it died.
        env.psql("INSERT INTO guestflow.runs (job, host, pid) VALUES ('review-nightly', 'elsewhere.example', 4242)")
        self.rename('review-nightly', 'nightly-reviews', expect=75, says='(host elsewhere.example, pid 4242')
        env.psql("DELETE FROM guestflow.runs WHERE host = 'elsewhere.example'")
        # Its process gone: not in the way.
        dead = subprocess.Popen(['true'])
        dead.wait()
        env.psql(f"UPDATE guestflow.runs SET pid = {dead.pid} WHERE finished_at IS NULL")
        # A batch under a lease: refused, --force or not.
        env.psql("UPDATE guestflow.batches SET state = 'open', lease_until = now() + interval '5 min'"
                 " WHERE id = (SELECT min(id) FROM guestflow.batches)")
        self.rename('review-nightly', 'nightly-reviews', '--force', expect=75, says='is under a lease until')
        env.psql("UPDATE guestflow.batches SET state = 'done', lease_until = NULL WHERE lease_until IS NOT NULL")
        # The new name has run already.
        env.psql("INSERT INTO guestflow.runs (job, finished_at) VALUES ('nightly-reviews', now())")
        self.rename('review-nightly', 'nightly-reviews', expect=65,
                    says="'nightly-reviews' has run already (guestflow.runs holds its rows)")
        env.psql("DELETE FROM guestflow.runs WHERE job = 'nightly-reviews'")
        # A job of another partner is a new job.
        env.write_config(job_overrides={'partner': 'otherhub'}, job_name='elsewhere')
        self.rename('review-nightly', 'elsewhere', expect=65, says='sent to partner reviewhub, job')
        os.remove(os.path.join(env.jobs_dir, 'elsewhere.yaml'))
        # Another session holding the deliveries: not waited for long.
        release = hold_in_session(self, env, 'LOCK TABLE guestflow.deliveries IN ROW EXCLUSIVE MODE')
        self.rename('review-nightly', 'nightly-reviews', expect=75,
                    says="another session has held guestflow.deliveries or guestflow.runs, or a row of the record of"
                         " 'review-nightly', for more than 5 seconds")
        release()
        # A row of the record held (its update waited for): the same.
        release = hold_in_session(self, env, "SELECT id FROM guestflow.runs WHERE job = 'review-nightly' FOR UPDATE")
        self.rename('review-nightly', 'nightly-reviews', expect=75, says='for more than 5 seconds')
        release()
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries WHERE job = 'review-nightly'"), '20',
                         'a refusal changes nothing')
        # What names the new job without its having run is merged: an alert
        # raised for every job, a pulled event, a contact, a connection test.
        for job in ('review-nightly', 'nightly-reviews'):
            env.psql("INSERT INTO guestflow.alert_events (job, kind, message)"
                     f" VALUES ('{job}', 'failed_runs', 'raised for {job}')")
        env.psql("INSERT INTO guestflow.partner_events (connection_id, job, booking_no, type)"
                 " SELECT id, 'nightly-reviews', 'B-1', 'invited' FROM guestflow.connections WHERE property_id = 'P001'")
        env.psql("INSERT INTO guestflow.api_calls (job, url, outcome) VALUES ('nightly-reviews', 'http://x', 'ok')")
        r = env.gf('contact', 'add', 'ops@example.org', '--role', 'alert', '--job', 'nightly-reviews')
        self.assertEqual(r.returncode, 0, r.stderr)

        r = self.rename('review-nightly', 'nightly-reviews', expect=0)
        self.assertIn("renamed job 'review-nightly' to 'nightly-reviews':", r.stdout)
        self.assertIn('deliveries 20', r.stdout)
        tables = self.job_tables()
        for t in tables:
            self.assertEqual(env.scalar(f"SELECT count(*) FROM guestflow.{t} WHERE job = 'review-nightly'"), '0', t)
            self.assertIn(f' {t} ', r.stdout + ',')
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.contacts WHERE job = 'nightly-reviews'"), '1',
                         'the same contact once')
        self.assertEqual(env.psql("SELECT message, cleared_at IS NULL FROM guestflow.alert_events ORDER BY id"),
                         [['raised for review-nightly', 'f'], ['raised for nightly-reviews', 't']],
                         "the new job's open alert stands, the old one's is cleared")
        r = env.gf('purge')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn('guestflow purge:', r.stderr)

        # The renamed job sends what is new, and only that.
        add_many(env, 4, ['P001'], start=21)
        self.run_job(expect=0, job='nightly-reviews')
        self.assertEqual(env.scalar("SELECT planned FROM guestflow.runs WHERE job = 'nightly-reviews'"
                                    " ORDER BY id DESC LIMIT 1"), '4')
        rec = collections.Counter(g['bookingNo'] for g in env.recorded())
        self.assertEqual((len(rec), max(rec.values())), (24, 1), 'every booking sent once')
        self.assertEqual(self.history_count(), 24)
        self.rename('review-nightly', 'nightly-reviews', expect=65, says="nothing is recorded under job 'review-nightly'")

    def test_a_copied_job_file_is_warned_about(self):
        """Red team: a second job file sending to the same partner and
        endpoint with the same statuses (a copy, or a job renamed without
        'db rename-job') sends every guest twice, and check-config said
        "ok, 2 jobs". Both jobs may be meant (deliveries are per job), so it
        is not refused: check-config and every run say it."""
        env = self.env
        add_many(env, 2, ['P001'])
        env.write_config(job_name='review-copy')
        r = env.gf('check-config')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("jobs 'review-copy' and 'review-nightly' both send to partner reviewhub", r.stderr)
        self.assertEqual(r.stderr.count('both send to partner'), 1, r.stderr)
        r = self.run_job(expect=0)
        self.assertIn('event=job_twin other=review-copy', r.stderr)
        # Another selection: no twin.
        env.write_config({'selection': {'statuses': ['no_show']}}, job_name='review-copy')
        r = env.gf('check-config')
        self.assertNotIn('both send to partner', r.stderr)
        self.assertNotIn('job_twin', self.run_job(expect=0).stderr)

    def test_db_forget_job_deletes_the_record_of_a_job_removed(self):
        """A job removed from the configuration: purge names it, forget-job
        refuses while it may run and deletes every row of its record but the
        PMS's history and what keeps the suppression list; the other job's
        record is untouched, and purge no longer names it."""
        env = self.env
        add_many(env, 10, ['P001', 'P002'])
        self.run_job(expect=0)
        env.write_config(job_name='survey')
        self.run_job(expect=0, job='survey')
        r = env.gf('contact', 'add', 'ops@example.org', '--role', 'alert', '--job', 'review-nightly')
        self.assertEqual(r.returncode, 0, r.stderr)
        r = env.gf('contact', 'add', 'all@example.org', '--role', 'alert')
        self.assertEqual(r.returncode, 0, r.stderr)
        env.psql("INSERT INTO guestflow.alert_events (job, kind, message) VALUES ('review-nightly', 'failed_runs', 'x')")
        # Two events pulled: one put an address on the suppression list.
        env.psql("INSERT INTO guestflow.partner_events (connection_id, job, booking_no, type)"
                 " SELECT id, 'review-nightly', 'B-' || n, t FROM guestflow.connections,"
                 " (VALUES (1, 'reviewed'), (2, 'unsubscribed')) v(n, t) WHERE property_id = 'P001';"
                 "INSERT INTO guestflow.suppressions (email, reason, event_id) SELECT 'guest2@example.org',"
                 " 'unsubscribed', id FROM guestflow.partner_events WHERE type = 'unsubscribed'")

        def forget(*args, expect, says=None):
            r = env.gf('db', 'forget-job', *args)
            self.assertEqual(r.returncode, expect, r.stdout + r.stderr)
            if says:
                self.assertIn(says, r.stderr)
            return r

        forget('review-nightly', expect=78, says="job 'review-nightly' is still in the configuration")
        os.remove(os.path.join(env.jobs_dir, 'review-nightly.yaml'))
        r = env.gf('purge')
        self.assertIn('if it was removed: guestflow db forget-job review-nightly', r.stderr)
        forget(expect=64, says='expects the name of the job removed')
        forget('review-nightly', '--bogus', expect=64, says="unexpected argument '--bogus'")
        forget('never-ran', expect=65, says="nothing is recorded under job 'never-ran'")
        # Another job of the configuration sends to the same partner: its
        # pulls match the partner's events through the deliveries.
        forget('review-nightly', expect=65, says="job 'survey' of the configuration sends to reviewhub too")
        survey_file = os.path.join(env.jobs_dir, 'survey.yaml')
        os.rename(survey_file, survey_file + '.off')
        # A batch under a lease, or a run on another host: not while it may go on.
        env.psql("UPDATE guestflow.batches SET state = 'open', lease_until = now() + interval '5 min'"
                 " WHERE id = (SELECT min(id) FROM guestflow.batches WHERE job = 'review-nightly')")
        forget('review-nightly', '--force', expect=75, says='is under a lease until')
        env.psql("UPDATE guestflow.batches SET state = 'done', lease_until = NULL WHERE lease_until IS NOT NULL")
        env.psql("INSERT INTO guestflow.runs (job, host, pid) VALUES ('review-nightly', 'elsewhere.example', 4242)")
        forget('review-nightly', expect=75, says='(host elsewhere.example, pid 4242')
        # (a run starting meanwhile, on another host that still has the job,
        # inserting its runs row: waited for, not deleted under it)
        release = hold_in_session(self, env, 'LOCK TABLE guestflow.runs IN ROW EXCLUSIVE MODE')
        forget('review-nightly', '--force', expect=75, says='for more than 5 seconds')
        release()
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries WHERE job = 'review-nightly'"), '10',
                         'a refusal deletes nothing')
        survey = env.psql("SELECT (SELECT count(*) FROM guestflow.deliveries WHERE job = 'survey'),"
                          " (SELECT count(*) FROM guestflow.runs WHERE job = 'survey'),"
                          " (SELECT count(*) FROM guestflow.api_calls WHERE job = 'survey')")
        history = env.scalar("SELECT count(*) FROM pms.booking_history")

        r = forget('review-nightly', '--force', expect=0)  # (the run on another host: known dead)
        self.assertIn("forgot job 'review-nightly': deleted api_calls ", r.stdout)
        self.assertIn('deliveries 10', r.stdout)
        self.assertIn('partner_events 1,', r.stdout)
        self.assertIn('kept 1 partner event (they put an address on the suppression list)', r.stdout)
        tables = self.job_tables()
        for t in tables:
            left = '1' if t == 'partner_events' else '0'
            self.assertEqual(env.scalar(f"SELECT count(*) FROM guestflow.{t} WHERE job = 'review-nightly'"), left, t)
        self.assertEqual(env.psql("SELECT email, event_id IS NOT NULL FROM guestflow.suppressions"),
                         [['guest2@example.org', 't']])
        self.assertEqual(env.psql("SELECT email FROM guestflow.contacts"), [['all@example.org']])
        self.assertEqual(env.scalar("SELECT count(*) FROM pms.booking_history"), history, 'the PMS keeps its history')
        self.assertEqual(env.psql("SELECT (SELECT count(*) FROM guestflow.deliveries WHERE job = 'survey'),"
                                  " (SELECT count(*) FROM guestflow.runs WHERE job = 'survey'),"
                                  " (SELECT count(*) FROM guestflow.api_calls WHERE job = 'survey')"), survey)
        os.rename(survey_file + '.off', survey_file)
        r = env.gf('purge')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn('guestflow purge:', r.stderr)
        forget('review-nightly', expect=65, says='nothing is left of job')

    def test_explain_answers_why_not_sent(self):
        env = self.env
        add_booking(env, 1)
        add_booking(env, 2, email='')
        add_booking(env, 3, notify=False)
        env.psql("INSERT INTO pms.properties VALUES ('P003', 'Setup')")
        env.add_connection('P003', 'H-3', 'unused-key', live=False)
        add_booking(env, 4, prop='P003')
        add_booking(env, 5, first='Bell' + chr(7))
        self.run_job(expect=1)

        r = env.gf('explain', 'B-1')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('job review-nightly (partner reviewhub', r.stdout)
        self.assertIn('): eligible', r.stdout)
        self.assertRegex(r.stdout, r'yes\s+e-mail present and plausible\s+email = guest1@example.org')
        self.assertRegex(r.stdout, r'delivery to P001: delivered at ')
        self.assertRegex(r.stdout, r'history entries on the booking: 1\n  .* \[guestflow\] Sent to reviewhub by review-nightly')

        r = env.gf('explain', 'B-2', '--job', 'review-nightly')
        self.assertIn('NOT eligible', r.stdout)
        self.assertRegex(r.stdout, r'NO\s+e-mail present and plausible\s+email = ""')
        self.assertIn('delivery: none', r.stdout)

        r = env.gf('explain', 'B-3')
        self.assertRegex(r.stdout, r'NO\s+notify flag on\s+notify = false')
        r = env.gf('explain', 'B-4')
        self.assertRegex(r.stdout, r'NO\s+property connected and live\s+connection setup \(hotel id H-3\)')
        r = env.gf('explain', 'B-5')
        self.assertIn('reason: first_name: control character U+0007', r.stdout)
        self.assertIn('"Bell\\x07"', r.stdout, 'control characters never reach the terminal raw')

        env.write_config({'enabled': False})
        r = env.gf('explain', 'B-1')
        self.assertRegex(r.stdout, r'NO\s+job enabled\s+enabled: false')

        r = env.gf('explain', 'B-404')
        self.assertEqual(r.returncode, 65)
        self.assertIn('not in guestflow.source_bookings', r.stderr)
        self.assertEqual(env.gf('explain', 'B-1', '--job', 'nope').returncode, 64)

    def test_dry_run_writes_and_sends_nothing(self):
        env = self.env
        add_many(env, 30, ['P001', 'P002'])
        add_booking(env, 100, first='Bell' + chr(7))
        before = env.psql("SELECT (SELECT count(*) FROM guestflow.deliveries), (SELECT count(*) FROM guestflow.runs)")
        r = env.gf('run', 'review-nightly', '--dry-run', '--limit', '5')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r'(?m)^P001\s+H-1001\s+16\s+0$')
        self.assertRegex(r.stdout, r'(?m)^P002\s+H-1002\s+15\s+0$')
        self.assertRegex(r.stdout, r'(?m)^total\s+31\s+0$')
        xml = r.stdout[r.stdout.index('<?xml'):]
        self.assertEqual(xml.count('<guest>'), 5)
        v = subprocess.run(['xmllint', '--noout', '--schema', XSD, '-'], input=xml, capture_output=True, text=True)
        self.assertEqual(v.returncode, 0, v.stderr)
        self.assertEqual(env.psql("SELECT (SELECT count(*) FROM guestflow.deliveries), (SELECT count(*) FROM guestflow.runs)"),
                         before)
        self.assertEqual(env.sim_stats()['requests'], 0)

    def test_limit_caps_a_run(self):
        env = self.env
        add_many(env, 30, ['P001'])
        r = self.run_job('--limit', '12', expect=0)
        self.assertIn(' delivered=12 ', r.stdout)
        self.assertIn(' pending=18 ', r.stdout)
        self.assertIn('limit=reached', r.stdout)
        self.run_job(expect=0)
        self.assertEqual(self.history_count(), 30)
        self.assertEqual(env.gf('run', 'review-nightly', '--limit', 'x').returncode, 64)

    def test_status_table_and_json(self):
        env = self.env
        add_many(env, 10, ['P001', 'P002'])
        env.psql("UPDATE guestflow.connections SET secret = 'wrong-key' WHERE property_id = 'P002'")
        self.run_job(expect=1)
        r = env.gf('status')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r'last run: \d+ \(scheduled\), .*, exit 1: eligible 10, delivered 5, rejected 0, dead 0')
        self.assertRegex(r.stdout, r'(?m)^  P001\s+H-1001\s+live\s+0\s+0\s+0\s+0\s+5\s+0\s+-\s+-$')
        self.assertRegex(r.stdout, r'(?m)^  P002\s+H-1002\s+live\s+5\s+0\s+0\s+0\s+0\s+0\s+\d+\s+\S+$')
        r = env.gf('status', 'review-nightly', '--json')
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        job = doc['jobs'][0]
        self.assertEqual((job['job'], job['enabled'], job['last_run']['exit_code'], job['last_run']['delivered']),
                         ('review-nightly', True, 1, 5))
        conns = {c['property']: c for c in job['connections']}
        self.assertEqual((conns['P001']['delivered'], conns['P002']['pending'], conns['P002']['dead']), (5, 5, 0))
        # the id as the partner knows it, whatever its format calls it
        self.assertEqual((job['format'], conns['P001']['id_at_partner']), ('review-xml', 'H-1001'))
        self.assertIsInstance(conns['P002']['oldest_pending_s'], int)
        self.assertEqual(env.gf('status', 'nope').returncode, 64)

    def test_log_filters_and_purge(self):
        env = self.env
        add_many(env, 4, ['P001', 'P002'])
        env.sim_control('script?status=503&hotel=H-1002')
        self.run_job(expect=0)
        r = env.gf('log')
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.strip().split('\n')[1:]
        self.assertEqual(len(lines), 3)
        self.assertNotIn('access_key', r.stdout)
        r = env.gf('log', '--errors')
        lines = r.stdout.strip().split('\n')[1:]
        self.assertEqual(len(lines), 1)
        self.assertRegex(lines[0], r'review-nightly\s+P002\s+503 .* retry .*\?id=H-1002  error="partner: HTTP 503')
        r = env.gf('log', '--connection', 'P001', '--since', '1h', '--job', 'review-nightly')
        self.assertEqual(len(r.stdout.strip().split('\n')[1:]), 1)
        r = env.gf('log', '--since', '2000-01-01', '--limit', '2')
        self.assertEqual(len(r.stdout.strip().split('\n')[1:]), 2)
        r = env.gf('log', '--since', 'yesterday-ish')
        self.assertEqual(r.returncode, 65)
        self.assertIn('--since yesterday-ish is neither a duration', r.stderr)
        self.assertIn('(SQLSTATE 22007)', r.stderr)
        r = env.gf('log', '--since', '2026-11-31 03:00')
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assertIn('--since "2026-11-31 03:00" is neither a duration', r.stderr)
        self.assertIn('(SQLSTATE 22008)', r.stderr)
        self.assertNotIn('db_error', r.stderr, 'a person\'s input is not a database failure')
        env.psql("UPDATE guestflow.api_calls SET at = now() - interval '100 days' WHERE status_code = 503")
        r = env.gf('log', '--purge')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('deleted 1 API-call log row older than 90 days', r.stdout)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.api_calls"), '2')
        self.assertEqual(env.gf('log', '--purge', '--errors').returncode, 64)

    def test_a_delivery_is_one_row_whose_state_is_written(self):
        """Issue 15: one table, one row per delivery, the batch's members found by batch_id;
        every command reads the state column; a rerun changes the row in place."""
        env = self.env
        for n in (1, 2, 3):
            add_booking(env, n)
        self.run_job(expect=0)
        self.assertEqual(env.scalar("SELECT relkind FROM pg_class WHERE oid = 'guestflow.deliveries'::regclass"), 'r')
        self.assertIsNone(env.scalar("SELECT to_regclass('guestflow.delivery_log')"))
        self.assertEqual(env.psql("SELECT b.state, b.records, b.finished_run_id IS NOT NULL, count(d.*)"
                                  " FROM guestflow.batches b JOIN guestflow.deliveries d ON d.batch_id = b.id"
                                  " GROUP BY 1, 2, 3"), [['done', '3', 't', '3']])
        self.assertEqual(env.psql("SELECT booking_no, state, batch_id IS NOT NULL, finished_run_id IS NOT NULL,"
                                  " finished_at IS NOT NULL FROM guestflow.deliveries ORDER BY booking_no"),
                         [[f'B-{n}', 'delivered', 't', 't', 't'] for n in (1, 2, 3)])
        r = env.gf('explain', 'B-2')
        self.assertRegex(r.stdout, r'delivery to P001: delivered at .*\n    batch \d+ \(done\), attempts 1')
        r = env.gf('connection', 'show', 'P001', 'reviewhub')
        self.assertIn('delivered:   3\npending:     0\n', r.stdout)
        r = env.gf('status')
        self.assertEqual(r.returncode, 0, r.stderr)
        # A second run plans nothing: held members count as delivered.
        r = self.run_job(expect=0)
        self.assertRegex(r.stdout, r' new=0 ')

        r = env.gf('rerun', 'review-nightly', '--booking', 'B-2', '--no-run')
        self.assertIn('1 already delivered: not re-sent (add --force', r.stdout)
        # each delivery still once, still delivered
        self.assertEqual(env.psql("SELECT booking_no, state FROM guestflow.deliveries ORDER BY booking_no"),
                         [[f'B-{n}', 'delivered'] for n in (1, 2, 3)])

        add_booking(env, 4)
        self.run_job(expect=0)
        r = env.gf('rerun', 'review-nightly', '--booking', 'B-4', '--force')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('queued: 0 never sent before, 1 again (rejected, dead or delivered)', r.stdout)
        self.assertRegex(r.stdout, r'review-nightly: run \d+ .* delivered=1 ')
        self.assertEqual(self.history_count('B-4'), 2)
        self.assertEqual(env.psql("SELECT state, rerun FROM guestflow.deliveries WHERE booking_no = 'B-4'"),
                         [['delivered', 't']])
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries"), '4')

    def test_explain_reads_history_only_through_read_history(self):
        """Issue 15, item 6: the source contract's guestflow.read_history(bigint)."""
        env = self.env
        add_booking(env, 1)
        self.run_job(expect=0)
        r = env.gf('explain', 'B-1')
        self.assertRegex(r.stdout, r'history entries on the booking: 1\n  \S+ \S+ \S+  \[guestflow\] ')
        env.psql("CREATE OR REPLACE FUNCTION guestflow.read_history(booking bigint)"
                 " RETURNS TABLE (created_at timestamptz, kind text, message text) LANGUAGE sql STABLE AS"
                 " $$ SELECT now(), 'adapter', 'from the adapter for ' || booking $$")
        r = env.gf('explain', 'B-1')
        self.assertIn('history entries on the booking: 1\n', r.stdout)
        self.assertIn('[adapter] from the adapter for 1', r.stdout)
        env.psql("DROP FUNCTION guestflow.read_history(bigint)")
        r = env.gf('explain', 'B-1')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('history: not shown: this PMS\'s adapters have no guestflow.read_history(bigint)', r.stdout)

    def test_purge_deletes_old_finished_deliveries_out_of_the_window_only(self):
        """Issue 15, item 3: retention.deliveries and guestflow purge keep the history bounded
        without ever letting a booking still inside the window be sent again."""
        env = self.env
        for n in (1, 2, 3):
            add_booking(env, n)
        self.run_job(expect=0)
        # B-1 and B-2 finished long ago; B-2's booking has left the window, B-1's
        # (checked out again, say, or corrected) is still inside it; B-3 is recent.
        env.psql("UPDATE guestflow.deliveries SET finished_at = now() - interval '401 days'"
                 " WHERE booking_no IN ('B-1', 'B-2');"
                 "UPDATE pms.bookings SET checked_out_at = now() - interval '402 days' WHERE booking_no = 'B-2'")
        r = env.gf('purge')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('review-nightly: deleted 1 delivery and 0 batches finished more than 400 days ago'
                      ' (1 kept: their booking is still inside the window)', r.stdout)
        self.assertEqual(env.psql("SELECT booking_no FROM guestflow.deliveries ORDER BY 1"), [['B-1'], ['B-3']])
        # B-1 is not sent again; B-2 is out of the window (not eligible).
        r = self.run_job(expect=0)
        self.assertIn(' eligible=2 new=0 ', r.stdout)
        self.assertEqual(self.history_count(), 3)
        # Everything old: the deliveries go, then the batch once its API calls are purged too.
        env.psql("UPDATE guestflow.deliveries SET finished_at = now() - interval '401 days';"
                 "UPDATE guestflow.batches SET finished_at = now() - interval '401 days';"
                 "UPDATE guestflow.api_calls SET at = now() - interval '401 days';"
                 "UPDATE pms.bookings SET checked_out_at = now() - interval '402 days'")
        self.assertEqual(env.gf('log', '--purge').returncode, 0)
        r = env.gf('purge', 'review-nightly')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('deleted 2 deliveries and 1 batch finished', r.stdout)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries"), '0')
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.batches"), '0')
        self.assertEqual(env.gf('purge', 'no-such-job').returncode, 64)

    def test_purge_deletes_old_partner_events_but_not_what_is_still_needed(self):
        """guestflow.partner_events no longer grows forever: purge deletes the events
        a job pulled longer ago than retention.events, but never the one a suppression
        names (the address stays suppressed and explain says who reported it), nor a
        connection's latest (status shows it); the cursor and the history entries stay."""
        env = self.env
        for n, prop in ((1, 'P001'), (2, 'P001'), (3, 'P001'), (4, 'P002')):
            add_booking(env, n, prop=prop)
        self.run_job(expect=0)
        for hotel, booking, type_ in (('H-1001', 'B-1', 'invited'), ('H-1001', 'B-1', 'unsubscribed'),
                                      ('H-1001', 'B-2', 'reviewed'), ('H-1002', 'B-4', 'invited'),
                                      ('H-1001', 'B-3', 'reviewed')):
            q = urllib.parse.urlencode({'id': hotel, 'bookingNo': booking, 'type': type_, 'at': '2026-11-23T10:00:00Z'})
            env.sim_control(f'event?{q}')
        r = env.gf('pull')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('5 new events, 5 history entries, 1 address suppressed', r.stdout)
        # All but B-3's were pulled long ago; B-4's is its connection's only one.
        env.psql("UPDATE guestflow.partner_events SET pulled_at = now() - interval '401 days'"
                 " WHERE booking_no <> 'B-3'")
        env.psql("UPDATE guestflow.partner_events SET pulled_at = now() - interval '399 days' WHERE booking_no = 'B-3'")
        history = int(env.scalar("SELECT count(*) FROM pms.booking_history"))
        r = env.gf('purge')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('(0 kept: their booking is still inside the window), 2 partner events pulled more than'
                      ' 400 days ago\n', r.stdout)
        self.assertIn('events=2', r.stderr)
        self.assertEqual(env.psql("SELECT booking_no, type FROM guestflow.partner_events ORDER BY 1, 2"),
                         [['B-1', 'unsubscribed'], ['B-3', 'reviewed'], ['B-4', 'invited']])
        self.assertEqual(env.psql("SELECT x.email, e.booking_no, e.type FROM guestflow.suppressions x"
                                  " JOIN guestflow.partner_events e ON e.id = x.event_id"),
                         [['guest1@example.org', 'B-1', 'unsubscribed']])
        self.assertEqual(int(env.scalar("SELECT count(*) FROM pms.booking_history")), history)
        # The guest books again: still suppressed, and who reported it is still known.
        add_booking(env, 11, email='guest1@example.org')
        r = env.gf('explain', 'B-11')
        self.assertRegex(r.stdout, r'NO +not unsubscribed or bounced +the address is on the suppression list:'
                                   r' "unsubscribed \(\d{4}-\d\d-\d\d, reported by reviewhub\)"')
        conns = {c['property']: c for c in json.loads(env.gf('status', '--json').stdout)['jobs'][0]['connections']}
        self.assertEqual((conns['P001']['last_event_type'], conns['P002']['last_event_type']), ('reviewed', 'invited'))
        # The cursors stay: nothing is read again, nothing stored twice.
        r = env.gf('pull')
        self.assertIn('0 new events, 0 history entries', r.stdout)
        # A purge again deletes nothing more; a shorter retention, B-3's too
        # (B-4's stays: still its connection's latest).
        self.assertIn(', 0 partner events pulled', env.gf('purge').stdout)
        env.write_config({'retention': {'events': '30d'}})
        r = env.gf('purge')
        self.assertIn(', 0 partner events pulled more than 30 days ago', r.stdout)
        env.sim_control('event?' + urllib.parse.urlencode({'id': 'H-1001', 'bookingNo': 'B-3', 'type': 'invited',
                                                           'at': '2026-11-24T10:00:00Z'}))
        self.assertIn('1 new event', env.gf('pull').stdout)
        r = env.gf('purge', 'review-nightly')
        self.assertIn(', 1 partner event pulled more than 30 days ago', r.stdout)
        self.assertEqual(env.psql("SELECT booking_no, type FROM guestflow.partner_events ORDER BY 1, 2"),
                         [['B-1', 'unsubscribed'], ['B-3', 'invited'], ['B-4', 'invited']])

    def test_retention_events_has_a_lower_bound(self):
        env = self.env
        env.write_config({'retention': {'events': '29d'}})
        r = env.gf('check-config')
        self.assertEqual(r.returncode, 78, r.stdout + r.stderr)
        self.assertRegex(r.stdout + r.stderr, r"review-nightly\.yaml:\d+:\d+: 'events' must be a duration of at least 30d"
                                              r".*, got '29d'")
        env.write_config({'retention': {'events': '30d'}})
        self.assertEqual(env.gf('check-config').returncode, 0)

    def test_a_window_widened_after_a_purge_does_not_send_a_purged_booking_again(self):
        """Red team (issue 15, item 3): purge deletes the deliveries of bookings out of
        the window; an operator who later widens selection.window (and the retention
        with it) must not bring those bookings back as never sent."""
        env = self.env
        env.write_config({'retention': {'deliveries': '20d'}})
        add_booking(env, 1)
        add_booking(env, 2)
        self.run_job(expect=0)
        env.psql("UPDATE guestflow.deliveries SET finished_at = now() - interval '25 days' WHERE booking_no = 'B-1';"
                 "UPDATE pms.bookings SET checked_out_at = now() - interval '30 days' WHERE booking_no = 'B-1'")
        r = env.gf('purge')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('deleted 1 delivery', r.stdout)
        env.write_config({'selection': {'window': '60d'}, 'retention': {'deliveries': '90d'}})
        r = self.run_job(expect=0)
        self.assertIn(' new=0 ', r.stdout)
        self.assertEqual(sorted(g['bookingNo'] for g in env.recorded()), ['B-1', 'B-2'])
        self.assertEqual(self.history_count('B-1'), 1)
        # explain says why B-1 is not sent although it is inside the window now.
        r = env.gf('explain', 'B-1')
        self.assertIn('NOT eligible', r.stdout)
        self.assertIn('delivery: none — purged (retention.deliveries), or the booking was never eligible', r.stdout)
        self.assertRegex(r.stdout, r'NO +checked out within the window .*window 60 days, but not before .*purged')
        r = env.gf('run', 'review-nightly', '--dry-run')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r'\ntotal +0 +0\n')
        # A rerun without --force does not take the purged booking for one never
        # sent: it may have been delivered (it was); --force sends it again.
        r = env.gf('rerun', 'review-nightly', '--booking', 'B-1', '--no-run')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('queued: 0 never sent before', r.stdout)
        self.assertIn('1 checked out before the purge horizon', r.stdout)
        self.run_job(expect=0)
        self.assertEqual(self.history_count('B-1'), 1)
        r = env.gf('rerun', 'review-nightly', '--booking', 'B-1', '--force', '--no-run')
        self.assertIn('queued: 1 never sent before', r.stdout)
        self.run_job(expect=0)
        self.assertEqual(self.history_count('B-1'), 2)

    def test_status_oldest_pending_counts_from_when_it_was_queued_again(self):
        """Red team (issue 15, item 2): a delivery put back in the queue (rerun, or
        planned again after its data was fixed) keeps its row and created_at; status's
        'oldest pending' must count from when it was queued again, not report a
        guest waiting for a month (an alarm on it would fire for nothing)."""
        env = self.env
        add_booking(env, 1)
        self.run_job(expect=0)
        env.psql("UPDATE guestflow.deliveries SET created_at = now() - interval '30 days'")
        r = env.gf('rerun', 'review-nightly', '--booking', 'B-1', '--force', '--no-run')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        job = json.loads(env.gf('status', 'review-nightly', '--json').stdout)['jobs'][0]
        # (every connection of the partner is listed, with deliveries or not)
        conns = {c['property']: c for c in job['connections']}
        self.assertEqual((sorted(conns), conns['P002']['pending']), (['P001', 'P002'], 0))
        conn = conns['P001']
        self.assertEqual(conn['pending'], 1)
        self.assertLess(conn['oldest_pending_s'], 3600)

    def test_purge_keeps_a_booking_the_source_view_cannot_give_and_goes_on(self):
        """Red team (issue 15, item 3): purge asks the source view whether a booking is
        still inside the window; a view that raises an error for one booking must
        keep that booking's delivery (it cannot be known to be out of the window)
        and not stop the purge of all the others, night after night."""
        env = self.env
        for n in (1, 2, 3):
            add_booking(env, n)
        self.run_job(expect=0)
        env.psql("UPDATE guestflow.deliveries SET finished_at = now() - interval '401 days';"
                 "UPDATE pms.bookings SET checked_out_at = now() - interval '402 days'")
        view_with(env, checked_out_at="CASE WHEN b.id = 2 THEN b.booking_no::timestamptz ELSE b.checked_out_at END")
        r = env.gf('purge')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('deleted 2 deliveries', r.stdout)
        self.assertIn('event=purge_row_kept', r.stderr)
        self.assertEqual(env.psql("SELECT booking_no FROM guestflow.deliveries"), [['B-2']])

    def test_explain_shows_the_delivery_of_a_booking_moved_to_another_property(self):
        """Red team (issue 15, item 6): explain finds deliveries through the booking's
        property's connections; a booking the PMS moved to another property since
        it was delivered must not be shown as never eligible."""
        env = self.env
        add_booking(env, 1)
        self.run_job(expect=0)
        env.psql("UPDATE pms.bookings SET property_id = 'P002' WHERE id = 1")
        r = env.gf('explain', 'B-1')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn('never been eligible', r.stdout)
        self.assertIn('delivery to P001: delivered', r.stdout)

    def test_retention_must_be_longer_than_the_window(self):
        env = self.env
        env.write_config({'retention': {'deliveries': '10d'}})
        r = env.gf('check-config')
        self.assertEqual(r.returncode, 78, r.stdout + r.stderr)
        self.assertRegex(r.stdout + r.stderr, r"review-nightly\.yaml:\d+:\d+: 'retention\.deliveries' \(10d\) must be"
                                              r" longer than 'selection\.window' \(14d\)")

    def test_rerun_by_booking_and_dates(self):
        env = self.env
        for n in (1, 2, 3):
            add_booking(env, n)
        add_booking(env, 4, checked_out="now() - interval '30 days'")   # outside the window
        add_booking(env, 5, checked_out="now() - interval '31 days'", email='')
        env.sim_control('refuse?bookingNo=B-2&reason=try%20later')
        self.run_job(expect=1)
        env.sim_control('reset')

        r = env.gf('rerun', 'review-nightly', '--booking', 'B-1', 'B-2', 'B-404')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('2 bookings matched; queued: 0 never sent before, 1 again', r.stdout)
        self.assertIn('1 already delivered: not re-sent (add --force', r.stdout)
        self.assertIn('1 booking number not in guestflow.source_bookings', r.stdout)
        self.assertRegex(r.stdout, r'review-nightly: run \d+ .* delivered=1 ')
        self.assertEqual(env.psql("SELECT h.message FROM pms.booking_history h JOIN pms.bookings b ON b.id = h.booking_id"
                                  " WHERE b.booking_no = 'B-2'")[0][0][-8:], ' (rerun)')

        r = env.gf('rerun', 'review-nightly', '--booking', 'B-1', '--force')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('queued: 0 never sent before, 1 again (rejected, dead or delivered)', r.stdout)
        msgs = [m[0] for m in env.psql("SELECT h.message FROM pms.booking_history h JOIN pms.bookings b"
                                       " ON b.id = h.booking_id WHERE b.booking_no = 'B-1' ORDER BY h.id")]
        self.assertEqual(len(msgs), 2)
        self.assertFalse(msgs[0].endswith('(rerun)'))
        self.assertTrue(msgs[1].endswith('(rerun)'))

        d30 = env.scalar("SELECT (now() - interval '32 days')::date")
        today = env.scalar("SELECT current_date")
        r = env.gf('rerun', 'review-nightly', '--from', d30, '--to', today, '--no-run')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('5 bookings matched; queued: 1 never sent before, 0 again', r.stdout)
        self.assertIn('3 already delivered', r.stdout)
        self.assertIn('1 not eligible', r.stdout)
        self.assertIn('queued only (--no-run)', r.stdout)
        self.run_job(expect=0)
        self.assertEqual(self.history_count('B-4'), 1)
        self.assertEqual(self.history_count('B-5'), 0)

        self.assertEqual(env.gf('rerun', 'review-nightly').returncode, 64)
        self.assertEqual(env.gf('rerun', 'review-nightly', '--dead', '--force').returncode, 64)
        self.assertEqual(env.gf('rerun', 'review-nightly', '--from', '2026-01-01').returncode, 64)
        r = env.gf('rerun', 'review-nightly', '--from', 'soon', '--to', 'later')
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assertIn('--from soon is not a date (YYYY-MM-DD)', r.stderr)
        self.assertIn('(SQLSTATE 22007)', r.stderr)
        # the option named is the one refused, by its SQLSTATE, not the first
        r = env.gf('rerun', 'review-nightly', '--from', '2026-01-01', '--to', '2026-13-45', '--no-run')
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assertIn('--to 2026-13-45 is not a date', r.stderr)
        self.assertIn('(SQLSTATE 22008)', r.stderr)
        self.assertNotIn('--from', r.stderr)
        self.assertNotIn('db_error', r.stderr)
        # (red team: a reversed range matched nothing and exited 0)
        r = env.gf('rerun', 'review-nightly', '--from', '2026-03-01', '--to', '2026-01-01', '--no-run')
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assertIn('--from 2026-03-01 is after --to 2026-01-01', r.stderr)
        # a statement failing for another reason is no bad input: 70, not 65
        env.psql("ALTER VIEW guestflow.source_bookings RENAME TO source_bookings_away")
        r = env.gf('rerun', 'review-nightly', '--from', '2026-01-01', '--to', '2026-01-31', '--no-run')
        env.psql("ALTER VIEW guestflow.source_bookings_away RENAME TO source_bookings")
        self.assertEqual(r.returncode, 70, r.stderr)
        self.assertIn('sqlstate=42P01', r.stderr)
        self.assertNotIn('is not a date', r.stderr)
        # (red team: a --to the selection's day after overflows was exit 70)
        r = env.gf('rerun', 'review-nightly', '--from', '2026-01-01', '--to', '5874897-12-31', '--no-run')
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assertIn('--to 5874897-12-31 is not a date', r.stderr)
        # (a booking number given twice is one booking, found)
        r = env.gf('rerun', 'review-nightly', '--booking', 'B-1', 'B-1', '--no-run')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('1 booking matched', r.stdout)
        self.assertNotIn('not in guestflow.source_bookings', r.stdout)

    def test_rerun_keeps_the_rules_and_what_the_partner_may_hold(self):
        """Red team: rerun --booking and --from/--to requeued rejected and
        dead deliveries without the eligibility rules (a checkout moved
        into the future was sent), and sent a dead one the partner may hold
        (an attempt that reached it, no answer) as new, under a new key:
        the guest twice. Now the rules hold for them, and such a dead one
        goes only with --force; 'rerun --dead' resends it under its key."""
        env = self.env
        env.write_config({'retry': {'max_attempts': 2, 'backoff_initial': '100ms', 'backoff_max': '200ms',
                                    'retry_after_max': '2s', 'linger': '5s'}})
        add_booking(env, 1)
        add_booking(env, 2)
        # accepted by the partner, the answer lost, twice: dead, maybe sent
        env.sim_control('script?action=accept_then_fail&status=502&count=2')
        self.run_job(expect=69)
        self.assertEqual(env.psql("SELECT state, maybe_sent FROM guestflow.batches"), [['dead', 't']])
        today = env.scalar("SELECT current_date")
        for args in (('--booking', 'B-1'), ('--from', '2020-01-01', '--to', today)):
            r = env.gf('rerun', 'review-nightly', *args)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn('queued: 0 never sent before, 0 again', r.stdout)
            self.assertIn("dead after an attempt that may have reached the partner: not sent as new without --force"
                          " ('guestflow rerun review-nightly --dead' sends them again under their key)", r.stdout)
        r = env.gf('rerun', 'review-nightly', '--dead')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(collections.Counter(g['bookingNo'] for g in env.recorded()), {'B-1': 1, 'B-2': 1})
        self.assertEqual(self.history_count(), 2)
        # rejected, then no longer eligible: not queued, not sent
        add_booking(env, 3)
        add_booking(env, 4)
        env.sim_control('refuse?bookingNo=B-3&reason=no')
        env.sim_control('refuse?bookingNo=B-4&reason=no')
        self.run_job(expect=1)
        env.sim_control('reset')
        env.psql("UPDATE pms.bookings SET checked_out_at = now() + interval '2 days' WHERE id = 3;"
                 " UPDATE pms.bookings SET notify_on_occupancy = false WHERE id = 4")
        r = env.gf('rerun', 'review-nightly', '--booking', 'B-3', 'B-4')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('queued: 0 never sent before, 0 again', r.stdout)
        self.assertIn('2 not eligible', r.stdout)
        self.assertEqual(env.psql("SELECT booking_no, state FROM guestflow.deliveries WHERE booking_id IN (3, 4)"
                                  " ORDER BY 1"), [['B-3', 'rejected'], ['B-4', 'rejected']])
        self.assertNotIn('B-3', [g['bookingNo'] for g in env.recorded()])


if __name__ == '__main__':
    main()
