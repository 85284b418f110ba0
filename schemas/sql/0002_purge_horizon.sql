-- The purge's horizon, per job: bookings checked out before it may have had
-- their deliveries deleted by 'guestflow purge' (out of the window, older than
-- retention.deliveries). No plan reaches back before it, whatever
-- selection.window says later: a window widened after a purge would
-- otherwise find those bookings without a delivery and send them again.
-- Only a rerun (an operator's explicit request) sends them.
CREATE TABLE guestflow.purge_horizons (
    job                 text PRIMARY KEY,
    checked_out_before  timestamptz NOT NULL,
    purged_at           timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE guestflow.purge_horizons IS
    'per job: bookings checked out before checked_out_before may have had their deliveries purged; plans do not reach back before it';
