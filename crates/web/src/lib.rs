//! Keyward's HTTP surface: the JSON API under `/api/v1`, its OpenAPI
//! document (generated from the handlers below), and `/healthz`.
//!
//! Every handler authorizes its caller first (`auth`), parses its input once
//! at the edge (`json`), calls one use case of the [`keyward_app::Hub`], and
//! maps a refusal to HTTP in one place (`error`).

mod api;
mod auth;
mod dto;
mod error;
mod json;
mod openapi;
mod ui;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use keyward_app::Hub;

pub use error::ApiError;
pub use openapi::openapi_json;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub hub: Arc<Hub>,
}

pub fn router(hub: Arc<Hub>) -> Router {
    let state = AppState { hub };
    Router::new()
        .route("/healthz", get(api::healthz))
        .route("/api/v1/openapi.json", get(openapi::serve))
        .merge(api::routes())
        .merge(ui::routes())
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response(ui::headers::add))
        .with_state(state)
}
