#!/usr/bin/env python3
"""Fault containment in the engine, as a red team attacked it (issue 14,
round 2): a fault in one reply, booking, connection or batch is contained
to it (retried, rejected with a reason a person can act on, or alerted),
every other booking is delivered, and a batch that cannot complete reaches
`dead` after max_attempts like any other.

- a batch the partner holds, resent with fewer members, is answered for the
  members it had (the partner replays its stored reply under the key);
- a source view raising any per-row error (P0001, XX000) is read carefully;
- a gateway refusing one batch's content with 401/403/404 holds nothing;
- write_history raising for one booking: that booking delivered without its
  entry, the others of its batch with theirs, an alert; the run goes on;
- a booking the PMS keeps locked (FOR UPDATE): its batch's outcome waits
  database.lock_timeout, is retried, the run goes on and a stop is not
  held up;
  a lease taken over with the attempts used up: dead; a history store down:
  the run ends (75) after a few batches, not all of them;
- a flaky gateway answering 400 most of the time rejects no guest;
- reply counts that would overflow;
- a database or environment with another DateStyle;
- a trigger label that is not UTF-8;
- exit 69 only when no request got an HTTP answer."""
import collections
import os
import signal
import subprocess
import sys
import time
import urllib.parse

from gftest import (GUESTFLOW, GFTestCase, add_booking, add_many, hold_in_session, main, main_setting, strict_xsd,
                    wait_for)
from test_poison_engine import view_with

FAST_RETRY = {'max_attempts': 3, 'backoff_initial': '50ms', 'backoff_max': '200ms',
              'retry_after_max': '1s', 'linger': '5s'}
# (a batch given up on a lock: not due again within the run, however slow
# the build, so that it is left pending with one attempt)
LOCKED_RETRY = {'max_attempts': 5, 'backoff_initial': '10m', 'backoff_max': '20m', 'linger': '0'}


def summary(test, r):
    lines = [line for line in r.stdout.splitlines() if line.startswith('review-nightly: run ')]
    test.assertEqual(len(lines), 1, r.stdout + r.stderr[-3000:])
    return lines[0]


class ContainmentTest(GFTestCase):
    job_overrides = {'retry': FAST_RETRY}

    def by_state(self, prop=None):
        where = f"WHERE property_id = '{prop}'" if prop else ''
        return dict((r[0], int(r[1])) for r in self.env.psql(
            f"SELECT state, count(*) FROM guestflow.deliveries {where} GROUP BY 1"))

    def state_of(self, booking_no):
        return self.env.psql("SELECT state, coalesce(reason, '') FROM guestflow.deliveries"
                             f" WHERE booking_no = '{booking_no}'")

    # ---- 1: a batch the partner holds, resent with fewer members -------------

    def check_replayed_batch(self, r, gone_reason):
        env = self.env
        line = summary(self, r)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr[-3000:])
        self.assertIn(' delivered=2 rejected=1 ', line)
        self.assertIn(' dead=0 ', line)
        self.assertEqual(self.state_of('B-1')[0][0], 'delivered')
        self.assertEqual(self.state_of('B-3')[0][0], 'delivered')
        (state, reason), = self.state_of('B-2')
        self.assertEqual(state, 'rejected')
        self.assertIn(gone_reason, reason)
        self.assertIn('not sent again: the partner may hold it from an earlier attempt under the same key', reason)
        self.assertEqual(env.psql("SELECT state, attempts FROM guestflow.batches"), [['done', '2']])
        self.assertEqual(len({k[0] for k in env.psql("SELECT idempotency_key FROM guestflow.api_calls")}), 1)
        self.assertEqual(self.history_count('B-1'), 1)
        self.assertEqual(self.history_count('B-3'), 1)
        self.assertEqual(self.history_count('B-2'), 0)
        self.assertGreaterEqual(env.sim_stats()['replays'], 1, 'the partner replayed its stored answer')

    def test_a_held_batch_resent_after_a_502_without_a_deleted_member(self):
        env = self.env
        for n in (1, 2, 3):
            add_booking(env, n)
        # The partner records the batch; its gateway answers 502.
        env.sim_control('script?action=accept_then_fail&status=502&retry_after=3600&hotel=H-1001')
        env.write_config({'retry': dict(FAST_RETRY, retry_after_max='1h')})
        self.run_job()
        self.assertEqual(len(env.recorded()), 3)
        self.assertEqual(env.scalar("SELECT maybe_sent FROM guestflow.batches"), 't')
        # Before the resend the hotel deletes guest 2 (a GDPR request).
        env.psql("DELETE FROM pms.bookings WHERE id = 2")
        env.psql("UPDATE guestflow.batches SET next_attempt_at = now()")
        r = self.run_job()
        self.check_replayed_batch(r, 'booking no longer in the source view')
        self.assertEqual(len(env.recorded()), 3, 'nothing recorded twice')

    def test_a_held_member_not_sent_again_is_not_planned_again_when_fixed(self):
        """A batch the partner may hold (killed after sending), resent with a
        member whose data changed since: that member is left out of the resend.
        Red team (issue 15): it is not 'rejected for its data':
        the partner may hold it already, so fixing the booking in the PMS must
        not plan it again under a new key (the partner would get it twice)."""
        env = self.env
        for n in (1, 2, 3):
            add_booking(env, n)
        r = env.gf('run', 'review-nightly', env={'GUESTFLOW_FAULT': 'after_send'})
        self.assertEqual(r.returncode, -9, r.stderr[-2000:])
        self.assertEqual(len(env.recorded()), 3)
        env.psql("UPDATE pms.guests SET email = 'no-longer-valid' WHERE id = 2")
        env.psql("UPDATE guestflow.batches SET lease_until = now() - interval '1 s'")
        r = self.run_job()
        self.check_replayed_batch(r, 'email:')
        # The hotel fixes the e-mail (the booking changes: updated_at later).
        env.psql("UPDATE pms.guests SET email = 'guest2@example.org' WHERE id = 2;"
                 "UPDATE pms.bookings SET updated_at = now() + interval '1 s' WHERE id = 2")
        r = env.gf('explain', 'B-2')
        self.assertNotIn('planned again at', r.stdout)
        self.assertIn('not planned again when the booking changes: the partner may hold it', r.stdout)
        self.run_job(expect=0)
        nos = sorted(g['bookingNo'] for g in env.recorded())
        self.assertEqual(nos, ['B-1', 'B-2', 'B-3'], 'the partner holds B-2 once, from the first send')
        self.assertEqual(self.state_of('B-2')[0][0], 'rejected')
        self.assertEqual(env.scalar("SELECT data_rejected FROM guestflow.deliveries WHERE booking_no = 'B-2'"), 'f')

    def test_a_held_batch_whose_stored_answer_rejected_the_member_now_gone(self):
        env = self.env
        for n in (1, 2, 3):
            add_booking(env, n)
        env.sim_control('refuse?bookingNo=B-2&reason=unknown+stay')
        env.sim_control('script?action=accept_then_fail&status=502&retry_after=3600&hotel=H-1001')
        env.write_config({'retry': dict(FAST_RETRY, retry_after_max='1h')})
        self.run_job()
        env.psql("DELETE FROM pms.bookings WHERE id = 2")
        env.psql("UPDATE guestflow.batches SET next_attempt_at = now()")
        r = self.run_job(expect=1)
        self.assertIn(' delivered=2 rejected=1 ', summary(self, r))
        # The partner's reason, from its stored answer, not the local one.
        self.assertEqual(self.state_of('B-2'), [['rejected', 'partner: unknown stay']])

    def test_a_reply_to_a_held_batch_still_cannot_count_more_than_it_holds(self):
        env = self.env
        for n in (1, 2, 3):
            add_booking(env, n)
        r = env.gf('run', 'review-nightly', env={'GUESTFLOW_FAULT': 'after_send'})
        self.assertEqual(r.returncode, -9, r.stderr[-2000:])
        env.psql("DELETE FROM pms.bookings WHERE id = 2")
        env.psql("UPDATE guestflow.batches SET lease_until = now() - interval '1 s'")
        env.sim_control('script?status=200&count=10&hotel=H-1001&content_type=application%2Fxml'
                        '&body=%3CimportResult%20accepted%3D%224%22%20rejected%3D%220%22%2F%3E')
        r = self.run_job(expect=1)
        # (B-2 is still a member: the partner may hold it under the key)
        self.assertIn(' delivered=0 rejected=0 ', summary(self, r))
        self.assertIn(' dead=3 ', summary(self, r))
        self.assertIn('reply counts accepted=4 rejected=0 but 2 records were sent (of the 3 this batch holds'
                      ' under its key)', env.scalar("SELECT last_error FROM guestflow.batches"))


    def test_a_reply_to_a_held_batch_counting_neither_what_was_sent_nor_what_it_holds(self):
        """Red team: the batch (3 guests) may be held by the partner, B-2 is
        gone, B-1 and B-3 are sent again. A reply accepting 1 and rejecting
        B-2 (not sent) counts neither the request (2, naming only what was
        sent) nor the partner's stored answer (3): B-1 and B-3 were both
        taken as delivered. Now it is not understood."""
        env = self.env
        for n in (1, 2, 3):
            add_booking(env, n)
        r = env.gf('run', 'review-nightly', env={'GUESTFLOW_FAULT': 'after_send'})
        self.assertEqual(r.returncode, -9, r.stderr[-2000:])
        env.psql("DELETE FROM pms.bookings WHERE id = 2")
        env.psql("UPDATE guestflow.batches SET lease_until = now() - interval '1 s'")
        body = ('<importResult xmlns="urn:guestflow:review-xml:1" accepted="1" rejected="1">'
                '<rejected bookingNo="B-2" reason="nope"/></importResult>')
        env.sim_control('script?status=200&count=10&hotel=H-1001&content_type=application%2Fxml&body='
                        + urllib.parse.quote(body, safe=''))
        r = self.run_job(expect=1)
        self.assertIn(' delivered=0 rejected=0 ', summary(self, r))
        self.assertIn('reply rejects booking B-2, which was not among the records sent',
                      env.scalar("SELECT last_error FROM guestflow.batches"))


    # ---- 2: a source view raising any error for one row ----------------------

    def raising_view(self, sqlstate, bad='7', volatility='STABLE'):
        """The view's first_name goes through a function that raises SQLSTATE
        for the bookings whose id is in bad (an SQL list), or for all ('all')."""
        cond = 'true' if bad == 'all' else f'id IN ({bad})'
        self.env.psql(f"""CREATE OR REPLACE FUNCTION pms.room_label(id bigint) RETURNS text LANGUAGE plpgsql
                     {volatility} AS $$
                     BEGIN IF {cond} THEN RAISE EXCEPTION 'unknown room type for booking %', id
                     USING ERRCODE = '{sqlstate}'; END IF; RETURN ''; END $$""")
        view_with(self.env, first_name="g.first_name || pms.room_label(b.id)")

    def test_a_view_raising_p0001_or_xx000_for_one_row(self):
        for sqlstate in ('P0001', 'XX000'):
            with self.subTest(sqlstate=sqlstate):
                env = self.env = self.make_env()
                add_many(env, 20, ['P001', 'P002'])
                self.raising_view(sqlstate)
                r = self.run_job(expect=1)
                self.assertIn(' delivered=19 rejected=1 ', summary(self, r))
                self.assertIn('event=plan_careful', r.stderr)
                (state, reason), = self.state_of('B-7')
                self.assertEqual(state, 'rejected')
                self.assertEqual(reason, 'the source view cannot give this booking: unknown room type for booking 7'
                                         f' (SQLSTATE {sqlstate})')
                self.assertEqual(len(env.recorded()), 19)
                # The next night it fails again for booking 7 (rejected
                # already): read carefully, nothing rejected twice.
                add_many(env, 4, ['P001'], start=21)
                r = self.run_job(expect=0)
                self.assertIn(' delivered=4 rejected=0 ', summary(self, r))
                env.cleanup()

    def test_a_volatile_function_raising_for_one_row(self):
        env = self.env
        add_many(env, 20, ['P001', 'P002'])
        # VOLATILE (plpgsql's default): computed for every row the view is
        # asked for, even when only the ids are read.
        self.raising_view('P0001', volatility='VOLATILE')
        for night in range(2):
            r = self.run_job(expect=1)
            line = summary(self, r)
            self.assertIn(' delivered=%d rejected=1 ' % (19 if night == 0 else 0), line)
            self.assertIn('first_rejected="(booking_id 7): the source view cannot give this booking: unknown room'
                          ' type for booking 7 (SQLSTATE P0001)"', line)
            self.assertIn('event=plan_list_by_value', r.stderr)
        # It cannot be given a connection: not planned, not sent.
        self.assertEqual(self.by_state(), {'delivered': 19})
        self.assertEqual(sorted(g['bookingNo'] for g in env.recorded()),
                         sorted(f'B-{i}' for i in range(1, 21) if i != 7))

    def test_a_batch_read_again_through_a_view_raising_p0001_for_one_booking(self):
        env = self.env
        env.write_config({'retry': dict(FAST_RETRY, linger='0s')})
        add_many(env, 6, ['P001'])
        env.sim_control('script?status=503&retry_after=30')
        self.run_job(expect=None)
        self.assertEqual(self.by_state(), {'pending': 6})
        self.raising_view('P0001', bad='3')
        env.psql("UPDATE guestflow.batches SET next_attempt_at = now()")
        r = self.run_job(expect=1)
        self.assertIn(' delivered=5 rejected=1 ', summary(self, r))
        self.assertIn('event=batch_rows_one_by_one', r.stderr)
        self.assertEqual(self.state_of('B-3'), [['rejected', 'the source view cannot give this booking: unknown room'
                                                 ' type for booking 3 (SQLSTATE P0001)']])

    def test_a_view_raising_p0001_for_every_row_rejects_nothing(self):
        env = self.env
        add_many(env, 6, ['P001', 'P002'])
        for volatility in ('STABLE', 'VOLATILE'):
            self.raising_view('P0001', bad='all', volatility=volatility)
            r = self.run_job(expect=75)
            self.assertIn('event=plan_failed', r.stderr)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries"), '0', 'nothing rejected')

    def test_a_batch_read_again_through_a_view_raising_for_every_booking_rejects_nothing(self):
        env = self.env
        env.write_config({'retry': dict(FAST_RETRY, linger='0s')})
        add_many(env, 6, ['P001'])
        env.sim_control('script?status=503&retry_after=30')
        self.run_job(expect=None)
        self.raising_view('P0001', bad='all')
        env.psql("UPDATE guestflow.batches SET next_attempt_at = now()")
        r = self.run_job(expect=75)
        self.assertIn('event=batch_rows_failed', r.stderr)
        # Nothing rejected: the batch stays open, its members 'sending' under
        # a lease that ended with the run (cut short): the next run takes it.
        self.assertEqual(self.by_state(), {'sending': 6})
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.batches WHERE state = 'open'"
                                    " AND lease_until <= now()"), '1')

    # ---- 3: 401/403/404 for one batch's content -------------------------------

    def waf(self, pattern, status):
        """A gateway answering status to every request holding pattern."""
        env = self.env
        pf = os.path.join(env.dir, 'waf.port')
        p = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'waf.py'),
                              '--to', str(env.sim_port), '--port-file', pf, '--pattern', pattern,
                              '--status', str(status)])

        def stop():
            p.terminate()
            p.wait(timeout=10)
        self.addCleanup(stop)
        wait_for(lambda: os.path.exists(pf) or p.poll() is not None, 20, 'the gateway port file')
        with open(pf) as f:
            return int(f.read())

    def test_a_gateway_refusing_one_batch_for_its_content_holds_nothing(self):
        env = self.env
        port = self.waf('<bookingNo>B-2</bookingNo>', 403)
        for in_flight in (1, 4):
            with self.subTest(in_flight=in_flight):
                env.psql("TRUNCATE guestflow.api_calls, guestflow.alert_events, guestflow.deliveries,"
                         " guestflow.batches CASCADE; DELETE FROM pms.booking_history; DELETE FROM pms.bookings;"
                         " DELETE FROM pms.guests")
                env.write_config({'retry': FAST_RETRY, 'endpoint': f'http://127.0.0.1:{port}/v1/guests',
                                  'batch': {'max_records': 10, 'in_flight': in_flight}})
                add_many(env, 100, ['P001'])
                r = self.run_job(expect=1)
                line = summary(self, r)
                # B-2's batch (the first) is refused for its content:
                # retried, then dead; every other booking delivered.
                self.assertIn(' delivered=90 rejected=0 ', line)
                self.assertIn(' dead=10 ', line)
                self.assertNotIn('event=connection_auth_failed', r.stderr)
                batch = env.scalar("SELECT batch_id FROM guestflow.deliveries WHERE booking_no = 'B-2'")
                state, attempts, last_error = env.psql(
                    f"SELECT state, attempts, last_error FROM guestflow.batches WHERE id = {batch}")[0]
                self.assertEqual((state, attempts), ('dead', '3'))
                self.assertIn('partner: HTTP 403', last_error)
                self.assertIn("taken as this batch's refusal, not the credentials'", last_error)
                self.assertEqual(env.psql("SELECT kind FROM guestflow.alert_events WHERE cleared_at IS NULL"),
                                 [['dead_deliveries']])
                # The next night: new guests go out, the dead batch waits
                # for an operator (and for the gateway).
                add_many(env, 20, ['P001'], start=1000)
                r = self.run_job(expect=0)
                self.assertIn(' delivered=20 ', summary(self, r))

    def test_credentials_refused_from_the_start_still_hold_the_connection(self):
        env = self.env
        add_many(env, 30, ['P002'])
        add_many(env, 4, ['P001'], start=31)
        env.write_config({'retry': FAST_RETRY, 'batch': {'max_records': 5, 'in_flight': 1}})
        env.sim_control('script?status=403&count=100&hotel=H-1002&body=invalid+access+key')
        r = self.run_job(expect=1)
        self.assertIn('event=connection_auth_failed', r.stderr)
        # The first refusal sends its batch back behind the others; the
        # second, of another batch, says it is the credentials.
        calls = env.psql("SELECT c.status_code, c.outcome FROM guestflow.api_calls c"
                         " JOIN guestflow.batches b ON b.id = c.batch_id WHERE b.property_id = 'P002' ORDER BY c.id")
        self.assertEqual(calls, [['403', 'retry'], ['403', 'auth']])
        self.assertEqual(self.by_state('P002'), {'pending': 30})
        self.assertEqual(env.scalar("SELECT max(attempts) FROM guestflow.batches WHERE property_id = 'P002'"), '0')
        self.assertEqual(self.by_state('P001'), {'delivered': 4})

    def test_credentials_revoked_in_the_middle_of_a_run_hold_the_connection(self):
        env = self.env
        add_many(env, 60, ['P001'])
        env.write_config({'retry': FAST_RETRY, 'batch': {'max_records': 5, 'in_flight': 2}})
        env.sim_control('script?action=stall&seconds=0&count=2&hotel=H-1001')
        env.sim_control('script?status=401&count=100&hotel=H-1001&body=key+revoked')
        r = self.run_job(expect=1)
        self.assertIn('event=connection_auth_failed', r.stderr)
        # More different batches refused in a row than are in flight at
        # once: the credentials, not content. Nothing dead.
        self.assertEqual(self.by_state(), {'delivered': 10, 'pending': 50})
        self.assertLessEqual(int(env.scalar("SELECT count(*) FROM guestflow.api_calls WHERE status_code = 401")), 5)

    # ---- 4: completions the database refuses, leases taken over -------------

    def raise_in_write_history(self, cond):
        self.env.psql(f"""
            CREATE OR REPLACE FUNCTION guestflow.write_history(booking_ids bigint[], messages text[])
            RETURNS void LANGUAGE plpgsql AS $$
            BEGIN
                IF {cond} THEN
                    RAISE EXCEPTION 'guest is locked for GDPR review';
                END IF;
                INSERT INTO pms.booking_history (booking_id, kind, message)
                SELECT t.booking_id, 'guestflow', t.message FROM unnest(booking_ids, messages) AS t(booking_id, message);
            END $$""")

    def test_write_history_raising_p0001_for_one_booking_costs_that_entry_alone(self):
        """The partner accepted the batch; the PMS refuses one booking's
        entry (P0001). The batch is completed member by member: the others
        get theirs, that booking is delivered (never sent again) with its
        entry owed; the history_refused alert stays open while it is, every
        run tries again, and the entry is written once the PMS takes it."""
        env = self.env
        env.write_config({'retry': FAST_RETRY, 'batch': {'max_records': 5, 'in_flight': 2}})
        add_many(env, 60, ['P001'])
        add_many(env, 4, ['P002'], start=61)
        self.raise_in_write_history('2 = ANY(booking_ids)')
        r = self.run_job(expect=1)
        line = summary(self, r)
        self.assertIn(' delivered=64 rejected=0 ', line)
        self.assertIn(' dead=0 ', line)
        self.assertIn(' pending=0 ', line)
        self.assertIn('event=completion_each', r.stderr)
        self.assertIn('event=history_refused', r.stderr)
        self.assertNotIn('event=store_failing', r.stderr)
        batch = env.scalar("SELECT batch_id FROM guestflow.deliveries WHERE booking_id = 2")
        self.assertEqual(env.psql(f"SELECT state, attempts FROM guestflow.batches WHERE id = {batch}"),
                         [['done', '1']])
        members = env.psql(f"SELECT booking_id, state, coalesce(reason, ''), coalesce(array_to_string(history_pending, '|'), '')"
                           f" FROM guestflow.deliveries WHERE batch_id = {batch} ORDER BY booking_id")
        self.assertEqual(len(members), 5)
        for booking, st, reason, owed in members:
            self.assertEqual(st, 'delivered')
            if booking == '2':
                self.assertIn('delivered; the PMS refused its history entry (SQLSTATE P0001', reason)
                self.assertIn('B-2', owed)
            else:
                self.assertEqual((reason, owed), ('', ''))
        self.assertEqual(self.history_count(), 63)
        self.assertEqual(self.history_count('B-2'), 0)
        self.assertEqual(collections.Counter(g['bookingNo'] for g in env.recorded())['B-2'], 1)
        self.assertEqual(env.scalar(f"SELECT count(*) FROM guestflow.api_calls WHERE batch_id = {batch}"
                                    " AND outcome = 'accepted'"), '1')
        alert = env.psql("SELECT kind, message FROM guestflow.alert_events WHERE cleared_at IS NULL")
        self.assertEqual([a[0] for a in alert], ['history_refused'])
        self.assertIn('the partner has 1 booking(s) of job review-nightly whose history entries the PMS refused'
                      ' (the first: B-2)', alert[0][1])
        # explain: delivered, and why its booking has no entry yet.
        r = env.gf('explain', 'B-2')
        self.assertIn('PMS refused its history entry', r.stdout)
        # The next night, the PMS still refuses it: tried again, still
        # owed, not sent again; new guests go out with their entries.
        add_many(env, 5, ['P001'], start=100)
        r = self.run_job(expect=1)
        self.assertIn(' delivered=5 ', summary(self, r))
        self.assertEqual(self.history_count(), 68)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.alert_events WHERE cleared_at IS NULL"), '1')
        # The PMS fixed: the entry is written, once, as it was owed; the
        # alert clears; nothing is sent.
        self.raise_in_write_history('false')
        r = self.run_job(expect=0)
        self.assertIn(' delivered=0 ', summary(self, r))
        self.assertIn('event=history_written', r.stderr)
        self.assertEqual(self.history_count('B-2'), 1)
        self.assertEqual(env.psql("SELECT state, reason IS NULL, history_pending IS NULL FROM guestflow.deliveries"
                                  " WHERE booking_id = 2"), [['delivered', 't', 't']])
        self.assertEqual(collections.Counter(g['bookingNo'] for g in env.recorded())['B-2'], 1)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.alert_events WHERE cleared_at IS NULL"), '0')
        r = self.run_job(expect=0)
        self.assertEqual(self.history_count('B-2'), 1)

    def test_owed_entries_wait_for_a_lock_no_longer_than_lock_timeout_and_add_up(self):
        """Red team: the owed entries were written on the run's main
        session, which waits for locks without end: a booking the PMS kept
        locked held the run at its end, a stop signal too. And a forced
        rerun refused again replaced the entry owed before with its own:
        the first was lost. Now a write waits database.lock_timeout, then
        the entry stays owed; entries owed add up, and purge keeps them."""
        env = self.env
        env.write_config({'retry': FAST_RETRY, 'batch': {'max_records': 5, 'in_flight': 2}})
        self.lock_timeout('3s')
        add_many(env, 5, ['P001'])
        self.raise_in_write_history('2 = ANY(booking_ids) OR 4 = ANY(booking_ids)')
        self.run_job(expect=1)
        r = env.gf('rerun', 'review-nightly', '--booking', 'B-2', '--force')
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        owed = env.scalar("SELECT array_length(history_pending, 1) FROM guestflow.deliveries WHERE booking_id = 2")
        self.assertEqual(owed, '2')
        # purge keeps what is still owed
        env.psql("UPDATE guestflow.deliveries SET finished_at = now() - interval '401 days';"
                 "UPDATE pms.bookings SET checked_out_at = now() - interval '402 days'")
        self.assertEqual(env.gf('purge').returncode, 0)
        self.assertEqual(env.psql("SELECT booking_no FROM guestflow.deliveries ORDER BY 1"), [['B-2'], ['B-4']])
        self.raise_in_write_history('false')
        # (both kept locked: the run's end waits one lock timeout, 3 s, not
        # one for each booking owed)
        release = hold_in_session(self, env, "SELECT 1 FROM pms.bookings WHERE id IN (2, 4) FOR UPDATE")
        t0 = time.monotonic()
        r = self.run_job(expect=1, timeout=60)
        self.assertLess(time.monotonic() - t0, 5.5)
        self.assertEqual(r.stderr.count('sqlstate=55P03'), 2, r.stderr[-3000:])
        self.assertEqual(self.history_count('B-2'), 0)
        release()
        # B-2 locked (and first), B-4 free: B-4's entry is not starved
        # behind it
        release2 = hold_in_session(self, env, "SELECT 1 FROM pms.bookings WHERE id = 2 FOR UPDATE")
        r = self.run_job(expect=1, timeout=60)
        self.assertEqual(self.history_count('B-4'), 1)
        self.assertEqual(self.history_count('B-2'), 0)
        release2()
        r = self.run_job(expect=0)
        self.assertEqual(r.stderr.count('event=history_written'), 1, r.stderr[-3000:])
        self.assertEqual(self.history_count('B-2'), 2)
        self.assertEqual(self.history_count('B-4'), 1)
        self.assertEqual(collections.Counter(g['bookingNo'] for g in env.recorded())['B-2'], 2)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.alert_events WHERE cleared_at IS NULL"), '0')

    def test_forget_job_writes_the_entries_owed_and_refuses_while_one_is_refused(self):
        """A job removed while the PMS still owes history entries for
        bookings it delivered: forget-job dropped them silently (no run of
        the job would ever write them). Now it writes those the PMS takes,
        refuses (65, nothing deleted) while one is refused again, and with
        --force forgets it with the rest and says so."""
        env = self.env
        env.write_config({'retry': FAST_RETRY, 'batch': {'max_records': 5, 'in_flight': 2}})
        add_many(env, 6, ['P001'])
        self.raise_in_write_history('2 = ANY(booking_ids) OR 4 = ANY(booking_ids)')
        self.run_job(expect=1)
        self.assertEqual(env.psql("SELECT booking_no FROM guestflow.deliveries WHERE history_pending IS NOT NULL"
                                  " ORDER BY 1"), [['B-2'], ['B-4']])
        os.remove(os.path.join(env.jobs_dir, 'review-nightly.yaml'))
        self.raise_in_write_history('2 = ANY(booking_ids)')
        r = env.gf('db', 'forget-job', 'review-nightly')
        self.assertEqual(r.returncode, 65, r.stdout + r.stderr)
        self.assertIn('wrote 1 history entry the PMS had refused before', r.stderr)
        self.assertIn("1 history entry the PMS refused (for bookings job 'review-nightly' delivered", r.stderr)
        self.assertIn('is still owed (the first: booking B-2;', r.stderr)
        self.assertEqual(self.history_count('B-4'), 1)
        self.assertEqual(self.history_count('B-2'), 0)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries WHERE job = 'review-nightly'"), '6',
                         'a refusal deletes nothing')
        self.assertEqual(env.psql("SELECT booking_no FROM guestflow.deliveries WHERE history_pending IS NOT NULL"),
                         [['B-2']])
        r = env.gf('db', 'forget-job', 'review-nightly', '--force')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('deliveries 6', r.stdout)
        self.assertIn('--force: 1 history entry owed to bookings (the PMS refused them) forgotten', r.stderr)
        self.assertNotIn('wrote ', r.stderr)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries"), '0')
        self.assertEqual(self.history_count('B-2'), 0)

    def test_a_booking_deleted_under_a_deferred_foreign_key(self):
        """Red team: the PMS deletes a booking while its batch is out, and
        the history's foreign key is checked at commit (DEFERRABLE
        INITIALLY DEFERRED): the refusal came at the pipeline's commit, and
        every run ended with 75. Now that booking is delivered with its
        entry owed, the others get theirs; the next run finds it gone from
        the PMS, owes it nothing, and the alert clears."""
        env = self.env
        env.write_config({'retry': FAST_RETRY, 'batch': {'max_records': 5, 'in_flight': 2}})
        add_many(env, 10, ['P001'])
        fk = env.scalar("SELECT conname FROM pg_constraint WHERE conrelid = 'pms.booking_history'::regclass"
                        " AND contype = 'f'")
        # (the PMS deletes booking 2 once its delivery is on its way)
        env.psql(f"""
            ALTER TABLE pms.booking_history ALTER CONSTRAINT {fk} DEFERRABLE INITIALLY DEFERRED;
            CREATE FUNCTION pg_temp_delete_b2() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.booking_id = 2 AND NEW.state = 'sending' THEN
                    DELETE FROM pms.bookings WHERE id = 2;
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER delete_b2 AFTER UPDATE ON guestflow.deliveries FOR EACH ROW
                EXECUTE FUNCTION pg_temp_delete_b2();""")
        r = self.run_job(expect=1)
        line = summary(self, r)
        self.assertIn(' delivered=10 ', line)
        self.assertIn(' dead=0 ', line)
        self.assertIn('sqlstate=23503', r.stderr)
        self.assertEqual(env.scalar("SELECT count(*) FROM pms.bookings WHERE id = 2"), '0')
        self.assertEqual(self.history_count(), 9)
        self.assertEqual(env.psql("SELECT state, history_pending IS NOT NULL FROM guestflow.deliveries"
                                  " WHERE booking_id = 2"), [['delivered', 't']])
        r = self.run_job(expect=0)
        self.assertIn('event=history_abandoned', r.stderr)
        self.assertIn('its booking is gone from the PMS',
                      env.scalar("SELECT reason FROM guestflow.deliveries WHERE booking_id = 2"))
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.alert_events WHERE cleared_at IS NULL"), '0')
        self.assertEqual(sorted(collections.Counter(g['bookingNo'] for g in env.recorded()).values()), [1] * 10)

    def test_a_claim_that_meets_a_deadlock_is_made_again(self):
        """Red team: a forced 'rerun --from --to' during a run locked the
        same deliveries as the run's claim, in another order: the claim
        failed with 40P01 and the run ended (75), its batches left under
        their leases. A claim refused for a moment's reason (40P01, 40001)
        is made again; here the first two claims are refused so."""
        env = self.env
        env.write_config({'batch': {'max_records': 5, 'in_flight': 2}})
        add_many(env, 20, ['P001', 'P002'])
        env.psql("""
            CREATE SEQUENCE public.claims_refused;
            CREATE FUNCTION public.refuse_two_claims() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF nextval('public.claims_refused') <= 2 THEN
                    RAISE EXCEPTION 'deadlock detected' USING ERRCODE = 'deadlock_detected';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER refuse_two_claims BEFORE UPDATE OF lease_until ON guestflow.batches
                FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_two_claims();""")
        r = self.run_job(expect=0)
        self.assertIn(' delivered=20 ', summary(self, r))
        self.assertEqual(r.stderr.count('event=claim_retry'), 2, r.stderr[-3000:])
        self.assertEqual(sorted(collections.Counter(g['bookingNo'] for g in env.recorded()).values()), [1] * 20)

    def lock_timeout(self, value):
        """database.lock_timeout in the main file."""
        main_setting(self.env, 'database', 'lock_timeout', value)

    def test_a_booking_the_pms_keeps_locked_holds_up_only_its_batch(self):
        """A PMS holding a booking's row FOR UPDATE (a receptionist editing
        it) made the history entry of its batch wait, and with it the whole
        run, for as long as the PMS held it: a stop signal too. Now the
        completion gives up after database.lock_timeout, the batch is
        retried (sent again under its key), the others are delivered, and
        once the lock is gone every guest is delivered once."""
        env = self.env
        env.write_config({'retry': LOCKED_RETRY,
                          'batch': {'max_records': 5, 'in_flight': 2}})
        self.lock_timeout('1s')
        add_many(env, 20, ['P001', 'P002'])
        release = hold_in_session(self, env, "SELECT 1 FROM pms.bookings WHERE booking_no = 'B-1' FOR UPDATE")
        t0 = time.monotonic()
        r = self.run_job(expect=1, timeout=60)
        self.assertLess(time.monotonic() - t0, 20)
        line = summary(self, r)
        self.assertIn(' delivered=15 ', line)
        self.assertIn(' dead=0 ', line)
        self.assertIn('sqlstate=55P03', r.stderr)
        batch = env.scalar("SELECT batch_id FROM guestflow.deliveries d JOIN pms.bookings b ON b.id = d.booking_id"
                           " WHERE b.booking_no = 'B-1'")
        state, maybe_sent, last_error = env.psql(
            f"SELECT state, maybe_sent, last_error FROM guestflow.batches WHERE id = {batch}")[0]
        self.assertEqual((state, maybe_sent), ('open', 't'))
        self.assertIn('waited longer than database.lock_timeout for a lock another session holds', last_error)
        self.assertEqual(self.history_count(), 15)
        self.assertTrue(release.held())
        release()
        env.psql("UPDATE guestflow.batches SET next_attempt_at = now() WHERE state = 'open'")
        self.run_job(expect=0)
        self.assertEqual(self.by_state(), {'delivered': 20})
        self.assertEqual(env.psql("SELECT count(*), count(DISTINCT booking_id) FROM pms.booking_history"),
                         [['20', '20']])
        self.assertEqual(set(collections.Counter(g['bookingNo'] for g in env.recorded()).values()), {1})

    def test_a_hotel_the_pms_keeps_locked_is_not_the_history_store_failing(self):
        """One booking locked in each of a hotel's batches (a night audit),
        more than batch.in_flight + 1 of them: their completions give up
        together, and that is not the history store failing as a whole; the
        other hotel's bookings all go out."""
        env = self.env
        env.write_config({'retry': LOCKED_RETRY, 'batch': {'max_records': 5, 'in_flight': 4}})
        self.lock_timeout('1s')
        add_many(env, 25, ['P001'])
        add_many(env, 100, ['P002'], start=26)
        hold_in_session(self, env, "SELECT 1 FROM pms.bookings WHERE booking_no IN"
                                   " ('B-1', 'B-6', 'B-11', 'B-16', 'B-21') FOR UPDATE")
        r = self.run_job(expect=1, timeout=120)
        self.assertNotIn('event=store_failing', r.stderr)
        self.assertIn(' delivered=100 ', summary(self, r))
        self.assertEqual(env.psql("SELECT c.property_id, d.state, count(*) FROM guestflow.deliveries d"
                                  " JOIN guestflow.connections c ON c.id = d.connection_id GROUP BY 1, 2 ORDER BY 1, 2"),
                         [['P001', 'pending', '25'], ['P002', 'delivered', '100']])

    def test_a_stop_is_not_held_up_by_a_lock_the_pms_keeps(self):
        env = self.env
        env.write_config({'retry': LOCKED_RETRY,
                          'batch': {'max_records': 5, 'in_flight': 2}})
        self.lock_timeout('3s')
        add_many(env, 20, ['P001', 'P002'])
        hold_in_session(self, env, "SELECT 1 FROM pms.bookings WHERE booking_no = 'B-1' FOR UPDATE")
        p = self.start_run(env)
        wait_for(lambda: env.scalar("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                                    " AND query LIKE 'WITH g AS MATERIALIZED%'") == '1', 30,
                 'a completion waiting for the lock')
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
        self.assertLess(time.monotonic() - t0, 10, 'held up by the lock')
        self.assertEqual(p.returncode, 75, out + err[-3000:])
        self.assertIn('reason="stopped by a signal"', out)
        # (nothing lost: what was not recorded goes with a later run)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries WHERE state = 'delivered'"),
                         str(self.history_count()))

    def test_a_history_store_down_ends_the_run_after_a_few_batches(self):
        env = self.env
        env.write_config({'retry': FAST_RETRY, 'batch': {'max_records': 5, 'in_flight': 2}})
        add_many(env, 100, ['P001', 'P002'])
        self.raise_in_write_history('true')
        # (a partner that takes some time, as they do: with none, the
        # completions sent down the pipelines before the first refusal
        # comes back are refused too, an attempt each)
        env.sim_control('latency?ms=50')
        r = self.run_job(expect=75)
        line = summary(self, r)
        self.assertIn('reason="the database refused to record the outcome of 3 batches in a row (SQLSTATE P0001,'
                      ' see the log): the history store fails as a whole"', line)
        self.assertIn('event=store_failing', r.stderr)
        self.assertEqual(self.history_count(), 0)
        # Not the night's every batch: a few have an attempt counted, none
        # is dead, none is left under a lease.
        counted = int(env.scalar("SELECT count(*) FROM guestflow.batches WHERE attempts > 0"))
        self.assertGreaterEqual(counted, 3)
        self.assertLessEqual(counted, 8)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.batches WHERE state = 'dead'"
                                    " OR lease_until > now()"), '0')
        # The store is back: everything delivered once.
        self.raise_in_write_history('false')
        env.sim_control('latency?ms=0')
        r = self.run_job(expect=0)
        self.assertEqual(self.by_state(), {'delivered': 100})
        self.assertEqual(self.history_count(), 100)
        self.assertEqual(len({g['bookingNo'] for g in env.recorded()}), 100)

    def test_a_run_cut_short_by_an_error_leaves_no_lease_behind(self):
        """Red team: a run ended by an error of its own (here a claim the
        database refuses as a whole, 42501) while requests were out left
        those batches under its leases: the next run counted them
        in_flight_elsewhere and sent them only once the leases ran out.
        The leases a run cut short still holds end with it."""
        env = self.env
        env.write_config({'batch': {'max_records': 5, 'in_flight': 2}, 'lease': '10m'})
        add_many(env, 20, ['P001'])
        env.partner_latency(500)
        env.psql("""
            CREATE SEQUENCE public.claimed;
            CREATE FUNCTION public.refuse_third_claim() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF OLD.lease_until IS NULL AND NEW.lease_until IS NOT NULL
                   AND nextval('public.claimed') = 3 THEN
                    RAISE EXCEPTION 'permission denied' USING ERRCODE = 'insufficient_privilege';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER refuse_third_claim BEFORE UPDATE ON guestflow.batches
                FOR EACH ROW EXECUTE FUNCTION public.refuse_third_claim();""")
        r = self.run_job(expect=75)
        self.assertIn('sqlstate=42501', r.stderr)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.batches WHERE lease_until > now()"), '0')
        env.psql("DROP TRIGGER refuse_third_claim ON guestflow.batches")
        env.partner_latency(0)
        r = self.run_job(expect=0)
        self.assertNotIn('in_flight_elsewhere', summary(self, r))
        self.assertEqual(collections.Counter(g['bookingNo'] for g in env.recorded()),
                         {f'B-{i}': 1 for i in range(1, 21)})
        self.assertEqual(self.history_count(), 20)

    def test_the_batches_of_a_run_found_lost_are_taken_over_at_once(self):
        """Red team: a run killed after sending left its batches under its
        leases; the next run found it lost ('its deliveries are sent by this
        run or the next'), then sent nothing and exited 0: the guests waited
        for the leases to run out, the next night with a nightly timer. The
        leases of a run whose process is gone end when it is found lost:
        its batches are sent again under their keys (the partner replays)."""
        env = self.env
        env.write_config({'batch': {'max_records': 3, 'in_flight': 1}})
        add_many(env, 6, ['P001'])
        r = env.gf('run', 'review-nightly', env={'GUESTFLOW_FAULT': 'after_send'}, timeout=60)
        self.assertEqual(r.returncode, -9, r.stderr[-2000:])
        self.assertNotEqual(env.scalar("SELECT count(*) FROM guestflow.batches WHERE lease_until > now()"), '0')
        r = self.run_job(expect=0)
        self.assertRegex(r.stderr, r'event=run_lost run=1 .*batches_taken_over=[1-9]')
        self.assertIn(' delivered=6 ', summary(self, r))
        self.assertNotIn('in_flight_elsewhere', summary(self, r))
        self.assertEqual(collections.Counter(g['bookingNo'] for g in env.recorded()),
                         {f'B-{i}': 1 for i in range(1, 7)})
        self.assertEqual(self.history_count(), 6)

    def test_a_batch_that_kills_every_worker_goes_dead(self):
        env = self.env
        for n in (1, 2, 3):
            add_booking(env, n)
        # Each run that takes the batch dies with it (after the claim);
        # the next takes it over when the lease has run out.
        for _ in range(3):
            r = env.gf('run', 'review-nightly', env={'GUESTFLOW_FAULT': 'after_claim'})
            self.assertEqual(r.returncode, -9, r.stderr[-2000:])
            env.psql("UPDATE guestflow.batches SET lease_until = now() - interval '1 s'")
        self.assertEqual(env.scalar("SELECT attempts FROM guestflow.batches"), '3')
        r = self.run_job(expect=1)
        line = summary(self, r)
        self.assertIn(' delivered=0 rejected=0 ', line)
        self.assertIn(' dead=3 ', line)
        self.assertIn(' requests=0 ', line)
        self.assertEqual(env.sim_stats()['requests'], 0, 'not sent a fourth time')
        state, last_error = env.psql("SELECT state, last_error FROM guestflow.batches")[0]
        self.assertEqual(state, 'dead')
        self.assertIn('taken over after its lease ran out with its 3 attempts used', last_error)
        self.assertEqual(env.psql("SELECT kind FROM guestflow.alert_events WHERE cleared_at IS NULL"),
                         [['dead_deliveries']])

    def test_pending_counts_deliveries_under_a_lease(self):
        env = self.env
        for n in (1, 2, 3):
            add_booking(env, n)
        r = env.gf('run', 'review-nightly', env={'GUESTFLOW_FAULT': 'after_claim'})
        self.assertEqual(r.returncode, -9, r.stderr[-2000:])
        # Its lease (10 minutes) still runs, and its host is another (its
        # process not known to be gone): another run cannot take it.
        env.psql("UPDATE guestflow.runs SET host = 'elsewhere.example'")
        r = self.run_job(expect=0)
        self.assertIn(' pending=3 in_flight_elsewhere=3 requests=0 ', summary(self, r))

    # ---- 5: a flaky gateway answering 400 -------------------------------------

    def test_a_flaky_gateway_refusing_nine_requests_in_ten_rejects_no_guest(self):
        env = self.env
        env.write_config({'retry': FAST_RETRY, 'batch': {'max_records': 50, 'in_flight': 4}})
        add_many(env, 400, ['P001'])
        # One good backend out of ten; the broken ones answer 400.
        for _ in range(60):
            env.sim_control('script?action=stall&seconds=0&count=1&hotel=H-1001')
            env.sim_control('script?status=400&count=9&hotel=H-1001&body=%3Chtml%3E502+Bad+Gateway%3C%2Fhtml%3E')
        # Whether the 600 scripted answers run out within this run (exit 0) or
        # not (exit 1, the rest pending) depends on the timing; no guest is
        # rejected either way.
        r = self.run_job()
        self.assertIn(r.returncode, (0, 1), r.stderr[-4000:])
        self.assertIn(' rejected=0 ', summary(self, r))
        self.assertNotIn('rejected', self.by_state())
        # The gateway is fixed: the next run delivers every guest.
        env.sim_control('reset')
        self.run_job(expect=0)
        self.assertEqual(self.by_state(), {'delivered': 400})
        self.assertEqual(len({g['bookingNo'] for g in env.recorded()}), 400)

    def test_a_gateway_refusing_everything_after_one_accept_rejects_no_single_booking(self):
        env = self.env
        env.write_config({'retry': FAST_RETRY, 'batch': {'max_records': 1, 'in_flight': 1}})
        add_many(env, 40, ['P001'])
        env.sim_control('script?action=stall&seconds=0&count=1&hotel=H-1001')
        env.sim_control('script?status=400&count=1000&hotel=H-1001&body=gateway+down')
        r = self.run_job(expect=1)
        self.assertIn(' delivered=1 rejected=0 ', summary(self, r))
        self.assertEqual(self.by_state(), {'delivered': 1, 'pending': 39})
        self.assertIn('event=connection_refused_all', r.stderr)

    def test_a_single_bad_booking_is_still_rejected(self):
        env = self.env
        # The partner's schema refuses B-3 (a last name too long for it).
        env.stop_sim()
        env.start_sim(self.accounts, xsd=strict_xsd(env, 30))
        env.write_config({'retry': FAST_RETRY, 'batch': {'max_records': 1, 'in_flight': 1}})
        add_many(env, 6, ['P001'])
        env.psql("UPDATE pms.guests SET last_name = repeat('N', 31) WHERE id = 3")
        r = self.run_job(expect=1)
        self.assertIn(' delivered=5 rejected=1 ', summary(self, r))
        (state, reason), = self.state_of('B-3')
        self.assertEqual(state, 'rejected')
        self.assertIn('partner: HTTP 400', reason)
        # Refused alone twice, with accepted requests in between.
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.api_calls a JOIN guestflow.deliveries d"
                                    " ON d.batch_id = a.batch_id WHERE d.booking_no = 'B-3'"), '2')

    def test_a_bad_booking_left_last_is_still_rejected(self):
        env = self.env
        env.stop_sim()
        env.start_sim(self.accounts, xsd=strict_xsd(env, 30))
        env.write_config({'retry': FAST_RETRY, 'batch': {'max_records': 4, 'in_flight': 1}})
        add_many(env, 4, ['P001'])
        env.psql("UPDATE pms.guests SET last_name = repeat('N', 31) WHERE id = 4")
        r = self.run_job(expect=1)
        # B-4 is isolated last: refused alone twice, nothing else left to
        # accept in between, and no other single booking refused.
        self.assertIn(' delivered=3 rejected=1 ', summary(self, r))
        self.assertEqual(self.state_of('B-4')[0][0], 'rejected')

    # ---- 9: exit 69 and partner_unreachable only when the partner is not there --

    def alerts(self):
        return self.env.psql("SELECT kind, message FROM guestflow.alert_events WHERE cleared_at IS NULL ORDER BY id")

    def test_a_partner_that_answers_unreadable_200_or_400_is_reached(self):
        env = self.env
        add_many(env, 6, ['P001', 'P002'])
        env.sim_control('script?status=200&count=1000&body=%3Chtml%3Eok%3C%2Fhtml%3E')
        r = self.run_job(expect=1)
        line = summary(self, r)
        self.assertNotIn('no partner could be reached', line)
        self.assertIn(' dead=6 ', line)
        self.assertEqual([a[0] for a in self.alerts()], ['dead_deliveries', 'dead_deliveries'])
        # A batch that may have reached the partner, answered 400 after:
        # resent whole until dead, the partner answered all along.
        env = self.env = self.make_env()
        add_many(env, 3, ['P001'])
        r = env.gf('run', 'review-nightly', env={'GUESTFLOW_FAULT': 'after_send'})
        self.assertEqual(r.returncode, -9, r.stderr[-2000:])
        env.psql("UPDATE guestflow.batches SET lease_until = now() - interval '1 s'")
        env.sim_control('script?status=400&count=100&body=nope')
        r = self.run_job(expect=1)
        self.assertIn(' dead=3 ', summary(self, r))
        self.assertEqual([a[0] for a in self.alerts()], ['dead_deliveries'])

    def test_no_answer_at_all_exits_69_and_says_what_became_of_the_deliveries(self):
        env = self.env
        add_many(env, 4, ['P001', 'P002'])
        env.stop_sim()
        r = self.run_job(expect=69)
        line = summary(self, r)
        self.assertIn(' dead=4 ', line)
        (kind, message), = [a for a in self.alerts() if a[0] == 'partner_unreachable']
        self.assertIn('every request failed without an answer, or with 5xx (last: ', message)
        self.assertIn('4 deliveries went dead after retry.max_attempts', message)
        self.assertNotIn('stay pending', message)

    def test_a_partner_answering_503_only_is_unavailable(self):
        env = self.env
        add_many(env, 4, ['P001'])
        env.write_config({'retry': dict(FAST_RETRY, linger='0s')})
        env.sim_control('script?status=503&count=100&retry_after=30&body=maintenance')
        r = self.run_job(expect=69)
        self.assertIn(' pending=4 ', summary(self, r))
        (kind, message), = self.alerts()
        self.assertEqual(kind, 'partner_unreachable')
        self.assertIn('(last: partner: HTTP 503 maintenance); 4 deliveries stay pending and are retried with'
                      ' backoff', message)

    # ---- 6: reply counts that would overflow ----------------------------------

    def test_reply_counts_that_would_overflow_are_unreadable(self):
        env = self.env
        add_booking(env, 1, prop='P001')
        add_booking(env, 2, prop='P002')
        # INT64_MAX + 1 overflowed when added (UBSan aborted the run, and
        # the other hotel's booking stayed pending).
        env.sim_control('script?status=200&count=5&hotel=H-1001&content_type=application%2Fxml'
                        '&body=%3CimportResult%20accepted%3D%229223372036854775807%22%20rejected%3D%221%22%3E'
                        '%3Crejected%20bookingNo%3D%22B-1%22%20reason%3D%22x%22%2F%3E%3C%2FimportResult%3E')
        r = self.run_job()
        self.assertIn(r.returncode, (0, 1), r.stderr[-3000:])
        self.assertEqual(self.state_of('B-2')[0][0], 'delivered')
        self.assertEqual(self.state_of('B-1')[0][0], 'dead')
        self.assertIn('reply: accepted="9223372036854775807" is not a non-negative integer up to 2147483647',
                      env.scalar("SELECT last_error FROM guestflow.batches WHERE property_id = 'P001'"))


    # ---- 7: the database's or the environment's session settings -------------

    def check_iso_dates(self, r, n):
        env = self.env
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr[-3000:])
        self.assertEqual(self.by_state(), {'delivered': n})
        want = env.psql("SELECT 'B-' || id, to_char(arrival, 'YYYY-MM-DD'), to_char(departure, 'YYYY-MM-DD')"
                        " FROM pms.bookings ORDER BY id")
        got = sorted([g['bookingNo'], g['arrival'], g['departure']] for g in env.recorded())
        self.assertEqual(got, sorted(want))

    def test_a_database_with_a_german_datestyle(self):
        env = self.env
        add_many(env, 6, ['P001', 'P002'])
        dbname = env.scalar("SELECT current_database()")
        env.psql(f"ALTER DATABASE {dbname} SET datestyle = 'German, DMY'; ALTER DATABASE {dbname} SET"
                 " intervalstyle = 'sql_standard'")
        self.check_iso_dates(self.run_job(), 6)

    def test_datestyle_and_encoding_from_the_environment(self):
        env = self.env
        add_booking(env, 1, last='Müller')
        add_booking(env, 2, prop='P002', last='Ørsted')
        r = env.gf('run', 'review-nightly', env={'PGDATESTYLE': 'SQL, DMY', 'PGCLIENTENCODING': 'LATIN1',
                                                  'PGOPTIONS': '-c datestyle=Postgres,MDY'})
        self.check_iso_dates(r, 2)
        self.assertEqual(sorted(g['lastName'] for g in env.recorded()), ['Müller', 'Ørsted'])

    def test_a_latin1_database(self):
        env = self.env
        env.psql("CREATE DATABASE pmsl1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
        env.conninfo = env.conninfo.replace(f'dbname={env.dbname}', 'dbname=pmsl1')
        self.assertIn('dbname=pmsl1', env.conninfo)
        env.load_reference_schema()
        env.psql("INSERT INTO pms.properties VALUES ('P001', 'Hotel P001'), ('P002', 'Hotel P002')")
        env.write_config({'retry': FAST_RETRY})
        self.assertEqual(env.gf('db', 'migrate').returncode, 0)
        os.unlink(env.key_file)  # (a new database: a new key for its access keys)
        for p, h in self.properties.items():
            env.add_connection(p, h, self.accounts[h])
        env.psql("SET client_encoding = 'UTF8';"
                 " INSERT INTO pms.guests VALUES (1, 'Zoë', 'Müller', 'a@example.org', 'f', 'de'),"
                 " (2, 'Ann', 'Plain', 'b@example.org', 'f', 'de'), (3, 'Bo', 'Other', 'c@example.org', 'f', 'de');"
                 " INSERT INTO pms.bookings (id, property_id, booking_no, guest_id, status, arrival, departure,"
                 " checked_out_at, notify_on_occupancy) SELECT i, 'P001', 'B-' || i, i, 'checked_out',"
                 " current_date - 3, current_date - 1, now() - interval '1 day', true FROM generate_series(1, 3) i")
        # A reason the database's encoding has no room for (the euro sign),
        # and, in the same batch, the PMS refusing B-2's history entry.
        env.sim_control('refuse?bookingNo=B-3&reason=refus%C3%A9+%E2%82%AC+5')
        self.raise_in_write_history('2 = ANY(booking_ids)')
        r = self.run_job(expect=1)
        self.assertIn(' delivered=2 rejected=1 ', summary(self, r))
        self.assertIn('event=completion_each', r.stderr)
        self.assertEqual(sorted((g['firstName'], g['lastName']) for g in env.recorded()),
                         [('Ann', 'Plain'), ('Zoë', 'Müller')])
        self.assertEqual(self.state_of('B-3'), [['rejected', 'partner: refus? ? 5']])
        self.assertEqual(self.state_of('B-2')[0][0], 'delivered')
        self.assertIn('the PMS refused its history entry (SQLSTATE P0001', self.state_of('B-2')[0][1])
        self.assertEqual(self.history_count(), 1)
        self.assertEqual(self.history_count('B-1'), 1)

    # ---- 8: a trigger label that is not UTF-8 -------------------------------

    def test_a_trigger_label_that_is_not_utf8(self):
        env = self.env
        add_booking(env, 1)
        label = b'cron\xff\x1b[31m' + b'x' * 500
        r = subprocess.run([GUESTFLOW, '-c', env.config, 'run', 'review-nightly'], capture_output=True,
                           env=dict(os.environ, GUESTFLOW_TRIGGER=os.fsdecode(label)), timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        trigger = env.scalar("SELECT trigger FROM guestflow.runs")
        self.assertTrue(trigger.startswith('cron? [31mxxx'), trigger)
        self.assertNotIn('\x1b', trigger)
        self.assertLessEqual(len(trigger.encode()), 64)


if __name__ == '__main__':
    main()
