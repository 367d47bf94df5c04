//! Serving HTTP with limits on what a client can hold: a cap on connections
//! in all and per client address, a deadline for a request's head (which,
//! between requests, is the idle timeout of a kept-alive connection) and for
//! its body. Whoever opens hundreds of idle or half-sent connections gets a
//! few of them, for seconds, and the doors keep answering.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tower_service::Service;

use crate::TrustedProxies;

/// How much clients may hold open, and for how long.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Connections open at once, from everyone.
    pub max_connections: usize,
    /// Connections open at once from one address (trusted proxies excepted:
    /// everyone behind them shares their address).
    pub max_per_client: usize,
    /// Time to send a request's head; also how long a kept-alive connection
    /// may sit idle between requests.
    pub header_timeout: Duration,
    /// Time to send a request's body, from the end of its head.
    pub body_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            max_per_client: 64,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops
/// accepting, lets each connection finish its request, and returns when all
/// are closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    trusted_proxies: TrustedProxies,
    shutdown: impl Future<Output = ()> + Send,
) {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let per_client = Arc::new(ClientCounts::default());
    let (closing, closing_seen) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut refused = RefusalLog::default();
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before we
                    // took it: nothing to serve; pause briefly so a lasting
                    // error does not spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            refused.note(peer.ip(), "the hub holds its most connections");
            continue;
        };
        let slot = if trusted_proxies.trusts(peer.ip()) {
            None
        } else {
            match per_client.take(peer.ip(), limits.max_per_client) {
                Some(slot) => Some(slot),
                None => {
                    refused.note(peer.ip(), "this address holds its most connections");
                    continue;
                }
            }
        };
        let connection = Connection { stream, peer, router: router.clone(), limits: limits.clone() };
        tokio::spawn(connection.run(permit, slot, closing_seen.clone()));
    }
    drop(listener);
    closing.send_replace(true);
    // Every connection holds a permit until it closes.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = open.acquire_many(all).await;
}

struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: ConnectionLimits,
}

impl Connection {
    async fn run(self, _permit: OwnedSemaphorePermit, _slot: Option<ClientSlot>, mut closing: watch::Receiver<bool>) {
        let Self { stream, peer, router, limits } = self;
        // Answers are small and sent whole: send them at once.
        let _ = stream.set_nodelay(true);
        let body_timeout = limits.body_timeout;
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let request = request.map(|body| Body::new(TimedBody::new(body, body_timeout)));
            let mut router = router.clone();
            async move { Ok::<_, Infallible>(router.call(request).await.unwrap_or_else(|never| match never {})) }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let mut connection = std::pin::pin!(connection);
        let served = tokio::select! {
            served = connection.as_mut() => served,
            () = async { drop(closing.wait_for(|c| *c).await) } => {
                // Let the request in flight finish; then the connection ends.
                connection.as_mut().graceful_shutdown();
                connection.as_mut().await
            }
        };
        if let Err(e) = served {
            tracing::debug!(error = %e, "connection ended");
        }
    }
}

/// Open connections per client address.
#[derive(Default)]
struct ClientCounts(Mutex<HashMap<IpAddr, usize>>);

impl ClientCounts {
    fn take(self: &Arc<Self>, address: IpAddr, max: usize) -> Option<ClientSlot> {
        let mut counts = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = counts.entry(address).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(ClientSlot { counts: self.clone(), address })
    }
}

/// One connection counted against its address, until it closes.
struct ClientSlot {
    counts: Arc<ClientCounts>,
    address: IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.address);
            }
        }
    }
}

/// Logs refused connections at most once a minute, so a flood cannot fill
/// the log either.
#[derive(Default)]
struct RefusalLog {
    last: Option<Instant>,
    since: u64,
}

impl RefusalLog {
    fn note(&mut self, address: IpAddr, why: &'static str) {
        self.since += 1;
        let now = Instant::now();
        if self.last.is_none_or(|last| now.duration_since(last) >= Duration::from_secs(60)) {
            tracing::warn!(%address, refused = self.since, "connection refused: {why}");
            self.last = Some(now);
            self.since = 0;
        }
    }
}

pin_project_lite::pin_project! {
    /// A request body that fails when it has not arrived by its deadline. The
    /// timer is made only if the body is not there at once, as it almost
    /// always is for the small requests keyward takes.
    struct TimedBody {
        #[pin]
        inner: Incoming,
        deadline: Instant,
        timer: Option<Pin<Box<Sleep>>>,
    }
}

impl TimedBody {
    fn new(inner: Incoming, timeout: Duration) -> Self {
        Self { inner, deadline: Instant::now() + timeout, timer: None }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimedOut;

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        if let Poll::Ready(frame) = this.inner.poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = *this.deadline;
        let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(Some(Err(Box::new(BodyTimedOut))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
