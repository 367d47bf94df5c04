//! What the derived document cannot say by itself, added after it is built:
//! every path parameter, every error status an operation can answer with,
//! and request schemas that carry exactly the rules the server enforces, no
//! more and no fewer. Exactness is checked by schemathesis in CI (`.ci/run`):
//! a request the schema allows is never refused as malformed (422), and one
//! it forbids is never taken.
//!
//! The statuses: 404 for the resource in the path; 422 for a request that
//! does not fit its schema; 409 for a well-formed request that cannot be
//! applied (it conflicts with the home's codes or policy, names a device,
//! lock or user the home does not have, or its fields contradict each other
//! in a way no schema can say).

use keyward_core::{Name, ZoneName};
use serde_json::{Map, Value, json};

/// Adds the path parameters, the error responses and the exact request
/// schemas to the derived document.
pub fn apply(doc: &mut Value) {
    if let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
        for (name, mut schema) in request_schemas() {
            close_objects(&mut schema);
            schemas.insert(name.to_owned(), schema);
        }
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for (method, operation) in item.iter_mut() {
            let Some(operation) = operation.as_object_mut() else { continue };
            add_path_parameters(path, operation);
            if method == "get" && path.ends_with("/activity") {
                constrain_activity_query(operation);
            }
            add_error_responses(method, path, operation);
        }
    }
}

/// Request objects take no fields but their own (the server refuses others,
/// so a misspelt field is an error, not silently ignored).
fn close_objects(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("object") {
                map.insert("additionalProperties".to_owned(), Value::Bool(false));
            }
            map.values_mut().for_each(close_objects);
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

/// The fields a channel's kind takes, by kind, with the server's own rules.
fn channel_fields() -> [(&'static str, Value); 5] {
    let quiet = json!({"type": "object", "required": ["start", "end"], "properties": {
        "start": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
        "end": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
    }});
    [
        (
            "url",
            json!({"type": "string", "maxLength": 2000, "pattern": "^https?://[A-Za-z0-9][A-Za-z0-9.-]{0,200}(:[1-9][0-9]{0,3})?(/[!-~]*)?$"}),
        ),
        (
            "to",
            json!({"type": "string", "maxLength": 254, "pattern": "^[A-Za-z0-9._%+=-]{1,64}@[A-Za-z0-9-]{1,63}(\\.[A-Za-z0-9-]{1,63}){1,4}$"}),
        ),
        (
            "topic",
            json!({"type": "string", "maxLength": 200, "pattern": "^[^+#/\\u0000-\\u001f\\u007f-\\u009f]+(/[^+#/\\u0000-\\u001f\\u007f-\\u009f]+)*$"}),
        ),
        ("token", json!({"type": "string", "pattern": "^[!-~]{1,200}$"})),
        ("quiet_hours", quiet),
    ]
}

fn channel_field(name: &str) -> Value {
    channel_fields().into_iter().find(|(n, _)| *n == name).map(|(_, v)| v).unwrap_or(Value::Null)
}

/// A user's alert channels: "all" or the ids of some of the home's
/// channels (409 alert_channels_invalid for an id the home does not have).
fn alert_channels() -> Value {
    json!({"oneOf": [
        {"type": "string", "enum": ["all"]},
        {"type": "array", "maxItems": 32, "uniqueItems": true, "items": {"type": "string", "minLength": 1, "maxLength": 64}},
    ]})
}

/// "Tell me if they have not arrived by 12:30 on weekdays", in the home's time.
fn no_show() -> Value {
    json!({"type": "object", "required": ["days", "by"], "properties": {
        "days": {"type": "array", "minItems": 1, "maxItems": 7, "uniqueItems": true,
                 "items": {"type": "string", "enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}},
        "by": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"},
    }})
}

fn create_channel_schema() -> Value {
    let kind = |kind: &str, fields: &[&str], required: &[&str]| {
        let mut properties = json!({
            "kind": {"type": "string", "enum": [kind]},
            "name": reference("Name"),
            "emergency": {"type": "boolean"},
            "quiet_hours": nullable(channel_field("quiet_hours")),
        });
        for field in fields {
            // Only the optional token may be null.
            properties[*field] =
                if required.contains(field) { channel_field(field) } else { nullable(channel_field(field)) };
        }
        let mut all = vec!["kind", "name"];
        all.extend_from_slice(required);
        json!({"type": "object", "required": all, "properties": properties})
    };
    json!({
        "description": "A channel of one kind, with that kind's fields: `webhook` (`url`; keyward POSTs each alert as Standard Webhooks describe, signed with the `secret` the answer shows once), `email` (`to`; needs `[smtp]`), `ntfy` (`url` of the topic, `token` optional, sealed and never shown again) or `mqtt` (`topic` on keyward's broker; needs `[mqtt]`). `emergency` channels also receive duress and the other home alerts; `quiet_hours` hold back all but urgent alerts. 409 channel_unavailable when this hub cannot send that kind, or may not reach a private address (`[notify] allow_private_targets = false`).",
        "oneOf": [
            kind("webhook", &["url"], &["url"]),
            kind("email", &["to"], &["to"]),
            kind("ntfy", &["url", "token"], &["url"]),
            kind("mqtt", &["topic"], &["topic"]),
        ],
    })
}

fn patch_channel_schema() -> Value {
    json!({"type": "object",
    "description": "Absent fields stay as they are. The kind stays: `url` is for webhook and ntfy channels, `to` for email, `topic` for MQTT, `token` (null removes it) for ntfy; another kind's field is 409 channel_kind_fixed. `quiet_hours: null` removes them.",
    "properties": {
        "name": reference("Name"),
        "url": channel_field("url"),
        "to": channel_field("to"),
        "topic": channel_field("topic"),
        "token": nullable(channel_field("token")),
        "emergency": {"type": "boolean"},
        "quiet_hours": nullable(channel_field("quiet_hours")),
    }})
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn nullable(schema: Value) -> Value {
    json!({"oneOf": [schema, {"type": "null"}]})
}

/// A Zigbee2MQTT friendly name: topic levels without MQTT wildcards or
/// control characters (as `keyward_core::FriendlyName` checks).
const FRIENDLY_NAME: &str = "^[^/+#\\u0000-\\u001f\\u007f-\\u009f]+(?:/[^/+#\\u0000-\\u001f\\u007f-\\u009f]+)*$";
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
/// 00:00 to 23:59:59, with or without seconds.
const START: &str = "^(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9])?$";
/// As a start, or 24:00 (the end of the day).
const END: &str = "^(?:(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9])?|24:00(?::00)?)$";

/// The request bodies and the values they share.
fn request_schemas() -> Vec<(&'static str, Value)> {
    let integer = |min: i64, max: i64| json!({"type": "integer", "minimum": min, "maximum": max});
    let boolean = json!({"type": "boolean"});
    let nullable_boolean = nullable(boolean.clone());
    let instant = nullable(reference("Instant"));
    let day = nullable(reference("Day"));
    // A stay's start is an instant or a day, its end likewise: never both.
    let one_of_each_bound = json!([
        {"not": {"required": ["valid_from", "first_day"]}},
        {"not": {"required": ["valid_until", "last_day"]}},
    ]);
    let device_and_action = json!({"oneOf": [
        {"properties": {"device": {"const": "panel"}, "action": {"enum": ["disarm", "arm_away", "arm_stay", "arm_night"]}}},
        {"properties": {"device": {"not": {"const": "panel"}}, "action": {"const": "unlock"}}},
    ]});
    let action = json!({"type": "string", "enum": ["unlock", "disarm", "arm_away", "arm_stay", "arm_night"]});
    let max_uses = nullable(integer(1, i64::from(u32::MAX)));
    let sensor_kind = json!({"type": "string", "enum": keyward_core::alarm::SensorKind::ALL.map(keyward_core::alarm::SensorKind::as_str)});
    let modes =
        json!({"type": "array", "uniqueItems": true, "items": {"type": "string", "enum": ["away", "stay", "night"]}});
    vec![
        (
            "Name",
            json!({
                "type": "string", "minLength": 1, "maxLength": keyward_core::name::MAX_NAME_CHARS, "pattern": Name::pattern(),
                "description": "1 to 64 characters, at least one of them visible, no control characters; kept exactly as given.",
            }),
        ),
        (
            "TimeZone",
            json!({"type": "string", "enum": ZoneName::all(), "description": "An IANA time zone name, spelled as the time zone database spells it."}),
        ),
        (
            "Day",
            json!({
                "type": "string", "format": "date",
                "pattern": "^2[01][0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$",
                "description": "A calendar day in the home's time zone, in the years 2000 to 2199: 2026-12-05. It stays that day when the home's zone changes.",
            }),
        ),
        (
            "Instant",
            json!({
                "type": "string", "format": "date-time", "pattern": keyward_core::instant::PATTERN,
                "description": "RFC 3339, in the years 2000 to 2199: 2026-12-05T09:00:00Z, or with an offset such as +01:00.",
            }),
        ),
        (
            "Code",
            json!({"type": "string", "pattern": "^[0-9]{4,8}$", "description": "4 to 8 digits; the home's code policy may take fewer lengths (409 code_length)."}),
        ),
        (
            "Locks",
            json!({"oneOf": [
                {"type": "string", "const": "all"},
                {"type": "array", "items": {"type": "string"}, "description": "Lock ids of this home (409 locks_invalid otherwise)."},
            ]}),
        ),
        (
            "Window",
            json!({
                "type": "object", "required": ["days", "start", "end"],
                "description": "`days` are the days it starts on; `start` is inclusive, `end` exclusive; an end earlier than the start runs past midnight; an end equal to the start is refused (409 window_empty). `every_weeks` 2 to 4 keeps the window in the week (Monday to Sunday) holding `from` and every that many weeks after; `from` alone starts a weekly window on that day; neither: every week.",
                "properties": {
                    "days": {"type": "array", "minItems": 1, "maxItems": 7, "uniqueItems": true, "items": {"type": "string", "enum": DAYS}},
                    "start": {"type": "string", "pattern": START, "example": "11:00"},
                    "end": {"type": "string", "pattern": END, "example": "14:00"},
                    "every_weeks": nullable(json!({"type": "integer", "minimum": 1, "maximum": keyward_core::schedule::MAX_EVERY_WEEKS, "example": 2})),
                    "from": day.clone(),
                },
                // Every 2 to 4 weeks counts from a first date.
                "if": {"required": ["every_weeks"], "properties": {"every_weeks": {"type": "integer", "minimum": 2}}},
                "then": {"required": ["from"], "properties": {"from": {"type": "string"}}},
            }),
        ),
        (
            "Visit",
            json!({
                "type": "object", "required": ["date", "start", "end"],
                "description": "One visit day: from `start` (inclusive) to `end` (exclusive) on `date`, past midnight when the end is earlier than the start; an end equal to the start is refused (409 window_empty).",
                "properties": {
                    "date": reference("Day"),
                    "start": {"type": "string", "pattern": START, "example": "10:00"},
                    "end": {"type": "string", "pattern": END, "example": "16:00"},
                },
            }),
        ),
        (
            "Schedule",
            json!({"oneOf": [
            {"type": "object", "required": ["always"], "properties": {"always": {"const": true}, "windows": {"type": "null"}, "visits": {"type": "null"}}},
            {"type": "object", "properties": {
                "always": {"type": "null"},
                "windows": {"type": ["array", "null"], "maxItems": keyward_core::schedule::MAX_WINDOWS, "items": reference("Window")},
                "visits": {"type": ["array", "null"], "maxItems": keyward_core::schedule::MAX_VISITS, "items": reference("Visit")},
            }, "anyOf": [
                {"required": ["windows"], "properties": {"windows": {"type": "array", "minItems": 1}}},
                {"required": ["visits"], "properties": {"visits": {"type": "array", "minItems": 1}}},
            ]},
        ], "description": "`{\"always\": true}`, or weekly `windows` and/or `visits` (one-off days) in the home's wall-clock time."}),
        ),
        (
            "CreateHome",
            json!({
                "type": "object", "required": ["name", "timezone"],
                "properties": {"name": reference("Name"), "timezone": reference("TimeZone")},
            }),
        ),
        (
            "PatchHome",
            json!({
                "type": "object",
                "description": "Absent or null fields stay as they are. min_length above max_length is refused (409 policy_conflict).",
                "properties": {
                    "name": nullable(reference("Name")),
                    "timezone": nullable(reference("TimeZone")),
                    "code_policy": nullable(json!({"type": "object", "properties": {
                        "min_length": nullable(integer(4, 8)),
                        "max_length": nullable(integer(4, 8)),
                        "reject_weak": nullable_boolean,
                    }})),
                    "lockout": nullable(json!({"type": "object", "properties": {
                        "max_attempts": nullable(integer(1, 255)),
                        "window_seconds": nullable(integer(1, 86_400)),
                        "lockout_seconds": nullable(integer(1, 255)),
                    }})),
                },
            }),
        ),
        (
            "CreateLock",
            json!({"type": "object", "required": ["name"], "properties": {
                "name": reference("Name"),
                "device": nullable(reference("Device")),
                "slots": nullable(reference("SlotRange")),
            }, "description": "`device` binds the lock to a lock a connected network offers (GET /api/v1/devices; 409 device_unavailable or device_in_use otherwise); `slots`, only with a device, limits the slots keyward may use (409 slots_invalid beyond the lock's slots)."}),
        ),
        ("CreateChannel", create_channel_schema()),
        ("PatchChannel", patch_channel_schema()),
        (
            "PatchLock",
            json!({"type": "object", "properties": {
                "name": nullable(reference("Name")),
                "device": nullable(reference("Device")),
                "slots": nullable(reference("SlotRange")),
            }, "description": "Absent fields stay as they are; `device: null` unbinds the lock."}),
        ),
        (
            "Device",
            json!({"description": "A Z-Wave node by its number, or a Zigbee2MQTT device by its friendly name (its MQTT topic: no +, #, control characters or empty levels).", "oneOf": [
                {"type": "object", "required": ["protocol", "node_id"], "properties": {
                    "protocol": {"type": "string", "enum": ["zwave_js"]},
                    "node_id": integer(1, 4000),
                }},
                {"type": "object", "required": ["protocol", "friendly_name"], "properties": {
                    "protocol": {"type": "string", "enum": ["zigbee2mqtt"]},
                    "friendly_name": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": FRIENDLY_NAME},
                }},
            ]}),
        ),
        (
            "SlotRange",
            json!({"type": "object", "required": ["first", "last"], "description": "Inclusive; last at or after first, inside the lock's slots: Z-Wave numbers them from 1, Zigbee from 0 (409 slots_invalid otherwise).", "properties": {
                "first": integer(0, 65_535),
                "last": integer(0, 65_535),
            }}),
        ),
        (
            "CreateUser",
            json!({
                "type": "object", "required": ["name", "code"],
                "description": "Unless given: a standard code, no panel rights, no locks, at all times, no dates, no limit of uses, no notifications, enabled. The stay starts at valid_from (an instant) or on first_day, and ends at valid_until (exclusive) or after last_day (inclusive); the end must come after the start (409 validity_empty).",
                "allOf": one_of_each_bound.clone(),
                "properties": {
                    "name": reference("Name"),
                    "code": reference("Code"),
                    "kind": {"type": "string", "enum": ["standard", "duress"]},
                    "panel": {"type": "object", "properties": {"arm": boolean, "disarm": boolean}},
                    "locks": reference("Locks"),
                    "schedule": reference("Schedule"),
                    "valid_from": instant,
                    "valid_until": instant,
                    "first_day": day,
                    "last_day": day,
                    "max_uses": max_uses,
                    "notify": {"type": "object", "properties": {
                        "arrive": boolean,
                        "leave": boolean,
                        "channels": alert_channels(),
                        "hours": nullable(reference("Schedule")),
                        "no_show": nullable(no_show()),
                    }},
                    "enabled": boolean,
                    "contact": nullable(reference("Contact")),
                },
            }),
        ),
        (
            "PatchUser",
            json!({
                "type": "object",
                "description": "A partial change: absent fields stay as they are, as do null ones, except valid_from, valid_until, first_day, last_day and max_uses, which null clears. A start is valid_from or first_day, an end valid_until or last_day: one of each pair at most.",
                "allOf": one_of_each_bound,
                "properties": {
                    "name": nullable(reference("Name")),
                    "code": nullable(reference("Code")),
                    "kind": nullable(json!({"type": "string", "enum": ["standard", "duress"]})),
                    "panel": nullable(json!({"type": "object", "properties": {"arm": nullable_boolean, "disarm": nullable_boolean}})),
                    "locks": nullable(reference("Locks")),
                    "schedule": nullable(reference("Schedule")),
                    "valid_from": instant,
                    "valid_until": instant,
                    "first_day": day,
                    "last_day": day,
                    "max_uses": max_uses,
                    "notify": nullable(json!({"type": "object", "properties": {
                        "arrive": nullable_boolean,
                        "leave": nullable_boolean,
                        "channels": nullable(alert_channels()),
                        "hours": nullable(reference("Schedule")),
                        "no_show": nullable(no_show()),
                    }})),
                    "enabled": nullable_boolean,
                    "contact": nullable(reference("Contact")),
                },
            }),
        ),
        (
            "Contact",
            json!({
                "type": "object",
                "description": "How the owner reaches the user, to share their access; each field optional (null: none).",
                "properties": {
                    "email": nullable(channel_field("to")),
                    "phone": nullable(json!({"type": "string", "pattern": "^\\+?([0-9][ .()/-]?){4,15}$", "description": "4 to 20 digits, an optional leading +, spaces, dots, dashes, brackets (422 contact_invalid otherwise)."})),
                },
            }),
        ),
        (
            "CreateShare",
            json!({
                "type": "object",
                "description": "A one-time link to the user's own access page, working `days` days (7 when absent); emailed to `email`, or to the user's contact with `send_to_contact` (not both).",
                "properties": {
                    "days": nullable(integer(1, 30)),
                    "email": nullable(channel_field("to")),
                    "send_to_contact": boolean,
                },
                "not": {"required": ["email", "send_to_contact"], "properties": {"email": {"type": "string"}, "send_to_contact": {"const": true}}},
            }),
        ),
        (
            "AccessRequest",
            json!({
                "type": "object", "required": ["code", "device", "action"],
                "description": "Locks unlock; the panel disarms, arms away or arms stay.",
                "properties": {
                    "code": {"type": "string", "description": "As typed; anything that is not a code of the home is simply refused."},
                    "device": {"type": "string", "description": "A lock id of this home, or \"panel\" (409 device_not_found otherwise)."},
                    "action": action,
                },
                "allOf": [device_and_action],
            }),
        ),
        (
            "PatchAlarmPanel",
            json!({
                "type": "object", "required": ["settings"],
                "description": "Absent fields stay as they are. A value within these ranges that CP-01 does not allow while `cp01` is on (exit 45–255 s, entry 30–240 s, abort window 15–45 s, entry and abort together at most 60 s) is refused with 409 panel_settings_not_cp01; nothing changes.",
                "properties": {"settings": {"type": "object", "properties": {
                    "exit_delay": integer(0, 255),
                    "entry_delay": integer(0, 255),
                    "abort_window": integer(0, 255),
                    "siren_time": integer(60, 1800),
                    "swinger_limit": integer(1, 6),
                    "arm_without_code": boolean,
                    "cp01": boolean,
                }}},
            }),
        ),
        (
            "CreateSensor",
            json!({
                "type": "object", "required": ["name", "kind"],
                "description": "A sensor of the home's panel. `modes` defaults by kind (doors and windows: every mode; the inside: away); `entry_delay` only for entry_exit (409 sensor_conflict otherwise; 409 panel_settings_not_cp01 outside CP-01's 30–240 s while cp01 is on); 24-hour kinds cannot be bypassable (409 sensor_conflict); `device` a sensor a network offers (GET /api/v1/devices, kind sensor).",
                "properties": {
                    "name": reference("Name"),
                    "kind": sensor_kind.clone(),
                    "modes": modes.clone(),
                    "entry_delay": integer(0, 255),
                    "bypassable": boolean,
                    "device": reference("Device"),
                },
            }),
        ),
        (
            "PatchSensor",
            json!({
                "type": "object",
                "description": "Absent fields stay as they are; `entry_delay: null` takes the panel's again, `device: null` unbinds the sensor.",
                "properties": {
                    "name": reference("Name"),
                    "kind": sensor_kind,
                    "modes": modes,
                    "entry_delay": nullable(integer(0, 255)),
                    "bypassable": boolean,
                    "device": nullable(reference("Device")),
                },
            }),
        ),
        (
            "CreateSiren",
            json!({"type": "object", "required": ["name", "device"], "properties": {
                "name": reference("Name"),
                "device": reference("Device"),
            }, "description": "A siren the panel sounds: a device a network offers (GET /api/v1/devices, kind siren)."}),
        ),
        (
            "PatchSiren",
            json!({"type": "object", "properties": {
                "name": reference("Name"),
                "device": reference("Device"),
            }, "description": "Absent fields stay as they are."}),
        ),
        (
            "ArmRequest",
            json!({
                "type": "object", "required": ["mode"],
                "properties": {
                    "mode": {"type": "string", "enum": ["away", "stay", "night"]},
                    "force": {"type": "boolean", "description": "Bypass the open sensors a `not_ready` refusal named, until disarmed."},
                },
            }),
        ),
        (
            "PreviewRequest",
            json!({
                "type": "object", "required": ["device", "action"],
                "description": "Exactly one of `code` (admin only) and `user_id`.",
                "properties": {
                    "code": nullable(json!({"type": "string"})),
                    "user_id": nullable(json!({"type": "string"})),
                    "device": {"type": "string"},
                    "action": action,
                    "at": instant,
                },
                "allOf": [device_and_action, {"oneOf": [
                    {"required": ["code"], "properties": {"code": {"type": "string"}, "user_id": {"type": "null"}}},
                    {"required": ["user_id"], "properties": {"user_id": {"type": "string"}, "code": {"type": "null"}}},
                ]}],
            }),
        ),
    ]
}

fn add_path_parameters(path: &str, operation: &mut Map<String, Value>) {
    let described = |name: &str| match name {
        "home_id" => "A home's id.",
        "lock_id" => "A lock's id in this home.",
        "user_id" => "A user's id in this home.",
        "channel_id" => "An alert channel's id in this home.",
        _ => "",
    };
    let parameters = operation.entry("parameters").or_insert_with(|| json!([]));
    let Some(parameters) = parameters.as_array_mut() else { return };
    for name in path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')) {
        let declared = parameters.iter().any(|p| p["name"] == name && p["in"] == "path");
        if !declared {
            parameters.push(json!({
                "name": name, "in": "path", "required": true, "description": described(name), "schema": {"type": "string"},
            }));
        }
    }
}

fn constrain_activity_query(operation: &mut Map<String, Value>) {
    let Some(parameters) = operation.get_mut("parameters").and_then(Value::as_array_mut) else { return };
    for parameter in parameters.iter_mut().filter(|p| p["in"] == "query") {
        let schema = match parameter["name"].as_str() {
            Some("outcome") => json!({"type": "string", "enum": ["granted", "denied"]}),
            Some("since" | "until") => reference("Instant"),
            Some("limit") => json!({"type": "integer", "minimum": 1, "maximum": 500}),
            _ => json!({"type": "string"}),
        };
        parameter["schema"] = schema;
        parameter["required"] = json!(false);
    }
}

/// The error statuses of an operation, each with the codes it can carry.
fn add_error_responses(method: &str, path: &str, operation: &mut Map<String, Value>) {
    if !path.starts_with("/api/v1/homes") {
        return;
    }
    let has_body = operation.contains_key("requestBody");
    let mut errors: Vec<(u16, Vec<&str>)> = vec![(401, vec!["unauthorized"]), (403, vec!["forbidden"])];
    let mut not_found = Vec::new();
    if path.contains("{home_id}") {
        not_found.push("home_not_found");
    }
    if path.contains("{lock_id}") {
        not_found.push("lock_not_found");
    }
    if path.contains("{user_id}") {
        not_found.push("user_not_found");
    }
    if path.contains("{channel_id}") {
        not_found.push("channel_not_found");
    }
    if path.contains("{share_id}") {
        not_found.push("share_not_found");
    }
    errors.push((404, if not_found.is_empty() { vec!["not_found"] } else { not_found }));
    if has_body {
        errors.push((400, vec!["malformed_json", "body_unreadable"]));
        errors.push((413, vec!["payload_too_large"]));
    }
    let (unprocessable, conflict): (Vec<&str>, Vec<&str>) = match (method, path) {
        ("post", "/api/v1/homes") => (vec!["name_invalid", "timezone_invalid"], vec![]),
        ("patch", "/api/v1/homes/{home_id}") => {
            (vec!["name_invalid", "timezone_invalid", "policy_invalid"], vec!["policy_conflict"])
        }
        ("post" | "patch", p) if p.contains("/locks") => {
            (vec!["name_invalid", "device_invalid"], vec!["device_unavailable", "device_in_use", "slots_invalid"])
        }
        ("post", "/api/v1/homes/{home_id}/users") | ("patch", "/api/v1/homes/{home_id}/users/{user_id}") => (
            vec![
                "name_invalid",
                "code_invalid",
                "schedule_invalid",
                "validity_invalid",
                "max_uses_invalid",
                "alerts_invalid",
                "contact_invalid",
            ],
            vec![
                "code_length",
                "code_too_weak",
                "code_in_use",
                "code_prefix_conflict",
                "code_too_close",
                "code_damaged",
                "locks_invalid",
                "window_empty",
                "validity_empty",
                "alert_channels_invalid",
            ],
        ),
        ("post", p) if p.ends_with("/reveal") => (vec![], vec!["code_damaged"]),
        ("post", p) if p.ends_with("/shares") => {
            (vec!["share_invalid"], vec!["mail_unavailable", "public_url_missing", "contact_missing"])
        }
        ("post", p) if p.ends_with("/lock") || p.ends_with("/unlock") => (vec![], vec!["device_unavailable"]),
        ("post", p) if p.ends_with("/take-over") => (vec![], vec!["slot_not_foreign"]),
        ("post", p) if p.ends_with("/access") => (vec!["action_invalid"], vec!["device_not_found"]),
        ("post", p) if p.ends_with("/preview") => (vec!["action_invalid"], vec!["device_not_found", "user_not_found"]),
        ("get", p) if p.ends_with("/activity") => (vec!["query_invalid"], vec!["cursor_invalid"]),
        ("post", "/api/v1/homes/{home_id}/channels") => {
            (vec!["name_invalid", "channel_invalid"], vec!["channel_name_taken", "channel_unavailable"])
        }
        ("patch", "/api/v1/homes/{home_id}/channels/{channel_id}") => (
            vec!["name_invalid", "channel_invalid"],
            vec!["channel_name_taken", "channel_unavailable", "channel_kind_fixed"],
        ),
        _ => (vec![], vec![]),
    };
    if has_body || !unprocessable.is_empty() {
        let mut codes = if has_body { vec!["invalid_request"] } else { vec![] };
        codes.extend(unprocessable);
        errors.push((422, codes));
    }
    if !conflict.is_empty() {
        errors.push((409, conflict));
    }
    let responses = operation.entry("responses").or_insert_with(|| json!({}));
    let Some(responses) = responses.as_object_mut() else { return };
    for (status, codes) in errors {
        let codes: Vec<String> = codes.iter().map(|c| format!("`{c}`")).collect();
        responses.insert(
            status.to_string(),
            json!({
                "description": format!("`error.code` is one of {}", codes.join(", ")),
                "content": {"application/json": {"schema": reference("ErrorBody")}},
            }),
        );
    }
}
