//! The lock sync engine against an in-memory lock, with time moved by a
//! test clock: a schedule's window puts the code on a lead time early and
//! takes it off when it closes, to the second.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use keyward_app::devices::{
    DeviceError, DeviceEvent, DeviceInfo, DeviceRef, LockNetwork, LockState, Protocol, SlotReading,
};
use keyward_app::{App, ChannelInput, Clock, DeviceRequest, LockOptions, ManualClock, UserInput};
use keyward_core::channel::ChannelTarget;
use keyward_core::notify::AlertKind;
use keyward_core::{Actor, LockAccess, Notify, PanelPermissions, ScheduleSpec, UserKind, WindowSpec, ZoneName};
use keyward_store::{BoxFuture, KEY_FILE, Store, Vault};
use tokio::sync::broadcast;
use zeroize::Zeroizing;

/// A lock that holds codes in memory and logs when each change happened.
/// Like a real keypad lock it refuses a code another slot holds (and says
/// so with an event, then reports the slot as changed, as the Z-Wave driver
/// does after its own read-back); `masked` makes it hide codes when read.
struct MemoryLock {
    clock: Arc<ManualClock>,
    slots: Mutex<BTreeMap<u16, String>>,
    changes: Mutex<Vec<(Timestamp, u16, Option<String>)>>,
    events: broadcast::Sender<DeviceEvent>,
    masked: bool,
    refusals: Mutex<u32>,
    /// Takes writes without error and keeps nothing, as a Zigbee lock whose
    /// refusal Zigbee2MQTT does not pass on.
    drops_writes: bool,
    writes: Mutex<u32>,
    /// Writes still to come whose answer is lost on the way back: the lock
    /// keeps the code, the network says the lock did not answer.
    lost_answers: Mutex<u32>,
}

impl MemoryLock {
    fn new(clock: Arc<ManualClock>, masked: bool) -> Self {
        Self {
            clock,
            slots: Mutex::new(BTreeMap::new()),
            changes: Mutex::new(Vec::new()),
            events: broadcast::channel(16).0,
            masked,
            refusals: Mutex::new(0),
            drops_writes: false,
            writes: Mutex::new(0),
            lost_answers: Mutex::new(0),
        }
    }
}

const NODE: u32 = 7;

impl LockNetwork for MemoryLock {
    fn protocol(&self) -> Protocol {
        Protocol::ZwaveJs
    }

    fn connected(&self) -> bool {
        true
    }

    fn devices(&self) -> Vec<DeviceInfo> {
        vec![DeviceInfo {
            device: DeviceRef::ZwaveJs { node_id: NODE },
            name: None,
            label: "Test lock".into(),
            manufacturer: "Test".into(),
            model: "T1".into(),
            slots: Some(4),
            online: true,
            state: LockState::default(),
        }]
    }

    fn subscribe(&self) -> broadcast::Receiver<DeviceEvent> {
        self.events.subscribe()
    }

    fn write_code<'a>(
        &'a self,
        _: &'a DeviceRef,
        slot: u16,
        code: &'a str,
    ) -> BoxFuture<'a, Result<SlotReading, DeviceError>> {
        Box::pin(async move {
            let device = DeviceRef::ZwaveJs { node_id: NODE };
            if self.slots.lock().expect("lock").iter().any(|(s, c)| *s != slot && c == code) {
                *self.refusals.lock().expect("lock") += 1;
                let _ = self.events.send(DeviceEvent::DuplicateRefused { device: device.clone(), slot });
                let _ = self.events.send(DeviceEvent::SlotChanged { device, slot });
                return Err(DeviceError::Duplicate { other_slot: None });
            }
            *self.writes.lock().expect("lock") += 1;
            if self.drops_writes {
                return Ok(SlotReading::Empty);
            }
            self.slots.lock().expect("lock").insert(slot, code.to_owned());
            self.changes.lock().expect("lock").push((self.clock.now(), slot, Some(code.to_owned())));
            let mut lost = self.lost_answers.lock().expect("lock");
            if *lost > 0 {
                *lost -= 1;
                return Err(DeviceError::Offline);
            }
            Ok(SlotReading::Code(Zeroizing::new(code.to_owned())))
        })
    }

    fn clear_code<'a>(&'a self, _: &'a DeviceRef, slot: u16) -> BoxFuture<'a, Result<SlotReading, DeviceError>> {
        Box::pin(async move {
            self.slots.lock().expect("lock").remove(&slot);
            self.changes.lock().expect("lock").push((self.clock.now(), slot, None));
            Ok(SlotReading::Empty)
        })
    }

    fn read_slot<'a>(&'a self, _: &'a DeviceRef, slot: u16) -> BoxFuture<'a, Result<SlotReading, DeviceError>> {
        Box::pin(async move {
            Ok(match self.slots.lock().expect("lock").get(&slot) {
                Some(_) if self.masked => SlotReading::Occupied,
                Some(code) => SlotReading::Code(Zeroizing::new(code.clone())),
                None => SlotReading::Empty,
            })
        })
    }

    fn operate<'a>(&'a self, _: &'a DeviceRef, _: bool) -> BoxFuture<'a, Result<(), DeviceError>> {
        Box::pin(async { Ok(()) })
    }
}

fn t(s: &str) -> Timestamp {
    s.parse().expect("instant")
}

/// Gives the engine's tasks (on other threads) real time to run; the
/// engine's own time is the test clock, which only the test moves.
#[allow(clippy::disallowed_methods)]
async fn let_run(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Lets the engine's tasks run until the lock's memory is `expected`.
async fn settles_to(lock: &MemoryLock, expected: &[(u16, &str)]) {
    let want: BTreeMap<u16, String> = expected.iter().map(|(s, c)| (*s, (*c).to_owned())).collect();
    for _ in 0..400 {
        if *lock.slots.lock().expect("lock") == want {
            return;
        }
        let_run(5).await;
    }
    panic!("the lock holds {:?}, expected {want:?}", lock.slots.lock().expect("lock"));
}

/// A hub in Europe/Berlin on a fresh SQLite store, with the front door bound
/// to `lock`, running on the test clock.
struct Hub {
    app: App,
    home: String,
    front: String,
    /// The store's folder: kept while the hub runs.
    _dir: tempfile::TempDir,
}

/// An emergency channel (nothing sends it here: its outbox is read back).
async fn emergency_channel(app: &App, home: &str) -> String {
    let siren = ChannelInput {
        name: "Siren".into(),
        target: ChannelTarget::Mqtt { topic: format!("keyward/{home}/alerts/emergencies") },
        emergency: true,
        quiet: None,
        token: None,
    };
    app.channels.create(home, siren, keyward_core::Actor::Token("t".into())).await.expect("channel").0.id
}

async fn hub(clock: &Arc<ManualClock>, lock: &Arc<MemoryLock>) -> Hub {
    let dir = tempfile::tempdir().expect("tempdir");
    let opened = keyward_store_sqlite::open(&dir.path().join("keyward.db"), true).expect("open");
    let store: Arc<dyn Store> = Arc::new(opened.store);
    let vault = Vault::open(store.as_ref(), &dir.path().join(KEY_FILE), true).await.expect("key");
    let berlin = ZoneName::parse("Europe/Berlin").expect("zone");
    let options = LockOptions { networks: vec![lock.clone()], ..Default::default() };
    let app = App::start(store, Arc::new(vault), clock.clone(), &berlin, options).await.expect("start");
    let home = app.homes.list().await.expect("homes")[0].id.clone();
    let device = DeviceRequest { device: DeviceRef::ZwaveJs { node_id: NODE }, slots: None };
    let front = app.homes.create_lock(&home, "Front door", Some(device)).await.expect("bound lock").id;
    Hub { app, home, front, _dir: dir }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_moves_the_code_on_a_lead_early_and_off_at_its_close_to_the_second() {
    // Thursday 2026-11-26, 09:00 UTC = 10:00 in Berlin.
    let clock = Arc::new(ManualClock::new(t("2026-11-26T09:00:00Z")));
    let lock = Arc::new(MemoryLock::new(clock.clone(), false));
    let Hub { app, home, _dir, .. } = hub(&clock, &lock).await;
    let window = WindowSpec::weekly(&["thu"], "11:00", "14:00");
    let input = UserInput {
        name: "Dog walker".into(),
        kind: UserKind::Standard,
        panel: PanelPermissions::default(),
        locks: LockAccess::All,
        schedule: ScheduleSpec::windows(vec![window]),
        valid_from: None,
        valid_until: None,
        max_uses: None,
        notify: Notify::default(),
        alerts: Default::default(),
        enabled: true,
        contact: Default::default(),
        code: Zeroizing::new("4719".into()),
    };
    app.users.create(&home, input, Actor::Token("test".into())).await.expect("user");

    // Not yet: the window opens at 11:00 Berlin (10:00 UTC).
    settles_to(&lock, &[]).await;
    clock.set(t("2026-11-26T09:58:59Z"));
    let_run(200).await;
    assert!(lock.slots.lock().expect("lock").is_empty(), "not before the lead time");
    // A minute early, so the code works at 11:00 sharp at the lock.
    clock.set(t("2026-11-26T09:59:00Z"));
    settles_to(&lock, &[(1, "4719")]).await;
    clock.set(t("2026-11-26T12:59:59Z"));
    let_run(200).await;
    assert_eq!(lock.slots.lock().expect("lock").len(), 1, "still inside the window");
    // Off when the window closes at 14:00 Berlin (13:00 UTC).
    clock.set(t("2026-11-26T13:00:00Z"));
    settles_to(&lock, &[]).await;
    let changes = lock.changes.lock().expect("lock").clone();
    assert_eq!(
        changes,
        vec![(t("2026-11-26T09:59:00Z"), 1, Some("4719".to_owned())), (t("2026-11-26T13:00:00Z"), 1, None)],
        "each change at its second, and nothing else"
    );
    // And back the next Thursday, a minute early.
    clock.advance(SignedDuration::from_hours(24 * 7 - 3) - SignedDuration::from_secs(60));
    settles_to(&lock, &[(1, "4719")]).await;
}

fn dog_walker(code: &str) -> UserInput {
    UserInput {
        name: format!("User {code}"),
        kind: UserKind::Standard,
        panel: PanelPermissions::default(),
        locks: LockAccess::All,
        schedule: ScheduleSpec::always(),
        valid_from: None,
        valid_until: None,
        max_uses: None,
        notify: Notify::default(),
        alerts: Default::default(),
        enabled: true,
        contact: Default::default(),
        code: Zeroizing::new(code.into()),
    }
}

/// A lock that hides its codes refuses a duplicate: keyward cannot see which
/// slot holds it, so it learns of the refusal only from the write. The slot
/// then reads back empty, and that read must not undo the diagnosis: one
/// write, then nothing until something changes (Lock Code Manager's endless
/// retry, its issue #848).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_refused_by_a_lock_that_hides_codes_is_written_once() {
    let clock = Arc::new(ManualClock::new(t("2026-11-26T09:00:00Z")));
    let lock = Arc::new(MemoryLock::new(clock.clone(), true));
    // Programmed at the lock's own keypad, in a slot keyward then reads as "occupied".
    lock.slots.lock().expect("lock").insert(4, "8080".into());
    let Hub { app, home, front, _dir } = hub(&clock, &lock).await;
    let siren = emergency_channel(&app, &home).await;
    let mut twin = dog_walker("8080");
    twin.name = "Twin".into();
    let twin = app.users.create(&home, twin, Actor::Token("test".into())).await.expect("user").id;

    let mut refused = false;
    for _ in 0..400 {
        let codes = app.locks.lock_codes(&home, &twin).await;
        if codes.iter().any(|c| c.lock_id == front && c.reason == Some(keyward_core::FailureReason::DuplicateOnLock)) {
            refused = true;
            break;
        }
        let_run(5).await;
    }
    assert!(refused, "the duplicate was never diagnosed: {:?}", app.locks.lock_codes(&home, &twin).await);
    // The diagnosis shows before its entry is recorded (after the slot's
    // state is stored): the clock moves on only once the owner was told.
    for _ in 0..400 {
        let told = app.channels.deliveries(&home, &siren, 10).await.expect("deliveries");
        if told.iter().any(|d| d.kind == AlertKind::LockProblem) {
            break;
        }
        let_run(5).await;
    }
    // Hours pass, past every retry delay: still one attempt, still diagnosed.
    for _ in 0..6 {
        clock.advance(SignedDuration::from_mins(20));
        let_run(100).await;
    }
    assert_eq!(*lock.refusals.lock().expect("lock"), 1, "written once, never retried on its own");
    // The owner is told once, in words, on the emergency channel.
    let told = app.channels.deliveries(&home, &siren, 10).await.expect("deliveries");
    let problems: Vec<_> = told.iter().filter(|d| d.kind == AlertKind::LockProblem).collect();
    assert_eq!(problems.len(), 1, "{told:?}");
    assert_eq!(problems[0].title, "A code did not reach Front door");
    assert!(
        problems[0].body.starts_with("Twin's code could not be put on Front door · 10:00."),
        "{}",
        problems[0].body
    );
    assert!(!problems[0].body.contains("8080") && !problems[0].data.contains("8080"), "never the code");
    let codes = app.locks.lock_codes(&home, &twin).await;
    assert!(codes.iter().all(|c| c.reason == Some(keyward_core::FailureReason::DuplicateOnLock)), "{codes:?}");
    // Another user's code goes on beside it (slot 1 stays the refused one's),
    // confirmed by the occupied read-back.
    let walker = app.users.create(&home, dog_walker("4719"), Actor::Token("test".into())).await.expect("user").id;
    settles_to(&lock, &[(2, "4719"), (4, "8080")]).await;
    for _ in 0..400 {
        let codes = app.locks.lock_codes(&home, &walker).await;
        if codes.iter().any(|c| c.status == keyward_core::CodeStatus::OnLock) {
            return;
        }
        let_run(5).await;
    }
    panic!("never confirmed: {:?}", app.locks.lock_codes(&home, &walker).await);
}

/// A write the lock takes but never confirms is tried a bounded number of
/// times (with backoff), then reported as `no_confirmation` and left until
/// something changes: never an endless retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_the_lock_never_confirms_is_written_a_bounded_number_of_times() {
    let clock = Arc::new(ManualClock::new(t("2026-11-26T09:00:00Z")));
    let lock = Arc::new(MemoryLock { drops_writes: true, ..MemoryLock::new(clock.clone(), false) });
    let Hub { app, home, _dir, .. } = hub(&clock, &lock).await;
    let walker = app.users.create(&home, dog_walker("4719"), Actor::Token("test".into())).await.expect("user").id;
    // A day of retries, each after its backoff.
    for _ in 0..200 {
        clock.advance(SignedDuration::from_mins(10));
        let_run(10).await;
    }
    let writes = *lock.writes.lock().expect("lock");
    assert_eq!(writes, keyward_core::lock_sync::MAX_UNCONFIRMED_WRITES, "bounded");
    let codes = app.locks.lock_codes(&home, &walker).await;
    assert!(
        codes.iter().all(|c| c.status == keyward_core::CodeStatus::Failed
            && c.reason == Some(keyward_core::FailureReason::NoConfirmation)),
        "{codes:?}"
    );
    // The owner's "Try again" gives it another round.
    app.locks.retry_user(&walker).await;
    for _ in 0..20 {
        clock.advance(SignedDuration::from_mins(10));
        let_run(10).await;
    }
    assert!(*lock.writes.lock().expect("lock") > writes, "tried again when asked");
}

/// A lock that hides its codes took keyward's code but its answer was lost:
/// the slot then reads "occupied". That is keyward's code, unconfirmed: it
/// is written again in the same slot until confirmed, never taken for
/// someone else's code (which sent the user to another slot, where the lock
/// refused the same code as a duplicate, for ever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_answer_was_lost_is_confirmed_in_the_same_slot() {
    let clock = Arc::new(ManualClock::new(t("2026-11-26T09:00:00Z")));
    let lock = Arc::new(MemoryLock::new(clock.clone(), true));
    *lock.lost_answers.lock().expect("lock") = 1;
    let Hub { app, home, front, _dir } = hub(&clock, &lock).await;
    let walker = app.users.create(&home, dog_walker("4719"), Actor::Token("test".into())).await.expect("user").id;
    settles_to(&lock, &[(1, "4719")]).await;
    let failed = app.locks.lock_codes(&home, &walker).await;
    assert!(failed.iter().any(|c| c.reason == Some(keyward_core::FailureReason::Offline)), "{failed:?}");
    for _ in 0..400 {
        clock.advance(SignedDuration::from_secs(10));
        let_run(5).await;
        let codes = app.locks.lock_codes(&home, &walker).await;
        if codes.iter().any(|c| c.status == keyward_core::CodeStatus::OnLock) {
            assert_eq!(codes[0].slot, Some(1), "{codes:?}");
            assert_eq!(*lock.slots.lock().expect("lock"), [(1, "4719".to_owned())].into());
            assert!(app.locks.slots(&front).iter().all(|s| !s.foreign), "nothing foreign");
            return;
        }
    }
    panic!("never confirmed: {:?}", app.locks.lock_codes(&home, &walker).await);
}

/// A lock that stops answering is told once to the emergency channels; its
/// return is logged, not alerted; a repeated report changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_going_offline_is_told_once() {
    let clock = Arc::new(ManualClock::new(t("2026-11-26T09:00:00Z")));
    let lock = Arc::new(MemoryLock::new(clock.clone(), false));
    let Hub { app, home, _dir, .. } = hub(&clock, &lock).await;
    let siren = emergency_channel(&app, &home).await;
    let device = DeviceRef::ZwaveJs { node_id: NODE };
    for online in [false, false, true, true] {
        let _ = lock.events.send(DeviceEvent::Online { device: device.clone(), online });
        let_run(50).await;
    }
    let mut told = Vec::new();
    for _ in 0..100 {
        told = app.channels.deliveries(&home, &siren, 10).await.expect("deliveries");
        if !told.is_empty() {
            break;
        }
        let_run(10).await;
    }
    let titles: Vec<&str> = told.iter().map(|d| d.title.as_str()).collect();
    assert_eq!(titles, ["Front door is offline"]);
    assert_eq!(told[0].kind, AlertKind::DeviceOffline);
}
