//! The Users screen's pages: add, update, reveal, delete.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use keyward_app::{AppError, HomeView, LockView};
use keyward_core::{Actor, ZoneName};

use super::user_form::{FieldErrors, UserForm, field_error};
use super::web::{Csrf, SignedIn, csrf_ok};
use super::{ConfirmPage, CsrfOnly, csrf_refused, failed, no_store, page};
use crate::AppState;

#[derive(Template)]
#[template(path = "user_form.html")]
struct FormPage<'a> {
    active: &'a str,
    csrf: &'a str,
    email: &'a str,
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
    /// Where the user's code stands on each lock, in words.
    lock_codes: Vec<String>,
    /// Some code failed: offer to try again.
    can_retry: bool,
    /// Slots holding this user's code, programmed at a lock: (lock id, slot).
    take_overs: Vec<(String, u16)>,
}

#[derive(Template)]
#[template(path = "revealed.html")]
struct RevealedPage<'a> {
    active: &'a str,
    csrf: &'a str,
    email: &'a str,
    name: String,
    code: &'a str,
    back: String,
}

/// The home the pages show, its locks and its time zone.
/// What the user form offers to choose from: the home's locks, and its
/// alert channels (id, name).
pub(super) struct Choices {
    pub locks: Vec<LockView>,
    pub channels: Vec<(String, String)>,
}

async fn home(s: &AppState) -> Result<(HomeView, Choices, ZoneName), AppError> {
    let home = super::first_home(s).await?;
    let locks = s.app.homes.list_locks(&home.id).await?;
    let channels = s.app.channels.list(&home.id).await?;
    let channels = channels.into_iter().map(|c| (c.channel.id, c.channel.name.as_str().to_owned())).collect();
    let zone = home.zone.clone();
    Ok((home, Choices { locks, channels }, zone))
}

#[allow(clippy::too_many_arguments)]
fn form_page(
    csrf: &Csrf,
    email: &str,
    user: Option<(&str, &str)>,
    timezone: &str,
    form: UserForm,
    choices: &Choices,
    errors: FieldErrors,
    codes: Vec<keyward_app::LockCodeView>,
    lock_states: &std::collections::HashMap<String, String>,
) -> Response {
    let (heading, action, submit, editing) = match user {
        Some((id, name)) => (format!("Update {name}"), format!("/users/{id}"), "Save changes", true),
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
    // The form can hold a code (a generated one, or one being changed):
    // never cached.
    let view = FormPage {
        active: "users",
        csrf: &csrf.token,
        email,
        heading,
        action,
        submit,
        editing,
        timezone: timezone.to_owned(),
        form,
        locks,
        channels,
        errors,
        lock_codes,
        can_retry,
        take_overs,
    };
    (status, no_store(csrf.attach(page(&view)))).into_response()
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

pub async fn new_page(State(s): State<AppState>, SignedIn(owner): SignedIn, csrf: Csrf) -> Response {
    match home(&s).await {
        Ok((home, locks, _)) => form_page(
            &csrf,
            &owner.email,
            None,
            home.zone.as_str(),
            UserForm::new_user(),
            &locks,
            FieldErrors::new(),
            Vec::new(),
            &Default::default(),
        ),
        Err(e) => failed(e),
    }
}

pub async fn edit_page(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    csrf: Csrf,
    Path(user_id): Path<String>,
) -> Response {
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
            let states =
                locks.locks.iter().filter_map(|l| Some((l.id.clone(), super::lock_state::words(&s, l)?))).collect();
            form_page(
                &csrf,
                &owner.email,
                Some((&user.id, &user.name)),
                home.zone.as_str(),
                form,
                &locks,
                FieldErrors::new(),
                codes,
                &states,
            )
        }
        Err(e) => failed(e),
    }
}

/// Saves a new user (or, with "Generate", proposes a code and saves nothing).
pub async fn create(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    headers: HeaderMap,
    csrf: Csrf,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    submit(s, owner, headers, csrf, pairs, None).await
}

pub async fn update(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    headers: HeaderMap,
    csrf: Csrf,
    Path(user_id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    submit(s, owner, headers, csrf, pairs, Some(user_id)).await
}

async fn submit(
    s: AppState,
    owner: keyward_app::owners::Owner,
    headers: HeaderMap,
    csrf: Csrf,
    pairs: Vec<(String, String)>,
    user_id: Option<String>,
) -> Response {
    let token = pairs.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str()).unwrap_or("");
    if !csrf_ok(&s, &headers, token) {
        return csrf_refused("/users");
    }
    let (home, locks, zone) = match home(&s).await {
        Ok(found) => found,
        Err(e) => return failed(e),
    };
    let current = match &user_id {
        Some(id) => match s.app.users.get(&home.id, id).await {
            Ok(user) => Some(user),
            Err(e) => return failed(e),
        },
        None => None,
    };
    let who = current.as_ref().map(|u| (u.id.as_str(), u.name.as_str()));
    let mut form = UserForm::from_pairs(&pairs);
    let actor = Actor::Owner(owner.email.clone());
    let mut errors = FieldErrors::new();

    if pairs.iter().any(|(k, v)| k == "action" && v == "generate") {
        match s.app.users.generate_code(&home.id, form.kind(), user_id.as_deref()).await {
            Ok(code) => form.code = code.to_string(),
            Err(_) => {
                errors.insert("code", "No free code could be found; widen the code lengths in Settings.".into());
            }
        }
        // A proposed code is shown, not saved: the owner saves it with the form.
        return form_page(
            &csrf,
            &owner.email,
            who,
            home.zone.as_str(),
            form,
            &locks,
            errors,
            Vec::new(),
            &Default::default(),
        );
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
        Some(Ok(_)) => Redirect::to("/users").into_response(),
        Some(Err(e)) => match field_error(&e) {
            Some((field, message)) => {
                errors.insert(field, message);
                form.code.clear();
                form_page(
                    &csrf,
                    &owner.email,
                    who,
                    home.zone.as_str(),
                    form,
                    &locks,
                    errors,
                    Vec::new(),
                    &Default::default(),
                )
            }
            None => failed(e),
        },
        None => {
            // The code is never sent back to the browser.
            form.code.clear();
            form_page(
                &csrf,
                &owner.email,
                who,
                home.zone.as_str(),
                form,
                &locks,
                errors,
                Vec::new(),
                &Default::default(),
            )
        }
    }
}

async fn confirm(
    s: &AppState,
    owner: &keyward_app::owners::Owner,
    csrf: &Csrf,
    user_id: &str,
    what: Confirm,
) -> Response {
    let user = match home(s).await {
        Ok((home, _, _)) => s.app.users.get(&home.id, user_id).await,
        Err(e) => Err(e),
    };
    let user = match user {
        Ok(user) => user,
        Err(e) => return failed(e),
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
        active: "users",
        csrf: &csrf.token,
        email: &owner.email,
        title,
        question,
        action: format!("/users/{}/{suffix}", user.id),
        button,
        button_class,
        back: format!("/users/{}", user.id),
    };
    csrf.attach(page(&view))
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
) -> Response {
    confirm(&s, &owner, &csrf, &id, Confirm::Delete).await
}

pub async fn reveal_page(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    csrf: Csrf,
    Path(id): Path<String>,
) -> Response {
    confirm(&s, &owner, &csrf, &id, Confirm::Reveal).await
}

pub async fn delete(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if !csrf_ok(&s, &headers, &form.csrf) {
        return csrf_refused("/users");
    }
    let deleted = match home(&s).await {
        Ok((home, _, _)) => s.app.users.delete(&home.id, &id, Actor::Owner(owner.email.clone())).await,
        Err(e) => Err(e),
    };
    match deleted {
        Ok(()) => Redirect::to("/users").into_response(),
        Err(e) => failed(e),
    }
}

pub async fn reveal(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    headers: HeaderMap,
    csrf: Csrf,
    Path(id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if !csrf_ok(&s, &headers, &form.csrf) {
        return csrf_refused("/users");
    }
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
                active: "users",
                csrf: &csrf.token,
                email: &owner.email,
                name: user.name,
                code: &code,
                back: format!("/users/{id}"),
            };
            // Never cached: the page holds a code.
            no_store(csrf.attach(page(&view)))
        }
        Err(e) => failed(e),
    }
}

/// "Try again" for a user's failed lock codes.
pub async fn retry(
    State(s): State<AppState>,
    SignedIn(_owner): SignedIn,
    headers: HeaderMap,
    Path(user_id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if !csrf_ok(&s, &headers, &form.csrf) {
        return csrf_refused(&format!("/users/{user_id}"));
    }
    let found = async {
        let (home, _, _) = home(&s).await?;
        s.app.users.get(&home.id, &user_id).await
    }
    .await;
    match found {
        Ok(user) => {
            s.app.locks.retry_user(&user.id);
            Redirect::to(&format!("/users/{}", user.id)).into_response()
        }
        Err(e) => failed(e),
    }
}

#[derive(serde::Deserialize)]
pub struct TakeOverForm {
    #[serde(default)]
    csrf: String,
    /// The user page the owner came from; empty from the Locks page.
    #[serde(default)]
    user: String,
}

/// "Take over slot N": keyward clears the code programmed at the lock and may use the slot.
pub async fn take_over(
    State(s): State<AppState>,
    SignedIn(_owner): SignedIn,
    headers: HeaderMap,
    Path((lock_id, slot)): Path<(String, u16)>,
    Form(form): Form<TakeOverForm>,
) -> Response {
    // Back to the user's page it was chosen on, or else to the Locks page;
    // never anywhere the form names.
    let back = if !form.user.is_empty() && form.user.bytes().all(|b| b.is_ascii_alphanumeric()) {
        format!("/users/{}", form.user)
    } else {
        "/locks".to_owned()
    };
    if !csrf_ok(&s, &headers, &form.csrf) {
        return csrf_refused(&back);
    }
    let found = async {
        let (home, _, _) = home(&s).await?;
        s.app.homes.get_lock(&home.id, &lock_id).await
    }
    .await;
    match found {
        Ok(lock) => {
            s.app.locks.take_over(&lock.id, slot);
            Redirect::to(&back).into_response()
        }
        Err(e) => failed(e),
    }
}
