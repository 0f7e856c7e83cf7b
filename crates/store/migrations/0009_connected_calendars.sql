-- Connected calendars (issue 11): people's own CalDAV calendars and ICS
-- feeds, connected through /oauth/authorize and synced into `events`.

-- Where an application's authorization flow may send people back to.
CREATE TABLE application_redirect_uris (
    application_id  TEXT NOT NULL REFERENCES applications(id),
    uri             TEXT NOT NULL,
    created_ms      BIGINT NOT NULL,
    PRIMARY KEY (application_id, uri)
);

-- A profile that reads a remote source (profiles without a row here are
-- Convene's own).
CREATE TABLE profile_connections (
    profile_id             TEXT PRIMARY KEY REFERENCES profiles(id),
    account_id             TEXT NOT NULL REFERENCES accounts(id),
    provider_name          TEXT NOT NULL,   -- 'caldav' | 'ics'
    source_url             TEXT NOT NULL,   -- CalDAV calendar home, or the feed
    username               TEXT NOT NULL,
    credentials_enc        TEXT NOT NULL,   -- AEAD(instance-derived key, password); '' for none
    connected              BOOLEAN NOT NULL,
    initial_sync_required  BOOLEAN NOT NULL,
    next_sync_ms           BIGINT NOT NULL,
    lease_until_ms         BIGINT NOT NULL, -- a replica syncing it holds it until then
    last_sync_ms           BIGINT,
    last_error             TEXT,
    created_ms             BIGINT NOT NULL
);
CREATE INDEX profile_connections_due ON profile_connections (next_sync_ms);

-- A calendar of a connected profile: the remote collection it mirrors.
CREATE TABLE provider_calendars (
    calendar_id    TEXT PRIMARY KEY REFERENCES calendars(id),
    profile_id     TEXT NOT NULL REFERENCES profiles(id),
    href           TEXT NOT NULL,           -- absolute URL of the collection (or feed)
    readonly       BOOLEAN NOT NULL,
    deleted        BOOLEAN NOT NULL,
    sync_token     TEXT,                    -- CalDAV sync-collection token
    ctag           TEXT,                    -- CalDAV getctag (servers without sync-collection)
    etag           TEXT,                    -- ICS: the feed's ETag
    last_modified  TEXT,                    -- ICS: the feed's Last-Modified
    full_read_ms   BIGINT,                  -- last time every object was read and expanded
    UNIQUE (profile_id, href)
);

-- One remote calendar object (a .ics resource) and the etag it was read at;
-- its expanded instances are the events whose event_id starts with `prefix`,
-- listed in event_ids_json (so replacing them uses the events' unique index).
CREATE TABLE remote_resources (
    calendar_id     TEXT NOT NULL REFERENCES calendars(id),
    href            TEXT NOT NULL,
    etag            TEXT NOT NULL,
    prefix          TEXT NOT NULL,
    event_ids_json  TEXT NOT NULL,
    PRIMARY KEY (calendar_id, href)
);

-- OAuth authorization codes: only their digest is stored; single use.
CREATE TABLE authorization_codes (
    code_hash       TEXT PRIMARY KEY,
    application_id  TEXT NOT NULL REFERENCES applications(id),
    account_id      TEXT NOT NULL REFERENCES accounts(id),
    profile_id      TEXT NOT NULL REFERENCES profiles(id),
    redirect_uri    TEXT NOT NULL,
    expires_ms      BIGINT NOT NULL,
    used            BOOLEAN NOT NULL,
    created_ms      BIGINT NOT NULL
);

-- Cronofy link tokens: connect another calendar to an existing account.
CREATE TABLE account_link_tokens (
    token_hash      TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts(id),
    application_id  TEXT NOT NULL REFERENCES applications(id),
    expires_ms      BIGINT NOT NULL,
    created_ms      BIGINT NOT NULL
);

-- Write-back: events of a writable CalDAV calendar that changed in Convene
-- and must be written to (or deleted from) the server. Recorded in the
-- transaction that changed the event, so a booking never loses its remote
-- copy: an unreachable server is tried again with backoff.
CREATE TABLE remote_writes (
    calendar_id     TEXT NOT NULL REFERENCES calendars(id),
    event_uid       TEXT NOT NULL,
    due_ms          BIGINT NOT NULL,
    attempts        BIGINT NOT NULL,
    lease_until_ms  BIGINT NOT NULL,
    last_error      TEXT,
    PRIMARY KEY (calendar_id, event_uid)
);
CREATE INDEX remote_writes_due ON remote_writes (due_ms);

-- What Convene wrote to a CalDAV calendar: where, at which etag, and the
-- SEQUENCE it carried.
CREATE TABLE pushed_events (
    event_uid    TEXT PRIMARY KEY,
    calendar_id  TEXT NOT NULL REFERENCES calendars(id),
    href         TEXT NOT NULL,
    etag         TEXT,
    sequence     BIGINT NOT NULL
);
