//! Keyward's domain.
//!
//! Everything here is pure: no I/O, no async and no clock. Every function
//! that needs "now" takes the instant as a parameter, so schedules and
//! lockouts are tested to the second without sleeping (clippy.toml bans
//! `Timestamp::now` and friends in this crate).
//!
//! Values are parsed once at the edge into types that can only hold valid
//! values (`Code`, `Name`, `Schedule`, policies); the inside never re-checks.

pub mod activity;
pub mod alarm;
pub mod channel;
pub mod code;
pub mod contact;
pub mod decide;
pub mod email;
pub mod home;
pub mod instant;
pub mod lock_sync;
pub mod lockout;
pub mod name;
pub mod notify;
pub mod password;
pub mod record;
pub mod schedule;
pub mod scope;
pub mod sign_in;
pub mod standing;
mod string_form;
pub mod user;

pub use activity::{ActivityEntry, ActivityKind, Actor, Event, Outcome, UserRef};
pub use code::{Code, CodeError, CodePolicy, ExistingCode};
pub use contact::{Contact, Phone, PhoneError};
pub use decide::{
    AccessTarget, Action, CodeDirectory, Decision, DenyReason, Device, Grant, Movement, PanelAction, decide,
    evaluate_user,
};
pub use home::{LockoutPolicy, PolicyError, TimeZoneError, ZoneName};
pub use lock_sync::{
    Allocation, BATTERY_LOW, BATTERY_RECOVERED, CodeStatus, DeviceBinding, DeviceRef, FailureReason, FriendlyName,
    FriendlyNameError, IeeeAddress, Protocol, Removal, SlotRange, SlotRangeError, battery_report,
};
pub use lockout::{LockoutState, Lockouts};
pub use name::{Name, NameError};
pub use password::{PasswordError, check_password};
pub use record::{Attempt, Consequences, UseCount, consequences};
pub use schedule::{Schedule, ScheduleError, ScheduleSpec, VisitSpec, WindowSpec};
pub use scope::Scope;
pub use sign_in::SignInFailures;
pub use standing::{Standing, standing};
pub use user::{Bound, LockAccess, Notify, PanelPermissions, User, UserKind, Validity, ValidityError};
