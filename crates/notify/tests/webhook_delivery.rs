//! Webhooks delivered from the outbox to a real HTTP receiver that verifies
//! them with the Standard Webhooks reference library: a receiver that fails
//! for a while gets everything once, in order, when it comes back.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use keyward_app::{App, ChannelInput, Clock, UserInput};
use keyward_core::channel::{ChannelTarget, HttpUrl};
use keyward_core::{Action, Actor, LockAccess, Notify, PanelPermissions, ScheduleSpec, UserKind, ZoneName};
use keyward_notify::webhook::{WebhookSecret, WebhookSender};
use keyward_store::{BoxFuture, DeliveryState, KEY_FILE, Store, Vault};
use zeroize::Zeroizing;

/// The wall clock, as the binary has it.
struct RealClock;

impl Clock for RealClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn sleep_until(&self, at: Timestamp) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let wait = at.duration_since(Timestamp::now()).max(jiff::SignedDuration::ZERO);
            tokio::time::sleep(Duration::try_from(wait).unwrap_or_default()).await;
        })
    }
}

struct Receiver {
    child: Child,
    lines: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Receiver {
    /// Listening on `port`, verifying with `secret`, answering 503 to its
    /// first `fail_first` requests.
    fn start(port: u16, secret: &str, fail_first: u32) -> Self {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let python = root.join("target/receivers-venv/bin/python");
        assert!(python.exists(), "{} is missing: scripts/test.sh makes it", python.display());
        let mut child = Command::new(python)
            .arg(root.join("scripts/receivers/webhook_receiver.py"))
            .args([port.to_string(), secret.to_owned(), fail_first.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("the receiver starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().expect("stdout");
        let log = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(value) = serde_json::from_str(&line) {
                    log.lock().expect("log").push(value);
                }
            }
        });
        let receiver = Self { child, lines };
        receiver.wait_for("listening", |l| l.get("listening").is_some());
        receiver
    }

    fn wait_for(&self, what: &str, done: impl Fn(&serde_json::Value) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.lines.lock().expect("log").iter().any(&done) {
            assert!(Instant::now() < deadline, "the receiver never saw {what}: {:?}", self.lines.lock().expect("log"));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn accepted(&self) -> Vec<serde_json::Value> {
        self.lines.lock().expect("log").iter().filter(|l| l["answered"] == 204).cloned().collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn walker() -> UserInput {
    UserInput {
        name: "Dog walker".into(),
        kind: UserKind::Standard,
        panel: PanelPermissions::default(),
        locks: LockAccess::All,
        schedule: ScheduleSpec { always: Some(true), windows: None },
        valid_from: None,
        valid_until: None,
        max_uses: None,
        notify: Notify { arrive: true, leave: false },
        enabled: true,
        code: Zeroizing::new("4719".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_for_a_while_gets_everything_once_and_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opened = keyward_store_sqlite::open(&dir.path().join("keyward.db"), true).expect("open");
    let store: Arc<dyn Store> = Arc::new(opened.store);
    let vault = Vault::open(store.as_ref(), &dir.path().join(KEY_FILE), true).await.expect("key");
    let zone = ZoneName::parse("Europe/Berlin").expect("zone");
    let app =
        App::start(store.clone(), Arc::new(vault), Arc::new(RealClock), &zone, Default::default()).await.expect("app");
    app.start_deliveries(vec![Arc::new(WebhookSender::new(keyward_notify::http::client().expect("client")))]);
    let home = app.homes.list().await.expect("homes")[0].id.clone();
    let front = app.homes.create_lock(&home, "Front door", None).await.expect("lock").id;
    app.users.create(&home, walker(), Actor::Token("t".into())).await.expect("user");

    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let url = HttpUrl::parse(&format!("http://127.0.0.1:{port}/keyward")).expect("url");
    let input =
        ChannelInput { name: "Phone".into(), target: ChannelTarget::Webhook { url }, emergency: false, quiet: None };
    let (channel, secret) = app.channels.create(&home, input).await.expect("channel");
    // The receiver is given the secret the owner was shown once; it is down
    // for its first two requests, then up.
    let shared = WebhookSecret::from_bytes(secret.expect("a secret")).to_text();
    let receiver = Receiver::start(port, &shared, 2);

    for _ in 0..3 {
        assert!(app.access.attempt(&home, "4719", &front, Action::Unlock).await.expect("attempt").granted);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.accepted().len() < 3 {
        assert!(Instant::now() < deadline, "not everything arrived: {:?}", receiver.lines.lock().expect("log"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let accepted = receiver.accepted();
    assert_eq!(accepted.len(), 3, "each once: {accepted:?}");
    let ids: Vec<&str> = accepted.iter().filter_map(|l| l["id"].as_str()).collect();
    let sent = store.deliveries(channel.id.clone(), 10).await.expect("deliveries");
    let mut in_order: Vec<&str> = sent.iter().map(|n| n.id.as_str()).collect();
    in_order.reverse();
    assert_eq!(ids, in_order, "in the order of the events");
    assert!(sent.iter().all(|n| n.state == DeliveryState::Delivered));
    assert_eq!(
        sent.last().map(|n| n.attempts),
        Some(3),
        "the first one took three tries: {sent:?}\n{:?}",
        receiver.lines.lock().expect("log")
    );
    let payload = &accepted[0]["payload"];
    assert_eq!(payload["type"], "access.arrival");
    assert_eq!(
        payload["data"]["message"].as_str().map(|m| m.starts_with("Dog walker arrived · Front door · ")),
        Some(true)
    );
    assert!(accepted.iter().all(|l| !l["body"].as_str().unwrap_or_default().contains("4719")), "no code");
}
