#!/usr/bin/env python3
"""The source adapter as the contract gives it (red team, round 2).

F1. The views' columns are checked against the contract's names and types
    (schemas/sql/reference/adapters.sql, adapter_properties.sql) from the
    catalog, by check-config and before a run plans: a column missing or of
    another type is refused with exit 78, naming the view, the column, its
    type and the type wanted, before anything is read through the view, so
    nothing is rejected for it. varchar for text and a domain over the
    type wanted are accepted.
F2. One booking the view cannot give is contained to itself by the
    operator's commands as by the run: `run --dry-run` shows the others and
    names it with the database's message; `rerun` queues the others and
    names it, not queued (exit 1)."""
import json

from gftest import GFTestCase, add_many, main
from test_poison_engine import FAST_RETRY, view_with


def fresh_view(env, **cols):
    """The reference view with columns replaced, created anew (a column of
    another type cannot be replaced in place)."""
    env.psql("DROP VIEW guestflow.source_bookings")
    view_with(env, **cols)


class AdapterColumns(GFTestCase):
    job_overrides = {'retry': FAST_RETRY}

    def assert_refused(self, *words):
        """check-config and run both refuse (78) naming words; the run plans
        nothing."""
        env = self.env
        cc = env.gf('check-config')
        self.assertEqual(cc.returncode, 78, cc.stdout + cc.stderr)
        r = self.run_job(expect=78)
        for w in words:
            self.assertIn(w, cc.stderr)
            self.assertIn(w, r.stderr)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries"), '0')
        self.assertEqual(env.recorded(), [])
        return r

    def test_an_integer_booking_id_is_a_configuration_error(self):
        """Was: booking_id as integer passed check-config, and every run
        failed as a database error (exit 75, "unexpected column in the
        plan's stream"). Now: refused (78) naming the column, its type and
        bigint."""
        add_many(self.env, 3, ['P001'])
        fresh_view(self.env, booking_id='b.id::int')
        r = self.assert_refused('view=guestflow.source_bookings column=booking_id type=integer wanted=bigint')
        self.assertIn('event=adapter_wrong_type', r.stderr)

    def test_notify_as_text_is_a_configuration_error(self):
        """Was: notify as text failed every plan with SQLSTATE 42804 (exit
        75). Now: refused (78)."""
        add_many(self.env, 3, ['P001'])
        fresh_view(self.env, notify="CASE WHEN b.notify_on_occupancy THEN 'yes' ELSE 'no' END")
        self.assert_refused('column=notify type=text wanted=boolean')

    def test_a_missing_column_is_a_configuration_error(self):
        """Was: a view without gender failed every plan with SQLSTATE 42703
        (exit 75). Now: refused (78), the column named."""
        env = self.env
        add_many(env, 3, ['P001'])
        env.psql("DROP VIEW guestflow.source_bookings")
        env.psql("CREATE VIEW guestflow.source_bookings AS"
                 " SELECT b.id AS booking_id, b.property_id, b.booking_no, b.status, b.arrival, b.departure,"
                 "        b.checked_out_at, b.notify_on_occupancy AS notify, g.last_name, g.first_name, g.email,"
                 "        g.language, greatest(b.updated_at, g.updated_at) AS updated_at"
                 "   FROM pms.bookings b LEFT JOIN pms.guests g ON g.id = b.guest_id")
        r = self.assert_refused('column=gender type=none wanted=text')
        self.assertIn('event=adapter_missing', r.stderr)

    def test_timestamp_dates_are_refused_and_nothing_is_lost(self):
        """Was: arrival and departure given as timestamp rejected every guest
        as bad data ("arrival: not a date of the form YYYY-MM-DD"), and they
        stayed rejected after the view was fixed (the PMS had not changed
        them). Now: refused before the plan (78); once the view is fixed,
        every guest is delivered."""
        env = self.env
        add_many(env, 4, ['P001', 'P002'])
        fresh_view(env, arrival='b.arrival::timestamp', departure='b.departure::timestamp')
        self.assert_refused('column=arrival type="timestamp without time zone" wanted=date',
                            'column=departure')
        fresh_view(env)
        self.run_job(expect=0)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries WHERE state = 'delivered'"), '4')

    def test_export_allowed_of_another_type_is_refused(self):
        """source_properties is checked the same way (export_allowed as text:
        refused, naming it)."""
        env = self.env
        add_many(env, 2, ['P001'])
        env.psql("DROP VIEW guestflow.source_properties")
        env.psql("CREATE VIEW guestflow.source_properties AS SELECT p.id AS property_id, p.name,"
                 " p.export_allowed::text AS export_allowed FROM pms.properties p")
        self.assert_refused('view=guestflow.source_properties column=export_allowed type=text wanted=boolean')

    def test_varchar_and_domains_are_accepted(self):
        """What the contract takes besides its own types: character varying
        for text, a domain over the type wanted (over another domain too)."""
        env = self.env
        add_many(env, 3, ['P001'])
        env.psql("CREATE DOMAIN public.pms_id AS bigint; CREATE DOMAIN public.pms_id2 AS public.pms_id")
        fresh_view(env, booking_id='b.id::public.pms_id2', booking_no='b.booking_no::varchar(40)',
                   email='g.email::varchar')
        cc = env.gf('check-config')
        self.assertEqual(cc.returncode, 0, cc.stderr)
        self.assertIn("source adapters: of the contract's shape", cc.stdout)
        self.assertNotIn('adapter_', cc.stderr)
        self.run_job(expect=0)
        self.assertEqual(len(env.recorded()), 3)


BAD_ARRIVAL = "(CASE WHEN b.id = 2 THEN 'n/a' ELSE b.arrival::text END)::date"
DATE_ERROR = 'invalid input syntax for type date'


class OneBadRow(GFTestCase):
    job_overrides = {'retry': FAST_RETRY}

    def test_dry_run_shows_the_others_and_names_the_bad_one(self):
        """Was: one booking whose arrival the view cannot give made `run
        --dry-run` exit 70 (statement dry_batch, the date's error). Now: the
        others are counted and shown, the bad one is named with the
        database's message, exit 0; --json lists it under unreadable."""
        env = self.env
        add_many(env, 6, ['P001', 'P002'])
        view_with(env, arrival=BAD_ARRIVAL)
        r = self.run_job('--dry-run', expect=0)
        self.assertRegex(r.stdout, r'(?m)^total +5 +0$')
        self.assertRegex(r.stdout, r'(?m)^  would reject B-2 \(booking_id 2\): the source view cannot give this'
                                   r' booking: invalid input syntax for type date')
        self.assertIn('<bookingNo>B-4</bookingNo>', r.stdout)  # B-2's connection's batch, without it
        j = self.run_job('--dry-run', '--json', expect=0)
        doc = json.loads(j.stdout)
        self.assertEqual(doc['total_new'], 5)
        self.assertEqual([(u['booking_id'], u['booking_no']) for u in doc['unreadable']], [(2, 'B-2')])
        self.assertIn(DATE_ERROR, doc['unreadable'][0]['reason'])
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries"), '0', 'a dry run writes nothing')

    def test_dry_run_with_a_checkout_the_view_cannot_give(self):
        """Was: an error in checked_out_at (read by the rules) failed the
        counts of every dry run (exit 70, statement dry_counts). Now: that
        booking is named and the others counted."""
        env = self.env
        add_many(env, 4, ['P001'])
        view_with(env, checked_out_at="CASE WHEN b.id = 3 THEN (1 / (b.id - 3))::text::timestamptz"
                                      " ELSE b.checked_out_at END")
        r = self.run_job('--dry-run', expect=0)
        self.assertRegex(r.stdout, r'(?m)^total +3 +0$')
        self.assertIn('would reject B-3 (booking_id 3): the source view cannot give this booking: division by'
                      ' zero', r.stdout)

    def test_dry_run_of_a_view_broken_as_a_whole_still_fails(self):
        """A view that fails for every booking is broken, not one booking's:
        the dry run fails (70) naming nothing."""
        env = self.env
        add_many(env, 3, ['P001'])
        view_with(env, arrival="'n/a'::text::date")
        r = self.run_job('--dry-run', expect=70)
        self.assertIn('event=source_unreadable', r.stderr)
        self.assertNotIn('would reject', r.stdout)

    def rerun(self, *args):
        return self.env.gf('rerun', 'review-nightly', *args)

    def test_rerun_by_booking_queues_the_others_and_names_the_bad_one(self):
        """Was: `rerun JOB --booking B-1 B-2` with B-2 unreadable exited 70
        (rerun_select is one statement) and B-1 was not queued either. Now:
        B-1 is queued, B-2 named with the database's message and not queued,
        exit 1; the next run sends B-1."""
        env = self.env
        add_many(env, 3, ['P001'])
        self.run_job(expect=0)
        view_with(env, arrival=BAD_ARRIVAL)
        r = self.rerun('--booking', 'B-1', 'B-2', '--force', '--no-run')
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn('queued: 0 never sent before, 1 again', r.stdout)
        self.assertRegex(r.stdout, r'(?m)^  not queued: B-2 \(booking_id 2\): the source view cannot give this'
                                   r' booking: invalid input syntax for type date')
        self.assertIn('event=source_row_unreadable booking_no=B-2 booking_id=2', r.stderr)
        self.assertNotIn('not in guestflow.source_bookings', r.stdout)
        self.assertEqual(env.psql("SELECT booking_no, state FROM guestflow.deliveries ORDER BY 1"),
                         [['B-1', 'pending'], ['B-2', 'delivered'], ['B-3', 'delivered']])
        view_with(env)
        self.run_job(expect=0)
        self.assertEqual(sorted(g['bookingNo'] for g in env.recorded()), ['B-1', 'B-1', 'B-2', 'B-3'])

    def test_rerun_by_dates_queues_the_others(self):
        """Was: `rerun JOB --from D --to D` over a day with one unreadable
        booking exited 70 and queued nothing. Now: the others are queued,
        in one transaction, the bad one named; with the run that follows,
        the exit is 1."""
        env = self.env
        add_many(env, 6, ['P001', 'P002'])
        self.run_job(expect=0)
        env.psql("UPDATE guestflow.deliveries SET state = 'rejected', reason = 'partner said no'")
        view_with(env, arrival=BAD_ARRIVAL)
        r = self.rerun('--from', '2000-01-01', '--to', '2100-01-01')
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn('5 bookings matched; queued: 0 never sent before, 5 again', r.stdout)
        self.assertIn('not queued: B-2 (booking_id 2)', r.stdout)
        self.assertEqual(env.psql("SELECT booking_no, state FROM guestflow.deliveries"
                                  " WHERE state <> 'delivered' ORDER BY 1"), [['B-2', 'rejected']])

    def test_rerun_through_a_view_broken_as_a_whole_queues_nothing(self):
        """A view that fails for every booking is not one booking's: the
        rerun fails as a database error (70), naming and queueing nothing."""
        env = self.env
        add_many(env, 2, ['P001'])
        self.run_job(expect=0)
        view_with(env, arrival="'n/a'::text::date")
        r = self.rerun('--booking', 'B-1', 'B-2', '--force', '--no-run')
        self.assertEqual(r.returncode, 70, r.stdout + r.stderr)
        self.assertIn('event=source_unreadable', r.stderr)
        self.assertNotIn('not queued', r.stdout)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries WHERE state <> 'delivered'"), '0')


if __name__ == '__main__':
    main()
