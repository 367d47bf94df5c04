//! The panel's sensors: set up by the owner (kind, modes, entry delay,
//! bypass, the device that reports them), and their reports, read from
//! every sensor network into the panel's one state machine
//! (`crate::panel`).

use std::sync::Arc;

use jiff::Timestamp;
use keyward_core::alarm::{Heard, Input, Modes, SensorKind, SensorSetup};
use keyward_core::{ActivityKind, Actor, DeviceRef, Event, Name};
use keyward_store::{SensorRecord, StoreError};
use tokio::sync::broadcast;

use crate::AppError;
use crate::devices::{SensorNetwork, SensorReport};
use crate::panel::Panels;
use crate::registry::{HomeState, PANEL};
use crate::secrets::new_id;

/// A sensor as it is added or changed; `None` leaves a field as it is (a
/// new sensor takes its kind's defaults).
#[derive(Debug, Clone, Default)]
pub struct SensorInput {
    pub name: Option<String>,
    pub kind: Option<String>,
    /// Which of `away`, `stay`, `night` watch it.
    pub modes: Option<Vec<String>>,
    /// Its own entry delay; `Some(None)` clears it.
    pub entry_delay: Option<Option<i64>>,
    pub bypassable: Option<bool>,
    /// `Some(None)` unbinds it.
    pub device: Option<Option<DeviceRef>>,
}

/// A sensor as the API shows it, with what it last reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorView {
    pub record: SensorRecord,
    pub heard: Option<Heard>,
    pub bypassed: bool,
    pub shut_down: bool,
}

impl SensorView {
    fn of(state: &HomeState, record: &SensorRecord) -> Self {
        let panel = &state.panel.panel;
        Self {
            record: record.clone(),
            heard: panel.readings.get(&record.id).copied(),
            bypassed: panel.bypassed.contains(&record.id),
            shut_down: panel.shut_down.contains(&record.id),
        }
    }
}

fn modes_of(names: &[String]) -> Result<Modes, AppError> {
    let mut modes = Modes::default();
    for name in names {
        match name.as_str() {
            "away" => modes.away = true,
            "stay" => modes.stay = true,
            "night" => modes.night = true,
            _ => return Err(AppError::SensorInvalid("modes are away, stay and night")),
        }
    }
    Ok(modes)
}

impl Panels {
    pub async fn sensors(&self, home_id: &str) -> Result<Vec<SensorView>, AppError> {
        let home = self.registry.home(home_id)?;
        let state = self.recorder.lock(&home).await?;
        let mut views: Vec<SensorView> = state.sensor_records.values().map(|r| SensorView::of(&state, r)).collect();
        views.sort_by(|a, b| (a.record.created_at, &a.record.id).cmp(&(b.record.created_at, &b.record.id)));
        Ok(views)
    }

    pub async fn sensor(&self, home_id: &str, sensor_id: &str) -> Result<SensorView, AppError> {
        let home = self.registry.home(home_id)?;
        let state = self.recorder.lock(&home).await?;
        let record = state.sensor_records.get(sensor_id).ok_or(AppError::SensorNotFound)?;
        Ok(SensorView::of(&state, record))
    }

    /// Adds a sensor (`sensor_id` None) or changes one, checked as a whole:
    /// a refusal changes nothing. Logged under the owner or token.
    pub async fn put_sensor(
        &self,
        home_id: &str,
        sensor_id: Option<&str>,
        input: SensorInput,
        actor: Actor,
    ) -> Result<SensorView, AppError> {
        let home = self.registry.home(home_id)?;
        let mut state = self.recorder.lock(&home).await?;
        let now = self.clock.now();
        let current = match sensor_id {
            Some(id) => Some(state.sensor_records.get(id).ok_or(AppError::SensorNotFound)?.clone()),
            None => None,
        };
        let name = match (&input.name, &current) {
            (Some(name), _) => Name::parse(name.clone())?,
            (None, Some(current)) => current.name.clone(),
            (None, None) => return Err(AppError::SensorInvalid("a new sensor needs a name")),
        };
        let kind = match (&input.kind, &current) {
            (Some(kind), _) => SensorKind::parse(kind).ok_or(AppError::SensorInvalid(
                "kind is entry_exit, perimeter, interior_follower, interior, fire, carbon_monoxide, water or panic",
            ))?,
            (None, Some(current)) => current.setup.kind,
            (None, None) => return Err(AppError::SensorInvalid("a new sensor needs a kind")),
        };
        // A new kind starts from its own defaults, unless the change says otherwise.
        let base = match &current {
            Some(current) if current.setup.kind == kind => current.setup.clone(),
            _ => SensorSetup::of(kind),
        };
        let modes = match &input.modes {
            Some(names) => modes_of(names)?,
            None => base.modes,
        };
        let entry_delay = match input.entry_delay {
            Some(Some(seconds)) => Some(state.panel.settings.check_entry_delay(seconds)?),
            Some(None) => None,
            None => base.entry_delay,
        };
        if entry_delay.is_some() && kind != SensorKind::EntryExit {
            return Err(AppError::SensorConflict("only an entry_exit sensor has an entry delay of its own"));
        }
        let bypassable = input.bypassable.unwrap_or(base.bypassable);
        if bypassable && kind.is_24_hour() {
            return Err(AppError::SensorConflict("a 24-hour sensor (fire, CO, water, panic) cannot be bypassed"));
        }
        let device = match input.device {
            Some(device) => device,
            None => current.as_ref().and_then(|c| c.device.clone()),
        };
        if let Some(device) = &device
            && !self.sensor_networks().iter().any(|n| n.protocol() == device.protocol())
        {
            return Err(AppError::DeviceUnavailable);
        }
        let taken = state.sensor_records.values().any(|s| {
            Some(s.id.as_str()) != sensor_id && s.name.as_str().to_lowercase() == name.as_str().to_lowercase()
        });
        if taken {
            return Err(AppError::SensorNameTaken);
        }
        let record = SensorRecord {
            id: current.as_ref().map_or_else(new_id, |c| c.id.clone()),
            home_id: home_id.to_owned(),
            name,
            setup: SensorSetup { kind, modes, entry_delay, bypassable },
            device,
            created_at: current.as_ref().map_or(now, |c| c.created_at),
            updated_at: now,
        };
        self.store.put_sensor(record.clone()).await.map_err(|e| match e {
            StoreError::Conflict(keyward_store::Key::DeviceBinding) => AppError::DeviceInUse,
            other => other.into(),
        })?;
        let words = if current.is_some() { "sensor changed" } else { "sensor added" };
        let event = Event {
            device: Some(PANEL.to_owned()),
            actor: Some(actor),
            detail: Some(format!("{words}: {} ({})", record.name, kind.as_str())),
            ..Event::bare(ActivityKind::Panel, now)
        };
        // A rebound sensor starts again from what its new device says.
        if current.as_ref().is_some_and(|c| c.device != record.device) {
            state.panel.panel.readings.remove(&record.id);
        }
        state.put_sensor(record.clone());
        let logged = self.recorder.record_event(&state, event, now).await;
        if let Err(e) = logged {
            tracing::error!(error = %e, "a sensor change was stored but not logged");
        }
        Ok(SensorView::of(&state, &record))
    }

    /// Removes a sensor: the panel forgets it (its bypass, shutdown and
    /// reading go with it).
    pub async fn remove_sensor(&self, home_id: &str, sensor_id: &str, actor: Actor) -> Result<(), AppError> {
        let home = self.registry.home(home_id)?;
        let mut state = self.recorder.lock(&home).await?;
        let record = state.sensor_records.get(sensor_id).cloned().ok_or(AppError::SensorNotFound)?;
        self.store.delete_sensor(home_id.to_owned(), sensor_id.to_owned()).await?;
        state.sensor_records.remove(sensor_id);
        state.sensors.remove(sensor_id);
        let panel = &mut state.panel.panel;
        panel.readings.remove(sensor_id);
        panel.bypassed.remove(sensor_id);
        panel.shut_down.remove(sensor_id);
        panel.trips.remove(sensor_id);
        let now = self.clock.now();
        let event = Event {
            device: Some(PANEL.to_owned()),
            actor: Some(actor),
            detail: Some(format!("sensor removed: {}", record.name)),
            ..Event::bare(ActivityKind::Panel, now)
        };
        if let Err(e) = self.recorder.record_event(&state, event, now).await {
            tracing::error!(error = %e, "a sensor's removal was stored but not logged");
        }
        Ok(())
    }

    /// Reads every report of these networks into the panels, from now on.
    pub(crate) fn follow(self: &Arc<Self>, networks: &[Arc<dyn SensorNetwork>], tasks: &crate::tasks::Tasks) {
        if let Ok(mut known) = self.networks.write() {
            known.extend(networks.iter().cloned());
        }
        for network in networks {
            let panels = self.clone();
            let mut reports = network.reports();
            // What the sensors said before keyward listened.
            let known: Vec<SensorReport> = network
                .sensors()
                .into_iter()
                .filter_map(|s| Some(SensorReport { device: s.device, reading: s.reading? }))
                .collect();
            tasks.spawn(async move {
                for report in known {
                    panels.report(report).await;
                }
                loop {
                    match reports.recv().await {
                        Ok(report) => panels.report(report).await,
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            tracing::warn!(
                                missed,
                                "sensor reports were dropped; the next report of each sensor counts"
                            );
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
            });
        }
    }

    /// One sensor's report, into the panel of the home whose sensor it is.
    async fn report(&self, report: SensorReport) {
        let Ok(homes) = self.registry.all() else { return };
        for home in homes {
            let Ok(mut state) = self.recorder.lock(&home).await else { continue };
            let Some(id) = state.sensor_of(&report.device).map(str::to_owned) else { continue };
            let same = state.panel.panel.readings.get(&id).is_some_and(|h| h.reading == report.reading);
            if same {
                // Nothing new: only that it was heard (supervision).
                if let Some(heard) = state.panel.panel.readings.get_mut(&id) {
                    heard.at = self.clock.now();
                }
                return;
            }
            let now: Timestamp = self.clock.now();
            let input = Input::Sensor { id, reading: report.reading };
            if let Err(error) = self.commit(&mut state, now, input).await {
                tracing::error!(%error, "a sensor's report could not be stored; the panel acts on its next report");
            }
            return;
        }
    }
}
