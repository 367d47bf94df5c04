//! Zigbee2MQTT's payloads, read into a lock's facts (pure: no I/O). The
//! shapes are Zigbee2MQTT's own (zigbee-herdsman-converters): the retained
//! `bridge/devices` list, a device's merged state object, its availability.

use std::collections::BTreeMap;

use keyward_app::devices::{DeviceEvent, DeviceRef, KeypadLimit, LockState, Operation};
use keyward_core::{FriendlyName, IeeeAddress};
use serde_json::Value;
use zeroize::Zeroizing;

/// A lock as `bridge/devices` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offered {
    /// Its identity.
    pub address: IeeeAddress,
    /// Its MQTT topic now (renamed at will in Zigbee2MQTT).
    pub name: FriendlyName,
    pub label: String,
    pub manufacturer: String,
    pub model: String,
    /// How many PIN slots (`user` 0 … slots−1), when the expose says.
    pub slots: Option<u16>,
}

/// The locks in a `bridge/devices` payload: devices exposing `pin_code`.
pub fn offered_locks(devices: &Value) -> Vec<Offered> {
    let Some(devices) = devices.as_array() else { return Vec::new() };
    devices
        .iter()
        .filter_map(|device| {
            let definition = device.get("definition")?;
            let pin = find_feature(definition.get("exposes")?, "pin_code")?;
            let name = FriendlyName::parse(device.get("friendly_name")?.as_str()?).ok()?;
            let address = IeeeAddress::parse(device.get("ieee_address")?.as_str()?).ok()?;
            let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
            // The `user` feature's largest value is the last slot.
            let slots = find_feature(pin, "user")
                .and_then(|user| user.get("value_max"))
                .and_then(Value::as_u64)
                .and_then(|max| u16::try_from(max + 1).ok());
            Some(Offered {
                label: text(definition.get("description")).if_empty(name.as_str()),
                manufacturer: text(definition.get("vendor")),
                model: text(definition.get("model")),
                slots,
                address,
                name,
            })
        })
        .collect()
}

trait IfEmpty {
    fn if_empty(self, other: &str) -> String;
}

impl IfEmpty for String {
    fn if_empty(self, other: &str) -> String {
        if self.is_empty() { other.to_owned() } else { self }
    }
}

/// A feature by name anywhere in an exposes tree.
fn find_feature<'a>(exposes: &'a Value, name: &str) -> Option<&'a Value> {
    match exposes {
        Value::Array(items) => items.iter().find_map(|item| find_feature(item, name)),
        Value::Object(object) => {
            let named = |key| object.get(key).and_then(Value::as_str) == Some(name);
            if named("name") || named("property") {
                return Some(exposes);
            }
            object.get("features").and_then(|features| find_feature(features, name))
        }
        _ => None,
    }
}

/// One PIN slot as the state's `users` map reports it.
#[derive(Clone)]
pub struct SlotState {
    /// `available`, `enabled`, `disabled`, or `not_supported…`.
    pub status: String,
    /// The code, when the device exposes codes (`expose_pin`).
    pub pin: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for SlotState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotState")
            .field("status", &self.status)
            .field("pin", &self.pin.as_ref().map(|_| ".."))
            .finish()
    }
}

impl SlotState {
    pub fn occupied(&self) -> bool {
        self.status == "enabled" || self.status == "disabled"
    }
}

/// Where Zigbee2MQTT puts the result of keyward's read of the wrong-code
/// limit in the lock's state (`read`'s `state_property`).
pub const KEYPAD_LIMIT_PROPERTY: &str = "keyward_keypad_limit";

/// What one state message says.
#[derive(Debug, Default)]
pub struct StateReport {
    pub users: BTreeMap<u16, SlotState>,
    pub state: StateChange,
    pub last_save: Option<i64>,
    pub last_clear: Option<i64>,
    pub action: Option<Action>,
    /// The Door Lock cluster's wrong-code limit, as keyward's read returned it.
    pub keypad_limit: Option<KeypadLimit>,
}

/// Lock state fields present in a message.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StateChange {
    pub locked: Option<bool>,
    pub jammed: Option<bool>,
    pub battery: Option<u8>,
}

impl StateChange {
    pub fn apply(&self, state: &mut LockState) -> bool {
        let before = *state;
        if let Some(locked) = self.locked {
            state.locked = Some(locked);
        }
        if let Some(jammed) = self.jammed {
            state.jammed = jammed;
        }
        if let Some(battery) = self.battery {
            state.battery = Some(battery);
        }
        *state != before
    }
}

/// An `action` with its user and source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub action: String,
    pub user: Option<u16>,
    pub source: Option<String>,
}

pub fn state_report(payload: &Value) -> StateReport {
    let mut report = StateReport::default();
    if let Some(users) = payload.get("users").and_then(Value::as_object) {
        for (slot, entry) in users {
            let Ok(slot) = slot.parse::<u16>() else { continue };
            let Some(status) = entry.get("status").and_then(Value::as_str) else { continue };
            let pin = entry.get("pin_code").and_then(Value::as_str).map(|p| Zeroizing::new(p.to_owned()));
            report.users.insert(slot, SlotState { status: status.to_owned(), pin });
        }
    }
    report.state.locked = match payload.get("lock_state").and_then(Value::as_str) {
        Some("locked") => Some(true),
        Some("unlocked" | "not_fully_locked") => Some(false),
        _ => match payload.get("state").and_then(Value::as_str) {
            Some("LOCK") => Some(true),
            Some("UNLOCK") => Some(false),
            _ => None,
        },
    };
    report.state.jammed = payload.get("door_state").and_then(Value::as_str).map(|d| d == "error_jammed");
    report.state.battery = payload.get("battery").and_then(Value::as_u64).and_then(|b| u8::try_from(b.min(100)).ok());
    report.last_save = payload.get("last_successful_pincode_save").and_then(Value::as_i64);
    report.last_clear = payload.get("last_successful_pincode_clear").and_then(Value::as_i64);
    report.keypad_limit = payload.get(KEYPAD_LIMIT_PROPERTY).and_then(|read| {
        let attribute = |key: &str| read.get(key).and_then(Value::as_u64).and_then(|n| u8::try_from(n).ok());
        Some(KeypadLimit {
            attempts: attribute("wrongCodeEntryLimit")?,
            seconds: attribute("userCodeTemporaryDisableTime")?,
        })
    });
    report.action = payload.get("action").and_then(Value::as_str).filter(|a| !a.is_empty()).map(|action| Action {
        action: action.to_owned(),
        user: payload.get("action_user").and_then(Value::as_u64).and_then(|u| u16::try_from(u).ok()),
        source: payload.get("action_source_name").and_then(Value::as_str).map(str::to_owned),
    });
    report
}

/// The lock event an action is, if any.
pub fn action_event(device: &DeviceRef, action: &Action) -> Option<DeviceEvent> {
    let device = device.clone();
    let keypad = action.source.as_deref() == Some("keypad");
    let operated = |operation, unlocked| Some(DeviceEvent::Operated { device: device.clone(), operation, unlocked });
    match action.action.as_str() {
        "unlock" | "lock" if keypad => Some(DeviceEvent::Keypad {
            device: device.clone(),
            slot: action.user?,
            unlocked: action.action == "unlock",
        }),
        "unlock" => operated(remote_or_manual(action), true),
        "lock" => operated(remote_or_manual(action), false),
        "manual_unlock" | "key_unlock" => operated(Operation::Manual, true),
        "manual_lock" | "key_lock" | "one_touch_lock" => operated(Operation::Manual, false),
        "auto_lock" | "schedule_lock" => operated(Operation::Auto, false),
        "schedule_unlock" => operated(Operation::Auto, true),
        "lock_failure_invalid_pin_or_id" | "unlock_failure_invalid_pin_or_id" => {
            Some(DeviceEvent::WrongCode { device: device.clone() })
        }
        // The ZCL programming event for every user at once carries user id
        // 0xFF or 0xFFFF (by lock make), or none: the whole memory is read back.
        "pin_code_deleted" if matches!(action.user, None | Some(0xFF | 0xFFFF)) => {
            Some(DeviceEvent::CodesCleared { device: device.clone() })
        }
        "pin_code_added" | "pin_code_deleted" | "pin_code_changed" => {
            Some(DeviceEvent::SlotChanged { device: device.clone(), slot: action.user? })
        }
        _ => None,
    }
}

fn remote_or_manual(action: &Action) -> Operation {
    match action.source.as_deref() {
        Some("manual") => Operation::Manual,
        _ => Operation::Remote,
    }
}

/// The payloads keyward publishes, built in one place (topics: `/set`, `/get`).
pub mod commands {
    use keyward_app::devices::KeypadLimit;
    use serde_json::{Value, json};

    /// `/set`: a code into slot `user` (the code as a string: a number
    /// would lose leading zeros). The one payload that carries a code.
    pub fn set_pin(user: u16, code: &str) -> Value {
        json!({"pin_code": {"user": user, "user_type": "unrestricted", "user_enabled": true, "pin_code": code}})
    }

    /// `/set`: empties slot `user` (many locks need both fields).
    pub fn clear_pin(user: u16) -> Value {
        json!({"pin_code": {"user": user, "user_enabled": false, "pin_code": null}})
    }

    /// `/get`: reads slot `user`; the answer comes on the state topic.
    pub fn get_pin(user: u16) -> Value {
        json!({"pin_code": {"user": user}})
    }

    /// `/get`: the lock state and battery.
    pub fn get_state() -> Value {
        json!({"state": ""})
    }

    /// `/set`: locks or unlocks.
    /// Zigbee2MQTT's generic attribute write, on the Door Lock cluster.
    pub fn write_keypad_limit(limit: KeypadLimit) -> Value {
        json!({"write": {"cluster": "closuresDoorLock", "payload": {
            "wrongCodeEntryLimit": limit.attempts,
            "userCodeTemporaryDisableTime": limit.seconds,
        }}})
    }

    /// Zigbee2MQTT's generic attribute read, its result published with the
    /// lock's state under `keyward_keypad_limit`.
    pub fn read_keypad_limit() -> Value {
        json!({"read": {
            "cluster": "closuresDoorLock",
            "attributes": ["wrongCodeEntryLimit", "userCodeTemporaryDisableTime"],
            "state_property": super::KEYPAD_LIMIT_PROPERTY,
        }})
    }

    pub fn operate(lock: bool) -> Value {
        json!({"state": if lock { "LOCK" } else { "UNLOCK" }})
    }
}

/// `{"state": "online"}`, or the plain `online` of older installs.
pub fn availability(payload: &[u8]) -> Option<bool> {
    let text = std::str::from_utf8(payload).ok()?.trim();
    let state = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => object.get("state")?.as_str()?.to_owned(),
        _ => text.to_owned(),
    };
    match state.as_str() {
        "online" => Some(true),
        "offline" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn name(text: &str) -> FriendlyName {
        FriendlyName::parse(text).expect("name")
    }

    #[test]
    fn locks_are_the_devices_exposing_pin_code() {
        let devices = json!([
            {"friendly_name": "Coordinator", "type": "Coordinator"},
            {"friendly_name": "hall/front_door", "ieee_address": "0x000B57FFFE0A1B2C", "definition": {"vendor": "Yale", "model": "YRD256HA20BP",
                "description": "Assure lock SL", "exposes": [
                    {"type": "lock", "features": [{"name": "state", "property": "state"}]},
                    {"type": "composite", "name": "pin_code", "property": "pin_code", "features": [
                        {"type": "numeric", "name": "user", "property": "user", "value_min": 0, "value_max": 249},
                        {"type": "text", "name": "pin_code", "property": "pin_code"}]}]}},
            {"friendly_name": "kitchen_motion", "definition": {"vendor": "Aqara", "model": "RTCGQ11LM",
                "exposes": [{"type": "binary", "name": "occupancy"}]}},
        ]);
        let locks = offered_locks(&devices);
        assert_eq!(locks.len(), 1);
        assert_eq!(locks[0].name, name("hall/front_door"));
        assert_eq!(locks[0].address.as_str(), "0x000b57fffe0a1b2c");
        assert_eq!((locks[0].manufacturer.as_str(), locks[0].model.as_str()), ("Yale", "YRD256HA20BP"));
        assert_eq!(locks[0].slots, Some(250));
    }

    #[test]
    fn state_messages_give_slots_state_and_actions() {
        let report = state_report(&json!({
            "users": {"0": {"status": "enabled", "pin_code": "4719"}, "1": {"status": "available", "pin_code": "1357"}},
            "lock_state": "locked", "door_state": "closed", "battery": 87,
            "last_successful_pincode_save": 1_795_000_000_000_i64,
            "action": "unlock", "action_user": 0, "action_source_name": "keypad"}));
        assert!(report.users[&0].occupied() && !report.users[&1].occupied());
        assert_eq!(report.users[&0].pin.as_deref().map(String::as_str), Some("4719"));
        assert_eq!(report.state, StateChange { locked: Some(true), jammed: Some(false), battery: Some(87) });
        let device = DeviceRef::Zigbee2Mqtt {
            ieee_address: keyward_core::IeeeAddress::parse("0x000d6f0000000001").expect("address"),
        };
        let action = report.action.expect("an action");
        assert_eq!(
            action_event(&device, &action),
            Some(DeviceEvent::Keypad { device: device.clone(), slot: 0, unlocked: true })
        );
        let manual = Action { action: "manual_unlock".into(), user: None, source: Some("manual".into()) };
        assert!(matches!(
            action_event(&device, &manual),
            Some(DeviceEvent::Operated { operation: Operation::Manual, unlocked: true, .. })
        ));
        let added = Action { action: "pin_code_added".into(), user: Some(7), source: Some("keypad".into()) };
        assert_eq!(action_event(&device, &added), Some(DeviceEvent::SlotChanged { device: device.clone(), slot: 7 }));
        let all = Action { action: "pin_code_deleted".into(), user: Some(0xFFFF), source: Some("keypad".into()) };
        assert_eq!(action_event(&device, &all), Some(DeviceEvent::CodesCleared { device: device.clone() }));
        let one = Action { user: Some(3), ..all };
        assert_eq!(action_event(&device, &one), Some(DeviceEvent::SlotChanged { device: device.clone(), slot: 3 }));
        // A message without an action (Zigbee2MQTT clears it) is none.
        assert!(state_report(&json!({"action": ""})).action.is_none());
        // A slot's debug form never shows its code.
        assert!(!format!("{:?}", report.users[&0]).contains("4719"));
    }

    #[test]
    fn commands_are_zigbee2mqtts_payloads() {
        use commands::*;
        assert_eq!(
            set_pin(3, "0471"),
            json!({"pin_code": {"user": 3, "user_type": "unrestricted", "user_enabled": true, "pin_code": "0471"}}),
            "the code as a string, leading zero kept"
        );
        assert_eq!(clear_pin(3), json!({"pin_code": {"user": 3, "user_enabled": false, "pin_code": null}}));
        assert_eq!(get_pin(0), json!({"pin_code": {"user": 0}}));
        assert_eq!(get_state(), json!({"state": ""}));
        assert_eq!((operate(true), operate(false)), (json!({"state": "LOCK"}), json!({"state": "UNLOCK"})));
    }

    #[test]
    fn availability_in_both_forms() {
        assert_eq!(availability(br#"{"state":"online"}"#), Some(true));
        assert_eq!(availability(b"offline"), Some(false));
        assert_eq!(availability(b"{}"), None);
    }
}
