#!/usr/bin/env python3
"""The visits-csv output end to end (PARTNERS.md "visits-csv v1 over SFTP"):
one CSV file per batch, uploaded over SFTP to an OpenSSH sshd on loopback
(sshaux.py) with the job's account; the host key always checked against the
job's known_hosts file; upload to a hidden .part name, then a rename; a
resend that finds its file delivered without uploading again; the failure
classes of the contract. Every file is read back with a strict CSV reader."""
import os
import subprocess

import sshaux
from gftest import FORCE, GUESTFLOW, GFTestCase, add_booking, add_many, main


class VisitsCsvTest(GFTestCase):
    sftp = True
    job_overrides = {'retry': {'max_attempts': 2, 'backoff_initial': '100ms', 'backoff_max': '200ms',
                               'linger': '5s'}}

    def test_guests_arrive_once_as_one_csv_file_per_batch(self):
        env = self.env
        add_booking(env, 1, last='Mül;ler', first='An"na', gender='F', lang='de-DE')
        add_booking(env, 2, prop='P002', last='Quote "Q";x', first=None, gender='?', lang='English')
        add_booking(env, 3, last='  Smith  ', first='', gender='Mr', lang='en')
        r = self.run_job(expect=0)
        self.assertIn('delivered=3 rejected=0', r.stdout)
        files = env.sftp.files()
        self.assertEqual(len(files), 2, files)
        self.assertEqual(env.sftp.parts(), [], 'no .part file is left')
        day = env.scalar("SELECT to_char(min(created_at) AT TIME ZONE 'UTC', 'YYYYMMDD') FROM guestflow.batches")
        keys = {k for (k,) in env.psql("SELECT idempotency_key FROM guestflow.batches")}
        for name in files:
            m = sshaux.FILE_NAME.match(name)
            self.assertTrue(m, name)
            self.assertEqual(m.group(1), day)
            self.assertIn(m.group(3), keys)
        got = {g['bookingNo']: g for g in env.recorded()}  # (read strictly: sshaux.parse_csv)
        self.assertEqual(sorted(got), ['B-1', 'B-2', 'B-3'])
        self.assertEqual([got['B-1'][k] for k in sshaux.COLUMNS],
                         ['H-1001', 'B-1', 'Mül;ler', 'An"na', 'guest1@example.org', 'female', 'de', 'checked_out',
                          got['B-1']['arrival'], got['B-1']['departure']])
        self.assertEqual((got['B-2']['hotelId'], got['B-2']['lastName'], got['B-2']['firstName'],
                          got['B-2']['gender'], got['B-2']['language']), ('H-1002', 'Quote "Q";x', '', '', 'en'))
        self.assertEqual((got['B-3']['lastName'], got['B-3']['firstName'], got['B-3']['gender']), ('Smith', '', 'male'))
        # The bytes as the contract writes them.
        p1 = [n for n in files if '_H-1001_' in n][0]
        with open(os.path.join(env.sftp.dir, p1), 'rb') as f:
            raw = f.read()
        self.assertTrue(raw.startswith(b'H-1001;B-1;"M\xc3\xbcl;ler";"An""na";guest1@example.org;female;de;'), raw)
        self.assertEqual(raw.count(b'\r\n'), 2)
        self.assertNotIn(b'\n', raw.replace(b'\r\n', b''))
        # The API-call log names the file; a second run sends nothing again.
        urls = sorted(u for (u,) in env.psql("SELECT url FROM guestflow.api_calls"))
        self.assertEqual(urls, sorted(env.sftp.endpoint + n for n in files))
        self.assertEqual(env.psql("SELECT DISTINCT method FROM guestflow.api_calls"), [['PUT']])
        self.assertEqual(self.history_count(), 3)
        r = self.run_job(expect=0)
        self.assertIn('new=0 delivered=0', r.stdout)
        self.assertEqual(env.sftp.files(), files)
        self.assertEqual(env.partner_stats(), {'requests': 2, 'replays': 0, 'key_conflicts': 0})

    def test_fields_omit_leaves_the_fields_empty(self):
        env = self.env
        add_booking(env, 1, gender='f', lang='de')
        env.write_config({'fields': {'omit': ['first_name', 'gender', 'language', 'status', 'arrival']}})
        self.run_job(expect=0)
        (g,) = env.recorded()
        self.assertEqual([g[k] for k in ('firstName', 'gender', 'language', 'status', 'arrival')], [''] * 5)
        self.assertEqual((g['lastName'], g['email']), ('Muster', 'guest1@example.org'))
        self.assertTrue(g['departure'])

    def test_an_unknown_host_key_holds_every_connection_and_raises_one_alert(self):
        env = self.env
        add_many(env, 6, ['P001', 'P002'])
        other = os.path.join(env.dir, 'other_host')
        sshaux.keygen(other)
        with open(env.sftp.known_hosts, 'w', encoding='utf-8') as f:
            f.write(env.sftp.known_hosts_line(other + '.pub'))  # the port's key: another one
        r = self.run_job(expect=1)
        self.assertIn('event=account_refused', r.stderr)
        self.assertIn('differs from the one in sftp.known_hosts_file', r.stderr)
        self.assertEqual(env.partner_stats()['requests'], 0)
        self.assertEqual(self.states(), {'pending': 6})
        (alert,) = env.psql("SELECT kind, message FROM guestflow.alert_events")
        self.assertEqual(alert[0], 'auth_failed')
        self.assertIn('host key', alert[1])
        self.assertIn('changed', alert[1])
        # A host missing from the file is refused as well: never learned.
        with open(env.sftp.known_hosts, 'w', encoding='utf-8') as f:
            f.write(env.sftp.known_hosts_line().replace(f':{env.sftp.relay_port} ', ':1 '))
        r = self.run_job(expect=1)
        self.assertIn('is not in sftp.known_hosts_file', r.stderr)
        self.assertEqual(env.sftp.files(), [])
        with open(env.sftp.known_hosts, 'w', encoding='utf-8') as f:
            f.write(env.sftp.known_hosts_line())
        r = self.run_job(expect=0)
        self.assertIn('event=alert_cleared', r.stderr)
        self.assertEqual(self.states(), {'delivered': 6})

    def test_another_file_under_the_batch_name_is_not_overwritten(self):
        env = self.env
        add_many(env, 3, ['P001'])
        env.write_config({'retry': {'max_attempts': 3, 'linger': '0'}})
        env.partner_down()
        self.run_job(expect=69)  # (the batch formed, its file name known; tried once)
        env.partner_up()
        day, key = env.psql("SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYYMMDD'), idempotency_key"
                            " FROM guestflow.batches")[0]
        name = f'{day}_H-1001_{key}.csv'
        with open(os.path.join(env.sftp.dir, name), 'wb') as f:
            f.write(b'the partner\'s own file\r\n')
        for _ in range(2):
            self.run_job()
            subprocess.run(['sleep', '0.3'], check=True)
        self.assertEqual(self.states(), {'dead': 3})
        reason = env.scalar("SELECT DISTINCT reason FROM guestflow.deliveries")
        self.assertIn(f'another file named {name} is on the server (24 bytes', reason)
        with open(os.path.join(env.sftp.dir, name), 'rb') as f:
            self.assertEqual(f.read(), b'the partner\'s own file\r\n')

    def test_a_crash_after_the_rename_then_changed_data_is_delivered_once(self):
        # Red team: the file was renamed into place, the run killed before it
        # recorded that; the guest's e-mail changes; the resend, re-rendered
        # longer, finds its own file under the batch's name: delivered.
        v = subprocess.run([GUESTFLOW, '--version'], capture_output=True, text=True, timeout=30).stdout
        if 'GUESTFLOW_FAULT' not in v:
            self.skipTest('built without -Dfault_injection=true (tools/test.sh sets it)')
        env = self.env
        add_many(env, 3, ['P001'])
        r = env.gf('run', 'review-nightly', env={'GUESTFLOW_FAULT': 'after_send'})
        self.assertEqual(r.returncode, -9, r.stderr[-2000:])
        self.assertEqual(len(env.sftp.files()), 1)
        env.psql("UPDATE pms.guests SET email = 'a.much.longer.address@example.org' WHERE id = 1;"
                 "UPDATE guestflow.batches SET lease_until = now() - interval '1 s' WHERE lease_until IS NOT NULL")
        r = self.run_job(expect=0)
        self.assertEqual(self.states(), {'delivered': 3})
        self.assertEqual(len(env.sftp.files()), 1)
        self.assertEqual(env.partner_stats()['replays'], 0)
        self.assertIn('the guests\' data changed since', env.scalar(
            "SELECT response_excerpt FROM guestflow.api_calls WHERE response_excerpt IS NOT NULL"))
        self.assertEqual(env.psql("SELECT kind FROM guestflow.alert_events"), [])

    def test_a_rename_that_failed_leaves_a_file_at_the_name_that_is_not_ours(self):
        """Red team: after a rename the server refused (the batch may be
        there, so it is resent whole), any file at the batch's name of
        another size was taken for this batch's, re-rendered: an empty file
        of the partner's own made the guests delivered, though no file of
        ours ever got that name. Now such a file counts as ours only when
        this batch's .part is gone (renamed) and it is not empty; while the
        .part is there, the file is not ours and is not overwritten."""
        env = self.env
        add_many(env, 2, ['P001'])
        env.write_config({'retry': {'max_attempts': 10, 'backoff_initial': '100ms', 'backoff_max': '200ms',
                                    'linger': '0'}})
        env.partner_down()
        self.run_job(expect=69)
        env.partner_up()
        day, key = env.psql("SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYYMMDD'), idempotency_key"
                            " FROM guestflow.batches")[0]
        target = os.path.join(env.sftp.dir, f'{day}_H-1001_{key}.csv')
        # (a dangling link: the look at the name finds nothing, the rename
        # onto it is refused)
        os.symlink('/nonexistent/x', target)
        env.psql("UPDATE guestflow.batches SET next_attempt_at = now()")
        self.run_job(expect=1)
        self.assertEqual(env.psql("SELECT maybe_sent FROM guestflow.batches"), [['t']])
        self.assertEqual(len(env.sftp.parts()), 1)
        os.unlink(target)
        with open(target, 'wb') as f:
            f.write(b'the partner\'s own\r\n')
        env.psql("UPDATE guestflow.batches SET next_attempt_at = now()")
        self.run_job(expect=1)
        self.assertNotIn('delivered', self.states())
        self.assertEqual(os.path.getsize(target), 19)
        self.assertIn("this batch's upload is still at", env.scalar(
            "SELECT last_error FROM guestflow.batches"))
        # (red team: the .part cleaned away by the partner, an empty file is
        # still no file of ours: ours holds a header at least)
        for part in env.sftp.parts():
            os.unlink(os.path.join(env.sftp.dir, part))
        open(target, 'wb').close()
        env.psql("UPDATE guestflow.batches SET next_attempt_at = now()")
        self.run_job(expect=1)
        self.assertNotIn('delivered', self.states())
        self.assertIn(f'another file named {os.path.basename(target)} is on the server', env.scalar(
            "SELECT last_error FROM guestflow.batches"))
        # The partner's file gone: the batch's own goes there.
        os.unlink(target)
        env.psql("UPDATE guestflow.batches SET next_attempt_at = now()")
        self.run_job(expect=0)
        self.assertEqual(self.states(), {'delivered': 2})
        self.assertEqual(sorted(g['bookingNo'] for g in env.recorded()), ['B-1', 'B-2'])
        self.assertEqual(env.sftp.parts(), [])

    def test_a_write_the_server_refuses_is_retried_then_dead_with_its_message(self):
        env = self.env
        add_many(env, 3, ['P001'])
        env.write_config({'endpoint': env.sftp.endpoint + 'missing/'})
        codes = []
        for _ in range(2):
            codes.append(self.run_job().returncode)
            subprocess.run(['sleep', '0.3'], check=True)
        # (the server answered: never "no partner could be reached", 69)
        self.assertIn(1, codes)
        self.assertNotIn(69, codes)
        self.assertEqual(self.states(), {'dead': 3})
        self.assertIn('No such file', env.scalar("SELECT DISTINCT reason FROM guestflow.deliveries"))
        self.assertEqual(env.psql("SELECT DISTINCT method, outcome FROM guestflow.api_calls"), [['PUT', 'retry']])
        # The directory made: rerun --dead, and they go.
        os.mkdir(os.path.join(env.sftp.dir, 'missing'))
        self.assertEqual(env.gf('rerun', 'review-nightly', '--dead').returncode, 0)
        self.run_job(expect=0)
        self.assertEqual(self.states(), {'delivered': 3})
        self.assertEqual(len(os.listdir(os.path.join(env.sftp.dir, 'missing'))), 1)

    def test_a_part_file_left_by_a_crash_is_replaced(self):
        env = self.env
        add_many(env, 2, ['P001'])
        env.write_config({'retry': {'max_attempts': 3, 'linger': '0'}})
        env.partner_down()
        self.run_job(expect=69)
        env.partner_up()
        day, key = env.psql("SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYYMMDD'), idempotency_key"
                            " FROM guestflow.batches")[0]
        part = os.path.join(env.sftp.dir, f'.{day}_H-1001_{key}.csv.part')
        with open(part, 'wb') as f:
            f.write(b'half a file' * 1000)
        # (due now, whatever the backoff drew after the first attempt: the
        # CI's ASan run came back within it)
        env.psql("UPDATE guestflow.batches SET next_attempt_at = now()")
        r = self.run_job(expect=0)
        self.assertEqual(env.sftp.parts(), [])
        self.assertEqual(sorted(g['bookingNo'] for g in env.recorded()), ['B-1', 'B-2'], r.stderr[-2000:])

    def test_a_password_file_logs_in(self):
        if os.geteuid() != 0:
            self.skipTest('needs root to make a throwaway user')
        env = self.env
        user = f'gfsftp{os.getpid() % 100000}'
        r = subprocess.run(['useradd', '-M', '-d', env.sftp.dir, '-s', '/bin/sh', user], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        env.sftp.password_users.append(user)  # (userdel when the server stops)
        subprocess.run(['chpasswd'], input=f'{user}:pa ss;word"1\n', text=True, check=True, timeout=30)
        os.chmod(env.sftp.dir, 0o777)
        env.sftp.stop_sshd()
        env.sftp.write_config(password_auth=True)
        env.sftp.start_sshd()
        pw = os.path.join(env.dir, 'sftp-password')
        with open(pw, 'w', encoding='utf-8') as f:
            f.write('pa ss;word"1\n')
        os.chmod(pw, 0o600)
        add_many(env, 2, ['P001'])
        env.base_job['sftp'] = {'user': user, 'password_file': pw, 'known_hosts_file': env.sftp.known_hosts}
        env.write_config()
        r = self.run_job(expect=0)
        self.assertEqual(len(env.sftp.files()), 1, r.stderr[-2000:])
        self.assertNotIn('pa ss', r.stdout + r.stderr)
        # A wrong password: the job's account refused.
        with open(pw, 'w', encoding='utf-8') as f:
            f.write('wrong\n')
        add_many(env, 2, ['P001'], start=3)
        r = self.run_job(expect=1)
        self.assertIn('event=account_refused', r.stderr)
        self.assertIn('Login denied', r.stderr)


class VisitsCsvConfigTest(GFTestCase):
    """What a visits-csv job and its connections must be: refused with the
    file, the line and the key."""
    sftp = True

    def check(self, job):
        self.env.write_config(job)
        return self.env.gf('check-config')

    def test_the_job_file_is_checked_whole(self):
        env = self.env
        path = os.path.join(env.jobs_dir, 'review-nightly.yaml')
        sftp = env.base_job['sftp']
        env.base_job['sftp'] = {'user': 'root', 'private_key_file': sftp['private_key_file']}
        r = self.check({})
        self.assertEqual(r.returncode, 78)
        self.assertIn(path, r.stderr)
        self.assertIn("'sftp' needs 'known_hosts_file'", r.stderr)
        env.base_job['sftp'] = dict(sftp, password_file=sftp['known_hosts_file'])
        self.assertIn("one of 'private_key_file' and 'password_file', not both", self.check({}).stderr)
        env.base_job['sftp'] = dict(sftp, known_hosts_file=os.path.join(env.dir, 'nowhere'))
        r = self.check({})
        self.assertRegex(r.stderr, r"review-nightly\.yaml:\d+:\d+: 'sftp\.known_hosts_file' .*nowhere cannot be read")
        pw = os.path.join(env.dir, 'password')
        with open(pw, 'w', encoding='utf-8') as f:
            f.write('\r\nsecond line\n')
        env.base_job['sftp'] = {'user': 'root', 'password_file': pw, 'known_hosts_file': sftp['known_hosts_file']}
        r = self.check({})
        self.assertRegex(r.stderr, r"'sftp\.password_file' .*password holds no password on its first line")
        env.base_job['sftp'] = sftp
        self.assertIn('ends with', self.check({'endpoint': env.sftp.endpoint.rstrip('/')}).stderr)
        self.assertIn('must start with sftp://', self.check({'endpoint': 'https://example.org/x/'}).stderr)
        self.assertIn("the account is 'sftp.user'",
                      self.check({'endpoint': env.sftp.endpoint.replace('sftp://', 'sftp://bob@')}).stderr)
        r = self.check({'format': 'review-xml', 'endpoint': 'https://example.org/v1/guests'})
        self.assertIn("'sftp' is for a format sent over SFTP (visits-csv), not review-xml", r.stderr)
        self.assertEqual(self.check({}).returncode, 0)

    def test_connections_take_a_hotel_id_and_no_secret(self):
        env = self.env
        r = env.gf('connection', 'add', 'P009', 'reviewhub', '--hotel-id', 'H-9', input='')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(env.psql("SELECT id_at_partner, secret, secret_enc FROM guestflow.connections"
                                  " WHERE property_id = 'P009'"), [['H-9', None, None]])
        r = env.gf('connection', 'show', 'P009', 'reviewhub')
        self.assertIn('hotel id:    H-9\nsecret:      none: the job holds the account\n', r.stdout)
        r = env.gf('run', 'review-nightly', '--dry-run')
        self.assertIn('HOTEL ID', r.stdout)
        r = env.gf('connection', 'add', 'P010', 'reviewhub', '--property-id', 'H-10', input='')
        self.assertEqual(r.returncode, 64)
        self.assertIn('take --hotel-id ID, not --property-id', r.stderr)
        r = env.gf('connection', 'add', 'P010', 'reviewhub', '--hotel-id', 'H/10', input='')
        self.assertEqual(r.returncode, 65)
        self.assertIn("'/' cannot be part of a file name", r.stderr)
        r = env.gf('connection', 'set-credentials', 'P009', 'reviewhub', input='x' * 20 + '\n')
        self.assertEqual(r.returncode, 64)
        self.assertIn('hold no secret', r.stderr)
        # It sends like the others.
        self.assertEqual(env.gf('connection', 'activate', 'P009', 'reviewhub', *FORCE).returncode, 0)
        env.psql("INSERT INTO pms.properties VALUES ('P009', 'Hotel P009')")
        add_booking(env, 1, prop='P009')
        self.run_job(expect=0)
        self.assertEqual([g['hotelId'] for g in env.recorded()], ['H-9'])

    def test_dry_run_shows_the_file(self):
        env = self.env
        add_booking(env, 1, last='A;B')
        r = env.gf('run', 'review-nightly', '--dry-run')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('H-1001;B-1;"A;B";Max;guest1@example.org;male;de;checked_out;', r.stdout)
        self.assertEqual(env.sftp.files(), [])


if __name__ == '__main__':
    main()
