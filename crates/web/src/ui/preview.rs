//! The live preview beside the user form: what the person will get, read
//! from the form as it stands by the same reading Save uses, and shown as
//! the card of the visitor's own page (`visitor_card.html`). Without
//! JavaScript it shows the form as it was loaded or last sent; with it,
//! the page asks for it again as the owner types.

use askama::Template;
use axum::extract::{Path, State};
use keyward_app::{LockView, UserView};
use keyward_core::{LockAccess, PanelPermissions};
use zeroize::Zeroizing;

use super::share::{CardCode, VisitorCard, dates_words, panel_words, uses_words};
use super::user_form::{FieldErrors, UserForm};
use super::web::{CheckedForm, SignedIn};
use super::{PageResult, no_store, page};
use crate::AppState;

/// The preview: the card, and what keeps the form from being saved as it
/// stands (the card then says "not clear yet" where it cannot tell).
pub(super) struct Preview {
    pub card: VisitorCard,
    /// Who it is for, in the heading ("What Dog walker will get").
    pub who: String,
    pub problems: usize,
}

/// The preview alone, for the page's script to put in place.
#[derive(Template)]
#[template(path = "user_preview.html")]
struct Fragment {
    preview: Preview,
}

const NOT_CLEAR: &str = "Not clear yet: see the form";

impl Preview {
    /// `current`: the person being edited (their uses so far, and whether an
    /// empty code keeps theirs).
    pub fn of(form: &UserForm, home: &keyward_app::HomeView, locks: &[LockView], current: Option<&UserView>) -> Self {
        let tz = home.zone.tz();
        let mut problems = FieldErrors::new();
        form.check(tz, current.is_some(), &mut problems);
        let name = form.name.trim();
        let code = match (form.code.is_empty(), current.is_some()) {
            (false, _) => CardCode::Shown(Zeroizing::new(form.code.clone())),
            (true, true) => CardCode::Missing("Their current code: it stays as it is."),
            (true, false) => CardCode::Missing("Type a code, or press Generate."),
        };
        let mut doors: Vec<String> = locks
            .iter()
            .filter(|l| match form.locks() {
                LockAccess::All => true,
                LockAccess::Only(ids) => ids.contains(&l.id),
            })
            .map(|l| l.name.clone())
            .collect();
        doors.sort();
        let hours = match form.saved_schedule() {
            Some(spec) => super::summary::schedule(&spec),
            None => vec![NOT_CLEAR.to_owned()],
        };
        let dates = match form.saved_dates(tz) {
            Some((from, until)) => dates_words(tz, from, until),
            None => Some(NOT_CLEAR.to_owned()),
        };
        let used = current.map_or(0, |u| u.uses);
        let uses = match form.saved_max_uses() {
            Some(max) => uses_words(max.map(|m| m.saturating_sub(used))),
            None => Some(NOT_CLEAR.to_owned()),
        };
        let card = VisitorCard {
            home: home.name.clone(),
            name: if name.is_empty() { "…".to_owned() } else { name.to_owned() },
            code,
            doors,
            panel: panel_words(PanelPermissions { arm: form.panel_arm, disarm: form.panel_disarm }),
            hours,
            zone: home.zone.as_str().to_owned(),
            dates,
            uses,
            enabled: form.enabled,
        };
        let who = if name.is_empty() { "this person".to_owned() } else { name.to_owned() };
        Self { card, who, problems: problems.len() }
    }
}

/// The preview for the form as it is now (the page's script posts it as
/// the owner types; nothing is saved).
pub async fn refresh(
    State(s): State<AppState>,
    SignedIn(_): SignedIn,
    user_id: Option<Path<String>>,
    CheckedForm(pairs): CheckedForm<Vec<(String, String)>>,
) -> PageResult {
    let (home, choices, _) = super::users::home(&s).await?;
    let current = match &user_id {
        Some(Path(id)) => Some(s.app.users.get(&home.id, id).await?),
        None => None,
    };
    let form = UserForm::from_pairs(&pairs);
    let preview = Preview::of(&form, &home, &choices.locks, current.as_ref());
    // It can hold the typed code: never cached.
    Ok(no_store(page(&Fragment { preview })))
}
