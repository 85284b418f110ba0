#!/usr/bin/env python3
"""The guest-json output end to end (PARTNERS.md "guest-json v1"): the same
engine as review-xml, a JSON API with a bearer token, served by the partner
simulator's guest-json side, which checks every body against the contract."""
import json
import os

from gftest import GFTestCase, add_booking, add_many, main


class GuestJsonTest(GFTestCase):
    # The simulator's accounts serve both formats: property id -> API token.
    accounts = {'PX-1': 'tok3n+/=one', 'PX-2': 'tok3n+/=two'}
    properties = {'P001': 'PX-1', 'P002': 'PX-2'}
    job_overrides = {'format': 'guest-json'}

    def test_guests_arrive_once_as_json_with_the_token_in_a_header(self):
        env = self.env
        add_booking(env, 1, last='  Müller  ', first=' Anna ', gender='F', lang='de-DE')
        add_booking(env, 2, prop='P002', last='O\'Brien "Ltd" \\ <x>', first='', gender='Mr', lang='English')
        add_booking(env, 3, last='عبد الله 🌊', first=None, gender='x', lang='xx')
        r = self.run_job(expect=0)
        self.assertIn('delivered=3 rejected=0', r.stdout)
        got = {g['bookingNo']: g for g in env.recorded()}
        self.assertEqual(sorted(got), ['B-1', 'B-2', 'B-3'])
        self.assertTrue(all(g.get('format') == 'guest-json' for g in got.values()), got)
        self.assertEqual((got['B-1']['hotelId'], got['B-1']['lastName'], got['B-1']['firstName'],
                          got['B-1']['gender'], got['B-1']['language']), ('PX-1', 'Müller', 'Anna', 'female', 'de'))
        self.assertEqual((got['B-2']['hotelId'], got['B-2']['lastName'], got['B-2']['firstName']),
                         ('PX-2', 'O\'Brien "Ltd" \\ <x>', None))
        self.assertEqual((got['B-3']['lastName'], got['B-3']['language']), ('عبد الله 🌊', 'en'))
        self.assertEqual(self.history_count(), 3)
        self.assertEqual(self.states(), {'delivered': 3})
        # The API-call log: the property in the path, the token nowhere.
        urls = [u for (u,) in env.psql("SELECT url FROM guestflow.api_calls ORDER BY id")]
        self.assertEqual(env.psql("SELECT DISTINCT method FROM guestflow.api_calls"), [['POST']])
        # Named as the format names them.
        show = env.gf('connection', 'show', 'P001', 'reviewhub').stdout
        self.assertIn('property id: PX-1\nAPI token:   stored encrypted', show)
        self.assertIn('PROPERTY ID', env.gf('status').stdout)
        self.assertIn('ID AT PARTNER', env.gf('connection', 'list').stdout)
        self.assertTrue(urls and all(u.endswith(('/properties/PX-1/guests', '/properties/PX-2/guests'))
                                     for u in urls), urls)
        with open(os.path.join(env.dir, 'sim.log'), encoding='utf-8') as f:
            sim_log = f.read()
        for where in (json.dumps(urls), sim_log):
            self.assertNotIn('tok3n', where)
        stats = env.sim_stats()
        self.assertEqual(stats['guest_json'], stats['requests'], stats)
        # A second run sends nothing again.
        r = self.run_job(expect=0)
        self.assertIn('new=0 delivered=0', r.stdout)
        self.assertEqual(len(env.recorded()), 3)

    def test_a_guest_the_partner_refuses_is_rejected_with_its_reason(self):
        env = self.env
        add_many(env, 6, ['P001'])
        env.sim_control('refuse?bookingNo=B-3&reason=unsubscribed%20guest')
        r = self.run_job(expect=1)
        self.assertIn('delivered=5 rejected=1', r.stdout)
        reason = env.scalar("SELECT reason FROM guestflow.deliveries WHERE booking_no = 'B-3'")
        self.assertEqual(reason, 'partner: unsubscribed guest')
        self.assertEqual(sorted(g['bookingNo'] for g in env.recorded()), ['B-1', 'B-2', 'B-4', 'B-5', 'B-6'])

    def test_a_refused_token_holds_the_connection(self):
        env = self.env
        add_booking(env, 1)
        add_booking(env, 2, prop='P002')
        r = env.gf('connection', 'set-credentials', 'P002', 'reviewhub', input='wrong-token-1\n')
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.run_job(expect=1)
        self.assertEqual(self.states(), {'delivered': 1, 'pending': 1})
        alert = env.scalar("SELECT message FROM guestflow.alert_events WHERE kind = 'auth_failed'")
        self.assertIn('P002', alert)
        self.assertNotIn('wrong-token', alert + r.stdout + r.stderr)
        self.assertEqual(env.sim_stats()['status'].get('401', 0) >= 1, True)

    def test_a_batch_refused_without_names_is_bisected(self):
        env = self.env
        add_many(env, 8, ['P001'])
        env.sim_control('script?status=400&count=1&body=%7B%22error%22%3A%22bad%20batch%22%7D'
                        '&content_type=application/json')
        r = self.run_job(expect=0)
        self.assertIn('delivered=8 rejected=0', r.stdout)
        self.assertEqual(sorted(g['bookingNo'] for g in env.recorded()), [f'B-{i}' for i in range(1, 9)])
        self.assertGreaterEqual(int(env.scalar("SELECT count(*) FROM guestflow.batches WHERE state = 'split'")), 1)

    def test_a_400_naming_guests_rejects_them_and_sends_the_rest_at_once(self):
        env = self.env
        add_many(env, 8, ['P001'])
        env.sim_control('refuse?bookingNo=B-3&named400=1&reason=no%20such%20stay')
        env.sim_control('refuse?bookingNo=B-6&named400=1&reason=blocked')
        r = self.run_job(expect=1)
        self.assertIn('delivered=6 rejected=2', r.stdout)
        reasons = dict(env.psql("SELECT booking_no, reason FROM guestflow.deliveries WHERE state = 'rejected'"))
        self.assertEqual(reasons, {'B-3': 'partner: no such stay', 'B-6': 'partner: blocked'})
        self.assertEqual(sorted(g['bookingNo'] for g in env.recorded()), ['B-1', 'B-2', 'B-4', 'B-5', 'B-7', 'B-8'])
        # Two requests: the refused one, and the rest at once under a key
        # derived from the batch's (no bisecting).
        calls = env.psql("SELECT status_code, idempotency_key, md5(idempotency_key || '.rest')::uuid::text"
                         " FROM guestflow.api_calls ORDER BY id")
        self.assertEqual([c[0] for c in calls], ['400', '200'], calls)
        self.assertEqual(calls[1][1], calls[0][2])
        self.assertEqual(self.states(), {'delivered': 6, 'rejected': 2})

    def test_dry_run_shows_the_json_body(self):
        env = self.env
        add_booking(env, 1, last='Müller')
        r = env.gf('run', 'review-nightly', '--dry-run')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('for property id PX-1', r.stdout)
        body = r.stdout[r.stdout.index('{"batchId"'):].strip()
        doc = json.loads(body)
        self.assertEqual(doc['guests'][0]['pmsId'], 'B-1')
        self.assertEqual(doc['guests'][0]['lastName'], 'Müller')
        self.assertEqual(env.recorded(), [])

    def test_fields_left_out_are_not_sent_nor_checked(self):
        env = self.env
        env.write_config({'format': 'guest-json', 'fields': {'omit': ['gender', 'arrival', 'first_name']}})
        add_booking(env, 1, first='Anna', gender='F')
        add_booking(env, 2)
        env.psql("UPDATE pms.bookings SET arrival = departure + 3 WHERE booking_no = 'B-2'")  # not sent
        r = env.gf('run', 'review-nightly', '--dry-run')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn('"gender"', r.stdout)
        self.assertNotIn('"checkin"', r.stdout)
        r = self.run_job(expect=0)
        self.assertIn('delivered=2 rejected=0', r.stdout)
        for g in env.recorded():
            self.assertEqual((g['gender'], g['arrival'], g['firstName']), (None, None, None), g)
            self.assertIsNotNone(g['departure'])
        # review-xml's schema requires gender: refused before anything runs.
        env.write_config({'fields': {'omit': ['gender']}})
        r = env.gf('check-config')
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn("'fields.omit' cannot leave out gender in review-xml", r.stderr)

    def test_connection_add_takes_the_formats_credentials(self):
        env = self.env
        env.psql("INSERT INTO pms.properties VALUES ('P003', 'Hotel P003')")
        r = env.gf('connection', 'add', 'P003', 'reviewhub', '--hotel-id', 'PX-3', input='tok3n-three\n')
        self.assertEqual(r.returncode, 64, r.stderr)
        self.assertIn('--property-id', r.stderr)
        self.assertIn('API token', r.stderr)
        r = env.gf('connection', 'add', 'P003', 'reviewhub', '--property-id', 'PX\x073', input='tok3n-three\n')
        self.assertEqual(r.returncode, 65, r.stderr)
        # guest-json's token goes into the Authorization header: printable
        # ASCII without spaces, no length rule.
        for token, says in (('tok\u00e9n-three', 'character 4 is not ASCII'),
                            ('tok en-three', 'character 4 is a space'),
                            ('tok\x01en-three', 'character 4 is a control character'), ('tok3n', 'has 5')):
            r = env.gf('connection', 'add', 'P003', 'reviewhub', '--property-id', 'PX-3', input=token + '\n')
            self.assertEqual(r.returncode, 65, r.stderr)
            self.assertIn('API token refused', r.stderr)
            self.assertIn(says, r.stderr)
            self.assertNotIn(token, r.stderr, 'the token is never quoted back')
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.connections WHERE property_id = 'P003'"), '0')
        r = env.gf('connection', 'add', 'P003', 'reviewhub', '--property-id', 'PX-3', input='tok3n-three\n')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(env.gf('connection', 'set-credentials', 'P003', 'reviewhub',
                                input='tok en\n').returncode, 65, 'a space: refused')
        self.assertEqual(env.scalar("SELECT id_at_partner FROM guestflow.connections WHERE property_id = 'P003'"), 'PX-3')


if __name__ == '__main__':
    main()
