//! The notifications an event causes, planned from the home's state when the
//! event is recorded, so they are written in the event's own transaction
//! (`Recorder::record`): an event is never committed without its alerts, nor
//! an alert without its event.

use jiff::Timestamp;
use keyward_core::ActivityEntry;
use keyward_core::notify::{self, ChannelRoute, Names, UserAlerts};
use keyward_store::{DeliveryState, OutboxRecord};

use crate::registry::HomeState;
use crate::secrets::new_id;

/// The outbox rows for `entries`, on the home's channels.
pub(crate) fn plan(state: &HomeState, entries: &[ActivityEntry], now: Timestamp) -> Vec<OutboxRecord> {
    if state.channels.is_empty() {
        return Vec::new();
    }
    let tz = state.home.zone.tz();
    let routes: Vec<ChannelRoute> = state
        .channels
        .iter()
        .map(|c| ChannelRoute { id: c.id.clone(), emergency: c.emergency, quiet: c.quiet })
        .collect();
    let mut planned = Vec::new();
    for entry in entries {
        let event = &entry.event;
        let user = event.user.as_ref().and_then(|u| state.users.get(&u.id)).map(|r| &r.user);
        let alerts = user.map(|u| UserAlerts {
            arrive: u.notify.arrive,
            leave: u.notify.leave,
            channels: u.alerts.channels.clone(),
            hours: u.alerts.hours.clone(),
        });
        let device = event.device.as_deref().map(|id| match state.locks.get(id) {
            Some(lock) => lock.name.as_str().to_owned(),
            None if id == crate::registry::PANEL => "the alarm panel".to_owned(),
            None => "a removed lock".to_owned(),
        });
        let names = Names {
            user: event.user.as_ref().map(|u| u.name.as_str()),
            device: device.as_deref(),
            home: state.home.name.as_str(),
            detail: event.detail.as_deref(),
        };
        let wall = tz.to_datetime(event.at);
        for kind in notify::alerts_for(event, alerts.as_ref(), tz) {
            let choice = alerts.as_ref().map(|a| a.channels.clone()).unwrap_or_default();
            let message = notify::message_for(kind, event.kind, names, wall);
            let data = serde_json::json!({
                "event_id": entry.id,
                "home": {"id": state.home.id, "name": state.home.name.as_str()},
                "user": event.user.as_ref().map(|u| serde_json::json!({"id": u.id, "name": u.name})),
                "device": event.device.as_ref().map(|id| serde_json::json!({"id": id, "name": device})),
                "event": event.kind.as_str(),
                "at": event.at.to_string(),
                "local_time": wall.strftime("%Y-%m-%dT%H:%M:%S").to_string(),
                "title": message.title,
                "message": message.body,
            });
            for channel_id in notify::route(kind, &choice, &routes, tz, event.at) {
                planned.push(OutboxRecord {
                    id: new_id(),
                    home_id: state.home.id.clone(),
                    channel_id,
                    event_id: entry.id.clone(),
                    kind,
                    created_at: now,
                    title: message.title.clone(),
                    body: message.body.clone(),
                    data: data.to_string(),
                    state: DeliveryState::Pending,
                    attempts: 0,
                    next_at: now,
                    last_error: None,
                    delivered_at: None,
                });
            }
        }
    }
    planned
}
