//! Webhook signatures as the Standard Webhooks specification says
//! (standardwebhooks.com): the secret is `whsec_` and the base64 of its
//! bytes; each delivery carries `webhook-id`, `webhook-timestamp` (Unix
//! seconds) and `webhook-signature: v1,<base64 of HMAC-SHA256 over
//! "id.timestamp.body">`, so receivers verify with the existing libraries in
//! any language.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

const PREFIX: &str = "whsec_";
/// 24 random bytes: 192 bits, within the specification's 24–64.
const SECRET_BYTES: usize = 24;

/// A channel's signing secret. Its debug form never shows it.
pub struct WebhookSecret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a webhook secret is whsec_ followed by base64")]
    Malformed,
    #[error("the system's random source failed")]
    Random,
}

impl WebhookSecret {
    /// A new random secret.
    pub fn generate() -> Result<Self, SecretError> {
        let mut bytes = Zeroizing::new(vec![0_u8; SECRET_BYTES]);
        getrandom::fill(&mut bytes).map_err(|_| SecretError::Random)?;
        Ok(Self(bytes))
    }

    /// The secret in its shared form, `whsec_…` (shown to the owner once).
    pub fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{PREFIX}{}", STANDARD.encode(self.0.as_slice())))
    }

    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let encoded = text.strip_prefix(PREFIX).ok_or(SecretError::Malformed)?;
        let bytes = Zeroizing::new(STANDARD.decode(encoded).map_err(|_| SecretError::Malformed)?);
        if bytes.len() < 16 {
            return Err(SecretError::Malformed);
        }
        Ok(Self(bytes))
    }

    /// The raw bytes, for sealing in storage.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn from_bytes(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self(bytes)
    }

    /// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
    pub fn signature(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        #[allow(clippy::expect_used)]
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }

    /// The three headers of a delivery.
    pub fn headers(&self, id: &str, timestamp: i64, body: &[u8]) -> [(&'static str, String); 3] {
        [
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", self.signature(id, timestamp, body)),
        ]
    }
}

/// Delivers webhook channels' notifications: `POST` of
/// `{"type", "timestamp", "data"}` signed with the channel's secret; the
/// notification's id is the `webhook-id` (the same on every retry, so a
/// receiver drops repeats), and `data.event_id` names the event.
pub struct WebhookSender {
    client: crate::http::HttpClient,
}

impl WebhookSender {
    pub fn new(client: crate::http::HttpClient) -> Self {
        Self { client }
    }
}

impl keyward_app::delivery::Sender for WebhookSender {
    fn kind(&self) -> keyward_core::channel::ChannelKind {
        keyward_core::channel::ChannelKind::Webhook
    }

    fn send<'a>(
        &'a self,
        channel: &'a keyward_core::channel::Channel,
        secret: Option<&'a [u8]>,
        notification: &'a keyward_store::OutboxRecord,
    ) -> keyward_store::BoxFuture<'a, Result<(), keyward_app::delivery::SendError>> {
        use keyward_app::delivery::SendError;
        Box::pin(async move {
            let keyward_core::channel::ChannelTarget::Webhook { url } = &channel.target else {
                return Err(SendError("not a webhook channel".into()));
            };
            let Some(secret) = secret else {
                return Err(SendError("the channel's signing secret cannot be read".into()));
            };
            let secret = WebhookSecret::from_bytes(Zeroizing::new(secret.to_vec()));
            let body = crate::payload(notification).to_string();
            let now = jiff::Timestamp::now().as_second();
            let headers = secret.headers(&notification.id, now, body.as_bytes());
            let status =
                self.client.post(url, "application/json", &headers, body.into_bytes()).await.map_err(SendError)?;
            if (200..300).contains(&status) {
                Ok(())
            } else {
                Err(SendError(format!("the receiver answered HTTP {status}")))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_and_never_show_in_debug() {
        let secret = WebhookSecret::generate().expect("random");
        let text = secret.to_text();
        assert!(text.starts_with("whsec_") && text.len() == 6 + 32, "{}", text.len());
        let again = WebhookSecret::parse(&text).expect("parse");
        assert_eq!(again.bytes(), secret.bytes());
        assert_eq!(format!("{secret:?}"), "WebhookSecret(<redacted>)");
        for bad in ["", "whsec_", "whsec_!!!", "sk_MTIzNDU2Nzg5MDEyMzQ1Ng==", "whsec_c2hvcnQ="] {
            assert!(WebhookSecret::parse(bad).is_err(), "{bad:?}");
        }
    }

    /// The specification's own example (its reference libraries' tests).
    #[test]
    fn the_specification_s_example_signs_the_same() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.signature("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
