//! The Locks and Settings pages: locks, the home's settings, API tokens.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use keyward_app::{AppError, HomePatch, HomeView};
use keyward_core::Scope;
use serde::Deserialize;

use super::web::{CheckedForm, Csrf, SignedIn};
use super::{ConfirmPage, CsrfOnly, Frame, PageError, PageResult, first_home, first_upper, no_store, page};
use crate::AppState;

fn sentence(e: &impl std::fmt::Display) -> String {
    first_upper(&e.to_string())
}

// ---- locks

#[derive(Template)]
#[template(path = "locks.html")]
struct LocksPage<'a> {
    frame: Frame<'a>,
    locks: Vec<LockCard>,
    /// Devices the networks offer that no lock is bound to: value, words.
    offered: Vec<(String, String)>,
    /// Each configured device network and whether keyward is connected to it.
    networks: Vec<(String, bool)>,
    error: Option<String>,
    /// The Add lock form as refused: the name typed, and why, beside it.
    new_name: String,
    new_error: Option<String>,
    /// The confirmation of what the owner just did, shown once.
    flash: Option<String>,
}

/// One lock on the Locks page.
struct LockCard {
    id: String,
    name: String,
    /// What its device says, in words.
    state: String,
    /// Being removed, unbound or moved: what keyward still has to take off
    /// its device, in words.
    removal: Option<String>,
    /// Bound to a device: it can be locked and unlocked from here.
    bound: bool,
    /// Each code slot keyward may use, in order.
    slots: Vec<SlotLine>,
    /// How many of them hold a user's code or are kept for one.
    used: usize,
    /// The tile's headline: "Locked", "Unlocked", "Offline", "Jammed",
    /// "Not reachable", "No device"; and its colour class.
    look: (&'static str, &'static str),
    /// Whether the bolt is thrown, as the device last said.
    locked: Option<bool>,
    /// Slots whose code is not (yet) as keyward wants it: "in step" when none.
    differences: usize,
    /// The lock's own wrong-code limit, in words, once keyward set it.
    keypad_limit: Option<String>,
}

/// A lock tile's headline and colour: what matters first at a glance.
/// `info`: what its network reports of its device, if it is bound and reachable.
fn tile_look(
    lock: &keyward_app::LockView,
    info: Option<&keyward_app::devices::DeviceInfo>,
) -> ((&'static str, &'static str), Option<bool>) {
    if lock.device.is_none() {
        return (("No device", "none"), None);
    }
    let Some(info) = info else { return (("Not reachable", "off"), None) };
    let look = match (info.online, info.state.jammed, info.state.locked) {
        (false, _, _) => ("Offline", "off"),
        (true, true, _) => ("Jammed", "bad"),
        (true, false, Some(true)) => ("Locked", "ok"),
        (true, false, Some(false)) => ("Unlocked", "warn"),
        (true, false, None) => ("Online", "none"),
    };
    (look, info.state.locked)
}

/// One code slot of a lock, in words.
struct SlotLine {
    slot: u16,
    /// The user it belongs to: id and name.
    user: Option<(String, String)>,
    /// What is in it, when no user is: "Empty", "Not read yet", "A code
    /// programmed at the lock".
    holds: &'static str,
    status: &'static str,
    /// A code programmed at the lock: the owner may let keyward take the slot over.
    foreign: bool,
    problem: bool,
    /// Not yet as keyward wants it: a write or a clearing under way.
    pending: bool,
}

/// A slot's state in a few words.
fn slot_line(view: keyward_app::SlotView, names: &std::collections::HashMap<String, String>) -> SlotLine {
    use keyward_core::{CodeStatus, FailureReason};
    let status = match (view.status, view.reason) {
        _ if view.user_id.is_none() => "",
        (CodeStatus::OnLock, _) => "Code on the lock",
        (CodeStatus::Adding, _) => "Being put on the lock",
        (CodeStatus::Removing, _) => "Being taken off the lock",
        (CodeStatus::OffLock, _) => "Kept for them; not on the lock now",
        (CodeStatus::Failed, Some(FailureReason::DuplicateOnLock)) => {
            "Refused: the lock already has this code in another slot"
        }
        (CodeStatus::Failed, Some(FailureReason::MemoryFull)) => "Refused: the lock's memory is full",
        (CodeStatus::Failed, Some(FailureReason::Offline)) => "Waiting: the lock is not answering",
        (CodeStatus::Failed, Some(FailureReason::NoFreeSlot)) => "No free slot",
        (CodeStatus::Failed, _) => "The lock did not confirm the code; keyward tries again",
    };
    let holds = match (&view.user_id, view.foreign, view.unread) {
        (Some(_), _, _) => "",
        (None, true, _) => "A code programmed at the lock",
        (None, false, true) => "Not read yet",
        (None, false, false) => "Empty",
    };
    SlotLine {
        slot: view.slot,
        user: view.user_id.map(|id| {
            let name = names.get(&id).cloned().unwrap_or_else(|| "A deleted user".to_owned());
            (id, name)
        }),
        holds,
        status,
        foreign: view.foreign,
        problem: view.status == keyward_core::CodeStatus::Failed,
        pending: matches!(view.status, CodeStatus::Adding | CodeStatus::Removing),
    }
}

/// A bound lock's device and state in plain words.
fn device_words(
    lock: &keyward_app::LockView,
    info: Option<&keyward_app::devices::DeviceInfo>,
    used: usize,
    foreign: usize,
) -> String {
    let Some(binding) = &lock.device else {
        return "No device: keyward decides for it, but holds no codes in it.".into();
    };
    let Some(info) = info else {
        return format!("{}: not reachable now.", binding.device);
    };
    let state = super::lock_state::describe(info);
    let mut text = format!("{} ({} {}) · {state}", shown(info), info.manufacturer, info.model);
    if let Some(count) = binding.slots.map(|r| usize::from(r.last() - r.first()) + 1).or(info.slots.map(usize::from)) {
        text.push_str(&format!(" · {used} of {count} code slots used by keyward"));
    }
    if foreign > 0 {
        let holds = if foreign == 1 { "holds a code" } else { "hold codes" };
        text.push_str(&format!(", {foreign} {holds} programmed at the lock"));
    }
    text
}

/// A device as the owner knows it: a Zigbee lock by the name Zigbee2MQTT
/// gives it now ("Zigbee device front_door"), a Z-Wave lock by its node.
fn shown(info: &keyward_app::devices::DeviceInfo) -> String {
    match &info.name {
        Some(name) => format!("Zigbee device {name}"),
        None => info.device.to_string(),
    }
}

/// A lock being removed, unbound or moved, in words: what keyward still
/// takes off its device first.
fn removal_words(lock: &keyward_app::LockView, names: &std::collections::HashMap<String, String>) -> Option<String> {
    let removal = lock.removal.as_ref()?;
    let device = match (&lock.device, &lock.device_name) {
        (Some(_), Some(name)) => format!("Zigbee device {name}"),
        (Some(binding), None) => binding.device.to_string(),
        (None, _) => "its device".to_owned(),
    };
    let doing = match removal.what {
        keyward_core::Removal::Delete => "Being removed",
        keyward_core::Removal::Unbind => "Being unbound from its device",
        keyward_core::Removal::Move(_) => "Moving to another device",
    };
    let codes: Vec<String> = removal
        .left
        .iter()
        .map(|c| {
            let who = c.user_id.as_ref().and_then(|id| names.get(id)).map_or("a deleted user", String::as_str);
            format!("{who} (slot {})", c.slot)
        })
        .collect();
    Some(format!(
        "{doing}: keyward is taking its codes off {device} first ({}). No code opens it through keyward meanwhile.",
        if codes.is_empty() {
            "checking what is left".to_owned()
        } else {
            format!("still there: {}", codes.join(", "))
        }
    ))
}

/// A device network as the owner knows it.
fn network_name(protocol: keyward_core::Protocol) -> &'static str {
    match protocol {
        keyward_core::Protocol::ZwaveJs => "Z-Wave JS",
        keyward_core::Protocol::Zigbee2Mqtt => "Zigbee2MQTT",
    }
}

/// A refusal about a lock's device, in the owner's words rather than the API's.
fn device_sentence(e: &AppError) -> String {
    match e {
        AppError::DeviceUnavailable => "This device is not reachable now: check that the Z-Wave network is connected (see Locks in the README), then pick it again.".into(),
        AppError::DeviceInUse => "This device already belongs to another lock.".into(),
        AppError::DeviceFailed => "The lock did not carry out the command: it is offline or refused it. Nothing was changed.".into(),
        other => sentence(other),
    }
}

async fn locks_view(s: &AppState, owner: &str, csrf: &Csrf, error: Option<String>) -> PageResult {
    locks_view_with(s, owner, csrf, error, None, None).await
}

/// The Locks page; `refused_add`: the name typed in Add lock and why it was refused.
async fn locks_view_with(
    s: &AppState,
    owner: &str,
    csrf: &Csrf,
    error: Option<String>,
    refused_add: Option<(String, String)>,
    flash: Option<String>,
) -> PageResult {
    let found = async {
        let home = first_home(s).await?;
        let locks = s.app.homes.list_locks(&home.id).await?;
        let users = s.app.users.list(&home.id).await?;
        Ok::<_, AppError>((locks, users))
    }
    .await;
    match found {
        Ok((locks, users)) => {
            let status = if error.is_some() || refused_add.is_some() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            };
            let (new_name, new_error) = match refused_add {
                Some((name, why)) => (name, Some(why)),
                None => (String::new(), None),
            };
            let names: std::collections::HashMap<String, String> = users.into_iter().map(|u| (u.id, u.name)).collect();
            let bound: Vec<_> = locks.iter().filter_map(|l| l.device.as_ref().map(|b| b.device.clone())).collect();
            let offered = s
                .app
                .locks
                .networks()
                .iter()
                .flat_map(|n| n.devices())
                .filter(|d| !bound.contains(&d.device))
                .map(|d| {
                    (form_value(&d.device), format!("{} — {} {}, {}", d.label, d.manufacturer, d.model, shown(&d)))
                })
                .collect();
            let locks = locks
                .iter()
                .map(|l| {
                    let slots: Vec<SlotLine> = if l.device.is_some() {
                        s.app.locks.slots(&l.id).into_iter().map(|v| slot_line(v, &names)).collect()
                    } else {
                        Vec::new()
                    };
                    let used = slots.iter().filter(|v| v.user.is_some()).count();
                    let foreign = slots.iter().filter(|v| v.foreign).count();
                    let differences = slots.iter().filter(|v| v.problem || v.pending).count();
                    // Asked once: the tile's headline and its line say the same.
                    let info = l.device.as_ref().and_then(|b| s.app.locks.device_info(&b.device));
                    let (look, locked) = tile_look(l, info.as_ref());
                    LockCard {
                        id: l.id.clone(),
                        name: l.name.clone(),
                        state: device_words(l, info.as_ref(), used, foreign),
                        removal: removal_words(l, &names),
                        bound: l.device.is_some(),
                        slots,
                        used,
                        look,
                        locked,
                        differences,
                        keypad_limit: s.app.locks.keypad_limit(&l.id).map(|limit| match limit {
                            keyward_app::KeypadLimitView::Held(held) => format!(
                                "Its own keypad: {} wrong codes in a row, then no code for {} s.",
                                held.attempts, held.seconds
                            ),
                            keyward_app::KeypadLimitView::Unsupported => {
                                "Its keypad keeps its own wrong-code limit: the lock did not take the home's."
                                    .to_owned()
                            }
                        }),
                    }
                })
                .collect();
            let mut networks: Vec<(String, bool)> = s.app.links.iter().map(|l| (l.label(), l.connected())).collect();
            networks
                .extend(s.app.locks.networks().iter().map(|n| (network_name(n.protocol()).to_owned(), n.connected())));
            let view = LocksPage {
                frame: Frame { active: "locks", csrf: &csrf.token, email: owner },
                locks,
                offered,
                networks,
                error,
                new_name,
                new_error,
                flash,
            };
            Ok((status, csrf.attach(page(&view))).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn locks(State(s): State<AppState>, SignedIn(owner): SignedIn, headers: HeaderMap, csrf: Csrf) -> PageResult {
    let flash = super::flash::take(&headers);
    Ok(super::flash::shown(&headers, locks_view_with(&s, &owner.email, &csrf, None, None, flash).await?))
}

#[derive(Deserialize)]
pub struct NameForm {
    #[serde(default)]
    name: String,
    /// "zwave_js:2", or empty for a lock without a device.
    #[serde(default)]
    device: String,
}

/// A device as the Add lock form's picker names it: "zwave_js:2",
/// "zigbee2mqtt:front_door".
fn form_value(device: &keyward_core::DeviceRef) -> String {
    match device {
        keyward_core::DeviceRef::ZwaveJs { node_id } => format!("zwave_js:{node_id}"),
        keyward_core::DeviceRef::Zigbee2Mqtt { ieee_address } => format!("zigbee2mqtt:{}", ieee_address.as_str()),
        keyward_core::DeviceRef::Zigbee2MqttNamed { friendly_name } => {
            format!("zigbee2mqtt:{}", friendly_name.as_str())
        }
    }
}

/// The device picked in the Add lock form.
fn picked_device(value: &str) -> Result<Option<keyward_app::DeviceRequest>, AppError> {
    use keyward_core::{DeviceRef, FriendlyName, IeeeAddress, Protocol};
    if value.is_empty() {
        return Ok(None);
    }
    let (protocol, address) = value.split_once(':').ok_or(AppError::DeviceUnavailable)?;
    let device = match Protocol::parse(protocol).ok_or(AppError::DeviceUnavailable)? {
        Protocol::ZwaveJs => DeviceRef::ZwaveJs { node_id: address.parse().map_err(|_| AppError::DeviceUnavailable)? },
        Protocol::Zigbee2Mqtt => match IeeeAddress::parse(address) {
            Ok(ieee_address) => DeviceRef::Zigbee2Mqtt { ieee_address },
            Err(_) => DeviceRef::Zigbee2MqttNamed {
                friendly_name: FriendlyName::parse(address).map_err(|_| AppError::DeviceUnavailable)?,
            },
        },
    };
    Ok(Some(keyward_app::DeviceRequest { device, slots: None }))
}

/// A name no lock of the home has, to suggest beside a taken one: "Back
/// door" when free, else the name typed with the first free number after
/// it ("Front door 2").
async fn free_lock_name(s: &AppState, typed: &str) -> String {
    let taken: Vec<String> = match first_home(s).await {
        Ok(home) => s.app.homes.list_locks(&home.id).await.unwrap_or_default().into_iter().map(|l| l.name).collect(),
        Err(_) => Vec::new(),
    };
    let free = |name: &str| !taken.iter().any(|t| t.to_lowercase() == name.to_lowercase());
    let base = typed.trim();
    std::iter::once("Back door".to_owned())
        .chain((2..100).map(|n| format!("{base} {n}")))
        .find(|name| free(name))
        .unwrap_or_else(|| "Garden gate".to_owned())
}

pub async fn add_lock(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    headers: HeaderMap,
    csrf: Csrf,
    CheckedForm(form): CheckedForm<NameForm>,
) -> PageResult {
    let added = async {
        let device = picked_device(&form.device)?;
        s.app.homes.create_lock(&first_home(&s).await?.id, &form.name, device).await
    }
    .await;
    match added {
        Ok(lock) => Ok(super::flash::redirect(&headers, "/locks", &format!("{} added", lock.name))),
        Err(AppError::LockNameTaken) => {
            let why = format!(
                "Another lock is already called this: give each lock its own name, such as {}.",
                free_lock_name(&s, &form.name).await
            );
            locks_view_with(&s, &owner.email, &csrf, None, Some((form.name.clone(), why)), None).await
        }
        Err(AppError::Name(_)) => {
            let why = "Give a name of 1 to 64 characters, such as Front door.";
            locks_view_with(&s, &owner.email, &csrf, None, Some((form.name.clone(), why.to_owned())), None).await
        }
        Err(e @ (AppError::DeviceUnavailable | AppError::DeviceInUse)) => {
            locks_view(&s, &owner.email, &csrf, Some(device_sentence(&e))).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn rename_lock(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    headers: HeaderMap,
    csrf: Csrf,
    Path(id): Path<String>,
    CheckedForm(form): CheckedForm<NameForm>,
) -> PageResult {
    let actor = keyward_core::Actor::Owner(owner.email.clone());
    let renamed = async { s.app.homes.rename_lock(&first_home(&s).await?.id, &id, &form.name, actor).await }.await;
    match renamed {
        Ok(lock) => Ok(super::flash::redirect(&headers, "/locks", &format!("Renamed to {}", lock.name))),
        Err(AppError::LockNameTaken) => {
            let why = "Another lock is already called this: nothing was renamed.".to_owned();
            locks_view(&s, &owner.email, &csrf, Some(why)).await
        }
        Err(AppError::Name(_)) => {
            let why = "A lock's name has 1 to 64 characters: nothing was renamed.".to_owned();
            locks_view(&s, &owner.email, &csrf, Some(why)).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct RemoveQuery {
    /// Remove it now, leaving keyward's codes on its device.
    #[serde(default)]
    force: Option<String>,
}

pub async fn remove_lock_page(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    csrf: Csrf,
    Path(id): Path<String>,
    axum::extract::Query(query): axum::extract::Query<RemoveQuery>,
) -> PageResult {
    let found = async {
        let home = first_home(&s).await?;
        let users = s.app.users.list(&home.id).await?;
        // Who may open this lock now (all locks, or this one by name).
        let losing: Vec<String> = users.iter().filter(|u| u.locks.allows(&id)).map(|u| u.name.clone()).collect();
        let names: std::collections::HashMap<String, String> = users.into_iter().map(|u| (u.id, u.name)).collect();
        Ok::<_, AppError>((s.app.homes.get_lock(&home.id, &id).await?, names, losing))
    }
    .await;
    let (lock, names, losing) = match found {
        Ok(found) => found,
        Err(e) => return Err(e.into()),
    };
    let who_loses = match losing.split_last() {
        None => "Nobody has a code for this lock.".to_owned(),
        Some((only, [])) => format!("{only} loses access to {} at once; their other access stays.", lock.name),
        Some((last, rest)) => {
            format!("{} and {last} lose access to {} at once; their other access stays.", rest.join(", "), lock.name)
        }
    };
    let left = s.app.locks.codes_left(&lock.id);
    let force = query.force.is_some() && !left.is_empty();
    let question = match (&lock.device, force) {
        (Some(binding), true) => {
            let codes: Vec<keyward_app::CodeLeft> = left
                .iter()
                .map(|c| keyward_app::CodeLeft {
                    slot: c.slot,
                    user: c.user_id.as_ref().and_then(|id| {
                        names.get(id).map(|name| keyward_core::UserRef { id: id.clone(), name: name.clone() })
                    }),
                })
                .collect();
            format!(
                "keyward has not taken its codes off the lock yet. {} They keep opening the door until you clear them at the lock.",
                keyward_app::left_words(&s.app.homes.device_label(&binding.device), &codes)
            )
        }
        (Some(binding), false) if !left.is_empty() => format!(
            "{who_loses} keyward first takes the {} code{} it put on {} off it; the lock is listed as being removed until then.",
            left.len(),
            if left.len() == 1 { "" } else { "s" },
            binding.device
        ),
        _ => who_loses,
    };
    Ok(csrf.attach(page(&ConfirmPage {
        frame: Frame { active: "locks", csrf: &csrf.token, email: &owner.email },
        title: if force { format!("Remove {} anyway?", lock.name) } else { format!("Remove {}?", lock.name) },
        question,
        action: format!("/locks/{}/delete{}", lock.id, if force { "?force=1" } else { "" }),
        button: if force { "Remove anyway" } else { "Remove" },
        button_class: "danger",
        back: "/locks".to_owned(),
    })))
}

/// How long the Remove button waits for keyward to take a lock's codes off
/// its device before the page says it is being removed.
const REMOVAL_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

pub async fn remove_lock(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    headers: HeaderMap,
    Path(id): Path<String>,
    axum::extract::Query(query): axum::extract::Query<RemoveQuery>,
    CheckedForm(_): CheckedForm<CsrfOnly>,
) -> PageResult {
    let actor = keyward_core::Actor::Owner(owner.email.clone());
    let removed = async {
        let home = first_home(&s).await?;
        let name = s.app.homes.get_lock(&home.id, &id).await?.name;
        let removed = s.app.homes.delete_lock(&home.id, &id, query.force.is_some(), actor).await?;
        if matches!(removed, keyward_app::Removed::Waiting(_)) {
            let _ = tokio::time::timeout(REMOVAL_WAIT, s.app.locks.removal_done(&home.id, &id)).await;
            if let Ok(lock) = s.app.homes.get_lock(&home.id, &id).await {
                return Ok((name, keyward_app::Removed::Waiting(lock)));
            }
            return Ok((name, keyward_app::Removed::Done(None)));
        }
        Ok::<_, AppError>((name, removed))
    }
    .await;
    let message = match removed? {
        (name, keyward_app::Removed::Done(_)) => format!("{name} removed"),
        (name, keyward_app::Removed::Waiting(_)) => {
            format!("{name} is being removed: keyward takes its codes off the lock first")
        }
        (name, keyward_app::Removed::Forced { device, left, .. }) => format!(
            "{name} removed. {} Clear them at the lock.",
            keyward_app::left_words(&s.app.homes.device_label(&device), &left)
        ),
    };
    Ok(super::flash::redirect(&headers, "/locks", &message))
}

/// The owner's Lock and Unlock buttons: the lock carries it out, and the
/// activity log records it under the owner.
async fn command_lock(
    s: AppState,
    owner: String,
    headers: HeaderMap,
    csrf: Csrf,
    id: String,
    lock: bool,
) -> PageResult {
    let home = match first_home(&s).await {
        Ok(home) => home,
        Err(e) => return Err(e.into()),
    };
    let name = s.app.homes.get_lock(&home.id, &id).await.ok().map(|l| l.name);
    match s.app.locks.command(&home.id, &id, lock, keyward_core::Actor::Owner(owner.clone())).await {
        // The network answered only once the lock reported the new state:
        // what the message says is what the lock did.
        Ok(()) => {
            let name = name.unwrap_or_else(|| "The lock".to_owned());
            let message = if lock { format!("{name} locked") } else { format!("{name} unlocked") };
            Ok(super::flash::redirect(&headers, "/locks", &message))
        }
        Err(e @ (AppError::DeviceUnavailable | AppError::DeviceFailed)) => {
            locks_view(&s, &owner, &csrf, Some(device_sentence(&e))).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn lock_lock(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    headers: HeaderMap,
    csrf: Csrf,
    Path(id): Path<String>,
    CheckedForm(_): CheckedForm<CsrfOnly>,
) -> PageResult {
    command_lock(s, owner.email, headers, csrf, id, true).await
}

/// "Unlock Front door?": a remote unlock opens the door to whoever is at
/// it, so it is asked once more (a page, so it works without JavaScript).
pub async fn unlock_page(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    csrf: Csrf,
    Path(id): Path<String>,
) -> PageResult {
    let found = async {
        let home = first_home(&s).await?;
        Some(s.app.homes.get_lock(&home.id, &id).await?).filter(|l| l.device.is_some()).ok_or(AppError::LockNotFound)
    }
    .await;
    match found {
        Ok(lock) => Ok(no_store(csrf.attach(page(&ConfirmPage {
            frame: Frame { active: "locks", csrf: &csrf.token, email: &owner.email },
            title: format!("Unlock {}?", lock.name.as_str()),
            question: "Anyone at the door can walk in until it is locked again (or locks itself).".to_owned(),
            action: format!("/locks/{}/unlock", lock.id),
            button: "Unlock now",
            button_class: "primary",
            back: "/locks".to_owned(),
        })))),
        Err(e) => Err(e.into()),
    }
}

pub async fn unlock_lock(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    headers: HeaderMap,
    csrf: Csrf,
    Path(id): Path<String>,
    CheckedForm(_): CheckedForm<CsrfOnly>,
) -> PageResult {
    command_lock(s, owner.email, headers, csrf, id, false).await
}

// ---- settings

pub struct TokenLine {
    id: String,
    name: String,
    scope: &'static str,
    revoked: bool,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage<'a> {
    frame: Frame<'a>,
    zones: &'a [String],
    tokens: Vec<TokenLine>,
    error: Option<String>,
    notice: Option<&'a str>,
    new_token: Option<String>,
    owners: Vec<String>,
    invite_link: Option<String>,
    invite_error: Option<String>,
    public_url: Option<&'a str>,
    /// The home's settings as shown: stored, or as typed in a refused form.
    values: SettingsValues,
    /// A refused setting's field and the reason, beside it.
    field_error: Option<(&'static str, String)>,
    /// The signed-in owner's sessions, and the invitations waiting.
    sessions: Vec<SessionLine>,
    invites: Vec<InviteLine>,
}

/// One of the owner's sessions, in the page's words.
struct SessionLine {
    id: String,
    /// "Firefox on Android", "A browser" when not known.
    device: String,
    since: String,
    last_seen: String,
    current: bool,
}

/// An invitation not yet accepted.
struct InviteLine {
    id: String,
    email: String,
    invited_by: String,
    expires: String,
}

/// The home's settings form as text, in the owner's units (the window in
/// minutes).
struct SettingsValues {
    name: String,
    timezone: String,
    min_length: String,
    max_length: String,
    reject_weak: bool,
    max_attempts: String,
    window_minutes: String,
    lockout_seconds: String,
}

impl SettingsValues {
    fn of(home: &HomeView) -> Self {
        let lockout = &home.lockout_policy;
        Self {
            name: home.name.clone(),
            timezone: home.zone.as_str().to_owned(),
            min_length: home.code_policy.min_length().to_string(),
            max_length: home.code_policy.max_length().to_string(),
            reject_weak: home.code_policy.reject_weak(),
            max_attempts: lockout.max_attempts().to_string(),
            window_minutes: (lockout.window_seconds().div_ceil(60)).to_string(),
            lockout_seconds: lockout.lockout_seconds().to_string(),
        }
    }

    fn typed(form: &SettingsForm) -> Self {
        Self {
            name: form.name.clone(),
            timezone: form.timezone.clone(),
            min_length: form.min_length.clone(),
            max_length: form.max_length.clone(),
            reject_weak: form.reject_weak.is_some(),
            max_attempts: form.max_attempts.clone(),
            window_minutes: form.window_minutes.clone(),
            lockout_seconds: form.lockout_seconds.clone(),
        }
    }
}

/// Every IANA zone name the bundled database knows, sorted, for the searchable list.
pub(super) fn zone_names() -> &'static [String] {
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        let mut names: Vec<String> = jiff::tz::db()
            .available()
            .map(|n| n.to_string())
            .filter(|n| n.contains('/') && !n.starts_with("Etc/"))
            .collect();
        names.push("UTC".to_owned());
        names.sort();
        names
    })
}

async fn settings_view(
    s: &AppState,
    owner: &keyward_app::owners::Owner,
    headers: &HeaderMap,
    csrf: &Csrf,
    error: Option<String>,
    notice: Option<&str>,
    new_token: Option<String>,
) -> PageResult {
    settings_view_with(s, owner, headers, csrf, Shown { error, notice, new_token, ..Shown::default() }).await
}

/// What one answer adds to the Settings page.
#[derive(Default)]
struct Shown<'a> {
    error: Option<String>,
    notice: Option<&'a str>,
    new_token: Option<String>,
    invite_link: Option<String>,
    /// Shown beside the invitation form.
    invite_error: Option<String>,
    /// A refused settings form: what was typed, and the field refused with why.
    refused: Option<(SettingsValues, &'static str, String)>,
}

async fn settings_view_with(
    s: &AppState,
    owner: &keyward_app::owners::Owner,
    headers: &HeaderMap,
    csrf: &Csrf,
    shown: Shown<'_>,
) -> PageResult {
    let Shown { error, notice, new_token, invite_link, invite_error, refused } = shown;
    let this_browser = super::web::cookie(headers, super::web::SESSION_COOKIE);
    let loaded = async {
        Ok::<_, AppError>((
            first_home(s).await?,
            s.app.tokens.list().await?,
            s.app.owners.list().await?,
            s.app.owners.sessions(owner, this_browser).await?,
            s.app.owners.pending_invites().await?,
        ))
    }
    .await;
    match loaded {
        Ok((home, tokens, owners, sessions, invites)) => {
            let tz = home.zone.tz().clone();
            let when = |t: jiff::Timestamp| tz.to_datetime(t).strftime("%a %-d %b %H:%M").to_string();
            let sessions = sessions
                .into_iter()
                .map(|v| SessionLine {
                    device: if v.device.is_empty() { "A browser".to_owned() } else { v.device },
                    since: when(v.created_at),
                    last_seen: when(v.last_seen),
                    current: v.current,
                    id: v.id,
                })
                .collect();
            let invites = invites
                .into_iter()
                .map(|i| InviteLine { expires: when(i.expires_at), email: i.email, invited_by: i.invited_by, id: i.id })
                .collect();
            let any_refusal = error.is_some() || invite_error.is_some() || refused.is_some();
            let status = if any_refusal { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
            let (values, field_error) = match refused {
                Some((values, field, why)) => (values, Some((field, why))),
                None => (SettingsValues::of(&home), None),
            };
            let tokens = tokens
                .into_iter()
                .map(|t| TokenLine { revoked: t.revoked_at.is_some(), id: t.id, name: t.name, scope: t.scope.as_str() })
                .collect();
            let view = SettingsPage {
                frame: Frame { active: "settings", csrf: &csrf.token, email: &owner.email },
                zones: zone_names(),
                sessions,
                invites,
                tokens,
                error,
                notice,
                new_token,
                owners: owners.into_iter().map(|o| o.email).collect(),
                invite_link,
                invite_error,
                public_url: s.public_url.as_deref(),
                values,
                field_error,
            };
            // The page may hold a new token's secret or an invitation link.
            Ok((status, no_store(csrf.attach(page(&view)))).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn settings(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    headers: HeaderMap,
    csrf: Csrf,
) -> PageResult {
    let flash = super::flash::take(&headers);
    let shown = settings_view(&s, &owner, &headers, &csrf, None, flash.as_deref(), None).await;
    Ok(super::flash::shown(&headers, shown?))
}

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    timezone: String,
    #[serde(default)]
    min_length: String,
    #[serde(default)]
    max_length: String,
    #[serde(default)]
    reject_weak: Option<String>,
    #[serde(default)]
    max_attempts: String,
    #[serde(default)]
    window_minutes: String,
    #[serde(default)]
    lockout_seconds: String,
}

/// A refused setting in the owner's words, and the field it belongs beside.
fn setting_refused(e: &AppError) -> Option<(&'static str, String)> {
    use keyward_core::home::PolicyError;
    Some(match e {
        AppError::Name(_) => ("home_name", "Give the home a name of 1 to 64 characters, such as Home.".into()),
        AppError::TimeZone(_) => {
            ("timezone", "Choose a time zone from the list, such as Europe/Berlin or America/New_York.".into())
        }
        AppError::Policy(PolicyError::CodeLengths) => ("min_length", "Codes are 4 to 8 digits long.".into()),
        AppError::Policy(PolicyError::CodeLengthOrder) => {
            ("min_length", "The shortest code can't be longer than the longest.".into())
        }
        AppError::Policy(PolicyError::MaxAttempts) => ("max_attempts", "Between 1 and 255 wrong codes.".into()),
        AppError::Policy(PolicyError::Window) => ("window_minutes", "Between 1 and 1440 minutes (a day).".into()),
        AppError::Policy(PolicyError::LockoutSeconds) => ("lockout_seconds", "Between 1 and 255 seconds.".into()),
        _ => return None,
    })
}

pub async fn save_settings(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    headers: HeaderMap,
    csrf: Csrf,
    CheckedForm(form): CheckedForm<SettingsForm>,
) -> PageResult {
    let number = |text: &str| text.trim().parse::<i64>().ok();
    let numbers = [
        ("min_length", &form.min_length),
        ("max_length", &form.max_length),
        ("max_attempts", &form.max_attempts),
        ("window_minutes", &form.window_minutes),
        ("lockout_seconds", &form.lockout_seconds),
    ];
    if let Some((field, _)) = numbers.iter().find(|(_, n)| number(n).is_none()) {
        let refused = Some((SettingsValues::typed(&form), *field, "A whole number, such as 3.".to_owned()));
        return settings_view_with(&s, &owner, &headers, &csrf, Shown { refused, ..Shown::default() }).await;
    }
    let patch = HomePatch {
        name: Some(form.name.clone()),
        timezone: Some(form.timezone.trim().to_owned()),
        code_min_length: number(&form.min_length),
        code_max_length: number(&form.max_length),
        code_reject_weak: Some(form.reject_weak.is_some()),
        lockout_max_attempts: number(&form.max_attempts),
        lockout_window_seconds: number(&form.window_minutes).map(|m| m.saturating_mul(60)),
        lockout_seconds: number(&form.lockout_seconds),
    };
    let saved = async { s.app.homes.update(&first_home(&s).await?.id, patch).await }.await;
    match saved {
        // Post, redirect, get: a reload does not send the form again.
        Ok(_) => Ok(super::flash::redirect(&headers, "/settings", "Settings saved.")),
        Err(e) => match setting_refused(&e) {
            Some((field, why)) => {
                let refused = Some((SettingsValues::typed(&form), field, why));
                settings_view_with(&s, &owner, &headers, &csrf, Shown { refused, ..Shown::default() }).await
            }
            None => Err(e.into()),
        },
    }
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: String,
}

pub async fn create_token(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    headers: HeaderMap,
    csrf: Csrf,
    CheckedForm(form): CheckedForm<TokenForm>,
) -> PageResult {
    let Some(scope) = Scope::parse(&form.scope) else {
        return settings_view(&s, &owner, &headers, &csrf, Some("Choose a scope.".to_owned()), None, None).await;
    };
    match s.app.tokens.create(&form.name, scope, None).await {
        Ok((_, secret)) => settings_view(&s, &owner, &headers, &csrf, None, None, Some(secret)).await,
        Err(e @ AppError::Name(_)) => settings_view(&s, &owner, &headers, &csrf, Some(sentence(&e)), None, None).await,
        Err(e) => Err(e.into()),
    }
}

pub async fn revoke_token(
    State(s): State<AppState>,
    SignedIn(_): SignedIn,
    Path(id): Path<String>,
    CheckedForm(_): CheckedForm<CsrfOnly>,
) -> PageResult {
    match s.app.tokens.revoke(&id).await {
        Ok(()) => Ok(Redirect::to("/settings").into_response()),
        Err(e) => Err(e.into()),
    }
}

/// Ends every session of this owner, this one included.
pub async fn sign_out_everywhere(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    headers: HeaderMap,
    CheckedForm(_): CheckedForm<CsrfOnly>,
) -> PageResult {
    match s.app.owners.sign_out_everywhere(&owner.id).await {
        Ok(ended) => {
            let sessions = if ended == 1 { "1 session".to_owned() } else { format!("{ended} sessions") };
            let message = format!(
                "Signed out everywhere: {sessions} of {} ended, this browser's too. Sign in again to go on.",
                owner.email
            );
            let mut response = super::flash::redirect(&headers, "/login", &message);
            let expired = super::web::set_cookie(&headers, super::web::SESSION_COOKIE, "", "Lax", Some(0));
            response.headers_mut().append(axum::http::header::SET_COOKIE, expired);
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    email: String,
}

/// Invites a further owner; the one-time link is shown once.
pub async fn invite(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    headers: HeaderMap,
    csrf: Csrf,
    CheckedForm(form): CheckedForm<InviteForm>,
) -> PageResult {
    let Some(base) = link_base(&s, &headers) else {
        let invite_error = Some(format!(
            "keyward cannot tell which address you reach it at, so it will not make a link. Set public_url in the configuration (for example {EXAMPLE_PUBLIC_URL}) and restart keyward."
        ));
        return settings_view_with(&s, &owner, &headers, &csrf, Shown { invite_error, ..Shown::default() }).await;
    };
    match s.app.owners.invite(&owner, &form.email).await {
        Ok(secret) => {
            let invite_link = Some(format!("{base}/invite/{}", secret.as_str()));
            settings_view_with(&s, &owner, &headers, &csrf, Shown { invite_link, ..Shown::default() }).await
        }
        Err(keyward_app::owners::SetupError::App(e)) => Err(e.into()),
        Err(e) => {
            let invite_error = Some(sentence(&e));
            settings_view_with(&s, &owner, &headers, &csrf, Shown { invite_error, ..Shown::default() }).await
        }
    }
}

const EXAMPLE_PUBLIC_URL: &str = "https://keys.example.org";

/// Where links sent to people point: the configured public URL; without one,
/// the origin of the owner's own form post, but only when it names the very
/// host the request was sent to (so neither a forged `Host` nor a forged
/// `Origin` alone can put an attacker's address in a link).
pub(super) fn link_base(s: &AppState, headers: &HeaderMap) -> Option<String> {
    if let Some(url) = &s.public_url {
        return Some(url.to_string());
    }
    let header = |name| headers.get(name).and_then(|v: &axum::http::HeaderValue| v.to_str().ok());
    let origin = header(axum::http::header::ORIGIN)?;
    let host = header(axum::http::header::HOST)?;
    [format!("http://{host}"), format!("https://{host}")].into_iter().find(|o| o == origin)
}

/// Ends one of the signed-in owner's sessions (never another owner's).
pub async fn end_session(
    State(s): State<AppState>,
    SignedIn(owner): SignedIn,
    headers: HeaderMap,
    Path(id): Path<String>,
    CheckedForm(_): CheckedForm<CsrfOnly>,
) -> PageResult {
    match s.app.owners.end_session(&owner, &id).await {
        Ok(true) => Ok(super::flash::redirect(&headers, "/settings", "That session was signed out.")),
        Ok(false) => Err(PageError::NotFound),
        Err(e) => Err(e.into()),
    }
}

/// Withdraws an invitation: its link stops working at once.
pub async fn revoke_invite(
    State(s): State<AppState>,
    SignedIn(_owner): SignedIn,
    headers: HeaderMap,
    Path(id): Path<String>,
    CheckedForm(_): CheckedForm<CsrfOnly>,
) -> PageResult {
    match s.app.owners.revoke_invite(&id).await {
        Ok(true) => {
            Ok(super::flash::redirect(&headers, "/settings", "Invitation withdrawn: its link no longer works."))
        }
        Ok(false) => Err(PageError::NotFound),
        Err(e) => Err(e.into()),
    }
}
