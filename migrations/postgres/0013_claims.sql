-- The queue in the order it is claimed (oldest first), so that a claim walks an index instead
-- of sorting every queued execution.
CREATE INDEX executions_queue ON executions (status, created_at);
