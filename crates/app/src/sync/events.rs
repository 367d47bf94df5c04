//! What the networks tell of their locks: a code typed at a keypad becomes
//! the user's arrival, a lock's state and battery are kept, its going and
//! coming back is told (once per problem, see `keyward_core::Presence`),
//! and a report that its memory changed has it read back.

use keyward_core::{Action, ActivityKind, Actor, DeviceRef, Event, Outcome, UseCount, UserKind, UserRef};

use super::Engine;
use super::state::Handle;
use crate::devices::{DeviceEvent, Operation};
use crate::recorder::entry;

impl Engine {
    pub(super) async fn device_event(&self, event: DeviceEvent) {
        self.record_lock_event(&event).await;
        let now = self.clock.now();
        match event {
            DeviceEvent::Network { connected: true } => {
                self.upgrade_named_bindings().await;
                self.poke_all(true);
            }
            DeviceEvent::Network { connected: false } => {}
            DeviceEvent::Online { device, online } => {
                let Some((home_id, handle)) = self.bound_handle(&device) else { return };
                let tell = {
                    let mut entry = handle.entry();
                    let tell = entry.presence.report(online, now);
                    if online {
                        // Back: try what waited for it now, and look at its memory again.
                        entry.rescan = true;
                        // It may have lost the limit it held; one that did not
                        // take it is not asked again (each try waits out its
                        // answer time before the codes' work goes on).
                        if !matches!(entry.keypad_limit, super::state::LimitState::Unsupported(_)) {
                            entry.keypad_limit = super::state::LimitState::Unknown;
                        }
                        for record in entry.slots.values_mut() {
                            if record.reason == Some(keyward_core::FailureReason::Offline) {
                                record.retry_at = None;
                            }
                        }
                    }
                    tell
                };
                if let Some(tell) = tell {
                    self.tell(&home_id, &handle.lock_id, tell).await;
                }
                handle.poke();
            }
            DeviceEvent::StateChanged { device, state } => {
                let Some(level) = state.battery else { return };
                let Some((home_id, handle)) = self.bound_handle(&device) else { return };
                let tell = {
                    let mut entry = handle.entry();
                    let (low, tell) = keyward_core::battery_report(entry.battery_low, level);
                    entry.battery_low = low;
                    tell
                };
                if tell {
                    let detail = Some(format!("{level} %"));
                    self.record_lock_entry(&home_id, &handle.lock_id, ActivityKind::BatteryLow, None, detail).await;
                }
            }
            DeviceEvent::CodesCleared { device } | DeviceEvent::Reinterviewed { device } => {
                let Some((_, handle)) = self.bound_handle(&device) else { return };
                handle.entry().memory_changed();
                handle.poke();
            }
            DeviceEvent::SlotChanged { device, slot } | DeviceEvent::DuplicateRefused { device, slot } => {
                let Some((_, handle)) = self.bound_handle(&device) else { return };
                handle.entry().recheck([slot], now);
                handle.poke();
            }
            DeviceEvent::Keypad { .. }
            | DeviceEvent::Operated { .. }
            | DeviceEvent::Jammed { .. }
            | DeviceEvent::WrongCode { .. } => {}
        }
    }

    /// The home and the handle of the lock a device is bound to.
    fn bound_handle(&self, device: &DeviceRef) -> Option<(String, std::sync::Arc<Handle>)> {
        let (home_id, lock_id) = self.registry.bound(device)?;
        Some((home_id, self.handle(&lock_id)))
    }

    /// Tells a held-back change of a lock's presence once it is due.
    pub(super) async fn tell_presence(&self, handle: &Handle, home_id: &str) {
        let tell = handle.entry().presence.tick(self.clock.now());
        if let Some(tell) = tell {
            self.tell(home_id, &handle.lock_id, tell).await;
        }
    }

    async fn tell(&self, home_id: &str, lock_id: &str, tell: keyward_core::lock_sync::Tell) {
        let kind = if tell.online { ActivityKind::Online } else { ActivityKind::Offline };
        let detail = match tell.drops {
            0 => None,
            1 => Some("it dropped off once more meanwhile".to_owned()),
            n => Some(format!("it dropped off {n} more times meanwhile")),
        };
        self.record_lock_entry(home_id, lock_id, kind, None, detail).await;
    }

    /// What a lock reports of its own use becomes the home's activity: a
    /// code typed at the keypad is the user's arrival (or departure) and
    /// counts as a use, committed before anything else follows from it; a
    /// use that spends the user's last one takes the code off every lock.
    async fn record_lock_event(&self, event: &DeviceEvent) {
        let (device, kind, how, user_slot) = match event.clone() {
            DeviceEvent::Keypad { device, slot, unlocked } => {
                let kind = if unlocked { ActivityKind::Arrival } else { ActivityKind::Departure };
                (device, kind, "keypad", Some(slot))
            }
            DeviceEvent::Operated { device, operation, unlocked } => {
                let kind = if unlocked { ActivityKind::Unlocked } else { ActivityKind::Locked };
                let how = match operation {
                    Operation::Manual => "manual",
                    Operation::Remote => "remote",
                    Operation::Auto => "auto",
                };
                (device, kind, how, None)
            }
            DeviceEvent::Jammed { device } => (device, ActivityKind::Jammed, "manual", None),
            DeviceEvent::WrongCode { device } => (device, ActivityKind::AccessDenied, "keypad", None),
            _ => return,
        };
        let Some((home_id, lock_id)) = self.registry.bound(&device) else { return };
        // The slot names the user only if keyward's code for them is what it holds.
        let user_id = user_slot.and_then(|slot| self.handle_of(&lock_id).and_then(|h| h.entry().user_in(slot)));
        let Ok(home) = self.registry.home(&home_id) else { return };
        let (committed, spent) = {
            let Ok(mut state) = self.recorder.lock(&home).await else { return };
            let at = self.clock.now();
            let user = user_id.as_ref().and_then(|id| state.users.get_mut(id));
            // A keypad code keyward did not give is an unlock by someone unknown.
            let kind = match (kind, &user) {
                (ActivityKind::Arrival, None) => ActivityKind::Unlocked,
                (ActivityKind::Departure, None) => ActivityKind::Locked,
                (kind, _) => kind,
            };
            let mut uses = None;
            let mut spent = false;
            let mut named = None;
            let mut duress = false;
            if let Some(record) = user {
                let count = record.user.uses.saturating_add(1);
                record.user.uses = count;
                record.last_used = Some(at);
                spent = record.user.validity.max_uses().is_some_and(|max| count >= max);
                duress = record.user.kind == UserKind::Duress;
                named = Some(UserRef { id: record.user.id.clone(), name: record.user.name.as_str().to_owned() });
                uses = Some(UseCount { user_id: record.user.id.clone(), uses: count, last_used: at });
            }
            let granted = matches!(kind, ActivityKind::Arrival | ActivityKind::Departure);
            let event = Event {
                at,
                kind,
                device: Some(lock_id.clone()),
                action: (kind == ActivityKind::Arrival).then_some(Action::Unlock),
                outcome: if granted {
                    Some(Outcome::Granted)
                } else if kind == ActivityKind::AccessDenied {
                    Some(Outcome::Denied)
                } else {
                    None
                },
                reason: (kind == ActivityKind::AccessDenied).then_some(keyward_core::DenyReason::UnknownCode),
                user: named,
                duress,
                actor: Some(Actor::Lock(how.to_owned())),
                detail: None,
            };
            // Wrong codes at the lock's own keypad add up by the home's
            // lockout policy; a burst is told (the lock keeps deciding its
            // keypad). A known code typed there ends the count.
            let guessing = match (kind, self.handle_of(&lock_id)) {
                (ActivityKind::AccessDenied, Some(handle)) => {
                    let policy = state.home.lockout_policy;
                    handle.entry().guesses.record_failure(&policy, at).then(|| Event {
                        kind: ActivityKind::KeypadGuessing,
                        action: None,
                        outcome: None,
                        reason: None,
                        detail: Some(format!(
                            "{} wrong codes within {}",
                            policy.max_attempts(),
                            seconds_words(policy.window_seconds())
                        )),
                        ..event.clone()
                    })
                }
                (_, Some(handle)) if granted => {
                    handle.entry().guesses.record_success();
                    None
                }
                _ => None,
            };
            let mut entries = vec![entry(&home_id, event)];
            entries.extend(guessing.map(|event| entry(&home_id, event)));
            let record = keyward_store::Record {
                home_id: home_id.clone(),
                applied_ahead: uses.is_some(),
                entries,
                uses,
                ..keyward_store::Record::default()
            };
            (self.recorder.record(&state, record, at), spent)
        };
        if let Err(error) = committed.await {
            home.lock().await.stale = true;
            tracing::error!(lock = lock_id.as_str(), %error, "a lock's event could not be recorded");
            return;
        }
        if spent {
            self.signal.home_changed(&home_id);
        }
    }

    /// Logs something that happened to a lock (not a use of it): it went
    /// offline or came back, a user's code could not be put on it, its
    /// battery is low. Its alert, if any, is planned by the recorder like
    /// any other.
    pub(super) async fn record_lock_entry(
        &self,
        home_id: &str,
        lock_id: &str,
        kind: ActivityKind,
        user_id: Option<&str>,
        detail: Option<String>,
    ) {
        let Ok(home) = self.registry.home(home_id) else { return };
        let committed = {
            let Ok(state) = self.recorder.lock(&home).await else { return };
            let user = user_id
                .and_then(|id| state.users.get(id))
                .map(|r| UserRef { id: r.user.id.clone(), name: r.user.name.as_str().to_owned() });
            let at = self.clock.now();
            let event = Event {
                device: Some(lock_id.to_owned()),
                user,
                actor: Some(Actor::Lock("network".to_owned())),
                detail,
                ..Event::bare(kind, at)
            };
            self.recorder.record_event(&state, event, at)
        };
        if let Err(error) = committed.await {
            tracing::error!(lock = lock_id, %error, "a lock's entry could not be recorded");
        }
    }

    /// Locks bound to a Zigbee2MQTT device by friendly name (before keyward
    /// bound by address) are bound by the address of the device now
    /// carrying that name. Their knowledge of the slots is kept: it is the
    /// same device.
    /// True when one was bound anew.
    pub(super) async fn upgrade_named_bindings(&self) -> bool {
        let Some(network) = self.network(keyward_core::Protocol::Zigbee2Mqtt) else { return false };
        let offered = network.devices();
        let Ok(homes) = self.registry.all() else { return false };
        let mut upgraded = false;
        for home in homes {
            let mut state = home.lock().await;
            let named: Vec<String> = state
                .locks
                .values()
                .filter(|l| l.device.as_ref().is_some_and(|b| matches!(b.device, DeviceRef::Zigbee2MqttNamed { .. })))
                .map(|l| l.id.clone())
                .collect();
            for lock_id in named {
                let Some(mut lock) = state.locks.get(&lock_id).cloned() else { continue };
                let Some(binding) = lock.device.as_mut() else { continue };
                let DeviceRef::Zigbee2MqttNamed { friendly_name } = &binding.device else { continue };
                let Some(address) = offered
                    .iter()
                    .find(|d| d.name.as_deref() == Some(friendly_name.as_str()))
                    .map(|d| d.device.clone())
                    .filter(|d| matches!(d, DeviceRef::Zigbee2Mqtt { .. }))
                else {
                    continue;
                };
                let old = std::mem::replace(&mut binding.device, address.clone());
                lock.updated_at = self.clock.now();
                if let Err(error) = self.store.put_lock(lock.clone()).await {
                    tracing::warn!(lock = lock_id.as_str(), %error, "a lock's Zigbee address could not be stored");
                    continue;
                }
                tracing::info!(lock = lock_id.as_str(), "a Zigbee lock bound by name is now bound by its IEEE address");
                self.registry.rebind(state.id(), &lock_id, Some(&old), Some(&address));
                state.locks.insert(lock_id, lock);
                upgraded = true;
            }
        }
        upgraded
    }
}

/// "60 s", "5 min", "1 h": a policy's window in the words of an alert.
fn seconds_words(seconds: u32) -> String {
    match seconds {
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}
