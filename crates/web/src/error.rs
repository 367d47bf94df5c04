//! The one place where refusals become HTTP: a status, a machine-readable
//! code and a human message, as `{"error": {"code", "message"}}`. Messages
//! are written here or in the domain, never copied from input, so no error
//! body can echo a code.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyward_app::AppError;
use keyward_core::{CodeError, PolicyError, ScheduleError, ValidityError};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable, machine-readable code, such as `code_in_use`.
    code: String,
    /// A sentence for people.
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "a valid bearer token is required")
    }

    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "this token's scope does not allow this request")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorDetail { code: self.code.to_owned(), message: self.message } };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<AppError> for ApiError {
    /// 404 is for the resource in the path; 422 for a request that does not
    /// fit the documented schema; 409 for a well-formed request that cannot
    /// be applied: it conflicts with the home's codes or policy, names a
    /// device, lock or user the home does not have, or its fields contradict
    /// each other in a way no schema can say.
    fn from(e: AppError) -> Self {
        let unprocessable = |code| Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, e.to_string());
        let conflict = |code| Self::new(StatusCode::CONFLICT, code, e.to_string());
        match &e {
            AppError::HomeNotFound => Self::new(StatusCode::NOT_FOUND, "home_not_found", e.to_string()),
            AppError::UserNotFound => Self::new(StatusCode::NOT_FOUND, "user_not_found", e.to_string()),
            AppError::LockNotFound => Self::new(StatusCode::NOT_FOUND, "lock_not_found", e.to_string()),
            AppError::TokenNotFound => Self::new(StatusCode::NOT_FOUND, "token_not_found", e.to_string()),
            AppError::ChannelNotFound => Self::new(StatusCode::NOT_FOUND, "channel_not_found", e.to_string()),
            AppError::ChannelNameTaken => conflict("channel_name_taken"),
            AppError::LockNameTaken => conflict("lock_name_taken"),
            AppError::ChannelInvalid(_) => unprocessable("channel_invalid"),
            AppError::ChannelUnavailable(_) => conflict("channel_unavailable"),
            AppError::AlertsInvalid(_) => unprocessable("alerts_invalid"),
            AppError::AlertChannelsInvalid => conflict("alert_channels_invalid"),
            AppError::ChannelKindFixed(_) => conflict("channel_kind_fixed"),
            AppError::ContactInvalid(_) => unprocessable("contact_invalid"),
            AppError::ContactMissing => conflict("contact_missing"),
            AppError::ShareNotFound => Self::new(StatusCode::NOT_FOUND, "share_not_found", e.to_string()),
            AppError::ShareInvalid(_) => unprocessable("share_invalid"),
            AppError::MailUnavailable => conflict("mail_unavailable"),
            AppError::MailFailed(_) => Self::new(StatusCode::BAD_GATEWAY, "mail_failed", e.to_string()),
            AppError::DeviceNotFound => conflict("device_not_found"),
            AppError::UnknownUser => conflict("user_not_found"),
            AppError::LocksInvalid => conflict("locks_invalid"),
            AppError::CodeDamaged => conflict("code_damaged"),
            AppError::DeviceUnavailable => conflict("device_unavailable"),
            AppError::DeviceInUse => conflict("device_in_use"),
            AppError::SlotNotForeign => conflict("slot_not_foreign"),
            AppError::DeviceFailed => Self::new(StatusCode::BAD_GATEWAY, "device_failed", e.to_string()),
            AppError::SlotsInvalid => conflict("slots_invalid"),
            AppError::ActionInvalid => unprocessable("action_invalid"),
            AppError::DeviceInvalid => unprocessable("device_invalid"),
            AppError::Code(CodeError::Invalid) => unprocessable("code_invalid"),
            AppError::Code(code) => conflict(match code {
                CodeError::Invalid | CodeError::Length { .. } => "code_length",
                CodeError::TooWeak => "code_too_weak",
                CodeError::InUse => "code_in_use",
                CodeError::PrefixConflict => "code_prefix_conflict",
                CodeError::TooClose => "code_too_close",
            }),
            AppError::Schedule(ScheduleError::Invalid(_)) => unprocessable("schedule_invalid"),
            AppError::Schedule(ScheduleError::EmptyWindow) => conflict("window_empty"),
            AppError::Name(_) => unprocessable("name_invalid"),
            AppError::TimeZone(_) => unprocessable("timezone_invalid"),
            AppError::Policy(PolicyError::CodeLengthOrder) => conflict("policy_conflict"),
            AppError::Policy(_) => unprocessable("policy_invalid"),
            AppError::Validity(ValidityError::Empty) => conflict("validity_empty"),
            AppError::Validity(ValidityError::OutOfRange) => unprocessable("validity_invalid"),
            AppError::Validity(ValidityError::MaxUses) => unprocessable("max_uses_invalid"),
            AppError::Busy => Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string()),
            AppError::SensorNotFound => Self::new(StatusCode::NOT_FOUND, "sensor_not_found", e.to_string()),
            AppError::SensorNameTaken => conflict("sensor_name_taken"),
            AppError::SirenNameTaken => conflict("siren_name_taken"),
            AppError::SirenNotFound => Self::new(StatusCode::NOT_FOUND, "siren_not_found", e.to_string()),
            AppError::SensorInvalid(_) => unprocessable("sensor_invalid"),
            AppError::SensorConflict(_) => conflict("sensor_conflict"),
            AppError::PanelSettings(s) if keyward_core::alarm::PanelSettings::is_cp01_rule(s) => {
                conflict("panel_settings_not_cp01")
            }
            AppError::PanelSettings(_) => unprocessable("panel_settings_invalid"),
            AppError::PanelNotReady(_) => conflict("not_ready"),
            AppError::PanelNotDisarmed => conflict("panel_not_disarmed"),
            AppError::PanelAlreadyDisarmed => conflict("panel_already_disarmed"),
            AppError::Store(keyward_app::StoreError::Fenced) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "instance_lock_lost", e.to_string())
            }
            AppError::Store(_) | AppError::Poisoned => {
                tracing::error!(error = %e, "request failed");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the hub could not complete this request")
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
