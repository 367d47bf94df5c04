//! The application layer against a real SQLite store, with time moved by a
//! test clock instead of waited for.

use std::path::PathBuf;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use keyward_app::owners::{SESSION_IDLE, SetupError, SignInAttempt, SignInError, SignedIn};
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

fn attempt<'a>(email: &'a str, password: &'a str, address: &str) -> SignInAttempt<'a> {
    SignInAttempt { email, password, address: address.parse().expect("an address"), device: None }
}

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
    let app =
        App::start(store, Arc::new(vault), clock.clone(), &ZoneName::utc(), Default::default()).await.expect("start");
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
    let SignedIn { owner, session: first, .. } =
        owners.sign_in(attempt("OWNER@example.org", PASSWORD, "192.0.2.1")).await.expect("signed in");
    for _ in 0..5 {
        let refused = owners.sign_in(attempt("owner@example.org", "wrong password!", "192.0.2.1")).await;
        assert!(matches!(refused, Err(SignInError::WrongCredentials)));
    }
    // The sixth attempt waits, even with the right password, from another address.
    let throttled = owners.sign_in(attempt("owner@example.org", PASSWORD, "192.0.2.9")).await;
    assert!(matches!(throttled, Err(SignInError::Throttled { retry_after: 1 })), "{throttled:?}");
    // An unknown account is refused the same way as a wrong password.
    let unknown = owners.sign_in(attempt("nobody@example.org", PASSWORD, "192.0.2.2")).await;
    assert!(matches!(unknown, Err(SignInError::WrongCredentials)));
    s.clock.advance(SignedDuration::from_millis(999));
    assert!(matches!(
        owners.sign_in(attempt("owner@example.org", PASSWORD, "192.0.2.3")).await,
        Err(SignInError::Throttled { retry_after: 1 })
    ));
    s.clock.advance(SignedDuration::from_millis(1));
    let second =
        owners.sign_in(attempt("owner@example.org", PASSWORD, "192.0.2.3")).await.expect("after the wait").session;

    owners.sign_out(&first.0).await.expect("sign out");
    assert_eq!(owners.session_owner(&first.0).await.expect("query"), None);
    assert!(owners.session_owner(&second.0).await.expect("query").is_some());
    // The session made at setup, and the second sign-in.
    assert_eq!(owners.sign_out_everywhere(&owner.id).await.expect("everywhere"), 2);
    assert_eq!(owners.session_owner(&second.0).await.expect("query"), None);
    assert_eq!(owners.session_owner("kws_not-a-session").await.expect("query"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_wrong_sign_ins_check_no_more_passwords_than_the_throttle_allows() {
    let s = start().await;
    let owners = &s.app.owners;
    owners.set_up(&s.setup_code, "owner@example.org", PASSWORD).await.expect("set up");
    // 24 guesses at once, all within the same instant: five are checked.
    let guesses: Vec<_> = (0..24)
        .map(|i| {
            let address = format!("192.0.2.{}", 10 + i);
            async move { owners.sign_in(attempt("owner@example.org", "wrong password!", &address)).await }
        })
        .collect();
    let mut checked = 0;
    let mut throttled = 0;
    for guess in futures_join(guesses).await {
        match guess {
            Err(SignInError::WrongCredentials) => checked += 1,
            Err(SignInError::Throttled { .. }) => throttled += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((checked, throttled), (5, 19));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_browser_lets_the_owner_in_while_others_are_throttled() {
    let s = start().await;
    let owners = &s.app.owners;
    let (anna, _) = owners.set_up(&s.setup_code, "owner@example.org", PASSWORD).await.expect("set up");
    let first = owners.sign_in(attempt("owner@example.org", PASSWORD, "192.0.2.1")).await.expect("signed in");
    let device = first.new_device.expect("a new browser is remembered");
    let known = |password| SignInAttempt {
        device: Some(device.0.as_str()),
        ..attempt("owner@example.org", password, "192.0.2.1")
    };
    // Someone else fails enough to throttle the account for minutes.
    for i in 0..9 {
        let _ = owners.sign_in(attempt("owner@example.org", "wrong password!", &format!("198.51.100.{i}"))).await;
    }
    let stranger = owners.sign_in(attempt("owner@example.org", PASSWORD, "192.0.2.1")).await;
    assert!(matches!(stranger, Err(SignInError::Throttled { .. })), "{stranger:?}");
    // The owner's own browser still gets in, and is not given a new cookie.
    let again = owners.sign_in(known(PASSWORD)).await.expect("a known browser is not throttled by others");
    assert!(again.new_device.is_none());
    // The browser's own failures throttle it alone.
    for _ in 0..5 {
        assert!(matches!(owners.sign_in(known("wrong password!")).await, Err(SignInError::WrongCredentials)));
    }
    assert!(matches!(owners.sign_in(known(PASSWORD)).await, Err(SignInError::Throttled { retry_after: 1 })));
    // Another owner's browser, or a made-up cookie, is no known browser.
    let link = owners.invite(&anna, "ben@example.org").await.expect("invite");
    owners.accept_invitation(&link, "lantern orchard 7").await.expect("accepted");
    let borrowed = SignInAttempt {
        device: Some(device.0.as_str()),
        ..attempt("ben@example.org", "lantern orchard 7", "192.0.2.7")
    };
    let ben = owners.sign_in(borrowed).await.expect("ben signs in");
    assert!(ben.new_device.is_some(), "anna's browser is not known as ben's");
    let made_up = SignInAttempt { device: Some("kwd_made-up"), ..attempt("owner@example.org", PASSWORD, "192.0.2.8") };
    assert!(
        matches!(owners.sign_in(made_up).await, Err(SignInError::Throttled { .. })),
        "still the account's throttle"
    );
    // A day later, the failures are forgotten.
    s.clock.advance(SignedDuration::from_hours(24));
    owners.sign_in(attempt("owner@example.org", PASSWORD, "192.0.2.1")).await.expect("forgotten after a day");
}

/// Runs futures concurrently on this task and collects their outputs in order.
async fn futures_join<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    outputs.into_iter().flatten().collect()
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

    let idle = owners.sign_in(attempt("owner@example.org", PASSWORD, "192.0.2.1")).await.expect("signed in").session;
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
    assert!(s.app.owners.sign_in(attempt("owner@example.org", PASSWORD, "192.0.2.1")).await.is_err());
    s.app.owners.sign_in(attempt("owner@example.org", "lantern orchard 7", "192.0.2.1")).await.expect("new password");
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
