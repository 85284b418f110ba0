-- The reference PMS schema (DESIGN.md section 2): what the demo, the tests and
-- the benchmark use as the hotel's property-management database. A real PMS
-- has its own tables; guestflow reads them only through the adapters.

CREATE SCHEMA IF NOT EXISTS pms;

CREATE TABLE IF NOT EXISTS pms.properties (
    id    text PRIMARY KEY,
    name  text NOT NULL
);
-- Whether the hotel allows its guests' data to be exported to partners (seed
-- 001: a property switched off here has its connections stopped).
ALTER TABLE pms.properties ADD COLUMN IF NOT EXISTS export_allowed boolean NOT NULL DEFAULT true;

CREATE TABLE IF NOT EXISTS pms.guests (
    id          bigserial PRIMARY KEY,
    first_name  text,
    last_name   text,
    email       text,
    gender      text,
    language    text,
    -- When the PMS last changed the guest (as pms.bookings.updated_at for
    -- the booking): the source view's updated_at is the later of the two,
    -- so that a guest fixed here (an e-mail guestflow rejected) is planned
    -- again.
    updated_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE pms.guests ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();

CREATE TABLE IF NOT EXISTS pms.bookings (
    id                   bigserial PRIMARY KEY,
    property_id          text NOT NULL REFERENCES pms.properties,
    booking_no           text NOT NULL UNIQUE,
    guest_id             bigint REFERENCES pms.guests,
    status               text NOT NULL
                         CHECK (status IN ('confirmed', 'in_house', 'checked_out', 'cancelled', 'no_show')),
    arrival              date NOT NULL,
    departure            date NOT NULL,
    checked_out_at       timestamptz,
    notify_on_occupancy  boolean NOT NULL DEFAULT false,
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS bookings_checked_out ON pms.bookings (checked_out_at)
    WHERE status = 'checked_out';

CREATE TABLE IF NOT EXISTS pms.booking_history (
    id          bigserial PRIMARY KEY,
    booking_id  bigint NOT NULL REFERENCES pms.bookings,
    created_at  timestamptz NOT NULL DEFAULT now(),
    kind        text NOT NULL,
    message     text NOT NULL
);
CREATE INDEX IF NOT EXISTS booking_history_booking ON pms.booking_history (booking_id);
