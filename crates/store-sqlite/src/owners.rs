//! Owner accounts, their sessions, sign-in throttling, the setup code and
//! invitations.

use jiff::Timestamp;
use keyward_core::sign_in;
use keyward_store::columns::{OwnerColumns, instant, micros};
use keyward_store::{
    Digest, InviteRecord, OwnerRecord, SessionLine, SessionRecord, SignInFailures, StoreError, StoreResult,
};
use rusqlite::{Connection, OptionalExtension, params};

use crate::statements::{Sql, delete_meta};

const OWNER_COLUMNS: &str = "id, email, password_hash, created_at, updated_at";

fn owner_columns(r: &rusqlite::Row<'_>) -> rusqlite::Result<OwnerColumns> {
    Ok(OwnerColumns {
        id: r.get(0)?,
        email: r.get(1)?,
        password_hash: r.get(2)?,
        created_at: r.get(3)?,
        updated_at: r.get(4)?,
    })
}

pub fn owner_count(conn: &Connection) -> StoreResult<u64> {
    conn.query_row("SELECT count(*) FROM owners", [], |r| r.get::<_, i64>(0)).sql().map(|n| n.unsigned_abs())
}

fn insert_owner(conn: &Connection, o: &OwnerRecord) -> StoreResult<()> {
    conn.execute(
        &format!("INSERT INTO owners ({OWNER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"),
        params![o.id, o.email, o.password_hash, micros(o.created_at), micros(o.updated_at)],
    )
    .sql()?;
    Ok(())
}

pub fn owner_by_email(conn: &Connection, email: &str) -> StoreResult<Option<OwnerRecord>> {
    conn.prepare_cached(&format!("SELECT {OWNER_COLUMNS} FROM owners WHERE email = ?1"))
        .sql()?
        .query_row([email], owner_columns)
        .optional()
        .sql()?
        .map(OwnerColumns::into_record)
        .transpose()
}

pub fn list_owners(conn: &Connection) -> StoreResult<Vec<OwnerRecord>> {
    conn.prepare(&format!("SELECT {OWNER_COLUMNS} FROM owners ORDER BY created_at, id"))
        .sql()?
        .query_map([], owner_columns)
        .sql()?
        .map(|r| r.sql().and_then(OwnerColumns::into_record))
        .collect()
}

/// Checked inside the transaction: two racing setups cannot both win.
pub fn create_first_owner(conn: &Connection, owner: &OwnerRecord, session: &Digest) -> StoreResult<bool> {
    if owner_count(conn)? > 0 {
        return Ok(false);
    }
    insert_owner(conn, owner)?;
    delete_meta(conn, "setup_code")?;
    insert_session(conn, session, &owner.id, micros(owner.created_at))?;
    Ok(true)
}

/// Sets a new password and ends every session of the owner.
pub fn set_password(conn: &Connection, owner_id: &str, password_hash: &str, at: i64) -> StoreResult<bool> {
    let changed = conn
        .execute(
            "UPDATE owners SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
            params![owner_id, password_hash, at],
        )
        .sql()?;
    conn.execute("DELETE FROM sessions WHERE owner_id = ?1", [owner_id]).sql()?;
    Ok(changed == 1)
}

pub fn insert_session(conn: &Connection, session: &Digest, owner_id: &str, at: i64) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO sessions (token_hash, owner_id, created_at, last_seen_at) VALUES (?1, ?2, ?3, ?3)",
    )
    .sql()?
    .execute(params![session.as_slice(), owner_id, at])
    .sql()?;
    Ok(())
}

pub fn find_session(conn: &Connection, session: &Digest) -> StoreResult<Option<SessionRecord>> {
    let found = conn
        .prepare_cached(
            "SELECT owners.id, email, password_hash, owners.created_at, updated_at, sessions.created_at, last_seen_at
             FROM sessions JOIN owners ON owners.id = sessions.owner_id WHERE token_hash = ?1",
        )
        .sql()?
        .query_row([session.as_slice()], |r| Ok((owner_columns(r)?, r.get::<_, i64>(5)?, r.get::<_, i64>(6)?)))
        .optional()
        .sql()?;
    found
        .map(|(owner, created_at, last_seen)| {
            Ok(SessionRecord {
                owner: owner.into_record()?,
                created_at: instant(created_at)?,
                last_seen: instant(last_seen)?,
            })
        })
        .transpose()
}

pub fn touch_session(conn: &Connection, session: &Digest, at: i64) -> StoreResult<()> {
    conn.prepare_cached("UPDATE sessions SET last_seen_at = ?2 WHERE token_hash = ?1")
        .sql()?
        .execute(params![session.as_slice(), at])
        .sql()?;
    Ok(())
}

pub fn describe_session(conn: &Connection, session: &Digest, device: &str) -> StoreResult<()> {
    conn.prepare_cached("UPDATE sessions SET device = ?2 WHERE token_hash = ?1")
        .sql()?
        .execute(params![session.as_slice(), device])
        .sql()?;
    Ok(())
}

pub fn delete_session(conn: &Connection, session: &Digest) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM sessions WHERE token_hash = ?1").sql()?.execute([session.as_slice()]).sql()?;
    Ok(())
}

pub fn delete_sessions_of(conn: &Connection, owner_id: &str) -> StoreResult<u64> {
    Ok(conn.execute("DELETE FROM sessions WHERE owner_id = ?1", [owner_id]).sql()? as u64)
}

pub fn login_failures(conn: &Connection, key: &str) -> StoreResult<Option<SignInFailures>> {
    let found: Option<(i64, i64)> = conn
        .prepare_cached("SELECT failures, last_failure_at FROM login_failures WHERE key = ?1")
        .sql()?
        .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .sql()?;
    found
        .map(|(failures, last)| {
            Ok(SignInFailures { failures: u32::try_from(failures).unwrap_or(u32::MAX), last_failure: instant(last)? })
        })
        .transpose()
}

/// Counts an attempt under every key unless one must still wait (see
/// `OwnerStore::reserve_sign_in`); runs inside one write transaction.
pub fn reserve_sign_in(conn: &Connection, keys: &[String], now: Timestamp) -> StoreResult<Option<u32>> {
    conn.prepare_cached("DELETE FROM login_failures WHERE last_failure_at <= ?1")
        .sql()?
        .execute([micros(sign_in::forgotten_before(now))])
        .sql()?;
    let failures = keys.iter().map(|key| login_failures(conn, key)).collect::<StoreResult<Vec<_>>>()?;
    if let Some(wait) = sign_in::wait_seconds(failures.into_iter().flatten(), now) {
        return Ok(Some(wait));
    }
    let mut count = conn
        .prepare_cached(
            "INSERT INTO login_failures (key, failures, last_failure_at) VALUES (?1, 1, ?2)
             ON CONFLICT (key) DO UPDATE SET failures = failures + 1, last_failure_at = ?2",
        )
        .sql()?;
    for key in keys {
        count.execute(params![key, micros(now)]).sql()?;
    }
    Ok(None)
}

pub fn remember_device(
    conn: &Connection,
    device: &Digest,
    owner_id: &str,
    now: Timestamp,
    forget_before: Timestamp,
) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM known_devices WHERE owner_id = ?1 AND created_at < ?2")
        .sql()?
        .execute(params![owner_id, micros(forget_before)])
        .sql()?;
    conn.prepare_cached("INSERT OR REPLACE INTO known_devices (token_hash, owner_id, created_at) VALUES (?1, ?2, ?3)")
        .sql()?
        .execute(params![device.as_slice(), owner_id, micros(now)])
        .sql()?;
    Ok(())
}

pub fn device_owner(conn: &Connection, device: &Digest, since: Timestamp) -> StoreResult<Option<String>> {
    conn.prepare_cached("SELECT owner_id FROM known_devices WHERE token_hash = ?1 AND created_at >= ?2")
        .sql()?
        .query_row(params![device.as_slice(), micros(since)], |r| r.get(0))
        .optional()
        .sql()
}

pub fn clear_login_failures(conn: &Connection, key: &str) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM login_failures WHERE key = ?1").sql()?.execute([key]).sql()?;
    Ok(())
}

pub fn insert_invite(conn: &Connection, i: &InviteRecord) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO invites (token_hash, email, invited_by, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![i.digest.as_slice(), i.email, i.invited_by, micros(i.created_at), micros(i.expires_at)],
    )
    .sql()?;
    Ok(())
}

/// The email of a live (unused, unexpired) invitation.
pub fn live_invite(conn: &Connection, digest: &Digest, now: i64) -> StoreResult<Option<String>> {
    conn.query_row(
        "SELECT email FROM invites WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
        params![digest.as_slice(), now],
        |r| r.get(0),
    )
    .optional()
    .sql()
}

/// Checked inside the transaction: an invitation is used once.
pub fn accept_invite(
    conn: &Connection,
    invite: &Digest,
    owner: &OwnerRecord,
    session: &Digest,
    now: i64,
) -> StoreResult<bool> {
    if live_invite(conn, invite, now)?.is_none() {
        return Ok(false);
    }
    conn.execute("UPDATE invites SET used_at = ?2 WHERE token_hash = ?1", params![invite.as_slice(), now]).sql()?;
    insert_owner(conn, owner)?;
    insert_session(conn, session, &owner.id, now)?;
    Ok(true)
}

pub fn setup_code(conn: &Connection) -> StoreResult<Option<Digest>> {
    crate::statements::meta(conn, "setup_code")?
        .map(|bytes| bytes.try_into().map_err(|_| StoreError::Corrupt("the stored setup code is not a digest")))
        .transpose()
}

/// A stored digest, which is always 32 bytes.
fn digest(bytes: Vec<u8>) -> StoreResult<Digest> {
    bytes.try_into().map_err(|_| keyward_store::StoreError::Corrupt("a stored token digest is not 32 bytes"))
}

pub fn sessions_of(conn: &Connection, owner_id: &str) -> StoreResult<Vec<SessionLine>> {
    let mut statement = conn
        .prepare_cached(
            "SELECT token_hash, created_at, last_seen_at, device FROM sessions WHERE owner_id = ?1
             ORDER BY last_seen_at DESC, created_at DESC",
        )
        .sql()?;
    let rows = statement
        .query_map([owner_id], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, String>(3)?))
        })
        .sql()?;
    rows.map(|row| {
        let (hash, created_at, last_seen, device) = row.sql()?;
        Ok(SessionLine {
            digest: digest(hash)?,
            created_at: instant(created_at)?,
            last_seen: instant(last_seen)?,
            device,
        })
    })
    .collect()
}

pub fn pending_invites(conn: &Connection, now: i64) -> StoreResult<Vec<InviteRecord>> {
    let mut statement = conn
        .prepare_cached(
            "SELECT token_hash, email, invited_by, created_at, expires_at FROM invites
             WHERE used_at IS NULL AND expires_at > ?1 ORDER BY created_at DESC",
        )
        .sql()?;
    let rows = statement
        .query_map([now], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .sql()?;
    rows.map(|row| {
        let (hash, email, invited_by, created_at, expires_at) = row.sql()?;
        Ok(InviteRecord {
            digest: digest(hash)?,
            email,
            invited_by,
            created_at: instant(created_at)?,
            expires_at: instant(expires_at)?,
        })
    })
    .collect()
}

pub fn revoke_invite(conn: &Connection, invite: &Digest) -> StoreResult<bool> {
    let deleted = conn
        .prepare_cached("DELETE FROM invites WHERE token_hash = ?1 AND used_at IS NULL")
        .sql()?
        .execute([invite.as_slice()])
        .sql()?;
    Ok(deleted == 1)
}
