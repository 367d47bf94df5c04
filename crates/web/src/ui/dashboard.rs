//! The Users screen as a dashboard: who can get in now, who is expected
//! today, who came last; a row per person with their access as icons and
//! their standing as a chip; a first-run checklist for an empty home.

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use keyward_app::{LockView, UserView};
use keyward_core::{LockAccess, Standing};

use super::web::{Csrf, SignedIn};
use super::{Frame, PageResult, first_home, flash, page, summary};
use crate::AppState;

/// One person's row.
struct Row {
    id: String,
    name: String,
    initials: String,
    duress: bool,
    needs_new_code: bool,
    /// What the code opens: (icon, words), one per thing.
    access: Vec<(&'static str, String)>,
    when: String,
    notify: &'static str,
    enabled: bool,
    status: String,
    status_class: &'static str,
    last_used: String,
    /// Where the code stands on the locks keyward programs, in a few words
    /// (empty: no such lock), and whether it is a problem.
    on_locks: String,
    lock_problem: bool,
}

/// A step of the first-run checklist: words, link, done.
struct Step {
    words: &'static str,
    link: &'static str,
    done: bool,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage<'a> {
    frame: Frame<'a>,
    home_name: String,
    timezone: String,
    rows: Vec<Row>,
    /// How many can get in now.
    can_enter: usize,
    /// Expected today: name and time ("now" while their hours are open).
    expected: Vec<(String, String)>,
    /// The last one in: name and when.
    last_in: Option<(String, String)>,
    checklist: Vec<Step>,
    /// The confirmation of what the owner just did, shown once.
    flash: Option<String>,
    /// Which page of people this is (from 1), of how many.
    page: usize,
    pages: usize,
    /// The alarm, when the home has one to show.
    panel: Option<super::panel_card::PanelCard>,
}

/// People per page: a household fits on one; a holiday let's or an
/// installer's hundreds are paged, so a page stays light on a phone.
const PER_PAGE: usize = 50;

#[derive(serde::Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    page: Option<usize>,
}

/// Whether every lock the code went to refused it: the hours are open, but
/// no door knows the code (a code counts as on a lock only when the lock
/// confirms it, and these said no).
fn refused_everywhere(codes: &[keyward_app::LockCodeView]) -> bool {
    !codes.is_empty() && codes.iter().all(|c| c.status == keyward_core::CodeStatus::Failed)
}

/// Whether the person can get in now, truly: their hours are open and a
/// lock has (or is taking) their code, or they have a panel right.
pub(crate) fn can_enter_now(user: &UserView, codes: &[keyward_app::LockCodeView]) -> bool {
    user.standing == Standing::CanEnterNow && !refused_everywhere(codes)
}

/// A user's status in the words of the Users screen, and its chip's class:
/// their standing, unless every lock refused their code.
pub(crate) fn status_words(
    user: &UserView,
    codes: &[keyward_app::LockCodeView],
    tz: &TimeZone,
) -> (String, &'static str) {
    if user.standing == Standing::CanEnterNow && refused_everywhere(codes) {
        return ("Not on the lock".to_owned(), "off");
    }
    standing_words(user.standing, tz)
}

/// A user's standing in the words of the Users screen, and its chip's class.
fn standing_words(standing: Standing, tz: &TimeZone) -> (String, &'static str) {
    let when = |t: Timestamp| tz.to_datetime(t);
    match standing {
        Standing::CanEnterNow => ("Can enter now".to_owned(), "ok"),
        Standing::NoAccess => ("No access".to_owned(), "off"),
        Standing::Next(t) => (format!("Next: {}", when(t).strftime("%a %H:%M")), "wait"),
        Standing::OutsideHours => ("Outside hours".to_owned(), "wait"),
        Standing::Starts(t) => (format!("Starts {}", when(t).strftime("%-d %b")), "wait"),
        Standing::Expired => ("Expired".to_owned(), "off"),
        Standing::NoUsesLeft => ("No uses left".to_owned(), "off"),
        Standing::Disabled => ("Disabled".to_owned(), "off"),
    }
}

/// "DW" for Dog walker, "A" for Anna: the avatar's letters.
/// Letters and digits only: "Sam (cleaner)" is "SC", never "S(".
fn initials(name: &str) -> String {
    let initial = |word: &str| word.chars().find(|c| c.is_alphanumeric());
    let letters: String = name.split_whitespace().filter_map(initial).take(2).flat_map(char::to_uppercase).collect();
    // A name of signs alone ("★ ★") still gets an avatar.
    if letters.is_empty() {
        name.chars().find(|c| !c.is_whitespace()).map(String::from).unwrap_or_default()
    } else {
        letters
    }
}

/// What the code opens, one icon and a word or two each.
/// Panel rights say so while no alarm panel has asked keyward yet.
fn access_items(user: &UserView, locks: &[LockView], panel_connected: bool) -> Vec<(&'static str, String)> {
    let mut items = Vec::new();
    let rights = match (user.panel.arm, user.panel.disarm) {
        (true, true) => Some("Alarm: arm, disarm"),
        (true, false) => Some("Alarm: arm"),
        (false, true) => Some("Alarm: disarm"),
        (false, false) => None,
    };
    if let Some(rights) = rights {
        let waiting = if panel_connected { "" } else { " (no alarm panel connected yet)" };
        items.push(("panel", format!("{rights}{waiting}")));
    }
    match &user.locks {
        LockAccess::All => items.push(("door", "All locks".to_owned())),
        LockAccess::Only(ids) => {
            items.extend(locks.iter().filter(|l| ids.contains(&l.id)).map(|l| ("door", l.name.clone())));
        }
    }
    if items.is_empty() {
        items.push(("no", "No access".to_owned()));
    }
    items
}

/// A user's codes on the locks, summed up.
fn on_locks(codes: &[keyward_app::LockCodeView]) -> (String, bool) {
    use keyward_core::CodeStatus;
    let count = |status| codes.iter().filter(|c| c.status == status).count();
    if codes.is_empty() {
        (String::new(), false)
    } else if count(CodeStatus::Failed) > 0 {
        ("Problem on a lock".to_owned(), true)
    } else if count(CodeStatus::Adding) + count(CodeStatus::Removing) > 0 {
        ("Updating the locks".to_owned(), false)
    } else if count(CodeStatus::OnLock) > 0 {
        let on = count(CodeStatus::OnLock);
        (format!("On {on} lock{}", if on == 1 { "" } else { "s" }), false)
    } else {
        ("Not on the locks now".to_owned(), false)
    }
}

/// Who is expected today: those whose hours open later today, and those
/// with hours (not "at all times") that are open now.
fn expected_today(users: &[UserView], tz: &TimeZone, now: Timestamp) -> Vec<(String, String)> {
    let today = tz.to_datetime(now).date();
    let mut expected: Vec<(Timestamp, String, String)> = users
        .iter()
        .filter_map(|u| match u.standing {
            Standing::Next(t) if tz.to_datetime(t).date() == today => {
                Some((t, u.name.clone(), tz.to_datetime(t).strftime("%H:%M").to_string()))
            }
            Standing::CanEnterNow if u.schedule.always != Some(true) => Some((now, u.name.clone(), "now".to_owned())),
            _ => None,
        })
        .collect();
    expected.sort();
    expected.into_iter().map(|(_, name, at)| (name, at)).collect()
}

pub async fn page_view(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    headers: HeaderMap,
    csrf: Csrf,
    axum::extract::Query(query): axum::extract::Query<PageQuery>,
) -> PageResult {
    let view = async {
        let home = first_home(&s).await?;
        let locks = s.app.homes.list_locks(&home.id).await?;
        let users = s.app.users.list(&home.id).await?;
        let channels = s.app.channels.list(&home.id).await?;
        let panel_connected = s.app.activity.panel_heard_from(&home.id).await?;
        let tz = home.zone.tz();
        let now = s.app.now();
        let pages = users.len().div_ceil(PER_PAGE).max(1);
        let page = query.page.unwrap_or(1).clamp(1, pages);
        let mut rows = Vec::with_capacity(PER_PAGE);
        let mut can_enter = 0;
        for (i, u) in users.iter().enumerate() {
            let codes = s.app.locks.lock_codes(&home.id, &u.id).await;
            can_enter += usize::from(can_enter_now(u, &codes));
            if i < (page - 1) * PER_PAGE || i >= page * PER_PAGE {
                continue;
            }
            let (on_locks, lock_problem) = on_locks(&codes);
            let (status, status_class) = status_words(u, &codes, tz);
            rows.push(Row {
                id: u.id.clone(),
                name: u.name.clone(),
                initials: initials(&u.name),
                duress: u.kind == keyward_core::UserKind::Duress,
                needs_new_code: u.needs_new_code,
                access: access_items(u, &locks, panel_connected),
                when: summary::when(u, tz),
                notify: summary::notify(u),
                enabled: u.enabled,
                status,
                status_class,
                last_used: u
                    .last_used
                    .map_or_else(|| "Never".to_owned(), |t| tz.to_datetime(t).strftime("%a %-d %b %H:%M").to_string()),
                on_locks,
                lock_problem,
            });
        }
        let last_in = users
            .iter()
            .filter_map(|u| u.last_used.map(|t| (t, u)))
            .max_by_key(|(t, _)| *t)
            .map(|(t, u)| (u.name.clone(), tz.to_datetime(t).strftime("%a %H:%M").to_string()));
        let checklist = vec![
            Step { words: "Check the home's name and time zone", link: "/settings", done: true },
            Step { words: "Add the locks", link: "/locks", done: !locks.is_empty() },
            Step { words: "Add the first person", link: "/users/new", done: !users.is_empty() },
            Step { words: "Choose where alerts go", link: "/alerts", done: !channels.is_empty() },
        ];
        Ok::<_, keyward_app::AppError>(UsersPage {
            frame: Frame { active: "users", csrf: &csrf.token, email: &owner.email },
            home_name: home.name.clone(),
            timezone: home.zone.as_str().to_owned(),
            can_enter,
            expected: expected_today(&users, tz, now),
            last_in,
            rows,
            checklist,
            flash: flash::take(&headers),
            page,
            pages,
            panel: super::panel_card::PanelCard::of(&s, &home).await?,
        })
    }
    .await?;
    Ok(flash::shown(&headers, csrf.attach(page(&view))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_of_names() {
        assert_eq!(initials("Dog walker"), "DW");
        assert_eq!(initials("anna"), "A");
        assert_eq!(initials("Zoë de la Cruz"), "ZD");
        assert_eq!(initials("Sam (cleaner)"), "SC");
        assert_eq!(initials("S ("), "S");
        assert_eq!(initials("\"Bo\" 2nd"), "B2");
        assert_eq!(initials("★ ★"), "★");
    }
}
