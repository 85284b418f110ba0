-- A run sends the batches it claimed as slots free up: seconds after the
-- claim found their connection live, longer when the partner is slow. A
-- connection stopped or deactivated meanwhile (the property's consent
-- withdrawn, an operator's stop, the automatic stop of another run) must
-- get nothing more that has not started: the change is announced on the
-- channel guestflow_connection_ended (the connection's id), on which every
-- run listens, giving back what it holds of that connection. A trigger, so
-- that a change made by SQL is announced too.
CREATE FUNCTION guestflow.connection_ended_notify() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM pg_notify('guestflow_connection_ended', NEW.id::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER connection_ended AFTER UPDATE OF status ON guestflow.connections
    FOR EACH ROW WHEN (OLD.status = 'live' AND NEW.status <> 'live')
    EXECUTE FUNCTION guestflow.connection_ended_notify();
