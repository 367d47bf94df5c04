//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::api;

mod contract;

#[derive(OpenApi)]
#[openapi(
    info(title = "keyward", description = "A self-hosted access hub for the home: users with unique codes, schedules, and an activity log of every attempt."),
    paths(
        api::healthz,
        api::readyz,
        api::list_homes, api::create_home, api::get_home, api::update_home,
        api::list_devices, api::retry_user_codes, api::lock_lock, api::unlock_lock, api::take_over_slot, api::list_locks, api::create_lock, api::get_lock, api::rename_lock, api::delete_lock,
        api::list_users, api::create_user, api::get_user, api::update_user, api::delete_user, api::reveal_code,
        api::create_share, api::list_shares, api::revoke_share,
        api::get_panel, api::update_panel, api::arm_panel, api::disarm_panel,
        api::list_sensors, api::create_sensor, api::get_sensor, api::update_sensor, api::delete_sensor,
        api::list_sirens, api::create_siren, api::get_siren, api::update_siren, api::delete_siren,
        api::access, api::preview, api::activity,
        api::list_channels, api::create_channel, api::patch_channel, api::delete_channel, api::test_channel, api::channel_deliveries,
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

/// The document: derived from the handlers, then completed (`contract`).
pub fn openapi_json() -> String {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let Ok(mut value) = serde_json::to_value(&doc) else { return "{}".to_owned() };
    contract::apply(&mut value);
    serde_json::to_string_pretty(&value).unwrap_or_else(|_| "{}".to_owned())
}

pub async fn serve() -> impl IntoResponse {
    // Built once: the time zone list alone is a few hundred names.
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT.get_or_init(openapi_json).as_str())
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    #[test]
    fn every_operation_declares_its_path_parameters_and_its_errors() {
        let doc: Value = serde_json::from_str(&super::openapi_json()).expect("JSON");
        let paths = doc["paths"].as_object().expect("paths");
        for (path, item) in paths {
            for (method, op) in item.as_object().expect("an item") {
                let declared: Vec<&str> = op["parameters"]
                    .as_array()
                    .map(|ps| ps.iter().filter(|p| p["in"] == "path").filter_map(|p| p["name"].as_str()).collect())
                    .unwrap_or_default();
                for name in path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')) {
                    assert!(declared.contains(&name), "{method} {path}: {name} is not declared");
                }
                if !path.starts_with("/api/v1/homes") {
                    continue;
                }
                let responses = op["responses"].as_object().expect("responses");
                for status in ["401", "403", "404"] {
                    assert!(responses.contains_key(status), "{method} {path}: no {status}");
                }
                if op.get("requestBody").is_some() {
                    for status in ["400", "413", "422"] {
                        assert!(responses.contains_key(status), "{method} {path}: no {status}");
                    }
                }
                for (status, response) in responses.iter().filter(|(s, _)| s.starts_with('4')) {
                    let schema = &response["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(schema, "#/components/schemas/ErrorBody", "{method} {path} {status}");
                }
            }
        }
    }

    #[test]
    fn request_schemas_carry_the_server_rules() {
        let doc: Value = serde_json::from_str(&super::openapi_json()).expect("JSON");
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["Name"]["maxLength"], 64);
        assert_eq!(schemas["Name"]["pattern"], keyward_core::Name::pattern());
        assert_eq!(schemas["Code"]["pattern"], "^[0-9]{4,8}$");
        assert_eq!(schemas["Instant"]["pattern"], keyward_core::instant::PATTERN);
        let zones = schemas["TimeZone"]["enum"].as_array().expect("an enum");
        assert!(zones.iter().any(|z| z == "Europe/Berlin") && !zones.iter().any(|z| z == "europe/berlin"));
        for body in [
            "CreateHome",
            "PatchHome",
            "CreateLock",
            "PatchLock",
            "CreateUser",
            "PatchUser",
            "AccessRequest",
            "PreviewRequest",
        ] {
            assert_eq!(schemas[body]["additionalProperties"], false, "{body} takes no unknown fields");
        }
        assert_eq!(schemas["CreateUser"]["required"], serde_json::json!(["name", "code"]));
    }
}
