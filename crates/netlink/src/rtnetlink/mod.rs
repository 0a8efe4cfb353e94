//! rtnetlink (NETLINK_ROUTE): links, addresses, routes and neighbours. The fixed headers
//! (ifinfomsg, ifaddrmsg, rtmsg, ndmsg), parsers of the kernel's messages into small
//! typed structs (only the attributes oxwrt reads), and builders of the requests oxwrt
//! makes (each [`Request`] described for errors: "RTM_NEWLINK create bridge br-lan").
//! Traffic control (qdiscs, classes, filters, actions) is [`tc`]; CAKE, the ingress qdisc
//! and the matchall + mirred redirect of ingress shaping are [`cake`].
//!
//! Send the builders' requests with [`crate::Socket::request`] (changes) or
//! [`crate::Socket::dump`] (the `get_*` ones).

pub mod cake;
pub mod tc;

use crate::attr::{attrs, ip_of, str_of, u16_of, u32_of, Attrs};
use crate::msg::Request;
use crate::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use std::net::{IpAddr, Ipv4Addr};

/// Message types (linux/rtnetlink.h).
pub const RTM_NEWLINK: u16 = 16;
pub const RTM_DELLINK: u16 = 17;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_DELADDR: u16 = 21;
pub const RTM_GETADDR: u16 = 22;
pub const RTM_NEWROUTE: u16 = 24;
pub const RTM_DELROUTE: u16 = 25;
pub const RTM_GETROUTE: u16 = 26;
pub const RTM_NEWNEIGH: u16 = 28;
pub const RTM_DELNEIGH: u16 = 29;
pub const RTM_GETNEIGH: u16 = 30;

/// Multicast groups as `bind` bit masks (the old RTMGRP_* values).
pub const RTMGRP_LINK: u32 = 0x1;
pub const RTMGRP_NEIGH: u32 = 0x4;
pub const RTMGRP_IPV4_IFADDR: u32 = 0x10;
pub const RTMGRP_IPV4_ROUTE: u32 = 0x40;

pub const AF_UNSPEC: u8 = 0;
pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 10;

/// Link flags (ifinfomsg.ifi_flags).
pub const IFF_UP: u32 = 0x1;
pub const IFF_LOWER_UP: u32 = 0x10000;

/// Link attributes (linux/if_link.h).
pub const IFLA_ADDRESS: u16 = 1;
pub const IFLA_BROADCAST: u16 = 2;
pub const IFLA_IFNAME: u16 = 3;
pub const IFLA_MTU: u16 = 4;
pub const IFLA_LINK: u16 = 5;
pub const IFLA_MASTER: u16 = 10;
pub const IFLA_LINKINFO: u16 = 18;
pub const IFLA_INFO_KIND: u16 = 1;
pub const IFLA_INFO_DATA: u16 = 2;
pub const IFLA_VLAN_ID: u16 = 1;
pub const VETH_INFO_PEER: u16 = 1;

/// Address attributes (linux/if_addr.h).
pub const IFA_ADDRESS: u16 = 1;
pub const IFA_LOCAL: u16 = 2;
pub const IFA_LABEL: u16 = 3;
pub const IFA_BROADCAST: u16 = 4;
pub const IFA_CACHEINFO: u16 = 6;

/// Route attributes.
pub const RTA_DST: u16 = 1;
pub const RTA_SRC: u16 = 2;
pub const RTA_OIF: u16 = 4;
pub const RTA_GATEWAY: u16 = 5;
pub const RTA_PRIORITY: u16 = 6;
pub const RTA_PREFSRC: u16 = 7;
pub const RTA_TABLE: u16 = 15;

pub const RT_TABLE_UNSPEC: u32 = 0;
pub const RT_TABLE_COMPAT: u32 = 252;
pub const RT_TABLE_MAIN: u32 = 254;
pub const RT_TABLE_LOCAL: u32 = 255;
/// Route protocols (who installed a route): `ip route` shows them as "kernel", "static", "dhcp".
pub const RTPROT_KERNEL: u8 = 2;
pub const RTPROT_BOOT: u8 = 3;
pub const RTPROT_STATIC: u8 = 4;
pub const RTPROT_DHCP: u8 = 16;
pub const RT_SCOPE_UNIVERSE: u8 = 0;
pub const RT_SCOPE_LINK: u8 = 253;
pub const RT_SCOPE_HOST: u8 = 254;
pub const RTN_UNICAST: u8 = 1;
pub const RTN_LOCAL: u8 = 2;
pub const RTN_UNREACHABLE: u8 = 7;
/// ifa_flags: no duplicate address detection (the address is usable at once).
pub const IFA_F_NODAD: u8 = 0x02;

/// Neighbour attributes and states (linux/neighbour.h).
pub const NDA_DST: u16 = 1;
pub const NDA_LLADDR: u16 = 2;
pub const NUD_INCOMPLETE: u16 = 0x01;
pub const NUD_REACHABLE: u16 = 0x02;
pub const NUD_STALE: u16 = 0x04;
pub const NUD_DELAY: u16 = 0x08;
pub const NUD_PROBE: u16 = 0x10;
pub const NUD_FAILED: u16 = 0x20;
pub const NUD_NOARP: u16 = 0x40;
pub const NUD_PERMANENT: u16 = 0x80;

/// `struct ifinfomsg`: family, type, index, flags, change mask.
pub fn ifinfomsg(index: u32, flags: u32, change: u32) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[4..8].copy_from_slice(&index.to_ne_bytes());
    m[8..12].copy_from_slice(&flags.to_ne_bytes());
    m[12..16].copy_from_slice(&change.to_ne_bytes());
    m
}

/// `struct ifaddrmsg`: family, prefix length, flags, scope, index.
pub fn ifaddrmsg(family: u8, prefix: u8, index: u32) -> [u8; 8] {
    let mut m = [0u8; 8];
    m[0] = family;
    m[1] = prefix;
    m[4..8].copy_from_slice(&index.to_ne_bytes());
    m
}

/// `struct ndmsg`: family, padding, index, state, flags, type.
pub fn ndmsg(family: u8, index: u32, state: u16) -> [u8; 12] {
    let mut m = [0u8; 12];
    m[0] = family;
    m[4..8].copy_from_slice(&index.to_ne_bytes());
    m[8..10].copy_from_slice(&state.to_ne_bytes());
    m
}

fn family_of(a: IpAddr) -> u8 {
    match a {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    }
}

fn octets(a: &IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

// ---- links ----

/// A network device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// IFF_* flags (IFF_UP: administratively up; IFF_LOWER_UP: carrier).
    pub flags: u32,
    pub mtu: u32,
    pub mac: Option<[u8; 6]>,
    /// Index of the bridge this is a port of; 0: none.
    pub master: u32,
    /// "bridge", "vlan", "veth", ...; None for a plain device.
    pub kind: Option<String>,
    pub vlan_id: Option<u16>,
    /// The device under a VLAN device (IFLA_LINK); 0: none.
    pub parent: u32,
}

impl Link {
    pub fn is_up(&self) -> bool {
        self.flags & IFF_UP != 0
    }
}

/// Parses an RTM_NEWLINK payload.
pub fn parse_link(payload: &[u8]) -> Option<Link> {
    let index = u32_of(payload.get(4..8)?)?;
    let flags = u32_of(payload.get(8..12)?)?;
    let mut link = Link { index, name: String::new(), flags, mtu: 0, mac: None, master: 0, kind: None, vlan_id: None, parent: 0 };
    for a in attrs(payload.get(16..)?) {
        match a.kind {
            IFLA_IFNAME => link.name = str_of(a.value),
            IFLA_MTU => link.mtu = u32_of(a.value).unwrap_or(0),
            IFLA_ADDRESS => link.mac = a.value.try_into().ok(),
            IFLA_MASTER => link.master = u32_of(a.value).unwrap_or(0),
            IFLA_LINK => link.parent = u32_of(a.value).unwrap_or(0),
            IFLA_LINKINFO => {
                for i in attrs(a.value) {
                    match i.kind {
                        IFLA_INFO_KIND => link.kind = Some(str_of(i.value)),
                        IFLA_INFO_DATA if link.kind.as_deref() == Some("vlan") => {
                            if let Some(id) = attrs(i.value).find(|d| d.kind == IFLA_VLAN_ID).and_then(|d| u16_of(d.value)) {
                                link.vlan_id = Some(id);
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Some(link)
}

/// What to change on an existing link; None: leave as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkChange {
    pub up: Option<bool>,
    /// Some(0): leave the bridge it is a port of.
    pub master: Option<u32>,
    pub mtu: Option<u32>,
    pub mac: Option<[u8; 6]>,
}

/// Dump of all links.
pub fn get_links() -> Request {
    Request::new(RTM_GETLINK, 0, &ifinfomsg(0, 0, 0)).describe("RTM_GETLINK (dump links)")
}

/// Creates the device `name` of `kind` ("bridge", "dummy", ...), down; `parent`: its
/// IFLA_LINK (0: none).
pub fn create_link(name: &str, kind: &str, parent: u32) -> Request {
    create_link_with(name, kind, parent, None::<fn(&mut Attrs)>)
}

/// [`create_link`] with IFLA_INFO_DATA written by `data`.
pub fn create_link_with(name: &str, kind: &str, parent: u32, data: Option<impl FnOnce(&mut Attrs)>) -> Request {
    let mut req = Request::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifinfomsg(0, 0, 0)).describe(format!("RTM_NEWLINK create {kind} {name}"));
    req.attr_str(IFLA_IFNAME, name);
    if parent != 0 {
        req.attr_u32(IFLA_LINK, parent);
    }
    req.nested(IFLA_LINKINFO, |a| {
        a.str(IFLA_INFO_KIND, kind);
        if let Some(data) = data {
            a.nested(IFLA_INFO_DATA, data);
        }
    });
    req
}

/// An 802.1Q device `name` for VLAN `id` on the device `parent` (an index).
pub fn create_vlan(name: &str, parent: u32, id: u16) -> Request {
    create_link_with(
        name,
        "vlan",
        parent,
        Some(|a: &mut Attrs| {
            a.u16(IFLA_VLAN_ID, id);
        }),
    )
}

/// A veth pair `name` -- `peer`.
pub fn create_veth(name: &str, peer: &str) -> Request {
    create_link_with(
        name,
        "veth",
        0,
        Some(|a: &mut Attrs| {
            a.nested(VETH_INFO_PEER, |p| {
                p.fixed(&ifinfomsg(0, 0, 0));
                p.str(IFLA_IFNAME, peer);
            });
        }),
    )
}

pub fn delete_link(index: u32) -> Request {
    Request::new(RTM_DELLINK, 0, &ifinfomsg(index, 0, 0)).describe(format!("RTM_DELLINK (delete link {index})"))
}

/// Changes link `index` as `change` says.
pub fn set_link(index: u32, change: &LinkChange) -> Request {
    let (flags, mask) = match change.up {
        Some(true) => (IFF_UP, IFF_UP),
        Some(false) => (0, IFF_UP),
        None => (0, 0),
    };
    let mut req = Request::new(RTM_NEWLINK, 0, &ifinfomsg(index, flags, mask)).describe(format!("RTM_NEWLINK (change link {index})"));
    if let Some(m) = change.master {
        req.attr_u32(IFLA_MASTER, m);
    }
    if let Some(mtu) = change.mtu {
        req.attr_u32(IFLA_MTU, mtu);
    }
    if let Some(mac) = change.mac {
        req.attr(IFLA_ADDRESS, &mac);
    }
    req
}

// ---- addresses ----

/// An address on a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addr {
    pub family: u8,
    pub prefix_len: u8,
    pub index: u32,
    /// IFA_LOCAL: the address itself (IPv4).
    pub local: Option<IpAddr>,
    /// IFA_ADDRESS: the address (IPv6) or, point-to-point, the peer's.
    pub address: Option<IpAddr>,
    /// Seconds left; None: permanent.
    pub valid_lft: Option<u32>,
}

impl Addr {
    /// The device's own address: IFA_LOCAL, else IFA_ADDRESS.
    pub fn addr(&self) -> Option<IpAddr> {
        self.local.or(self.address)
    }
}

/// Parses an RTM_NEWADDR payload.
pub fn parse_addr(payload: &[u8]) -> Option<Addr> {
    let fixed = payload.get(..8)?;
    let mut a = Addr { family: fixed[0], prefix_len: fixed[1], index: u32_of(&fixed[4..8])?, local: None, address: None, valid_lft: None };
    for at in attrs(&payload[8..]) {
        match at.kind {
            IFA_LOCAL => a.local = ip_of(at.value),
            IFA_ADDRESS => a.address = ip_of(at.value),
            IFA_CACHEINFO => a.valid_lft = at.value.get(4..8).and_then(u32_of).filter(|&v| v != u32::MAX),
            _ => {}
        }
    }
    Some(a)
}

/// Dump of the addresses of `family` (AF_UNSPEC: all).
pub fn get_addrs(family: u8) -> Request {
    Request::new(RTM_GETADDR, 0, &ifaddrmsg(family, 0, 0)).describe("RTM_GETADDR (dump addresses)")
}

/// Adds `addr`/`prefix` to device `index`, or updates its lifetime (`valid_secs`, None:
/// permanent) when it is there already. IPv4 gets the broadcast address of the prefix.
pub fn add_addr(index: u32, addr: IpAddr, prefix: u8, valid_secs: Option<u32>) -> Request {
    let mut req = Request::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, &ifaddrmsg(family_of(addr), prefix, index))
        .describe(format!("RTM_NEWADDR (add {addr}/{prefix} to link {index})"));
    req.attr(IFA_LOCAL, &octets(&addr));
    req.attr(IFA_ADDRESS, &octets(&addr));
    if let IpAddr::V4(a) = addr {
        if prefix < 31 {
            let host = u32::MAX.checked_shr(prefix as u32).unwrap_or(0);
            req.attr(IFA_BROADCAST, &Ipv4Addr::from(u32::from(a) | host).octets());
        }
    }
    let lifetime = valid_secs.unwrap_or(u32::MAX);
    let mut info = [0u8; 16];
    info[0..4].copy_from_slice(&lifetime.to_ne_bytes());
    info[4..8].copy_from_slice(&lifetime.to_ne_bytes());
    req.attr(IFA_CACHEINFO, &info);
    req
}

/// Adds or updates an address with both lifetimes (seconds, u32::MAX: forever) and
/// ifa_flags (e.g. [`IFA_F_NODAD`]): IPv6 addresses that must deprecate (preferred 0)
/// before they go, as a renumbered prefix does.
pub fn add_addr_lifetimes(index: u32, addr: IpAddr, prefix: u8, preferred: u32, valid: u32, flags: u8) -> Request {
    let mut fixed = ifaddrmsg(family_of(addr), prefix, index);
    fixed[2] = flags;
    let mut req = Request::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, &fixed)
        .describe(format!("RTM_NEWADDR (add {addr}/{prefix} to link {index}, preferred {preferred} s, valid {valid} s)"));
    req.attr(IFA_LOCAL, &octets(&addr));
    req.attr(IFA_ADDRESS, &octets(&addr));
    let mut info = [0u8; 16];
    info[0..4].copy_from_slice(&preferred.min(valid).to_ne_bytes());
    info[4..8].copy_from_slice(&valid.to_ne_bytes());
    req.attr(IFA_CACHEINFO, &info);
    req
}

pub fn del_addr(index: u32, addr: IpAddr, prefix: u8) -> Request {
    let mut req =
        Request::new(RTM_DELADDR, 0, &ifaddrmsg(family_of(addr), prefix, index)).describe(format!("RTM_DELADDR (remove {addr}/{prefix} from link {index})"));
    req.attr(IFA_LOCAL, &octets(&addr));
    req.attr(IFA_ADDRESS, &octets(&addr));
    req
}

// ---- routes ----

/// A route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub family: u8,
    pub dst_len: u8,
    /// None: the default route (dst_len 0).
    pub dst: Option<IpAddr>,
    pub gateway: Option<IpAddr>,
    pub oif: u32,
    pub protocol: u8,
    pub priority: Option<u32>,
    pub table: u32,
    pub scope: u8,
    /// RTN_UNICAST, RTN_LOCAL, ...
    pub kind: u8,
}

impl Route {
    /// An IPv4 unicast route of the main table, scope universe.
    pub fn v4(dst: Option<Ipv4Addr>, dst_len: u8, gateway: Option<Ipv4Addr>, oif: u32, protocol: u8) -> Route {
        Route {
            family: AF_INET,
            dst_len,
            dst: dst.map(IpAddr::V4),
            gateway: gateway.map(IpAddr::V4),
            oif,
            protocol,
            priority: None,
            table: RT_TABLE_MAIN,
            scope: RT_SCOPE_UNIVERSE,
            kind: RTN_UNICAST,
        }
    }

    /// `struct rtmsg`: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
    pub fn rtmsg(&self) -> [u8; 12] {
        let mut m = [0u8; 12];
        m[0] = self.family;
        m[1] = self.dst_len;
        m[4] = u8::try_from(self.table).unwrap_or(RT_TABLE_COMPAT as u8);
        m[5] = self.protocol;
        m[6] = self.scope;
        m[7] = self.kind;
        m
    }

    fn request(&self, msg_type: u16, flags: u16, verb: &str) -> Request {
        let dst = self.dst.map_or("default".to_string(), |d| format!("{d}/{}", self.dst_len));
        let mut req = Request::new(msg_type, flags, &self.rtmsg()).describe(format!("{verb} {dst} table {}", self.table));
        if let Some(d) = self.dst.filter(|_| self.dst_len > 0) {
            req.attr(RTA_DST, &octets(&d));
        }
        if let Some(gw) = self.gateway {
            req.attr(RTA_GATEWAY, &octets(&gw));
        }
        if self.oif != 0 {
            req.attr_u32(RTA_OIF, self.oif);
        }
        if let Some(p) = self.priority {
            req.attr_u32(RTA_PRIORITY, p);
        }
        req.attr_u32(RTA_TABLE, self.table);
        req
    }
}

/// Parses an RTM_NEWROUTE payload.
pub fn parse_route(payload: &[u8]) -> Option<Route> {
    let f = payload.get(..12)?;
    let mut r =
        Route { family: f[0], dst_len: f[1], dst: None, gateway: None, oif: 0, protocol: f[5], priority: None, table: f[4] as u32, scope: f[6], kind: f[7] };
    for a in attrs(&payload[12..]) {
        match a.kind {
            RTA_DST => r.dst = ip_of(a.value),
            RTA_GATEWAY => r.gateway = ip_of(a.value),
            RTA_OIF => r.oif = u32_of(a.value).unwrap_or(0),
            RTA_PRIORITY => r.priority = u32_of(a.value),
            RTA_TABLE => r.table = u32_of(a.value).unwrap_or(r.table),
            _ => {}
        }
    }
    Some(r)
}

/// Dump of the routes of `family`.
pub fn get_routes(family: u8) -> Request {
    let mut fixed = [0u8; 12];
    fixed[0] = family;
    Request::new(RTM_GETROUTE, 0, &fixed).describe("RTM_GETROUTE (dump routes)")
}

/// Adds `r` (fails with EEXIST when it is there).
pub fn add_route(r: &Route) -> Request {
    r.request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, "RTM_NEWROUTE add")
}

pub fn del_route(r: &Route) -> Request {
    r.request(RTM_DELROUTE, 0, "RTM_DELROUTE remove")
}

// ---- neighbours ----

/// A neighbour (ARP / NDP) entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    pub family: u8,
    pub index: u32,
    /// NUD_* state.
    pub state: u16,
    pub dst: Option<IpAddr>,
    pub lladdr: Option<Vec<u8>>,
}

/// Parses an RTM_NEWNEIGH payload.
pub fn parse_neighbour(payload: &[u8]) -> Option<Neighbour> {
    let f = payload.get(..12)?;
    let mut n = Neighbour { family: f[0], index: u32_of(&f[4..8])?, state: u16_of(&f[8..10])?, dst: None, lladdr: None };
    for a in attrs(&payload[12..]) {
        match a.kind {
            NDA_DST => n.dst = ip_of(a.value),
            NDA_LLADDR => n.lladdr = Some(a.value.to_vec()),
            _ => {}
        }
    }
    Some(n)
}

pub fn get_neighbours(family: u8) -> Request {
    Request::new(RTM_GETNEIGH, 0, &ndmsg(family, 0, 0)).describe("RTM_GETNEIGH (dump neighbours)")
}

/// Adds or replaces the neighbour `dst` at `lladdr` on device `index`, in `state`
/// (NUD_PERMANENT: a static ARP entry).
pub fn add_neighbour(index: u32, dst: IpAddr, lladdr: &[u8], state: u16) -> Request {
    let mut req = Request::new(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, &ndmsg(family_of(dst), index, state))
        .describe(format!("RTM_NEWNEIGH (add {dst} on link {index})"));
    req.attr(NDA_DST, &octets(&dst));
    req.attr(NDA_LLADDR, lladdr);
    req
}

pub fn del_neighbour(index: u32, dst: IpAddr) -> Request {
    let mut req = Request::new(RTM_DELNEIGH, 0, &ndmsg(family_of(dst), index, 0)).describe(format!("RTM_DELNEIGH (remove {dst} on link {index})"));
    req.attr(NDA_DST, &octets(&dst));
    req
}

#[cfg(test)]
mod tests;
