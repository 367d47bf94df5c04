//! The statements over the SQLite schema, one function each. Records go in
//! and come out typed, through `keyward_store::columns`.

use std::collections::HashMap;

use keyward_core::{ActivityEntry, UseCount};
use keyward_store::columns::{
    ActivityColumns, HomeColumns, LockColumns, SlotColumns, StoredActivity, TokenColumns, UserColumns, instant,
    lockout_columns, lockout_record, micros,
};
use keyward_store::{
    ActivityFilter, ActivityPage, Digest, HomeCounts, HomeRecord, LockRecord, LockoutRecord, Record, SlotRecord,
    Snapshot, StoreError, StoreResult, StoredUses, TokenRecord, UserChange, UserRecord,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::db::sql_error;

/// `?` for rusqlite results inside functions that answer with `StoreResult`.
pub(crate) trait Sql<T> {
    fn sql(self) -> StoreResult<T>;
}

impl<T> Sql<T> for rusqlite::Result<T> {
    fn sql(self) -> StoreResult<T> {
        self.map_err(sql_error)
    }
}

pub fn load_snapshot(conn: &Connection) -> StoreResult<Snapshot> {
    let homes = conn
        .prepare("SELECT * FROM homes ORDER BY created_at, id")
        .sql()?
        .query_map([], home_columns)
        .sql()?
        .map(|r| r.sql().and_then(HomeColumns::into_record))
        .collect::<StoreResult<_>>()?;
    let locks = conn
        .prepare(
            "SELECT id, home_id, name, device_protocol, device_node, slot_first, slot_last, created_at, updated_at,
                    device_name, device_ieee, removal, removal_to, removal_at
             FROM locks ORDER BY created_at, id",
        )
        .sql()?
        .query_map([], |r| {
            Ok(LockColumns {
                id: r.get(0)?,
                home_id: r.get(1)?,
                name: r.get(2)?,
                device_protocol: r.get(3)?,
                device_node: r.get(4)?,
                device_name: r.get(9)?,
                device_ieee: r.get(10)?,
                slot_first: r.get(5)?,
                slot_last: r.get(6)?,
                removal: r.get(11)?,
                removal_to: r.get(12)?,
                removal_at: r.get(13)?,
                created_at: r.get(7)?,
                updated_at: r.get(8)?,
            })
        })
        .sql()?
        .map(|r| r.sql().and_then(LockColumns::into_record))
        .collect::<StoreResult<_>>()?;
    let mut user_locks: HashMap<String, Vec<String>> = HashMap::new();
    let mut stmt = conn.prepare("SELECT user_id, lock_id FROM user_locks").sql()?;
    let mut rows = stmt.query([]).sql()?;
    while let Some(row) = rows.next().sql()? {
        user_locks.entry(row.get(0).sql()?).or_default().push(row.get(1).sql()?);
    }
    let users = conn
        .prepare(
            "SELECT id, home_id, name, kind, panel_arm, panel_disarm, all_locks, schedule, valid_from, valid_until,
                    max_uses, COALESCE(user_uses.uses, 0), notify_arrive, notify_leave, enabled, code_mac, code_sealed,
                    created_at, updated_at, user_uses.last_used_at, alerts, contact_email, contact_phone, first_day,
                    last_day
             FROM users LEFT JOIN user_uses ON user_uses.user_id = users.id ORDER BY created_at, id",
        )
        .sql()?
        .query_map([], user_columns)
        .sql()?
        .map(|r| {
            let mut columns = r.sql()?;
            columns.lock_ids = user_locks.remove(&columns.id).unwrap_or_default();
            columns.lock_ids.sort();
            columns.into_record()
        })
        .collect::<StoreResult<_>>()?;
    let lockouts = conn
        .prepare("SELECT home_id, device, failures, locked_until FROM lockouts")
        .sql()?
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get(3)?)))
        .sql()?
        .map(|r| {
            let (home_id, device, failures, locked_until) = r.sql()?;
            let failures: Vec<i64> = failures.split(',').filter_map(|t| t.parse().ok()).collect();
            lockout_record(home_id, device, &failures, locked_until)
        })
        .collect::<StoreResult<_>>()?;
    let slots = conn
        .prepare(
            "SELECT lock_id, slot, user_id, content, code_mac, status, reason, detail, attempts, retry_at, updated_at,
                    written, refused_mac, taken_over, attempt_mac, refused_reason
             FROM lock_slots ORDER BY lock_id, slot",
        )
        .sql()?
        .query_map([], |r| {
            Ok(SlotColumns {
                lock_id: r.get(0)?,
                slot: r.get(1)?,
                user_id: r.get(2)?,
                content: r.get(3)?,
                code_mac: r.get(4)?,
                written: r.get(11)?,
                refused_mac: r.get(12)?,
                taken_over: r.get(13)?,
                attempt_mac: r.get(14)?,
                refused_reason: r.get(15)?,
                status: r.get(5)?,
                reason: r.get(6)?,
                detail: r.get(7)?,
                attempts: r.get(8)?,
                retry_at: r.get(9)?,
                updated_at: r.get(10)?,
            })
        })
        .sql()?
        .map(|r| r.sql().and_then(SlotColumns::into_record))
        .collect::<StoreResult<_>>()?;
    let panels = conn
        .prepare("SELECT home_id, settings, state, updated_at FROM panels")
        .sql()?
        .query_map([], |r| {
            Ok(keyward_store::columns::PanelColumns {
                home_id: r.get(0)?,
                settings: r.get(1)?,
                state: r.get(2)?,
                updated_at: r.get(3)?,
            })
        })
        .sql()?
        .map(|r| r.sql().and_then(keyward_store::columns::PanelColumns::into_record))
        .collect::<StoreResult<_>>()?;
    let sensors = conn
        .prepare(
            "SELECT id, home_id, name, kind, modes, entry_delay, bypassable, device_protocol, device_address,
                    created_at, updated_at
             FROM sensors ORDER BY created_at, id",
        )
        .sql()?
        .query_map([], |r| {
            Ok(keyward_store::columns::SensorColumns {
                id: r.get(0)?,
                home_id: r.get(1)?,
                name: r.get(2)?,
                kind: r.get(3)?,
                modes: r.get(4)?,
                entry_delay: r.get(5)?,
                bypassable: r.get(6)?,
                device_protocol: r.get(7)?,
                device_address: r.get(8)?,
                created_at: r.get(9)?,
                updated_at: r.get(10)?,
            })
        })
        .sql()?
        .map(|r| r.sql().and_then(keyward_store::columns::SensorColumns::into_record))
        .collect::<StoreResult<_>>()?;
    let sirens = conn
        .prepare(
            "SELECT id, home_id, name, device_protocol, device_address, created_at, updated_at
             FROM sirens ORDER BY created_at, id",
        )
        .sql()?
        .query_map([], |r| {
            Ok(keyward_store::columns::SirenColumns {
                id: r.get(0)?,
                home_id: r.get(1)?,
                name: r.get(2)?,
                device_protocol: r.get(3)?,
                device_address: r.get(4)?,
                created_at: r.get(5)?,
                updated_at: r.get(6)?,
            })
        })
        .sql()?
        .map(|r| r.sql().and_then(keyward_store::columns::SirenColumns::into_record))
        .collect::<StoreResult<_>>()?;
    Ok(Snapshot { homes, locks, users, lockouts, slots, panels, sensors, sirens })
}

/// A home's stored counts (see `HomeStore::resync_home`).
pub fn home_counts(conn: &Connection, home_id: &str) -> StoreResult<HomeCounts> {
    let uses = conn
        .prepare_cached(
            "SELECT user_uses.user_id, user_uses.uses, user_uses.last_used_at
             FROM user_uses JOIN users ON users.id = user_uses.user_id WHERE users.home_id = ?1",
        )
        .sql()?
        .query_map([home_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, Option<i64>>(2)?)))
        .sql()?
        .map(|r| {
            let (user_id, uses, last_used) = r.sql()?;
            Ok(StoredUses {
                user_id,
                uses: u32::try_from(uses).map_err(|_| StoreError::Corrupt("a use count is out of range"))?,
                last_used: last_used.map(instant).transpose()?,
            })
        })
        .collect::<StoreResult<_>>()?;
    let lockouts = conn
        .prepare_cached("SELECT device, failures, locked_until FROM lockouts WHERE home_id = ?1")
        .sql()?
        .query_map([home_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?)))
        .sql()?
        .map(|r| {
            let (device, failures, locked_until) = r.sql()?;
            let failures: Vec<i64> = failures.split(',').filter_map(|t| t.parse().ok()).collect();
            lockout_record(home_id.to_owned(), device, &failures, locked_until)
        })
        .collect::<StoreResult<_>>()?;
    Ok(HomeCounts { uses, lockouts })
}

fn home_columns(r: &Row<'_>) -> rusqlite::Result<HomeColumns> {
    Ok(HomeColumns {
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

fn user_columns(r: &Row<'_>) -> rusqlite::Result<UserColumns> {
    Ok(UserColumns {
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
        code_mac: r.get(15)?,
        code_sealed: r.get(16)?,
        created_at: r.get(17)?,
        updated_at: r.get(18)?,
        last_used_at: r.get(19)?,
        alerts: r.get(20)?,
        contact_email: r.get(21)?,
        contact_phone: r.get(22)?,
        first_day: r.get(23)?,
        last_day: r.get(24)?,
    })
}

pub fn home_exists(conn: &Connection, id: &str) -> StoreResult<bool> {
    conn.query_row("SELECT EXISTS(SELECT 1 FROM homes WHERE id = ?1)", [id], |r| r.get(0)).sql()
}

pub fn put_home(conn: &Connection, home: &HomeRecord) -> StoreResult<()> {
    let h = HomeColumns::of(home);
    conn.prepare_cached(
        "INSERT INTO homes (id, name, timezone, code_min_length, code_max_length, code_reject_weak,
                            lockout_max_attempts, lockout_window_seconds, lockout_seconds, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (id) DO UPDATE SET name = ?2, timezone = ?3, code_min_length = ?4, code_max_length = ?5,
             code_reject_weak = ?6, lockout_max_attempts = ?7, lockout_window_seconds = ?8, lockout_seconds = ?9,
             updated_at = ?11",
    )
    .sql()?
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
    ])
    .sql()?;
    Ok(())
}

pub fn put_lock(conn: &Connection, lock: &LockRecord) -> StoreResult<()> {
    let l = LockColumns::of(lock);
    conn.prepare_cached(
        "INSERT INTO locks (id, home_id, name, device_protocol, device_node, slot_first, slot_last, created_at,
                            updated_at, device_name, device_ieee, removal, removal_to, removal_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT (id) DO UPDATE SET name = ?3, device_protocol = ?4, device_node = ?5, slot_first = ?6,
                                        slot_last = ?7, updated_at = ?9, device_name = ?10, device_ieee = ?11,
                                        removal = ?12, removal_to = ?13, removal_at = ?14",
    )
    .sql()?
    .execute(params![
        l.id,
        l.home_id,
        l.name,
        l.device_protocol,
        l.device_node,
        l.slot_first,
        l.slot_last,
        l.created_at,
        l.updated_at,
        l.device_name,
        l.device_ieee,
        l.removal,
        l.removal_to,
        l.removal_at
    ])
    .sql()?;
    Ok(())
}

pub fn put_slot(conn: &Connection, slot: &SlotRecord) -> StoreResult<()> {
    let s = SlotColumns::of(slot);
    conn.prepare_cached(
        "INSERT INTO lock_slots (lock_id, slot, user_id, content, code_mac, status, reason, detail, attempts,
                                 retry_at, updated_at, written, refused_mac, taken_over, attempt_mac,
                                 refused_reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
         ON CONFLICT (lock_id, slot) DO UPDATE SET user_id = ?3, content = ?4, code_mac = ?5, status = ?6,
             reason = ?7, detail = ?8, attempts = ?9, retry_at = ?10, updated_at = ?11, written = ?12,
             refused_mac = ?13, taken_over = ?14, attempt_mac = ?15, refused_reason = ?16",
    )
    .sql()?
    .execute(params![
        s.lock_id,
        s.slot,
        s.user_id,
        s.content,
        s.code_mac,
        s.status,
        s.reason,
        s.detail,
        s.attempts,
        s.retry_at,
        s.updated_at,
        s.written,
        s.refused_mac,
        s.taken_over,
        s.attempt_mac,
        s.refused_reason
    ])
    .sql()?;
    Ok(())
}

pub fn forget_slots(conn: &Connection, lock_id: &str) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM lock_slots WHERE lock_id = ?1").sql()?.execute(params![lock_id]).sql()?;
    Ok(())
}

pub fn delete_lock(conn: &Connection, home_id: &str, lock_id: &str) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM locks WHERE id = ?1 AND home_id = ?2").sql()?.execute([lock_id, home_id]).sql()?;
    conn.prepare_cached("DELETE FROM lockouts WHERE home_id = ?1 AND device = ?2")
        .sql()?
        .execute([home_id, lock_id])
        .sql()?;
    Ok(())
}

/// Writes everything of one record; the caller runs it in one savepoint.
pub fn record(conn: &Connection, record: &Record) -> StoreResult<()> {
    match &record.user {
        Some(UserChange::Put(user)) => put_user(conn, user)?,
        Some(UserChange::Delete(id)) => {
            conn.prepare_cached("DELETE FROM users WHERE id = ?1").sql()?.execute([id]).sql()?;
        }
        None => {}
    }
    for entry in &record.entries {
        insert_activity(conn, entry)?;
    }
    for lockout in &record.lockouts {
        save_lockout(conn, lockout)?;
    }
    if let Some(uses) = &record.uses {
        set_uses(conn, uses)?;
    }
    for notification in &record.notifications {
        crate::notify::insert_notification(conn, notification)?;
    }
    if let Some(panel) = &record.panel {
        put_panel(conn, panel)?;
    }
    Ok(())
}

/// Inserts or replaces a home's alarm panel.
fn put_panel(conn: &Connection, record: &keyward_store::PanelRecord) -> StoreResult<()> {
    let p = keyward_store::columns::PanelColumns::of(record)?;
    conn.prepare_cached(
        "INSERT INTO panels (home_id, settings, state, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (home_id) DO UPDATE SET settings = ?2, state = ?3, updated_at = ?4",
    )
    .sql()?
    .execute(params![p.home_id, p.settings, p.state, p.updated_at])
    .sql()?;
    Ok(())
}

/// Inserts or replaces a user, its lock list and its use count. A code taken
/// in the same home fails with `Conflict`: the UNIQUE index is the last word
/// even if two requests race.
fn put_user(conn: &Connection, record: &UserRecord) -> StoreResult<()> {
    let u = UserColumns::of(record)?;
    conn.prepare_cached(
        "INSERT INTO users (id, home_id, name, kind, panel_arm, panel_disarm, all_locks, schedule, valid_from,
                            valid_until, max_uses, notify_arrive, notify_leave, enabled, code_mac, code_sealed,
                            created_at, updated_at, alerts, contact_email, contact_phone, first_day, last_day)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21,
                 ?22, ?23)
         ON CONFLICT (id) DO UPDATE SET name = ?3, kind = ?4, panel_arm = ?5, panel_disarm = ?6, all_locks = ?7,
             schedule = ?8, valid_from = ?9, valid_until = ?10, max_uses = ?11, notify_arrive = ?12,
             notify_leave = ?13, enabled = ?14, code_mac = ?15, code_sealed = ?16, updated_at = ?18, alerts = ?19,
             contact_email = ?20, contact_phone = ?21, first_day = ?22, last_day = ?23",
    )
    .sql()?
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
        u.code_mac,
        u.code_sealed,
        u.created_at,
        u.updated_at,
        u.alerts,
        u.contact_email,
        u.contact_phone,
        u.first_day,
        u.last_day
    ])
    .sql()?;
    conn.prepare_cached(
        "INSERT INTO user_uses (user_id, uses, last_used_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (user_id) DO UPDATE SET uses = ?2, last_used_at = ?3",
    )
    .sql()?
    .execute(params![u.id, u.uses, u.last_used_at])
    .sql()?;
    conn.prepare_cached("DELETE FROM user_locks WHERE user_id = ?1").sql()?.execute([&u.id]).sql()?;
    let mut insert = conn.prepare_cached("INSERT INTO user_locks (user_id, lock_id) VALUES (?1, ?2)").sql()?;
    for lock_id in &u.lock_ids {
        insert.execute([&u.id, lock_id]).sql()?;
    }
    Ok(())
}

fn set_uses(conn: &Connection, uses: &UseCount) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO user_uses (user_id, uses, last_used_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (user_id) DO UPDATE SET uses = ?2, last_used_at = ?3",
    )
    .sql()?
    .execute(params![uses.user_id, i64::from(uses.uses), micros(uses.last_used)])
    .sql()?;
    Ok(())
}

fn save_lockout(conn: &Connection, l: &LockoutRecord) -> StoreResult<()> {
    if l.state.is_clear() {
        conn.prepare_cached("DELETE FROM lockouts WHERE home_id = ?1 AND device = ?2")
            .sql()?
            .execute([&l.home_id, &l.device])
            .sql()?;
        return Ok(());
    }
    let (failures, locked_until) = lockout_columns(&l.state);
    let failures = failures.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    conn.prepare_cached(
        "INSERT INTO lockouts (home_id, device, failures, locked_until) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (home_id, device) DO UPDATE SET failures = ?3, locked_until = ?4",
    )
    .sql()?
    .execute(params![l.home_id, l.device, failures, locked_until])
    .sql()?;
    Ok(())
}

fn insert_activity(conn: &Connection, entry: &ActivityEntry) -> StoreResult<()> {
    let a = ActivityColumns::of(entry);
    conn.prepare_cached(
        "INSERT INTO activity (id, home_id, at, kind, device, action, outcome, reason, user_id, user_name, duress, actor, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )
    .sql()?
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
        a.actor,
        a.detail
    ])
    .sql()?;
    Ok(())
}

/// Newest first, with the cursor of the next page.
pub fn activity(conn: &Connection, f: &ActivityFilter) -> StoreResult<ActivityPage> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT seq, id, home_id, at, kind, device, action, outcome, reason, user_id, user_name, duress, actor, detail
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
        )
        .sql()?;
    let limit = i64::from(f.limit);
    let mut rows = stmt
        .query(params![
            f.home_id,
            f.user_id,
            f.device,
            f.outcome.map(|o| o.as_str()),
            f.since.map(micros),
            f.until.map(micros),
            f.before,
            limit + 1
        ])
        .sql()?;
    let mut entries = Vec::new();
    let mut last_seq = None;
    let mut more = false;
    while let Some(r) = rows.next().sql()? {
        if entries.len() as i64 == limit {
            more = true;
            break;
        }
        last_seq = Some(r.get::<_, i64>(0).sql()?);
        let stored = StoredActivity {
            id: r.get(1).sql()?,
            home_id: r.get(2).sql()?,
            at: r.get(3).sql()?,
            kind: r.get(4).sql()?,
            device: r.get(5).sql()?,
            action: r.get(6).sql()?,
            outcome: r.get(7).sql()?,
            reason: r.get(8).sql()?,
            user_id: r.get(9).sql()?,
            user_name: r.get(10).sql()?,
            duress: r.get(11).sql()?,
            actor: r.get(12).sql()?,
            detail: r.get(13).sql()?,
        };
        entries.push(stored.into_entry()?);
    }
    Ok(ActivityPage { entries, next: if more { last_seq } else { None } })
}

pub fn insert_token(conn: &Connection, t: &TokenRecord, secret_hash: &Digest) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO tokens (id, name, scope, home_id, secret_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![t.id, t.name, t.scope.as_str(), t.home_id, secret_hash.as_slice(), micros(t.created_at)],
    )
    .sql()?;
    Ok(())
}

const TOKEN_COLUMNS: &str = "id, name, scope, home_id, created_at, revoked_at";

fn token_columns(r: &Row<'_>) -> rusqlite::Result<TokenColumns> {
    Ok(TokenColumns {
        id: r.get(0)?,
        name: r.get(1)?,
        scope: r.get(2)?,
        home_id: r.get(3)?,
        created_at: r.get(4)?,
        revoked_at: r.get(5)?,
    })
}

pub fn find_token(conn: &Connection, secret_hash: &Digest) -> StoreResult<Option<TokenRecord>> {
    conn.prepare_cached(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE secret_hash = ?1 AND revoked_at IS NULL"))
        .sql()?
        .query_row([secret_hash.as_slice()], token_columns)
        .optional()
        .sql()?
        .map(TokenColumns::into_record)
        .transpose()
}

pub fn list_tokens(conn: &Connection) -> StoreResult<Vec<TokenRecord>> {
    conn.prepare(&format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY created_at, id"))
        .sql()?
        .query_map([], token_columns)
        .sql()?
        .map(|r| r.sql().and_then(TokenColumns::into_record))
        .collect()
}

pub fn revoke_token(conn: &Connection, id: &str, at: i64) -> StoreResult<bool> {
    let changed = conn
        .execute("UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL", params![id, at])
        .sql()?;
    Ok(changed == 1)
}

pub fn meta(conn: &Connection, key: &str) -> StoreResult<Option<Vec<u8>>> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional().sql()
}

pub fn set_meta(conn: &Connection, key: &str, value: &[u8]) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
        params![key, value],
    )
    .sql()?;
    Ok(())
}

pub fn delete_meta(conn: &Connection, key: &str) -> StoreResult<()> {
    conn.execute("DELETE FROM meta WHERE key = ?1", [key]).sql()?;
    Ok(())
}

pub fn holds_codes(conn: &Connection) -> StoreResult<bool> {
    conn.query_row("SELECT EXISTS(SELECT 1 FROM users)", [], |r| r.get(0)).sql()
}

/// Deletes up to `batch` activity entries and `batch` finished
/// notifications from before `before` (micros), oldest first.
pub fn prune(conn: &Connection, before: i64, batch: u32) -> StoreResult<u64> {
    let entries = conn
        .prepare_cached(
            "DELETE FROM activity WHERE seq IN
                 (SELECT seq FROM activity WHERE at < ?1 ORDER BY seq LIMIT ?2)",
        )
        .sql()?
        .execute(params![before, i64::from(batch)])
        .sql()?;
    let notifications = conn
        .prepare_cached(
            "DELETE FROM outbox WHERE seq IN
                 (SELECT seq FROM outbox WHERE state <> 'pending' AND created_at < ?1 ORDER BY seq LIMIT ?2)",
        )
        .sql()?
        .execute(params![before, i64::from(batch)])
        .sql()?;
    Ok((entries + notifications) as u64)
}

pub fn put_sensor(conn: &Connection, sensor: &keyward_store::SensorRecord) -> StoreResult<()> {
    let s = keyward_store::columns::SensorColumns::of(sensor);
    conn.prepare_cached(
        "INSERT INTO sensors (id, home_id, name, kind, modes, entry_delay, bypassable, device_protocol, device_address,
                              created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (id) DO UPDATE SET name = ?3, kind = ?4, modes = ?5, entry_delay = ?6, bypassable = ?7,
             device_protocol = ?8, device_address = ?9, updated_at = ?11",
    )
    .sql()?
    .execute(params![
        s.id,
        s.home_id,
        s.name,
        s.kind,
        s.modes,
        s.entry_delay,
        s.bypassable,
        s.device_protocol,
        s.device_address,
        s.created_at,
        s.updated_at
    ])
    .sql()?;
    Ok(())
}

pub fn delete_sensor(conn: &Connection, home_id: &str, sensor_id: &str) -> StoreResult<bool> {
    let deleted = conn
        .prepare_cached("DELETE FROM sensors WHERE id = ?1 AND home_id = ?2")
        .sql()?
        .execute([sensor_id, home_id])
        .sql()?;
    Ok(deleted > 0)
}

pub fn put_siren(conn: &Connection, siren: &keyward_store::SirenRecord) -> StoreResult<()> {
    let s = keyward_store::columns::SirenColumns::of(siren);
    conn.prepare_cached(
        "INSERT INTO sirens (id, home_id, name, device_protocol, device_address, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET name = ?3, device_protocol = ?4, device_address = ?5, updated_at = ?7",
    )
    .sql()?
    .execute(params![s.id, s.home_id, s.name, s.device_protocol, s.device_address, s.created_at, s.updated_at])
    .sql()?;
    Ok(())
}

pub fn delete_siren(conn: &Connection, home_id: &str, siren_id: &str) -> StoreResult<bool> {
    let deleted = conn
        .prepare_cached("DELETE FROM sirens WHERE id = ?1 AND home_id = ?2")
        .sql()?
        .execute([siren_id, home_id])
        .sql()?;
    Ok(deleted > 0)
}
