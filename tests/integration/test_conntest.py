#!/usr/bin/env python3
"""guestflow connection test (PARTNERS.md "test call"), for each output:
the test call with the stored credentials against the partner simulator
(review-xml GET .../ping, guest-json GET .../properties/ID) and an OpenSSH
sshd (visits-csv: login, listing, a probe file written and removed), one
verdict line with what to do, its own exit code, and the result recorded
on the connection."""
import http.server
import os

import sshaux
from gftest import GFTestCase, add_booking, main
from test_transport import serve

EXIT = {'ok': 0, 'credentials_refused': 77, 'unknown_id': 67, 'peer_refused': 79, 'unreachable': 69,
        'unexpected': 76}


class Odd(http.server.BaseHTTPRequestHandler):
    """A server that answers every GET with what the test sets."""
    protocol_version = 'HTTP/1.1'
    status, body = 200, b'hello'

    def do_GET(self):
        self.send_response(self.status)
        self.send_header('Content-Type', 'text/plain')
        self.send_header('Content-Length', str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


class ConnTestCase(GFTestCase):

    def check(self, prop, verdict, *, partner='reviewhub', has=()):
        r = self.env.gf('connection', 'test', prop, partner)
        self.assertEqual(r.returncode, EXIT[verdict], f'stdout: {r.stdout}\nstderr: {r.stderr}')
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 1, r.stdout)
        self.assertIn(f'): {verdict}', lines[0])
        for h in has:
            self.assertIn(h, lines[0])
        for secret in self.accounts.values():
            self.assertNotIn(secret, r.stdout + r.stderr)
        got = self.env.psql("SELECT last_test_verdict, last_test_at > now() - interval '1 minute'"
                            " FROM guestflow.connections WHERE property_id = '%s'" % prop)
        self.assertEqual(got, [[verdict, 't']])
        show = self.env.gf('connection', 'show', prop, partner).stdout
        self.assertRegex(show, rf'last test: +\S+ \S+ \S+ {verdict}')
        return lines[0]

    def configure(self, **job):
        """The job file, with the class's job keys and job."""
        self.env.write_config(dict(self.job_overrides or {}, **job))

    def serve(self, handler, tls_san=None):
        return serve(self, handler, tls_san)


class ReviewXmlConnTest(ConnTestCase):

    def test_verdicts_from_the_partner(self):
        env = self.env
        self.assertIn('last test:   never', env.gf('connection', 'show', 'P001', 'reviewhub').stdout)
        line = self.check('P001', 'ok', has=('hotel id H-1001', 'knows the hotel id'))
        self.assertRegex(line, r'ok in \d+ ms')
        self.assertEqual(env.sim_stats()['requests'], 0, 'a test call is not a guest list')
        # A wrong key: refused, and what to do.
        r = env.gf('connection', 'set-credentials', 'P002', 'reviewhub', input='wrong-key-12\n')
        self.assertEqual(r.returncode, 0, r.stderr)
        line = self.check('P002', 'credentials_refused', has=('HTTP 403', 'connection set-credentials'))
        self.assertNotIn('wrong-key-12', line)
        # A hotel the partner does not know.
        env.stop_sim()
        env.start_sim({'H-1001': self.accounts['H-1001']})
        self.configure()
        self.check('P002', 'unknown_id', has=('HTTP 404', 'check the hotel id'))
        # The first connection still passes; the result is per connection.
        self.check('P001', 'ok')
        self.assertEqual(env.psql("SELECT property_id, last_test_verdict FROM guestflow.connections ORDER BY 1"),
                         [['P001', 'ok'], ['P002', 'unknown_id']])

    def test_new_credentials_clear_the_auth_alert_once_a_test_passes(self):
        """Issue 17 item 9: set-credentials replaces the key (never logged);
        the auth_failed alert a run raised stays until a test passes."""
        env = self.env
        add_booking(env, 1, prop='P002')
        r = env.gf('connection', 'set-credentials', 'P002', 'reviewhub', input='wrong-key-12\n')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.run_job(expect=1)
        open_alerts = ("SELECT count(*) FROM guestflow.alert_events a JOIN guestflow.connections c"
                       " ON c.id = a.connection_id WHERE c.property_id = 'P002' AND a.kind = 'auth_failed'"
                       " AND a.cleared_at IS NULL")
        self.assertEqual(env.scalar(open_alerts), '1')
        self.check('P002', 'credentials_refused')
        self.assertEqual(env.scalar(open_alerts), '1', 'a failed test clears nothing')
        r = env.gf('connection', 'set-credentials', 'P002', 'reviewhub', input=self.accounts['H-1002'] + '\n')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn(self.accounts['H-1002'], r.stdout + r.stderr)
        self.assertEqual(env.scalar(open_alerts), '1', 'new credentials alone clear nothing')
        # A second job of the partner: a test of one job clears only its own.
        env.write_config(job_name='other-job')
        env.write_config()
        env.psql("INSERT INTO guestflow.alert_events (job, connection_id, kind, message)"
                 " SELECT 'other-job', id, 'auth_failed', 'refused' FROM guestflow.connections"
                 " WHERE property_id = 'P002'")
        r = env.gf('connection', 'test', 'P002', 'reviewhub', '--job', 'review-nightly')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn('event=alert_cleared', r.stderr)
        self.assertEqual(env.psql("SELECT job FROM guestflow.alert_events WHERE kind = 'auth_failed'"
                                  " AND cleared_at IS NULL"), [['other-job']])
        r = env.gf('connection', 'test', 'P002', 'reviewhub')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(env.scalar(open_alerts), '0')

    def test_no_answer_and_odd_answers(self):
        env = self.env
        env.write_config({'endpoint': 'http://127.0.0.1:1/v1/guests'})
        self.check('P001', 'unreachable', has=('check job review-nightly', 'endpoint'))
        port, _ = self.serve(Odd)
        env.write_config({'endpoint': f'http://127.0.0.1:{port}/v1/guests'})
        self.check('P001', 'unexpected', has=('HTTP 200, but reply: not well-formed XML',))
        Odd.status, Odd.body = 200, b'<pong xmlns="urn:guestflow:review-xml:1" hotelId="H-9"/>'
        self.addCleanup(setattr, Odd, 'body', b'hello')
        self.check('P001', 'unexpected', has=('names hotel "H-9", not the connection',))
        Odd.status = 500
        self.addCleanup(setattr, Odd, 'status', 200)
        self.check('P001', 'unreachable', has=('HTTP 500',))

    def test_a_certificate_not_trusted_is_refused(self):
        env = self.env
        port, crt = self.serve(Odd, tls_san='IP:127.0.0.1')
        env.write_config({'endpoint': f'https://127.0.0.1:{port}/v1/guests'})
        self.check('P001', 'peer_refused', has=('TLS certificate',))
        # Trusted through http.ca_file: the server is reached (and answers oddly).
        env.write_config({'endpoint': f'https://127.0.0.1:{port}/v1/guests', 'http': {'ca_file': crt}})
        self.check('P001', 'unexpected')

    def test_usage_and_unknown_names(self):
        env = self.env
        r = env.gf('connection', 'test', 'P001')
        self.assertEqual(r.returncode, 64, r.stderr)
        r = env.gf('connection', 'test', 'P404', 'reviewhub')
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assertIn('no connection', r.stderr)
        r = env.gf('connection', 'test', 'P001', 'nobody')
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn('no job sends to partner', r.stderr)
        r = env.gf('connection', 'test', 'P001', 'reviewhub', '--job', 'other')
        self.assertEqual(r.returncode, 78, r.stderr)
        r = env.gf('connection', 'test', 'P001', 'reviewhub', '--job', 'review-nightly')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class GuestJsonConnTest(ConnTestCase):
    accounts = {'PX-1': 'tok3n+/=one', 'PX-2': 'tok3n+/=two'}
    properties = {'P001': 'PX-1', 'P002': 'PX-2'}
    job_overrides = {'format': 'guest-json'}

    def test_verdicts_from_the_partner(self):
        env = self.env
        self.check('P001', 'ok', has=('property id PX-1', 'took the API token'))
        r = env.gf('connection', 'set-credentials', 'P002', 'reviewhub', input='wrong-token-1\n')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check('P002', 'credentials_refused', has=('HTTP 401', 'API token'))
        env.stop_sim()
        env.start_sim({'PX-1': self.accounts['PX-1']})
        self.configure()
        self.check('P002', 'unknown_id', has=('HTTP 404', 'property id'))

    def test_a_reply_for_another_property_is_unexpected(self):
        env = self.env
        Odd.body = b'{"id": "PX-9", "name": "Elsewhere"}'
        self.addCleanup(setattr, Odd, 'body', b'hello')
        port, _ = self.serve(Odd)
        self.configure(endpoint=f'http://127.0.0.1:{port}/api')
        self.check('P001', 'unexpected', has=('names property PX-9',))


class VisitsCsvConnTest(ConnTestCase):
    sftp = True

    def test_the_account_is_tested_with_a_probe_file(self):
        env = self.env
        self.check('P001', 'ok', has=('wrote and removed a probe file',))
        self.assertEqual(os.listdir(env.sftp.dir), ['errors'], 'the probe file is removed')
        self.assertEqual(env.sftp.files(), [])
        # The job's directory missing.
        self.configure(endpoint=env.sftp.endpoint + 'missing/')
        self.check('P001', 'unexpected', has=('directory is not there',))
        self.configure()
        # A host key that is not the known one: not connected.
        other = os.path.join(env.dir, 'other_host')
        sshaux.keygen(other)
        with open(env.sftp.known_hosts, 'w', encoding='utf-8') as f:
            f.write(env.sftp.known_hosts_line(other + '.pub'))
        self.check('P001', 'peer_refused', has=('differs from the one in', 'SSH host key'))
        with open(env.sftp.known_hosts, 'w', encoding='utf-8') as f:
            f.write(env.sftp.known_hosts_line())
        # A key the server does not take: the job's login refused.
        stranger = os.path.join(env.dir, 'stranger')
        sshaux.keygen(stranger)
        env.base_job['sftp'] = dict(env.base_job['sftp'], private_key_file=stranger)
        self.configure()
        self.check('P002', 'credentials_refused', has=('refused the job', "sftp section"))
        # The server gone: unreachable.
        env.base_job['sftp'] = dict(env.base_job['sftp'], private_key_file=env.sftp.user_key)
        self.configure()
        env.sftp.stop_sshd()
        self.check('P001', 'unreachable')


if __name__ == '__main__':
    main()
