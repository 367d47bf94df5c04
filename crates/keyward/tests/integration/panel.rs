//! Issue 23, the panel through the binary (both backends): settings within
//! CP-01's ranges (or not, when the owner says so), arming and disarming
//! with a user's code through the one decision and without a code by the
//! owner, auto-stay, the exit delay to its recorded deadline across a kill
//! -9, a restart that never disarms, and who may do what.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::*;

/// Waits until the panel reads `state` (the exit delay runs on the hub's clock).
async fn until_state(api: &Api, home: &str, state: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let panel = api.get(&format!("/api/v1/homes/{home}/panel")).await.expect(200);
        if panel["state"] == state {
            return panel;
        }
        assert!(Instant::now() < deadline, "the panel never read {state}: {panel}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn the_panel_arms_and_disarms_by_code_and_by_the_owner(backend: Backend) {
    let f = Fixture::new(backend).await;
    let panel = f.path("/panel");
    let fresh = f.admin.get(&panel).await.expect(200);
    assert_eq!(fresh["state"], "disarmed");
    assert_eq!(fresh["changed_by"], Value::Null);
    assert_eq!(fresh["ready"], json!({"away": true, "stay": true, "night": true}));
    assert_eq!(
        fresh["settings"],
        json!({"exit_delay": 60, "entry_delay": 30, "siren_time": 240, "abort_window": 30, "swinger_limit": 2,
               "arm_without_code": false, "cp01": true})
    );

    // CP-01's ranges, and the entry delay with the abort window at most 60 s:
    // a refusal changes nothing.
    for bad in [
        json!({"settings": {"exit_delay": 44}}),
        json!({"settings": {"entry_delay": 45}}),
        json!({"settings": {"abort_window": 46}}),
    ] {
        f.admin.patch(&panel, bad).await.expect_error(409, "panel_settings_not_cp01");
    }
    for bad in [
        json!({"settings": {"exit_delay": 256}}),
        json!({"settings": {"swinger_limit": 0}}),
        json!({"settings": {"siren_time": 30}}),
    ] {
        f.admin.patch(&panel, bad).await.expect_error(422, "panel_settings_invalid");
    }
    f.admin.patch(&panel, json!({"settings": {"exit": 60}})).await.expect_error(422, "invalid_request");
    assert_eq!(f.admin.get(&panel).await.expect(200)["settings"], fresh["settings"], "nothing changed");
    // Not CP-01, at the owner's word: short delays for this test.
    let quick = json!({"settings": {"cp01": false, "exit_delay": 2, "entry_delay": 0, "abort_window": 0}});
    let set = f.admin.patch(&panel, quick).await.expect(200);
    assert_eq!((set["settings"]["exit_delay"].as_u64(), set["settings"]["cp01"].as_bool()), (Some(2), Some(false)));

    // Who may: read sees, admin commands, a device only tries codes.
    let read = f.token("read", Some(&f.home));
    read.get(&panel).await.expect(200);
    read.post(&f.path("/panel/arm"), json!({"mode": "away"})).await.expect_error(403, "forbidden");
    read.patch(&panel, json!({"settings": {"exit_delay": 3}})).await.expect_error(403, "forbidden");
    let device = f.token("device", Some(&f.home));
    device.get(&panel).await.expect_error(403, "forbidden");

    // The dog walker arms at a keypad: nobody opens the exit door, so auto-stay.
    let walker = f
        .admin
        .create_user(&f.home, json!({"name": "Dog walker", "code": "4719", "panel": {"arm": true, "disarm": true}}))
        .await;
    let armed = device.access(&f.home, "4719", "panel", "arm_away").await.expect(200);
    assert_eq!(armed["granted"], true);
    assert_eq!(armed["panel"]["state"], "arming", "{armed}");
    assert!(armed["panel"]["delay_until"].is_string(), "{armed}");
    let stay = until_state(&f.admin, &f.home, "armed_stay", Duration::from_secs(10)).await;
    assert_eq!(stay["changed_by"], json!({"user_id": walker, "name": "Dog walker"}));
    assert_eq!(stay["mode"], "stay");
    let auto = wait_for_entry(&f, "auto-stay", |e| {
        e["kind"] == "panel" && e["detail"].as_str().is_some_and(|d| d.contains("nobody left"))
    })
    .await;
    assert_eq!(auto["device"], "panel", "{auto}");

    // Arming an armed panel changes nothing; the code is still good.
    let again = device.access(&f.home, "4719", "panel", "arm_away").await.expect(200);
    assert_eq!((again["granted"].as_bool(), again["panel"]["state"].as_str()), (Some(true), Some("armed_stay")));
    f.admin.post(&f.path("/panel/arm"), json!({"mode": "away"})).await.expect_error(409, "panel_not_disarmed");

    // A cleaner may open doors, not disarm: refused, and the panel stays armed.
    f.admin.create_user(&f.home, json!({"name": "Cleaner", "code": "8642", "locks": "all"})).await;
    let refused = device.access(&f.home, "8642", "panel", "disarm").await.expect(200);
    assert_eq!(refused, json!({"granted": false}), "a device learns only no");
    assert_eq!(f.admin.get(&panel).await.expect(200)["state"], "armed_stay");

    // The walker disarms: one record holds the arrival and the panel's change.
    let disarmed = device.access(&f.home, "4719", "panel", "disarm").await.expect(200);
    assert_eq!(disarmed["panel"], json!({"state": "disarmed", "delay_until": null}));
    let entry = wait_for_entry(&f, "the disarm", |e| e["kind"] == "panel" && e["detail"] == "disarmed").await;
    assert_eq!(entry["user"]["name"], "Dog walker", "{entry}");

    // The owner arms remotely: no auto-stay.
    let remote = f.admin.post(&f.path("/panel/arm"), json!({"mode": "away"})).await.expect(200);
    assert_eq!(remote["state"], "arming");
    let away = until_state(&f.admin, &f.home, "armed_away", Duration::from_secs(10)).await;
    assert_eq!(away["changed_by"]["user_id"], Value::Null, "{away}");
    let disarmed = f.admin.post(&f.path("/panel/disarm"), json!({})).await.expect(200);
    assert_eq!(disarmed["state"], "disarmed");
    f.admin.post(&f.path("/panel/disarm"), json!({})).await.expect_error(409, "panel_already_disarmed");
}

/// kill -9 while armed restarts armed; during the exit delay, the delay
/// resumes from its recorded start (it is not restarted, and not skipped).
async fn a_restart_never_disarms_and_resumes_the_exit_delay(backend: Backend) {
    let place = Place::new(backend);
    let server = place.start();
    let admin = server.api(&place.token("admin", None));
    let home = admin.home_id().await;
    let panel = format!("/api/v1/homes/{home}/panel");
    admin.patch(&panel, json!({"settings": {"cp01": false, "exit_delay": 1}})).await.expect(200);
    admin.post(&format!("{panel}/arm"), json!({"mode": "night"})).await.expect(200);
    let armed = until_state(&admin, &home, "armed_night", Duration::from_secs(10)).await;
    server.kill_9();

    let server = place.start();
    let admin = server.api(admin.token().expect("token"));
    let after = admin.get(&panel).await.expect(200);
    assert_eq!(after["state"], "armed_night", "a restart never disarms: {after}");
    assert_eq!((&after["changed_at"], &after["changed_by"]), (&armed["changed_at"], &armed["changed_by"]));

    // Killed in the exit delay: after the restart it ends when it was due.
    admin.post(&format!("{panel}/disarm"), json!({})).await.expect(200);
    admin.patch(&panel, json!({"settings": {"exit_delay": 6}})).await.expect(200);
    let arming = admin.post(&format!("{panel}/arm"), json!({"mode": "away"})).await.expect(200);
    let due: jiff::Timestamp = arming["delay_until"].as_str().expect("a deadline").parse().expect("an instant");
    server.kill_9();
    let server = place.start();
    let admin = server.api(admin.token().expect("token"));
    let resumed = admin.get(&panel).await.expect(200);
    assert_eq!(resumed["state"], "arming", "{resumed}");
    assert_eq!(resumed["delay_until"], arming["delay_until"], "the same deadline, not a new one");
    let armed = until_state(&admin, &home, "armed_away", Duration::from_secs(15)).await;
    let at: jiff::Timestamp = armed["changed_at"].as_str().expect("an instant").parse().expect("an instant");
    assert_eq!(at, due, "armed at the recorded deadline, to the second");
}

on_both_backends!(
    the_panel_arms_and_disarms_by_code_and_by_the_owner,
    a_restart_never_disarms_and_resumes_the_exit_delay
);
