//! PostgreSQL's single-instance lock lost with the writer's connection
//! (issue 21, item 1): the instance that lost it serves nothing (503,
//! `/readyz` not ready) while another instance changes the homes, and
//! serves again only after it took the lock back and reloaded every home.

use std::time::Duration;

use serde_json::json;
use tokio_postgres::NoTls;

use crate::support::*;

/// `connect::INSTANCE_LOCK` of keyward's PostgreSQL storage: "keyward" in ASCII.
const INSTANCE_LOCK: i64 = i64::from_be_bytes(*b"\0keyward");

async fn session(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("PostgreSQL");
    tokio::spawn(connection);
    client
}

/// Ends the backend holding the instance lock (as a PostgreSQL restart or a
/// network cut would, for that one connection), and takes the lock in this
/// session before the instance can take it back.
async fn take_the_lock_from_the_instance(test: &tokio_postgres::Client) {
    for _ in 0..20 {
        test.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks
             WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[],
        )
        .await
        .expect("terminate");
        for _ in 0..50 {
            let taken: bool =
                test.query_one("SELECT pg_try_advisory_lock($1)", &[&INSTANCE_LOCK]).await.expect("try lock").get(0);
            if taken {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    panic!("the instance kept taking its lock back at once");
}

async fn wait_for_readiness(server: &Api, status: u16) -> serde_json::Value {
    for _ in 0..300 {
        let reply = server.get("/readyz").await;
        if reply.status.as_u16() == status {
            return reply.body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("/readyz never answered {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_lost_the_database_lock_serves_nothing_until_it_reloaded() {
    let f = Fixture::new(Backend::Postgres).await;
    let url = f.place.database.as_ref().expect("PostgreSQL").url.clone();
    let door = f.admin.create_lock(&f.home, "Front door").await;
    let walker = f.admin.create_user(&f.home, json!({"name": "Dog walker", "code": "583062", "locks": "all"})).await;
    let cleaner = f.admin.create_user(&f.home, json!({"name": "Cleaner", "code": "720415", "locks": "all"})).await;
    for code in ["583062", "720415"] {
        assert_eq!(f.admin.access(&f.home, code, &door, "unlock").await.expect(200)["granted"], true);
    }

    let test = session(&url).await;
    take_the_lock_from_the_instance(&test).await;
    let not_ready = wait_for_readiness(&f.admin, 503).await;
    assert_eq!(not_ready["status"], "not_ready");
    assert!(not_ready["reason"].as_str().is_some_and(|r| r.contains("PostgreSQL")), "{not_ready}");
    f.admin.access(&f.home, "583062", &door, "unlock").await.expect_error(503, "instance_lock_lost");
    f.admin.get(&f.path("/users")).await.expect_error(503, "instance_lock_lost");
    f.server.wait_for_output("lost the PostgreSQL instance lock");

    // A second instance starts and waits in line for the lock; the test's
    // session lets go once it is waiting, so the second one gets it (not
    // the first, which only tries a free lock).
    let args = f.place.args();
    let second = tokio::task::spawn_blocking(move || Server::start(&args, &[]));
    for waited in 0.. {
        let waiting: i64 = test
            .query_one(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
                   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                &[],
            )
            .await
            .expect("pg_locks")
            .get(0);
        if waiting > 0 {
            break;
        }
        assert!(waited < 400, "the second instance never waited for the lock");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _: bool = test.query_one("SELECT pg_advisory_unlock($1)", &[&INSTANCE_LOCK]).await.expect("unlock").get(0);
    let second = second.await.expect("the second instance");
    let b = second.api(f.admin.token().expect("a token"));
    b.patch(&f.path(&format!("/users/{walker}")), json!({"enabled": false})).await.expect(200);
    b.patch(&f.path(&format!("/users/{cleaner}")), json!({"code": "905173"})).await.expect(200);
    assert_eq!(b.access(&f.home, "583062", &door, "unlock").await.expect(200)["granted"], false);
    assert_eq!(b.access(&f.home, "905173", &door, "unlock").await.expect(200)["granted"], true);
    // The first instance still holds the old homes in memory: it must not
    // decide with them.
    for code in ["583062", "720415"] {
        f.admin.access(&f.home, code, &door, "unlock").await.expect_error(503, "instance_lock_lost");
    }
    assert_eq!(f.admin.get("/readyz").await.status.as_u16(), 503);

    // The second stops; the first takes the lock back, reloads every home,
    // and decides on what the second stored.
    let (status, _) = second.terminate();
    assert!(status.success());
    let ready = wait_for_readiness(&f.admin, 200).await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(f.admin.access(&f.home, "583062", &door, "unlock").await.expect(200)["granted"], false);
    assert_eq!(f.admin.access(&f.home, "720415", &door, "unlock").await.expect(200)["granted"], false);
    assert_eq!(f.admin.access(&f.home, "905173", &door, "unlock").await.expect(200)["granted"], true);
    let users = f.admin.get(&f.path("/users")).await.expect(200);
    let enabled = |id: &str| {
        users["items"].as_array().and_then(|u| u.iter().find(|u| u["id"] == id)).map(|u| u["enabled"].clone())
    };
    assert_eq!(enabled(&walker), Some(json!(false)));
    // Never silently: the log says it lost the lock, took it back, reloaded.
    let log = f.server.wait_for_output("every home was reloaded from the database");
    assert!(log.contains("took the PostgreSQL instance lock again"), "{log}");
}
