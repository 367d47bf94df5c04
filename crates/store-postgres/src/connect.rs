//! Connections: made from the URL, their driver task spawned, errors mapped
//! without copying values, and the single-instance lock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyward_store::{Key, StoreError, StoreResult};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, NoTls};

/// The advisory lock a serving keyward holds on its database for as long as
/// it runs ("keyward" in ASCII). Advisory locks are per database.
const INSTANCE_LOCK: i64 = i64::from_be_bytes(*b"\0keyward");
/// How long a starting instance waits for the lock: long enough for
/// PostgreSQL to notice that a predecessor killed a moment ago is gone.
const INSTANCE_LOCK_WAIT: Duration = Duration::from_secs(2);
/// The longest a statement of the hub's may run: a database server that
/// hangs fails requests after this, instead of holding them for ever.
const STATEMENT_TIMEOUT: &str = "SET statement_timeout = '30s'";

/// Maps a PostgreSQL error; a UNIQUE violation becomes `Conflict`, so
/// callers can tell "taken" from "broken".
pub(crate) fn pg_error(e: tokio_postgres::Error) -> StoreError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        let constraint = e.as_db_error().and_then(|db| db.constraint()).unwrap_or("(unnamed)");
        return StoreError::Conflict(key_of(constraint));
    }
    StoreError::database(Described(describe(&e)))
}

/// The key a unique constraint guards, by the constraint's name (the
/// migrations' index names, PostgreSQL's `<table>_<column>_key` otherwise).
fn key_of(constraint: &str) -> Key {
    match constraint {
        "users_by_code" => Key::UserCode,
        "channels_by_name" => Key::ChannelName,
        "locks_by_device" | "locks_by_device_name" | "locks_by_device_ieee" | "sensors_device" | "sirens_device" => {
            Key::DeviceBinding
        }
        "owners_email_key" => Key::OwnerEmail,
        other => Key::Other(other.to_owned()),
    }
}

/// The error in one line: the driver's words, and the server's (severity,
/// SQLSTATE and message). The server's DETAIL is left out: it quotes row
/// values. (Nothing secret reaches the database in plain text anyway.)
fn describe(e: &tokio_postgres::Error) -> String {
    match (e.as_db_error(), std::error::Error::source(e)) {
        (Some(db), _) => format!("{e}: {} {}: {}", db.severity(), db.code().code(), db.message()),
        (None, Some(cause)) => format!("{e}: {cause}"),
        (None, None) => e.to_string(),
    }
}

#[derive(Debug)]
struct Described(String);

impl std::fmt::Display for Described {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Described {}

pub(crate) fn parse_url(url: &str) -> StoreResult<Config> {
    // The parser's message may quote the URL, which may hold a password.
    let mut config: Config = url.parse().map_err(|_| {
        StoreError::NotSetUp("the PostgreSQL URL is not valid (postgres://USER@HOST:PORT/DATABASE)".to_owned())
    })?;
    config.application_name("keyward");
    config.connect_timeout(Duration::from_secs(10));
    Ok(config)
}

pub(crate) async fn connect(config: &Config) -> StoreResult<Client> {
    let (client, connection) = config.connect(NoTls).await.map_err(pg_error)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "a PostgreSQL connection ended");
        }
    });
    Ok(client)
}

/// A connection for the hub's own reads and writes (not migrations, which
/// may take longer): its statements time out.
pub(crate) async fn connect_for_requests(config: &Config) -> StoreResult<Client> {
    let client = connect(config).await?;
    client.batch_execute(STATEMENT_TIMEOUT).await.map_err(pg_error)?;
    Ok(client)
}

/// Takes the single-instance lock on this connection's session, or refuses:
/// two instances serving one database would each trust their own memory of
/// the homes.
pub(crate) async fn take_instance_lock(client: &Client) -> StoreResult<()> {
    let wait = format!("SET lock_timeout = '{}ms'", INSTANCE_LOCK_WAIT.as_millis());
    client.batch_execute(&wait).await.map_err(pg_error)?;
    let taken = client.execute("SELECT pg_advisory_lock($1)", &[&INSTANCE_LOCK]).await;
    client.batch_execute("SET lock_timeout = 0").await.map_err(pg_error)?;
    match taken {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => Err(StoreError::InUse(
            "another keyward is serving this PostgreSQL database; one instance per database for now (stop the \
             other one, or give this one a database of its own)"
                .to_owned(),
        )),
        Err(e) => Err(pg_error(e)),
    }
}

/// Takes the single-instance lock on this connection's session when it is
/// free; false when another session holds it.
pub(crate) async fn try_instance_lock(client: &Client) -> StoreResult<bool> {
    let row = client.query_one("SELECT pg_try_advisory_lock($1)", &[&INSTANCE_LOCK]).await.map_err(pg_error)?;
    row.try_get(0).map_err(pg_error)
}

/// The connection reads go through: one, pipelined (queries from many tasks
/// share it), made again when it was lost.
pub(crate) struct Reader {
    config: Config,
    client: Mutex<Arc<Client>>,
}

impl Reader {
    pub async fn new(config: Config) -> StoreResult<Self> {
        let client = Arc::new(connect_for_requests(&config).await?);
        Ok(Self { config, client: Mutex::new(client) })
    }

    pub async fn client(&self) -> StoreResult<Arc<Client>> {
        let current = self.client.lock().map_err(|_| StoreError::Corrupt("reader poisoned"))?.clone();
        if !current.is_closed() {
            return Ok(current);
        }
        let fresh = Arc::new(connect_for_requests(&self.config).await?);
        *self.client.lock().map_err(|_| StoreError::Corrupt("reader poisoned"))? = fresh.clone();
        Ok(fresh)
    }
}
