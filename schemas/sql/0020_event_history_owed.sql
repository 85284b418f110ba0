-- A pulled event whose history entry the PMS refuses (the adapter's
-- write_history raising for its booking, a column of the PMS too short for
-- the partner's reason) is stored with that entry kept in history_pending,
-- until a later run or pull of the job writes it (or finds the booking gone
-- from the PMS), as a delivery's (0019). The job's history_refused alert
-- stays open while any entry is owed, and purge keeps such events.
ALTER TABLE guestflow.partner_events ADD COLUMN history_pending text;
COMMENT ON COLUMN guestflow.partner_events.history_pending IS
    'the history entry of this event that the PMS refused, written by a later run or pull of the job (NULL: none owed)';
CREATE INDEX partner_events_history_pending ON guestflow.partner_events (job) WHERE history_pending IS NOT NULL;
