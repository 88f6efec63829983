-- Failure notifications (a workflow's `settings.notify`): one row per target, written in the
-- same commit as the step failure it reports, then delivered (and retried) by the notice
-- dispatcher. The row is the outbox: a failure is reported once however often delivery fails.
CREATE TABLE failure_notices (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id TEXT    NOT NULL,
    step_id      TEXT    NOT NULL,
    kind         TEXT    NOT NULL,  -- team | email | webhook
    target       TEXT    NOT NULL,  -- team/channel, address, or URL
    payload      TEXT    NOT NULL,  -- JSON
    status       TEXT    NOT NULL,  -- pending | sent | failed
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      INTEGER NOT NULL,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    sent_at      INTEGER
);
CREATE INDEX failure_notices_due ON failure_notices (status, next_at);
CREATE INDEX failure_notices_by_execution ON failure_notices (execution_id, id);
