//! The system's trusted root certificates, read once per process and not before
//! the first TLS handshake needs them.
//!
//! Left alone, a Lambda reads its CA store (one file per certificate on most Linux
//! systems) during init: the AWS SDK loads it when a client is built, and reqwest's
//! platform verifier loads it again for every `reqwest::Client` built (retry-worker's
//! SMS client at init, every Moodle connection's client later). Here it is read once,
//! on first use, and shared:
//! - [`client_config`] is the rustls configuration every reqwest client uses
//!   (`ClientBuilder::tls_backend_preconfigured`): its verifier loads the roots at the
//!   first handshake to a server.
//! - [`pem_bundle`] hands the same roots to the AWS SDK's HTTP client (its trust store
//!   takes PEM), built at the SDK's first request (`cloud::sdk`).
//!
//! Why the system store and not compiled-in roots (webpki-roots): a provider's Moodle or
//! SMS may present a certificate from a private or corporate CA that the operator adds
//! to the system store (`SSL_CERT_FILE` / `SSL_CERT_DIR` are honoured); compiled-in
//! roots would refuse it and would go stale between releases. Loaded lazily and once,
//! the system store costs nothing at init. docs/architecture.md, "Cold start".

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use std::sync::{Arc, LazyLock, OnceLock};

/// The system's root certificates, read on first use (once per process).
static NATIVE: LazyLock<Vec<CertificateDer<'static>>> = LazyLock::new(|| {
    let loaded = rustls_native_certs::load_native_certs();
    for error in &loaded.errors {
        tracing::warn!(error = %error, "a system CA certificate could not be read");
    }
    tracing::debug!(count = loaded.certs.len(), "system CA certificates read");
    loaded.certs
});

/// The system's root certificates (read now if nothing has read them yet).
pub fn native_certs() -> &'static [CertificateDer<'static>] {
    &NATIVE
}

/// Whether the roots have been read in this process (for tests and the bench).
pub fn loaded() -> bool {
    LazyLock::get(&NATIVE).is_some()
}

/// [`native_certs`] as one PEM bundle, for the AWS SDK's trust store. Built once.
pub fn pem_bundle() -> &'static str {
    static PEM: OnceLock<String> = OnceLock::new();
    PEM.get_or_init(|| {
        use base64::Engine;
        let mut pem = String::new();
        for cert in native_certs() {
            let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
            pem.push_str("-----BEGIN CERTIFICATE-----\n");
            for line in b64.as_bytes().chunks(64) {
                pem.push_str(&String::from_utf8_lossy(line));
                pem.push('\n');
            }
            pem.push_str("-----END CERTIFICATE-----\n");
        }
        pem
    })
}

/// The crypto provider every TLS client here uses (the AWS SDK's: aws-lc-rs).
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: LazyLock<Arc<CryptoProvider>> =
        LazyLock::new(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    PROVIDER.clone()
}

/// A rustls client configuration trusting the system roots, cheap to build: the
/// roots are read at the first handshake, once per process, whatever the number of
/// clients. For `reqwest::ClientBuilder::tls_backend_preconfigured`.
pub fn client_config() -> Result<rustls::ClientConfig, Error> {
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(SystemRoots))
        .with_no_client_auth())
}

/// Verifies servers against the system roots, which it reads on first use.
#[derive(Debug)]
struct SystemRoots;

impl SystemRoots {
    fn verifier(&self) -> Result<&'static Arc<WebPkiServerVerifier>, Error> {
        static VERIFIER: OnceLock<Result<Arc<WebPkiServerVerifier>, String>> = OnceLock::new();
        VERIFIER
            .get_or_init(|| {
                let mut roots = RootCertStore::empty();
                let (_, ignored) = roots.add_parsable_certificates(native_certs().iter().cloned());
                if ignored > 0 {
                    tracing::warn!(
                        ignored,
                        "system CA certificates that are not valid were ignored"
                    );
                }
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                    .build()
                    .map_err(|e| format!("no usable system CA certificates: {e}"))
            })
            .as_ref()
            .map_err(|e| Error::General(e.clone()))
    }
}

impl ServerCertVerifier for SystemRoots {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        self.verifier()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Building configurations reads nothing; the first verification reads the
    /// store, once, and every configuration shares it.
    #[test]
    fn the_store_is_read_at_first_use_once() {
        let _a = client_config().unwrap();
        let _b = client_config().unwrap();
        assert!(!loaded(), "building client configs reads no certificate");
        let refused = SystemRoots.verify_server_cert(
            &CertificateDer::from(vec![1, 2, 3]),
            &[],
            &ServerName::try_from("example.com").unwrap(),
            &[],
            UnixTime::now(),
        );
        assert!(refused.is_err(), "not a certificate");
        assert!(loaded(), "the first verification read the store");
        let first = native_certs().as_ptr();
        assert_eq!(native_certs().as_ptr(), first, "read once");
        assert_eq!(
            pem_bundle().matches("-----BEGIN CERTIFICATE-----").count(),
            native_certs().len()
        );
    }
}
