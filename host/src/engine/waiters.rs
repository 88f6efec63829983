//! Callers waiting for executions to end (start-and-wait, `?wait=`).
//!
//! An execution that ends on this node hands its row to its waiters at once. One that ends
//! anywhere else (another node that woke it after a delay, or a cancel written by another
//! execution's step) is found by [`watch`]: one query for every execution waited on, a few
//! times a second, only while someone waits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use super::Inner;
use super::state::status;
use crate::store::ExecutionRow;

/// How a wait ends: the execution's final row, or the storage failure that stopped it.
pub(crate) type WaitEnd = Result<ExecutionRow, String>;

/// Waiters by execution id.
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    by_id: Mutex<HashMap<String, Vec<oneshot::Sender<WaitEnd>>>>,
}

impl Waiters {
    /// Wait for `id` to end.
    pub(crate) fn add(&self, id: &str) -> oneshot::Receiver<WaitEnd> {
        let (tx, rx) = oneshot::channel();
        self.lock().entry(id.to_string()).or_default().push(tx);
        rx
    }

    /// The execution ended: hand its row to everyone waiting for it.
    pub(crate) fn finished(&self, row: &ExecutionRow) {
        for tx in self.lock().remove(&row.id).into_iter().flatten() {
            let _ = tx.send(Ok(row.clone()));
        }
    }

    /// The storage failed while driving the execution: its waiters hear why, now.
    pub(crate) fn failed(&self, id: &str, cause: &str) {
        for tx in self.lock().remove(id).into_iter().flatten() {
            let _ = tx.send(Err(cause.to_string()));
        }
    }

    /// Forget the waiters of `id` that stopped waiting.
    pub(crate) fn drop_gone(&self, id: &str) {
        let mut by_id = self.lock();
        if let Some(list) = by_id.get_mut(id) {
            list.retain(|tx| !tx.is_closed());
            if list.is_empty() {
                by_id.remove(id);
            }
        }
    }

    fn ids(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<oneshot::Sender<WaitEnd>>>> {
        self.by_id.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Look for executions that ended where this node could not see it: every 100 ms on
/// PostgreSQL (other nodes), every 500 ms on SQLite (only side writes of other executions).
pub(crate) fn watch(inner: Arc<Inner>) {
    let every = if inner.store.is_sqlite() {
        Duration::from_millis(500)
    } else {
        Duration::from_millis(100)
    };
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let ids = inner.waiters.ids();
            if ids.is_empty() {
                continue;
            }
            match inner.store.ended_among(&ids).await {
                Ok(rows) => {
                    for row in rows.iter().filter(|r| status::is_final(&r.status)) {
                        inner.waiters.finished(row);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not look for ended executions"),
            }
        }
    });
}
