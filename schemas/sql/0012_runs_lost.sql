-- A run that ended without recording its end (killed, its host restarted):
-- when a later run of the job on the same host found its process gone
-- (no process of that pid, or one started after the run). Its finished_at
-- and exit_code stay empty (nobody knows when it ended, nor how); its
-- message says who found it. alerting.failed_runs counts it as failed.
ALTER TABLE guestflow.runs ADD COLUMN lost_at timestamptz;
COMMENT ON COLUMN guestflow.runs.lost_at IS
    'when a later run on the same host found this run''s process gone without its end recorded (killed, host restarted)';
