//! The pure access decision for a home of 250 users.
//!
//!     cargo bench -p keyward-core --bench decide

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use keyward_core::{
    AccessTarget, CodeDirectory, LockAccess, Lockouts, Name, Notify, PanelAction, PanelPermissions, Schedule,
    ScheduleSpec, User, UserKind, Validity, WindowSpec, decide,
};

struct Directory(HashMap<String, User>);

impl CodeDirectory for Directory {
    fn find(&self, code: &str) -> Option<&User> {
        self.0.get(code)
    }
}

fn home_of_250() -> Directory {
    let weekdays = ScheduleSpec::windows(vec![
        WindowSpec::weekly(&["mon", "tue", "wed", "thu", "fri"], "07:00", "19:00"),
        WindowSpec::weekly(&["sat"], "22:00", "06:00"),
    ]);
    let schedule = Schedule::parse(&weekdays).expect("valid");
    let users = (0..250)
        .map(|i| {
            let user = User {
                id: format!("user{i:04}"),
                name: Name::parse(format!("User {i}")).expect("valid"),
                kind: UserKind::Standard,
                panel: PanelPermissions { arm: true, disarm: true },
                locks: LockAccess::Only(vec!["front".into(), "back".into()]),
                schedule: schedule.clone(),
                validity: Validity::default(),
                uses: 0,
                notify: Notify::default(),
                alerts: Default::default(),
                enabled: true,
                contact: Default::default(),
            };
            (format!("{:06}", 100_000 + i * 3_571), user)
        })
        .collect();
    Directory(users)
}

fn bench(c: &mut Criterion) {
    let home = home_of_250();
    let tz = TimeZone::get("Europe/Berlin").expect("known");
    let at: Timestamp = "2026-11-26T11:00:00Z".parse().expect("valid");
    let clear = Lockouts::CLEAR;
    let code = format!("{:06}", 100_000 + 123 * 3_571);
    let mut group = c.benchmark_group("decide, home of 250 users");
    group.bench_function("granted unlock in a weekday window", |b| {
        b.iter(|| decide(&tz, &home, black_box(&code), AccessTarget::Lock("front"), black_box(at), clear).is_granted())
    });
    group.bench_function("unknown code", |b| {
        b.iter(|| {
            decide(&tz, &home, black_box("999999"), AccessTarget::Panel(PanelAction::Disarm), black_box(at), clear)
                .is_granted()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
