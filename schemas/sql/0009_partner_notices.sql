-- The partner is told (issue 17 item 5, seeds 000, 001): when a connection
-- is requested (added), activated, deactivated or stopped, its partner gets
-- one e-mail. The activity log is the outbox: the entry of the change says,
-- in the transaction that changes the status, that the partner is to be
-- told and at which address (resolved then: the connection's own, else the
-- partner's in the main config's 'partners'; NULL: none was known, nothing
-- is sent), and later when it was told, or why not yet.
--
-- An address as guestflow takes one (gf_check_email): something@domain,
-- printable ASCII without spaces or the characters that end an address in
-- a header ([!-?A-~] is printable ASCII but '@'), at most 254 octets (the
-- longest path SMTP carries, RFC 5321 4.5.3.1.3).
ALTER TABLE guestflow.connections
    ADD COLUMN partner_email text
        CONSTRAINT connections_partner_email_form
        CHECK (octet_length(partner_email) <= 254 AND partner_email ~ '^[!-?A-~]+@[!-?A-~]+$' AND (partner_email ~ '^[^<>(),;:"\\]+$'));
COMMENT ON COLUMN guestflow.connections.partner_email IS
    'where the partner hears of this connection''s changes; NULL: the partner''s address in the main config (partners.ID.email)';

ALTER TABLE guestflow.connection_events
    ADD COLUMN partner_notice boolean NOT NULL DEFAULT false,
    ADD COLUMN partner_to text
        CONSTRAINT connection_events_partner_to_form
        CHECK (octet_length(partner_to) <= 254 AND partner_to ~ '^[!-?A-~]+@[!-?A-~]+$' AND (partner_to ~ '^[^<>(),;:"\\]+$')),
    ADD COLUMN partner_told_at timestamptz,
    ADD COLUMN partner_attempts integer NOT NULL DEFAULT 0 CHECK (partner_attempts >= 0),
    ADD COLUMN partner_error text,
    -- a process is mailing it until then (taken in a statement of its own,
    -- so that no transaction stays open while the SMTP server answers)
    ADD COLUMN partner_sending_until timestamptz,
    ADD CONSTRAINT connection_events_notice_whole
        CHECK (partner_notice OR (partner_to IS NULL AND partner_told_at IS NULL AND partner_attempts = 0)),
    ADD CONSTRAINT connection_events_told_somewhere CHECK (partner_told_at IS NULL OR partner_to IS NOT NULL);
COMMENT ON COLUMN guestflow.connection_events.partner_notice IS
    'a change the partner is told of (requested, activated, deactivated, stopped); entries from before 0009 are not';
COMMENT ON COLUMN guestflow.connection_events.partner_to IS
    'the partner''s address when the change happened; NULL with partner_notice: none known, not told';

-- The notices still to send, found without reading the whole log.
CREATE INDEX connection_events_partner_pending ON guestflow.connection_events (connection_id)
    WHERE partner_notice AND partner_to IS NOT NULL AND partner_told_at IS NULL;
