//! A home's alert channels: added, listed and removed. A webhook channel
//! gets a signing secret, returned once and kept sealed by the vault.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use keyward_core::{ActivityKind, Actor, Event, Name};
use std::sync::OnceLock;

use keyward_core::channel::{Channel, ChannelKind, ChannelTarget, HttpUrl};

/// How soon a running hub takes in channels changed by `keyward channel`.
pub const RELOAD_EVERY: jiff::SignedDuration = jiff::SignedDuration::from_secs(5);
use keyward_core::email::EmailAddress;
use keyward_core::notify::QuietHours;
use keyward_store::{ChannelRecord, NotifyStore, StoreError, Vault};
use zeroize::Zeroizing;

use crate::AppError;
use crate::clock::Clock;
use crate::recorder::Recorder;
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
    /// An ntfy access token (sealed, never shown again).
    pub token: Option<Zeroizing<String>>,
}

/// A change to a channel: `None` keeps a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ChannelChange {
    pub name: Option<String>,
    /// A webhook's or ntfy channel's new address.
    pub url: Option<HttpUrl>,
    /// An email channel's new recipient.
    pub to: Option<EmailAddress>,
    /// An MQTT channel's new topic (checked).
    pub topic: Option<String>,
    pub emergency: Option<bool>,
    pub quiet: Option<Option<QuietHours>>,
    /// An ntfy channel's token: a new one, or `Some(None)` to go without.
    pub token: Option<Option<Zeroizing<String>>>,
}

/// A channel as the owner sees it.
#[derive(Debug, Clone)]
pub struct ChannelView {
    pub channel: Channel,
    pub has_token: bool,
}

/// What this hub can deliver, known once its senders are started.
#[derive(Debug, Clone)]
pub struct Deliverable {
    pub kinds: Vec<ChannelKind>,
    /// `[notify] allow_private_targets`: receivers on the local network or
    /// the hub itself (true by default: normal for self-hosters).
    pub allow_private_targets: bool,
    /// `[mqtt] alerts_prefix`: a home's MQTT alerts go to
    /// `<prefix>/<home id>/alerts` and below.
    pub mqtt_alerts_prefix: String,
}

#[derive(Clone)]
pub struct Channels {
    registry: Arc<Registry>,
    store: Arc<dyn NotifyStore>,
    vault: Arc<Vault>,
    clock: Arc<dyn Clock>,
    /// Writes the owner's changes to the activity log.
    recorder: Arc<Recorder>,
    /// Wakes the delivery worker.
    outbox: Arc<tokio::sync::Notify>,
    /// Set when deliveries start; until then any channel may be added.
    deliverable: Arc<OnceLock<Deliverable>>,
    /// Counts this process's own channel writes: a reload that read the
    /// store before one of them is not applied (it could undo it).
    changes: Arc<AtomicU64>,
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
        recorder: Arc<Recorder>,
        outbox: Arc<tokio::sync::Notify>,
    ) -> Self {
        Self {
            registry,
            store,
            vault,
            clock,
            recorder,
            outbox,
            deliverable: Arc::new(OnceLock::new()),
            changes: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Logs an owner's change to a channel, once it is stored. The change
    /// and its entry are two writes: a crash between them loses the entry,
    /// never claims a change that was not made.
    async fn audit(
        &self,
        state: &crate::registry::HomeState,
        kind: ActivityKind,
        detail: String,
        actor: Actor,
    ) -> Result<(), AppError> {
        let now = self.clock.now();
        let event = Event::owner_action(kind, detail, actor, now);
        self.recorder.record_event(state, event, now).await?;
        Ok(())
    }

    pub(crate) fn set_deliverable(&self, deliverable: Deliverable) {
        if self.deliverable.set(deliverable).is_err() {
            tracing::warn!("deliveries were started twice; the first senders stay");
        }
    }

    /// Refuses a target this hub cannot deliver to, or may not.
    fn check_target(&self, home_id: &str, target: &ChannelTarget) -> Result<(), AppError> {
        if let Some(deliverable) = self.deliverable.get() {
            self.check_deliverable(deliverable, target)?;
        }
        if let ChannelTarget::Mqtt { topic } = target {
            let prefix = self
                .deliverable
                .get()
                .map_or(keyward_core::channel::DEFAULT_ALERTS_PREFIX, |d| d.mqtt_alerts_prefix.as_str());
            if !ChannelTarget::mqtt_topic_of_home(topic, prefix, home_id) {
                let root = keyward_core::channel::alerts_root(prefix, home_id);
                return Err(AppError::ChannelInvalid(format!(
                    "this home's MQTT alerts go to {root} or a topic below it, such as {root}/phone"
                )));
            }
        }
        Ok(())
    }

    fn check_deliverable(&self, deliverable: &Deliverable, target: &ChannelTarget) -> Result<(), AppError> {
        let kind = target.kind();
        if !deliverable.kinds.contains(&kind) {
            return Err(AppError::ChannelUnavailable(match kind {
                ChannelKind::Email => "this hub has no mail server set up: add [smtp] to its configuration".into(),
                ChannelKind::Mqtt => "this hub has no MQTT broker set up: add [mqtt] to its configuration".into(),
                other => format!("this hub cannot send {} channels", other.as_str()),
            }));
        }
        let private = match target {
            ChannelTarget::Webhook { url } | ChannelTarget::Ntfy { url } => url.private_literal(),
            ChannelTarget::Email { .. } | ChannelTarget::Mqtt { .. } => false,
        };
        if private && !deliverable.allow_private_targets {
            return Err(AppError::ChannelUnavailable(
                "this hub does not send to private or local addresses ([notify] allow_private_targets = false)".into(),
            ));
        }
        Ok(())
    }

    /// Seals a channel's secret (a webhook's signing key, an ntfy token) as
    /// hex text: the vault seals strings; hex keeps any bytes exact.
    fn seal(&self, home_id: &str, channel_id: &str, bytes: &[u8]) -> Vec<u8> {
        let hex = Zeroizing::new(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>());
        self.vault.seal(home_id, &sealed_as(channel_id), &hex)
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
        let names =
            keyward_core::notify::Names { user: None, device: None, home: state.home.name.as_str(), detail: None };
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
        actor: Actor,
    ) -> Result<(Channel, Option<Zeroizing<Vec<u8>>>), AppError> {
        let home = self.registry.home(home_id)?;
        let mut state = self.recorder.lock(&home).await?;
        let name = Name::parse(&input.name)?;
        if state.channels.iter().any(|c| c.name == name) {
            return Err(AppError::ChannelNameTaken);
        }
        self.check_target(home_id, &input.target)?;
        let id = new_id();
        let secret = match input.target {
            ChannelTarget::Webhook { .. } => {
                let mut bytes = Zeroizing::new(vec![0_u8; SECRET_BYTES]);
                getrandom::fill(&mut bytes).map_err(|_| AppError::Poisoned)?;
                Some(bytes)
            }
            _ => None,
        };
        let token = match (&input.target, input.token) {
            (ChannelTarget::Ntfy { .. }, token) => token,
            (_, Some(_)) => return Err(AppError::ChannelInvalid("only an ntfy channel takes a token".into())),
            (_, None) => None,
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
        let sealed = match (&secret, &token) {
            (Some(bytes), _) => Some(self.seal(home_id, &id, bytes)),
            (None, Some(token)) => Some(self.seal(home_id, &id, token.as_bytes())),
            (None, None) => None,
        };
        let record =
            ChannelRecord { channel: channel.clone(), secret_sealed: sealed, created_at: now, updated_at: now };
        match self.store.put_channel(record).await {
            Err(StoreError::Conflict(keyward_store::Key::ChannelName)) => return Err(AppError::ChannelNameTaken),
            other => other?,
        }
        // Still under the home's lock: a reload that read the store before
        // this write sees the count moved and leaves memory alone.
        self.changes.fetch_add(1, Ordering::AcqRel);
        state.channels.push(channel.clone());
        self.audit(&state, ActivityKind::ChannelAdded, channel.name.as_str().to_owned(), actor).await?;
        Ok((channel, secret))
    }

    /// The home's channels, each with whether it holds a token (an ntfy
    /// channel's; a webhook's signing secret is not a token).
    pub async fn list(&self, home_id: &str) -> Result<Vec<ChannelView>, AppError> {
        let home = self.registry.home(home_id)?;
        let state = home.lock().await;
        let with_token: std::collections::HashSet<String> = self
            .store
            .channels()
            .await?
            .into_iter()
            .filter(|r| r.channel.home_id == home_id && r.channel.target.kind() == ChannelKind::Ntfy)
            .filter(|r| r.secret_sealed.is_some())
            .map(|r| r.channel.id)
            .collect();
        Ok(state
            .channels
            .iter()
            .map(|c| ChannelView { has_token: with_token.contains(&c.id), channel: c.clone() })
            .collect())
    }

    /// Changes a channel. Its kind stays: a webhook's URL may move, it does
    /// not become an email address. A webhook keeps its signing secret.
    pub async fn update(
        &self,
        home_id: &str,
        channel_id: &str,
        change: ChannelChange,
        actor: Actor,
    ) -> Result<ChannelView, AppError> {
        let home = self.registry.home(home_id)?;
        let mut state = self.recorder.lock(&home).await?;
        let Some(index) = state.channels.iter().position(|c| c.id == channel_id) else {
            return Err(AppError::ChannelNotFound);
        };
        let mut channel = state.channels[index].clone();
        let before = channel.clone();
        let token_changed = change.token.is_some();
        if let Some(name) = change.name {
            let name = Name::parse(&name)?;
            if state.channels.iter().any(|c| c.id != channel_id && c.name == name) {
                return Err(AppError::ChannelNameTaken);
            }
            channel.name = name;
        }
        let kind = channel.target.kind();
        let target = match (change.url, change.to, change.topic, &channel.target) {
            (None, None, None, _) => None,
            (Some(url), None, None, ChannelTarget::Webhook { .. }) => Some(ChannelTarget::Webhook { url }),
            (Some(url), None, None, ChannelTarget::Ntfy { .. }) => Some(ChannelTarget::Ntfy { url }),
            (None, Some(to), None, ChannelTarget::Email { .. }) => Some(ChannelTarget::Email { to }),
            (None, None, Some(topic), ChannelTarget::Mqtt { .. }) => Some(ChannelTarget::Mqtt { topic }),
            _ => return Err(AppError::ChannelKindFixed(kind.as_str())),
        };
        if let Some(target) = target {
            self.check_target(&channel.home_id, &target)?;
            channel.target = target;
        }
        if let Some(emergency) = change.emergency {
            channel.emergency = emergency;
        }
        if let Some(quiet) = change.quiet {
            channel.quiet = quiet;
        }
        let stored = self
            .store
            .channels()
            .await?
            .into_iter()
            .find(|r| r.channel.id == channel_id && r.channel.home_id == home_id)
            .ok_or(AppError::ChannelNotFound)?;
        let secret_sealed = match change.token {
            None => stored.secret_sealed,
            Some(_) if kind != ChannelKind::Ntfy => return Err(AppError::ChannelKindFixed(kind.as_str())),
            Some(None) => None,
            Some(Some(token)) => Some(self.seal(home_id, channel_id, token.as_bytes())),
        };
        let record = ChannelRecord {
            channel: channel.clone(),
            secret_sealed,
            created_at: stored.created_at,
            updated_at: self.clock.now(),
        };
        match self.store.put_channel(record.clone()).await {
            Err(StoreError::Conflict(keyward_store::Key::ChannelName)) => return Err(AppError::ChannelNameTaken),
            other => other?,
        }
        self.changes.fetch_add(1, Ordering::AcqRel);
        state.channels[index] = channel.clone();
        let changed = [
            (channel.name != before.name, "name"),
            (channel.target != before.target, channel.target.kind().setting()),
            (channel.emergency != before.emergency, "emergency"),
            (channel.quiet != before.quiet, "quiet"),
            (token_changed, "token"),
        ]
        .into_iter()
        .filter_map(|(differs, field)| differs.then_some(field))
        .collect::<Vec<_>>()
        .join(", ");
        let detail = format!("{}: {}", channel.name.as_str(), if changed.is_empty() { "nothing" } else { &changed });
        self.audit(&state, ActivityKind::ChannelChanged, detail, actor).await?;
        Ok(ChannelView { has_token: kind == ChannelKind::Ntfy && record.secret_sealed.is_some(), channel })
    }

    pub async fn delete(&self, home_id: &str, channel_id: &str, actor: Actor) -> Result<(), AppError> {
        let home = self.registry.home(home_id)?;
        let mut state = self.recorder.lock(&home).await?;
        let Some(channel) = state.channels.iter().find(|c| c.id == channel_id) else {
            return Err(AppError::ChannelNotFound);
        };
        let name = channel.name.as_str().to_owned();
        self.store.delete_channel(home_id.to_owned(), channel_id.to_owned()).await?;
        self.changes.fetch_add(1, Ordering::AcqRel);
        state.channels.retain(|c| c.id != channel_id);
        self.audit(&state, ActivityKind::ChannelDeleted, name, actor).await?;
        Ok(())
    }

    /// Puts a notification given up after 24 hours in the activity log, for
    /// the owner to see beside what caused it.
    pub(crate) async fn log_given_up(&self, notification: keyward_store::OutboxRecord, channel: String, error: String) {
        let Ok(home) = self.registry.home(&notification.home_id) else { return };
        let Ok(state) = self.recorder.lock(&home).await else { return };
        let now = self.clock.now();
        let event = Event {
            // Shown only to those who may see duress (the API hides it from others).
            duress: notification.kind == keyward_core::notify::AlertKind::Duress,
            detail: Some(format!("{channel}: \"{}\" ({error})", notification.title)),
            ..Event::bare(ActivityKind::DeliveryFailed, now)
        };
        if let Err(error) = self.recorder.record_event(&state, event, now).await {
            tracing::error!(%error, "a given-up notification could not be logged");
        }
    }

    /// Takes in the channels another process (`keyward channel …`) added,
    /// changed or removed: each home's list is replaced when the store's
    /// differs from memory.
    pub(crate) async fn reload(&self) -> Result<(), AppError> {
        let before = self.changes.load(Ordering::Acquire);
        let mut stored: std::collections::HashMap<String, Vec<Channel>> = std::collections::HashMap::new();
        for record in self.store.channels().await? {
            stored.entry(record.channel.home_id.clone()).or_default().push(record.channel);
        }
        for home in self.registry.all()? {
            let mut state = home.lock().await;
            if self.changes.load(Ordering::Acquire) != before {
                // Changed here meanwhile: the next reload reads it.
                return Ok(());
            }
            // The store's order (oldest first) is the order memory keeps too.
            let fresh = stored.remove(state.id()).unwrap_or_default();
            if fresh != state.channels {
                tracing::info!(home = state.id(), channels = fresh.len(), "alert channels changed elsewhere; taken in");
                state.channels = fresh;
            }
        }
        Ok(())
    }

    /// Reloads the channels every `every`, for changes made by the CLI.
    pub(crate) fn start_reloading(&self, every: jiff::SignedDuration, tasks: &crate::tasks::Tasks) {
        let me = self.clone();
        tasks.spawn(async move {
            loop {
                let next = me.clock.now() + every;
                me.clock.sleep_until(next).await;
                if let Err(error) = me.reload().await {
                    tracing::warn!(%error, "alert channels could not be read again");
                }
            }
        });
    }

    /// A channel's latest notifications and what became of each, newest first.
    pub async fn deliveries(
        &self,
        home_id: &str,
        channel_id: &str,
        limit: u32,
    ) -> Result<Vec<crate::Delivery>, AppError> {
        let home = self.registry.home(home_id)?;
        if !home.lock().await.channels.iter().any(|c| c.id == channel_id) {
            return Err(AppError::ChannelNotFound);
        }
        Ok(self.store.deliveries(channel_id.to_owned(), limit.min(100)).await?)
    }

    /// A channel's secret, for its deliveries: a webhook's signing key, an
    /// ntfy channel's token.
    pub fn secret(&self, record: &ChannelRecord) -> Option<Zeroizing<Vec<u8>>> {
        let sealed = record.secret_sealed.as_ref()?;
        let c = &record.channel;
        let hex = self.vault.unseal(&c.home_id, &sealed_as(&c.id), sealed).ok()?;
        let bytes: Option<Vec<u8>> =
            (0..hex.len()).step_by(2).map(|i| hex.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect();
        bytes.map(Zeroizing::new)
    }
}
