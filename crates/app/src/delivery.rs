//! The delivery worker: sends what the outbox holds. Each channel delivers
//! its notifications in order, the oldest first, one at a time; a failure
//! holds that channel back (`notify::delivery_delay`) and never another
//! channel, nor the keypad path (which only writes the outbox). After the
//! delivery window a notification is marked failed and the channel goes on.
//! A restart resumes from the outbox: what a receiver acknowledged is marked
//! delivered and never sent again.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use keyward_core::channel::{Channel, ChannelKind};
use keyward_core::notify::{DELIVERY_WINDOW, delivery_delay};
use keyward_store::{BoxFuture, ChannelRecord, DeliveryState, DeliveryUpdate, NotifyStore, OutboxRecord};
use tokio::sync::Notify;
use zeroize::Zeroizing;

use crate::clock::Clock;

/// Why a delivery did not go through, in words without a secret (no URL
/// query, no token, no password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SendError(pub String);

/// Sends one kind of channel's notifications (an adapter: HTTP for
/// webhooks, SMTP, ntfy, MQTT).
pub trait Sender: Send + Sync {
    fn kind(&self) -> ChannelKind;

    /// Delivers `notification`; Ok once the receiver acknowledged it.
    fn send<'a>(
        &'a self,
        channel: &'a Channel,
        secret: Option<&'a [u8]>,
        notification: &'a OutboxRecord,
    ) -> BoxFuture<'a, Result<(), SendError>>;
}

/// How long one attempt may take before it counts as failed.
const ATTEMPT_TIMEOUT: jiff::SignedDuration = jiff::SignedDuration::from_secs(10);

/// Opens a channel's sealed signing secret.
pub(crate) type SecretOpener = Box<dyn Fn(&ChannelRecord) -> Option<Zeroizing<Vec<u8>>> + Send + Sync>;
/// Puts a notification given up after 24 hours in the activity log: the
/// notification, its channel, and the last error in words.
pub(crate) type GivenUp =
    Box<dyn Fn(OutboxRecord, String, String) -> keyward_store::BoxFuture<'static, ()> + Send + Sync>;
/// How often the outbox is looked at without a wake-up (a safety net).
const LOOK_EVERY: jiff::SignedDuration = jiff::SignedDuration::from_secs(30);

pub struct Deliveries {
    store: Arc<dyn NotifyStore>,
    clock: Arc<dyn Clock>,
    senders: Vec<Arc<dyn Sender>>,
    /// Wakes the worker: new notifications, a channel's attempt ended.
    wake: Arc<Notify>,
    /// Channels with an attempt under way.
    busy: Mutex<HashSet<String>>,
    /// Opens a channel's sealed secret.
    secret: SecretOpener,
    given_up: GivenUp,
    tasks: crate::tasks::Tasks,
}

fn jitter() -> f64 {
    let mut bytes = [0_u8; 4];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0)
}

impl Deliveries {
    pub(crate) fn new(
        store: Arc<dyn NotifyStore>,
        clock: Arc<dyn Clock>,
        senders: Vec<Arc<dyn Sender>>,
        wake: Arc<Notify>,
        secret: SecretOpener,
        given_up: GivenUp,
        tasks: crate::tasks::Tasks,
    ) -> Arc<Self> {
        Arc::new(Self { store, clock, senders, wake, busy: Mutex::new(HashSet::new()), secret, given_up, tasks })
    }

    /// Runs the worker until the process ends (or its `App` is stopped).
    pub(crate) fn start(self: &Arc<Self>) {
        let me = self.clone();
        self.tasks.spawn(async move { me.run().await });
    }

    async fn run(self: Arc<Self>) {
        loop {
            let woken = self.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let next = match self.dispatch().await {
                Ok(next) => next,
                Err(error) => {
                    tracing::error!(%error, "the outbox could not be read");
                    None
                }
            };
            let now = self.clock.now();
            let until = next.unwrap_or(now + LOOK_EVERY).min(now + LOOK_EVERY);
            tokio::select! {
                () = &mut woken => {}
                () = self.clock.sleep_until(until) => {}
            }
        }
    }

    /// Starts an attempt on every channel whose oldest notification is due;
    /// answers when the next one falls due.
    async fn dispatch(self: &Arc<Self>) -> Result<Option<Timestamp>, keyward_store::StoreError> {
        let heads = self.store.pending_notifications(1).await?;
        if heads.is_empty() {
            return Ok(None);
        }
        let channels: HashMap<String, ChannelRecord> =
            self.store.channels().await?.into_iter().map(|c| (c.channel.id.clone(), c)).collect();
        let now = self.clock.now();
        let mut next: Option<Timestamp> = None;
        for head in heads {
            if head.next_at > now {
                next = Some(next.map_or(head.next_at, |n| n.min(head.next_at)));
                continue;
            }
            let Some(channel) = channels.get(&head.channel_id).cloned() else { continue };
            if !self.busy.lock().map(|mut b| b.insert(head.channel_id)).unwrap_or(false) {
                continue;
            }
            let me = self.clone();
            self.tasks.spawn(async move {
                // Read again now that the channel is ours: the head read
                // above may predate an attempt that ended meanwhile.
                let fresh = me.store.pending_notifications(1).await.ok().and_then(|heads| {
                    heads.into_iter().find(|h| h.channel_id == channel.channel.id && h.next_at <= me.clock.now())
                });
                if let Some(head) = fresh {
                    me.attempt(&channel, head).await;
                }
                if let Ok(mut busy) = me.busy.lock() {
                    busy.remove(&channel.channel.id);
                }
                me.wake.notify_one();
            });
        }
        Ok(next)
    }

    async fn attempt(&self, record: &ChannelRecord, notification: OutboxRecord) {
        let channel = &record.channel;
        let kind = channel.target.kind();
        let outcome = match self.senders.iter().find(|s| s.kind() == kind) {
            None => Err(SendError(format!("keyward cannot send {} notifications yet", kind.as_str()))),
            Some(sender) => {
                let secret = (self.secret)(record);
                let sent = sender.send(channel, secret.as_deref().map(Vec::as_slice), &notification);
                let deadline = self.clock.now() + ATTEMPT_TIMEOUT;
                tokio::select! {
                    result = sent => result,
                    () = self.clock.sleep_until(deadline) => Err(SendError("no answer within 10 s".into())),
                }
            }
        };
        let now = self.clock.now();
        let attempts = notification.attempts.saturating_add(1);
        let mut failed = None;
        let update = match outcome {
            Ok(()) => DeliveryUpdate {
                id: notification.id.clone(),
                state: DeliveryState::Delivered,
                attempts,
                next_at: now,
                last_error: notification.last_error.clone(),
                delivered_at: Some(now),
            },
            Err(SendError(error)) => {
                let expired = now.duration_since(notification.created_at) >= DELIVERY_WINDOW;
                if expired {
                    tracing::warn!(channel = channel.id.as_str(), notification = notification.id.as_str(), %error, "a notification could not be delivered for 24 hours: given up");
                    failed = Some(error.clone());
                } else {
                    tracing::info!(channel = channel.id.as_str(), attempts, %error, "a delivery failed; tried again later");
                }
                DeliveryUpdate {
                    id: notification.id.clone(),
                    state: if expired { DeliveryState::Failed } else { DeliveryState::Pending },
                    attempts,
                    next_at: now + delivery_delay(attempts, jitter()),
                    last_error: Some(error),
                    delivered_at: None,
                }
            }
        };
        if let Err(error) = self.store.update_delivery(update).await {
            tracing::error!(%error, "a delivery's outcome could not be stored; it will be sent again");
            return;
        }
        if let Some(error) = failed {
            (self.given_up)(notification, channel.name.as_str().to_owned(), error).await;
        }
    }
}
