//! Sharing a user's access with the visitor: a one-time link to a page that
//! shows them their name, code, doors and hours. The link is 256 random
//! bits, stored as a digest; it expires, can be revoked, and works in the
//! first browser that opens it only (that browser keeps a random cookie
//! whose digest the link remembers). Making, opening and revoking a link
//! are in the activity log; the code is unsealed only for the visitor.

use std::sync::{Arc, OnceLock};

use jiff::{SignedDuration, Timestamp};
use keyward_core::email::EmailAddress;
use keyward_core::{ActivityKind, Actor, Event, LockAccess, PanelPermissions, ScheduleSpec, UserRef};
use keyward_store::{BoxFuture, ShareRecord, ShareStore, Vault};
use zeroize::Zeroizing;

use crate::AppError;
use crate::clock::Clock;
use crate::recorder::Recorder;
use crate::registry::{HomeState, Registry};
use crate::secrets::{new_id, random_hex, token_hash};

/// How long a link works unless the owner says otherwise.
pub const DEFAULT_DAYS: u32 = 7;
/// The longest a link may work: a visitor's page is not a standing secret.
pub const MAX_DAYS: u32 = 30;

/// Sends the email that carries a link, when the hub has a mail server.
pub trait Mailer: Send + Sync {
    fn send<'a>(&'a self, mail: &'a Mail) -> BoxFuture<'a, Result<(), String>>;
}

/// An email to a visitor. It holds their link (their key to the page), so
/// it is wiped when dropped and never stored.
pub struct Mail {
    pub to: EmailAddress,
    pub subject: String,
    pub text: Zeroizing<String>,
}

/// A link as made: its token is in `path`, shown this once.
pub struct NewShare {
    pub share: ShareView,
    /// `/share/<token>`: the page's path on this hub.
    pub path: Zeroizing<String>,
    /// Where it was emailed, if it was.
    pub emailed_to: Option<EmailAddress>,
}

/// Where a link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareState {
    /// Not opened yet, and still working.
    Waiting,
    /// Opened in a browser, where it keeps working until it expires.
    Opened,
    Expired,
    Revoked,
}

impl ShareState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Opened => "opened",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}

/// A link as the owner sees it: never its token.
#[derive(Debug, Clone)]
pub struct ShareView {
    pub id: String,
    pub user_id: String,
    pub created_by: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub opened_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub state: ShareState,
}

impl ShareView {
    fn of(record: &ShareRecord, now: Timestamp) -> Self {
        let state = if record.revoked_at.is_some() {
            ShareState::Revoked
        } else if now >= record.expires_at {
            ShareState::Expired
        } else if record.opened_at.is_some() {
            ShareState::Opened
        } else {
            ShareState::Waiting
        };
        Self {
            id: record.id.clone(),
            user_id: record.user_id.clone(),
            created_by: record.created_by.clone(),
            created_at: record.created_at,
            expires_at: record.expires_at,
            opened_at: record.opened_at,
            revoked_at: record.revoked_at,
            state,
        }
    }
}

/// What the visitor's page shows: their own access, nobody else's.
pub struct VisitorAccess {
    pub home: String,
    pub name: String,
    pub code: Zeroizing<String>,
    /// The names of the locks the code opens.
    pub doors: Vec<String>,
    pub panel: PanelPermissions,
    pub schedule: ScheduleSpec,
    pub tz: jiff::tz::TimeZone,
    /// The stay's ends as given: instants, or days of the home.
    pub valid_from: Option<keyward_core::Bound>,
    pub valid_until: Option<keyward_core::Bound>,
    pub uses_left: Option<u32>,
    pub enabled: bool,
    /// Until when this page opens.
    pub link_expires_at: Timestamp,
}

/// Why a link shows nothing. The visitor learns only which of these two it
/// is: an unknown, expired or revoked link all read the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ShareRefused {
    #[error("this link does not work (any more): ask for a new one")]
    NotValid,
    #[error("this link was already opened on another device: ask for a new one")]
    OpenedElsewhere,
}

/// The visitor's page, and the cookie that lets their browser open it again.
pub struct Opened {
    pub access: VisitorAccess,
    pub share_id: String,
    /// A new browser cookie, when this open bound the link.
    pub new_browser: Option<Zeroizing<String>>,
    /// How long the cookie is worth keeping: until the link expires.
    pub browser_seconds: i64,
}

#[derive(Clone)]
pub struct Shares {
    registry: Arc<Registry>,
    store: Arc<dyn ShareStore>,
    vault: Arc<Vault>,
    recorder: Arc<Recorder>,
    clock: Arc<dyn Clock>,
    mailer: Arc<OnceLock<Arc<dyn Mailer>>>,
}

impl Shares {
    pub(crate) fn new(
        registry: Arc<Registry>,
        store: Arc<dyn ShareStore>,
        vault: Arc<Vault>,
        recorder: Arc<Recorder>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { registry, store, vault, recorder, clock, mailer: Arc::new(OnceLock::new()) }
    }

    /// Lets links be emailed (the hub has `[smtp]`).
    pub fn set_mailer(&self, mailer: Arc<dyn Mailer>) {
        if self.mailer.set(mailer).is_err() {
            tracing::warn!("the mailer was set twice; the first stays");
        }
    }

    pub fn can_email(&self) -> bool {
        self.mailer.get().is_some()
    }

    /// Makes a link to the user's access, working for `days` (1 to 30),
    /// and emails it to `email` when asked: `base` is the hub's address the
    /// visitor reaches (needed to email). When the email cannot be sent the
    /// link is revoked at once: nothing half-done stays behind.
    pub async fn create(
        &self,
        home_id: &str,
        user_id: &str,
        days: Option<u32>,
        email: Option<(EmailAddress, String)>,
        actor: Actor,
    ) -> Result<NewShare, AppError> {
        let days = days.unwrap_or(DEFAULT_DAYS);
        if !(1..=MAX_DAYS).contains(&days) {
            return Err(AppError::ShareInvalid("a link works for 1 to 30 days"));
        }
        let mailer = match &email {
            Some(_) => Some(self.mailer.get().ok_or(AppError::MailUnavailable)?.clone()),
            None => None,
        };
        let home = self.registry.home(home_id)?;
        let now = self.clock.now();
        let expires_at = now
            .checked_add(SignedDuration::from_hours(24 * i64::from(days)))
            .map_err(|_| AppError::ShareInvalid("a link works for 1 to 30 days"))?;
        // What the link and the email name, read under the home's lock; the
        // lock is not held while the mail server answers (up to 10 s): the
        // home's keypads must not wait on it.
        let (user_ref, home_name, until) = {
            let state = self.recorder.lock(&home).await?;
            let user = state.users.get(user_id).ok_or(AppError::UserNotFound)?;
            let user_ref = UserRef { id: user.user.id.clone(), name: user.user.name.as_str().to_owned() };
            let until = state.home.zone.tz().to_datetime(expires_at).strftime("%Y-%m-%d %H:%M").to_string();
            (user_ref, state.home.name.as_str().to_owned(), until)
        };
        let token = Zeroizing::new(random_hex(32));
        let record = ShareRecord {
            id: new_id(),
            home_id: home_id.to_owned(),
            user_id: user_id.to_owned(),
            digest: token_hash(&token),
            created_by: actor.to_text(),
            created_at: now,
            expires_at,
            revoked_at: None,
            opened_at: None,
            browser: None,
        };
        self.store.insert_share(record.clone()).await?;
        let path = Zeroizing::new(format!("/share/{}", token.as_str()));
        let mut detail = format!("link until {until}");
        if let (Some(mailer), Some((to, base))) = (mailer, &email) {
            let mail = share_mail(to, &home_name, &user_ref.name, &format!("{base}{}", path.as_str()));
            if let Err(error) = mailer.send(&mail).await {
                tracing::warn!(%error, "a shared link could not be emailed; it is revoked");
                self.store.revoke_share(user_id.to_owned(), record.id.clone(), now).await?;
                return Err(AppError::MailFailed(error));
            }
            detail.push_str(&format!(", emailed to {}", to.as_str()));
        }
        let state = self.recorder.lock(&home).await?;
        self.audit(&state, ActivityKind::CodeShared, user_ref, Some(actor), detail).await?;
        Ok(NewShare { share: ShareView::of(&record, now), path, emailed_to: email.map(|(to, _)| to) })
    }

    /// A user's links, newest first.
    pub async fn list(&self, home_id: &str, user_id: &str) -> Result<Vec<ShareView>, AppError> {
        self.user_ref(home_id, user_id).await?;
        let now = self.clock.now();
        Ok(self.store.shares_of(user_id.to_owned()).await?.iter().map(|r| ShareView::of(r, now)).collect())
    }

    /// Revokes a link: it shows nothing from now on, even where it was opened.
    pub async fn revoke(&self, home_id: &str, user_id: &str, share_id: &str, actor: Actor) -> Result<(), AppError> {
        let home = self.registry.home(home_id)?;
        let state = self.recorder.lock(&home).await?;
        let user = state.users.get(user_id).ok_or(AppError::UserNotFound)?;
        let user_ref = UserRef { id: user.user.id.clone(), name: user.user.name.as_str().to_owned() };
        let now = self.clock.now();
        if !self.store.revoke_share(user_id.to_owned(), share_id.to_owned(), now).await? {
            return Err(AppError::ShareNotFound);
        }
        self.audit(&state, ActivityKind::ShareRevoked, user_ref, Some(actor), format!("link {share_id}")).await
    }

    /// Opens a link for a visitor. The first browser to open it is given a
    /// cookie (`new_browser`) and is the only one it works in after.
    pub async fn open(
        &self,
        token: &str,
        browser: impl Fn(&str) -> Option<String>,
    ) -> Result<Result<Opened, ShareRefused>, AppError> {
        // Only a token's own form is looked up: anything else is not a link.
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(Err(ShareRefused::NotValid));
        }
        let Some(share) = self.store.share_by_digest(token_hash(token)).await? else {
            return Ok(Err(ShareRefused::NotValid));
        };
        let now = self.clock.now();
        if share.revoked_at.is_some() || now >= share.expires_at {
            return Ok(Err(ShareRefused::NotValid));
        }
        let Ok(home) = self.registry.home(&share.home_id) else { return Ok(Err(ShareRefused::NotValid)) };
        let state = self.recorder.lock(&home).await?;
        let Some(user) = state.users.get(&share.user_id) else { return Ok(Err(ShareRefused::NotValid)) };
        let presented = browser(&share.id).map(|cookie| token_hash(&cookie));
        let new_browser = match share.browser {
            Some(bound) if presented == Some(bound) => None,
            Some(_) => return Ok(Err(ShareRefused::OpenedElsewhere)),
            None => {
                let cookie = Zeroizing::new(random_hex(32));
                if !self.store.bind_share(share.id.clone(), token_hash(&cookie), now).await? {
                    // Another browser opened it a moment before this one.
                    return Ok(Err(ShareRefused::OpenedElsewhere));
                }
                let user_ref = UserRef { id: user.user.id.clone(), name: user.user.name.as_str().to_owned() };
                self.audit(&state, ActivityKind::ShareOpened, user_ref, None, format!("link {}", share.id)).await?;
                Some(cookie)
            }
        };
        let code =
            self.vault.unseal(&share.home_id, &share.user_id, &user.code.sealed).map_err(|_| AppError::CodeDamaged)?;
        let browser_seconds = (share.expires_at.as_second() - now.as_second()).max(0);
        let access = visitor_access(&state, user, code, share.expires_at);
        Ok(Ok(Opened { access, share_id: share.id, new_browser, browser_seconds }))
    }

    async fn user_ref(&self, home_id: &str, user_id: &str) -> Result<UserRef, AppError> {
        let home = self.registry.home(home_id)?;
        let state = home.lock().await;
        let user = state.users.get(user_id).ok_or(AppError::UserNotFound)?;
        Ok(UserRef { id: user.user.id.clone(), name: user.user.name.as_str().to_owned() })
    }

    async fn audit(
        &self,
        state: &HomeState,
        kind: ActivityKind,
        user: UserRef,
        actor: Option<Actor>,
        detail: String,
    ) -> Result<(), AppError> {
        let now = self.clock.now();
        let event = Event { user: Some(user), actor, detail: Some(detail), ..Event::bare(kind, now) };
        self.recorder.record_event(state, event, now).await?;
        Ok(())
    }
}

fn visitor_access(
    state: &HomeState,
    user: &keyward_store::UserRecord,
    code: Zeroizing<String>,
    link_expires_at: Timestamp,
) -> VisitorAccess {
    let u = &user.user;
    let mut doors: Vec<String> = state
        .locks
        .values()
        .filter(|lock| match &u.locks {
            LockAccess::All => true,
            LockAccess::Only(ids) => ids.contains(&lock.id),
        })
        .map(|lock| lock.name.as_str().to_owned())
        .collect();
    doors.sort();
    VisitorAccess {
        home: state.home.name.as_str().to_owned(),
        name: u.name.as_str().to_owned(),
        code,
        doors,
        panel: u.panel,
        schedule: u.schedule.to_spec(),
        tz: state.home.zone.tz().clone(),
        valid_from: u.validity.from(),
        valid_until: u.validity.until(),
        uses_left: u.validity.max_uses().map(|max| max.saturating_sub(u.uses)),
        enabled: u.enabled,
        link_expires_at,
    }
}

/// The email that carries a link, in words for the visitor.
fn share_mail(to: &EmailAddress, home: &str, name: &str, url: &str) -> Mail {
    let text = format!(
        "Hello {name},\n\n\
         you have been given access to {home}. Open this link to see your code, the doors it opens and when it works:\n\n\
         {url}\n\n\
         The link works in one browser only: open it on the phone you will have with you. \
         Keep this email to yourself; anyone with the link could see your code until you open it.\n\n\
         Sent by keyward for {home}.\n"
    );
    Mail { to: to.clone(), subject: format!("Your access to {home}"), text: Zeroizing::new(text) }
}
