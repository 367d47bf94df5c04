//! Push notifications through an ntfy server: the message as the body, its
//! title, tags and priority as ntfy's publish headers (`urgent` for duress
//! and lockouts, `high` for the other home alerts), the channel's access
//! token, if any, as a bearer token.

use keyward_app::delivery::{SendError, Sender};
use keyward_core::channel::{Channel, ChannelKind, ChannelTarget};
use keyward_core::notify::AlertKind;
use keyward_store::{BoxFuture, OutboxRecord};

use crate::http::HttpClient;

pub struct NtfySender {
    client: HttpClient,
}

impl NtfySender {
    pub fn new(client: HttpClient) -> Self {
        Self { client }
    }
}

/// ntfy's priority names.
fn priority(kind: AlertKind) -> &'static str {
    if kind.urgent() {
        "urgent"
    } else if kind.home_alert() {
        "high"
    } else {
        "default"
    }
}

/// ntfy's tags, shown as emoji.
fn tags(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::Arrival => "door",
        AlertKind::Departure => "wave",
        AlertKind::Denied => "no_entry",
        AlertKind::Duress | AlertKind::Lockout | AlertKind::KeypadGuessing | AlertKind::Alarm => "rotating_light",
        AlertKind::AlarmCancelled => "white_check_mark",
        AlertKind::PanelTrouble => "warning",
        AlertKind::NoShow => "hourglass",
        AlertKind::LockProblem | AlertKind::DeviceOffline => "warning",
        AlertKind::Test => "white_check_mark",
    }
}

/// A header value as RFC 2047 says when it is not plain ASCII (ntfy decodes
/// it): "Dog walker arrived" stays as it is, "Zoë arrived" is encoded.
pub fn header_text(text: &str) -> String {
    use base64::Engine;
    if text.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
        text.to_owned()
    } else {
        format!("=?UTF-8?B?{}?=", base64::engine::general_purpose::STANDARD.encode(text))
    }
}

impl Sender for NtfySender {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Ntfy
    }

    fn send<'a>(
        &'a self,
        channel: &'a Channel,
        secret: Option<&'a [u8]>,
        notification: &'a OutboxRecord,
    ) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let ChannelTarget::Ntfy { url } = &channel.target else {
                return Err(SendError("not an ntfy channel".into()));
            };
            let mut headers = vec![
                ("title", header_text(&notification.title)),
                ("priority", priority(notification.kind).to_owned()),
                ("tags", tags(notification.kind).to_owned()),
            ];
            if let Some(token) = secret {
                let token = std::str::from_utf8(token)
                    .ok()
                    .filter(|t| t.chars().all(|c| c.is_ascii_graphic()))
                    .ok_or_else(|| SendError("the channel's token cannot be read".into()))?;
                headers.push(("authorization", format!("Bearer {token}")));
            }
            let body = notification.body.clone().into_bytes();
            let status = self.client.post(url, "text/plain; charset=utf-8", &headers, body).await.map_err(SendError)?;
            match status {
                200..=299 => Ok(()),
                401 | 403 => Err(SendError(format!("the ntfy server refused the token (HTTP {status})"))),
                _ => Err(SendError(format!("the ntfy server answered HTTP {status}"))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_outside_ascii_are_encoded_words() {
        assert_eq!(header_text("Dog walker arrived"), "Dog walker arrived");
        assert_eq!(header_text("Zoë arrived"), "=?UTF-8?B?Wm/DqyBhcnJpdmVk?=");
        assert_eq!(priority(AlertKind::Duress), "urgent");
        assert_eq!(priority(AlertKind::LockProblem), "high");
        assert_eq!(priority(AlertKind::Arrival), "default");
    }
}
