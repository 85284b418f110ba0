#!/usr/bin/env python3
"""Status mapping (issue 17, item 8; seed 004): 'guestflow status-map
set|list|remove PARTNER PMS_STATUS PARTNER_STATUS'. The reference statuses
go out as they are unless mapped; a PMS status outside the reference list is
not sent to a partner until mapped for it ('explain' names the failing
rule); a job sends only the statuses of its selection.statuses (default
[checked_out])."""
import os
import re

from gftest import GFTestCase, add_booking, main

ALL = {'selection': {'statuses': ['checked_out', 'departed', 'no_show']}}


class StatusMapTest(GFTestCase):
    def setUp(self):
        super().setUp()
        # A PMS with a status of its own ('departed'): the reference schema's
        # CHECK widened, as such a PMS's adapter would give it.
        self.env.psql("ALTER TABLE pms.bookings DROP CONSTRAINT bookings_status_check")

    def sent(self):
        return {g['bookingNo']: g['status'] for g in self.env.recorded()}

    def test_custom_statuses_wait_for_their_mapping_reference_ones_map_themselves(self):
        env = self.env
        add_booking(env, 1)
        add_booking(env, 2, status='departed')
        add_booking(env, 3, status='no_show')
        # Default selection: checked_out alone.
        self.run_job(expect=0)
        self.assertEqual(self.sent(), {'B-1': 'checked_out'})
        r = env.gf('explain', 'B-3')
        self.assertIn('NOT eligible', r.stdout)
        self.assertRegex(r.stdout, r'NO +status sent by the job +status = no_show \(selection.statuses: checked_out\)')

        # The job sends three statuses: no_show is a reference status, sent
        # as it is; departed is not mapped for reviewhub, so not sent.
        env.write_config(ALL)
        self.assertEqual(env.gf('check-config').returncode, 0)
        r = env.gf('run', 'review-nightly', '--dry-run')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r'total +1 ')
        r = self.run_job(expect=0)
        self.assertEqual(self.sent(), {'B-1': 'checked_out', 'B-3': 'no_show'})
        # (red team: a status no booking of it can go with, a typo in
        # selection.statuses, was silent; it is said every run)
        self.assertIn('event=status_never_sent status=departed', r.stderr)
        self.assertEqual(r.stderr.count('event=status_never_sent'), 1, r.stderr)
        r = env.gf('explain', 'B-2')
        self.assertIn('NOT eligible', r.stdout)
        self.assertRegex(r.stdout, r'yes +status sent by the job +status = departed')
        self.assertRegex(r.stdout, r'NO +status known to the partner +not a reference status and not mapped for'
                                   r' reviewhub: guestflow status-map set reviewhub departed PARTNER_STATUS')
        self.assertIn('delivery: none', r.stdout)

        # Mapped: sent, as the partner calls it, at the next run.
        r = env.gf('status-map', 'set', 'reviewhub', 'departed', 'checked_out')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('reviewhub: PMS status departed is sent as checked_out\n', r.stdout)
        r = env.gf('status-map', 'set', 'reviewhub', 'departed', 'checked_out')
        self.assertIn('(unchanged)', r.stdout)
        r = env.gf('explain', 'B-2')
        self.assertRegex(r.stdout, r'yes +status known to the partner +mapped to checked_out for reviewhub')
        r = self.run_job(expect=0)
        self.assertNotIn('status_never_sent', r.stderr)
        self.assertEqual(self.sent(), {'B-1': 'checked_out', 'B-3': 'no_show', 'B-2': 'checked_out'})
        self.assertEqual(self.states(), {'delivered': 3})

        # A reference status overridden for the partner.
        self.assertEqual(env.gf('status-map', 'set', 'reviewhub', 'no_show', 'noshow').returncode, 0)
        add_booking(env, 4, status='no_show')
        self.run_job(expect=0)
        self.assertEqual(self.sent()['B-4'], 'noshow')

        r = env.gf('status-map', 'list')
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertRegex(lines[0], r'^PARTNER +PMS STATUS +SENT AS +HOW$')
        self.assertIn(['reviewhub', 'checked_out', 'checked_out', 'reference,', 'as', 'it', 'is'],
                      [l.split() for l in lines])
        self.assertIn(['reviewhub', 'no_show', 'noshow', 'mapped', '(instead', 'of', 'the', 'reference', 'status)'],
                      [l.split() for l in lines])
        self.assertIn(['reviewhub', 'departed', 'checked_out', 'mapped'], [l.split() for l in lines])
        self.assertEqual(r.stdout, env.gf('status-map', 'list', 'reviewhub').stdout)

        # Removed: a custom status is not sent again; a booking already
        # delivered stays delivered.
        r = env.gf('status-map', 'remove', 'reviewhub', 'departed')
        self.assertEqual(r.returncode, 0, r.stderr)
        r = env.gf('status-map', 'remove', 'reviewhub', 'departed')
        self.assertEqual(r.returncode, 65)
        self.assertIn('reviewhub has no mapping for departed', r.stderr)
        add_booking(env, 5, status='departed')
        self.run_job(expect=0)
        self.assertNotIn('B-5', self.sent())
        # A rerun by hand applies the same rules.
        r = env.gf('rerun', 'review-nightly', '--booking', 'B-5')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries WHERE booking_no = 'B-5'"), '0')

    def test_a_status_unmapped_or_unselected_since_the_plan_is_not_sent(self):
        """Red team: a delivery planned while its status was sendable, then
        its mapping removed or the PMS status changed, is rejected with the
        reason at send time, never sent with a status the partner has no
        name for."""
        env = self.env
        env.write_config(dict(ALL, retry={'max_attempts': 3, 'backoff_initial': '1s', 'backoff_max': '1s',
                                          'linger': '0s'}))
        add_booking(env, 1, status='departed')
        add_booking(env, 2)
        add_booking(env, 3)
        self.assertEqual(env.gf('status-map', 'set', 'reviewhub', 'departed', 'checked_out').returncode, 0)
        env.partner_down()
        self.run_job()
        self.assertEqual(self.states(), {'pending': 3})
        env.partner_up()
        self.assertEqual(env.gf('status-map', 'remove', 'reviewhub', 'departed').returncode, 0)
        env.psql("UPDATE pms.bookings SET status = 'blacklisted_vip' WHERE booking_no = 'B-2';"
                 "UPDATE guestflow.batches SET next_attempt_at = now()")  # (due now, not after its backoff)
        r = self.run_job(expect=1)
        self.assertEqual(self.sent(), {'B-3': 'checked_out'})
        reasons = dict(env.psql("SELECT booking_no, state || ': ' || reason FROM guestflow.deliveries"
                                " WHERE booking_no IN ('B-1', 'B-2')"))
        self.assertEqual(reasons['B-1'], 'rejected: status departed is not mapped for partner reviewhub'
                                         ' (guestflow status-map set reviewhub departed PARTNER_STATUS, then'
                                         ' guestflow rerun)')
        self.assertEqual(reasons['B-2'], 'rejected: status blacklisted_vip is not one the job sends'
                                         ' (selection.statuses)')
        # Mapped again and rerun: sent, as the partner calls it.
        self.assertEqual(env.gf('status-map', 'set', 'reviewhub', 'departed', 'checked_out').returncode, 0)
        r = env.gf('rerun', 'review-nightly', '--booking', 'B-1')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.sent()['B-1'], 'checked_out')

    def test_status_map_refuses_what_it_cannot_keep(self):
        env = self.env
        r = env.gf('status-map', 'set', 'nobody', 'departed', 'x')
        self.assertEqual(r.returncode, 65)
        self.assertIn('no job and no connection names partner nobody', r.stderr)
        self.assertIn('reviewhub', r.stderr)
        for bad in ('', '   ', 'bell\x07', ' noshow', 'noshow\t'):
            r = env.gf('status-map', 'set', 'reviewhub', 'departed', bad)
            self.assertEqual(r.returncode, 65, bad)
            self.assertRegex(r.stderr, r'^guestflow status-map set: .* refused: (empty|white space around it'
                                       r'|status: only white space|control character)', bad)
            self.assertNotIn('\x07', r.stderr)
        r = env.gf('status-map', 'set', 'reviewhub', ' departed', 'x')
        self.assertEqual(r.returncode, 65)
        self.assertIn('" departed" refused: white space around it', r.stderr)
        self.assertEqual(env.gf('status-map', 'set', 'reviewhub', 'departed').returncode, 64)
        self.assertEqual(env.gf('status-map').returncode, 64)
        self.assertEqual(env.gf('status-map', 'list', 'a', 'b').returncode, 64)
        self.assertEqual(env.scalar('SELECT count(*) FROM guestflow.status_map'), '0')
        r = env.gf('status-map', '--help')
        self.assertEqual(r.returncode, 0)
        self.assertIn('selection.statuses', r.stdout)

    def test_selection_statuses_in_the_job_file(self):
        env = self.env
        path = os.path.join(env.jobs_dir, 'review-nightly.yaml')
        for value, error in (('[]', r"'statuses' must list at least one value"),
                             ('[checked_out, checked_out]', r"'statuses' lists 'checked_out' twice"),
                             ('[checked_out, ""]', r"'statuses' must not hold an empty item"),
                             ('{a: b}', r"'statuses' must be a list"),
                             ('"checked_out, no_show"', r"'statuses' must be a list, written \[a, b\]"),
                             ('[" checked_out"]', r"'statuses' must be a status as the source view gives it,"
                                                  r" without white space around it")):
            env.write_config({'selection': {'statuses': ['PLACEHOLDER']}})
            with open(path) as f:
                text = f.read()
            self.assertIn('PLACEHOLDER', text)
            with open(path, 'w') as f:
                f.write(text.replace('["PLACEHOLDER"]', value))
            r = env.gf('check-config')
            self.assertEqual(r.returncode, 78, value)
            self.assertRegex(r.stderr, re.escape(path) + r':\d+:\d+: .*' + error)
        # A single status may be written as a scalar.
        env.write_config({'selection': {'statuses': 'no_show'}})
        self.assertEqual(env.gf('check-config').returncode, 0)
        add_booking(env, 1)
        add_booking(env, 2, status='no_show')
        self.run_job(expect=0)
        self.assertEqual(self.sent(), {'B-2': 'no_show'})


if __name__ == '__main__':
    main()
