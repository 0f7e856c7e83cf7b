-- Bumped in the same transaction as every change to what an account's
-- availability is computed from (events, rules, available periods), so a
-- process may cache that data and know, with one small query, whether it
-- is still current.
ALTER TABLE accounts ADD COLUMN availability_version BIGINT NOT NULL DEFAULT 0;
