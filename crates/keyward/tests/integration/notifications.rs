//! Alerts through the real binary to a real HTTP receiver that verifies the
//! Standard Webhooks signatures with the reference library: a webhook
//! channel added through the API, the dog walker's arrival delivered even
//! across keyward being killed while the receiver was down, a test message,
//! and bad channels refused in words.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::receiver::Receiver;
use crate::support::*;

async fn webhooks_arrive_signed_once_even_across_a_kill(backend: Backend) {
    let f = Fixture::new(backend).await;
    let front = f.admin.create_lock(&f.home, "Front door").await;
    let body = json!({"name": "Dog walker", "code": "4719", "locks": "all", "notify": {"arrive": true}});
    f.admin.create_user(&f.home, body).await;

    // Refused, in words, changing nothing.
    let channels = f.path("/channels");
    let refused = f.admin.post(&channels, json!({"kind": "email", "name": "Mail", "url": "http://x.org/"})).await;
    refused.expect_error(422, "channel_invalid");
    let ftp = f.admin.post(&channels, json!({"kind": "webhook", "name": "A", "url": "ftp://x.org/"})).await;
    ftp.expect_error(422, "channel_invalid");
    let with_password = json!({"kind": "webhook", "name": "A", "url": "https://me:hunter2@x.org/"});
    let refused = f.admin.post(&channels, with_password).await.expect_error(422, "channel_invalid");
    assert!(!refused.to_string().contains("hunter2"), "never echoed: {refused}");
    let late = json!({"kind": "webhook", "name": "A", "url": "https://x.org/", "quiet_hours": {"start": "25:00", "end": "07:00"}});
    f.admin.post(&channels, late).await.expect_error(422, "channel_invalid");
    assert_eq!(f.admin.get(&channels).await.expect(200)["items"], json!([]));

    // A webhook channel: its secret shown once.
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/keyward");
    let made = f.admin.post(&channels, json!({"kind": "webhook", "name": "Phone", "url": url})).await.expect(201);
    let secret = made["secret"].as_str().expect("a secret").to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let channel = made["id"].as_str().expect("id").to_owned();
    f.admin
        .post(&channels, json!({"kind": "webhook", "name": "Phone", "url": url}))
        .await
        .expect_error(409, "channel_name_taken");
    let listed = f.admin.get(&channels).await.expect(200);
    assert_eq!(listed["items"][0]["url"], url.as_str());
    assert!(listed["items"][0].get("secret").is_none(), "shown once: {listed}");

    // The dog walker arrives while the receiver is down; keyward is killed
    // with the delivery pending, restarted, and delivers it once the
    // receiver is up (its first answer still a 503).
    assert_eq!(f.admin.access(&f.home, "4719", &front, "unlock").await.expect(200)["granted"], true);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let Fixture { place, server, admin, home } = f;
    let before = server.kill_9();
    let server = place.start();
    let admin = server.api(admin.token().expect("token"));
    let f = Fixture { place, server, admin, home };
    let receiver = Receiver::start(port, &secret, 1);
    let deadline = Instant::now() + Duration::from_secs(60);
    while receiver.accepted().is_empty() {
        assert!(Instant::now() < deadline, "never delivered: {:?}", receiver.lines.lock().expect("log"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let arrival = &receiver.accepted()[0]["payload"];
    assert_eq!(arrival["type"], "access.arrival");
    let message = arrival["data"]["message"].as_str().expect("a message");
    assert!(message.starts_with("Dog walker arrived · Front door · "), "{message}");

    // The owner's test message.
    f.admin.post(&f.path(&format!("/channels/{channel}/test")), json!({})).await.expect(202);
    receiver.wait_for("the test message", |l| l["payload"]["type"] == "test");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let accepted = receiver.accepted();
    assert_eq!(accepted.len(), 2, "each once: {accepted:?}");

    // Removed: gone, and said so.
    f.admin.delete(&f.path(&format!("/channels/{channel}"))).await.expect(204);
    f.admin.delete(&f.path(&format!("/channels/{channel}"))).await.expect_error(404, "channel_not_found");
    for log in [before, f.server.output()] {
        assert!(!shows_code(&log, "4719") && !log.contains(&secret[6..]), "no code or secret in the log");
    }
}

on_both_backends!(webhooks_arrive_signed_once_even_across_a_kill);
