//! A fresh PostgreSQL database per test, on the server the machine runs
//! (127.0.0.1:5432 with trust authentication, or `KEYWARD_TEST_POSTGRES_URL`).
//! Unreachable, it fails the test loudly: no test is skipped.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio_postgres::NoTls;

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn admin_url() -> String {
    std::env::var("KEYWARD_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// `url` with its database name replaced.
fn url_of(database: &str) -> String {
    let admin = admin_url();
    let (server, _) = admin.rsplit_once('/').expect("the admin URL names a database");
    format!("{server}/{database}")
}

/// Runs `work` with a connection to `url`, on a thread of its own (tests
/// call this from inside their own runtime).
fn with_client<T, F, Fut>(url: String, work: F) -> T
where
    T: Send + 'static,
    F: FnOnce(tokio_postgres::Client) -> Fut + Send + 'static,
    Fut: Future<Output = T>,
{
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async move {
            let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL is not reachable at {url} ({e}): the tests need it. Start it \
                     (scripts/test.sh does: pg_ctlcluster $(ls /etc/postgresql) main start) or set \
                     KEYWARD_TEST_POSTGRES_URL"
                )
            });
            let driver = tokio::spawn(connection);
            let result = work(client).await;
            driver.abort();
            result
        })
    })
    .join()
    .expect("the PostgreSQL helper thread")
}

pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    pub fn create() -> Self {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "keyward_test_{}_{}_{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed),
            keyward_app::secrets::random_hex(4)
        );
        let sql = format!("CREATE DATABASE {name}");
        with_client(admin_url(), move |client| async move {
            client.batch_execute(&sql).await.expect("CREATE DATABASE");
        });
        let url = url_of(&name);
        Self { name, url }
    }

    /// Every row of every table of keyward's, as text.
    pub fn dump(&self) -> Vec<u8> {
        with_client(self.url.clone(), |client| async move {
            let tables = client
                .query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename", &[])
                .await
                .expect("tables");
            let mut out = Vec::new();
            for table in tables {
                let table: String = table.get(0);
                let rows = client.query(&format!("SELECT t::text FROM {table} t"), &[]).await.expect("rows");
                for row in rows {
                    let text: String = row.get(0);
                    out.extend_from_slice(table.as_bytes());
                    out.extend_from_slice(b": ");
                    out.extend_from_slice(text.as_bytes());
                    out.push(b'\n');
                }
            }
            out
        })
    }

    /// Runs one SQL statement on this database and returns the first column
    /// of its rows, as text.
    pub fn query(&self, sql: &str) -> Vec<String> {
        let sql = sql.to_owned();
        with_client(self.url.clone(), move |client| async move {
            let rows = client.query(&format!("SELECT x::text FROM ({sql}) AS q(x)"), &[]).await.expect("query");
            rows.iter().map(|r| r.get::<_, String>(0)).collect()
        })
    }
}

impl TestDatabase {
    /// Runs SQL on this database, as an administrator would beside the hub.
    pub fn execute(&self, sql: &str) {
        let sql = sql.to_owned();
        with_client(self.url.clone(), move |client| async move {
            client.batch_execute(&sql).await.expect("SQL");
        });
    }

    /// Ends every connection keyward has to this database, as a restart of
    /// the database server would.
    pub fn drop_connections(&self) {
        let sql = format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = '{}' AND application_name = 'keyward'",
            self.name
        );
        self.execute(&sql);
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        with_client(admin_url(), move |client| async move {
            if let Err(e) = client.batch_execute(&sql).await {
                eprintln!("could not drop a test database: {e}");
            }
        });
    }
}
