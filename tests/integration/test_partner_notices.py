#!/usr/bin/env python3
"""The partner is told (issue 17 item 5): a connection requested, activated,
deactivated or stopped e-mails the partner's address once, through the
alert mail path, recorded in the activity log."""
import email.header
import socket
import socketserver
import threading
import time

from gftest import FORCE, GFTestCase, hold_in_session, main
from test_alerting import SmtpSink

CONFIG_ADDR = 'onboarding@reviewhub.example'


def headers_of(data):
    """The header lines of a received message (before the empty line)."""
    return data.split('\r\n\r\n', 1)[0].split('\r\n')


class MoodySink(SmtpSink):
    """The sink, with moods: answers DATA late, refuses the first DATA
    (451), refuses some recipients (550)."""
    data_delay = 0
    fail_data = 0
    refuse_rcpt = ()
    drop_rcpt = ()

    def reply(self, line):
        if line == '250 queued':
            time.sleep(MoodySink.data_delay)
            if MoodySink.fail_data > 0:
                MoodySink.fail_data -= 1
                SmtpSink.messages.pop()
                line = '451 try again later'
        elif line == '250 ok' and self.last_rcpt and any(r in self.last_rcpt for r in MoodySink.refuse_rcpt):
            line = '550 no such mailbox'
        self.last_rcpt = None
        super().reply(line)

    def handle(self):
        self.last_rcpt = None
        rfile = self.rfile
        outer = self

        class Peek:
            def readline(self):
                line = rfile.readline()
                if line.upper().startswith(b'RCPT TO:'):
                    outer.last_rcpt = line.decode(errors='replace')
                    if any(r in outer.last_rcpt for r in MoodySink.drop_rcpt):
                        return b''  # the connection dropped, no reply
                return line
        self.rfile = Peek()
        try:
            super().handle()
        finally:
            self.rfile = rfile  # (socketserver closes it)


class PartnerNoticeTest(GFTestCase):

    def setUp(self):
        super().setUp()
        SmtpSink.messages = []
        MoodySink.data_delay, MoodySink.fail_data, MoodySink.refuse_rcpt, MoodySink.drop_rcpt = 0, 0, (), ()
        self.smtp = socketserver.ThreadingTCPServer(('127.0.0.1', 0), MoodySink)
        self.smtp.daemon_threads = True
        threading.Thread(target=self.smtp.serve_forever, daemon=True).start()
        self.addCleanup(self.smtp.server_close)
        self.addCleanup(self.smtp.shutdown)
        self.env.psql("INSERT INTO pms.properties VALUES ('P003', 'Hotel Drei')")
        self.configure()

    def configure(self, port=None, partners=True, smtp=True):
        env = self.env
        env.write_config()
        with open(env.config, 'a') as f:
            if smtp:
                f.write(f'alerting:\n  smtp_url: "smtp://127.0.0.1:{port or self.smtp.server_address[1]}"\n'
                        f'  from: "guestflow@hotel.example"\n')
            if partners:
                f.write(f'partners:\n  reviewhub:\n    email: "{CONFIG_ADDR}"\n')

    def gf_ok(self, *args, input=None):
        r = self.env.gf(*args, input=input)
        self.assertEqual(r.returncode, 0, f'{args}: {r.stdout}{r.stderr}')
        return r

    def mails(self, to=None):
        return [m for m in SmtpSink.messages if to is None or m['rcpt'] == [f'<{to}>']]

    def show(self, prop, partner='reviewhub'):
        return self.gf_ok('connection', 'show', prop, partner).stdout

    def test_each_change_tells_the_partner_once(self):
        r = self.gf_ok('connection', 'add', 'P003', 'reviewhub', '--hotel-id', 'H-3003', input='k3y+/=three\n')
        self.assertIn('the partner was told by e-mail', r.stdout)
        self.assertEqual(len(self.mails()), 1)
        m = self.mails()[0]
        self.assertEqual(m['rcpt'], [f'<{CONFIG_ADDR}>'])
        self.assertEqual(m['from'], '<guestflow@hotel.example>')
        h = headers_of(m['data'])
        self.assertIn('Subject: guestflow: P003 connection requested (reviewhub)', h)
        self.assertIn(f'To: <{CONFIG_ADDR}>', h)
        self.assertIn('Property:   P003 (Hotel Drei)', m['data'])
        self.assertIn('Hotel id:   H-3003', m['data'])
        self.assertNotIn('k3y+/=three', m['data'])

        steps = (('activate', *FORCE), ('activate',), ('stop',), ('stop',), ('deactivate',), ('deactivate',),
                 ('consent', '--by', 'Front Office', '--withdraw'))
        for step in steps:
            if step[0] == 'consent':
                self.gf_ok('connection', 'consent', 'P003', 'reviewhub', *step[1:])
            else:
                self.gf_ok('connection', step[0], 'P003', 'reviewhub', *step[1:])
        subjects = [[l for l in headers_of(m['data']) if l.startswith('Subject:')][0] for m in self.mails()]
        self.assertEqual(subjects, ['Subject: guestflow: P003 connection %s (reviewhub)' % c
                                    for c in ('requested', 'activated', 'stopped', 'deactivated')],
                         'one mail per change, none for a command that changed nothing')
        stopped = self.mails()[2]['data']
        self.assertIn('Reason:     stopped by the partner', stopped)
        self.assertIn('Change:     stopped (live -> stopped)', stopped)
        show = self.show('P003')
        self.assertEqual(show.count(f'partner told at '), 4, show)
        self.assertEqual(show.count(f'({CONFIG_ADDR})'), 4, show)
        self.assertEqual(self.env.scalar("SELECT count(*) FROM guestflow.connection_events e"
                                         " JOIN guestflow.connections c ON c.id = e.connection_id"
                                         " WHERE c.property_id = 'P003' AND e.partner_notice"
                                         " AND e.partner_told_at IS NOT NULL AND e.partner_attempts = 1"), '4')
        # A run sends nothing already told.
        self.run_job(expect=0)
        self.assertEqual(len(self.mails()), 4)

    def test_the_connection_address_wins_and_withdrawal_tells(self):
        self.gf_ok('connection', 'add', 'P003', 'reviewhub', '--hotel-id', 'H-3003',
                   '--partner-email', 'hotels@partner.example', input='k3y+/=three\n')
        self.assertEqual([m['rcpt'] for m in self.mails()], [['<hotels@partner.example>']])
        # P001 was added and activated with no address known: set now, the
        # partner hears of those two changes, in order, at that address.
        r = self.gf_ok('connection', 'set-partner-email', 'P001', 'reviewhub', 'p1@partner.example')
        self.assertIn('p1@partner.example', r.stdout)
        self.assertIn('2 changes the partner was not told of yet go to the new address', r.stdout)
        self.assertEqual([[l for l in headers_of(m['data']) if l.startswith('Subject:')][0]
                          for m in self.mails('p1@partner.example')],
                         ['Subject: guestflow: P001 connection requested (reviewhub)',
                          'Subject: guestflow: P001 connection activated (reviewhub)'])
        self.assertIn('nothing changed',
                      self.gf_ok('connection', 'set-partner-email', 'P001', 'reviewhub', 'p1@partner.example').stdout)
        self.gf_ok('connection', 'consent', 'P001', 'reviewhub', '--by', 'GM', '--withdraw')
        self.assertEqual(len(self.mails('p1@partner.example')), 3)
        self.assertIn('Subject: guestflow: P001 connection deactivated (reviewhub)',
                      headers_of(self.mails('p1@partner.example')[-1]['data']))
        self.assertIn('withdrawn by GM', self.mails('p1@partner.example')[-1]['data'])
        self.assertIn('partner e-mail set to p1@partner.example', self.show('P001'))
        # Cleared: the main file's address applies to the next change.
        self.gf_ok('connection', 'set-partner-email', 'P001', 'reviewhub', '--clear')
        self.gf_ok('connection', 'activate', 'P001', 'reviewhub', *FORCE)
        self.assertEqual(len(self.mails(CONFIG_ADDR)), 1)
        # Refused addresses: nothing stored, nothing sent.
        for bad in ('nobody', 'a@b\r\nBcc: evil@evil.example', 'Ops <ops@partner.example>', 'a@@b'):
            r = self.env.gf('connection', 'set-partner-email', 'P002', 'reviewhub', bad)
            self.assertEqual(r.returncode, 65, bad)
            self.assertIn('ADDR refused: an e-mail address', r.stderr)
            r = self.env.gf('connection', 'add', 'P004', 'reviewhub', '--hotel-id', 'H-4', '--partner-email', bad,
                            input='k3y+/=four\n')
            self.assertEqual(r.returncode, 65, bad)
        self.assertEqual(self.env.scalar("SELECT count(*) FROM guestflow.connections WHERE property_id = 'P004'"), '0')
        self.assertEqual(len(self.mails()), 5)

    def test_smtp_down_the_change_is_made_and_the_next_run_tells(self):
        dead = socket.socket()
        dead.bind(('127.0.0.1', 0))
        port = dead.getsockname()[1]
        dead.close()  # nothing listens there
        self.configure(port=port)
        r = self.env.gf('connection', 'deactivate', 'P001', 'reviewhub')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('is now deactivated', r.stdout)
        self.assertIn('warning: the partner could not be told', r.stderr)
        self.assertEqual(self.env.scalar("SELECT status FROM guestflow.connections WHERE property_id = 'P001'"),
                         'deactivated')
        self.assertRegex(self.show('P001'), rf'partner not told yet \({CONFIG_ADDR}\): 1 attempt, the last: ')
        # The server back: the partner's job's next run tells it, once.
        self.configure()
        r = self.run_job(expect=0)
        self.assertIn('event=partner_told', r.stderr)
        self.assertEqual(len(self.mails()), 1)
        self.assertIn('Subject: guestflow: P001 connection deactivated (reviewhub)', headers_of(self.mails()[0]['data']))
        self.assertIn('partner told at ', self.show('P001'))
        self.run_job(expect=0)
        self.gf_ok('connection', 'stop', 'P002', 'reviewhub')
        self.assertEqual(len(self.mails()), 2, 'the run sent nothing again; the stop its own')

    def test_a_notice_another_process_holds_is_not_mailed_twice(self):
        env = self.env
        self.configure(smtp=False)
        self.gf_ok('connection', 'stop', 'P001', 'reviewhub')
        self.configure()
        # Another process has claimed the notice (as gf_notify_partners does)
        # and has not finished: this command neither waits for it nor sends it.
        release = hold_in_session(self, env, "SELECT id FROM guestflow.connection_events WHERE partner_notice"
                                             " AND partner_told_at IS NULL AND partner_to IS NOT NULL FOR UPDATE")
        started = time.monotonic()
        self.gf_ok('connection', 'deactivate', 'P002', 'reviewhub')
        self.assertLess(time.monotonic() - started, 20, 'the command did not wait for the claim')
        self.assertEqual([l for m in self.mails() for l in headers_of(m['data']) if l.startswith('Subject:')],
                         ['Subject: guestflow: P002 connection deactivated (reviewhub)'])
        # The holder dies before telling (its server process with it: a
        # killed client alone leaves pg_sleep running, and the claim held).
        release()
        self.assertFalse(release.held(), 'the claim released')
        # The claim gone: the next run tells, once.
        self.run_job(expect=0)
        self.run_job(expect=0)
        self.assertEqual(len(self.mails()), 2)
        self.assertIn('Subject: guestflow: P001 connection stopped (reviewhub)', headers_of(self.mails()[1]['data']))

    def test_the_automatic_stop_at_run_start_is_told_after_the_run(self):
        self.env.psql("UPDATE pms.properties SET export_allowed = false WHERE id = 'P002'")
        r = self.run_job(expect=0)
        self.assertIn('event=connection_auto_stopped', r.stderr)
        mails = self.mails(CONFIG_ADDR)
        self.assertEqual(len(mails), 1)
        self.assertIn('Subject: guestflow: P002 connection stopped (reviewhub)', headers_of(mails[0]['data']))
        self.assertIn('Hotel id:   H-1002', mails[0]['data'])
        self.assertIn('the PMS no longer allows', mails[0]['data'])
        self.run_job(expect=0)
        self.assertEqual(len(self.mails()), 1)

    def test_no_address_or_no_smtp_nothing_is_mailed_and_show_says_so(self):
        self.assertIn(f"partner reviewhub: told of its connections' changes at {CONFIG_ADDR}\n",
                      self.gf_ok('check-config').stdout)
        self.configure(partners=False)
        self.assertIn('partner reviewhub: no partners.reviewhub.email', self.gf_ok('check-config').stdout)
        r = self.gf_ok('connection', 'add', 'P003', 'reviewhub', '--hotel-id', 'H-3003', input='k3y+/=three\n')
        self.assertNotIn('told', r.stdout)
        self.assertIn('partner not told: no address (partners.reviewhub.email', self.show('P003'))
        # An address but no SMTP server configured: the notice waits, nothing fails.
        self.configure(smtp=False)
        r = self.gf_ok('connection', 'activate', 'P003', 'reviewhub', *FORCE)
        self.assertIn('the partner is not told yet: alerting.smtp_url is not set', r.stderr)
        self.assertIn(f'partner not told yet ({CONFIG_ADDR}): not tried yet (it waits for the changes before it,'
                      ' for alerting.smtp_url', self.show('P003'))
        self.run_job(expect=0)
        self.assertEqual(SmtpSink.messages, [])
        # SMTP configured: the waiting notice goes; the one without an address never.
        self.configure()
        self.run_job(expect=0)
        self.assertEqual(len(self.mails()), 1)
        self.assertIn('Subject: guestflow: P003 connection activated (reviewhub)', headers_of(self.mails()[0]['data']))
        self.assertIn('partner not told: no address', self.show('P003'))

    def test_database_text_never_adds_a_header(self):
        env = self.env
        # Rows as another program could write them (the CLI refuses such ids).
        env.psql("INSERT INTO guestflow.connections (property_id, partner, id_at_partner, status)"
                 " VALUES (E'P9\\r\\nBcc: evil@evil.example', 'reviewhub', E'H9\\r\\nX-Evil: 1', 'stopped');"
                 "INSERT INTO guestflow.connection_events (connection_id, from_status, to_status, note,"
                 " partner_notice, partner_to)"
                 " SELECT id, 'live', 'stopped', E'bad\\r\\nBcc: evil@evil.example\\r\\n.\\r\\nRCPT TO:<evil@evil.example>',"
                 " true, 'p9@partner.example' FROM guestflow.connections WHERE id_at_partner LIKE 'H9%'")
        self.run_job(expect=0)
        self.assertEqual(len(SmtpSink.messages), 1)
        m = SmtpSink.messages[0]
        self.assertEqual(m['rcpt'], ['<p9@partner.example>'])
        names = [l.split(':', 1)[0] for l in headers_of(m['data'])]
        self.assertEqual(names, ['Date', 'From', 'To', 'Subject', 'Message-ID', 'MIME-Version', 'Content-Type',
                                 'Content-Transfer-Encoding'])
        self.assertNotIn('\r\nBcc:', m['data'])
        self.assertNotIn('\r\nX-Evil:', m['data'])
        self.assertNotIn('\r\n.\r\n', m['data'])
        # An address that is no address is not mailed, even if stored around the CHECK.
        env.psql("ALTER TABLE guestflow.connection_events DROP CONSTRAINT connection_events_partner_to_form;"
                 "INSERT INTO guestflow.connection_events (connection_id, from_status, to_status, partner_notice,"
                 " partner_to) SELECT id, 'stopped', 'live', true, E'a@b\\r\\nBcc: evil@evil.example'"
                 " FROM guestflow.connections WHERE id_at_partner LIKE 'H9%'")
        self.run_job(expect=0)
        self.assertEqual(len(SmtpSink.messages), 1)
        self.assertIn('an e-mail address', env.scalar("SELECT partner_error FROM guestflow.connection_events"
                                                      " WHERE partner_to LIKE 'a@b%'"))

    def subjects(self):
        return [[l for l in headers_of(m['data']) if l.startswith('Subject:')][0] for m in self.mails()]

    def test_a_slow_server_and_a_short_idle_timeout_tell_once(self):
        """Red team: no transaction stays open while the SMTP server takes its
        time, so a database that ends idle transactions does not make the
        notice go again and again."""
        env = self.env
        env.psql(f"ALTER DATABASE {env.dbname} SET idle_in_transaction_session_timeout = '1s'")
        MoodySink.data_delay = 3
        self.gf_ok('connection', 'stop', 'P001', 'reviewhub')
        MoodySink.data_delay = 0
        self.assertEqual(self.subjects(), ['Subject: guestflow: P001 connection stopped (reviewhub)'])
        self.assertIn('partner told at ', self.show('P001'))
        self.run_job(expect=0)
        self.gf_ok('connection', 'show', 'P001', 'reviewhub')
        self.assertEqual(len(self.mails()), 1)
        self.assertEqual(env.psql("SELECT partner_attempts, partner_error IS NULL FROM guestflow.connection_events"
                                  " WHERE partner_notice AND to_status = 'stopped'"), [['1', 't']])

    def test_changes_are_told_in_order_and_an_unreachable_server_is_tried_once_a_pass(self):
        """Red team: a notice that failed holds the newer ones of its
        connection back (the partner must not read 'activated', then
        'stopped'); a server that cannot be reached costs one attempt a pass."""
        env = self.env
        self.configure(smtp=False)
        self.gf_ok('connection', 'stop', 'P001', 'reviewhub')
        self.gf_ok('connection', 'activate', 'P001', 'reviewhub', *FORCE)
        self.gf_ok('connection', 'stop', 'P002', 'reviewhub')
        # Nothing listens: one attempt in the pass, the others wait.
        dead = socket.socket()
        dead.bind(('127.0.0.1', 0))
        port = dead.getsockname()[1]
        dead.close()
        self.configure(port=port)
        self.run_job(expect=0)
        self.assertEqual(env.scalar("SELECT sum(partner_attempts) FROM guestflow.connection_events"), '1')
        # The server refuses the first message: the newer change of that
        # connection waits for it; the other connection's goes.
        self.configure()
        MoodySink.fail_data = 1
        self.run_job(expect=0)
        self.assertEqual(self.subjects(), ['Subject: guestflow: P002 connection stopped (reviewhub)'])
        self.assertRegex(self.show('P001'), r'partner not told yet \(onboarding@reviewhub.example\): 2 attempts,'
                                            r' the last: .*451')
        self.run_job(expect=0)
        self.assertEqual(self.subjects()[1:], ['Subject: guestflow: P001 connection stopped (reviewhub)',
                                               'Subject: guestflow: P001 connection activated (reviewhub)'])

    def test_a_refused_address_corrected_gets_what_it_missed(self):
        """Red team: the partner's address corrected ('set-partner-email'),
        the changes not told yet (refused there, or never addressed) go to
        the new one, in order; an address SMTP cannot carry is refused."""
        env = self.env
        self.configure(partners=False)
        self.gf_ok('connection', 'add', 'P003', 'reviewhub', '--hotel-id', 'H-3003', input='k3y+/=three\n')
        self.assertIn('partner not told: no address', self.show('P003'))
        MoodySink.refuse_rcpt = ('typo@',)
        r = self.gf_ok('connection', 'set-partner-email', 'P003', 'reviewhub', 'typo@partner.example')
        self.assertIn('1 change the partner was not told of yet goes to the new address', r.stdout)
        self.assertIn('warning: the partner could not be told', r.stderr)
        r = self.gf_ok('connection', 'activate', 'P003', 'reviewhub', *FORCE)
        show = self.show('P003')
        self.assertRegex(show, r'partner not told yet \(typo@partner.example\): 2 attempts, the last: .*550')
        self.assertIn('partner not told yet (typo@partner.example): not tried yet', show)
        self.assertEqual(self.mails(), [])
        r = self.gf_ok('connection', 'set-partner-email', 'P003', 'reviewhub', 'right@partner.example')
        self.assertIn('2 changes the partner was not told of yet go to the new address', r.stdout)
        self.assertEqual([m['rcpt'] for m in self.mails()], [['<right@partner.example>']] * 2)
        self.assertEqual(self.subjects(), ['Subject: guestflow: P003 connection requested (reviewhub)',
                                           'Subject: guestflow: P003 connection activated (reviewhub)'])
        self.assertEqual(self.show('P003').count('partner told at '), 2)
        # An address SMTP cannot carry is refused, never cut.
        r = env.gf('connection', 'set-partner-email', 'P003', 'reviewhub', 'a' * 250 + '@partner.example')
        self.assertEqual(r.returncode, 65)
        self.assertIn('at most 254 characters', r.stderr)

    def test_long_and_non_ascii_text_stays_within_the_mail_limits(self):
        """Red team: a body line of 1,000 bytes and more is broken (RFC 5322:
        998 at most); a subject that is not ASCII is encoded (RFC 2047)."""
        env = self.env
        env.psql("UPDATE pms.properties SET name = repeat('Ü', 700) WHERE id = 'P002';"
                 "INSERT INTO pms.properties VALUES ('Zürich-1', 'Hotel Zürich')")
        self.gf_ok('connection', 'stop', 'P002', 'reviewhub')
        self.gf_ok('connection', 'add', 'Zürich-1', 'reviewhub', '--hotel-id', 'H-' + 'x' * 1500,
                   input='k3y+/=zurich\n')
        self.assertEqual(len(self.mails()), 2)
        for m in self.mails():
            for line in m['data'].split('\r\n'):
                self.assertLessEqual(len(line.encode()), 998, line[:40])
        body = self.mails()[0]['data'].split('\r\n\r\n', 1)[1]
        self.assertIn('Ü' * 400, body)  # (its safe text: cut at 1,024 bytes, then broken into lines)
        subject = [l for l in self.mails()[1]['data'].split('\r\n\r\n', 1)[0].replace('\r\n ', ' ')
                   .split('\r\n') if l.startswith('Subject:')][0][len('Subject: '):]
        self.assertTrue(subject.isascii(), subject)
        for m in self.mails():
            for line in m['data'].split('\r\n\r\n', 1)[0].split('\r\n'):
                if '=?UTF-8?B?' in line:
                    self.assertLessEqual(len(line), 76, line)
        decoded = ''.join(t.decode(c or 'ascii') if isinstance(t, bytes) else t
                          for t, c in email.header.decode_header(subject))
        self.assertEqual(decoded, 'guestflow: Zürich-1 connection requested (reviewhub)')

    def test_one_notice_failing_its_own_way_holds_back_no_other_connection(self):
        """Red team: a server that drops the connection at one recipient has
        answered: that notice fails alone, the others of the pass go."""
        self.configure(smtp=False)
        self.gf_ok('connection', 'set-partner-email', 'P001', 'reviewhub', 'drop@partner.example')
        self.gf_ok('connection', 'stop', 'P001', 'reviewhub')
        self.gf_ok('connection', 'stop', 'P002', 'reviewhub')
        self.configure()
        MoodySink.drop_rcpt = ('drop@',)
        self.run_job(expect=0)
        self.assertEqual(self.subjects(), ['Subject: guestflow: P002 connection stopped (reviewhub)'])
        self.assertRegex(self.show('P001'), r'partner not told yet \(drop@partner.example\): 1 attempt')

    def test_a_change_older_than_one_told_is_not_told_after_it(self):
        """Red team: a change made with no address known, then a newer one
        told: a new address does not get the older one (the partner would
        read it last); --clear with no address in the main file leaves the
        changes not told yet where they were."""
        self.configure(partners=False)
        self.gf_ok('connection', 'stop', 'P001', 'reviewhub')
        self.configure()
        self.gf_ok('connection', 'activate', 'P001', 'reviewhub', *FORCE)
        self.assertEqual(self.subjects(), ['Subject: guestflow: P001 connection activated (reviewhub)'])
        r = self.gf_ok('connection', 'set-partner-email', 'P001', 'reviewhub', 'x@partner.example')
        self.assertNotIn('go to the new address', r.stdout)
        self.assertEqual(len(self.mails()), 1)
        self.assertIn('partner not told: no address', self.show('P001'))
        # --clear, the main file without an address: nothing re-pointed to none.
        self.configure(smtp=False)
        self.gf_ok('connection', 'stop', 'P001', 'reviewhub')
        self.configure(smtp=False, partners=False)
        r = self.gf_ok('connection', 'set-partner-email', 'P001', 'reviewhub', '--clear')
        self.assertIn('the main file has no partners.reviewhub.email: the partner is not told of later changes',
                      r.stdout)
        self.assertIn('partner not told yet (x@partner.example)', self.show('P001'))


if __name__ == '__main__':
    main()
