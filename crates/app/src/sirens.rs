//! The panel's sirens: which devices it sounds (`crate::panel` orders
//! them after each committed transition).

use keyward_core::alarm::{PanelState, Trouble, TroubleKind};
use keyward_core::{ActivityKind, Actor, DeviceRef, Event, Name};
use keyward_store::{SirenRecord, StoreError};

use crate::AppError;
use crate::panel::Panels;
use crate::registry::{HomeState, PANEL};
use crate::secrets::new_id;

/// A siren as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SirenView {
    pub record: SirenRecord,
    /// Sounding: the panel is triggered and the siren took the order.
    pub sounding: bool,
    pub online: bool,
}

impl Panels {
    fn siren_view(&self, state: &HomeState, record: &SirenRecord) -> SirenView {
        let silent = Trouble { kind: TroubleKind::SirenNoAnswer, subject: record.id.clone() };
        let triggered = matches!(state.panel.panel.state, PanelState::Triggered { .. });
        let online =
            self.siren_networks().iter().flat_map(|n| n.sirens()).any(|s| s.device == record.device && s.online);
        SirenView {
            record: record.clone(),
            sounding: triggered && online && !state.panel.panel.troubles.contains_key(&silent),
            online,
        }
    }

    pub async fn sirens(&self, home_id: &str) -> Result<Vec<SirenView>, AppError> {
        let home = self.registry.home(home_id)?;
        let state = self.recorder.lock(&home).await?;
        let mut views: Vec<SirenView> = state.sirens.values().map(|r| self.siren_view(&state, r)).collect();
        views.sort_by(|a, b| (a.record.created_at, &a.record.id).cmp(&(b.record.created_at, &b.record.id)));
        Ok(views)
    }

    pub async fn siren(&self, home_id: &str, siren_id: &str) -> Result<SirenView, AppError> {
        let home = self.registry.home(home_id)?;
        let state = self.recorder.lock(&home).await?;
        let record = state.sirens.get(siren_id).ok_or(AppError::SirenNotFound)?;
        Ok(self.siren_view(&state, record))
    }

    /// Adds a siren (`siren_id` None) or renames or rebinds one.
    pub async fn put_siren(
        &self,
        home_id: &str,
        siren_id: Option<&str>,
        name: Option<String>,
        device: Option<DeviceRef>,
        actor: Actor,
    ) -> Result<SirenView, AppError> {
        let home = self.registry.home(home_id)?;
        let mut state = self.recorder.lock(&home).await?;
        let now = self.clock.now();
        let current = match siren_id {
            Some(id) => Some(state.sirens.get(id).ok_or(AppError::SirenNotFound)?.clone()),
            None => None,
        };
        let name = match (name, &current) {
            (Some(name), _) => Name::parse(name)?,
            (None, Some(current)) => current.name.clone(),
            (None, None) => return Err(AppError::SensorInvalid("a new siren needs a name")),
        };
        let device = match (device, &current) {
            (Some(device), _) => device,
            (None, Some(current)) => current.device.clone(),
            (None, None) => return Err(AppError::SensorInvalid("a new siren needs its device")),
        };
        if !self.siren_networks().iter().any(|n| n.protocol() == device.protocol()) {
            return Err(AppError::DeviceUnavailable);
        }
        let taken = state
            .sirens
            .values()
            .any(|s| Some(s.id.as_str()) != siren_id && s.name.as_str().to_lowercase() == name.as_str().to_lowercase());
        if taken {
            return Err(AppError::SirenNameTaken);
        }
        let record = SirenRecord {
            id: current.as_ref().map_or_else(new_id, |c| c.id.clone()),
            home_id: home_id.to_owned(),
            name,
            device,
            created_at: current.as_ref().map_or(now, |c| c.created_at),
            updated_at: now,
        };
        self.store.put_siren(record.clone()).await.map_err(|e| match e {
            StoreError::Conflict(keyward_store::Key::DeviceBinding) => AppError::DeviceInUse,
            other => other.into(),
        })?;
        let words = if current.is_some() { "siren changed" } else { "siren added" };
        let event = Event {
            device: Some(PANEL.to_owned()),
            actor: Some(actor),
            detail: Some(format!("{words}: {}", record.name)),
            ..Event::bare(ActivityKind::Panel, now)
        };
        state.sirens.insert(record.id.clone(), record.clone());
        if let Err(e) = self.recorder.record_event(&state, event, now).await {
            tracing::error!(error = %e, "a siren change was stored but not logged");
        }
        Ok(self.siren_view(&state, &record))
    }

    pub async fn remove_siren(&self, home_id: &str, siren_id: &str, actor: Actor) -> Result<(), AppError> {
        let home = self.registry.home(home_id)?;
        let mut state = self.recorder.lock(&home).await?;
        let record = state.sirens.get(siren_id).cloned().ok_or(AppError::SirenNotFound)?;
        self.store.delete_siren(home_id.to_owned(), siren_id.to_owned()).await?;
        state.sirens.remove(siren_id);
        let now = self.clock.now();
        let event = Event {
            device: Some(PANEL.to_owned()),
            actor: Some(actor),
            detail: Some(format!("siren removed: {}", record.name)),
            ..Event::bare(ActivityKind::Panel, now)
        };
        if let Err(e) = self.recorder.record_event(&state, event, now).await {
            tracing::error!(error = %e, "a siren's removal was stored but not logged");
        }
        Ok(())
    }
}
