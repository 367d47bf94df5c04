//! Alerts by email over SMTP (`[smtp]`): STARTTLS (required, not
//! opportunistic), TLS from the first byte, or none for a relay on the hub
//! itself; plain text and HTML, written for people. The notification's id is
//! the Message-ID, so a mailbox that sees a retry can tell it is the same.

use std::time::Duration;

use keyward_app::delivery::{SendError, Sender};
use keyward_core::channel::{Channel, ChannelKind, ChannelTarget};
use keyward_store::{BoxFuture, OutboxRecord};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use zeroize::Zeroizing;

/// How the connection to the mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain connection upgraded with STARTTLS, refused if the server cannot (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on the hub or a trusted network (port 25).
    None,
}

impl Security {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "starttls" => Some(Self::StartTls),
            "tls" => Some(Self::Tls),
            "none" => Some(Self::None),
            _ => None,
        }
    }
}

/// The `[smtp]` settings.
pub struct SmtpSettings {
    pub host: String,
    pub port: Option<u16>,
    pub security: Security,
    pub username: Option<String>,
    pub password: Option<Zeroizing<String>>,
    /// The sender's address, `keyward@example.org` or `Keyward <keyward@example.org>`.
    pub from: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SmtpConfigError {
    #[error("[smtp] from {0:?} is not an address such as keyward@example.org")]
    From(String),
    #[error("[smtp] host {0:?} cannot be used for TLS")]
    Host(String),
    #[error("[smtp] a username needs a password (password_file), and a password a username")]
    Credentials,
}

/// How long one conversation with the mail server may take.
const TIMEOUT: Duration = Duration::from_secs(10);

pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl EmailSender {
    pub fn new(settings: SmtpSettings) -> Result<Self, SmtpConfigError> {
        let from: Mailbox = settings.from.parse().map_err(|_| SmtpConfigError::From(settings.from.clone()))?;
        let host = settings.host.as_str();
        let mut builder = match settings.security {
            Security::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(|_| SmtpConfigError::Host(host.to_owned()))?,
            Security::Tls => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(|_| SmtpConfigError::Host(host.to_owned()))?
            }
            Security::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).port(25),
        };
        if let Some(port) = settings.port {
            builder = builder.port(port);
        }
        match (settings.username, settings.password) {
            (Some(user), Some(password)) => {
                builder = builder.credentials(Credentials::new(user, password.as_str().to_owned()));
            }
            (None, None) => {}
            _ => return Err(SmtpConfigError::Credentials),
        }
        let transport = builder.timeout(Some(TIMEOUT)).build();
        Ok(Self { transport, from })
    }
}

/// Text for an HTML page: nothing in it is markup.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The email for a notification: subject, plain text and HTML.
pub fn compose(from: &Mailbox, to: &str, notification: &OutboxRecord) -> Result<Message, String> {
    let to: Mailbox = to.parse().map_err(|_| "the recipient's address is not usable".to_owned())?;
    let data: serde_json::Value = serde_json::from_str(&notification.data).unwrap_or_default();
    let home = data.pointer("/home/name").and_then(serde_json::Value::as_str).unwrap_or("your home");
    let footer = format!("Sent by keyward for {home}. The activity log on your hub has the details.");
    let text = format!("{}\n\n{footer}\n", notification.body);
    let html = format!(
        "<!doctype html><html lang=\"en\"><body style=\"font-family:sans-serif\"><h1 style=\"font-size:1.2em\">{}</h1><p>{}</p><p style=\"color:#555;font-size:.9em\">{}</p></body></html>",
        escape(&notification.title),
        escape(&notification.body),
        escape(&footer),
    );
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(notification.title.clone())
        .message_id(Some(format!("<{}@keyward>", notification.id)))
        .date(std::time::UNIX_EPOCH + Duration::from_secs(notification.created_at.as_second().max(0).unsigned_abs()))
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|_| "the email could not be written".to_owned())
}

/// Why a send failed, in words for the owner: the server's own code, never
/// our settings.
fn failure(error: &lettre::transport::smtp::Error) -> String {
    let status = || error.status().map(|c| c.to_string()).unwrap_or_default();
    if error.is_permanent() {
        format!("the mail server refused the message ({})", status())
    } else if error.is_timeout() {
        "the mail server did not answer in time".into()
    } else if error.is_transient() {
        format!("the mail server asked to try later ({})", status())
    } else {
        "could not reach the mail server".into()
    }
}

/// A visitor's link, sent at once (never queued: the outbox would keep the
/// link in the database).
impl keyward_app::shares::Mailer for EmailSender {
    fn send<'a>(&'a self, mail: &'a keyward_app::shares::Mail) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let to: Mailbox =
                mail.to.as_str().parse().map_err(|_| "the recipient's address is not usable".to_owned())?;
            let email = Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(mail.subject.clone())
                .singlepart(lettre::message::SinglePart::plain(mail.text.as_str().to_owned()))
                .map_err(|_| "the email could not be written".to_owned())?;
            self.transport.send(email).await.map(drop).map_err(|e| failure(&e))
        })
    }
}

impl Sender for EmailSender {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Email
    }

    fn send<'a>(
        &'a self,
        channel: &'a Channel,
        _secret: Option<&'a [u8]>,
        notification: &'a OutboxRecord,
    ) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let ChannelTarget::Email { to } = &channel.target else {
                return Err(SendError("not an email channel".into()));
            };
            let email = compose(&self.from, to.as_str(), notification).map_err(SendError)?;
            self.transport.send(email).await.map(drop).map_err(|e| SendError(failure(&e)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_core::notify::AlertKind;
    use keyward_store::DeliveryState;

    #[test]
    fn an_alert_reads_as_an_email_for_people() {
        let at: jiff::Timestamp = "2026-11-26T10:42:00Z".parse().expect("instant");
        let notification = OutboxRecord {
            id: "n1".into(),
            home_id: "h".into(),
            channel_id: "c".into(),
            event_id: "e".into(),
            kind: AlertKind::Arrival,
            created_at: at,
            title: "Dog walker arrived".into(),
            body: "Dog walker arrived · Front door · 11:42".into(),
            data: r#"{"home": {"name": "Maple <Street>"}}"#.into(),
            state: DeliveryState::Pending,
            attempts: 0,
            next_at: at,
            last_error: None,
            delivered_at: None,
        };
        let from: Mailbox = "Keyward <keyward@example.org>".parse().expect("from");
        let email = compose(&from, "owner@example.org", &notification).expect("email");
        let text = String::from_utf8(email.formatted()).expect("utf-8");
        assert!(text.contains("Subject: Dog walker arrived"), "{text}");
        assert!(text.contains("Message-ID: <n1@keyward>"), "{text}");
        assert!(text.contains("multipart/alternative"), "{text}");
        assert!(text.contains("Maple &lt;Street&gt;"), "the HTML is escaped: {text}");
        assert!(compose(&from, "not an address", &notification).is_err());
    }
}
