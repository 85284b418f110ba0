-- A batch the partner accepted whose history entries the PMS refuses for
-- one booking (the adapter's write_history raising for it, a column of the
-- PMS too short for its entry, the booking deleted under a foreign key) is
-- completed member by member: the others get their entries, and that
-- booking is delivered without one (the partner holds it: it is never sent
-- again). The job's alert contacts hear of it; the next run of the job
-- that writes an entry for every booking it delivers clears the alert.
ALTER TABLE guestflow.alert_events DROP CONSTRAINT alert_events_kind_check;
ALTER TABLE guestflow.alert_events ADD CONSTRAINT alert_events_kind_check
    CHECK (kind IN ('auth_failed', 'dead_deliveries', 'partner_unreachable', 'failed_runs',
                    'requests_refused', 'connection_invalid', 'connection_stopped', 'connection_deactivated',
                    'pull_failed', 'history_refused'));
