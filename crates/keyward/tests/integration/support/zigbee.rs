//! A Zigbee2MQTT keypad lock for the tests, written from Zigbee2MQTT's
//! documentation of its payloads (zigbee2mqtt.io device pages, the
//! zigbee-herdsman-converters lock converters), on its own MQTT client: it
//! shares no code with keyward's adapter or with `keyward sim`.
//!
//! Like Zigbee2MQTT it publishes the retained `bridge/devices` entry and the
//! lock's availability, takes `pin_code` sets and gets, publishes the
//! device's whole cached state (with the `users` map) after each answer,
//! never passes the lock's refusal of a duplicate on to MQTT, and shows
//! codes only with `expose_pin`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};

#[derive(Default)]
struct Memory {
    /// Slot → code held by the lock.
    codes: BTreeMap<u16, String>,
    /// Slots Zigbee2MQTT has read, so in its cached `users` map.
    known: BTreeMap<u16, bool>,
    locked: bool,
    online: bool,
    last_save: Option<u64>,
    last_clear: Option<u64>,
}

pub struct ZigbeeLock {
    pub base: String,
    pub name: String,
    slots: u16,
    expose_pin: bool,
    client: AsyncClient,
    memory: Arc<Mutex<Memory>>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl ZigbeeLock {
    /// A lock under a base topic of its own (tests run side by side on the
    /// machine's Mosquitto).
    pub async fn start(name: &str, slots: u16, expose_pin: bool) -> Arc<Self> {
        Self::start_on(1883, name, slots, expose_pin).await
    }

    /// On the broker at 127.0.0.1:`port`. Like Zigbee2MQTT, it subscribes
    /// and publishes its device list and availability again whenever it
    /// (re)connects, so a restarted broker learns them again.
    pub async fn start_on(port: u16, name: &str, slots: u16, expose_pin: bool) -> Arc<Self> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();
        let base = format!("kwtest-{}-{nanos}", std::process::id());
        let mut options = MqttOptions::new(format!("{base}-z2m"), "127.0.0.1", port);
        options.set_keep_alive(Duration::from_secs(10));
        options.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut events) = AsyncClient::new(options, 64);
        let lock = Arc::new(Self {
            base,
            name: name.to_owned(),
            slots,
            expose_pin,
            client,
            memory: Arc::new(Mutex::new(Memory { online: true, locked: true, ..Memory::default() })),
        });
        let devices = json!([
            {"friendly_name": "Coordinator", "type": "Coordinator", "ieee_address": "0x00124b0000000000"},
            {"friendly_name": name, "type": "EndDevice", "ieee_address": "0x000d6f0000000001",
             "definition": {"vendor": "Yale", "model": "YRD226HA2619", "description": "Assure lock",
                "exposes": [
                    {"type": "lock", "features": [{"type": "binary", "name": "state", "property": "state"},
                                                   {"type": "enum", "name": "lock_state", "property": "lock_state"}]},
                    {"type": "numeric", "name": "battery", "property": "battery"},
                    {"type": "composite", "name": "pin_code", "property": "pin_code", "features": [
                        {"type": "numeric", "name": "user", "property": "user", "value_min": 0, "value_max": slots - 1},
                        {"type": "enum", "name": "user_type", "property": "user_type"},
                        {"type": "binary", "name": "user_enabled", "property": "user_enabled"},
                        {"type": "text", "name": "pin_code", "property": "pin_code"}]}]}}
        ]);
        let (connected, mut connections) = tokio::sync::mpsc::unbounded_channel::<()>();
        let announcer = lock.clone();
        tokio::spawn(async move {
            while connections.recv().await.is_some() {
                let me = &announcer;
                let (base, name) = (&me.base, &me.name);
                for command in ["set", "get"] {
                    let _ = me.client.subscribe(format!("{base}/{name}/{command}"), QoS::AtLeastOnce).await;
                }
                let online = if me.memory.lock().expect("memory").online { "online" } else { "offline" };
                let _ = me
                    .client
                    .publish(format!("{base}/bridge/devices"), QoS::AtLeastOnce, true, devices.to_string())
                    .await;
                let availability = json!({"state": online}).to_string();
                let _ = me
                    .client
                    .publish(format!("{base}/{name}/availability"), QoS::AtLeastOnce, true, availability)
                    .await;
            }
        });
        let me = lock.clone();
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
        lock
    }

    async fn command(&self, topic: &str, body: &Value) {
        if !self.memory.lock().expect("memory").online {
            return;
        }
        let get = topic.ends_with("/get");
        if let Some(pin) = body.get("pin_code") {
            let Some(slot) = pin.get("user").and_then(Value::as_u64).map(|u| u as u16) else { return };
            if slot >= self.slots {
                return;
            }
            if !get {
                let mut memory = self.memory.lock().expect("memory");
                match pin.get("pin_code").and_then(Value::as_str) {
                    Some(code) => {
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
            self.memory.lock().expect("memory").known.insert(slot, true);
            self.publish_state(json!({})).await;
            return;
        }
        if let Some(state) = body.get("state").and_then(Value::as_str) {
            if get {
                self.publish_state(json!({})).await;
                return;
            }
            let locked = state == "LOCK";
            self.memory.lock().expect("memory").locked = locked;
            self.publish_state(json!({"action": if locked { "lock" } else { "unlock" }, "action_source_name": "rf"}))
                .await;
        }
    }

    /// The device's whole cached state, as Zigbee2MQTT publishes it, with `extra` (an action).
    async fn publish_state(&self, extra: Value) {
        let body = {
            let memory = self.memory.lock().expect("memory");
            let mut users = serde_json::Map::new();
            for slot in memory.known.keys() {
                let mut entry = serde_json::Map::new();
                match memory.codes.get(slot) {
                    Some(code) => {
                        entry.insert("status".into(), json!("enabled"));
                        if self.expose_pin {
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
        let topic = format!("{}/{}", self.base, self.name);
        self.client.publish(topic, QoS::AtLeastOnce, false, body.to_string()).await.expect("publish");
    }

    /// What the lock's memory holds.
    pub fn codes(&self) -> BTreeMap<u16, String> {
        self.memory.lock().expect("memory").codes.clone()
    }

    pub async fn wait_for_codes(&self, expected: &[(u16, &str)], within: Duration) {
        let want: BTreeMap<u16, String> = expected.iter().map(|(s, c)| (*s, (*c).to_owned())).collect();
        let deadline = std::time::Instant::now() + within;
        while self.codes() != want {
            assert!(
                std::time::Instant::now() < deadline,
                "the Zigbee lock holds {:?}, expected {want:?}",
                self.codes()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A code typed at the keypad: an unlock by that user, or a failure.
    pub async fn type_code(&self, code: &str) -> Option<u16> {
        let slot = self.memory.lock().expect("memory").codes.iter().find(|(_, c)| *c == code).map(|(s, _)| *s);
        let extra = match slot {
            Some(slot) => {
                self.memory.lock().expect("memory").locked = false;
                json!({"action": "unlock", "action_user": slot, "action_source": 0, "action_source_name": "keypad"})
            }
            None => json!({"action": "unlock_failure_invalid_pin_or_id", "action_source_name": "keypad"}),
        };
        self.publish_state(extra).await;
        slot
    }

    /// A code programmed at the lock itself: the lock reports it.
    pub async fn program_at_lock(&self, slot: u16, code: &str) {
        self.memory.lock().expect("memory").codes.insert(slot, code.to_owned());
        self.publish_state(json!({"action": "pin_code_added", "action_user": slot, "action_source_name": "keypad"}))
            .await;
    }

    /// Takes the retained messages back off the broker (the machine's
    /// Mosquitto outlives the test).
    pub async fn remove(&self) {
        for topic in [format!("{}/bridge/devices", self.base), format!("{}/{}/availability", self.base, self.name)] {
            self.client.publish(topic, QoS::AtLeastOnce, true, Vec::<u8>::new()).await.expect("publish");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    pub async fn set_online(&self, online: bool) {
        self.memory.lock().expect("memory").online = online;
        let state = if online { "online" } else { "offline" };
        let topic = format!("{}/{}/availability", self.base, self.name);
        self.client.publish(topic, QoS::AtLeastOnce, true, json!({"state": state}).to_string()).await.expect("publish");
    }
}

/// Every message on the broker, as a subscriber to `#` sees it.
pub struct Spy {
    seen: Arc<Mutex<Vec<(String, String, bool)>>>,
}

impl Spy {
    pub async fn start() -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();
        let mut options = MqttOptions::new(format!("kwspy-{}-{nanos}", std::process::id()), "127.0.0.1", 1883);
        options.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut events) = AsyncClient::new(options, 16);
        client.subscribe("#", QoS::AtLeastOnce).await.expect("subscribe");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            let _client = client;
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let text = String::from_utf8_lossy(&p.payload).into_owned();
                        log.lock().expect("spy").push((p.topic.clone(), text, p.retain));
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
