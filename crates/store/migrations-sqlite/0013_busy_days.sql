-- Busy time kept packed: one row per (account, calendar, day of the start
-- in UTC, as start_ms / 86400000 truncated) holding every busy event that
-- starts that day. A cold availability query reads a few dozen of these
-- rows instead of one per event (issue 15: ≤ 1 ms for 5 000 events).
--
-- Triggers on `events` keep it current inside the very statement that
-- changes an event, so every writer in every process maintains it with no
-- code of its own and no extra round trip. This file and its PostgreSQL
-- twin (migrations-postgres/) are the schema's only backend-specific
-- statements: the two dialects write triggers differently.
--
-- `spans` is the concatenation of one entry per event, in no particular
-- order: char(30) start_ms ',' end_ms ',' event_id char(31). An event_id
-- containing either control character is written empty, so it cannot be
-- matched by a query that leaves an event out: it stays busy. An update or
-- delete removes the first entry equal to the old one: the delimiters make
-- it match whole entries only, and equal entries (events without an id at
-- the same times) are interchangeable. `max_end_ms` is at least the largest
-- end among the entries (it never shrinks), so the read finds an event that
-- starts on an earlier day and ends in the window.
CREATE TABLE busy_days (
    account_id  TEXT NOT NULL,
    calendar_id TEXT NOT NULL,
    day         BIGINT NOT NULL,
    max_end_ms  BIGINT NOT NULL,
    spans       TEXT NOT NULL,
    PRIMARY KEY (account_id, calendar_id, day)
);
CREATE INDEX busy_days_read ON busy_days (account_id, day, max_end_ms);

CREATE TRIGGER events_busy_days_insert AFTER INSERT ON events
WHEN NEW.deleted = FALSE AND NEW.transparency = 'opaque' AND NEW.status <> 'cancelled' AND NEW.participation <> 'declined'
BEGIN
    INSERT INTO busy_days (account_id, calendar_id, day, max_end_ms, spans)
    VALUES (NEW.account_id, NEW.calendar_id, NEW.start_ms / 86400000, NEW.end_ms,
        char(30) || NEW.start_ms || ',' || NEW.end_ms || ',' ||
        CASE WHEN NEW.event_id IS NULL OR instr(NEW.event_id, char(30)) > 0 OR instr(NEW.event_id, char(31)) > 0 THEN '' ELSE NEW.event_id END || char(31))
    ON CONFLICT (account_id, calendar_id, day) DO UPDATE
        SET spans = spans || excluded.spans, max_end_ms = max(max_end_ms, excluded.max_end_ms);
END;

-- Only a change of what the entry holds, or of whether the event is busy,
-- touches busy_days: the events upsert sets every column.
CREATE TRIGGER events_busy_days_update AFTER UPDATE ON events
WHEN OLD.account_id IS NOT NEW.account_id OR OLD.calendar_id IS NOT NEW.calendar_id
  OR OLD.event_id IS NOT NEW.event_id
  OR OLD.start_ms IS NOT NEW.start_ms OR OLD.end_ms IS NOT NEW.end_ms
  OR OLD.deleted IS NOT NEW.deleted OR OLD.transparency IS NOT NEW.transparency
  OR OLD.status IS NOT NEW.status OR OLD.participation IS NOT NEW.participation
BEGIN
    UPDATE busy_days SET spans = substr(spans, 1, instr(spans, old.entry) - 1) || substr(spans, instr(spans, old.entry) + length(old.entry))
    FROM (SELECT char(30) || OLD.start_ms || ',' || OLD.end_ms || ',' ||
        CASE WHEN OLD.event_id IS NULL OR instr(OLD.event_id, char(30)) > 0 OR instr(OLD.event_id, char(31)) > 0 THEN '' ELSE OLD.event_id END || char(31) AS entry) AS old
    WHERE account_id = OLD.account_id AND calendar_id = OLD.calendar_id AND day = OLD.start_ms / 86400000
      AND instr(spans, old.entry) > 0
      AND OLD.deleted = FALSE AND OLD.transparency = 'opaque' AND OLD.status <> 'cancelled' AND OLD.participation <> 'declined';
    INSERT INTO busy_days (account_id, calendar_id, day, max_end_ms, spans)
    SELECT NEW.account_id, NEW.calendar_id, NEW.start_ms / 86400000, NEW.end_ms,
        char(30) || NEW.start_ms || ',' || NEW.end_ms || ',' ||
        CASE WHEN NEW.event_id IS NULL OR instr(NEW.event_id, char(30)) > 0 OR instr(NEW.event_id, char(31)) > 0 THEN '' ELSE NEW.event_id END || char(31)
    WHERE NEW.deleted = FALSE AND NEW.transparency = 'opaque' AND NEW.status <> 'cancelled' AND NEW.participation <> 'declined'
    ON CONFLICT (account_id, calendar_id, day) DO UPDATE
        SET spans = spans || excluded.spans, max_end_ms = max(max_end_ms, excluded.max_end_ms);
END;

CREATE TRIGGER events_busy_days_delete AFTER DELETE ON events
WHEN OLD.deleted = FALSE AND OLD.transparency = 'opaque' AND OLD.status <> 'cancelled' AND OLD.participation <> 'declined'
BEGIN
    UPDATE busy_days SET spans = substr(spans, 1, instr(spans, old.entry) - 1) || substr(spans, instr(spans, old.entry) + length(old.entry))
    FROM (SELECT char(30) || OLD.start_ms || ',' || OLD.end_ms || ',' ||
        CASE WHEN OLD.event_id IS NULL OR instr(OLD.event_id, char(30)) > 0 OR instr(OLD.event_id, char(31)) > 0 THEN '' ELSE OLD.event_id END || char(31) AS entry) AS old
    WHERE account_id = OLD.account_id AND calendar_id = OLD.calendar_id AND day = OLD.start_ms / 86400000
      AND instr(spans, old.entry) > 0;
END;

-- The events already stored.
INSERT INTO busy_days (account_id, calendar_id, day, max_end_ms, spans)
SELECT account_id, calendar_id, start_ms / 86400000, max(end_ms), group_concat(
        char(30) || start_ms || ',' || end_ms || ',' ||
        CASE WHEN event_id IS NULL OR instr(event_id, char(30)) > 0 OR instr(event_id, char(31)) > 0 THEN '' ELSE event_id END || char(31), '')
FROM events
WHERE deleted = FALSE AND transparency = 'opaque' AND status <> 'cancelled' AND participation <> 'declined'
GROUP BY account_id, calendar_id, start_ms / 86400000;
