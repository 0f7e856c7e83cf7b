-- Client secrets by version, so an application can have several active at
-- once (callbacks carry one signature per active secret). Only digests are
-- stored; Convene re-derives the secrets from its instance key to sign.
CREATE TABLE application_secrets (
    hash            TEXT PRIMARY KEY,
    application_id  TEXT NOT NULL REFERENCES applications(id),
    version         BIGINT NOT NULL,
    active          BOOLEAN NOT NULL,
    created_ms      BIGINT NOT NULL,
    UNIQUE (application_id, version)
);
INSERT INTO application_secrets (hash, application_id, version, active, created_ms)
    SELECT secret_hash, id, 1, TRUE, created_ms FROM applications;

ALTER TABLE notifications ADD COLUMN dispatched BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX notifications_pending ON notifications (dispatched, created_ms);

CREATE TABLE channels (
    id                      TEXT PRIMARY KEY,  -- chn_…
    account_id              TEXT NOT NULL REFERENCES accounts(id),
    application_id          TEXT NOT NULL REFERENCES applications(id),
    callback_url            TEXT NOT NULL,
    filters_json            TEXT NOT NULL,
    conversations_enabled   BOOLEAN NOT NULL,
    closed                  BOOLEAN NOT NULL,
    created_ms              BIGINT NOT NULL
);
CREATE INDEX channels_account ON channels (account_id, closed);

-- One row per callback to make; attempts are claimed with a lease so that
-- several Convene processes never send the same attempt twice.
CREATE TABLE deliveries (
    id               TEXT PRIMARY KEY,  -- dlv_…, sent as Convene-Delivery-Id
    application_id   TEXT NOT NULL REFERENCES applications(id),
    notification_id  TEXT,
    channel_id       TEXT,
    kind             TEXT NOT NULL,
    url              TEXT NOT NULL,
    body             TEXT NOT NULL,     -- the exact bytes sent and signed
    state            TEXT NOT NULL,     -- pending | delivered | failed
    attempts         BIGINT NOT NULL,
    next_attempt_ms  BIGINT NOT NULL,
    locked_until_ms  BIGINT NOT NULL,
    last_status      BIGINT,
    last_error       TEXT,
    replay_of        TEXT,
    created_ms       BIGINT NOT NULL,
    delivered_ms     BIGINT
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_ms);
CREATE INDEX deliveries_app ON deliveries (application_id, created_ms);
