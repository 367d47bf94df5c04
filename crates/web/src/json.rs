//! JSON request bodies. A handler takes the raw body as a [`JsonBody`] and
//! parses it only after it has authorized the caller, so a caller without
//! the right learns nothing from how its body would have been judged. A body
//! that does not parse gets a clear error that names the field but never
//! repeats its value.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub struct JsonBody(Bytes);

impl JsonBody {
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse(&self.0)
    }
}

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is over 64 KiB")
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "body_unreadable", "the request body could not be read")
            }
        })?;
        Ok(Self(bytes))
    }
}

pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        refusal(&path, e.into_inner())
    })?;
    de.end().map_err(|e| refusal(".", e))?;
    Ok(value)
}

fn refusal(path: &str, inner: serde_json::Error) -> ApiError {
    if inner.is_syntax() || inner.is_eof() {
        // Syntax messages give a line and column, never a value.
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not valid JSON: {inner}"),
        );
    }
    // serde's own messages may quote the offending value ("invalid type:
    // integer `4719`"), so only the field is named.
    let text = inner.to_string();
    let message = match text.strip_prefix("missing field `") {
        Some(rest) => {
            let field = rest.split('`').next().unwrap_or_default();
            if path == "." { format!("`{field}` is required") } else { format!("`{path}.{field}` is required") }
        }
        None if path == "." => "the body must be a JSON object of the documented shape".to_owned(),
        None => format!("`{path}` has the wrong type or a value that is not allowed"),
    };
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Probe {
        code: String,
        n: Option<u8>,
    }

    #[test]
    fn errors_name_the_field_and_never_the_value() {
        let e = parse::<Probe>(br#"{"code": 4719}"#).expect_err("wrong type");
        assert_eq!((e.status, e.code), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"));
        assert!(e.message.contains("`code`") && !e.message.contains("4719"), "{}", e.message);
        let e = parse::<Probe>(br#"{"n": 1}"#).expect_err("missing");
        assert_eq!(e.message, "`code` is required");
        let e = parse::<Probe>(br#"{"code": "4719""#).expect_err("eof");
        assert_eq!((e.status, e.code), (StatusCode::BAD_REQUEST, "malformed_json"));
        assert!(!e.message.contains("4719"));
        let e = parse::<Probe>(br#"{"code": "4719"} x"#).expect_err("trailing");
        assert_eq!(e.code, "malformed_json");
        assert!(parse::<Probe>(br#"{"code": "4719", "unknown": [1]}"#).is_ok(), "unknown fields are ignored");
    }
}
