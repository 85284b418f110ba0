-- One delivery per (job, connection, booking), keyed connection first. A
-- batch holds the bookings of one connection, so the rows its completion
-- writes fall next to each other in the index (and next to the rows of the
-- connection's previous batch) instead of at a few hundred random places
-- across it, as the booking-first key of 0005 had them: about 5 µs a row
-- less at a million rows (bench/RESULTS.md, sixth round). A lookup by
-- booking alone (explain, rerun) names the connection or goes through the
-- job's connections (a few thousand index probes at most).
ALTER TABLE guestflow.delivery_log DROP CONSTRAINT deliveries_booking_connection_job_key;
ALTER TABLE guestflow.delivery_log
    ADD CONSTRAINT deliveries_connection_booking_job_key UNIQUE (connection_id, booking_id, job);
