//! The stored form of each record, column by column, shared by the
//! backends: both keep the same meaning in the same kinds of column
//! (instants as microseconds since the Unix epoch, enums in their one string
//! form, schedules as JSON), and both read back through the same parsers.

use jiff::Timestamp;
use keyward_core::lock_sync::{Held, Mac, Refusal, SlotMemory};
use keyward_core::{
    Action, ActivityEntry, ActivityKind, Actor, Bound, CodePolicy, CodeStatus, DenyReason, DeviceBinding, DeviceRef,
    Event, FailureReason, FriendlyName, IeeeAddress, LockAccess, LockoutPolicy, LockoutState, Name, Notify, Outcome,
    PanelPermissions, Protocol, Removal, Schedule, ScheduleSpec, Scope, SlotRange, User, UserKind, UserRef, Validity,
    ZoneName,
};

use crate::records::{
    ChannelRecord, DeliveryState, HomeRecord, LockRecord, LockRemoval, LockoutRecord, OutboxRecord, OwnerRecord,
    SealedCode, SlotRecord, TokenRecord, UserRecord,
};
use crate::{StoreError, StoreResult};

/// A panel as its row holds it: settings and state as JSON.
pub struct PanelColumns {
    pub home_id: String,
    pub settings: String,
    pub state: String,
    pub updated_at: i64,
}

impl PanelColumns {
    pub fn of(record: &crate::PanelRecord) -> StoreResult<Self> {
        let json = |e: serde_json::Error| StoreError::Database(Box::new(e));
        Ok(Self {
            home_id: record.home_id.clone(),
            settings: serde_json::to_string(&record.settings).map_err(json)?,
            state: serde_json::to_string(&record.panel).map_err(json)?,
            updated_at: micros(record.updated_at),
        })
    }

    pub fn into_record(self) -> StoreResult<crate::PanelRecord> {
        Ok(crate::PanelRecord {
            settings: serde_json::from_str(&self.settings)
                .map_err(|_| StoreError::Corrupt("a stored panel's settings cannot be read"))?,
            panel: serde_json::from_str(&self.state)
                .map_err(|_| StoreError::Corrupt("a stored panel's state cannot be read"))?,
            home_id: self.home_id,
            updated_at: instant(self.updated_at)?,
        })
    }
}

/// A sensor as its row holds it.
pub struct SensorColumns {
    pub id: String,
    pub home_id: String,
    pub name: String,
    pub kind: String,
    /// A comma-separated subset of `away,stay,night`.
    pub modes: String,
    pub entry_delay: Option<i64>,
    pub bypassable: bool,
    pub device_protocol: Option<String>,
    /// A Z-Wave node's number, or a Zigbee device's IEEE address.
    pub device_address: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl SensorColumns {
    pub fn of(r: &crate::SensorRecord) -> Self {
        let modes = keyward_core::alarm::ArmMode::ALL
            .iter()
            .filter(|m| r.setup.modes.watches(**m))
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let (protocol, address) = r.device.as_ref().map(device_columns).unzip();
        Self {
            id: r.id.clone(),
            home_id: r.home_id.clone(),
            name: r.name.as_str().to_owned(),
            kind: r.setup.kind.as_str().to_owned(),
            modes,
            entry_delay: r.setup.entry_delay.map(i64::from),
            bypassable: r.setup.bypassable,
            device_protocol: protocol,
            device_address: address,
            created_at: micros(r.created_at),
            updated_at: micros(r.updated_at),
        }
    }

    pub fn into_record(self) -> StoreResult<crate::SensorRecord> {
        use keyward_core::alarm::{ArmMode, Modes, SensorKind, SensorSetup};
        const BAD: StoreError = StoreError::Corrupt("a stored sensor cannot be read");
        let kind = SensorKind::parse(&self.kind).ok_or(BAD)?;
        let mut modes = Modes::default();
        for mode in self.modes.split(',').filter(|m| !m.is_empty()) {
            match ArmMode::parse(mode).ok_or(BAD)? {
                ArmMode::Away => modes.away = true,
                ArmMode::Stay => modes.stay = true,
                ArmMode::Night => modes.night = true,
            }
        }
        let device = match (self.device_protocol.as_deref(), self.device_address.as_deref()) {
            (None, _) => None,
            (Some(protocol), Some(address)) => Some(device_of(protocol, address)?),
            (Some(_), None) => return Err(BAD),
        };
        Ok(crate::SensorRecord {
            id: self.id,
            home_id: self.home_id,
            name: keyward_core::Name::parse(self.name).map_err(|_| BAD)?,
            setup: SensorSetup {
                kind,
                modes,
                entry_delay: self.entry_delay.map(u16::try_from).transpose().map_err(|_| BAD)?,
                bypassable: self.bypassable,
            },
            device,
            created_at: instant(self.created_at)?,
            updated_at: instant(self.updated_at)?,
        })
    }
}

/// A device as two columns: its protocol, and its address on that
/// network (a Z-Wave node's number, a Zigbee device's IEEE address or, for
/// a device bound by name, its friendly name).
pub fn device_columns(device: &keyward_core::DeviceRef) -> (String, String) {
    use keyward_core::DeviceRef;
    let address = match device {
        DeviceRef::ZwaveJs { node_id } => node_id.to_string(),
        DeviceRef::Zigbee2Mqtt { ieee_address } => ieee_address.as_str().to_owned(),
        DeviceRef::Zigbee2MqttNamed { friendly_name } => friendly_name.as_str().to_owned(),
    };
    (device.protocol().as_str().to_owned(), address)
}

/// The device [`device_columns`] wrote.
pub fn device_of(protocol: &str, address: &str) -> StoreResult<keyward_core::DeviceRef> {
    use keyward_core::{DeviceRef, FriendlyName, IeeeAddress, Protocol};
    const BAD: StoreError = StoreError::Corrupt("a stored device cannot be read");
    Ok(match Protocol::parse(protocol).ok_or(BAD)? {
        Protocol::ZwaveJs => DeviceRef::ZwaveJs { node_id: address.parse().map_err(|_| BAD)? },
        Protocol::Zigbee2Mqtt => match IeeeAddress::parse(address) {
            Ok(ieee_address) => DeviceRef::Zigbee2Mqtt { ieee_address },
            Err(_) => DeviceRef::Zigbee2MqttNamed { friendly_name: FriendlyName::parse(address).map_err(|_| BAD)? },
        },
    })
}

/// A siren as its row holds it.
pub struct SirenColumns {
    pub id: String,
    pub home_id: String,
    pub name: String,
    pub device_protocol: String,
    pub device_address: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl SirenColumns {
    pub fn of(r: &crate::SirenRecord) -> Self {
        let (device_protocol, device_address) = device_columns(&r.device);
        Self {
            id: r.id.clone(),
            home_id: r.home_id.clone(),
            name: r.name.as_str().to_owned(),
            device_protocol,
            device_address,
            created_at: micros(r.created_at),
            updated_at: micros(r.updated_at),
        }
    }

    pub fn into_record(self) -> StoreResult<crate::SirenRecord> {
        Ok(crate::SirenRecord {
            device: device_of(&self.device_protocol, &self.device_address)?,
            name: keyward_core::Name::parse(self.name)
                .map_err(|_| StoreError::Corrupt("a stored siren cannot be read"))?,
            id: self.id,
            home_id: self.home_id,
            created_at: instant(self.created_at)?,
            updated_at: instant(self.updated_at)?,
        })
    }
}

/// How every instant is stored.
pub fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

pub fn instant(micros: i64) -> StoreResult<Timestamp> {
    Timestamp::from_microsecond(micros).map_err(|_| StoreError::Corrupt("a stored instant is out of range"))
}

fn optional_instant(micros: Option<i64>) -> StoreResult<Option<Timestamp>> {
    micros.map(instant).transpose()
}

fn corrupt<T, E>(what: &'static str) -> impl FnOnce(E) -> StoreResult<T> {
    move |_| Err(StoreError::Corrupt(what))
}

pub struct HomeColumns {
    pub id: String,
    pub name: String,
    pub timezone: String,
    pub code_min_length: i64,
    pub code_max_length: i64,
    pub code_reject_weak: bool,
    pub lockout_max_attempts: i64,
    pub lockout_window_seconds: i64,
    pub lockout_seconds: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl HomeColumns {
    pub fn of(h: &HomeRecord) -> Self {
        Self {
            id: h.id.clone(),
            name: h.name.as_str().to_owned(),
            timezone: h.zone.as_str().to_owned(),
            code_min_length: h.code_policy.min_length().into(),
            code_max_length: h.code_policy.max_length().into(),
            code_reject_weak: h.code_policy.reject_weak(),
            lockout_max_attempts: h.lockout_policy.max_attempts().into(),
            lockout_window_seconds: h.lockout_policy.window_seconds().into(),
            lockout_seconds: h.lockout_policy.lockout_seconds().into(),
            created_at: micros(h.created_at),
            updated_at: micros(h.updated_at),
        }
    }

    pub fn into_record(self) -> StoreResult<HomeRecord> {
        Ok(HomeRecord {
            name: Name::from_stored(self.name),
            zone: ZoneName::parse(&self.timezone).or_else(corrupt("a stored time zone is not known"))?,
            code_policy: CodePolicy::new(self.code_min_length, self.code_max_length, self.code_reject_weak)
                .or_else(corrupt("a stored code policy is not valid"))?,
            lockout_policy: LockoutPolicy::new(
                self.lockout_max_attempts,
                self.lockout_window_seconds,
                self.lockout_seconds,
            )
            .or_else(corrupt("a stored lockout policy is not valid"))?,
            created_at: instant(self.created_at)?,
            updated_at: instant(self.updated_at)?,
            id: self.id,
        })
    }
}

pub struct LockColumns {
    pub id: String,
    pub home_id: String,
    pub name: String,
    pub device_protocol: Option<String>,
    pub device_node: Option<i64>,
    /// A Zigbee2MQTT device bound by friendly name (before addresses).
    pub device_name: Option<String>,
    /// A Zigbee2MQTT device's IEEE address.
    pub device_ieee: Option<String>,
    pub slot_first: Option<i64>,
    pub slot_last: Option<i64>,
    /// `delete`, `unbind` or `move` while a removal waits.
    pub removal: Option<String>,
    /// A move's next device, as JSON.
    pub removal_to: Option<String>,
    pub removal_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A device binding as JSON (a move's next device): the same fields as the
/// device columns.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredBinding {
    protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    node: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ieee: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    slot_first: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    slot_last: Option<i64>,
}

impl StoredBinding {
    fn of(binding: &DeviceBinding) -> Self {
        let (node, name, ieee) = match &binding.device {
            DeviceRef::ZwaveJs { node_id } => (Some(i64::from(*node_id)), None, None),
            DeviceRef::Zigbee2Mqtt { ieee_address } => (None, None, Some(ieee_address.as_str().to_owned())),
            DeviceRef::Zigbee2MqttNamed { friendly_name } => (None, Some(friendly_name.as_str().to_owned()), None),
        };
        Self {
            protocol: binding.device.protocol().as_str().to_owned(),
            node,
            name,
            ieee,
            slot_first: binding.slots.map(|r| i64::from(r.first())),
            slot_last: binding.slots.map(|r| i64::from(r.last())),
        }
    }

    fn into_binding(self) -> StoreResult<DeviceBinding> {
        const BAD: StoreError = StoreError::Corrupt("a stored lock device is not valid");
        let device = match (Protocol::parse(&self.protocol).ok_or(BAD)?, self.node, self.name, self.ieee) {
            (Protocol::ZwaveJs, Some(node), None, None) => {
                DeviceRef::ZwaveJs { node_id: u32::try_from(node).map_err(|_| BAD)? }
            }
            (Protocol::Zigbee2Mqtt, None, _, Some(ieee)) => {
                DeviceRef::Zigbee2Mqtt { ieee_address: IeeeAddress::parse(&ieee).map_err(|_| BAD)? }
            }
            (Protocol::Zigbee2Mqtt, None, Some(name), None) => {
                DeviceRef::Zigbee2MqttNamed { friendly_name: FriendlyName::parse(&name).map_err(|_| BAD)? }
            }
            _ => return Err(BAD),
        };
        let slots = match (self.slot_first, self.slot_last) {
            (None, None) => None,
            (Some(first), Some(last)) => Some(
                SlotRange::new(u16::try_from(first).map_err(|_| BAD)?, u16::try_from(last).map_err(|_| BAD)?)
                    .map_err(|_| BAD)?,
            ),
            _ => return Err(BAD),
        };
        Ok(DeviceBinding { device, slots })
    }
}

impl LockColumns {
    pub fn of(l: &LockRecord) -> Self {
        let device = l.device.as_ref().map(StoredBinding::of);
        let (removal, removal_to, removal_at) = match &l.removal {
            None => (None, None, None),
            Some(removal) => (
                Some(removal.what.as_str().to_owned()),
                removal
                    .what
                    .next_binding()
                    .map(|b| serde_json::to_string(&StoredBinding::of(b)).unwrap_or_else(|_| String::from("{}"))),
                Some(micros(removal.since)),
            ),
        };
        Self {
            id: l.id.clone(),
            home_id: l.home_id.clone(),
            name: l.name.as_str().to_owned(),
            device_protocol: device.as_ref().map(|d| d.protocol.clone()),
            device_node: device.as_ref().and_then(|d| d.node),
            device_name: device.as_ref().and_then(|d| d.name.clone()),
            device_ieee: device.as_ref().and_then(|d| d.ieee.clone()),
            slot_first: device.as_ref().and_then(|d| d.slot_first),
            slot_last: device.as_ref().and_then(|d| d.slot_last),
            removal,
            removal_to,
            removal_at,
            created_at: micros(l.created_at),
            updated_at: micros(l.updated_at),
        }
    }

    pub fn into_record(self) -> StoreResult<LockRecord> {
        const BAD: StoreError = StoreError::Corrupt("a stored lock device is not valid");
        let device = match self.device_protocol {
            None if self.device_node.is_none() && self.device_name.is_none() && self.device_ieee.is_none() => None,
            None => return Err(BAD),
            Some(protocol) => Some(
                StoredBinding {
                    protocol,
                    node: self.device_node,
                    name: self.device_name,
                    ieee: self.device_ieee,
                    slot_first: self.slot_first,
                    slot_last: self.slot_last,
                }
                .into_binding()?,
            ),
        };
        const BAD_REMOVAL: StoreError = StoreError::Corrupt("a stored lock removal is not valid");
        let removal = match (self.removal.as_deref(), self.removal_to, self.removal_at) {
            (None, None, None) => None,
            (Some(what), to, Some(since)) => {
                let what = match (what, to) {
                    ("delete", None) => Removal::Delete,
                    ("unbind", None) => Removal::Unbind,
                    ("move", Some(to)) => Removal::Move(
                        serde_json::from_str::<StoredBinding>(&to).map_err(|_| BAD_REMOVAL)?.into_binding()?,
                    ),
                    _ => return Err(BAD_REMOVAL),
                };
                Some(LockRemoval { what, since: instant(since)? })
            }
            _ => return Err(BAD_REMOVAL),
        };
        Ok(LockRecord {
            name: Name::from_stored(self.name),
            device,
            removal,
            created_at: instant(self.created_at)?,
            updated_at: instant(self.updated_at)?,
            id: self.id,
            home_id: self.home_id,
        })
    }
}

pub struct SlotColumns {
    pub lock_id: String,
    pub slot: i64,
    pub user_id: Option<String>,
    /// What keyward believes the slot holds: `unknown`, `empty`, `ours`,
    /// `ours_unread` or `foreign`.
    pub content: String,
    /// The MAC of `ours`, or of `foreign` when the lock shows codes.
    pub code_mac: Option<Vec<u8>>,
    /// Keyward's codes that may be in the slot: MACs, 32 bytes each.
    pub written: Option<Vec<u8>>,
    pub refused_mac: Option<Vec<u8>>,
    /// Why the lock would not keep it.
    pub refused_reason: Option<String>,
    pub taken_over: bool,
    pub attempt_mac: Option<Vec<u8>>,
    pub status: String,
    pub reason: Option<String>,
    pub detail: Option<i64>,
    pub attempts: i64,
    pub retry_at: Option<i64>,
    pub updated_at: i64,
}

impl SlotColumns {
    pub fn of(s: &SlotRecord) -> Self {
        let memory = &s.memory;
        let (content, code_mac) = match memory.held {
            Held::Unknown => ("unknown", None),
            Held::Empty => ("empty", None),
            Held::Ours(mac) => ("ours", Some(mac.to_vec())),
            Held::OursUnread => ("ours_unread", None),
            Held::Foreign(mac) => ("foreign", mac.map(|m| m.to_vec())),
        };
        Self {
            lock_id: s.lock_id.clone(),
            slot: i64::from(s.slot),
            user_id: s.user_id.clone(),
            content: content.to_owned(),
            code_mac,
            written: (!memory.written.is_empty()).then(|| memory.written.concat()),
            refused_mac: memory.refused.map(|r| r.mac.to_vec()),
            refused_reason: memory.refused.map(|r| r.why.as_str().to_owned()),
            taken_over: memory.taken_over,
            attempt_mac: s.attempt_mac.map(|m| m.to_vec()),
            status: s.status.as_str().to_owned(),
            reason: s.reason.map(|r| r.as_str().to_owned()),
            detail: s.detail.map(i64::from),
            attempts: i64::from(s.attempts),
            retry_at: s.retry_at.map(micros),
            updated_at: micros(s.updated_at),
        }
    }

    pub fn into_record(self) -> StoreResult<SlotRecord> {
        const BAD: StoreError = StoreError::Corrupt("a stored lock slot is not valid");
        let mac = |bytes: Vec<u8>| -> StoreResult<Mac> { bytes.try_into().map_err(|_| BAD) };
        let held = match (self.content.as_str(), self.code_mac) {
            ("unknown", None) => Held::Unknown,
            ("empty", None) => Held::Empty,
            ("ours", Some(m)) => Held::Ours(mac(m)?),
            ("ours_unread", None) => Held::OursUnread,
            ("foreign", m) => Held::Foreign(m.map(mac).transpose()?),
            _ => return Err(BAD),
        };
        let written_bytes = self.written.unwrap_or_default();
        if !written_bytes.len().is_multiple_of(32) {
            return Err(BAD);
        }
        let written: Vec<Mac> = written_bytes.chunks(32).map(|c| mac(c.to_vec())).collect::<StoreResult<_>>()?;
        // Ours is always among the codes keyward wrote; anything else is a damaged row.
        let consistent = match held {
            Held::Ours(m) => written.contains(&m),
            Held::OursUnread => !written.is_empty(),
            _ => true,
        };
        if !consistent {
            return Err(BAD);
        }
        let memory = SlotMemory {
            held,
            written,
            refused: match (self.refused_mac, self.refused_reason) {
                (None, None) => None,
                (Some(m), Some(why)) => Some(Refusal { mac: mac(m)?, why: FailureReason::parse(&why).ok_or(BAD)? }),
                _ => return Err(BAD),
            },
            taken_over: self.taken_over,
            ..SlotMemory::default()
        };
        Ok(SlotRecord {
            slot: u16::try_from(self.slot).map_err(|_| BAD)?,
            user_id: self.user_id,
            memory,
            status: CodeStatus::parse(&self.status).ok_or(BAD)?,
            reason: self.reason.map(|r| FailureReason::parse(&r).ok_or(BAD)).transpose()?,
            detail: self.detail.map(|d| u16::try_from(d).map_err(|_| BAD)).transpose()?,
            attempts: u32::try_from(self.attempts).map_err(|_| BAD)?,
            attempt_mac: self.attempt_mac.map(mac).transpose()?,
            retry_at: optional_instant(self.retry_at)?,
            updated_at: instant(self.updated_at)?,
            lock_id: self.lock_id,
        })
    }
}

pub struct UserColumns {
    pub id: String,
    pub home_id: String,
    pub name: String,
    pub kind: String,
    pub panel_arm: bool,
    pub panel_disarm: bool,
    pub all_locks: bool,
    /// Sorted, for a stable order.
    pub lock_ids: Vec<String>,
    /// The schedule's wire form, as JSON.
    pub schedule: String,
    pub valid_from: Option<i64>,
    pub valid_until: Option<i64>,
    /// A stay's first and last calendar days in the home's zone
    /// ("2026-12-05"), when given as days rather than instants.
    pub first_day: Option<String>,
    pub last_day: Option<String>,
    pub max_uses: Option<i64>,
    pub uses: i64,
    pub last_used_at: Option<i64>,
    pub notify_arrive: bool,
    pub notify_leave: bool,
    /// The alert rules' wire form as JSON; none: the defaults.
    pub alerts: Option<String>,
    pub enabled: bool,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub code_mac: Vec<u8>,
    pub code_sealed: Vec<u8>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl UserColumns {
    pub fn of(r: &UserRecord) -> StoreResult<Self> {
        let u = &r.user;
        let (all_locks, mut lock_ids) = match &u.locks {
            LockAccess::All => (true, Vec::new()),
            LockAccess::Only(ids) => (false, ids.clone()),
        };
        lock_ids.sort();
        Ok(Self {
            id: u.id.clone(),
            home_id: r.home_id.clone(),
            name: u.name.as_str().to_owned(),
            kind: u.kind.as_str().to_owned(),
            panel_arm: u.panel.arm,
            panel_disarm: u.panel.disarm,
            all_locks,
            lock_ids,
            schedule: serde_json::to_string(&u.schedule.to_spec())
                .map_err(|_| StoreError::Corrupt("a schedule could not be serialised"))?,
            valid_from: u.validity.from().and_then(Bound::instant).map(micros),
            valid_until: u.validity.until().and_then(Bound::instant).map(micros),
            first_day: u.validity.from().and_then(Bound::day).map(|d| d.to_string()),
            last_day: u.validity.until().and_then(Bound::day).map(|d| d.to_string()),
            max_uses: u.validity.max_uses().map(i64::from),
            uses: i64::from(u.uses),
            last_used_at: r.last_used.map(micros),
            notify_arrive: u.notify.arrive,
            notify_leave: u.notify.leave,
            alerts: if u.alerts == keyward_core::notify::AlertRules::default() {
                None
            } else {
                Some(
                    serde_json::to_string(&u.alerts.to_spec())
                        .map_err(|_| StoreError::Corrupt("alert rules could not be serialised"))?,
                )
            },
            enabled: u.enabled,
            contact_email: u.contact.email.as_ref().map(|e| e.as_str().to_owned()),
            contact_phone: u.contact.phone.as_ref().map(|p| p.as_str().to_owned()),
            code_mac: r.code.mac.to_vec(),
            code_sealed: r.code.sealed.clone(),
            created_at: micros(r.created_at),
            updated_at: micros(r.updated_at),
        })
    }

    pub fn into_record(self) -> StoreResult<UserRecord> {
        let c = self;
        let spec: ScheduleSpec =
            serde_json::from_str(&c.schedule).or_else(corrupt("a stored schedule is not valid JSON"))?;
        let user = User {
            name: Name::from_stored(c.name),
            kind: UserKind::parse(&c.kind).ok_or(StoreError::Corrupt("a stored user kind is not known"))?,
            panel: PanelPermissions { arm: c.panel_arm, disarm: c.panel_disarm },
            locks: if c.all_locks { LockAccess::All } else { LockAccess::Only(c.lock_ids) },
            schedule: Schedule::parse(&spec).or_else(corrupt("a stored schedule is not valid"))?,
            validity: Validity::from_stored(
                stored_bound(c.valid_from, c.first_day.as_deref())?,
                stored_bound(c.valid_until, c.last_day.as_deref())?,
                // A count that does not fit allows no use: closed, never open.
                c.max_uses.map(|n| u32::try_from(n).unwrap_or(0)),
            ),
            uses: u32::try_from(c.uses).unwrap_or(u32::MAX),
            notify: Notify { arrive: c.notify_arrive, leave: c.notify_leave },
            alerts: match &c.alerts {
                None => keyward_core::notify::AlertRules::default(),
                Some(json) => {
                    let spec: keyward_core::notify::AlertRulesSpec =
                        serde_json::from_str(json).or_else(corrupt("stored alert rules are not valid JSON"))?;
                    keyward_core::notify::AlertRules::parse(&spec)
                        .or_else(corrupt("stored alert rules are not valid"))?
                }
            },
            enabled: c.enabled,
            contact: keyward_core::Contact {
                email: c
                    .contact_email
                    .map(|e| keyward_core::email::EmailAddress::parse(&e))
                    .transpose()
                    .or_else(corrupt("a stored contact email is not valid"))?,
                phone: c
                    .contact_phone
                    .map(|p| keyward_core::Phone::parse(&p))
                    .transpose()
                    .or_else(corrupt("a stored contact phone is not valid"))?,
            },
            id: c.id,
        };
        Ok(UserRecord {
            home_id: c.home_id,
            user,
            code: SealedCode {
                mac: c.code_mac.try_into().or_else(corrupt("a stored code digest is not 32 bytes"))?,
                sealed: c.code_sealed,
            },
            last_used: optional_instant(c.last_used_at)?,
            created_at: instant(c.created_at)?,
            updated_at: instant(c.updated_at)?,
        })
    }
}

/// An activity entry's columns, borrowed from the entry: writing one on the
/// access path copies no string but the actor's.
pub struct ActivityColumns<'a> {
    pub id: &'a str,
    pub home_id: &'a str,
    pub at: i64,
    pub kind: &'static str,
    pub device: Option<&'a str>,
    pub action: Option<&'static str>,
    pub outcome: Option<&'static str>,
    pub reason: Option<&'static str>,
    pub user_id: Option<&'a str>,
    pub user_name: Option<&'a str>,
    pub duress: bool,
    pub actor: Option<String>,
    pub detail: Option<&'a str>,
}

impl<'a> ActivityColumns<'a> {
    pub fn of(entry: &'a ActivityEntry) -> Self {
        let e = &entry.event;
        Self {
            id: &entry.id,
            home_id: &entry.home_id,
            at: micros(e.at),
            kind: e.kind.as_str(),
            device: e.device.as_deref(),
            action: e.action.map(Action::as_str),
            outcome: e.outcome.map(Outcome::as_str),
            reason: e.reason.map(DenyReason::as_str),
            user_id: e.user.as_ref().map(|u| u.id.as_str()),
            user_name: e.user.as_ref().map(|u| u.name.as_str()),
            duress: e.duress,
            actor: e.actor.as_ref().map(Actor::to_text),
            detail: e.detail.as_deref(),
        }
    }
}

/// An activity entry as read back.
pub struct StoredActivity {
    pub id: String,
    pub home_id: String,
    pub at: i64,
    pub kind: String,
    pub device: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub reason: Option<String>,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub duress: bool,
    pub actor: Option<String>,
    pub detail: Option<String>,
}

impl StoredActivity {
    pub fn into_entry(self) -> StoreResult<ActivityEntry> {
        fn parsed<T>(text: Option<String>, parse: fn(&str) -> Option<T>, what: &'static str) -> StoreResult<Option<T>> {
            text.map(|t| parse(&t).ok_or(StoreError::Corrupt(what))).transpose()
        }
        Ok(ActivityEntry {
            id: self.id,
            home_id: self.home_id,
            event: Event {
                at: instant(self.at)?,
                kind: ActivityKind::parse(&self.kind)
                    .ok_or(StoreError::Corrupt("a stored activity kind is not known"))?,
                device: self.device,
                action: parsed(self.action, Action::parse, "a stored action is not known")?,
                outcome: parsed(self.outcome, Outcome::parse, "a stored outcome is not known")?,
                reason: parsed(self.reason, DenyReason::parse, "a stored reason is not known")?,
                // History keeps the name as it was, even if it was since deleted.
                user: self.user_id.map(|id| UserRef { id, name: self.user_name.unwrap_or_default() }),
                duress: self.duress,
                actor: parsed(self.actor, Actor::parse, "a stored actor is not known")?,
                detail: self.detail,
            },
        })
    }
}

/// A lockout's columns: the failures' instants and the end of the lockout.
pub fn lockout_columns(state: &LockoutState) -> (Vec<i64>, Option<i64>) {
    (state.failures.iter().copied().map(micros).collect(), state.locked_until.map(micros))
}

pub fn lockout_record(
    home_id: String,
    device: String,
    failures: &[i64],
    locked_until: Option<i64>,
) -> StoreResult<LockoutRecord> {
    Ok(LockoutRecord {
        home_id,
        device,
        state: LockoutState {
            failures: failures.iter().copied().map(instant).collect::<StoreResult<_>>()?,
            locked_until: optional_instant(locked_until)?,
        },
    })
}

pub struct TokenColumns {
    pub id: String,
    pub name: String,
    pub scope: String,
    pub home_id: Option<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

impl TokenColumns {
    pub fn into_record(self) -> StoreResult<TokenRecord> {
        Ok(TokenRecord {
            scope: Scope::parse(&self.scope).ok_or(StoreError::Corrupt("a stored token scope is not known"))?,
            created_at: instant(self.created_at)?,
            revoked_at: optional_instant(self.revoked_at)?,
            id: self.id,
            name: self.name,
            home_id: self.home_id,
        })
    }
}

pub struct OwnerColumns {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl OwnerColumns {
    pub fn into_record(self) -> StoreResult<OwnerRecord> {
        Ok(OwnerRecord {
            created_at: instant(self.created_at)?,
            updated_at: instant(self.updated_at)?,
            id: self.id,
            email: self.email,
            password_hash: self.password_hash,
        })
    }
}

pub struct ChannelColumns {
    pub id: String,
    pub home_id: String,
    pub name: String,
    pub kind: String,
    /// The target's settings as JSON: `{"url"}` (webhook, ntfy), `{"to"}` or `{"topic"}`.
    pub target: String,
    pub secret_sealed: Option<Vec<u8>>,
    pub emergency: bool,
    /// Quiet hours as seconds since midnight.
    pub quiet_start: Option<i64>,
    pub quiet_end: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

fn seconds_of_day(t: jiff::civil::Time) -> i64 {
    i64::from(t.hour()) * 3600 + i64::from(t.minute()) * 60 + i64::from(t.second())
}

fn time_of_day(seconds: i64) -> StoreResult<jiff::civil::Time> {
    const BAD: StoreError = StoreError::Corrupt("a stored time of day is not valid");
    let seconds = i32::try_from(seconds).map_err(|_| BAD)?;
    if !(0..86_400).contains(&seconds) {
        return Err(BAD);
    }
    jiff::civil::Time::new((seconds / 3600) as i8, (seconds / 60 % 60) as i8, (seconds % 60) as i8, 0).map_err(|_| BAD)
}

impl ChannelColumns {
    pub fn of(r: &ChannelRecord) -> Self {
        use keyward_core::channel::ChannelTarget;
        let c = &r.channel;
        let target = match &c.target {
            ChannelTarget::Webhook { url } | ChannelTarget::Ntfy { url } => serde_json::json!({"url": url.as_str()}),
            ChannelTarget::Email { to } => serde_json::json!({"to": to.as_str()}),
            ChannelTarget::Mqtt { topic } => serde_json::json!({"topic": topic}),
        };
        Self {
            id: c.id.clone(),
            home_id: c.home_id.clone(),
            name: c.name.as_str().to_owned(),
            kind: c.target.kind().as_str().to_owned(),
            target: target.to_string(),
            secret_sealed: r.secret_sealed.clone(),
            emergency: c.emergency,
            quiet_start: c.quiet.map(|q| seconds_of_day(q.start)),
            quiet_end: c.quiet.map(|q| seconds_of_day(q.end)),
            created_at: micros(r.created_at),
            updated_at: micros(r.updated_at),
        }
    }

    pub fn into_record(self) -> StoreResult<ChannelRecord> {
        use keyward_core::channel::{Channel, ChannelKind, ChannelTarget, HttpUrl};
        const BAD: StoreError = StoreError::Corrupt("a stored channel is not valid");
        let target: serde_json::Value = serde_json::from_str(&self.target).map_err(|_| BAD)?;
        let text = |key: &str| target.get(key).and_then(serde_json::Value::as_str).ok_or(BAD);
        let target = match ChannelKind::parse(&self.kind).ok_or(BAD)? {
            ChannelKind::Webhook => ChannelTarget::Webhook { url: HttpUrl::parse(text("url")?).map_err(|_| BAD)? },
            ChannelKind::Email => ChannelTarget::email(text("to")?).map_err(|_| BAD)?,
            ChannelKind::Ntfy => ChannelTarget::Ntfy { url: HttpUrl::parse(text("url")?).map_err(|_| BAD)? },
            ChannelKind::Mqtt => {
                ChannelTarget::Mqtt { topic: ChannelTarget::mqtt_topic(text("topic")?).map_err(|_| BAD)? }
            }
        };
        let quiet = match (self.quiet_start, self.quiet_end) {
            (Some(start), Some(end)) => {
                Some(keyward_core::notify::QuietHours { start: time_of_day(start)?, end: time_of_day(end)? })
            }
            (None, None) => None,
            _ => return Err(BAD),
        };
        Ok(ChannelRecord {
            channel: Channel {
                id: self.id,
                home_id: self.home_id,
                name: Name::parse(&self.name).map_err(|_| BAD)?,
                target,
                emergency: self.emergency,
                quiet,
            },
            secret_sealed: self.secret_sealed,
            created_at: instant(self.created_at)?,
            updated_at: instant(self.updated_at)?,
        })
    }
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed].into_iter().find(|s| s.as_str() == text)
    }
}

pub struct OutboxColumns {
    pub id: String,
    pub home_id: String,
    pub channel_id: String,
    pub event_id: String,
    pub kind: String,
    pub created_at: i64,
    pub title: String,
    pub body: String,
    pub data: String,
    pub state: String,
    pub attempts: i64,
    pub next_at: i64,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
}

impl OutboxColumns {
    pub fn of(r: &OutboxRecord) -> Self {
        Self {
            id: r.id.clone(),
            home_id: r.home_id.clone(),
            channel_id: r.channel_id.clone(),
            event_id: r.event_id.clone(),
            kind: r.kind.as_str().to_owned(),
            created_at: micros(r.created_at),
            title: r.title.clone(),
            body: r.body.clone(),
            data: r.data.clone(),
            state: r.state.as_str().to_owned(),
            attempts: i64::from(r.attempts),
            next_at: micros(r.next_at),
            last_error: r.last_error.clone(),
            delivered_at: r.delivered_at.map(micros),
        }
    }

    pub fn into_record(self) -> StoreResult<OutboxRecord> {
        const BAD: StoreError = StoreError::Corrupt("a stored notification is not valid");
        Ok(OutboxRecord {
            id: self.id,
            home_id: self.home_id,
            channel_id: self.channel_id,
            event_id: self.event_id,
            kind: keyward_core::notify::AlertKind::parse(&self.kind).ok_or(BAD)?,
            created_at: instant(self.created_at)?,
            title: self.title,
            body: self.body,
            data: self.data,
            state: DeliveryState::parse(&self.state).ok_or(BAD)?,
            attempts: u32::try_from(self.attempts).map_err(|_| BAD)?,
            next_at: instant(self.next_at)?,
            last_error: self.last_error,
            delivered_at: optional_instant(self.delivered_at)?,
        })
    }
}

/// A shared link's columns; both digests as 32 bytes.
pub struct ShareColumns {
    pub id: String,
    pub home_id: String,
    pub user_id: String,
    pub digest: Vec<u8>,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub opened_at: Option<i64>,
    pub browser: Option<Vec<u8>>,
}

impl ShareColumns {
    /// The columns in the order the backends select them.
    pub const LIST: &'static str =
        "id, home_id, user_id, token_hash, created_by, created_at, expires_at, revoked_at, opened_at, browser_hash";

    pub fn of(s: &crate::records::ShareRecord) -> Self {
        Self {
            id: s.id.clone(),
            home_id: s.home_id.clone(),
            user_id: s.user_id.clone(),
            digest: s.digest.to_vec(),
            created_by: s.created_by.clone(),
            created_at: micros(s.created_at),
            expires_at: micros(s.expires_at),
            revoked_at: s.revoked_at.map(micros),
            opened_at: s.opened_at.map(micros),
            browser: s.browser.map(|b| b.to_vec()),
        }
    }

    pub fn into_record(self) -> StoreResult<crate::records::ShareRecord> {
        let digest = |bytes: Vec<u8>| -> StoreResult<crate::records::Digest> {
            bytes.try_into().or_else(corrupt("a stored link digest is not 32 bytes"))
        };
        Ok(crate::records::ShareRecord {
            id: self.id,
            home_id: self.home_id,
            user_id: self.user_id,
            digest: digest(self.digest)?,
            created_by: self.created_by,
            created_at: instant(self.created_at)?,
            expires_at: instant(self.expires_at)?,
            revoked_at: optional_instant(self.revoked_at)?,
            opened_at: optional_instant(self.opened_at)?,
            browser: self.browser.map(digest).transpose()?,
        })
    }
}

/// A bound read back: an instant column or a day column (never both, as
/// written by [`UserColumns::of`]; a day wins if a hand-edited row has both).
fn stored_bound(instant: Option<i64>, day: Option<&str>) -> StoreResult<Option<Bound>> {
    match day {
        Some(day) => Ok(Some(Bound::Day(day.parse().or_else(corrupt("a stored day is not a date"))?))),
        None => Ok(optional_instant(instant)?.map(Bound::At)),
    }
}
