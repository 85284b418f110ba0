#!/usr/bin/env python3
"""Transport: several batches in flight, keep-alive across batches, strict
TLS (certificate and host name verified), gzip on the wire."""
import gzip
import http.server
import os
import re
import ssl
import subprocess
import threading
import time

from gftest import GFTestCase, add_booking, main


class TransportTest(GFTestCase):

    def test_batches_go_out_concurrently_up_to_in_flight(self):
        env = self.env
        for n in range(1, 9):
            add_booking(env, n, prop='P001' if n % 2 else 'P002')
        env.sim_control('latency?ms=300')
        env.write_config({'batch': {'max_records': 1, 'in_flight': 4}})
        self.run_job(expect=0)
        self.assertGreaterEqual(env.sim_stats()['max_concurrent'], 2)
        self.assertLessEqual(env.sim_stats()['max_concurrent'], 4)
        self.assertEqual(len(env.recorded()), 8)

    def test_a_slow_connection_does_not_hold_up_the_others(self):
        env = self.env
        add_booking(env, 1, prop='P001')
        for n in range(2, 12):
            add_booking(env, n, prop='P002')
        # H-1001's partner account answers after 3 s (under the 5 s timeout); H-1002's at once.
        env.sim_control('script?action=stall&seconds=3&count=1&hotel=H-1001')
        env.write_config({'batch': {'max_records': 1, 'in_flight': 2}})
        t0 = time.monotonic()
        r = self.run_job(expect=0)
        elapsed = time.monotonic() - t0
        # The ten batches of H-1002 went through the other slot while
        # H-1001's one request waited: all of them were delivered before it.
        order = [m.group(1) for m in re.finditer(r'event=api_call batch=\d+ connection=(\d+)', r.stderr)]
        self.assertEqual(len(order), 11, r.stderr)
        slow = env.scalar("SELECT id FROM guestflow.connections WHERE id_at_partner = 'H-1001'")
        self.assertEqual(order[-1], slow, f'the slow connection answered last: {order}')
        self.assertEqual(len(env.recorded()), 11)
        self.assertLess(elapsed, 3 + 5, 'the others were sent while the slow one waited, not after')

    def test_in_flight_one_is_serial_and_reuses_the_connection(self):
        env = self.env
        for n in range(1, 6):
            add_booking(env, n)
        env.sim_control('latency?ms=50')
        env.write_config({'batch': {'max_records': 1, 'in_flight': 1}})
        r = self.run_job(expect=0)
        self.assertEqual(env.sim_stats()['max_concurrent'], 1)
        opened = [int(x) for x in re.findall(r'event=api_call .*new_connections=(\d+)', r.stderr)]
        self.assertEqual(len(opened), 5)
        self.assertEqual(sum(opened), 1, f'keep-alive: one connection for all batches, got {opened}')

    def test_gzip_bodies_on_the_wire(self):
        env = self.env
        add_booking(env, 1)
        r = self.run_job(expect=0)
        req, resp = env.psql("SELECT request_bytes, response_bytes FROM guestflow.api_calls")[0]
        self.assertGreater(int(req), 0)
        # A single small guest compresses to well under its XML size (~450 bytes).
        self.assertLess(int(req), 400)


def make_cert(d, san):
    key, crt = os.path.join(d, 'tls.key'), os.path.join(d, 'tls.crt')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt,
                    '-days', '2', '-subj', '/CN=guestflow-test', '-addext', f'subjectAltName={san}'],
                   check=True, capture_output=True, timeout=60)
    return key, crt


class Partner(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        if self.headers.get('Content-Encoding') == 'gzip':
            body = gzip.decompress(body)
        n = body.count(b'<guest>')
        out = f'<importResult xmlns="urn:guestflow:review-xml:1" accepted="{n}" rejected="0"/>'.encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/xml')
        self.send_header('Content-Length', str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


def serve(test, handler, tls_san=None):
    """An HTTP server of handler on 127.0.0.1 for the test (TLS with a
    certificate of its own for tls_san), stopped at its cleanup: its port
    and the certificate's file (None without TLS)."""
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    crt = None
    if tls_san:
        key, crt = make_cert(test.env.dir, tls_san)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    test.addCleanup(srv.server_close)
    test.addCleanup(srv.shutdown)
    return srv.server_address[1], crt


class TlsTest(GFTestCase):

    def start_https(self, san):
        return serve(self, Partner, san)

    def test_certificate_verified(self):
        env = self.env
        add_booking(env, 1)
        port, crt = self.start_https('IP:127.0.0.1')
        # An unknown certificate authority: refused, nothing delivered.
        env.write_config({'endpoint': f'https://127.0.0.1:{port}/v1/guests', 'retry': {'linger': '0'}})
        r = self.run_job(expect=69)
        err = env.scalar("SELECT error FROM guestflow.api_calls")
        self.assertRegex(err, '(?i)certificate')
        self.assertEqual(self.states(), {'pending': 1})
        # Trusting that certificate: delivered.
        env.psql("UPDATE guestflow.batches SET next_attempt_at = now()")
        env.write_config({'endpoint': f'https://127.0.0.1:{port}/v1/guests', 'http': {'ca_file': crt}})
        r = self.run_job(expect=0)
        self.assertIn(' delivered=1 ', r.stdout)

    def test_host_name_verified(self):
        env = self.env
        add_booking(env, 1)
        port, crt = self.start_https('DNS:partner.invalid')
        env.write_config({'endpoint': f'https://127.0.0.1:{port}/v1/guests', 'http': {'ca_file': crt},
                          'retry': {'linger': '0'}})
        self.run_job(expect=69)
        err = env.scalar("SELECT error FROM guestflow.api_calls")
        self.assertRegex(err, '(?i)(certificate|subject|name)')
        self.assertEqual(self.states(), {'pending': 1})


class Misbehaving(http.server.BaseHTTPRequestHandler):
    """Answers from a script: 'huge' (a 3 MiB 200 reply), 'truncated' (a 200
    whose body stops short), then proper import results."""
    protocol_version = 'HTTP/1.1'
    script = []
    seen = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        if self.headers.get('Content-Encoding') == 'gzip':
            body = gzip.decompress(body)
        Misbehaving.seen.append(self.headers.get('Idempotency-Key'))
        what = Misbehaving.script.pop(0) if Misbehaving.script else 'ok'
        if what == 'huge':
            out = b'<importResult accepted="1" rejected="0">' + b'x' * (3 << 20) + b'</importResult>'
        elif what == 'truncated':
            self.send_response(200)
            self.send_header('Content-Length', '5000')
            self.end_headers()
            self.wfile.write(b'<importResult accepted="1"')
            self.wfile.flush()
            self.close_connection = True
            return
        else:
            n = body.count(b'<guest>')
            out = f'<importResult accepted="{n}" rejected="0"/>'.encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(out)))
        self.end_headers()
        try:
            self.wfile.write(out)
        except (BrokenPipeError, ConnectionResetError):
            pass  # guestflow stops reading at its cap

    def log_message(self, *args):
        pass


class HugeHeader(http.server.BaseHTTPRequestHandler):
    """A partner whose answers for hotel H-1001 carry a 200 KB header line
    (past libcurl's limit for one header); the others proper import results."""
    protocol_version = 'HTTP/1.1'

    def handle(self):
        try:
            super().handle()
        except ConnectionResetError:
            pass  # guestflow hung up at the header

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        if self.headers.get('Content-Encoding') == 'gzip':
            body = gzip.decompress(body)
        n = body.count(b'<guest>')
        out = f'<importResult accepted="{n}" rejected="0"/>'.encode()
        self.send_response(200)
        if 'id=H-1001' in self.path:
            self.send_header('X-Trace', 'a' * 200_000)
        self.send_header('Content-Length', str(len(out)))
        self.end_headers()
        try:
            self.wfile.write(out)
        except (BrokenPipeError, ConnectionResetError):
            pass  # guestflow hung up at the header

    def log_message(self, *args):
        pass


class BadReplyTest(GFTestCase):

    def test_a_reply_header_too_large_is_said_so_and_retried(self):
        """libcurl calls a header line over its limit 'Out of memory': the
        error says what happened; the batch is retried as any reply cut short
        (the partner may hold it), and the other connection's go out."""
        env = self.env
        add_booking(env, 1, prop='P001')
        add_booking(env, 2, prop='P002')
        port, _ = serve(self, HugeHeader)
        # (its retry not due again within this run: one attempt each)
        env.write_config({'endpoint': f'http://127.0.0.1:{port}/v1/guests',
                          'retry': {'linger': '0', 'backoff_initial': '1h', 'backoff_max': '1h'}})
        r = self.run_job(expect=1)
        self.assertIn(' delivered=1 ', r.stdout)
        self.assertIn(' pending=1 ', r.stdout)
        self.assertEqual(self.history_count('B-2'), 1)
        self.assertEqual(self.history_count('B-1'), 0)
        calls = env.psql("SELECT c.property_id, a.outcome, a.error FROM guestflow.api_calls a"
                         " JOIN guestflow.connections c ON c.id = a.connection_id ORDER BY a.id")
        self.assertEqual(sorted((p, o) for p, o, _ in calls), [('P001', 'retry'), ('P002', 'accepted')])
        err = [e for p, _, e in calls if p == 'P001'][0]
        self.assertRegex(err, r'^reply header too large \(libcurl refuses headers over 102400 bytes[;)]')
        self.assertNotRegex(err, '^Out of memory')
        self.assertIn('reply header too large', r.stderr)  # the log
        self.assertEqual(env.scalar("SELECT d.state || ' ' || b.state || ' ' || b.attempts || ' ' || b.maybe_sent"
                                    " FROM guestflow.deliveries d JOIN guestflow.batches b ON b.id = d.batch_id"
                                    " WHERE d.booking_no = 'B-1'"), 'pending open 1 true')
        # The next run sends it again (to the simulator: a partner whose headers are fine).
        env.psql("UPDATE guestflow.batches SET next_attempt_at = now()")
        env.write_config({'retry': {'linger': '0'}})
        r = self.run_job(expect=0)
        self.assertIn(' delivered=1 ', r.stdout)
        self.assertEqual(self.history_count('B-1'), 1)


    def test_enormous_and_truncated_replies_are_retried_under_the_same_key(self):
        env = self.env
        add_booking(env, 1)
        Misbehaving.script = ['huge', 'truncated']
        Misbehaving.seen = []
        srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Misbehaving)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        env.write_config({'endpoint': f'http://127.0.0.1:{srv.server_address[1]}/v1/guests'})
        r = self.run_job(expect=0)
        self.assertIn(' delivered=1 ', r.stdout)
        calls = env.psql("SELECT outcome, error, response_bytes FROM guestflow.api_calls ORDER BY id")
        self.assertEqual([c[0] for c in calls], ['retry', 'retry', 'accepted'])
        self.assertIn('reply larger than 1048576 bytes', calls[0][1])
        self.assertLessEqual(int(calls[0][2]), 1048576, 'no more than the cap was read')
        self.assertRegex(calls[1][1], '(?i)(partial|transfer closed)')
        self.assertEqual(len(set(Misbehaving.seen)), 1, 'every attempt under the same key')
        self.assertEqual(self.history_count(), 1)


if __name__ == '__main__':
    main()
