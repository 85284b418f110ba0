#!/usr/bin/env python3
"""Bad booking data: a seeded generator of nasty bookings (NULL, empty and
white-space names, 10 kB names, invalid UTF-8, control characters, emoji, RTL
text, e-mails with +, quotes, IDN domains or spaces, departure before arrival,
unknown language and gender codes). Each booking's outcome is computed here,
independently of the C code, from DESIGN.md sections 2 and 4 and the rules
documented in src/core/normalize.h and src/outputs/review_xml/render_xml.h: it is either not eligible
(no delivery), delivered with exactly the normalised values, or rejected with
a reason that names the field and leaks no personal data. The other records
of a batch still go; nothing crashes; the partner never sees an invalid
document.

The seed is fixed; GF_NASTY_SEED=N explores others. Invalid UTF-8 can only be
stored in a SQL_ASCII database, so one test runs against such a database in
the same cluster."""
import datetime
import os
import random
import re
import subprocess

from gftest import GUESTFLOW, Env, GFTestCase, main

SEED = int(os.environ.get('GF_NASTY_SEED', '20261123'))
N_GENERATED = 600
HOTEL = {'P001': 'H-1001', 'P002': 'H-1002'}
# No length limits: review-xml-1.xsd states no maxLength, so the renderer
# checks none and the partner decides (issue 14, item 4).
MAX_NAME = MAX_BOOKING_NO = MAX_EMAIL = None


def E(v):
    """str -> UTF-8 bytes; bytes and None pass."""
    return v.encode('utf-8') if isinstance(v, str) else v


# ---- the documented rules, re-implemented on bytes --------------------------

# normalize.h, gf_trim_dup(): ASCII space, tab, CR, LF, VT, FF, U+00A0, U+1680,
# U+2000..U+200A, U+200B, U+2028, U+2029, U+202F, U+205F, U+3000, U+FEFF.
TRIM_CHARS = (' \t\n\r\v\f\u00a0\u1680' + ''.join(chr(c) for c in range(0x2000, 0x200c))
              + '\u2028\u2029\u202f\u205f\u3000\ufeff')
TRIM_SEQ = [c.encode('utf-8') for c in TRIM_CHARS]


def trim(b):
    changed = True
    while changed:
        changed = False
        for t in TRIM_SEQ:
            if b.startswith(t):
                b, changed = b[len(t):], True
                break
    changed = True
    while changed:
        changed = False
        for t in TRIM_SEQ:
            if b.endswith(t):
                b, changed = b[:-len(t)], True
                break
    return b


def text_problem(b, max_chars):
    """gf_text_check_len(): the first problem of b, or None."""
    s = b.decode('utf-8', 'surrogateescape')   # strict UTF-8; bad bytes -> U+DC80..U+DCFF
    pos = 0
    for i, ch in enumerate(s):
        cp = ord(ch)
        if 0xdc80 <= cp <= 0xdcff:
            return f'invalid UTF-8 at byte {pos + 1}'
        if cp < 0x20 or 0x7f <= cp <= 0x9f:
            return f'control character U+{cp:04X} at character {i + 1}'
        if cp in (0xfffe, 0xffff):
            return f'non-character U+{cp:04X} at character {i + 1}'
        pos += len(ch.encode('utf-8'))
    if max_chars is not None and len(s) > max_chars:
        return f'too long ({len(s)} characters, at most {max_chars})'
    return None


def field_problem(field, raw, max_chars, required, trim_it):
    if raw is None:
        return f'{field}: missing' if required else None
    t = trim(raw)
    if not t:
        return (f'{field}: only white space' if raw else f'{field}: empty') if required else None
    p = text_problem(t if trim_it else raw, max_chars)
    return f'{field}: {p}' if p else None


# normalize.h, gf_text_visible(), and plan.h's GF_SQL_RULE_NAME: code points
# that show nothing (controls, white space, format characters, combining
# marks); a last name needs one that is not among them.
INVISIBLE = [(0x0000, 0x0020), (0x007f, 0x00a0), (0x00ad, 0x00ad), (0x0300, 0x036f), (0x0591, 0x05bd),
             (0x05bf, 0x05bf), (0x05c1, 0x05c2), (0x05c4, 0x05c5), (0x05c7, 0x05c7), (0x0600, 0x0605),
             (0x0610, 0x061a), (0x061c, 0x061c), (0x064b, 0x065f), (0x0670, 0x0670), (0x06dd, 0x06dd),
             (0x070f, 0x070f), (0x08e2, 0x08e2), (0x0e31, 0x0e31), (0x0e34, 0x0e3a), (0x0e47, 0x0e4e),
             (0x115f, 0x1160), (0x1680, 0x1680), (0x17b4, 0x17b5), (0x180b, 0x180f), (0x1ab0, 0x1aff),
             (0x1dc0, 0x1dff), (0x2000, 0x200f), (0x2028, 0x202f), (0x205f, 0x206f), (0x20d0, 0x20ff),
             (0x2800, 0x2800), (0x3000, 0x3000), (0x3164, 0x3164), (0xfe00, 0xfe0f), (0xfe20, 0xfe2f),
             (0xfeff, 0xfeff), (0xffa0, 0xffa0), (0xfff0, 0xfffb), (0x110bd, 0x110bd), (0x110cd, 0x110cd),
             (0x13430, 0x1343f), (0x1bca0, 0x1bca3), (0x1d173, 0x1d17a), (0xe0000, 0xe0fff)]


def invisible(c):
    return any(lo <= ord(c) <= hi for lo, hi in INVISIBLE)


def email_format_problem(t):
    """Exactly one '@', something on both sides, no white space (t is trimmed)."""
    ats = []
    for i, c in enumerate(t):
        if c == 0x40:
            ats.append(i)
        elif c == 0x20 or (c >= 0xc2 and any(t[i:].startswith(s) for s in TRIM_SEQ)):
            return 'email: contains white space'
    if len(ats) != 1:
        return "email: more than one '@'" if ats else "email: no '@'"
    if ats[0] == 0:
        return "email: nothing before '@'"
    if ats[0] == len(t) - 1:
        return "email: no domain after '@'"
    return None


MDAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def date_problem(field, s):
    if not s:
        return f'{field}: missing'
    if not re.fullmatch(r'[0-9]{4}-[0-9]{2}-[0-9]{2}', s):
        return f'{field}: not a date of the form YYYY-MM-DD'
    y, m, d = (int(x) for x in s.split('-'))
    leap = (y % 4 == 0 and y % 100 != 0) or y % 400 == 0
    if y < 1 or not 1 <= m <= 12 or d < 1 or d > MDAYS[m - 1] + (m == 2 and leap):
        return f'{field}: {s} is not a real date'
    return None


# Gender and language codes whose mapping normalize.c's tables fix (raw -> sent).
GENDERS = [
    (None, 'unknown'), ('', 'unknown'), ('   ', 'unknown'), ('m', 'male'), ('M', 'male'),
    ('f', 'female'), ('F', 'female'), ('w', 'female'), ('W', 'female'), ('d', 'diverse'),
    ('x', 'diverse'), ('X', 'diverse'), ('male', 'male'), ('Female', 'female'),
    ('DIVERSE', 'diverse'), ('Herr', 'male'), ('Frau', 'female'), ('Hr.', 'male'),
    ('Fr.', 'female'), ('Mr', 'male'), ('Mr.', 'male'), ('Mr .', 'male'), ('MRS', 'female'),
    ('Ms.', 'female'), ('Miss', 'female'), (' m ', 'male'), ('\u00a0f\u3000', 'female'),
    ('Männlich', 'male'), ('MÄNNLICH', 'male'), ('WEIBLICH', 'female'), ('Señora', 'female'),
    ('Madame', 'female'), ('Monsieur', 'male'),
    ('?', 'unknown'), ('u', 'unknown'), ('mx', 'unknown'), ('Mx.', 'unknown'), ('n/a', 'unknown'),
    ('0', 'unknown'), ('unknown', 'unknown'), ('🙂', 'unknown'), ('.', 'unknown'),
    ('m..', 'unknown'), ('m\x07', 'unknown'), ('fe male', 'unknown'), ('m' * 100, 'unknown'),
]
LANGUAGES = [
    (None, 'en'), ('', 'en'), ('  ', 'en'), ('de', 'de'), ('DE', 'de'), ('De', 'de'),
    ('de-DE', 'de'), ('de_AT', 'de'), ('de_CH.UTF-8', 'de'), ('deu', 'de'), ('GER', 'de'),
    ('German', 'de'), ('Deutsch', 'de'), ('fr', 'fr'), ('fra', 'fr'), ('fre', 'fr'),
    ('French', 'fr'), ('Français', 'fr'), ('FRANÇAIS', 'fr'), ('it', 'it'), ('Italiano', 'it'),
    ('es', 'es'), ('es-419', 'es'), ('Español', 'es'), ('nl', 'nl'), ('pt-BR', 'pt'),
    ('pl', 'pl'), ('ru', 'ru'), ('Русский', 'ru'), ('РУССКИЙ', 'ru'), ('ja', 'ja'),
    ('日本語', 'ja'), ('zh-Hant-TW', 'zh'), ('zh_CN', 'zh'), ('ελληνικά', 'el'),
    ('ΕΛΛΗΝΙΚΆ', 'el'), ('iw', 'he'), ('in', 'id'), ('eng', 'en'), ('English', 'en'),
    ('en_US.UTF-8', 'en'), ('en-GB', 'en'), ('\u3000fr\u3000', 'fr'), (' sv ', 'sv'),
    ('de\u00a0', 'de'), ('tr', 'tr'), ('Türkçe', 'tr'),
    ('xx', 'en'), ('zz-ZZ', 'en'), ('klingon', 'en'), ('q', 'en'), ('e', 'en'), ('xyz', 'en'),
    ('1', 'en'), ('??', 'en'), ('de\x07', 'en'), ('🙂', 'en'),
]
# Only storable in SQL_ASCII: not UTF-8, so not mappable.
GENDERS_BAD_UTF8 = [(b'\xff', 'unknown'), (b'm\xff', 'unknown'), (b'\xc0\xad', 'unknown'),
                    (b'Fr\xe4u', 'unknown')]
LANGUAGES_BAD_UTF8 = [(b'\xff', 'en'), (b'de\xff', 'en'), (b'Fran\xe7ais', 'en'), (b'\xed\xa0\x80', 'en')]

# ---- the generator ------------------------------------------------------

NORMAL_LAST = ['Müller', 'Meier', "O'Brien", 'Nakamura', 'García Márquez', 'Smith-Jones',
               'Øster', 'Łukasiewicz', 'Dvořák', 'Núñez', 'Van der Berg', 'Ιωάννου', 'Иванов',
               'Kowalski', 'Nguyễn', 'Schäfer', 'Ødegård', 'Dupont']
NORMAL_FIRST = ['Anna', 'Max', 'José', 'Zoë', 'Björn', 'Åsa', '陽翔', 'Мария', 'Fatima',
                'Jean-Luc', 'Siobhán']
XML_SPECIAL = ['O\'Brien & <Sons> "Ltd"', 'a<b>c</b>', '&amp;', ']]>', '<![CDATA[x]]>',
               '"; DROP TABLE pms.guests; --', '&#0;', '<?xml version="1.0"?>', '\\back\\slash',
               '%s%n%x', '{partner} {booking_no}', "''''", '<guest>', '&lt;']
EMOJI = ['🌊', '🏨🛎️', '👨‍👩‍👧‍👦', '🇩🇪', 'Müller 🙂', '😀😀😀', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', '🏳️‍🌈']
RTL = ['عبد الله', 'שלום', 'محمد\u200f', '\u202eevil\u202c', 'کاظمی', 'אבי\u200e', 'Müller עברית']
COMBINING = ['Zoe\u0308', 'A\u030angstro\u0308m', 'Pen\u0303a', 'e\u0301\u0301\u0301',
             'Z\u0324\u0354\u0367\u0311\u0313a\u0308\u0356\u032d\u0308\u0307lgo']
ZW_INSIDE = ['Ma\u200bx', 'Jo\u200dhn', 'An\u200cna', 'Li\u2060sa', 'Ka\ufeffrl', 'Pe\u00adter']
SPACE_INSIDE = ['van\u00a0der Berg', 'Jean\u202fPaul', 'Mac\u3000Donald', 'A\u2028B', 'x\u1680y']
NON_TRIM_EDGE = ['\u200c', '\u200d', '\u2060', '\u180e', '\u00ad']  # kept: not in the trim set
CONTROLS = [chr(c) for c in (0x01, 0x07, 0x08, 0x09, 0x0a, 0x0d, 0x1b, 0x1f, 0x7f, 0x80, 0x85, 0x9f)]
NONCHARS = ['\ufffe', '\uffff']
INVALID = [b'\xff', b'\xfe', b'\xc3\x28', b'\xc0\xaf', b'\xe0\x80\xaf', b'\xed\xa0\x80',
           b'\xed\xbf\xbf', b'\xe2\x82', b'\xf4\x90\x80\x80', b'\xf8\x88\x80\x80\x80', b'\x80',
           b'\xc2']
LONG_NAMES = ['x' * 10240, 'é' * 5000, '🌊' * 3000, 'L' * 200, 'L' * 201, 'ü' * 200, '😀' * 200,
              ' ' + 'a' * 200 + '\u3000', 'a' * 199 + 'e\u0301', '\u200b' * 300 + 'Ok']
EMAILS_OK = ['guest{n}@example.org', 'guest{n}+review@example.org', "o'brien{n}@example.ie",
             '"quoted{n}"@example.com', 'user{n}@münchen.de', '用户{n}@例子.广告',
             'guest{n}@xn--mnchen-3ya.de', 'Guest{n}@EXAMPLE.ORG', "g{n}!#$%&*/=?^_`{{|}}~@example.org",
             '{n}@[127.0.0.1]', 'émile{n}@exämple.fr', '😀{n}@example.org', 'a&b<{n}>@example.org',
             'a+b+c{n}@sub.example.co.uk']
EMAILS_BAD = ['with space{n}@example.org', '"john doe{n}"@example.com', 'two{n}@@example.org',
              'no-at{n}.example.org', 'x{n}@', '@example{n}.org', 'a{n}@b@c', '', None,
              'tab\tinside{n}@x.org', 'vt{n}@x.org\v', 'ctl\x01{n}@x.org', 'del\x7f{n}@x.org',
              'nel\u0085{n}@x.org', 'zw\u200b{n}@x.org', 'nb{n}@\u00a0x.org', '\u00a0@x{n}.org',
              '{n}' + 'x' * 250 + '@example.org', 'ideo\u3000{n}@x.org', 'nonchar\ufffe{n}@x.org']
EMAIL_EDGES = [' ', '\t', '\r\n', '\u00a0', '\u3000', '\u200b', '\ufeff', '  \t ']


def gen_bookings(rnd, n_total, allow_invalid):
    """n_total random bookings: a normal base, 0-3 nasty mutations each."""
    def name_field():
        return rnd.choice(['last', 'first'])

    def insert_at(v, piece):
        v = E(v) if v is not None else b'Name'
        i = rnd.randint(0, len(v))
        # Do not split a UTF-8 sequence of the original value.
        while 0 < i < len(v) and (v[i] & 0xc0) == 0x80:
            i -= 1
        return v[:i] + E(piece) + v[i:]

    def m_xml(b):
        b[name_field()] = rnd.choice(XML_SPECIAL)

    def m_emoji(b):
        b[name_field()] = rnd.choice(EMOJI)

    def m_rtl(b):
        b[name_field()] = rnd.choice(RTL)

    def m_combining(b):
        b[name_field()] = rnd.choice(COMBINING)

    def m_zw_inside(b):
        b[name_field()] = rnd.choice(ZW_INSIDE)

    def m_space_inside(b):
        b[name_field()] = rnd.choice(SPACE_INSIDE)

    def m_trim_edges(b):
        f = name_field()
        v = E(b[f]) if b[f] is not None else b'Name'
        pre = ''.join(rnd.choice(TRIM_CHARS) for _ in range(rnd.randint(0, 3)))
        post = ''.join(rnd.choice(TRIM_CHARS) for _ in range(rnd.randint(1, 3)))
        b[f] = E(pre) + v + E(post)

    def m_nontrim_edges(b):
        f = name_field()
        v = E(b[f]) if b[f] is not None else b'Name'
        b[f] = E(rnd.choice(NON_TRIM_EDGE)) + v + E(rnd.choice(NON_TRIM_EDGE))

    def m_blank_first(b):
        b['first'] = rnd.choice([None, '', '   ', '\t', '\u3000', '\u200b\u00a0', '\ufeff'])

    def m_blank_last(b):
        b['last'] = rnd.choice([None, '', '  ', '\t\n', '\u200b', '\u00a0', '\ufeff', '\u3000',
                                '\u2000\u200a', '\u202f', ' \u2060 '])

    def m_long(b):
        b[name_field()] = rnd.choice(LONG_NAMES)

    def m_control(b):
        f = name_field()
        b[f] = insert_at(b[f], rnd.choice(CONTROLS))

    def m_nonchar(b):
        f = name_field()
        b[f] = insert_at(b[f], rnd.choice(NONCHARS))

    def m_invalid(b):
        f = rnd.choice(['last', 'first', 'email', 'booking_no'])
        b[f] = insert_at(b[f] if b[f] is not None else b'x@example.org', rnd.choice(INVALID))

    def m_email_ok(b):
        b['email'] = rnd.choice(EMAILS_OK).format(n=b['n'])

    def m_email_edges(b):
        b['email'] = E(rnd.choice(EMAIL_EDGES)) + E(b['email'] or 'e@example.org') + E(rnd.choice(EMAIL_EDGES))

    def m_email_bad(b):
        e = rnd.choice(EMAILS_BAD)
        b['email'] = e.format(n=b['n']) if e is not None else None

    def m_dates(b):
        b['arrival'], b['departure'] = rnd.choice([
            ('current_date - 3', 'current_date - 5'),     # departure before arrival
            ('current_date - 1', 'current_date - 2'),
            ('current_date - 2', 'current_date - 2'),     # same day: fine
            ('current_date - 400', 'current_date - 1'),   # long stay: fine
        ])

    def m_booking_no(b):
        n = b['n']
        b['booking_no'] = rnd.choice([f'🏨-{n}', f'<B&"{n}">', f' N-{n} ', f'N-{n}\x07', f'\tN-{n}',
                                      'N' * 120 + str(n), f'N-{n}\ufffe', f'Ν-{n}\u200b',
                                      f"N-{n}'; --", f'N\u00a0{n}'])

    mutators = [m_xml, m_emoji, m_rtl, m_combining, m_zw_inside, m_space_inside, m_trim_edges,
                m_trim_edges, m_nontrim_edges, m_blank_first, m_blank_last, m_long, m_control,
                m_control, m_nonchar, m_email_ok, m_email_ok, m_email_edges, m_email_bad,
                m_email_bad, m_dates, m_booking_no]
    if allow_invalid:
        mutators += [m_invalid, m_invalid, m_invalid]
    genders = GENDERS + (GENDERS_BAD_UTF8 if allow_invalid else [])
    languages = LANGUAGES + (LANGUAGES_BAD_UTF8 if allow_invalid else [])
    out = []
    for n in range(1, n_total + 1):
        g = rnd.choice(genders)
        lang = rnd.choice(languages)
        b = {'n': n, 'prop': rnd.choice(sorted(HOTEL)), 'booking_no': f'N-{n:04d}',
             'last': rnd.choice(NORMAL_LAST), 'first': rnd.choice(NORMAL_FIRST),
             'email': f'guest{n}@example.org', 'gender': g[0], 'want_gender': g[1],
             'language': lang[0], 'want_language': lang[1],
             'arrival': 'current_date - 3', 'departure': 'current_date - 1'}
        for _ in range(rnd.choices([0, 1, 2, 3], weights=[20, 45, 25, 10])[0]):
            rnd.choice(mutators)(b)
        out.append(b)
    return out


def hand_picked(start, allow_invalid):
    """Edge cases worth having on every seed."""
    cases = [
        {'last': '\u200b'}, {'last': '\u00a0'}, {'last': '\u3000'}, {'last': '\ufeffMüller\ufeff'},
        {'last': '\u200f'}, {'last': '\u0301'}, {'last': '\u202e'}, {'last': '\u200d\u00ad'},
        {'last': 'Jose\u0301'}, {'last': '\u202eBerg'}, {'last': '\u3164'}, {'last': '\u2800\u115f'},
        {'last': '\u05b0\u05b4'}, {'last': '\U000e0041\U000e0042'}, {'last': '\u200b\u0e31'},
        {'last': '\u0e01\u0e31'},
        {'first': '\u2028Anna\u2029'}, {'last': '\u180eX\u180e'}, {'last': 'x' * 10240},
        {'first': 'y' * 10240}, {'last': 'L' * 200}, {'last': 'L' * 201},
        {'last': '\u3000' + 'ß' * 200 + '\u205f'}, {'last': 'Bell\x07'},
        {'email': '\u200bzw@example.org'}, {'email': '\u00a0@example.org'},
        {'email': 'nb\u00a0sp@example.org'}, {'email': 'x' * 250 + '@example.org'},
        {'email': 'a\u0085b@example.org'}, {'email': '  padded+tag@Example.ORG\t'},
        {'booking_no': ' '}, {'booking_no': '\u3000'}, {'booking_no': 'N-' + '9' * 99},
        {'arrival': "'0044-03-15 BC'::date"}, {'departure': "'10000-01-01'::date"},
        {'arrival': "'2024-02-29'::date", 'departure': "'2024-03-01'::date"},
        {'arrival': 'current_date - 1', 'departure': 'current_date - 9'},
        {'last': 'z' * 300, 'email': 'ctl\x01@example.org'},
        {'gender': 'Mr.', 'want_gender': 'male', 'language': 'Deutsch', 'want_language': 'de'},
    ]
    if allow_invalid:
        cases += [
            {'last': b'M\xfcller'}, {'last': b'\xed\xa0\x80'}, {'last': b'\xc0\xaf'},
            {'last': b'Ab\xf4\x90\x80\x80'}, {'last': b'  \xff  '}, {'first': b'\xe2\x82'},
            {'last': b'Ok\xc2'}, {'last': b'\xc2\xa0\xa0'}, {'last': b'\xe3\x80\x80\x80'},
            {'email': b'caf\xe9@example.org'}, {'booking_no': b'N-\xff-x'},
            {'gender': b'\xff', 'want_gender': 'unknown', 'language': b'\xff', 'want_language': 'en'},
            {'last': b'\x07\xff'},
        ]
    out = []
    for i, c in enumerate(cases):
        n = start + i
        b = {'n': n, 'prop': 'P001' if i % 2 else 'P002', 'booking_no': f'H-{n:04d}', 'last': 'Hand',
             'first': 'Picked', 'email': f'hand{n}@example.org', 'gender': 'f', 'want_gender': 'female',
             'language': 'fr', 'want_language': 'fr', 'arrival': 'current_date - 3',
             'departure': 'current_date - 1'}
        b.update(c)
        out.append(b)
    return out


# ---- database access in bytes ------------------------------------------

def psql_bytes(env, sql, encoding):
    """Run SQL given as bytes with client_encoding `encoding`; rows of bytes (None for NULL)."""
    args = ['psql', env.conninfo, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-A', '-t', '-F', '\x1f',
            '-P', 'null=\x1e']
    out = subprocess.run(args, input=sql, capture_output=True, timeout=120,
                         env=dict(os.environ, PGCLIENTENCODING=encoding))
    if out.returncode != 0:
        raise AssertionError(f'psql failed: {out.stderr.decode(errors="replace")}\n'
                             f'SQL: {sql[:500].decode(errors="replace")}')
    return [[None if c == b'\x1e' else c for c in line.split(b'\x1f')]
            for line in out.stdout.split(b'\n') if line]


def lit(v):
    if v is None:
        return b'NULL'
    return b"'" + E(v).replace(b"'", b"''") + b"'"


class NastyDataTest(GFTestCase):

    def setUp(self):
        pass   # each test sets up its own database (UTF8 or SQL_ASCII)

    def make_nasty_env(self, sql_ascii):
        """As GFTestCase.make_env(), optionally against a SQL_ASCII database of the same cluster."""
        env = Env()
        self.addCleanup(env.cleanup)
        env.start_pg()
        if sql_ascii:
            env.psql(f"CREATE DATABASE {env.dbname}_nasty ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C'"
                     " TEMPLATE template0")
            self.assertIn(f'dbname={env.dbname}', env.conninfo)
            env.conninfo = env.conninfo.replace(f'dbname={env.dbname}', f'dbname={env.dbname}_nasty')
        self.encoding = 'SQL_ASCII' if sql_ascii else 'UTF8'
        self.assertEqual(env.scalar('SHOW server_encoding'), self.encoding)
        env.load_reference_schema()
        env.psql(''.join(f"INSERT INTO pms.properties VALUES ('{p}', 'Hotel {p}');" for p in HOTEL))
        env.start_sim(self.accounts)
        env.write_config()
        r = env.gf('db', 'migrate')
        self.assertEqual(r.returncode, 0, r.stderr)
        for p, h in HOTEL.items():
            env.add_connection(p, h, self.accounts[h])
        self.env = env
        return env

    def q(self, sql):
        return psql_bytes(self.env, E(sql), self.encoding)

    def sql_chars(self, b):
        """A value as PostgreSQL's regex sees it: characters, or bytes in SQL_ASCII."""
        return b.decode('latin-1' if self.encoding == 'SQL_ASCII' else 'utf-8')

    def pg_space_set(self, bookings):
        """The characters PostgreSQL's [[:space:]] matches in this database, among those used:
        eligibility is evaluated in SQL with the database's own character classes."""
        chars = {chr(c) for c in range(1, 128)}
        for b in bookings:
            for f in ('last', 'email'):
                if b[f] is not None:
                    chars |= set(self.sql_chars(E(b[f])))
        chars = sorted(chars)
        enc = 'latin-1' if self.encoding == 'SQL_ASCII' else 'utf-8'
        values = b','.join(b'(%d,%s)' % (i, lit(c.encode(enc))) for i, c in enumerate(chars))
        row = psql_bytes(self.env, b"SELECT string_agg(CASE WHEN c ~ '[[:space:]]' THEN '1' ELSE '0' END, ''"
                         b" ORDER BY i) FROM (VALUES " + values + b") v(i, c)", self.encoding)
        flags = row[0][0].decode()
        return {c for c, f in zip(chars, flags) if f == '1'}

    def insert(self, bookings):
        parts = []
        for i in range(0, len(bookings), 100):
            chunk = bookings[i:i + 100]
            parts.append(b'INSERT INTO pms.guests (id, first_name, last_name, email, gender, language) VALUES '
                         + b','.join(b'(%d,%s,%s,%s,%s,%s)' % (b['n'], lit(b['first']), lit(b['last']),
                                                               lit(b['email']), lit(b['gender']),
                                                               lit(b['language'])) for b in chunk) + b';\n')
            parts.append(b'INSERT INTO pms.bookings (id, property_id, booking_no, guest_id, status, arrival,'
                         b' departure, checked_out_at, notify_on_occupancy) VALUES '
                         + b','.join(b"(%d,%s,%s,%d,'checked_out',%s,%s,now() - interval '1 day',true)"
                                     % (b['n'], lit(b['prop']), lit(b['booking_no']), b['n'],
                                        E(b['arrival']), E(b['departure'])) for b in chunk) + b';\n')
        psql_bytes(self.env, b''.join(parts), self.encoding)
        dates = {int(r[0]): (r[1].decode(), r[2].decode())
                 for r in self.q('SELECT id, arrival::text, departure::text FROM pms.bookings')}
        for b in bookings:
            b['arrival_text'], b['departure_text'] = dates[b['n']]

    def expect(self, b, space):
        """('absent', None) | ('rejected', {acceptable reasons}) | ('delivered', {guest fields})."""
        last, first, bn = E(b['last']), E(b['first']), E(b['booking_no'])
        email = E(b['email'])

        # DESIGN.md 2, eligibility (in SQL; white space as the database's [[:space:]] sees it).
        def sql_email_ok(e):
            s = self.sql_chars(e.strip(b' \t\r\n'))
            local, at, domain = s.partition('@')
            return bool(at and local and domain and '@' not in domain
                        and not any(c in space for c in s))
        if email is None or not sql_email_ok(email):
            return 'absent', None
        if last is None or all(c in space or invisible(c) for c in self.sql_chars(last)):
            return 'absent', None

        # render_xml.h: every field's first problem; guestflow reports one of them.
        email_t = email.strip(b' \t\r\n')      # what the batch query hands the renderer
        last_problem = field_problem('last_name', last, MAX_NAME, True, True)
        if not last_problem and all(invisible(c) for c in trim(last).decode('utf-8')):
            last_problem = 'last_name: only invisible characters (format characters, combining marks)'
        problems = [field_problem('booking_no', bn, MAX_BOOKING_NO, True, False),
                    last_problem,
                    field_problem('first_name', first, MAX_NAME, False, True),
                    field_problem('email', email_t, MAX_EMAIL, True, True)
                    or email_format_problem(trim(email_t)),
                    date_problem('arrival', b['arrival_text']),
                    date_problem('departure', b['departure_text'])]
        problems = {p for p in problems if p}
        if not problems and b['departure_text'] < b['arrival_text']:
            problems.add(f"departure {b['departure_text']} is before arrival {b['arrival_text']}")
        if problems:
            return 'rejected', problems
        first_t = trim(first) if first is not None else b''
        return 'delivered', {
            'hotelId': HOTEL[b['prop']], 'bookingNo': bn.decode(), 'lastName': trim(last).decode(),
            'firstName': first_t.decode() if first_t else None, 'email': trim(email_t).decode(),
            'gender': b['want_gender'], 'language': b['want_language'], 'status': 'checked_out',
            'arrival': b['arrival_text'], 'departure': b['departure_text']}

    def run_nasty(self, sql_ascii):
        env = self.make_nasty_env(sql_ascii)
        rnd = random.Random(SEED + (1 if sql_ascii else 0))
        bookings = gen_bookings(rnd, N_GENERATED, sql_ascii)
        bookings += hand_picked(N_GENERATED + 1, sql_ascii)
        self.insert(bookings)
        space = self.pg_space_set(bookings)
        exp = {b['n']: self.expect(b, space) for b in bookings}
        by_n = {b['n']: b for b in bookings}
        want = {k: {n for n, (o, _) in exp.items() if o == k} for k in ('absent', 'rejected', 'delivered')}
        ctx = f'(seed {SEED}, {self.encoding})'
        for k in ('absent', 'rejected', 'delivered'):
            self.assertGreater(len(want[k]), 10, f'generator produced too few {k} bookings {ctx}')

        r = subprocess.run([GUESTFLOW, '-c', env.config, 'run', 'review-nightly'], capture_output=True,
                           timeout=120)
        stdout, stderr = r.stdout.decode(errors='replace'), r.stderr.decode(errors='replace')
        self.assertEqual(r.returncode, 1, f'exit {r.returncode} {ctx}\nstdout: {stdout}\nstderr: {stderr[-4000:]}')

        # Every eligible booking ends delivered or rejected, the others have no delivery.
        rows = self.q("SELECT booking_id, state, encode(textsend(coalesce(reason, '')), 'hex'), batch_id"
                      ' FROM guestflow.deliveries')
        got = {int(r[0]): (r[1].decode(), bytes.fromhex(r[2].decode()), int(r[3]) if r[3] else None)
               for r in rows}
        self.assertEqual(len(rows), len(got), 'one delivery per booking (one connection each)')
        self.assertEqual(set(got), want['rejected'] | want['delivered'], ctx)
        wrong = {n: (got[n][0], exp[n][0], got[n][1].decode(errors='replace'), by_n[n])
                 for n in got if got[n][0] != exp[n][0]}
        self.assertEqual(wrong, {}, f'delivery state differs from the expected outcome {ctx}')
        eligible = len(want['rejected']) + len(want['delivered'])
        self.assertRegex(stdout, rf'^review-nightly: run \d+ eligible={eligible} new={eligible} '
                                 rf"delivered={len(want['delivered'])} rejected={len(want['rejected'])} "
                                 r'retried=0 dead=0 pending=0 requests=\d+ duration=[0-9.]+s exit=1 first_rejected="[^\n]+"$')

        # Rejected: the reason names the field and the problem, and leaks no personal data.
        for n in sorted(want['rejected']):
            b, reason = by_n[n], got[n][1]
            text = reason.decode('utf-8')          # a reason a person can read
            self.assertIsNone(text_problem(reason, 1000), text)
            self.assertRegex(text, r'^(booking_no: |last_name: |first_name: |email: |arrival: |departure[: ])', text)
            self.assertIn(text, exp[n][1], f'booking {n}: {b!r}')
            for f in ('last', 'first', 'email'):
                v = trim(E(b[f])) if b[f] is not None else b''
                if len(v.decode(errors='replace')) >= 4:
                    self.assertNotIn(v, reason, f'reason of booking {n} leaks its {f}')

        # Delivered: the partner got exactly the normalised values, once.
        rec = env.recorded()
        self.assertEqual(len(rec), len(want['delivered']), ctx)
        n_of_bn = {E(by_n[n]['booking_no']).decode(errors='surrogateescape'): n for n in by_n}
        seen = set()
        for g in rec:
            n = n_of_bn[g['bookingNo']]
            self.assertNotIn(n, seen, f'booking {n} recorded twice')
            seen.add(n)
            self.assertIn(n, want['delivered'], f'booking {n} delivered but expected {exp[n]}: {by_n[n]!r}')
            sent = {k: g[k] for k in exp[n][1]}
            self.assertEqual({k: E(v) for k, v in sent.items()}, {k: E(v) for k, v in exp[n][1].items()},
                             f'booking {n}: {by_n[n]!r}')
        self.assertEqual(seen, want['delivered'])

        # One history entry per delivered booking, none for the others.
        hist = {int(r[0]): int(r[1]) for r in
                self.q('SELECT booking_id, count(*) FROM pms.booking_history GROUP BY 1')}
        self.assertEqual(hist, {n: 1 for n in want['delivered']})

        # The partner never saw an invalid document (no 400), nothing was retried.
        stats = env.sim_stats()
        self.assertEqual(set(stats['status']), {'200'}, stats)
        self.assertEqual(stats['accepted'], len(want['delivered']))
        self.assertEqual((stats['rejected'], stats['replays'], stats['key_conflicts']), (0, 0, 0), stats)

        # Batches mixing good and bad records delivered their good records.
        keys = {int(r[0]): r[1].decode() for r in self.q('SELECT id, idempotency_key FROM guestflow.batches')}
        by_batch = {}
        for n, (state, _, batch) in got.items():
            by_batch.setdefault(batch, {}).setdefault(state, set()).add(n)
        mixed = [bt for bt, s in by_batch.items() if s.get('delivered') and s.get('rejected')]
        self.assertTrue(mixed, 'no batch mixed delivered and rejected records')
        for bt in mixed:
            sent = {n_of_bn[g['bookingNo']] for g in rec if g['idempotencyKey'] == keys[bt]}
            self.assertEqual(sent, by_batch[bt]['delivered'], f'batch {bt}')
        self.assertTrue(all(bt is not None for bt in by_batch), 'every delivery was in a batch')

        # A second run has nothing to do: rejections are final.
        before = stats['requests']
        r = subprocess.run([GUESTFLOW, '-c', env.config, 'run', 'review-nightly'], capture_output=True,
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr.decode(errors='replace')[-2000:])
        self.assertEqual(env.sim_stats()['requests'], before)

    def test_nasty_bookings_utf8_database(self):
        self.run_nasty(sql_ascii=False)

    def test_nasty_bookings_sql_ascii_database_with_invalid_utf8(self):
        self.run_nasty(sql_ascii=True)


if __name__ == '__main__':
    main()
