//! Zigbee2MQTT with keypad locks, for the tests, written from Zigbee2MQTT's
//! documentation of its payloads (zigbee2mqtt.io device pages, the
//! zigbee-herdsman-converters lock converters) and the ZCL Door Lock
//! cluster, on its own MQTT client: it shares no code with keyward's adapter
//! or with `keyward sim`.
//!
//! Like Zigbee2MQTT it publishes the retained `bridge/devices` list and each
//! lock's availability (again on every reconnection), takes `pin_code` sets
//! and gets, publishes the device's whole cached state (with the `users`
//! map) after each answer, never passes the lock's refusal of a duplicate on
//! to MQTT, and shows codes only with `expose_pin`.
//!
//! Each lock is a piece of hardware with an IEEE address; its friendly name
//! (its topic) can be renamed, as in Zigbee2MQTT's frontend. Tests name the
//! hardware by the name it was started with.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};

/// One lock of the simulated network.
#[derive(Clone, Copy)]
pub struct LockSpec {
    pub name: &'static str,
    pub slots: u16,
    /// Zigbee2MQTT's `expose_pin`: the `users` map carries the codes.
    pub expose_pin: bool,
    /// Its Door Lock cluster has the wrong-code limit attributes
    /// (`wrongCodeEntryLimit`, `userCodeTemporaryDisableTime`).
    pub wrong_code_limit: bool,
}

impl LockSpec {
    pub fn new(name: &'static str, slots: u16) -> Self {
        Self { name, slots, expose_pin: true, wrong_code_limit: true }
    }

    /// A lock whose cluster lacks the wrong-code limit: Zigbee2MQTT's read
    /// and write of it fail, and it publishes nothing.
    pub fn without_wrong_code_limit(self) -> Self {
        Self { wrong_code_limit: false, ..self }
    }

    pub fn hiding_codes(self) -> Self {
        Self { expose_pin: false, ..self }
    }
}

#[derive(Default)]
struct Memory {
    /// Its friendly name now: its MQTT topic.
    topic: String,
    /// Read-backs of a write still to come that get no answer (lost on the
    /// way): `/get`s of a slot set since it was last read.
    lose_answers: u32,
    /// Slots set since they were last read.
    set_since_read: std::collections::BTreeSet<u16>,
    /// How long the lock takes to answer a read (a battery lock's radio).
    answer_delay: Duration,
    /// Slot → code held by the lock.
    codes: BTreeMap<u16, String>,
    /// Slots Zigbee2MQTT has read, so in its cached `users` map.
    known: BTreeMap<u16, bool>,
    locked: bool,
    online: bool,
    last_save: Option<u64>,
    last_clear: Option<u64>,
    /// `pin_code` sets received that carried a code.
    code_sets: u32,
    /// Door Lock cluster attributes written (the lock's own wrong-code limit).
    attributes: BTreeMap<String, u64>,
}

struct SimulatedLock {
    spec: LockSpec,
    memory: Mutex<Memory>,
}

pub struct ZigbeeNet {
    pub base: String,
    client: AsyncClient,
    locks: BTreeMap<String, SimulatedLock>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The IEEE address of the `n`-th lock the network started with.
pub fn ieee_of(n: usize) -> String {
    format!("0x000d6f00000000{n:02x}")
}

fn device_entry(spec: &LockSpec, topic: &str, n: usize) -> Value {
    json!({"friendly_name": topic, "type": "EndDevice", "ieee_address": ieee_of(n),
     "definition": {"vendor": "Yale", "model": "YRD226HA2619", "description": "Assure lock",
        "exposes": [
            {"type": "lock", "features": [{"type": "binary", "name": "state", "property": "state"},
                                           {"type": "enum", "name": "lock_state", "property": "lock_state"}]},
            {"type": "numeric", "name": "battery", "property": "battery"},
            {"type": "composite", "name": "pin_code", "property": "pin_code", "features": [
                {"type": "numeric", "name": "user", "property": "user", "value_min": 0, "value_max": spec.slots - 1},
                {"type": "enum", "name": "user_type", "property": "user_type"},
                {"type": "binary", "name": "user_enabled", "property": "user_enabled"},
                {"type": "text", "name": "pin_code", "property": "pin_code"}]}]}})
}

impl ZigbeeNet {
    /// A network under a base topic of its own (tests run side by side on
    /// the machine's Mosquitto).
    pub async fn start(locks: &[LockSpec]) -> Arc<Self> {
        Self::start_on(1883, locks).await
    }

    /// On the broker at 127.0.0.1:`port`. Like Zigbee2MQTT, it subscribes
    /// and publishes its device list and availability again whenever it
    /// (re)connects, so a restarted broker learns them again.
    pub async fn start_on(port: u16, locks: &[LockSpec]) -> Arc<Self> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();
        let base = format!("kwtest-{}-{nanos}", std::process::id());
        let mut options = MqttOptions::new(format!("{base}-z2m"), "127.0.0.1", port);
        options.set_keep_alive(Duration::from_secs(10));
        options.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut events) = AsyncClient::new(options, 64);
        let net = Arc::new(Self {
            base,
            client,
            locks: locks
                .iter()
                .map(|spec| {
                    let memory =
                        Memory { online: true, locked: true, topic: spec.name.to_owned(), ..Memory::default() };
                    (spec.name.to_owned(), SimulatedLock { spec: *spec, memory: Mutex::new(memory) })
                })
                .collect(),
        });
        let (connected, mut connections) = tokio::sync::mpsc::unbounded_channel::<()>();
        let announcer = net.clone();
        tokio::spawn(async move {
            while connections.recv().await.is_some() {
                announcer.announce().await;
            }
        });
        let me = net.clone();
        tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = connected.send(());
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let body = serde_json::from_slice::<Value>(&p.payload).unwrap_or(Value::Null);
                        me.command(&p.topic, &body).await;
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        });
        net
    }

    /// Subscribes to each lock's commands and publishes its availability and
    /// the device list, under the names the locks have now.
    async fn announce(&self) {
        for (name, lock) in &self.locks {
            let topic = lock.memory.lock().expect("memory").topic.clone();
            for command in ["set", "get"] {
                let _ = self.client.subscribe(format!("{}/{topic}/{command}", self.base), QoS::AtLeastOnce).await;
            }
            let online = lock.memory.lock().expect("memory").online;
            self.publish_availability(name, online).await;
        }
        let mut devices = vec![json!({"friendly_name": "Coordinator", "type": "Coordinator"})];
        devices.extend(self.locks.values().enumerate().map(|(n, lock)| {
            let topic = lock.memory.lock().expect("memory").topic.clone();
            device_entry(&lock.spec, &topic, n)
        }));
        let topic = format!("{}/bridge/devices", self.base);
        let _ = self.client.publish(topic, QoS::AtLeastOnce, true, Value::Array(devices).to_string()).await;
    }

    /// Swaps the friendly names of two locks, as an owner renaming devices
    /// in Zigbee2MQTT's frontend would; Zigbee2MQTT then lists them again.
    pub async fn swap_names(&self, a: &str, b: &str) {
        let (topic_a, topic_b) = (self.topic_of(a), self.topic_of(b));
        self.memory(a).topic = topic_b;
        self.memory(b).topic = topic_a;
        self.announce().await;
    }

    fn topic_of(&self, name: &str) -> String {
        self.memory(name).topic.clone()
    }

    /// The lock answers each read after `delay`, as a slow battery lock does.
    pub fn answer_after(&self, name: &str, delay: Duration) {
        self.memory(name).answer_delay = delay;
    }

    /// The read-backs of the next `n` writes get no answer (the lock keeps
    /// what was written).
    pub fn lose_answers(&self, name: &str, n: u32) {
        self.memory(name).lose_answers = n;
    }

    fn lock(&self, name: &str) -> &SimulatedLock {
        self.locks.get(name).unwrap_or_else(|| panic!("no simulated lock {name}"))
    }

    fn memory(&self, name: &str) -> std::sync::MutexGuard<'_, Memory> {
        self.lock(name).memory.lock().expect("memory")
    }

    const LIMIT_ATTRIBUTES: [&'static str; 2] = ["wrongCodeEntryLimit", "userCodeTemporaryDisableTime"];

    /// The lock's Door Lock cluster attributes as written to it.
    pub fn attributes(&self, name: &str) -> BTreeMap<String, u64> {
        self.memory(name).attributes.clone()
    }

    async fn command(&self, topic: &str, body: &Value) {
        let Some(rest) = topic.strip_prefix(&format!("{}/", self.base)) else { return };
        let (topic, get) = match (rest.strip_suffix("/get"), rest.strip_suffix("/set")) {
            (Some(name), _) => (name, true),
            (None, Some(name)) => (name, false),
            _ => return,
        };
        // The hardware carrying this name now.
        let Some((name, lock)) = self.locks.iter().find(|(_, lock)| lock.memory.lock().expect("memory").topic == topic)
        else {
            return;
        };
        let name = name.as_str();
        if !lock.memory.lock().expect("memory").online {
            return;
        }
        // Zigbee2MQTT's generic `write` and `read` of cluster attributes.
        if let Some(write) = body.get("write").filter(|_| !get) {
            if lock.spec.wrong_code_limit && write.get("cluster") == Some(&json!("closuresDoorLock")) {
                let mut memory = lock.memory.lock().expect("memory");
                for (attribute, value) in write.get("payload").and_then(Value::as_object).into_iter().flatten() {
                    if let (true, Some(value)) = (Self::LIMIT_ATTRIBUTES.contains(&attribute.as_str()), value.as_u64())
                    {
                        memory.attributes.insert(attribute.clone(), value);
                    }
                }
            }
            return;
        }
        if let Some(read) = body.get("read").filter(|_| !get) {
            if !lock.spec.wrong_code_limit || read.get("cluster") != Some(&json!("closuresDoorLock")) {
                return;
            }
            let result: serde_json::Map<String, Value> = {
                let memory = lock.memory.lock().expect("memory");
                let asked = read.get("attributes").and_then(Value::as_array).cloned().unwrap_or_default();
                asked
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|a| Self::LIMIT_ATTRIBUTES.contains(a))
                    .map(|a| {
                        // The lock's factory values until written.
                        let factory = if a == "wrongCodeEntryLimit" { 5 } else { 60 };
                        (a.to_owned(), json!(memory.attributes.get(a).copied().unwrap_or(factory)))
                    })
                    .collect()
            };
            if let Some(property) = read.get("state_property").and_then(Value::as_str) {
                self.publish_state(name, json!({ property: result })).await;
            }
            return;
        }
        if let Some(pin) = body.get("pin_code") {
            let Some(slot) = pin.get("user").and_then(Value::as_u64).map(|u| u as u16) else { return };
            if slot >= lock.spec.slots {
                return;
            }
            if !get {
                let mut memory = lock.memory.lock().expect("memory");
                memory.set_since_read.insert(slot);
                match pin.get("pin_code").and_then(Value::as_str) {
                    Some(code) => {
                        memory.code_sets += 1;
                        // The lock refuses a duplicate; Zigbee2MQTT says nothing of it.
                        if memory.codes.iter().any(|(s, c)| *s != slot && c == code) {
                            return;
                        }
                        memory.codes.insert(slot, code.to_owned());
                        memory.last_save = Some(now_ms());
                    }
                    None => {
                        memory.codes.remove(&slot);
                        memory.last_clear = Some(now_ms());
                    }
                }
                // Set commands publish nothing by themselves.
                return;
            }
            {
                let mut memory = lock.memory.lock().expect("memory");
                if memory.lose_answers > 0 && memory.set_since_read.contains(&slot) {
                    memory.lose_answers -= 1;
                    return;
                }
                memory.set_since_read.remove(&slot);
                memory.known.insert(slot, true);
            }
            let delay = lock.memory.lock().expect("memory").answer_delay;
            tokio::time::sleep(delay).await;
            self.publish_state(name, json!({})).await;
            return;
        }
        if let Some(state) = body.get("state").and_then(Value::as_str) {
            if get {
                self.publish_state(name, json!({})).await;
                return;
            }
            let locked = state == "LOCK";
            lock.memory.lock().expect("memory").locked = locked;
            let action = json!({"action": if locked { "lock" } else { "unlock" }, "action_source_name": "rf"});
            self.publish_state(name, action).await;
        }
    }

    /// The device's whole cached state, as Zigbee2MQTT publishes it, with `extra` (an action).
    async fn publish_state(&self, name: &str, extra: Value) {
        self.publish_state_retained(name, extra, false).await;
    }

    /// As `publish_state`, retained when `retain` (Zigbee2MQTT's device
    /// option `retain: true`): the broker then hands it to every new subscriber.
    async fn publish_state_retained(&self, name: &str, extra: Value, retain: bool) {
        let lock = self.lock(name);
        let body = {
            let memory = lock.memory.lock().expect("memory");
            let mut users = serde_json::Map::new();
            for slot in memory.known.keys() {
                let mut entry = serde_json::Map::new();
                match memory.codes.get(slot) {
                    Some(code) => {
                        entry.insert("status".into(), json!("enabled"));
                        if lock.spec.expose_pin {
                            entry.insert("pin_code".into(), json!(code));
                        }
                    }
                    None => {
                        entry.insert("status".into(), json!("available"));
                    }
                }
                users.insert(slot.to_string(), Value::Object(entry));
            }
            let mut body = json!({
                "users": users,
                "lock_state": if memory.locked { "locked" } else { "unlocked" },
                "state": if memory.locked { "LOCK" } else { "UNLOCK" },
                "battery": 91,
                "linkquality": 120,
            });
            if let Some(at) = memory.last_save {
                body["last_successful_pincode_save"] = json!(at);
            }
            if let Some(at) = memory.last_clear {
                body["last_successful_pincode_clear"] = json!(at);
            }
            if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
                body.extend(extra.clone());
            }
            body
        };
        let topic = format!("{}/{}", self.base, self.topic_of(name));
        self.client.publish(topic, QoS::AtLeastOnce, retain, body.to_string()).await.expect("publish");
    }

    async fn publish_availability(&self, name: &str, online: bool) {
        let state = if online { "online" } else { "offline" };
        let topic = format!("{}/{}/availability", self.base, self.topic_of(name));
        let _ = self.client.publish(topic, QoS::AtLeastOnce, true, json!({"state": state}).to_string()).await;
    }

    /// What the lock's memory holds.
    pub fn codes(&self, name: &str) -> BTreeMap<u16, String> {
        self.memory(name).codes.clone()
    }

    /// How many `pin_code` sets with a code the lock received.
    pub fn code_sets(&self, name: &str) -> u32 {
        self.memory(name).code_sets
    }

    pub async fn wait_for_codes(&self, name: &str, expected: &[(u16, &str)], within: Duration) {
        let want: BTreeMap<u16, String> = expected.iter().map(|(s, c)| (*s, (*c).to_owned())).collect();
        let deadline = std::time::Instant::now() + within;
        while self.codes(name) != want {
            assert!(
                std::time::Instant::now() < deadline,
                "the Zigbee lock {name} holds {:?}, expected {want:?}",
                self.codes(name)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A code typed at the keypad, published by a Zigbee2MQTT whose device
    /// option `retain` is on: the broker keeps the message and hands it to
    /// every subscriber that comes later.
    pub async fn type_code_retained(&self, name: &str, code: &str) -> Option<u16> {
        let slot = self.memory(name).codes.iter().find(|(_, c)| *c == code).map(|(s, _)| *s)?;
        self.memory(name).locked = false;
        let action =
            json!({"action": "unlock", "action_user": slot, "action_source": 0, "action_source_name": "keypad"});
        self.publish_state_retained(name, action, true).await;
        Some(slot)
    }

    /// A code typed at the keypad: an unlock by that user, or a failure.
    pub async fn type_code(&self, name: &str, code: &str) -> Option<u16> {
        let slot = self.memory(name).codes.iter().find(|(_, c)| *c == code).map(|(s, _)| *s);
        let extra = match slot {
            Some(slot) => {
                self.memory(name).locked = false;
                json!({"action": "unlock", "action_user": slot, "action_source": 0, "action_source_name": "keypad"})
            }
            None => json!({"action": "unlock_failure_invalid_pin_or_id", "action_source_name": "keypad"}),
        };
        self.publish_state(name, extra).await;
        slot
    }

    /// Turned by hand from inside.
    pub async fn operate_by_hand(&self, name: &str, unlock: bool) {
        self.memory(name).locked = !unlock;
        let action = if unlock { "manual_unlock" } else { "manual_lock" };
        self.publish_state(name, json!({"action": action, "action_source_name": "manual"})).await;
    }

    /// A code programmed at the lock itself: the lock reports it.
    pub async fn program_at_lock(&self, name: &str, slot: u16, code: &str) {
        self.memory(name).codes.insert(slot, code.to_owned());
        let action = json!({"action": "pin_code_added", "action_user": slot, "action_source_name": "keypad"});
        self.publish_state(name, action).await;
    }

    /// Every code deleted at the lock: the ZCL programming event for all
    /// users carries user id 0xFFFF.
    pub async fn wipe(&self, name: &str) {
        {
            let mut memory = self.memory(name);
            memory.codes.clear();
            memory.last_clear = Some(now_ms());
        }
        let action = json!({"action": "pin_code_deleted", "action_user": 0xFFFF, "action_source_name": "keypad"});
        self.publish_state(name, action).await;
    }

    /// Takes the retained messages back off the broker (the machine's
    /// Mosquitto outlives the test).
    pub async fn remove(&self) {
        let mut topics = vec![format!("{}/bridge/devices", self.base)];
        for name in self.locks.keys() {
            let topic = self.topic_of(name);
            topics.push(format!("{}/{topic}/availability", self.base));
            topics.push(format!("{}/{topic}", self.base));
        }
        for topic in topics {
            self.client.publish(topic, QoS::AtLeastOnce, true, Vec::<u8>::new()).await.expect("publish");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    pub async fn set_online(&self, name: &str, online: bool) {
        self.memory(name).online = online;
        self.publish_availability(name, online).await;
    }
}

/// Every message on the broker, as a subscriber to `#` sees it.
pub struct Spy {
    seen: Arc<Mutex<Vec<(String, String, bool)>>>,
}

impl Spy {
    pub async fn start() -> Self {
        Self::start_on(1883).await
    }

    /// On the broker at 127.0.0.1:`port`.
    pub async fn start_on(port: u16) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();
        let mut options = MqttOptions::new(format!("kwspy-{}-{nanos}", std::process::id()), "127.0.0.1", port);
        options.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut events) = AsyncClient::new(options, 16);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let text = String::from_utf8_lossy(&p.payload).into_owned();
                        log.lock().expect("spy").push((p.topic.clone(), text, p.retain));
                    }
                    // A restarted broker forgot the subscription.
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = client.try_subscribe("#", QoS::AtLeastOnce);
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        Self { seen }
    }

    /// Topic, payload and retain flag of each message under `base`.
    pub fn under(&self, base: &str) -> Vec<(String, String, bool)> {
        let prefix = format!("{base}/");
        self.seen.lock().expect("spy").iter().filter(|(t, _, _)| t.starts_with(&prefix)).cloned().collect()
    }
}
