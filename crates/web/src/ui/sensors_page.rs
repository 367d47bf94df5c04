//! The Sensors page (`/sensors`): the alarm's sensors and sirens, what each
//! reports now, and the owner's Add (from the devices the networks offer)
//! and Remove (asked once more).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use keyward_app::{AppError, SensorInput};
use keyward_core::alarm::SensorKind;
use keyward_core::{DeviceRef, IeeeAddress};
use serde::Deserialize;

use super::web::{CheckedForm, Csrf, SignedIn};
use super::{ConfirmPage, CsrfOnly, Frame, PageResult, first_home, page};
use crate::AppState;

/// A kind in the owner's words, with what it does.
pub(super) fn kind_words(kind: SensorKind) -> &'static str {
    match kind {
        SensorKind::EntryExit => "Entry door (starts the entry delay)",
        SensorKind::Perimeter => "Door or window (sounds at once)",
        SensorKind::InteriorFollower => "Inside, on the way in (waits for the entry delay)",
        SensorKind::Interior => "Inside (sounds at once)",
        SensorKind::Fire => "Smoke or fire (always on)",
        SensorKind::CarbonMonoxide => "Carbon monoxide (always on)",
        SensorKind::Water => "Water leak (always on)",
        SensorKind::Panic => "Panic button (always on)",
    }
}

struct SensorRow {
    id: String,
    name: String,
    kind: &'static str,
    modes: String,
    /// "Open", "Closed", "Offline", "Not heard yet".
    state: &'static str,
    state_class: &'static str,
    notes: Vec<String>,
}

struct SirenRow {
    id: String,
    name: String,
    state: &'static str,
    state_class: &'static str,
}

#[derive(Template)]
#[template(path = "sensors.html")]
struct SensorsPage<'a> {
    frame: Frame<'a>,
    sensors: Vec<SensorRow>,
    sirens: Vec<SirenRow>,
    /// Devices offered and not in use: (value, words).
    offered_sensors: Vec<(String, String)>,
    offered_sirens: Vec<(String, String)>,
    kinds: Vec<(&'static str, &'static str)>,
    error: Option<String>,
    flash: Option<String>,
}

fn device_value(device: &DeviceRef) -> Option<String> {
    match device {
        DeviceRef::Zigbee2Mqtt { ieee_address } => Some(format!("zigbee2mqtt:{}", ieee_address.as_str())),
        _ => None,
    }
}

fn picked(value: &str) -> Result<DeviceRef, AppError> {
    let address = value.strip_prefix("zigbee2mqtt:").ok_or(AppError::DeviceUnavailable)?;
    Ok(DeviceRef::Zigbee2Mqtt { ieee_address: IeeeAddress::parse(address).map_err(|_| AppError::DeviceUnavailable)? })
}

async fn view(s: &AppState, csrf: &Csrf, owner: &str, error: Option<String>, flash: Option<String>) -> PageResult {
    let home = first_home(s).await?;
    let sensors = s.app.panels.sensors(&home.id).await?;
    let sirens = s.app.panels.sirens(&home.id).await?;
    let used: Vec<DeviceRef> = sensors
        .iter()
        .filter_map(|v| v.record.device.clone())
        .chain(sirens.iter().map(|v| v.record.device.clone()))
        .collect();
    let offer = |device: &DeviceRef, label: &str, name: Option<&str>| {
        let value = device_value(device)?;
        (!used.contains(device)).then(|| (value, format!("{label} ({})", name.unwrap_or("Zigbee"))))
    };
    let offered_sensors = s
        .app
        .panels
        .sensor_networks()
        .iter()
        .flat_map(|n| n.sensors())
        .filter_map(|d| offer(&d.device, &d.label, d.name.as_deref()))
        .collect();
    let offered_sirens = s
        .app
        .panels
        .siren_networks()
        .iter()
        .flat_map(|n| n.sirens())
        .filter_map(|d| offer(&d.device, &d.label, d.name.as_deref()))
        .collect();
    let rows = sensors
        .into_iter()
        .map(|v| {
            let setup = &v.record.setup;
            let modes: Vec<&str> = keyward_core::alarm::ArmMode::ALL
                .iter()
                .filter(|m| setup.modes.watches(**m))
                .map(|m| m.as_str())
                .collect();
            let (state, state_class) = match v.heard.map(|h| h.reading) {
                None => ("Not heard yet", "wait"),
                Some(r) if !r.online => ("Offline", "bad"),
                Some(r) if r.open && setup.kind.is_24_hour() => ("Alarm", "bad"),
                Some(r) if r.open => ("Open", "wait"),
                Some(_) if setup.kind.is_24_hour() => ("Clear", "ok"),
                Some(_) => ("Closed", "ok"),
            };
            let mut notes = Vec::new();
            if let Some(r) = v.heard.map(|h| h.reading) {
                if r.tamper {
                    notes.push("cover open".to_owned());
                }
                match (r.battery, r.battery_low) {
                    (_, true) => notes.push("battery low".to_owned()),
                    (Some(level), false) => notes.push(format!("battery {level} %")),
                    _ => {}
                }
            }
            if v.bypassed {
                notes.push("bypassed until disarmed".to_owned());
            }
            if v.shut_down {
                notes.push("shut down until disarmed".to_owned());
            }
            SensorRow {
                id: v.record.id.clone(),
                name: v.record.name.as_str().to_owned(),
                kind: kind_words(setup.kind),
                modes: if setup.kind.is_24_hour() { "always".to_owned() } else { modes.join(", ") },
                state,
                state_class,
                notes,
            }
        })
        .collect();
    let siren_rows = sirens
        .into_iter()
        .map(|v| {
            let (state, state_class) = match (v.online, v.sounding) {
                (false, _) => ("Offline", "bad"),
                (true, true) => ("Sounding", "bad"),
                (true, false) => ("Quiet", "ok"),
            };
            SirenRow { id: v.record.id.clone(), name: v.record.name.as_str().to_owned(), state, state_class }
        })
        .collect();
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let view = SensorsPage {
        frame: Frame { active: "locks", csrf: &csrf.token, email: owner },
        sensors: rows,
        sirens: siren_rows,
        offered_sensors,
        offered_sirens,
        kinds: SensorKind::ALL.iter().map(|k| (k.as_str(), kind_words(*k))).collect(),
        error,
        flash,
    };
    Ok((status, csrf.attach(page(&view))).into_response())
}

pub async fn page_view(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    headers: HeaderMap,
    csrf: Csrf,
) -> PageResult {
    let flash = super::flash::take(&headers);
    Ok(super::flash::shown(&headers, view(&s, &csrf, &owner.email, None, flash).await?))
}

#[derive(Deserialize)]
pub struct AddForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    device: String,
}

/// Words for a refusal the owner can act on; anything else is a page of its own.
fn refusal_words(e: &AppError) -> Option<String> {
    match e {
        AppError::Name(_) => Some("Give a name of 1 to 64 characters, such as Front door.".to_owned()),
        AppError::SensorNameTaken | AppError::SirenNameTaken => {
            Some("Another one is already called this: give each its own name.".to_owned())
        }
        AppError::DeviceInUse => Some("That device is in use already.".to_owned()),
        AppError::DeviceUnavailable => Some("Choose a device from the list.".to_owned()),
        AppError::SensorInvalid(words) | AppError::SensorConflict(words) => Some(super::first_upper(words)),
        _ => None,
    }
}

/// After Add: back to the page saying what was added, or the page again
/// with what to change, in words.
async fn answered(
    s: &AppState,
    headers: &HeaderMap,
    csrf: &Csrf,
    owner: &str,
    added: Result<keyward_core::Name, AppError>,
) -> PageResult {
    match added {
        Ok(name) => Ok(super::flash::redirect(headers, "/sensors", &format!("{name} added"))),
        Err(e) => match refusal_words(&e) {
            Some(words) => view(s, csrf, owner, Some(words), None).await,
            None => Err(e.into()),
        },
    }
}

pub async fn add_sensor(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    headers: HeaderMap,
    csrf: Csrf,
    CheckedForm(form): CheckedForm<AddForm>,
) -> PageResult {
    let actor = keyward_core::Actor::Owner(owner.email.clone());
    let added = async {
        let home = first_home(&s).await?;
        let input = SensorInput {
            name: Some(form.name.clone()),
            kind: Some(form.kind.clone()),
            device: Some(Some(picked(&form.device)?)),
            ..SensorInput::default()
        };
        s.app.panels.put_sensor(&home.id, None, input, actor).await
    }
    .await
    .map(|v| v.record.name);
    answered(&s, &headers, &csrf, &owner.email, added).await
}

pub async fn add_siren(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    headers: HeaderMap,
    csrf: Csrf,
    CheckedForm(form): CheckedForm<AddForm>,
) -> PageResult {
    let actor = keyward_core::Actor::Owner(owner.email.clone());
    let added = async {
        let home = first_home(&s).await?;
        let device = picked(&form.device)?;
        s.app.panels.put_siren(&home.id, None, Some(form.name.clone()), Some(device), actor).await
    }
    .await
    .map(|v| v.record.name);
    answered(&s, &headers, &csrf, &owner.email, added).await
}

/// "Remove Front door?": the panel stops watching it.
pub async fn remove_page(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    csrf: Csrf,
    Path(id): Path<String>,
) -> PageResult {
    let home = first_home(&s).await?;
    let (name, what) = match s.app.panels.sensor(&home.id, &id).await {
        Ok(v) => (v.record.name.to_string(), "The alarm stops watching it."),
        Err(AppError::SensorNotFound) => {
            (s.app.panels.siren(&home.id, &id).await?.record.name.to_string(), "The alarm no longer sounds it.")
        }
        Err(e) => return Err(e.into()),
    };
    Ok(csrf.attach(page(&ConfirmPage {
        frame: Frame { active: "locks", csrf: &csrf.token, email: &owner.email },
        title: format!("Remove {name}?"),
        question: what.to_owned(),
        action: format!("/sensors/{id}/delete"),
        button: "Remove",
        button_class: "danger",
        back: "/sensors".to_owned(),
    })))
}

pub async fn remove(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    headers: HeaderMap,
    Path(id): Path<String>,
    CheckedForm(_): CheckedForm<CsrfOnly>,
) -> PageResult {
    let home = first_home(&s).await?;
    let actor = keyward_core::Actor::Owner(owner.email.clone());
    let name = match s.app.panels.sensor(&home.id, &id).await {
        Ok(v) => {
            s.app.panels.remove_sensor(&home.id, &id, actor).await?;
            v.record.name.to_string()
        }
        Err(AppError::SensorNotFound) => {
            let v = s.app.panels.siren(&home.id, &id).await?;
            s.app.panels.remove_siren(&home.id, &id, actor).await?;
            v.record.name.to_string()
        }
        Err(e) => return Err(e.into()),
    };
    Ok(super::flash::redirect(&headers, "/sensors", &format!("{name} removed")))
}
