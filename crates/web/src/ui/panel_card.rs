//! The alarm at the top of the Users screen: its state in words and colour,
//! what keeps it from arming, its troubles, and the owner's Arm away, Arm
//! stay and Disarm (forms, so they work without JavaScript).

use axum::extract::State;
use axum::http::HeaderMap;
use keyward_app::{AppError, PanelCommand};
use keyward_core::alarm::ArmMode;
use serde::Deserialize;

use super::web::{CheckedForm, SignedIn};
use super::{PageResult, first_home};
use crate::AppState;

/// The panel as the Users screen shows it.
pub(super) struct PanelCard {
    /// "Armed away", "Disarmed", "ALARM", …
    pub words: String,
    /// The chip's class: `ok` (disarmed), `armed`, `wait` (a delay), `bad` (triggered).
    pub class: &'static str,
    /// What else to say: until when a delay runs, who changed it last.
    pub detail: String,
    /// Sensors open now, by name.
    pub open: Vec<String>,
    pub troubles: Vec<String>,
    pub disarmed: bool,
}

impl PanelCard {
    /// The card, when the home has an alarm to show: a sensor or a siren,
    /// or a panel that is not disarmed.
    pub async fn of(s: &AppState, home: &keyward_app::HomeView) -> Result<Option<Self>, AppError> {
        let panel = s.app.panels.view(&home.id).await?;
        let sensors = s.app.panels.sensors(&home.id).await?;
        let sirens = s.app.panels.sirens(&home.id).await?;
        if sensors.is_empty() && sirens.is_empty() && panel.state == "disarmed" {
            return Ok(None);
        }
        let tz = home.zone.tz();
        let clock = |t: jiff::Timestamp| tz.to_datetime(t).strftime("%H:%M:%S").to_string();
        let (words, class) = match panel.state {
            "disarmed" => ("Disarmed", "ok"),
            "arming" => ("Arming", "wait"),
            "armed_away" => ("Armed away", "armed"),
            "armed_stay" => ("Armed stay", "armed"),
            "armed_night" => ("Armed night", "armed"),
            "pending" => ("Entry delay", "wait"),
            _ => ("ALARM", "bad"),
        };
        let who = panel.changed_by.as_ref().map(|by| match by {
            keyward_core::alarm::By::User { name, .. } => name.clone(),
            keyward_core::alarm::By::Actor { .. } => {
                by.as_actor().map(|a| a.name().to_owned()).unwrap_or_else(|| "the owner".to_owned())
            }
        });
        let detail = match (panel.delay_until, &who) {
            (Some(until), _) if panel.state == "arming" => format!("armed at {}", clock(until)),
            (Some(until), _) => format!("the alarm sounds at {} unless disarmed", clock(until)),
            (None, Some(who)) => format!("since {} · {who}", clock(panel.changed_at)),
            (None, None) => format!("since {}", clock(panel.changed_at)),
        };
        let name_of = |id: &str| {
            sensors.iter().find(|v| v.record.id == id).map_or_else(|| id.to_owned(), |v| v.record.name.to_string())
        };
        let siren_name = |id: &str| {
            sirens.iter().find(|v| v.record.id == id).map_or_else(|| id.to_owned(), |v| v.record.name.to_string())
        };
        let troubles = panel
            .troubles
            .iter()
            .map(|(t, _)| {
                use keyward_core::alarm::TroubleKind as K;
                match t.kind {
                    K::Offline => format!("{} is offline", name_of(&t.subject)),
                    K::Tamper => format!("{}'s cover is open", name_of(&t.subject)),
                    K::LowBattery => format!("{}'s battery is low", name_of(&t.subject)),
                    K::SirenNoAnswer => format!("{} did not answer", siren_name(&t.subject)),
                    K::NetworkDown => format!("{} is down", t.subject),
                }
            })
            .collect();
        Ok(Some(Self {
            words: words.to_owned(),
            class,
            detail,
            open: panel.open_sensors.iter().map(|id| name_of(id)).collect(),
            troubles,
            disarmed: panel.state == "disarmed",
        }))
    }
}

#[derive(Deserialize)]
pub struct ArmForm {
    #[serde(default)]
    mode: String,
}

/// The owner's Arm away / Arm stay (remote arming: no auto-stay).
pub async fn arm(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    headers: HeaderMap,
    CheckedForm(form): CheckedForm<ArmForm>,
) -> PageResult {
    let mode = ArmMode::parse(&form.mode).unwrap_or(ArmMode::Away);
    let home = first_home(&s).await?;
    let actor = keyward_core::Actor::Owner(owner.email);
    let message = match s.app.panels.command(&home.id, PanelCommand::Arm { mode, force: false }, actor).await {
        Ok(view) => match view.delay_until {
            Some(until) => {
                format!("Arming {}: armed at {}", mode.as_str(), home.zone.tz().to_datetime(until).strftime("%H:%M:%S"))
            }
            None => format!("Armed {}", mode.as_str()),
        },
        Err(AppError::PanelNotReady(open)) => format!("Not armed: close {} first", open.join(", ")),
        Err(AppError::PanelNotDisarmed) => "Already armed".to_owned(),
        Err(e) => return Err(e.into()),
    };
    Ok(super::flash::redirect(&headers, "/users", &message))
}

pub async fn disarm(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    headers: HeaderMap,
    CheckedForm(_): CheckedForm<super::CsrfOnly>,
) -> PageResult {
    let home = first_home(&s).await?;
    let actor = keyward_core::Actor::Owner(owner.email);
    let message = match s.app.panels.command(&home.id, PanelCommand::Disarm, actor).await {
        Ok(_) => "Disarmed".to_owned(),
        Err(AppError::PanelAlreadyDisarmed) => "Already disarmed".to_owned(),
        Err(e) => return Err(e.into()),
    };
    Ok(super::flash::redirect(&headers, "/users", &message))
}
