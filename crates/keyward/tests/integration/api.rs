//! The REST API, end to end: the real binary, real SQLite, real HTTP.

use crate::support::*;
use serde_json::{Value, json};

fn dog_walker(code: &str, lock: &str) -> Value {
    json!({
        "name": "Dog walker",
        "code": code,
        "panel": {"disarm": true},
        "locks": [lock],
        "schedule": {"windows": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "11:00", "end": "14:00"}]},
        "notify": {"arrive": true, "leave": true}
    })
}

/// A schedule that is closed all of today and tomorrow (UTC), whatever today is.
fn closed_now() -> Value {
    let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let today = jiff::tz::TimeZone::UTC.to_datetime(jiff::Timestamp::now()).weekday().to_monday_zero_offset() as usize;
    json!({"windows": [{"days": [names[(today + 3) % 7]], "start": "10:00", "end": "11:00"}]})
}

async fn health_and_openapi_need_no_token(backend: Backend) {
    let f = Fixture::new(backend).await;
    let anon = f.server.anonymous();
    assert_eq!(anon.get("/healthz").await.expect(200), json!({"status": "ok"}));
    let doc = anon.get("/api/v1/openapi.json").await.expect(200);
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/healthz",
        "/api/v1/homes",
        "/api/v1/homes/{home_id}",
        "/api/v1/homes/{home_id}/locks",
        "/api/v1/homes/{home_id}/locks/{lock_id}",
        "/api/v1/homes/{home_id}/users",
        "/api/v1/homes/{home_id}/users/{user_id}",
        "/api/v1/homes/{home_id}/users/{user_id}/reveal",
        "/api/v1/homes/{home_id}/access",
        "/api/v1/homes/{home_id}/access/preview",
        "/api/v1/homes/{home_id}/activity",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    anon.get("/api/v1/nope").await.expect_error(404, "not_found");
    let page = anon.get("/nope").await;
    assert_eq!(page.status, 404);
    assert!(page.text.contains("Page not found"), "the web UI answers with a page: {}", page.text);
    anon.send(reqwest::Method::PUT, "/healthz", None).await.expect_error(405, "method_not_allowed");
}

async fn homes(backend: Backend) {
    let f = Fixture::with_args(backend, &["--timezone", "Europe/Berlin"]).await;
    let homes = f.admin.get("/api/v1/homes").await.expect(200);
    assert_eq!(homes["items"].as_array().map(Vec::len), Some(1));
    let first = &homes["items"][0];
    assert_eq!((first["name"].as_str(), first["timezone"].as_str()), (Some("Home"), Some("Europe/Berlin")));
    assert_eq!(first["code_policy"], json!({"min_length": 4, "max_length": 8, "reject_weak": true}));
    assert_eq!(first["lockout"], json!({"max_attempts": 3, "window_seconds": 300, "lockout_seconds": 90}));

    let created = f.admin.post("/api/v1/homes", json!({"name": "Lake house", "timezone": "America/New_York"})).await;
    let created = created.expect(201);
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(id.len(), 24, "opaque ids");
    f.admin
        .post("/api/v1/homes", json!({"name": "X", "timezone": "Mars/Olympus"}))
        .await
        .expect_error(422, "timezone_invalid");
    f.admin.post("/api/v1/homes", json!({"name": "  ", "timezone": "UTC"})).await.expect_error(422, "name_invalid");
    f.admin.post("/api/v1/homes", json!({"name": "X"})).await.expect_error(422, "invalid_request");
    assert_eq!(f.admin.get("/api/v1/homes").await.expect(200)["items"].as_array().map(Vec::len), Some(2));

    let path = format!("/api/v1/homes/{id}");
    assert_eq!(f.admin.get(&path).await.expect(200)["name"], "Lake house");
    let changed = f
        .admin
        .patch(&path, json!({"name": "Cabin", "timezone": "Europe/Paris", "code_policy": {"min_length": 6}, "lockout": {"lockout_seconds": 120}}))
        .await
        .expect(200);
    assert_eq!((changed["name"].as_str(), changed["timezone"].as_str()), (Some("Cabin"), Some("Europe/Paris")));
    assert_eq!(changed["code_policy"]["min_length"], 6);
    assert_eq!(changed["lockout"]["lockout_seconds"], 120);
    for bad in [
        json!({"code_policy": {"min_length": 3}}),
        json!({"code_policy": {"max_length": 9}}),
        json!({"lockout": {"max_attempts": 0}}),
        json!({"lockout": {"max_attempts": 256}}),
        json!({"lockout": {"window_seconds": 86401}}),
        json!({"lockout": {"lockout_seconds": 256}}),
    ] {
        f.admin.patch(&path, bad).await.expect_error(422, "policy_invalid");
    }
    let crossed = json!({"code_policy": {"min_length": 8, "max_length": 7}});
    f.admin.patch(&path, crossed).await.expect_error(409, "policy_conflict");
    // With max_length 6 stored, a min_length of 7 alone conflicts with it.
    f.admin.patch(&path, json!({"code_policy": {"max_length": 6}})).await.expect(200);
    f.admin.patch(&path, json!({"code_policy": {"min_length": 7}})).await.expect_error(409, "policy_conflict");
    f.admin.patch(&path, json!({"code_policy": {"max_length": 8}})).await.expect(200);
    f.admin.patch(&path, json!({"timezone": "Nowhere"})).await.expect_error(422, "timezone_invalid");
    let unchanged = f.admin.get(&path).await.expect(200);
    assert_eq!(
        (unchanged["name"].as_str(), unchanged["code_policy"]["min_length"].as_i64()),
        (Some("Cabin"), Some(6)),
        "refused changes change nothing"
    );
    f.admin.get("/api/v1/homes/000000000000000000000000").await.expect_error(404, "home_not_found");
}

async fn locks(backend: Backend) {
    let f = Fixture::new(backend).await;
    let front = f.admin.create_lock(&f.home, "Front door").await;
    let back = f.admin.create_lock(&f.home, "Back door").await;
    let list = f.admin.get(&f.path("/locks")).await.expect(200);
    let names: Vec<&str> = list["items"].as_array().expect("items").iter().filter_map(|l| l["name"].as_str()).collect();
    assert_eq!(names, ["Front door", "Back door"]);
    assert_eq!(f.admin.get(&f.path(&format!("/locks/{front}"))).await.expect(200)["name"], "Front door");
    let garage = |l: &serde_json::Value| l["name"] == "Garage";
    let renamed = f.admin.patch(&f.path(&format!("/locks/{front}")), json!({"name": "Front"})).await.expect(200);
    assert_eq!(renamed["name"], "Front");
    f.admin.post(&f.path("/locks"), json!({"name": ""})).await.expect_error(422, "name_invalid");
    // A device is a Z-Wave node by number or a Zigbee2MQTT device by name,
    // never a mix; one no connected network offers is refused. Nothing is made.
    for (device, status, code) in [
        (json!({"protocol": "zwave_js", "friendly_name": "front_door"}), 422, "device_invalid"),
        (json!({"protocol": "zigbee2mqtt", "node_id": 2}), 422, "device_invalid"),
        (json!({"protocol": "zigbee2mqtt", "friendly_name": "hall/#"}), 422, "device_invalid"),
        (json!({"protocol": "zigbee2mqtt", "friendly_name": "a//b"}), 422, "device_invalid"),
        (json!({"protocol": "zigbee2mqtt", "friendly_name": "front_door"}), 409, "device_unavailable"),
        (json!({"protocol": "zwave_js", "node_id": 2}), 409, "device_unavailable"),
    ] {
        let body = json!({"name": "Garage", "device": device});
        f.admin.post(&f.path("/locks"), body).await.expect_error(status, code);
    }
    let list = f.admin.get(&f.path("/locks")).await.expect(200);
    assert!(!list["items"].as_array().expect("items").iter().any(garage), "{list}");

    // A user given both locks keeps the other when one is removed.
    let user = f.admin.create_user(&f.home, json!({"name": "Cleaner", "code": "583062", "locks": [front, back]})).await;
    f.admin.delete(&f.path(&format!("/locks/{back}"))).await.expect(204);
    f.admin.get(&f.path(&format!("/locks/{back}"))).await.expect_error(404, "lock_not_found");
    f.admin.delete(&f.path(&format!("/locks/{back}"))).await.expect_error(404, "lock_not_found");
    let user = f.admin.get(&f.path(&format!("/users/{user}"))).await.expect(200);
    assert_eq!(user["locks"], json!([front]));
    f.admin.access(&f.home, "583062", &back, "unlock").await.expect_error(409, "device_not_found");
}

async fn users_crud_never_shows_a_code(backend: Backend) {
    let f = Fixture::new(backend).await;
    let front = f.admin.create_lock(&f.home, "Front door").await;
    let created = f.admin.post(&f.path("/users"), dog_walker("4719", &front)).await.expect(201);
    let id = created["id"].as_str().expect("id").to_owned();
    let expected_keys = [
        "id",
        "name",
        "kind",
        "panel",
        "locks",
        "schedule",
        "valid_from",
        "valid_until",
        "max_uses",
        "uses",
        "notify",
        "enabled",
        "needs_new_code",
        "contact",
        "lock_codes",
        "first_day",
        "last_day",
        "created_at",
        "updated_at",
        "last_used_at",
    ];
    let mut keys: Vec<&str> = created.as_object().expect("object").keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut want = expected_keys.to_vec();
    want.sort_unstable();
    assert_eq!(keys, want, "a user never carries its code");
    assert_eq!(created["panel"], json!({"arm": false, "disarm": true}));
    assert_eq!(created["kind"], "standard");
    assert_eq!(created["schedule"]["windows"][0]["start"], "11:00");

    let listed = f.admin.get(&f.path("/users")).await;
    assert!(!shows_code(&listed.text, "4719"));
    assert_eq!(listed.expect(200)["items"][0]["id"], id.as_str());
    let got = f.admin.get(&f.path(&format!("/users/{id}"))).await;
    assert!(!shows_code(&got.text, "4719"));

    // Names are kept exactly, and escaped by JSON, not by us.
    let xss = "<img src=x onerror=alert(1)> Hündin 🐕 ";
    let other = f.admin.create_user(&f.home, json!({"name": xss, "code": "90817263"})).await;
    assert_eq!(f.admin.get(&f.path(&format!("/users/{other}"))).await.expect(200)["name"], xss);

    // Partial update: only what is given changes.
    let patched = f
        .admin
        .patch(&f.path(&format!("/users/{id}")), json!({"schedule": {"always": true}, "max_uses": 5, "valid_until": "2030-01-01T00:00:00Z", "panel": {"arm": true}}))
        .await
        .expect(200);
    assert_eq!(patched["schedule"], json!({"always": true}));
    assert_eq!(patched["panel"], json!({"arm": true, "disarm": true}));
    assert_eq!((patched["max_uses"].as_i64(), patched["name"].as_str()), (Some(5), Some("Dog walker")));
    assert_eq!(patched["valid_until"], "2030-01-01T00:00:00Z");
    let cleared = f
        .admin
        .patch(&f.path(&format!("/users/{id}")), json!({"max_uses": null, "valid_until": null}))
        .await
        .expect(200);
    assert_eq!((cleared["max_uses"].is_null(), cleared["valid_until"].is_null()), (true, true));

    f.admin.get(&f.path("/users/000000000000000000000000")).await.expect_error(404, "user_not_found");
    f.admin
        .patch(&f.path("/users/000000000000000000000000"), json!({"name": "x"}))
        .await
        .expect_error(404, "user_not_found");
    f.admin.delete(&f.path(&format!("/users/{id}"))).await.expect(204);
    f.admin.get(&f.path(&format!("/users/{id}"))).await.expect_error(404, "user_not_found");
    f.admin.delete(&f.path(&format!("/users/{id}"))).await.expect_error(404, "user_not_found");
}

async fn every_refusal_has_its_code_and_changes_nothing(backend: Backend) {
    let f = Fixture::new(backend).await;
    let front = f.admin.create_lock(&f.home, "Front door").await;
    f.admin.create_user(&f.home, json!({"name": "Owner", "code": "4719", "locks": "all"})).await;
    f.admin.create_user(&f.home, json!({"name": "Duress", "code": "8306", "kind": "duress"})).await;
    let users = f.path("/users");
    // 422: the body does not fit its schema; 409: it does, but the home's
    // codes, policy or locks refuse it, or its fields contradict each other.
    let refused = [
        (json!({"name": "A", "code": "471"}), 422, "code_invalid"),
        (json!({"name": "A", "code": "123456789"}), 422, "code_invalid"),
        (json!({"name": "A", "code": "47a9"}), 422, "code_invalid"),
        (json!({"name": "A", "code": "4719"}), 409, "code_in_use"),
        (json!({"name": "A", "code": "47195"}), 409, "code_prefix_conflict"),
        (json!({"name": "A", "code": "1234"}), 409, "code_too_weak"),
        (json!({"name": "A", "code": "0000"}), 409, "code_too_weak"),
        (json!({"name": "A", "code": "987654"}), 409, "code_too_weak"),
        (json!({"name": "A", "code": "4112"}), 409, "code_too_weak"),
        (json!({"name": "A", "code": "8307"}), 409, "code_too_close"),
        (json!({"name": "A", "code": "4718", "kind": "duress"}), 409, "code_too_close"),
        (
            json!({"name": "A", "code": "5928", "schedule": {"windows": [{"days": ["mon"], "start": "11:00", "end": "11:00"}]}}),
            409,
            "window_empty",
        ),
        (
            json!({"name": "A", "code": "5928", "schedule": {"windows": [{"days": ["funday"], "start": "11:00", "end": "12:00"}]}}),
            422,
            "schedule_invalid",
        ),
        (json!({"name": "A", "code": "5928", "schedule": {"always": false}}), 422, "schedule_invalid"),
        (json!({"name": "A", "code": "5928", "locks": ["no-such-lock"]}), 409, "locks_invalid"),
        (json!({"name": "A", "code": "5928", "locks": "some"}), 409, "locks_invalid"),
        (
            json!({"name": "A", "code": "5928", "valid_from": "2027-01-02T00:00:00Z", "valid_until": "2027-01-01T00:00:00Z"}),
            409,
            "validity_empty",
        ),
        (json!({"name": "A", "code": "5928", "valid_from": "tomorrow"}), 422, "validity_invalid"),
        // Instants outside years 2000 to 2199 are refused, never stored to
        // read back as something else (a far-future start once read back as
        // 1970, and the code worked at once).
        (json!({"name": "A", "code": "5928", "valid_from": "9999-12-30T00:00:00Z"}), 422, "validity_invalid"),
        (json!({"name": "A", "code": "5928", "valid_from": "2200-01-01T00:00:00Z"}), 422, "validity_invalid"),
        (json!({"name": "A", "code": "5928", "valid_until": "1969-12-31T00:00:00Z"}), 422, "validity_invalid"),
        (json!({"name": "A", "code": "5928", "valid_until": "1999-12-31T23:59:59Z"}), 422, "validity_invalid"),
        (json!({"name": "A", "code": "5928", "valid_until": "2026-02-30T00:00:00Z"}), 422, "validity_invalid"),
        (json!({"name": "A", "code": "5928", "max_uses": 0}), 422, "max_uses_invalid"),
        (json!({"name": "", "code": "5928"}), 422, "name_invalid"),
        (json!({"name": "x".repeat(65), "code": "5928"}), 422, "name_invalid"),
        (json!({"name": "A", "code": 5928}), 422, "invalid_request"),
        (json!({"name": "A"}), 422, "invalid_request"),
        (json!({"name": "A", "code": "5928", "kind": "boss"}), 422, "invalid_request"),
        // A misspelt field is refused, not ignored; a list is no object.
        (json!({"name": "A", "code": "5928", "vaild_from": "2027-01-01T00:00:00Z"}), 422, "invalid_request"),
        (json!({"name": "A", "code": "5928", "panel": [true, true]}), 422, "invalid_request"),
    ];
    for (body, status, code) in refused {
        let reply = f.admin.post(&users, body.clone()).await;
        for digits in ["471", "4719", "47195", "8307", "4718", "5928", "1234", "123456789", "987654"] {
            assert!(!reply.text.contains(digits), "{code}: an error never echoes a code: {}", reply.text);
        }
        reply.expect_error(status, code);
    }
    assert_eq!(f.admin.get(&users).await.expect(200)["items"].as_array().map(Vec::len), Some(2), "nothing was saved");

    // Malformed JSON, a body that is too large.
    let raw = f.admin.raw(reqwest::Method::POST, &users, b"{\"name\": \"A\", \"code\": \"59".to_vec()).await;
    assert!(!raw.text.contains("59\""));
    raw.expect_error(400, "malformed_json");
    let big = format!("{{\"name\": \"A\", \"code\": \"5928\", \"pad\": \"{}\"}}", "x".repeat(70 * 1024));
    f.admin.raw(reqwest::Method::POST, &users, big.into_bytes()).await.expect_error(413, "payload_too_large");
    f.admin.post(&users, json!({"name": "Guest", "code": "5928"})).await.expect(201);

    // A refused change of code leaves the old code working.
    let walker = f.admin.create_user(&f.home, dog_walker("602931", &front)).await;
    let walker_path = f.path(&format!("/users/{walker}"));
    f.admin.patch(&walker_path, json!({"code": "4719"})).await.expect_error(409, "code_in_use");
    f.admin.patch(&walker_path, json!({"code": "6029x"})).await.expect_error(422, "code_invalid");
    f.admin.patch(&walker_path, json!({"name": "New", "code": "1111"})).await.expect_error(409, "code_too_weak");
    f.admin.patch(&walker_path, json!({"kind": "duress", "code": "4710"})).await.expect_error(409, "code_too_close");
    let unchanged = f.admin.get(&walker_path).await.expect(200);
    assert_eq!(unchanged["name"], "Dog walker");
    let preview = f.path("/access/preview");
    let at = "2026-11-26T11:30:00Z"; // a Thursday, 11:30 in UTC, the home's zone
    let still = f
        .admin
        .post(&preview, json!({"code": "602931", "device": front, "action": "unlock", "at": at}))
        .await
        .expect(200);
    assert_eq!(still["granted"], true, "the old code still works: {still}");

    // A kind change re-checks the current code against the others.
    f.admin.create_user(&f.home, json!({"name": "Near", "code": "602932"})).await;
    f.admin.patch(&walker_path, json!({"kind": "duress"})).await.expect_error(409, "code_too_close");
}

async fn changing_and_deleting_codes(backend: Backend) {
    let f = Fixture::new(backend).await;
    let front = f.admin.create_lock(&f.home, "Front door").await;
    let id = f.admin.create_user(&f.home, json!({"name": "Neighbour", "code": "583062", "locks": "all"})).await;
    let path = f.path(&format!("/users/{id}"));
    assert_eq!(f.admin.access(&f.home, "583062", &front, "unlock").await.expect(200)["granted"], true);
    f.admin.patch(&path, json!({"code": "694173"})).await.expect(200);
    let old = f.admin.access(&f.home, "583062", &front, "unlock").await.expect(200);
    assert_eq!((old["granted"].as_bool(), old["reason"].as_str()), (Some(false), Some("unknown_code")));
    assert_eq!(f.admin.access(&f.home, "694173", &front, "unlock").await.expect(200)["granted"], true);
    f.admin.delete(&path).await.expect(204);
    let gone = f.admin.access(&f.home, "694173", &front, "unlock").await.expect(200);
    assert_eq!(gone["reason"], "unknown_code", "a deleted code stops working at once");
    // …and may be given to someone else.
    f.admin.create_user(&f.home, json!({"name": "Nanny", "code": "694173", "locks": "all"})).await;
    let again = f.admin.access(&f.home, "694173", &front, "unlock").await.expect(200);
    assert_eq!(again["user"]["name"], "Nanny");
    // The same code may exist in another home.
    let other = f.admin.post("/api/v1/homes", json!({"name": "Other", "timezone": "UTC"})).await.expect(201);
    let other = other["id"].as_str().expect("id").to_owned();
    f.admin.create_user(&other, json!({"name": "Twin", "code": "694173"})).await;
}

async fn access_decisions_and_what_each_caller_sees(backend: Backend) {
    let f = Fixture::new(backend).await;
    let front = f.admin.create_lock(&f.home, "Front door").await;
    let back = f.admin.create_lock(&f.home, "Back door").await;
    let device = f.token("device", None);
    let all_day = json!({"always": true});
    f.admin.create_user(&f.home, json!({"name": "Owner", "code": "4719", "locks": "all", "panel": {"arm": true, "disarm": true}, "schedule": all_day})).await;
    f.admin
        .create_user(&f.home, json!({"name": "Walker", "code": "583062", "locks": "all", "schedule": closed_now()}))
        .await;
    f.admin.create_user(&f.home, json!({"name": "Front only", "code": "604172", "locks": [front]})).await;
    f.admin.create_user(&f.home, json!({"name": "Coerced", "code": "9302", "kind": "duress", "locks": "all"})).await;
    f.admin.create_user(&f.home, json!({"name": "Off", "code": "720518", "locks": "all", "enabled": false})).await;
    f.admin
        .create_user(
            &f.home,
            json!({"name": "Later", "code": "361954", "locks": "all", "valid_from": "2099-01-01T00:00:00Z"}),
        )
        .await;
    f.admin
        .create_user(
            &f.home,
            json!({"name": "Past", "code": "815274", "locks": "all", "valid_until": "2020-01-01T00:00:00Z"}),
        )
        .await;
    f.admin.create_user(&f.home, json!({"name": "Once", "code": "246813", "locks": "all", "max_uses": 1})).await;

    // A grant: who, and nothing else.
    let granted = device.access(&f.home, "4719", &front, "unlock").await.expect(200);
    assert_eq!(granted, json!({"granted": true, "user": {"id": granted["user"]["id"], "name": "Owner"}}));
    assert_eq!(device.access(&f.home, "4719", "panel", "disarm").await.expect(200)["granted"], true);
    assert_eq!(device.access(&f.home, "4719", "panel", "arm_away").await.expect(200)["granted"], true);
    assert_eq!(device.access(&f.home, "4719", "panel", "arm_stay").await.expect(200)["granted"], true);

    // A duress grant looks exactly like a normal grant to the device.
    let duress = device.access(&f.home, "9302", &back, "unlock").await;
    assert_eq!(duress.body, json!({"granted": true, "user": {"id": duress.body["user"]["id"], "name": "Coerced"}}));

    // To the device, an unknown code and a known code outside its schedule are the same "no".
    let unknown = device.access(&f.home, "5555", &front, "unlock").await;
    let outside = device.access(&f.home, "583062", &front, "unlock").await;
    assert_eq!((unknown.status.as_u16(), outside.status.as_u16()), (200, 200));
    assert_eq!(unknown.text, outside.text);
    assert_eq!(unknown.body, json!({"granted": false}));

    // The admin sees the reason; each reason in turn (a fresh lock for each, so
    // that the wrong-code lockout of one device does not mask the next).
    let reasons = [
        ("5555", "unlock", "unknown_code"),
        ("583062", "unlock", "outside_schedule"),
        ("720518", "unlock", "disabled"),
        ("361954", "unlock", "not_yet_valid"),
        ("815274", "unlock", "expired"),
    ];
    for (code, action, reason) in reasons {
        let lock = f.admin.create_lock(&f.home, reason).await;
        let body = f.admin.access(&f.home, code, &lock, action).await.expect(200);
        assert_eq!((body["granted"].as_bool(), body["reason"].as_str()), (Some(false), Some(reason)), "{code}");
        assert!(body.get("user").is_none(), "a refusal names nobody: {body}");
    }
    let not_permitted = f.admin.access(&f.home, "604172", &back, "unlock").await.expect(200);
    assert_eq!(not_permitted["reason"], "not_permitted");
    let panel_denied = f.admin.access(&f.home, "9302", "panel", "disarm").await.expect(200);
    assert_eq!(panel_denied["reason"], "not_permitted", "no panel rights by default");
    let once = f.admin.create_lock(&f.home, "Gate").await;
    assert_eq!(f.admin.access(&f.home, "246813", &once, "unlock").await.expect(200)["granted"], true);
    let used = f.admin.access(&f.home, "246813", &once, "unlock").await.expect(200);
    assert_eq!(used["reason"], "uses_exhausted");

    // Devices and actions that do not exist or do not fit.
    device.access(&f.home, "4719", "garage", "unlock").await.expect_error(409, "device_not_found");
    device.access(&f.home, "4719", &front, "disarm").await.expect_error(422, "action_invalid");
    device.access(&f.home, "4719", "panel", "unlock").await.expect_error(422, "action_invalid");
    device.access(&f.home, "4719", &front, "open_sesame").await.expect_error(422, "invalid_request");
    device.access("000000000000000000000000", "4719", &front, "unlock").await.expect_error(404, "home_not_found");
    let malformed = device.post(&f.path("/access"), json!({"code": 4719, "device": front, "action": "unlock"})).await;
    assert!(!shows_code(&malformed.text, "4719"));
    malformed.expect_error(422, "invalid_request");

    // Uses are counted on every grant.
    let users = f.admin.get(&f.path("/users")).await.expect(200);
    let owner = users["items"].as_array().expect("items").iter().find(|u| u["name"] == "Owner").expect("owner").clone();
    assert_eq!(owner["uses"], 4);
}

async fn wrong_codes_lock_the_device_out(backend: Backend) {
    let f = Fixture::new(backend).await;
    let front = f.admin.create_lock(&f.home, "Front door").await;
    let back = f.admin.create_lock(&f.home, "Back door").await;
    let device = f.token("device", None);
    f.admin.create_user(&f.home, json!({"name": "Owner", "code": "4719", "locks": "all"})).await;
    for wrong in ["1000", "1001"] {
        assert_eq!(device.access(&f.home, wrong, &front, "unlock").await.expect(200), json!({"granted": false}));
    }
    // A grant resets the count.
    assert_eq!(device.access(&f.home, "4719", &front, "unlock").await.expect(200)["granted"], true);
    for wrong in ["1002", "1003"] {
        device.access(&f.home, wrong, &front, "unlock").await.expect(200);
    }
    let locking = device.access(&f.home, "1004", &front, "unlock").await.expect(200);
    assert_eq!(locking["granted"], false);
    let locked = device.access(&f.home, "4719", &front, "unlock").await.expect(200);
    assert_eq!(locked["granted"], false, "during a lockout even the right code is refused");
    let retry = locked["retry_after_seconds"].as_u64().expect("retry_after_seconds");
    assert!((85..=90).contains(&retry), "{retry}");
    let admin_view = f.admin.access(&f.home, "4719", &front, "unlock").await.expect(200);
    assert_eq!(admin_view["reason"], "locked_out");
    // Lockout is per device.
    assert_eq!(device.access(&f.home, "4719", &back, "unlock").await.expect(200)["granted"], true);
    let log = f.admin.get(&f.path("/activity?limit=500")).await.expect(200);
    assert!(
        log["items"].as_array().expect("items").iter().any(|e| e["kind"] == "lockout" && e["device"] == front.as_str())
    );
}

async fn lockout_cannot_be_sidestepped(backend: Backend) {
    // Whoever holds one valid code resets the keypad between guesses.
    let f = Fixture::new(backend).await;
    let front = f.admin.create_lock(&f.home, "Front door").await;
    let back = f.admin.create_lock(&f.home, "Back door").await;
    let device = f.token("device", None);
    f.admin
        .create_user(&f.home, json!({"name": "Walker", "code": "4719", "locks": "all", "panel": {"disarm": true}}))
        .await;
    for guess in 0..9 {
        let wrong = device.access(&f.home, &format!("{:04}", 1000 + guess), &front, "unlock").await.expect(200);
        assert_eq!(wrong["granted"], false);
        let right = device.access(&f.home, "4719", &front, "unlock").await.expect(200);
        assert_eq!(right["granted"], true, "guess {guess}: the keypad is not locked yet");
    }
    device.access(&f.home, "1009", &front, "unlock").await.expect(200);
    // The tenth wrong code within ten minutes locks every device of the home.
    for (place, action) in [(front.as_str(), "unlock"), (back.as_str(), "unlock"), ("panel", "disarm")] {
        let refused = device.access(&f.home, "4719", place, action).await.expect(200);
        assert_eq!(refused["granted"], false, "{place}: even the valid code waits");
        let retry = refused["retry_after_seconds"].as_u64().expect("retry_after_seconds");
        assert!((85..=90).contains(&retry), "{retry}");
    }
    // The owner sees it.
    let log = f.admin.get(&f.path("/activity?limit=500")).await.expect(200);
    let items = log["items"].as_array().expect("items");
    assert_eq!(items.iter().filter(|e| e["kind"] == "home_lockout").count(), 1);
    assert!(items.iter().any(|e| e["kind"] == "home_lockout" && e["device"] == front.as_str()));
    let mut owner = crate::ui::signed_in(&f.server, &f.place).await;
    let page = owner.get("/activity").await.body;
    assert!(page.contains("Every keypad and lock locked out after wrong codes across the home"), "{page}");

    // A device token spreads its guesses over every lock and the panel,
    // staying under each device's limit of three.
    let f = Fixture::new(backend).await;
    let mut devices = Vec::new();
    for name in ["Front door", "Back door", "Garage", "Cellar"] {
        devices.push((f.admin.create_lock(&f.home, name).await, "unlock"));
    }
    devices.push(("panel".to_owned(), "disarm"));
    let device = f.token("device", None);
    f.admin
        .create_user(&f.home, json!({"name": "Walker", "code": "4719", "locks": "all", "panel": {"disarm": true}}))
        .await;
    let mut guess = 1000;
    for round in 0..2 {
        for (place, action) in &devices {
            let answer = device.access(&f.home, &guess.to_string(), place, action).await.expect(200);
            assert_eq!(answer["granted"], false);
            assert!(round == 1 || answer.get("retry_after_seconds").is_none(), "no device is locked by itself");
            guess += 1;
        }
    }
    let refused = device.access(&f.home, "4719", &devices[0].0, "unlock").await.expect(200);
    assert_eq!(refused["granted"], false, "ten guesses over five devices lock the home");
    let log = f.admin.get(&f.path("/activity?limit=500")).await.expect(200);
    let kinds: Vec<&str> = log["items"].as_array().expect("items").iter().filter_map(|e| e["kind"].as_str()).collect();
    assert!(kinds.contains(&"home_lockout") && !kinds.contains(&"lockout"), "{kinds:?}");

    // The lockout holds across a restart.
    let Fixture { place, server, .. } = f;
    drop(server);
    let server = place.start();
    let device = server.api(&place.token("device", None));
    let home = server.api(&place.token("admin", None)).home_id().await;
    assert_eq!(device.access(&home, "4719", &devices[1].0, "unlock").await.expect(200)["granted"], false);
}

async fn preview_has_no_side_effects(backend: Backend) {
    let f = Fixture::with_args(backend, &["--timezone", "Europe/Berlin"]).await;
    let front = f.admin.create_lock(&f.home, "Front door").await;
    let walker = f.admin.create_user(&f.home, dog_walker("583062", &front)).await;
    let read = f.token("read", None);
    let device = f.token("device", None);
    let preview = f.path("/access/preview");
    let ask = |who: Value, at: &str| {
        let mut body = json!({"device": front, "action": "unlock", "at": at});
        body.as_object_mut().expect("object").extend(who.as_object().expect("object").clone());
        body
    };
    // Thursday 26 Nov 2026 in Berlin (UTC+1): 11:00 opens, 14:00 closes.
    let cases = [
        ("2026-11-26T09:59:59Z", false, "outside_schedule"),
        ("2026-11-26T10:00:00Z", true, ""),
        ("2026-11-26T12:59:59Z", true, ""),
        ("2026-11-26T13:00:00Z", false, "outside_schedule"),
        ("2026-11-28T11:00:00Z", false, "outside_schedule"),
    ];
    for (at, granted, reason) in cases {
        let by_code = f.admin.post(&preview, ask(json!({"code": "583062"}), at)).await.expect(200);
        let by_user = read.post(&preview, ask(json!({"user_id": walker}), at)).await.expect(200);
        for answer in [&by_code, &by_user] {
            assert_eq!(answer["granted"], granted, "{at}: {answer}");
            assert_eq!(answer["reason"].as_str().unwrap_or(""), reason, "{at}");
            assert_eq!(answer["user"]["name"], "Dog walker");
        }
    }
    // With a code it would be an oracle without lockout: admin only.
    read.post(&preview, ask(json!({"code": "583062"}), "2026-11-26T10:00:00Z")).await.expect_error(403, "forbidden");
    device.post(&preview, ask(json!({"user_id": walker}), "2026-11-26T10:00:00Z")).await.expect_error(403, "forbidden");
    f.admin.post(&preview, ask(json!({}), "2026-11-26T10:00:00Z")).await.expect_error(422, "invalid_request");
    f.admin
        .post(&preview, ask(json!({"user_id": "nobody"}), "2026-11-26T10:00:00Z"))
        .await
        .expect_error(409, "user_not_found");
    f.admin.post(&preview, ask(json!({"user_id": walker}), "noon")).await.expect_error(422, "invalid_request");
    // Many wrong codes in previews: no lockout, no log, no use counted.
    for wrong in ["1000", "1001", "1002", "1003"] {
        f.admin.post(&preview, ask(json!({"code": wrong}), "2026-11-26T10:00:00Z")).await.expect(200);
    }
    let log = f.admin.get(&f.path("/activity")).await.expect(200);
    assert_eq!(log["items"].as_array().map(|i| i.iter().filter(|e| e["kind"] != "user_created").count()), Some(0));
    assert_eq!(f.admin.get(&f.path(&format!("/users/{walker}"))).await.expect(200)["uses"], 0);
    let unlocked = f.admin.post(&preview, ask(json!({"code": "583062"}), "2026-11-26T10:00:00Z")).await.expect(200);
    assert_eq!(unlocked["granted"], true);
}

async fn activity_log_filters_and_pages(backend: Backend) {
    let f = Fixture::new(backend).await;
    let front = f.admin.create_lock(&f.home, "Front door").await;
    let owner = f
        .admin
        .create_user(
            &f.home,
            json!({"name": "Owner", "code": "4719", "locks": "all", "panel": {"arm": true, "disarm": true}}),
        )
        .await;
    f.admin.create_user(&f.home, json!({"name": "Guest", "code": "583062", "locks": "all"})).await;
    let device = f.token("device", None);
    device.access(&f.home, "4719", &front, "unlock").await.expect(200);
    device.access(&f.home, "583062", &front, "unlock").await.expect(200);
    device.access(&f.home, "4719", "panel", "arm_away").await.expect(200);
    device.access(&f.home, "9999", "panel", "disarm").await.expect(200);

    let all = f.admin.get(&f.path("/activity")).await.expect(200);
    let items = all["items"].as_array().expect("items");
    let kinds: Vec<&str> = items.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        ["access_denied", "panel", "departure", "arrival", "arrival", "user_created", "user_created"],
        "newest first (the arming is the panel's entry, in the departure's record)"
    );
    let denied = &items[0];
    assert_eq!(
        (denied["outcome"].as_str(), denied["reason"].as_str(), denied["device"].as_str()),
        (Some("denied"), Some("unknown_code"), Some("panel"))
    );
    assert!(denied["user"].is_null());
    assert_eq!(items[1]["user"]["name"], "Owner");
    for key in ["id", "at", "kind", "device", "action", "outcome", "reason", "user"] {
        assert!(items[0].get(key).is_some(), "{key}");
    }
    assert!(
        !shows_code(&all.to_string(), "4719") && !shows_code(&all.to_string(), "583062"),
        "the log never holds a code"
    );

    let by_user = f.admin.get(&f.path(&format!("/activity?user_id={owner}&outcome=granted"))).await.expect(200);
    assert_eq!(by_user["items"].as_array().map(Vec::len), Some(2));
    let by_device = f.admin.get(&f.path("/activity?device=panel")).await.expect(200);
    assert_eq!(by_device["items"].as_array().map(Vec::len), Some(3), "the two attempts and the arming");
    let future = f.admin.get(&f.path("/activity?since=2099-01-01T00:00:00Z")).await.expect(200);
    assert_eq!(future["items"].as_array().map(Vec::len), Some(0));
    let past = f.admin.get(&f.path("/activity?until=2000-01-01T00:00:00Z")).await.expect(200);
    assert_eq!(past["items"].as_array().map(Vec::len), Some(0));

    // Pages of two, following the cursor, give every entry once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("/activity?limit=2&cursor={c}"),
            None => "/activity?limit=2".to_owned(),
        };
        let page = f.admin.get(&f.path(&query)).await.expect(200);
        seen.extend(page["items"].as_array().expect("items").iter().map(|e| e["id"].clone()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, items.iter().map(|e| e["id"].clone()).collect::<Vec<_>>());

    // Cursors are opaque and belong to their home: they tell nothing of how
    // much happens elsewhere, and another home refuses them.
    let first = f.admin.get(&f.path("/activity?limit=2")).await.expect(200);
    let cursor = first["next_cursor"].as_str().expect("a cursor").to_owned();
    assert!(cursor.len() >= 64 && i64::from_str_radix(&cursor, 16).is_err(), "not a counter: {cursor}");
    let again = f.admin.get(&f.path("/activity?limit=2")).await.expect(200);
    assert_ne!(again["next_cursor"].as_str(), Some(cursor.as_str()), "the same place gives a new cursor");
    let other = f.admin.post("/api/v1/homes", json!({"name": "Cabin", "timezone": "UTC"})).await.expect(201);
    let other = other["id"].as_str().expect("id").to_owned();
    f.admin.get(&format!("/api/v1/homes/{other}/activity?cursor={cursor}")).await.expect_error(409, "cursor_invalid");

    f.admin.get(&f.path("/activity?cursor=zz")).await.expect_error(409, "cursor_invalid");
    for bad in ["limit=0", "limit=501", "limit=x", "limit=2.5", "outcome=maybe", "since=yesterday"] {
        f.admin.get(&f.path(&format!("/activity?{bad}"))).await.expect_error(422, "query_invalid");
    }
}

async fn reveal_is_admin_only_and_audited(backend: Backend) {
    let f = Fixture::new(backend).await;
    let id = f.admin.create_user(&f.home, json!({"name": "Walker", "code": "0583"})).await;
    let reveal = f.path(&format!("/users/{id}/reveal"));
    let read = f.token("read", None);
    read.post(&reveal, json!({})).await.expect_error(403, "forbidden");
    f.server.anonymous().post(&reveal, json!({})).await.expect_error(401, "unauthorized");
    assert_eq!(f.admin.post(&reveal, json!({})).await.expect(200), json!({"code": "0583"}), "leading zeros kept");
    let log = f.admin.get(&f.path("/activity")).await.expect(200);
    let entry = &log["items"][0];
    assert_eq!((entry["kind"].as_str(), entry["user"]["id"].as_str()), (Some("code_revealed"), Some(id.as_str())));
    assert_eq!(entry["actor"], "token:admin");
    assert!(!shows_code(&log.to_string(), "0583"));
    f.admin
        .post(&f.path("/users/000000000000000000000000/reveal"), json!({}))
        .await
        .expect_error(404, "user_not_found");
}

/// Owner and token actions are in the log with who did them and what they
/// touched, never a value: a change names its fields, a channel its name.
async fn owner_changes_are_audited_with_what_they_touched(backend: Backend) {
    let f = Fixture::new(backend).await;
    let id = f.admin.create_user(&f.home, json!({"name": "Walker", "code": "0583"})).await;
    let user = f.path(&format!("/users/{id}"));
    let change = json!({"name": "Dog walker", "code": "7291", "schedule": {"windows": [
        {"days": ["mon", "tue"], "start": "11:00", "end": "14:00"}]}});
    f.admin.patch(&user, change).await.expect(200);
    f.admin.patch(&user, json!({"enabled": false})).await.expect(200);
    let channels = f.path("/channels");
    let phone =
        f.admin.post(&channels, json!({"kind": "webhook", "name": "Phone", "url": "http://127.0.0.1:9/hook"})).await;
    let phone = phone.expect(201)["id"].as_str().expect("id").to_owned();
    let channel = f.path(&format!("/channels/{phone}"));
    for null in [json!({"url": null}), json!({"name": null}), json!({"emergency": null})] {
        f.admin.patch(&channel, null).await.expect_error(422, "invalid_request");
    }
    f.admin.patch(&channel, json!({"name": "Anna's phone", "emergency": true})).await.expect(200);
    f.admin.delete(&channel).await.expect(204);

    let log = f.admin.get(&f.path("/activity")).await.expect(200);
    let seen: Vec<(String, String, String)> = log["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (text(&e["kind"]), text(&e["detail"]), text(&e["actor"]))
        })
        .collect();
    let expected = [
        ("channel_deleted", "Anna's phone"),
        ("channel_changed", "Anna's phone: name, emergency"),
        ("channel_added", "Phone"),
        ("user_updated", "enabled"),
        ("user_updated", "name, schedule, code"),
        ("user_created", ""),
    ];
    let expected: Vec<(String, String, String)> =
        expected.iter().map(|(k, d)| ((*k).to_owned(), (*d).to_owned(), "token:admin".to_owned())).collect();
    assert_eq!(seen, expected);
    let text = log.to_string();
    assert!(!shows_code(&text, "0583") && !shows_code(&text, "7291"), "{text}");
}

async fn every_endpoint_checks_its_caller(backend: Backend) {
    let f = Fixture::new(backend).await;
    let front = f.admin.create_lock(&f.home, "Front door").await;
    let user = f.admin.create_user(&f.home, json!({"name": "Owner", "code": "4719", "locks": "all"})).await;
    let other = f.admin.post("/api/v1/homes", json!({"name": "Other", "timezone": "UTC"})).await.expect(201);
    let other = other["id"].as_str().expect("id").to_owned();
    let read = f.token("read", None);
    let device = f.token("device", None);
    let bound = f.token("device", Some(&f.home));
    let bound_admin = f.token("admin", Some(&f.home));
    let anon = f.server.anonymous();
    let bogus = anon.with_token("kw_0000000000000000000000000000000000000000000000000000000000000000");
    let h = |rest: &str| f.path(rest);

    let reads = [
        "/api/v1/homes".to_owned(),
        h(""),
        h("/locks"),
        h(&format!("/locks/{front}")),
        h("/users"),
        h(&format!("/users/{user}")),
        h("/activity"),
    ];
    for path in &reads {
        anon.get(path).await.expect_error(401, "unauthorized");
        bogus.get(path).await.expect_error(401, "unauthorized");
        read.get(path).await.expect(200);
        f.admin.get(path).await.expect(200);
        if path != "/api/v1/homes" {
            device.get(path).await.expect_error(403, "forbidden");
        }
    }
    let writes = [
        (reqwest::Method::POST, "/api/v1/homes".to_owned(), json!({"name": "H", "timezone": "UTC"})),
        (reqwest::Method::PATCH, h(""), json!({"name": "H"})),
        (reqwest::Method::POST, h("/locks"), json!({"name": "L"})),
        (reqwest::Method::PATCH, h(&format!("/locks/{front}")), json!({"name": "L"})),
        (reqwest::Method::DELETE, h(&format!("/locks/{front}")), json!({})),
        (reqwest::Method::POST, h("/users"), json!({"name": "U", "code": "5928"})),
        (reqwest::Method::PATCH, h(&format!("/users/{user}")), json!({"name": "U"})),
        (reqwest::Method::DELETE, h(&format!("/users/{user}")), json!({})),
        (reqwest::Method::POST, h(&format!("/users/{user}/reveal")), json!({})),
    ];
    for (method, path, body) in &writes {
        anon.send(method.clone(), path, Some(body.clone())).await.expect_error(401, "unauthorized");
        read.send(method.clone(), path, Some(body.clone())).await.expect_error(403, "forbidden");
        device.send(method.clone(), path, Some(body.clone())).await.expect_error(403, "forbidden");
        // The caller is checked before the body is judged.
        read.raw(method.clone(), path, b"{not json".to_vec()).await.expect_error(403, "forbidden");
        anon.raw(method.clone(), path, b"{not json".to_vec()).await.expect_error(401, "unauthorized");
    }
    device
        .raw(reqwest::Method::POST, &h("/access/preview"), b"{not json".to_vec())
        .await
        .expect_error(403, "forbidden");
    read.raw(reqwest::Method::POST, &h("/access"), b"{not json".to_vec()).await.expect_error(403, "forbidden");
    // The access endpoint: device and admin, not read.
    read.access(&f.home, "4719", &front, "unlock").await.expect_error(403, "forbidden");
    anon.access(&f.home, "4719", &front, "unlock").await.expect_error(401, "unauthorized");
    assert_eq!(bound.access(&f.home, "4719", &front, "unlock").await.expect(200)["granted"], true);
    // A token bound to a home stays in it.
    bound.access(&other, "4719", "panel", "disarm").await.expect_error(403, "forbidden");
    bound_admin.get(&format!("/api/v1/homes/{other}")).await.expect_error(403, "forbidden");
    let visible = bound_admin.get("/api/v1/homes").await.expect(200);
    assert_eq!(visible["items"].as_array().map(Vec::len), Some(1));
    bound_admin.post("/api/v1/homes", json!({"name": "H", "timezone": "UTC"})).await.expect_error(403, "forbidden");
    // Other shapes of the header.
    let raw = reqwest::Client::new()
        .get(format!("{}/api/v1/homes", f.server.base))
        .header("Authorization", "Basic YWRtaW46YWRtaW4=")
        .send()
        .await
        .expect("answer");
    assert_eq!(raw.status().as_u16(), 401);
    assert_eq!(raw.headers().get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Bearer"));
}

on_both_backends!(
    health_and_openapi_need_no_token,
    homes,
    locks,
    users_crud_never_shows_a_code,
    every_refusal_has_its_code_and_changes_nothing,
    changing_and_deleting_codes,
    access_decisions_and_what_each_caller_sees,
    wrong_codes_lock_the_device_out,
    lockout_cannot_be_sidestepped,
    preview_has_no_side_effects,
    activity_log_filters_and_pages,
    reveal_is_admin_only_and_audited,
    owner_changes_are_audited_with_what_they_touched,
    every_endpoint_checks_its_caller,
);
