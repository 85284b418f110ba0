#!/usr/bin/env python3
"""The command line: db migrate, check-config, connection management, usage
and configuration errors, exit codes."""
import ctypes
import os
import re
import subprocess

from gftest import FORCE, GUESTFLOW, SRC, GFTestCase, add_booking, main, private_cluster


class CliTest(GFTestCase):

    def test_migrate_is_idempotent_and_refuses_a_newer_schema(self):
        env = self.env
        r = env.gf('db', 'migrate')
        self.assertEqual(r.returncode, 0, r.stderr)
        files = sorted(f for f in os.listdir(os.path.join(os.environ['GF_SOURCE_ROOT'], 'schemas', 'sql'))
                       if re.match(r'^\d{4}_.*\.sql$', f))
        self.assertIn(f'schema up to date at version {len(files)}', r.stdout)
        self.assertEqual(env.psql("SELECT version, name FROM guestflow.schema_migrations ORDER BY 1"),
                         [[str(int(f[:4])), f[5:-4]] for f in files])
        env.psql("INSERT INTO guestflow.schema_migrations (version, name) VALUES (99, 'from_the_future')")
        r = env.gf('db', 'migrate')
        self.assertEqual(r.returncode, 78)
        self.assertIn('newer than this guestflow', r.stderr)
        r = self.run_job(expect=78)
        self.assertIn('event=schema_too_new', r.stderr)

    def test_a_database_of_the_squashed_migrations_is_a_clear_error(self):
        """Issue 15: 0001-0012 were squashed into 0001_baseline (nothing had been
        released): a development database migrated by them is not converted."""
        env = self.env
        env.psql("DELETE FROM guestflow.schema_migrations WHERE version > 1;"
                 "UPDATE guestflow.schema_migrations SET name = 'core' WHERE version = 1;"
                 "INSERT INTO guestflow.schema_migrations (version, name)"
                 " SELECT v, 'step_' || v FROM generate_series(2, 12) v")
        r = env.gf('db', 'migrate')
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn('event=schema_history_unknown version=1 name=core', r.stderr)
        self.assertIn("squashed into 0001_baseline", r.stderr)
        self.assertNotIn('event=schema_too_new', r.stderr)
        r = self.run_job(expect=78)
        self.assertIn('event=schema_history_unknown', r.stderr)

    def test_run_without_schema_or_adapters_is_a_clear_error(self):
        env = self.env
        env.psql("DROP VIEW guestflow.source_bookings")
        r = self.run_job(expect=78)
        self.assertIn('guestflow.source_bookings', r.stderr)
        env.psql("DROP SCHEMA guestflow CASCADE")
        r = self.run_job(expect=78)
        self.assertIn("run 'guestflow db migrate'", r.stderr)
        # Migrating again recreates everything, the adapters included.
        r = env.gf('db', 'migrate')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('installed the reference source adapters', r.stdout)

    def test_an_adapter_without_updated_at_is_a_clear_error(self):
        """Red team (issue 15): the source contract gained updated_at (item 4); an
        operator's adapter written to the older contract is named as such (exit 78),
        not a database error at every run."""
        env = self.env
        add_booking(env, 1)
        env.psql("DROP VIEW guestflow.source_bookings;"
                 "CREATE VIEW guestflow.source_bookings AS"
                 " SELECT b.id AS booking_id, b.property_id, b.booking_no, b.status, b.arrival, b.departure,"
                 "        b.checked_out_at, b.notify_on_occupancy AS notify, g.last_name, g.first_name, g.email,"
                 "        g.gender, g.language"
                 "   FROM pms.bookings b LEFT JOIN pms.guests g ON g.id = b.guest_id")
        r = self.run_job(expect=78)
        self.assertIn('updated_at', r.stderr)
        self.assertIn('event=adapter_missing', r.stderr)
        self.assertEqual(env.recorded(), [])

    def test_check_config_lists_jobs_and_names_errors(self):
        env = self.env
        r = env.gf('check-config')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r'(?m)^job review-nightly: enabled, partner reviewhub, format review-xml, ')
        job = os.path.join(env.jobs_dir, 'review-nightly.yaml')
        text = open(job).read()
        with open(job, 'w') as f:
            f.write(text.replace('max_records:', 'max_record:'))
        r = env.gf('check-config')
        self.assertEqual(r.returncode, 78)
        self.assertRegex(r.stderr, re.escape(job) + r":\d+:\d+: unknown key 'max_record'")
        r = self.run_job(expect=78)
        self.assertIn("unknown key 'max_record'", r.stderr)
        with open(job, 'w') as f:
            f.write(text.replace('in_flight: 4', 'in_flight: many'))
        r = env.gf('check-config')
        self.assertEqual(r.returncode, 78)
        self.assertRegex(r.stderr, re.escape(job) + r":\d+:\d+: .*in_flight.*many")

    def test_a_job_file_not_named_yaml_is_warned_of(self):
        """Red team: a job file saved as survey.yml (or .YAML) is not read;
        every command says so, check-config and timers (which then removes
        the job's schedule) included. Backups (*.yaml~, *.dpkg-old) are
        not warned of."""
        env = self.env
        job = os.path.join(env.jobs_dir, 'review-nightly.yaml')
        with open(job) as f:
            text = f.read().replace('name: "review-nightly"', 'name: "survey"')
        for name in ('survey.yml', 'Other.YAML', 'review-nightly.yaml~', 'review-nightly.yaml.dpkg-old'):
            with open(os.path.join(env.jobs_dir, name), 'w') as f:
                f.write(text)
        for args in (('check-config',), ('status',)):
            r = env.gf(*args)
            self.assertEqual(r.returncode, 0, r.stderr)
            for name in ('survey.yml', 'Other.YAML'):
                self.assertIn(f'guestflow: warning: {os.path.join(env.jobs_dir, name)} is not read: job files are'
                              ' named *.yaml', r.stderr)
            self.assertNotIn('~', r.stderr)
            self.assertNotIn('dpkg-old', r.stderr)
        r = env.gf('check-config')
        self.assertIn('ok, 1 job', r.stdout)

    def test_shipped_config_files_are_valid(self):
        env = self.env
        src = os.environ['GF_SOURCE_ROOT']
        cfg = os.path.join(env.dir, 'shipped.yaml')
        with open(os.path.join(src, 'etc', 'guestflow.yaml')) as f:
            text = f.read()
        with open(cfg, 'w') as f:
            f.write(re.sub(r'(?m)^jobs_dir:.*$', f'jobs_dir: {os.path.join(src, "jobs")}', text))
        r = subprocess.run([GUESTFLOW, '-c', cfg, 'check-config'], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('job review-nightly: enabled, partner reviewhub, format review-xml, endpoint https://', r.stdout)

    def test_connection_lifecycle_and_key_from_stdin(self):
        env = self.env
        r = env.gf('connection', 'add', 'P009', 'reviewhub', '--hotel-id', 'H-9', input='topsecret+/=\n')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn('topsecret', r.stdout + r.stderr)
        # stored encrypted (test_secrets.py has the details), never in plain text
        self.assertEqual(env.psql("SELECT id_at_partner, secret, secret_enc IS NOT NULL, status"
                                  " FROM guestflow.connections WHERE property_id = 'P009'"),
                         [['H-9', None, 't', 'setup']])
        r = env.gf('connection', 'add', 'P009', 'reviewhub', '--hotel-id', 'H-9', input='again-key\n')
        self.assertEqual(r.returncode, 65)
        self.assertIn('already has a connection', r.stderr)
        r = env.gf('connection', 'add', 'P008', 'reviewhub', '--hotel-id', 'H-8', input='')
        self.assertEqual(r.returncode, 65)
        self.assertIn('no access key on standard input', r.stderr)
        r = env.gf('connection', 'list')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r'(?m)^P009\s+reviewhub\s+H-9\s+setup\s')
        self.assertNotIn('topsecret', r.stdout)
        self.assertEqual(env.gf('connection', 'stop', 'P009', 'reviewhub').returncode, 65)  # not live
        for verb, status in (('activate', 'live'), ('stop', 'stopped'), ('activate', 'live'), ('deactivate', 'deactivated')):
            r = env.gf('connection', verb, 'P009', 'reviewhub', *(FORCE if verb == 'activate' else ()))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(f'is now {status}', r.stdout)
        r = env.gf('connection', 'show', 'P009', 'reviewhub')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('status:      deactivated', r.stdout)
        self.assertEqual(len(re.findall(r'(?m)^  \d{4}-', r.stdout)), 5)
        self.assertEqual(env.gf('connection', 'show', 'P404', 'reviewhub').returncode, 65)

    def test_usage_errors_and_help(self):
        env = self.env
        self.assertEqual(env.gf().returncode, 64)
        self.assertEqual(env.gf('frobnicate').returncode, 64)
        self.assertEqual(env.gf('run').returncode, 64)
        r = env.gf('run', 'no-such-job')
        self.assertEqual(r.returncode, 64)
        self.assertIn('jobs: review-nightly', r.stderr)
        for cmd in (['--help'], ['run', '--help'], ['db', '--help'], ['check-config', '--help'],
                    ['connection', '--help']):
            r = env.gf(*cmd)
            self.assertEqual(r.returncode, 0, cmd)
            self.assertIn('Usage: guestflow', r.stdout)

    def test_issue_16_keys_and_commands_are_documented_everywhere(self):
        """fields.omit, the formats, the id options and set-credentials: in
        --help, the man page, the README and the shipped job file alike."""
        env = self.env
        def read(*path):
            with open(os.path.join(SRC, *path), encoding='utf-8') as f:
                return f.read()
        man, readme, job = read('packaging', 'man', 'guestflow.1'), read('README.md'), read('jobs', 'review-nightly.yaml')
        helps = env.gf('--help').stdout + env.gf('connection', '--help').stdout
        for word in ('set-credentials', '--property-id', '--hotel-id'):
            self.assertIn(word, helps, word)
            self.assertIn(word.replace('-', '\\-'), man, word)
            self.assertIn(word, readme, word)
        for word in ('fields.omit', 'guest-json'):
            self.assertIn(word.replace('-', '\\-') if word == 'guest-json' else word, man, word)
            self.assertIn(word, readme, word)
        self.assertRegex(job, r'(?m)^fields:\n(  #.*\n)*  omit: \[\]$')
        self.assertIn('"guest-json"', job)
        # visits-csv and its job's SFTP account (every key of the sftp section)
        self.assertIn('visits-csv', helps)
        self.assertIn('"visits-csv"', job)
        for key in ('user', 'private_key_file', 'password_file', 'known_hosts_file'):
            self.assertRegex(job, rf'(?m)^#   {key}: ', key)
            self.assertIn(f'sftp.{key}', man, key)
            self.assertIn(f'sftp.{key}', readme, key)
        self.assertIn('visits\\-csv', man)
        self.assertIn('visits-csv', readme)
        # the connection test and the event pull
        for words, man_words in ((('connection test',), ('connection test',)),
                                 (('pull [JOB]', 'guestflow pull'), ('.B pull', '.BR pull'))):
            for w in words:
                self.assertIn(w, helps + readme if w.startswith('guestflow') else helps, w)
            for w in man_words:
                self.assertIn(w, man, w)
        self.assertIn('guestflow connection test', readme)
        # the go-live gate: consent and activate with their options
        conn_help = env.gf('connection', '--help').stdout
        for w in ('connection consent', '--terms-version', '--withdraw', '--force --reason'):
            self.assertIn(w, helps + conn_help, w)
            self.assertIn(w.replace('-', '\\-'), man, w)
            self.assertIn(w, readme, w)
        # contacts: edit, support hours and time zone
        contact_help = env.gf('contact', '--help').stdout
        for w in ('contact edit', '--hours', '--time-zone', '--no-hours'):
            self.assertIn(w, contact_help, w)
            self.assertIn(w, helps + contact_help if w != '--no-hours' else contact_help, w)
            self.assertIn(w.replace('-', '\\-'), man, w)
        for w in ('contact edit', '--hours', '--time-zone', 'escalation'):
            self.assertIn(w, readme, w)
        # the entries pull writes, one template per event type
        for t in ('invited', 'bounced', 'reviewed', 'unsubscribed', 'rejected'):
            self.assertRegex(job, rf'(?m)^    {t}: "', t)
            self.assertIn(f'.{t}', man, t)
        self.assertIn('history.events', man)
        self.assertIn('history.events', readme)
        # the automatic stop: the job key and the source contract's view
        self.assertRegex(job, r'(?m)^on_removed: keep$')
        for w in ('on_removed', 'source_properties', 'export_allowed'):
            self.assertIn(w, man, w)
            self.assertIn(w, readme, w)
        for code in ('77', '67', '79', '76'):
            self.assertIn(code, env.gf('connection', '--help').stdout, code)
            self.assertIn(f'.TQ\n{code}\n', man, code)
        # status mapping (issue 17 item 8): the command, the job key
        self.assertRegex(job, r'(?m)^  statuses: \[checked_out\]$')
        sm_help = env.gf('status-map', '--help').stdout
        for w in ('status-map set', 'status-map list', 'status-map remove'):
            self.assertIn(w, env.gf('--help').stdout, w)
            self.assertIn(w, sm_help, w)
            self.assertIn(w.replace('-', '\\-'), man, w)
            self.assertIn(w, readme, w)
        for w in ('selection.statuses', 'status known to the partner'):
            self.assertIn(w, man, w)
            self.assertIn(w, readme, w)
        # the partner is told: the main file's partners and a connection's own address
        example = read('etc', 'guestflow.yaml')
        self.assertRegex(example, r'(?m)^# partners:\n#   reviewhub:\n(#     #.*\n)*#     email: "')
        for w in ('set-partner-email', '--partner-email', '--clear'):
            self.assertIn(w, helps + conn_help, w)
            self.assertIn(w.replace('-', '\\-'), man, w)
        for w in ('set-partner-email', '--partner-email', 'partners:'):
            self.assertIn(w, readme, w)
        self.assertIn('.BI partners. partner .email', man)
        self.assertIn('The partner is told', man)

    def test_version_names_the_libraries_it_runs_with(self):
        """Issue 18 item 8: --version prints guestflow's version, then each
        library's as loaded (the same the dynamic loader gives this process:
        asked of the very files ldd resolves)."""
        r = subprocess.run([GUESTFLOW, '--version'], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertRegex(lines[0], r'^guestflow \d+\.\d+\.\d+$')
        got = dict(line.split(' ', 1) for line in lines if not line.startswith(('guestflow ', 'test build')))
        self.assertEqual(sorted(got), ['jansson', 'libcrypto', 'libcurl', 'libpq', 'libxml2', 'libyaml', 'zlib'])
        ldd = subprocess.run(['ldd', GUESTFLOW], capture_output=True, text=True, timeout=30).stdout
        def lib(prefix):
            m = re.search(rf'^\s*{re.escape(prefix)}\S* => (\S+)', ldd, re.M)
            self.assertIsNotNone(m, f'{prefix} in ldd {GUESTFLOW}')
            return ctypes.CDLL(m.group(1))
        z = lib('libz.so')
        z.zlibVersion.restype = ctypes.c_char_p
        self.assertEqual(got['zlib'], z.zlibVersion().decode())
        pq = lib('libpq.so').PQlibVersion()
        self.assertEqual(got['libpq'], f'{pq // 10000}.{pq % 10000}')
        curl = lib('libcurl.so')
        curl.curl_version.restype = ctypes.c_char_p
        self.assertRegex(curl.curl_version().decode(), r'^libcurl/' + re.escape(got['libcurl'].split(' ')[0]) + ' ')
        y = lib('libyaml')
        y.yaml_get_version_string.restype = ctypes.c_char_p
        self.assertEqual(got['libyaml'], y.yaml_get_version_string().decode())
        self.assertRegex(got['libxml2'], r'^2\.\d+\.\d+$')
        self.assertRegex(got['jansson'], r'^2\.\d+')
        self.assertRegex(got['libcrypto'], r'^OpenSSL \d+\.\d+')

    def test_disabled_job_does_nothing(self):
        env = self.env
        env.write_config({'enabled': False})
        add_booking(env, 1)
        r = self.run_job(expect=0)
        self.assertIn('disabled', r.stdout)
        self.assertEqual(env.sim_stats()['requests'], 0)

    @private_cluster
    def test_database_unreachable_exits_75(self):
        env = self.env
        env.stop_pg()
        r = self.run_job(expect=75)
        self.assertIn('event=db_connect_failed', r.stderr)


if __name__ == '__main__':
    main()
