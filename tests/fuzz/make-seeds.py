#!/usr/bin/env python3
"""Writes the hand-made seed inputs (seed-*) of the fuzz corpora.

Usage: tests/fuzz/make-seeds.py   (from anywhere; rewrites corpus/*/seed-*)

Inputs that libFuzzer found (named by their SHA-1) are left alone. Run it again
after changing a seed here, then replay with `meson test --suite fuzz-replay`.
"""
import os
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CORPUS = HERE / 'corpus'

seeds = {'config': {}, 'reply': {}, 'render': {}}


def seed(kind, name, data):
    if isinstance(data, str):
        data = data.encode('utf-8')
    assert name not in seeds[kind], name
    seeds[kind][name] = data


# ---- config: job files and main files ----------------------------------------

seed('config', 'shipped-guestflow.yaml', (ROOT / 'etc' / 'guestflow.yaml').read_bytes())
seed('config', 'shipped-review-nightly.yaml', (ROOT / 'jobs' / 'review-nightly.yaml').read_bytes())

JOB = ('name: review-nightly\npartner: reviewhub\nformat: review-xml\n'
       'endpoint: "https://api.example/v1/guests"\n')
JOB_MIN = JOB + 'history:\n  message: "sent to {partner}"\n'
MAIN_MIN = 'database:\n  conninfo: "dbname=guestflow"\n'

seed('config', 'job-minimal.yaml', JOB_MIN)
seed('config', 'job-other-name.yaml', JOB_MIN.replace('review-nightly', 'other_job-2'))
seed('config', 'job-flow-style.yaml',
     '{name: review-nightly, partner: p, format: review-xml, endpoint: "http://h/x", allow_insecure_http: yes, '
     'history: {message: "m {job} {batch} {booking_no} {hotel_id} {run_id} {date}"}, '
     'batch: {max_records: 10000, in_flight: 64, compress: none, gzip_level: 9}}\n')
seed('config', 'job-all-keys.yaml', JOB_MIN + '''description: "All the keys"
enabled: no
schedule: "Mon *-*-* 01:00"
selection: {window: 1d, default_language: de}
batch: {max_records: 1, in_flight: 1, compress: gzip, gzip_level: 5}
http:
  connect_timeout: 500ms
  timeout: 1m
  low_speed_limit: 0
  low_speed_time: 1
  ca_file: /etc/ssl/ca.pem
  max_reply_bytes: 67108864
retry: {max_attempts: 100, backoff_initial: 1s, backoff_max: 3650d, retry_after_max: 2h, linger: 0}
lease: 2m
''')
seed('config', 'job-null-sections.yaml', JOB_MIN + 'selection:\nbatch: ~\nhttp: null\nretry: {}\n')
seed('config', 'job-section-scalar.yaml', JOB_MIN + 'batch: 5\n')
seed('config', 'job-section-sequence.yaml', JOB_MIN + 'http: [timeout, 5s]\n')
seed('config', 'job-missing-required.yaml', 'name: review-nightly\npartner: reviewhub\n')
seed('config', 'job-missing-history.yaml', JOB)
seed('config', 'job-backoff-order.yaml', JOB_MIN + 'retry:\n  backoff_initial: 2h\n  backoff_max: 1h\n')
seed('config', 'job-backoff-initial-only.yaml', JOB_MIN + 'retry:\n  backoff_initial: 7h\n')
seed('config', 'job-durations.yaml', JOB_MIN +
     'selection: {window: 99999999999999999999d}\nhttp: {timeout: 3651d, connect_timeout: 0}\n')
seed('config', 'job-duration-units.yaml', JOB_MIN +
     'http: {timeout: 5min, connect_timeout: 1ms, low_speed_time: 9223372036854775807ms}\n')
seed('config', 'job-ints.yaml', JOB_MIN + 'batch: {max_records: "+5", in_flight: 0x10, gzip_level: -1}\n')
seed('config', 'job-int-overflow.yaml', JOB_MIN + 'batch: {max_records: 99999999999999999999999}\n')
seed('config', 'job-bools.yaml', JOB_MIN + 'enabled: maybe\n')
seed('config', 'job-bool-case.yaml', JOB_MIN + 'enabled: OFF\n')
seed('config', 'job-enum.yaml', JOB_MIN + 'batch: {compress: zstd}\n')
seed('config', 'job-endpoint-query.yaml', JOB_MIN.replace('/v1/guests', '/v1/guests?key=1'))
seed('config', 'job-endpoint-fragment.yaml', JOB_MIN.replace('/v1/guests', '/v1#x'))
seed('config', 'job-endpoint-space.yaml', JOB_MIN.replace('/v1/guests', '/v1/ guests'))
seed('config', 'job-endpoint-ctrl.yaml', JOB_MIN.replace('/v1/guests', '/v1/\\x01\\u0085'))
seed('config', 'job-endpoint-nohost.yaml', JOB_MIN.replace('https://api.example/v1/guests', 'http:///x'))
seed('config', 'job-endpoint-scheme.yaml', JOB_MIN.replace('https://', 'ftp://'))
seed('config', 'job-insecure-http-allowed.yaml',
     JOB_MIN.replace('https://', 'http://') + 'allow_insecure_http: true\nping: {start: "http://127.0.0.1:9/p"}\n')
seed('config', 'job-insecure-http-refused.yaml', JOB_MIN.replace('https://', 'http://'))
seed('config', 'job-ping-http-refused.yaml', JOB_MIN + 'ping:\n  success: "https://hc.example/ok"\n'
     '  failure: "http://hc.example/fail"\n')
seed('config', 'job-insecure-http-bad-bool.yaml', JOB_MIN + 'allow_insecure_http: "sometimes"\n')
seed('config', 'job-proxy.yaml', JOB_MIN + 'http:\n  proxy: "http://proxy.example:3128"\n'
     '  no_proxy: "localhost, .internal.example,10.0.0.0/8, ::1"\n')
seed('config', 'job-proxy-socks.yaml', JOB_MIN + 'http: {proxy: "socks5h://[::1]:1080", no_proxy: "*"}\n')
seed('config', 'job-proxy-credentials.yaml', JOB_MIN + 'http: {proxy: "http://u:secret@proxy:3128"}\n')
seed('config', 'job-proxy-scheme.yaml', JOB_MIN + 'http: {proxy: "proxy.example:3128"}\n')
seed('config', 'job-no-proxy-alone.yaml', JOB_MIN + 'http: {no_proxy: "localhost"}\n')
seed('config', 'job-no-proxy-empty-entry.yaml', JOB_MIN + 'http: {proxy: "http://p:1", no_proxy: "a,,b"}\n')
seed('config', 'job-endpoint-password.yaml', JOB_MIN.replace('https://', 'https://u:secret@'))
seed('config', 'job-endpoint-bad-port.yaml', JOB_MIN.replace('api.example', 'api.example:99999'))
seed('config', 'job-template-unknown.yaml', JOB + 'history: {message: "hi {guest} there"}\n')
seed('config', 'job-template-unclosed.yaml', JOB + 'history: {message: "hi {partner"}\n')
seed('config', 'job-template-brace.yaml', JOB + 'history: {message: "hi } {{partner}"}\n')
seed('config', 'job-template-blank.yaml', JOB + 'history: {message: " \\t\\n "}\n')
seed('config', 'job-language.yaml', JOB_MIN + 'selection: {default_language: EN}\n')
seed('config', 'job-language-3.yaml', JOB_MIN + 'selection: {default_language: eng}\n')
seed('config', 'job-name-bad.yaml', JOB_MIN.replace('name: review-nightly', 'name: Review Nightly!'))
seed('config', 'job-name-long.yaml', JOB_MIN.replace('name: review-nightly', 'name: ' + 'a' * 65))
seed('config', 'job-partner-utf8.yaml', JOB_MIN.replace('partner: reviewhub', 'partner: "rëview\'hub\\\\"'))
seed('config', 'job-unknown-key.yaml', JOB_MIN + 'colour: blue\n')
seed('config', 'job-unknown-key-long.yaml', JOB_MIN + 'Ünknown_' + 'ß' * 100 + ': 1\n')
seed('config', 'job-unknown-key-section.yaml', JOB_MIN + 'batch: {max_record: 5}\n')
seed('config', 'job-duplicate-key.yaml', JOB_MIN + 'partner: other\n')
seed('config', 'job-duplicate-key-section.yaml', JOB_MIN + 'batch:\n  in_flight: 2\n  in_flight: 3\n')
seed('config', 'job-complex-key.yaml', JOB_MIN + '? [a, b]\n: c\n')
seed('config', 'job-mapping-key.yaml', JOB_MIN + '{x: 1}: 2\n')
seed('config', 'job-value-mapping.yaml', JOB_MIN.replace('partner: reviewhub', 'partner: {a: b}'))
seed('config', 'job-nul-in-value.yaml', JOB_MIN.replace('partner: reviewhub', 'partner: "review\\0hub"'))
seed('config', 'job-nul-in-key.yaml', JOB_MIN + '"part\\0ner": x\n')
seed('config', 'job-nul-byte.yaml', JOB_MIN.encode() + b'description: a\x00b\n')
seed('config', 'job-anchor.yaml', JOB_MIN + 'http: &h {timeout: 5s}\n')
seed('config', 'job-alias.yaml', 'base: &b reviewhub\n' + JOB_MIN.replace('partner: reviewhub', 'partner: *b'))
seed('config', 'job-merge-key.yaml', JOB_MIN + 'x: &base {timeout: 5s}\nhttp:\n  <<: *base\n')
seed('config', 'job-alias-cycle.yaml', 'a: &a [*a]\n')
seed('config', 'job-billion-laughs.yaml',
     'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
     'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n'
     'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n')
seed('config', 'job-tags.yaml', JOB_MIN.replace('partner: reviewhub', 'partner: !!str reviewhub')
     + 'enabled: !custom true\nbatch: !!map {max_records: !!int 7}\n')
seed('config', 'job-block-scalars.yaml', JOB + 'description: |\n  line one\n  line two\n'
     'history:\n  message: >-\n    sent to\n    {partner}\n')
seed('config', 'job-quoted-escapes.yaml', JOB + 'description: "\\u00e9\\U0001F600\\x41\\t\\N\\_\\L\\P"\n'
     "history: {message: 'it''s {job}'}\n")
seed('config', 'job-crlf.yaml', JOB_MIN.replace('\n', '\r\n'))
seed('config', 'job-cr-only.yaml', JOB_MIN.replace('\n', '\r'))
seed('config', 'job-tab-indent.yaml', JOB + 'history:\n\tmessage: m\n')
seed('config', 'job-tab-value.yaml', JOB + 'history:\n  message:\t"m\tx"\n')
seed('config', 'job-bad-indent.yaml', JOB + 'history:\n  message: m\n message2: n\n')
seed('config', 'job-unclosed-flow.yaml', JOB + 'history: {message: m\n')
seed('config', 'job-unclosed-quote.yaml', JOB + 'history: {message: "m}\n')
seed('config', 'job-two-documents.yaml', '---\n' + JOB_MIN + '---\n' + JOB_MIN)
seed('config', 'job-document-end.yaml', '%YAML 1.1\n%TAG ! tag:example.com,2000:\n---\n' + JOB_MIN + '...\n')
seed('config', 'job-bad-directive.yaml', '%YAML 2.0\n---\n' + JOB_MIN)
seed('config', 'empty.yaml', '')
seed('config', 'comments-only.yaml', '# nothing here\n  # really\n')
seed('config', 'null-root.yaml', '~\n')
seed('config', 'scalar-root.yaml', 'just a string\n')
seed('config', 'sequence-root.yaml', '- name: x\n- partner: y\n')
seed('config', 'explicit-empty-doc.yaml', '---\n...\n')
seed('config', 'bom-utf8.yaml', b'\xef\xbb\xbf' + JOB_MIN.encode())
seed('config', 'bom-utf16le.yaml', b'\xff\xfe' + JOB_MIN.encode('utf-16-le'))
seed('config', 'bom-utf16be.yaml', b'\xfe\xff' + MAIN_MIN.encode('utf-16-be'))
seed('config', 'utf16-odd-length.yaml', b'\xff\xfe' + MAIN_MIN.encode('utf-16-le') + b'\x00')
seed('config', 'invalid-utf8-ff.yaml', JOB_MIN.encode() + b'description: caf\xff\n')
seed('config', 'invalid-utf8-overlong.yaml', JOB_MIN.encode() + b'description: \xc0\xaf\n')
seed('config', 'invalid-utf8-truncated.yaml', JOB_MIN.encode() + b'description: \xe2\x82')
seed('config', 'invalid-utf8-surrogate.yaml', JOB_MIN.encode() + b'description: \xed\xa0\x80\n')
seed('config', 'invalid-utf8-line3.yaml', b'a: 1\nbb: 2\n\xc3\xa4\xc3\xa4: \x80\n')
seed('config', 'control-char.yaml', JOB_MIN.encode() + b'description: a\x07b\n')
seed('config', 'nesting-16.yaml', JOB_MIN + 'x: ' + '[' * 15 + ']' * 15 + '\n')
seed('config', 'nesting-17.yaml', JOB_MIN + 'x: ' + '[' * 16 + ']' * 16 + '\n')
seed('config', 'nesting-flow-deep.yaml', '[' * 5000 + ']' * 5000 + '\n')
seed('config', 'nesting-flow-deep-unclosed.yaml', '{a: ' * 2000 + '\n')
seed('config', 'nesting-block-deep.yaml', ''.join(' ' * i + 'k%d:\n' % i for i in range(40)))
seed('config', 'nesting-seq-deep.yaml', ''.join(' ' * (2 * i) + '- \n' for i in range(30)))
seed('config', 'huge-scalar.yaml', JOB_MIN + 'description: "' + 'x' * 100000 + '"\n')
seed('config', 'huge-key.yaml', JOB_MIN + 'k' * 1100 + ': 1\n')
seed('config', 'huge-plain-multiline.yaml', JOB_MIN + 'description: ' + 'word ' * 4000 + '\n')
seed('config', 'many-keys.yaml', JOB_MIN + ''.join('k%d: v\n' % i for i in range(3000)))

seed('config', 'main-minimal.yaml', MAIN_MIN)
seed('config', 'main-absolute-jobs-dir.yaml', MAIN_MIN + 'jobs_dir: /srv/guestflow/jobs\nlogging: {level: debug}\n')
seed('config', 'main-relative-jobs-dir.yaml', MAIN_MIN + 'jobs_dir: "../jobs"\nlogging:\n  level: warn\n')
seed('config', 'main-jobs-dir-blank.yaml', MAIN_MIN + 'jobs_dir: "  "\n')
seed('config', 'main-jobs-dir-null.yaml', MAIN_MIN + 'jobs_dir:\n')
seed('config', 'main-conninfo-missing.yaml', 'database: {}\nlogging: {level: error}\n')
seed('config', 'main-conninfo-secret.yaml', 'database:\n  conninfo: [password=secret]\n')
seed('config', 'main-conninfo-uri.yaml', 'database:\n  conninfo: postgresql://gf:secret@db1:5432/guestflow?sslmode=verify-full\n')
seed('config', 'main-conninfo-password.yaml', 'database:\n  conninfo: "host=db1 password=\'se cret\' dbname=gf"\n')
seed('config', 'main-conninfo-password-query.yaml', 'database:\n  conninfo: "postgres://db1/gf?password=x&sslmode=require"\n')
seed('config', 'main-conninfo-sslpassword.yaml', 'database:\n  conninfo: "host=db1 sslkey=/k.pem sslpassword=pass"\n')
seed('config', 'main-conninfo-unparseable.yaml', 'database:\n  conninfo: "host=db1 secret dbname=gf"\n')
seed('config', 'main-conninfo-dbname.yaml', 'database:\n  conninfo: guestflow\n')
seed('config', 'main-smtp.yaml', MAIN_MIN + 'alerting:\n  smtp_url: "smtp://mail.example:587"\n'
     '  smtp_user: guestflow\n  smtp_password_file: /etc/guestflow/smtp-password\n')
seed('config', 'main-smtp-password-in-url.yaml', MAIN_MIN + 'alerting: {smtp_url: "smtps://u:secret@mail.example"}\n')
seed('config', 'main-smtp-user-twice.yaml', MAIN_MIN + 'alerting: {smtp_url: "smtp://u@mail", smtp_user: v}\n')
seed('config', 'main-smtp-file-no-user.yaml', MAIN_MIN + 'alerting: {smtp_url: "smtp://mail", smtp_password_file: /p}\n')
seed('config', 'main-smtp-user-no-url.yaml', MAIN_MIN + 'alerting: {smtp_user: u}\n')
seed('config', 'main-level-bad.yaml', MAIN_MIN + 'logging: {level: verbose}\n')
seed('config', 'main-unknown-key.yaml', MAIN_MIN + 'jobs: []\n')
seed('config', 'main-database-scalar.yaml', 'database: dbname=guestflow\n')
seed('config', 'main-duplicate.yaml', MAIN_MIN + MAIN_MIN)
seed('config', 'main-partners.yaml', MAIN_MIN + 'partners:\n  reviewhub: {email: "onboarding@reviewhub.example"}\n'
     '  upsell_co:\n    email: ops@upsell.example\n')
seed('config', 'main-partners-bad.yaml', MAIN_MIN + 'partners:\n  r: {email: "a@b\\r\\nBcc: c@d"}\n  r: {email: x}\n'
     '  R: [1]\n  s: ~\n  t: {email: a@b, cc: c}\n')
seed('config', 'main-partners-scalar.yaml', MAIN_MIN + 'partners: reviewhub\n')

# ---- reply: partner answers to a batch ----------------------------------------

NS = 'urn:guestflow:review-xml:1'
DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'

seed('reply', 'ok-ns.xml', DECL + f'<importResult xmlns="{NS}" accepted="3" rejected="0"/>\n')
seed('reply', 'ok-no-ns.xml', '<importResult accepted="2" rejected="0"></importResult>')
seed('reply', 'ok-rejections.xml', DECL + f'<importResult xmlns="{NS}" accepted="1" rejected="2">\n'
     '  <rejected bookingNo="B-1001" reason="invalid email"/>\n'
     '  <rejected bookingNo="B-1002" reason=""/>\n</importResult>\n')
seed('reply', 'ok-prefixed-ns.xml', f'<rx:importResult xmlns:rx="{NS}" accepted="0" rejected="1">'
     '<rx:rejected bookingNo="A" reason="dup"/></rx:importResult>')
seed('reply', 'ok-counts-whitespace.xml', '<importResult accepted=" +7 " rejected="&#10;1\t">'
     '<rejected bookingNo="x"/></importResult>')
seed('reply', 'ok-unicode.xml', DECL + f'<importResult xmlns="{NS}" accepted="0" rejected="3">'
     '<rejected bookingNo="Zürich-ß-1" reason="Adresse ungültig – bitte prüfen"/>'
     '<rejected bookingNo="東京-7" reason="&#x1F600; &amp; &lt;&gt; &quot;"/>'
     '<rejected bookingNo="&#x10FFFF;" reason="max"/></importResult>')
seed('reply', 'ok-comments-pi-cdata.xml', '<?xml version="1.0"?><!-- hi --><?pi x?>'
     '<importResult accepted="1" rejected="1"><![CDATA[text <rejected>]]>'
     '<!-- c --><rejected bookingNo="B" reason="r"><rejected bookingNo="nested"/></rejected>'
     '<other/>text</importResult><!-- after -->')
seed('reply', 'ok-other-ns-children.xml', f'<importResult xmlns="{NS}" xmlns:o="urn:other" accepted="0" rejected="1">'
     '<o:rejected bookingNo="ignored"/><rejected bookingNo="kept" o:reason="x"/></importResult>')
seed('reply', 'ok-latin1.xml', '<?xml version="1.0" encoding="ISO-8859-1"?>'.encode() +
     b'<importResult accepted="0" rejected="1"><rejected bookingNo="M\xfcller" reason="\xe9"/></importResult>')
seed('reply', 'ok-utf16.xml', '<?xml version="1.0" encoding="UTF-16"?>'
     '<importResult accepted="1" rejected="0"/>'.encode('utf-16'))
seed('reply', 'ok-bom.xml', b'\xef\xbb\xbf' + b'<importResult accepted="0" rejected="0"/>')
seed('reply', 'ok-big-count.xml', '<importResult accepted="9223372036854775807" rejected="0"/>')
seed('reply', 'ok-many-rejected.xml', '<importResult accepted="0" rejected="2500">' +
     ''.join(f'<rejected bookingNo="BK{i:06d}" reason="r{i}"/>' for i in range(2500)) + '</importResult>')
seed('reply', 'bad-empty.xml', '')
seed('reply', 'bad-whitespace.xml', '  \n ')
seed('reply', 'bad-truncated.xml', DECL + f'<importResult xmlns="{NS}" accepted="1" rejected="1"><rejected bookingNo="B')
seed('reply', 'bad-unclosed.xml', '<importResult accepted="1" rejected="0">')
seed('reply', 'bad-root.xml', f'<guestList xmlns="{NS}" hotelId="h" batchId="b"/>')
seed('reply', 'bad-ns.xml', '<importResult xmlns="urn:other" accepted="0" rejected="0"/>')
seed('reply', 'bad-prefix-undeclared.xml', '<x:importResult accepted="0" rejected="0"/>')
seed('reply', 'bad-count-mismatch.xml', '<importResult accepted="1" rejected="2"><rejected bookingNo="a"/></importResult>')
seed('reply', 'bad-count-mismatch-more.xml', '<importResult accepted="1" rejected="0"><rejected bookingNo="a"/></importResult>')
seed('reply', 'bad-count-negative.xml', '<importResult accepted="-1" rejected="0"/>')
seed('reply', 'bad-count-overflow.xml', '<importResult accepted="99999999999999999999" rejected="0"/>')
seed('reply', 'bad-count-hex.xml', '<importResult accepted="0x10" rejected="0"/>')
seed('reply', 'bad-count-empty.xml', '<importResult accepted="" rejected="+"/>')
seed('reply', 'bad-count-missing.xml', '<importResult rejected="0"/>')
seed('reply', 'bad-count-ns-attr.xml', f'<importResult xmlns:rx="{NS}" rx:accepted="1" rx:rejected="0"/>')
seed('reply', 'bad-no-bookingno.xml', '<importResult accepted="0" rejected="1"><rejected reason="x"/></importResult>')
seed('reply', 'bad-empty-bookingno.xml', '<importResult accepted="0" rejected="1"><rejected bookingNo=""/></importResult>')
seed('reply', 'bad-duplicate.xml', '<importResult accepted="0" rejected="3"><rejected bookingNo="a"/>'
     '<rejected bookingNo="b"/><rejected bookingNo="a"/></importResult>')
seed('reply', 'bad-doctype.xml', '<!DOCTYPE importResult><importResult accepted="0" rejected="0"/>')
seed('reply', 'bad-doctype-system.xml', '<!DOCTYPE importResult SYSTEM "http://example.invalid/x.dtd">'
     '<importResult accepted="0" rejected="0"/>')
seed('reply', 'bad-xxe.xml', '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
     '<importResult accepted="0" rejected="1"><rejected bookingNo="&x;"/></importResult>')
seed('reply', 'bad-billion-laughs.xml', '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
     + ''.join(f'<!ENTITY lol{i} "' + f'&lol{i - 1 if i > 1 else ""};' * 10 + '">' for i in range(1, 10))
     + ']><importResult accepted="0" rejected="1"><rejected bookingNo="&lol9;"/></importResult>')
seed('reply', 'bad-parameter-entity.xml', '<!DOCTYPE r [<!ENTITY % p SYSTEM "http://example.invalid/p">%p;]>'
     '<importResult accepted="0" rejected="0"/>')
seed('reply', 'bad-undeclared-entity.xml', '<importResult accepted="0" rejected="1"><rejected bookingNo="&nope;"/></importResult>')
seed('reply', 'bad-invalid-utf8.xml', b'<importResult accepted="0" rejected="1"><rejected bookingNo="\xff\xfe"/></importResult>')
seed('reply', 'bad-nul.xml', b'<importResult accepted="0" rejected="0">\x00</importResult>')
seed('reply', 'bad-two-roots.xml', '<importResult accepted="0" rejected="0"/><importResult accepted="0" rejected="0"/>')
seed('reply', 'bad-html.xml', '<html><body>502 Bad Gateway</body></html>')
seed('reply', 'bad-json.xml', '{"accepted": 1, "rejected": 0}')
seed('reply', 'bad-text.xml', 'Internal Server Error')
seed('reply', 'bad-xinclude.xml', '<importResult xmlns:xi="http://www.w3.org/2001/XInclude" accepted="0" rejected="0">'
     '<xi:include href="file:///etc/passwd" parse="text"/></importResult>')
seed('reply', 'bad-deep.xml', '<importResult accepted="0" rejected="0">' + '<a>' * 300 + '</a>' * 300 + '</importResult>')
seed('reply', 'bad-encoding-decl.xml', '<?xml version="1.0" encoding="EBCDIC-XX"?><importResult accepted="0" rejected="0"/>')
seed('reply', 'bad-long-attr.xml', '<importResult accepted="' + '1' * 5000 + '" rejected="0"/>')
# partner text that must come out as safe text (issue 14): control and bidi characters by
# reference, a reason far past GF_TEXT_MAX, encodings declared falsely
seed('reply', 'ok-reason-controls.xml', '<importResult accepted="0" rejected="2">'
     '<rejected bookingNo="B-1" reason="a&#x9B;31m &#x202E;gnp.exe&#10;b&#9;c&#x85;&#x2028;d&#x2066;"/>'
     '<rejected bookingNo="B-2&#x202E;" reason="key k3y+/=one access_key=k3y%2B%2F%3Done"/></importResult>')
seed('reply', 'ok-reason-long.xml', '<importResult accepted="0" rejected="1"><rejected bookingNo="B"'
     ' reason="' + 'ü' * 3000 + '"/></importResult>')
seed('reply', 'bad-false-utf8.xml', DECL.encode() +
     b'<importResult accepted="0" rejected="1"><rejected bookingNo="B-1" reason="M\xfcller"/></importResult>')
seed('reply', 'bad-false-ascii.xml', b'<?xml version="1.0" encoding="US-ASCII"?>'
     b'<importResult accepted="0" rejected="1"><rejected bookingNo="B-1" reason="M\xc3\xbcller"/></importResult>')
seed('reply', 'ok-false-latin1.xml', b'<?xml version="1.0" encoding="ISO-8859-1"?>'
     b'<importResult accepted="0" rejected="1"><rejected bookingNo="B-1" reason="M\xc3\xbcller \xc2\x9b"/></importResult>')

# ---- render: header and records (see fuzz_render.c for the format) -------------

def render(header, *records):
    out = b'\x00'.join(x.encode() if isinstance(x, str) else x for x in header)
    for rec in records:
        out += b'\xff' + b'\x00'.join(x.encode() if isinstance(x, str) else x for x in rec)
    return out


NIL = b'\x01'
HDR = ('hotel-42', 'batch-2024-06-01-001', 'en')
GOOD = ['B-1001', 'Müller', 'Anna', 'anna@example.org', 'f', 'de', 'checked_out', '2024-05-20', '2024-05-23']


def rec(**kw):
    keys = ['booking_no', 'last_name', 'first_name', 'email', 'gender', 'language', 'status',
            'arrival', 'departure']
    r = list(GOOD)
    for k, v in kw.items():
        r[keys.index(k)] = v
    return r


seed('render', 'one-good.bin', render(HDR, GOOD))
seed('render', 'no-records.bin', render(HDR))
seed('render', 'empty.bin', b'')
seed('render', 'three-mixed.bin', render(HDR, GOOD,
     rec(booking_no='B-1002', email='no-at-sign', first_name=NIL),
     rec(booking_no='B-1003', last_name='  ', gender='Herr', language='German')))
seed('render', 'duplicate-booking.bin', render(HDR, GOOD, rec(last_name='Other'), GOOD))
seed('render', 'booking-not-trimmed.bin', render(HDR, GOOD, rec(booking_no=' B-1001'), rec(booking_no='B-1001 ')))
seed('render', 'null-fields.bin', render(HDR, [NIL] * 9, rec(first_name=NIL, gender=NIL, language=NIL),
                                          rec(booking_no='B-2', email=NIL), rec(booking_no='B-3', departure=NIL)))
seed('render', 'short-record.bin', render(HDR, ['B-1', 'Smith']))
seed('render', 'no-default-language.bin', render(('h', 'b'), rec(language=NIL), rec(booking_no='B-2', language='xx'),
                                                  rec(booking_no='B-3', language='de-AT')))
seed('render', 'bad-default-language.bin', render(('h', 'b', 'EN'), GOOD))
seed('render', 'empty-default-language.bin', render(('h', 'b', ''), GOOD))
seed('render', 'bad-hotel-id.bin', render(('', 'b', 'en'), GOOD))
seed('render', 'blank-hotel-id.bin', render(('\u00a0\u3000 ', 'b', 'en'), GOOD))
seed('render', 'ctrl-batch-id.bin', render(('h', 'b\tc', 'en'), GOOD))
seed('render', 'long-ids.bin', render(('h' * 200, 'b' * 201, 'en'), GOOD))
seed('render', 'long-values.bin', render(('h' * 3000, 'b' * 3000, 'en'),  # no length is refused
                                         rec(last_name='ü' * 305, first_name='x' * 5000, booking_no='B-' + '7' * 400,
                                             status='s' * 1000, email='a' * 2000 + '@' + 'd' * 2000)))
seed('render', 'null-batch-id.bin', render(('h',), GOOD))
seed('render', 'escaping.bin', render(('h&<>"\'', ']]>b', 'fr'),
                                      rec(booking_no='<B&1>"\'', last_name='O\'Brien & <Sons>', first_name=']]>',
                                          status='a&b', email='"a&b"@x')))
seed('render', 'unicode-names.bin', render(HDR, rec(last_name='Ødegård-Łukasiewicz', first_name='Zoë 😀',
                                                     language='日本語'),
                                          rec(booking_no='東京-1', last_name='山田', first_name='太郎',
                                              email='taro@例え.jp', gender='Mr.', language='Deutsch')))
seed('render', 'unicode-whitespace.bin', render(HDR,
     rec(last_name='\u00a0\u2003Müller\u3000\ufeff', first_name='\u200b'),
     rec(booking_no='B-2', last_name='\u2028\u2029', first_name='\u205f Anna \u202f'),
     rec(booking_no='B-3', email='\u00a0anna@example.org\u1680'),
     rec(booking_no='B-4', email='an\u00a0na@example.org')))
seed('render', 'invalid-utf8.bin', render(HDR, rec(last_name=b'M\xfcller'), rec(booking_no='B-2', first_name=b'\xc0\xaf'),
                                          rec(booking_no='B-3', status=b'\xed\xa0\x80'),
                                          rec(booking_no='B-4', email=b'a@\xf4\x90\x80\x80'),
                                          rec(booking_no='B-5', last_name=b'ab\xe2\x82')))
seed('render', 'control-chars.bin', render(HDR, rec(last_name='a\tb'), rec(booking_no='B-2', first_name='a\x7f'),
                                           rec(booking_no='B-3', status='x\u0085'),
                                           rec(booking_no='B-4', last_name='\ufffe'),
                                           rec(booking_no='B-5', last_name='\uffff'),
                                           rec(booking_no='B-6', last_name='\r\nSmith\r\n')))
seed('render', 'name-lengths.bin', render(HDR, rec(last_name='ä' * 200), rec(booking_no='B-2', last_name='a' * 201),
                                          rec(booking_no='B-3', first_name='😀' * 200),
                                          rec(booking_no='B-4', email='a' * 240 + '@example.org'),
                                          rec(booking_no='B' * 101)))
seed('render', 'emails.bin', render(HDR, *[rec(booking_no=f'E-{i}', email=e) for i, e in enumerate(
    ['@example.org', 'anna@', 'a@b@c', 'a b@c', 'a@b', '', ' ', 'a\u00a0b@c', 'a@b\u3000c', 'ä@ö.de'])]))
seed('render', 'dates.bin', render(HDR, *[rec(booking_no=f'D-{i}', arrival=a, departure=d) for i, (a, d) in enumerate([
    ('2024-02-29', '2024-03-01'), ('2023-02-29', '2023-03-01'), ('1900-02-29', '2000-02-29'),
    ('0000-01-01', '0001-01-01'), ('0001-01-01', '9999-12-31'), ('2024-13-01', '2024-12-01'),
    ('2024-04-31', '2024-05-01'), ('2024-05-05', '2024-05-01'), ('2024-05-01', '2024-05-01'),
    ('2024-5-1', '2024-05-02'), ('2024-05-01T10:00', '2024-05-02'), ('24-05-01', '2024-05-02'),
    ('2024/05/01', '2024-05-02'), ('', '2024-05-02'), ('2024-05-0', '2024-05-02'),
    ('2024-00-10', '2024-01-10'), ('2024-01-00', '2024-01-10'), ('٢٠٢٤-٠١-٠١', '2024-01-10')])]))
seed('render', 'genders.bin', render(HDR, *[rec(booking_no=f'G-{i}', gender=g) for i, g in enumerate(
    ['m', 'F', 'w', 'D', 'x', ' Male ', 'FEMALE', 'divers', 'Herr', 'Frau', 'Mr.', 'Mrs.', 'Ms', 'MÄNNLICH',
     'männl.', 'Señora', 'SEÑORITA', 'Fr. ', '.', 'mr..', '', '?', 'ü' * 40, 'ΑΝΔΡΑΣ', 'Ÿ'])]))
seed('render', 'languages.bin', render(HDR, *[rec(booking_no=f'L-{i}', language=l) for i, l in enumerate(
    ['de', 'DE', 'de-DE', 'de_AT.UTF-8', 'en@euro', 'deu', 'GER', 'German', 'Deutsch', 'français',
     'ΕΛΛΗΝΙΚΆ', 'Русский', '中文', 'iw', 'xx', 'x', 'xyz', 'bahasa indonesia', 'tiếng việt',
     'german-swiss', '', ' ', 'a' * 70, 'Ελληνικά.utf8'])]))
seed('render', 'many-records.bin', render(HDR, *[rec(booking_no=f'M-{i:05d}', last_name=f'Name{i}')
                                                 for i in range(1000)]))
seed('render', 'many-duplicates.bin', render(HDR, *[rec(booking_no=f'X{i % 7}') for i in range(300)]))
seed('render', 'separators-only.bin', b'\xff' * 64 + b'\x00' * 64)
seed('render', 'big-status.bin', render(HDR, rec(status='s' * 100), rec(booking_no='B-2', status='s' * 101)))


def main():
    for kind, files in seeds.items():
        d = CORPUS / kind
        d.mkdir(parents=True, exist_ok=True)
        for old in d.glob('seed-*'):
            old.unlink()
        for name, data in files.items():
            (d / ('seed-' + name)).write_bytes(data)
        print(f'{kind}: {len(files)} seeds')


if __name__ == '__main__':
    main()
