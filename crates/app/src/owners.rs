//! Owner accounts for the web UI: first-run setup behind a one-time code,
//! Argon2id passwords, server-side sessions and sign-in throttling.

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use jiff::{SignedDuration, Timestamp};
use keyward_core::{PasswordError, check_password};
use keyward_store::{Digest, InviteRecord, LoginFailures, OwnerRecord, OwnerStore, StoreError};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::AppError;
use crate::clock::Clock;
use crate::secrets::{new_id, random_hex, token_hash};

/// A session ends after this long without a request…
pub const SESSION_IDLE: SignedDuration = SignedDuration::from_hours(12);
/// …and after this long in any case.
pub const SESSION_LIFETIME: SignedDuration = SignedDuration::from_hours(30 * 24);
/// Failed sign-ins allowed per account and per client address before each
/// further attempt must wait: 1 s, then 2, 4, … up to 15 minutes.
pub const FREE_FAILURES: u32 = 5;
const MAX_DELAY_SECONDS: i64 = 900;
/// Sessions are marked used at most this often, to keep page views from
/// turning into writes.
const TOUCH_EVERY: SignedDuration = SignedDuration::from_secs(60);
/// How long an invitation link works.
pub const INVITE_LIFETIME: SignedDuration = SignedDuration::from_hours(7 * 24);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub id: String,
    pub email: String,
}

impl From<OwnerRecord> for Owner {
    fn from(o: OwnerRecord) -> Self {
        Self { id: o.id, email: o.email }
    }
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

impl From<StoreError> for SetupError {
    fn from(e: StoreError) -> Self {
        Self::App(e.into())
    }
}

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

impl From<StoreError> for SignInError {
    fn from(e: StoreError) -> Self {
        Self::App(e.into())
    }
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

fn account_key(email: &str) -> String {
    format!("account:{email}")
}

fn address_key(address: &str) -> String {
    format!("address:{address}")
}

/// Seconds to wait before the next attempt after these failures, judged at `now`.
fn wait_seconds(f: LoginFailures, now: Timestamp) -> Option<u32> {
    if f.failures < FREE_FAILURES {
        return None;
    }
    let delay = (1i64 << (f.failures - FREE_FAILURES).min(20)).min(MAX_DELAY_SECONDS);
    // A clock that stepped back counts as no time passed.
    let elapsed = now.duration_since(f.last_failure).as_secs().max(0);
    (elapsed < delay).then(|| u32::try_from(delay - elapsed).unwrap_or(u32::MAX))
}

async fn hash_in_background(password: &str) -> Result<String, AppError> {
    let password = Zeroizing::new(password.to_owned());
    tokio::task::spawn_blocking(move || hash_password(&password)).await.map_err(|_| AppError::Poisoned)?
}

fn new_session_secret() -> (SessionToken, Digest) {
    let secret = Zeroizing::new(format!("kws_{}", random_hex(32)));
    let digest = token_hash(&secret);
    (SessionToken(secret), digest)
}

/// Owner accounts and their sessions.
pub struct Owners {
    store: Arc<dyn OwnerStore>,
    clock: Arc<dyn Clock>,
}

impl Owners {
    pub fn new(store: Arc<dyn OwnerStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Makes a new one-time setup code, stores its digest, and returns it to
    /// be printed. `None` once an owner exists.
    pub async fn new_setup_code(&self) -> Result<Option<String>, AppError> {
        if self.store.owner_count().await? > 0 {
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
        self.store.set_setup_code(token_hash(&code)).await?;
        Ok(Some(code))
    }

    /// `keyward owner reset-password`: sets a new password and ends the
    /// owner's sessions.
    pub async fn reset_password(&self, email: &str, password: &str) -> Result<(), SetupError> {
        let email = normalize_email(email).ok_or(SetupError::Email)?;
        check_password(password, &email)?;
        let owner = self.store.owner_by_email(email.clone()).await?.ok_or(SetupError::Email)?;
        let hash = hash_in_background(password).await?;
        self.store.set_password(owner.id, hash, self.clock.now()).await?;
        self.store.clear_login_failures(vec![account_key(&email)]).await?;
        Ok(())
    }

    /// True until the first owner exists.
    pub async fn needs_setup(&self) -> Result<bool, AppError> {
        Ok(self.store.owner_count().await? == 0)
    }

    /// Creates the first owner, signed in.
    pub async fn set_up(
        &self,
        setup_code: &str,
        email: &str,
        password: &str,
    ) -> Result<(Owner, SessionToken), SetupError> {
        let stored = self.store.setup_code().await?;
        if !self.needs_setup().await? {
            return Err(SetupError::AlreadySetUp);
        }
        let typed = token_hash(&setup_code.trim().to_uppercase());
        if !stored.is_some_and(|digest| bool::from(digest.ct_eq(&typed))) {
            return Err(SetupError::WrongSetupCode);
        }
        let email = normalize_email(email).ok_or(SetupError::Email)?;
        check_password(password, &email)?;
        let hash = hash_in_background(password).await?;
        let now = self.clock.now();
        let owner = OwnerRecord { id: new_id(), email, password_hash: hash, created_at: now, updated_at: now };
        let (secret, digest) = new_session_secret();
        if !self.store.create_first_owner(owner.clone(), digest).await? {
            return Err(SetupError::AlreadySetUp);
        }
        tracing::info!(owner = owner.id.as_str(), "first owner set up");
        Ok((owner.into(), secret))
    }

    /// Signs an owner in from `address` (the client's IP address).
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        address: &str,
    ) -> Result<(Owner, SessionToken), SignInError> {
        let email = normalize_email(email).unwrap_or_else(|| email.trim().to_lowercase());
        let keys = vec![account_key(&email), address_key(address)];
        let now = self.clock.now();
        let failures = self.store.login_failures(keys.clone()).await?;
        let owner = self.store.owner_by_email(email).await?;
        // The longest wait of the account's and the address's.
        let retry_after = failures.into_iter().flatten().filter_map(|f| wait_seconds(f, now)).max();
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
                self.store.start_session(digest, owner.id.clone(), now, keys).await?;
                tracing::info!(owner = owner.id.as_str(), address, "owner signed in");
                Ok((owner.into(), secret))
            }
            None => {
                self.store.record_login_failure(keys, now).await?;
                tracing::warn!(address, "failed sign-in");
                Err(SignInError::WrongCredentials)
            }
        }
    }

    /// The owner of a live session, which counts as used; ends sessions
    /// idle or too old.
    pub async fn session_owner(&self, secret: &str) -> Result<Option<Owner>, AppError> {
        let digest = token_hash(secret);
        let Some(session) = self.live_session(digest).await? else { return Ok(None) };
        let now = self.clock.now();
        if now.duration_since(session.last_seen) > TOUCH_EVERY {
            self.store.touch_session(digest, now).await?;
        }
        Ok(Some(session.owner.into()))
    }

    /// Whether a session is still live, without counting as its use (a live
    /// view checks this before every row it sends).
    pub async fn session_is_live(&self, secret: &str) -> Result<bool, AppError> {
        Ok(self.live_session(token_hash(secret)).await?.is_some())
    }

    async fn live_session(&self, digest: Digest) -> Result<Option<keyward_store::SessionRecord>, AppError> {
        let Some(session) = self.store.find_session(digest).await? else { return Ok(None) };
        let now = self.clock.now();
        if now.duration_since(session.last_seen) > SESSION_IDLE
            || now.duration_since(session.created_at) > SESSION_LIFETIME
        {
            self.store.delete_session(digest).await?;
            return Ok(None);
        }
        Ok(Some(session))
    }

    pub async fn sign_out(&self, secret: &str) -> Result<(), AppError> {
        Ok(self.store.delete_session(token_hash(secret)).await?)
    }

    /// Ends every session of the owner ("sign out everywhere").
    pub async fn sign_out_everywhere(&self, owner_id: &str) -> Result<u64, AppError> {
        Ok(self.store.delete_sessions_of(owner_id.to_owned()).await?)
    }

    /// Every owner, oldest first.
    pub async fn list(&self) -> Result<Vec<Owner>, AppError> {
        Ok(self.store.list_owners().await?.into_iter().map(Owner::from).collect())
    }

    /// Invites a further owner: returns the one-time secret for the link.
    pub async fn invite(&self, by: &Owner, email: &str) -> Result<Zeroizing<String>, SetupError> {
        let email = normalize_email(email).ok_or(SetupError::Email)?;
        if self.store.owner_by_email(email.clone()).await?.is_some() {
            return Err(SetupError::OwnerExists);
        }
        let secret = Zeroizing::new(format!("kwi_{}", random_hex(32)));
        let now = self.clock.now();
        let invite = InviteRecord {
            digest: token_hash(&secret),
            email,
            invited_by: by.id.clone(),
            created_at: now,
            expires_at: now.checked_add(INVITE_LIFETIME).unwrap_or(now),
        };
        self.store.insert_invite(invite).await?;
        tracing::info!(by = by.id.as_str(), "owner invited");
        Ok(secret)
    }

    /// The invited email, while the invitation can be accepted.
    pub async fn invitation(&self, secret: &str) -> Result<Option<String>, AppError> {
        Ok(self.store.live_invite(token_hash(secret), self.clock.now()).await?)
    }

    /// Accepts an invitation: the new owner sets a password and is signed in.
    pub async fn accept_invitation(&self, secret: &str, password: &str) -> Result<(Owner, SessionToken), SetupError> {
        let email = self.invitation(secret).await?.ok_or(SetupError::InviteInvalid)?;
        check_password(password, &email)?;
        let hash = hash_in_background(password).await?;
        let now = self.clock.now();
        let owner = OwnerRecord { id: new_id(), email, password_hash: hash, created_at: now, updated_at: now };
        let (session, digest) = new_session_secret();
        match self.store.accept_invite(token_hash(secret), owner.clone(), digest, now).await {
            Ok(true) => Ok((owner.into(), session)),
            Ok(false) => Err(SetupError::InviteInvalid),
            Err(StoreError::Conflict) => Err(SetupError::OwnerExists),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_grows_after_five_failures() {
        let at = |s: i64| Timestamp::from_second(1_800_000_000 + s).expect("in range");
        let f = |failures| LoginFailures { failures, last_failure: at(0) };
        assert_eq!(wait_seconds(f(4), at(0)), None);
        assert_eq!(wait_seconds(f(5), at(0)), Some(1));
        assert_eq!(wait_seconds(f(5), at(1)), None);
        assert_eq!(wait_seconds(f(6), at(0)), Some(2));
        assert_eq!(wait_seconds(f(8), at(3)), Some(5));
        assert_eq!(wait_seconds(f(40), at(0)), Some(900), "capped at 15 minutes");
        assert_eq!(wait_seconds(f(6), at(-10)), Some(2), "a clock that stepped back waits the whole delay");
    }

    #[test]
    fn emails_are_normalized() {
        assert_eq!(normalize_email(" Owner@Example.org "), Some("owner@example.org".to_owned()));
        for bad in ["", "owner", "@example.org", "owner@", "owner@example", "a b@example.org", "a@b@c.org"] {
            assert_eq!(normalize_email(bad), None, "{bad}");
        }
    }
}
