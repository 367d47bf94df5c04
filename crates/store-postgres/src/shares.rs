//! Links that show visitors their own access, on PostgreSQL.

use keyward_store::columns::ShareColumns;
use keyward_store::{Digest, ShareRecord, StoreResult};
use tokio_postgres::{Client, Row};

use crate::connect::pg_error;

pub async fn insert_share(client: &Client, c: &ShareColumns) -> StoreResult<()> {
    client
        .execute(
            &format!("INSERT INTO shares ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)", ShareColumns::LIST),
            &[
                &c.id,
                &c.home_id,
                &c.user_id,
                &c.digest,
                &c.created_by,
                &c.created_at,
                &c.expires_at,
                &c.revoked_at,
                &c.opened_at,
                &c.browser,
            ],
        )
        .await
        .map_err(pg_error)?;
    Ok(())
}

fn share(r: &Row) -> StoreResult<ShareRecord> {
    let col = |i| r.try_get(i).map_err(pg_error);
    ShareColumns {
        id: col(0)?,
        home_id: col(1)?,
        user_id: col(2)?,
        digest: r.try_get(3).map_err(pg_error)?,
        created_by: col(4)?,
        created_at: r.try_get(5).map_err(pg_error)?,
        expires_at: r.try_get(6).map_err(pg_error)?,
        revoked_at: r.try_get(7).map_err(pg_error)?,
        opened_at: r.try_get(8).map_err(pg_error)?,
        browser: r.try_get(9).map_err(pg_error)?,
    }
    .into_record()
}

pub async fn share_by_digest(client: &Client, digest: &Digest) -> StoreResult<Option<ShareRecord>> {
    let sql = format!("SELECT {} FROM shares WHERE token_hash = $1", ShareColumns::LIST);
    let row = client.query_opt(&sql, &[&digest.as_slice()]).await.map_err(pg_error)?;
    row.as_ref().map(share).transpose()
}

pub async fn bind_share(client: &Client, id: &str, browser: &Digest, at: i64) -> StoreResult<bool> {
    let bound = client
        .execute(
            "UPDATE shares SET browser_hash = $2, opened_at = $3 WHERE id = $1 AND browser_hash IS NULL",
            &[&id, &browser.as_slice(), &at],
        )
        .await
        .map_err(pg_error)?;
    Ok(bound == 1)
}

pub async fn revoke_share(client: &Client, user_id: &str, id: &str, at: i64) -> StoreResult<bool> {
    let revoked = client
        .execute(
            "UPDATE shares SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
            &[&id, &user_id, &at],
        )
        .await
        .map_err(pg_error)?;
    Ok(revoked == 1)
}

pub async fn shares_of(client: &Client, user_id: &str) -> StoreResult<Vec<ShareRecord>> {
    let sql = format!("SELECT {} FROM shares WHERE user_id = $1 ORDER BY created_at DESC, id", ShareColumns::LIST);
    let rows = client.query(&sql, &[&user_id]).await.map_err(pg_error)?;
    rows.iter().map(share).collect()
}
