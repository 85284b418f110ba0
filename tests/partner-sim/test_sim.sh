#!/usr/bin/env bash
# partner-sim smoke test: start the simulator on a free port and check its contract (review-xml,
# guest-json) with curl.
# usage: test_sim.sh PARTNER_SIM_BINARY XSD_PATH
set -euo pipefail

SIM=${1:?usage: test_sim.sh PARTNER_SIM XSD}
XSD=${2:?usage: test_sim.sh PARTNER_SIM XSD}
KEY='k+/=1'           # sent percent-encoded below
KEY_ENC='k%2B%2F%3D1'

T=$(mktemp -d "${TMPDIR:-/tmp}/partner-sim-test.XXXXXX")
SIM_PID=
SIM2_PID=
cleanup() {
    local pid
    for pid in "$SIM_PID" "$SIM2_PID"; do
        if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$T"
}
trap cleanup EXIT

fails=0
ok()   { echo "ok - $*"; }
fail() { echo "FAIL - $*"; fails=$((fails + 1)); }
expect_eq() { # what got want
    if [[ $2 == "$3" ]]; then ok "$1"; else fail "$1: got '$2', want '$3'"; fi
}
expect_grep() { # what pattern file
    if grep -q -- "$2" "$3"; then ok "$1"; else fail "$1: '$2' not in $(head -c 400 "$3")"; fi
}
records() { wc -l <"$T/record.jsonl" | tr -d ' '; }

wait_port() { # PORT-FILE PID LOG: at most 10 s
    for _ in $(seq 100); do
        [[ -s $1 ]] && return 0
        kill -0 "$2" 2>/dev/null || { echo "FAIL - partner-sim exited at start"; cat "$3" 2>/dev/null; exit 1; }
        sleep 0.1
    done
    echo "FAIL - no port file after 10 s"
    exit 1
}

"$SIM" --port 0 --port-file "$T/port" --xsd "$XSD" --record "$T/record.jsonl" \
    --account "H-1:$KEY" --account "H-2:other" --account "H-3:a b+c" --account 'P-1:tok+/=1' \
    --account 'P 2/x:tok2' --max-body 200000 --log "$T/sim.log" &
SIM_PID=$!
wait_port "$T/port" "$SIM_PID" "$T/sim.log"
PORT=$(cat "$T/port")
BASE="http://127.0.0.1:$PORT"
URL="$BASE/reviews/import?id=H-1&access_key=$KEY_ENC"
echo "# partner-sim on port $PORT"

doc() { # hotel batch bookingNo...
    local hotel=$1 batch=$2
    shift 2
    printf '<?xml version="1.0" encoding="UTF-8"?>\n'
    printf '<guestList xmlns="urn:guestflow:review-xml:1" hotelId="%s" batchId="%s">\n' "$hotel" "$batch"
    for b in "$@"; do
        printf '<guest><bookingNo>%s</bookingNo><lastName>M\xc3\xbcller "&amp;" \\</lastName>' "$b"
        printf '<firstName>Anna</firstName><email>anna@example.org</email><gender>female</gender>'
        printf '<language>de</language><status>checked_out</status>'
        printf '<arrival>2026-11-20</arrival><departure>2026-11-22</departure></guest>\n'
    done
    printf '</guestList>\n'
}

# post FILE IDEM-KEY [curl args...] -> prints the status code; body in $T/body, headers in $T/hdr
post() {
    local file=$1 key=$2
    shift 2
    curl -sS -o "$T/body" -D "$T/hdr" -w '%{http_code}' -X POST --data-binary "@$file" \
        -H 'Content-Type: application/xml; charset=utf-8' ${key:+-H "Idempotency-Key: $key"} "$@" || true
}
ctl() { curl -sS -o "$T/ctl" -w '%{http_code}' -X POST "$BASE/_sim/$1"; }
stat() { curl -sS "$BASE/_sim/stats" | grep -o "\"$1\":[0-9]*" | head -1 | cut -d: -f2; }

expect_eq "health" "$(curl -sS "$BASE/_sim/health")" "ok"

# plain and gzip posts
doc H-1 batch-1 B-1 B-2 >"$T/a.xml"
expect_eq "plain post" "$(post "$T/a.xml" key-1 "$URL")" 200
expect_grep "plain post: accepted=2" 'accepted="2" rejected="0"' "$T/body"
expect_grep "plain post: content type" 'Content-Type: application/xml' "$T/hdr"
cp "$T/body" "$T/reply-1"
doc H-1 batch-2 B-3 B-4 B-5 | gzip -c >"$T/b.xml.gz"
expect_eq "gzip post" "$(post "$T/b.xml.gz" key-2 "$URL" -H 'Content-Encoding: gzip')" 200
expect_grep "gzip post: accepted=3" 'accepted="3"' "$T/body"
expect_eq "record lines" "$(records)" 5
expect_grep "record JSON escaped" '"lastName":"Müller \\"&\\" \\\\"' "$T/record.jsonl"
expect_grep "record keys" '"idempotencyKey":"key-2","batchId":"batch-2"}' "$T/record.jsonl"
expect_grep "record hotel" '^{"hotelId":"H-1","bookingNo":"B-1",' "$T/record.jsonl"

# refusals by the partner's checks
expect_eq "wrong key" "$(post "$T/a.xml" key-x "$BASE/x?id=H-1&access_key=nope")" 403
expect_eq "wrong key body" "$(cat "$T/body")" "invalid access key"
expect_eq "literal + is a space" "$(post "$T/a.xml" key-x "$BASE/x?id=H-1&access_key=k+/=1")" 403
expect_eq "unknown hotel" "$(post "$T/a.xml" key-x "$BASE/x?id=H-9&access_key=x")" 404
expect_eq "unknown hotel body" "$(cat "$T/body")" "invalid hotel"
expect_eq "missing Idempotency-Key" "$(post "$T/a.xml" "" "$URL")" 400
printf '<guestList' >"$T/bad.xml"
expect_eq "not well-formed" "$(post "$T/bad.xml" key-x "$URL")" 400
sed 's/female/femme/' "$T/a.xml" >"$T/invalid.xml"
expect_eq "XSD-invalid" "$(post "$T/invalid.xml" key-x "$URL")" 400
expect_grep "XSD error text" "femme" "$T/body"
expect_eq "bad gzip" "$(post "$T/a.xml" key-x "$URL" -H 'Content-Encoding: gzip')" 400
doc H-2 batch-9 B-9 >"$T/other.xml"
expect_eq "hotelId mismatch" "$(post "$T/other.xml" key-x "$URL")" 400
expect_eq "hotelId mismatch body" "$(cat "$T/body")" "hotelId mismatch"
head -c 300000 /dev/zero >"$T/big"
expect_eq "too large" "$(post "$T/big" key-x "$URL")" 413
expect_eq "refused requests recorded nothing" "$(records)" 5

# replay: same key, same reply, nothing new
expect_eq "replay" "$(post "$T/a.xml" key-1 "$URL")" 200
if cmp -s "$T/body" "$T/reply-1"; then ok "replay: same reply"; else fail "replay: reply differs"; fi
expect_eq "replay: no new records" "$(records)" 5
expect_eq "stats replays" "$(stat replays)" 1
expect_eq "stats accepted" "$(stat accepted)" 5
expect_eq "stats key_conflicts" "$(stat key_conflicts)" 0
# 2 posts, XSD-invalid, hotelId mismatch, replay; not the refusals before the XSD check
expect_eq "stats validated (default: every request)" "$(stat validated)" 5

# scripted failures
expect_eq "script 503" "$(ctl 'script?status=503&retry_after=7')" 200
expect_eq "scripted 503" "$(post "$T/a.xml" key-3 "$URL")" 503
expect_grep "Retry-After header" 'Retry-After: 7' "$T/hdr"
expect_eq "script consumed" "$(post "$T/a.xml" key-1 "$URL")" 200
expect_eq "script drop" "$(ctl 'script?action=drop')" 200
rc=0
curl -sS -o /dev/null -X POST --data-binary "@$T/a.xml" -H 'Idempotency-Key: key-3' "$URL" 2>"$T/err" || rc=$?
expect_eq "drop: curl sees an empty reply (exit 52)" "$rc" 52
expect_eq "stats drops" "$(stat drops)" 1
ctl 'script?status=429&hotel=H-2' >/dev/null
expect_eq "hotel filter: other hotel passes" "$(post "$T/a.xml" key-1 "$URL")" 200
expect_eq "hotel filter: H-2 gets it" "$(post "$T/other.xml" key-9 "$BASE/x?id=H-2&access_key=other")" 429
ctl 'script?action=stall&seconds=3' >/dev/null
rc=0 # a wrong key, so that the late answer records nothing behind the next checks' back
curl -sS -o /dev/null --max-time 1 -X POST --data-binary "@$T/a.xml" -H 'Idempotency-Key: key-3' \
    "$BASE/x?id=H-1&access_key=wrong" 2>/dev/null || rc=$?
expect_eq "stall: client timeout (exit 28)" "$rc" 28
ctl 'script?action=accept_then_fail&status=502' >/dev/null
doc H-1 batch-4 B-7 >"$T/c.xml"
expect_eq "accept_then_fail" "$(post "$T/c.xml" key-4 "$URL")" 502
expect_eq "accept_then_fail recorded" "$(grep -c '"idempotencyKey":"key-4"' "$T/record.jsonl")" 1
expect_eq "accept_then_fail retry is a replay" "$(post "$T/c.xml" key-4 "$URL")" 200
expect_grep "accept_then_fail replay reply" 'accepted="1"' "$T/body"
expect_eq "accept_then_fail not recorded twice" "$(grep -c '"idempotencyKey":"key-4"' "$T/record.jsonl")" 1

# refuse list
expect_eq "refuse" "$(ctl 'refuse?bookingNo=B-6&reason=guest%20objected%20%3C%26%22%3E')" 200
doc H-1 batch-5 B-6 B-8 >"$T/d.xml"
before=$(records)
expect_eq "post with refused booking" "$(post "$T/d.xml" key-5 "$URL")" 200
expect_grep "importResult counts" 'accepted="1" rejected="1"' "$T/body"
expect_grep "importResult lists it" '<rejected bookingNo="B-6" reason="guest objected &lt;&amp;&quot;&gt;"/>' "$T/body"
expect_eq "only the accepted one recorded" "$(records)" $((before + 1))
expect_eq "bad control value" "$(ctl 'script?status=abc')" 400

# arbitrary bytes: a body with NUL, a Latin-1 byte, ESC and a cut character; a custom
# Content-Type; a header value with odd bytes
expect_eq "script body_hex" "$(ctl 'script?status=502&body_hex=4d00fc0a1b5be282&content_type=text/html;%20charset=iso-8859-1&header_hex=52657472792d41667465723a2031ff1b')" 200
expect_eq "scripted bytes" "$(post "$T/a.xml" key-6 "$URL")" 502
expect_eq "body bytes as given" "$(od -An -tx1 "$T/body" | tr -d ' \n')" "4d00fc0a1b5be282"
expect_grep "custom Content-Type" 'Content-Type: text/html; charset=iso-8859-1' "$T/hdr"
expect_eq "header bytes as given" "$(grep -a '^Retry-After' "$T/hdr" | od -An -tx1 | tr -d ' \n')" \
    "52657472792d41667465723a2031ff1b0d0a"
expect_eq "bad body_hex" "$(ctl 'script?status=500&body_hex=4g')" 400
expect_eq "odd body_hex" "$(ctl 'script?status=500&body_hex=414')" 400
expect_eq "header_hex with CR LF" "$(ctl 'script?status=500&header_hex=583a20610d0a')" 400
expect_eq "header_hex without a name" "$(ctl 'script?status=500&header_hex=3a61')" 400
expect_eq "body and body_hex" "$(ctl 'script?status=500&body=x&body_hex=41')" 400
expect_eq "bad template" "$(ctl 'script?status=500&template=yes')" 400
# template: the request URI echoed as received, access key and all, and the key in each form
expect_eq "script template" "$(ctl 'script?status=500&count=2&template=1&body=%7Burl%7D%20%7Bkey%7D%20%7Bkey_upper%7D%20%7Bkey_lower%7D%20%7Bkey_plus%7D%20%7Bhotel%7D%20%7Bnot%7D')" 200
expect_eq "template answer" "$(post "$T/a.xml" key-6 "$URL")" 500
expect_eq "template expanded" "$(cat "$T/body")" \
    "/reviews/import?id=H-1&access_key=k%2B%2F%3D1 k+/=1 k%2B%2F%3D1 k%2b%2f%3d1 k%2B%2F%3D1 H-1 {not}"
post "$T/a.xml" key-6 "$BASE/v1?id=H-3&access_key=a%20b%2Bc" >/dev/null
expect_eq "template: '+' for a space" "$(cat "$T/body")" \
    "/v1?id=H-3&access_key=a%20b%2Bc a b+c a%20b%2Bc a%20b%2bc a+b%2Bc H-3 {not}"
# a 200 reply declaring another encoding, with a raw (here Latin-1) reason
expect_eq "raw reason" "$(ctl 'refuse?bookingNo=B-30&reason_hex=4dfc6c6c657220c3a9')" 200
expect_eq "raw reason with NUL" "$(ctl 'refuse?bookingNo=B-32&reason_hex=4100')" 400
expect_eq "reason and reason_hex" "$(ctl 'refuse?bookingNo=B-32&reason=x&reason_hex=41')" 400
expect_eq "reply encoding" "$(ctl 'reply?encoding=ISO-8859-1')" 200
expect_eq "bad reply encoding" "$(ctl 'reply?encoding=a%22b')" 400
doc H-1 batch-6 B-30 B-31 >"$T/h.xml"
expect_eq "post with raw reason" "$(post "$T/h.xml" key-7 "$URL")" 200
expect_grep "declared encoding" '<?xml version="1.0" encoding="ISO-8859-1"?>' "$T/body"
if LC_ALL=C grep -qa $'<rejected bookingNo="B-30" reason="M\xfcller \xc3\xa9"/>' "$T/body"; then
    ok "raw reason bytes as given"
else
    fail "raw reason bytes: $(od -c "$T/body" | head -20)"
fi
if command -v xmllint >/dev/null; then
    expect_eq "read as Latin-1" "$(xmllint --xpath 'string(//*[local-name()="rejected"]/@reason)' "$T/body")" "Müller Ã©"
fi
expect_eq "reply encoding back to the default" "$(ctl 'reply?encoding=')" 200
doc H-1 batch-7 B-33 >"$T/i.xml"
expect_eq "post after encoding reset" "$(post "$T/i.xml" key-8 "$URL")" 200
expect_grep "UTF-8 again" '<?xml version="1.0" encoding="UTF-8"?>' "$T/body"

# keep-alive: two requests, one connection
curl -sS -o /dev/null -o /dev/null -w '%{num_connects}\n' "$BASE/_sim/health" "$BASE/_sim/health" >"$T/conns"
expect_eq "keep-alive" "$(tr '\n' ' ' <"$T/conns")" "1 0 "

# reset
expect_eq "reset" "$(ctl reset)" 200
expect_eq "reset: keys forgotten" "$(stat keys)" 0
expect_eq "reset: validated cleared" "$(stat validated)" 0
expect_eq "reset: key accepted again" "$(post "$T/a.xml" key-1 "$URL")" 200
expect_eq "reset: validated counts again" "$(stat validated)" 1
expect_eq "stats: validated is the last field" \
    "$(curl -sS "$BASE/_sim/stats" | grep -o '"latency_ms":[0-9]*,"validated":[0-9]*}$')" '"latency_ms":0,"validated":1}'
expect_eq "reset: record kept" "$(($(records) > 5))" 1

# ---- guest-json: POST <prefix>/properties/<id>/guests, Bearer token, JSON bodies ----
# The stalled request above is answered 3 s after it came: counted after the
# reset below, it would be one request too many (a fast machine gets here
# sooner). Wait for it, at most 10 s.
for _ in $(seq 100); do
    grep -q 'idem=key-3 status=403' "$T/sim.log" && break
    sleep 0.1
done
expect_grep "stall: answered late" 'idem=key-3 status=403' "$T/sim.log"
expect_eq "guest-json: reset first" "$(ctl reset)" 200
PBASE="$BASE/api/v2/properties"
PURL="$PBASE/P-1/guests"
# gdoc BATCH PMSID...: a guest-json body with every field
gdoc() {
    local batch=$1 sep=
    shift
    printf '{"batchId":"%s","guests":[' "$batch"
    for p in "$@"; do
        printf '%s{"pmsId":"%s","lastName":"M\\u00fcller \\"&\\"","firstName":"Anna","email":"anna@example.org",' "$sep" "$p"
        printf '"gender":"female","language":"de","status":"checked_out","checkin":"2026-11-20","checkout":"2026-11-22"}'
        sep=,
    done
    printf ']}'
}
# gmin BATCH COUNT: COUNT guests with only the required fields
gmin() {
    local i sep=
    printf '{"batchId":"%s","guests":[' "$1"
    for ((i = 1; i <= $2; i++)); do
        printf '%s{"pmsId":"N-%d","lastName":"L","email":"e@x.org","checkout":"2026-11-22"}' "$sep" "$i"
        sep=,
    done
    printf ']}'
}
# gpost FILE IDEM-KEY URL [curl args...] -> status; body in $T/body, headers in $T/hdr.
# GJ_TOKEN (default $GJ_DEFAULT_TOKEN; empty: no Authorization) and GJ_CT (Content-Type) override.
GJ_DEFAULT_TOKEN='tok+/=1'
gpost() {
    local file=$1 key=$2 url=$3 token=${GJ_TOKEN-$GJ_DEFAULT_TOKEN}
    shift 3
    curl -sS -o "$T/body" -D "$T/hdr" -w '%{http_code}' -X POST --data-binary "@$file" \
        -H "Content-Type: ${GJ_CT-application/json; charset=utf-8}" ${token:+-H "Authorization: Bearer $token"} \
        ${key:+-H "Idempotency-Key: $key"} "$@" "$url" || true
}
body() { cat "$T/body"; }
gj_records() { grep -c '"format":"guest-json"}$' "$T/record.jsonl" || true; }

# accepted, with a guest on the refuse list
expect_eq "gj: refuse B-62" "$(ctl 'refuse?bookingNo=B-62&reason=no%20consent%20%22x%22')" 200
gdoc g-1 B-61 B-62 >"$T/g1.json"
expect_eq "gj: post" "$(gpost "$T/g1.json" g-1 "$PURL")" 200
expect_eq "gj: reply with the refused guest" "$(body)" \
    '{"accepted":1,"rejected":[{"pmsId":"B-62","reason":"no consent \"x\""}]}'
expect_grep "gj: reply Content-Type" 'Content-Type: application/json' "$T/hdr"
cp "$T/body" "$T/greply-1"
expect_eq "gj: record line, review-xml's keys + format" "$(grep '"bookingNo":"B-61"' "$T/record.jsonl")" \
    '{"hotelId":"P-1","bookingNo":"B-61","lastName":"Müller \"&\"","firstName":"Anna","email":"anna@example.org","gender":"female","language":"de","status":"checked_out","arrival":"2026-11-20","departure":"2026-11-22","idempotencyKey":"g-1","batchId":"g-1","format":"guest-json"}'
expect_eq "gj: refused guest not recorded" "$(grep -c '"bookingNo":"B-62"' "$T/record.jsonl" || true)" 0
# optional fields absent: null in the record; Content-Type without parameters, any case
printf '{"guests":[{"checkout":"2026-01-31","email":"x@y.z","lastName":"Ng","pmsId":"B-63"}],"batchId":"g-2"}' >"$T/g2.json"
expect_eq "gj: only required fields" "$(GJ_CT='Application/JSON' gpost "$T/g2.json" g-2 "$PURL")" 200
expect_eq "gj: reply without rejected" "$(body)" '{"accepted":1}'
expect_grep "gj: absent fields are null" \
    '"bookingNo":"B-63","lastName":"Ng","firstName":null,"email":"x@y.z","gender":null,"language":null,"status":null,"arrival":null,"departure":"2026-01-31","idempotencyKey":"g-2"' \
    "$T/record.jsonl"
# the property id is one percent-encoded path segment
gdoc g-3 B-64 >"$T/g3.json"
expect_eq "gj: percent-encoded property id" "$(GJ_TOKEN=tok2 gpost "$T/g3.json" g-3 "$PBASE/P%202%2Fx/guests")" 200
expect_grep "gj: decoded id recorded" '^{"hotelId":"P 2/x","bookingNo":"B-64"' "$T/record.jsonl"

# credentials: 404 before 401
expect_eq "gj: unknown property" "$(gpost "$T/g1.json" g-x "$PBASE/P-9/guests")" 404
expect_eq "gj: unknown property body" "$(body)" '{"error":"unknown property"}'
expect_grep "gj: error Content-Type" 'Content-Type: application/json' "$T/hdr"
expect_eq "gj: empty property id" "$(gpost "$T/g1.json" g-x "$PBASE//guests")" 404
expect_eq "gj: wrong token" "$(GJ_TOKEN=nope gpost "$T/g1.json" g-x "$PURL")" 401
expect_eq "gj: wrong token body" "$(body)" '{"error":"invalid token"}'
expect_eq "gj: no Authorization" "$(GJ_TOKEN= gpost "$T/g1.json" g-x "$PURL")" 401
expect_eq "gj: access_key is not a token" "$(GJ_TOKEN= gpost "$T/g1.json" g-x "$PURL?id=P-1&access_key=tok%2B%2F%3D1")" 401
expect_eq "gj: another property's token" "$(GJ_TOKEN=tok2 gpost "$T/g1.json" g-x "$PURL")" 401
# then review-xml's checks, in its order
expect_eq "gj: missing Idempotency-Key" "$(gpost "$T/g1.json" "" "$PURL")" 400
expect_eq "gj: missing Idempotency-Key body" "$(body)" '{"error":"missing Idempotency-Key"}'
expect_eq "gj: Content-Encoding br" "$(gpost "$T/g1.json" g-x "$PURL" -H 'Content-Encoding: br')" 415
expect_eq "gj: Content-Encoding body" "$(body)" '{"error":"unsupported Content-Encoding"}'
expect_eq "gj: too large" "$(gpost "$T/big" g-x "$PURL")" 413
expect_eq "gj: too large body" "$(body)" '{"error":"request body too large"}'
expect_eq "gj: bad gzip" "$(gpost "$T/g1.json" g-x "$PURL" -H 'Content-Encoding: gzip')" 400
expect_eq "gj: bad gzip body" "$(body)" '{"error":"bad gzip"}'
gdoc g-4 B-65 B-66 | gzip -c >"$T/g4.json.gz"
expect_eq "gj: gzip body" "$(gpost "$T/g4.json.gz" g-4 "$PURL" -H 'Content-Encoding: gzip')" 200
expect_eq "gj: gzip body accepted" "$(body)" '{"accepted":2}'

# the body check: Content-Type, then the body, strictly
expect_eq "gj: Content-Type text/plain" "$(GJ_CT='text/plain' gpost "$T/g1.json" g-x "$PURL")" 415
expect_eq "gj: Content-Type body" "$(body)" '{"error":"unsupported Content-Type"}'
expect_eq "gj: charset other than UTF-8" "$(GJ_CT='application/json; charset=iso-8859-1' gpost "$T/g1.json" g-x "$PURL")" 415
expect_eq "gj: application/jsonx" "$(GJ_CT='application/jsonx' gpost "$T/g1.json" g-x "$PURL")" 415
gdoc g-b B-1 B-2 >"$T/gb.json"
before=$(records)
bad_body() { # what expected-error sed-expression
    sed "$3" "$T/gb.json" >"$T/gbad.json"
    expect_eq "gj 400: $1" "$(gpost "$T/gbad.json" g-b "$PURL")" 400
    expect_eq "gj 400 text: $1" "$(body)" "{\"error\":\"$2\"}"
}
bad_body "firstName empty" 'guests[1].firstName: empty' 's/\(.*\)"firstName":"Anna"/\1"firstName":""/'
bad_body "firstName null" 'guests[0].firstName: null is not allowed' '0,/"firstName":"Anna"/s//"firstName":null/'
bad_body "gender null" 'guests[1].gender: null is not allowed' 's/\(.*\)"gender":"female"/\1"gender":null/'
bad_body "unknown guest key" 'guests[0].phone: unknown key' '0,/"pmsId":"B-1"/s//"pmsId":"B-1","phone":"1"/'
bad_body "missing email" 'guests[1].email: missing' 's/\(.*\)"email":"anna@example.org",/\1/'
bad_body "pmsId not a string" 'guests[0].pmsId: not a string' 's/"pmsId":"B-1"/"pmsId":1/'
bad_body "empty lastName" 'guests[0].lastName: empty' '0,/"lastName":"[^"]*\\"&\\""/s//"lastName":""/'
bad_body "no such date" 'guests[1].checkout: not a date (YYYY-MM-DD)' 's/\(.*\)"checkout":"2026-11-22"/\1"checkout":"2026-02-30"/'
bad_body "date format" 'guests[0].checkin: not a date (YYYY-MM-DD)' '0,/"checkin":"2026-11-20"/s//"checkin":"20.11.2026"/'
bad_body "duplicate pmsId" 'guests[1].pmsId: duplicate of guests[0]' 's/"pmsId":"B-2"/"pmsId":"B-1"/'
bad_body "batchId differs" 'batchId differs from Idempotency-Key' 's/"batchId":"g-b"/"batchId":"g-c"/'
bad_body "unknown root key" 'extra: unknown key' 's/^{/{"extra":1,/'
bad_body "guest not an object" 'guests[0]: not an object' 's/"guests":\[/"guests":["x",/'
bad_body "no guests" 'guests: empty' 's/"guests":\[.*\]/"guests":[]/'
bad_body "guests not an array" 'guests: not an array' 's/"guests":\[.*\]/"guests":{}/'
bad_body "batchId missing" 'batchId: missing' 's/"batchId":"g-b",//'
bad_body "not an object" 'body is not a JSON object' 's/.*/[1]/'
# JSON_REJECT_DUPLICATES: a key twice in the root or in a guest
sed 's/^{"batchId":"g-b",/&"batchId":"g-b",/' "$T/gb.json" >"$T/gdup.json"
expect_eq "gj 400: duplicate root key" "$(gpost "$T/gdup.json" g-b "$PURL")" 400
expect_grep "gj 400 text: duplicate root key" '{"error":"invalid JSON: duplicate object key near .*batchId' "$T/body"
sed 's/"email":"anna@example.org",/&"email":"x@example.org",/' "$T/gb.json" >"$T/gdup.json"
expect_eq "gj 400: duplicate guest key" "$(gpost "$T/gdup.json" g-b "$PURL")" 400
expect_grep "gj 400 text: duplicate guest key" '{"error":"invalid JSON: duplicate object key near .*email' "$T/body"
printf '\xef\xbb\xbf' | cat - "$T/gb.json" >"$T/gbom.json"
expect_eq "gj 400: BOM" "$(gpost "$T/gbom.json" g-b "$PURL")" 400
expect_eq "gj 400 text: BOM" "$(body)" '{"error":"byte order mark is not allowed"}'
sed 's/Anna/Ann\xe9/' "$T/gb.json" >"$T/glatin.json"
expect_eq "gj 400: not UTF-8" "$(gpost "$T/glatin.json" g-b "$PURL")" 400
expect_grep "gj 400 text: not UTF-8" '"error":"invalid JSON: unable to decode byte 0xe9' "$T/body"
printf '{"batchId":"g-b","guests":[{"pmsId":"B-1","lastName":"a\tb","email":"e","checkout":"2026-11-22"}]}' >"$T/gctl.json"
expect_eq "gj 400: raw control character" "$(gpost "$T/gctl.json" g-b "$PURL")" 400
printf '{"batchId":"g-b","guests":[]} x' >"$T/gtrail.json"
expect_eq "gj 400: trailing garbage" "$(gpost "$T/gtrail.json" g-b "$PURL")" 400
expect_grep "gj 400 text: trailing garbage" '"error":"invalid JSON: end of file expected' "$T/body"
expect_eq "gj: bad bodies recorded nothing" "$(records)" "$before"
# at most 1000 guests
gmin g-1000 1000 >"$T/g1000.json"
gmin g-1001 1001 >"$T/g1001.json"
expect_eq "gj: 1001 guests" "$(gpost "$T/g1001.json" g-1001 "$PURL")" 413
expect_eq "gj: 1001 guests body" "$(body)" '{"error":"too many guests"}'
expect_eq "gj: 1000 guests" "$(gpost "$T/g1000.json" g-1000 "$PURL")" 200
expect_eq "gj: 1000 guests accepted" "$(body)" '{"accepted":1000}'
expect_eq "gj: 1000 recorded" "$(records)" $((before + 1000))

# replay: same key, same reply, nothing new; key_conflicts when the members differ
before=$(records)
expect_eq "gj: replay" "$(gpost "$T/g1.json" g-1 "$PURL")" 200
if cmp -s "$T/body" "$T/greply-1"; then ok "gj: replay: same reply"; else fail "gj: replay: reply differs"; fi
expect_eq "gj: replay: no new records" "$(records)" "$before"
expect_eq "gj: replay: no conflict" "$(stat key_conflicts)" 0
gdoc g-1 B-61 B-67 >"$T/g1-other.json"
expect_eq "gj: replay with other members" "$(gpost "$T/g1-other.json" g-1 "$PURL")" 200
expect_eq "gj: replay with other members: same reply" "$(body)" "$(cat "$T/greply-1")"
expect_eq "gj: key_conflicts (members)" "$(stat key_conflicts)" 1
expect_eq "gj: replay of a bad body" "$(gpost "$T/gbom.json" g-1 "$PURL")" 200
expect_eq "gj: key_conflicts (does not parse)" "$(stat key_conflicts)" 2
expect_eq "gj: replay even with a wrong Content-Type" "$(GJ_CT=text/plain gpost "$T/g1.json" g-1 "$PURL")" 200
expect_eq "gj: key_conflicts (Content-Type)" "$(stat key_conflicts)" 3
expect_eq "gj: replay: credentials still first" "$(GJ_TOKEN=nope gpost "$T/g1.json" g-1 "$PURL")" 401
expect_eq "gj: stats replays" "$(stat replays)" 4

# 400 naming records
expect_eq "gj: named400" "$(ctl 'refuse?bookingNo=B-71&named400=1&reason=invalid%20email')" 200
expect_eq "gj: bad named400" "$(ctl 'refuse?bookingNo=B-71&named400=yes')" 400
gdoc g-5 B-70 B-71 B-72 >"$T/g5.json"
before=$(records)
expect_eq "gj: named 400" "$(gpost "$T/g5.json" g-5 "$PURL")" 400
expect_eq "gj: named 400 body" "$(body)" '{"error":"invalid records","rejected":[{"pmsId":"B-71","reason":"invalid email"}]}'
expect_eq "gj: named 400 recorded nothing" "$(records)" "$before"
expect_eq "gj: named 400 is not remembered" "$(gpost "$T/g5.json" g-5 "$PURL")" 400
gdoc g-5a B-70 B-72 >"$T/g5a.json"
expect_eq "gj: the rest under a new key" "$(gpost "$T/g5a.json" g-5a "$PURL")" 200
expect_eq "gj: the rest accepted" "$(body)" '{"accepted":2}'
doc H-1 batch-71 B-71 >"$T/x71.xml"
expect_eq "gj: named400 does not touch review-xml" "$(post "$T/x71.xml" key-71 "$URL")" 200

# scripts and the hotel filter (the property id)
ctl 'script?status=503&retry_after=5&hotel=P-1' >/dev/null
expect_eq "gj: scripted 503" "$(gpost "$T/g1.json" g-s "$PURL")" 503
expect_grep "gj: scripted Retry-After" 'Retry-After: 5' "$T/hdr"
ctl 'script?status=429&hotel=H-1' >/dev/null
expect_eq "gj: script for another hotel passes" "$(gpost "$T/g1.json" g-1 "$PURL")" 200
expect_eq "gj: ... and review-xml H-1 gets it" "$(post "$T/a.xml" key-1 "$URL")" 429
ctl 'script?action=drop&hotel=P-1' >/dev/null
rc=0 # before any check: no token needed
curl -sS -o /dev/null -X POST --data-binary "@$T/g1.json" -H 'Idempotency-Key: g-s' "$PURL" 2>/dev/null || rc=$?
expect_eq "gj: drop (exit 52)" "$rc" 52
ctl 'script?action=accept_then_fail&status=502&hotel=P-1' >/dev/null
gdoc g-6 B-80 >"$T/g6.json"
expect_eq "gj: accept_then_fail" "$(gpost "$T/g6.json" g-6 "$PURL")" 502
expect_eq "gj: accept_then_fail recorded" "$(grep -c '"idempotencyKey":"g-6"' "$T/record.jsonl")" 1
expect_eq "gj: accept_then_fail retry is a replay" "$(gpost "$T/g6.json" g-6 "$PURL")" 200
expect_eq "gj: accept_then_fail replay reply" "$(body)" '{"accepted":1}'
ctl 'script?status=500&template=1&content_type=application/json&body=%7B%22p%22%3A%22%7Bhotel%7D%22%2C%22t%22%3A%22%7Bkey%7D%22%7D' >/dev/null
expect_eq "gj: template" "$(gpost "$T/g1.json" g-1 "$PURL")" 500
expect_eq "gj: template: {hotel} the property, {key} the token" "$(body)" '{"p":"P-1","t":"tok+/=1"}'
# cross-format: keys are global, the first reply is given back as it was
doc H-1 batch-90 B-90 >"$T/x90.xml"
expect_eq "gj: review-xml key" "$(post "$T/x90.xml" x-90 "$URL")" 200
expect_eq "gj: the same key in guest-json" "$(gpost "$T/g1.json" x-90 "$PURL")" 200
expect_grep "gj: ... gets the review-xml reply" 'Content-Type: application/xml' "$T/hdr"
expect_eq "gj: ... a key conflict" "$(stat key_conflicts)" 4
# other paths and methods keep review-xml's behaviour
expect_eq "gj: POST .../properties/P-1/events is review-xml" "$(gpost "$T/g1.json" g-e "$PBASE/P-1/events")" 404
expect_eq "gj: ... with review-xml's text" "$(body)" "invalid hotel"
expect_eq "gj: GET .../guests is 405" "$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $GJ_DEFAULT_TOKEN" "$PURL")" 405

# the test call
gget() { curl -sS -o "$T/body" -D "$T/hdr" -w '%{http_code}' ${1:+-H "Authorization: Bearer $1"} "$2" || true; }
expect_eq "gj: test call" "$(gget "$GJ_DEFAULT_TOKEN" "$PBASE/P-1")" 200
expect_eq "gj: test call body" "$(body)" '{"id":"P-1","name":"Property P-1"}'
expect_grep "gj: test call Content-Type" 'Content-Type: application/json' "$T/hdr"
expect_eq "gj: test call, encoded id" "$(gget tok2 "$PBASE/P%202%2Fx")" 200
expect_eq "gj: test call, encoded id body" "$(body)" '{"id":"P 2/x","name":"Property P 2/x"}'
expect_eq "gj: test call, wrong token" "$(gget nope "$PBASE/P-1")" 401
expect_eq "gj: test call, wrong token body" "$(body)" '{"error":"invalid token"}'
expect_eq "gj: test call, no token" "$(gget "" "$PBASE/P-1")" 401
expect_eq "gj: test call, unknown property" "$(gget "$GJ_DEFAULT_TOKEN" "$PBASE/P-9")" 404
expect_eq "gj: test call, unknown property body" "$(body)" '{"error":"unknown property"}'
expect_eq "gj: other GETs unchanged" "$(gget "" "$BASE/reviews/other")" 405
# review-xml's test call: GET .../ping with the id and key in the query
expect_eq "rx: test call" "$(gget "" "$BASE/reviews/ping?id=H-1&access_key=k%2B%2F%3D1")" 200
expect_eq "rx: test call body" "$(body)" '<?xml version="1.0" encoding="UTF-8"?>
<pong xmlns="urn:guestflow:review-xml:1" hotelId="H-1"/>'
expect_grep "rx: test call Content-Type" 'Content-Type: application/xml' "$T/hdr"
expect_eq "rx: test call, encoded key" "$(gget "" "$BASE/ping?id=H-3&access_key=a%20b%2Bc")" 200
expect_eq "rx: test call, wrong key" "$(gget "" "$BASE/reviews/ping?id=H-1&access_key=nope")" 403
expect_eq "rx: test call, wrong key body" "$(body)" 'invalid access key'
expect_eq "rx: test call, unknown hotel" "$(gget "" "$BASE/reviews/ping?id=H-9&access_key=k%2B%2F%3D1")" 404
expect_eq "rx: test call, no id" "$(gget "" "$BASE/reviews/ping")" 404

# stats: every guest-json POST above (answered or dropped); not the test calls, the 405
# or control requests; review-xml posts count in requests only
expect_eq "gj: stats guest_json" "$(stat guest_json)" 57
expect_eq "gj: stats requests" "$(stat requests)" 61
expect_eq "gj: stats drops" "$(stat drops)" 1
# the log: the property id, never the token
expect_grep "gj: log line" 'POST /api/v2/properties/P-1/guests hotel=P-1 idem=g-1 status=200 in=' "$T/sim.log"
expect_eq "gj: the token is never logged" "$(grep -c -e 'tok+' -e 'tok2' -e 'Bearer' "$T/sim.log" || true)" 0
# reset clears the named-400 list
expect_eq "gj: reset" "$(ctl reset)" 200
expect_eq "gj: reset: guest_json cleared" "$(stat guest_json)" 0
expect_eq "gj: reset: named400 cleared" "$(gpost "$T/g5.json" g-5 "$PURL")" 200
expect_eq "gj: reset: all accepted" "$(body)" '{"accepted":3}'

# A simulator stopped with SIGTERM exits 0.
sigterm_ok() {
    local rc=0
    kill -TERM "$1"
    wait "$1" || rc=$?
    expect_eq "$2" "$rc" 0
}

# clean shutdown
sigterm_ok "$SIM_PID" "SIGTERM exit status"
SIM_PID=

# --validate-every: bad values are usage errors
for v in 0 1000001 -1 abc 3x ''; do
    rc=0
    timeout 10 "$SIM" --validate-every "$v" --xsd "$XSD" --record "$T/never.jsonl" --port-file "$T/never" \
        >/dev/null 2>&1 || rc=$?
    expect_eq "--validate-every '$v' is a usage error" "$rc" 2
done
if [[ -e $T/never ]]; then fail "--validate-every: a refused command line started a server"
else ok "--validate-every: no server started"; fi

# --validate-every 3: of the documents that reach the XSD check, the 1st, 4th, 7th... are validated
"$SIM" --port 0 --port-file "$T/port2" --xsd "$XSD" --record "$T/record2.jsonl" \
    --account "H-1:$KEY" --validate-every 3 --log "$T/sim2.log" &
SIM2_PID=$!
wait_port "$T/port2" "$SIM2_PID" "$T/sim2.log"
BASE="http://127.0.0.1:$(cat "$T/port2")"
URL="$BASE/reviews/import?id=H-1&access_key=$KEY_ENC"
sed 's/B-1/B-11/; s/B-2/B-12/' "$T/invalid.xml" >"$T/invalid-2.xml"
doc H-1 batch-21 B-21 >"$T/e.xml"
doc H-1 batch-22 B-22 >"$T/f.xml"
expect_eq "sampled 1st: valid" "$(post "$T/a.xml" v-1 "$URL")" 200
expect_eq "not sampled 2nd: XSD-invalid accepted" "$(post "$T/invalid.xml" v-2 "$URL")" 200
expect_grep "not sampled: accepted=2" 'accepted="2" rejected="0"' "$T/body"
expect_eq "not sampled: recorded as sent" "$(grep -c '"gender":"femme","language":"de"' "$T/record2.jsonl")" 2
expect_eq "not sampled 3rd: valid" "$(post "$T/e.xml" v-3 "$URL")" 200
expect_eq "sampled 4th: XSD-invalid refused" "$(post "$T/invalid-2.xml" v-4 "$URL")" 400
expect_grep "sampled: XSD error text" "femme" "$T/body"
expect_eq "not well-formed: not counted" "$(post "$T/bad.xml" v-5 "$URL")" 400
expect_eq "not sampled 5th: replay" "$(post "$T/a.xml" v-1 "$URL")" 200
expect_eq "not sampled 6th: missing field refused" \
    "$(post <(sed 's|<email>[^<]*</email>||' "$T/f.xml") v-6 "$URL")" 400
expect_eq "not sampled: missing field text" "$(cat "$T/body")" "incomplete guest"
expect_eq "sampled 7th: XSD-invalid refused" "$(post "$T/invalid-2.xml" v-7 "$URL")" 400
# what the reader keeps without the schema (8th, 9th not sampled; 10th sampled)
printf '<?xml version="1.0"?>\n<!DOCTYPE guestList [<!ENTITY x "y">]>\n<guestList/>\n' >"$T/doctype.xml"
expect_eq "DOCTYPE refused" "$(post "$T/doctype.xml" v-d "$URL")" 400
expect_eq "DOCTYPE refused: text" "$(cat "$T/body")" "DOCTYPE is not allowed"
sed 's/guestList/guestLists/g' "$T/e.xml" >"$T/root.xml"
expect_eq "not sampled 8th: other root refused" "$(post "$T/root.xml" v-9 "$URL")" 400
expect_eq "not sampled: other root text" "$(cat "$T/body")" "root element is not {urn:guestflow:review-xml:1}guestList"
# a field's text: CDATA, character references and nested text, as one string; a second
# element of the same field, and elements of another namespace, are passed over
sed -e 's|<lastName>[^<]*</lastName>|<lastName>Mo<![CDATA[r<e>]]>\&#233;<x:i xmlns:x="urn:x">t</x:i></lastName><lastName>Second</lastName>|' \
    -e 's|<firstName>Anna</firstName>|<x:firstName xmlns:x="urn:x">Not</x:firstName>|' "$T/f.xml" >"$T/g.xml"
expect_eq "not sampled 9th: mixed field text accepted" "$(post "$T/g.xml" v-10 "$URL")" 200
expect_grep "mixed field text recorded as one string" '"bookingNo":"B-22","lastName":"Mor<e>ét","firstName":null,' \
    "$T/record2.jsonl"
expect_eq "sampled 10th: valid" "$(post "$T/e.xml" v-11 "$URL")" 200
expect_eq "every 3: stats validated" "$(stat validated)" 4
expect_eq "every 3: stats accepted" "$(stat accepted)" 7
expect_eq "every 3: stats replays" "$(stat replays)" 1
expect_eq "every 3: record lines" "$(wc -l <"$T/record2.jsonl" | tr -d ' ')" 7
expect_eq "every 3: reset" "$(ctl reset)" 200
expect_eq "every 3: after reset the 1st is sampled" "$(post "$T/invalid-2.xml" v-8 "$URL")" 400
expect_eq "every 3: after reset validated" "$(stat validated)" 1
sigterm_ok "$SIM2_PID" "every 3: SIGTERM exit status"
SIM2_PID=

if ((fails)); then
    echo "# $fails check(s) failed; simulator logs:"
    cat "$T/sim.log" "$T/sim2.log" 2>/dev/null
    exit 1
fi
echo "# all checks passed"
