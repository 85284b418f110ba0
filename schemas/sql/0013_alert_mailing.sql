-- An alert being mailed: taken for a while by the process that mails it,
-- so that several processes ending together (four workers of a job after an
-- outage) do not each mail the same alert. No transaction stays open while
-- the SMTP server answers; a process that dies while mailing leaves the
-- alert to be taken again when the time is up (mailed at least once).
ALTER TABLE guestflow.alert_events ADD COLUMN mailing_until timestamptz;
COMMENT ON COLUMN guestflow.alert_events.mailing_until IS
    'taken by a process mailing the alert until then (others skip it); NULL when nobody is';
