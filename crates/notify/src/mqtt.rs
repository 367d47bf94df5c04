//! Alerts as JSON (`{"id", "type", "timestamp", "data"}`) on an MQTT topic of keyward's broker, for Home Assistant
//! automations and the like: QoS 1, never retained (an alert is an event,
//! not a state a newcomer should find). Counts as delivered once handed to a
//! connected broker connection; while the broker is away the outbox keeps it.

use keyward_app::delivery::{SendError, Sender};
use keyward_core::channel::{Channel, ChannelKind, ChannelTarget};
use keyward_mqtt::Mqtt;
use keyward_store::{BoxFuture, OutboxRecord};

pub struct MqttSender {
    mqtt: Mqtt,
    /// The installation's alert prefix: a channel publishes only under its
    /// home's `<prefix>/<home id>/alerts` (checked again here for channels
    /// stored before that rule).
    prefix: String,
}

impl MqttSender {
    pub fn new(mqtt: Mqtt, prefix: &str) -> Self {
        Self { mqtt, prefix: prefix.to_owned() }
    }
}

impl Sender for MqttSender {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Mqtt
    }

    fn send<'a>(
        &'a self,
        channel: &'a Channel,
        _secret: Option<&'a [u8]>,
        notification: &'a OutboxRecord,
    ) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let ChannelTarget::Mqtt { topic } = &channel.target else {
                return Err(SendError("not an MQTT channel".into()));
            };
            if !ChannelTarget::mqtt_topic_of_home(topic, &self.prefix, &channel.home_id) {
                let root = keyward_core::channel::alerts_root(&self.prefix, &channel.home_id);
                return Err(SendError(format!("the channel's topic is not under {root}: change it to one that is")));
            }
            if !self.mqtt.connected() {
                return Err(SendError("the MQTT broker is not connected".into()));
            }
            // The webhook's JSON with the notification's id (the same on every
            // retry), since MQTT has no header to carry it.
            let mut payload = crate::payload(notification);
            payload["id"] = serde_json::Value::String(notification.id.clone());
            let payload = payload.to_string().into_bytes();
            self.mqtt.publish(topic, payload).await.map_err(|_| SendError("the MQTT connection closed".into()))
        })
    }
}
