//! Owner accounts for the web UI: first-run setup behind a one-time code,
//! Argon2id passwords, server-side sessions and sign-in throttling.

use std::net::IpAddr;
use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use jiff::{SignedDuration, Timestamp};
use keyward_core::{PasswordError, check_password};
use keyward_store::{Digest, InviteRecord, OwnerRecord, OwnerStore, StoreError};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::AppError;
use crate::clock::Clock;
use crate::hashing::{Busy, HashingError, PasswordHashing};
use crate::secrets::{new_id, random_hex, token_hash};

/// A session ends after this long without a request…
pub const SESSION_IDLE: SignedDuration = SignedDuration::from_hours(12);
/// …and after this long in any case.
pub const SESSION_LIFETIME: SignedDuration = SignedDuration::from_hours(30 * 24);
/// Failed sign-ins allowed per throttling key before each further attempt
/// must wait (`keyward_core::sign_in`).
pub use keyward_core::sign_in::FREE_FAILURES;
/// How long a browser an owner signed in from stays known.
pub const DEVICE_LIFETIME: SignedDuration = SignedDuration::from_hours(365 * 24);
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
    Busy(#[from] Busy),
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
    keyward_core::email::EmailAddress::parse(email).ok().map(|e| e.as_str().to_owned())
}

fn hash_password(password: &str) -> Result<String, AppError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|_| AppError::Store(StoreError::Corrupt("password hashing failed")))
}

/// Verifies against the owner's hash, or against a decoy when there is no
/// such owner, so that timing does not tell which emails have accounts.
fn verify_password(password: &str, phc: Option<&str>) -> bool {
    let phc = phc.unwrap_or_else(|| decoy_hash());
    Argon2::default().verify_password(password.as_bytes(), phc).is_ok()
}

/// A PHC string for a password nobody has (made once, on the hashing pool).
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&random_hex(16)).unwrap_or_default())
}

fn account_key(email: &str) -> String {
    format!("account:{email}")
}

/// An IPv6 client is counted by its /64, the block one household or host
/// usually gets, so that walking through its addresses gains nothing.
fn address_key(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => format!("address:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("address:{v4}"),
            None => {
                let s = v6.segments();
                format!("address:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

fn device_key(device: &Digest) -> String {
    let hex: String = device.iter().map(|b| format!("{b:02x}")).collect();
    format!("device:{hex}")
}

fn new_session_secret() -> (SessionToken, Digest) {
    let secret = Zeroizing::new(format!("kws_{}", random_hex(32)));
    let digest = token_hash(&secret);
    (SessionToken(secret), digest)
}

/// A sign-in as the form sent it.
pub struct SignInAttempt<'a> {
    pub email: &'a str,
    pub password: &'a str,
    /// The client's address (behind a trusted proxy, the one it forwarded).
    pub address: IpAddr,
    /// The browser's device cookie, when it has one.
    pub device: Option<&'a str>,
}

/// A successful sign-in.
#[derive(Debug)]
pub struct SignedIn {
    pub owner: Owner,
    pub session: SessionToken,
    /// A new device cookie for a browser not known yet as this owner's.
    pub new_device: Option<DeviceToken>,
}

/// The secret of a known browser's device cookie. Never stored, never printed.
pub struct DeviceToken(pub Zeroizing<String>);

impl std::fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceToken(<redacted>)")
    }
}

/// Owner accounts and their sessions.
pub struct Owners {
    store: Arc<dyn OwnerStore>,
    clock: Arc<dyn Clock>,
    hashing: Arc<PasswordHashing>,
}

impl Owners {
    pub fn new(store: Arc<dyn OwnerStore>, clock: Arc<dyn Clock>) -> Self {
        Self::with_hashing(store, clock, Arc::new(PasswordHashing::default()))
    }

    /// With the bound on password hashing shared by everything that hashes.
    pub fn with_hashing(store: Arc<dyn OwnerStore>, clock: Arc<dyn Clock>, hashing: Arc<PasswordHashing>) -> Self {
        Self { store, clock, hashing }
    }

    /// Hashes a new password, waiting for a turn.
    async fn hash(&self, password: &str) -> Result<String, AppError> {
        let password = Zeroizing::new(password.to_owned());
        match self.hashing.run(move || hash_password(&password)).await {
            Ok(hashed) => hashed,
            Err(HashingError::Busy(_)) => Err(AppError::Busy),
            Err(HashingError::Stopped) => Err(AppError::Poisoned),
        }
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
        let hash = self.hash(password).await?;
        self.store.set_password(owner.id, hash, self.clock.now()).await?;
        self.store.clear_login_failures(vec![account_key(&email)]).await?;
        Ok(())
    }

    /// True until the first owner exists.
    pub async fn needs_setup(&self) -> Result<bool, AppError> {
        Ok(self.store.owner_count().await? == 0)
    }

    /// Whether `setup_code` is the one keyward printed, creating nothing: a
    /// setup form with other mistakes says all of them at once. Always false
    /// once the owner exists.
    pub async fn setup_code_matches(&self, setup_code: &str) -> Result<bool, SetupError> {
        let stored = self.store.setup_code().await?;
        let typed = token_hash(&setup_code.trim().to_uppercase());
        Ok(stored.is_some_and(|digest| bool::from(digest.ct_eq(&typed))))
    }

    /// Creates the first owner, signed in.
    pub async fn set_up(
        &self,
        setup_code: &str,
        email: &str,
        password: &str,
    ) -> Result<(Owner, SessionToken), SetupError> {
        if !self.needs_setup().await? {
            return Err(SetupError::AlreadySetUp);
        }
        if !self.setup_code_matches(setup_code).await? {
            return Err(SetupError::WrongSetupCode);
        }
        let email = normalize_email(email).ok_or(SetupError::Email)?;
        check_password(password, &email)?;
        let hash = self.hash(password).await?;
        let now = self.clock.now();
        let owner = OwnerRecord { id: new_id(), email, password_hash: hash, created_at: now, updated_at: now };
        let (secret, digest) = new_session_secret();
        if !self.store.create_first_owner(owner.clone(), digest).await? {
            return Err(SetupError::AlreadySetUp);
        }
        tracing::info!(owner = owner.id.as_str(), "first owner set up");
        Ok((owner.into(), secret))
    }

    /// Signs an owner in. The attempt is throttled under the account and
    /// the client's address, or, from a browser this owner signed in from
    /// before, under that browser alone: others' failures never lock the
    /// owner out of their own browser. The attempt is counted before the
    /// password is checked, so racing attempts cannot outrun the throttle.
    pub async fn sign_in(&self, attempt: SignInAttempt<'_>) -> Result<SignedIn, SignInError> {
        let SignInAttempt { email, password, address, device } = attempt;
        let email = normalize_email(email).unwrap_or_else(|| email.trim().to_lowercase());
        let now = self.clock.now();
        let owner = self.store.owner_by_email(email.clone()).await?;
        // Looked up whether or not the account exists, so that the time
        // taken tells nothing about which accounts do.
        let known_device = match device {
            Some(secret) => {
                let digest = token_hash(secret);
                let remembered_since = now.checked_sub(DEVICE_LIFETIME).unwrap_or(now);
                let owner_of = self.store.device_owner(digest, remembered_since).await?;
                let owners = owner.as_ref().is_some_and(|o| owner_of.as_deref() == Some(o.id.as_str()));
                owners.then_some(digest)
            }
            None => None,
        };
        let keys = match &known_device {
            Some(digest) => vec![device_key(digest)],
            None => vec![account_key(&email), address_key(address)],
        };
        if let Some(retry_after) = self.store.reserve_sign_in(keys.clone(), now).await? {
            tracing::warn!(%address, "sign-in refused while throttled");
            return Err(SignInError::Throttled { retry_after });
        }
        let phc = owner.as_ref().map(|o| o.password_hash.clone());
        let typed = Zeroizing::new(password.to_owned());
        let verified = match self.hashing.run(move || verify_password(&typed, phc.as_deref())).await {
            Ok(verified) => verified,
            Err(HashingError::Busy(busy)) => {
                tracing::warn!(%address, "sign-in refused: too many password checks at once");
                return Err(busy.into());
            }
            Err(HashingError::Stopped) => return Err(AppError::Poisoned.into()),
        };
        let Some(owner) = owner.filter(|_| verified) else {
            tracing::warn!(%address, "failed sign-in");
            return Err(SignInError::WrongCredentials);
        };
        let (secret, digest) = new_session_secret();
        self.store.start_session(digest, owner.id.clone(), now, keys).await?;
        let new_device = match known_device {
            Some(_) => None,
            None => {
                let device = DeviceToken(Zeroizing::new(format!("kwd_{}", random_hex(32))));
                let forget_before = now.checked_sub(DEVICE_LIFETIME).unwrap_or(now);
                self.store.remember_device(token_hash(&device.0), owner.id.clone(), now, forget_before).await?;
                Some(device)
            }
        };
        tracing::info!(owner = owner.id.as_str(), %address, known_browser = new_device.is_none(), "owner signed in");
        Ok(SignedIn { owner: owner.into(), session: secret, new_device })
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
        if !session_live(session.created_at, session.last_seen, self.clock.now()) {
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

    /// Names the browser and device a new session was signed in from, in
    /// words ("Firefox on Android"); at most 64 characters are kept.
    pub async fn describe_session(&self, secret: &str, device: &str) -> Result<(), AppError> {
        let words: String = device.chars().filter(|c| !c.is_control()).take(64).collect();
        Ok(self.store.describe_session(token_hash(secret), words).await?)
    }

    /// The owner's live sessions, the most recently used first; the one
    /// whose secret is `current` is marked.
    pub async fn sessions(&self, owner: &Owner, current: Option<&str>) -> Result<Vec<SessionView>, AppError> {
        let now = self.clock.now();
        let current = current.map(token_hash);
        let sessions = self.store.sessions_of(owner.id.clone()).await?;
        Ok(sessions
            .into_iter()
            .filter(|s| session_live(s.created_at, s.last_seen, now))
            .map(|s| SessionView {
                id: to_hex(&s.digest),
                created_at: s.created_at,
                last_seen: s.last_seen,
                current: current == Some(s.digest),
                device: s.device,
            })
            .collect())
    }

    /// Ends one of the owner's own sessions by its id; false when the owner
    /// has no such session.
    pub async fn end_session(&self, owner: &Owner, id: &str) -> Result<bool, AppError> {
        let Some(digest) = from_hex(id) else { return Ok(false) };
        let theirs = self.store.sessions_of(owner.id.clone()).await?.iter().any(|s| s.digest == digest);
        if theirs {
            self.store.delete_session(digest).await?;
        }
        Ok(theirs)
    }

    /// Invitations not yet accepted nor expired, the newest first.
    pub async fn pending_invites(&self) -> Result<Vec<PendingInvite>, AppError> {
        let owners = self.store.list_owners().await?;
        let invites = self.store.pending_invites(self.clock.now()).await?;
        Ok(invites
            .into_iter()
            .map(|i| PendingInvite {
                id: to_hex(&i.digest),
                email: i.email,
                invited_by: owners.iter().find(|o| o.id == i.invited_by).map(|o| o.email.clone()).unwrap_or_default(),
                expires_at: i.expires_at,
            })
            .collect())
    }

    /// Withdraws an invitation: its link stops working. False when there was none.
    pub async fn revoke_invite(&self, id: &str) -> Result<bool, AppError> {
        let Some(digest) = from_hex(id) else { return Ok(false) };
        Ok(self.store.revoke_invite(digest).await?)
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
        let hash = self.hash(password).await?;
        let now = self.clock.now();
        let owner = OwnerRecord { id: new_id(), email, password_hash: hash, created_at: now, updated_at: now };
        let (session, digest) = new_session_secret();
        match self.store.accept_invite(token_hash(secret), owner.clone(), digest, now).await {
            Ok(true) => Ok((owner.into(), session)),
            Ok(false) => Err(SetupError::InviteInvalid),
            Err(StoreError::Conflict(keyward_store::Key::OwnerEmail)) => Err(SetupError::OwnerExists),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized() {
        assert_eq!(normalize_email(" Owner@Example.org "), Some("owner@example.org".to_owned()));
        for bad in ["", "owner", "@example.org", "owner@", "owner@example", "a b@example.org", "a@b@c.org"] {
            assert_eq!(normalize_email(bad), None, "{bad}");
        }
    }
}

/// A session as its owner sees it in Settings: known by the hex of its
/// token's digest, which opens nothing.
#[derive(Debug, Clone)]
pub struct SessionView {
    pub id: String,
    pub created_at: Timestamp,
    pub last_seen: Timestamp,
    /// The session of the browser asking.
    pub current: bool,
    /// "Firefox on Android"; empty when not known.
    pub device: String,
}

/// An invitation waiting to be accepted, known by the hex of its digest.
#[derive(Debug, Clone)]
pub struct PendingInvite {
    pub id: String,
    pub email: String,
    /// The email of the owner who invited.
    pub invited_by: String,
    pub expires_at: Timestamp,
}

/// A session lives until it has gone unused for `SESSION_IDLE`, and at most
/// `SESSION_LIFETIME` from its start.
fn session_live(created_at: Timestamp, last_seen: Timestamp, now: Timestamp) -> bool {
    now.duration_since(last_seen) <= SESSION_IDLE && now.duration_since(created_at) <= SESSION_LIFETIME
}

fn to_hex(digest: &Digest) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<Digest> {
    if text.len() != 64 {
        return None;
    }
    let bytes: Option<Vec<u8>> =
        (0..32).map(|i| text.get(2 * i..2 * i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok())).collect();
    bytes?.try_into().ok()
}
