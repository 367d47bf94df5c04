//! The single writer. Every change to the database goes through one thread
//! that drains whatever jobs are waiting into one transaction and commits
//! them together (group commit): under load one fsync covers many requests,
//! and each caller is answered only after the commit that holds its write.

use std::sync::mpsc;
use std::thread;

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::StoreError;

/// The most jobs one transaction takes, so a burst cannot delay its first
/// callers without bound.
const MAX_BATCH: usize = 1024;

type Finish = Box<dyn FnOnce(Result<(), &StoreError>) + Send>;
/// A job gets the connection inside the open transaction, or `None` when the
/// transaction could not even begin; either way it returns how to answer its
/// caller once the commit's outcome is known.
type Work = Box<dyn FnOnce(Option<&Connection>) -> Finish + Send>;

#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Work>,
}

pub struct WriterHandle {
    thread: thread::JoinHandle<()>,
}

impl WriterHandle {
    /// Waits until every job sent before the last `Writer` was dropped is committed.
    pub fn join(self) {
        if self.thread.join().is_err() {
            tracing::error!("the database writer thread panicked");
        }
    }
}

impl Writer {
    pub fn spawn(conn: Connection) -> Result<(Self, WriterHandle), StoreError> {
        let (jobs, inbox) = mpsc::channel::<Work>();
        let thread = thread::Builder::new()
            .name("keyward-db-writer".into())
            .spawn(move || run(conn, inbox))
            .map_err(|source| StoreError::DataDir { path: "writer thread".into(), source })?;
        Ok((Self { jobs }, WriterHandle { thread }))
    }

    /// Runs `f` in the next batch, inside its own savepoint: when it fails,
    /// its changes are rolled back and the rest of the batch still commits.
    /// Resolves after the commit.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(f)?.committed().await
    }

    /// Queues `f` now, in order with every other write, and returns what to
    /// await for its commit. Callers that must order a write against
    /// in-memory state submit while holding their lock and await after.
    pub fn submit<T, F>(&self, f: F) -> Result<Pending<T>, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let work: Work = Box::new(move |conn: Option<&Connection>| {
            let outcome = match conn {
                Some(conn) => in_savepoint(conn, f),
                None => Err(StoreError::Corrupt("the database could not begin a transaction")),
            };
            Box::new(move |committed: Result<(), &StoreError>| {
                let result = match (committed, outcome) {
                    (Ok(()), outcome) => outcome,
                    (Err(_), Ok(_)) => Err(StoreError::Corrupt("the batch holding this write failed to commit")),
                    (Err(_), Err(e)) => Err(e),
                };
                // The caller may have gone away; its write is committed regardless.
                let _ = reply.send(result);
            })
        });
        self.jobs.send(work).map_err(|_| StoreError::WriterGone)?;
        Ok(Pending(answer))
    }
}

/// A write that is queued; await [`Pending::committed`] for its outcome.
pub struct Pending<T>(oneshot::Receiver<Result<T, StoreError>>);

impl<T> Pending<T> {
    pub async fn committed(self) -> Result<T, StoreError> {
        self.0.await.map_err(|_| StoreError::WriterGone)?
    }
}

fn in_savepoint<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
    conn.execute_batch("SAVEPOINT job")?;
    match f(conn) {
        Ok(value) => {
            conn.execute_batch("RELEASE job")?;
            Ok(value)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
            Err(e)
        }
    }
}

fn run(conn: Connection, inbox: mpsc::Receiver<Work>) {
    let mut batch: Vec<Work> = Vec::with_capacity(64);
    let mut finishers = Vec::with_capacity(64);
    // Blocks until a job arrives; ends when every Writer is dropped and the inbox is empty.
    while let Ok(first) = inbox.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match inbox.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let committed = commit_batch(&conn, &mut batch, &mut finishers);
        if let Err(e) = &committed {
            tracing::error!(error = %e, jobs = finishers.len(), "a write batch failed to commit");
        }
        for finish in finishers.drain(..) {
            finish(committed.as_ref().map(|_| ()));
        }
    }
}

fn commit_batch(conn: &Connection, batch: &mut Vec<Work>, finishers: &mut Vec<Finish>) -> Result<(), StoreError> {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        // Nothing ran: every job still answers, with the failure.
        for work in batch.drain(..) {
            finishers.push(work(None));
        }
        return Err(e.into());
    }
    for work in batch.drain(..) {
        finishers.push(work(Some(conn)));
    }
    match conn.execute_batch("COMMIT") {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e.into())
        }
    }
}
