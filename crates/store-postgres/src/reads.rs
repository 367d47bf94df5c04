//! The reads, one function each, over the reading connection. Records come
//! out typed, through `keyward_store::columns`.

use std::collections::HashMap;

use jiff::Timestamp;
use keyward_store::columns::{
    HomeColumns, LockColumns, OwnerColumns, SlotColumns, StoredActivity, TokenColumns, UserColumns, instant,
    lockout_record, micros,
};
use keyward_store::{
    ActivityFilter, ActivityPage, Digest, HomeCounts, InviteRecord, OwnerRecord, SessionLine, SessionRecord,
    SignInFailures, Snapshot, StoreError, StoreResult, StoredUses, TokenRecord,
};
use tokio_postgres::types::FromSql;
use tokio_postgres::{Client, Row};

use crate::connect::pg_error;

fn col<'a, T: FromSql<'a>>(row: &'a Row, index: usize) -> StoreResult<T> {
    row.try_get(index).map_err(pg_error)
}

async fn rows(
    client: &Client,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> StoreResult<Vec<Row>> {
    client.query(sql, params).await.map_err(pg_error)
}

pub async fn snapshot(client: &Client) -> StoreResult<Snapshot> {
    let homes = rows(
        client,
        "SELECT id, name, timezone, code_min_length, code_max_length, code_reject_weak, lockout_max_attempts,
                lockout_window_seconds, lockout_seconds, created_at, updated_at
         FROM homes ORDER BY created_at, id",
        &[],
    )
    .await?
    .iter()
    .map(|r| {
        HomeColumns {
            id: col(r, 0)?,
            name: col(r, 1)?,
            timezone: col(r, 2)?,
            code_min_length: col(r, 3)?,
            code_max_length: col(r, 4)?,
            code_reject_weak: col(r, 5)?,
            lockout_max_attempts: col(r, 6)?,
            lockout_window_seconds: col(r, 7)?,
            lockout_seconds: col(r, 8)?,
            created_at: col(r, 9)?,
            updated_at: col(r, 10)?,
        }
        .into_record()
    })
    .collect::<StoreResult<_>>()?;
    let locks = rows(
        client,
        "SELECT id, home_id, name, device_protocol, device_node, slot_first, slot_last, created_at, updated_at,
                device_name, device_ieee, removal, removal_to, removal_at
             FROM locks ORDER BY created_at, id",
        &[],
    )
    .await?
    .iter()
    .map(|r| {
        LockColumns {
            id: col(r, 0)?,
            home_id: col(r, 1)?,
            name: col(r, 2)?,
            device_protocol: col(r, 3)?,
            device_node: col(r, 4)?,
            device_name: col(r, 9)?,
            device_ieee: col(r, 10)?,
            slot_first: col(r, 5)?,
            slot_last: col(r, 6)?,
            removal: col(r, 11)?,
            removal_to: col(r, 12)?,
            removal_at: col(r, 13)?,
            created_at: col(r, 7)?,
            updated_at: col(r, 8)?,
        }
        .into_record()
    })
    .collect::<StoreResult<_>>()?;
    let mut user_locks: HashMap<String, Vec<String>> = HashMap::new();
    for r in rows(client, "SELECT user_id, lock_id FROM user_locks", &[]).await? {
        user_locks.entry(col(&r, 0)?).or_default().push(col(&r, 1)?);
    }
    let users = rows(
        client,
        "SELECT id, home_id, name, kind, panel_arm, panel_disarm, all_locks, schedule, valid_from, valid_until,
                max_uses, COALESCE(user_uses.uses, 0), notify_arrive, notify_leave, enabled, code_mac, code_sealed,
                created_at, updated_at, user_uses.last_used_at, alerts, contact_email, contact_phone, first_day,
                last_day
         FROM users LEFT JOIN user_uses ON user_uses.user_id = users.id ORDER BY created_at, id",
        &[],
    )
    .await?
    .iter()
    .map(|r| {
        let id: String = col(r, 0)?;
        let mut lock_ids = user_locks.remove(&id).unwrap_or_default();
        lock_ids.sort();
        UserColumns {
            id,
            home_id: col(r, 1)?,
            name: col(r, 2)?,
            kind: col(r, 3)?,
            panel_arm: col(r, 4)?,
            panel_disarm: col(r, 5)?,
            all_locks: col(r, 6)?,
            lock_ids,
            schedule: col(r, 7)?,
            valid_from: col(r, 8)?,
            valid_until: col(r, 9)?,
            max_uses: col(r, 10)?,
            uses: col(r, 11)?,
            notify_arrive: col(r, 12)?,
            notify_leave: col(r, 13)?,
            enabled: col(r, 14)?,
            code_mac: col(r, 15)?,
            code_sealed: col(r, 16)?,
            created_at: col(r, 17)?,
            updated_at: col(r, 18)?,
            last_used_at: col(r, 19)?,
            alerts: col(r, 20)?,
            contact_email: col(r, 21)?,
            contact_phone: col(r, 22)?,
            first_day: col(r, 23)?,
            last_day: col(r, 24)?,
        }
        .into_record()
    })
    .collect::<StoreResult<_>>()?;
    let lockouts = rows(client, "SELECT home_id, device, failures, locked_until FROM lockouts", &[])
        .await?
        .iter()
        .map(|r| {
            let failures: Vec<i64> = col(r, 2)?;
            lockout_record(col(r, 0)?, col(r, 1)?, &failures, col(r, 3)?)
        })
        .collect::<StoreResult<_>>()?;
    let slots = rows(
        client,
        "SELECT lock_id, slot, user_id, content, code_mac, status, reason, detail, attempts, retry_at, updated_at,
                written, refused_mac, taken_over, attempt_mac, refused_reason
         FROM lock_slots ORDER BY lock_id, slot",
        &[],
    )
    .await?
    .iter()
    .map(|r| {
        SlotColumns {
            lock_id: col(r, 0)?,
            slot: col(r, 1)?,
            user_id: col(r, 2)?,
            content: col(r, 3)?,
            code_mac: col(r, 4)?,
            written: col(r, 11)?,
            refused_mac: col(r, 12)?,
            taken_over: col(r, 13)?,
            attempt_mac: col(r, 14)?,
            refused_reason: col(r, 15)?,
            status: col(r, 5)?,
            reason: col(r, 6)?,
            detail: col(r, 7)?,
            attempts: col(r, 8)?,
            retry_at: col(r, 9)?,
            updated_at: col(r, 10)?,
        }
        .into_record()
    })
    .collect::<StoreResult<_>>()?;
    let panels = rows(client, "SELECT home_id, settings, state, updated_at FROM panels", &[])
        .await?
        .iter()
        .map(|r| {
            keyward_store::columns::PanelColumns {
                home_id: col(r, 0)?,
                settings: col(r, 1)?,
                state: col(r, 2)?,
                updated_at: col(r, 3)?,
            }
            .into_record()
        })
        .collect::<StoreResult<_>>()?;
    let sensors = rows(
        client,
        "SELECT id, home_id, name, kind, modes, entry_delay, bypassable, device_protocol, device_address, created_at,
                updated_at
         FROM sensors ORDER BY created_at, id",
        &[],
    )
    .await?
    .iter()
    .map(|r| {
        let entry_delay: Option<i32> = col(r, 5)?;
        keyward_store::columns::SensorColumns {
            id: col(r, 0)?,
            home_id: col(r, 1)?,
            name: col(r, 2)?,
            kind: col(r, 3)?,
            modes: col(r, 4)?,
            entry_delay: entry_delay.map(i64::from),
            bypassable: col(r, 6)?,
            device_protocol: col(r, 7)?,
            device_address: col(r, 8)?,
            created_at: col(r, 9)?,
            updated_at: col(r, 10)?,
        }
        .into_record()
    })
    .collect::<StoreResult<_>>()?;
    let sirens = rows(
        client,
        "SELECT id, home_id, name, device_protocol, device_address, created_at, updated_at
         FROM sirens ORDER BY created_at, id",
        &[],
    )
    .await?
    .iter()
    .map(|r| {
        keyward_store::columns::SirenColumns {
            id: col(r, 0)?,
            home_id: col(r, 1)?,
            name: col(r, 2)?,
            device_protocol: col(r, 3)?,
            device_address: col(r, 4)?,
            created_at: col(r, 5)?,
            updated_at: col(r, 6)?,
        }
        .into_record()
    })
    .collect::<StoreResult<_>>()?;
    Ok(Snapshot { homes, locks, users, lockouts, slots, panels, sensors, sirens })
}

pub async fn home_exists(client: &Client, id: &str) -> StoreResult<bool> {
    let row = client.query_one("SELECT EXISTS(SELECT 1 FROM homes WHERE id = $1)", &[&id]).await.map_err(pg_error)?;
    col(&row, 0)
}

/// Newest first, with the cursor of the next page.
pub async fn activity(client: &Client, f: &ActivityFilter) -> StoreResult<ActivityPage> {
    let limit = i64::from(f.limit);
    let found = rows(
        client,
        "SELECT seq, id, home_id, at, kind, device, action, outcome, reason, user_id, user_name, duress, actor, detail
         FROM activity
         WHERE home_id = $1
           AND ($2::text IS NULL OR user_id = $2)
           AND ($3::text IS NULL OR device = $3)
           AND ($4::text IS NULL OR outcome = $4)
           AND ($5::int8 IS NULL OR at >= $5)
           AND ($6::int8 IS NULL OR at < $6)
           AND ($7::int8 IS NULL OR seq < $7)
         ORDER BY seq DESC
         LIMIT $8",
        &[
            &f.home_id,
            &f.user_id,
            &f.device,
            &f.outcome.map(|o| o.as_str()),
            &f.since.map(micros),
            &f.until.map(micros),
            &f.before,
            &(limit + 1),
        ],
    )
    .await?;
    let more = found.len() as i64 > limit;
    let mut entries = Vec::with_capacity(found.len());
    let mut last_seq = None;
    for r in found.iter().take(usize::try_from(limit).unwrap_or(usize::MAX)) {
        last_seq = Some(col::<i64>(r, 0)?);
        entries.push(
            StoredActivity {
                id: col(r, 1)?,
                home_id: col(r, 2)?,
                at: col(r, 3)?,
                kind: col(r, 4)?,
                device: col(r, 5)?,
                action: col(r, 6)?,
                outcome: col(r, 7)?,
                reason: col(r, 8)?,
                user_id: col(r, 9)?,
                user_name: col(r, 10)?,
                duress: col(r, 11)?,
                actor: col(r, 12)?,
                detail: col(r, 13)?,
            }
            .into_entry()?,
        );
    }
    Ok(ActivityPage { entries, next: if more { last_seq } else { None } })
}

const TOKEN_COLUMNS: &str = "id, name, scope, home_id, created_at, revoked_at";

fn token(r: &Row) -> StoreResult<TokenRecord> {
    TokenColumns {
        id: col(r, 0)?,
        name: col(r, 1)?,
        scope: col(r, 2)?,
        home_id: col(r, 3)?,
        created_at: col(r, 4)?,
        revoked_at: col(r, 5)?,
    }
    .into_record()
}

pub async fn find_token(client: &Client, secret_hash: &Digest) -> StoreResult<Option<TokenRecord>> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE secret_hash = $1 AND revoked_at IS NULL");
    client.query_opt(&sql, &[&secret_hash.as_slice()]).await.map_err(pg_error)?.as_ref().map(token).transpose()
}

pub async fn list_tokens(client: &Client) -> StoreResult<Vec<TokenRecord>> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY created_at, id");
    rows(client, &sql, &[]).await?.iter().map(token).collect()
}

pub const OWNER_COLUMNS: &str = "id, email, password_hash, created_at, updated_at";

fn owner(r: &Row) -> StoreResult<OwnerRecord> {
    OwnerColumns {
        id: col(r, 0)?,
        email: col(r, 1)?,
        password_hash: col(r, 2)?,
        created_at: col(r, 3)?,
        updated_at: col(r, 4)?,
    }
    .into_record()
}

pub async fn owner_count(client: &Client) -> StoreResult<u64> {
    let row = client.query_one("SELECT count(*) FROM owners", &[]).await.map_err(pg_error)?;
    Ok(col::<i64>(&row, 0)?.unsigned_abs())
}

pub async fn owner_by_email(client: &Client, email: &str) -> StoreResult<Option<OwnerRecord>> {
    let sql = format!("SELECT {OWNER_COLUMNS} FROM owners WHERE email = $1");
    client.query_opt(&sql, &[&email]).await.map_err(pg_error)?.as_ref().map(owner).transpose()
}

pub async fn list_owners(client: &Client) -> StoreResult<Vec<OwnerRecord>> {
    let sql = format!("SELECT {OWNER_COLUMNS} FROM owners ORDER BY created_at, id");
    rows(client, &sql, &[]).await?.iter().map(owner).collect()
}

pub async fn find_session(client: &Client, session: &Digest) -> StoreResult<Option<SessionRecord>> {
    let found = client
        .query_opt(
            "SELECT owners.id, email, password_hash, owners.created_at, updated_at, sessions.created_at, last_seen_at
             FROM sessions JOIN owners ON owners.id = sessions.owner_id WHERE token_hash = $1",
            &[&session.as_slice()],
        )
        .await
        .map_err(pg_error)?;
    found
        .map(|r| {
            Ok(SessionRecord { owner: owner(&r)?, created_at: instant(col(&r, 5)?)?, last_seen: instant(col(&r, 6)?)? })
        })
        .transpose()
}

pub async fn login_failures(client: &Client, keys: &[String]) -> StoreResult<Vec<Option<SignInFailures>>> {
    let found =
        rows(client, "SELECT key, failures, last_failure_at FROM login_failures WHERE key = ANY($1)", &[&keys]).await?;
    let mut by_key = HashMap::new();
    for r in &found {
        let failures: i64 = col(r, 1)?;
        let failures = SignInFailures {
            failures: u32::try_from(failures).unwrap_or(u32::MAX),
            last_failure: instant(col(r, 2)?)?,
        };
        by_key.insert(col::<String>(r, 0)?, failures);
    }
    Ok(keys.iter().map(|k| by_key.get(k).copied()).collect())
}

/// A home's stored counts (see `HomeStore::resync_home`).
pub async fn home_counts(client: &Client, home_id: &str) -> StoreResult<HomeCounts> {
    let uses = rows(
        client,
        "SELECT user_uses.user_id, user_uses.uses, user_uses.last_used_at
         FROM user_uses JOIN users ON users.id = user_uses.user_id WHERE users.home_id = $1",
        &[&home_id],
    )
    .await?
    .iter()
    .map(|r| {
        let uses: i64 = col(r, 1)?;
        let last_used: Option<i64> = col(r, 2)?;
        Ok(StoredUses {
            user_id: col(r, 0)?,
            uses: u32::try_from(uses).map_err(|_| StoreError::Corrupt("a use count is out of range"))?,
            last_used: last_used.map(instant).transpose()?,
        })
    })
    .collect::<StoreResult<_>>()?;
    let lockouts = rows(client, "SELECT device, failures, locked_until FROM lockouts WHERE home_id = $1", &[&home_id])
        .await?
        .iter()
        .map(|r| {
            let failures: Vec<i64> = col(r, 1)?;
            lockout_record(home_id.to_owned(), col(r, 0)?, &failures, col(r, 2)?)
        })
        .collect::<StoreResult<_>>()?;
    Ok(HomeCounts { uses, lockouts })
}

pub async fn device_owner(client: &Client, device: &Digest, since: Timestamp) -> StoreResult<Option<String>> {
    let row = client
        .query_opt(
            "SELECT owner_id FROM known_devices WHERE token_hash = $1 AND created_at >= $2",
            &[&device.as_slice(), &micros(since)],
        )
        .await
        .map_err(pg_error)?;
    row.map(|r| col(&r, 0)).transpose()
}

pub async fn meta(client: &Client, key: &str) -> StoreResult<Option<Vec<u8>>> {
    let row = client.query_opt("SELECT value FROM meta WHERE key = $1", &[&key]).await.map_err(pg_error)?;
    row.map(|r| col(&r, 0)).transpose()
}

pub async fn setup_code(client: &Client) -> StoreResult<Option<Digest>> {
    meta(client, "setup_code")
        .await?
        .map(|bytes| bytes.try_into().map_err(|_| StoreError::Corrupt("the stored setup code is not a digest")))
        .transpose()
}

pub async fn live_invite(client: &Client, digest: &Digest, now: i64) -> StoreResult<Option<String>> {
    let row = client
        .query_opt(
            "SELECT email FROM invites WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
            &[&digest.as_slice(), &now],
        )
        .await
        .map_err(pg_error)?;
    row.map(|r| col(&r, 0)).transpose()
}

pub async fn holds_codes(client: &Client) -> StoreResult<bool> {
    let row = client.query_one("SELECT EXISTS(SELECT 1 FROM users)", &[]).await.map_err(pg_error)?;
    col(&row, 0)
}

/// A stored digest, which is always 32 bytes.
fn digest(bytes: Vec<u8>) -> StoreResult<Digest> {
    bytes.try_into().map_err(|_| StoreError::Corrupt("a stored token digest is not 32 bytes"))
}

pub async fn sessions_of(client: &Client, owner_id: &str) -> StoreResult<Vec<SessionLine>> {
    let rows = client
        .query(
            "SELECT token_hash, created_at, last_seen_at, device FROM sessions WHERE owner_id = $1
             ORDER BY last_seen_at DESC, created_at DESC",
            &[&owner_id],
        )
        .await
        .map_err(pg_error)?;
    rows.iter()
        .map(|r| {
            Ok(SessionLine {
                digest: digest(col(r, 0)?)?,
                created_at: instant(col(r, 1)?)?,
                last_seen: instant(col(r, 2)?)?,
                device: col(r, 3)?,
            })
        })
        .collect()
}

pub async fn pending_invites(client: &Client, now: i64) -> StoreResult<Vec<InviteRecord>> {
    let rows = client
        .query(
            "SELECT token_hash, email, invited_by, created_at, expires_at FROM invites
             WHERE used_at IS NULL AND expires_at > $1 ORDER BY created_at DESC",
            &[&now],
        )
        .await
        .map_err(pg_error)?;
    rows.iter()
        .map(|r| {
            Ok(InviteRecord {
                digest: digest(col(r, 0)?)?,
                email: col(r, 1)?,
                invited_by: col(r, 2)?,
                created_at: instant(col(r, 3)?)?,
                expires_at: instant(col(r, 4)?)?,
            })
        })
        .collect()
}
