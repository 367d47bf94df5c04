//! Zigbee alarm sensors and sirens through Zigbee2MQTT. Sensors: door and window contacts,
//! motion, smoke, water and CO detectors, vibration (zigbee-herdsman-
//! converters' exposes). `bridge/devices` offers them (a device exposing
//! one of those properties and no `pin_code`); each one's state topic and
//! availability are subscribed to, and every state message is a report.
//!
//! Payloads: `{"contact": false}` is **open** (`contact` true means the
//! magnet is near: closed); `{"occupancy": true}`, `{"smoke": true}`,
//! `{"water_leak": true}`, `{"carbon_monoxide": true}`, `{"vibration":
//! true}` are the alarm condition; `tamper` and `battery_low` as named;
//! `<name>/availability` `{"state": "online" | "offline"}` (or the bare
//! word). A retained state is the sensor's last state: read as a report
//! like any other, and the panel acts only on a change from what it holds.
//!
//! Sirens are the devices exposing `warning`: sounded with `<name>/set`
//! `{"warning": {"mode": "burglar" | "fire" | "emergency", "level": "high",
//! "strobe": true, "duration": <the panel's siren time>}}` (the duration is
//! the device's own limit, should the stop be lost) and stopped with
//! `{"warning": {"mode": "stop"}}`. Zigbee2MQTT answers nothing for a
//! warning: a command counts as carried out when the broker took it for a
//! siren whose availability is online.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use keyward_app::devices::{
    DeviceError, DeviceRef, Protocol, SensorInfo, SensorNetwork, SensorReport, SirenInfo, SirenNetwork,
};
use keyward_core::alarm::{AlarmKind, Reading};
use keyward_core::{FriendlyName, IeeeAddress};
use keyward_mqtt::{Message, Mqtt};
use keyward_store::BoxFuture;
use serde_json::Value;
use tokio::sync::broadcast;

/// The properties that make a device a sensor, each the alarm condition
/// when true — except `contact`, which is true when closed.
pub const SENSES: [&str; 6] = ["contact", "occupancy", "smoke", "water_leak", "carbon_monoxide", "vibration"];

/// A sensor as `bridge/devices` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedSensor {
    pub address: IeeeAddress,
    pub name: FriendlyName,
    pub label: String,
    pub manufacturer: String,
    pub model: String,
    pub senses: Vec<&'static str>,
}

/// A siren as `bridge/devices` describes it (a device exposing `warning`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedSiren {
    pub address: IeeeAddress,
    pub name: FriendlyName,
    pub label: String,
    pub manufacturer: String,
    pub model: String,
}

/// Each device of a `bridge/devices` payload that has a definition: what
/// it is (as a siren's facts: address, name, label, vendor, model) and the
/// properties it exposes.
fn described(devices: &Value) -> impl Iterator<Item = (OfferedSiren, BTreeSet<String>)> + '_ {
    devices.as_array().into_iter().flatten().filter_map(|device| {
        let definition = device.get("definition")?;
        let mut properties = BTreeSet::new();
        collect_properties(definition.get("exposes")?, &mut properties);
        let name = FriendlyName::parse(device.get("friendly_name")?.as_str()?).ok()?;
        let address = IeeeAddress::parse(device.get("ieee_address")?.as_str()?).ok()?;
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
        let description = text(definition.get("description"));
        let facts = OfferedSiren {
            label: if description.is_empty() { name.as_str().to_owned() } else { description },
            manufacturer: text(definition.get("vendor")),
            model: text(definition.get("model")),
            address,
            name,
        };
        Some((facts, properties))
    })
}

/// The sirens in a `bridge/devices` payload.
pub fn offered_sirens(devices: &Value) -> Vec<OfferedSiren> {
    described(devices).filter(|(_, properties)| properties.contains("warning")).map(|(facts, _)| facts).collect()
}

/// The `warning` command for an alarm of this kind, for `seconds`.
pub fn warning(alarm: AlarmKind, seconds: u16) -> Value {
    let mode = match alarm {
        AlarmKind::Fire | AlarmKind::CarbonMonoxide => "fire",
        AlarmKind::Burglary => "burglar",
        AlarmKind::Panic | AlarmKind::Water => "emergency",
    };
    serde_json::json!({"warning": {"mode": mode, "level": "high", "strobe": true, "duration": seconds}})
}

/// The sensors in a `bridge/devices` payload (a lock with a door contact
/// is a lock).
pub fn offered_sensors(devices: &Value) -> Vec<OfferedSensor> {
    described(devices)
        .filter(|(_, properties)| !properties.contains("pin_code"))
        .filter_map(|(facts, properties)| {
            let senses: Vec<&'static str> = SENSES.iter().copied().filter(|s| properties.contains(*s)).collect();
            (!senses.is_empty()).then_some(OfferedSensor {
                address: facts.address,
                name: facts.name,
                label: facts.label,
                manufacturer: facts.manufacturer,
                model: facts.model,
                senses,
            })
        })
        .collect()
}

fn collect_properties(exposes: &Value, into: &mut BTreeSet<String>) {
    match exposes {
        Value::Array(items) => items.iter().for_each(|item| collect_properties(item, into)),
        Value::Object(object) => {
            if let Some(property) = object.get("property").and_then(Value::as_str) {
                into.insert(property.to_owned());
            }
            if let Some(features) = object.get("features") {
                collect_properties(features, into);
            }
        }
        _ => {}
    }
}

/// A state message read onto what the sensor last said (absent fields keep
/// their value: Zigbee2MQTT publishes the merged state, but a partial one
/// must not clear the rest).
pub fn read_state(before: Reading, senses: &[&str], state: &Value) -> Reading {
    let flag = |name: &str| state.get(name).and_then(Value::as_bool);
    let mut reading = Reading { online: true, ..before };
    let mut open = None;
    for sense in senses {
        let Some(value) = flag(sense) else { continue };
        // contact true is closed; every other sense true is its alarm.
        let alarm = if *sense == "contact" { !value } else { value };
        open = Some(open.unwrap_or(false) || alarm);
    }
    if let Some(open) = open {
        reading.open = open;
    }
    if let Some(tamper) = flag("tamper") {
        reading.tamper = tamper;
    }
    if let Some(low) = flag("battery_low") {
        reading.battery_low = low;
    }
    if let Some(percent) = state.get("battery").and_then(Value::as_u64) {
        reading.battery = Some(u8::try_from(percent.min(100)).unwrap_or(100));
    }
    reading
}

struct Entry {
    offered: OfferedSensor,
    reading: Option<Reading>,
}

/// Zigbee2MQTT's sensors, followed over keyward's MQTT connection.
#[derive(Clone)]
pub struct Zigbee2MqttSensors {
    shared: Arc<Shared>,
}

struct Shared {
    mqtt: Mqtt,
    base: String,
    /// Zigbee2MQTT's bridge said it is online (`bridge/state`, retained,
    /// with a last will of offline).
    bridge_online: std::sync::atomic::AtomicBool,
    sensors: Mutex<BTreeMap<IeeeAddress, Entry>>,
    /// The sirens offered, and whether each is online (availability).
    sirens: Mutex<BTreeMap<IeeeAddress, (OfferedSiren, bool)>>,
    subscribed: Mutex<BTreeSet<FriendlyName>>,
    reports: broadcast::Sender<SensorReport>,
}

fn guard<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Zigbee2MqttSensors {
    pub fn start(mqtt: Mqtt, base: &str) -> Self {
        let shared = Arc::new(Shared {
            mqtt,
            base: base.to_owned(),
            bridge_online: std::sync::atomic::AtomicBool::new(false),
            sensors: Mutex::new(BTreeMap::new()),
            sirens: Mutex::new(BTreeMap::new()),
            subscribed: Mutex::new(BTreeSet::new()),
            reports: broadcast::channel(1024).0,
        });
        tokio::spawn(follow(shared.clone()));
        Self { shared }
    }
}

async fn follow(shared: Arc<Shared>) {
    let mut messages = shared.mqtt.messages();
    let devices_topic = format!("{}/bridge/devices", shared.base);
    let bridge_topic = format!("{}/bridge/state", shared.base);
    if shared.mqtt.subscribe(&devices_topic).await.is_err() || shared.mqtt.subscribe(&bridge_topic).await.is_err() {
        return;
    }
    loop {
        match messages.recv().await {
            Ok(message) => shared.take(&devices_topic, message).await,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "Zigbee2MQTT messages were dropped; sensor states may be stale until they report again"
                );
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

impl Shared {
    async fn take(&self, devices_topic: &str, message: Message) {
        if message.topic.strip_prefix(&self.base) == Some("/bridge/state") {
            if let Some(online) = crate::messages::availability(&message.payload) {
                self.bridge_online.store(online, std::sync::atomic::Ordering::Release);
            }
            return;
        }
        if message.topic == devices_topic {
            let Ok(devices) = serde_json::from_slice::<Value>(&message.payload) else { return };
            self.offer_sirens(offered_sirens(&devices)).await;
            self.offer(offered_sensors(&devices)).await;
            return;
        }
        let Some(rest) = message.topic.strip_prefix(&format!("{}/", self.base)) else { return };
        let (name, availability) = match rest.strip_suffix("/availability") {
            Some(name) => (name, true),
            None => (rest, false),
        };
        let Ok(name) = FriendlyName::parse(name) else { return };
        if availability {
            let online = crate::messages::availability(&message.payload);
            let mut sirens = guard(&self.sirens);
            if let (Some(online), Some((_, known))) = (online, sirens.values_mut().find(|(o, _)| o.name == name)) {
                *known = online;
                return;
            }
        }
        let report = {
            let mut sensors = guard(&self.sensors);
            let Some((address, entry)) = sensors.iter_mut().find(|(_, e)| e.offered.name == name) else { return };
            let before = entry.reading.unwrap_or_default();
            let reading = if availability {
                match crate::messages::availability(&message.payload) {
                    Some(online) => Reading { online, ..before },
                    None => return,
                }
            } else {
                let Ok(state) = serde_json::from_slice::<Value>(&message.payload) else { return };
                read_state(before, &entry.offered.senses, &state)
            };
            entry.reading = Some(reading);
            SensorReport { device: DeviceRef::Zigbee2Mqtt { ieee_address: address.clone() }, reading }
        };
        // Nobody listening yet is fine: the panel reads `sensors()` too.
        let _ = self.reports.send(report);
    }

    async fn offer_sirens(&self, offered: Vec<OfferedSiren>) {
        let fresh: Vec<FriendlyName> = {
            let mut sirens = guard(&self.sirens);
            let addresses: BTreeSet<&IeeeAddress> = offered.iter().map(|o| &o.address).collect();
            sirens.retain(|address, _| addresses.contains(address));
            for o in &offered {
                let online = sirens.get(&o.address).is_none_or(|(_, online)| *online);
                sirens.insert(o.address.clone(), (o.clone(), online));
            }
            let mut subscribed = guard(&self.subscribed);
            offered.iter().map(|o| o.name.clone()).filter(|name| subscribed.insert(name.clone())).collect()
        };
        for name in fresh {
            let topic = format!("{}/{}/availability", self.base, name.as_str());
            if self.mqtt.subscribe(&topic).await.is_err() {
                guard(&self.subscribed).remove(&name);
            }
        }
    }

    /// Publishes a command to a siren that is offered and online.
    async fn command_siren(&self, device: &DeviceRef, body: Value) -> Result<(), DeviceError> {
        let DeviceRef::Zigbee2Mqtt { ieee_address } = device else { return Err(DeviceError::NoSuchDevice) };
        let (name, online) = {
            let sirens = guard(&self.sirens);
            let (offered, online) = sirens.get(ieee_address).ok_or(DeviceError::NoSuchDevice)?;
            (offered.name.clone(), *online)
        };
        if !self.mqtt.connected() {
            return Err(DeviceError::Disconnected);
        }
        if !online {
            return Err(DeviceError::Offline);
        }
        let topic = format!("{}/{}/set", self.base, name.as_str());
        self.mqtt.publish(&topic, body.to_string().into_bytes()).await.map_err(|_| DeviceError::Disconnected)
    }

    async fn offer(&self, offered: Vec<OfferedSensor>) {
        let fresh: Vec<FriendlyName> = {
            let mut sensors = guard(&self.sensors);
            let addresses: BTreeSet<&IeeeAddress> = offered.iter().map(|o| &o.address).collect();
            sensors.retain(|address, _| addresses.contains(address));
            for o in &offered {
                match sensors.get_mut(&o.address) {
                    // Renamed: what was read under the old name stays its.
                    Some(entry) => entry.offered = o.clone(),
                    None => {
                        sensors.insert(o.address.clone(), Entry { offered: o.clone(), reading: None });
                    }
                }
            }
            let mut subscribed = guard(&self.subscribed);
            offered.iter().map(|o| o.name.clone()).filter(|name| subscribed.insert(name.clone())).collect()
        };
        for name in fresh {
            let topic = format!("{}/{}", self.base, name.as_str());
            let subscribed = self.mqtt.subscribe(&topic).await.is_ok()
                && self.mqtt.subscribe(&format!("{topic}/availability")).await.is_ok();
            if !subscribed {
                guard(&self.subscribed).remove(&name);
            }
        }
    }
}

impl SensorNetwork for Zigbee2MqttSensors {
    fn protocol(&self) -> Protocol {
        Protocol::Zigbee2Mqtt
    }

    /// The broker reached, and Zigbee2MQTT's bridge online on it.
    fn connected(&self) -> bool {
        self.shared.mqtt.connected() && self.shared.bridge_online.load(std::sync::atomic::Ordering::Acquire)
    }

    fn sensors(&self) -> Vec<SensorInfo> {
        guard(&self.shared.sensors)
            .iter()
            .map(|(address, entry)| SensorInfo {
                device: DeviceRef::Zigbee2Mqtt { ieee_address: address.clone() },
                name: Some(entry.offered.name.as_str().to_owned()),
                label: entry.offered.label.clone(),
                manufacturer: entry.offered.manufacturer.clone(),
                model: entry.offered.model.clone(),
                senses: entry.offered.senses.clone(),
                reading: entry.reading,
            })
            .collect()
    }

    fn reports(&self) -> broadcast::Receiver<SensorReport> {
        self.shared.reports.subscribe()
    }
}

impl SirenNetwork for Zigbee2MqttSensors {
    fn protocol(&self) -> Protocol {
        Protocol::Zigbee2Mqtt
    }

    fn sirens(&self) -> Vec<SirenInfo> {
        guard(&self.shared.sirens)
            .iter()
            .map(|(address, (offered, online))| SirenInfo {
                device: DeviceRef::Zigbee2Mqtt { ieee_address: address.clone() },
                name: Some(offered.name.as_str().to_owned()),
                label: offered.label.clone(),
                manufacturer: offered.manufacturer.clone(),
                model: offered.model.clone(),
                online: *online && self.shared.mqtt.connected(),
            })
            .collect()
    }

    fn sound<'a>(
        &'a self,
        device: &'a DeviceRef,
        alarm: AlarmKind,
        seconds: u16,
    ) -> BoxFuture<'a, Result<(), DeviceError>> {
        Box::pin(async move { self.shared.command_siren(device, warning(alarm, seconds)).await })
    }

    fn stop<'a>(&'a self, device: &'a DeviceRef) -> BoxFuture<'a, Result<(), DeviceError>> {
        Box::pin(
            async move { self.shared.command_siren(device, serde_json::json!({"warning": {"mode": "stop"}})).await },
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sensors_are_offered_by_what_they_expose_and_locks_are_not() {
        let devices = json!([
            {"friendly_name": "front_contact", "ieee_address": "0x00158d0001a2b3c4",
             "definition": {"vendor": "Aqara", "model": "MCCGQ11LM", "description": "Door and window sensor",
                "exposes": [{"type": "binary", "name": "contact", "property": "contact"},
                            {"type": "numeric", "name": "battery", "property": "battery"}]}},
            {"friendly_name": "hall_motion", "ieee_address": "0x00158d0001a2b3c5",
             "definition": {"vendor": "Aqara", "model": "RTCGQ11LM", "description": "Motion sensor",
                "exposes": [{"type": "binary", "name": "occupancy", "property": "occupancy"},
                            {"type": "binary", "name": "tamper", "property": "tamper"}]}},
            {"friendly_name": "front_door", "ieee_address": "0x00158d0001a2b3c6",
             "definition": {"exposes": [{"type": "binary", "property": "contact"},
                {"type": "composite", "property": "pin_code", "features": []}]}},
            {"friendly_name": "Coordinator", "ieee_address": "0x00124b0001a2b3c7", "definition": null}
        ]);
        let offered = offered_sensors(&devices);
        let names: Vec<&str> = offered.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["front_contact", "hall_motion"], "a lock with a door contact is a lock");
        assert_eq!(offered[0].senses, ["contact"]);
        assert_eq!(offered[1].label, "Motion sensor");
    }

    #[test]
    fn sirens_are_the_devices_that_take_a_warning() {
        let devices = json!([
            {"friendly_name": "hall_siren", "ieee_address": "0x00158d0001a2b3d0",
             "definition": {"vendor": "Heiman", "model": "HS2WD-E", "description": "Smart siren",
                "exposes": [{"type": "composite", "name": "warning", "property": "warning", "features": [
                    {"type": "enum", "name": "mode", "property": "mode"},
                    {"type": "numeric", "name": "duration", "property": "duration"}]}]}}
        ]);
        let sirens = offered_sirens(&devices);
        assert_eq!(sirens.len(), 1);
        assert_eq!(sirens[0].label, "Smart siren");
        assert!(offered_sensors(&devices).is_empty());
        assert_eq!(
            warning(AlarmKind::Burglary, 240)["warning"],
            json!({"mode": "burglar", "level": "high", "strobe": true, "duration": 240})
        );
        assert_eq!(warning(AlarmKind::Fire, 60)["warning"]["mode"], "fire");
    }

    #[test]
    fn contact_false_is_open_and_partial_states_keep_the_rest() {
        let closed = read_state(Reading::default(), &["contact"], &json!({"contact": true, "battery": 90}));
        assert_eq!(closed, Reading { online: true, open: false, tamper: false, battery_low: false, battery: Some(90) });
        let open = read_state(closed, &["contact"], &json!({"contact": false, "tamper": true}));
        assert!(open.open && open.tamper);
        let battery = read_state(open, &["contact"], &json!({"battery_low": true}));
        assert!(battery.open && battery.battery_low, "a partial state keeps the rest");
        let smoke = read_state(Reading::default(), &["smoke"], &json!({"smoke": true}));
        assert!(smoke.open);
    }
}
