-- Teams: members in rotation order (owners of records) and the channels notifications go to.
CREATE TABLE teams (
    name        TEXT    PRIMARY KEY,
    members     TEXT    NOT NULL,
    channels    TEXT    NOT NULL,
    -- How many round-robin picks were made: the next one is members[rotation % len].
    rotation    BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- The member the rotation gave a step, so that a retry of the step gets the same one.
CREATE TABLE team_picks (
    execution_id TEXT    NOT NULL,
    step_id      TEXT    NOT NULL,
    team         TEXT    NOT NULL,
    member       TEXT    NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (execution_id, step_id, team)
);

-- Notifications posted to a team's channels, written with the result of the step that posted.
CREATE TABLE notifications (
    id           BIGSERIAL PRIMARY KEY,
    team         TEXT    NOT NULL,
    channel      TEXT    NOT NULL,
    text         TEXT    NOT NULL,
    data         TEXT,
    execution_id TEXT,
    step_id      TEXT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX notifications_by_channel ON notifications (team, channel, id);
