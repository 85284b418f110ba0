-- Reruns by hand: a delivery put back in the queue by 'guestflow rerun' is
-- marked, so that its history entry says it was a rerun.
ALTER TABLE guestflow.deliveries ADD COLUMN rerun boolean NOT NULL DEFAULT false;
