#!/usr/bin/env python3
"""The nightly review export as a plain script, without delivery tracking.

The yardstick of issue 15 ("Many small hotels"): what one would write instead
of guestflow. It does the same export on the same data, and nothing more:

  1. one query reads the eligible bookings (the same source view and rules as
     guestflow: checked out within the window, notify, a plausible e-mail, a
     last name) with each one's live connection to the partner and the
     partner's status, via `psql ... COPY (...) TO STDOUT` (text format, so
     NULL and '' stay apart);
  2. per connection, batches of up to --max-records guests are rendered as a
     review-xml <guestList> (names trimmed, gender and language normalised,
     the default language when unknown), gzip level --gzip-level, and POSTed
     to the endpoint with ?id=HOTEL&access_key=KEY and an Idempotency-Key,
     --in-flight requests at once (one thread and one keep-alive connection
     each, Python's standard library only);
  3. the guests the partner accepted get a history entry, all in one
     `COPY pms.booking_history FROM STDIN` at the end.

What it does not do: remember what it sent (a second run sends everything
again; a crash between the requests and step 3 leaves sent guests without a
history entry), retry, lease, bisect a refused batch, alert. Access keys come
from a plain file (HOTEL_ID KEY per line), as such a script would keep them;
guestflow keeps them encrypted in its tables.

No database driver is needed: psql does the reading and writing (psycopg is
not installed on the bench machine), so the script pays two psql start-ups
and no per-row round trip: the cheapest way to talk to PostgreSQL from
Python, not a handicap.

    plain_export.py --conninfo "host=... dbname=guestflow" \
        --endpoint http://127.0.0.1:PORT/v1/guests --keys ACCOUNTS_FILE

Prints one summary line; exits 1 if any request failed.
"""
import argparse
import concurrent.futures
import gzip
import http.client
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

ELIGIBLE = r"""
COPY (SELECT c.id_at_partner, s.booking_id, s.booking_no, s.last_name, s.first_name,
             btrim(s.email, E' \t\r\n'), s.gender, s.language,
             coalesce(m.partner_status, s.status), s.arrival::text, s.departure::text
        FROM guestflow.source_bookings s
        JOIN guestflow.connections c
          ON c.property_id = s.property_id AND c.partner = {partner} AND c.status = 'live'
        LEFT JOIN guestflow.status_map m ON m.partner = c.partner AND m.source_status = s.status
       WHERE s.status = 'checked_out' AND s.notify IS TRUE
         AND btrim(s.email, E' \t\r\n') ~ '^[^@[:space:]]+@[^@[:space:]]+$'
         AND s.last_name ~ '[^[:space:]]'
         AND s.checked_out_at >= now() - interval '{window}'
       ORDER BY c.id, s.booking_id) TO STDOUT
"""

GENDERS = {
    "m": "male", "f": "female", "w": "female", "d": "diverse", "x": "diverse",
    "male": "male", "man": "male", "mann": "male", "männlich": "male", "herr": "male", "hr": "male",
    "mr": "male", "mister": "male", "sir": "male", "monsieur": "male", "homme": "male",
    "señor": "male", "senor": "male", "sr": "male", "signor": "male", "signore": "male",
    "female": "female", "woman": "female", "weiblich": "female", "frau": "female", "fr": "female",
    "mrs": "female", "ms": "female", "miss": "female", "madame": "female", "mme": "female",
    "femme": "female", "señora": "female", "senora": "female", "sra": "female", "signora": "female",
    "diverse": "diverse", "divers": "diverse", "non-binary": "diverse", "nonbinary": "diverse",
}
ISO639_1 = set("""aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu
cv cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia
id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh
mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa
sc sd se sg si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve
vi vo wa wo xh yi yo za zh zu""".split())
ISO639_2 = {
    "deu": "de", "ger": "de", "eng": "en", "fra": "fr", "fre": "fr", "ita": "it", "spa": "es",
    "nld": "nl", "dut": "nl", "por": "pt", "pol": "pl", "ces": "cs", "cze": "cs", "swe": "sv",
    "dan": "da", "nor": "no", "fin": "fi", "ell": "el", "tur": "tr", "rus": "ru", "ara": "ar",
    "zho": "zh", "chi": "zh", "jpn": "ja", "kor": "ko",
}
LANGUAGE_NAMES = {
    "german": "de", "deutsch": "de", "english": "en", "englisch": "en", "french": "fr",
    "français": "fr", "francais": "fr", "italian": "it", "italiano": "it", "spanish": "es",
    "español": "es", "dutch": "nl", "nederlands": "nl",
}
# Characters XML 1.0 cannot carry.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
UNESCAPE = re.compile(r"\\(.)")
UNESCAPED = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def text_field(v):
    """A field of COPY's text format: \\N is NULL, backslash escapes."""
    if v == r"\N":
        return None
    if "\\" not in v:
        return v
    return UNESCAPE.sub(lambda m: UNESCAPED.get(m.group(1), m.group(1)), v)


def gender(raw):
    key = (raw or "").strip().lower().rstrip(".")
    return GENDERS.get(key, "unknown")


def language(raw, default):
    key = (raw or "").strip().lower()
    if key in LANGUAGE_NAMES:
        return LANGUAGE_NAMES[key]
    sub = re.split(r"[-_.@ ]", key, maxsplit=1)[0]
    if len(sub) == 2 and sub in ISO639_1:
        return sub
    if len(sub) == 3 and sub in ISO639_2:
        return ISO639_2[sub]
    return default


def guest_xml(row, default_language):
    """The <guest> element of one row, or None when it cannot be sent."""
    _, _, booking_no, last, first, email, sex, lang, status, arrival, departure = row
    last = (last or "").strip()
    first = (first or "").strip()
    status = (status or "").strip()
    if not booking_no or not last or not email or not status:
        return None
    if not DATE.match(arrival or "") or not DATE.match(departure or "") or departure < arrival:
        return None
    if any(NOT_XML.search(v) for v in (booking_no, last, first, email, status)):
        return None
    parts = ["<guest><bookingNo>", escape(booking_no), "</bookingNo><lastName>", escape(last), "</lastName>"]
    if first:
        parts += ["<firstName>", escape(first), "</firstName>"]
    parts += ["<email>", escape(email), "</email><gender>", gender(sex), "</gender><language>",
              language(lang, default_language), "</language><status>", escape(status),
              "</status><arrival>", arrival, "</arrival><departure>", departure, "</departure></guest>"]
    return "".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--conninfo", required=True)
    ap.add_argument("--endpoint", required=True, help="http://HOST:PORT/PATH")
    ap.add_argument("--keys", required=True, help="file: HOTEL_ID ACCESS_KEY per line")
    ap.add_argument("--partner", default="reviewhub")
    ap.add_argument("--job", default="review-nightly")
    ap.add_argument("--window", default="14 days")
    ap.add_argument("--max-records", type=int, default=500)
    ap.add_argument("--in-flight", type=int, default=8)
    ap.add_argument("--gzip-level", type=int, default=1)
    ap.add_argument("--default-language", default="en")
    a = ap.parse_args()

    t0 = time.monotonic()
    keys = {}
    with open(a.keys, encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                hotel, key = line.split(None, 1)
                keys[hotel] = key.strip()
    psql = ["psql", a.conninfo, "-X", "-q", "-v", "ON_ERROR_STOP=1"]
    partner = "'" + a.partner.replace("'", "''") + "'"
    out = subprocess.run(psql + ["-c", ELIGIBLE.format(partner=partner, window=a.window)],
                         check=True, stdout=subprocess.PIPE).stdout.decode("utf-8")
    batches = []  # (hotel_id, [row, ...])
    for line in out.splitlines():
        row = [text_field(v) for v in line.split("\t")]
        if batches and batches[-1][0] == row[0] and len(batches[-1][1]) < a.max_records:
            batches[-1][1].append(row)
        else:
            batches.append((row[0], [row]))
    t_read = time.monotonic()

    url = urllib.parse.urlsplit(a.endpoint)
    local = threading.local()

    def send(batch):
        hotel, rows = batch
        batch_id = str(uuid.uuid4())
        sent, body = [], []
        for row in rows:
            g = guest_xml(row, a.default_language)
            if g is not None:
                sent.append(row)
                body.append(g)
        if not sent:
            return batch_id, [], len(rows), None
        doc = ('<?xml version="1.0" encoding="UTF-8"?>\n<guestList xmlns="urn:guestflow:review-xml:1" hotelId=%s '
               'batchId=%s>%s</guestList>\n' % (quoteattr(hotel), quoteattr(batch_id), "".join(body)))
        data = gzip.compress(doc.encode("utf-8"), compresslevel=a.gzip_level)
        query = urllib.parse.urlencode({"id": hotel, "access_key": keys.get(hotel, "")})
        headers = {"Content-Type": "application/xml; charset=utf-8", "Content-Encoding": "gzip",
                   "Idempotency-Key": batch_id}
        for attempt in (1, 2):  # a kept-alive connection the server closed: once more on a new one
            if getattr(local, "conn", None) is None:
                local.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
            try:
                local.conn.request("POST", url.path + "?" + query, body=data, headers=headers)
                reply = local.conn.getresponse()
                answer = reply.read()
                break
            except (http.client.HTTPException, OSError):
                local.conn.close()
                local.conn = None
                if attempt == 2:
                    raise
        if reply.status != 200:
            return batch_id, [], len(rows), "HTTP %d %s" % (reply.status, answer[:200].decode("utf-8", "replace"))
        refused = {e.get("bookingNo") for e in ET.fromstring(answer)
                   if e.tag.endswith("rejected")}
        accepted = [row for row in sent if row[2] not in refused]
        return batch_id, accepted, len(rows) - len(accepted), None

    history, rejected, failed = [], 0, []
    with concurrent.futures.ThreadPoolExecutor(max_workers=a.in_flight) as pool:
        for batch_id, accepted, n_rejected, error in pool.map(send, batches):
            rejected += n_rejected
            if error:
                failed.append(error)
            msg = "Guest data sent to %s for a review invitation (job %s, batch %s)" % (a.partner, a.job, batch_id)
            history += ["%s\tguestflow\t%s\n" % (row[1], msg) for row in accepted]
    t_send = time.monotonic()

    if history:
        subprocess.run(psql + ["-c", "COPY pms.booking_history (booking_id, kind, message) FROM STDIN"],
                       input="".join(history).encode("utf-8"), check=True)
    t_end = time.monotonic()
    print("plain script: %d eligible rows, %d batches, %d accepted, %d not sent or refused, %d failed requests;"
          " wall %.2fs (read %.2fs, send %.2fs, history %.2fs)"
          % (len(out.splitlines()), len(batches), len(history), rejected, len(failed), t_end - t0,
             t_read - t0, t_send - t_read, t_end - t_send))
    for e in failed[:5]:
        print("plain script: failed: " + e, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
