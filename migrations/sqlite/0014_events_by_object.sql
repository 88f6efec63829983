-- Events across records (GET /v1/events?object=), newest first, without sorting the object's
-- every event.
CREATE INDEX record_events_by_object ON record_events (object, id);
