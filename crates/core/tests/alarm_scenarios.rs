//! The alarm's CP-01 behaviours, one scenario each, to the second: exit
//! delay and its restart, auto-stay, the entry delay and the interior
//! follower, the abort window (cancelled vs told), swinger shutdown, the
//! siren time after which the panel stays armed, forced arming, troubles
//! and supervision, and a restart in the middle of a delay.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use keyward_core::alarm::{
    AlarmKind, ArmMode, By, Effect, Input, Panel, PanelSettings, PanelState, Reading, Refusal, SensorKind, SensorSetup,
    Setup, ShutDown, Trouble, TroubleKind,
};

struct House {
    sensors: BTreeMap<String, SensorSetup>,
    settings: PanelSettings,
    panel: Panel,
    start: Timestamp,
}

fn walker() -> By {
    By::User { id: "u_walker".into(), name: "Dog walker".into() }
}

const OPEN: Reading = Reading { open: true, online: true, tamper: false, battery_low: false, battery: None };
const CLOSED: Reading = Reading { open: false, online: true, tamper: false, battery_low: false, battery: None };

impl House {
    fn new() -> Self {
        let start = Timestamp::from_second(1_800_000_000).expect("instant");
        let sensors = [
            ("front", SensorKind::EntryExit),
            ("window", SensorKind::Perimeter),
            ("hall", SensorKind::InteriorFollower),
            ("den", SensorKind::Interior),
            ("smoke", SensorKind::Fire),
        ]
        .into_iter()
        .map(|(id, kind)| (id.to_owned(), SensorSetup::of(kind)))
        .collect();
        let mut house = Self { sensors, settings: PanelSettings::default(), panel: Panel::new(start), start };
        for id in ["front", "window", "hall", "den", "smoke"] {
            house.report(0, id, CLOSED);
        }
        house
    }

    fn at(&self, second: i64) -> Timestamp {
        self.start + SignedDuration::from_secs(second)
    }

    fn step(&mut self, second: i64, input: Input) -> Result<Vec<Effect>, Refusal> {
        let setup = Setup { settings: &self.settings, sensors: &self.sensors };
        let now = self.at(second);
        self.panel.step(&setup, now, input)
    }

    fn report(&mut self, second: i64, id: &str, reading: Reading) -> Vec<Effect> {
        self.step(second, Input::Sensor { id: id.into(), reading }).expect("a report always applies")
    }

    fn tick(&mut self, second: i64) -> Vec<Effect> {
        self.step(second, Input::Tick).expect("a tick always applies")
    }

    fn arm(&mut self, second: i64, mode: ArmMode, at_keypad: bool) -> Result<Vec<Effect>, Refusal> {
        self.step(second, Input::Arm { mode, by: walker(), at_keypad, force: false })
    }

    fn state(&self) -> &'static str {
        self.panel.state.name()
    }
}

#[test]
fn the_exit_delay_ends_to_the_second_and_the_owner_leaves() {
    let mut h = House::new();
    h.arm(10, ArmMode::Away, false).expect("armed");
    assert_eq!(h.state(), "arming");
    assert_eq!(h.panel.state.delay_until(), Some(h.at(70)), "60 s exit delay");
    h.report(20, "front", OPEN);
    h.report(25, "front", CLOSED);
    h.tick(69);
    assert_eq!(h.state(), "arming", "not a second early");
    h.tick(70);
    assert_eq!(h.state(), "armed_away");
    assert_eq!(h.panel.changed_by, Some(walker()), "armed by whoever armed it");
}

#[test]
fn an_exit_door_opened_again_restarts_the_exit_delay_once() {
    let mut h = House::new();
    h.arm(0, ArmMode::Away, true).expect("armed");
    h.report(10, "front", OPEN);
    h.report(12, "front", CLOSED);
    let effects = h.report(30, "front", OPEN);
    assert!(effects.contains(&Effect::ExitDelayRestarted { sensor: "front".into() }));
    assert_eq!(h.panel.state.delay_until(), Some(h.at(90)));
    h.report(31, "front", CLOSED);
    h.report(40, "front", OPEN);
    assert_eq!(h.panel.state.delay_until(), Some(h.at(90)), "once only");
    h.report(41, "front", CLOSED);
    h.tick(90);
    assert_eq!(h.state(), "armed_away");
}

#[test]
fn armed_away_at_a_keypad_and_nobody_left_is_armed_stay() {
    let mut h = House::new();
    h.arm(0, ArmMode::Away, true).expect("armed");
    let effects = h.tick(60);
    assert!(effects.contains(&Effect::AutoStay), "{effects:?}");
    assert_eq!(h.state(), "armed_stay");
    // Never for remote arming.
    let mut h = House::new();
    h.arm(0, ArmMode::Away, false).expect("armed");
    h.tick(60);
    assert_eq!(h.state(), "armed_away");
}

#[test]
fn the_entry_delay_lets_the_walker_reach_the_keypad_past_the_hall_sensor() {
    let mut h = House::new();
    h.arm(0, ArmMode::Away, false).expect("armed");
    h.tick(60);
    h.report(100, "front", OPEN);
    assert_eq!(h.state(), "pending");
    assert_eq!(h.panel.state.delay_until(), Some(h.at(130)), "30 s entry delay");
    h.report(105, "hall", OPEN);
    assert_eq!(h.state(), "pending", "the interior follower waits for the entry delay");
    let effects = h.step(110, Input::Disarm { by: walker() }).expect("disarmed");
    assert_eq!(h.state(), "disarmed");
    assert!(!effects.iter().any(|e| matches!(e, Effect::SirenOn { .. })));
}

#[test]
fn an_entry_delay_that_runs_out_triggers_and_the_alert_waits_for_the_abort_window() {
    let mut h = House::new();
    h.arm(0, ArmMode::Away, false).expect("armed");
    h.tick(60);
    h.report(100, "front", OPEN);
    assert!(h.tick(129).is_empty(), "a second early");
    let effects = h.tick(130);
    assert_eq!(h.state(), "triggered");
    assert!(effects.contains(&Effect::SirenOn { alarm: AlarmKind::Burglary, seconds: 240 }));
    assert!(!effects.iter().any(|e| matches!(e, Effect::Tell { .. })), "held for the abort window");
    // Disarmed within the window: cancelled, never told.
    let effects = h.step(150, Input::Disarm { by: walker() }).expect("disarmed");
    assert!(effects.contains(&Effect::SirenOff));
    assert!(effects.contains(&Effect::Cancelled { by: walker() }));

    // Not disarmed: told when the window ends, and closed at the disarm.
    let mut h = House::new();
    h.arm(0, ArmMode::Away, false).expect("armed");
    h.tick(60);
    h.report(100, "window", OPEN);
    assert_eq!(h.state(), "triggered", "a window is instant");
    assert!(h.tick(129).is_empty());
    let told = h.tick(130);
    assert_eq!(told, vec![Effect::Tell { kind: AlarmKind::Burglary, sensors: vec!["window".into()] }]);
    let effects = h.step(200, Input::Disarm { by: walker() }).expect("disarmed");
    assert!(effects.contains(&Effect::IncidentClosed { by: walker() }));
}

#[test]
fn after_the_siren_time_the_panel_stays_armed_with_the_sensor_shut_down() {
    let mut h = House::new();
    h.arm(0, ArmMode::Away, false).expect("armed");
    h.tick(60);
    h.report(100, "den", OPEN);
    let effects = h.tick(340);
    assert!(effects.contains(&Effect::SirenOff) && effects.contains(&Effect::SirenStopped));
    assert!(effects.contains(&Effect::SensorShutDown { sensor: "den".into(), why: ShutDown::SirenTime }));
    assert_eq!(h.state(), "armed_away", "never disarms by itself");
    assert_eq!(h.panel.changed_by, Some(walker()));
    h.report(400, "den", CLOSED);
    h.report(410, "den", OPEN);
    assert_eq!(h.state(), "armed_away", "shut down until the disarm");
    h.report(420, "window", OPEN);
    assert_eq!(h.state(), "triggered", "the others still watch");
}

#[test]
fn a_swinger_is_shut_down_after_its_trips() {
    let mut h = House::new();
    h.arm(0, ArmMode::Away, false).expect("armed");
    h.tick(60);
    h.report(100, "window", OPEN);
    h.report(101, "window", CLOSED);
    let effects = h.report(102, "window", OPEN);
    assert!(effects.contains(&Effect::IncidentSensor { sensor: "window".into() }), "{effects:?}");
    assert!(
        effects.contains(&Effect::SensorShutDown { sensor: "window".into(), why: ShutDown::Swinger }),
        "{effects:?}"
    );
    h.report(103, "window", CLOSED);
    assert!(h.report(104, "window", OPEN).is_empty(), "shut down: its third trip counts for nothing");
    assert_eq!(h.panel.incident.as_ref().map(|i| i.sensors.len()), Some(2));
}

#[test]
fn open_sensors_refuse_arming_by_name_and_a_forced_arming_bypasses_them() {
    let mut h = House::new();
    h.report(0, "window", OPEN);
    h.report(0, "front", OPEN);
    assert_eq!(h.arm(1, ArmMode::Away, true), Err(Refusal::NotReady { open: vec!["window".into()] }));
    assert_eq!(h.state(), "disarmed");
    let effects =
        h.step(2, Input::Arm { mode: ArmMode::Away, by: walker(), at_keypad: true, force: true }).expect("forced");
    assert!(effects.contains(&Effect::Bypassed { sensors: vec!["window".into()] }));
    // The front door may be open during the exit delay; still open at its end, the entry delay starts.
    h.tick(62);
    assert_eq!(h.state(), "pending");
    h.step(70, Input::Disarm { by: walker() }).expect("disarmed");
    assert!(h.panel.bypassed.is_empty(), "bypassed until the disarm");
}

#[test]
fn fire_sounds_in_every_state_and_is_told_at_once() {
    let mut h = House::new();
    let effects = h.report(5, "smoke", OPEN);
    assert_eq!(h.state(), "triggered");
    assert!(effects.contains(&Effect::SirenOn { alarm: AlarmKind::Fire, seconds: 240 }));
    assert!(effects.contains(&Effect::Tell { kind: AlarmKind::Fire, sensors: vec!["smoke".into()] }));
    h.tick(245);
    assert_eq!(h.state(), "disarmed", "a disarmed panel's fire alarm goes quiet, still disarmed");
    assert!(h.step(300, Input::Disarm { by: walker() }).is_ok(), "the incident is acknowledged");
    assert!(h.panel.incident.is_none());
}

#[test]
fn offline_tamper_and_silence_are_troubles_not_alarms() {
    let mut h = House::new();
    let effects = h.report(10, "window", Reading { online: false, ..OPEN });
    assert_eq!(h.state(), "disarmed");
    let offline = Trouble { kind: TroubleKind::Offline, subject: "window".into() };
    assert!(effects.contains(&Effect::TroubleRaised { trouble: offline.clone() }));
    assert!(h.report(20, "window", CLOSED).contains(&Effect::TroubleCleared { trouble: offline }));
    let effects = h.report(30, "den", Reading { tamper: true, ..CLOSED });
    assert!(
        effects
            .contains(&Effect::TroubleRaised { trouble: Trouble { kind: TroubleKind::Tamper, subject: "den".into() } })
    );
    // Armed, a tamper triggers.
    h.report(31, "den", CLOSED);
    h.arm(40, ArmMode::Away, false).expect("armed");
    h.tick(100);
    h.report(110, "den", Reading { tamper: true, ..CLOSED });
    assert_eq!(h.state(), "triggered");
    // A smoke detector silent for 4 h is offline, to the second.
    let mut h = House::new();
    let heard = h.at(0) + SignedDuration::from_secs(4 * 3600);
    assert!(h.panel.next_deadline(&Setup { settings: &h.settings, sensors: &h.sensors }) <= Some(heard));
    h.report(3600, "window", CLOSED);
    h.tick(4 * 3600 - 1);
    assert!(h.panel.troubles.is_empty());
    let effects = h.tick(4 * 3600);
    assert!(
        effects.contains(&Effect::TroubleRaised {
            trouble: Trouble { kind: TroubleKind::Offline, subject: "smoke".into() }
        })
    );
}

#[test]
fn a_restart_during_the_entry_delay_resumes_it_from_its_start() {
    let mut h = House::new();
    h.arm(0, ArmMode::Away, false).expect("armed");
    h.tick(60);
    h.report(100, "front", OPEN);
    let saved = serde_json::to_string(&h.panel).expect("saved");
    // keyward is down from 101 to 140: the entry delay ended at 130.
    h.panel = serde_json::from_str(&saved).expect("loaded");
    assert_eq!(h.state(), "pending");
    let effects = h.tick(140);
    assert!(matches!(h.panel.state, PanelState::Triggered { .. }), "{effects:?}");
    assert_eq!(h.panel.changed_at, h.at(130), "at the deadline, not at the restart");
    // A door already open before the restart is not a new opening.
    let mut h = House::new();
    h.report(0, "window", OPEN);
    h.step(1, Input::Arm { mode: ArmMode::Away, by: walker(), at_keypad: false, force: true }).expect("forced");
    h.tick(61);
    let saved = serde_json::to_string(&h.panel).expect("saved");
    h.panel = serde_json::from_str(&saved).expect("loaded");
    h.report(70, "front", CLOSED);
    assert_eq!(h.state(), "armed_away");
}
