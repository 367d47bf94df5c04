//! The Z-Wave JS server's messages as keyward reads and sends them, typed
//! (schema 50 of `zwave-js-server`): the envelope of every message, the
//! commands keyward sends, and the driver's errors by name.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use keyward_app::devices::DeviceError;

/// What the server sends: its version on connect, an answer to a command,
/// or an event.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Incoming {
    Version {
        #[serde(rename = "maxSchemaVersion", default)]
        max_schema_version: u64,
    },
    Result(Answer),
    Event {
        event: Event,
    },
    #[serde(other)]
    Other,
}

/// The answer to one command.
#[derive(Debug, Deserialize)]
pub struct Answer {
    #[serde(rename = "messageId")]
    pub message_id: String,
    pub success: bool,
    #[serde(default)]
    pub result: Value,
    /// The server's own error (`node_not_found`, `zwave_error`, …).
    #[serde(rename = "errorCode", default)]
    pub error_code: Option<String>,
    /// For `zwave_error`: the driver's `ZWaveErrorCodes` number.
    #[serde(rename = "zwaveErrorCode", default)]
    pub zwave_error_code: Option<u32>,
    #[serde(rename = "zwaveErrorMessage", alias = "message", default)]
    pub message: Option<String>,
}

/// An event, by its source.
#[derive(Debug, Deserialize)]
#[serde(tag = "source", rename_all = "lowercase")]
pub enum Event {
    Node(NodeEvent),
    Controller(ControllerEvent),
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "event")]
pub enum NodeEvent {
    #[serde(rename = "notification")]
    Notification {
        #[serde(rename = "nodeId")]
        node_id: u32,
        #[serde(rename = "ccId")]
        cc_id: u64,
        #[serde(default)]
        args: Value,
    },
    #[serde(rename = "value updated", alias = "value added")]
    ValueUpdated {
        #[serde(rename = "nodeId")]
        node_id: u32,
        #[serde(default)]
        args: Value,
    },
    #[serde(rename = "dead")]
    Dead {
        #[serde(rename = "nodeId")]
        node_id: u32,
    },
    #[serde(rename = "alive")]
    Alive {
        #[serde(rename = "nodeId")]
        node_id: u32,
    },
    /// Interviewed (again): its state is in `nodeState`.
    #[serde(rename = "ready")]
    Ready {
        #[serde(rename = "nodeId")]
        node_id: u32,
        #[serde(rename = "nodeState", default)]
        node_state: Value,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "event")]
pub enum ControllerEvent {
    #[serde(rename = "node removed")]
    NodeRemoved { node: RemovedNode },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
pub struct RemovedNode {
    #[serde(rename = "nodeId")]
    pub node_id: u32,
}

/// A value of a node: a command class's property, for one slot when keyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ValueId {
    #[serde(rename = "commandClass")]
    pub command_class: u64,
    pub endpoint: u8,
    pub property: Property,
    #[serde(rename = "propertyKey", skip_serializing_if = "Option::is_none")]
    pub property_key: Option<u16>,
}

/// A value's property: named (`userCode`), or a Configuration CC
/// parameter's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Property {
    Name(&'static str),
    Parameter(u16),
}

impl ValueId {
    pub fn of(command_class: u64, property: &'static str, slot: Option<u16>) -> Self {
        Self { command_class, endpoint: 0, property: Property::Name(property), property_key: slot }
    }

    /// A Configuration CC parameter (a whole one: no partial bit mask).
    pub fn parameter(number: u16) -> Self {
        Self { command_class: CONFIGURATION, endpoint: 0, property: Property::Parameter(number), property_key: None }
    }
}

/// Configuration, the command class of a device's own settings.
pub const CONFIGURATION: u64 = 112;

/// The commands keyward sends.
#[derive(Debug, Serialize)]
#[serde(tag = "command")]
pub enum Command {
    #[serde(rename = "set_api_schema")]
    SetApiSchema {
        #[serde(rename = "schemaVersion")]
        schema_version: u64,
    },
    #[serde(rename = "start_listening")]
    StartListening {},
    /// The driver's cached value.
    #[serde(rename = "node.get_value")]
    GetValue {
        #[serde(rename = "nodeId")]
        node_id: u32,
        #[serde(rename = "valueId")]
        value_id: ValueId,
    },
    /// A value read from the node itself (a Get over the radio).
    #[serde(rename = "node.poll_value")]
    PollValue {
        #[serde(rename = "nodeId")]
        node_id: u32,
        #[serde(rename = "valueId")]
        value_id: ValueId,
    },
    /// Sets a value; for `userCode`, the one message that carries a code.
    #[serde(rename = "node.set_value")]
    SetValue {
        #[serde(rename = "nodeId")]
        node_id: u32,
        #[serde(rename = "valueId")]
        value_id: ValueId,
        value: Value,
    },
}

/// A command with its message id, as it goes on the wire.
#[derive(Serialize)]
pub struct Envelope<'a> {
    #[serde(rename = "messageId")]
    pub message_id: String,
    #[serde(flatten)]
    pub command: &'a Command,
}

/// The driver's errors keyward tells apart (zwave-js `ZWaveErrorCodes`).
pub mod zwave_error {
    pub const DRIVER_DESTROYED: u32 = 102;
    pub const DRIVER_NOT_READY: u32 = 103;
    pub const DRIVER_TASK_REMOVED: u32 = 111;
    pub const DRIVER_SERIAL_PORT_CLOSED: u32 = 112;
    pub const CONTROLLER_TIMEOUT: u32 = 200;
    pub const CONTROLLER_NODE_TIMEOUT: u32 = 201;
    pub const CONTROLLER_MESSAGE_DROPPED: u32 = 202;
    pub const CONTROLLER_RESPONSE_NOK: u32 = 203;
    /// "The node did not acknowledge the command" (ZW0204): the lock is away.
    pub const CONTROLLER_CALLBACK_NOK: u32 = 204;
    pub const CONTROLLER_RESET: u32 = 206;
    pub const CONTROLLER_NODE_NOT_FOUND: u32 = 211;
    pub const CONTROLLER_NODE_REMOVED: u32 = 213;
    pub const CONTROLLER_MESSAGE_EXPIRED: u32 = 215;
    pub const SUPERVISION_COMMAND_FAILED: u32 = 1100;
    pub const SECURITY2_CANNOT_DECODE: u32 = 1405;

    /// The command did not get through to the node, or its answer did not
    /// come back (zwave-js's `isTransmissionError`, and an expired message):
    /// the lock does not answer now.
    pub fn is_transmission_error(code: u32) -> bool {
        matches!(
            code,
            CONTROLLER_TIMEOUT
                | CONTROLLER_NODE_TIMEOUT
                | CONTROLLER_MESSAGE_DROPPED
                | CONTROLLER_RESPONSE_NOK
                | CONTROLLER_CALLBACK_NOK
                | CONTROLLER_MESSAGE_EXPIRED
                | SECURITY2_CANNOT_DECODE
        )
    }

    /// The driver cannot send anything now (starting, stopping, its stick gone).
    pub fn is_driver_unavailable(code: u32) -> bool {
        matches!(
            code,
            DRIVER_DESTROYED | DRIVER_NOT_READY | DRIVER_TASK_REMOVED | DRIVER_SERIAL_PORT_CLOSED | CONTROLLER_RESET
        )
    }

    /// The node is not in the network (any more).
    pub fn is_missing_node(code: u32) -> bool {
        matches!(code, CONTROLLER_NODE_NOT_FOUND | CONTROLLER_NODE_REMOVED)
    }
}

/// The server's own error codes keyward tells apart.
const NODE_NOT_FOUND: &str = "node_not_found";

impl Answer {
    /// What a failed answer means for the lock.
    pub fn failure(&self) -> DeviceError {
        if self.error_code.as_deref() == Some(NODE_NOT_FOUND) {
            return DeviceError::NoSuchDevice;
        }
        match self.zwave_error_code {
            Some(code) if zwave_error::is_transmission_error(code) => DeviceError::Offline,
            Some(code) if zwave_error::is_driver_unavailable(code) => DeviceError::Disconnected,
            Some(code) if zwave_error::is_missing_node(code) => DeviceError::NoSuchDevice,
            // Supervision: the lock got the command and said it did not carry it out.
            Some(zwave_error::SUPERVISION_COMMAND_FAILED) => {
                DeviceError::Rejected("the lock did not carry out the command (Supervision)".into())
            }
            _ => {
                let words = [self.error_code.as_deref(), self.message.as_deref()];
                DeviceError::Rejected(words.into_iter().flatten().collect::<Vec<_>>().join(" "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn commands_are_the_servers_json() {
        let set = Command::SetValue {
            node_id: 2,
            value_id: ValueId::of(99, "userCode", Some(3)),
            value: Value::String("0471".into()),
        };
        let sent = serde_json::to_value(Envelope { message_id: "7".into(), command: &set }).expect("json");
        assert_eq!(
            sent,
            json!({"messageId": "7", "command": "node.set_value", "nodeId": 2,
                   "valueId": {"commandClass": 99, "endpoint": 0, "property": "userCode", "propertyKey": 3},
                   "value": "0471"})
        );
        let poll = Command::PollValue { node_id: 2, value_id: ValueId::of(99, "supportedUsers", None) };
        let sent = serde_json::to_value(Envelope { message_id: "8".into(), command: &poll }).expect("json");
        assert_eq!(sent["valueId"], json!({"commandClass": 99, "endpoint": 0, "property": "supportedUsers"}));
        let setting = Command::SetValue { node_id: 5, value_id: ValueId::parameter(4), value: json!(3) };
        let sent = serde_json::to_value(Envelope { message_id: "9".into(), command: &setting }).expect("json");
        assert_eq!(sent["valueId"], json!({"commandClass": 112, "endpoint": 0, "property": 4}));
        let hello = Command::SetApiSchema { schema_version: 50 };
        let sent = serde_json::to_value(Envelope { message_id: "1".into(), command: &hello }).expect("json");
        assert_eq!(sent, json!({"messageId": "1", "command": "set_api_schema", "schemaVersion": 50}));
    }

    #[test]
    fn messages_from_the_server_are_read_by_their_type() {
        let read = |v: Value| serde_json::from_value::<Incoming>(v).expect("an incoming message");
        assert!(matches!(
            read(json!({"type": "version", "maxSchemaVersion": 50, "driverVersion": "15"})),
            Incoming::Version { max_schema_version: 50 }
        ));
        let Incoming::Event { event: Event::Node(NodeEvent::Notification { node_id, cc_id, args }) } = read(
            json!({"type": "event", "event": {"source": "node", "event": "notification", "nodeId": 2, "ccId": 113,
                   "args": {"type": 6, "event": 6, "parameters": {"userId": 3}}}}),
        ) else {
            panic!("a notification");
        };
        assert_eq!((node_id, cc_id, &args["parameters"]["userId"]), (2, 113, &json!(3)));
        assert!(matches!(
            read(
                json!({"type": "event", "event": {"source": "node", "event": "value added", "nodeId": 2, "args": {}}})
            ),
            Incoming::Event { event: Event::Node(NodeEvent::ValueUpdated { node_id: 2, .. }) }
        ));
        assert!(matches!(
            read(json!({"type": "event", "event": {"source": "node", "event": "wake up", "nodeId": 2}})),
            Incoming::Event { event: Event::Node(NodeEvent::Other) }
        ));
        assert!(matches!(
            read(
                json!({"type": "event", "event": {"source": "controller", "event": "node removed", "node": {"nodeId": 4}}})
            ),
            Incoming::Event {
                event: Event::Controller(ControllerEvent::NodeRemoved { node: RemovedNode { node_id: 4 } })
            }
        ));
        assert!(matches!(
            read(json!({"type": "event", "event": {"source": "driver", "event": "logging"}})),
            Incoming::Event { event: Event::Other }
        ));
    }

    #[test]
    fn driver_errors_are_told_apart_by_name() {
        let failed = |error_code: &str, zwave: Option<u32>| Answer {
            message_id: "1".into(),
            success: false,
            result: Value::Null,
            error_code: Some(error_code.into()),
            zwave_error_code: zwave,
            message: Some("words".into()),
        };
        assert_eq!(failed("zwave_error", Some(204)).failure(), DeviceError::Offline, "ZW0204: not acknowledged");
        assert_eq!(failed("zwave_error", Some(215)).failure(), DeviceError::Offline, "expired");
        assert_eq!(failed("zwave_error", Some(103)).failure(), DeviceError::Disconnected, "driver not ready");
        assert_eq!(failed("node_not_found", None).failure(), DeviceError::NoSuchDevice);
        assert_eq!(failed("zwave_error", Some(322)).failure(), DeviceError::Rejected("zwave_error words".into()));
        assert!(matches!(failed("zwave_error", Some(1100)).failure(), DeviceError::Rejected(_)));
        let answer: Answer = serde_json::from_value(json!({"type": "result", "messageId": "9", "success": false,
            "errorCode": "zwave_error", "zwaveErrorCode": 204, "zwaveErrorMessage": "no ack"}))
        .expect("an answer");
        assert_eq!(answer.failure(), DeviceError::Offline);
    }
}
