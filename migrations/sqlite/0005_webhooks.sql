-- Each webhook trigger's own URL token and secret, kept across versions of its workflow.
CREATE TABLE webhooks (
    workflow    TEXT    NOT NULL,
    trigger_id  TEXT    NOT NULL,
    token       TEXT    NOT NULL UNIQUE,
    secret      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (workflow, trigger_id)
);
