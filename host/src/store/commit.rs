//! Group commit: executions hand their step results to one writer task, which applies all that
//! are waiting in one transaction (one fsync) and answers each.
//!
//! A commit names what it expects to find (the execution's `seq` and this node's lease): a
//! writer that lost its lease, or a step committed twice, changes nothing.

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use super::executions::{CONTROL_SQL, INSERT_EXECUTION_SQL, RESUME_SQL, bind_execution};
use super::record_writes::{
    Current, INSERT_EVENT_SQL, Param, RecordOp, RecordResult, Refusal, SELECT_ACTIVITY_SQL,
    SELECT_KEY_OWNER_SQL, SELECT_RECORD_FOR_UPDATE_SQL, activity_to_read, event_params, plan,
};
use super::records::{ActivityRow, RecordRow};
use super::rows::{ExecutionRow, StepRunRow};

/// The most commits applied in one transaction.
pub(crate) const MAX_BATCH: usize = 256;

/// What a commit must find before it applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guard {
    /// The execution is new: insert it.
    Insert,
    /// The execution has committed `seq` step runs and this node (`owner`) holds its lease.
    Advance { seq: i64, owner: String },
}

/// A write that rides along with an execution's commit, applied only if the commit applies.
#[derive(Debug, Clone, PartialEq)]
pub enum SideWrite {
    /// Start another execution (a child).
    InsertExecution(Box<ExecutionRow>),
    /// Ask another execution to pause or cancel (see [`super::Store::control`]).
    Control {
        id: String,
        control: String,
        now: i64,
    },
    /// Resume a paused execution.
    Resume { id: String, now: i64 },
    /// Write a record (with its event). A write refused by then (the record is gone, a unique
    /// value was taken meanwhile) is skipped and logged; the step checked it when it asked.
    Record(Box<RecordOp>),
    /// Post a notification to a team's channel (its `id` is assigned on insert).
    Notify(Box<super::NotificationRow>),
}

/// One execution's progress: its new row, the step runs to upsert, and side writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    pub guard: Guard,
    pub execution: ExecutionRow,
    /// Whether this commit consumed the pending control request (clears it).
    pub clear_control: bool,
    pub step_runs: Vec<StepRunRow>,
    pub side_writes: Vec<SideWrite>,
}

/// What happened to a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOutcome {
    /// False when the guard did not hold: nothing was written.
    pub applied: bool,
    /// A control request pending on the execution (pause, cancel, met), seen as it committed.
    pub control: Option<String>,
}

/// What the writer is asked to do.
#[derive(Debug)]
// Commits are the hot path (one per step); boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Job {
    /// An execution's progress.
    Commit(Commit),
    /// Record writes from the API, each applied or refused on its own.
    Records(Vec<RecordOp>),
}

/// The writer's answer to a job.
#[derive(Debug)]
pub(crate) enum Answer {
    Commit(CommitOutcome),
    Records(Vec<RecordResult>),
}

pub(crate) type Reply = oneshot::Sender<Result<Answer, String>>;
pub(crate) type Item = (Job, Reply);

/// Handle to the group-commit writer task.
#[derive(Debug, Clone)]
pub struct Writer {
    queue: mpsc::UnboundedSender<Item>,
}

impl Writer {
    /// The writer for SQLite: a thread with a connection of its own (SQLite has one writer at a
    /// time), see [`super::sqlite_writer`].
    pub(crate) fn start_sqlite(path: &std::path::Path) -> Result<Writer, StoreError> {
        let (queue, rx) = mpsc::unbounded_channel();
        super::sqlite_writer::spawn(path, rx)?;
        Ok(Writer { queue })
    }

    /// The writer for PostgreSQL: connections from the pool.
    pub(crate) fn start_postgres(pool: PgPool) -> Writer {
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(run_postgres(pool, rx));
        Writer { queue }
    }

    /// Commit, and wait until it is durable.
    pub async fn commit(&self, commit: Commit) -> Result<CommitOutcome, StoreError> {
        match self.send(Job::Commit(commit)).await? {
            Answer::Commit(outcome) => Ok(outcome),
            Answer::Records(_) => Err(StoreError::WriterGone),
        }
    }

    /// Apply record writes (each applied or refused on its own), and wait until they are durable.
    pub async fn records(&self, ops: Vec<RecordOp>) -> Result<Vec<RecordResult>, StoreError> {
        match self.send(Job::Records(ops)).await? {
            Answer::Records(results) => Ok(results),
            Answer::Commit(_) => Err(StoreError::WriterGone),
        }
    }

    async fn send(&self, job: Job) -> Result<Answer, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.queue
            .send((job, tx))
            .map_err(|_| StoreError::WriterGone)?;
        match rx.await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(message)) => Err(StoreError::Db(sqlx::Error::Protocol(message))),
            Err(_) => Err(StoreError::WriterGone),
        }
    }
}

async fn next_batch(rx: &mut mpsc::UnboundedReceiver<Item>) -> Option<Vec<Item>> {
    let first = rx.recv().await?;
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
    Some(batch)
}

pub(crate) fn answer<E: std::fmt::Display>(batch: Vec<Item>, result: Result<Vec<Answer>, E>) {
    match result {
        Ok(outcomes) => {
            for ((_, reply), outcome) in batch.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, commits = batch.len(), "group commit failed");
            for (_, reply) in batch {
                let _ = reply.send(Err(e.to_string()));
            }
        }
    }
}

/// Rows per multi-row statement (SQLite allows 32766 parameters; 23 columns a row).
pub(crate) const ROWS_PER_STATEMENT: usize = 500;

/// Apply a batch inside one transaction, with a few multi-row statements whatever its size:
/// insert the new executions, advance the others (each only if its guard holds), then upsert
/// the step runs of those that applied, then their side writes, then the record jobs.
async fn apply_pg(
    conn: &mut sqlx::PgConnection,
    batch: &[Item],
) -> Result<Vec<Answer>, sqlx::Error> {
    type Db = sqlx::Postgres;
    let commits: Vec<&Commit> = batch
        .iter()
        .filter_map(|(job, _)| match job {
            Job::Commit(c) => Some(c),
            Job::Records(_) => None,
        })
        .collect();
    let mut outcomes: Vec<CommitOutcome> = vec![
        CommitOutcome {
            applied: false,
            control: None
        };
        commits.len()
    ];
    let inserts: Vec<usize> = (0..commits.len())
        .filter(|&i| commits[i].guard == Guard::Insert)
        .collect();
    let advances: Vec<usize> = (0..commits.len())
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
                .push_bind(e.exclusive);
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
                };
            }
        }
    }

    let runs: Vec<&StepRunRow> = commits
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| o.applied)
        .flat_map(|(c, _)| c.step_runs.iter())
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

    for (c, o) in commits.iter().zip(&outcomes) {
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
                    if let Err(refused) = record_op_pg(conn, op).await? {
                        skipped_side_write(&c.execution.id, &refused);
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
            }
        }
    }

    let mut outcomes = outcomes.into_iter();
    let mut answers = Vec::with_capacity(batch.len());
    for (job, _) in batch {
        answers.push(match job {
            Job::Commit(_) => Answer::Commit(outcomes.next().unwrap_or(CommitOutcome {
                applied: false,
                control: None,
            })),
            Job::Records(ops) => {
                let mut results = Vec::with_capacity(ops.len());
                for op in ops {
                    results.push(record_op_pg(conn, op).await?);
                }
                Answer::Records(results)
            }
        });
    }
    Ok(answers)
}

/// A step's record write that could not be applied when its commit was.
pub(crate) fn skipped_side_write(execution: &str, refused: &Refusal) {
    tracing::warn!(execution, reason = %refused, "a step's record write was skipped");
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
async fn record_op_pg(
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

/// Advance many executions at once; each row applies only if its guard holds.
pub(crate) const ADVANCE_HEAD: &str = "WITH v (id, status, output, error, state, seq, wake_at, pause_reason, lease_owner, \
     lease_until, updated_at, ended_at, clear_control, expected_seq, owner) AS (";

pub(crate) const ADVANCE_TAIL: &str = ") UPDATE executions SET status = v.status, output = v.output, error = v.error, \
     state = v.state, seq = v.seq, wake_at = v.wake_at, pause_reason = v.pause_reason, lease_owner = v.lease_owner, \
     lease_until = v.lease_until, updated_at = v.updated_at, ended_at = v.ended_at, \
     control = CASE WHEN v.clear_control THEN NULL ELSE executions.control END \
     FROM v WHERE executions.id = v.id AND executions.seq = v.expected_seq AND executions.lease_owner = v.owner \
     RETURNING executions.id, executions.control";

pub(crate) const INSERT_EXECUTION_HEAD: &str = "INSERT INTO executions (id, workflow, version, status, record_object, record_id, \
     parent_id, input, output, error, state, seq, wake_at, control, pause_reason, lease_owner, lease_until, event_at, \
     created_at, updated_at, ended_at, cause, exclusive) ";

/// A new execution of a workflow without re-entry, on a record already in it, is not inserted
/// (its commit does not apply).
pub(crate) const INSERT_EXECUTION_TAIL: &str = " ON CONFLICT DO NOTHING RETURNING id";

/// Columns of an execution row.
pub(crate) const EXECUTION_VALUES: usize = 23;

pub(crate) const UPSERT_STEP_RUN_HEAD: &str = "INSERT INTO step_runs (execution_id, seq, step_id, kind, status, attempt, input, \
     output, error, detail, logs, fuel, memory_peak, started_at, ended_at) ";

pub(crate) const UPSERT_STEP_RUN_TAIL: &str = " ON CONFLICT (execution_id, seq) DO UPDATE SET status = excluded.status, \
     output = excluded.output, error = excluded.error, detail = excluded.detail, logs = excluded.logs, \
     fuel = excluded.fuel, memory_peak = excluded.memory_peak, ended_at = excluded.ended_at";

async fn run_postgres(pool: PgPool, mut rx: mpsc::UnboundedReceiver<Item>) {
    while let Some(batch) = next_batch(&mut rx).await {
        let result = async {
            let mut tx = pool.begin().await?;
            let answers = apply_pg(&mut tx, &batch).await?;
            tx.commit().await?;
            Ok(answers)
        }
        .await;
        answer::<sqlx::Error>(batch, result);
    }
}
