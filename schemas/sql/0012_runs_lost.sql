-- A run that ended without recording its end (killed, its host restarted),
-- found so by a later run of the job on the same host.
--
-- process: the run's process as the kernel knows it, "BOOT_ID PIDNS
-- STARTTIME" (the boot id, the PID namespace, the start in clock ticks
-- after boot: src/base/proc.c), so that a later run tells that very process
-- from another of the same pid, and a restarted host, without comparing
-- clocks; a run of another PID namespace is not judged.
-- lost_at: when a later run found that process gone while the run had not
-- recorded its end. Its finished_at and exit_code stay empty (nobody knows
-- when it ended, nor how); its message says who found it.
-- alerting.failed_runs counts it as failed.
ALTER TABLE guestflow.runs
    ADD COLUMN process text,
    ADD COLUMN lost_at timestamptz;
COMMENT ON COLUMN guestflow.runs.process IS
    'the run''s process: boot id, PID namespace and start in clock ticks after boot (src/base/proc.c)';
COMMENT ON COLUMN guestflow.runs.lost_at IS
    'when a later run on the same host found this run''s process gone without its end recorded (killed, host restarted)';
