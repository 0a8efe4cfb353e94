//! The kernel's WireGuard over generic netlink: the family "wireguard" (resolved with
//! [`crate::Socket::resolve_family`]), `WG_CMD_GET_DEVICE` (a dump) and
//! `WG_CMD_SET_DEVICE`, as the kernel's include/uapi/linux/wireguard.h documents them.
//!
//! - [`get_device`] asks for a device; [`parse_device`] reads the dump back. A device
//!   with many peers or allowed IPs comes in several messages, and one peer can span
//!   several: a message then starts with the same peer again (its public key) carrying
//!   only more allowed IPs. [`parse_device`] joins them.
//! - [`set_device`] turns a [`DeviceChange`] into as many SET messages as it takes to
//!   stay under a size limit: the kernel reads each message whole, and wg(8) splits the
//!   same way. A peer whose allowed IPs do not fit in one message continues in the next
//!   without `WGPEER_F_REPLACE_ALLOWEDIPS` (which would drop what the first one set).
//!
//! Keys are 32 bytes. [`Device`]'s and [`PeerChange`]'s `Debug` never show private or
//! preshared keys.

use crate::attr::{attrs, str_of, u16_of, u32_of};
use crate::genl;
use crate::msg::Request;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// The family name to resolve.
pub const FAMILY: &str = "wireguard";
pub const VERSION: u8 = 1;
pub const KEY_LEN: usize = 32;

pub const WG_CMD_GET_DEVICE: u8 = 0;
pub const WG_CMD_SET_DEVICE: u8 = 1;

pub const WGDEVICE_F_REPLACE_PEERS: u32 = 1 << 0;

pub const WGDEVICE_A_IFINDEX: u16 = 1;
pub const WGDEVICE_A_IFNAME: u16 = 2;
pub const WGDEVICE_A_PRIVATE_KEY: u16 = 3;
pub const WGDEVICE_A_PUBLIC_KEY: u16 = 4;
pub const WGDEVICE_A_FLAGS: u16 = 5;
pub const WGDEVICE_A_LISTEN_PORT: u16 = 6;
pub const WGDEVICE_A_FWMARK: u16 = 7;
pub const WGDEVICE_A_PEERS: u16 = 8;

pub const WGPEER_F_REMOVE_ME: u32 = 1 << 0;
pub const WGPEER_F_REPLACE_ALLOWEDIPS: u32 = 1 << 1;
pub const WGPEER_F_UPDATE_ONLY: u32 = 1 << 2;

pub const WGPEER_A_PUBLIC_KEY: u16 = 1;
pub const WGPEER_A_PRESHARED_KEY: u16 = 2;
pub const WGPEER_A_FLAGS: u16 = 3;
pub const WGPEER_A_ENDPOINT: u16 = 4;
pub const WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL: u16 = 5;
pub const WGPEER_A_LAST_HANDSHAKE_TIME: u16 = 6;
pub const WGPEER_A_RX_BYTES: u16 = 7;
pub const WGPEER_A_TX_BYTES: u16 = 8;
pub const WGPEER_A_ALLOWEDIPS: u16 = 9;
pub const WGPEER_A_PROTOCOL_VERSION: u16 = 10;

pub const WGALLOWEDIP_A_FAMILY: u16 = 1;
pub const WGALLOWEDIP_A_IPADDR: u16 = 2;
pub const WGALLOWEDIP_A_CIDR_MASK: u16 = 3;

/// The size [`set_device`] keeps each message under by default: what the kernel and
/// wg(8) handle without a larger socket buffer.
pub const SET_MESSAGE_LIMIT: usize = 8192;

const AF_INET: u16 = libc::AF_INET as u16;
const AF_INET6: u16 = libc::AF_INET6 as u16;

/// One allowed-IPs entry: a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AllowedIp {
    pub addr: IpAddr,
    pub cidr: u8,
}

/// A peer as the kernel reports it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Peer {
    pub public_key: [u8; KEY_LEN],
    /// All zero: none.
    pub preshared_key: [u8; KEY_LEN],
    pub endpoint: Option<SocketAddr>,
    /// Seconds; 0: off.
    pub persistent_keepalive: u16,
    /// Wall-clock time of the last handshake (seconds, nanoseconds); None: never.
    pub last_handshake: Option<(i64, i64)>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub allowed_ips: Vec<AllowedIp>,
    pub protocol_version: u32,
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("public_key", &hex(&self.public_key))
            .field("preshared_key", &(self.preshared_key != [0; KEY_LEN]))
            .field("endpoint", &self.endpoint)
            .field("persistent_keepalive", &self.persistent_keepalive)
            .field("last_handshake", &self.last_handshake)
            .field("rx_bytes", &self.rx_bytes)
            .field("tx_bytes", &self.tx_bytes)
            .field("allowed_ips", &self.allowed_ips)
            .finish()
    }
}

fn hex(k: &[u8]) -> String {
    k.iter().map(|b| format!("{b:02x}")).collect()
}

/// A WireGuard device as the kernel reports it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Device {
    pub ifindex: u32,
    pub ifname: String,
    /// None: no private key set.
    pub private_key: Option<[u8; KEY_LEN]>,
    pub public_key: Option<[u8; KEY_LEN]>,
    pub listen_port: u16,
    pub fwmark: u32,
    pub peers: Vec<Peer>,
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device")
            .field("ifindex", &self.ifindex)
            .field("ifname", &self.ifname)
            .field("private_key", &self.private_key.is_some())
            .field("public_key", &self.public_key.as_ref().map(|k| hex(k)))
            .field("listen_port", &self.listen_port)
            .field("peers", &self.peers)
            .finish()
    }
}

/// `WG_CMD_GET_DEVICE` of the device `ifname` (send with [`crate::Socket::dump`]).
pub fn get_device(family: u16, ifname: &str) -> Request {
    let mut r = genl::request(family, WG_CMD_GET_DEVICE, VERSION, 0).describe(format!("WG_CMD_GET_DEVICE {ifname}"));
    r.attr_str(WGDEVICE_A_IFNAME, ifname);
    r
}

fn key_of(v: &[u8]) -> Option<[u8; KEY_LEN]> {
    v.try_into().ok()
}

fn u64_of(v: &[u8]) -> Option<u64> {
    Some(u64::from_ne_bytes(v.try_into().ok()?))
}

fn i64_of(v: &[u8]) -> Option<i64> {
    Some(i64::from_ne_bytes(v.try_into().ok()?))
}

/// A `struct sockaddr_in` / `sockaddr_in6` (family in host order, port in network order).
pub fn sockaddr_of(v: &[u8]) -> Option<SocketAddr> {
    let family = u16_of(v.get(0..2)?)?;
    let port = u16::from_be_bytes(v.get(2..4)?.try_into().ok()?);
    match family {
        AF_INET => {
            let a: [u8; 4] = v.get(4..8)?.try_into().ok()?;
            Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(a), port)))
        }
        AF_INET6 => {
            let flow = u32::from_be_bytes(v.get(4..8)?.try_into().ok()?);
            let a: [u8; 16] = v.get(8..24)?.try_into().ok()?;
            let scope = u32_of(v.get(24..28)?)?;
            Some(SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(a), port, flow, scope)))
        }
        _ => None,
    }
}

/// The bytes of a `struct sockaddr_in` (16) or `sockaddr_in6` (28).
pub fn sockaddr_bytes(a: &SocketAddr) -> Vec<u8> {
    let mut b = Vec::with_capacity(28);
    match a {
        SocketAddr::V4(a) => {
            b.extend_from_slice(&AF_INET.to_ne_bytes());
            b.extend_from_slice(&a.port().to_be_bytes());
            b.extend_from_slice(&a.ip().octets());
            b.extend_from_slice(&[0; 8]);
        }
        SocketAddr::V6(a) => {
            b.extend_from_slice(&AF_INET6.to_ne_bytes());
            b.extend_from_slice(&a.port().to_be_bytes());
            b.extend_from_slice(&a.flowinfo().to_be_bytes());
            b.extend_from_slice(&a.ip().octets());
            b.extend_from_slice(&a.scope_id().to_ne_bytes());
        }
    }
    b
}

fn parse_allowed_ip(v: &[u8]) -> Option<AllowedIp> {
    let (mut family, mut addr, mut cidr) = (None, None, None);
    for a in attrs(v) {
        match a.kind {
            WGALLOWEDIP_A_FAMILY => family = u16_of(a.value),
            WGALLOWEDIP_A_IPADDR => addr = Some(a.value),
            WGALLOWEDIP_A_CIDR_MASK => cidr = a.value.first().copied(),
            _ => {}
        }
    }
    let addr = match (family?, addr?) {
        (AF_INET, v) => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(v).ok()?)),
        (AF_INET6, v) => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(v).ok()?)),
        _ => return None,
    };
    Some(AllowedIp { addr, cidr: cidr? })
}

fn parse_peer(v: &[u8]) -> Option<Peer> {
    let mut p = Peer::default();
    let mut key = None;
    for a in attrs(v) {
        match a.kind {
            WGPEER_A_PUBLIC_KEY => key = key_of(a.value),
            WGPEER_A_PRESHARED_KEY => p.preshared_key = key_of(a.value).unwrap_or_default(),
            WGPEER_A_ENDPOINT => p.endpoint = sockaddr_of(a.value),
            WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL => p.persistent_keepalive = u16_of(a.value).unwrap_or(0),
            WGPEER_A_LAST_HANDSHAKE_TIME => {
                let s = a.value.get(0..8).and_then(i64_of).unwrap_or(0);
                let ns = a.value.get(8..16).and_then(i64_of).unwrap_or(0);
                p.last_handshake = (s != 0 || ns != 0).then_some((s, ns));
            }
            WGPEER_A_RX_BYTES => p.rx_bytes = u64_of(a.value).unwrap_or(0),
            WGPEER_A_TX_BYTES => p.tx_bytes = u64_of(a.value).unwrap_or(0),
            WGPEER_A_PROTOCOL_VERSION => p.protocol_version = u32_of(a.value).unwrap_or(0),
            WGPEER_A_ALLOWEDIPS => p.allowed_ips.extend(attrs(a.value).filter_map(|ip| parse_allowed_ip(ip.value))),
            _ => {}
        }
    }
    p.public_key = key?;
    Some(p)
}

/// Reads the messages of a GET_DEVICE dump (the (type, payload) pairs of
/// [`crate::Socket::dump`], type `family`) into one device, joining a peer that
/// continues from one message into the next. Malformed entries are skipped, never a
/// panic; None when no message names the device.
pub fn parse_device(family: u16, parts: &[(u16, Vec<u8>)]) -> Option<Device> {
    let mut dev = Device::default();
    let mut named = false;
    for (_, payload) in parts.iter().filter(|(t, _)| *t == family) {
        let Some(body) = payload.get(genl::GENL_HDRLEN..) else { continue };
        for a in attrs(body) {
            match a.kind {
                WGDEVICE_A_IFINDEX => {
                    dev.ifindex = u32_of(a.value).unwrap_or(0);
                    named = true;
                }
                WGDEVICE_A_IFNAME => {
                    dev.ifname = str_of(a.value);
                    named = true;
                }
                WGDEVICE_A_PRIVATE_KEY => dev.private_key = key_of(a.value).filter(|k| *k != [0; KEY_LEN]),
                WGDEVICE_A_PUBLIC_KEY => dev.public_key = key_of(a.value).filter(|k| *k != [0; KEY_LEN]),
                WGDEVICE_A_LISTEN_PORT => dev.listen_port = u16_of(a.value).unwrap_or(0),
                WGDEVICE_A_FWMARK => dev.fwmark = u32_of(a.value).unwrap_or(0),
                WGDEVICE_A_PEERS => {
                    for (i, pa) in attrs(a.value).enumerate() {
                        let Some(peer) = parse_peer(pa.value) else { continue };
                        // The first peer of a message may be the last one of the previous
                        // message, continued: only more allowed IPs.
                        match dev.peers.last_mut() {
                            Some(last) if i == 0 && last.public_key == peer.public_key => last.allowed_ips.extend(peer.allowed_ips),
                            _ => dev.peers.push(peer),
                        }
                    }
                }
                _ => {}
            }
        }
    }
    named.then_some(dev)
}

/// A change to one peer.
#[derive(Clone, PartialEq, Eq)]
pub struct PeerChange {
    pub public_key: [u8; KEY_LEN],
    /// WGPEER_F_REMOVE_ME: everything else is ignored.
    pub remove: bool,
    /// Some([0; 32]): remove the preshared key.
    pub preshared_key: Option<[u8; KEY_LEN]>,
    pub endpoint: Option<SocketAddr>,
    /// Some(0): off.
    pub persistent_keepalive: Option<u16>,
    /// Replace the allowed IPs with `allowed_ips` (WGPEER_F_REPLACE_ALLOWEDIPS); false:
    /// add `allowed_ips` to what the peer has.
    pub replace_allowed_ips: bool,
    pub allowed_ips: Vec<AllowedIp>,
}

impl fmt::Debug for PeerChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerChange")
            .field("public_key", &hex(&self.public_key))
            .field("remove", &self.remove)
            .field("preshared_key", &self.preshared_key.is_some())
            .field("endpoint", &self.endpoint)
            .field("persistent_keepalive", &self.persistent_keepalive)
            .field("replace_allowed_ips", &self.replace_allowed_ips)
            .field("allowed_ips", &self.allowed_ips)
            .finish()
    }
}

impl PeerChange {
    /// Removes the peer with this key.
    pub fn remove(public_key: [u8; KEY_LEN]) -> PeerChange {
        PeerChange {
            public_key,
            remove: true,
            preshared_key: None,
            endpoint: None,
            persistent_keepalive: None,
            replace_allowed_ips: false,
            allowed_ips: Vec::new(),
        }
    }
}

/// A change to a device: nothing but what is set here is touched (no
/// WGDEVICE_F_REPLACE_PEERS unless `replace_peers`).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct DeviceChange {
    pub ifname: String,
    /// Some([0; 32]): remove the key.
    pub private_key: Option<[u8; KEY_LEN]>,
    pub listen_port: Option<u16>,
    pub replace_peers: bool,
    pub peers: Vec<PeerChange>,
}

impl fmt::Debug for DeviceChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceChange")
            .field("ifname", &self.ifname)
            .field("private_key", &self.private_key.is_some())
            .field("listen_port", &self.listen_port)
            .field("replace_peers", &self.replace_peers)
            .field("peers", &self.peers)
            .finish()
    }
}

impl DeviceChange {
    /// Whether applying it would send nothing.
    pub fn is_empty(&self) -> bool {
        self.private_key.is_none() && self.listen_port.is_none() && !self.replace_peers && self.peers.is_empty()
    }
}

fn allowed_ip_bytes(ip: &AllowedIp) -> (u16, Vec<u8>) {
    match ip.addr {
        IpAddr::V4(a) => (AF_INET, a.octets().to_vec()),
        IpAddr::V6(a) => (AF_INET6, a.octets().to_vec()),
    }
}

/// Bytes of one allowed-IP entry: nest header 4 + family 8 + address 8|20 + mask 8.
fn allowed_ip_len(ip: &AllowedIp) -> usize {
    4 + 8 + if ip.addr.is_ipv4() { 8 } else { 20 } + 8
}

/// The SET_DEVICE messages for `change`, each at most `limit` bytes (at least 1024),
/// in the order to send them; empty when there is nothing to change. The device's own
/// settings go in the first message.
pub fn set_device(family: u16, change: &DeviceChange, limit: usize) -> Vec<Request> {
    let limit = limit.max(1024);
    let mut out = Vec::new();
    if change.is_empty() {
        return out;
    }
    let new_msg = |first: bool, n: usize| {
        let mut r = genl::request(family, WG_CMD_SET_DEVICE, VERSION, 0).describe(format!("WG_CMD_SET_DEVICE {} (message {})", change.ifname, n + 1));
        r.attr_str(WGDEVICE_A_IFNAME, &change.ifname);
        if first {
            if let Some(k) = &change.private_key {
                r.attr(WGDEVICE_A_PRIVATE_KEY, k);
            }
            if let Some(p) = change.listen_port {
                r.attr_u16(WGDEVICE_A_LISTEN_PORT, p);
            }
            if change.replace_peers {
                r.attr_u32(WGDEVICE_A_FLAGS, WGDEVICE_F_REPLACE_PEERS);
            }
        }
        r
    };
    // Bytes a request has so far: header 16 + genl 4 + attributes; tracked by hand
    // because Request does not expose its length before finish().
    let base = |first: bool| {
        let mut n = 16 + 4 + crate::align(4 + change.ifname.len() + 1);
        if first {
            n +=
                if change.private_key.is_some() { 36 } else { 0 } + if change.listen_port.is_some() { 8 } else { 0 } + if change.replace_peers { 8 } else { 0 };
        }
        n
    };
    let mut req = new_msg(true, 0);
    let mut len = base(true);
    let mut peers_nest: Option<usize> = None;
    // Header of a peer without allowed IPs: nest 4 + key 36 + flags 8 + psk 36 + endpoint
    // 32 + keepalive 8 + allowedips nest 4.
    const PEER_HEAD: usize = 4 + 36 + 8 + 36 + 32 + 8 + 4;
    for p in &change.peers {
        let mut ips = p.allowed_ips.iter().peekable();
        let mut first_chunk = true;
        loop {
            if len + PEER_HEAD + 4 + ips.peek().map_or(0, |ip| allowed_ip_len(ip)) > limit && peers_nest.is_some() {
                if let Some(at) = peers_nest.take() {
                    req.end_nested(at);
                }
                out.push(std::mem::replace(&mut req, new_msg(false, out.len() + 1)));
                len = base(false);
            }
            if peers_nest.is_none() {
                peers_nest = Some(req.begin_nested(WGDEVICE_A_PEERS));
                len += 4;
            }
            let peer_at = req.begin_nested(0);
            req.attr(WGPEER_A_PUBLIC_KEY, &p.public_key);
            len += 4 + 36;
            let mut flags = 0;
            if p.remove {
                flags |= WGPEER_F_REMOVE_ME;
            }
            if first_chunk && p.replace_allowed_ips && !p.remove {
                flags |= WGPEER_F_REPLACE_ALLOWEDIPS;
            }
            if !first_chunk {
                // A continuation only adds allowed IPs to the peer made just before.
                flags |= WGPEER_F_UPDATE_ONLY;
            }
            if flags != 0 {
                req.attr_u32(WGPEER_A_FLAGS, flags);
                len += 8;
            }
            if first_chunk && !p.remove {
                if let Some(k) = &p.preshared_key {
                    req.attr(WGPEER_A_PRESHARED_KEY, k);
                    len += 36;
                }
                if let Some(e) = &p.endpoint {
                    let b = sockaddr_bytes(e);
                    len += 4 + b.len();
                    req.attr(WGPEER_A_ENDPOINT, &b);
                }
                if let Some(k) = p.persistent_keepalive {
                    req.attr_u16(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, k);
                    len += 8;
                }
            }
            first_chunk = false;
            if !p.remove && ips.peek().is_some() {
                let ips_at = req.begin_nested(WGPEER_A_ALLOWEDIPS);
                len += 4;
                while let Some(ip) = ips.peek() {
                    let need = allowed_ip_len(ip);
                    // Keep room for closing; at least one entry per chunk.
                    if len + need > limit && req_has_entries(len, base(false)) {
                        break;
                    }
                    let (fam, bytes) = allowed_ip_bytes(ip);
                    let cidr = ip.cidr;
                    req.attrs().nested(0, |a| {
                        a.u16(WGALLOWEDIP_A_FAMILY, fam);
                        a.bytes(WGALLOWEDIP_A_IPADDR, &bytes);
                        a.u8(WGALLOWEDIP_A_CIDR_MASK, cidr);
                    });
                    len += need;
                    ips.next();
                }
                req.end_nested(ips_at);
            }
            req.end_nested(peer_at);
            len += 4;
            if ips.peek().is_none() || p.remove {
                break;
            }
            // More allowed IPs for this peer: force a new message.
            len = limit + 1;
        }
    }
    if let Some(at) = peers_nest.take() {
        req.end_nested(at);
    }
    out.push(req);
    out
}

/// Whether a message already holds something beyond its fixed part (so it may be cut).
fn req_has_entries(len: usize, base: usize) -> bool {
    len > base + 4 + 4 + 36 + 4 + 8
}

#[cfg(test)]
mod tests;
