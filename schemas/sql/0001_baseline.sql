-- guestflow's own schema: the baseline (issue 15). Nothing had been released
-- before it, so the earlier steps (0001-0012) were squashed into this one
-- file; every change from here on is a numbered migration of its own
-- (0002_...), and tests/integration/test_schema.py checks that the migrated
-- schema equals schemas/sql/reference/guestflow-schema.sql.
--
-- Everything that may one day be distributed carries property_id.

CREATE TABLE guestflow.partners (
    id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9_-]+$'),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Access keys at rest (issue 14, item 11): a connection's access key is
-- stored encrypted in access_key_enc, never in plain text. guestflow
-- encrypts it (AES-256-GCM, src/secret.c) with a key kept outside the
-- database (secrets.key_file, or the systemd credential secrets.key), with a
-- random nonce per value and the connection's id as associated data, so a
-- value copied into another row does not decrypt there. A key written into
-- access_key by hand (SQL) is taken over at the next command that opens the
-- keys: encrypted into access_key_enc and access_key set to NULL in one
-- transaction, never neither.
CREATE TABLE guestflow.connections (
    id                bigserial PRIMARY KEY,
    property_id       text NOT NULL,
    partner           text NOT NULL REFERENCES guestflow.partners,
    hotel_id          text NOT NULL CHECK (hotel_id <> ''),
    access_key        text CHECK (access_key <> ''),
    access_key_enc    bytea CHECK (octet_length(access_key_enc) >= 2 + 12 + 1 + 16),
    status            text NOT NULL DEFAULT 'setup'
                      CHECK (status IN ('setup', 'live', 'stopped', 'deactivated')),
    terms_accepted_at timestamptz,
    status_changed_at timestamptz NOT NULL DEFAULT now(),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (property_id, partner),
    CONSTRAINT connections_access_key_stored CHECK (access_key IS NOT NULL OR access_key_enc IS NOT NULL)
);
CREATE INDEX connections_partner_live ON guestflow.connections (partner, property_id)
    WHERE status = 'live';
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

-- One row per status change of a connection: the activity log of seed 000.
CREATE TABLE guestflow.connection_events (
    id             bigserial PRIMARY KEY,
    connection_id  bigint NOT NULL REFERENCES guestflow.connections ON DELETE CASCADE,
    at             timestamptz NOT NULL DEFAULT now(),
    from_status    text,
    to_status      text NOT NULL,
    actor          text NOT NULL DEFAULT current_user,
    note           text
);

CREATE TABLE guestflow.contacts (
    id             bigserial PRIMARY KEY,
    job            text,
    connection_id  bigint REFERENCES guestflow.connections ON DELETE CASCADE,
    role           text NOT NULL CHECK (role IN ('alert', 'technical', 'escalation')),
    name           text,
    email          text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contacts_role ON guestflow.contacts (role, job);

-- Partner status mapping (seed 004): source status -> partner status.
CREATE TABLE guestflow.status_map (
    partner         text NOT NULL REFERENCES guestflow.partners,
    source_status   text NOT NULL,
    partner_status  text NOT NULL CHECK (partner_status <> ''),
    PRIMARY KEY (partner, source_status)
);

CREATE TABLE guestflow.runs (
    id           bigserial PRIMARY KEY,
    job          text NOT NULL,
    trigger      text NOT NULL DEFAULT 'manual',
    host         text,
    pid          integer,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    exit_code    integer,
    eligible     bigint NOT NULL DEFAULT 0,
    planned      bigint NOT NULL DEFAULT 0,
    delivered    bigint NOT NULL DEFAULT 0,
    rejected     bigint NOT NULL DEFAULT 0,
    retried      bigint NOT NULL DEFAULT 0,
    dead         bigint NOT NULL DEFAULT 0,
    requests     bigint NOT NULL DEFAULT 0,
    message      text
);
CREATE INDEX runs_job_started ON guestflow.runs (job, started_at DESC);

-- A batch's members and idempotency key are fixed when it is formed; every
-- resend carries both unchanged (DESIGN.md "Batches and idempotency keys").
-- Its members are the deliveries whose batch_id is its id.
--
-- maybe_sent: an attempt may have reached the partner without an answer
-- guestflow could read (a timeout or a connection lost after the whole body
-- was sent, an unreadable 2xx reply, a 5xx other than 503, a lease that
-- expired under a worker that may have sent it, a stop while it was in
-- flight). Such a batch is never split under new keys (a 400 or 413 for it
-- is retried whole, under its key, until max_attempts): the partner may hold
-- its members under its key already. The halves of a split are new batches,
-- never sent: false.
CREATE TABLE guestflow.batches (
    id               bigserial PRIMARY KEY,
    job              text NOT NULL,
    connection_id    bigint NOT NULL REFERENCES guestflow.connections,
    property_id      text NOT NULL,
    idempotency_key  text NOT NULL UNIQUE,
    state            text NOT NULL DEFAULT 'open'
                     CHECK (state IN ('open', 'done', 'dead', 'split')),
    records          integer NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,
    lease_token      text,
    last_error       text,
    maybe_sent       boolean NOT NULL DEFAULT false,
    parent_id        bigint REFERENCES guestflow.batches,
    created_run_id   bigint REFERENCES guestflow.runs,
    finished_run_id  bigint,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
-- The claim takes the oldest due batch: an index in exactly that order, so
-- that it reads one entry instead of sorting every open batch of the job.
CREATE INDEX batches_due ON guestflow.batches (job, next_attempt_at, id) WHERE state = 'open';

-- One row per delivery: a booking sent (or to be sent) by a job to one
-- connection (DESIGN.md, "Delivery states"). The key is the guarantee: no
-- bug in planning, claiming or rerun can record, and so send, a booking
-- twice for a connection; planners insert with ON CONFLICT DO NOTHING on it
-- and take only the rows their insert returned.
--
-- state is what is true of the delivery now, written when it becomes true:
-- pending (waiting for a batch or for its batch's turn), sending (its batch
-- is claimed under a lease; if the worker dies, until the batch is claimed
-- again or the next run starts, which sets it back to pending), delivered, rejected (reason says why;
-- data_rejected: for the booking's own data, found by guestflow, so it is
-- planned again once the PMS changes the booking), dead (its batch ran out
-- of attempts).
--
-- The key's columns in the order of the access paths: the plan probes it
-- for (connection, booking) pairs read sorted by connection and booking, so
-- the probes and the rows a slice inserts fall next to each other in the
-- index (it grows at one place per connection, not at random ones); the
-- completion reaches the rows through batch_id; explain and rerun name the
-- booking and go through the property's connections; job is one value in
-- almost every installation, so it comes last.
--
-- No index names state: every change of state (pending, sending, delivered)
-- changes no indexed column and is a HOT update when its page has room for
-- the new version. A delivery is updated twice after its insert (claimed,
-- finished) and the rows of one page belong to one batch or its neighbours,
-- claimed and finished together: the claim needs room for a new version of
-- every row of the batch before the pending ones can be pruned (after its
-- commit). fillfactor 60 leaves that room (bench/run.sh 200000, 100,000
-- deliveries: 84 % of the updates HOT, the statements of the night 12.9 s
-- -> 10.7 s; at fillfactor 80, 64 % at 100000), for a table a third larger.
--
-- batch_id is not a foreign key to batches, by measurement: its check (one
-- query and a row lock on the batch, per delivery inserted) was half of the
-- plan's time (bench/run.sh 100000, 50,000 eligible, one round: the slices
-- 6.8 s with it, 3.1 s without; the night 15.4 s and 12.4 s). A batch id is
-- drawn from batches_id_seq in the statement that inserts the batch and
-- its members, and a batch is deleted only by purge, when no delivery names
-- it (guestflow purge, under the batch's row lock): no delivery is written
-- naming a batch that does not exist. connection_id keeps its key.
CREATE TABLE guestflow.deliveries (
    connection_id     bigint NOT NULL REFERENCES guestflow.connections,
    booking_id        bigint NOT NULL,
    job               text NOT NULL,
    property_id       text NOT NULL,
    booking_no        text NOT NULL,
    state             text NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'sending', 'delivered', 'rejected', 'dead')),
    batch_id          bigint,
    reason            text,
    data_rejected     boolean NOT NULL DEFAULT false
                      CHECK (NOT data_rejected OR state = 'rejected'),
    rerun             boolean NOT NULL DEFAULT false,
    planned_run_id    bigint,
    finished_run_id   bigint,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    CONSTRAINT deliveries_pkey PRIMARY KEY (connection_id, booking_id, job)
) WITH (fillfactor = 60);
COMMENT ON COLUMN guestflow.deliveries.data_rejected IS
    'rejected by guestflow for the booking''s own data (a value that cannot be sent, the source view failing for it): planned again once the booking''s updated_at is later than finished_at';
COMMENT ON COLUMN guestflow.deliveries.rerun IS
    'put back in the queue by guestflow rerun: its history entry says so';
-- The members of a batch (claim, completion, split, rerun --dead).
CREATE INDEX deliveries_batch ON guestflow.deliveries (batch_id);
-- Deliveries in no batch yet (reruns, the rest of a batch cut by --limit):
-- few, batched by the next plan. Its predicate names batch_id only, so a
-- change of state is still a HOT update.
CREATE INDEX deliveries_unbatched ON guestflow.deliveries (job, connection_id) WHERE batch_id IS NULL;

-- One row per request to a partner (seed 000's API-call log). The URL never
-- holds the access key.
CREATE TABLE guestflow.api_calls (
    id               bigserial PRIMARY KEY,
    at               timestamptz NOT NULL DEFAULT now(),
    run_id           bigint REFERENCES guestflow.runs,
    job              text NOT NULL,
    connection_id    bigint REFERENCES guestflow.connections,
    batch_id         bigint REFERENCES guestflow.batches,
    method           text NOT NULL DEFAULT 'POST',
    url              text NOT NULL,
    status_code      integer,
    latency_ms       integer,
    request_bytes    bigint,
    response_bytes   bigint,
    records          integer,
    idempotency_key  text,
    outcome          text NOT NULL,
    error            text,
    response_excerpt text
);
CREATE INDEX api_calls_at ON guestflow.api_calls (at);
CREATE INDEX api_calls_job_at ON guestflow.api_calls (job, at);

-- Alert events: conditions an operator must hear about. One open event per
-- job, connection and kind: raising it again while it is open does nothing,
-- so a long outage raises one event, not one per run. Cleared when the
-- condition goes away; notified_at is for whoever sends the alert e-mails.
-- Kinds: auth_failed (credentials refused), dead_deliveries, partner_unreachable,
-- failed_runs (the job failed, exit 69 or 75, alerting.failed_runs runs in a
-- row; cleared by the next successful run), requests_refused (the partner
-- answered 400/413 to one connection's requests again and again and accepted
-- none: the connection is held for the run, nothing is rejected),
-- connection_invalid (a connection setting the partner format cannot carry,
-- such as a hotel id with a control character: held for the run).
CREATE TABLE guestflow.alert_events (
    id             bigserial PRIMARY KEY,
    raised_at      timestamptz NOT NULL DEFAULT now(),
    job            text NOT NULL,
    connection_id  bigint REFERENCES guestflow.connections ON DELETE CASCADE,
    kind           text NOT NULL
                   CHECK (kind IN ('auth_failed', 'dead_deliveries', 'partner_unreachable', 'failed_runs',
                                   'requests_refused', 'connection_invalid')),
    message        text NOT NULL,
    run_id         bigint REFERENCES guestflow.runs,
    cleared_at     timestamptz,
    notified_at    timestamptz
);
CREATE UNIQUE INDEX alert_events_open ON guestflow.alert_events (job, (coalesce(connection_id, 0)), kind)
    WHERE cleared_at IS NULL;
CREATE INDEX alert_events_unnotified ON guestflow.alert_events (job) WHERE notified_at IS NULL;
