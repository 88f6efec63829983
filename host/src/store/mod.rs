//! Persistence, with sqlx: SQLite (the embedded default, one process) or PostgreSQL (many
//! processes). The only SQL in flowbox is here. Every query is written once and runs on either
//! database (`$N` placeholders work on both); the few that differ say so.
//!
//! Writes that advance executions go through the group-commit [`Writer`]: many executions'
//! step results share one transaction and one fsync.

/// `#[derive(sqlx::FromRow)]`, written out: `from_row!(Row { field, field = "column", ... })`
/// after the struct reads each field by its name (or the column named) from SQLite and
/// PostgreSQL rows. sqlx's derive needs its `macros` feature, whose proc-macro builds a second
/// copy of sqlx and of SQLite's C sources: a minute and a half of every clean build. A field
/// left out is a compile error (the struct literal is incomplete).
macro_rules! from_row {
    ($name:ident { $($field:ident $(= $column:literal)?),* $(,)? }) => {
        from_row!(@impl sqlx::sqlite::SqliteRow, $name { $($field $(= $column)?),* });
        from_row!(@impl sqlx::postgres::PgRow, $name { $($field $(= $column)?),* });
    };
    (@impl $row:ty, $name:ident { $($field:ident $(= $column:literal)?),* }) => {
        impl<'r> sqlx::FromRow<'r, $row> for $name {
            fn from_row(row: &'r $row) -> Result<Self, sqlx::Error> {
                use sqlx::Row as _;
                Ok(Self { $($field: row.try_get(from_row!(@column $field $($column)?))?,)* })
            }
        }
    };
    (@column $field:ident) => { stringify!($field) };
    (@column $field:ident $column:literal) => { $column };
}

mod auth;
mod commit;
mod error;
mod evaluation;
mod executions;
mod files;
mod health;
mod llm;
mod modules;
mod notices;
mod notify;
mod objects;
mod pg_writer;
mod record_writes;
mod records;
mod rows;
mod schedules;
mod sqlite_writer;
mod teams;
mod webhooks;
mod workflows;

use std::path::{Path, PathBuf};

use std::str::FromStr;
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use self::auth::{AuditFilter, AuditRow, TokenRow};
pub use self::commit::{
    Commit, CommitOutcome, Conflict, Guard, RecordRead, RecordVersion, SideWrite, Writer,
};
pub use self::error::StoreError;
pub use self::evaluation::{Evaluation, Switch};
pub use self::executions::{Claimed, ExecutionFilter, ExecutionPage};
pub use self::files::FileRow;
pub use self::health::{Degraded, Health};
pub use self::llm::ProviderRow;
pub use self::modules::{ModuleRow, ModuleVersionRow};
pub use self::notices::{NoticeRow, notice_status};
pub use self::objects::ObjectRow;
pub use self::record_writes::{
    RecordAction, RecordOp, RecordResult, RecordSchema, Refusal, Written, event_kind, increment,
};
pub use self::records::{ActivityRow, Archived, EventFilter, EventRow, RecordRow};
pub use self::rows::{ExecutionRow, StepRunRow};
pub use self::schedules::{DateRunRow, ScheduleRow};
pub use self::teams::{NotificationRow, TeamRow};
pub use self::webhooks::WebhookRow;
pub use self::workflows::{WorkflowHead, WorkflowRow};

/// The migrations, embedded: (file name, SQL). `migrations!` lists each file once for both
/// databases; a test checks the list against the folders.
macro_rules! migrations {
    ($($file:literal),* $(,)?) => {
        const SQLITE_MIGRATIONS: &[(&str, &str)] =
            &[$(($file, include_str!(concat!("../../../migrations/sqlite/", $file)))),*];
        const POSTGRES_MIGRATIONS: &[(&str, &str)] =
            &[$(($file, include_str!(concat!("../../../migrations/postgres/", $file)))),*];
    };
}

migrations!(
    "0001_executions.sql",
    "0002_auth.sql",
    "0003_records.sql",
    "0004_triggers.sql",
    "0005_webhooks.sql",
    "0006_schedules.sql",
    "0007_throttles.sql",
    "0008_module_admin.sql",
    "0009_teams.sql",
    "0010_llm.sql",
    "0011_files.sql",
    "0012_durability.sql",
    "0013_claims.sql",
    "0014_events_by_object.sql",
    "0015_failure_notices.sql",
    "0016_fair_waits.sql",
    "0017_fair_queue.sql",
    "0018_execution_traces.sql",
    "0019_executions_by_parent.sql",
);

/// A migrator as `sqlx::migrate!` makes one (which needs sqlx's `macros` feature): version and
/// description from the file name `NNNN_words.sql`, the checksum of the SQL.
fn migrator(files: &[(&'static str, &'static str)]) -> sqlx::migrate::Migrator {
    use sqlx::migrate::{Migration, MigrationType};
    use sqlx::{AssertSqlSafe, SqlSafeStr as _};
    let migrations = files
        .iter()
        .map(|&(file, sql)| {
            let (version, rest) = file.split_once('_').expect("NNNN_name.sql");
            Migration::new(
                version.parse().expect("a numbered migration"),
                rest.trim_end_matches(".sql").replace('_', " ").into(),
                MigrationType::Simple,
                AssertSqlSafe(sql).into_sql_str(),
                sql.starts_with("-- no-transaction"),
            )
        })
        .collect();
    sqlx::migrate::Migrator::with_migrations(migrations)
}

/// Which database, with a pool for reads and occasional writes.
#[derive(Debug, Clone)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Run the same code against whichever pool (or connection) the store has. The body is
/// compiled once per database, so one query text serves both.
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_db;

/// The store: a pool for reads and rare writes, the group-commit writer for execution
/// progress, and (for SQLite) the lock that keeps a second process out.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) db: Db,
    writer: Writer,
    health: std::sync::Arc<Health>,
    _lock: Option<std::sync::Arc<std::fs::File>>,
}

impl Store {
    /// Open (creating a SQLite file if needed) and migrate.
    ///
    /// `url`: `sqlite://PATH` (`sqlite::memory:` is refused: executions must survive a restart)
    /// or `postgres://USER:PASS@HOST/DB`.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            Self::open_sqlite(Path::new(path)).await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::open_postgres(url).await
        } else {
            Err(StoreError::BadUrl(url.to_string()))
        }
    }

    async fn open_sqlite(path: &Path) -> Result<Store, StoreError> {
        if path.as_os_str().is_empty() || path.to_str() == Some(":memory:") {
            return Err(StoreError::BadUrl(format!("sqlite://{}", path.display())));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let lock = lock_file(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: every commit is fsynced; a crash loses nothing that was acknowledged.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(false);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            // A write that fails for lack of room (or an I/O error) makes SQLite roll its
            // transaction back by itself; sqlx's COMMIT and ROLLBACK then fail and it goes on
            // counting the connection as inside a transaction, so every later BEGIN on it
            // would fail, long after the disk has room again. Such a connection is closed
            // instead of being reused. (A transaction dropped on an error path may still be
            // rolling back when it is released: that connection is closed too, which is cheap.)
            .after_release(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
            .before_acquire(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
            .connect_with(options.clone())
            .await?;
        migrator(SQLITE_MIGRATIONS).run(&pool).await?;
        let health = std::sync::Arc::new(Health::default());
        let (queue, jobs) = tokio::sync::mpsc::unbounded_channel();
        sqlite_writer::spawn(path, jobs, health.clone())?;
        let writer = Writer::new(queue);
        Ok(Store {
            db: Db::Sqlite(pool),
            writer,
            health,
            _lock: Some(std::sync::Arc::new(lock)),
        })
    }

    async fn open_postgres(url: &str) -> Result<Store, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            // As for SQLite: a connection left counted inside a transaction is never reused.
            .after_release(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
            .before_acquire(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
            .connect_with(options)
            .await?;
        migrator(POSTGRES_MIGRATIONS).run(&pool).await?;
        let health = std::sync::Arc::new(Health::default());
        let (queue, jobs) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(pg_writer::run(pool.clone(), jobs, health.clone()));
        let writer = Writer::new(queue);
        Ok(Store {
            db: Db::Postgres(pool),
            writer,
            health,
            _lock: None,
        })
    }

    /// Whether this store is SQLite (one process owns every execution).
    pub fn is_sqlite(&self) -> bool {
        matches!(self.db, Db::Sqlite(_))
    }

    /// How to begin a transaction that writes: on SQLite, take the write lock at once, so that a
    /// read followed by a write cannot fail with a busy snapshot.
    pub(crate) fn begin_write(&self) -> &'static str {
        if self.is_sqlite() {
            "BEGIN IMMEDIATE"
        } else {
            "BEGIN"
        }
    }

    /// The group-commit writer.
    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    /// Whether the storage could write the last time this process tried.
    pub fn health(&self) -> &Health {
        &self.health
    }
}

/// Take an exclusive lock beside the database file, so that two processes never run the same
/// SQLite database's executions.
fn lock_file(db: &Path) -> Result<std::fs::File, StoreError> {
    let path = PathBuf::from(format!("{}.lock", db.display()));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked(db.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Io(e)),
    }
}

/// Unix milliseconds of a time.
pub fn millis(t: std::time::SystemTime) -> i64 {
    crate::clock::unix_millis(t) as i64
}

#[cfg(test)]
mod migration_tests {
    use super::{POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};

    fn folder(db: &str) -> Vec<String> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations/");
        let mut names: Vec<String> = std::fs::read_dir(format!("{dir}{db}"))
            .expect("migrations folder")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn every_migration_file_is_embedded() {
        let listed: Vec<String> = SQLITE_MIGRATIONS
            .iter()
            .map(|(f, _)| f.to_string())
            .collect();
        assert_eq!(
            listed,
            folder("sqlite"),
            "add the new file to `migrations!` in store/mod.rs"
        );
        let listed: Vec<String> = POSTGRES_MIGRATIONS
            .iter()
            .map(|(f, _)| f.to_string())
            .collect();
        assert_eq!(listed, folder("postgres"));
    }
}
