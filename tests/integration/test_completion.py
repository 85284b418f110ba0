#!/usr/bin/env python3
"""The bash completion (packaging/completion/guestflow): sourced in bash, its
function called with COMP_WORDS/COMP_CWORD set as bash would, COMPREPLY
checked. Commands, sub-commands and options are checked against the
program's own --help texts, so that the completion cannot drift from them.
Properties and partners come from `guestflow connection list`: here a
stand-in guestflow on PATH prints a fixed list (the shell script is what is
tested, not the database). No PostgreSQL needed."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from gftest import GUESTFLOW, SRC, main

sys.path.insert(0, os.path.join(SRC, 'tools'))
import mkman  # noqa: E402  (tools/mkman.py)

SCRIPT = os.path.join(SRC, 'packaging', 'completion', 'guestflow')

LIST = """PROPERTY         PARTNER          ID AT PARTNER        STATUS       SINCE
P001             reviewhub        H-1001               live         2026-11-20 03:00
P001             surveyco         S-1                  setup        2026-11-21 10:00
P002             reviewhub        H-1002               deactivated  2026-11-22 11:00
"bad\\x1b id"     reviewhub        H-9                  setup        2026-11-22 11:00
$(touch${IFS}/tmp/gf-completion-pwned) reviewhub H-10 setup 2026-11-22 11:00
P`id`            reviewhub        H-11                 setup        2026-11-22 11:00
Hôtel-7          reviewhub        H-12                 live         2026-11-22 11:00
"""


def help_text(*args):
    r = subprocess.run([GUESTFLOW, *args, '--help'], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def help_commands():
    """{command: [sub-commands]} of --help, read as the build's man page
    check reads them (tools/mkman.py)."""
    return mkman.help_commands(help_text())


class CompletionTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='gf-completion.')
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        # The script as installed: @SYSCONFDIR@ replaced (here by a directory
        # of the test's, to check the default main file).
        self.sysconfdir = os.path.join(self.dir, 'sysconf')
        with open(SCRIPT, encoding='utf-8') as f:
            text = f.read()
        self.assertIn('@SYSCONFDIR@', text)
        self.script = os.path.join(self.dir, 'guestflow.bash')
        with open(self.script, 'w', encoding='utf-8') as f:
            f.write(text.replace('@SYSCONFDIR@', self.sysconfdir))
        # A stand-in guestflow for `connection list`, which records its arguments.
        self.bin = os.path.join(self.dir, 'bin')
        os.makedirs(self.bin)
        self.calls = os.path.join(self.dir, 'calls')
        self.fake(f'printf "%s\\n" "$*" >>{self.calls}\ncat <<"EOF"\n{LIST}EOF\n')

    def fake(self, body):
        path = os.path.join(self.bin, 'guestflow')
        with open(path, 'w') as f:
            f.write('#!/bin/sh\n' + body)
        os.chmod(path, 0o755)

    def config(self, name='main.yaml', jobs_dir_line='jobs_dir: jobs.d', jobs=('alpha', 'beta'),
               jobs_dir='jobs.d', where=None):
        """A main file and a jobs directory with the given jobs (and files
        guestflow ignores); the main file's path."""
        where = where or os.path.join(self.dir, 'conf')
        os.makedirs(where, exist_ok=True)
        path = os.path.join(where, name)
        with open(path, 'w') as f:
            f.write('database:\n  conninfo: "dbname=guestflow"\n')
            if jobs_dir_line:
                f.write(jobs_dir_line + '\n')
        d = jobs_dir if os.path.isabs(jobs_dir) else os.path.join(where, jobs_dir)
        os.makedirs(d, exist_ok=True)
        for j in jobs:
            with open(os.path.join(d, j + '.yaml'), 'w') as f:
                f.write(f'name: {j}\npartner: {"surveyco" if j == "beta" else "reviewhub"}\n')
        for ignored in ('.hidden.yaml', 'notes.txt', 'alpha.yaml~'):
            open(os.path.join(d, ignored), 'w').close()
        return path

    def complete(self, *words, env=None, cmd='guestflow'):
        """COMPREPLY for the command line `cmd words...`, the cursor at the end
        of the last word ('' : after a space)."""
        e = {'PATH': self.bin + ':' + os.environ['PATH'], 'HOME': self.dir, 'LC_ALL': 'C'}
        e.update(env or {})
        r = subprocess.run(
            ['bash', '--norc', '--noprofile', '-c',
             'source "$1" || exit 9; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); '
             'COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; _guestflow; '
             'for w in "${COMPREPLY[@]}"; do printf "%s\\n" "$w"; done',
             '_', self.script, cmd, *words],
            capture_output=True, text=True, env=e, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, '', 'the completion printed to stderr')
        return [w for w in r.stdout.split('\n') if w]

    def test_every_command_of_help_and_nothing_else(self):
        commands = help_commands()
        self.assertGreaterEqual(len(commands), 10, commands)
        self.assertEqual(sorted(self.complete('')), sorted(commands))
        self.assertEqual(self.complete('con'), ['contact', 'connection'])
        self.assertEqual(self.complete('-c', 'x', 'status-'), ['status-map'])

    def test_every_sub_command_of_help(self):
        commands = help_commands()
        with_subs = {c: s for c, s in commands.items() if s}
        self.assertEqual(sorted(with_subs), ['connection', 'contact', 'db', 'status-map', 'suppression'])
        for command, subs in with_subs.items():
            got = self.complete(command, '')
            for s in subs:
                self.assertIn(s, got, f'guestflow {command} <TAB>')
        # connection --help names an alias the main --help does not
        self.assertIn('set-key', self.complete('connection', 'set-'))
        self.assertEqual(self.complete('connection', 're'), ['rekey'])
        self.assertEqual(self.complete('db', ''), ['migrate', 'rename-job', 'forget-job'])

    def test_every_option_of_help(self):
        main_opts = set(re.findall(r'(?<![\w-])(--?[a-z][a-z-]*)', help_text().split('Options:\n', 1)[1].split('\n\n', 1)[0]))
        self.assertEqual(set(self.complete('-')), main_opts)
        for command, subs in help_commands().items():
            opts = set(re.findall(r'(?<![\w-])--[a-z][a-z-]*', help_text(command)))
            got = set(self.complete(command, '--'))
            for s in subs:
                got |= set(self.complete(command, s, 'x', '--'))
            self.assertEqual(opts - got, set(), f'options of guestflow {command} --help not completed')
            self.assertEqual(got - opts - {'--help'}, set(), f'guestflow {command}: completed, not in --help')
        # `status --json` (and what another engineer may add: the same rule)
        self.assertEqual(self.complete('status', '--j'), ['--json'])
        self.assertEqual(self.complete('contact', 'add', 'a@b.example', '--role', ''),
                         ['alert', 'technical', 'escalation'])

    def test_job_names_from_the_jobs_dir_of_the_main_file(self):
        cfg = self.config()
        for words in (('-c', cfg, 'run', ''), ('--config', cfg, 'run', ''), ('--config', '=', cfg, 'run', ''),
                      ('-c', cfg, 'status', ''), ('-c', cfg, 'purge', ''), ('-c', cfg, 'pull', ''),
                      ('-c', cfg, 'rerun', ''), ('-c', cfg, 'explain', 'B1', '--job', ''),
                      ('-c', cfg, 'log', '--job', ''), ('-c', cfg, 'connection', 'test', 'P1', 'x', '--job', ''),
                      ('-c', cfg, 'db', 'rename-job', 'old-name', '')):
            self.assertEqual(self.complete(*words), ['alpha', 'beta'], words)
        self.assertEqual(self.complete('-c', cfg, 'run', 'b'), ['beta'])
        self.assertEqual(self.complete('-c', cfg, 'run', 'alpha', ''), [])   # one job
        # jobs_dir: quoted, with a comment, absolute; none at all: jobs.d
        other = os.path.join(self.dir, 'elsewhere', 'jobs')
        cfg2 = self.config('two.yaml', f'jobs_dir: "{other}"  # absolute', ('gamma',), jobs_dir=other)
        self.assertEqual(self.complete('-c', cfg2, 'run', ''), ['gamma'])
        cfg3 = self.config('three.yaml', None, ('delta',), where=os.path.join(self.dir, 'c3'))
        self.assertEqual(self.complete('-c', cfg3, 'run', ''), ['delta'])
        cfg4 = self.config('four.yaml', "jobs_dir: 'my jobs'", ('eps',), jobs_dir='my jobs',
                           where=os.path.join(self.dir, 'c4'))
        self.assertEqual(self.complete('-c', cfg4, 'run', ''), ['eps'])
        # without -c: $GUESTFLOW_CONFIG, else the installed default
        self.assertEqual(self.complete('run', '', env={'GUESTFLOW_CONFIG': cfg2}), ['gamma'])
        self.config('guestflow.yaml', 'jobs_dir: jobs.d', ('zeta',), where=os.path.join(self.sysconfdir, 'guestflow'))
        self.assertEqual(self.complete('run', ''), ['zeta'])
        # a -c relative to the home directory
        self.assertEqual(self.complete('-c', '~/c3/three.yaml', 'run', ''), ['delta'])
        # no such file: nothing, quietly
        self.assertEqual(self.complete('-c', os.path.join(self.dir, 'nope.yaml'), 'run', ''), [])

    def test_properties_and_partners_from_connection_list(self):
        cfg = self.config()
        # Red team (issue 18): a property id the shell would read ($(...),
        # backticks) is never offered; letters of any language are.
        self.assertEqual(self.complete('-c', cfg, 'connection', 'show', ''), ['Hôtel-7', 'P001', 'P002'])
        with open(self.calls) as f:
            self.assertEqual(f.read(), f'-c {cfg} connection list\n')   # the config of the line
        self.assertEqual(self.complete('-c', cfg, 'connection', 'show', 'P001', ''), ['reviewhub', 'surveyco'])
        self.assertEqual(self.complete('-c', cfg, 'connection', 'activate', 'P002', ''), ['reviewhub'])
        self.assertEqual(self.complete('connection', 'consent', 'P0'), ['P001', 'P002'])
        self.assertEqual(self.complete('connection', 'show', 'P001', 'reviewhub', ''), [])
        self.assertEqual(self.complete('log', '--connection', ''), ['Hôtel-7', 'P001', 'P002'])
        self.assertEqual(self.complete('contact', 'add', 'a@b.example', '--connection', 'P001', 's'), ['surveyco'])
        # connection add: the partners of the jobs
        self.assertEqual(self.complete('-c', cfg, 'connection', 'add', 'P003', ''), ['reviewhub', 'surveyco'])
        self.assertEqual(self.complete('-c', cfg, 'status-map', 'set', ''), ['reviewhub', 'surveyco'])
        # nothing from list or rekey
        self.assertEqual(self.complete('connection', 'list', ''), [])

    def test_quiet_and_bounded_when_the_program_fails(self):
        self.fake('echo "guestflow: event=db_connect_failed" >&2\nexit 75\n')
        self.assertEqual(self.complete('connection', 'show', ''), [])
        self.fake('sleep 30\n')
        t = time.monotonic()
        self.assertEqual(self.complete('connection', 'show', ''), [])
        self.assertLess(time.monotonic() - t, 15)
        os.remove(os.path.join(self.bin, 'guestflow'))
        self.assertEqual(self.complete('connection', 'show', '', cmd=os.path.join(self.dir, 'no-such-guestflow')), [])

    def test_config_files(self):
        cfg = self.config()
        got = self.complete('-c', cfg[:-6])
        self.assertEqual(got, [cfg])
        self.assertEqual(self.complete('--config', '=', cfg[:-6]), [cfg])

    def test_the_real_program_when_there_is_no_database(self):
        """With the build's guestflow and a main file whose database is not
        there: no properties, no error output, within the timeout."""
        path = os.path.join(self.dir, 'main.yaml')
        with open(path, 'w') as f:
            f.write('database:\n  conninfo: "host=127.0.0.1 port=1 dbname=none connect_timeout=2"\n')
        t = time.monotonic()
        self.assertEqual(self.complete('-c', path, 'connection', 'show', '', cmd=GUESTFLOW), [])
        self.assertLess(time.monotonic() - t, 15)


if __name__ == '__main__':
    main()
