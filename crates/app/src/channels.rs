//! A home's alert channels: added, listed and removed. A webhook channel
//! gets a signing secret, returned once and kept sealed by the vault.

use std::sync::Arc;

use keyward_core::Name;
use keyward_core::channel::{Channel, ChannelTarget};
use keyward_core::notify::QuietHours;
use keyward_store::{ChannelRecord, NotifyStore, StoreError, Vault};
use zeroize::Zeroizing;

use crate::AppError;
use crate::clock::Clock;
use crate::registry::Registry;
use crate::secrets::new_id;

/// The bytes of a webhook signing secret (192 bits).
const SECRET_BYTES: usize = 24;

/// A channel as the owner asks for it.
#[derive(Debug, Clone)]
pub struct ChannelInput {
    pub name: String,
    pub target: ChannelTarget,
    pub emergency: bool,
    pub quiet: Option<QuietHours>,
}

#[derive(Clone)]
pub struct Channels {
    registry: Arc<Registry>,
    store: Arc<dyn NotifyStore>,
    vault: Arc<Vault>,
    clock: Arc<dyn Clock>,
    /// Wakes the delivery worker.
    outbox: Arc<tokio::sync::Notify>,
}

/// The vault's associated data for a channel's secret: apart from users' codes.
fn sealed_as(channel_id: &str) -> String {
    format!("channel:{channel_id}")
}

impl Channels {
    pub(crate) fn new(
        registry: Arc<Registry>,
        store: Arc<dyn NotifyStore>,
        vault: Arc<Vault>,
        clock: Arc<dyn Clock>,
        outbox: Arc<tokio::sync::Notify>,
    ) -> Self {
        Self { registry, store, vault, clock, outbox }
    }

    pub(crate) fn store(&self) -> Arc<dyn NotifyStore> {
        self.store.clone()
    }

    pub(crate) fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// Queues a test message on a channel.
    pub async fn test(&self, home_id: &str, channel_id: &str) -> Result<(), AppError> {
        let home = self.registry.home(home_id)?;
        let state = home.lock().await;
        if !state.channels.iter().any(|c| c.id == channel_id) {
            return Err(AppError::ChannelNotFound);
        }
        let now = self.clock.now();
        let kind = keyward_core::notify::AlertKind::Test;
        let names = keyward_core::notify::Names { user: None, device: None, home: state.home.name.as_str() };
        let message = keyward_core::notify::message(kind, names, state.home.zone.tz().to_datetime(now));
        let id = new_id();
        let data = serde_json::json!({
            "event_id": id,
            "home": {"id": home_id, "name": state.home.name.as_str()},
            "at": now.to_string(),
            "title": message.title,
            "message": message.body,
        });
        let test = keyward_store::OutboxRecord {
            id: id.clone(),
            home_id: home_id.to_owned(),
            channel_id: channel_id.to_owned(),
            event_id: id,
            kind,
            created_at: now,
            title: message.title,
            body: message.body,
            data: data.to_string(),
            state: keyward_store::DeliveryState::Pending,
            attempts: 0,
            next_at: now,
            last_error: None,
            delivered_at: None,
        };
        self.store.enqueue(vec![test]).await?;
        self.outbox.notify_one();
        Ok(())
    }

    /// Adds a channel; a webhook's new signing secret comes back with it,
    /// the only time it is shown.
    pub async fn create(
        &self,
        home_id: &str,
        input: ChannelInput,
    ) -> Result<(Channel, Option<Zeroizing<Vec<u8>>>), AppError> {
        let home = self.registry.home(home_id)?;
        let mut state = home.lock().await;
        let name = Name::parse(&input.name)?;
        if state.channels.iter().any(|c| c.name == name) {
            return Err(AppError::ChannelNameTaken);
        }
        let id = new_id();
        let secret = match input.target {
            ChannelTarget::Webhook { .. } => {
                let mut bytes = Zeroizing::new(vec![0_u8; SECRET_BYTES]);
                getrandom::fill(&mut bytes).map_err(|_| AppError::Poisoned)?;
                Some(bytes)
            }
            _ => None,
        };
        let channel = Channel {
            id: id.clone(),
            home_id: home_id.to_owned(),
            name,
            target: input.target,
            emergency: input.emergency,
            quiet: input.quiet,
        };
        let now = self.clock.now();
        // Sealed as text: the vault seals strings; hex keeps the bytes exact.
        let sealed = secret.as_ref().map(|bytes| {
            let hex = Zeroizing::new(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>());
            self.vault.seal(home_id, &sealed_as(&id), &hex)
        });
        let record =
            ChannelRecord { channel: channel.clone(), secret_sealed: sealed, created_at: now, updated_at: now };
        match self.store.put_channel(record).await {
            Err(StoreError::Conflict) => return Err(AppError::ChannelNameTaken),
            other => other?,
        }
        state.channels.push(channel.clone());
        Ok((channel, secret))
    }

    pub async fn list(&self, home_id: &str) -> Result<Vec<Channel>, AppError> {
        let home = self.registry.home(home_id)?;
        let state = home.lock().await;
        Ok(state.channels.clone())
    }

    pub async fn delete(&self, home_id: &str, channel_id: &str) -> Result<(), AppError> {
        let home = self.registry.home(home_id)?;
        let mut state = home.lock().await;
        if !state.channels.iter().any(|c| c.id == channel_id) {
            return Err(AppError::ChannelNotFound);
        }
        self.store.delete_channel(home_id.to_owned(), channel_id.to_owned()).await?;
        state.channels.retain(|c| c.id != channel_id);
        Ok(())
    }

    /// A webhook channel's signing secret, for its deliveries.
    pub fn secret(&self, record: &ChannelRecord) -> Option<Zeroizing<Vec<u8>>> {
        let sealed = record.secret_sealed.as_ref()?;
        let c = &record.channel;
        let hex = self.vault.unseal(&c.home_id, &sealed_as(&c.id), sealed).ok()?;
        let bytes: Option<Vec<u8>> =
            (0..hex.len()).step_by(2).map(|i| hex.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect();
        bytes.map(Zeroizing::new)
    }
}
