//! IPv6 values of network.toml: [`Ipv6Prefix`] (an address prefix such as a ULA /48),
//! [`WanIpv6`] (`wan.ipv6`), and the bounds the validator checks them against.
//!
//! The keys (docs/network-config.md, "IPv6"):
//! - `wan.ipv6 = "auto" | "off"`: "auto" accepts the ISP's router advertisements on the
//!   WAN (default route) and runs the DHCPv6 client, which asks for a delegated prefix;
//!   the LAN then gets a /64 of it and of the ULA prefix, announced by router
//!   advertisements.
//! - `wan.ipv6_prefix_length`: the delegated prefix length netd asks for (a hint: the ISP
//!   decides), [`PD_LENGTH_RANGE`].
//! - `lan.ipv6_subnet`: which /64 of the delegated prefix (and of the ULA /48) the LAN
//!   uses: 0 is the first.
//! - `lan.ula`: the unique local /48 (RFC 4193, inside fd00::/8); unset, netd makes one
//!   up at first start from random bits and keeps it in /etc/oxwrt/netd/ula-prefix.

use crate::types::ParseError;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

/// Delegated prefix lengths netd may ask for: a /40 to a single /64.
pub const PD_LENGTH_RANGE: std::ops::RangeInclusive<u8> = 40..=64;
/// The default hint: a /60 (16 LAN subnets), what many ISPs hand out.
pub const PD_LENGTH_DEFAULT: u8 = 60;

/// `wan.ipv6`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WanIpv6 {
    /// No IPv6 on the WAN or LAN (netd leaves the kernel's IPv6 settings alone).
    Off,
    /// Router advertisements accepted on the WAN, DHCPv6 prefix delegation, LAN
    /// router advertisements: the default, as on any current home router (RFC 7084).
    #[default]
    Auto,
}

/// An IPv6 prefix, e.g. `fd12:3456:789a::/48`: the address with the bits past the prefix
/// length zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Prefix {
    addr: Ipv6Addr,
    len: u8,
}

fn mask(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    }
}

impl Ipv6Prefix {
    /// `len` at most 128; host bits of `addr` are cleared.
    pub fn new(addr: Ipv6Addr, len: u8) -> Result<Ipv6Prefix, ParseError> {
        if len > 128 {
            return Err(ParseError::new(format!("prefix length /{len} is more than 128")));
        }
        Ok(Ipv6Prefix { addr: Ipv6Addr::from(u128::from(addr) & mask(len)), len })
    }

    pub fn addr(self) -> Ipv6Addr {
        self.addr
    }

    pub fn prefix_len(self) -> u8 {
        self.len
    }

    /// Whether `ip` is inside the prefix.
    pub fn contains(self, ip: Ipv6Addr) -> bool {
        u128::from(ip) & mask(self.len) == u128::from(self.addr)
    }

    /// The `id`th /64 of this prefix (None when the prefix is longer than /64 or `id` does
    /// not fit into the bits between its length and 64).
    pub fn subnet64(self, id: u16) -> Option<Ipv6Prefix> {
        if self.len > 64 {
            return None;
        }
        let bits = 64 - u32::from(self.len);
        if bits < 16 && u32::from(id) >> bits != 0 {
            return None;
        }
        let net = u128::from(self.addr) | (u128::from(id) << 64);
        Some(Ipv6Prefix { addr: Ipv6Addr::from(net), len: 64 })
    }

    /// The address `host` (the low 64 bits) of a /64.
    pub fn host(self, host: u64) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.addr) | u128::from(host))
    }

    /// Whether the prefix is a unique local one (fd00::/8, RFC 4193 3.1, L bit set).
    pub fn is_ula(self) -> bool {
        self.addr.octets()[0] == 0xfd && self.len >= 8
    }
}

impl fmt::Display for Ipv6Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Ipv6Prefix {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        let Some((addr, len)) = s.split_once('/') else {
            return Err(ParseError::new(format!("`{s}` has no prefix length; write prefix/length, e.g. fd12:3456:789a::/48")));
        };
        let addr: Ipv6Addr = addr.parse().map_err(|_| ParseError::new(format!("`{addr}` in `{s}` is not an IPv6 address; e.g. fd12:3456:789a::/48")))?;
        let len: u8 = match len.parse() {
            Ok(l) if l <= 128 => l,
            _ => return Err(ParseError::new(format!("`/{len}` in `{s}` is not a prefix length; use a number from 0 to 128, e.g. fd12:3456:789a::/48"))),
        };
        if u128::from(addr) & !mask(len) != 0 {
            let p = Ipv6Prefix::new(addr, len)?;
            return Err(ParseError::new(format!("`{s}` has bits set past /{len}; write the prefix itself, {p}")));
        }
        Ok(Ipv6Prefix { addr, len })
    }
}

impl Serialize for Ipv6Prefix {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ipv6Prefix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Ipv6Prefix;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an IPv6 prefix, e.g. \"fd12:3456:789a::/48\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Ipv6Prefix, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// The file, in netd's directory (/etc/oxwrt/netd), that keeps the ULA /48 netd made up.
pub const ULA_FILE: &str = "ula-prefix";

/// The LAN's ULA /48 as netd uses it: `configured` (`lan.ula`), else the one kept in
/// `netd_dir`/[`ULA_FILE`]. `Ok(None)`: none yet (netd makes one at its first start with
/// IPv6); `Err`: the file holds something else than a ULA /48 (the message names it).
pub fn kept_ula(configured: Option<Ipv6Prefix>, netd_dir: &std::path::Path) -> Result<Option<Ipv6Prefix>, String> {
    if configured.is_some() {
        return Ok(configured);
    }
    let path = netd_dir.join(ULA_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => match text.trim().parse::<Ipv6Prefix>() {
            Ok(p) if p.is_ula() && p.prefix_len() == 48 => Ok(Some(p)),
            _ => Err(format!("{}: `{}` is not a ULA /48", path.display(), text.trim())),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// A ULA /48 from 40 random bits (RFC 4193 3.2: the global ID should be random).
pub fn ula_from_random(bits: u64) -> Ipv6Prefix {
    let id = (u128::from(bits) & 0xff_ffff_ffff) << 80;
    let addr = Ipv6Addr::from((0xfdu128 << 120) | id);
    Ipv6Prefix { addr, len: 48 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_parse_print_and_split() {
        let p: Ipv6Prefix = "2001:db8:1200::/40".parse().unwrap();
        assert_eq!(p.to_string(), "2001:db8:1200::/40");
        assert_eq!(p.subnet64(0).unwrap().to_string(), "2001:db8:1200::/64");
        assert_eq!(p.subnet64(0x1ff).unwrap().to_string(), "2001:db8:1200:1ff::/64");
        let p60: Ipv6Prefix = "2001:db8:0:10::/60".parse().unwrap();
        assert_eq!(p60.subnet64(15).unwrap().to_string(), "2001:db8:0:1f::/64");
        assert!(p60.subnet64(16).is_none(), "a /60 has 16 subnets");
        assert_eq!(p60.subnet64(1).unwrap().host(1).to_string(), "2001:db8:0:11::1");
        assert!(p60.contains("2001:db8:0:1f::5".parse().unwrap()) && !p60.contains("2001:db8:0:20::".parse().unwrap()));
        let e = "fd00::1/48".parse::<Ipv6Prefix>().unwrap_err().to_string();
        assert!(e.contains("fd00::/48"), "{e}");
        assert!("fd00::".parse::<Ipv6Prefix>().unwrap_err().to_string().contains("no prefix length"));
        assert!("fd00::/129".parse::<Ipv6Prefix>().is_err());
        let u = ula_from_random(0x0102030405ff);
        assert_eq!(u.to_string(), "fd02:304:5ff::/48");
        assert!(u.is_ula());
    }
}
