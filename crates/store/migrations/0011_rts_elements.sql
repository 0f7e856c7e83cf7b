-- Real-Time Scheduling links (and the add-to-calendar and sequencing links
-- made the same way) and UI Elements element tokens.
CREATE TABLE rts_links (
    id                      TEXT PRIMARY KEY,  -- sch_…
    application_id          TEXT NOT NULL REFERENCES applications(id),
    organizational_unit_id  TEXT NOT NULL REFERENCES organizational_units(id),
    kind                    TEXT NOT NULL,     -- scheduling | add_to_calendar
    status                  TEXT NOT NULL,     -- open | completed | disabled
    token_hash              TEXT NOT NULL UNIQUE, -- digest of the link token
    spec_json               TEXT NOT NULL,     -- the query, event, targets and URLs
    booking_json            TEXT,              -- the chosen slot, once completed
    display_message         TEXT,              -- shown on a disabled link
    window_end_ms           BIGINT NOT NULL,
    created_ms              BIGINT NOT NULL,
    updated_ms              BIGINT NOT NULL
);
CREATE INDEX rts_links_app ON rts_links (application_id, created_ms);

-- Short-lived tokens the UI Elements send as `?et=`; only digests are kept.
CREATE TABLE element_tokens (
    token_hash          TEXT PRIMARY KEY,
    application_id      TEXT NOT NULL REFERENCES applications(id),
    permissions_json    TEXT NOT NULL,
    subs_json           TEXT NOT NULL,
    origin              TEXT NOT NULL,
    expires_ms          BIGINT NOT NULL,
    created_ms          BIGINT NOT NULL
);
CREATE INDEX element_tokens_expiry ON element_tokens (expires_ms);

-- Organizational Unit authorization (scope organizational_unit_scheduler):
-- the codes an OU admin grants an application at /oauth/authorize, and the
-- access and refresh tokens they are exchanged for. Only digests are kept.
CREATE TABLE ou_grants (
    hash                    TEXT PRIMARY KEY,
    kind                    TEXT NOT NULL,     -- code | access | refresh
    application_id          TEXT NOT NULL REFERENCES applications(id),
    organizational_unit_id  TEXT NOT NULL REFERENCES organizational_units(id),
    redirect_uri            TEXT,              -- a code's, checked at exchange
    expires_ms              BIGINT,
    used                    BOOLEAN NOT NULL,  -- a code is exchanged once
    created_ms              BIGINT NOT NULL
);
