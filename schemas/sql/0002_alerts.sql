-- Alert events: conditions an operator must hear about (credentials refused,
-- deliveries gone dead, partner unreachable). One open event per job,
-- connection and kind: raising it again while it is open does nothing, so
-- a long outage raises one event, not one per run. Cleared when the
-- condition goes away; notified_at is for whoever sends the alert e-mails.
CREATE TABLE guestflow.alert_events (
    id             bigserial PRIMARY KEY,
    raised_at      timestamptz NOT NULL DEFAULT now(),
    job            text NOT NULL,
    connection_id  bigint REFERENCES guestflow.connections ON DELETE CASCADE,
    kind           text NOT NULL
                   CHECK (kind IN ('auth_failed', 'dead_deliveries', 'partner_unreachable')),
    message        text NOT NULL,
    run_id         bigint REFERENCES guestflow.runs,
    cleared_at     timestamptz,
    notified_at    timestamptz
);
CREATE UNIQUE INDEX alert_events_open ON guestflow.alert_events (job, (coalesce(connection_id, 0)), kind)
    WHERE cleared_at IS NULL;
