//! netd's rtnetlink, a thin layer over the `oxwrt-netlink` crate (`netlink::rtnetlink`
//! builds and parses the messages, `netlink::Socket` sends them): the links, the IPv4
//! addresses and the IPv4 unicast routes of the main table, in oxwrt-config's types, and
//! the change requests netd makes (create a bridge or a VLAN device, set a link's state,
//! master, MTU or MAC address, add and remove addresses and routes).
//!
//! Errors are `io::Error`s of the kernel's errno kind whose text names the refused
//! request (`netlink::Error`).

use netlink::rtnetlink::{self as rt, AF_INET, RTN_UNICAST};
use netlink::{Socket, NETLINK_ROUTE};
use oxwrt_config::Ipv4Cidr;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use netlink::rtnetlink::{parse_link, Link, LinkChange, IFF_UP, RTPROT_DHCP, RTPROT_STATIC, RT_TABLE_MAIN};

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

    fn to_rt(self) -> rt::Route {
        let dst = (self.dst_len > 0).then_some(self.dst);
        rt::Route { priority: self.priority, ..rt::Route::v4(dst, self.dst_len, self.gateway, self.oif, self.protocol) }
    }
}

fn v4(a: Option<IpAddr>) -> Option<Ipv4Addr> {
    match a {
        Some(IpAddr::V4(a)) => Some(a),
        _ => None,
    }
}

fn addr_of(a: rt::Addr) -> Option<Addr> {
    if a.family != AF_INET {
        return None;
    }
    let cidr = Ipv4Cidr::new(v4(a.addr())?, a.prefix_len).ok()?;
    Some(Addr { index: a.index, cidr, valid_lft: a.valid_lft })
}

fn route_of(r: rt::Route) -> Option<Route> {
    if r.family != AF_INET || r.kind != RTN_UNICAST || r.table != RT_TABLE_MAIN {
        return None;
    }
    Some(Route {
        dst: v4(r.dst).unwrap_or(Ipv4Addr::UNSPECIFIED),
        dst_len: r.dst_len,
        gateway: v4(r.gateway),
        oif: r.oif,
        protocol: r.protocol,
        priority: r.priority,
    })
}

/// The request socket: reads and changes.
#[derive(Debug)]
pub struct Rtnl {
    sock: Socket,
}

impl Rtnl {
    pub fn open() -> io::Result<Rtnl> {
        Ok(Rtnl { sock: Socket::open(NETLINK_ROUTE, 0)? })
    }

    fn request(&mut self, req: netlink::Request) -> io::Result<()> {
        Ok(self.sock.request(req)?)
    }

    /// The payloads of the dump's messages of type `ty`.
    fn dump(&mut self, req: netlink::Request, ty: u16) -> io::Result<Vec<Vec<u8>>> {
        Ok(self.sock.dump(req)?.into_iter().filter(|(t, _)| *t == ty).map(|(_, p)| p).collect())
    }

    pub fn links(&mut self) -> io::Result<Vec<Link>> {
        Ok(self.dump(rt::get_links(), rt::RTM_NEWLINK)?.iter().filter_map(|p| parse_link(p)).collect())
    }

    pub fn addrs(&mut self) -> io::Result<Vec<Addr>> {
        Ok(self.dump(rt::get_addrs(AF_INET), rt::RTM_NEWADDR)?.iter().filter_map(|p| rt::parse_addr(p)).filter_map(addr_of).collect())
    }

    pub fn routes(&mut self) -> io::Result<Vec<Route>> {
        Ok(self.dump(rt::get_routes(AF_INET), rt::RTM_NEWROUTE)?.iter().filter_map(|p| rt::parse_route(p)).filter_map(route_of).collect())
    }

    pub fn create_bridge(&mut self, name: &str) -> io::Result<()> {
        self.request(rt::create_link(name, "bridge", 0))
    }

    /// An 802.1Q device `name` for VLAN `id` on the device `parent` (an index).
    pub fn create_vlan(&mut self, name: &str, parent: u32, id: u16) -> io::Result<()> {
        self.request(rt::create_vlan(name, parent, id))
    }

    /// A device of a kind that needs no options (tests: "dummy").
    pub fn create_simple(&mut self, name: &str, kind: &str) -> io::Result<()> {
        self.request(rt::create_link(name, kind, 0))
    }

    pub fn delete_link(&mut self, index: u32) -> io::Result<()> {
        self.request(rt::delete_link(index))
    }

    pub fn set_link(&mut self, index: u32, change: &LinkChange) -> io::Result<()> {
        self.request(rt::set_link(index, change))
    }

    /// Adds `cidr` to the device, or updates its lifetime (`valid_secs`, None: permanent)
    /// when it is there already.
    pub fn add_addr(&mut self, index: u32, cidr: Ipv4Cidr, valid_secs: Option<u32>) -> io::Result<()> {
        self.request(rt::add_addr(index, IpAddr::V4(cidr.addr()), cidr.prefix(), valid_secs))
    }

    pub fn del_addr(&mut self, index: u32, cidr: Ipv4Cidr) -> io::Result<()> {
        self.request(rt::del_addr(index, IpAddr::V4(cidr.addr()), cidr.prefix()))
    }

    /// The default route through `gateway` on device `oif`.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr, oif: u32, protocol: u8) -> io::Result<()> {
        self.request(rt::add_route(&rt::Route::v4(None, 0, Some(gateway), oif, protocol)))
    }

    pub fn del_route(&mut self, r: &Route) -> io::Result<()> {
        self.request(rt::del_route(&r.to_rt()))
    }

    /// Adds or updates an IPv6 address with both lifetimes, without duplicate address
    /// detection (the router's own LAN addresses: usable at once, for the DNS listener).
    pub fn add_addr6(&mut self, index: u32, addr: Ipv6Addr, prefix: u8, preferred: u32, valid: u32) -> io::Result<()> {
        self.request(rt::add_addr_lifetimes(index, IpAddr::V6(addr), prefix, preferred, valid, rt::IFA_F_NODAD))
    }

    pub fn del_addr6(&mut self, index: u32, addr: Ipv6Addr, prefix: u8) -> io::Result<()> {
        self.request(rt::del_addr(index, IpAddr::V6(addr), prefix))
    }

    /// The IPv6 addresses (address, prefix length) of device `index`.
    pub fn addrs6(&mut self, index: u32) -> io::Result<Vec<(Ipv6Addr, u8)>> {
        let all = self.dump(rt::get_addrs(rt::AF_INET6), rt::RTM_NEWADDR)?;
        Ok(all
            .iter()
            .filter_map(|p| rt::parse_addr(p))
            .filter(|a| a.index == index)
            .filter_map(|a| match a.addr() {
                Some(IpAddr::V6(v6)) => Some((v6, a.prefix_len)),
                _ => None,
            })
            .collect())
    }

    /// The IPv6 neighbours (address, NUD state, link-layer address) on device `index`: one
    /// RTM_GETNEIGH dump (the kernel answers it at once, from its table).
    pub fn neighbours6(&mut self, index: u32) -> io::Result<Vec<(Ipv6Addr, u16, Vec<u8>)>> {
        let all = self.dump(rt::get_neighbours(rt::AF_INET6), rt::RTM_NEWNEIGH)?;
        Ok(all
            .iter()
            .filter_map(|p| rt::parse_neighbour(p))
            .filter(|n| n.index == index)
            .filter_map(|n| match (n.dst, n.lladdr) {
                (Some(IpAddr::V6(a)), Some(ll)) => Some((a, n.state, ll)),
                _ => None,
            })
            .collect())
    }

    /// An unreachable route for `prefix` (a delegated prefix: what of it is not on the LAN
    /// must not go back out of the WAN, RFC 7084 WPD-5). EEXIST when it is there.
    pub fn add_unreachable6(&mut self, prefix: Ipv6Addr, len: u8) -> io::Result<()> {
        match self.request(rt::add_route(&unreachable6(prefix, len))) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            other => other,
        }
    }

    pub fn del_unreachable6(&mut self, prefix: Ipv6Addr, len: u8) -> io::Result<()> {
        self.request(rt::del_route(&unreachable6(prefix, len)))
    }
}

/// The unreachable route for a delegated prefix (added and deleted by the same description).
fn unreachable6(prefix: Ipv6Addr, len: u8) -> rt::Route {
    rt::Route {
        family: rt::AF_INET6,
        dst_len: len,
        dst: Some(IpAddr::V6(prefix)),
        gateway: None,
        oif: 0,
        protocol: RTPROT_DHCP,
        priority: None,
        table: RT_TABLE_MAIN,
        scope: rt::RT_SCOPE_UNIVERSE,
        kind: rt::RTN_UNREACHABLE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ipv4_unicast_routes_of_the_main_table() {
        let mut r = rt::Route::v4(Some(Ipv4Addr::new(10, 0, 0, 0)), 8, None, 2, RTPROT_STATIC);
        r.priority = Some(5);
        let ours = route_of(r).unwrap();
        assert_eq!(ours.to_rt(), r, "netd's route converts back to the one it came from");
        assert!(route_of(rt::Route { table: rt::RT_TABLE_LOCAL, ..r }).is_none());
        assert!(route_of(rt::Route { kind: rt::RTN_LOCAL, ..r }).is_none());
        let default = route_of(rt::Route::v4(None, 0, Some(Ipv4Addr::new(192, 0, 2, 1)), 3, RTPROT_DHCP)).unwrap();
        assert!(default.is_default() && default.dst == Ipv4Addr::UNSPECIFIED);
    }

    #[test]
    fn ipv6_addresses_are_left_out() {
        let a = rt::Addr { family: rt::AF_INET6, prefix_len: 64, index: 1, local: None, address: Some("fe80::1".parse().unwrap()), valid_lft: None };
        assert!(addr_of(a).is_none());
        let a = rt::Addr { family: AF_INET, prefix_len: 24, index: 1, local: Some("10.0.0.1".parse().unwrap()), address: None, valid_lft: Some(60) };
        assert_eq!(addr_of(a).map(|a| (a.cidr.to_string(), a.valid_lft)), Some(("10.0.0.1/24".to_string(), Some(60))));
    }
}
