-- One-off data repairs that have run on this database, so a start does not
-- repeat their scans.
CREATE TABLE maintenance (
    name    TEXT PRIMARY KEY,
    done_ms BIGINT NOT NULL
);
