//! The single writer. Every change to the database goes through one thread
//! that drains whatever jobs are waiting into one transaction and commits
//! them together (group commit): under load one fsync covers many requests,
//! and each caller is answered only after the commit that holds its write.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use keyward_store::{Pending, StoreError};
use rusqlite::Connection;

use crate::db::{open_connection, sql_error};

/// The most jobs one transaction takes, so a burst cannot delay its first
/// callers without bound.
const MAX_BATCH: usize = 1024;

type Finish = Box<dyn FnOnce(Result<(), &StoreError>) + Send>;
/// A job gets the connection inside the open transaction, or `None` when the
/// transaction could not even begin; either way it returns how to answer its
/// caller once the commit's outcome is known.
type Work = Box<dyn FnOnce(Option<&Connection>) -> Finish + Send>;

enum Message {
    Work(Work),
    /// Commit what came before, then stop.
    Stop,
}

#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Message>,
}

pub struct WriterHandle {
    writer: thread::JoinHandle<()>,
    checkpointer: thread::JoinHandle<()>,
}

impl WriterHandle {
    /// Waits until every job queued before `Writer::stop` (or before the last
    /// `Writer` was dropped) is committed, and the WAL is checkpointed.
    pub fn join(self) {
        if self.writer.join().is_err() {
            tracing::error!("the database writer thread panicked");
        }
        if self.checkpointer.join().is_err() {
            tracing::error!("the database checkpointer thread panicked");
        }
    }
}

/// How often the checkpointer copies the WAL back into the database while
/// writes come in, and while they do not.
const CHECKPOINT_BUSY: Duration = Duration::from_millis(50);
const CHECKPOINT_IDLE: Duration = Duration::from_secs(1);
/// WAL frames after which the WAL should restart from its beginning.
const RESTART_WAL_AT: i64 = 8192;

impl Writer {
    pub fn spawn(conn: Connection) -> Result<(Self, WriterHandle), StoreError> {
        // Checkpoints copy the WAL back into the database; left to SQLite they
        // run inside a commit and stall every request waiting on it. The
        // checkpointer thread runs them beside the writer instead.
        conn.pragma_update(None, "wal_autocheckpoint", 0).map_err(sql_error)?;
        // A WAL that grew under a burst is cut back when it restarts.
        conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024).map_err(sql_error)?;
        let path = conn.path().map(PathBuf::from).ok_or(StoreError::Corrupt("the database has no file"))?;
        let checkpoint_conn = open_connection(&path, false)?;
        let thread_error = |source| StoreError::DataDir { path: path.clone(), source };
        let (jobs, inbox) = mpsc::channel::<Message>();
        // The writer holds `alive`; when it ends, the checkpointer sees the
        // channel close, checkpoints once more, and ends too.
        let (alive, writer_gone) = mpsc::channel::<()>();
        let restart_wanted = Arc::new(AtomicBool::new(false));
        let wanted = Arc::clone(&restart_wanted);
        let writer = thread::Builder::new()
            .name("keyward-db-writer".into())
            .spawn(move || {
                run(conn, inbox, &wanted);
                drop(alive);
            })
            .map_err(thread_error)?;
        let checkpointer = thread::Builder::new()
            .name("keyward-db-checkpoint".into())
            .spawn(move || checkpoint_until_closed(&checkpoint_conn, &writer_gone, &restart_wanted))
            .map_err(thread_error)?;
        Ok((Self { jobs }, WriterHandle { writer, checkpointer }))
    }

    /// Runs `f` in the next batch, inside its own savepoint: when it fails,
    /// its changes are rolled back and the rest of the batch still commits.
    /// Resolves after the commit.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit(f).committed().await
    }

    /// Lets the writer commit everything queued so far, then stop; later
    /// writes fail with `WriterGone`.
    pub fn stop(&self) {
        let _ = self.jobs.send(Message::Stop);
    }

    /// Queues `f` now, in order with every other write, and returns what to
    /// await for its commit. Callers that must order a write against
    /// in-memory state submit while holding their lock and await after.
    pub fn submit<T, F>(&self, f: F) -> Pending<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.submit_observed(f, || ())
    }

    /// As [`Writer::submit`]; `on_failure` runs on the writer when the write
    /// fails (itself, or its batch's commit), before the next batch begins.
    pub fn submit_observed<T, F, O>(&self, f: F, on_failure: O) -> Pending<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        O: FnOnce() + Send + 'static,
    {
        let (reply, pending) = Pending::new();
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
                if result.is_err() {
                    on_failure();
                }
                reply.send(result);
            })
        });
        match self.jobs.send(Message::Work(work)) {
            Ok(()) => pending,
            // The job (and its reply) came back undelivered: the caller's
            // `Pending` then resolves to `WriterGone`.
            Err(_) => Pending::failed(StoreError::WriterGone),
        }
    }
}

fn in_savepoint<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
    // Cached statements: a job's savepoint costs no SQL parsing.
    let run = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map_err(sql_error);
    run("SAVEPOINT job")?;
    match f(conn) {
        Ok(value) => {
            run("RELEASE job")?;
            Ok(value)
        }
        Err(e) => {
            run("ROLLBACK TO job")?;
            run("RELEASE job")?;
            Err(e)
        }
    }
}

/// Copies the WAL back into the database beside the writer, in small steps
/// so that no step's fsync holds up a commit for long.
///
/// Under steady load these checkpoints never reach the last frame (the
/// writer keeps adding), so the WAL would only grow. When it is long and a
/// checkpoint has just caught up, the checkpointer asks the writer to finish
/// one itself between two batches: with only a few frames left to copy that
/// is quick, and the next transaction restarts the WAL at its beginning.
fn checkpoint_until_closed(conn: &Connection, writer_gone: &mpsc::Receiver<()>, restart_wanted: &AtomicBool) {
    let mut wait = CHECKPOINT_IDLE;
    let mut last_frames = 0;
    loop {
        let closing = matches!(writer_gone.recv_timeout(wait), Err(mpsc::RecvTimeoutError::Disconnected));
        // PASSIVE never blocks the writer; the last one, with nothing left
        // to write, empties the WAL.
        let mode = if closing { "TRUNCATE" } else { "PASSIVE" };
        match checkpoint(conn, mode) {
            Ok((frames, copied)) => {
                if frames >= RESTART_WAL_AT && copied == frames {
                    restart_wanted.store(true, Ordering::Relaxed);
                }
                wait = if frames == last_frames { CHECKPOINT_IDLE } else { CHECKPOINT_BUSY };
                last_frames = frames;
            }
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
        if closing {
            return;
        }
    }
}

/// Returns the frames in the WAL and how many of them are in the database.
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<(i64, i64)> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| Ok((r.get(1)?, r.get(2)?)))
}

fn run(conn: Connection, inbox: mpsc::Receiver<Message>, restart_wanted: &AtomicBool) {
    let mut batch: Vec<Work> = Vec::with_capacity(64);
    let mut finishers = Vec::with_capacity(64);
    let mut stopping = false;
    // Blocks until a job arrives; ends when asked to stop, or when every
    // Writer is dropped and the inbox is empty.
    while !stopping && let Ok(first) = inbox.recv() {
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Work(job) => batch.push(job),
                Message::Stop => {
                    stopping = true;
                    break;
                }
            }
            if batch.len() < MAX_BATCH {
                next = inbox.try_recv().ok();
            }
        }
        if batch.is_empty() {
            continue;
        }
        // A failed commit reaches every caller in the batch, who logs it at
        // the edge; it is not logged here a second time.
        let committed = commit_batch(&conn, &mut batch, &mut finishers);
        for finish in finishers.drain(..) {
            finish(committed.as_ref().map(|_| ()));
        }
        if restart_wanted.swap(false, Ordering::Relaxed)
            && let Err(e) = checkpoint(&conn, "PASSIVE")
        {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

fn commit_batch(conn: &Connection, batch: &mut Vec<Work>, finishers: &mut Vec<Finish>) -> Result<(), StoreError> {
    if let Err(e) = conn.prepare_cached("BEGIN IMMEDIATE").and_then(|mut s| s.execute([])) {
        // Nothing ran: every job still answers, with the failure.
        for work in batch.drain(..) {
            finishers.push(work(None));
        }
        return Err(sql_error(e));
    }
    for work in batch.drain(..) {
        finishers.push(work(Some(conn)));
    }
    match conn.prepare_cached("COMMIT").and_then(|mut s| s.execute([])) {
        Ok(_) => Ok(()),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(sql_error(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM meta WHERE key LIKE 't%'", [], |r| r.get(0)).expect("count")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_job_rolls_back_alone_and_the_rest_commit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keyward.db");
        let (connection, _) = crate::db::open(&path, true).expect("open");
        let (writer, handle) = Writer::spawn(connection).expect("spawn");
        let mut pending = Vec::new();
        for i in 0..200 {
            pending.push(writer.submit(move |conn| {
                conn.execute("INSERT INTO meta (key, value) VALUES (?1, x'00')", [format!("t{i}")])
                    .map_err(sql_error)?;
                if i % 50 == 7 {
                    // Half done, then refused: the savepoint undoes the insert.
                    return Err(StoreError::Conflict(keyward_store::Key::Other("test".into())));
                }
                Ok(i)
            }));
        }
        let mut ok = 0;
        for (i, p) in pending.into_iter().enumerate() {
            match p.committed().await {
                Ok(n) => {
                    assert_eq!(n, i);
                    ok += 1;
                }
                Err(StoreError::Conflict(_)) => assert_eq!(i % 50, 7),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(ok, 196);
        let committed = count(&crate::db::open_connection(&path, true).expect("a new reader"));
        assert_eq!(committed, 196, "every acknowledged write is visible to a new reader");
        writer.stop();
        handle.join();
        let late = writer.submit(|_| Ok(())).committed().await;
        assert!(matches!(late, Err(StoreError::WriterGone)), "a stopped writer takes nothing more");
        let wal = dir.path().join("keyward.db-wal");
        assert!(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) == 0, "the last checkpoint empties the WAL");
    }
}
