//! Schema migrations, embedded in the binary and applied in order at start,
//! all pending ones in one transaction. `PRAGMA user_version` records the
//! last one applied.

use keyward_store::StoreError;
use rusqlite::Connection;

use crate::db::sql_error;

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_owners.sql"),
    include_str!("migrations/0003_last_used.sql"),
    include_str!("migrations/0004_invites.sql"),
    include_str!("migrations/0005_sign_in.sql"),
    include_str!("migrations/0006_lock_sync.sql"),
    include_str!("migrations/0007_zigbee_devices.sql"),
    include_str!("migrations/0008_notifications.sql"),
    include_str!("migrations/0009_user_alerts.sql"),
    include_str!("migrations/0010_activity_detail.sql"),
    include_str!("migrations/0011_shares.sql"),
    include_str!("migrations/0012_user_contact.sql"),
    include_str!("migrations/0013_stay_days.sql"),
    include_str!("migrations/0014_slot_history.sql"),
    include_str!("migrations/0015_session_device.sql"),
    include_str!("migrations/0016_panel.sql"),
];

pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let known = MIGRATIONS.len() as i64;
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(sql_error)?;
    if found > known {
        return Err(StoreError::SchemaTooNew { found, known });
    }
    if found == known {
        return Ok(());
    }
    // Every pending migration in one transaction: an upgrade is all or
    // nothing, and a new database costs one commit (one fsync), not one per
    // migration (they had become most of a first start's time).
    let apply = |conn: &mut Connection| -> rusqlite::Result<()> {
        let tx = conn.transaction()?;
        for sql in &MIGRATIONS[found as usize..] {
            tx.execute_batch(sql)?;
        }
        tx.pragma_update(None, "user_version", known)?;
        tx.commit()
    };
    apply(conn).map_err(sql_error)?;
    for version in found + 1..=known {
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}
