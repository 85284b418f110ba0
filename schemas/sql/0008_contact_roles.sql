-- Contacts as seed 002 keeps them: when each can be reached, and every role
-- used (issue 17, item 3). A contact's support hours are a daily span in
-- its own time zone (an IANA name PostgreSQL knows, checked when entered);
-- hours need a zone to mean anything.
ALTER TABLE guestflow.contacts
    ADD COLUMN support_hours text
        CONSTRAINT contacts_support_hours_form
        CHECK (support_hours ~ '^([01][0-9]|2[0-3]):[0-5][0-9]-(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$'),
    ADD COLUMN time_zone text CHECK (time_zone <> ''),
    ADD CONSTRAINT contacts_hours_have_a_zone CHECK (support_hours IS NULL OR time_zone IS NOT NULL);
COMMENT ON COLUMN guestflow.contacts.support_hours IS
    'when the contact can be reached, every day: HH:MM-HH:MM in time_zone (an end before the start spans midnight)';

-- The technical contacts hear of a connection stopped or deactivated; such
-- an alert stays open until the connection is live again.
ALTER TABLE guestflow.alert_events DROP CONSTRAINT alert_events_kind_check;
ALTER TABLE guestflow.alert_events ADD CONSTRAINT alert_events_kind_check
    CHECK (kind IN ('auth_failed', 'dead_deliveries', 'partner_unreachable', 'failed_runs',
                    'requests_refused', 'connection_invalid', 'connection_stopped', 'connection_deactivated'));
