//! Connections keyward keeps to services outside it that are not lock
//! networks themselves (the MQTT broker that Zigbee2MQTT, and later the
//! alarm panel and notifications, are reached through). Their state is
//! shown in `/readyz` and to the owner; adapters implement `Link`.

/// A connection whose state the owner is shown.
pub trait Link: Send + Sync {
    /// Its name in `/readyz` (`mqtt`).
    fn name(&self) -> &'static str;
    /// The owner's words for it ("MQTT broker").
    fn label(&self) -> String;
    fn connected(&self) -> bool;
    /// Why it is not connected, in words (never a secret).
    fn problem(&self) -> Option<String> {
        None
    }
}
