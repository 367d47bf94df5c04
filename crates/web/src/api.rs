//! The handlers of `/api/v1`. Each one: authorize, parse, one hub call, answer.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jiff::Timestamp;
use keyward_app::{ActivityQuery, AppError, DeviceRequest, PreviewSubject, QueryError, Removed, UserInput, UserPatch};
use keyward_core::{Bound, Notify, PanelPermissions};

use crate::AppState;
use crate::auth::{Caller, Need};
use crate::dto::*;
use crate::edge::EdgeRoutes;
use crate::error::{ApiError, ApiResult};
use crate::json::JsonBody;

type Router = axum::Router<AppState>;

pub fn routes() -> Router {
    Router::new()
        .edge_route("/api/v1/devices", get(list_devices))
        .edge_route("/api/v1/homes", get(list_homes).post(create_home))
        .edge_route("/api/v1/homes/{home_id}", get(get_home).patch(update_home))
        .edge_route("/api/v1/homes/{home_id}/locks", get(list_locks).post(create_lock))
        .edge_route("/api/v1/homes/{home_id}/locks/{lock_id}", get(get_lock).patch(rename_lock).delete(delete_lock))
        .edge_route("/api/v1/homes/{home_id}/locks/{lock_id}/slots/{slot}/take-over", post(take_over_slot))
        .edge_route("/api/v1/homes/{home_id}/locks/{lock_id}/lock", post(lock_lock))
        .edge_route("/api/v1/homes/{home_id}/locks/{lock_id}/unlock", post(unlock_lock))
        .edge_route("/api/v1/homes/{home_id}/users", get(list_users).post(create_user))
        .edge_route("/api/v1/homes/{home_id}/users/{user_id}", get(get_user).patch(update_user).delete(delete_user))
        .edge_route("/api/v1/homes/{home_id}/users/{user_id}/reveal", post(reveal_code))
        .edge_route("/api/v1/homes/{home_id}/users/{user_id}/retry", post(retry_user_codes))
        .edge_route("/api/v1/homes/{home_id}/users/{user_id}/shares", get(list_shares).post(create_share))
        .edge_route("/api/v1/homes/{home_id}/users/{user_id}/shares/{share_id}", axum::routing::delete(revoke_share))
        .edge_route("/api/v1/homes/{home_id}/panel", get(get_panel).patch(update_panel))
        .edge_route("/api/v1/homes/{home_id}/panel/arm", post(arm_panel))
        .edge_route("/api/v1/homes/{home_id}/panel/disarm", post(disarm_panel))
        .edge_route("/api/v1/homes/{home_id}/sensors", get(list_sensors).post(create_sensor))
        .edge_route("/api/v1/homes/{home_id}/sirens", get(list_sirens).post(create_siren))
        .edge_route(
            "/api/v1/homes/{home_id}/sirens/{siren_id}",
            get(get_siren).patch(update_siren).delete(delete_siren),
        )
        .edge_route(
            "/api/v1/homes/{home_id}/sensors/{sensor_id}",
            get(get_sensor).patch(update_sensor).delete(delete_sensor),
        )
        .edge_route("/api/v1/homes/{home_id}/access", post(access))
        .edge_route("/api/v1/homes/{home_id}/access/preview", post(preview))
        .edge_route("/api/v1/homes/{home_id}/activity", get(activity))
        .edge_route("/api/v1/homes/{home_id}/channels", get(list_channels).post(create_channel))
        .edge_route(
            "/api/v1/homes/{home_id}/channels/{channel_id}",
            axum::routing::delete(delete_channel).patch(patch_channel),
        )
        .edge_route("/api/v1/homes/{home_id}/channels/{channel_id}/test", post(test_channel))
        .edge_route("/api/v1/homes/{home_id}/channels/{channel_id}/deliveries", get(channel_deliveries))
}

#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, body = Readiness),
    (status = 503, description = "not serving (PostgreSQL's instance lock lost, the homes being reloaded)", body = Readiness),
))]
pub async fn readyz(State(s): State<AppState>) -> Json<Readiness> {
    let words = |connected: bool| if connected { "connected" } else { "disconnected" };
    let mut networks: std::collections::BTreeMap<String, &'static str> =
        s.app.locks.networks().iter().map(|n| (n.protocol().as_str().to_owned(), words(n.connected()))).collect();
    networks.extend(s.app.links.iter().map(|l| (l.name().to_owned(), words(l.connected()))));
    let problems = s
        .app
        .links
        .iter()
        .filter(|l| !l.connected())
        .filter_map(|l| l.problem().map(|p| (l.name().to_owned(), p)))
        .collect();
    Json(Readiness { status: "ready", networks, reason: None, problems })
}

pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this endpoint does not take this method")
}

/// An instant of the API's one grammar (`keyward_core::instant`).
fn instant(field: &'static str, text: &str) -> ApiResult<Timestamp> {
    keyward_core::instant::parse(text).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            format!("`{field}` must be an RFC 3339 instant of the years 2000 to 2199, such as 2026-12-05T09:00:00Z"),
        )
    })
}

fn optional_instant(field: &'static str, text: Option<&str>) -> ApiResult<Option<Timestamp>> {
    text.map(|t| instant(field, t)).transpose()
}

/// One end of a stay: an instant (`instant_field`) or a day in the home's
/// zone (`day_field`), each possibly sent as null; never both sent.
/// `None`: neither was sent. Refusals are `validity_invalid`.
fn stay_bound(
    (instant_field, instant): (&'static str, Option<Option<String>>),
    (day_field, day): (&'static str, Option<Option<String>>),
) -> ApiResult<Option<Option<Bound>>> {
    let invalid = |message: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validity_invalid", message);
    match (instant, day) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(invalid(format!("give `{instant_field}` or `{day_field}`, not both"))),
        (Some(instant), None) => Ok(Some(
            optional_instant(instant_field, instant.as_deref())
                .map_err(|e| ApiError { code: "validity_invalid", ..e })?
                .map(Bound::At),
        )),
        (None, Some(day)) => day
            .map(|text| {
                keyward_core::instant::parse_day(&text)
                    .map(Bound::Day)
                    .ok_or_else(|| invalid(format!("`{day_field}` must be a day such as 2026-12-05")))
            })
            .transpose()
            .map(Some),
    }
}

// ---- homes

#[utoipa::path(get, path = "/api/v1/homes", tag = "homes", security(("bearer" = [])),
    responses((status = 200, body = List<HomeDto>), (status = 401, body = crate::error::ErrorBody)))]
async fn list_homes(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<List<HomeDto>>> {
    caller.require(Need::Read, None)?;
    let homes = s.app.homes.list().await?;
    let items = homes.into_iter().filter(|h| caller.0.may_access_home(&h.id)).map(HomeDto::from).collect();
    Ok(Json(List { items }))
}

#[utoipa::path(post, path = "/api/v1/homes", tag = "homes", security(("bearer" = [])), request_body = CreateHome,
    responses((status = 201, body = HomeDto), (status = 422, description = "`name_invalid`, `timezone_invalid`", body = crate::error::ErrorBody)))]
async fn create_home(
    State(s): State<AppState>,
    caller: Caller,
    body: JsonBody,
) -> ApiResult<(StatusCode, Json<HomeDto>)> {
    caller.require(Need::Admin, None)?;
    if caller.0.home_id.is_some() {
        return Err(ApiError::forbidden());
    }
    let body: CreateHome = body.parse()?;
    let home = s.app.homes.create(&body.name, &body.timezone).await?;
    Ok((StatusCode::CREATED, Json(home.into())))
}

#[utoipa::path(get, path = "/api/v1/homes/{home_id}", tag = "homes", security(("bearer" = [])),
    responses((status = 200, body = HomeDto), (status = 404, body = crate::error::ErrorBody)))]
async fn get_home(State(s): State<AppState>, caller: Caller, Path(home_id): Path<String>) -> ApiResult<Json<HomeDto>> {
    caller.require(Need::Read, Some(&home_id))?;
    Ok(Json(s.app.homes.get(&home_id).await?.into()))
}

#[utoipa::path(patch, path = "/api/v1/homes/{home_id}", tag = "homes", security(("bearer" = [])), request_body = PatchHome,
    responses((status = 200, body = HomeDto), (status = 422, description = "`name_invalid`, `timezone_invalid`, `policy_invalid`", body = crate::error::ErrorBody)))]
async fn update_home(
    State(s): State<AppState>,
    caller: Caller,
    Path(home_id): Path<String>,
    body: JsonBody,
) -> ApiResult<Json<HomeDto>> {
    caller.require(Need::Admin, Some(&home_id))?;
    let body: PatchHome = body.parse()?;
    Ok(Json(s.app.homes.update(&home_id, body.into()).await?.into()))
}

// ---- locks

#[utoipa::path(get, path = "/api/v1/homes/{home_id}/locks", tag = "locks", security(("bearer" = [])),
    responses((status = 200, body = List<LockDto>)))]
async fn list_locks(
    State(s): State<AppState>,
    caller: Caller,
    Path(home_id): Path<String>,
) -> ApiResult<Json<List<LockDto>>> {
    caller.require(Need::Read, Some(&home_id))?;
    let items = s.app.homes.list_locks(&home_id).await?.into_iter().map(LockDto::from).collect();
    Ok(Json(List { items }))
}

#[utoipa::path(post, path = "/api/v1/homes/{home_id}/locks", tag = "locks", security(("bearer" = [])), request_body = CreateLock,
    responses((status = 201, body = LockDto), (status = 403, description = "`forbidden`: a `device` given with a token bound to a home (network devices belong to the installation)", body = crate::error::ErrorBody), (status = 409, description = "`lock_name_taken`: another lock of the home has this name (letter case aside); `device_in_use`", body = crate::error::ErrorBody)))]
async fn create_lock(
    State(s): State<AppState>,
    caller: Caller,
    Path(home_id): Path<String>,
    body: JsonBody,
) -> ApiResult<(StatusCode, Json<LockDto>)> {
    caller.require(Need::Admin, Some(&home_id))?;
    let body: CreateLock = body.parse()?;
    if body.device.is_none() && body.slots.is_some() {
        return Err(AppError::SlotsInvalid.into());
    }
    if body.device.is_some() {
        caller.require_installation()?;
    }
    let device = body.device.as_ref().map(|d| d.request(body.slots)).transpose()?;
    Ok((StatusCode::CREATED, Json(s.app.homes.create_lock(&home_id, &body.name, device).await?.into())))
}

#[utoipa::path(get, path = "/api/v1/homes/{home_id}/locks/{lock_id}", tag = "locks", security(("bearer" = [])),
    responses((status = 200, body = LockDetailDto), (status = 404, body = crate::error::ErrorBody)))]
async fn get_lock(
    State(s): State<AppState>,
    caller: Caller,
    Path((home_id, lock_id)): Path<(String, String)>,
) -> ApiResult<Json<LockDetailDto>> {
    caller.require(Need::Read, Some(&home_id))?;
    let lock = s.app.homes.get_lock(&home_id, &lock_id).await?;
    let device = lock.device.as_ref().and_then(|binding| s.app.locks.device_info(&binding.device));
    let bound = lock.device.is_some();
    let slots = s
        .app
        .locks
        .slots(&lock_id)
        .into_iter()
        .map(|v| SlotDto {
            slot: v.slot,
            user_id: v.user_id,
            status: v.status.as_str().to_owned(),
            reason: v.reason.map(|r| r.as_str().to_owned()),
            foreign: v.foreign,
        })
        .collect();
    Ok(Json(LockDetailDto {
        online: bound.then(|| device.as_ref().is_some_and(|d| d.online)),
        state: device.map(|d| LockStateDto {
            locked: d.state.locked,
            jammed: d.state.jammed,
            battery: d.state.battery,
        }),
        slots,
        lock: lock.into(),
    }))
}

#[utoipa::path(patch, path = "/api/v1/homes/{home_id}/locks/{lock_id}", tag = "locks", security(("bearer" = [])), request_body = PatchLock, params(ForceQuery),
    responses((status = 200, description = "changed; with `force`, `left_on_device` names the codes of keyward that stay on the device the lock left", body = LockChangeDto),
        (status = 202, description = "unbound or moved once keyward has taken its codes off the old device (within 10 s it answers 200): the lock shows `removal` meanwhile", body = LockChangeDto),
        (status = 403, description = "`forbidden`: another `device` given with a token bound to a home (network devices belong to the installation)", body = crate::error::ErrorBody),
        (status = 409, description = "`lock_name_taken`: another lock of the home has this name (letter case aside); `device_in_use`", body = crate::error::ErrorBody),
        (status = 422, description = "`query_invalid`: `force` is not true or false", body = crate::error::ErrorBody)))]
async fn rename_lock(
    State(s): State<AppState>,
    caller: Caller,
    Path((home_id, lock_id)): Path<(String, String)>,
    query: Result<Query<ForceQuery>, QueryRejection>,
    body: JsonBody,
) -> ApiResult<(StatusCode, Json<LockChangeDto>)> {
    caller.require(Need::Admin, Some(&home_id))?;
    let force = forced(query)?;
    let body: PatchLock = body.parse()?;
    let device = match (&body.device, body.slots) {
        (Some(Some(device)), slots) => Some(Some(device.request(slots)?)),
        (Some(None), None) => Some(None),
        (None, None) => None,
        // A range without a device: applied to the device the lock has.
        (None, Some(slots)) => {
            let current = s.app.homes.get_lock(&home_id, &lock_id).await?.device.ok_or(AppError::SlotsInvalid)?;
            Some(Some(DeviceRequest { device: current.device, slots: Some((slots.first, slots.last)) }))
        }
        (Some(None), Some(_)) => return Err(AppError::SlotsInvalid.into()),
    };
    if let Some(Some(request)) = &device {
        // Another device than the one the lock has: the installation's call.
        let current = s.app.homes.get_lock(&home_id, &lock_id).await?.device.map(|binding| binding.device);
        if !current.is_some_and(|current| names_device(&s, &request.device, &current)) {
            caller.require_installation()?;
        }
    }
    let removed =
        s.app.homes.update_lock(&home_id, &lock_id, body.name.as_deref(), device, force, caller.actor()).await?;
    let removed = settle_removal(&s, &home_id, &lock_id, removed).await?;
    let answer = |status, lock: keyward_app::LockView, left: Option<(keyward_core::DeviceRef, Vec<_>)>| {
        let message =
            left.as_ref().map(|(device, codes)| keyward_app::left_words(&s.app.homes.device_label(device), codes));
        let left_on_device = left.map(|(device, codes)| LeftOnDeviceDto::of(&device, codes));
        Ok((status, Json(LockChangeDto { lock: lock.into(), left_on_device, message })))
    };
    match removed {
        Removed::Done(Some(lock)) => answer(StatusCode::OK, lock, None),
        Removed::Waiting(lock) => answer(StatusCode::ACCEPTED, lock, None),
        Removed::Forced { lock: Some(lock), device, left } => answer(StatusCode::OK, lock, Some((device, left))),
        Removed::Done(None) | Removed::Forced { lock: None, .. } => Err(AppError::LockNotFound.into()),
    }
}

/// `?force=true|false`; anything else is 422 `query_invalid`.
fn forced(query: Result<Query<ForceQuery>, QueryRejection>) -> ApiResult<bool> {
    let Query(query) = query
        .map_err(|_| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "query_invalid", "force is true or false"))?;
    Ok(query.force.unwrap_or(false))
}

/// How long a removal request waits for keyward to take its codes off the
/// device before it answers 202 (the lock then shows `removal`).
const REMOVAL_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A waiting removal, waited for a little: done by then, or still waiting.
async fn settle_removal(s: &AppState, home_id: &str, lock_id: &str, removed: Removed) -> ApiResult<Removed> {
    if !matches!(removed, Removed::Waiting(_)) {
        return Ok(removed);
    }
    let _ = tokio::time::timeout(REMOVAL_WAIT, s.app.locks.removal_done(home_id, lock_id)).await;
    match s.app.homes.get_lock(home_id, lock_id).await {
        Ok(lock) if lock.removal.is_some() => Ok(Removed::Waiting(lock)),
        Ok(lock) => Ok(Removed::Done(Some(lock))),
        Err(AppError::LockNotFound) => Ok(Removed::Done(None)),
        Err(error) => Err(error.into()),
    }
}

#[utoipa::path(post, path = "/api/v1/homes/{home_id}/users/{user_id}/retry", tag = "users", security(("bearer" = [])),
    responses((status = 202, description = "the user's failed lock codes are tried again now")))]
async fn retry_user_codes(
    State(s): State<AppState>,
    caller: Caller,
    Path((home_id, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Need::Admin, Some(&home_id))?;
    s.app.users.get(&home_id, &user_id).await?;
    s.app.locks.retry_user(&user_id).await;
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(post, path = "/api/v1/homes/{home_id}/locks/{lock_id}/slots/{slot}/take-over", tag = "locks", security(("bearer" = [])),
    params(("slot" = u16, Path, description = "A slot of the lock holding a foreign code, numbered as the lock's protocol numbers them: from 1 on Z-Wave, from 0 on Zigbee.", minimum = 0, maximum = 65535)),
    responses((status = 202, description = "keyward clears the foreign code and may use the slot"),
        (status = 409, description = "`slot_not_foreign`: the slot holds no code keyward did not put there", body = crate::error::ErrorBody)))]
async fn take_over_slot(
    State(s): State<AppState>,
    caller: Caller,
    Path((home_id, lock_id, slot)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Need::Admin, Some(&home_id))?;
    s.app.homes.get_lock(&home_id, &lock_id).await?;
    // Numbered as the device's protocol numbers them (Zigbee from 0): a
    // number the lock has no slot for holds no foreign code.
    let slot = slot.parse::<u16>().map_err(|_| AppError::SlotNotForeign)?;
    if !s.app.locks.take_over(&lock_id, slot).await {
        return Err(AppError::SlotNotForeign.into());
    }
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(post, path = "/api/v1/homes/{home_id}/locks/{lock_id}/lock", tag = "locks", security(("bearer" = [])),
    responses((status = 204, description = "the lock carried out the command; logged under the caller"),
        (status = 409, description = "`device_unavailable`: the lock is not bound to a connected device", body = crate::error::ErrorBody),
        (status = 502, description = "`device_failed`: the lock did not carry it out", body = crate::error::ErrorBody)))]
async fn lock_lock(
    State(s): State<AppState>,
    caller: Caller,
    Path((home_id, lock_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Need::Admin, Some(&home_id))?;
    s.app.locks.command(&home_id, &lock_id, true, caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/homes/{home_id}/locks/{lock_id}/unlock", tag = "locks", security(("bearer" = [])),
    responses((status = 204, description = "the lock carried out the command; logged under the caller"),
        (status = 409, description = "`device_unavailable`: the lock is not bound to a connected device", body = crate::error::ErrorBody),
        (status = 502, description = "`device_failed`: the lock did not carry it out", body = crate::error::ErrorBody)))]
async fn unlock_lock(
    State(s): State<AppState>,
    caller: Caller,
    Path((home_id, lock_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Need::Admin, Some(&home_id))?;
    s.app.locks.command(&home_id, &lock_id, false, caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Whether `requested` names `device`: the same reference, or a Zigbee2MQTT
/// friendly name the device carries now.
fn names_device(s: &AppState, requested: &keyward_core::DeviceRef, device: &keyward_core::DeviceRef) -> bool {
    match requested {
        keyward_core::DeviceRef::Zigbee2MqttNamed { friendly_name } => s
            .app
            .locks
            .networks()
            .iter()
            .flat_map(|n| n.devices())
            .any(|d| d.device == *device && d.name.as_deref() == Some(friendly_name.as_str())),
        requested => requested == device,
    }
}

#[utoipa::path(get, path = "/api/v1/devices", tag = "locks", security(("bearer" = [])),
    description = "The devices the lock networks offer. They belong to the installation: an admin token bound to no home sees them all, with the lock each is bound to; a token bound to a home sees only the devices of its own locks.",
    responses((status = 200, body = DeviceList), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
async fn list_devices(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<DeviceList>> {
    caller.require(Need::Admin, None)?;
    // Devices belong to the installation: a token bound to a home sees only
    // the devices of its own locks, sensors and sirens, and no other home's ids.
    type Bound = std::collections::HashMap<keyward_core::DeviceRef, String>;
    let (mut locks, mut sensors, mut sirens) = (Bound::new(), Bound::new(), Bound::new());
    for home in s.app.homes.list().await? {
        if caller.home().is_some_and(|own| own != home.id) {
            continue;
        }
        for lock in s.app.homes.list_locks(&home.id).await? {
            if let Some(binding) = lock.device {
                locks.insert(binding.device, lock.id);
            }
        }
        for sensor in s.app.panels.sensors(&home.id).await? {
            if let Some(device) = sensor.record.device {
                sensors.insert(device, sensor.record.id);
            }
        }
        for siren in s.app.panels.sirens(&home.id).await? {
            sirens.insert(siren.record.device, siren.record.id);
        }
    }
    let shown = |bound: &Bound, device: &keyward_core::DeviceRef| caller.home().is_none() || bound.contains_key(device);
    let mut items: Vec<DeviceInfoDto> = s
        .app
        .locks
        .networks()
        .iter()
        .flat_map(|n| n.devices())
        .filter(|d| shown(&locks, &d.device))
        .map(|d| DeviceInfoDto {
            label: d.label,
            manufacturer: d.manufacturer,
            model: d.model,
            slots: d.slots,
            online: d.online,
            ..DeviceInfoDto::of("lock", &d.device, d.name, locks.get(&d.device).cloned())
        })
        .collect();
    items.extend(
        s.app.panels.siren_networks().iter().flat_map(|n| n.sirens()).filter(|d| shown(&sirens, &d.device)).map(|d| {
            DeviceInfoDto {
                label: d.label,
                manufacturer: d.manufacturer,
                model: d.model,
                online: d.online,
                ..DeviceInfoDto::of("siren", &d.device, d.name, sirens.get(&d.device).cloned())
            }
        }),
    );
    items.extend(
        s.app.panels.sensor_networks().iter().flat_map(|n| n.sensors()).filter(|d| shown(&sensors, &d.device)).map(
            |d| DeviceInfoDto {
                label: d.label,
                manufacturer: d.manufacturer,
                model: d.model,
                online: d.reading.is_some_and(|r| r.online),
                senses: Some(d.senses.iter().map(|s| (*s).to_owned()).collect()),
                ..DeviceInfoDto::of("sensor", &d.device, d.name, sensors.get(&d.device).cloned())
            },
        ),
    );
    Ok(Json(DeviceList { items }))
}

#[utoipa::path(delete, path = "/api/v1/homes/{home_id}/locks/{lock_id}", tag = "locks", security(("bearer" = [])), params(ForceQuery),
    responses((status = 204, description = "deleted: its device holds none of keyward's codes; users who had it keep their other locks"),
        (status = 202, description = "being removed: keyward takes its codes off the device first (it waits up to 10 s for that); the lock is listed with `removal` until then, no code opens it through keyward and no user can be given it", body = LockDto),
        (status = 200, description = "deleted at once (`force`) although keyward's codes may still be on its device: they are named", body = RemovedDto),
        (status = 422, description = "`query_invalid`: `force` is not true or false", body = crate::error::ErrorBody)))]
async fn delete_lock(
    State(s): State<AppState>,
    caller: Caller,
    Path((home_id, lock_id)): Path<(String, String)>,
    query: Result<Query<ForceQuery>, QueryRejection>,
) -> ApiResult<Response> {
    caller.require(Need::Admin, Some(&home_id))?;
    let force = forced(query)?;
    let removed = s.app.homes.delete_lock(&home_id, &lock_id, force, caller.actor()).await?;
    Ok(match settle_removal(&s, &home_id, &lock_id, removed).await? {
        Removed::Done(_) => StatusCode::NO_CONTENT.into_response(),
        Removed::Waiting(lock) => (StatusCode::ACCEPTED, Json(LockDto::from(lock))).into_response(),
        Removed::Forced { device, left, .. } => {
            let message = keyward_app::left_words(&s.app.homes.device_label(&device), &left);
            Json(RemovedDto { left_on_device: LeftOnDeviceDto::of(&device, left), message }).into_response()
        }
    })
}

// ---- users

#[utoipa::path(get, path = "/api/v1/homes/{home_id}/users", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = List<UserDto>)))]
async fn list_users(
    State(s): State<AppState>,
    caller: Caller,
    Path(home_id): Path<String>,
) -> ApiResult<Json<List<UserDto>>> {
    caller.require(Need::Read, Some(&home_id))?;
    let admin = caller.is_admin();
    let mut items = Vec::new();
    for user in s.app.users.list(&home_id).await? {
        items.push(with_lock_codes(&s, &home_id, UserDto::new(user, admin)).await);
    }
    Ok(Json(List { items }))
}

#[utoipa::path(post, path = "/api/v1/homes/{home_id}/users", tag = "users", security(("bearer" = [])), request_body = CreateUser,
    responses((status = 201, body = UserDto), (status = 422, description = "`code_invalid`, `code_in_use`, `code_prefix_conflict`, `code_too_weak`, `code_too_close`, `schedule_invalid`, `name_invalid`, `locks_invalid`, `validity_invalid`, `max_uses_invalid`", body = crate::error::ErrorBody)))]
async fn create_user(
    State(s): State<AppState>,
    caller: Caller,
    Path(home_id): Path<String>,
    body: JsonBody,
) -> ApiResult<(StatusCode, Json<UserDto>)> {
    caller.require(Need::Admin, Some(&home_id))?;
    let body: CreateUser = body.parse()?;
    let input = UserInput {
        name: body.name,
        kind: body.kind.into(),
        panel: PanelPermissions { arm: body.panel.arm, disarm: body.panel.disarm },
        locks: body.locks.parse()?,
        schedule: body.schedule,
        valid_from: stay_bound(("valid_from", body.valid_from), ("first_day", body.first_day))?.flatten(),
        valid_until: stay_bound(("valid_until", body.valid_until), ("last_day", body.last_day))?.flatten(),
        max_uses: body.max_uses,
        notify: Notify { arrive: body.notify.arrive, leave: body.notify.leave },
        alerts: body.notify.alerts(),
        enabled: body.enabled,
        contact: body.contact.map(ContactDto::parse).transpose()?.unwrap_or_default(),
        code: body.code.0,
    };
    let user = s.app.users.create(&home_id, input, caller.actor()).await?;
    Ok((StatusCode::CREATED, Json(with_lock_codes(&s, &home_id, UserDto::new(user, caller.is_admin())).await)))
}

#[utoipa::path(get, path = "/api/v1/homes/{home_id}/users/{user_id}", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = UserDto), (status = 404, body = crate::error::ErrorBody)))]
async fn get_user(
    State(s): State<AppState>,
    caller: Caller,
    Path((home_id, user_id)): Path<(String, String)>,
) -> ApiResult<Json<UserDto>> {
    caller.require(Need::Read, Some(&home_id))?;
    let user = UserDto::new(s.app.users.get(&home_id, &user_id).await?, caller.is_admin());
    Ok(Json(with_lock_codes(&s, &home_id, user).await))
}

/// A user with where their code stands on each lock keyward programs.
async fn with_lock_codes(s: &AppState, home_id: &str, mut user: UserDto) -> UserDto {
    user.lock_codes = s.app.locks.lock_codes(home_id, &user.id).await.into_iter().map(LockCodeDto::from).collect();
    user
}

#[utoipa::path(patch, path = "/api/v1/homes/{home_id}/users/{user_id}", tag = "users", security(("bearer" = [])), request_body = PatchUser,
    responses((status = 200, body = UserDto), (status = 422, description = "as for creation; a refused change leaves the user, and the old code, as they were", body = crate::error::ErrorBody)))]
async fn update_user(
    State(s): State<AppState>,
    caller: Caller,
    Path((home_id, user_id)): Path<(String, String)>,
    body: JsonBody,
) -> ApiResult<Json<UserDto>> {
    caller.require(Need::Admin, Some(&home_id))?;
    let body: PatchUser = body.parse()?;
    let panel = body.panel.unwrap_or_default();
    let notify = body.notify.unwrap_or_default();
    let patch = UserPatch {
        name: body.name,
        kind: body.kind.map(Into::into),
        panel_arm: panel.arm,
        panel_disarm: panel.disarm,
        locks: body.locks.map(LocksDto::parse).transpose()?,
        schedule: body.schedule,
        valid_from: stay_bound(("valid_from", body.valid_from), ("first_day", body.first_day))?,
        valid_until: stay_bound(("valid_until", body.valid_until), ("last_day", body.last_day))?,
        max_uses: body.max_uses,
        notify_arrive: notify.arrive,
        notify_leave: notify.leave,
        alert_channels: notify.channels,
        alert_hours: notify.hours,
        no_show: notify.no_show,
        enabled: body.enabled,
        contact: body.contact.map(ContactDto::parse).transpose()?,
        code: body.code.map(|c| c.0),
    };
    let user = UserDto::new(s.app.users.update(&home_id, &user_id, patch, caller.actor()).await?, caller.is_admin());
    Ok(Json(with_lock_codes(&s, &home_id, user).await))
}

#[utoipa::path(delete, path = "/api/v1/homes/{home_id}/users/{user_id}", tag = "users", security(("bearer" = [])),
    responses((status = 204, description = "deleted; the code stops working at once")))]
async fn delete_user(
    State(s): State<AppState>,
    caller: Caller,
    Path((home_id, user_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Need::Admin, Some(&home_id))?;
    s.app.users.delete(&home_id, &user_id, caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/homes/{home_id}/users/{user_id}/reveal", tag = "users", security(("bearer" = [])),
    responses((status = 200, description = "the code, once; the reveal is in the activity log", body = RevealedCode)))]
async fn reveal_code(
    State(s): State<AppState>,
    caller: Caller,
    Path((home_id, user_id)): Path<(String, String)>,
) -> ApiResult<Json<RevealedCode>> {
    caller.require(Need::Admin, Some(&home_id))?;
    let code = s.app.users.reveal_code(&home_id, &user_id, caller.actor()).await?;
    Ok(Json(RevealedCode { code: code.to_string() }))
}

// ---- the alarm panel

#[utoipa::path(get, path = "/api/v1/homes/{home_id}/panel", tag = "panel", security(("bearer" = [])),
    responses((status = 200, body = AlarmPanel)))]
async fn get_panel(
    State(s): State<AppState>,
    caller: Caller,
    Path(home_id): Path<String>,
) -> ApiResult<Json<AlarmPanel>> {
    caller.require(Need::Read, Some(&home_id))?;
    Ok(Json(s.app.panels.view(&home_id).await?.into()))
}

#[utoipa::path(patch, path = "/api/v1/homes/{home_id}/panel", tag = "panel", security(("bearer" = [])), request_body = PatchAlarmPanel,
    responses((status = 200, body = AlarmPanel),
        (status = 409, description = "`panel_settings_not_cp01`: a value CP-01 does not allow while `cp01` is on; nothing changed", body = crate::error::ErrorBody),
        (status = 422, description = "`panel_settings_invalid`: a value no panel takes; nothing changed", body = crate::error::ErrorBody)))]
async fn update_panel(
    State(s): State<AppState>,
    caller: Caller,
    Path(home_id): Path<String>,
    body: JsonBody,
) -> ApiResult<Json<AlarmPanel>> {
    caller.require(Need::Admin, Some(&home_id))?;
    let body: PatchAlarmPanel = body.parse()?;
    let spec = body.settings.into();
    Ok(Json(s.app.panels.configure(&home_id, &spec, caller.actor()).await?.into()))
}

#[utoipa::path(post, path = "/api/v1/homes/{home_id}/panel/arm", tag = "panel", security(("bearer" = [])), request_body = ArmRequest,
    responses((status = 200, description = "arming (the exit delay runs) or armed; logged under the caller", body = AlarmPanel),
        (status = 409, description = "`not_ready`: sensors the mode watches are open (named; `force` bypasses them); `panel_not_disarmed`", body = crate::error::ErrorBody)))]
async fn arm_panel(
    State(s): State<AppState>,
    caller: Caller,
    Path(home_id): Path<String>,
    body: JsonBody,
) -> ApiResult<Json<AlarmPanel>> {
    caller.require(Need::Admin, Some(&home_id))?;
    let body: ArmRequest = body.parse()?;
    let command = keyward_app::PanelCommand::Arm { mode: body.mode.into(), force: body.force.unwrap_or(false) };
    Ok(Json(s.app.panels.command(&home_id, command, caller.actor()).await?.into()))
}

#[utoipa::path(post, path = "/api/v1/homes/{home_id}/panel/disarm", tag = "panel", security(("bearer" = [])),
    responses((status = 200, description = "disarmed; logged under the caller", body = AlarmPanel),
        (status = 409, description = "`panel_already_disarmed`", body = crate::error::ErrorBody)))]
async fn disarm_panel(
    State(s): State<AppState>,
    caller: Caller,
    Path(home_id): Path<String>,
) -> ApiResult<Json<AlarmPanel>> {
    caller.require(Need::Admin, Some(&home_id))?;
    Ok(Json(s.app.panels.command(&home_id, keyward_app::PanelCommand::Disarm, caller.actor()).await?.into()))
}

// ---- the panel's sensors

#[utoipa::path(get, path = "/api/v1/homes/{home_id}/sensors", tag = "panel", security(("bearer" = [])),
    responses((status = 200, body = List<SensorDto>)))]
async fn list_sensors(
    State(s): State<AppState>,
    caller: Caller,
    Path(home_id): Path<String>,
) -> ApiResult<Json<List<SensorDto>>> {
    caller.require(Need::Read, Some(&home_id))?;
    let items = s.app.panels.sensors(&home_id).await?.into_iter().map(SensorDto::from).collect();
    Ok(Json(List { items }))
}

#[utoipa::path(post, path = "/api/v1/homes/{home_id}/sensors", tag = "panel", security(("bearer" = [])), request_body = CreateSensor,
    responses((status = 201, body = SensorDto),
        (status = 409, description = "`sensor_name_taken`, `sensor_conflict` (an entry delay on a sensor that is not entry_exit, a 24-hour sensor bypassable), `device_in_use` (another sensor reports through it), `device_unavailable` (no network of its protocol), `panel_settings_not_cp01` (its entry delay)", body = crate::error::ErrorBody),
        (status = 422, description = "`name_invalid`, `sensor_invalid`, `device_invalid`, `panel_settings_invalid`", body = crate::error::ErrorBody)))]
async fn create_sensor(
    State(s): State<AppState>,
    caller: Caller,
    Path(home_id): Path<String>,
    body: JsonBody,
) -> ApiResult<(StatusCode, Json<SensorDto>)> {
    caller.require(Need::Admin, Some(&home_id))?;
    let body: CreateSensor = body.parse()?;
    let view = s.app.panels.put_sensor(&home_id, None, body.input()?, caller.actor()).await?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

#[utoipa::path(get, path = "/api/v1/homes/{home_id}/sensors/{sensor_id}", tag = "panel", security(("bearer" = [])),
    responses((status = 200, body = SensorDto)))]
async fn get_sensor(
    State(s): State<AppState>,
    caller: Caller,
    Path((home_id, sensor_id)): Path<(String, String)>,
) -> ApiResult<Json<SensorDto>> {
    caller.require(Need::Read, Some(&home_id))?;
    Ok(Json(s.app.panels.sensor(&home_id, &sensor_id).await?.into()))
}

#[utoipa::path(patch, path = "/api/v1/homes/{home_id}/sensors/{sensor_id}", tag = "panel", security(("bearer" = [])), request_body = PatchSensor,
    responses((status = 200, body = SensorDto),
        (status = 409, description = "`sensor_name_taken`, `sensor_conflict`, `device_in_use`, `device_unavailable`, `panel_settings_not_cp01`", body = crate::error::ErrorBody),
        (status = 422, description = "`name_invalid`, `sensor_invalid`, `device_invalid`, `panel_settings_invalid`", body = crate::error::ErrorBody)))]
async fn update_sensor(
    State(s): State<AppState>,
    caller: Caller,
    Path((home_id, sensor_id)): Path<(String, String)>,
    body: JsonBody,
) -> ApiResult<Json<SensorDto>> {
    caller.require(Need::Admin, Some(&home_id))?;
    let body: PatchSensor = body.parse()?;
    Ok(Json(s.app.panels.put_sensor(&home_id, Some(&sensor_id), body.input()?, caller.actor()).await?.into()))
}

#[utoipa::path(delete, path = "/api/v1/homes/{home_id}/sensors/{sensor_id}", tag = "panel", security(("bearer" = [])),
    responses((status = 204, description = "removed; the panel forgets it")))]
async fn delete_sensor(
    State(s): State<AppState>,
    caller: Caller,
    Path((home_id, sensor_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Need::Admin, Some(&home_id))?;
    s.app.panels.remove_sensor(&home_id, &sensor_id, caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- the panel's sirens

#[utoipa::path(get, path = "/api/v1/homes/{home_id}/sirens", tag = "panel", security(("bearer" = [])),
    responses((status = 200, body = List<SirenDto>)))]
async fn list_sirens(
    State(s): State<AppState>,
    caller: Caller,
    Path(home_id): Path<String>,
) -> ApiResult<Json<List<SirenDto>>> {
    caller.require(Need::Read, Some(&home_id))?;
    let items = s.app.panels.sirens(&home_id).await?.into_iter().map(SirenDto::from).collect();
    Ok(Json(List { items }))
}

#[utoipa::path(post, path = "/api/v1/homes/{home_id}/sirens", tag = "panel", security(("bearer" = [])), request_body = CreateSiren,
    responses((status = 201, body = SirenDto),
        (status = 409, description = "`siren_name_taken`, `device_in_use` (another siren is this device), `device_unavailable` (no network of its protocol)", body = crate::error::ErrorBody),
        (status = 422, description = "`name_invalid`, `device_invalid`", body = crate::error::ErrorBody)))]
async fn create_siren(
    State(s): State<AppState>,
    caller: Caller,
    Path(home_id): Path<String>,
    body: JsonBody,
) -> ApiResult<(StatusCode, Json<SirenDto>)> {
    caller.require(Need::Admin, Some(&home_id))?;
    let body: CreateSiren = body.parse()?;
    let device = body.device.request(None)?.device;
    let view = s.app.panels.put_siren(&home_id, None, Some(body.name), Some(device), caller.actor()).await?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

#[utoipa::path(get, path = "/api/v1/homes/{home_id}/sirens/{siren_id}", tag = "panel", security(("bearer" = [])),
    responses((status = 200, body = SirenDto)))]
async fn get_siren(
    State(s): State<AppState>,
    caller: Caller,
    Path((home_id, siren_id)): Path<(String, String)>,
) -> ApiResult<Json<SirenDto>> {
    caller.require(Need::Read, Some(&home_id))?;
    Ok(Json(s.app.panels.siren(&home_id, &siren_id).await?.into()))
}

#[utoipa::path(patch, path = "/api/v1/homes/{home_id}/sirens/{siren_id}", tag = "panel", security(("bearer" = [])), request_body = PatchSiren,
    responses((status = 200, body = SirenDto),
        (status = 409, description = "`siren_name_taken`, `device_in_use`, `device_unavailable`", body = crate::error::ErrorBody),
        (status = 422, description = "`name_invalid`, `device_invalid`", body = crate::error::ErrorBody)))]
async fn update_siren(
    State(s): State<AppState>,
    caller: Caller,
    Path((home_id, siren_id)): Path<(String, String)>,
    body: JsonBody,
) -> ApiResult<Json<SirenDto>> {
    caller.require(Need::Admin, Some(&home_id))?;
    let body: PatchSiren = body.parse()?;
    let device = body.device.map(|d| d.request(None)).transpose()?.map(|r| r.device);
    Ok(Json(s.app.panels.put_siren(&home_id, Some(&siren_id), body.name, device, caller.actor()).await?.into()))
}

#[utoipa::path(delete, path = "/api/v1/homes/{home_id}/sirens/{siren_id}", tag = "panel", security(("bearer" = [])),
    responses((status = 204, description = "removed; the panel no longer sounds it")))]
async fn delete_siren(
    State(s): State<AppState>,
    caller: Caller,
    Path((home_id, siren_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Need::Admin, Some(&home_id))?;
    s.app.panels.remove_siren(&home_id, &siren_id, caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- access

#[utoipa::path(post, path = "/api/v1/homes/{home_id}/access", tag = "access", security(("bearer" = [])), request_body = AccessRequest,
    responses((status = 200, body = AccessResponse), (status = 404, description = "`device_not_found`", body = crate::error::ErrorBody),
        (status = 422, description = "`action_invalid`", body = crate::error::ErrorBody)))]
async fn access(
    State(s): State<AppState>,
    caller: Caller,
    Path(home_id): Path<String>,
    body: JsonBody,
) -> ApiResult<Json<AccessResponse>> {
    caller.require(Need::Device, Some(&home_id))?;
    let body: AccessRequest = body.parse()?;
    let outcome = s.app.access.attempt(&home_id, &body.code.0, &body.device, body.action.into()).await?;
    Ok(Json(AccessResponse::new(outcome, caller.is_admin())))
}

#[utoipa::path(post, path = "/api/v1/homes/{home_id}/access/preview", tag = "access", security(("bearer" = [])), request_body = PreviewRequest,
    responses((status = 200, description = "the decision, with no side effect", body = PreviewResponse)))]
async fn preview(
    State(s): State<AppState>,
    caller: Caller,
    Path(home_id): Path<String>,
    body: JsonBody,
) -> ApiResult<Json<PreviewResponse>> {
    // Read at least, before the body is looked at; a code needs admin.
    caller.require(Need::Read, Some(&home_id))?;
    let body: PreviewRequest = body.parse()?;
    let subject = match (&body.code, &body.user_id) {
        // With a code, a preview would be a code oracle without lockout: admin only.
        (Some(code), None) => {
            caller.require(Need::Admin, Some(&home_id))?;
            PreviewSubject::Code(&code.0)
        }
        (None, Some(user_id)) => PreviewSubject::User(user_id),
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                "give exactly one of `code` and `user_id`",
            ));
        }
    };
    let at = optional_instant("at", body.at.as_deref())?;
    let outcome = s.app.access.preview(&home_id, subject, &body.device, body.action.into(), at).await?;
    Ok(Json(outcome.into()))
}

// ---- activity

#[utoipa::path(get, path = "/api/v1/homes/{home_id}/activity", tag = "activity", security(("bearer" = [])), params(ActivityParams),
    responses((status = 200, description = "newest first", body = ActivityPageDto), (status = 422, description = "`query_invalid`", body = crate::error::ErrorBody)))]
async fn activity(
    State(s): State<AppState>,
    caller: Caller,
    Path(home_id): Path<String>,
    params: Result<Query<ActivityParams>, QueryRejection>,
) -> ApiResult<Json<ActivityPageDto>> {
    caller.require(Need::Read, Some(&home_id))?;
    let query_invalid = |message: &str| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "query_invalid", message);
    let Query(p) = params.map_err(|_| query_invalid("the query parameters are not of the documented types"))?;
    let query = ActivityQuery {
        since: optional_instant("since", p.since.as_deref()).map_err(|e| query_invalid(&e.message))?,
        until: optional_instant("until", p.until.as_deref()).map_err(|e| query_invalid(&e.message))?,
        user_id: p.user_id,
        device: p.device,
        outcome: p.outcome,
        limit: match p.limit.as_deref() {
            None => None,
            Some(text) => Some(Integer::from_text(text).ok_or_else(|| query_invalid("limit must be 1 to 500"))?),
        },
        cursor: p.cursor,
    };
    let page = s.app.activity.query(&home_id, query).await?.map_err(|e| match e {
        QueryError::Invalid(message) => query_invalid(message),
        QueryError::Cursor => ApiError::new(StatusCode::CONFLICT, "cursor_invalid", e.message()),
    })?;
    let admin = caller.is_admin();
    Ok(Json(ActivityPageDto {
        items: page
            .items
            .into_iter()
            // A duress alert that could not be delivered is itself a sign of
            // duress: only those who may see duress see it.
            .filter(|item| {
                admin || !(item.event.duress && item.event.kind == keyward_core::ActivityKind::DeliveryFailed)
            })
            .map(|item| ActivityDto::new(item, admin))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

// ---- channels

fn quiet_hours(dto: &QuietHoursDto) -> Result<keyward_core::notify::QuietHours, AppError> {
    let time = |text: &str| {
        jiff::civil::Time::strptime("%H:%M", text)
            .ok()
            .filter(|_| text.len() == 5)
            .ok_or_else(|| AppError::ChannelInvalid("quiet hours are two times of day, \"HH:MM\"".into()))
    };
    Ok(keyward_core::notify::QuietHours { start: time(&dto.start)?, end: time(&dto.end)? })
}

#[utoipa::path(get, path = "/api/v1/homes/{home_id}/channels", tag = "channels", security(("bearer" = [])),
    responses((status = 200, body = List<ChannelDto>)))]
async fn list_channels(
    State(s): State<AppState>,
    caller: Caller,
    Path(home_id): Path<String>,
) -> ApiResult<Json<List<ChannelDto>>> {
    caller.require(Need::Read, Some(&home_id))?;
    let admin = caller.is_admin();
    let items = s
        .app
        .channels
        .list(&home_id)
        .await?
        .into_iter()
        .map(|v| ChannelDto::new(v.channel, v.has_token, admin))
        .collect();
    Ok(Json(List { items }))
}

fn invalid(message: impl Into<String>) -> AppError {
    AppError::ChannelInvalid(message.into())
}

fn channel_url(text: &str) -> Result<keyward_core::channel::HttpUrl, AppError> {
    keyward_core::channel::HttpUrl::parse(text).map_err(|e| invalid(e.to_string()))
}

fn channel_email(text: &str) -> Result<keyward_core::email::EmailAddress, AppError> {
    keyward_core::email::EmailAddress::parse(text).map_err(|e| invalid(e.to_string()))
}

fn channel_topic(text: &str) -> Result<String, AppError> {
    keyward_core::channel::ChannelTarget::mqtt_topic(text).map_err(|e| invalid(e.to_string()))
}

/// A token as a header can carry it: printable ASCII, no spaces.
fn channel_token(token: SecretCode) -> Result<zeroize::Zeroizing<String>, AppError> {
    let valid = (1..=200).contains(&token.0.len()) && token.0.chars().all(|c| c.is_ascii_graphic());
    if valid { Ok(token.0) } else { Err(invalid("a token is 1 to 200 printable characters without spaces")) }
}

/// The target a new channel's fields describe: each kind with its own
/// fields and no other.
fn channel_target(body: &CreateChannel) -> Result<keyward_core::channel::ChannelTarget, AppError> {
    use keyward_core::channel::ChannelTarget;
    fn text(field: &Option<Option<String>>) -> Option<Option<&str>> {
        field.as_ref().map(|v| v.as_deref())
    }
    // Each field: absent (None), null (Some(None)) or text (Some(Some)).
    let fields = (text(&body.url), text(&body.to), text(&body.topic), body.token.as_ref().map(Option::is_some));
    match (body.kind.as_str(), fields) {
        ("webhook", (Some(Some(url)), None, None, None)) => Ok(ChannelTarget::Webhook { url: channel_url(url)? }),
        ("ntfy", (Some(Some(url)), None, None, _)) => Ok(ChannelTarget::Ntfy { url: channel_url(url)? }),
        ("email", (None, Some(Some(to)), None, None)) => Ok(ChannelTarget::Email { to: channel_email(to)? }),
        ("mqtt", (None, None, Some(Some(topic)), None)) => Ok(ChannelTarget::Mqtt { topic: channel_topic(topic)? }),
        ("webhook", _) => Err(invalid("a webhook channel takes a url (and no to, topic or token)")),
        ("ntfy", _) => Err(invalid("an ntfy channel takes a url and optionally a token (no to or topic)")),
        ("email", _) => Err(invalid("an email channel takes a to address (and no url, topic or token)")),
        ("mqtt", _) => Err(invalid("an MQTT channel takes a topic (and no url, to or token)")),
        _ => Err(invalid("kind is \"webhook\", \"email\", \"ntfy\" or \"mqtt\"")),
    }
}

#[utoipa::path(post, path = "/api/v1/homes/{home_id}/channels", tag = "channels", security(("bearer" = [])), request_body = CreateChannel,
    responses((status = 201, body = ChannelDto, description = "a webhook with its signing secret, shown this once")))]
async fn create_channel(
    State(s): State<AppState>,
    caller: Caller,
    Path(home_id): Path<String>,
    body: JsonBody,
) -> ApiResult<(StatusCode, Json<ChannelDto>)> {
    caller.require(Need::Admin, Some(&home_id))?;
    let mut body: CreateChannel = body.parse()?;
    let target = channel_target(&body)?;
    let quiet = body.quiet_hours.as_ref().map(quiet_hours).transpose()?;
    let token = body.token.take().flatten().map(channel_token).transpose()?;
    let has_token = token.is_some();
    let input = keyward_app::ChannelInput { name: body.name, target, emergency: body.emergency, quiet, token };
    let (channel, secret) = s.app.channels.create(&home_id, input, caller.actor()).await?;
    let mut dto = ChannelDto::new(channel, has_token, true);
    dto.secret = secret.map(|bytes| webhook_secret_text(&bytes));
    Ok((StatusCode::CREATED, Json(dto)))
}

#[utoipa::path(patch, path = "/api/v1/homes/{home_id}/channels/{channel_id}", tag = "channels", security(("bearer" = [])), request_body = PatchChannel,
    responses((status = 200, body = ChannelDto)))]
async fn patch_channel(
    State(s): State<AppState>,
    caller: Caller,
    Path((home_id, channel_id)): Path<(String, String)>,
    body: JsonBody,
) -> ApiResult<Json<ChannelDto>> {
    caller.require(Need::Admin, Some(&home_id))?;
    let body: PatchChannel = body.parse()?;
    let change = keyward_app::ChannelChange {
        name: body.name,
        url: body.url.as_deref().map(channel_url).transpose()?,
        to: body.to.as_deref().map(channel_email).transpose()?,
        topic: body.topic.as_deref().map(channel_topic).transpose()?,
        emergency: body.emergency,
        quiet: body.quiet_hours.map(|q| q.as_ref().map(quiet_hours).transpose()).transpose()?,
        token: body.token.map(|t| t.map(channel_token).transpose()).transpose()?,
    };
    let view = s.app.channels.update(&home_id, &channel_id, change, caller.actor()).await?;
    Ok(Json(ChannelDto::new(view.channel, view.has_token, true)))
}

/// A webhook secret in the Standard Webhooks form, `whsec_` and base64.
/// A webhook signing secret as Standard Webhooks write it: `whsec_<base64>`.
pub fn webhook_secret_text(bytes: &[u8]) -> String {
    use base64::Engine;
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[utoipa::path(delete, path = "/api/v1/homes/{home_id}/channels/{channel_id}", tag = "channels", security(("bearer" = [])),
    responses((status = 204, description = "deleted, with what it had still to deliver")))]
async fn delete_channel(
    State(s): State<AppState>,
    caller: Caller,
    Path((home_id, channel_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Need::Admin, Some(&home_id))?;
    s.app.channels.delete(&home_id, &channel_id, caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/homes/{home_id}/channels/{channel_id}/deliveries", tag = "channels", security(("bearer" = [])),
    responses((status = 200, body = List<DeliveryDto>, description = "the channel's latest 50 notifications, newest first")))]
async fn channel_deliveries(
    State(s): State<AppState>,
    caller: Caller,
    Path((home_id, channel_id)): Path<(String, String)>,
) -> ApiResult<Json<List<DeliveryDto>>> {
    caller.require(Need::Read, Some(&home_id))?;
    let items = s.app.channels.deliveries(&home_id, &channel_id, 50).await?;
    // Duress is shown to owners and admin tokens only, its alerts too.
    let seen = |d: &keyward_app::Delivery| caller.is_admin() || d.kind != keyward_core::notify::AlertKind::Duress;
    Ok(Json(List { items: items.into_iter().filter(seen).map(DeliveryDto::from).collect() }))
}

#[utoipa::path(post, path = "/api/v1/homes/{home_id}/channels/{channel_id}/test", tag = "channels", security(("bearer" = [])),
    responses((status = 202, description = "a test message is on its way")))]
async fn test_channel(
    State(s): State<AppState>,
    caller: Caller,
    Path((home_id, channel_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Need::Admin, Some(&home_id))?;
    s.app.channels.test(&home_id, &channel_id).await?;
    Ok(StatusCode::ACCEPTED)
}

// ---- shared links

#[utoipa::path(post, path = "/api/v1/homes/{home_id}/users/{user_id}/shares", tag = "users", security(("bearer" = [])), request_body = CreateShare,
    responses((status = 201, body = NewShareDto, description = "the link, shown this once; made, it is in the activity log"),
        (status = 502, description = "`mail_failed`: the email could not be sent, and the link was revoked", body = crate::error::ErrorBody)))]
async fn create_share(
    State(s): State<AppState>,
    caller: Caller,
    Path((home_id, user_id)): Path<(String, String)>,
    body: JsonBody,
) -> ApiResult<(StatusCode, Json<NewShareDto>)> {
    caller.require(Need::Admin, Some(&home_id))?;
    let body: CreateShare = body.parse()?;
    let to = match (body.email.as_deref(), body.send_to_contact) {
        (Some(_), true) => {
            return Err(AppError::ShareInvalid("give an email address or send_to_contact, not both").into());
        }
        (Some(text), false) => Some(
            keyward_core::email::EmailAddress::parse(text)
                .map_err(|_| AppError::ShareInvalid("email is not an address such as visitor@example.org"))?,
        ),
        (None, true) => Some(s.app.users.get(&home_id, &user_id).await?.contact.email.ok_or(AppError::ContactMissing)?),
        (None, false) => None,
    };
    let email = match to {
        None => None,
        Some(to) => {
            let base = s.public_url.as_deref().ok_or_else(|| {
                ApiError::new(
                    StatusCode::CONFLICT,
                    "public_url_missing",
                    "keyward does not know the address visitors reach it at: set public_url in its configuration to email links",
                )
            })?;
            Some((to, base.trim_end_matches('/').to_owned()))
        }
    };
    let days = body.days.map(|d| u32::try_from(d).unwrap_or(0));
    let made = s.app.shares.create(&home_id, &user_id, days, email, caller.actor()).await?;
    let url = s.public_url.as_deref().map(|base| format!("{}{}", base.trim_end_matches('/'), made.path.as_str()));
    Ok((
        StatusCode::CREATED,
        Json(NewShareDto {
            share: ShareDto::new(made.share),
            path: made.path.as_str().to_owned(),
            url,
            emailed_to: made.emailed_to.map(|to| to.as_str().to_owned()),
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/homes/{home_id}/users/{user_id}/shares", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = ShareList, description = "the user's links, newest first, never their tokens")))]
async fn list_shares(
    State(s): State<AppState>,
    caller: Caller,
    Path((home_id, user_id)): Path<(String, String)>,
) -> ApiResult<Json<ShareList>> {
    caller.require(Need::Admin, Some(&home_id))?;
    let items = s.app.shares.list(&home_id, &user_id).await?.into_iter().map(ShareDto::new).collect();
    Ok(Json(ShareList { items }))
}

#[utoipa::path(delete, path = "/api/v1/homes/{home_id}/users/{user_id}/shares/{share_id}", tag = "users", security(("bearer" = [])),
    responses((status = 204, description = "revoked: the link shows nothing from now on, even where it was opened")))]
async fn revoke_share(
    State(s): State<AppState>,
    caller: Caller,
    Path((home_id, user_id, share_id)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Need::Admin, Some(&home_id))?;
    s.app.shares.revoke(&home_id, &user_id, &share_id, caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}
