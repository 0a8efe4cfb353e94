//! The configuration onto the kernel: LAN bridge and its ports, VLAN devices, links up,
//! WAN MTU and MAC address, the LAN address, the WAN's address and default route.
//!
//! Every function reads the kernel's state first and asks only for what differs, so
//! applying the same configuration again sends no change request. Each change made is
//! logged (`netd: created bridge br-lan`) and listed in the [`Report`]; what cannot be done
//! now (a port that does not exist yet) is a problem in the report, and is tried again the
//! next time (netd applies again when a link appears).

use crate::rtnl::{Addr, Link, LinkChange, Rtnl, RTPROT_DHCP, RTPROT_STATIC};
use oxwrt_config::{Ipv4Cidr, Network, WanProto};
use std::io;
use std::net::Ipv4Addr;

/// What an apply did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Changes made, in order, as logged.
    pub changes: Vec<String>,
    /// What could not be done (missing devices, refused requests).
    pub problems: Vec<String>,
}

impl Report {
    fn changed(&mut self, what: String) {
        crate::say!("{what}");
        self.changes.push(what);
    }

    fn problem(&mut self, what: String) {
        self.problems.push(what);
    }

    pub fn merge(&mut self, other: Report) {
        self.changes.extend(other.changes);
        self.problems.extend(other.problems);
    }
}

/// The WAN's IPv4 configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WanAddress {
    /// `proto = "static"`: permanent address, default route through `gateway`.
    Static { cidr: Ipv4Cidr, gateway: Ipv4Addr },
    /// A DHCP lease: the address expires with the lease (the kernel removes it even if
    /// netd is not running), the default route through the lease's router if any.
    Lease { cidr: Ipv4Cidr, gateway: Option<Ipv4Addr>, valid_secs: Option<u32> },
    /// No address (DHCP without a lease): the WAN's addresses and default route removed.
    None,
}

/// A port name like `eth0.1`: the VLAN device for VLAN 1 on `eth0`.
pub fn vlan_of(name: &str) -> Option<(&str, u16)> {
    let (parent, id) = name.rsplit_once('.')?;
    let id: u16 = id.parse().ok()?;
    (!parent.is_empty() && id < 4095 && id.to_string() == name[parent.len() + 1..]).then_some((parent, id))
}

fn find<'a>(links: &'a [Link], name: &str) -> Option<&'a Link> {
    links.iter().find(|l| l.name == name)
}

fn fmt_mac(m: [u8; 6]) -> String {
    oxwrt_config::MacAddr(m).to_string()
}

/// Makes sure the device `name` exists: creates the VLAN device of an `eth0.N` name when its
/// parent exists. Returns whether it exists now.
fn ensure_device(rtnl: &mut Rtnl, links: &mut Vec<Link>, name: &str, role: &str, report: &mut Report) -> io::Result<bool> {
    if find(links, name).is_some() {
        return Ok(true);
    }
    let Some((parent, id)) = vlan_of(name) else {
        report.problem(format!("{role} {name}: no such device (applied when it appears)"));
        return Ok(false);
    };
    let Some(p) = find(links, parent).cloned() else {
        report.problem(format!("{role} {name}: no device {parent} for VLAN {id} (applied when it appears)"));
        return Ok(false);
    };
    match rtnl.create_vlan(name, p.index, id) {
        Ok(()) => report.changed(format!("created VLAN device {name} (VLAN {id} on {parent})")),
        Err(e) => {
            report.problem(format!("{role} {name}: cannot create VLAN {id} on {parent}: {e}"));
            return Ok(false);
        }
    }
    if !p.is_up() {
        set(rtnl, &p, LinkChange { up: Some(true), ..LinkChange::default() }, format!("{parent} up"), report);
    }
    *links = rtnl.links()?;
    Ok(true)
}

/// One link change request, logged; a refusal becomes a problem.
fn set(rtnl: &mut Rtnl, link: &Link, change: LinkChange, what: String, report: &mut Report) -> bool {
    match rtnl.set_link(link.index, &change) {
        Ok(()) => {
            report.changed(what);
            true
        }
        Err(e) => {
            report.problem(format!("{what}: {e}"));
            false
        }
    }
}

/// Links: VLAN devices, the LAN bridge with exactly the configured ports, the WAN's MTU
/// and MAC address, everything up. `old`: the configuration applied before, if any (a
/// renamed bridge is deleted).
pub fn apply_links(rtnl: &mut Rtnl, old: Option<&Network>, net: &Network) -> io::Result<Report> {
    apply_links_with(rtnl, old, net, true)
}

/// [`apply_links`]; `wan` false leaves the WAN device alone (netd holds it down while the
/// firewall is not loaded: [`crate::daemon`]).
pub fn apply_links_with(rtnl: &mut Rtnl, old: Option<&Network>, net: &Network, wan: bool) -> io::Result<Report> {
    let mut report = Report::default();
    let mut links = rtnl.links()?;

    if let Some(old) = old {
        if old.lan.bridge != net.lan.bridge {
            if let Some(b) = find(&links, &old.lan.bridge).filter(|l| l.kind.as_deref() == Some("bridge")) {
                match rtnl.delete_link(b.index) {
                    Ok(()) => report.changed(format!("deleted bridge {} (the LAN bridge is now {})", old.lan.bridge, net.lan.bridge)),
                    Err(e) => report.problem(format!("cannot delete the old bridge {}: {e}", old.lan.bridge)),
                }
                links = rtnl.links()?;
            }
        }
    }

    // The bridge.
    let bridge = &net.lan.bridge;
    match find(&links, bridge) {
        Some(l) if l.kind.as_deref() != Some("bridge") => {
            report.problem(format!("lan.bridge {bridge}: a device of that name exists and is not a bridge"));
        }
        Some(_) => {}
        None => match rtnl.create_bridge(bridge) {
            Ok(()) => {
                report.changed(format!("created bridge {bridge}"));
                links = rtnl.links()?;
            }
            Err(e) => report.problem(format!("cannot create bridge {bridge}: {e}")),
        },
    }
    let bridge_index = find(&links, bridge).filter(|l| l.kind.as_deref() == Some("bridge")).map(|l| l.index);

    // The WAN device: MAC address (down for drivers that refuse a change while up), MTU.
    if wan && ensure_device(rtnl, &mut links, &net.wan.device, "wan.device", &mut report)? {
        let wan = find(&links, &net.wan.device).cloned().expect("ensure_device found it");
        if let Some(mac) = net.wan.mac.map(|m| m.octets()) {
            if wan.mac != Some(mac) {
                let change = LinkChange { mac: Some(mac), ..LinkChange::default() };
                let what = format!("{} MAC address {}", wan.name, fmt_mac(mac));
                if rtnl.set_link(wan.index, &change).is_ok() {
                    report.changed(what);
                } else if wan.is_up() {
                    set(rtnl, &wan, LinkChange { up: Some(false), ..LinkChange::default() }, format!("{} down", wan.name), &mut report);
                    set(rtnl, &wan, change, what, &mut report);
                } else {
                    set(rtnl, &wan, change, what, &mut report);
                }
                links = rtnl.links()?;
            }
        }
        let wan = find(&links, &net.wan.device).cloned().expect("still there");
        if let Some(mtu) = net.wan.mtu.map(u32::from) {
            if wan.mtu != mtu {
                set(rtnl, &wan, LinkChange { mtu: Some(mtu), ..LinkChange::default() }, format!("{} MTU {mtu}", wan.name), &mut report);
            }
        }
        if !wan.is_up() {
            set(rtnl, &wan, LinkChange { up: Some(true), ..LinkChange::default() }, format!("{} up", wan.name), &mut report);
        }
    }

    // The LAN ports.
    if let Some(bi) = bridge_index {
        for port in &net.lan.ports {
            if !ensure_device(rtnl, &mut links, port, "lan.ports", &mut report)? {
                continue;
            }
            let l = find(&links, port).cloned().expect("ensure_device found it");
            if l.master != bi {
                set(rtnl, &l, LinkChange { master: Some(bi), ..LinkChange::default() }, format!("{port} added to bridge {bridge}"), &mut report);
            }
            if !l.is_up() {
                set(rtnl, &l, LinkChange { up: Some(true), ..LinkChange::default() }, format!("{port} up"), &mut report);
            }
        }
        for l in links.iter().filter(|l| l.master == bi && !net.lan.ports.contains(&l.name)) {
            set(rtnl, l, LinkChange { master: Some(0), ..LinkChange::default() }, format!("{} removed from bridge {bridge}", l.name), &mut report);
        }
        let b = find(&links, bridge).cloned().expect("the bridge exists");
        if !b.is_up() {
            set(rtnl, &b, LinkChange { up: Some(true), ..LinkChange::default() }, format!("{bridge} up"), &mut report);
        }
    }
    Ok(report)
}

/// Makes `want` the only IPv4 address of the device `index` (named `name`); `want` None:
/// none. A lease's address is added again when its lifetime is to be renewed (`refresh`).
fn ensure_only_address(rtnl: &mut Rtnl, addrs: &[Addr], index: u32, name: &str, want: Option<(Ipv4Cidr, Option<u32>)>, refresh: bool, report: &mut Report) {
    let mut present = false;
    for a in addrs.iter().filter(|a| a.index == index) {
        if want.map(|(c, _)| c) == Some(a.cidr) {
            present = true;
            continue;
        }
        match rtnl.del_addr(index, a.cidr) {
            Ok(()) => report.changed(format!("removed address {} from {name}", a.cidr)),
            Err(e) => report.problem(format!("cannot remove {} from {name}: {e}", a.cidr)),
        }
    }
    if let Some((cidr, valid)) = want {
        if !present || refresh {
            let what = match (present, valid) {
                (true, Some(s)) => format!("{name} address {cidr} valid for {s} s"),
                (false, Some(s)) => format!("added address {cidr} to {name} (valid for {s} s)"),
                _ => format!("added address {cidr} to {name}"),
            };
            match rtnl.add_addr(index, cidr, valid) {
                Ok(()) => report.changed(what),
                Err(e) => report.problem(format!("cannot add {cidr} to {name}: {e}")),
            }
        }
    }
}

/// The LAN bridge's address: exactly `lan.address`.
pub fn apply_lan_address(rtnl: &mut Rtnl, net: &Network) -> io::Result<Report> {
    let mut report = Report::default();
    let links = rtnl.links()?;
    let Some(b) = find(&links, &net.lan.bridge) else {
        report.problem(format!("lan.address: no bridge {}", net.lan.bridge));
        return Ok(report);
    };
    let addrs = rtnl.addrs()?;
    ensure_only_address(rtnl, &addrs, b.index, &net.lan.bridge, Some((net.lan.address, None)), false, &mut report);
    Ok(report)
}

/// The WAN's address and default route (`device` is `wan.device`). Default routes through
/// other devices are removed: the WAN is the router's only way out.
pub fn apply_wan_address(rtnl: &mut Rtnl, device: &str, want: &WanAddress) -> io::Result<Report> {
    let mut report = Report::default();
    let links = rtnl.links()?;
    let Some(wan) = find(&links, device).cloned() else {
        report.problem(format!("wan.device {device}: no such device"));
        return Ok(report);
    };
    let addrs = rtnl.addrs()?;
    let (addr, gateway, protocol) = match *want {
        WanAddress::Static { cidr, gateway } => (Some((cidr, None)), Some(gateway), RTPROT_STATIC),
        WanAddress::Lease { cidr, gateway, valid_secs } => (Some((cidr, valid_secs)), gateway, RTPROT_DHCP),
        WanAddress::None => (None, None, RTPROT_DHCP),
    };
    // Routes first: removing an address takes the routes through it along silently.
    let routes = rtnl.routes()?;
    let mut present = false;
    for r in routes.iter().filter(|r| r.is_default()) {
        if gateway.is_some() && r.gateway == gateway && r.oif == wan.index && !present && addr.is_some() {
            present = true;
            continue;
        }
        let via = r.gateway.map(|g| g.to_string()).unwrap_or_else(|| "-".into());
        let dev = links.iter().find(|l| l.index == r.oif).map(|l| l.name.as_str()).unwrap_or("?");
        match rtnl.del_route(r) {
            Ok(()) => report.changed(format!("removed default route via {via} dev {dev}")),
            Err(e) => report.problem(format!("cannot remove the default route via {via} dev {dev}: {e}")),
        }
    }
    let refresh = matches!(want, WanAddress::Lease { valid_secs: Some(_), .. });
    ensure_only_address(rtnl, &addrs, wan.index, device, addr, refresh, &mut report);
    // A new address may have taken a kept route with the old one.
    if present && !rtnl.routes()?.iter().any(|r| r.is_default() && r.gateway == gateway && r.oif == wan.index) {
        present = false;
    }
    if let (Some(gw), false) = (gateway, present) {
        match rtnl.add_default_route(gw, wan.index, protocol) {
            Ok(()) => report.changed(format!("default route via {gw} dev {device}")),
            Err(e) => report.problem(format!("cannot add the default route via {gw} dev {device}: {e}")),
        }
    }
    Ok(report)
}

/// What the configuration says the WAN's address is, when it says (static); None for DHCP.
pub fn static_wan(net: &Network) -> Option<WanAddress> {
    match (net.wan.proto, net.wan.address, net.wan.gateway) {
        (WanProto::Static, Some(cidr), Some(gateway)) => Some(WanAddress::Static { cidr, gateway }),
        _ => None,
    }
}

/// The current IPv4 address of a device, if any (the first).
pub fn current_address(rtnl: &mut Rtnl, device: &str) -> io::Result<Option<Ipv4Cidr>> {
    let links = rtnl.links()?;
    let Some(l) = find(&links, device) else { return Ok(None) };
    Ok(rtnl.addrs()?.into_iter().find(|a| a.index == l.index).map(|a| a.cidr))
}

/// Everything of the configuration that does not come from DHCP: links, the LAN address,
/// a static WAN. `old`: what was applied before (None at start).
pub fn apply_all(rtnl: &mut Rtnl, old: Option<&Network>, net: &Network) -> io::Result<Report> {
    apply_all_with(rtnl, old, net, true)
}

/// [`apply_all`]; `wan` false: the LAN side only, the WAN device is not touched (not
/// brought up, no static address or route).
pub fn apply_all_with(rtnl: &mut Rtnl, old: Option<&Network>, net: &Network, wan: bool) -> io::Result<Report> {
    let mut report = apply_links_with(rtnl, old, net, wan)?;
    report.merge(apply_lan_address(rtnl, net)?);
    if let Some(old) = old {
        if old.wan.device != net.wan.device && find(&rtnl.links()?, &old.wan.device).is_some() {
            report.merge(apply_wan_address(rtnl, &old.wan.device, &WanAddress::None)?);
        }
    }
    if let Some(w) = static_wan(net).filter(|_| wan) {
        report.merge(apply_wan_address(rtnl, &net.wan.device, &w)?);
    }
    Ok(report)
}

/// The kernel's IPv4 forwarding switch (off by default: without it the router routes
/// nothing between LAN and WAN).
pub const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// Turns IPv4 forwarding on through `path` ([`IP_FORWARD`]); true when it was off. netd
/// calls it once the firewall is in place ([`crate::hooks::firewall`]), so nothing is
/// forwarded unfiltered; it never turns forwarding off.
pub fn enable_forwarding(path: &std::path::Path) -> io::Result<bool> {
    if std::fs::read_to_string(path)?.trim() == "1" {
        return Ok(false);
    }
    std::fs::write(path, "1\n")?;
    Ok(true)
}

/// Takes the WAN device down (no-op when it is missing or down): netd does this when the
/// firewall cannot be loaded. Returns whether it was up.
pub fn wan_down(rtnl: &mut Rtnl, device: &str) -> io::Result<bool> {
    let links = rtnl.links()?;
    let Some(l) = find(&links, device).filter(|l| l.is_up()) else { return Ok(false) };
    rtnl.set_link(l.index, &LinkChange { up: Some(false), ..LinkChange::default() })?;
    Ok(true)
}

/// Turns IPv4 forwarding off through `path` ([`IP_FORWARD`]); true when it was on.
pub fn disable_forwarding(path: &std::path::Path) -> io::Result<bool> {
    if std::fs::read_to_string(path)?.trim() == "0" {
        return Ok(false);
    }
    std::fs::write(path, "0\n")?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::{enable_forwarding, vlan_of};

    #[test]
    fn forwarding_is_turned_on_once() {
        let path = std::env::temp_dir().join(format!("netd-ip_forward-{}", std::process::id()));
        std::fs::write(&path, "0\n").unwrap();
        assert!(enable_forwarding(&path).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1\n");
        assert!(!enable_forwarding(&path).unwrap());
        std::fs::remove_file(&path).unwrap();
        assert!(enable_forwarding(&path).is_err());
    }

    #[test]
    fn vlan_names() {
        assert_eq!(vlan_of("eth0.1"), Some(("eth0", 1)));
        assert_eq!(vlan_of("eth0.0"), Some(("eth0", 0)));
        assert_eq!(vlan_of("eth1"), None);
        assert_eq!(vlan_of("eth0.01"), None);
        assert_eq!(vlan_of("eth0.4095"), None);
        assert_eq!(vlan_of(".1"), None);
        assert_eq!(vlan_of("br.lan"), None);
    }
}
