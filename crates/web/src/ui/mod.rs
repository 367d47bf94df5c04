//! The owner's web UI: server-rendered pages that work without JavaScript.
//! Every form carries a CSRF token tied to the browser's CSRF cookie; a
//! state-changing request without a valid one changes nothing.

mod activity;
mod alerts;
mod dashboard;
mod flash;
mod lock_state;
mod page_error;
mod panel_card;
mod preview;
mod sensors_page;
mod settings;
mod share;
mod sharing;
mod summary;
mod user_agent;
mod user_form;
mod users;
mod web;

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, State};
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use keyward_app::owners::{SetupError, SignInAttempt, SignInError};
use serde::Deserialize;

use crate::AppState;
use crate::edge::EdgeRoutes;
use page_error::{PageError, PageResult};
use web::{CSRF_COOKIE, CheckedForm, Csrf, DEVICE_COOKIE, SESSION_COOKIE, cookie, device_cookie, set_cookie};

pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .edge_route("/", get(start))
        .edge_route("/setup", get(setup_page).post(setup_submit))
        .edge_route("/login", get(login_page).post(login_submit))
        .edge_route("/logout", post(logout))
        .edge_route("/users", get(dashboard::page_view))
        .edge_route("/panel/arm", post(panel_card::arm))
        .edge_route("/sensors", get(sensors_page::page_view).post(sensors_page::add_sensor))
        .edge_route("/sirens", post(sensors_page::add_siren))
        .edge_route("/sensors/{id}/delete", get(sensors_page::remove_page).post(sensors_page::remove))
        .edge_route("/panel/disarm", post(panel_card::disarm))
        .edge_route("/users/new", get(users::new_page).post(users::create))
        .edge_route("/users/new/proposal", get(users::proposal))
        .edge_route("/users/enabled", post(users::set_enabled_from_list))
        .edge_route("/users/{user_id}/proposal", get(users::proposal))
        .edge_route("/users/new/preview", post(preview::refresh))
        .edge_route("/users/{user_id}/preview", post(preview::refresh))
        .edge_route("/users/{user_id}/enabled", post(users::set_enabled))
        .edge_route("/users/{user_id}", get(users::edit_page).post(users::update))
        .edge_route("/users/{user_id}/delete", get(users::delete_page).post(users::delete))
        .edge_route("/users/{user_id}/reveal", get(users::reveal_page).post(users::reveal))
        .edge_route("/users/{user_id}/retry", post(users::retry))
        .edge_route("/users/{user_id}/share", get(sharing::page_view).post(sharing::create))
        .edge_route("/users/{user_id}/share/{share_id}/revoke", post(sharing::revoke))
        .edge_route("/locks/{lock_id}/slots/{slot}/take-over", post(users::take_over))
        .edge_route("/activity", get(activity::page_view))
        .edge_route("/activity.csv", get(activity::csv))
        .edge_route("/activity.jsonl", get(activity::jsonl))
        .edge_route("/activity/stream", get(activity::stream))
        .edge_route("/locks", get(settings::locks).post(settings::add_lock))
        .edge_route("/locks/{lock_id}", post(settings::rename_lock))
        .edge_route("/locks/{lock_id}/delete", get(settings::remove_lock_page).post(settings::remove_lock))
        .edge_route("/locks/{lock_id}/lock", post(settings::lock_lock))
        .edge_route("/locks/{lock_id}/unlock", get(settings::unlock_page).post(settings::unlock_lock))
        .edge_route("/alerts", get(alerts::alerts).post(alerts::add))
        .edge_route("/alerts/{channel_id}", get(alerts::edit_page).post(alerts::save))
        .edge_route("/alerts/{channel_id}/test", post(alerts::test))
        .edge_route("/alerts/{channel_id}/delete", get(alerts::remove_page).post(alerts::remove))
        .edge_route("/settings", get(settings::settings).post(settings::save_settings))
        .edge_route("/settings/tokens", post(settings::create_token))
        .edge_route("/settings/sign-out-everywhere", post(settings::sign_out_everywhere))
        .edge_route("/settings/invites", post(settings::invite))
        .edge_route("/settings/invites/{invite_id}/revoke", post(settings::revoke_invite))
        .edge_route("/settings/sessions/{session_id}/end", post(settings::end_session))
        .edge_route("/invite/{secret}", get(invite_page).post(invite_submit))
        .edge_route("/share/{token}", get(share::ask).post(share::open))
        .edge_route("/settings/tokens/{token_id}/revoke", post(settings::revoke_token))
        .edge_route("/static/app.css", get(css))
        .edge_route("/static/live.js", get(live_js))
        .edge_route("/static/user_form.js", get(user_form_js))
        .edge_route("/static/setup.js", get(setup_js))
        .edge_route(
            "/static/copy.js",
            get(|| asset("text/javascript; charset=utf-8", include_bytes!("../../static/copy.js"))),
        )
        .edge_route("/static/icon.svg", get(|| asset("image/svg+xml", include_bytes!("../../static/icon.svg"))))
        .edge_route("/static/icon-192.png", get(|| asset("image/png", include_bytes!("../../static/icon-192.png"))))
        .edge_route("/static/icon-512.png", get(|| asset("image/png", include_bytes!("../../static/icon-512.png"))))
        .edge_route(
            "/manifest.webmanifest",
            get(|| asset("application/manifest+json", include_bytes!("../../static/manifest.webmanifest"))),
        )
}

async fn css() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("../../static/app.css"))
}

async fn live_js() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("../../static/live.js"))
}

/// A file built into the binary, cached for a day: icons and the manifest
/// change only with a new release.
async fn asset(content_type: &'static str, bytes: &'static [u8]) -> Response {
    let headers = [(CONTENT_TYPE, content_type), (axum::http::header::CACHE_CONTROL, "public, max-age=86400")];
    (headers, bytes).into_response()
}

async fn setup_js() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("../../static/setup.js"))
}

async fn user_form_js() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("../../static/user_form.js"))
}

fn page(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be shown").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct Message<'a> {
    title: &'a str,
    message: &'a str,
    link: &'a str,
}

/// "Are you sure?" before deleting or revealing something.
/// What every signed-in page shares: the tab it is on, the form token and
/// the owner's email, for the header (`nav.html`). One struct, so a page
/// cannot leave one out.
pub(crate) struct Frame<'a> {
    pub active: &'a str,
    pub csrf: &'a str,
    pub email: &'a str,
}

#[derive(Template)]
#[template(path = "confirm.html")]
pub(crate) struct ConfirmPage<'a> {
    pub frame: Frame<'a>,
    pub title: String,
    pub question: String,
    pub action: String,
    pub button: &'a str,
    pub button_class: &'a str,
    pub back: String,
}

/// The page for an address that is not one of the UI's (or not for this
/// method): in words, with the site's frame, never the API's JSON.
pub(crate) fn not_found_page() -> Response {
    PageError::NotFound.into_response()
}

/// Every page while the hub cannot serve (`switch::unavailable`).
pub(crate) fn unavailable_page(reason: &str) -> Response {
    let body = page(&Message { title: "keyward is not available", message: reason, link: "/users" });
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
    response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("5"));
    no_store(response)
}

/// Keeps a page out of every cache: it shows a code, a token or a link that is a credential.
pub(crate) fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    response
}

async fn start(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if s.app.owners.needs_setup().await.unwrap_or(false) {
        return Redirect::to("/setup").into_response();
    }
    let signed_in = match cookie(&headers, SESSION_COOKIE) {
        Some(secret) => s.app.owners.session_owner(secret).await.ok().flatten().is_some(),
        None => false,
    };
    Redirect::to(if signed_in { "/users" } else { "/login" }).into_response()
}

// ---- first run

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage<'a> {
    csrf: &'a str,
    /// As typed, on a refused form (the page is never cached).
    setup_code: &'a str,
    email: &'a str,
    /// As typed (empty at first: the home's name is the placeholder, so
    /// typing replaces it rather than adding to it).
    home_name: &'a str,
    /// The name the home keeps when the field is left empty.
    home_placeholder: &'a str,
    timezone: &'a str,
    zones: &'a [String],
    /// The hub has no zone of its own yet (UTC): the page may propose the browser's.
    propose_browser_zone: bool,
    /// A failure that belongs to no field.
    error: Option<String>,
    errors: std::collections::BTreeMap<&'static str, String>,
    focus: &'static str,
}

/// The order of the setup form's fields, for the focus on the first error.
const SETUP_FIELDS: [&str; 5] = ["setup_code", "home_name", "timezone", "email", "password"];

#[derive(Deserialize)]
struct SetupForm {
    #[serde(default)]
    setup_code: String,
    /// Absent (a client of the older form): the home keeps its name.
    #[serde(default)]
    home_name: Option<String>,
    /// Absent: the home keeps its zone.
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

async fn setup_page(State(s): State<AppState>, csrf: Csrf) -> PageResult {
    if !s.app.owners.needs_setup().await.unwrap_or(false) {
        return Ok(Redirect::to("/login").into_response());
    }
    let home = first_home(&s).await?;
    let view = SetupPage {
        csrf: &csrf.token,
        setup_code: "",
        email: "",
        home_name: "",
        home_placeholder: home.name.as_str(),
        timezone: home.zone.as_str(),
        zones: settings::zone_names(),
        propose_browser_zone: home.zone.as_str() == "UTC",
        error: None,
        errors: Default::default(),
        focus: "setup_code",
    };
    Ok(csrf.attach(page(&view)))
}

async fn setup_submit(
    State(s): State<AppState>,
    headers: HeaderMap,
    csrf: Csrf,
    CheckedForm(form): CheckedForm<SetupForm>,
) -> PageResult {
    let home = first_home(&s).await?;
    // Left empty (or absent, from an older form): the name the placeholder shows.
    let typed_name = form.home_name.clone().unwrap_or_default();
    let home_name = if typed_name.trim().is_empty() { home.name.clone() } else { typed_name.clone() };
    let timezone = form.timezone.as_deref().map_or_else(|| home.zone.as_str().to_owned(), |t| t.trim().to_owned());
    let mut errors = std::collections::BTreeMap::new();
    // The home's name and zone are checked first: a refused form creates no owner.
    if keyward_core::Name::parse(home_name.clone()).is_err() {
        errors
            .insert("home_name", "Give the home a name of 1 to 64 characters, such as Home or Lake house.".to_owned());
    }
    if keyward_core::ZoneName::parse(&timezone).is_err() {
        errors.insert(
            "timezone",
            "Choose a time zone from the list, such as Europe/Berlin or America/New_York.".to_owned(),
        );
    }
    // Every mistake at once: the account's fields are checked here too, and
    // the setup code is checked (creating nothing) when anything else is wrong.
    match keyward_app::owners::normalize_email(&form.email) {
        None => {
            errors.insert("email", "An email address looks like anna@example.org.".to_owned());
        }
        Some(email) => {
            if let Err(e) = keyward_core::check_password(&form.password, &email) {
                errors.insert("password", first_upper(&e.to_string()));
            }
        }
    }
    if !errors.is_empty() && !matches!(s.app.owners.setup_code_matches(&form.setup_code).await, Ok(true)) {
        errors.insert("setup_code", "This is not the setup code keyward printed: check for a typo.".to_owned());
    }
    let mut error = None;
    if errors.is_empty() {
        match s.app.owners.set_up(&form.setup_code, &form.email, &form.password).await {
            Ok((_, session)) => {
                describe_session(&s, &headers, &session.0).await;
                let patch = keyward_app::HomePatch {
                    name: Some(home_name.clone()),
                    timezone: Some(timezone.clone()),
                    ..keyward_app::HomePatch::default()
                };
                if let Err(e) = s.app.homes.update(&home.id, patch).await {
                    // The owner exists now: they can fix the home in Settings.
                    tracing::error!(error = %e, "setup could not save the home's name and zone");
                }
                return Ok(signed_in_redirect(&headers, &session.0));
            }
            Err(SetupError::AlreadySetUp) => return Ok(Redirect::to("/login").into_response()),
            Err(SetupError::WrongSetupCode) => {
                errors.insert("setup_code", "This is not the setup code keyward printed: check for a typo.".to_owned());
            }
            Err(SetupError::Email) => {
                errors.insert("email", "An email address looks like anna@example.org.".to_owned());
            }
            Err(SetupError::Password(e)) => {
                errors.insert("password", first_upper(&e.to_string()));
            }
            Err(e) => error = Some(first_upper(&e.to_string())),
        }
    }
    let status = if error.is_some() { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::UNPROCESSABLE_ENTITY };
    let focus = SETUP_FIELDS.iter().copied().find(|f| errors.contains_key(f)).unwrap_or("setup_code");
    let view = SetupPage {
        csrf: &csrf.token,
        setup_code: if errors.contains_key("setup_code") { "" } else { form.setup_code.as_str() },
        email: &form.email,
        home_name: &typed_name,
        home_placeholder: home.name.as_str(),
        timezone: &timezone,
        zones: settings::zone_names(),
        propose_browser_zone: false,
        error,
        errors,
        focus,
    };
    Ok((status, no_store(csrf.attach(page(&view)))).into_response())
}

// ---- sign in and out

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    csrf: &'a str,
    email: &'a str,
    error: Option<String>,
    /// What the owner just did, said once ("Signed out everywhere …").
    flash: Option<String>,
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

async fn login_page(State(s): State<AppState>, headers: HeaderMap, csrf: Csrf) -> Response {
    if s.app.owners.needs_setup().await.unwrap_or(false) {
        return Redirect::to("/setup").into_response();
    }
    let flash = flash::take(&headers);
    flash::shown(&headers, csrf.attach(page(&LoginPage { csrf: &csrf.token, email: "", error: None, flash })))
}

/// Names a new session by the browser that started it ("Firefox on
/// Android"), for the owner's list of sessions. Not worth failing a
/// sign-in over: a session left unnamed is listed as "A browser".
async fn describe_session(s: &AppState, headers: &HeaderMap, session: &str) {
    let agent = headers.get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if let Err(error) = s.app.owners.describe_session(session, &user_agent::words(agent)).await {
        tracing::warn!(%error, "a new session could not be named");
    }
}

async fn login_submit(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    csrf: Csrf,
    CheckedForm(form): CheckedForm<LoginForm>,
) -> Response {
    let attempt = SignInAttempt {
        email: &form.email,
        password: &form.password,
        address: s.trusted_proxies.client(peer.ip(), &headers),
        device: cookie(&headers, DEVICE_COOKIE),
    };
    match s.app.owners.sign_in(attempt).await {
        Ok(signed_in) => {
            describe_session(&s, &headers, &signed_in.session.0).await;
            let mut response = signed_in_redirect(&headers, &signed_in.session.0);
            if let Some(device) = signed_in.new_device {
                response.headers_mut().append(SET_COOKIE, device_cookie(&headers, &device.0));
            }
            response
        }
        Err(e) => {
            let (status, retry_after) = match &e {
                SignInError::WrongCredentials => (StatusCode::UNAUTHORIZED, None),
                SignInError::Throttled { retry_after } => (StatusCode::TOO_MANY_REQUESTS, Some(*retry_after)),
                SignInError::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, Some(1)),
                SignInError::App(_) => (StatusCode::INTERNAL_SERVER_ERROR, None),
            };
            let error = Some(first_upper(&e.to_string()));
            let mut response =
                (status, csrf.attach(page(&LoginPage { csrf: &csrf.token, email: &form.email, error, flash: None })))
                    .into_response();
            if let Some(seconds) = retry_after {
                response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds));
            }
            response
        }
    }
}

/// A fresh session cookie (a new token at every sign-in), and a fresh CSRF
/// cookie with it.
fn signed_in_redirect(headers: &HeaderMap, secret: &str) -> Response {
    let mut response = Redirect::to("/users").into_response();
    let cookies = response.headers_mut();
    cookies.append(SET_COOKIE, set_cookie(headers, SESSION_COOKIE, secret, "Lax", None));
    cookies.append(
        SET_COOKIE,
        set_cookie(headers, CSRF_COOKIE, &keyward_app::secrets::random_hex(32), web::CSRF_SAME_SITE, None),
    );
    response
}

/// A form of nothing but its CSRF token (which `CheckedForm` reads).
#[derive(Deserialize)]
pub(crate) struct CsrfOnly {}

async fn logout(State(s): State<AppState>, headers: HeaderMap, CheckedForm(_): CheckedForm<CsrfOnly>) -> Response {
    if let Some(secret) = cookie(&headers, SESSION_COOKIE)
        && let Err(e) = s.app.owners.sign_out(secret).await
    {
        tracing::error!(error = %e, "sign-out failed");
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(SET_COOKIE, set_cookie(&headers, SESSION_COOKIE, "", "Lax", Some(0)));
    response
}

// ---- invitations

#[derive(Template)]
#[template(path = "invite.html")]
struct InvitePage<'a> {
    csrf: &'a str,
    email: &'a str,
    secret: &'a str,
    error: Option<String>,
}

async fn invite_page(
    State(s): State<AppState>,
    csrf: Csrf,
    axum::extract::Path(secret): axum::extract::Path<String>,
) -> PageResult {
    let email = s.app.owners.invitation(&secret).await?.ok_or(PageError::InviteInvalid)?;
    // The link is a credential: kept out of caches (and, by the
    // Referrer-Policy, out of other sites' logs).
    Ok(no_store(csrf.attach(page(&InvitePage { csrf: &csrf.token, email: &email, secret: &secret, error: None }))))
}

#[derive(Deserialize)]
struct InviteForm {
    #[serde(default)]
    password: String,
}

async fn invite_submit(
    State(s): State<AppState>,
    headers: HeaderMap,
    csrf: Csrf,
    axum::extract::Path(secret): axum::extract::Path<String>,
    CheckedForm(form): CheckedForm<InviteForm>,
) -> PageResult {
    match s.app.owners.accept_invitation(&secret, &form.password).await {
        Ok((_, session)) => {
            describe_session(&s, &headers, &session.0).await;
            Ok(signed_in_redirect(&headers, &session.0))
        }
        Err(SetupError::InviteInvalid) => Err(PageError::InviteInvalid),
        Err(SetupError::App(e)) => Err(e.into()),
        Err(e) => {
            let email = s.app.owners.invitation(&secret).await.ok().flatten().unwrap_or_default();
            let error = Some(first_upper(&e.to_string()));
            let view = InvitePage { csrf: &csrf.token, email: &email, secret: &secret, error };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, csrf.attach(page(&view))).into_response())
        }
    }
}

/// The home the pages show: the first one (several homes per installation
/// come with the many-homes issue).
pub(crate) async fn first_home(s: &AppState) -> Result<keyward_app::HomeView, keyward_app::AppError> {
    s.app.homes.list().await?.into_iter().next().ok_or(keyward_app::AppError::HomeNotFound)
}

pub(crate) fn first_upper(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
