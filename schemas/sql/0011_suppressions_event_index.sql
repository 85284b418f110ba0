-- 'guestflow purge' deletes the partner events a job pulled longer ago than
-- its retention.events. Each event deleted has the foreign key
-- suppressions.event_id (ON DELETE SET NULL) looked up: without an index, a
-- scan of the whole suppression list per event (some 2 ms per event with
-- 50,000 addresses suppressed: hours for the first purge of a large feed).
CREATE INDEX suppressions_event ON guestflow.suppressions (event_id);
