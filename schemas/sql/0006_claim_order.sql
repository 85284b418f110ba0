-- The claim takes the oldest due batch: an index in exactly that order, so
-- that it reads one entry instead of sorting every open batch of the job.
DROP INDEX guestflow.batches_due;
CREATE INDEX batches_due ON guestflow.batches (job, next_attempt_at, id) WHERE state = 'open';
