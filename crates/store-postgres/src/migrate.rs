//! Schema migrations, embedded in the binary and applied in order, in one
//! transaction, under an advisory lock (so two starting processes cannot
//! both apply them). `keyward_migrations` records what was applied.

use keyward_store::{StoreError, StoreResult};
use tokio_postgres::Client;

use crate::connect::pg_error;

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_sign_in.sql"),
    include_str!("migrations/0003_lock_sync.sql"),
    include_str!("migrations/0004_zigbee_devices.sql"),
    include_str!("migrations/0005_notifications.sql"),
    include_str!("migrations/0006_user_alerts.sql"),
    include_str!("migrations/0007_activity_detail.sql"),
    include_str!("migrations/0008_shares.sql"),
    include_str!("migrations/0009_user_contact.sql"),
    include_str!("migrations/0010_stay_days.sql"),
    include_str!("migrations/0011_slot_history.sql"),
    include_str!("migrations/0012_session_device.sql"),
    include_str!("migrations/0013_panel.sql"),
];
/// Taken only for the migrating transaction.
const MIGRATION_LOCK: i64 = i64::from_be_bytes(*b"kwmigrat");

fn not_set_up() -> StoreError {
    StoreError::NotSetUp(
        "this PostgreSQL database holds no keyward data: start `keyward serve` with this database URL first".to_owned(),
    )
}

/// Brings the schema up to date; with `create`, makes it in an empty
/// database. Returns whether this call made it.
pub(crate) async fn migrate(client: &Client, create: bool) -> StoreResult<bool> {
    let exists: bool =
        client.query_one("SELECT to_regclass('keyward_migrations') IS NOT NULL", &[]).await.map_err(pg_error)?.get(0);
    if !exists && !create {
        return Err(not_set_up());
    }
    client.batch_execute("BEGIN").await.map_err(pg_error)?;
    let applied = apply(client, create).await;
    let end = if applied.is_ok() { "COMMIT" } else { "ROLLBACK" };
    client.batch_execute(end).await.map_err(pg_error)?;
    applied
}

async fn apply(client: &Client, create: bool) -> StoreResult<bool> {
    client.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(pg_error)?;
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS keyward_migrations (
                 version    BIGINT PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(pg_error)?;
    let found: i64 = client
        .query_one("SELECT COALESCE(max(version), 0) FROM keyward_migrations", &[])
        .await
        .map_err(pg_error)?
        .get(0);
    let known = MIGRATIONS.len() as i64;
    if found > known {
        return Err(StoreError::SchemaTooNew { found, known });
    }
    if found == 0 && !create {
        return Err(not_set_up());
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(found).unwrap_or(usize::MAX)) {
        client.batch_execute(sql).await.map_err(pg_error)?;
        let version = index as i64 + 1;
        client.execute("INSERT INTO keyward_migrations (version) VALUES ($1)", &[&version]).await.map_err(pg_error)?;
        tracing::info!(version, "applied database migration");
    }
    Ok(found == 0)
}
