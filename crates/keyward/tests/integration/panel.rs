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

/// Sensors on Zigbee2MQTT over the real Mosquitto: offered as devices,
/// set up with kinds and modes, their reports read into the panel —
/// readiness names an open sensor; armed away, the front door starts the
/// entry delay (the hall's motion waits for it), which runs out into a
/// burglary told after the abort window; the dog walker's code ends it;
/// smoke fires with the panel disarmed and is told at once.
async fn zigbee_sensors_drive_the_panel(backend: Backend) {
    use crate::support::zigbee_sensors::{SensorNet, sensor_ieee};
    let net = SensorNet::start(&[
        ("front_contact", "contact"),
        ("hall_motion", "occupancy"),
        ("kitchen_smoke", "smoke"),
        ("hall_siren", "warning"),
    ])
    .await;
    let env = [("KEYWARD_ZIGBEE2MQTT_BASE_TOPIC", net.base.as_str())];
    let f = Fixture::with_env(backend, &["--mqtt-url", "mqtt://127.0.0.1:1883"], &env).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let devices = f.admin.get("/api/v1/devices").await.expect(200);
        let sensors: Vec<&Value> =
            devices["items"].as_array().expect("items").iter().filter(|d| d["kind"] == "sensor").collect();
        let sirens = devices["items"].as_array().expect("items").iter().filter(|d| d["kind"] == "siren").count();
        if sensors.len() == 3 && sirens == 1 {
            assert_eq!(sensors.iter().filter(|d| d["senses"] == json!(["contact"])).count(), 1, "{devices}");
            break;
        }
        assert!(Instant::now() < deadline, "the sensors were never offered: {devices}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let device = |n: usize| json!({"protocol": "zigbee2mqtt", "ieee_address": sensor_ieee(n)});
    let sensors = f.path("/sensors");
    let front = f
        .admin
        .post(&sensors, json!({"name": "Front door", "kind": "entry_exit", "device": device(0)}))
        .await
        .expect(201);
    assert_eq!(front["modes"], json!(["away", "stay", "night"]));
    let hall = f
        .admin
        .post(&sensors, json!({"name": "Hall", "kind": "interior_follower", "device": device(1)}))
        .await
        .expect(201);
    assert_eq!(hall["modes"], json!(["away"]), "the inside is watched when away");
    f.admin.post(&sensors, json!({"name": "Kitchen smoke", "kind": "fire", "device": device(2)})).await.expect(201);
    let siren = f.admin.post(&f.path("/sirens"), json!({"name": "Hall siren", "device": device(3)})).await.expect(201);
    assert_eq!(siren["state"], json!({"sounding": false, "online": true}), "{siren}");
    let twice = json!({"name": "Again", "device": device(3)});
    f.admin.post(&f.path("/sirens"), twice).await.expect_error(409, "device_in_use");
    // Refusals change nothing.
    let again = json!({"name": "Again", "kind": "perimeter", "device": device(0)});
    f.admin.post(&sensors, again).await.expect_error(409, "device_in_use");
    f.admin.post(&sensors, json!({"name": "Hall", "kind": "perimeter"})).await.expect_error(409, "sensor_name_taken");
    f.admin.post(&sensors, json!({"name": "Odd", "kind": "window"})).await.expect_error(422, "sensor_invalid");
    let bypassed_fire = json!({"name": "Smoke 2", "kind": "fire", "bypassable": true});
    f.admin.post(&sensors, bypassed_fire).await.expect_error(409, "sensor_conflict");
    assert_eq!(f.admin.get(&sensors).await.expect(200)["items"].as_array().map(Vec::len), Some(3));

    let quick =
        json!({"settings": {"cp01": false, "exit_delay": 1, "entry_delay": 2, "abort_window": 1, "siren_time": 60}});
    f.admin.patch(&f.path("/panel"), quick).await.expect(200);
    net.report("front_contact", json!({"contact": true, "battery": 91})).await;
    net.report("hall_motion", json!({"occupancy": true})).await;
    net.report("kitchen_smoke", json!({"smoke": false})).await;
    let front_id = front["id"].as_str().expect("id").to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let panel = f.admin.get(&f.path("/panel")).await.expect(200);
        if panel["open_sensors"] == json!([hall["id"]]) {
            assert_eq!(panel["ready"]["away"], false, "{panel}");
            assert_eq!(panel["ready"]["stay"], true, "the hall is not watched in stay: {panel}");
            break;
        }
        assert!(Instant::now() < deadline, "the hall's motion never reached the panel: {panel}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let read = f.admin.get(&f.path(&format!("/sensors/{front_id}"))).await.expect(200);
    assert_eq!((read["state"]["open"].as_bool(), read["state"]["battery"].as_u64()), (Some(false), Some(91)), "{read}");
    let refused = f.admin.post(&f.path("/panel/arm"), json!({"mode": "away"})).await.expect_error(409, "not_ready");
    assert!(refused.to_string().contains("Hall"), "the open sensor is named: {refused}");
    // At a keypad: a valid code is told which sensors are open, and nothing
    // else is (a wrong code is a plain no); no use is counted, no lockout.
    let walker = f
        .admin
        .create_user(
            &f.home,
            json!({"name": "Dog walker", "code": "4719", "panel": {"arm": true, "disarm": true}, "max_uses": 50}),
        )
        .await;
    let device_token = f.token("device", Some(&f.home));
    for _ in 0..4 {
        let not_ready = device_token.access(&f.home, "4719", "panel", "arm_away").await.expect(200);
        assert_eq!(not_ready, json!({"granted": false, "reason": "not_ready", "open_sensors": ["Hall"]}));
    }
    assert_eq!(device_token.access(&f.home, "0000", "panel", "arm_away").await.expect(200), json!({"granted": false}));
    assert_eq!(f.admin.get(&f.path("/panel")).await.expect(200)["state"], "disarmed");
    let user = f.admin.get(&f.path(&format!("/users/{walker}"))).await.expect(200);
    assert_eq!(user["uses"], 0, "a refusal uses nothing: {user}");
    let denied = wait_for_entry(&f, "the refusal", |e| e["reason"] == "not_ready").await;
    assert_eq!((denied["kind"].as_str(), denied["user"]["name"].as_str()), (Some("access_denied"), Some("Dog walker")));
    net.report("hall_motion", json!({"occupancy": false})).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while f.admin.get(&f.path("/panel")).await.expect(200)["ready"]["away"] != true {
        assert!(Instant::now() < deadline, "the hall never cleared");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Armed away; the front door opens: the entry delay, then the alarm.
    f.admin.post(&f.path("/panel/arm"), json!({"mode": "away"})).await.expect(200);
    until_state(&f.admin, &f.home, "armed_away", Duration::from_secs(10)).await;
    net.report("front_contact", json!({"contact": false})).await;
    until_state(&f.admin, &f.home, "pending", Duration::from_secs(5)).await;
    net.report("hall_motion", json!({"occupancy": true})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let waiting = f.admin.get(&f.path("/panel")).await.expect(200);
    assert_eq!(waiting["state"], "pending", "the follower waits for the entry delay: {waiting}");
    until_state(&f.admin, &f.home, "triggered", Duration::from_secs(5)).await;
    let told = wait_for_entry(&f, "the alarm told", |e| e["kind"] == "alarm").await;
    assert_eq!(told["detail"], "Burglary: Front door", "{told}");
    // The siren sounds for the siren time, which it also holds as its own limit.
    let until_commands = |n: usize| {
        let net = &net;
        async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let commands = net.commands("hall_siren");
                if commands.len() >= n {
                    return commands;
                }
                assert!(Instant::now() < deadline, "the siren was sent {commands:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let sounded = until_commands(1).await;
    assert_eq!(sounded[0], json!({"warning": {"mode": "burglar", "level": "high", "strobe": true, "duration": 60}}));
    let siren_path = f.path(&format!("/sirens/{}", siren["id"].as_str().expect("id")));
    let sounding = f.admin.get(&siren_path).await.expect(200);
    assert_eq!(sounding["state"]["sounding"], true, "{sounding}");
    let disarmed = device_token.access(&f.home, "4719", "panel", "disarm").await.expect(200);
    assert_eq!(disarmed["panel"]["state"], "disarmed");
    wait_for_entry(&f, "the incident closed", |e| e["kind"] == "panel" && e["detail"] == "alarm ended: disarmed").await;
    let stopped = until_commands(2).await;
    assert_eq!(stopped[1], json!({"warning": {"mode": "stop"}}), "stopped on the disarm");

    // Smoke, disarmed: the alarm sounds and is told at once.
    net.report("kitchen_smoke", json!({"smoke": true})).await;
    until_state(&f.admin, &f.home, "triggered", Duration::from_secs(5)).await;
    wait_for_entry(&f, "fire told", |e| e["kind"] == "alarm" && e["detail"] == "Fire: Kitchen smoke").await;
    assert_eq!(until_commands(3).await[2]["warning"]["mode"], "fire", "fire's own pattern");

    // A siren that does not take the order (offline) is a trouble, named.
    net.set_online("hall_siren", false).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    device_token.access(&f.home, "4719", "panel", "disarm").await.expect(200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let panel = f.admin.get(&f.path("/panel")).await.expect(200);
        if panel["troubles"].as_array().is_some_and(|t| t.iter().any(|t| t["kind"] == "siren_no_answer")) {
            assert_eq!(panel["troubles"][0]["siren_id"], siren["id"], "{panel}");
            break;
        }
        assert!(Instant::now() < deadline, "the silent siren was never a trouble: {panel}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let trouble = wait_for_entry(&f, "the trouble", |e| e["kind"] == "trouble").await;
    assert_eq!(trouble["detail"], "Hall siren: siren did not answer", "{trouble}");
    net.remove().await;
}

/// The alarm on the Users screen: its state in words, who armed it, the
/// owner's Disarm and Arm buttons, each saying what it did; axe-clean at
/// both widths.
async fn the_owner_sees_and_works_the_alarm_on_the_users_screen(backend: Backend) {
    use crate::browser::{shoot, signed_up_owner};
    let place = Place::new(backend);
    let server = place.start_with(&["--timezone", "Europe/Berlin"], &[]);
    let admin = server.api(&place.token("admin", None));
    let home = admin.home_id().await;
    admin.create_user(&home, json!({"name": "Dog walker", "code": "4719", "locks": "all"})).await;
    let panel = format!("/api/v1/homes/{home}/panel");
    admin.patch(&panel, json!({"settings": {"cp01": false, "exit_delay": 0}})).await.expect(200);
    let base = server.base.clone();
    let browser = signed_up_owner(&server).await;
    browser.goto(&format!("{base}/users")).await;
    assert!(
        browser.run("return document.getElementById('alarm') === null;").await == Value::Bool(true),
        "no alarm yet, no card"
    );

    admin.post(&format!("{panel}/arm"), json!({"mode": "away"})).await.expect(200);
    browser.goto(&format!("{base}/users")).await;
    assert_eq!(browser.find("#alarm_state").await.text().await, "Armed away");
    shoot(&browser, backend, "users-alarm-armed").await;
    browser.find("#disarm").await.click().await;
    browser.wait_for_text("Disarmed").await;
    assert_eq!(admin.get(&panel).await.expect(200)["state"], "disarmed");
    let entry = admin.get(&format!("/api/v1/homes/{home}/activity?device=panel")).await.expect(200);
    assert_eq!(entry["items"][0]["actor"], "owner:anna@example.org", "logged under the owner: {entry}");
}

on_both_backends!(
    cp01_behaviours_through_the_binary,
    the_owner_adds_sensors_and_sirens_on_their_page,
    a_sensor_network_down_is_a_trouble,
    the_owner_sees_and_works_the_alarm_on_the_users_screen,
    the_panel_arms_and_disarms_by_code_and_by_the_owner,
    a_restart_never_disarms_and_resumes_the_exit_delay,
    zigbee_sensors_drive_the_panel
);

/// Zigbee2MQTT's network down is a trouble of the homes with sensors on
/// it, never an opening; it clears when the broker and the bridge are back.
async fn a_sensor_network_down_is_a_trouble(backend: Backend) {
    use crate::support::broker::OwnBroker;
    use crate::support::zigbee_sensors::{SensorNet, sensor_ieee};
    let mut broker = OwnBroker::start();
    let net = SensorNet::start_on(broker.port, &[("window", "contact")]).await;
    let env = [("KEYWARD_ZIGBEE2MQTT_BASE_TOPIC", net.base.as_str())];
    let url = broker.url();
    let f = Fixture::with_env(backend, &["--mqtt-url", &url], &env).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while f.admin.get("/api/v1/devices").await.expect(200)["items"].as_array().map_or(0, Vec::len) < 1 {
        assert!(Instant::now() < deadline, "never offered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let window = json!({"name": "Window", "kind": "perimeter", "device": {"protocol": "zigbee2mqtt", "ieee_address": sensor_ieee(0)}});
    f.admin.post(&f.path("/sensors"), window).await.expect(201);
    net.report("window", json!({"contact": true})).await;
    let troubles = |panel: &Value| panel["troubles"].as_array().cloned().unwrap_or_default();
    let until = |down: bool| {
        let f = &f;
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let panel = f.admin.get(&f.path("/panel")).await.expect(200);
                let is_down = troubles(&panel).iter().any(|t| t["kind"] == "network_down");
                if is_down == down {
                    return panel;
                }
                assert!(Instant::now() < deadline, "the network trouble never became {down}: {panel}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    until(false).await;
    broker.stop();
    let panel = until(true).await;
    assert_eq!(
        troubles(&panel).iter().find(|t| t["kind"] == "network_down").map(|t| t["network"].clone()),
        Some(json!("zigbee2mqtt"))
    );
    assert_eq!(panel["state"], "disarmed", "a network down is no alarm");
    broker.run();
    until(false).await;
    wait_for_entry(&f, "the trouble cleared", |e| e["kind"] == "trouble_cleared").await;
}

/// The Sensors page: the owner adds a door from the devices the network
/// offers and a siren, sees what the door reports, and removes it after
/// being asked; axe-clean at both widths.
async fn the_owner_adds_sensors_and_sirens_on_their_page(backend: Backend) {
    use crate::browser::{fill, shoot, signed_up_owner};
    use crate::support::zigbee_sensors::SensorNet;
    let net = SensorNet::start(&[("front_contact", "contact"), ("hall_siren", "warning")]).await;
    let env = [("KEYWARD_ZIGBEE2MQTT_BASE_TOPIC", net.base.as_str())];
    let place = Place::new(backend);
    let server = place.start_with(&["--mqtt-url", "mqtt://127.0.0.1:1883"], &env);
    let admin = server.api(&place.token("admin", None));
    let home = admin.home_id().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while admin.get("/api/v1/devices").await.expect(200)["items"].as_array().map_or(0, Vec::len) < 2 {
        assert!(Instant::now() < deadline, "never offered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let base = server.base.clone();
    let browser = signed_up_owner(&server).await;
    browser.goto(&format!("{base}/locks")).await;
    browser.find("a[href='/sensors']").await.click().await;
    browser.wait_for_text("Sensors and sirens").await;
    fill(&browser, "#sensor_name", "Front door").await;
    browser.find("#sensor_kind option[value=entry_exit]").await.click().await;
    browser.find("#add_sensor").await.click().await;
    browser.wait_for_text("Front door added").await;
    assert!(browser.page_text().await.contains("Entry door (starts the entry delay)"));
    fill(&browser, "#siren_name", "Hall siren").await;
    browser.find("#add_siren").await.click().await;
    browser.wait_for_text("Hall siren added").await;
    let sensors = admin.get(&format!("/api/v1/homes/{home}/sensors")).await.expect(200);
    assert_eq!(sensors["items"][0]["kind"], "entry_exit", "{sensors}");
    let id = sensors["items"][0]["id"].as_str().expect("id").to_owned();

    net.report("front_contact", json!({"contact": false, "battery": 80})).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        browser.goto(&format!("{base}/sensors")).await;
        if browser.find(&format!("#state_{id}")).await.text().await == "Open" {
            break;
        }
        assert!(Instant::now() < deadline, "the door never showed open");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(browser.page_text().await.contains("battery 80 %"));
    shoot(&browser, backend, "sensors").await;

    browser.find(&format!("a[href='/sensors/{id}/delete']")).await.click().await;
    browser.wait_for_text("Remove Front door?").await;
    browser.find("button.danger").await.click().await;
    browser.wait_for_text("Front door removed").await;
    assert_eq!(admin.get(&format!("/api/v1/homes/{home}/sensors")).await.expect(200)["items"], json!([]));
    net.remove().await;
}

/// CP-01's behaviours through the binary with sensors on Zigbee2MQTT:
/// the exit delay restarted once by the exit door opened again (and no
/// auto-stay then), a burglary disarmed within the abort window (cancelled,
/// never told), a swinger shut down, and keyward killed during the entry
/// delay (it resumes the delay, and the alarm falls when it was due).
async fn cp01_behaviours_through_the_binary(backend: Backend) {
    use crate::support::zigbee_sensors::{SensorNet, sensor_ieee};
    let net = SensorNet::start(&[("front_contact", "contact"), ("window_contact", "contact")]).await;
    let env = [("KEYWARD_ZIGBEE2MQTT_BASE_TOPIC", net.base.as_str())];
    let place = Place::new(backend);
    let args = ["--mqtt-url", "mqtt://127.0.0.1:1883"];
    let server = place.start_with(&args, &env);
    let admin = server.api(&place.token("admin", None));
    let home = admin.home_id().await;
    let path = |rest: &str| format!("/api/v1/homes/{home}{rest}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while admin.get("/api/v1/devices").await.expect(200)["items"].as_array().map_or(0, Vec::len) < 2 {
        assert!(Instant::now() < deadline, "never offered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let device = |n: usize| json!({"protocol": "zigbee2mqtt", "ieee_address": sensor_ieee(n)});
    admin
        .post(&path("/sensors"), json!({"name": "Front door", "kind": "entry_exit", "device": device(0)}))
        .await
        .expect(201);
    admin
        .post(&path("/sensors"), json!({"name": "Window", "kind": "perimeter", "device": device(1)}))
        .await
        .expect(201);
    let settings =
        json!({"settings": {"cp01": false, "exit_delay": 3, "entry_delay": 4, "abort_window": 3, "siren_time": 60}});
    admin.patch(&path("/panel"), settings).await.expect(200);
    admin
        .create_user(&home, json!({"name": "Dog walker", "code": "4719", "panel": {"arm": true, "disarm": true}}))
        .await;
    let keypad = server.api(&place.token("device", Some(&home)));
    net.report("front_contact", json!({"contact": true})).await;
    net.report("window_contact", json!({"contact": true})).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while admin.get(&path("/sensors")).await.expect(200)["items"][1]["state"]["online"] != true {
        assert!(Instant::now() < deadline, "never heard");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let entries = |kind: &'static str| {
        let admin = &admin;
        let path = path("/activity?limit=500");
        async move {
            let items = admin.get(&path).await.expect(200)["items"].as_array().cloned().unwrap_or_default();
            items.into_iter().filter(|e| e["kind"] == kind).collect::<Vec<_>>()
        }
    };

    // The exit door opened again during the exit delay restarts it, once.
    let armed = keypad.access(&home, "4719", "panel", "arm_away").await.expect(200);
    let first_due = armed["panel"]["delay_until"].clone();
    net.report("front_contact", json!({"contact": false})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    net.report("front_contact", json!({"contact": true})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    net.report("front_contact", json!({"contact": false})).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let panel = admin.get(&path("/panel")).await.expect(200);
        if panel["delay_until"] != first_due {
            assert_eq!(panel["state"], "arming", "{panel}");
            break;
        }
        assert!(Instant::now() < deadline, "the exit delay was never restarted: {panel}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    net.report("front_contact", json!({"contact": true})).await;
    until_state(&admin, &home, "armed_away", Duration::from_secs(10)).await;
    let restarted = entries("panel").await;
    assert!(restarted.iter().any(|e| e["detail"] == "exit delay restarted: Front door opened again"), "{restarted:?}");
    assert!(!restarted.iter().any(|e| e["detail"].as_str().is_some_and(|d| d.contains("nobody left"))), "someone left");

    // A window: the alarm at once; disarmed within the abort window: cancelled, not told.
    net.report("window_contact", json!({"contact": false})).await;
    until_state(&admin, &home, "triggered", Duration::from_secs(5)).await;
    keypad.access(&home, "4719", "panel", "disarm").await.expect(200);
    let cancelled = wait_for_entry_in(&admin, &home, "the cancel", |e| e["kind"] == "alarm_cancelled").await;
    assert_eq!(cancelled["user"]["name"], "Dog walker");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(entries("alarm").await.is_empty(), "never told");

    // A swinger: the window trips twice in one armed period, then is shut down.
    net.report("window_contact", json!({"contact": true})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    admin.patch(&path("/panel"), json!({"settings": {"exit_delay": 0}})).await.expect(200);
    admin.post(&path("/panel/arm"), json!({"mode": "away"})).await.expect(200);
    for _ in 0..2 {
        net.report("window_contact", json!({"contact": false})).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        net.report("window_contact", json!({"contact": true})).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    wait_for_entry_in(&admin, &home, "the shutdown", |e| {
        e["detail"].as_str().is_some_and(|d| d.starts_with("Window shut down until disarmed"))
    })
    .await;
    admin.post(&path("/panel/disarm"), json!({})).await.expect(200);

    // Killed during the entry delay: it resumes, and the alarm falls when due.
    admin.post(&path("/panel/arm"), json!({"mode": "away"})).await.expect(200);
    until_state(&admin, &home, "armed_away", Duration::from_secs(5)).await;
    net.report("front_contact", json!({"contact": false})).await;
    let pending = until_state(&admin, &home, "pending", Duration::from_secs(5)).await;
    let due: jiff::Timestamp = pending["delay_until"].as_str().expect("a deadline").parse().expect("an instant");
    server.kill_9();
    let server = place.start_with(&args, &env);
    let admin = server.api(admin.token().expect("token"));
    let resumed = admin.get(&path("/panel")).await.expect(200);
    assert_eq!(
        (resumed["state"].as_str(), &resumed["delay_until"]),
        (Some("pending"), &pending["delay_until"]),
        "{resumed}"
    );
    let triggered = until_state(&admin, &home, "triggered", Duration::from_secs(10)).await;
    let at: jiff::Timestamp = triggered["changed_at"].as_str().expect("an instant").parse().expect("an instant");
    assert_eq!(at, due, "the alarm at the recorded deadline");
    net.remove().await;
}

/// `wait_for_entry` for a server of the test's own.
async fn wait_for_entry_in(admin: &Api, home: &str, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = admin.get(&format!("/api/v1/homes/{home}/activity")).await.expect(200);
        if let Some(entry) = log["items"].as_array().and_then(|items| items.iter().find(|e| wanted(e))) {
            return entry.clone();
        }
        assert!(Instant::now() < deadline, "{what} never logged: {log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index.min(samples.len() - 1)]
}

/// The figures of docs/benchmarks.md for the alarm, printed, not asserted
/// (targets are measured, not timed in tests):
/// `cargo test --release --test integration alarm_figures -- --ignored --nocapture`
#[tokio::test]
#[ignore = "a measurement, run by hand for docs/benchmarks.md"]
async fn alarm_figures() {
    println!("== on the machine's Mosquitto (its defaults)");
    alarm_figures_on(1883).await;
    println!("== on a Mosquitto with set_tcp_nodelay true");
    let broker = crate::support::broker::OwnBroker::without_nagle();
    alarm_figures_on(broker.port).await;
}

async fn alarm_figures_on(port: u16) {
    use crate::support::zigbee_sensors::{SensorNet, sensor_ieee};
    let net = SensorNet::start_on(port, &[("window", "contact"), ("siren", "warning")]).await;
    let env = [("KEYWARD_ZIGBEE2MQTT_BASE_TOPIC", net.base.as_str())];
    let url = format!("mqtt://127.0.0.1:{port}");
    let f = Fixture::with_env(Backend::Sqlite, &["--mqtt-url", &url], &env).await;
    let device = |n: usize| json!({"protocol": "zigbee2mqtt", "ieee_address": sensor_ieee(n)});
    let deadline = Instant::now() + Duration::from_secs(20);
    while f.admin.get("/api/v1/devices").await.expect(200)["items"].as_array().map_or(0, Vec::len) < 2 {
        assert!(Instant::now() < deadline, "never offered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    f.admin
        .post(&f.path("/sensors"), json!({"name": "Window", "kind": "perimeter", "device": device(0)}))
        .await
        .expect(201);
    f.admin.post(&f.path("/sirens"), json!({"name": "Siren", "device": device(1)})).await.expect(201);
    let quick = json!({"settings": {"cp01": false, "exit_delay": 0, "abort_window": 0}});
    f.admin.patch(&f.path("/panel"), quick).await.expect(200);
    f.admin
        .create_user(&f.home, json!({"name": "Dog walker", "code": "4719", "panel": {"arm": true, "disarm": true}}))
        .await;
    let device_token = f.token("device", Some(&f.home));
    net.report("window", json!({"contact": true})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A code at the panel -> its answer (arm, then disarm), over loopback.
    let mut answered = Vec::new();
    for n in 0..400 {
        let action = if n % 2 == 0 { "arm_away" } else { "disarm" };
        let started = Instant::now();
        let reply = device_token.access(&f.home, "4719", "panel", action).await.expect(200);
        answered.push(started.elapsed());
        assert_eq!(reply["granted"], true);
    }
    println!(
        "code -> panel state answered: median {:?}, p99 {:?} (n = {})",
        percentile(&mut answered, 0.5),
        percentile(&mut answered, 0.99),
        answered.len()
    );

    // A sensor's report -> the siren's command, both over Mosquitto.
    let mut sounded = Vec::new();
    for _ in 0..100 {
        // The window's "closed" is in before the next arming.
        while f.admin.get(&f.path("/panel")).await.expect(200)["ready"]["away"] != true {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let armed = device_token.access(&f.home, "4719", "panel", "arm_away").await.expect(200);
        assert_eq!(armed["granted"], true, "{armed}");
        let before = net.commands("siren").len();
        let started = Instant::now();
        net.report("window", json!({"contact": false})).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while net.commands("siren").len() == before {
            assert!(Instant::now() < deadline, "never sounded: {:?}", f.admin.get(&f.path("/panel")).await.expect(200));
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        sounded.push(started.elapsed());
        device_token.access(&f.home, "4719", "panel", "disarm").await.expect(200);
        net.report("window", json!({"contact": true})).await;
        let stopped = before + 2;
        let deadline = Instant::now() + Duration::from_secs(10);
        while net.commands("siren").len() < stopped {
            assert!(Instant::now() < deadline, "never stopped: {:?}", net.commands("siren"));
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    println!(
        "sensor report -> siren command published: median {:?}, p99 {:?} (n = {})",
        percentile(&mut sounded, 0.5),
        percentile(&mut sounded, 0.99),
        sounded.len()
    );
    net.remove().await;
}
