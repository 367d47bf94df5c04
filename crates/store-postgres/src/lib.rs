//! Keyward's PostgreSQL storage, for installations that keep their data in
//! a database server. The same schema meaning as SQLite, with its own
//! migrations; the same sealed and keyed codes (the vault seals them before
//! they reach any backend); every write committed (and its WAL flushed)
//! before its caller is answered, concurrent writes sharing a commit.
//!
//! One instance per database for now: a serving keyward holds an advisory
//! lock on its database, and a second one refuses to start. The lock lives
//! on the writer's connection; when that connection goes, so does the lock,
//! and the writer refuses every write until the lock is taken again and the
//! hub has reloaded (see [`Lease`]).

mod connect;
mod migrate;
mod notify;
mod reads;
mod shares;
mod writer;

use std::sync::Arc;

use jiff::Timestamp;
use keyward_core::{ActivityEntry, sign_in};
use keyward_store::columns::{
    ChannelColumns, HomeColumns, LockColumns, OutboxColumns, ShareColumns, SlotColumns, micros,
};
use keyward_store::{
    ActivityFilter, ActivityPage, ActivityStore, BoxFuture, ChannelRecord, DeliveryUpdate, Digest, HomeCounts,
    HomeRecord, HomeStore, InviteRecord, LockRecord, MetaStore, NotifyStore, OutboxRecord, OwnerRecord, OwnerStore,
    Pending, Record, SessionLine, SessionRecord, ShareRecord, ShareStore, SignInFailures, SlotRecord, Snapshot,
    StoreResult, TokenRecord, TokenStore,
};
use tokio::task::JoinHandle;
use tokio_postgres::Client;
use tokio_postgres::types::ToSql;

use connect::{Reader, connect, parse_url, pg_error};
pub use writer::Lease;
use writer::Writer;

pub struct PostgresStore {
    reader: Reader,
    writer: Writer,
}

/// Stops the writer once everything queued is committed.
pub struct PostgresHandle {
    writer: Writer,
    task: JoinHandle<()>,
}

impl PostgresHandle {
    /// The instance lock, as it changes (always `Held` when not serving).
    pub fn lease(&self) -> tokio::sync::watch::Receiver<Lease> {
        self.writer.lease()
    }

    /// Call after `Lease::Regained` once every home was reloaded from the
    /// database: writes go through again.
    pub fn resume(&self) {
        self.writer.resume();
    }

    /// Commits what is queued, and stops (ending the instance lock).
    pub async fn close(self) {
        self.writer.stop();
        if self.task.await.is_err() {
            tracing::error!("the PostgreSQL writer did not stop cleanly");
        }
    }
}

pub struct Opened {
    pub store: PostgresStore,
    pub handle: PostgresHandle,
    /// True when this call made the schema: the database held no keyward data.
    pub created: bool,
}

/// Connects to the database at `url`, brings its schema up to date (making
/// it in an empty database when `create`; otherwise it needs existing data),
/// and starts the writer. When `serving`, takes the single-instance lock
/// first, or refuses.
pub async fn open(url: &str, create: bool, serving: bool) -> StoreResult<Opened> {
    let config = parse_url(url)?;
    // The lock is held by the writer's connection, so it is taken before
    // anything is migrated or read.
    let (writer, task) = writer::spawn(config.clone(), serving).await?;
    let handle = PostgresHandle { writer: writer.clone(), task };
    let prepared = async {
        let setup = connect(&config).await?;
        let created = migrate::migrate(&setup, create).await?;
        if serving {
            warn_when_not_durable(&setup).await?;
        }
        Ok::<_, keyward_store::StoreError>((created, Reader::new(config).await?))
    }
    .await;
    match prepared {
        Ok((created, reader)) => Ok(Opened { store: PostgresStore { reader, writer }, handle, created }),
        Err(e) => {
            handle.close().await;
            Err(e)
        }
    }
}

/// keyward asks for every commit to be flushed; a server with `fsync` off
/// would acknowledge what a power cut can still take.
async fn warn_when_not_durable(client: &Client) -> StoreResult<()> {
    let row = client.query_one("SHOW fsync", &[]).await.map_err(pg_error)?;
    let fsync: String = row.try_get(0).map_err(pg_error)?;
    if fsync != "on" {
        tracing::warn!("PostgreSQL runs with fsync = {fsync}: acknowledged writes may be lost in a power cut");
    }
    Ok(())
}

async fn execute(client: &Client, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<u64> {
    client.execute(sql, params).await.map_err(pg_error)
}

impl PostgresStore {
    fn read<'a, T, F, Fut>(&'a self, f: F) -> BoxFuture<'a, StoreResult<T>>
    where
        F: FnOnce(Arc<Client>) -> Fut + Send + 'a,
        Fut: std::future::Future<Output = StoreResult<T>> + Send + 'a,
        T: Send + 'a,
    {
        Box::pin(async move { f(self.reader.client().await?).await })
    }
}

impl HomeStore for PostgresStore {
    fn load(&self) -> BoxFuture<'_, StoreResult<Snapshot>> {
        self.read(move |c| async move { reads::snapshot(&c).await })
    }

    fn home_exists(&self, home_id: String) -> BoxFuture<'_, StoreResult<bool>> {
        self.read(move |c| async move { reads::home_exists(&c, &home_id).await })
    }

    fn put_home(&self, home: HomeRecord) -> BoxFuture<'_, StoreResult<()>> {
        let h = HomeColumns::of(&home);
        Box::pin(self.writer.write(move |c| async move {
            execute(
                &c,
                "INSERT INTO homes (id, name, timezone, code_min_length, code_max_length, code_reject_weak,
                                    lockout_max_attempts, lockout_window_seconds, lockout_seconds, created_at,
                                    updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (id) DO UPDATE SET name = $2, timezone = $3, code_min_length = $4,
                     code_max_length = $5, code_reject_weak = $6, lockout_max_attempts = $7,
                     lockout_window_seconds = $8, lockout_seconds = $9, updated_at = $11",
                &[
                    &h.id,
                    &h.name,
                    &h.timezone,
                    &h.code_min_length,
                    &h.code_max_length,
                    &h.code_reject_weak,
                    &h.lockout_max_attempts,
                    &h.lockout_window_seconds,
                    &h.lockout_seconds,
                    &h.created_at,
                    &h.updated_at,
                ],
            )
            .await
            .map(drop)
        }))
    }

    fn put_lock(&self, lock: LockRecord) -> BoxFuture<'_, StoreResult<()>> {
        let l = LockColumns::of(&lock);
        Box::pin(self.writer.write(move |c| async move {
            execute(
                &c,
                "INSERT INTO locks (id, home_id, name, device_protocol, device_node, slot_first, slot_last,
                                    created_at, updated_at, device_name, device_ieee, removal, removal_to, removal_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                 ON CONFLICT (id) DO UPDATE SET name = $3, device_protocol = $4, device_node = $5,
                                                slot_first = $6, slot_last = $7, updated_at = $9, device_name = $10,
                                                device_ieee = $11, removal = $12, removal_to = $13, removal_at = $14",
                &[
                    &l.id,
                    &l.home_id,
                    &l.name,
                    &l.device_protocol,
                    &l.device_node,
                    &l.slot_first,
                    &l.slot_last,
                    &l.created_at,
                    &l.updated_at,
                    &l.device_name,
                    &l.device_ieee,
                    &l.removal,
                    &l.removal_to,
                    &l.removal_at,
                ],
            )
            .await
            .map(drop)
        }))
    }

    fn put_slot(&self, slot: SlotRecord) -> Pending<()> {
        let s = SlotColumns::of(&slot);
        self.writer.submit(move |c| async move {
            execute(
                &c,
                "INSERT INTO lock_slots (lock_id, slot, user_id, content, code_mac, status, reason, detail,
                                         attempts, retry_at, updated_at, written, refused_mac, taken_over,
                                         attempt_mac, refused_reason)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
                 ON CONFLICT (lock_id, slot) DO UPDATE SET user_id = $3, content = $4, code_mac = $5,
                     status = $6, reason = $7, detail = $8, attempts = $9, retry_at = $10, updated_at = $11,
                     written = $12, refused_mac = $13, taken_over = $14, attempt_mac = $15,
                     refused_reason = $16",
                &[
                    &s.lock_id,
                    &s.slot,
                    &s.user_id,
                    &s.content,
                    &s.code_mac,
                    &s.status,
                    &s.reason,
                    &s.detail,
                    &s.attempts,
                    &s.retry_at,
                    &s.updated_at,
                    &s.written,
                    &s.refused_mac,
                    &s.taken_over,
                    &s.attempt_mac,
                    &s.refused_reason,
                ],
            )
            .await
            .map(drop)
        })
    }

    fn forget_slots(&self, lock_id: String) -> Pending<()> {
        self.writer.submit(move |c| async move {
            execute(&c, "DELETE FROM lock_slots WHERE lock_id = $1", &[&lock_id]).await.map(drop)
        })
    }

    fn delete_lock(&self, home_id: String, lock_id: String) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(self.writer.write(move |c| async move {
            execute(&c, "DELETE FROM locks WHERE id = $1 AND home_id = $2", &[&lock_id, &home_id]).await?;
            execute(&c, "DELETE FROM lockouts WHERE home_id = $1 AND device = $2", &[&home_id, &lock_id]).await?;
            Ok(())
        }))
    }

    fn put_sensor(&self, sensor: keyward_store::SensorRecord) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(self.writer.write(move |c| async move {
            let s = keyward_store::columns::SensorColumns::of(&sensor);
            let entry_delay = s.entry_delay.map(|n| n as i32);
            execute(
                &c,
                "INSERT INTO sensors (id, home_id, name, kind, modes, entry_delay, bypassable, device_protocol,
                                      device_address, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (id) DO UPDATE SET name = $3, kind = $4, modes = $5, entry_delay = $6, bypassable = $7,
                     device_protocol = $8, device_address = $9, updated_at = $11",
                &[
                    &s.id,
                    &s.home_id,
                    &s.name,
                    &s.kind,
                    &s.modes,
                    &entry_delay,
                    &s.bypassable,
                    &s.device_protocol,
                    &s.device_address,
                    &s.created_at,
                    &s.updated_at,
                ],
            )
            .await
            .map(drop)
        }))
    }

    fn delete_sensor(&self, home_id: String, sensor_id: String) -> BoxFuture<'_, StoreResult<bool>> {
        Box::pin(self.writer.write(move |c| async move {
            let deleted =
                execute(&c, "DELETE FROM sensors WHERE id = $1 AND home_id = $2", &[&sensor_id, &home_id]).await?;
            Ok(deleted > 0)
        }))
    }

    fn put_siren(&self, siren: keyward_store::SirenRecord) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(self.writer.write(move |c| async move {
            let s = keyward_store::columns::SirenColumns::of(&siren);
            execute(
                &c,
                "INSERT INTO sirens (id, home_id, name, device_protocol, device_address, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (id) DO UPDATE SET name = $3, device_protocol = $4, device_address = $5, updated_at = $7",
                &[&s.id, &s.home_id, &s.name, &s.device_protocol, &s.device_address, &s.created_at, &s.updated_at],
            )
            .await
            .map(drop)
        }))
    }

    fn delete_siren(&self, home_id: String, siren_id: String) -> BoxFuture<'_, StoreResult<bool>> {
        Box::pin(self.writer.write(move |c| async move {
            let deleted =
                execute(&c, "DELETE FROM sirens WHERE id = $1 AND home_id = $2", &[&siren_id, &home_id]).await?;
            Ok(deleted > 0)
        }))
    }

    fn resync_home(&self, home_id: String) -> BoxFuture<'_, StoreResult<HomeCounts>> {
        let quarantine = self.writer.quarantine.clone();
        Box::pin(self.writer.write(move |c| async move {
            let counts = reads::home_counts(&c, &home_id).await?;
            // Nothing of this home can be queued while the hub reads it back
            // (it holds the home's lock), so its records may come again.
            quarantine.release(&home_id);
            Ok(counts)
        }))
    }

    fn record(&self, record: Record) -> Pending<Vec<ActivityEntry>> {
        self.writer.record(record)
    }
}

impl ActivityStore for PostgresStore {
    fn activity(&self, filter: ActivityFilter) -> BoxFuture<'_, StoreResult<ActivityPage>> {
        self.read(move |c| async move { reads::activity(&c, &filter).await })
    }

    fn prune(&self, before: Timestamp, batch: u32) -> BoxFuture<'_, StoreResult<u64>> {
        Box::pin(self.writer.write(move |c| async move {
            let limit = i64::from(batch);
            let entries = execute(
                &c,
                "DELETE FROM activity WHERE seq IN
                     (SELECT seq FROM activity WHERE at < $1 ORDER BY seq LIMIT $2)",
                &[&micros(before), &limit],
            )
            .await?;
            let notifications = execute(
                &c,
                "DELETE FROM outbox WHERE seq IN
                     (SELECT seq FROM outbox WHERE state <> 'pending' AND created_at < $1 ORDER BY seq LIMIT $2)",
                &[&micros(before), &limit],
            )
            .await?;
            Ok(entries + notifications)
        }))
    }
}

impl TokenStore for PostgresStore {
    fn insert_token(&self, token: TokenRecord, secret_hash: Digest) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(self.writer.write(move |c| async move {
            execute(
                &c,
                "INSERT INTO tokens (id, name, scope, home_id, secret_hash, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &token.id,
                    &token.name,
                    &token.scope.as_str(),
                    &token.home_id,
                    &secret_hash.as_slice(),
                    &micros(token.created_at),
                ],
            )
            .await
            .map(drop)
        }))
    }

    fn find_token(&self, secret_hash: Digest) -> BoxFuture<'_, StoreResult<Option<TokenRecord>>> {
        self.read(move |c| async move { reads::find_token(&c, &secret_hash).await })
    }

    fn list_tokens(&self) -> BoxFuture<'_, StoreResult<Vec<TokenRecord>>> {
        self.read(move |c| async move { reads::list_tokens(&c).await })
    }

    fn revoke_token(&self, id: String, at: Timestamp) -> BoxFuture<'_, StoreResult<bool>> {
        Box::pin(self.writer.write(move |c| async move {
            let changed = execute(
                &c,
                "UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                &[&id, &micros(at)],
            )
            .await?;
            Ok(changed == 1)
        }))
    }
}

async fn insert_owner(c: &Client, o: &OwnerRecord) -> StoreResult<()> {
    let sql = format!("INSERT INTO owners ({}) VALUES ($1, $2, $3, $4, $5)", reads::OWNER_COLUMNS);
    execute(c, &sql, &[&o.id, &o.email, &o.password_hash, &micros(o.created_at), &micros(o.updated_at)]).await?;
    Ok(())
}

async fn insert_session(c: &Client, session: &Digest, owner_id: &str, at: i64) -> StoreResult<()> {
    execute(
        c,
        "INSERT INTO sessions (token_hash, owner_id, created_at, last_seen_at) VALUES ($1, $2, $3, $3)",
        &[&session.as_slice(), &owner_id, &at],
    )
    .await?;
    Ok(())
}

async fn set_meta(c: &Client, key: &str, value: &[u8]) -> StoreResult<()> {
    execute(
        c,
        "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2",
        &[&key, &value],
    )
    .await?;
    Ok(())
}

impl OwnerStore for PostgresStore {
    fn owner_count(&self) -> BoxFuture<'_, StoreResult<u64>> {
        self.read(move |c| async move { reads::owner_count(&c).await })
    }

    fn owner_by_email(&self, email: String) -> BoxFuture<'_, StoreResult<Option<OwnerRecord>>> {
        self.read(move |c| async move { reads::owner_by_email(&c, &email).await })
    }

    fn list_owners(&self) -> BoxFuture<'_, StoreResult<Vec<OwnerRecord>>> {
        self.read(move |c| async move { reads::list_owners(&c).await })
    }

    fn create_first_owner(&self, owner: OwnerRecord, session: Digest) -> BoxFuture<'_, StoreResult<bool>> {
        Box::pin(self.writer.write(move |c| async move {
            // Locked until the commit: two racing setups, even from two
            // processes, cannot both see "no owner".
            c.batch_execute("LOCK TABLE owners IN SHARE ROW EXCLUSIVE MODE").await.map_err(pg_error)?;
            if reads::owner_count(&c).await? > 0 {
                return Ok(false);
            }
            insert_owner(&c, &owner).await?;
            execute(&c, "DELETE FROM meta WHERE key = 'setup_code'", &[]).await?;
            insert_session(&c, &session, &owner.id, micros(owner.created_at)).await?;
            Ok(true)
        }))
    }

    fn set_password(&self, owner_id: String, password_hash: String, at: Timestamp) -> BoxFuture<'_, StoreResult<bool>> {
        Box::pin(self.writer.write(move |c| async move {
            let changed = execute(
                &c,
                "UPDATE owners SET password_hash = $2, updated_at = $3 WHERE id = $1",
                &[&owner_id, &password_hash, &micros(at)],
            )
            .await?;
            execute(&c, "DELETE FROM sessions WHERE owner_id = $1", &[&owner_id]).await?;
            Ok(changed == 1)
        }))
    }

    fn start_session(
        &self,
        session: Digest,
        owner_id: String,
        at: Timestamp,
        clear: Vec<String>,
    ) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(self.writer.write(move |c| async move {
            execute(&c, "DELETE FROM login_failures WHERE key = ANY($1)", &[&clear]).await?;
            insert_session(&c, &session, &owner_id, micros(at)).await
        }))
    }

    fn find_session(&self, session: Digest) -> BoxFuture<'_, StoreResult<Option<SessionRecord>>> {
        self.read(move |c| async move { reads::find_session(&c, &session).await })
    }

    fn touch_session(&self, session: Digest, at: Timestamp) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(self.writer.write(move |c| async move {
            execute(
                &c,
                "UPDATE sessions SET last_seen_at = $2 WHERE token_hash = $1",
                &[&session.as_slice(), &micros(at)],
            )
            .await
            .map(drop)
        }))
    }

    fn delete_session(&self, session: Digest) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(self.writer.write(move |c| async move {
            execute(&c, "DELETE FROM sessions WHERE token_hash = $1", &[&session.as_slice()]).await.map(drop)
        }))
    }

    fn delete_sessions_of(&self, owner_id: String) -> BoxFuture<'_, StoreResult<u64>> {
        Box::pin(
            self.writer.write(move |c| async move {
                execute(&c, "DELETE FROM sessions WHERE owner_id = $1", &[&owner_id]).await
            }),
        )
    }

    fn login_failures(&self, keys: Vec<String>) -> BoxFuture<'_, StoreResult<Vec<Option<SignInFailures>>>> {
        self.read(move |c| async move { reads::login_failures(&c, &keys).await })
    }

    fn describe_session(&self, session: Digest, device: String) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(self.writer.write(move |c| async move {
            execute(&c, "UPDATE sessions SET device = $2 WHERE token_hash = $1", &[&session.as_slice(), &device])
                .await
                .map(drop)
        }))
    }

    fn sessions_of(&self, owner_id: String) -> BoxFuture<'_, StoreResult<Vec<SessionLine>>> {
        self.read(move |c| async move { reads::sessions_of(&c, &owner_id).await })
    }

    fn reserve_sign_in(&self, keys: Vec<String>, now: Timestamp) -> BoxFuture<'_, StoreResult<Option<u32>>> {
        // The writer runs one operation at a time, so reading and counting
        // here cannot interleave with another reservation.
        Box::pin(self.writer.write(move |c| async move {
            execute(
                &c,
                "DELETE FROM login_failures WHERE last_failure_at <= $1",
                &[&micros(sign_in::forgotten_before(now))],
            )
            .await?;
            let failures = reads::login_failures(&c, &keys).await?;
            if let Some(wait) = sign_in::wait_seconds(failures.into_iter().flatten(), now) {
                return Ok(Some(wait));
            }
            execute(
                &c,
                "INSERT INTO login_failures (key, failures, last_failure_at) SELECT unnest($1::text[]), 1, $2
                 ON CONFLICT (key) DO UPDATE
                 SET failures = login_failures.failures + 1, last_failure_at = excluded.last_failure_at",
                &[&keys, &micros(now)],
            )
            .await?;
            Ok(None)
        }))
    }

    fn remember_device(
        &self,
        device: Digest,
        owner_id: String,
        now: Timestamp,
        forget_before: Timestamp,
    ) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(self.writer.write(move |c| async move {
            execute(
                &c,
                "DELETE FROM known_devices WHERE owner_id = $1 AND created_at < $2",
                &[&owner_id, &micros(forget_before)],
            )
            .await?;
            execute(
                &c,
                "INSERT INTO known_devices (token_hash, owner_id, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (token_hash) DO UPDATE SET owner_id = excluded.owner_id, created_at = excluded.created_at",
                &[&device.as_slice(), &owner_id, &micros(now)],
            )
            .await
            .map(drop)
        }))
    }

    fn device_owner(&self, device: Digest, remembered_since: Timestamp) -> BoxFuture<'_, StoreResult<Option<String>>> {
        self.read(move |c| async move { reads::device_owner(&c, &device, remembered_since).await })
    }

    fn clear_login_failures(&self, keys: Vec<String>) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(self.writer.write(move |c| async move {
            execute(&c, "DELETE FROM login_failures WHERE key = ANY($1)", &[&keys]).await.map(drop)
        }))
    }

    fn set_setup_code(&self, digest: Digest) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(self.writer.write(move |c| async move { set_meta(&c, "setup_code", &digest).await }))
    }

    fn setup_code(&self) -> BoxFuture<'_, StoreResult<Option<Digest>>> {
        self.read(move |c| async move { reads::setup_code(&c).await })
    }

    fn insert_invite(&self, invite: InviteRecord) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(self.writer.write(move |c| async move {
            execute(
                &c,
                "INSERT INTO invites (token_hash, email, invited_by, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &invite.digest.as_slice(),
                    &invite.email,
                    &invite.invited_by,
                    &micros(invite.created_at),
                    &micros(invite.expires_at),
                ],
            )
            .await
            .map(drop)
        }))
    }

    fn live_invite(&self, digest: Digest, now: Timestamp) -> BoxFuture<'_, StoreResult<Option<String>>> {
        self.read(move |c| async move { reads::live_invite(&c, &digest, micros(now)).await })
    }

    fn pending_invites(&self, now: Timestamp) -> BoxFuture<'_, StoreResult<Vec<InviteRecord>>> {
        self.read(move |c| async move { reads::pending_invites(&c, micros(now)).await })
    }

    fn revoke_invite(&self, digest: Digest) -> BoxFuture<'_, StoreResult<bool>> {
        Box::pin(self.writer.write(move |c| async move {
            let deleted =
                execute(&c, "DELETE FROM invites WHERE token_hash = $1 AND used_at IS NULL", &[&digest.as_slice()])
                    .await?;
            Ok(deleted == 1)
        }))
    }

    fn accept_invite(
        &self,
        invite: Digest,
        owner: OwnerRecord,
        session: Digest,
        now: Timestamp,
    ) -> BoxFuture<'_, StoreResult<bool>> {
        Box::pin(self.writer.write(move |c| async move {
            // Taken once: the row is marked used only while still live.
            let taken = execute(
                &c,
                "UPDATE invites SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
                &[&invite.as_slice(), &micros(now)],
            )
            .await?;
            if taken != 1 {
                return Ok(false);
            }
            insert_owner(&c, &owner).await?;
            insert_session(&c, &session, &owner.id, micros(now)).await?;
            Ok(true)
        }))
    }
}

impl ShareStore for PostgresStore {
    fn insert_share(&self, share: ShareRecord) -> BoxFuture<'_, StoreResult<()>> {
        let columns = ShareColumns::of(&share);
        Box::pin(self.writer.write(move |c| async move { shares::insert_share(&c, &columns).await }))
    }

    fn share_by_digest(&self, digest: Digest) -> BoxFuture<'_, StoreResult<Option<ShareRecord>>> {
        self.read(move |c| async move { shares::share_by_digest(&c, &digest).await })
    }

    fn bind_share(&self, id: String, browser: Digest, at: Timestamp) -> BoxFuture<'_, StoreResult<bool>> {
        Box::pin(self.writer.write(move |c| async move { shares::bind_share(&c, &id, &browser, micros(at)).await }))
    }

    fn revoke_share(&self, user_id: String, id: String, at: Timestamp) -> BoxFuture<'_, StoreResult<bool>> {
        Box::pin(self.writer.write(move |c| async move { shares::revoke_share(&c, &user_id, &id, micros(at)).await }))
    }

    fn shares_of(&self, user_id: String) -> BoxFuture<'_, StoreResult<Vec<ShareRecord>>> {
        self.read(move |c| async move { shares::shares_of(&c, &user_id).await })
    }
}

impl NotifyStore for PostgresStore {
    fn put_channel(&self, channel: ChannelRecord) -> BoxFuture<'_, StoreResult<()>> {
        let columns = ChannelColumns::of(&channel);
        Box::pin(self.writer.write(move |c| async move { notify::put_channel(&c, &columns).await }))
    }

    fn delete_channel(&self, home_id: String, channel_id: String) -> BoxFuture<'_, StoreResult<bool>> {
        Box::pin(self.writer.write(move |c| async move { notify::delete_channel(&c, &home_id, &channel_id).await }))
    }

    fn channels(&self) -> BoxFuture<'_, StoreResult<Vec<ChannelRecord>>> {
        self.read(move |c| async move { notify::channels(&c).await })
    }

    fn enqueue(&self, notifications: Vec<OutboxRecord>) -> BoxFuture<'_, StoreResult<()>> {
        let rows: Vec<OutboxColumns> = notifications.iter().map(OutboxColumns::of).collect();
        Box::pin(self.writer.write(move |c| async move {
            for row in &rows {
                notify::insert_notification(&c, row).await?;
            }
            Ok(())
        }))
    }

    fn pending_notifications(&self, per_channel: u32) -> BoxFuture<'_, StoreResult<Vec<OutboxRecord>>> {
        self.read(move |c| async move { notify::pending(&c, per_channel).await })
    }

    fn update_delivery(&self, update: DeliveryUpdate) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(self.writer.write(move |c| async move { notify::update_delivery(&c, &update).await }))
    }

    fn deliveries(&self, channel_id: String, limit: u32) -> BoxFuture<'_, StoreResult<Vec<OutboxRecord>>> {
        self.read(move |c| async move { notify::deliveries(&c, &channel_id, limit).await })
    }
}

impl MetaStore for PostgresStore {
    fn key_check(&self) -> BoxFuture<'_, StoreResult<Option<Vec<u8>>>> {
        self.read(move |c| async move { reads::meta(&c, "key_check").await })
    }

    fn set_key_check(&self, check: [u8; 32]) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(self.writer.write(move |c| async move { set_meta(&c, "key_check", &check).await }))
    }

    fn holds_codes(&self) -> BoxFuture<'_, StoreResult<bool>> {
        self.read(move |c| async move { reads::holds_codes(&c).await })
    }
}
