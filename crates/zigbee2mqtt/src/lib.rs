//! Zigbee keypad locks reached through Zigbee2MQTT over keyward's MQTT
//! connection.
//!
//! What "success" means here: Zigbee2MQTT publishes nothing when a PIN is
//! set, and it does not pass on the lock's refusal (duplicate, memory
//! full). So every write and clear is followed by a `/get` of the slot, and
//! answers with what the slot then reports: the code (when the device
//! exposes codes), or — when it hides them — "occupied" only together with
//! a `last_successful_pincode_save` newer than keyward's write. A set the
//! lock did not take reads back `available`: when the code can be seen in
//! another slot that is a duplicate; otherwise the engine retries a bounded
//! number of times and reports `no_confirmation`.
//!
//! Topics (base `zigbee2mqtt` by default): the retained `<base>/bridge/devices`
//! offers the locks (devices exposing `pin_code`); each lock's state
//! `<base>/<friendly_name>` and `<base>/<friendly_name>/availability` are
//! subscribed to; commands go to `/set` and `/get` with QoS 1, never
//! retained. The one payload that carries a code is the `pin_code` set.
//!
//! A lock is known by its IEEE address; its friendly name is only its topic
//! now. When Zigbee2MQTT renames a device (or gives a name to another
//! device), what keyward had read under that name is dropped and both
//! devices are read back. A retained state message is state, never an
//! event: a keypad action in it was told before, when it happened.

mod messages;
mod sensors;

pub use sensors::Zigbee2MqttSensors;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use keyward_app::devices::{
    DeviceError, DeviceEvent, DeviceInfo, DeviceRef, KeypadLimit, LockNetwork, LockState, Protocol, SlotReading,
};
use keyward_core::{FriendlyName, IeeeAddress};
use keyward_mqtt::{Message, Mqtt};
use keyward_store::BoxFuture;
use serde_json::Value;
use tokio::sync::broadcast;
use zeroize::Zeroizing;

use messages::{Offered, SlotState, commands};

/// The default wait for a lock's answer to a `/get` (battery locks wake
/// only every few seconds).
pub const DEFAULT_ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Zigbee2Mqtt {
    shared: Arc<Shared>,
}

struct Shared {
    mqtt: Mqtt,
    base: String,
    answer_timeout: Duration,
    bridge_seen: AtomicBool,
    /// The locks Zigbee2MQTT offers, by address.
    locks: Mutex<BTreeMap<IeeeAddress, LockEntry>>,
    subscribed: Mutex<BTreeSet<FriendlyName>>,
    events: broadcast::Sender<DeviceEvent>,
    /// A lock's state message arrived: the lock and the slots it reported.
    reports: broadcast::Sender<(IeeeAddress, Vec<u16>)>,
}

struct LockEntry {
    /// As `bridge/devices` last described it (its name is its topic now).
    offered: Offered,
    online: bool,
    state: LockState,
    users: BTreeMap<u16, SlotState>,
    last_save: Option<i64>,
    /// The wrong-code limit the lock last reported (to keyward's read).
    keypad_limit: Option<KeypadLimit>,
}

fn guard<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Zigbee2Mqtt {
    /// Starts following Zigbee2MQTT under `base` (its `base_topic`).
    pub fn start(mqtt: Mqtt, base: &str, answer_timeout: Duration) -> Self {
        let shared = Arc::new(Shared {
            mqtt,
            base: base.trim_end_matches('/').to_owned(),
            answer_timeout,
            bridge_seen: AtomicBool::new(false),
            locks: Mutex::new(BTreeMap::new()),
            subscribed: Mutex::new(BTreeSet::new()),
            events: broadcast::channel(256).0,
            reports: broadcast::channel(256).0,
        });
        tokio::spawn(follow(shared.clone()));
        Self { shared }
    }
}

/// Reads everything Zigbee2MQTT says of the locks, for as long as keyward runs.
async fn follow(shared: Arc<Shared>) {
    let mut messages = shared.mqtt.messages();
    let mut state = shared.mqtt.state();
    let devices_topic = format!("{}/bridge/devices", shared.base);
    if shared.mqtt.subscribe(&devices_topic).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            changed = state.changed() => {
                if changed.is_err() {
                    return;
                }
                let connected = *state.borrow_and_update();
                let _ = shared.events.send(DeviceEvent::Network { connected });
            }
            received = messages.recv() => match received {
                Ok(message) => shared.take(&devices_topic, message).await,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    // Messages were lost: the locks may have changed unseen.
                    tracing::warn!(missed, "Zigbee2MQTT messages were dropped; reading the locks again");
                    let _ = shared.events.send(DeviceEvent::Network { connected: true });
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

impl Shared {
    async fn take(&self, devices_topic: &str, message: Message) {
        if message.topic == devices_topic {
            let Ok(devices) = serde_json::from_slice::<Value>(&message.payload) else { return };
            self.offer(messages::offered_locks(&devices)).await;
            return;
        }
        let Some(rest) = message.topic.strip_prefix(&self.base).and_then(|r| r.strip_prefix('/')) else { return };
        let (name, availability) = match rest.strip_suffix("/availability") {
            Some(name) => (name, true),
            None => (rest, false),
        };
        let Ok(name) = FriendlyName::parse(name) else { return };
        let Some(address) = self.address_of(&name) else { return };
        let device = DeviceRef::Zigbee2Mqtt { ieee_address: address.clone() };
        if availability {
            let Some(online) = messages::availability(&message.payload) else { return };
            let changed = guard(&self.locks).get_mut(&address).is_some_and(|lock| {
                let changed = lock.online != online;
                lock.online = online;
                changed
            });
            if changed {
                let _ = self.events.send(DeviceEvent::Online { device, online });
            }
            return;
        }
        let Ok(payload) = serde_json::from_slice::<Value>(&message.payload) else { return };
        let report = messages::state_report(&payload);
        let slots: Vec<u16> = report.users.keys().copied().collect();
        let state_changed = {
            let mut locks = guard(&self.locks);
            let Some(lock) = locks.get_mut(&address) else { return };
            lock.users.extend(report.users);
            if report.last_save.is_some() {
                lock.last_save = report.last_save;
            }
            if report.keypad_limit.is_some() {
                lock.keypad_limit = report.keypad_limit;
            }
            report.state.apply(&mut lock.state).then_some(lock.state)
        };
        if let Some(state) = state_changed {
            let _ = self.events.send(DeviceEvent::StateChanged { device: device.clone(), state });
        }
        // A retained message is the last state the broker kept, delivered
        // again on every subscription: its action happened before and was
        // told then (replaying it spent a guest's uses at each restart).
        if !message.retained {
            if report.state.jammed == Some(true) && state_changed.is_some() {
                let _ = self.events.send(DeviceEvent::Jammed { device: device.clone() });
            }
            if let Some(event) = report.action.as_ref().and_then(|action| messages::action_event(&device, action)) {
                let _ = self.events.send(event);
            }
        }
        let _ = self.reports.send((address, slots));
    }

    /// The address of the lock whose topic `name` is now.
    fn address_of(&self, name: &FriendlyName) -> Option<IeeeAddress> {
        guard(&self.locks).iter().find(|(_, lock)| lock.offered.name == *name).map(|(address, _)| address.clone())
    }

    async fn offer(&self, offered: Vec<Offered>) {
        let (fresh, renamed): (Vec<FriendlyName>, Vec<IeeeAddress>) = {
            let mut locks = guard(&self.locks);
            locks.retain(|address, _| offered.iter().any(|o| o.address == *address));
            let mut renamed = Vec::new();
            for lock in &offered {
                match locks.get_mut(&lock.address) {
                    Some(entry) => {
                        if entry.offered.name != lock.name {
                            // Renamed: what was read under either name may be another device's.
                            entry.users.clear();
                            entry.last_save = None;
                            renamed.push(lock.address.clone());
                        }
                        entry.offered = lock.clone();
                    }
                    None => {
                        locks.insert(
                            lock.address.clone(),
                            LockEntry {
                                offered: lock.clone(),
                                // Without availability reports (turned off in
                                // Zigbee2MQTT) a lock counts as reachable.
                                online: true,
                                state: LockState::default(),
                                users: BTreeMap::new(),
                                last_save: None,
                                keypad_limit: None,
                            },
                        );
                    }
                }
            }
            let mut subscribed = guard(&self.subscribed);
            let fresh = offered.iter().map(|o| o.name.clone()).filter(|name| subscribed.insert(name.clone())).collect();
            (fresh, renamed)
        };
        for name in fresh {
            let topic = format!("{}/{}", self.base, name.as_str());
            let subscribed = self.mqtt.subscribe(&topic).await.is_ok()
                && self.mqtt.subscribe(&format!("{topic}/availability")).await.is_ok();
            if !subscribed {
                guard(&self.subscribed).remove(&name);
            }
            // Ask for the state at once (lock state, battery).
            let _ = self.mqtt.publish(&format!("{topic}/get"), commands::get_state().to_string().into_bytes()).await;
        }
        for address in renamed {
            tracing::info!(device = address.as_str(), "a Zigbee lock was renamed: reading it back");
            let _ = self
                .events
                .send(DeviceEvent::Reinterviewed { device: DeviceRef::Zigbee2Mqtt { ieee_address: address } });
        }
        // The first device list makes the network usable: every lock that
        // waited for it is looked at now (after a restart, keyward's
        // workers found no network yet and sleep until told).
        if !self.bridge_seen.swap(true, Ordering::AcqRel) {
            let _ = self.events.send(DeviceEvent::Network { connected: true });
        }
    }

    /// The lock a device names, and its topic now.
    fn resolve(&self, device: &DeviceRef) -> Result<(IeeeAddress, FriendlyName), DeviceError> {
        let locks = guard(&self.locks);
        let found = match device {
            DeviceRef::Zigbee2Mqtt { ieee_address } => locks.get_key_value(ieee_address),
            DeviceRef::Zigbee2MqttNamed { friendly_name } => {
                locks.iter().find(|(_, lock)| lock.offered.name == *friendly_name)
            }
            DeviceRef::ZwaveJs { .. } => None,
        };
        found.map(|(address, lock)| (address.clone(), lock.offered.name.clone())).ok_or(DeviceError::NoSuchDevice)
    }

    /// A lock keyward may command now: its address and topic.
    fn ready(&self, device: &DeviceRef) -> Result<(IeeeAddress, FriendlyName), DeviceError> {
        if !self.mqtt.connected() {
            return Err(DeviceError::Disconnected);
        }
        let (address, name) = self.resolve(device)?;
        match guard(&self.locks).get(&address) {
            Some(lock) if !lock.online => Err(DeviceError::Offline),
            _ => Ok((address, name)),
        }
    }

    async fn send(&self, name: &FriendlyName, command: &str, body: Value) -> Result<(), DeviceError> {
        let topic = format!("{}/{}/{command}", self.base, name.as_str());
        // The body is never logged: a `pin_code` set carries the code.
        self.mqtt.publish(&topic, body.to_string().into_bytes()).await.map_err(|_| DeviceError::Disconnected)
    }

    fn slot(&self, address: &IeeeAddress, slot: u16) -> Option<SlotState> {
        guard(&self.locks).get(address).and_then(|lock| lock.users.get(&slot).cloned())
    }

    /// Asks the lock for a slot and waits until a report satisfies `done`
    /// (or the answer time is up). Answers whether any report of the slot
    /// came. A question that got no answer at all is asked once more: Zigbee
    /// loses messages, and one lost read must not fail a write the lock took.
    async fn ask(
        &self,
        address: &IeeeAddress,
        name: &FriendlyName,
        slot: u16,
        done: impl Fn(&SlotState) -> bool,
    ) -> Result<bool, DeviceError> {
        const QUESTIONS: u32 = 2;
        let mut reports = self.reports.subscribe();
        for _ in 0..QUESTIONS {
            self.send(name, "get", commands::get_pin(slot)).await?;
            let deadline = tokio::time::Instant::now() + self.answer_timeout;
            let mut heard = false;
            loop {
                match tokio::time::timeout_at(deadline, reports.recv()).await {
                    Ok(Ok((reported, slots))) if reported == *address && slots.contains(&slot) => {
                        heard = true;
                        if self.slot(address, slot).is_some_and(|s| done(&s)) {
                            return Ok(true);
                        }
                    }
                    Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
                    Ok(Err(broadcast::error::RecvError::Closed)) => return Err(DeviceError::Disconnected),
                    Err(_) if heard => return Ok(true),
                    Err(_) => break,
                }
            }
        }
        Ok(false)
    }

    fn reading(&self, address: &IeeeAddress, slot: u16) -> SlotReading {
        match self.slot(address, slot) {
            None => SlotReading::Unknown,
            Some(s) if !s.occupied() => SlotReading::Empty,
            Some(SlotState { pin: Some(pin), .. }) => SlotReading::Code(pin),
            Some(_) => SlotReading::Occupied,
        }
    }

    /// The slot, other than `slot`, that holds `code` (only visible when codes are exposed).
    fn held_elsewhere(&self, address: &IeeeAddress, slot: u16, code: &str) -> Option<u16> {
        guard(&self.locks).get(address).and_then(|lock| {
            lock.users
                .iter()
                .find(|(s, state)| {
                    **s != slot && state.occupied() && state.pin.as_deref().map(String::as_str) == Some(code)
                })
                .map(|(s, _)| *s)
        })
    }

    fn last_save(&self, address: &IeeeAddress) -> Option<i64> {
        guard(&self.locks).get(address).and_then(|lock| lock.last_save)
    }
}

impl Zigbee2Mqtt {
    /// Writes the Door Lock cluster's `wrongCodeEntryLimit` and
    /// `userCodeTemporaryDisableTime` (Zigbee2MQTT's generic `write`), then
    /// reads them back (`read` with a `state_property`, published with the
    /// lock's state): the lock's answer is what counts. A lock that answers
    /// neither time does not take the setting.
    async fn keypad_limit(&self, device: &DeviceRef, limit: KeypadLimit) -> Result<KeypadLimit, DeviceError> {
        const QUESTIONS: u32 = 2;
        let shared = &self.shared;
        let (address, name) = shared.ready(device)?;
        if let Some(lock) = guard(&shared.locks).get_mut(&address) {
            lock.keypad_limit = None;
        }
        let mut reports = shared.reports.subscribe();
        shared.send(&name, "set", commands::write_keypad_limit(limit)).await?;
        for _ in 0..QUESTIONS {
            shared.send(&name, "set", commands::read_keypad_limit()).await?;
            let deadline = tokio::time::Instant::now() + shared.answer_timeout;
            loop {
                match tokio::time::timeout_at(deadline, reports.recv()).await {
                    Ok(Ok((reported, _))) if reported == address => {
                        if let Some(held) = guard(&shared.locks).get(&address).and_then(|l| l.keypad_limit) {
                            return Ok(held);
                        }
                    }
                    Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
                    Ok(Err(broadcast::error::RecvError::Closed)) => return Err(DeviceError::Disconnected),
                    Err(_) => break,
                }
            }
        }
        Err(DeviceError::Unsupported)
    }
}

impl LockNetwork for Zigbee2Mqtt {
    fn protocol(&self) -> Protocol {
        Protocol::Zigbee2Mqtt
    }

    fn connected(&self) -> bool {
        self.shared.mqtt.connected() && self.shared.bridge_seen.load(Ordering::Acquire)
    }

    fn devices(&self) -> Vec<DeviceInfo> {
        guard(&self.shared.locks)
            .iter()
            .map(|(address, lock)| DeviceInfo {
                device: DeviceRef::Zigbee2Mqtt { ieee_address: address.clone() },
                name: Some(lock.offered.name.as_str().to_owned()),
                label: lock.offered.label.clone(),
                manufacturer: lock.offered.manufacturer.clone(),
                model: lock.offered.model.clone(),
                slots: lock.offered.slots,
                online: lock.online,
                state: lock.state,
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
            let shared = &self.shared;
            let (address, name) = shared.ready(device)?;
            let before = shared.last_save(&address);
            shared.send(&name, "set", commands::set_pin(slot, code)).await?;
            let code = Zeroizing::new(code.to_owned());
            let saved_since =
                |before: Option<i64>| shared.last_save(&address).is_some_and(|at| before.is_none_or(|b| at > b));
            let heard = shared
                .ask(&address, &name, slot, |s| {
                    s.occupied()
                        && match &s.pin {
                            Some(pin) => pin.as_str() == code.as_str(),
                            None => saved_since(before),
                        }
                })
                .await?;
            if !heard {
                return Err(DeviceError::Offline);
            }
            match shared.reading(&address, slot) {
                SlotReading::Code(pin) if pin.as_str() == code.as_str() => Ok(SlotReading::Code(pin)),
                SlotReading::Occupied if saved_since(before) => Ok(SlotReading::Occupied),
                // Occupied without a save after keyward's write: not confirmed.
                SlotReading::Occupied => Ok(SlotReading::Unknown),
                SlotReading::Empty => match shared.held_elsewhere(&address, slot, &code) {
                    Some(other) => Err(DeviceError::Duplicate { other_slot: Some(other) }),
                    None => Ok(SlotReading::Empty),
                },
                other => Ok(other),
            }
        })
    }

    fn clear_code<'a>(&'a self, device: &'a DeviceRef, slot: u16) -> BoxFuture<'a, Result<SlotReading, DeviceError>> {
        Box::pin(async move {
            let shared = &self.shared;
            let (address, name) = shared.ready(device)?;
            shared.send(&name, "set", commands::clear_pin(slot)).await?;
            if !shared.ask(&address, &name, slot, |s| !s.occupied()).await? {
                return Err(DeviceError::Offline);
            }
            Ok(shared.reading(&address, slot))
        })
    }

    fn read_slot<'a>(&'a self, device: &'a DeviceRef, slot: u16) -> BoxFuture<'a, Result<SlotReading, DeviceError>> {
        Box::pin(async move {
            let shared = &self.shared;
            let (address, name) = shared.ready(device)?;
            if !shared.ask(&address, &name, slot, |_| true).await? {
                return Ok(SlotReading::Unknown);
            }
            Ok(shared.reading(&address, slot))
        })
    }

    fn set_keypad_limit<'a>(
        &'a self,
        device: &'a DeviceRef,
        limit: KeypadLimit,
    ) -> BoxFuture<'a, Result<KeypadLimit, DeviceError>> {
        Box::pin(self.keypad_limit(device, limit))
    }

    fn operate<'a>(&'a self, device: &'a DeviceRef, lock: bool) -> BoxFuture<'a, Result<(), DeviceError>> {
        Box::pin(async move {
            let shared = &self.shared;
            let (address, name) = shared.ready(device)?;
            let mut reports = shared.reports.subscribe();
            shared.send(&name, "set", commands::operate(lock)).await?;
            let deadline = tokio::time::Instant::now() + shared.answer_timeout;
            loop {
                match tokio::time::timeout_at(deadline, reports.recv()).await {
                    Ok(Ok((reported, _))) if reported == address => {
                        let locked = guard(&shared.locks).get(&address).and_then(|l| l.state.locked);
                        if locked == Some(lock) {
                            return Ok(());
                        }
                    }
                    Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
                    Ok(Err(broadcast::error::RecvError::Closed)) => return Err(DeviceError::Disconnected),
                    Err(_) => return Err(DeviceError::Offline),
                }
            }
        })
    }
}
