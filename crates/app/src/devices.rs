//! The port every lock protocol adapter implements (`keyward-zwave-js`,
//! `keyward-zigbee2mqtt`): what the sync engine and the lock services need
//! of a network of locks, and nothing of how it is reached.
//!
//! The one rule adapters must keep: a code's write or clear answers with
//! what the lock *read back* afterwards, never with "sent".

use std::fmt;

pub use keyward_core::lock_sync::{DeviceRef, Protocol};
use keyward_store::BoxFuture;
use tokio::sync::broadcast;
use zeroize::Zeroizing;

/// What the lock last reported of itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LockState {
    /// `None`: not reported yet.
    pub locked: Option<bool>,
    pub jammed: bool,
    /// Percent.
    pub battery: Option<u8>,
}

/// A lock a network offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub device: DeviceRef,
    /// The name its network gives it (a Zigbee2MQTT friendly name, which is
    /// also its MQTT topic), when it has one.
    pub name: Option<String>,
    pub label: String,
    pub manufacturer: String,
    pub model: String,
    /// How many code slots the lock has (`None`: not known yet).
    pub slots: Option<u16>,
    pub online: bool,
    pub state: LockState,
}

/// What a lock's memory holds in one slot, as read back from the lock.
pub enum SlotReading {
    Empty,
    /// The code, as the lock reports it (a secret: compare it, never log it).
    Code(Zeroizing<String>),
    /// Occupied, but the lock does not say by what (masked codes, or the
    /// all-zero answer some locks give).
    Occupied,
    /// The lock did not answer the read.
    Unknown,
}

impl fmt::Debug for SlotReading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "Empty",
            Self::Code(_) => "Code(..)",
            Self::Occupied => "Occupied",
            Self::Unknown => "Unknown",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error("the lock did not answer (offline)")]
    Offline,
    #[error("not connected to the network")]
    Disconnected,
    /// `other_slot`: the slot holding it, when the network can tell.
    #[error("the lock refused the code: another slot holds it")]
    Duplicate { other_slot: Option<u16> },
    #[error("the lock's code memory is full")]
    MemoryFull,
    #[error("the lock refused the command: {0}")]
    Rejected(String),
    #[error("no such lock on the network")]
    NoSuchDevice,
    /// The lock does not take the setting from keyward (or never confirmed it).
    #[error("the lock does not take this setting from keyward")]
    Unsupported,
}

/// A lock's own wrong-code limit: after `attempts` wrong codes in a row its
/// keypad refuses every code for `seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeypadLimit {
    pub attempts: u8,
    pub seconds: u8,
}

/// How a lock was operated without a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// By hand (thumb turn, key).
    Manual,
    /// By radio command (keyward, Home Assistant, ...).
    Remote,
    /// The lock relocked itself.
    Auto,
}

/// What a network tells about its locks as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceEvent {
    /// A code from `slot` was typed at the lock's keypad.
    Keypad {
        device: DeviceRef,
        slot: u16,
        unlocked: bool,
    },
    Operated {
        device: DeviceRef,
        operation: Operation,
        unlocked: bool,
    },
    Jammed {
        device: DeviceRef,
    },
    /// A wrong code was typed at the keypad (when the lock tells).
    WrongCode {
        device: DeviceRef,
    },
    /// Every code was deleted at the lock.
    CodesCleared {
        device: DeviceRef,
    },
    /// The network interviewed the lock again (a reinstalled Z-Wave JS
    /// clears every code on a first interview): its memory must be read back.
    Reinterviewed {
        device: DeviceRef,
    },
    /// A slot's code changed outside keyward's writes (added or deleted at the lock).
    SlotChanged {
        device: DeviceRef,
        slot: u16,
    },
    /// The lock refused a new code for `slot` because another slot holds it.
    DuplicateRefused {
        device: DeviceRef,
        slot: u16,
    },
    /// Lock state or battery changed: the state as it was then (reports can
    /// follow each other faster than they are handled).
    StateChanged {
        device: DeviceRef,
        state: LockState,
    },
    Online {
        device: DeviceRef,
        online: bool,
    },
    /// The connection to the network came or went. After it comes back the
    /// locks' memory may have changed unseen: read back.
    Network {
        connected: bool,
    },
}

/// A network of locks reached through one protocol.
pub trait LockNetwork: Send + Sync {
    fn protocol(&self) -> Protocol;
    /// Whether the network is reachable now.
    fn connected(&self) -> bool;
    /// The locks the network offers now.
    fn devices(&self) -> Vec<DeviceInfo>;
    /// Events from now on.
    fn subscribe(&self) -> broadcast::Receiver<DeviceEvent>;
    /// Writes a code into a slot and answers with the slot read back afterwards.
    /// (A device of another protocol is `NoSuchDevice`.)
    fn write_code<'a>(
        &'a self,
        device: &'a DeviceRef,
        slot: u16,
        code: &'a str,
    ) -> BoxFuture<'a, Result<SlotReading, DeviceError>>;
    /// Empties a slot and answers with the slot read back afterwards.
    fn clear_code<'a>(&'a self, device: &'a DeviceRef, slot: u16) -> BoxFuture<'a, Result<SlotReading, DeviceError>>;
    /// Reads a slot from the lock itself (not from a cache).
    fn read_slot<'a>(&'a self, device: &'a DeviceRef, slot: u16) -> BoxFuture<'a, Result<SlotReading, DeviceError>>;
    /// Locks or unlocks.
    fn operate<'a>(&'a self, device: &'a DeviceRef, lock: bool) -> BoxFuture<'a, Result<(), DeviceError>>;
    /// Sets the lock's own wrong-code limit and answers with the limit the
    /// lock then reports holding; `Unsupported` where the protocol or the
    /// lock does not take one from keyward.
    fn set_keypad_limit<'a>(
        &'a self,
        _device: &'a DeviceRef,
        _limit: KeypadLimit,
    ) -> BoxFuture<'a, Result<KeypadLimit, DeviceError>> {
        Box::pin(async { Err(DeviceError::Unsupported) })
    }
}

/// A sensor's report, as its network read it: the alarm condition of its
/// kind (`open`: a door open, motion, smoke, CO, water), whether it is
/// online, its cover, its battery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorReport {
    pub device: DeviceRef,
    pub reading: keyward_core::alarm::Reading,
}

/// A sensor a network offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorInfo {
    pub device: DeviceRef,
    /// Its name on its network (a Zigbee2MQTT friendly name).
    pub name: Option<String>,
    pub label: String,
    pub manufacturer: String,
    pub model: String,
    /// What it senses (`contact`, `occupancy`, `smoke`, `water_leak`,
    /// `carbon_monoxide`, `vibration`), as its network describes it.
    pub senses: Vec<&'static str>,
    /// Its last report, when one came.
    pub reading: Option<keyward_core::alarm::Reading>,
}

/// The port every sensor protocol adapter implements: the sensors it
/// offers and their reports, nothing of how they are reached. The panel
/// (`crate::Panels`) is the one engine that reads them.
pub trait SensorNetwork: Send + Sync {
    fn protocol(&self) -> Protocol;
    /// Whether the network can be reached now.
    fn connected(&self) -> bool;
    fn sensors(&self) -> Vec<SensorInfo>;
    /// Every report from now on, each time a sensor says anything (its
    /// state, or going offline): the panel acts on changes.
    fn reports(&self) -> broadcast::Receiver<SensorReport>;
}

/// A siren a network offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SirenInfo {
    pub device: DeviceRef,
    pub name: Option<String>,
    pub label: String,
    pub manufacturer: String,
    pub model: String,
    pub online: bool,
}

/// The port every siren protocol adapter implements. The panel owns the
/// sirens: it sounds them for as long as its siren time (which the adapter
/// also gives the device as its own limit, should the stop be lost) and
/// stops them on the disarm.
pub trait SirenNetwork: Send + Sync {
    fn protocol(&self) -> Protocol;
    fn sirens(&self) -> Vec<SirenInfo>;
    /// Sounds the siren in the pattern of `alarm` for at most `seconds`.
    /// Answers once the network took the command for a siren that is online.
    fn sound<'a>(
        &'a self,
        device: &'a DeviceRef,
        alarm: keyward_core::alarm::AlarmKind,
        seconds: u16,
    ) -> BoxFuture<'a, Result<(), DeviceError>>;
    fn stop<'a>(&'a self, device: &'a DeviceRef) -> BoxFuture<'a, Result<(), DeviceError>>;
}
