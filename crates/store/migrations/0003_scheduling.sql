-- Templates (edited by admins) and scheduling requests made from them.
CREATE TABLE scheduling_templates (
    id                      TEXT PRIMARY KEY,  -- sgr_…
    organizational_unit_id  TEXT NOT NULL REFERENCES organizational_units(id),
    name                    TEXT NOT NULL,
    body_json               TEXT NOT NULL,     -- host, groups, event, duration, window…
    deleted                 BOOLEAN NOT NULL,
    created_ms              BIGINT NOT NULL,
    updated_ms              BIGINT NOT NULL
);
CREATE INDEX scheduling_templates_ou ON scheduling_templates (organizational_unit_id, deleted);

CREATE TABLE scheduling_requests (
    id                      TEXT PRIMARY KEY,  -- srq_…
    application_id          TEXT NOT NULL REFERENCES applications(id),
    organizational_unit_id  TEXT NOT NULL REFERENCES organizational_units(id),
    template_id             TEXT,
    state                   TEXT NOT NULL,     -- pending | pending_rescheduling | complete | expired | cancelled
    token_hash              TEXT NOT NULL UNIQUE, -- digest of the recipient link token
    spec_json               TEXT NOT NULL,     -- the resolved request: groups, event, window, recipients
    booking_json            TEXT,              -- the chosen slot and the members booked
    history_json            TEXT NOT NULL,     -- state changes, for the dashboard
    window_end_ms           BIGINT NOT NULL,
    created_ms              BIGINT NOT NULL,
    updated_ms              BIGINT NOT NULL
);
CREATE INDEX scheduling_requests_ou ON scheduling_requests (organizational_unit_id, state, created_ms);

-- Per-installation secrets (the key that derives recipient link tokens),
-- created on first start unless CONVENE_SECRET_KEY is set.
CREATE TABLE instance_secrets (
    name        TEXT PRIMARY KEY,
    value       TEXT NOT NULL
);
