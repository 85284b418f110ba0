-- A bounce is of an address that was sent, and the PMS may have changed the
-- guest's address since (a typo corrected at the front desk): only the
-- address the delivery was planned with may be put on the suppression list.
-- guestflow keeps no copy of it, only a hash that tells whether the address
-- the booking has now is that one.
--
-- email_hash: guestflow.email_hash() of the address the delivery was first
-- planned with (the plan's slice; a rerun that plans a booking anew; a
-- delivery rejected for its data and planned again, which was never sent).
-- A retry or a rerun that sends the booking as it is by then keeps it: when
-- the address changed meanwhile, the partner may have had either, and a
-- bounce suppresses neither. NULL: not known (a delivery written before this
-- migration, or rejected before it was planned): its bounce suppresses
-- nothing.
-- PostgreSQL's own 64-bit hash of text (the one hash partitioning relies
-- on: immutable, as stable as the partitions; not md5, which a server in
-- FIPS mode refuses, nor a digest of textsend(), which follows the
-- session's client encoding), of the key's bytes whatever the collation
-- of the value hashed (the plan's parameter, the source view's column: a
-- case-insensitive one would hash the same address otherwise apart).
CREATE FUNCTION guestflow.email_hash(email text) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$SELECT hashtextextended(guestflow.email_key(email) COLLATE "C", 0)$$;
COMMENT ON FUNCTION guestflow.email_hash(text) IS
    'a 64-bit hash of guestflow.email_key(email): whether an address is the one a delivery was planned with';
ALTER TABLE guestflow.deliveries ADD COLUMN email_hash bigint;
COMMENT ON COLUMN guestflow.deliveries.email_hash IS
    'guestflow.email_hash() of the address the delivery was planned with (NULL: not known): a bounce suppresses the guest''s address only while the booking still has that one';
