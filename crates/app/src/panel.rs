//! The alarm panel of each home: `keyward_core::alarm`'s state machine fed
//! by commands (a code, through [`crate::Access`]; the owner or a token,
//! here), sensor reports and the clock. Every step runs under the home's
//! lock and its transition — the panel, its activity entries, the
//! notifications they cause — is one record, committed before anything is
//! announced; a failed commit puts the panel back as it was. After a
//! restart the panel is read back as stored and its deadlines fall when
//! they were due: it never arms or disarms because of a restart.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use keyward_core::alarm::{
    ArmMode, By, Effect, Input, Panel, PanelSettings, Refusal, SettingsSpec, Setup, ShutDown, Trouble, TroubleKind,
};
use keyward_core::{ActivityKind, Actor, Event};
use keyward_store::{PanelRecord, Record};

use crate::AppError;
use crate::clock::Clock;
use crate::devices::Protocol;
use crate::recorder::{Recorder, entry};
use crate::registry::{HomeState, PANEL, Registry, SharedHome};

/// A home's panel as held in memory: its settings and its state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PanelHold {
    pub settings: PanelSettings,
    pub panel: Panel,
}

impl PanelHold {
    pub fn new(at: Timestamp) -> Self {
        Self { settings: PanelSettings::default(), panel: Panel::new(at) }
    }
}

/// The panel as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelView {
    /// `disarmed`, `arming`, `armed_away`, `armed_stay`, `armed_night`,
    /// `pending`, `triggered`.
    pub state: &'static str,
    pub mode: Option<ArmMode>,
    pub delay_until: Option<Timestamp>,
    pub changed_by: Option<By>,
    pub changed_at: Timestamp,
    /// Whether arming in each mode would be accepted now.
    pub ready: [(ArmMode, bool); 3],
    pub open_sensors: Vec<String>,
    pub bypassed_sensors: Vec<String>,
    pub troubles: Vec<(Trouble, Timestamp)>,
    pub settings: PanelSettings,
}

impl PanelView {
    fn of(state: &HomeState) -> Self {
        let hold = &state.panel;
        let setup = Setup { settings: &hold.settings, sensors: &state.sensors };
        let panel = &hold.panel;
        let mut open = Vec::new();
        for mode in ArmMode::ALL {
            for id in panel.open_sensors(&setup, mode, true) {
                if !open.contains(&id) {
                    open.push(id);
                }
            }
        }
        Self {
            state: panel.state.name(),
            mode: panel.state.mode(),
            delay_until: panel.state.delay_until(),
            changed_by: panel.changed_by.clone(),
            changed_at: panel.changed_at,
            ready: ArmMode::ALL.map(|mode| (mode, panel.ready(&setup, mode))),
            open_sensors: open,
            bypassed_sensors: panel.bypassed.iter().cloned().collect(),
            troubles: panel.troubles.iter().map(|(t, since)| (t.clone(), *since)).collect(),
            settings: hold.settings,
        }
    }
}

/// What the owner or a token asks of the panel, without a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanelCommand {
    Arm { mode: ArmMode, force: bool },
    Disarm,
}

impl From<Refusal> for AppError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NotReady { open } => Self::PanelNotReady(open),
            Refusal::NotDisarmed => Self::PanelNotDisarmed,
            Refusal::AlreadyDisarmed => Self::PanelAlreadyDisarmed,
        }
    }
}

/// One step of a home's panel, under its lock: the machine moves on, and
/// what it did comes back as activity events and the panel to store.
/// `state` holds the new panel; the caller commits the record, and puts
/// `before` back if the commit fails.
pub(crate) fn step(state: &mut HomeState, now: Timestamp, input: Input) -> Result<PanelStep, Refusal> {
    let before = state.panel.clone();
    let setup = Setup { settings: &state.panel.settings, sensors: &state.sensors };
    let mut panel = state.panel.panel.clone();
    let effects = panel.step(&setup, now, input)?;
    let tz = state.home.zone.tz().clone();
    state.panel.panel = panel;
    let names = Names(&state.sensor_records, &state.sirens);
    let events = effects.iter().filter_map(|effect| event(effect, &state.panel.panel, &tz, &names, now)).collect();
    let record = PanelRecord {
        home_id: state.id().to_owned(),
        settings: state.panel.settings,
        panel: state.panel.panel.clone(),
        updated_at: now,
    };
    Ok(PanelStep { before, events, record, effects })
}

pub(crate) struct PanelStep {
    pub before: PanelHold,
    pub events: Vec<Event>,
    pub record: PanelRecord,
    /// What the devices are to do once it is committed (the sirens).
    pub effects: Vec<Effect>,
}

impl PanelStep {
    /// Whether anything changed that must be stored.
    fn changed(&self) -> bool {
        self.before.panel != self.record.panel || self.before.settings != self.record.settings
    }
}

/// Sensors and sirens by the names the owner gave them (one since
/// removed: its id).
struct Names<'a>(
    &'a std::collections::BTreeMap<String, keyward_store::SensorRecord>,
    &'a std::collections::BTreeMap<String, keyward_store::SirenRecord>,
);

impl Names<'_> {
    fn of(&self, id: &str) -> String {
        match (self.0.get(id), self.1.get(id)) {
            (Some(sensor), _) => sensor.name.as_str().to_owned(),
            (None, Some(siren)) => siren.name.as_str().to_owned(),
            (None, None) => id.to_owned(),
        }
    }

    fn all(&self, ids: &[String]) -> String {
        ids.iter().map(|id| self.of(id)).collect::<Vec<_>>().join(", ")
    }
}

/// Sensors (or sirens) by the names the owner gave them.
pub(crate) fn names_of(state: &HomeState, ids: &[String]) -> Vec<String> {
    let names = Names(&state.sensor_records, &state.sirens);
    ids.iter().map(|id| names.of(id)).collect()
}

/// An arming refused for open sensors, naming them as the owner does.
pub(crate) fn refusal(state: &HomeState, refusal: Refusal) -> AppError {
    match refusal {
        Refusal::NotReady { open } => AppError::PanelNotReady(names_of(state, &open)),
        other => other.into(),
    }
}

/// Who did it, as an entry names them.
fn who(by: &Option<By>) -> (Option<keyward_core::UserRef>, Option<Actor>) {
    match by {
        Some(by) => (by.user_ref(), by.as_actor()),
        None => (None, None),
    }
}

fn panel_event(detail: String, by: &Option<By>, at: Timestamp) -> Event {
    let (user, actor) = who(by);
    Event { device: Some(PANEL.to_owned()), user, actor, detail: Some(detail), ..Event::bare(ActivityKind::Panel, at) }
}

/// A transition in words, as the activity log keeps it.
fn event(effect: &Effect, panel: &Panel, tz: &jiff::tz::TimeZone, names: &Names<'_>, at: Timestamp) -> Option<Event> {
    let clock = |t: Timestamp| tz.to_datetime(t).strftime("%H:%M:%S").to_string();
    let alarm_words = |kind: keyward_core::alarm::AlarmKind| match kind {
        keyward_core::alarm::AlarmKind::Burglary => "Burglary",
        keyward_core::alarm::AlarmKind::Panic => "Panic",
        keyward_core::alarm::AlarmKind::Water => "Water leak",
        keyward_core::alarm::AlarmKind::CarbonMonoxide => "Carbon monoxide",
        keyward_core::alarm::AlarmKind::Fire => "Fire",
    };
    Some(match effect {
        Effect::StateChanged { to, by, .. } => {
            let words = match (*to, panel.state.delay_until()) {
                ("arming", Some(until)) => format!("arming: exit delay until {}", clock(until)),
                ("pending", Some(until)) => format!("entry delay until {}", clock(until)),
                (name, _) => name.replace('_', " "),
            };
            panel_event(words, by, at)
        }
        Effect::AutoStay => {
            panel_event("armed stay instead of away: nobody left during the exit delay".into(), &None, at)
        }
        Effect::ExitDelayRestarted { sensor } => {
            panel_event(format!("exit delay restarted: {} opened again", names.of(sensor)), &None, at)
        }
        Effect::Bypassed { sensors } => {
            panel_event(format!("bypassed until disarmed: {}", names.all(sensors)), &panel.changed_by, at)
        }
        Effect::SensorShutDown { sensor, why } => {
            let why = match why {
                ShutDown::Swinger => "it tripped again and again",
                ShutDown::SirenTime => "it had tripped when the siren time ran out",
            };
            panel_event(format!("{} shut down until disarmed: {why}", names.of(sensor)), &None, at)
        }
        Effect::IncidentOpened { kind, sensor } => {
            let place = sensor.as_ref().map(|s| format!(" · {}", names.of(s))).unwrap_or_default();
            panel_event(format!("alarm: {}{place}", alarm_words(*kind).to_lowercase()), &None, at)
        }
        Effect::IncidentSensor { sensor } => panel_event(format!("also tripped: {}", names.of(sensor)), &None, at),
        Effect::SirenStopped => panel_event("siren stopped after the siren time; still armed".into(), &None, at),
        Effect::Tell { kind, sensors } => {
            let place = if sensors.is_empty() { String::new() } else { format!(": {}", names.all(sensors)) };
            Event {
                device: Some(PANEL.to_owned()),
                detail: Some(format!("{}{place}", alarm_words(*kind))),
                ..Event::bare(ActivityKind::Alarm, at)
            }
        }
        Effect::Cancelled { by } => {
            let (user, actor) = who(&Some(by.clone()));
            Event { device: Some(PANEL.to_owned()), user, actor, ..Event::bare(ActivityKind::AlarmCancelled, at) }
        }
        Effect::IncidentClosed { by } => panel_event("alarm ended: disarmed".into(), &Some(by.clone()), at),
        Effect::TroubleRaised { trouble } | Effect::TroubleCleared { trouble } => {
            let what = match trouble.kind {
                TroubleKind::Offline => "offline",
                TroubleKind::Tamper => "cover open",
                TroubleKind::LowBattery => "battery low",
                TroubleKind::SirenNoAnswer => "siren did not answer",
                TroubleKind::NetworkDown => "network down",
            };
            let kind = if matches!(effect, Effect::TroubleRaised { .. }) {
                ActivityKind::Trouble
            } else {
                ActivityKind::TroubleCleared
            };
            Event {
                device: Some(PANEL.to_owned()),
                detail: Some(format!("{}: {what}", names.of(&trouble.subject))),
                ..Event::bare(kind, at)
            }
        }
        // Device work, not a record of its own.
        Effect::SirenOn { .. } | Effect::SirenOff => return None,
    })
}

/// How often the timer looks even without a deadline: whether each sensor
/// network is up (a network down is a trouble) is seen within this time.
const LOOK_EVERY: SignedDuration = SignedDuration::from_secs(5);

pub struct Panels {
    pub(crate) registry: Arc<Registry>,
    pub(crate) recorder: Arc<Recorder>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) store: Arc<dyn keyward_store::HomeStore>,
    /// The sensor networks whose reports the panels read.
    pub(crate) networks: std::sync::RwLock<Vec<Arc<dyn crate::devices::SensorNetwork>>>,
    /// The siren networks the panels sound sirens on.
    pub(crate) siren_networks: std::sync::RwLock<Vec<Arc<dyn crate::devices::SirenNetwork>>>,
    /// Each home's siren orders, numbered: a retry of an older one stops
    /// once a newer one was given.
    pub(crate) siren_orders: std::sync::Mutex<std::collections::HashMap<String, u64>>,
    /// Wakes the timer after a step that may have set a nearer deadline.
    wake: Arc<tokio::sync::Notify>,
    /// Itself, for the siren work it hands to a task of its own.
    me: std::sync::Weak<Panels>,
    /// Where that work runs: the App's tasks, stopped with it.
    tasks: std::sync::OnceLock<crate::tasks::Tasks>,
}

impl Panels {
    pub(crate) fn new(
        registry: Arc<Registry>,
        recorder: Arc<Recorder>,
        clock: Arc<dyn Clock>,
        store: Arc<dyn keyward_store::HomeStore>,
    ) -> Arc<Self> {
        let wake = Arc::new(tokio::sync::Notify::new());
        Arc::new_cyclic(|me| Self {
            registry,
            recorder,
            clock,
            store,
            networks: std::sync::RwLock::new(Vec::new()),
            siren_networks: std::sync::RwLock::new(Vec::new()),
            siren_orders: std::sync::Mutex::new(std::collections::HashMap::new()),
            wake,
            me: me.clone(),
            tasks: std::sync::OnceLock::new(),
        })
    }

    /// The sensor networks attached so far.
    pub fn sensor_networks(&self) -> Vec<Arc<dyn crate::devices::SensorNetwork>> {
        self.networks.read().map(|n| n.clone()).unwrap_or_default()
    }

    /// Starts the timer: every deadline of every home falls when due, and
    /// those that fell while keyward was down fall at once, in order.
    pub(crate) fn start(self: &Arc<Self>, tasks: &crate::tasks::Tasks) {
        let _ = self.tasks.set(tasks.clone());
        let panels = self.clone();
        tasks.spawn(async move { panels.run().await });
    }

    async fn run(self: Arc<Self>) {
        self.supervise_from(self.clock.now()).await;
        loop {
            let now = self.clock.now();
            let next = match self.fall_due(now).await {
                Ok(next) => next,
                Err(error) => {
                    tracing::error!(%error, "the alarm's deadlines could not be stored; tried again shortly");
                    Some(now + SignedDuration::from_secs(1))
                }
            };
            let until = next.unwrap_or(now + LOOK_EVERY).min(now + LOOK_EVERY);
            tokio::select! {
                () = self.clock.sleep_until(until) => {}
                () = self.wake.notified() => {}
            }
        }
    }

    /// After a start, the sensors' supervision counts from now: a report
    /// that changed nothing refreshed only memory, so what is stored is no
    /// proof of silence (CP-01 likewise has a panel disregard its sensors
    /// for a while after power returns rather than judge them).
    async fn supervise_from(&self, now: Timestamp) {
        let Ok(homes) = self.registry.all() else { return };
        for home in homes {
            let Ok(mut state) = self.recorder.lock(&home).await else { continue };
            for heard in state.panel.panel.readings.values_mut() {
                heard.at = heard.at.max(now);
            }
        }
    }

    /// A sensor network that is down is a trouble of a home with a sensor
    /// on it (its sensors' silence is not an opening), cleared when it is back.
    async fn check_networks(
        &self,
        state: &mut tokio::sync::MutexGuard<'_, HomeState>,
        networks: &[(Protocol, bool)],
        now: Timestamp,
    ) {
        for (protocol, connected) in networks {
            let uses =
                state.sensor_records.values().any(|s| s.device.as_ref().is_some_and(|d| d.protocol() == *protocol));
            let trouble = Trouble { kind: TroubleKind::NetworkDown, subject: protocol.as_str().to_owned() };
            let down = uses && !connected;
            if state.panel.panel.troubles.contains_key(&trouble) == down {
                continue;
            }
            if let Err(error) = self.commit(state, now, Input::Trouble { trouble, active: down }).await {
                tracing::error!(%error, "a network's trouble could not be stored");
            }
        }
    }

    /// One pass over the homes: each one's network troubles, then its
    /// deadlines that are due; answers the nearest deadline left.
    async fn fall_due(&self, now: Timestamp) -> Result<Option<Timestamp>, AppError> {
        // Each network asked once per pass, not once per home.
        let networks: Vec<(Protocol, bool)> =
            self.sensor_networks().iter().map(|n| (n.protocol(), n.connected())).collect();
        let mut nearest: Option<Timestamp> = None;
        for home in self.registry.all()? {
            let mut state = self.recorder.lock(&home).await?;
            self.check_networks(&mut state, &networks, now).await;
            let due = {
                let setup = Setup { settings: &state.panel.settings, sensors: &state.sensors };
                state.panel.panel.next_deadline(&setup)
            };
            let next = match due {
                Some(at) if at <= now => {
                    self.commit(&mut state, now, Input::Tick).await?;
                    let setup = Setup { settings: &state.panel.settings, sensors: &state.sensors };
                    state.panel.panel.next_deadline(&setup)
                }
                other => other,
            };
            if let Some(next) = next {
                nearest = Some(nearest.map_or(next, |n| n.min(next)));
            }
        }
        Ok(nearest)
    }

    /// Steps the panel and commits the transition while the home is held;
    /// on a failed commit the panel is put back as it was.
    pub(crate) async fn commit(
        &self,
        state: &mut tokio::sync::MutexGuard<'_, HomeState>,
        now: Timestamp,
        input: Input,
    ) -> Result<(), AppError> {
        let step = match step(state, now, input) {
            Ok(step) => step,
            Err(e) => return Err(refusal(state, e)),
        };
        if !step.changed() && step.events.is_empty() {
            return Ok(());
        }
        let home_id = state.id().to_owned();
        let record = Record {
            home_id: home_id.clone(),
            entries: step.events.into_iter().map(|e| entry(&home_id, e)).collect(),
            panel: Some(step.record),
            ..Record::default()
        };
        if let Err(e) = self.recorder.record(state, record, now).await {
            state.panel = step.before;
            return Err(e.into());
        }
        self.wake.notify_one();
        self.carry_out(state, &step.effects);
        Ok(())
    }

    fn home(&self, home_id: &str) -> Result<SharedHome, AppError> {
        self.registry.home(home_id)
    }

    pub async fn view(&self, home_id: &str) -> Result<PanelView, AppError> {
        let home = self.home(home_id)?;
        let state = self.recorder.lock(&home).await?;
        Ok(PanelView::of(&state))
    }

    /// Changes the settings (checked as a whole; a refusal changes nothing),
    /// recorded under the owner or token.
    pub async fn configure(&self, home_id: &str, spec: &SettingsSpec, actor: Actor) -> Result<PanelView, AppError> {
        let home = self.home(home_id)?;
        let mut state = self.recorder.lock(&home).await?;
        let settings = state.panel.settings.apply(spec)?;
        if settings != state.panel.settings {
            let now = self.clock.now();
            let before = state.panel.clone();
            state.panel.settings = settings;
            let fields = changed_fields(spec);
            let event = Event {
                device: Some(PANEL.to_owned()),
                actor: Some(actor),
                detail: Some(format!("settings changed: {fields}")),
                ..Event::bare(ActivityKind::Panel, now)
            };
            let record = Record {
                home_id: home_id.to_owned(),
                entries: vec![entry(home_id, event)],
                panel: Some(PanelRecord {
                    home_id: home_id.to_owned(),
                    settings,
                    panel: state.panel.panel.clone(),
                    updated_at: now,
                }),
                ..Record::default()
            };
            if let Err(e) = self.recorder.record(&state, record, now).await {
                state.panel = before;
                return Err(e.into());
            }
            self.wake.notify_one();
        }
        Ok(PanelView::of(&state))
    }

    /// Arms or disarms without a code, for the owner or an admin token
    /// (remote: auto-stay never applies).
    pub async fn command(&self, home_id: &str, command: PanelCommand, actor: Actor) -> Result<PanelView, AppError> {
        let home = self.home(home_id)?;
        let mut state = self.recorder.lock(&home).await?;
        let by = By::actor(&actor);
        let input = match command {
            PanelCommand::Arm { mode, force } => Input::Arm { mode, by, at_keypad: false, force },
            PanelCommand::Disarm => Input::Disarm { by },
        };
        let now = self.clock.now();
        self.commit(&mut state, now, input).await?;
        Ok(PanelView::of(&state))
    }

    /// Wakes the timer (a step made elsewhere, by a code, may have set a
    /// nearer deadline).
    pub(crate) fn woken(&self) {
        self.wake.notify_one();
    }
}

/// The settings a change names, for the log ("exit_delay, cp01").
fn changed_fields(spec: &SettingsSpec) -> String {
    let names = [
        ("exit_delay", spec.exit_delay.is_some()),
        ("entry_delay", spec.entry_delay.is_some()),
        ("siren_time", spec.siren_time.is_some()),
        ("abort_window", spec.abort_window.is_some()),
        ("swinger_limit", spec.swinger_limit.is_some()),
        ("arm_without_code", spec.arm_without_code.is_some()),
        ("cp01", spec.cp01.is_some()),
    ];
    names.iter().filter(|(_, set)| *set).map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
}

/// How often a siren command is tried before the siren counts as not
/// answering (a trouble), and the pause between tries.
const SIREN_TRIES: u32 = 3;
const SIREN_PAUSE: SignedDuration = SignedDuration::from_secs(1);

impl Panels {
    /// The siren networks attached so far.
    pub fn siren_networks(&self) -> Vec<Arc<dyn crate::devices::SirenNetwork>> {
        self.siren_networks.read().map(|n| n.clone()).unwrap_or_default()
    }

    pub(crate) fn attach_sirens(&self, networks: &[Arc<dyn crate::devices::SirenNetwork>]) {
        if let Ok(mut known) = self.siren_networks.write() {
            known.extend(networks.iter().cloned());
        }
    }

    /// Carries out a committed step's siren orders on the home's sirens, in
    /// a task of its own (the home is not held while sirens answer): the
    /// last order counts, tried a few times, and a siren that takes none is
    /// a trouble until it takes one.
    pub(crate) fn carry_out(&self, state: &HomeState, effects: &[Effect]) {
        let order = effects.iter().rev().find_map(|effect| match effect {
            Effect::SirenOn { alarm, seconds } => Some(Some((*alarm, *seconds))),
            Effect::SirenOff => Some(None),
            _ => None,
        });
        let Some(order) = order else { return };
        let sirens: Vec<(String, keyward_core::DeviceRef)> =
            state.sirens.values().map(|s| (s.id.clone(), s.device.clone())).collect();
        let Some(me) = self.me.upgrade() else { return };
        if sirens.is_empty() {
            return;
        }
        let home_id = state.id().to_owned();
        let number = {
            let mut orders = self.siren_orders.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let n = orders.entry(home_id.clone()).or_insert(0);
            *n += 1;
            *n
        };
        // `start` gave the tasks before any transition could be committed.
        if let Some(tasks) = self.tasks.get() {
            tasks.spawn(async move { me.order_sirens(home_id, number, order, sirens).await });
        }
    }

    fn current_order(&self, home_id: &str) -> u64 {
        let orders = self.siren_orders.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        orders.get(home_id).copied().unwrap_or(0)
    }

    async fn order_sirens(
        self: Arc<Self>,
        home_id: String,
        number: u64,
        order: Option<(keyward_core::alarm::AlarmKind, u16)>,
        sirens: Vec<(String, keyward_core::DeviceRef)>,
    ) {
        let networks = self.siren_networks();
        for (siren_id, device) in sirens {
            let network = networks.iter().find(|n| n.protocol() == device.protocol());
            let mut done = false;
            for attempt in 0..SIREN_TRIES {
                if self.current_order(&home_id) != number {
                    return;
                }
                let result = match (network, order) {
                    (None, _) => Err(crate::devices::DeviceError::Disconnected),
                    (Some(n), Some((alarm, seconds))) => n.sound(&device, alarm, seconds).await,
                    (Some(n), None) => n.stop(&device).await,
                };
                match result {
                    Ok(()) => {
                        done = true;
                        break;
                    }
                    Err(error) => {
                        tracing::warn!(home = home_id.as_str(), siren = siren_id.as_str(), attempt, %error, "a siren did not take the panel's order");
                        let again = self.clock.now() + SIREN_PAUSE;
                        self.clock.sleep_until(again).await;
                    }
                }
            }
            if self.current_order(&home_id) == number {
                self.siren_trouble(&home_id, &siren_id, !done).await;
            }
        }
    }

    /// Raises or clears a siren's trouble, when that changes anything.
    async fn siren_trouble(&self, home_id: &str, siren_id: &str, active: bool) {
        let Ok(home) = self.registry.home(home_id) else { return };
        let Ok(mut state) = self.recorder.lock(&home).await else { return };
        let trouble = Trouble { kind: TroubleKind::SirenNoAnswer, subject: siren_id.to_owned() };
        if state.panel.panel.troubles.contains_key(&trouble) == active {
            return;
        }
        let now = self.clock.now();
        if let Err(error) = self.commit(&mut state, now, Input::Trouble { trouble, active }).await {
            tracing::error!(%error, "a siren's trouble could not be stored");
        }
    }
}
