//! Owner setup, sign-in, throttling and sessions against a real SQLite store.

use keyward_app::Hub;
use keyward_app::owners::{self, SetupError, SignInError};
use keyward_core::ZoneName;
use keyward_store::Db;

struct Setup {
    _dir: tempfile::TempDir,
    hub: Hub,
    code: String,
    path: std::path::PathBuf,
}

fn start() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let opened = Db::open(dir.path()).expect("open");
    let code = owners::new_setup_code(&opened.connection).expect("code").expect("no owner yet");
    let (hub, _writer) = Hub::start(opened, &ZoneName::utc()).expect("start");
    Setup { path: dir.path().to_owned(), _dir: dir, hub, code }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_owner_needs_the_setup_code_and_only_once() {
    let s = start();
    assert!(s.hub.needs_setup().await.expect("query"));
    let wrong = s.hub.set_up_owner("AAAA-BBBB-CCCC", "owner@example.org", "tangerine kite 42").await;
    assert!(matches!(wrong, Err(SetupError::WrongSetupCode)));
    let weak = s.hub.set_up_owner(&s.code, "owner@example.org", "password123").await;
    assert!(matches!(weak, Err(SetupError::Password(_))));
    let bad_email = s.hub.set_up_owner(&s.code, "owner", "tangerine kite 42").await;
    assert!(matches!(bad_email, Err(SetupError::Email)));
    let (owner, session) =
        s.hub.set_up_owner(&s.code.to_lowercase(), " Owner@Example.org", "tangerine kite 42").await.expect("set up");
    assert_eq!(owner.email, "owner@example.org");
    assert_eq!(s.hub.session_owner(&session.0).await.expect("query"), Some(owner));
    assert!(!s.hub.needs_setup().await.expect("query"));
    let again = s.hub.set_up_owner(&s.code, "other@example.org", "tangerine kite 42").await;
    assert!(matches!(again, Err(SetupError::AlreadySetUp)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_throttles_after_five_failures_and_sessions_end() {
    let s = start();
    s.hub.set_up_owner(&s.code, "owner@example.org", "tangerine kite 42").await.expect("set up");
    let (owner, first) = s.hub.sign_in("OWNER@example.org", "tangerine kite 42", "192.0.2.1").await.expect("signed in");
    for _ in 0..5 {
        let refused = s.hub.sign_in("owner@example.org", "wrong password!", "192.0.2.1").await;
        assert!(matches!(refused, Err(SignInError::WrongCredentials)));
    }
    // The sixth attempt waits, even with the right password.
    let throttled = s.hub.sign_in("owner@example.org", "tangerine kite 42", "192.0.2.9").await;
    assert!(matches!(throttled, Err(SignInError::Throttled { retry_after: 1 })), "{throttled:?}");
    // An unknown account is refused the same way as a wrong password.
    let unknown = s.hub.sign_in("nobody@example.org", "tangerine kite 42", "192.0.2.2").await;
    assert!(matches!(unknown, Err(SignInError::WrongCredentials)));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (_, second) =
        s.hub.sign_in("owner@example.org", "tangerine kite 42", "192.0.2.3").await.expect("after the wait");

    s.hub.sign_out(&first.0).await.expect("sign out");
    assert_eq!(s.hub.session_owner(&first.0).await.expect("query"), None);
    assert!(s.hub.session_owner(&second.0).await.expect("query").is_some());
    // The session made at setup, and the second sign-in.
    assert_eq!(s.hub.sign_out_everywhere(&owner.id).await.expect("everywhere"), 2);
    assert_eq!(s.hub.session_owner(&second.0).await.expect("query"), None);
    assert_eq!(s.hub.session_owner("kws_not-a-session").await.expect("query"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_password_from_the_cli_ends_sessions() {
    let s = start();
    let (_, session) = s.hub.set_up_owner(&s.code, "owner@example.org", "tangerine kite 42").await.expect("set up");
    let opened = Db::open(&s.path).expect("second connection, as the CLI");
    assert!(owners::reset_password(&opened.connection, "owner@example.org", "short").is_err());
    assert!(owners::reset_password(&opened.connection, "nobody@example.org", "lantern orchard 7").is_err());
    owners::reset_password(&opened.connection, "owner@example.org", "lantern orchard 7").expect("reset");
    assert_eq!(s.hub.session_owner(&session.0).await.expect("query"), None);
    assert!(s.hub.sign_in("owner@example.org", "tangerine kite 42", "192.0.2.1").await.is_err());
    s.hub.sign_in("owner@example.org", "lantern orchard 7", "192.0.2.1").await.expect("new password");
    assert_eq!(owners::new_setup_code(&opened.connection).expect("query"), None, "no setup code once an owner exists");
}
