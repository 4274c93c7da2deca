//! What every HTTP client here starts from.

/// A reqwest client builder that trusts the process's one copy of the system roots
/// ([`tls_roots::client_config`]): building a client reads no certificate, and however
/// many clients a function builds (one per Moodle connection, the SMS client, ...) the
/// store is read once, at the first TLS handshake.
pub fn client_builder() -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder();
    match tls_roots::client_config() {
        Ok(tls) => builder.tls_backend_preconfigured(tls),
        Err(error) => {
            // Not reachable with aws-lc's default provider; reqwest's own TLS then.
            tracing::warn!(error = %error, "TLS configuration refused; using reqwest's default");
            builder
        }
    }
}
