#!/usr/bin/env python3
"""Alert e-mails to contacts over SMTP (one per condition), metrics textfile,
health pings, progress lines."""
import http.server
import json
import os
import re
import signal
import socket
import socketserver
import subprocess
import threading
import time

from gftest import FORCE, GUESTFLOW, GFTestCase, add_many, main, proc_identity, wait_for


class SmtpSink(socketserver.StreamRequestHandler):
    """Just enough SMTP to receive messages: they land in SmtpSink.messages,
    one per Message-ID with the recipients of all its envelopes (guestflow
    sends an alert in one envelope per contact). RCPT TO an address in
    SmtpSink.refuse gets 550."""
    messages = []
    refuse = set()
    delay = 0  # seconds before the greeting (a slow server)
    connections = 0

    def reply(self, line):
        self.wfile.write(line.encode() + b'\r\n')

    def handle(self):
        SmtpSink.connections += 1
        time.sleep(SmtpSink.delay)
        self.reply('220 sink ESMTP')
        mail = {'rcpt': []}
        while True:
            line = self.rfile.readline()
            if not line:
                return
            cmd = line.decode(errors='replace').strip()
            up = cmd.upper()
            if up.startswith('EHLO') or up.startswith('HELO'):
                self.reply('250 sink')
            elif up.startswith('MAIL FROM:'):
                mail = {'from': cmd[10:].strip(), 'rcpt': []}
                self.reply('250 ok')
            elif up.startswith('RCPT TO:'):
                if cmd[8:].strip().strip('<>') in SmtpSink.refuse:
                    self.reply('550 5.1.1 no such user here')
                    continue
                mail['rcpt'].append(cmd[8:].strip())
                self.reply('250 ok')
            elif up == 'DATA':
                self.reply('354 go')
                data = b''
                while True:
                    l = self.rfile.readline()
                    if not l or l == b'.\r\n':
                        break
                    data += l
                mail['data'] = data.decode('utf-8', errors='replace')
                msgid = re.search(r'(?im)^Message-ID: *(\S+)', mail['data'])
                same = [m for m in SmtpSink.messages
                        if msgid and re.search(r'(?im)^Message-ID: *(\S+)', m['data']).group(1) == msgid.group(1)]
                if same:
                    same[0]['rcpt'] += mail['rcpt']
                    same[0]['envelopes'] += 1
                else:
                    SmtpSink.messages.append(dict(mail, envelopes=1))
                self.reply('250 queued')
            elif up == 'QUIT':
                self.reply('221 bye')
                return
            else:
                self.reply('250 ok')


class Pings(http.server.BaseHTTPRequestHandler):
    seen = []

    def do_GET(self):
        Pings.seen.append(self.path)
        self.send_response(200)
        self.send_header('Content-Length', '2')
        self.end_headers()
        self.wfile.write(b'OK')

    def log_message(self, *args):
        pass


class AlertingTest(GFTestCase):

    def setUp(self):
        super().setUp()
        SmtpSink.messages = []
        SmtpSink.refuse = set()
        SmtpSink.delay = 0
        SmtpSink.connections = 0
        Pings.seen = []
        self.smtp = socketserver.ThreadingTCPServer(('127.0.0.1', 0), SmtpSink)
        self.smtp.daemon_threads = True
        threading.Thread(target=self.smtp.serve_forever, daemon=True).start()
        self.addCleanup(self.smtp.server_close)
        self.addCleanup(self.smtp.shutdown)
        self.pings = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Pings)
        threading.Thread(target=self.pings.serve_forever, daemon=True).start()
        self.addCleanup(self.pings.server_close)
        self.addCleanup(self.pings.shutdown)
        self.metrics_dir = os.path.join(self.env.dir, 'metrics')
        os.makedirs(self.metrics_dir)
        self.configure()

    def configure(self, **job):
        env = self.env
        ping = f'http://127.0.0.1:{self.pings.server_address[1]}/ping'
        overrides = {'retry': {'max_attempts': 2, 'backoff_initial': '100ms', 'backoff_max': '200ms', 'linger': '5s'},
                     'ping': {'start': ping + '/start', 'success': ping, 'failure': ping + '/fail'}}
        overrides.update(job)
        env.write_config(overrides)
        with open(env.config, 'a') as f:
            f.write(f'alerting:\n  smtp_url: "smtp://127.0.0.1:{self.smtp.server_address[1]}"\n'
                    f'  from: "guestflow@hotel.example"\n  failed_runs: 2\n  failed_pulls: 2\n'
                    f'metrics:\n  textfile_dir: "{self.metrics_dir}"\n')

    def test_contacts_cli(self):
        env = self.env
        r = env.gf('contact', 'add', 'ops@hotel.example', '--role', 'alert', '--name', 'Ops')
        self.assertEqual(r.returncode, 0, r.stderr)
        r = env.gf('contact', 'add', 'p1@hotel.example', '--role', 'technical', '--connection', 'P001', 'reviewhub')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(env.gf('contact', 'add', 'x@y', '--role', 'boss').returncode, 65)
        self.assertEqual(env.gf('contact', 'add', 'not-an-address', '--role', 'alert').returncode, 65)
        self.assertEqual(env.gf('contact', 'add', 'a@b.c', '--role', 'alert', '--connection', 'P404', 'reviewhub').returncode, 65)
        self.assertEqual(env.gf('contact', 'add', 'a@b.c', '--role', 'alert', '--job', 'nope').returncode, 65)
        r = env.gf('contact', 'list')
        self.assertRegex(r.stdout, r'(?m)^1\s+alert\s+ops@hotel.example\s+Ops\s+\*\s+\*\s+\*$')
        self.assertRegex(r.stdout, r'(?m)^2\s+technical\s+p1@hotel.example\s+\*\s+P001/reviewhub\s+\*$')
        self.assertEqual(env.gf('contact', 'remove', '2').returncode, 0)
        self.assertEqual(env.gf('contact', 'remove', '2').returncode, 65)

    def test_dead_deliveries_mail_once_metrics_and_pings(self):
        env = self.env
        env.gf('contact', 'add', 'ops@hotel.example', '--role', 'alert')
        env.gf('contact', 'add', 'night@hotel.example', '--role', 'alert', '--job', 'review-nightly')
        env.gf('contact', 'add', 'boss@hotel.example', '--role', 'escalation')
        add_many(env, 6, ['P001', 'P002'])
        env.sim_control('script?status=500&count=10&hotel=H-1002')
        r = self.run_job(expect=1)
        self.assertIn('event=alert_mailed', r.stderr)
        self.assertEqual(len(SmtpSink.messages), 1)
        m = SmtpSink.messages[0]
        self.assertEqual(sorted(m['rcpt']), ['<night@hotel.example>', '<ops@hotel.example>'])
        self.assertIn('Subject: [guestflow] review-nightly: dead_deliveries (P002 (hotel id H-1002))', m['data'])
        self.assertIn("guestflow rerun JOB --dead", m['data'])
        self.assertIn('HTTP 500', m['data'])
        for secret in ('k3y+/=two', 'guest1@example.org'):
            self.assertNotIn(secret, m['data'])
        # Not again while the condition is open (this run has nothing due: exit 0).
        self.run_job(expect=0)
        self.assertEqual(len(SmtpSink.messages), 1)

        prom = open(os.path.join(self.metrics_dir, 'guestflow_review-nightly.prom')).read()
        self.assertRegex(prom, r'guestflow_last_run_exit_code\{job="review-nightly"\} 0\n')
        self.assertRegex(prom, r'guestflow_last_run_timestamp_seconds\{job="review-nightly"\} \d{10}')
        self.assertRegex(prom, r'guestflow_deliveries\{job="review-nightly",state="delivered"\} 3\n')
        self.assertRegex(prom, r'guestflow_deliveries\{job="review-nightly",state="dead"\} 3\n')
        self.assertRegex(prom, r'# TYPE guestflow_last_run_timestamp_seconds gauge')
        self.assertEqual([f for f in os.listdir(self.metrics_dir)], ['guestflow_review-nightly.prom'],
                         'no temp file left behind')
        self.assertEqual(Pings.seen, ['/ping/start', '/ping/fail', '/ping/start', '/ping'])

    def test_contact_hours_zone_and_edit(self):
        env = self.env
        r = env.gf('contact', 'add', 'it@hotel.example', '--role', 'technical', '--name', 'IT on call',
                   '--hours', '22:00-06:00', '--time-zone', 'Europe/Berlin')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(env.gf('contact', 'list').stdout,
                         r'(?m)^1\s+technical\s+it@hotel.example\s+"?IT on call"?\s+\*\s+\*\s+22:00-06:00 Europe/Berlin$')
        for args, code, says in (
                (('--hours', '8-18', '--time-zone', 'UTC'), 65, '--hours refused: support hours are HH:MM-HH:MM'),
                (('--hours', '24:00-08:00', '--time-zone', 'UTC'), 65, '--hours refused'),
                (('--hours', '08:+5-18:00', '--time-zone', 'UTC'), 65, '--hours refused'),
                (('--hours', '08: 5-18:00', '--time-zone', 'UTC'), 65, '--hours refused'),
                (('--name', '--role'), 64, 'unexpected argument'),
                (('--hours', '08:00-18:00'), 64, '--hours needs --time-zone'),
                (('--hours', '08:00-18:00', '--time-zone', 'Mars/Olympus'), 65,
                 'Mars/Olympus is not a time zone PostgreSQL knows'),
                # the tz database's pseudo-zones name no place
                (('--hours', '08:00-18:00', '--time-zone', 'Factory'), 65, 'Factory is not a time zone'),
                (('--hours', '08:00-18:00', '--time-zone', 'posixrules'), 65, 'posixrules is not a time zone'),
                # a window that ends when it starts holds no time
                (('--hours', '00:00-00:00', '--time-zone', 'UTC'), 65, 'end when they start hold no time'),
                (('--hours', '09:30-09:30', '--time-zone', 'UTC'), 65, 'end when they start hold no time'),
                (('--name', 'Evil\x1b[2J'), 65, '--name refused')):
            r = env.gf('contact', 'add', 'x@hotel.example', '--role', 'alert', *args)
            self.assertEqual(r.returncode, code, f'{args}: {r.stderr}')
            self.assertIn(says, r.stderr)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.contacts"), '1')
        # edit: only what is given changes
        r = env.gf('contact', 'edit', '1', '--hours', '08:00-24:00', '--email', 'it-desk@hotel.example')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(env.psql("SELECT role, email, name, support_hours, time_zone FROM guestflow.contacts"),
                         [['technical', 'it-desk@hotel.example', 'IT on call', '08:00-24:00', 'Europe/Berlin']])
        self.assertEqual(env.gf('contact', 'edit', '1', '--role', 'escalation').returncode, 0)
        r = env.gf('contact', 'edit', '1', '--no-hours')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(env.psql("SELECT role, support_hours, time_zone FROM guestflow.contacts"),
                         [['escalation', None, None]])
        r = env.gf('contact', 'edit', '1', '--hours', '09:00-17:00')
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assertIn('contact 1 has no time zone: give --time-zone with --hours', r.stderr)
        self.assertEqual(env.gf('contact', 'edit', '1', '--time-zone', 'Asia/Tokyo').returncode, 0)
        self.assertEqual(env.gf('contact', 'edit', '1', '--hours', '09:00-17:00').returncode, 0)
        self.assertEqual(env.psql("SELECT support_hours, time_zone FROM guestflow.contacts"),
                         [['09:00-17:00', 'Asia/Tokyo']])
        # A zone in any case, as PostgreSQL takes it, stored as it spells it.
        self.assertEqual(env.gf('contact', 'edit', '1', '--time-zone', 'utc').returncode, 0)
        self.assertEqual(env.scalar("SELECT time_zone FROM guestflow.contacts"), 'UTC')
        self.assertEqual(env.gf('contact', 'edit', '1', '--time-zone', 'EUROPE/berlin').returncode, 0)
        r = env.gf('contact', 'add', 'night@hotel.example', '--role', 'alert', '--hours', '22:00-06:00',
                   '--time-zone', 'america/new_york')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(env.psql("SELECT id, time_zone FROM guestflow.contacts ORDER BY id"),
                         [['1', 'Europe/Berlin'], ['2', 'America/New_York']])
        env.psql("DELETE FROM guestflow.contacts WHERE id = 2")
        self.assertEqual(env.gf('contact', 'edit', '7', '--role', 'alert').returncode, 65)
        self.assertEqual(env.gf('contact', 'edit', '1', '--role', 'boss').returncode, 65)
        self.assertEqual(env.gf('contact', 'edit', '1', '--no-hours', '--hours', '01:00-02:00').returncode, 64)
        self.assertEqual(env.gf('contact', 'edit', 'x').returncode, 64)

    def test_each_role_hears_of_its_alerts(self):
        """Issue 17 item 3: alert contacts hear of every alert; technical ones of
        credentials refused and a connection stopped or deactivated; escalation
        ones of a job failing night after night."""
        env = self.env
        env.gf('contact', 'add', 'ops@hotel.example', '--role', 'alert')
        env.gf('contact', 'add', 'it@hotel.example', '--role', 'technical')
        env.gf('contact', 'add', 'boss@hotel.example', '--role', 'escalation')
        add_many(env, 4, ['P001', 'P002'])
        r = env.gf('connection', 'stop', 'P002', 'reviewhub')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('kind=connection_stopped', r.stderr)
        env.psql("UPDATE guestflow.connections SET secret_enc = NULL, secret = 'wrong-key' WHERE property_id = 'P001'")
        self.run_job(expect=1)
        got = {re.search(r'Subject: \[guestflow\] review-nightly: (\w+)', m['data']).group(1): sorted(m['rcpt'])
               for m in SmtpSink.messages}
        self.assertEqual(got, {'auth_failed': ['<it@hotel.example>', '<ops@hotel.example>'],
                               'connection_stopped': ['<it@hotel.example>', '<ops@hotel.example>']})
        stopped = [m['data'] for m in SmtpSink.messages if 'connection_stopped' in m['data']][0]
        self.assertIn('The connection was stopped: by the partner, or by guestflow', stopped)
        self.assertIn('P002 to reviewhub is stopped: stopped by the partner', stopped)
        # Live again: the alert clears; deactivated: raised again, once.
        self.assertEqual(env.gf('connection', 'activate', 'P002', 'reviewhub', *FORCE).returncode, 0)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.alert_events"
                                    " WHERE kind = 'connection_stopped' AND cleared_at IS NULL"), '0')
        self.assertEqual(env.gf('connection', 'deactivate', 'P002', 'reviewhub').returncode, 0)
        self.assertEqual(env.psql("SELECT job, kind FROM guestflow.alert_events a JOIN guestflow.connections c"
                                  " ON c.id = a.connection_id WHERE c.property_id = 'P002' AND cleared_at IS NULL"),
                         [['review-nightly', 'connection_deactivated']])

    def test_a_feed_failing_pulls_in_a_row_alerts_once_and_clears(self):
        """A connection whose event feed cannot be read alerting.failed_pulls
        (here 2) pulls in a row raises pull_failed for it, mailed at the end
        of that pull to the alert and technical contacts (not escalation),
        once; the connection whose feed is read is not counted; the next
        pull that reads the feed clears the alert and the count."""
        env = self.env
        for args in (('ops@hotel.example', '--role', 'alert'),
                     ('tech@hotel.example', '--role', 'technical', '--connection', 'P002', 'reviewhub'),
                     ('esc@hotel.example', '--role', 'escalation')):
            r = env.gf('contact', 'add', *args)
            self.assertEqual(r.returncode, 0, r.stderr)
        r = env.gf('connection', 'set-credentials', 'P002', 'reviewhub', input='wrong-key-12\n')
        self.assertEqual(r.returncode, 0, r.stderr)

        def pull(expect):
            r = env.gf('pull')
            self.assertEqual(r.returncode, expect, f'stdout: {r.stdout}\nstderr: {r.stderr}')
            return r

        def state():
            return (env.psql("SELECT property_id, pull_failures FROM guestflow.connections ORDER BY 1"),
                    env.psql("SELECT c.property_id, e.kind, e.cleared_at IS NULL FROM guestflow.alert_events e"
                             " JOIN guestflow.connections c ON c.id = e.connection_id ORDER BY e.id"))

        r = pull(1)
        self.assertIn('verdict=credentials_refused', r.stderr)
        self.assertEqual(state(), ([['P001', '0'], ['P002', '1']], []))
        self.assertEqual(SmtpSink.messages, [])
        pull(1)
        self.assertEqual(state(), ([['P001', '0'], ['P002', '2']], [['P002', 'pull_failed', 't']]))
        self.assertIn('P002: consent', env.gf('status').stdout)
        self.assertIn('its last 2 pulls failed (alerting.failed_pulls)', env.gf('status').stdout)
        st = json.loads(env.gf('status', '--json').stdout)
        self.assertEqual([(c['property'], c['pull_failures']) for c in st['jobs'][0]['connections']],
                         [('P001', 0), ('P002', 2)])
        self.assertEqual(len(SmtpSink.messages), 1)
        m = SmtpSink.messages[0]
        self.assertIn('Subject: [guestflow] review-nightly: pull_failed (P002 (hotel id H-1002))', m['data'])
        self.assertEqual(sorted(m['rcpt']), ['<ops@hotel.example>', '<tech@hotel.example>'])
        self.assertIn('could not be read 2 pulls in a row (the last: credentials_refused', m['data'])
        self.assertIn('suppression list', m['data'])
        self.assertNotIn('wrong-key-12', m['data'])
        pull(1)  # still failing: the same alert, not mailed again
        self.assertEqual(state(), ([['P001', '0'], ['P002', '3']], [['P002', 'pull_failed', 't']]))
        self.assertEqual(len(SmtpSink.messages), 1)
        r = env.gf('connection', 'set-credentials', 'P002', 'reviewhub', input=self.accounts['H-1002'] + '\n')
        self.assertEqual(r.returncode, 0, r.stderr)
        r = pull(0)
        self.assertIn('event=alert_cleared', r.stderr)
        self.assertEqual(state(), ([['P001', '0'], ['P002', '0']], [['P002', 'pull_failed', 'f']]))
        self.assertEqual(len(SmtpSink.messages), 1)

    def test_a_feed_pulled_by_two_jobs_of_its_partner_raises_and_clears_one_alert(self):
        """A connection is the partner's: each job of the partner pulls its
        feed. Their failures count together, one pull_failed alert is raised
        for the feed, and a pull of either job that reads it clears it."""
        env = self.env
        env.write_config(job_name='review-weekly')
        self.configure()  # (the main file again, with its alerting section)
        r = env.gf('contact', 'add', 'ops@hotel.example', '--role', 'alert')
        self.assertEqual(r.returncode, 0, r.stderr)
        r = env.gf('connection', 'set-credentials', 'P002', 'reviewhub', input='wrong-key-12\n')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(env.gf('pull').returncode, 1)  # both jobs: 2 failed pulls
        self.assertEqual(env.gf('pull').returncode, 1)
        open_alerts = ("SELECT c.property_id, e.kind FROM guestflow.alert_events e"
                       " JOIN guestflow.connections c ON c.id = e.connection_id WHERE e.cleared_at IS NULL")
        self.assertEqual(env.psql(open_alerts), [['P002', 'pull_failed']])
        self.assertEqual(len(SmtpSink.messages), 1)
        r = env.gf('connection', 'set-credentials', 'P002', 'reviewhub', input=self.accounts['H-1002'] + '\n')
        self.assertEqual(r.returncode, 0, r.stderr)
        r = env.gf('pull', 'review-weekly')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(env.psql(open_alerts), [])

    def test_failed_runs_in_a_row_and_success(self):
        env = self.env
        env.gf('contact', 'add', 'ops@hotel.example', '--role', 'alert')
        env.gf('contact', 'add', 'it@hotel.example', '--role', 'technical')
        env.gf('contact', 'add', 'boss@hotel.example', '--role', 'escalation')
        add_many(env, 2, ['P001'])
        self.configure(retry={'max_attempts': 10, 'backoff_initial': '100ms', 'backoff_max': '100ms', 'linger': '0'})
        env.sim_control('script?status=503&count=100')
        self.run_job(expect=69)
        subjects = [re.search(r'Subject: ([^\r\n]*)', m['data']).group(1) for m in SmtpSink.messages]
        self.assertEqual(subjects, ['[guestflow] review-nightly: partner_unreachable (all connections of the job)'])
        time.sleep(0.3)
        self.run_job(expect=69)
        subjects = [re.search(r'Subject: ([^\r\n]*)', m['data']).group(1) for m in SmtpSink.messages]
        self.assertEqual(subjects[1:], ['[guestflow] review-nightly: failed_runs (all connections of the job)'])
        # the unreachable partner: alert contacts only; the nights failing: escalation too
        self.assertEqual([sorted(m['rcpt']) for m in SmtpSink.messages],
                         [['<ops@hotel.example>'], ['<boss@hotel.example>', '<ops@hotel.example>']])
        self.assertIn('the last 2 runs of review-nightly failed', SmtpSink.messages[1]['data'])
        env.sim_control('reset')
        time.sleep(0.3)
        r = self.run_job(expect=0)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.alert_events WHERE cleared_at IS NULL"), '0')
        self.assertEqual(len(SmtpSink.messages), 2)
        self.assertEqual(Pings.seen[-1], '/ping')
        prom = open(os.path.join(self.metrics_dir, 'guestflow_review-nightly.prom')).read()
        self.assertIn('guestflow_last_success_timestamp_seconds{job="review-nightly"}', prom)

    def test_status_says_what_this_host_can_tell_of_a_run_without_its_end(self):
        env = self.env
        me = os.getpid()
        env.psql("INSERT INTO guestflow.runs (job, host, pid, process)"
                 f" VALUES ('review-nightly', '{socket.gethostname()}', {me}, '{proc_identity(me)}')")
        self.assertIn('exit - (running: its process is alive on this host)', env.gf('status').stdout)
        env.psql("INSERT INTO guestflow.runs (job, host, pid) VALUES ('review-nightly', 'elsewhere.example', 4242)")
        self.assertIn('exit - (running, or killed and not yet found so: it ran on another host)',
                      env.gf('status').stdout)

    def test_runs_killed_before_their_end_are_found_and_escalated(self):
        """A run killed before it records its end (the OOM killer, a reboot)
        could not report its failure: the job's next run on the host finds
        its process gone, marks it lost, and counts it toward failed_runs,
        alerting at its start, since it may be killed the same way."""
        v = subprocess.run([GUESTFLOW, '--version'], capture_output=True, text=True, timeout=30).stdout
        if 'GUESTFLOW_FAULT' not in v:
            if os.environ.get('CI') == 'true':
                self.fail('CI build without -Dfault_injection=true: the crash tests cannot run')
            self.skipTest('built without -Dfault_injection=true (tools/test.sh sets it)')
        env = self.env
        # (each run takes over the batches of the one before it, found lost,
        # and is killed with them: an attempt each)
        self.configure(retry={'max_attempts': 10, 'backoff_initial': '100ms', 'backoff_max': '100ms', 'linger': '0'})
        env.gf('contact', 'add', 'ops@hotel.example', '--role', 'alert')
        env.gf('contact', 'add', 'boss@hotel.example', '--role', 'escalation')
        # (a new booking before each killed run)
        for k in range(2):
            add_many(env, 1, ['P001'], start=k + 1)
            r = env.gf('run', 'review-nightly', env={'GUESTFLOW_FAULT': 'after_claim'}, timeout=60)
            self.assertEqual(r.returncode, -9, r.stderr)
        r = env.gf('status')
        self.assertIn('exit - (killed: its process is gone from this host; the job\'s next run records it as lost)',
                      r.stdout)
        self.assertEqual(SmtpSink.messages, [])
        # The third is killed too, after it has found the second (the second
        # found the first) and told: two runs in a row failed.
        add_many(env, 1, ['P001'], start=3)
        r = env.gf('run', 'review-nightly', env={'GUESTFLOW_FAULT': 'after_claim'}, timeout=60)
        self.assertEqual(r.returncode, -9, r.stderr)
        self.assertEqual(r.stderr.count('event=run_lost'), 1, r.stderr)
        pids = [x for (x,) in env.psql("SELECT pid FROM guestflow.runs ORDER BY id")]
        self.assertEqual(env.psql("SELECT id, lost_at IS NOT NULL, message FROM guestflow.runs ORDER BY id")[:2],
                         [[str(i), 't', f'ended without recording its end (killed, or its host restarted): its'
                                        f' process {pids[i - 1]} was gone when run {i + 1} started'] for i in (1, 2)])
        subjects = [re.search(r'Subject: ([^\r\n]*)', m['data']).group(1) for m in SmtpSink.messages]
        self.assertEqual(subjects, ['[guestflow] review-nightly: failed_runs (all connections of the job)'])
        self.assertEqual(sorted(SmtpSink.messages[0]['rcpt']), ['<boss@hotel.example>', '<ops@hotel.example>'])
        self.assertIn('the last 2 runs of review-nightly failed (the latest ended without recording its end',
                      SmtpSink.messages[0]['data'])
        # A run that ends well: the third found lost (its batches taken
        # over), nothing mailed again, the alert cleared, every booking
        # delivered once.
        r = self.run_job(expect=0)
        self.assertEqual(r.stderr.count('event=run_lost'), 1, r.stderr)
        self.assertEqual(len(SmtpSink.messages), 1)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.alert_events WHERE cleared_at IS NULL"), '0')
        self.assertEqual(env.psql("SELECT count(*) FILTER (WHERE lost_at IS NOT NULL), count(*) FILTER"
                                  " (WHERE finished_at IS NOT NULL) FROM guestflow.runs"), [['3', '1']])
        self.assertEqual(self.history_count(), 3)
        # Rows as a run writes them (host, pid, process): this very process is
        # a run still going; one of another PID namespace (a container of the
        # same host name) cannot be judged; one from before the kernel
        # restarted, or of another process of the same pid, is lost. No clock
        # is compared: a skew between the database and this host is no matter.
        me = os.getpid()
        host = env.scalar("SELECT host FROM guestflow.runs WHERE id = 1")
        rows = {'alive': proc_identity(me), 'other namespace': proc_identity(me, ns='pid:[1]'),
                'rebooted': proc_identity(me, boot='00000000-0000-0000-0000-000000000000'),
                'pid reused': proc_identity(me, ticks='1')}
        for what, ident in rows.items():
            env.psql("INSERT INTO guestflow.runs (job, host, pid, process, started_at, message) VALUES"
                     f" ('review-nightly', '{host}', {me}, '{ident}', now() - interval '1 hour', '{what}')")
        r = self.run_job(expect=0)
        self.assertEqual(env.psql("SELECT message LIKE 'ended without%', lost_at IS NOT NULL FROM guestflow.runs"
                                  " WHERE process IS NOT NULL AND pid = " + str(me) + " ORDER BY id"),
                         [['f', 'f'], ['f', 'f'], ['t', 't'], ['t', 't']])
        self.assertEqual(r.stderr.count('event=run_lost'), 2, r.stderr)
        # (the two lost are the last two runs that ended: told at the start)
        self.assertEqual(len(SmtpSink.messages), 2)
        self.assertIn('the latest ended without recording its end', SmtpSink.messages[1]['data'])

    def test_a_mail_server_down_costs_one_attempt_not_one_per_alert(self):
        """Red team: every untold alert tried against a mail server that
        answers nothing cost its own timeout (10 s each, at a run's start and
        end). The first failure of the server, not of an address, leaves the
        others for the next run."""
        env = self.env
        env.gf('contact', 'add', 'ops@hotel.example', '--role', 'alert')
        for kind in ('partner_unreachable', 'failed_runs', 'dead_deliveries'):
            env.psql(f"INSERT INTO guestflow.alert_events (job, kind, message) VALUES ('review-nightly', '{kind}', 'x')")
        with socket.socket() as probe:  # a port nobody listens on
            probe.bind(('127.0.0.1', 0))
            closed = probe.getsockname()[1]
        with open(env.config, encoding='utf-8') as f:
            text = f.read()
        with open(env.config, 'w', encoding='utf-8') as f:
            f.write(text.replace(f'smtp://127.0.0.1:{self.smtp.server_address[1]}', f'smtp://127.0.0.1:{closed}'))
        r = self.run_job(expect=0)
        self.assertEqual(r.stderr.count('event=alert_mail_failed'), 1, r.stderr)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.alert_events WHERE notified_at IS NULL"), '3')

    def test_an_alert_is_mailed_by_one_of_several_processes_ending_together(self):
        """Red team: several processes ending together (workers of a job after
        an outage) each mailed the same untold alert. The one that mails it
        takes it for the while; the others pass it by."""
        env = self.env
        env.gf('contact', 'add', 'ops@hotel.example', '--role', 'alert')
        env.psql("INSERT INTO guestflow.alert_events (job, kind, message) VALUES ('review-nightly', 'dead_deliveries', 'x')")
        SmtpSink.delay = 3
        first = self.start_run()
        wait_for(lambda: SmtpSink.connections == 1, 30, 'the first run mailing the alert')
        r = self.run_job(expect=0)
        self.assertNotIn('event=alert_mailed', r.stderr)
        out, err = first.communicate(timeout=60)
        self.assertEqual(first.returncode, 0, err[-3000:])
        self.assertIn('event=alert_mailed', err)
        self.assertEqual([m['envelopes'] for m in SmtpSink.messages], [1])
        self.assertEqual(env.psql("SELECT notified_at IS NOT NULL, mailing_until FROM guestflow.alert_events"),
                         [['t', None]])

    def test_a_run_stopped_by_a_signal_still_mails_its_alerts(self):
        """The stop ends the mailing at a run's start only (the rest goes
        after it): at its end, the alerts are mailed before it exits."""
        env = self.env
        env.gf('contact', 'add', 'ops@hotel.example', '--role', 'alert')
        env.psql("INSERT INTO guestflow.alert_events (job, kind, message) VALUES ('review-nightly', 'dead_deliveries', 'x')")
        add_many(env, 1, ['P001'])
        env.partner_stall(3)
        p = self.start_run()
        wait_for(lambda: env.scalar("SELECT count(*) FROM guestflow.deliveries WHERE state = 'sending'") == '1',
                 30, 'the batch in flight')
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 75, err[-3000:])
        self.assertIn('event=alert_mailed', err)
        self.assertEqual(len(SmtpSink.messages), 1)

    def test_a_contact_address_the_server_refuses_costs_only_that_contact(self):
        """One alert contact's address refused by the mail server (the person
        left: 550) must not keep the alert from the others, nor have it tried
        again every run: each contact gets its own envelope; the refusal is
        logged naming the address."""
        env = self.env
        env.gf('contact', 'add', 'ops@hotel.example', '--role', 'alert')
        env.gf('contact', 'add', 'left@hotel.example', '--role', 'alert')
        env.gf('contact', 'add', 'night@hotel.example', '--role', 'alert')
        SmtpSink.refuse = {'left@hotel.example'}
        add_many(env, 2, ['P001'])
        self.configure(retry={'max_attempts': 10, 'backoff_initial': '100ms', 'backoff_max': '100ms', 'linger': '0'})
        env.sim_control('script?status=503&count=100')
        r = self.run_job(expect=69)
        self.assertEqual(len(SmtpSink.messages), 1)
        self.assertEqual(sorted(SmtpSink.messages[0]['rcpt']), ['<night@hotel.example>', '<ops@hotel.example>'])
        self.assertIn('event=alert_recipient_refused', r.stderr)
        self.assertRegex(r.stderr, r'to="?left@hotel.example"? error="[^"]*550')
        self.assertIn('recipients=2 refused=1', r.stderr)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.alert_events WHERE notified_at IS NULL"), '0')
        # Told once: the next run mails nothing more for the same alert (only
        # the failed-runs alert it raises, to the same two).
        time.sleep(0.3)
        self.run_job(expect=69)
        self.assertEqual([(re.search(r'review-nightly: (\w+)', m['data']).group(1), m['envelopes'])
                          for m in SmtpSink.messages], [('partner_unreachable', 2), ('failed_runs', 2)])
        # Every address refused: nobody heard, so the alert is tried again.
        SmtpSink.refuse = {'ops@hotel.example', 'left@hotel.example', 'night@hotel.example'}
        env.sim_control('reset')
        # (the retry due now: with linger 0, a run within its backoff exits 1)
        env.psql("UPDATE guestflow.batches SET next_attempt_at = now() WHERE state = 'open'")
        self.run_job(expect=0)
        env.sim_control('script?status=503&count=100')
        add_many(env, 1, ['P001'], start=3)
        r = self.run_job(expect=69)
        self.assertIn('event=alert_mail_failed', r.stderr)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.alert_events WHERE notified_at IS NULL"
                                    " AND cleared_at IS NULL"), '1')

    def test_a_missing_source_adapter_is_a_recorded_run_that_escalates(self):
        """A PMS upgrade that dropped the source view: each run exits 78 with
        nothing planned, but is recorded (status shows it), so that the
        failed-runs alert reaches the escalation contacts instead of the
        nights failing unseen."""
        env = self.env
        env.gf('contact', 'add', 'ops@hotel.example', '--role', 'alert')
        env.gf('contact', 'add', 'boss@hotel.example', '--role', 'escalation')
        add_many(env, 2, ['P001'])
        env.psql("DROP VIEW guestflow.source_bookings")
        for _ in range(2):
            r = self.run_job(expect=78)
            time.sleep(0.3)
        self.assertIn('event=adapter_missing', r.stderr)
        msg = ("the source adapters are missing or not of the contract's shape (guestflow.source_bookings,"
               " source_properties, write_history): nothing planned")
        self.assertEqual(env.psql("SELECT exit_code, planned, message FROM guestflow.runs ORDER BY id"),
                         [['78', '0', msg]] * 2)
        subjects = [re.search(r'Subject: ([^\r\n]*)', m['data']).group(1) for m in SmtpSink.messages]
        self.assertEqual(subjects, ['[guestflow] review-nightly: failed_runs (all connections of the job)'])
        self.assertEqual(sorted(SmtpSink.messages[0]['rcpt']), ['<boss@hotel.example>', '<ops@hotel.example>'])
        self.assertIn('the last 2 runs of review-nightly failed (the latest with exit 78)',
                      SmtpSink.messages[0]['data'])
        r = env.gf('status')
        self.assertRegex(r.stdout, r'last run: 2 \(scheduled\), [^\n]*, exit 78: eligible 0[^\n]*\n    ' + re.escape(msg) + '\n')
        with open(os.path.join(self.metrics_dir, 'guestflow_review-nightly.prom'), encoding='utf-8') as f:
            self.assertIn('guestflow_last_run_exit_code{job="review-nightly"} 78', f.read())
        # Red team: with the run's row not writable either (a disk full), it is
        # still the configuration error (78), not one to retry later (75).
        env.psql("CREATE FUNCTION public.full_disk() RETURNS trigger LANGUAGE plpgsql AS $$"
                 " BEGIN RAISE EXCEPTION 'disk full' USING ERRCODE = '53100'; END $$;"
                 " CREATE TRIGGER full_disk BEFORE INSERT ON guestflow.runs FOR EACH ROW"
                 " EXECUTE FUNCTION public.full_disk()")
        r = self.run_job(expect=78)
        self.assertIn('event=adapter_missing', r.stderr)

    def test_smtp_down_keeps_the_alert_for_the_next_run(self):
        env = self.env
        env.gf('contact', 'add', 'ops@hotel.example', '--role', 'alert')
        add_many(env, 2, ['P001'])
        port = self.smtp.server_address[1]
        self.smtp.shutdown()
        self.smtp.server_close()
        env.sim_control('script?status=500&count=10')
        r = self.run_job(expect=69)
        self.assertIn('event=alert_mail_failed', r.stderr)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.alert_events WHERE notified_at IS NULL"), '2')
        self.smtp = socketserver.ThreadingTCPServer(('127.0.0.1', port), SmtpSink)
        threading.Thread(target=self.smtp.serve_forever, daemon=True).start()
        self.addCleanup(self.smtp.server_close)
        self.addCleanup(self.smtp.shutdown)
        self.run_job()
        self.assertEqual(len(SmtpSink.messages), 2)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.alert_events WHERE notified_at IS NULL"), '0')

    def test_progress_lines(self):
        env = self.env
        add_many(env, 40, ['P001'])
        env.sim_control('latency?ms=400')
        self.configure(batch={'max_records': 5, 'in_flight': 1})
        r = env.gf('run', 'review-nightly', env={'GUESTFLOW_PROGRESS_SECONDS': '1'})
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = re.findall(r'event=progress done=(\d+) total=40 rate=\d+ eta_s=\d+', r.stderr)
        self.assertGreaterEqual(len(lines), 2)
        self.assertEqual([int(x) for x in lines], sorted(int(x) for x in lines))

    def test_live_progress_line_on_a_terminal(self):
        env = self.env
        add_many(env, 20, ['P001'])
        env.sim_control('latency?ms=300')
        self.configure(batch={'max_records': 5, 'in_flight': 1})
        # script(1) gives guestflow a terminal; its transcript is what a person sees.
        from gftest import GUESTFLOW
        out = os.path.join(env.dir, 'tty.log')
        r = subprocess.run(['script', '-qec', f'{GUESTFLOW} -c {env.config} run review-nightly', out],
                           capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, r.stdout[-2000:])
        screen = open(out, 'rb').read().decode('utf-8', errors='replace')
        updates = re.findall(r'\rreview-nightly: (\d+)/20 records, \d+/s, ETA \d+s', screen)
        self.assertGreaterEqual(len(updates), 2, screen[-2000:])
        self.assertEqual(updates[-1], '20')
        self.assertNotIn('event=progress', screen, 'no plain progress lines on a terminal')


if __name__ == '__main__':
    main()
