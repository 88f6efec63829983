//! Webhooks: the URL token and secret of each webhook trigger, by workflow and trigger id.

use super::{Store, StoreError, on_db};

/// A webhook trigger's URL token and secret.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookRow {
    pub workflow: String,
    pub trigger_id: String,
    pub token: String,
    pub secret: String,
    pub created_at: i64,
}
from_row!(WebhookRow {
    workflow,
    trigger_id,
    token,
    secret,
    created_at
});

impl Store {
    /// Give a webhook trigger a token and a secret unless it has them.
    pub async fn ensure_webhook(&self, row: &WebhookRow) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO webhooks (workflow, trigger_id, token, secret, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (workflow, trigger_id) DO NOTHING";
        on_db!(&self.db, p => {
            sqlx::query(SQL).bind(&row.workflow).bind(&row.trigger_id).bind(&row.token)
                .bind(&row.secret).bind(row.created_at).execute(p).await?;
        });
        Ok(())
    }

    /// The webhook a URL token belongs to.
    pub async fn webhook_by_token(&self, token: &str) -> Result<Option<WebhookRow>, StoreError> {
        const SQL: &str = "SELECT * FROM webhooks WHERE token = $1";
        Ok(
            on_db!(&self.db, p => sqlx::query_as::<_, WebhookRow>(SQL).bind(token).fetch_optional(p).await?),
        )
    }

    /// A workflow's webhooks.
    pub async fn webhooks_of(&self, workflow: &str) -> Result<Vec<WebhookRow>, StoreError> {
        const SQL: &str = "SELECT * FROM webhooks WHERE workflow = $1 ORDER BY trigger_id";
        Ok(
            on_db!(&self.db, p => sqlx::query_as::<_, WebhookRow>(SQL).bind(workflow).fetch_all(p).await?),
        )
    }

    /// Give a webhook a new token and secret (the old URL stops working). False if none.
    pub async fn rotate_webhook(
        &self,
        workflow: &str,
        trigger_id: &str,
        token: &str,
        secret: &str,
    ) -> Result<bool, StoreError> {
        const SQL: &str =
            "UPDATE webhooks SET token = $1, secret = $2 WHERE workflow = $3 AND trigger_id = $4";
        Ok(
            on_db!(&self.db, p => sqlx::query(SQL).bind(token).bind(secret).bind(workflow)
            .bind(trigger_id).execute(p).await?.rows_affected() > 0),
        )
    }
}
