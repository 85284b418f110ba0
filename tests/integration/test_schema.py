#!/usr/bin/env python3
"""The migrated schema is the checked-in one (issue 15, item 5): `guestflow db
migrate` on an empty database gives exactly schemas/sql/reference/guestflow-schema.sql
(pg_dump --schema-only of the guestflow schema, without the adapters). A
migration that changes the schema changes that file in the same commit, so
that a reviewer reads the schema, not only the steps to it. To refresh it
after a deliberate change:

    GF_SCHEMA_REFRESH=1 GF_SOURCE_ROOT=$PWD GF_GUESTFLOW=$PWD/build/src/guestflow \\
        GF_PARTNER_SIM=$PWD/build/tests/partner-sim/partner-sim python3 tests/integration/test_schema.py
"""
import difflib
import os
import re
import subprocess
import unittest

from gftest import SRC, Env, main

REFERENCE = os.path.join(SRC, 'schemas', 'sql', 'reference', 'guestflow-schema.sql')


def schema_dump(env):
    out = subprocess.run(['pg_dump', '-d', env.conninfo, '--schema-only', '--schema=guestflow', '--no-owner',
                          '--no-privileges', '--no-tablespaces'], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise AssertionError(f'pg_dump failed: {out.stderr}')
    lines = []
    for line in out.stdout.splitlines():
        # what differs between servers and dumps, not between schemas
        if re.match(r'^-- Dumped (from|by) ', line) or re.match(r'^\\(un)?restrict ', line):
            continue
        lines.append(line)
    text = '\n'.join(lines).strip() + '\n'
    return re.sub(r'\n{3,}', '\n\n', text)


class SchemaTest(unittest.TestCase):

    def test_the_migrated_schema_is_the_checked_in_one(self):
        env = Env()
        self.addCleanup(env.cleanup)
        env.start_pg()
        env.endpoint = 'http://127.0.0.1:9/v1/guests'  # never contacted
        env.write_config()
        r = env.gf('db', 'migrate')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIsNone(env.scalar("SELECT to_regclass('guestflow.source_bookings')"), 'no adapters without pms')
        got = schema_dump(env)
        if os.environ.get('GF_SCHEMA_REFRESH') == '1':
            with open(REFERENCE, 'w', encoding='utf-8') as f:
                f.write(got)
            self.skipTest(f'wrote {REFERENCE}')
        with open(REFERENCE, encoding='utf-8') as f:
            want = f.read()
        if got != want:
            diff = ''.join(difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                                'guestflow-schema.sql (checked in)', 'migrated'))
            self.fail('the migrated schema differs from schemas/sql/reference/guestflow-schema.sql; if the change is'
                      ' meant, refresh the file (GF_SCHEMA_REFRESH=1, see the head of tests/integration/'
                      f'test_schema.py) and commit it with the migration:\n{diff}')


if __name__ == '__main__':
    main()
