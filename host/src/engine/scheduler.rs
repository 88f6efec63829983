//! The scheduler: claims due work (queued executions, waits whose time has come, executions
//! whose lease expired) and drives each in a task; keeps this node's leases alive.

use std::sync::Arc;
use std::time::Duration;

use super::{EngineError, Inner, executor};
use crate::store::millis;

/// Claims per pass at most; a full pass is followed at once by another.
const CLAIM_BATCH: i64 = 256;

/// Start the scheduler loop and the lease keeper.
pub(crate) fn spawn(inner: Arc<Inner>) {
    let keeper = inner.clone();
    tokio::spawn(async move { run(inner).await });
    tokio::spawn(async move { keep_leases(keeper).await });
}

async fn run(inner: Arc<Inner>) {
    loop {
        let claimed = match pass(&inner).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "scheduler pass failed");
                0
            }
        };
        if claimed as i64 >= CLAIM_BATCH {
            continue;
        }
        // Sleep until the earliest known timer, the poll interval, or a nudge.
        let now = millis(inner.config.clock.now());
        let next: Option<i64> = inner.store.next_wake().await.unwrap_or_default();
        let timed: Option<i64> = inner.store.next_trigger_time().await.unwrap_or_default();
        let next = match (next, timed) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let known = {
            let mut t = inner.next_timer.lock().unwrap_or_else(|e| e.into_inner());
            *t = next;
            next
        };
        let mut sleep = inner.config.poll_interval;
        if let Some(at) = known {
            sleep = sleep.min(Duration::from_millis(at.saturating_sub(now).max(0) as u64));
        }
        if sleep.is_zero() {
            // Due now, but another node or a pass in flight holds it: do not spin.
            sleep = Duration::from_millis(5);
        }
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = inner.wake_scheduler.notified() => {}
        }
    }
}

/// Claim and start whatever is due now. Returns how many executions were claimed.
pub(crate) async fn pass(inner: &Arc<Inner>) -> Result<usize, EngineError> {
    if let Err(e) = super::schedules::pass(inner).await {
        tracing::warn!(error = %e, "timed triggers failed; retrying");
    }
    let now = millis(inner.config.clock.now());
    let lease_until = now + inner.config.lease.as_millis() as i64;
    let mut rows = inner
        .store
        .claim_due(&inner.config.node_id, now, lease_until, CLAIM_BATCH)
        .await?;
    rows.extend(
        inner
            .store
            .claim_throttled(&inner.config.node_id, now, lease_until, CLAIM_BATCH)
            .await?,
    );
    let n = rows.len();
    for row in rows {
        // `spawn` skips executions this node already drives (a claim only extended their lease).
        executor::spawn(inner.clone(), row, true);
    }
    Ok(n)
}

async fn keep_leases(inner: Arc<Inner>) {
    let every = inner.config.lease / 3;
    loop {
        tokio::time::sleep(every).await;
        let ids: Vec<String> = inner
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        if ids.is_empty() {
            continue;
        }
        let until = millis(inner.config.clock.now()) + inner.config.lease.as_millis() as i64;
        if let Err(e) = inner
            .store
            .renew_leases_of(&inner.config.node_id, &ids, until)
            .await
        {
            tracing::warn!(error = %e, "could not renew leases");
        }
    }
}
