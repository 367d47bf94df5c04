//! The alarm: a pure state machine beside [`crate::decide`], with its
//! settings (CP-01 by default) and the sensors it watches.
//!
//! Who may arm or disarm is decided before ([`crate::decide`], the one
//! decision for every code); the machine takes only commands someone was
//! allowed to give, and names them in what it records.

mod machine;
mod sensor;
mod settings;

pub use machine::{
    AlarmKind, Effect, Heard, Incident, Input, Panel, PanelState, Refusal, SensorId, Setup, ShutDown, Trouble,
    TroubleKind,
};
pub use sensor::{ArmMode, Modes, Reading, SensorKind, SensorSetup};
pub use settings::{PanelSettings, SettingsError, SettingsSpec};

use serde::{Deserialize, Serialize};

use crate::{Actor, UserRef};

/// Who gave a command: a user by their code, or an owner or token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum By {
    User { id: String, name: String },
    Actor { actor: String },
}

impl By {
    pub fn user(user: &UserRef) -> Self {
        Self::User { id: user.id.clone(), name: user.name.clone() }
    }

    pub fn actor(actor: &Actor) -> Self {
        Self::Actor { actor: actor.to_text() }
    }

    /// The user, when it was one.
    pub fn user_ref(&self) -> Option<UserRef> {
        match self {
            Self::User { id, name } => Some(UserRef { id: id.clone(), name: name.clone() }),
            Self::Actor { .. } => None,
        }
    }

    /// The owner or token, when it was one.
    pub fn as_actor(&self) -> Option<Actor> {
        match self {
            Self::Actor { actor } => Actor::parse(actor),
            Self::User { .. } => None,
        }
    }
}
