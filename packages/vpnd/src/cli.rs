//! `vpn`, the console command (and the functions the web interface calls):
//!
//! ```text
//! vpn status [--json]             peers: endpoint, last handshake, online, bytes
//! vpn init [--address CIDR,...] [--endpoint HOST] [--port N]
//!                                 adds interface wg0 (default 10.8.0.1/24) to vpn.toml
//! vpn add-peer NAME [--lan-only] [--interface IF] [--ascii]
//!                                 a phone or laptop: next free address, new keys and
//!                                 PSK; prints its wg-quick configuration, then its QR code
//! vpn add-site NAME --public-key KEY --networks CIDR[,CIDR] [--tunnel-address IP]
//!              [--endpoint HOST:PORT] [--keepalive SECONDS] [--interface IF]
//!                                 another site (site to site): its LAN(s) are routed to it
//! vpn remove-peer NAME            removes it (and its PSK file)
//! vpn disable NAME | enable NAME  keeps it in vpn.toml, out of / back into the kernel
//! vpn import FILE [--interface IF] a wg-quick file: every peer with its keys
//! vpn public-key [IF]             the router's public key (for the other side of a site-to-site tunnel)
//! vpn check                       the kernel's WireGuard devices against vpn.toml (root)
//! ```
//! Every change goes through [`oxwrt_config::vpn::Vpn::save`] (validated, atomic); vpnd
//! sees the file replaced and applies the difference.

use crate::keys;
use oxwrt_config::vpn::wgquick::{self, ClientConfig};
use oxwrt_config::vpn::{Interface, IpNet, Peer, Secret, Vpn, KEY_DIR};
use oxwrt_config::Ipv6Prefix;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

const USAGE: &str = "usage: vpn status [--json] | init [--address CIDR[,CIDR]] [--endpoint HOST] [--port N] | add-peer NAME [--lan-only] [--interface IF] [--ascii] | add-site NAME --public-key KEY --networks CIDR[,CIDR] [--tunnel-address IP] [--endpoint HOST:PORT] [--keepalive N] | remove-peer NAME | disable NAME | enable NAME | import FILE [--interface IF] | public-key [IF] | check";

/// What `vpn add-peer` (or the web interface) asks for.
#[derive(Debug, Clone, Default)]
pub struct AddPeer {
    pub name: String,
    /// None: the only interface.
    pub interface: Option<String>,
    /// The client sends only the LAN and the VPN subnets through the tunnel (else
    /// everything).
    pub lan_only: bool,
}

/// A peer just added: its configuration (with its private key: shown once, kept nowhere
/// on the router).
pub struct NewPeer {
    pub peer: Peer,
    pub config: String,
}

/// Where the files are: /etc/oxwrt (vpn.toml, network.toml) and /run/vpnd.
#[derive(Debug, Clone)]
pub struct Dirs {
    pub config: PathBuf,
    pub run: PathBuf,
}

impl Dirs {
    pub fn device() -> Dirs {
        Dirs { config: PathBuf::from(oxwrt_config::DIR), run: PathBuf::from("/run/vpnd") }
    }
}

fn load(dirs: &Dirs) -> Result<Vpn, String> {
    Vpn::load(&dirs.config).map_err(|e| format!("{}: {e}", dirs.config.join(oxwrt_config::vpn::VPN_FILE).display()))
}

fn save(dirs: &Dirs, vpn: &Vpn) -> Result<(), String> {
    vpn.save(&dirs.config).map_err(|e| format!("{} not changed: {e}", dirs.config.join(oxwrt_config::vpn::VPN_FILE).display()))
}

fn pick<'a>(vpn: &'a Vpn, name: Option<&str>) -> Result<&'a Interface, String> {
    match name {
        Some(n) => vpn.interfaces.iter().find(|i| i.name == n).ok_or_else(|| format!("no interface {n} in vpn.toml")),
        None => match vpn.interfaces.as_slice() {
            [one] => Ok(one),
            [] => Err("vpn.toml has no interface yet: `vpn init` makes one (wg0, 10.8.0.1/24)".into()),
            _ => Err("several interfaces: say which with --interface".into()),
        },
    }
}

/// The directory the interface's key lives in (where PSK files go too).
fn key_dir(iface: &Interface) -> PathBuf {
    Path::new(&iface.key_file()).parent().map_or_else(|| PathBuf::from(KEY_DIR), Path::to_path_buf)
}

/// The router's public address for clients: the interface's `endpoint`, else the WAN
/// device's IPv4 address (from the kernel), with the listen port.
fn endpoint(dirs: &Dirs, iface: &Interface, net: &oxwrt_config::Config) -> Result<String, String> {
    if let Some(e) = &iface.endpoint {
        let has_port = e.rsplit_once(':').is_some_and(|(h, p)| (!h.contains(':') || h.ends_with(']')) && p.parse::<u16>().is_ok());
        return Ok(if has_port { e.clone() } else { format!("{e}:{}", iface.listen_port) });
    }
    let _ = dirs;
    let wan = &net.network.wan.device;
    match wan_address(wan) {
        Some(a) => Ok(format!("{a}:{}", iface.listen_port)),
        None => Err(format!(
            "the WAN ({wan}) has no IPv4 address and the interface has no `endpoint`: set endpoint = \"your.public.name\" under [[interface]] in vpn.toml (a dynamic DNS name if the address changes)"
        )),
    }
}

fn wan_address(dev: &str) -> Option<Ipv4Addr> {
    use netlink::rtnetlink as rt;
    let mut s = netlink::Socket::open(netlink::NETLINK_ROUTE, 0).ok()?;
    let links = s.dump(rt::get_links()).ok()?;
    let index = links.iter().filter_map(|(_, p)| rt::parse_link(p)).find(|l| l.name == dev)?.index;
    let addrs = s.dump(rt::get_addrs(rt::AF_INET)).ok()?;
    addrs.iter().filter_map(|(_, p)| rt::parse_addr(p)).filter(|a| a.index == index).find_map(|a| match a.addr() {
        Some(IpAddr::V4(v4)) => Some(v4),
        _ => None,
    })
}

/// The LAN's ULA /48 (netd's, docs/network-config.md), when the router has IPv6: the
/// VPN's own /64 is taken from it, and clients are told the router's ULA address as DNS.
fn lan_ula(dirs: &Dirs, net: &oxwrt_config::Config) -> Option<Ipv6Prefix> {
    if net.network.wan.ipv6 == oxwrt_config::WanIpv6::Off {
        return None;
    }
    match oxwrt_config::ipv6::kept_ula(net.network.lan.ula, &dirs.config.join("netd")) {
        Ok(u) => u,
        Err(e) => {
            crate::log::CLI.warn(format_args!("{e}: no IPv6 for the VPN"));
            None
        }
    }
}

/// Which /64 of the ULA /48 the VPN takes: 8 (as in 10.8.0.0/24), or 9 when the LAN
/// has the 8th.
pub fn vpn_subnet_id(lan_subnet: u16) -> u16 {
    if lan_subnet == 8 {
        9
    } else {
        8
    }
}

/// `vpn init`'s addresses without `--address`: 10.8.0.1/24, and with IPv6 on the router
/// `<ULA /48>:8::1/64` (a /64 of the LAN's unique local prefix: stable, routed to the
/// LAN by netd's router advertisements).
pub fn default_addresses(dirs: &Dirs) -> Vec<IpNet> {
    let mut a: Vec<IpNet> = IpNet::new(IpAddr::V4(Ipv4Addr::new(10, 8, 0, 1)), 24).into_iter().collect();
    let Ok(net) = oxwrt_config::Config::load(&dirs.config) else { return a };
    if let Some(v6) = lan_ula(dirs, &net).and_then(|u| u.subnet64(vpn_subnet_id(net.network.lan.ipv6_subnet))) {
        a.extend(IpNet::new(IpAddr::V6(v6.host(1)), 64));
    }
    a
}

/// Adds a road-warrior peer: see the module docs. Nothing is changed on an error.
pub fn add_peer(dirs: &Dirs, req: &AddPeer) -> Result<NewPeer, String> {
    let mut vpn = load(dirs)?;
    if let Some(why) = oxwrt_config::vpn::bad_peer_name(&req.name) {
        return Err(why);
    }
    if vpn.peers.iter().any(|p| p.name == req.name) {
        return Err(format!("a peer named {} exists already: pick another name, or `vpn remove-peer {}` first", req.name, req.name));
    }
    let iface = pick(&vpn, req.interface.as_deref())?.clone();
    let net = oxwrt_config::Config::load(&dirs.config).map_err(|e| format!("network.toml: {e}"))?;
    let addresses = vpn.next_free(&iface).ok_or_else(|| format!("{}: no free address left in {:?}", iface.name, iface.address))?;
    let dir = key_dir(&iface);
    let owner = keys::owner_of(&dir);
    let (server, _) = keys::ensure_key_file(Path::new(&iface.key_file()), owner)?;
    let endpoint = endpoint(dirs, &iface, &net)?;
    let client = keys::generate().map_err(|e| e.to_string())?;
    let psk = keys::generate_psk().map_err(|e| e.to_string())?;
    let psk_file = dir.join(format!("{}.psk", req.name));
    let mut peer = Peer::new(&req.name, keys::public_of(&client), addresses.clone());
    peer.preshared_key_file = Some(psk_file.to_string_lossy().into_owned());
    if iface.name != vpn.interfaces.first().map(|i| i.name.clone()).unwrap_or_default() || vpn.interfaces.len() > 1 {
        peer.interface = Some(iface.name.clone());
    }
    vpn.peers.push(peer.clone());
    vpn.validate().map_err(|p| format!("vpn.toml not changed: {p}"))?;
    keys::write_key_file(&psk_file, &psk, owner)?;
    if let Err(e) = save(dirs, &vpn) {
        let _ = std::fs::remove_file(&psk_file);
        return Err(e);
    }
    let lan = net.network.lan.address;
    // With IPv6 on the VPN, the LAN's ULA /48 too: the router's ULA address as DNS server,
    // the /48 (the LAN's and the VPN's /64s) for LAN-only.
    let ula = iface.v6().and_then(|_| lan_ula(dirs, &net));
    let mut dns = vec![IpAddr::V4(lan.addr())];
    dns.extend(ula.and_then(|u| u.subnet64(net.network.lan.ipv6_subnet)).map(|l| IpAddr::V6(l.host(1))));
    let mut allowed: Vec<IpNet> = Vec::new();
    if req.lan_only {
        allowed.extend(IpNet::new(IpAddr::V4(lan.network()), lan.prefix()));
        allowed.extend(iface.address.iter().map(|a| a.network()));
        if let Some(u) = ula {
            let u = IpNet::new(IpAddr::V6(u.addr()), u.prefix_len()).map_err(|e| e.to_string())?;
            allowed.retain(|a| !(a.prefix() >= u.prefix() && u.contains(a.addr())));
            allowed.push(u);
        }
    } else {
        allowed.push(IpNet::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0).map_err(|e| e.to_string())?);
        if iface.v6().is_some() {
            allowed.push(IpNet::new(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), 0).map_err(|e| e.to_string())?);
        }
    }
    let config = ClientConfig {
        private_key: client,
        addresses,
        dns,
        mtu: None,
        server_public_key: keys::public_of(&server),
        preshared_key: Some(psk),
        endpoint,
        allowed_ips: allowed,
        // Phones sit behind NAT: keepalives hold the mapping open for calls from the LAN.
        persistent_keepalive: 25,
    }
    .render();
    Ok(NewPeer { peer, config })
}

/// What `vpn add-site` asks for: another router, whose networks are routed to it.
#[derive(Debug, Clone, Default)]
pub struct AddSite {
    pub name: String,
    pub interface: Option<String>,
    pub public_key: String,
    /// The other router's address on the tunnel (a /32 or /128 of it is allowed).
    pub tunnel_address: Option<String>,
    /// Its LANs.
    pub networks: Vec<String>,
    pub endpoint: Option<String>,
    pub keepalive: u16,
}

/// Adds a site-to-site peer; nothing is changed on an error.
pub fn add_site(dirs: &Dirs, req: &AddSite) -> Result<Peer, String> {
    let mut vpn = load(dirs)?;
    let iface = pick(&vpn, req.interface.as_deref())?.clone();
    let key = req.public_key.parse().map_err(|e| format!("--public-key: {e}"))?;
    let mut allowed = Vec::new();
    if let Some(a) = &req.tunnel_address {
        let ip: IpAddr = a.parse().map_err(|_| format!("--tunnel-address: `{a}` is not an IP address (the other router's address on the tunnel)"))?;
        allowed.push(IpNet::host(ip));
    }
    for n in &req.networks {
        allowed.push(n.parse::<IpNet>().map_err(|e| format!("--networks: {e}"))?);
    }
    let mut peer = Peer::new(&req.name, key, allowed);
    if vpn.interfaces.len() > 1 {
        peer.interface = Some(iface.name.clone());
    }
    peer.endpoint = match &req.endpoint {
        Some(e) => Some(e.parse().map_err(|e| format!("--endpoint: {e}"))?),
        None => None,
    };
    peer.persistent_keepalive = req.keepalive;
    vpn.peers.push(peer.clone());
    save(dirs, &vpn)?;
    Ok(peer)
}

/// Adds interface wg0 (or `name`) with the defaults.
pub fn init(dirs: &Dirs, name: &str, address: Vec<IpNet>, endpoint: Option<String>, port: Option<u16>) -> Result<Interface, String> {
    let mut vpn = load(dirs)?;
    if vpn.interfaces.iter().any(|i| i.name == name) {
        return Err(format!("interface {name} exists already in vpn.toml"));
    }
    let mut iface = Interface::new(name, address);
    iface.endpoint = endpoint;
    if let Some(p) = port {
        iface.listen_port = p;
    }
    vpn.interfaces.push(iface.clone());
    vpn.validate().map_err(|p| format!("vpn.toml not changed: {p}"))?;
    let owner = keys::owner_of(&key_dir(&iface));
    keys::ensure_key_file(Path::new(&iface.key_file()), owner)?;
    save(dirs, &vpn)?;
    Ok(iface)
}

/// Imports a wg-quick file into interface `name`: see the module docs. Returns a summary.
pub fn import(dirs: &Dirs, text: &str, name: &str) -> Result<String, String> {
    let imp = wgquick::import(text).map_err(|e| format!("import: {e}; nothing was changed"))?;
    let mut vpn = load(dirs)?;
    let mut secrets: Vec<(PathBuf, Secret)> = Vec::new();
    let mut notes = Vec::new();
    let iface = match vpn.interfaces.iter().find(|i| i.name == name) {
        Some(i) => {
            if imp.private_key.is_some() || !imp.addresses.is_empty() || imp.listen_port.is_some() {
                notes.push(format!("{name} exists: the file's [Interface] (key, addresses, port) was not applied, only its peers"));
            }
            i.clone()
        }
        None => {
            let mut i = Interface::new(name, imp.addresses.clone());
            if let Some(p) = imp.listen_port {
                i.listen_port = p;
            }
            if let Some(m) = imp.mtu {
                i.mtu = m;
            }
            match &imp.private_key {
                Some(k) => secrets.push((PathBuf::from(i.key_file()), k.clone())),
                None => return Err(format!("import: the file has no PrivateKey for the new interface {name}; nothing was changed")),
            }
            vpn.interfaces.push(i.clone());
            i
        }
    };
    let dir = key_dir(&iface);
    let mut names = Vec::new();
    for p in &imp.peers {
        let mut pname = p.name.clone();
        let mut n = 2;
        while vpn.peers.iter().any(|o| o.name == pname) {
            pname = format!("{}-{n}", p.name);
            n += 1;
        }
        let mut peer = Peer::new(&pname, p.public_key, p.allowed_ips.clone());
        if vpn.interfaces.len() > 1 {
            peer.interface = Some(name.to_string());
        }
        peer.endpoint = p.endpoint.clone();
        peer.persistent_keepalive = p.persistent_keepalive;
        if let Some(psk) = &p.preshared_key {
            let f = dir.join(format!("{pname}.psk"));
            peer.preshared_key_file = Some(f.to_string_lossy().into_owned());
            secrets.push((f, psk.clone()));
        }
        names.push(pname);
        vpn.peers.push(peer);
    }
    vpn.validate().map_err(|p| format!("import: the result is not valid, nothing was changed:\n{p}"))?;
    let owner = keys::owner_of(&dir);
    for (f, k) in &secrets {
        if f.exists() && keys::read_key_file(f).ok().as_ref() != Some(k) {
            return Err(format!("import: {} exists with another key; remove it first; nothing was changed", f.display()));
        }
    }
    for (f, k) in &secrets {
        keys::write_key_file(f, k, owner)?;
    }
    save(dirs, &vpn)?;
    let mut s = format!("imported {} peers into {name}: {}", names.len(), names.join(", "));
    for n in notes {
        s.push_str(&format!("\n{n}"));
    }
    for (line, key) in &imp.ignored {
        s.push_str(&format!("\nignored line {line}: {key} (wg-quick only; oxwrt runs no scripts, its firewall is netd's)"));
    }
    Ok(s)
}

/// `vpn disable NAME` / `vpn enable NAME`: keeps the peer in vpn.toml, out of or back
/// into the kernel.
pub fn set_enabled(dirs: &Dirs, name: &str, enabled: bool) -> Result<(), String> {
    edit_peer(dirs, name, |v, i| v.peers[i].enabled = enabled).map(|_| ())
}

/// `vpn remove-peer NAME`: out of vpn.toml, and its preshared key file deleted.
pub fn remove_peer(dirs: &Dirs, name: &str) -> Result<(), String> {
    let mut psk = None;
    edit_peer(dirs, name, |v, i| psk = v.peers.remove(i).preshared_key_file)?;
    if let Some(f) = psk {
        let _ = std::fs::remove_file(f);
    }
    Ok(())
}

fn edit_peer(dirs: &Dirs, name: &str, f: impl FnOnce(&mut Vpn, usize)) -> Result<Vpn, String> {
    let mut vpn = load(dirs)?;
    let i = vpn.peers.iter().position(|p| p.name == name).ok_or_else(|| format!("no peer named {name} in vpn.toml (`vpn status` lists them)"))?;
    f(&mut vpn, i);
    save(dirs, &vpn)?;
    Ok(vpn)
}

/// Reads the status from vpnd's socket.
pub fn status_json(dirs: &Dirs) -> Result<String, String> {
    let path = dirs.run.join(crate::daemon::STATUS_SOCKET);
    let s = std::os::unix::net::UnixStream::connect(&path)
        .map_err(|e| format!("cannot reach vpnd at {}: {e}; is it running? (`service status`)", path.display()))?;
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
    let mut out = String::new();
    s.take(4 << 20).read_to_string(&mut out).map_err(|e| format!("reading {}: {e}", path.display()))?;
    Ok(out)
}

/// Reads every interface back from the kernel (a GET_DEVICE dump) and compares it with
/// vpn.toml: peers, keys, allowed IPs, port, private key. Returns the report and whether
/// everything matches.
pub fn check(dirs: &Dirs) -> Result<(String, bool), String> {
    let vpn = load(dirs)?;
    let mut k = crate::wg::Kernel::open()?;
    let mut out = String::new();
    let mut all = true;
    for iface in &vpn.interfaces {
        let dev = k.device(&iface.name)?;
        let Some(dev) = dev else {
            out.push_str(&format!("{}: not in the kernel\n", iface.name));
            all = false;
            continue;
        };
        let key = keys::read_key_file(Path::new(&iface.key_file()))?;
        let (want, problems) = crate::wg::wanted(&vpn, iface);
        let plan = crate::wg::plan(&iface.name, Some(&dev), &key, iface.listen_port, &want);
        let entries: usize = dev.peers.iter().map(|p| p.allowed_ips.len()).sum();
        if plan.is_empty() {
            out.push_str(&format!("{}: the kernel matches vpn.toml: {} peers, {entries} allowed IPs\n", iface.name, dev.peers.len()));
        } else {
            all = false;
            let removed = plan.peers.iter().filter(|p| p.remove).count();
            let known = |p: &&netlink::wireguard::PeerChange| dev.peers.iter().any(|d| d.public_key == p.public_key);
            let changed = plan.peers.iter().filter(|p| !p.remove).filter(known).count();
            let missing = plan.peers.len() - removed - changed;
            out.push_str(&format!(
                "{}: the kernel differs from vpn.toml: {missing} peers missing, {changed} different, {removed} not in the file{}{} ({} peers, {entries} allowed IPs in the kernel)\n",
                iface.name,
                if plan.private_key.is_some() { ", another private key" } else { "" },
                if plan.listen_port.is_some() { ", another port" } else { "" },
                dev.peers.len()
            ));
        }
        for p in problems {
            out.push_str(&format!("{}: {p}\n", iface.name));
        }
    }
    Ok((out, all))
}

fn print(text: &str) -> i32 {
    i32::from(std::io::stdout().lock().write_all(text.as_bytes()).is_err())
}

fn fail(e: impl std::fmt::Display) -> i32 {
    crate::log::CLI.error(format_args!("{e}"));
    1
}

/// The `vpn` applet.
pub fn main(args: Vec<String>) -> i32 {
    run(&Dirs::device(), &args.iter().skip(1).map(String::as_str).collect::<Vec<_>>())
}

/// `vpn` with its files under `dirs` (tests).
pub fn run(dirs: &Dirs, args: &[&str]) -> i32 {
    let opt = |name: &str| args.iter().position(|a| *a == name).and_then(|i| args.get(i + 1)).copied();
    let flag = |name: &str| args.contains(&name);
    match args {
        ["status", rest @ ..] => match status_json(dirs) {
            Err(e) => fail(e),
            Ok(json) if rest.contains(&"--json") => print(&json),
            Ok(json) => match serde_json::from_str::<crate::status::Status>(&json) {
                Ok(s) => print(&crate::status::text(&s)),
                Err(e) => fail(format!("vpnd's status is not readable: {e}")),
            },
        },
        ["init", ..] => {
            let address: Result<Vec<IpNet>, _> = match opt("--address") {
                Some(a) => a.split(',').map(|s| s.trim().parse::<IpNet>()).collect(),
                None => Ok(default_addresses(dirs)),
            };
            let port = match opt("--port").map(|p| p.parse::<u16>()) {
                Some(Err(_)) => return fail("--port: a number 1-65535"),
                Some(Ok(p)) => Some(p),
                None => None,
            };
            match address.map_err(|e| e.to_string()).and_then(|a| init(dirs, opt("--interface").unwrap_or("wg0"), a, opt("--endpoint").map(String::from), port))
            {
                Ok(i) => print(&format!(
                    "added interface {} ({}), port {}\n",
                    i.name,
                    i.address.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", "),
                    i.listen_port
                )),
                Err(e) => fail(e),
            }
        }
        ["add-peer", name, ..] if !name.starts_with('-') => {
            let req = AddPeer { name: name.to_string(), interface: opt("--interface").map(String::from), lan_only: flag("--lan-only") };
            match add_peer(dirs, &req) {
                Err(e) => fail(e),
                Ok(new) => {
                    let qr = match crate::qr::text(&new.config, flag("--ascii")) {
                        Ok(q) => q,
                        Err(e) => format!("(no QR code: {e})\n"),
                    };
                    print(&format!(
                        "# {name}: {} (save this: the router keeps no copy of the private key)\n{}\n{qr}",
                        new.peer.allowed_ips.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", "),
                        new.config
                    ))
                }
            }
        }
        ["add-site", name, ..] if !name.starts_with('-') => {
            let keepalive = match opt("--keepalive").map(|k| k.parse::<u16>()) {
                Some(Err(_)) => return fail("--keepalive: seconds, 0-65535"),
                Some(Ok(k)) => k,
                None => 0,
            };
            let req = AddSite {
                name: name.to_string(),
                interface: opt("--interface").map(String::from),
                public_key: opt("--public-key").unwrap_or_default().to_string(),
                tunnel_address: opt("--tunnel-address").map(String::from),
                networks: opt("--networks").map(|n| n.split(',').map(|s| s.trim().to_string()).collect()).unwrap_or_default(),
                endpoint: opt("--endpoint").map(String::from),
                keepalive,
            };
            match add_site(dirs, &req) {
                Ok(p) => print(&format!("added site {name}: {}\n", p.allowed_ips.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", "))),
                Err(e) => fail(e),
            }
        }
        ["remove-peer", name] => match remove_peer(dirs, name) {
            Ok(()) => print(&format!("removed {name}\n")),
            Err(e) => fail(e),
        },
        [cmd @ ("enable" | "disable"), name] => match set_enabled(dirs, name, *cmd == "enable") {
            Ok(_) => print(&format!("{name}: {cmd}d\n")),
            Err(e) => fail(e),
        },
        ["import", file, ..] => match std::fs::read_to_string(file) {
            Err(e) => fail(format!("cannot read {file}: {e}")),
            Ok(text) => match import(dirs, &text, opt("--interface").unwrap_or("wg0")) {
                Ok(s) => print(&format!("{s}\n")),
                Err(e) => fail(e),
            },
        },
        ["public-key", rest @ ..] => match load(dirs).and_then(|v| pick(&v, rest.first().copied()).map(|i| i.key_file())) {
            Err(e) => fail(e),
            Ok(f) => match keys::read_key_file(Path::new(&f)) {
                Ok(k) => print(&format!("{}\n", keys::public_of(&k))),
                Err(e) => fail(format!("{e} (vpnd makes the key when it applies the interface)")),
            },
        },
        ["check"] => match check(dirs) {
            Ok((report, true)) => print(&report),
            Ok((report, false)) => {
                let _ = print(&report);
                1
            }
            Err(e) => fail(e),
        },
        _ => {
            crate::log::CLI.error(format_args!("{USAGE}"));
            2
        }
    }
}
