//! Where a home's alerts go: a channel's kind and target, checked. Whether a
//! target's address is private or on the hub itself is the delivery
//! adapter's question (it resolves names); here only the shape is checked.

use std::net::IpAddr;

use crate::email::EmailAddress;
use crate::name::Name;
use crate::string_form::string_form;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    Webhook,
    Email,
    Ntfy,
    Mqtt,
}

string_form!(ChannelKind {
    Webhook => "webhook",
    Email => "email",
    Ntfy => "ntfy",
    Mqtt => "mqtt",
});

impl ChannelKind {
    /// The name of the setting that says where a channel of this kind sends.
    pub fn setting(self) -> &'static str {
        match self {
            Self::Webhook | Self::Ntfy => "url",
            Self::Email => "to",
            Self::Mqtt => "topic",
        }
    }
}

/// An http(s) URL a notification is sent to: no credentials in it (they go
/// in a file), no spaces, at most 2000 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    text: String,
    host: String,
    port: u16,
    https: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    #[error("the address must be an http:// or https:// URL such as https://example.org/hooks/keyward")]
    Url,
    #[error("a password or token does not go in the URL: give it as a file")]
    CredentialsInUrl,
    #[error("an email address looks like name@example.org")]
    Email,
    #[error("an MQTT topic is 1 to 200 characters, without + or # or empty levels")]
    Topic,
}

impl HttpUrl {
    pub fn parse(text: &str) -> Result<Self, ChannelError> {
        let text = text.trim();
        if text.len() > 2000 || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ChannelError::Url);
        }
        let (https, rest) = if let Some(rest) = text.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = text.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(ChannelError::Url);
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err(ChannelError::CredentialsInUrl);
        }
        let (host, port) = match authority.strip_prefix('[') {
            // [IPv6]:port
            Some(v6) => {
                let (host, after) = v6.split_once(']').ok_or(ChannelError::Url)?;
                (host, after.strip_prefix(':'))
            }
            None => match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        let valid_host = !host.is_empty()
            && host.chars().all(|c| c.is_ascii_alphanumeric() || ".-_:".contains(c))
            && !host.starts_with(['.', '-']);
        if !valid_host {
            return Err(ChannelError::Url);
        }
        let port = match port {
            None => {
                if https {
                    443
                } else {
                    80
                }
            }
            Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or(ChannelError::Url)?,
        };
        Ok(Self { text: text.to_owned(), host: host.to_ascii_lowercase(), port, https })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The host name or address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn https(&self) -> bool {
        self.https
    }

    /// The URL by its scheme and host only, "https://hooks.example.org/…":
    /// how it is shown where its path or query (often the receiver's own
    /// secret, as Home Assistant's webhook ids are) should not be.
    /// The URL by its scheme, host and port (when not the scheme's own),
    /// "http://192.168.1.20:8123/…": what the owner's page shows, so two
    /// receivers on one machine stay apart. Never the path, which can hold
    /// a secret (an ntfy topic, a webhook id).
    pub fn host_and_port(&self) -> String {
        let (scheme, default_port) = if self.https { ("https", 443) } else { ("http", 80) };
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        if self.port == default_port {
            format!("{scheme}://{host}/…")
        } else {
            format!("{scheme}://{host}:{}/…", self.port)
        }
    }

    pub fn host_only(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        if self.host.contains(':') {
            format!("{scheme}://[{}]/…", self.host)
        } else {
            format!("{scheme}://{}/…", self.host)
        }
    }
}

/// Whether `ip` is on the hub itself, a private or link-local network, or
/// otherwise not a public address: what `[notify] allow_private_targets =
/// false` forbids (an installer's hub must not be made to probe the network
/// it sits in).
pub fn private_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                // Carrier-grade NAT (100.64.0.0/10) and benchmarking (198.18.0.0/15).
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (18..20).contains(&b))
                || a >= 224
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let embedded =
                |high: u16, low: u16| IpAddr::V4(std::net::Ipv4Addr::from((u32::from(high) << 16) | u32::from(low)));
            // IPv4-mapped ::ffff:a.b.c.d and IPv4-compatible ::a.b.c.d
            // reach the IPv4 address they carry.
            if let Some(v4) = v6.to_ipv4() {
                return private_address(IpAddr::V4(v4));
            }
            // NAT64's well-known prefix 64:ff9b::/96 translates to the IPv4
            // address in its last 32 bits; 6to4 2002::/16 tunnels to the one
            // in its next 32.
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return private_address(embedded(s[6], s[7]));
            }
            if s[0] == 0x2002 {
                return private_address(embedded(s[1], s[2]));
            }
            // Local-use NAT64 64:ff9b:1::/48 (the network's own translator)
            // and Teredo 2001::/32 (an address hidden in the tunnel): never
            // known to be public.
            if (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) || (s[0] == 0x2001 && s[1] == 0) {
                return true;
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // Unique local fc00::/7 and link-local fe80::/10.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

impl HttpUrl {
    /// Whether the host is written as a private address or names the hub
    /// itself (`localhost`); names are checked again when they resolve.
    pub fn private_literal(&self) -> bool {
        let host = self.host.trim_end_matches('.');
        host == "localhost" || host.ends_with(".localhost") || host.parse::<IpAddr>().is_ok_and(private_address)
    }
}

/// Where a channel delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelTarget {
    /// Signed as the Standard Webhooks specification says.
    Webhook {
        url: HttpUrl,
    },
    Email {
        to: EmailAddress,
    },
    /// An ntfy topic URL; its access token, if any, kept sealed beside the
    /// channel like a webhook's secret.
    Ntfy {
        url: HttpUrl,
    },
    /// JSON on this topic of keyward's MQTT broker, not retained.
    Mqtt {
        topic: String,
    },
}

impl ChannelTarget {
    pub fn kind(&self) -> ChannelKind {
        match self {
            Self::Webhook { .. } => ChannelKind::Webhook,
            Self::Email { .. } => ChannelKind::Email,
            Self::Ntfy { .. } => ChannelKind::Ntfy,
            Self::Mqtt { .. } => ChannelKind::Mqtt,
        }
    }

    pub fn mqtt_topic(topic: &str) -> Result<String, ChannelError> {
        let valid = !topic.is_empty()
            && topic.chars().count() <= 200
            && !topic.contains(['+', '#', '\0'])
            && !topic.chars().any(char::is_control)
            && topic.split('/').all(|level| !level.is_empty());
        if valid { Ok(topic.to_owned()) } else { Err(ChannelError::Topic) }
    }

    /// Whether an MQTT alert topic lies under its home's alert topics,
    /// `<prefix>/<home id>/alerts` (the prefix is the installation's, not the
    /// channel's): alerts never reach Zigbee2MQTT's, Home Assistant's or
    /// keyward's own topics, nor another home's.
    pub fn mqtt_topic_of_home(topic: &str, prefix: &str, home_id: &str) -> bool {
        let root = alerts_root(prefix, home_id);
        topic == root || topic.strip_prefix(root.as_str()).is_some_and(|rest| rest.starts_with('/'))
    }

    pub fn email(to: &str) -> Result<Self, ChannelError> {
        EmailAddress::parse(to).map(|to| Self::Email { to }).map_err(|_| ChannelError::Email)
    }
}

/// The installation's MQTT alert prefix unless configured (`[mqtt]
/// alerts_prefix`).
pub const DEFAULT_ALERTS_PREFIX: &str = "keyward";

/// Where a home's MQTT alerts go: this topic and the topics below it.
pub fn alerts_root(prefix: &str, home_id: &str) -> String {
    format!("{prefix}/{home_id}/alerts")
}

/// A channel of a home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: String,
    pub home_id: String,
    pub name: Name,
    pub target: ChannelTarget,
    /// Receives duress and the other home alerts.
    pub emergency: bool,
    pub quiet: Option<crate::notify::QuietHours>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_http_or_https_without_credentials() {
        let url = HttpUrl::parse("https://Hooks.Example.org/keyward?x=1").expect("url");
        assert_eq!((url.host(), url.port(), url.https()), ("hooks.example.org", 443, true));
        let local = HttpUrl::parse("http://192.168.1.20:8123/api/webhook/abc").expect("url");
        assert_eq!((local.host(), local.port(), local.https()), ("192.168.1.20", 8123, false));
        let v6 = HttpUrl::parse("http://[::1]:9000/").expect("url");
        assert_eq!((v6.host(), v6.port()), ("::1", 9000));
        assert_eq!(local.host_only(), "http://192.168.1.20/…");
        assert_eq!(v6.host_only(), "http://[::1]/…");
        let with_port = HttpUrl::parse("http://192.168.1.20:8123/api/webhook/secret").expect("url");
        assert_eq!(with_port.host_and_port(), "http://192.168.1.20:8123/…");
        assert_eq!(url.host_and_port(), url.host_only(), "the scheme's own port is not written");
        let v6_port = HttpUrl::parse("https://[::1]:8443/x").expect("url");
        assert_eq!(v6_port.host_and_port(), "https://[::1]:8443/…");
        for bad in [
            "",
            "ftp://x.org",
            "https://",
            "https://x.org:0/",
            "https://x.org:99999/",
            "https://a b.org",
            "https://-x.org",
        ] {
            assert_eq!(HttpUrl::parse(bad), Err(ChannelError::Url), "{bad:?}");
        }
        assert_eq!(HttpUrl::parse("https://user:secret@x.org/"), Err(ChannelError::CredentialsInUrl));
    }

    #[test]
    fn private_and_loopback_targets_are_recognised() {
        for private in [
            "http://localhost:8123/",
            "http://127.0.0.1/",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://192.168.1.20:8123/",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:192.168.0.1]/",
            "http://[::127.0.0.1]/",
            "http://[::10.0.0.1]/",
            "http://[64:ff9b::7f00:1]/",
            "http://[64:ff9b::10.1.2.3]/",
            "http://[64:ff9b:1::5]/",
            "http://[2002:7f00:1::]/",
            "http://[2002:c0a8:101::1]/",
            "http://[2001:0:4136:e378::1]/",
        ] {
            assert!(HttpUrl::parse(private).expect("url").private_literal(), "{private}");
        }
        for public in [
            "https://ntfy.sh/alerts",
            "http://93.184.215.14/",
            "http://[2606:4700::1111]/",
            "http://172.32.0.1/",
            "http://[64:ff9b::8.8.8.8]/",
            "http://[2002:808:808::1]/",
        ] {
            assert!(!HttpUrl::parse(public).expect("url").private_literal(), "{public}");
        }
    }

    #[test]
    fn alert_topics_stay_under_their_home() {
        let of_home = |topic| ChannelTarget::mqtt_topic_of_home(topic, "keyward", "h1");
        assert!(of_home("keyward/h1/alerts") && of_home("keyward/h1/alerts/phone"));
        for outside in [
            "zigbee2mqtt/bridge/devices",
            "homeassistant/alarm_control_panel/x/config",
            "keyward/h2/alerts",
            "keyward/h1/alertsx",
            "keyward/h1",
            "keyward/h1/state",
            "keyward/h1/alerts/../x",
        ] {
            let inside = of_home(outside) && !outside.contains("..");
            assert!(!inside, "{outside}");
        }
    }

    #[test]
    fn topics_and_emails_are_checked() {
        assert_eq!(ChannelTarget::mqtt_topic("keyward/alerts"), Ok("keyward/alerts".into()));
        for bad in ["", "keyward/#", "a/+/b", "a//b", "/a"] {
            assert_eq!(ChannelTarget::mqtt_topic(bad), Err(ChannelError::Topic), "{bad:?}");
        }
        assert_eq!(ChannelTarget::email("Owner@Example.org").map(|t| t.kind()), Ok(ChannelKind::Email));
        assert_eq!(ChannelTarget::email("nobody"), Err(ChannelError::Email));
    }
}
