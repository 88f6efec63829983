//! Group commit: executions hand their step results to one writer, which applies all that are
//! waiting in one transaction (one fsync) and answers each.
//!
//! A commit names what it expects to find (the execution's `seq` and this node's lease): a
//! writer that lost its lease, or a step committed twice, changes nothing. A commit that writes
//! records also names the versions of the records its step read: if one changed meanwhile, or a
//! write is refused by then, nothing of that commit is written (the step runs again).
//!
//! A batch that fails is rolled back whole, then each of its items is tried alone, so one bad
//! item fails only itself. The writer itself never stays broken: every batch opens its own
//! transaction.
//!
//! The SQL runs in [`super::sqlite_writer`] (a thread with a rusqlite connection) or
//! [`super::pg_writer`] (a task with pool connections); the statements are shared.

use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use super::health::Health;
use super::record_writes::{RecordOp, RecordResult, Refusal};
use super::rows::{ExecutionRow, StepRunRow};

/// The most commits applied in one transaction.
pub(crate) const MAX_BATCH: usize = 256;

/// The most background jobs (see [`Job::urgent`]) in one transaction while callers are about
/// (an urgent job came in the last [`CALLERS_ABOUT`]). A caller's commit that arrives while a
/// transaction is applied waits for it: 64 background commits take a few milliseconds on a
/// two-core machine, 256 took ~25 ms (seq_3 p99 134 ms during a burst). Without callers,
/// background batches are [`MAX_BATCH`]: fewer transactions (each with its fsync), more
/// throughput.
const BACKGROUND_BATCH_NEAR_CALLERS: usize = 32;

/// How long after an urgent job background batches stay small.
const CALLERS_ABOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Background jobs that ride along with urgent ones: a steady stream of callers slows
/// background work down but never stops it.
const BACKGROUND_WITH_URGENT: usize = 8;

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
    /// value was taken meanwhile) makes the whole commit not apply ([`Conflict::Refused`]).
    Record(Box<RecordOp>),
    /// Post a notification to a team's channel (its `id` is assigned on insert).
    Notify(Box<super::NotificationRow>),
    /// Queue a failure notice for the dispatcher (its `id` is assigned on insert).
    Notice(Box<super::NoticeRow>),
}

/// A record's version as a step read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordVersion {
    pub version: i64,
    /// Told apart from a record deleted and created again with the same id.
    pub created_at: i64,
}

/// A record a step read, and what it found (`None`: it did not exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRead {
    pub object: String,
    pub id: String,
    pub seen: Option<RecordVersion>,
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
    /// The records the step read: the commit applies only if each is still as it was read.
    pub reads: Vec<RecordRead>,
    /// Someone is waiting on it (an execution started through the API): it goes ahead of
    /// background work (a burst of due executions) in the writer's queue.
    pub urgent: bool,
}

impl Commit {
    /// Insert a new execution as it is.
    pub fn insert(execution: ExecutionRow) -> Commit {
        Commit {
            guard: Guard::Insert,
            execution,
            clear_control: false,
            step_runs: vec![],
            side_writes: vec![],
            reads: vec![],
            urgent: true,
        }
    }

    /// Whether this commit writes records or checks reads: it is then applied alone, inside a
    /// savepoint, so that a conflict undoes all of it and nothing else.
    pub(crate) fn is_guarded(&self) -> bool {
        !self.reads.is_empty()
            || self
                .side_writes
                .iter()
                .any(|w| matches!(w, SideWrite::Record(_)))
    }
}

/// A group commit's span (a root: it serves many executions at once).
pub(crate) fn span(batch: usize) -> tracing::Span {
    tracing::info_span!(
        target: crate::telemetry::traces::TARGET,
        parent: None,
        "commit",
        otel.name = "group commit",
        batch = batch as i64,
    )
}

/// Why a commit whose guard held was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// A record the step read (`object/id`) changed before the commit.
    StaleRead { record: String },
    /// One of its record writes was refused by then.
    Refused(Refusal),
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Conflict::StaleRead { record } => {
                write!(f, "record {record} changed after the step read it")
            }
            Conflict::Refused(r) => write!(f, "a record write was refused: {r}"),
        }
    }
}

/// What happened to a commit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitOutcome {
    /// False when the guard did not hold or a conflict was found: nothing was written.
    pub applied: bool,
    /// A control request pending on the execution (pause, cancel, met), seen as it committed.
    pub control: Option<String>,
    /// Set when the guard held but a record read or write conflicted.
    pub conflict: Option<Conflict>,
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
    /// Prove the storage writes: note that `node` was seen `now`.
    Probe { node: String, now: i64 },
    /// Claim due executions (see [`super::Store::claim_due`]). On the writer's connection, a
    /// claim never contends with the commits for SQLite's one write lock, and shares their
    /// fsync.
    Claim(Claim),
}

/// What to claim, for whom.
#[derive(Debug)]
pub(crate) struct Claim {
    pub owner: String,
    pub now: i64,
    pub lease_until: i64,
    /// A node not seen since then is gone: its executions may be taken over.
    pub alive_since: i64,
    pub limit: i64,
}

impl Claim {
    /// The claim statements, in the order they are tried, each with how many of the
    /// parameters it takes: `$1`.. `$5` are owner, lease_until, now, limit, alive_since.
    ///
    /// One statement per kind of due work, each walking an index in due order (a single
    /// statement ordering all kinds by one expression would sort every due row on each claim:
    /// seconds per claim with a million due). Executions whose node is gone come first (few,
    /// and the longest overdue); then the queue (starts by triggers and schedules) and waits
    /// whose time has come share the rest (see [`Claim::share`]): a million timers coming due
    /// do not stop triggered starts, nor the reverse. Within each, every workflow with work due
    /// gets its share first ([`Claim::fair`]). Throttled workflows' queued executions
    /// leave the queue through `claim_throttled`. PostgreSQL's SKIP LOCKED lets several nodes
    /// claim at once without taking the same rows.
    pub(crate) fn statements(postgres: bool) -> [(String, usize); 4] {
        let claim = |pick: &str| Self::claim_sql(postgres, pick);
        let queued = claim(
            "SELECT id FROM executions WHERE status = 'queued' AND workflow NOT IN \
             (SELECT name FROM workflow_heads WHERE max_concurrent IS NOT NULL OR max_per_minute IS NOT NULL) \
             ORDER BY created_at LIMIT $4",
        );
        [
            (
                claim(
                    "SELECT id FROM executions WHERE status = 'running' AND lease_until < $3 \
                     AND (lease_until = 0 OR lease_owner = $1 OR NOT EXISTS (SELECT 1 FROM nodes n \
                     WHERE n.id = executions.lease_owner AND n.seen_at >= $5)) ORDER BY lease_until LIMIT $4",
                ),
                5,
            ),
            (queued.clone(), 4),
            (
                claim(
                    "SELECT id FROM executions WHERE status = 'waiting' AND wake_at <= $3 \
                     ORDER BY wake_at LIMIT $4",
                ),
                4,
            ),
            (queued, 4),
        ]
    }

    /// The claim of the ids `pick` selects (`$1` owner, `$2` lease_until, `$3` now).
    fn claim_sql(postgres: bool, pick: &str) -> String {
        let lock = if postgres {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE executions SET status = 'running', lease_owner = $1, lease_until = $2, updated_at = $3, \
             started_at = COALESCE(started_at, $3) WHERE id IN ({pick}{lock}) RETURNING id"
        );
        if postgres {
            sql
        } else {
            // `?N` binds by position in SQLite (`$N` would be a name, numbered as it appears).
            sql.replace('$', "?")
        }
    }

    /// How many statement `step` of [`Claim::statements`] may claim, `got` being claimed
    /// already: the queue first takes half of what is left, the waits the rest, the queue what
    /// the waits left.
    pub(crate) fn share(&self, step: usize, got: usize) -> i64 {
        let left = self.limit - got as i64;
        if step == 1 { (left + 1) / 2 } else { left }
    }

    /// The fair share that comes before statement `step` of [`Claim::statements`]: the queue's
    /// and the waits' oldest-first statements each come after a share for every workflow with
    /// such work due, so a million timers or queued starts of one workflow do not hold back
    /// another's timer or trigger due a second later. The oldest-first statement then takes
    /// what the shares left (and the work of workflows since deleted).
    pub(crate) fn fair(step: usize) -> Option<Fair> {
        match step {
            1 => Some(Fair::Queue),
            2 => Some(Fair::Waits),
            _ => None,
        }
    }

    /// Each workflow's share of `quota`, with `workflows` having work due: none when there is
    /// only one (oldest first is then fair already).
    pub(crate) fn fair_share(quota: i64, workflows: usize) -> i64 {
        if workflows < 2 || quota <= 0 {
            0
        } else {
            (quota + workflows as i64 - 1) / workflows as i64
        }
    }
}

/// A kind of due work claimed fairly across workflows (see [`Claim::fair`]). Each workflow's
/// share is one walk of `executions_by_workflow_status` (workflow, status, wake_at,
/// created_at): a wait is due at its `wake_at`, a queued start (whose `wake_at` is null) at its
/// creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fair {
    Queue,
    Waits,
}

impl Fair {
    /// The workflows with work of this kind due at `$1`: one probe of the index per workflow
    /// head. Throttled workflows' queues are left out, as in [`Claim::statements`].
    pub(crate) fn workflows_sql(self, postgres: bool) -> &'static str {
        match (self, postgres) {
            (Fair::Queue, true) => {
                "SELECT h.name FROM workflow_heads h WHERE h.max_concurrent IS NULL \
                 AND h.max_per_minute IS NULL AND EXISTS (SELECT 1 FROM executions e \
                 WHERE e.workflow = h.name AND e.status = 'queued' AND e.wake_at IS NULL AND e.created_at <= $1)"
            }
            (Fair::Queue, false) => {
                "SELECT h.name FROM workflow_heads h WHERE h.max_concurrent IS NULL \
                 AND h.max_per_minute IS NULL AND EXISTS (SELECT 1 FROM executions e \
                 WHERE e.workflow = h.name AND e.status = 'queued' AND e.wake_at IS NULL AND e.created_at <= ?1)"
            }
            (Fair::Waits, true) => {
                "SELECT h.name FROM workflow_heads h WHERE EXISTS (SELECT 1 FROM executions e \
                 WHERE e.workflow = h.name AND e.status = 'waiting' AND e.wake_at <= $1)"
            }
            (Fair::Waits, false) => {
                "SELECT h.name FROM workflow_heads h WHERE EXISTS (SELECT 1 FROM executions e \
                 WHERE e.workflow = h.name AND e.status = 'waiting' AND e.wake_at <= ?1)"
            }
        }
    }

    /// One workflow's share, oldest first: `$1`.. `$4` as in [`Claim::statements`], `$5` the
    /// workflow. The order is the index's, so nothing is sorted (`wake_at` is null for all
    /// the queued rows it walks).
    pub(crate) fn claim_sql(self, postgres: bool) -> String {
        Claim::claim_sql(
            postgres,
            match self {
                Fair::Queue => {
                    "SELECT id FROM executions WHERE workflow = $5 AND status = 'queued' \
                     AND wake_at IS NULL AND created_at <= $3 ORDER BY wake_at, created_at LIMIT $4"
                }
                Fair::Waits => {
                    "SELECT id FROM executions WHERE workflow = $5 AND status = 'waiting' \
                     AND wake_at <= $3 ORDER BY wake_at LIMIT $4"
                }
            },
        )
    }
}

/// The writer's answer to a job.
#[derive(Debug)]
pub(crate) enum Answer {
    Commit(CommitOutcome),
    Records(Vec<RecordResult>),
    Probe,
    /// The ids of the executions claimed; the first `taken_over` of them were running under
    /// a lease that had lapsed (their node stopped, or gave them up after a failure).
    Claimed {
        ids: Vec<String>,
        taken_over: usize,
    },
}

/// Why the writer failed a job.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum WriteError {
    /// The storage cannot write now (full, failing, read-only, unreachable).
    #[error("{0}")]
    Unavailable(String),
    /// Anything else (the item itself, a bug).
    #[error("{0}")]
    Failed(String),
}

impl From<WriteError> for StoreError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Unavailable(m) => StoreError::Unavailable(m),
            WriteError::Failed(m) => StoreError::Write(m),
        }
    }
}

impl From<sqlx::Error> for WriteError {
    fn from(e: sqlx::Error) -> Self {
        if super::error::sqlx_unavailable(&e) {
            WriteError::Unavailable(e.to_string())
        } else {
            WriteError::Failed(e.to_string())
        }
    }
}

impl From<rusqlite::Error> for WriteError {
    fn from(e: rusqlite::Error) -> Self {
        let unavailable = match &e {
            rusqlite::Error::SqliteFailure(f, _) => {
                super::error::sqlite_code_unavailable(f.extended_code)
            }
            _ => false,
        };
        if unavailable {
            WriteError::Unavailable(e.to_string())
        } else {
            WriteError::Failed(e.to_string())
        }
    }
}

pub(crate) type Reply = oneshot::Sender<Result<Answer, WriteError>>;
pub(crate) type Item = (Job, Reply);

/// Handle to the group-commit writer.
#[derive(Debug, Clone)]
pub struct Writer {
    queue: mpsc::UnboundedSender<Item>,
}

impl Writer {
    /// A handle to the writer that takes its jobs from the other end of `queue` (see
    /// [`super::sqlite_writer`] and [`super::pg_writer`]).
    pub(crate) fn new(queue: mpsc::UnboundedSender<Item>) -> Writer {
        Writer { queue }
    }

    /// Commit, and wait until it is durable.
    pub async fn commit(&self, commit: Commit) -> Result<CommitOutcome, StoreError> {
        match self.send(Job::Commit(commit)).await? {
            Answer::Commit(outcome) => Ok(outcome),
            _ => Err(StoreError::WriterGone),
        }
    }

    /// Apply record writes (each applied or refused on its own), and wait until they are durable.
    pub async fn records(&self, ops: Vec<RecordOp>) -> Result<Vec<RecordResult>, StoreError> {
        match self.send(Job::Records(ops)).await? {
            Answer::Records(results) => Ok(results),
            _ => Err(StoreError::WriterGone),
        }
    }

    /// Write a tiny transaction (this node's `seen_at`): whether the storage writes now.
    pub async fn probe(&self, node: &str, now: i64) -> Result<(), StoreError> {
        match self
            .send(Job::Probe {
                node: node.to_string(),
                now,
            })
            .await?
        {
            Answer::Probe => Ok(()),
            _ => Err(StoreError::WriterGone),
        }
    }

    /// Claim due work: the ids, and how many of the first were taken over (see
    /// [`Answer::Claimed`]).
    pub(crate) async fn claim(&self, claim: Claim) -> Result<(Vec<String>, usize), StoreError> {
        match self.send(Job::Claim(claim)).await? {
            Answer::Claimed { ids, taken_over } => Ok((ids, taken_over)),
            _ => Err(StoreError::WriterGone),
        }
    }

    async fn send(&self, job: Job) -> Result<Answer, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.queue
            .send((job, tx))
            .map_err(|_| StoreError::WriterGone)?;
        match rx.await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(StoreError::WriterGone),
        }
    }
}

impl Job {
    /// Whether someone waits on it now: an API caller (a start, a record write), or the node's
    /// health (a probe, a heartbeat). Claims and the progress of executions the scheduler
    /// claimed can wait their turn.
    fn urgent(&self) -> bool {
        match self {
            Job::Commit(c) => c.urgent,
            Job::Records(_) | Job::Probe { .. } => true,
            Job::Claim(_) => false,
        }
    }
}

/// What the writer has taken from its queue and not yet applied, in two lanes: urgent jobs go
/// first, so that a burst of background work queued ahead of an API caller's commit does not
/// delay it by several batches. (The queue is bounded by the executions in flight.)
#[derive(Default)]
pub(crate) struct Backlog {
    urgent: std::collections::VecDeque<Item>,
    rest: std::collections::VecDeque<Item>,
    /// When the last urgent job came in.
    last_urgent: Option<std::time::Instant>,
}

impl Backlog {
    pub(crate) fn is_empty(&self) -> bool {
        self.urgent.is_empty() && self.rest.is_empty()
    }

    pub(crate) fn push(&mut self, item: Item) {
        if item.0.urgent() {
            // A probe (a heartbeat, a readiness check) goes first, but is no caller waiting
            // on background work's batches: it does not make them small.
            if !matches!(item.0, Job::Probe { .. }) {
                self.last_urgent = Some(std::time::Instant::now());
            }
            self.urgent.push_back(item);
        } else {
            self.rest.push_back(item);
        }
    }

    /// Everything waiting in the queue joins the backlog. The next batch: the urgent jobs (up
    /// to [`MAX_BATCH`]) with a few background ones; or, when none is urgent, background jobs:
    /// a few while callers are about, else up to [`MAX_BATCH`].
    pub(crate) fn next_batch(&mut self, rx: &mut mpsc::UnboundedReceiver<Item>) -> Vec<Item> {
        while let Ok(item) = rx.try_recv() {
            self.push(item);
        }
        let urgent = self.urgent.len().min(MAX_BATCH);
        let callers_about = self
            .last_urgent
            .is_some_and(|at| at.elapsed() < CALLERS_ABOUT);
        let background = if urgent > 0 {
            BACKGROUND_WITH_URGENT
        } else if callers_about {
            BACKGROUND_BATCH_NEAR_CALLERS
        } else {
            MAX_BATCH
        }
        .min(self.rest.len());
        let mut batch = Vec::with_capacity(urgent + background);
        batch.extend(self.urgent.drain(..urgent));
        batch.extend(self.rest.drain(..background));
        batch
    }
}

/// Answer a batch's callers. A failed batch of several items is handed back, each to be tried
/// alone (so that one bad item fails only itself); a failed single item gets its error.
pub(crate) fn settle(
    batch: Vec<Item>,
    result: Result<Vec<Answer>, WriteError>,
    health: &Health,
) -> Option<Vec<Item>> {
    match result {
        Ok(answers) => {
            health.ok();
            // Probes and empty claims change nothing anyone sees.
            if answers.iter().any(|a| match a {
                Answer::Commit(_) | Answer::Records(_) => true,
                Answer::Claimed { ids, .. } => !ids.is_empty(),
                Answer::Probe => false,
            }) {
                health.changed();
            }
            for ((_, reply), answer) in batch.into_iter().zip(answers) {
                let _ = reply.send(Ok(answer));
            }
            None
        }
        Err(e) => {
            if let WriteError::Unavailable(cause) = &e {
                health.failed(cause);
            }
            if batch.len() > 1 {
                tracing::warn!(error = %e, items = batch.len(), "group commit failed; trying each item alone");
                return Some(batch);
            }
            tracing::error!(error = %e, "write failed");
            for (_, reply) in batch {
                let _ = reply.send(Err(e.clone()));
            }
            None
        }
    }
}

/// A step's record write that could not be applied when its commit was.
pub(crate) fn refused_side_write(execution: &str, refused: &Refusal) {
    tracing::info!(execution, reason = %refused, "a step's record write was refused at commit: the step runs again");
}

/// Notes that a node was seen; the readiness probe.
pub(crate) const PROBE_SQL: &str = "INSERT INTO nodes (id, started_at, seen_at) VALUES ($1, $2, $2) \
     ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at";

/// A record's version, for checking a step's reads.
pub(crate) const RECORD_VERSION_SQL: &str =
    "SELECT version, created_at FROM records WHERE object = $1 AND id = $2";

/// Whether what a step read is still so.
pub(crate) fn still_as_read(read: &RecordRead, now: Option<RecordVersion>) -> Result<(), Conflict> {
    if read.seen == now {
        Ok(())
    } else {
        Err(Conflict::StaleRead {
            record: format!("{}/{}", read.object, read.id),
        })
    }
}

/// Rows per multi-row statement (SQLite allows 32766 parameters; 23 columns a row).
pub(crate) const ROWS_PER_STATEMENT: usize = 500;

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
     created_at, updated_at, ended_at, cause, exclusive, trace) ";

/// A new execution of a workflow without re-entry, on a record already in it, is not inserted
/// (its commit does not apply).
pub(crate) const INSERT_EXECUTION_TAIL: &str = " ON CONFLICT DO NOTHING RETURNING id";

/// Columns of an execution row.
pub(crate) const EXECUTION_VALUES: usize = 24;

pub(crate) const UPSERT_STEP_RUN_HEAD: &str = "INSERT INTO step_runs (execution_id, seq, step_id, kind, status, attempt, input, \
     output, error, detail, logs, fuel, memory_peak, started_at, ended_at) ";

pub(crate) const UPSERT_STEP_RUN_TAIL: &str = " ON CONFLICT (execution_id, seq) DO UPDATE SET status = excluded.status, \
     output = excluded.output, error = excluded.error, detail = excluded.detail, logs = excluded.logs, \
     fuel = excluded.fuel, memory_peak = excluded.memory_peak, ended_at = excluded.ended_at";

#[cfg(test)]
mod tests {
    use super::*;

    fn probe() -> Item {
        let job = Job::Probe {
            node: "n".into(),
            now: 0,
        };
        (job, oneshot::channel().0)
    }

    fn records() -> Item {
        (Job::Records(Vec::new()), oneshot::channel().0)
    }

    fn claim() -> Item {
        let job = Job::Claim(Claim {
            owner: "n".into(),
            now: 0,
            lease_until: 0,
            alive_since: 0,
            limit: 1,
        });
        (job, oneshot::channel().0)
    }

    fn kinds(batch: &[Item]) -> (usize, usize) {
        let urgent = batch.iter().filter(|(job, _)| job.urgent()).count();
        (urgent, batch.len() - urgent)
    }

    #[test]
    fn urgent_jobs_go_first_and_background_batches_shrink_near_callers() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut backlog = Backlog::default();
        for _ in 0..1000 {
            tx.send(claim()).unwrap();
        }
        // No caller yet: background work goes in full batches.
        assert_eq!(kinds(&backlog.next_batch(&mut rx)), (0, MAX_BATCH));

        // A heartbeat goes first, but no caller waits: background batches stay full.
        tx.send(probe()).unwrap();
        assert_eq!(
            kinds(&backlog.next_batch(&mut rx)),
            (1, BACKGROUND_WITH_URGENT)
        );
        assert_eq!(kinds(&backlog.next_batch(&mut rx)), (0, MAX_BATCH));

        for _ in 0..3 {
            tx.send(records()).unwrap();
        }
        // Callers' jobs first, with a few background ones riding along...
        let batch = backlog.next_batch(&mut rx);
        assert_eq!(kinds(&batch), (3, BACKGROUND_WITH_URGENT));
        assert!(batch[..3].iter().all(|(job, _)| job.urgent()));
        // ...then, while callers are about, small background batches.
        assert_eq!(
            kinds(&backlog.next_batch(&mut rx)),
            (0, BACKGROUND_BATCH_NEAR_CALLERS)
        );

        backlog.last_urgent = Some(std::time::Instant::now() - CALLERS_ABOUT);
        assert_eq!(kinds(&backlog.next_batch(&mut rx)), (0, MAX_BATCH));
    }
}
