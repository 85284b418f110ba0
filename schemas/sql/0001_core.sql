-- guestflow's own schema, version 1: connections, runs, batches, deliveries,
-- the API-call log, contacts and status maps (DESIGN.md section 2).
-- Everything that may one day be distributed carries property_id.

CREATE TABLE guestflow.partners (
    id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9_-]+$'),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE guestflow.connections (
    id                bigserial PRIMARY KEY,
    property_id       text NOT NULL,
    partner           text NOT NULL REFERENCES guestflow.partners,
    hotel_id          text NOT NULL CHECK (hotel_id <> ''),
    access_key        text NOT NULL CHECK (access_key <> ''),
    status            text NOT NULL DEFAULT 'setup'
                      CHECK (status IN ('setup', 'live', 'stopped', 'deactivated')),
    terms_accepted_at timestamptz,
    status_changed_at timestamptz NOT NULL DEFAULT now(),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (property_id, partner)
);
CREATE INDEX connections_partner_live ON guestflow.connections (partner, property_id)
    WHERE status = 'live';

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
    parent_id        bigint REFERENCES guestflow.batches,
    created_run_id   bigint REFERENCES guestflow.runs,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
CREATE INDEX batches_due ON guestflow.batches (job, next_attempt_at) WHERE state = 'open';

CREATE TABLE guestflow.deliveries (
    id                bigserial PRIMARY KEY,
    job               text NOT NULL,
    connection_id     bigint NOT NULL REFERENCES guestflow.connections,
    property_id       text NOT NULL,
    booking_id        bigint NOT NULL,
    booking_no        text NOT NULL,
    state             text NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'sending', 'delivered', 'rejected', 'dead')),
    batch_id          bigint REFERENCES guestflow.batches,
    reason            text,
    planned_run_id    bigint REFERENCES guestflow.runs,
    finished_run_id   bigint REFERENCES guestflow.runs,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    UNIQUE (job, connection_id, booking_id)
);
-- The claim statement: pending deliveries not yet in a batch, per connection.
CREATE INDEX deliveries_unbatched ON guestflow.deliveries (job, connection_id, id)
    WHERE state = 'pending' AND batch_id IS NULL;
CREATE INDEX deliveries_batch ON guestflow.deliveries (batch_id);
CREATE INDEX deliveries_booking_no ON guestflow.deliveries (booking_no);

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
