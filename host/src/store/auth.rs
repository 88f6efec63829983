//! API tokens (only their SHA-256 is stored) and the audit log.

use super::{Store, StoreError, on_db};

/// One API token.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub hash: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}
from_row!(TokenRow {
    id,
    name,
    role,
    hash,
    created_at,
    revoked_at
});

/// One audited admin action.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    pub id: String,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: Option<String>,
}
from_row!(AuditRow {
    id,
    at,
    actor,
    action,
    target,
    detail
});

impl Store {
    /// Save a new token.
    pub async fn create_token(&self, t: &TokenRow) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO api_tokens (id, name, role, hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)";
        on_db!(&self.db, p => {
            sqlx::query(SQL).bind(&t.id).bind(&t.name).bind(&t.role).bind(&t.hash).bind(t.created_at).bind(t.revoked_at).execute(p).await?;
        });
        Ok(())
    }

    /// The live (not revoked) token with this hash.
    pub async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>, StoreError> {
        const SQL: &str = "SELECT * FROM api_tokens WHERE hash = $1 AND revoked_at IS NULL";
        Ok(
            on_db!(&self.db, p => sqlx::query_as::<_, TokenRow>(SQL).bind(hash).fetch_optional(p).await?),
        )
    }

    /// Every token, newest first.
    pub async fn tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        const SQL: &str = "SELECT * FROM api_tokens ORDER BY created_at DESC";
        Ok(on_db!(&self.db, p => sqlx::query_as::<_, TokenRow>(SQL).fetch_all(p).await?))
    }

    /// Revoke a token. False if there is no such live token.
    pub async fn revoke_token(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        const SQL: &str =
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";
        Ok(
            on_db!(&self.db, p => sqlx::query(SQL).bind(now).bind(id).execute(p).await?.rows_affected() > 0),
        )
    }

    /// How many tokens exist (revoked or not).
    pub async fn token_count(&self) -> Result<i64, StoreError> {
        const SQL: &str = "SELECT COUNT(*) FROM api_tokens";
        Ok(on_db!(&self.db, p => sqlx::query_scalar::<_, i64>(SQL).fetch_one(p).await?))
    }

    /// Record an admin action.
    pub async fn audit(&self, a: &AuditRow) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO audit_log (id, at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6)";
        on_db!(&self.db, p => {
            sqlx::query(SQL).bind(&a.id).bind(a.at).bind(&a.actor).bind(&a.action).bind(&a.target).bind(&a.detail).execute(p).await?;
        });
        Ok(())
    }

    /// The newest audit entries.
    pub async fn audit_log(&self, f: &AuditFilter) -> Result<Vec<AuditRow>, StoreError> {
        const SQL: &str = "SELECT * FROM audit_log WHERE ($1 IS NULL OR action = $1 OR action LIKE $2) \
             AND ($3 IS NULL OR actor LIKE $3 OR actor LIKE $4) AND ($5 IS NULL OR at >= $5) \
             AND ($6 IS NULL OR at < $6 OR (at = $6 AND id < $7)) \
             ORDER BY at DESC, id DESC LIMIT $8";
        // `workflow` also finds `workflow.save`, `workflow.delete`, ...
        let family = f.action.as_ref().map(|a| format!("{a}.%"));
        // The log writes `token:ID (NAME)`: a token's id or its name finds its entries.
        let by_id = f.actor.as_ref().map(|a| format!("token:{a} (%"));
        let by_name = f.actor.as_ref().map(|a| format!("% ({a})"));
        let (before_at, before_id) = f.before.clone().unzip();
        Ok(on_db!(&self.db, p => sqlx::query_as::<_, AuditRow>(SQL)
            .bind(&f.action).bind(family).bind(by_id).bind(by_name).bind(f.since)
            .bind(before_at).bind(before_id).bind(f.limit).fetch_all(p).await?))
    }
}

/// Which audit entries [`Store::audit_log`] lists, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// An action (`workflow.save`), or a family of them (`workflow`).
    pub action: Option<String>,
    /// Who did it (a token's name and id, as the log writes it).
    pub actor: Option<String>,
    /// At or after (Unix ms).
    pub since: Option<i64>,
    /// Older than this entry (its time and id): the next page.
    pub before: Option<(i64, String)>,
    pub limit: i64,
}
