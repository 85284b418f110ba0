-- The fast path (issue #5): planning creates the batches, a delivery is
-- written twice (planned, finished) instead of four times, and nothing on the
-- per-row path pays for a check it does not need.
--
-- 1. Foreign keys from deliveries are per-row triggers: about 4 s per million
--    rows each, for columns only guestflow itself writes, from rows it has
--    just read or created in the same statement (connections are deactivated,
--    never deleted; runs and batches are never deleted). They go.
ALTER TABLE guestflow.deliveries
    DROP CONSTRAINT IF EXISTS deliveries_connection_id_fkey,
    DROP CONSTRAINT IF EXISTS deliveries_batch_id_fkey,
    DROP CONSTRAINT IF EXISTS deliveries_planned_run_id_fkey,
    DROP CONSTRAINT IF EXISTS deliveries_finished_run_id_fkey;

-- 2. One delivery per (job, connection, booking), keyed booking first: rows
--    are planned in booking order, so the index grows at its right edge
--    instead of at random places, and explain's lookup by booking uses it.
ALTER TABLE guestflow.deliveries DROP CONSTRAINT deliveries_job_connection_id_booking_id_key;
ALTER TABLE guestflow.deliveries
    ADD CONSTRAINT deliveries_booking_connection_job_key UNIQUE (booking_id, connection_id, job);

-- 3. Deliveries not in a batch: only reruns make them now. The predicate no
--    longer names the state, so finishing a delivery changes no indexed
--    column and can be a HOT update (room for it: fillfactor).
DROP INDEX guestflow.deliveries_unbatched;
CREATE INDEX deliveries_unbatched ON guestflow.deliveries (job, connection_id, id) WHERE batch_id IS NULL;
DROP INDEX guestflow.deliveries_booking_no;
ALTER TABLE guestflow.deliveries SET (fillfactor = 50);

-- 4. A delivery whose batch is being sent stays 'pending' (the batch's lease
--    says it is in flight); rows left 'sending' by older versions are pending.
UPDATE guestflow.deliveries SET state = 'pending' WHERE state = 'sending';
