//! Keyward's HTTP surface: the JSON API under `/api/v1`, its OpenAPI
//! document (generated from the handlers), the owner's web UI, and
//! `/healthz`.
//!
//! Every API handler authorizes its caller first (`auth`), parses its input
//! once at the edge (`json`), calls one use case of the [`App`]'s services,
//! and maps a refusal to HTTP in one place (`error`). Web concerns (CSRF,
//! cookies, request ids, ending live streams at shutdown) live here, not in
//! the use cases.

mod api;
mod auth;
mod client_address;
mod csrf;
mod dto;
mod edge;
mod error;
mod json;
mod openapi;
mod serve;
mod switch;
mod ui;

use std::sync::Arc;

/// The routes `router` makes, for `Switch`.
pub use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::routing::get;
use keyward_app::App;
use tokio::sync::watch;

pub use api::webhook_secret_text;
pub use client_address::TrustedProxies;
use edge::{EdgeLayer, EdgeRoutes};
pub use error::ApiError;
pub use openapi::openapi_json;
pub use serve::{ConnectionLimits, serve};
pub use switch::{Switch, unavailable};

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the web layer needs besides the services.
pub struct WebConfig {
    /// The key of the forms' CSRF tokens (the vault's web key).
    pub csrf_key: [u8; 32],
    /// Becomes true when the process begins to shut down: endless responses
    /// (live activity) end, so the server can drain.
    pub closing: watch::Receiver<bool>,
    /// Where owners reach keyward (`public_url`), for links sent to people.
    pub public_url: Option<String>,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
}

#[derive(Clone)]
pub struct AppState {
    pub app: Arc<App>,
    csrf: Arc<csrf::CsrfKey>,
    closing: watch::Receiver<bool>,
    public_url: Option<Arc<str>>,
    trusted_proxies: Arc<TrustedProxies>,
}

impl AppState {
    /// Resolves when shutdown begins.
    fn closing(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut closing = self.closing.clone();
        async move {
            let _ = closing.wait_for(|c| *c).await;
        }
    }
}

pub fn router(app: Arc<App>, config: WebConfig) -> Router {
    let state = AppState {
        app,
        csrf: Arc::new(csrf::CsrfKey::new(&config.csrf_key)),
        closing: config.closing,
        public_url: config.public_url.map(Arc::from),
        trusted_proxies: Arc::new(config.trusted_proxies),
    };
    Router::new()
        .edge_route("/healthz", get(api::healthz))
        .edge_route("/readyz", get(api::readyz))
        .edge_route("/api/v1/openapi.json", get(openapi::serve))
        .merge(api::routes())
        .merge(ui::routes())
        .fallback(not_found.layer(EdgeLayer::new("(no route)")))
        .method_not_allowed_fallback(method_not_allowed.layer(EdgeLayer::new("(method not allowed)")))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// The API's addresses answer in JSON; every other address is the owner's
/// web UI, which answers with a page.
fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path == "/api" || path == "/healthz" || path == "/readyz"
}

async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    if is_api(uri.path()) { api::not_found().await.into_response() } else { ui::not_found_page() }
}

async fn method_not_allowed(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    if is_api(uri.path()) { api::method_not_allowed().await.into_response() } else { ui::not_found_page() }
}
