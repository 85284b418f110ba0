-- The members a batch holds in its row (0007) are stored out of line once a
-- batch has more than a few dozen; PostgreSQL's default compression (pglz)
-- of those arrays cost about 2 % of the machine in a night's export, lz4
-- (PostgreSQL 14 and later, when built with it) a fraction of that. A server
-- without lz4 keeps the default.
DO $$
BEGIN
    ALTER TABLE guestflow.batches
        ALTER COLUMN member_ids SET COMPRESSION lz4,
        ALTER COLUMN member_bookings SET COMPRESSION lz4,
        ALTER COLUMN member_nos SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR syntax_error OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 compression is not available on this server; batch members keep the default';
END
$$;
