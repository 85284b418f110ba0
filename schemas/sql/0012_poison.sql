-- Issue 14, "no poison": what one bad batch, reply or connection leaves
-- behind so that it stays contained to itself.
--
-- 1. A batch whose request may have reached the partner without an answer
--    guestflow could read (a timeout or a connection lost after the whole
--    body was sent, an unreadable 2xx reply, a 5xx other than 503, a lease
--    that expired under a worker that may have sent it, a stop while it was
--    in flight) is marked maybe_sent by that attempt's completion or by the
--    claim that takes it over. Such a batch is never split under new keys (a
--    400 or 413 for it is retried whole, under its key, until max_attempts):
--    the partner may hold its members under its key already. The halves of
--    a split are new batches, never sent: false.
ALTER TABLE guestflow.batches ADD COLUMN maybe_sent boolean NOT NULL DEFAULT false;

-- 2. Two alert kinds: requests_refused (the partner answered 400/413 to one
--    connection's requests again and again and accepted none: the
--    connection is held for the run, nothing is rejected), and
--    connection_invalid (a connection setting the partner format cannot
--    carry, such as a hotel id with a control character: held for the run).
ALTER TABLE guestflow.alert_events DROP CONSTRAINT alert_events_kind_check;
ALTER TABLE guestflow.alert_events ADD CONSTRAINT alert_events_kind_check
    CHECK (kind IN ('auth_failed', 'dead_deliveries', 'partner_unreachable', 'failed_runs',
                    'requests_refused', 'connection_invalid'));
