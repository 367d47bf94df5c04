//! A short confirmation carried to the next page ("Dog walker added · code
//! on its way to Front door"): a cookie of a minute that the next page
//! shows once and clears, so a reload does not repeat it and nothing is
//! re-submitted (POST, redirect, GET).

use axum::http::HeaderMap;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Redirect, Response};

use super::web::{cookie, set_cookie};

const FLASH_COOKIE: &str = "kw_flash";
/// Longer messages are cut: a cookie is small, and so is a confirmation.
const MAX_BYTES: usize = 600;

/// Redirects to `to`, carrying `message` to it.
pub fn redirect(headers: &HeaderMap, to: &str, message: &str) -> Response {
    let mut response = Redirect::to(to).into_response();
    let mut end = message.len().min(MAX_BYTES);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    // Hex keeps any name cookie-safe.
    let value: String = message.as_bytes()[..end].iter().map(|b| format!("{b:02x}")).collect();
    response.headers_mut().append(SET_COOKIE, set_cookie(headers, FLASH_COOKIE, &value, "Lax", Some(60)));
    response
}

/// The message waiting for this page, if any.
pub fn take(headers: &HeaderMap) -> Option<String> {
    let hex = cookie(headers, FLASH_COOKIE)?;
    let bytes: Option<Vec<u8>> = (0..hex.len() / 2)
        .map(|i| hex.get(2 * i..2 * i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
        .collect();
    bytes.and_then(|b| String::from_utf8(b).ok()).filter(|m| !m.is_empty())
}

/// Clears the message once a page has shown it.
pub fn shown(headers: &HeaderMap, mut response: Response) -> Response {
    if cookie(headers, FLASH_COOKIE).is_some() {
        response.headers_mut().append(SET_COOKIE, set_cookie(headers, FLASH_COOKIE, "", "Lax", Some(0)));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_goes_round_the_cookie() {
        let response = redirect(&HeaderMap::new(), "/users", "Zoë's walker added · code on its way to Front door");
        let set = response.headers().get(SET_COOKIE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let value = set.split(';').next().unwrap_or_default();
        let mut headers = HeaderMap::new();
        headers.insert(axum::http::header::COOKIE, axum::http::HeaderValue::from_str(value).expect("cookie"));
        assert_eq!(take(&headers).as_deref(), Some("Zoë's walker added · code on its way to Front door"));
    }
}
