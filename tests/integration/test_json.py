#!/usr/bin/env python3
"""Issue 18 item 6, "JSON everywhere": every listing or reporting command
(status, connection list/show, contact list, suppression list, log, explain,
run --dry-run) has --json: one JSON object a line, "format_version": 1 on top, the keys
guestflow(1) lists under JSON OUTPUT (exactly those: the man page is read
here), timestamps ISO 8601 with their offset, counts as numbers, absent
values null, never a secret."""
import datetime
import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET

from gftest import GFTestCase, GUESTFLOW, add_booking, add_many, main
from test_poison_engine import view_with

# Every document's objects: a path ('' the document; name[] the elements of
# an array; a.b an object in an object, or null) and its keys. The program's
# output and the man page must both match it.
SPEC = {
    'status': {
        '': 'format_version jobs',
        'jobs[]': 'job enabled partner format last_run connections',
        'jobs[].last_run': 'run_id started_at finished_at trigger exit_code eligible delivered rejected dead'
                           ' duration_s message lost_at',
        'jobs[].connections[]': 'property id_at_partner connection_status pending retrying sending dead delivered'
                                ' rejected oldest_pending_s next_attempt_at consent_terms_version'
                                ' consent_accepted_by consent_accepted_at last_test_at last_test_verdict'
                                ' last_delivered_at last_event_type last_event_at events_pulled_at pull_failures',
    },
    'connection list': {
        '': 'format_version connections',
        'connections[]': 'property partner id_at_partner status status_since',
    },
    'connection show': {
        '': 'format_version connection',
        'connection': 'property partner id_at_partner id_label status status_since created_at delivered pending'
                      ' secret_label secret_storage last_test consent partner_email events',
        'connection.last_test': 'at verdict detail',
        'connection.consent': 'terms_version accepted_by accepted_at in_force ended_at ended_how ended_by',
        'connection.events[]': 'at from_status to_status actor note partner_notice',
        'connection.events[].partner_notice': 'state to told_at attempts error text',
    },
    'contact list': {
        '': 'format_version contacts',
        'contacts[]': 'id role email name job connection hours time_zone',
        'contacts[].connection': 'property partner',
    },
    'suppression list': {
        '': 'format_version suppressions',
        'suppressions[]': 'email reason since partner job booking_no',
    },
    'log': {
        '': 'format_version calls',
        'calls[]': 'id at job property url status_code latency_ms records request_bytes idempotency_key outcome'
                   ' error',
    },
    'explain': {
        '': 'format_version booking_no booking_id property guest note jobs history history_note bookings'
            ' unreadable_ids unreadable_note',
        'bookings[]': 'booking_no booking_id property guest note jobs history history_note',
        'guest': 'first_name last_name',
        'jobs[]': 'job partner path verdict sqlstate rules deliveries delivery_note',
        'jobs[].rules[]': 'rule passed value detail',
        'jobs[].deliveries[]': 'property state reason planned_at planned_run_id finished_at data_rejected next_step'
                               ' batch',
        'jobs[].deliveries[].batch': 'id state attempts idempotency_key last_error next_attempt_at',
        'history[]': 'at kind message',
    },
    'run --dry-run': {
        '': 'format_version job partner format endpoint enabled limit connections total_new total_pending'
            ' first_batch unreadable',
        'unreadable[]': 'booking_id booking_no reason',
        'connections[]': 'property id_at_partner new pending',
        'first_batch': 'property id_at_partner would_send would_reject records content_type payload',
        'first_batch.records[]': 'booking_no reject_reason first_name last_name email gender language status'
                                 ' arrival departure',
    },
}

TS = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$')
# keys holding a timestamp
TS_KEYS = {'started_at', 'finished_at', 'next_attempt_at', 'consent_accepted_at', 'last_test_at',
           'last_delivered_at', 'last_event_at', 'events_pulled_at', 'status_since', 'created_at', 'at',
           'accepted_at', 'ended_at', 'told_at', 'planned_at', 'since'}
RULES = ['job_enabled', 'status_selected', 'status_known', 'email', 'last_name', 'notify', 'not_suppressed',
         'property_allowed', 'window', 'connection_live']


def objects_at(doc, path):
    """The objects (dicts) at path in doc; nulls left out."""
    found = [doc]
    for part in filter(None, re.split(r'\.', path)):
        name, arr = (part[:-2], True) if part.endswith('[]') else (part, False)
        nxt = []
        for o in found:
            v = o[name]
            if v is None:  # (an object, or an array such as explain's history, that is not there)
                continue
            if arr:
                assert isinstance(v, list), (path, v)
                nxt.extend(v)
            else:
                nxt.append(v)
        found = nxt
    for o in found:
        assert isinstance(o, dict), (path, o)
    return found


def check_timestamps(test, o):
    if isinstance(o, dict):
        for k, v in o.items():
            if k in TS_KEYS and isinstance(v, str):
                test.assertRegex(v, TS, k)
                test.assertIsNotNone(datetime.datetime.fromisoformat(v).tzinfo, k)
            else:
                check_timestamps(test, v)
    elif isinstance(o, list):
        for v in o:
            check_timestamps(test, v)


class JsonTest(GFTestCase):

    def doc(self, name, *args, expect=0, need=()):
        """Run guestflow args, parse its one line of JSON, check its shape
        against SPEC[name] (need: paths that must hold an object here)."""
        r = self.env.gf(*args)
        self.assertEqual(r.returncode, expect, r.stderr)
        self.assertTrue(r.stdout.endswith('\n') and r.stdout.count('\n') == 1, r.stdout[:2000])
        self.assertTrue(r.stdout.isascii(), 'non-ASCII is written as \\u escapes')
        for secret in self.accounts.values():
            self.assertNotIn(secret, r.stdout)
            self.assertNotIn(json.dumps(secret)[1:-1], r.stdout)
        doc = json.loads(r.stdout)
        self.assertEqual(doc['format_version'], 1)
        for path, keys in SPEC[name].items():
            objs = objects_at(doc, path)
            if path in need:
                self.assertTrue(objs, f'{name}: nothing at {path}')
            for o in objs:
                self.assertEqual(sorted(o), sorted(keys.split()), f'{name}: {path}')
        check_timestamps(self, doc)
        return doc

    def test_after_a_run_every_document_says_what_happened(self):
        env = self.env
        add_booking(env, 1)
        add_booking(env, 2)
        add_booking(env, 3, prop='P002')
        add_booking(env, 4, email='')
        env.sim_control('refuse?bookingNo=B-2&reason_hex=' + 'Gast hat widersprochen'.encode().hex())
        r = env.gf('connection', 'consent', 'P001', 'reviewhub', '--by', 'Anna Berger', '--terms-version', '2.1')
        self.assertEqual(r.returncode, 0, r.stderr)
        r = env.gf('connection', 'test', 'P001', 'reviewhub')
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.run_job(expect=1)

        # status
        doc = self.doc('status', 'status', '--json', need=('jobs[]', 'jobs[].last_run', 'jobs[].connections[]'))
        job = doc['jobs'][0]
        self.assertEqual((job['job'], job['enabled'], job['partner'], job['format']),
                         ('review-nightly', True, 'reviewhub', 'review-xml'))
        last = job['last_run']
        self.assertEqual((last['exit_code'], last['eligible'], last['delivered'], last['rejected'], last['dead']),
                         (1, 3, 2, 1, 0))
        self.assertIsInstance(last['run_id'], int)
        self.assertIsInstance(last['duration_s'], (int, float))
        conns = {c['property']: c for c in job['connections']}
        self.assertEqual((conns['P001']['delivered'], conns['P001']['rejected'], conns['P002']['delivered']),
                         (1, 1, 1))
        self.assertEqual((conns['P001']['consent_terms_version'], conns['P001']['last_test_verdict'],
                          conns['P002']['consent_terms_version'], conns['P002']['oldest_pending_s']),
                         ('2.1', 'ok', None, None))

        # connection list and show
        doc = self.doc('connection list', 'connection', 'list', '--json', need=('connections[]',))
        self.assertEqual([(c['property'], c['partner'], c['id_at_partner'], c['status'])
                          for c in doc['connections']],
                         [('P001', 'reviewhub', 'H-1001', 'live'), ('P002', 'reviewhub', 'H-1002', 'live')])
        doc = self.doc('connection show', 'connection', 'show', 'P001', 'reviewhub', '--json',
                       need=('connection', 'connection.last_test', 'connection.consent', 'connection.events[]'))
        c = doc['connection']
        self.assertEqual((c['property'], c['id_at_partner'], c['id_label'], c['status'], c['delivered'],
                          c['pending'], c['secret_label'], c['secret_storage'], c['partner_email']),
                         ('P001', 'H-1001', 'hotel id', 'live', 1, 0, 'access key', 'encrypted', None))
        self.assertEqual((c['last_test']['verdict'], c['consent']['terms_version'], c['consent']['accepted_by'],
                          c['consent']['in_force'], c['consent']['ended_at']), ('ok', '2.1', 'Anna Berger', True, None))
        self.assertEqual([e['to_status'] for e in c['events']][0], 'live')
        self.assertIn('setup', [e['to_status'] for e in c['events']])
        r = env.gf('connection', 'show', 'P009', 'reviewhub', '--json')
        self.assertEqual((r.returncode, r.stdout), (65, ''))

        # contact list
        for args in (('alert@example.org', '--role', 'alert'),
                     ('tech@example.org', '--role', 'technical', '--name', 'Tech', '--connection', 'P001',
                      'reviewhub', '--hours', '08:00-18:00', '--time-zone', 'Europe/Berlin')):
            r = env.gf('contact', 'add', *args)
            self.assertEqual(r.returncode, 0, r.stderr)
        doc = self.doc('contact list', 'contact', 'list', '--json', need=('contacts[]', 'contacts[].connection'))
        ks = {k['email']: k for k in doc['contacts']}
        self.assertEqual((ks['alert@example.org']['role'], ks['alert@example.org']['name'],
                          ks['alert@example.org']['job'], ks['alert@example.org']['connection'],
                          ks['alert@example.org']['hours']), ('alert', None, None, None, None))
        t = ks['tech@example.org']
        self.assertIsInstance(t['id'], int)
        self.assertEqual((t['role'], t['name'], t['connection'], t['hours'], t['time_zone']),
                         ('technical', 'Tech', {'property': 'P001', 'partner': 'reviewhub'}, '08:00-18:00',
                          'Europe/Berlin'))

        # log: one call per connection (and the connection test)
        doc = self.doc('log', 'log', '--json', '--job', 'review-nightly', need=('calls[]',))
        calls = doc['calls']
        self.assertEqual(sorted(k['property'] for k in calls), ['P001', 'P002'])
        for k in calls:
            self.assertEqual((k['job'], k['status_code'], k['outcome'], k['error']), ('review-nightly', 200,
                                                                                      'accepted', None))
            self.assertIsInstance(k['latency_ms'], int)
            self.assertIsInstance(k['request_bytes'], int)
            self.assertNotIn('k3y', k['url'])
        self.assertEqual(sorted(k['records'] for k in calls), [1, 2])
        self.assertEqual([k['id'] for k in calls], sorted(k['id'] for k in calls), 'oldest first')
        self.assertEqual(self.doc('log', 'log', '--json', '--errors')['calls'], [])
        self.assertEqual(len(self.doc('log', 'log', '--json', '--limit', '1')['calls']), 1)

        # explain: delivered, refused by the partner, not eligible
        doc = self.doc('explain', 'explain', 'B-1', '--json',
                       need=('guest', 'jobs[]', 'jobs[].rules[]', 'jobs[].deliveries[]',
                             'jobs[].deliveries[].batch', 'history[]'))
        self.assertEqual((doc['booking_no'], doc['booking_id'], doc['property'], doc['guest'], doc['note']),
                         ('B-1', 1, 'P001', {'first_name': 'Max', 'last_name': 'Muster'}, None))
        j = doc['jobs'][0]
        self.assertEqual((j['job'], j['partner'], j['verdict'], j['sqlstate']),
                         ('review-nightly', 'reviewhub', 'eligible', None))
        self.assertEqual([x['rule'] for x in j['rules']], RULES)
        self.assertTrue(all(x['passed'] for x in j['rules']))
        rules = {x['rule']: x for x in j['rules']}
        self.assertEqual((rules['email']['value'], rules['connection_live']['value'], rules['status_selected']['value']),
                         ('guest1@example.org', 'live', 'checked_out'))
        self.assertRegex(rules['window']['value'], TS)
        d = j['deliveries'][0]
        self.assertEqual((d['property'], d['state'], d['reason'], d['data_rejected'], d['next_step']),
                         ('P001', 'delivered', None, False, None))
        self.assertIsNotNone(d['finished_at'])
        self.assertEqual((d['batch']['state'], d['batch']['attempts'], d['batch']['next_attempt_at']),
                         ('done', 1, None))
        self.assertEqual(len(doc['history']), 1)
        self.assertIn('Sent to reviewhub by review-nightly', doc['history'][0]['message'])
        self.assertIsNone(doc['history_note'])

        doc = self.doc('explain', 'explain', 'B-2', '--json', '--job', 'review-nightly')
        j = doc['jobs'][0]
        self.assertEqual(j['verdict'], 'eligible')
        d = j['deliveries'][0]
        self.assertEqual((d['state'], d['reason']), ('rejected', 'partner: Gast hat widersprochen'))
        self.assertIn('guestflow rerun review-nightly --booking', d['next_step'])
        self.assertEqual(doc['history'], [])

        doc = self.doc('explain', 'explain', 'B-4', '--json')
        j = doc['jobs'][0]
        rules = {x['rule']: x for x in j['rules']}
        self.assertEqual((j['verdict'], rules['email']['passed'], rules['email']['value'], rules['notify']['passed']),
                         ('not_eligible', False, '', True))
        self.assertEqual((j['deliveries'], j['delivery_note']),
                         ([], 'none: the booking has never been eligible when this job ran'))
        r = env.gf('explain', 'B-404', '--json')
        self.assertEqual((r.returncode, r.stdout), (65, ''))

    def test_explain_a_booking_the_source_view_cannot_give(self):
        env = self.env
        add_many(env, 3, ['P001'])
        view_with(env, checked_out_at="(CASE WHEN b.id = 2 THEN 'soon' ELSE b.checked_out_at::text END)::timestamptz")
        self.run_job(expect=1)
        doc = self.doc('explain', 'explain', 'B-2', '--json', need=('jobs[]', 'jobs[].deliveries[]'))
        j = doc['jobs'][0]
        # (read by its id: only its checked_out_at fails, so its id, guest and history are known)
        self.assertEqual((doc['booking_id'], doc['guest'], doc['history'], doc['history_note']),
                         (2, {'first_name': 'First2', 'last_name': 'Last2'}, [], None))
        self.assertEqual((j['verdict'], j['sqlstate'], j['rules']), ('unreadable', '22007', []))
        d = j['deliveries'][0]
        self.assertEqual((d['property'], d['state']), ('P001', 'rejected'))
        self.assertIn('the source view cannot give this booking', d['reason'])
        doc = self.doc('explain', 'explain', 'B-1', '--json')
        self.assertEqual(doc['jobs'][0]['verdict'], 'eligible')

    def test_dry_run_gives_the_plan_per_record_and_the_payload(self):
        env = self.env
        add_many(env, 6, ['P001', 'P002'])
        add_booking(env, 100, first='Bell' + chr(7))
        before = env.psql("SELECT (SELECT count(*) FROM guestflow.deliveries), (SELECT count(*) FROM guestflow.runs)")
        doc = self.doc('run --dry-run', 'run', 'review-nightly', '--dry-run', '--json', need=(
            'connections[]', 'first_batch', 'first_batch.records[]'))
        self.assertEqual((doc['job'], doc['partner'], doc['format'], doc['enabled'], doc['limit']),
                         ('review-nightly', 'reviewhub', 'review-xml', True, None))
        self.assertEqual(doc['connections'], [
            {'property': 'P001', 'id_at_partner': 'H-1001', 'new': 4, 'pending': 0},
            {'property': 'P002', 'id_at_partner': 'H-1002', 'new': 3, 'pending': 0}])
        self.assertEqual((doc['total_new'], doc['total_pending']), (7, 0))
        b = doc['first_batch']
        self.assertEqual((b['property'], b['id_at_partner'], b['would_send'], b['would_reject']),
                         ('P001', 'H-1001', 3, 1))
        recs = {k['booking_no']: k for k in b['records']}
        self.assertEqual([k['booking_no'] for k in b['records']], ['B-2', 'B-4', 'B-6', 'B-100'])
        self.assertIn('first_name: control character U+0007', recs['B-100']['reject_reason'])
        self.assertEqual(recs['B-100']['first_name'], 'Bell\x07')
        ok = [k for k in b['records'] if k['reject_reason'] is None]
        self.assertEqual(len(ok), 3)
        self.assertEqual({k['status'] for k in ok}, {'checked_out'})
        self.assertTrue(all(k['email'].endswith('@example.org') and k['arrival'] for k in ok))
        self.assertIn('xml', b['content_type'])
        ET.fromstring(b['payload'].encode())  # well-formed
        self.assertEqual(b['payload'].count('<guest>'), 3)
        for k in ok:
            self.assertIn(f'<bookingNo>{k["booking_no"]}</bookingNo>', b['payload'])
        # --limit caps the batch; nothing is written or sent
        doc = self.doc('run --dry-run', 'run', 'review-nightly', '--dry-run', '--limit', '2', '--json')
        self.assertEqual((doc['limit'], len(doc['first_batch']['records'])), (2, 2))
        self.assertEqual(env.psql("SELECT (SELECT count(*) FROM guestflow.deliveries),"
                                  " (SELECT count(*) FROM guestflow.runs)"), before)
        self.assertEqual(env.sim_stats()['requests'], 0)
        # with nothing to send: no batch
        env.psql('DELETE FROM pms.bookings')
        doc = self.doc('run --dry-run', 'run', 'review-nightly', '--dry-run', '--json')
        self.assertEqual((doc['connections'], doc['total_new'], doc['first_batch']), ([], 0, None))

    def test_empty_lists_and_text_as_it_is(self):
        env = self.env
        env.psql("UPDATE guestflow.connections SET id_at_partner = E'H-\\u00fc\\u202e\\x1b[2J'"
                 " WHERE property_id = 'P002'")
        doc = self.doc('contact list', 'contact', 'list', '--json')
        self.assertEqual(doc['contacts'], [])
        doc = self.doc('suppression list', 'suppression', 'list', '--json')
        self.assertEqual(doc['suppressions'], [])
        # (its event purged: who reported it is null)
        env.psql("INSERT INTO guestflow.suppressions (email, reason) VALUES ('g\u00fcst@example.org', 'bounced')")
        doc = self.doc('suppression list', 'suppression', 'list', ' G\u00fcST@Example.org', '--json',
                       need=('suppressions[]',))
        self.assertEqual([(x['email'], x['reason'], x['partner'], x['job'], x['booking_no'])
                          for x in doc['suppressions']], [('g\u00fcst@example.org', 'bounced', None, None, None)])
        self.assertEqual(self.doc('suppression list', 'suppression', 'list', 'other@example.org', '--json',
                                  expect=65)['suppressions'], [])
        doc = self.doc('log', 'log', '--json')
        self.assertEqual(doc['calls'], [])
        doc = self.doc('status', 'status', '--json')
        self.assertIsNone(doc['jobs'][0]['last_run'])
        doc = self.doc('connection list', 'connection', 'list', '--json')
        self.assertEqual(doc['connections'][1]['id_at_partner'], 'H-\u00fc\u202e\x1b[2J')
        r = env.gf('connection', 'list', '--json')
        self.assertNotIn('\x1b', r.stdout)
        self.assertIn('\\u202E', r.stdout)

    def test_bad_usage_exits_64(self):
        env = self.env
        for args in (('status', '--json', '--json'), ('status', '--jsn'),
                     ('log', '--json', '--json'), ('log', '--purge', '--json'),
                     ('explain', 'B-1', '--json', '--json'), ('explain', 'B-1', '--yaml'),
                     ('connection', 'list', '--json', '--json'), ('connection', 'list', '--all'),
                     ('connection', 'show', 'P001', 'reviewhub', '--json', '--json'),
                     ('connection', 'show', 'P001', '--json'),
                     ('connection', 'stop', 'P001', 'reviewhub', '--json'),
                     ('contact', 'list', '--json', '--json'), ('contact', 'list', '--bogus'),
                     ('suppression', 'list', '--json', '--json'), ('suppression', 'list', 'a@b', 'c@d'),
                     ('suppression', 'remove', 'a@b'), ('suppression', 'remove', 'a@b', '--reason', ' '),
                     ('suppression', 'remove', 'a@b', '--reason', 'x', '--json'), ('suppression', 'drop', 'a@b'),
                     ('run', 'review-nightly', '--json'),
                     ('run', 'review-nightly', '--dry-run', '--json', '--json')):
            r = env.gf(*args)
            self.assertEqual(r.returncode, 64, f'{args}: {r.stdout} {r.stderr}')
            self.assertEqual(r.stdout, '', args)
        self.assertEqual(env.scalar("SELECT status FROM guestflow.connections WHERE property_id = 'P001'"), 'live')

    def test_an_output_that_cannot_be_written_is_an_error(self):
        env = self.env
        add_booking(env, 1)
        for args in (('status', '--json'), ('connection', 'list', '--json'), ('explain', 'B-1', '--json'),
                     ('suppression', 'list', '--json'),
                     ('run', 'review-nightly', '--dry-run', '--json')):
            with open('/dev/full', 'w') as full:
                r = subprocess.run([GUESTFLOW, '-c', env.config, *args], stdout=full, stderr=subprocess.PIPE,
                                   text=True, timeout=60)
            self.assertEqual(r.returncode, 74, f'{args}: {r.stderr}')
            self.assertRegex(r.stderr, r'guestflow [a-z ]+: cannot write the output: No space left on device')

    def test_the_man_page_lists_exactly_the_keys(self):
        """guestflow(1), JSON OUTPUT: each document's block lists its objects,
        PATH: KEY, ...; they must be SPEC's, which the tests above hold the
        program to."""
        root = os.environ.get('GF_SOURCE_ROOT', os.path.join(os.path.dirname(__file__), '..', '..'))
        with open(os.path.join(root, 'packaging', 'man', 'guestflow.1'), encoding='utf-8') as f:
            text = f.read()
        section = text.split('.SH "JSON OUTPUT"\n', 1)[1].split('\n.SH ', 1)[0]
        docs, cur, path = {}, None, None
        for line in section.split('\n'):
            m = re.match(r'^\.SS "(.*)"$', line)
            if m:
                cur = docs.setdefault(m.group(1).replace('\\-', '-').removesuffix(' --json'), {})
                continue
            m = re.match(r'^\\fB(\S*)\\fP:\s+(.*)$', line)
            if cur is not None and m:
                path = '' if m.group(1) == '(document)' else m.group(1)
                cur[path] = m.group(2)
            elif cur is not None and path is not None and line.startswith('    ') and not line.startswith('.'):
                cur[path] += ' ' + line.strip()
            elif line.startswith('.'):
                path = None
        self.assertEqual(sorted(docs), sorted(SPEC))
        for name, paths in SPEC.items():
            man = {p: sorted(k.strip() for k in v.split(',')) for p, v in docs[name].items()}
            self.assertEqual(man, {p: sorted(v.split()) for p, v in paths.items()}, name)
        self.assertIn('format_version', section)


if __name__ == '__main__':
    main()
