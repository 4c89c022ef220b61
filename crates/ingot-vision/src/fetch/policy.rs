//! Which destinations may be fetched: public unicast addresses only, unless allowlisted.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Why a destination is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockReason {
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// RFC 1918 (10/8, 172.16/12, 192.168/16) or deprecated IPv6 site-local (fec0::/10).
    Private {
        /// The matching range.
        range: &'static str,
    },
    /// 169.254/16, fe80::/10.
    LinkLocal,
    /// 169.254.169.254, the cloud instance-metadata service.
    CloudMetadata,
    /// CGNAT 100.64/10.
    SharedAddressSpace,
    /// 224/4, ff00::/8.
    Multicast,
    /// 0.0.0.0, ::.
    Unspecified,
    /// 255.255.255.255.
    Broadcast,
    /// IPv6 unique-local fc00::/7.
    UniqueLocal,
    /// Reserved, documentation, benchmarking or protocol ranges, which no public host uses.
    Reserved {
        /// The matching range.
        range: &'static str,
    },
    /// An IPv6 address that embeds a refused IPv4 address.
    Embedded {
        /// The embedding: IPv4-mapped, NAT64 or 6to4.
        form: &'static str,
        /// The embedded address.
        v4: Ipv4Addr,
        /// Why the embedded address is refused.
        inner: Box<BlockReason>,
    },
    /// `localhost`, `*.localhost`, `*.local`, `*.internal`, `*.home.arpa`, `*.localdomain`.
    LocalName,
    /// `metadata.google.internal`, `metadata`, `instance-data` and similar.
    MetadataName,
    /// A name without a dot, resolved through local search domains.
    SingleLabelName,
}

impl fmt::Display for BlockReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockReason::Loopback => f.write_str("a loopback address (127.0.0.0/8, ::1)"),
            BlockReason::Private { range } => write!(f, "a private-network address ({range})"),
            BlockReason::LinkLocal => {
                f.write_str("a link-local address (169.254.0.0/16, fe80::/10)")
            }
            BlockReason::CloudMetadata => {
                f.write_str("the cloud instance-metadata address (169.254.169.254)")
            }
            BlockReason::SharedAddressSpace => {
                f.write_str("a carrier-grade NAT address (100.64.0.0/10)")
            }
            BlockReason::Multicast => f.write_str("a multicast address"),
            BlockReason::Unspecified => f.write_str("the unspecified address (0.0.0.0, ::)"),
            BlockReason::Broadcast => f.write_str("the broadcast address (255.255.255.255)"),
            BlockReason::UniqueLocal => f.write_str("an IPv6 unique-local address (fc00::/7)"),
            BlockReason::Reserved { range } => {
                write!(f, "a reserved, non-public address ({range})")
            }
            BlockReason::Embedded { form, v4, inner } => {
                write!(f, "the {form} form of {v4}, which is {inner}")
            }
            BlockReason::LocalName => f.write_str("a local host name"),
            BlockReason::MetadataName => f.write_str("a cloud instance-metadata host name"),
            BlockReason::SingleLabelName => {
                f.write_str("a single-label host name, resolved through local search domains")
            }
        }
    }
}

/// Why an IPv4 address is not a public unicast address, if it is not.
pub fn classify_v4(ip: Ipv4Addr) -> Option<BlockReason> {
    use BlockReason as R;
    let o = ip.octets();
    Some(match o {
        [169, 254, 169, 254] => R::CloudMetadata,
        [0, 0, 0, 0] => R::Unspecified,
        [0, ..] => R::Reserved { range: "0.0.0.0/8" },
        [10, ..] => R::Private {
            range: "10.0.0.0/8",
        },
        [100, b, ..] if b & 0xC0 == 64 => R::SharedAddressSpace,
        [127, ..] => R::Loopback,
        [169, 254, ..] => R::LinkLocal,
        [172, b, ..] if b & 0xF0 == 16 => R::Private {
            range: "172.16.0.0/12",
        },
        [192, 0, 0, _] => R::Reserved {
            range: "192.0.0.0/24",
        },
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => R::Reserved {
            range: "documentation",
        },
        [192, 168, ..] => R::Private {
            range: "192.168.0.0/16",
        },
        [198, 18 | 19, ..] => R::Reserved {
            range: "198.18.0.0/15",
        },
        [255, 255, 255, 255] => R::Broadcast,
        [a, ..] if a >= 240 => R::Reserved {
            range: "240.0.0.0/4",
        },
        [a, ..] if a >= 224 => R::Multicast,
        _ => return None,
    })
}

/// Why an IPv6 address is not a public unicast address, if it is not. Embedded IPv4
/// (mapped, NAT64, 6to4) is judged by the IPv4 rules.
pub fn classify_v6(ip: Ipv6Addr) -> Option<BlockReason> {
    use BlockReason as R;
    let s = ip.segments();
    let embedded = |form: &'static str, v4: Ipv4Addr| {
        classify_v4(v4).map(|inner| R::Embedded {
            form,
            v4,
            inner: Box::new(inner),
        })
    };
    let low_v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if ip.is_unspecified() {
        return Some(R::Unspecified);
    }
    if ip.is_loopback() {
        return Some(R::Loopback);
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return embedded("IPv4-mapped", v4);
    }
    match s {
        [0, 0, 0, 0, 0, 0, _, _] => Some(R::Reserved {
            range: "::/96 (IPv4-compatible)",
        }),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => embedded("NAT64", low_v4),
        [0x64, 0xff9b, 1, ..] => Some(R::Reserved {
            range: "64:ff9b:1::/48",
        }),
        [0x2002, a, b, ..] => embedded(
            "6to4",
            Ipv4Addr::new((a >> 8) as u8, a as u8, (b >> 8) as u8, b as u8),
        ),
        [0x100, 0, 0, 0, ..] => Some(R::Reserved { range: "100::/64" }),
        [0x2001, 0xdb8, ..] => Some(R::Reserved {
            range: "2001:db8::/32",
        }),
        [0x2001, b, ..] if b < 0x200 => Some(R::Reserved { range: "2001::/23" }),
        [a, ..] if a & 0xfe00 == 0xfc00 => Some(R::UniqueLocal),
        [a, ..] if a & 0xffc0 == 0xfe80 => Some(R::LinkLocal),
        [a, ..] if a & 0xffc0 == 0xfec0 => Some(R::Private { range: "fec0::/10" }),
        [a, ..] if a & 0xff00 == 0xff00 => Some(R::Multicast),
        _ => None,
    }
}

/// Why an address is refused, if it is.
pub fn classify(ip: IpAddr) -> Option<BlockReason> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// A CIDR block, e.g. `127.0.0.1/32` or `fd00::/8`; a bare address is a single host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` lies in the block (IPv4-mapped IPv6 addresses match IPv4 blocks).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| format!("`{s}` is not an IP address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}`: the prefix length must be 0..={max}"))?,
        };
        Ok(Self { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Destinations allowed even though they are not public: CIDR blocks, and host names whose
/// addresses are then not checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Allowlist {
    /// Allowed address blocks.
    pub cidrs: Vec<Cidr>,
    /// Allowed host names (lowercase, without a trailing dot).
    pub hosts: Vec<String>,
}

impl Allowlist {
    /// Parses entries: IP addresses and CIDR blocks, anything else is a host name.
    ///
    /// # Errors
    /// An entry that looks like an address or block but does not parse.
    pub fn from_entries<I, S>(entries: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list = Self::default();
        for e in entries {
            let e = e.as_ref().trim();
            if e.is_empty() {
                continue;
            }
            let looks_ip = e.contains('/')
                || e.contains(':')
                || e.chars().all(|c| c.is_ascii_digit() || c == '.');
            if looks_ip {
                list.cidrs.push(e.parse()?);
            } else {
                list.hosts.push(normalise_host(e));
            }
        }
        Ok(list)
    }

    /// Whether `ip` is in an allowed block.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        self.cidrs.iter().any(|c| c.contains(ip))
    }

    /// Whether the host name is allowed as such.
    pub fn allows_host(&self, host: &str) -> bool {
        let host = normalise_host(host);
        self.hosts.contains(&host)
    }
}

/// Lowercase, without a trailing dot.
pub fn normalise_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Refuses host names that point inside the network whatever they resolve to.
pub fn classify_name(host: &str) -> Option<BlockReason> {
    let h = normalise_host(host);
    const METADATA: [&str; 5] = [
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "metadata.azure.internal",
    ];
    const LOCAL_SUFFIXES: [&str; 5] = [
        ".localhost",
        ".local",
        ".internal",
        ".home.arpa",
        ".localdomain",
    ];
    if METADATA.contains(&h.as_str()) {
        return Some(BlockReason::MetadataName);
    }
    if h == "localhost" || LOCAL_SUFFIXES.iter().any(|s| h.ends_with(s)) {
        return Some(BlockReason::LocalName);
    }
    if !h.contains('.') {
        return Some(BlockReason::SingleLabelName);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked(s: &str) -> bool {
        classify(s.parse().unwrap()).is_some()
    }

    #[test]
    fn refuses_non_public_ranges() {
        for a in [
            "127.0.0.1",
            "127.255.0.9",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "2001:db8::1",
            "::127.0.0.1",
            "fec0::1",
        ] {
            assert!(blocked(a), "{a} should be refused");
        }
    }

    #[test]
    fn allows_public_addresses() {
        for a in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "169.253.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::",
        ] {
            assert!(!blocked(a), "{a} should be allowed");
        }
    }

    #[test]
    fn reasons_read_well() {
        let r = classify("::ffff:127.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(
            r.to_string(),
            "the IPv4-mapped form of 127.0.0.1, which is a loopback address (127.0.0.0/8, ::1)"
        );
        assert_eq!(
            classify("169.254.169.254".parse().unwrap()),
            Some(BlockReason::CloudMetadata)
        );
    }

    #[test]
    fn names() {
        assert_eq!(
            classify_name("metadata.google.internal."),
            Some(BlockReason::MetadataName)
        );
        assert_eq!(classify_name("LOCALHOST"), Some(BlockReason::LocalName));
        assert_eq!(classify_name("printer.local"), Some(BlockReason::LocalName));
        assert_eq!(
            classify_name("intranet"),
            Some(BlockReason::SingleLabelName)
        );
        assert_eq!(classify_name("example.com"), None);
    }

    #[test]
    fn allowlist_parses_blocks_and_hosts() {
        let a =
            Allowlist::from_entries(["127.0.0.1/32", "10.1.0.0/16", "fd00::/8", "Images.Corp."])
                .unwrap();
        assert!(a.allows_ip("127.0.0.1".parse().unwrap()));
        assert!(a.allows_ip("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!a.allows_ip("127.0.0.2".parse().unwrap()));
        assert!(a.allows_ip("10.1.200.3".parse().unwrap()));
        assert!(!a.allows_ip("10.2.0.1".parse().unwrap()));
        assert!(a.allows_ip("fd00::5".parse().unwrap()));
        assert!(a.allows_host("images.corp"));
        assert!(Allowlist::from_entries(["10.0.0.0/33"]).is_err());
        assert!(Allowlist::from_entries(["1.2.3"]).is_err());
        let all = Allowlist::from_entries(["0.0.0.0/0"]).unwrap();
        assert!(all.allows_ip("192.168.0.1".parse().unwrap()));
    }
}
