//! Zigbee locks through Zigbee2MQTT: the real keyward binary on the
//! machine's Mosquitto, against a Zigbee2MQTT lock simulated from
//! Zigbee2MQTT's documented payloads. What a test calls "on the lock" it
//! reads from the simulated lock's memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::broker::OwnBroker;
use crate::support::zigbee::{LockSpec, Spy, ZigbeeNet};
use crate::support::*;

const SOON: Duration = Duration::from_secs(30);

/// keyward on the machine's Mosquitto, with every lock of `net` offered.
async fn hub(backend: Backend, net: &ZigbeeNet, locks: usize) -> Fixture {
    hub_with(backend, net, locks, &[], &[]).await
}

async fn hub_with(backend: Backend, net: &ZigbeeNet, locks: usize, args: &[&str], env: &[(&str, &str)]) -> Fixture {
    let mut env = env.to_vec();
    env.push(("KEYWARD_ZIGBEE2MQTT_BASE_TOPIC", net.base.as_str()));
    let mut all = vec!["--mqtt-url", "mqtt://127.0.0.1:1883"];
    all.extend(args);
    let f = Fixture::with_env(backend, &all, &env).await;
    until_offered(&f, locks).await;
    f
}

async fn until_offered(f: &Fixture, locks: usize) {
    let deadline = Instant::now() + SOON;
    loop {
        let devices = f.admin.get("/api/v1/devices").await.expect(200);
        let offered =
            devices["items"].as_array().map_or(0, |d| d.iter().filter(|d| d["protocol"] == "zigbee2mqtt").count());
        if offered == locks {
            return;
        }
        assert!(Instant::now() < deadline, "the Zigbee locks were never offered: {devices}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn bound_lock(f: &Fixture, name: &str, friendly_name: &str) -> String {
    let body = json!({"name": name, "device": {"protocol": "zigbee2mqtt", "friendly_name": friendly_name}});
    let made = f.admin.post(&f.path("/locks"), body).await.expect(201);
    // Bound by the address of the device carrying the name; the name is shown as it is now.
    assert_eq!(
        (made["device"]["protocol"].as_str(), made["device"]["friendly_name"].as_str()),
        (Some("zigbee2mqtt"), Some(friendly_name))
    );
    assert!(made["device"]["ieee_address"].as_str().is_some_and(|a| a.starts_with("0x") && a.len() == 18), "{made}");
    made["id"].as_str().expect("id").to_owned()
}

async fn wait_for_foreign(f: &Fixture, lock: &str, slot: u16) {
    let deadline = Instant::now() + SOON;
    loop {
        let detail = f.admin.get(&f.path(&format!("/locks/{lock}"))).await.expect(200);
        let found = detail["slots"].as_array().and_then(|s| s.iter().find(|s| s["slot"] == slot)).cloned();
        if found.is_some_and(|s| s["foreign"] == true) {
            return;
        }
        assert!(Instant::now() < deadline, "slot {slot} never shown as foreign: {detail}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn codes_follow_users_and_keypad_entries_are_attributed(backend: Backend) {
    let spy = Spy::start().await;
    let net = ZigbeeNet::start(&[LockSpec::new("front_door", 10)]).await;
    // A code programmed at the lock itself, in the last slot.
    net.program_at_lock("front_door", 9, "8080").await;
    let f = hub(backend, &net, 1).await;
    let devices = f.admin.get("/api/v1/devices").await.expect(200);
    let offered = devices["items"].as_array().and_then(|d| d.iter().find(|d| d["protocol"] == "zigbee2mqtt")).cloned();
    let offered = offered.expect("offered");
    assert_eq!((offered["model"].as_str(), offered["slots"].as_u64()), (Some("YRD226HA2619"), Some(10)));
    let front = bound_lock(&f, "Front door", "front_door").await;
    let ready = f.admin.get("/readyz").await.expect(200);
    assert_eq!(
        (ready["networks"]["mqtt"].as_str(), ready["networks"]["zigbee2mqtt"].as_str()),
        (Some("connected"), Some("connected")),
        "{ready}"
    );

    // Added: in the lock's memory (Zigbee numbers slots from 0), confirmed by read-back.
    let walker = f.admin.create_user(&f.home, json!({"name": "Dog walker", "code": "4719", "locks": "all"})).await;
    net.wait_for_codes("front_door", &[(0, "4719"), (9, "8080")], SOON).await;
    assert_eq!(wait_for_status(&f, &walker, &front, "on_lock", None).await["slot"], 0);
    // The foreign code is shown and left alone.
    wait_for_foreign(&f, &front, 9).await;

    // Changed, then typed at the keypad: attributed to the dog walker.
    f.admin.patch(&f.path(&format!("/users/{walker}")), json!({"code": "5820"})).await.expect(200);
    net.wait_for_codes("front_door", &[(0, "5820"), (9, "8080")], SOON).await;
    wait_for_status(&f, &walker, &front, "on_lock", None).await;
    assert_eq!(net.type_code("front_door", "5820").await, Some(0));
    let arrival = wait_for_entry(&f, "the arrival", |e| e["kind"] == "arrival").await;
    assert_eq!(
        (arrival["user"]["name"].as_str(), arrival["actor"].as_str()),
        (Some("Dog walker"), Some("lock:keypad"))
    );
    assert_eq!(arrival["device"], front.as_str());
    net.type_code("front_door", "0000").await;
    wait_for_entry(&f, "a wrong code at the lock", |e| e["kind"] == "access_denied" && e["actor"] == "lock:keypad")
        .await;

    // The same code as the one programmed at the lock: a duplicate, named
    // with its slot, and not retried (the lock is not asked again).
    let twin = f.admin.create_user(&f.home, json!({"name": "Neighbour", "code": "8080", "locks": "all"})).await;
    let status = wait_for_status(&f, &twin, &front, "failed", Some("duplicate_on_lock")).await;
    assert_eq!((status["other_slot"].as_u64(), status["retry_at"].as_str()), (Some(9), None), "{status}");
    let sets = net.code_sets("front_door");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(net.code_sets("front_door"), sets, "a duplicate is not written again");

    // Unlocked from keyward: the lock carries it out and reports it.
    f.admin.post(&f.path(&format!("/locks/{front}/lock")), json!({})).await.expect(204);
    f.admin.post(&f.path(&format!("/locks/{front}/unlock")), json!({})).await.expect(204);
    assert_eq!(f.admin.get(&f.path(&format!("/locks/{front}"))).await.expect(200)["state"]["locked"], false);

    // Deleted: off the lock.
    f.admin.delete(&f.path(&format!("/users/{walker}"))).await.expect(204);
    net.wait_for_codes("front_door", &[(9, "8080")], SOON).await;
    let output = f.server.output();
    assert!(!shows_code(&output, "5820") && !shows_code(&output, "4719"), "no code in the log");

    // On the broker: keyward's messages carry a code only in the pin_code
    // set itself, and keyward retains nothing.
    let commands = format!("{}/front_door/", net.base);
    let keywards: Vec<_> = spy
        .under(&net.base)
        .into_iter()
        .filter(|(topic, _, _)| topic.ends_with("/set") || topic.ends_with("/get") || !topic.starts_with(&commands))
        .filter(|(topic, _, _)| !topic.ends_with("/bridge/devices") && !topic.ends_with("/availability"))
        .filter(|(topic, _, _)| *topic != format!("{}/front_door", net.base))
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
    net.remove().await;
}

/// One user on two locks: every change to the user reaches both, and a
/// lock turned by hand is logged without a user.
async fn a_user_on_two_locks_and_a_lock_turned_by_hand(backend: Backend) {
    let net = ZigbeeNet::start(&[LockSpec::new("front_door", 10), LockSpec::new("back_door", 10)]).await;
    let f = hub(backend, &net, 2).await;
    let front = bound_lock(&f, "Front door", "front_door").await;
    let back = bound_lock(&f, "Back door", "back_door").await;
    let walker =
        f.admin.create_user(&f.home, json!({"name": "Dog walker", "code": "4719", "locks": [front, back]})).await;
    net.wait_for_codes("front_door", &[(0, "4719")], SOON).await;
    net.wait_for_codes("back_door", &[(0, "4719")], SOON).await;
    wait_for_status(&f, &walker, &front, "on_lock", None).await;
    wait_for_status(&f, &walker, &back, "on_lock", None).await;

    // A changed code replaces the old one, in the same slot.
    f.admin.patch(&f.path(&format!("/users/{walker}")), json!({"code": "5820"})).await.expect(200);
    net.wait_for_codes("front_door", &[(0, "5820")], SOON).await;
    net.wait_for_codes("back_door", &[(0, "5820")], SOON).await;

    // Only the front door now: the back door's copy is taken off.
    f.admin.patch(&f.path(&format!("/users/{walker}")), json!({"locks": [front]})).await.expect(200);
    net.wait_for_codes("back_door", &[], SOON).await;
    net.wait_for_codes("front_door", &[(0, "5820")], SOON).await;

    // Disabled: off the lock; enabled: back on.
    f.admin.patch(&f.path(&format!("/users/{walker}")), json!({"enabled": false})).await.expect(200);
    net.wait_for_codes("front_door", &[], SOON).await;
    f.admin.patch(&f.path(&format!("/users/{walker}")), json!({"enabled": true})).await.expect(200);
    net.wait_for_codes("front_door", &[(0, "5820")], SOON).await;

    // Turned by hand from inside: logged as manual, without a user.
    net.operate_by_hand("back_door", true).await;
    let manual =
        wait_for_entry(&f, "a manual unlock", |e| e["kind"] == "unlocked" && e["actor"] == "lock:manual").await;
    assert_eq!((manual["device"].as_str(), manual["user"].as_object()), (Some(back.as_str()), None), "{manual}");

    // Deleted: gone from the lock.
    f.admin.delete(&f.path(&format!("/users/{walker}"))).await.expect(204);
    net.wait_for_codes("front_door", &[], SOON).await;
    let lock = f.admin.get(&f.path(&format!("/locks/{front}"))).await.expect(200);
    assert_eq!((lock["online"].as_bool(), lock["state"]["battery"].as_u64()), (Some(true), Some(91)), "{lock}");
    net.remove().await;
}

/// A foreign code taken over by the owner, a lock emptied at its keypad
/// and refilled, and a user's slot overwritten at the lock.
async fn a_foreign_code_taken_over_and_an_emptied_lock_refilled(backend: Backend) {
    let net = ZigbeeNet::start(&[LockSpec::new("front_door", 6)]).await;
    net.program_at_lock("front_door", 5, "1357").await;
    net.program_at_lock("front_door", 0, "8642").await;
    let f = hub(backend, &net, 1).await;
    let front = bound_lock(&f, "Front door", "front_door").await;
    wait_for_foreign(&f, &front, 5).await;
    wait_for_foreign(&f, &front, 0).await;
    let twin = f.admin.create_user(&f.home, json!({"name": "Neighbour", "code": "1357", "locks": "all"})).await;
    wait_for_status(&f, &twin, &front, "failed", Some("duplicate_on_lock")).await;
    // Zigbee counts slots from 0, and so does the API for a Zigbee lock.
    f.admin.post(&f.path(&format!("/locks/{front}/slots/0/take-over")), json!({})).await.expect(202);
    net.wait_for_codes("front_door", &[(5, "1357")], SOON).await;
    f.admin
        .post(&f.path(&format!("/locks/{front}/slots/3/take-over")), json!({}))
        .await
        .expect_error(409, "slot_not_foreign");
    // The owner takes slot 5 over: the foreign code is cleared and the twin's goes on.
    f.admin.post(&f.path(&format!("/locks/{front}/slots/5/take-over")), json!({})).await.expect(202);
    let status = wait_for_status(&f, &twin, &front, "on_lock", None).await;
    let twin_slot = status["slot"].as_u64().expect("a slot") as u16;
    assert_eq!(net.codes("front_door"), [(twin_slot, "1357".to_owned())].into());

    // Every code deleted at the lock's keypad: keyward puts its codes back.
    let guest = f.admin.create_user(&f.home, json!({"name": "Guest", "code": "2468", "locks": "all"})).await;
    wait_for_status(&f, &guest, &front, "on_lock", None).await;
    let slot = net.codes("front_door").into_iter().find(|(_, c)| c == "2468").map(|(s, _)| s).expect("on");
    net.wipe("front_door").await;
    net.wait_for_codes("front_door", &[(twin_slot, "1357"), (slot, "2468")], SOON).await;
    wait_for_status(&f, &guest, &front, "on_lock", None).await;

    // A code programmed at the lock over the guest's: that slot is no
    // longer the guest's, and the guest's code goes into another.
    net.program_at_lock("front_door", slot, "9753").await;
    let deadline = Instant::now() + SOON;
    loop {
        let codes = net.codes("front_door");
        let moved = codes.iter().any(|(s, c)| *s != slot && c == "2468");
        if codes.get(&slot).map(String::as_str) == Some("9753") && moved {
            break;
        }
        assert!(Instant::now() < deadline, "the guest never moved off the overwritten slot: {codes:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = wait_for_status(&f, &guest, &front, "on_lock", None).await;
    assert_ne!(status["slot"], slot, "{status}");
    net.remove().await;
}

/// A lock whose codes Zigbee2MQTT does not show (`expose_pin` off): a code
/// counts as on the lock when its slot reads occupied together with a save
/// after keyward's write.
async fn a_lock_that_hides_its_codes(backend: Backend) {
    let net = ZigbeeNet::start(&[LockSpec::new("back_door", 6).hiding_codes()]).await;
    let f = hub(backend, &net, 1).await;
    let back = bound_lock(&f, "Back door", "back_door").await;
    let walker = f.admin.create_user(&f.home, json!({"name": "Dog walker", "code": "4719", "locks": "all"})).await;
    net.wait_for_codes("back_door", &[(0, "4719")], SOON).await;
    wait_for_status(&f, &walker, &back, "on_lock", None).await;
    // Offline: a change waits, and is caught up when the lock is back.
    net.set_online("back_door", false).await;
    f.admin.patch(&f.path(&format!("/users/{walker}")), json!({"code": "5820"})).await.expect(200);
    let status = wait_for_status(&f, &walker, &back, "failed", Some("offline")).await;
    assert!(status["retry_at"].is_string(), "an offline lock is tried again by itself: {status}");
    net.set_online("back_door", true).await;
    net.wait_for_codes("back_door", &[(0, "5820")], Duration::from_secs(60)).await;
    wait_for_status(&f, &walker, &back, "on_lock", None).await;
    f.admin.delete(&f.path(&format!("/users/{walker}"))).await.expect(204);
    net.wait_for_codes("back_door", &[], SOON).await;
    net.remove().await;
}

/// A lock that hides its codes refuses a duplicate, and Zigbee2MQTT passes
/// nothing on: the write is tried a bounded number of times, then reported
/// as `no_confirmation` and left alone until the owner retries. The backoff
/// makes this test last about a minute and a half, so it runs once (on
/// SQLite): nothing in it depends on the storage.
#[tokio::test]
async fn an_unconfirmed_write_is_tried_a_bounded_number_of_times() {
    let net = ZigbeeNet::start(&[LockSpec::new("front_door", 6).hiding_codes()]).await;
    net.program_at_lock("front_door", 5, "1357").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("keyward.toml");
    std::fs::write(&config, "[zigbee2mqtt]\nanswer_timeout_seconds = 1\n").expect("config");
    let config = config.display().to_string();
    let f = hub_with(Backend::Sqlite, &net, 1, &["--config", &config], &[]).await;
    let front = bound_lock(&f, "Front door", "front_door").await;
    wait_for_foreign(&f, &front, 5).await;
    let twin = f.admin.create_user(&f.home, json!({"name": "Neighbour", "code": "1357", "locks": "all"})).await;
    let first = wait_for_status(&f, &twin, &front, "failed", Some("no_confirmation")).await;
    assert!(first["retry_at"].is_string(), "tried again by itself at first: {first}");
    let deadline = Instant::now() + Duration::from_secs(180);
    let last = loop {
        let user = f.admin.get(&f.path(&format!("/users/{twin}"))).await.expect(200);
        let code = user["lock_codes"][0].clone();
        if code["status"] == "failed" && code["reason"] == "no_confirmation" && code["retry_at"].is_null() {
            break code;
        }
        assert!(Instant::now() < deadline, "never gave up: {user}\n{}", f.server.output());
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(net.code_sets("front_door"), 5, "written five times: {last}");
    assert_eq!(net.codes("front_door"), [(5, "1357".to_owned())].into());
    // The owner's "Try again": one more round.
    f.admin.post(&f.path(&format!("/users/{twin}/retry")), json!({})).await.expect(202);
    let deadline = Instant::now() + SOON;
    while net.code_sets("front_door") == 5 {
        assert!(Instant::now() < deadline, "never tried again when asked");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    net.remove().await;
}

/// A schedule window moves the code onto the lock when it opens (a lead
/// of 2 s here) and off when it closes.
async fn a_window_opening_and_closing_moves_the_code(backend: Backend) {
    let net = ZigbeeNet::start(&[LockSpec::new("front_door", 6)]).await;
    let f = hub_with(backend, &net, 1, &[], &[("KEYWARD_LOCK_LEAD_SECONDS", "2")]).await;
    let front = bound_lock(&f, "Front door", "front_door").await;
    // Windows are in whole seconds, in the home's zone (UTC here).
    let now = jiff::Timestamp::from_second(jiff::Timestamp::now().as_second()).expect("instant");
    let at = |offset: i64| now.checked_add(jiff::SignedDuration::from_secs(offset)).expect("instant");
    let (start, end) = (at(8), at(16));
    let wall = |t: jiff::Timestamp| jiff::tz::TimeZone::UTC.to_datetime(t);
    let day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][wall(start).weekday().to_monday_zero_offset() as usize];
    let window = json!({"days": [day], "start": wall(start).strftime("%H:%M:%S").to_string(), "end": wall(end).strftime("%H:%M:%S").to_string()});
    let body = json!({"name": "Dog walker", "code": "4719", "locks": "all", "schedule": {"windows": [window]}});
    let user = f.admin.create_user(&f.home, body).await;
    wait_for_status(&f, &user, &front, "off_lock", None).await;
    assert!(net.codes("front_door").is_empty(), "not before the window's lead time");
    net.wait_for_codes("front_door", &[(0, "4719")], SOON).await;
    let on_at = jiff::Timestamp::now();
    assert!(
        on_at >= start.checked_sub(jiff::SignedDuration::from_secs(3)).expect("instant"),
        "on at {on_at}, too early"
    );
    net.wait_for_codes("front_door", &[], SOON).await;
    let off_at = jiff::Timestamp::now();
    assert!(off_at >= end, "off at {off_at}, before the window closed at {end}");
    wait_for_status(&f, &user, &front, "off_lock", None).await;
    net.remove().await;
}

/// The broker restarted mid-sync (every session and retained message
/// gone), keyward killed mid-sync, a full lock, and a code spent by its uses.
async fn restarts_resume_a_full_lock_says_so_and_spent_codes_leave(backend: Backend) {
    let mut broker = OwnBroker::start();
    let net = ZigbeeNet::start_on(broker.port, &[LockSpec::new("front_door", 3)]).await;
    let place = Place::new(backend);
    let url = broker.url();
    let args = ["--mqtt-url", url.as_str()];
    let env = [("KEYWARD_ZIGBEE2MQTT_BASE_TOPIC", net.base.as_str())];
    let server = place.start_with(&args, &env);
    let admin = server.api(&place.token("admin", None));
    let home = admin.home_id().await;
    let f = Fixture { place, server, admin, home };
    until_offered(&f, 1).await;
    let front = bound_lock(&f, "Front door", "front_door").await;
    let first =
        f.admin.create_user(&f.home, json!({"name": "First", "code": "3141", "locks": "all", "max_uses": 1})).await;
    net.wait_for_codes("front_door", &[(0, "3141")], SOON).await;

    // The broker goes away during a change; the change lands once it is back.
    broker.stop();
    let second = f.admin.create_user(&f.home, json!({"name": "Second", "code": "2718", "locks": "all"})).await;
    let deadline = Instant::now() + SOON;
    loop {
        let ready = f.admin.get("/readyz").await.expect(200);
        if ready["networks"]["mqtt"] == "disconnected" && ready["networks"]["zigbee2mqtt"] == "disconnected" {
            break;
        }
        assert!(Instant::now() < deadline, "/readyz never noticed the broker gone: {ready}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    broker.run();
    net.wait_for_codes("front_door", &[(0, "3141"), (1, "2718")], Duration::from_secs(60)).await;
    wait_for_status(&f, &second, &front, "on_lock", None).await;

    // keyward killed with a code still to write; restarted, it resumes.
    let third = f.admin.create_user(&f.home, json!({"name": "Third", "code": "1618", "locks": "all"})).await;
    let Fixture { place, server, admin, home } = f;
    server.kill_9();
    let server = place.start_with(&args, &env);
    let admin = server.api(admin.token().expect("token"));
    let f = Fixture { admin, place, server, home };
    net.wait_for_codes("front_door", &[(0, "3141"), (1, "2718"), (2, "1618")], Duration::from_secs(60)).await;
    wait_for_status(&f, &third, &front, "on_lock", None).await;

    // A fourth user on a three-slot lock: an error on that user.
    let fourth = f.admin.create_user(&f.home, json!({"name": "Fourth", "code": "5772", "locks": "all"})).await;
    wait_for_status(&f, &fourth, &front, "failed", Some("no_free_slot")).await;

    // The first user's one use, at the keypad: the code leaves the lock, and
    // its slot goes to the user who had none.
    assert_eq!(net.type_code("front_door", "3141").await, Some(0));
    wait_for_entry(&f, "the first user's arrival", |e| e["kind"] == "arrival" && e["user"]["name"] == "First").await;
    net.wait_for_codes("front_door", &[(0, "5772"), (1, "2718"), (2, "1618")], SOON).await;
    assert_eq!(f.admin.get(&f.path(&format!("/users/{first}"))).await.expect(200)["uses"], 1);
    wait_for_status(&f, &fourth, &front, "on_lock", None).await;
    net.remove().await;
}

/// `keyward sim lock`, the virtual lock a person can try keyward with,
/// driven through its prompt as a person would.
pub(crate) struct VirtualLock {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    output: Arc<std::sync::Mutex<String>>,
    pub(crate) base: String,
}

impl VirtualLock {
    pub(crate) fn start(extra: &[&str]) -> Self {
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

    pub(crate) fn type_line(&mut self, line: &str) {
        use std::io::Write;
        writeln!(self.stdin, "{line}").expect("typed");
        self.stdin.flush().expect("flushed");
    }

    pub(crate) async fn wait_for_output(&self, text: &str) {
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

/// The virtual lock made difficult: it hides its codes, answers slowly
/// and loses every third command. keyward still gets the code on, and only
/// counts it once the lock confirms it.
async fn the_virtual_lock_slow_forgetful_and_hiding_its_codes(backend: Backend) {
    let mut lock =
        VirtualLock::start(&["--name", "side_door", "--hide-codes", "--slow-ms", "300", "--drop-every", "3"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("keyward.toml");
    std::fs::write(&config, "[zigbee2mqtt]\nanswer_timeout_seconds = 2\n").expect("config");
    let config = config.display().to_string();
    let env = [("KEYWARD_ZIGBEE2MQTT_BASE_TOPIC", lock.base.as_str())];
    let args = ["--mqtt-url", "mqtt://127.0.0.1:1883", "--config", config.as_str()];
    let f = Fixture::with_env(backend, &args, &env).await;
    until_offered(&f, 1).await;
    let side = bound_lock(&f, "Side door", "side_door").await;
    let walker = f.admin.create_user(&f.home, json!({"name": "Dog walker", "code": "4719", "locks": "all"})).await;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let user = f.admin.get(&f.path(&format!("/users/{walker}"))).await.expect(200);
        if user["lock_codes"][0]["status"] == "on_lock" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never on the lock: {user}\nthe lock said:\n{}\nkeyward said:\n{}",
            lock.output.lock().expect("log"),
            f.server.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    lock.wait_for_output("(a command did not reach the lock)").await;
    lock.type_line("codes");
    lock.wait_for_output("4719").await;
    lock.type_line("4719");
    lock.wait_for_output("unlocked: the code of slot").await;
    let arrival = wait_for_entry(&f, "the arrival", |e| e["kind"] == "arrival").await;
    assert_eq!(
        (arrival["user"]["name"].as_str(), arrival["device"].as_str()),
        (Some("Dog walker"), Some(side.as_str()))
    );
    lock.type_line("quit");
}

/// The README's five-minute tour, in a real Chromium: the virtual lock is
/// added on the Locks page, the dog walker's code reaches it, and the code
/// typed at its keypad appears live in the activity log.
async fn the_five_minute_tour_in_a_browser(backend: Backend) {
    use crate::browser::{fill, reload_until, signed_up_owner};
    let mut lock = VirtualLock::start(&["--name", "front_door", "--code", "5:1357"]);
    let place = Place::new(backend);
    let env = [("KEYWARD_ZIGBEE2MQTT_BASE_TOPIC", lock.base.as_str())];
    let server = place.start_with(&["--timezone", "Europe/Berlin", "--mqtt-url", "mqtt://127.0.0.1:1883"], &env);
    let base = server.base.clone();
    let browser = signed_up_owner(&server).await;

    // 2. Locks: the broker and Zigbee2MQTT connected, the virtual lock offered.
    reload_until(&browser, &format!("{base}/locks"), "Virtual keypad lock (keyward sim)").await;
    let text = browser.page_text().await;
    assert!(text.contains("MQTT broker mqtt://127.0.0.1:1883: connected."), "{text}");
    assert!(text.contains("Zigbee2MQTT: connected."), "{text}");
    fill(&browser, "#new_lock", "Front door").await;
    browser.find("#new_lock_device option[value='zigbee2mqtt:0x00158d000a1b2c3d']").await.click().await;
    browser.find("form[action='/locks'] button").await.click().await;
    // The form's answer first: loading the page again would abandon it.
    browser.wait_for_text("Front door").await;
    reload_until(&browser, &format!("{base}/locks"), "1 holds a code programmed at the lock").await;

    // 3. The dog walker, on the front door: the code reaches the lock.
    browser.goto(&format!("{base}/users/new")).await;
    fill(&browser, "#name", "Dog walker").await;
    fill(&browser, "#code", "4719").await;
    browser.find("input[name=lock]").await.click().await;
    browser.find("#save").await.click().await;
    browser.wait_for_url("/users").await;
    lock.wait_for_output("slot 0: a code was saved").await;
    reload_until(&browser, &format!("{base}/users"), "On 1 lock").await;
    browser.find("a[href^='/users/']:not([href='/users/new'])").await.click().await;
    browser.wait_for_text("Front door: on the lock (slot 0).").await;

    // 4. Typed at the virtual keypad: live in the activity log.
    browser.goto(&format!("{base}/activity")).await;
    browser.wait_for_text("Dog walker").await;
    lock.type_line("4719");
    lock.wait_for_output("unlocked: the code of slot 0").await;
    browser.wait_for_text("at the lock's keypad").await;
    let text = browser.page_text().await;
    assert!(
        text.lines()
            .any(|l| l.contains("Dog walker") && l.contains("Front door") && l.contains("at the lock's keypad")),
        "{text}"
    );
    lock.type_line("quit");
}

/// Issue 22 item 8: unknown codes typed at a lock's own keypad add up by the
/// home's lockout policy (here five within a minute): the burst is one
/// `keypad_guessing` entry, told once to the emergency channel, urgent; a
/// known code typed at the keypad starts the count again.
async fn a_burst_of_unknown_codes_at_the_lock_is_told(backend: Backend) {
    use crate::support::receiver::Receiver;
    let net = ZigbeeNet::start(&[LockSpec::new("front_door", 6)]).await;
    let f = hub(backend, &net, 1).await;
    let front = bound_lock(&f, "Front door", "front_door").await;
    let home = format!("/api/v1/homes/{}", f.home);
    let policy = json!({"lockout": {"max_attempts": 5, "window_seconds": 60, "lockout_seconds": 120}});
    f.admin.patch(&home, policy).await.expect(200);
    let port = free_port();
    let body =
        json!({"kind": "webhook", "name": "Siren", "url": format!("http://127.0.0.1:{port}/"), "emergency": true});
    let siren = f.admin.post(&f.path("/channels"), body).await.expect(201);
    let siren_rx = Receiver::start(port, siren["secret"].as_str().expect("secret"), 0);
    f.admin.create_user(&f.home, json!({"name": "Dog walker", "code": "4719", "locks": "all"})).await;
    net.wait_for_codes("front_door", &[(0, "4719")], SOON).await;

    // Four wrong codes, then the dog walker: no burst.
    for wrong in ["1111", "2222", "3333", "4444"] {
        net.type_code("front_door", wrong).await;
    }
    assert_eq!(net.type_code("front_door", "4719").await, Some(0));
    wait_for_entry(&f, "the arrival", |e| e["kind"] == "arrival").await;
    // Five more within the minute: one burst, told once.
    for wrong in ["5555", "6666", "7777", "8888", "9999", "1212"] {
        net.type_code("front_door", wrong).await;
    }
    let burst = wait_for_entry(&f, "the burst", |e| e["kind"] == "keypad_guessing").await;
    assert_eq!(
        (burst["device"].as_str(), burst["detail"].as_str()),
        (Some(front.as_str()), Some("5 wrong codes within 1 min")),
        "{burst}"
    );
    let told = siren_rx.wait_for_accepted(1, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let told = if siren_rx.accepted().len() > told.len() { siren_rx.accepted() } else { told };
    let kinds: Vec<&str> = told.iter().filter_map(|l| l["payload"]["type"].as_str()).collect();
    assert_eq!(kinds, ["keypad.guessing"], "told once: {told:?}");
    assert_eq!(told[0]["payload"]["data"]["title"], "Someone is guessing codes at Home", "{told:?}");
    let log = f.admin.get(&f.path("/activity?limit=50")).await.expect(200);
    let items = log["items"].as_array().expect("items");
    assert_eq!(items.iter().filter(|e| e["kind"] == "keypad_guessing").count(), 1, "{log}");
    assert_eq!(items.iter().filter(|e| e["kind"] == "access_denied").count(), 10, "{log}");
    assert!(!shows_code(&log.to_string(), "5555"));
    // The owner's Activity page marks the burst like a home-wide lockout.
    let mut owner = crate::ui::owner_browser(&f.server).await;
    let page = owner.get("/activity").await.body;
    assert!(page.contains("Someone is guessing codes at the lock&#39;s keypad"), "{page}");
    assert!(page.contains("5 wrong codes within 1 min"), "{page}");
}

/// Issue 22 item 8, second half: where the lock takes it, keyward sets the
/// lock's own wrong-code limit from the home's lockout policy (Zigbee's Door
/// Lock `wrongCodeEntryLimit` and `userCodeTemporaryDisableTime`, written
/// and read back), follows a change of the policy, and says on the Locks
/// page what the lock holds, or that it keeps its own.
async fn the_locks_own_wrong_code_limit_follows_the_home(backend: Backend) {
    let net =
        ZigbeeNet::start(&[LockSpec::new("front_door", 6), LockSpec::new("back_door", 6).without_wrong_code_limit()])
            .await;
    let f = hub(backend, &net, 2).await;
    bound_lock(&f, "Front door", "front_door").await;
    bound_lock(&f, "Back door", "back_door").await;
    let wanted = |attempts: u64, seconds: u64| {
        std::collections::BTreeMap::from([
            ("userCodeTemporaryDisableTime".to_owned(), seconds),
            ("wrongCodeEntryLimit".to_owned(), attempts),
        ])
    };
    let until = |attempts: u64, seconds: u64| {
        let net = &net;
        async move {
            let deadline = Instant::now() + SOON;
            while net.attributes("front_door") != wanted(attempts, seconds) {
                assert!(Instant::now() < deadline, "never set: {:?}", net.attributes("front_door"));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    // The default policy: 3 wrong codes, then 90 s.
    until(3, 90).await;
    let mut owner = crate::ui::owner_browser(&f.server).await;
    let deadline = Instant::now() + SOON;
    loop {
        let page = owner.get("/locks").await.body;
        if page.contains("Its own keypad: 3 wrong codes in a row, then no code for 90 s.")
            && page.contains("the lock did not take the home&#39;s")
        {
            break;
        }
        assert!(Instant::now() < deadline, "the Locks page never said the limits: {page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(net.attributes("back_door").is_empty());

    // A new policy: the lock follows.
    let policy = json!({"lockout": {"max_attempts": 5, "window_seconds": 60, "lockout_seconds": 120}});
    f.admin.patch(&format!("/api/v1/homes/{}", f.home), policy).await.expect(200);
    until(5, 120).await;
}

on_both_backends!(
    the_locks_own_wrong_code_limit_follows_the_home,
    a_burst_of_unknown_codes_at_the_lock_is_told,
    codes_follow_users_and_keypad_entries_are_attributed,
    a_user_on_two_locks_and_a_lock_turned_by_hand,
    a_foreign_code_taken_over_and_an_emptied_lock_refilled,
    a_lock_that_hides_its_codes,
    a_window_opening_and_closing_moves_the_code,
    the_virtual_lock_takes_codes_and_reports_the_keypad,
    the_virtual_lock_slow_forgetful_and_hiding_its_codes,
    the_five_minute_tour_in_a_browser,
    restarts_resume_a_full_lock_says_so_and_spent_codes_leave,
);

/// Issue 21 item 2: a message over keyward's 4 MiB limit, QoS 1 on a topic
/// it subscribes to, would be handed over again to keyward's stored session
/// on every reconnection. keyward drops it (with a clean session), says so
/// once, stays on the broker, and hears the lock again.
#[tokio::test]
async fn an_oversized_message_does_not_keep_keyward_off_the_broker() {
    let net = ZigbeeNet::start(&[LockSpec::new("front_door", 6)]).await;
    let f = hub(Backend::Sqlite, &net, 1).await;
    let front = bound_lock(&f, "Front door", "front_door").await;
    let walker = f.admin.create_user(&f.home, json!({"name": "Dog walker", "code": "4719", "locks": "all"})).await;
    wait_for_status(&f, &walker, &front, "on_lock", None).await;

    let mut options = rumqttc::MqttOptions::new(format!("{}-big", net.base), "127.0.0.1", 1883);
    options.set_max_packet_size(8 << 20, 8 << 20);
    let (client, mut events) = rumqttc::AsyncClient::new(options, 8);
    let poller = tokio::spawn(async move { while events.poll().await.is_ok() {} });
    let huge = vec![b' '; 5 << 20];
    client.publish(format!("{}/front_door", net.base), rumqttc::QoS::AtLeastOnce, false, huge).await.expect("queued");
    // (Waited for without blocking: the publisher runs on this thread.)
    let deadline = Instant::now() + SOON;
    while !f.server.output().contains("could not be read") {
        assert!(Instant::now() < deadline, "keyward never said it dropped the message:\n{}", f.server.output());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Back on the broker, hearing the lock: a code typed at it is an arrival.
    let deadline = Instant::now() + SOON;
    loop {
        let ready = f.admin.get("/readyz").await.expect(200);
        if ready["networks"]["mqtt"] == "connected" {
            break;
        }
        assert!(Instant::now() < deadline, "keyward never got back on the broker: {ready}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    net.type_code("front_door", "4719").await;
    wait_for_entry(&f, "the arrival after the oversized message", |e| e["kind"] == "arrival").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let output = f.server.output();
    assert_eq!(output.matches("could not be read").count(), 1, "said once:\n{output}");
    assert!(f.admin.get("/readyz").await.expect(200)["networks"]["mqtt"] == "connected");
    poller.abort();
}

/// Issue 21 item 7: a broker refusing keyward's password is said at warn
/// (once, though keyward keeps trying) and on `/readyz`, never with the
/// password.
#[tokio::test]
async fn a_refused_mqtt_password_is_said_at_warn_and_on_readyz() {
    let broker = OwnBroker::with_password("keyward", "right-pass-4719");
    let url = broker.url();
    let env = [("KEYWARD_MQTT_USERNAME", "keyward"), ("KEYWARD_MQTT_PASSWORD", "wrong-pass-5820")];
    let f = Fixture::with_env(Backend::Sqlite, &["--mqtt-url", &url], &env).await;
    let deadline = Instant::now() + SOON;
    let ready = loop {
        let ready = f.admin.get("/readyz").await.expect(200);
        if ready["problems"]["mqtt"].is_string() {
            break ready;
        }
        assert!(Instant::now() < deadline, "/readyz never said why MQTT is down: {ready}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(ready["networks"]["mqtt"], "disconnected");
    assert!(ready["problems"]["mqtt"].as_str().is_some_and(|p| p.contains("user name or password")), "{ready}");
    // Retried after 1 s and 2 s: still said once.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let output = f.server.output();
    let said: Vec<&str> = output.lines().filter(|l| l.contains("user name or password")).collect();
    assert_eq!(said.len(), 1, "{output}");
    assert!(said[0].contains("WARN"), "{}", said[0]);
    assert!(!output.contains("wrong-pass-5820") && !ready.to_string().contains("wrong-pass-5820"));
}

/// Issue 21 item 4: network devices belong to the installation. A token
/// bound to a home lists only its own locks' devices and never another
/// home's lock ids, and cannot bind a device; an unbound admin token can.
#[tokio::test]
async fn devices_belong_to_the_installation() {
    let net = ZigbeeNet::start(&[LockSpec::new("front_door", 6), LockSpec::new("shed_door", 6)]).await;
    let f = hub(Backend::Sqlite, &net, 2).await;
    let front = bound_lock(&f, "Front door", "front_door").await;
    let cabin = f.admin.post("/api/v1/homes", json!({"name": "Cabin", "timezone": "UTC"})).await.expect(201);
    let cabin = cabin["id"].as_str().expect("an id").to_owned();
    let b = f.server.api(&f.place.token("admin", Some(&cabin)));
    let listed = b.get("/api/v1/devices").await.expect(200);
    assert_eq!(listed["items"], json!([]), "a home-bound token sees only its own locks' devices: {listed}");

    let shed_device = json!({"protocol": "zigbee2mqtt", "friendly_name": "shed_door"});
    let locks = format!("/api/v1/homes/{cabin}/locks");
    b.post(&locks, json!({"name": "Shed", "device": shed_device})).await.expect_error(403, "forbidden");
    let shed = b.post(&locks, json!({"name": "Shed"})).await.expect(201)["id"].as_str().expect("id").to_owned();
    let shed_path = format!("{locks}/{shed}");
    b.patch(&shed_path, json!({"device": shed_device})).await.expect_error(403, "forbidden");
    let front_device = json!({"protocol": "zigbee2mqtt", "friendly_name": "front_door"});
    b.patch(&shed_path, json!({"device": front_device})).await.expect_error(403, "forbidden");
    b.post(&f.path(&format!("/locks/{front}/unlock")), json!({})).await.expect_error(403, "forbidden");

    // The installation binds the shed's device: the cabin's token sees that
    // one, bound to its own lock, and may change its name and slots.
    f.admin.patch(&shed_path, json!({"device": shed_device})).await.expect(200);
    let listed = b.get("/api/v1/devices").await.expect(200);
    let items = listed["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(
        (items[0]["friendly_name"].as_str(), items[0]["bound_to"].as_str()),
        (Some("shed_door"), Some(shed.as_str()))
    );
    b.patch(&shed_path, json!({"name": "Garden shed", "device": shed_device})).await.expect(200);
    let all = f.admin.get("/api/v1/devices").await.expect(200);
    let bound: Vec<&str> =
        all["items"].as_array().expect("items").iter().filter_map(|d| d["bound_to"].as_str()).collect();
    assert!(bound.contains(&front.as_str()) && bound.contains(&shed.as_str()), "{all}");
}
