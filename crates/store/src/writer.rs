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

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::StoreError;
use crate::db::open_connection;

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
    writer: thread::JoinHandle<()>,
    checkpointer: thread::JoinHandle<()>,
}

impl WriterHandle {
    /// Waits until every job sent before the last `Writer` was dropped is
    /// committed, and the WAL is checkpointed.
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
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        // A WAL that grew under a burst is cut back when it restarts.
        conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
        let path = conn.path().map(PathBuf::from).ok_or(StoreError::Corrupt("the database has no file"))?;
        let checkpoint_conn = open_connection(&path, false)?;
        let thread_error = |source| StoreError::DataDir { path: path.clone(), source };
        let (jobs, inbox) = mpsc::channel::<Work>();
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
    // Cached statements: a job's savepoint costs no SQL parsing.
    conn.prepare_cached("SAVEPOINT job")?.execute([])?;
    match f(conn) {
        Ok(value) => {
            conn.prepare_cached("RELEASE job")?.execute([])?;
            Ok(value)
        }
        Err(e) => {
            conn.prepare_cached("ROLLBACK TO job")?.execute([])?;
            conn.prepare_cached("RELEASE job")?.execute([])?;
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

fn run(conn: Connection, inbox: mpsc::Receiver<Work>, restart_wanted: &AtomicBool) {
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
        return Err(e.into());
    }
    for work in batch.drain(..) {
        finishers.push(work(Some(conn)));
    }
    match conn.prepare_cached("COMMIT").and_then(|mut s| s.execute([])) {
        Ok(_) => Ok(()),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Db;

    fn count(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM meta WHERE key LIKE 't%'", [], |r| r.get(0)).expect("count")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_job_rolls_back_alone_and_the_rest_commit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let opened = Db::open(dir.path()).expect("open");
        let (writer, handle) = Writer::spawn(opened.connection).expect("spawn");
        let mut pending = Vec::new();
        for i in 0..200 {
            pending.push(
                writer
                    .submit(move |conn| {
                        conn.execute("INSERT INTO meta (key, value) VALUES (?1, x'00')", [format!("t{i}")])?;
                        if i % 50 == 7 {
                            // Half done, then refused: the savepoint undoes the insert.
                            return Err(StoreError::Conflict);
                        }
                        Ok(i)
                    })
                    .expect("queued"),
            );
        }
        let mut ok = 0;
        for (i, p) in pending.into_iter().enumerate() {
            match p.committed().await {
                Ok(n) => {
                    assert_eq!(n, i);
                    ok += 1;
                }
                Err(StoreError::Conflict) => assert_eq!(i % 50, 7),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(ok, 196);
        let committed = opened.db.read(|conn| Ok(count(conn))).expect("read");
        assert_eq!(committed, 196, "every acknowledged write is visible to a new reader");
        drop(writer);
        handle.join();
        let wal = dir.path().join("keyward.db-wal");
        assert!(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) == 0, "the last checkpoint empties the WAL");
    }
}
