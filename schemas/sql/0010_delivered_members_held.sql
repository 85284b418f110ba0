-- No write per delivery (issue #5): a planned batch that the partner accepts
-- whole keeps its members in its own row, now as delivered. Since 0007 an
-- accepted batch wrote each member into guestflow.delivery_log (heap and two
-- indexes, 5-10 µs a row at a million); now the batch row is only marked
-- done. What is written per delivery is the history entry on the booking,
-- and that is the PMS's.
--
-- A member is stored in exactly one place: the log, or the row of a batch
-- that holds it (open: pending; done: delivered). A batch leaves that state
-- only by writing its members out into the log ("materialising", 0007): any
-- outcome but a whole acceptance (retry, split, release, dead, partial
-- rejection, a --limit cut), and a rerun of one of its bookings.
--
-- guestflow.deliveries shows both, as before: one row per delivery with its
-- state, batch and run.
ALTER TABLE guestflow.batches ADD COLUMN finished_run_id bigint;
-- A connection's deliveries held in batch rows (connection list, explain).
CREATE INDEX batches_held_by_connection ON guestflow.batches (connection_id) WHERE member_ids IS NOT NULL;

CREATE OR REPLACE VIEW guestflow.deliveries AS
SELECT id, job, connection_id, property_id, booking_id, booking_no, state, batch_id, reason,
       planned_run_id, finished_run_id, created_at, updated_at, finished_at, rerun
  FROM guestflow.delivery_log
UNION ALL
SELECT m.id, b.job, b.connection_id, b.property_id, m.booking_id, m.booking_no,
       CASE WHEN b.state = 'done' THEN 'delivered' ELSE 'pending' END, b.id, NULL::text,
       b.created_run_id, b.finished_run_id, b.created_at, coalesce(b.finished_at, b.created_at),
       b.finished_at, false
  FROM guestflow.batches b
 CROSS JOIN LATERAL unnest(b.member_ids, b.member_bookings, b.member_nos) AS m(id, booking_id, booking_no)
 WHERE b.member_ids IS NOT NULL;
