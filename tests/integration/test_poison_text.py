#!/usr/bin/env python3
"""Issue 14, items 1, 6 and 10 (explain): whatever bytes a partner sends back
(Latin-1, NUL, control characters, a character cut in two, an XML reply
declaring another encoding, truly or falsely, the request URL echoed with
the access key), guestflow stores and logs them as valid UTF-8 text, the
batch goes on as the failure table says, every other booking is delivered,
and the access key appears in no form anywhere: not in the API-call log,
last_error, a delivery's reason, an alert event or mail, the run's output,
nor explain, status or log. explain, status and log show partner and PMS
text escaped, so that it cannot drive the terminal."""
import html
import json
import os
import re
import socketserver
import subprocess
import threading
import urllib.parse

from gftest import GUESTFLOW, GFTestCase, add_booking, main

STAR_KEY = '*' * 16
ACCOUNTS = {'H-1001': 'k3y+/=one', 'H-1002': 'k3y+/=two', 'H-1003': STAR_KEY, 'H-1004': 'k3y+/=four'}
PROPERTIES = {'P001': 'H-1001', 'P002': 'H-1002', 'P003': 'H-1003', 'P004': 'H-1004'}

# Nothing a terminal acts on: C0 controls but newline and tab, DEL, C1, bidi controls, line separators.
UNSAFE = re.compile('[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]')
# In stored text, not even newline or tab (the text is one line).
UNSAFE_STORED = re.compile('[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]')


def key_forms(key):
    """Every form in which the key must not appear."""
    upper = urllib.parse.quote(key, safe='')
    lower = re.sub(r'%[0-9A-F]{2}', lambda m: m.group(0).lower(), upper)
    forms = {key, upper, lower, urllib.parse.quote_plus(key), key.replace('+', ' '), key.replace('/', '\\/'),
             urllib.parse.quote(upper, safe='')}
    if key == STAR_KEY:
        forms |= {'****', '%2A%2A', '%2a%2a'}  # not even a piece of it
    else:
        forms.add('k3y')  # every other key starts so: no piece of one either
    return forms


class SmtpSink(socketserver.StreamRequestHandler):
    """Just enough SMTP to receive messages, kept as bytes in SmtpSink.messages."""
    messages = []

    def reply(self, line):
        self.wfile.write(line.encode() + b'\r\n')

    def handle(self):
        self.reply('220 sink ESMTP')
        while True:
            line = self.rfile.readline()
            if not line:
                return
            up = line.strip().upper()
            if up == b'DATA':
                self.reply('354 go')
                data = b''
                while True:
                    l = self.rfile.readline()
                    if not l or l == b'.\r\n':
                        break
                    data += l
                SmtpSink.messages.append(data)
                self.reply('250 queued')
            elif up == b'QUIT':
                self.reply('221 bye')
                return
            else:
                self.reply('250 ok')


class PoisonTextTest(GFTestCase):
    accounts = ACCOUNTS
    properties = PROPERTIES
    job_overrides = {'batch': {'max_records': 50, 'in_flight': 4},
                     'retry': {'max_attempts': 2, 'backoff_initial': '100ms', 'backoff_max': '200ms',
                               'retry_after_max': '2s', 'linger': '5s'}}

    def setUp(self):
        super().setUp()
        SmtpSink.messages = []
        self.smtp = socketserver.ThreadingTCPServer(('127.0.0.1', 0), SmtpSink)
        self.smtp.daemon_threads = True
        threading.Thread(target=self.smtp.serve_forever, daemon=True).start()
        self.addCleanup(self.smtp.server_close)
        self.addCleanup(self.smtp.shutdown)
        with open(self.env.config, 'a') as f:
            f.write(f'alerting:\n  smtp_url: "smtp://127.0.0.1:{self.smtp.server_address[1]}"\n'
                    f'  from: "guestflow@hotel.example"\n')
        r = self.env.gf('contact', 'add', 'ops@hotel.example', '--role', 'alert')
        self.assertEqual(r.returncode, 0, r.stderr)

    # --- helpers -------------------------------------------------------------
    def gfb(self, *args, env=None):
        """guestflow with its output as bytes, so that nothing is decoded for us."""
        e = dict(os.environ)
        e.update(env or {})
        return subprocess.run([GUESTFLOW, '-c', self.env.config, *args], capture_output=True, timeout=120, env=e)

    def script(self, hotel, status, body, count=1, template=True, **extra):
        q = {'status': str(status), 'hotel': hotel, 'count': str(count), 'body_hex': body.hex(),
             'template': '1' if template else '0'}
        q.update(extra)
        self.assertEqual(self.env.sim_control('script?' + urllib.parse.urlencode(q)), 'ok')

    def stored(self):
        """Every text guestflow stored about requests and their outcomes, as bytes."""
        rows = self.env.psql("""
            SELECT 'api_calls.' || c, encode(convert_to(v, 'UTF8'), 'hex') FROM guestflow.api_calls a,
                   LATERAL (VALUES ('url', a.url), ('error', a.error), ('response_excerpt', a.response_excerpt)) t(c, v)
             WHERE v IS NOT NULL
            UNION ALL SELECT 'batches.last_error', encode(convert_to(last_error, 'UTF8'), 'hex')
              FROM guestflow.batches WHERE last_error IS NOT NULL
            UNION ALL SELECT 'deliveries.reason', encode(convert_to(reason, 'UTF8'), 'hex')
              FROM guestflow.deliveries WHERE reason IS NOT NULL
            UNION ALL SELECT 'alert_events.message', encode(convert_to(message, 'UTF8'), 'hex')
              FROM guestflow.alert_events""")
        return [(what, bytes.fromhex(h or '')) for what, h in rows]

    def assert_no_key(self, what, text):
        for key in ACCOUNTS.values():
            for form in key_forms(key):
                self.assertNotIn(form, text, f'{what} holds the access key {key!r} as {form!r}: {text[:3000]!r}')

    def assert_safe_output(self, what, data):
        text = data.decode('utf-8')  # strict: invalid UTF-8 fails here
        m = UNSAFE.search(text)
        self.assertIsNone(m, f'{what}: {m and m.group(0)!r} at {m and m.start()}: {text[:3000]!r}')
        self.assert_no_key(what, text)
        return text

    def assert_stored_safe(self):
        stored = self.stored()
        self.assertTrue(stored)
        for what, b in stored:
            text = b.decode('utf-8')
            m = UNSAFE_STORED.search(text)
            self.assertIsNone(m, f'{what}: {m and m.group(0)!r} in {text!r}')
            self.assert_no_key(what, text)
            self.assertLessEqual(len(b), 2048, what)
        return stored

    def check_mails(self, kinds):
        subjects = []
        for m in SmtpSink.messages:
            text = self.assert_safe_output('alert mail', m.replace(b'\r\n', b'\n'))
            subjects.append(re.search(r'Subject: \[guestflow\] review-nightly: (\w+)', text).group(1))
        self.assertEqual(sorted(subjects), sorted(kinds))

    # --- the tests -------------------------------------------------------------
    def test_misbehaving_replies_are_stored_safe_and_the_rest_is_delivered(self):
        env = self.env
        for n in (1, 2, 3):
            add_booking(env, n, prop='P001')
        for n in (11, 12, 13, 14, 15):
            add_booking(env, n, prop='P002')
        for n in (21, 22):
            add_booking(env, n, prop='P003')
        for n in (31, 32, 33, 34, 35):
            add_booking(env, n, prop='P004')

        # P001: 503 twice (so: retried, then dead), a body of Latin-1, NUL, ANSI escapes, a
        # bidi override, a C1 CSI, 400 bytes of 2-byte characters so that the old 511-byte
        # cut fell inside one, then the request URL and the key echoed in every form across
        # that cut; a Retry-After of odd bytes.
        body = (b'Fehler f\xfcr Gast M\xfcller\x00 \x1b[31mrot\x1b[0m \xe2\x80\xaeevil\xe2\x80\xac \xc2\x9b2J '
                + '\u00fc'.encode() * 200
                + b' echo: {url} raw={key} lower={key_lower} json=k3y+\\/=one plus=k3y /=one '
                + b'twice=k3y%252B%252F%253Done end' + b' pad' * 40)
        self.script('H-1001', 503, body, count=2, header_hex=b'Retry-After: 1\xff\x1b[2J'.hex())
        # P002: a 200 reply declaring ISO-8859-1, honestly: a Latin-1 reason; a reason of
        # character references to a C1 control, a bidi override, newline and tab; a reason
        # quoting the key.
        env.sim_control('reply?encoding=ISO-8859-1')
        env.sim_control('refuse?bookingNo=B-11&reason_hex=' +
                        b'Gast hat widersprochen: M\xfcller, caf\xe9 \xa7 5'.hex())
        env.sim_control('refuse?bookingNo=B-12&reason_hex=' +
                        b'evil &#x9B;31m &#x202E;gnp.exe&#10;next&#9;tab'.hex())
        env.sim_control('refuse?bookingNo=B-13&reason_hex=' + b'key k3y+/=two is not allowed'.hex())
        # P003 (a key of '*'): 403, the URL and the key echoed.
        self.script('H-1003', 403, b'invalid access key for {url} ({key_lower}, {key}) \xff', count=5)

        r = self.gfb('run', 'review-nightly')
        out = self.assert_safe_output('run stdout', r.stdout)
        err = self.assert_safe_output('run stderr', r.stderr)
        self.assertEqual(r.returncode, 1, f'{out}\n{err[-4000:]}')

        # What happened to each connection: the failure table, and nothing else stopped.
        states = dict(((row[0], row[1]), int(row[2])) for row in env.psql(
            "SELECT c.property_id, d.state, count(*) FROM guestflow.deliveries d"
            " JOIN guestflow.connections c ON c.id = d.connection_id GROUP BY 1, 2"))
        self.assertEqual(states, {('P001', 'dead'): 3, ('P002', 'rejected'): 3, ('P002', 'delivered'): 2,
                                  ('P003', 'pending'): 2, ('P004', 'delivered'): 5})
        self.assertEqual(sorted(g['bookingNo'] for g in env.recorded()),
                         sorted(['B-14', 'B-15', 'B-31', 'B-32', 'B-33', 'B-34', 'B-35']))
        self.assertEqual(self.history_count(), 7)

        reasons = dict(env.psql("SELECT booking_no, reason FROM guestflow.deliveries WHERE state = 'rejected'"))
        self.assertEqual(reasons['B-11'], 'partner: Gast hat widersprochen: Müller, café § 5',
                         'the declared Latin-1 is read as Latin-1 and stored as UTF-8')
        self.assertEqual(reasons['B-12'], 'partner: evil  31m \ufffdgnp.exe next tab')
        self.assertEqual(reasons['B-13'], 'partner: key *** is not allowed')

        stored = self.assert_stored_safe()
        last_error = env.scalar("SELECT b.last_error FROM guestflow.batches b JOIN guestflow.connections c"
                                " ON c.id = b.connection_id WHERE c.property_id = 'P001'")
        self.assertTrue(last_error.startswith('partner: HTTP 503 Fehler f\ufffdr Gast M\ufffdller  '
                                              ' [31mrot [0m \ufffdevil\ufffd  2J üü'), last_error)
        self.assertIn('…', last_error, 'the excerpt was cut, and says so')
        excerpts = [b.decode() for what, b in stored if what == 'api_calls.response_excerpt']
        self.assertTrue(any('encoding="ISO-8859-1"' in e and 'M\ufffdller' in e for e in excerpts), excerpts)
        self.assertTrue(all(len(e.encode()) <= 511 for e in excerpts))
        self.assertIn('invalid access key for /v1/guests?id=H-1003&access_key=###',
                      env.scalar("SELECT error FROM guestflow.api_calls WHERE status_code = 403 LIMIT 1"))

        self.assertIn('event=retry_after_ignored', err)
        self.assertIn('value="1\ufffd [2J"', err)
        self.assertIn('event=batch_retry', err)

        # Alert events and mails: dead deliveries (P001), refused credentials (P003).
        kinds = sorted(row[0] for row in env.psql('SELECT kind FROM guestflow.alert_events'))
        self.assertEqual(kinds, ['auth_failed', 'dead_deliveries'])
        self.check_mails(kinds)

        # What operators look at.
        for args in (('explain', 'B-1'), ('explain', 'B-12'), ('explain', 'B-21'), ('status',),
                     ('status', '--json'), ('log',), ('log', '--errors')):
            r = self.gfb(*args)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assert_safe_output(' '.join(args), r.stdout)
            self.assert_safe_output(' '.join(args) + ' stderr', r.stderr)

    def test_a_reply_declaring_a_false_encoding_is_retried_and_stored_safe(self):
        env = self.env
        for n in (1, 2):
            add_booking(env, n, prop='P001')
        for n in (11, 12):
            add_booking(env, n, prop='P002')
        for n in (21, 22, 23):
            add_booking(env, n, prop='P003')
        for n in (31, 32):
            add_booking(env, n, prop='P004')
        # P001: a 200 reply that says UTF-8 and holds Latin-1 (the simulator replays it for
        # the retry under the same key): not understood, retried, dead.
        env.sim_control('refuse?bookingNo=B-1&reason_hex=' + b'abgelehnt: M\xfcller'.hex())
        # P002: declares an encoding no one knows.
        self.script('H-1002', 200, b'<?xml version="1.0" encoding="x-klingon"?>\n'
                    b'<importResult accepted="2" rejected="0"/>\n', count=2, template=False,
                    content_type='application/xml; charset=x-klingon')
        # P003 (a key of '*'): 400 with the key echoed, ten times: bisected down to single
        # bookings, which are not rejected while the connection has had no request accepted
        # in this run (a partner refusing everything must not reject records wholesale):
        # retried, and delivered once the partner takes them. The 400 texts are stored
        # redacted.
        self.script('H-1003', 400, b'bad request {url} key={key_lower} / {key_upper} / {key}', count=10)

        r = self.gfb('run', 'review-nightly')
        out = self.assert_safe_output('run stdout', r.stdout)
        err = self.assert_safe_output('run stderr', r.stderr)
        self.assertEqual(r.returncode, 1, f'{out}\n{err[-4000:]}')
        states = dict(((row[0], row[1]), int(row[2])) for row in env.psql(
            "SELECT c.property_id, d.state, count(*) FROM guestflow.deliveries d"
            " JOIN guestflow.connections c ON c.id = d.connection_id GROUP BY 1, 2"))
        self.assertEqual(states, {('P001', 'dead'): 2, ('P002', 'dead'): 2, ('P003', 'delivered'): 3,
                                  ('P004', 'delivered'): 2})
        self.assertEqual(self.history_count(), 5)

        self.assert_stored_safe()
        errors = dict(env.psql("SELECT c.property_id, b.last_error FROM guestflow.batches b"
                               " JOIN guestflow.connections c ON c.id = b.connection_id"
                               " WHERE b.state = 'dead'"))
        self.assertIn('HTTP 200 but reply not understood', errors['P001'])
        excerpt = env.scalar("SELECT a.response_excerpt FROM guestflow.api_calls a JOIN guestflow.connections c"
                             " ON c.id = a.connection_id WHERE c.property_id = 'P001' LIMIT 1")
        self.assertIn('abgelehnt: M\ufffdller', excerpt, 'the Latin-1 byte stored as U+FFFD')
        self.assertIn('HTTP 200 but reply not understood', errors['P002'])
        refusals = [row[0] for row in env.psql("SELECT a.error FROM guestflow.api_calls a"
                                               " JOIN guestflow.connections c ON c.id = a.connection_id"
                                               " WHERE c.property_id = 'P003' AND a.status_code = 400")]
        self.assertEqual(len(refusals), 10, refusals)
        for error in refusals:
            self.assertRegex(error, r'^partner: HTTP 400 bad request /v1/guests\?id=H-1003&access_key=### key=### / ### / ###( \(a single booking refused.*\))?$')
        self.check_mails(['dead_deliveries', 'dead_deliveries'])
        for args in (('explain', 'B-1'), ('explain', 'B-21'), ('status',), ('log', '--errors')):
            r = self.gfb(*args)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assert_safe_output(' '.join(args), r.stdout)

    def test_explain_status_and_log_escape_what_they_show(self):
        """PMS text, and rows written before text was made safe (or by another
        program), shown escaped: nothing reaches the terminal raw, no access_key
        value shows."""
        env = self.env
        add_booking(env, 1, prop='P004', first='Anna\x1b]0;owned\x07', last='Evil\u202egnp.exe\u009b31m')
        add_booking(env, 2, prop='P004')
        env.psql("INSERT INTO pms.booking_history (booking_id, kind, message) VALUES"
                 " (1, E'note\\x1b[2J', E'front desk: \\x1b[31mVIP\\x1b[0m \\u202eevil\\u202c \\u2066x\\u2069 \\u0085')")
        r = self.gfb('run', 'review-nightly', env={'GUESTFLOW_TRIGGER': 'cron\x1b[31m\u202e'})
        self.assert_safe_output('run stderr', r.stderr)
        self.assertEqual(r.returncode, 1, r.stderr)
        # (the trigger label is stored as safe text now: no ESC left)
        self.assertEqual(env.scalar("SELECT trigger FROM guestflow.runs"), 'cron [31m?')
        # Rows as an older version, or another program, may have left them.
        env.psql("UPDATE guestflow.runs SET trigger = E'cron\\x1b[31m\\u202e'")
        env.psql("UPDATE guestflow.api_calls SET url = url || E'\\u202e\\x1b[2J',"
                 " error = E'legacy \\x1b[2J echo ?id=H-1004&access_key=k3y%2B%2F%3Dfour \\u009b\\u2067'")
        env.psql("UPDATE guestflow.batches SET last_error = E'legacy \\x1b[2J access_key=k3y%2b%2f%3dfour'")
        env.psql("UPDATE guestflow.deliveries SET reason = E'rejected: \\x1b[2J\\u202e'")

        r = self.gfb('explain', 'B-1')
        self.assertEqual(r.returncode, 0, r.stderr)
        text = self.assert_safe_output('explain', r.stdout)
        self.assertIn('"Anna\\x1b]0;owned\\x07"', text)
        self.assertIn('"Evil\\u202egnp.exe\\u009b31m"', text)
        self.assertIn('["note\\x1b[2J"] "front desk: \\x1b[31mVIP\\x1b[0m \\u202eevil\\u202c \\u2066x\\u2069 \\u0085"', text)
        self.assertIn('reason: "rejected: \\x1b[2J\\u202e"', text)
        self.assertIn('last error: "legacy \\x1b[2J access_key=***"', text)

        r = self.gfb('status')
        self.assertEqual(r.returncode, 0, r.stderr)
        text = self.assert_safe_output('status', r.stdout)
        self.assertIn('("cron\\x1b[31m\\u202e")', text)
        r = self.gfb('status', '--json')
        text = self.assert_safe_output('status --json', r.stdout)
        # (as \u escapes: jansson writes them in upper case)
        self.assertIn('"trigger":"cron\\u001B[31m\\u202E"', text)
        self.assertEqual(json.loads(text)['jobs'][0]['last_run']['trigger'], 'cron\x1b[31m\u202e')

        r = self.gfb('log')
        self.assertEqual(r.returncode, 0, r.stderr)
        text = self.assert_safe_output('log', r.stdout)
        self.assertIn('?id=H-1004\\u202e\\x1b[2J"', text)
        self.assertIn('error="legacy \\x1b[2J echo ?id=H-1004&access_key=*** \\u009b\\u2067"', text)


# Keys of the echo tests: a short one, and keys of 302 characters that are XML names.
SHORT_KEY = 'Sup3rS3cretKey-ABCDEFGHIJKLMNOP'
LONG_KEYS = {h: z + 'x7Lw9Tr2Vb' * 30 for h, z in (('H-1002', 'Za'), ('H-1003', 'Zb'), ('H-1004', 'Zc'),
                                                  ('H-1006', 'Zd'))}
ECHO_ACCOUNTS = dict({'H-1001': SHORT_KEY, 'H-1005': 'U16-' + SHORT_KEY}, **LONG_KEYS)


def readings(text):
    """text as a person could read a key out of it: as it is, without its spaces
    (UTF-16 stored as 'k e y'), with HTML references and percent-encoding undone."""
    out = {text, text.replace(' ', ''), html.unescape(text)}
    t = text
    for _ in range(4):
        t = urllib.parse.unquote(t)
        out |= {t, urllib.parse.unquote_plus(t)}
    return out


class EchoedKeyTest(GFTestCase):
    """Issue 14 item 6, as the red team attacked it: a partner quoting the access
    key in a reply where guestflow quotes or cuts the reply (a reason near the
    1024-byte cap, a count, a tag name in libxml2's error, a duplicate booking
    number), or echoing it in an error page as UTF-16 or in encodings padded
    past any fixed window. No piece of a key (8 characters) may be stored or
    logged, in any reading of the text."""
    accounts = ECHO_ACCOUNTS
    properties = {f'P00{i}': f'H-100{i}' for i in range(1, 7)}
    job_overrides = {'retry': {'max_attempts': 4, 'backoff_initial': '20ms', 'backoff_max': '50ms',
                               'retry_after_max': '1s', 'linger': '5s'}}

    def script(self, hotel, status, body, count=5, template=True, **extra):
        q = {'status': str(status), 'hotel': hotel, 'count': str(count), 'body_hex': body.hex(),
             'template': '1' if template else '0'}
        q.update(extra)
        self.assertEqual(self.env.sim_control('script?' + urllib.parse.urlencode(q)), 'ok')

    def assert_no_piece(self, what, text, n=8):
        for key in ECHO_ACCOUNTS.values():
            for r in readings(text):
                for i in range(len(key) - n + 1):
                    self.assertNotIn(key[i:i + n], r, f'{what} holds a piece of the key {key[:12]!r}…: {text[-600:]!r}')

    def stored(self):
        return self.env.psql("""
            SELECT 'api_calls.' || c, v FROM guestflow.api_calls a,
                   LATERAL (VALUES ('url', a.url), ('error', a.error), ('response_excerpt', a.response_excerpt)) t(c, v)
             WHERE v IS NOT NULL
            UNION ALL SELECT 'batches.last_error', last_error FROM guestflow.batches WHERE last_error IS NOT NULL
            UNION ALL SELECT 'deliveries.reason', reason FROM guestflow.deliveries WHERE reason IS NOT NULL
            UNION ALL SELECT 'alert_events.message', message FROM guestflow.alert_events""")

    def last_errors(self):
        return dict(self.env.psql("SELECT c.property_id, b.last_error FROM guestflow.batches b"
                                  " JOIN guestflow.connections c ON c.id = b.connection_id"
                                  " WHERE b.last_error IS NOT NULL"))

    def test_a_reply_quoting_the_key_where_it_is_cut(self):
        env = self.env
        add_booking(env, 1, prop='P001')
        add_booking(env, 2, prop='P001')
        for n in (2, 3, 4):
            add_booking(env, 10 * n, prop=f'P00{n}')
        # P001: the key at the end of a reason of 1036 bytes (the parser keeps 1024)
        env.sim_control('refuse?' + urllib.parse.urlencode(
            {'bookingNo': 'B-1', 'reason': 'x' * 991 + SHORT_KEY + ' trailing text'}))
        # P002..P004: a count, a tag name, a duplicate booking number: the key of 302 characters
        self.script('H-1002', 200, b'<importResult accepted="{key}" rejected="0"/>')
        self.script('H-1003', 200, b'<importResult accepted="1" rejected="0"><{key}></x></importResult>')
        self.script('H-1004', 200, b'<importResult accepted="0" rejected="2"><rejected bookingNo="{key}"/>'
                    b'<rejected bookingNo="{key}"/></importResult>')
        r = self.run_job()
        self.assertEqual(r.returncode, 1, r.stderr[-3000:])
        self.assert_no_piece('run stderr', r.stderr)
        self.assert_no_piece('run stdout', r.stdout)
        stored = self.stored()
        self.assertTrue(stored)
        for what, text in stored:
            self.assert_no_piece(what, text)
        reasons = dict(env.psql("SELECT booking_no, reason FROM guestflow.deliveries WHERE state = 'rejected'"))
        self.assertEqual(reasons, {'B-1': 'partner: ' + 'x' * 991 + '*** trailing text'})
        errors = self.last_errors()
        self.assertIn('reply: accepted="***" is not a non-negative integer', errors['P002'])
        self.assertIn('Opening and ending tag mismatch: *** line 1 and x', errors['P003'])
        self.assertIn('reply: booking *** is listed twice', errors['P004'])

    def test_an_error_page_echoing_the_key_in_utf16_or_padded_encodings(self):
        env = self.env
        add_booking(env, 5, prop='P005')
        add_booking(env, 6, prop='P006')
        # P005: a UTF-16 error page with the URL (access_key=...) and the key echoed
        key5 = ECHO_ACCOUNTS['H-1005']
        page = f'<html>invalid request access_key={key5}&amp;id=H-1005, your key: {key5}</html>'
        self.script('H-1005', 503, page.encode('utf-16-le'), template=False,
                    content_type='text/html; charset=utf-16le')
        # P006: the key of 302 characters, one attempt after the other, as references
        # with ten-digit and with padded hexadecimal numbers, without ';', and
        # percent-encoded three times
        key6 = LONG_KEYS['H-1006']
        thrice = urllib.parse.quote(urllib.parse.quote(urllib.parse.quote(key6, safe=''), safe=''), safe='')
        for echo in (''.join(f'&#{ord(c):010d};' for c in key6), ''.join(f'&#x{ord(c):08X};' for c in key6),
                     ''.join(f'&#{ord(c)}' for c in key6), thrice):
            self.script('H-1006', 503, f'<p>key: {echo} is not valid</p>'.encode(), count=1, template=False,
                        content_type='text/html')
        r = self.run_job()
        self.assertEqual(r.returncode, 69, r.stderr[-3000:])  # no partner reached
        self.assert_no_piece('run stderr', r.stderr)
        stored = self.stored()
        for what, text in stored:
            self.assert_no_piece(what, text)
        errors = self.last_errors()
        self.assertIn('a c c e s s _ k e y =***', errors['P005'])
        self.assertIn('y o u r   k e y :  ***', errors['P005'])
        calls = [row[0] for row in env.psql("SELECT a.error FROM guestflow.api_calls a JOIN guestflow.connections c"
                                            " ON c.id = a.connection_id WHERE c.property_id = 'P006' ORDER BY a.id")]
        self.assertEqual(calls, ['partner: HTTP 503 <p>key: *** is not valid</p>'] * 4)
        excerpts = [t for w, t in stored if w == 'api_calls.response_excerpt']
        self.assertTrue(excerpts and all('***' in t for t in excerpts), excerpts)


EVIL_PROPERTY = 'P\x1b]0;pwned\x07\x1b[2J'
EVIL_PROPERTY_SQL = "E'P\\x1b]0;pwned\\x07\\x1b[2J'"
EVIL_PROPERTY_SHOWN = '"P\\x1b]0;pwned\\x07\\x1b[2J"'


class TerminalTest(GFTestCase):
    """Issue 14 item 10, as the red team attacked it: a property or hotel id
    holding terminal escapes or bidi controls is refused when a connection is
    added (exit 65, the field and the rule named), and rows holding them
    anyway (written before, or by another program) are shown escaped by
    connection list and show and by run --dry-run, whose XML shows such
    characters as character references."""

    def gfb(self, *args, input=None):
        return subprocess.run([GUESTFLOW.encode(), b'-c', self.env.config.encode(),
                               *(a if isinstance(a, bytes) else a.encode() for a in args)],
                              capture_output=True, timeout=120, input=input)

    def assert_terminal_safe(self, what, data):
        text = data.decode('utf-8')  # strict
        m = UNSAFE.search(text)
        self.assertIsNone(m, f'{what}: {m and m.group(0)!r} at {m and m.start()}: {text[:2000]!r}')
        return text

    def test_connection_add_refuses_escapes_and_bidi_controls_in_both_ids(self):
        env = self.env
        for prop, says in ((EVIL_PROPERTY.encode(), b'character 2 is U+001B, a control character'),
                           ('P-\u202e1'.encode(), b'character 3 is U+202E, a bidi control'),
                           ('\u2066P'.encode(), b'character 1 is U+2066, a bidi control'),
                           (b'   ', b'only spaces'), (b'', b'empty'), (b'P\xff', b'byte 2 is not UTF-8')):
            r = self.gfb('connection', 'add', prop, 'reviewhub', '--hotel-id', 'H-9', input=b'good-key-1\n')
            self.assertEqual(r.returncode, 65, r.stderr)
            self.assertIn(b'PROPERTY refused: a property id', r.stderr)
            self.assertIn(says, r.stderr)
            self.assert_terminal_safe('add stderr', r.stderr)
        for hotel, cp in (('H-\u202e1009', 'U+202E'), ('H\u061c', 'U+061C'), ('H\u200f1', 'U+200F'),
                          ('H\u200e1', 'U+200E'), ('H\u202a1', 'U+202A'), ('H\u20691', 'U+2069')):
            r = self.gfb('connection', 'add', 'P009', 'reviewhub', '--hotel-id', hotel, input=b'good-key-1\n')
            self.assertEqual(r.returncode, 65, r.stderr)
            self.assertIn(b'--hotel-id refused', r.stderr)
            self.assertIn(f'is {cp}, a bidi control'.encode(), r.stderr)
            self.assert_terminal_safe('add stderr', r.stderr)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.connections WHERE property_id <> ALL"
                                    " (ARRAY['P001', 'P002'])"), '0')
        r = self.gfb('connection', 'add', 'Pröperty 9', 'reviewhub', '--hotel-id', 'Hôtel \u05d0 9',
                     input=b'good-key-1\n')
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_list_show_and_dry_run_escape_database_text(self):
        env = self.env
        # Rows as an older guestflow, or another program, may have left them.
        env.psql(f"INSERT INTO pms.properties VALUES ({EVIL_PROPERTY_SQL}, 'evil');"
                 "INSERT INTO guestflow.connections (property_id, partner, id_at_partner, secret, status)"
                 f" VALUES ({EVIL_PROPERTY_SQL}, 'reviewhub', E'H-\\u202e1009\\u2067', 'k3y+/=evil', 'live');"
                 "INSERT INTO guestflow.connection_events (connection_id, from_status, to_status, note)"
                 f" SELECT id, 'setup', 'live', E'by hand \\x1b[31m\\u202e' FROM guestflow.connections"
                 f" WHERE property_id = {EVIL_PROPERTY_SQL}")
        add_booking(env, 1, prop=EVIL_PROPERTY, last='Evil\u202egnp.exe', first='Anna\u2028Maria')
        r = self.gfb('connection', 'list')
        self.assertEqual(r.returncode, 0, r.stderr)
        text = self.assert_terminal_safe('connection list', r.stdout)
        self.assertIn(EVIL_PROPERTY_SHOWN, text)
        self.assertIn('"H-\\u202e1009\\u2067"', text)
        r = self.gfb('connection', 'show', EVIL_PROPERTY, 'reviewhub')
        self.assertEqual(r.returncode, 0, r.stderr)
        text = self.assert_terminal_safe('connection show', r.stdout)
        self.assertIn(f'property:    {EVIL_PROPERTY_SHOWN}\n', text)
        self.assertIn('hotel id:    "H-\\u202e1009\\u2067"\n', text)
        self.assertIn('"by hand \\x1b[31m\\u202e"', text)
        r = self.gfb('connection', 'show', EVIL_PROPERTY + 'x', 'reviewhub')
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assert_terminal_safe('connection show (none) stderr', r.stderr)
        r = self.gfb('run', 'review-nightly', '--dry-run')
        self.assertEqual(r.returncode, 0, r.stderr)
        text = self.assert_terminal_safe('run --dry-run', r.stdout)
        self.assertIn(EVIL_PROPERTY_SHOWN, text)
        self.assertIn('hotel id "H-\\u202e1009\\u2067"', text)
        # the XML: the same document, those characters as character references
        self.assertIn('hotelId="H-&#x202E;1009&#x2067;"', text)
        self.assertIn('Evil&#x202E;gnp.exe', text)
        self.assertIn('Anna&#x2028;Maria', text)


if __name__ == '__main__':
    main()
