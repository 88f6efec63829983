-- Waits that come due are claimed fairly across workflows (a share for each workflow with due
-- waits, then the oldest): each share is one walk of this index. It replaces (workflow, status),
-- a prefix of it, so an execution's row keeps the same number of index entries.
DROP INDEX executions_by_workflow_status;
CREATE INDEX executions_by_workflow_status ON executions (workflow, status, wake_at);
