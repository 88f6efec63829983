-- An execution's children (`GET /v1/executions?parent=ID`, the console's execution page). Only
-- the executions that have a parent are in it, so a start without one writes no index entry.
CREATE INDEX executions_by_parent ON executions (parent_id, created_at) WHERE parent_id IS NOT NULL;
