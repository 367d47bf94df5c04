//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::api;

#[derive(OpenApi)]
#[openapi(
    info(title = "keyward", description = "A self-hosted access hub for the home: users with unique codes, schedules, and an activity log of every attempt."),
    paths(
        api::healthz,
        api::list_homes, api::create_home, api::get_home, api::update_home,
        api::list_locks, api::create_lock, api::get_lock, api::rename_lock, api::delete_lock,
        api::list_users, api::create_user, api::get_user, api::update_user, api::delete_user, api::reveal_code,
        api::access, api::preview, api::activity,
    ),
    modifiers(&BearerAuth),
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(
                "A token from `keyward token create`. Scopes: admin (everything), read (GET and previews by user), device (access only).",
            )).build()),
        );
    }
}

pub fn openapi_json() -> String {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.to_pretty_json().unwrap_or_else(|_| "{}".to_owned())
}

pub async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], openapi_json())
}
