//! The Z-Wave JS server's messages, read into what keyward needs.
//!
//! Command classes: 98 Door Lock (`currentMode` 255 secured, 0 unsecured),
//! 99 User Code (`userIdStatus` 0 available / 1 enabled / 2 disabled,
//! `userCode` per slot, `supportedUsers`), 113 Notification (Access Control
//! events, type 6), 128 Battery (`level`), 112 Configuration (the lock's own
//! settings, by their labels).

use keyward_app::devices::{DeviceEvent, DeviceRef, LockState, Operation};
use serde_json::Value;

pub const DOOR_LOCK: u64 = 98;
pub const USER_CODE: u64 = 99;
pub const NOTIFICATION: u64 = 113;
pub const BATTERY: u64 = 128;
pub use crate::wire::CONFIGURATION;
/// Access Control, the notification type of locks.
const ACCESS_CONTROL: u64 = 6;
/// `node.status` of a node the controller gave up on.
const STATUS_DEAD: u64 = 3;

pub fn device(node_id: u32) -> DeviceRef {
    DeviceRef::ZwaveJs { node_id }
}

/// A node as the server describes it, reduced to a lock's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub node_id: u32,
    pub label: String,
    pub manufacturer: String,
    pub model: String,
    pub online: bool,
    pub slots: Option<u16>,
    pub state: LockState,
    /// Where the lock keeps its own wrong-code limit, when it has one.
    pub keypad_limit: Option<KeypadParameters>,
}

/// The two Configuration CC parameters of a lock's own wrong-code limit:
/// how many wrong codes in a row, and for how many seconds the keypad then
/// refuses every code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeypadParameters {
    pub attempts: Parameter,
    pub seconds: Parameter,
}

/// A Configuration CC parameter: its number and the range the lock takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parameter {
    pub number: u16,
    pub min: i64,
    pub max: i64,
}

impl Parameter {
    /// `wanted`, or the nearest value the lock takes.
    pub fn nearest(&self, wanted: u8) -> i64 {
        i64::from(wanted).clamp(self.min, self.max)
    }
}

/// The labels locks give the two settings (zwave-js's device files, and the
/// names a lock reports itself through Configuration CC v3+), compared
/// lower-case with everything but letters left out. The Schlage BE469 and
/// Kwikset 914/916 have none: their limit is fixed in the lock.
const ATTEMPTS_LABELS: [&str; 2] = ["wrongcodelimit", "wrongcodeentrylimit"];
const SECONDS_LABELS: [&str; 3] = ["wrongcodelockouttime", "usercodetemporarydisabletime", "shutdowntime"];

/// A Configuration CC value whose label is one of `labels`.
fn parameter(values: &[Value], labels: &[&str]) -> Option<Parameter> {
    values.iter().find_map(|value| {
        if value.get("commandClass").and_then(Value::as_u64) != Some(CONFIGURATION) {
            return None;
        }
        // A partial parameter (a bit field inside one) is not a whole count.
        if value.get("propertyKey").is_some_and(|k| !k.is_null()) {
            return None;
        }
        let metadata = value.get("metadata")?;
        let label: String = metadata.get("label")?.as_str()?.chars().filter(char::is_ascii_alphabetic).collect();
        if !labels.contains(&label.to_ascii_lowercase().as_str())
            || metadata.get("writeable") == Some(&Value::Bool(false))
        {
            return None;
        }
        let number = u16::try_from(value.get("property")?.as_u64()?).ok()?;
        let min = metadata.get("min").and_then(Value::as_i64).unwrap_or(0);
        let max = metadata.get("max").and_then(Value::as_i64).unwrap_or(255);
        (min <= max).then_some(Parameter { number, min, max })
    })
}

/// Where the node keeps its wrong-code limit: both settings, or none.
fn keypad_parameters(values: &[Value]) -> Option<KeypadParameters> {
    Some(KeypadParameters {
        attempts: parameter(values, &ATTEMPTS_LABELS)?,
        seconds: parameter(values, &SECONDS_LABELS)?,
    })
}

/// The node, when it is a lock (it has the User Code or Door Lock class).
pub fn lock_node(node: &Value) -> Option<Node> {
    let node_id = u32::try_from(node.get("nodeId")?.as_u64()?).ok()?;
    let values = node.get("values").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let has_class = |cc| values.iter().any(|v| v.get("commandClass").and_then(Value::as_u64) == Some(cc));
    if !has_class(USER_CODE) && !has_class(DOOR_LOCK) {
        return None;
    }
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_owned();
    let config = node.get("deviceConfig");
    let model = text(node.get("label")).trim().to_owned();
    let description = text(config.and_then(|c| c.get("description")));
    let name = text(node.get("name"));
    let label = [name, description, model.clone()].into_iter().find(|s| !s.trim().is_empty()).unwrap_or_default();
    let mut state = LockState::default();
    for value in values {
        apply_value(&mut state, value, "value");
    }
    Some(Node {
        node_id,
        label,
        manufacturer: text(node.get("manufacturer").or_else(|| config.and_then(|c| c.get("manufacturer")))),
        model,
        online: node.get("status").and_then(Value::as_u64) != Some(STATUS_DEAD),
        slots: None,
        state,
        keypad_limit: keypad_parameters(values),
    })
}

/// Applies a value (from a node's list under `value`, or from a `value
/// updated` event under `newValue`) to the lock's state. True when it was one
/// of the lock state's values.
pub fn apply_value(state: &mut LockState, value: &Value, field: &str) -> bool {
    let cc = value.get("commandClass").and_then(Value::as_u64);
    let property = value.get("property").and_then(Value::as_str);
    let new = value.get(field);
    match (cc, property) {
        (Some(DOOR_LOCK), Some("currentMode")) => {
            state.locked = new.and_then(Value::as_u64).map(|mode| mode == 255);
            if state.locked == Some(true) {
                state.jammed = false;
            }
            true
        }
        (Some(BATTERY), Some("level")) => {
            state.battery = new.and_then(Value::as_u64).and_then(|l| u8::try_from(l.min(100)).ok());
            true
        }
        (Some(NOTIFICATION), Some("Access Control")) => {
            if value.get("propertyKey").and_then(Value::as_str) == Some("Lock state") {
                state.jammed = new.and_then(Value::as_u64) == Some(11);
                return true;
            }
            false
        }
        _ => false,
    }
}

/// What an Access Control notification means, if keyward cares.
pub fn access_control_event(node_id: u32, args: &Value) -> Option<DeviceEvent> {
    if args.get("type").and_then(Value::as_u64) != Some(ACCESS_CONTROL) {
        return None;
    }
    let device = device(node_id);
    let slot = || {
        args.get("parameters")
            .and_then(|p| p.get("userId"))
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok())
            .filter(|s| *s > 0)
    };
    let operated = |operation, unlocked| Some(DeviceEvent::Operated { device: device.clone(), operation, unlocked });
    match args.get("event").and_then(Value::as_u64)? {
        1 => operated(Operation::Manual, false),
        2 => operated(Operation::Manual, true),
        3 => operated(Operation::Remote, false),
        4 => operated(Operation::Remote, true),
        5 => Some(DeviceEvent::Keypad { device, slot: slot()?, unlocked: false }),
        6 => Some(DeviceEvent::Keypad { device, slot: slot()?, unlocked: true }),
        9 => operated(Operation::Auto, false),
        11 => Some(DeviceEvent::Jammed { device }),
        12 => Some(DeviceEvent::CodesCleared { device }),
        13 | 14 => Some(DeviceEvent::SlotChanged { device, slot: slot()? }),
        15 => Some(DeviceEvent::DuplicateRefused { device, slot: slot()? }),
        16 => Some(DeviceEvent::WrongCode { device }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_lock_node_is_read_from_the_server_state() {
        let node = json!({
            "nodeId": 2, "status": 4, "label": "BE469", "manufacturer": "Allegion",
            "deviceConfig": {"manufacturer": "Allegion", "label": "BE469", "description": "Touchscreen Deadbolt"},
            "values": [
                {"commandClass": 98, "property": "currentMode", "value": 255},
                {"commandClass": 99, "property": "userCode", "propertyKey": 1, "value": null},
                {"commandClass": 128, "property": "level", "value": 87},
                {"commandClass": 113, "property": "Access Control", "propertyKey": "Lock state", "value": 0}
            ]
        });
        let lock = lock_node(&node).expect("a lock");
        assert_eq!(lock.node_id, 2);
        assert_eq!(
            (lock.label.as_str(), lock.model.as_str(), lock.manufacturer.as_str()),
            ("Touchscreen Deadbolt", "BE469", "Allegion")
        );
        assert!(lock.online);
        assert_eq!(lock.state, LockState { locked: Some(true), jammed: false, battery: Some(87) });
        let switch = json!({"nodeId": 3, "values": [{"commandClass": 37, "property": "currentValue"}]});
        assert_eq!(lock_node(&switch), None);
        let dead = json!({"nodeId": 4, "status": 3, "values": [{"commandClass": 98, "property": "currentMode"}]});
        assert!(!lock_node(&dead).expect("a lock").online);
    }

    #[test]
    fn the_wrong_code_limit_is_found_by_its_labels() {
        let setting = |number: u64, label: &str, min: i64, max: i64| {
            json!({"commandClass": 112, "endpoint": 0, "property": number, "value": 5,
                   "metadata": {"type": "number", "label": label, "min": min, "max": max, "writeable": true}})
        };
        let node = |values: Vec<Value>| {
            let mut all = vec![json!({"commandClass": 98, "property": "currentMode", "value": 255})];
            all.extend(values);
            lock_node(&json!({"nodeId": 5, "values": all})).expect("a lock")
        };
        // Yale's device files.
        let yale = node(vec![
            setting(3, "Volume", 1, 3),
            setting(4, "Wrong Code Limit", 3, 10),
            setting(7, "Wrong Code Lockout Time", 0, 127),
        ]);
        let found = yale.keypad_limit.expect("both settings");
        assert_eq!(found.attempts, Parameter { number: 4, min: 3, max: 10 });
        assert_eq!(found.seconds, Parameter { number: 7, min: 0, max: 127 });
        assert_eq!((found.attempts.nearest(1), found.seconds.nearest(200)), (3, 127), "clamped to what the lock takes");
        // Names a lock reports itself, in other words.
        let named = node(vec![
            setting(1, "Wrong code entry limit", 1, 10),
            setting(2, "User Code Temporary Disable Time", 1, 255),
        ]);
        assert_eq!(named.keypad_limit.map(|k| (k.attempts.number, k.seconds.number)), Some((1, 2)));
        // One of the two alone is not the limit; nor is a BE469's setting list.
        assert_eq!(node(vec![setting(4, "Wrong Code Limit", 3, 10)]).keypad_limit, None);
        assert_eq!(node(vec![setting(3, "Beeper", 0, 255), setting(4, "Vacation Mode", 0, 255)]).keypad_limit, None);
        let mut read_only = setting(7, "Wrong Code Lockout Time", 0, 127);
        read_only["metadata"]["writeable"] = json!(false);
        assert_eq!(node(vec![setting(4, "Wrong Code Limit", 3, 10), read_only]).keypad_limit, None);
    }

    #[test]
    fn access_control_notifications_become_events() {
        let event =
            |e: u64, params: Value| access_control_event(2, &json!({"type": 6, "event": e, "parameters": params}));
        assert_eq!(
            event(6, json!({"userId": 3})),
            Some(DeviceEvent::Keypad { device: device(2), slot: 3, unlocked: true })
        );
        assert_eq!(
            event(5, json!({"userId": 3})),
            Some(DeviceEvent::Keypad { device: device(2), slot: 3, unlocked: false })
        );
        assert_eq!(event(6, json!({})), None, "a keypad event without its slot names nobody");
        assert_eq!(event(15, json!({"userId": 4})), Some(DeviceEvent::DuplicateRefused { device: device(2), slot: 4 }));
        assert_eq!(
            event(2, Value::Null),
            Some(DeviceEvent::Operated { device: device(2), operation: Operation::Manual, unlocked: true })
        );
        assert_eq!(event(11, Value::Null), Some(DeviceEvent::Jammed { device: device(2) }));
        assert_eq!(event(12, Value::Null), Some(DeviceEvent::CodesCleared { device: device(2) }));
        assert_eq!(access_control_event(2, &json!({"type": 7, "event": 3})), None, "home security is not a lock's");
    }
}
