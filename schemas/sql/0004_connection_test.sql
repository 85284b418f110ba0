-- The last connection test of each connection ('guestflow connection
-- test', PARTNERS.md "test call"): when, its verdict and what it found,
-- written by the test itself. The go-live gate reads them.
ALTER TABLE guestflow.connections
    ADD COLUMN last_test_at      timestamptz,
    ADD COLUMN last_test_verdict text
        CHECK (last_test_verdict IN ('ok', 'credentials_refused', 'unknown_id', 'peer_refused',
                                     'unreachable', 'unexpected')),
    ADD COLUMN last_test_detail  text,
    ADD CONSTRAINT connections_last_test_whole
        CHECK ((last_test_at IS NULL) = (last_test_verdict IS NULL));
COMMENT ON COLUMN guestflow.connections.last_test_verdict IS
    'verdict of the last connection test: ok, credentials_refused, unknown_id (the partner does not know the hotel or property id), peer_refused (its TLS certificate or SSH host key refused), unreachable, unexpected (a reply the partner''s format does not know)';
