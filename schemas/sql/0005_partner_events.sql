-- What partners report back about guests ('guestflow pull', PARTNERS.md
-- "events pulled back"), and the e-mail addresses that must never be sent
-- again.

-- Each connection's place in its partner's event feed: stored in the
-- transaction that stores the events read up to it, so that a crash
-- re-reads, never skips.
ALTER TABLE guestflow.connections
    ADD COLUMN events_cursor    text,
    ADD COLUMN events_pulled_at timestamptz;

-- One row per event a partner reported. booking_id: the PMS booking of that
-- number at the connection's property when the event was stored (NULL: none,
-- the event is kept all the same). An event read twice (a pull cut short
-- before its cursor was stored, an error file moved late) is stored once:
-- partner_events_once.
CREATE TABLE guestflow.partner_events (
    id             bigserial PRIMARY KEY,
    connection_id  bigint NOT NULL REFERENCES guestflow.connections ON DELETE CASCADE,
    job            text NOT NULL,
    booking_no     text NOT NULL,
    booking_id     bigint,
    type           text NOT NULL
                   CHECK (type IN ('invited', 'bounced', 'reviewed', 'unsubscribed', 'rejected')),
    at             timestamptz,
    reason         text,
    batch_key      text,
    pulled_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX partner_events_once ON guestflow.partner_events
    (connection_id, booking_no, type, coalesce(at, '-infinity'::timestamptz), coalesce(batch_key, ''));
CREATE INDEX partner_events_booking ON guestflow.partner_events (booking_id);

-- An e-mail address as the suppression list compares it: lower-cased and
-- trimmed of every white-space character the renderer trims before it
-- sends one (src/core/normalize.c: ASCII white space, and in a UTF-8
-- database U+00A0, U+1680, U+2000-U+200B, U+2028, U+2029, U+202F, U+205F,
-- U+3000 and the byte-order mark U+FEFF), so that no invisible character
-- makes a suppressed address look like another. A SQL function, inlined
-- by the planner.
DO $$
DECLARE
    spaces text := E' \t\n\r\f' || chr(11);
    cp int;
BEGIN
    IF current_setting('server_encoding') = 'UTF8' THEN
        FOREACH cp IN ARRAY ARRAY[160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198, 8199, 8200, 8201, 8202,
                                  8203, 8232, 8233, 8239, 8287, 12288, 65279] LOOP
            spaces := spaces || chr(cp);
        END LOOP;
    END IF;
    EXECUTE format('CREATE FUNCTION guestflow.email_key(email text) RETURNS text'
                   ' LANGUAGE sql IMMUTABLE PARALLEL SAFE'
                   ' AS %L', format('SELECT lower(btrim(email, %L))', spaces));
END
$$;

-- The suppression list: a guest who unsubscribed, or whose address
-- bounced, with any partner is sent by no job to no partner from then on.
-- email: as the eligibility rules compare it (guestflow.email_key).
CREATE TABLE guestflow.suppressions (
    email       text PRIMARY KEY CHECK (email = guestflow.email_key(email)),
    reason      text NOT NULL CHECK (reason IN ('bounced', 'unsubscribed')),
    event_id    bigint REFERENCES guestflow.partner_events ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
