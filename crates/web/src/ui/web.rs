//! Cookies, the CSRF token and the signed-in owner, for the HTML pages.

use axum::Form;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use keyward_app::owners::Owner;

use super::PageError;
use crate::AppState;

pub const SESSION_COOKIE: &str = "kw_session";
pub const CSRF_COOKIE: &str = "kw_csrf";
/// Lax, not Strict: a browser that arrives by a link from another site then
/// still sends it, so it is kept, and forms open in other tabs keep working.
/// A forged cross-site POST carries no Lax cookie, and no site but this one
/// can know the form token that goes with it.
pub const CSRF_SAME_SITE: &str = "Lax";

/// Marks a browser an owner signed in from: sign-ins from it are throttled
/// on their own (see `Owners::sign_in`). Sent only to the sign-in form.
pub const DEVICE_COOKIE: &str = "kw_device";
const DEVICE_COOKIE_DAYS: i64 = 365;

pub fn device_cookie(headers: &HeaderMap, secret: &str) -> HeaderValue {
    let secure = if over_tls(headers) { "; Secure" } else { "" };
    let age = DEVICE_COOKIE_DAYS * 24 * 3600;
    let text = format!("{DEVICE_COOKIE}={secret}; Path=/login; HttpOnly; SameSite=Strict; Max-Age={age}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A strict cookie for one part of the site only (a visitor's shared link).
pub fn path_cookie(headers: &HeaderMap, name: &str, value: &str, path: &str, max_age: i64) -> Option<HeaderValue> {
    let secure = if over_tls(headers) { "; Secure" } else { "" };
    let text = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&text).ok()
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Behind a TLS-terminating proxy the cookies are marked Secure.
fn over_tls(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) == Some("https")
}

pub fn set_cookie(headers: &HeaderMap, name: &str, value: &str, same_site: &str, max_age: Option<i64>) -> HeaderValue {
    let secure = if over_tls(headers) { "; Secure" } else { "" };
    let age = max_age.map(|a| format!("; Max-Age={a}")).unwrap_or_default();
    let text = format!("{name}={value}; Path=/; HttpOnly; SameSite={same_site}{secure}{age}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The browser's CSRF cookie (made when missing) and the token its forms carry.
pub struct Csrf {
    pub token: String,
    new_cookie: Option<HeaderValue>,
}

impl FromRequestParts<AppState> for Csrf {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match cookie(&parts.headers, CSRF_COOKIE).filter(|c| c.len() == 64) {
            Some(existing) => Ok(Self { token: state.csrf.token(existing), new_cookie: None }),
            None => {
                let value = keyward_app::secrets::random_hex(32);
                let new_cookie = Some(set_cookie(&parts.headers, CSRF_COOKIE, &value, CSRF_SAME_SITE, None));
                Ok(Self { token: state.csrf.token(&value), new_cookie })
            }
        }
    }
}

impl Csrf {
    /// Adds the cookie to a page's response when it was just made.
    pub fn attach(&self, response: impl IntoResponse) -> Response {
        let mut response = response.into_response();
        if let Some(cookie) = &self.new_cookie {
            response.headers_mut().append(SET_COOKIE, cookie.clone());
        }
        response
    }
}

/// Whether a submitted form's token matches the browser's CSRF cookie.
fn csrf_ok(state: &AppState, headers: &HeaderMap, token: &str) -> bool {
    cookie(headers, CSRF_COOKIE).is_some_and(|c| state.csrf.valid(c, token))
}

/// A form posted from one of keyward's own pages: its `csrf` field matches
/// the browser's CSRF cookie, or the request is refused ("This form has
/// expired", 403) before the handler runs. Handlers take their forms only
/// this way, so a new one cannot forget the check.
pub struct CheckedForm<T>(pub T);

impl<T: serde::de::DeserializeOwned> FromRequest<AppState> for CheckedForm<T> {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let back = back_link(parts.uri.path());
        let unreadable = |status: StatusCode| PageError::UnreadableForm { back: back.clone(), status };
        // Read once (within the router's body limit), then read as fields twice.
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|e| unreadable(e.status()))?;
        let again = |bytes: &Bytes| Request::from_parts(parts.clone(), Body::from(bytes.clone()));
        let Form(fields) = Form::<Vec<(String, String)>>::from_request(again(&bytes), state)
            .await
            .map_err(|e| unreadable(e.status()))?;
        let token = fields.iter().find(|(k, _)| k == "csrf").map_or("", |(_, v)| v.as_str());
        if !csrf_ok(state, &parts.headers, token) {
            return Err(PageError::FormExpired { back });
        }
        let Form(form) = Form::<T>::from_request(again(&bytes), state).await.map_err(|e| unreadable(e.status()))?;
        Ok(Self(form))
    }
}

/// Where "This form has expired" sends the owner back to: the page the form
/// came from, near enough.
fn back_link(path: &str) -> String {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["users", id, "share", ..] => format!("/users/{id}/share"),
        ["invite", ..] | ["login", ..] => "/login".to_owned(),
        ["setup", ..] => "/setup".to_owned(),
        ["logout", ..] => "/users".to_owned(),
        [first, ..] if !first.is_empty() => format!("/{first}"),
        _ => "/".to_owned(),
    }
}

/// The signed-in owner; anyone else is sent to sign in (or to set up).
pub struct SignedIn(pub Owner);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(secret) = cookie(&parts.headers, SESSION_COOKIE)
            && let Ok(Some(owner)) = state.app.owners.session_owner(secret).await
        {
            return Ok(Self(owner));
        }
        let to = if state.app.owners.needs_setup().await.unwrap_or(false) { "/setup" } else { "/login" };
        Err(Redirect::to(to).into_response())
    }
}
