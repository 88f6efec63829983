-- Step-module administration: the hosts a module granted `http` may call, and every version a
-- module name has pointed at (by content hash).
ALTER TABLE step_modules ADD COLUMN http_hosts TEXT NOT NULL DEFAULT '[]';

CREATE TABLE module_versions (
    name        TEXT    NOT NULL,
    hash        TEXT    NOT NULL,
    grants      TEXT    NOT NULL,
    http_hosts  TEXT    NOT NULL,
    info        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (name, hash)
);
INSERT INTO module_versions (name, hash, grants, http_hosts, info, created_at)
    SELECT name, hash, grants, http_hosts, info, created_at FROM step_modules;
