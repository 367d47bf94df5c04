//! A TCP proxy whose connections can be made to go silent, as a peer does
//! behind a cut cable or a frozen host: the sockets stay open, nothing
//! more arrives. Connections opened after the freeze are carried normally
//! (the network came back), so a client that notices and reconnects is
//! served again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct Proxy {
    pub port: u16,
    /// Connections numbered up to this are silent.
    frozen_up_to: Arc<AtomicU64>,
    opened: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let frozen_up_to = Arc::new(AtomicU64::new(0));
        let opened = Arc::new(AtomicU64::new(0));
        let (frozen, count) = (frozen_up_to.clone(), opened.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else { continue };
                let number = count.fetch_add(1, Ordering::AcqRel) + 1;
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(carry(client_read, server_write, number, frozen.clone()));
                tokio::spawn(carry(server_read, client_write, number, frozen.clone()));
            }
        });
        Self { port, frozen_up_to, opened, task }
    }

    /// Every connection open now goes silent, both ways.
    pub fn freeze(&self) {
        self.frozen_up_to.store(self.opened.load(Ordering::Acquire), Ordering::Release);
    }

    /// How many connections were opened through it.
    pub fn connections(&self) -> u64 {
        self.opened.load(Ordering::Acquire)
    }
}

async fn carry(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    number: u64,
    frozen_up_to: Arc<AtomicU64>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let Ok(read) = from.read(&mut buffer).await else { return };
        if read == 0 {
            return;
        }
        // Silent: what arrives is swallowed, the socket stays open.
        if number <= frozen_up_to.load(Ordering::Acquire) {
            continue;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
        let _ = tokio::time::timeout(Duration::from_millis(1), to.flush()).await;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
