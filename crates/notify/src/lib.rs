//! Keyward's notification channels, as adapters of the delivery worker's
//! `Sender` port: each turns a notification into what its receiver expects.
//! `webhook` (Standard Webhooks), `ntfy` (push), `email` (SMTP) and `mqtt`.

pub mod email;
pub mod http;
pub mod mqtt;
pub mod ntfy;
pub mod webhook;

/// The JSON a webhook receiver gets, as Standard Webhooks shape it:
/// `{"type", "timestamp", "data"}`, `data` the event in words and ids, never
/// a code (the notification's id travels as the `webhook-id` header).
pub(crate) fn payload(notification: &keyward_store::OutboxRecord) -> serde_json::Value {
    let data: serde_json::Value = serde_json::from_str(&notification.data).unwrap_or(serde_json::Value::Null);
    serde_json::json!({
        "type": notification.kind.as_str(),
        "timestamp": notification.created_at.to_string(),
        "data": data,
    })
}
