//! Where learnbridge may send a request on a tenant's behalf.
//!
//! A connection's base URL is the tenant's to choose, so without a rule a
//! tenant could point learnbridge at the deployment's own network (the
//! instance metadata service at 169.254.169.254, a database on 10.0.0.5, a
//! service on 127.0.0.1) and read what it answers: server-side request forgery.
//! The rule: only public addresses over https, unless the deployment allows
//! internal ones ([`Egress::AllowInternal`], for the local stack and tests that
//! run simulators on 127.0.0.1). The API checks a URL when a connection is
//! saved; the HTTP clients check every address they connect to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The deployment's rule for outgoing requests to tenant-given URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Egress {
    /// https only, to public addresses only. What a deployment runs with.
    #[default]
    PublicOnly,
    /// Any http(s) URL, internal addresses included: the local stack and the
    /// tests (`LEARNBRIDGE_ALLOW_INTERNAL_URLS=true`).
    AllowInternal,
}

impl Egress {
    /// The rule for a deployment that does (or does not) allow internal URLs.
    pub fn allowing_internal(allow: bool) -> Self {
        if allow {
            Egress::AllowInternal
        } else {
            Egress::PublicOnly
        }
    }

    pub fn allows_internal(self) -> bool {
        self == Egress::AllowInternal
    }

    /// Whether a connection to `ip` is allowed: `Err` names the kind of
    /// internal address it is.
    pub fn check_ip(self, ip: IpAddr) -> Result<(), AddressClass> {
        match classify(ip) {
            AddressClass::Public => Ok(()),
            _ if self.allows_internal() => Ok(()),
            class => Err(class),
        }
    }

    /// Whether a URL scheme is allowed (`https`; `http` too when internal
    /// addresses are).
    pub fn allows_scheme(self, scheme: &str) -> bool {
        scheme == "https" || (scheme == "http" && self.allows_internal())
    }
}

/// What kind of address an IP address is; every kind but [`AddressClass::Public`]
/// is internal (not to be reached on a tenant's say-so).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    Public,
    /// 0.0.0.0/8, `::`.
    Unspecified,
    /// 127.0.0.0/8, `::1`.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16.
    Private,
    /// 100.64.0.0/10 (carrier-grade NAT).
    SharedAddressSpace,
    /// 169.254.0.0/16 (the cloud metadata service lives here), fe80::/10.
    LinkLocal,
    /// fc00::/7.
    UniqueLocal,
    /// fec0::/10 (deprecated, still routed internally by some networks).
    SiteLocal,
    /// 224.0.0.0/4, ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20.
    Documentation,
    /// 198.18.0.0/15, 2001:2::/48.
    Benchmarking,
    /// Every other special-purpose block (192.0.0/24, 240/4, 192.88.99/24,
    /// 100::/64, 2001::/23, 64:ff9b:1::/48, IPv6 outside 2000::/3, ...).
    Reserved,
}

impl AddressClass {
    pub fn is_internal(self) -> bool {
        self != AddressClass::Public
    }

    /// What a person reads.
    pub fn describe(self) -> &'static str {
        match self {
            AddressClass::Public => "a public address",
            AddressClass::Unspecified => "the unspecified address",
            AddressClass::Loopback => "a loopback address",
            AddressClass::Private => "a private network address",
            AddressClass::SharedAddressSpace => "a carrier-grade NAT address",
            AddressClass::LinkLocal => "a link-local address (the cloud metadata service's range)",
            AddressClass::UniqueLocal => "a unique-local IPv6 address",
            AddressClass::SiteLocal => "a site-local IPv6 address",
            AddressClass::Multicast => "a multicast address",
            AddressClass::Broadcast => "the broadcast address",
            AddressClass::Documentation => "a documentation address",
            AddressClass::Benchmarking => "a benchmarking address",
            AddressClass::Reserved => "a reserved address",
        }
    }
}

impl std::fmt::Display for AddressClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// The kind of address `ip` is (IANA's special-purpose registries). An
/// IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible, NAT64 (`64:ff9b::/96`) or
/// 6to4 (`2002::/16`) IPv6 address is judged by the IPv4 address it carries.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    use AddressClass::*;
    const TABLE: &[([u8; 4], u32, AddressClass)] = &[
        ([0, 0, 0, 0], 8, Unspecified),
        ([10, 0, 0, 0], 8, Private),
        ([100, 64, 0, 0], 10, SharedAddressSpace),
        ([127, 0, 0, 0], 8, Loopback),
        ([169, 254, 0, 0], 16, LinkLocal),
        ([172, 16, 0, 0], 12, Private),
        ([192, 0, 0, 0], 24, Reserved),
        ([192, 0, 2, 0], 24, Documentation),
        ([192, 31, 196, 0], 24, Reserved),
        ([192, 52, 193, 0], 24, Reserved),
        ([192, 88, 99, 0], 24, Reserved),
        ([192, 168, 0, 0], 16, Private),
        ([192, 175, 48, 0], 24, Reserved),
        ([198, 18, 0, 0], 15, Benchmarking),
        ([198, 51, 100, 0], 24, Documentation),
        ([203, 0, 113, 0], 24, Documentation),
        ([224, 0, 0, 0], 4, Multicast),
        ([255, 255, 255, 255], 32, Broadcast),
        ([240, 0, 0, 0], 4, Reserved),
    ];
    TABLE
        .iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map_or(Public, |(_, _, class)| *class)
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    u128::from(ip) & mask == u128::from(Ipv6Addr::from(net)) & mask
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    use AddressClass::*;
    let bits = u128::from(ip);
    if ip.is_unspecified() {
        return Unspecified;
    }
    if ip.is_loopback() {
        return Loopback;
    }
    // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated): the IPv4 address.
    if in_v6(ip, [0, 0, 0, 0, 0, 0xffff, 0, 0], 96) || in_v6(ip, [0; 8], 96) {
        return classify_v4(Ipv4Addr::from((bits & 0xffff_ffff) as u32));
    }
    // NAT64's well-known prefix carries an IPv4 address in its last 32 bits.
    if in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96) {
        return classify_v4(Ipv4Addr::from((bits & 0xffff_ffff) as u32));
    }
    // 6to4 carries one in bits 16..48.
    if in_v6(ip, [0x2002, 0, 0, 0, 0, 0, 0, 0], 16) {
        return classify_v4(Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32));
    }
    const TABLE: &[([u16; 8], u32, AddressClass)] = &[
        ([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48, Reserved),
        ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, Reserved),
        ([0x2001, 0x2, 0, 0, 0, 0, 0, 0], 48, Benchmarking),
        ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, Documentation),
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23, Reserved),
        ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, Documentation),
        ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, UniqueLocal),
        ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, LinkLocal),
        ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, SiteLocal),
        ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, Multicast),
    ];
    if let Some((_, _, class)) = TABLE
        .iter()
        .find(|(net, prefix, _)| in_v6(ip, *net, *prefix))
    {
        return *class;
    }
    // Global unicast is 2000::/3; everything else is unassigned or special.
    if in_v6(ip, [0x2000, 0, 0, 0, 0, 0, 0, 0], 3) {
        Public
    } else {
        Reserved
    }
}

/// The most of a foreign answer a person is shown (a connection test's
/// problem, a refusal's message).
pub const EXCERPT_CHARS: usize = 200;

/// A short, sanitised excerpt of an answer that is not what was expected (an
/// HTML page, a proxy's error): markup, control and bidirectional-override
/// characters dropped, white space collapsed, at most [`EXCERPT_CHARS`]
/// characters (then `…`). What a server answers is never shown whole.
pub fn excerpt(text: &str) -> String {
    let mut out = String::new();
    let mut chars = 0usize;
    let mut in_tag = false;
    let mut space = false;
    let mut truncated = false;
    for c in text.chars() {
        match c {
            '<' => {
                in_tag = true;
                space = true;
                continue;
            }
            '>' if in_tag => {
                in_tag = false;
                continue;
            }
            _ if in_tag => continue,
            _ => {}
        }
        if c.is_whitespace() || crate::ids::is_control_or_bidi(c) {
            space = true;
            continue;
        }
        if chars == EXCERPT_CHARS {
            truncated = true;
            break;
        }
        if space && !out.is_empty() {
            out.push(' ');
            chars += 1;
            if chars == EXCERPT_CHARS {
                truncated = true;
                break;
            }
        }
        space = false;
        out.push(c);
        chars += 1;
    }
    if truncated {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use AddressClass::*;

    #[test]
    fn every_kind_of_address_is_classified() {
        let cases: &[(&str, AddressClass)] = &[
            // IPv4
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Unspecified),
            ("10.0.0.1", Private),
            ("10.255.255.255", Private),
            ("100.64.0.1", SharedAddressSpace),
            ("100.127.255.254", SharedAddressSpace),
            ("100.128.0.1", Public),
            ("127.0.0.1", Loopback),
            ("127.255.255.254", Loopback),
            ("169.254.169.254", LinkLocal),
            ("169.254.0.1", LinkLocal),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("172.32.0.1", Public),
            ("172.15.255.255", Public),
            ("192.0.0.8", Reserved),
            ("192.0.2.10", Documentation),
            ("192.88.99.1", Reserved),
            ("192.168.1.1", Private),
            ("198.18.0.1", Benchmarking),
            ("198.19.255.255", Benchmarking),
            ("198.20.0.1", Public),
            ("198.51.100.7", Documentation),
            ("203.0.113.9", Documentation),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("240.0.0.1", Reserved),
            ("255.255.255.255", Broadcast),
            ("8.8.8.8", Public),
            ("1.1.1.1", Public),
            ("93.184.216.34", Public),
            // IPv6
            ("::", Unspecified),
            ("::1", Loopback),
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:169.254.169.254", LinkLocal),
            ("::ffff:10.1.2.3", Private),
            ("::ffff:8.8.8.8", Public),
            ("::127.0.0.1", Loopback),
            ("64:ff9b::a9fe:a9fe", LinkLocal),
            ("64:ff9b::808:808", Public),
            ("64:ff9b:1::1", Reserved),
            ("2002:7f00:1::1", Loopback),
            ("2002:a9fe:a9fe::1", LinkLocal),
            ("2002:808:808::1", Public),
            ("100::1", Reserved),
            ("2001::1", Reserved),
            ("2001:2::1", Benchmarking),
            ("2001:db8::1", Documentation),
            ("3fff::1", Documentation),
            ("fc00::1", UniqueLocal),
            ("fd12:3456:789a::1", UniqueLocal),
            ("fe80::1", LinkLocal),
            ("febf::1", LinkLocal),
            ("fec0::1", SiteLocal),
            ("ff02::1", Multicast),
            ("fd00:ec2::254", UniqueLocal),
            ("4000::1", Reserved),
            ("2606:4700:4700::1111", Public),
            ("2a00:1450:4001:80b::200e", Public),
        ];
        for (text, want) in cases {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(classify(ip), *want, "{text}");
            assert_eq!(classify(ip).is_internal(), *want != Public, "{text}");
        }
    }

    #[test]
    fn the_rule_refuses_internal_addresses_and_plain_http_unless_allowed() {
        let metadata: IpAddr = "169.254.169.254".parse().unwrap();
        let public: IpAddr = "8.8.8.8".parse().unwrap();
        assert_eq!(Egress::PublicOnly.check_ip(metadata), Err(LinkLocal));
        assert_eq!(Egress::PublicOnly.check_ip(public), Ok(()));
        assert_eq!(Egress::AllowInternal.check_ip(metadata), Ok(()));
        assert!(Egress::PublicOnly.allows_scheme("https"));
        assert!(!Egress::PublicOnly.allows_scheme("http"));
        assert!(Egress::AllowInternal.allows_scheme("http"));
        assert!(!Egress::AllowInternal.allows_scheme("ftp"));
        assert_eq!(Egress::default(), Egress::PublicOnly);
        assert_eq!(Egress::allowing_internal(true), Egress::AllowInternal);
    }

    #[test]
    fn an_excerpt_is_short_and_holds_no_markup_or_control_characters() {
        let page = format!(
            "<html><head><title>Login</title><script>var k='x';</script></head>\n<body>\r\n<h1>Sign\tin</h1>\u{202E}{}</body></html>",
            "AWS_SECRET_ACCESS_KEY=abc ".repeat(100)
        );
        let text = excerpt(&page);
        assert!(text.chars().count() <= EXCERPT_CHARS + 1, "{text}");
        assert!(text.ends_with('…'));
        assert!(!text.contains('<') && !text.contains('>'), "{text}");
        assert!(
            !text
                .chars()
                .any(|c| c.is_control() || crate::ids::is_control_or_bidi(c))
        );
        assert!(text.starts_with("Login var k='x'; Sign in"), "{text}");
        assert_eq!(excerpt("  short\n answer "), "short answer");
        assert_eq!(excerpt(""), "");
    }
}
