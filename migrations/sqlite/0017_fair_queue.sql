-- Queued starts are claimed fairly across workflows too (see 0016): a workflow's share of its
-- queue, oldest first, walks this index with `wake_at` null and `created_at` in order, instead of
-- sorting all the workflow's queued rows. It replaces (workflow, status, wake_at), a prefix of it.
DROP INDEX executions_by_workflow_status;
CREATE INDEX executions_by_workflow_status ON executions (workflow, status, wake_at, created_at);
