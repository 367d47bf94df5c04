//! keyward's one connection to an MQTT broker (Mosquitto, EMQX, Home
//! Assistant's add-on): the Zigbee2MQTT lock adapter uses it now, the alarm
//! panel and the MQTT notification channel later.
//!
//! What the users of this crate may rely on:
//! - it connects in the background and keeps reconnecting (1 s doubling to
//!   30 s), so keyward starts and runs while the broker is away;
//! - subscriptions are remembered and made again whenever the broker has no
//!   session for keyward (a restarted broker, a first connection);
//! - commands are published with QoS 1 and never retained;
//! - payloads are never logged (they may hold a code on its way to a lock).

mod address;
mod tls;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use address::{BrokerAddress, BrokerAddressError};
use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, Packet, QoS};
use tokio::sync::{broadcast, watch};
use zeroize::Zeroizing;

/// How to reach the broker.
#[derive(Clone)]
pub struct MqttOptions {
    pub address: BrokerAddress,
    pub username: Option<String>,
    pub password: Option<Zeroizing<String>>,
    pub client_id: String,
    pub keep_alive: Duration,
    /// PEM certificates to trust instead of the system's (mqtts:// only).
    pub ca_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for MqttOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttOptions")
            .field("address", &self.address.to_string())
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "(set)"))
            .field("client_id", &self.client_id)
            .field("keep_alive", &self.keep_alive)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error("the MQTT CA file cannot be used: {0}")]
    CaFile(String),
    #[error("no trusted certificates for mqtts:// (none in the system store)")]
    NoRoots,
    #[error("TLS set-up failed: {0}")]
    Tls(String),
    #[error("the MQTT connection is closed")]
    Closed,
}

/// A message the broker delivered.
#[derive(Clone)]
pub struct Message {
    pub topic: String,
    pub payload: Arc<[u8]>,
    pub retained: bool,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Payloads may carry codes: only their size is shown.
        f.debug_struct("Message")
            .field("topic", &self.topic)
            .field("payload", &format_args!("{} bytes", self.payload.len()))
            .field("retained", &self.retained)
            .finish()
    }
}

/// The largest message keyward takes from the broker (Zigbee2MQTT's
/// `bridge/devices` for a large network is some hundreds of KiB).
const MAX_INCOMING: usize = 4 * 1024 * 1024;
/// The largest keyward sends.
const MAX_OUTGOING: usize = 64 * 1024;
const FIRST_RETRY: Duration = Duration::from_secs(1);
const LAST_RETRY: Duration = Duration::from_secs(30);

struct Shared {
    connected: AtomicBool,
    /// Topic filters to hold, made again on every session the broker lost.
    filters: Mutex<Vec<String>>,
    messages: broadcast::Sender<Message>,
    state: watch::Sender<bool>,
}

fn guard<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The connection. Cloning shares it.
#[derive(Clone)]
pub struct Mqtt {
    client: AsyncClient,
    shared: Arc<Shared>,
}

impl Mqtt {
    /// Starts connecting in the background; answers at once. Errors only
    /// for settings that can never work (an unreadable CA file).
    pub fn start(options: MqttOptions) -> Result<Self, MqttError> {
        let mut mqtt = rumqttc::MqttOptions::new(
            options.client_id.clone(),
            options.address.host().to_owned(),
            options.address.port(),
        );
        mqtt.set_keep_alive(options.keep_alive.max(Duration::from_secs(5)));
        mqtt.set_max_packet_size(MAX_INCOMING, MAX_OUTGOING);
        // A session the broker keeps: QoS 1 messages sent while keyward
        // was briefly away (a lock's keypad event) are delivered after.
        mqtt.set_clean_session(false);
        if let Some(username) = &options.username {
            let password = options.password.as_ref().map(|p| p.as_str().to_owned()).unwrap_or_default();
            mqtt.set_credentials(username.clone(), password);
        }
        if options.address.tls() {
            let config = tls::client_config(options.ca_file.as_deref())?;
            mqtt.set_transport(rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(config)));
        }
        let (client, events) = AsyncClient::new(mqtt, 64);
        let shared = Arc::new(Shared {
            connected: AtomicBool::new(false),
            filters: Mutex::new(Vec::new()),
            messages: broadcast::channel(1024).0,
            state: watch::channel(false).0,
        });
        tokio::spawn(run(events, client.clone(), shared.clone(), options.address.to_string()));
        Ok(Self { client, shared })
    }

    /// Whether the broker accepted keyward's connection and it still stands.
    pub fn connected(&self) -> bool {
        self.shared.connected.load(Ordering::Acquire)
    }

    /// Follows the connection state (true: connected).
    pub fn state(&self) -> watch::Receiver<bool> {
        self.shared.state.subscribe()
    }

    /// Messages from now on, on every topic subscribed to.
    pub fn messages(&self) -> broadcast::Receiver<Message> {
        self.shared.messages.subscribe()
    }

    /// Subscribes with QoS 1, now if connected, and again whenever the
    /// broker lost keyward's session.
    pub async fn subscribe(&self, filter: &str) -> Result<(), MqttError> {
        {
            let mut filters = guard(&self.shared.filters);
            if !filters.iter().any(|f| f == filter) {
                filters.push(filter.to_owned());
            }
        }
        self.client.subscribe(filter, QoS::AtLeastOnce).await.map_err(|_| MqttError::Closed)
    }

    /// Publishes with QoS 1, not retained. Queued while the broker is away
    /// and sent when it is back (rumqttc keeps the order).
    pub async fn publish(&self, topic: &str, payload: Vec<u8>) -> Result<(), MqttError> {
        self.client.publish(topic, QoS::AtLeastOnce, false, payload).await.map_err(|_| MqttError::Closed)
    }
}

impl Mqtt {
    /// Publishes a retained state (QoS 1): for descriptions and states a
    /// newcomer must find (a device list, an availability), never for
    /// anything that carries a code.
    pub async fn publish_retained(&self, topic: &str, payload: Vec<u8>) -> Result<(), MqttError> {
        self.client.publish(topic, QoS::AtLeastOnce, true, payload).await.map_err(|_| MqttError::Closed)
    }
}

/// Drives the connection: rumqttc reconnects on the next poll after an
/// error; this loop spaces those polls out and keeps the state.
async fn run(mut events: EventLoop, client: AsyncClient, shared: Arc<Shared>, address: String) {
    let mut delay = FIRST_RETRY;
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                delay = FIRST_RETRY;
                set_connected(&shared, true);
                tracing::info!(broker = address.as_str(), session_present = ack.session_present, "MQTT connected");
                if !ack.session_present {
                    let filters = guard(&shared.filters).clone();
                    for filter in filters {
                        // Queued into the event loop: polled right after.
                        if client.try_subscribe(filter, QoS::AtLeastOnce).is_err() {
                            tracing::warn!("MQTT: a subscription could not be queued");
                        }
                    }
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let message = Message {
                    topic: publish.topic.clone(),
                    payload: Arc::from(publish.payload.as_ref()),
                    retained: publish.retain,
                };
                // No receiver yet is fine: nobody listens to that topic now.
                let _ = shared.messages.send(message);
            }
            Ok(_) => {}
            Err(error) => {
                let was = shared.connected.load(Ordering::Acquire);
                set_connected(&shared, false);
                if matches!(error, ConnectionError::RequestsDone) {
                    return;
                }
                if was {
                    tracing::warn!(broker = address.as_str(), %error, "MQTT connection lost; reconnecting");
                } else {
                    tracing::debug!(broker = address.as_str(), %error, retry_in = ?delay, "MQTT broker not reachable");
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(LAST_RETRY);
            }
        }
    }
}

fn set_connected(shared: &Shared, connected: bool) {
    shared.connected.store(connected, Ordering::Release);
    shared.state.send_replace(connected);
}
