//! Sign-in under attack, over real HTTP: floods of parallel attempts stay
//! small and are throttled before any password is checked, forwarded
//! addresses count only from trusted proxies, and the owner's own browser
//! gets in while strangers are throttled.

use tokio::task::JoinSet;

use crate::support::*;
use crate::ui::Browser;

const PASSWORD: &str = "tangerine kite 42";
const OWNER: &str = "o@example.org";

/// The server's owner, set up, and a browser holding a CSRF cookie and token.
async fn set_up(server: &Server) -> (String, String) {
    let mut browser = Browser::new(server);
    let csrf = browser.get("/setup").await.csrf();
    let code = server.setup_code();
    let done = browser
        .post("/setup", &[("csrf", &csrf), ("setup_code", &code), ("email", OWNER), ("password", PASSWORD)])
        .await;
    assert_eq!(done.location(), "/users");
    let csrf_cookie = browser.cookies.get("kw_csrf").expect("a CSRF cookie").clone();
    let csrf = browser.get("/settings").await.csrf();
    (csrf_cookie, csrf)
}

/// Sends sign-ins at once, each `(email, forwarded address)`; returns their statuses.
async fn sign_in_at_once(server: &Server, csrf: &(String, String), attempts: Vec<(String, String)>) -> Vec<u16> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let mut sent = JoinSet::new();
    for (email, address) in attempts {
        let request = client
            .post(format!("{}/login", server.base))
            .header("Cookie", format!("kw_csrf={}", csrf.0))
            .header("X-Forwarded-For", address)
            .form(&[("csrf", csrf.1.as_str()), ("email", &email), ("password", "not the password")]);
        sent.spawn(async move { request.send().await.map(|r| r.status().as_u16()).unwrap_or(0) });
    }
    sent.join_all().await
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

async fn parallel_sign_ins_stay_small_and_cannot_outrun_the_throttle(backend: Backend) {
    let place = Place::new(backend);
    let server = place.start_with(&["--trusted-proxy", "127.0.0.1"], &[]);
    let csrf = set_up(&server).await;

    // 24 guesses at the owner's password at once, from 24 addresses: the
    // account allows five, and only five passwords are checked.
    let guesses = (0..24).map(|i| (OWNER.to_owned(), format!("198.51.100.{i}"))).collect();
    let statuses = sign_in_at_once(&server, &csrf, guesses).await;
    assert_eq!((count(&statuses, 401), count(&statuses, 429)), (5, 19), "{statuses:?}");

    // 160 sign-ins at once, each a new account from a new address, so no
    // throttle stops them: the hashes in flight are bounded, the rest wait
    // briefly or are told to come back, and memory stays small.
    let flood = (0..160).map(|i| (format!("guess{i}@example.org"), format!("203.0.113.{i}"))).collect();
    let statuses = sign_in_at_once(&server, &csrf, flood).await;
    assert_eq!(count(&statuses, 401) + count(&statuses, 503), 160, "{statuses:?}");
    let peak = server.peak_memory_mib();
    assert!(peak < 100, "the hub peaked at {peak} MiB");
    assert!(server.output().contains("too many password checks at once"), "busy refusals are logged");

    // The owner still gets in.
    let mut owner = Browser::new(&server);
    let csrf = owner.get("/login").await.csrf();
    let request = owner.client.post(format!("{}/login", server.base)).header("X-Forwarded-For", "192.0.2.44").form(&[
        ("csrf", csrf.as_str()),
        ("email", OWNER),
        ("password", PASSWORD),
    ]);
    // The account's five failures wait a second at most.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(owner.go(request).await.location(), "/users");
}

async fn forwarded_addresses_count_only_from_trusted_proxies(backend: Backend) {
    // Without a trusted proxy, a client's X-Forwarded-For is ignored: six
    // different accounts "from" six addresses are one address, throttled.
    let place = Place::new(backend);
    let server = place.start();
    let csrf = set_up(&server).await;
    for i in 0..6 {
        let attempt = vec![(format!("nobody{i}@example.org"), format!("198.51.100.{i}"))];
        let status = sign_in_at_once(&server, &csrf, attempt).await;
        assert_eq!(status, [if i < 5 { 401 } else { 429 }], "attempt {i}");
    }

    // Behind a trusted proxy, the forwarded address is the client's: each
    // address has its own count, and one address is throttled on its own.
    let place = Place::new(backend);
    let server = place.start_with(&["--trusted-proxy", "127.0.0.0/8"], &[]);
    let csrf = set_up(&server).await;
    for i in 0..6 {
        let attempt = vec![(format!("nobody{i}@example.org"), format!("198.51.100.{i}"))];
        assert_eq!(sign_in_at_once(&server, &csrf, attempt).await, [401], "attempt {i}");
    }
    for i in 0..6 {
        let attempt = vec![(format!("other{i}@example.org"), "192.0.2.9".to_owned())];
        let status = sign_in_at_once(&server, &csrf, attempt).await;
        assert_eq!(status, [if i < 5 { 401 } else { 429 }], "attempt {i} from one address");
    }
}

async fn the_owner_gets_in_from_a_known_browser_while_strangers_are_throttled(backend: Backend) {
    let place = Place::new(backend);
    let server = place.start();
    set_up(&server).await;
    let mut owner = Browser::new(&server);
    let csrf = owner.get("/login").await.csrf();
    let first = owner.post("/login", &[("csrf", &csrf), ("email", OWNER), ("password", PASSWORD)]).await;
    assert_eq!(first.location(), "/users");
    let device = first
        .headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("kw_device="))
        .expect("a device cookie")
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/login", "Max-Age=31536000"] {
        assert!(device.contains(attribute), "{device}");
    }
    let page = owner.get("/users").await;
    owner.post("/logout", &[("csrf", &page.csrf())]).await;

    // A stranger throttles the account with wrong guesses (from the same
    // address, as everyone behind one proxy or router would be).
    let mut stranger = Browser::new(&server);
    let csrf = stranger.get("/login").await.csrf();
    for _ in 0..6 {
        stranger.post("/login", &[("csrf", &csrf), ("email", OWNER), ("password", "not the password")]).await;
    }
    let refused = stranger.post("/login", &[("csrf", &csrf), ("email", OWNER), ("password", PASSWORD)]).await;
    assert_eq!(refused.status, 429, "even the right password waits from an unknown browser");
    assert!(refused.headers.contains_key(reqwest::header::RETRY_AFTER));

    // The owner's browser is known and gets in.
    let csrf = owner.get("/login").await.csrf();
    let back = owner.post("/login", &[("csrf", &csrf), ("email", OWNER), ("password", PASSWORD)]).await;
    assert_eq!(back.location(), "/users", "{}", back.body);
}

on_both_backends!(
    parallel_sign_ins_stay_small_and_cannot_outrun_the_throttle,
    forwarded_addresses_count_only_from_trusted_proxies,
    the_owner_gets_in_from_a_known_browser_while_strangers_are_throttled,
);
