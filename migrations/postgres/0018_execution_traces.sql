-- An execution's trace (a W3C traceparent), so that each later run of it (after a wait, on
-- another node) joins the trace it started in.
ALTER TABLE executions ADD COLUMN trace TEXT;
