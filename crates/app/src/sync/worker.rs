//! One lock's worker: a pass reads what it must, plans, and acts on one
//! slot at a time, taking the lock's read-back as the only truth; then it
//! sleeps until something changes. A lock being removed is planned empty,
//! and its removal finished once its device holds none of keyward's codes.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use jiff::Timestamp;
use keyward_core::lock_sync::{MAX_UNCONFIRMED_WRITES, Mac};
use keyward_core::{ActivityKind, DeviceBinding, FailureReason, Removal, SlotRange, User};
use zeroize::Zeroizing;

use super::Engine;
use super::state::{FULL_REVIEW, Handle, LimitState, Want, Work, guard, reading};
use crate::devices::{DeviceError, KeypadLimit, LockNetwork};
use crate::homes::forget_lock;

/// What a pass leaves the worker to do.
pub(super) enum Pass {
    /// Sleep until woken, or until the time given.
    Sleep(Option<Timestamp>),
    /// Start another pass at once (the lock's device changed).
    Again,
    /// The lock is gone or unbound: the worker ends.
    Stop,
}

/// A bound lock and its home's users, copied out of the home's lock.
pub(super) struct View {
    pub home_id: String,
    pub binding: Option<DeviceBinding>,
    pub removal: Option<Removal>,
    pub zone: jiff::tz::TimeZone,
    /// Users in the order slots are given (oldest first), with their code's MAC.
    pub users: Vec<(User, Mac)>,
    /// The home's wrong-code policy, which the lock's own keypad limit follows.
    pub lockout: keyward_core::LockoutPolicy,
}

/// How a device's failure counts.
fn reason_of(error: &DeviceError) -> FailureReason {
    match error {
        DeviceError::Offline | DeviceError::Disconnected | DeviceError::NoSuchDevice => FailureReason::Offline,
        DeviceError::Duplicate { .. } => FailureReason::DuplicateOnLock,
        DeviceError::MemoryFull => FailureReason::MemoryFull,
        DeviceError::Rejected(_) | DeviceError::Unsupported => FailureReason::Rejected,
    }
}

/// A failure that means the lock does not answer now: the pass ends.
fn unreachable(error: &DeviceError) -> bool {
    matches!(error, DeviceError::Offline | DeviceError::Disconnected | DeviceError::NoSuchDevice)
}

fn earliest(times: impl IntoIterator<Item = Option<Timestamp>>) -> Option<Timestamp> {
    times.into_iter().flatten().min()
}

impl Engine {
    pub(super) async fn work(self: Arc<Self>, handle: Arc<Handle>) {
        loop {
            let wake = handle.wake.notified();
            tokio::pin!(wake);
            wake.as_mut().enable();
            handle.poked.store(false, Ordering::Release);
            match self.pass(&handle).await {
                Pass::Again => continue,
                Pass::Sleep(at) => {
                    *guard(&handle.parked_until) = at;
                    handle.parked.store(true, Ordering::Release);
                    match at {
                        Some(at) => {
                            tokio::select! {
                                () = &mut wake => {}
                                () = self.clock.sleep_until(at) => {}
                            }
                        }
                        None => wake.await,
                    }
                    handle.parked.store(false, Ordering::Release);
                    *guard(&handle.parked_until) = None;
                }
                Pass::Stop => {
                    handle.running.store(false, Ordering::Release);
                    // Bound again meanwhile: carry on (unless another worker started).
                    let bound = self.view(&handle.lock_id).await.is_some_and(|v| v.binding.is_some());
                    if bound && !handle.running.swap(true, Ordering::AcqRel) {
                        continue;
                    }
                    if handle.entry().gone {
                        let mut handles = guard(&self.handles);
                        if handles.get(&handle.lock_id).is_some_and(|h| Arc::ptr_eq(h, &handle)) {
                            handles.remove(&handle.lock_id);
                        }
                    }
                    return;
                }
            }
        }
    }

    /// The lock's binding and its home's users, or `None` when the lock is gone.
    pub(super) async fn view(&self, lock_id: &str) -> Option<View> {
        for home in self.registry.all().ok()? {
            let state = home.lock().await;
            let Some(lock) = state.locks.get(lock_id) else { continue };
            let mut users: Vec<_> = state.users.values().collect();
            users.sort_by(|a, b| (a.created_at, &a.user.id).cmp(&(b.created_at, &b.user.id)));
            return Some(View {
                home_id: state.id().to_owned(),
                binding: lock.device.clone(),
                removal: lock.removal.as_ref().map(|r| r.what.clone()),
                zone: state.home.zone.tz().clone(),
                users: users.into_iter().map(|r| (r.user.clone(), r.code.mac)).collect(),
                lockout: state.home.lockout_policy,
            });
        }
        None
    }

    /// One pass over a lock: acts on every difference it may act on now, and
    /// answers when to look again.
    async fn pass(&self, handle: &Handle) -> Pass {
        let Some(view) = self.view(&handle.lock_id).await else {
            handle.entry().retire();
            return Pass::Stop;
        };
        self.tell_presence(handle, &view.home_id).await;
        let presence_due = handle.entry().presence.due();
        let Some(binding) = view.binding.clone() else { return Pass::Stop };
        let device = &binding.device;
        let Some(network) = self.network(device.protocol()) else { return Pass::Sleep(presence_due) };
        if !network.connected() {
            return Pass::Sleep(presence_due);
        }
        if matches!(device, keyward_core::DeviceRef::Zigbee2MqttNamed { .. }) && self.upgrade_named_bindings().await {
            return Pass::Again;
        }
        let offered = network.devices().into_iter().find(|d| d.device == *device).and_then(|d| d.slots);
        let range = match (binding.slots, offered) {
            (Some(range), _) => range,
            (None, Some(count)) => match SlotRange::of_lock(device.protocol(), count) {
                Some(range) => range,
                None => return Pass::Sleep(presence_due),
            },
            (None, None) => return Pass::Sleep(presence_due),
        };
        handle.entry().start_review(range, self.clock.now());
        let mut view = view;
        loop {
            let now = self.clock.now();
            let (work, plan, next) = {
                let mut entry = handle.entry();
                let plan = entry.plan(&view, range, now, self.lead);
                entry.adopt(&plan);
                let mut next = plan.next_review;
                (entry.next_work(&plan, range, now, &mut next), plan, next)
            };
            let Some(work) = work else {
                let pending: Vec<_> = {
                    let mut entry = handle.entry();
                    let changed = entry.settle_all(&plan, now);
                    changed.into_iter().filter_map(|slot| entry.persist(self.store.as_ref(), slot)).collect()
                };
                self.committed(pending).await;
                if view.removal.is_some() && !handle.entry().holds_keywards() {
                    return self.finish_removal(handle, &view).await;
                }
                if view.removal.is_none() {
                    self.follow_keypad_limit(handle, &view, network.as_ref(), device).await;
                }
                let (review, retry) = {
                    let entry = handle.entry();
                    (entry.scanned_at.and_then(|at| at.checked_add(FULL_REVIEW).ok()), entry.earliest_retry(now))
                };
                return Pass::Sleep(earliest([next, review, retry, presence_due]));
            };
            let slot = match &work {
                Work::Read(slot) | Work::Clear(slot) | Work::Write { slot, .. } => *slot,
            };
            let want = plan.want.get(&slot).cloned();
            let ended = match work {
                Work::Read(slot) => self.read(handle, &view, network.as_ref(), &binding, slot, want).await,
                Work::Clear(slot) => self.clear(handle, &view, network.as_ref(), &binding, slot, want).await,
                Work::Write { slot, user_id, mac } => {
                    self.write(handle, &view, network.as_ref(), &binding, slot, &user_id, mac, want).await
                }
            };
            if ended {
                // The lock does not answer now: wait for its retry or its return.
                let retry = handle.entry().earliest_retry(self.clock.now());
                return Pass::Sleep(earliest([retry, presence_due]));
            }
            // Each step plans from the users as they are now.
            let Some(fresh) = self.view(&handle.lock_id).await else {
                handle.entry().retire();
                return Pass::Stop;
            };
            if fresh.binding.as_ref() != Some(&binding) {
                return Pass::Again;
            }
            view = fresh;
        }
    }

    /// With the codes in step, the lock's own wrong-code limit is set from
    /// the home's policy (its attempts, then its lockout seconds), once per
    /// policy and device: where the lock confirms it, the lock refuses
    /// guessing by itself, even while keyward is down.
    async fn follow_keypad_limit(
        &self,
        handle: &Handle,
        view: &View,
        network: &dyn LockNetwork,
        device: &keyward_core::DeviceRef,
    ) {
        let wanted = KeypadLimit { attempts: view.lockout.max_attempts(), seconds: view.lockout.lockout_seconds() };
        if !handle.entry().keypad_limit.due(wanted) {
            return;
        }
        let outcome = match network.set_keypad_limit(device, wanted).await {
            Ok(held) => LimitState::Held { wanted, held },
            Err(DeviceError::Unsupported) => LimitState::Unsupported(wanted),
            Err(error) => {
                tracing::info!(lock = handle.lock_id.as_str(), %error, "the lock's wrong-code limit was not set; tried again when it is back");
                LimitState::Unknown
            }
        };
        handle.entry().keypad_limit = outcome;
    }

    /// Settles the slots' statuses against what they should hold, queues
    /// their records and awaits them (nothing when the device changed meanwhile).
    async fn store_slots(&self, handle: &Handle, slots: Vec<(u16, Want)>, now: Timestamp, generation: u64) {
        let pending: Vec<_> = {
            let mut entry = handle.entry();
            if entry.generation != generation {
                return;
            }
            for (slot, want) in &slots {
                entry.settle(*slot, want.clone(), now);
            }
            slots.iter().filter_map(|(slot, _)| entry.persist(self.store.as_ref(), *slot)).collect()
        };
        self.committed(pending).await;
    }

    /// Reads a slot. True when the lock did not answer (the pass ends).
    async fn read(
        &self,
        handle: &Handle,
        view: &View,
        network: &dyn LockNetwork,
        binding: &DeviceBinding,
        slot: u16,
        want: Want,
    ) -> bool {
        let generation = handle.entry().generation;
        let outcome = network.read_slot(&binding.device, slot).await;
        self.answered(handle, view, slot, want, generation, outcome, |entry, read, now| entry.read(slot, read, now))
            .await
    }

    /// Empties a slot. True when the lock did not answer.
    async fn clear(
        &self,
        handle: &Handle,
        view: &View,
        network: &dyn LockNetwork,
        binding: &DeviceBinding,
        slot: u16,
        want: Want,
    ) -> bool {
        let generation = {
            let mut entry = handle.entry();
            let now = self.clock.now();
            let record = entry.slot_mut(slot, now);
            if record.attempt_mac.take().is_some() {
                record.attempts = 0;
            }
            record.status = keyward_core::CodeStatus::Removing;
            entry.generation
        };
        let outcome = network.clear_code(&binding.device, slot).await;
        self.answered(handle, view, slot, want, generation, outcome, |entry, read, now| {
            entry.read(slot, read, now);
            let cleared = entry.slots.get(&slot).is_some_and(|r| r.memory.settled(None) && !r.memory.taken_over);
            if !cleared {
                entry.fail(slot, FailureReason::NoConfirmation, now);
            }
        })
        .await
    }

    /// Takes in a read's or a clear's answer (`on_answer` with what the slot
    /// read back), or its failure, unless the lock's device changed
    /// meanwhile; then settles and stores the slot. True when the lock did
    /// not answer (the pass ends).
    #[allow(clippy::too_many_arguments)]
    async fn answered(
        &self,
        handle: &Handle,
        view: &View,
        slot: u16,
        want: Want,
        generation: u64,
        outcome: Result<crate::devices::SlotReading, DeviceError>,
        on_answer: impl FnOnce(&mut super::state::LockEntry, keyward_core::lock_sync::Reading, Timestamp),
    ) -> bool {
        let now = self.clock.now();
        let ended = {
            let mut entry = handle.entry();
            if entry.generation != generation {
                return false;
            }
            match &outcome {
                Ok(answer) => {
                    on_answer(&mut entry, reading(answer, |code| self.vault.code_mac(&view.home_id, code)), now);
                    false
                }
                Err(error) => {
                    entry.fail(slot, reason_of(error), now);
                    unreachable(error)
                }
            }
        };
        self.store_slots(handle, vec![(slot, want)], now, generation).await;
        ended
    }

    /// The user's code and its MAC as they are now, read together: what is
    /// written, what is recorded as the intent and what a read-back is
    /// checked against are one and the same. `None`: the user is gone; an
    /// `Err`: their stored code cannot be unsealed.
    async fn code_now(&self, home_id: &str, user_id: &str) -> Option<Result<(Mac, Zeroizing<String>), Mac>> {
        let home = self.registry.home(home_id).ok()?;
        let state = home.lock().await;
        let record = state.users.get(user_id)?;
        Some(match self.vault.unseal(home_id, user_id, &record.code.sealed) {
            Ok(code) => Ok((record.code.mac, code)),
            Err(_) => Err(record.code.mac),
        })
    }

    /// Writes a user's code into a slot: its intent durable first, then the
    /// write, then the lock's read-back settles it. True when the lock did
    /// not answer.
    #[allow(clippy::too_many_arguments)]
    async fn write(
        &self,
        handle: &Handle,
        view: &View,
        network: &dyn LockNetwork,
        binding: &DeviceBinding,
        slot: u16,
        user_id: &str,
        planned: Mac,
        want: Want,
    ) -> bool {
        let now = self.clock.now();
        let (mac, code) = match self.code_now(&view.home_id, user_id).await {
            // Gone, or changed since the plan: plan again.
            None => return false,
            Some(Ok((mac, _))) | Some(Err(mac)) if mac != planned => return false,
            Some(Ok(pair)) => pair,
            Some(Err(mac)) => {
                // Damaged: shown on the user (`code_damaged`); nothing to write.
                let generation = {
                    let mut entry = handle.entry();
                    entry.slot_mut(slot, now).user_id = Some(user_id.to_owned());
                    entry.refuse(slot, mac, FailureReason::Rejected, now);
                    entry.generation
                };
                self.store_slots(handle, vec![(slot, want)], now, generation).await;
                return false;
            }
        };
        // The lock would refuse a code another of its slots holds: say so without trying.
        let (generation, intent, known_duplicate) = {
            let mut entry = handle.entry();
            if entry.gone {
                return false;
            }
            let generation = entry.generation;
            if entry.holder_of(mac, slot).is_some() {
                entry.slot_mut(slot, now).user_id = Some(user_id.to_owned());
                let tell = entry.refuse(slot, mac, FailureReason::DuplicateOnLock, now);
                (generation, None, Some(tell))
            } else {
                let record = entry.slot_mut(slot, now);
                if record.attempt_mac != Some(mac) {
                    record.attempts = 0;
                    record.attempt_mac = Some(mac);
                }
                record.user_id = Some(user_id.to_owned());
                record.memory.intend(mac);
                record.status = keyward_core::CodeStatus::Adding;
                record.updated_at = now;
                (generation, entry.persist(self.store.as_ref(), slot), None)
            }
        };
        if let Some(tell) = known_duplicate {
            self.store_slots(handle, vec![(slot, want)], now, generation).await;
            if tell {
                self.record_lock_entry(&view.home_id, &handle.lock_id, ActivityKind::CodeFailed, Some(user_id), None)
                    .await;
            }
            return false;
        }
        // No write goes out unless its intent is durable: after a crash
        // mid-write, or an answer lost, the code found is known as keyward's.
        let durable = match intent {
            Some(pending) => pending.committed().await,
            None => return false,
        };
        if let Err(error) = durable {
            tracing::error!(lock = handle.lock_id.as_str(), slot, %error, "a write's intent could not be stored: not written");
            handle.entry().fail(slot, FailureReason::StoreFailed, now);
            self.store_slots(handle, vec![(slot, want)], now, generation).await;
            return false;
        }
        if handle.entry().generation != generation {
            return false;
        }
        let outcome = network.write_code(&binding.device, slot, &code).await;
        drop(code);
        let now = self.clock.now();
        let mut tell = false;
        let mut also = Vec::new();
        let ended = {
            let mut entry = handle.entry();
            if entry.generation != generation {
                return false;
            }
            match &outcome {
                Ok(answer) => {
                    let read = reading(answer, |code| self.vault.code_mac(&view.home_id, code));
                    entry.slot_mut(slot, now).memory.wrote(mac, read);
                    let confirmed = entry.slots.get(&slot).is_some_and(|r| r.memory.settled(Some(mac)));
                    if !confirmed {
                        // Bounded: a refusal the network does not pass on
                        // must not become an endless retry.
                        let attempts = entry.slots.get(&slot).map_or(0, |r| r.attempts).saturating_add(1);
                        if attempts >= MAX_UNCONFIRMED_WRITES {
                            tell = entry.refuse(slot, mac, FailureReason::NoConfirmation, now);
                        } else {
                            entry.fail(slot, FailureReason::NoConfirmation, now);
                        }
                    }
                    false
                }
                Err(DeviceError::Duplicate { other_slot }) => {
                    match other_slot.filter(|other| *other != slot) {
                        Some(other) => {
                            entry.learn_foreign(other, mac, now);
                            also.push(other);
                        }
                        None => {
                            // Which slot holds it? Read again the slots believed
                            // empty: a code programmed at the keypad without a
                            // report is found, and named.
                            let empty: Vec<u16> = entry
                                .slots
                                .values()
                                .filter(|r| r.slot != slot && !r.memory.is_keywards() && !r.memory.is_foreign())
                                .map(|r| r.slot)
                                .collect();
                            entry.recheck(empty, now);
                        }
                    }
                    tell = entry.refuse(slot, mac, FailureReason::DuplicateOnLock, now);
                    false
                }
                Err(DeviceError::MemoryFull) => {
                    tell = entry.refuse(slot, mac, FailureReason::MemoryFull, now);
                    false
                }
                Err(error) => {
                    entry.fail(slot, reason_of(error), now);
                    unreachable(error)
                }
            }
        };
        let mut slots = vec![(slot, want)];
        slots.extend(also.into_iter().map(|other| (other, None)));
        self.store_slots(handle, slots, now, generation).await;
        if tell {
            tracing::warn!(
                lock = handle.lock_id.as_str(),
                slot,
                "the lock refused a code; not retried until it changes"
            );
            self.record_lock_entry(&view.home_id, &handle.lock_id, ActivityKind::CodeFailed, Some(user_id), None).await;
        } else if !handle.entry().slots.get(&slot).is_some_and(|r| r.memory.settled(Some(mac))) {
            tracing::warn!(lock = handle.lock_id.as_str(), slot, "a lock code could not be synced; tried again later");
        }
        ended
    }

    /// The device holds none of keyward's codes: the lock's removal, unbinding
    /// or move is carried out.
    async fn finish_removal(&self, handle: &Handle, view: &View) -> Pass {
        let Ok(home) = self.registry.home(&view.home_id) else { return Pass::Stop };
        let mut state = home.lock().await;
        let Some(mut lock) = state.locks.get(&handle.lock_id).cloned() else { return Pass::Stop };
        let Some(removal) = lock.removal.take() else { return Pass::Again };
        let old = lock.device.clone();
        let outcome = match removal.what {
            Removal::Delete => {
                if let Err(error) = self.store.delete_lock(view.home_id.clone(), lock.id.clone()).await {
                    tracing::error!(lock = lock.id.as_str(), %error, "a removed lock could not be deleted");
                    return Pass::Sleep(self.clock.now().checked_add(jiff::SignedDuration::from_secs(5)).ok());
                }
                forget_lock(&mut state, &lock.id);
                self.registry.rebind(&view.home_id, &lock.id, old.as_ref().map(|b| &b.device), None);
                handle.entry().retire();
                Pass::Stop
            }
            Removal::Unbind | Removal::Move(_) => {
                lock.device = removal.what.next_binding().cloned();
                lock.updated_at = self.clock.now();
                if let Err(error) = self.store.put_lock(lock.clone()).await {
                    tracing::error!(lock = lock.id.as_str(), %error, "a lock's new device could not be stored");
                    return Pass::Sleep(self.clock.now().checked_add(jiff::SignedDuration::from_secs(5)).ok());
                }
                let forgotten = {
                    let mut entry = handle.entry();
                    entry.forget_device();
                    self.store.forget_slots(lock.id.clone())
                };
                if let Err(error) = forgotten.committed().await {
                    tracing::error!(lock = lock.id.as_str(), %error, "a lock's old slots could not be forgotten");
                }
                self.registry.rebind(
                    &view.home_id,
                    &lock.id,
                    old.as_ref().map(|b| &b.device),
                    lock.device.as_ref().map(|b| &b.device),
                );
                let again = lock.device.is_some();
                state.locks.insert(lock.id.clone(), lock);
                if again { Pass::Again } else { Pass::Stop }
            }
        };
        drop(state);
        tracing::info!(
            lock = handle.lock_id.as_str(),
            "a lock's removal finished: its device holds none of keyward's codes"
        );
        let _ = self.removed.send(handle.lock_id.clone());
        outcome
    }
}
