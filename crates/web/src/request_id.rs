//! Every request gets an id: in its log lines (a `request` span with the
//! method and the route pattern, never the raw path, which may hold an
//! invitation secret) and in the `x-request-id` response header. An id sent
//! by a proxy in `x-request-id` is kept when it is short and plain.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub const HEADER: &str = "x-request-id";

fn new_id() -> String {
    static PREFIX: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| keyward_app::secrets::random_hex(4));
    format!("{prefix}{:08x}", COUNTER.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff)
}

fn acceptable(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

pub async fn trace(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| acceptable(id))
        .map_or_else(new_id, str::to_owned);
    let route = request.extensions().get::<MatchedPath>().map_or("(no route)", MatchedPath::as_str).to_owned();
    let span = tracing::info_span!("request", id = %id, method = %request.method(), route = %route);
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| tracing::debug!(status = response.status().as_u16(), "answered"));
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_incoming_ones_plain() {
        assert_ne!(new_id(), new_id());
        assert_eq!(new_id().len(), 16);
        assert!(acceptable("req-42.a_b"));
        assert!(!acceptable(""));
        assert!(!acceptable("a b"));
        assert!(!acceptable("x\ny"));
        assert!(!acceptable(&"a".repeat(65)));
    }
}
