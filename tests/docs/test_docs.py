#!/usr/bin/env python3
"""Docs and files agree (issue 18 items 2 and 3): every key of the program's
key tables is in the shipped example files, with its default, and in the man
pages; guestflow(1) covers every command and option of --help. The checks
are tools/mkman.py's (run at build time); here they are run on the shipped
files, on the pages the build generated, and on broken copies, to show that
they fail when they should.

usage: test_docs.py SOURCE_ROOT GUESTFLOW BUILD_MAN5_DIR VERSION"""
import os
import re
import subprocess
import sys
import tempfile
import unittest

SRC, EXE, MAN5, VERSION = sys.argv[1:5]
del sys.argv[1:5]
MKMAN = os.path.join(SRC, 'tools', 'mkman.py')
MAIN = os.path.join(SRC, 'etc', 'guestflow.yaml')
JOB = os.path.join(SRC, 'jobs', 'review-nightly.yaml')
MAN1 = os.path.join(SRC, 'packaging', 'man', 'guestflow.1')


def keys():
    out = subprocess.run([EXE, 'check-config', '--keys'], capture_output=True, text=True, timeout=60, check=True)
    return [line.split('\t') for line in out.stdout.splitlines()]


class DocsTest(unittest.TestCase):

    def mkman(self, **files):
        with tempfile.TemporaryDirectory() as d:
            args = [sys.executable, MKMAN, '--guestflow', EXE, '--source-root', SRC, '--version', VERSION,
                    '--outdir', d]
            for name, text in files.items():
                path = os.path.join(d, 'in-' + name)
                with open(path, 'w', encoding='utf-8') as f:
                    f.write(text)
                args += ['--' + name, path]
            return subprocess.run(args, capture_output=True, text=True, timeout=120)

    def read(self, path):
        with open(path, encoding='utf-8') as f:
            return f.read()

    def test_the_shipped_files_agree(self):
        r = self.mkman()
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_every_key_is_in_its_example_file_and_its_man_page(self):
        table = keys()
        self.assertGreater(len([k for k in table if k[0] == 'main']), 10)
        self.assertGreater(len([k for k in table if k[0] == 'job']), 50)
        for scope, path, typ, req, default, rng in table:
            example = self.read(MAIN if scope == 'main' else JOB)
            page = self.read(os.path.join(MAN5, 'guestflow.yaml.5' if scope == 'main' else 'guestflow-job.5'))
            leaf = path.split('.')[-1]
            self.assertRegex(example, r'(?m)^[ #]*' + re.escape(leaf) + ':', (scope, path))
            self.assertIn('\n.B ' + path.replace('*', 'reviewhub') + '\n', page, (scope, path))
            if default and typ != 'section':
                entry = page.split('\n.B ' + path + '\n', 1)[1].split('\n.TP\n', 1)[0]
                self.assertIn('default: ' + default.replace('\\', '\\e'), entry, path)

    def test_a_key_missing_from_an_example_fails(self):
        text = self.read(MAIN)
        broken = re.sub(r'(?m)^#?\s*#?\s*textfile_dir:.*\n', '', text)
        self.assertNotEqual(broken, text)
        r = self.mkman(main=broken)
        self.assertEqual(r.returncode, 1)
        self.assertIn('key "metrics.textfile_dir" of the main file is missing', r.stderr)

    def test_an_unknown_key_fails_with_its_line(self):
        text = self.read(JOB)
        r = self.mkman(job=text.replace('\nlease: 10m\n', '\nlease: 10m\n# A key the program does not know.\nleese: 1\n'))
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r'in-job:\d+: "leese" is not a key of the job file')

    def test_a_default_not_shown_fails(self):
        text = self.read(JOB)
        broken = text.replace('  # Most guests in one request, 1..10000. Default: 500.\n  max_records: 500',
                              '  # Most guests in one request.\n  max_records: 50')
        self.assertNotEqual(broken, text)
        r = self.mkman(job=broken)
        self.assertEqual(r.returncode, 1)
        self.assertIn('"batch.max_records" shows "50", not its default "500"', r.stderr)

    def test_a_comment_claiming_another_default_or_range_fails(self):
        """Red team (issue 18): the comments are the man pages' text; what
        they claim of a default or a range is checked against the tables."""
        text = self.read(JOB)
        broken = text.replace('  # Most guests in one request, 1..10000. Default: 500.',
                              '  # Most guests in one request, 1..99. Default: 50.').replace(
            '  # Default: 8.\n  max_attempts: 8', '  # Default: 3.\n  max_attempts: 8')
        self.assertEqual(broken.count('1..99. Default: 50.') + broken.count('# Default: 3.\n  max_attempts'), 2)
        r = self.mkman(job=broken)
        self.assertEqual(r.returncode, 1)
        self.assertIn('the comment of "batch.max_records" says "Default: 50", but its default is "500"', r.stderr)
        self.assertIn('the comment of "batch.max_records" says 1..99, but its range is 1..10000', r.stderr)
        self.assertIn('the comment of "retry.max_attempts" says "Default: 3", but its default is "8"', r.stderr)

    def test_a_key_without_a_comment_fails(self):
        text = self.read(JOB)
        broken = text.replace('  # Batches sent concurrently', '\n  # Batches sent concurrently').replace(
            '  # zlib level 1 (fastest) .. 9 (smallest) when compress is gzip. Default: 1.\n', '\n')
        r = self.mkman(job=broken)
        self.assertEqual(r.returncode, 1)
        self.assertIn('"batch.gzip_level" has no comment', r.stderr)

    def test_an_option_missing_from_guestflow_1_fails(self):
        text = self.read(MAN1)
        broken = text.replace('\\-\\-keys', '\\-\\-kees')
        self.assertNotEqual(broken, text)
        r = self.mkman(man1=broken)
        self.assertEqual(r.returncode, 1)
        self.assertIn('option --keys (guestflow check-config --help) is not described', r.stderr)

    def test_an_option_described_only_elsewhere_on_the_page_fails(self):
        # log's --errors stays in the SYNOPSIS and the EXAMPLES, but leaves
        # log's entry under COMMANDS: not described where a reader looks.
        text = self.read(MAN1)
        entry = '.TP\n.B \\-\\-errors\nOnly calls that were not accepted.\n'
        self.assertIn(entry, text)
        broken = text.replace(entry, '')
        self.assertIn('\\-\\-errors', broken)
        r = self.mkman(man1=broken)
        self.assertEqual(r.returncode, 1)
        self.assertIn('option --errors (guestflow log --help) is not described in the entries of "log" under'
                      ' COMMANDS', r.stderr)

    def test_a_command_missing_from_guestflow_1_fails(self):
        text = self.read(MAN1)
        broken = re.sub(r'status\\-map', 'statusmap', re.sub('status-map', 'statusmap', text))
        r = self.mkman(man1=broken)
        self.assertEqual(r.returncode, 1)
        self.assertIn('command "status-map set" (guestflow --help) is not described', r.stderr)

    def test_keys_needs_no_configuration(self):
        r = subprocess.run([EXE, '-c', '/nonexistent/guestflow.yaml', 'check-config', '--keys'],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('job\tselection.window\tduration\toptional\t14d\tat least 1ms\n', r.stdout)
        self.assertIn('main\tpartners.*.email\tstring\trequired\t\t\n', r.stdout)
        r = subprocess.run([EXE, 'check-config', '--keys', 'x'], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 64)


if __name__ == '__main__':
    unittest.main(verbosity=2)
