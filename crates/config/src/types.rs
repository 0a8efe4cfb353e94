//! Small value types of the configuration files: IPv4 address with prefix ([`Ipv4Cidr`]),
//! MAC address ([`MacAddr`]), durations ([`Seconds`]) and port ranges ([`PortRange`]).
//!
//! Each parses from the text a user writes in TOML, prints back the same way, and says what
//! is wrong and how to write it when it cannot parse.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// Why a value did not parse; the text says what was expected, with an example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

fn err(msg: String) -> ParseError {
    ParseError(msg)
}

impl ParseError {
    pub(crate) fn new(msg: String) -> ParseError {
        ParseError(msg)
    }
}

/// An IPv4 address with its prefix length, e.g. `192.168.1.1/24`: an interface address
/// (the address itself) and the subnet it is on (the prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    addr: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Cidr {
    /// `prefix` at most 32.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Self, ParseError> {
        if prefix > 32 {
            return Err(err(format!("prefix length /{prefix} is more than 32")));
        }
        Ok(Ipv4Cidr { addr, prefix })
    }

    pub fn addr(self) -> Ipv4Addr {
        self.addr
    }

    pub fn prefix(self) -> u8 {
        self.prefix
    }

    /// The netmask as a number, e.g. 0xffffff00 for /24.
    fn mask(self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }

    /// e.g. 255.255.255.0 for /24.
    pub fn netmask(self) -> Ipv4Addr {
        Ipv4Addr::from(self.mask())
    }

    /// The first address of the subnet, e.g. 192.168.1.0 for 192.168.1.1/24.
    pub fn network(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    /// The last address of the subnet, e.g. 192.168.1.255 for 192.168.1.1/24.
    pub fn broadcast(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    /// The subnet itself, e.g. 192.168.1.0/24 for 192.168.1.1/24.
    pub fn subnet(self) -> Ipv4Cidr {
        Ipv4Cidr { addr: self.network(), prefix: self.prefix }
    }

    /// Whether `ip` is in this subnet (network and broadcast addresses included).
    pub fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network())
    }

    /// Whether `ip` is a usable host address of this subnet: inside it, and not its network
    /// or broadcast address (for prefixes up to /30, where those exist).
    pub fn is_host(self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && (self.prefix >= 31 || (ip != self.network() && ip != self.broadcast()))
    }

    /// Whether the two subnets share any address.
    pub fn overlaps(self, other: Ipv4Cidr) -> bool {
        let shorter = if self.prefix <= other.prefix { self } else { other };
        let longer = if self.prefix <= other.prefix { other } else { self };
        shorter.contains(longer.network())
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        let Some((addr, prefix)) = s.split_once('/') else {
            return Err(err(format!("`{s}` has no prefix length; write address/prefix, e.g. 192.168.1.1/24 (/24 is netmask 255.255.255.0)")));
        };
        let addr: Ipv4Addr =
            addr.parse().map_err(|_| err(format!("`{addr}` in `{s}` is not an IPv4 address (four numbers 0-255 separated by dots); e.g. 192.168.1.1/24")))?;
        let prefix: u8 = match prefix.parse() {
            Ok(p) if p <= 32 => p,
            _ => return Err(err(format!("`/{prefix}` in `{s}` is not a prefix length; use a number from 0 to 32, e.g. 192.168.1.1/24"))),
        };
        Ok(Ipv4Cidr { addr, prefix })
    }
}

/// A 48-bit Ethernet address, written `aa:bb:cc:dd:ee:ff` (`-` separators accepted too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub fn octets(self) -> [u8; 6] {
        self.0
    }

    /// Multicast addresses (lowest bit of the first octet set) cannot be an interface's.
    pub fn is_multicast(self) -> bool {
        self.0[0] & 1 == 1
    }

    pub fn is_zero(self) -> bool {
        self.0 == [0; 6]
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl FromStr for MacAddr {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        let bad = || err(format!("`{s}` is not a MAC address; write six two-digit hex numbers separated by colons, e.g. 02:00:00:00:00:01"));
        let sep = if s.contains('-') { '-' } else { ':' };
        let mut out = [0u8; 6];
        let mut parts = s.split(sep);
        for byte in out.iter_mut() {
            let part = parts.next().ok_or_else(bad)?;
            if part.len() != 2 {
                return Err(bad());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddr(out))
    }
}

/// A duration in whole seconds, written as a number of seconds or with units: `"90s"`,
/// `"30m"`, `"12h"`, `"7d"`, `"1w"`, combined as in `"1h30m"`. Printed the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Seconds(pub u32);

impl Seconds {
    pub fn as_secs(self) -> u32 {
        self.0
    }

    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_secs(self.0.into())
    }
}

const UNITS: [(char, u32); 5] = [('w', 7 * 86400), ('d', 86400), ('h', 3600), ('m', 60), ('s', 1)];

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.0;
        for (unit, size) in UNITS {
            if rest >= size {
                write!(f, "{}{unit}", rest / size)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

impl FromStr for Seconds {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        let hint = "write a number with a unit (s, m, h, d, w), e.g. \"12h\", \"30m\" or \"1h30m\"";
        let t = s.trim();
        if t.is_empty() {
            return Err(err(format!("empty duration; {hint}")));
        }
        if let Ok(n) = t.parse::<u32>() {
            return Ok(Seconds(n));
        }
        let mut total: u64 = 0;
        let mut number = String::new();
        for c in t.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let Some(&(_, size)) = UNITS.iter().find(|(u, _)| *u == c) else {
                return Err(err(format!("`{s}`: `{c}` is not a unit; {hint}")));
            };
            if number.is_empty() {
                return Err(err(format!("`{s}`: unit `{c}` without a number before it; {hint}")));
            }
            let n: u64 = number.parse().map_err(|_| err(format!("`{s}` is too long; the most is 136y (2^32 - 1 seconds)")))?;
            total = total.saturating_add(n.saturating_mul(size.into()));
            number.clear();
        }
        if !number.is_empty() {
            return Err(err(format!("`{s}`: `{number}` has no unit; {hint}")));
        }
        u32::try_from(total).map(Seconds).map_err(|_| err(format!("`{s}` is too long; the most is 4294967295 seconds (about 136 years)")))
    }
}

/// One port or an inclusive range of ports, 1-65535: `8080` or `"8000-8010"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortRange {
    start: u16,
    end: u16,
}

impl PortRange {
    pub fn single(port: u16) -> Result<Self, ParseError> {
        Self::new(port, port)
    }

    /// `start` <= `end`, neither 0.
    pub fn new(start: u16, end: u16) -> Result<Self, ParseError> {
        if start == 0 || end == 0 {
            return Err(err("port 0 cannot be forwarded; ports are 1-65535".into()));
        }
        if start > end {
            return Err(err(format!("`{start}-{end}` ends before it starts; write the lower port first, e.g. {end}-{start}")));
        }
        Ok(PortRange { start, end })
    }

    pub fn start(self) -> u16 {
        self.start
    }

    pub fn end(self) -> u16 {
        self.end
    }

    /// How many ports: 1 for a single port.
    pub fn len(self) -> u32 {
        u32::from(self.end - self.start) + 1
    }

    /// Never: a range holds at least one port. (For clippy's `len` without `is_empty`.)
    pub fn is_empty(self) -> bool {
        false
    }

    pub fn contains(self, port: u16) -> bool {
        self.start <= port && port <= self.end
    }

    pub fn overlaps(self, other: PortRange) -> bool {
        self.start <= other.end && other.start <= self.end
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

impl FromStr for PortRange {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        let port = |p: &str| -> Result<u16, ParseError> {
            p.trim().parse::<u16>().map_err(|_| err(format!("`{p}` in `{s}` is not a port; ports are numbers 1-65535, a range is written \"8000-8010\"")))
        };
        match s.split_once('-') {
            Some((a, b)) => PortRange::new(port(a)?, port(b)?),
            None => PortRange::single(port(s)?),
        }
    }
}

/// Deserialized from their text (and, where given, from a TOML integer).
macro_rules! deserialize_from_text {
    ($ty:ty, $expecting:literal, $from_int:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$ty, E> {
                        v.parse().map_err(E::custom)
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$ty, E> {
                        let from_int: fn(i64) -> Result<$ty, String> = $from_int;
                        from_int(v).map_err(E::custom)
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$ty, E> {
                        self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

deserialize_from_text!(Ipv4Cidr, "an IPv4 address with prefix length, e.g. \"192.168.1.1/24\"", |v| Err(format!(
    "{v} is a number; write the address/prefix as a quoted string, e.g. \"192.168.1.1/24\""
)));
deserialize_from_text!(MacAddr, "a MAC address, e.g. \"02:00:00:00:00:01\"", |v| Err(format!(
    "{v} is a number; write the MAC address as a quoted string, e.g. \"02:00:00:00:00:01\""
)));
deserialize_from_text!(Seconds, "a duration, e.g. \"12h\", or a number of seconds", |v| u32::try_from(v)
    .map(Seconds)
    .map_err(|_| format!("{v} seconds is out of range; use 0 to 4294967295 or a unit, e.g. \"12h\"")));
deserialize_from_text!(PortRange, "a port (8080) or a range of ports (\"8000-8010\")", |v| {
    let port = u16::try_from(v).map_err(|_| format!("{v} is not a port; ports are 1-65535"))?;
    PortRange::single(port).map_err(|e| e.to_string())
});

macro_rules! serialize_as_text {
    ($($ty:ty),*) => {$(
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    )*};
}

serialize_as_text!(Ipv4Cidr, MacAddr, Seconds);

/// A single port as a number (`8080`), a range as a string (`"8000-8010"`).
impl Serialize for PortRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.start == self.end {
            s.serialize_u16(self.start)
        } else {
            s.collect_str(self)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_parses_prints_and_computes_the_subnet() {
        let c: Ipv4Cidr = "192.168.1.1/24".parse().unwrap();
        assert_eq!(c.to_string(), "192.168.1.1/24");
        assert_eq!(c.network(), ip("192.168.1.0"));
        assert_eq!(c.broadcast(), ip("192.168.1.255"));
        assert_eq!(c.netmask(), ip("255.255.255.0"));
        assert_eq!(c.subnet().to_string(), "192.168.1.0/24");
        assert!(c.contains(ip("192.168.1.200")) && !c.contains(ip("192.168.2.1")));
        assert!(c.is_host(ip("192.168.1.254")) && !c.is_host(ip("192.168.1.255")) && !c.is_host(ip("192.168.1.0")));
        let all: Ipv4Cidr = "10.0.0.1/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        assert!(c.overlaps("192.168.0.0/16".parse().unwrap()));
        assert!("192.168.0.0/16".parse::<Ipv4Cidr>().unwrap().overlaps(c));
        assert!(!c.overlaps("192.168.2.1/24".parse().unwrap()));
    }

    #[test]
    fn cidr_errors_say_how_to_write_it() {
        let e = |s: &str| s.parse::<Ipv4Cidr>().unwrap_err().to_string();
        assert_eq!(e("192.168.1.1"), "`192.168.1.1` has no prefix length; write address/prefix, e.g. 192.168.1.1/24 (/24 is netmask 255.255.255.0)");
        assert_eq!(
            e("192.168.1.300/24"),
            "`192.168.1.300` in `192.168.1.300/24` is not an IPv4 address (four numbers 0-255 separated by dots); e.g. 192.168.1.1/24"
        );
        assert_eq!(e("10.0.0.1/33"), "`/33` in `10.0.0.1/33` is not a prefix length; use a number from 0 to 32, e.g. 192.168.1.1/24");
    }

    #[test]
    fn mac_parses_both_separators_and_prints_lowercase() {
        let m: MacAddr = "02:AB:cd:00:11:22".parse().unwrap();
        assert_eq!(m.to_string(), "02:ab:cd:00:11:22");
        assert_eq!("02-ab-cd-00-11-22".parse::<MacAddr>().unwrap(), m);
        assert!("01:00:5e:00:00:01".parse::<MacAddr>().unwrap().is_multicast());
        for bad in ["02:ab:cd:00:11", "02:ab:cd:00:11:22:33", "02:ab:cd:00:11:2g", "2:ab:cd:00:11:22", ""] {
            assert_eq!(
                bad.parse::<MacAddr>().unwrap_err().to_string(),
                format!("`{bad}` is not a MAC address; write six two-digit hex numbers separated by colons, e.g. 02:00:00:00:00:01")
            );
        }
    }

    #[test]
    fn durations_parse_units_and_print_compactly() {
        let d = |s: &str| s.parse::<Seconds>().unwrap().0;
        assert_eq!(d("12h"), 43200);
        assert_eq!(d("90"), 90);
        assert_eq!(d("1h30m"), 5400);
        assert_eq!(d("1d"), 86400);
        assert_eq!(d("2w"), 14 * 86400);
        assert_eq!(Seconds(43200).to_string(), "12h");
        assert_eq!(Seconds(5400).to_string(), "1h30m");
        assert_eq!(Seconds(90061).to_string(), "1d1h1m1s");
        assert_eq!(Seconds(0).to_string(), "0s");
        for s in [1u32, 59, 60, 3599, 86400 * 9 + 7] {
            assert_eq!(Seconds(s).to_string().parse::<Seconds>().unwrap(), Seconds(s));
        }
    }

    #[test]
    fn duration_errors_say_how_to_write_it() {
        let e = |s: &str| s.parse::<Seconds>().unwrap_err().to_string();
        let hint = "write a number with a unit (s, m, h, d, w), e.g. \"12h\", \"30m\" or \"1h30m\"";
        assert_eq!(e("12x"), format!("`12x`: `x` is not a unit; {hint}"));
        assert_eq!(e("h"), format!("`h`: unit `h` without a number before it; {hint}"));
        assert_eq!(e("1h30"), format!("`1h30`: `30` has no unit; {hint}"));
        assert_eq!(e(""), format!("empty duration; {hint}"));
        assert_eq!(e("8000w"), "`8000w` is too long; the most is 4294967295 seconds (about 136 years)");
    }

    #[test]
    fn port_ranges_parse_and_print() {
        let r: PortRange = "8000-8010".parse().unwrap();
        assert_eq!((r.start(), r.end(), r.len()), (8000, 8010, 11));
        assert_eq!(r.to_string(), "8000-8010");
        let p: PortRange = "80".parse().unwrap();
        assert_eq!((p.to_string(), p.len()), ("80".to_string(), 1));
        assert!(r.overlaps("8010-8020".parse().unwrap()) && !r.overlaps("8011".parse().unwrap()));
        assert!(r.contains(8005) && !r.contains(80));
    }

    #[test]
    fn port_range_errors_say_how_to_write_it() {
        let e = |s: &str| s.parse::<PortRange>().unwrap_err().to_string();
        assert_eq!(e("8010-8000"), "`8010-8000` ends before it starts; write the lower port first, e.g. 8000-8010");
        assert_eq!(e("0"), "port 0 cannot be forwarded; ports are 1-65535");
        assert_eq!(e("70000"), "`70000` in `70000` is not a port; ports are numbers 1-65535, a range is written \"8000-8010\"");
        assert_eq!(e("http"), "`http` in `http` is not a port; ports are numbers 1-65535, a range is written \"8000-8010\"");
    }
}
