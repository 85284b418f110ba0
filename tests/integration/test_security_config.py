#!/usr/bin/env python3
"""Secrets and transport in the configuration (issue 14, items 7-9): https://
for partners and pings unless a job opts in to plain http://, TLS 1.2 at
least, proxies only from the configuration (never from the environment),
STARTTLS off loopback, the SMTP password only from a file or systemd
credential, no password in database.conninfo, a main file with a secret
readable only by its owner, and libpq errors that never leak a password."""
import base64
import os
import re
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import warnings

from gftest import GFTestCase, add_booking, add_many, main, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
NETAUX = os.path.join(HERE, 'netaux.py')


def free_port():
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def make_cert(d, san='IP:127.0.0.1'):
    key, crt = os.path.join(d, 'tls.key'), os.path.join(d, 'tls.crt')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt,
                    '-days', '2', '-subj', '/CN=guestflow-test', '-addext', f'subjectAltName={san}'],
                   check=True, capture_output=True, timeout=60)
    return key, crt


class Helper:
    """netaux.py in a process of its own, stopped by its PID."""

    def __init__(self, test, name, *args):
        d = test.env.dir
        self.port_file = os.path.join(d, f'{name}.port')
        self.log = os.path.join(d, f'{name}.log')
        self.out = open(os.path.join(d, f'{name}.out'), 'w')
        self.proc = subprocess.Popen([sys.executable, NETAUX, *args, '--port-file', self.port_file,
                                      '--log', self.log], stdout=self.out, stderr=subprocess.STDOUT)
        test.addCleanup(self.stop)
        wait_for(lambda: os.path.exists(self.port_file) or self.proc.poll() is not None, 20, f'{name} port')
        if self.proc.poll() is not None:
            raise RuntimeError(f'{name} exited at start')
        with open(self.port_file) as f:
            self.port = int(f.read())

    def lines(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return f.read().splitlines()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.out.close()


class TransportTest(GFTestCase):

    def test_plain_http_needs_the_opt_in_and_is_warned_about(self):
        env = self.env
        add_booking(env, 1)
        job = os.path.join(env.jobs_dir, 'review-nightly.yaml')
        env.write_config({'allow_insecure_http': False})
        r = env.gf('check-config')
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertRegex(r.stderr, re.escape(job) + r":\d+:\d+: 'endpoint' must start with https://.*"
                         r"allow_insecure_http: true")
        self.run_job(expect=78)
        self.assertEqual(env.recorded(), [])
        # A ping URL is held to the same rule.
        env.write_config({'allow_insecure_http': False, 'endpoint': 'https://127.0.0.1:9/v1/guests',
                          'ping': {'success': f'http://127.0.0.1:{env.sim_port}/_sim/stats'}})
        r = env.gf('check-config')
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertRegex(r.stderr, re.escape(job) + r":\d+:\d+: 'success' in 'ping' must start with https://")
        # With the opt-in: accepted, and warned about in check-config and at every run.
        env.write_config({'allow_insecure_http': True,
                          'ping': {'success': f'http://127.0.0.1:{env.sim_port}/_sim/stats'}})
        r = env.gf('check-config')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"warning: {job}: 'endpoint' is plain http:// (allow_insecure_http: true)", r.stderr)
        self.assertIn(f"warning: {job}: 'ping.success' is plain http://", r.stderr)
        r = self.run_job(expect=0)
        self.assertRegex(r.stderr, r'level=warn .*event=insecure_http key=endpoint ')
        self.assertRegex(r.stderr, r'level=warn .*event=insecure_http key=ping.success ')
        self.assertEqual(len(env.recorded()), 1)

    def test_proxy_variables_of_the_environment_are_ignored(self):
        env = self.env
        add_many(env, 4, ['P001', 'P002'])
        dead = f'http://127.0.0.1:{free_port()}'
        proxies = {k: dead for k in ('http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY',
                                     'all_proxy', 'ALL_PROXY')}
        r = env.gf('run', 'review-nightly', env=proxies)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        self.assertIn(' delivered=4 ', r.stdout)
        self.assertEqual(len(env.recorded()), 4)

    def test_configured_proxy_is_used_and_no_proxy_bypasses_it(self):
        env = self.env
        add_many(env, 4, ['P001', 'P002'])
        proxy = Helper(self, 'proxy', 'proxy')
        ping = f'http://127.0.0.1:{env.sim_port}/_sim/stats'
        env.write_config({'http': {'proxy': f'http://127.0.0.1:{proxy.port}'}, 'ping': {'start': ping}})
        # NO_PROXY in the environment does not take the partner off the proxy either.
        r = env.gf('run', 'review-nightly', env={'NO_PROXY': '*', 'no_proxy': '*'})
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        self.assertIn(' delivered=4 ', r.stdout)
        seen = proxy.lines()
        posts = [l for l in seen if l.startswith(f'POST http://127.0.0.1:{env.sim_port}/v1/guests?id=H-100')]
        self.assertEqual(len(posts), 2, seen)
        self.assertIn(f'GET {ping}', seen, 'the ping goes through the proxy too')
        self.assertTrue(all('access_key=***' in l for l in posts))
        # http.no_proxy sends the partner around a proxy that is down.
        add_many(env, 2, ['P001'], start=100)
        env.write_config({'http': {'proxy': f'http://127.0.0.1:{free_port()}', 'no_proxy': 'localhost, 127.0.0.1'}})
        r = self.run_job(expect=0)
        self.assertIn(' delivered=2 ', r.stdout)
        self.assertEqual(len(env.recorded()), 6)


class TlsTest(GFTestCase):
    """The partner simulator behind a TLS-terminating forwarder."""

    def forwarder(self, *extra):
        key, crt = make_cert(self.env.dir)
        fwd = Helper(self, 'tls', 'tls-forward', '--cert', crt, '--key', key, '--to', str(self.env.sim_port), *extra)
        return fwd, crt

    def test_https_to_the_simulator(self):
        env = self.env
        add_many(env, 3, ['P001'])
        fwd, crt = self.forwarder()
        env.write_config({'allow_insecure_http': False, 'endpoint': f'https://127.0.0.1:{fwd.port}/v1/guests',
                          'http': {'ca_file': crt}})
        r = env.gf('check-config')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn('warning', r.stderr)
        r = self.run_job(expect=0)
        self.assertNotIn('insecure_http', r.stderr)
        self.assertEqual(len(env.recorded()), 3)
        self.assertTrue(any(re.match(r'handshake ok: TLSv1\.[23]$', l) for l in fwd.lines()), fwd.lines())

    def test_sslkeylogfile_from_the_environment_is_not_honoured(self):
        """libcurl and OpenSSL would write every TLS session secret to the file
        SSLKEYLOGFILE names: guestflow unsets it, with a warning."""
        env = self.env
        add_many(env, 2, ['P001'])
        fwd, crt = self.forwarder()
        env.write_config({'allow_insecure_http': False, 'endpoint': f'https://127.0.0.1:{fwd.port}/v1/guests',
                          'http': {'ca_file': crt}})
        log = os.path.join(env.dir, 'tls-keys.log')
        r = env.gf('run', 'review-nightly', env={'SSLKEYLOGFILE': log})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(env.recorded()), 2)
        self.assertTrue(any(l.startswith('handshake ok') for l in fwd.lines()), fwd.lines())
        self.assertFalse(os.path.exists(log), 'TLS session secrets written where the environment says')
        self.assertIn('event=env_ignored name=SSLKEYLOGFILE', r.stderr)

    def test_tls_below_1_2_is_refused(self):
        env = self.env
        add_booking(env, 1)
        fwd, crt = self.forwarder('--max-tls', '1.1')
        # A host whose OpenSSL policy still allows TLS 1.0/1.1 (Debian's
        # default forbids it, which would hide a missing floor in guestflow).
        conf = os.path.join(env.dir, 'openssl-legacy.cnf')
        with open(conf, 'w') as f:
            f.write('openssl_conf = default_conf\n[default_conf]\nssl_conf = ssl_sect\n[ssl_sect]\n'
                    'system_default = system_default_sect\n[system_default_sect]\n'
                    'MinProtocol = TLSv1\nCipherString = DEFAULT:@SECLEVEL=0\n')
        # The forwarder really speaks TLS 1.1 to a client that allows it...
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', DeprecationWarning)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(crt)
            ctx.set_ciphers('DEFAULT:@SECLEVEL=0')
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
            try:
                with socket.create_connection(('127.0.0.1', fwd.port), timeout=10) as raw, \
                        ctx.wrap_socket(raw, server_hostname='127.0.0.1') as s:
                    version = s.version()
            except ssl.SSLError as e:
                self.skipTest(f'this OpenSSL cannot make a TLS 1.1 connection at all ({e}); '
                              'the TLS 1.2 floor is then only set, not shown')
        self.assertEqual(version, 'TLSv1.1')
        # ... but guestflow, under that permissive policy, does not.
        env.write_config({'allow_insecure_http': False, 'endpoint': f'https://127.0.0.1:{fwd.port}/v1/guests',
                          'http': {'ca_file': crt}, 'retry': {'linger': '0'}})
        r = env.gf('run', 'review-nightly', env={'OPENSSL_CONF': conf})
        self.assertEqual(r.returncode, 69, r.stderr[-3000:])
        err = env.scalar('SELECT error FROM guestflow.api_calls')
        self.assertRegex(err, r'(?i)(protocol version|unsupported protocol|alert|ssl)')
        self.assertEqual(self.states(), {'pending': 1})
        self.assertEqual(env.recorded(), [])
        # The forwarder saw guestflow's handshakes fail; only the probe above got through.
        self.assertEqual(sum(l.startswith('handshake ok') for l in fwd.lines()), 1, fwd.lines())
        self.assertTrue(any(l.startswith('handshake failed') for l in fwd.lines()), fwd.lines())


class SmtpSink(socketserver.StreamRequestHandler):
    """SMTP enough to receive messages, with AUTH PLAIN and LOGIN; no STARTTLS.
    Every command goes to server.commands, messages to server.messages,
    (user, password) pairs to server.auth."""

    def reply(self, line):
        self.wfile.write(line.encode() + b'\r\n')

    def readline(self):
        line = self.rfile.readline()
        if not line:
            raise EOFError
        return line.decode(errors='replace').rstrip('\r\n')

    def handle(self):
        srv = self.server
        self.reply('220 sink ESMTP')
        mail = None
        try:
            while True:
                cmd = self.readline()
                up = cmd.upper()
                srv.commands.append(cmd)
                if up.startswith('EHLO'):
                    self.reply('250-sink')
                    self.reply('250 AUTH PLAIN LOGIN')
                elif up.startswith('HELO'):
                    self.reply('250 sink')
                elif up.startswith('AUTH PLAIN'):
                    arg = cmd[10:].strip()
                    if not arg:
                        self.reply('334 ')
                        arg = self.readline()
                    _, user, pw = base64.b64decode(arg).decode().split('\0')
                    srv.auth.append((user, pw))
                    self.reply('235 ok')
                elif up.startswith('AUTH LOGIN'):
                    self.reply('334 VXNlcm5hbWU6')
                    user = base64.b64decode(self.readline()).decode()
                    self.reply('334 UGFzc3dvcmQ6')
                    pw = base64.b64decode(self.readline()).decode()
                    srv.auth.append((user, pw))
                    self.reply('235 ok')
                elif up.startswith('MAIL FROM:'):
                    mail = {'from': cmd[10:].strip(), 'rcpt': []}
                    self.reply('250 ok')
                elif up.startswith('RCPT TO:'):
                    mail['rcpt'].append(cmd[8:].strip())
                    self.reply('250 ok')
                elif up == 'DATA':
                    self.reply('354 go')
                    data = []
                    while True:
                        l = self.readline()
                        if l == '.':
                            break
                        data.append(l)
                    mail['data'] = '\n'.join(data)
                    srv.messages.append(mail)
                    self.reply('250 queued')
                elif up == 'QUIT':
                    self.reply('221 bye')
                    return
                else:
                    self.reply('502 not here')
        except EOFError:
            return


class SmtpTest(GFTestCase):

    def sink(self, host='127.0.0.1'):
        try:
            srv = socketserver.ThreadingTCPServer((host, 0), SmtpSink)
        except OSError as e:
            self.skipTest(f'cannot listen on {host}: {e}')
        srv.daemon_threads = True
        srv.commands, srv.messages, srv.auth = [], [], []
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        return srv

    def configure(self, alerting, extra=''):
        """The job fails (partner_unreachable, one alert mail); alerting is
        the main file's alerting section as YAML lines."""
        env = self.env
        env.write_config({'retry': {'max_attempts': 10, 'backoff_initial': '100ms', 'backoff_max': '100ms',
                                    'linger': '0'}})
        with open(env.config, 'a') as f:
            f.write('alerting:\n' + ''.join(f'  {l}\n' for l in alerting) + extra)

    def failing_run(self, **kw):
        env = self.env
        env.gf('contact', 'add', 'ops@hotel.example', '--role', 'alert')
        add_many(env, 2, ['P001'])
        env.sim_control('script?status=503&count=100')
        r = env.gf('run', 'review-nightly', **kw)
        self.assertEqual(r.returncode, 69, r.stderr[-3000:])
        return r

    def test_mail_over_loopback_without_auth_still_arrives(self):
        sink = self.sink()
        self.configure([f'smtp_url: "smtp://127.0.0.1:{sink.server_address[1]}"'])
        # Mail never goes through a proxy, not even one from the environment.
        dead = f'socks5://127.0.0.1:{free_port()}'
        r = self.failing_run(env={'all_proxy': dead, 'ALL_PROXY': dead})
        self.assertIn('event=alert_mailed', r.stderr)
        self.assertEqual(len(sink.messages), 1)
        self.assertIn('partner_unreachable', sink.messages[0]['data'])
        self.assertEqual(sink.auth, [])

    def test_password_in_smtp_url_is_refused(self):
        sink = self.sink()
        self.configure([f'smtp_url: "smtp://alerts:Pa55-w0rd@127.0.0.1:{sink.server_address[1]}"'])
        r = self.env.gf('check-config')
        self.assertEqual(r.returncode, 78)
        self.assertRegex(r.stderr, re.escape(self.env.config) + r":\d+:\d+: 'smtp_url' must not hold a password")
        self.assertNotIn('Pa55-w0rd', r.stdout + r.stderr)
        r = self.run_job(expect=78)
        self.assertNotIn('Pa55-w0rd', r.stdout + r.stderr)

    def test_password_from_a_file(self):
        env = self.env
        sink = self.sink()
        pw = os.path.join(env.dir, 'smtp-password')
        with open(pw, 'w') as f:
            f.write('s3cret pw\n')
        os.chmod(pw, 0o600)
        self.configure([f'smtp_url: "smtp://127.0.0.1:{sink.server_address[1]}"', 'smtp_user: "alerts"',
                        f'smtp_password_file: "{pw}"'])
        r = env.gf('check-config')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"SMTP AUTH as 'alerts' with the password from {pw}", r.stdout)
        r = self.failing_run()
        self.assertEqual(sink.auth, [('alerts', 's3cret pw')])
        self.assertEqual(len(sink.messages), 1)
        self.assertNotIn('s3cret', r.stdout + r.stderr)
        # A password file others can read is not used (and the alert waits for the next run).
        os.chmod(pw, 0o644)
        r = env.gf('check-config')
        self.assertEqual(r.returncode, 78)
        self.assertIn(f'{pw} is readable by others (mode 0644)', r.stderr)

    def test_password_from_the_systemd_credential(self):
        env = self.env
        sink = self.sink()
        creds = os.path.join(env.dir, 'credentials')
        os.makedirs(creds)
        with open(os.path.join(creds, 'smtp-password'), 'w') as f:
            f.write('from-systemd')
        os.chmod(os.path.join(creds, 'smtp-password'), 0o400)
        self.configure([f'smtp_url: "smtp://alerts@127.0.0.1:{sink.server_address[1]}"'])
        r = self.failing_run(env={'CREDENTIALS_DIRECTORY': creds})
        self.assertIn('event=alert_mailed', r.stderr)
        self.assertEqual(sink.auth, [('alerts', 'from-systemd')])

    def test_starttls_is_required_off_loopback(self):
        # Loopback means 127.0.0.1, ::1 and localhost only: a sink on
        # 127.0.0.2 stands for a mail server across a network.
        sink = self.sink('127.0.0.2')
        self.configure([f'smtp_url: "smtp://127.0.0.2:{sink.server_address[1]}"'])
        r = self.env.gf('check-config')
        self.assertIn('mail over STARTTLS required', r.stdout)
        r = self.failing_run()
        self.assertRegex(r.stderr, r'event=alert_mail_failed .*STARTTLS')
        self.assertEqual(sink.messages, [], 'no mail in plain text')
        self.assertFalse(any(c.upper().startswith(('MAIL', 'AUTH', 'DATA')) for c in sink.commands), sink.commands)
        self.assertEqual(self.env.scalar('SELECT count(*) FROM guestflow.alert_events WHERE notified_at IS NULL'),
                         '1', 'the alert waits for a run that can mail it')


class MainFileSecretTest(GFTestCase):

    def write_main(self, conninfo, mode):
        env = self.env
        with open(env.config, 'w') as f:
            f.write(f'database:\n  conninfo: "{conninfo}"\njobs_dir: jobs.d\nsecrets:\n  key_file: "{env.key_file}"\n')
        os.chmod(env.config, mode)

    def test_group_readable_main_file_with_a_secret_is_refused(self):
        env = self.env
        add_booking(env, 1)
        # sslpassword (the client key's pass phrase) is the one secret libpq
        # takes only from the connection string.
        conninfo = env.conninfo + ' sslpassword=Key-Pass-1'
        self.write_main(conninfo, 0o640)
        for cmd in (['check-config'], ['run', 'review-nightly'], ['status']):
            r = env.gf(*cmd)
            self.assertEqual(r.returncode, 78, (cmd, r.stderr))
            self.assertRegex(r.stderr, re.escape(env.config) + r':\d+:\d+: .*sslpassword.* '
                             + re.escape(env.config) + r' is readable by group or others \(mode 0640\)')
            self.assertNotIn('Key-Pass-1', r.stdout + r.stderr)
        os.chmod(env.config, 0o600)
        self.assertEqual(env.gf('check-config').returncode, 0)
        r = self.run_job(expect=0)
        self.assertIn(' delivered=1 ', r.stdout)
        # Without a secret the file may be read by anyone.
        self.write_main(env.conninfo, 0o644)
        self.assertEqual(env.gf('check-config').returncode, 0)


class DatabasePasswordTest(GFTestCase):

    def write_main(self, conninfo):
        with open(self.env.config, 'w') as f:
            f.write(f"database:\n  conninfo: '{conninfo}'\njobs_dir: jobs.d\n")
        os.chmod(self.env.config, 0o600)

    def test_password_in_conninfo_is_refused_in_every_form(self):
        env = self.env
        sock = re.search(r'host=(\S+)', env.conninfo).group(1)
        forms = {
            'Pw-Keyword-1': env.conninfo + ' password=Pw-Keyword-1',
            'Pw Quoted 2': env.conninfo + " password=''Pw Quoted 2''",
            'Pw-Uri-3': f'postgresql://postgres:Pw-Uri-3@/guestflow?host={sock}',
            'Pw-Query-4': f'postgresql:///guestflow?host={sock}&user=postgres&password=Pw-Query-4',
        }
        for pw, conninfo in forms.items():
            self.write_main(conninfo)
            for cmd in (['check-config'], ['db', 'migrate'], ['run', 'review-nightly']):
                r = env.gf(*cmd)
                self.assertEqual(r.returncode, 78, (conninfo, cmd, r.stderr))
                self.assertRegex(r.stderr, re.escape(env.config) + r":2:\d+: 'conninfo' must not hold a password")
                self.assertNotIn(pw, r.stdout + r.stderr)

    def test_a_connection_string_libpq_cannot_read_is_not_echoed(self):
        env = self.env
        self.write_main('postgresql://postgres:Pw-Broken-5@[::1/guestflow')
        r = env.gf('run', 'review-nightly')
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn("'conninfo' is not a connection string libpq can read", r.stderr)
        self.assertNotIn('Pw-Broken-5', r.stdout + r.stderr)

    def test_libpq_errors_are_redacted_before_they_are_logged(self):
        env = self.env
        # A database name that is itself a URI: libpq does not expand it (no
        # password is used), but the server's "does not exist" echoes it.
        sock = re.search(r'host=(\S+)', env.conninfo).group(1)
        self.write_main(f"host={sock} user=postgres dbname=''postgresql://u:Pw-Echo-6@db/x''")
        self.assertEqual(env.gf('check-config').returncode, 0)
        r = env.gf('run', 'review-nightly')
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertRegex(r.stderr, r'event=db_connect_failed error=.*postgresql://u:\*\*\*@db/x.*does not exist')
        self.assertNotIn('Pw-Echo-6', r.stdout + r.stderr)
        # A password libpq takes from the environment is never echoed either.
        self.write_main(f'host={sock} user=postgres dbname=nonexistent_Pw-Env-7')
        r = env.gf('run', 'review-nightly', env={'PGPASSWORD': 'Pw-Env-7'})
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn('nonexistent_***', r.stderr)
        self.assertNotIn('Pw-Env-7', r.stdout + r.stderr)


if __name__ == '__main__':
    main()
