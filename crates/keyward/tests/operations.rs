//! Running keyward: first start, the CLI, restarts, crashes, keys, and
//! what reaches the disk and the logs.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use support::*;

#[test]
fn version() {
    let (ok, stdout, _) = cli(&["--version"]);
    assert!(ok);
    assert_eq!(stdout.trim(), format!("keyward {}", env!("CARGO_PKG_VERSION")));
}

#[tokio::test]
async fn first_start_prints_the_exact_token_command_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("my data");
    let server = Server::start(&data);
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
    let again = Server::start(&data);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!again.output().contains("token create"), "only on the first start");
}

#[tokio::test]
async fn token_cli_creates_lists_and_revokes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let d = data.to_str().expect("utf-8");
    let (ok, stdout, _) = cli(&["token", "create", "--data-dir", d, "--name", "ha", "--scope", "read"]);
    assert!(ok);
    let secret = stdout.lines().last().expect("token").to_owned();
    let api = server.api(&secret);
    api.get("/api/v1/homes").await.expect(200);
    let (ok, listing, _) = cli(&["token", "list", "--data-dir", d]);
    assert!(ok && listing.contains("ha") && listing.contains("read"));
    assert!(!listing.contains(&secret[3..]), "a listing never shows a secret");
    let id =
        listing.lines().find(|l| l.contains(" ha")).and_then(|l| l.split_whitespace().next()).expect("id").to_owned();
    assert!(cli(&["token", "revoke", "--data-dir", d, &id]).0);
    assert!(!cli(&["token", "revoke", "--data-dir", d, &id]).0, "revoking twice is an error");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    api.get("/api/v1/homes").await.expect_error(401, "unauthorized");

    let (ok, _, stderr) = cli(&["token", "create", "--data-dir", d, "--name", "x", "--scope", "root"]);
    assert!(!ok && stderr.contains("--scope"));
    let (ok, _, stderr) =
        cli(&["token", "create", "--data-dir", d, "--name", "x", "--scope", "device", "--home", "nope"]);
    assert!(!ok && stderr.contains("home"), "{stderr}");
}

#[tokio::test]
async fn configuration_from_a_file_and_the_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let config = dir.path().join("keyward.toml");
    std::fs::write(&config, "timezone = \"America/New_York\"\nlisten = \"127.0.0.1:1\"\n").expect("write");
    // The flag (--listen 127.0.0.1:0, from the harness) wins over the file.
    let server = Server::start_with(&data, &["--config", config.to_str().expect("utf-8")], &[]);
    let admin = server.api(&token(&data, "admin", None));
    assert_eq!(admin.get("/api/v1/homes").await.expect(200)["items"][0]["timezone"], "America/New_York");
    drop(server);

    let data2 = dir.path().join("data2");
    let server = Server::start_with(&data2, &[], &[("KEYWARD_TIMEZONE", "Asia/Tokyo")]);
    let admin = server.api(&token(&data2, "admin", None));
    assert_eq!(admin.get("/api/v1/homes").await.expect(200)["items"][0]["timezone"], "Asia/Tokyo");
}

#[tokio::test]
async fn sigterm_stops_cleanly() {
    let f = Fixture::new().await;
    let (status, output) = f.server.terminate();
    assert!(status.success(), "{output}");
    assert!(output.contains("stopped"), "{output}");
}

#[tokio::test]
async fn acknowledged_accesses_survive_kill_9() {
    let f = Fixture::new().await;
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
    let Fixture { dir, server, home, .. } = f;
    server.kill_9();

    let server = Server::start(&dir.path().join("data"));
    let admin = server.api(&admin_token(&dir.path().join("data")));
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

fn admin_token(data: &Path) -> String {
    token(data, "admin", None)
}

#[tokio::test]
async fn lockouts_and_use_counts_survive_a_restart() {
    let f = Fixture::new().await;
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
    let Fixture { dir, server, home, .. } = f;
    server.kill_9();

    let data = dir.path().join("data");
    let server = Server::start(&data);
    let admin = server.api(&admin_token(&data));
    let locked = admin.access(&home, "4719", &front, "unlock").await.expect(200);
    assert_eq!(locked["reason"], "locked_out", "a lockout holds across a restart");
    assert!(locked["retry_after_seconds"].as_u64().is_some_and(|s| s > 0 && s <= 90));
    let user = admin.get(&format!("/api/v1/homes/{home}/users/{user}")).await.expect(200);
    assert_eq!(user["uses"], 2, "uses survive a restart");
    assert!(user["last_used_at"].as_str().is_some_and(|t| t.starts_with("20")), "and so does the last use");
}

#[tokio::test]
async fn a_missing_or_wrong_key_is_a_clear_start_up_error() {
    let f = Fixture::new().await;
    f.admin.create_user(&f.home, json!({"name": "Owner", "code": "4719"})).await;
    let Fixture { dir, server, .. } = f;
    server.terminate();
    let data = dir.path().join("data");
    let key = data.join("keyward.key");
    let saved = std::fs::read(&key).expect("key");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).expect("meta").permissions());
    assert_eq!(mode & 0o777, 0o600, "the key is readable by its owner only");

    std::fs::remove_file(&key).expect("rm");
    let d = data.to_str().expect("utf-8");
    let serve = |d: &str| {
        std::process::Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", d])
            .output()
            .expect("runs")
    };
    let out = serve(d);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("keyward.key") && stderr.contains("missing"), "{stderr}");
    assert!(!key.exists(), "no silent new key over existing data");

    std::fs::write(&key, [9u8; 32]).expect("write");
    let out = serve(d);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("does not match"), "{stderr}");

    std::fs::write(&key, &saved).expect("restore");
    let server = Server::start(&data);
    let admin = server.api(&admin_token(&data));
    let home = admin.home_id().await;
    assert_eq!(admin.access(&home, "4719", "panel", "arm_away").await.expect(200)["reason"], "not_permitted");
}

/// The codes used here are 8 digits, so a chance match in ids or times is
/// practically impossible: any hit is a leak.
#[tokio::test]
async fn no_code_reaches_the_database_or_the_output() {
    let f = Fixture::with_args(&["--log", "debug"]).await;
    let front = f.admin.create_lock(&f.home, "Front door").await;
    let codes = ["73914682", "58203917", "40617395", "91750284", "26048173", "83162940"];
    let a = f
        .admin
        .create_user(&f.home, json!({"name": "A", "code": codes[0], "locks": "all", "panel": {"disarm": true}}))
        .await;
    let b =
        f.admin.create_user(&f.home, json!({"name": "B", "code": codes[1], "kind": "duress", "locks": "all"})).await;
    f.admin.patch(&f.path(&format!("/users/{a}")), json!({"code": codes[2]})).await.expect(200);
    f.admin.post(&f.path("/users"), json!({"name": "C", "code": codes[2]})).await.expect_error(422, "code_in_use");
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

    let Fixture { dir, server, .. } = f;
    let (_, output) = server.terminate();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir.path().join("data")).expect("data dir") {
        let path = entry.expect("entry").path();
        files.push((path.display().to_string(), std::fs::read(&path).expect("read")));
    }
    assert!(files.iter().any(|(name, _)| name.ends_with("keyward.db")));
    files.push(("server output".to_owned(), output.into_bytes()));
    files.push(("activity response".to_owned(), activity.text.into_bytes()));
    for code in codes {
        for (name, bytes) in &files {
            assert!(!bytes.windows(code.len()).any(|w| w == code.as_bytes()), "{code} found in {name}");
        }
    }
}

#[tokio::test]
async fn owner_cli_prints_setup_codes_and_resets_passwords() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let code = server.setup_code();
    assert_eq!(code.len(), 14, "{code}");
    assert_ne!(Server::start(&dir.path().join("data2")).setup_code(), code, "each data directory has its own");
    let d = data.to_str().expect("utf-8");
    let (ok, fresh, _) = cli(&["owner", "setup-code", "--data-dir", d]);
    assert!(ok && fresh.trim().len() == 14 && fresh.trim() != code, "a new code replaces the old: {fresh}");
    let (ok, _, stderr) = cli(&["owner", "reset-password", "--data-dir", d, "--email", "nobody@example.org"]);
    assert!(!ok, "{stderr}");
}
