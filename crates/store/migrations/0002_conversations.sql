-- Scheduling Conversations (contract §3). Instants are BIGINT epoch
-- milliseconds; JSON is TEXT.
CREATE TABLE scheduling_conversations (
    id                      TEXT PRIMARY KEY,  -- scv_…
    application_id          TEXT NOT NULL REFERENCES applications(id),
    organizational_unit_id  TEXT NOT NULL REFERENCES organizational_units(id),
    creator_account_id      TEXT NOT NULL REFERENCES accounts(id),
    tzid                    TEXT NOT NULL,
    subject                 TEXT,
    event_json              TEXT,              -- event template as accepted: {"location": …}
    required_minutes        BIGINT NOT NULL,
    periods_json            TEXT NOT NULL,     -- [[start_ms, end_ms], …] as given
    starts_ms               BIGINT NOT NULL,   -- earliest period start
    ends_ms                 BIGINT NOT NULL,   -- latest period end: the conversation expires here
    status                  TEXT NOT NULL,     -- in_progress | complete | expired
    chosen_start_ms         BIGINT,
    chosen_end_ms           BIGINT,
    version                 BIGINT NOT NULL,   -- bumped by every change (compare-and-set)
    created_ms              BIGINT NOT NULL,
    updated_ms              BIGINT NOT NULL
);
CREATE INDEX scheduling_conversations_open ON scheduling_conversations (status, ends_ms);

CREATE TABLE scheduling_conversation_participants (
    conversation_id       TEXT NOT NULL REFERENCES scheduling_conversations(id),
    position              BIGINT NOT NULL,   -- 0 is the organizer
    participant_id        TEXT,
    sub                   TEXT REFERENCES accounts(id),
    email                 TEXT,
    common_name           TEXT,
    managed_availability  BOOLEAN NOT NULL,
    selection_method      TEXT NOT NULL,     -- auto | manual
    status                TEXT NOT NULL,     -- needs_action | waiting | complete
    token_hash            TEXT NOT NULL UNIQUE, -- digest of the participant's link token
    selected_start_ms     BIGINT,            -- the participant's choice (a proposal until complete)
    selected_end_ms       BIGINT,
    PRIMARY KEY (conversation_id, position)
);
CREATE INDEX scheduling_conversation_participants_sub ON scheduling_conversation_participants (sub);
