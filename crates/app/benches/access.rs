//! The access decision as devices get it, for a home of 250 users: the keyed
//! digest of the typed code, the lookup, the home's lock and `decide`, i.e.
//! everything but the durable log write (measured by scripts/load-access.sh).
//!
//!     cargo bench -p keyward-app --bench access

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use keyward_app::{App, ManualClock, PreviewSubject, UserInput};
use keyward_core::{Action, Actor, LockAccess, Notify, PanelPermissions, ScheduleSpec, UserKind, ZoneName};
use keyward_store::{KEY_FILE, Store, Vault};
use zeroize::Zeroizing;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let zone = ZoneName::parse("Europe/Berlin").expect("zone");
    let clock = Arc::new(ManualClock::new("2026-11-26T11:00:00Z".parse().expect("instant")));
    let (app, home, lock, code) = rt.block_on(async {
        let store: Arc<dyn Store> =
            Arc::new(keyward_store_sqlite::open(&dir.path().join("keyward.db"), true).expect("open").store);
        let vault = Vault::open(store.as_ref(), &dir.path().join(KEY_FILE), true).await.expect("key");
        let app = App::start(store, Arc::new(vault), clock, &zone, Default::default()).await.expect("start");
        let home = app.homes.list().await.expect("homes")[0].id.clone();
        let lock = app.homes.create_lock(&home, "Front door", None).await.expect("lock").id;
        let mut made = Vec::new();
        let mut n = 0u64;
        while made.len() < 250 {
            n += 1;
            let code = format!("{:06}", (n * 7_919_113) % 1_000_000);
            let input = UserInput {
                name: format!("User {n}"),
                kind: UserKind::Standard,
                panel: PanelPermissions { arm: true, disarm: true },
                locks: LockAccess::All,
                schedule: ScheduleSpec::always(),
                valid_from: None,
                valid_until: None,
                max_uses: None,
                notify: Notify::default(),
                alerts: Default::default(),
                enabled: true,
                contact: Default::default(),
                code: Zeroizing::new(code.clone()),
            };
            if app.users.create(&home, input, Actor::Token("bench".into())).await.is_ok() {
                made.push(code);
            }
        }
        (app, home, lock, made[123].clone())
    });
    let mut group = c.benchmark_group("hub decision, home of 250 users");
    group.bench_function("granted unlock", |b| {
        b.iter(|| {
            rt.block_on(app.access.preview(&home, PreviewSubject::Code(black_box(&code)), &lock, Action::Unlock, None))
                .expect("decided")
                .granted
        })
    });
    group.bench_function("unknown code", |b| {
        b.iter(|| {
            rt.block_on(app.access.preview(
                &home,
                PreviewSubject::Code(black_box("000001")),
                &lock,
                Action::Unlock,
                None,
            ))
            .expect("decided")
            .granted
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
