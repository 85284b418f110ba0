-- A connection's credentials are named for what they are to every output,
-- not for the first format's words: the id the partner knows the property
-- by (review-xml's hotel id, guest-json's property id, visits-csv's hotel
-- id) and the secret that goes with it (review-xml's access key,
-- guest-json's API token; none for visits-csv, whose job holds the SFTP
-- account). Which of them a connection needs is its output's (output.h),
-- so a new format needs no migration. The values are kept as they are:
-- renaming a column rewrites nothing, and the stored ciphertexts stay
-- bound to their connection id as before.
ALTER TABLE guestflow.connections RENAME COLUMN hotel_id TO id_at_partner;
ALTER TABLE guestflow.connections RENAME COLUMN access_key TO secret;
ALTER TABLE guestflow.connections RENAME COLUMN access_key_enc TO secret_enc;
ALTER TABLE guestflow.connections RENAME CONSTRAINT connections_hotel_id_check TO connections_id_at_partner_check;
ALTER TABLE guestflow.connections RENAME CONSTRAINT connections_access_key_check TO connections_secret_check;
ALTER TABLE guestflow.connections RENAME CONSTRAINT connections_access_key_enc_check TO connections_secret_enc_check;
COMMENT ON COLUMN guestflow.connections.id_at_partner IS
    'the id the partner knows this property by (review-xml: hotel id; guest-json: property id; visits-csv: hotel id), checked by the output''s rules';
COMMENT ON COLUMN guestflow.connections.secret IS
    'the connection''s secret in plain text (set by SQL), only until guestflow encrypts it into secret_enc at its next use (then NULL)';
COMMENT ON COLUMN guestflow.connections.secret_enc IS
    'the connection''s secret (access key, API token), encrypted; NULL for a format whose connections hold none: format byte 1 (AES-256-GCM), key id (guestflow.secret_keys), 12-byte nonce, ciphertext, 16-byte tag; associated data: the connection id';
