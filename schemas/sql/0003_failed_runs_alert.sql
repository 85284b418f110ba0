-- A fourth alert kind: the job failed (exit 69 or 75) N runs in a row
-- (alerting.failed_runs). Cleared by the next successful run.
ALTER TABLE guestflow.alert_events DROP CONSTRAINT alert_events_kind_check;
ALTER TABLE guestflow.alert_events ADD CONSTRAINT alert_events_kind_check
    CHECK (kind IN ('auth_failed', 'dead_deliveries', 'partner_unreachable', 'failed_runs'));
CREATE INDEX alert_events_unnotified ON guestflow.alert_events (job) WHERE notified_at IS NULL;
CREATE INDEX contacts_role ON guestflow.contacts (role, job);
