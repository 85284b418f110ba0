#!/usr/bin/env python3
"""The go-live gate (issue 17, items 2 and 4; seeds 000, 001, 002, 004):
'connection consent' records who accepted which terms and when, and its
withdrawal deactivates the connection; 'connection activate' refuses (exit
65, every missing item listed) unless consent is in force, an alert and a
technical contact cover the connection and a connection test succeeded in
the last 24 hours; '--force --reason' goes live all the same, recorded."""
from gftest import GFTestCase, add_booking, main

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
        r = env.gf(*consent, '--by', 'Carla', '--withdraw')
        self.assertEqual(r.returncode, 65)
        self.assertIn('no consent in force to withdraw', r.stderr)
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

    def test_bad_input_is_refused_naming_the_field(self):
        env = self.env
        for args, code, says in (
                (('P003', 'reviewhub', '--by', 'Anna'), 64, 'either --terms-version V or --withdraw'),
                (('P003', 'reviewhub', '--terms-version', '1'), 64, '--by NAME'),
                (('P003', 'reviewhub', '--by', 'A', '--terms-version', '1', '--withdraw'), 64, 'either'),
                (('P003', 'reviewhub', '--by', 'A\x07', '--terms-version', '1'), 65, '--by refused'),
                (('P003', 'reviewhub', '--by', 'A', '--terms-version', ''), 65, '--terms-version refused'),
                (('P404', 'reviewhub', '--by', 'A', '--terms-version', '1'), 65, 'no connection P404 -> reviewhub')):
            r = env.gf('connection', 'consent', *args)
            self.assertEqual(r.returncode, code, f'{args}: {r.stderr}')
            self.assertIn(says, r.stderr)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.consents"), '0')
        r = env.gf('connection', 'activate', 'P404', 'reviewhub')
        self.assertEqual(r.returncode, 65)
        self.assertIn('no connection P404 -> reviewhub', r.stderr)


if __name__ == '__main__':
    main()
