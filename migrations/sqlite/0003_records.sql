-- Object types, typed records with archive, unique keys, activities, and the record events
-- every write leaves (in the same transaction) for triggers and goals to evaluate.

CREATE TABLE objects (
    name        TEXT    PRIMARY KEY,
    definition  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

ALTER TABLE records ADD COLUMN archived_at INTEGER;

-- The values of the fields an object type marks unique: one record per value.
CREATE TABLE record_keys (
    object     TEXT NOT NULL,
    field      TEXT NOT NULL,
    value      TEXT NOT NULL,
    record_id  TEXT NOT NULL,
    PRIMARY KEY (object, field, value)
);
CREATE INDEX record_keys_by_record ON record_keys (object, record_id);

CREATE TABLE activities (
    id           TEXT    PRIMARY KEY,
    object       TEXT    NOT NULL,
    record_id    TEXT    NOT NULL,
    type         TEXT    NOT NULL,
    subject      TEXT,
    details      TEXT,
    due_at       INTEGER,
    done_at      INTEGER,
    -- When its past-due event was recorded (once).
    past_due_at  INTEGER,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX activities_by_record ON activities (object, record_id, created_at);
CREATE INDEX activities_open_due ON activities (due_at) WHERE done_at IS NULL AND past_due_at IS NULL;

-- kind: created, updated, stage_changed, form_submitted, archived, unarchived, deleted,
-- activity_scheduled, activity_logged, activity_past_due.
-- changes: {"field": {"old": ..., "new": ...}}; record: the fields after the write (before, for
-- deleted); detail: the activity or the form; cause: who or what wrote it, with the chain of
-- executions that led to it. evaluated_at / outcome: when triggers and goals looked at it, and
-- what they started or met.
CREATE TABLE record_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    object        TEXT    NOT NULL,
    record_id     TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    changes       TEXT,
    record        TEXT,
    detail        TEXT,
    cause         TEXT    NOT NULL,
    at            INTEGER NOT NULL,
    evaluated_at  INTEGER,
    outcome       TEXT
);
CREATE INDEX record_events_pending ON record_events (id) WHERE evaluated_at IS NULL;
CREATE INDEX record_events_by_record ON record_events (object, record_id, id);
