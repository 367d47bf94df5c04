//! Owner accounts for the web UI: first-run setup behind a one-time code,
//! Argon2id passwords, server-side sessions and sign-in throttling.

use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use keyward_core::{PasswordError, check_password};
use keyward_store::owners::{self as rows, OwnerRow};
use keyward_store::{Connection, StoreError, new_id, now_micros, random_hex, token_hash};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::{AppError, Hub};

/// A session ends after this long without a request…
pub const SESSION_IDLE: Duration = Duration::from_secs(12 * 3600);
/// …and after this long in any case.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
/// Failed sign-ins allowed per account and per client address before each
/// further attempt must wait: 1 s, then 2, 4, … up to 15 minutes.
pub const FREE_FAILURES: i64 = 5;
const MAX_DELAY_SECONDS: i64 = 900;
/// Sessions are marked used at most this often, to keep page views from
/// turning into writes.
const TOUCH_EVERY_MICROS: i64 = 60_000_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub id: String,
    pub email: String,
}

/// Why setting up the first owner was refused.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("keyward is already set up: sign in, or reset a password with `keyward owner reset-password`")]
    AlreadySetUp,
    #[error("the setup code is not the one keyward printed on its first start")]
    WrongSetupCode,
    #[error("enter a valid email address")]
    Email,
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error("this invitation is not valid: it was used already, has expired, or the link is incomplete")]
    InviteInvalid,
    #[error("an owner with this email exists already")]
    OwnerExists,
    #[error(transparent)]
    App(#[from] AppError),
}

/// How long an invitation link works.
pub const INVITE_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// Why a sign-in was refused. The messages never say which of email and
/// password was wrong.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("the email or the password is wrong")]
    WrongCredentials,
    #[error("too many failed sign-ins: try again in {retry_after} seconds")]
    Throttled { retry_after: u32 },
    #[error(transparent)]
    App(#[from] AppError),
}

/// A new session's secret, for the cookie. Never stored, never printed.
pub struct SessionToken(pub Zeroizing<String>);

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(<redacted>)")
    }
}

/// Lower-cases and checks an email address (no verification mail: the owner
/// types it on their own hub).
pub fn normalize_email(email: &str) -> Option<String> {
    let email = email.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let plausible = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && email.len() <= 254
        && !email.chars().any(char::is_whitespace);
    plausible.then_some(email)
}

fn hash_password(password: &str) -> Result<String, AppError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|_| AppError::Store(StoreError::Corrupt("password hashing failed")))
}

fn verify_password(password: &str, phc: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), phc).is_ok()
}

/// A PHC string for a password nobody has: verifying against it when the
/// account does not exist takes as long as for a real one, so timing does not
/// tell which emails have accounts.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&random_hex(16)).unwrap_or_default())
}

/// Makes a new one-time setup code, stores its digest, and returns it to be
/// printed. Refused once an owner exists.
pub fn new_setup_code(conn: &Connection) -> Result<Option<String>, AppError> {
    if rows::owner_count(conn)? > 0 {
        return Ok(None);
    }
    // 12 characters from an alphabet without look-alikes: 60 bits.
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let raw = random_hex(12);
    let code: String = raw
        .as_bytes()
        .chunks(2)
        .map(|pair| {
            let byte = u8::from_str_radix(std::str::from_utf8(pair).unwrap_or("00"), 16).unwrap_or(0);
            char::from(ALPHABET[usize::from(byte) % ALPHABET.len()])
        })
        .collect();
    let code = format!("{}-{}-{}", &code[0..4], &code[4..8], &code[8..12]);
    rows::set_setup_code(conn, &token_hash(&code))?;
    Ok(Some(code))
}

/// `keyward owner reset-password`: sets a new password and ends the owner's sessions.
pub fn reset_password(conn: &Connection, email: &str, password: &str) -> Result<(), SetupError> {
    let email = normalize_email(email).ok_or(SetupError::Email)?;
    check_password(password, &email)?;
    let owner = rows::owner_by_email(conn, &email).map_err(AppError::from)?.ok_or(SetupError::Email)?;
    let hash = hash_password(password)?;
    rows::set_password(conn, &owner.id, &hash, now_micros()).map_err(AppError::from)?;
    rows::clear_login_failures(conn, &account_key(&email)).map_err(AppError::from)?;
    Ok(())
}

fn account_key(email: &str) -> String {
    format!("account:{email}")
}

fn address_key(address: &str) -> String {
    format!("address:{address}")
}

/// Seconds to wait before the next attempt after `failures` failures, the
/// last at `last` (µs), judged at `now` (µs).
fn wait_seconds(failures: i64, last: i64, now: i64) -> Option<u32> {
    if failures < FREE_FAILURES {
        return None;
    }
    let delay = 1i64 << (failures - FREE_FAILURES).clamp(0, 20);
    let delay = delay.min(MAX_DELAY_SECONDS);
    let elapsed = (now - last) / 1_000_000;
    (elapsed < delay).then(|| u32::try_from(delay - elapsed).unwrap_or(u32::MAX))
}

impl Hub {
    /// True until the first owner exists.
    pub async fn needs_setup(&self) -> Result<bool, AppError> {
        Ok(self.read(rows::owner_count).await? == 0)
    }

    /// Creates the first owner, signed in.
    pub async fn set_up_owner(
        &self,
        setup_code: &str,
        email: &str,
        password: &str,
    ) -> Result<(Owner, SessionToken), SetupError> {
        let stored = self.read(rows::setup_code).await?;
        if !self.needs_setup().await? {
            return Err(SetupError::AlreadySetUp);
        }
        let typed = token_hash(&setup_code.trim().to_uppercase());
        let matches = stored.is_some_and(|digest| bool::from(digest.as_slice().ct_eq(typed.as_slice())));
        if !matches {
            return Err(SetupError::WrongSetupCode);
        }
        let email = normalize_email(email).ok_or(SetupError::Email)?;
        check_password(password, &email)?;
        let password = Zeroizing::new(password.to_owned());
        let hash =
            tokio::task::spawn_blocking(move || hash_password(&password)).await.map_err(|_| AppError::Poisoned)??;
        let now = now_micros();
        let owner =
            OwnerRow { id: new_id(), email: email.clone(), password_hash: hash, created_at: now, updated_at: now };
        let (secret, digest) = new_session_secret();
        let created = self
            .writer
            .write(move |conn| {
                // Checked again inside the transaction: two racing setups cannot both win.
                if rows::owner_count(conn)? > 0 {
                    return Ok(None);
                }
                rows::insert_owner(conn, &owner)?;
                conn.execute("DELETE FROM meta WHERE key = 'setup_code'", [])?;
                rows::insert_session(conn, &digest, &owner.id, now)?;
                Ok(Some(Owner { id: owner.id, email: owner.email }))
            })
            .await
            .map_err(AppError::from)?;
        let owner = created.ok_or(SetupError::AlreadySetUp)?;
        tracing::info!(owner = owner.id.as_str(), "first owner set up");
        Ok((owner, secret))
    }

    /// Signs an owner in from `address` (the client's IP address).
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        address: &str,
    ) -> Result<(Owner, SessionToken), SignInError> {
        let email = normalize_email(email).unwrap_or_else(|| email.trim().to_lowercase());
        let keys = [account_key(&email), address_key(address)];
        let now = now_micros();
        let (lookup, read_keys) = (email.clone(), keys.clone());
        let (failures, owner) = self
            .read(move |conn| {
                let mut failures = Vec::with_capacity(read_keys.len());
                for key in &read_keys {
                    failures.push(rows::login_failures(conn, key)?);
                }
                Ok((failures, rows::owner_by_email(conn, &lookup)?))
            })
            .await?;
        // The longest wait of the account's and the address's.
        let retry_after =
            failures.into_iter().flatten().filter_map(|(count, last)| wait_seconds(count, last, now)).max();
        if let Some(retry_after) = retry_after {
            tracing::warn!(address, "sign-in refused while throttled");
            return Err(SignInError::Throttled { retry_after });
        }
        let phc = owner.as_ref().map_or_else(|| decoy_hash().to_owned(), |o| o.password_hash.clone());
        let typed = Zeroizing::new(password.to_owned());
        let verified =
            tokio::task::spawn_blocking(move || verify_password(&typed, &phc)).await.map_err(|_| AppError::Poisoned)?;
        match owner.filter(|_| verified) {
            Some(owner) => {
                let (secret, digest) = new_session_secret();
                let owner_id = owner.id.clone();
                self.writer
                    .write(move |conn| {
                        for key in &keys {
                            rows::clear_login_failures(conn, key)?;
                        }
                        rows::insert_session(conn, &digest, &owner_id, now)
                    })
                    .await
                    .map_err(AppError::from)?;
                tracing::info!(owner = owner.id.as_str(), address, "owner signed in");
                Ok((Owner { id: owner.id, email: owner.email }, secret))
            }
            None => {
                self.writer
                    .write(move |conn| {
                        for key in &keys {
                            rows::record_login_failure(conn, key, now)?;
                        }
                        Ok(())
                    })
                    .await
                    .map_err(AppError::from)?;
                tracing::warn!(address, "failed sign-in");
                Err(SignInError::WrongCredentials)
            }
        }
    }

    /// The owner of a live session; ends sessions idle or too old.
    pub async fn session_owner(&self, secret: &str) -> Result<Option<Owner>, AppError> {
        let digest = token_hash(secret);
        let found = self
            .read(move |conn| {
                let Some((owner_id, created, last_seen)) = rows::find_session(conn, &digest)? else { return Ok(None) };
                Ok(rows::owner_by_id(conn, &owner_id)?.map(|o| (o, created, last_seen)))
            })
            .await?;
        let Some((owner, created, last_seen)) = found else { return Ok(None) };
        let now = now_micros();
        let micros = |d: Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        if now - last_seen > micros(SESSION_IDLE) || now - created > micros(SESSION_LIFETIME) {
            self.writer.write(move |conn| rows::delete_session(conn, &digest)).await?;
            return Ok(None);
        }
        if now - last_seen > TOUCH_EVERY_MICROS {
            self.writer.write(move |conn| rows::touch_session(conn, &digest, now)).await?;
        }
        Ok(Some(Owner { id: owner.id, email: owner.email }))
    }

    pub async fn sign_out(&self, secret: &str) -> Result<(), AppError> {
        let digest = token_hash(secret);
        self.writer.write(move |conn| rows::delete_session(conn, &digest)).await?;
        Ok(())
    }

    /// Ends every session of the owner ("sign out everywhere").
    pub async fn sign_out_everywhere(&self, owner_id: &str) -> Result<usize, AppError> {
        let id = owner_id.to_owned();
        Ok(self.writer.write(move |conn| rows::delete_sessions_of(conn, &id)).await?)
    }
}

impl Hub {
    pub async fn list_owners(&self) -> Result<Vec<Owner>, AppError> {
        let rows = self.read(rows::list_owners).await?;
        Ok(rows.into_iter().map(|o| Owner { id: o.id, email: o.email }).collect())
    }

    /// Invites a further owner: returns the one-time secret for the link.
    pub async fn invite_owner(&self, by: &Owner, email: &str) -> Result<Zeroizing<String>, SetupError> {
        let email = normalize_email(email).ok_or(SetupError::Email)?;
        let lookup = email.clone();
        if self.read(move |conn| rows::owner_by_email(conn, &lookup)).await?.is_some() {
            return Err(SetupError::OwnerExists);
        }
        let secret = Zeroizing::new(format!("kwi_{}", random_hex(32)));
        let digest = token_hash(&secret);
        let now = now_micros();
        let expires = now + i64::try_from(INVITE_LIFETIME.as_micros()).unwrap_or(i64::MAX);
        let by_id = by.id.clone();
        self.writer
            .write(move |conn| rows::insert_invite(conn, &digest, &email, &by_id, now, expires))
            .await
            .map_err(AppError::from)?;
        tracing::info!(by = by.id.as_str(), "owner invited");
        Ok(secret)
    }

    /// The invited email, while the invitation can be accepted.
    pub async fn invitation(&self, secret: &str) -> Result<Option<String>, AppError> {
        let digest = token_hash(secret);
        self.read(move |conn| rows::live_invite(conn, &digest, now_micros())).await
    }

    /// Accepts an invitation: the new owner sets a password and is signed in.
    pub async fn accept_invitation(&self, secret: &str, password: &str) -> Result<(Owner, SessionToken), SetupError> {
        let email = self.invitation(secret).await?.ok_or(SetupError::InviteInvalid)?;
        check_password(password, &email)?;
        let password = Zeroizing::new(password.to_owned());
        let hash =
            tokio::task::spawn_blocking(move || hash_password(&password)).await.map_err(|_| AppError::Poisoned)??;
        let now = now_micros();
        let invite = token_hash(secret);
        let owner = OwnerRow { id: new_id(), email, password_hash: hash, created_at: now, updated_at: now };
        let (session, digest) = new_session_secret();
        let created = self
            .writer
            .write(move |conn| {
                // Checked again inside the transaction: an invitation is used once.
                if rows::live_invite(conn, &invite, now)?.is_none() {
                    return Ok(None);
                }
                rows::use_invite(conn, &invite, now)?;
                rows::insert_owner(conn, &owner)?;
                rows::insert_session(conn, &digest, &owner.id, now)?;
                Ok(Some(Owner { id: owner.id, email: owner.email }))
            })
            .await;
        match created {
            Ok(Some(owner)) => Ok((owner, session)),
            Ok(None) => Err(SetupError::InviteInvalid),
            Err(StoreError::Conflict) => Err(SetupError::OwnerExists),
            Err(e) => Err(AppError::from(e).into()),
        }
    }
}

fn new_session_secret() -> (SessionToken, [u8; 32]) {
    let secret = Zeroizing::new(format!("kws_{}", random_hex(32)));
    let digest = token_hash(&secret);
    (SessionToken(secret), digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_grows_after_five_failures() {
        let s = 1_000_000;
        assert_eq!(wait_seconds(4, 0, 0), None);
        assert_eq!(wait_seconds(5, 0, 0), Some(1));
        assert_eq!(wait_seconds(5, 0, s), None);
        assert_eq!(wait_seconds(6, 0, 0), Some(2));
        assert_eq!(wait_seconds(8, 0, 3 * s), Some(5));
        assert_eq!(wait_seconds(40, 0, 0), Some(900), "capped at 15 minutes");
    }

    #[test]
    fn emails_are_normalized() {
        assert_eq!(normalize_email(" Owner@Example.org "), Some("owner@example.org".to_owned()));
        for bad in ["", "owner", "@example.org", "owner@", "owner@example", "a b@example.org", "a@b@c.org"] {
            assert_eq!(normalize_email(bad), None, "{bad}");
        }
    }
}
