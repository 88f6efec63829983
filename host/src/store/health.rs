//! Whether the storage could write the last time this process tried: set by the group-commit
//! writer after every batch, read by `/healthz`, probed by `/readyz`. It also counts the batches
//! that changed something (executions, records), which `GET /v1/changes` waits on.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// The storage cannot write: since when (Unix ms) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Degraded {
    pub since: i64,
    pub cause: String,
}

/// The storage's health as this process last saw it.
#[derive(Debug)]
pub struct Health {
    /// A cheap check for the hot path: most batches find the storage healthy and change nothing.
    bad: AtomicBool,
    degraded: Mutex<Option<Degraded>>,
    /// Batches that changed executions or records, written by this process so far.
    written: tokio::sync::watch::Sender<u64>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            bad: AtomicBool::new(false),
            degraded: Mutex::new(None),
            written: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl Health {
    /// A write failed because of the storage.
    pub(crate) fn failed(&self, cause: &str) {
        let mut d = self.degraded.lock().unwrap_or_else(|e| e.into_inner());
        match d.as_mut() {
            Some(d) => d.cause = cause.to_string(),
            None => {
                tracing::error!(cause, "storage unavailable: writes fail until it is mended");
                *d = Some(Degraded {
                    since: crate::store::millis(std::time::SystemTime::now()),
                    cause: cause.to_string(),
                });
            }
        }
        self.bad.store(true, Ordering::Release);
    }

    /// A write went through.
    pub(crate) fn ok(&self) {
        if !self.bad.load(Ordering::Acquire) {
            return;
        }
        let mut d = self.degraded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(was) = d.take() {
            tracing::info!(since = was.since, "storage writes again");
        }
        self.bad.store(false, Ordering::Release);
    }

    /// A batch changed executions or records.
    pub(crate) fn changed(&self) {
        self.written.send_modify(|n| *n += 1);
    }

    /// The count of batches that changed something, to wait on the next change.
    pub fn written(&self) -> tokio::sync::watch::Receiver<u64> {
        self.written.subscribe()
    }

    /// `None` while healthy.
    pub fn degraded(&self) -> Option<Degraded> {
        if !self.bad.load(Ordering::Acquire) {
            return None;
        }
        self.degraded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
