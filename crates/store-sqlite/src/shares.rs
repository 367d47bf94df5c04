//! Links that show visitors their own access, on SQLite.

use keyward_store::columns::ShareColumns;
use keyward_store::{Digest, ShareRecord, StoreResult};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::statements::Sql;

pub fn insert_share(conn: &Connection, share: &ShareRecord) -> StoreResult<()> {
    let c = ShareColumns::of(share);
    conn.execute(
        &format!("INSERT INTO shares ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)", ShareColumns::LIST),
        params![
            c.id,
            c.home_id,
            c.user_id,
            c.digest,
            c.created_by,
            c.created_at,
            c.expires_at,
            c.revoked_at,
            c.opened_at,
            c.browser
        ],
    )
    .sql()?;
    Ok(())
}

fn share_columns(r: &Row<'_>) -> rusqlite::Result<ShareColumns> {
    Ok(ShareColumns {
        id: r.get(0)?,
        home_id: r.get(1)?,
        user_id: r.get(2)?,
        digest: r.get(3)?,
        created_by: r.get(4)?,
        created_at: r.get(5)?,
        expires_at: r.get(6)?,
        revoked_at: r.get(7)?,
        opened_at: r.get(8)?,
        browser: r.get(9)?,
    })
}

pub fn share_by_digest(conn: &Connection, digest: &Digest) -> StoreResult<Option<ShareRecord>> {
    conn.prepare_cached(&format!("SELECT {} FROM shares WHERE token_hash = ?1", ShareColumns::LIST))
        .sql()?
        .query_row([digest.as_slice()], share_columns)
        .optional()
        .sql()?
        .map(ShareColumns::into_record)
        .transpose()
}

pub fn bind_share(conn: &Connection, id: &str, browser: &Digest, at: i64) -> StoreResult<bool> {
    let bound = conn
        .execute(
            "UPDATE shares SET browser_hash = ?2, opened_at = ?3 WHERE id = ?1 AND browser_hash IS NULL",
            params![id, browser.as_slice(), at],
        )
        .sql()?;
    Ok(bound == 1)
}

pub fn revoke_share(conn: &Connection, user_id: &str, id: &str, at: i64) -> StoreResult<bool> {
    let revoked = conn
        .execute(
            "UPDATE shares SET revoked_at = ?3 WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL",
            params![id, user_id, at],
        )
        .sql()?;
    Ok(revoked == 1)
}

pub fn shares_of(conn: &Connection, user_id: &str) -> StoreResult<Vec<ShareRecord>> {
    conn.prepare_cached(&format!(
        "SELECT {} FROM shares WHERE user_id = ?1 ORDER BY created_at DESC, id",
        ShareColumns::LIST
    ))
    .sql()?
    .query_map([user_id], share_columns)
    .sql()?
    .map(|r| r.sql().and_then(ShareColumns::into_record))
    .collect()
}
