-- Timed triggers: the next run of each cron trigger, and the one future run per record of each
-- date-field trigger (a run is a row, not a sleeping task).

CREATE TABLE schedules (
    workflow    TEXT    NOT NULL,
    trigger_id  TEXT    NOT NULL,
    next_at     INTEGER NOT NULL,
    PRIMARY KEY (workflow, trigger_id)
);
CREATE INDEX schedules_due ON schedules (next_at);

CREATE TABLE date_runs (
    workflow    TEXT    NOT NULL,
    trigger_id  TEXT    NOT NULL,
    object      TEXT    NOT NULL,
    record_id   TEXT    NOT NULL,
    run_at      INTEGER NOT NULL,
    PRIMARY KEY (workflow, trigger_id, object, record_id)
);
CREATE INDEX date_runs_due ON date_runs (run_at);
