//! `/etc/oxwrt/network.toml`: the LAN, the WAN, the DHCP server and the DNS forwarder.
//!
//! Every key has a default; a missing section, key or file means its default. Unknown keys
//! are errors (a typo is never silently ignored). The reference, with defaults:
//!
//! ```toml
//! [lan]
//! ports = ["eth1"]             # devices bridged into the LAN: the board's LAN ports
//!                              # (QEMU: "eth1"; WRT54G-class: the switch VLAN "eth0.0")
//! bridge = "br-lan"            # name of the bridge netd creates
//! address = "192.168.1.1/24"   # the router's LAN address and the LAN subnet
//! ipv6_subnet = 0             # which /64 of the delegated prefix and of the ULA the LAN
//!                              # gets (wan.ipv6 = "auto"); 0 is the first
//! # ula = "fd12:3456:789a::/48" # the LAN's unique local prefix (RFC 4193); default: made
//!                              # up once, kept in /etc/oxwrt/netd/ula-prefix
//!
//! [wan]
//! device = "eth0"              # the WAN device (QEMU: "eth0"; WRT54G-class: "eth0.1")
//! proto = "dhcp"               # "dhcp": address, route and DNS from the ISP's DHCP server
//!                              # "static": the three keys below, all set by you
//! # address = "203.0.113.2/24" # static only, required: address/prefix
//! # gateway = "203.0.113.1"    # static only, required: the default route, inside address's subnet
//! # dns = ["203.0.113.53"]     # static only: the ISP's DNS servers (upstream of the forwarder)
//! # mtu = 1500                 # 576-9000; default: the device's own
//! # mac = "02:00:00:00:00:01"  # override the WAN MAC address (unicast, not all zero)
//! # hostname = "oxwrt"         # sent to the ISP in DHCP requests; default: /etc/hostname
//! ipv6 = "auto"                # "off": no IPv6; "auto": router advertisements and DHCPv6 prefix delegation
//!                              # on the WAN, a /64 of it announced on the LAN
//! ipv6_prefix_length = 60      # the delegated prefix length asked for (40-64; the ISP decides)
//!
//! [dhcp]                       # the DHCP server on the LAN
//! enabled = true
//! # start = "192.168.1.100"    # first address of the pool; default: .100 of the LAN subnet
//! # end = "192.168.1.249"      # last address of the pool; default: .249 of the LAN subnet
//!                              # (subnets smaller than /24: the upper half, minus broadcast)
//! lease_time = "12h"           # at least 2m; units s, m, h, d, w ("1h30m")
//! domain = "lan"               # the domain clients are given (DHCP option 15)
//!
//! # [[dhcp.static]]            # one per fixed address; any number of them
//! # mac = "02:00:00:00:00:10"  # required, unique
//! # ip = "192.168.1.10"        # required, unique, inside the LAN subnet, not the router's
//! #                            # (may be inside the pool: the pool never hands it to others)
//! # hostname = "nas"           # optional, unique: "nas.lan" resolves to ip
//!
//! [dns]                        # the DNS forwarder on the LAN
//! enabled = true
//! cache_size = 150             # answers kept, 0-10000 (0: no cache)
//! # upstream = ["9.9.9.9"]     # servers to forward to; default: the WAN's (static wan.dns,
//!                              # else the ones of the DHCP lease)
//! # local_domain = "lan"       # LAN client names are answered as <name>.<local_domain>;
//!                              # default: dhcp.domain
//! # rebind_protection = true   # drop upstream answers that point public names at private,
//!                              # loopback or link-local addresses (DNS rebinding)
//! # rebind_domain = ["corp.example"] # names under these may resolve to private addresses
//! ```

use crate::ipv6::{Ipv6Prefix, WanIpv6, PD_LENGTH_DEFAULT};
use crate::types::{Ipv4Cidr, MacAddr, Seconds};
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// The WAN device of boards without a switch (QEMU): the first NIC, and the default
/// `wan.device`. Boards with a switch get theirs from [`crate::board`].
pub const QEMU_WAN: &str = "eth0";
/// The LAN device of boards without a switch (QEMU): the second NIC, and the default
/// `lan.ports`.
pub const QEMU_LAN: &str = "eth1";

/// The whole of network.toml.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Network {
    pub lan: Lan,
    pub wan: Wan,
    pub dhcp: Dhcp,
    pub dns: Dns,
}

impl Default for Network {
    /// The QEMU convention (LAN eth1, WAN eth0): see [`crate::defaults_for`].
    fn default() -> Self {
        Network { lan: Lan::default(), wan: Wan::default(), dhcp: Dhcp::default(), dns: Dns::default() }
    }
}

/// `[lan]`: a bridge of the LAN ports with the router's LAN address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Lan {
    pub ports: Vec<String>,
    pub bridge: String,
    pub address: Ipv4Cidr,
    /// The LAN's /64 of the delegated prefix and of [`Lan::ula`] (`wan.ipv6 = "auto"`).
    #[serde(skip_serializing_if = "is_zero")]
    pub ipv6_subnet: u16,
    /// The unique local /48; None: made up once by netd (crate::ipv6 docs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ula: Option<Ipv6Prefix>,
}

fn is_zero(v: &u16) -> bool {
    *v == 0
}

fn is_default_pd(v: &u8) -> bool {
    *v == PD_LENGTH_DEFAULT
}

fn is_auto(v: &WanIpv6) -> bool {
    *v == WanIpv6::Auto
}

impl Default for Lan {
    fn default() -> Self {
        Lan {
            ports: vec![QEMU_LAN.into()],
            bridge: "br-lan".into(),
            address: Ipv4Cidr::new(Ipv4Addr::new(192, 168, 1, 1), 24).expect("/24 is a prefix"),
            ipv6_subnet: 0,
            ula: None,
        }
    }
}

/// `[wan]`: the uplink to the ISP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Wan {
    pub device: String,
    pub proto: WanProto,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<Ipv4Cidr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Ipv4Addr>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// IPv6 on the WAN (and so on the LAN).
    #[serde(skip_serializing_if = "is_auto")]
    pub ipv6: WanIpv6,
    /// The delegated prefix length asked for.
    #[serde(skip_serializing_if = "is_default_pd")]
    pub ipv6_prefix_length: u8,
}

impl Default for Wan {
    fn default() -> Self {
        Wan {
            device: QEMU_WAN.into(),
            proto: WanProto::Dhcp,
            address: None,
            gateway: None,
            dns: Vec::new(),
            mtu: None,
            mac: None,
            hostname: None,
            ipv6: WanIpv6::Auto,
            ipv6_prefix_length: PD_LENGTH_DEFAULT,
        }
    }
}

/// How the WAN gets its address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WanProto {
    /// DHCPv4 client: address, default route and DNS servers from the ISP.
    #[default]
    Dhcp,
    /// `wan.address`, `wan.gateway` and `wan.dns` as configured.
    Static,
}

/// `[dhcp]`: the DHCP server on the LAN bridge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dhcp {
    pub enabled: bool,
    /// None: .100 of the LAN subnet (see [`Dhcp::pool`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<Ipv4Addr>,
    /// None: .249 of the LAN subnet (see [`Dhcp::pool`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<Ipv4Addr>,
    pub lease_time: Seconds,
    pub domain: String,
    #[serde(rename = "static", skip_serializing_if = "Vec::is_empty")]
    pub static_leases: Vec<StaticLease>,
}

impl Default for Dhcp {
    fn default() -> Self {
        Dhcp { enabled: true, start: None, end: None, lease_time: Seconds(12 * 3600), domain: "lan".into(), static_leases: Vec::new() }
    }
}

impl Dhcp {
    /// The pool's first and last address, defaults filled in from the LAN subnet: .100 to
    /// .249 for /24 and larger subnets; for smaller ones the upper half without the broadcast
    /// address (e.g. .8 to .14 of a /28).
    pub fn pool(&self, lan: Ipv4Cidr) -> (Ipv4Addr, Ipv4Addr) {
        let net = u32::from(lan.network());
        let (default_start, default_end) = if lan.prefix() <= 24 {
            (net + 100, net + 249)
        } else {
            let size = u32::from(lan.broadcast()) - net + 1;
            (net + size / 2, net + size.saturating_sub(2).max(size / 2))
        };
        (self.start.unwrap_or(Ipv4Addr::from(default_start)), self.end.unwrap_or(Ipv4Addr::from(default_end)))
    }
}

/// `[[dhcp.static]]`: a fixed address for one client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticLease {
    pub mac: MacAddr,
    pub ip: Ipv4Addr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

/// `[dns]`: the caching DNS forwarder on the LAN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dns {
    pub enabled: bool,
    pub cache_size: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upstream: Vec<Ipv4Addr>,
    /// None: `dhcp.domain`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_domain: Option<String>,
    /// Refuse upstream answers with A/AAAA records in private, loopback or link-local
    /// space (dnsmasq's `--stop-dns-rebind`, OpenWrt's `rebind_protection`).
    #[serde(skip_serializing_if = "is_true")]
    pub rebind_protection: bool,
    /// Domains (and their subdomains) exempt from `rebind_protection` (dnsmasq's
    /// `--rebind-domain-ok`, OpenWrt's `rebind_domain`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rebind_domain: Vec<String>,
}

fn is_true(b: &bool) -> bool {
    *b
}

impl Default for Dns {
    fn default() -> Self {
        // 150 entries: dnsmasq's default, a few KiB on a 16 MiB router.
        Dns { enabled: true, cache_size: 150, upstream: Vec::new(), local_domain: None, rebind_protection: true, rebind_domain: Vec::new() }
    }
}

/// Where the DNS forwarder sends what it cannot answer itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// These servers: `dns.upstream`, else a static WAN's `wan.dns`.
    Servers(Vec<Ipv4Addr>),
    /// The DNS servers of the WAN's current DHCP lease.
    FromLease,
    /// None configured (static WAN without `wan.dns`, no `dns.upstream`): only LAN names
    /// and the cache are answered.
    None,
}

impl Network {
    /// The DNS forwarder's upstream servers.
    pub fn dns_upstream(&self) -> Upstream {
        if !self.dns.upstream.is_empty() {
            Upstream::Servers(self.dns.upstream.clone())
        } else if self.wan.proto == WanProto::Dhcp {
            Upstream::FromLease
        } else if !self.wan.dns.is_empty() {
            Upstream::Servers(self.wan.dns.clone())
        } else {
            Upstream::None
        }
    }

    /// The domain LAN client names are answered under.
    pub fn local_domain(&self) -> &str {
        self.dns.local_domain.as_deref().unwrap_or(&self.dhcp.domain)
    }

    /// The file's text: a header comment and every key that differs from "unset".
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).expect("the network schema always serializes");
        format!("# /etc/oxwrt/network.toml: LAN, WAN, DHCP server, DNS forwarder.\n# Every key: docs/network-config.md\n\n{body}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Ipv4Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn pool_defaults_follow_the_lan_subnet() {
        let d = Dhcp::default();
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(d.pool(cidr("192.168.1.1/24")), (ip("192.168.1.100"), ip("192.168.1.249")));
        assert_eq!(d.pool(cidr("10.0.0.1/16")), (ip("10.0.0.100"), ip("10.0.0.249")));
        assert_eq!(d.pool(cidr("192.168.5.1/28")), (ip("192.168.5.8"), ip("192.168.5.14")));
        assert_eq!(d.pool(cidr("192.168.5.1/30")), (ip("192.168.5.2"), ip("192.168.5.2")));
        let set = Dhcp { start: Some(ip("192.168.1.50")), ..Dhcp::default() };
        assert_eq!(set.pool(cidr("192.168.1.1/24")), (ip("192.168.1.50"), ip("192.168.1.249")));
    }

    #[test]
    fn upstream_comes_from_dns_then_static_wan_then_the_lease() {
        let mut n = Network::default();
        assert_eq!(n.dns_upstream(), Upstream::FromLease);
        n.wan.proto = WanProto::Static;
        assert_eq!(n.dns_upstream(), Upstream::None);
        n.wan.dns = vec![Ipv4Addr::new(203, 0, 113, 53)];
        assert_eq!(n.dns_upstream(), Upstream::Servers(vec![Ipv4Addr::new(203, 0, 113, 53)]));
        n.dns.upstream = vec![Ipv4Addr::new(9, 9, 9, 9)];
        assert_eq!(n.dns_upstream(), Upstream::Servers(vec![Ipv4Addr::new(9, 9, 9, 9)]));
    }

    #[test]
    fn local_domain_defaults_to_the_dhcp_domain() {
        let mut n = Network::default();
        n.dhcp.domain = "home".into();
        assert_eq!(n.local_domain(), "home");
        n.dns.local_domain = Some("internal".into());
        assert_eq!(n.local_domain(), "internal");
    }
}
