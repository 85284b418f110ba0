#!/usr/bin/env python3
"""Man pages that cannot drift (issue 18 items 2 and 3).

guestflow.yaml(5) and guestflow-job(5) are generated from the shipped example
files (etc/guestflow.yaml, jobs/review-nightly.yaml): their comments are the
documentation of each key, and the program's key tables
('guestflow check-config --keys') give each key's type, default and range.
Generating fails, naming the file and line, when
  - a key of the tables is not in its example file (set or commented out),
  - the example file has a key the tables do not know,
  - a key with a default shows neither that default nor says "Default",
  - a key has no comment explaining it;
and when guestflow(1) lacks a command or an option that 'guestflow --help' or
a command's --help names (a command's option in that command's own entry
under COMMANDS, or under OPTIONS). Run at build time (packaging/meson.build) and by the
test tests/docs/test_docs.py.

usage: mkman.py --guestflow EXE --source-root DIR [--outdir DIR] [--version V]
       [--main FILE] [--job FILE] [--man1 FILE]
"""
import argparse
import os
import re
import subprocess
import sys

KEY_RE = re.compile(r'^( *)([a-z_][a-z0-9_]*):(?:\s+(.*))?$')


class DocError(Exception):
    pass


def read_keys(exe):
    """scope -> ordered {path: (type, required, default, range)}"""
    out = subprocess.run([exe, 'check-config', '--keys'], capture_output=True, text=True, timeout=60,
                         check=False)
    if out.returncode != 0:
        raise DocError(f'{exe} check-config --keys failed ({out.returncode}): {out.stderr.strip()}')
    keys = {'main': {}, 'job': {}}
    for line in out.stdout.splitlines():
        scope, path, typ, req, default, rng = line.split('\t')
        keys[scope][path] = (typ, req == 'required', default, rng)
    return keys


def parse_example(path):
    """The keys of an example file, set or commented out, in order: a list of
    (dotted path, line number, value or None, [comment lines]); and the
    file's header (the first comment block)."""
    with open(path, encoding='utf-8') as f:
        lines = f.read().split('\n')
    header, i = [], 0
    while i < len(lines) and lines[i].startswith('#'):
        header.append(lines[i][1:].strip())
        i += 1
    entries, stack, prose = [], [], []
    for n, raw in enumerate(lines[i:], start=i + 1):
        if not raw.strip():
            prose = []
            continue
        hash_at = raw.find('#')
        if hash_at >= 0 and not raw[:hash_at].strip():
            inner = raw[hash_at + 1:]
            if inner.startswith(' '):
                inner = inner[1:]
            m = KEY_RE.match(inner)
            if m:
                indent = hash_at + len(m.group(1))
            else:
                text = inner.strip()
                if text.startswith('#'):  # prose of a key commented out
                    text = text[1:].strip()
                prose.append(text)
                continue
        else:
            m = KEY_RE.match(raw)
            if not m:
                prose = []
                continue  # a value's continuation
            indent = len(m.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        name = m.group(2)
        value = m.group(3)
        stack.append((indent, name))
        entries.append(('.'.join(s[1] for s in stack), n, value, prose))
        prose = []
    return header, entries


def unquote(v):
    v = v.strip() if v is not None else ''
    if len(v) >= 2 and v[0] == v[-1] and v[0] in '"\'':
        v = v[1:-1]
    if v.startswith('[') and v.endswith(']'):
        v = ','.join(x.strip() for x in v[1:-1].split(','))
    return v


def check_example(scope, path, keys):
    """The example's entries matched with the key table, or DocError."""
    header, entries = parse_example(path)
    table = keys[scope]
    errors, seen, out = [], set(), []
    for dotted, n, value, prose in entries:
        # A mapping's entries (partners.ID.key) match partners.*.key.
        parts = dotted.split('.')
        key = None
        for cand in (dotted, '.'.join(parts[:1] + ['*'] + parts[2:]) if len(parts) >= 2 else None):
            if cand in table:
                key = cand
                break
        if key is None and len(parts) == 2 and parts[0] + '.*.' in ''.join(k[:len(parts[0]) + 3] for k in table):
            continue  # partners.ID: the entry's own line
        if key is None:
            errors.append(f'{path}:{n}: "{dotted}" is not a key of the {scope} file (check-config --keys)')
            continue
        seen.add(key)
        typ, required, default, rng = table[key]
        if not prose:
            errors.append(f'{path}:{n}: "{dotted}" has no comment saying what it is')
        text = ' '.join(prose)
        if default and typ != 'section' and unquote(value) != default and 'Default' not in text:
            errors.append(f'{path}:{n}: "{dotted}" shows "{unquote(value)}", not its default "{default}",'
                          ' and its comment does not give the default ("Default: ...")')
        # What the comment claims: its default, its range.
        for claim in re.findall(r'\bDefault: (.+?)(?:\.(?:\s|$)|;|\s\(|$)', text):
            if default and typ != 'section' and unquote(claim) != default:
                errors.append(f'{path}:{n}: the comment of "{dotted}" says "Default: {claim}", but its default is'
                              f' "{default}"')
        if typ == 'integer':
            for lo, hi in re.findall(r'\b(\d+)\s*\.\.\s*(\d+)\b', text):
                if f'{lo}..{hi}' != rng:
                    errors.append(f'{path}:{n}: the comment of "{dotted}" says {lo}..{hi}, but its range is {rng}')
        out.append((dotted, key, prose))
    for key in table:
        if key not in seen:
            errors.append(f'{path}: key "{key}" of the {scope} file is missing (set, or commented out with'
                          ' its default and a comment)')
    if errors:
        raise DocError('\n'.join(errors))
    return header, out


def esc(text):
    text = text.replace('\\', '\\e')
    text = re.sub(r'(?<![\w-])--(?=\w)', r'\\-\\-', text)
    return text


def para(lines):
    """Comment lines as troff: sentences run on; list items and indented
    lines keep their line."""
    out, first = [], True
    for line in lines:
        if not line:
            continue
        t = esc(line)
        if t.startswith(('.', "'")):
            t = '\\&' + t
        if not first and (line.startswith(('- ', '* ')) or line.startswith('  ')):
            out.append('.br')
        out.append(t)
        first = False
    return '\n'.join(out)


def describe(typ, required, default, rng):
    words = {'string': 'text', 'boolean': 'true or false', 'integer': 'a whole number',
             'duration': 'a duration (500ms, 30s, 10m, 2h, 14d; a plain number is seconds)',
             'enum': 'one of ' + rng.replace('|', ', '), 'flags': 'a list of ' + rng.replace('|', ', '),
             'list': 'a list of text', 'section': 'a section', 'map': 'a mapping of names to sections'}
    s = words[typ]
    if typ == 'integer' and rng:
        s += ', ' + rng.replace('..', ' to ')
    if typ == 'duration' and rng:
        s += ', ' + rng
    if required:
        s += '; required'
    elif default:
        s += f'; default: {default}'
    return esc(s[0].upper() + s[1:] + '.')


def render(scope, header, entries, keys, version, page, title, synopsis, source):
    table = keys[scope]
    o = [f'.\\" Generated by tools/mkman.py from {source} and the key tables of guestflow;',
         '.\\" edit those, not this file.',
         f'.TH {page.upper()} 5 "" "guestflow {version}" "File formats"',
         '.SH NAME', f'{page} \\- {title}', '.SH SYNOPSIS', synopsis, '.SH DESCRIPTION', para(header),
         '.PP', '.B guestflow check\\-config', 'checks the files, and', '.B guestflow check\\-config \\-\\-keys',
         'lists every key with its type, default and range.',
         'The shipped file', f'.I {esc(source)}', 'shows every key below, set or commented out with its default.',
         '.SH KEYS']
    for dotted, key, prose in entries:
        typ, required, default, rng = table[key]
        o += ['.TP', f'.B {esc(dotted)}', describe(typ, required, default, rng)]
        if prose:
            o += ['.br', para(prose)]
    o += ['.SH SEE ALSO', '.BR guestflow (1),',
          '.BR guestflow\\-job (5)' if scope == 'main' else '.BR guestflow.yaml (5)']
    return '\n'.join(o) + '\n'


def strip_troff(text):
    text = re.sub(r'\\f[BIRP]', '', text)
    text = text.replace('\\-', '-').replace('\\&', '').replace('\\(em', '-')
    return re.sub(r'^\.[A-Z]{1,2} ?', '', text, flags=re.M).replace('"', '')


def help_commands(top):
    """The commands of 'guestflow --help': {verb: [sub-commands]} in order.
    In its "Commands:" section (lines indented by two), the command part of
    a line ends at a run of 2+ spaces; " | " separates alternatives; a
    command is its leading lowercase words ("a|b" as the last word: both).
    Also read by tests/integration/test_completion.py."""
    section = top.split('Commands:\n', 1)[1].split('\n\n', 1)[0]
    commands = {}
    for line in section.splitlines():
        if not re.match(r'  \S', line):
            continue
        for alt in re.split(r'\s{2,}', line.strip())[0].split(' | '):
            words = []
            for w in alt.split():
                if not re.fullmatch(r'[a-z][a-z|-]*', w):
                    break
                words.append(w)
            if not words:
                continue
            subs = commands.setdefault(words[0], [])
            for sub in (words[1].split('|') if len(words) > 1 else []):
                if sub not in subs:
                    subs.append(sub)
    return commands


def check_man1(exe, man1, version):
    """Every command of 'guestflow --help' and every option it or a command's
    --help names is in guestflow(1), and its .TH carries the version."""
    with open(man1, encoding='utf-8') as f:
        source = f.read()
    text = re.sub(r'\s+', ' ', strip_troff(source))

    def run(*args):
        r = subprocess.run([exe, *args], capture_output=True, text=True, timeout=60, check=False)
        if r.returncode != 0:
            raise DocError(f'guestflow {" ".join(args)} exits {r.returncode}: {r.stderr.strip()}')
        return r.stdout

    top = run('--help')
    errors, helps = [], [('guestflow --help', top)]
    commands = help_commands(top)
    verbs = list(commands)
    for verb, subs in commands.items():
        for cmd in [verb] if not subs else [f'{verb} {sub}' for sub in subs]:
            if not re.search(r'(?<![\w-])' + re.escape(cmd) + r'(?![\w-])', text):
                errors.append(f'{man1}: command "{cmd}" (guestflow --help) is not described')
    if len(verbs) < 3:
        errors.append(f'could not read the commands of guestflow --help: {verbs!r}')
    # A command's options are described in its own entries of COMMANDS (the
    # .TP items whose tag starts with the command's verb) or among the
    # options every command takes (OPTIONS), not anywhere on the page.
    def section(name):
        parts = re.split(r'^\.SH "?' + re.escape(name) + r'"?\n', source, maxsplit=1, flags=re.M)
        return parts[1].split('\n.SH ', 1)[0] if len(parts) == 2 else ''
    entries, item, depth = {}, None, 0
    for line in section('COMMANDS').splitlines() + ['.TP']:
        if line == '.TP' and depth == 0:
            # (a command's entry: a .TP outside any .RS block, its tag the
            # next line; the .TP items of its own options are nested)
            if item:
                words = strip_troff(item[0]).split()
                if words:
                    entries.setdefault(words[0], []).append(re.sub(r'\s+', ' ', strip_troff('\n'.join(item))))
            item = []
            continue
        depth += line.startswith('.RS') - line.startswith('.RE')
        if item is not None:
            item.append(line)
    common = re.sub(r'\s+', ' ', strip_troff(section('OPTIONS')))
    for v in verbs:
        helps.append((v, run(*v.split(), '--help')))
        if v not in entries:
            errors.append(f'{man1}: command "{v}" has no entry of its own under COMMANDS')
    for where, h in helps:
        scope = text if where == 'guestflow --help' else ' '.join(entries.get(where, [])) + ' ' + common
        label = where if where == 'guestflow --help' else f'guestflow {where} --help'
        for opt in sorted(set(re.findall(r'(?<![\w-])(--[a-z][a-z-]*)', h))):
            if not re.search(r'(?<![\w-])' + re.escape(opt) + r'(?![\w-])', scope):
                errors.append(f'{man1}: option {opt} ({label}) is not described'
                              + ('' if where == 'guestflow --help' else f' in the entries of "{where}" under COMMANDS'))
    th = [line for line in source.splitlines() if line.startswith('.TH ')]
    if version and (not th or f'"guestflow {version}"' not in th[0]):
        errors.append(f'{man1}: .TH does not carry "guestflow {version}"')
    if errors:
        raise DocError('\n'.join(errors))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--guestflow', required=True)
    ap.add_argument('--source-root', required=True)
    ap.add_argument('--outdir')
    ap.add_argument('--version', default='')
    ap.add_argument('--main')
    ap.add_argument('--job')
    ap.add_argument('--man1')
    a = ap.parse_args()
    main_file = a.main or os.path.join(a.source_root, 'etc', 'guestflow.yaml')
    job_file = a.job or os.path.join(a.source_root, 'jobs', 'review-nightly.yaml')
    man1 = a.man1 or os.path.join(a.source_root, 'packaging', 'man', 'guestflow.1')
    try:
        keys = read_keys(a.guestflow)
        pages = []
        errors = []
        for scope, path, page, title, synopsis, source in [
                ('main', main_file, 'guestflow.yaml', 'guestflow main configuration file',
                 '.I /etc/guestflow/guestflow.yaml', '/etc/guestflow/guestflow.yaml'),
                ('job', job_file, 'guestflow-job', 'guestflow export job file',
                 '.IB /etc/guestflow/jobs.d/ name .yaml', '/etc/guestflow/jobs.d/review-nightly.yaml')]:
            try:
                header, entries = check_example(scope, path, keys)
                pages.append((page, render(scope, header, entries, keys, a.version, page, title, synopsis, source)))
            except DocError as e:
                errors.append(str(e))
        try:
            check_man1(a.guestflow, man1, a.version)
        except DocError as e:
            errors.append(str(e))
        if errors:
            raise DocError('\n'.join(errors))
    except DocError as e:
        print(f'mkman: the documentation disagrees with the program:\n{e}', file=sys.stderr)
        return 1
    if a.outdir:
        for page, text in pages:
            with open(os.path.join(a.outdir, page + '.5'), 'w', encoding='utf-8') as f:
                f.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
