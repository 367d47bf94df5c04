//! Locks reached through a Z-Wave JS server (`zwave-js-server`, the WebSocket
//! API that Home Assistant's add-on and Z-Wave JS UI expose), so keyward
//! shares the Z-Wave network with Home Assistant.
//!
//! One connection task keeps the socket: it says hello (`set_api_schema`,
//! `start_listening`), reads the nodes, turns the server's events into
//! [`DeviceEvent`]s and answers requests by their message id. When the socket
//! drops it reconnects with a capped backoff and says so
//! (`DeviceEvent::Network`), because the locks may have changed unseen.
//!
//! What "success" means here: `node.set_value` answering status 254 means
//! *sent*, not stored. So every write and clear is followed by a read from
//! the lock itself (`node.poll_value`, a User Code Get) and answers with
//! that reading. Codes travel only inside the one `set_value` that writes
//! them; nothing here logs a message body.

mod connection;
mod messages;
mod wire;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use keyward_app::devices::{
    DeviceError, DeviceEvent, DeviceInfo, DeviceRef, KeypadLimit, LockNetwork, Protocol, SlotReading,
};
use keyward_store::BoxFuture;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, oneshot};
use zeroize::Zeroizing;

use messages::{DOOR_LOCK, Node, USER_CODE};
use wire::{Command, Envelope, ValueId};

/// The API schema keyward speaks (zwave-js-server 3.x offers up to 50).
pub const SCHEMA_VERSION: u64 = 50;
/// Longest wait for one answer; the driver's own timeouts are shorter (an
/// offline lock answers ZW0204 after about 3 s; slow locks take up to 10 s).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(45);

/// A Z-Wave JS server, connected and kept connected.
#[derive(Clone)]
pub struct ZwaveJs {
    shared: Arc<Shared>,
}

struct Shared {
    url: String,
    connected: AtomicBool,
    nodes: Mutex<BTreeMap<u32, Node>>,
    /// Slots whose new code a lock refused as a duplicate, by node, since the
    /// last write to them.
    refused: Mutex<BTreeMap<(u32, u16), ()>>,
    pending: Mutex<BTreeMap<u64, oneshot::Sender<Answer>>>,
    outgoing: Mutex<Option<mpsc::UnboundedSender<String>>>,
    next_id: AtomicU64,
    events: broadcast::Sender<DeviceEvent>,
}

/// A server's answer to one command.
#[derive(Debug)]
enum Answer {
    Ok(Value),
    Failed(DeviceError),
    Disconnected,
}

impl ZwaveJs {
    /// Starts connecting to `url` (`ws://host:port`) in the background and
    /// keeps the connection up for as long as the runtime runs.
    pub fn start(url: &str) -> Self {
        let (events, _) = broadcast::channel(1024);
        let shared = Arc::new(Shared {
            url: url.to_owned(),
            connected: AtomicBool::new(false),
            nodes: Mutex::new(BTreeMap::new()),
            refused: Mutex::new(BTreeMap::new()),
            pending: Mutex::new(BTreeMap::new()),
            outgoing: Mutex::new(None),
            next_id: AtomicU64::new(1),
            events,
        });
        tokio::spawn(connection::run(shared.clone()));
        Self { shared }
    }

    pub fn url(&self) -> &str {
        &self.shared.url
    }
}

/// A poisoned lock here only means a panic elsewhere mid-update of plain
/// data; the data is still usable.
fn guard<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn emit(&self, event: DeviceEvent) {
        // No receiver yet is fine: nobody is listening.
        let _ = self.events.send(event);
    }

    async fn call(&self, command: Command) -> Result<Value, DeviceError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let text = serde_json::to_string(&Envelope { message_id: id.to_string(), command: &command })
            .map_err(|e| DeviceError::Rejected(e.to_string()))?;
        drop(command);
        let (reply, answer) = oneshot::channel();
        guard(&self.pending).insert(id, reply);
        let sent = guard(&self.outgoing).as_ref().is_some_and(|out| out.send(text).is_ok());
        if !sent {
            guard(&self.pending).remove(&id);
            return Err(DeviceError::Disconnected);
        }
        let answer = tokio::time::timeout(ANSWER_TIMEOUT, answer).await;
        guard(&self.pending).remove(&id);
        match answer {
            Ok(Ok(Answer::Ok(result))) => Ok(result),
            Ok(Ok(Answer::Failed(error))) => Err(error),
            Ok(Ok(Answer::Disconnected)) | Ok(Err(_)) => Err(DeviceError::Disconnected),
            Err(_) => Err(DeviceError::Offline),
        }
    }

    fn known_lock(&self, node_id: u32) -> Result<(), DeviceError> {
        if !self.connected.load(Ordering::Acquire) {
            return Err(DeviceError::Disconnected);
        }
        if guard(&self.nodes).contains_key(&node_id) { Ok(()) } else { Err(DeviceError::NoSuchDevice) }
    }

    async fn set_value(&self, node_id: u32, value_id: ValueId, value: Value) -> Result<(), DeviceError> {
        let result = self.call(Command::SetValue { node_id, value_id, value }).await?;
        // SetValueStatus: 1 working, 254 sent (no Supervision), 255 done.
        match result.pointer("/result/status").and_then(Value::as_u64) {
            Some(1 | 254 | 255) | None => Ok(()),
            Some(status) => Err(DeviceError::Rejected(format!("set_value status {status}"))),
        }
    }

    async fn poll(&self, node_id: u32, value_id: ValueId) -> Result<Option<Value>, DeviceError> {
        let result = self.call(Command::PollValue { node_id, value_id }).await?;
        // A lock that never answers the Get: an answer without a value.
        Ok(result.get("value").cloned().filter(|v| !v.is_null()))
    }

    /// Reads a slot from the lock: its status, then (when occupied) its code.
    async fn read(&self, node_id: u32, slot: u16) -> Result<SlotReading, DeviceError> {
        let Some(status) = self.poll(node_id, ValueId::of(USER_CODE, "userIdStatus", Some(slot))).await? else {
            return Ok(SlotReading::Unknown);
        };
        if status.as_u64() == Some(0) {
            return Ok(SlotReading::Empty);
        }
        let code = self.poll(node_id, ValueId::of(USER_CODE, "userCode", Some(slot))).await?;
        Ok(match code.as_ref().and_then(Value::as_str) {
            None => SlotReading::Unknown,
            Some("") => SlotReading::Empty,
            // Masked ("****") or the all-zero answer some locks give.
            Some(text) if text.bytes().all(|b| b == b'*' || b == b'0') => SlotReading::Occupied,
            Some(text) => SlotReading::Code(Zeroizing::new(text.to_owned())),
        })
    }

    /// Sets the lock's own wrong-code limit through its two Configuration
    /// CC parameters (found by their labels, `messages::keypad_parameters`),
    /// each the nearest value the lock takes, then reads both back from the
    /// lock: its answer is what it holds.
    async fn keypad_limit(&self, node_id: u32, wanted: KeypadLimit) -> Result<KeypadLimit, DeviceError> {
        self.known_lock(node_id)?;
        let parameters = guard(&self.nodes).get(&node_id).and_then(|n| n.keypad_limit);
        let Some(parameters) = parameters else {
            return Err(DeviceError::Unsupported);
        };
        let settings = [(parameters.attempts, wanted.attempts), (parameters.seconds, wanted.seconds)];
        for (parameter, value) in settings {
            self.set_value(node_id, ValueId::parameter(parameter.number), json!(parameter.nearest(value))).await?;
        }
        let mut held = [0u8; 2];
        for (i, (parameter, _)) in settings.iter().enumerate() {
            let read = self.poll(node_id, ValueId::parameter(parameter.number)).await?;
            // A lock that does not answer its own setting's Get does not
            // take it from keyward.
            let value = read.as_ref().and_then(Value::as_u64).ok_or(DeviceError::Unsupported)?;
            held[i] = u8::try_from(value).unwrap_or(u8::MAX);
        }
        Ok(KeypadLimit { attempts: held[0], seconds: held[1] })
    }

    fn take_refusal(&self, node_id: u32, slot: u16) -> bool {
        guard(&self.refused).remove(&(node_id, slot)).is_some()
    }
}

/// The Z-Wave node a device is; a device of another network is not here.
fn node_of(device: &DeviceRef) -> Result<u32, DeviceError> {
    match device {
        DeviceRef::ZwaveJs { node_id } => Ok(*node_id),
        _ => Err(DeviceError::NoSuchDevice),
    }
}

impl LockNetwork for ZwaveJs {
    fn protocol(&self) -> Protocol {
        Protocol::ZwaveJs
    }

    fn connected(&self) -> bool {
        self.shared.connected.load(Ordering::Acquire)
    }

    fn devices(&self) -> Vec<DeviceInfo> {
        guard(&self.shared.nodes)
            .values()
            .map(|node| DeviceInfo {
                device: messages::device(node.node_id),
                name: None,
                label: node.label.clone(),
                manufacturer: node.manufacturer.clone(),
                model: node.model.clone(),
                slots: node.slots,
                online: node.online && self.connected(),
                state: node.state,
            })
            .collect()
    }

    fn subscribe(&self) -> broadcast::Receiver<DeviceEvent> {
        self.shared.events.subscribe()
    }

    fn write_code<'a>(
        &'a self,
        device: &'a DeviceRef,
        slot: u16,
        code: &'a str,
    ) -> BoxFuture<'a, Result<SlotReading, DeviceError>> {
        Box::pin(async move {
            let node_id = node_of(device)?;
            let shared = &self.shared;
            shared.known_lock(node_id)?;
            shared.take_refusal(node_id, slot);
            // The one message that carries a code: never logged.
            shared
                .set_value(node_id, ValueId::of(USER_CODE, "userCode", Some(slot)), Value::String(code.to_owned()))
                .await?;
            let reading = shared.read(node_id, slot).await?;
            if shared.take_refusal(node_id, slot) {
                return Err(DeviceError::Duplicate { other_slot: None });
            }
            Ok(reading)
        })
    }

    fn clear_code<'a>(&'a self, device: &'a DeviceRef, slot: u16) -> BoxFuture<'a, Result<SlotReading, DeviceError>> {
        Box::pin(async move {
            let node_id = node_of(device)?;
            let shared = &self.shared;
            shared.known_lock(node_id)?;
            shared.set_value(node_id, ValueId::of(USER_CODE, "userIdStatus", Some(slot)), json!(0)).await?;
            shared.read(node_id, slot).await
        })
    }

    fn read_slot<'a>(&'a self, device: &'a DeviceRef, slot: u16) -> BoxFuture<'a, Result<SlotReading, DeviceError>> {
        Box::pin(async move {
            let node_id = node_of(device)?;
            self.shared.known_lock(node_id)?;
            self.shared.read(node_id, slot).await
        })
    }

    fn operate<'a>(&'a self, device: &'a DeviceRef, lock: bool) -> BoxFuture<'a, Result<(), DeviceError>> {
        Box::pin(async move {
            let node_id = node_of(device)?;
            self.shared.known_lock(node_id)?;
            let mode = if lock { 255 } else { 0 };
            self.shared.set_value(node_id, ValueId::of(DOOR_LOCK, "targetMode", None), json!(mode)).await
        })
    }

    fn set_keypad_limit<'a>(
        &'a self,
        device: &'a DeviceRef,
        limit: KeypadLimit,
    ) -> BoxFuture<'a, Result<KeypadLimit, DeviceError>> {
        Box::pin(async move { self.shared.keypad_limit(node_of(device)?, limit).await })
    }
}
