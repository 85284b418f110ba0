-- A connection holds the credentials its partner's format declares: an
-- access key (review-xml), an API token (guest-json), or nothing at all
-- (visits-csv: the job holds the SFTP account). Which one a connection
-- needs is the format's, known to guestflow, not to this table.
ALTER TABLE guestflow.connections DROP CONSTRAINT connections_access_key_stored;
COMMENT ON COLUMN guestflow.connections.access_key_enc IS
    'the connection''s secret (access key, API token), encrypted; NULL for a format whose connections hold none: format byte 1 (AES-256-GCM), key id (guestflow.secret_keys), 12-byte nonce, ciphertext, 16-byte tag; associated data: the connection id';
