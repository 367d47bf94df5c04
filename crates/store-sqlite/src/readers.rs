//! The read pool: up to [`READERS`] threads, each with its own read-only
//! connection (WAL lets them read beside the writer), take reads off one
//! queue in order.
//!
//! Why threads of our own rather than the runtime's blocking pool: a burst of
//! reads (every token's cache entry expiring under load) took a blocking
//! thread and opened a connection each, and each thread kept its own
//! allocator heaps afterwards. Here the threads, their connections and
//! their memory are bounded, and a burst waits its turn in the queue.
//! Threads start as reads need them and end when the store is dropped.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread;

use keyward_store::StoreError;
use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::db::open_connection;

/// Read threads (and connections) at most.
pub(crate) const READERS: usize = 4;

type Job = Box<dyn FnOnce(Result<&Connection, StoreError>) + Send>;

pub(crate) struct Readers {
    jobs: Sender<Job>,
    shared: Arc<Shared>,
}

struct Shared {
    path: PathBuf,
    inbox: Mutex<Receiver<Job>>,
    /// Threads started, and threads waiting for a job.
    started: AtomicUsize,
    idle: AtomicUsize,
}

impl Readers {
    pub fn new(path: PathBuf) -> Self {
        let (jobs, inbox) = channel();
        let shared = Shared { path, inbox: Mutex::new(inbox), started: AtomicUsize::new(0), idle: AtomicUsize::new(0) };
        Self { jobs, shared: Arc::new(shared) }
    }

    /// Runs `f` on a read connection; resolves with its result.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let _ = answer.send(conn.and_then(f));
        });
        self.jobs.send(job).map_err(|_| StoreError::Corrupt("the read threads are gone"))?;
        self.start_one_if_needed()?;
        answered.await.map_err(|_| StoreError::Corrupt("a database read panicked"))?
    }

    /// Starts another thread when none is waiting and fewer than
    /// [`READERS`] run.
    fn start_one_if_needed(&self) -> Result<(), StoreError> {
        if self.shared.idle.load(Ordering::Acquire) > 0 {
            return Ok(());
        }
        let started =
            self.shared.started.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < READERS).then_some(n + 1));
        if started.is_err() {
            return Ok(());
        }
        let shared = Arc::clone(&self.shared);
        let spawned = thread::Builder::new().name("keyward-db-reader".into()).spawn(move || serve(&shared));
        if let Err(source) = spawned {
            self.shared.started.fetch_sub(1, Ordering::AcqRel);
            // The read queued above waits for a thread that may never come:
            // say why now.
            if self.shared.started.load(Ordering::Acquire) == 0 {
                return Err(StoreError::DataDir { path: self.shared.path.clone(), source });
            }
        }
        Ok(())
    }
}

/// One read thread: opens its connection at its first job (again after a
/// failure), and runs jobs until every sender is gone.
fn serve(shared: &Shared) {
    let mut conn: Option<Connection> = None;
    loop {
        shared.idle.fetch_add(1, Ordering::AcqRel);
        let job = match shared.inbox.lock() {
            Ok(inbox) => inbox.recv(),
            Err(_) => return,
        };
        shared.idle.fetch_sub(1, Ordering::AcqRel);
        let Ok(job) = job else { return };
        if conn.is_none() {
            match open_connection(&shared.path, true) {
                Ok(opened) => conn = Some(opened),
                Err(error) => {
                    job(Err(error));
                    continue;
                }
            }
        }
        if let Some(conn) = conn.as_ref() {
            // A panicking read answers "panicked" (its sender is dropped);
            // the thread and its connection carry on.
            let _ = catch_unwind(AssertUnwindSafe(|| job(Ok(conn))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_reads_uses_a_bounded_number_of_threads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keyward.db");
        let (_writer_connection, _) = crate::db::open(&path, true).expect("open");
        let readers = Arc::new(Readers::new(path));
        let mut reads = Vec::new();
        for i in 0..200_i64 {
            let readers = Arc::clone(&readers);
            reads.push(tokio::spawn(async move {
                readers
                    .read(move |conn| {
                        std::thread::sleep(std::time::Duration::from_micros(200));
                        conn.query_row("SELECT ?1 + 1", [i], |r| r.get::<_, i64>(0))
                            .map_err(|_| StoreError::Corrupt("query"))
                    })
                    .await
            }));
        }
        for (i, read) in reads.into_iter().enumerate() {
            assert_eq!(read.await.expect("join").expect("read"), i as i64 + 1);
        }
        let started = readers.shared.started.load(Ordering::Acquire);
        assert!((1..=READERS).contains(&started), "{started} read threads for 200 reads at once");
        let panicked = readers.read(|_| -> Result<(), StoreError> { panic!("a read that panics") }).await;
        assert!(matches!(panicked, Err(StoreError::Corrupt(_))), "{panicked:?}");
        let after = readers
            .read(|conn| conn.query_row("SELECT 2", [], |r| r.get::<_, i64>(0)).map_err(|_| StoreError::Corrupt("q")))
            .await;
        assert_eq!(after.expect("the pool still reads"), 2);
    }
}
