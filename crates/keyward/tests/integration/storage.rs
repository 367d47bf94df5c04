//! The storage interface, as the use cases rely on it, against both
//! backends: the same calls, the same answers.

use std::sync::Arc;

use jiff::Timestamp;
use keyward_core::lock_sync::{Held, Refusal, SlotMemory};
use keyward_core::{
    Action, ActivityEntry, ActivityKind, Actor, CodePolicy, CodeStatus, DenyReason, DeviceBinding, DeviceRef, Event,
    FailureReason, FriendlyName, IeeeAddress, LockAccess, LockoutPolicy, LockoutState, Name, Notify, Outcome,
    PanelPermissions, Removal, Schedule, ScheduleSpec, Scope, SlotRange, UseCount, User, UserKind, UserRef, Validity,
    WindowSpec, ZoneName,
};
use keyward_store::{
    ActivityFilter, ChannelRecord, DeliveryState, DeliveryUpdate, HomeRecord, InviteRecord, Key, LockRecord,
    LockRemoval, LockoutRecord, OutboxRecord, OwnerRecord, Record, SealedCode, SlotRecord, Store, StoreError,
    TokenRecord, UserChange, UserRecord,
};

use crate::support::*;

/// A store opened on a place, and what stops it.
struct Opened {
    store: Arc<dyn Store>,
    handle: Handle,
    created: bool,
}

enum Handle {
    Sqlite(keyward_store_sqlite::SqliteHandle),
    Postgres(keyward_store_postgres::PostgresHandle),
}

impl Opened {
    async fn close(self) {
        drop(self.store);
        match self.handle {
            Handle::Sqlite(h) => tokio::task::spawn_blocking(move || h.close()).await.expect("closed"),
            Handle::Postgres(h) => h.close().await,
        }
    }
}

async fn open(place: &Place, serving: bool) -> Result<Opened, StoreError> {
    match &place.database {
        None => {
            std::fs::create_dir_all(&place.data_dir).expect("data dir");
            let o = keyward_store_sqlite::open(&place.data_dir.join("keyward.db"), serving)?;
            Ok(Opened { store: Arc::new(o.store), handle: Handle::Sqlite(o.handle), created: o.created })
        }
        Some(db) => {
            let o = keyward_store_postgres::open(&db.url, serving, serving).await?;
            Ok(Opened { store: Arc::new(o.store), handle: Handle::Postgres(o.handle), created: o.created })
        }
    }
}

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + second).expect("in range")
}

fn home(id: &str) -> HomeRecord {
    HomeRecord {
        id: id.to_owned(),
        name: Name::parse("Lake house").expect("name"),
        zone: ZoneName::parse("Europe/Berlin").expect("zone"),
        code_policy: CodePolicy::new(5, 7, false).expect("policy"),
        lockout_policy: LockoutPolicy::new(4, 600, 120).expect("policy"),
        created_at: at(0),
        updated_at: at(1),
    }
}

fn lock(id: &str, home_id: &str) -> LockRecord {
    LockRecord {
        id: id.to_owned(),
        home_id: home_id.to_owned(),
        name: Name::parse(format!("Lock {id}")).expect("name"),
        device: None,
        removal: None,
        created_at: at(2),
        updated_at: at(2),
    }
}

fn user(id: &str, home_id: &str, mac: u8, locks: LockAccess) -> UserRecord {
    let spec = ScheduleSpec::windows(vec![WindowSpec::weekly(&["mon", "fri"], "22:00", "06:00")]);
    UserRecord {
        home_id: home_id.to_owned(),
        user: User {
            id: id.to_owned(),
            name: Name::parse(format!("User {id} 🐕")).expect("name"),
            kind: UserKind::Duress,
            panel: PanelPermissions { arm: true, disarm: false },
            locks,
            schedule: Schedule::parse(&spec).expect("schedule"),
            validity: Validity::new(Some(at(10)), Some(at(1000)), Some(7)).expect("validity"),
            uses: 3,
            notify: Notify { arrive: true, leave: false },
            alerts: Default::default(),
            enabled: false,
            contact: keyward_core::Contact {
                email: keyward_core::email::EmailAddress::parse("walker@example.org").ok(),
                phone: keyward_core::Phone::parse("+49 30 1234567").ok(),
            },
        },
        code: SealedCode { mac: [mac; 32], sealed: vec![mac, 1, 2, 3] },
        last_used: Some(at(50)),
        created_at: at(5),
        updated_at: at(6),
    }
}

fn entry(id: &str, home_id: &str, second: i64) -> ActivityEntry {
    ActivityEntry {
        id: id.to_owned(),
        home_id: home_id.to_owned(),
        event: Event {
            at: at(second),
            kind: ActivityKind::AccessDenied,
            device: Some("front".into()),
            action: Some(Action::Unlock),
            outcome: Some(Outcome::Denied),
            reason: Some(DenyReason::OutsideSchedule),
            user: Some(UserRef { id: "u1".into(), name: "User u1".into() }),
            duress: false,
            actor: None,
            detail: None,
        },
    }
}

fn put(record: UserRecord, entries: Vec<ActivityEntry>) -> Record {
    Record { entries, user: Some(UserChange::Put(Box::new(record))), ..Record::default() }
}

fn filter(home_id: &str) -> ActivityFilter {
    ActivityFilter {
        home_id: home_id.to_owned(),
        user_id: None,
        device: None,
        outcome: None,
        since: None,
        until: None,
        before: None,
        limit: 500,
    }
}

fn owner(id: &str, email: &str) -> OwnerRecord {
    OwnerRecord {
        id: id.to_owned(),
        email: email.to_owned(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        created_at: at(0),
        updated_at: at(0),
    }
}

async fn opening_makes_the_schema_once_and_commands_need_existing_data(backend: Backend) {
    let place = Place::new(backend);
    let refused = open(&place, false).await.err().expect("no data yet");
    assert!(matches!(refused, StoreError::NotSetUp(_)), "{refused}");
    let first = open(&place, true).await.expect("made");
    assert!(first.created);
    first.close().await;
    let beside = open(&place, false).await.expect("existing data");
    assert!(!beside.created);
    beside.close().await;
    let again = open(&place, true).await.expect("again");
    assert!(!again.created, "made once");
    again.close().await;
}

async fn the_snapshot_reads_back_what_was_written(backend: Backend) {
    let place = Place::new(backend);
    let s = open(&place, true).await.expect("open");
    let store = &s.store;
    store.put_home(home("h1")).await.expect("home");
    for id in ["l2", "l1"] {
        store.put_lock(lock(id, "h1")).await.expect("lock");
    }
    let written = user("u1", "h1", 7, LockAccess::Only(vec!["l2".into(), "l1".into()]));
    let lockout = LockoutState { failures: vec![at(20), at(21)], locked_until: Some(at(30)) };
    let record = Record {
        lockouts: vec![LockoutRecord { home_id: "h1".into(), device: "l1".into(), state: lockout.clone() }],
        uses: Some(UseCount { user_id: "u1".into(), uses: 4, last_used: at(60) }),
        ..put(written.clone(), vec![entry("e1", "h1", 40)])
    };
    let entries = store.record(record).committed().await.expect("recorded");
    assert_eq!(entries, vec![entry("e1", "h1", 40)], "the entries come back after the commit");
    assert!(store.home_exists("h1".into()).await.expect("query"));
    assert!(!store.home_exists("h2".into()).await.expect("query"));

    // Locks bound to a Z-Wave node (with a slot range), to a Zigbee2MQTT
    // device by its address (moving to another, once its codes are off),
    // and one bound by friendly name before addresses, being deleted.
    let zwave =
        DeviceBinding { device: DeviceRef::ZwaveJs { node_id: 2 }, slots: Some(SlotRange::new(1, 20).expect("range")) };
    let address = |a: &str| DeviceRef::Zigbee2Mqtt { ieee_address: IeeeAddress::parse(a).expect("address") };
    let zigbee =
        DeviceBinding { device: address("0x000d6f0000000001"), slots: Some(SlotRange::new(0, 9).expect("range")) };
    let moving = LockRemoval {
        what: Removal::Move(DeviceBinding { device: address("0x000d6f0000000002"), slots: None }),
        since: at(3),
    };
    let named = DeviceBinding {
        device: DeviceRef::Zigbee2MqttNamed { friendly_name: FriendlyName::parse("hall/front door").expect("name") },
        slots: None,
    };
    let deleting = LockRemoval { what: Removal::Delete, since: at(4) };
    store.put_lock(LockRecord { device: Some(zwave), ..lock("l3", "h1") }).await.expect("z-wave lock");
    store
        .put_lock(LockRecord { device: Some(zigbee), removal: Some(moving.clone()), ..lock("l4", "h1") })
        .await
        .expect("zigbee lock");
    store
        .put_lock(LockRecord { device: Some(named), removal: Some(deleting.clone()), ..lock("l5", "h1") })
        .await
        .expect("named zigbee lock");

    let snapshot = store.load().await.expect("load");
    assert_eq!(snapshot.homes, vec![home("h1")]);
    assert_eq!(snapshot.locks.len(), 5);
    let removal_of = |id: &str| snapshot.locks.iter().find(|l| l.id == id).and_then(|l| l.removal.clone());
    assert_eq!((removal_of("l4"), removal_of("l5"), removal_of("l3")), (Some(moving), Some(deleting), None));
    assert!(snapshot.locks.contains(&lock("l1", "h1")) && snapshot.locks.contains(&lock("l2", "h1")));
    let device_of = |id: &str| snapshot.locks.iter().find(|l| l.id == id).and_then(|l| l.device.clone());
    assert_eq!(
        device_of("l3").map(|b| (b.device, b.slots.map(|r| (r.first(), r.last())))),
        Some((DeviceRef::ZwaveJs { node_id: 2 }, Some((1, 20))))
    );
    let read = device_of("l4").expect("bound");
    assert_eq!(read.device.to_string(), "Zigbee device 0x000d6f0000000001");
    assert_eq!(read.slots.map(|r| (r.first(), r.last())), Some((0, 9)));
    assert_eq!(device_of("l5").expect("bound").device.to_string(), "Zigbee device hall/front door");
    let [read] = &snapshot.users[..] else { panic!("one user: {:?}", snapshot.users) };
    let (r, w) = (&read.user, &written.user);
    assert_eq!(r.locks, LockAccess::Only(vec!["l1".into(), "l2".into()]), "lock lists come back sorted");
    assert_eq!(
        (&r.id, &r.name, r.kind, r.panel, &r.schedule, r.validity, r.notify, r.enabled),
        (&w.id, &w.name, w.kind, w.panel, &w.schedule, w.validity, w.notify, w.enabled)
    );
    assert_eq!((r.uses, read.last_used), (4, Some(at(60))), "the use count of the same record wins");
    assert_eq!((&read.code, read.created_at, read.updated_at), (&written.code, at(5), at(6)));
    assert_eq!(snapshot.lockouts, vec![LockoutRecord { home_id: "h1".into(), device: "l1".into(), state: lockout }]);

    // A clear lockout is no row.
    let clear = LockoutRecord { home_id: "h1".into(), device: "l1".into(), state: LockoutState::default() };
    store.record(Record { lockouts: vec![clear], ..Record::default() }).committed().await.expect("cleared");
    assert!(store.load().await.expect("load").lockouts.is_empty());
    s.close().await;
}

async fn a_taken_code_refuses_the_whole_record(backend: Backend) {
    let place = Place::new(backend);
    let s = open(&place, true).await.expect("open");
    let store = &s.store;
    store.put_home(home("h1")).await.expect("home");
    store.record(put(user("a", "h1", 1, LockAccess::All), vec![])).committed().await.expect("a");
    let taken = store.record(put(user("b", "h1", 1, LockAccess::All), vec![entry("eb", "h1", 1)])).committed().await;
    assert!(matches!(taken, Err(StoreError::Conflict(Key::UserCode))), "{taken:?}");
    // Queued beside the refused one, in the same batch: unaffected.
    let fine = store.record(Record { entries: vec![entry("ok", "h1", 2)], ..Record::default() });
    let also_taken = store.record(put(user("c", "h1", 1, LockAccess::All), vec![entry("ec", "h1", 3)]));
    fine.committed().await.expect("committed");
    assert!(matches!(also_taken.committed().await, Err(StoreError::Conflict(Key::UserCode))));
    let ids: Vec<String> = store.activity(filter("h1")).await.expect("log").entries.into_iter().map(|e| e.id).collect();
    assert_eq!(ids, ["ok"], "nothing of a refused record is written");
    let users: Vec<String> = store.load().await.expect("load").users.into_iter().map(|u| u.user.id).collect();
    assert_eq!(users, ["a"]);
    // The same code in another home is no conflict.
    store.put_home(home("h2")).await.expect("home");
    store.record(put(user("d", "h2", 1, LockAccess::All), vec![])).committed().await.expect("another home");
    s.close().await;
}

async fn deleting_a_lock_clears_its_place_in_lists_and_its_lockout(backend: Backend) {
    let place = Place::new(backend);
    let s = open(&place, true).await.expect("open");
    let store = &s.store;
    store.put_home(home("h1")).await.expect("home");
    store.put_lock(lock("l1", "h1")).await.expect("lock");
    store.put_lock(lock("l2", "h1")).await.expect("lock");
    let locked = LockoutState { failures: vec![], locked_until: Some(at(9)) };
    let record = Record {
        lockouts: vec![LockoutRecord { home_id: "h1".into(), device: "l1".into(), state: locked }],
        ..put(user("u1", "h1", 1, LockAccess::Only(vec!["l1".into(), "l2".into()])), vec![])
    };
    store.record(record).committed().await.expect("recorded");
    store.delete_lock("h1".into(), "l1".into()).await.expect("deleted");
    let snapshot = store.load().await.expect("load");
    assert_eq!(snapshot.locks, vec![lock("l2", "h1")]);
    assert_eq!(snapshot.users[0].user.locks, LockAccess::Only(vec!["l2".into()]));
    assert!(snapshot.lockouts.is_empty());
    s.close().await;
}

async fn a_failed_record_held_in_memory_stops_its_home_until_resynced(backend: Backend) {
    let place = Place::new(backend);
    let s = open(&place, true).await.expect("open");
    let store = &s.store;
    store.put_home(home("h1")).await.expect("home");
    store.put_home(home("h2")).await.expect("home");
    store.record(put(user("u1", "h1", 1, LockAccess::All), vec![])).committed().await.expect("user");
    let counted = |id: &str, home: &str, uses: u32| Record {
        home_id: home.into(),
        applied_ahead: true,
        entries: vec![entry(id, home, i64::from(uses))],
        uses: (home == "h1").then(|| UseCount { user_id: "u1".into(), uses, last_used: at(i64::from(uses)) }),
        ..Record::default()
    };
    store.record(counted("a1", "h1", 1)).committed().await.expect("recorded");
    // A lockout row of no home: this record fails, and so does every later
    // record of its home, even one that would have succeeded…
    let no_home = LockoutRecord {
        home_id: "gone".into(),
        device: "front".into(),
        state: LockoutState { failures: vec![at(1)], locked_until: None },
    };
    let failing = store.record(Record { lockouts: vec![no_home.clone()], ..counted("a2", "h1", 2) });
    let after = store.record(counted("a3", "h1", 3));
    assert!(failing.committed().await.is_err());
    // (On PostgreSQL a failed batch fails whole; either way it is not written.)
    assert!(after.committed().await.is_err());
    store.record(counted("b1", "h2", 1)).committed().await.expect("other homes go on");
    assert!(matches!(store.record(counted("a4", "h1", 4)).committed().await, Err(StoreError::OutOfStep)));
    // …until the home's counts are read back: exactly what was committed.
    let counts = store.resync_home("h1".into()).await.expect("resync");
    assert_eq!(counts.uses.iter().map(|u| (u.user_id.as_str(), u.uses)).collect::<Vec<_>>(), [("u1", 1)]);
    store.record(counted("a5", "h1", 2)).committed().await.expect("admitted again");
    // A failed record that memory did not hold stops nothing.
    let plain = Record { home_id: "h1".into(), lockouts: vec![no_home], ..Record::default() };
    assert!(store.record(plain).committed().await.is_err());
    store.record(counted("a6", "h1", 3)).committed().await.expect("still admitted");
    s.close().await;
}

async fn concurrent_records_commit_in_the_order_they_were_queued(backend: Backend) {
    let place = Place::new(backend);
    let s = open(&place, true).await.expect("open");
    let store = &s.store;
    store.put_home(home("h1")).await.expect("home");
    store.record(put(user("u1", "h1", 1, LockAccess::All), vec![])).committed().await.expect("user");
    let queued: Vec<_> = (0..300u32)
        .map(|i| {
            let lockout = LockoutState { failures: vec![at(i64::from(i))], locked_until: None };
            store.record(Record {
                home_id: "h1".into(),
                applied_ahead: true,
                entries: vec![entry(&format!("e{i:03}"), "h1", i64::from(i))],
                uses: Some(UseCount { user_id: "u1".into(), uses: i + 1, last_used: at(i64::from(i)) }),
                lockouts: vec![LockoutRecord { home_id: "h1".into(), device: "front".into(), state: lockout }],
                user: None,
                notifications: Vec::new(),
                // The alarm panel moves with each record (its state changed at i).
                panel: Some(keyward_store::PanelRecord {
                    home_id: "h1".into(),
                    settings: keyward_core::alarm::PanelSettings::default(),
                    panel: keyward_core::alarm::Panel::new(at(i64::from(i))),
                    updated_at: at(i64::from(i)),
                }),
            })
        })
        .collect();
    for pending in queued {
        pending.committed().await.expect("committed");
    }
    let log = store.activity(filter("h1")).await.expect("log");
    let ids: Vec<String> = log.entries.iter().map(|e| e.id.clone()).collect();
    let expected: Vec<String> = (0..300).rev().map(|i| format!("e{i:03}")).collect();
    assert_eq!(ids, expected, "the log's order is the order of queueing");
    let snapshot = store.load().await.expect("load");
    assert_eq!(snapshot.users[0].user.uses, 300, "the last count queued wins");
    assert_eq!(snapshot.lockouts[0].state.failures, vec![at(299)]);
    assert_eq!(snapshot.panels.len(), 1);
    assert_eq!(snapshot.panels[0].panel.changed_at, at(299), "the last panel queued wins");
    s.close().await;
}

async fn activity_pages_and_filters(backend: Backend) {
    let place = Place::new(backend);
    let s = open(&place, true).await.expect("open");
    let store = &s.store;
    for id in ["h1", "h2"] {
        store.put_home(home(id)).await.expect("home");
    }
    let mut entries = Vec::new();
    for i in 0..12 {
        let mut e = entry(&format!("e{i:02}"), "h1", i);
        if i % 3 == 0 {
            e.event = Event {
                kind: ActivityKind::Arrival,
                outcome: Some(Outcome::Granted),
                reason: None,
                duress: true,
                device: Some("back".into()),
                user: Some(UserRef { id: "u2".into(), name: "Two".into() }),
                ..e.event
            };
        }
        entries.push(e);
    }
    let audit = Event::audit(
        ActivityKind::CodeRevealed,
        UserRef { id: "u2".into(), name: "Two".into() },
        Actor::Owner("anna@example.org".into()),
        at(100),
    );
    entries.push(ActivityEntry { id: "audit".into(), home_id: "h1".into(), event: audit.clone() });
    entries.push(entry("other-home", "h2", 5));
    store.record(Record { entries, ..Record::default() }).committed().await.expect("recorded");

    let ids = |page: keyward_store::ActivityPage| page.entries.into_iter().map(|e| e.id).collect::<Vec<_>>();
    let first = store.activity(ActivityFilter { limit: 5, ..filter("h1") }).await.expect("page");
    assert_eq!(first.entries[0].event, audit, "typed events read back whole");
    let next = first.next.expect("more");
    assert_eq!(ids(first), ["audit", "e11", "e10", "e09", "e08"]);
    let second = store.activity(ActivityFilter { limit: 5, before: Some(next), ..filter("h1") }).await.expect("page");
    let last = second.next.expect("more");
    assert_eq!(ids(second), ["e07", "e06", "e05", "e04", "e03"]);
    let third = store.activity(ActivityFilter { limit: 5, before: Some(last), ..filter("h1") }).await.expect("page");
    assert_eq!(third.next, None);
    assert_eq!(ids(third), ["e02", "e01", "e00"]);

    let granted = store.activity(ActivityFilter { outcome: Some(Outcome::Granted), ..filter("h1") }).await;
    assert_eq!(ids(granted.expect("page")), ["e09", "e06", "e03", "e00"]);
    let granted = store.activity(ActivityFilter { outcome: Some(Outcome::Granted), ..filter("h1") }).await;
    assert!(granted.expect("page").entries.iter().all(|e| e.event.duress && e.event.user.is_some()));
    let back = store.activity(ActivityFilter { device: Some("back".into()), ..filter("h1") }).await;
    assert_eq!(ids(back.expect("page")).len(), 4);
    let by_user = store.activity(ActivityFilter { user_id: Some("u1".into()), ..filter("h1") }).await;
    assert_eq!(ids(by_user.expect("page")).len(), 8);
    let window = store.activity(ActivityFilter { since: Some(at(3)), until: Some(at(5)), ..filter("h1") }).await;
    assert_eq!(ids(window.expect("page")), ["e04", "e03"], "since inclusive, until exclusive");
    assert_eq!(ids(store.activity(filter("h2")).await.expect("page")), ["other-home"]);
    s.close().await;
}

async fn tokens_are_found_by_digest_until_revoked(backend: Backend) {
    let place = Place::new(backend);
    let s = open(&place, true).await.expect("open");
    let store = &s.store;
    store.put_home(home("h1")).await.expect("home");
    let token = TokenRecord {
        id: "t1".into(),
        name: "ha".into(),
        scope: Scope::Device,
        home_id: Some("h1".into()),
        created_at: at(1),
        revoked_at: None,
    };
    store.insert_token(token.clone(), [3; 32]).await.expect("inserted");
    let twin = TokenRecord { id: "t2".into(), ..token.clone() };
    assert!(
        matches!(store.insert_token(twin, [3; 32]).await, Err(StoreError::Conflict(Key::Other(_)))),
        "digests are unique"
    );
    assert_eq!(store.find_token([3; 32]).await.expect("query"), Some(token.clone()));
    assert_eq!(store.find_token([4; 32]).await.expect("query"), None);
    assert!(store.revoke_token("t1".into(), at(9)).await.expect("revoked"));
    assert!(!store.revoke_token("t1".into(), at(10)).await.expect("query"), "once");
    assert_eq!(store.find_token([3; 32]).await.expect("query"), None);
    assert_eq!(store.list_tokens().await.expect("list"), vec![TokenRecord { revoked_at: Some(at(9)), ..token }]);
    s.close().await;
}

async fn owners_sessions_throttling_setup_codes_and_invitations(backend: Backend) {
    let place = Place::new(backend);
    let s = open(&place, true).await.expect("open");
    let store = &s.store;
    store.set_setup_code([8; 32]).await.expect("setup code");
    store.set_setup_code([9; 32]).await.expect("replaced");
    assert_eq!(store.setup_code().await.expect("query"), Some([9; 32]));

    // Ten setups at once: exactly one owner.
    let racing: Vec<_> = (0..10)
        .map(|i| store.create_first_owner(owner(&format!("o{i}"), &format!("o{i}@example.org")), [i; 32]))
        .collect();
    let mut won = 0;
    for setup in racing {
        won += usize::from(setup.await.expect("answered"));
    }
    assert_eq!(won, 1);
    assert_eq!(store.owner_count().await.expect("count"), 1);
    assert_eq!(store.setup_code().await.expect("query"), None, "the setup code is gone with the first owner");
    let first = store.list_owners().await.expect("owners").remove(0);
    assert_eq!(store.owner_by_email(first.email.clone()).await.expect("query"), Some(first.clone()));

    let session = [42; 32];
    let keys = vec!["account:x".to_owned(), "address:192.0.2.1".to_owned()];
    assert_eq!(store.reserve_sign_in(keys.clone(), at(1)).await.expect("reserved"), None);
    assert_eq!(store.reserve_sign_in(keys[..1].to_vec(), at(2)).await.expect("reserved"), None);
    let failures = store.login_failures(vec![keys[1].clone(), "none".into(), keys[0].clone()]).await.expect("query");
    let counts: Vec<_> = failures.iter().map(|f| f.map(|f| (f.failures, f.last_failure))).collect();
    assert_eq!(counts, [Some((1, at(1))), None, Some((2, at(2)))], "in the order asked");
    store.start_session(session, first.id.clone(), at(3), keys.clone()).await.expect("session");
    assert_eq!(store.login_failures(keys.clone()).await.expect("query"), [None, None], "a sign-in clears them");
    let found = store.find_session(session).await.expect("query").expect("a session");
    assert_eq!((found.owner, found.created_at, found.last_seen), (first.clone(), at(3), at(3)));
    store.touch_session(session, at(4)).await.expect("touched");
    assert_eq!(store.find_session(session).await.expect("query").map(|s| s.last_seen), Some(at(4)));
    store.start_session([43; 32], first.id.clone(), at(5), vec![]).await.expect("session");
    store.delete_session(session).await.expect("deleted");
    assert!(store.find_session(session).await.expect("query").is_none());
    assert_eq!(store.delete_sessions_of(first.id.clone()).await.expect("deleted"), 2, "the setup's and one more");
    store.start_session(session, first.id.clone(), at(6), vec![]).await.expect("session");
    assert!(store.set_password(first.id.clone(), "$argon2id$new".into(), at(7)).await.expect("changed"));
    assert!(store.find_session(session).await.expect("query").is_none(), "a new password ends sessions");
    assert!(!store.set_password("nobody".into(), "x".into(), at(7)).await.expect("query"));
    store.clear_login_failures(keys.clone()).await.expect("cleared");

    // Reservations are atomic: of 24 racing attempts, exactly the five free
    // ones are counted and may check a password; the rest must wait.
    let racing: Vec<_> = (0..24).map(|_| store.reserve_sign_in(keys.clone(), at(8))).collect();
    let mut waits = Vec::new();
    for reserved in racing {
        waits.push(reserved.await.expect("answered"));
    }
    assert_eq!(waits.iter().filter(|w| w.is_none()).count(), 5, "{waits:?}");
    assert!(waits.iter().flatten().all(|w| *w == 1), "{waits:?}");
    let counted = store.login_failures(keys.clone()).await.expect("query");
    assert!(counted.iter().all(|f| f.map(|f| f.failures) == Some(5)), "refused attempts are not counted: {counted:?}");
    // A day after the last failure, the rows are forgotten (and deleted).
    let day_later = at(8 + 24 * 3600);
    assert_eq!(store.reserve_sign_in(vec!["account:other".into()], day_later).await.expect("reserved"), None);
    assert_eq!(store.login_failures(keys.clone()).await.expect("query"), [None, None]);

    // Known browsers: remembered for an owner, forgotten when too old.
    store.remember_device([60; 32], first.id.clone(), at(10), at(0)).await.expect("remembered");
    assert_eq!(store.device_owner([60; 32], at(10)).await.expect("query").as_deref(), Some(first.id.as_str()));
    assert_eq!(store.device_owner([60; 32], at(11)).await.expect("query"), None, "remembered too long ago");
    assert_eq!(store.device_owner([61; 32], at(0)).await.expect("query"), None);
    store.remember_device([61; 32], first.id.clone(), at(20), at(11)).await.expect("remembered");
    assert_eq!(store.device_owner([60; 32], at(0)).await.expect("query"), None, "older browsers are forgotten");

    let invite = |digest: u8, email: &str| InviteRecord {
        digest: [digest; 32],
        email: email.to_owned(),
        invited_by: first.id.clone(),
        created_at: at(10),
        expires_at: at(20),
    };
    store.insert_invite(invite(1, "ben@example.org")).await.expect("invited");
    assert_eq!(store.live_invite([1; 32], at(19)).await.expect("query").as_deref(), Some("ben@example.org"));
    assert_eq!(store.live_invite([1; 32], at(20)).await.expect("query"), None, "expired at its end");
    assert!(!store.accept_invite([1; 32], owner("ben", "ben@example.org"), [50; 32], at(21)).await.expect("late"));
    assert!(store.accept_invite([1; 32], owner("ben", "ben@example.org"), [50; 32], at(11)).await.expect("accepted"));
    assert!(!store.accept_invite([1; 32], owner("ben2", "b2@example.org"), [51; 32], at(12)).await.expect("once"));
    store.insert_invite(invite(2, "ben@example.org")).await.expect("invited");
    let twice = store.accept_invite([2; 32], owner("ben3", "ben@example.org"), [52; 32], at(12)).await;
    assert!(matches!(twice, Err(StoreError::Conflict(Key::OwnerEmail))), "an owner with that email exists");
    assert_eq!(
        store.live_invite([2; 32], at(12)).await.expect("query").as_deref(),
        Some("ben@example.org"),
        "a refused acceptance leaves the invitation as it was"
    );
    assert!(store.find_session([50; 32]).await.expect("query").is_some());
    assert_eq!(store.owner_count().await.expect("count"), 2);
    s.close().await;
}

async fn the_key_check_and_whether_codes_are_held(backend: Backend) {
    let place = Place::new(backend);
    let s = open(&place, true).await.expect("open");
    let store = &s.store;
    assert_eq!(store.key_check().await.expect("query"), None);
    assert!(!store.holds_codes().await.expect("query"));
    store.set_key_check([5; 32]).await.expect("set");
    assert_eq!(store.key_check().await.expect("query"), Some(vec![5; 32]));
    store.put_home(home("h1")).await.expect("home");
    store.record(put(user("u1", "h1", 1, LockAccess::All), vec![])).committed().await.expect("user");
    assert!(store.holds_codes().await.expect("query"));
    s.close().await;
}

async fn a_stopped_store_takes_no_more_writes(backend: Backend) {
    let place = Place::new(backend);
    let s = open(&place, true).await.expect("open");
    let store = s.store.clone();
    store.put_home(home("h1")).await.expect("home");
    s.close().await;
    let late = store.record(Record { entries: vec![entry("late", "h1", 1)], ..Record::default() });
    assert!(matches!(late.committed().await, Err(StoreError::WriterGone)));
}

fn channel(id: &str, name: &str, target: keyward_core::channel::ChannelTarget) -> ChannelRecord {
    let night = keyward_core::notify::QuietHours {
        start: jiff::civil::Time::constant(22, 0, 0, 0),
        end: jiff::civil::Time::constant(7, 0, 0, 0),
    };
    ChannelRecord {
        channel: keyward_core::channel::Channel {
            id: id.into(),
            home_id: "h1".into(),
            name: Name::parse(name).expect("name"),
            target,
            emergency: id == "c2",
            quiet: (id == "c1").then_some(night),
        },
        secret_sealed: (id == "c1").then(|| vec![7; 40]),
        created_at: at(i64::from(id.as_bytes()[1])),
        updated_at: at(100),
    }
}

fn notification(id: &str, channel_id: &str, event_id: &str) -> OutboxRecord {
    OutboxRecord {
        id: id.into(),
        home_id: "h1".into(),
        channel_id: channel_id.into(),
        event_id: event_id.into(),
        kind: keyward_core::notify::AlertKind::Arrival,
        created_at: at(10),
        title: "Dog walker arrived".into(),
        body: "Dog walker arrived · Front door · 11:42".into(),
        data: r#"{"user":"Dog walker"}"#.into(),
        state: DeliveryState::Pending,
        attempts: 0,
        next_at: at(10),
        last_error: None,
        delivered_at: None,
    }
}

async fn channels_and_the_outbox(backend: Backend) {
    use keyward_core::channel::{ChannelTarget, HttpUrl};
    let place = Place::new(backend);
    let s = open(&place, true).await.expect("open");
    let store = &s.store;
    store.put_home(home("h1")).await.expect("home");
    let webhook =
        channel("c1", "Phone", ChannelTarget::Webhook { url: HttpUrl::parse("https://x.org/h").expect("url") });
    let email = channel("c2", "Mail", ChannelTarget::email("owner@example.org").expect("email"));
    store.put_channel(webhook.clone()).await.expect("channel");
    store.put_channel(email.clone()).await.expect("channel");
    let twin = channel("c3", "Phone", ChannelTarget::Mqtt { topic: "keyward/alerts".into() });
    let twin = store.put_channel(twin).await;
    assert!(matches!(twin, Err(StoreError::Conflict(Key::ChannelName))), "names are unique per home: {twin:?}");
    assert_eq!(store.channels().await.expect("channels"), [webhook.clone(), email.clone()]);

    // Written with the event, or not at all.
    let arrival = Record {
        home_id: "h1".into(),
        entries: vec![entry("e1", "h1", 1)],
        notifications: vec![notification("n1", "c1", "e1"), notification("n2", "c2", "e1")],
        ..Record::default()
    };
    store.record(arrival).committed().await.expect("recorded");
    store.record(put(user("a", "h1", 1, LockAccess::All), vec![])).committed().await.expect("a");
    let mut refused = put(user("b", "h1", 1, LockAccess::All), vec![entry("e2", "h1", 2)]);
    refused.notifications = vec![notification("n-refused", "c1", "e2")];
    assert!(matches!(store.record(refused).committed().await, Err(StoreError::Conflict(Key::UserCode))));
    store.enqueue(vec![notification("n3", "c1", "test")]).await.expect("queued");

    // Each channel's queue in order; a limit per channel.
    let ids = |list: Vec<OutboxRecord>| list.into_iter().map(|n| n.id).collect::<Vec<_>>();
    assert_eq!(ids(store.pending_notifications(10).await.expect("pending")), ["n1", "n3", "n2"]);
    assert_eq!(ids(store.pending_notifications(1).await.expect("pending")), ["n1", "n2"]);
    let pending = store.pending_notifications(10).await.expect("pending");
    assert_eq!(pending[0], notification("n1", "c1", "e1"), "read back as written");

    // Delivered: off the queue, on the channel's page.
    let delivered = DeliveryUpdate {
        id: "n1".into(),
        state: DeliveryState::Delivered,
        attempts: 2,
        next_at: at(12),
        last_error: Some("HTTP 503 at the first try".into()),
        delivered_at: Some(at(12)),
    };
    store.update_delivery(delivered).await.expect("updated");
    assert_eq!(ids(store.pending_notifications(10).await.expect("pending")), ["n3", "n2"]);
    let page = store.deliveries("c1".into(), 10).await.expect("deliveries");
    assert_eq!(ids(page.clone()), ["n3", "n1"], "newest first");
    assert_eq!((page[1].state, page[1].attempts, page[1].delivered_at), (DeliveryState::Delivered, 2, Some(at(12))));

    // A deleted channel takes its queue with it.
    assert!(store.delete_channel("h1".into(), "c2".into()).await.expect("deleted"));
    assert!(!store.delete_channel("h1".into(), "c2".into()).await.expect("gone"));
    assert!(!store.delete_channel("h2".into(), "c1".into()).await.expect("not that home's"));
    assert_eq!(ids(store.pending_notifications(10).await.expect("pending")), ["n3"]);
    assert_eq!(store.channels().await.expect("channels"), [webhook]);

    // An event whose alert names a channel removed meanwhile (by the CLI,
    // before the hub took it in) is recorded; that alert is dropped.
    let late = Record {
        home_id: "h1".into(),
        entries: vec![entry("e3", "h1", 3)],
        notifications: vec![notification("n4", "c2", "e3"), notification("n5", "c1", "e3")],
        ..Record::default()
    };
    store.record(late).committed().await.expect("recorded despite the removed channel");
    assert_eq!(ids(store.pending_notifications(10).await.expect("pending")), ["n3", "n5"]);
    s.close().await;
}

/// Retention: the oldest entries and finished notifications go, in
/// batches; newer ones and anything still to deliver stay.
async fn pruning_takes_the_oldest_in_batches(backend: Backend) {
    let place = Place::new(backend);
    let s = open(&place, true).await.expect("open");
    let store = &s.store;
    store.put_home(home("h1")).await.expect("home");
    let url = keyward_core::channel::HttpUrl::parse("https://x.org/h").expect("url");
    store.put_channel(channel("c1", "Phone", keyward_core::channel::ChannelTarget::Webhook { url })).await.expect("c1");
    let entries: Vec<_> = (1..=5).map(|n| entry(&format!("e{n}"), "h1", n * 10)).collect();
    let mut done = notification("n-done", "c1", "e1");
    done.state = DeliveryState::Delivered;
    let waiting = notification("n-waiting", "c1", "e1");
    let record = Record { home_id: "h1".into(), entries, notifications: vec![done, waiting], ..Record::default() };
    store.record(record).committed().await.expect("recorded");

    // Before second 35: e1, e2, e3 and the delivered notification (at 10) go, two at a time.
    assert_eq!(store.prune(at(35), 2).await.expect("pruned"), 3, "two entries and one notification");
    assert_eq!(store.prune(at(35), 2).await.expect("pruned"), 1, "the third entry");
    assert_eq!(store.prune(at(35), 2).await.expect("pruned"), 0, "nothing left to go");
    let filter = ActivityFilter {
        home_id: "h1".into(),
        user_id: None,
        device: None,
        outcome: None,
        since: None,
        until: None,
        before: None,
        limit: 10,
    };
    let left: Vec<String> = store.activity(filter).await.expect("page").entries.into_iter().map(|e| e.id).collect();
    assert_eq!(left, ["e5", "e4"]);
    let queue: Vec<String> =
        store.deliveries("c1".into(), 10).await.expect("deliveries").into_iter().map(|n| n.id).collect();
    assert_eq!(queue, ["n-waiting"], "what is still to deliver stays");
    s.close().await;
}

fn slot(lock_id: &str, slot: u16, memory: SlotMemory) -> SlotRecord {
    SlotRecord {
        lock_id: lock_id.to_owned(),
        slot,
        user_id: Some("u1".into()),
        memory,
        status: CodeStatus::Failed,
        reason: Some(FailureReason::DuplicateOnLock),
        detail: Some(5),
        attempts: 2,
        attempt_mac: Some([9; 32]),
        retry_at: Some(at(30)),
        updated_at: at(20),
    }
}

/// What keyward knows of a lock's slots comes back as written: the history
/// of its codes in each slot (what decides which codes are keyward's after
/// any outage), refusals, take-overs; a lock's slots are forgotten at once.
async fn slot_knowledge_reads_back_and_is_forgotten_with_the_device(backend: Backend) {
    let place = Place::new(backend);
    let s = open(&place, true).await.expect("open");
    let store = s.store.clone();
    store.put_home(home("h1")).await.expect("home");
    store.put_lock(lock("l1", "h1")).await.expect("lock");
    store.put_lock(lock("l2", "h1")).await.expect("lock");
    let memories = [
        SlotMemory {
            held: Held::Ours([1; 32]),
            written: vec![[1; 32], [2; 32]],
            recheck: true,
            ..SlotMemory::default()
        },
        SlotMemory { held: Held::Unknown, written: vec![[3; 32]], ..SlotMemory::default() },
        SlotMemory { held: Held::OursUnread, written: vec![[4; 32]], ..SlotMemory::default() },
        SlotMemory { held: Held::Foreign(Some([5; 32])), taken_over: true, ..SlotMemory::default() },
        SlotMemory { held: Held::Foreign(None), ..SlotMemory::default() },
        SlotMemory {
            held: Held::Empty,
            refused: Some(Refusal { mac: [6; 32], why: FailureReason::NoConfirmation }),
            ..SlotMemory::default()
        },
    ];
    let written: Vec<SlotRecord> =
        memories.iter().enumerate().map(|(n, m)| slot("l1", n as u16 + 1, m.clone())).collect();
    // Queued when called, in order: awaited only after all were queued.
    let pending: Vec<_> = written.iter().cloned().map(|r| store.put_slot(r)).collect();
    for write in pending {
        write.committed().await.expect("slot");
    }
    store.put_slot(slot("l2", 1, SlotMemory::default())).committed().await.expect("slot");
    let mut changed = written[0].clone();
    changed.memory = SlotMemory { held: Held::Empty, ..SlotMemory::default() };
    changed.status = CodeStatus::OffLock;
    store.put_slot(changed.clone()).committed().await.expect("replaced");
    let read = store.load().await.expect("load").slots;
    let of_l1: Vec<&SlotRecord> = read.iter().filter(|r| r.lock_id == "l1").collect();
    assert_eq!(of_l1.len(), 6);
    assert_eq!(of_l1[0], &changed);
    for (got, want) in of_l1.iter().skip(1).zip(written.iter().skip(1)) {
        assert_eq!(*got, want, "read back as written");
    }
    // Unbound or moved: the lock's slots are forgotten, the others stay.
    store.forget_slots("l1".into()).committed().await.expect("forgotten");
    let read = store.load().await.expect("load").slots;
    assert_eq!(read.iter().map(|r| (r.lock_id.as_str(), r.slot)).collect::<Vec<_>>(), [("l2", 1)]);
    s.close().await;
}

/// Slots stored before slot histories: a confirmed code is keyward's, a
/// code sent without an answer may be in its slot, a refused one stays refused.
async fn slots_stored_before_histories_keep_their_meaning(backend: Backend) {
    let place = Place::new(backend);
    let s = open(&place, true).await.expect("open");
    s.store.put_home(home("h1")).await.expect("home");
    s.store.put_lock(lock("l1", "h1")).await.expect("lock");
    s.close().await;
    // Rows as the previous schema wrote them, then the last migration again.
    let mac = |n: u8| match backend {
        Backend::Sqlite => format!("X'{}'", format!("{n:02x}").repeat(32)),
        Backend::Postgres => format!("'\\x{}'::bytea", format!("{n:02x}").repeat(32)),
    };
    let row = |slot: u16, content: &str, code_mac: Option<String>| {
        let reason = if content == "refused" { "'duplicate_on_lock'" } else { "NULL" };
        format!(
            "INSERT INTO lock_slots (lock_id, slot, user_id, content, code_mac, status, reason, attempts, updated_at)
             VALUES ('l1', {slot}, 'u1', '{content}', {}, 'on_lock', {reason}, 0, 0);",
            code_mac.unwrap_or_else(|| "NULL".into())
        )
    };
    let old = [
        row(1, "code", Some(mac(1))),
        row(2, "sent", Some(mac(2))),
        row(3, "refused", Some(mac(3))),
        row(4, "foreign", None),
    ];
    let migration = match backend {
        Backend::Sqlite => include_str!("../../../store-sqlite/src/migrations/0014_slot_history.sql"),
        Backend::Postgres => include_str!("../../../store-postgres/src/migrations/0011_slot_history.sql"),
    };
    // Only the slot statements of the migration: the rest is applied already.
    let updates: String =
        migration.lines().filter(|l| l.starts_with("UPDATE lock_slots")).collect::<Vec<_>>().join("\n");
    place.execute(&format!("{}\n{updates}", old.join("\n")));
    let s = open(&place, true).await.expect("open");
    let read = s.store.load().await.expect("load").slots;
    let memory: Vec<SlotMemory> = read.iter().map(|r| SlotMemory { recheck: true, ..r.memory.clone() }).collect();
    let known = |held, written: Vec<[u8; 32]>, refused: Option<[u8; 32]>| SlotMemory {
        held,
        written,
        refused: refused.map(|mac| Refusal { mac, why: FailureReason::DuplicateOnLock }),
        ..SlotMemory::default()
    };
    assert_eq!(
        memory,
        [
            known(Held::Ours([1; 32]), vec![[1; 32]], None),
            known(Held::Unknown, vec![[2; 32]], None),
            known(Held::Empty, vec![], Some([3; 32])),
            known(Held::Foreign(None), vec![], None),
        ]
    );
    s.close().await;
}

/// Issue 21: each unique key a write collides with is named, so a new
/// unique index is never taken for another (a code taken, a device in use).
async fn unique_conflicts_name_their_key(backend: Backend) {
    let place = Place::new(backend);
    let s = open(&place, true).await.expect("open");
    let store = &s.store;
    store.put_home(home("h1")).await.expect("home");
    let bound = |id: &str| LockRecord {
        device: Some(DeviceBinding { device: DeviceRef::ZwaveJs { node_id: 7 }, slots: None }),
        ..lock(id, "h1")
    };
    store.put_lock(bound("l1")).await.expect("bound");
    let twin = store.put_lock(bound("l2")).await;
    assert!(matches!(twin, Err(StoreError::Conflict(Key::DeviceBinding))), "{twin:?}");
    let ieee = |id: &str| LockRecord {
        device: Some(DeviceBinding {
            device: DeviceRef::Zigbee2Mqtt { ieee_address: IeeeAddress::parse("0x000d6f00000000aa").expect("ieee") },
            slots: None,
        }),
        ..lock(id, "h1")
    };
    store.put_lock(ieee("l3")).await.expect("bound");
    let twin = store.put_lock(ieee("l4")).await;
    assert!(matches!(twin, Err(StoreError::Conflict(Key::DeviceBinding))), "{twin:?}");
    // A unique index this build does not know: named as itself, and taken
    // for none of the keys callers act on.
    s.close().await;
    place.execute("CREATE UNIQUE INDEX homes_by_name_test ON homes (name)");
    let s = open(&place, true).await.expect("open");
    let store = &s.store;
    let other = store.put_home(home("h2")).await;
    match other {
        Err(StoreError::Conflict(Key::Other(name))) => {
            assert!(name.contains("homes"), "{name}");
        }
        other => panic!("{other:?}"),
    }
    s.close().await;
}

on_both_backends!(
    unique_conflicts_name_their_key,
    slot_knowledge_reads_back_and_is_forgotten_with_the_device,
    slots_stored_before_histories_keep_their_meaning,
    pruning_takes_the_oldest_in_batches,
    channels_and_the_outbox,
    opening_makes_the_schema_once_and_commands_need_existing_data,
    the_snapshot_reads_back_what_was_written,
    a_taken_code_refuses_the_whole_record,
    deleting_a_lock_clears_its_place_in_lists_and_its_lockout,
    concurrent_records_commit_in_the_order_they_were_queued,
    a_failed_record_held_in_memory_stops_its_home_until_resynced,
    activity_pages_and_filters,
    tokens_are_found_by_digest_until_revoked,
    owners_sessions_throttling_setup_codes_and_invitations,
    the_key_check_and_whether_codes_are_held,
    a_stopped_store_takes_no_more_writes,
);

/// One serving instance per PostgreSQL database; commands still work beside it.
#[tokio::test]
async fn postgres_refuses_a_second_serving_instance() {
    let place = Place::new(Backend::Postgres);
    let serving = open(&place, true).await.expect("first");
    let second = open(&place, true).await.err().expect("refused");
    assert!(matches!(&second, StoreError::InUse(m) if m.contains("another keyward")), "{second}");
    let command = open(&place, false).await.expect("a command beside the hub");
    command.close().await;
    serving.close().await;
    let after = open(&place, true).await.expect("free again once the first stopped");
    after.close().await;
}
