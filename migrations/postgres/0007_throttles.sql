-- Throttles: a workflow's limits on concurrent executions and on starts per minute (from its
-- newest version), and when each execution started (left the queue).
ALTER TABLE workflow_heads ADD COLUMN max_concurrent BIGINT;
ALTER TABLE workflow_heads ADD COLUMN max_per_minute BIGINT;
ALTER TABLE executions ADD COLUMN started_at BIGINT;
CREATE INDEX executions_by_workflow_status ON executions (workflow, status);
