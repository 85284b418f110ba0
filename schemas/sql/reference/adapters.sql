-- The default source adapters over the reference PMS schema (DESIGN.md
-- section 2, "The source contract"). An operator with another PMS replaces
-- these three objects with ones of the same shape over their own tables;
-- nothing else in guestflow knows the PMS's tables. `guestflow db migrate`
-- installs these when the pms schema exists and no adapter is there yet.

CREATE OR REPLACE VIEW guestflow.source_bookings AS
SELECT b.id                   AS booking_id,
       b.property_id          AS property_id,
       b.booking_no           AS booking_no,
       b.status               AS status,
       b.arrival              AS arrival,
       b.departure            AS departure,
       b.checked_out_at       AS checked_out_at,
       b.notify_on_occupancy  AS notify,
       g.last_name            AS last_name,
       g.first_name           AS first_name,
       g.email                AS email,
       g.gender               AS gender,
       g.language             AS language,
       -- when the booking's data, as this view gives it, last changed: a
       -- change of the guest is one too
       greatest(b.updated_at, g.updated_at) AS updated_at
  FROM pms.bookings b
  LEFT JOIN pms.guests g ON g.id = b.guest_id;

-- Called once per delivered batch, inside guestflow's completing transaction:
-- the history entries commit or roll back together with the delivery states.
CREATE OR REPLACE FUNCTION guestflow.write_history(booking_ids bigint[], messages text[])
RETURNS void
LANGUAGE sql
AS $$
    INSERT INTO pms.booking_history (booking_id, kind, message)
    SELECT t.booking_id, 'guestflow', t.message
      FROM unnest(booking_ids, messages) AS t(booking_id, message);
$$;

-- Read by 'guestflow explain': the booking's history entries, oldest first.
-- guestflow reads history only through this function.
CREATE OR REPLACE FUNCTION guestflow.read_history(booking bigint)
RETURNS TABLE (created_at timestamptz, kind text, message text)
LANGUAGE sql
STABLE
AS $$
    SELECT h.created_at, h.kind, h.message
      FROM pms.booking_history h
     WHERE h.booking_id = booking
     ORDER BY h.id;
$$;
