//! Add user / Update user: the form, its fields, and every rule broken shown
//! next to its field. A refused form keeps what was typed, except the code.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use keyward_app::{AppError, LockView, UserInput, UserPatch, UserView};
use keyward_core::schedule::{MAX_EVERY_WEEKS, MAX_VISITS, MAX_WINDOWS};
use keyward_core::{
    Bound, CodeError, LockAccess, Name, Notify, PanelPermissions, Schedule, ScheduleSpec, UserKind, Validity,
    ValidityError, VisitSpec, WindowSpec,
};
use zeroize::Zeroizing;

pub const DAYS: [(&str, &str); 7] =
    [("mon", "Mon"), ("tue", "Tue"), ("wed", "Wed"), ("thu", "Thu"), ("fri", "Fri"), ("sat", "Sat"), ("sun", "Sun")];

/// The day presets a time offers, and the days each stands for ("custom":
/// the days ticked).
pub const PRESETS: [(&str, &str, &[&str]); 4] = [
    ("every", "Every day", &["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
    ("weekdays", "Weekdays", &["mon", "tue", "wed", "thu", "fri"]),
    ("weekends", "Weekends", &["sat", "sun"]),
    ("custom", "Custom days", &[]),
];

pub struct WindowRow {
    /// One of [`PRESETS`]' keys.
    pub preset: &'static str,
    pub days: Vec<(&'static str, &'static str, bool)>,
    pub start: String,
    pub end: String,
    /// Every 1 to 4 weeks.
    pub every: u8,
    /// The first day it counts ("YYYY-MM-DD"); needed to repeat every 2 to 4 weeks.
    pub from: String,
}

/// The repeats a time offers.
pub const REPEATS: [(u8, &str); 4] =
    [(1, "Every week"), (2, "Every 2 weeks"), (3, "Every 3 weeks"), (4, "Every 4 weeks")];

impl WindowRow {
    fn empty() -> Self {
        Self {
            preset: "weekdays",
            days: DAYS.iter().map(|(k, l)| (*k, *l, false)).collect(),
            start: String::new(),
            end: String::new(),
            every: 1,
            from: String::new(),
        }
    }

    /// The preset these days make, or "custom".
    fn preset_of(days: &[(&'static str, &'static str, bool)]) -> &'static str {
        let ticked: Vec<&str> = days.iter().filter(|d| d.2).map(|d| d.0).collect();
        PRESETS.iter().find(|(key, _, set)| *key != "custom" && *set == ticked.as_slice()).map_or("custom", |p| p.0)
    }

    /// Whether the owner filled anything in: an untouched row is ignored.
    fn used(&self) -> bool {
        !self.start.is_empty()
            || !self.end.is_empty()
            || !self.from.is_empty()
            || self.every > 1
            || (self.preset == "custom" && self.days.iter().any(|d| d.2))
    }

    /// An end earlier than the start: the window runs past midnight.
    pub fn next_day(&self) -> bool {
        next_day(&self.start, &self.end)
    }
}

/// One visit day of the form: a date, a start and an end.
#[derive(Default)]
pub struct VisitRow {
    pub date: String,
    pub start: String,
    pub end: String,
}

impl VisitRow {
    fn used(&self) -> bool {
        !self.date.is_empty() || !self.start.is_empty() || !self.end.is_empty()
    }

    pub fn next_day(&self) -> bool {
        next_day(&self.start, &self.end)
    }
}

/// "HH:MM" strings compare as times: an earlier end runs into the next day.
fn next_day(start: &str, end: &str) -> bool {
    !end.is_empty() && !start.is_empty() && end < start
}

pub struct UserForm {
    pub name: String,
    pub code: String,
    pub kind: String,
    pub panel_arm: bool,
    pub panel_disarm: bool,
    pub all_locks: bool,
    pub locks: Vec<String>,
    pub always: bool,
    pub windows: Vec<WindowRow>,
    pub visits: Vec<VisitRow>,
    pub valid_from: String,
    pub valid_until: String,
    pub max_uses: String,
    pub notify_arrive: bool,
    pub notify_leave: bool,
    pub enabled: bool,
    pub contact_email: String,
    pub contact_phone: String,
    /// Alerts go to every channel (or only to `alert_channels`).
    pub alert_all: bool,
    pub alert_channels: Vec<String>,
    /// The user's alert hours as the API set them: kept, not on the form.
    /// "Tell me if they have not arrived by `no_show_by` on `no_show_days`."
    pub no_show_by: String,
    pub no_show_days: Vec<(&'static str, &'static str, bool)>,
    /// A free code proposed beside the one typed (Generate without JavaScript).
    pub proposal: Option<String>,
}

pub type FieldErrors = BTreeMap<&'static str, String>;

/// Rows for `used` windows, one at least ("Add another time" adds more, up
/// to the schedule's limit): editing never drops a window the form could
/// not show.
fn empty_windows(used: usize) -> Vec<WindowRow> {
    (0..used.clamp(1, MAX_WINDOWS)).map(|_| WindowRow::empty()).collect()
}

/// Rows for `used` visit days, one at least, as for windows.
fn empty_visits(used: usize) -> Vec<VisitRow> {
    (0..used.clamp(1, MAX_VISITS)).map(|_| VisitRow::default()).collect()
}

impl UserForm {
    pub fn new_user() -> Self {
        Self {
            name: String::new(),
            code: String::new(),
            kind: "standard".into(),
            panel_arm: false,
            panel_disarm: false,
            all_locks: false,
            locks: Vec::new(),
            always: true,
            windows: empty_windows(0),
            visits: empty_visits(0),
            valid_from: String::new(),
            valid_until: String::new(),
            max_uses: String::new(),
            notify_arrive: false,
            notify_leave: false,
            enabled: true,
            contact_email: String::new(),
            contact_phone: String::new(),
            alert_all: true,
            alert_channels: Vec::new(),
            no_show_by: String::new(),
            no_show_days: DAYS.iter().map(|(k, l)| (*k, *l, false)).collect(),
            proposal: None,
        }
    }

    pub fn from_user(user: &UserView, tz: &TimeZone) -> Self {
        let mut windows = empty_windows(user.schedule.windows.as_ref().map_or(0, Vec::len));
        if let Some(specs) = &user.schedule.windows {
            for (row, spec) in windows.iter_mut().zip(specs) {
                for day in &mut row.days {
                    day.2 = spec.days.iter().any(|d| d == day.0);
                }
                row.preset = WindowRow::preset_of(&row.days);
                row.start = spec.start.clone();
                row.end = spec.end.clone();
                row.every = spec.every_weeks.unwrap_or(1);
                row.from = spec.from.clone().unwrap_or_default();
            }
        }
        let mut visits = empty_visits(user.schedule.visits.as_ref().map_or(0, Vec::len));
        for (row, spec) in visits.iter_mut().zip(user.schedule.visits.iter().flatten()) {
            *row = VisitRow { date: spec.date.clone(), start: spec.start.clone(), end: spec.end.clone() };
        }
        Self {
            name: user.name.clone(),
            code: String::new(),
            kind: user.kind.as_str().to_owned(),
            panel_arm: user.panel.arm,
            panel_disarm: user.panel.disarm,
            all_locks: user.locks == LockAccess::All,
            locks: match &user.locks {
                LockAccess::All => Vec::new(),
                LockAccess::Only(ids) => ids.clone(),
            },
            always: user.schedule.always == Some(true),
            windows,
            visits,
            valid_from: super::summary::first_day(user, tz).map(|d| d.to_string()).unwrap_or_default(),
            valid_until: super::summary::last_day(user, tz).map(|d| d.to_string()).unwrap_or_default(),
            max_uses: user.max_uses.map(|n| n.to_string()).unwrap_or_default(),
            notify_arrive: user.notify.arrive,
            notify_leave: user.notify.leave,
            enabled: user.enabled,
            contact_email: user.contact.email.as_ref().map(|e| e.as_str().to_owned()).unwrap_or_default(),
            contact_phone: user.contact.phone.as_ref().map(|p| p.as_str().to_owned()).unwrap_or_default(),
            alert_all: user.alerts.channels == keyward_core::notify::ChannelChoice::All,
            alert_channels: match &user.alerts.channels {
                keyward_core::notify::ChannelChoice::All => Vec::new(),
                keyward_core::notify::ChannelChoice::Only(ids) => ids.clone(),
            },
            no_show_by: user.alerts.no_show.as_ref().map(|r| r.to_spec().by).unwrap_or_default(),
            no_show_days: {
                let days = user.alerts.no_show.as_ref().map(|r| r.to_spec().days).unwrap_or_default();
                DAYS.iter().map(|(k, l)| (*k, *l, days.iter().any(|d| d == k))).collect()
            },
            proposal: None,
        }
    }

    /// Reads a posted form (repeated `lock` fields included).
    pub fn from_pairs(pairs: &[(String, String)]) -> Self {
        let value =
            |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.trim().to_owned()).unwrap_or_default();
        let on = |key: &str| pairs.iter().any(|(k, _)| k == key);
        // As many rows as were sent: the highest `w{i}_…` field names the last.
        let sent = pairs
            .iter()
            .filter_map(|(k, _)| k.strip_prefix('w')?.split_once('_')?.0.parse::<usize>().ok())
            .filter(|i| *i < MAX_WINDOWS)
            .max()
            .map_or(0, |last| last + 1);
        let mut windows = empty_windows(sent);
        for (i, row) in windows.iter_mut().enumerate() {
            // A preset stands for its days; "custom" (or none, as from a
            // client that ticks days) takes the days ticked. Days ticked
            // that differ from the preset's are what the owner saw and
            // changed (the boxes show under a preset without JavaScript):
            // they are the row's days, as Custom days.
            // A row of which nothing but times (or nothing) was sent (its
            // fields were left out under "At all times") stays a new row.
            let ticked: Vec<&str> = DAYS.iter().map(|d| d.0).filter(|d| on(&format!("w{i}_{d}"))).collect();
            if on(&format!("w{i}_preset")) || !ticked.is_empty() {
                let preset = PRESETS.iter().find(|p| p.0 == value(&format!("w{i}_preset")));
                let preset = preset.filter(|p| p.0 != "custom" && (ticked.is_empty() || ticked.as_slice() == p.2));
                let (key, days) = preset.map_or(("custom", ticked.as_slice()), |(key, _, days)| (*key, *days));
                row.preset = key;
                for day in &mut row.days {
                    day.2 = days.contains(&day.0);
                }
            }
            row.start = tidy_time(&value(&format!("w{i}_start")));
            row.end = tidy_time(&value(&format!("w{i}_end")));
            // An unknown repeat is every week: the refusal then names the
            // first date if one is missing, never a number not offered.
            row.every =
                value(&format!("w{i}_every")).parse().ok().filter(|n| (1..=MAX_EVERY_WEEKS).contains(n)).unwrap_or(1);
            row.from = value(&format!("w{i}_from"));
        }
        let visit_rows = pairs
            .iter()
            .filter_map(|(k, _)| k.strip_prefix('v')?.split_once('_')?.0.parse::<usize>().ok())
            .filter(|i| *i < MAX_VISITS)
            .max()
            .map_or(0, |last| last + 1);
        let mut visits = empty_visits(visit_rows);
        for (i, row) in visits.iter_mut().enumerate() {
            row.date = value(&format!("v{i}_date"));
            row.start = tidy_time(&value(&format!("v{i}_start")));
            row.end = tidy_time(&value(&format!("v{i}_end")));
        }
        Self {
            // Names are kept exactly as typed.
            name: pairs.iter().find(|(k, _)| k == "name").map(|(_, v)| v.clone()).unwrap_or_default(),
            code: value("code"),
            kind: if value("kind") == "duress" { "duress".into() } else { "standard".into() },
            panel_arm: on("panel_arm"),
            panel_disarm: on("panel_disarm"),
            all_locks: on("all_locks"),
            locks: pairs.iter().filter(|(k, _)| k == "lock").map(|(_, v)| v.clone()).collect(),
            always: value("when") != "windows",
            windows,
            visits,
            valid_from: value("valid_from"),
            valid_until: value("valid_until"),
            max_uses: value("max_uses"),
            notify_arrive: on("notify_arrive"),
            notify_leave: on("notify_leave"),
            enabled: on("enabled"),
            contact_email: value("contact_email"),
            contact_phone: value("contact_phone"),
            alert_all: value("alert_to") != "some",
            alert_channels: pairs.iter().filter(|(k, _)| k == "alert_channel").map(|(_, v)| v.clone()).collect(),
            no_show_by: tidy_time(&value("no_show_by")),
            no_show_days: DAYS.iter().map(|(k, l)| (*k, *l, on(&format!("no_show_{k}")))).collect(),
            proposal: None,
        }
    }

    pub fn channel_choices(&self, channels: &[(String, String)]) -> Vec<(String, String, bool)> {
        channels.iter().map(|(id, name)| (id.clone(), name.clone(), self.alert_channels.contains(id))).collect()
    }

    fn alert_channels_spec(&self) -> keyward_core::notify::ChannelsSpec {
        use keyward_core::notify::ChannelsSpec;
        if self.alert_all { ChannelsSpec::Word("all".into()) } else { ChannelsSpec::Ids(self.alert_channels.clone()) }
    }

    fn no_show_spec(&self) -> Option<keyward_core::notify::NoShowSpec> {
        let days: Vec<String> = self.no_show_days.iter().filter(|d| d.2).map(|d| d.0.to_owned()).collect();
        (!self.no_show_by.is_empty() || !days.is_empty())
            .then(|| keyward_core::notify::NoShowSpec { days, by: self.no_show_by.clone() })
    }

    pub fn kind(&self) -> UserKind {
        UserKind::parse(&self.kind).unwrap_or(UserKind::Standard)
    }

    fn schedule(&self) -> ScheduleSpec {
        if self.always {
            return ScheduleSpec::always();
        }
        let windows = self
            .windows
            .iter()
            .filter(|w| w.used())
            .map(|w| WindowSpec {
                days: w.days.iter().filter(|d| d.2).map(|d| d.0.to_owned()).collect(),
                start: w.start.clone(),
                end: w.end.clone(),
                every_weeks: (w.every > 1).then_some(w.every),
                from: (!w.from.is_empty()).then(|| w.from.clone()),
            })
            .collect::<Vec<_>>();
        let visits = self
            .visits
            .iter()
            .filter(|v| v.used())
            .map(|v| VisitSpec { date: v.date.clone(), start: v.start.clone(), end: v.end.clone() })
            .collect::<Vec<_>>();
        ScheduleSpec {
            always: None,
            windows: (!windows.is_empty()).then_some(windows),
            visits: (!visits.is_empty()).then_some(visits),
        }
    }

    /// The schedule as Save would store it, or `None` while Save would
    /// refuse the times (the preview then says so rather than guess).
    pub fn saved_schedule(&self) -> Option<ScheduleSpec> {
        let spec = self.schedule();
        (self.schedule_problem().is_none() && Schedule::parse(&spec).is_ok()).then_some(spec)
    }

    /// The first and last day as Save would store them, or `None` while
    /// Save would refuse them.
    pub fn saved_dates(&self, tz: &TimeZone) -> Option<(Option<Bound>, Option<Bound>)> {
        let (Ok(from), Ok(until)) = (parse_day(&self.valid_from), parse_day(&self.valid_until)) else {
            return None;
        };
        Validity::with_bounds(from, until, None, tz).is_ok().then_some((from, until))
    }

    /// The limit of uses as Save would store it (`Some(None)`: no limit),
    /// or `None` while Save would refuse it.
    pub fn saved_max_uses(&self) -> Option<Option<u32>> {
        match self.max_uses.as_str() {
            "" => Some(None),
            text => text.parse::<u32>().ok().filter(|n| *n >= 1).map(Some),
        }
    }

    /// What is wrong with the times as the owner filled them in, in their
    /// words and by the row's number ("Time 2"), before the rules of
    /// [`Schedule::parse`] would say it in the API's.
    fn schedule_problem(&self) -> Option<String> {
        if self.always {
            // The form shows both: times typed are never thrown away unsaid.
            return (self.windows.iter().any(WindowRow::used) || self.visits.iter().any(VisitRow::used)).then(|| {
                "You chose At all times and also gave times: choose Only at these times to keep them, or clear the times."
                    .to_owned()
            });
        }
        let used: Vec<(usize, &WindowRow)> = self.windows.iter().enumerate().filter(|(_, w)| w.used()).collect();
        let visits: Vec<(usize, &VisitRow)> = self.visits.iter().enumerate().filter(|(_, v)| v.used()).collect();
        if used.is_empty() && visits.is_empty() {
            return Some(
                "Tick at least one day and give a start and an end time, add a visit day, or choose At all times."
                    .into(),
            );
        }
        let problems: Vec<String> = used
            .iter()
            .filter_map(|(i, w)| window_problem(*i, w, used.len()))
            .chain(visits.iter().filter_map(|(i, v)| visit_problem(*i, v, visits.len())))
            .collect();
        (!problems.is_empty()).then(|| problems.join(" "))
    }

    /// Whether anything in the folded part of the form (dates, uses,
    /// contact, alerts) differs from a new user's: then it is shown open.
    pub fn has_more(&self) -> bool {
        !self.valid_from.is_empty()
            || !self.valid_until.is_empty()
            || !self.max_uses.is_empty()
            || !self.contact_email.is_empty()
            || !self.contact_phone.is_empty()
            || self.notify_arrive
            || self.notify_leave
            || !self.alert_all
            || !self.no_show_by.is_empty()
            || self.no_show_days.iter().any(|d| d.2)
    }

    /// "Add another time": one more row, up to the schedule's limit.
    pub fn add_window(&mut self) {
        if self.windows.len() < MAX_WINDOWS {
            self.windows.push(WindowRow::empty());
        }
        self.always = false;
    }

    pub fn can_add_window(&self) -> bool {
        self.windows.len() < MAX_WINDOWS
    }

    /// "Add another visit day": one more row, up to the schedule's limit.
    pub fn add_visit(&mut self) {
        if self.visits.len() < MAX_VISITS {
            self.visits.push(VisitRow::default());
        }
        self.always = false;
    }

    pub fn can_add_visit(&self) -> bool {
        self.visits.len() < MAX_VISITS
    }

    pub fn locks(&self) -> LockAccess {
        if self.all_locks { LockAccess::All } else { LockAccess::Only(self.locks.clone()) }
    }

    /// Checks every field it can on its own, collecting every error; the
    /// rules that need the other users' codes are the hub's.
    pub fn check(&self, tz: &TimeZone, editing: bool, errors: &mut FieldErrors) -> Option<Checked> {
        if Name::parse(self.name.clone()).is_err() {
            errors.insert("name", "Give a name of 1 to 64 characters, at least one of them visible, without line breaks or other control characters.".into());
        }
        if self.code.is_empty() && !editing {
            errors.insert("code", "Give a code, or press Generate.".into());
        }
        if let Some(problem) = self.schedule_problem() {
            errors.insert("schedule", problem);
        } else if let Err(e) = Schedule::parse(&self.schedule()) {
            errors.insert("schedule", schedule_words(&e));
        }
        let from = parse_day(&self.valid_from);
        let until = parse_day(&self.valid_until);
        let (from, until) = match (from, until) {
            (Ok(from), Ok(until)) => (from, until),
            _ => {
                errors.insert("dates", "Dates are like 2026-12-05.".into());
                (None, None)
            }
        };
        let max_uses = match self.max_uses.as_str() {
            "" => None,
            text => match text.parse::<i64>() {
                Ok(n) if n >= 1 => Some(n),
                _ => {
                    errors.insert("max_uses", "A limit of uses is a whole number from 1, or empty for none.".into());
                    None
                }
            },
        };
        match Validity::with_bounds(from, until, None, tz) {
            Err(ValidityError::Empty) => {
                errors.insert("dates", "The last day can't be before the first day.".into());
            }
            Err(ValidityError::OutOfRange) => {
                errors.insert("dates", "Dates lie between 2000 and 2199.".into());
            }
            _ => {}
        }
        let email = match self.contact_email.as_str() {
            "" => None,
            text => keyward_core::email::EmailAddress::parse(text)
                .inspect_err(|_| {
                    errors.insert("contact_email", "An email address looks like walker@example.org.".into());
                })
                .ok(),
        };
        let phone = match self.contact_phone.as_str() {
            "" => None,
            text => keyward_core::Phone::parse(text)
                .inspect_err(|_| {
                    errors.insert(
                        "contact_phone",
                        "A phone number has 4 to 20 digits, and may start with + and hold spaces or dashes.".into(),
                    );
                })
                .ok(),
        };
        let contact = keyward_core::Contact { email, phone };
        if let Some(spec) = self.no_show_spec()
            && keyward_core::notify::NoShowRule::parse(&spec).is_err()
        {
            errors.insert(
                "no_show",
                "To be told when they have not come, tick the days and give a time such as 12:30.".into(),
            );
        }
        errors.is_empty().then_some(Checked { from, until, max_uses, contact })
    }

    pub fn input(&self, checked: &Checked) -> UserInput {
        UserInput {
            name: self.name.clone(),
            kind: self.kind(),
            panel: PanelPermissions { arm: self.panel_arm, disarm: self.panel_disarm },
            locks: self.locks(),
            schedule: self.schedule(),
            valid_from: checked.from,
            valid_until: checked.until,
            max_uses: checked.max_uses,
            notify: Notify { arrive: self.notify_arrive, leave: self.notify_leave },
            // Alert hours are not on the form: at any hour.
            alerts: keyward_core::notify::AlertRulesSpec {
                channels: Some(self.alert_channels_spec()),
                hours: None,
                no_show: self.no_show_spec(),
            },
            enabled: self.enabled,
            contact: checked.contact.clone(),
            code: Zeroizing::new(self.code.clone()),
        }
    }

    /// The change to `current`. Dates that were left as shown are not sent,
    /// so an instant set through the API keeps its time of day.
    pub fn patch(&self, checked: &Checked, current: &UserView, tz: &TimeZone) -> UserPatch {
        let shown = Self::from_user(current, tz);
        UserPatch {
            name: Some(self.name.clone()),
            kind: Some(self.kind()),
            panel_arm: Some(self.panel_arm),
            panel_disarm: Some(self.panel_disarm),
            locks: Some(self.locks()),
            schedule: Some(self.schedule()),
            valid_from: (self.valid_from != shown.valid_from).then_some(checked.from),
            valid_until: (self.valid_until != shown.valid_until).then_some(checked.until),
            max_uses: Some(checked.max_uses),
            notify_arrive: Some(self.notify_arrive),
            notify_leave: Some(self.notify_leave),
            alert_channels: Some(self.alert_channels_spec()),
            // Not on the form: kept as they are.
            alert_hours: None,
            no_show: Some(self.no_show_spec()),
            enabled: Some(self.enabled),
            contact: Some(checked.contact.clone()),
            code: (!self.code.is_empty()).then(|| Zeroizing::new(self.code.clone())),
        }
    }

    pub fn lock_choices(&self, locks: &[LockView]) -> Vec<(String, String, bool)> {
        locks.iter().map(|l| (l.id.clone(), l.name.clone(), self.locks.contains(&l.id))).collect()
    }
}

pub struct Checked {
    from: Option<Bound>,
    until: Option<Bound>,
    max_uses: Option<i64>,
    contact: keyward_core::Contact,
}

/// Where the hub's refusal goes on the form, in plain words.
pub fn field_error(e: &AppError) -> Option<(&'static str, String)> {
    Some(match e {
        AppError::Code(CodeError::Invalid) => ("code", "Use 4 to 8 digits.".into()),
        AppError::Code(CodeError::Length { min, max }) => ("code", format!("Use {min} to {max} digits.")),
        AppError::Code(CodeError::InUse) => ("code", "This code is already used by someone in this home.".into()),
        AppError::Code(CodeError::PrefixConflict) => {
            ("code", "A code can't start with another user's code, nor another code with this one.".into())
        }
        AppError::Code(CodeError::TooWeak) => {
            ("code", "Too easy to guess: avoid repeated digits, runs like 1234 and common PINs.".into())
        }
        AppError::Code(CodeError::TooClose) => {
            ("code", "A duress code must differ from every other code in at least two digits.".into())
        }
        AppError::Name(_) => ("name", "Give a name of 1 to 64 characters, at least one of them visible, without line breaks or other control characters.".into()),
        AppError::Schedule(e) => ("schedule", schedule_words(e)),
        AppError::LocksInvalid => ("locks", "One of the chosen locks no longer exists.".into()),
        AppError::Validity(ValidityError::Empty) => ("dates", "The last day can't be before the first day.".into()),
        AppError::Validity(ValidityError::OutOfRange) => ("dates", "Dates lie between 2000 and 2199.".into()),
        AppError::Validity(ValidityError::MaxUses) => ("max_uses", "A limit of uses is a whole number from 1.".into()),
        AppError::AlertChannelsInvalid => ("alert_channels", "One of the chosen channels no longer exists.".into()),
        AppError::AlertsInvalid(_) => {
            ("no_show", "To be told when they have not come, tick the days and give a time such as 12:30.".into())
        }
        _ => return None,
    })
}

/// A time typed in a 24-hour field, as the hub writes it: "9" is "09:00",
/// "930" and "9.30" are "09:30", "0930" is "09:30". Anything else stays as
/// typed, for the form to refuse beside its field.
pub(super) fn tidy_time(text: &str) -> String {
    let t = text.trim().replacen('.', ":", 1);
    let (hours, minutes) = match t.split_once(':') {
        Some((h, m)) => (h, m),
        None if t.len() > 2 => t.split_at(t.len() - 2),
        None => (t.as_str(), "00"),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(hours) && hours.len() <= 2 && digits(minutes) && minutes.len() == 2) {
        return text.trim().to_owned();
    }
    match (hours.parse::<u32>(), minutes.parse::<u32>()) {
        (Ok(h), Ok(m)) if h <= 24 && m <= 59 => format!("{h:02}:{m:02}"),
        _ => text.trim().to_owned(),
    }
}

/// What is wrong with one time row, in the owner's words and by its number
/// ("Time 2") when there are several.
fn window_problem(i: usize, w: &WindowRow, used: usize) -> Option<String> {
    let label = if used == 1 { "The time".to_owned() } else { format!("Time {}", i + 1) };
    if !w.days.iter().any(|d| d.2) {
        return Some(format!("{label}: tick at least one day."));
    }
    if let Some(problem) = hours_problem(&w.start, &w.end) {
        return Some(format!("{label}: {problem}"));
    }
    if w.every > 1 && w.from.is_empty() {
        return Some(format!("{label}: give the first date it repeats from, such as the next visit."));
    }
    if !w.from.is_empty() && keyward_core::instant::parse_day_in_range(&w.from).is_none() {
        return Some(format!("{label}: the first date is not a date, such as 2026-12-11."));
    }
    None
}

/// What is wrong with one visit day, in words.
fn visit_problem(i: usize, v: &VisitRow, used: usize) -> Option<String> {
    let label = if used == 1 { "The visit day".to_owned() } else { format!("Visit day {}", i + 1) };
    if v.date.is_empty() {
        return Some(format!("{label}: give its date."));
    }
    if keyward_core::instant::parse_day_in_range(&v.date).is_none() {
        return Some(format!("{label}: the date is not a date, such as 2026-12-24."));
    }
    hours_problem(&v.start, &v.end).map(|problem| format!("{label}: {problem}"))
}

fn hours_problem(start: &str, end: &str) -> Option<&'static str> {
    if start.is_empty() || end.is_empty() {
        return Some("give a start and an end time, such as 11:00 and 14:00.");
    }
    (start == end).then_some("the end must differ from the start (an end earlier than the start runs past midnight).")
}

/// A schedule the hub refused, in the owner's words (the API's sentence
/// names JSON fields and formats).
fn schedule_words(e: &keyward_core::ScheduleError) -> String {
    match e {
        keyward_core::ScheduleError::EmptyWindow => "A time's end must differ from its start.".into(),
        keyward_core::ScheduleError::Invalid(_) => {
            "Check the times: each needs at least one day, a start and an end, such as 11:00 and 14:00.".into()
        }
    }
}

/// Where each field's error takes the owner, in the form's order: the
/// field's key and the id of the input to focus.
const ERROR_TARGETS: [(&str, &str); 10] = [
    ("name", "name"),
    ("code", "code"),
    ("locks", "all_locks"),
    ("schedule", "when_windows"),
    ("dates", "valid_from"),
    ("max_uses", "max_uses"),
    ("contact_email", "contact_email"),
    ("contact_phone", "contact_phone"),
    ("alert_channels", "alert_to_some"),
    ("no_show", "no_show_by"),
];

/// Whether an error lies in the folded part of the form (everything after
/// the schedule: dates, uses, contact, alerts), which then opens.
pub fn folded_error(errors: &FieldErrors) -> bool {
    ERROR_TARGETS.iter().skip_while(|(key, _)| *key != "dates").any(|(key, _)| errors.contains_key(key))
}

/// The summary above a refused form: each error linking to its field, in
/// the form's order.
pub fn error_summary(errors: &FieldErrors) -> Vec<(&'static str, String)> {
    ERROR_TARGETS.iter().filter_map(|(key, target)| errors.get(key).map(|m| (*target, m.clone()))).collect()
}

/// A day as the owner typed it: that calendar day in the home's zone,
/// whatever the zone becomes later.
fn parse_day(text: &str) -> Result<Option<Bound>, ()> {
    if text.is_empty() {
        return Ok(None);
    }
    keyward_core::instant::parse_day(text).map(|date| Some(Bound::Day(date))).ok_or(())
}

#[cfg(test)]
mod tests {
    use super::tidy_time;

    #[test]
    fn times_are_read_as_people_type_them() {
        for (typed, read) in [
            ("9", "09:00"),
            ("930", "09:30"),
            ("0930", "09:30"),
            ("9.30", "09:30"),
            ("9:30", "09:30"),
            ("21:05", "21:05"),
            ("24:00", "24:00"),
            (" 7 ", "07:00"),
            ("25", "25"),
            ("9:3", "9:3"),
            ("noon", "noon"),
            ("11:00:30", "11:00:30"),
            ("", ""),
        ] {
            assert_eq!(tidy_time(typed), read, "{typed:?}");
        }
    }
}
