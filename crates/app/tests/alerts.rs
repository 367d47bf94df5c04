//! Alerts are planned when an event is recorded and written with it, to the
//! right channels, in words, never with a code: the outbox as the delivery
//! worker will find it.

use std::sync::Arc;

use jiff::Timestamp;
use keyward_app::{App, ChannelInput, ManualClock, UserInput};
use keyward_core::channel::{ChannelTarget, HttpUrl};
use keyward_core::notify::AlertKind;
use keyward_core::{Action, Actor, LockAccess, Notify, PanelPermissions, ScheduleSpec, UserKind, ZoneName};
use keyward_store::{KEY_FILE, OutboxRecord, Store, Vault};
use zeroize::Zeroizing;

/// "Phone", an MQTT channel for the users' alerts (nothing sends it here:
/// its outbox is read back).
fn phone(home: &str) -> ChannelInput {
    ChannelInput {
        name: "Phone".into(),
        target: ChannelTarget::Mqtt { topic: format!("keyward/{home}/alerts") },
        emergency: false,
        quiet: None,
        token: None,
    }
}

fn user(name: &str, code: &str, kind: UserKind, arrive: bool) -> UserInput {
    UserInput {
        name: name.into(),
        kind,
        panel: PanelPermissions::default(),
        locks: LockAccess::All,
        schedule: ScheduleSpec::always(),
        valid_from: None,
        valid_until: None,
        max_uses: None,
        notify: Notify { arrive, leave: false },
        alerts: Default::default(),
        enabled: true,
        contact: Default::default(),
        code: Zeroizing::new(code.into()),
    }
}

async fn start(
    dir: &std::path::Path,
    clock: &Arc<ManualClock>,
    create: bool,
) -> (App, Arc<dyn Store>, keyward_store_sqlite::SqliteHandle) {
    start_in("Europe/Berlin", dir, clock, create).await
}

/// A hub whose first home is in `zone`.
async fn start_in(
    zone: &str,
    dir: &std::path::Path,
    clock: &Arc<ManualClock>,
    create: bool,
) -> (App, Arc<dyn Store>, keyward_store_sqlite::SqliteHandle) {
    let opened = keyward_store_sqlite::open(&dir.join("keyward.db"), create).expect("open");
    let store: Arc<dyn Store> = Arc::new(opened.store);
    let vault = Vault::open(store.as_ref(), &dir.join(KEY_FILE), create).await.expect("key");
    let zone = ZoneName::parse(zone).expect("zone");
    let app = App::start(store.clone(), Arc::new(vault), clock.clone(), &zone, Default::default()).await.expect("app");
    (app, store, opened.handle)
}

fn summary(list: &[OutboxRecord], channels: &[(&str, &str)]) -> Vec<(String, AlertKind, String)> {
    let name = |id: &str| channels.iter().find(|(i, _)| *i == id).map_or("?", |(_, n)| *n).to_owned();
    // By channel name (the outbox orders channels by id), each channel's in order.
    let mut told: Vec<_> = list.iter().map(|n| (name(&n.channel_id), n.kind, n.body.clone())).collect();
    told.sort_by(|a, b| a.0.cmp(&b.0));
    told
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_write_their_alerts_to_the_right_channels_in_words() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Thursday 2026-11-26, 10:42 UTC = 11:42 in Berlin.
    let clock = Arc::new(ManualClock::new("2026-11-26T10:42:00Z".parse::<Timestamp>().expect("instant")));
    let (app, store, handle) = start(dir.path(), &clock, true).await;
    let home = app.homes.list().await.expect("homes")[0].id.clone();
    let front = app.homes.create_lock(&home, "Front door", None).await.expect("lock").id;
    let phone = phone(&home);
    let (phone, secret) = app.channels.create(&home, phone, Actor::Token("t".into())).await.expect("channel");
    assert!(secret.is_none(), "only webhooks have a signing secret");
    let siren = ChannelInput {
        name: "Siren".into(),
        target: ChannelTarget::Webhook { url: HttpUrl::parse("http://127.0.0.1:9/hook").expect("url") },
        emergency: true,
        quiet: None,
        token: None,
    };
    let (siren, secret) = app.channels.create(&home, siren, Actor::Token("t".into())).await.expect("channel");
    assert_eq!(secret.map(|s| s.len()), Some(24));
    let taken = ChannelInput {
        name: "Phone".into(),
        target: ChannelTarget::Mqtt { topic: format!("keyward/{home}/alerts/other") },
        emergency: false,
        quiet: None,
        token: None,
    };
    assert!(matches!(
        app.channels.create(&home, taken, Actor::Token("t".into())).await,
        Err(keyward_app::AppError::ChannelNameTaken)
    ));
    let names = [(phone.id.as_str(), "Phone"), (siren.id.as_str(), "Siren")];

    app.users
        .create(&home, user("Dog walker", "4719", UserKind::Standard, true), Actor::Token("t".into()))
        .await
        .expect("user");
    app.users
        .create(&home, user("Nanny", "8642", UserKind::Duress, false), Actor::Token("t".into()))
        .await
        .expect("user");
    app.users
        .create(&home, user("Cleaner", "1357", UserKind::Standard, false), Actor::Token("t".into()))
        .await
        .expect("user");
    assert!(store.pending_notifications(100).await.expect("pending").is_empty(), "owner changes are not alerts");

    // The dog walker arrives: on every channel of the home (the default).
    assert!(app.access.attempt(&home, "4719", &front, Action::Unlock).await.expect("attempt").granted);
    let arrival = "Dog walker arrived · Front door · 11:42".to_owned();
    assert_eq!(
        summary(&store.pending_notifications(100).await.expect("pending"), &names),
        [("Phone".into(), AlertKind::Arrival, arrival.clone()), ("Siren".into(), AlertKind::Arrival, arrival.clone())]
            .into_iter()
            .collect::<Vec<_>>()
    );
    let first = store.pending_notifications(100).await.expect("pending");
    let data: serde_json::Value = serde_json::from_str(&first[0].data).expect("json");
    assert_eq!(
        (data["user"]["name"].as_str(), data["device"]["name"].as_str()),
        (Some("Dog walker"), Some("Front door"))
    );
    assert_eq!(data["local_time"], "2026-11-26T11:42:00");

    // The cleaner's arrival: nobody asked to be told.
    assert!(app.access.attempt(&home, "1357", &front, Action::Unlock).await.expect("attempt").granted);
    assert_eq!(store.pending_notifications(100).await.expect("pending").len(), 2);

    // Duress: told to the emergency channel only, in words.
    let duress = app.access.attempt(&home, "8642", &front, Action::Unlock).await.expect("attempt");
    assert!(duress.granted);
    let all = store.pending_notifications(100).await.expect("pending");
    let told = summary(&all, &names);
    assert_eq!(told.len(), 3, "{told:?}");
    let duress: Vec<_> = told.iter().filter(|t| t.1 == AlertKind::Duress).collect();
    assert_eq!(duress.len(), 1, "{told:?}");
    assert_eq!(duress[0].0, "Siren");
    assert!(duress[0].2.contains("Nanny used their duress code · Front door · 11:42"), "{}", duress[0].2);

    // Wrong codes until the keypad locks out: one alert, to the emergency channel.
    for _ in 0..10 {
        app.access.attempt(&home, "0000", &front, Action::Unlock).await.expect("attempt");
    }
    let all = store.pending_notifications(100).await.expect("pending");
    let lockouts: Vec<_> = all.iter().filter(|n| n.kind == AlertKind::Lockout).collect();
    assert_eq!(lockouts.len(), 1, "{:?}", summary(&all, &names));
    assert_eq!(lockouts[0].channel_id, siren.id);
    for n in &all {
        for code in ["4719", "8642", "1357", "0000"] {
            assert!(!n.body.contains(code) && !n.data.contains(code) && !n.title.contains(code), "a code in {n:?}");
        }
    }

    // After a restart the channels are still there and alerts still flow.
    drop((app, store));
    tokio::task::spawn_blocking(move || handle.close()).await.expect("closed");
    let (app, store, _handle) = start(dir.path(), &clock, false).await;
    assert_eq!(app.channels.list(&home).await.expect("channels").len(), 2);
    let before = store.pending_notifications(100).await.expect("pending").len();
    clock.advance(jiff::SignedDuration::from_mins(5));
    assert!(app.access.attempt(&home, "4719", &front, Action::Unlock).await.expect("attempt").granted);
    assert_eq!(store.pending_notifications(100).await.expect("pending").len(), before + 2);
    // A removed channel takes its queue with it.
    app.channels.delete(&home, &phone.id, Actor::Token("t".into())).await.expect("deleted");
    let left = store.pending_notifications(100).await.expect("pending");
    assert!(left.iter().all(|n| n.channel_id == siren.id));
}

/// The no-shows in the outbox: (when the alert says, the message).
async fn no_shows(store: &Arc<dyn Store>) -> Vec<String> {
    let pending = store.pending_notifications(100).await.expect("pending");
    pending.iter().filter(|n| n.kind == AlertKind::NoShow).map(|n| n.body.clone()).collect()
}

/// Gives the watch (on another thread) real time to run; its own time is
/// the test clock, which only the test moves.
#[allow(clippy::disallowed_methods)]
async fn let_run(ms: u64) {
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

/// Waits (in real time, at most a second) for the watch to have told
/// `count` no-shows; what it told by then.
async fn wait_for_no_shows(store: &Arc<dyn Store>, count: usize) -> Vec<String> {
    for _ in 0..100 {
        let told = no_shows(store).await;
        if told.len() >= count {
            return told;
        }
        let_run(10).await;
    }
    no_shows(store).await
}

/// "Tell me if the dog walker has not arrived by 12:30 on weekdays", in New
/// York, across the spring-forward of Sunday 14 March 2027: told at 12:30:00
/// local time to the second on the Friday (17:30 UTC) and on the Tuesday
/// (16:30 UTC), not on the Monday they came, not at the weekend, and not
/// twice after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_no_show_is_told_at_its_minute_across_daylight_saving_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let at = |s: &str| s.parse::<Timestamp>().expect("instant");
    let clock = Arc::new(ManualClock::new(at("2027-03-12T15:00:00Z"))); // Friday 10:00 EST
    let (app, store, handle) = start_in("America/New_York", dir.path(), &clock, true).await;
    let home = app.homes.list().await.expect("homes")[0].id.clone();
    let front = app.homes.create_lock(&home, "Front door", None).await.expect("lock").id;
    let phone = phone(&home);
    app.channels.create(&home, phone, Actor::Token("t".into())).await.expect("channel");
    let mut walker = user("Dog walker", "4719", UserKind::Standard, false);
    walker.alerts = serde_json::from_value(serde_json::json!({
        "no_show": {"days": ["mon", "tue", "wed", "thu", "fri"], "by": "12:30"}
    }))
    .expect("rules");
    app.users.create(&home, walker, Actor::Token("t".into())).await.expect("user");

    // Friday: nothing a second before 12:30 EST, told at 12:30:00.
    clock.set(at("2027-03-12T17:29:59Z"));
    assert!(wait_for_no_shows(&store, 1).await.is_empty(), "not before its time");
    clock.set(at("2027-03-12T17:30:00Z"));
    assert_eq!(wait_for_no_shows(&store, 1).await, ["Dog walker has not arrived by 12:30."]);
    let log = store
        .activity(keyward_store::ActivityFilter {
            home_id: home.clone(),
            user_id: None,
            device: None,
            outcome: None,
            since: None,
            until: None,
            before: None,
            limit: 10,
        })
        .await
        .expect("activity");
    let entry = log.entries.iter().find(|e| e.event.kind == keyward_core::ActivityKind::NoShow).expect("an entry");
    assert_eq!(entry.event.at, at("2027-03-12T17:30:00Z"), "at 12:30:00 EST, to the second");

    // The weekend, across the change to daylight saving time: nothing.
    clock.set(at("2027-03-15T04:00:00Z")); // Monday 00:00 EDT
    assert_eq!(wait_for_no_shows(&store, 2).await.len(), 1, "no rule at the weekend");

    // Monday: the dog walker comes at 11:50 EDT, so nothing at 12:30.
    clock.set(at("2027-03-15T15:50:00Z"));
    assert!(app.access.attempt(&home, "4719", &front, Action::Unlock).await.expect("attempt").granted);
    clock.set(at("2027-03-15T16:30:00Z"));
    assert_eq!(wait_for_no_shows(&store, 2).await.len(), 1, "they came on Monday");

    // Tuesday: told at 12:30 EDT, which is now 16:30 UTC (an hour earlier in UTC).
    clock.set(at("2027-03-16T16:29:59Z"));
    assert_eq!(wait_for_no_shows(&store, 2).await.len(), 1, "not before its time");
    clock.set(at("2027-03-16T16:30:00Z"));
    assert_eq!(wait_for_no_shows(&store, 2).await.len(), 2, "told at 12:30 EDT");

    // A restart a little later looks back and tells nothing twice.
    drop((app, store));
    tokio::task::spawn_blocking(move || handle.close()).await.expect("closed");
    clock.set(at("2027-03-16T16:45:00Z"));
    let (_app, store, _handle) = start_in("America/New_York", dir.path(), &clock, false).await;
    assert_eq!(wait_for_no_shows(&store, 3).await.len(), 2, "each told once");
}

/// A deadline keyward slept through (it was down at 12:30) is told when it
/// starts again, at the deadline's time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_no_show_missed_while_down_is_told_after_the_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let at = |s: &str| s.parse::<Timestamp>().expect("instant");
    let clock = Arc::new(ManualClock::new(at("2026-11-26T09:00:00Z"))); // Thursday 10:00 in Berlin
    let (app, store, handle) = start(dir.path(), &clock, true).await;
    let home = app.homes.list().await.expect("homes")[0].id.clone();
    let phone = phone(&home);
    app.channels.create(&home, phone, Actor::Token("t".into())).await.expect("channel");
    let mut cleaner = user("Cleaner", "1357", UserKind::Standard, false);
    cleaner.alerts =
        serde_json::from_value(serde_json::json!({"no_show": {"days": ["thu"], "by": "11:00"}})).expect("rules");
    app.users.create(&home, cleaner, Actor::Token("t".into())).await.expect("user");
    drop((app, store));
    tokio::task::spawn_blocking(move || handle.close()).await.expect("closed");

    clock.set(at("2026-11-26T13:00:00Z")); // 14:00: keyward was down at 11:00
    let (_app, store, _handle) = start(dir.path(), &clock, false).await;
    assert_eq!(wait_for_no_shows(&store, 1).await, ["Cleaner has not arrived by 11:00."]);
}

/// A sender whose receiver never takes anything.
struct Refusing;

impl keyward_app::delivery::Sender for Refusing {
    fn kind(&self) -> keyward_core::channel::ChannelKind {
        keyward_core::channel::ChannelKind::Mqtt
    }

    fn send<'a>(
        &'a self,
        _channel: &'a keyward_core::channel::Channel,
        _secret: Option<&'a [u8]>,
        _notification: &'a OutboxRecord,
    ) -> keyward_store::BoxFuture<'a, Result<(), keyward_app::delivery::SendError>> {
        Box::pin(async { Err(keyward_app::delivery::SendError("the broker refused it".into())) })
    }
}

/// A notification that could not be delivered for 24 hours is given up and
/// put in the activity log, where the owner sees what was lost and why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_given_up_after_a_day_is_in_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new("2026-11-26T10:42:00Z".parse::<Timestamp>().expect("instant")));
    let (app, _store, _handle) = start(dir.path(), &clock, true).await;
    let home = app.homes.list().await.expect("homes")[0].id.clone();
    app.start_deliveries(vec![Arc::new(Refusing)], true, keyward_core::channel::DEFAULT_ALERTS_PREFIX);
    app.channels.create(&home, phone(&home), Actor::Token("t".into())).await.expect("channel");
    let front = app.homes.create_lock(&home, "Front door", None).await.expect("lock").id;
    let walker = user("Dog walker", "4719", UserKind::Standard, true);
    app.users.create(&home, walker, Actor::Token("t".into())).await.expect("user");
    assert!(app.access.attempt(&home, "4719", &front, Action::Unlock).await.expect("attempt").granted);

    // Tried and refused for a day, an hour at a time, then given up: once,
    // with the reason.
    for _ in 0..30 {
        clock.advance(jiff::SignedDuration::from_hours(1));
        let_run(20).await;
    }
    let page = app.activity.query(&home, keyward_app::ActivityQuery::default()).await.expect("query").expect("home");
    let given_up: Vec<_> =
        page.items.iter().filter(|e| e.event.kind == keyward_core::ActivityKind::DeliveryFailed).collect();
    assert_eq!(given_up.len(), 1, "{given_up:?}");
    assert_eq!(given_up[0].event.detail.as_deref(), Some("Phone: \"Dog walker arrived\" (the broker refused it)"));
    assert!(given_up[0].event.at >= "2026-11-27T10:42:00Z".parse::<Timestamp>().expect("instant"));
}
