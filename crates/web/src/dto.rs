//! The API's JSON shapes. Conversions from the hub's views live here too, so
//! handlers stay one call long.

use std::fmt;

use jiff::Timestamp;
use keyward_app::{AccessOutcome, AppError, DeviceRequest, HomeView, LockView, UserView};
use keyward_core::notify::{AlertRulesSpec, ChannelsSpec, NoShowSpec};
use keyward_core::{Action, ActivityEntry, DenyReason, LockAccess, ScheduleSpec, UserKind};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use zeroize::Zeroizing;

/// A code (or a channel's token) as it arrives in a request: wiped from
/// memory when dropped, and never printed.
pub struct SecretCode(pub Zeroizing<String>);

impl<'de> Deserialize<'de> for SecretCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| Self(Zeroizing::new(s)))
    }
}

impl fmt::Debug for SecretCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<code>")
    }
}

/// Distinguishes a field that is absent (`None`) from one set to null (`Some(None)`).
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A JSON Schema integer is any number without a fraction: `8` and `8.0`
/// alike. Out of `i64`, it is refused (every integer field has a smaller
/// maximum anyway).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Integer(pub i64);

impl<'de> Deserialize<'de> for Integer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Integer;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Integer, E> {
                Ok(Integer(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Integer, E> {
                i64::try_from(v).map(Integer).map_err(|_| E::custom("out of range"))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Integer, E> {
                // Exactly representable, and within i64.
                let whole = v.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&v);
                if whole { Ok(Integer(v as i64)) } else { Err(E::custom("not an integer")) }
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl Integer {
    /// The same rule for an integer in a query string ("8" or "8.0").
    pub fn from_text(text: &str) -> Option<i64> {
        text.parse::<i64>().ok().or_else(|| {
            let v: f64 = text.parse().ok()?;
            (v.is_finite() && v.fract() == 0.0 && v.abs() < 9.2e18).then_some(v as i64)
        })
    }
}

/// A field that may be absent (`None`, by `#[serde(default)]`) but not null.
fn not_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

fn integers<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Option::<Integer>::deserialize(d).map(|n| n.map(|n| n.0))
}

fn protocol<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    match keyward_core::Protocol::parse(&text) {
        Some(_) => Ok(text),
        None => Err(serde::de::Error::custom("not a protocol keyward speaks")),
    }
}

/// A Z-Wave node id: 1 to 4000 (Long Range included).
fn node_id<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = Integer::deserialize(d)?.0;
    u32::try_from(n).ok().filter(|n| (1..=4000).contains(n)).ok_or_else(|| serde::de::Error::custom("out of range"))
}

fn optional_node_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    node_id(d).map(Some)
}

/// A lock's code slot number: 0 to 65535 (whether the lock has it is the
/// service's question: Z-Wave numbers slots from 1, Zigbee from 0).
fn slot_number<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = Integer::deserialize(d)?.0;
    if (0..=65_535).contains(&n) { Ok(n) } else { Err(serde::de::Error::custom("out of range")) }
}

fn nullable_integer<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    integers(d).map(Some)
}

pub fn time(t: Timestamp) -> String {
    t.to_string()
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// Whether keyward is serving, and how its lock networks are.
#[derive(Clone, Serialize, ToSchema)]
pub struct Readiness {
    /// "ready": the store is loaded and requests are served (access
    /// decisions do not need the lock networks). "not_ready" (with status
    /// 503): requests are not served, `reason` says why.
    pub status: &'static str,
    /// Each configured lock network (`zwave_js`, `zigbee2mqtt`) and the
    /// connections they go through (`mqtt`, the broker): "connected" or
    /// "disconnected".
    pub networks: std::collections::BTreeMap<String, &'static str>,
    /// Why keyward is not ready, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For a connection that is down, why, in words (`mqtt`: "the broker
    /// refused keyward's user name or password").
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub problems: std::collections::BTreeMap<String, String>,
}

#[derive(Serialize, ToSchema)]
pub struct List<T: ToSchema> {
    pub items: Vec<T>,
}

// ---- homes

#[derive(Serialize, Deserialize, ToSchema)]
pub struct CodePolicyDto {
    /// 4 to 8, at most `max_length`.
    pub min_length: i64,
    /// 4 to 8.
    pub max_length: i64,
    /// Refuse repeated digits, runs (1234, 9876) and the most common PINs.
    pub reject_weak: bool,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct LockoutDto {
    /// Wrong codes on one device (1–255) …
    pub max_attempts: i64,
    /// … within this many seconds (1–86 400) …
    pub window_seconds: i64,
    /// … lock that device for this many seconds (1–255).
    pub lockout_seconds: i64,
}

#[derive(Serialize, ToSchema)]
pub struct HomeDto {
    pub id: String,
    pub name: String,
    /// IANA time zone, such as Europe/Berlin.
    pub timezone: String,
    pub code_policy: CodePolicyDto,
    pub lockout: LockoutDto,
    pub created_at: String,
    pub updated_at: String,
}

impl From<HomeView> for HomeDto {
    fn from(h: HomeView) -> Self {
        Self {
            code_policy: CodePolicyDto {
                min_length: h.code_policy.min_length().into(),
                max_length: h.code_policy.max_length().into(),
                reject_weak: h.code_policy.reject_weak(),
            },
            lockout: LockoutDto {
                max_attempts: h.lockout_policy.max_attempts().into(),
                window_seconds: h.lockout_policy.window_seconds().into(),
                lockout_seconds: h.lockout_policy.lockout_seconds().into(),
            },
            created_at: time(h.created_at),
            updated_at: time(h.updated_at),
            timezone: h.zone.as_str().to_owned(),
            id: h.id,
            name: h.name,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateHome {
    pub name: String,
    pub timezone: String,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct PatchCodePolicy {
    #[serde(default, deserialize_with = "integers")]
    pub min_length: Option<i64>,
    #[serde(default, deserialize_with = "integers")]
    pub max_length: Option<i64>,
    pub reject_weak: Option<bool>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct PatchLockout {
    #[serde(default, deserialize_with = "integers")]
    pub max_attempts: Option<i64>,
    #[serde(default, deserialize_with = "integers")]
    pub window_seconds: Option<i64>,
    #[serde(default, deserialize_with = "integers")]
    pub lockout_seconds: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchHome {
    pub name: Option<String>,
    pub timezone: Option<String>,
    pub code_policy: Option<PatchCodePolicy>,
    pub lockout: Option<PatchLockout>,
}

impl From<PatchHome> for keyward_app::HomePatch {
    fn from(p: PatchHome) -> Self {
        let code = p.code_policy.unwrap_or_default();
        let lockout = p.lockout.unwrap_or_default();
        Self {
            name: p.name,
            timezone: p.timezone,
            code_min_length: code.min_length,
            code_max_length: code.max_length,
            code_reject_weak: code.reject_weak,
            lockout_max_attempts: lockout.max_attempts,
            lockout_window_seconds: lockout.window_seconds,
            lockout_seconds: lockout.lockout_seconds,
        }
    }
}

// ---- locks

#[derive(Serialize, ToSchema)]
pub struct LockDto {
    pub id: String,
    pub name: String,
    /// The device keyward programs; null: keyward only decides for this lock.
    pub device: Option<DeviceDto>,
    /// The slots keyward may use; null: every slot the lock has.
    pub slot_range: Option<SlotRangeDto>,
    /// Set while the lock is being removed, unbound or moved to another
    /// device: keyward takes its codes off `device` first. Null otherwise.
    pub removal: Option<RemovalDto>,
    pub created_at: String,
    pub updated_at: String,
}

/// A removal, unbinding or move waiting for the device to hold none of keyward's codes.
#[derive(Serialize, ToSchema)]
pub struct RemovalDto {
    /// delete, unbind or move.
    pub kind: String,
    /// For move: the device the lock is bound to once its codes are off the old one.
    pub to: Option<DeviceDto>,
    /// Since when.
    pub since: String,
    /// keyward's codes that may still be on the device.
    pub codes_left: Vec<LeftCodeDto>,
}

/// A code of keyward's on a device, by slot and user (null: a user since deleted).
#[derive(Serialize, ToSchema)]
pub struct LeftCodeDto {
    pub slot: u16,
    pub user_id: Option<String>,
}

impl From<LockView> for LockDto {
    fn from(l: LockView) -> Self {
        Self {
            created_at: time(l.created_at),
            updated_at: time(l.updated_at),
            device: l.device.as_ref().map(|b| DeviceDto::of(&b.device, l.device_name.clone())),
            slot_range: l
                .device
                .and_then(|b| b.slots)
                .map(|r| SlotRangeDto { first: i64::from(r.first()), last: i64::from(r.last()) }),
            removal: l.removal.map(|r| RemovalDto {
                kind: r.what.as_str().to_owned(),
                to: r.what.next_binding().map(|b| DeviceDto::of(&b.device, None)),
                since: time(r.since),
                codes_left: r.left.into_iter().map(|c| LeftCodeDto { slot: c.slot, user_id: c.user_id }).collect(),
            }),
            id: l.id,
            name: l.name,
        }
    }
}

/// What a forced removal left: the device, and keyward's codes that stay on it.
#[derive(Serialize, ToSchema)]
pub struct LeftOnDeviceDto {
    pub device: DeviceDto,
    pub codes: Vec<CodeLeftDto>,
}

#[derive(Serialize, ToSchema)]
pub struct CodeLeftDto {
    pub slot: u16,
    /// Whose code it is; null: a user since deleted.
    pub user: Option<UserRef>,
}

impl LeftOnDeviceDto {
    pub fn of(device: &keyward_core::DeviceRef, left: Vec<keyward_app::CodeLeft>) -> Self {
        Self {
            device: DeviceDto::of(device, None),
            codes: left
                .into_iter()
                .map(|c| CodeLeftDto { slot: c.slot, user: c.user.map(|u| UserRef { id: u.id, name: u.name }) })
                .collect(),
        }
    }
}

/// A lock removed although codes of keyward's stay on its device (`force`).
#[derive(Serialize, ToSchema)]
pub struct RemovedDto {
    pub left_on_device: LeftOnDeviceDto,
    /// The same in words, for people.
    pub message: String,
}

/// A lock after a change of its device: when the owner forced it off a
/// device that still held keyward's codes, which stay there.
#[derive(Serialize, ToSchema)]
pub struct LockChangeDto {
    #[serde(flatten)]
    pub lock: LockDto,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_on_device: Option<LeftOnDeviceDto>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `?force=true`: carry out a removal, unbinding or move at once, leaving
/// on the device whatever of keyward's codes keyward could not take off.
#[derive(Deserialize, ToSchema, utoipa::IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct ForceQuery {
    /// Do it now, even though the device may still hold codes keyward put
    /// there (the answer names them).
    #[serde(default)]
    pub force: Option<bool>,
}

/// A lock on a network keyward reaches: a Z-Wave node by `node_id`, or a
/// Zigbee2MQTT device by `ieee_address` (or, when binding, by its current
/// `friendly_name`: keyward binds the address of the device carrying it).
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct DeviceDto {
    /// "zwave_js" or "zigbee2mqtt".
    #[serde(deserialize_with = "protocol")]
    pub protocol: String,
    /// A Z-Wave node (zwave_js).
    #[serde(default, deserialize_with = "optional_node_id", skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 4000)]
    pub node_id: Option<u32>,
    /// A Zigbee device's IEEE address (zigbee2mqtt): its identity, "0x" and 16 hexadecimal digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^0[xX][0-9a-fA-F]{16}$")]
    pub ieee_address: Option<String>,
    /// A Zigbee2MQTT friendly name (zigbee2mqtt): its MQTT topic, which can
    /// be renamed; shown as the network names the device now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 128)]
    pub friendly_name: Option<String>,
}

/// The slots keyward may use on a lock, inclusive.
#[derive(Serialize, Deserialize, ToSchema, Clone, Copy, Debug)]
#[serde(deny_unknown_fields)]
pub struct SlotRangeDto {
    #[serde(deserialize_with = "slot_number")]
    pub first: i64,
    #[serde(deserialize_with = "slot_number")]
    pub last: i64,
}

impl DeviceDto {
    /// The device as the services take it; an unknown protocol is a 409.
    pub fn request(&self, slots: Option<SlotRangeDto>) -> Result<DeviceRequest, AppError> {
        use keyward_core::{DeviceRef, FriendlyName, IeeeAddress, Protocol};
        let protocol = Protocol::parse(&self.protocol).ok_or(AppError::DeviceUnavailable)?;
        let device = match (protocol, self.node_id, &self.ieee_address, &self.friendly_name) {
            (Protocol::ZwaveJs, Some(node_id), None, None) => DeviceRef::ZwaveJs { node_id },
            (Protocol::Zigbee2Mqtt, None, Some(address), _) => DeviceRef::Zigbee2Mqtt {
                ieee_address: IeeeAddress::parse(address).map_err(|_| AppError::DeviceInvalid)?,
            },
            (Protocol::Zigbee2Mqtt, None, None, Some(name)) => DeviceRef::Zigbee2MqttNamed {
                friendly_name: FriendlyName::parse(name).map_err(|_| AppError::DeviceInvalid)?,
            },
            _ => return Err(AppError::DeviceInvalid),
        };
        Ok(DeviceRequest { device, slots: slots.map(|r| (r.first, r.last)) })
    }

    /// A device as the API shows it, with the name its network gives it now.
    pub fn of(device: &keyward_core::DeviceRef, name: Option<String>) -> Self {
        use keyward_core::DeviceRef;
        let (node_id, ieee_address, friendly_name) = match device {
            DeviceRef::ZwaveJs { node_id } => (Some(*node_id), None, None),
            DeviceRef::Zigbee2Mqtt { ieee_address } => (None, Some(ieee_address.as_str().to_owned()), name),
            DeviceRef::Zigbee2MqttNamed { friendly_name } => (None, None, Some(friendly_name.as_str().to_owned())),
        };
        Self { protocol: device.protocol().as_str().to_owned(), node_id, ieee_address, friendly_name }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLock {
    pub name: String,
    #[serde(default)]
    pub device: Option<DeviceDto>,
    #[serde(default)]
    pub slots: Option<SlotRangeDto>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchLock {
    #[serde(default)]
    pub name: Option<String>,
    /// null unbinds the lock from its device.
    #[serde(default, deserialize_with = "nullable")]
    pub device: Option<Option<DeviceDto>>,
    #[serde(default)]
    pub slots: Option<SlotRangeDto>,
}

/// A lock as `GET …/locks/{id}` shows it: with its device's state and slots.
#[derive(Serialize, ToSchema)]
pub struct LockDetailDto {
    #[serde(flatten)]
    pub lock: LockDto,
    /// Whether the lock answers (null: not bound to a device).
    pub online: Option<bool>,
    pub state: Option<LockStateDto>,
    pub slots: Vec<SlotDto>,
}

#[derive(Serialize, ToSchema)]
pub struct LockStateDto {
    /// null: not reported yet.
    pub locked: Option<bool>,
    pub jammed: bool,
    /// Percent.
    pub battery: Option<u8>,
}

#[derive(Serialize, ToSchema)]
pub struct SlotDto {
    pub slot: u16,
    pub user_id: Option<String>,
    /// adding, on_lock, removing, off_lock or failed.
    pub status: String,
    pub reason: Option<String>,
    /// A code keyward did not put there; cleared only when the owner takes the slot over.
    pub foreign: bool,
}

/// One user's code on one lock.
#[derive(Serialize, ToSchema)]
pub struct LockCodeDto {
    pub lock_id: String,
    pub slot: Option<u16>,
    /// adding, on_lock, removing, off_lock (not on the lock, as intended) or failed.
    pub status: String,
    /// For failed: offline, duplicate_on_lock, memory_full, rejected, no_confirmation or no_free_slot.
    pub reason: Option<String>,
    /// For duplicate_on_lock: the slot that already holds the code, when known.
    pub other_slot: Option<u16>,
    /// For failed: when keyward tries again by itself; null when it waits
    /// for the owner ("Try again"), a new code or a change at the lock.
    pub retry_at: Option<String>,
    pub updated_at: Option<String>,
}

impl From<keyward_app::LockCodeView> for LockCodeDto {
    fn from(v: keyward_app::LockCodeView) -> Self {
        Self {
            lock_id: v.lock_id,
            slot: v.slot,
            status: v.status.as_str().to_owned(),
            reason: v.reason.map(|r| r.as_str().to_owned()),
            other_slot: v.other_slot,
            retry_at: v.retry_at.map(time),
            updated_at: v.updated_at.map(time),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DeviceList {
    pub items: Vec<DeviceInfoDto>,
}

/// A lock a connected network offers.
#[derive(Serialize, ToSchema)]
pub struct DeviceInfoDto {
    /// `lock`, `sensor` or `siren`.
    pub kind: String,
    pub protocol: String,
    /// A Z-Wave node (zwave_js).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<u32>,
    /// A Zigbee device's IEEE address (zigbee2mqtt): bind it by this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ieee_address: Option<String>,
    /// A Zigbee2MQTT friendly name (zigbee2mqtt), as it is now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub friendly_name: Option<String>,
    pub label: String,
    pub manufacturer: String,
    pub model: String,
    /// How many code slots it has (null: not known yet; sensors: null).
    pub slots: Option<u16>,
    pub online: bool,
    /// The lock (or sensor) it is bound to, if any.
    pub bound_to: Option<String>,
    /// What a sensor senses (`contact`, `occupancy`, `smoke`, `water_leak`, `carbon_monoxide`, `vibration`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub senses: Option<Vec<String>>,
}

impl DeviceInfoDto {
    /// A device of `kind` by its address and the name its network gives it,
    /// bound to `bound_to`; what its network says of it is filled in after.
    pub fn of(kind: &str, device: &keyward_core::DeviceRef, name: Option<String>, bound_to: Option<String>) -> Self {
        let named = DeviceDto::of(device, name);
        Self {
            kind: kind.to_owned(),
            protocol: named.protocol,
            node_id: named.node_id,
            ieee_address: named.ieee_address,
            friendly_name: named.friendly_name,
            label: String::new(),
            manufacturer: String::new(),
            model: String::new(),
            slots: None,
            online: false,
            bound_to,
            senses: None,
        }
    }
}

// ---- users

#[derive(Serialize, Deserialize, ToSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum KindDto {
    Standard,
    /// Opens like a normal code and looks like one to the device, but tells the hub the user is under duress.
    Duress,
}

impl From<KindDto> for UserKind {
    fn from(k: KindDto) -> Self {
        match k {
            KindDto::Standard => Self::Standard,
            KindDto::Duress => Self::Duress,
        }
    }
}

impl From<UserKind> for KindDto {
    fn from(k: UserKind) -> Self {
        match k {
            UserKind::Standard => Self::Standard,
            UserKind::Duress => Self::Duress,
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema, Default, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct PanelDto {
    /// May arm the alarm (a departure).
    #[serde(default)]
    pub arm: bool,
    /// May disarm the alarm (an arrival).
    #[serde(default)]
    pub disarm: bool,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct PatchPanel {
    pub arm: Option<bool>,
    pub disarm: Option<bool>,
}

/// What the owner hears of a user: arrivals, departures, on which channels
/// (`"all"`, the default, or a list of the home's channel ids), only within
/// `hours` (a schedule; null: at any hour), and a `no_show` rule.
#[derive(Serialize, Deserialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct NotifyDto {
    #[serde(default)]
    pub arrive: bool,
    #[serde(default)]
    pub leave: bool,
    #[serde(default = "all_channels")]
    #[schema(value_type = ChannelsDoc)]
    pub channels: ChannelsSpec,
    #[serde(default)]
    #[schema(value_type = Option<ScheduleDoc>)]
    pub hours: Option<ScheduleSpec>,
    #[serde(default)]
    #[schema(value_type = Option<NoShowDoc>)]
    pub no_show: Option<NoShowSpec>,
}

/// `"all"`, or a list of channel ids of this home (the document's shape of
/// `keyward_core::notify::ChannelsSpec`).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code, reason = "the document's shape only; the values are ChannelsSpec")]
pub enum ChannelsDoc {
    #[schema(example = "all")]
    Keyword(String),
    List(Vec<String>),
}

/// "Not arrived by `by` on these days" (`keyward_core::notify::NoShowSpec`).
#[derive(Serialize, ToSchema)]
#[allow(dead_code, reason = "the document's shape only; the values are NoShowSpec")]
pub struct NoShowDoc {
    /// mon, tue, wed, thu, fri, sat, sun
    pub days: Vec<String>,
    /// "HH:MM" in the home's time.
    pub by: String,
}

fn all_channels() -> ChannelsSpec {
    ChannelsSpec::Word("all".into())
}

impl Default for NotifyDto {
    fn default() -> Self {
        Self { arrive: false, leave: false, channels: all_channels(), hours: None, no_show: None }
    }
}

impl NotifyDto {
    pub fn of(notify: keyward_core::Notify, alerts: &keyward_core::notify::AlertRules) -> Self {
        let spec = alerts.to_spec();
        Self {
            arrive: notify.arrive,
            leave: notify.leave,
            channels: spec.channels.unwrap_or_else(all_channels),
            hours: spec.hours,
            no_show: spec.no_show,
        }
    }

    pub fn alerts(&self) -> AlertRulesSpec {
        AlertRulesSpec {
            channels: Some(self.channels.clone()),
            hours: self.hours.clone(),
            no_show: self.no_show.clone(),
        }
    }
}

/// Absent fields stay as they are; `hours` and `no_show` may be set to null.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct PatchNotify {
    pub arrive: Option<bool>,
    pub leave: Option<bool>,
    #[schema(value_type = Option<ChannelsDoc>)]
    pub channels: Option<ChannelsSpec>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<ScheduleDoc>)]
    pub hours: Option<Option<ScheduleSpec>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<NoShowDoc>)]
    pub no_show: Option<Option<NoShowSpec>>,
}

/// `"all"`, or a list of lock ids of this home.
#[derive(Serialize, Deserialize, ToSchema, Clone)]
#[serde(untagged)]
pub enum LocksDto {
    #[schema(example = "all")]
    Keyword(String),
    List(Vec<String>),
}

impl LocksDto {
    pub fn parse(self) -> Result<LockAccess, keyward_app::AppError> {
        match self {
            Self::Keyword(k) if k == "all" => Ok(LockAccess::All),
            Self::Keyword(_) => Err(keyward_app::AppError::LocksInvalid),
            Self::List(ids) => Ok(LockAccess::Only(ids)),
        }
    }
}

impl From<LockAccess> for LocksDto {
    fn from(l: LockAccess) -> Self {
        match l {
            LockAccess::All => Self::Keyword("all".to_owned()),
            LockAccess::Only(ids) => Self::List(ids),
        }
    }
}

/// `{"always": true}`, or weekly `windows` and/or `visits` (one-off days)
/// in the home's wall-clock time.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ScheduleDoc {
    pub always: Option<bool>,
    pub windows: Option<Vec<WindowDoc>>,
    pub visits: Option<Vec<VisitDoc>>,
}

/// One visit day: `date` ("2026-12-24"), with `start` and `end` as in a window.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct VisitDoc {
    #[schema(example = "2026-12-24")]
    pub date: String,
    #[schema(example = "10:00")]
    pub start: String,
    #[schema(example = "16:00")]
    pub end: String,
}

/// A weekly window. `days` are the days it starts on (mon … sun); `start` is
/// inclusive and `end` exclusive ("HH:MM" or "HH:MM:SS"; an end may be
/// "24:00"); an `end` earlier than `start` runs past midnight.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct WindowDoc {
    #[schema(example = json!(["mon", "tue", "wed", "thu", "fri"]))]
    pub days: Vec<String>,
    #[schema(example = "11:00")]
    pub start: String,
    #[schema(example = "14:00")]
    pub end: String,
    /// 2 to 4: the window keeps the week holding `from` and every that many
    /// weeks after it. Absent: every week.
    #[schema(example = 2)]
    pub every_weeks: Option<u8>,
    /// The first day the window counts ("2026-12-11").
    #[schema(example = "2026-12-11")]
    pub from: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UserDto {
    pub id: String,
    pub name: String,
    /// Only for an admin token: duress is hidden from everyone else.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<KindDto>,
    pub panel: PanelDto,
    pub locks: LocksDto,
    #[schema(value_type = ScheduleDoc)]
    pub schedule: ScheduleSpec,
    /// When the code starts working, as an instant in the home's zone of now.
    pub valid_from: Option<String>,
    /// When it stops (exclusive), as an instant in the home's zone of now.
    pub valid_until: Option<String>,
    /// The first day, when the stay was given in days ("2026-12-05"): that
    /// day in the home's zone, whatever the zone becomes.
    pub first_day: Option<String>,
    /// The last day (inclusive), when given in days.
    pub last_day: Option<String>,
    pub max_uses: Option<u32>,
    pub uses: u32,
    /// The last grant; null if never used.
    pub last_used_at: Option<String>,
    pub notify: NotifyDto,
    pub enabled: bool,
    /// How to reach them, to share their access: only for an admin token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<ContactDto>,
    /// The stored code is damaged and cannot be read: give the user a new
    /// code (the old one still opens until then).
    pub needs_new_code: bool,
    /// Where the user's code stands on each lock keyward programs.
    pub lock_codes: Vec<LockCodeDto>,
    pub created_at: String,
    pub updated_at: String,
}

impl UserDto {
    /// A user as `caller` may see them: duress only for admins.
    pub fn new(u: UserView, admin: bool) -> Self {
        Self {
            id: u.id,
            name: u.name,
            kind: admin.then(|| u.kind.into()),
            panel: PanelDto { arm: u.panel.arm, disarm: u.panel.disarm },
            locks: u.locks.into(),
            schedule: u.schedule,
            valid_from: u.starts.map(time),
            valid_until: u.ends.map(time),
            first_day: u.valid_from.and_then(keyward_core::Bound::day).map(|d| d.to_string()),
            last_day: u.valid_until.and_then(keyward_core::Bound::day).map(|d| d.to_string()),
            max_uses: u.max_uses,
            uses: u.uses,
            last_used_at: u.last_used.map(time),
            notify: NotifyDto::of(u.notify, &u.alerts),
            enabled: u.enabled,
            contact: admin.then(|| ContactDto::of(&u.contact)),
            needs_new_code: u.needs_new_code,
            lock_codes: Vec::new(),
            created_at: time(u.created_at),
            updated_at: time(u.updated_at),
        }
    }
}

fn always() -> ScheduleSpec {
    ScheduleSpec::always()
}

fn yes() -> bool {
    true
}

fn no_locks() -> LocksDto {
    LocksDto::List(Vec::new())
}

/// A new user. Unless given: a standard code, no panel rights, no locks,
/// at all times, no dates, no limit of uses, no notifications, enabled.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    #[schema(example = "Dog walker")]
    pub name: String,
    /// 4–8 digits (the home's code policy), unique in the home.
    #[schema(value_type = String, example = "4719")]
    pub code: SecretCode,
    #[serde(default = "standard")]
    pub kind: KindDto,
    #[serde(default)]
    pub panel: PanelDto,
    #[serde(default = "no_locks")]
    pub locks: LocksDto,
    #[serde(default = "always")]
    #[schema(value_type = ScheduleDoc)]
    pub schedule: ScheduleSpec,
    /// RFC 3339; inclusive. Or `first_day`, not both.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub valid_from: Option<Option<String>>,
    /// RFC 3339; exclusive. Or `last_day`, not both.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub valid_until: Option<Option<String>>,
    /// A calendar day in the home's zone ("2026-12-05"); inclusive.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub first_day: Option<Option<String>>,
    /// A calendar day in the home's zone; inclusive (the code works all of it).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub last_day: Option<Option<String>>,
    #[serde(default, deserialize_with = "integers")]
    pub max_uses: Option<i64>,
    #[serde(default)]
    pub notify: NotifyDto,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub contact: Option<ContactDto>,
}

/// How the owner reaches a user: an email address and a phone number,
/// each optional (null or absent: none).
#[derive(Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ContactDto {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
}

impl ContactDto {
    pub fn of(c: &keyward_core::Contact) -> Self {
        Self {
            email: c.email.as_ref().map(|e| e.as_str().to_owned()),
            phone: c.phone.as_ref().map(|p| p.as_str().to_owned()),
        }
    }

    pub fn parse(self) -> Result<keyward_core::Contact, AppError> {
        // An empty field is no field (a form sends one).
        let given = |v: Option<String>| v.filter(|t| !t.trim().is_empty());
        Ok(keyward_core::Contact {
            email: given(self.email)
                .map(|e| keyward_core::email::EmailAddress::parse(&e))
                .transpose()
                .map_err(|_| AppError::ContactInvalid("contact.email is not an address such as walker@example.org"))?,
            phone: given(self.phone)
                .map(|p| keyward_core::Phone::parse(&p))
                .transpose()
                .map_err(|_| AppError::ContactInvalid("contact.phone has 4 to 20 digits, optionally a leading +"))?,
        })
    }
}

fn standard() -> KindDto {
    KindDto::Standard
}

/// A partial change: absent fields stay as they are; `valid_from`,
/// `valid_until`, `first_day`, `last_day` and `max_uses` may be set to null.
/// A start is `valid_from` or `first_day`, an end `valid_until` or
/// `last_day`: one of each pair at most.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchUser {
    pub name: Option<String>,
    #[schema(value_type = Option<String>)]
    pub code: Option<SecretCode>,
    pub kind: Option<KindDto>,
    pub panel: Option<PatchPanel>,
    pub locks: Option<LocksDto>,
    #[schema(value_type = Option<ScheduleDoc>)]
    pub schedule: Option<ScheduleSpec>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub valid_from: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub valid_until: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub first_day: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub last_day: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable_integer")]
    #[schema(value_type = Option<i64>)]
    pub max_uses: Option<Option<i64>>,
    pub notify: Option<PatchNotify>,
    pub enabled: Option<bool>,
    /// Replaces the whole contact.
    pub contact: Option<ContactDto>,
}

#[derive(Serialize, ToSchema)]
pub struct RevealedCode {
    pub code: String,
}

// ---- access

#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum ActionDto {
    Unlock,
    Disarm,
    ArmAway,
    ArmStay,
    ArmNight,
}

impl From<ActionDto> for Action {
    fn from(a: ActionDto) -> Self {
        match a {
            ActionDto::Unlock => Self::Unlock,
            ActionDto::Disarm => Self::Disarm,
            ActionDto::ArmAway => Self::ArmAway,
            ActionDto::ArmStay => Self::ArmStay,
            ActionDto::ArmNight => Self::ArmNight,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessRequest {
    #[schema(value_type = String, example = "4719")]
    pub code: SecretCode,
    /// A lock id of this home, or "panel".
    pub device: String,
    pub action: ActionDto,
}

#[derive(Serialize, ToSchema)]
pub struct UserRef {
    pub id: String,
    pub name: String,
}

/// To a device: granted or not, and who on a grant. A refused unknown code
/// and a refused known code look the same; a duress grant looks like any grant.
#[derive(Serialize, ToSchema)]
pub struct AccessResponse {
    pub granted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserRef>,
    /// Only when the device is locked out after wrong codes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u32>,
    /// Only for an admin token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For a code granted at the panel: the panel after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub panel: Option<PanelAnswerDto>,
    /// With `reason` `not_ready` (to every caller: it comes only after a
    /// valid code): the open sensors that kept the panel from arming.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_sensors: Option<Vec<String>>,
}

impl AccessResponse {
    pub fn new(outcome: AccessOutcome, show_reason: bool) -> Self {
        // Open sensors are told only after a valid code; every other
        // refusal looks the same to a device.
        let not_ready = outcome.reason == Some(DenyReason::NotReady);
        Self {
            granted: outcome.granted,
            user: outcome.user.clone().filter(|_| outcome.granted).map(|(id, name)| UserRef { id, name }),
            retry_after_seconds: outcome.retry_after,
            reason: outcome.reason.filter(|_| show_reason || not_ready).map(|r| DenyReason::as_str(r).to_owned()),
            open_sensors: outcome.panel.as_ref().filter(|_| not_ready).map(|p| p.open_sensors.clone()),
            panel: outcome
                .panel
                .filter(|_| outcome.granted)
                .map(|p| PanelAnswerDto { state: p.state.to_owned(), delay_until: p.delay_until.map(time) }),
        }
    }
}

/// Exactly one of `code` (admin only) and `user_id`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    #[schema(value_type = Option<String>)]
    pub code: Option<SecretCode>,
    pub user_id: Option<String>,
    pub device: String,
    pub action: ActionDto,
    /// RFC 3339; now when absent.
    pub at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PreviewResponse {
    pub granted: bool,
    pub reason: Option<String>,
    pub user: Option<UserRef>,
    pub retry_after_seconds: Option<u32>,
}

impl From<AccessOutcome> for PreviewResponse {
    fn from(o: AccessOutcome) -> Self {
        Self {
            granted: o.granted,
            reason: o.reason.map(|r| r.as_str().to_owned()),
            user: o.user.map(|(id, name)| UserRef { id, name }),
            retry_after_seconds: o.retry_after,
        }
    }
}

// ---- activity

#[derive(Serialize, ToSchema)]
pub struct ActivityDto {
    pub id: String,
    pub at: String,
    /// arrival, departure, access_denied, lockout, home_lockout, keypad_guessing, code_revealed, user_created, user_updated,
    /// user_deleted, unlocked, locked, jammed, code_failed, offline, online, battery_low, no_show, channel_added,
    /// channel_changed, channel_deleted, code_shared, share_opened, share_revoked, delivery_failed, panel, alarm,
    /// alarm_cancelled, trouble, trouble_cleared
    pub kind: String,
    pub device: Option<String>,
    pub action: Option<String>,
    /// granted or denied, for access attempts.
    pub outcome: Option<String>,
    pub reason: Option<String>,
    pub user: Option<UserRef>,
    /// Who made an owner's change, reveal or lock command (`owner:…`, `token:…`), or how a lock
    /// reported it was operated (`lock:keypad`, `lock:manual`, `lock:remote`, `lock:auto`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Only for an admin token, and only on a duress grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duress: Option<bool>,
    /// What an audit or delivery entry is about, never a secret: the fields a `user_updated` changed
    /// ("name, schedule, code"), a channel's name (and for `channel_changed` the settings changed),
    /// until when a shared link works, the channel and error of a `delivery_failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ActivityDto {
    pub fn new(entry: ActivityEntry, admin: bool) -> Self {
        let e = entry.event;
        Self {
            id: entry.id,
            at: time(e.at),
            kind: e.kind.as_str().to_owned(),
            device: e.device,
            action: e.action.map(|a| a.as_str().to_owned()),
            outcome: e.outcome.map(|o| o.as_str().to_owned()),
            reason: e.reason.map(|r| r.as_str().to_owned()),
            user: e.user.map(|u| UserRef { id: u.id, name: u.name }),
            actor: e.actor.map(|a| a.to_text()),
            duress: (admin && e.duress).then_some(true),
            detail: e.detail,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ActivityPageDto {
    pub items: Vec<ActivityDto>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityParams {
    pub user_id: Option<String>,
    /// A lock id or "panel".
    pub device: Option<String>,
    /// granted or denied.
    pub outcome: Option<String>,
    /// RFC 3339, inclusive.
    pub since: Option<String>,
    /// RFC 3339, exclusive.
    pub until: Option<String>,
    /// 1–500, default 50.
    #[param(value_type = Option<i64>)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

// ---- channels

/// Daily quiet hours in the home's time, "HH:MM"; past midnight when end is not after start.
#[derive(Serialize, Deserialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct QuietHoursDto {
    pub start: String,
    pub end: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChannel {
    /// "webhook" (`url`), "email" (`to`), "ntfy" (`url`, `token`?) or "mqtt" (`topic`).
    pub kind: String,
    pub name: String,
    // Present (even as null) or absent: a field of another kind is refused
    // even when null, as the schema says.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub url: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub to: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub topic: Option<Option<String>>,
    /// An ntfy access token: kept sealed, never shown again.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub token: Option<Option<SecretCode>>,
    /// Also receives duress and the other home alerts.
    #[serde(default)]
    pub emergency: bool,
    #[serde(default)]
    pub quiet_hours: Option<QuietHoursDto>,
}

/// A partial change: absent fields stay as they are; `quiet_hours` and an
/// ntfy channel's `token` may be set to null. The kind stays.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchChannel {
    // Absent: kept; null is refused, as the schema says (null would read
    // as "absent" and change nothing while answering 200).
    #[serde(default, deserialize_with = "not_null")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    pub to: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    pub topic: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub token: Option<Option<SecretCode>>,
    #[serde(default, deserialize_with = "not_null")]
    pub emergency: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<QuietHoursDto>)]
    pub quiet_hours: Option<Option<QuietHoursDto>>,
}

/// A channel. `secret` (`whsec_…`, for verifying the signatures) only in
/// the answer that created it; an ntfy token is never shown, only whether
/// there is one.
#[derive(Serialize, ToSchema)]
pub struct ChannelDto {
    pub id: String,
    pub name: String,
    pub kind: String,
    /// A webhook's or ntfy channel's address.
    pub url: Option<String>,
    /// An email channel's recipient.
    pub to: Option<String>,
    /// An MQTT channel's topic.
    pub topic: Option<String>,
    /// An ntfy channel has an access token.
    pub has_token: bool,
    pub emergency: bool,
    pub quiet_hours: Option<QuietHoursDto>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// One notification on a channel and what became of it.
#[derive(Serialize, ToSchema)]
pub struct DeliveryDto {
    pub id: String,
    /// access.arrival, access.departure, access.denied, alarm.duress, keypad.lockout, keypad.guessing, user.no_show,
    /// lock.problem, device.offline, test
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub message: String,
    /// pending (being tried), delivered, failed (given up after 24 hours)
    pub state: String,
    pub attempts: u32,
    /// Why the last attempt failed, in words (never a secret).
    pub last_error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
}

impl From<keyward_app::Delivery> for DeliveryDto {
    fn from(o: keyward_app::Delivery) -> Self {
        Self {
            id: o.id,
            kind: o.kind.as_str().to_owned(),
            title: o.title,
            message: o.body,
            state: o.state.as_str().to_owned(),
            attempts: o.attempts,
            last_error: o.last_error,
            created_at: o.created_at.to_string(),
            delivered_at: o.delivered_at.map(|t| t.to_string()),
        }
    }
}

impl ChannelDto {
    /// `full_url`: the URL as given (admins), else by its host only (its
    /// path may be the receiver's secret).
    pub fn new(c: keyward_core::channel::Channel, has_token: bool, full_url: bool) -> Self {
        use keyward_core::channel::ChannelTarget;
        let (url, to, topic) = match &c.target {
            ChannelTarget::Webhook { url } | ChannelTarget::Ntfy { url } => {
                (Some(if full_url { url.as_str().to_owned() } else { url.host_only() }), None, None)
            }
            ChannelTarget::Email { to } => (None, Some(to.as_str().to_owned()), None),
            ChannelTarget::Mqtt { topic } => (None, None, Some(topic.clone())),
        };
        let hhmm = |t: jiff::civil::Time| format!("{:02}:{:02}", t.hour(), t.minute());
        Self {
            id: c.id,
            name: c.name.as_str().to_owned(),
            kind: c.target.kind().as_str().to_owned(),
            url,
            to,
            topic,
            has_token,
            emergency: c.emergency,
            quiet_hours: c.quiet.map(|q| QuietHoursDto { start: hhmm(q.start), end: hhmm(q.end) }),
            secret: None,
        }
    }
}

// ---- shared links

/// Share a user's access with them: a one-time link to a page with their
/// name, code, doors, hours and dates.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateShare {
    /// How many days the link works: 1 to 30, 7 when absent.
    #[serde(default, deserialize_with = "integers")]
    #[schema(value_type = Option<u32>)]
    pub days: Option<i64>,
    /// Email the link to this address (needs `[smtp]` and `public_url`).
    #[serde(default)]
    pub email: Option<String>,
    /// Email the link to the user's contact address instead.
    #[serde(default)]
    pub send_to_contact: bool,
}

/// A shared link; never its token.
#[derive(Serialize, ToSchema)]
pub struct ShareDto {
    pub id: String,
    /// waiting (not opened yet), opened (in one browser, where it keeps working), expired or revoked.
    pub state: &'static str,
    /// Who made it (`owner:…`, `token:…`).
    pub created_by: String,
    pub created_at: String,
    pub expires_at: String,
    pub opened_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl ShareDto {
    pub fn new(s: keyward_app::shares::ShareView) -> Self {
        Self {
            id: s.id,
            state: s.state.as_str(),
            created_by: s.created_by,
            created_at: time(s.created_at),
            expires_at: time(s.expires_at),
            opened_at: s.opened_at.map(time),
            revoked_at: s.revoked_at.map(time),
        }
    }
}

/// A new link, with the address that opens it: shown this once.
#[derive(Serialize, ToSchema)]
pub struct NewShareDto {
    #[serde(flatten)]
    pub share: ShareDto,
    /// The page's path on this hub: `/share/<token>`.
    pub path: String,
    /// The full link, when the hub knows its address (`public_url`).
    pub url: Option<String>,
    /// Where the link was emailed, if it was.
    pub emailed_to: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ShareList {
    pub items: Vec<ShareDto>,
}

// ---- the alarm panel

/// Who last changed the panel: a user by their code (`user_id`), or an
/// owner or token (`user_id` null, `name` theirs).
#[derive(Serialize, ToSchema)]
pub struct ChangedBy {
    pub user_id: Option<String>,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct PanelReady {
    pub away: bool,
    pub stay: bool,
    pub night: bool,
}

#[derive(Serialize, ToSchema)]
pub struct PanelTrouble {
    /// `offline`, `tamper`, `low_battery`, `siren_no_answer`, `network_down`.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sensor_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub siren_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    pub since: String,
}

/// The panel's timings in seconds, and its rules.
#[derive(Serialize, ToSchema)]
pub struct PanelSettingsDto {
    pub exit_delay: u16,
    pub entry_delay: u16,
    pub siren_time: u16,
    pub abort_window: u16,
    pub swinger_limit: u8,
    pub arm_without_code: bool,
    /// Whether the ANSI/SIA CP-01 ranges are enforced; `false` allows any
    /// delay of 0–255 s, and the panel is then not CP-01 compliant.
    pub cp01: bool,
}

/// The home's alarm panel.
#[derive(Serialize, ToSchema)]
pub struct AlarmPanel {
    /// `disarmed`, `arming`, `armed_away`, `armed_stay`, `armed_night`, `pending`, `triggered`.
    pub state: String,
    /// `away`, `stay` or `night` while armed, arming or triggered from an armed state.
    pub mode: Option<String>,
    /// When the running exit or entry delay ends.
    pub delay_until: Option<String>,
    pub changed_by: Option<ChangedBy>,
    pub changed_at: String,
    pub ready: PanelReady,
    pub open_sensors: Vec<String>,
    pub bypassed_sensors: Vec<String>,
    pub troubles: Vec<PanelTrouble>,
    pub settings: PanelSettingsDto,
}

impl From<keyward_app::PanelView> for AlarmPanel {
    fn from(v: keyward_app::PanelView) -> Self {
        use keyward_core::alarm::{ArmMode, By, TroubleKind};
        let ready = |mode: ArmMode| v.ready.iter().any(|(m, r)| *m == mode && *r);
        let changed_by = v.changed_by.as_ref().map(|by| match by {
            By::User { id, name } => ChangedBy { user_id: Some(id.clone()), name: name.clone() },
            By::Actor { .. } => {
                ChangedBy { user_id: None, name: by.as_actor().map(|a| a.name().to_owned()).unwrap_or_default() }
            }
        });
        let s = v.settings;
        Self {
            state: v.state.to_owned(),
            mode: v.mode.map(|m| m.as_str().to_owned()),
            delay_until: v.delay_until.map(time),
            changed_by,
            changed_at: time(v.changed_at),
            ready: PanelReady { away: ready(ArmMode::Away), stay: ready(ArmMode::Stay), night: ready(ArmMode::Night) },
            open_sensors: v.open_sensors,
            bypassed_sensors: v.bypassed_sensors,
            troubles: v
                .troubles
                .into_iter()
                .map(|(t, since)| {
                    let subject = Some(t.subject.clone());
                    let (sensor_id, siren_id, network) = match t.kind {
                        TroubleKind::SirenNoAnswer => (None, subject, None),
                        TroubleKind::NetworkDown => (None, None, subject),
                        _ => (subject, None, None),
                    };
                    PanelTrouble { kind: t.kind.as_str().to_owned(), sensor_id, siren_id, network, since: time(since) }
                })
                .collect(),
            settings: PanelSettingsDto {
                exit_delay: s.exit_delay(),
                entry_delay: s.entry_delay(),
                siren_time: s.siren_time(),
                abort_window: s.abort_window(),
                swinger_limit: s.swinger_limit(),
                arm_without_code: s.arm_without_code(),
                cp01: s.cp01(),
            },
        }
    }
}

/// A change of the panel's settings: what is absent stays.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchAlarmPanel {
    pub settings: PatchPanelSettings,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchPanelSettings {
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = Option<i64>)]
    pub exit_delay: Option<Integer>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = Option<i64>)]
    pub entry_delay: Option<Integer>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = Option<i64>)]
    pub siren_time: Option<Integer>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = Option<i64>)]
    pub abort_window: Option<Integer>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = Option<i64>)]
    pub swinger_limit: Option<Integer>,
    #[serde(default, deserialize_with = "not_null")]
    pub arm_without_code: Option<bool>,
    #[serde(default, deserialize_with = "not_null")]
    pub cp01: Option<bool>,
}

impl From<PatchPanelSettings> for keyward_core::alarm::SettingsSpec {
    fn from(p: PatchPanelSettings) -> Self {
        Self {
            exit_delay: p.exit_delay.map(|n| n.0),
            entry_delay: p.entry_delay.map(|n| n.0),
            siren_time: p.siren_time.map(|n| n.0),
            abort_window: p.abort_window.map(|n| n.0),
            swinger_limit: p.swinger_limit.map(|n| n.0),
            arm_without_code: p.arm_without_code,
            cp01: p.cp01,
        }
    }
}

#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum ArmModeDto {
    Away,
    Stay,
    Night,
}

/// Arms without a code, as the owner or an admin token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArmRequest {
    pub mode: ArmModeDto,
    /// Bypass the open sensors (named in a `not_ready` refusal) until disarmed.
    #[serde(default, deserialize_with = "not_null")]
    pub force: Option<bool>,
}

impl From<ArmModeDto> for keyward_core::alarm::ArmMode {
    fn from(m: ArmModeDto) -> Self {
        match m {
            ArmModeDto::Away => Self::Away,
            ArmModeDto::Stay => Self::Stay,
            ArmModeDto::Night => Self::Night,
        }
    }
}

/// The panel after a code granted at it.
#[derive(Serialize, ToSchema)]
pub struct PanelAnswerDto {
    pub state: String,
    pub delay_until: Option<String>,
}

// ---- the panel's sensors

/// What a sensor last reported.
#[derive(Serialize, ToSchema)]
pub struct SensorStateDto {
    /// The alarm condition of its kind: a door open, motion, smoke, CO, water.
    pub open: bool,
    pub online: bool,
    pub tamper: bool,
    /// Percent, when the sensor says.
    pub battery: Option<u8>,
    pub battery_low: bool,
    /// When it last reported (null: never yet).
    pub last_seen: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SensorDto {
    pub id: String,
    pub name: String,
    /// `entry_exit`, `perimeter`, `interior_follower`, `interior`, `fire`, `carbon_monoxide`, `water`, `panic`.
    pub kind: String,
    /// The arming modes that watch it (24-hour kinds: every state, whatever this says).
    pub modes: Vec<String>,
    /// Its own entry delay in seconds (entry_exit only; null: the panel's).
    pub entry_delay: Option<u16>,
    pub bypassable: bool,
    pub device: Option<DeviceDto>,
    pub state: SensorStateDto,
    /// Bypassed by a forced arming, until the disarm.
    pub bypassed: bool,
    /// Shut down (swinger, or tripped when the siren time ran out), until the disarm.
    pub shut_down: bool,
}

impl From<keyward_app::SensorView> for SensorDto {
    fn from(v: keyward_app::SensorView) -> Self {
        let r = v.record;
        let reading = v.heard.map(|h| h.reading).unwrap_or_default();
        Self {
            modes: keyward_core::alarm::ArmMode::ALL
                .iter()
                .filter(|m| r.setup.modes.watches(**m))
                .map(|m| m.as_str().to_owned())
                .collect(),
            kind: r.setup.kind.as_str().to_owned(),
            entry_delay: r.setup.entry_delay,
            bypassable: r.setup.bypassable,
            device: r.device.as_ref().map(|d| DeviceDto::of(d, None)),
            state: SensorStateDto {
                open: reading.open,
                online: reading.online,
                tamper: reading.tamper,
                battery: reading.battery,
                battery_low: reading.battery_low,
                last_seen: v.heard.map(|h| time(h.at)),
            },
            bypassed: v.bypassed,
            shut_down: v.shut_down,
            id: r.id,
            name: r.name.as_str().to_owned(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSensor {
    pub name: String,
    pub kind: String,
    #[serde(default, deserialize_with = "not_null")]
    pub modes: Option<Vec<String>>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = Option<i64>)]
    pub entry_delay: Option<Integer>,
    #[serde(default, deserialize_with = "not_null")]
    pub bypassable: Option<bool>,
    #[serde(default, deserialize_with = "not_null")]
    pub device: Option<DeviceDto>,
}

/// Absent fields stay; `entry_delay` and `device` null clear them.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchSensor {
    #[serde(default, deserialize_with = "not_null")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    pub modes: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub entry_delay: Option<Option<Integer>>,
    #[serde(default, deserialize_with = "not_null")]
    pub bypassable: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    pub device: Option<Option<DeviceDto>>,
}

impl CreateSensor {
    pub fn input(self) -> Result<keyward_app::SensorInput, AppError> {
        Ok(keyward_app::SensorInput {
            name: Some(self.name),
            kind: Some(self.kind),
            modes: self.modes,
            entry_delay: self.entry_delay.map(|n| Some(n.0)),
            bypassable: self.bypassable,
            device: self.device.map(|d| d.request(None).map(|r| Some(r.device))).transpose()?,
        })
    }
}

impl PatchSensor {
    pub fn input(self) -> Result<keyward_app::SensorInput, AppError> {
        let device = match self.device {
            None => None,
            Some(None) => Some(None),
            Some(Some(d)) => Some(Some(d.request(None)?.device)),
        };
        Ok(keyward_app::SensorInput {
            name: self.name,
            kind: self.kind,
            modes: self.modes,
            entry_delay: self.entry_delay.map(|n| n.map(|n| n.0)),
            bypassable: self.bypassable,
            device,
        })
    }
}

// ---- the panel's sirens

#[derive(Serialize, ToSchema)]
pub struct SirenStateDto {
    /// The panel is triggered and the siren took its order.
    pub sounding: bool,
    pub online: bool,
}

#[derive(Serialize, ToSchema)]
pub struct SirenDto {
    pub id: String,
    pub name: String,
    pub device: DeviceDto,
    pub state: SirenStateDto,
}

impl From<keyward_app::SirenView> for SirenDto {
    fn from(v: keyward_app::SirenView) -> Self {
        Self {
            device: DeviceDto::of(&v.record.device, None),
            state: SirenStateDto { sounding: v.sounding, online: v.online },
            id: v.record.id,
            name: v.record.name.as_str().to_owned(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSiren {
    pub name: String,
    pub device: DeviceDto,
}

/// Absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchSiren {
    #[serde(default, deserialize_with = "not_null")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    pub device: Option<DeviceDto>,
}
