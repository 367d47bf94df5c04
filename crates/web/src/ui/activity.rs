//! The activity page: the log, filters, CSV download, and live rows.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use jiff::tz::TimeZone;
use keyward_app::{ActivityQuery, AppError, HomeView};
use keyward_core::{DenyReason, ZoneName};
use keyward_store::ActivityRow;
use serde::{Deserialize, Serialize};

use super::page;
use super::web::{Csrf, SignedIn};
use crate::AppState;

#[derive(Deserialize, Default, Clone)]
pub struct Filters {
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    device: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    cursor: String,
}

impl Filters {
    fn query(&self, tz: &TimeZone, cursor: Option<String>, limit: i64) -> ActivityQuery {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let day = self.date.parse::<jiff::civil::Date>().ok();
        let start = |d: jiff::civil::Date| d.to_zoned_datetime(tz.clone()).ok().map(|z| z.timestamp());
        ActivityQuery {
            user_id: some(&self.user_id),
            device: some(&self.device),
            outcome: some(&self.outcome),
            since: day.and_then(start),
            until: day.and_then(|d| d.tomorrow().ok()).and_then(start),
            limit: Some(limit),
            cursor,
        }
    }

    fn url_query(&self, cursor: Option<&str>) -> String {
        let mut pairs: Vec<(&str, &str)> = vec![
            ("user_id", &self.user_id),
            ("device", &self.device),
            ("outcome", &self.outcome),
            ("date", &self.date),
        ];
        if let Some(cursor) = cursor {
            pairs.push(("cursor", cursor));
        }
        pairs
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", percent(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    fn is_empty(&self) -> bool {
        self.user_id.is_empty()
            && self.device.is_empty()
            && self.outcome.is_empty()
            && self.date.is_empty()
            && self.cursor.is_empty()
    }
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// An entry in words, as the page and the live stream show it.
#[derive(Serialize)]
pub struct Line {
    at: String,
    event: &'static str,
    who: String,
    place: String,
    detail: String,
    class: &'static str,
}

fn event_words(kind: &str) -> &'static str {
    match kind {
        "arrival" => "Arrived",
        "departure" => "Left",
        "access_denied" => "Refused",
        "lockout" => "Locked out after wrong codes",
        "code_revealed" => "Code revealed",
        "user_created" => "User added",
        "user_updated" => "User changed",
        "user_deleted" => "User deleted",
        _ => "Event",
    }
}

fn reason_words(reason: &str) -> &'static str {
    match DenyReason::parse(reason) {
        Some(DenyReason::LockedOut) => "keypad locked out",
        Some(DenyReason::UnknownCode) => "unknown code",
        Some(DenyReason::Disabled) => "user disabled",
        Some(DenyReason::NotYetValid) => "not valid yet",
        Some(DenyReason::Expired) => "no longer valid",
        Some(DenyReason::UsesExhausted) => "no uses left",
        Some(DenyReason::NotPermitted) => "no access to this",
        Some(DenyReason::OutsideSchedule) => "outside their times",
        None => "",
    }
}

fn action_words(action: &str) -> &'static str {
    match action {
        "unlock" => "unlock",
        "disarm" => "disarm",
        "arm_away" => "arm away",
        "arm_stay" => "arm stay",
        _ => "",
    }
}

pub struct Names {
    tz: TimeZone,
    devices: HashMap<String, String>,
}

impl Names {
    pub fn line(&self, row: &ActivityRow) -> Line {
        let at =
            self.tz.to_datetime(keyward_app::micros_to_timestamp(row.at)).strftime("%a %-d %b %H:%M:%S").to_string();
        let place = match (&row.device, &row.action) {
            (Some(device), Some(action)) => {
                let name = self.devices.get(device).cloned().unwrap_or_else(|| "A removed lock".to_owned());
                format!("{name} ({})", action_words(action))
            }
            _ => String::new(),
        };
        let who = match (&row.user_name, row.kind.as_str()) {
            (Some(name), _) => name.clone(),
            (None, "lockout") => String::new(),
            (None, _) => "Unknown code".to_owned(),
        };
        let detail = match (&row.reason, &row.actor) {
            (Some(reason), _) => reason_words(reason).to_owned(),
            (None, Some(actor)) => format!("by {}", actor.trim_start_matches("owner:").trim_start_matches("token:")),
            (None, None) => String::new(),
        };
        let class = if row.outcome.as_deref() == Some("denied") || row.kind == "lockout" { "denied" } else { "" };
        Line { at, event: event_words(&row.kind), who, place, detail, class }
    }
}

async fn context(s: &AppState) -> Result<(HomeView, Names, Vec<(String, String)>, Vec<(String, String)>), AppError> {
    let home = super::first_home(s).await?;
    let zone = ZoneName::parse(&home.timezone)?;
    let mut devices: Vec<(String, String)> = vec![("panel".to_owned(), "Alarm panel".to_owned())];
    devices.extend(s.hub.list_locks(&home.id).await?.into_iter().map(|l| (l.id, l.name)));
    let users = s.hub.list_users(&home.id).await?.into_iter().map(|u| (u.id, u.name)).collect();
    let names = Names { tz: zone.tz().clone(), devices: devices.iter().cloned().collect() };
    Ok((home, names, devices, users))
}

#[derive(Template)]
#[template(path = "activity.html")]
struct ActivityPage<'a> {
    active: &'a str,
    csrf: &'a str,
    email: &'a str,
    timezone: String,
    users: Vec<(String, String)>,
    devices: Vec<(String, String)>,
    filter_user: String,
    filter_device: String,
    filter_outcome: String,
    filter_date: String,
    query: String,
    rows: Vec<Line>,
    next: Option<String>,
    live: bool,
}

pub async fn page_view(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    csrf: Csrf,
    Query(filters): Query<Filters>,
) -> Response {
    let result = async {
        let (home, names, devices, users) = context(&s).await?;
        let cursor = (!filters.cursor.is_empty()).then(|| filters.cursor.clone());
        let query = filters.query(&names.tz, cursor, 100);
        let page = s.hub.activity(&home.id, query).await?.map_err(|_| AppError::HomeNotFound)?;
        Ok::<_, AppError>(ActivityPage {
            active: "activity",
            csrf: &csrf.token,
            email: &owner.email,
            timezone: home.timezone,
            users,
            devices,
            filter_user: filters.user_id.clone(),
            filter_device: filters.device.clone(),
            filter_outcome: filters.outcome.clone(),
            filter_date: filters.date.clone(),
            query: filters.url_query(None),
            rows: page.items.iter().map(|item| names.line(&item.row)).collect(),
            next: page.next_cursor.map(|c| filters.url_query(Some(&c))),
            live: filters.is_empty(),
        })
    }
    .await;
    match result {
        Ok(view) => csrf.attach(page(&view)),
        Err(e) => super::failed(e),
    }
}

/// Every entry that matches the filters, as CSV (at most 100,000 rows).
pub async fn csv(State(s): State<AppState>, SignedIn(_): SignedIn, Query(filters): Query<Filters>) -> Response {
    let result = async {
        let (home, names, _, _) = context(&s).await?;
        let mut out = String::from("time,local time,event,user,device,action,outcome,reason,by\n");
        let mut cursor = None;
        for _ in 0..200 {
            let page = s
                .hub
                .activity(&home.id, filters.query(&names.tz, cursor, 500))
                .await?
                .map_err(|_| AppError::HomeNotFound)?;
            for item in &page.items {
                let (r, line) = (&item.row, names.line(&item.row));
                let fields = [
                    item.at.to_string(),
                    line.at,
                    r.kind.clone(),
                    r.user_name.clone().unwrap_or_default(),
                    r.device.as_ref().and_then(|d| names.devices.get(d).cloned()).unwrap_or_default(),
                    r.action.clone().unwrap_or_default(),
                    r.outcome.clone().unwrap_or_default(),
                    r.reason.clone().unwrap_or_default(),
                    r.actor.clone().unwrap_or_default(),
                ];
                out.push_str(&fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
                out.push('\n');
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok::<_, AppError>(out)
    }
    .await;
    match result {
        Ok(body) => (
            [
                (CONTENT_TYPE, "text/csv; charset=utf-8"),
                (CONTENT_DISPOSITION, "attachment; filename=\"keyward-activity.csv\""),
            ],
            body,
        )
            .into_response(),
        Err(e) => super::failed(e),
    }
}

/// Quotes a CSV field, and defuses text a spreadsheet would run as a formula.
fn csv_field(text: &str) -> String {
    let defused = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_owned() };
    format!("\"{}\"", defused.replace('"', "\"\""))
}

/// New entries as server-sent events, formatted like the page's rows.
pub async fn stream(State(s): State<AppState>, SignedIn(_): SignedIn) -> Response {
    let (home, names, _, _) = match context(&s).await {
        Ok(found) => found,
        Err(e) => return super::failed(e),
    };
    let receiver = s.hub.subscribe();
    let closing = Box::pin(s.hub.closing());
    let state = (receiver, names, home.id, closing);
    let events = futures_util::stream::unfold(state, |(mut receiver, names, home_id, mut closing)| async move {
        loop {
            let next = tokio::select! {
                next = receiver.recv() => next,
                () = &mut closing => return None,
            };
            match next {
                Ok(row) if row.home_id == home_id => {
                    let data = serde_json::to_string(&names.line(&row)).unwrap_or_default();
                    return Some((
                        Ok::<_, Infallible>(Event::default().data(data)),
                        (receiver, names, home_id, closing),
                    ));
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("Dog walker"), "\"Dog walker\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
    }
}
