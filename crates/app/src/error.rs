use keyward_core::{CodeError, NameError, PolicyError, ScheduleError, TimeZoneError, ValidityError};
use keyward_store::StoreError;

/// Everything a use case can refuse or fail with. The web layer maps each
/// variant to a status and a machine-readable code in one place. No message
/// here ever contains a code.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("no home with this id")]
    HomeNotFound,
    #[error("no user with this id in this home")]
    UserNotFound,
    #[error("no lock with this id in this home")]
    LockNotFound,
    #[error("no device with this id in this home (a lock id, or \"panel\")")]
    DeviceNotFound,
    /// A user named in a request (not in its path) that the home does not have.
    #[error("no user with this id in this home")]
    UnknownUser,
    #[error("this action does not fit this device: locks unlock; the panel disarms, arms away or arms stay")]
    ActionInvalid,
    #[error("every lock in `locks` must be a lock of this home, or `locks` must be \"all\"")]
    LocksInvalid,
    #[error(transparent)]
    Code(#[from] CodeError),
    #[error("{0}")]
    Schedule(#[from] ScheduleError),
    #[error(transparent)]
    Name(#[from] NameError),
    #[error(transparent)]
    TimeZone(#[from] TimeZoneError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Validity(#[from] ValidityError),
    #[error("no lock with this id on a connected network: pick one from GET /api/v1/devices")]
    DeviceUnavailable,
    #[error("this slot holds no code that keyward did not put there")]
    SlotNotForeign,
    #[error("the lock did not carry out the command (offline, or it refused)")]
    DeviceFailed,
    #[error("this device is already bound to another lock")]
    DeviceInUse,
    #[error(
        "slots run from a first slot to a last slot at or after it, within the lock's slots (Z-Wave numbers them from 1, Zigbee from 0)"
    )]
    SlotsInvalid,
    #[error(
        "a Z-Wave JS device is named by node_id, a Zigbee2MQTT device by ieee_address (0x and 16 hexadecimal digits) or by its friendly_name (1 to 128 characters, without + or #)"
    )]
    DeviceInvalid,
    #[error("no token with this id")]
    TokenNotFound,
    #[error("no channel with this id in this home")]
    ChannelNotFound,
    #[error("another channel of this home has this name")]
    ChannelNameTaken,
    #[error("another lock of this home has this name")]
    LockNameTaken,
    #[error("{0}")]
    ChannelInvalid(String),
    #[error("{0}")]
    AlertsInvalid(String),
    #[error("alerts.channels names a channel this home does not have")]
    AlertChannelsInvalid,
    /// A well-formed channel this hub cannot deliver (no sender for its
    /// kind, or a private address it may not reach).
    #[error("{0}")]
    ChannelUnavailable(String),
    #[error("a {0} channel stays a {0} channel: change its own settings, or add a new channel")]
    ChannelKindFixed(&'static str),
    #[error("{0}")]
    ContactInvalid(&'static str),
    #[error("this user has no contact email: add one, or give an address")]
    ContactMissing,
    #[error("no shared link with this id for this user, or it was already revoked")]
    ShareNotFound,
    #[error("{0}")]
    ShareInvalid(&'static str),
    #[error("this hub has no mail server set up: add [smtp] to its configuration, or copy the link instead")]
    MailUnavailable,
    #[error("the email could not be sent ({0}); the link was revoked, so try again or copy a new link instead")]
    MailFailed(String),
    #[error("this user's stored code is damaged and cannot be read: give them a new code")]
    CodeDamaged,
    #[error("keyward is busy checking other passwords: try again in a moment")]
    Busy,
    #[error("{0}")]
    PanelSettings(#[from] keyward_core::alarm::SettingsError),
    /// Arming refused: sensors the mode watches are open (their names).
    #[error("the alarm cannot arm: open sensors {}", .0.join(", "))]
    PanelNotReady(Vec<String>),
    #[error("the alarm is not disarmed: disarm it first")]
    PanelNotDisarmed,
    #[error("the alarm is already disarmed")]
    PanelAlreadyDisarmed,
    #[error("no sensor with this id in this home")]
    SensorNotFound,
    #[error("no siren with this id in this home")]
    SirenNotFound,
    #[error("another siren of this home has this name")]
    SirenNameTaken,
    #[error("another sensor of this home has this name")]
    SensorNameTaken,
    #[error("{0}")]
    SensorInvalid(&'static str),
    /// Valid fields that do not go together (an entry delay on a sensor
    /// that is not an entry/exit door, a 24-hour sensor bypassable).
    #[error("{0}")]
    SensorConflict(&'static str),
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
    #[error("internal state is inconsistent")]
    Poisoned,
}
