#!/usr/bin/env python3
"""The go-live gate (issue 17, items 2 and 4; seeds 000, 001, 002, 004):
'connection consent' records who accepted which terms and when, and its
withdrawal deactivates the connection; 'connection activate' refuses (exit
65, every missing item listed) unless consent is in force, an alert and a
technical contact cover the connection and a connection test succeeded in
the last 24 hours; '--force --reason' goes live all the same, recorded."""
import http.server
import os
import pwd
import re
import signal
import subprocess
import time

from gftest import FORCE, GUESTFLOW, GFTestCase, add_booking, add_many, hold_in_session, main, wait_for
from test_transport import serve


class SlowPong(http.server.BaseHTTPRequestHandler):
    """review-xml's test call answered ok, two seconds late."""
    protocol_version = 'HTTP/1.1'

    def do_GET(self):
        time.sleep(2)
        body = b'<pong xmlns="urn:guestflow:review-xml:1" hotelId="H-1003"/>'
        self.send_response(200)
        self.send_header('Content-Type', 'application/xml')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

ACTIVATE = ('connection', 'activate', 'P003', 'reviewhub')


class GoLiveTest(GFTestCase):
    accounts = {'H-1001': 'k3y+/=one', 'H-1002': 'k3y+/=two', 'H-1003': 'k3y+/=three'}

    def setUp(self):
        super().setUp()
        env = self.env
        env.psql("INSERT INTO pms.properties VALUES ('P003', 'Hotel P003')")
        env.add_connection('P003', 'H-1003', self.accounts['H-1003'], live=False)

    def status(self):
        return self.env.scalar("SELECT status FROM guestflow.connections WHERE property_id = 'P003'")

    def events(self):
        return self.env.psql("SELECT coalesce(from_status, '-'), to_status, note FROM guestflow.connection_events e"
                             " JOIN guestflow.connections c ON c.id = e.connection_id"
                             " WHERE c.property_id = 'P003' ORDER BY e.id")

    def refused(self, *missing, absent=()):
        n = len(self.events())
        r = self.env.gf(*ACTIVATE)
        self.assertEqual(r.returncode, 65, r.stdout + r.stderr)
        self.assertIn('P003 -> reviewhub cannot go live yet:', r.stderr)
        items = [line for line in r.stderr.splitlines() if line.startswith('  - ')]
        self.assertEqual(len(items), len(missing), r.stderr)
        for m, line in zip(missing, items):
            self.assertIn(m, line)
        for a in absent:
            self.assertNotIn(a, r.stderr)
        self.assertEqual(self.status(), 'setup', 'nothing changed')
        self.assertEqual(len(self.events()), n, 'nothing recorded')
        return r

    def test_activate_lists_every_missing_item_then_goes_live_once_all_are_there(self):
        env = self.env
        self.refused('no consent in force', 'no alert contact', 'no technical contact',
                     'no connection test succeeded in the last 24 hours (never tested)')
        # Consent: who accepted which terms, shown by 'connection show'.
        r = env.gf('connection', 'consent', 'P003', 'reviewhub', '--by', 'Anna Berger (GM)', '--terms-version', '2.1')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('terms 2.1 accepted by Anna Berger (GM), recorded', r.stdout)
        self.assertRegex(env.gf('connection', 'show', 'P003', 'reviewhub').stdout,
                         r'consent: +terms 2\.1 accepted by Anna Berger \(GM\) at \d{4}-\d\d-\d\d ')
        self.refused('no alert contact', 'no technical contact', 'no connection test', absent=('consent',))
        # A contact of another connection does not cover it; one for all,
        # or for a job sending to its partner, does.
        for args in (('--role', 'technical', '--connection', 'P001', 'reviewhub'),
                     ('--role', 'alert')):
            r = env.gf('contact', 'add', 'ops@example.org', *args)
            self.assertEqual(r.returncode, 0, r.stderr)
        self.refused('no technical contact', 'no connection test', absent=('alert contact', 'consent'))
        r = env.gf('contact', 'add', 'it@example.org', '--role', 'technical', '--job', 'review-nightly')
        self.assertEqual(r.returncode, 0, r.stderr)
        # A failed test does not open the gate; the item says what the last was.
        env.psql("UPDATE guestflow.connections SET secret_enc = NULL, secret = 'wrong-key'"
                 " WHERE property_id = 'P003'")
        self.assertEqual(env.gf('connection', 'test', 'P003', 'reviewhub').returncode, 77)
        self.refused('no connection test succeeded in the last 24 hours (last: credentials_refused at ')
        env.psql(f"UPDATE guestflow.connections SET secret_enc = NULL, secret = '{self.accounts['H-1003']}'"
                 " WHERE property_id = 'P003'")
        self.assertEqual(env.gf('connection', 'test', 'P003', 'reviewhub').returncode, 0)
        # A success 25 hours ago is too old.
        env.psql("UPDATE guestflow.connections SET last_test_at = now() - interval '25 hours'"
                 " WHERE property_id = 'P003'")
        self.refused('(last: ok at ')
        self.assertEqual(env.gf('connection', 'test', 'P003', 'reviewhub').returncode, 0)
        r = env.gf(*ACTIVATE)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('P003 -> reviewhub is now live\n', r.stdout)
        self.assertEqual(self.status(), 'live')
        self.assertEqual(self.events()[-1], ['setup', 'live', 'activated: consent, contacts and a connection test'
                                                              ' in the last 24 hours checked'])
        # Who: the Unix user the command ran as (and the database role,
        # when that differs), as 'connection show' lists it.
        unix = pwd.getpwuid(os.getuid()).pw_name
        role = env.scalar('SELECT current_user')
        who = unix if unix == role else f'{unix} (database role {role})'
        self.assertEqual(env.scalar("SELECT actor FROM guestflow.connection_events ORDER BY id DESC LIMIT 1"), who)
        self.assertRegex(env.gf('connection', 'show', 'P003', 'reviewhub').stdout,
                         r'setup -> live  by ' + re.escape(who) + '  activated')
        env.psql("INSERT INTO guestflow.connection_events (connection_id, to_status, note)"
                 " SELECT id, status, 'by hand' FROM guestflow.connections WHERE property_id = 'P003'")
        self.assertEqual(env.scalar("SELECT actor FROM guestflow.connection_events ORDER BY id DESC LIMIT 1"), role)
        # Live already: nothing to check, nothing recorded.
        n = len(self.events())
        self.assertEqual(env.gf(*ACTIVATE).returncode, 0)
        self.assertEqual(len(self.events()), n)
        # And its guests are sent.
        add_booking(env, 3, prop='P003')
        self.run_job(expect=0)
        self.assertEqual([(g['hotelId'], g['bookingNo']) for g in env.recorded()], [('H-1003', 'B-3')])

    def test_force_needs_a_reason_and_records_it_with_what_was_missing(self):
        env = self.env
        r = env.gf(*ACTIVATE, '--force')
        self.assertEqual(r.returncode, 64, r.stderr)
        self.assertIn('--force only with --reason TEXT', r.stderr)
        r = env.gf(*ACTIVATE, '--force', '--reason', 'bad\x1b[2Jreason')
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assertIn('--reason refused', r.stderr)
        self.assertEqual(self.status(), 'setup')
        env.gf('connection', 'consent', 'P003', 'reviewhub', '--by', 'Anna', '--terms-version', '1')
        r = env.gf(*ACTIVATE, '--force', '--reason', 'partner confirmed by phone, ticket OPS-7')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('is now live, forced past: no alert contact', r.stdout)
        self.assertEqual(self.status(), 'live')
        note = self.events()[-1][2]
        self.assertTrue(note.startswith('activated with --force: partner confirmed by phone, ticket OPS-7'
                                        ' (the gate found: no alert contact'), note)
        self.assertIn('no technical contact', note)
        self.assertIn('no connection test succeeded', note)
        self.assertNotIn('consent', note)
        self.assertIn('activated with --force: partner confirmed', env.gf('connection', 'show', 'P003',
                                                                          'reviewhub').stdout)

    def test_newer_terms_replace_the_consent_and_withdrawal_deactivates(self):
        env = self.env
        consent = ('connection', 'consent', 'P003', 'reviewhub')
        self.assertEqual(env.gf(*consent, '--by', 'Anna', '--terms-version', '1').returncode, 0)
        r = env.gf(*consent, '--by', 'Anna', '--terms-version', '1')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('already the consent in force; nothing changed', r.stdout)
        self.assertEqual(env.gf(*consent, '--by', 'Ben', '--terms-version', '2').returncode, 0)
        self.assertEqual(env.psql("SELECT terms_version, accepted_by, coalesce(ended_how, '-'),"
                                  " coalesce(ended_by, '-') FROM guestflow.consents ORDER BY id"),
                         [['1', 'Anna', 'replaced', 'Ben'], ['2', 'Ben', '-', '-']])
        self.assertEqual([e[2] for e in self.events()[-2:]],
                         ['consent: terms 1 accepted by Anna', 'consent: terms 2 accepted by Ben (replacing terms 1)'])
        env.gf(*ACTIVATE, '--force', '--reason', 'test')
        self.assertEqual(self.status(), 'live')
        # Withdrawn: ended and deactivated in one step, both recorded.
        r = env.gf(*consent, '--by', 'Carla', '--withdraw')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('consent withdrawn by Carla; the connection is deactivated', r.stdout)
        self.assertEqual(self.status(), 'deactivated')
        self.assertEqual(self.events()[-1], ['live', 'deactivated', 'consent to terms 2 withdrawn by Carla'])
        self.assertRegex(env.gf('connection', 'show', 'P003', 'reviewhub').stdout,
                         r'consent: +none in force \(terms 2 withdrawn by Carla at ')
        # Again: nothing in force, the connection stays deactivated, the
        # withdrawal is recorded all the same.
        r = env.gf(*consent, '--by', 'Carla', '--withdraw')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('consent (none was in force) withdrawn by Carla', r.stdout)
        self.assertEqual(self.events()[-1], ['deactivated', 'deactivated', 'consent (none in force) withdrawn by Carla'])
        # The gate says what became of the last one.
        r = env.gf(*ACTIVATE)
        self.assertEqual(r.returncode, 65)
        self.assertIn('no consent in force (the last was withdrawn by Carla at ', r.stderr)
        self.assertEqual(self.status(), 'deactivated')
        # At most one consent in force, by constraint.
        with self.assertRaisesRegex(Exception, 'consents_in_force'):
            env.psql("INSERT INTO guestflow.consents (connection_id, terms_version, accepted_by)"
                     " SELECT id, v, 'x' FROM guestflow.connections, (VALUES ('3'), ('4')) t(v)"
                     " WHERE property_id = 'P001'")

    def test_withdrawal_without_consent_stops_the_data_all_the_same(self):
        """Red team: a connection made live with --force (or before consents were
        recorded) has no consent in force; the property withdrawing must still
        stop the data."""
        env = self.env
        env.gf(*ACTIVATE, '--force', '--reason', 'migrated from the old tool')
        self.assertEqual(self.status(), 'live')
        r = env.gf('connection', 'consent', 'P003', 'reviewhub', '--by', 'GM', '--withdraw')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.status(), 'deactivated')
        self.assertEqual(self.events()[-1], ['live', 'deactivated', 'consent (none in force) withdrawn by GM'])

    def slow_run_under_way(self, latency_ms):
        """A run of 60 guests of P001 in batches of 5, four at a time, to a
        partner answering after latency_ms: started, its first batches in
        flight and the next ones claimed, waiting for a slot."""
        env = self.env
        env.write_config({'batch': {'max_records': 5, 'in_flight': 4, 'compress': 'none'}, 'lease': '10m'})
        add_many(env, 60, ['P001'])
        env.partner_latency(latency_ms)
        p = self.start_run()
        wait_for(lambda: env.scalar("SELECT count(*) FROM guestflow.deliveries WHERE state = 'sending'") != '0',
                 60, 'the first batches in flight')
        time.sleep(0.3)
        return p

    def test_nothing_more_is_sent_once_the_consent_is_withdrawn_during_a_run(self):
        """Red team: the property withdraws its consent while a run is
        sending to a slow partner. The batches in flight may finish; those
        the run had claimed and not started (waiting for a slot) went out
        seconds after the withdrawal had returned. They go back to the
        queue now, and the run sends nothing more to the connection."""
        env = self.env
        p = self.slow_run_under_way(2000)
        r = env.gf('connection', 'consent', 'P001', 'reviewhub', '--by', 'GM', '--withdraw')
        self.assertEqual(r.returncode, 0, r.stderr)
        withdrawn_at = env.scalar("SELECT clock_timestamp()")
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, out + err)
        started_after = env.psql("SELECT batch_id FROM guestflow.api_calls"
                                 f" WHERE at - latency_ms * interval '1 ms' > '{withdrawn_at}'::timestamptz")
        self.assertEqual(started_after, [], 'requests started after the consent was withdrawn')
        self.assertIn('event=connection_ended', err)
        self.assertRegex(out, r'pending_stopped=[1-9]')
        sent = len(env.recorded())
        self.assertLess(sent, 60)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries WHERE state = 'delivered'"), str(sent))
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries WHERE state = 'pending'"),
                         str(60 - sent))
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries WHERE state = 'sending'"), '0')

    def test_a_property_the_pms_stops_allowing_during_a_run_gets_nothing_more(self):
        """Red team: the PMS turns a property's export off while a run sends
        its guests: the run sent the rest of the night's guests of it (a
        batch retried included); only the next run's automatic stop took
        it. The run makes the automatic stop again as it goes (about every
        second): the connection is stopped, and nothing more is sent to
        it."""
        env = self.env
        # (and a property gone from the PMS, its connection kept: said once
        # a run, not each time the automatic stop is made again)
        env.add_connection('P009', 'H-1009', 'k3y+/=nine')
        p = self.slow_run_under_way(1000)
        env.psql("UPDATE pms.properties SET export_allowed = false WHERE id = 'P001'")
        changed_at = env.scalar("SELECT clock_timestamp()")
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, out + err)
        self.assertIn('event=connection_ended', err)
        self.assertEqual(err.count('event=property_removed'), 1, err)
        self.assertEqual(env.scalar("SELECT status FROM guestflow.connections WHERE property_id = 'P001'"), 'stopped')
        # (the automatic stop comes within a second, the batches in flight
        # then finish: none started later than that)
        late = env.psql("SELECT batch_id FROM guestflow.api_calls"
                        f" WHERE at - latency_ms * interval '1 ms' > '{changed_at}'::timestamptz + interval '2 s'")
        self.assertEqual(late, [])
        sent = len(env.recorded())
        self.assertLess(sent, 60)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries WHERE state = 'sending'"), '0')

    def test_a_property_the_pms_stops_allowing_during_a_limited_run(self):
        """Red team: under --limit each batch is claimed and sent at once,
        without the look a batch claimed ahead gets before it goes: the
        automatic stop was not made again, and the run sent all 60."""
        env = self.env
        env.write_config({'batch': {'max_records': 5, 'in_flight': 4, 'compress': 'none'}, 'lease': '10m'})
        add_many(env, 60, ['P001'])
        env.partner_latency(1000)
        p = subprocess.Popen([GUESTFLOW, '-c', env.config, 'run', 'review-nightly', '--limit', '60'],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.communicate(timeout=10)))
        wait_for(lambda: env.scalar("SELECT count(*) FROM guestflow.deliveries WHERE state = 'sending'") != '0',
                 60, 'the first batches in flight')
        env.psql("UPDATE pms.properties SET export_allowed = false WHERE id = 'P001'")
        out, err = p.communicate(timeout=120)
        self.assertIn('event=connection_ended', err)
        self.assertEqual(env.scalar("SELECT status FROM guestflow.connections WHERE property_id = 'P001'"), 'stopped')
        self.assertLess(len(env.recorded()), 60)

    def test_the_automatic_stop_during_a_run_is_not_starved_by_a_lock(self):
        """Red team: another session keeping the connection's row locked
        made the automatic stop, made again during the run, give up every
        second, and the run sent all of a property the PMS no longer
        allowed. Waiting for the lock would hold up the requests out (they
        time out unread); instead, while the stop cannot be made, each
        batch is checked against the property rule before it goes, and
        the connection is held for the run. The next run stops it."""
        env = self.env
        # (a run of 60 guests that would take about 9 s; the lock kept
        # longer than that)
        p = self.slow_run_under_way(3000)
        release = hold_in_session(self, env, "SELECT 1 FROM guestflow.connections WHERE property_id = 'P001'"
                                             " FOR NO KEY UPDATE")
        env.psql("UPDATE pms.properties SET export_allowed = false WHERE id = 'P001'")
        out, err = p.communicate(timeout=120)
        release()
        # (exit 1: the connection is still live, its deliveries pending)
        self.assertEqual(p.returncode, 1, out + err)
        self.assertIn('statement=connection_autostop sqlstate=55P03', err)
        self.assertIn('event=connection_held', err)
        self.assertNotIn('event=batch_retry', err)
        sent = len(env.recorded())
        self.assertLess(sent, 60)
        r = self.run_job(expect=0)
        self.assertIn('event=connection_auto_stopped', r.stderr)
        self.assertEqual(env.scalar("SELECT status FROM guestflow.connections WHERE property_id = 'P001'"), 'stopped')
        self.assertEqual(len(env.recorded()), sent)

    def test_a_connection_stopped_and_live_again_during_a_run_waits_for_the_next_run(self):
        """Red team: stopped, then live again a moment later, while a run
        sends. The run had kept the connection as ended but its claims
        took the connection's batches again (live), gave them back, and
        again, without end (2,500 transactions a second). The connection
        is held for the rest of the run now: the run ends (exit 1, its
        deliveries pending), and the next one sends the rest."""
        env = self.env
        p = self.slow_run_under_way(1000)
        env.psql("UPDATE guestflow.connections SET status = 'stopped' WHERE property_id = 'P001'")
        time.sleep(0.2)
        env.psql("UPDATE guestflow.connections SET status = 'live' WHERE property_id = 'P001'")
        out, err = p.communicate(timeout=60)
        # (exit 1: deliveries of a live connection left pending)
        self.assertEqual(p.returncode, 1, out + err)
        self.assertIn('event=connection_ended', err)
        sent = len(env.recorded())
        self.assertLess(sent, 60)
        self.assertRegex(out, rf' pending={60 - sent}\b')
        env.partner_latency(0)
        self.run_job(expect=0)
        self.assertEqual(sorted(g['bookingNo'] for g in env.recorded()), sorted(f'B-{i}' for i in range(1, 61)))

    def test_the_gate_counts_only_contacts_the_alerts_reach(self):
        """Red team: a contact scoped to a job of another partner and to this
        connection gets none of its alerts (the mailer wants both to match), so
        it does not cover it; a new secret needs a new test."""
        env = self.env
        env.write_config({'partner': 'otherhub'}, job_name='other-job')
        env.gf('connection', 'consent', 'P003', 'reviewhub', '--by', 'Anna', '--terms-version', '1')
        for role in ('alert', 'technical'):
            r = env.gf('contact', 'add', 'x@example.org', '--role', role, '--job', 'other-job',
                       '--connection', 'P003', 'reviewhub')
            self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(env.gf('connection', 'test', 'P003', 'reviewhub').returncode, 0)
        self.refused('no alert contact', 'no technical contact')
        for role in ('alert', 'technical'):
            env.gf('contact', 'add', 'y@example.org', '--role', role, '--job', 'review-nightly',
                   '--connection', 'P003', 'reviewhub')
        # the partner issued a new key: the test of the old one no longer counts
        r = env.gf('connection', 'set-credentials', 'P003', 'reviewhub', input='n3w-k3y-for-1003\n')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('last test:   never', env.gf('connection', 'show', 'P003', 'reviewhub').stdout)
        self.refused('no connection test succeeded in the last 24 hours (never tested)')
        env.gf('connection', 'set-credentials', 'P003', 'reviewhub', input=self.accounts['H-1003'] + '\n')
        self.assertEqual(env.gf('connection', 'test', 'P003', 'reviewhub').returncode, 0)
        self.assertEqual(env.gf(*ACTIVATE).returncode, 0)
        # live already: said so, a reason given is not recorded
        n = len(self.events())
        r = env.gf(*ACTIVATE, '--force', '--reason', 'again')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('is live already; nothing changed and the reason not recorded', r.stdout)
        self.assertEqual(len(self.events()), n)

    def test_a_test_of_a_secret_replaced_while_it_ran_is_not_recorded(self):
        """Red team: 'connection test' reads the secret, calls the partner, then
        records its verdict; a set-credentials in between must not get that
        verdict (the gate would open for a secret never tested)."""
        env = self.env
        port, _ = serve(self, SlowPong)
        env.endpoint = f'http://127.0.0.1:{port}/v1/guests'
        env.write_config({'allow_insecure_http': True})
        test = subprocess.Popen([GUESTFLOW, '-c', env.config, 'connection', 'test', 'P003', 'reviewhub'],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(0.8)
            r = env.gf('connection', 'set-credentials', 'P003', 'reviewhub', input='n3w-k3y-for-1003\n')
            self.assertEqual(r.returncode, 0, r.stderr)
            out, err = test.communicate(timeout=60)
        finally:
            if test.poll() is None:
                test.kill()
                test.wait(timeout=30)
        self.assertEqual(test.returncode, 75, out + err)
        self.assertIn('had its secret replaced while the test ran: its result is not recorded', err)
        self.assertIsNone(env.scalar("SELECT last_test_verdict FROM guestflow.connections WHERE property_id = 'P003'"))
        # Undisturbed, the same slow test is recorded.
        r = env.gf('connection', 'test', 'P003', 'reviewhub')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(env.scalar("SELECT last_test_verdict FROM guestflow.connections WHERE property_id = 'P003'"),
                         'ok')

    def test_bad_input_is_refused_naming_the_field(self):
        env = self.env
        for args, code, says in (
                (('P003', 'reviewhub', '--by', 'Anna'), 64, 'either --terms-version V or --withdraw'),
                (('P003', 'reviewhub', '--terms-version', '1'), 64, '--by NAME'),
                (('P003', 'reviewhub', '--by', 'A', '--terms-version', '1', '--withdraw'), 64, 'either'),
                (('P003', 'reviewhub', '--by', 'A\x07', '--terms-version', '1'), 65, '--by refused'),
                (('P003', 'reviewhub', '--by', 'A', '--terms-version', ''), 65, '--terms-version refused'),
                (('P003', 'reviewhub', '--by', 'Eve\u202e', '--terms-version', '1'), 65, 'bidi controls'),
                (('P003', 'reviewhub', '--by', '   ', '--terms-version', '1'), 65, '--by refused'),
                (('P003', 'reviewhub', '--by', 'A', '--terms-version', '--withdraw'), 64, 'unexpected argument'),
                (('P003', 'reviewhub', '--by', '--terms-version', '--terms-version', '9'), 64, ''),
                (('P404', 'reviewhub', '--by', 'A', '--terms-version', '1'), 65, 'no connection P404 -> reviewhub')):
            r = env.gf('connection', 'consent', *args)
            self.assertEqual(r.returncode, code, f'{args}: {r.stderr}')
            self.assertIn(says, r.stderr)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.consents"), '0')
        r = env.gf(*ACTIVATE, '--force', '--reason', '--force')
        self.assertEqual(r.returncode, 64, r.stderr)
        r = env.gf('connection', 'activate', 'P404', 'reviewhub')
        self.assertEqual(r.returncode, 65)
        self.assertIn('no connection P404 -> reviewhub', r.stderr)


class AutoStopTest(GFTestCase):
    """Issue 17 item 6 (seeds 001, 004): at the start of each run, a live
    connection whose property the PMS no longer allows to export is stopped;
    one whose property is gone from the PMS is kept or deactivated as the
    job's on_removed says; each with its event, and the job's alert."""

    def conn(self, prop):
        return self.env.psql("SELECT c.status, e.actor, e.note FROM guestflow.connections c"
                             " JOIN guestflow.connection_events e ON e.connection_id = c.id"
                             f" WHERE c.property_id = '{prop}' ORDER BY e.id DESC LIMIT 1")[0]

    def open_alerts(self):
        return self.env.psql("SELECT c.property_id, a.kind FROM guestflow.alert_events a"
                             " JOIN guestflow.connections c ON c.id = a.connection_id"
                             " WHERE a.cleared_at IS NULL ORDER BY 1, 2")

    def test_a_property_the_pms_no_longer_allows_is_stopped_before_anything_is_sent(self):
        env = self.env
        add_many(env, 4, ['P001', 'P002'])
        env.psql("UPDATE pms.properties SET export_allowed = false WHERE id = 'P002'")
        # (its guests are not planned at all: nothing is due for a connection
        # that is not live)
        r = self.run_job(expect=0)
        self.assertIn('event=connection_auto_stopped', r.stderr)
        self.assertEqual(sorted(g['bookingNo'] for g in env.recorded()), ['B-2', 'B-4'], 'only P001 sent')
        status, actor, note = self.conn('P002')
        self.assertEqual((status, actor), ('stopped', 'guestflow (automatic stop)'))
        self.assertIn('the PMS no longer allows', note)
        self.assertEqual(self.conn('P001')[0], 'live')
        self.assertEqual(self.open_alerts(), [['P002', 'connection_stopped']])
        # The next run changes nothing more; allowed again, an operator makes it
        # live (through the gate) and its guests go.
        self.run_job(expect=0)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.connection_events e JOIN"
                                    " guestflow.connections c ON c.id = e.connection_id"
                                    " WHERE c.property_id = 'P002' AND e.actor = 'guestflow (automatic stop)'"), '1')
        env.psql("UPDATE pms.properties SET export_allowed = true WHERE id = 'P002'")
        self.assertEqual(env.gf('connection', 'activate', 'P002', 'reviewhub', *FORCE).returncode, 0)
        self.assertEqual(self.open_alerts(), [])
        self.run_job(expect=0)
        self.assertEqual(len(env.recorded()), 4)

    def stop_while_waiting(self, waiting):
        """A run started, SIGTERM once the query waiting (SQL: '1' while the
        automatic stop waits) says so: the run must end within seconds (75,
        retry later), the statement cancelled, nothing changed or sent."""
        env = self.env
        p = subprocess.Popen([GUESTFLOW, '-c', env.config, 'run', 'review-nightly'],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: env.scalar(waiting) == '1', 60, 'the automatic stop waiting')
            t0 = time.monotonic()
            p.send_signal(signal.SIGTERM)
            out, err = p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        self.assertLess(time.monotonic() - t0, 10, 'ended within seconds, not when the wait did')
        self.assertEqual(p.returncode, 75, out + err[-3000:])
        self.assertIn('event=db_cancel statement=connection_autostop', err)
        self.assertEqual(env.scalar(waiting), '0', 'the statement was cancelled, not left waiting')
        self.assertEqual(env.scalar("SELECT exit_code FROM guestflow.runs"), '75')
        self.assertEqual(env.psql("SELECT status FROM guestflow.connections ORDER BY property_id"),
                         [['live'], ['live']])
        self.assertEqual(env.recorded(), [])

    def test_a_stop_signal_cancels_a_slow_automatic_stop(self):
        """The automatic stop reads the operator's source_properties view with
        the partner's live connections locked. A slow view does not hold a
        stop signal (systemd stopping the unit, an operator's Ctrl-C) until it
        ends."""
        env = self.env
        add_many(env, 2, ['P001'])
        env.psql("CREATE OR REPLACE VIEW guestflow.source_properties AS"
                 " SELECT p.id AS property_id, p.name AS name, p.export_allowed AS export_allowed"
                 "   FROM pms.properties p WHERE (SELECT true FROM pg_sleep(120))")
        self.stop_while_waiting("SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
                                " AND query LIKE '%source_properties%' AND pid <> pg_backend_pid()")

    def test_a_stop_signal_cancels_an_automatic_stop_waiting_for_a_lock(self):
        """Red team: a PMS migration holds pms.properties (ACCESS EXCLUSIVE);
        the automatic stop waits for the lock already when its statement is
        parsed. The stop signal cancels that wait too."""
        env = self.env
        add_many(env, 2, ['P001'])
        holder = subprocess.Popen(['psql', env.conninfo, '-X', '-q', '-v', 'ON_ERROR_STOP=1'],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            holder.stdin.write("BEGIN; LOCK pms.properties IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n")
            holder.stdin.flush()
            wait_for(lambda: env.scalar("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
                                        " WHERE c.relname = 'properties' AND l.mode = 'AccessExclusiveLock'"
                                        " AND l.granted") == '1', 30, 'the PMS table locked')
            self.stop_while_waiting("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                                    " AND application_name = 'guestflow'")
        finally:
            holder.kill()
            holder.communicate(timeout=10)

    def test_a_property_gone_from_the_pms_is_kept_or_deactivated_as_the_job_says(self):
        env = self.env
        env.add_connection('P009', 'H-1009', 'k3y+/=nine')
        r = self.run_job(expect=0)
        self.assertIn('event=property_removed connection=', r.stderr)
        self.assertIn('on_removed: keep', r.stderr)
        self.assertEqual(self.conn('P009')[0], 'live')
        env.write_config({'on_removed': 'deactivate'})
        r = self.run_job(expect=0)
        self.assertIn('event=connection_auto_stopped', r.stderr)
        status, actor, note = self.conn('P009')
        self.assertEqual((status, actor), ('deactivated', 'guestflow (automatic stop)'))
        self.assertIn('the property is gone from the PMS', note)
        self.assertEqual(self.open_alerts(), [['P009', 'connection_deactivated']])
        self.assertEqual(env.gf('check-config').returncode, 0)
        env.write_config({'on_removed': 'delete'})
        r = env.gf('check-config')
        self.assertEqual(r.returncode, 78)
        self.assertIn('on_removed', r.stderr)

    def test_a_property_the_view_does_not_list_sends_nothing_whatever_the_status(self):
        """Red team: with another PMS's views, a property may have bookings in
        source_bookings and be missing from source_properties (a view of the
        active ones). Fail-closed: its guests are not eligible (explain says
        why, --dry-run does not count them), its connection is kept live
        (on_removed: keep) or deactivated, and activate refuses it."""
        env = self.env
        env.write_config({}, job_name='review-weekly')  # a second job of the partner
        add_many(env, 4, ['P001', 'P002'])
        env.psql("CREATE OR REPLACE VIEW guestflow.source_properties AS SELECT id AS property_id, name,"
                 " export_allowed FROM pms.properties WHERE id <> 'P002'")
        r = env.gf('run', 'review-nightly', '--dry-run')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotRegex(r.stdout, r'(?m)^P002 .*NEW')
        r = self.run_job(expect=0)
        self.assertIn('event=property_removed', r.stderr)
        self.assertEqual(sorted(g['bookingNo'] for g in env.recorded()), ['B-2', 'B-4'], 'nothing of P002')
        self.assertEqual(self.conn('P002')[0], 'live')
        r = env.gf('explain', 'B-1')
        self.assertRegex(r.stdout, r'NO +property allows export +the PMS does not list the property')
        # deactivated by the job that says so: every job of the partner hears of it
        env.write_config({'on_removed': 'deactivate'}, job_name='review-weekly')
        r = env.gf('run', 'review-weekly')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.conn('P002')[0], 'deactivated')
        self.assertEqual(env.psql("SELECT a.job FROM guestflow.alert_events a JOIN guestflow.connections c"
                                  " ON c.id = a.connection_id WHERE c.property_id = 'P002' ORDER BY 1"),
                         [['review-nightly'], ['review-weekly']])
        r = env.gf('connection', 'activate', 'P002', 'reviewhub')
        self.assertEqual(r.returncode, 65)
        self.assertIn("the PMS does not allow the property's guests to be exported", r.stderr)

    def test_an_adapter_without_the_properties_view_is_a_clear_error(self):
        env = self.env
        add_many(env, 2, ['P001'])
        env.psql("DROP VIEW guestflow.source_properties")
        r = self.run_job(expect=78)
        self.assertIn('event=adapter_missing', r.stderr)
        self.assertIn('guestflow.source_properties (property_id text, name, export_allowed boolean) is missing', r.stderr)
        self.assertEqual(env.recorded(), [], 'nothing sent before it can tell')
        # of another shape: the same (not a database error every night)
        env.psql("CREATE VIEW guestflow.source_properties AS SELECT 1 AS property_id, name,"
                 " export_allowed FROM pms.properties")
        r = self.run_job(expect=78)
        self.assertIn('not of that shape', r.stderr)
        env.psql("DROP VIEW guestflow.source_properties")
        r = env.gf('db', 'migrate')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('source_properties', r.stdout + r.stderr)
        self.run_job(expect=0)
        self.assertEqual(len(env.recorded()), 2)


if __name__ == '__main__':
    main()
