//! What can go wrong in the store, sorted by what a caller can do about it: the database cannot
//! write now (`Unavailable`: retry later, answer 503), or something else failed.

use std::path::PathBuf;

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be written (or reached) now: the disk is full, an I/O error, the file
    /// or server is read-only, the server is gone. Nothing of the failed write was kept; the
    /// same write may work once the cause is mended.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The database refused or failed for another reason.
    #[error("database error: {0}")]
    Db(sqlx::Error),
    /// The group-commit writer failed a write for a reason of its own (not storage).
    #[error("write failed: {0}")]
    Write(String),
    /// Stored data does not read back (written by a bug, or changed by hand).
    #[error("stored data does not read back: {0}")]
    Corrupt(String),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database URL is not one flowbox understands.
    #[error("unsupported database URL `{0}`: use sqlite://PATH or postgres://...")]
    BadUrl(String),
    /// Another flowbox process has the SQLite database open.
    #[error(
        "{0} is in use by another flowbox process (SQLite serves one process; use PostgreSQL for several)"
    )]
    Locked(PathBuf),
    /// The commit writer has stopped.
    #[error("the commit writer has stopped")]
    WriterGone,
    /// I/O around the database files.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    /// Whether the failure is the storage's (full, failing, read-only, unreachable) rather than
    /// the request's.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::WriterGone)
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if sqlx_unavailable(&e) {
            StoreError::Unavailable(e.to_string())
        } else {
            StoreError::Db(e)
        }
    }
}

/// Whether a sqlx error says the storage cannot serve writes now.
pub(crate) fn sqlx_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => {
            let code = d.code().unwrap_or_default();
            if d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                code.parse::<i32>().is_ok_and(sqlite_code_unavailable)
            } else {
                pg_state_unavailable(&code)
            }
        }
        _ => false,
    }
}

/// SQLite's primary result codes that mean the storage, not the statement: BUSY (past the busy
/// timeout), READONLY, IOERR, CORRUPT, FULL, CANTOPEN.
pub(crate) fn sqlite_code_unavailable(code: i32) -> bool {
    matches!(code & 0xff, 5 | 8 | 10 | 11 | 13 | 14)
}

/// PostgreSQL SQLSTATEs of the same kind: connection exceptions (08), insufficient resources
/// (53, disk full among them), operator intervention (57P: shutdown, cannot connect now),
/// system errors (58: I/O), and a read-only transaction (25006: a standby).
fn pg_state_unavailable(state: &str) -> bool {
    state.starts_with("08")
        || state.starts_with("53")
        || state.starts_with("57P")
        || state.starts_with("58")
        || state == "25006"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_codes_by_primary_code() {
        // SQLITE_FULL, SQLITE_IOERR_WRITE (extended), SQLITE_READONLY_DBMOVED (extended).
        for code in [13, 778, 1032] {
            assert!(sqlite_code_unavailable(code), "{code}");
        }
        // SQLITE_CONSTRAINT_UNIQUE, SQLITE_TOOBIG, SQLITE_ERROR: the statement's fault.
        for code in [2067, 18, 1] {
            assert!(!sqlite_code_unavailable(code), "{code}");
        }
    }

    #[test]
    fn postgres_states_by_class() {
        for state in ["53100", "08006", "57P01", "58030", "25006"] {
            assert!(pg_state_unavailable(state), "{state}");
        }
        for state in ["23505", "42P01", "22001"] {
            assert!(!pg_state_unavailable(state), "{state}");
        }
    }
}
