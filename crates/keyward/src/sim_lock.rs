//! `keyward sim lock`: a virtual Zigbee keypad lock that speaks Zigbee2MQTT's
//! payloads, so anyone can watch keyward put codes into a lock and see the
//! lock's entries come back — without hardware.
//!
//! It plays both Zigbee2MQTT and the lock: it publishes a `bridge/devices`
//! entry for itself (retained) and its availability, takes `pin_code` sets
//! and gets on `<base>/<name>/set|get`, publishes its whole state (with the
//! `users` map) after each answer, never reports a refused set (as
//! Zigbee2MQTT does not), and turns what is typed at its prompt into keypad
//! entries. Flags make each failure keyward must handle visible.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use keyward_mqtt::{BrokerAddress, Mqtt, MqttOptions};
use serde_json::{Value, json};
use tokio::sync::mpsc;

#[derive(Args, Debug)]
pub struct SimLockArgs {
    /// The MQTT broker, e.g. mqtt://127.0.0.1:1883.
    #[arg(long, env = "KEYWARD_MQTT_URL")]
    mqtt_url: String,
    /// The lock's friendly name in Zigbee2MQTT.
    #[arg(long, default_value = "front_door")]
    name: String,
    /// How many PIN slots it has (numbered from 0).
    #[arg(long, default_value_t = 30)]
    slots: u16,
    /// Zigbee2MQTT's base topic.
    #[arg(long, default_value = "zigbee2mqtt")]
    base_topic: String,
    /// Hide codes in read-backs (Zigbee2MQTT's `expose_pin` off).
    #[arg(long)]
    hide_codes: bool,
    /// Answer every command this many milliseconds late.
    #[arg(long, default_value_t = 0)]
    slow_ms: u64,
    /// Ignore every Nth command (1: all of them), as a lock out of radio reach might.
    #[arg(long)]
    drop_every: Option<u32>,
    /// Start offline (type `online` at the prompt to come back).
    #[arg(long)]
    offline: bool,
    /// A code programmed at the lock itself, as SLOT:CODE (repeatable): a
    /// user given the same code is refused as a duplicate.
    #[arg(long = "code", value_parser = slot_code)]
    codes: Vec<(u16, String)>,
}

fn slot_code(text: &str) -> Result<(u16, String), String> {
    let (slot, code) = text.split_once(':').ok_or("SLOT:CODE, e.g. 5:1357")?;
    let slot = slot.parse().map_err(|_| "the slot is a number")?;
    if !(4..=8).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err("a code is 4 to 8 digits".into());
    }
    Ok((slot, code.to_owned()))
}

struct Lock {
    codes: BTreeMap<u16, String>,
    /// Slots read so far, so in Zigbee2MQTT's cached `users` map.
    known: BTreeMap<u16, ()>,
    locked: bool,
    online: bool,
    commands: u32,
    last_save: Option<u64>,
    last_clear: Option<u64>,
}

pub fn run(args: &SimLockArgs) -> anyhow::Result<()> {
    let address = BrokerAddress::parse(&args.mqtt_url).map_err(|e| anyhow::anyhow!("--mqtt-url: {e}"))?;
    if keyward_core::FriendlyName::parse(&args.name).is_err() || args.slots == 0 {
        anyhow::bail!("--name must be an MQTT topic without wildcards, and --slots at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    runtime.block_on(simulate(args, address))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

async fn simulate(args: &SimLockArgs, address: BrokerAddress) -> anyhow::Result<()> {
    // One client id per simulated lock (base topic and name): two virtual
    // locks with one id would throw each other off the broker.
    let client_id = format!("keyward-sim-{}-{}", args.base_topic, args.name).replace('/', "-");
    let options = MqttOptions {
        address,
        username: None,
        password: None,
        client_id,
        keep_alive: Duration::from_secs(30),
        ca_file: None,
    };
    let mqtt = Mqtt::start(options).context("MQTT")?;
    let base = args.base_topic.trim_end_matches('/').to_owned();
    let topic = format!("{base}/{}", args.name);
    let lock = Arc::new(Mutex::new(Lock {
        codes: args.codes.iter().cloned().collect(),
        known: BTreeMap::new(),
        locked: true,
        online: !args.offline,
        commands: 0,
        last_save: None,
        last_clear: None,
    }));
    let mut messages = mqtt.messages();
    mqtt.subscribe(&format!("{topic}/set")).await?;
    mqtt.subscribe(&format!("{topic}/get")).await?;
    let devices = json!([{
        "friendly_name": args.name, "type": "EndDevice", "ieee_address": "0x00158d000a1b2c3d",
        "definition": {"vendor": "keyward", "model": "virtual-lock", "description": "Virtual keypad lock (keyward sim)",
            "exposes": [
                {"type": "lock", "features": [{"type": "binary", "name": "state", "property": "state"},
                                               {"type": "enum", "name": "lock_state", "property": "lock_state"}]},
                {"type": "numeric", "name": "battery", "property": "battery"},
                {"type": "composite", "name": "pin_code", "property": "pin_code", "features": [
                    {"type": "numeric", "name": "user", "property": "user", "value_min": 0, "value_max": args.slots - 1},
                    {"type": "enum", "name": "user_type", "property": "user_type"},
                    {"type": "binary", "name": "user_enabled", "property": "user_enabled"},
                    {"type": "text", "name": "pin_code", "property": "pin_code"}]}]}
    }]);
    mqtt.publish_retained(&format!("{base}/bridge/devices"), devices.to_string().into_bytes()).await?;
    let sim = Sim { mqtt: mqtt.clone(), topic: topic.clone(), lock: lock.clone(), hide_codes: args.hide_codes };
    sim.availability().await?;

    // The prompt runs on its own thread: stdin blocks.
    let (typed, mut lines) = mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if typed.send(line).is_err() {
                break;
            }
        }
    });
    println!(
        "Virtual lock {topic} with {} slots. Type a code to use the keypad; or: codes, program SLOT CODE, offline, online, lock, unlock, quit.",
        args.slots
    );
    loop {
        tokio::select! {
            received = messages.recv() => match received {
                Ok(message) if message.topic == format!("{topic}/set") || message.topic == format!("{topic}/get") => {
                    let get = message.topic.ends_with("/get");
                    let body = serde_json::from_slice::<Value>(&message.payload).unwrap_or(Value::Null);
                    let dropped = {
                        let mut state = lock.lock().unwrap_or_else(|p| p.into_inner());
                        state.commands += 1;
                        !state.online || args.drop_every.is_some_and(|n| n > 0 && state.commands.is_multiple_of(n))
                    };
                    if dropped {
                        println!("(a command did not reach the lock)");
                        continue;
                    }
                    if args.slow_ms > 0 {
                        tokio::time::sleep(Duration::from_millis(args.slow_ms)).await;
                    }
                    sim.command(get, &body, args.slots).await?;
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
            },
            line = lines.recv() => {
                let Some(line) = line else { return Ok(()) };
                if !sim.typed(line.trim()).await? {
                    return Ok(());
                }
            }
        }
    }
}

struct Sim {
    mqtt: Mqtt,
    topic: String,
    lock: Arc<Mutex<Lock>>,
    hide_codes: bool,
}

impl Sim {
    fn state(&self) -> std::sync::MutexGuard<'_, Lock> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn availability(&self) -> anyhow::Result<()> {
        let state = if self.state().online { "online" } else { "offline" };
        let body = json!({"state": state}).to_string().into_bytes();
        self.mqtt.publish_retained(&format!("{}/availability", self.topic), body).await?;
        Ok(())
    }

    async fn command(&self, get: bool, body: &Value, slots: u16) -> anyhow::Result<()> {
        if let Some(pin) = body.get("pin_code") {
            let Some(slot) = pin.get("user").and_then(Value::as_u64).and_then(|u| u16::try_from(u).ok()) else {
                return Ok(());
            };
            if slot >= slots {
                return Ok(());
            }
            if get {
                self.state().known.insert(slot, ());
                return self.publish(json!({})).await;
            }
            let mut state = self.state();
            match pin.get("pin_code").and_then(Value::as_str) {
                Some(code) => {
                    if let Some(other) = state.codes.iter().find(|(s, c)| **s != slot && c.as_str() == code) {
                        // The lock's "duplicate code" answer, which Zigbee2MQTT drops.
                        println!("slot {slot}: refused, the same code is in slot {}", other.0);
                        return Ok(());
                    }
                    state.codes.insert(slot, code.to_owned());
                    state.last_save = Some(now_ms());
                    println!("slot {slot}: a code was saved");
                }
                None => {
                    state.codes.remove(&slot);
                    state.last_clear = Some(now_ms());
                    println!("slot {slot}: cleared");
                }
            }
            return Ok(());
        }
        match body.get("state").and_then(Value::as_str) {
            Some("LOCK" | "UNLOCK") if !get => {
                let locked = body.get("state").and_then(Value::as_str) == Some("LOCK");
                self.state().locked = locked;
                println!("{} by radio", if locked { "locked" } else { "unlocked" });
                let action = if locked { "lock" } else { "unlock" };
                self.publish(json!({"action": action, "action_source": 1, "action_source_name": "rf"})).await
            }
            _ if get => self.publish(json!({})).await,
            _ => Ok(()),
        }
    }

    /// The whole cached state, as Zigbee2MQTT publishes it, with an action.
    async fn publish(&self, extra: Value) -> anyhow::Result<()> {
        let body = {
            let state = self.state();
            let mut users = serde_json::Map::new();
            for slot in state.known.keys() {
                let entry = match state.codes.get(slot) {
                    Some(_) if self.hide_codes => json!({"status": "enabled"}),
                    Some(code) => json!({"status": "enabled", "pin_code": code}),
                    None => json!({"status": "available"}),
                };
                users.insert(slot.to_string(), entry);
            }
            let mut body = json!({
                "users": users, "battery": 87, "linkquality": 140,
                "lock_state": if state.locked { "locked" } else { "unlocked" },
                "state": if state.locked { "LOCK" } else { "UNLOCK" },
            });
            if let Some(at) = state.last_save {
                body["last_successful_pincode_save"] = json!(at);
            }
            if let Some(at) = state.last_clear {
                body["last_successful_pincode_clear"] = json!(at);
            }
            if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
                body.extend(extra.clone());
            }
            body
        };
        self.mqtt.publish(&self.topic, body.to_string().into_bytes()).await?;
        Ok(())
    }

    /// A line typed at the prompt; false to stop.
    async fn typed(&self, line: &str) -> anyhow::Result<bool> {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => {}
            ["quit" | "exit"] => return Ok(false),
            ["codes"] => {
                let state = self.state();
                if state.codes.is_empty() {
                    println!("no codes");
                }
                for (slot, code) in &state.codes {
                    println!("slot {slot}: {code}");
                }
            }
            ["offline" | "online"] => {
                self.state().online = words[0] == "online";
                self.availability().await?;
                println!("{}", words[0]);
            }
            ["lock" | "unlock"] => {
                let locked = words[0] == "lock";
                self.state().locked = locked;
                let action = if locked { "manual_lock" } else { "manual_unlock" };
                self.publish(json!({"action": action, "action_source": 2, "action_source_name": "manual"})).await?;
                println!("{} by hand", if locked { "locked" } else { "unlocked" });
            }
            ["program", slot, code] => match (slot.parse::<u16>(), slot_code(&format!("{slot}:{code}"))) {
                (Ok(slot), Ok(_)) => {
                    self.state().codes.insert(slot, (*code).to_owned());
                    self.publish(
                        json!({"action": "pin_code_added", "action_user": slot, "action_source_name": "keypad"}),
                    )
                    .await?;
                    println!("slot {slot}: programmed at the lock");
                }
                _ => println!("program SLOT CODE, e.g. program 5 1357"),
            },
            [code] if code.bytes().all(|b| b.is_ascii_digit()) => {
                let slot = self.state().codes.iter().find(|(_, c)| c.as_str() == *code).map(|(s, _)| *s);
                match slot {
                    Some(slot) => {
                        self.state().locked = false;
                        let action = json!({"action": "unlock", "action_user": slot, "action_source": 0, "action_source_name": "keypad"});
                        self.publish(action).await?;
                        println!("unlocked: the code of slot {slot}");
                    }
                    None => {
                        self.publish(json!({"action": "unlock_failure_invalid_pin_or_id", "action_source": 0, "action_source_name": "keypad"}))
                            .await?;
                        println!("wrong code: still locked");
                    }
                }
            }
            _ => println!("type a code, or: codes, program SLOT CODE, offline, online, lock, unlock, quit"),
        }
        Ok(true)
    }
}
