//! What the activity log records, typed. Storage, the API and the pages all
//! read these types; each enum has one string form (`as_str`/`parse`).

use std::fmt;

use jiff::Timestamp;

use crate::decide::{Action, DenyReason};
use crate::string_form::string_form;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityKind {
    /// A code granted an unlock or a disarm.
    Arrival,
    /// A code granted an arm.
    Departure,
    /// A code was refused.
    AccessDenied,
    /// Wrong codes locked a device out.
    Lockout,
    /// Wrong codes across the home locked every device of it out.
    HomeLockout,
    /// Unknown codes typed at a lock's own keypad added up to the home's
    /// lockout policy (`detail`: how many, within how long). The lock
    /// decides its keypad itself; keyward sees every wrong code and says so.
    KeypadGuessing,
    /// The owner revealed a user's code.
    CodeRevealed,
    UserCreated,
    UserUpdated,
    UserDeleted,
    /// A lock reported it was unlocked without a code keyward knows (by
    /// hand, by radio, a code nobody was given); `actor` says how.
    Unlocked,
    /// A lock reported it was locked (by hand, by radio, by itself, or at
    /// the keypad without a user's code).
    Locked,
    /// A lock reported its bolt jammed.
    Jammed,
    /// A user had not arrived by the time of their no-show rule (`at` is
    /// that time).
    NoShow,
    /// A lock refused a user's code for good (a duplicate, a full memory, a
    /// write it never confirmed): keyward stops trying until something changes.
    CodeFailed,
    /// A lock stopped answering its network.
    Offline,
    /// A lock answers its network again.
    Online,
    /// A lock reported its battery low (`detail`: the level, "15 %").
    BatteryLow,
    /// An owner removed, unbound or moved a lock before keyward could take
    /// its codes off the device (`detail`: which codes stay on which device).
    CodesLeft,
    /// An owner added an alert channel (`detail`: its name).
    ChannelAdded,
    /// An owner changed an alert channel (`detail`: its name and the
    /// settings changed).
    ChannelChanged,
    /// An owner removed an alert channel (`detail`: its name).
    ChannelDeleted,
    /// An owner made a link that shows a user their code (`detail`: until
    /// when it works).
    CodeShared,
    /// A visitor opened their shared link (`actor`: none, `detail`: the
    /// browser).
    ShareOpened,
    /// An owner revoked a shared link before it was opened or expired.
    ShareRevoked,
    /// A notification could not be delivered for 24 hours and was given up
    /// (`detail`: the channel's name and the last error).
    DeliveryFailed,
    /// The alarm panel changed: armed, disarmed, a delay began, a sensor
    /// was bypassed or shut down, its settings changed (`detail` in words;
    /// `user` or `actor`: who, when someone did it).
    Panel,
    /// The alarm is told to the emergency channels (`detail`: what and
    /// where): at once for fire, CO, water and panic, after the abort window
    /// for a burglary.
    Alarm,
    /// An alarm disarmed within its abort window: nothing was told, and the
    /// emergency channels hear it was cancelled.
    AlarmCancelled,
    /// Something is wrong that is not an alarm (a sensor offline, tampered,
    /// its battery low; a siren that did not answer; a network down).
    Trouble,
    /// A trouble cleared.
    TroubleCleared,
}

string_form!(ActivityKind {
    Arrival => "arrival",
    Departure => "departure",
    AccessDenied => "access_denied",
    Lockout => "lockout",
    HomeLockout => "home_lockout",
    KeypadGuessing => "keypad_guessing",
    CodeRevealed => "code_revealed",
    UserCreated => "user_created",
    UserUpdated => "user_updated",
    UserDeleted => "user_deleted",
    Unlocked => "unlocked",
    Locked => "locked",
    Jammed => "jammed",
    NoShow => "no_show",
    CodeFailed => "code_failed",
    Offline => "offline",
    Online => "online",
    BatteryLow => "battery_low",
    CodesLeft => "codes_left",
    ChannelAdded => "channel_added",
    ChannelChanged => "channel_changed",
    ChannelDeleted => "channel_deleted",
    CodeShared => "code_shared",
    ShareOpened => "share_opened",
    ShareRevoked => "share_revoked",
    DeliveryFailed => "delivery_failed",
    Panel => "panel",
    Alarm => "alarm",
    AlarmCancelled => "alarm_cancelled",
    Trouble => "trouble",
    TroubleCleared => "trouble_cleared",
});

/// How an access attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Granted,
    Denied,
}

string_form!(Outcome {
    Granted => "granted",
    Denied => "denied",
});

/// Who made an owner's change or reveal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An owner signed in to the web UI, by email.
    Owner(String),
    /// An API token, by name.
    Token(String),
    /// The lock itself reported it, and how it was operated: "keypad",
    /// "manual", "remote" or "auto".
    Lock(String),
}

impl Actor {
    const OWNER: &'static str = "owner:";
    const TOKEN: &'static str = "token:";
    const LOCK: &'static str = "lock:";

    /// The one string form: `owner:<email>`, `token:<name>` or `lock:<how>`.
    pub fn to_text(&self) -> String {
        match self {
            Self::Owner(email) => format!("{}{email}", Self::OWNER),
            Self::Token(name) => format!("{}{name}", Self::TOKEN),
            Self::Lock(how) => format!("{}{how}", Self::LOCK),
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        if let Some(email) = text.strip_prefix(Self::OWNER) {
            return Some(Self::Owner(email.to_owned()));
        }
        if let Some(how) = text.strip_prefix(Self::LOCK) {
            return Some(Self::Lock(how.to_owned()));
        }
        text.strip_prefix(Self::TOKEN).map(|name| Self::Token(name.to_owned()))
    }

    /// The email, the token's name, or how the lock was operated, for people.
    pub fn name(&self) -> &str {
        match self {
            Self::Owner(name) | Self::Token(name) | Self::Lock(name) => name,
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// A user as an entry names them: as they were when it happened, so history
/// outlives a renamed or deleted user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRef {
    pub id: String,
    pub name: String,
}

/// Something that happened in a home. Never holds a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub at: Timestamp,
    pub kind: ActivityKind,
    /// A lock id or "panel", for attempts and lockouts.
    pub device: Option<String>,
    pub action: Option<Action>,
    pub outcome: Option<Outcome>,
    pub reason: Option<DenyReason>,
    pub user: Option<UserRef>,
    /// A duress grant. Shown only to those allowed to see duress.
    pub duress: bool,
    pub actor: Option<Actor>,
    /// What an audit or delivery entry is about, in words that hold no
    /// secret: the fields a change touched ("name, schedule, code"), a
    /// channel's name, until when a shared link works.
    pub detail: Option<String>,
}

impl Event {
    /// An entry of `kind` at `at` and nothing more: what the other forms
    /// start from (`Event { user: …, ..Event::bare(kind, at) }`).
    pub fn bare(kind: ActivityKind, at: Timestamp) -> Self {
        Self {
            at,
            kind,
            device: None,
            action: None,
            outcome: None,
            reason: None,
            user: None,
            duress: false,
            actor: None,
            detail: None,
        }
    }

    /// An owner's change to a user, or a reveal of their code.
    pub fn audit(kind: ActivityKind, user: UserRef, actor: Actor, at: Timestamp) -> Self {
        Self { user: Some(user), actor: Some(actor), ..Self::bare(kind, at) }
    }

    /// An audit entry about something other than a user (a channel).
    pub fn owner_action(kind: ActivityKind, detail: String, actor: Actor, at: Timestamp) -> Self {
        Self { actor: Some(actor), detail: Some(detail), ..Self::bare(kind, at) }
    }
}

/// An event as the log keeps it: with its own id, in its home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityEntry {
    pub id: String,
    pub home_id: String,
    pub event: Event,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_string_form_reads_back() {
        for kind in ActivityKind::ALL {
            assert_eq!(ActivityKind::parse(kind.as_str()), Some(*kind));
        }
        for outcome in Outcome::ALL {
            assert_eq!(Outcome::parse(outcome.as_str()), Some(*outcome));
        }
        assert_eq!(ActivityKind::parse("Arrival"), None, "one form only");
        for actor in [Actor::Owner("anna@example.org".into()), Actor::Token("ha: token".into())] {
            assert_eq!(Actor::parse(&actor.to_text()), Some(actor.clone()));
        }
        assert_eq!(Actor::parse("someone"), None);
    }
}
