//! Codes in the locks' own memory: the real keyward binary against the real
//! Z-Wave JS driver and server in front of simulated keypad locks. What a
//! test calls "on the lock" it reads from the simulated lock's memory.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::zwave::{SimLock, ZwaveSim};
use crate::support::*;

const SOON: Duration = Duration::from_secs(20);

/// A hub connected to a simulated Z-Wave network, with its locks offered.
async fn hub(backend: Backend, sim: &ZwaveSim, locks: usize) -> Fixture {
    let f = Fixture::with_args(backend, &["--zwave-js-url", &sim.url()]).await;
    let deadline = Instant::now() + SOON;
    loop {
        let devices = f.admin.get("/api/v1/devices").await.expect(200);
        if devices["items"].as_array().is_some_and(|d| d.len() == locks && d.iter().all(|d| d["slots"].is_u64())) {
            return f;
        }
        assert!(Instant::now() < deadline, "the locks were never offered: {devices}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn bound_lock(f: &Fixture, name: &str, node_id: u32) -> String {
    let body = json!({"name": name, "device": {"protocol": "zwave_js", "node_id": node_id}});
    let lock = f.admin.post(&f.path("/locks"), body).await.expect(201);
    assert_eq!(lock["device"], json!({"protocol": "zwave_js", "node_id": node_id}));
    lock["id"].as_str().expect("id").to_owned()
}

/// Waits until the user's code on `lock` has this status (and reason).
async fn wait_for_status(f: &Fixture, user: &str, lock: &str, status: &str, reason: Option<&str>) -> Value {
    let deadline = Instant::now() + SOON;
    loop {
        let body = f.admin.get(&f.path(&format!("/users/{user}"))).await.expect(200);
        let code = body["lock_codes"].as_array().and_then(|c| c.iter().find(|c| c["lock_id"] == lock)).cloned();
        if let Some(code) = &code
            && code["status"] == status
            && reason.is_none_or(|r| code["reason"] == r)
        {
            return code.clone();
        }
        assert!(Instant::now() < deadline, "{user} on {lock} never became {status} {reason:?}: {}", body["lock_codes"]);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn add_change_and_delete_a_code_on_two_locks(backend: Backend) {
    let sim = ZwaveSim::start(&[SimLock { node_id: 2, slots: 10 }, SimLock { node_id: 3, slots: 10 }]).await;
    let f = hub(backend, &sim, 2).await;
    let front = bound_lock(&f, "Front door", 2).await;
    let back = bound_lock(&f, "Back door", 3).await;
    let devices = f.admin.get("/api/v1/devices").await.expect(200);
    assert_eq!(devices["items"][0]["bound_to"], front.as_str());
    assert_eq!(devices["items"][0]["model"], "BE469");

    let walker =
        f.admin.create_user(&f.home, json!({"name": "Dog walker", "code": "4719", "locks": [front, back]})).await;
    sim.wait_for_codes(2, &[(1, "4719")], SOON).await;
    sim.wait_for_codes(3, &[(1, "4719")], SOON).await;
    let status = wait_for_status(&f, &walker, &front, "on_lock", None).await;
    assert_eq!(status["slot"], 1);
    wait_for_status(&f, &walker, &back, "on_lock", None).await;

    // A changed code replaces the old one, in the same slot.
    f.admin.patch(&f.path(&format!("/users/{walker}")), json!({"code": "5820"})).await.expect(200);
    sim.wait_for_codes(2, &[(1, "5820")], SOON).await;
    sim.wait_for_codes(3, &[(1, "5820")], SOON).await;

    // Only the front door now: the back door's copy is taken off.
    f.admin.patch(&f.path(&format!("/users/{walker}")), json!({"locks": [front]})).await.expect(200);
    sim.wait_for_codes(3, &[], SOON).await;
    sim.wait_for_codes(2, &[(1, "5820")], SOON).await;

    // Disabled: off every lock, and said so.
    f.admin.patch(&f.path(&format!("/users/{walker}")), json!({"enabled": false})).await.expect(200);
    sim.wait_for_codes(2, &[], SOON).await;
    f.admin.patch(&f.path(&format!("/users/{walker}")), json!({"enabled": true})).await.expect(200);
    sim.wait_for_codes(2, &[(1, "5820")], SOON).await;

    // Deleted: gone from the lock.
    f.admin.delete(&f.path(&format!("/users/{walker}"))).await.expect(204);
    sim.wait_for_codes(2, &[], SOON).await;
    let lock = f.admin.get(&f.path(&format!("/locks/{front}"))).await.expect(200);
    assert_eq!(lock["online"], true);
    assert_eq!(lock["state"]["battery"], 87);
    assert!(!f.server.output().contains("5820") && !f.server.output().contains("4719"), "no code in the log");
}

async fn a_duplicate_a_foreign_code_and_an_emptied_lock(backend: Backend) {
    let sim = ZwaveSim::start(&[SimLock { node_id: 2, slots: 6 }]).await;
    // A code programmed at the lock itself, before keyward.
    sim.program_at_lock(2, 5, "1357").await;
    let f = hub(backend, &sim, 1).await;
    let front = bound_lock(&f, "Front door", 2).await;

    // The foreign code is shown, and left alone.
    let deadline = Instant::now() + SOON;
    loop {
        let lock = f.admin.get(&f.path(&format!("/locks/{front}"))).await.expect(200);
        let slot5 = lock["slots"].as_array().and_then(|s| s.iter().find(|s| s["slot"] == 5)).cloned();
        if slot5.is_some_and(|s| s["foreign"] == true) {
            break;
        }
        assert!(Instant::now() < deadline, "slot 5 never shown as foreign: {lock}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A user whose code the lock already holds: diagnosed, not retried.
    let twin = f.admin.create_user(&f.home, json!({"name": "Neighbour", "code": "1357", "locks": "all"})).await;
    let status = wait_for_status(&f, &twin, &front, "failed", Some("duplicate_on_lock")).await;
    assert_eq!(status["other_slot"], 5, "{status}");
    assert_eq!(sim.codes(2).await, [(5, "1357".to_owned())].into());

    // Another user goes on; the lock is then emptied behind keyward's back
    // (all codes deleted at the lock) and refilled.
    let guest = f.admin.create_user(&f.home, json!({"name": "Guest", "code": "2468", "locks": "all"})).await;
    wait_for_status(&f, &guest, &front, "on_lock", None).await;
    let slot = sim.codes(2).await.into_iter().find(|(_, code)| code == "2468").map(|(slot, _)| slot).expect("on");
    sim.wipe(2).await;
    sim.wait_for_codes(2, &[(slot, "2468")], SOON).await;
    // The foreign code went with the wipe, so the twin fits now, after a retry.
    f.admin.post(&f.path(&format!("/users/{twin}/retry")), json!({})).await.expect(202);
    wait_for_status(&f, &twin, &front, "on_lock", None).await;
}

async fn an_offline_lock_and_a_restarted_server_are_caught_up(backend: Backend) {
    let mut sim = ZwaveSim::start(&[SimLock { node_id: 2, slots: 6 }]).await;
    let f = hub(backend, &sim, 1).await;
    let front = bound_lock(&f, "Front door", 2).await;
    let first = f.admin.create_user(&f.home, json!({"name": "First", "code": "3141", "locks": "all"})).await;
    wait_for_status(&f, &first, &front, "on_lock", None).await;

    // Off the network during a change: failed (offline), then caught up.
    sim.set_online(2, false).await;
    let second = f.admin.create_user(&f.home, json!({"name": "Second", "code": "2718", "locks": "all"})).await;
    wait_for_status(&f, &second, &front, "failed", Some("offline")).await;
    sim.set_online(2, true).await;
    sim.wait_for_codes(2, &[(1, "3141"), (2, "2718")], Duration::from_secs(40)).await;
    wait_for_status(&f, &second, &front, "on_lock", None).await;

    // Z-Wave JS restarted during a change: the change still lands.
    sim.stop_server();
    f.admin.patch(&f.path(&format!("/users/{first}")), json!({"code": "1618"})).await.expect(200);
    sim.restart_server(false).await;
    sim.wait_for_codes(2, &[(1, "1618"), (2, "2718")], Duration::from_secs(40)).await;

    // Z-Wave JS reinstalled (empty cache): its first interview clears every
    // code; keyward notices on reconnection and puts them back.
    sim.restart_server(true).await;
    sim.wait_for_codes(2, &[(1, "1618"), (2, "2718")], Duration::from_secs(40)).await;
}

/// Waits until the home's activity has an entry that satisfies `wanted`.
async fn wait_for_entry(f: &Fixture, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + SOON;
    loop {
        let page = f.admin.get(&f.path("/activity?limit=50")).await.expect(200);
        if let Some(entry) = page["items"].as_array().and_then(|items| items.iter().find(|e| wanted(e))) {
            return entry.clone();
        }
        assert!(Instant::now() < deadline, "never logged: {what}; the log: {page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn keypad_entries_are_attributed_and_count_as_uses(backend: Backend) {
    let sim = ZwaveSim::start(&[SimLock { node_id: 2, slots: 6 }]).await;
    let f = hub(backend, &sim, 1).await;
    let ready = f.admin.get("/readyz").await.expect(200);
    assert_eq!(ready["networks"]["zwave_js"], "connected");
    let front = bound_lock(&f, "Front door", 2).await;
    let walker = f
        .admin
        .create_user(&f.home, json!({"name": "Dog walker", "code": "4719", "locks": "all", "max_uses": 2}))
        .await;
    wait_for_status(&f, &walker, &front, "on_lock", None).await;

    // Typed at the lock itself: the lock decides, keyward names who it was.
    assert!(sim.type_code(2, "4719").await.is_some());
    let arrival = wait_for_entry(&f, "the dog walker's arrival", |e| e["kind"] == "arrival").await;
    assert_eq!(arrival["user"]["name"], "Dog walker");
    assert_eq!(arrival["device"], front.as_str());
    assert_eq!(arrival["actor"], "lock:keypad");
    assert_eq!(f.admin.get(&f.path(&format!("/users/{walker}"))).await.expect(200)["uses"], 1);

    // The second use is the last: the code leaves the lock.
    assert!(sim.type_code(2, "4719").await.is_some());
    sim.wait_for_codes(2, &[], SOON).await;
    assert_eq!(f.admin.get(&f.path(&format!("/users/{walker}"))).await.expect(200)["uses"], 2);
    assert_eq!(sim.type_code(2, "4719").await, None, "the lock no longer knows it");

    // Operated by hand: logged without a user.
    sim.operate_by_hand(2, true).await;
    wait_for_entry(&f, "a manual unlock", |e| e["kind"] == "unlocked" && e["actor"] == "lock:manual").await;

    // Commanded through keyward: carried out and logged under who asked.
    f.admin.post(&f.path(&format!("/locks/{front}/lock")), json!({})).await.expect(204);
    wait_for_entry(&f, "the admin's lock command", |e| e["kind"] == "locked" && e["actor"] == "token:admin").await;
    let deadline = Instant::now() + SOON;
    while f.admin.get(&f.path(&format!("/locks/{front}"))).await.expect(200)["state"]["locked"] != true {
        assert!(Instant::now() < deadline, "the lock never reported locked");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A code granted through keyward's own access check opens the lock too.
    f.admin.create_user(&f.home, json!({"name": "Cleaner", "code": "8642", "locks": "all"})).await;
    assert_eq!(f.admin.access(&f.home, "8642", &front, "unlock").await.expect(200)["granted"], true);
    let deadline = Instant::now() + SOON;
    while f.admin.get(&f.path(&format!("/locks/{front}"))).await.expect(200)["state"]["locked"] != false {
        assert!(Instant::now() < deadline, "the lock never opened for a granted code");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let unbound = f.admin.create_lock(&f.home, "Shed").await;
    f.admin.post(&f.path(&format!("/locks/{unbound}/unlock")), json!({})).await.expect_error(409, "device_unavailable");
}

on_both_backends!(
    keypad_entries_are_attributed_and_count_as_uses,
    add_change_and_delete_a_code_on_two_locks,
    a_duplicate_a_foreign_code_and_an_emptied_lock,
    an_offline_lock_and_a_restarted_server_are_caught_up,
);
