//! TLS for mqtts://: the system's trusted roots, or the certificates of a
//! CA file (a self-signed home broker). Crypto from ring: no C toolchain
//! beyond what ring needs, and one provider for the whole binary.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::MqttError;

pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, MqttError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certificates = CertificateDer::pem_file_iter(path)
                .map_err(|e| MqttError::CaFile(format!("{}: {e}", path.display())))?;
            for certificate in certificates {
                let certificate = certificate.map_err(|e| MqttError::CaFile(format!("{}: {e}", path.display())))?;
                roots.add(certificate).map_err(|e| MqttError::CaFile(format!("{}: {e}", path.display())))?;
            }
            if roots.is_empty() {
                return Err(MqttError::CaFile(format!("{}: no certificate in it", path.display())));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for error in &found.errors {
                tracing::warn!(%error, "a system certificate could not be read");
            }
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(MqttError::NoRoots);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| MqttError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
