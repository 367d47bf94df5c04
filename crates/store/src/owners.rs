//! Owner accounts, their sessions, sign-in throttling and the setup code.

use rusqlite::{Connection, OptionalExtension, params};

use crate::StoreError;

#[derive(Clone, PartialEq, Eq)]
pub struct OwnerRow {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for OwnerRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnerRow").field("id", &self.id).field("email", &self.email).finish_non_exhaustive()
    }
}

fn owner_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OwnerRow> {
    Ok(OwnerRow {
        id: r.get(0)?,
        email: r.get(1)?,
        password_hash: r.get(2)?,
        created_at: r.get(3)?,
        updated_at: r.get(4)?,
    })
}

const OWNER_COLUMNS: &str = "id, email, password_hash, created_at, updated_at";

pub fn owner_count(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("SELECT count(*) FROM owners", [], |r| r.get(0))?)
}

pub fn insert_owner(conn: &Connection, o: &OwnerRow) -> Result<(), StoreError> {
    conn.execute(
        &format!("INSERT INTO owners ({OWNER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"),
        params![o.id, o.email, o.password_hash, o.created_at, o.updated_at],
    )
    .map_err(StoreError::from_write)?;
    Ok(())
}

pub fn owner_by_email(conn: &Connection, email: &str) -> Result<Option<OwnerRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {OWNER_COLUMNS} FROM owners WHERE email = ?1"))?
        .query_row([email], owner_from_row)
        .optional()?)
}

pub fn owner_by_id(conn: &Connection, id: &str) -> Result<Option<OwnerRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {OWNER_COLUMNS} FROM owners WHERE id = ?1"))?
        .query_row([id], owner_from_row)
        .optional()?)
}

/// Sets a new password and ends every session of the owner.
pub fn set_password(conn: &Connection, owner_id: &str, password_hash: &str, at: i64) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE owners SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
        params![owner_id, password_hash, at],
    )?;
    conn.execute("DELETE FROM sessions WHERE owner_id = ?1", [owner_id])?;
    Ok(changed == 1)
}

pub fn insert_session(conn: &Connection, token_hash: &[u8; 32], owner_id: &str, at: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO sessions (token_hash, owner_id, created_at, last_seen_at) VALUES (?1, ?2, ?3, ?3)",
    )?
    .execute(params![token_hash.as_slice(), owner_id, at])?;
    Ok(())
}

/// The session's owner id, creation and last use.
pub fn find_session(conn: &Connection, token_hash: &[u8; 32]) -> Result<Option<(String, i64, i64)>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT owner_id, created_at, last_seen_at FROM sessions WHERE token_hash = ?1")?
        .query_row([token_hash.as_slice()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?)
}

pub fn touch_session(conn: &Connection, token_hash: &[u8; 32], at: i64) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE sessions SET last_seen_at = ?2 WHERE token_hash = ?1")?
        .execute(params![token_hash.as_slice(), at])?;
    Ok(())
}

pub fn delete_session(conn: &Connection, token_hash: &[u8; 32]) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")?.execute([token_hash.as_slice()])?;
    Ok(())
}

pub fn delete_sessions_of(conn: &Connection, owner_id: &str) -> Result<usize, StoreError> {
    Ok(conn.execute("DELETE FROM sessions WHERE owner_id = ?1", [owner_id])?)
}

/// (failures, last failure) for a throttling key.
pub fn login_failures(conn: &Connection, key: &str) -> Result<Option<(i64, i64)>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT failures, last_failure_at FROM login_failures WHERE key = ?1")?
        .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

pub fn record_login_failure(conn: &Connection, key: &str, at: i64) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO login_failures (key, failures, last_failure_at) VALUES (?1, 1, ?2)
         ON CONFLICT (key) DO UPDATE SET failures = failures + 1, last_failure_at = ?2",
    )?
    .execute(params![key, at])?;
    Ok(())
}

pub fn clear_login_failures(conn: &Connection, key: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM login_failures WHERE key = ?1")?.execute([key])?;
    Ok(())
}

/// Replaces the one-time setup code's digest.
pub fn set_setup_code(conn: &Connection, digest: &[u8; 32]) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('setup_code', ?1) ON CONFLICT (key) DO UPDATE SET value = ?1",
        [digest.as_slice()],
    )?;
    Ok(())
}

pub fn setup_code(conn: &Connection) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn.query_row("SELECT value FROM meta WHERE key = 'setup_code'", [], |r| r.get(0)).optional()?)
}

pub fn list_owners(conn: &Connection) -> Result<Vec<OwnerRow>, StoreError> {
    Ok(conn
        .prepare(&format!("SELECT {OWNER_COLUMNS} FROM owners ORDER BY created_at, id"))?
        .query_map([], owner_from_row)?
        .collect::<Result<_, _>>()?)
}

pub fn insert_invite(
    conn: &Connection,
    digest: &[u8; 32],
    email: &str,
    invited_by: &str,
    at: i64,
    expires_at: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO invites (token_hash, email, invited_by, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![digest.as_slice(), email, invited_by, at, expires_at],
    )?;
    Ok(())
}

/// The email of a live (unused, unexpired) invitation.
pub fn live_invite(conn: &Connection, digest: &[u8; 32], now: i64) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT email FROM invites WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
            params![digest.as_slice(), now],
            |r| r.get(0),
        )
        .optional()?)
}

pub fn use_invite(conn: &Connection, digest: &[u8; 32], at: i64) -> Result<(), StoreError> {
    conn.execute("UPDATE invites SET used_at = ?2 WHERE token_hash = ?1", params![digest.as_slice(), at])?;
    Ok(())
}
