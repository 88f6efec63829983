//! The SQLite group-commit writer: a thread of its own with a rusqlite connection.
//!
//! Why not sqlx here: sqlx runs each SQLite statement on a worker thread and hands the result
//! back across threads, and on a busy two-core machine those hand-offs cost more than the
//! statements themselves (a batch took ~0.9 ms, of which the fsync was 0.3). This thread runs a
//! whole batch (begin, a few multi-row statements, commit) without leaving it. Everything else
//! (reads, rare writes, migrations) still goes through sqlx; the SQL is the same.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::types::ToSql;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokio::sync::mpsc;

use super::StoreError;
use super::commit::{
    ADVANCE_HEAD, ADVANCE_TAIL, Answer, Backlog, Claim, Commit, CommitOutcome, Conflict,
    EXECUTION_VALUES, Fair, Guard, INSERT_EXECUTION_HEAD, INSERT_EXECUTION_TAIL, Item, Job,
    PROBE_SQL, RECORD_VERSION_SQL, ROWS_PER_STATEMENT, RecordRead, RecordVersion, SideWrite,
    UPSERT_STEP_RUN_HEAD, UPSERT_STEP_RUN_TAIL, WriteError, refused_side_write, settle,
    still_as_read,
};
use super::executions::{CONTROL_SQL, RESUME_SQL};
use super::health::Health;
use super::record_writes::{
    Current, INSERT_EVENT_SQL, Param, RecordOp, RecordResult, Refusal, SELECT_ACTIVITY_SQL,
    SELECT_KEY_OWNER_SQL, SELECT_RECORD_SQL, activity_to_read, event_params, plan,
};
use super::records::{ActivityRow, RecordRow};
use super::rows::{ExecutionRow, StepRunRow};

/// Open the writer's connection and start its thread.
pub(crate) fn spawn(
    path: &Path,
    mut rx: mpsc::UnboundedReceiver<Item>,
    health: Arc<Health>,
) -> Result<(), StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| {
        StoreError::Io(std::io::Error::other(format!(
            "opening {} to write: {e}",
            path.display()
        )))
    })?;
    let setup = || -> rusqlite::Result<()> {
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "wal")?;
        // FULL: every commit is fsynced; a crash loses nothing that was acknowledged.
        conn.pragma_update(None, "synchronous", "full")?;
        conn.set_prepared_statement_cache_capacity(512);
        Ok(())
    };
    setup().map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))?;
    std::thread::Builder::new()
        .name("flowbox-sqlite-writer".into())
        .spawn(move || {
            let mut conn = conn;
            let mut backlog = Backlog::default();
            loop {
                if backlog.is_empty() {
                    match rx.blocking_recv() {
                        Some(item) => backlog.push(item),
                        None => return,
                    }
                }
                let batch = backlog.next_batch(&mut rx);
                let started = std::time::Instant::now();
                let span = super::commit::span(batch.len());
                let result = span.in_scope(|| apply_batch(&mut conn, &batch));
                crate::telemetry::commit(batch.len(), started.elapsed());
                if let Some(items) = settle(batch, result, &health) {
                    for item in items {
                        let one = vec![item];
                        let result = apply_batch(&mut conn, &one);
                        settle(one, result, &health);
                    }
                }
            }
        })?;
    Ok(())
}

/// `(?, ?, ...), (?, ?, ...)` for `rows` rows of `columns` values.
fn placeholders(rows: usize, columns: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; rows].join(", ")
}

fn execution_values(e: &ExecutionRow) -> [&dyn ToSql; EXECUTION_VALUES] {
    [
        &e.id,
        &e.workflow,
        &e.version,
        &e.status,
        &e.record_object,
        &e.record_id,
        &e.parent_id,
        &e.input,
        &e.output,
        &e.error,
        &e.state,
        &e.seq,
        &e.wake_at,
        &e.control,
        &e.pause_reason,
        &e.lease_owner,
        &e.lease_until,
        &e.event_at,
        &e.created_at,
        &e.updated_at,
        &e.ended_at,
        &e.cause,
        &e.exclusive,
        &e.trace,
    ]
}

fn step_run_values(r: &StepRunRow) -> [&dyn ToSql; 15] {
    [
        &r.execution_id,
        &r.seq,
        &r.step_id,
        &r.kind,
        &r.status,
        &r.attempt,
        &r.input,
        &r.output,
        &r.error,
        &r.detail,
        &r.logs,
        &r.fuel,
        &r.memory_peak,
        &r.started_at,
        &r.ended_at,
    ]
}

/// Apply a batch in one immediate transaction, with the same semantics as the PostgreSQL
/// writer (see [`super::pg_writer`]): plain commits with multi-row statements, the ones that
/// read or write records each alone inside a savepoint, then the record and probe jobs. A
/// failure rolls the whole transaction back (rusqlite's `Transaction` does on drop).
fn apply_batch(conn: &mut Connection, batch: &[Item]) -> Result<Vec<Answer>, WriteError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let commits: Vec<&Commit> = batch
        .iter()
        .filter_map(|(job, _)| match job {
            Job::Commit(c) => Some(c),
            _ => None,
        })
        .collect();
    let mut outcomes = vec![CommitOutcome::default(); commits.len()];
    let (guarded, plain): (Vec<usize>, Vec<usize>) =
        (0..commits.len()).partition(|&i| commits[i].is_guarded());
    apply_commits(&tx, &commits, &plain, &mut outcomes)?;
    for i in guarded {
        tx.execute_batch("SAVEPOINT guarded")?;
        let conflict = match check_reads(&tx, &commits[i].reads)? {
            Err(stale) => Some(stale),
            Ok(()) => apply_commits(&tx, &commits, &[i], &mut outcomes)?.map(Conflict::Refused),
        };
        if let Some(conflict) = conflict {
            tx.execute_batch("ROLLBACK TO SAVEPOINT guarded")?;
            outcomes[i] = CommitOutcome {
                applied: false,
                control: None,
                conflict: Some(conflict),
            };
        }
        tx.execute_batch("RELEASE SAVEPOINT guarded")?;
    }
    let mut outcomes = outcomes.into_iter();
    let mut answers = Vec::with_capacity(batch.len());
    for (job, _) in batch {
        answers.push(match job {
            Job::Commit(_) => Answer::Commit(outcomes.next().unwrap_or_default()),
            Job::Records(ops) => Answer::Records(
                ops.iter()
                    .map(|op| record_op(&tx, op))
                    .collect::<rusqlite::Result<_>>()?,
            ),
            Job::Probe { node, now } => {
                tx.prepare_cached(PROBE_SQL)?
                    .execute(rusqlite::params![node, now])?;
                Answer::Probe
            }
            Job::Claim(c) => {
                let mut ids: Vec<String> = Vec::new();
                let mut taken_over = 0;
                for (step, (sql, takes)) in Claim::statements(false).into_iter().enumerate() {
                    let quota = c.share(step, ids.len());
                    if quota <= 0 {
                        break;
                    }
                    let mut left = quota;
                    if let Some(fair) = Claim::fair(step) {
                        left -= claim_fair(&tx, c, fair, quota, &mut ids)?;
                    }
                    if left > 0 {
                        let params: [&dyn ToSql; 5] =
                            [&c.owner, &c.lease_until, &c.now, &left, &c.alive_since];
                        let mut claim = tx.prepare_cached(&sql)?;
                        let got =
                            claim.query_map(&params[..takes], |row| row.get::<_, String>(0))?;
                        for id in got {
                            ids.push(id?);
                        }
                    }
                    if step == 0 {
                        taken_over = ids.len();
                    }
                }
                Answer::Claimed { ids, taken_over }
            }
        });
    }
    tx.commit()?;
    Ok(answers)
}

/// Each workflow's share of `quota` (see [`Claim::fair`]): how many it claimed.
fn claim_fair(
    tx: &rusqlite::Transaction<'_>,
    c: &Claim,
    fair: Fair,
    quota: i64,
    ids: &mut Vec<String>,
) -> rusqlite::Result<i64> {
    let workflows: Vec<String> = tx
        .prepare_cached(fair.workflows_sql(false))?
        .query_map([c.now], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let share = Claim::fair_share(quota, workflows.len());
    let mut claimed = 0;
    if share == 0 {
        return Ok(claimed);
    }
    let mut claim = tx.prepare_cached(&fair.claim_sql(false))?;
    for workflow in &workflows {
        let take = share.min(quota - claimed);
        if take <= 0 {
            break;
        }
        let params: [&dyn ToSql; 5] = [&c.owner, &c.lease_until, &c.now, &take, workflow];
        for id in claim.query_map(&params[..], |row| row.get::<_, String>(0))? {
            ids.push(id?);
            claimed += 1;
        }
    }
    Ok(claimed)
}

/// Whether every record a step read is still as it read it.
fn check_reads(
    tx: &rusqlite::Transaction<'_>,
    reads: &[RecordRead],
) -> rusqlite::Result<Result<(), Conflict>> {
    for read in reads {
        let now = optional(tx.prepare_cached(RECORD_VERSION_SQL)?.query_row(
            rusqlite::params![read.object, read.id],
            |r| {
                Ok(RecordVersion {
                    version: r.get(0)?,
                    created_at: r.get(1)?,
                })
            },
        ))?;
        if let Err(stale) = still_as_read(read, now) {
            return Ok(Err(stale));
        }
    }
    Ok(Ok(()))
}

/// Insert the new executions among `which`, advance the others (each only if its guard holds),
/// then upsert the step runs of those that applied, then their side writes. A record write
/// refused on the way stops there and is returned (the caller rolls back).
fn apply_commits(
    tx: &rusqlite::Transaction<'_>,
    commits: &[&Commit],
    which: &[usize],
    outcomes: &mut [CommitOutcome],
) -> rusqlite::Result<Option<Refusal>> {
    let inserts: Vec<usize> = which
        .iter()
        .copied()
        .filter(|&i| commits[i].guard == Guard::Insert)
        .collect();
    let advances: Vec<usize> = which
        .iter()
        .copied()
        .filter(|&i| commits[i].guard != Guard::Insert)
        .collect();
    for chunk in inserts.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "{INSERT_EXECUTION_HEAD} VALUES {}{INSERT_EXECUTION_TAIL}",
            placeholders(chunk.len(), EXECUTION_VALUES)
        );
        let values: Vec<&dyn ToSql> = chunk
            .iter()
            .flat_map(|&i| execution_values(&commits[i].execution))
            .collect();
        let mut stmt = tx.prepare_cached(&sql)?;
        let inserted: std::collections::HashSet<String> = stmt
            .query_map(values.as_slice(), |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for &i in chunk {
            outcomes[i].applied = inserted.contains(&commits[i].execution.id);
        }
    }

    for chunk in advances.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "{ADVANCE_HEAD} VALUES {}{ADVANCE_TAIL}",
            placeholders(chunk.len(), 15)
        );
        let guards: Vec<(i64, &str)> = chunk
            .iter()
            .map(|&i| match &commits[i].guard {
                Guard::Advance { seq, owner } => (*seq, owner.as_str()),
                Guard::Insert => (-1, ""),
            })
            .collect();
        let mut values: Vec<&dyn ToSql> = Vec::with_capacity(chunk.len() * 15);
        for (k, &i) in chunk.iter().enumerate() {
            let (c, e) = (commits[i], &commits[i].execution);
            values.extend_from_slice(&[
                &e.id,
                &e.status,
                &e.output,
                &e.error,
                &e.state,
                &e.seq,
                &e.wake_at,
                &e.pause_reason,
                &e.lease_owner,
                &e.lease_until,
                &e.updated_at,
                &e.ended_at,
                &c.clear_control,
                &guards[k].0,
                &guards[k].1,
            ]);
        }
        let mut stmt = tx.prepare_cached(&sql)?;
        let found: HashMap<String, Option<String>> = stmt
            .query_map(values.as_slice(), |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for &i in chunk {
            if let Some(control) = found.get(&commits[i].execution.id) {
                outcomes[i] = CommitOutcome {
                    applied: true,
                    control: control.clone(),
                    conflict: None,
                };
            }
        }
    }

    let runs: Vec<&StepRunRow> = which
        .iter()
        .filter(|&&i| outcomes[i].applied)
        .flat_map(|&i| commits[i].step_runs.iter())
        .collect();
    for chunk in runs.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "{UPSERT_STEP_RUN_HEAD} VALUES {}{UPSERT_STEP_RUN_TAIL}",
            placeholders(chunk.len(), 15)
        );
        let values: Vec<&dyn ToSql> = chunk.iter().flat_map(|r| step_run_values(r)).collect();
        tx.prepare_cached(&sql)?.execute(values.as_slice())?;
    }

    for &i in which {
        let (c, o) = (commits[i], &outcomes[i]);
        if !o.applied {
            continue;
        }
        for w in &c.side_writes {
            match w {
                SideWrite::InsertExecution(child) => {
                    let sql = format!(
                        "{INSERT_EXECUTION_HEAD} VALUES {} ON CONFLICT DO NOTHING",
                        placeholders(1, EXECUTION_VALUES)
                    );
                    tx.prepare_cached(&sql)?
                        .execute(execution_values(child).as_slice())?;
                }
                SideWrite::Control { id, control, now } => {
                    tx.prepare_cached(CONTROL_SQL)?
                        .execute(rusqlite::params![control, now, id])?;
                }
                SideWrite::Resume { id, now } => {
                    tx.prepare_cached(RESUME_SQL)?.execute(rusqlite::params![
                        now,
                        id,
                        None::<String>
                    ])?;
                }
                SideWrite::Record(op) => {
                    if let Err(refused) = record_op(tx, op)? {
                        refused_side_write(&c.execution.id, &refused);
                        return Ok(Some(refused));
                    }
                }
                SideWrite::Notify(n) => {
                    tx.prepare_cached(super::teams::INSERT_NOTIFICATION_SQL)?
                        .execute(rusqlite::params![
                            n.team,
                            n.channel,
                            n.text,
                            n.data,
                            n.execution_id,
                            n.step_id,
                            n.created_at
                        ])?;
                }
                SideWrite::Notice(n) => {
                    tx.prepare_cached(super::notices::INSERT_NOTICE_SQL)?
                        .execute(rusqlite::params![
                            n.execution_id,
                            n.step_id,
                            n.kind,
                            n.target,
                            n.payload,
                            n.created_at
                        ])?;
                }
            }
        }
    }
    Ok(None)
}

impl ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Param::Text(v) => v.to_sql(),
            Param::Int(v) => v.to_sql(),
        }
    }
}

fn optional<T>(r: rusqlite::Result<T>) -> rusqlite::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Apply one record write (see [`super::record_writes`]). This thread is SQLite's only writer
/// inside an immediate transaction: nothing changes the rows between these reads and writes.
fn record_op(tx: &rusqlite::Transaction<'_>, op: &RecordOp) -> rusqlite::Result<RecordResult> {
    let record = optional(tx.prepare_cached(SELECT_RECORD_SQL)?.query_row(
        rusqlite::params![op.object, op.id],
        |r| {
            Ok(RecordRow {
                object: r.get(0)?,
                id: r.get(1)?,
                fields: r.get(2)?,
                created_at: r.get(3)?,
                updated_at: r.get(4)?,
                archived_at: r.get(5)?,
                version: r.get(6)?,
            })
        },
    ))?;
    let activity = match activity_to_read(op) {
        Some(id) => optional(tx.prepare_cached(SELECT_ACTIVITY_SQL)?.query_row(
            rusqlite::params![id],
            |r| {
                Ok(ActivityRow {
                    id: r.get(0)?,
                    object: r.get(1)?,
                    record_id: r.get(2)?,
                    kind: r.get(3)?,
                    subject: r.get(4)?,
                    details: r.get(5)?,
                    due_at: r.get(6)?,
                    done_at: r.get(7)?,
                    past_due_at: r.get(8)?,
                    created_at: r.get(9)?,
                    updated_at: r.get(10)?,
                })
            },
        ))?,
        None => None,
    };
    let mut plan = match plan(op, Current { record, activity }) {
        Ok(plan) => plan,
        Err(refused) => return Ok(Err(refused)),
    };
    for (field, value) in &plan.keys_taken {
        let owner: Option<String> = optional(
            tx.prepare_cached(SELECT_KEY_OWNER_SQL)?
                .query_row(rusqlite::params![op.object, field, value], |r| r.get(0)),
        )?;
        if let Some(other) = owner.filter(|o| *o != op.id) {
            return Ok(Err(Refusal::Duplicate {
                object: op.object.clone(),
                field: field.clone(),
                value: value.clone(),
                other,
            }));
        }
    }
    for s in &plan.stmts {
        let params: Vec<&dyn ToSql> = s.params.iter().map(|p| p as &dyn ToSql).collect();
        tx.prepare_cached(s.sql)?.execute(params.as_slice())?;
    }
    if let Some(mut event) = plan.event.take() {
        let values = event_params(&event);
        let params: Vec<&dyn ToSql> = values.iter().map(|p| p as &dyn ToSql).collect();
        event.id = tx
            .prepare_cached(INSERT_EVENT_SQL)?
            .query_row(params.as_slice(), |r| r.get(0))?;
        plan.written.event = Some(event);
    }
    Ok(Ok(plan.written))
}
