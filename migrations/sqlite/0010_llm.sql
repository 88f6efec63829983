-- Model providers behind the `llm` capability (OpenAI-compatible endpoints). The API key is
-- never stored: `api_key_env` names the server's environment variable that holds it.
CREATE TABLE llm_providers (
    name                  TEXT    PRIMARY KEY,
    base_url              TEXT    NOT NULL,
    api_key_env           TEXT,
    default_model         TEXT    NOT NULL,
    transcription_model   TEXT,
    timeout_ms            INTEGER NOT NULL,
    max_retries           INTEGER NOT NULL,
    requests_per_minute   INTEGER,
    workflow_daily_tokens INTEGER,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
);

-- Tokens spent per provider, workflow and UTC day: the budgets are checked against it.
CREATE TABLE llm_usage (
    provider  TEXT    NOT NULL,
    workflow  TEXT    NOT NULL,
    day       TEXT    NOT NULL,
    tokens    INTEGER NOT NULL,
    calls     INTEGER NOT NULL,
    PRIMARY KEY (provider, workflow, day)
);
