-- Who accepted which terms for a connection, and when (seeds 000, 001:
-- "consent before data flows"). One row per consent given; a consent ends
-- when the property withdraws it (the connection is deactivated in the
-- same transaction) or accepts newer terms (the new row replaces it). At
-- most one consent in force per connection, by constraint.
CREATE TABLE guestflow.consents (
    id             bigserial PRIMARY KEY,
    connection_id  bigint NOT NULL REFERENCES guestflow.connections ON DELETE CASCADE,
    terms_version  text NOT NULL CHECK (terms_version <> ''),
    accepted_by    text NOT NULL CHECK (accepted_by <> ''),
    accepted_at    timestamptz NOT NULL DEFAULT now(),
    ended_at       timestamptz,
    ended_by       text CHECK (ended_by <> ''),
    ended_how      text CHECK (ended_how IN ('withdrawn', 'replaced')),
    CONSTRAINT consents_end_whole CHECK ((ended_at IS NULL) = (ended_by IS NULL)
                                         AND (ended_at IS NULL) = (ended_how IS NULL)),
    CONSTRAINT consents_end_after_start CHECK (ended_at >= accepted_at)
);
CREATE UNIQUE INDEX consents_in_force ON guestflow.consents (connection_id) WHERE ended_at IS NULL;
COMMENT ON TABLE guestflow.consents IS
    'who accepted which terms of the partner for a connection, and when; the row with ended_at NULL is the consent in force (guestflow connection consent)';

-- The baseline's place for the same fact (guestflow never wrote it; SQL may
-- have): each value becomes a consent in force of unknown terms and person,
-- so that nothing recorded is lost, then consents holds it.
INSERT INTO guestflow.consents (connection_id, terms_version, accepted_by, accepted_at)
SELECT id, 'unknown (recorded before consents)', 'unknown (recorded before consents)', terms_accepted_at
  FROM guestflow.connections WHERE terms_accepted_at IS NOT NULL;
ALTER TABLE guestflow.connections DROP COLUMN terms_accepted_at;
