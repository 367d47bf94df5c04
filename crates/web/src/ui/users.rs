//! The Users screen's pages: add, update, reveal, delete.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use keyward_app::{AppError, HomeView, LockView};
use keyward_core::{Actor, ZoneName};

// The preview's card (`visitor_card.html`) names the code's two cases.
use super::share::CardCode;
use super::user_form::{FieldErrors, UserForm, field_error};
use super::web::{CheckedForm, Csrf, SignedIn};
use super::{ConfirmPage, CsrfOnly, Frame, PageResult, no_store, page};
use crate::AppState;

#[derive(Template)]
#[template(path = "user_form.html")]
struct FormPage<'a> {
    frame: Frame<'a>,
    heading: String,
    action: String,
    submit: &'a str,
    editing: bool,
    timezone: String,
    form: UserForm,
    locks: Vec<(String, String, bool)>,
    /// The home's alert channels: (id, name, chosen).
    channels: Vec<(String, String, bool)>,
    errors: FieldErrors,
    /// The day presets a time offers: key, label, days.
    presets: &'static [(&'static str, &'static str, &'static [&'static str])],
    /// The repeats a time offers: every 1 to 4 weeks.
    repeats: &'static [(u8, &'static str)],
    /// Whether an alarm panel has asked keyward yet (else the panel rights
    /// say none is connected).
    panel_connected: bool,
    /// Each error with the id of its field, in the form's order.
    summary: Vec<(&'static str, String)>,
    /// The field the page opens on: the first with an error.
    focus: &'static str,
    /// An error in the folded part of the form: it opens.
    more_errors: bool,
    /// The home's code rule in words ("4 to 8 digits").
    code_rule: String,
    /// Where the user's code stands on each lock, in words.
    lock_codes: Vec<String>,
    /// Some code failed: offer to try again.
    can_retry: bool,
    /// Slots holding this user's code, programmed at a lock: (lock id, slot).
    take_overs: Vec<(String, u16)>,
    /// On a person's own page: where they stand now (words, chip class),
    /// and their latest entries.
    standing: Option<(String, &'static str)>,
    recent: Vec<super::activity::Line>,
    flash: Option<String>,
    /// What the person will get, as the form stands (beside it on a desktop).
    preview: super::preview::Preview,
}

#[derive(Template)]
#[template(path = "revealed.html")]
struct RevealedPage<'a> {
    frame: Frame<'a>,
    name: String,
    code: &'a str,
    back: String,
}

/// What only a person's own page shows: where they stand now, and their
/// latest entries.
#[derive(Default)]
struct Person {
    standing: Option<(String, &'static str)>,
    recent: Vec<super::activity::Line>,
    /// The confirmation of what the owner just did here, shown once.
    flash: Option<String>,
}

/// The home the pages show, its locks and its time zone.
/// What the user form offers to choose from: the home's locks, and its
/// alert channels (id, name).
pub(super) struct Choices {
    pub locks: Vec<LockView>,
    pub channels: Vec<(String, String)>,
    /// Whether an alarm panel has asked keyward for a decision yet: until
    /// then, panel rights are shown as waiting for one.
    pub panel_connected: bool,
}

pub(super) async fn home(s: &AppState) -> Result<(HomeView, Choices, ZoneName), AppError> {
    let home = super::first_home(s).await?;
    let mut locks = s.app.homes.list_locks(&home.id).await?;
    // A lock being deleted can no longer be given.
    locks.retain(|l| !l.is_being_deleted());
    let channels = s.app.channels.list(&home.id).await?;
    let channels = channels.into_iter().map(|c| (c.channel.id, c.channel.name.as_str().to_owned())).collect();
    let zone = home.zone.clone();
    let panel_connected = s.app.activity.panel_heard_from(&home.id).await?;
    Ok((home, Choices { locks, channels, panel_connected }, zone))
}

#[allow(clippy::too_many_arguments)]
fn form_page(
    csrf: &Csrf,
    email: &str,
    user: Option<&keyward_app::UserView>,
    home: &HomeView,
    form: UserForm,
    choices: &Choices,
    errors: FieldErrors,
    codes: Vec<keyward_app::LockCodeView>,
    lock_states: &std::collections::HashMap<String, String>,
    person: Person,
) -> PageResult {
    let preview = super::preview::Preview::of(&form, home, &choices.locks, user);
    let (heading, action, submit, editing) = match user {
        Some(user) => (format!("Update {}", user.name), format!("/users/{}", user.id), "Save changes", true),
        None => ("Add user".to_owned(), "/users/new".to_owned(), "Add user", false),
    };
    let locks = &choices.locks;
    let can_retry = codes.iter().any(|c| c.status == keyward_core::CodeStatus::Failed);
    let take_overs = codes
        .iter()
        .filter(|c| c.reason == Some(keyward_core::FailureReason::DuplicateOnLock))
        .filter_map(|c| c.other_slot.map(|slot| (c.lock_id.clone(), slot)))
        .collect();
    let lock_codes = codes
        .iter()
        .map(|c| match lock_states.get(&c.lock_id) {
            Some(state) => format!("{} The lock: {state}.", code_words(c, locks)),
            None => code_words(c, locks),
        })
        .collect();
    let channels = form.channel_choices(&choices.channels);
    let locks = form.lock_choices(locks);
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let summary = super::user_form::error_summary(&errors);
    let more_errors = super::user_form::folded_error(&errors);
    let focus = summary.first().map_or("", |(target, _)| *target);
    let policy = &home.code_policy;
    let code_rule = if policy.min_length() == policy.max_length() {
        format!("{} digits, different from everyone else's.", policy.min_length())
    } else {
        format!("{} to {} digits, different from everyone else's.", policy.min_length(), policy.max_length())
    };
    // The form can hold a code (a generated one, or one being changed):
    // never cached.
    let view = FormPage {
        frame: Frame { active: "users", csrf: &csrf.token, email },
        heading,
        action,
        submit,
        editing,
        timezone: home.zone.as_str().to_owned(),
        form,
        locks,
        channels,
        errors,
        presets: &super::user_form::PRESETS,
        repeats: &super::user_form::REPEATS,
        panel_connected: choices.panel_connected,
        more_errors,
        summary,
        focus,
        code_rule,
        lock_codes,
        can_retry,
        take_overs,
        standing: person.standing,
        recent: person.recent,
        flash: person.flash,
        preview,
    };
    Ok((status, no_store(csrf.attach(page(&view)))).into_response())
}

/// One lock's copy of the user's code, in plain words.
fn code_words(code: &keyward_app::LockCodeView, locks: &[LockView]) -> String {
    use keyward_core::{CodeStatus, FailureReason};
    let lock = locks.iter().find(|l| l.id == code.lock_id).map_or("A lock", |l| l.name.as_str());
    let slot = code.slot.map(|s| format!(" (slot {s})")).unwrap_or_default();
    match (code.status, code.reason) {
        (CodeStatus::OnLock, _) => format!("{lock}: on the lock{slot}."),
        (CodeStatus::Adding, _) => format!("{lock}: being put on the lock."),
        (CodeStatus::Removing, _) => format!("{lock}: being taken off the lock."),
        (CodeStatus::OffLock, _) => {
            format!("{lock}: not on the lock now, as intended (outside their times, or not allowed now).")
        }
        (CodeStatus::Failed, Some(FailureReason::DuplicateOnLock)) => match code.other_slot {
            Some(other) => format!(
                "{lock}: the lock already has this code in slot {other}, programmed at the lock. Choose another code, or take over slot {other}."
            ),
            None => format!("{lock}: the lock already has this code in another slot. Choose another code."),
        },
        (CodeStatus::Failed, Some(FailureReason::Offline)) => {
            format!("{lock}: the lock is not answering; keyward keeps trying.")
        }
        (CodeStatus::Failed, Some(FailureReason::MemoryFull)) => format!("{lock}: the lock's code memory is full."),
        (CodeStatus::Failed, Some(FailureReason::NoFreeSlot)) => {
            format!("{lock}: every code slot keyward may use on this lock is taken.")
        }
        (CodeStatus::Failed, _) => format!("{lock}: the lock did not take the code; keyward will try again."),
    }
}

pub async fn new_page(State(s): State<AppState>, SignedIn(owner): SignedIn, csrf: Csrf) -> PageResult {
    match home(&s).await {
        Ok((home, locks, _)) => form_page(
            &csrf,
            &owner.email,
            None,
            &home,
            UserForm::new_user(),
            &locks,
            FieldErrors::new(),
            Vec::new(),
            &Default::default(),
            Person::default(),
        ),
        Err(e) => Err(e.into()),
    }
}

pub async fn edit_page(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    headers: HeaderMap,
    csrf: Csrf,
    Path(user_id): Path<String>,
) -> PageResult {
    let loaded = async {
        let (home, locks, zone) = home(&s).await?;
        let user = s.app.users.get(&home.id, &user_id).await?;
        Ok::<_, AppError>((home, locks, zone, user))
    }
    .await;
    match loaded {
        Ok((home, locks, zone, user)) => {
            let form = UserForm::from_user(&user, zone.tz());
            let codes = s.app.locks.lock_codes(&home.id, &user.id).await;
            let person = Person {
                standing: Some(super::dashboard::status_words(&user, &codes, zone.tz())),
                recent: super::activity::recent_for_user(&s, &home, &locks.locks, &user.id, 8).await,
                flash: super::flash::take(&headers),
            };
            let states =
                locks.locks.iter().filter_map(|l| Some((l.id.clone(), super::lock_state::words(&s, l)?))).collect();
            let page = form_page(
                &csrf,
                &owner.email,
                Some(&user),
                &home,
                form,
                &locks,
                FieldErrors::new(),
                codes,
                &states,
                person,
            );
            Ok(super::flash::shown(&headers, page?))
        }
        Err(e) => Err(e.into()),
    }
}

/// Saves a new user (or, with "Generate", proposes a code and saves nothing).
pub async fn create(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    headers: HeaderMap,
    csrf: Csrf,
    CheckedForm(pairs): CheckedForm<Vec<(String, String)>>,
) -> PageResult {
    submit(s, owner, headers, csrf, pairs, None).await
}

pub async fn update(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    headers: HeaderMap,
    csrf: Csrf,
    Path(user_id): Path<String>,
    CheckedForm(pairs): CheckedForm<Vec<(String, String)>>,
) -> PageResult {
    submit(s, owner, headers, csrf, pairs, Some(user_id)).await
}

async fn submit(
    s: AppState,
    owner: keyward_app::owners::Owner,
    headers: HeaderMap,
    csrf: Csrf,
    pairs: Vec<(String, String)>,
    user_id: Option<String>,
) -> PageResult {
    let (home, locks, zone) = match home(&s).await {
        Ok(found) => found,
        Err(e) => return Err(e.into()),
    };
    let current = match &user_id {
        Some(id) => match s.app.users.get(&home.id, id).await {
            Ok(user) => Some(user),
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let mut form = UserForm::from_pairs(&pairs);
    let actor = Actor::Owner(owner.email.clone());
    let mut errors = FieldErrors::new();
    // The same form again, as it was sent (a proposal, a row more, or what is wrong).
    let again = |form, errors| {
        form_page(
            &csrf,
            &owner.email,
            current.as_ref(),
            &home,
            form,
            &locks,
            errors,
            Vec::new(),
            &Default::default(),
            Person::default(),
        )
    };

    // "Add another time" without JavaScript: the same form, one row more, nothing saved.
    if pairs.iter().any(|(k, v)| k == "action" && v == "add_window") {
        form.add_window();
        return again(form, errors);
    }
    if pairs.iter().any(|(k, v)| k == "action" && v == "add_visit") {
        form.add_visit();
        return again(form, errors);
    }

    if pairs.iter().any(|(k, v)| k == "action" && v == "generate") {
        match s.app.users.generate_code(&home.id, form.kind(), user_id.as_deref()).await {
            // A typed code is never replaced unasked: the proposal goes beside it.
            Ok(code) if !form.code.is_empty() => form.proposal = Some(code.to_string()),
            Ok(code) => form.code = code.to_string(),
            Err(_) => {
                errors.insert("code", "No free code could be found; widen the code lengths in Settings.".into());
            }
        }
        // A proposed code is shown, not saved: the owner saves it with the form.
        return again(form, errors);
    }

    let checked = form.check(zone.tz(), current.is_some(), &mut errors);
    let saved = match (checked, &current) {
        (None, _) => None,
        (Some(checked), None) => Some(s.app.users.create(&home.id, form.input(&checked), actor.clone()).await),
        (Some(checked), Some(user)) => {
            Some(s.app.users.update(&home.id, &user.id, form.patch(&checked, user, zone.tz()), actor.clone()).await)
        }
    };
    match saved {
        Some(Ok(user)) => {
            let message = saved_message(&locks, &user, current.is_none(), zone.tz());
            return Ok(super::flash::redirect(&headers, "/users", &message));
        }
        Some(Err(e)) => match field_error(&e) {
            Some((field, message)) => {
                errors.insert(field, message);
            }
            None => return Err(e.into()),
        },
        None => {}
    }
    // Refused: what was typed is kept, the code too (this is the owner's
    // own page, over the connection that brought it, and never cached).
    code_problem_too(&s, &home.id, &form, user_id.as_deref(), &mut errors).await;
    again(form, errors)
}

/// Every mistake at once: when the form is refused for something else, what
/// is wrong with its code (taken, too weak, …) is said beside it now rather
/// than at the next save.
async fn code_problem_too(
    s: &AppState,
    home_id: &str,
    form: &UserForm,
    user_id: Option<&str>,
    errors: &mut FieldErrors,
) {
    if form.code.is_empty() || errors.contains_key("code") {
        return;
    }
    if let Err(e) = s.app.users.check_code(home_id, &form.code, form.kind(), user_id).await
        && let Some(("code", message)) = field_error(&e)
    {
        errors.insert("code", message);
    }
}

/// The locks that hold codes (bound to a device) among those the user may
/// open, by name: where a change of theirs goes.
fn programmed_locks(user: &keyward_app::UserView, locks: &[LockView]) -> String {
    let names: Vec<&str> =
        locks.iter().filter(|l| l.device.is_some() && user.locks.allows(&l.id)).map(|l| l.name.as_str()).collect();
    names.join(", ")
}

/// The confirmation after a save echoes what was saved, in the words of
/// the Users screen: "Dog walker added · Mon–Fri 11:00–14:00 · Front door,
/// disarm · code on its way to Front door".
fn saved_message(choices: &Choices, user: &keyward_app::UserView, added: bool, tz: &jiff::tz::TimeZone) -> String {
    let locks = &choices.locks;
    let on = programmed_locks(user, locks);
    let mut parts = vec![
        format!("{} {}", user.name, if added { "added" } else { "saved" }),
        super::summary::when(user, tz),
        what_it_opens(user, locks, choices.panel_connected),
    ];
    if !user.enabled {
        parts.push("disabled".to_owned());
    }
    if !on.is_empty() {
        parts.push(if added { format!("code on its way to {on}") } else { format!("{on} will follow") });
    }
    parts.join(" · ")
}

/// The locks and panel rights a code has: "Front door, disarm", "All
/// locks, arm, disarm", or a warning that it opens nothing.
fn what_it_opens(user: &keyward_app::UserView, locks: &[LockView], panel_connected: bool) -> String {
    let mut items: Vec<String> = match &user.locks {
        keyward_core::LockAccess::All => vec!["All locks".to_owned()],
        keyward_core::LockAccess::Only(ids) => {
            locks.iter().filter(|l| ids.contains(&l.id)).map(|l| l.name.clone()).collect()
        }
    };
    if user.panel.arm {
        items.push("arm".to_owned());
    }
    if user.panel.disarm {
        items.push("disarm".to_owned());
    }
    if (user.panel.arm || user.panel.disarm) && !panel_connected {
        items.push("no alarm panel connected yet".to_owned());
    }
    if items.is_empty() {
        "can open nothing: tick a lock or an alarm right to let them in".to_owned()
    } else {
        items.join(", ")
    }
}

async fn confirm(
    s: &AppState,
    owner: &keyward_app::owners::Owner,
    csrf: &Csrf,
    user_id: &str,
    what: Confirm,
) -> PageResult {
    let user = match home(s).await {
        Ok((home, _, _)) => s.app.users.get(&home.id, user_id).await,
        Err(e) => Err(e),
    };
    let user = match user {
        Ok(user) => user,
        Err(e) => return Err(e.into()),
    };
    let (title, question, button, button_class, suffix) = match what {
        Confirm::Delete => (
            format!("Delete {}?", user.name),
            format!("{}'s code will stop working at once, on every device. This can't be undone.", user.name),
            "Delete",
            "danger",
            "delete",
        ),
        Confirm::Reveal => (
            format!("Reveal the code of {}?", user.name),
            "The code will be shown on this screen, and the reveal recorded in the activity log.".to_owned(),
            "Reveal code",
            "primary",
            "reveal",
        ),
    };
    let view = ConfirmPage {
        frame: Frame { active: "users", csrf: &csrf.token, email: &owner.email },
        title,
        question,
        action: format!("/users/{}/{suffix}", user.id),
        button,
        button_class,
        back: format!("/users/{}", user.id),
    };
    Ok(csrf.attach(page(&view)))
}

enum Confirm {
    Delete,
    Reveal,
}

pub async fn delete_page(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    csrf: Csrf,
    Path(id): Path<String>,
) -> PageResult {
    confirm(&s, &owner, &csrf, &id, Confirm::Delete).await
}

pub async fn reveal_page(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    csrf: Csrf,
    Path(id): Path<String>,
) -> PageResult {
    confirm(&s, &owner, &csrf, &id, Confirm::Reveal).await
}

pub async fn delete(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    headers: HeaderMap,
    Path(id): Path<String>,
    CheckedForm(_): CheckedForm<CsrfOnly>,
) -> PageResult {
    let deleted = async {
        let (home, choices, _) = home(&s).await?;
        let user = s.app.users.get(&home.id, &id).await?;
        s.app.users.delete(&home.id, &id, Actor::Owner(owner.email.clone())).await?;
        Ok::<_, AppError>((user, choices))
    }
    .await;
    match deleted {
        Ok((user, choices)) => {
            let off = programmed_locks(&user, &choices.locks);
            let message = if off.is_empty() {
                format!("{} deleted", user.name)
            } else {
                format!("{} deleted · code coming off {off}", user.name)
            };
            Ok(super::flash::redirect(&headers, "/users", &message))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn reveal(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    csrf: Csrf,
    Path(id): Path<String>,
    CheckedForm(_): CheckedForm<CsrfOnly>,
) -> PageResult {
    let revealed = async {
        let (home, _, _) = home(&s).await?;
        let user = s.app.users.get(&home.id, &id).await?;
        let code = s.app.users.reveal_code(&home.id, &id, Actor::Owner(owner.email.clone())).await?;
        Ok::<_, AppError>((user, code))
    }
    .await;
    match revealed {
        Ok((user, code)) => {
            let view = RevealedPage {
                frame: Frame { active: "users", csrf: &csrf.token, email: &owner.email },
                name: user.name,
                code: &code,
                back: format!("/users/{id}"),
            };
            // Never cached: the page holds a code.
            Ok(no_store(csrf.attach(page(&view))))
        }
        Err(e) => Err(e.into()),
    }
}

/// "Try again" for a user's failed lock codes.
pub async fn retry(
    State(s): State<AppState>,
    SignedIn(_owner): SignedIn,
    Path(user_id): Path<String>,
    CheckedForm(_): CheckedForm<CsrfOnly>,
) -> PageResult {
    let found = async {
        let (home, _, _) = home(&s).await?;
        s.app.users.get(&home.id, &user_id).await
    }
    .await;
    match found {
        Ok(user) => {
            s.app.locks.retry_user(&user.id).await;
            Ok(Redirect::to(&format!("/users/{}", user.id)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(serde::Deserialize)]
pub struct TakeOverForm {
    /// The user page the owner came from; empty from the Locks page.
    #[serde(default)]
    user: String,
}

/// "Take over slot N": keyward clears the code programmed at the lock and may use the slot.
pub async fn take_over(
    State(s): State<AppState>,
    SignedIn(_owner): SignedIn,
    Path((lock_id, slot)): Path<(String, u16)>,
    CheckedForm(form): CheckedForm<TakeOverForm>,
) -> PageResult {
    // Back to the user's page it was chosen on, or else to the Locks page;
    // never anywhere the form names.
    let back = if !form.user.is_empty() && form.user.bytes().all(|b| b.is_ascii_alphanumeric()) {
        format!("/users/{}", form.user)
    } else {
        "/locks".to_owned()
    };
    let found = async {
        let (home, _, _) = home(&s).await?;
        s.app.homes.get_lock(&home.id, &lock_id).await
    }
    .await;
    match found {
        Ok(lock) => {
            s.app.locks.take_over(&lock.id, slot).await;
            Ok(Redirect::to(&back).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(serde::Deserialize)]
pub struct EnabledForm {
    #[serde(default)]
    enabled: String,
    /// Where to go back to: the Users screen or the user's page.
    #[serde(default)]
    back: String,
}

/// Disable or enable a user in one click, from the Users screen or their page.
pub async fn set_enabled(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    headers: HeaderMap,
    Path(id): Path<String>,
    CheckedForm(form): CheckedForm<EnabledForm>,
) -> PageResult {
    toggle(&s, &owner, &headers, &id, form.enabled == "true", form.back == "user").await
}

/// Enables or disables a user and goes back, saying what changed.
async fn toggle(
    s: &AppState,
    owner: &keyward_app::owners::Owner,
    headers: &HeaderMap,
    id: &str,
    enabled: bool,
    back_to_user: bool,
) -> PageResult {
    let patch = keyward_app::UserPatch { enabled: Some(enabled), ..keyward_app::UserPatch::default() };
    let saved = async {
        let (home, choices, _) = home(s).await?;
        let user = s.app.users.update(&home.id, id, patch, Actor::Owner(owner.email.clone())).await?;
        Ok::<_, AppError>((user, choices))
    }
    .await;
    match saved {
        Ok((user, choices)) => {
            let locks = programmed_locks(&user, &choices.locks);
            let message = match (enabled, locks.is_empty()) {
                (true, true) => format!("{} enabled", user.name),
                (true, false) => format!("{} enabled · code on its way to {locks}", user.name),
                (false, true) => format!("{} disabled: their code opens nothing", user.name),
                (false, false) => format!("{} disabled · code coming off {locks}", user.name),
            };
            let back = if back_to_user { format!("/users/{}", user.id) } else { "/users".to_owned() };
            Ok(super::flash::redirect(headers, &back, &message))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(serde::Deserialize)]
pub struct ProposalQuery {
    #[serde(default)]
    kind: String,
}

#[derive(serde::Serialize)]
struct Proposal {
    code: String,
}

/// A free code for the form's Generate button (with JavaScript): JSON, never
/// cached, to the signed-in owner only; saving it is the form's.
pub async fn proposal(
    State(s): State<AppState>,
    SignedIn(_owner): SignedIn,
    user_id: Option<Path<String>>,
    axum::extract::Query(query): axum::extract::Query<ProposalQuery>,
) -> PageResult {
    let kind = keyward_core::UserKind::parse(&query.kind).unwrap_or(keyward_core::UserKind::Standard);
    let proposed = async {
        let (home, _, _) = home(&s).await?;
        s.app.users.generate_code(&home.id, kind, user_id.as_ref().map(|p| p.0.as_str())).await
    }
    .await;
    match proposed {
        Ok(code) => Ok(no_store(axum::Json(Proposal { code: code.to_string() }).into_response())),
        Err(e) => Err(e.into()),
    }
}

/// Disable or Enable pressed on the Users screen: one form for every row,
/// the button naming the person (`disable=<id>` or `enable=<id>`).
pub async fn set_enabled_from_list(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    headers: HeaderMap,
    CheckedForm(pairs): CheckedForm<Vec<(String, String)>>,
) -> PageResult {
    let pressed = pairs.iter().find_map(|(k, v)| match k.as_str() {
        "disable" => Some((false, v.clone())),
        "enable" => Some((true, v.clone())),
        _ => None,
    });
    let Some((enabled, id)) = pressed else { return Ok(Redirect::to("/users").into_response()) };
    toggle(&s, &owner, &headers, &id, enabled, false).await
}
