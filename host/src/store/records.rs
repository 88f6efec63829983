//! Records (an object type, an id, a JSON object of fields), their activities and events:
//! reads. Writes go through the group-commit writer (see [`super::record_writes`]).

use super::{Store, StoreError, on_db};

/// Which events [`Store::events`] lists.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Of this object type.
    pub object: Option<String>,
    /// Of this kind (`updated`, `stage_changed`, ...).
    pub kind: Option<String>,
    /// At or after this time (Unix ms).
    pub since: Option<i64>,
    /// Older than this event id (the next page).
    pub before: Option<i64>,
    pub limit: i64,
}

/// One record.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordRow {
    pub object: String,
    pub id: String,
    pub fields: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub archived_at: Option<i64>,
    /// Bumped by every write that changes the record (1 when created).
    pub version: i64,
}
from_row!(RecordRow {
    object,
    id,
    fields,
    created_at,
    updated_at,
    archived_at,
    version
});

/// An activity attached to a record: scheduled (a due time, not done) or logged (done).
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityRow {
    pub id: String,
    pub object: String,
    pub record_id: String,
    pub kind: String,
    pub subject: Option<String>,
    /// JSON.
    pub details: Option<String>,
    pub due_at: Option<i64>,
    pub done_at: Option<i64>,
    pub past_due_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}
from_row!(ActivityRow { id, object, record_id, kind = "type", subject, details, due_at, done_at, past_due_at, created_at, updated_at });

/// An event a record write left.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub id: i64,
    pub object: String,
    pub record_id: String,
    pub kind: String,
    /// JSON: `{"field": {"old": ..., "new": ...}}`.
    pub changes: Option<String>,
    /// JSON: the record's fields after the write (before, for a deletion).
    pub record: Option<String>,
    /// JSON: the activity, the form, the stage fields that changed.
    pub detail: Option<String>,
    /// JSON: who or what wrote it.
    pub cause: String,
    pub at: i64,
    pub evaluated_at: Option<i64>,
    /// JSON: what triggers and goals did with it.
    pub outcome: Option<String>,
}
from_row!(EventRow {
    id,
    object,
    record_id,
    kind,
    changes,
    record,
    detail,
    cause,
    at,
    evaluated_at,
    outcome
});

/// Which records a listing includes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Archived {
    /// Only records that are not archived.
    #[default]
    Exclude,
    /// Only archived records.
    Only,
    /// Both.
    Include,
}

const RECORD_COLUMNS: &str = "object, id, fields, created_at, updated_at, archived_at, version";

impl Store {
    /// One record.
    pub async fn record(&self, object: &str, id: &str) -> Result<Option<RecordRow>, StoreError> {
        const SQL: &str = "SELECT object, id, fields, created_at, updated_at, archived_at, version \
             FROM records WHERE object = $1 AND id = $2";
        Ok(
            on_db!(&self.db, p => sqlx::query_as::<_, RecordRow>(SQL).bind(object).bind(id).fetch_optional(p).await?),
        )
    }

    /// Records of an object type in id order, after `after`, at most `limit`.
    pub async fn records_page(
        &self,
        object: &str,
        archived: Archived,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RecordRow>, StoreError> {
        let archived_clause = match archived {
            Archived::Exclude => "AND archived_at IS NULL",
            Archived::Only => "AND archived_at IS NOT NULL",
            Archived::Include => "",
        };
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE object = $1 AND ($2 IS NULL OR id > $2) {archived_clause} \
             ORDER BY id LIMIT $3"
        );
        Ok(
            on_db!(&self.db, p => sqlx::query_as::<_, RecordRow>(sqlx::AssertSqlSafe(sql))
            .bind(object).bind(after).bind(limit).fetch_all(p).await?),
        )
    }

    /// Every record of an object type that is not archived, in id order (read a page at a time).
    pub async fn live_records(&self, object: &str) -> Result<Vec<RecordRow>, StoreError> {
        const PAGE: i64 = 500;
        let mut all: Vec<RecordRow> = Vec::new();
        loop {
            let after = all.last().map(|r| r.id.clone());
            let page = self
                .records_page(object, Archived::Exclude, after.as_deref(), PAGE)
                .await?;
            let done = (page.len() as i64) < PAGE;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

    /// The record whose unique `field` holds `value`.
    pub async fn record_by_key(
        &self,
        object: &str,
        field: &str,
        value: &str,
    ) -> Result<Option<String>, StoreError> {
        const SQL: &str =
            "SELECT record_id FROM record_keys WHERE object = $1 AND field = $2 AND value = $3";
        Ok(on_db!(&self.db, p => sqlx::query_scalar::<_, String>(SQL)
            .bind(object).bind(field).bind(value).fetch_optional(p).await?))
    }

    /// A record's activities, newest first.
    pub async fn activities(
        &self,
        object: &str,
        record_id: &str,
    ) -> Result<Vec<ActivityRow>, StoreError> {
        const SQL: &str = "SELECT * FROM activities WHERE object = $1 AND record_id = $2 \
             ORDER BY created_at DESC, id DESC";
        Ok(on_db!(&self.db, p => sqlx::query_as::<_, ActivityRow>(SQL)
            .bind(object).bind(record_id).fetch_all(p).await?))
    }

    /// One activity.
    pub async fn activity(&self, id: &str) -> Result<Option<ActivityRow>, StoreError> {
        const SQL: &str = "SELECT * FROM activities WHERE id = $1";
        Ok(
            on_db!(&self.db, p => sqlx::query_as::<_, ActivityRow>(SQL).bind(id).fetch_optional(p).await?),
        )
    }

    /// A record's events, newest first, before event `before` if given.
    pub async fn record_events(
        &self,
        object: &str,
        record_id: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<EventRow>, StoreError> {
        const SQL: &str = "SELECT * FROM record_events WHERE object = $1 AND record_id = $2 \
             AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4";
        Ok(on_db!(&self.db, p => sqlx::query_as::<_, EventRow>(SQL)
            .bind(object).bind(record_id).bind(before).bind(limit).fetch_all(p).await?))
    }

    /// Events across records, newest first: those `filter` keeps.
    pub async fn events(&self, filter: &EventFilter) -> Result<Vec<EventRow>, StoreError> {
        const SQL: &str = "SELECT * FROM record_events WHERE ($1 IS NULL OR object = $1) \
             AND ($2 IS NULL OR kind = $2) AND ($3 IS NULL OR at >= $3) AND ($4 IS NULL OR id < $4) \
             ORDER BY id DESC LIMIT $5";
        Ok(on_db!(&self.db, p => sqlx::query_as::<_, EventRow>(SQL)
            .bind(&filter.object).bind(&filter.kind).bind(filter.since).bind(filter.before)
            .bind(filter.limit).fetch_all(p).await?))
    }

    /// Whether any event waits to be evaluated (a read: it takes no write lock).
    pub async fn events_pending(&self) -> Result<bool, StoreError> {
        const SQL: &str = "SELECT id FROM record_events WHERE evaluated_at IS NULL LIMIT 1";
        Ok(
            on_db!(&self.db, p => sqlx::query_scalar::<_, i64>(SQL).fetch_optional(p).await?)
                .is_some(),
        )
    }
}
