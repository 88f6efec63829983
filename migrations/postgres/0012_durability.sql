-- Each write of a record bumps its version. A step's commit checks that the records it read
-- are still at the versions it saw, so read-modify-write through steps loses no update.
ALTER TABLE records ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

-- The nodes serving this database, by their stable ids: when each started, and when it last
-- wrote (its readiness probe writes here).
CREATE TABLE nodes (
    id          TEXT    PRIMARY KEY,
    started_at  BIGINT  NOT NULL,
    seen_at     BIGINT  NOT NULL
);
