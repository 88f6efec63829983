//! The SQLite group-commit writer: a thread of its own with a rusqlite connection.
//!
//! Why not sqlx here: sqlx runs each SQLite statement on a worker thread and hands the result
//! back across threads, and on a busy two-core machine those hand-offs cost more than the
//! statements themselves (a batch took ~0.9 ms, of which the fsync was 0.3). This thread runs a
//! whole batch (begin, a few multi-row statements, commit) without leaving it. Everything else
//! (reads, rare writes, migrations) still goes through sqlx; the SQL is the same.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use rusqlite::types::ToSql;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokio::sync::mpsc;

use super::StoreError;
use super::commit::{
    ADVANCE_HEAD, ADVANCE_TAIL, Commit, CommitOutcome, Guard, INSERT_EXECUTION_HEAD,
    INSERT_RECORD_SQL, MAX_BATCH, ROWS_PER_STATEMENT, Reply, SideWrite, UPDATE_RECORD_SQL,
    UPSERT_STEP_RUN_HEAD, UPSERT_STEP_RUN_TAIL, answer, merge_fields,
};
use super::executions::{CONTROL_SQL, RESUME_SQL};
use super::rows::{ExecutionRow, StepRunRow};

/// Open the writer's connection and start its thread.
pub(crate) fn spawn(
    path: &Path,
    mut rx: mpsc::UnboundedReceiver<(Commit, Reply)>,
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
            while let Some(first) = rx.blocking_recv() {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(item) => batch.push(item),
                        Err(_) => break,
                    }
                }
                let result = apply_batch(&mut conn, &batch);
                answer(batch, result);
            }
        })?;
    Ok(())
}

/// `(?, ?, ...), (?, ?, ...)` for `rows` rows of `columns` values.
fn placeholders(rows: usize, columns: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; rows].join(", ")
}

fn execution_values(e: &ExecutionRow) -> [&dyn ToSql; 21] {
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

/// The same batch semantics as the PostgreSQL writer (see `apply_batch!` in `commit.rs`).
fn apply_batch(
    conn: &mut Connection,
    batch: &[(Commit, Reply)],
) -> rusqlite::Result<Vec<CommitOutcome>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut outcomes = vec![
        CommitOutcome {
            applied: false,
            control: None
        };
        batch.len()
    ];
    let inserts: Vec<usize> = (0..batch.len())
        .filter(|&i| batch[i].0.guard == Guard::Insert)
        .collect();
    let advances: Vec<usize> = (0..batch.len())
        .filter(|&i| batch[i].0.guard != Guard::Insert)
        .collect();

    for chunk in inserts.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "{INSERT_EXECUTION_HEAD} VALUES {}",
            placeholders(chunk.len(), 21)
        );
        let values: Vec<&dyn ToSql> = chunk
            .iter()
            .flat_map(|&i| execution_values(&batch[i].0.execution))
            .collect();
        tx.prepare_cached(&sql)?.execute(values.as_slice())?;
        for &i in chunk {
            outcomes[i].applied = true;
        }
    }

    for chunk in advances.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "{ADVANCE_HEAD} VALUES {}{ADVANCE_TAIL}",
            placeholders(chunk.len(), 15)
        );
        let guards: Vec<(i64, &str)> = chunk
            .iter()
            .map(|&i| match &batch[i].0.guard {
                Guard::Advance { seq, owner } => (*seq, owner.as_str()),
                Guard::Insert => (-1, ""),
            })
            .collect();
        let mut values: Vec<&dyn ToSql> = Vec::with_capacity(chunk.len() * 15);
        for (k, &i) in chunk.iter().enumerate() {
            let (c, e) = (&batch[i].0, &batch[i].0.execution);
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
            if let Some(control) = found.get(&batch[i].0.execution.id) {
                outcomes[i] = CommitOutcome {
                    applied: true,
                    control: control.clone(),
                };
            }
        }
    }

    let runs: Vec<&StepRunRow> = batch
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| o.applied)
        .flat_map(|((c, _), _)| c.step_runs.iter())
        .collect();
    for chunk in runs.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "{UPSERT_STEP_RUN_HEAD} VALUES {}{UPSERT_STEP_RUN_TAIL}",
            placeholders(chunk.len(), 15)
        );
        let values: Vec<&dyn ToSql> = chunk.iter().flat_map(|r| step_run_values(r)).collect();
        tx.prepare_cached(&sql)?.execute(values.as_slice())?;
    }

    for ((c, _), o) in batch.iter().zip(&outcomes) {
        if !o.applied {
            continue;
        }
        for w in &c.side_writes {
            match w {
                SideWrite::InsertExecution(child) => {
                    let sql = format!("{INSERT_EXECUTION_HEAD} VALUES {}", placeholders(1, 21));
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
                SideWrite::UpdateRecord {
                    object,
                    id,
                    fields,
                    now,
                } => {
                    // This thread is SQLite's only writer: nothing can change the row between
                    // this read and the write.
                    let current: Option<String> = tx
                        .prepare_cached("SELECT fields FROM records WHERE object = ?1 AND id = ?2")?
                        .query_row(rusqlite::params![object, id], |r| r.get(0))
                        .map(Some)
                        .or_else(|e| match e {
                            rusqlite::Error::QueryReturnedNoRows => Ok(None),
                            e => Err(e),
                        })?;
                    if let Some(current) = current {
                        let merged = merge_fields(&current, fields);
                        tx.prepare_cached(UPDATE_RECORD_SQL)?
                            .execute(rusqlite::params![merged, now, object, id])?;
                    }
                }
                SideWrite::InsertRecord {
                    object,
                    id,
                    fields,
                    now,
                } => {
                    tx.prepare_cached(INSERT_RECORD_SQL)?
                        .execute(rusqlite::params![object, id, fields, now])?;
                }
            }
        }
    }
    tx.commit()?;
    Ok(outcomes)
}
