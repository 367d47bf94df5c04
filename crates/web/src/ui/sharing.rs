//! The owner's side of "Share access": make a link for a user (shown once,
//! emailed when the hub has a mail server), see their links and withdraw one.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use keyward_app::AppError;
use keyward_app::shares::{DEFAULT_DAYS, ShareState};
use keyward_core::Actor;
use serde::Deserialize;

use super::web::{CheckedForm, Csrf, SignedIn};
use super::{CsrfOnly, Frame, PageResult, first_home, no_store, page};
use crate::AppState;

struct LinkRow {
    id: String,
    made: String,
    state: &'static str,
    until: String,
    live: bool,
}

#[derive(Template)]
#[template(path = "user_share.html")]
struct SharePage<'a> {
    frame: Frame<'a>,
    user_id: &'a str,
    name: String,
    can_email: bool,
    days: String,
    email_to: String,
    links: Vec<LinkRow>,
    new_link: Option<String>,
    new_until: String,
    emailed_to: Option<String>,
    /// Which field a refusal is about ("days", "email", or "form" for the
    /// whole), and why, in words.
    error: Option<(&'static str, String)>,
}

/// What the page shows beside the form: a new link, or why none was made.
#[derive(Default)]
struct Shown {
    days: Option<String>,
    email_to: Option<String>,
    new_link: Option<(String, String)>,
    emailed_to: Option<String>,
    error: Option<(&'static str, String)>,
}

async fn view(s: &AppState, owner: &str, csrf: &Csrf, user_id: &str, shown: Shown) -> PageResult {
    let home = first_home(s).await?;
    let user = s.app.users.get(&home.id, user_id).await?;
    let links = s.app.shares.list(&home.id, user_id).await?;
    let tz = home.zone.tz();
    let when = |t: jiff::Timestamp| tz.to_datetime(t).strftime("%a %-d %b %H:%M").to_string();
    let links = links
        .into_iter()
        .map(|l| LinkRow {
            made: when(l.created_at),
            state: match l.state {
                ShareState::Waiting => "Not opened yet",
                ShareState::Opened => "Opened",
                ShareState::Expired => "Expired",
                ShareState::Revoked => "Withdrawn",
            },
            until: when(l.expires_at),
            live: matches!(l.state, ShareState::Waiting | ShareState::Opened),
            id: l.id,
        })
        .collect();
    let (new_link, new_until) = shown.new_link.unzip();
    let contact = user.contact.email.as_ref().map(|e| e.as_str().to_owned()).unwrap_or_default();
    let status = if shown.error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok(no_store(csrf.attach((
        status,
        page(&SharePage {
            frame: Frame { active: "users", csrf: &csrf.token, email: owner },
            user_id,
            name: user.name,
            can_email: s.app.shares.can_email(),
            days: shown.days.unwrap_or_else(|| DEFAULT_DAYS.to_string()),
            email_to: shown.email_to.unwrap_or(contact),
            links,
            new_link,
            new_until: new_until.unwrap_or_default(),
            emailed_to: shown.emailed_to,
            error: shown.error,
        }),
    ))))
}

pub async fn page_view(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    csrf: Csrf,
    Path(user_id): Path<String>,
) -> PageResult {
    view(&s, &owner.email, &csrf, &user_id, Shown::default()).await
}

#[derive(Deserialize)]
pub struct ShareForm {
    #[serde(default)]
    days: String,
    #[serde(default)]
    email: String,
}

pub async fn create(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    headers: HeaderMap,
    csrf: Csrf,
    Path(user_id): Path<String>,
    CheckedForm(form): CheckedForm<ShareForm>,
) -> PageResult {
    let kept = |field: &'static str, error: String| Shown {
        days: Some(form.days.clone()),
        email_to: Some(form.email.clone()),
        error: Some((field, error)),
        ..Shown::default()
    };
    let Ok(days) = form.days.trim().parse::<u32>() else {
        let shown = kept("days", "A link works for a whole number of days, from 1 to 30.".into());
        return view(&s, &owner.email, &csrf, &user_id, shown).await;
    };
    let Some(base) = super::settings::link_base(&s, &headers) else {
        let shown = kept("form", "keyward cannot tell which address you reach it at, so it will not make a link. Set public_url in the configuration and restart keyward.".into());
        return view(&s, &owner.email, &csrf, &user_id, shown).await;
    };
    let email = match form.email.trim() {
        "" => None,
        text => match keyward_core::email::EmailAddress::parse(text) {
            Ok(to) => Some((to, base.trim_end_matches('/').to_owned())),
            Err(_) => {
                let shown = kept("email", "An email address looks like walker@example.org.".into());
                return view(&s, &owner.email, &csrf, &user_id, shown).await;
            }
        },
    };
    let made = async {
        let home = first_home(&s).await?;
        s.app.shares.create(&home.id, &user_id, Some(days), email, Actor::Owner(owner.email.clone())).await
    }
    .await;
    match made {
        Ok(made) => {
            let home = first_home(&s).await.ok();
            let until = home
                .map(|h| h.zone.tz().to_datetime(made.share.expires_at).strftime("%a %-d %b %H:%M").to_string())
                .unwrap_or_default();
            let link = format!("{}{}", base.trim_end_matches('/'), made.path.as_str());
            let shown = Shown {
                new_link: Some((link, until)),
                emailed_to: made.emailed_to.map(|to| to.as_str().to_owned()),
                ..Shown::default()
            };
            view(&s, &owner.email, &csrf, &user_id, shown).await
        }
        Err(e @ AppError::ShareInvalid(_)) => {
            view(&s, &owner.email, &csrf, &user_id, kept("days", super::first_upper(&e.to_string()))).await
        }
        Err(e @ (AppError::MailUnavailable | AppError::MailFailed(_))) => {
            view(&s, &owner.email, &csrf, &user_id, kept("email", super::first_upper(&e.to_string()))).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn revoke(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    Path((user_id, share_id)): Path<(String, String)>,
    CheckedForm(_): CheckedForm<CsrfOnly>,
) -> PageResult {
    let home = first_home(&s).await?;
    s.app.shares.revoke(&home.id, &user_id, &share_id, Actor::Owner(owner.email.clone())).await?;
    Ok(Redirect::to(&format!("/users/{user_id}/share")).into_response())
}
