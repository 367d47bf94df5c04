//! Sensors as the panel sees them: what kind each is, which arming modes
//! watch it, and what it last reported.

use serde::{Deserialize, Serialize};

/// How the panel was armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArmMode {
    /// Nobody home: every burglary sensor watched.
    Away,
    /// People at home: the perimeter watched, the inside not.
    Stay,
    /// People asleep: the perimeter and what the owner chose.
    Night,
}

impl ArmMode {
    pub const ALL: [Self; 3] = [Self::Away, Self::Stay, Self::Night];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Away => "away",
            Self::Stay => "stay",
            Self::Night => "night",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == text)
    }
}

/// What a sensor is for, which decides what its opening does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensorKind {
    /// The door people come and go by: its opening starts the entry delay,
    /// and it may be open while the exit delay runs.
    EntryExit,
    /// Windows and other doors: instant.
    Perimeter,
    /// Inside, on the way from the entry door: instant, unless an entry
    /// delay is running (the person walking to the keypad).
    InteriorFollower,
    /// Inside, away from the entry: instant.
    Interior,
    /// 24-hour kinds: they fire in every state, without delay.
    Fire,
    CarbonMonoxide,
    Water,
    Panic,
}

impl SensorKind {
    pub const ALL: [Self; 8] = [
        Self::EntryExit,
        Self::Perimeter,
        Self::InteriorFollower,
        Self::Interior,
        Self::Fire,
        Self::CarbonMonoxide,
        Self::Water,
        Self::Panic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::EntryExit => "entry_exit",
            Self::Perimeter => "perimeter",
            Self::InteriorFollower => "interior_follower",
            Self::Interior => "interior",
            Self::Fire => "fire",
            Self::CarbonMonoxide => "carbon_monoxide",
            Self::Water => "water",
            Self::Panic => "panic",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Fires whatever the panel's state, at once.
    pub fn is_24_hour(self) -> bool {
        matches!(self, Self::Fire | Self::CarbonMonoxide | Self::Water | Self::Panic)
    }

    /// The modes that watch a sensor of this kind unless the owner says
    /// otherwise: doors and windows always; the inside only when away.
    pub fn default_modes(self) -> Modes {
        match self {
            Self::EntryExit | Self::Perimeter => Modes { away: true, stay: true, night: true },
            Self::InteriorFollower | Self::Interior => Modes { away: true, stay: false, night: false },
            // Watched in every state whatever the modes say.
            Self::Fire | Self::CarbonMonoxide | Self::Water | Self::Panic => {
                Modes { away: true, stay: true, night: true }
            }
        }
    }

    /// How long a sensor may stay silent before it counts as offline: 4 h
    /// for fire and CO (UL), 24 h for the others.
    pub fn supervision_seconds(self) -> i64 {
        match self {
            Self::Fire | Self::CarbonMonoxide => 4 * 3600,
            _ => 24 * 3600,
        }
    }
}

/// Which arming modes watch a sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Modes {
    pub away: bool,
    pub stay: bool,
    pub night: bool,
}

impl Modes {
    pub fn watches(&self, mode: ArmMode) -> bool {
        match mode {
            ArmMode::Away => self.away,
            ArmMode::Stay => self.stay,
            ArmMode::Night => self.night,
        }
    }
}

/// A sensor as the owner set it up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorSetup {
    pub kind: SensorKind,
    pub modes: Modes,
    /// Its own entry delay (entry/exit doors), instead of the panel's.
    pub entry_delay: Option<u16>,
    /// Whether arming may bypass it while it is open.
    pub bypassable: bool,
}

impl SensorSetup {
    /// A sensor of `kind` with that kind's defaults.
    pub fn of(kind: SensorKind) -> Self {
        Self { kind, modes: kind.default_modes(), entry_delay: None, bypassable: !kind.is_24_hour() }
    }

    /// Whether the panel armed in `mode` acts on it (24-hour kinds: always).
    pub fn watched_in(&self, mode: ArmMode) -> bool {
        self.kind.is_24_hour() || self.modes.watches(mode)
    }
}

/// What a sensor last reported. `open` is the alarm condition of its kind:
/// a door open, motion, smoke, CO, water, a panic button pressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Reading {
    pub open: bool,
    pub online: bool,
    pub tamper: bool,
    pub battery_low: bool,
    /// The battery's charge in percent, when the sensor says.
    #[serde(default)]
    pub battery: Option<u8>,
}

impl Reading {
    /// Open as far as the panel may act on it: an offline sensor is never
    /// open, whatever it said last.
    pub fn alarming(&self) -> bool {
        self.online && self.open
    }
}
