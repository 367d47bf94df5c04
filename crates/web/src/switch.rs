//! One listening address over `App`s that come and go: a hub that lost its
//! hold on the database (PostgreSQL's instance lock) answers every request
//! with 503 until it holds it again and has built a new `App` from the
//! database, then serves that one. The connection limits, request ids and
//! shutdown of `serve` stay with the address; only the routes change.

use std::convert::Infallible;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::future::RouteFuture;
use tower_service::Service;

use crate::dto::Readiness;
use crate::edge::EdgeLayer;
use crate::error::ApiError;

/// The routes requests go to now.
#[derive(Clone)]
pub struct Switch {
    current: Arc<RwLock<Router>>,
}

impl Switch {
    pub fn new(routes: Router) -> Self {
        Self { current: Arc::new(RwLock::new(routes)) }
    }

    /// Requests from now on go to `routes`; those under way finish where
    /// they are.
    pub fn set(&self, routes: Router) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = routes;
    }

    /// The router to serve: it hands each request to the current routes.
    pub fn router(&self) -> Router {
        Router::new().fallback_service(self.clone())
    }
}

impl Service<Request> for Switch {
    type Response = Response;
    type Error = Infallible;
    type Future = RouteFuture<Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let mut routes = self.current.read().unwrap_or_else(PoisonError::into_inner).clone();
        routes.call(request)
    }
}

/// Routes that serve nothing: `/healthz` answers (the process is alive),
/// `/readyz` and the API answer 503 with `reason`, pages say it in words.
// Routes without an `AppState` (there is no `App`), each with the edge
// layer as `edge_route` adds it.
#[allow(clippy::disallowed_methods)]
pub fn unavailable(code: &'static str, reason: &'static str) -> Router {
    use axum::handler::Handler;

    let not_ready = Readiness {
        status: "not_ready",
        networks: Default::default(),
        reason: Some(reason.to_owned()),
        problems: Default::default(),
    };
    let everything = move |uri: axum::http::Uri| async move {
        if crate::is_api(uri.path()) {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, reason).into_response()
        } else {
            crate::ui::unavailable_page(reason)
        }
    };
    Router::new()
        .route("/healthz", axum::routing::get(crate::api::healthz).layer(EdgeLayer::new("/healthz")))
        .route(
            "/readyz",
            axum::routing::get(move || {
                let body = not_ready.clone();
                async move { (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)) }
            })
            .layer(EdgeLayer::new("/readyz")),
        )
        .fallback(everything.layer(EdgeLayer::new("(unavailable)")))
}
