#!/usr/bin/env python3
"""Partner failures of DESIGN.md's failure table: retries under the same
Idempotency-Key, Retry-After, dead batches, credentials refused, 400
bisection, 413 halving, timeouts, dropped connections, unreadable replies."""
import urllib.parse

from gftest import GFTestCase, add_booking, add_many, main, strict_xsd


class FailureTest(GFTestCase):
    # A reply in the job's format that counts more guests than were sent.
    COUNTS_TOO_MANY = '<importResult accepted="2" rejected="1"><rejected bookingNo="B-77" reason="x"/></importResult>'

    def add(self, *numbers, prop='P001'):
        for n in numbers:
            add_booking(self.env, n, prop=prop)

    def keys_of_calls(self):
        return self.env.psql("SELECT batch_id, idempotency_key, status_code, outcome FROM guestflow.api_calls ORDER BY id")

    def test_503_with_retry_after_then_success_same_key(self):
        env = self.env
        self.add(1, 2, 3)
        env.sim_control('script?status=503&retry_after=1&count=2')
        r = self.run_job(expect=0)
        self.assertIn(' delivered=3 ', r.stdout)
        self.assertIn(' retried=6 ', r.stdout)
        calls = self.keys_of_calls()
        self.assertEqual([c[2] for c in calls], ['503', '503', '200'])
        self.assertEqual(len({(c[0], c[1]) for c in calls}), 1, 'same batch, same key on every attempt')
        self.assertEqual(int(env.scalar("SELECT attempts FROM guestflow.batches")), 3)
        self.assertEqual(self.history_count(), 3)
        self.assertEqual(len(env.recorded()), 3)

    def test_retry_after_as_http_date(self):
        env = self.env
        self.add(1)
        env.sim_control('script?status=429&retry_after=Wed,%2021%20Oct%202015%2007:28:00%20GMT')
        r = self.run_job(expect=0)
        self.assertIn(' delivered=1 ', r.stdout)
        self.assertEqual([c[2] for c in self.keys_of_calls()], ['429', '200'])

    def test_max_attempts_makes_the_batch_dead(self):
        env = self.env
        self.add(1, 2)
        env.sim_control('script?status=500&count=50')
        r = self.run_job(expect=69)
        self.assertIn(' dead=2 ', r.stdout)
        self.assertEqual(self.states(), {'dead': 2})
        state, attempts, last_error = env.psql("SELECT state, attempts, last_error FROM guestflow.batches")[0]
        self.assertEqual((state, attempts), ('dead', '4'))
        self.assertIn('HTTP 500', last_error)
        reason = env.scalar("SELECT DISTINCT reason FROM guestflow.deliveries")
        self.assertIn('HTTP 500', reason)
        self.assertEqual(self.history_count(), 0)
        self.assertEqual(len(self.keys_of_calls()), 4)
        self.assertIn('event=batch_dead', r.stderr)

    def test_credentials_refused_skip_the_connection(self):
        env = self.env
        env.psql("UPDATE guestflow.connections SET secret = 'wrong-key' WHERE property_id = 'P002'")
        self.add(1, 2, prop='P001')
        self.add(3, 4, prop='P002')
        r = self.run_job(expect=1)
        self.assertIn(' delivered=2 ', r.stdout)
        self.assertEqual(sorted(g['bookingNo'] for g in env.recorded()), ['B-1', 'B-2'])
        self.assertEqual(env.psql("SELECT booking_no, state FROM guestflow.deliveries WHERE property_id = 'P002' ORDER BY 1"),
                         [['B-3', 'pending'], ['B-4', 'pending']])
        self.assertIn('event=connection_auth_failed', r.stderr)
        # The connection stays live; with the key fixed the next run delivers without operator action.
        self.assertEqual(env.scalar("SELECT status FROM guestflow.connections WHERE property_id = 'P002'"), 'live')
        self.assertEqual(int(env.scalar("SELECT attempts FROM guestflow.batches WHERE property_id = 'P002'")), 0)
        env.psql("UPDATE guestflow.connections SET secret = 'k3y+/=two' WHERE property_id = 'P002'")
        self.run_job(expect=0)
        self.assertEqual(sorted(g['bookingNo'] for g in env.recorded()), ['B-1', 'B-2', 'B-3', 'B-4'])
        self.assertEqual(self.history_count(), 4)

    def test_credentials_refused_stop_the_batch_claimed_ahead_too(self):
        env = self.env
        env.psql("UPDATE guestflow.connections SET secret = 'wrong-key' WHERE property_id = 'P002'")
        self.add(*range(1, 31), prop='P002')
        # One slot, a slow partner: while a batch is out, the next one is
        # claimed ahead. The first 403 sends its batch back (it might be
        # that batch's content: nothing of this connection was accepted
        # yet), and the one claimed ahead goes out to tell; its 403 says
        # it is the credentials, and must stop the next one claimed ahead
        # from going out too.
        env.sim_control('latency?ms=500')
        env.write_config({'batch': {'max_records': 5, 'in_flight': 1}})
        r = self.run_job(expect=1)
        self.assertIn('event=connection_auth_failed', r.stderr)
        self.assertEqual([c[2:] for c in self.keys_of_calls()], [['403', 'retry'], ['403', 'auth']])
        self.assertEqual(len({c[0] for c in self.keys_of_calls()}), 2, 'two batches, one request each')
        self.assertEqual(env.sim_stats()['requests'], 2)
        self.assertEqual(self.states(), {'pending': 30})
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.batches WHERE lease_until IS NOT NULL"), '0')

    def test_unknown_hotel_404(self):
        env = self.env
        env.psql("UPDATE guestflow.connections SET id_at_partner = 'H-9999' WHERE property_id = 'P001'")
        self.add(1)
        r = self.run_job(expect=1)
        self.assertIn('status=404', r.stderr)
        self.assertEqual(self.states(), {'pending': 1})

    def test_400_bisects_down_to_the_bad_record(self):
        env = self.env
        # The partner's schema refuses B-1's name: the whole batch, the half
        # with B-1, then B-1 alone are refused (400); the other half shows
        # that the partner takes this connection's good records, and B-1,
        # sent again alone after it, is refused again: its rejection.
        env.stop_sim()
        env.start_sim(self.accounts, xsd=strict_xsd(env, 20))
        env.write_config({'batch': {'in_flight': 1}})
        add_booking(env, 1, last='L' * 21)
        self.add(2, 3, 4)
        r = self.run_job(expect=1)
        self.assertIn(' delivered=3 rejected=1 ', r.stdout)
        rows = env.psql("SELECT booking_no, state, reason FROM guestflow.deliveries WHERE state <> 'delivered'")
        self.assertEqual([row[:2] for row in rows], [['B-1', 'rejected']])
        self.assertRegex(rows[0][2], r"^partner: HTTP 400 line \d+: Element '\{urn:guestflow:review-xml:1\}lastName'")
        batches = env.psql("SELECT state, records, parent_id IS NOT NULL FROM guestflow.batches ORDER BY id")
        self.assertEqual([b[0] for b in batches].count('split'), 2)
        calls = self.keys_of_calls()
        self.assertEqual(len({c[1] for c in calls}), len({c[0] for c in calls}), 'a split batch gets new keys')
        self.assertEqual([c[2:] for c in calls if c[0] == calls[-1][0]], [['400', 'retry'], ['400', 'split']],
                         'B-1 alone: refused, sent again after the other half was accepted, refused again')
        self.assertEqual(sorted(g['bookingNo'] for g in env.recorded()), ['B-2', 'B-3', 'B-4'])
        self.assertEqual(self.history_count(), 3)

    def test_413_halves_the_batch(self):
        env = self.env
        self.add(*range(1, 9))
        env.sim_control('script?status=413&count=1')
        r = self.run_job(expect=0)
        self.assertIn(' delivered=8 ', r.stdout)
        sizes = [int(x[0]) for x in env.psql("SELECT records FROM guestflow.batches WHERE state = 'done' ORDER BY id")]
        self.assertEqual(sizes, [4, 4])
        self.assertEqual(len(env.recorded()), 8)

    def test_timeout_and_dropped_connection_are_retried(self):
        env = self.env
        env.write_config({'http': {'timeout': '1s'}})
        self.add(1, 2)
        env.sim_control('script?action=stall&seconds=3')
        env.sim_control('script?action=drop')
        r = self.run_job(expect=0, timeout=60)
        self.assertIn(' delivered=2 ', r.stdout)
        calls = env.psql("SELECT status_code, outcome, error FROM guestflow.api_calls ORDER BY id")
        self.assertEqual([c[1] for c in calls], ['retry', 'retry', 'accepted'])
        self.assertIn('timeout', calls[0][2].lower())
        self.assertIsNone(calls[1][0])
        self.assertEqual(self.history_count(), 2)

    def test_accepted_but_reply_lost_is_resent_under_the_same_key(self):
        env = self.env
        self.add(1, 2)
        env.sim_control('script?action=accept_then_fail&status=502')
        r = self.run_job(expect=0)
        self.assertIn(' delivered=2 ', r.stdout)
        stats = env.sim_stats()
        self.assertEqual(stats['replays'], 1, stats)
        self.assertEqual(len(env.recorded()), 2, 'the partner recorded each guest once')
        self.assertEqual(self.history_count(), 2)

    def test_a_status_outside_the_table_after_the_import_is_never_split(self):
        """Red team: a 303 (the partner imported the batch, then pointed
        elsewhere) left the batch as certainly not taken; the 413 that came
        next halved it, and the partner had every guest under two keys. A
        status outside the format's table may have been taken: the batch is
        resent whole under its key."""
        env = self.env
        self.add(1, 2, 3, 4)
        env.sim_control('script?action=accept_then_fail&status=303')
        env.sim_control('script?status=413')
        r = self.run_job(expect=0)
        self.assertIn(' delivered=4 ', r.stdout)
        self.assertEqual(sorted(g['bookingNo'] for g in env.recorded()), ['B-1', 'B-2', 'B-3', 'B-4'],
                         'the partner recorded each guest once')
        self.assertEqual(len({c[1] for c in self.keys_of_calls()}), 1, 'one key on every attempt')

    def test_a_single_guest_refused_413_once_is_not_rejected(self):
        """Red team: one 413 for a batch of one, after an accepted request,
        rejected the guest for good (a gateway's bad moment). Now it is sent
        again behind the others, as a single 400 is."""
        env = self.env
        self.add(1, 2, 3)
        env.write_config({'batch': {'max_records': 1, 'in_flight': 1}})
        env.sim_control('script?action=stall&seconds=0')
        env.sim_control('script?status=413&body=Request+Entity+Too+Large')
        r = self.run_job(expect=0)
        self.assertIn(' delivered=3 rejected=0 ', r.stdout)
        self.assertEqual(self.states(), {'delivered': 3})

    def test_credentials_revoked_with_fewer_batches_left_than_in_flight_are_held(self):
        """Red team: the key revoked after the first batch, two batches
        left with four in flight: they were retried as refused for their
        content until dead, no auth_failed alert, and the next run (the key
        fixed) sent nothing. Now a batch refused again while another is
        refused too, nothing accepted between, holds the connection."""
        env = self.env
        self.add(*range(1, 12))
        env.write_config({'batch': {'max_records': 5, 'in_flight': 4}})
        env.sim_control('script?action=stall&seconds=0')
        env.sim_control('script?status=401&count=100&body=access+key+revoked')
        r = self.run_job(expect=1)
        self.assertIn('event=connection_auth_failed', r.stderr)
        # (which batch the partner answers first, of the three in flight, is
        # the scheduler's: one accepted, the others held, none dead)
        states = self.states()
        self.assertEqual(set(states), {'delivered', 'pending'}, states)
        self.assertEqual(states['delivered'] + states['pending'], 11)
        self.assertIn(['auth_failed'], env.psql("SELECT kind FROM guestflow.alert_events WHERE cleared_at IS NULL"))
        env.sim_control('reset')
        r = self.run_job(expect=0)
        self.assertEqual(self.states(), {'delivered': 11})

    def test_a_partner_whose_size_limit_is_below_the_batches_gets_every_guest_in_one_run(self):
        """Red team: a partner that refuses (413) any body above its limit,
        far below batch.max_records, with four requests in flight: the
        halvings ran side by side, the breaker took it for a partner
        refusing everything, and nothing was delivered for five runs. The
        run learns the limit (a batch with a body as large as one refused
        is halved before it is sent), and the breaker allows in_flight
        refusals a halving for a 413."""
        env = self.env
        env.stop_sim()
        env.start_sim(self.accounts, max_body=1500)
        env.write_config({'batch': {'max_records': 50, 'in_flight': 4, 'compress': 'none'}})
        add_many(env, 120, ['P001'])
        r = self.run_job(expect=0)
        self.assertIn(' delivered=120 rejected=0 ', r.stdout)
        self.assertNotIn('requests_refused', r.stderr)
        self.assertIn('event=batch_halved', r.stderr)
        self.assertEqual(sorted(g['bookingNo'] for g in env.recorded()), sorted(f'B-{i}' for i in range(1, 121)))

    def test_a_hold_alert_open_since_an_earlier_run_is_not_cleared_by_a_late_answer(self):
        """Red team: an auth_failed alert open since the run before (still
        revoked) was cleared by the completion of an answer this run had
        before it held the connection again. An alert raised again is the
        run's own from then on (its run_id), and such an answer clears it
        no more."""
        env = self.env
        self.add(*range(1, 16))
        env.write_config({'batch': {'max_records': 5, 'in_flight': 4}})
        env.sim_control('script?status=401&count=100&body=revoked')
        self.run_job(expect=1)
        open_alerts = "SELECT kind FROM guestflow.alert_events WHERE cleared_at IS NULL"
        self.assertEqual(env.psql(open_alerts), [['auth_failed']])
        env.sim_control('reset')
        env.sim_control('script?action=stall&seconds=2')
        env.sim_control('script?status=401&count=100&body=revoked')
        r = self.run_job(expect=1)
        self.assertIn('event=connection_auth_failed', r.stderr)
        self.assertEqual(self.states(), {'delivered': 5, 'pending': 10})
        self.assertEqual(env.psql(open_alerts), [['auth_failed']])

    def test_unreadable_reply_delivers_nothing_until_understood(self):
        env = self.env
        self.add(1, 2)
        env.sim_control('script?status=200&body=%3Chtml%3Eoops')
        env.sim_control('script?status=200&body=' + urllib.parse.quote(self.COUNTS_TOO_MANY, safe=''))
        r = self.run_job(expect=0)
        outcomes = [c[3] for c in self.keys_of_calls()]
        self.assertEqual(outcomes, ['reply_error', 'reply_error', 'accepted'])
        errors = [e[0] for e in env.psql("SELECT error FROM guestflow.api_calls WHERE outcome = 'reply_error' ORDER BY id")]
        self.assertIn('not understood', errors[0])
        self.assertIn('counts', errors[1])
        self.assertIn(' delivered=2 ', r.stdout)
        self.assertEqual(self.history_count(), 2)

    def test_partner_unreachable_exits_69_and_keeps_everything(self):
        env = self.env
        self.add(1, 2)
        env.write_config({'retry': {'linger': '0'}})
        env.stop_sim()
        r = self.run_job(expect=69)
        self.assertIn(' pending=2 ', r.stdout)
        self.assertEqual(self.states(), {'pending': 2})
        err = env.scalar("SELECT error FROM guestflow.api_calls")
        self.assertRegex(err, 'onnect')

    def test_access_key_never_logged(self):
        env = self.env
        secret = 'S3cr3t+/=Key'
        env.psql(f"UPDATE guestflow.connections SET secret = '{secret}' WHERE property_id = 'P001'")
        self.add(1)
        r = self.run_job(expect=1)  # refused: the simulator knows another key
        self.add(2, prop='P002')
        env.write_config({'retry': {'linger': '0'}}, log_level='debug')
        env.stop_sim()  # connection errors too
        r2 = self.run_job()
        dump = r.stdout + r.stderr + r2.stdout + r2.stderr
        dump += str(env.psql("SELECT * FROM guestflow.api_calls")) + str(env.psql("SELECT * FROM guestflow.runs"))
        dump += str(env.psql("SELECT * FROM guestflow.batches")) + str(env.psql("SELECT * FROM guestflow.deliveries"))
        for form in (secret, 'S3cr3t%2B%2F%3DKey', 'S3cr3t'):
            self.assertNotIn(form, dump)
        lst = env.gf('connection', 'list')
        show = env.gf('connection', 'show', 'P001', 'reviewhub')
        self.assertNotIn('S3cr3t', lst.stdout + lst.stderr + show.stdout + show.stderr)



class FailureGuestJsonTest(FailureTest):
    """Every test above again, for the guest-json output (PARTNERS.md): the
    same engine, another format, the simulator's guest-json side."""
    job_overrides = {'format': 'guest-json'}
    COUNTS_TOO_MANY = '{"accepted": 2, "rejected": [{"pmsId": "B-77", "reason": "x"}]}'

    def test_a_503_may_have_been_taken(self):
        """Red team: guest-json's contract gives 503 no meaning of its own
        (review-xml's is "maintenance"): a gateway's 503 after the partner
        imported the batch, then a 413, halved it under new keys."""
        env = self.env
        self.add(1, 2, 3, 4)
        env.sim_control('script?action=accept_then_fail&status=503')
        env.sim_control('script?status=413')
        r = self.run_job(expect=0)
        self.assertIn(' delivered=4 ', r.stdout)
        self.assertEqual(sorted(g['bookingNo'] for g in env.recorded()), ['B-1', 'B-2', 'B-3', 'B-4'],
                         'the partner recorded each guest once')


if __name__ == '__main__':
    main()
