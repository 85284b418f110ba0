-- Access keys at rest (issue 14, item 11): a connection's access key is
-- stored encrypted in access_key_enc, never in plain text. guestflow
-- encrypts it (AES-256-GCM, src/secret.c) with a key kept outside the
-- database (secrets.key_file, or the systemd credential secrets.key), with a
-- random nonce per value and the connection's id as associated data, so a
-- value copied into another row does not decrypt there. Layout of a value:
-- format byte (1 = AES-256-GCM), key id (guestflow.secret_keys.id), 12-byte
-- nonce, ciphertext, 16-byte tag.
--
-- Nothing is lost on the way: this migration only adds. access_key keeps
-- the plain-text keys stored so far, and every guestflow command that opens
-- the key (run, connection add, set-key, rekey) first encrypts each row that
-- has one and sets access_key to NULL, row by row in one transaction: a row
-- holds its key in plain text until the transaction that writes its
-- ciphertext commits, never neither. A key written into access_key by hand
-- (SQL) later is taken over the same way at the next run: the plain text
-- wins over an older ciphertext of the same row.
ALTER TABLE guestflow.connections ALTER COLUMN access_key DROP NOT NULL;
ALTER TABLE guestflow.connections ADD COLUMN access_key_enc bytea
    CHECK (octet_length(access_key_enc) >= 2 + 12 + 1 + 16);
ALTER TABLE guestflow.connections ADD CONSTRAINT connections_access_key_stored
    CHECK (access_key IS NOT NULL OR access_key_enc IS NOT NULL);
COMMENT ON COLUMN guestflow.connections.access_key IS
    'plain-text access key, only until guestflow encrypts it into access_key_enc at its next use (then NULL)';
COMMENT ON COLUMN guestflow.connections.access_key_enc IS
    'the access key, encrypted: format byte 1 (AES-256-GCM), key id (guestflow.secret_keys), 12-byte nonce, ciphertext, 16-byte tag; associated data: the connection id';

-- The keys that encrypted access keys, by fingerprint (never the key): the
-- current one (retired_at NULL, at most one) and those rotated out by
-- 'guestflow connection rekey'. A process compares its key file with this
-- before it encrypts or decrypts anything, so that a missing, replaced or
-- out-of-date key file is a clear error naming the file instead of a new key
-- nobody can decrypt the stored ones with.
CREATE TABLE guestflow.secret_keys (
    id           smallint PRIMARY KEY CHECK (id BETWEEN 1 AND 255),
    fingerprint  text NOT NULL UNIQUE CHECK (fingerprint ~ '^[0-9a-f]{32}$'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    retired_at   timestamptz
);
CREATE UNIQUE INDEX secret_keys_current ON guestflow.secret_keys ((true)) WHERE retired_at IS NULL;
