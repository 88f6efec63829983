//! The PostgreSQL group-commit writer: a task that applies batches with pool connections, each
//! batch in one transaction. Several nodes' writers run at once: rows are guarded by their
//! `seq` and lease, and a record a commit checks or writes is locked (`FOR UPDATE`) first.

use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::mpsc;

use super::commit::{
    ADVANCE_HEAD, ADVANCE_TAIL, Answer, Backlog, Claim, Commit, CommitOutcome, Conflict, Fair,
    Guard, INSERT_EXECUTION_HEAD, INSERT_EXECUTION_TAIL, Item, Job, PROBE_SQL, RECORD_VERSION_SQL,
    ROWS_PER_STATEMENT, RecordRead, RecordVersion, SideWrite, UPSERT_STEP_RUN_HEAD,
    UPSERT_STEP_RUN_TAIL, WriteError, refused_side_write, settle, still_as_read,
};
use super::executions::{CONTROL_SQL, INSERT_EXECUTION_SQL, RESUME_SQL, bind_execution};
use super::health::Health;
use super::notify::NOTIFY_EVENTS_SQL;
use super::record_writes::{
    Current, INSERT_EVENT_SQL, Param, RecordOp, RecordResult, Refusal, SELECT_ACTIVITY_SQL,
    SELECT_KEY_OWNER_SQL, SELECT_RECORD_FOR_UPDATE_SQL, activity_to_read, event_params, plan,
};
use super::records::{ActivityRow, RecordRow};
use super::rows::{ExecutionRow, StepRunRow};

use tracing::Instrument as _;

type Db = sqlx::Postgres;

/// Apply batches until every sender is gone.
pub(crate) async fn run(pool: PgPool, mut rx: mpsc::UnboundedReceiver<Item>, health: Arc<Health>) {
    let mut backlog = Backlog::default();
    loop {
        if backlog.is_empty() {
            match rx.recv().await {
                Some(item) => backlog.push(item),
                None => return,
            }
        }
        let batch = backlog.next_batch(&mut rx);
        let started = std::time::Instant::now();
        let result = in_transaction(&pool, &batch)
            .instrument(super::commit::span(batch.len()))
            .await;
        crate::telemetry::commit(batch.len(), started.elapsed());
        if let Some(items) = settle(batch, result, &health) {
            for item in items {
                let one = vec![item];
                let result = in_transaction(&pool, &one).await;
                settle(one, result, &health);
            }
        }
    }
}

async fn in_transaction(pool: &PgPool, batch: &[Item]) -> Result<Vec<Answer>, WriteError> {
    let mut tx = pool.begin().await?;
    let answers = apply(&mut tx, batch).await?;
    tx.commit().await?;
    Ok(answers)
}

/// Apply a batch inside one transaction: the commits that neither read nor write records with a
/// few multi-row statements whatever their number, then each of the others alone inside a
/// savepoint, then the record and probe jobs.
async fn apply(conn: &mut sqlx::PgConnection, batch: &[Item]) -> Result<Vec<Answer>, WriteError> {
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
    apply_commits(conn, &commits, &plain, &mut outcomes).await?;
    for i in guarded {
        sqlx::query("SAVEPOINT guarded").execute(&mut *conn).await?;
        let conflict = match check_reads(conn, &commits[i].reads).await? {
            Err(stale) => Some(stale),
            Ok(()) => apply_commits(conn, &commits, &[i], &mut outcomes)
                .await?
                .map(Conflict::Refused),
        };
        if let Some(conflict) = conflict {
            sqlx::query("ROLLBACK TO SAVEPOINT guarded")
                .execute(&mut *conn)
                .await?;
            outcomes[i] = CommitOutcome {
                applied: false,
                control: None,
                conflict: Some(conflict),
            };
        }
        sqlx::query("RELEASE SAVEPOINT guarded")
            .execute(&mut *conn)
            .await?;
    }

    let writes_events = batch.iter().any(|(job, _)| match job {
        Job::Records(_) => true,
        Job::Commit(c) => c
            .side_writes
            .iter()
            .any(|w| matches!(w, SideWrite::Record(_))),
        _ => false,
    });
    if writes_events {
        sqlx::query(NOTIFY_EVENTS_SQL).execute(&mut *conn).await?;
    }

    let mut outcomes = outcomes.into_iter();
    let mut answers = Vec::with_capacity(batch.len());
    for (job, _) in batch {
        answers.push(match job {
            Job::Commit(_) => Answer::Commit(outcomes.next().unwrap_or_default()),
            Job::Records(ops) => {
                let mut results = Vec::with_capacity(ops.len());
                for op in ops {
                    results.push(record_op(conn, op).await?);
                }
                Answer::Records(results)
            }
            Job::Probe { node, now } => {
                sqlx::query(PROBE_SQL)
                    .bind(node)
                    .bind(*now)
                    .execute(&mut *conn)
                    .await?;
                Answer::Probe
            }
            Job::Claim(c) => {
                let mut ids: Vec<String> = Vec::new();
                let mut taken_over = 0;
                for (step, (sql, takes)) in Claim::statements(true).into_iter().enumerate() {
                    let quota = c.share(step, ids.len());
                    if quota <= 0 {
                        break;
                    }
                    let mut left = quota;
                    if let Some(fair) = Claim::fair(step) {
                        left -= claim_fair(&mut *conn, c, fair, quota, &mut ids).await?;
                    }
                    if left > 0 {
                        let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
                            .bind(&c.owner)
                            .bind(c.lease_until)
                            .bind(c.now)
                            .bind(left);
                        if takes == 5 {
                            q = q.bind(c.alive_since);
                        }
                        ids.extend(q.fetch_all(&mut *conn).await?);
                    }
                    if step == 0 {
                        taken_over = ids.len();
                    }
                }
                Answer::Claimed { ids, taken_over }
            }
        });
    }
    Ok(answers)
}

/// Each workflow's share of `quota` (see [`Claim::fair`]): how many it claimed.
async fn claim_fair(
    conn: &mut sqlx::PgConnection,
    c: &Claim,
    fair: Fair,
    quota: i64,
    ids: &mut Vec<String>,
) -> Result<i64, sqlx::Error> {
    let workflows: Vec<String> = sqlx::query_scalar(fair.workflows_sql(true))
        .bind(c.now)
        .fetch_all(&mut *conn)
        .await?;
    let share = Claim::fair_share(quota, workflows.len());
    let mut claimed = 0;
    if share == 0 {
        return Ok(claimed);
    }
    let sql = fair.claim_sql(true);
    for workflow in &workflows {
        let take = share.min(quota - claimed);
        if take <= 0 {
            break;
        }
        let got: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(&c.owner)
            .bind(c.lease_until)
            .bind(c.now)
            .bind(take)
            .bind(workflow)
            .fetch_all(&mut *conn)
            .await?;
        claimed += got.len() as i64;
        ids.extend(got);
    }
    Ok(claimed)
}

/// Whether every record a step read is still as it read it (each locked until the commit).
async fn check_reads(
    conn: &mut sqlx::PgConnection,
    reads: &[RecordRead],
) -> Result<Result<(), Conflict>, sqlx::Error> {
    for read in reads {
        let now: Option<(i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{RECORD_VERSION_SQL} FOR UPDATE"
        )))
        .bind(&read.object)
        .bind(&read.id)
        .fetch_optional(&mut *conn)
        .await?;
        let now = now.map(|(version, created_at)| RecordVersion {
            version,
            created_at,
        });
        if let Err(stale) = still_as_read(read, now) {
            return Ok(Err(stale));
        }
    }
    Ok(Ok(()))
}

/// Insert the new executions among `which`, advance the others (each only if its guard holds),
/// then upsert the step runs of those that applied, then their side writes. A record write
/// refused on the way stops there and is returned (the caller rolls back).
///
/// Long (about 170 lines) because the statements of one transaction are kept in the order they
/// must run, each batched by kind; the SQLite writer's twin (sqlite_writer.rs) mirrors it.
async fn apply_commits(
    conn: &mut sqlx::PgConnection,
    commits: &[&Commit],
    which: &[usize],
    outcomes: &mut [CommitOutcome],
) -> Result<Option<Refusal>, sqlx::Error> {
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
        let mut q = sqlx::QueryBuilder::<Db>::new(INSERT_EXECUTION_HEAD);
        q.push_values(chunk, |mut b, &i| {
            let e = &commits[i].execution;
            b.push_bind(&e.id)
                .push_bind(&e.workflow)
                .push_bind(e.version)
                .push_bind(&e.status)
                .push_bind(&e.record_object)
                .push_bind(&e.record_id)
                .push_bind(&e.parent_id)
                .push_bind(&e.input)
                .push_bind(&e.output)
                .push_bind(&e.error)
                .push_bind(&e.state)
                .push_bind(e.seq)
                .push_bind(e.wake_at)
                .push_bind(&e.control)
                .push_bind(&e.pause_reason)
                .push_bind(&e.lease_owner)
                .push_bind(e.lease_until)
                .push_bind(e.event_at)
                .push_bind(e.created_at)
                .push_bind(e.updated_at)
                .push_bind(e.ended_at)
                .push_bind(&e.cause)
                .push_bind(e.exclusive)
                .push_bind(&e.trace);
        });
        q.push(INSERT_EXECUTION_TAIL);
        let inserted: Vec<(String,)> = q.build_query_as().fetch_all(&mut *conn).await?;
        let inserted: std::collections::HashSet<String> =
            inserted.into_iter().map(|(id,)| id).collect();
        for &i in chunk {
            outcomes[i].applied = inserted.contains(&commits[i].execution.id);
        }
    }

    for chunk in advances.chunks(ROWS_PER_STATEMENT) {
        let mut q = sqlx::QueryBuilder::<Db>::new(ADVANCE_HEAD);
        q.push_values(chunk, |mut b, &i| {
            let (c, e) = (commits[i], &commits[i].execution);
            let (seq, owner) = match &c.guard {
                Guard::Advance { seq, owner } => (*seq, owner.as_str()),
                Guard::Insert => (-1, ""),
            };
            b.push_bind(&e.id)
                .push_bind(&e.status)
                .push_bind(&e.output)
                .push_bind(&e.error)
                .push_bind(&e.state)
                .push_bind(e.seq)
                .push_bind(e.wake_at)
                .push_bind(&e.pause_reason)
                .push_bind(&e.lease_owner)
                .push_bind(e.lease_until)
                .push_bind(e.updated_at)
                .push_bind(e.ended_at)
                .push_bind(c.clear_control)
                .push_bind(seq)
                .push_bind(owner);
        });
        q.push(ADVANCE_TAIL);
        let rows: Vec<(String, Option<String>)> = q.build_query_as().fetch_all(&mut *conn).await?;
        let found: std::collections::HashMap<String, Option<String>> = rows.into_iter().collect();
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
        let mut q = sqlx::QueryBuilder::<Db>::new(UPSERT_STEP_RUN_HEAD);
        q.push_values(chunk, |mut b, r| {
            b.push_bind(&r.execution_id)
                .push_bind(r.seq)
                .push_bind(&r.step_id)
                .push_bind(&r.kind)
                .push_bind(&r.status)
                .push_bind(r.attempt)
                .push_bind(&r.input)
                .push_bind(&r.output)
                .push_bind(&r.error)
                .push_bind(&r.detail)
                .push_bind(&r.logs)
                .push_bind(r.fuel)
                .push_bind(r.memory_peak)
                .push_bind(r.started_at)
                .push_bind(r.ended_at);
        });
        q.push(UPSERT_STEP_RUN_TAIL);
        q.build().execute(&mut *conn).await?;
    }

    for &i in which {
        let (c, o) = (commits[i], &outcomes[i]);
        if !o.applied {
            continue;
        }
        for w in &c.side_writes {
            match w {
                SideWrite::InsertExecution(child) => {
                    bind_execution!(sqlx::query(INSERT_EXECUTION_SQL), child)
                        .execute(&mut *conn)
                        .await?;
                }
                SideWrite::Control { id, control, now } => {
                    sqlx::query(CONTROL_SQL)
                        .bind(control)
                        .bind(*now)
                        .bind(id)
                        .execute(&mut *conn)
                        .await?;
                }
                SideWrite::Resume { id, now } => {
                    sqlx::query(RESUME_SQL)
                        .bind(*now)
                        .bind(id)
                        .bind(None::<String>)
                        .execute(&mut *conn)
                        .await?;
                }
                SideWrite::Record(op) => {
                    if let Err(refused) = record_op(conn, op).await? {
                        refused_side_write(&c.execution.id, &refused);
                        return Ok(Some(refused));
                    }
                }
                SideWrite::Notify(n) => {
                    sqlx::query(super::teams::INSERT_NOTIFICATION_SQL)
                        .bind(&n.team)
                        .bind(&n.channel)
                        .bind(&n.text)
                        .bind(&n.data)
                        .bind(&n.execution_id)
                        .bind(&n.step_id)
                        .bind(n.created_at)
                        .execute(&mut *conn)
                        .await?;
                }
                SideWrite::Notice(n) => {
                    sqlx::query(super::notices::INSERT_NOTICE_SQL)
                        .bind(&n.execution_id)
                        .bind(&n.step_id)
                        .bind(&n.kind)
                        .bind(&n.target)
                        .bind(&n.payload)
                        .bind(n.created_at)
                        .execute(&mut *conn)
                        .await?;
                }
            }
        }
    }

    Ok(None)
}

/// Bind planned parameters to a query.
macro_rules! bind_params {
    ($q:expr, $params:expr) => {{
        let mut q = $q;
        for p in $params {
            q = match p {
                Param::Text(v) => q.bind(v.as_deref()),
                Param::Int(v) => q.bind(*v),
            };
        }
        q
    }};
}

/// Apply one record write (see [`super::record_writes`]) on PostgreSQL.
async fn record_op(
    conn: &mut sqlx::PgConnection,
    op: &RecordOp,
) -> Result<RecordResult, sqlx::Error> {
    let record = sqlx::query_as::<_, RecordRow>(SELECT_RECORD_FOR_UPDATE_SQL)
        .bind(&op.object)
        .bind(&op.id)
        .fetch_optional(&mut *conn)
        .await?;
    let activity = match activity_to_read(op) {
        Some(id) => {
            sqlx::query_as::<_, ActivityRow>(SELECT_ACTIVITY_SQL)
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?
        }
        None => None,
    };
    let mut plan = match plan(op, Current { record, activity }) {
        Ok(plan) => plan,
        Err(refused) => return Ok(Err(refused)),
    };
    for (field, value) in &plan.keys_taken {
        let owner: Option<String> = sqlx::query_scalar(SELECT_KEY_OWNER_SQL)
            .bind(&op.object)
            .bind(field)
            .bind(value)
            .fetch_optional(&mut *conn)
            .await?;
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
        bind_params!(sqlx::query(s.sql), &s.params)
            .execute(&mut *conn)
            .await?;
    }
    if let Some(mut event) = plan.event.take() {
        let params = event_params(&event);
        let (id,) = bind_params!(sqlx::query_as::<_, (i64,)>(INSERT_EVENT_SQL), &params)
            .fetch_one(&mut *conn)
            .await?;
        event.id = id;
        plan.written.event = Some(event);
    }
    Ok(Ok(plan.written))
}
