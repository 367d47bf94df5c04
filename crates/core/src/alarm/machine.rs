//! The panel's state machine: events in (a command someone was allowed to
//! give, a sensor's report, the clock reaching a deadline), a new state and
//! the effects to carry out out (sirens, alerts, the incident's updates,
//! troubles). Pure: time is handed in, and the caller persists the panel
//! before it carries out any effect.
//!
//! Its promises, which `tests/alarm_model.rs` checks after every step of
//! random sequences: it reaches `disarmed` only by a disarm; an instant
//! sensor opening while armed triggers; 24-hour sensors fire in every state;
//! an offline sensor never counts as open; after the siren time the panel
//! stays armed; deadlines fall to the second.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::By;
use super::sensor::{ArmMode, Reading, SensorKind, SensorSetup};
use super::settings::PanelSettings;

/// A sensor's id, as the home names it.
pub type SensorId = String;

/// Where the panel stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PanelState {
    Disarmed,
    /// The exit delay: armed in `mode` at `until`.
    Arming {
        mode: ArmMode,
        until: Timestamp,
        /// Armed at a keypad (not remotely): auto-stay may apply.
        at_keypad: bool,
        /// Entry/exit doors opened during this exit delay (one open at
        /// arming counts as opened).
        exits: u8,
        /// The exit delay was restarted once already.
        restarted: bool,
    },
    Armed {
        mode: ArmMode,
    },
    /// The entry delay, started by `sensor`: triggered at `until` unless
    /// disarmed.
    Pending {
        mode: ArmMode,
        until: Timestamp,
        sensor: SensorId,
    },
    /// Sounding until `siren_until`, then back to `resume` (never to
    /// disarmed unless it was disarmed before).
    Triggered {
        alarm: AlarmKind,
        siren_until: Timestamp,
        resume: Box<PanelState>,
        /// Who armed (or disarmed) the state it goes back to.
        resume_by: Option<By>,
    },
}

impl PanelState {
    /// The state's name in the API: `armed_away`, `pending`, …
    pub fn name(&self) -> &'static str {
        match self {
            Self::Disarmed => "disarmed",
            Self::Arming { .. } => "arming",
            Self::Armed { mode: ArmMode::Away } => "armed_away",
            Self::Armed { mode: ArmMode::Stay } => "armed_stay",
            Self::Armed { mode: ArmMode::Night } => "armed_night",
            Self::Pending { .. } => "pending",
            Self::Triggered { .. } => "triggered",
        }
    }

    /// The mode it is armed (or arming) in; for a triggered panel, the mode
    /// it goes back to.
    pub fn mode(&self) -> Option<ArmMode> {
        match self {
            Self::Disarmed => None,
            Self::Arming { mode, .. } | Self::Armed { mode } | Self::Pending { mode, .. } => Some(*mode),
            Self::Triggered { resume, .. } => resume.mode(),
        }
    }

    /// When the running delay ends (exit or entry), for keypads and the API.
    pub fn delay_until(&self) -> Option<Timestamp> {
        match self {
            Self::Arming { until, .. } | Self::Pending { until, .. } => Some(*until),
            _ => None,
        }
    }
}

/// What an alarm is for: it decides the siren's pattern and whether an
/// abort window holds the alert back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    Burglary,
    Panic,
    Water,
    CarbonMonoxide,
    Fire,
}

impl AlarmKind {
    fn of(kind: SensorKind) -> Self {
        match kind {
            SensorKind::Fire => Self::Fire,
            SensorKind::CarbonMonoxide => Self::CarbonMonoxide,
            SensorKind::Water => Self::Water,
            SensorKind::Panic => Self::Panic,
            _ => Self::Burglary,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Burglary => "burglary",
            Self::Panic => "panic",
            Self::Water => "water",
            Self::CarbonMonoxide => "carbon_monoxide",
            Self::Fire => "fire",
        }
    }

    /// Only a burglary waits for the abort window: fire, CO, water and
    /// panic are told at once (CP-01).
    fn abortable(self) -> bool {
        self == Self::Burglary
    }
}

/// One alarm from its trigger to its disarm, told as one thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub kind: AlarmKind,
    pub started: Timestamp,
    /// The sensors that tripped, in order (none for a panic button press).
    pub sensors: Vec<SensorId>,
    /// When the abort window ends, while the alert is held back.
    pub tell_at: Option<Timestamp>,
    /// Told to the emergency channels.
    pub told: bool,
}

/// Something wrong that is not an alarm: listed, told once, cleared when it
/// clears.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Trouble {
    pub kind: TroubleKind,
    /// The sensor, siren or network it is about.
    pub subject: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TroubleKind {
    /// A sensor offline, or silent past its supervision window.
    Offline,
    /// A sensor's cover open while disarmed.
    Tamper,
    LowBattery,
    /// A siren that did not confirm a command (told by the siren's worker).
    SirenNoAnswer,
    /// A whole network down (told by its adapter).
    NetworkDown,
}

impl TroubleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Offline => "offline",
            Self::Tamper => "tamper",
            Self::LowBattery => "low_battery",
            Self::SirenNoAnswer => "siren_no_answer",
            Self::NetworkDown => "network_down",
        }
    }
}

/// A sensor's last report and when the panel last heard from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heard {
    pub reading: Reading,
    pub at: Timestamp,
}

/// The panel: its state and everything it remembers across a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Panel {
    pub state: PanelState,
    pub changed_by: Option<By>,
    pub changed_at: Timestamp,
    /// Sensors bypassed by a forced arming, until the disarm.
    pub bypassed: BTreeSet<SensorId>,
    /// Sensors shut down (swinger, or tripped when the siren time ran out),
    /// until the disarm.
    pub shut_down: BTreeSet<SensorId>,
    /// Trips per sensor in this armed period.
    pub trips: BTreeMap<SensorId, u8>,
    pub incident: Option<Incident>,
    pub readings: BTreeMap<SensorId, Heard>,
    /// Open troubles and since when.
    #[serde(with = "pairs")]
    pub troubles: BTreeMap<Trouble, Timestamp>,
}

/// What the panel is asked to do or told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Arm, by someone allowed to (the decision is made before).
    Arm { mode: ArmMode, by: By, at_keypad: bool, force: bool },
    /// Disarm, by someone allowed to.
    Disarm { by: By },
    /// A panic button on a keypad or in an app.
    Panic { by: Option<By> },
    /// A sensor's report.
    Sensor { id: SensorId, reading: Reading },
    /// A trouble the panel cannot see itself (a siren, a network).
    Trouble { trouble: Trouble, active: bool },
    /// The clock moved on: deadlines up to now fall, in order.
    Tick,
}

/// Why a command did nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Sensors the mode watches are open (named), and arming was not forced
    /// or they cannot be bypassed.
    #[error("not ready: open sensors")]
    NotReady { open: Vec<SensorId> },
    #[error("the panel is not disarmed")]
    NotDisarmed,
    #[error("the panel is already disarmed")]
    AlreadyDisarmed,
}

/// Why a sensor was shut down until the disarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShutDown {
    /// It tripped `swinger_limit` times in this armed period.
    Swinger,
    /// It had tripped when the siren time ran out.
    SirenTime,
}

/// What the caller carries out, in order, after persisting the panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    StateChanged {
        from: &'static str,
        to: &'static str,
        by: Option<By>,
    },
    /// Armed away at a keypad and nobody left: armed stay instead.
    AutoStay,
    ExitDelayRestarted {
        sensor: SensorId,
    },
    Bypassed {
        sensors: Vec<SensorId>,
    },
    SirenOn {
        alarm: AlarmKind,
        seconds: u16,
    },
    SirenOff,
    SensorShutDown {
        sensor: SensorId,
        why: ShutDown,
    },
    IncidentOpened {
        kind: AlarmKind,
        sensor: Option<SensorId>,
    },
    /// Another sensor tripped during the incident.
    IncidentSensor {
        sensor: SensorId,
    },
    /// The siren time ran out: silenced, still armed.
    SirenStopped,
    /// The alert to the emergency channels (after the abort window for a
    /// burglary).
    Tell {
        kind: AlarmKind,
        sensors: Vec<SensorId>,
    },
    /// Disarmed within the abort window: nothing was told, "cancelled".
    Cancelled {
        by: By,
    },
    /// Disarmed after the alert: the incident ends.
    IncidentClosed {
        by: By,
    },
    TroubleRaised {
        trouble: Trouble,
    },
    TroubleCleared {
        trouble: Trouble,
    },
}

/// The sensors and settings the panel acts by, handed in with each step.
pub struct Setup<'a> {
    pub settings: &'a PanelSettings,
    pub sensors: &'a BTreeMap<SensorId, SensorSetup>,
}

fn seconds(n: u16) -> SignedDuration {
    SignedDuration::from_secs(i64::from(n))
}

impl Panel {
    /// A new panel, disarmed.
    pub fn new(at: Timestamp) -> Self {
        Self {
            state: PanelState::Disarmed,
            changed_by: None,
            changed_at: at,
            bypassed: BTreeSet::new(),
            shut_down: BTreeSet::new(),
            trips: BTreeMap::new(),
            incident: None,
            readings: BTreeMap::new(),
            troubles: BTreeMap::new(),
        }
    }

    /// Sensors the mode watches that are open now (offline ones never are),
    /// not bypassed or shut down. Entry/exit doors may be open while the
    /// exit delay runs, so arming does not count them.
    pub fn open_sensors(&self, setup: &Setup, mode: ArmMode, count_exits: bool) -> Vec<SensorId> {
        setup
            .sensors
            .iter()
            .filter(|(id, s)| {
                !s.kind.is_24_hour()
                    && s.watched_in(mode)
                    && (count_exits || s.kind != SensorKind::EntryExit)
                    && !self.bypassed.contains(*id)
                    && !self.shut_down.contains(*id)
                    && self.readings.get(*id).is_some_and(|h| h.reading.alarming())
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Whether arming in `mode` now would be refused for open sensors.
    pub fn ready(&self, setup: &Setup, mode: ArmMode) -> bool {
        self.open_sensors(setup, mode, false).is_empty()
    }

    /// The next instant at which [`Input::Tick`] changes something.
    pub fn next_deadline(&self, setup: &Setup) -> Option<Timestamp> {
        let state = match &self.state {
            PanelState::Arming { until, .. } | PanelState::Pending { until, .. } => Some(*until),
            PanelState::Triggered { siren_until, .. } => Some(*siren_until),
            _ => None,
        };
        let tell = self.incident.as_ref().and_then(|i| i.tell_at);
        let supervision = self.supervision_deadlines(setup).map(|(_, at)| at).min();
        [state, tell, supervision].into_iter().flatten().min()
    }

    fn supervision_deadlines<'a>(&'a self, setup: &'a Setup) -> impl Iterator<Item = (&'a SensorId, Timestamp)> + 'a {
        self.readings.iter().filter(|(_, h)| h.reading.online).filter_map(|(id, h)| {
            let sensor = setup.sensors.get(id)?;
            Some((id, h.at + SignedDuration::from_secs(sensor.kind.supervision_seconds())))
        })
    }

    /// One step: `input` at `now`. Commands may be refused (nothing changes);
    /// everything else always applies.
    pub fn step(&mut self, setup: &Setup, now: Timestamp, input: Input) -> Result<Vec<Effect>, Refusal> {
        let mut out = Vec::new();
        // Deadlines that fell before this input come first, in order.
        self.fall_due(setup, now, &mut out);
        match input {
            Input::Arm { mode, by, at_keypad, force } => self.arm(setup, now, mode, by, at_keypad, force, &mut out)?,
            Input::Disarm { by } => self.disarm(now, by, &mut out)?,
            Input::Panic { by } => self.trigger(setup, now, AlarmKind::Panic, None, by, &mut out),
            Input::Sensor { id, reading } => self.sensor(setup, now, id, reading, &mut out),
            Input::Trouble { trouble, active } => self.set_trouble(now, trouble, active, &mut out),
            Input::Tick => {}
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn arm(
        &mut self,
        setup: &Setup,
        now: Timestamp,
        mode: ArmMode,
        by: By,
        at_keypad: bool,
        force: bool,
        out: &mut Vec<Effect>,
    ) -> Result<(), Refusal> {
        if self.state != PanelState::Disarmed {
            return Err(Refusal::NotDisarmed);
        }
        let open = self.open_sensors(setup, mode, false);
        if !open.is_empty() {
            let bypassable = open.iter().all(|id| setup.sensors.get(id).is_some_and(|s| s.bypassable));
            if !force || !bypassable {
                return Err(Refusal::NotReady { open });
            }
            self.bypassed.extend(open.iter().cloned());
            out.push(Effect::Bypassed { sensors: open });
        }
        let exit_delay = setup.settings.exit_delay();
        let exits = u8::from(setup.sensors.iter().any(|(id, s)| {
            s.kind == SensorKind::EntryExit && self.readings.get(id).is_some_and(|h| h.reading.alarming())
        }));
        let next = if exit_delay == 0 {
            PanelState::Armed { mode }
        } else {
            PanelState::Arming { mode, until: now + seconds(exit_delay), at_keypad, exits, restarted: false }
        };
        self.change(now, next, Some(by), out);
        if exit_delay == 0 {
            self.check_open_when_armed(setup, now, out);
        }
        Ok(())
    }

    fn disarm(&mut self, now: Timestamp, by: By, out: &mut Vec<Effect>) -> Result<(), Refusal> {
        if self.state == PanelState::Disarmed {
            // A 24-hour alarm of a disarmed panel, silenced by its siren
            // time, is still an incident: a disarm acknowledges it.
            let Some(incident) = self.incident.take() else {
                return Err(Refusal::AlreadyDisarmed);
            };
            out.push(if incident.told { Effect::IncidentClosed { by } } else { Effect::Cancelled { by } });
            return Ok(());
        }
        if matches!(self.state, PanelState::Triggered { .. }) {
            out.push(Effect::SirenOff);
        }
        if let Some(incident) = self.incident.take() {
            out.push(if incident.told {
                Effect::IncidentClosed { by: by.clone() }
            } else {
                Effect::Cancelled { by: by.clone() }
            });
        }
        self.bypassed.clear();
        self.shut_down.clear();
        self.trips.clear();
        self.change(now, PanelState::Disarmed, Some(by), out);
        Ok(())
    }

    fn change(&mut self, now: Timestamp, next: PanelState, by: Option<By>, out: &mut Vec<Effect>) {
        let from = self.state.name();
        self.state = next;
        self.changed_at = now;
        self.changed_by = by.clone();
        out.push(Effect::StateChanged { from, to: self.state.name(), by });
    }

    fn sensor(&mut self, setup: &Setup, now: Timestamp, id: SensorId, reading: Reading, out: &mut Vec<Effect>) {
        let Some(sensor) = setup.sensors.get(&id) else {
            return;
        };
        let before = self.readings.insert(id.clone(), Heard { reading, at: now }).map(|h| h.reading);
        let was = before.unwrap_or_default();
        let armed = matches!(self.state, PanelState::Armed { .. } | PanelState::Pending { .. })
            || matches!(&self.state, PanelState::Triggered { resume, .. } if !matches!(**resume, PanelState::Disarmed));
        // Troubles: what the sensor says of itself.
        self.set_trouble(now, Trouble { kind: TroubleKind::Offline, subject: id.clone() }, !reading.online, out);
        self.set_trouble(
            now,
            Trouble { kind: TroubleKind::LowBattery, subject: id.clone() },
            reading.online && reading.battery_low,
            out,
        );
        let tampered = reading.online && reading.tamper;
        self.set_trouble(now, Trouble { kind: TroubleKind::Tamper, subject: id.clone() }, tampered && !armed, out);
        let opened = reading.alarming() && !was.alarming();
        let tamper_edge = tampered && !(was.online && was.tamper);
        if sensor.kind.is_24_hour() {
            if opened {
                self.trigger(setup, now, AlarmKind::of(sensor.kind), Some(id), None, out);
            }
            return;
        }
        if !(opened || tamper_edge) {
            return;
        }
        match self.state.clone() {
            PanelState::Disarmed => {}
            PanelState::Arming { mode, until, at_keypad, exits, restarted } => {
                // Only 24-hour sensors act during the exit delay; the exit
                // door is counted, and its second opening restarts the
                // delay once.
                if sensor.kind == SensorKind::EntryExit && opened && sensor.watched_in(mode) {
                    let exits = exits.saturating_add(1);
                    let restart = exits >= 2 && !restarted;
                    let until = if restart { now + seconds(setup.settings.exit_delay()) } else { until };
                    self.state = PanelState::Arming { mode, until, at_keypad, exits, restarted: restarted || restart };
                    if restart {
                        out.push(Effect::ExitDelayRestarted { sensor: id });
                    }
                }
            }
            PanelState::Armed { mode } | PanelState::Pending { mode, .. } => {
                if !self.acts_on(&id, sensor, mode) {
                    return;
                }
                if tamper_edge {
                    self.trip(setup, now, id, out);
                    return;
                }
                self.opened_while_armed(setup, now, mode, id, sensor, out);
            }
            PanelState::Triggered { resume, .. } => {
                if let Some(mode) = resume.mode()
                    && !matches!(*resume, PanelState::Arming { .. })
                    && self.acts_on(&id, sensor, mode)
                {
                    self.trip(setup, now, id, out);
                }
            }
        }
    }

    /// Whether an armed panel acts on this sensor.
    fn acts_on(&self, id: &SensorId, sensor: &SensorSetup, mode: ArmMode) -> bool {
        sensor.watched_in(mode) && !self.bypassed.contains(id) && !self.shut_down.contains(id)
    }

    fn opened_while_armed(
        &mut self,
        setup: &Setup,
        now: Timestamp,
        mode: ArmMode,
        id: SensorId,
        sensor: &SensorSetup,
        out: &mut Vec<Effect>,
    ) {
        let pending = matches!(self.state, PanelState::Pending { .. });
        match sensor.kind {
            SensorKind::EntryExit => {
                let delay = sensor.entry_delay.unwrap_or(setup.settings.entry_delay());
                let until = now + seconds(delay);
                match &mut self.state {
                    // A door with a shorter delay shortens a running one.
                    PanelState::Pending { until: running, .. } => *running = (*running).min(until),
                    _ if delay == 0 => self.trip(setup, now, id, out),
                    _ => self.change(now, PanelState::Pending { mode, until, sensor: id }, None, out),
                }
            }
            SensorKind::InteriorFollower if pending => {}
            _ => self.trip(setup, now, id, out),
        }
    }

    /// A burglary sensor tripped: counted for the swinger shutdown, then
    /// the alarm.
    fn trip(&mut self, setup: &Setup, now: Timestamp, id: SensorId, out: &mut Vec<Effect>) {
        let trips = self.trips.entry(id.clone()).or_insert(0);
        *trips = trips.saturating_add(1);
        if *trips >= setup.settings.swinger_limit() && self.shut_down.insert(id.clone()) {
            out.push(Effect::SensorShutDown { sensor: id.clone(), why: ShutDown::Swinger });
        }
        self.trigger(setup, now, AlarmKind::Burglary, Some(id), None, out);
    }

    fn trigger(
        &mut self,
        setup: &Setup,
        now: Timestamp,
        alarm: AlarmKind,
        sensor: Option<SensorId>,
        by: Option<By>,
        out: &mut Vec<Effect>,
    ) {
        let siren_until = now + seconds(setup.settings.siren_time());
        match &mut self.incident {
            Some(incident) => {
                if let Some(sensor) = &sensor {
                    incident.sensors.push(sensor.clone());
                    out.push(Effect::IncidentSensor { sensor: sensor.clone() });
                }
                // A graver alarm takes over the incident and is told at once.
                if alarm > incident.kind {
                    incident.kind = alarm;
                    incident.tell_at = None;
                    incident.told = true;
                    out.push(Effect::Tell { kind: alarm, sensors: incident.sensors.clone() });
                }
            }
            None => {
                out.push(Effect::IncidentOpened { kind: alarm, sensor: sensor.clone() });
                let window = setup.settings.abort_window();
                let held = alarm.abortable() && window > 0;
                let incident = Incident {
                    kind: alarm,
                    started: now,
                    sensors: sensor.iter().cloned().collect(),
                    tell_at: held.then(|| now + seconds(window)),
                    told: !held,
                };
                if !held {
                    out.push(Effect::Tell { kind: alarm, sensors: incident.sensors.clone() });
                }
                self.incident = Some(incident);
            }
        }
        match &mut self.state {
            PanelState::Triggered { alarm: current, siren_until: until, .. } => {
                if alarm > *current {
                    *current = alarm;
                    *until = siren_until;
                    out.push(Effect::SirenOn { alarm, seconds: setup.settings.siren_time() });
                }
            }
            _ => {
                // After the siren time the panel goes back to what it was:
                // armed (an entry delay that ran out counts as armed), or
                // disarmed for a 24-hour alarm of a disarmed panel.
                let resume = match &self.state {
                    PanelState::Pending { mode, .. } => PanelState::Armed { mode: *mode },
                    other => other.clone(),
                };
                let resume_by = self.changed_by.clone();
                let triggered = PanelState::Triggered { alarm, siren_until, resume: Box::new(resume), resume_by };
                self.change(now, triggered, by, out);
                out.push(Effect::SirenOn { alarm, seconds: setup.settings.siren_time() });
            }
        }
    }

    fn set_trouble(&mut self, now: Timestamp, trouble: Trouble, active: bool, out: &mut Vec<Effect>) {
        if active {
            if !self.troubles.contains_key(&trouble) {
                self.troubles.insert(trouble.clone(), now);
                out.push(Effect::TroubleRaised { trouble });
            }
        } else if self.troubles.remove(&trouble).is_some() {
            out.push(Effect::TroubleCleared { trouble });
        }
    }

    /// Every deadline up to `now`, earliest first, each at its own instant.
    fn fall_due(&mut self, setup: &Setup, now: Timestamp, out: &mut Vec<Effect>) {
        // Each round ends a delay, the siren, an abort window or a sensor's
        // supervision; none of them comes back at the same instant, so this
        // ends (the bound only guards against a mistake).
        for _ in 0..(16 + 2 * self.readings.len()) {
            let Some(at) = self.next_deadline(setup).filter(|at| *at <= now) else {
                return;
            };
            self.deadline(setup, at, out);
        }
    }

    fn deadline(&mut self, setup: &Setup, at: Timestamp, out: &mut Vec<Effect>) {
        match self.state.clone() {
            PanelState::Arming { mode, until, at_keypad, exits, .. } if until == at => {
                let auto_stay = mode == ArmMode::Away && at_keypad && exits == 0;
                let mode = if auto_stay { ArmMode::Stay } else { mode };
                if auto_stay {
                    out.push(Effect::AutoStay);
                }
                // Armed by the exit delay's end: by whom it was armed.
                let by = self.changed_by.clone();
                self.change(at, PanelState::Armed { mode }, by, out);
                self.check_open_when_armed(setup, at, out);
                return;
            }
            PanelState::Pending { until, sensor, .. } if until == at => {
                self.trip(setup, at, sensor, out);
                return;
            }
            PanelState::Triggered { siren_until, resume, resume_by, .. } if siren_until == at => {
                out.push(Effect::SirenOff);
                out.push(Effect::SirenStopped);
                // The sensors that tripped stay shut down until the disarm.
                if let Some(incident) = &self.incident {
                    for sensor in &incident.sensors {
                        let burglary = setup.sensors.get(sensor).is_some_and(|s| !s.kind.is_24_hour());
                        if burglary && !matches!(*resume, PanelState::Disarmed) && self.shut_down.insert(sensor.clone())
                        {
                            out.push(Effect::SensorShutDown { sensor: sensor.clone(), why: ShutDown::SirenTime });
                        }
                    }
                }
                self.change(at, *resume, resume_by, out);
                return;
            }
            _ => {}
        }
        if let Some(incident) = &mut self.incident
            && incident.tell_at == Some(at)
        {
            incident.tell_at = None;
            incident.told = true;
            out.push(Effect::Tell { kind: incident.kind, sensors: incident.sensors.clone() });
            return;
        }
        // A sensor silent past its window is offline (never open).
        let silent: Vec<SensorId> =
            self.supervision_deadlines(setup).filter(|(_, due)| *due == at).map(|(id, _)| id.clone()).collect();
        for id in silent {
            if let Some(heard) = self.readings.get_mut(&id) {
                heard.reading.online = false;
            }
            self.set_trouble(at, Trouble { kind: TroubleKind::Offline, subject: id }, true, out);
        }
    }

    /// Just armed: doors and windows still open are acted on now (an
    /// entry/exit door starts the entry delay, anything else trips).
    fn check_open_when_armed(&mut self, setup: &Setup, now: Timestamp, out: &mut Vec<Effect>) {
        let Some(mode) = self.state.mode() else {
            return;
        };
        for id in self.open_sensors(setup, mode, true) {
            let Some(sensor) = setup.sensors.get(&id) else {
                continue;
            };
            if !matches!(self.state, PanelState::Armed { .. } | PanelState::Pending { .. }) {
                // Triggered already: one incident carries the rest.
                if self.acts_on(&id, sensor, mode) {
                    self.trip(setup, now, id, out);
                }
                continue;
            }
            self.opened_while_armed(setup, now, mode, id, sensor, out);
        }
    }
}

/// A map whose keys are not strings, stored as a list of pairs.
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(map: &BTreeMap<K, V>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}
