//! Outgoing requests to tenant-given URLs go only where the deployment allows
//! ([`domain::egress`]): every client is built by [`client_builder`], which
//! resolves host names itself and refuses a name that resolves to any internal
//! address (so DNS, or a name that rebinds between the API's check and the
//! call, cannot lead learnbridge inside), checks every redirect, and ignores
//! proxy variables. A URL whose host is an IP literal is checked by
//! [`check_url`] when a client is made for it (literals are not resolved).

pub use domain::egress::{AddressClass, Egress};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use url::{Host, Url};

/// Redirects followed (each one checked) when the caller does not refuse them all.
pub const MAX_REDIRECTS: usize = 5;

/// Why a URL is not one learnbridge may call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    #[error("it is not an absolute http(s) URL with a host")]
    NotAUrl,
    #[error("it must use https (this deployment does not allow plain http)")]
    NotHttps,
    #[error(
        "{host} is {class}; learnbridge does not connect to internal addresses (LEARNBRIDGE_ALLOW_INTERNAL_URLS is off)"
    )]
    Internal { host: String, class: AddressClass },
}

/// Checks a URL's scheme and, when its host is an IP address, the address.
/// A host name is checked when it is resolved ([`check_resolved`], and by
/// every client at connect time).
pub fn check_url(url: &Url, egress: Egress) -> Result<(), UrlRefused> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlRefused::NotAUrl);
    }
    if !egress.allows_scheme(url.scheme()) {
        return Err(UrlRefused::NotHttps);
    }
    let ip = match url.host() {
        None => return Err(UrlRefused::NotAUrl),
        Some(Host::Domain(_)) => return Ok(()),
        Some(Host::Ipv4(ip)) => std::net::IpAddr::V4(ip),
        Some(Host::Ipv6(ip)) => std::net::IpAddr::V6(ip),
    };
    egress.check_ip(ip).map_err(|class| UrlRefused::Internal {
        host: ip.to_string(),
        class,
    })
}

/// [`check_url`] on text.
pub fn check_url_str(url: &str, egress: Egress) -> Result<Url, UrlRefused> {
    let parsed = Url::parse(url).map_err(|_| UrlRefused::NotAUrl)?;
    check_url(&parsed, egress)?;
    Ok(parsed)
}

/// [`check_url`], then the addresses its host name resolves to now (each must
/// be public). A name that does not resolve (yet) passes: the clients check
/// again at connect time. For the API, when a connection is saved.
pub async fn check_resolved(url: &str, egress: Egress, within: Duration) -> Result<(), UrlRefused> {
    let parsed = check_url_str(url, egress)?;
    if egress.allows_internal() {
        return Ok(());
    }
    let Some(Host::Domain(host)) = parsed.host() else {
        return Ok(());
    };
    let lookup = tokio::net::lookup_host((host, 0));
    match tokio::time::timeout(within, lookup).await {
        Ok(Ok(addrs)) => check_addresses(host, addrs, egress),
        Ok(Err(_)) | Err(_) => Ok(()),
    }
}

fn check_addresses(
    host: &str,
    addrs: impl IntoIterator<Item = SocketAddr>,
    egress: Egress,
) -> Result<(), UrlRefused> {
    for addr in addrs {
        egress
            .check_ip(addr.ip())
            .map_err(|class| UrlRefused::Internal {
                host: format!("{host} ({})", addr.ip()),
                class,
            })?;
    }
    Ok(())
}

/// Resolves names with the system resolver and refuses the name when any of
/// its addresses is internal.
#[derive(Debug, Clone, Copy)]
struct GuardedResolver {
    egress: Egress,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let egress = self.egress;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            check_addresses(&host, addrs.iter().copied(), egress)?;
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// A client builder ([`crate::http::client_builder`], the process's TLS roots)
/// that obeys `egress`: with [`Egress::PublicOnly`], https
/// only, every resolved address checked, every redirect target checked (at
/// most [`MAX_REDIRECTS`]), no proxy. Callers add timeouts, and may refuse
/// redirects altogether with `.redirect(Policy::none())`.
pub fn client_builder(egress: Egress) -> reqwest::ClientBuilder {
    let builder = crate::http::client_builder();
    if egress.allows_internal() {
        return builder;
    }
    builder
        .https_only(true)
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver { egress }))
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error("too many redirects");
            }
            match check_url(attempt.url(), egress) {
                Ok(()) => attempt.follow(),
                Err(refused) => attempt.error(refused),
            }
        }))
}

/// The refusal behind a failed request, when the egress rule refused it (at
/// connect time, or a redirect): a person must change the URL; retrying
/// cannot help.
pub fn refusal<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a UrlRefused> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = next {
        if let Some(refused) = e.downcast_ref::<UrlRefused>() {
            return Some(refused);
        }
        next = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_by_scheme_and_literal_address() {
        let public = Egress::PublicOnly;
        let cases: &[(&str, bool)] = &[
            ("https://moodle.example.edu", true),
            ("https://8.8.8.8/moodle", true),
            ("https://[2606:4700:4700::1111]/", true),
            ("http://moodle.example.edu", false),
            ("https://127.0.0.1:8443", false),
            ("https://169.254.169.254/latest/meta-data/", false),
            ("https://[::1]/", false),
            ("https://[::ffff:127.0.0.1]/", false),
            ("https://[::ffff:a9fe:a9fe]/", false),
            ("https://[fd00::1]/", false),
            ("https://10.0.0.5/", false),
            ("https://100.64.1.1/", false),
            ("https://2130706433/", false),
            ("https://0x7f.1/", false),
            ("https://0/", false),
            ("ftp://moodle.example.edu", false),
            ("not a url", false),
        ];
        for (url, ok) in cases {
            assert_eq!(check_url_str(url, public).is_ok(), *ok, "{url}");
            let allowed = check_url_str(url, Egress::AllowInternal).is_ok();
            let expect = !url.starts_with("ftp") && *url != "not a url";
            assert_eq!(allowed, expect, "{url} with internal URLs allowed");
        }
        assert_eq!(
            check_url_str("http://moodle.example.edu", public).unwrap_err(),
            UrlRefused::NotHttps
        );
        let err = check_url_str("https://169.254.169.254/", public).unwrap_err();
        assert!(err.to_string().contains("169.254.169.254"), "{err}");
        assert!(err.to_string().contains("link-local"), "{err}");
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_an_internal_address_is_refused() {
        let within = Duration::from_secs(5);
        let err = check_resolved("https://localhost:8443/", Egress::PublicOnly, within)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                UrlRefused::Internal {
                    class: AddressClass::Loopback,
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            check_resolved("https://localhost:8443/", Egress::AllowInternal, within)
                .await
                .is_ok()
        );
        // A name that does not resolve here passes; the client checks at connect time.
        assert!(
            check_resolved("https://moodle.invalid/", Egress::PublicOnly, within)
                .await
                .is_ok()
        );
    }
}
