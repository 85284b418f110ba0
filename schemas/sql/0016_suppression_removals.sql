-- An operator lifts a suppression ('guestflow suppression remove'): the
-- guest fixed the mailbox that bounced, or asked the hotel again for the
-- partner's e-mails. The suppression's row goes; what it was, who lifted it,
-- when and why stay here.
--
-- email: as it was suppressed (guestflow.email_key). reason, suppressed_at,
-- event_id: the suppression's. because: the operator's words (required).
-- actor: as the activity log of connections records it (0010).
CREATE TABLE guestflow.suppression_removals (
    id             bigserial PRIMARY KEY,
    email          text NOT NULL,
    reason         text NOT NULL CHECK (reason IN ('bounced', 'unsubscribed')),
    suppressed_at  timestamptz NOT NULL,
    event_id       bigint REFERENCES guestflow.partner_events ON DELETE SET NULL,
    because        text NOT NULL CHECK (because ~ '[^[:space:]]'),
    actor          text NOT NULL DEFAULT
        coalesce(nullif(current_setting('guestflow.actor', true), '')
                 || CASE WHEN current_setting('guestflow.actor', true) = current_user::text THEN ''
                         ELSE ' (database role ' || current_user::text || ')' END,
                 current_user::text),
    removed_at     timestamptz NOT NULL DEFAULT now()
);
-- (the purge's delete of a partner event looks its removals up)
CREATE INDEX suppression_removals_event ON guestflow.suppression_removals (event_id);
CREATE INDEX suppression_removals_email ON guestflow.suppression_removals (email);
