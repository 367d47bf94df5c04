//! What a client can hold open: a flood of idle, half-sent and slow
//! connections from one address gets a few of them, for seconds, and the
//! doors keep answering everyone else.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

const HEADER_TIMEOUT: &str = "2";
const PER_CLIENT: usize = 64;

/// Whether the server has closed the connection, waiting up to `wait`.
async fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(wait, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            // An answer (e.g. to a slow body): keep reading until it closes.
            Ok(Ok(_)) => continue,
        }
    }
}

async fn a_flood_of_connections_gets_little_and_the_doors_keep_answering(backend: Backend) {
    let env = [("KEYWARD_HTTP_HEADER_TIMEOUT_SECONDS", HEADER_TIMEOUT), ("KEYWARD_HTTP_BODY_TIMEOUT_SECONDS", "2")];
    let f = Fixture::with_env(backend, &[], &env).await;
    let front = f.admin.create_lock(&f.home, "Front door").await;
    f.admin.create_user(&f.home, json!({"name": "Dog walker", "code": "4719", "locks": [front]})).await;
    let device = f.token("device", None).connecting_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
    let address = f.server.base.trim_start_matches("http://").to_owned();

    // 300 connections from 127.0.0.1: idle, a head never finished, a body never finished.
    let access_path = format!("/api/v1/homes/{}/access", f.home);
    let mut flood = Vec::new();
    for i in 0..300 {
        let mut stream = TcpStream::connect(&address).await.expect("connect");
        let sent = match i % 3 {
            0 => String::new(),
            1 => format!("POST {access_path} HTTP/1.1\r\nHost: hub\r\nContent-Type: appl"),
            _ => format!("POST {access_path} HTTP/1.1\r\nHost: hub\r\nContent-Length: 100\r\n\r\n{{\"code\""),
        };
        stream.write_all(sent.as_bytes()).await.expect("send");
        flood.push(stream);
    }

    // The doors answer meanwhile, from another address.
    for _ in 0..10 {
        let granted = device.access(&f.home, "4719", &front, "unlock").await;
        assert_eq!(granted.status, 200, "{}", granted.text);
    }

    // The hub kept at most 64 of the flood's connections; it closed the rest at once…
    let mut kept = Vec::new();
    for mut stream in flood {
        if !closed_within(&mut stream, Duration::from_millis(200)).await {
            kept.push(stream);
        }
    }
    assert!(kept.len() <= PER_CLIENT, "kept {} connections from one address", kept.len());
    assert!(!kept.is_empty(), "a client may hold some connections");
    // …and closes those it kept when their head or body does not arrive in time.
    for stream in &mut kept {
        assert!(closed_within(stream, Duration::from_secs(5)).await, "a stalled connection is closed");
    }

    // A kept-alive connection that sits idle is closed too.
    let mut idle = TcpStream::connect(&address).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n").await.expect("send");
    let mut answer = [0u8; 512];
    let n = idle.read(&mut answer).await.expect("an answer");
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 200"));
    assert!(closed_within(&mut idle, Duration::from_secs(5)).await, "an idle kept-alive connection is closed");

    // Once the flood is gone, its address is served again.
    let same_address = f.token("device", None);
    assert_eq!(same_address.access(&f.home, "4719", &front, "unlock").await.status, 200);
    assert!(f.server.output().contains("connection refused: this address holds its most connections"));
}

on_both_backends!(a_flood_of_connections_gets_little_and_the_doors_keep_answering);
