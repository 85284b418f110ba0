#!/usr/bin/env python3
"""guestflow pull (PARTNERS.md "events pulled back"), for each output: the
partner simulator's event feeds (review-xml GET .../events, guest-json GET
.../properties/ID/events) and the sshd's errors/ directory (visits-csv).
Events become history entries; bounced and unsubscribed guests go on the
suppression list, which planning, rerun and explain honour; the cursor is
stored with the events, so a pull read again stores nothing twice; a
misbehaving feed fails its connection only."""
import getpass
import http.server
import json
import os
import subprocess
import threading
import urllib.parse

import sshaux
from gftest import GUESTFLOW, GFTestCase, add_booking, add_many, hold_in_session, main, main_setting, wait_for


class Feed(http.server.BaseHTTPRequestHandler):
    """A partner whose event feed answers what the test sets (and calls
    Feed.before, when set, before it answers)."""
    protocol_version = 'HTTP/1.1'
    body = b''
    before = None

    def do_GET(self):
        if Feed.before:
            Feed.before()
        self.send_response(200)
        self.send_header('Content-Type', 'application/xml')
        self.send_header('Content-Length', str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


class PullCase(GFTestCase):

    def event(self, hotel, booking_no, type_, at='2026-11-23T10:00:00Z'):
        q = urllib.parse.urlencode({'id': hotel, 'bookingNo': booking_no, 'type': type_, 'at': at})
        self.env.sim_control(f'event?{q}')

    def pull(self, expect=0):
        r = self.env.gf('pull')
        self.assertEqual(r.returncode, expect, f'stdout: {r.stdout}\nstderr: {r.stderr}')
        return r

    def odd_feed(self):
        """P001 moved to a partner of its own ('oddhub', job 'odd': one job
        per endpoint) whose event feed is a Feed server."""
        env = self.env
        srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Feed)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        env.psql("INSERT INTO guestflow.partners (id, name) VALUES ('oddhub', 'Odd') ON CONFLICT DO NOTHING;"
                 "UPDATE guestflow.connections SET partner = 'oddhub' WHERE property_id = 'P001'")
        with open(os.path.join(env.jobs_dir, 'review-nightly.yaml'), encoding='utf-8') as f:
            job = f.read()
        with open(os.path.join(env.jobs_dir, 'odd.yaml'), 'w', encoding='utf-8') as f:
            f.write(job.replace('name: "review-nightly"', 'name: "odd"').replace('partner: "reviewhub"', 'partner: "oddhub"')
                    .replace(env.endpoint, f'http://127.0.0.1:{srv.server_address[1]}/v1/guests'))

    def sent_to_both_with_a_short_lock_timeout(self):
        """B-1 sent to P001 and B-3 to P002; database.lock_timeout 1s."""
        add_booking(self.env, 1)
        add_booking(self.env, 3, prop='P002')
        self.run_job(expect=0)
        main_setting(self.env, 'database', 'lock_timeout', '1s')

    def history(self, booking_no):
        return [m for (m,) in self.env.psql(
            "SELECT h.message FROM pms.booking_history h JOIN pms.bookings b ON b.id = h.booking_id"
            f" WHERE b.booking_no = '{booking_no}' ORDER BY h.id")]


class ReviewXmlPullTest(PullCase):

    def test_events_become_history_and_suppress_the_guest(self):
        env = self.env
        add_booking(env, 1)
        add_booking(env, 2)
        add_booking(env, 3, prop='P002')
        self.run_job(expect=0)
        # The same guest's older stay, queued by hand and not sent yet.
        add_booking(env, 21, email='guest1@example.org', checked_out="now() - interval '30 days'")
        r = env.gf('rerun', 'review-nightly', '--booking', 'B-21', '--no-run')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(env.scalar("SELECT state FROM guestflow.deliveries WHERE booking_no = 'B-21'"), 'pending')
        self.event('H-1001', 'B-1', 'invited', '2026-11-23T10:00:00Z')
        self.event('H-1001', 'B-1', 'unsubscribed', '2026-11-24T08:30:00+01:00')
        self.event('H-1001', 'B-2', 'reviewed')
        self.event('H-1002', 'B-3', 'bounced')
        self.event('H-1001', 'B-404', 'reviewed')  # a booking the PMS does not have: kept, no history
        r = self.pull()
        self.assertIn('pulled 2 connections (0 failed): 5 new events, 4 history entries, 2 addresses suppressed'
                      ' (1 queued delivery of them withdrawn)', r.stdout)
        self.assertEqual(env.psql("SELECT state, reason FROM guestflow.deliveries WHERE booking_no = 'B-21'"),
                         [['rejected', "the guest's address is on the suppression list (unsubscribed, reported by"
                                       " reviewhub)"]])
        h1 = self.history('B-1')
        self.assertEqual(len(h1), 3, h1)  # sent, invited, unsubscribed
        self.assertIn('reviewhub invited the guest to review (2026-11-23 10:00 UTC, job review-nightly)', h1[1])
        self.assertIn('the guest unsubscribed', h1[2])
        self.assertIn('2026-11-24 07:30 UTC', h1[2])
        self.assertIn('wrote a review', self.history('B-2')[-1])
        self.assertEqual(sorted(e for (e,) in env.psql("SELECT email FROM guestflow.suppressions")),
                         ['guest1@example.org', 'guest3@example.org'])
        self.assertEqual(env.psql("SELECT property_id, events_cursor FROM guestflow.connections ORDER BY 1"),
                         [['P001', '5'], ['P002', '4']])
        # Pulled again: nothing new. The cursor lost (a crash before it was
        # stored): every event read again, none stored twice.
        r = self.pull()
        self.assertIn('0 new events', r.stdout)
        env.psql("UPDATE guestflow.connections SET events_cursor = NULL")
        r = self.pull()
        self.assertIn('0 new events, 0 history entries', r.stdout)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.partner_events"), '5')
        self.assertEqual(len(self.history('B-1')), 3)
        # The same guest books again: never sent; explain says why, and a
        # forced rerun does not send either.
        add_booking(env, 11, email='  GUEST1@example.org ')
        add_booking(env, 12)
        r = self.run_job(expect=0)
        self.assertIn('delivered=1', r.stdout)
        self.assertEqual(sorted(g['bookingNo'] for g in env.recorded()), ['B-1', 'B-12', 'B-2', 'B-3'])
        r = env.gf('explain', 'B-11')
        self.assertIn('NOT eligible', r.stdout)
        self.assertRegex(r.stdout, r'NO +not unsubscribed or bounced +the address is on the suppression list:'
                                  r' "unsubscribed \(\d{4}-\d\d-\d\d, reported by reviewhub\)"')
        r = env.gf('rerun', 'review-nightly', '--booking', 'B-11', '--force')
        self.assertIn('1 not eligible', r.stdout)
        self.assertEqual(len(env.recorded()), 4)

    def test_an_event_with_a_booking_number_of_any_length_is_stored_once(self):
        """Red team: one event naming a booking number of 3,000 characters
        made the statement storing its page fail (SQLSTATE 54000: too long
        for the B-tree of the events' key), and with it the whole pull,
        every night: the other connection's unsubscribe never reached the
        suppression list. Stored now, once however often it comes."""
        env = self.env
        add_booking(env, 1)
        add_booking(env, 3, prop='P002')
        self.run_job(expect=0)
        long_no = 'X' * 3000
        self.event('H-1001', long_no, 'reviewed')
        self.event('H-1001', long_no, 'reviewed')
        self.event('H-1002', 'B-3', 'unsubscribed')
        r = self.pull()
        self.assertIn('pulled 2 connections (0 failed): 2 new events, 1 history entry, 1 address suppressed',
                      r.stdout)
        self.assertEqual(env.psql("SELECT length(booking_no), booking_id FROM guestflow.partner_events ORDER BY id"),
                         [['3000', None], ['3', '3']])
        self.assertEqual(env.psql("SELECT email FROM guestflow.suppressions"), [['guest3@example.org']])
        env.psql("UPDATE guestflow.connections SET events_cursor = NULL")
        r = self.pull()
        self.assertIn('0 new events', r.stdout)

    def test_an_address_too_long_to_be_delivered_does_not_block_its_feed(self):
        """Red team: an incompressible address of 3,000 characters bounced;
        the suppression list's key could not hold it (SQLSTATE 54000), and
        every later page of that connection's feed failed with it, night
        after night: the next guest's unsubscribe never reached the list.
        An address longer than RFC 5321's 254 octets reaches no one and is
        not suppressed; the bounce is stored, and the feed goes on."""
        env = self.env
        add_booking(env, 1, email=os.urandom(1500).hex() + '@example.org')  # (not compressible)
        add_booking(env, 2)
        self.run_job(expect=0)
        self.event('H-1001', 'B-1', 'bounced')
        self.event('H-1001', 'B-2', 'unsubscribed', '2026-11-24T10:00:00Z')
        r = self.pull()
        self.assertIn('pulled 2 connections (0 failed): 2 new events, 2 history entries, 1 address suppressed',
                      r.stdout)
        self.assertEqual(env.psql("SELECT email FROM guestflow.suppressions"), [['guest2@example.org']])
        self.assertIn('bounced', self.history('B-1')[-1])
        add_booking(env, 12, email='guest2@example.org')
        self.run_job(expect=0)
        self.assertNotIn('B-12', [g['bookingNo'] for g in env.recorded()])

    def test_a_bounce_of_a_booking_never_sent_suppresses_nothing(self):
        """Red team: B-3 was rejected for its data, never sent; a bounce the
        partner reports for it suppressed the guest's address (every
        delivery that may have gone out had it: none). Not now."""
        env = self.env
        add_booking(env, 1)
        add_booking(env, 3, arrival='current_date - 1', departure='current_date - 5')
        self.run_job(expect=1)
        self.assertEqual([g['bookingNo'] for g in env.recorded()], ['B-1'])
        self.event('H-1001', 'B-3', 'bounced')
        r = self.pull()
        self.assertIn('0 addresses suppressed', r.stdout)
        self.assertIn('event=bounce_not_suppressed job=review-nightly property=P001 booking_no=B-3', r.stderr)
        self.assertEqual(env.psql("SELECT email FROM guestflow.suppressions"), [])

    def test_an_operator_lifts_a_suppression(self):
        """The guest fixed the mailbox that bounced: 'suppression list' says
        who reported it; 'suppression remove' takes it off with a reason
        (kept with who did it), names the rerun of the delivery it withdrew,
        and the guest's next booking is sent. An unsubscribe is the guest's
        own: it needs --force."""
        env = self.env
        add_booking(env, 1)
        add_booking(env, 2)
        self.run_job(expect=0)
        add_booking(env, 21, email='guest1@example.org', checked_out="now() - interval '30 days'")
        r = env.gf('rerun', 'review-nightly', '--booking', 'B-21', '--no-run')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.event('H-1001', 'B-1', 'bounced')
        self.event('H-1001', 'B-2', 'unsubscribed')
        r = self.pull()
        self.assertIn('2 addresses suppressed (1 queued delivery of them withdrawn)', r.stdout)
        r = env.gf('suppression', 'list')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r'guest1@example.org +bounced +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+ +reviewhub'
                                   r' \(job review-nightly, booking B-1\)')
        self.assertRegex(r.stdout, r'guest2@example.org +unsubscribed ')
        r = env.gf('suppression', 'list', 'nobody@example.org')
        self.assertEqual(r.returncode, 65)
        self.assertIn('nobody@example.org is not on the suppression list', r.stderr)
        r = env.gf('suppression', 'remove', 'guest2@example.org', '--reason', 'asked at the desk')
        self.assertEqual(r.returncode, 65, r.stdout + r.stderr)
        self.assertIn("guest2@example.org unsubscribed: that is the guest's own request", r.stderr)
        r = env.gf('suppression', 'remove', 'nobody@example.org', '--reason', 'x')
        self.assertEqual(r.returncode, 65, r.stdout + r.stderr)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.suppressions"), '2')
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.suppression_removals"), '0')
        r = env.gf('suppression', 'remove', ' Guest1@Example.org', '--reason', 'mailbox fixed (ticket 4711)')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('guest1@example.org removed from the suppression list (it was bounced)', r.stdout)
        self.assertIn('1 delivery the suppression withdrew stays rejected, sent by:\n'
                      '  guestflow rerun review-nightly --booking B-21\n', r.stdout)
        self.assertEqual(env.psql("SELECT email, reason, because, actor LIKE $$" + getpass.getuser() + "%$$,"
                                  " event_id IS NOT NULL FROM guestflow.suppression_removals"),
                         [['guest1@example.org', 'bounced', 'mailbox fixed (ticket 4711)', 't', 't']])
        # The guest's next stay is sent, and the rerun printed sends the
        # one withdrawn.
        add_booking(env, 11, email='guest1@example.org')
        r = self.run_job(expect=0)
        self.assertIn('delivered=1', r.stdout)
        r = env.gf('rerun', 'review-nightly', '--booking', 'B-21')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(sorted(g['bookingNo'] for g in env.recorded()), ['B-1', 'B-11', 'B-2', 'B-21'])
        r = env.gf('suppression', 'remove', 'guest2@example.org', '--reason', 'asked at the desk', '--force')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('(it was unsubscribed)', r.stdout)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.suppressions"), '0')

    def test_an_unsubscribe_after_a_bounce_is_what_the_list_keeps(self):
        """Red team: a guest's address bounced, then the guest unsubscribed
        (in a later pull, or later in the same page). The list kept the
        bounce, so 'suppression remove' lifted the guest's own request
        without --force. The unsubscribe is kept now; a later bounce does
        not replace it."""
        env = self.env
        add_booking(env, 1)
        add_booking(env, 2)
        self.run_job(expect=0)
        self.event('H-1001', 'B-1', 'bounced', '2026-11-20T10:00:00Z')
        self.event('H-1001', 'B-2', 'bounced', '2026-11-20T10:00:00Z')
        self.event('H-1001', 'B-2', 'unsubscribed', '2026-11-21T10:00:00Z')
        r = self.pull()
        self.assertIn('2 addresses suppressed', r.stdout)
        self.event('H-1001', 'B-1', 'unsubscribed', '2026-11-22T10:00:00Z')
        self.event('H-1001', 'B-2', 'bounced', '2026-11-23T10:00:00Z')
        r = self.pull()
        self.assertIn('2 new events, 2 history entries, 0 addresses suppressed', r.stdout)
        self.assertEqual(env.psql("SELECT s.email, s.reason, e.type, e.booking_no FROM guestflow.suppressions s"
                                  " JOIN guestflow.partner_events e ON e.id = s.event_id ORDER BY 1"),
                         [['guest1@example.org', 'unsubscribed', 'unsubscribed', 'B-1'],
                          ['guest2@example.org', 'unsubscribed', 'unsubscribed', 'B-2']])
        for email in ('guest1@example.org', 'guest2@example.org'):
            r = env.gf('suppression', 'remove', email, '--reason', 'mailbox fixed')
            self.assertEqual(r.returncode, 65, r.stdout + r.stderr)
            self.assertIn(f"{email} unsubscribed: that is the guest's own request", r.stderr)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.suppressions"), '2')

    def test_an_unsubscribe_pulled_during_a_run_stops_the_guests_next_booking(self):
        """Red team: the guest of B-99 (delivered last night) unsubscribes;
        'guestflow pull' runs while tonight's run is under way. The same
        guest's booking B-30 was read by the run's plan at its start, but its
        delivery is written only later, so the pull has nothing to withdraw:
        the slice that would plan it leaves it out, as the plan would now,
        and B-30 is not sent; explain names the rule."""
        env = self.env
        add_booking(env, 99, email='guest30@example.org')
        self.run_job(expect=0)
        add_many(env, 30, ['P001'])
        env.partner_latency(150)
        env.write_config({'batch': {'max_records': 1, 'in_flight': 1}})
        p = subprocess.Popen([GUESTFLOW, '-c', env.config, 'run', 'review-nightly'],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: len(env.recorded()) >= 3, 60, 'the run under way')
            self.event('H-1001', 'B-99', 'unsubscribed')
            r = self.pull()
            self.assertIn('1 address suppressed', r.stdout)
            out, err = p.communicate(timeout=120)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        self.assertEqual(p.returncode, 0, out + err[-3000:])
        self.assertIn('eligible=31 new=29 delivered=29', out)
        sent = [g['bookingNo'] for g in env.recorded()]
        self.assertNotIn('B-30', sent)
        self.assertEqual(len(sent), 30)
        self.assertEqual(env.psql("SELECT count(*) FROM guestflow.deliveries WHERE booking_no = 'B-30'"), [['0']],
                         'not planned')
        r = env.gf('explain', 'B-30')
        self.assertRegex(r.stdout, r'NO +not unsubscribed or bounced +the address is on the suppression list')

    def test_status_shows_each_connections_lifecycle(self):
        """Issue 17 item 10: per connection, its lifecycle state, consent,
        last test and verdict, last delivery, queue and last event pulled;
        --json has the same; a connection without deliveries is listed."""
        env = self.env
        env.psql("INSERT INTO pms.properties VALUES ('P003', 'Hotel P003')")
        env.add_connection('P003', 'H-1003', 'k3y+/=three', live=False)
        r = env.gf('connection', 'consent', 'P001', 'reviewhub', '--by', 'Anna Berger', '--terms-version', '2.1')
        self.assertEqual(r.returncode, 0, r.stderr)
        r = env.gf('connection', 'test', 'P001', 'reviewhub')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        add_booking(env, 1)
        self.run_job(expect=0)
        self.event('H-1001', 'B-1', 'invited', '2026-11-23T10:00:00Z')
        self.pull()
        r = env.gf('status')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r'(?m)^  P003\s+H-1003\s+setup\s+0\s+0\s+0\s+0\s+0\s+0\s+-\s+-$')
        ts = r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d'
        self.assertRegex(r.stdout, rf'(?m)^    P001: consent terms 2\.1 by Anna Berger \({ts}\); last test ok'
                                   rf' \({ts}\); last delivery {ts}; last event invited \(2026-11-23T10:00:00\+00\),'
                                   rf' pulled {ts}$')
        self.assertRegex(r.stdout, r'(?m)^    P003: consent none; last test never; last delivery never;'
                                   r' last event none$')
        conns = {c['property']: c for c in json.loads(env.gf('status', '--json').stdout)['jobs'][0]['connections']}
        p1, p3 = conns['P001'], conns['P003']
        self.assertEqual((p1['consent_terms_version'], p1['consent_accepted_by'], p1['last_test_verdict'],
                          p1['last_event_type'], p1['delivered']), ('2.1', 'Anna Berger', 'ok', 'invited', 1))
        for k in ('consent_accepted_at', 'last_test_at', 'last_delivered_at', 'last_event_at', 'events_pulled_at'):
            self.assertRegex(p1[k], ts, k)
        self.assertEqual((p3['connection_status'], p3['pending'], p3['consent_terms_version'], p3['last_test_at'],
                          p3['last_delivered_at'], p3['last_event_type']), ('setup', 0, None, None, None, None))

    def test_the_entries_are_the_jobs_templates(self):
        """Issue 17 item 7: the history entry of each event type is the job's
        history.events template; placeholders filled, the partner's text
        taken as text (a placeholder in it is not expanded)."""
        env = self.env
        env.write_config({'history': {'message': 'sent by {job}',
                                      'events': {'reviewed': 'Review at {partner} for {booking_no} ({event}, {at})',
                                                 'bounced': '{job}/{partner}: bounce, {reason}'}}})
        add_booking(env, 1)
        add_booking(env, 2)
        self.run_job(expect=0)
        self.event('H-1001', 'B-1', 'reviewed', '2026-11-23T10:00:00Z')
        self.event('H-1001', 'B-2', 'bounced')
        self.event('H-1001', 'B-1', 'invited')
        self.pull()
        self.assertEqual(self.history('B-1'), ['sent by review-nightly',
                                               'Review at reviewhub for B-1 (reviewed, 2026-11-23 10:00 UTC)',
                                               'reviewhub invited the guest to review (2026-11-23 10:00 UTC, job'
                                               ' review-nightly)'])
        self.assertEqual(self.history('B-2')[-1], 'review-nightly/reviewhub: bounce, no reason given')
        # A template with a placeholder pull does not know: refused, naming it.
        env.write_config({'history': {'message': 'sent', 'events': {'invited': 'at {date}'}}})
        r = env.gf('check-config')
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn("unknown placeholder '{date}'", r.stderr)
        self.assertIn('{partner}, {job}, {booking_no}, {event}, {at}, {reason}', r.stderr)

    def test_a_bad_feed_fails_its_connection_only(self):
        env = self.env
        add_booking(env, 1)
        self.run_job(expect=0)
        self.event('H-1002', 'B-9', 'reviewed')
        # P001's partner answers its own way: P002 through the simulator still works.
        self.odd_feed()
        cases = [
            (b'hello', 'not well-formed'),
            (b'<events next="1"><event bookingNo="B-1" type="liked" at="2026-11-23T10:00:00Z"/></events>',
             'type \\"liked\\"'),
            (b'<events next="1"><event bookingNo="B-1" type="reviewed" at="yesterday"/></events>',
             'not an RFC 3339 date-time'),
            (b'<events><event bookingNo="B-1" type="reviewed" at="2026-11-23T10:00:00Z"/></events>',
             'no next cursor'),
            # (times RFC 3339 allows but the database cannot store: refused by the parser, not the database)
            (b'<events next="1"><event bookingNo="B-1" type="bounced" at="0000-01-01T00:00:00Z"/></events>',
             'not an RFC 3339 date-time'),
            (b'<events next="1"><event bookingNo="B-1" type="bounced" at="2026-11-23T10:00:00+23:00"/></events>',
             'not an RFC 3339 date-time'),
            (b'<!DOCTYPE events [<!ENTITY a "B-1">]><events next="1"><event bookingNo="&a;" type="reviewed"'
             b' at="2026-11-23T10:00:00Z"/></events>', 'DOCTYPE'),
        ]
        for body, why in cases:
            Feed.body = body
            r = self.pull(expect=1)
            self.assertIn('event=pull_failed', r.stderr)
            self.assertIn('verdict=unexpected', r.stderr)
            self.assertIn(why, r.stderr)
            self.assertIn('odd: pulled 1 connection (1 failed): 0 new events', r.stdout)
        self.addCleanup(setattr, Feed, 'body', b'')
        self.assertEqual(env.psql("SELECT property_id, events_cursor FROM guestflow.connections ORDER BY 1"),
                         [['P001', None], ['P002', '1']])
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.partner_events"), '1')
        self.assertEqual(self.history('B-1')[-1:], self.history('B-1')[:1])  # only the sent entry

    def test_a_booking_the_pms_keeps_locked_fails_only_its_connections_page(self):
        """The history entry of an event waits for the booking's row; a PMS
        that keeps it locked fails that connection's page after
        database.lock_timeout (the cursor stays), not the whole pull; the
        next pull stores it."""
        env = self.env
        self.sent_to_both_with_a_short_lock_timeout()
        self.event('H-1001', 'B-1', 'reviewed')
        self.event('H-1002', 'B-3', 'reviewed')
        release = hold_in_session(self, env, "SELECT 1 FROM pms.bookings WHERE booking_no = 'B-1' FOR UPDATE")
        r = self.pull(expect=1)
        self.assertIn('verdict=locked', r.stderr)
        self.assertIn('pulled 2 connections (1 failed): 1 new event, 1 history entry', r.stdout)
        self.assertEqual(env.psql("SELECT property_id, events_cursor IS NOT NULL, pull_failures"
                                  " FROM guestflow.connections ORDER BY 1"), [['P001', 'f', '1'], ['P002', 't', '0']])
        release()
        r = self.pull()
        self.assertIn('pulled 2 connections (0 failed): 1 new event, 1 history entry', r.stdout)
        self.assertIn('wrote a review', self.history('B-1')[-1])
        self.assertEqual(env.scalar("SELECT pull_failures FROM guestflow.connections WHERE property_id = 'P001'"),
                         '0')

    def test_a_bounce_of_an_address_changed_since_it_was_sent_suppresses_nothing(self):
        """A bounce is of the address that was sent. The PMS corrected the
        guest's address after the booking was sent (the typo that bounced):
        the corrected address is not suppressed, and the guest's next stay
        goes out; a bounce of a booking unchanged since suppresses as ever."""
        env = self.env
        add_booking(env, 1, email='guest1@exmaple.org')
        add_booking(env, 2)
        self.run_job(expect=0)
        env.psql("UPDATE pms.guests SET email = 'guest1@example.org', updated_at = now() WHERE id = 1")
        # (and sent again with it, by a rerun: the bounce may be of either)
        r = env.gf('rerun', 'review-nightly', '--booking', 'B-1', '--force')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual([g['email'] for g in env.recorded() if g['bookingNo'] == 'B-1'],
                         ['guest1@exmaple.org', 'guest1@example.org'])
        self.event('H-1001', 'B-1', 'bounced')
        self.event('H-1001', 'B-2', 'bounced')
        r = self.pull()
        self.assertIn('2 new events, 2 history entries, 1 address suppressed', r.stdout)
        self.assertIn('not suppressed: see event=bounce_not_suppressed', r.stdout)
        self.assertIn('event=bounce_not_suppressed job=review-nightly property=P001 booking_no=B-1', r.stderr)
        self.assertEqual(env.psql("SELECT email FROM guestflow.suppressions"), [['guest2@example.org']])
        self.assertIn('bounced', self.history('B-1')[-1])
        # The guest's next stay, at the corrected address, is sent.
        add_booking(env, 11, email='guest1@example.org')
        r = self.run_job(expect=0)
        self.assertIn('delivered=1', r.stdout)

    def test_a_bounce_of_a_booking_changed_otherwise_suppresses_its_address(self):
        """The PMS changed the booking after it was sent (a late charge, the
        guest's name), not its address: the address that bounced is the
        one the booking has, and is suppressed, whatever the case and white
        space it is written with now. A guest with no known planned address
        (a delivery written before migration 0015) is not."""
        env = self.env
        add_booking(env, 1)
        add_booking(env, 2)
        self.run_job(expect=0)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.deliveries WHERE email_hash IS NULL"), '0')
        env.psql("UPDATE pms.guests SET first_name = 'Changed', email = ' GUEST1@Example.org ', updated_at = now()"
                 " WHERE id = 1")
        env.psql("UPDATE pms.bookings SET updated_at = now() WHERE id = 1")
        env.psql("UPDATE guestflow.deliveries SET email_hash = NULL WHERE booking_no = 'B-2'")
        self.event('H-1001', 'B-1', 'bounced')
        self.event('H-1001', 'B-2', 'bounced')
        r = self.pull()
        self.assertIn('2 new events, 2 history entries, 1 address suppressed', r.stdout)
        self.assertIn('event=bounce_not_suppressed job=review-nightly property=P001 booking_no=B-2', r.stderr)
        self.assertNotIn('booking_no=B-1', ''.join(l for l in r.stderr.splitlines() if 'bounce_not' in l))
        self.assertEqual(env.psql("SELECT email FROM guestflow.suppressions"), [['guest1@example.org']])

    def test_a_connection_row_held_by_another_command_fails_only_that_connection(self):
        """Another session holds P001's row of guestflow.connections longer
        than database.lock_timeout: P001's page is not stored and its failure
        not counted; P002's bounce is, and the pull exits 1, not 70."""
        env = self.env
        self.sent_to_both_with_a_short_lock_timeout()
        self.event('H-1001', 'B-1', 'reviewed')
        self.event('H-1002', 'B-3', 'bounced')
        hold_in_session(self, env, "SELECT 1 FROM guestflow.connections WHERE property_id = 'P001' FOR NO KEY UPDATE")
        r = self.pull(expect=1)
        self.assertIn('pulled 2 connections (1 failed): 1 new event, 1 history entry, 1 address suppressed', r.stdout)
        self.assertIn('event=pull_failure_not_counted', r.stderr)
        self.assertEqual(env.psql("SELECT email FROM guestflow.suppressions"), [['guest3@example.org']])

    def test_a_cursor_moved_by_another_pull_meanwhile_is_not_taken_back(self):
        """Two pulls of the same feed at once (the timer's and one by hand):
        the one that stores last does not put the cursor back to where it
        read from; its page's events are stored, each once."""
        env = self.env
        add_booking(env, 1)
        self.run_job(expect=0)
        self.odd_feed()
        env.psql("UPDATE guestflow.connections SET events_cursor = '7' WHERE property_id = 'P001'")
        Feed.body = b'<events next="8"><event bookingNo="B-1" type="reviewed" at="2026-11-23T10:00:00Z"/></events>'
        # (the other pull, read from 7 as well, got further first)
        Feed.before = lambda: env.psql("UPDATE guestflow.connections SET events_cursor = '12'"
                                       " WHERE property_id = 'P001'")
        self.addCleanup(setattr, Feed, 'before', None)
        self.addCleanup(setattr, Feed, 'body', b'')
        r = env.gf('pull', 'odd')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('event=pull_concurrent', r.stderr)
        self.assertIn('odd: pulled 1 connection (0 failed): 1 new event, 1 history entry', r.stdout)
        self.assertEqual(env.scalar("SELECT events_cursor FROM guestflow.connections WHERE property_id = 'P001'"), '12')
        # Without another pull, the cursor moves as before.
        Feed.before = None
        Feed.body = b'<events next="13"></events>'
        r = env.gf('pull', 'odd')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(env.scalar("SELECT events_cursor FROM guestflow.connections WHERE property_id = 'P001'"), '13')

    def test_a_wrong_key_fails_the_pull_with_its_verdict(self):
        env = self.env
        r = env.gf('connection', 'set-credentials', 'P002', 'reviewhub', input='wrong-key-12\n')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.event('H-1001', 'B-1', 'reviewed')
        r = self.pull(expect=1)
        self.assertIn('verdict=credentials_refused', r.stderr)
        self.assertNotIn('wrong-key-12', r.stderr + r.stdout)
        self.assertIn('pulled 2 connections (1 failed): 1 new event', r.stdout)


    def test_a_feed_that_never_runs_dry_is_read_a_hundred_pages_a_pull(self):
        env = self.env
        add_booking(env, 1)
        self.run_job(expect=0)

        class Endless(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def do_GET(self):
                q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                n = int(q.get('after', ['0'])[0]) + 1
                body = (f'<events next="{n}"><event bookingNo="B-1" type="invited"'
                        f' at="2026-11-23T10:{n // 60 % 60:02d}:{n % 60:02d}Z"/></events>').encode()
                self.send_response(200)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Endless)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        env.write_config({'endpoint': f'http://127.0.0.1:{srv.server_address[1]}/v1/guests'})
        r = env.gf('pull', timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertIn('event=pull_more', r.stderr)
        # (both connections' feeds run on: 100 pages each; B-1 is P001's)
        self.assertIn('pulled 2 connections (0 failed): 200 new events, 100 history entries', r.stdout)
        self.assertEqual(env.scalar("SELECT events_cursor FROM guestflow.connections WHERE property_id = 'P001'"),
                         '100')
        r = env.gf('pull', timeout=120)
        self.assertIn('200 new events', r.stdout)  # read on from the cursor

    def test_invisible_characters_do_not_unsuppress_an_address(self):
        env = self.env
        add_booking(env, 1)
        self.run_job(expect=0)
        self.event('H-1001', 'B-1', 'unsubscribed')
        self.pull()
        add_booking(env, 2, email='\ufeffguest1@example.org')
        add_booking(env, 3, email='GUEST1@example.org\u00a0')
        add_booking(env, 4, email='\u200bguest1@example.org\u3000')
        add_booking(env, 5)
        r = self.run_job(expect=0)
        self.assertIn('delivered=1', r.stdout)
        self.assertEqual(sorted(g['bookingNo'] for g in env.recorded()), ['B-1', 'B-5'])

    def test_a_partner_speaks_only_for_the_guests_it_was_sent(self):
        env = self.env
        add_booking(env, 1, notify=False)           # never sent
        add_booking(env, 2, prop='P002')            # sent, but to P002's connection
        add_booking(env, 3)
        self.run_job(expect=0)
        self.event('H-1001', 'B-1', 'unsubscribed')
        self.event('H-1001', 'B-2', 'bounced')
        self.event('H-1001', 'B-3', 'reviewed')
        r = self.pull()
        self.assertIn('3 new events, 1 history entry, 0 addresses suppressed', r.stdout)
        self.assertEqual(env.psql("SELECT booking_no, booking_id IS NULL FROM guestflow.partner_events ORDER BY id"),
                         [['B-1', 't'], ['B-2', 't'], ['B-3', 'f']])
        self.assertEqual(self.history('B-1'), [])
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.suppressions"), '0')


    def test_a_history_entry_the_pms_refuses_costs_that_entry_alone(self):
        """The PMS refuses one event's history entry (its adapter raising
        for that booking, or a column too short for the partner's reason):
        that used to fail the connection's page at every pull, its cursor
        stuck and every later event unread. The page is stored, its other
        entries written; the refused one is named in the log, exit 1.
        A PMS refusing every entry of a page still fails that connection's
        pull (nothing stored, the cursor stays), not the whole pull."""
        env = self.env
        add_booking(env, 1)
        add_booking(env, 2)
        add_booking(env, 3, prop='P002')
        self.run_job(expect=0)
        env.psql("""
            CREATE OR REPLACE FUNCTION guestflow.write_history(booking_ids bigint[], messages text[])
            RETURNS void LANGUAGE plpgsql AS $$
            BEGIN
                IF 2 = ANY(booking_ids) OR 3 = ANY(booking_ids) THEN
                    RAISE EXCEPTION 'guest is locked for GDPR review';
                END IF;
                INSERT INTO pms.booking_history (booking_id, kind, message)
                SELECT t.booking_id, 'guestflow', t.message FROM unnest(booking_ids, messages) AS t(booking_id, message);
            END $$""")
        self.event('H-1001', 'B-1', 'invited')
        self.event('H-1001', 'B-2', 'reviewed')
        self.event('H-1001', 'B-1', 'reviewed')
        self.event('H-1002', 'B-3', 'invited')
        r = self.pull(expect=1)
        self.assertIn('pulled 2 connections (1 failed): 3 new events, 2 history entries', r.stdout)
        self.assertIn('history entries the PMS refused', r.stdout)
        self.assertIn('event=history_refused', r.stderr)
        self.assertIn('property=P001 booking_no=B-2 sqlstate=P0001', r.stderr)
        self.assertEqual(len(self.history('B-1')), 3)  # sent, invited, reviewed
        self.assertEqual(len(self.history('B-2')), 1)  # sent
        self.assertEqual(env.psql("SELECT booking_no, type FROM guestflow.partner_events ORDER BY id"),
                         [['B-1', 'invited'], ['B-2', 'reviewed'], ['B-1', 'reviewed']])
        self.assertEqual(env.psql("SELECT property_id, events_cursor IS NOT NULL, pull_failures"
                                  " FROM guestflow.connections ORDER BY 1"), [['P001', 't', '0'], ['P002', 'f', '1']])
        # B-2's entry is owed by its event (it was lost before): the job's
        # history_refused alert is open while it is.
        self.assertEqual(env.psql("SELECT booking_no, history_pending LIKE '%wrote a review%' FROM guestflow.partner_events"
                                  " WHERE history_pending IS NOT NULL"), [['B-2', 't']])
        self.assertIn('review-nightly: 1 history entry still owed', r.stdout)
        self.assertEqual(env.psql("SELECT kind FROM guestflow.alert_events WHERE cleared_at IS NULL"),
                         [['history_refused']])
        self.assertIn('1 event(s) the partner reported', env.scalar(
            "SELECT message FROM guestflow.alert_events WHERE cleared_at IS NULL"))
        # purge keeps the event that owes its entry
        env.psql("UPDATE guestflow.partner_events SET pulled_at = now() - interval '3 years'")
        self.assertEqual(env.gf('purge').returncode, 0)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.partner_events WHERE booking_no = 'B-2'"), '1')
        # Pulled again: nothing stored twice; P002 still waits for its PMS;
        # B-2's entry still refused, still owed.
        r = self.pull(expect=1)
        self.assertIn('pulled 2 connections (1 failed): 0 new events', r.stdout)
        self.assertEqual(len(self.history('B-1')), 3)
        self.assertEqual(len(self.history('B-2')), 1)
        self.assertIn('1 history entry still owed', r.stdout)
        # The PMS takes B-2's entry now (B-3's not yet): the next run of the
        # job writes it, once; the alert is cleared.
        env.psql("""
            CREATE OR REPLACE FUNCTION guestflow.write_history(booking_ids bigint[], messages text[])
            RETURNS void LANGUAGE plpgsql AS $$
            BEGIN
                IF 3 = ANY(booking_ids) THEN
                    RAISE EXCEPTION 'guest is locked for GDPR review';
                END IF;
                INSERT INTO pms.booking_history (booking_id, kind, message)
                SELECT t.booking_id, 'guestflow', t.message FROM unnest(booking_ids, messages) AS t(booking_id, message);
            END $$""")
        r = self.run_job(expect=0)
        self.assertIn('event=history_written', r.stderr)
        self.assertEqual(len(self.history('B-2')), 2)
        self.assertIn('wrote a review', self.history('B-2')[-1])
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.partner_events WHERE history_pending IS NOT NULL"),
                         '0')
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.alert_events WHERE cleared_at IS NULL"), '0')
        r = self.pull(expect=1)  # (P002's page: still every entry refused)
        self.assertNotIn('still owed', r.stdout)
        self.assertEqual(len(self.history('B-2')), 2)

    def test_a_pull_writes_the_entries_owed_that_the_pms_takes_now(self):
        """An event's entry owed is written by the next pull as well, before
        it reads the feeds."""
        env = self.env
        add_booking(env, 1)
        add_booking(env, 2)
        self.run_job(expect=0)
        env.psql("""
            CREATE OR REPLACE FUNCTION guestflow.write_history(booking_ids bigint[], messages text[])
            RETURNS void LANGUAGE plpgsql AS $$
            BEGIN
                IF 1 = ANY(booking_ids) OR 2 = ANY(booking_ids) THEN
                    RAISE EXCEPTION 'guest is locked for GDPR review';
                END IF;
                INSERT INTO pms.booking_history (booking_id, kind, message)
                SELECT t.booking_id, 'guestflow', t.message FROM unnest(booking_ids, messages) AS t(booking_id, message);
            END $$""")
        self.event('H-1001', 'B-1', 'reviewed')
        self.event('H-1001', 'B-2', 'reviewed')
        self.event('H-1001', 'B-9', 'reviewed')  # (a booking the job never sent: not one of its guests)
        r = self.pull(expect=1)
        self.assertIn('pulled 2 connections (1 failed): 0 new events', r.stdout)
        # (every entry of that page refused: the connection's pull failed, nothing stored)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.partner_events"), '0')
        # One refused, one taken: stored, B-1's owed.
        env.psql("""
            CREATE OR REPLACE FUNCTION guestflow.write_history(booking_ids bigint[], messages text[])
            RETURNS void LANGUAGE plpgsql AS $$
            BEGIN
                IF 1 = ANY(booking_ids) AND NOT EXISTS (SELECT 1 FROM pms.properties WHERE id = 'PMS-OK') THEN
                    RAISE EXCEPTION 'guest is locked for GDPR review';
                END IF;
                INSERT INTO pms.booking_history (booking_id, kind, message)
                SELECT t.booking_id, 'guestflow', t.message FROM unnest(booking_ids, messages) AS t(booking_id, message);
            END $$""")
        r = self.pull(expect=1)
        self.assertEqual(env.psql("SELECT booking_no FROM guestflow.partner_events WHERE history_pending IS NOT NULL"),
                         [['B-1']])
        env.psql("INSERT INTO pms.properties VALUES ('PMS-OK', 'the PMS takes entries again')")
        r = self.pull(expect=0)
        self.assertIn('review-nightly: wrote 1 history entry the PMS had refused before', r.stdout)
        self.assertEqual(len(self.history('B-1')), 2)  # sent, reviewed
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.alert_events WHERE cleared_at IS NULL"), '0')

class GuestJsonPullTest(PullCase):
    accounts = {'PX-1': 'tok3n+/=one', 'PX-2': 'tok3n+/=two'}
    properties = {'P001': 'PX-1', 'P002': 'PX-2'}
    job_overrides = {'format': 'guest-json'}

    def test_events_pages_and_suppression(self):
        env = self.env
        add_booking(env, 1)
        add_booking(env, 2)
        self.run_job(expect=0)
        self.event('PX-1', 'B-1', 'bounced')
        self.event('PX-1', 'B-2', 'invited')
        r = self.pull()
        self.assertIn('2 new events, 2 history entries, 1 address suppressed', r.stdout)
        self.assertEqual(env.psql("SELECT email, reason FROM guestflow.suppressions"),
                         [['guest1@example.org', 'bounced']])
        self.assertIn("e-mail address bounced", self.history('B-1')[-1])
        self.event('PX-1', 'B-2', 'reviewed')
        r = self.pull()
        self.assertIn('1 new event,', r.stdout)
        self.assertEqual(env.scalar("SELECT events_cursor FROM guestflow.connections WHERE property_id = 'P001'"),
                         '3')


class VisitsCsvPullTest(PullCase):
    sftp = True

    def test_error_files_reject_their_deliveries_and_move_to_done(self):
        env = self.env
        add_booking(env, 1)
        add_booking(env, 2)
        add_booking(env, 3, prop='P002')
        self.run_job(expect=0)
        files = env.sftp.files()
        f1 = [n for n in files if '_H-1001_' in n][0]
        f2 = [n for n in files if '_H-1002_' in n][0]
        errors = os.path.join(env.sftp.dir, 'errors')
        with open(os.path.join(errors, f1 + '.errors.csv'), 'wb') as f:
            f.write(b'B-1;"invalid e-mail; bounced ""hard"""\r\nB-2;unknown language\r\n')
        with open(os.path.join(errors, f2 + '.errors.csv'), 'wb') as f:
            f.write(b'B-3;"broken quote\r\n')
        with open(os.path.join(errors, 'unrelated.txt'), 'wb') as f:
            f.write(b'not ours')
        # (H-1002's file is not the contract's: what was read is stored, and
        # that connection's pull counts as failed, toward its pull_failed
        # alert; red team: it was a warning alone, never alerted)
        r = self.pull(expect=1)
        self.assertIn('event=pull_partial', r.stderr)
        self.assertIn('line 1: not \\"booking no;reason\\" as CSV', r.stderr)
        self.assertIn('pulled 2 connections (1 failed): 2 new events, 2 history entries, 0 addresses suppressed'
                      ' (0 queued deliveries of them withdrawn), 2 deliveries rejected', r.stdout)
        self.assertEqual(env.psql("SELECT property_id, pull_failures FROM guestflow.connections ORDER BY 1"),
                         [['P001', '0'], ['P002', '1']])
        got = dict(env.psql("SELECT booking_no, reason FROM guestflow.deliveries WHERE state = 'rejected'"))
        self.assertEqual(got, {'B-1': 'partner: invalid e-mail; bounced "hard"', 'B-2': 'partner: unknown language'})
        self.assertIn('could not import the guest: invalid e-mail', self.history('B-1')[-1])
        self.assertEqual(sorted(os.listdir(errors)), sorted(['done', 'unrelated.txt', f2 + '.errors.csv']))
        self.assertEqual(os.listdir(os.path.join(errors, 'done')), [f1 + '.errors.csv'])
        self.assertNotIn('pull_files_not_moved', r.stderr, 'the broken file was not read, so not to be moved')
        # The partner corrects the broken file: read on the next pull.
        with open(os.path.join(errors, f2 + '.errors.csv'), 'wb') as f:
            f.write(b'B-3;no such room\n')
        r = self.pull()
        self.assertIn('1 new event, 1 history entry, 0 addresses suppressed (0 queued deliveries of them withdrawn),'
                      ' 1 delivery rejected', r.stdout)
        self.assertEqual(env.scalar("SELECT max(pull_failures) FROM guestflow.connections"), '0')
        self.assertEqual(sorted(os.listdir(os.path.join(errors, 'done'))),
                         sorted([f1 + '.errors.csv', f2 + '.errors.csv']))
        # A file that cannot be read (too large, a dangling link) is skipped
        # and said; the others are read.
        add_booking(env, 4, prop='P002')
        self.run_job(expect=0)
        f3 = [n for n in env.sftp.files() if '_H-1002_' in n and n != f2][0]
        with open(os.path.join(errors, f3 + '.errors.csv'), 'wb') as f:
            f.write(b'B-4;bad\r\n')
        big = f1[:9] + 'H-1002' + f1[15:]  # another batch's name for H-1002
        with open(os.path.join(errors, big + '.errors.csv'), 'wb') as f:
            f.write(b'B-9;' + b'x' * (2 << 20) + b'\r\n')
        os.symlink('/nonexistent', os.path.join(errors, f1[:9] + 'H-1002' + f1[15:-5] + 'y.csv.errors.csv'))
        r = self.pull(expect=1)
        self.assertIn('event=pull_partial', r.stderr)
        self.assertIn('not read: larger than', r.stderr)
        self.assertIn('1 delivery rejected', r.stdout)
        self.assertEqual(env.scalar("SELECT reason FROM guestflow.deliveries WHERE booking_no = 'B-4'"), 'partner: bad')
        # A file moved late (read again): nothing stored twice. H-1002 has
        # only the two it cannot read left: its pull failed, and says why.
        os.rename(os.path.join(errors, 'done', f1 + '.errors.csv'), os.path.join(errors, f1 + '.errors.csv'))
        r = self.pull(expect=1)
        self.assertIn('(1 failed): 0 new events', r.stdout)
        self.assertIn('property=P002 verdict=unexpected msg="no error file could be read: error file', r.stderr)
        self.assertEqual(self.states(), {'rejected': 4})

    def test_an_error_file_that_is_not_the_contracts_raises_pull_failed(self):
        """Red team: an error file the parser refuses (',' for ';') was a
        warning alone: every pull exited 0, its failures never counted, no
        alert, and the partner's rejections in it never applied. It is a
        failed pull of that connection now, alerted after
        alerting.failed_pulls in a row; corrected, it is read and the alert
        cleared."""
        env = self.env
        add_booking(env, 1)
        add_booking(env, 2)
        self.run_job(expect=0)
        name = [n for n in env.sftp.files() if '_H-1001_' in n][0]
        path = os.path.join(env.sftp.dir, 'errors', name + '.errors.csv')
        with open(path, 'wb') as f:
            f.write(b'B-1,invalid e-mail\r\nB-2,unknown language\r\n')
        for n in range(1, 4):
            r = self.pull(expect=1)
            self.assertIn('(1 failed)', r.stdout)
            self.assertEqual(env.scalar("SELECT pull_failures FROM guestflow.connections WHERE property_id = 'P001'"),
                             str(n))
        self.assertEqual(env.psql("SELECT kind FROM guestflow.alert_events WHERE cleared_at IS NULL"),
                         [['pull_failed']])
        self.assertIn(name, env.scalar("SELECT message FROM guestflow.alert_events WHERE kind = 'pull_failed'"))
        with open(path, 'wb') as f:
            f.write(b'B-1;invalid e-mail\r\nB-2;unknown language\r\n')
        r = self.pull()
        self.assertIn('2 deliveries rejected', r.stdout)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.alert_events WHERE cleared_at IS NULL"), '0')

    def test_a_directory_named_like_an_error_file_is_skipped_and_named(self):
        """Red team: a directory in errors/ named like the error file of a
        batch made every pull of the connection fail ('Error in the SSH
        layer'), and no error file of it was applied. It is skipped and
        named now; the connection's real error file is read."""
        env = self.env
        env.write_config({'batch': {'max_records': 1, 'in_flight': 1}})
        add_booking(env, 1)
        add_booking(env, 2)
        self.run_job(expect=0)
        # (the files' names end in their batch's random key: told apart by
        # what they hold)
        file_of = {g['bookingNo']: g['file'] for g in env.sftp.recorded()}
        f1, f2 = file_of['B-1'], file_of['B-2']
        errors = os.path.join(env.sftp.dir, 'errors')
        os.makedirs(os.path.join(errors, f1 + '.errors.csv'))
        with open(os.path.join(errors, f2 + '.errors.csv'), 'wb') as f:
            f.write(b'B-2;invalid e-mail\r\n')
        r = self.pull(expect=1)
        self.assertIn('pulled 2 connections (1 failed): 1 new event', r.stdout)
        self.assertIn('event=pull_partial', r.stderr)
        self.assertIn(f'error file {f1}.errors.csv not read', r.stderr)
        self.assertEqual(env.psql("SELECT booking_no, state FROM guestflow.deliveries ORDER BY 1"),
                         [['B-1', 'delivered'], ['B-2', 'rejected']])
        self.assertTrue(os.path.isdir(os.path.join(errors, f1 + '.errors.csv')))

    def test_a_feed_whose_every_error_file_fails_is_a_failed_pull(self):
        """Red team: a server refusing every error file (here the only one,
        a directory of its name) gave a pull that exited 0 with a warning,
        and its failures were never counted, so no pull_failed alert ever
        came. Not one file read is a failed pull of that connection."""
        env = self.env
        add_booking(env, 1)
        self.run_job(expect=0)
        f1 = env.sftp.recorded()[0]['file']
        os.makedirs(os.path.join(env.sftp.dir, 'errors', f1 + '.errors.csv'))
        r = self.pull(expect=1)
        self.assertIn('pulled 2 connections (1 failed): 0 new events', r.stdout)
        self.assertIn('event=pull_failed', r.stderr)
        self.assertIn(f'no error file could be read: error file {f1}.errors.csv not read', r.stderr)
        self.assertNotIn('event=pull_partial', r.stderr)
        self.assertEqual(env.psql("SELECT property_id, pull_failures FROM guestflow.connections ORDER BY 1"),
                         [['P001', '1'], ['P002', '0']])
        self.assertEqual(env.psql("SELECT booking_no, state FROM guestflow.deliveries"), [['B-1', 'delivered']])

    def test_an_error_file_that_cannot_be_moved_to_done_is_named(self):
        """The partner's errors/done is a file, not a directory: the move of a
        read file fails on the server (libcurl runs the moves as commands
        whose failure it ignores). The events are stored all the same; the
        file is named in a warning; the next pull reads it again and stores
        nothing twice."""
        env = self.env
        add_booking(env, 1)
        self.run_job(expect=0)
        f1 = [n for n in env.sftp.files() if '_H-1001_' in n][0]
        errors = os.path.join(env.sftp.dir, 'errors')
        with open(os.path.join(errors, 'done'), 'wb') as f:
            f.write(b'not a directory')
        with open(os.path.join(errors, f1 + '.errors.csv'), 'wb') as f:
            f.write(b'B-1;unknown language\r\n')
        for new in ('1 new event', '0 new events'):
            r = self.pull()
            self.assertIn(new, r.stdout)
            self.assertIn('event=pull_files_not_moved', r.stderr)
            self.assertIn(f1 + '.errors.csv', r.stderr)
            self.assertIn(f1 + '.errors.csv', os.listdir(errors))
        self.assertEqual(self.states(), {'rejected': 1})


if __name__ == '__main__':
    main()
