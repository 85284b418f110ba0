-- A partner's event is stored once: partner_events_once is the key it is
-- told apart by. Its booking number and batch key are the partner's text,
-- of any length, and a B-tree entry holds at most about 2.7 kB: one event
-- naming a booking number of 3,000 characters failed the statement that
-- stores its page (SQLSTATE 54000), and with it every pull of that feed. The
-- index holds their 64-bit hashes instead (hashtextextended, as
-- guestflow.email_hash: 8 bytes whatever the length). Two events of one
-- connection, type and time told apart only by a hash collision would be
-- stored as one: not to be met, and a partner gains nothing by it (it
-- decides what its feed says anyway).
DROP INDEX guestflow.partner_events_once;
CREATE UNIQUE INDEX partner_events_once ON guestflow.partner_events
    (connection_id, type, coalesce(at, '-infinity'::timestamptz), hashtextextended(booking_no, 0),
     hashtextextended(coalesce(batch_key, ''), 0));
