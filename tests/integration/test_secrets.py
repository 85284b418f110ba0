#!/usr/bin/env python3
"""Secrets stay secret (issue 14, items 2, 6, 10 and 11): access keys stored
encrypted under a key file outside the database (created 0600 on first use,
a wrong or missing one a clear error naming it, rekey, set-key, plain-text
keys of an older schema taken over); keys and hotel ids checked when they are
entered; process hygiene (non-dumpable, the metrics file not redirectable
through a symlink, environment numbers range-checked, advisory locks in the
two-integer form with guestflow's class ids)."""
import glob
import os
import re
import shutil
import stat
import subprocess
import time

from gftest import (FORCE, GUESTFLOW, SRC, Env, GFTestCase, add_booking, add_many, main, wait_for)

MIGRATE_LOCK_CLASS = 1734737923  # src/base/locks.h: GF_LOCK_CLASS_MIGRATE
SECRETS_LOCK_CLASS = 1734737924  # GF_LOCK_CLASS_SECRETS
NOBODY = 65534


def pg_dump(env):
    out = subprocess.run(['pg_dump', '-d', env.conninfo, '--no-owner'], capture_output=True, timeout=120)
    if out.returncode != 0:
        raise AssertionError(f'pg_dump failed: {out.stderr.decode(errors="replace")}')
    return out.stdout


class SecretsTest(GFTestCase):
    accounts = {'H-1001': 'k3y+/=one', 'H-1002': 'k3y+/=two'}

    def key_bytes(self):
        with open(self.env.key_file, 'rb') as f:
            return f.read()

    def assert_no_plain_key(self, *keys):
        env = self.env
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.connections"
                                    " WHERE secret IS NOT NULL OR secret_enc IS NULL"), '0')
        dump = pg_dump(env)
        self.assertIn(b'guestflow.connections', dump)
        for k in keys:
            self.assertNotIn(k.encode(), dump, 'the access key is nowhere in the database')

    # --- item 11: at rest ------------------------------------------------------
    def test_keys_stored_encrypted_key_file_created_0600_and_runs_deliver(self):
        env = self.env
        st = os.lstat(env.key_file)
        self.assertTrue(stat.S_ISREG(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(st.st_uid, os.geteuid())
        self.assertEqual(st.st_size, 32)
        self.assertEqual(env.psql("SELECT id, retired_at IS NULL FROM guestflow.secret_keys"), [['1', 't']])
        # format 1, key 1, and not decryptable in another row (associated data)
        self.assertEqual(env.psql("SELECT DISTINCT get_byte(secret_enc, 0), get_byte(secret_enc, 1)"
                                  " FROM guestflow.connections"), [['1', '1']])
        self.assert_no_plain_key(*self.accounts.values())
        for n in range(1, 7):
            add_booking(env, n, prop='P001' if n % 2 else 'P002')
        r = self.run_job(expect=0)
        self.assertIn(' delivered=6 ', r.stdout)
        self.assertEqual(len(env.recorded()), 6)
        self.assert_no_plain_key(*self.accounts.values())
        for k in self.accounts.values():
            self.assertNotIn(k, r.stdout + r.stderr)
        r = env.gf('connection', 'show', 'P001', 'reviewhub')
        self.assertIn('access key:  stored encrypted (key 1), not shown', r.stdout)

    def test_wrong_missing_or_broken_key_file_is_an_error_naming_it_and_loses_nothing(self):
        env = self.env
        add_many(env, 6, ['P001', 'P002'])
        self.run_job('--limit', '1', expect=0)  # planned all, sent one
        self.assertEqual(self.states(), {'delivered': 1, 'pending': 5})
        good = self.key_bytes()
        calls = env.scalar("SELECT count(*) FROM guestflow.api_calls")

        def broken_run(content, mode=0o600, says=(), symlink=None):
            if os.path.lexists(env.key_file):
                os.unlink(env.key_file)
            if symlink:
                os.symlink(symlink, env.key_file)
            elif content is not None:
                with open(env.key_file, 'wb') as f:
                    f.write(content)
                os.chmod(env.key_file, mode)
            r = self.run_job(expect=78)
            self.assertIn(env.key_file, r.stderr)
            for s in says:
                self.assertIn(s, r.stderr)
            self.assertNotIn('k3y', r.stdout + r.stderr)
            self.assertEqual(self.states(), {'delivered': 1, 'pending': 5}, 'nothing claimed or changed')
            self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.api_calls"), calls)
            return r

        broken_run(os.urandom(32), says=('is not the key the access keys are encrypted with', 'key 1'))
        broken_run(None, says=('is missing', 'does not make a new key'))
        self.assertFalse(os.path.exists(env.key_file), 'never a new key over stored ones')
        broken_run(good[:10], says=('holds 10 bytes',))
        broken_run(good, mode=0o644, says=('mode 0644', 'chmod 600'))
        with open(os.path.join(env.dir, 'elsewhere'), 'wb') as f:
            f.write(good)
        os.chmod(os.path.join(env.dir, 'elsewhere'), 0o600)
        broken_run(None, says=('symbolic link',), symlink=os.path.join(env.dir, 'elsewhere'))
        # The right key back: everything is delivered, once.
        os.unlink(env.key_file)
        with open(env.key_file, 'wb') as f:
            f.write(good)
        os.chmod(env.key_file, 0o600)
        r = self.run_job(expect=0)
        self.assertEqual(self.states(), {'delivered': 6})
        self.assertEqual(len({g['bookingNo'] for g in env.recorded()}), 6)
        self.assertEqual(len(env.recorded()), 6)
        self.assertEqual(env.psql("SELECT count(*) FROM guestflow.secret_keys"), [['1']])

    def test_a_value_that_does_not_decrypt_holds_only_its_connection_until_set_key(self):
        env = self.env
        add_many(env, 8, ['P001', 'P002'])
        # P001's row gets P002's ciphertext: the associated data (the
        # connection id) makes it undecryptable there.
        env.psql("UPDATE guestflow.connections SET secret_enc ="
                 " (SELECT secret_enc FROM guestflow.connections WHERE property_id = 'P002')"
                 " WHERE property_id = 'P001'")
        r = self.run_job(expect=1)
        self.assertRegex(r.stderr, r'event=secret_unreadable connection=\d+ key_file=' + re.escape(env.key_file))
        self.assertEqual(dict(env.psql("SELECT c.property_id || ':' || d.state, count(*) FROM guestflow.deliveries d"
                                       " JOIN guestflow.connections c ON c.id = d.connection_id GROUP BY 1")),
                         {'P001:pending': '4', 'P002:delivered': '4'})
        self.assertEqual({g['hotelId'] for g in env.recorded()}, {'H-1002'})
        alert = env.psql("SELECT kind, message FROM guestflow.alert_events e JOIN guestflow.connections c"
                         " ON c.id = e.connection_id WHERE c.property_id = 'P001' AND cleared_at IS NULL")
        self.assertEqual(len(alert), 1)
        self.assertEqual(alert[0][0], 'auth_failed')
        self.assertIn("guestflow connection set-credentials P001 reviewhub", alert[0][1])
        self.assertIn(env.key_file, alert[0][1])
        # set-key puts it right: recorded without the key; the next run delivers.
        r = env.gf('connection', 'set-key', 'P001', 'reviewhub', input='k3y+/=one\n')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn('k3y', r.stdout + r.stderr)
        r = self.run_job(expect=0)
        self.assertEqual(self.states(), {'delivered': 8})
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.alert_events WHERE cleared_at IS NULL"), '0')

    def restart_sim(self, accounts):
        env = self.env
        env.stop_sim()
        os.unlink(os.path.join(env.dir, 'sim.port'))  # start_sim waits for a new one
        env.start_sim(accounts)
        env.write_config(self.job_overrides)

    def test_set_key_replaces_a_key_and_is_recorded_without_it(self):
        env = self.env
        add_many(env, 4, ['P001', 'P002'])
        # The partner issues H-1001 a new key.
        self.restart_sim({'H-1001': 'n3w-k3y/+=1001', 'H-1002': 'k3y+/=two'})
        self.run_job(expect=1)
        self.assertEqual(dict(env.psql("SELECT c.property_id || ':' || d.state, count(*) FROM guestflow.deliveries d"
                                       " JOIN guestflow.connections c ON c.id = d.connection_id GROUP BY 1")),
                         {'P001:pending': '2', 'P002:delivered': '2'})
        before = env.scalar("SELECT encode(secret_enc, 'hex') FROM guestflow.connections WHERE property_id = 'P001'")
        for bad, says in (('with space!', 'a space'), ('short', 'has 5'), ('x' * 8193, 'has 8193'),
                          ('x' * (2 << 20), 'more than 1048576 bytes'), ('', 'no access key')):
            r = env.gf('connection', 'set-key', 'P001', 'reviewhub', input=bad + '\n')
            self.assertEqual(r.returncode, 65, r.stderr)
            self.assertIn(says, r.stderr)
        self.assertEqual(env.gf('connection', 'set-key', 'P404', 'reviewhub', input='n3w-k3y/+=1001\n').returncode, 65)
        r = env.gf('connection', 'set-key', 'P001', 'reviewhub', input='n3w-k3y/+=1001\r\n')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('access key replaced', r.stdout)
        after = env.scalar("SELECT encode(secret_enc, 'hex') FROM guestflow.connections WHERE property_id = 'P001'")
        self.assertNotEqual(before, after)
        ev = env.psql("SELECT from_status, to_status, note FROM guestflow.connection_events e"
                      " JOIN guestflow.connections c ON c.id = e.connection_id"
                      " WHERE c.property_id = 'P001' ORDER BY e.id DESC LIMIT 1")
        self.assertEqual(ev, [['live', 'live', 'access key replaced (stored encrypted, key 1)']])
        r = env.gf('connection', 'show', 'P001', 'reviewhub')
        self.assertIn('access key replaced', r.stdout)
        self.assertNotIn('n3w', r.stdout)
        r = self.run_job(expect=0)
        self.assertEqual(self.states(), {'delivered': 4})
        self.assert_no_plain_key('n3w-k3y/+=1001', 'k3y+/=two')

    def test_rekey_reencrypts_everything_keeps_the_old_key_and_runs_deliver(self):
        env = self.env
        add_many(env, 4, ['P001', 'P002'])
        self.run_job(expect=0)
        old = self.key_bytes()
        # A stored value that does not decrypt: the rekey changes nothing.
        good_p001 = env.scalar("SELECT encode(secret_enc, 'hex') FROM guestflow.connections WHERE property_id = 'P001'")
        env.psql("UPDATE guestflow.connections SET secret_enc ="
                 " (SELECT secret_enc FROM guestflow.connections WHERE property_id = 'P002')"
                 " WHERE property_id = 'P001'")
        r = env.gf('connection', 'rekey')
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assertIn('does not decrypt with ' + env.key_file, r.stderr)
        self.assertIn('nothing changed', r.stderr)
        self.assertEqual(self.key_bytes(), old)
        self.assertEqual(sorted(n for n in os.listdir(env.dir) if n.startswith('secrets.key')), ['secrets.key'])
        self.assertEqual(env.psql("SELECT id FROM guestflow.secret_keys"), [['1']])
        env.psql(f"UPDATE guestflow.connections SET secret_enc = decode('{good_p001}', 'hex')"
                 " WHERE property_id = 'P001'")
        before = env.psql("SELECT id, encode(secret_enc, 'hex') FROM guestflow.connections ORDER BY id")
        r = env.gf('connection', 'rekey')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f'2 secrets re-encrypted under key 2 in {env.key_file}', r.stdout)
        self.assertIn(f'{env.key_file}.old', r.stdout)
        new = self.key_bytes()
        self.assertNotEqual(new, old)
        self.assertEqual(len(new), 32)
        self.assertEqual(stat.S_IMODE(os.stat(env.key_file).st_mode), 0o600)
        with open(env.key_file + '.old', 'rb') as f:
            self.assertEqual(f.read(), old, 'the previous key is kept as FILE.old')
        self.assertEqual(stat.S_IMODE(os.stat(env.key_file + '.old').st_mode), 0o600)
        self.assertFalse(os.path.exists(env.key_file + '.new'))
        after = env.psql("SELECT id, encode(secret_enc, 'hex') FROM guestflow.connections ORDER BY id")
        self.assertTrue(all(a[1] != b[1] and a[1][:4] == '0102' for a, b in zip(after, before)), after)
        self.assertEqual(env.psql("SELECT id, retired_at IS NOT NULL FROM guestflow.secret_keys ORDER BY id"),
                         [['1', 't'], ['2', 'f']])
        self.assertTrue(env.scalar("SELECT note FROM guestflow.connection_events ORDER BY id DESC LIMIT 1")
                        .startswith('activated with --force: test setup'), 'rekey changes no connection')
        add_many(env, 4, ['P001', 'P002'], start=5)
        self.run_job(expect=0)
        self.assertEqual(self.states(), {'delivered': 8})
        # The old key file back in place: a clear error, nothing re-encrypted.
        shutil.copy(env.key_file, env.key_file + '.keep')
        shutil.copy(env.key_file + '.old', env.key_file)
        add_many(env, 2, ['P001', 'P002'], start=9)
        r = self.run_job(expect=78)
        self.assertIn(f'secrets key {env.key_file} holds key 1, which', r.stderr)
        self.assertIn('replaced', r.stderr)
        # A rekey cut short after its commit (FILE.new not yet renamed over
        # FILE) is finished by the next run.
        os.rename(env.key_file + '.keep', env.key_file + '.new')
        r = self.run_job(expect=0)
        self.assertIn('event=secrets_rekey_finished', r.stderr)
        self.assertEqual(self.key_bytes(), new)
        with open(env.key_file + '.old', 'rb') as f:
            self.assertEqual(f.read(), old, 'the previous key is still kept as FILE.old')
        self.assertEqual(self.states(), {'delivered': 10})
        self.assert_no_plain_key(*self.accounts.values())

    def test_plain_text_written_by_sql_is_taken_over_at_the_next_run(self):
        env = self.env
        add_many(env, 2, ['P001', 'P002'])
        env.psql("UPDATE guestflow.connections SET secret = 'k3y+/=one' WHERE property_id = 'P001'")
        r = self.run_job(expect=0)
        self.assertIn('event=secrets_encrypted count=1', r.stderr)
        self.assertEqual(self.states(), {'delivered': 2})
        self.assert_no_plain_key(*self.accounts.values())

    # --- items 6 and 2: checked when entered --------------------------------
    def test_connections_stored_before_the_columns_were_renamed_migrate_unchanged(self):
        """Issue 16 item 3: migration 6 names a connection's credentials for every
        output (id_at_partner, secret, secret_enc); a database at version 5, its
        review-xml keys encrypted, keeps them: same ids, same ciphertexts, which
        still decrypt (their associated data is the connection id), and the
        next run delivers."""
        env = self.env
        add_many(env, 4, ['P001', 'P002'])
        before = env.psql("SELECT id, property_id, id_at_partner, encode(secret_enc, 'hex')"
                          " FROM guestflow.connections ORDER BY id")
        # The database as version 5 left it.
        env.psql("ALTER TABLE guestflow.connections RENAME COLUMN id_at_partner TO hotel_id;"
                 "ALTER TABLE guestflow.connections RENAME COLUMN secret TO access_key;"
                 "ALTER TABLE guestflow.connections RENAME COLUMN secret_enc TO access_key_enc;"
                 "ALTER TABLE guestflow.connections RENAME CONSTRAINT connections_id_at_partner_check"
                 " TO connections_hotel_id_check;"
                 "ALTER TABLE guestflow.connections RENAME CONSTRAINT connections_secret_check"
                 " TO connections_access_key_check;"
                 "ALTER TABLE guestflow.connections RENAME CONSTRAINT connections_secret_enc_check"
                 " TO connections_access_key_enc_check;"
                 # (and what 7 to 14 made)
                 "DROP TABLE guestflow.consents;"
                 "DROP INDEX guestflow.suppressions_event;"
                 "ALTER TABLE guestflow.runs DROP COLUMN process, DROP COLUMN lost_at;"
                 "ALTER TABLE guestflow.alert_events DROP COLUMN mailing_until;"
                 "ALTER TABLE guestflow.connections DROP COLUMN partner_email, DROP COLUMN pull_failures;"
                 "ALTER TABLE guestflow.connection_events DROP COLUMN partner_notice, DROP COLUMN partner_to,"
                 " DROP COLUMN partner_told_at, DROP COLUMN partner_attempts, DROP COLUMN partner_error,"
                 " DROP COLUMN partner_sending_until;"
                 "ALTER TABLE guestflow.connections ADD COLUMN terms_accepted_at timestamptz;"
                 "ALTER TABLE guestflow.contacts DROP COLUMN support_hours, DROP COLUMN time_zone;"
                 "ALTER TABLE guestflow.alert_events DROP CONSTRAINT alert_events_kind_check;"
                 "ALTER TABLE guestflow.alert_events ADD CONSTRAINT alert_events_kind_check CHECK (kind IN"
                 " ('auth_failed', 'dead_deliveries', 'partner_unreachable', 'failed_runs', 'requests_refused',"
                 " 'connection_invalid'));"
                 # (and 15 to 20)
                 "ALTER TABLE guestflow.deliveries DROP COLUMN email_hash, DROP COLUMN history_pending;"
                 "ALTER TABLE guestflow.partner_events DROP COLUMN history_pending;"
                 "DROP FUNCTION guestflow.email_hash(text);"
                 "DROP TABLE guestflow.suppression_removals;"
                 "DROP INDEX guestflow.partner_events_once;"
                 "CREATE UNIQUE INDEX partner_events_once ON guestflow.partner_events (connection_id, booking_no, type,"
                 " coalesce(at, '-infinity'::timestamptz), coalesce(batch_key, ''));"
                 "DROP TRIGGER connection_ended ON guestflow.connections;"
                 "DROP FUNCTION guestflow.connection_ended_notify();"
                 "DELETE FROM guestflow.schema_migrations WHERE version >= 6")
        self.run_job(expect=78)
        # every command on guestflow's tables says what to do, not a database error
        for args in (('connection', 'show', 'P001', 'reviewhub'), ('connection', 'list'), ('contact', 'list'),
                     ('connection', 'activate', 'P001', 'reviewhub'),
                     ('connection', 'consent', 'P001', 'reviewhub', '--by', 'Anna', '--terms-version', '1')):
            r = env.gf(*args)
            self.assertEqual(r.returncode, 78, f'{args}: {r.stderr}')
            self.assertIn("run 'guestflow db migrate'", r.stderr)
        r = env.gf('db', 'migrate')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(env.psql("SELECT id, property_id, id_at_partner, encode(secret_enc, 'hex')"
                                  " FROM guestflow.connections ORDER BY id"), before)
        self.run_job(expect=0)
        self.assertEqual(len(env.recorded()), 4)
        self.assertIn('H-1001', env.gf('connection', 'list').stdout)

    def test_connection_add_refuses_bad_keys_and_hotel_ids_naming_field_and_rule(self):
        env = self.env
        # review-xml's rule: 8 to 8192 printable ASCII characters without spaces
        for key, says in (('short', 'has 5'), ('with space', 'character 5 is a space'),
                          ('tab\there-and-more', 'a control character'), ('k\u00e4y-umlaut', 'not ASCII'),
                          ('x' * 8193, 'has 8193'), ('y' * (2 << 20), 'more than 1048576 bytes'),
                          ('', 'no access key')):
            r = env.gf('connection', 'add', 'P009', 'reviewhub', '--hotel-id', 'H-9', input=key + '\n')
            self.assertEqual(r.returncode, 65, f'{key[:20]!r}: {r.stderr}')
            self.assertIn('access key', r.stderr)
            self.assertIn(says, r.stderr)
            if key:
                self.assertNotIn(key, r.stderr, 'the key is never quoted back')
            if says.startswith('character') or says.startswith('a control') or says.startswith('has'):
                self.assertIn('8 to 8192 printable ASCII characters (0x21-0x7E', r.stderr)
        r = env.gf('connection', 'add', 'P009', 'reviewhub', '--hotel-id', 'H-9', input='x' * 8192 + '\r\n')
        self.assertEqual(r.returncode, 0, r.stderr)
        for hotel, says in ((b'', b'empty'), (b'   ', b'only spaces'), (b'H\t9', b'U+0009'), (b'H\x01', b'U+0001'),
                            (b'H-\xff', b'byte 3 is not UTF-8'), (b'H\xc2\x85', b'U+0085')):
            r = subprocess.run([GUESTFLOW.encode(), b'-c', env.config.encode(), b'connection', b'add', b'P010',
                                b'reviewhub', b'--hotel-id', hotel], input=b'good-key-1\n', capture_output=True,
                               timeout=60)
            self.assertEqual(r.returncode, 65, r.stderr)
            self.assertIn(b'--hotel-id refused', r.stderr)
            self.assertIn(b'nonEmpty', r.stderr)
            self.assertIn(says, r.stderr)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.connections WHERE property_id = 'P010'"), '0')
        r = env.gf('connection', 'add', 'P010', 'reviewhub', '--hotel-id', 'Hôtel du Lac 7', input='good-key-1\n')
        self.assertEqual(r.returncode, 0, r.stderr)

    # --- item 10: process hygiene ---------------------------------------------
    def test_metrics_file_cannot_be_redirected_through_a_planted_symlink(self):
        env = self.env
        mdir = os.path.join(env.dir, 'metrics')
        os.makedirs(mdir)
        with open(env.config, 'a') as f:
            f.write(f'metrics:\n  textfile_dir: "{mdir}"\n')
        victim = os.path.join(env.dir, 'victim')
        with open(victim, 'w') as f:
            f.write('untouched\n')
        add_booking(env, 1)
        # The symlink under the name the temporary file would have had (the
        # old code: .guestflow_JOB.prom.PID); exec keeps the shell's PID.
        r = subprocess.run(['sh', '-c', 'ln -s "$1" "$2/.guestflow_review-nightly.prom.$$" && exec "$3" -c "$4" run review-nightly',
                            'sh', victim, mdir, GUESTFLOW, env.config], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(victim) as f:
            self.assertEqual(f.read(), 'untouched\n', 'the metrics went through the symlink')
        prom = os.path.join(mdir, 'guestflow_review-nightly.prom')
        st = os.lstat(prom)
        self.assertTrue(stat.S_ISREG(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o644)
        with open(prom) as f:
            self.assertIn('guestflow_last_run_exit_code{job="review-nightly"} 0', f.read())
        left = [n for n in os.listdir(mdir) if n != 'guestflow_review-nightly.prom' and not os.path.islink(os.path.join(mdir, n))]
        self.assertEqual(left, [], 'no temporary file left')

    def test_process_is_not_dumpable(self):
        # A non-dumpable process's /proc/PID files belong to root, whoever
        # runs it. Run as nobody (when we are root) or as ourselves: a
        # dumpable process shows its own user there (the control).
        env = self.env
        kw = {'user': NOBODY, 'group': NOBODY, 'extra_groups': []} if os.geteuid() == 0 else {}
        me = NOBODY if os.geteuid() == 0 else os.geteuid()

        def owner_of_proc_status(argv):
            p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
            comm = os.path.basename(argv[0])[:15]
            try:
                # after exec, blocked reading stdin (guestflow: the key)
                def read(name):
                    with open(f'/proc/{p.pid}/{name}') as f:
                        return f.read()
                wait_for(lambda: read('comm').strip() == comm and read('stat').rsplit(')', 1)[1].split()[0] == 'S',
                         20, 'blocked on stdin')
                return os.stat(f'/proc/{p.pid}/status').st_uid
            finally:
                p.stdin.close()
                p.wait(timeout=30)

        self.assertEqual(owner_of_proc_status(['cat', '-']), me, 'a dumpable process: its own /proc files')
        self.assertEqual(owner_of_proc_status([GUESTFLOW, '-c', env.config, 'connection', 'add', 'P1', 'reviewhub',
                                               '--hotel-id', 'H-1']), 0, 'guestflow is not dumpable')

    def test_environment_numbers_are_range_checked(self):
        env = self.env
        add_many(env, 6, ['P001'])
        self.env.write_config({'batch': {'max_records': 1, 'in_flight': 1}})
        for value in ('-1', '0', '99999999999999999999', '1e3', '86401'):
            r = env.gf('run', 'review-nightly', env={'GUESTFLOW_PROGRESS_SECONDS': value})
            self.assertIn(r.returncode, (0,), r.stderr)
            self.assertRegex(r.stderr, r'event=env_ignored name=GUESTFLOW_PROGRESS_SECONDS value=\S+ msg="must be a'
                             r' whole number from 1 to 86400; using the default 10"')
            self.assertNotIn('event=progress', r.stderr, 'the default (10 s) applies: no progress line in a short run')

    def test_advisory_locks_are_the_two_integer_form_and_planning_takes_none(self):
        env = self.env
        with open(os.path.join(SRC, 'schemas', 'sql', 'reference', 'adapters.sql'), encoding='utf-8') as f:
            view = f.read()
        env.psql(view.replace('LEFT JOIN pms.guests g ON g.id = b.guest_id;',
                              'LEFT JOIN pms.guests g ON g.id = b.guest_id'
                              ' WHERE (SELECT true FROM pg_sleep(0.2 + 0 * b.id));'))
        add_many(env, 20, ['P001', 'P002'])
        planning = ("SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
                    " AND query LIKE 'COPY (SELECT p.* FROM (%'")
        p = subprocess.Popen([GUESTFLOW, '-c', env.config, 'run', 'review-nightly'],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: env.scalar(planning) == '1', 30, 'the plan statement running')
            # The deliveries' key, not a lock, decides who plans a pair (issue 15);
            # any advisory lock a run takes is the two-integer form with our class ids.
            self.assertEqual(env.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                                        f" AND (objsubid <> 2 OR classid NOT IN ({MIGRATE_LOCK_CLASS},"
                                        f" {SECRETS_LOCK_CLASS}))"), '0')
        finally:
            out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(self.states(), {'delivered': 20})


class FreshInstallTest(GFTestCase):
    """No connection yet: the key file does not exist until the first use."""
    accounts = {'H-1001': 'k3y+/=one'}
    properties = {'P001': 'H-1001'}

    def make_env(self, job_overrides=None):
        env = Env()
        self.addCleanup(env.cleanup)
        env.start_pg()
        env.load_reference_schema()
        env.psql(''.join(f"INSERT INTO pms.properties VALUES ('{p}', 'Hotel {p}');" for p in self.properties))
        env.start_sim(self.accounts)
        env.write_config(self.job_overrides)
        r = env.gf('db', 'migrate')
        self.assertEqual(r.returncode, 0, r.stderr)
        return env

    def test_key_file_is_made_on_first_use_only_and_never_through_a_symlink(self):
        env = self.env
        self.assertFalse(os.path.exists(env.key_file), 'db migrate makes no key')
        # A symlink planted where the key goes: not followed, not replaced.
        victim = os.path.join(env.dir, 'victim')
        with open(victim, 'wb') as f:
            f.write(b'v' * 32)
        os.symlink(victim, env.key_file)
        r = env.gf('connection', 'add', 'P001', 'reviewhub', '--hotel-id', 'H-1001', input='k3y+/=one\n')
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn(f'secrets key {env.key_file} is a symbolic link', r.stderr)
        with open(victim, 'rb') as f:
            self.assertEqual(f.read(), b'v' * 32)
        self.assertEqual(env.scalar("SELECT count(*) FROM guestflow.connections"), '0')
        os.unlink(env.key_file)
        # First use: made, 0600, even under a permissive umask.
        r = subprocess.run([GUESTFLOW, '-c', env.config, 'connection', 'add', 'P001', 'reviewhub', '--hotel-id',
                            'H-1001'], input='k3y+/=one\n', capture_output=True, text=True, timeout=60,
                           preexec_fn=lambda: os.umask(0))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('event=secrets_key_created', r.stderr)
        st = os.lstat(env.key_file)
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_size, st.st_uid), (0o600, 32, os.geteuid()))
        self.assertEqual([n for n in os.listdir(env.dir) if n.startswith('secrets.key')], ['secrets.key'],
                         'no temporary file left')
        self.assertEqual(env.gf('connection', 'activate', 'P001', 'reviewhub', *FORCE).returncode, 0)
        add_booking(env, 1)
        self.run_job(expect=0)
        self.assertEqual(self.states(), {'delivered': 1})


class HandWrittenKeyTest(GFTestCase):
    """Access keys written into the secret column in plain text (SQL, or a tool of the
    operator's) are taken over: encrypted at the next run, nothing lost."""
    accounts = {'H-1001': 'k3y+/=one', 'H-1002': 'k3y+/=two'}

    def make_env(self, job_overrides=None):
        env = super().make_env(job_overrides)
        env.psql("DELETE FROM guestflow.connections;"
                 "INSERT INTO guestflow.connections (property_id, partner, id_at_partner, secret, status)"
                 " VALUES ('P001', 'reviewhub', 'H-1001', 'k3y+/=one', 'live'),"
                 "        ('P002', 'reviewhub', 'H-1002', 'k3y+/=two', 'live');")
        return env

    def test_plain_text_keys_are_encrypted_and_nothing_is_lost(self):
        env = self.env
        self.assertEqual(env.psql("SELECT property_id, secret, secret_enc IS NULL FROM guestflow.connections"
                                  " ORDER BY 1"), [['P001', 'k3y+/=one', 't'], ['P002', 'k3y+/=two', 't']])
        add_many(env, 4, ['P001', 'P002'])
        r = self.run_job(expect=0)
        self.assertIn('event=secrets_encrypted count=2', r.stderr)
        self.assertEqual(self.states(), {'delivered': 4})
        self.assertEqual(env.psql("SELECT count(*) FROM guestflow.connections WHERE secret IS NULL"
                                  " AND secret_enc IS NOT NULL"), [['2']])
        dump = pg_dump(env)
        for k in self.accounts.values():
            self.assertNotIn(k.encode(), dump)
        # and they still work: a second run with new bookings
        add_many(env, 2, ['P001', 'P002'], start=5)
        self.run_job(expect=0)
        self.assertEqual(self.states(), {'delivered': 6})


if __name__ == '__main__':
    main()
