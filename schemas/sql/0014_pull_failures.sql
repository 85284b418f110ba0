-- A partner's event feed that cannot be read night after night (its
-- reply unreadable, the key refused, a cursor it no longer takes): the
-- bounces and unsubscribes it reports never reach the suppression list.
-- Each connection counts the pulls of its feed that failed in a row; the
-- pull that reaches alerting.failed_pulls raises an alert, and the next
-- pull that reads the feed clears it (and the count).
ALTER TABLE guestflow.connections
    ADD COLUMN pull_failures integer NOT NULL DEFAULT 0 CHECK (pull_failures >= 0);
COMMENT ON COLUMN guestflow.connections.pull_failures IS
    'pulls of the partner''s event feed that failed in a row since the last one that read it (guestflow pull)';
ALTER TABLE guestflow.alert_events DROP CONSTRAINT alert_events_kind_check;
ALTER TABLE guestflow.alert_events ADD CONSTRAINT alert_events_kind_check
    CHECK (kind IN ('auth_failed', 'dead_deliveries', 'partner_unreachable', 'failed_runs',
                    'requests_refused', 'connection_invalid', 'connection_stopped', 'connection_deactivated',
                    'pull_failed'));
