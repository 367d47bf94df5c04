//! Why a page could not be shown or a form could not be saved, as one type:
//! handlers return [`PageResult`] and use `?`, and every failure becomes a
//! page in plain words with the right status (never the API's JSON, never
//! a bare text body, never a secret).

use askama::Template;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use keyward_app::AppError;

use super::{Message, first_upper, page};

/// What a UI handler answers: its page, or why not.
pub type PageResult = Result<Response, PageError>;

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// The application refused or failed; worded from the API's sentence.
    #[error(transparent)]
    App(#[from] AppError),
    /// A form without a valid CSRF token: nothing changed.
    #[error("the form's token is missing or does not match")]
    FormExpired { back: String },
    /// A form whose fields could not be read (not sent by keyward's pages,
    /// or larger than any of them): `status` is the reader's (400, 413, 415).
    #[error("the form could not be read")]
    UnreadableForm { back: String, status: StatusCode },
    /// An address that names nothing (a deleted share link, a mistyped id).
    #[error("there is no page at this address")]
    NotFound,
    /// An owner's invitation link that was used already or has expired.
    #[error("the invitation is not valid")]
    InviteInvalid,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            Self::App(e) => app_failure(e),
            Self::FormExpired { back } => shown(
                StatusCode::FORBIDDEN,
                &Message {
                    title: "This form has expired",
                    message: "Nothing was changed. Go back, reload the page and try again.",
                    link: &back,
                },
            ),
            Self::UnreadableForm { back, status } => shown(
                status,
                &Message {
                    title: "This form could not be read",
                    message: "Nothing was changed. Go back, reload the page and fill it in again.",
                    link: &back,
                },
            ),
            Self::NotFound => shown(
                StatusCode::NOT_FOUND,
                &Message {
                    title: "Page not found",
                    message: "There is no page at this address. The link may be mistyped, or what it showed was deleted.",
                    link: "/users",
                },
            ),
            Self::InviteInvalid => shown(
                StatusCode::NOT_FOUND,
                &Message {
                    title: "This invitation is not valid",
                    message: "It was used already or has expired. Ask an owner for a new one.",
                    link: "/login",
                },
            ),
        }
    }
}

fn shown(status: StatusCode, message: &impl Template) -> Response {
    (status, page(message)).into_response()
}

/// A refusal or failure of the application: the status and the sentence
/// the API would give, and for a server fault only that nothing changed.
fn app_failure(e: AppError) -> Response {
    let gone = match &e {
        AppError::UserNotFound => Some("This person is no longer in keyward: they were deleted, or the link is wrong."),
        AppError::LockNotFound => Some("This lock is no longer in keyward: it was removed, or the link is wrong."),
        AppError::ChannelNotFound => Some("This alert channel no longer exists: it was removed, or the link is wrong."),
        _ => None,
    };
    if let Some(message) = gone {
        return shown(StatusCode::NOT_FOUND, &Message { title: "Not found", message, link: "/users" });
    }
    let error = crate::ApiError::from(e);
    let title = match error.status.as_u16() {
        404 => "Not found",
        503 => "keyward is busy",
        500.. => "Something went wrong",
        _ => "This cannot be done",
    };
    let message = if error.status.is_server_error() && error.status != StatusCode::SERVICE_UNAVAILABLE {
        "keyward could not complete this. Nothing was changed; try again, and if it keeps failing, look at the hub's log.".to_owned()
    } else {
        first_upper(&error.message)
    };
    let mut response = shown(error.status, &Message { title, message: &message, link: "/users" });
    if error.status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(response: Response) -> (StatusCode, String, String) {
        let status = response.status();
        let kind = response
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap_or_default();
        (status, kind, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn every_failure_is_a_page_in_words_with_its_status() {
        let cases = [
            (PageError::FormExpired { back: "/alerts".into() }, 403, "This form has expired"),
            (
                PageError::UnreadableForm { back: "/locks".into(), status: StatusCode::UNSUPPORTED_MEDIA_TYPE },
                415,
                "This form could not be read",
            ),
            (PageError::NotFound, 404, "Page not found"),
            (PageError::InviteInvalid, 404, "This invitation is not valid"),
            (PageError::App(AppError::UserNotFound), 404, "no longer in keyward"),
            (PageError::App(AppError::LockNameTaken), 409, "This cannot be done"),
        ];
        for (error, status, words) in cases {
            let (got, kind, body) = body_of(error.into_response()).await;
            assert_eq!(got.as_u16(), status, "{body}");
            assert!(kind.starts_with("text/html"), "{kind}");
            assert!(body.contains(words), "{words:?} not in {body}");
            assert!(!body.contains("\"code\""), "the API's JSON leaked into a page: {body}");
        }
    }

    #[tokio::test]
    async fn a_server_fault_says_only_that_nothing_changed() {
        let fault = AppError::Store(keyward_app::StoreError::Database("disk full at /secret/path".into()));
        let (status, _, body) = body_of(PageError::App(fault).into_response()).await;
        assert!(status.is_server_error());
        assert!(!body.contains("/secret/path"), "{body}");
        let (status, _, body) = body_of(PageError::App(AppError::Busy).into_response()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    }
}
