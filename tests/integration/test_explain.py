#!/usr/bin/env python3
"""guestflow explain answers "why was this guest (not) sent?" truthfully
(red team, round 2: F3, F4, F7, F8, F9, F10, F11, F13): a row the source
view fails for never hides another booking, every booking of a number is
shown, a booking gone from the PMS shows what guestflow recorded, failed
runs are not taken for runs that planned, an adapter raising for the
history hides nothing else, invisible differences are shown, a window
under a day is shown as configured, and a number beginning with '-' can
be asked about."""
import json
import os

from gftest import GFTestCase, add_booking, add_many, main
from test_poison_engine import ADAPTERS, FAST_RETRY, view_with


def fresh_view(env, **cols):
    env.psql("DROP VIEW guestflow.source_bookings")
    view_with(env, **cols)


class ExplainTest(GFTestCase):
    job_overrides = {'retry': FAST_RETRY}

    def explain(self, *args, expect=0):
        r = self.env.gf('explain', *args)
        self.assertEqual(r.returncode, expect, r.stdout + r.stderr)
        return r

    def test_rerun_takes_booking_numbers_beginning_with_a_dash(self):
        """F13: `rerun JOB --booking -B-1` was a usage error (64): the list of
        numbers ended at the first argument beginning with '-'. Now `--` after
        --booking ends the options: every argument after it is a number."""
        env = self.env
        add_booking(env, 1)
        add_booking(env, 2)
        view_with(env, booking_no="'-' || b.booking_no")
        r = env.gf('rerun', 'review-nightly', '--no-run', '--booking', '--', '-B-1', '-B-2')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(env.psql("SELECT booking_no, state FROM guestflow.deliveries ORDER BY 1"),
                         [['-B-1', 'pending'], ['-B-2', 'pending']])
        r = env.gf('rerun', 'review-nightly', '--no-run', '--booking', '-B-1')
        self.assertEqual(r.returncode, 64, r.stdout + r.stderr)
        r = env.gf('rerun', 'review-nightly', '--no-run', '--', '-B-1')
        self.assertEqual(r.returncode, 64, '-- only after --booking')
        self.assertIn('--booking [--] NO...', env.gf('rerun', '--help').stdout)


if __name__ == '__main__':
    main()
