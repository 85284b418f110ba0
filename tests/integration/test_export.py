#!/usr/bin/env python3
"""The nightly review export end to end: eligibility, rendering, delivery,
history entries, API-call log, run report, exactly once across runs."""
import re
import time

from gftest import GFTestCase, add_booking, add_many, main


class ExportTest(GFTestCase):

    def test_eligible_guests_arrive_once_with_history(self):
        env = self.env
        # Eligible, with messy but valid data.
        add_booking(env, 1, last='  Müller  ', first=' Anna ', gender='F', lang='de-DE')
        add_booking(env, 2, prop='P002', last='O\'Brien & <Sons> "Ltd"', first='', gender='Mr', lang='English')
        add_booking(env, 3, last='عبد الله 🌊', first=None, gender='x', lang='xx',
                    email=' Guest3+review@Example.org ')
        add_booking(env, 4, last='Nakamura', first='陽翔', gender='Herr', lang='DEU')
        # Not eligible, one per rule.
        add_booking(env, 10, email='')                       # no e-mail
        add_booking(env, 11, email='no-at-sign.example.org')
        add_booking(env, 12, email='two@@example.org')
        add_booking(env, 13, email='with space@example.org')
        add_booking(env, 14, last='   ')                     # blank last name
        add_booking(env, 15, last=None)
        add_booking(env, 16, notify=False)                   # notify flag off
        add_booking(env, 17, status='in_house', checked_out=None)
        add_booking(env, 18, status='cancelled', checked_out=None)
        add_booking(env, 19, checked_out="now() - interval '20 days'")  # outside the window
        env.psql("INSERT INTO pms.properties VALUES ('P003', 'Not connected'), ('P004', 'Setup only')")
        add_booking(env, 20, prop='P003')                    # no connection
        env.add_connection('P004', 'H-1004', 'whatever', live=False)
        add_booking(env, 21, prop='P004')                    # connection not live

        r = self.run_job(expect=0)
        self.assertRegex(r.stdout, r'^review-nightly: run \d+ eligible=4 new=4 delivered=4 rejected=0 '
                                   r'retried=0 dead=0 pending=0 requests=\d+ duration=[0-9.]+s exit=0$')
        got = {g['bookingNo']: g for g in env.recorded()}
        self.assertEqual(sorted(got), ['B-1', 'B-2', 'B-3', 'B-4'])
        g = got['B-1']
        self.assertEqual((g['hotelId'], g['lastName'], g['firstName'], g['gender'], g['language'], g['email']),
                         ('H-1001', 'Müller', 'Anna', 'female', 'de', 'guest1@example.org'))
        self.assertEqual((g['status'], g['arrival'], g['departure']),
                         ('checked_out', env.scalar("SELECT (current_date - 3)::text"),
                          env.scalar("SELECT (current_date - 1)::text")))
        g = got['B-2']
        self.assertEqual((g['hotelId'], g['lastName'], g['firstName'], g['gender'], g['language']),
                         ('H-1002', 'O\'Brien & <Sons> "Ltd"', None, 'male', 'en'))
        g = got['B-3']
        self.assertEqual((g['lastName'], g['firstName'], g['gender'], g['language'], g['email']),
                         ('عبد الله 🌊', None, 'diverse', 'en', 'Guest3+review@Example.org'))
        self.assertEqual((got['B-4']['firstName'], got['B-4']['gender'], got['B-4']['language']),
                         ('陽翔', 'male', 'de'))

        # One history entry on each delivered booking, none elsewhere.
        rows = env.psql("SELECT b.booking_no, h.kind, h.message FROM pms.booking_history h"
                        " JOIN pms.bookings b ON b.id = h.booking_id ORDER BY b.id")
        self.assertEqual([r[0] for r in rows], ['B-1', 'B-2', 'B-3', 'B-4'])
        for bn, kind, msg in rows:
            self.assertEqual(kind, 'guestflow')
            self.assertRegex(msg, rf'^Sent to reviewhub by review-nightly \(batch \d+, booking {bn}\)$')

        # Deliveries, the run and the API-call log.
        self.assertEqual(self.states(), {'delivered': 4})
        run = env.psql("SELECT trigger, exit_code, eligible, planned, delivered, rejected, dead, finished_at IS NOT NULL"
                       " FROM guestflow.runs")
        self.assertEqual(run, [['scheduled', '0', '4', '4', '4', '0', '0', 't']])
        calls = env.psql("SELECT url, status_code, records, outcome, idempotency_key IS NOT NULL FROM guestflow.api_calls ORDER BY id")
        self.assertEqual(len(calls), 2)  # one batch per connection
        for url, status, records, outcome, has_key in calls:
            self.assertTrue(url.startswith(env.endpoint + '?id=H-100'), url)
            self.assertNotIn('access_key', url)
            self.assertEqual((status, outcome, has_key), ('200', 'accepted', 't'))
        self.assertEqual(sorted(int(c[2]) for c in calls), [1, 3])

        # A second run sends nothing and writes no history.
        requests_before = env.sim_stats()['requests']
        r = self.run_job(expect=0)
        self.assertIn(' eligible=4 new=0 delivered=0 ', r.stdout)
        self.assertEqual(env.sim_stats()['requests'], requests_before)
        self.assertEqual(self.history_count(), 4)

        # A booking that becomes eligible later goes in the next run, alone.
        env.psql("UPDATE pms.bookings SET notify_on_occupancy = true WHERE booking_no = 'B-16'")
        r = self.run_job(expect=0)
        self.assertIn(' eligible=5 new=1 delivered=1 ', r.stdout)
        self.assertEqual(sorted(g['bookingNo'] for g in env.recorded()), ['B-1', 'B-16', 'B-2', 'B-3', 'B-4'])
        self.assertEqual(self.history_count('B-16'), 1)
        self.assertEqual(self.history_count(), 5)

    def test_batches_respect_max_records_and_all_arrive(self):
        env = self.env
        env.psql("""
            INSERT INTO pms.guests (id, first_name, last_name, email, gender, language)
            SELECT i, 'F' || i, 'L' || i, 'g' || i || '@example.org', 'f', 'fr' FROM generate_series(1, 230) i;
            INSERT INTO pms.bookings (id, property_id, booking_no, guest_id, status, arrival, departure,
                                      checked_out_at, notify_on_occupancy)
            SELECT i, CASE WHEN i % 2 = 0 THEN 'P001' ELSE 'P002' END, 'B-' || i, i, 'checked_out',
                   current_date - 2, current_date - 1, now() - interval '1 hour', true
              FROM generate_series(1, 230) i;""")
        r = self.run_job(expect=0)
        self.assertIn(' delivered=230 ', r.stdout)
        rec = env.recorded()
        self.assertEqual(len(rec), 230)
        self.assertEqual(len({g['bookingNo'] for g in rec}), 230)
        sizes = [int(x[0]) for x in env.psql("SELECT records FROM guestflow.batches ORDER BY id")]
        self.assertTrue(all(s <= 50 for s in sizes), sizes)
        self.assertEqual(sum(sizes), 230)
        # Every booking of a batch belongs to the batch's hotel.
        prop_of = {f'B-{i}': ('H-1001' if i % 2 == 0 else 'H-1002') for i in range(1, 231)}
        for g in rec:
            self.assertEqual(g['hotelId'], prop_of[g['bookingNo']])
        self.assertEqual(self.history_count(), 230)

    def test_sending_begins_while_the_plan_is_still_written(self):
        env = self.env
        add_many(env, 300, ['P001', 'P002'])
        env.write_config({'batch': {'max_records': 2, 'in_flight': 2}})
        r = self.run_job(expect=0)
        self.assertIn(' eligible=300 new=300 delivered=300 ', r.stdout)
        # 150 batches, written a slice at a time: the first was answered and
        # completed before the last was written.
        self.assertEqual(env.psql("SELECT count(*), count(DISTINCT created_at) > 2 FROM guestflow.batches"),
                         [['150', 't']])
        first_answer_before_last_batch = env.scalar(
            "SELECT (SELECT min(at) FROM guestflow.api_calls) < (SELECT max(created_at) FROM guestflow.batches)")
        self.assertEqual(first_answer_before_last_batch, 't')
        # What was sent is what the source says, each guest once, with history.
        rec = env.recorded()
        self.assertEqual(sorted(g['bookingNo'] for g in rec), sorted(f'B-{i}' for i in range(1, 301)))
        for g in rec:
            i = g['bookingNo'][2:]
            self.assertEqual((g['lastName'], g['firstName'], g['email'], g['hotelId']),
                             (f'Last{i}', f'First{i}', f'guest{i}@example.org',
                              'H-1001' if int(i) % 2 == 0 else 'H-1002'))
        self.assertEqual(self.history_count(), 300)
        self.assertRegex(r.stderr, r'event=planning msg=')
        self.assertRegex(r.stderr, r'event=planned eligible=300 new=300 batches=150\b')
        # The next run finds nothing new and leaves no batch behind.
        r = self.run_job(expect=0)
        self.assertIn(' eligible=300 new=0 delivered=0 ', r.stdout)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.batches WHERE state <> 'done'"), '0')

    def test_unrenderable_record_is_rejected_and_the_rest_go(self):
        env = self.env
        add_booking(env, 1)
        add_booking(env, 2, first='Bell' + chr(7))
        add_booking(env, 3, arrival='current_date - 1', departure='current_date - 5')
        add_booking(env, 4, last='x' * 10000)  # no length limit: sent, the partner decides
        add_booking(env, 5)
        r = self.run_job(expect=1)
        self.assertIn(' delivered=3 rejected=2 ', r.stdout)
        self.assertEqual(sorted(g['bookingNo'] for g in env.recorded()), ['B-1', 'B-4', 'B-5'])
        reasons = dict(env.psql("SELECT booking_no, reason FROM guestflow.deliveries WHERE state = 'rejected'"))
        self.assertEqual(sorted(reasons), ['B-2', 'B-3'])
        self.assertRegex(reasons['B-2'], r'first_name: control character U\+0007')
        self.assertRegex(reasons['B-3'], r'departure .* before arrival')
        for reason in reasons.values():
            self.assertNotIn('Bell', reason)  # names stay out of reasons
        self.assertEqual(self.history_count('B-2'), 0)
        self.assertEqual(self.history_count(), 3)
        self.assertIn('event=record_rejected', r.stderr)

    def test_partner_per_record_rejection(self):
        env = self.env
        for n in (1, 2, 3):
            add_booking(env, n)
        env.sim_control('refuse?bookingNo=B-2&reason=guest%20opted%20out')
        r = self.run_job(expect=1)
        self.assertIn(' delivered=2 rejected=1 ', r.stdout)
        self.assertEqual(env.psql("SELECT state, reason FROM guestflow.deliveries WHERE booking_no = 'B-2'"),
                         [['rejected', 'partner: guest opted out']])
        self.assertEqual(self.history_count('B-2'), 0)
        self.assertEqual(self.history_count(), 2)
        # A rejected record is final: the next run does not send it again.
        before = env.sim_stats()['requests']
        self.run_job(expect=0)
        self.assertEqual(env.sim_stats()['requests'], before)

    def test_a_booking_rejected_for_its_data_is_planned_again_once_changed(self):
        """Issue 15, item 4: a booking rejected for its own data comes back when the PMS
        changes it (updated_at later than the rejection); one the partner rejected stays."""
        env = self.env
        add_booking(env, 1)
        add_booking(env, 3, arrival='current_date - 1', departure='current_date - 5')
        add_booking(env, 4)
        env.sim_control('refuse?bookingNo=B-4&reason=guest%20opted%20out')
        r = self.run_job(expect=1)
        self.assertIn(' delivered=1 rejected=2 ', r.stdout)
        self.assertEqual(env.psql("SELECT booking_no, state, data_rejected FROM guestflow.deliveries"
                                  " ORDER BY booking_no"),
                         [['B-1', 'delivered', 'f'], ['B-3', 'rejected', 't'], ['B-4', 'rejected', 'f']])
        r = env.gf('explain', 'B-3')
        self.assertRegex(r.stdout, r'rejected for its data at [0-9-]+ [0-9:]+ \S+; will be planned again when the'
                                   r' booking changes in the PMS')
        r = env.gf('explain', 'B-4')
        self.assertIn("rejected by the partner: stays rejected until 'guestflow rerun review-nightly", r.stdout)
        # Nothing changed: nothing planned again.
        r = self.run_job(expect=0)
        self.assertIn(' eligible=3 new=0 ', r.stdout)
        # The PMS fixes B-3's dates; B-4 changes too, but the partner refused it.
        env.psql("UPDATE pms.bookings SET arrival = current_date - 6, updated_at = now() WHERE booking_no = 'B-3';"
                 "UPDATE pms.bookings SET updated_at = now() WHERE booking_no = 'B-4'")
        r = env.gf('explain', 'B-3')
        self.assertIn('the booking changed since: planned again at the next run', r.stdout)
        r = self.run_job(expect=0)
        self.assertIn(' eligible=3 new=1 delivered=1 ', r.stdout)
        self.assertEqual(env.psql("SELECT booking_no, state, data_rejected, reason IS NULL FROM guestflow.deliveries"
                                  " ORDER BY booking_no"),
                         [['B-1', 'delivered', 'f', 't'], ['B-3', 'delivered', 'f', 't'],
                          ['B-4', 'rejected', 'f', 'f']])
        self.assertEqual(sorted(g['bookingNo'] for g in env.recorded()), ['B-1', 'B-3'])
        self.assertEqual(self.history_count('B-3'), 1)
        self.assertEqual(self.history_count(), 2)

    def test_a_guest_fixed_in_the_pms_is_planned_again(self):
        """Red team (issue 15, item 4): the guest's data (e-mail, names) lives in
        pms.guests; the hotel fixing the guest's e-mail there is a change of the
        booking's data, so the booking rejected for it is planned again — not
        left rejected with 'will be planned again when the booking changes'."""
        env = self.env
        add_booking(env, 1)
        env.psql("UPDATE pms.guests SET email = 'guest' || chr(1) || '1@example.org' WHERE id = 1")
        r = self.run_job(expect=1)
        self.assertIn(' delivered=0 rejected=1 ', r.stdout)
        self.assertEqual(env.psql("SELECT state, data_rejected FROM guestflow.deliveries"), [['rejected', 't']])
        time.sleep(0.01)
        env.psql("UPDATE pms.guests SET email = 'guest1@example.org', updated_at = now() WHERE id = 1")
        r = env.gf('explain', 'B-1')
        self.assertIn('the booking changed since: planned again at the next run', r.stdout)
        self.run_job(expect=0)
        self.assertEqual(env.psql("SELECT state FROM guestflow.deliveries"), [['delivered']])
        self.assertEqual([g['bookingNo'] for g in env.recorded()], ['B-1'])
        self.assertEqual(self.history_count('B-1'), 1)

    def test_a_changed_at_in_the_future_does_not_plan_a_rejection_again_every_run(self):
        """Red team (issue 15, item 4): a PMS whose updated_at lies ahead of the
        database's clock (another time zone in a timestamp without one, a clock
        ahead, 'infinity') must not have a booking rejected for its data planned
        again, and rejected again, at every run (exit 1 every night)."""
        env = self.env
        add_booking(env, 1)
        add_booking(env, 3, arrival='current_date - 1', departure='current_date - 5')
        self.run_job(expect=1)
        env.psql("UPDATE pms.bookings SET updated_at = now() + interval '3 hours' WHERE booking_no = 'B-3'")
        for _ in range(2):
            r = self.run_job(expect=0)
            self.assertIn(' new=0 rejected=0 ', r.stdout.replace('delivered=0 ', ''),
                          'an updated_at ahead of the clock is not a change yet')
        self.assertEqual(env.psql("SELECT state, data_rejected FROM guestflow.deliveries WHERE booking_no = 'B-3'"),
                         [['rejected', 't']])

    def test_status_map_and_uncompressed_bodies(self):
        env = self.env
        env.write_config({'batch': {'compress': 'none'}})
        env.psql("INSERT INTO guestflow.status_map VALUES ('reviewhub', 'checked_out', 'departed')")
        add_booking(env, 1)
        self.run_job(expect=0)
        self.assertEqual([g['status'] for g in env.recorded()], ['departed'])

    def test_window_is_configurable(self):
        env = self.env
        add_booking(env, 1, checked_out="now() - interval '20 days'")
        r = self.run_job(expect=0)
        self.assertIn(' eligible=0 ', r.stdout)
        env.write_config({'selection': {'window': '30d'}})
        r = self.run_job(expect=0)
        self.assertIn(' eligible=1 new=1 delivered=1 ', r.stdout)

    def test_a_checkout_in_the_future_is_not_sent_before_its_time(self):
        """Red team: a PMS clock or time zone gone wrong gives a checkout
        months ahead (or 'infinity'): the guest is not invited before
        leaving; explain says why; once the time has come, it is sent."""
        env = self.env
        add_booking(env, 1, checked_out="now() + interval '200 days'")
        add_booking(env, 2, checked_out="'infinity'")
        add_booking(env, 3)
        r = env.gf('run', 'review-nightly', '--dry-run')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('B-3', r.stdout)
        self.assertNotIn('B-1', r.stdout)
        self.assertNotIn('B-2', r.stdout)
        r = self.run_job(expect=0)
        # (read by the plan's scan, neither counted nor planned: plan.h, GF_SQL_NOT_FUTURE)
        self.assertIn(' eligible=1 new=1 delivered=1 ', r.stdout)
        r = env.gf('explain', 'B-1')
        self.assertRegex(r.stdout, r'NO +checked out within the window +checked_out_at = \S+ \S+ \S+: in the future')
        # nor by a rerun, which goes beyond the window, not into the future
        r = env.gf('rerun', 'review-nightly', '--booking', 'B-1', 'B-2', '--force')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('2 not eligible', r.stdout)
        self.assertEqual([g['bookingNo'] for g in env.recorded()], ['B-3'])
        env.psql("UPDATE pms.bookings SET checked_out_at = now() - interval '1 hour' WHERE id = 1")
        r = self.run_job(expect=0)
        self.assertIn(' eligible=2 new=1 delivered=1 ', r.stdout)
        self.assertEqual(sorted(g['bookingNo'] for g in env.recorded()), ['B-1', 'B-3'])

    def test_deactivated_connection_gets_nothing(self):
        env = self.env
        add_booking(env, 1)
        add_booking(env, 2, prop='P002')
        r = env.gf('connection', 'deactivate', 'P002', 'reviewhub')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.run_job(expect=0)
        self.assertEqual([g['bookingNo'] for g in env.recorded()], ['B-1'])
        self.assertEqual(env.psql("SELECT to_status FROM guestflow.connection_events e JOIN guestflow.connections c"
                                  " ON c.id = e.connection_id WHERE c.property_id = 'P002' ORDER BY e.id"),
                         [['setup'], ['live'], ['deactivated']])


if __name__ == '__main__':
    main()
