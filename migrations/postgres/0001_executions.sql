-- flowbox schema, PostgreSQL. Times are Unix milliseconds; JSON is stored as text.

CREATE TABLE workflows (
    name        TEXT    NOT NULL,
    version     BIGINT  NOT NULL,
    definition  TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (name, version)
);

-- One row per workflow name: its newest version and its kill switch.
CREATE TABLE workflow_heads (
    name            TEXT    PRIMARY KEY,
    latest_version  BIGINT  NOT NULL,
    killed          BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at      BIGINT  NOT NULL
);

CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

CREATE TABLE step_modules (
    name        TEXT    PRIMARY KEY,
    hash        TEXT    NOT NULL,
    grants      TEXT    NOT NULL,
    info        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE module_blobs (
    hash   TEXT PRIMARY KEY,
    bytes  BYTEA NOT NULL
);

CREATE TABLE records (
    object      TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    fields      TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (object, id)
);

CREATE TABLE executions (
    id             TEXT    PRIMARY KEY,
    workflow       TEXT    NOT NULL,
    version        BIGINT  NOT NULL,
    status         TEXT    NOT NULL,
    record_object  TEXT,
    record_id      TEXT,
    parent_id      TEXT,
    input          TEXT    NOT NULL,
    output         TEXT,
    error          TEXT,
    -- Position, variables, step outputs, loop counters: everything needed to resume.
    state          TEXT    NOT NULL,
    -- Step runs committed so far; a commit must name the value it read (stale writers lose).
    seq            BIGINT  NOT NULL,
    wake_at        BIGINT,
    control        TEXT,
    pause_reason   TEXT,
    lease_owner    TEXT,
    lease_until    BIGINT,
    event_at       BIGINT  NOT NULL,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    ended_at       BIGINT
);
CREATE INDEX executions_due ON executions (status, wake_at);
CREATE INDEX executions_by_workflow ON executions (workflow, created_at);
CREATE INDEX executions_by_record ON executions (record_object, record_id);
CREATE INDEX executions_by_created ON executions (created_at);

CREATE TABLE step_runs (
    execution_id  TEXT    NOT NULL,
    seq           BIGINT  NOT NULL,
    step_id       TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    attempt       BIGINT  NOT NULL,
    input         TEXT,
    output        TEXT,
    error         TEXT,
    detail        TEXT,
    logs          TEXT,
    fuel          BIGINT,
    memory_peak   BIGINT,
    started_at    BIGINT  NOT NULL,
    ended_at      BIGINT,
    PRIMARY KEY (execution_id, seq)
);
