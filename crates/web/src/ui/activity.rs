//! The activity page: the log, filters, CSV download, and live rows.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use jiff::tz::TimeZone;
use keyward_app::{ActivityQuery, AppError, HomeView};
use keyward_core::{Action, ActivityEntry, ActivityKind, DenyReason, Outcome};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::web::{Csrf, SignedIn};
use super::{Frame, PageResult, page};
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
    /// "comings" (codes at the doors and the panel), "devices" (what the
    /// locks report), "changes" (what owners and tokens did); empty: all.
    #[serde(default)]
    kind: String,
    /// "7": the last seven days, today included (instead of one `date`).
    #[serde(default)]
    last: String,
    #[serde(default)]
    cursor: String,
}

/// Which of the page's kinds of entry an entry is.
fn kind_group(kind: ActivityKind) -> &'static str {
    use ActivityKind as K;
    match kind {
        K::Arrival | K::Departure | K::AccessDenied | K::Lockout | K::HomeLockout | K::KeypadGuessing | K::NoShow => {
            "comings"
        }
        K::Unlocked | K::Locked | K::Jammed | K::CodeFailed | K::Offline | K::Online | K::BatteryLow | K::CodesLeft => {
            "devices"
        }
        K::CodeRevealed
        | K::UserCreated
        | K::UserUpdated
        | K::UserDeleted
        | K::ChannelAdded
        | K::ChannelChanged
        | K::ChannelDeleted
        | K::CodeShared
        | K::ShareOpened
        | K::ShareRevoked
        | K::DeliveryFailed => "changes",
        // The alarm is a device of the home's, and what it reports.
        K::Panel | K::Alarm | K::AlarmCancelled | K::Trouble | K::TroubleCleared => "devices",
    }
}

/// The icon of a kind of entry (`.i-…` in `static/app.css`).
fn icon(kind: ActivityKind) -> &'static str {
    use ActivityKind as K;
    match kind {
        K::Arrival | K::Departure => "in",
        K::NoShow => "clock",
        K::AccessDenied | K::Lockout | K::HomeLockout | K::KeypadGuessing => "no",
        K::Unlocked | K::Locked | K::Jammed | K::CodeFailed | K::Offline | K::Online | K::BatteryLow | K::CodesLeft => {
            "lock"
        }
        K::ChannelAdded | K::ChannelChanged | K::ChannelDeleted | K::DeliveryFailed => "bell",
        K::Panel | K::Alarm | K::AlarmCancelled | K::Trouble | K::TroubleCleared => "bell",
        K::CodeRevealed
        | K::UserCreated
        | K::UserUpdated
        | K::UserDeleted
        | K::CodeShared
        | K::ShareOpened
        | K::ShareRevoked => "edit",
    }
}

/// The outcome chip's class, for the entries that have an outcome: colour
/// there only, never on the whole row.
fn chip(kind: ActivityKind) -> &'static str {
    use ActivityKind as K;
    match kind {
        K::Arrival => "ok",
        K::AccessDenied
        | K::Lockout
        | K::HomeLockout
        | K::KeypadGuessing
        | K::Jammed
        | K::CodeFailed
        | K::DeliveryFailed
        | K::CodesLeft
        | K::Alarm => "bad",
        K::Offline | K::BatteryLow | K::NoShow | K::Trouble => "wait",
        K::AlarmCancelled | K::TroubleCleared => "ok",
        _ => "",
    }
}

impl Filters {
    /// The days asked for with `last` (1 to 31), if any.
    fn last_days(&self) -> Option<i64> {
        self.last.parse::<i64>().ok().filter(|n| (1..=31).contains(n))
    }

    fn query(&self, tz: &TimeZone, today: jiff::civil::Date, cursor: Option<String>, limit: i64) -> ActivityQuery {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let day = self.date.parse::<jiff::civil::Date>().ok();
        let start = |d: jiff::civil::Date| d.to_zoned_datetime(tz.clone()).ok().map(|z| z.timestamp());
        // "The last 7 days": from the start of the sixth day before today, on.
        let (first, after) = match (self.last_days(), day) {
            (Some(n), _) => (today.checked_sub(jiff::Span::new().days(n - 1)).ok(), None),
            (None, Some(day)) => (Some(day), day.tomorrow().ok()),
            (None, None) => (None, None),
        };
        ActivityQuery {
            user_id: some(&self.user_id),
            device: some(&self.device),
            outcome: some(&self.outcome),
            since: first.and_then(start),
            until: after.and_then(start),
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
            ("kind", &self.kind),
            ("last", &self.last),
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
            && self.kind.is_empty()
            && self.last.is_empty()
            && self.cursor.is_empty()
    }

    fn wants(&self, entry: &ActivityEntry) -> bool {
        self.kind.is_empty() || kind_group(entry.event.kind) == self.kind
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
    pub at: String,
    /// The time of day alone, for rows grouped by day.
    pub time: String,
    pub event: &'static str,
    pub icon: &'static str,
    /// The outcome chip's class ("ok", "bad", "wait"), or "" for none.
    pub chip: &'static str,
    pub who: String,
    pub place: String,
    pub detail: String,
    pub class: &'static str,
}

/// What happened, in words. The owner sees a duress grant for what it is;
/// only the device was shown an ordinary grant.
fn event_words(kind: ActivityKind, duress: bool) -> &'static str {
    match kind {
        ActivityKind::Arrival if duress => "Arrived under duress",
        ActivityKind::Departure if duress => "Left under duress",
        ActivityKind::Arrival => "Arrived",
        ActivityKind::Departure => "Left",
        ActivityKind::AccessDenied => "Refused",
        ActivityKind::Lockout => "Locked out after wrong codes",
        ActivityKind::HomeLockout => "Every keypad and lock locked out after wrong codes across the home",
        ActivityKind::KeypadGuessing => "Someone is guessing codes at the lock's keypad",
        ActivityKind::CodeRevealed => "Code revealed",
        ActivityKind::UserCreated => "User added",
        ActivityKind::UserUpdated => "User changed",
        ActivityKind::UserDeleted => "User deleted",
        ActivityKind::Unlocked => "Unlocked",
        ActivityKind::Locked => "Locked",
        ActivityKind::Jammed => "Jammed",
        ActivityKind::NoShow => "Has not arrived by this time",
        ActivityKind::CodeFailed => "Code could not be put on the lock",
        ActivityKind::Offline => "Stopped answering",
        ActivityKind::Online => "Answers again",
        ActivityKind::BatteryLow => "Battery low",
        ActivityKind::CodesLeft => "Removed with codes still on it",
        ActivityKind::ChannelAdded => "Alert channel added",
        ActivityKind::ChannelChanged => "Alert channel changed",
        ActivityKind::ChannelDeleted => "Alert channel removed",
        ActivityKind::CodeShared => "Code shared by link",
        ActivityKind::ShareOpened => "Shared link opened",
        ActivityKind::ShareRevoked => "Shared link revoked",
        ActivityKind::DeliveryFailed => "Alert could not be delivered",
        ActivityKind::Panel => "Alarm panel",
        ActivityKind::Alarm => "ALARM",
        ActivityKind::AlarmCancelled => "Alarm cancelled within the abort window",
        ActivityKind::Trouble => "Alarm trouble",
        ActivityKind::TroubleCleared => "Alarm trouble cleared",
    }
}

/// Two parts of a row's detail, either of which may be empty.
/// The fields a change touched (the API's names, "valid_from, valid_until")
/// in the owner's words ("the dates"), each once.
fn changed_words(fields: &str) -> String {
    let mut words: Vec<&str> = Vec::new();
    for field in fields.split(", ") {
        let word = match field {
            "name" => "the name",
            "kind" => "the kind of code",
            "panel" => "the alarm rights",
            "locks" => "the locks",
            "schedule" => "the hours",
            "valid_from" | "valid_until" | "first_day" | "last_day" => "the dates",
            "max_uses" => "the number of uses",
            "notify" => "the alerts",
            "enabled" => "enabled or disabled",
            "contact" => "the contact",
            "code" => "the code",
            other => other,
        };
        if !words.contains(&word) {
            words.push(word);
        }
    }
    match words.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => words.join(""),
    }
}

fn join_words(first: &str, second: &str) -> String {
    match (first.is_empty(), second.is_empty()) {
        (true, _) => second.to_owned(),
        (_, true) => first.to_owned(),
        _ => format!("{first} · {second}"),
    }
}

fn reason_words(reason: DenyReason) -> &'static str {
    match reason {
        DenyReason::LockedOut => "keypad locked out",
        DenyReason::UnknownCode => "unknown code",
        DenyReason::Disabled => "user disabled",
        DenyReason::NotYetValid => "not valid yet",
        DenyReason::Expired => "no longer valid",
        DenyReason::UsesExhausted => "no uses left",
        DenyReason::NotPermitted => "no access to this",
        DenyReason::OutsideSchedule => "outside their times",
        DenyReason::NotReady => "sensors open: the alarm could not arm",
    }
}

fn action_words(action: Action) -> &'static str {
    match action {
        Action::Unlock => "unlock",
        Action::Disarm => "disarm",
        Action::ArmAway => "arm away",
        Action::ArmStay => "arm stay",
        Action::ArmNight => "arm night",
    }
}

pub struct Names {
    tz: TimeZone,
    devices: HashMap<String, String>,
}

impl Names {
    pub fn line(&self, entry: &ActivityEntry) -> Line {
        let e = &entry.event;
        let wall = self.tz.to_datetime(e.at);
        let at = wall.strftime("%a %-d %b %H:%M:%S").to_string();
        let time = wall.strftime("%H:%M").to_string();
        let device_name =
            |device: &str| self.devices.get(device).cloned().unwrap_or_else(|| "A removed lock".to_owned());
        let place = match (&e.device, e.action) {
            (Some(device), Some(action)) => format!("{} ({})", device_name(device), action_words(action)),
            // A lockout names where the last wrong code was typed.
            (Some(device), None) => device_name(device),
            _ => String::new(),
        };
        let lockout =
            matches!(e.kind, ActivityKind::Lockout | ActivityKind::HomeLockout | ActivityKind::KeypadGuessing);
        // Every row names someone (or something): the column is the row's header.
        let who = match (&e.user, &e.actor) {
            (Some(user), _) => user.name.clone(),
            (None, _) if lockout => "Wrong codes".to_owned(),
            (None, _) if e.outcome.is_some() => "Unknown code".to_owned(),
            (None, Some(keyward_core::Actor::Lock(_))) => "The lock".to_owned(),
            (None, Some(actor)) => actor.name().to_owned(),
            (None, None) => "keyward".to_owned(),
        };
        let detail = match (e.reason, &e.actor) {
            (Some(reason), _) => reason_words(reason).to_owned(),
            (None, Some(keyward_core::Actor::Lock(how))) => match how.as_str() {
                "keypad" => "at the lock's keypad".to_owned(),
                "manual" => "by hand".to_owned(),
                "remote" => "by radio".to_owned(),
                "auto" => "by itself".to_owned(),
                other => format!("by {other}"),
            },
            // Named in the Who column already: not twice on one row.
            (None, Some(actor)) if who == actor.name() => String::new(),
            (None, Some(actor)) => format!("by {}", actor.name()),
            (None, None) => String::new(),
        };
        let detail = match (&e.detail, e.kind) {
            (None, _) => detail,
            (Some(changed), ActivityKind::UserUpdated) => {
                join_words(&detail, &format!("changed {}", changed_words(changed)))
            }
            (Some(about), _) => join_words(&detail, about),
        };
        // A duress grant and a home-wide lockout mark the whole row: the
        // owner must not miss them. Other refusals colour their chip only.
        let class = if e.duress {
            "duress"
        } else if matches!(e.kind, ActivityKind::HomeLockout | ActivityKind::KeypadGuessing) {
            "alarm"
        } else if e.outcome == Some(Outcome::Denied) || lockout {
            "denied"
        } else {
            ""
        };
        Line {
            at,
            time,
            event: event_words(e.kind, e.duress),
            icon: icon(e.kind),
            chip: if e.duress { "bad" } else { chip(e.kind) },
            who,
            place,
            detail,
            class,
        }
    }
}

/// A person's latest entries, for their page, named with the home's locks
/// the page has already read.
pub(super) async fn recent_for_user(
    s: &AppState,
    home: &HomeView,
    locks: &[keyward_app::LockView],
    user_id: &str,
    limit: i64,
) -> Vec<Line> {
    let names = Names { tz: home.zone.tz().clone(), devices: named_devices(locks).into_iter().collect() };
    let home_id = home.id.as_str();
    let query = ActivityQuery {
        user_id: Some(user_id.to_owned()),
        device: None,
        outcome: None,
        since: None,
        until: None,
        limit: Some(limit),
        cursor: None,
    };
    match s.app.activity.query(home_id, query).await {
        Ok(Ok(page)) => page.items.iter().map(|entry| names.line(entry)).collect(),
        _ => Vec::new(),
    }
}

/// A day's heading: "Today", "Yesterday", or "Wed 25 Nov".
/// "Yesterday", the weekdays before it, "Last 7 days": links that keep the
/// other filters and set the days.
fn shortcuts(filters: &Filters, today: jiff::civil::Date) -> Vec<(String, String, bool)> {
    let with = |date: String, last: &str| {
        let f = Filters { date, last: last.to_owned(), cursor: String::new(), ..filters.clone() };
        format!("/activity?{}", f.url_query(None))
    };
    let mut links = Vec::new();
    for back in 1..=6 {
        let Ok(day) = today.checked_sub(jiff::Span::new().days(back)) else { continue };
        let words = if back == 1 { "Yesterday".to_owned() } else { day.strftime("%A").to_string() };
        let current = filters.last.is_empty() && filters.date == day.to_string();
        links.push((words, with(day.to_string(), ""), current));
    }
    links.push(("Last 7 days".to_owned(), with(String::new(), "7"), filters.last_days() == Some(7)));
    links
}

/// An empty page in words: a past day had nothing; a new home has nothing yet.
fn empty_words(filters: &Filters, today: jiff::civil::Date) -> &'static str {
    let day = filters.date.parse::<jiff::civil::Date>().ok();
    if filters.last_days().is_some() {
        "Nothing happened in those days."
    } else if day.is_some_and(|d| d < today) {
        "Nothing happened that day."
    } else if day.is_some() || !filters.is_empty() {
        "Nothing matches these filters."
    } else {
        "Nothing here yet."
    }
}

fn day_words(day: jiff::civil::Date, today: jiff::civil::Date) -> String {
    let date = day.strftime("%a %-d %b").to_string();
    if day == today {
        format!("Today · {date}")
    } else if today.yesterday().is_ok_and(|y| y == day) {
        format!("Yesterday · {date}")
    } else {
        date
    }
}

/// The names of a home's devices: the panel and its locks.
async fn device_names(s: &AppState, home_id: &str) -> Result<Vec<(String, String)>, AppError> {
    Ok(named_devices(&s.app.homes.list_locks(home_id).await?))
}

/// The panel and these locks, by id and name.
fn named_devices(locks: &[keyward_app::LockView]) -> Vec<(String, String)> {
    let mut devices: Vec<(String, String)> = vec![(keyward_app::PANEL.to_owned(), "Alarm panel".to_owned())];
    devices.extend(locks.iter().map(|l| (l.id.clone(), l.name.clone())));
    devices
}

async fn context(s: &AppState) -> Result<(HomeView, Names, Vec<(String, String)>, Vec<(String, String)>), AppError> {
    let home = super::first_home(s).await?;
    let devices = device_names(s, &home.id).await?;
    let users = s.app.users.list(&home.id).await?.into_iter().map(|u| (u.id, u.name)).collect();
    let names = Names { tz: home.zone.tz().clone(), devices: devices.iter().cloned().collect() };
    Ok((home, names, devices, users))
}

#[derive(Template)]
#[template(path = "activity.html")]
struct ActivityPage<'a> {
    frame: Frame<'a>,
    timezone: String,
    users: Vec<(String, String)>,
    devices: Vec<(String, String)>,
    filter_user: String,
    filter_device: String,
    filter_outcome: String,
    filter_date: String,
    filter_kind: String,
    /// Quick days beside the day picker: words, link, whether shown now.
    shortcuts: Vec<(String, String, bool)>,
    /// What an empty page says.
    empty: &'static str,
    query: String,
    /// The rows by day, newest first: the day's words and its rows.
    days: Vec<(String, Vec<Line>)>,
    next: Option<String>,
    live: bool,
}

pub async fn page_view(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    csrf: Csrf,
    Query(filters): Query<Filters>,
) -> PageResult {
    let view = async {
        let (home, names, devices, users) = context(&s).await?;
        let today = names.tz.to_datetime(s.app.now()).date();
        let mut cursor = (!filters.cursor.is_empty()).then(|| filters.cursor.clone());
        // A kind filter reads further pages until it has a page of its own
        // (ten store pages at most; "Older entries" goes on from there).
        let mut entries = Vec::new();
        for _ in 0..10 {
            let query = filters.query(&names.tz, today, cursor.clone(), 100);
            let page = s.app.activity.query(&home.id, query).await?.map_err(|_| AppError::HomeNotFound)?;
            entries.extend(page.items.into_iter().filter(|e| filters.wants(e)));
            cursor = page.next_cursor;
            if entries.len() >= 100 || cursor.is_none() {
                break;
            }
        }
        let mut days: Vec<(String, Vec<Line>)> = Vec::new();
        for entry in &entries {
            let day = day_words(names.tz.to_datetime(entry.event.at).date(), today);
            match days.last_mut() {
                Some((last, lines)) if *last == day => lines.push(names.line(entry)),
                _ => days.push((day, vec![names.line(entry)])),
            }
        }
        Ok::<_, AppError>(ActivityPage {
            frame: Frame { active: "activity", csrf: &csrf.token, email: &owner.email },
            timezone: home.zone.as_str().to_owned(),
            users,
            devices,
            filter_user: filters.user_id.clone(),
            filter_device: filters.device.clone(),
            filter_outcome: filters.outcome.clone(),
            filter_date: filters.date.clone(),
            filter_kind: filters.kind.clone(),
            shortcuts: shortcuts(&filters, today),
            empty: empty_words(&filters, today),
            query: filters.url_query(None),
            days,
            next: cursor.map(|c| filters.url_query(Some(&c))),
            live: filters.is_empty(),
        })
    }
    .await?;
    Ok(csrf.attach(page(&view)))
}

/// Every entry that matches the filters, as CSV (at most 100,000 rows).
pub async fn csv(State(s): State<AppState>, SignedIn(_): SignedIn, Query(filters): Query<Filters>) -> PageResult {
    export(&s, filters, Export::Csv).await
}

/// The same as JSON Lines: one object per entry, for scripts and archives.
pub async fn jsonl(State(s): State<AppState>, SignedIn(_): SignedIn, Query(filters): Query<Filters>) -> PageResult {
    export(&s, filters, Export::JsonLines).await
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Export {
    Csv,
    JsonLines,
}

async fn export(s: &AppState, filters: Filters, format: Export) -> PageResult {
    let body = async {
        let (home, names, _, _) = context(s).await?;
        let today = names.tz.to_datetime(s.app.now()).date();
        let mut out = match format {
            // The event in the page's words for people; its kind, last, for scripts.
            Export::Csv => {
                String::from("time,local time,event,user,device,action,outcome,reason,by,duress,detail,kind\n")
            }
            Export::JsonLines => String::new(),
        };
        let mut cursor = None;
        for _ in 0..200 {
            let page = s
                .app
                .activity
                .query(&home.id, filters.query(&names.tz, today, cursor, 500))
                .await?
                .map_err(|_| AppError::HomeNotFound)?;
            // Every filter of the page applies, the kind too.
            for entry in page.items.iter().filter(|e| filters.wants(e)) {
                let (e, line) = (&entry.event, names.line(entry));
                // The home's wall clock, with the year, and sortable as text.
                let local = names.tz.to_datetime(e.at).strftime("%Y-%m-%d %H:%M:%S").to_string();
                let device = e.device.as_ref().and_then(|d| names.devices.get(d).cloned());
                let by = e.actor.as_ref().map(|a| a.to_text());
                match format {
                    Export::Csv => {
                        let text = |value: Option<&str>| value.unwrap_or_default().to_owned();
                        let fields = [
                            e.at.to_string(),
                            local,
                            line.event.to_owned(),
                            text(e.user.as_ref().map(|u| u.name.as_str())),
                            device.unwrap_or_default(),
                            text(e.action.map(Action::as_str)),
                            text(e.outcome.map(Outcome::as_str)),
                            text(e.reason.map(DenyReason::as_str)),
                            by.unwrap_or_default(),
                            if e.duress { "yes" } else { "" }.to_owned(),
                            text(e.detail.as_deref()),
                            e.kind.as_str().to_owned(),
                        ];
                        out.push_str(&fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
                    }
                    Export::JsonLines => {
                        let object = serde_json::json!({
                            "id": entry.id,
                            "at": e.at.to_string(),
                            "local_time": local,
                            "kind": e.kind.as_str(),
                            "event": line.event,
                            "user": e.user.as_ref().map(|u| serde_json::json!({"id": u.id, "name": u.name})),
                            "device": e.device.as_ref().map(|id| serde_json::json!({"id": id, "name": device})),
                            "action": e.action.map(Action::as_str),
                            "outcome": e.outcome.map(Outcome::as_str),
                            "reason": e.reason.map(DenyReason::as_str),
                            "by": by,
                            "duress": e.duress,
                            "detail": e.detail,
                        });
                        out.push_str(&object.to_string());
                    }
                }
                out.push('\n');
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok::<_, AppError>(out)
    }
    .await?;
    let (content_type, disposition) = match format {
        Export::Csv => ("text/csv; charset=utf-8", "attachment; filename=\"keyward-activity.csv\""),
        Export::JsonLines => ("application/jsonl; charset=utf-8", "attachment; filename=\"keyward-activity.jsonl\""),
    };
    Ok(([(CONTENT_TYPE, content_type), (CONTENT_DISPOSITION, disposition)], body).into_response())
}

/// Quotes a CSV field, and defuses text a spreadsheet would run as a formula.
fn csv_field(text: &str) -> String {
    let defused = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_owned() };
    format!("\"{}\"", defused.replace('"', "\"\""))
}

/// How long one live view lasts; the browser opens a new one (signed in
/// again) when it ends.
const LIVE_FOR: Duration = Duration::from_secs(15 * 60);

/// New entries as server-sent events, formatted like the page's rows, while
/// the session lasts (checked before every row) and at most `LIVE_FOR`.
pub async fn stream(State(s): State<AppState>, SignedIn(_): SignedIn, headers: HeaderMap) -> PageResult {
    let (home, names, _, _) = context(&s).await?;
    let session = super::web::cookie(&headers, super::web::SESSION_COOKIE).unwrap_or_default().to_owned();
    let live = Live {
        receiver: s.app.activity.subscribe(),
        closing: Box::pin(s.closing()),
        until: tokio::time::Instant::now() + LIVE_FOR,
        session: Zeroizing::new(session),
        names,
        home_id: home.id,
        s,
    };
    let events = futures_util::stream::unfold(live, |mut live| async move {
        let data = live.next_line().await?;
        Some((Ok::<_, Infallible>(Event::default().data(data)), live))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response())
}

/// One browser's live view of a home's activity.
struct Live {
    receiver: tokio::sync::broadcast::Receiver<ActivityEntry>,
    closing: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    until: tokio::time::Instant,
    /// The viewer's session secret, checked before every row.
    session: Zeroizing<String>,
    names: Names,
    home_id: String,
    s: AppState,
}

impl Live {
    /// The next entry of the home, as a row; `None` ends the stream.
    async fn next_line(&mut self) -> Option<String> {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            let next = tokio::select! {
                next = self.receiver.recv() => next,
                () = &mut self.closing => return None,
                () = tokio::time::sleep_until(self.until) => return None,
            };
            match next {
                Ok(entry) if entry.home_id == self.home_id => {
                    // Signed out, everywhere, or with a new password: no more rows.
                    if !self.s.app.owners.session_is_live(&self.session).await.unwrap_or(false) {
                        return None;
                    }
                    // A lock added since the page was opened: learn its name.
                    if let Some(device) = &entry.event.device
                        && !self.names.devices.contains_key(device)
                        && let Ok(devices) = device_names(&self.s, &self.home_id).await
                    {
                        self.names.devices = devices.into_iter().collect();
                    }
                    return Some(serde_json::to_string(&self.names.line(&entry)).unwrap_or_default());
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return None,
            }
        }
    }
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
