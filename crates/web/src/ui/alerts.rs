//! The Alerts page: the home's channels (where arrivals, duress and the
//! other alerts go), each with what became of its latest notifications, a
//! "Send a test" button and Remove; and a form to add one of each kind.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use keyward_app::{AppError, ChannelChange, ChannelInput, Delivery, DeliveryState};
use keyward_core::Actor;
use keyward_core::channel::{ChannelTarget, HttpUrl};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::web::{CheckedForm, Csrf, SignedIn};
use super::{ConfirmPage, CsrfOnly, Frame, PageResult, first_home, first_upper, no_store, page};
use crate::AppState;

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage<'a> {
    frame: Frame<'a>,
    channels: Vec<ChannelCard>,
    /// The form as typed, when it was refused.
    form: AddForm,
    /// Which field the refusal is about, and why, in words.
    error: Option<(&'static str, String)>,
    notice: Option<String>,
    /// A new webhook's signing secret, shown this once.
    new_secret: Option<String>,
    /// Whether a channel of the home receives emergencies already.
    emergency_channel: bool,
}

struct ChannelCard {
    id: String,
    name: String,
    /// "Webhook to hooks.example.org", "Email to owner@example.org".
    target: String,
    emergency: bool,
    quiet: Option<String>,
    deliveries: Vec<DeliveryLine>,
    failed: usize,
}

struct DeliveryLine {
    title: String,
    state: &'static str,
    problem: bool,
    when: String,
    detail: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct AddForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    /// A URL, an email address or a topic, by kind.
    #[serde(default)]
    address: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    emergency: Option<String>,
    #[serde(default)]
    quiet_start: String,
    #[serde(default)]
    quiet_end: String,
}

fn target_words(target: &ChannelTarget) -> String {
    match target {
        ChannelTarget::Webhook { url } => format!("Webhook to {}", url.host_and_port()),
        ChannelTarget::Email { to } => format!("Email to {to}"),
        ChannelTarget::Ntfy { url } => format!("Push through ntfy at {}", url.host_and_port()),
        ChannelTarget::Mqtt { topic } => format!("MQTT messages on {topic}"),
    }
}

fn delivery_line(d: Delivery, tz: &jiff::tz::TimeZone) -> DeliveryLine {
    let wall = |t: jiff::Timestamp| tz.to_datetime(t).strftime("%a %d %b %H:%M").to_string();
    let (state, problem) = match d.state {
        DeliveryState::Delivered => ("Delivered", false),
        DeliveryState::Pending if d.attempts == 0 => ("On its way", false),
        DeliveryState::Pending => ("Not delivered yet; keyward keeps trying", true),
        DeliveryState::Failed => ("Failed: given up after 24 hours", true),
    };
    DeliveryLine {
        title: d.title,
        state,
        problem,
        when: wall(d.delivered_at.unwrap_or(d.created_at)),
        detail: d.last_error.filter(|_| d.state != DeliveryState::Delivered).map(|e| first_upper(&e)),
    }
}

/// The Alerts page, with the add form as typed (`Some`, refused) or new.
async fn view(
    s: &AppState,
    owner: &str,
    csrf: &Csrf,
    form: Option<AddForm>,
    error: Option<(&'static str, String)>,
    notice: Option<String>,
    new_secret: Option<String>,
) -> PageResult {
    let channels = async {
        let home = first_home(s).await?;
        let tz = home.zone.tz().clone();
        let mut cards = Vec::new();
        for view in s.app.channels.list(&home.id).await? {
            let c = view.channel;
            let deliveries: Vec<DeliveryLine> = s
                .app
                .channels
                .deliveries(&home.id, &c.id, 5)
                .await?
                .into_iter()
                .map(|d| delivery_line(d, &tz))
                .collect();
            let hhmm = |t: jiff::civil::Time| format!("{:02}:{:02}", t.hour(), t.minute());
            cards.push(ChannelCard {
                failed: deliveries.iter().filter(|d| d.problem).count(),
                id: c.id,
                name: c.name.as_str().to_owned(),
                target: target_words(&c.target),
                emergency: c.emergency,
                quiet: c.quiet.map(|q| format!("{}–{}", hhmm(q.start), hhmm(q.end))),
                deliveries,
            });
        }
        Ok::<_, AppError>(cards)
    }
    .await?;
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let emergency_channel = channels.iter().any(|c| c.emergency);
    // A new channel's "also send emergencies here" starts ticked while
    // no channel of the home receives them: the owner who adds only
    // their phone hears of a duress code.
    let form = form
        .unwrap_or_else(|| AddForm { emergency: (!emergency_channel).then(|| "on".to_owned()), ..AddForm::default() });
    let page_view = AlertsPage {
        frame: Frame { active: "alerts", csrf: &csrf.token, email: owner },
        emergency_channel,
        channels,
        form,
        error,
        notice,
        new_secret,
    };
    Ok(no_store(csrf.attach((status, page(&page_view)))))
}

pub async fn alerts(State(s): State<AppState>, SignedIn(owner): SignedIn, csrf: Csrf) -> PageResult {
    view(&s, &owner.email, &csrf, None, None, None, None).await
}

/// The channel the form describes, or the field at fault and why.
fn input(form: &AddForm) -> Result<ChannelInput, (&'static str, String)> {
    let address = form.address.trim();
    let url = || HttpUrl::parse(address).map_err(|e| ("address", first_upper(&e.to_string())));
    let target = match form.kind.as_str() {
        "webhook" => ChannelTarget::Webhook { url: url()? },
        "ntfy" => ChannelTarget::Ntfy { url: url()? },
        "email" => ChannelTarget::email(address).map_err(|e| ("address", first_upper(&e.to_string())))?,
        "mqtt" => ChannelTarget::Mqtt {
            topic: ChannelTarget::mqtt_topic(address).map_err(|e| ("address", first_upper(&e.to_string())))?,
        },
        _ => return Err(("kind", "Choose how the alerts are sent.".to_owned())),
    };
    let token = form.token.trim();
    let token = match (&target, token.is_empty()) {
        (_, true) => None,
        (ChannelTarget::Ntfy { .. }, false) if token.chars().all(|c| c.is_ascii_graphic()) && token.len() <= 200 => {
            Some(Zeroizing::new(token.to_owned()))
        }
        (ChannelTarget::Ntfy { .. }, false) => {
            return Err(("token", "A token is up to 200 letters, digits and signs, without spaces.".to_owned()));
        }
        (_, false) => return Err(("token", "Only an ntfy channel takes a token; leave it empty.".to_owned())),
    };
    let time = |text: &str| jiff::civil::Time::strptime("%H:%M", super::user_form::tidy_time(text)).ok();
    let quiet = match (form.quiet_start.trim(), form.quiet_end.trim()) {
        ("", "") => None,
        (start, end) => match (time(start), time(end)) {
            (Some(start), Some(end)) => Some(keyward_core::notify::QuietHours { start, end }),
            _ => return Err(("quiet_start", "Quiet hours need both times, such as 22:00 and 07:00.".to_owned())),
        },
    };
    Ok(ChannelInput { name: form.name.clone(), target, emergency: form.emergency.is_some(), quiet, token })
}

pub async fn add(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    csrf: Csrf,
    CheckedForm(mut form): CheckedForm<AddForm>,
) -> PageResult {
    // The token is never sent back to the page.
    let parsed = input(&form);
    form.token = String::new();
    let channel = match parsed {
        Ok(channel) => channel,
        Err(error) => return view(&s, &owner.email, &csrf, Some(form), Some(error), None, None).await,
    };
    let created =
        async { s.app.channels.create(&first_home(&s).await?.id, channel, Actor::Owner(owner.email.clone())).await }
            .await;
    match created {
        Ok((channel, secret)) => {
            let secret = secret.map(|bytes| crate::api::webhook_secret_text(&bytes));
            let notice = format!("{} added. Send a test to check it arrives.", channel.name.as_str());
            view(&s, &owner.email, &csrf, None, None, Some(notice), secret).await
        }
        Err(e @ AppError::Name(_)) => {
            view(&s, &owner.email, &csrf, Some(form), Some(("name", first_upper(&e.to_string()))), None, None).await
        }
        Err(e @ AppError::ChannelNameTaken) => {
            view(&s, &owner.email, &csrf, Some(form), Some(("name", first_upper(&e.to_string()))), None, None).await
        }
        Err(e @ (AppError::ChannelInvalid(_) | AppError::ChannelUnavailable(_))) => {
            view(&s, &owner.email, &csrf, Some(form), Some(("address", first_upper(&e.to_string()))), None, None).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn test(
    State(s): State<AppState>,
    SignedIn(_): SignedIn,
    Path(id): Path<String>,
    CheckedForm(_): CheckedForm<CsrfOnly>,
) -> PageResult {
    s.app.channels.test(&first_home(&s).await?.id, &id).await?;
    Ok(Redirect::to("/alerts").into_response())
}

pub async fn remove_page(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    csrf: Csrf,
    Path(id): Path<String>,
) -> PageResult {
    let home = first_home(&s).await?;
    let channels = s.app.channels.list(&home.id).await?;
    let view = channels.into_iter().find(|c| c.channel.id == id).ok_or(AppError::ChannelNotFound)?;
    Ok(csrf.attach(page(&ConfirmPage {
        frame: Frame { active: "alerts", csrf: &csrf.token, email: &owner.email },
        title: format!("Remove {}?", view.channel.name.as_str()),
        question: "Alerts stop going there, and what it had still to deliver is dropped.".to_owned(),
        action: format!("/alerts/{}/delete", view.channel.id),
        button: "Remove",
        button_class: "danger",
        back: "/alerts".to_owned(),
    })))
}

pub async fn remove(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    Path(id): Path<String>,
    CheckedForm(_): CheckedForm<CsrfOnly>,
) -> PageResult {
    let actor = Actor::Owner(owner.email);
    s.app.channels.delete(&first_home(&s).await?.id, &id, actor).await?;
    Ok(Redirect::to("/alerts").into_response())
}

#[derive(Template)]
#[template(path = "channel_edit.html")]
struct EditPage<'a> {
    frame: Frame<'a>,
    id: &'a str,
    /// The channel's name as stored (the form may hold a new one).
    title_name: String,
    kind_words: &'static str,
    address_label: &'static str,
    ntfy: bool,
    has_token: bool,
    form: AddForm,
    error: Option<(&'static str, String)>,
}

/// The posted change form: the add form's fields and "remove the token".
#[derive(Deserialize, Default)]
pub struct EditForm {
    #[serde(flatten)]
    fields: AddForm,
    #[serde(default)]
    remove_token: Option<String>,
}

fn hhmm(t: jiff::civil::Time) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

fn address_text(target: &ChannelTarget) -> String {
    match target {
        ChannelTarget::Webhook { url } | ChannelTarget::Ntfy { url } => url.as_str().to_owned(),
        ChannelTarget::Email { to } => to.as_str().to_owned(),
        ChannelTarget::Mqtt { topic } => topic.clone(),
    }
}

async fn edit_view(
    s: &AppState,
    owner: &str,
    csrf: &Csrf,
    id: &str,
    form: Option<AddForm>,
    error: Option<(&'static str, String)>,
) -> PageResult {
    let home = first_home(s).await?;
    let channels = s.app.channels.list(&home.id).await?;
    let view = channels.into_iter().find(|c| c.channel.id == id).ok_or(AppError::ChannelNotFound)?;
    let c = &view.channel;
    let form = form.unwrap_or_else(|| AddForm {
        kind: c.target.kind().as_str().to_owned(),
        name: c.name.as_str().to_owned(),
        address: address_text(&c.target),
        emergency: c.emergency.then(|| "on".to_owned()),
        quiet_start: c.quiet.map(|q| hhmm(q.start)).unwrap_or_default(),
        quiet_end: c.quiet.map(|q| hhmm(q.end)).unwrap_or_default(),
        ..AddForm::default()
    });
    let (kind_words, address_label) = match &c.target {
        ChannelTarget::Webhook { .. } => {
            ("A webhook (Standard Webhooks); its signing secret stays", "The webhook's URL")
        }
        ChannelTarget::Ntfy { .. } => ("Push to a phone through ntfy", "The ntfy topic's URL"),
        ChannelTarget::Email { .. } => ("Email", "The email address"),
        ChannelTarget::Mqtt { .. } => ("MQTT messages", "The MQTT topic"),
    };
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let page_view = EditPage {
        frame: Frame { active: "alerts", csrf: &csrf.token, email: owner },
        id,
        title_name: c.name.as_str().to_owned(),
        kind_words,
        address_label,
        ntfy: matches!(c.target, ChannelTarget::Ntfy { .. }),
        has_token: view.has_token,
        form,
        error,
    };
    Ok(no_store(csrf.attach((status, page(&page_view)))))
}

pub async fn edit_page(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    csrf: Csrf,
    Path(id): Path<String>,
) -> PageResult {
    edit_view(&s, &owner.email, &csrf, &id, None, None).await
}

/// The change the form asks for: only what differs from the channel as it
/// is, so an unchanged address is not checked again.
fn change(form: &EditForm, current: &keyward_core::channel::Channel) -> Result<ChannelChange, (&'static str, String)> {
    let mut probe = AddForm { kind: current.target.kind().as_str().to_owned(), ..AddForm::default() };
    probe.name = form.fields.name.clone();
    probe.address = form.fields.address.clone();
    probe.token = form.fields.token.clone();
    probe.emergency = form.fields.emergency.clone();
    probe.quiet_start = form.fields.quiet_start.clone();
    probe.quiet_end = form.fields.quiet_end.clone();
    let parsed = input(&probe)?;
    let moved = parsed.target != current.target;
    let mut change = ChannelChange {
        name: (parsed.name != current.name.as_str()).then(|| parsed.name.clone()),
        emergency: Some(parsed.emergency),
        quiet: Some(parsed.quiet),
        ..ChannelChange::default()
    };
    if moved {
        match parsed.target {
            ChannelTarget::Webhook { url } | ChannelTarget::Ntfy { url } => change.url = Some(url),
            ChannelTarget::Email { to } => change.to = Some(to),
            ChannelTarget::Mqtt { topic } => change.topic = Some(topic),
        }
    }
    change.token = match (parsed.token, form.remove_token.is_some()) {
        (Some(token), _) => Some(Some(token)),
        (None, true) => Some(None),
        (None, false) => None,
    };
    Ok(change)
}

pub async fn save(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    csrf: Csrf,
    Path(id): Path<String>,
    CheckedForm(mut form): CheckedForm<EditForm>,
) -> PageResult {
    let home_id = first_home(&s).await?.id;
    let channels = s.app.channels.list(&home_id).await?;
    let current = channels.into_iter().find(|c| c.channel.id == id).ok_or(AppError::ChannelNotFound)?.channel;
    let parsed = change(&form, &current);
    // The token is never sent back to the page.
    form.fields.token = String::new();
    let change = match parsed {
        Ok(change) => change,
        Err(error) => return edit_view(&s, &owner.email, &csrf, &id, Some(form.fields), Some(error)).await,
    };
    match s.app.channels.update(&home_id, &id, change, Actor::Owner(owner.email.clone())).await {
        Ok(view) => {
            let notice = format!("{} saved. Send a test to check it arrives.", view.channel.name.as_str());
            view_with_notice(&s, &owner.email, &csrf, notice).await
        }
        Err(e @ (AppError::Name(_) | AppError::ChannelNameTaken)) => {
            let error = Some(("name", first_upper(&e.to_string())));
            edit_view(&s, &owner.email, &csrf, &id, Some(form.fields), error).await
        }
        Err(e @ (AppError::ChannelInvalid(_) | AppError::ChannelUnavailable(_) | AppError::ChannelKindFixed(_))) => {
            let error = Some(("address", first_upper(&e.to_string())));
            edit_view(&s, &owner.email, &csrf, &id, Some(form.fields), error).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn view_with_notice(s: &AppState, owner: &str, csrf: &Csrf, notice: String) -> PageResult {
    view(s, owner, csrf, None, None, Some(notice), None).await
}
