--
-- PostgreSQL database dump
--

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: guestflow; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA guestflow;

--
-- Name: connection_ended_notify(); Type: FUNCTION; Schema: guestflow; Owner: -
--

CREATE FUNCTION guestflow.connection_ended_notify() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM pg_notify('guestflow_connection_ended', NEW.id::text);
    RETURN NULL;
END
$$;

--
-- Name: email_hash(text); Type: FUNCTION; Schema: guestflow; Owner: -
--

CREATE FUNCTION guestflow.email_hash(email text) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$SELECT hashtextextended(guestflow.email_key(email) COLLATE "C", 0)$$;

--
-- Name: FUNCTION email_hash(email text); Type: COMMENT; Schema: guestflow; Owner: -
--

COMMENT ON FUNCTION guestflow.email_hash(email text) IS 'a 64-bit hash of guestflow.email_key(email): whether an address is the one a delivery was planned with';

--
-- Name: email_key(text); Type: FUNCTION; Schema: guestflow; Owner: -
--

CREATE FUNCTION guestflow.email_key(email text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$SELECT lower(btrim(email, ' 	

             ​

  　﻿'))$$;

SET default_table_access_method = heap;

--
-- Name: alert_events; Type: TABLE; Schema: guestflow; Owner: -
--

CREATE TABLE guestflow.alert_events (
    id bigint NOT NULL,
    raised_at timestamp with time zone DEFAULT now() NOT NULL,
    job text NOT NULL,
    connection_id bigint,
    kind text NOT NULL,
    message text NOT NULL,
    run_id bigint,
    cleared_at timestamp with time zone,
    notified_at timestamp with time zone,
    mailing_until timestamp with time zone,
    CONSTRAINT alert_events_kind_check CHECK ((kind = ANY (ARRAY['auth_failed'::text, 'dead_deliveries'::text, 'partner_unreachable'::text, 'failed_runs'::text, 'requests_refused'::text, 'connection_invalid'::text, 'connection_stopped'::text, 'connection_deactivated'::text, 'pull_failed'::text, 'history_refused'::text, 'bookings_not_planned'::text])))
);

--
-- Name: COLUMN alert_events.mailing_until; Type: COMMENT; Schema: guestflow; Owner: -
--

COMMENT ON COLUMN guestflow.alert_events.mailing_until IS 'taken by a process mailing the alert until then (others skip it); NULL when nobody is';

--
-- Name: alert_events_id_seq; Type: SEQUENCE; Schema: guestflow; Owner: -
--

CREATE SEQUENCE guestflow.alert_events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: alert_events_id_seq; Type: SEQUENCE OWNED BY; Schema: guestflow; Owner: -
--

ALTER SEQUENCE guestflow.alert_events_id_seq OWNED BY guestflow.alert_events.id;

--
-- Name: api_calls; Type: TABLE; Schema: guestflow; Owner: -
--

CREATE TABLE guestflow.api_calls (
    id bigint NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    run_id bigint,
    job text NOT NULL,
    connection_id bigint,
    batch_id bigint,
    method text DEFAULT 'POST'::text NOT NULL,
    url text NOT NULL,
    status_code integer,
    latency_ms integer,
    request_bytes bigint,
    response_bytes bigint,
    records integer,
    idempotency_key text,
    outcome text NOT NULL,
    error text,
    response_excerpt text
);

--
-- Name: api_calls_id_seq; Type: SEQUENCE; Schema: guestflow; Owner: -
--

CREATE SEQUENCE guestflow.api_calls_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: api_calls_id_seq; Type: SEQUENCE OWNED BY; Schema: guestflow; Owner: -
--

ALTER SEQUENCE guestflow.api_calls_id_seq OWNED BY guestflow.api_calls.id;

--
-- Name: batches; Type: TABLE; Schema: guestflow; Owner: -
--

CREATE TABLE guestflow.batches (
    id bigint NOT NULL,
    job text NOT NULL,
    connection_id bigint NOT NULL,
    property_id text NOT NULL,
    idempotency_key text NOT NULL,
    state text DEFAULT 'open'::text NOT NULL,
    records integer NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone DEFAULT now() NOT NULL,
    lease_until timestamp with time zone,
    lease_token text,
    last_error text,
    maybe_sent boolean DEFAULT false NOT NULL,
    parent_id bigint,
    created_run_id bigint,
    finished_run_id bigint,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    finished_at timestamp with time zone,
    CONSTRAINT batches_state_check CHECK ((state = ANY (ARRAY['open'::text, 'done'::text, 'dead'::text, 'split'::text])))
);

--
-- Name: batches_id_seq; Type: SEQUENCE; Schema: guestflow; Owner: -
--

CREATE SEQUENCE guestflow.batches_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: batches_id_seq; Type: SEQUENCE OWNED BY; Schema: guestflow; Owner: -
--

ALTER SEQUENCE guestflow.batches_id_seq OWNED BY guestflow.batches.id;

--
-- Name: connection_events; Type: TABLE; Schema: guestflow; Owner: -
--

CREATE TABLE guestflow.connection_events (
    id bigint NOT NULL,
    connection_id bigint NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    from_status text,
    to_status text NOT NULL,
    actor text DEFAULT COALESCE((NULLIF(current_setting('guestflow.actor'::text, true), ''::text) ||
CASE
    WHEN (current_setting('guestflow.actor'::text, true) = (CURRENT_USER)::text) THEN ''::text
    ELSE ((' (database role '::text || (CURRENT_USER)::text) || ')'::text)
END), (CURRENT_USER)::text) NOT NULL,
    note text,
    partner_notice boolean DEFAULT false NOT NULL,
    partner_to text,
    partner_told_at timestamp with time zone,
    partner_attempts integer DEFAULT 0 NOT NULL,
    partner_error text,
    partner_sending_until timestamp with time zone,
    CONSTRAINT connection_events_notice_whole CHECK ((partner_notice OR ((partner_to IS NULL) AND (partner_told_at IS NULL) AND (partner_attempts = 0)))),
    CONSTRAINT connection_events_partner_attempts_check CHECK ((partner_attempts >= 0)),
    CONSTRAINT connection_events_partner_to_form CHECK (((octet_length(partner_to) <= 254) AND (partner_to ~ '^[!-?A-~]+@[!-?A-~]+$'::text) AND (partner_to ~ '^[^<>(),;:"\\]+$'::text))),
    CONSTRAINT connection_events_told_somewhere CHECK (((partner_told_at IS NULL) OR (partner_to IS NOT NULL)))
);

--
-- Name: COLUMN connection_events.partner_notice; Type: COMMENT; Schema: guestflow; Owner: -
--

COMMENT ON COLUMN guestflow.connection_events.partner_notice IS 'a change the partner is told of (requested, activated, deactivated, stopped); entries from before 0009 are not';

--
-- Name: COLUMN connection_events.partner_to; Type: COMMENT; Schema: guestflow; Owner: -
--

COMMENT ON COLUMN guestflow.connection_events.partner_to IS 'the partner''s address when the change happened; NULL with partner_notice: none known, not told';

--
-- Name: connection_events_id_seq; Type: SEQUENCE; Schema: guestflow; Owner: -
--

CREATE SEQUENCE guestflow.connection_events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: connection_events_id_seq; Type: SEQUENCE OWNED BY; Schema: guestflow; Owner: -
--

ALTER SEQUENCE guestflow.connection_events_id_seq OWNED BY guestflow.connection_events.id;

--
-- Name: connections; Type: TABLE; Schema: guestflow; Owner: -
--

CREATE TABLE guestflow.connections (
    id bigint NOT NULL,
    property_id text NOT NULL,
    partner text NOT NULL,
    id_at_partner text NOT NULL,
    secret text,
    secret_enc bytea,
    status text DEFAULT 'setup'::text NOT NULL,
    status_changed_at timestamp with time zone DEFAULT now() NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    last_test_at timestamp with time zone,
    last_test_verdict text,
    last_test_detail text,
    events_cursor text,
    events_pulled_at timestamp with time zone,
    partner_email text,
    pull_failures integer DEFAULT 0 NOT NULL,
    CONSTRAINT connections_id_at_partner_check CHECK ((id_at_partner <> ''::text)),
    CONSTRAINT connections_last_test_verdict_check CHECK ((last_test_verdict = ANY (ARRAY['ok'::text, 'credentials_refused'::text, 'unknown_id'::text, 'peer_refused'::text, 'unreachable'::text, 'unexpected'::text]))),
    CONSTRAINT connections_last_test_whole CHECK (((last_test_at IS NULL) = (last_test_verdict IS NULL))),
    CONSTRAINT connections_partner_email_form CHECK (((octet_length(partner_email) <= 254) AND (partner_email ~ '^[!-?A-~]+@[!-?A-~]+$'::text) AND (partner_email ~ '^[^<>(),;:"\\]+$'::text))),
    CONSTRAINT connections_pull_failures_check CHECK ((pull_failures >= 0)),
    CONSTRAINT connections_secret_check CHECK ((secret <> ''::text)),
    CONSTRAINT connections_secret_enc_check CHECK ((octet_length(secret_enc) >= (((2 + 12) + 1) + 16))),
    CONSTRAINT connections_status_check CHECK ((status = ANY (ARRAY['setup'::text, 'live'::text, 'stopped'::text, 'deactivated'::text])))
);

--
-- Name: COLUMN connections.id_at_partner; Type: COMMENT; Schema: guestflow; Owner: -
--

COMMENT ON COLUMN guestflow.connections.id_at_partner IS 'the id the partner knows this property by (review-xml: hotel id; guest-json: property id; visits-csv: hotel id), checked by the output''s rules';

--
-- Name: COLUMN connections.secret; Type: COMMENT; Schema: guestflow; Owner: -
--

COMMENT ON COLUMN guestflow.connections.secret IS 'the connection''s secret in plain text (set by SQL), only until guestflow encrypts it into secret_enc at its next use (then NULL)';

--
-- Name: COLUMN connections.secret_enc; Type: COMMENT; Schema: guestflow; Owner: -
--

COMMENT ON COLUMN guestflow.connections.secret_enc IS 'the connection''s secret (access key, API token), encrypted; NULL for a format whose connections hold none: format byte 1 (AES-256-GCM), key id (guestflow.secret_keys), 12-byte nonce, ciphertext, 16-byte tag; associated data: the connection id';

--
-- Name: COLUMN connections.last_test_verdict; Type: COMMENT; Schema: guestflow; Owner: -
--

COMMENT ON COLUMN guestflow.connections.last_test_verdict IS 'verdict of the last connection test: ok, credentials_refused, unknown_id (the partner does not know the hotel or property id), peer_refused (its TLS certificate or SSH host key refused), unreachable, unexpected (a reply the partner''s format does not know)';

--
-- Name: COLUMN connections.partner_email; Type: COMMENT; Schema: guestflow; Owner: -
--

COMMENT ON COLUMN guestflow.connections.partner_email IS 'where the partner hears of this connection''s changes; NULL: the partner''s address in the main config (partners.ID.email)';

--
-- Name: COLUMN connections.pull_failures; Type: COMMENT; Schema: guestflow; Owner: -
--

COMMENT ON COLUMN guestflow.connections.pull_failures IS 'pulls of the partner''s event feed that failed in a row since the last one that read it (guestflow pull)';

--
-- Name: connections_id_seq; Type: SEQUENCE; Schema: guestflow; Owner: -
--

CREATE SEQUENCE guestflow.connections_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: connections_id_seq; Type: SEQUENCE OWNED BY; Schema: guestflow; Owner: -
--

ALTER SEQUENCE guestflow.connections_id_seq OWNED BY guestflow.connections.id;

--
-- Name: consents; Type: TABLE; Schema: guestflow; Owner: -
--

CREATE TABLE guestflow.consents (
    id bigint NOT NULL,
    connection_id bigint NOT NULL,
    terms_version text NOT NULL,
    accepted_by text NOT NULL,
    accepted_at timestamp with time zone DEFAULT now() NOT NULL,
    ended_at timestamp with time zone,
    ended_by text,
    ended_how text,
    CONSTRAINT consents_accepted_by_check CHECK ((accepted_by <> ''::text)),
    CONSTRAINT consents_end_after_start CHECK ((ended_at >= accepted_at)),
    CONSTRAINT consents_end_whole CHECK ((((ended_at IS NULL) = (ended_by IS NULL)) AND ((ended_at IS NULL) = (ended_how IS NULL)))),
    CONSTRAINT consents_ended_by_check CHECK ((ended_by <> ''::text)),
    CONSTRAINT consents_ended_how_check CHECK ((ended_how = ANY (ARRAY['withdrawn'::text, 'replaced'::text]))),
    CONSTRAINT consents_terms_version_check CHECK ((terms_version <> ''::text))
);

--
-- Name: TABLE consents; Type: COMMENT; Schema: guestflow; Owner: -
--

COMMENT ON TABLE guestflow.consents IS 'who accepted which terms of the partner for a connection, and when; the row with ended_at NULL is the consent in force (guestflow connection consent)';

--
-- Name: consents_id_seq; Type: SEQUENCE; Schema: guestflow; Owner: -
--

CREATE SEQUENCE guestflow.consents_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: consents_id_seq; Type: SEQUENCE OWNED BY; Schema: guestflow; Owner: -
--

ALTER SEQUENCE guestflow.consents_id_seq OWNED BY guestflow.consents.id;

--
-- Name: contacts; Type: TABLE; Schema: guestflow; Owner: -
--

CREATE TABLE guestflow.contacts (
    id bigint NOT NULL,
    job text,
    connection_id bigint,
    role text NOT NULL,
    name text,
    email text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    support_hours text,
    time_zone text,
    CONSTRAINT contacts_hours_have_a_zone CHECK (((support_hours IS NULL) OR (time_zone IS NOT NULL))),
    CONSTRAINT contacts_role_check CHECK ((role = ANY (ARRAY['alert'::text, 'technical'::text, 'escalation'::text]))),
    CONSTRAINT contacts_support_hours_form CHECK ((support_hours ~ '^([01][0-9]|2[0-3]):[0-5][0-9]-(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$'::text)),
    CONSTRAINT contacts_time_zone_check CHECK ((time_zone <> ''::text))
);

--
-- Name: COLUMN contacts.support_hours; Type: COMMENT; Schema: guestflow; Owner: -
--

COMMENT ON COLUMN guestflow.contacts.support_hours IS 'when the contact can be reached, every day: HH:MM-HH:MM in time_zone (an end before the start spans midnight)';

--
-- Name: contacts_id_seq; Type: SEQUENCE; Schema: guestflow; Owner: -
--

CREATE SEQUENCE guestflow.contacts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: contacts_id_seq; Type: SEQUENCE OWNED BY; Schema: guestflow; Owner: -
--

ALTER SEQUENCE guestflow.contacts_id_seq OWNED BY guestflow.contacts.id;

--
-- Name: deliveries; Type: TABLE; Schema: guestflow; Owner: -
--

CREATE TABLE guestflow.deliveries (
    connection_id bigint NOT NULL,
    booking_id bigint NOT NULL,
    job text NOT NULL,
    property_id text NOT NULL,
    booking_no text NOT NULL,
    state text DEFAULT 'pending'::text NOT NULL,
    batch_id bigint,
    reason text,
    data_rejected boolean DEFAULT false NOT NULL,
    rerun boolean DEFAULT false NOT NULL,
    planned_run_id bigint,
    finished_run_id bigint,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    finished_at timestamp with time zone,
    email_hash bigint,
    history_pending text[],
    CONSTRAINT deliveries_check CHECK (((NOT data_rejected) OR (state = 'rejected'::text))),
    CONSTRAINT deliveries_history_pending_check CHECK ((cardinality(history_pending) > 0)),
    CONSTRAINT deliveries_state_check CHECK ((state = ANY (ARRAY['pending'::text, 'sending'::text, 'delivered'::text, 'rejected'::text, 'dead'::text])))
)
WITH (fillfactor='60');

--
-- Name: COLUMN deliveries.data_rejected; Type: COMMENT; Schema: guestflow; Owner: -
--

COMMENT ON COLUMN guestflow.deliveries.data_rejected IS 'rejected by guestflow for the booking''s own data (a value that cannot be sent, the source view failing for it): planned again once the booking''s updated_at is later than finished_at';

--
-- Name: COLUMN deliveries.rerun; Type: COMMENT; Schema: guestflow; Owner: -
--

COMMENT ON COLUMN guestflow.deliveries.rerun IS 'put back in the queue by guestflow rerun: its history entry says so';

--
-- Name: COLUMN deliveries.email_hash; Type: COMMENT; Schema: guestflow; Owner: -
--

COMMENT ON COLUMN guestflow.deliveries.email_hash IS 'guestflow.email_hash() of the address the delivery was planned with (NULL: not known): a bounce suppresses the guest''s address only while the booking still has that one';

--
-- Name: COLUMN deliveries.history_pending; Type: COMMENT; Schema: guestflow; Owner: -
--

COMMENT ON COLUMN guestflow.deliveries.history_pending IS 'the history entries of a delivered booking that the PMS refused, oldest first, written by a later run of the job (NULL: none owed)';

--
-- Name: partner_events; Type: TABLE; Schema: guestflow; Owner: -
--

CREATE TABLE guestflow.partner_events (
    id bigint NOT NULL,
    connection_id bigint NOT NULL,
    job text NOT NULL,
    booking_no text NOT NULL,
    booking_id bigint,
    type text NOT NULL,
    at timestamp with time zone,
    reason text,
    batch_key text,
    pulled_at timestamp with time zone DEFAULT now() NOT NULL,
    history_pending text,
    CONSTRAINT partner_events_type_check CHECK ((type = ANY (ARRAY['invited'::text, 'bounced'::text, 'reviewed'::text, 'unsubscribed'::text, 'rejected'::text])))
);

--
-- Name: COLUMN partner_events.history_pending; Type: COMMENT; Schema: guestflow; Owner: -
--

COMMENT ON COLUMN guestflow.partner_events.history_pending IS 'the history entry of this event that the PMS refused, written by a later run or pull of the job (NULL: none owed)';

--
-- Name: partner_events_id_seq; Type: SEQUENCE; Schema: guestflow; Owner: -
--

CREATE SEQUENCE guestflow.partner_events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: partner_events_id_seq; Type: SEQUENCE OWNED BY; Schema: guestflow; Owner: -
--

ALTER SEQUENCE guestflow.partner_events_id_seq OWNED BY guestflow.partner_events.id;

--
-- Name: partners; Type: TABLE; Schema: guestflow; Owner: -
--

CREATE TABLE guestflow.partners (
    id text NOT NULL,
    name text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT partners_id_check CHECK ((id ~ '^[a-z0-9_-]+$'::text))
);

--
-- Name: purge_horizons; Type: TABLE; Schema: guestflow; Owner: -
--

CREATE TABLE guestflow.purge_horizons (
    job text NOT NULL,
    checked_out_before timestamp with time zone NOT NULL,
    purged_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: TABLE purge_horizons; Type: COMMENT; Schema: guestflow; Owner: -
--

COMMENT ON TABLE guestflow.purge_horizons IS 'per job: bookings checked out before checked_out_before may have had their deliveries purged; plans do not reach back before it';

--
-- Name: runs; Type: TABLE; Schema: guestflow; Owner: -
--

CREATE TABLE guestflow.runs (
    id bigint NOT NULL,
    job text NOT NULL,
    trigger text DEFAULT 'manual'::text NOT NULL,
    host text,
    pid integer,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    finished_at timestamp with time zone,
    exit_code integer,
    eligible bigint DEFAULT 0 NOT NULL,
    planned bigint DEFAULT 0 NOT NULL,
    delivered bigint DEFAULT 0 NOT NULL,
    rejected bigint DEFAULT 0 NOT NULL,
    retried bigint DEFAULT 0 NOT NULL,
    dead bigint DEFAULT 0 NOT NULL,
    requests bigint DEFAULT 0 NOT NULL,
    message text,
    process text,
    lost_at timestamp with time zone
);

--
-- Name: COLUMN runs.process; Type: COMMENT; Schema: guestflow; Owner: -
--

COMMENT ON COLUMN guestflow.runs.process IS 'the run''s process: boot id, PID namespace and start in clock ticks after boot (src/base/proc.c)';

--
-- Name: COLUMN runs.lost_at; Type: COMMENT; Schema: guestflow; Owner: -
--

COMMENT ON COLUMN guestflow.runs.lost_at IS 'when a later run on the same host found this run''s process gone without its end recorded (killed, host restarted)';

--
-- Name: runs_id_seq; Type: SEQUENCE; Schema: guestflow; Owner: -
--

CREATE SEQUENCE guestflow.runs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: runs_id_seq; Type: SEQUENCE OWNED BY; Schema: guestflow; Owner: -
--

ALTER SEQUENCE guestflow.runs_id_seq OWNED BY guestflow.runs.id;

--
-- Name: schema_migrations; Type: TABLE; Schema: guestflow; Owner: -
--

CREATE TABLE guestflow.schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: secret_keys; Type: TABLE; Schema: guestflow; Owner: -
--

CREATE TABLE guestflow.secret_keys (
    id smallint NOT NULL,
    fingerprint text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    retired_at timestamp with time zone,
    CONSTRAINT secret_keys_fingerprint_check CHECK ((fingerprint ~ '^[0-9a-f]{32}$'::text)),
    CONSTRAINT secret_keys_id_check CHECK (((id >= 1) AND (id <= 255)))
);

--
-- Name: status_map; Type: TABLE; Schema: guestflow; Owner: -
--

CREATE TABLE guestflow.status_map (
    partner text NOT NULL,
    source_status text NOT NULL,
    partner_status text NOT NULL,
    CONSTRAINT status_map_partner_status_check CHECK ((partner_status <> ''::text))
);

--
-- Name: suppression_removals; Type: TABLE; Schema: guestflow; Owner: -
--

CREATE TABLE guestflow.suppression_removals (
    id bigint NOT NULL,
    email text NOT NULL,
    reason text NOT NULL,
    suppressed_at timestamp with time zone NOT NULL,
    event_id bigint,
    because text NOT NULL,
    actor text DEFAULT COALESCE((NULLIF(current_setting('guestflow.actor'::text, true), ''::text) ||
CASE
    WHEN (current_setting('guestflow.actor'::text, true) = (CURRENT_USER)::text) THEN ''::text
    ELSE ((' (database role '::text || (CURRENT_USER)::text) || ')'::text)
END), (CURRENT_USER)::text) NOT NULL,
    removed_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT suppression_removals_because_check CHECK ((because ~ '[^[:space:]]'::text)),
    CONSTRAINT suppression_removals_reason_check CHECK ((reason = ANY (ARRAY['bounced'::text, 'unsubscribed'::text])))
);

--
-- Name: suppression_removals_id_seq; Type: SEQUENCE; Schema: guestflow; Owner: -
--

CREATE SEQUENCE guestflow.suppression_removals_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: suppression_removals_id_seq; Type: SEQUENCE OWNED BY; Schema: guestflow; Owner: -
--

ALTER SEQUENCE guestflow.suppression_removals_id_seq OWNED BY guestflow.suppression_removals.id;

--
-- Name: suppressions; Type: TABLE; Schema: guestflow; Owner: -
--

CREATE TABLE guestflow.suppressions (
    email text NOT NULL,
    reason text NOT NULL,
    event_id bigint,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT suppressions_email_check CHECK ((email = guestflow.email_key(email))),
    CONSTRAINT suppressions_reason_check CHECK ((reason = ANY (ARRAY['bounced'::text, 'unsubscribed'::text])))
);

--
-- Name: alert_events id; Type: DEFAULT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.alert_events ALTER COLUMN id SET DEFAULT nextval('guestflow.alert_events_id_seq'::regclass);

--
-- Name: api_calls id; Type: DEFAULT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.api_calls ALTER COLUMN id SET DEFAULT nextval('guestflow.api_calls_id_seq'::regclass);

--
-- Name: batches id; Type: DEFAULT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.batches ALTER COLUMN id SET DEFAULT nextval('guestflow.batches_id_seq'::regclass);

--
-- Name: connection_events id; Type: DEFAULT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.connection_events ALTER COLUMN id SET DEFAULT nextval('guestflow.connection_events_id_seq'::regclass);

--
-- Name: connections id; Type: DEFAULT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.connections ALTER COLUMN id SET DEFAULT nextval('guestflow.connections_id_seq'::regclass);

--
-- Name: consents id; Type: DEFAULT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.consents ALTER COLUMN id SET DEFAULT nextval('guestflow.consents_id_seq'::regclass);

--
-- Name: contacts id; Type: DEFAULT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.contacts ALTER COLUMN id SET DEFAULT nextval('guestflow.contacts_id_seq'::regclass);

--
-- Name: partner_events id; Type: DEFAULT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.partner_events ALTER COLUMN id SET DEFAULT nextval('guestflow.partner_events_id_seq'::regclass);

--
-- Name: runs id; Type: DEFAULT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.runs ALTER COLUMN id SET DEFAULT nextval('guestflow.runs_id_seq'::regclass);

--
-- Name: suppression_removals id; Type: DEFAULT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.suppression_removals ALTER COLUMN id SET DEFAULT nextval('guestflow.suppression_removals_id_seq'::regclass);

--
-- Name: alert_events alert_events_pkey; Type: CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.alert_events
    ADD CONSTRAINT alert_events_pkey PRIMARY KEY (id);

--
-- Name: api_calls api_calls_pkey; Type: CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.api_calls
    ADD CONSTRAINT api_calls_pkey PRIMARY KEY (id);

--
-- Name: batches batches_idempotency_key_key; Type: CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.batches
    ADD CONSTRAINT batches_idempotency_key_key UNIQUE (idempotency_key);

--
-- Name: batches batches_pkey; Type: CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.batches
    ADD CONSTRAINT batches_pkey PRIMARY KEY (id);

--
-- Name: connection_events connection_events_pkey; Type: CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.connection_events
    ADD CONSTRAINT connection_events_pkey PRIMARY KEY (id);

--
-- Name: connections connections_pkey; Type: CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.connections
    ADD CONSTRAINT connections_pkey PRIMARY KEY (id);

--
-- Name: connections connections_property_id_partner_key; Type: CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.connections
    ADD CONSTRAINT connections_property_id_partner_key UNIQUE (property_id, partner);

--
-- Name: consents consents_pkey; Type: CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.consents
    ADD CONSTRAINT consents_pkey PRIMARY KEY (id);

--
-- Name: contacts contacts_pkey; Type: CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.contacts
    ADD CONSTRAINT contacts_pkey PRIMARY KEY (id);

--
-- Name: deliveries deliveries_pkey; Type: CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.deliveries
    ADD CONSTRAINT deliveries_pkey PRIMARY KEY (connection_id, booking_id, job);

--
-- Name: partner_events partner_events_pkey; Type: CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.partner_events
    ADD CONSTRAINT partner_events_pkey PRIMARY KEY (id);

--
-- Name: partners partners_pkey; Type: CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.partners
    ADD CONSTRAINT partners_pkey PRIMARY KEY (id);

--
-- Name: purge_horizons purge_horizons_pkey; Type: CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.purge_horizons
    ADD CONSTRAINT purge_horizons_pkey PRIMARY KEY (job);

--
-- Name: runs runs_pkey; Type: CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.runs
    ADD CONSTRAINT runs_pkey PRIMARY KEY (id);

--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

--
-- Name: secret_keys secret_keys_fingerprint_key; Type: CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.secret_keys
    ADD CONSTRAINT secret_keys_fingerprint_key UNIQUE (fingerprint);

--
-- Name: secret_keys secret_keys_pkey; Type: CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.secret_keys
    ADD CONSTRAINT secret_keys_pkey PRIMARY KEY (id);

--
-- Name: status_map status_map_pkey; Type: CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.status_map
    ADD CONSTRAINT status_map_pkey PRIMARY KEY (partner, source_status);

--
-- Name: suppression_removals suppression_removals_pkey; Type: CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.suppression_removals
    ADD CONSTRAINT suppression_removals_pkey PRIMARY KEY (id);

--
-- Name: suppressions suppressions_pkey; Type: CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.suppressions
    ADD CONSTRAINT suppressions_pkey PRIMARY KEY (email);

--
-- Name: alert_events_open; Type: INDEX; Schema: guestflow; Owner: -
--

CREATE UNIQUE INDEX alert_events_open ON guestflow.alert_events USING btree (job, COALESCE(connection_id, (0)::bigint), kind) WHERE (cleared_at IS NULL);

--
-- Name: alert_events_unnotified; Type: INDEX; Schema: guestflow; Owner: -
--

CREATE INDEX alert_events_unnotified ON guestflow.alert_events USING btree (job) WHERE (notified_at IS NULL);

--
-- Name: api_calls_at; Type: INDEX; Schema: guestflow; Owner: -
--

CREATE INDEX api_calls_at ON guestflow.api_calls USING btree (at);

--
-- Name: api_calls_job_at; Type: INDEX; Schema: guestflow; Owner: -
--

CREATE INDEX api_calls_job_at ON guestflow.api_calls USING btree (job, at);

--
-- Name: batches_due; Type: INDEX; Schema: guestflow; Owner: -
--

CREATE INDEX batches_due ON guestflow.batches USING btree (job, next_attempt_at, id) WHERE (state = 'open'::text);

--
-- Name: connection_events_partner_pending; Type: INDEX; Schema: guestflow; Owner: -
--

CREATE INDEX connection_events_partner_pending ON guestflow.connection_events USING btree (connection_id) WHERE (partner_notice AND (partner_to IS NOT NULL) AND (partner_told_at IS NULL));

--
-- Name: connections_partner_live; Type: INDEX; Schema: guestflow; Owner: -
--

CREATE INDEX connections_partner_live ON guestflow.connections USING btree (partner, property_id) WHERE (status = 'live'::text);

--
-- Name: consents_in_force; Type: INDEX; Schema: guestflow; Owner: -
--

CREATE UNIQUE INDEX consents_in_force ON guestflow.consents USING btree (connection_id) WHERE (ended_at IS NULL);

--
-- Name: contacts_role; Type: INDEX; Schema: guestflow; Owner: -
--

CREATE INDEX contacts_role ON guestflow.contacts USING btree (role, job);

--
-- Name: deliveries_batch; Type: INDEX; Schema: guestflow; Owner: -
--

CREATE INDEX deliveries_batch ON guestflow.deliveries USING btree (batch_id);

--
-- Name: deliveries_history_pending; Type: INDEX; Schema: guestflow; Owner: -
--

CREATE INDEX deliveries_history_pending ON guestflow.deliveries USING btree (job) WHERE (history_pending IS NOT NULL);

--
-- Name: deliveries_unbatched; Type: INDEX; Schema: guestflow; Owner: -
--

CREATE INDEX deliveries_unbatched ON guestflow.deliveries USING btree (job, connection_id) WHERE (batch_id IS NULL);

--
-- Name: partner_events_booking; Type: INDEX; Schema: guestflow; Owner: -
--

CREATE INDEX partner_events_booking ON guestflow.partner_events USING btree (booking_id);

--
-- Name: partner_events_history_pending; Type: INDEX; Schema: guestflow; Owner: -
--

CREATE INDEX partner_events_history_pending ON guestflow.partner_events USING btree (job) WHERE (history_pending IS NOT NULL);

--
-- Name: partner_events_once; Type: INDEX; Schema: guestflow; Owner: -
--

CREATE UNIQUE INDEX partner_events_once ON guestflow.partner_events USING btree (connection_id, type, COALESCE(at, '-infinity'::timestamp with time zone), hashtextextended(booking_no, (0)::bigint), hashtextextended(COALESCE(batch_key, ''::text), (0)::bigint));

--
-- Name: runs_job_started; Type: INDEX; Schema: guestflow; Owner: -
--

CREATE INDEX runs_job_started ON guestflow.runs USING btree (job, started_at DESC);

--
-- Name: secret_keys_current; Type: INDEX; Schema: guestflow; Owner: -
--

CREATE UNIQUE INDEX secret_keys_current ON guestflow.secret_keys USING btree ((true)) WHERE (retired_at IS NULL);

--
-- Name: suppression_removals_email; Type: INDEX; Schema: guestflow; Owner: -
--

CREATE INDEX suppression_removals_email ON guestflow.suppression_removals USING btree (email);

--
-- Name: suppression_removals_event; Type: INDEX; Schema: guestflow; Owner: -
--

CREATE INDEX suppression_removals_event ON guestflow.suppression_removals USING btree (event_id);

--
-- Name: suppressions_event; Type: INDEX; Schema: guestflow; Owner: -
--

CREATE INDEX suppressions_event ON guestflow.suppressions USING btree (event_id);

--
-- Name: connections connection_ended; Type: TRIGGER; Schema: guestflow; Owner: -
--

CREATE TRIGGER connection_ended AFTER UPDATE OF status ON guestflow.connections FOR EACH ROW WHEN (((old.status = 'live'::text) AND (new.status <> 'live'::text))) EXECUTE FUNCTION guestflow.connection_ended_notify();

--
-- Name: alert_events alert_events_connection_id_fkey; Type: FK CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.alert_events
    ADD CONSTRAINT alert_events_connection_id_fkey FOREIGN KEY (connection_id) REFERENCES guestflow.connections(id) ON DELETE CASCADE;

--
-- Name: alert_events alert_events_run_id_fkey; Type: FK CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.alert_events
    ADD CONSTRAINT alert_events_run_id_fkey FOREIGN KEY (run_id) REFERENCES guestflow.runs(id);

--
-- Name: api_calls api_calls_batch_id_fkey; Type: FK CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.api_calls
    ADD CONSTRAINT api_calls_batch_id_fkey FOREIGN KEY (batch_id) REFERENCES guestflow.batches(id);

--
-- Name: api_calls api_calls_connection_id_fkey; Type: FK CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.api_calls
    ADD CONSTRAINT api_calls_connection_id_fkey FOREIGN KEY (connection_id) REFERENCES guestflow.connections(id);

--
-- Name: api_calls api_calls_run_id_fkey; Type: FK CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.api_calls
    ADD CONSTRAINT api_calls_run_id_fkey FOREIGN KEY (run_id) REFERENCES guestflow.runs(id);

--
-- Name: batches batches_connection_id_fkey; Type: FK CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.batches
    ADD CONSTRAINT batches_connection_id_fkey FOREIGN KEY (connection_id) REFERENCES guestflow.connections(id);

--
-- Name: batches batches_created_run_id_fkey; Type: FK CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.batches
    ADD CONSTRAINT batches_created_run_id_fkey FOREIGN KEY (created_run_id) REFERENCES guestflow.runs(id);

--
-- Name: batches batches_parent_id_fkey; Type: FK CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.batches
    ADD CONSTRAINT batches_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES guestflow.batches(id);

--
-- Name: connection_events connection_events_connection_id_fkey; Type: FK CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.connection_events
    ADD CONSTRAINT connection_events_connection_id_fkey FOREIGN KEY (connection_id) REFERENCES guestflow.connections(id) ON DELETE CASCADE;

--
-- Name: connections connections_partner_fkey; Type: FK CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.connections
    ADD CONSTRAINT connections_partner_fkey FOREIGN KEY (partner) REFERENCES guestflow.partners(id);

--
-- Name: consents consents_connection_id_fkey; Type: FK CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.consents
    ADD CONSTRAINT consents_connection_id_fkey FOREIGN KEY (connection_id) REFERENCES guestflow.connections(id) ON DELETE CASCADE;

--
-- Name: contacts contacts_connection_id_fkey; Type: FK CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.contacts
    ADD CONSTRAINT contacts_connection_id_fkey FOREIGN KEY (connection_id) REFERENCES guestflow.connections(id) ON DELETE CASCADE;

--
-- Name: deliveries deliveries_connection_id_fkey; Type: FK CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.deliveries
    ADD CONSTRAINT deliveries_connection_id_fkey FOREIGN KEY (connection_id) REFERENCES guestflow.connections(id);

--
-- Name: partner_events partner_events_connection_id_fkey; Type: FK CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.partner_events
    ADD CONSTRAINT partner_events_connection_id_fkey FOREIGN KEY (connection_id) REFERENCES guestflow.connections(id) ON DELETE CASCADE;

--
-- Name: status_map status_map_partner_fkey; Type: FK CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.status_map
    ADD CONSTRAINT status_map_partner_fkey FOREIGN KEY (partner) REFERENCES guestflow.partners(id);

--
-- Name: suppression_removals suppression_removals_event_id_fkey; Type: FK CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.suppression_removals
    ADD CONSTRAINT suppression_removals_event_id_fkey FOREIGN KEY (event_id) REFERENCES guestflow.partner_events(id) ON DELETE SET NULL;

--
-- Name: suppressions suppressions_event_id_fkey; Type: FK CONSTRAINT; Schema: guestflow; Owner: -
--

ALTER TABLE ONLY guestflow.suppressions
    ADD CONSTRAINT suppressions_event_id_fkey FOREIGN KEY (event_id) REFERENCES guestflow.partner_events(id) ON DELETE SET NULL;

--
-- PostgreSQL database dump complete
--
