//! The broker's address as configured: `mqtt://host[:port]` (1883) or
//! `mqtts://host[:port]` (8883, TLS). Credentials never go in the URL: they
//! would end up in logs and process listings; they have their own settings.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    host: String,
    port: u16,
    tls: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerAddressError {
    #[error("an MQTT URL starts with mqtt:// or mqtts://")]
    Scheme,
    #[error("an MQTT URL names a host, and a port from 1 to 65535 if any")]
    HostPort,
    #[error("put the MQTT user and password in their own settings, not in the URL")]
    Credentials,
}

impl BrokerAddress {
    pub fn parse(url: &str) -> Result<Self, BrokerAddressError> {
        let (rest, tls) = if let Some(rest) = url.strip_prefix("mqtt://") {
            (rest, false)
        } else if let Some(rest) = url.strip_prefix("mqtts://") {
            (rest, true)
        } else {
            return Err(BrokerAddressError::Scheme);
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains('@') {
            return Err(BrokerAddressError::Credentials);
        }
        if authority.contains(['/', '?', '#']) || authority.is_empty() {
            return Err(BrokerAddressError::HostPort);
        }
        let default_port = if tls { 8883 } else { 1883 };
        // [v6]:port, host:port, or a bare host.
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or(BrokerAddressError::HostPort)?;
            match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':').ok_or(BrokerAddressError::HostPort)?)),
            }
        } else {
            match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        let port = match port {
            None => default_port,
            Some(port) => port.parse::<u16>().ok().filter(|p| *p > 0).ok_or(BrokerAddressError::HostPort)?,
        };
        if host.is_empty() || host.contains(':') && !authority.starts_with('[') {
            return Err(BrokerAddressError::HostPort);
        }
        Ok(Self { host: host.to_owned(), port, tls })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn tls(&self) -> bool {
        self.tls
    }
}

impl fmt::Display for BrokerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_with_their_default_ports() {
        let plain = BrokerAddress::parse("mqtt://127.0.0.1").expect("valid");
        assert_eq!((plain.host(), plain.port(), plain.tls()), ("127.0.0.1", 1883, false));
        let tls = BrokerAddress::parse("mqtts://broker.example/").expect("valid");
        assert_eq!((tls.host(), tls.port(), tls.tls()), ("broker.example", 8883, true));
        let v6 = BrokerAddress::parse("mqtt://[::1]:1884").expect("valid");
        assert_eq!((v6.host(), v6.port()), ("::1", 1884));
        assert_eq!(v6.to_string(), "mqtt://[::1]:1884");
    }

    #[test]
    fn bad_addresses_are_refused_with_their_reason() {
        assert_eq!(BrokerAddress::parse("tcp://h:1883"), Err(BrokerAddressError::Scheme));
        assert_eq!(BrokerAddress::parse("mqtt://user:secret@h"), Err(BrokerAddressError::Credentials));
        for bad in ["mqtt://", "mqtt://h:0", "mqtt://h:70000", "mqtt://h:port", "mqtt://h/topic", "mqtt://[::1"] {
            assert_eq!(BrokerAddress::parse(bad), Err(BrokerAddressError::HostPort), "{bad}");
        }
    }
}
