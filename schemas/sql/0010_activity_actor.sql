-- Who made a change, as the activity log records it (issue 17 item 9): the
-- Unix user a guestflow command ran as (it sets guestflow.actor for its
-- session), with the database role when that differs; the role alone for
-- a change made by SQL. The automatic stop names itself ('guestflow').
ALTER TABLE guestflow.connection_events ALTER COLUMN actor SET DEFAULT
    coalesce(nullif(current_setting('guestflow.actor', true), '')
             || CASE WHEN current_setting('guestflow.actor', true) = current_user::text THEN ''
                     ELSE ' (database role ' || current_user::text || ')' END,
             current_user::text);
