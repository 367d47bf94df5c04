//! The sequences that let a lock's memory and keyward's picture of it drift
//! apart (issue 20), each against the real Z-Wave JS driver and server in
//! front of simulated locks, or against the Zigbee2MQTT simulation, with
//! the real keyward binary. What a test calls "on the lock" it reads from
//! the simulated lock's memory. Each item's test failed before its fix.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::proxy::Proxy;
use crate::support::zigbee::{LockSpec, ZigbeeNet, ieee_of};
use crate::support::zwave::{SimLock, ZwaveSim};
use crate::support::*;

const SOON: Duration = Duration::from_secs(30);
const LONG: Duration = Duration::from_secs(60);

async fn until<T>(what: &str, within: Duration, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn zwave_hub(backend: Backend, url: &str, locks: usize) -> Fixture {
    let f = Fixture::with_env(backend, &["--zwave-js-url", url], &[]).await;
    until("the Z-Wave locks offered", SOON, async || {
        let devices = f.admin.get("/api/v1/devices").await.expect(200);
        let items = devices["items"].as_array().cloned().unwrap_or_default();
        (items.len() == locks && items.iter().all(|d| d["slots"].is_u64())).then_some(())
    })
    .await;
    f
}

async fn zwave_lock(f: &Fixture, name: &str, node_id: u32) -> String {
    let body = json!({"name": name, "device": {"protocol": "zwave_js", "node_id": node_id}});
    f.admin.post(&f.path("/locks"), body).await.expect(201)["id"].as_str().expect("id").to_owned()
}

async fn zigbee_hub(backend: Backend, net: &ZigbeeNet, locks: usize, config: &str) -> (Fixture, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("keyward.toml");
    std::fs::write(&file, config).expect("config");
    let file = file.display().to_string();
    let env = [("KEYWARD_ZIGBEE2MQTT_BASE_TOPIC", net.base.as_str())];
    let f = Fixture::with_env(backend, &["--mqtt-url", "mqtt://127.0.0.1:1883", "--config", &file], &env).await;
    until("the Zigbee locks offered", SOON, async || {
        let devices = f.admin.get("/api/v1/devices").await.expect(200);
        let offered = devices["items"].as_array().map_or(0, |d| d.len());
        (offered == locks).then_some(())
    })
    .await;
    (f, dir)
}

async fn zigbee_lock(f: &Fixture, name: &str, friendly_name: &str) -> String {
    let body = json!({"name": name, "device": {"protocol": "zigbee2mqtt", "friendly_name": friendly_name}});
    f.admin.post(&f.path("/locks"), body).await.expect(201)["id"].as_str().expect("id").to_owned()
}

fn slot_of(lock: &Value, slot: u64) -> Value {
    lock["slots"].as_array().and_then(|s| s.iter().find(|s| s["slot"] == slot)).cloned().unwrap_or(Value::Null)
}

/// Item 1: A code changed while the lock was away: keyward's own earlier code is
/// still keyward's when the lock is back, and it is replaced, never left.
async fn a_code_changed_while_the_lock_was_away_leaves_nothing_behind(backend: Backend) {
    let sim = ZwaveSim::start(&[SimLock { node_id: 2, slots: 6, ..SimLock::default() }]).await;
    let f = zwave_hub(backend, &sim.url(), 1).await;
    let front = zwave_lock(&f, "Front door", 2).await;
    let walker = f.admin.create_user(&f.home, json!({"name": "Dog walker", "code": "4719", "locks": "all"})).await;
    sim.wait_for_codes(2, &[(1, "4719")], SOON).await;
    wait_for_status(&f, &walker, &front, "on_lock", None).await;

    sim.set_online(2, false).await;
    f.admin.patch(&f.path(&format!("/users/{walker}")), json!({"code": "5820"})).await.expect(200);
    wait_for_status(&f, &walker, &front, "failed", Some("offline")).await;
    sim.set_online(2, true).await;
    sim.wait_for_codes(2, &[(1, "5820")], LONG).await;
    let status = wait_for_status(&f, &walker, &front, "on_lock", None).await;
    assert_eq!(status["slot"], 1, "{status}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sim.codes(2).await, [(1, "5820".to_owned())].into(), "the old code stays off");
}

/// Item 2: A code programmed at the lock without a report, then given to a user:
/// the lock refuses it as a duplicate, keyward finds the slot that holds
/// it, and every view says so: the slot is foreign, and can be taken over.
async fn a_silent_duplicate_shows_its_slot_everywhere(backend: Backend) {
    let sim = ZwaveSim::start(&[SimLock { node_id: 2, slots: 6, ..SimLock::default() }]).await;
    let f = zwave_hub(backend, &sim.url(), 1).await;
    let front = zwave_lock(&f, "Front door", 2).await;
    // Read back empty first, then programmed at the keypad with no report.
    until("the first read-back", SOON, async || {
        let lock = f.admin.get(&f.path(&format!("/locks/{front}"))).await.expect(200);
        (lock["slots"].as_array().map_or(0, |s| s.len()) == 6).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    sim.program_at_lock_silently(2, 5, "1357").await;
    let twin = f.admin.create_user(&f.home, json!({"name": "Neighbour", "code": "1357", "locks": "all"})).await;
    wait_for_status(&f, &twin, &front, "failed", Some("duplicate_on_lock")).await;
    // The slot holding it is found by reading the lock again, and named.
    until("the duplicate's slot named", SOON, async || {
        let user = f.admin.get(&f.path(&format!("/users/{twin}"))).await.expect(200);
        (user["lock_codes"][0]["other_slot"] == 5 && user["lock_codes"][0]["reason"] == "duplicate_on_lock")
            .then_some(())
    })
    .await;
    let lock = until("slot 5 shown as foreign", SOON, async || {
        let lock = f.admin.get(&f.path(&format!("/locks/{front}"))).await.expect(200);
        (slot_of(&lock, 5)["foreign"] == true).then_some(lock)
    })
    .await;
    assert_eq!(slot_of(&lock, 5)["status"], "off_lock", "{lock}");
    f.admin.post(&f.path(&format!("/locks/{front}/slots/5/take-over")), json!({})).await.expect(202);
    let status = wait_for_status(&f, &twin, &front, "on_lock", None).await;
    let slot = status["slot"].as_u64().expect("a slot") as u16;
    assert_eq!(sim.codes(2).await, [(slot, "1357".to_owned())].into());
}

/// Item 5: Removing or unbinding a lock first takes keyward's codes off its
/// device; a device that does not answer keeps the lock listed as being
/// removed; a removal forced anyway names the codes it leaves.
async fn removing_or_unbinding_a_lock_empties_its_device(backend: Backend) {
    let sim = ZwaveSim::start(&[
        SimLock { node_id: 2, slots: 6, ..SimLock::default() },
        SimLock { node_id: 3, slots: 6, ..SimLock::default() },
    ])
    .await;
    let f = zwave_hub(backend, &sim.url(), 2).await;
    let front = zwave_lock(&f, "Front door", 2).await;
    let back = zwave_lock(&f, "Back door", 3).await;
    let walker = f.admin.create_user(&f.home, json!({"name": "Dog walker", "code": "4719", "locks": "all"})).await;
    f.admin.create_user(&f.home, json!({"name": "Cleaner", "code": "5820", "locks": [front]})).await;
    sim.wait_for_codes(2, &[(1, "4719"), (2, "5820")], SOON).await;
    sim.wait_for_codes(3, &[(1, "4719")], SOON).await;

    // Removed: the codes come off first, and then the lock goes.
    f.admin.delete(&f.path(&format!("/locks/{front}"))).await.expect(204);
    assert_eq!(sim.codes(2).await, [].into(), "nothing of keyward's left on the removed lock");
    f.admin.get(&f.path(&format!("/locks/{front}"))).await.expect_error(404, "lock_not_found");

    // Unbound while its lock does not answer: listed as being removed, with what is left.
    sim.set_online(3, false).await;
    let waiting = f.admin.patch(&f.path(&format!("/locks/{back}")), json!({"device": null})).await.expect(202);
    assert_eq!(waiting["removal"]["kind"], "unbind", "{waiting}");
    assert_eq!(waiting["removal"]["codes_left"], json!([{"slot": 1, "user_id": walker}]), "{waiting}");
    assert_eq!(waiting["device"]["node_id"], 3, "the device is kept until it is empty: {waiting}");
    let listed = f.admin.get(&f.path("/locks")).await.expect(200);
    assert_eq!(listed["items"][0]["removal"]["kind"], "unbind", "{listed}");
    sim.set_online(3, true).await;
    until("the unbinding finished", LONG, async || {
        let lock = f.admin.get(&f.path(&format!("/locks/{back}"))).await.expect(200);
        (lock["removal"].is_null() && lock["device"].is_null()).then_some(())
    })
    .await;
    assert_eq!(sim.codes(3).await, [].into());

    // Bound again, then removed by force while it does not answer: the
    // answer names what stays where, and the log says it too.
    let body = json!({"device": {"protocol": "zwave_js", "node_id": 3}});
    f.admin.patch(&f.path(&format!("/locks/{back}")), body).await.expect(200);
    sim.wait_for_codes(3, &[(1, "4719")], SOON).await;
    sim.set_online(3, false).await;
    let forced = f.admin.delete(&f.path(&format!("/locks/{back}?force=true"))).await.expect(200);
    assert_eq!(forced["left_on_device"]["device"], json!({"protocol": "zwave_js", "node_id": 3}), "{forced}");
    assert_eq!(forced["left_on_device"]["codes"], json!([{"slot": 1, "user": {"id": walker, "name": "Dog walker"}}]));
    assert_eq!(forced["message"], "Dog walker's code (slot 1) stays on Z-Wave node 2.".replace('2', "3"));
    let entry = wait_for_entry(&f, "the codes left", |e| e["kind"] == "codes_left").await;
    assert_eq!(entry["detail"], forced["message"], "{entry}");
    f.admin.get(&f.path(&format!("/locks/{back}"))).await.expect_error(404, "lock_not_found");
    assert!(!shows_code(&forced.to_string(), "4719"), "never the code itself");
}

/// Item 6: A lock moved to another device: the old device is emptied, the new
/// one read back in full and given the codes; a keypad entry on the new
/// device is never taken for the user of that slot number on the old one.
async fn a_lock_moved_to_another_device_starts_from_its_read_back(backend: Backend) {
    let sim = ZwaveSim::start(&[
        SimLock { node_id: 2, slots: 6, ..SimLock::default() },
        SimLock { node_id: 3, slots: 6, ..SimLock::default() },
    ])
    .await;
    sim.program_at_lock(3, 1, "1357").await;
    let f = zwave_hub(backend, &sim.url(), 2).await;
    let front = zwave_lock(&f, "Front door", 2).await;
    let mut users = Vec::new();
    for (name, code) in [("Ann", "2468"), ("Bob", "3579"), ("Cy", "4680")] {
        users.push(f.admin.create_user(&f.home, json!({"name": name, "code": code, "locks": "all"})).await);
    }
    sim.wait_for_codes(2, &[(1, "2468"), (2, "3579"), (3, "4680")], SOON).await;

    let body = json!({"device": {"protocol": "zwave_js", "node_id": 3}});
    let moved = f.admin.patch(&f.path(&format!("/locks/{front}")), body).await;
    assert!(moved.status == 200 || moved.status == 202, "{}", moved.text);
    sim.wait_for_codes(2, &[], LONG).await;
    sim.wait_for_codes(3, &[(1, "1357"), (2, "2468"), (3, "3579"), (4, "4680")], LONG).await;
    for user in &users {
        wait_for_status(&f, user, &front, "on_lock", None).await;
    }
    let lock = f.admin.get(&f.path(&format!("/locks/{front}"))).await.expect(200);
    assert_eq!((lock["device"]["node_id"].as_u64(), slot_of(&lock, 1)["foreign"].as_bool()), (Some(3), Some(true)));

    // The code programmed at the new lock opens it: nobody keyward knows.
    assert_eq!(sim.type_code(3, "1357").await, Some(1));
    wait_for_entry(&f, "an unlock by someone unknown", |e| e["kind"] == "unlocked" && e["actor"] == "lock:keypad")
        .await;
    let arrivals = f.admin.get(&f.path("/activity?limit=100")).await.expect(200);
    assert!(
        !arrivals["items"].as_array().expect("items").iter().any(|e| e["kind"] == "arrival"),
        "nobody arrived: {arrivals}"
    );
}

/// Item 9: A Z-Wave JS server that goes silent (a frozen host, a cut network) is
/// noticed: keyward pings it, calls the connection lost, says so, connects
/// again and catches up.
async fn a_silent_zwave_js_server_is_noticed_and_reconnected(backend: Backend) {
    let sim = ZwaveSim::start(&[SimLock { node_id: 2, slots: 6, ..SimLock::default() }]).await;
    let port: u16 = sim.url().rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port");
    let proxy = Proxy::start(port).await;
    let f = zwave_hub(backend, &format!("ws://127.0.0.1:{}", proxy.port), 1).await;
    let front = zwave_lock(&f, "Front door", 2).await;
    let walker = f.admin.create_user(&f.home, json!({"name": "Dog walker", "code": "4719", "locks": "all"})).await;
    wait_for_status(&f, &walker, &front, "on_lock", None).await;

    proxy.freeze();
    let frozen = Instant::now();
    until("/readyz saying Z-Wave JS is not connected", Duration::from_secs(45), async || {
        let ready = f.admin.get("/readyz").await.expect(200);
        (ready["networks"]["zwave_js"] != "connected").then_some(())
    })
    .await;
    let noticed = frozen.elapsed();
    assert!(noticed >= Duration::from_secs(5), "a quiet second is not silence: {noticed:?}");
    until("connected again", LONG, async || {
        let ready = f.admin.get("/readyz").await.expect(200);
        (ready["networks"]["zwave_js"] == "connected").then_some(())
    })
    .await;
    assert!(proxy.connections() >= 2, "a new connection");
    // Events flow again: an entry at the keypad is the dog walker's arrival.
    assert_eq!(sim.type_code(2, "4719").await, Some(1));
    let arrival = wait_for_entry(&f, "the arrival after the reconnection", |e| e["kind"] == "arrival").await;
    assert_eq!(arrival["user"]["name"], "Dog walker");
}

/// 5 and 7 on Zigbee: locks are bound by IEEE address. Devices renamed in
/// Zigbee2MQTT (two names swapped) stay with their locks; a removed lock's
/// device is emptied first.
async fn zigbee_locks_follow_their_hardware_through_renames(backend: Backend) {
    let net = ZigbeeNet::start(&[LockSpec::new("front_door", 6), LockSpec::new("garage", 6)]).await;
    let (f, _dir) = zigbee_hub(backend, &net, 2, "").await;
    let garage = zigbee_lock(&f, "Garage", "garage").await;
    let front = zigbee_lock(&f, "Front door", "front_door").await;
    let gardener = f.admin.create_user(&f.home, json!({"name": "Gardener", "code": "4817", "locks": [garage]})).await;
    f.admin.create_user(&f.home, json!({"name": "Cleaner", "code": "5928", "locks": [front]})).await;
    net.wait_for_codes("garage", &[(0, "4817")], SOON).await;
    net.wait_for_codes("front_door", &[(0, "5928")], SOON).await;

    // The garage hardware is now called front_door, and the other way round.
    net.swap_names("garage", "front_door").await;
    until("the Garage lock shown under its hardware's new name", SOON, async || {
        let lock = f.admin.get(&f.path(&format!("/locks/{garage}"))).await.expect(200);
        (lock["device"]["friendly_name"] == "front_door").then_some(())
    })
    .await;
    wait_for_status(&f, &gardener, &garage, "on_lock", None).await;
    // The gardener leaves: their code leaves the garage hardware, nothing else.
    f.admin.delete(&f.path(&format!("/users/{gardener}"))).await.expect(204);
    net.wait_for_codes("garage", &[], SOON).await;
    net.wait_for_codes("front_door", &[(0, "5928")], SOON).await;
    let guest = f.admin.create_user(&f.home, json!({"name": "Guest", "code": "6039", "locks": [front]})).await;
    wait_for_status(&f, &guest, &front, "on_lock", None).await;
    assert_eq!(net.codes("front_door"), [(0, "5928".to_owned()), (1, "6039".to_owned())].into());
    assert_eq!(net.codes("garage"), [].into());
    let lock = f.admin.get(&f.path(&format!("/locks/{garage}"))).await.expect(200);
    assert_eq!(lock["device"]["ieee_address"], ieee_of(1), "bound by its address: {lock}");

    // Removed: the front door's codes come off its hardware first.
    f.admin.delete(&f.path(&format!("/locks/{front}"))).await.expect(204);
    assert_eq!(net.codes("front_door"), [].into());
    net.remove().await;
}

/// Item 7, for locks bound before: a Zigbee lock bound by friendly name is
/// bound by the IEEE address of the device carrying that name once
/// Zigbee2MQTT lists its devices, and keeps its slots.
async fn a_zigbee_lock_bound_by_name_before_is_bound_by_address(backend: Backend) {
    let net = ZigbeeNet::start(&[LockSpec::new("front_door", 6)]).await;
    let place = Place::new(backend);
    let args = ["--mqtt-url", "mqtt://127.0.0.1:1883"];
    let env = [("KEYWARD_ZIGBEE2MQTT_BASE_TOPIC", net.base.as_str())];
    let server = place.start_with(&args, &env);
    let admin = server.api(&place.token("admin", None));
    let home = admin.home_id().await;
    let f = Fixture { place, server, admin, home };
    until("the lock offered", SOON, async || {
        let devices = f.admin.get("/api/v1/devices").await.expect(200);
        (devices["items"].as_array().map_or(0, |d| d.len()) == 1).then_some(())
    })
    .await;
    let front = zigbee_lock(&f, "Front door", "front_door").await;
    let walker = f.admin.create_user(&f.home, json!({"name": "Dog walker", "code": "4719", "locks": "all"})).await;
    net.wait_for_codes("front_door", &[(0, "4719")], SOON).await;
    wait_for_status(&f, &walker, &front, "on_lock", None).await;
    let Fixture { place, server, admin, home } = f;
    server.terminate();
    // As a binding made before keyward bound Zigbee locks by address.
    place.execute(&format!("UPDATE locks SET device_ieee = NULL, device_name = 'front_door' WHERE id = '{front}';"));
    let server = place.start_with(&args, &env);
    let admin = server.api(admin.token().expect("token"));
    let f = Fixture { place, server, admin, home };
    let lock = until("bound by its address again", SOON, async || {
        let lock = f.admin.get(&f.path(&format!("/locks/{front}"))).await.expect(200);
        (lock["device"]["ieee_address"] == ieee_of(0)).then_some(lock)
    })
    .await;
    assert_eq!(lock["device"]["friendly_name"], "front_door", "{lock}");
    wait_for_status(&f, &walker, &front, "on_lock", None).await;
    f.admin.delete(&f.path(&format!("/users/{walker}"))).await.expect(204);
    net.wait_for_codes("front_door", &[], SOON).await;
    net.remove().await;
}

/// Item 8: A retained keypad message (Zigbee2MQTT's `retain` device option) is
/// handed to keyward again at every start: it is state, never a new entry.
async fn a_retained_keypad_message_is_not_an_arrival_again(backend: Backend) {
    let net = ZigbeeNet::start(&[LockSpec::new("front_door", 6)]).await;
    let place = Place::new(backend);
    let args = ["--mqtt-url", "mqtt://127.0.0.1:1883"];
    let env = [("KEYWARD_ZIGBEE2MQTT_BASE_TOPIC", net.base.as_str())];
    let server = place.start_with(&args, &env);
    let admin = server.api(&place.token("admin", None));
    let home = admin.home_id().await;
    let mut f = Fixture { place, server, admin, home };
    until("the lock offered", SOON, async || {
        let devices = f.admin.get("/api/v1/devices").await.expect(200);
        (devices["items"].as_array().map_or(0, |d| d.len()) == 1).then_some(())
    })
    .await;
    let front = zigbee_lock(&f, "Front door", "front_door").await;
    let guest =
        f.admin.create_user(&f.home, json!({"name": "Guest", "code": "4719", "locks": "all", "max_uses": 3})).await;
    net.wait_for_codes("front_door", &[(0, "4719")], SOON).await;
    assert_eq!(net.type_code_retained("front_door", "4719").await, Some(0));
    wait_for_entry(&f, "the guest's arrival", |e| e["kind"] == "arrival").await;

    for _ in 0..2 {
        let Fixture { place, server, admin, home } = f;
        server.terminate();
        let server = place.start_with(&args, &env);
        let admin = server.api(admin.token().expect("token"));
        f = Fixture { place, server, admin, home };
        wait_for_status(&f, &guest, &front, "on_lock", None).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let user = f.admin.get(&f.path(&format!("/users/{guest}"))).await.expect(200);
    assert_eq!(user["uses"], 1, "one use, however often keyward starts: {user}");
    let log = f.admin.get(&f.path("/activity?limit=100")).await.expect(200);
    let arrivals = log["items"].as_array().expect("items").iter().filter(|e| e["kind"] == "arrival").count();
    assert_eq!(arrivals, 1, "{log}");
    assert_eq!(net.codes("front_door"), [(0, "4719".to_owned())].into(), "the code stays: uses are left");
    net.remove().await;
}

/// Item 10: A lock flapping off and on the network is one problem told once,
/// not an alert per flap.
async fn a_flapping_lock_is_one_problem(backend: Backend) {
    let net = ZigbeeNet::start(&[LockSpec::new("front_door", 6)]).await;
    let (f, _dir) = zigbee_hub(backend, &net, 1, "").await;
    zigbee_lock(&f, "Front door", "front_door").await;
    let topic = format!("keyward/{}/alerts/emergencies", f.home);
    let siren = json!({"kind": "mqtt", "name": "Siren", "topic": topic, "emergency": true});
    let siren = f.admin.post(&f.path("/channels"), siren).await.expect(201);
    let siren = siren["id"].as_str().expect("id").to_owned();
    for _ in 0..20 {
        net.set_online("front_door", false).await;
        tokio::time::sleep(Duration::from_millis(60)).await;
        net.set_online("front_door", true).await;
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    wait_for_entry(&f, "the lock offline", |e| e["kind"] == "offline").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let log = f.admin.get(&f.path("/activity?limit=200")).await.expect(200);
    let offline = log["items"].as_array().expect("items").iter().filter(|e| e["kind"] == "offline").count();
    assert_eq!(offline, 1, "told once: {log}");
    let told = f.admin.get(&f.path(&format!("/channels/{siren}/deliveries"))).await.expect(200);
    let alerts = told["items"].as_array().expect("items").iter().filter(|d| d["type"] == "device.offline").count();
    assert_eq!(alerts, 1, "one alert: {told}");
    net.remove().await;
}

/// Item 11: Codes changed in quick succession while keyward writes: what goes
/// into the lock, what keyward records and what it checks are the same
/// code, and an earlier one never stays behind.
async fn a_code_changed_twice_during_its_write_leaves_only_the_last(backend: Backend) {
    let net = ZigbeeNet::start(&[LockSpec::new("front_door", 10)]).await;
    let (f, _dir) = zigbee_hub(backend, &net, 1, "").await;
    let front = zigbee_lock(&f, "Front door", "front_door").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // A battery lock: every read answered after 150 ms, so the second
    // change lands while keyward is still writing.
    net.answer_after("front_door", Duration::from_millis(150));
    let codes = ["1031", "2042", "3053", "4064", "5075"];
    let mut users = Vec::new();
    for (n, code) in codes.iter().enumerate() {
        users.push(
            f.admin.create_user(&f.home, json!({"name": format!("Guest {n}"), "code": code, "locks": "all"})).await,
        );
    }
    tokio::time::sleep(Duration::from_millis(350)).await;
    let fifth = format!("/users/{}", users[4]);
    f.admin.patch(&f.path(&fifth), json!({"code": "6086"})).await.expect(200);
    tokio::time::sleep(Duration::from_millis(900)).await;
    f.admin.patch(&f.path(&fifth), json!({"code": "7097"})).await.expect(200);
    until("the lock holding exactly the users' codes", LONG, async || {
        let held: Vec<String> = net.codes("front_door").into_values().collect();
        let mut held = held;
        held.sort();
        (held == ["1031", "2042", "3053", "4064", "7097"]).then_some(())
    })
    .await;
    wait_for_status(&f, &users[4], &front, "on_lock", None).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!net.codes("front_door").values().any(|c| c == "6086" || c == "5075"), "{:?}", net.codes("front_door"));
    net.remove().await;
}

/// Item 12: A write the lock kept whose answers were lost: the retry reads the
/// code back, and that read-back settles its status.
async fn a_read_back_after_lost_answers_settles_the_status(backend: Backend) {
    let net = ZigbeeNet::start(&[LockSpec::new("front_door", 6)]).await;
    let (f, _dir) = zigbee_hub(backend, &net, 1, "[zigbee2mqtt]\nanswer_timeout_seconds = 1\n").await;
    let front = zigbee_lock(&f, "Front door", "front_door").await;
    until("the first read-back", SOON, async || {
        let lock = f.admin.get(&f.path(&format!("/locks/{front}"))).await.expect(200);
        lock["slots"].as_array().is_some_and(|s| s.len() == 6 && s.iter().all(|s| s["unread"] != true)).then_some(())
    })
    .await;
    net.lose_answers("front_door", 2);
    let walker = f.admin.create_user(&f.home, json!({"name": "Dog walker", "code": "4719", "locks": "all"})).await;
    let failed = wait_for_status(&f, &walker, &front, "failed", Some("offline")).await;
    assert!(failed["retry_at"].is_string(), "{failed}");
    assert_eq!(net.codes("front_door"), [(0, "4719".to_owned())].into(), "the lock kept it");
    let settled = wait_for_status(&f, &walker, &front, "on_lock", None).await;
    assert_eq!(
        (settled["slot"].as_u64(), &settled["reason"], &settled["retry_at"]),
        (Some(0), &Value::Null, &Value::Null)
    );
    let lock = f.admin.get(&f.path(&format!("/locks/{front}"))).await.expect(200);
    assert_eq!(slot_of(&lock, 0)["status"], "on_lock", "{lock}");
    net.remove().await;
}

/// Item 13: A lock removed by force while its worker waits on the lock: the
/// worker stops cleanly, and nothing is stored for a lock that is gone.
async fn a_lock_removed_mid_write_stops_its_worker_cleanly(backend: Backend) {
    let net = ZigbeeNet::start(&[LockSpec::new("front_door", 6)]).await;
    let (f, _dir) = zigbee_hub(backend, &net, 1, "[zigbee2mqtt]\nanswer_timeout_seconds = 2\n").await;
    let front = zigbee_lock(&f, "Front door", "front_door").await;
    until("the first read-back", SOON, async || {
        let lock = f.admin.get(&f.path(&format!("/locks/{front}"))).await.expect(200);
        lock["slots"].as_array().is_some_and(|s| s.len() == 6 && s.iter().all(|s| s["unread"] != true)).then_some(())
    })
    .await;
    net.lose_answers("front_door", 100);
    f.admin.create_user(&f.home, json!({"name": "Dog walker", "code": "4719", "locks": "all"})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let removed = f.admin.delete(&f.path(&format!("/locks/{front}?force=true"))).await;
    assert!(removed.status == 200 || removed.status == 204, "{}", removed.text);
    // Past every answer the worker was waiting for.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let output = f.server.output();
    assert!(
        !output.contains("could not be stored") && !output.to_lowercase().contains("foreign key"),
        "a removed lock's worker stored nothing more: {output}"
    );
    f.admin.get(&f.path(&format!("/locks/{front}"))).await.expect_error(404, "lock_not_found");
    net.remove().await;
}

/// Item 4: no write goes to a lock unless its intent is durable. With the
/// store refusing slot writes, nothing reaches the lock and the code is
/// `failed` (`store_failed`), retried; once the store takes writes again the
/// code goes on.
async fn no_write_goes_out_before_its_intent_is_stored(backend: Backend) {
    let sim = ZwaveSim::start(&[SimLock { node_id: 2, slots: 6, ..SimLock::default() }]).await;
    let f = zwave_hub(backend, &sim.url(), 1).await;
    let front = zwave_lock(&f, "Front door", 2).await;
    until("the first read-back", SOON, async || {
        let lock = f.admin.get(&f.path(&format!("/locks/{front}"))).await.expect(200);
        lock["slots"].as_array().is_some_and(|s| s.len() == 6 && s.iter().all(|s| s["unread"] != true)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let refuse = match backend {
        Backend::Sqlite => {
            "CREATE TRIGGER refuse_slots BEFORE UPDATE ON lock_slots \
             BEGIN SELECT RAISE(ABORT, 'refused for the test'); END; \
             CREATE TRIGGER refuse_new_slots BEFORE INSERT ON lock_slots \
             BEGIN SELECT RAISE(ABORT, 'refused for the test'); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION refuse_slots() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'refused for the test'; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER refuse_slots BEFORE INSERT OR UPDATE ON lock_slots \
             FOR EACH ROW EXECUTE FUNCTION refuse_slots();"
        }
    };
    f.place.execute(refuse);
    let walker = f.admin.create_user(&f.home, json!({"name": "Dog walker", "code": "4719", "locks": "all"})).await;
    let failed = wait_for_status(&f, &walker, &front, "failed", Some("store_failed")).await;
    assert!(failed["retry_at"].is_string(), "retried by itself: {failed}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sim.codes(2).await, [].into(), "nothing written while its intent could not be stored");
    let allow = match backend {
        Backend::Sqlite => "DROP TRIGGER refuse_slots; DROP TRIGGER refuse_new_slots;",
        Backend::Postgres => "DROP TRIGGER refuse_slots ON lock_slots; DROP FUNCTION refuse_slots();",
    };
    f.place.execute(allow);
    sim.wait_for_codes(2, &[(1, "4719")], LONG).await;
    wait_for_status(&f, &walker, &front, "on_lock", None).await;
}

/// Item 5 on the Locks page: removing a lock that does not answer says it
/// is being removed and what is still on it; "Remove anyway" says which
/// codes stay, before and after.
async fn the_locks_page_says_what_a_removal_leaves(backend: Backend) {
    let sim = ZwaveSim::start(&[SimLock { node_id: 2, slots: 6, ..SimLock::default() }]).await;
    let f = zwave_hub(backend, &sim.url(), 1).await;
    let front = zwave_lock(&f, "Front door", 2).await;
    let walker = f.admin.create_user(&f.home, json!({"name": "Dog walker", "code": "4719", "locks": "all"})).await;
    wait_for_status(&f, &walker, &front, "on_lock", None).await;
    let mut owner = crate::ui::owner_browser(&f.server).await;
    sim.set_online(2, false).await;

    let confirm = owner.get(&format!("/locks/{front}/delete")).await;
    assert!(confirm.body.contains("keyward first takes the 1 code it put on Z-Wave node 2 off it"), "{}", confirm.body);
    let removed = owner.post(&format!("/locks/{front}/delete"), &[("csrf", &confirm.csrf())]).await;
    assert_eq!(removed.location(), "/locks");
    let page = owner.get("/locks").await;
    assert!(
        page.body.contains("Front door is being removed: keyward takes its codes off the lock first"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(
            "Being removed: keyward is taking its codes off Z-Wave node 2 first (still there: Dog walker (slot 1))"
        ),
        "{}",
        page.body
    );
    // Users can no longer be given it.
    let form = owner.get("/users/new").await;
    assert!(!form.body.contains(&format!("value=\"{front}\"")), "a lock being removed is not offered");

    let anyway = owner.get(&format!("/locks/{front}/delete?force=1")).await;
    assert!(anyway.body.contains("Remove Front door anyway?"), "{}", anyway.body);
    assert!(
        anyway.body.contains("Dog walker&#39;s code (slot 1) stays on Z-Wave node 2. They keep opening the door"),
        "{}",
        anyway.body
    );
    let forced = owner.post(&format!("/locks/{front}/delete?force=1"), &[("csrf", &anyway.csrf())]).await;
    assert_eq!(forced.location(), "/locks");
    let page = owner.get("/locks").await;
    assert!(page.body.contains("Front door removed."), "{}", page.body);
    assert!(page.body.contains("stays on Z-Wave node 2. Clear them at the lock."), "{}", page.body);
    assert!(!page.body.contains("Being removed"), "{}", page.body);
    f.admin.get(&f.path(&format!("/locks/{front}"))).await.expect_error(404, "lock_not_found");
    assert_eq!(sim.codes(2).await, [(1, "4719".to_owned())].into(), "forced: the code stays, as the page said");
}

on_both_backends!(
    a_zigbee_lock_bound_by_name_before_is_bound_by_address,
    no_write_goes_out_before_its_intent_is_stored,
    the_locks_page_says_what_a_removal_leaves,
    a_code_changed_while_the_lock_was_away_leaves_nothing_behind,
    a_silent_duplicate_shows_its_slot_everywhere,
    removing_or_unbinding_a_lock_empties_its_device,
    a_lock_moved_to_another_device_starts_from_its_read_back,
    a_silent_zwave_js_server_is_noticed_and_reconnected,
    zigbee_locks_follow_their_hardware_through_renames,
    a_retained_keypad_message_is_not_an_arrival_again,
    a_flapping_lock_is_one_problem,
    a_code_changed_twice_during_its_write_leaves_only_the_last,
    a_read_back_after_lost_answers_settles_the_status,
    a_lock_removed_mid_write_stops_its_worker_cleanly,
);
