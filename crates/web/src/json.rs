//! JSON request bodies. A handler takes the raw body as a [`JsonBody`] and
//! parses it only after it has authorized the caller, so a caller without
//! the right learns nothing from how its body would have been judged. A body
//! that does not parse gets a clear error that names the field but never
//! repeats its value.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::{DeserializeOwned, DeserializeSeed};

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
    // Without a `[` there is no list to check (an access attempt's body, on
    // the hot path, never has one).
    if bytes.contains(&b'[') {
        check_shape(bytes)?;
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        refusal(&path, e.into_inner())
    })?;
    de.end().map_err(|e| refusal(".", e))?;
    Ok(value)
}

/// The fields whose value is a list; every other value that is a list is
/// refused. (serde would read a list as the fields of a struct in order,
/// which the schema does not allow, and unknown fields are refused anyway.)
const LIST_FIELDS: &[&str] = &["locks", "windows", "visits", "days", "channels", "modes"];

/// Checks that lists stand only where the schema has them, and that the
/// body is an object, without keeping any value (a code stays only in the
/// typed, zeroizing request).
fn check_shape(bytes: &[u8]) -> Result<(), ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match Shape::Body.deserialize(&mut de) {
        Ok(()) => Ok(()),
        Err(e) if e.is_syntax() || e.is_eof() => Err(refusal(".", e)),
        Err(e) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", e.to_string())),
    }
}

/// Where a value stands, for [`check_shape`].
#[derive(Clone, Copy)]
enum Shape {
    /// The whole body: an object.
    Body,
    /// The value of a field that may be a list.
    List,
    /// The value of any other field (named when it is one of the API's):
    /// anything but a list.
    Field(Option<&'static str>),
    /// An item of a list: anything but a list.
    Item,
}

impl<'de> serde::de::DeserializeSeed<'de> for Shape {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Shape {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.not_body()
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        self.not_body()
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        self.not_body()
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.not_body()
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        self.not_body()
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.not_body()
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        match self {
            Self::List => {
                while items.next_element_seed(Self::Item)?.is_some() {}
                Ok(())
            }
            Self::Body => Err(serde::de::Error::custom("the body must be a JSON object of the documented shape")),
            Self::Field(Some(field)) => Err(serde::de::Error::custom(format!("`{field}` must not be a list"))),
            Self::Field(None) => Err(serde::de::Error::custom("a field that is not documented holds a list")),
            Self::Item => Err(serde::de::Error::custom("a list may not hold lists")),
        }
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut fields: A) -> Result<(), A::Error> {
        while let Some(key) = fields.next_key::<std::borrow::Cow<'de, str>>()? {
            let list = LIST_FIELDS.iter().find(|f| **f == key);
            let name = known_field(&key);
            fields.next_value_seed(if list.is_some() { Self::List } else { Self::Field(name) })?;
        }
        Ok(())
    }
}

impl Shape {
    fn not_body<E: serde::de::Error>(self) -> Result<(), E> {
        match self {
            Self::Body => Err(E::custom("the body must be a JSON object of the documented shape")),
            _ => Ok(()),
        }
    }
}

/// A field name of the API, to name in a refusal (an unknown key is never
/// repeated: it could be anything).
fn known_field(key: &str) -> Option<&'static str> {
    const FIELDS: &[&str] = &[
        "name",
        "timezone",
        "code_policy",
        "lockout",
        "min_length",
        "max_length",
        "reject_weak",
        "max_attempts",
        "window_seconds",
        "lockout_seconds",
        "code",
        "kind",
        "panel",
        "arm",
        "disarm",
        "schedule",
        "modes",
        "entry_delay",
        "bypassable",
        "exit_delay",
        "siren_time",
        "abort_window",
        "swinger_limit",
        "arm_without_code",
        "cp01",
        "settings",
        "mode",
        "force",
        "always",
        "start",
        "end",
        "valid_from",
        "valid_until",
        "max_uses",
        "notify",
        "arrive",
        "leave",
        "enabled",
        "device",
        "action",
        "user_id",
        "at",
        "channels",
        "hours",
        "no_show",
        "by",
        "url",
        "to",
        "topic",
        "token",
        "emergency",
        "quiet_hours",
        "contact",
        "email",
        "phone",
        "days",
        "send_to_contact",
        "every_weeks",
        "from",
        "date",
    ];
    FIELDS.iter().find(|f| **f == key).copied()
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
        let e = parse::<Probe>(br#"{"code": ["4719"]}"#).expect_err("a list for a string");
        assert_eq!(e.code, "invalid_request");
        assert!(e.message.starts_with("`code` must not be a list") && !e.message.contains("4719"), "{}", e.message);
        assert_eq!(parse::<Probe>(br#"["4719", 1]"#).expect_err("a list for the body").code, "invalid_request");
        assert!(parse::<Probe>(br#"{"code": "4719", "locks": ["a"]}"#).is_ok());
        assert!(parse::<Probe>(br#"{"code": "4719", "locks": [["a"]]}"#).is_err(), "no lists in lists");
    }
}
