//! Record events across PostgreSQL nodes: a batch that writes record events says so in its own
//! transaction (`NOTIFY`, delivered when it commits), and every node listens, so that its
//! evaluator looks at once rather than at its next poll. SQLite has one process, which wakes
//! its own evaluator: nothing to say.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;

use super::{Db, Store};

/// The channel record events are announced on.
const EVENTS_CHANNEL: &str = "flowbox_events";

/// Announce record events (inside the transaction that writes them).
pub(crate) const NOTIFY_EVENTS_SQL: &str = "SELECT pg_notify('flowbox_events', '')";

impl Store {
    /// Call `wake` whenever a node (this one too) commits record events. PostgreSQL only. A
    /// notification lost with a connection is made up for by calling `wake` on reconnecting,
    /// and by the evaluator's own poll.
    pub fn on_events_committed(&self, wake: impl Fn() + Send + Sync + 'static) {
        let Db::Postgres(pool) = &self.db else {
            return;
        };
        let pool = pool.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = listen(&pool, &wake).await {
                    tracing::warn!(error = %e, "listening for other nodes' record events failed; retrying");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                wake();
            }
        });
    }
}

async fn listen(pool: &PgPool, wake: &(impl Fn() + Send + Sync)) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(EVENTS_CHANNEL).await?;
    loop {
        // `None`: the connection was lost, and what was said meanwhile with it; the next call
        // connects and listens again.
        listener.try_recv().await?;
        wake();
    }
}
