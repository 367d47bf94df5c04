//! keyward's one connection to an MQTT broker (Mosquitto, EMQX, Home
//! Assistant's add-on), shared by the Zigbee2MQTT lock adapter and the MQTT
//! alert channel (and later the alarm panel's keypads and Home Assistant).
//!
//! What the users of this crate may rely on:
//! - it connects in the background and keeps reconnecting (1 s doubling to
//!   30 s), so keyward starts and runs while the broker is away;
//! - subscriptions are remembered and made again whenever the broker has no
//!   session for keyward (a restarted broker, a first connection);
//! - commands are published with QoS 1 and never retained;
//! - payloads are never logged (they may hold a code on its way to a lock);
//! - why it is not connected is said once per cause at warn, and kept for
//!   `/readyz` (`problem`);
//! - a message it cannot take (over 4 MiB, or malformed) does not keep it
//!   off the broker: the broker would hand it over again on every
//!   reconnection of keyward's stored session, so the next connection
//!   starts a clean session, which drops it.

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
/// A connection that stood this long makes its next failure news again.
const STOOD: Duration = Duration::from_secs(60);
const LAST_RETRY: Duration = Duration::from_secs(30);

struct Shared {
    connected: AtomicBool,
    /// Why the connection is down, in words (never a secret).
    problem: Mutex<Option<String>>,
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
        let (client, mut events) = AsyncClient::new(mqtt, 64);
        // Small messages that must go out now (a siren's warning, a
        // keypad's answer): no Nagle delay waiting for more to send.
        let mut network = rumqttc::NetworkOptions::new();
        network.set_tcp_nodelay(true);
        events.set_network_options(network);
        let shared = Arc::new(Shared {
            connected: AtomicBool::new(false),
            problem: Mutex::new(None),
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

    /// Why it is not connected, in words; `None` while connected or before
    /// the first attempt ended.
    pub fn problem(&self) -> Option<String> {
        guard(&self.shared.problem).clone()
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
    // Each cause is said once at warn (then at debug) until a connection
    // has stood for a while: a broker that keeps refusing, or a message
    // that keeps coming back, does not fill the log.
    let mut last_said: Option<String> = None;
    let mut connected_at: Option<std::time::Instant> = None;
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                delay = FIRST_RETRY;
                connected_at = Some(std::time::Instant::now());
                // Back to a session the broker keeps, after a clean start.
                events.mqtt_options.set_clean_session(false);
                *guard(&shared.problem) = None;
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
            Err(ConnectionError::RequestsDone) => {
                set_connected(&shared, false);
                return;
            }
            Err(error) => {
                set_connected(&shared, false);
                let cause = Cause::of(&error);
                if cause.unreadable_message {
                    // The broker would deliver it again to this session.
                    events.mqtt_options.set_clean_session(true);
                }
                let words = cause.words;
                *guard(&shared.problem) = Some(words.clone());
                if connected_at.take().is_some_and(|at| at.elapsed() >= STOOD) {
                    last_said = None;
                }
                if last_said.as_deref() != Some(words.as_str()) {
                    last_said = Some(words.clone());
                    tracing::warn!(broker = address.as_str(), retry_in = ?delay, "MQTT: {words}");
                } else {
                    tracing::debug!(broker = address.as_str(), retry_in = ?delay, "MQTT: {words}");
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(LAST_RETRY);
            }
        }
    }
}

/// Why a connection ended or was refused, in the owner's words.
struct Cause {
    words: String,
    /// A message from the broker could not be read (too large, malformed).
    unreadable_message: bool,
}

impl Cause {
    fn of(error: &ConnectionError) -> Self {
        use rumqttc::{ConnectReturnCode as Code, StateError};
        let said = |words: &str| Self { words: words.to_owned(), unreadable_message: false };
        match error {
            ConnectionError::ConnectionRefused(code) => said(match code {
                Code::BadUserNamePassword => "the broker refused keyward's user name or password",
                Code::NotAuthorized => "the broker did not authorize keyward (check its user name or password)",
                Code::BadClientId => "the broker refused keyward's client id",
                Code::ServiceUnavailable => "the broker says it is unavailable",
                Code::RefusedProtocolVersion => "the broker does not take MQTT 3.1.1",
                Code::Success => "the broker answered the connection strangely",
            }),
            ConnectionError::MqttState(StateError::Deserialization(error)) => Self {
                words: format!(
                    "a message from the broker could not be read ({error}; at most {} MiB): it was dropped by \
                     starting a clean session (messages queued for keyward while it was away are lost with it)",
                    MAX_INCOMING / (1024 * 1024)
                ),
                unreadable_message: true,
            },
            ConnectionError::Io(error) => {
                Self { words: format!("cannot reach the broker: {error}"), unreadable_message: false }
            }
            ConnectionError::Tls(error) => {
                Self { words: format!("TLS with the broker failed: {error}"), unreadable_message: false }
            }
            ConnectionError::NetworkTimeout => said("the broker did not answer in time"),
            ConnectionError::MqttState(StateError::AwaitPingResp) => said("the broker stopped answering"),
            other => Self { words: format!("the connection was lost: {other}"), unreadable_message: false },
        }
    }
}

fn set_connected(shared: &Shared, connected: bool) {
    shared.connected.store(connected, Ordering::Release);
    shared.state.send_replace(connected);
}
