//! The HTTP client the webhook (and ntfy) senders share: hyper over rustls
//! with ring and the system's trusted roots, HTTP/1.1, no redirects (a
//! receiver that moved must be edited, not followed to wherever it points),
//! a deadline on every request.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// How long a request may take, connection included.
const DEADLINE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no trusted root certificate found on this system")]
    NoRoots,
    #[error("TLS: {0}")]
    Tls(String),
}

#[derive(Clone)]
pub struct HttpClient {
    inner: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

pub fn client() -> Result<HttpClient, ClientError> {
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
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(Duration::from_secs(5)));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(HttpClient { inner: Client::builder(TokioExecutor::new()).build(https) })
}

impl HttpClient {
    /// POSTs `body`; the status, or why there is none, in words without the
    /// URL (its path or query may hold a receiver's secret).
    pub async fn post(&self, url: &str, headers: &[(&str, String)], body: Vec<u8>) -> Result<u16, String> {
        let mut request = hyper::Request::post(url)
            .header("content-type", "application/json")
            .header("user-agent", concat!("keyward/", env!("CARGO_PKG_VERSION")));
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request.body(Full::new(Bytes::from(body))).map_err(|_| "the address is not usable".to_owned())?;
        match tokio::time::timeout(DEADLINE, self.inner.request(request)).await {
            Err(_) => Err("no answer in time".into()),
            Ok(Err(error)) if error.is_connect() => Err("could not connect".into()),
            Ok(Err(_)) => Err("the request failed".into()),
            Ok(Ok(response)) => Ok(response.status().as_u16()),
        }
    }
}
