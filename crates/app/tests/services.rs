//! The application layer against a real SQLite store, with time moved by a
//! test clock instead of waited for.

use std::path::PathBuf;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use keyward_app::owners::{SESSION_IDLE, SetupError, SignInError};
use keyward_app::{App, Clock, ManualClock, Owners, Tokens};
use keyward_core::{Scope, ZoneName};
use keyward_store::{KEY_FILE, Store, Vault};

struct Hub {
    _dir: tempfile::TempDir,
    path: PathBuf,
    app: App,
    clock: Arc<ManualClock>,
    setup_code: String,
}

const PASSWORD: &str = "tangerine kite 42";

fn start_time() -> Timestamp {
    "2026-11-26T10:00:00Z".parse().expect("instant")
}

async fn start() -> Hub {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_owned();
    let opened = keyward_store_sqlite::open(&path.join("keyward.db"), true).expect("open");
    // The writer thread lives as long as the store; nothing waits for it.
    let store: Arc<dyn Store> = Arc::new(opened.store);
    let vault = Vault::open(store.as_ref(), &path.join(KEY_FILE), true).await.expect("key");
    let clock = Arc::new(ManualClock::new(start_time()));
    let owners = Owners::new(store.clone(), clock.clone());
    let setup_code = owners.new_setup_code().await.expect("code").expect("no owner yet");
    let app = App::start(store, Arc::new(vault), clock.clone(), &ZoneName::utc()).await.expect("start");
    Hub { _dir: dir, path, app, clock, setup_code }
}

/// A second store on the same database, as the CLI opens it beside a running hub.
fn beside(hub: &Hub) -> Arc<dyn Store> {
    Arc::new(keyward_store_sqlite::open(&hub.path.join("keyward.db"), false).expect("open beside").store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_owner_needs_the_setup_code_and_only_once() {
    let s = start().await;
    let owners = &s.app.owners;
    assert!(owners.needs_setup().await.expect("query"));
    let wrong = owners.set_up("AAAA-BBBB-CCCC", "owner@example.org", PASSWORD).await;
    assert!(matches!(wrong, Err(SetupError::WrongSetupCode)));
    let weak = owners.set_up(&s.setup_code, "owner@example.org", "password123").await;
    assert!(matches!(weak, Err(SetupError::Password(_))));
    let bad_email = owners.set_up(&s.setup_code, "owner", PASSWORD).await;
    assert!(matches!(bad_email, Err(SetupError::Email)));
    let (owner, session) =
        owners.set_up(&s.setup_code.to_lowercase(), " Owner@Example.org", PASSWORD).await.expect("set up");
    assert_eq!(owner.email, "owner@example.org");
    assert_eq!(owners.session_owner(&session.0).await.expect("query"), Some(owner));
    assert!(!owners.needs_setup().await.expect("query"));
    let again = owners.set_up(&s.setup_code, "other@example.org", PASSWORD).await;
    assert!(matches!(again, Err(SetupError::AlreadySetUp)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_throttles_after_five_failures_and_the_wait_passes_with_the_clock() {
    let s = start().await;
    let owners = &s.app.owners;
    owners.set_up(&s.setup_code, "owner@example.org", PASSWORD).await.expect("set up");
    let (owner, first) = owners.sign_in("OWNER@example.org", PASSWORD, "192.0.2.1").await.expect("signed in");
    for _ in 0..5 {
        let refused = owners.sign_in("owner@example.org", "wrong password!", "192.0.2.1").await;
        assert!(matches!(refused, Err(SignInError::WrongCredentials)));
    }
    // The sixth attempt waits, even with the right password, from another address.
    let throttled = owners.sign_in("owner@example.org", PASSWORD, "192.0.2.9").await;
    assert!(matches!(throttled, Err(SignInError::Throttled { retry_after: 1 })), "{throttled:?}");
    // An unknown account is refused the same way as a wrong password.
    let unknown = owners.sign_in("nobody@example.org", PASSWORD, "192.0.2.2").await;
    assert!(matches!(unknown, Err(SignInError::WrongCredentials)));
    s.clock.advance(SignedDuration::from_millis(999));
    assert!(matches!(
        owners.sign_in("owner@example.org", PASSWORD, "192.0.2.3").await,
        Err(SignInError::Throttled { retry_after: 1 })
    ));
    s.clock.advance(SignedDuration::from_millis(1));
    let (_, second) = owners.sign_in("owner@example.org", PASSWORD, "192.0.2.3").await.expect("after the wait");

    owners.sign_out(&first.0).await.expect("sign out");
    assert_eq!(owners.session_owner(&first.0).await.expect("query"), None);
    assert!(owners.session_owner(&second.0).await.expect("query").is_some());
    // The session made at setup, and the second sign-in.
    assert_eq!(owners.sign_out_everywhere(&owner.id).await.expect("everywhere"), 2);
    assert_eq!(owners.session_owner(&second.0).await.expect("query"), None);
    assert_eq!(owners.session_owner("kws_not-a-session").await.expect("query"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_after_twelve_idle_hours_and_after_thirty_days() {
    let s = start().await;
    let owners = &s.app.owners;
    let (_, session) = owners.set_up(&s.setup_code, "owner@example.org", PASSWORD).await.expect("set up");
    // Used every 11 hours, a session lives on, up to 715 hours…
    for _ in 0..65 {
        s.clock.advance(SignedDuration::from_hours(11));
        assert!(owners.session_owner(&session.0).await.expect("query").is_some());
    }
    // …but not past 30 days (720 h), though it was used 11 hours ago.
    s.clock.advance(SignedDuration::from_hours(11));
    assert_eq!(owners.session_owner(&session.0).await.expect("query"), None, "30 days is the most");

    let (_, idle) = owners.sign_in("owner@example.org", PASSWORD, "192.0.2.1").await.expect("signed in");
    s.clock.advance(SESSION_IDLE);
    assert!(owners.session_owner(&idle.0).await.expect("query").is_some(), "exactly 12 h idle still counts");
    s.clock.advance(SESSION_IDLE);
    s.clock.advance(SignedDuration::from_secs(1));
    assert_eq!(owners.session_owner(&idle.0).await.expect("query"), None, "over 12 h idle ends it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_work_once_and_for_seven_days() {
    let s = start().await;
    let owners = &s.app.owners;
    let (anna, _) = owners.set_up(&s.setup_code, "anna@example.org", PASSWORD).await.expect("set up");
    let link = owners.invite(&anna, "ben@example.org").await.expect("invite");
    s.clock.advance(SignedDuration::from_hours(7 * 24 - 1));
    assert_eq!(owners.invitation(&link).await.expect("query").as_deref(), Some("ben@example.org"));
    let (ben, _) = owners.accept_invitation(&link, "lantern orchard 7").await.expect("accepted");
    assert_eq!(ben.email, "ben@example.org");
    assert!(matches!(owners.accept_invitation(&link, "lantern orchard 7").await, Err(SetupError::InviteInvalid)));

    let late = owners.invite(&anna, "cleo@example.org").await.expect("invite");
    s.clock.advance(SignedDuration::from_hours(7 * 24));
    assert_eq!(owners.invitation(&late).await.expect("query"), None, "expired after 7 days");
    assert!(matches!(owners.accept_invitation(&late, "lantern orchard 7").await, Err(SetupError::InviteInvalid)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_password_beside_the_hub_ends_sessions() {
    let s = start().await;
    let (_, session) = s.app.owners.set_up(&s.setup_code, "owner@example.org", PASSWORD).await.expect("set up");
    let cli = Owners::new(beside(&s), s.clock.clone());
    assert!(cli.reset_password("owner@example.org", "short").await.is_err());
    assert!(cli.reset_password("nobody@example.org", "lantern orchard 7").await.is_err());
    cli.reset_password("owner@example.org", "lantern orchard 7").await.expect("reset");
    assert_eq!(s.app.owners.session_owner(&session.0).await.expect("query"), None);
    assert!(s.app.owners.sign_in("owner@example.org", PASSWORD, "192.0.2.1").await.is_err());
    s.app.owners.sign_in("owner@example.org", "lantern orchard 7", "192.0.2.1").await.expect("new password");
    assert_eq!(cli.new_setup_code().await.expect("query"), None, "no setup code once an owner exists");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_beside_the_hub_stops_working_within_two_seconds() {
    let s = start().await;
    let (token, secret) = s.app.tokens.create("ha", Scope::Read, None).await.expect("created");
    assert_eq!(s.app.tokens.authenticate(&secret).await.expect("query").map(|t| t.scope), Some(Scope::Read));
    let cli = Tokens::new(beside(&s), beside(&s), s.clock.clone());
    cli.revoke(&token.id).await.expect("revoked");
    s.clock.advance(SignedDuration::from_millis(1999));
    assert!(s.app.tokens.authenticate(&secret).await.expect("query").is_some(), "trusted from the cache");
    s.clock.advance(SignedDuration::from_millis(1));
    assert_eq!(s.app.tokens.authenticate(&secret).await.expect("query"), None, "checked again after 2 s");
    assert!(cli.create("x", Scope::Device, Some("no-such-home")).await.is_err());
    assert_eq!(s.clock.now(), start_time().checked_add(SignedDuration::from_secs(2)).expect("in range"));
}
