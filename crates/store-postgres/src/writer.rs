//! The single writer. Every change goes through one task that takes every
//! write waiting and commits them in one transaction (group commit), in the
//! order they were queued; each caller is answered only after that commit.
//!
//! Access records (no user change) are the hot path: a run of them is
//! written with one bulk statement per table, sent together (pipelined), so
//! a batch costs a few round trips and one WAL flush however many attempts
//! it holds. Any other write runs in a savepoint of its own, so its refusal
//! (a code taken, say) rolls back alone.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use keyward_core::{ActivityEntry, UseCount};
use keyward_store::columns::{ActivityColumns, UserColumns, lockout_columns, micros};
use keyward_store::{
    BoxFuture, LockoutRecord, Pending, Quarantine, Record, Reply, StoreError, StoreResult, UserChange,
};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, Statement};

use crate::connect::{connect_for_requests, pg_error, take_instance_lock, try_instance_lock};

/// Whether this instance holds the database's instance lock (see
/// `connect::INSTANCE_LOCK`). It lives on the writer's session, so it goes
/// with the writer's connection (PostgreSQL restarted, the backend
/// terminated, the network cut); another instance may then take it and
/// change the data this one holds in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// Held since the start, or since the last `resume`: writes go through.
    Held,
    /// Lost: every write is refused (`StoreError::Fenced`) and the lock is
    /// tried again every `RETAKE_EVERY`.
    Lost,
    /// Taken again, and still refusing writes: the hub must reload every
    /// home from the database before it calls `resume`.
    Regained,
}

/// How often the writer checks that its connection (and so the lock) is
/// still there when idle, and tries to take a lost lock again.
const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// How often an idle connection is asked to answer: a cut network does not
/// close it by itself.
const PING_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
/// How long a ping or a reconnection may take before the connection counts
/// as lost.
const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// The most writes one transaction takes, so a burst cannot delay its first
/// callers without bound.
const MAX_BATCH: usize = 1024;

type Finish = Box<dyn FnOnce(Result<(), &StoreError>) + Send>;

/// A write other than an access record, run in a savepoint of the batch.
trait Operation: Send {
    /// Runs the write; returns whether it succeeded and how to answer its
    /// caller once the batch's outcome is known.
    fn run(self: Box<Self>, client: Arc<Client>) -> BoxFuture<'static, (bool, Finish)>;
    /// Answers the caller without running: the batch failed before it.
    fn fail(self: Box<Self>, error: StoreError);
}

struct Typed<F, T> {
    work: F,
    reply: Reply<T>,
}

impl<F, Fut, T> Operation for Typed<F, T>
where
    F: FnOnce(Arc<Client>) -> Fut + Send + 'static,
    Fut: Future<Output = StoreResult<T>> + Send + 'static,
    T: Send + 'static,
{
    fn run(self: Box<Self>, client: Arc<Client>) -> BoxFuture<'static, (bool, Finish)> {
        let Typed { work, reply } = *self;
        Box::pin(async move {
            let outcome = work(client).await;
            let ok = outcome.is_ok();
            let finish: Finish = Box::new(move |committed| {
                reply.send(match (committed, outcome) {
                    (Ok(()), outcome) => outcome,
                    (Err(e), Ok(_)) => Err(failed(e)),
                    (Err(_), Err(e)) => Err(e),
                })
            });
            (ok, finish)
        })
    }

    fn fail(self: Box<Self>, error: StoreError) {
        self.reply.send(Err(error));
    }
}

enum Job {
    Record(Box<Record>, Reply<Vec<ActivityEntry>>),
    Operation(Box<dyn Operation>),
    /// The hub reloaded after `Lease::Regained`: writes go through again.
    Resume,
    Stop,
}

impl Job {
    fn fail(self, error: &StoreError, quarantine: &Quarantine) {
        match self {
            Self::Record(record, reply) => {
                quarantine.failed(&record);
                reply.send(Err(match error {
                    StoreError::Fenced => StoreError::Fenced,
                    error => failed(error),
                }));
            }
            Self::Operation(op) => op.fail(match error {
                StoreError::Fenced => StoreError::Fenced,
                error => failed(error),
            }),
            Self::Resume | Self::Stop => {}
        }
    }
}

/// The error a caller gets when the batch holding its write failed.
#[derive(Debug)]
struct BatchFailed(String);

impl std::fmt::Display for BatchFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the transaction holding this write failed: {}", self.0)
    }
}

impl std::error::Error for BatchFailed {}

fn failed(error: &StoreError) -> StoreError {
    StoreError::database(BatchFailed(error.to_string()))
}

#[derive(Clone)]
pub(crate) struct Writer {
    jobs: mpsc::UnboundedSender<Job>,
    /// Homes whose records wait for a resync (see `Quarantine`).
    pub quarantine: Arc<Quarantine>,
    lease: watch::Receiver<Lease>,
}

impl Writer {
    /// Queues an access record (or any record) now; see `HomeStore::record`.
    pub fn record(&self, record: Record) -> Pending<Vec<ActivityEntry>> {
        let (reply, pending) = Pending::new();
        match self.jobs.send(Job::Record(Box::new(record), reply)) {
            Ok(()) => pending,
            Err(_) => Pending::failed(StoreError::WriterGone),
        }
    }

    /// Runs `work` in the next batch, in a savepoint of its own; resolves
    /// after the commit.
    pub async fn write<F, Fut, T>(&self, work: F) -> StoreResult<T>
    where
        F: FnOnce(Arc<Client>) -> Fut + Send + 'static,
        Fut: Future<Output = StoreResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        self.submit(work).committed().await
    }

    /// As [`Writer::write`], queued now: in order with every write queued
    /// before this call returns.
    pub fn submit<F, Fut, T>(&self, work: F) -> Pending<T>
    where
        F: FnOnce(Arc<Client>) -> Fut + Send + 'static,
        Fut: Future<Output = StoreResult<T>> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, pending) = Pending::new();
        match self.jobs.send(Job::Operation(Box::new(Typed { work, reply }))) {
            Ok(()) => pending,
            Err(_) => Pending::failed(StoreError::WriterGone),
        }
    }

    /// The instance lock, as it changes.
    pub fn lease(&self) -> watch::Receiver<Lease> {
        self.lease.clone()
    }

    /// After `Lease::Regained`, once the hub has reloaded: writes go through
    /// again (those queued before this call are still refused).
    pub fn resume(&self) {
        let _ = self.jobs.send(Job::Resume);
    }

    /// Lets the writer commit everything queued so far, then stop.
    pub fn stop(&self) {
        let _ = self.jobs.send(Job::Stop);
    }
}

/// The statements of the hot path, prepared once per connection.
struct Statements {
    insert_activity: Statement,
    set_uses: Statement,
    set_lockout: Statement,
    clear_lockout: Statement,
}

impl Statements {
    async fn prepare(client: &Client) -> StoreResult<Self> {
        let prepare = |sql| client.prepare(sql);
        Ok(Self {
            insert_activity: prepare(
                "INSERT INTO activity (id, home_id, at, kind, device, action, outcome, reason, user_id, user_name,
                                       duress, actor, detail)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[],
                                      $7::text[], $8::text[], $9::text[], $10::text[], $11::bool[], $12::text[],
                                      $13::text[])",
            )
            .await
            .map_err(pg_error)?,
            set_uses: prepare(
                "INSERT INTO user_uses (user_id, uses, last_used_at)
                 SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[])
                 ON CONFLICT (user_id) DO UPDATE SET uses = excluded.uses, last_used_at = excluded.last_used_at",
            )
            .await
            .map_err(pg_error)?,
            set_lockout: prepare(
                "INSERT INTO lockouts (home_id, device, failures, locked_until) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (home_id, device) DO UPDATE
                 SET failures = excluded.failures, locked_until = excluded.locked_until",
            )
            .await
            .map_err(pg_error)?,
            clear_lockout: prepare("DELETE FROM lockouts WHERE home_id = $1 AND device = $2")
                .await
                .map_err(pg_error)?,
        })
    }
}

/// The writer's connection. Serving, it holds the instance lock, and a lost
/// connection is not simply made again: see `Lease`. Otherwise (a command
/// beside a hub) it is made again when needed. Its statements are prepared
/// at its first batch, once the schema is sure to exist.
struct Connection {
    config: Config,
    serving: bool,
    client: Option<Arc<Client>>,
    statements: Option<Statements>,
    lease: watch::Sender<Lease>,
    last_answer: tokio::time::Instant,
}

impl Connection {
    async fn open(config: &Config, serving: bool) -> StoreResult<Arc<Client>> {
        let client = Self::connect(config).await?;
        if serving {
            take_instance_lock(&client).await?;
        }
        Ok(Arc::new(client))
    }

    async fn connect(config: &Config) -> StoreResult<Client> {
        let client = connect_for_requests(config).await?;
        // Every commit waits for its WAL flush, whatever the server's default.
        client.batch_execute("SET synchronous_commit = on").await.map_err(pg_error)?;
        Ok(client)
    }

    fn fenced(&self) -> bool {
        *self.lease.borrow() != Lease::Held
    }

    async fn ready(&mut self) -> StoreResult<(&Arc<Client>, &Statements)> {
        if self.fenced() {
            return Err(StoreError::Fenced);
        }
        if self.client.as_ref().is_none_or(|client| client.is_closed()) {
            if self.serving {
                self.lose();
                return Err(StoreError::Fenced);
            }
            self.client = None;
            self.statements = None;
            self.client = Some(Self::open(&self.config, self.serving).await?);
        }
        let Some(client) = &self.client else { return Err(StoreError::WriterGone) };
        if self.statements.is_none() {
            self.statements = Some(Statements::prepare(client).await?);
        }
        self.last_answer = tokio::time::Instant::now();
        match &self.statements {
            Some(statements) => Ok((client, statements)),
            None => Err(StoreError::WriterGone),
        }
    }

    /// The lock went with the connection: refuse every write from now on.
    fn lose(&mut self) {
        self.client = None;
        self.statements = None;
        if !self.fenced() {
            tracing::error!(
                "lost the PostgreSQL instance lock with the writer's connection: access decisions and writes stop \
                 until it is taken again and every home is reloaded from the database"
            );
            self.lease.send_replace(Lease::Lost);
        }
    }

    /// Between writes: notices a lost connection (and so a lost lock), and
    /// takes a lost lock again when it is free.
    async fn watch(&mut self) {
        if !self.serving {
            return;
        }
        let lease = *self.lease.borrow();
        match lease {
            Lease::Held => {}
            Lease::Regained => return,
            Lease::Lost => {
                self.retake().await;
                return;
            }
        }
        let alive = match &self.client {
            Some(client) if !client.is_closed() => {
                if self.last_answer.elapsed() < PING_EVERY {
                    true
                } else {
                    let answered = tokio::time::timeout(ANSWER_WITHIN, client.simple_query("SELECT 1")).await;
                    matches!(answered, Ok(Ok(_)))
                }
            }
            _ => false,
        };
        if alive {
            self.last_answer = tokio::time::Instant::now();
        } else {
            self.lose();
        }
    }

    async fn retake(&mut self) {
        let attempt = async {
            let client = Self::connect(&self.config).await?;
            Ok::<_, StoreError>(try_instance_lock(&client).await?.then_some(client))
        };
        match tokio::time::timeout(ANSWER_WITHIN, attempt).await {
            Ok(Ok(Some(client))) => {
                tracing::warn!(
                    "took the PostgreSQL instance lock again; writes wait until every home is reloaded from the \
                     database"
                );
                self.client = Some(Arc::new(client));
                self.statements = None;
                self.last_answer = tokio::time::Instant::now();
                self.lease.send_replace(Lease::Regained);
            }
            Ok(Ok(None)) => tracing::debug!("the PostgreSQL instance lock is held by another instance"),
            Ok(Err(e)) => tracing::debug!(error = %e, "the PostgreSQL instance lock cannot be taken yet"),
            Err(_) => tracing::debug!("the PostgreSQL instance lock cannot be taken yet: no answer"),
        }
    }
}

/// Connects (taking the single-instance lock when `serving`) and starts the
/// writer task.
pub(crate) async fn spawn(config: Config, serving: bool) -> StoreResult<(Writer, JoinHandle<()>)> {
    let client = Some(Connection::open(&config, serving).await?);
    let (jobs, inbox) = mpsc::unbounded_channel();
    let quarantine = Arc::new(Quarantine::default());
    let (lease, watching) = watch::channel(Lease::Held);
    let connection =
        Connection { config, serving, client, statements: None, lease, last_answer: tokio::time::Instant::now() };
    let task = tokio::spawn(run(connection, inbox, quarantine.clone()));
    Ok((Writer { jobs, quarantine, lease: watching }, task))
}

async fn run(mut connection: Connection, mut inbox: mpsc::UnboundedReceiver<Job>, quarantine: Arc<Quarantine>) {
    let mut stopping = false;
    let mut watch = tokio::time::interval(WATCH_EVERY);
    watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stopping {
        let first = tokio::select! {
            job = inbox.recv() => match job {
                Some(job) => job,
                None => break,
            },
            _ = watch.tick() => {
                connection.watch().await;
                continue;
            }
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH
            && let Ok(job) = inbox.try_recv()
        {
            batch.push(job);
        }
        // Writes queued after a stop are not taken: their callers learn that
        // the writer is gone.
        if let Some(at) = batch.iter().position(|job| matches!(job, Job::Stop)) {
            batch.truncate(at);
            stopping = true;
        }
        // Writes queued before a resume were decided before the reload: they
        // go in the batch before it (refused while fenced).
        loop {
            let resume = batch.iter().position(|job| matches!(job, Job::Resume));
            let Some(at) = resume else { break };
            let rest = batch.split_off(at + 1);
            batch.pop();
            write_batch(&mut connection, batch, &quarantine).await;
            if *connection.lease.borrow() == Lease::Regained {
                tracing::info!("every home was reloaded: writes go through again");
                connection.lease.send_replace(Lease::Held);
            }
            batch = rest;
        }
        write_batch(&mut connection, batch, &quarantine).await;
    }
}

async fn write_batch(connection: &mut Connection, batch: Vec<Job>, quarantine: &Arc<Quarantine>) {
    if batch.is_empty() {
        return;
    }
    match connection.ready().await {
        Ok((client, statements)) => commit_batch(client, statements, batch, quarantine).await,
        Err(e) => {
            // Each caller logs its failure at the edge.
            for job in batch {
                job.fail(&e, quarantine);
            }
        }
    }
}

async fn commit_batch(client: &Arc<Client>, statements: &Statements, batch: Vec<Job>, quarantine: &Arc<Quarantine>) {
    let mut finishers: Vec<Finish> = Vec::with_capacity(batch.len());
    let mut run: Vec<(Box<Record>, Reply<Vec<ActivityEntry>>)> = Vec::new();
    let mut failure: Option<StoreError> = client.batch_execute("BEGIN").await.map_err(pg_error).err();
    for job in batch {
        if let Some(e) = &failure {
            job.fail(e, quarantine);
            continue;
        }
        let job = match job {
            Job::Record(record, reply) => match quarantine.admit(&record) {
                Ok(()) => Job::Record(record, reply),
                Err(refused) => {
                    reply.send(Err(refused));
                    continue;
                }
            },
            job => job,
        };
        match job {
            Job::Record(record, reply) if record.user.is_none() => run.push((record, reply)),
            job => {
                // Earlier access records first: the order of writes is kept.
                failure = write_run(client, statements, &mut run, &mut finishers, quarantine).await.err();
                if let Some(e) = &failure {
                    job.fail(e, quarantine);
                    continue;
                }
                failure = in_savepoint(client, job, statements, &mut finishers, quarantine).await.err();
            }
        }
    }
    if failure.is_none() {
        failure = write_run(client, statements, &mut run, &mut finishers, quarantine).await.err();
    }
    let committed = match failure {
        None => client.batch_execute("COMMIT").await.map_err(pg_error),
        Some(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(e)
        }
    };
    for finish in finishers {
        finish(committed.as_ref().map(|_| ()));
    }
}

/// Runs one job in a savepoint: its failure rolls back that job alone. An
/// error here (the savepoint itself failed) fails the batch.
async fn in_savepoint(
    client: &Arc<Client>,
    job: Job,
    statements: &Statements,
    finishers: &mut Vec<Finish>,
    quarantine: &Arc<Quarantine>,
) -> StoreResult<()> {
    client.batch_execute("SAVEPOINT job").await.map_err(pg_error)?;
    let ok = match job {
        Job::Record(record, reply) => {
            let outcome = write_record(client, statements, &record).await;
            let ok = outcome.is_ok();
            if !ok {
                // Later records of the home in this batch must see it.
                quarantine.failed(&record);
            }
            let quarantine = quarantine.clone();
            finishers.push(Box::new(move |committed| {
                let result = match (committed, outcome) {
                    (Ok(()), Ok(())) => Ok(record.entries),
                    (Ok(()), Err(e)) | (Err(_), Err(e)) => Err(e),
                    (Err(e), Ok(())) => Err(failed(e)),
                };
                if result.is_err() {
                    quarantine.failed(&Record {
                        home_id: record.home_id,
                        applied_ahead: record.applied_ahead,
                        ..Record::default()
                    });
                }
                reply.send(result)
            }));
            ok
        }
        Job::Operation(op) => {
            let (ok, finish) = op.run(client.clone()).await;
            finishers.push(finish);
            ok
        }
        Job::Resume | Job::Stop => true,
    };
    let end = if ok { "RELEASE SAVEPOINT job" } else { "ROLLBACK TO SAVEPOINT job" };
    client.batch_execute(end).await.map_err(pg_error)
}

/// Writes a run of access records; their callers are answered after the
/// commit. An error fails the batch.
async fn write_run(
    client: &Client,
    statements: &Statements,
    run: &mut Vec<(Box<Record>, Reply<Vec<ActivityEntry>>)>,
    finishers: &mut Vec<Finish>,
    quarantine: &Arc<Quarantine>,
) -> StoreResult<()> {
    if run.is_empty() {
        return Ok(());
    }
    let written = write_bulk(client, statements, run.iter().map(|(record, _)| record.as_ref())).await;
    for (record, reply) in run.drain(..) {
        let quarantine = quarantine.clone();
        finishers.push(Box::new(move |committed| match committed {
            Ok(()) => reply.send(Ok(record.entries)),
            Err(e) => {
                quarantine.failed(&record);
                reply.send(Err(failed(e)));
            }
        }));
    }
    written
}

/// A record with a user change: the user first, then the rest.
async fn write_record(client: &Client, statements: &Statements, record: &Record) -> StoreResult<()> {
    match &record.user {
        Some(UserChange::Put(user)) => {
            let u = UserColumns::of(user)?;
            client
                .execute(
                    "INSERT INTO users (id, home_id, name, kind, panel_arm, panel_disarm, all_locks, schedule,
                                        valid_from, valid_until, max_uses, notify_arrive, notify_leave, enabled,
                                        code_mac, code_sealed, created_at, updated_at, alerts, contact_email,
                                        contact_phone, first_day, last_day)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
                             $20, $21, $22, $23)
                     ON CONFLICT (id) DO UPDATE SET name = $3, kind = $4, panel_arm = $5, panel_disarm = $6,
                         all_locks = $7, schedule = $8, valid_from = $9, valid_until = $10, max_uses = $11,
                         notify_arrive = $12, notify_leave = $13, enabled = $14, code_mac = $15, code_sealed = $16,
                         updated_at = $18, alerts = $19, contact_email = $20, contact_phone = $21,
                         first_day = $22, last_day = $23",
                    &[
                        &u.id,
                        &u.home_id,
                        &u.name,
                        &u.kind,
                        &u.panel_arm,
                        &u.panel_disarm,
                        &u.all_locks,
                        &u.schedule,
                        &u.valid_from,
                        &u.valid_until,
                        &u.max_uses,
                        &u.notify_arrive,
                        &u.notify_leave,
                        &u.enabled,
                        &u.code_mac,
                        &u.code_sealed,
                        &u.created_at,
                        &u.updated_at,
                        &u.alerts,
                        &u.contact_email,
                        &u.contact_phone,
                        &u.first_day,
                        &u.last_day,
                    ],
                )
                .await
                .map_err(pg_error)?;
            client
                .execute(
                    "INSERT INTO user_uses (user_id, uses, last_used_at) VALUES ($1, $2, $3)
                     ON CONFLICT (user_id) DO UPDATE SET uses = $2, last_used_at = $3",
                    &[&u.id, &u.uses, &u.last_used_at],
                )
                .await
                .map_err(pg_error)?;
            client.execute("DELETE FROM user_locks WHERE user_id = $1", &[&u.id]).await.map_err(pg_error)?;
            client
                .execute(
                    "INSERT INTO user_locks (user_id, lock_id) SELECT $1, unnest($2::text[])",
                    &[&u.id, &u.lock_ids],
                )
                .await
                .map_err(pg_error)?;
        }
        Some(UserChange::Delete(id)) => {
            client.execute("DELETE FROM users WHERE id = $1", &[id]).await.map_err(pg_error)?;
        }
        None => {}
    }
    write_bulk(client, statements, std::iter::once(record)).await
}

/// The entries, use counts and lockout counts of some records, one bulk
/// statement per table, sent together.
async fn write_bulk<'a>(
    client: &Client,
    statements: &Statements,
    records: impl Iterator<Item = &'a Record>,
) -> StoreResult<()> {
    let mut activity = ActivityArrays::default();
    // Counts are absolute: the last one of a user or a device wins.
    let mut uses: HashMap<&str, &UseCount> = HashMap::new();
    let mut lockouts: HashMap<(&str, &str), &LockoutRecord> = HashMap::new();
    let mut notifications = Vec::new();
    // A home's panel: the last state of the batch is the one that counts.
    let mut panels: HashMap<&str, &keyward_store::PanelRecord> = HashMap::new();
    for record in records {
        if let Some(panel) = &record.panel {
            panels.insert(&panel.home_id, panel);
        }
        for entry in &record.entries {
            activity.push(ActivityColumns::of(entry));
        }
        if let Some(count) = &record.uses {
            uses.insert(&count.user_id, count);
        }
        for lockout in &record.lockouts {
            lockouts.insert((&lockout.home_id, &lockout.device), lockout);
        }
        notifications.extend(record.notifications.iter().map(keyward_store::columns::OutboxColumns::of));
    }
    let use_ids: Vec<&str> = uses.keys().copied().collect();
    let use_counts: Vec<i64> = uses.values().map(|u| i64::from(u.uses)).collect();
    let use_last: Vec<i64> = uses.values().map(|u| micros(u.last_used)).collect();
    let lockout_rows: Vec<(&LockoutRecord, Vec<i64>, Option<i64>)> = lockouts
        .into_values()
        .map(|l| {
            let (failures, until) = lockout_columns(&l.state);
            (l, failures, until)
        })
        .collect();

    let activity_params = activity.params();
    let use_params: [&(dyn ToSql + Sync); 3] = [&use_ids, &use_counts, &use_last];
    let lockout_params: Vec<[&(dyn ToSql + Sync); 4]> = lockout_rows
        .iter()
        .map(|(l, failures, until)| -> [&(dyn ToSql + Sync); 4] { [&l.home_id, &l.device, failures, until] })
        .collect();
    // Sent together: one round trip for the lot.
    let mut sent = Vec::with_capacity(2 + lockout_rows.len());
    if !activity.id.is_empty() {
        sent.push(client.execute(&statements.insert_activity, &activity_params));
    }
    if !use_ids.is_empty() {
        sent.push(client.execute(&statements.set_uses, &use_params));
    }
    for ((l, _, _), params) in lockout_rows.iter().zip(&lockout_params) {
        if l.state.is_clear() {
            sent.push(client.execute(&statements.clear_lockout, &params[..2]));
        } else {
            sent.push(client.execute(&statements.set_lockout, params));
        }
    }
    futures_util::future::try_join_all(sent).await.map_err(pg_error)?;
    for notification in &notifications {
        crate::notify::insert_notification(client, notification).await?;
    }
    for panel in panels.into_values() {
        let p = keyward_store::columns::PanelColumns::of(panel)?;
        client
            .execute(
                "INSERT INTO panels (home_id, settings, state, updated_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (home_id) DO UPDATE SET settings = $2, state = $3, updated_at = $4",
                &[&p.home_id, &p.settings, &p.state, &p.updated_at],
            )
            .await
            .map_err(pg_error)?;
    }
    Ok(())
}

/// Activity entries as one array per column, for `unnest`.
#[derive(Default)]
struct ActivityArrays<'a> {
    id: Vec<&'a str>,
    home_id: Vec<&'a str>,
    at: Vec<i64>,
    kind: Vec<&'a str>,
    device: Vec<Option<&'a str>>,
    action: Vec<Option<&'a str>>,
    outcome: Vec<Option<&'a str>>,
    reason: Vec<Option<&'a str>>,
    user_id: Vec<Option<&'a str>>,
    user_name: Vec<Option<&'a str>>,
    duress: Vec<bool>,
    actor: Vec<Option<String>>,
    detail: Vec<Option<&'a str>>,
}

impl<'a> ActivityArrays<'a> {
    fn push(&mut self, c: ActivityColumns<'a>) {
        self.id.push(c.id);
        self.home_id.push(c.home_id);
        self.at.push(c.at);
        self.kind.push(c.kind);
        self.device.push(c.device);
        self.action.push(c.action);
        self.outcome.push(c.outcome);
        self.reason.push(c.reason);
        self.user_id.push(c.user_id);
        self.user_name.push(c.user_name);
        self.duress.push(c.duress);
        self.actor.push(c.actor);
        self.detail.push(c.detail);
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 13] {
        [
            &self.id,
            &self.home_id,
            &self.at,
            &self.kind,
            &self.device,
            &self.action,
            &self.outcome,
            &self.reason,
            &self.user_id,
            &self.user_name,
            &self.duress,
            &self.actor,
            &self.detail,
        ]
    }
}
