-- One write per delivery (issue #5): a batch formed by the plan keeps its
-- members in its own row (three arrays, written with the batch), and each
-- of its deliveries is written once, when the batch is answered. A batch
-- that is cut (--limit), retried, split, released or goes dead first writes
-- its members out as pending delivery rows ("materialised") and is from then
-- on handled row by row, as before.
--
-- The rows live in guestflow.delivery_log; guestflow.deliveries is now a
-- view of the log and of the members still held by batches, so what an
-- operator reads there (one row per delivery, with state, batch_id and
-- reason: DESIGN.md, "Delivery states") is unchanged. A member shows as
-- 'pending' with its batch, exactly as a pending row in a batch did.
ALTER TABLE guestflow.deliveries RENAME TO delivery_log;
ALTER TABLE guestflow.batches
    ADD COLUMN member_ids      bigint[],   -- the deliveries' ids, drawn when the batch is written
    ADD COLUMN member_bookings bigint[],
    ADD COLUMN member_nos      text[];
-- The planner's anti-join and a rerun read the members of the job's batches
-- that still hold them: few, the ones not answered yet.
CREATE INDEX batches_members ON guestflow.batches (job) WHERE member_ids IS NOT NULL;
-- A row is now mostly written in its final state and never updated (only
-- rerun and materialised rows are): pages filled; and rows are looked up by
-- batch only while they wait to be sent, or are dead (rerun --dead).
ALTER TABLE guestflow.delivery_log SET (fillfactor = 100);
DROP INDEX guestflow.deliveries_batch;
CREATE INDEX deliveries_batch ON guestflow.delivery_log (batch_id) WHERE state IN ('pending', 'sending', 'dead');

CREATE VIEW guestflow.deliveries AS
SELECT id, job, connection_id, property_id, booking_id, booking_no, state, batch_id, reason,
       planned_run_id, finished_run_id, created_at, updated_at, finished_at, rerun
  FROM guestflow.delivery_log
UNION ALL
SELECT m.id, b.job, b.connection_id, b.property_id, m.booking_id, m.booking_no, 'pending', b.id, NULL::text,
       b.created_run_id, NULL::bigint, b.created_at, b.created_at, NULL::timestamptz, false
  FROM guestflow.batches b
 CROSS JOIN LATERAL unnest(b.member_ids, b.member_bookings, b.member_nos) AS m(id, booking_id, booking_no)
 WHERE b.member_ids IS NOT NULL;
