//! The connection task: connect, say hello, read, reconnect.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use keyward_app::devices::DeviceEvent;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::messages::{self, NOTIFICATION, USER_CODE, device, lock_node, value_id};
use crate::{Answer, SCHEMA_VERSION, Shared, guard};

const FIRST_RETRY: Duration = Duration::from_secs(1);
/// A reconnection attempt to a server on the local network costs nothing;
/// a long wait would leave the locks unsynced for longer than needed.
const LAST_RETRY: Duration = Duration::from_secs(5);
/// A connection that lasted this long was healthy: the next retry starts over.
const HEALTHY: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("{0}")]
    Socket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("the server closed the connection")]
    Closed,
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
    let (socket, _) = tokio_tungstenite::connect_async(shared.url.as_str()).await?;
    tracing::info!(url = %shared.url, "connected to Z-Wave JS");
    let (mut sink, mut stream) = socket.split();
    let (outgoing, mut queue) = mpsc::unbounded_channel::<String>();
    *guard(&shared.outgoing) = Some(outgoing);
    loop {
        tokio::select! {
            message = stream.next() => match message {
                Some(Ok(Message::Text(text))) => received(shared, text.as_str()),
                Some(Ok(Message::Ping(data))) => sink.send(Message::Pong(data)).await?,
                Some(Ok(Message::Close(_))) | None => return Err(SessionError::Closed),
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error.into()),
            },
            Some(text) = queue.recv() => sink.send(Message::Text(text.into())).await?,
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
    let Ok(message) = serde_json::from_str::<Value>(text) else {
        tracing::warn!("Z-Wave JS sent a message that is not JSON");
        return;
    };
    match message.get("type").and_then(Value::as_str) {
        Some("version") => {
            let offered = message.get("maxSchemaVersion").and_then(Value::as_u64).unwrap_or(0);
            tokio::spawn(hello(shared.clone(), offered.min(SCHEMA_VERSION)));
        }
        Some("result") => answered(shared, &message),
        Some("event") => {
            if let Some(event) = message.get("event") {
                happened(shared, event);
            }
        }
        _ => {}
    }
}

/// Agrees the schema, starts listening and reads the nodes; then the
/// connection counts as up.
async fn hello(shared: Arc<Shared>, schema: u64) {
    if let Err(error) = shared.call("set_api_schema", json!({"schemaVersion": schema})).await {
        tracing::warn!(%error, schema, "Z-Wave JS refused the API schema");
        return;
    }
    let state = match shared.call("start_listening", json!({})).await {
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
    let answer = shared
        .call("node.get_value", json!({"nodeId": node_id, "valueId": value_id(USER_CODE, "supportedUsers", None)}))
        .await;
    let slots = answer.ok().and_then(|a| a.get("value").and_then(Value::as_u64)).and_then(|n| u16::try_from(n).ok());
    if let Some(node) = guard(&shared.nodes).get_mut(&node_id) {
        node.slots = slots.filter(|n| *n > 0);
    }
}

fn answered(shared: &Shared, message: &Value) {
    let Some(id) = message.get("messageId").and_then(Value::as_str).and_then(|id| id.parse::<u64>().ok()) else {
        return;
    };
    let Some(reply) = guard(&shared.pending).remove(&id) else { return };
    let answer = if message.get("success").and_then(Value::as_bool) == Some(true) {
        Answer::Ok(message.get("result").cloned().unwrap_or(Value::Null))
    } else {
        let text = |key| message.get(key).and_then(Value::as_str).unwrap_or("");
        Answer::Failed {
            zwave_error: message.get("zwaveErrorCode").and_then(Value::as_u64),
            message: format!("{} {}", text("errorCode"), text("message")).trim().to_owned(),
        }
    };
    let _ = reply.send(answer);
}

fn happened(shared: &Arc<Shared>, event: &Value) {
    let name = event.get("event").and_then(Value::as_str).unwrap_or("");
    match event.get("source").and_then(Value::as_str) {
        Some("node") => {}
        Some("controller") => {
            if name == "node removed" {
                let id = event.pointer("/node/nodeId").and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok());
                if let Some(id) = id {
                    guard(&shared.nodes).remove(&id);
                }
            }
            return;
        }
        _ => return,
    }
    let Some(node_id) = event.get("nodeId").and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok()) else {
        return;
    };
    let args = event.get("args").cloned().unwrap_or(Value::Null);
    match name {
        "notification" => {
            if event.get("ccId").and_then(Value::as_u64) != Some(NOTIFICATION) {
                return;
            }
            let Some(device_event) = messages::access_control_event(node_id, &args) else { return };
            if let DeviceEvent::DuplicateRefused { slot, .. } = device_event {
                guard(&shared.refused).insert((node_id, slot), ());
            }
            shared.emit(device_event);
        }
        "value updated" | "value added" => {
            let changed = guard(&shared.nodes)
                .get_mut(&node_id)
                .and_then(|node| messages::apply_value(&mut node.state, &args, "newValue").then_some(node.state));
            if let Some(state) = changed {
                shared.emit(DeviceEvent::StateChanged { device: device(node_id), state });
            }
        }
        "dead" | "alive" => {
            let online = name == "alive";
            let changed = guard(&shared.nodes).get_mut(&node_id).is_some_and(|node| {
                let changed = node.online != online;
                node.online = online;
                changed
            });
            if changed {
                shared.emit(DeviceEvent::Online { device: device(node_id), online });
            }
        }
        "ready" => {
            let Some(lock) = event.get("nodeState").and_then(lock_node) else { return };
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
        _ => {}
    }
}
