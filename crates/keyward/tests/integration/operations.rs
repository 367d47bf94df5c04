//! Running keyward: first start, the CLI, restarts, crashes, keys, and
//! what reaches the disk and the logs.

use std::time::Duration;

use crate::support::*;
use serde_json::json;

#[test]
fn version() {
    let (ok, stdout, _) = cli(&["--version"]);
    assert!(ok);
    assert_eq!(stdout.trim(), format!("keyward {}", env!("CARGO_PKG_VERSION")));
}

async fn first_start_prints_the_exact_token_command_once(backend: Backend) {
    let place = Place::named(backend, "my data");
    let server = place.start();
    let output = server.wait_for_output("token create");
    let command = output
        .lines()
        .find(|l| l.contains("token create"))
        .unwrap_or_else(|| panic!("no token command in:\n{output}"))
        .trim()
        .to_owned();
    // The printed command works as printed, while the server runs.
    let run = std::process::Command::new("sh").arg("-c").arg(&command).output().expect("sh");
    assert!(run.status.success(), "{command}: {}", String::from_utf8_lossy(&run.stderr));
    let token = String::from_utf8_lossy(&run.stdout).lines().last().expect("a token").to_owned();
    assert!(token.starts_with("kw_") && token.len() == 67, "{token}");
    let homes = server.api(&token).get("/api/v1/homes").await.expect(200);
    assert_eq!(homes["items"][0]["timezone"], "UTC", "UTC unless configured");
    let (status, _) = server.terminate();
    assert!(status.success());
    let again = place.start();
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!again.output().contains("token create"), "only on the first start");
}

async fn token_cli_creates_lists_and_revokes(backend: Backend) {
    let place = Place::new(backend);
    let server = place.start();
    let (ok, stdout, _) = place.cli(&["token", "create", "--name", "ha", "--scope", "read"]);
    assert!(ok);
    let secret = stdout.lines().last().expect("token").to_owned();
    let api = server.api(&secret);
    api.get("/api/v1/homes").await.expect(200);
    let (ok, listing, _) = place.cli(&["token", "list"]);
    assert!(ok && listing.contains("ha") && listing.contains("read"));
    assert!(!listing.contains(&secret[3..]), "a listing never shows a secret");
    let id =
        listing.lines().find(|l| l.contains(" ha")).and_then(|l| l.split_whitespace().next()).expect("id").to_owned();
    assert!(place.cli(&["token", "revoke", &id]).0);
    assert!(!place.cli(&["token", "revoke", &id]).0, "revoking twice is an error");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    api.get("/api/v1/homes").await.expect_error(401, "unauthorized");

    let (ok, _, stderr) = place.cli(&["token", "create", "--name", "x", "--scope", "root"]);
    assert!(!ok && stderr.contains("--scope"));
    let (ok, _, stderr) = place.cli(&["token", "create", "--name", "x", "--scope", "device", "--home", "nope"]);
    assert!(!ok && stderr.contains("home"), "{stderr}");
}

async fn configuration_from_a_file_and_the_environment(backend: Backend) {
    let place = Place::new(backend);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("keyward.toml");
    std::fs::write(&config, "timezone = \"America/New_York\"\nlisten = \"127.0.0.1:1\"\n").expect("write");
    // The flag (--listen 127.0.0.1:0, from the harness) wins over the file.
    let server = place.start_with(&["--config", config.to_str().expect("utf-8")], &[]);
    let admin = server.api(&place.token("admin", None));
    assert_eq!(admin.get("/api/v1/homes").await.expect(200)["items"][0]["timezone"], "America/New_York");
    drop(server);

    let other = Place::new(backend);
    let server = other.start_with(&[], &[("KEYWARD_TIMEZONE", "Asia/Tokyo")]);
    let admin = server.api(&other.token("admin", None));
    assert_eq!(admin.get("/api/v1/homes").await.expect(200)["items"][0]["timezone"], "Asia/Tokyo");
}

async fn sigterm_stops_cleanly(backend: Backend) {
    let f = Fixture::new(backend).await;
    let (status, output) = f.server.terminate();
    assert!(status.success(), "{output}");
    assert!(output.contains("stopped"), "{output}");
}

async fn acknowledged_accesses_survive_kill_9(backend: Backend) {
    // 300 requests at once from one address: more than one client may hold.
    let f = Fixture::with_env(backend, &[], &[("KEYWARD_HTTP_MAX_CONNECTIONS_PER_CLIENT", "400")]).await;
    let front = f.admin.create_lock(&f.home, "Front door").await;
    f.admin.create_user(&f.home, json!({"name": "Owner", "code": "4719", "locks": "all"})).await;
    let device = f.token("device", None);
    let attempts = 300;
    let mut tasks = Vec::new();
    for i in 0..attempts {
        let device = device.clone();
        let (home, front) = (f.home.clone(), front.clone());
        tasks.push(tokio::spawn(async move {
            // Mostly grants; some wrong codes, which also lock the device out.
            let code = if i % 10 == 0 { "5555" } else { "4719" };
            device.access(&home, code, &front, "unlock").await.status.as_u16()
        }));
    }
    let mut acknowledged = 0;
    for task in tasks {
        if task.await.expect("joined") == 200 {
            acknowledged += 1;
        }
    }
    assert_eq!(acknowledged, attempts);
    let Fixture { place, server, home, .. } = f;
    server.kill_9();

    let server = place.start();
    let admin = server.api(&place.token("admin", None));
    let mut logged = 0;
    let mut cursor = String::new();
    loop {
        let page = admin.get(&format!("/api/v1/homes/{home}/activity?limit=500{cursor}")).await.expect(200);
        logged += page["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|e| e["device"] == front.as_str() && e["outcome"].is_string())
            .count();
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(logged, attempts, "every acknowledged attempt is in the log after kill -9");
}

async fn lockouts_and_use_counts_survive_a_restart(backend: Backend) {
    let f = Fixture::new(backend).await;
    let front = f.admin.create_lock(&f.home, "Front door").await;
    let user =
        f.admin.create_user(&f.home, json!({"name": "Owner", "code": "4719", "locks": "all", "max_uses": 3})).await;
    let device = f.token("device", None);
    assert_eq!(device.access(&f.home, "4719", "panel", "disarm").await.expect(200)["granted"], false);
    assert_eq!(device.access(&f.home, "4719", &front, "unlock").await.expect(200)["granted"], true);
    assert_eq!(device.access(&f.home, "4719", &front, "unlock").await.expect(200)["granted"], true);
    for wrong in ["1000", "1001", "1002"] {
        device.access(&f.home, wrong, &front, "unlock").await.expect(200);
    }
    let Fixture { place, server, home, .. } = f;
    server.kill_9();

    let server = place.start();
    let admin = server.api(&place.token("admin", None));
    let locked = admin.access(&home, "4719", &front, "unlock").await.expect(200);
    assert_eq!(locked["reason"], "locked_out", "a lockout holds across a restart");
    assert!(locked["retry_after_seconds"].as_u64().is_some_and(|s| s > 0 && s <= 90));
    let user = admin.get(&format!("/api/v1/homes/{home}/users/{user}")).await.expect(200);
    assert_eq!(user["uses"], 2, "uses survive a restart");
    assert!(user["last_used_at"].as_str().is_some_and(|t| t.starts_with("20")), "and so does the last use");
}

async fn a_missing_or_wrong_key_is_a_clear_start_up_error(backend: Backend) {
    let f = Fixture::new(backend).await;
    f.admin.create_user(&f.home, json!({"name": "Owner", "code": "4719"})).await;
    let Fixture { place, server, .. } = f;
    server.terminate();
    let key = place.data_dir.join("keyward.key");
    let saved = std::fs::read(&key).expect("key");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).expect("meta").permissions());
    assert_eq!(mode & 0o777, 0o600, "the key is readable by its owner only");

    std::fs::remove_file(&key).expect("rm");
    let serve = || {
        std::process::Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(place.args())
            .output()
            .expect("runs")
    };
    let out = serve();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("keyward.key") && stderr.contains("missing"), "{stderr}");
    assert!(!key.exists(), "no silent new key over existing data");

    std::fs::write(&key, [9u8; 32]).expect("write");
    let out = serve();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("does not match"), "{stderr}");

    std::fs::write(&key, &saved).expect("restore");
    let server = place.start();
    let admin = server.api(&place.token("admin", None));
    let home = admin.home_id().await;
    assert_eq!(admin.access(&home, "4719", "panel", "arm_away").await.expect(200)["reason"], "not_permitted");
}

/// The codes used here are 8 digits, so a chance match in ids or times is
/// practically impossible: any hit is a leak.
async fn no_code_reaches_the_database_or_the_output(backend: Backend) {
    let f = Fixture::with_args(backend, &["--log", "debug"]).await;
    let front = f.admin.create_lock(&f.home, "Front door").await;
    let codes = ["73914682", "58203917", "40617395", "91750284", "26048173", "83162940"];
    let a = f
        .admin
        .create_user(&f.home, json!({"name": "A", "code": codes[0], "locks": "all", "panel": {"disarm": true}}))
        .await;
    let b =
        f.admin.create_user(&f.home, json!({"name": "B", "code": codes[1], "kind": "duress", "locks": "all"})).await;
    f.admin.patch(&f.path(&format!("/users/{a}")), json!({"code": codes[2]})).await.expect(200);
    f.admin.post(&f.path("/users"), json!({"name": "C", "code": codes[2]})).await.expect_error(409, "code_in_use");
    f.admin
        .post(&f.path("/users"), json!({"name": "C", "code": codes[3].parse::<u64>().expect("digits")}))
        .await
        .expect_error(422, "invalid_request");
    let device = f.token("device", None);
    for code in [codes[2], codes[1], codes[4], codes[0]] {
        device.access(&f.home, code, &front, "unlock").await.expect(200);
        device.access(&f.home, code, "panel", "disarm").await.expect(200);
    }
    f.admin
        .post(&f.path("/access/preview"), json!({"code": codes[5], "device": "panel", "action": "disarm"}))
        .await
        .expect(200);
    assert_eq!(f.admin.post(&f.path(&format!("/users/{b}/reveal")), json!({})).await.expect(200)["code"], codes[1]);
    f.admin.delete(&f.path(&format!("/users/{b}"))).await.expect(204);
    let activity = f.admin.get(&f.path("/activity?limit=500")).await;

    let Fixture { place, server, .. } = f;
    let (_, output) = server.terminate();
    let mut files = place.stored();
    assert!(files.iter().any(|(name, _)| name.ends_with("keyward.key")));
    match backend {
        Backend::Sqlite => assert!(files.iter().any(|(name, _)| name.ends_with("keyward.db"))),
        Backend::Postgres => {
            let dump = &files.iter().find(|(name, _)| name.starts_with("database")).expect("the database").1;
            let text = String::from_utf8_lossy(dump);
            assert!(text.contains("users: ") && text.contains("activity: "), "the dump holds the rows");
        }
    }
    files.push(("server output".to_owned(), output.into_bytes()));
    files.push(("activity response".to_owned(), activity.text.into_bytes()));
    for code in codes {
        for (name, bytes) in &files {
            assert!(!bytes.windows(code.len()).any(|w| w == code.as_bytes()), "{code} found in {name}");
        }
    }
}

async fn owner_cli_prints_setup_codes_and_resets_passwords(backend: Backend) {
    let place = Place::new(backend);
    let server = place.start();
    let code = server.setup_code();
    assert_eq!(code.len(), 14, "{code}");
    assert_ne!(Place::new(backend).start().setup_code(), code, "each data directory has its own");
    let (ok, fresh, _) = place.cli(&["owner", "setup-code"]);
    assert!(ok && fresh.trim().len() == 14 && fresh.trim() != code, "a new code replaces the old: {fresh}");
    let (ok, _, stderr) = place.cli(&["owner", "reset-password", "--email", "nobody@example.org"]);
    assert!(!ok, "{stderr}");
}

async fn commands_other_than_serve_never_make_data(backend: Backend) {
    let place = Place::new(backend);
    let (ok, _, stderr) = place.cli(&["token", "create", "--name", "x", "--scope", "admin"]);
    assert!(!ok && stderr.contains("does not exist") && stderr.contains("keyward serve"), "{stderr}");
    assert!(!place.data_dir.exists(), "no second, empty data directory");
    std::fs::create_dir(&place.data_dir).expect("an empty data directory");
    for command in [&["token", "list"][..], &["owner", "setup-code"]] {
        let (ok, _, stderr) = place.cli(command);
        assert!(!ok && stderr.contains("start `keyward serve`"), "{command:?}: {stderr}");
    }
    assert_eq!(std::fs::read_dir(&place.data_dir).expect("dir").count(), 0, "no key, no database file");
    if let Some(db) = &place.database {
        assert_eq!(db.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), ["0"], "no schema");
    }
    // Once served, the same commands work.
    drop(place.start());
    assert!(place.cli(&["token", "list"]).0);
}

async fn every_command_reads_the_same_configuration(backend: Backend) {
    let place = Place::new(backend);
    let dir = tempfile::tempdir().expect("tempdir");
    // The database URL comes from a file, as container secrets do; on SQLite
    // it names a database outside the data directory.
    let url = match &place.database {
        Some(db) => db.url.clone(),
        None => format!("sqlite://{}", dir.path().join("elsewhere.db").display()),
    };
    let url_file = dir.path().join("database-url");
    std::fs::write(&url_file, format!("{url}\n")).expect("write");
    let config = dir.path().join("keyward.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\ntimezone = \"Pacific/Auckland\"\n\n[database]\nurl_file = {:?}\n",
            place.data_dir.display().to_string(),
            url_file.display().to_string()
        ),
    )
    .expect("write");
    let config = config.to_str().expect("utf-8");
    let server = Server::start(&["--config".to_owned(), config.to_owned()], &[]);
    let (ok, stdout, stderr) = cli(&["token", "create", "--config", config, "--name", "a", "--scope", "admin"]);
    assert!(ok, "{stderr}");
    let admin = server.api(stdout.lines().last().expect("token"));
    assert_eq!(admin.get("/api/v1/homes").await.expect(200)["items"][0]["timezone"], "Pacific/Auckland");
    let (ok, listing, stderr) = cli_with(&["token", "list"], &[("KEYWARD_CONFIG", config)]);
    assert!(ok && listing.contains(" a"), "{stderr}");
    let data_dir = place.data_dir.to_str().expect("utf-8");
    let from_env = [("KEYWARD_DATA_DIR", data_dir), ("KEYWARD_DATABASE_URL_FILE", url_file.to_str().expect("utf-8"))];
    assert!(cli_with(&["token", "list"], &from_env).0, "the same from the environment alone");
    if backend == Backend::Sqlite {
        assert!(dir.path().join("elsewhere.db").exists());
        assert!(!place.data_dir.join("keyward.db").exists(), "the URL, not the data directory, names the database");
    }
    assert!(place.data_dir.join("keyward.key").exists(), "the key stays in the data directory");
    drop(server);
}

async fn every_request_has_an_id_in_its_answer_and_its_log_lines(backend: Backend) {
    let place = Place::new(backend);
    let server = place.start_with(&["--log", "debug"], &[]);
    let client = reqwest::Client::new();
    let id_of =
        |r: &reqwest::Response| r.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let first = client.get(format!("{}/healthz", server.base)).send().await.expect("answer");
    let second = client.get(format!("{}/healthz", server.base)).send().await.expect("answer");
    let (first, second) = (id_of(&first).expect("an id"), id_of(&second).expect("an id"));
    assert!(first.len() == 16 && first != second, "{first} {second}");
    let kept = client.get(format!("{}/healthz", server.base)).header("x-request-id", "proxy-7.a_b").send().await;
    assert_eq!(id_of(&kept.expect("answer")).as_deref(), Some("proxy-7.a_b"), "a proxy's id is kept");
    let odd = client.get(format!("{}/healthz", server.base)).header("x-request-id", "a b").send().await;
    assert_ne!(id_of(&odd.expect("answer")).as_deref(), Some("a b"), "but only a plain one");
    // Answers from no route and from a method a route does not take have them too.
    let missing = client.get(format!("{}/nowhere", server.base)).send().await.expect("answer");
    let refused = client.put(format!("{}/healthz", server.base)).send().await.expect("answer");
    for answer in [&missing, &refused] {
        assert!(id_of(answer).is_some(), "{}", answer.status());
        assert!(answer.headers().get("content-security-policy").is_some(), "{}", answer.status());
    }
    assert_eq!((missing.status().as_u16(), refused.status().as_u16()), (404, 405));

    // A failed sign-in is logged by the use case, inside its request's span;
    // never the password, never an invitation's secret from the path (only
    // the route pattern).
    let login = client.get(format!("{}/login", server.base)).send().await.expect("answer");
    let cookie = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.split(';').next().filter(|pair| pair.starts_with("kw_csrf=")))
        .expect("a CSRF cookie")
        .to_owned();
    let page = login.text().await.expect("page");
    let at = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    let csrf = page[at..at + 64].to_owned();
    let password = "hunter2 is not it";
    let form = [("email", "nobody@example.org"), ("password", password), ("csrf", csrf.as_str())];
    let refused = client
        .post(format!("{}/login", server.base))
        .header("x-request-id", "signin-42")
        .header("cookie", cookie)
        .form(&form)
        .send()
        .await
        .expect("answer");
    assert_eq!(refused.status().as_u16(), 401);
    let invite = "kwi_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    client.get(format!("{}/invite/{invite}", server.base)).send().await.expect("answer");
    let output = server.wait_for_output("route=/invite/{secret}");
    assert!(output.contains("route=(no route)") && output.contains("route=(method not allowed)"), "{output}");
    let line = output.lines().find(|l| l.contains("failed sign-in")).unwrap_or_else(|| panic!("no line:\n{output}"));
    assert!(line.contains("id=signin-42") && line.contains("route=/login"), "{line}");
    assert!(!output.contains(password) && !output.contains(invite), "{output}");
}

async fn a_failed_write_is_an_error_logged_once_and_the_hub_carries_on(backend: Backend) {
    let f = Fixture::new(backend).await;
    let front = f.admin.create_lock(&f.home, "Front door").await;
    f.admin.create_user(&f.home, json!({"name": "Walker", "code": "73914682", "locks": "all"})).await;
    // The database refuses every new activity entry, as a full disk would.
    let (refuse, allow) = refusing_activity_writes(backend);
    f.place.execute(refuse);
    let device = f.token("device", None);
    let client = reqwest::Client::new();
    let failed = client
        .post(format!("{}{}", f.server.base, f.path("/access")))
        .bearer_auth(device_secret(&device))
        .header("x-request-id", "full-disk-1")
        .json(&json!({"code": "73914682", "device": front, "action": "unlock"}))
        .send()
        .await
        .expect("answer");
    assert_eq!(failed.status().as_u16(), 500, "an attempt that could not be logged is not acknowledged");
    let body = failed.text().await.expect("body");
    assert!(body.contains("\"internal\"") && !shows_code(&body, "73914682"), "{body}");
    let output = f.server.wait_for_output("full-disk-1");
    let lines: Vec<&str> = output.lines().filter(|l| l.contains("full-disk-1")).collect();
    assert_eq!(lines.len(), 1, "logged once, at the edge: {lines:?}");
    assert!(lines[0].contains("ERROR") && lines[0].contains("no space left"), "{}", lines[0]);
    assert!(!shows_code(&output, "73914682"), "never the code");

    f.place.execute(allow);
    let granted = device.access(&f.home, "73914682", &front, "unlock").await.expect(200);
    assert_eq!(granted["granted"], true, "the hub carries on once the database takes writes again");
    let log = f.admin.get(&f.path("/activity?outcome=granted")).await.expect(200);
    assert_eq!(log["items"].as_array().map(Vec::len), Some(1), "only the acknowledged attempt is in the log");
}

/// SQL that makes the database refuse every new activity entry (as a full
/// disk would), and SQL that lets it take them again.
fn refusing_activity_writes(backend: Backend) -> (&'static str, &'static str) {
    match backend {
        Backend::Sqlite => (
            "CREATE TRIGGER refuse BEFORE INSERT ON activity BEGIN SELECT RAISE(ABORT, 'no space left (test)'); END;",
            "DROP TRIGGER refuse;",
        ),
        Backend::Postgres => (
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN RAISE EXCEPTION 'no space left (test)'; END $$;
             CREATE TRIGGER refuse BEFORE INSERT ON activity FOR EACH STATEMENT EXECUTE FUNCTION refuse();",
            "DROP TRIGGER refuse ON activity; DROP FUNCTION refuse();",
        ),
    }
}

async fn a_failed_write_leaves_the_counts_as_they_were(backend: Backend) {
    let f = Fixture::new(backend).await;
    let front = f.admin.create_lock(&f.home, "Front door").await;
    let walker = f.admin.create_user(&f.home, json!({"name": "Walker", "code": "4719", "locks": "all"})).await;
    let device = f.token("device", None);
    let uses = || async { f.admin.get(&f.path(&format!("/users/{walker}"))).await.expect(200)["uses"].clone() };
    let (refuse, allow) = refusing_activity_writes(backend);
    f.place.execute(refuse);
    // A grant and two wrong codes, none of which could be written: each is
    // answered with an error, and none may be counted.
    for code in ["4719", "1000", "1001", "4719"] {
        let answer = device.access(&f.home, code, &front, "unlock").await;
        assert_eq!(answer.status.as_u16(), 500, "{code}: {}", answer.text);
    }
    assert_eq!(uses().await, 0, "no use was counted");
    f.place.execute(allow);

    // Two wrong codes now are the device's first two: the third would lock
    // it, so the right code still opens.
    for code in ["1002", "1003"] {
        assert_eq!(device.access(&f.home, code, &front, "unlock").await.expect(200)["granted"], false);
    }
    assert_eq!(device.access(&f.home, "4719", &front, "unlock").await.expect(200)["granted"], true);
    assert_eq!(uses().await, 1);
    // And the store agrees with memory.
    let Fixture { place, server, .. } = f;
    drop(server);
    let server = place.start();
    let admin = server.api(&place.token("admin", None));
    let home = admin.home_id().await;
    let stored = admin.get(&format!("/api/v1/homes/{home}/users/{walker}")).await.expect(200);
    assert_eq!(stored["uses"], 1);
}

fn device_secret(api: &Api) -> String {
    api.token().expect("a token").to_owned()
}

async fn data_files_are_private_whatever_the_directory_mode(backend: Backend) {
    use std::os::unix::fs::PermissionsExt;
    let place = Place::new(backend);
    std::fs::create_dir(&place.data_dir).expect("dir");
    std::fs::set_permissions(&place.data_dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let server = place.start();
    let admin = server.api(&place.token("admin", None));
    let home = admin.home_id().await;
    admin.create_user(&home, json!({"name": "Walker", "code": "4719"})).await;
    let output = server.wait_for_output("readable by other users");
    assert!(output.contains("chmod 700"), "{output}");
    let mut seen = 0;
    for entry in std::fs::read_dir(&place.data_dir).expect("dir") {
        let path = entry.expect("entry").path();
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is mode {mode:o}", path.display());
        seen += 1;
    }
    assert!(seen >= if backend == Backend::Sqlite { 4 } else { 1 }, "the key, and the database with its WAL");
}

async fn an_emptied_database_beside_its_key_is_refused(backend: Backend) {
    let place = Place::new(backend);
    let server = place.start();
    let admin = server.api(&place.token("admin", None));
    admin.create_user(&admin.home_id().await, json!({"name": "Walker", "code": "4719"})).await;
    server.terminate();
    // The database is lost (an empty file, or a database without keyward's
    // tables) while the key is still there.
    match &place.database {
        None => std::fs::write(place.data_dir.join("keyward.db"), b"").expect("truncate"),
        Some(db) => db.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;"),
    }
    for file in ["keyward.db-wal", "keyward.db-shm"] {
        let _ = std::fs::remove_file(place.data_dir.join(file));
    }
    let (started, stderr) = serve_expecting_refusal(&place);
    assert!(!started, "{stderr}");
    assert!(stderr.contains("keyward.key") && stderr.contains("restore"), "{stderr}");
    let (ok, _, stderr) = place.cli(&["token", "list"]);
    assert!(!ok && stderr.contains("keyward serve"), "a command does not set up a database either: {stderr}");
    if backend == Backend::Sqlite {
        assert_eq!(std::fs::metadata(place.data_dir.join("keyward.db")).expect("db").len(), 0, "left as it was");
    }

    // Without a key, an empty database file is a new installation, with its setup code.
    let fresh = Place::new(backend);
    std::fs::create_dir(&fresh.data_dir).expect("dir");
    if backend == Backend::Sqlite {
        std::fs::write(fresh.data_dir.join("keyward.db"), b"").expect("empty file");
    }
    let server = fresh.start();
    assert_eq!(server.setup_code().len(), 14);
}

async fn a_damaged_stored_code_is_reported_and_the_home_keeps_working(backend: Backend) {
    let f = Fixture::new(backend).await;
    let front = f.admin.create_lock(&f.home, "Front door").await;
    let broken = f.admin.create_user(&f.home, json!({"name": "Broken", "code": "40617", "locks": "all"})).await;
    f.admin.create_user(&f.home, json!({"name": "Fine", "code": "91750", "locks": "all"})).await;
    let Fixture { place, server, home, .. } = f;
    server.terminate();
    // One sealed code is damaged (a bad restore, a flipped bit).
    match backend {
        Backend::Sqlite => place.execute(&format!("UPDATE users SET code_sealed = X'00112233' WHERE id = '{broken}'")),
        Backend::Postgres => {
            place.execute(&format!("UPDATE users SET code_sealed = '\\x00112233'::bytea WHERE id = '{broken}'"))
        }
    }
    let server = place.start();
    let admin = server.api(&place.token("admin", None));
    let output = server.wait_for_output("needs a new code");
    assert!(output.lines().any(|l| l.contains("needs a new code") && l.contains(&broken)), "{output}");
    let users = |path: String| {
        let admin = admin.clone();
        async move { admin.get(&path).await.expect(200) }
    };
    let path = |rest: &str| format!("/api/v1/homes/{home}{rest}");
    assert_eq!(users(path(&format!("/users/{broken}"))).await["needs_new_code"], true);
    let mut browser = crate::ui::signed_in(&server, &place).await;
    assert!(browser.get("/users").await.body.contains("needs a new code"), "the owner sees it");
    // The rest of the home works: new users, changed codes, generated codes.
    admin.create_user(&home, json!({"name": "New", "code": "26048"})).await;
    let listed = users(path("/users")).await;
    let fine = listed["items"].as_array().expect("items").iter().find(|u| u["name"] == "Fine").expect("Fine").clone();
    assert_eq!(fine["needs_new_code"], false);
    admin
        .patch(&path(&format!("/users/{}", fine["id"].as_str().expect("id"))), json!({"code": "83162"}))
        .await
        .expect(200);
    // The damaged code cannot be revealed; saying so is not a server failure.
    admin.post(&path(&format!("/users/{broken}/reveal")), json!({})).await.expect_error(409, "code_damaged");
    // Its code still opens (keypads find codes by their keyed digest), and a
    // new code mends the user.
    assert_eq!(admin.access(&home, "40617", &front, "unlock").await.expect(200)["granted"], true);
    let mended = admin.patch(&path(&format!("/users/{broken}")), json!({"code": "73914"})).await.expect(200);
    assert_eq!(mended["needs_new_code"], false);
    assert_eq!(admin.post(&path(&format!("/users/{broken}/reveal")), json!({})).await.expect(200)["code"], "73914");
}

/// A free loopback port (for a server whose output cannot be read).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

async fn a_full_log_disk_or_closed_output_never_stops_the_hub(backend: Backend) {
    let place = Place::new(backend);
    let port = free_port();
    // Standard error on a full disk, standard output closed before the first
    // start prints its setup code.
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let mut child = std::process::Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(place.args())
        .stdout(writer)
        .stderr(std::fs::File::options().write(true).open("/dev/full").expect("/dev/full"))
        .spawn()
        .expect("serve");
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..200 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(up, "the hub starts: {:?}", child.try_wait());
    // A failed sign-in writes a warning to the log.
    let form = [("email", "nobody@example.org"), ("password", "wrong password!"), ("csrf", "x")];
    client.post(format!("{base}/login")).form(&form).send().await.expect("answer");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(child.try_wait().expect("wait"), None, "still running");
    assert_eq!(client.get(format!("{base}/healthz")).send().await.expect("answer").status().as_u16(), 200);
    let _ = child.kill();
    let _ = child.wait();

    // A command whose standard output is closed says so, with its own status.
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let created = std::process::Command::new(BIN)
        .args(["token", "create", "--name", "lost", "--scope", "read"])
        .args(place.args())
        .stdout(writer)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&created.stderr);
    assert_eq!(created.status.code(), Some(74), "EX_IOERR: {stderr}");
    assert!(stderr.contains("standard output") && stderr.contains("token revoke"), "{stderr}");
}

/// One instance per PostgreSQL database: a second `serve` refuses clearly,
/// and changes nothing.
#[tokio::test]
async fn postgres_refuses_a_second_instance_on_the_same_database() {
    let place = Place::new(Backend::Postgres);
    let first = place.start();
    let admin = first.api(&place.token("admin", None));
    let home = admin.home_id().await;
    let out = std::process::Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(place.args())
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("another keyward is serving this PostgreSQL database"), "{stderr}");
    assert_eq!(admin.home_id().await, home, "the first one serves on");
}

/// A restarted database server ends keyward's connections; the hub makes
/// them again (and takes its instance lock again) without a restart.
#[tokio::test]
async fn postgres_connections_are_made_again_after_they_are_lost() {
    let f = Fixture::new(Backend::Postgres).await;
    let front = f.admin.create_lock(&f.home, "Front door").await;
    f.admin.create_user(&f.home, json!({"name": "Walker", "code": "4719", "locks": "all"})).await;
    let device = f.token("device", None);
    f.place.database.as_ref().expect("a database").drop_connections();
    let mut granted = false;
    for _ in 0..50 {
        let reply = device.access(&f.home, "4719", &front, "unlock").await;
        if reply.status.as_u16() == 200 {
            granted = reply.body["granted"] == true;
            break;
        }
        // At most the attempt that met the dead connection fails.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(granted, "the hub reconnected");
    let activity = f.admin.get(&f.path("/activity")).await.expect(200);
    assert!(activity["items"].as_array().is_some_and(|items| !items.is_empty()));
    let second = std::process::Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(f.place.args())
        .output()
        .expect("runs");
    assert!(!second.status.success(), "the instance lock was taken again with the new connection");
}

on_both_backends!(
    first_start_prints_the_exact_token_command_once,
    token_cli_creates_lists_and_revokes,
    configuration_from_a_file_and_the_environment,
    sigterm_stops_cleanly,
    acknowledged_accesses_survive_kill_9,
    lockouts_and_use_counts_survive_a_restart,
    a_missing_or_wrong_key_is_a_clear_start_up_error,
    no_code_reaches_the_database_or_the_output,
    owner_cli_prints_setup_codes_and_resets_passwords,
    commands_other_than_serve_never_make_data,
    every_command_reads_the_same_configuration,
    every_request_has_an_id_in_its_answer_and_its_log_lines,
    a_failed_write_is_an_error_logged_once_and_the_hub_carries_on,
    a_failed_write_leaves_the_counts_as_they_were,
    data_files_are_private_whatever_the_directory_mode,
    an_emptied_database_beside_its_key_is_refused,
    a_damaged_stored_code_is_reported_and_the_home_keeps_working,
    a_full_log_disk_or_closed_output_never_stops_the_hub,
);

/// A Z-Wave JS URL with a user and password is refused without being
/// repeated, as is a wss:// one; `serve --help` never prints the value of
/// an environment variable that holds a URL.
#[test]
fn a_zwave_js_url_never_shows_its_credentials() {
    let place = Place::new(Backend::Sqlite);
    for url in ["ws://kw:s3cret-pass@127.0.0.1:3000", "wss://kw:s3cret-pass@zwave.example:3000"] {
        let (started, stderr) = serve_expecting_refusal_with(&place, &["--zwave-js-url", url]);
        assert!(!started, "{url} was accepted");
        assert!(stderr.contains("zwave_js url"), "{stderr}");
        assert!(!stderr.contains("s3cret-pass"), "the refusal repeats the password: {stderr}");
    }
    let secret_env = [
        ("KEYWARD_ZWAVE_JS_URL", "ws://kw:s3cret-pass@127.0.0.1:3000"),
        ("KEYWARD_MQTT_URL", "mqtt://kw:s3cret-pass@127.0.0.1:1883"),
    ];
    let (ok, help, _) = cli_with(&["serve", "--help"], &secret_env);
    assert!(ok && help.contains("--zwave-js-url"), "{help}");
    assert!(!help.contains("s3cret-pass"), "serve --help prints a URL's password:\n{help}");
}

/// Issue 21 item 9: the MQTT client id is random, kept in the data
/// directory (so nobody can compute it from the path and take keyward's
/// broker session over), the same after a restart, and one per installation.
#[test]
fn the_mqtt_client_id_is_random_and_kept() {
    use std::os::unix::fs::PermissionsExt;
    let ids: Vec<String> = (0..2)
        .map(|_| {
            let place = Place::new(Backend::Sqlite);
            let first = place.start_with(&["--mqtt-url", "mqtt://127.0.0.1:1883"], &[]);
            first.wait_for_output("MQTT connected");
            drop(first);
            let path = place.data_dir.join("mqtt-client-id");
            let id = std::fs::read_to_string(&path).expect("kept in the data directory").trim().to_owned();
            assert!(id.starts_with("keyward-") && id.len() == "keyward-".len() + 16, "{id}");
            assert_eq!(std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o600);
            let again = place.start_with(&["--mqtt-url", "mqtt://127.0.0.1:1883"], &[]);
            again.wait_for_output("MQTT connected");
            drop(again);
            let kept = std::fs::read_to_string(&path).expect("kept").trim().to_owned();
            assert_eq!(kept, id, "the same after a restart");
            id
        })
        .collect();
    assert_ne!(ids[0], ids[1], "one per installation");
}
