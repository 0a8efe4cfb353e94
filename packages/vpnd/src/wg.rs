//! vpn.toml -> the kernel: WireGuard devices (rtnetlink link kind "wireguard"), their
//! keys, port and peers (generic netlink family "wireguard", crates/netlink's
//! `netlink::wireguard`), addresses, and routes for the allowed IPs outside the VPN subnets
//! (site-to-site peers' networks).
//!
//! Every step reads the kernel first and sends only the difference ([`plan`], a pure
//! function): a peer is added, changed or removed on its own (WGPEER_F_REMOVE_ME,
//! WGPEER_F_REPLACE_ALLOWEDIPS), never by replacing the device's peer list, so the other
//! peers' sessions go on. A second apply of the same configuration sends nothing.

use netlink::rtnetlink::{self as rt, LinkChange};
use netlink::wireguard::{self as wg, AllowedIp, Device, DeviceChange, PeerChange};
use netlink::{Socket, NETLINK_GENERIC, NETLINK_ROUTE};
use oxwrt_config::vpn::{Interface, IpNet, Secret, Vpn};
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;

/// What a peer should be in the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    pub public_key: [u8; 32],
    /// All zero: none.
    pub preshared_key: [u8; 32],
    /// None: whatever the kernel learned (a road warrior's current address).
    pub endpoint: Option<SocketAddr>,
    pub persistent_keepalive: u16,
    /// Sorted.
    pub allowed_ips: Vec<AllowedIp>,
}

pub fn allowed(net: &IpNet) -> AllowedIp {
    AllowedIp { addr: net.addr(), cidr: net.prefix() }
}

/// The change that turns `dev` (None: a new device) into `private_key`, `port` and
/// `peers`; peers of the kernel that are not wanted are removed one by one.
pub fn plan(ifname: &str, dev: Option<&Device>, private_key: &Secret, port: u16, peers: &[Want]) -> DeviceChange {
    let mut c = DeviceChange { ifname: ifname.to_string(), ..Default::default() };
    if dev.and_then(|d| d.private_key) != Some(private_key.0) {
        c.private_key = Some(private_key.0);
    }
    if dev.map(|d| d.listen_port) != Some(port) {
        c.listen_port = Some(port);
    }
    let have = dev.map(|d| d.peers.as_slice()).unwrap_or(&[]);
    for k in have {
        if !peers.iter().any(|w| w.public_key == k.public_key) {
            c.peers.push(PeerChange::remove(k.public_key));
        }
    }
    for w in peers {
        let mut p = PeerChange {
            public_key: w.public_key,
            remove: false,
            preshared_key: None,
            endpoint: None,
            persistent_keepalive: None,
            replace_allowed_ips: false,
            allowed_ips: Vec::new(),
        };
        match have.iter().find(|k| k.public_key == w.public_key) {
            None => {
                p.preshared_key = (w.preshared_key != [0; 32]).then_some(w.preshared_key);
                p.endpoint = w.endpoint;
                p.persistent_keepalive = (w.persistent_keepalive != 0).then_some(w.persistent_keepalive);
                p.replace_allowed_ips = true;
                p.allowed_ips = w.allowed_ips.clone();
                c.peers.push(p);
            }
            Some(k) => {
                let mut changed = false;
                if k.preshared_key != w.preshared_key {
                    p.preshared_key = Some(w.preshared_key);
                    changed = true;
                }
                if w.endpoint.is_some() && k.endpoint != w.endpoint {
                    p.endpoint = w.endpoint;
                    changed = true;
                }
                if k.persistent_keepalive != w.persistent_keepalive {
                    p.persistent_keepalive = Some(w.persistent_keepalive);
                    changed = true;
                }
                let mut ips = k.allowed_ips.clone();
                ips.sort();
                if ips != w.allowed_ips {
                    p.replace_allowed_ips = true;
                    p.allowed_ips = w.allowed_ips.clone();
                    changed = true;
                }
                if changed {
                    c.peers.push(p);
                }
            }
        }
    }
    c
}

/// The peers of `iface` as the kernel should have them: enabled ones, keys read from
/// their files, endpoints resolved. A peer whose preshared key file or endpoint cannot
/// be read is left out, with why (the others are applied).
pub fn wanted(vpn: &Vpn, iface: &Interface) -> (Vec<Want>, Vec<String>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for p in vpn.peers_of(&iface.name).filter(|p| p.enabled) {
        let psk = match &p.preshared_key_file {
            None => [0; 32],
            Some(f) => match crate::keys::read_key_file(Path::new(f)) {
                Ok(k) => k.0,
                Err(e) => {
                    problems.push(format!("peer {}: {e}; the peer is left out", p.name));
                    continue;
                }
            },
        };
        let endpoint = match &p.endpoint {
            None => None,
            Some(e) => match (e.host.as_str(), e.port).to_socket_addrs().map(|mut a| a.next()) {
                Ok(Some(a)) => Some(a),
                Ok(None) | Err(_) => {
                    problems.push(format!(
                        "peer {}: cannot resolve the endpoint {e}; it is added without one (it can still call in), retried at the next apply",
                        p.name
                    ));
                    None
                }
            },
        };
        let mut ips: Vec<AllowedIp> = p.allowed_ips.iter().map(allowed).collect();
        ips.sort();
        out.push(Want { public_key: p.public_key.0, preshared_key: psk, endpoint, persistent_keepalive: p.persistent_keepalive, allowed_ips: ips });
    }
    (out, problems)
}

/// The routes an interface needs beyond its own subnets: allowed IPs of its enabled peers
/// that are not inside one of the interface's address subnets.
pub fn routes(vpn: &Vpn, iface: &Interface) -> BTreeSet<(IpAddr, u8)> {
    let subnets: Vec<IpNet> = iface.address.iter().map(|a| a.network()).collect();
    vpn.peers_of(&iface.name)
        .filter(|p| p.enabled)
        .flat_map(|p| p.allowed_ips.iter())
        .filter(|n| !subnets.iter().any(|s| s.prefix() <= n.prefix() && s.contains(n.addr())))
        .map(|n| (n.addr(), n.prefix()))
        .collect()
}

/// The kernel connections: rtnetlink and the resolved WireGuard family.
pub struct Kernel {
    pub rtnl: Socket,
    pub genl: Socket,
    pub family: u16,
}

/// What one apply did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    pub created: bool,
    pub messages: usize,
    pub peers_added: usize,
    pub peers_changed: usize,
    pub peers_removed: usize,
    pub problems: Vec<String>,
}

impl std::fmt::Display for Applied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.messages == 0 && !self.created {
            return write!(f, "nothing to change");
        }
        write!(f, "{} peers added, {} changed, {} removed", self.peers_added, self.peers_changed, self.peers_removed)?;
        if self.created {
            write!(f, " (device created)")?;
        }
        Ok(())
    }
}

fn nl(what: &str) -> impl Fn(netlink::Error) -> String + '_ {
    move |e| {
        let hint = match e.errno() {
            Some(libc::EPERM) | Some(libc::EACCES) => "; vpnd needs CAP_NET_ADMIN",
            Some(libc::EOPNOTSUPP) if what.contains("create") => "; the kernel has no WireGuard (CONFIG_WIREGUARD)",
            _ => "",
        };
        format!("{what}: {e}{hint}")
    }
}

impl Kernel {
    /// Opens both sockets and resolves the WireGuard family.
    pub fn open() -> Result<Kernel, String> {
        let rtnl = Socket::open(NETLINK_ROUTE, 0).map_err(nl("rtnetlink socket"))?;
        let mut genl = Socket::open(NETLINK_GENERIC, 0).map_err(nl("generic netlink socket"))?;
        genl.set_ext_ack();
        let family = match genl.resolve_family(wg::FAMILY) {
            Ok(f) => f.id,
            Err(e) if e.errno() == Some(libc::ENOENT) => {
                return Err("the kernel has no WireGuard (generic netlink family \"wireguard\" missing): build it with CONFIG_WIREGUARD=y".into())
            }
            Err(e) => return Err(nl("resolving the generic netlink family \"wireguard\"")(e)),
        };
        Ok(Kernel { rtnl, genl, family })
    }

    pub fn links(&mut self) -> Result<Vec<rt::Link>, String> {
        let parts = self.rtnl.dump(rt::get_links()).map_err(nl("dumping links"))?;
        Ok(parts.iter().filter(|(t, _)| *t == rt::RTM_NEWLINK).filter_map(|(_, p)| rt::parse_link(p)).collect())
    }

    /// The device `name` as the kernel has it (None: no such WireGuard device).
    pub fn device(&mut self, name: &str) -> Result<Option<Device>, String> {
        match self.genl.dump(wg::get_device(self.family, name)) {
            Ok(parts) => Ok(wg::parse_device(self.family, &parts)),
            Err(e) if e.errno() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(nl(&format!("reading WireGuard device {name}"))(e)),
        }
    }

    /// Applies one interface: link, MTU, keys, port, peers, addresses, routes, up.
    pub fn apply(&mut self, vpn: &Vpn, iface: &Interface, private_key: &Secret) -> Result<Applied, String> {
        let mut done = Applied::default();
        let mut link = self.links()?.into_iter().find(|l| l.name == iface.name);
        if let Some(l) = &link {
            if l.kind.as_deref() != Some("wireguard") {
                return Err(format!(
                    "{} exists and is not a WireGuard device (kind {}); rename the interface in vpn.toml",
                    iface.name,
                    l.kind.as_deref().unwrap_or("none")
                ));
            }
        }
        if link.is_none() {
            self.rtnl.request(rt::create_link(&iface.name, "wireguard", 0)).map_err(nl(&format!("create WireGuard device {}", iface.name)))?;
            done.created = true;
            link = self.links()?.into_iter().find(|l| l.name == iface.name);
        }
        let link = link.ok_or_else(|| format!("{} was created but is not in the link list", iface.name))?;
        let dev = self.device(&iface.name)?;
        let (want, problems) = wanted(vpn, iface);
        done.problems = problems;
        let change = plan(&iface.name, dev.as_ref(), private_key, iface.listen_port, &want);
        for p in &change.peers {
            if p.remove {
                done.peers_removed += 1;
            } else if dev.as_ref().is_some_and(|d| d.peers.iter().any(|k| k.public_key == p.public_key)) {
                done.peers_changed += 1;
            } else {
                done.peers_added += 1;
            }
        }
        for req in wg::set_device(self.family, &change, wg::SET_MESSAGE_LIMIT) {
            let what = req.what();
            self.genl.request(req).map_err(|e| {
                let hint =
                    if e.errno() == Some(libc::EADDRINUSE) { format!("; UDP port {} is taken by another program", iface.listen_port) } else { String::new() };
                format!("{what}: {e}{hint}")
            })?;
            done.messages += 1;
        }
        // MTU and up.
        let mtu = u32::from(iface.mtu);
        if link.mtu != mtu || !link.is_up() {
            let ch = LinkChange { up: Some(true), mtu: (link.mtu != mtu).then_some(mtu), ..Default::default() };
            self.rtnl.request(rt::set_link(link.index, &ch)).map_err(nl(&format!("set {} up, MTU {mtu}", iface.name)))?;
            done.messages += 1;
        }
        done.messages += self.addresses(link.index, iface)?;
        done.messages += self.routes(link.index, &routes(vpn, iface))?;
        Ok(done)
    }

    fn addresses(&mut self, index: u32, iface: &Interface) -> Result<usize, String> {
        let parts = self.rtnl.dump(rt::get_addrs(rt::AF_UNSPEC)).map_err(nl("dumping addresses"))?;
        let have: Vec<rt::Addr> =
            parts.iter().filter(|(t, _)| *t == rt::RTM_NEWADDR).filter_map(|(_, p)| rt::parse_addr(p)).filter(|a| a.index == index).collect();
        let mut n = 0;
        for a in &have {
            let Some(ip) = a.addr() else { continue };
            let link_local = matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80);
            if !link_local && !iface.address.iter().any(|w| w.addr() == ip && w.prefix() == a.prefix_len) {
                self.rtnl.request(rt::del_addr(index, ip, a.prefix_len)).map_err(nl(&format!("remove {ip}/{} from {}", a.prefix_len, iface.name)))?;
                n += 1;
            }
        }
        for w in &iface.address {
            if !have.iter().any(|a| a.addr() == Some(w.addr()) && a.prefix_len == w.prefix()) {
                self.rtnl.request(rt::add_addr(index, w.addr(), w.prefix(), None)).map_err(nl(&format!("add {w} to {}", iface.name)))?;
                n += 1;
            }
        }
        Ok(n)
    }

    fn routes(&mut self, index: u32, want: &BTreeSet<(IpAddr, u8)>) -> Result<usize, String> {
        let mut have = Vec::new();
        for family in [rt::AF_INET, rt::AF_INET6] {
            let parts = self.rtnl.dump(rt::get_routes(family)).map_err(nl("dumping routes"))?;
            have.extend(
                parts
                    .iter()
                    .filter(|(t, _)| *t == rt::RTM_NEWROUTE)
                    .filter_map(|(_, p)| rt::parse_route(p))
                    .filter(|r| r.oif == index && r.protocol == rt::RTPROT_STATIC && r.table == rt::RT_TABLE_MAIN),
            );
        }
        let mut n = 0;
        for r in &have {
            let key = (r.dst.unwrap_or(if r.family == rt::AF_INET { IpAddr::from([0u8; 4]) } else { IpAddr::from([0u16; 8]) }), r.dst_len);
            if !want.contains(&key) {
                self.rtnl.request(rt::del_route(r)).map_err(nl("remove a route of a removed peer"))?;
                n += 1;
            }
        }
        for (dst, len) in want {
            if !have.iter().any(|r| r.dst == Some(*dst) && r.dst_len == *len) {
                let route = route(*dst, *len, index);
                self.rtnl.request(rt::add_route(&route)).map_err(nl(&format!("add the route {dst}/{len}")))?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Deletes WireGuard devices that are not in `keep` (interfaces removed from vpn.toml).
    pub fn remove_others(&mut self, keep: &[&str]) -> Result<Vec<String>, String> {
        let mut gone = Vec::new();
        for l in self.links()? {
            if l.kind.as_deref() == Some("wireguard") && !keep.contains(&l.name.as_str()) {
                self.rtnl.request(rt::delete_link(l.index)).map_err(nl(&format!("delete {}", l.name)))?;
                gone.push(l.name);
            }
        }
        Ok(gone)
    }
}

fn route(dst: IpAddr, len: u8, oif: u32) -> rt::Route {
    match dst {
        IpAddr::V4(a) => rt::Route::v4(Some(a), len, None, oif, rt::RTPROT_STATIC),
        IpAddr::V6(_) => rt::Route { family: rt::AF_INET6, dst: Some(dst), ..rt::Route::v4(None, len, None, oif, rt::RTPROT_STATIC) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink::wireguard::Peer;

    fn want(i: u8, ips: &[&str]) -> Want {
        let mut allowed_ips: Vec<AllowedIp> = ips.iter().map(|s| allowed(&s.parse().unwrap())).collect();
        allowed_ips.sort();
        Want { public_key: [i; 32], preshared_key: [0; 32], endpoint: None, persistent_keepalive: 0, allowed_ips }
    }

    fn kernel_of(wants: &[Want]) -> Device {
        Device {
            ifname: "wg0".into(),
            private_key: Some([1; 32]),
            listen_port: 51820,
            peers: wants
                .iter()
                .map(|w| Peer {
                    public_key: w.public_key,
                    preshared_key: w.preshared_key,
                    persistent_keepalive: w.persistent_keepalive,
                    endpoint: Some("198.51.100.7:40000".parse().unwrap()),
                    allowed_ips: w.allowed_ips.iter().rev().copied().collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_new_device_gets_everything() {
        let w = [want(2, &["10.8.0.2/32"]), want(3, &["10.8.0.3/32", "192.168.50.0/24"])];
        let c = plan("wg0", None, &Secret([1; 32]), 51820, &w);
        assert_eq!(c.private_key, Some([1; 32]));
        assert_eq!(c.listen_port, Some(51820));
        assert!(!c.replace_peers);
        assert_eq!(c.peers.len(), 2);
        assert!(c.peers.iter().all(|p| p.replace_allowed_ips && !p.remove));
    }

    #[test]
    fn the_same_state_plans_nothing_even_with_a_roamed_endpoint() {
        let w = [want(2, &["10.8.0.2/32"]), want(3, &["10.8.0.3/32", "192.168.50.0/24"])];
        let c = plan("wg0", Some(&kernel_of(&w)), &Secret([1; 32]), 51820, &w);
        assert!(c.is_empty(), "{c:?}");
    }

    #[test]
    fn one_peer_changes_alone() {
        let w = [want(2, &["10.8.0.2/32"]), want(3, &["10.8.0.3/32"]), want(4, &["10.8.0.4/32"])];
        let dev = kernel_of(&w);
        // Peer 3 removed, peer 4 gets another subnet, peer 5 added.
        let new = [w[0].clone(), want(4, &["10.8.0.4/32", "10.9.0.0/24"]), want(5, &["10.8.0.5/32"])];
        let c = plan("wg0", Some(&dev), &Secret([1; 32]), 51820, &new);
        assert_eq!(c.private_key, None);
        assert_eq!(c.listen_port, None);
        let summary: Vec<(u8, bool, bool, usize)> = c.peers.iter().map(|p| (p.public_key[0], p.remove, p.replace_allowed_ips, p.allowed_ips.len())).collect();
        assert_eq!(summary, [(3, true, false, 0), (4, false, true, 2), (5, false, true, 1)]);
        // A new key or port touches only those.
        let c = plan("wg0", Some(&dev), &Secret([9; 32]), 51821, &w);
        assert_eq!((c.private_key, c.listen_port, c.peers.len()), (Some([9; 32]), Some(51821), 0));
    }

    #[test]
    fn keepalive_psk_and_endpoint_changes_are_seen() {
        let w = [want(2, &["10.8.0.2/32"])];
        let dev = kernel_of(&w);
        let mut n = w[0].clone();
        n.persistent_keepalive = 25;
        n.preshared_key = [7; 32];
        n.endpoint = Some("203.0.113.9:51820".parse().unwrap());
        let c = plan("wg0", Some(&dev), &Secret([1; 32]), 51820, &[n]);
        assert_eq!(c.peers.len(), 1);
        let p = &c.peers[0];
        assert_eq!((p.persistent_keepalive, p.preshared_key, p.replace_allowed_ips), (Some(25), Some([7; 32]), false));
        assert_eq!(p.endpoint, Some("203.0.113.9:51820".parse().unwrap()));
    }

    #[test]
    fn routes_are_the_allowed_ips_outside_the_vpn_subnets() {
        let vpn = Vpn::parse(
            "[[interface]]\nname = \"wg0\"\naddress = [\"10.8.0.1/24\"]\n\
             [[peer]]\nname = \"a\"\npublic_key = \"xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\"\nallowed_ips = [\"10.8.0.2/32\"]\n\
             [[peer]]\nname = \"b\"\npublic_key = \"TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=\"\nallowed_ips = [\"10.8.0.3/32\", \"192.168.50.0/24\"]\n\
             [[peer]]\nname = \"c\"\npublic_key = \"HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=\"\nallowed_ips = [\"192.168.60.0/24\"]\nenabled = false\n",
        )
        .unwrap();
        let r = routes(&vpn, &vpn.interfaces[0]);
        assert_eq!(r.into_iter().map(|(a, l)| format!("{a}/{l}")).collect::<Vec<_>>(), ["192.168.50.0/24"]);
    }
}
