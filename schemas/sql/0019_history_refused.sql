-- A batch the partner accepted whose history entries the PMS refuses for
-- one booking (the adapter's write_history raising for it, a column of the
-- PMS too short for its entry, the booking deleted under a foreign key) is
-- completed member by member: the others get their entries, and that
-- booking is delivered (the partner holds it: it is never sent again) with
-- the entry it is owed kept in history_pending, until a later run of the
-- job writes it (or finds the booking gone from the PMS). A booking sent
-- again by a forced rerun may owe more than one. While a job has such
-- deliveries, its history_refused alert stays open, and purge keeps them.
ALTER TABLE guestflow.deliveries ADD COLUMN history_pending text[]
    CHECK (cardinality(history_pending) > 0);
COMMENT ON COLUMN guestflow.deliveries.history_pending IS
    'the history entries of a delivered booking that the PMS refused, oldest first, written by a later run of the job (NULL: none owed)';
CREATE INDEX deliveries_history_pending ON guestflow.deliveries (job) WHERE history_pending IS NOT NULL;
ALTER TABLE guestflow.alert_events DROP CONSTRAINT alert_events_kind_check;
ALTER TABLE guestflow.alert_events ADD CONSTRAINT alert_events_kind_check
    CHECK (kind IN ('auth_failed', 'dead_deliveries', 'partner_unreachable', 'failed_runs',
                    'requests_refused', 'connection_invalid', 'connection_stopped', 'connection_deactivated',
                    'pull_failed', 'history_refused'));
