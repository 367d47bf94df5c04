//! Alert channels and the outbox, on SQLite.

use keyward_store::columns::{ChannelColumns, OutboxColumns};
use keyward_store::{ChannelRecord, DeliveryUpdate, OutboxRecord, StoreResult};
use rusqlite::{Connection, Row, params};

use crate::statements::Sql;

pub fn put_channel(conn: &Connection, channel: &ChannelRecord) -> StoreResult<()> {
    let c = ChannelColumns::of(channel);
    conn.prepare_cached(
        "INSERT INTO channels (id, home_id, name, kind, target, secret_sealed, emergency, quiet_start, quiet_end,
                               created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (id) DO UPDATE SET name = ?3, kind = ?4, target = ?5, secret_sealed = ?6, emergency = ?7,
             quiet_start = ?8, quiet_end = ?9, updated_at = ?11",
    )
    .sql()?
    .execute(params![
        c.id,
        c.home_id,
        c.name,
        c.kind,
        c.target,
        c.secret_sealed,
        c.emergency,
        c.quiet_start,
        c.quiet_end,
        c.created_at,
        c.updated_at
    ])
    .sql()?;
    Ok(())
}

pub fn delete_channel(conn: &Connection, home_id: &str, channel_id: &str) -> StoreResult<bool> {
    let deleted = conn
        .prepare_cached("DELETE FROM channels WHERE id = ?1 AND home_id = ?2")
        .sql()?
        .execute([channel_id, home_id])
        .sql()?;
    if deleted > 0 {
        conn.prepare_cached("DELETE FROM outbox WHERE channel_id = ?1").sql()?.execute([channel_id]).sql()?;
    }
    Ok(deleted > 0)
}

fn channel_columns(row: &Row<'_>) -> rusqlite::Result<ChannelColumns> {
    Ok(ChannelColumns {
        id: row.get("id")?,
        home_id: row.get("home_id")?,
        name: row.get("name")?,
        kind: row.get("kind")?,
        target: row.get("target")?,
        secret_sealed: row.get("secret_sealed")?,
        emergency: row.get("emergency")?,
        quiet_start: row.get("quiet_start")?,
        quiet_end: row.get("quiet_end")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

pub fn channels(conn: &Connection) -> StoreResult<Vec<ChannelRecord>> {
    conn.prepare_cached("SELECT * FROM channels ORDER BY created_at, id")
        .sql()?
        .query_map([], channel_columns)
        .sql()?
        .map(|r| r.sql().and_then(ChannelColumns::into_record))
        .collect()
}

/// Queues a notification; one for a channel removed meanwhile (by another
/// process, whose removal this hub has not loaded yet) is dropped, never
/// allowed to fail the event's transaction.
pub fn insert_notification(conn: &Connection, notification: &OutboxRecord) -> StoreResult<()> {
    let o = OutboxColumns::of(notification);
    conn.prepare_cached(
        "INSERT INTO outbox (id, home_id, channel_id, event_id, kind, created_at, title, body, data, state, attempts,
                             next_at, last_error, delivered_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14
         WHERE EXISTS (SELECT 1 FROM channels WHERE id = ?3)",
    )
    .sql()?
    .execute(params![
        o.id,
        o.home_id,
        o.channel_id,
        o.event_id,
        o.kind,
        o.created_at,
        o.title,
        o.body,
        o.data,
        o.state,
        o.attempts,
        o.next_at,
        o.last_error,
        o.delivered_at
    ])
    .sql()?;
    Ok(())
}

fn outbox_columns(row: &Row<'_>) -> rusqlite::Result<OutboxColumns> {
    Ok(OutboxColumns {
        id: row.get("id")?,
        home_id: row.get("home_id")?,
        channel_id: row.get("channel_id")?,
        event_id: row.get("event_id")?,
        kind: row.get("kind")?,
        created_at: row.get("created_at")?,
        title: row.get("title")?,
        body: row.get("body")?,
        data: row.get("data")?,
        state: row.get("state")?,
        attempts: row.get("attempts")?,
        next_at: row.get("next_at")?,
        last_error: row.get("last_error")?,
        delivered_at: row.get("delivered_at")?,
    })
}

const OUTBOX: &str = "id, home_id, channel_id, event_id, kind, created_at, title, body, data, state, attempts, next_at,
                      last_error, delivered_at";

pub fn pending(conn: &Connection, per_channel: u32) -> StoreResult<Vec<OutboxRecord>> {
    let sql = format!(
        "SELECT {OUTBOX} FROM (
             SELECT *, ROW_NUMBER() OVER (PARTITION BY channel_id ORDER BY seq) AS place
             FROM outbox WHERE state = 'pending')
         WHERE place <= ?1 ORDER BY channel_id, seq"
    );
    conn.prepare_cached(&sql)
        .sql()?
        .query_map([per_channel], outbox_columns)
        .sql()?
        .map(|r| r.sql().and_then(OutboxColumns::into_record))
        .collect()
}

pub fn update_delivery(conn: &Connection, u: &DeliveryUpdate) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE outbox SET state = ?2, attempts = ?3, next_at = ?4, last_error = ?5, delivered_at = ?6 WHERE id = ?1",
    )
    .sql()?
    .execute(params![
        u.id,
        u.state.as_str(),
        i64::from(u.attempts),
        keyward_store::columns::micros(u.next_at),
        u.last_error,
        u.delivered_at.map(keyward_store::columns::micros)
    ])
    .sql()?;
    Ok(())
}

pub fn deliveries(conn: &Connection, channel_id: &str, limit: u32) -> StoreResult<Vec<OutboxRecord>> {
    let sql = format!("SELECT {OUTBOX} FROM outbox WHERE channel_id = ?1 ORDER BY seq DESC LIMIT ?2");
    conn.prepare_cached(&sql)
        .sql()?
        .query_map(params![channel_id, limit], outbox_columns)
        .sql()?
        .map(|r| r.sql().and_then(OutboxColumns::into_record))
        .collect()
}
