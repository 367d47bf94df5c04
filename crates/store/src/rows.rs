//! Rows as stored, and the statements that read and write them. Conversion
//! to domain types happens in keyward-app; here a row is plain data.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::StoreError;
use crate::vault::CodeMac;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomeRow {
    pub id: String,
    pub name: String,
    pub timezone: String,
    pub code_min_length: i64,
    pub code_max_length: i64,
    pub code_reject_weak: bool,
    pub lockout_max_attempts: i64,
    pub lockout_window_seconds: i64,
    pub lockout_seconds: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockRow {
    pub id: String,
    pub home_id: String,
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: String,
    pub home_id: String,
    pub name: String,
    pub kind: String,
    pub panel_arm: bool,
    pub panel_disarm: bool,
    pub all_locks: bool,
    pub lock_ids: Vec<String>,
    /// The schedule's JSON form (keyward_core::ScheduleSpec).
    pub schedule: String,
    pub valid_from: Option<i64>,
    pub valid_until: Option<i64>,
    pub max_uses: Option<i64>,
    pub uses: i64,
    pub last_used_at: Option<i64>,
    pub notify_arrive: bool,
    pub notify_leave: bool,
    pub enabled: bool,
    pub code_mac: CodeMac,
    pub code_sealed: Vec<u8>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow").field("id", &self.id).field("home_id", &self.home_id).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockoutRow {
    pub home_id: String,
    pub device: String,
    pub failures: Vec<i64>,
    pub locked_until: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityRow {
    pub id: String,
    pub home_id: String,
    pub at: i64,
    pub kind: String,
    pub device: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub reason: Option<String>,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub duress: bool,
    pub actor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub scope: String,
    pub home_id: Option<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// Everything the hub keeps in memory, read once at start.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub homes: Vec<HomeRow>,
    pub locks: Vec<LockRow>,
    pub users: Vec<UserRow>,
    pub lockouts: Vec<LockoutRow>,
}

pub fn load_snapshot(conn: &Connection) -> Result<Snapshot, StoreError> {
    let homes = conn
        .prepare("SELECT * FROM homes ORDER BY created_at, id")?
        .query_map([], home_from_row)?
        .collect::<Result<_, _>>()?;
    let locks = conn
        .prepare("SELECT id, home_id, name, created_at, updated_at FROM locks ORDER BY created_at, id")?
        .query_map([], |r| {
            Ok(LockRow {
                id: r.get(0)?,
                home_id: r.get(1)?,
                name: r.get(2)?,
                created_at: r.get(3)?,
                updated_at: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut user_locks: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    let mut stmt = conn.prepare("SELECT user_id, lock_id FROM user_locks")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        user_locks.entry(row.get(0)?).or_default().push(row.get(1)?);
    }
    let mut users: Vec<UserRow> = conn
        .prepare(
            "SELECT id, home_id, name, kind, panel_arm, panel_disarm, all_locks, schedule, valid_from, valid_until,
                    max_uses, COALESCE(user_uses.uses, 0), notify_arrive, notify_leave, enabled, code_mac, code_sealed,
                    created_at, updated_at, user_uses.last_used_at
             FROM users LEFT JOIN user_uses ON user_uses.user_id = users.id ORDER BY created_at, id",
        )?
        .query_map([], user_from_row)?
        .collect::<Result<_, _>>()?;
    for user in &mut users {
        user.lock_ids = user_locks.remove(&user.id).unwrap_or_default();
        user.lock_ids.sort();
    }
    let lockouts = conn
        .prepare("SELECT home_id, device, failures, locked_until FROM lockouts")?
        .query_map([], |r| {
            let failures: String = r.get(2)?;
            Ok(LockoutRow {
                home_id: r.get(0)?,
                device: r.get(1)?,
                failures: failures.split(',').filter_map(|t| t.parse().ok()).collect(),
                locked_until: r.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Snapshot { homes, locks, users, lockouts })
}

fn home_from_row(r: &Row<'_>) -> rusqlite::Result<HomeRow> {
    Ok(HomeRow {
        id: r.get("id")?,
        name: r.get("name")?,
        timezone: r.get("timezone")?,
        code_min_length: r.get("code_min_length")?,
        code_max_length: r.get("code_max_length")?,
        code_reject_weak: r.get("code_reject_weak")?,
        lockout_max_attempts: r.get("lockout_max_attempts")?,
        lockout_window_seconds: r.get("lockout_window_seconds")?,
        lockout_seconds: r.get("lockout_seconds")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<UserRow> {
    let mac: Vec<u8> = r.get(15)?;
    Ok(UserRow {
        id: r.get(0)?,
        home_id: r.get(1)?,
        name: r.get(2)?,
        kind: r.get(3)?,
        panel_arm: r.get(4)?,
        panel_disarm: r.get(5)?,
        all_locks: r.get(6)?,
        lock_ids: Vec::new(),
        schedule: r.get(7)?,
        valid_from: r.get(8)?,
        valid_until: r.get(9)?,
        max_uses: r.get(10)?,
        uses: r.get(11)?,
        notify_arrive: r.get(12)?,
        notify_leave: r.get(13)?,
        enabled: r.get(14)?,
        code_mac: mac.try_into().map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(
                15,
                rusqlite::types::Type::Blob,
                "code_mac is not 32 bytes".into(),
            )
        })?,
        code_sealed: r.get(16)?,
        created_at: r.get(17)?,
        updated_at: r.get(18)?,
        last_used_at: r.get(19)?,
    })
}

pub fn home_count(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("SELECT count(*) FROM homes", [], |r| r.get(0))?)
}

pub fn home_exists(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    Ok(conn.query_row("SELECT EXISTS(SELECT 1 FROM homes WHERE id = ?1)", [id], |r| r.get(0))?)
}

pub fn upsert_home(conn: &Connection, h: &HomeRow) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO homes (id, name, timezone, code_min_length, code_max_length, code_reject_weak,
                            lockout_max_attempts, lockout_window_seconds, lockout_seconds, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (id) DO UPDATE SET name = ?2, timezone = ?3, code_min_length = ?4, code_max_length = ?5,
             code_reject_weak = ?6, lockout_max_attempts = ?7, lockout_window_seconds = ?8, lockout_seconds = ?9,
             updated_at = ?11",
    )?
    .execute(params![
        h.id,
        h.name,
        h.timezone,
        h.code_min_length,
        h.code_max_length,
        h.code_reject_weak,
        h.lockout_max_attempts,
        h.lockout_window_seconds,
        h.lockout_seconds,
        h.created_at,
        h.updated_at
    ])?;
    Ok(())
}

pub fn upsert_lock(conn: &Connection, l: &LockRow) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO locks (id, home_id, name, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (id) DO UPDATE SET name = ?3, updated_at = ?5",
    )?
    .execute(params![l.id, l.home_id, l.name, l.created_at, l.updated_at])?;
    Ok(())
}

pub fn delete_lock(conn: &Connection, id: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM locks WHERE id = ?1")?.execute([id])?;
    Ok(())
}

/// Inserts or replaces a user and its lock list. A code taken in the same
/// home fails with [`StoreError::Conflict`] (the UNIQUE index is the last word
/// even if two requests race).
pub fn upsert_user(conn: &Connection, u: &UserRow) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO users (id, home_id, name, kind, panel_arm, panel_disarm, all_locks, schedule, valid_from,
                            valid_until, max_uses, notify_arrive, notify_leave, enabled, code_mac, code_sealed,
                            created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
         ON CONFLICT (id) DO UPDATE SET name = ?3, kind = ?4, panel_arm = ?5, panel_disarm = ?6, all_locks = ?7,
             schedule = ?8, valid_from = ?9, valid_until = ?10, max_uses = ?11, notify_arrive = ?12,
             notify_leave = ?13, enabled = ?14, code_mac = ?15, code_sealed = ?16, updated_at = ?18",
    )?
    .execute(params![
        u.id,
        u.home_id,
        u.name,
        u.kind,
        u.panel_arm,
        u.panel_disarm,
        u.all_locks,
        u.schedule,
        u.valid_from,
        u.valid_until,
        u.max_uses,
        u.notify_arrive,
        u.notify_leave,
        u.enabled,
        u.code_mac.as_slice(),
        u.code_sealed,
        u.created_at,
        u.updated_at
    ])
    .map_err(StoreError::from_write)?;
    set_user_uses(conn, &u.id, u.uses, u.last_used_at)?;
    conn.prepare_cached("DELETE FROM user_locks WHERE user_id = ?1")?.execute([&u.id])?;
    let mut insert = conn.prepare_cached("INSERT INTO user_locks (user_id, lock_id) VALUES (?1, ?2)")?;
    for lock_id in &u.lock_ids {
        insert.execute([&u.id, lock_id])?;
    }
    Ok(())
}

pub fn delete_user(conn: &Connection, id: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM users WHERE id = ?1")?.execute([id])?;
    Ok(())
}

pub fn set_user_uses(conn: &Connection, id: &str, uses: i64, last_used_at: Option<i64>) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO user_uses (user_id, uses, last_used_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (user_id) DO UPDATE SET uses = ?2, last_used_at = ?3",
    )?
    .execute(params![id, uses, last_used_at])?;
    Ok(())
}

pub fn save_lockout(conn: &Connection, l: &LockoutRow) -> Result<(), StoreError> {
    if l.failures.is_empty() && l.locked_until.is_none() {
        conn.prepare_cached("DELETE FROM lockouts WHERE home_id = ?1 AND device = ?2")?
            .execute([&l.home_id, &l.device])?;
        return Ok(());
    }
    let failures = l.failures.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    conn.prepare_cached(
        "INSERT INTO lockouts (home_id, device, failures, locked_until) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (home_id, device) DO UPDATE SET failures = ?3, locked_until = ?4",
    )?
    .execute(params![l.home_id, l.device, failures, l.locked_until])?;
    Ok(())
}

pub fn insert_activity(conn: &Connection, a: &ActivityRow) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO activity (id, home_id, at, kind, device, action, outcome, reason, user_id, user_name, duress, actor)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        a.id,
        a.home_id,
        a.at,
        a.kind,
        a.device,
        a.action,
        a.outcome,
        a.reason,
        a.user_id,
        a.user_name,
        a.duress,
        a.actor
    ])?;
    Ok(())
}

/// Filters of the activity log. `before_seq` is the page cursor.
#[derive(Debug, Clone, Default)]
pub struct ActivityFilter {
    pub home_id: String,
    pub user_id: Option<String>,
    pub device: Option<String>,
    pub outcome: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub before_seq: Option<i64>,
    pub limit: i64,
}

/// Newest first; returns the rows and the cursor of the next page.
pub fn query_activity(conn: &Connection, f: &ActivityFilter) -> Result<(Vec<ActivityRow>, Option<i64>), StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, id, home_id, at, kind, device, action, outcome, reason, user_id, user_name, duress, actor
         FROM activity
         WHERE home_id = ?1
           AND (?2 IS NULL OR user_id = ?2)
           AND (?3 IS NULL OR device = ?3)
           AND (?4 IS NULL OR outcome = ?4)
           AND (?5 IS NULL OR at >= ?5)
           AND (?6 IS NULL OR at < ?6)
           AND (?7 IS NULL OR seq < ?7)
         ORDER BY seq DESC
         LIMIT ?8",
    )?;
    let mut rows =
        stmt.query(params![f.home_id, f.user_id, f.device, f.outcome, f.since, f.until, f.before_seq, f.limit + 1])?;
    let mut items = Vec::new();
    let mut last_seq = None;
    let mut more = false;
    while let Some(r) = rows.next()? {
        if items.len() as i64 == f.limit {
            more = true;
            break;
        }
        last_seq = Some(r.get::<_, i64>(0)?);
        items.push(ActivityRow {
            id: r.get(1)?,
            home_id: r.get(2)?,
            at: r.get(3)?,
            kind: r.get(4)?,
            device: r.get(5)?,
            action: r.get(6)?,
            outcome: r.get(7)?,
            reason: r.get(8)?,
            user_id: r.get(9)?,
            user_name: r.get(10)?,
            duress: r.get(11)?,
            actor: r.get(12)?,
        });
    }
    Ok((items, if more { last_seq } else { None }))
}

pub fn insert_token(conn: &Connection, t: &TokenRow, secret_hash: &[u8; 32]) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO tokens (id, name, scope, home_id, secret_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![t.id, t.name, t.scope, t.home_id, secret_hash.as_slice(), t.created_at],
    )
    .map_err(StoreError::from_write)?;
    Ok(())
}

fn token_from_row(r: &Row<'_>) -> rusqlite::Result<TokenRow> {
    Ok(TokenRow {
        id: r.get(0)?,
        name: r.get(1)?,
        scope: r.get(2)?,
        home_id: r.get(3)?,
        created_at: r.get(4)?,
        revoked_at: r.get(5)?,
    })
}

pub fn find_token(conn: &Connection, secret_hash: &[u8; 32]) -> Result<Option<TokenRow>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, name, scope, home_id, created_at, revoked_at FROM tokens
             WHERE secret_hash = ?1 AND revoked_at IS NULL",
        )?
        .query_row([secret_hash.as_slice()], token_from_row)
        .optional()?)
}

pub fn list_tokens(conn: &Connection) -> Result<Vec<TokenRow>, StoreError> {
    Ok(conn
        .prepare("SELECT id, name, scope, home_id, created_at, revoked_at FROM tokens ORDER BY created_at, id")?
        .query_map([], token_from_row)?
        .collect::<Result<_, _>>()?)
}

/// Returns false when no live token has this id.
pub fn revoke_token(conn: &Connection, id: &str, at: i64) -> Result<bool, StoreError> {
    let changed =
        conn.execute("UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL", params![id, at])?;
    Ok(changed == 1)
}
