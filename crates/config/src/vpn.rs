//! `/etc/oxwrt/vpn.toml`: vpnd's WireGuard interfaces and their peers, read by vpnd (which
//! applies it to the kernel) and netd (which opens the firewall for it).
//!
//! The file holds no secret: private keys and preshared keys live in files of their own
//! (mode 0600, owned by vpnd), named here. A missing file means no VPN. Unknown keys are
//! errors. The reference, with defaults:
//!
//! ```toml
//! [[interface]]                # one per WireGuard device; usually one
//! name = "wg0"                 # required: the device name
//! address = ["10.8.0.1/24"]    # required: the router's addresses on it and the VPN
//!                              # subnets (IPv4 and/or IPv6, e.g. "fd00:8::1/64")
//! listen_port = 51820          # UDP port on the WAN, opened by netd's firewall
//! private_key_file = "/etc/oxwrt/vpnd/wg0.key"  # default: /etc/oxwrt/vpnd/NAME.key;
//!                              # vpnd creates it (0600) when it is missing
//! mtu = 1420                   # 1280-9000
//! lan_access = true            # peers may reach the LAN (and the router's DNS)
//! internet = true              # peers may reach the internet through the router
//! # endpoint = "vpn.example.org" # what client configurations name as the server
//!                              # (a public name, with ":port" if it differs from
//!                              # listen_port); default: the WAN address
//!
//! [[peer]]                     # one per phone, laptop or other site
//! name = "phone"               # required, unique: letters, digits, '-', '_', '.'
//! # interface = "wg0"          # required when there are several interfaces
//! public_key = "base64..."     # required, unique on its interface (44 characters)
//! # preshared_key_file = "/etc/oxwrt/vpnd/phone.psk"  # optional, 0600
//! allowed_ips = ["10.8.0.2/32"] # required: the addresses the peer may use; routed to
//!                              # it. A phone: one /32 (and /128); a site: its subnets.
//!                              # No two peers of an interface may overlap.
//! # endpoint = "203.0.113.7:51820" # where to reach the peer (site to site); a phone
//!                              # has none: it calls in
//! persistent_keepalive = 0     # seconds between keepalives, 0: off (25 behind NAT)
//! enabled = true               # false: kept in the file, not in the kernel
//! ```
//!
//! [`wgquick`] renders client configurations in the wg-quick format the WireGuard apps
//! read and imports wg-quick files.

pub mod wgquick;

#[cfg(test)]
mod tests;

use crate::problem::{self as problem_mod, File, Problem, Problems};
use crate::span::{path_string, Seg, Source};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::str::FromStr;

use Seg::{Index as I, Key as K};

/// The file's name under [`crate::DIR`].
pub const VPN_FILE: &str = "vpn.toml";
/// Where vpnd keeps its keys by default.
pub const KEY_DIR: &str = "/etc/oxwrt/vpnd";
/// WireGuard's customary port.
pub const DEFAULT_PORT: u16 = 51820;
/// 1500 minus the IPv6 (40), UDP (8) and WireGuard (32) headers.
pub const DEFAULT_MTU: u16 = 1420;
/// The interface MTU: IPv6's minimum to jumbo frames.
pub const MTU_RANGE: std::ops::RangeInclusive<u16> = 1280..=9000;

// ---------------------------------------------------------------------------------------
// Keys

/// A Curve25519 key (public or preshared) as WireGuard writes it: 32 bytes in standard
/// base64 (44 characters, ending in '=').
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(pub [u8; 32]);

/// A private key or a preshared key: never printed by `{:?}` or `{}`; only
/// [`Secret::expose_base64`] shows it (for a generated client's own configuration and
/// for the key file).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub [u8; 32]);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// The base64 text of the secret: for the places where it must be written out.
    pub fn expose_base64(&self) -> String {
        base64_encode(&self.0)
    }

    /// Parses a key file's contents (base64, surrounding whitespace allowed). The error
    /// never contains the text.
    pub fn from_base64(text: &str) -> Result<Secret, crate::ParseError> {
        base64_decode(text.trim()).map(Secret).map_err(|why| crate::ParseError::new(format!("not a WireGuard key: {why}")))
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(k: &[u8; 32]) -> String {
    base64(k)
}

/// Standard base64 with padding (RFC 4648 section 4): keys, and the web interface's
/// download of a client configuration.
pub fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Strict: exactly 44 characters of the standard alphabet, one '=' at the end, and the
/// unused low bits of the last character zero (the one text of each key).
fn base64_decode(s: &str) -> Result<[u8; 32], String> {
    let b = s.as_bytes();
    if b.len() != 44 {
        return Err(format!("{} characters; a key is 44 base64 characters ending in '=' (what `wg genkey` prints)", s.chars().count()));
    }
    if b[43] != b'=' {
        return Err("a key ends in '='".into());
    }
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut out = [0u8; 32];
    let mut n = 0;
    for (i, &c) in b[..43].iter().enumerate() {
        let v = B64.iter().position(|&x| x == c).ok_or_else(|| format!("character {} ({:?}) is not base64", i + 1, c as char))? as u32;
        bits = bits << 6 | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            if n < 32 {
                out[n] = (bits >> nbits) as u8;
            }
            n += 1;
            bits &= (1 << nbits) - 1;
        }
    }
    if bits != 0 {
        return Err("the last character has bits set that no key has; was it copied in full?".into());
    }
    Ok(out)
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&base64_encode(&self.0))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({self})")
    }
}

impl FromStr for Key {
    type Err = crate::ParseError;
    fn from_str(s: &str) -> Result<Key, crate::ParseError> {
        base64_decode(s).map(Key).map_err(|why| crate::ParseError::new(format!("`{s}` is not a WireGuard key: {why}")))
    }
}

// ---------------------------------------------------------------------------------------
// Addresses

/// An IPv4 or IPv6 address with a prefix length: an interface address (`10.8.0.1/24`) or
/// a network (`10.8.0.2/32`, `fd00:8::/64`). A bare address means a single host.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn new(addr: IpAddr, prefix: u8) -> Result<IpNet, crate::ParseError> {
        let max = Self::max_prefix(addr);
        if prefix > max {
            return Err(crate::ParseError::new(format!("prefix length /{prefix} is more than {max} for {addr}")));
        }
        Ok(IpNet { addr, prefix })
    }

    fn max_prefix(addr: IpAddr) -> u8 {
        if addr.is_ipv4() {
            32
        } else {
            128
        }
    }

    /// A single host: /32 or /128.
    pub fn host(addr: IpAddr) -> IpNet {
        IpNet { addr, prefix: Self::max_prefix(addr) }
    }

    pub fn addr(self) -> IpAddr {
        self.addr
    }

    pub fn prefix(self) -> u8 {
        self.prefix
    }

    pub fn is_ipv4(self) -> bool {
        self.addr.is_ipv4()
    }

    fn bits(addr: IpAddr) -> u128 {
        match addr {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        }
    }

    fn from_bits(v4: bool, bits: u128) -> IpAddr {
        if v4 {
            IpAddr::V4(Ipv4Addr::from(bits as u32))
        } else {
            IpAddr::V6(Ipv6Addr::from(bits))
        }
    }

    fn mask(self) -> u128 {
        let width = u32::from(Self::max_prefix(self.addr));
        let host_bits = width - u32::from(self.prefix);
        let all = if width == 128 { u128::MAX } else { (1u128 << width) - 1 };
        let host = if host_bits == 0 {
            0
        } else if host_bits == 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        };
        all & !host
    }

    /// The network: host bits cleared (`10.8.0.0/24` of `10.8.0.1/24`).
    pub fn network(self) -> IpNet {
        IpNet { addr: Self::from_bits(self.is_ipv4(), Self::bits(self.addr) & self.mask()), prefix: self.prefix }
    }

    /// Whether the address is the network itself (no host bits set).
    pub fn is_network(self) -> bool {
        self.network().addr == self.addr
    }

    pub fn contains(self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.is_ipv4() && Self::bits(ip) & self.mask() == Self::bits(self.addr) & self.mask()
    }

    /// Whether the two networks share an address.
    pub fn overlaps(self, other: IpNet) -> bool {
        if self.is_ipv4() != other.is_ipv4() {
            return false;
        }
        let shorter = if self.prefix <= other.prefix { self } else { other };
        let longer = if self.prefix <= other.prefix { other } else { self };
        shorter.contains(longer.addr)
    }

    /// The `n`th address of the network (0: the network address itself); None past its end.
    pub fn nth(self, n: u128) -> Option<IpAddr> {
        let size_bits = u32::from(Self::max_prefix(self.addr) - self.prefix);
        if size_bits < 128 && n >> size_bits != 0 {
            return None;
        }
        Some(Self::from_bits(self.is_ipv4(), (Self::bits(self.addr) & self.mask()) | n))
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl fmt::Debug for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl FromStr for IpNet {
    type Err = crate::ParseError;
    fn from_str(s: &str) -> Result<IpNet, crate::ParseError> {
        let (a, p) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| crate::ParseError::new(format!("`{s}`: `{a}` is not an IPv4 or IPv6 address; write e.g. \"10.8.0.2/32\" or \"fd00:8::2/128\"")))?;
        let prefix = match p {
            None => Self::max_prefix(addr),
            Some(p) => p.parse::<u8>().map_err(|_| crate::ParseError::new(format!("`{s}`: `/{p}` is not a prefix length (0-32 for IPv4, 0-128 for IPv6)")))?,
        };
        IpNet::new(addr, prefix).map_err(|e| crate::ParseError::new(format!("`{s}`: {e}")))
    }
}

/// Where to reach a peer: `host:port`, `[v6 address]:port`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// A DNS name or an IP address (no port).
pub(crate) fn is_host(h: &str) -> bool {
    h.parse::<IpAddr>().is_ok()
        || (h.len() <= 253 && h.split('.').all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')))
}

impl FromStr for Endpoint {
    type Err = crate::ParseError;
    fn from_str(s: &str) -> Result<Endpoint, crate::ParseError> {
        let bad = |why: &str| {
            crate::ParseError::new(format!("`{s}` is not an endpoint: {why}; write host:port, e.g. \"vpn.example.org:51820\" or \"[2001:db8::1]:51820\""))
        };
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, p) = rest.split_once("]:").ok_or_else(|| bad("an IPv6 address needs [brackets] and a port"))?;
            h.parse::<Ipv6Addr>().map_err(|_| bad("not an IPv6 address in the brackets"))?;
            (h, p)
        } else {
            let (h, p) = s.rsplit_once(':').ok_or_else(|| bad("no port"))?;
            if h.contains(':') {
                return Err(bad("an IPv6 address needs [brackets]"));
            }
            (h, p)
        };
        if !is_host(host) {
            return Err(bad("the host is not a name or an address"));
        }
        let port = p_port(port).ok_or_else(|| bad("the port is not 1-65535"))?;
        Ok(Endpoint { host: host.to_string(), port })
    }
}

fn p_port(p: &str) -> Option<u16> {
    p.parse::<u16>().ok().filter(|&p| p != 0)
}

macro_rules! serde_as_text {
    ($ty:ty, $expecting:literal) => {
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
                }
                d.deserialize_str(V)
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

serde_as_text!(Key, "a WireGuard key: 44 base64 characters in quotes");
serde_as_text!(IpNet, "an address with prefix length in quotes, e.g. \"10.8.0.2/32\"");
serde_as_text!(Endpoint, "host:port in quotes, e.g. \"vpn.example.org:51820\"");

// ---------------------------------------------------------------------------------------
// The file

/// The whole of vpn.toml.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vpn {
    #[serde(default, rename = "interface", skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    #[serde(default, rename = "peer", skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<Peer>,
}

fn yes() -> bool {
    true
}
fn is_true(b: &bool) -> bool {
    *b
}
fn default_port() -> u16 {
    DEFAULT_PORT
}
fn default_mtu() -> u16 {
    DEFAULT_MTU
}
fn is_zero(v: &u16) -> bool {
    *v == 0
}

/// A WireGuard device of the router.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    pub name: String,
    pub address: Vec<IpNet>,
    #[serde(default = "default_port")]
    pub listen_port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_file: Option<String>,
    #[serde(default = "default_mtu")]
    pub mtu: u16,
    #[serde(default = "yes")]
    pub lan_access: bool,
    #[serde(default = "yes")]
    pub internet: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

impl Interface {
    /// A new interface with the defaults.
    pub fn new(name: &str, address: Vec<IpNet>) -> Interface {
        Interface {
            name: name.to_string(),
            address,
            listen_port: DEFAULT_PORT,
            private_key_file: None,
            mtu: DEFAULT_MTU,
            lan_access: true,
            internet: true,
            endpoint: None,
        }
    }

    /// The private key's file: `private_key_file`, else /etc/oxwrt/vpnd/NAME.key.
    pub fn key_file(&self) -> String {
        self.private_key_file.clone().unwrap_or_else(|| format!("{KEY_DIR}/{}.key", self.name))
    }

    /// The router's IPv4 and IPv6 address with their subnets.
    pub fn v4(&self) -> Option<IpNet> {
        self.address.iter().copied().find(|a| a.is_ipv4())
    }

    pub fn v6(&self) -> Option<IpNet> {
        self.address.iter().copied().find(|a| !a.is_ipv4())
    }
}

/// A peer: a phone, a laptop, another site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    pub public_key: Key,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preshared_key_file: Option<String>,
    pub allowed_ips: Vec<IpNet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Endpoint>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub persistent_keepalive: u16,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
}

impl Peer {
    pub fn new(name: &str, public_key: Key, allowed_ips: Vec<IpNet>) -> Peer {
        Peer {
            name: name.to_string(),
            interface: None,
            public_key,
            preshared_key_file: None,
            allowed_ips,
            endpoint: None,
            persistent_keepalive: 0,
            enabled: true,
        }
    }
}

/// Why vpn.toml could not be loaded.
#[derive(Debug)]
pub enum Error {
    Read { path: std::path::PathBuf, error: std::io::Error },
    Write { path: std::path::PathBuf, error: std::io::Error },
    Invalid(Problems),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Read { path, error } => write!(f, "cannot read {}: {error}", path.display()),
            Error::Write { path, error } => write!(f, "cannot write {}: {error}; the old file is unchanged", path.display()),
            Error::Invalid(p) => p.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

impl Vpn {
    /// Parses and validates vpn.toml's text ("": no VPN). Every problem at once, located.
    pub fn parse(text: &str) -> Result<Vpn, Problems> {
        let vpn: Vpn = toml::from_str(text).map_err(|e| Problems(vec![problem_mod::from_toml_error(File::Vpn, text, &e)]))?;
        let src = Source::parse(text).ok();
        let mut c = Checker { src: src.as_ref(), problems: Vec::new() };
        c.check(&vpn);
        if c.problems.is_empty() {
            Ok(vpn)
        } else {
            Err(Problems(c.problems))
        }
    }

    /// Reads `dir`/vpn.toml (normally /etc/oxwrt); missing: no VPN.
    pub fn load(dir: &Path) -> Result<Vpn, Error> {
        let path = dir.join(VPN_FILE);
        let text = crate::read_or_empty(&path).map_err(|e| match e {
            crate::Error::Read { path, error } => Error::Read { path, error },
            other => Error::Read { path: path.clone(), error: std::io::Error::other(other.to_string()) },
        })?;
        Vpn::parse(&text).map_err(Error::Invalid)
    }

    /// Checks a configuration built in memory (no lines: there is no text).
    pub fn validate(&self) -> Result<(), Problems> {
        let mut c = Checker { src: None, problems: Vec::new() };
        c.check(self);
        if c.problems.is_empty() {
            Ok(())
        } else {
            Err(Problems(c.problems))
        }
    }

    /// The file's text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Validates, then writes `dir`/vpn.toml atomically. Invalid: nothing is written.
    pub fn save(&self, dir: &Path) -> Result<(), Error> {
        self.validate().map_err(Error::Invalid)?;
        let path = dir.join(VPN_FILE);
        crate::write_atomic(&path, self.to_toml().as_bytes()).map_err(|error| Error::Write { path, error })
    }

    /// The interface a peer belongs to: its `interface`, else the only one.
    pub fn interface_of(&self, peer: &Peer) -> Option<&Interface> {
        match &peer.interface {
            Some(name) => self.interfaces.iter().find(|i| &i.name == name),
            None if self.interfaces.len() == 1 => self.interfaces.first(),
            None => None,
        }
    }

    /// The peers of interface `name`.
    pub fn peers_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Peer> + 'a {
        self.peers.iter().filter(move |p| self.interface_of(p).is_some_and(|i| i.name == name))
    }

    /// The next free road-warrior addresses of an interface: the lowest host of its IPv4
    /// subnet (and the same host number in its IPv6 subnet) that is neither the router's
    /// nor inside any peer's allowed IPs; as /32 and /128. None when the subnet is full.
    pub fn next_free(&self, iface: &Interface) -> Option<Vec<IpNet>> {
        let v4 = iface.v4();
        let v6 = iface.v6();
        let base = v4.or(v6)?;
        let width = u32::from(IpNet::max_prefix(base.addr) - base.prefix);
        let last: u128 = if width >= 128 { u128::MAX } else { (1u128 << width) - 1 };
        // IPv4: skip the network and broadcast addresses; bounded scan (a /16 has 65534).
        let limit = last.min(1 << 20);
        let taken = |ip: IpAddr| iface.address.iter().any(|a| a.addr == ip) || self.peers_of(&iface.name).any(|p| p.allowed_ips.iter().any(|n| n.contains(ip)));
        for n in 1..limit {
            let mut out = Vec::new();
            let mut free = true;
            for net in [v4, v6].into_iter().flatten() {
                let Some(ip) = net.nth(n) else {
                    free = false;
                    break;
                };
                if taken(ip) {
                    free = false;
                    break;
                }
                out.push(IpNet::host(ip));
            }
            if free && !out.is_empty() {
                return Some(out);
            }
        }
        None
    }
}

// ---------------------------------------------------------------------------------------
// Validation

struct Checker<'a> {
    src: Option<&'a Source<'a>>,
    problems: Vec<Problem>,
}

/// A peer's name: what `vpn` commands, file names and status show.
pub fn bad_peer_name(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > 32 {
        return Some(format!("`{name}`: a peer's name has 1 to 32 characters, e.g. \"phone\""));
    }
    let c = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))?;
    Some(format!("`{name}` contains {c:?}; use letters, digits, '-', '_' and '.', e.g. \"anna-phone\""))
}

fn bad_path(p: &str) -> Option<String> {
    if !p.starts_with('/') {
        Some(format!("`{p}` is not an absolute path; write e.g. \"{KEY_DIR}/wg0.key\""))
    } else if p.split('/').any(|s| s == "..") || p.ends_with('/') {
        Some(format!("`{p}` is not a file path; write e.g. \"{KEY_DIR}/wg0.key\""))
    } else {
        None
    }
}

impl Checker<'_> {
    fn report(&mut self, path: &[Seg], message: impl Into<String>) {
        let line_col = self.src.and_then(|s| s.locate(path));
        self.problems.push(Problem { file: File::Vpn, key: path_string(path), line_col, message: message.into() });
    }

    fn check(&mut self, vpn: &Vpn) {
        let mut ports: Vec<u16> = Vec::new();
        for (i, iface) in vpn.interfaces.iter().enumerate() {
            let at = |k: &'static str| [K("interface"), I(i), K(k)];
            if let Some(why) = crate::validate::bad_ifname(&iface.name) {
                self.report(&at("name"), why);
            } else if vpn.interfaces[..i].iter().any(|o| o.name == iface.name) {
                self.report(&at("name"), format!("`{}` is defined twice; each [[interface]] needs its own name", iface.name));
            }
            if iface.address.is_empty() {
                self.report(&at("address"), "empty; give the router's address on the VPN and its subnet, e.g. [\"10.8.0.1/24\"]");
            }
            let mut families = [false, false];
            for (j, a) in iface.address.iter().enumerate() {
                let path = [K("interface"), I(i), K("address"), I(j)];
                let fam = usize::from(!a.is_ipv4());
                if families[fam] {
                    self.report(&path, format!("{a}: a second {} address; give one IPv4 and at most one IPv6 address", if fam == 0 { "IPv4" } else { "IPv6" }));
                }
                families[fam] = true;
                let max = IpNet::max_prefix(a.addr);
                if a.prefix == 0 || (a.is_ipv4() && a.prefix > 30) || (!a.is_ipv4() && a.prefix > 126) {
                    self.report(&path, format!("{a}: /{} leaves no room for peers; use e.g. \"10.8.0.1/24\" or \"fd00:8::1/64\"", a.prefix));
                } else if a.is_network() || (a.is_ipv4() && a.nth((1u128 << (max - a.prefix)) - 1) == Some(a.addr)) {
                    let host = a.network().nth(1).map(|h| IpNet { addr: h, prefix: a.prefix });
                    self.report(
                        &path,
                        format!("{a} is the network or broadcast address, not the router's; use e.g. {}", host.map(|h| h.to_string()).unwrap_or_default()),
                    );
                }
            }
            if iface.listen_port == 0 {
                self.report(&at("listen_port"), "0 is not a port; use 1-65535, e.g. 51820");
            } else if ports.contains(&iface.listen_port) {
                self.report(&at("listen_port"), format!("{} is already another interface's listen_port; give each its own", iface.listen_port));
            }
            ports.push(iface.listen_port);
            if !MTU_RANGE.contains(&iface.mtu) {
                self.report(&at("mtu"), format!("{} is out of range; use {}-{} (1420 suits a 1500-byte WAN)", iface.mtu, MTU_RANGE.start(), MTU_RANGE.end()));
            }
            if let Some(why) = iface.private_key_file.as_deref().and_then(bad_path) {
                self.report(&at("private_key_file"), why);
            }
            if let Some(e) = &iface.endpoint {
                let host = match e.rsplit_once(':') {
                    Some((h, p)) if !h.contains(':') && p_port(p).is_some() => h,
                    _ if e.starts_with('[') => e.trim_start_matches('[').split(']').next().unwrap_or(""),
                    _ => e.as_str(),
                };
                if !is_host(host) || host.is_empty() {
                    self.report(&at("endpoint"), format!("`{e}` is not a host name or address (with an optional :port); write e.g. \"vpn.example.org\""));
                }
            }
        }

        // Peers: names, interfaces, keys, allowed IPs.
        let mut seen: Vec<(&str, &Key, usize)> = Vec::new(); // (interface, key, peer index)
        let mut nets: Vec<(&str, IpNet, usize, usize)> = Vec::new(); // (interface, net, peer, j)
        for (i, p) in vpn.peers.iter().enumerate() {
            let at = |k: &'static str| [K("peer"), I(i), K(k)];
            if let Some(why) = bad_peer_name(&p.name) {
                self.report(&at("name"), why);
            } else if vpn.peers[..i].iter().any(|o| o.name == p.name) {
                self.report(&at("name"), format!("`{}` is the name of another peer too; names must be unique", p.name));
            }
            let iface = match (&p.interface, vpn.interface_of(p)) {
                (_, Some(iface)) => iface,
                (Some(name), None) => {
                    self.report(&at("interface"), format!("`{name}` is not an [[interface]] of this file; use one of: {}", names(vpn)));
                    continue;
                }
                (None, None) if vpn.interfaces.is_empty() => {
                    self.report(&at("name"), "there is no [[interface]] for this peer; add one (see docs/vpn.md)");
                    continue;
                }
                (None, None) => {
                    self.report(&at("name"), format!("several interfaces: say which one this peer belongs to, interface = one of {}", names(vpn)));
                    continue;
                }
            };
            if let Some(&(_, _, other)) = seen.iter().find(|(n, k, _)| *n == iface.name && **k == p.public_key) {
                self.report(&at("public_key"), format!("the same public key as peer `{}`: each peer has its own key pair", vpn.peers[other].name));
            }
            seen.push((&iface.name, &p.public_key, i));
            if let Some(why) = p.preshared_key_file.as_deref().and_then(bad_path) {
                self.report(&at("preshared_key_file"), why);
            }
            if p.allowed_ips.is_empty() {
                self.report(&at("allowed_ips"), "empty; list the addresses this peer uses, e.g. [\"10.8.0.2/32\"] (a phone) or its LAN (another site)");
            }
            for (j, net) in p.allowed_ips.iter().enumerate() {
                let path = [K("peer"), I(i), K("allowed_ips"), I(j)];
                if !net.is_network() {
                    self.report(
                        &path,
                        format!("{net} has host bits set; write the network {} (or the host as /{})", net.network(), IpNet::max_prefix(net.addr)),
                    );
                    continue;
                }
                if net.prefix == 0 {
                    self.report(&path, format!("{net} would send all of the router's traffic to this peer; list the peer's own subnets"));
                    continue;
                }
                if let Some(&(_, other, k, _)) = nets.iter().find(|(n, o, _, _)| *n == iface.name && o.overlaps(*net)) {
                    let whose = if k == i { "another entry of this peer".to_string() } else { format!("peer `{}`", vpn.peers[k].name) };
                    self.report(
                        &path,
                        format!("{net} overlaps {other} of {whose} on {}: WireGuard sends each address to one peer only, so one of them would stop working; give each peer its own addresses", iface.name),
                    );
                }
                nets.push((&iface.name, *net, i, j));
            }
        }
    }
}

fn names(vpn: &Vpn) -> String {
    vpn.interfaces.iter().map(|i| format!("\"{}\"", i.name)).collect::<Vec<_>>().join(", ")
}
