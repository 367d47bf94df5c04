//! Zigbee locks through Zigbee2MQTT: the real keyward binary on the
//! machine's Mosquitto, against a Zigbee2MQTT lock simulated from
//! Zigbee2MQTT's documented payloads. What a test calls "on the lock" it
//! reads from the simulated lock's memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::broker::OwnBroker;
use crate::support::zigbee::{Spy, ZigbeeLock};
use crate::support::*;

const SOON: Duration = Duration::from_secs(30);

async fn hub(backend: Backend, lock: &ZigbeeLock) -> Fixture {
    let env = [("KEYWARD_ZIGBEE2MQTT_BASE_TOPIC", lock.base.as_str())];
    let f = Fixture::with_env(backend, &["--mqtt-url", "mqtt://127.0.0.1:1883"], &env).await;
    let deadline = Instant::now() + SOON;
    loop {
        let devices = f.admin.get("/api/v1/devices").await.expect(200);
        let offered =
            devices["items"].as_array().is_some_and(|d| d.iter().any(|d| d["friendly_name"] == lock.name.as_str()));
        if offered {
            return f;
        }
        assert!(Instant::now() < deadline, "the Zigbee lock was never offered: {devices}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn bound_lock(f: &Fixture, lock: &ZigbeeLock) -> String {
    let body = json!({"name": "Front door", "device": {"protocol": "zigbee2mqtt", "friendly_name": lock.name}});
    let made = f.admin.post(&f.path("/locks"), body).await.expect(201);
    assert_eq!(made["device"], json!({"protocol": "zigbee2mqtt", "friendly_name": lock.name}));
    made["id"].as_str().expect("id").to_owned()
}

async fn codes_follow_users_and_keypad_entries_are_attributed(backend: Backend) {
    let spy = Spy::start().await;
    let lock: Arc<ZigbeeLock> = ZigbeeLock::start("front_door", 10, true).await;
    // A code programmed at the lock itself, in the last slot.
    lock.program_at_lock(9, "8080").await;
    let f = hub(backend, &lock).await;
    let devices = f.admin.get("/api/v1/devices").await.expect(200);
    let offered = devices["items"].as_array().and_then(|d| d.iter().find(|d| d["protocol"] == "zigbee2mqtt")).cloned();
    let offered = offered.expect("offered");
    assert_eq!((offered["model"].as_str(), offered["slots"].as_u64()), (Some("YRD226HA2619"), Some(10)));
    let front = bound_lock(&f, &lock).await;
    assert_eq!(f.admin.get("/readyz").await.expect(200)["networks"]["zigbee2mqtt"], "connected");

    // Added: in the lock's memory (Zigbee numbers slots from 0), confirmed by read-back.
    let walker = f.admin.create_user(&f.home, json!({"name": "Dog walker", "code": "4719", "locks": "all"})).await;
    lock.wait_for_codes(&[(0, "4719"), (9, "8080")], SOON).await;
    assert_eq!(wait_for_status(&f, &walker, &front, "on_lock", None).await["slot"], 0);
    // The foreign code is shown and left alone.
    let detail = f.admin.get(&f.path(&format!("/locks/{front}"))).await.expect(200);
    let slot9 = detail["slots"].as_array().and_then(|s| s.iter().find(|s| s["slot"] == 9)).cloned();
    assert_eq!(slot9.map(|s| s["foreign"].clone()), Some(json!(true)), "{detail}");

    // Changed, then typed at the keypad: attributed to the dog walker.
    f.admin.patch(&f.path(&format!("/users/{walker}")), json!({"code": "5820"})).await.expect(200);
    lock.wait_for_codes(&[(0, "5820"), (9, "8080")], SOON).await;
    wait_for_status(&f, &walker, &front, "on_lock", None).await;
    assert_eq!(lock.type_code("5820").await, Some(0));
    let arrival = wait_for_entry(&f, "the arrival", |e| e["kind"] == "arrival").await;
    assert_eq!(
        (arrival["user"]["name"].as_str(), arrival["actor"].as_str()),
        (Some("Dog walker"), Some("lock:keypad"))
    );
    assert_eq!(arrival["device"], front.as_str());
    lock.type_code("0000").await;
    wait_for_entry(&f, "a wrong code at the lock", |e| e["kind"] == "access_denied" && e["actor"] == "lock:keypad")
        .await;

    // The same code as the one programmed at the lock: a duplicate, named
    // with its slot, and not retried.
    let twin = f.admin.create_user(&f.home, json!({"name": "Neighbour", "code": "8080", "locks": "all"})).await;
    let status = wait_for_status(&f, &twin, &front, "failed", Some("duplicate_on_lock")).await;
    assert_eq!(status["other_slot"], 9, "{status}");

    // Unlocked from keyward: the lock carries it out and reports it.
    f.admin.post(&f.path(&format!("/locks/{front}/lock")), json!({})).await.expect(204);
    f.admin.post(&f.path(&format!("/locks/{front}/unlock")), json!({})).await.expect(204);
    assert_eq!(f.admin.get(&f.path(&format!("/locks/{front}"))).await.expect(200)["state"]["locked"], false);

    // Deleted: off the lock.
    f.admin.delete(&f.path(&format!("/users/{walker}"))).await.expect(204);
    lock.wait_for_codes(&[(9, "8080")], SOON).await;
    let output = f.server.output();
    assert!(!shows_code(&output, "5820") && !shows_code(&output, "4719"), "no code in the log");

    // On the broker: keyward's messages carry a code only in the pin_code
    // set itself, and keyward retains nothing.
    let commands = format!("{}/{}/", lock.base, lock.name);
    let keywards: Vec<_> = spy
        .under(&lock.base)
        .into_iter()
        .filter(|(topic, _, _)| topic.ends_with("/set") || topic.ends_with("/get") || !topic.starts_with(&commands))
        .filter(|(topic, _, _)| !topic.ends_with("/bridge/devices") && !topic.ends_with("/availability"))
        .filter(|(topic, _, _)| *topic != format!("{}/{}", lock.base, lock.name))
        .collect();
    assert!(keywards.iter().any(|(t, _, _)| t.ends_with("/set")), "keyward's commands were seen: {keywards:?}");
    for (topic, payload, retained) in &keywards {
        assert!(!retained, "keyward retained {topic}");
        let has_code = ["4719", "5820", "8080"].iter().any(|code| payload.contains(code));
        if has_code {
            let body: Value = serde_json::from_str(payload).expect("json");
            assert!(
                topic.ends_with("/set") && body["pin_code"]["pin_code"].is_string(),
                "a code outside a pin_code set: {topic} {payload}"
            );
        }
    }
    lock.remove().await;
}

/// A lock whose codes Zigbee2MQTT does not show (`expose_pin` off): a code
/// counts as on the lock when its slot reads occupied together with a save
/// after keyward's write.
async fn a_lock_that_hides_its_codes(backend: Backend) {
    let lock = ZigbeeLock::start("back_door", 6, false).await;
    let f = hub(backend, &lock).await;
    let back = bound_lock(&f, &lock).await;
    let walker = f.admin.create_user(&f.home, json!({"name": "Dog walker", "code": "4719", "locks": "all"})).await;
    lock.wait_for_codes(&[(0, "4719")], SOON).await;
    wait_for_status(&f, &walker, &back, "on_lock", None).await;
    // Offline: a change waits, and is caught up when the lock is back.
    lock.set_online(false).await;
    f.admin.patch(&f.path(&format!("/users/{walker}")), json!({"code": "5820"})).await.expect(200);
    wait_for_status(&f, &walker, &back, "failed", Some("offline")).await;
    lock.set_online(true).await;
    lock.wait_for_codes(&[(0, "5820")], Duration::from_secs(60)).await;
    wait_for_status(&f, &walker, &back, "on_lock", None).await;
    f.admin.delete(&f.path(&format!("/users/{walker}"))).await.expect(204);
    lock.wait_for_codes(&[], SOON).await;
    lock.remove().await;
}

/// The broker restarted mid-sync (every session and retained message
/// gone), keyward killed mid-sync, a full lock, and a code spent by its uses.
async fn restarts_resume_a_full_lock_says_so_and_spent_codes_leave(backend: Backend) {
    let mut broker = OwnBroker::start();
    let lock = ZigbeeLock::start_on(broker.port, "front_door", 3, true).await;
    let place = Place::new(backend);
    let url = broker.url();
    let args = ["--mqtt-url", url.as_str()];
    let env = [("KEYWARD_ZIGBEE2MQTT_BASE_TOPIC", lock.base.as_str())];
    let server = place.start_with(&args, &env);
    let admin = server.api(&place.token("admin", None));
    let home = admin.home_id().await;
    let f = Fixture { place, server, admin, home };
    let deadline = Instant::now() + SOON;
    while !f.admin.get("/api/v1/devices").await.expect(200)["items"].to_string().contains("front_door") {
        assert!(Instant::now() < deadline, "never offered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let front = bound_lock(&f, &lock).await;
    let first =
        f.admin.create_user(&f.home, json!({"name": "First", "code": "3141", "locks": "all", "max_uses": 1})).await;
    lock.wait_for_codes(&[(0, "3141")], SOON).await;

    // The broker goes away during a change; the change lands once it is back.
    broker.stop();
    let second = f.admin.create_user(&f.home, json!({"name": "Second", "code": "2718", "locks": "all"})).await;
    let deadline = Instant::now() + SOON;
    while f.admin.get("/readyz").await.expect(200)["networks"]["zigbee2mqtt"] == "connected" {
        assert!(Instant::now() < deadline, "/readyz never noticed the broker gone");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    broker.run();
    lock.wait_for_codes(&[(0, "3141"), (1, "2718")], Duration::from_secs(60)).await;
    wait_for_status(&f, &second, &front, "on_lock", None).await;

    // keyward killed with a code still to write; restarted, it resumes.
    let third = f.admin.create_user(&f.home, json!({"name": "Third", "code": "1618", "locks": "all"})).await;
    let Fixture { place, server, admin, home } = f;
    server.kill_9();
    let server = place.start_with(&args, &env);
    let admin = server.api(admin.token().expect("token"));
    let f = Fixture { admin, place, server, home };
    lock.wait_for_codes(&[(0, "3141"), (1, "2718"), (2, "1618")], Duration::from_secs(60)).await;
    wait_for_status(&f, &third, &front, "on_lock", None).await;

    // A fourth user on a three-slot lock: an error on that user.
    let fourth = f.admin.create_user(&f.home, json!({"name": "Fourth", "code": "5772", "locks": "all"})).await;
    wait_for_status(&f, &fourth, &front, "failed", Some("no_free_slot")).await;

    // The first user's one use, at the keypad: the code leaves the lock, and
    // its slot goes to the user who had none.
    assert_eq!(lock.type_code("3141").await, Some(0));
    wait_for_entry(&f, "the first user's arrival", |e| e["kind"] == "arrival" && e["user"]["name"] == "First").await;
    lock.wait_for_codes(&[(0, "5772"), (1, "2718"), (2, "1618")], SOON).await;
    assert_eq!(f.admin.get(&f.path(&format!("/users/{first}"))).await.expect(200)["uses"], 1);
    wait_for_status(&f, &fourth, &front, "on_lock", None).await;
    lock.remove().await;
}

/// `keyward sim lock`, the virtual lock a person can try keyward with,
/// driven through its prompt as a person would.
struct VirtualLock {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    output: Arc<std::sync::Mutex<String>>,
    base: String,
}

impl VirtualLock {
    fn start(extra: &[&str]) -> Self {
        use std::io::BufRead;
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();
        let base = format!("kwvirtual-{}-{nanos}", std::process::id());
        let mut child = std::process::Command::new(BIN)
            .args(["sim", "lock", "--mqtt-url", "mqtt://127.0.0.1:1883", "--base-topic", &base, "--slots", "6"])
            .args(extra)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("keyward sim lock starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let output = Arc::new(std::sync::Mutex::new(String::new()));
        let log = output.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut log = log.lock().expect("log");
                log.push_str(&line);
                log.push('\n');
            }
        });
        Self { child, stdin, output, base }
    }

    fn type_line(&mut self, line: &str) {
        use std::io::Write;
        writeln!(self.stdin, "{line}").expect("typed");
        self.stdin.flush().expect("flushed");
    }

    async fn wait_for_output(&self, text: &str) {
        let deadline = Instant::now() + SOON;
        while !self.output.lock().expect("log").contains(text) {
            assert!(
                Instant::now() < deadline,
                "the virtual lock never said {text:?}: {}",
                self.output.lock().expect("log")
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for VirtualLock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn the_virtual_lock_takes_codes_and_reports_the_keypad(backend: Backend) {
    let mut lock = VirtualLock::start(&["--name", "front_door", "--code", "5:1357"]);
    let env = [("KEYWARD_ZIGBEE2MQTT_BASE_TOPIC", lock.base.as_str())];
    let f = Fixture::with_env(backend, &["--mqtt-url", "mqtt://127.0.0.1:1883"], &env).await;
    let deadline = Instant::now() + SOON;
    while !f.admin.get("/api/v1/devices").await.expect(200)["items"].to_string().contains("virtual-lock") {
        assert!(Instant::now() < deadline, "the virtual lock was never offered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body = json!({"name": "Front door", "device": {"protocol": "zigbee2mqtt", "friendly_name": "front_door"}});
    let front = f.admin.post(&f.path("/locks"), body).await.expect(201)["id"].as_str().expect("id").to_owned();
    let walker = f.admin.create_user(&f.home, json!({"name": "Dog walker", "code": "4719", "locks": "all"})).await;
    lock.wait_for_output("slot 0: a code was saved").await;
    wait_for_status(&f, &walker, &front, "on_lock", None).await;

    // Typed at the virtual keypad: the dog walker arrived.
    lock.type_line("4719");
    lock.wait_for_output("unlocked: the code of slot 0").await;
    let arrival = wait_for_entry(&f, "the arrival", |e| e["kind"] == "arrival").await;
    assert_eq!(arrival["user"]["name"], "Dog walker");

    // The code programmed at the lock: a user with the same code is refused, named.
    let twin = f.admin.create_user(&f.home, json!({"name": "Neighbour", "code": "1357", "locks": "all"})).await;
    let status = wait_for_status(&f, &twin, &front, "failed", Some("duplicate_on_lock")).await;
    assert_eq!(status["other_slot"], 5);

    // Offline at the prompt: keyward says so, and catches up when it is back.
    lock.type_line("offline");
    let deadline = Instant::now() + SOON;
    while f.admin.get(&f.path(&format!("/locks/{front}"))).await.expect(200)["online"] != false {
        assert!(Instant::now() < deadline, "the lock never showed offline");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    f.admin.delete(&f.path(&format!("/users/{walker}"))).await.expect(204);
    lock.type_line("online");
    lock.wait_for_output("slot 0: cleared").await;
    lock.type_line("codes");
    lock.wait_for_output("slot 5: 1357").await;
    assert!(!lock.output.lock().expect("log").contains("slot 0: 4719"), "the walker's code is gone");
    lock.type_line("quit");
}

on_both_backends!(
    codes_follow_users_and_keypad_entries_are_attributed,
    a_lock_that_hides_its_codes,
    the_virtual_lock_takes_codes_and_reports_the_keypad,
    restarts_resume_a_full_lock_says_so_and_spent_codes_leave,
);
