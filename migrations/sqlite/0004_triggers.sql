-- Triggers: what caused each execution (with the chain of workflows that led to it), one
-- unfinished execution per record for workflows that do not allow re-entry, and workflows
-- that can be switched off (events from while one was off are ignored).

ALTER TABLE executions ADD COLUMN cause TEXT;
ALTER TABLE executions ADD COLUMN exclusive BOOLEAN NOT NULL DEFAULT FALSE;
CREATE UNIQUE INDEX executions_one_per_record ON executions (workflow, record_object, record_id)
    WHERE exclusive AND status IN ('queued', 'running', 'waiting', 'paused');

ALTER TABLE workflow_heads ADD COLUMN enabled BOOLEAN NOT NULL DEFAULT TRUE;
-- Events before this time (Unix ms), or committed before it (the newest event id then), are
-- not the workflow's: it was off, or did not exist.
ALTER TABLE workflow_heads ADD COLUMN enabled_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workflow_heads ADD COLUMN enabled_after_event INTEGER NOT NULL DEFAULT 0;
