-- Instants are BIGINT milliseconds since the Unix epoch (UTC); zones are IANA names.
CREATE TABLE organizational_units (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_ms  BIGINT NOT NULL
);

CREATE TABLE applications (
    id                      TEXT PRIMARY KEY, -- the public client_id
    name                    TEXT NOT NULL,
    organizational_unit_id  TEXT NOT NULL REFERENCES organizational_units(id),
    secret_hash             TEXT NOT NULL UNIQUE,
    webhook_url             TEXT,
    created_ms              BIGINT NOT NULL
);

CREATE TABLE accounts (
    id                       TEXT PRIMARY KEY,
    application_id           TEXT NOT NULL REFERENCES applications(id),
    application_calendar_id  TEXT,
    email                    TEXT NOT NULL,
    name                     TEXT NOT NULL,
    default_tzid             TEXT NOT NULL,
    last_booked_ms           BIGINT,
    created_ms               BIGINT NOT NULL,
    UNIQUE (application_id, application_calendar_id)
);

CREATE TABLE profiles (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    name        TEXT NOT NULL,
    created_ms  BIGINT NOT NULL
);

CREATE TABLE calendars (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts(id),
    profile_id   TEXT NOT NULL REFERENCES profiles(id),
    name         TEXT NOT NULL,
    color        TEXT,
    is_primary   BOOLEAN NOT NULL,
    created_ms   BIGINT NOT NULL,
    UNIQUE (account_id, name)
);

CREATE TABLE tokens (
    hash            TEXT PRIMARY KEY, -- SHA-256 of the token; the token itself is never stored
    kind            TEXT NOT NULL,    -- 'access' | 'refresh'
    account_id      TEXT NOT NULL REFERENCES accounts(id),
    application_id  TEXT NOT NULL REFERENCES applications(id),
    expires_ms      BIGINT,
    revoked         BOOLEAN NOT NULL,
    created_ms      BIGINT NOT NULL
);
CREATE INDEX tokens_account ON tokens (account_id);

CREATE TABLE events (
    event_uid        TEXT PRIMARY KEY,
    calendar_id      TEXT NOT NULL REFERENCES calendars(id),
    account_id       TEXT NOT NULL REFERENCES accounts(id),
    event_id         TEXT,            -- the caller's id for managed events
    summary          TEXT NOT NULL,
    description      TEXT NOT NULL,
    start_ms         BIGINT NOT NULL,
    end_ms           BIGINT NOT NULL,
    start_date       TEXT,            -- set for all-day events: the Date as given
    end_date         TEXT,
    tzid             TEXT NOT NULL,
    transparency     TEXT NOT NULL,   -- 'opaque' | 'transparent'
    status           TEXT NOT NULL,   -- 'confirmed' | 'tentative' | 'cancelled'
    participation    TEXT NOT NULL,   -- the account's own participation status
    body_json        TEXT NOT NULL,   -- location, attendees, url… as given, for read-back
    deleted          BOOLEAN NOT NULL,
    created_ms       BIGINT NOT NULL,
    updated_ms       BIGINT NOT NULL,
    UNIQUE (calendar_id, event_id)
);
-- "busy intervals of these accounts between A and B"
CREATE INDEX events_busy ON events (account_id, start_ms, end_ms);
CREATE INDEX events_updated ON events (account_id, updated_ms);

CREATE TABLE availability_rules (
    account_id          TEXT NOT NULL REFERENCES accounts(id),
    rule_id             TEXT NOT NULL,
    tzid                TEXT NOT NULL,
    calendar_ids_json   TEXT,
    weekly_periods_json TEXT NOT NULL,
    updated_ms          BIGINT NOT NULL,
    PRIMARY KEY (account_id, rule_id)
);

CREATE TABLE available_periods (
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    period_id   TEXT NOT NULL,
    start_ms    BIGINT NOT NULL,
    end_ms      BIGINT NOT NULL,
    updated_ms  BIGINT NOT NULL,
    PRIMARY KEY (account_id, period_id)
);
CREATE INDEX available_periods_time ON available_periods (account_id, start_ms);

-- Durable outbox: written in the same transaction as the change that causes it.
CREATE TABLE notifications (
    id              TEXT PRIMARY KEY,
    application_id  TEXT NOT NULL REFERENCES applications(id),
    account_id      TEXT,
    kind            TEXT NOT NULL,
    subject_id      TEXT,
    payload_json    TEXT NOT NULL,
    created_ms      BIGINT NOT NULL
);
CREATE INDEX notifications_app ON notifications (application_id, created_ms);
