//! A model-based test of the lock sync engine: random sequences of hundreds
//! of steps against simulated keypad locks, on the test clock, with the
//! invariants of "a code is in a lock exactly while it may be used" checked
//! after every quiet period.
//!
//! The steps: users added, changed, narrowed, disabled, deleted; windows
//! (weekly or every 2-4 weeks from a date) and visit days opening and
//! closing as the clock moves; codes used up at the keypad; a
//! lock going offline and back, losing answers, dropping writes, holding
//! answers while the owner changes things, refusing duplicates, emptied,
//! given codes at its own keypad (reported, or silently); foreign slots
//! taken over; the owner's "try again"; locks removed, unbound and moved to
//! another device (waiting, or forced); and keyward restarted, its state
//! reloaded from the store, on SQLite and on PostgreSQL.
//!
//! The invariants, after the locks answer again and keyward is quiet:
//! (a) a code that may not be on a lock is not in it; (b) every code that
//! belongs there is `on_lock` in exactly one slot, or its failure is one the
//! lock causes (a duplicate of a code programmed at it, writes it never
//! kept, no free slot); (c) a code programmed at a lock is never touched
//! unless its slot was taken over (checked at every command); (d) what
//! keyward says of every slot and every user's code equals the lock's
//! memory; (e) no slot is written more than the retry policy allows
//! (checked at every write).
//!
//! Each sequence is generated from a seed, printed when it fails:
//! `KEYWARD_MODEL_SEED=<seed> cargo test -p keyward-app --test lock_model -- --nocapture`
//! replays it. CI runs `KEYWARD_MODEL_SEQUENCES` (default 24) sequences of
//! `KEYWARD_MODEL_STEPS` (default 150) steps per backend; the ignored test
//! `many_sequences` runs 1,000 per backend by hand.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use keyward_app::devices::{
    DeviceError, DeviceEvent, DeviceInfo, DeviceRef, LockNetwork, LockState, Protocol, SlotReading,
};
use keyward_app::{App, Clock, DeviceRequest, LockOptions, ManualClock, Removed, UserInput, UserPatch};
use keyward_core::lock_sync::{DEFAULT_LEAD, MAX_UNCONFIRMED_WRITES, belongs_on};
use keyward_core::{
    Actor, CodeStatus, FailureReason, LockAccess, Name, Notify, PanelPermissions, Schedule, ScheduleSpec, User,
    UserKind, Validity, VisitSpec, WindowSpec, ZoneName,
};
use keyward_store::{BoxFuture, KEY_FILE, Store, Vault};
use tokio::sync::{broadcast, watch};
use zeroize::Zeroizing;

// ---- a small seeded generator (no dependency; the seed replays the sequence)

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() { None } else { items.get(self.below(items.len() as u64) as usize) }
    }
}

// ---- simulated keypad locks, on a Z-Wave-like network

const SLOTS: u16 = 6;
const DEVICES: [u32; 3] = [2, 3, 4];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// Written by keyward.
    Hub,
    /// Programmed at the lock's keypad.
    Keypad,
    /// Keyward's, left by a removal the owner forced: someone else's now.
    Left,
}

#[derive(Default)]
struct SimDevice {
    /// Slot → code and who put it there.
    slots: BTreeMap<u16, (String, Origin)>,
    offline: bool,
    /// Commands still to come whose answer is lost (the lock carries them out).
    lose: u32,
    /// Writes still to come the lock takes without error and does not keep.
    drop: u32,
    /// (slot, code) → writes received and not kept, since it was last kept,
    /// read back, or the owner asked again.
    unkept: HashMap<(u16, String), u32>,
    /// code → duplicate refusals told since the lock or the code changed.
    refused: HashMap<String, u32>,
    /// Slots whose foreign code the owner let keyward clear.
    taken: BTreeSet<u16>,
    /// Slots given a code at the keypad without a report, not read since.
    unseen: BTreeSet<u16>,
    /// Slots a write went to whose outcome keyward could not know (dropped,
    /// answer lost), not read since: on a lock that hides its codes,
    /// keyward takes what it reads there for its own.
    uncertain: BTreeSet<u16>,
}

struct SimState {
    devices: BTreeMap<u32, SimDevice>,
    masked: bool,
    /// The lock refuses a duplicate without saying so (Zigbee2MQTT passes
    /// nothing on), or with its notification (Z-Wave).
    silent_duplicates: bool,
    hold: bool,
    violations: Vec<String>,
    /// The commands the locks received, for a failure's story.
    commands: Vec<String>,
}

struct SimNet {
    state: Mutex<SimState>,
    events: broadcast::Sender<DeviceEvent>,
    sent: AtomicU64,
    in_flight: AtomicU64,
    released: watch::Sender<u64>,
}

fn node(device: &DeviceRef) -> u32 {
    match device {
        DeviceRef::ZwaveJs { node_id } => *node_id,
        _ => 0,
    }
}

impl SimNet {
    fn new(masked: bool, silent_duplicates: bool) -> Self {
        let devices = DEVICES.iter().map(|id| (*id, SimDevice::default())).collect();
        Self {
            state: Mutex::new(SimState {
                devices,
                masked,
                silent_duplicates,
                hold: false,
                violations: Vec::new(),
                commands: Vec::new(),
            }),
            events: broadcast::channel(4096).0,
            sent: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            released: watch::channel(0).0,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, event: DeviceEvent) {
        if self.events.send(event).is_ok() {
            self.sent.fetch_add(1, Ordering::AcqRel);
        }
    }

    fn release(&self) {
        self.state().hold = false;
        self.released.send_modify(|n| *n += 1);
    }

    /// Waits while the owner holds the lock's answers.
    async fn wait_if_held(&self) {
        let mut released = self.released.subscribe();
        while self.state().hold {
            if released.changed().await.is_err() {
                return;
            }
        }
    }

    fn reading(state: &SimState, device: &SimDevice, slot: u16) -> SlotReading {
        match device.slots.get(&slot) {
            None => SlotReading::Empty,
            Some(_) if state.masked => SlotReading::Occupied,
            Some((code, _)) => SlotReading::Code(Zeroizing::new(code.clone())),
        }
    }

    /// A foreign code keyward was not let clear: a violation of (c).
    fn touches_foreign(state: &mut SimState, id: u32, slot: u16, what: &str) {
        let device = state.devices.get(&id).expect("device");
        if let Some((code, origin @ (Origin::Keypad | Origin::Left))) = device.slots.get(&slot)
            && !device.taken.contains(&slot)
        {
            let message =
                format!("(c) keyward {what} node {id} slot {slot}, which holds {code} ({origin:?}), not taken over");
            state.violations.push(message);
        }
    }

    async fn command<T>(&self, work: impl FnOnce(&mut SimState) -> T) -> T {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.wait_if_held().await;
        let result = work(&mut self.state());
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        result
    }
}

impl LockNetwork for SimNet {
    fn protocol(&self) -> Protocol {
        Protocol::ZwaveJs
    }

    fn connected(&self) -> bool {
        true
    }

    fn devices(&self) -> Vec<DeviceInfo> {
        let state = self.state();
        state
            .devices
            .iter()
            .map(|(id, device)| DeviceInfo {
                device: DeviceRef::ZwaveJs { node_id: *id },
                name: None,
                label: format!("Simulated lock {id}"),
                manufacturer: "Test".into(),
                model: "Sim".into(),
                slots: Some(SLOTS),
                online: !device.offline,
                state: LockState::default(),
            })
            .collect()
    }

    fn subscribe(&self) -> broadcast::Receiver<DeviceEvent> {
        self.events.subscribe()
    }

    fn write_code<'a>(
        &'a self,
        device: &'a DeviceRef,
        slot: u16,
        code: &'a str,
    ) -> BoxFuture<'a, Result<SlotReading, DeviceError>> {
        let id = node(device);
        Box::pin(async move {
            let (result, event) = self
                .command(|state| {
                    let before = state.devices.get(&id).and_then(|d| d.slots.get(&slot).cloned());
                    state.commands.push(format!("write {code} to node {id} slot {slot} (held {before:?})"));
                    let Some(lock) = state.devices.get(&id) else { return (Err(DeviceError::NoSuchDevice), None) };
                    if lock.offline {
                        return (Err(DeviceError::Offline), None);
                    }
                    SimNet::touches_foreign(state, id, slot, "wrote over");
                    let silent = state.silent_duplicates;
                    let lock = state.devices.get_mut(&id).expect("device");
                    let duplicate = lock.slots.iter().any(|(s, (c, _))| *s != slot && c == code);
                    if duplicate {
                        // The lock keeps nothing in the slot it refused.
                        lock.slots.remove(&slot);
                        lock.taken.remove(&slot);
                        if silent {
                            let unkept = lock.unkept.entry((slot, code.to_owned())).or_default();
                            *unkept += 1;
                            let (count, over) = (*unkept, *unkept > MAX_UNCONFIRMED_WRITES);
                            if over {
                                state.violations.push(format!(
                                    "(e) node {id} slot {slot}: a duplicate written {count} times without being kept"
                                ));
                            }
                            return (Ok(SlotReading::Empty), None);
                        }
                        let told = lock.refused.entry(code.to_owned()).or_default();
                        *told += 1;
                        if *told > 1 {
                            let message =
                                format!("(e) node {id}: a duplicate written again after its refusal ({told} times)");
                            state.violations.push(message);
                        }
                        let refused =
                            DeviceEvent::DuplicateRefused { device: DeviceRef::ZwaveJs { node_id: id }, slot };
                        return (Err(DeviceError::Duplicate { other_slot: None }), Some(refused));
                    }
                    if lock.drop > 0 {
                        lock.drop -= 1;
                        lock.uncertain.insert(slot);
                        let unkept = lock.unkept.entry((slot, code.to_owned())).or_default();
                        *unkept += 1;
                        let count = *unkept;
                        // The adapters' promise: a hidden code answers a write only
                        // when the lock confirmed it (Zigbee2MQTT's save time).
                        let reading = match SimNet::reading(state, state.devices.get(&id).expect("device"), slot) {
                            SlotReading::Occupied => SlotReading::Unknown,
                            other => other,
                        };
                        if count > MAX_UNCONFIRMED_WRITES {
                            state
                                .violations
                                .push(format!("(e) node {id} slot {slot}: written {count} times without being kept"));
                        }
                        return (Ok(reading), None);
                    }
                    lock.slots.insert(slot, (code.to_owned(), Origin::Hub));
                    lock.unkept.remove(&(slot, code.to_owned()));
                    lock.taken.remove(&slot);
                    lock.unseen.remove(&slot);
                    if lock.lose > 0 {
                        lock.lose -= 1;
                        lock.uncertain.insert(slot);
                        return (Err(DeviceError::Offline), None);
                    }
                    let reading = SimNet::reading(state, state.devices.get(&id).expect("device"), slot);
                    (Ok(reading), None)
                })
                .await;
            if let Some(event) = event {
                self.emit(event);
            }
            result
        })
    }

    fn clear_code<'a>(&'a self, device: &'a DeviceRef, slot: u16) -> BoxFuture<'a, Result<SlotReading, DeviceError>> {
        let id = node(device);
        Box::pin(self.command(move |state| {
            let before = state.devices.get(&id).and_then(|d| d.slots.get(&slot).cloned());
            state.commands.push(format!("clear node {id} slot {slot} (held {before:?})"));
            let Some(lock) = state.devices.get(&id) else { return Err(DeviceError::NoSuchDevice) };
            if lock.offline {
                return Err(DeviceError::Offline);
            }
            SimNet::touches_foreign(state, id, slot, "cleared");
            let lock = state.devices.get_mut(&id).expect("device");
            lock.slots.remove(&slot);
            lock.taken.remove(&slot);
            lock.unseen.remove(&slot);
            if lock.lose > 0 {
                lock.lose -= 1;
                lock.uncertain.insert(slot);
                return Err(DeviceError::Offline);
            }
            Ok(SlotReading::Empty)
        }))
    }

    fn read_slot<'a>(&'a self, device: &'a DeviceRef, slot: u16) -> BoxFuture<'a, Result<SlotReading, DeviceError>> {
        let id = node(device);
        Box::pin(self.command(move |state| {
            let before = state.devices.get(&id).and_then(|d| d.slots.get(&slot).cloned());
            state.commands.push(format!("read node {id} slot {slot} (held {before:?})"));
            let Some(lock) = state.devices.get_mut(&id) else { return Err(DeviceError::NoSuchDevice) };
            if lock.offline {
                return Err(DeviceError::Offline);
            }
            if lock.lose > 0 {
                lock.lose -= 1;
                return Ok(SlotReading::Unknown);
            }
            lock.unseen.remove(&slot);
            lock.uncertain.remove(&slot);
            if let Some((code, _)) = lock.slots.get(&slot) {
                let key = (slot, code.clone());
                lock.unkept.remove(&key);
            }
            let lock = state.devices.get(&id).expect("device");
            Ok(SimNet::reading(state, lock, slot))
        }))
    }

    fn operate<'a>(&'a self, _: &'a DeviceRef, _: bool) -> BoxFuture<'a, Result<(), DeviceError>> {
        Box::pin(async { Ok(()) })
    }
}

// ---- the model: what keyward was asked, on its own terms

#[derive(Debug, Clone)]
struct ModelUser {
    id: String,
    code: String,
    /// Lock ids (`None`: every lock).
    locks: Option<Vec<String>>,
    /// When the code works (`None`: at all times).
    hours: Option<ScheduleSpec>,
    valid_from: Option<Timestamp>,
    valid_until: Option<Timestamp>,
    max_uses: Option<i64>,
    uses: u32,
    enabled: bool,
}

impl ModelUser {
    fn core(&self) -> User {
        let spec = self.hours.clone().unwrap_or_else(ScheduleSpec::always);
        User {
            id: self.id.clone(),
            name: Name::parse("Someone").expect("name"),
            kind: UserKind::Standard,
            panel: PanelPermissions::default(),
            locks: match &self.locks {
                None => LockAccess::All,
                Some(ids) => LockAccess::Only(ids.clone()),
            },
            schedule: Schedule::parse(&spec).expect("schedule"),
            validity: Validity::new(self.valid_from, self.valid_until, self.max_uses).expect("validity"),
            uses: self.uses,
            notify: Notify::default(),
            alerts: Default::default(),
            enabled: self.enabled,
            contact: Default::default(),
        }
    }
}

enum Backend {
    Sqlite,
    Postgres(PgDatabase),
}

/// A fresh PostgreSQL database (127.0.0.1:5432, or `KEYWARD_TEST_POSTGRES_URL`).
struct PgDatabase {
    name: String,
    url: String,
}

fn admin_url() -> String {
    std::env::var("KEYWARD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn pg_execute(url: String, sql: String) {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async move {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL is not reachable at {url} ({e}): the model test needs it"));
            let driver = tokio::spawn(connection);
            client.batch_execute(&sql).await.expect("SQL");
            driver.abort();
        })
    })
    .join()
    .expect("the PostgreSQL helper");
}

impl PgDatabase {
    fn create(seed: u64) -> Self {
        let name = format!("keyward_model_{}_{seed:x}", std::process::id());
        pg_execute(admin_url(), format!("CREATE DATABASE {name}"));
        let (server, _) = admin_url().rsplit_once('/').map(|(s, d)| (s.to_owned(), d.to_owned())).expect("a URL");
        Self { url: format!("{server}/{name}"), name }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        pg_execute(admin_url(), format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
    }
}

/// What closes a store, on a runtime of its own.
type Closer = Box<dyn FnOnce(&tokio::runtime::Runtime)>;

/// One running keyward: its runtime, its services, and what closes its store.
struct Incarnation {
    runtime: tokio::runtime::Runtime,
    app: App,
    close: Closer,
    /// Device events sent before it started are not its to handle.
    sent_before: u64,
}

struct World {
    seed: u64,
    rng: Rng,
    dir: tempfile::TempDir,
    backend: Backend,
    clock: Arc<ManualClock>,
    net: Arc<SimNet>,
    keyward: Option<Incarnation>,
    home: String,
    zone: jiff::tz::TimeZone,
    users: Vec<ModelUser>,
    /// Lock id → the device it is bound to.
    locks: BTreeMap<String, Option<u32>>,
    next_name: u32,
    log: Vec<String>,
    /// How many checks ran, and how many codes they found where they belong.
    checks: u32,
    codes_checked: u32,
}

fn berlin() -> ZoneName {
    ZoneName::parse("Europe/Berlin").expect("zone")
}

#[allow(clippy::disallowed_methods)]
fn pause(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

impl World {
    fn new(seed: u64, postgres: bool) -> Self {
        let mut rng = Rng(seed);
        let masked = rng.chance(30);
        let silent = rng.chance(40);
        // A Saturday a week before the change to summer time in Berlin.
        let start: Timestamp = "2027-03-20T06:00:00Z".parse().expect("instant");
        let clock =
            Arc::new(ManualClock::new(start.checked_add(SignedDuration::from_mins(rng.below(600) as i64)).expect("t")));
        let backend = if postgres { Backend::Postgres(PgDatabase::create(seed)) } else { Backend::Sqlite };
        let mut world = Self {
            seed,
            rng,
            dir: tempfile::tempdir().expect("tempdir"),
            backend,
            clock,
            net: Arc::new(SimNet::new(masked, silent)),
            keyward: None,
            home: String::new(),
            zone: berlin().tz().clone(),
            users: Vec::new(),
            locks: BTreeMap::new(),
            next_name: 0,
            checks: 0,
            codes_checked: 0,
            log: vec![format!("masked codes: {masked}, duplicates refused silently: {silent}")],
        };
        world.start();
        world.home = world.block(async { world.app().homes.list().await.expect("homes")[0].id.clone() });
        for node_id in [2, 3] {
            world.create_lock(node_id);
        }
        world
    }

    fn app(&self) -> &App {
        &self.keyward.as_ref().expect("running").app
    }

    /// Runs a future on keyward's runtime.
    fn block<T>(&self, work: impl std::future::Future<Output = T>) -> T {
        self.keyward.as_ref().expect("running").runtime.block_on(work)
    }

    fn start(&mut self) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
        let dir = self.dir.path().to_owned();
        let (store, close): (Arc<dyn Store>, Closer) = match &self.backend {
            Backend::Sqlite => {
                let opened = keyward_store_sqlite::open(&dir.join("keyward.db"), true).expect("open");
                let handle = opened.handle;
                (Arc::new(opened.store), Box::new(move |_| handle.close()))
            }
            Backend::Postgres(db) => {
                let opened = runtime.block_on(keyward_store_postgres::open(&db.url, true, true)).expect("open");
                let handle = opened.handle;
                (Arc::new(opened.store), Box::new(move |rt: &tokio::runtime::Runtime| rt.block_on(handle.close())))
            }
        };
        let vault = runtime.block_on(Vault::open(store.as_ref(), &dir.join(KEY_FILE), true)).expect("key");
        let options = LockOptions { networks: vec![self.net.clone()], lead: DEFAULT_LEAD };
        let clock = self.clock.clone();
        let app =
            runtime.block_on(App::start(store, Arc::new(vault), clock, &berlin(), options)).expect("keyward starts");
        let sent_before = self.net.sent.load(Ordering::Acquire);
        self.keyward = Some(Incarnation { runtime, app, close: Box::new(close), sent_before });
    }

    /// Keyward stops as a crash would: its tasks end wherever they are.
    fn restart(&mut self) {
        if let Some(keyward) = self.keyward.take() {
            let Incarnation { runtime, app, close, .. } = keyward;
            drop(app);
            let closer = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
            runtime.shutdown_timeout(Duration::from_secs(5));
            close(&closer);
        }
        self.net.release();
        self.start();
    }

    /// Lets keyward run until it has nothing left to do now: every event
    /// handled, every worker waiting.
    fn settle(&self) {
        let keyward = self.keyward.as_ref().expect("running");
        let mut calm = 0;
        for _ in 0..20_000 {
            let sent = self.net.sent.load(Ordering::Acquire) - keyward.sent_before;
            let quiet = keyward.app.locks.quiet()
                && keyward.app.locks.events_handled() >= sent
                && self.net.in_flight.load(Ordering::Acquire) == 0;
            calm = if quiet { calm + 1 } else { 0 };
            if calm >= 4 {
                return;
            }
            pause(1);
        }
        panic!("seed {}: keyward never settled\n{}", self.seed, self.log.join("\n"));
    }

    fn note(&mut self, step: String) {
        let commands = std::mem::take(&mut self.net.state().commands);
        self.log.extend(commands.into_iter().map(|c| format!("    lock: {c}")));
        self.log.push(format!("{} {step}", self.clock.now()));
    }

    fn fail(&self, what: String) -> ! {
        let commands = self.net.state().commands.clone();
        let log: Vec<String> =
            self.log.iter().cloned().chain(commands.into_iter().map(|c| format!("    lock: {c}"))).collect();
        panic!(
            "seed {}: {what}\nreplay: KEYWARD_MODEL_SEED={} cargo test -p keyward-app --test lock_model -- --nocapture\nsteps:\n{}",
            self.seed,
            self.seed,
            log.join("\n")
        );
    }

    fn check_violations(&self) {
        let violations = self.net.state().violations.clone();
        if !violations.is_empty() {
            self.fail(violations.join("\n"));
        }
    }

    // ---- steps

    /// A user is given `code`, or the owner changes what it may open: its
    /// refusals at the locks start over (a new round of the retry policy).
    fn code_given(&self, code: &str) {
        for device in self.net.state().devices.values_mut() {
            device.refused.remove(code);
            device.unkept.retain(|(_, c), _| c != code);
        }
    }

    fn fresh_code(&mut self) -> String {
        let keypad: Vec<String> = {
            let state = self.net.state();
            state
                .devices
                .values()
                .flat_map(|d| d.slots.values())
                .filter(|(_, o)| *o != Origin::Hub)
                .map(|(c, _)| c.clone())
                .collect()
        };
        // Now and then a code someone programmed at a lock: a duplicate there.
        if self.rng.chance(12)
            && let Some(code) = self.rng.pick(&keypad).cloned()
            && !self.users.iter().any(|u| u.code == code)
        {
            return code;
        }
        loop {
            let code = format!("{}", 1000 + self.rng.below(9_000_000));
            if !self.users.iter().any(|u| u.code == code) && !keypad.contains(&code) {
                return code;
            }
        }
    }

    fn random_locks(&mut self) -> Option<Vec<String>> {
        let ids: Vec<String> = self.locks.keys().cloned().collect();
        if self.rng.chance(50) || ids.is_empty() {
            return None;
        }
        Some(ids.into_iter().filter(|_| self.rng.chance(75)).collect())
    }

    /// At all times, or weekly windows, some repeating every 2 to 4 weeks
    /// from a date around now, and sometimes visit days in the next days.
    fn random_hours(&mut self) -> Option<ScheduleSpec> {
        if self.rng.chance(50) {
            return None;
        }
        let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let today = self.zone.to_datetime(self.clock.now()).date();
        let date = |offset: i64| today.checked_add(jiff::Span::new().days(offset)).expect("date").to_string();
        let count = self.rng.below(3);
        let windows: Vec<WindowSpec> = (0..count)
            .map(|_| {
                let chosen: Vec<&str> = days.iter().copied().filter(|_| self.rng.chance(65)).collect();
                let chosen = if chosen.is_empty() { vec!["sat"] } else { chosen };
                let start = self.rng.below(23);
                // Sometimes overnight (ending the next day).
                let end = (start + 2 + self.rng.below(14)) % 24;
                let mut window = WindowSpec::weekly(
                    &chosen,
                    &format!("{start:02}:{:02}", self.rng.below(4) * 15),
                    &format!("{end:02}:00"),
                );
                if self.rng.chance(30) {
                    window.every_weeks = Some(2 + self.rng.below(3) as u8);
                    window.from = Some(date(self.rng.below(28) as i64 - 14));
                }
                window
            })
            .collect();
        let visits: Vec<VisitSpec> = (0..if windows.is_empty() { 1 + self.rng.below(3) } else { self.rng.below(2) })
            .map(|_| {
                let start = self.rng.below(23);
                let end = (start + 1 + self.rng.below(8)) % 24;
                VisitSpec {
                    date: date(self.rng.below(4) as i64),
                    start: format!("{start:02}:{:02}", self.rng.below(4) * 15),
                    end: format!("{end:02}:00"),
                }
            })
            .collect();
        Some(ScheduleSpec {
            always: None,
            windows: (!windows.is_empty()).then_some(windows),
            visits: (!visits.is_empty()).then_some(visits),
        })
    }

    fn input(&self, user: &ModelUser) -> UserInput {
        UserInput {
            name: format!("User {}", user.id.len()),
            kind: UserKind::Standard,
            panel: PanelPermissions::default(),
            locks: match &user.locks {
                None => LockAccess::All,
                Some(ids) => LockAccess::Only(ids.clone()),
            },
            schedule: user.hours.clone().unwrap_or_else(ScheduleSpec::always),
            valid_from: user.valid_from.map(keyward_core::Bound::At),
            valid_until: user.valid_until.map(keyward_core::Bound::At),
            max_uses: user.max_uses,
            notify: Notify::default(),
            alerts: Default::default(),
            enabled: user.enabled,
            contact: Default::default(),
            code: Zeroizing::new(user.code.clone()),
        }
    }

    fn add_user(&mut self) {
        if self.users.len() >= 9 {
            return;
        }
        let now = self.clock.now();
        let (valid_from, valid_until) = if self.rng.chance(25) {
            let from = now.checked_add(SignedDuration::from_mins(self.rng.below(600) as i64 - 120)).expect("t");
            let until = from.checked_add(SignedDuration::from_mins(30 + self.rng.below(3000) as i64)).expect("t");
            (Some(from), Some(until))
        } else {
            (None, None)
        };
        let mut user = ModelUser {
            id: String::new(),
            code: self.fresh_code(),
            locks: self.random_locks(),
            hours: self.random_hours(),
            valid_from,
            valid_until,
            max_uses: self.rng.chance(20).then(|| 1 + self.rng.below(3) as i64),
            uses: 0,
            enabled: !self.rng.chance(10),
        };
        let input = self.input(&user);
        self.code_given(&user.code);
        let home = self.home.clone();
        match self.block(async { self.app().users.create(&home, input, Actor::Token("model".into())).await }) {
            Ok(view) => {
                user.id = view.id;
                self.note(format!(
                    "add user {} code {} locks {:?} hours {:?}",
                    user.id, user.code, user.locks, user.hours
                ));
                self.users.push(user);
            }
            Err(error) => self.note(format!("add user refused: {error}")),
        }
    }

    fn pick_user(&mut self) -> Option<usize> {
        (!self.users.is_empty()).then(|| self.rng.below(self.users.len() as u64) as usize)
    }

    fn patch_user(&mut self, index: usize, patch: UserPatch, describe: String) -> bool {
        let (home, id) = (self.home.clone(), self.users[index].id.clone());
        match self.block(async { self.app().users.update(&home, &id, patch, Actor::Token("model".into())).await }) {
            Ok(_) => {
                self.note(describe);
                true
            }
            Err(error) => {
                self.note(format!("{describe}: refused ({error})"));
                false
            }
        }
    }

    fn change_code(&mut self) {
        let Some(i) = self.pick_user() else { return };
        let code = self.fresh_code();
        self.code_given(&code);
        let patch = UserPatch { code: Some(Zeroizing::new(code.clone())), ..UserPatch::default() };
        if self.patch_user(i, patch, format!("user {} code -> {code}", self.users[i].id)) {
            self.users[i].code = code;
        }
    }

    fn narrow_user(&mut self) {
        let Some(i) = self.pick_user() else { return };
        let (locks, hours) = (self.random_locks(), self.random_hours());
        let patch = UserPatch {
            locks: Some(match &locks {
                None => LockAccess::All,
                Some(ids) => LockAccess::Only(ids.clone()),
            }),
            schedule: Some(hours.clone().unwrap_or_else(ScheduleSpec::always)),
            ..UserPatch::default()
        };
        if self.patch_user(i, patch, format!("user {} locks {locks:?} hours {hours:?}", self.users[i].id)) {
            self.users[i].locks = locks;
            self.users[i].hours = hours;
            // The owner changed what the code may open: a refusal of it may be tried again.
            self.code_given(&self.users[i].code.clone());
        }
    }

    fn toggle_user(&mut self) {
        let Some(i) = self.pick_user() else { return };
        let enabled = !self.users[i].enabled;
        let patch = UserPatch { enabled: Some(enabled), ..UserPatch::default() };
        if self.patch_user(i, patch, format!("user {} enabled {enabled}", self.users[i].id)) {
            self.users[i].enabled = enabled;
            self.code_given(&self.users[i].code.clone());
        }
    }

    fn delete_user(&mut self) {
        let Some(i) = self.pick_user() else { return };
        let (home, id) = (self.home.clone(), self.users[i].id.clone());
        self.block(async { self.app().users.delete(&home, &id, Actor::Token("model".into())).await }).expect("delete");
        self.note(format!("delete user {}", self.users[i].id));
        self.users.remove(i);
    }

    fn advance(&mut self) {
        let minutes = match self.rng.below(4) {
            0 => 1 + self.rng.below(5),
            1 => 5 + self.rng.below(60),
            2 => 60 + self.rng.below(300),
            _ => 300 + self.rng.below(420),
        };
        self.clock.advance(SignedDuration::from_mins(minutes as i64));
        self.note(format!("clock +{minutes} min"));
    }

    fn device_of(&mut self) -> u32 {
        *self.rng.pick(&DEVICES).expect("devices")
    }

    fn bound_to(&self, id: u32) -> Option<String> {
        self.locks.iter().find(|(_, d)| **d == Some(id)).map(|(l, _)| l.clone())
    }

    fn type_at_keypad(&mut self) {
        let id = self.device_of();
        let held: Vec<(u16, String)> = {
            let state = self.net.state();
            let device = state.devices.get(&id).expect("device");
            if device.offline {
                return;
            }
            // A user's code as it is now (an old one on its way off is left untyped).
            device
                .slots
                .iter()
                .filter(|(_, (c, o))| *o == Origin::Hub && self.users.iter().any(|u| u.code == *c))
                .map(|(s, (c, _))| (*s, c.clone()))
                .collect()
        };
        let Some((slot, code)) = self.rng.pick(&held).cloned() else { return };
        // The lock opens for it (it checks its own memory) and names the slot.
        let user = self.users.iter_mut().find(|u| u.code == code);
        let whose = user.as_ref().map(|u| u.id.clone());
        if let Some(user) = user {
            user.uses += 1;
        }
        self.net.emit(DeviceEvent::Keypad { device: DeviceRef::ZwaveJs { node_id: id }, slot, unlocked: true });
        self.note(format!("typed {code} at node {id} (slot {slot}, user {whose:?})"));
    }

    fn flip_online(&mut self) {
        let id = self.device_of();
        let offline = {
            let mut state = self.net.state();
            let device = state.devices.get_mut(&id).expect("device");
            device.offline = !device.offline;
            device.offline
        };
        self.net.emit(DeviceEvent::Online { device: DeviceRef::ZwaveJs { node_id: id }, online: !offline });
        self.note(format!("node {id} {}", if offline { "offline" } else { "online" }));
    }

    fn fault(&mut self) {
        let id = self.device_of();
        let (lose, drop) = (self.rng.below(3) as u32, self.rng.below(7) as u32);
        {
            let mut state = self.net.state();
            let device = state.devices.get_mut(&id).expect("device");
            device.lose += lose;
            device.drop += drop;
        }
        self.note(format!("node {id}: the next {lose} answers lost, {drop} writes dropped"));
    }

    fn program_at_keypad(&mut self, reported: bool) {
        let id = self.device_of();
        let slot = 1 + self.rng.below(u64::from(SLOTS)) as u16;
        // Now and then a user's code: keyward's write of it is then a duplicate.
        let code = match self.rng.chance(25).then(|| self.rng.pick(&self.users).map(|u| u.code.clone())).flatten() {
            Some(code) => code,
            None => format!("{}", 10_000_000 + self.rng.below(89_999_999)),
        };
        {
            let mut state = self.net.state();
            if state.devices.get(&id).expect("device").offline {
                return;
            }
            // Silently, only into an empty slot (a code over keyward's own
            // without a report cannot be known). On a lock that hides its
            // codes, only into a slot keyward cannot take for its own.
            let masked = state.masked;
            let device = state.devices.get_mut(&id).expect("device");
            if (!reported || masked) && (device.slots.contains_key(&slot) || device.uncertain.contains(&slot)) {
                return;
            }
            // A code the lock already holds elsewhere is refused at its keypad
            // too; the code a slot holds (or may hold, keyward's write
            // unanswered) given to it again changes nothing anyone can see.
            let same = device.slots.get(&slot).is_some_and(|(c, _)| *c == code);
            if same
                || device.uncertain.contains(&slot)
                || device.slots.iter().any(|(s, (c, _))| *s != slot && *c == code)
            {
                return;
            }
            device.slots.insert(slot, (code.clone(), Origin::Keypad));
            device.taken.remove(&slot);
            device.refused.clear();
            device.unkept.clear();
            if !reported {
                device.unseen.insert(slot);
            }
        }
        if reported {
            self.net.emit(DeviceEvent::SlotChanged { device: DeviceRef::ZwaveJs { node_id: id }, slot });
        }
        let how = if reported { "reported" } else { "silently" };
        self.note(format!("programmed {code} at node {id} slot {slot} ({how})"));
    }

    fn wipe(&mut self) {
        let id = self.device_of();
        {
            let mut state = self.net.state();
            let device = state.devices.get_mut(&id).expect("device");
            if device.offline {
                return;
            }
            device.slots.clear();
            device.taken.clear();
            device.unseen.clear();
            device.uncertain.clear();
            device.refused.clear();
            device.unkept.clear();
        }
        self.net.emit(DeviceEvent::CodesCleared { device: DeviceRef::ZwaveJs { node_id: id } });
        self.note(format!("every code deleted at node {id}"));
    }

    fn take_over(&mut self) {
        let candidates: Vec<(String, u32, u16)> = self
            .locks
            .iter()
            .filter_map(|(lock, device)| device.map(|d| (lock.clone(), d)))
            .flat_map(|(lock, d)| {
                self.app().locks.slots(&lock).into_iter().filter(|s| s.foreign).map(move |s| (lock.clone(), d, s.slot))
            })
            .collect();
        let Some((lock, id, slot)) = self.rng.pick(&candidates).cloned() else { return };
        {
            let mut state = self.net.state();
            let device = state.devices.get_mut(&id).expect("device");
            device.taken.insert(slot);
            device.refused.clear();
            device.unkept.clear();
        }
        let taken = self.block(async { self.app().locks.take_over(&lock, slot).await });
        self.note(format!("take over node {id} slot {slot}: {taken}"));
    }

    fn retry(&mut self) {
        let Some(i) = self.pick_user() else { return };
        let user = self.users[i].clone();
        {
            let mut state = self.net.state();
            for device in state.devices.values_mut() {
                device.refused.remove(&user.code);
                device.unkept.retain(|(_, code), _| *code != user.code);
            }
        }
        self.block(async { self.app().locks.retry_user(&user.id).await });
        self.note(format!("owner: try again for user {}", user.id));
    }

    fn free_device(&mut self) -> Option<u32> {
        let free: Vec<u32> = DEVICES.iter().copied().filter(|id| self.bound_to(*id).is_none()).collect();
        self.rng.pick(&free).copied()
    }

    /// A lock is bound to a device anew: it knows nothing of it yet, and a
    /// refusal there may be tried once more.
    fn fresh_binding(&self, id: u32) {
        let mut state = self.net.state();
        let device = state.devices.get_mut(&id).expect("device");
        device.refused.clear();
        device.unkept.clear();
    }

    fn create_lock(&mut self, id: u32) {
        self.fresh_binding(id);
        self.next_name += 1;
        let (home, name) = (self.home.clone(), format!("Door {}", self.next_name));
        let device = DeviceRequest { device: DeviceRef::ZwaveJs { node_id: id }, slots: None };
        let made = self.block(async { self.app().homes.create_lock(&home, &name, Some(device)).await });
        match made {
            Ok(lock) => {
                self.note(format!("lock {} bound to node {id}", lock.id));
                self.locks.insert(lock.id, Some(id));
            }
            Err(error) => self.note(format!("lock on node {id} refused: {error}")),
        }
    }

    /// The codes a forced removal leaves on a device (the one it names: a
    /// move may still have been waiting) become someone else's.
    fn left_by_force(&mut self, what: &str, removed: &Removed) {
        let Removed::Forced { left, device, .. } = removed else { return };
        let id = node(device);
        let listed: BTreeSet<u16> = left.iter().map(|c| c.slot).collect();
        let mut state = self.net.state();
        let device = state.devices.get_mut(&id).expect("device");
        let mut missing = Vec::new();
        for (slot, (_, origin)) in device.slots.iter_mut() {
            if *origin == Origin::Hub {
                if !listed.contains(slot) {
                    missing.push(*slot);
                }
                *origin = Origin::Left;
            }
        }
        drop(state);
        if !missing.is_empty() {
            self.fail(format!("{what}: keyward's codes in slots {missing:?} of node {id} stay there unnamed"));
        }
    }

    fn remove_lock(&mut self) {
        let ids: Vec<String> = self.locks.keys().cloned().collect();
        let Some(lock) = self.rng.pick(&ids).cloned() else { return };
        let force = self.rng.chance(20);
        let home = self.home.clone();
        match self.rng.below(3) {
            0 => {
                let l = lock.clone();
                let removed = self
                    .block(async { self.app().homes.delete_lock(&home, &l, force, Actor::Token("model".into())).await })
                    .expect("delete lock");
                self.note(format!("delete lock {lock} (force {force}): {}", outcome(&removed)));
                self.left_by_force("a forced removal", &removed);
                // Waiting or done, users lose it at once.
                self.locks.remove(&lock);
                for user in &mut self.users {
                    if let Some(ids) = &mut user.locks {
                        ids.retain(|l| *l != lock);
                    }
                }
            }
            1 => {
                let Some(next) = self.free_device() else { return };
                self.fresh_binding(next);
                let l = lock.clone();
                let request = Some(Some(DeviceRequest { device: DeviceRef::ZwaveJs { node_id: next }, slots: None }));
                let moved = self.block(async {
                    self.app().homes.update_lock(&home, &l, None, request, force, Actor::Token("model".into())).await
                });
                match moved {
                    Ok(removed) => {
                        self.note(format!("move lock {lock} to node {next} (force {force}): {}", outcome(&removed)));
                        self.left_by_force("a forced move", &removed);
                        self.locks.insert(lock, Some(next));
                    }
                    Err(error) => self.note(format!("move lock {lock} to node {next} refused: {error}")),
                }
            }
            _ => {
                let l = lock.clone();
                let unbound = self.block(async {
                    self.app().homes.update_lock(&home, &l, None, Some(None), force, Actor::Token("model".into())).await
                });
                let removed = unbound.expect("unbind");
                self.note(format!("unbind lock {lock} (force {force}): {}", outcome(&removed)));
                self.left_by_force("a forced unbinding", &removed);
                self.locks.insert(lock, None);
            }
        }
    }

    fn add_lock(&mut self) {
        if let Some(id) = self.free_device() {
            self.create_lock(id);
        }
    }

    fn step(&mut self) {
        match self.rng.below(100) {
            0..=13 => self.add_user(),
            14..=21 => self.change_code(),
            22..=27 => self.narrow_user(),
            28..=31 => self.toggle_user(),
            32..=36 => self.delete_user(),
            37..=51 => self.advance(),
            52..=57 => self.type_at_keypad(),
            58..=65 => self.flip_online(),
            66..=71 => self.fault(),
            72..=76 => self.held_changes(),
            77..=80 => self.program_at_keypad(true),
            81..=82 => self.program_at_keypad(false),
            83..=84 => self.wipe(),
            85..=86 => self.take_over(),
            87..=88 => self.retry(),
            89..=92 => {
                self.note("restart".into());
                self.restart();
            }
            93..=96 => self.remove_lock(),
            _ => self.add_lock(),
        }
    }

    /// The lock holds its answers while the owner changes one to three
    /// things; then it answers (an answer may then belong to a plan made
    /// before the change).
    fn held_changes(&mut self) {
        self.net.state().hold = true;
        self.note("answers held".into());
        pause(2);
        for _ in 0..1 + self.rng.below(3) {
            match self.rng.below(4) {
                0 => self.change_code(),
                1 => self.narrow_user(),
                2 => self.delete_user(),
                _ => self.add_user(),
            }
        }
        self.net.release();
        self.note("answers released".into());
    }

    /// Every lock answers again, without faults; keyward is given the time
    /// its retries need.
    fn heal(&mut self) {
        let back: Vec<u32> = {
            let mut state = self.net.state();
            let mut back = Vec::new();
            for (id, device) in state.devices.iter_mut() {
                device.lose = 0;
                device.drop = 0;
                if device.offline {
                    device.offline = false;
                    back.push(*id);
                }
            }
            back
        };
        self.net.release();
        for id in back {
            self.net.emit(DeviceEvent::Online { device: DeviceRef::ZwaveJs { node_id: id }, online: true });
        }
        self.settle();
        // Retries back off to 10 minutes at most.
        for _ in 0..8 {
            if !self.retries_pending() {
                break;
            }
            self.clock.advance(SignedDuration::from_secs(601));
            self.settle();
        }
    }

    fn retries_pending(&self) -> bool {
        // Every lock keyward lists, those being removed too.
        let listed = self.block(async { self.app().homes.list_locks(&self.home).await }).expect("locks");
        let slots = listed.iter().any(|lock| self.app().locks.slots(&lock.id).iter().any(|s| s.retry_at.is_some()));
        slots
            || self.users.iter().any(|u| {
                let (home, id) = (self.home.clone(), u.id.clone());
                self.block(async { self.app().locks.lock_codes(&home, &id).await })
                    .iter()
                    .any(|c| c.status == CodeStatus::Failed && c.retry_at.is_some())
            })
    }

    // ---- the invariants

    fn check(&mut self) {
        self.check_violations();
        let now = self.clock.now();
        let home = self.home.clone();
        let listed = self.block(async { self.app().homes.list_locks(&home).await }).expect("locks");
        let state = self.net.state();
        let devices: BTreeMap<u32, BTreeMap<u16, (String, Origin)>> =
            state.devices.iter().map(|(id, d)| (*id, d.slots.clone())).collect();
        let unseen: BTreeMap<u32, BTreeSet<u16>> =
            state.devices.iter().map(|(id, d)| (*id, d.unseen.clone())).collect();
        drop(state);
        let mut problems = Vec::new();
        for lock in &listed {
            if lock.removal.is_some() {
                problems.push(format!("lock {} is still being removed though its device answers", lock.id));
            }
        }
        for (id, memory) in &devices {
            let lock = listed
                .iter()
                .find(|l| l.device.as_ref().is_some_and(|b| b.device == DeviceRef::ZwaveJs { node_id: *id }));
            let allowed: Vec<&ModelUser> = match lock {
                Some(lock) => self
                    .users
                    .iter()
                    .filter(|u| belongs_on(&u.core(), &lock.id, &self.zone, now, DEFAULT_LEAD))
                    .collect(),
                None => Vec::new(),
            };
            // (a) no code on the lock that may not be there.
            for (slot, (code, origin)) in memory {
                if *origin == Origin::Hub && !allowed.iter().any(|u| u.code == *code) {
                    let whose = self
                        .users
                        .iter()
                        .find(|u| u.code == *code)
                        .map_or("nobody's now".to_owned(), |u| format!("user {}", u.id));
                    problems.push(format!("(a) node {id} slot {slot} holds {code} ({whose}), which may not be there"));
                }
            }
            let Some(lock) = lock else { continue };
            let slots = self.app().locks.slots(&lock.id);
            for user in &allowed {
                let held: Vec<u16> = memory.iter().filter(|(_, (c, _))| *c == user.code).map(|(s, _)| *s).collect();
                let (home, uid) = (self.home.clone(), user.id.clone());
                let codes = self.block(async { self.app().locks.lock_codes(&home, &uid).await });
                let said = codes.iter().find(|c| c.lock_id == lock.id);
                let kept_elsewhere = memory.values().any(|(c, o)| *c == user.code && *o != Origin::Hub);
                match said {
                    Some(c) if c.status == CodeStatus::OnLock => {
                        // (b)+(d): on the lock, in exactly the slot said.
                        let in_slot = c
                            .slot
                            .and_then(|s| memory.get(&s))
                            .is_some_and(|(code, o)| *code == user.code && *o == Origin::Hub);
                        if !in_slot || held.len() != 1 {
                            problems.push(format!(
                                "(b) user {} is said on node {id} in slot {:?}, but the lock holds their code in {held:?}",
                                user.id, c.slot
                            ));
                        }
                    }
                    Some(c) if c.status == CodeStatus::Failed => {
                        let understood = match c.reason {
                            Some(FailureReason::DuplicateOnLock) => kept_elsewhere,
                            Some(FailureReason::NoConfirmation) => c.retry_at.is_none(),
                            Some(FailureReason::NoFreeSlot) => {
                                let keyward_room = (1..=SLOTS)
                                    .filter(|s| !memory.get(s).is_some_and(|(_, o)| *o != Origin::Hub))
                                    .count();
                                let keeping = self
                                    .users
                                    .iter()
                                    .filter(|u| {
                                        keyward_core::lock_sync::keeps_slot(&u.core(), &lock.id, &self.zone, now)
                                    })
                                    .count();
                                keeping > keyward_room
                            }
                            _ => false,
                        };
                        if !understood || !held.iter().all(|s| memory.get(s).is_some_and(|(_, o)| *o != Origin::Hub)) {
                            problems.push(format!(
                                "(b) user {}'s code belongs on node {id} but is said {c:?}; the lock holds it in {held:?}\nthe lock: {memory:?}\nkeyward: {slots:?}",
                                user.id
                            ));
                        }
                    }
                    other => {
                        problems.push(format!("(b) user {}'s code belongs on node {id} but is said {other:?}", user.id))
                    }
                }
            }
            // (d) every slot as keyward says it.
            for view in &slots {
                if unseen.get(id).is_some_and(|u| u.contains(&view.slot)) {
                    continue;
                }
                let expected = match memory.get(&view.slot) {
                    Some((code, Origin::Hub)) => {
                        let owner = allowed.iter().find(|u| u.code == *code).map(|u| u.id.clone());
                        view.status == CodeStatus::OnLock && !view.foreign && view.user_id == owner
                    }
                    Some(_) => view.foreign,
                    None => view.status != CodeStatus::OnLock && !view.foreign,
                };
                if !expected {
                    problems.push(format!(
                        "(d) node {id} slot {} holds {:?}, keyward says {view:?}",
                        view.slot,
                        memory.get(&view.slot)
                    ));
                }
            }
            for (slot, (_, origin)) in memory {
                if *origin == Origin::Hub && !slots.iter().any(|v| v.slot == *slot) {
                    problems
                        .push(format!("(d) node {id} slot {slot} holds keyward's code, keyward lists no such slot"));
                }
            }
        }
        // Keypad entries were the users': each one's uses as counted.
        for user in &self.users {
            let (home, id) = (self.home.clone(), user.id.clone());
            let uses = self.block(async { self.app().users.get(&home, &id).await }).expect("user").uses;
            if uses != user.uses {
                problems.push(format!("user {} has {uses} uses, the keypad gave {}", user.id, user.uses));
            }
        }
        if !problems.is_empty() {
            self.fail(problems.join("\n"));
        }
        self.checks += 1;
        self.codes_checked +=
            devices.values().flat_map(|m| m.values()).filter(|(_, o)| *o == Origin::Hub).count() as u32;
    }

    fn healthy(&self) -> bool {
        let state = self.net.state();
        !state.hold && state.devices.values().all(|d| !d.offline && d.lose == 0 && d.drop == 0)
    }
}

fn outcome(removed: &Removed) -> &'static str {
    match removed {
        Removed::Done(_) => "done",
        Removed::Waiting(_) => "waiting",
        Removed::Forced { .. } => "forced",
    }
}

/// What a sequence did: checks run, and keyward's codes found where they belong.
fn sequence(seed: u64, steps: u32, postgres: bool) -> (u32, u32) {
    let mut world = World::new(seed, postgres);
    world.settle();
    for n in 0..steps {
        world.step();
        world.settle();
        world.check_violations();
        // Every quiet period is checked; at least every tenth step is made one.
        if world.healthy() || n % 10 == 9 {
            world.heal();
            world.check();
        }
    }
    world.heal();
    world.check();
    world.restart();
    world.heal();
    world.check();
    if std::env::var_os("KEYWARD_MODEL_VERBOSE").is_some() {
        println!("seed {seed}:\n{}", world.log.join("\n"));
    }
    let done = (world.checks, world.codes_checked);
    if let Some(keyward) = world.keyward.take() {
        let Incarnation { runtime, app, close, .. } = keyward;
        drop(app);
        let closer = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        runtime.shutdown_timeout(Duration::from_secs(5));
        close(&closer);
    }
    done
}

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn run_sequences(postgres: bool, sequences: u64) {
    let steps = setting("KEYWARD_MODEL_STEPS", 150) as u32;
    let backend = if postgres { "PostgreSQL" } else { "SQLite" };
    if let Some(seed) = std::env::var("KEYWARD_MODEL_SEED").ok().and_then(|s| s.parse::<u64>().ok()) {
        println!("replaying seed {seed}, {steps} steps on {backend}");
        sequence(seed, steps, postgres);
        return;
    }
    let base = setting("KEYWARD_MODEL_BASE", 0x6b65_7977_6172_6400);
    let (mut checks, mut codes) = (0, 0);
    for n in 0..sequences {
        let (c, k) = sequence(base.wrapping_add(n), steps, postgres);
        checks += c;
        codes += k;
    }
    println!(
        "{sequences} sequences of {steps} steps on {backend}: {checks} quiet periods checked, {codes} codes found where they belong, no invariant broken"
    );
}

#[test]
fn random_sequences_on_sqlite() {
    run_sequences(false, setting("KEYWARD_MODEL_SEQUENCES", 24));
}

#[test]
fn random_sequences_on_postgres() {
    run_sequences(true, setting("KEYWARD_MODEL_SEQUENCES", 24));
}

/// By hand: `cargo test --release -p keyward-app --test lock_model -- --ignored --nocapture`.
#[test]
#[ignore = "1,000 sequences per backend: run by hand"]
fn many_sequences() {
    let sequences = setting("KEYWARD_MODEL_SEQUENCES", 1000);
    run_sequences(false, sequences);
    run_sequences(true, sequences);
}
