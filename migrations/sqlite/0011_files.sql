-- Files, named by the SHA-256 of their bytes: the same bytes uploaded twice are one file, with
-- the name and content type of the first upload.
CREATE TABLE files (
    id           TEXT    PRIMARY KEY,
    name         TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    bytes        BLOB    NOT NULL,
    created_at   INTEGER NOT NULL
);
