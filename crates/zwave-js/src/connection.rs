//! The connection task: connect, say hello, read, notice silence, reconnect.
//!
//! A server that goes silent (its host frozen, the network cut) leaves the
//! socket open and says nothing, and keypad events would be lost unseen: so
//! keyward pings it every few seconds, and a connection that has heard
//! nothing, not even a pong, for `SILENCE` counts as lost. Reconnecting
//! makes every lock be read back.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use keyward_app::devices::DeviceEvent;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::messages::{self, NOTIFICATION, USER_CODE, device, lock_node};
use crate::wire::{Answer as WireAnswer, Command, ControllerEvent, Event, Incoming, NodeEvent, ValueId};
use crate::{Answer, SCHEMA_VERSION, Shared, guard};

const FIRST_RETRY: Duration = Duration::from_secs(1);
/// A reconnection attempt to a server on the local network costs nothing;
/// a long wait would leave the locks unsynced for longer than needed.
const LAST_RETRY: Duration = Duration::from_secs(5);
/// A connection that lasted this long was healthy: the next retry starts over.
const HEALTHY: Duration = Duration::from_secs(60);
/// How often the server is pinged.
const PING_EVERY: Duration = Duration::from_secs(5);
/// Nothing heard for this long (three pings unanswered): the connection is lost.
const SILENCE: Duration = Duration::from_secs(15);
/// A server that does not complete the WebSocket handshake in this time is away.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("{0}")]
    Socket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("the server closed the connection")]
    Closed,
    #[error("the server did not answer the connection in time")]
    ConnectTimeout,
    #[error("the server went silent (no answer to pings for {}s)", SILENCE.as_secs())]
    Silent,
}

pub(crate) async fn run(shared: Arc<Shared>) {
    let mut retry = FIRST_RETRY;
    loop {
        let started = Instant::now();
        match session(&shared).await {
            Ok(()) => {}
            Err(error) => tracing::warn!(url = %shared.url, %error, "Z-Wave JS connection lost or refused"),
        }
        disconnected(&shared);
        if started.elapsed() >= HEALTHY {
            retry = FIRST_RETRY;
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(LAST_RETRY);
    }
}

async fn session(shared: &Arc<Shared>) -> Result<(), SessionError> {
    let connecting = tokio_tungstenite::connect_async(shared.url.as_str());
    let (socket, _) =
        tokio::time::timeout(CONNECT_TIMEOUT, connecting).await.map_err(|_| SessionError::ConnectTimeout)??;
    tracing::info!(url = %shared.url, "connected to Z-Wave JS");
    let (mut sink, mut stream) = socket.split();
    let (outgoing, mut queue) = mpsc::unbounded_channel::<String>();
    *guard(&shared.outgoing) = Some(outgoing);
    let mut heard = Instant::now();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = stream.next() => {
                heard = Instant::now();
                match message {
                    Some(Ok(Message::Text(text))) => received(shared, text.as_str()),
                    Some(Ok(Message::Ping(data))) => sink.send(Message::Pong(data)).await?,
                    Some(Ok(Message::Close(_))) | None => return Err(SessionError::Closed),
                    Some(Ok(_)) => {}
                    Some(Err(error)) => return Err(error.into()),
                }
            }
            Some(text) = queue.recv() => sink.send(Message::Text(text.into())).await?,
            _ = ping.tick() => {
                if heard.elapsed() >= SILENCE {
                    return Err(SessionError::Silent);
                }
                sink.send(Message::Ping(Vec::new().into())).await?;
            }
        }
    }
}

fn disconnected(shared: &Shared) {
    *guard(&shared.outgoing) = None;
    for (_, reply) in std::mem::take(&mut *guard(&shared.pending)) {
        let _ = reply.send(Answer::Disconnected);
    }
    if shared.connected.swap(false, Ordering::AcqRel) {
        shared.emit(DeviceEvent::Network { connected: false });
    }
}

fn received(shared: &Arc<Shared>, text: &str) {
    let message = match serde_json::from_str::<Incoming>(text) {
        Ok(message) => message,
        Err(error) => {
            // Never the message itself: it may be a node's state with codes.
            tracing::warn!(%error, "Z-Wave JS sent a message keyward cannot read");
            return;
        }
    };
    match message {
        Incoming::Version { max_schema_version } => {
            tokio::spawn(hello(shared.clone(), max_schema_version.min(SCHEMA_VERSION)));
        }
        Incoming::Result(answer) => answered(shared, answer),
        Incoming::Event { event: Event::Node(event) } => happened(shared, event),
        Incoming::Event { event: Event::Controller(ControllerEvent::NodeRemoved { node }) } => {
            guard(&shared.nodes).remove(&node.node_id);
        }
        Incoming::Event { .. } | Incoming::Other => {}
    }
}

/// Agrees the schema, starts listening and reads the nodes; then the
/// connection counts as up.
async fn hello(shared: Arc<Shared>, schema: u64) {
    if let Err(error) = shared.call(Command::SetApiSchema { schema_version: schema }).await {
        tracing::warn!(%error, schema, "Z-Wave JS refused the API schema");
        return;
    }
    let state = match shared.call(Command::StartListening {}).await {
        Ok(state) => state,
        Err(error) => {
            tracing::warn!(%error, "Z-Wave JS refused to start listening");
            return;
        }
    };
    let nodes = state.pointer("/state/nodes").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let locks: Vec<_> = nodes.iter().filter_map(lock_node).collect();
    let ids: Vec<u32> = locks.iter().map(|l| l.node_id).collect();
    {
        let mut known = guard(&shared.nodes);
        let before = std::mem::take(&mut *known);
        for mut lock in locks {
            lock.slots = before.get(&lock.node_id).and_then(|b| b.slots);
            known.insert(lock.node_id, lock);
        }
    }
    tracing::info!(locks = ids.len(), "Z-Wave JS is listening");
    for node_id in ids {
        read_slot_count(&shared, node_id).await;
    }
    shared.connected.store(true, Ordering::Release);
    shared.emit(DeviceEvent::Network { connected: true });
}

async fn read_slot_count(shared: &Shared, node_id: u32) {
    let value_id = ValueId::of(USER_CODE, "supportedUsers", None);
    let answer = shared.call(Command::GetValue { node_id, value_id }).await;
    let slots = answer.ok().and_then(|a| a.get("value").and_then(Value::as_u64)).and_then(|n| u16::try_from(n).ok());
    if let Some(node) = guard(&shared.nodes).get_mut(&node_id) {
        node.slots = slots.filter(|n| *n > 0);
    }
}

fn answered(shared: &Shared, answer: WireAnswer) {
    let Ok(id) = answer.message_id.parse::<u64>() else { return };
    let Some(reply) = guard(&shared.pending).remove(&id) else { return };
    let _ = reply.send(if answer.success { Answer::Ok(answer.result) } else { Answer::Failed(answer.failure()) });
}

fn happened(shared: &Arc<Shared>, event: NodeEvent) {
    match event {
        NodeEvent::Notification { node_id, cc_id, args } => {
            if cc_id != NOTIFICATION {
                return;
            }
            let Some(device_event) = messages::access_control_event(node_id, &args) else { return };
            if let DeviceEvent::DuplicateRefused { slot, .. } = device_event {
                guard(&shared.refused).insert((node_id, slot), ());
            }
            shared.emit(device_event);
        }
        NodeEvent::ValueUpdated { node_id, args } => {
            let changed = guard(&shared.nodes)
                .get_mut(&node_id)
                .and_then(|node| messages::apply_value(&mut node.state, &args, "newValue").then_some(node.state));
            if let Some(state) = changed {
                shared.emit(DeviceEvent::StateChanged { device: device(node_id), state });
            }
        }
        NodeEvent::Dead { node_id } | NodeEvent::Alive { node_id } => {
            let online = matches!(event, NodeEvent::Alive { .. });
            let changed = guard(&shared.nodes).get_mut(&node_id).is_some_and(|node| {
                let changed = node.online != online;
                node.online = online;
                changed
            });
            if changed {
                shared.emit(DeviceEvent::Online { device: device(node_id), online });
            }
        }
        NodeEvent::Ready { node_id, node_state } => {
            let Some(lock) = lock_node(&node_state) else { return };
            let mut known = guard(&shared.nodes);
            let slots = known.get(&node_id).and_then(|n| n.slots);
            known.insert(node_id, messages::Node { slots, ..lock });
            drop(known);
            let shared = shared.clone();
            tokio::spawn(async move {
                read_slot_count(&shared, node_id).await;
                shared.emit(DeviceEvent::Reinterviewed { device: device(node_id) });
            });
        }
        NodeEvent::Other => {}
    }
}
