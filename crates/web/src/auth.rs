//! Who is calling: `Authorization: Bearer <token>`, checked on every
//! request but `/healthz`, `/readyz` and the OpenAPI document.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use keyward_app::TokenInfo;
use keyward_core::{Actor, Scope};

use crate::AppState;
use crate::error::ApiError;

pub struct Caller(pub std::sync::Arc<TokenInfo>);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header =
            parts.headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or_else(ApiError::unauthorized)?;
        let secret = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(ApiError::unauthorized)?
            .trim();
        let token = state.app.tokens.authenticate(secret).await?.ok_or_else(ApiError::unauthorized)?;
        Ok(Self(token))
    }
}

/// What a request needs of its caller's scope.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Reading: admin or read.
    Read,
    /// Changing anything: admin.
    Admin,
    /// Typing a code at a device: admin or device.
    Device,
}

impl Caller {
    /// Checks the scope, and that a home-bound token stays in its home.
    pub fn require(&self, need: Need, home_id: Option<&str>) -> Result<(), ApiError> {
        let scope_ok = matches!(
            (need, self.0.scope),
            (_, Scope::Admin) | (Need::Read, Scope::Read) | (Need::Device, Scope::Device)
        );
        let home_ok = home_id.is_none_or(|h| self.0.may_access_home(h));
        if scope_ok && home_ok { Ok(()) } else { Err(ApiError::forbidden()) }
    }

    /// Network devices belong to the installation, not to a home: binding
    /// one needs an admin token bound to no home.
    pub fn require_installation(&self) -> Result<(), ApiError> {
        if self.0.scope == Scope::Admin && self.0.home_id.is_none() {
            Ok(())
        } else {
            Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "forbidden",
                "binding a network device needs an admin token that is not bound to a home",
            ))
        }
    }

    /// The home a token is bound to, if any.
    pub fn home(&self) -> Option<&str> {
        self.0.home_id.as_deref()
    }

    pub fn is_admin(&self) -> bool {
        self.0.scope == Scope::Admin
    }

    /// How the activity log names this caller.
    pub fn actor(&self) -> Actor {
        Actor::Token(self.0.name.clone())
    }
}
