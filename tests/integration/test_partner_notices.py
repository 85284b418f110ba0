#!/usr/bin/env python3
"""The partner is told (issue 17 item 5): a connection requested, activated,
deactivated or stopped e-mails the partner's address once, through the
alert mail path, recorded in the activity log."""
import socket
import socketserver
import subprocess
import threading
import time

from gftest import FORCE, GFTestCase, main, wait_for
from test_alerting import SmtpSink

CONFIG_ADDR = 'onboarding@reviewhub.example'


def headers_of(data):
    """The header lines of a received message (before the empty line)."""
    return data.split('\r\n\r\n', 1)[0].split('\r\n')


class PartnerNoticeTest(GFTestCase):

    def setUp(self):
        super().setUp()
        SmtpSink.messages = []
        self.smtp = socketserver.ThreadingTCPServer(('127.0.0.1', 0), SmtpSink)
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
        r = self.gf_ok('connection', 'set-partner-email', 'P001', 'reviewhub', 'p1@partner.example')
        self.assertIn('p1@partner.example', r.stdout)
        self.assertEqual(len(self.mails()), 1, 'setting the address tells nobody')
        self.assertIn('nothing changed',
                      self.gf_ok('connection', 'set-partner-email', 'P001', 'reviewhub', 'p1@partner.example').stdout)
        self.gf_ok('connection', 'consent', 'P001', 'reviewhub', '--by', 'GM', '--withdraw')
        self.assertEqual(len(self.mails('p1@partner.example')), 1)
        self.assertIn('Subject: guestflow: P001 connection deactivated (reviewhub)',
                      headers_of(self.mails('p1@partner.example')[0]['data']))
        self.assertIn('withdrawn by GM', self.mails('p1@partner.example')[0]['data'])
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
        self.assertEqual(len(self.mails()), 3)

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
        holder = subprocess.Popen(
            ['psql', env.conninfo, '-X', '-q', '-v', 'ON_ERROR_STOP=1'], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        def stop_holder():
            if holder.poll() is None:
                holder.kill()
            holder.communicate(timeout=10)
        self.addCleanup(stop_holder)
        holder.stdin.write("BEGIN; SELECT id FROM guestflow.connection_events WHERE partner_notice"
                           " AND partner_told_at IS NULL AND partner_to IS NOT NULL FOR UPDATE;"
                           " SELECT pg_sleep(30);\n")
        holder.stdin.flush()
        wait_for(lambda: env.scalar("SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
                                    " AND query LIKE 'SELECT pg_sleep(30)%'") != '0', 10, 'the claim held')
        started = time.monotonic()
        self.gf_ok('connection', 'deactivate', 'P002', 'reviewhub')
        self.assertLess(time.monotonic() - started, 20, 'the command did not wait for the claim')
        self.assertEqual([l for m in self.mails() for l in headers_of(m['data']) if l.startswith('Subject:')],
                         ['Subject: guestflow: P002 connection deactivated (reviewhub)'])
        # The holder dies before telling (its server process with it: a
        # killed client alone leaves pg_sleep running, and the claim held).
        env.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
                 " AND query LIKE 'SELECT pg_sleep(30)%'")
        holder.communicate(timeout=10)
        wait_for(lambda: env.scalar("SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
                                    " AND query LIKE 'SELECT pg_sleep(30)%'") == '0', 10, 'the claim released')
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
        self.assertIn(f'partner not told yet ({CONFIG_ADDR}): waiting for alerting.smtp_url', self.show('P003'))
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


if __name__ == '__main__':
    main()
