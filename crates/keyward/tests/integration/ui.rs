//! The owner's web pages over real HTTP: first run, sign-in, CSRF, throttling,
//! escaping and security headers. (Browser tests come with the rest of the UI.)

use crate::support::*;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::json;

/// A browser stand-in: keeps cookies by hand, never follows redirects.
pub(crate) struct Browser {
    pub(crate) client: reqwest::Client,
    pub(crate) base: String,
    pub(crate) cookies: std::collections::BTreeMap<String, String>,
}

pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Page {
    pub(crate) fn location(&self) -> &str {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    pub(crate) fn csrf(&self) -> String {
        let at = self.body.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
        self.body[at..at + 64].to_owned()
    }
}

impl Browser {
    pub(crate) fn new(server: &Server) -> Self {
        let client = reqwest::Client::builder().redirect(Policy::none()).build().expect("client");
        Self { client, base: server.base.clone(), cookies: Default::default() }
    }

    pub(crate) async fn go(&mut self, request: reqwest::RequestBuilder) -> Page {
        let cookie: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let response = request.header("Cookie", cookie.join("; ")).send().await.expect("answer");
        for set in response.headers().get_all(SET_COOKIE) {
            let text = set.to_str().expect("ascii");
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').expect("name=value");
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        Page { status, headers, body: response.text().await.expect("body") }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        let request = self.client.get(format!("{}{path}", self.base));
        self.go(request).await
    }

    /// A form POST, with the `Origin` a browser sends with one.
    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let request = self.client.post(format!("{}{path}", self.base)).header("Origin", &self.base).form(form);
        self.go(request).await
    }
}

fn setup_code(server: &Server) -> String {
    server.setup_code()
}

const PASSWORD: &str = "tangerine kite 42";

async fn first_run_setup_sign_in_and_out(backend: Backend) {
    let place = Place::new(backend);
    let server = place.start();
    let mut browser = Browser::new(&server);
    assert_eq!(browser.get("/").await.location(), "/setup");
    assert_eq!(browser.get("/users").await.location(), "/setup", "every page leads to setup");
    assert_eq!(browser.get("/login").await.location(), "/setup");
    let setup = browser.get("/setup").await;
    assert_eq!(setup.status, 200);
    for (header, value) in
        [("x-content-type-options", "nosniff"), ("referrer-policy", "same-origin"), ("x-frame-options", "DENY")]
    {
        assert_eq!(setup.headers.get(header).and_then(|v| v.to_str().ok()), Some(value), "{header}");
    }
    let csp = setup.headers.get("content-security-policy").and_then(|v| v.to_str().ok()).expect("csp");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline")
    );
    assert!(setup.body.contains("<label for=\"setup_code\">"), "labelled inputs");
    let code = setup_code(&server);
    let csrf = setup.csrf();

    // Without a valid CSRF token nothing happens.
    let forged =
        browser.post("/setup", &[("setup_code", &code), ("email", "o@example.org"), ("password", PASSWORD)]).await;
    assert_eq!(forged.status, 403);
    assert_eq!(browser.get("/setup").await.status, 200, "no owner was created");
    let wrong = browser
        .post(
            "/setup",
            &[("csrf", &csrf), ("setup_code", "AAAA-BBBB-CCCC"), ("email", "o@example.org"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(wrong.status, 422);
    assert!(wrong.body.contains("setup code"), "{}", wrong.body);
    assert!(wrong.body.contains("value=\"o@example.org\""), "the form keeps what was typed");
    assert!(!wrong.body.contains(PASSWORD), "but never the password");
    let weak = browser
        .post(
            "/setup",
            &[("csrf", &csrf), ("setup_code", &code), ("email", "o@example.org"), ("password", "password123")],
        )
        .await;
    assert!(weak.status == 422 && weak.body.contains("too common"));

    let done = browser
        .post("/setup", &[("csrf", &csrf), ("setup_code", &code), ("email", "o@example.org"), ("password", PASSWORD)])
        .await;
    assert_eq!((done.status, done.location()), (303, "/users"));
    let session = browser.cookies.get("kw_session").cloned().expect("a session cookie");
    let set = done
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("kw_session"))
        .expect("cookie");
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax"), "{set}");
    let users = browser.get("/users").await;
    assert_eq!(users.status, 200);
    assert!(users.body.contains("o@example.org"));
    assert_eq!(browser.get("/setup").await.location(), "/login", "setup is gone once an owner exists");

    // Sign out needs the CSRF token too, and ends the session server-side.
    let csrf = users.csrf();
    assert_eq!(browser.post("/logout", &[]).await.status, 403);
    assert_eq!(browser.get("/users").await.status, 200, "still signed in");
    let out = browser.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.location(), "/login");
    assert_eq!(browser.get("/users").await.location(), "/login");
    browser.cookies.insert("kw_session".to_owned(), session);
    assert_eq!(browser.get("/users").await.location(), "/login", "the old session cookie is dead");

    // Signing in again makes a new session.
    let login = browser.get("/login").await;
    let csrf = login.csrf();
    let back = browser.post("/login", &[("csrf", &csrf), ("email", "O@example.org"), ("password", PASSWORD)]).await;
    assert_eq!(back.location(), "/users");
    assert_eq!(browser.get("/users").await.status, 200);
}

async fn failed_sign_ins_are_throttled_visibly(backend: Backend) {
    let place = Place::new(backend);
    let server = place.start();
    let mut browser = Browser::new(&server);
    let csrf = browser.get("/setup").await.csrf();
    let code = setup_code(&server);
    browser
        .post("/setup", &[("csrf", &csrf), ("setup_code", &code), ("email", "o@example.org"), ("password", PASSWORD)])
        .await;
    let mut stranger = Browser::new(&server);
    let csrf = stranger.get("/login").await.csrf();
    for _ in 0..5 {
        let refused = stranger
            .post("/login", &[("csrf", &csrf), ("email", "o@example.org"), ("password", "not the password")])
            .await;
        assert_eq!(refused.status, 401);
        assert!(refused.body.contains("email or the password is wrong"));
    }
    let throttled =
        stranger.post("/login", &[("csrf", &csrf), ("email", "o@example.org"), ("password", PASSWORD)]).await;
    assert_eq!(throttled.status, 429);
    assert!(
        throttled.body.contains("Too many failed sign-ins") && throttled.body.contains("try again in"),
        "{}",
        throttled.body
    );
    assert!(!stranger.cookies.contains_key("kw_session"));
}

async fn the_users_screen_escapes_names_and_never_shows_codes(backend: Backend) {
    let f = Fixture::new(backend).await;
    let front = f.admin.create_lock(&f.home, "Front door").await;
    f.admin
        .create_user(&f.home, json!({
            "name": "<img src=x onerror=alert(1)>", "code": "73914682", "panel": {"disarm": true}, "locks": [front],
            "schedule": {"windows": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "11:00", "end": "14:00"}]},
            "valid_from": "2026-12-05T00:00:00Z", "valid_until": "2026-12-12T00:00:00Z", "max_uses": 2,
            "notify": {"arrive": true}
        }))
        .await;
    let mut browser = Browser::new(&f.server);
    let csrf = browser.get("/login").await;
    assert_eq!(csrf.location(), "/setup");
    let csrf = browser.get("/setup").await.csrf();
    let code = setup_code(&f.server);
    browser
        .post("/setup", &[("csrf", &csrf), ("setup_code", &code), ("email", "o@example.org"), ("password", PASSWORD)])
        .await;
    let users = browser.get("/users").await;
    assert_eq!(users.status, 200);
    assert!(
        users.body.contains("&#60;img src=x onerror=alert(1)&#62;")
            || users.body.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{}",
        users.body
    );
    assert!(!users.body.contains("<img src=x"));
    assert!(users.body.contains("Mon–Fri 11:00–14:00"));
    // Until 12 Dec 00:00 (exclusive): the last day is the 11th.
    assert!(users.body.contains("5 Dec 2026 – 11 Dec 2026"), "{}", users.body);
    assert!(users.body.contains("2 uses left"));
    assert!(users.body.contains("Alarm: disarm") && users.body.contains("Front door"));
    assert!(users.body.contains("Never"), "never used yet");
    assert!(!shows_code(&users.body, "73914682"));
}

async fn post(browser: &mut Browser, path: &str, pairs: Vec<(String, String)>) -> Page {
    let request = browser.client.post(format!("{}{path}", browser.base)).header("Origin", &browser.base).form(&pairs);
    browser.go(request).await
}

/// Sets up the owner with a setup code from the command line (for a server
/// that is not on its first start) and returns a signed-in browser.
pub(crate) async fn signed_in(server: &Server, place: &Place) -> Browser {
    let (ok, code, stderr) = place.cli(&["owner", "setup-code"]);
    assert!(ok, "{stderr}");
    let mut browser = Browser::new(server);
    let csrf = browser.get("/setup").await.csrf();
    let done = browser
        .post(
            "/setup",
            &[("csrf", &csrf), ("setup_code", code.trim()), ("email", "o@example.org"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(done.location(), "/users");
    browser
}

/// Sets up the owner and returns a signed-in browser.
pub(crate) async fn owner_browser(server: &Server) -> Browser {
    let mut browser = Browser::new(server);
    let csrf = browser.get("/setup").await.csrf();
    let code = setup_code(server);
    let done = browser
        .post("/setup", &[("csrf", &csrf), ("setup_code", &code), ("email", "o@example.org"), ("password", PASSWORD)])
        .await;
    assert_eq!(done.location(), "/users");
    browser
}

async fn add_edit_reveal_and_delete_a_user_through_the_forms(backend: Backend) {
    let f = Fixture::with_args(backend, &["--timezone", "Europe/Berlin"]).await;
    let front = f.admin.create_lock(&f.home, "Front door").await;
    f.admin.create_lock(&f.home, "Back door").await;
    let mut browser = owner_browser(&f.server).await;
    let form = browser.get("/users/new").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("Front door") && form.body.contains("Back door"));
    let csrf = form.csrf();
    let dog_walker = |csrf: &str, code: &str| -> Vec<(String, String)> {
        [
            ("csrf", csrf),
            ("name", "Dog walker"),
            ("code", code),
            ("panel_disarm", "on"),
            ("lock", front.as_str()),
            ("when", "windows"),
            ("w0_mon", "on"),
            ("w0_tue", "on"),
            ("w0_wed", "on"),
            ("w0_thu", "on"),
            ("w0_fri", "on"),
            ("w0_start", "11:00"),
            ("w0_end", "14:00"),
            ("notify_arrive", "on"),
            ("enabled", "on"),
            ("action", "save"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    };
    let as_refs = |pairs: &[(String, String)]| pairs.to_vec();

    // Without the CSRF token, nothing is saved.
    let forged = post(&mut browser, "/users/new", dog_walker("", "4719")).await;
    assert_eq!(forged.status, 403);
    let saved = post(&mut browser, "/users/new", dog_walker(&csrf, "4719")).await;
    assert_eq!((saved.status, saved.location()), (303, "/users"), "{}", saved.body);
    let list = browser.get("/users").await;
    assert!(
        list.body.contains("Dog walker")
            && list.body.contains("Mon–Fri 11:00–14:00")
            && list.body.contains("Alarm: disarm")
            && list.body.contains("Front door")
    );
    assert!(!shows_code(&list.body, "4719"));

    // The same code for someone else: refused next to the field, typed values kept (the code
    // too: the owner's own page, never cached), and the other user's name never said.
    let mut second = dog_walker(&csrf, "4719");
    second[1].1 = "Cleaner".to_owned();
    let refused = post(&mut browser, "/users/new", as_refs(&second)).await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("This code is already used by someone in this home"), "{}", refused.body);
    assert!(refused.body.contains("value=\"Cleaner\"") && refused.body.contains("value=\"4719\""));
    assert_eq!(refused.headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    assert!(!refused.body.contains("Dog walker"), "whose code it is stays unsaid");
    second[2].1 = "47190".to_owned();
    let prefix = post(&mut browser, "/users/new", as_refs(&second)).await;
    assert!(
        prefix.body.contains("A code can&#39;t start with another user&#39;s code")
            || prefix.body.contains("can't start with"),
        "{}",
        prefix.body
    );
    second[2].1 = "1234".to_owned();
    assert!(post(&mut browser, "/users/new", as_refs(&second)).await.body.contains("Too easy to guess"));
    second[2].1 = "12".to_owned();
    second[1].1 = String::new();
    let two = post(&mut browser, "/users/new", as_refs(&second)).await;
    assert!(two.body.contains("Give a name of 1 to 64 characters"), "every broken rule is shown at once");
    // Generate proposes a code that passes every rule, and saves nothing.
    let mut generate = dog_walker(&csrf, "");
    generate[1].1 = "Cleaner".to_owned();
    generate.push(("action".to_owned(), "generate".to_owned()));
    generate.retain(|(k, v)| !(k == "action" && v == "save"));
    let proposed = post(&mut browser, "/users/new", generate).await;
    let marker = "id=\"code\" name=\"code\" value=\"";
    let at = proposed.body.find(marker).expect("code field") + marker.len();
    let code: String = proposed.body[at..].chars().take_while(char::is_ascii_digit).collect();
    assert_eq!(code.len(), 4, "the shortest the policy takes: {}", &proposed.body[at..at + 20]);
    let cache = |page: &Page| page.headers.get("cache-control").and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(cache(&proposed).as_deref(), Some("no-store"), "a page that shows a code is never cached");
    let users = f.admin.get(&f.path("/users")).await.expect(200);
    assert_eq!(users["items"].as_array().map(Vec::len), Some(1), "nothing saved by Generate");
    let id = users["items"][0]["id"].as_str().expect("id").to_owned();

    // Edit the dog walker's times; the code stays when the field is left empty.
    let edit = browser.get(&format!("/users/{id}")).await;
    assert!(edit.body.contains("value=\"11:00\"") && edit.body.contains("Update Dog walker"));
    let mut changed = dog_walker(&edit.csrf(), "");
    changed[11].1 = "12:00".to_owned();
    changed[12].1 = "15:30".to_owned();
    let updated = post(&mut browser, &format!("/users/{id}"), changed).await;
    assert_eq!(updated.location(), "/users", "{}", updated.body);
    assert!(browser.get("/users").await.body.contains("Mon–Fri 12:00–15:30"));
    let preview = f
        .admin
        .post(
            &f.path("/access/preview"),
            json!({"code": "4719", "device": front, "action": "unlock", "at": "2026-11-26T13:00:00Z"}),
        )
        .await
        .expect(200);
    assert_eq!(preview["granted"], true, "the old code still works: {preview}");

    // Reveal, behind a confirmation, audited.
    let ask = browser.get(&format!("/users/{id}/reveal")).await;
    assert!(ask.body.contains("Reveal the code of Dog walker?") && !shows_code(&ask.body, "4719"));
    let shown = browser.post(&format!("/users/{id}/reveal"), &[("csrf", &ask.csrf())]).await;
    assert!(shown.body.contains(">4719<"));
    assert_eq!(shown.headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    let log = f.admin.get(&f.path("/activity")).await.expect(200);
    assert_eq!(log["items"][0]["kind"], "code_revealed");
    assert_eq!(log["items"][0]["actor"], "owner:o@example.org");

    // Delete, behind a confirmation that names the user.
    let confirm = browser.get(&format!("/users/{id}/delete")).await;
    assert!(confirm.body.contains("Delete Dog walker?"));
    assert_eq!(browser.post(&format!("/users/{id}/delete"), &[]).await.status, 403);
    let gone = browser.post(&format!("/users/{id}/delete"), &[("csrf", &confirm.csrf())]).await;
    assert_eq!(gone.location(), "/users");
    let after = browser.get("/users").await.body;
    assert!(after.contains("Dog walker deleted") && after.contains("No users yet"), "{after}");
    assert!(!browser.get("/users").await.body.contains("Dog walker"), "said once");
    let denied = f.admin.access(&f.home, "4719", &front, "unlock").await.expect(200);
    assert_eq!(denied["reason"], "unknown_code");
}

async fn activity_page_filters_downloads_and_streams_live(backend: Backend) {
    let f = Fixture::new(backend).await;
    let front = f.admin.create_lock(&f.home, "Front door").await;
    f.admin.create_user(&f.home, json!({"name": "=cmd|' /C calc'!A0", "code": "583062", "locks": "all"})).await;
    let device = f.token("device", None);
    device.access(&f.home, "583062", &front, "unlock").await.expect(200);
    device.access(&f.home, "999999", &front, "unlock").await.expect(200);
    let mut browser = owner_browser(&f.server).await;

    let page = browser.get("/activity").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Arrived") && page.body.contains("Refused") && page.body.contains("unknown code"));
    assert!(page.body.contains("Front door (unlock)"));
    assert!(page.body.contains("data-live=\"/activity/stream\""));
    let refused = browser.get("/activity?outcome=denied").await;
    assert!(refused.body.contains("Refused") && !refused.body.contains("Arrived"));
    assert!(!refused.body.contains("data-live"), "live rows only on the unfiltered page");

    let csv = browser.get("/activity.csv").await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.headers.get("content-disposition").and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("attachment"))
    );
    assert!(csv.body.starts_with("time,local time,event,user,device,action,outcome,reason,by,duress,detail,kind\n"));
    assert!(csv.body.contains("\"'=cmd|' /C calc'!A0\""), "a formula-like name is defused: {}", csv.body);
    assert!(!shows_code(&csv.body, "583062") && !shows_code(&csv.body, "999999"));
    let jsonl = browser.get("/activity.jsonl").await;
    assert_eq!(jsonl.status, 200);
    let lines: Vec<serde_json::Value> =
        jsonl.body.lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect();
    assert_eq!(lines.len(), csv.body.lines().count() - 1, "the same entries as the CSV");
    assert!(lines.iter().any(|l| l["kind"] == "arrival" && l["device"]["name"] == "Front door"), "{}", jsonl.body);
    assert!(!shows_code(&jsonl.body, "583062") && !shows_code(&jsonl.body, "999999"));

    // Live: an attempt made while the stream is open arrives as an event.
    let cookies: Vec<String> = browser.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut stream = reqwest::Client::new()
        .get(format!("{}/activity/stream", f.server.base))
        .header("Cookie", cookies.join("; "))
        .send()
        .await
        .expect("stream");
    assert_eq!(stream.headers().get("content-type").and_then(|v| v.to_str().ok()), Some("text/event-stream"));
    device.access(&f.home, "583062", "panel", "disarm").await.expect(200);
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !seen.contains("data:") {
        let chunk =
            tokio::time::timeout_at(deadline, stream.chunk()).await.expect("an event within 5 s").expect("chunk");
        seen.push_str(&String::from_utf8_lossy(&chunk.expect("more")));
    }
    assert!(seen.contains("Refused") && seen.contains("Alarm panel (disarm)"), "{seen}");
    assert!(!shows_code(&seen, "583062"));
    // A lock added after the page was opened is named, not "a removed lock".
    let garage = f.admin.create_lock(&f.home, "Garage").await;
    device.access(&f.home, "583062", &garage, "unlock").await.expect(200);
    let mut next = String::new();
    while !next.contains("data:") {
        let chunk =
            tokio::time::timeout_at(deadline, stream.chunk()).await.expect("an event within 5 s").expect("chunk");
        next.push_str(&String::from_utf8_lossy(&chunk.expect("more")));
    }
    assert!(next.contains("Garage (unlock)"), "{next}");

    // An open stream does not hold up a shutdown.
    let Fixture { server, .. } = f;
    let (status, _) = server.terminate();
    assert!(status.success());
}

async fn locks_settings_and_tokens_pages(backend: Backend) {
    let f = Fixture::new(backend).await;
    let mut browser = owner_browser(&f.server).await;

    // Locks: add, rename, remove behind a confirmation.
    let page = browser.get("/locks").await;
    assert!(page.body.contains("No locks yet"));
    let csrf = page.csrf();
    assert_eq!(browser.post("/locks", &[("name", "Front door")]).await.status, 403);
    assert_eq!(browser.post("/locks", &[("csrf", &csrf), ("name", "Front door")]).await.location(), "/locks");
    let blank = browser.post("/locks", &[("csrf", &csrf), ("name", "  ")]).await;
    assert_eq!(blank.status, 422);
    let locks = f.admin.get(&f.path("/locks")).await.expect(200);
    let id = locks["items"][0]["id"].as_str().expect("a lock").to_owned();
    browser.post(&format!("/locks/{id}"), &[("csrf", &csrf), ("name", "Porch door")]).await;
    assert!(browser.get("/locks").await.body.contains("value=\"Porch door\""));
    let confirm = browser.get(&format!("/locks/{id}/delete")).await;
    assert!(confirm.body.contains("Remove Porch door?"));
    browser.post(&format!("/locks/{id}/delete"), &[("csrf", &confirm.csrf())]).await;
    assert!(browser.get("/locks").await.body.contains("No locks yet"));

    // Settings: time zone from the searchable list, policies; refusals change nothing.
    let settings = browser.get("/settings").await;
    assert!(
        settings.body.contains("<option value=\"Europe/Berlin\">")
            && settings.body.contains("<option value=\"America/New_York\">")
    );
    let csrf = settings.csrf();
    let form = |tz: &'static str, min: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("name", "Lake house".to_owned()),
            ("timezone", tz.to_owned()),
            ("min_length", min.to_owned()),
            ("max_length", "8".to_owned()),
            ("reject_weak", "on".to_owned()),
            ("max_attempts", "5".to_owned()),
            ("window_minutes", "10".to_owned()),
            ("lockout_seconds", "120".to_owned()),
        ]
    };
    let as_pairs = |v: Vec<(&str, String)>| v.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<Vec<_>>();
    let bad_zone = post(&mut browser, "/settings", as_pairs(form("Mars/Olympus", "6"))).await;
    assert_eq!(bad_zone.status, 422);
    assert!(bad_zone.body.contains("Choose a time zone from the list"));
    assert!(bad_zone.body.contains(r#"aria-describedby="tz_help timezone_error""#), "tied to its field");
    let bad_policy = post(&mut browser, "/settings", as_pairs(form("Europe/Berlin", "3"))).await;
    assert_eq!(bad_policy.status, 422);
    assert_eq!(f.admin.get(&f.path("")).await.expect(200)["timezone"], "UTC", "nothing changed");
    let saved = post(&mut browser, "/settings", as_pairs(form("Europe/Berlin", "6"))).await;
    assert_eq!(saved.location(), "/settings", "post, redirect, get");
    assert!(browser.get("/settings").await.body.contains("Settings saved."));
    assert!(!browser.get("/settings").await.body.contains("Settings saved."), "said once");
    let home = f.admin.get(&f.path("")).await.expect(200);
    assert_eq!((home["name"].as_str(), home["timezone"].as_str()), (Some("Lake house"), Some("Europe/Berlin")));
    assert_eq!(
        (home["code_policy"]["min_length"].as_i64(), home["lockout"]["max_attempts"].as_i64()),
        (Some(6), Some(5))
    );
    assert_eq!(home["lockout"]["window_seconds"], 600, "minutes on the page, seconds in the API");

    // API tokens: made here, shown once, revoked at once.
    let made =
        browser.post("/settings/tokens", &[("csrf", &csrf), ("name", "Home Assistant"), ("scope", "read")]).await;
    let marker = "id=\"new_token\" class=\"copyable\" readonly value=\"";
    let at = made.body.find(marker).expect("the new token") + marker.len();
    let secret = made.body[at..at + 67].to_owned();
    assert!(secret.starts_with("kw_"), "{secret}");
    assert_eq!(made.headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    let reader = f.admin.with_token(&secret);
    reader.get("/api/v1/homes").await.expect(200);
    assert!(!browser.get("/settings").await.body.contains(&secret), "shown once");
    let tokens = browser.get("/settings").await;
    let marker = "/settings/tokens/";
    let revoke = tokens
        .body
        .split(marker)
        .map(|rest| rest.split('/').next().unwrap_or("").to_owned())
        .filter(|id| id.len() == 24)
        .collect::<Vec<_>>();
    for id in revoke {
        browser.post(&format!("/settings/tokens/{id}/revoke"), &[("csrf", &csrf)]).await;
    }
    reader.get("/api/v1/homes").await.expect_error(401, "unauthorized");

    // The owner's sessions are listed, this browser marked; another one is signed out from here.
    let mut other = Browser::new(&f.server);
    let csrf_other = other.get("/login").await.csrf();
    other.post("/login", &[("csrf", &csrf_other), ("email", "o@example.org"), ("password", PASSWORD)]).await;
    assert_eq!(other.get("/users").await.status, 200);
    let sessions = browser.get("/settings").await.body;
    assert!(sessions.contains("<strong>A browser</strong> · this browser"), "{sessions}");
    let ends: Vec<String> = sessions
        .split("/settings/sessions/")
        .skip(1)
        .map(|rest| rest.split('/').next().unwrap_or("").to_owned())
        .collect();
    assert_eq!(ends.len(), 1, "the other browser's session, not this one's");
    let ended = browser.post(&format!("/settings/sessions/{}/end", ends[0]), &[("csrf", &csrf)]).await;
    assert_eq!(ended.location(), "/settings");
    assert_eq!(other.get("/users").await.location(), "/login", "that browser is signed out");
    assert_eq!(browser.get("/users").await.status, 200, "this one is not");

    // Sign out everywhere ends this session and every other one.
    let csrf_other = other.get("/login").await.csrf();
    other.post("/login", &[("csrf", &csrf_other), ("email", "o@example.org"), ("password", PASSWORD)]).await;
    assert_eq!(other.get("/users").await.status, 200);
    let out = browser.post("/settings/sign-out-everywhere", &[("csrf", &csrf)]).await;
    assert_eq!(out.location(), "/login");
    assert_eq!(browser.get("/users").await.location(), "/login");
    assert_eq!(other.get("/users").await.location(), "/login");
}

async fn owners_invite_further_owners_with_a_one_time_link(backend: Backend) {
    let place = Place::new(backend);
    let server = place.start();
    let mut owner = owner_browser(&server).await;
    let csrf = owner.get("/settings").await.csrf();
    assert_eq!(owner.post("/settings/invites", &[("email", "partner@example.org")]).await.status, 403);
    let taken = owner.post("/settings/invites", &[("csrf", &csrf), ("email", "O@example.org")]).await;
    assert!(taken.body.contains("An owner with this email exists already"), "{}", taken.body);
    let invited = owner.post("/settings/invites", &[("csrf", &csrf), ("email", "Partner@example.org")]).await;
    let marker = "id=\"invite_link\" class=\"copyable\" readonly value=\"";
    let at = invited.body.find(marker).expect("a link") + marker.len();
    let link: String = invited.body[at..].chars().take_while(|c| *c != '"').collect();
    let path = link.split_once("/invite/").map(|(_, s)| format!("/invite/{s}")).expect("an invite path");
    assert!(link.starts_with(&server.base), "{link}");

    // Pending invitations are listed, and can be withdrawn.
    let spare = owner.post("/settings/invites", &[("csrf", &csrf), ("email", "cousin@example.org")]).await;
    let at = spare.body.find(marker).expect("a link") + marker.len();
    let spare_link: String = spare.body[at..].chars().take_while(|c| *c != '<').collect();
    let spare_path = spare_link.split_once("/invite/").map(|(_, s)| format!("/invite/{s}")).expect("a path");
    let settings = owner.get("/settings").await;
    assert!(settings.body.contains("cousin@example.org") && settings.body.contains("partner@example.org"));
    assert!(!settings.body.contains(&spare_link), "the link itself is shown once");
    let marker_revoke = "/settings/invites/";
    let ids: Vec<String> = settings
        .body
        .split(marker_revoke)
        .skip(1)
        .map(|rest| rest.split('/').next().unwrap_or("").to_owned())
        .collect();
    assert_eq!(ids.len(), 2, "two invitations wait");
    // The newest first: the cousin's.
    let withdrawn = owner.post(&format!("/settings/invites/{}/revoke", ids[0]), &[("csrf", &csrf)]).await;
    assert_eq!(withdrawn.location(), "/settings");
    assert!(owner.get("/settings").await.body.contains("Invitation withdrawn"));
    assert_eq!(Browser::new(&server).get(&spare_path).await.status, 404, "a withdrawn link opens nothing");
    assert_eq!(owner.post("/settings/invites/00/revoke", &[("csrf", &csrf)]).await.status, 404);

    let mut partner = Browser::new(&server);
    let page = partner.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("partner@example.org"));
    let csrf = page.csrf();
    let weak = partner.post(&path, &[("csrf", &csrf), ("password", "password123")]).await;
    assert_eq!(weak.status, 422);
    let joined = partner.post(&path, &[("csrf", &csrf), ("password", "lantern orchard 7")]).await;
    assert_eq!(joined.location(), "/users");
    assert_eq!(partner.get("/users").await.status, 200);
    assert_eq!(partner.get(&path).await.status, 404, "an invitation works once");
    let owners = owner.get("/settings").await;
    assert!(owners.body.contains("<li>o@example.org</li>") && owners.body.contains("<li>partner@example.org</li>"));
    // The new owner signs in like any owner.
    let mut again = Browser::new(&server);
    let csrf = again.get("/login").await.csrf();
    let signed = again
        .post("/login", &[("csrf", &csrf), ("email", "partner@example.org"), ("password", "lantern orchard 7")])
        .await;
    assert_eq!(signed.location(), "/users");
}

async fn editing_a_user_keeps_every_schedule_window(backend: Backend) {
    let f = Fixture::new(backend).await;
    let days = ["mon", "tue", "wed", "thu", "fri", "sat"];
    let windows: Vec<serde_json::Value> = days
        .iter()
        .enumerate()
        .map(|(i, day)| json!({"days": [day], "start": format!("{:02}:00", 6 + i), "end": format!("{:02}:30", 7 + i)}))
        .collect();
    let id = f
        .admin
        .create_user(&f.home, json!({"name": "Cleaner", "code": "58204", "schedule": {"windows": windows}}))
        .await;
    let mut browser = owner_browser(&f.server).await;
    let page = browser.get(&format!("/users/{id}")).await;
    for i in 0..days.len() {
        assert!(page.body.contains(&format!("value=\"{:02}:00\"", 6 + i)), "window {i} is shown");
    }
    // Saved as shown, with one more window typed into the spare row.
    let mut fields = form_fields(&page.body, &format!("/users/{id}"), "save");
    let spare = days.len();
    for (key, value) in [("sun", "on"), ("start", "20:00"), ("end", "21:00")] {
        let key = format!("w{spare}_{key}");
        fields.retain(|(k, _)| *k != key);
        fields.push((key, value.to_owned()));
    }
    let saved = post(&mut browser, &format!("/users/{id}"), fields).await;
    assert_eq!(saved.location(), "/users", "{}", saved.body);
    let user = f.admin.get(&f.path(&format!("/users/{id}"))).await.expect(200);
    let kept = user["schedule"]["windows"].as_array().expect("windows");
    assert_eq!(kept.len(), days.len() + 1, "no window lost, the new one added: {kept:?}");
    assert_eq!(kept[5], json!({"days": ["sat"], "start": "11:00", "end": "12:30"}));
    assert_eq!(kept[6], json!({"days": ["sun"], "start": "20:00", "end": "21:00"}));
}

/// Reads the stream until its next event, or until it ends (`None`).
async fn next_event(stream: &mut reqwest::Response) -> Option<String> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut seen = String::new();
    while !seen.contains("data:") {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk()).await.expect("an answer within 5 s");
        match chunk.expect("chunk") {
            Some(bytes) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            None => return None,
        }
    }
    Some(seen)
}

async fn live_activity_ends_with_the_session(backend: Backend) {
    let f = Fixture::new(backend).await;
    let device = f.token("device", None);
    f.admin.create_user(&f.home, json!({"name": "Walker", "code": "583062", "panel": {"disarm": true}})).await;
    let open = |browser: &Browser| {
        let cookies: Vec<String> = browser.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        reqwest::Client::new()
            .get(format!("{}/activity/stream", f.server.base))
            .header("Cookie", cookies.join("; "))
            .send()
    };
    // Signing out.
    let mut browser = owner_browser(&f.server).await;
    let mut stream = open(&browser).await.expect("stream");
    device.access(&f.home, "583062", "panel", "disarm").await.expect(200);
    assert!(next_event(&mut stream).await.is_some_and(|e| e.contains("Walker")), "live while signed in");
    let csrf = browser.get("/users").await.csrf();
    assert_eq!(browser.post("/logout", &[("csrf", &csrf)]).await.location(), "/login");
    device.access(&f.home, "583062", "panel", "disarm").await.expect(200);
    assert_eq!(next_event(&mut stream).await, None, "the stream ends with the session");

    // A password reset from the command line.
    let mut browser = Browser::new(&f.server);
    let csrf = browser.get("/login").await.csrf();
    let signed_in =
        browser.post("/login", &[("csrf", &csrf), ("email", "o@example.org"), ("password", PASSWORD)]).await;
    assert_eq!(signed_in.location(), "/users");
    let mut stream = open(&browser).await.expect("stream");
    let reset = std::process::Command::new(BIN)
        .args(["owner", "reset-password", "--email", "o@example.org"])
        .args(f.place.args())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().expect("stdin").write_all(b"lantern orchard 77\n")?;
            child.wait()
        })
        .expect("reset");
    assert!(reset.success());
    device.access(&f.home, "583062", "panel", "disarm").await.expect(200);
    assert_eq!(next_event(&mut stream).await, None, "the stream ends when the password changes");
}

async fn duress_is_shown_to_owners_and_admins_only(backend: Backend) {
    let f = Fixture::new(backend).await;
    let front = f.admin.create_lock(&f.home, "Front door").await;
    let device = f.token("device", None);
    let read = f.token("read", None);
    let coerced = f
        .admin
        .create_user(&f.home, json!({"name": "Coerced", "code": "9302", "kind": "duress", "locks": "all"}))
        .await;
    let mut browser = owner_browser(&f.server).await;
    let cookies: Vec<String> = browser.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut stream = reqwest::Client::new()
        .get(format!("{}/activity/stream", f.server.base))
        .header("Cookie", cookies.join("; "))
        .send()
        .await
        .expect("stream");
    let granted = device.access(&f.home, "9302", &front, "unlock").await.expect(200);
    assert_eq!(
        granted,
        json!({"granted": true, "user": {"id": coerced, "name": "Coerced"}}),
        "the keypad sees a grant"
    );

    // The owner sees it, clearly: in the activity page, the live rows and the CSV.
    let live = next_event(&mut stream).await.expect("a live row");
    assert!(live.contains("under duress") && live.contains("\"class\":\"duress\""), "{live}");
    let page = browser.get("/activity").await;
    assert!(page.body.contains("under duress") && page.body.contains("class=\"duress\""), "{}", page.body);
    let csv = browser.get("/activity.csv").await.body;
    assert!(
        csv.starts_with("time,local time,event,user,device,action,outcome,reason,by,duress,detail,kind\n"),
        "{csv}"
    );
    assert!(csv.lines().any(|l| l.contains("Coerced") && l.ends_with(",\"yes\",\"\",\"arrival\"")), "{csv}");
    // An admin token sees it; a read token learns nothing of it, anywhere.
    assert_eq!(f.admin.get(&f.path(&format!("/users/{coerced}"))).await.expect(200)["kind"], "duress");
    assert_eq!(f.admin.get(&f.path("/activity")).await.expect(200)["items"][0]["duress"], true);
    for path in [f.path("/users"), f.path(&format!("/users/{coerced}")), f.path("/activity")] {
        let seen = read.get(&path).await;
        assert_eq!(seen.status.as_u16(), 200);
        assert!(!seen.text.contains("duress"), "{path}: {}", seen.text);
    }
}

async fn invitation_links_never_use_an_injected_host(backend: Backend) {
    let place = Place::new(backend);
    let server = place.start();
    let mut owner = owner_browser(&server).await;
    let settings = owner.get("/settings").await;
    assert!(settings.body.contains("public_url"), "Settings says where links come from");
    let csrf = settings.csrf();
    // A Host that is not the address the owner's browser uses is never put in a link.
    let forged = owner
        .client
        .post(format!("{}/settings/invites", owner.base))
        .header("Host", "evil.example:8080")
        .header("Origin", &owner.base)
        .form(&[("csrf", csrf.as_str()), ("email", "partner@example.org")]);
    let refused = owner.go(forged).await;
    assert!(!refused.body.contains("evil.example"), "{}", refused.body);
    assert!(!refused.body.contains("id=\"invite_link\""), "no link at all");
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("public_url"), "{}", refused.body);

    // With a public URL configured, links use it, whatever the request says.
    let place = Place::new(backend);
    let server = place.start_with(&["--public-url", "https://keys.example.org/"], &[]);
    let mut owner = owner_browser(&server).await;
    let settings = owner.get("/settings").await;
    assert!(settings.body.contains("https://keys.example.org"), "{}", settings.body);
    let csrf = settings.csrf();
    let request = owner
        .client
        .post(format!("{}/settings/invites", owner.base))
        .header("Host", "evil.example:8080")
        .form(&[("csrf", csrf.as_str()), ("email", "partner@example.org")]);
    let invited = owner.go(request).await;
    assert!(invited.body.contains("value=\"https://keys.example.org/invite/kwi_"), "{}", invited.body);
    assert!(!invited.body.contains("evil.example"));
}

async fn refusals_are_pages_in_plain_words(backend: Backend) {
    let place = Place::new(backend);
    let server = place.start();
    let mut owner = owner_browser(&server).await;
    let missing = owner.get("/users/u_00000000000000000000000000").await;
    assert_eq!(missing.status, 404);
    let kind = missing.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(kind.starts_with("text/html"), "{kind}");
    assert!(missing.body.contains("Not found"), "{}", missing.body);
    assert!(!missing.body.contains("\"code\""), "no JSON error: {}", missing.body);

    // A form keyward's pages did not send (here, JSON) is a page in words
    // too, not the framework's plain-text rejection, and changes nothing.
    let request = owner
        .client
        .post(format!("{}/locks", owner.base))
        .header("Origin", &owner.base)
        .header("Content-Type", "application/json")
        .body(r#"{"name":"Back door"}"#);
    let unreadable = owner.go(request).await;
    assert_eq!(unreadable.status, 415, "{}", unreadable.body);
    let kind = unreadable.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(kind.starts_with("text/html"), "{kind}");
    assert!(unreadable.body.contains("This form could not be read"), "{}", unreadable.body);
    assert!(!owner.get("/locks").await.body.contains("Back door"), "nothing was added");
}

/// The owner's "Share access" page: the contact typed on the user's form,
/// a link made and shown once (no mail server here: copy it), the visitor
/// opening it, and the owner withdrawing it; made in the owner's name.
async fn the_owner_shares_access_and_withdraws_the_link(backend: Backend) {
    let f = Fixture::with_args(backend, &["--timezone", "Europe/Berlin"]).await;
    let front = f.admin.create_lock(&f.home, "Front door").await;
    let walker = f.admin.create_user(&f.home, json!({"name": "Dog walker", "code": "4719", "locks": [front]})).await;
    let mut owner = owner_browser(&f.server).await;
    let form = owner.get(&format!("/users/{walker}")).await;
    assert!(form.body.contains(&format!("href=\"/users/{walker}/share\"")), "{}", form.body);
    let mut pairs = form_fields(&form.body, &format!("/users/{walker}"), "save");
    pairs.retain(|(k, _)| k != "contact_email" && k != "contact_phone");
    let mut bad = pairs.clone();
    bad.push(("contact_email".into(), "walker at home".into()));
    let refused = post(&mut owner, &format!("/users/{walker}"), bad).await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("An email address looks like walker@example.org."), "{}", refused.body);
    pairs.push(("contact_email".into(), "walker@example.org".into()));
    pairs.push(("contact_phone".into(), "+49 30 1234567".into()));
    let saved = post(&mut owner, &format!("/users/{walker}"), pairs).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let user = f.admin.get(&f.path(&format!("/users/{walker}"))).await.expect(200);
    assert_eq!(user["contact"], json!({"email": "walker@example.org", "phone": "+49 30 1234567"}));

    let share = owner.get(&format!("/users/{walker}/share")).await;
    assert_eq!(share.status, 200);
    assert!(share.body.contains("Share access with Dog walker") && share.body.contains("set up [smtp]"));
    let csrf = share.csrf();
    let action = format!("/users/{walker}/share");
    let wrong = owner.post(&action, &[("csrf", &csrf), ("days", "45")]).await;
    assert_eq!(wrong.status, 422);
    let beside = "<p id=\"days_error\" class=\"field-error\">A link works for 1 to 30 days";
    assert!(wrong.body.contains(beside), "{}", wrong.body);
    assert!(wrong.body.contains("aria-describedby=\"days_error\"") && wrong.body.contains("value=\"45\""), "as typed");
    let made = owner.post(&action, &[("csrf", &csrf), ("days", "2")]).await;
    assert_eq!(made.status, 200, "{}", made.body);
    let marker = "id=\"share-link\" class=\"copyable\" readonly value=\"";
    let at = made.body.find(marker).expect("the link") + marker.len();
    let link: String = made.body[at..].chars().take_while(|c| *c != '"').collect();
    assert!(link.starts_with(&format!("{}/share/", f.server.base)), "{link}");
    let path = link[f.server.base.len()..].to_owned();
    assert!(!shows_code(&made.body, "4719"), "the owner's page shows the link, not the code");

    let mut visitor = Browser::new(&f.server);
    let opened = visitor.post(&path, &[]).await;
    assert!(opened.status == 200 && opened.body.contains("id=\"code\">4719<"), "{}", opened.body);
    let listed = owner.get(&action).await;
    assert!(listed.body.contains("Opened"), "{}", listed.body);
    let at = listed.body.find("/share/").map(|i| i + "/share/".len()).expect("a withdraw form");
    let share_id: String = listed.body[at..].chars().take_while(|c| c.is_ascii_hexdigit()).collect();
    let withdrawn = owner.post(&format!("{action}/{share_id}/revoke"), &[("csrf", &listed.csrf())]).await;
    assert_eq!(withdrawn.location(), action);
    assert!(owner.get(&action).await.body.contains("Withdrawn"));
    assert_eq!(visitor.post(&path, &[]).await.status, 404);
    let log = f.admin.get(&f.path(&format!("/activity?user_id={walker}"))).await.expect(200);
    let entries: Vec<(&str, &str)> = log["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| (e["kind"].as_str().unwrap_or_default(), e["actor"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(
        entries[..4],
        [
            ("share_revoked", "owner:o@example.org"),
            ("share_opened", ""),
            ("code_shared", "owner:o@example.org"),
            ("user_updated", "owner:o@example.org")
        ]
    );
    assert_eq!(log["items"][3]["detail"], "contact", "{log}");
}

/// Changing a channel on its own page: filled in as it is, refused in words
/// beside the field (the token never sent back), saved as one audited
/// change naming what changed, a token removed.
async fn the_owner_changes_a_channel_on_its_page(backend: Backend) {
    let f = Fixture::new(backend).await;
    let channels = f.path("/channels");
    let ntfy = json!({"kind": "ntfy", "name": "Phone", "url": "http://127.0.0.1:9/walker", "token": "tk_secret_42"});
    let phone = f.admin.post(&channels, ntfy).await.expect(201)["id"].as_str().expect("id").to_owned();
    let mut owner = owner_browser(&f.server).await;
    let list = owner.get("/alerts").await;
    assert!(list.body.contains(&format!("href=\"/alerts/{phone}\"")), "{}", list.body);
    let page = owner.get(&format!("/alerts/{phone}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("value=\"Phone\"") && page.body.contains("value=\"http://127.0.0.1:9/walker\""));
    assert!(!page.body.contains("tk_secret_42"), "a token is never shown");
    let csrf = page.csrf();
    let action = format!("/alerts/{phone}");
    let bad = owner
        .post(&action, &[("csrf", &csrf), ("name", "Phone"), ("address", "ftp://x"), ("token", "tk_new_secret_7")])
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("id=\"address_error\"") && !bad.body.contains("tk_new_secret_7"), "{}", bad.body);
    let saved = owner
        .post(
            &action,
            &[
                ("csrf", &csrf),
                ("name", "Anna's phone"),
                ("address", "http://127.0.0.1:9/anna"),
                ("emergency", "on"),
                ("quiet_start", "22:00"),
                ("quiet_end", "07:00"),
                ("remove_token", "on"),
            ],
        )
        .await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert!(saved.body.contains("Anna&#39;s phone saved."), "{}", saved.body);
    let listed = f.admin.get(&channels).await.expect(200);
    let c = &listed["items"][0];
    assert_eq!(
        (c["name"].as_str(), c["url"].as_str(), c["emergency"].as_bool(), c["has_token"].as_bool()),
        (Some("Anna's phone"), Some("http://127.0.0.1:9/anna"), Some(true), Some(false)),
        "{c}"
    );
    assert_eq!(c["quiet_hours"], json!({"start": "22:00", "end": "07:00"}));
    let log = f.admin.get(&f.path("/activity")).await.expect(200);
    assert_eq!(log["items"][0]["kind"], "channel_changed");
    assert_eq!(log["items"][0]["actor"], "owner:o@example.org");
    assert_eq!(log["items"][0]["detail"], "Anna's phone: name, url, emergency, quiet, token");
    // Saved again as it is: nothing changed, and it says so.
    let again = owner.get(&action).await;
    let pairs = form_fields(&again.body, &action, "");
    assert_eq!(post(&mut owner, &action, pairs).await.status, 200);
    let log = f.admin.get(&f.path("/activity")).await.expect(200);
    assert_eq!(log["items"][0]["detail"], "Anna's phone: nothing");
}

/// A user's alert rules on their form: which channels hear of them, and "tell
/// me if they have not arrived by 12:30 on Mondays and Fridays"; a half-given
/// rule refused in words; what the API set, shown as it is.
async fn a_users_alert_rules_are_on_their_form(backend: Backend) {
    let f = Fixture::with_args(backend, &["--timezone", "Europe/Berlin"]).await;
    let channels = f.path("/channels");
    let hook = |name: &str| json!({"kind": "webhook", "name": name, "url": "http://127.0.0.1:9/hook"});
    f.admin.post(&channels, hook("Phone")).await.expect(201);
    let siren = f.admin.post(&channels, hook("Siren")).await.expect(201)["id"].as_str().expect("id").to_owned();
    let walker = f.admin.create_user(&f.home, json!({"name": "Dog walker", "code": "4719"})).await;
    let mut owner = owner_browser(&f.server).await;
    let action = format!("/users/{walker}");
    let form = owner.get(&action).await;
    assert!(form.body.contains("Only these:") && form.body.contains("> Siren</label>"), "{}", form.body);
    let mut pairs = form_fields(&form.body, &action, "save");
    pairs.retain(|(k, _)| k != "alert_to" && k != "no_show_by");
    let mut half = pairs.clone();
    half.push(("no_show_by".into(), "12:30".into()));
    let refused = post(&mut owner, &action, half).await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("tick the days and give a time such as 12:30"), "{}", refused.body);
    for (k, v) in [
        ("alert_to", "some"),
        ("alert_channel", siren.as_str()),
        ("no_show_mon", "on"),
        ("no_show_fri", "on"),
        ("no_show_by", "12:30"),
    ] {
        pairs.push((k.to_owned(), v.to_owned()));
    }
    assert_eq!(post(&mut owner, &action, pairs).await.status, 303);
    let user = f.admin.get(&f.path(&format!("/users/{walker}"))).await.expect(200);
    assert_eq!(user["notify"]["channels"], json!([siren]));
    assert_eq!(user["notify"]["no_show"], json!({"days": ["mon", "fri"], "by": "12:30"}));
    let again = owner.get(&action).await;
    assert!(again.body.contains(&format!("value=\"{siren}\" checked")), "{}", again.body);
    assert!(again.body.contains("name=\"no_show_fri\" checked") && again.body.contains("value=\"12:30\""));
}

/// Many people are paged (50 a page), so the screen stays light; the
/// glance above counts them all.
async fn the_users_screen_pages_many_people(backend: Backend) {
    let f = Fixture::new(backend).await;
    for i in 0..51 {
        f.admin
            .create_user(
                &f.home,
                json!({"name": format!("Guest {i:02}"), "code": format!("{}", 50_000 + i * 7), "locks": "all"}),
            )
            .await;
    }
    let mut browser = owner_browser(&f.server).await;
    let first = browser.get("/users").await.body;
    assert!(first.contains("Page 1 of 2") && first.contains("Guest 00") && !first.contains("Guest 50"));
    assert!(first.contains(r#"<span class="figure">51</span>"#), "the glance counts everyone");
    let second = browser.get("/users?page=2").await.body;
    assert!(second.contains("Page 2 of 2") && second.contains("Guest 50") && !second.contains("Guest 00"));
    assert!(browser.get("/users?page=9").await.body.contains("Page 2 of 2"), "past the end: the last page");
}

/// Every form of the owner's pages is refused without the browser's form
/// token, before anything is looked up or changed (issue 22: the check is
/// the extractor every form handler takes, not a line each one repeats).
async fn every_form_needs_its_token(backend: Backend) {
    let f = Fixture::new(backend).await;
    let mut browser = owner_browser(&f.server).await;
    let before = f.admin.get(&f.path("/activity")).await.expect(200)["items"].as_array().map_or(0, Vec::len);
    let x = "0123456789abcdef0123456789abcdef";
    let paths = [
        "/setup".to_owned(),
        "/login".to_owned(),
        "/logout".to_owned(),
        "/panel/arm".to_owned(),
        "/panel/disarm".to_owned(),
        "/sensors".to_owned(),
        "/sirens".to_owned(),
        format!("/sensors/{x}/delete"),
        "/users/new".to_owned(),
        "/users/enabled".to_owned(),
        format!("/users/{x}/enabled"),
        format!("/users/{x}"),
        format!("/users/{x}/delete"),
        format!("/users/{x}/reveal"),
        format!("/users/{x}/retry"),
        format!("/users/{x}/share"),
        format!("/users/{x}/share/{x}/revoke"),
        format!("/locks/{x}/slots/1/take-over"),
        "/locks".to_owned(),
        format!("/locks/{x}"),
        format!("/locks/{x}/delete"),
        format!("/locks/{x}/lock"),
        format!("/locks/{x}/unlock"),
        "/alerts".to_owned(),
        format!("/alerts/{x}"),
        format!("/alerts/{x}/test"),
        format!("/alerts/{x}/delete"),
        "/settings".to_owned(),
        "/settings/tokens".to_owned(),
        "/settings/sign-out-everywhere".to_owned(),
        "/settings/invites".to_owned(),
        format!("/settings/invites/{x}/revoke"),
        format!("/settings/sessions/{x}/end"),
        format!("/settings/tokens/{x}/revoke"),
        format!("/invite/{x}"),
    ];
    for path in &paths {
        for token in [None, Some("forged")] {
            let mut form = vec![("name", "Mallory"), ("code", "4719")];
            form.extend(token.map(|t| ("csrf", t)));
            let refused = browser.post(path, &form).await;
            assert_eq!(refused.status, 403, "{path} with {token:?}: {}", refused.body);
            assert!(refused.body.contains("This form has expired"), "{path}: {}", refused.body);
        }
    }
    assert_eq!(browser.get("/users").await.status, 200, "still signed in: /logout was refused too");
    let after = f.admin.get(&f.path("/activity")).await.expect(200)["items"].as_array().map_or(0, Vec::len);
    assert_eq!(after, before, "nothing happened");
}

on_both_backends!(
    every_form_needs_its_token,
    the_users_screen_pages_many_people,
    a_users_alert_rules_are_on_their_form,
    the_owner_changes_a_channel_on_its_page,
    the_owner_shares_access_and_withdraws_the_link,
    refusals_are_pages_in_plain_words,
    first_run_setup_sign_in_and_out,
    failed_sign_ins_are_throttled_visibly,
    the_users_screen_escapes_names_and_never_shows_codes,
    add_edit_reveal_and_delete_a_user_through_the_forms,
    activity_page_filters_downloads_and_streams_live,
    locks_settings_and_tokens_pages,
    owners_invite_further_owners_with_a_one_time_link,
    editing_a_user_keeps_every_schedule_window,
    live_activity_ends_with_the_session,
    duress_is_shown_to_owners_and_admins_only,
    invitation_links_never_use_an_injected_host,
);
