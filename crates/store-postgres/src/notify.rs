//! Alert channels and the outbox, on PostgreSQL.

use keyward_store::columns::{ChannelColumns, OutboxColumns, micros};
use keyward_store::{ChannelRecord, DeliveryUpdate, OutboxRecord, StoreResult};
use tokio_postgres::{Client, Row};

use crate::connect::pg_error;

pub async fn put_channel(client: &Client, c: &ChannelColumns) -> StoreResult<()> {
    client
        .execute(
            "INSERT INTO channels (id, home_id, name, kind, target, secret_sealed, emergency, quiet_start, quiet_end,
                                   created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (id) DO UPDATE SET name = $3, kind = $4, target = $5, secret_sealed = $6, emergency = $7,
                 quiet_start = $8, quiet_end = $9, updated_at = $11",
            &[
                &c.id,
                &c.home_id,
                &c.name,
                &c.kind,
                &c.target,
                &c.secret_sealed,
                &c.emergency,
                &c.quiet_start,
                &c.quiet_end,
                &c.created_at,
                &c.updated_at,
            ],
        )
        .await
        .map_err(pg_error)?;
    Ok(())
}

pub async fn delete_channel(client: &Client, home_id: &str, channel_id: &str) -> StoreResult<bool> {
    // The outbox rows go with it (ON DELETE CASCADE).
    let deleted = client
        .execute("DELETE FROM channels WHERE id = $1 AND home_id = $2", &[&channel_id, &home_id])
        .await
        .map_err(pg_error)?;
    Ok(deleted > 0)
}

fn channel(row: &Row) -> StoreResult<ChannelRecord> {
    let get = |name: &str| row.try_get::<_, String>(name).map_err(pg_error);
    ChannelColumns {
        id: get("id")?,
        home_id: get("home_id")?,
        name: get("name")?,
        kind: get("kind")?,
        target: get("target")?,
        secret_sealed: row.try_get("secret_sealed").map_err(pg_error)?,
        emergency: row.try_get("emergency").map_err(pg_error)?,
        quiet_start: row.try_get("quiet_start").map_err(pg_error)?,
        quiet_end: row.try_get("quiet_end").map_err(pg_error)?,
        created_at: row.try_get("created_at").map_err(pg_error)?,
        updated_at: row.try_get("updated_at").map_err(pg_error)?,
    }
    .into_record()
}

pub async fn channels(client: &Client) -> StoreResult<Vec<ChannelRecord>> {
    let rows = client.query("SELECT * FROM channels ORDER BY created_at, id", &[]).await.map_err(pg_error)?;
    rows.iter().map(channel).collect()
}

pub async fn insert_notification(client: &Client, o: &OutboxColumns) -> StoreResult<()> {
    client
        .execute(
            // A channel removed meanwhile (by another process) drops its
            // notification instead of failing the event's transaction.
            "INSERT INTO outbox (id, home_id, channel_id, event_id, kind, created_at, title, body, data, state,
                                 attempts, next_at, last_error, delivered_at)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14
             WHERE EXISTS (SELECT 1 FROM channels WHERE id = $3)",
            &[
                &o.id,
                &o.home_id,
                &o.channel_id,
                &o.event_id,
                &o.kind,
                &o.created_at,
                &o.title,
                &o.body,
                &o.data,
                &o.state,
                &o.attempts,
                &o.next_at,
                &o.last_error,
                &o.delivered_at,
            ],
        )
        .await
        .map_err(pg_error)?;
    Ok(())
}

const OUTBOX: &str = "id, home_id, channel_id, event_id, kind, created_at, title, body, data, state, attempts, next_at,
                      last_error, delivered_at";

fn notification(row: &Row) -> StoreResult<OutboxRecord> {
    let get = |name: &str| row.try_get::<_, String>(name).map_err(pg_error);
    OutboxColumns {
        id: get("id")?,
        home_id: get("home_id")?,
        channel_id: get("channel_id")?,
        event_id: get("event_id")?,
        kind: get("kind")?,
        created_at: row.try_get("created_at").map_err(pg_error)?,
        title: get("title")?,
        body: get("body")?,
        data: get("data")?,
        state: get("state")?,
        attempts: row.try_get("attempts").map_err(pg_error)?,
        next_at: row.try_get("next_at").map_err(pg_error)?,
        last_error: row.try_get("last_error").map_err(pg_error)?,
        delivered_at: row.try_get("delivered_at").map_err(pg_error)?,
    }
    .into_record()
}

pub async fn pending(client: &Client, per_channel: u32) -> StoreResult<Vec<OutboxRecord>> {
    let sql = format!(
        "SELECT {OUTBOX} FROM (
             SELECT *, ROW_NUMBER() OVER (PARTITION BY channel_id ORDER BY seq) AS place
             FROM outbox WHERE state = 'pending') AS queued
         WHERE place <= $1 ORDER BY channel_id, seq"
    );
    let rows = client.query(&sql, &[&i64::from(per_channel)]).await.map_err(pg_error)?;
    rows.iter().map(notification).collect()
}

pub async fn update_delivery(client: &Client, u: &DeliveryUpdate) -> StoreResult<()> {
    client
        .execute(
            "UPDATE outbox SET state = $2, attempts = $3, next_at = $4, last_error = $5, delivered_at = $6
             WHERE id = $1",
            &[
                &u.id,
                &u.state.as_str(),
                &i64::from(u.attempts),
                &micros(u.next_at),
                &u.last_error,
                &u.delivered_at.map(micros),
            ],
        )
        .await
        .map_err(pg_error)?;
    Ok(())
}

pub async fn deliveries(client: &Client, channel_id: &str, limit: u32) -> StoreResult<Vec<OutboxRecord>> {
    let sql = format!("SELECT {OUTBOX} FROM outbox WHERE channel_id = $1 ORDER BY seq DESC LIMIT $2");
    let rows = client.query(&sql, &[&channel_id, &i64::from(limit)]).await.map_err(pg_error)?;
    rows.iter().map(notification).collect()
}
