//! The visitor's page: what a shared link shows. Opening the link (GET)
//! shows only a button, so link previews and mail scanners that fetch it
//! neither use it up nor see a code; the button (POST) opens it and binds it
//! to this browser with a cookie of its own.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use keyward_app::shares::{ShareRefused, VisitorAccess};
use keyward_core::Bound;

use super::web::{cookie, path_cookie};
use super::{PageResult, no_store, page, summary};
use crate::AppState;

#[derive(Template)]
#[template(path = "share.html")]
struct SharePage<'a> {
    action: &'a str,
    access: Option<Shown>,
    /// Why the link shows nothing: a title and a sentence.
    refused: Option<(&'static str, &'static str)>,
}

/// The visitor's access, in words, and until when their page opens.
struct Shown {
    card: VisitorCard,
    link_until: String,
}

impl Shown {
    fn of(a: VisitorAccess) -> Self {
        let link_until = a.tz.to_datetime(a.link_expires_at).strftime("%a %-d %b %Y, %H:%M").to_string();
        let card = VisitorCard {
            dates: dates_words(&a.tz, a.valid_from, a.valid_until),
            panel: panel_words(a.panel),
            hours: summary::schedule(&a.schedule),
            zone: a.tz.iana_name().unwrap_or("the home's").to_owned(),
            uses: uses_words(a.uses_left),
            home: a.home,
            name: a.name,
            code: CardCode::Shown(a.code),
            doors: a.doors,
            enabled: a.enabled,
        };
        Self { card, link_until }
    }
}

/// A person's access as the visitor's page shows it (`visitor_card.html`):
/// on a shared link, and as the live preview beside the owner's form.
pub(super) struct VisitorCard {
    pub home: String,
    pub name: String,
    pub code: CardCode,
    pub doors: Vec<String>,
    pub panel: Option<&'static str>,
    pub hours: Vec<String>,
    pub zone: String,
    pub dates: Option<String>,
    pub uses: Option<String>,
    pub enabled: bool,
}

/// The code on the card: the visitor's own, or (on the owner's preview)
/// why there is none to show yet.
pub(super) enum CardCode {
    Shown(zeroize::Zeroizing<String>),
    Missing(&'static str),
}

/// "From Fri 4 Dec 2026 until Sun 6 Dec 2026 (the last day)": days as the
/// owner gave them ("the last day" included); instants to the minute, the
/// end exclusive.
pub(super) fn dates_words(tz: &jiff::tz::TimeZone, from: Option<Bound>, until: Option<Bound>) -> Option<String> {
    let at = |t: Timestamp| tz.to_datetime(t).strftime("%a %-d %b %Y, %H:%M").to_string();
    let day = |d: jiff::civil::Date| d.strftime("%a %-d %b %Y").to_string();
    let start = |b: Bound| match b {
        Bound::Day(d) => day(d),
        Bound::At(t) => at(t),
    };
    let end = |b: Bound| match b {
        Bound::Day(d) => format!("{} (the last day)", day(d)),
        Bound::At(t) => at(t),
    };
    match (from, until) {
        (Some(from), Some(until)) => Some(format!("From {} until {}", start(from), end(until))),
        (Some(from), None) => Some(format!("From {}", start(from))),
        (None, Some(until)) => Some(format!("Until {}", end(until))),
        (None, None) => None,
    }
}

pub(super) fn panel_words(panel: keyward_core::PanelPermissions) -> Option<&'static str> {
    match (panel.disarm, panel.arm) {
        (true, true) => Some("Disarm and arm at the keypad"),
        (true, false) => Some("Disarm at the keypad"),
        (false, true) => Some("Arm at the keypad"),
        (false, false) => None,
    }
}

pub(super) fn uses_words(left: Option<u32>) -> Option<String> {
    left.map(|n| if n == 1 { "1 use left".to_owned() } else { format!("{n} uses left") })
}

/// The cookie that lets the browser that opened a link open it again.
fn browser_cookie(share_id: &str) -> String {
    format!("kw_share_{share_id}")
}

/// Kept out of caches, and out of other sites' logs by the Referrer-Policy.
fn private(response: Response) -> Response {
    let mut response = no_store(response);
    response.headers_mut().insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

pub async fn ask(Path(token): Path<String>) -> Response {
    private(page(&SharePage { action: &format!("/share/{token}"), access: None, refused: None }))
}

pub async fn open(State(s): State<AppState>, headers: HeaderMap, Path(token): Path<String>) -> PageResult {
    let opened = s.app.shares.open(&token, |share_id| cookie(&headers, &browser_cookie(share_id)).map(str::to_owned));
    Ok(match opened.await? {
        Ok(opened) => {
            let shown = Some(Shown::of(opened.access));
            let mut response = private(page(&SharePage { action: "", access: shown, refused: None }));
            if let Some(value) = opened.new_browser {
                let name = browser_cookie(&opened.share_id);
                if let Some(header) = path_cookie(&headers, &name, &value, "/share", opened.browser_seconds) {
                    response.headers_mut().append(axum::http::header::SET_COOKIE, header);
                }
            }
            response
        }
        Err(refused) => {
            let (status, words) = match refused {
                ShareRefused::NotValid => (
                    StatusCode::NOT_FOUND,
                    (
                        "This link does not work",
                        "It has expired or was withdrawn. Ask the person who sent it for a new one.",
                    ),
                ),
                ShareRefused::OpenedElsewhere => (
                    StatusCode::FORBIDDEN,
                    (
                        "This link was already opened",
                        "It works only in the browser it was first opened in. Open it there, or ask the person who sent it for a new one.",
                    ),
                ),
            };
            private((status, page(&SharePage { action: "", access: None, refused: Some(words) })).into_response())
        }
    })
}
