//! What the types cannot say: addresses inside the right subnets, pools that miss the
//! router, unique leases and forwards, valid Linux device names, a complete static WAN.
//! Every problem is collected (never only the first), each with its file, key and a fix.

use crate::firewall::Firewall;
use crate::network::{Network, WanProto};
use crate::problem::{File, Problem};
use crate::span::{path_string, Seg, Source};
use crate::types::Ipv4Cidr;
use crate::Config;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use Seg::{Index as I, Key as K};

/// Shortest lease the DHCP server accepts: shorter ones make clients renew constantly.
pub const MIN_LEASE_SECS: u32 = 120;
/// Largest DNS cache: entries cost RAM on 16 MiB routers.
pub const MAX_DNS_CACHE: u32 = 10_000;
/// `dns.rebind_domain` entries: each answer is checked against every one of them.
pub const MAX_REBIND_DOMAINS: usize = 64;
/// WAN MTU bounds: IPv4's minimum datagram size to common jumbo frames.
pub const MTU_RANGE: std::ops::RangeInclusive<u16> = 576..=9000;

pub(crate) struct Checker<'a> {
    network_src: Option<&'a Source<'a>>,
    firewall_src: Option<&'a Source<'a>>,
    pub(crate) problems: Vec<Problem>,
}

impl<'a> Checker<'a> {
    pub(crate) fn new(network_src: Option<&'a Source<'a>>, firewall_src: Option<&'a Source<'a>>) -> Self {
        Checker { network_src, firewall_src, problems: Vec::new() }
    }

    fn report(&mut self, file: File, path: &[Seg], message: impl Into<String>) {
        let src = match file {
            File::Network => self.network_src,
            File::Firewall => self.firewall_src,
            File::Sqm => None,
            File::Vpn | File::Web => None,
            // time.toml is checked by time.rs alone.
            File::Time => None,
        };
        let line_col = src.and_then(|s| s.locate(path));
        self.problems.push(Problem { file, key: path_string(path), line_col, message: message.into() });
    }

    fn net(&mut self, path: &[Seg], message: impl Into<String>) {
        self.report(File::Network, path, message)
    }

    fn fw(&mut self, path: &[Seg], message: impl Into<String>) {
        self.report(File::Firewall, path, message)
    }

    pub(crate) fn check(&mut self, cfg: &Config) {
        self.check_lan(&cfg.network);
        self.check_wan(&cfg.network);
        self.check_dhcp(&cfg.network);
        self.check_dns(&cfg.network);
        self.check_ipv6(&cfg.network);
        self.check_firewall(&cfg.firewall, cfg.network.lan.address);
    }

    fn check_lan(&mut self, n: &Network) {
        let lan = &n.lan;
        let a = lan.address;
        if !(8..=30).contains(&a.prefix()) {
            self.net(&[K("lan"), K("address")], format!("{a}: /{} is not a usable LAN prefix; use /8 to /30, e.g. 192.168.1.1/24", a.prefix()));
        } else if let Some(what) = special_address(a, a.addr()) {
            let suggestion = Ipv4Cidr::new(Ipv4Addr::from(u32::from(a.network()) + 1), a.prefix()).expect("prefix checked");
            self.net(&[K("lan"), K("address")], format!("{} is {what}, not a host address; use e.g. {suggestion}", a.addr()));
        }
        if lan.ports.is_empty() {
            self.net(&[K("lan"), K("ports")], "empty; list the devices to bridge into the LAN, e.g. [\"eth1\"]");
        }
        for (i, port) in lan.ports.iter().enumerate() {
            let path = [K("lan"), K("ports"), I(i)];
            if let Some(why) = bad_ifname(port) {
                self.net(&path, why);
            } else if lan.ports[..i].contains(port) {
                self.net(&path, format!("`{port}` is listed twice; remove one"));
            } else if *port == n.wan.device {
                self.net(&path, format!("`{port}` is also wan.device; a device is either LAN or WAN"));
            } else if *port == lan.bridge {
                self.net(&path, format!("`{port}` is the bridge itself (lan.bridge); list the devices to put into it"));
            }
        }
        if let Some(why) = bad_ifname(&lan.bridge) {
            self.net(&[K("lan"), K("bridge")], why);
        } else if lan.bridge == n.wan.device {
            self.net(&[K("lan"), K("bridge")], format!("`{}` is wan.device; name the bridge differently, e.g. \"br-lan\"", lan.bridge));
        }
    }

    fn check_wan(&mut self, n: &Network) {
        let wan = &n.wan;
        if let Some(why) = bad_ifname(&wan.device) {
            self.net(&[K("wan"), K("device")], why);
        }
        match wan.proto {
            WanProto::Static => {
                match wan.address {
                    None => self.net(
                        &[K("wan"), K("address")],
                        "missing: proto = \"static\" needs address and gateway, e.g. address = \"203.0.113.2/24\" (from your ISP)",
                    ),
                    Some(a) if a.prefix() < 31 && special_address(a, a.addr()).is_some() => {
                        let what = special_address(a, a.addr()).unwrap_or_default();
                        self.net(&[K("wan"), K("address")], format!("{} is {what}, not a host address; use the address your ISP gave you", a.addr()));
                    }
                    Some(a) => {
                        if a.subnet().overlaps(n.lan.address.subnet()) {
                            let l = n.lan.address;
                            self.net(
                                &[K("lan"), K("address")],
                                format!(
                                    "{l}: the LAN subnet {} overlaps the WAN subnet {} (wan.address); choose another LAN subnet{}",
                                    l.subnet(),
                                    a.subnet(),
                                    lan_suggestion(a).map(|c| format!(", e.g. {c}")).unwrap_or_default()
                                ),
                            );
                        }
                    }
                }
                match (wan.gateway, wan.address) {
                    (None, _) => {
                        self.net(&[K("wan"), K("gateway")], "missing: proto = \"static\" needs a gateway (your ISP's router), e.g. gateway = \"203.0.113.1\"")
                    }
                    (Some(g), Some(a)) if g == a.addr() => {
                        self.net(&[K("wan"), K("gateway")], format!("{g} is the router's own WAN address (wan.address); use your ISP's router"))
                    }
                    (Some(g), Some(a)) if a.prefix() < 31 && !a.is_host(g) => self.net(
                        &[K("wan"), K("gateway")],
                        format!("{g} is outside the WAN subnet {} (wan.address); the gateway must be a host on the WAN's own subnet", a.subnet()),
                    ),
                    _ => {}
                }
                for (i, dns) in wan.dns.iter().enumerate() {
                    if let Some(why) = bad_server(*dns, n.lan.address.addr()) {
                        self.net(&[K("wan"), K("dns"), I(i)], why);
                    }
                }
            }
            WanProto::Dhcp => {
                let only_static = "only used with proto = \"static\"; set wan.proto = \"static\" or remove this key";
                if wan.address.is_some() {
                    self.net(&[K("wan"), K("address")], only_static);
                }
                if wan.gateway.is_some() {
                    self.net(&[K("wan"), K("gateway")], only_static);
                }
                if !wan.dns.is_empty() {
                    self.net(&[K("wan"), K("dns")], "only used with proto = \"static\"; to use other DNS servers than the DHCP lease's, set dns.upstream");
                }
            }
        }
        if let Some(mtu) = wan.mtu {
            if !MTU_RANGE.contains(&mtu) {
                self.net(&[K("wan"), K("mtu")], format!("{mtu} is out of range; use 576 to 9000 (1500 for Ethernet, 1492 behind PPPoE)"));
            }
        }
        if let Some(mac) = wan.mac {
            if mac.is_zero() {
                self.net(&[K("wan"), K("mac")], format!("{mac} is all zero; use a unicast address, e.g. 02:00:00:00:00:01"));
            } else if mac.is_multicast() {
                self.net(
                    &[K("wan"), K("mac")],
                    format!("{mac} is a multicast address (lowest bit of the first byte set); use a unicast one, e.g. 02:00:00:00:00:01"),
                );
            }
        }
        if let Some(h) = &wan.hostname {
            if !is_label(h) {
                self.net(&[K("wan"), K("hostname")], bad_hostname(h));
            }
        }
    }

    /// `wan.ipv6_prefix_length`, `lan.ipv6_subnet` (fits into the /64s of that length),
    /// `lan.ula` (a /48 inside fd00::/8).
    fn check_ipv6(&mut self, n: &Network) {
        let len = n.wan.ipv6_prefix_length;
        if !crate::ipv6::PD_LENGTH_RANGE.contains(&len) {
            self.net(
                &[K("wan"), K("ipv6_prefix_length")],
                format!("/{len} cannot be asked for; use 40 to 64 (ISPs hand out /48, /56, /60 or /64; default 60)"),
            );
        } else if len < 64 && u32::from(n.lan.ipv6_subnet) >= 1u32 << (64 - u32::from(len)).min(16) {
            let count = 1u32 << (64 - u32::from(len)).min(16);
            self.net(
                &[K("lan"), K("ipv6_subnet")],
                format!("{} does not fit into a /{len} (wan.ipv6_prefix_length), which has {count} /64 subnets; use 0 to {}", n.lan.ipv6_subnet, count - 1),
            );
        } else if len == 64 && n.lan.ipv6_subnet != 0 {
            self.net(&[K("lan"), K("ipv6_subnet")], format!("{}: a /64 (wan.ipv6_prefix_length) has only subnet 0; use 0", n.lan.ipv6_subnet));
        }
        if let Some(u) = n.lan.ula {
            if !u.is_ula() || u.prefix_len() != 48 {
                self.net(
                    &[K("lan"), K("ula")],
                    format!("{u} is not a unique local /48; use fdXX:XXXX:XXXX::/48 with random X (RFC 4193), or remove the key to have one made up"),
                );
            }
        }
    }

    fn check_dhcp(&mut self, n: &Network) {
        let d = &n.dhcp;
        let lan = n.lan.address;
        let router = lan.addr();
        let lan_ok = (8..=30).contains(&lan.prefix());
        if d.enabled && lan_ok {
            let (start, end) = d.pool(lan);
            let mut pool_ok = true;
            for (key, ip, set) in [("start", start, d.start.is_some()), ("end", end, d.end.is_some())] {
                let shown = if set { ip.to_string() } else { format!("{ip} (the default)") };
                if !lan.contains(ip) {
                    pool_ok = false;
                    self.net(&[K("dhcp"), K(key)], format!("{shown} is outside the LAN subnet {} (lan.address); {}", lan.subnet(), inside_hint(lan)));
                } else if let Some(what) = special_address(lan, ip) {
                    pool_ok = false;
                    self.net(&[K("dhcp"), K(key)], format!("{shown} is {what}; {}", inside_hint(lan)));
                }
            }
            if pool_ok && start > end {
                self.net(&[K("dhcp"), K("end")], format!("the pool ends ({end}) before it starts ({start}); dhcp.end must not be lower than dhcp.start"));
            } else if pool_ok && start <= router && router <= end {
                let fix = if router < end {
                    format!("start it after the router, e.g. start = \"{}\"", Ipv4Addr::from(u32::from(router) + 1))
                } else {
                    format!("end it before the router, e.g. end = \"{}\"", Ipv4Addr::from(u32::from(router) - 1))
                };
                self.net(&[K("dhcp"), K("start")], format!("the pool {start} - {end} contains the router's own address {router} (lan.address); {fix}"));
            }
        }
        if d.lease_time.as_secs() < MIN_LEASE_SECS {
            self.net(&[K("dhcp"), K("lease_time")], format!("{} is too short: clients would renew all the time; use at least 2m (default 12h)", d.lease_time));
        }
        if !is_domain(&d.domain) {
            self.net(&[K("dhcp"), K("domain")], bad_domain(&d.domain));
        }
        let mut macs = BTreeMap::new();
        let mut ips = BTreeMap::new();
        let mut names = BTreeMap::new();
        for (i, lease) in d.static_leases.iter().enumerate() {
            let at = |key| [K("dhcp"), K("static"), I(i), K(key)];
            if let Some(first) = seen_before(&mut macs, lease.mac, i) {
                self.net(&at("mac"), format!("{} already has a static lease (dhcp.static[{first}]); one lease per MAC address", lease.mac));
            }
            if lan_ok && !lan.contains(lease.ip) {
                self.net(&at("ip"), format!("{} is outside the LAN subnet {}; {}", lease.ip, lan.subnet(), inside_hint(lan)));
            } else if lease.ip == router {
                self.net(&at("ip"), format!("{} is the router's own address (lan.address); choose another", lease.ip));
            } else if let Some(what) = special_address(lan, lease.ip).filter(|_| lan_ok) {
                self.net(&at("ip"), format!("{} is {what}; {}", lease.ip, inside_hint(lan)));
            } else if let Some(first) = seen_before(&mut ips, lease.ip, i) {
                let owner = d.static_leases[first].mac;
                self.net(&at("ip"), format!("{} is already given to {owner} (dhcp.static[{first}]); each static lease needs its own address", lease.ip));
            }
            if let Some(h) = &lease.hostname {
                if !is_label(h) {
                    self.net(&at("hostname"), bad_hostname(h));
                } else if let Some(first) = seen_before(&mut names, h.to_ascii_lowercase(), i) {
                    self.net(&at("hostname"), format!("`{h}` is already the hostname of dhcp.static[{first}]; hostnames must be unique"));
                }
            }
        }
    }

    fn check_dns(&mut self, n: &Network) {
        let dns = &n.dns;
        if dns.cache_size > MAX_DNS_CACHE {
            self.net(
                &[K("dns"), K("cache_size")],
                format!("{} is more than {MAX_DNS_CACHE}: every entry costs memory a small router does not have (default 150)", dns.cache_size),
            );
        }
        for (i, server) in dns.upstream.iter().enumerate() {
            if let Some(why) = bad_server(*server, n.lan.address.addr()) {
                self.net(&[K("dns"), K("upstream"), I(i)], why);
            }
        }
        if let Some(domain) = &dns.local_domain {
            if !is_domain(domain) {
                self.net(&[K("dns"), K("local_domain")], bad_domain(domain));
            }
        }
        if dns.rebind_domain.len() > MAX_REBIND_DOMAINS {
            self.net(
                &[K("dns"), K("rebind_domain")],
                format!("{} domains; at most {MAX_REBIND_DOMAINS} (a domain covers its subdomains)", dns.rebind_domain.len()),
            );
        }
        for (i, domain) in dns.rebind_domain.iter().enumerate() {
            if !is_domain(domain) {
                self.net(&[K("dns"), K("rebind_domain"), I(i)], bad_domain(domain));
            }
        }
    }

    fn check_firewall(&mut self, fw: &Firewall, lan: Ipv4Cidr) {
        let lan_ok = (8..=30).contains(&lan.prefix());
        let mut names = BTreeMap::new();
        for (i, f) in fw.forwards.iter().enumerate() {
            let at = |key| [K("forward"), I(i), K(key)];
            if f.name.trim().is_empty() {
                self.fw(&at("name"), "empty; give the forward a name, e.g. \"web server\"");
            } else if let Some(first) = seen_before(&mut names, f.name.as_str(), i) {
                self.fw(&at("name"), format!("`{}` is already the name of forward[{first}]; names must be unique", f.name));
            }
            if f.to == lan.addr() {
                self.fw(&at("to"), format!("{} is the router itself; its own services are never reachable from the WAN. Forward to a LAN host", f.to));
            } else if lan_ok && !lan.contains(f.to) {
                self.fw(&at("to"), format!("{} is outside the LAN subnet {} (network.toml lan.address); forwards go to LAN hosts", f.to, lan.subnet()));
            } else if let Some(what) = special_address(lan, f.to).filter(|_| lan_ok) {
                self.fw(&at("to"), format!("{} is {what}, not a host; forwards go to one LAN host", f.to));
            }
            if let Some(to_port) = f.to_port {
                if to_port.len() != f.wan_port.len() {
                    self.fw(
                        &at("to_port"),
                        format!(
                            "{to_port} is {} but wan_port {} is {}; a range is forwarded port by port, so both must be as long (or leave to_port out to keep the ports)",
                            ports(to_port.len()),
                            f.wan_port,
                            ports(f.wan_port.len())
                        ),
                    );
                }
            }
            if let Some((j, other)) = fw.forwards[..i].iter().enumerate().find(|(_, o)| o.proto.overlaps(f.proto) && o.wan_port.overlaps(f.wan_port)) {
                self.fw(
                    &at("wan_port"),
                    format!(
                        "{} ({}) is already forwarded by forward[{j}] (\"{}\", {} {}); a WAN port can go to one place only",
                        f.wan_port, f.proto, other.name, other.proto, other.wan_port
                    ),
                );
            }
        }
    }
}

/// The index `key` was first seen at, if before `i`; else records `i`.
fn seen_before<T: Ord>(seen: &mut BTreeMap<T, usize>, key: T, i: usize) -> Option<usize> {
    match seen.entry(key) {
        std::collections::btree_map::Entry::Occupied(first) => Some(*first.get()),
        std::collections::btree_map::Entry::Vacant(slot) => {
            slot.insert(i);
            None
        }
    }
}

fn ports(n: u32) -> String {
    if n == 1 {
        "1 port".into()
    } else {
        format!("{n} ports")
    }
}

/// "the network address of 192.168.1.0/24" or "the broadcast address of ..." when `ip` is one
/// of those in `net` (which has them only up to /30).
fn special_address(net: Ipv4Cidr, ip: Ipv4Addr) -> Option<String> {
    if net.prefix() > 30 || !net.contains(ip) {
        None
    } else if ip == net.network() {
        Some(format!("the network address of {}", net.subnet()))
    } else if ip == net.broadcast() {
        Some(format!("the broadcast address of {}", net.subnet()))
    } else {
        None
    }
}

/// "use an address from 192.168.1.2 to 192.168.1.254" (hosts of the LAN, router excluded
/// at the start when it is the first host).
fn inside_hint(lan: Ipv4Cidr) -> String {
    let first = u32::from(lan.network()) + 1;
    let first = if first == u32::from(lan.addr()) { first + 1 } else { first };
    let last = u32::from(lan.broadcast()) - 1;
    format!("use an address from {} to {}", Ipv4Addr::from(first), Ipv4Addr::from(last))
}

/// A LAN subnet that does not overlap `wan`.
fn lan_suggestion(wan: Ipv4Cidr) -> Option<Ipv4Cidr> {
    ["192.168.1.1/24", "192.168.2.1/24", "10.10.0.1/24", "172.16.0.1/24"].iter().filter_map(|s| s.parse::<Ipv4Cidr>().ok()).find(|c| !c.overlaps(wan.subnet()))
}

/// Why `ip` cannot be a DNS server to forward to, `router` being the router's LAN address:
/// the check of `wan.dns` and `dns.upstream`, and netd's of a WAN DHCP lease's servers.
pub fn bad_server(ip: Ipv4Addr, router: Ipv4Addr) -> Option<String> {
    if ip == router {
        Some(format!("{ip} is the router itself: the forwarder would ask itself; use your ISP's or a public DNS server, e.g. 9.9.9.9"))
    } else if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || ip.is_loopback() {
        Some(format!("{ip} is not a DNS server's address; use your ISP's or a public DNS server, e.g. 9.9.9.9"))
    } else {
        None
    }
}

/// Why `name` cannot be a Linux network device name (the kernel's `dev_valid_name`).
pub(crate) fn bad_ifname(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("empty; a Linux device name such as \"eth0\" is needed".into())
    } else if name.len() > 15 {
        Some(format!("`{name}` is {} characters long; Linux device names have at most 15", name.len()))
    } else if name == "." || name == ".." {
        Some(format!("`{name}` is not a valid Linux device name"))
    } else {
        let c = name.chars().find(|c| *c == '/' || *c == ':' || c.is_whitespace())?;
        Some(format!("`{name}` contains {c:?}; Linux device names cannot contain '/', ':' or whitespace"))
    }
}

/// The router's hostname (/etc/oxwrt/hostname, set by the web UI; init applies it at
/// boot): a DNS label. Err says what is wrong and what to use.
pub fn check_hostname(h: &str) -> Result<(), String> {
    if is_label(h) {
        Ok(())
    } else {
        Err(bad_hostname(h))
    }
}

/// A DNS label: 1-63 letters, digits and '-', not starting or ending with '-'.
fn is_label(s: &str) -> bool {
    !s.is_empty() && s.len() <= 63 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') && !s.starts_with('-') && !s.ends_with('-')
}

fn is_domain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_label)
}

fn bad_hostname(h: &str) -> String {
    format!("`{h}` is not a valid hostname; use letters, digits and '-' (at most 63, not starting or ending with '-'), e.g. \"nas\"")
}

fn bad_domain(d: &str) -> String {
    format!("`{d}` is not a domain name; use labels of letters, digits and '-' separated by dots, e.g. \"lan\" or \"home.arpa\"")
}

#[cfg(test)]
mod tests;
