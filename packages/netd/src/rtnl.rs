//! Typed rtnetlink: read the links, IPv4 addresses and IPv4 routes of the main table, and
//! the change requests netd makes (create a bridge or a VLAN device, set a link's state,
//! master, MTU or MAC address, add and remove addresses and routes).

use crate::netlink::{self, attrs, Request, Socket};
use oxwrt_config::Ipv4Cidr;
use std::io;
use std::net::Ipv4Addr;

const AF_INET: u8 = libc::AF_INET as u8;
pub const IFF_UP: u32 = libc::IFF_UP as u32;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_LINK: u16 = 5;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const IFLA_VLAN_ID: u16 = 1;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const IFA_CACHEINFO: u16 = 6;

const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_TABLE: u16 = 15;

pub const RT_TABLE_MAIN: u32 = 254;
/// Route protocols (who installed a route): `ip route` shows them as "static", "dhcp".
pub const RTPROT_STATIC: u8 = 4;
pub const RTPROT_DHCP: u8 = 16;
const RTN_UNICAST: u8 = 1;

/// A network device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// IFF_* flags (IFF_UP: administratively up).
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

/// An IPv4 address on a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addr {
    pub index: u32,
    pub cidr: Ipv4Cidr,
    /// Seconds left, None: permanent.
    pub valid_lft: Option<u32>,
}

/// An IPv4 route of the main table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub dst: Ipv4Addr,
    pub dst_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub oif: u32,
    pub protocol: u8,
    pub priority: Option<u32>,
}

impl Route {
    pub fn is_default(&self) -> bool {
        self.dst_len == 0
    }
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

fn ifinfomsg(index: u32, flags: u32, change: u32) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[4..8].copy_from_slice(&(index as i32).to_ne_bytes());
    m[8..12].copy_from_slice(&flags.to_ne_bytes());
    m[12..16].copy_from_slice(&change.to_ne_bytes());
    m
}

fn ifaddrmsg(index: u32, prefix: u8) -> [u8; 8] {
    let mut m = [0u8; 8];
    m[0] = AF_INET;
    m[1] = prefix;
    m[4..8].copy_from_slice(&index.to_ne_bytes());
    m
}

fn rtmsg(dst_len: u8, protocol: u8) -> [u8; 12] {
    // family, dst_len, src_len, tos, table, protocol, scope (universe), type, flags
    let mut m = [0u8; 12];
    m[0] = AF_INET;
    m[1] = dst_len;
    m[4] = RT_TABLE_MAIN as u8;
    m[5] = protocol;
    m[7] = RTN_UNICAST;
    m
}

fn ipv4(v: &[u8]) -> Option<Ipv4Addr> {
    let a: [u8; 4] = v.get(..4)?.try_into().ok()?;
    Some(Ipv4Addr::from(a))
}

pub fn parse_link(payload: &[u8]) -> Option<Link> {
    let fixed = payload.get(..16)?;
    let mut link = Link {
        index: i32::from_ne_bytes(fixed[4..8].try_into().ok()?) as u32,
        name: String::new(),
        flags: u32::from_ne_bytes(fixed[8..12].try_into().ok()?),
        mtu: 0,
        mac: None,
        master: 0,
        kind: None,
        vlan_id: None,
        parent: 0,
    };
    for (kind, v) in attrs(&payload[16..]) {
        match kind {
            IFLA_IFNAME => link.name = netlink::attr_str(v),
            IFLA_MTU => link.mtu = netlink::attr_u32(v).unwrap_or(0),
            IFLA_ADDRESS => link.mac = v.try_into().ok(),
            IFLA_MASTER => link.master = netlink::attr_u32(v).unwrap_or(0),
            IFLA_LINK => link.parent = netlink::attr_u32(v).unwrap_or(0),
            IFLA_LINKINFO => {
                for (k, v) in attrs(v) {
                    match k {
                        IFLA_INFO_KIND => link.kind = Some(netlink::attr_str(v)),
                        IFLA_INFO_DATA if link.kind.as_deref() == Some("vlan") => {
                            for (k, v) in attrs(v) {
                                if k == IFLA_VLAN_ID && v.len() >= 2 {
                                    link.vlan_id = Some(u16::from_ne_bytes([v[0], v[1]]));
                                }
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

fn parse_addr(payload: &[u8]) -> Option<Addr> {
    let fixed = payload.get(..8)?;
    if fixed[0] != AF_INET {
        return None;
    }
    let index = u32::from_ne_bytes(fixed[4..8].try_into().ok()?);
    let (mut local, mut address, mut valid_lft) = (None, None, None);
    for (kind, v) in attrs(&payload[8..]) {
        match kind {
            IFA_LOCAL => local = ipv4(v),
            IFA_ADDRESS => address = ipv4(v),
            IFA_CACHEINFO => valid_lft = v.get(4..8).and_then(|b| b.try_into().ok()).map(u32::from_ne_bytes).filter(|&v| v != u32::MAX),
            _ => {}
        }
    }
    let cidr = Ipv4Cidr::new(local.or(address)?, fixed[1]).ok()?;
    Some(Addr { index, cidr, valid_lft })
}

fn parse_route(payload: &[u8]) -> Option<Route> {
    let fixed = payload.get(..12)?;
    if fixed[0] != AF_INET || fixed[7] != RTN_UNICAST {
        return None;
    }
    let mut table = fixed[4] as u32;
    let mut r = Route { dst: Ipv4Addr::UNSPECIFIED, dst_len: fixed[1], gateway: None, oif: 0, protocol: fixed[5], priority: None };
    for (kind, v) in attrs(&payload[12..]) {
        match kind {
            RTA_DST => r.dst = ipv4(v).unwrap_or(Ipv4Addr::UNSPECIFIED),
            RTA_GATEWAY => r.gateway = ipv4(v),
            RTA_OIF => r.oif = netlink::attr_u32(v).unwrap_or(0),
            RTA_PRIORITY => r.priority = netlink::attr_u32(v),
            RTA_TABLE => table = netlink::attr_u32(v).unwrap_or(table),
            _ => {}
        }
    }
    (table == RT_TABLE_MAIN).then_some(r)
}

/// The request socket: reads and changes.
#[derive(Debug)]
pub struct Rtnl {
    sock: Socket,
}

impl Rtnl {
    pub fn open() -> io::Result<Rtnl> {
        Ok(Rtnl { sock: Socket::open(0)? })
    }

    pub fn links(&mut self) -> io::Result<Vec<Link>> {
        let req = Request::new(netlink::RTM_GETLINK, 0, &ifinfomsg(0, 0, 0));
        Ok(self.sock.dump(req)?.iter().filter(|(t, _)| *t == netlink::RTM_NEWLINK).filter_map(|(_, p)| parse_link(p)).collect())
    }

    pub fn addrs(&mut self) -> io::Result<Vec<Addr>> {
        let req = Request::new(netlink::RTM_GETADDR, 0, &ifaddrmsg(0, 0));
        Ok(self.sock.dump(req)?.iter().filter(|(t, _)| *t == netlink::RTM_NEWADDR).filter_map(|(_, p)| parse_addr(p)).collect())
    }

    pub fn routes(&mut self) -> io::Result<Vec<Route>> {
        let mut fixed = [0u8; 12];
        fixed[0] = AF_INET;
        let req = Request::new(netlink::RTM_GETROUTE, 0, &fixed);
        Ok(self.sock.dump(req)?.iter().filter(|(t, _)| *t == netlink::RTM_NEWROUTE).filter_map(|(_, p)| parse_route(p)).collect())
    }

    /// Creates a device of `kind` ("bridge", "vlan", "dummy", ...), down.
    fn create(&mut self, name: &str, kind: &str, parent: u32, vlan_id: Option<u16>) -> io::Result<()> {
        let mut req = Request::new(netlink::RTM_NEWLINK, netlink::NLM_F_CREATE | netlink::NLM_F_EXCL, &ifinfomsg(0, 0, 0));
        req.attr_str(IFLA_IFNAME, name);
        if parent != 0 {
            req.attr_u32(IFLA_LINK, parent);
        }
        let info = req.begin_nested(IFLA_LINKINFO);
        req.attr_str(IFLA_INFO_KIND, kind);
        if let Some(id) = vlan_id {
            let data = req.begin_nested(IFLA_INFO_DATA);
            req.attr(IFLA_VLAN_ID, &id.to_ne_bytes());
            req.end_nested(data);
        }
        req.end_nested(info);
        self.sock.request(req)
    }

    pub fn create_bridge(&mut self, name: &str) -> io::Result<()> {
        self.create(name, "bridge", 0, None)
    }

    /// An 802.1Q device `name` for VLAN `id` on the device `parent` (an index).
    pub fn create_vlan(&mut self, name: &str, parent: u32, id: u16) -> io::Result<()> {
        self.create(name, "vlan", parent, Some(id))
    }

    /// A device of a kind that needs no options (tests: "dummy").
    pub fn create_simple(&mut self, name: &str, kind: &str) -> io::Result<()> {
        self.create(name, kind, 0, None)
    }

    pub fn delete_link(&mut self, index: u32) -> io::Result<()> {
        self.sock.request(Request::new(netlink::RTM_DELLINK, 0, &ifinfomsg(index, 0, 0)))
    }

    pub fn set_link(&mut self, index: u32, change: &LinkChange) -> io::Result<()> {
        let (flags, mask) = match change.up {
            Some(true) => (IFF_UP, IFF_UP),
            Some(false) => (0, IFF_UP),
            None => (0, 0),
        };
        let mut req = Request::new(netlink::RTM_NEWLINK, 0, &ifinfomsg(index, flags, mask));
        if let Some(m) = change.master {
            req.attr_u32(IFLA_MASTER, m);
        }
        if let Some(mtu) = change.mtu {
            req.attr_u32(IFLA_MTU, mtu);
        }
        if let Some(mac) = change.mac {
            req.attr(IFLA_ADDRESS, &mac);
        }
        self.sock.request(req)
    }

    /// Adds `cidr` to the device, or updates its lifetime (`valid_secs`, None: permanent)
    /// when it is there already.
    pub fn add_addr(&mut self, index: u32, cidr: Ipv4Cidr, valid_secs: Option<u32>) -> io::Result<()> {
        let mut req = Request::new(netlink::RTM_NEWADDR, netlink::NLM_F_CREATE | netlink::NLM_F_REPLACE, &ifaddrmsg(index, cidr.prefix()));
        req.attr(IFA_LOCAL, &cidr.addr().octets());
        req.attr(IFA_ADDRESS, &cidr.addr().octets());
        if cidr.prefix() < 31 {
            req.attr(IFA_BROADCAST, &cidr.broadcast().octets());
        }
        let lifetime = valid_secs.unwrap_or(u32::MAX);
        let mut info = [0u8; 16];
        info[0..4].copy_from_slice(&lifetime.to_ne_bytes());
        info[4..8].copy_from_slice(&lifetime.to_ne_bytes());
        req.attr(IFA_CACHEINFO, &info);
        self.sock.request(req)
    }

    pub fn del_addr(&mut self, index: u32, cidr: Ipv4Cidr) -> io::Result<()> {
        let mut req = Request::new(netlink::RTM_DELADDR, 0, &ifaddrmsg(index, cidr.prefix()));
        req.attr(IFA_LOCAL, &cidr.addr().octets());
        req.attr(IFA_ADDRESS, &cidr.addr().octets());
        self.sock.request(req)
    }

    /// The default route through `gateway` on device `oif`.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr, oif: u32, protocol: u8) -> io::Result<()> {
        let mut req = Request::new(netlink::RTM_NEWROUTE, netlink::NLM_F_CREATE | netlink::NLM_F_EXCL, &rtmsg(0, protocol));
        req.attr(RTA_GATEWAY, &gateway.octets());
        req.attr_u32(RTA_OIF, oif);
        req.attr_u32(RTA_TABLE, RT_TABLE_MAIN);
        self.sock.request(req)
    }

    pub fn del_route(&mut self, r: &Route) -> io::Result<()> {
        let mut req = Request::new(netlink::RTM_DELROUTE, 0, &rtmsg(r.dst_len, r.protocol));
        if r.dst_len > 0 {
            req.attr(RTA_DST, &r.dst.octets());
        }
        if let Some(gw) = r.gateway {
            req.attr(RTA_GATEWAY, &gw.octets());
        }
        if r.oif != 0 {
            req.attr_u32(RTA_OIF, r.oif);
        }
        if let Some(p) = r.priority {
            req.attr_u32(RTA_PRIORITY, p);
        }
        req.attr_u32(RTA_TABLE, RT_TABLE_MAIN);
        self.sock.request(req)
    }
}
