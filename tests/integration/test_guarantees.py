#!/usr/bin/env python3
"""Delivery guarantees under real failures: every eligible booking delivered,
its history entry written exactly once, no booking recorded as delivered
twice — whatever fails (kill -9 at each point of a batch's life, PostgreSQL
restarted, stop signals, four workers at once, a partner down for many runs)."""
import collections
import os
import re
import signal
import subprocess
import time

from gftest import (FORCE, GUESTFLOW, SRC, GFTestCase, add_booking, add_many, hold_in_session, main, private_cluster,
                    wait_for)

# Deliveries being sent: 'sending', in a batch some worker holds under a lease.
IN_FLIGHT = ("SELECT count(*) FROM guestflow.deliveries d JOIN guestflow.batches b ON b.id = d.batch_id"
             " WHERE d.state = 'sending' AND b.state = 'open' AND b.lease_until > now()")

FAST = {'lease': '10s', 'stop_timeout': '30s',
        'retry': {'max_attempts': 5, 'backoff_initial': '100ms', 'backoff_max': '400ms',
                  'retry_after_max': '2s', 'linger': '30s'}}


def slow_source(env, seconds):
    """The reference source view, slowed down by seconds a booking; returns
    the original view's SQL, to put it back."""
    with open(os.path.join(SRC, 'schemas', 'sql', 'reference', 'adapters.sql'), encoding='utf-8') as f:
        view = f.read()
    env.psql(view.replace('LEFT JOIN pms.guests g ON g.id = b.guest_id;',
                          'LEFT JOIN pms.guests g ON g.id = b.guest_id'
                          f' WHERE (SELECT true FROM pg_sleep({seconds} + 0 * b.id));'))
    return view


class GuaranteeTest(GFTestCase):
    accounts = {f'H-{i}': f'key+/=0{i}' for i in range(1, 9)}  # 8 characters at least
    properties = {f'P{i}': f'H-{i}' for i in range(1, 9)}
    job_overrides = FAST

    def assert_exactly_once(self, env, n):
        """All n bookings delivered, one history entry each, the partner holding each once."""
        self.assertEqual(dict(env.psql("SELECT state, count(*) FROM guestflow.deliveries GROUP BY 1")),
                         {'delivered': str(n)})
        self.assertEqual(env.psql("SELECT count(*), count(DISTINCT booking_id) FROM pms.booking_history"),
                         [[str(n), str(n)]])
        rec = collections.Counter(g['bookingNo'] for g in env.recorded())
        self.assertEqual(len(rec), n)
        self.assertEqual(max(rec.values()), 1, 'no booking recorded twice by the partner')
        self.assertEqual(env.partner_stats().get('key_conflicts', 0), 0,
                         'a key was never reused for other members')
        # One row per delivery, each in the done batch that delivered it.
        self.assertEqual(env.psql("SELECT count(*), count(DISTINCT (booking_id, connection_id))"
                                  " FROM guestflow.deliveries"), [[str(n), str(n)]])
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries d"
                                    " JOIN guestflow.batches b ON b.id = d.batch_id AND b.state = 'done'"), str(n))

    def start_sending_slowly(self, env):
        """30 bookings of P1, one a request, the partner slow: a run started,
        returned once its first batch is delivered (the plan read every
        booking; most are still to go)."""
        add_many(env, 30, ['P1'])
        env.partner_latency(150)
        env.write_config(dict(FAST, batch={'max_records': 1, 'in_flight': 1}))
        p = self.start_run(env)
        wait_for(lambda: len(env.recorded()) >= 1, 60, 'the first batch delivered')
        return p

    def signal_run(self, p, *signals, gap=0.3):
        """Send the signals; returns (stdout, stderr, seconds from the last signal to exit)."""
        for i, sig in enumerate(signals):
            if i:
                time.sleep(gap)
            t0 = time.monotonic()
            p.send_signal(sig)
        out, err = p.communicate(timeout=30)
        return out, err, time.monotonic() - t0

    def wait_in_flight(self, env, n):
        """Until n deliveries are being sent and no request has been answered."""
        wait_for(lambda: env.scalar(IN_FLIGHT) == str(n),
                 30, f'{n} deliveries in flight')
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.api_calls"), '0')

    def test_kill_9_at_every_point_then_run_again(self):
        # The hook exists only in test builds (meson -Dfault_injection=true,
        # as tools/test.sh builds); CI must not skip it.
        v = subprocess.run([GUESTFLOW, '--version'], capture_output=True, text=True, timeout=30).stdout
        if 'GUESTFLOW_FAULT' not in v:
            if os.environ.get('CI') == 'true':
                self.fail('CI build without -Dfault_injection=true: the crash tests cannot run')
            self.skipTest('built without -Dfault_injection=true (tools/test.sh sets it)')
        for point in ('after_claim', 'after_send', 'in_commit'):
            with self.subTest(point=point):
                env = self.env = self.make_env()
                add_many(env, 120, list(self.properties))
                r = env.gf('run', 'review-nightly', env={'GUESTFLOW_FAULT': point}, timeout=60)
                self.assertEqual(r.returncode, -signal.SIGKILL, r.stderr)
                self.assertIn(f'GUESTFLOW_FAULT={point}', r.stderr)
                self.assertEqual(self.history_count(), 0)
                killed_keys = {g['idempotencyKey'] for g in env.recorded()}
                if point == 'after_claim':
                    self.assertEqual(len(killed_keys), 0)
                    # Nothing answered: the claimed batches' deliveries are
                    # 'sending' (a round is claimed at once), any other planned
                    # ones 'pending' (the slices written before the kill; the
                    # rest was not planned).
                    states = dict(env.psql("SELECT state, count(*) FROM guestflow.deliveries GROUP BY 1"))
                    self.assertIn('sending', states)
                    self.assertLessEqual(set(states), {'pending', 'sending'})
                    self.assertLessEqual(sum(int(v) for v in states.values()), 120)
                    self.assertEqual(states['sending'], env.scalar(IN_FLIGHT))
                else:
                    self.assertGreaterEqual(len(killed_keys), 1, 'the partner accepted batches before the kill')
                self.assertGreater(int(env.scalar(IN_FLIGHT)), 0)
                # The next run waits out the dead worker's lease, then finishes everything.
                r = self.run_job(expect=0, timeout=120)
                self.assert_exactly_once(env, 120)
                self.assertEqual(env.scalar(IN_FLIGHT), '0')
                self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries WHERE state <> 'delivered'"), '0')
                if point != 'after_claim':
                    # The accepted batch went again under the same key: a replay for the partner.
                    # Every batch the partner had accepted went again under its key: replays.
                    resent = {k[0] for k in env.psql("SELECT DISTINCT idempotency_key FROM guestflow.api_calls")}
                    self.assertLessEqual(killed_keys, resent)
                    if env.sftp:
                        # A resend looks first: the file there, it is not uploaded again.
                        self.assertEqual(env.partner_stats()['replays'], 0)
                        found = env.scalar("SELECT count(DISTINCT idempotency_key) FROM guestflow.api_calls"
                                           " WHERE response_excerpt LIKE '%on the server already%'")
                        self.assertEqual(int(found), len(killed_keys), env.psql("SELECT batch_id, outcome, error, response_excerpt FROM guestflow.api_calls"))
                    else:
                        self.assertEqual(env.partner_stats()['replays'], len(killed_keys))
                env.cleanup()

    def test_four_workers_share_the_work_and_never_send_twice(self):
        env = self.env
        add_many(env, 2000, list(self.properties))
        # The partner answers slowly until every worker holds a batch (a
        # lease's token names its run), however late one of them started on
        # a loaded machine; then it answers quickly.
        env.partner_latency(2000)
        env.write_config(dict(FAST, lease='60s', batch={'max_records': 25, 'in_flight': 2}))
        procs = [self.start_run(env) for _ in range(4)]
        wait_for(lambda: env.scalar("SELECT count(DISTINCT split_part(lease_token, '.', 1)) FROM guestflow.batches"
                                    " WHERE state = 'open' AND lease_until > now()") == '4',
                 120, 'all four workers holding batches')
        env.partner_latency(20)
        outs = []
        for p in procs:
            out, err = p.communicate(timeout=300)
            outs.append((p.returncode, out, err))
        for code, out, err in outs:
            self.assertEqual(code, 0, out + err[-3000:])
        per_run = [int(x[0]) for x in env.psql("SELECT delivered FROM guestflow.runs ORDER BY id")]
        self.assertEqual(len(per_run), 4)
        self.assertTrue(all(d > 0 for d in per_run), f'each worker delivered some: {per_run}')
        self.assertEqual(sum(per_run), 2000)
        self.assert_exactly_once(env, 2000)
        self.assertEqual(env.partner_stats()['replays'], 0, 'no batch was sent twice')

    def test_a_worker_waiting_for_another_workers_batch_ends_when_that_batch_is_done(self):
        """The only open batch is under another worker's lease (60 s, within
        the linger): the second worker waits for it, looking again every
        second, and ends once the first has delivered it, not when the lease
        would have run out; it says that it waits once."""
        env = self.env
        add_booking(env, 1, 'P1')
        env.write_config(dict(FAST, lease='60s', retry=dict(FAST['retry'], linger='120s')))
        env.partner_stall(3)  # (within the tests' 5 s timeout)
        first = self.start_run(env)
        self.wait_in_flight(env, 1)
        t0 = time.monotonic()
        second = self.start_run(env)
        out, err = first.communicate(timeout=60)
        self.assertEqual(first.returncode, 0, out + err[-3000:])
        out, err = second.communicate(timeout=90)
        waited = time.monotonic() - t0
        self.assertEqual(second.returncode, 0, out + err[-3000:])
        self.assertEqual(err.count('waiting_for_retry'), 1, err[-3000:])
        self.assertLess(waited, 30, f'the second worker waited {waited:.1f}s, as if for the whole lease')
        self.assertEqual([int(x[0]) for x in env.psql("SELECT delivered FROM guestflow.runs ORDER BY id")], [1, 0])
        self.assert_exactly_once(env, 1)

    def test_a_due_batch_row_locked_by_another_session_is_waited_for_within_the_linger(self):
        """Red team: the only due batch locked by another session (the claim's
        SKIP LOCKED passes it): the run waits in steps, without spinning, and
        ends when its linger runs out, not when the lock is let go."""
        env = self.env
        add_booking(env, 1, 'P1')
        env.partner_down()
        env.write_config(dict(FAST, retry=dict(FAST['retry'], linger='0')))
        self.run_job(expect=69)
        env.partner_up()
        release = hold_in_session(self, env, "SELECT id FROM guestflow.batches WHERE state = 'open' FOR UPDATE")
        env.write_config(dict(FAST, retry=dict(FAST['retry'], linger='3s')))
        xacts = "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        before = int(env.scalar(xacts))
        t0 = time.monotonic()
        r = self.run_job()
        took = time.monotonic() - t0
        self.assertEqual(r.returncode, 1, r.stderr[-3000:])
        self.assertLess(took, 30, 'the run ended with its linger, not with the lock')
        self.assertTrue(release.held(), 'the lock was still held when the run ended')
        time.sleep(1)  # (the statistics of the run's sessions reach pg_stat_database when they end)
        self.assertLess(int(env.scalar(xacts)) - before, 1000, 'no spin of claims')
        self.assertEqual(r.stderr.count('waiting_for_retry'), 1, r.stderr[-3000:])

    def test_two_planners_racing_plan_each_booking_once(self):
        """Issue 15: no lock between planners; the deliveries' key decides. Two
        processes read the whole window at once (the source view slowed so that
        their plan statements overlap) and write overlapping slices: each pair
        is planned by one of them, sent once, with one history entry."""
        env = self.env
        add_many(env, 240, list(self.properties))
        slow_source(env, 0.02)
        env.write_config(dict(FAST, batch={'max_records': 10, 'in_flight': 2}))
        procs = [self.start_run(env) for _ in range(2)]
        wait_for(lambda: env.scalar("SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
                                    " AND query LIKE 'COPY (SELECT p.* FROM (%'") == '2',
                 60, 'both plan statements running at once')
        for p in procs:
            out, err = p.communicate(timeout=300)
            self.assertEqual(p.returncode, 0, out + err[-3000:])
        runs = [[int(v) for v in row] for row in env.psql("SELECT eligible, planned FROM guestflow.runs ORDER BY id")]
        self.assertEqual([e for e, _ in runs], [240, 240], 'both planners read the whole window')
        self.assertEqual(sum(p for _, p in runs), 240, 'each pair planned by one of them')
        self.assert_exactly_once(env, 240)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.batches b WHERE b.records <>"
                                    " (SELECT count(*) FROM guestflow.deliveries d WHERE d.batch_id = b.id)"),
                         '0', 'a batch holds exactly the rows its insert returned (no empty one)')

    def test_the_plan_statement_ends_before_the_batches_go_out(self):
        """The plan's stream is read whole (into a temporary file) before its
        first slice is written: its statement, and the snapshot it holds, does
        not last the run (left open, it kept every old version of the run's
        deliveries, and their updates stopped being HOT)."""
        env = self.env
        add_many(env, 200, list(self.properties))
        # More than the sockets between the server and the run hold (about
        # 1.6 MB): a statement sending its rows as the run reads them would
        # still be running.
        env.psql("UPDATE pms.guests SET first_name = repeat('Anna ', 1600)")
        env.partner_latency(50)
        env.write_config(dict(FAST, batch={'max_records': 2, 'in_flight': 1}))
        p = self.start_run(env)
        wait_for(lambda: len(env.recorded()) >= 1, 60, 'the first batch delivered')
        self.assertEqual(env.scalar("SELECT count(*) FROM pg_stat_activity"
                                    " WHERE query LIKE 'COPY (SELECT %guestflow.source_bookings%'"
                                    " AND state <> 'idle'"), '0', 'the plan statement has ended')
        self.assertGreater(200 - len(env.recorded()), 100, 'most batches still to go')
        out, err = p.communicate(timeout=300)
        self.assertEqual(p.returncode, 0, out + err[-3000:])
        self.assert_exactly_once(env, 200)

    def test_a_duplicate_delivery_is_refused_by_the_key(self):
        env = self.env
        add_many(env, 3, ['P1'])
        self.run_job(expect=0)
        with self.assertRaises(AssertionError) as cm:
            env.psql("\\set VERBOSITY verbose\n"
                     "INSERT INTO guestflow.deliveries (job, connection_id, booking_id, property_id, booking_no)"
                     " SELECT job, connection_id, booking_id, property_id, booking_no FROM guestflow.deliveries"
                     " WHERE booking_no = 'B-2'")
        self.assertIn('ERROR:  23505: duplicate key value violates unique constraint "deliveries_pkey"',
                      str(cm.exception))
        self.assertEqual(self.states(), {'delivered': 3})

    def test_a_booking_deleted_after_planning_is_not_sent(self):
        env = self.env
        p = self.start_sending_slowly(env)
        # Planned (read into the run's table) but not sent yet: gone from the PMS.
        env.psql("DELETE FROM pms.bookings WHERE booking_no = 'B-30'")
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 1, out + err[-3000:])
        self.assertNotIn('B-30', {g['bookingNo'] for g in env.recorded()})
        self.assertEqual(env.psql("SELECT state, reason FROM guestflow.deliveries WHERE booking_no = 'B-30'"),
                         [['rejected', 'booking no longer in the source view (deleted in the PMS?)']])
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries WHERE state = 'delivered'"), '29')
        self.assertEqual(env.scalar("SELECT count(*) FROM pms.booking_history"), '29')

    def test_a_guest_who_withdraws_consent_after_planning_is_not_sent(self):
        """Consent is checked again when a planned booking is about to go out:
        the PMS turning the notify flag off after the run's plan read the
        booking keeps it from the partner, with a reason. (An unsubscribe
        pulled during a run: test_pull.)"""
        env = self.env
        p = self.start_sending_slowly(env)
        env.psql("UPDATE pms.bookings SET notify_on_occupancy = false, updated_at = now() WHERE booking_no = 'B-30'")
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 1, out + err[-3000:])
        sent = {g['bookingNo'] for g in env.recorded()}
        self.assertEqual(len(sent), 29, sent)
        self.assertNotIn('B-30', sent)
        self.assertEqual(env.psql("SELECT state, reason, data_rejected FROM guestflow.deliveries"
                                  " WHERE booking_no = 'B-30'"),
                         [['rejected', 'the guest is no longer to be contacted: the notify flag is off in the'
                                       ' PMS (turned off after the booking was planned)', 't']])
        self.assertEqual(env.scalar("SELECT count(*) FROM pms.booking_history"), '29')

    def test_a_view_raising_at_the_claims_look_up_fails_only_its_booking(self):
        """The claim looks the plan's bookings up in the source view again
        (deleted, consent withdrawn). Should the view raise there for one
        booking (its data changed after the plan read it), the run does not
        end: it claims again without the look-up, reads its batches through
        the view, booking by booking where it fails, and rejects that one."""
        env = self.env
        with open(os.path.join(SRC, 'schemas', 'sql', 'reference', 'adapters.sql'), encoding='utf-8') as f:
            view = f.read()
        old = 'b.notify_on_occupancy  AS notify,'
        self.assertIn(old, view)
        p = self.start_sending_slowly(env)
        env.psql(view.replace(old, '(b.notify_on_occupancy AND 1 / (b.id - 30) IS NOT NULL) AS notify,'))
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 1, out + err[-3000:])
        self.assertIn('event=claim_probe_failed sqlstate=22012', err)
        self.assertEqual(env.psql("SELECT state, reason FROM guestflow.deliveries WHERE booking_no = 'B-30'"),
                         [['rejected', 'the source view cannot give this booking: division by zero (SQLSTATE 22012)']])
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries WHERE state = 'delivered'"), '29')
        self.assertEqual(len(env.recorded()), 29)

    def test_consent_withdrawn_before_a_retry_is_honoured_and_given_back_replans(self):
        """A batch the partner refused (503) waits for its retry; meanwhile
        one guest's notify flag is turned off and another's address is
        suppressed (a pull leaves an attempted batch alone). The retry sends
        neither. When the PMS turns the flag on again that booking is planned
        again (rejected by guestflow, not by the partner) and sent."""
        env = self.env
        add_many(env, 3, ['P1'])
        env.write_config(dict(FAST, retry={'max_attempts': 3, 'backoff_initial': '1s', 'backoff_max': '10s',
                                            'linger': '0'}))
        env.partner_down()
        self.run_job(expect=69)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries WHERE state = 'pending'"), '3')
        env.partner_up()
        env.psql("UPDATE pms.bookings SET notify_on_occupancy = false, updated_at = now() WHERE booking_no = 'B-2';"
                 " INSERT INTO guestflow.suppressions (email, reason) VALUES ('guest3@example.org', 'unsubscribed');"
                 " UPDATE guestflow.batches SET next_attempt_at = now()")
        self.run_job(expect=1)
        self.assertEqual(sorted(g['bookingNo'] for g in env.recorded()), ['B-1'])
        self.assertEqual(env.psql("SELECT booking_no, state, reason, data_rejected FROM guestflow.deliveries"
                                  " WHERE booking_no IN ('B-2', 'B-3') ORDER BY 1"),
                         [['B-2', 'rejected', 'the guest is no longer to be contacted: the notify flag is off in the'
                                              ' PMS (turned off after the booking was planned)', 't'],
                          ['B-3', 'rejected', "the guest's address is on the suppression list (unsubscribed or bounced"
                                              " after the booking was planned; guestflow explain says where from)", 't']])
        # Not planned again while the flag is off, whatever else changes.
        env.psql("UPDATE pms.guests SET first_name = 'Bea', updated_at = now() WHERE id = 2")
        env.psql("UPDATE pms.guests SET first_name = 'Cem', updated_at = now() WHERE id = 3")
        self.run_job(expect=0)
        self.assertEqual(len(env.recorded()), 1)
        env.psql("UPDATE pms.bookings SET notify_on_occupancy = true, updated_at = now()"
                 " WHERE booking_no = 'B-2'")
        self.run_job(expect=0)
        self.assertEqual(sorted(g['bookingNo'] for g in env.recorded()), ['B-1', 'B-2'])
        self.assertEqual(env.scalar("SELECT count(*) FROM pms.booking_history"), '2')

    def test_a_rerun_left_for_a_stopped_connection_does_not_slow_the_others(self):
        env = self.env
        add_many(env, 20, ['P1', 'P2'])
        self.run_job(expect=0)
        r = env.gf('rerun', 'review-nightly', '--booking', 'B-1', '--force', '--no-run')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(env.gf('connection', 'stop', 'P2', 'reviewhub').returncode, 0)
        add_many(env, 20, ['P1'], start=21)
        r = self.run_job(expect=0)
        # The slices (P1's only) were written as read: the rerun's row is
        # P2's, and waits for P2 to be live again: counted apart, and no
        # exit 1 for a connection an operator stopped (issue 18 item 5).
        self.assertNotIn('event=plan_slice_reruns', r.stderr)
        self.assertIn(' delivered=20 ', r.stdout)
        self.assertIn(' pending=0 ', r.stdout)
        self.assertIn(' pending_stopped=1 ', r.stdout)
        self.assertEqual(env.psql("SELECT state, rerun FROM guestflow.deliveries WHERE booking_no = 'B-1'"
                                  " AND batch_id IS NULL"), [['pending', 't']])
        self.assertEqual(env.gf('connection', 'activate', 'P2', 'reviewhub', *FORCE).returncode, 0)
        r = self.run_job(expect=0)
        self.assertIn(' delivered=1 ', r.stdout)
        self.assertEqual(self.history_count('B-1'), 2)
        self.assertEqual(self.history_count(), 41)

    def test_no_delivery_stays_sending_without_a_lease(self):
        """Red team (issue 15): a worker killed with a batch claimed leaves its
        deliveries 'sending'; when that batch's connection is stopped, nothing
        claims it again. The next run must not leave them 'sending' forever
        (status and metrics would show guests in flight that nobody sends)."""
        v = subprocess.run([GUESTFLOW, '--version'], capture_output=True, text=True, timeout=30).stdout
        if 'GUESTFLOW_FAULT' not in v:
            self.skipTest('built without -Dfault_injection=true')
        env = self.env
        add_many(env, 10, ['P1'])
        r = env.gf('run', 'review-nightly', env={'GUESTFLOW_FAULT': 'after_claim'}, timeout=60)
        self.assertEqual(r.returncode, -signal.SIGKILL, r.stderr[-2000:])
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries WHERE state = 'sending'"), '10')
        self.assertEqual(env.gf('connection', 'stop', 'P1', 'reviewhub').returncode, 0)
        env.psql("UPDATE guestflow.batches SET lease_until = now() - interval '1 s'")
        self.run_job(timeout=60)
        lying = ("SELECT count(*) FROM guestflow.deliveries d JOIN guestflow.batches b ON b.id = d.batch_id"
                 " WHERE d.state = 'sending' AND NOT (b.state = 'open' AND b.lease_until > now())")
        self.assertEqual(env.scalar(lying), '0')
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries WHERE state = 'pending'"), '10')
        self.assertEqual(env.recorded(), [])
        # Live again: sent once, under the batch's key, nothing lost.
        self.assertEqual(env.gf('connection', 'activate', 'P1', 'reviewhub', *FORCE).returncode, 0)
        self.run_job(expect=0, timeout=60)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries WHERE state = 'delivered'"), '10')
        self.assertEqual(self.history_count(), 10)

    def test_a_booking_fixed_while_its_batch_waits_is_planned_again(self):
        """Red team (issue 15, item 4): a batch is rendered from the values the plan
        read; a booking the hotel fixes after the plan read it, before its batch is
        rendered and rejected for the old data, has an updated_at earlier than the
        rejection. It must still be planned again (its fix is newer than the data
        it was rejected for), not stay rejected, never sent."""
        env = self.env
        for n in range(1, 6):
            add_booking(env, n, prop='P1')
        add_booking(env, 9, prop='P2', email='guest' + chr(1) + '9@example.org')
        env.partner_latency(1500)
        env.write_config(dict(FAST, lease='60s', batch={'max_records': 1, 'in_flight': 1}))
        p = self.start_run(env)
        wait_for(lambda: env.scalar("SELECT count(*) FROM guestflow.deliveries") == '6', 60, 'all planned')
        # The hotel fixes the e-mail while the first batches are sent.
        env.psql("UPDATE pms.guests SET email = 'guest9@example.org', updated_at = now() WHERE id = 9")
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 1, out + err[-3000:])
        self.assertEqual(env.psql("SELECT state, data_rejected FROM guestflow.deliveries WHERE booking_no = 'B-9'"),
                         [['rejected', 't']], 'rejected for the values the plan read')
        env.partner_latency(0)
        self.run_job(expect=0)
        self.assertEqual(env.scalar("SELECT state FROM guestflow.deliveries WHERE booking_no = 'B-9'"), 'delivered')
        self.assertEqual(self.history_count('B-9'), 1)

    def test_rerun_does_not_wait_for_a_running_plan(self):
        env = self.env
        add_many(env, 60, ['P1', 'P2'])
        env.partner_latency(100)
        env.write_config(dict(FAST, batch={'max_records': 1, 'in_flight': 1}))
        self.run_job(expect=0)
        add_many(env, 200, ['P1', 'P2'], start=61)
        p = self.start_run(env)
        wait_for(lambda: len(env.recorded()) >= 62, 60, 'the second run sending')
        # The running run is still writing its slices; a rerun queues its
        # bookings at once (and then runs the job itself, sharing the work).
        rr = subprocess.Popen([GUESTFLOW, '-c', env.config, 'rerun', 'review-nightly', '--booking', 'B-1', 'B-260',
                               '--force'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: env.scalar("SELECT count(*) FROM guestflow.deliveries WHERE rerun") == '2', 5,
                     'the rerun queued B-1 and B-260')
            self.assertIsNone(p.poll(), 'the first run was still running')
            out, err = rr.communicate(timeout=120)
        finally:
            if rr.poll() is None:
                rr.kill()
                rr.communicate(timeout=10)
        self.assertIn(rr.returncode, (0, 1), out + err[-3000:])
        out, err = p.communicate(timeout=120)
        self.assertIn(p.returncode, (0, 1), out + err[-3000:])
        # B-260 was the rerun's: the plans that had it as new (the running
        # run's, and the one the rerun started, planning beside it) inserted it
        # with ON CONFLICT DO NOTHING and left it out; they planned the other
        # 199 new pairs between them, each once.
        self.assertEqual(env.scalar("SELECT sum(planned) FROM guestflow.runs WHERE id > 1"), '199')
        self.assertEqual(env.scalar("SELECT rerun FROM guestflow.deliveries WHERE booking_no = 'B-260'"), 't')
        env.partner_latency(0)
        self.run_job(expect=0)
        # B-1 twice (first run, rerun --force), everything else once; one
        # history entry per delivery.
        rec = collections.Counter(g['bookingNo'] for g in env.recorded())
        self.assertEqual(len(rec), 260)
        self.assertEqual(rec['B-1'], 2)
        self.assertEqual(sum(rec.values()), 261)
        self.assertEqual(env.scalar("SELECT count(*) FROM pms.booking_history"), '261')
        self.assertEqual(dict(env.psql("SELECT state, count(*) FROM guestflow.deliveries GROUP BY 1")),
                         {'delivered': '260'})

    @private_cluster
    def test_postgresql_restarted_mid_run(self):
        env = self.env
        add_many(env, 600, list(self.properties))
        env.partner_latency(150)
        env.write_config(dict(FAST, batch={'max_records': 10, 'in_flight': 2}))
        p = self.start_run(env)
        wait_for(lambda: len(env.recorded()) >= 40, 60, 'some batches delivered')
        env.stop_pg()
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 75, out + err[-3000:])
        self.assertRegex(out, r'exit=75 reason="connection to the database lost"\n$')
        env.start_pg()
        # Nothing half-written: history exactly on the delivered, each once.
        self.assertEqual(env.psql("SELECT count(*) FROM guestflow.deliveries d WHERE d.state = 'delivered'"
                                  " AND (SELECT count(*) FROM pms.booking_history h WHERE h.booking_id = d.booking_id) <> 1"),
                         [['0']])
        self.assertEqual(env.psql("SELECT count(*) FROM pms.booking_history h WHERE NOT EXISTS (SELECT 1 FROM"
                                  " guestflow.deliveries d WHERE d.booking_id = h.booking_id AND d.state = 'delivered')"),
                         [['0']])
        env.partner_latency(0)
        self.run_job(expect=0, timeout=120)
        self.assert_exactly_once(env, 600)

    def test_sigterm_finishes_in_flight_and_starts_nothing_new(self):
        env = self.env
        add_many(env, 100, ['P1', 'P2'])
        env.partner_latency(1500)
        env.write_config(dict(FAST, batch={'max_records': 10, 'in_flight': 2}))
        p = self.start_run(env)
        # Two batches sent, and with both slots busy the next round of two
        # claimed ahead (leased, one rendered, none sent): 40 deliveries
        # under a lease.
        self.wait_in_flight(env, 40)
        out, err, took = self.signal_run(p, signal.SIGTERM)
        env.partner_latency(0)
        self.assertEqual(p.returncode, 75, out + err[-2000:])
        self.assertIn('reason="stopped by a signal"', out)
        self.assertIn('event=stopping', err)
        self.assertLess(took, 10)
        self.assertEqual(env.partner_stats()['requests'], 2, 'no new batch after the signal')
        self.assertIn('event=batch_released', err, 'the batch claimed ahead went back to the queue')
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.batches WHERE lease_until > now()"), '0')
        # What was planned before the signal waits; what the plan had not
        # written yet is not planned at all: both go with the next run.
        states = dict(env.psql("SELECT state, count(*) FROM guestflow.deliveries GROUP BY 1"))
        self.assertEqual(states['delivered'], '20')
        self.assertEqual(set(states), {'delivered', 'pending'})
        self.assertLessEqual(int(states['pending']), 80)
        self.assertEqual(self.history_count(), 20)
        env.partner_latency(0)
        self.run_job(expect=0, timeout=120)
        self.assert_exactly_once(env, 100)

    def test_a_failed_run_gives_back_the_batch_it_claimed_ahead(self):
        env = self.env
        add_many(env, 100, ['P1', 'P2'])
        # The PMS refuses every history entry: the history store is down as
        # a whole, so after in_flight + 1 = 3 batches refused in a row the
        # run ends (75), with both slots busy and the next batch claimed
        # ahead (leased, not sent). (One batch refused alone is retried and
        # the run goes on: test_containment.)
        env.psql("""CREATE FUNCTION pms.no_history() RETURNS trigger LANGUAGE plpgsql AS
                    $$BEGIN RAISE EXCEPTION 'history store is read-only'; END$$;
                    CREATE TRIGGER no_history BEFORE INSERT ON pms.booking_history
                    FOR EACH ROW EXECUTE FUNCTION pms.no_history();""")
        env.partner_latency(300)
        env.write_config(dict(FAST, batch={'max_records': 10, 'in_flight': 2}))
        r = self.run_job(expect=75, timeout=120)
        self.assertIn('history store is read-only', r.stderr)
        self.assertIn('event=store_failing batches=3', r.stderr)
        m = re.search(r'event=batch_given_back batch=(\d+)', r.stderr)
        self.assertIsNotNone(m, r.stderr[-3000:])
        # Back as it was: no lease, no attempt counted, never sent.
        self.assertEqual(env.psql(f"SELECT state, lease_until IS NULL, attempts FROM guestflow.batches"
                                  f" WHERE id = {m.group(1)}"), [['open', 't', '0']])
        sent = {g['bookingNo'] for g in env.recorded()}
        held = {x[0] for x in env.psql(f"SELECT booking_no FROM guestflow.deliveries WHERE batch_id = {m.group(1)}")}
        self.assertEqual(len(held), 10)
        self.assertFalse(sent & held, 'the batch given back was not sent')
        self.assertEqual(self.history_count(), 0)
        env.psql("DROP TRIGGER no_history ON pms.booking_history")
        env.partner_latency(0)
        self.run_job(expect=0, timeout=120)
        self.assert_exactly_once(env, 100)

    def test_a_batch_claimed_ahead_is_sent_under_a_fresh_lease(self):
        env = self.env
        add_many(env, 20, ['P1'])
        # One slot: the second batch is claimed ahead while the first is
        # sent, and waits 7 s for the slot. Sent then under its first lease
        # (12 s from the claim), it could outlive it and be taken over by
        # another worker while the partner still works on it.
        env.partner_latency(7000)
        env.write_config(dict(FAST, lease='12s', batch={'max_records': 10, 'in_flight': 1},
                              http={'connect_timeout': '1s', 'timeout': '9s'}))
        p = self.start_run(env)
        wait_for(lambda: len(env.recorded()) >= 10, 60, 'the first batch accepted')
        wait_for(lambda: env.scalar("SELECT count(*) FROM guestflow.batches WHERE state = 'done'") == '1', 10,
                 'the first batch done')
        left = float(env.scalar("SELECT extract(epoch FROM lease_until - now()) FROM guestflow.batches"
                                " WHERE state = 'open' AND lease_until IS NOT NULL"))
        self.assertGreater(left, 9.0, 'the lease runs from the send, not from the claim 7 s before')
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, out + err[-3000:])
        self.assert_exactly_once(env, 20)
        self.assertEqual(env.partner_stats()['replays'], 0)

    def test_a_rerun_while_its_batch_is_accepted_queues_nothing_again(self):
        env = self.env
        add_many(env, 20, ['P1'])
        env.partner_latency(3000)
        env.write_config(dict(FAST, batch={'max_records': 20, 'in_flight': 1}))
        p = self.start_run(env)
        self.wait_in_flight(env, 20)
        # A slow source (0.25 s a booking): the rerun reads its 20 bookings
        # for 5 s, and the partner accepts the batch meanwhile. The rerun
        # must find them delivered, not queue them again.
        view = slow_source(env, 0.25)
        today = env.scalar("SELECT current_date")
        r = env.gf('rerun', 'review-nightly', '--from', '2020-01-01', '--to', today, '--no-run', timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('queued: 0 never sent before, 0 again', r.stdout)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, out + err[-3000:])
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries WHERE rerun"), '0')
        env.psql(view)
        env.partner_latency(0)
        self.run_job(expect=0, timeout=120)
        self.assert_exactly_once(env, 20)
        self.assertEqual(self.history_count(), 20)

    def test_sigterm_while_the_plan_is_read(self):
        env = self.env
        add_many(env, 100, ['P1', 'P2'])
        # A slow source (50 ms a booking): the plan's first rows come after
        # about 5 s; the stop signal must not wait for them.
        view = slow_source(env, 0.05)
        p = self.start_run(env)
        wait_for(lambda: env.scalar("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY (SELECT%'") == '1',
                 30, 'the plan being read')
        out, err, took = self.signal_run(p, signal.SIGTERM)
        env.partner_latency(0)
        self.assertEqual(p.returncode, 75, out + err[-2000:])
        self.assertIn('reason="stopped by a signal"', out)
        self.assertLess(took, 3)
        self.assertEqual(env.partner_stats()['requests'], 0)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries"), '0')
        # The plan's statement was cancelled with the run, and the next run plans it all.
        wait_for(lambda: env.scalar("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY (SELECT%'") == '0',
                 10, 'the plan statement gone')
        env.psql(view)
        self.run_job(expect=0, timeout=120)
        self.assert_exactly_once(env, 100)

    def test_stop_timeout_releases_what_is_in_flight(self):
        env = self.env
        add_many(env, 20, ['P1', 'P2'])
        env.partner_stall(20)
        env.write_config(dict(FAST, stop_timeout='1s', batch={'max_records': 10, 'in_flight': 2},
                              http={'timeout': '30s'}, lease='1m'))
        p = self.start_run(env)
        self.wait_in_flight(env, 20)
        out, err, took = self.signal_run(p, signal.SIGTERM)
        env.partner_latency(0)
        self.assertEqual(p.returncode, 75, out + err[-2000:])
        self.assertLess(took, 5, 'bounded by stop_timeout')
        self.assertEqual(err.count('event=batch_released'), 2)
        self.assertEqual(env.psql("SELECT state, count(*) FROM guestflow.deliveries GROUP BY 1"), [['pending', '20']])
        self.assertEqual(env.psql("SELECT count(*) FROM guestflow.batches WHERE lease_until IS NOT NULL OR attempts <> 0"),
                         [['0']])
        # Released, not leased: the next run sends them at once, under the same keys.
        keys = {k[0] for k in env.psql("SELECT idempotency_key FROM guestflow.batches")}
        self.run_job(expect=0, timeout=60)
        self.assert_exactly_once(env, 20)
        self.assertEqual(keys, {k[0] for k in env.psql("SELECT idempotency_key FROM guestflow.batches")})

    def test_second_signal_exits_at_once(self):
        env = self.env
        add_many(env, 20, ['P1', 'P2'])
        env.partner_stall(20)
        env.write_config(dict(FAST, batch={'max_records': 10, 'in_flight': 2}, http={'timeout': '30s'},
                              lease='40s'))
        p = self.start_run(env)
        self.wait_in_flight(env, 20)
        out, err, took = self.signal_run(p, signal.SIGTERM, signal.SIGINT)
        self.assertEqual(p.returncode, 75)
        self.assertLess(took, 2)
        self.assertIn('second stop signal', err)
        # Only recoverable state: leased batches, nothing delivered, no history.
        self.assertEqual(self.history_count(), 0)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries WHERE state NOT IN ('pending', 'sending')"), '0')

    def test_partner_down_for_many_runs(self):
        env = self.env
        add_many(env, 30, ['P1'])
        env.write_config(dict(FAST, retry={'max_attempts': 3, 'backoff_initial': '1s', 'backoff_max': '10s',
                                            'linger': '0'}))
        down = env.partner_down()
        delays = []
        for attempt in (1, 2, 3):
            due = float(env.scalar("SELECT coalesce(extract(epoch FROM max(next_attempt_at) - now()), 0)"
                                   " FROM guestflow.batches WHERE state = 'open'") or 0)
            time.sleep(max(0, due) + 0.05)
            r = self.run_job(expect=69)
            self.assertEqual(int(env.scalar("SELECT max(attempts) FROM guestflow.batches")), attempt)
            if attempt < 3:
                self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries WHERE state = 'pending'"), '30')
                d = float(env.scalar("SELECT max(extract(epoch FROM next_attempt_at - (SELECT max(at) FROM guestflow.api_calls)))"
                                     " FROM guestflow.batches WHERE state = 'open'"))
                delays.append(d)
                self.assertLessEqual(d, 1.0 * 2 ** (attempt - 1) + 0.5, f'capped backoff after attempt {attempt}')
                self.assertGreaterEqual(d, 0.05)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries WHERE state = 'dead'"), '30')
        self.assertIn(down, env.scalar("SELECT DISTINCT reason FROM guestflow.deliveries"))
        alerts = env.psql("SELECT kind, count(*) FROM guestflow.alert_events WHERE cleared_at IS NULL GROUP BY 1 ORDER BY 1")
        self.assertEqual(alerts, [['dead_deliveries', '1'], ['failed_runs', '1'], ['partner_unreachable', '1']],
                         'one alert per condition, not one per run')
        # The partner is back: rerun --dead, then one run delivers, same key as before.
        keys_before = {k[0] for k in env.psql("SELECT DISTINCT idempotency_key FROM guestflow.api_calls")}
        env.partner_up()
        r = env.gf('rerun', 'review-nightly', '--dead')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('30 dead deliveries in 1 batch back in the queue', r.stdout)
        self.run_job(expect=0)
        self.assert_exactly_once(env, 30)
        self.assertEqual({k[0] for k in env.psql("SELECT DISTINCT idempotency_key FROM guestflow.api_calls")}, keys_before)
        self.assertEqual(env.psql("SELECT count(*) FROM guestflow.alert_events WHERE cleared_at IS NULL"), [['0']],
                         'a successful run clears them all')

    def test_auth_failure_raises_one_alert_until_fixed(self):
        env = self.env
        add_many(env, 4, ['P1', 'P2'])
        env.psql("UPDATE guestflow.connections SET secret = 'wrong-key' WHERE property_id = 'P2'")
        for _ in range(2):
            r = self.run_job(expect=1)
        self.assertEqual(r.stderr.count('event=alert_raised'), 0, 'the second run raises nothing new')
        self.assertEqual(env.psql("SELECT kind, c.property_id FROM guestflow.alert_events a JOIN guestflow.connections c"
                                  " ON c.id = a.connection_id"), [['auth_failed', 'P2']])
        env.psql("UPDATE guestflow.connections SET secret = 'key+/=02' WHERE property_id = 'P2'")
        r = self.run_job(expect=0)
        self.assertIn('event=alert_cleared', r.stderr)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.alert_events WHERE cleared_at IS NULL"), '0')


if __name__ == '__main__':
    main()