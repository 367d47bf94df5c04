//! The HTTP client the webhook (and ntfy) senders share: hyper over rustls
//! with ring and the system's trusted roots, HTTP/1.1, no redirects (a
//! receiver that moved must be edited, not followed to wherever it points),
//! a deadline on every request. With `[notify] allow_private_targets =
//! false` it refuses to connect to a private or local address, whether the
//! URL names it or a name resolves to it (checked on the addresses it
//! connects to, so a name that changes its answer cannot slip through).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;
use keyward_core::channel::private_address;

/// How long a request may take, connection included.
const DEADLINE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no trusted root certificate found on this system")]
    NoRoots,
    #[error("TLS: {0}")]
    Tls(String),
}

/// Resolves names as the system does; unless private targets are allowed,
/// a name with any private or local address fails to resolve.
#[derive(Clone)]
pub struct Resolver {
    allow_private: bool,
}

impl Resolver {
    pub fn new(allow_private: bool) -> Self {
        Self { allow_private }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the receiver's address is private or local, which this hub may not reach")]
struct PrivateTarget;

type Resolved = Pin<Box<dyn Future<Output = Result<std::vec::IntoIter<SocketAddr>, std::io::Error>> + Send>>;

impl tower_service::Service<Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Resolved;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let addresses: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            if !allow_private && addresses.iter().any(|a| private_address(a.ip())) {
                return Err(std::io::Error::other(PrivateTarget));
            }
            Ok(addresses.into_iter())
        })
    }
}

type Inner = Client<hyper_rustls::HttpsConnector<HttpConnector<Resolver>>, Full<Bytes>>;

/// The client, made at its first request: reading and parsing the system's
/// trusted roots costs start-up time and memory that a hub sending no
/// webhook or ntfy push never needs (issue 21: start-up and memory).
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<tokio::sync::OnceCell<Result<Inner, ClientError>>>,
    allow_private: bool,
}

/// A client; `allow_private` is `[notify] allow_private_targets`. Nothing
/// is read until the first request.
pub fn client(allow_private: bool) -> HttpClient {
    HttpClient { inner: Arc::new(tokio::sync::OnceCell::new()), allow_private }
}

/// Reads the system's roots and builds the connector (blocking: file reads).
fn build(allow_private: bool) -> Result<Inner, ClientError> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(%error, "a system certificate could not be read");
    }
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(ClientError::NoRoots);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = HttpConnector::new_with_resolver(Resolver::new(allow_private));
    http.enforce_http(false);
    http.set_connect_timeout(Some(Duration::from_secs(5)));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

impl HttpClient {
    /// POSTs `body`; the status, or why there is none, in words without the
    /// URL (its path or query may hold a receiver's secret).
    pub async fn post(
        &self,
        url: &keyward_core::channel::HttpUrl,
        content_type: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<u16, String> {
        // A literal address is never resolved, so it is checked here.
        if !self.allow_private && url.private_literal() {
            return Err(PrivateTarget.to_string());
        }
        let mut request = hyper::Request::post(url.as_str())
            .header("content-type", content_type)
            .header("user-agent", concat!("keyward/", env!("CARGO_PKG_VERSION")));
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request.body(Full::new(Bytes::from(body))).map_err(|_| "the address is not usable".to_owned())?;
        let allow_private = self.allow_private;
        let inner = self
            .inner
            .get_or_init(|| async move {
                let built = tokio::task::spawn_blocking(move || build(allow_private)).await;
                let built = built.unwrap_or_else(|_| Err(ClientError::Tls("the set-up did not finish".into())));
                if let Err(error) = &built {
                    tracing::error!(%error, "webhooks and ntfy pushes cannot be sent");
                }
                built
            })
            .await
            .as_ref()
            .map_err(ToString::to_string)?;
        match tokio::time::timeout(DEADLINE, inner.request(request)).await {
            Err(_) => Err("no answer in time".into()),
            Ok(Err(error)) if error.is_connect() => {
                // A name refused by the resolver: PrivateTarget down the chain.
                let mut cause: Option<&dyn std::error::Error> = Some(&error);
                while let Some(c) = cause {
                    if c.to_string() == PrivateTarget.to_string() {
                        return Err(PrivateTarget.to_string());
                    }
                    cause = c.source();
                }
                Err("could not connect".into())
            }
            Ok(Err(_)) => Err("the request failed".into()),
            Ok(Ok(response)) => Ok(response.status().as_u16()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_core::channel::HttpUrl;
    use tower_service::Service;

    #[tokio::test]
    async fn a_hub_that_forbids_private_targets_reaches_none() {
        let name: Name = "localhost".parse().expect("name");
        let refused = Resolver::new(false).call(name.clone()).await.expect_err("localhost is the hub itself");
        assert_eq!(refused.to_string(), PrivateTarget.to_string());
        assert!(Resolver::new(true).call(name).await.is_ok_and(|mut a| a.next().is_some()));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let url = HttpUrl::parse(&format!("http://127.0.0.1:{port}/hook")).expect("url");
        let error = client(false).post(&url, "text/plain", &[], Vec::new()).await.expect_err("private");
        assert_eq!(error, PrivateTarget.to_string());
    }
}
