//! Which address a request came from: the connection's peer, or, when the
//! peer is a reverse proxy the configuration trusts, the client it names in
//! `X-Forwarded-For`. Anyone else's `X-Forwarded-For` is ignored: a client
//! could otherwise claim any address and escape (or aim) the sign-in
//! throttle.

use std::net::IpAddr;

use axum::http::HeaderMap;

/// One trusted proxy: an address, or a network in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyNet {
    network: IpAddr,
    prefix: u8,
}

impl ProxyNet {
    /// `192.168.1.2`, `10.0.0.0/8`, `::1` or `fd00::/8`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let problem = || format!("{text:?} is not an IP address or a network such as 10.0.0.0/8");
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let network: IpAddr = address.parse().map_err(|_| problem())?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= bits).ok_or_else(problem)?,
            None => bits,
        };
        Ok(Self { network, prefix })
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, canonical(address)) {
            (IpAddr::V4(net), IpAddr::V4(a)) => same_prefix(&net.octets(), &a.octets(), self.prefix),
            (IpAddr::V6(net), IpAddr::V6(a)) => same_prefix(&net.octets(), &a.octets(), self.prefix),
            _ => false,
        }
    }
}

/// An IPv4 client seen through an IPv6 socket is the IPv4 client.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

fn same_prefix(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    let rest = prefix % 8;
    if a[..full] != b[..full] {
        return false;
    }
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        (a[full] & mask) == (b[full] & mask)
    }
}

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<ProxyNet>);

impl TrustedProxies {
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        entries.iter().map(|e| ProxyNet::parse(e.as_ref())).collect::<Result<_, _>>().map(Self)
    }

    pub(crate) fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(address))
    }

    /// The client's address: walking `X-Forwarded-For` from the right (the
    /// hop nearest to us) while the hop that told us is trusted.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = canonical(peer);
        if !self.trusts(client) {
            return client;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        for hop in hops.into_iter().rev() {
            if !self.trusts(client) {
                break;
            }
            match hop.parse::<IpAddr>() {
                Ok(address) => client = canonical(address),
                // Whatever is left of a hop we cannot read is the proxy's word
                // against nobody's: stop at the last address we could.
                Err(_) => break,
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(v).expect("header"));
        }
        headers
    }

    #[test]
    fn networks_parse_and_match() {
        let net = ProxyNet::parse("10.1.0.0/16").expect("valid");
        assert!(net.contains(ip("10.1.200.3")) && !net.contains(ip("10.2.0.1")));
        assert!(ProxyNet::parse("127.0.0.1").expect("valid").contains(ip("::ffff:127.0.0.1")));
        assert!(ProxyNet::parse("fd00::/8").expect("valid").contains(ip("fd12::1")));
        assert!(!ProxyNet::parse("fd00::/8").expect("valid").contains(ip("10.0.0.1")));
        assert!(ProxyNet::parse("0.0.0.0/0").expect("valid").contains(ip("203.0.113.9")));
        for bad in ["", "10.0.0.0/33", "::/129", "proxy.lan", "10.0.0.0/x"] {
            assert!(ProxyNet::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let none = TrustedProxies::default();
        let headers = forwarded(&["198.51.100.7"]);
        assert_eq!(none.client(ip("203.0.113.1"), &headers), ip("203.0.113.1"), "nobody is trusted by default");

        let proxy = TrustedProxies::parse(&["127.0.0.1", "10.0.0.0/8"]).expect("valid");
        assert_eq!(proxy.client(ip("203.0.113.1"), &headers), ip("203.0.113.1"), "not from a proxy");
        assert_eq!(proxy.client(ip("127.0.0.1"), &headers), ip("198.51.100.7"));
        assert_eq!(proxy.client(ip("127.0.0.1"), &HeaderMap::new()), ip("127.0.0.1"), "nothing forwarded");
        // A client's own claim on the left is not believed past the first untrusted hop.
        let chain = forwarded(&["1.2.3.4, 198.51.100.7", "10.0.0.5"]);
        assert_eq!(proxy.client(ip("127.0.0.1"), &chain), ip("198.51.100.7"));
        let garbage = forwarded(&["not-an-ip"]);
        assert_eq!(proxy.client(ip("127.0.0.1"), &garbage), ip("127.0.0.1"));
    }
}
