//! The scheduler: claims due work (queued executions, waits whose time has come, executions
//! whose node is gone) as this node's in-flight slots free up, and drives each in a task; and
//! the node's heartbeat, which keeps all of its leases alive at once.
//!
//! A burst of due work (a million timers at 09:00) stays in the database: the scheduler claims
//! at most as many executions as there are free slots ([`EngineConfig::max_in_flight`]), oldest
//! due first, in batches, so memory follows the bound and not the burst. API starts take their
//! slot ahead of the scheduler (see [`Inner::slot`]).
//!
//! [`EngineConfig::max_in_flight`]: super::EngineConfig::max_in_flight

use std::sync::Arc;
use std::time::Duration;

use super::{EngineError, Inner, executor};
use crate::store::millis;

/// Claims per pass at most; a full pass is followed at once by another.
const CLAIM_BATCH: usize = 256;

/// When the slots are what limits the claims, the scheduler waits for a quarter of them to
/// free up (at most a batch), so that one claim (a write: one fsync on SQLite) serves many.
/// The other three quarters keep the node busy meanwhile.
fn refill(max_in_flight: usize) -> usize {
    (max_in_flight / 4).clamp(1, CLAIM_BATCH)
}

/// Start the scheduler loop and the heartbeat.
pub(crate) fn spawn(inner: Arc<Inner>) {
    let heart = inner.clone();
    tokio::spawn(async move { run(inner).await });
    tokio::spawn(async move { heartbeat(heart).await });
}

async fn run(inner: Arc<Inner>) {
    loop {
        match pass_within(&inner, CLAIM_BATCH).await {
            Ok((_, 0)) => {
                // No free slot: claim again once some are.
                wait_for_room(&inner).await;
                continue;
            }
            Ok((claimed, room)) if claimed == room => {
                // Every free slot was filled: more may be due.
                if room < CLAIM_BATCH {
                    wait_for_room(&inner).await;
                }
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "scheduler pass failed"),
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

/// Wait until [`refill`] slots are free (or the poll interval passed: a new timer may be due).
async fn wait_for_room(inner: &Inner) {
    let want = refill(inner.config.max_in_flight);
    let give_up = tokio::time::Instant::now() + inner.config.poll_interval;
    while inner.slots.available_permits() < want {
        tokio::select! {
            _ = inner.slot_freed.notified() => {}
            _ = tokio::time::sleep_until(give_up) => return,
        }
    }
}

/// Claim and start whatever is due now, as far as this node's free slots go. Returns how many
/// executions were claimed.
pub(crate) async fn pass(inner: &Arc<Inner>) -> Result<usize, EngineError> {
    Ok(pass_within(inner, CLAIM_BATCH).await?.0)
}

/// One pass of at most `batch` claims: how many were claimed, and how many could have been.
async fn pass_within(inner: &Arc<Inner>, batch: usize) -> Result<(usize, usize), EngineError> {
    if let Err(e) = super::schedules::pass(inner).await {
        tracing::warn!(error = %e, "timed triggers failed; retrying");
    }
    let room = inner.slots.available_permits().min(batch);
    let Some(mut slots) = (room > 0)
        .then(|| inner.slots.clone().try_acquire_many_owned(room as u32).ok())
        .flatten()
    else {
        return Ok((0, 0));
    };
    let now = millis(inner.config.clock.now());
    let lease = inner.config.lease.as_millis() as i64;
    let node = &inner.config.node_id;
    let claimed = inner
        .store
        .claim_due(node, now, now + lease, now - lease, room as i64)
        .await?;
    let (mut rows, taken_over) = (claimed.rows, claimed.taken_over);
    if rows.len() < room {
        let left = (room - rows.len()) as i64;
        rows.extend(
            inner
                .store
                .claim_throttled(node, now, now + lease, left)
                .await?,
        );
    }
    let n = rows.len();
    if !taken_over.is_empty() {
        crate::telemetry::leases_taken_over(taken_over.len());
        tracing::info!(
            count = taken_over.len(),
            node = %node,
            "took over executions whose node stopped or let them go"
        );
    }
    for row in rows {
        if let Some(wake_at) = row.wake_at.filter(|_| !taken_over.contains(&row.id)) {
            crate::telemetry::timer_fired(
                &row.workflow,
                std::time::Duration::from_millis(now.saturating_sub(wake_at).max(0) as u64),
            );
        }
        let slot = slots.split(1).expect("one slot per claimed row");
        // `spawn` gives the slot back for an execution this node already drives (its claim
        // only extended the lease).
        let origin = if taken_over.contains(&row.id) {
            executor::Origin::TakenOver
        } else {
            executor::Origin::Claimed
        };
        executor::spawn(inner.clone(), row, true, origin, slot);
    }
    Ok((n, room))
}

/// Tell the other nodes this one is alive, every third of a lease: while it is, its claimed
/// executions stay its own, however many there are (one write per node, not per execution).
async fn heartbeat(inner: Arc<Inner>) {
    let every = inner.config.lease / 3;
    loop {
        let now = millis(inner.config.clock.now());
        if let Err(e) = inner.store.writer().probe(&inner.config.node_id, now).await {
            tracing::warn!(error = %e, "could not write this node's heartbeat");
        }
        tokio::time::sleep(every).await;
    }
}
