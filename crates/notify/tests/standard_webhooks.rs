//! keyward's webhook signatures, verified by the Standard Webhooks reference
//! library (Python `standardwebhooks`, in the venv scripts/test.sh makes),
//! as a receiver would verify them.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use keyward_notify::webhook::WebhookSecret;

fn python() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/receivers-venv/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: scripts/test.sh makes it (python3 -m venv, scripts/receivers/requirements.txt)",
        venv.display()
    );
    venv
}

/// Runs the reference verifier; its output, or None when it refused.
fn verify(secret: &str, headers: &[(&str, String)], body: &str) -> Option<serde_json::Value> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/receivers/verify_webhook.py");
    let mut child = Command::new(python())
        .arg(script)
        .arg(secret)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    let headers: serde_json::Map<String, serde_json::Value> =
        headers.iter().map(|(k, v)| ((*k).to_owned(), serde_json::Value::String(v.clone()))).collect();
    let delivery = serde_json::json!({"headers": headers, "body": body});
    child.stdin.take().expect("stdin").write_all(delivery.to_string().as_bytes()).expect("written");
    let output = child.wait_with_output().expect("finished");
    output.status.success().then(|| serde_json::from_slice(&output.stdout).expect("json"))
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64
}

#[test]
fn the_reference_library_verifies_keyward_s_signatures() {
    let secret = WebhookSecret::generate().expect("random");
    let shared = secret.to_text();
    let body = r#"{"type":"access.arrival","timestamp":"2026-11-27T10:42:00Z","data":{"user":"Dog walker","device":"Front door"}}"#;
    let headers = secret.headers("01JD0000000000000000000001", now(), body.as_bytes());
    let payload = verify(&shared, &headers, body).expect("verified");
    assert_eq!(payload["data"]["user"], "Dog walker");

    // A changed body, another secret, or an old timestamp: refused.
    assert!(verify(&shared, &headers, &body.replace("Dog walker", "Burglar")).is_none());
    let other = WebhookSecret::generate().expect("random").to_text();
    assert!(verify(&other, &headers, body).is_none());
    let stale = secret.headers("01JD0000000000000000000002", now() - 3600, body.as_bytes());
    assert!(verify(&shared, &stale, body).is_none(), "a replay an hour later is refused by the receiver");
}
