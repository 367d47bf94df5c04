//! Zigbee alarm sensors as Zigbee2MQTT publishes them, written from its
//! documentation (zigbee2mqtt.io device pages and zigbee-herdsman-
//! converters' exposes), sharing no code with keyward's adapter: the
//! retained `bridge/devices` list with each sensor's exposes, and each
//! sensor's retained state (`{"contact": false}` is open) and availability
//! on the machine's Mosquitto, under a base topic of the test's own. A
//! device that exposes `warning` is a siren: the commands it is sent on
//! `<name>/set` are kept for the test to read.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};

pub struct SensorNet {
    pub base: String,
    client: AsyncClient,
    sensors: Vec<(String, &'static str)>,
    /// The commands sent to the sirens: (name, payload).
    commands: Arc<Mutex<Vec<(String, Value)>>>,
}

/// The IEEE address of the `n`-th sensor.
pub fn sensor_ieee(n: usize) -> String {
    format!("0x00158d00000001{n:02x}")
}

impl SensorNet {
    /// Sensors by friendly name and what they expose (`contact`,
    /// `occupancy`, `smoke`, …).
    pub async fn start(sensors: &[(&str, &'static str)]) -> Arc<Self> {
        Self::start_on(1883, sensors).await
    }

    /// On the broker at 127.0.0.1:`port`. Like Zigbee2MQTT, it publishes
    /// its bridge state and device list again whenever it (re)connects.
    pub async fn start_on(port: u16, sensors: &[(&str, &'static str)]) -> Arc<Self> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos();
        let base = format!("kwsensors-{}-{nanos}", std::process::id());
        let mut options = MqttOptions::new(format!("{base}-z2m"), "127.0.0.1", port);
        options.set_keep_alive(Duration::from_secs(10));
        let (client, mut events) = AsyncClient::new(options, 64);
        let mut network = rumqttc::NetworkOptions::new();
        network.set_tcp_nodelay(true);
        events.set_network_options(network);
        let commands: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let heard = commands.clone();
        let prefix = format!("{base}/");
        let (connected, mut connections) = tokio::sync::mpsc::unbounded_channel::<()>();
        tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::Disconnect)) => return,
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = connected.send(());
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let name = p.topic.strip_prefix(&prefix).and_then(|t| t.strip_suffix("/set"));
                        if let Some(name) = name {
                            let body = serde_json::from_slice(&p.payload).unwrap_or(Value::Null);
                            heard.lock().expect("commands").push((name.to_owned(), body));
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        });
        let net = Arc::new(Self {
            base,
            client,
            sensors: sensors.iter().map(|(n, s)| ((*n).to_owned(), *s)).collect(),
            commands,
        });
        let announcer = net.clone();
        let (first, announced) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let mut first = Some(first);
            while connections.recv().await.is_some() {
                announcer.announce().await;
                if let Some(first) = first.take() {
                    let _ = first.send(());
                }
            }
        });
        let _ = tokio::time::timeout(Duration::from_secs(10), announced).await;
        net
    }

    async fn publish(&self, topic: String, payload: Value) {
        self.client.publish(topic, QoS::AtLeastOnce, true, payload.to_string()).await.expect("published");
    }

    async fn announce(&self) {
        self.publish(format!("{}/bridge/state", self.base), json!({"state": "online"})).await;
        let mut devices =
            vec![json!({"friendly_name": "Coordinator", "type": "Coordinator", "ieee_address": "0x00124b0000000001"})];
        for (n, (name, sense)) in self.sensors.iter().enumerate() {
            if *sense == "warning" {
                self.client.subscribe(format!("{}/{name}/set", self.base), QoS::AtLeastOnce).await.expect("subscribed");
                devices.push(json!({"friendly_name": name, "type": "Router", "ieee_address": sensor_ieee(n),
                    "definition": {"vendor": "Heiman", "model": "HS2WD-E", "description": "Smart siren",
                        "exposes": [{"type": "composite", "name": "warning", "property": "warning", "access": 2, "features": [
                            {"type": "enum", "name": "mode", "property": "mode", "access": 2,
                             "values": ["stop", "burglar", "fire", "emergency", "police_panic", "fire_panic", "emergency_panic"]},
                            {"type": "enum", "name": "level", "property": "level", "access": 2, "values": ["low", "medium", "high", "very_high"]},
                            {"type": "binary", "name": "strobe", "property": "strobe", "access": 2},
                            {"type": "numeric", "name": "duration", "property": "duration", "access": 2, "unit": "s"}]}]}}));
                self.publish(format!("{}/{name}/availability", self.base), json!({"state": "online"})).await;
                continue;
            }
            devices.push(json!({"friendly_name": name, "type": "EndDevice", "ieee_address": sensor_ieee(n),
                "definition": {"vendor": "Aqara", "model": "MCCGQ11LM", "description": format!("{sense} sensor"),
                    "exposes": [
                        {"type": "binary", "name": sense, "property": sense, "access": 1, "value_on": true, "value_off": false},
                        {"type": "binary", "name": "tamper", "property": "tamper", "access": 1},
                        {"type": "binary", "name": "battery_low", "property": "battery_low", "access": 1},
                        {"type": "numeric", "name": "battery", "property": "battery", "access": 1, "unit": "%"}]}}));
            self.publish(format!("{}/{name}/availability", self.base), json!({"state": "online"})).await;
        }
        self.publish(format!("{}/bridge/devices", self.base), Value::Array(devices)).await;
    }

    /// A sensor's state, as Zigbee2MQTT publishes it (merged, retained).
    pub async fn report(&self, name: &str, state: Value) {
        self.publish(format!("{}/{name}", self.base), state).await;
    }

    /// The commands a siren was sent, in order.
    pub fn commands(&self, name: &str) -> Vec<Value> {
        self.commands.lock().expect("commands").iter().filter(|(n, _)| n == name).map(|(_, v)| v.clone()).collect()
    }

    pub async fn set_online(&self, name: &str, online: bool) {
        let state = if online { "online" } else { "offline" };
        self.publish(format!("{}/{name}/availability", self.base), json!({"state": state})).await;
    }

    /// Clears every retained message of this network from the broker.
    pub async fn remove(&self) {
        let mut topics = vec![format!("{}/bridge/devices", self.base), format!("{}/bridge/state", self.base)];
        for (name, _) in &self.sensors {
            topics.push(format!("{}/{name}", self.base));
            topics.push(format!("{}/{name}/availability", self.base));
        }
        for topic in topics {
            let _ = self.client.publish(topic, QoS::AtLeastOnce, true, Vec::<u8>::new()).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
