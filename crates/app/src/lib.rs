//! Keyward's use cases, shared by every adapter (the REST API, the web UI,
//! the lock networks, the alert senders), split by concern:
//!
//! - [`Homes`]: homes and their locks (removals that empty the device first);
//! - [`Users`]: users and their codes;
//! - [`Access`]: the decision every device's code takes;
//! - [`Activity`]: the log, and following it live;
//! - [`LockSync`]: each user's code in each lock's memory exactly while it
//!   may be used, and the locks' reports into the log;
//! - [`Channels`] and `delivery`: alert channels and the outbox;
//! - [`Owners`]: owner accounts and sessions for the web UI;
//! - [`Tokens`]: API tokens.
//!
//! Storage and time are handed in: the services talk to the storage traits
//! of `keyward-store` (never to SQL) and read time from a [`Clock`] (never
//! from the system: clippy.toml forbids it here). Homes live in memory,
//! mirrored durably in the store; everything an event changes is written
//! through one recording path.

mod access;
mod activity;
mod alerts;
mod channels;
pub mod clock;
pub mod delivery;
pub mod devices;
mod error;
pub mod hashing;
mod homes;
pub mod links;
mod no_show;
pub mod owners;
mod panel;
mod recorder;
mod registry;
mod retention;
pub mod secrets;
mod sensors;
pub mod shares;
mod sirens;
mod sync;
mod tasks;
mod tokens;
mod users;

use std::sync::Arc;

use keyward_core::{Name, ZoneName};
use keyward_store::{Store, Vault};

pub use access::{Access, AccessOutcome, PreviewSubject};
pub use activity::{Activity, ActivityPage, ActivityQuery, QueryError};
pub use channels::{ChannelChange, ChannelInput, ChannelView, Channels, Deliverable, RELOAD_EVERY};
pub use clock::{Clock, ManualClock};
pub use error::AppError;
pub use homes::{CodeLeft, DeviceRequest, HomePatch, HomeView, Homes, LockView, RemovalView, Removed, left_words};
/// What storage fails with (`AppError::Store`).
pub use keyward_store::StoreError;
/// A notification on a channel and what became of it, as the outbox keeps it.
pub use keyward_store::{DeliveryState, OutboxRecord as Delivery};
pub use owners::Owners;
pub use panel::{PanelCommand, PanelView, Panels};
pub use registry::PANEL;
pub use sensors::{SensorInput, SensorView};
pub use sirens::SirenView;
pub use sync::{KeypadLimitView, LeftCode, LockCodeView, LockOptions, LockSync, SlotView, SyncSignal};
pub use tokens::{TokenInfo, TokenView, Tokens};
pub use users::{UserInput, UserPatch, UserView, Users};

use recorder::Recorder;
use registry::Registry;

/// Every service, wired to one store, one vault and one clock.
pub struct App {
    pub homes: Homes,
    pub users: Users,
    pub access: Access,
    pub activity: Activity,
    pub owners: Owners,
    pub tokens: Tokens,
    pub locks: Arc<LockSync>,
    pub channels: Channels,
    pub shares: shares::Shares,
    /// The homes' alarm panels.
    pub panels: Arc<panel::Panels>,
    /// Connections outside the lock networks (an MQTT broker), for their state.
    pub links: Vec<Arc<dyn links::Link>>,
    /// Wakes the delivery worker.
    outbox: Arc<tokio::sync::Notify>,
    /// Every background task, for `stop`.
    tasks: tasks::Tasks,
}

impl App {
    /// Loads every home into memory. On a store with no home yet, creates the
    /// first one, "Home", in `first_home_zone`.
    pub async fn start(
        store: Arc<dyn Store>,
        vault: Arc<Vault>,
        clock: Arc<dyn Clock>,
        first_home_zone: &ZoneName,
        locks: LockOptions,
    ) -> Result<Self, AppError> {
        let mut snapshot = store.load().await?;
        if snapshot.homes.is_empty() {
            let name = Name::parse("Home")?;
            let home = homes::new_home(name, first_home_zone.clone(), clock.now());
            store.put_home(home.clone()).await?;
            tracing::info!(timezone = first_home_zone.as_str(), "created the first home");
            snapshot.homes.push(home);
        }
        let slots = std::mem::take(&mut snapshot.slots);
        let registry = registry_with_channels(snapshot, store.as_ref(), &vault).await?;
        let outbox = Arc::new(tokio::sync::Notify::new());
        let recorder = Arc::new(Recorder::new(store.clone(), outbox.clone()));
        let signal = SyncSignal::new();
        let tasks = tasks::Tasks::default();
        let locks = Arc::new(LockSync::new(
            registry.clone(),
            recorder.clone(),
            signal.clone(),
            vault.clone(),
            store.clone(),
            clock.clone(),
            locks,
            slots,
            tasks.clone(),
        ));
        locks.start();
        let panels = panel::Panels::new(registry.clone(), recorder.clone(), clock.clone(), store.clone());
        panels.start(&tasks);
        no_show::NoShows::start(registry.clone(), store.clone(), recorder.clone(), clock.clone(), &tasks);
        let channels = Channels::new(
            registry.clone(),
            store.clone(),
            vault.clone(),
            clock.clone(),
            recorder.clone(),
            outbox.clone(),
        );
        channels.start_reloading(channels::RELOAD_EVERY, &tasks);
        Ok(Self {
            homes: Homes::new(
                registry.clone(),
                store.clone(),
                clock.clone(),
                signal.clone(),
                locks.clone(),
                recorder.clone(),
            ),
            users: Users::new(registry.clone(), vault.clone(), recorder.clone(), clock.clone(), signal),
            access: Access::new(
                registry.clone(),
                vault.clone(),
                recorder.clone(),
                clock.clone(),
                locks.clone(),
                panels.clone(),
            ),
            panels,
            channels,
            shares: shares::Shares::new(
                registry.clone(),
                store.clone(),
                vault.clone(),
                recorder.clone(),
                clock.clone(),
            ),
            outbox,
            activity: Activity::new(registry, store.clone(), recorder, vault),
            owners: Owners::new(store.clone(), clock.clone()),
            tokens: Tokens::new(store.clone(), store, clock),
            links: Vec::new(),
            locks,
            tasks,
        })
    }

    /// Reads the sensors of these networks into the homes' panels.
    pub fn follow_sensors(&self, networks: &[Arc<dyn devices::SensorNetwork>]) {
        self.panels.follow(networks, &self.tasks);
    }

    /// The panels sound their sirens on these networks.
    pub fn attach_sirens(&self, networks: &[Arc<dyn devices::SirenNetwork>]) {
        self.panels.attach_sirens(networks);
    }

    /// Stops every background task of this `App` (lock workers, deliveries,
    /// the no-show watch, reloads, retention) as a crash would: a hub that
    /// must reload from the store stops the old `App` before it starts a
    /// new one, so that no worker acts on old memory. Requests still made
    /// to it are answered from its old memory: stop serving it first.
    pub fn stop(&self) {
        self.tasks.stop();
    }

    /// The channels use case for a command run beside a hub (`keyward
    /// channel …`): the homes read from the store, no worker started. Its
    /// changes reach a running hub within `channels::RELOAD_EVERY`.
    pub async fn channels_for_command(
        store: Arc<dyn Store>,
        vault: Arc<Vault>,
        clock: Arc<dyn Clock>,
        deliverable: Deliverable,
    ) -> Result<Channels, AppError> {
        let registry = registry_with_channels(store.load().await?, store.as_ref(), &vault).await?;
        let outbox = Arc::new(tokio::sync::Notify::new());
        let recorder = Arc::new(Recorder::new(store.clone(), outbox.clone()));
        let channels = Channels::new(registry, store, vault, clock, recorder, outbox);
        channels.set_deliverable(deliverable);
        Ok(channels)
    }

    /// The hub's clock now: for pages that say "now", "today", "next".
    pub fn now(&self) -> jiff::Timestamp {
        self.channels.clock().now()
    }

    /// Keeps the activity log (and finished notifications) for `days`, then
    /// prunes it, hourly and in small batches; `0` keeps everything.
    pub fn start_retention(&self, store: Arc<dyn keyward_store::ActivityStore>, days: u32) {
        if days > 0 {
            let keep = jiff::SignedDuration::from_hours(24 * i64::from(days));
            retention::start(store, self.channels.clock(), keep, &self.tasks);
        }
    }

    /// Starts delivering the outbox through these senders (one per kind of
    /// channel); from now on a channel of a kind without a sender cannot be
    /// added (one already stored is retried, and after 24 hours given up).
    pub fn start_deliveries(
        &self,
        senders: Vec<Arc<dyn delivery::Sender>>,
        allow_private_targets: bool,
        mqtt_alerts_prefix: &str,
    ) {
        self.channels.set_deliverable(Deliverable {
            kinds: senders.iter().map(|s| s.kind()).collect(),
            allow_private_targets,
            mqtt_alerts_prefix: mqtt_alerts_prefix.to_owned(),
        });
        let channels = self.channels.clone();
        let logger = self.channels.clone();
        let deliveries = delivery::Deliveries::new(
            self.channels.store(),
            self.channels.clock(),
            senders,
            self.outbox.clone(),
            Box::new(move |record| channels.secret(record)),
            Box::new(move |notification, channel, error| {
                let logger = logger.clone();
                Box::pin(async move { logger.log_given_up(notification, channel, error).await })
            }),
            self.tasks.clone(),
        );
        deliveries.start();
    }
}

/// The homes of a snapshot in memory, each with its alert channels.
async fn registry_with_channels(
    snapshot: keyward_store::Snapshot,
    store: &dyn Store,
    vault: &Vault,
) -> Result<Arc<Registry>, AppError> {
    let registry = Arc::new(Registry::from_snapshot(snapshot, vault));
    for record in store.channels().await? {
        if let Ok(home) = registry.home(&record.channel.home_id) {
            home.lock().await.channels.push(record.channel);
        }
    }
    Ok(registry)
}
