//! What every request and response pass through, pages and API alike:
//!
//! - a request id, in the request's log lines (a `request` span with the
//!   method and the route pattern, never the raw path, which may hold an
//!   invitation secret) and in the `x-request-id` response header; an id
//!   sent by a proxy is kept when it is short and plain;
//! - the security headers: a CSP with no inline script and no other origin,
//!   never framed, no sniffing, same-origin referrers.
//!
//! Every route gets the layer with its own pattern (`edge_route`), so the
//! span names the route without axum's per-request `MatchedPath`; the
//! fallbacks get it too. One tower layer with a future of its own:
//! `axum::middleware::from_fn` boxes its futures, and every layer boxes the
//! route once more, so a middleware per concern cost thousands of
//! instructions per request on the access path (callgrind,
//! docs/benchmarks.md).

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use axum::extract::Request;
use axum::http::header::{CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;
use axum::routing::MethodRouter;
use tower_layer::Layer;
use tower_service::Service;
use tracing::Span;

use crate::AppState;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// No inline script, no third-party origin, never framed. (Constants: the
/// values are checked once, at compile time, not on every response.)
const CSP: HeaderValue = HeaderValue::from_static(
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
);
const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const SAME_ORIGIN: HeaderValue = HeaderValue::from_static("same-origin");
const DENY: HeaderValue = HeaderValue::from_static("DENY");

fn add_security_headers(headers: &mut HeaderMap) {
    headers.insert(CONTENT_SECURITY_POLICY, CSP);
    headers.insert(X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    // A page may ask for less (a visitor's shared link: no referrer at all).
    headers.entry(REFERRER_POLICY).or_insert(SAME_ORIGIN);
    headers.insert(X_FRAME_OPTIONS, DENY);
}

/// Sixteen hex digits: 32 random bits for this process, then a counter.
fn new_id() -> HeaderValue {
    static PREFIX: OnceLock<u32> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| u32::from_str_radix(&keyward_app::secrets::random_hex(4), 16).unwrap_or(0));
    let id = (u64::from(prefix) << 32) | (COUNTER.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff);
    let mut digits = [0u8; 16];
    for (i, digit) in digits.iter_mut().enumerate() {
        *digit = b"0123456789abcdef"[((id >> (60 - 4 * i)) & 0xf) as usize];
    }
    // Hex digits are always a valid header value.
    HeaderValue::from_bytes(&digits).unwrap_or(HeaderValue::from_static("0"))
}

fn acceptable(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// A route whose every response passes through the edge.
pub trait EdgeRoutes {
    fn edge_route(self, path: &'static str, methods: MethodRouter<AppState>) -> Self;
}

impl EdgeRoutes for axum::Router<AppState> {
    // The one place a route is added: with its edge layer.
    #[allow(clippy::disallowed_methods)]
    fn edge_route(self, path: &'static str, methods: MethodRouter<AppState>) -> Self {
        self.route(path, methods.layer(EdgeLayer::new(path)))
    }
}

#[derive(Clone, Copy)]
pub struct EdgeLayer {
    /// The route's pattern, for the log: never the raw path.
    route: &'static str,
}

impl EdgeLayer {
    pub fn new(route: &'static str) -> Self {
        Self { route }
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Edge { inner, route: self.route }
    }
}

#[derive(Clone)]
pub struct Edge<S> {
    inner: S,
    route: &'static str,
}

impl<S> Service<Request> for Edge<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Traced<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let id = request
            .headers()
            .get(&REQUEST_ID)
            .filter(|v| v.to_str().is_ok_and(acceptable))
            .cloned()
            .unwrap_or_else(new_id);
        // The fields are formatted only when the span is enabled.
        let span = tracing::info_span!(
            "request",
            id = %id.to_str().unwrap_or_default(),
            method = %request.method(),
            route = %self.route,
        );
        let inner = span.in_scope(|| self.inner.call(request));
        Traced { inner, span, id: Some(id) }
    }
}

pin_project_lite::pin_project! {
    /// The inner service's future, polled inside the request's span; its
    /// response gets the id and the security headers.
    pub struct Traced<F> {
        #[pin]
        inner: F,
        span: Span,
        id: Option<HeaderValue>,
    }
}

impl<F, E> Future for Traced<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let mut response = ready!(this.inner.poll(cx))?;
        tracing::debug!(status = response.status().as_u16(), "answered");
        let headers = response.headers_mut();
        add_security_headers(headers);
        if let Some(id) = this.id.take() {
            headers.insert(REQUEST_ID, id);
        }
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_incoming_ones_plain() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert!(acceptable("req-42.a_b"));
        assert!(!acceptable(""));
        assert!(!acceptable("a b"));
        assert!(!acceptable("x\ny"));
        assert!(!acceptable(&"a".repeat(65)));
    }
}
