//! The daemon: one thread, one poll(2) over the netlink link events, the DHCP client's and
//! server's sockets, the DNS forwarder's sockets, a signalfd (SIGHUP: reload; SIGTERM,
//! SIGINT: exit) and an inotify watch on the configuration directory (network.toml or
//! firewall.toml replaced by a rename, as `oxwrt_config::save_atomic` and editors do: reload
//! one second later; files written in place are not watched). The poll
//! timeout is the nearest deadline (DHCP client, DNS forwarder, pending reload).
//!
//! Start: the configuration of /etc/oxwrt; if it is invalid, every problem is logged and
//! netd runs what it applied before (/run/netd/applied.toml, kept across restarts of netd),
//! else the image's own files (/rom/etc/oxwrt), else the built-in defaults. Reload: a new
//! configuration that does not validate is logged and the running one stays; a valid one
//! is applied as far as [`oxwrt_config::diff()`] says it changed.
//!
//! The firewall comes first and fails closed: the nftables ruleset ([`crate::nft`], which
//! matches interfaces by name, so it loads before they exist) is loaded before any link
//! is touched or any DHCP or DNS socket opens. If it cannot load (a kernel without
//! nf_tables, a refused batch), netd logs an ERROR line (on the console) saying why and
//! holds the WAN: the WAN device is taken down and not brought up, no DHCP client, no
//! static WAN address or route, IPv4 forwarding off (0). The LAN side still comes up
//! (bridge, address, DHCP server, DNS) so the owner can reach the router to fix it; with
//! the WAN down and forwarding off nothing is routed and nothing outside can reach it. A
//! reload (SIGHUP, or the configuration replaced) loads the firewall again, whether or not
//! the files changed, and brings the WAN up once it loads. A ruleset that fails to load
//! after one has loaded is logged the same way, and the kernel keeps the one before: the
//! WAN stays up.
//!
//! IPv6 (`wan.ipv6 = "auto"`, [`crate::ipv6`]) starts after the links: its LAN side (ULA
//! address, router advertisements, stateless DHCPv6) always, its DHCPv6 client and IPv6
//! forwarding only with the firewall in place; a held WAN stops them (forwarding off, the
//! delegated prefix deprecated). A reload that touches the WAN or LAN starts it again; the
//! lease is given back (RELEASE) when IPv6 is turned off or the WAN device changes.
//!
//! SIGTERM leaves the IPv4 network as it is (addresses, routes, the lease on the WAN), so
//! that a restart of netd does not interrupt IPv4 forwarding. The delegated IPv6 prefix is
//! given back (DHCPv6 RELEASE, at most 1.5 s of waiting) and a last router advertisement
//! deprecates it on the LAN, as odhcp6c does: the ISP may hand it to another customer, so
//! LAN hosts must stop using it; the next start asks again (the same DUID usually gets the
//! same prefix).
//!
//! The lease file lives on the flash overlay: it is written when a binding is new, changed
//! address or name, or ended, at most once per [`LEASE_SAVE_EVERY`] (a minute; a change
//! within the minute is written when it is over), and at shutdown when anything (renewals
//! too) changed since. A renewal alone never writes flash.
//!
//! A WAN DHCP lease goes through [`crate::dhcp_client::Lease::vet`] before it is used: the
//! checks of network.toml's static WAN (no address in the LAN, no DNS server at loopback or
//! at the router itself); what is refused is logged, rate-limited.

use crate::apply::{self, Report, WanAddress};
use crate::dhcp_client::{Action, Client, Lease};
use crate::dhcp_server::{Server, ServerConfig};
use crate::leases::LeaseTable;
use crate::rtnl::Rtnl;
use crate::{hooks, state, udp};
use netlink::rtnetlink::{RTMGRP_LINK, RTM_DELLINK, RTM_NEWLINK};
use netproto::dhcp::{Message, SERVER_PORT};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use oxwrt_config::{diff, Changes, Config, Firewall, Network, Upstream, WanProto};
use oxwrt_log::control::Control;
use oxwrt_log::{limited, Limited};
use serde::{Deserialize, Serialize};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where netd reads and writes.
#[derive(Debug, Clone)]
pub struct Paths {
    /// network.toml and firewall.toml: /etc/oxwrt.
    pub config_dir: PathBuf,
    /// The image's own configuration, used when /etc/oxwrt is invalid and nothing was
    /// applied before: /rom/etc/oxwrt.
    pub fallback_dir: Option<PathBuf>,
    /// applied.toml, resolv-upstream: /run/netd.
    pub run_dir: PathBuf,
    /// The DHCP server's leases: /etc/oxwrt/netd/dhcp.leases (netd's own directory).
    pub leases: PathBuf,
    /// The router's own resolv.conf: 127.0.0.1 when the DNS forwarder runs, else the upstream
    /// servers. /run/netd/resolv.conf (/etc/resolv.conf links there: netd, not root, writes it,
    /// and nothing goes to flash).
    pub resolv_conf: PathBuf,
    /// The default DHCP hostname: /etc/hostname.
    pub hostname_file: PathBuf,
}

impl Paths {
    /// The device's paths.
    pub fn device() -> Paths {
        Paths {
            config_dir: PathBuf::from(oxwrt_config::DIR),
            fallback_dir: Some(PathBuf::from("/rom/etc/oxwrt")),
            run_dir: PathBuf::from("/run/netd"),
            leases: PathBuf::from(crate::leases::LEASES_FILE),
            resolv_conf: PathBuf::from("/run/netd/resolv.conf"),
            hostname_file: PathBuf::from("/etc/hostname"),
        }
    }

    /// Everything under `root` (tests): root/etc/oxwrt, root/run/netd, ...
    pub fn under(root: &Path) -> Paths {
        Paths {
            config_dir: root.join("etc/oxwrt"),
            fallback_dir: None,
            run_dir: root.join("run/netd"),
            leases: root.join("etc/oxwrt/netd/dhcp.leases"),
            resolv_conf: root.join("etc/resolv.conf"),
            hostname_file: root.join("etc/hostname"),
        }
    }

    /// The configuration netd applied last.
    pub fn applied(&self) -> PathBuf {
        self.run_dir.join("applied.toml")
    }

    /// The WAN leases' NTP servers (DHCP option 42, DHCPv6 option 31), one address a line:
    /// timed reads it.
    pub fn ntp_servers(&self) -> PathBuf {
        self.run_dir.join("ntp-servers")
    }

    /// The upstream DNS servers, resolv.conf format, for the DNS forwarder.
    pub fn resolv_upstream(&self) -> PathBuf {
        self.run_dir.join("resolv-upstream")
    }
}

/// What to do when netd, running as user netd, may not write its own files.
fn denied_hint(e: &io::Error) -> &'static str {
    if e.kind() == io::ErrorKind::PermissionDenied {
        " (netd runs as user netd: its directories, /etc/oxwrt/netd and /run/netd, must be netd's; init gives them back at the next start: `service restart netd`)"
    } else {
        ""
    }
}

/// /run/netd/applied.toml: both files in one.
#[derive(Serialize, Deserialize)]
struct Applied {
    network: Network,
    firewall: Firewall,
}

fn load_applied(path: &Path) -> Option<Config> {
    let text = std::fs::read_to_string(path).ok()?;
    let a: Applied = toml::from_str(&text).ok()?;
    let c = Config { network: a.network, firewall: a.firewall };
    c.validate().ok().map(|_| c)
}

fn report_load_error(dir: &Path, e: &oxwrt_config::Error) {
    match e {
        oxwrt_config::Error::Invalid(problems) => {
            for p in problems.iter() {
                crate::say!("{}/{p}", dir.display());
            }
        }
        other => crate::say!("{other}"),
    }
}

/// The DHCP client's seed (transaction ids): from the kernel (`oxwrt_log::rng`), the MAC
/// mixed in so two routers that somehow got the same bytes still differ.
fn random_seed(mac: [u8; 6]) -> u64 {
    oxwrt_log::rng::u64() ^ u64::from_be_bytes([0, 0, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]])
}

/// The WAN's DHCP client and its socket.
struct WanClient {
    client: Client,
    sock: UdpSocket,
}

/// The LAN's DHCP server and its socket.
struct LanServer {
    server: Server,
    sock: UdpSocket,
    device: String,
}

/// What a file descriptor in the poll set is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    LinkEvents,
    Signals,
    Watch,
    Wan,
    Lan,
    Dns,
    Ipv6,
}

/// The running daemon.
pub struct Daemon {
    paths: Paths,
    config: Config,
    rtnl: Rtnl,
    events: netlink::Socket,
    wan: Option<WanClient>,
    lan: Option<LanServer>,
    dns: hooks::Dns,
    wan_addr: Option<Ipv4Addr>,
    /// A ruleset of netd's is in force (the first load succeeded). Until then the WAN is
    /// held down (module docs).
    firewall_ok: bool,
    /// The WAN device's carrier as last seen in a link event.
    wan_carrier: Option<bool>,
    lease_dns: Vec<Ipv4Addr>,
    /// SIGHUP/SIGTERM and the watched configuration directory (set by [`run`]).
    control: Option<Control>,
    reload_at: Option<Instant>,
    noisy: Limited,
    last_problems: Vec<String>,
    buf: Vec<u8>,
    /// When the lease file was last written (flash: at most once per [`LEASE_SAVE_EVERY`]).
    leases_saved_at: Option<Instant>,
    /// A binding changed and the file has not been written yet (rate limit).
    leases_pending: bool,
    /// Writes of the lease file since start.
    lease_writes: u64,
    /// IPv6 of the WAN and LAN (`wan.ipv6 = "auto"`): [`crate::ipv6`].
    v6: Option<crate::ipv6::Ipv6>,
    /// The LAN IPv6 addresses the router's name was last published at.
    published6: Vec<std::net::Ipv6Addr>,
    /// The DHCP lease's NTP servers (option 42, vetted).
    ntp4: Vec<Ipv4Addr>,
    /// The DHCPv6 lease's (option 31, vetted), as last published.
    ntp6: Vec<std::net::Ipv6Addr>,
    /// What /run/netd/ntp-servers says (None: not written yet).
    published_ntp: Option<Vec<std::net::IpAddr>>,
}

/// The lease file (on the flash overlay) is written at most this often; a change waits
/// for the rest of the minute, and shutdown writes what is left.
pub const LEASE_SAVE_EVERY: Duration = Duration::from_secs(60);

impl Daemon {
    /// Loads the configuration (see the module docs for what happens when it is invalid)
    /// and applies all of it.
    pub fn start(paths: Paths) -> io::Result<Daemon> {
        crate::nft::rules::vpn::set_dir(&paths.config_dir);
        // Before any link is touched (the `default` values apply to links created later).
        crate::sysctl::apply(Path::new("/proc/sys"), Path::new("/proc/meminfo"));
        let b = crate::budget::current();
        crate::say!(
            "memory budget {} KiB (RAM {} KiB): DNS over TCP {} clients, {} queries upstream, {} KiB of cached answers; {} DHCP leases",
            b.total >> 10,
            b.mem_total_kib,
            b.tcp_clients,
            b.pending,
            b.cache_bytes >> 10,
            b.leases
        );
        let applied = load_applied(&paths.applied());
        let config = match Config::load(&paths.config_dir) {
            Ok(c) => c,
            Err(e) => {
                report_load_error(&paths.config_dir, &e);
                if let Some(a) = &applied {
                    crate::say!("running the configuration applied before ({})", paths.applied().display());
                    a.clone()
                } else if let Some((dir, c)) = paths.fallback_dir.as_ref().and_then(|d| Config::load(d).ok().map(|c| (d, c))) {
                    crate::say!("running the image's configuration ({})", dir.display());
                    c
                } else {
                    crate::say!("running the built-in defaults");
                    Config::default()
                }
            }
        };
        let mut d = Daemon {
            rtnl: Rtnl::open()?,
            events: netlink::Socket::open(netlink::NETLINK_ROUTE, RTMGRP_LINK)?,
            paths,
            config,
            wan: None,
            lan: None,
            dns: hooks::Dns::default(),
            wan_addr: None,
            firewall_ok: false,
            wan_carrier: None,
            lease_dns: Vec::new(),
            control: None,
            reload_at: None,
            noisy: crate::log::rate_limited(5),
            last_problems: Vec::new(),
            buf: vec![0; 2048],
            leases_saved_at: None,
            leases_pending: false,
            lease_writes: 0,
            v6: None,
            published6: Vec::new(),
            ntp4: Vec::new(),
            ntp6: Vec::new(),
            published_ntp: None,
        };
        // The firewall before any link or socket (module docs).
        d.firewall_ok = hooks::firewall(&d.config, &d.config.network.wan.device, None);
        if !d.firewall_ok {
            d.hold_wan();
        }
        let report = apply::apply_all_with(&mut d.rtnl, applied.as_ref().map(|c| &c.network), &d.config.network, d.firewall_ok)?;
        d.log_problems(report);
        if d.firewall_ok {
            d.start_wan(false);
        }
        d.start_v6();
        d.update_upstreams();
        d.start_lan();
        d.restart_dns();
        d.save_applied();
        Ok(d)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// IPv6, when `wan.ipv6 = "auto"`.
    pub fn ipv6(&self) -> Option<&crate::ipv6::Ipv6> {
        self.v6.as_ref()
    }

    /// netd's own directory (the lease file's): the ULA prefix file lives there.
    fn netd_dir(&self) -> PathBuf {
        self.paths.leases.parent().map(Path::to_path_buf).unwrap_or_else(|| self.paths.run_dir.clone())
    }

    /// Starts IPv6 for the running configuration (nothing when `wan.ipv6 = "off"`); its
    /// WAN side and IPv6 forwarding only with the firewall in place.
    fn start_v6(&mut self) {
        let dir = self.netd_dir();
        self.v6 = crate::ipv6::Ipv6::start(&self.config.network, &mut self.rtnl, &dir, self.firewall_ok, Instant::now());
        if self.v6.is_some() && self.firewall_ok {
            crate::ipv6::set_forwarding(Path::new(crate::ipv6::FORWARDING), true);
        }
    }

    /// (Re)starts the DNS forwarder, on the LAN's IPv6 address too when there is one.
    fn restart_dns(&mut self) {
        let extra: Vec<std::net::IpAddr> = self.v6.as_ref().and_then(|v| v.lan_dns()).map(std::net::IpAddr::V6).into_iter().collect();
        self.dns.restart_with(&self.config, &extra);
    }

    /// Whether netd's firewall is loaded (else the WAN is held down).
    pub fn firewall_loaded(&self) -> bool {
        self.firewall_ok
    }

    /// The firewall did not load: no DHCP client, no WAN address, the WAN device down,
    /// forwarding off; says so on the console.
    fn hold_wan(&mut self) {
        let device = self.config.network.wan.device.clone();
        self.wan = None;
        self.wan_addr = None;
        self.lease_dns.clear();
        self.publish_ntp(Some(&[]));
        match apply::wan_down(&mut self.rtnl, &device) {
            Ok(true) => crate::say!("{device} down"),
            Ok(false) => {}
            Err(e) => {
                crate::log::LOG.error(format_args!("wan: cannot take {device} down: {e}"));
            }
        }
        if let Some(v6) = &mut self.v6 {
            v6.stop_wan(&mut self.rtnl, Instant::now());
            crate::ipv6::set_forwarding(Path::new(crate::ipv6::FORWARDING), false);
        }
        let path = Path::new(apply::IP_FORWARD);
        match apply::disable_forwarding(path) {
            Ok(true) => crate::say!("IPv4 forwarding off"),
            Ok(false) => {}
            Err(e) => {
                crate::log::LOG.error(format_args!("cannot turn IPv4 forwarding off ({}): {e}", path.display()));
            }
        }
        crate::log::LOG.error(format_args!(
            "no firewall (see the line before): the WAN {device} stays down and nothing is routed; the LAN is up so the router stays reachable. Fix the cause (firewall.toml, or a kernel with nf_tables) and reload netd (`kill -HUP PID`, PID from `service status`; or save the configuration again; or `service restart netd`): the firewall is tried again at every reload"
        ));
    }

    /// The WAN's DHCP lease, when bound.
    pub fn wan_lease(&self) -> Option<&Lease> {
        self.wan.as_ref().and_then(|w| w.client.lease())
    }

    /// The DHCP server's leases, when it runs.
    pub fn server_leases(&self) -> Option<&LeaseTable> {
        self.lan.as_ref().map(|l| l.server.leases())
    }

    /// Logs the problems of an apply when they differ from the last ones (a missing port is
    /// said once, not at every link event).
    fn log_problems(&mut self, report: Report) {
        if report.problems != self.last_problems {
            for p in &report.problems {
                crate::say!("{p}");
            }
            self.last_problems = report.problems;
        }
    }

    fn upstreams_now(&self) -> Vec<Ipv4Addr> {
        match self.config.network.dns_upstream() {
            Upstream::Servers(v) => v,
            Upstream::FromLease => self.lease_dns.clone(),
            Upstream::None => Vec::new(),
        }
    }

    /// Publishes the upstream servers: crate::state, /run/netd/resolv-upstream,
    /// resolv.conf, and the DHCP server's option 6 when the forwarder is off.
    fn update_upstreams(&mut self) {
        let ups = self.upstreams_now();
        state::set_upstreams(&ups);
        // IPv6 servers of the DHCPv6 lease, after the IPv4 ones, where the lease's are used.
        let ups6 = match (self.config.network.dns_upstream(), &self.v6) {
            (Upstream::FromLease, Some(v6)) => v6.upstreams(),
            _ => Vec::new(),
        };
        state::set_upstreams6(&ups6);
        let all = state::resolv_conf(&ups) + &state::resolv_conf6(&ups6);
        let resolv = if self.config.network.dns.enabled { "nameserver 127.0.0.1\n".to_string() } else { all.clone() };
        for (path, text) in [(self.paths.resolv_upstream(), all), (self.paths.resolv_conf.clone(), resolv)] {
            if let Err(e) = state::write_if_changed(&path, &text) {
                crate::say!("cannot write {}: {e}", path.display());
            }
        }
        if let Some(lan) = &mut self.lan {
            let cfg = ServerConfig::from_network(&self.config.network, &ups);
            if lan.server.config() != &cfg {
                lan.server.reconfigure(cfg);
            }
        }
    }

    fn hostname(&self) -> String {
        if let Some(h) = &self.config.network.wan.hostname {
            return h.clone();
        }
        let h = std::fs::read_to_string(&self.paths.hostname_file).unwrap_or_default();
        let h = h.trim();
        if h.is_empty() {
            "oxwrt".into()
        } else {
            h.into()
        }
    }

    /// Starts the WAN: a static address is applied by apply_all; DHCP starts a client,
    /// asking for the address the WAN has now unless `fresh`.
    fn start_wan(&mut self, fresh: bool) {
        self.wan = None;
        let net = &self.config.network;
        let device = net.wan.device.clone();
        if net.wan.proto == WanProto::Static {
            self.wan_addr = net.wan.address.map(|c| c.addr());
            self.lease_dns.clear();
            return;
        }
        let hint = if fresh { None } else { apply::current_address(&mut self.rtnl, &device).ok().flatten().map(|c| c.addr()) };
        self.wan_addr = hint;
        let mac = match self.rtnl.links().map(|ls| ls.into_iter().find(|l| l.name == device).and_then(|l| l.mac)) {
            Ok(Some(mac)) => mac,
            Ok(None) => return, // no device yet: apply_all said so; started when it appears
            Err(e) => {
                crate::say!("wan: cannot read {device}: {e}");
                return;
            }
        };
        let sock = match udp::bind_dhcp(netproto::dhcp::CLIENT_PORT, &device) {
            Ok(s) => s,
            Err(e) => {
                crate::say!("wan: cannot open the DHCP client socket on {device}: {e}");
                return;
            }
        };
        let client = Client::new(mac, Some(self.hostname()), hint, random_seed(mac), Instant::now());
        self.wan = Some(WanClient { client, sock });
    }

    /// Starts, reconfigures or stops the DHCP server on the LAN bridge.
    fn start_lan(&mut self) {
        let net = &self.config.network;
        if !net.dhcp.enabled {
            if self.lan.take().is_some() {
                crate::say!("dhcp: server stopped");
            }
            self.publish_hosts();
            return;
        }
        let cfg = ServerConfig::from_network(net, &self.upstreams_now());
        let bridge = net.lan.bridge.clone();
        let leases = match self.lan.take() {
            Some(mut l) if l.device == bridge => {
                l.server.reconfigure(cfg);
                self.lan = Some(l);
                self.save_leases();
                self.publish_hosts();
                return;
            }
            Some(l) => l.server.leases().clone(),
            None => LeaseTable::load(&self.paths.leases),
        };
        match udp::bind_dhcp(SERVER_PORT, &bridge) {
            Ok(sock) => {
                let mut server = Server::new(cfg, leases);
                server.reconfigure(server.config().clone());
                crate::say!("dhcp: serving on {bridge}");
                self.lan = Some(LanServer { server, sock, device: bridge });
                self.save_leases();
            }
            Err(e) => crate::say!("dhcp: cannot open the server socket on {bridge}: {e}"),
        }
        self.publish_hosts();
    }

    /// Publishes the LAN names for the DNS forwarder ([`state::lan_names`]): the router's
    /// own name (/etc/hostname) at its LAN address, static leases, then what clients claim,
    /// without names a client may not take (logged, rate-limited).
    fn publish_hosts(&mut self) {
        let own = self.own_name();
        let router = own.as_deref().map(|n| (n, self.config.network.lan.address.addr()));
        let statics = self.config.network.dhcp.static_leases.iter().filter_map(|s| Some((s.hostname.clone()?, s.ip)));
        let leases: Vec<(String, Ipv4Addr, u64)> = match &self.lan {
            Some(lan) => {
                let now = state::lease_now();
                lan.server.leases().entries.iter().filter(|e| e.expires > now).filter_map(|e| Some((e.hostname.clone()?, e.ip, e.expires))).collect()
            }
            None => Vec::new(),
        };
        let (hosts, refused) = state::lan_names(router, statics, leases);
        // The published clients' MACs (by name and address; the router's own name has
        // none), for AAAA answers from the kernel's neighbour table.
        let static_macs = self.config.network.dhcp.static_leases.iter().map(|s| (s.ip, s.mac.octets()));
        let lease_macs: Vec<(Ipv4Addr, [u8; 6])> = match &self.lan {
            Some(lan) => lan.server.leases().entries.iter().map(|e| (e.ip, e.mac)).collect(),
            None => Vec::new(),
        };
        let macs = hosts
            .iter()
            .filter_map(|(name, ip, exp)| {
                let mac = match exp {
                    None => static_macs.clone().find(|(a, _)| a == ip)?.1,
                    Some(_) => lease_macs.iter().find(|(a, _)| a == ip)?.1,
                };
                Some((name.clone(), mac, *exp))
            })
            .collect();
        state::set_macs(macs);
        let now = Instant::now();
        for (name, ip) in refused {
            limited!(self.noisy, now, "dns: {ip} claims the name `{name}` (DHCP option 12): reserved, the router's or another host's; not answered for it");
        }
        state::set_hosts(hosts);
        self.publish_hosts6();
    }

    /// The router's own name at its LAN IPv6 addresses (they come and go with the
    /// delegated prefix): AAAA records of the forwarder.
    fn publish_hosts6(&mut self) {
        let addrs = self.v6.as_ref().map(|v| v.lan_addrs()).unwrap_or_default();
        self.published6 = addrs.clone();
        let hosts6 = match self.own_name() {
            Some(name) => addrs.into_iter().map(|a| (name.clone(), a)).collect(),
            None => Vec::new(),
        };
        state::set_hosts6(hosts6);
    }

    /// The router's own LAN name: /etc/hostname as a DNS label; None if it has none.
    fn own_name(&self) -> Option<String> {
        let h = std::fs::read_to_string(&self.paths.hostname_file).unwrap_or_default();
        crate::leases::sanitize_hostname(h.trim().as_bytes())
    }

    /// Writes the lease file when a binding changed, at most once per
    /// [`LEASE_SAVE_EVERY`] (else [`Daemon::step`] comes back when the time is up).
    fn save_leases(&mut self) {
        let Some(lan) = &mut self.lan else { return };
        self.leases_pending |= lan.server.take_dirty();
        let now = Instant::now();
        if !self.leases_pending || self.leases_saved_at.is_some_and(|t| now.saturating_duration_since(t) < LEASE_SAVE_EVERY) {
            return;
        }
        lan.server.take_stale();
        self.leases_pending = false;
        self.leases_saved_at = Some(now);
        self.write_leases();
    }

    fn write_leases(&mut self) {
        let Some(lan) = &self.lan else { return };
        let mut table = lan.server.leases().clone();
        self.lease_writes += 1;
        if let Err(e) = table.save(&self.paths.leases, state::lease_now()) {
            crate::say!("dhcp: cannot save the leases to {}: {e}{}", self.paths.leases.display(), denied_hint(&e));
        }
    }

    /// The wall clock jumped (timed set it): the leases' expiry times move with it, so a
    /// lease keeps exactly the time it had left ([`state::lease_now`]); saved at once, in
    /// the new times.
    fn follow_clock_steps(&mut self) {
        let Some(jump) = state::lease_clock_step() else { return };
        crate::say!("the clock jumped {jump:+} s: lease expiry times moved with it (no lease expires or lasts longer because of it)");
        if let Some(lan) = &mut self.lan {
            lan.server.shift_leases(jump);
            self.write_leases();
            self.publish_hosts();
        }
    }

    /// When a rate-limited write of the lease file is due.
    fn leases_deadline(&self) -> Option<Instant> {
        self.leases_pending.then(|| self.leases_saved_at.map_or_else(Instant::now, |t| t + LEASE_SAVE_EVERY))
    }

    /// How often the lease file was written since start (tests: renewals must not write).
    pub fn lease_writes(&self) -> u64 {
        self.lease_writes
    }

    fn save_applied(&self) {
        let a = Applied { network: self.config.network.clone(), firewall: self.config.firewall.clone() };
        let text = match toml::to_string(&a) {
            Ok(t) => t,
            Err(e) => return crate::say!("cannot serialize the applied configuration: {e}"),
        };
        if let Err(e) = state::write_if_changed(&self.paths.applied(), &text) {
            crate::say!("cannot write {}: {e}", self.paths.applied().display());
        }
    }

    /// Reads the configuration again: invalid, it is logged and nothing changes; valid,
    /// what changed is applied.
    pub fn reload(&mut self) {
        let new = match Config::load(&self.paths.config_dir) {
            Ok(c) => c,
            Err(e) => {
                report_load_error(&self.paths.config_dir, &e);
                crate::say!("the running configuration stays");
                return;
            }
        };
        let changes = diff(&self.config, &new);
        if changes.is_empty() {
            if self.firewall_ok {
                crate::say!("configuration reloaded: nothing changed");
                return;
            }
            crate::say!("configuration reloaded: nothing changed; loading the firewall again");
        } else {
            crate::say!("configuration reloaded: applying {changes}");
        }
        let old = std::mem::replace(&mut self.config, new);
        self.apply_changes(&old, changes);
    }

    fn apply_changes(&mut self, old: &Config, ch: Changes) {
        let (o, n) = (old.network.clone(), self.config.network.clone());
        // Held since the firewall did not load: it is tried first, with the new files.
        let was_held = !self.firewall_ok;
        if was_held {
            self.firewall_ok = hooks::firewall(&self.config, &n.wan.device, None);
            if self.firewall_ok {
                crate::say!("firewall loaded: bringing the WAN {} up", n.wan.device);
            }
        }
        if ch.lan || ch.wan || was_held {
            match apply::apply_all_with(&mut self.rtnl, Some(&o), &n, self.firewall_ok) {
                Ok(r) => self.log_problems(r),
                Err(e) => crate::say!("cannot apply the links: {e}"),
            }
        }
        if !self.firewall_ok {
            self.hold_wan();
        } else if ch.wan || was_held {
            let restart =
                o.wan.proto != n.wan.proto || o.wan.device != n.wan.device || o.wan.mac != n.wan.mac || o.wan.hostname != n.wan.hostname || self.wan.is_none();
            if n.wan.proto == WanProto::Static {
                self.start_wan(true);
            } else if restart {
                let fresh = o.wan.proto == WanProto::Static || o.wan.device != n.wan.device;
                if fresh {
                    self.set_wan_address(&WanAddress::None);
                }
                self.lease_dns.clear();
                self.start_wan(fresh);
            }
        }
        self.update_upstreams();
        if ch.dhcp {
            self.start_lan();
        }
        if ch.wan || ch.lan || was_held {
            self.restart_v6(&o);
        }
        // The forwarder listens on the LAN's IPv6 address only with IPv6 on.
        if ch.dns || ch.lan || o.wan.ipv6 != n.wan.ipv6 {
            self.restart_dns();
        }
        if (ch.firewall || ch.wan || ch.lan) && !was_held {
            hooks::firewall(&self.config, &n.wan.device, self.wan_addr);
        }
        self.publish_hosts();
        self.save_applied();
    }

    /// IPv6 after a reload that touched the WAN or LAN: the lease is given back when IPv6
    /// was turned off or the WAN device changed; otherwise the client starts again (the
    /// ISP gives the same DUID the same prefix).
    fn restart_v6(&mut self, old: &Network) {
        let n = &self.config.network;
        let now = Instant::now();
        let mut before = self.v6.take();
        if let Some(v6) = &mut before {
            if n.wan.ipv6 == oxwrt_config::WanIpv6::Off || old.wan.device != n.wan.device {
                v6.release(&mut self.rtnl, now);
            }
        }
        self.start_v6();
        // A new ULA /64 (lan.ula, lan.ipv6_subnet) or none: the old one's address goes and
        // the advertisements deprecate it.
        if let Some(mut v6) = before.filter(|b| self.v6.as_ref().map(|v| v.ula64()) != Some(b.ula64())) {
            if let Some(retired) = v6.retire_ula(&mut self.rtnl) {
                if let Some(new) = &mut self.v6 {
                    new.deprecate(retired, now);
                }
            }
        }
        self.update_upstreams();
    }

    fn set_wan_address(&mut self, want: &WanAddress) {
        match apply::apply_wan_address(&mut self.rtnl, &self.config.network.wan.device, want) {
            Ok(r) => {
                for p in &r.problems {
                    crate::say!("{p}");
                }
            }
            Err(e) => crate::say!("wan: cannot configure {}: {e}", self.config.network.wan.device),
        }
    }

    /// The WAN leases' NTP servers for timed, vetted: the DHCP lease's (option 42, `ntp4`,
    /// [`None`]: as before) then the DHCPv6 lease's (option 31), in [`Paths::ntp_servers`],
    /// one address a line; empty without a lease. Written when the list changes (tmpfs).
    fn publish_ntp(&mut self, ntp4: Option<&[Ipv4Addr]>) {
        if let Some(v4) = ntp4 {
            self.ntp4 = v4.to_vec();
        }
        self.ntp6 = self.v6.as_ref().and_then(|v| v.lease()).map(|l| l.ntp.clone()).unwrap_or_default();
        let servers: Vec<std::net::IpAddr> = self.ntp4.iter().map(|a| (*a).into()).chain(self.ntp6.iter().map(|a| (*a).into())).collect();
        if self.published_ntp.as_ref() == Some(&servers) {
            return;
        }
        let text: String = servers.iter().map(|s| format!("{s}\n")).collect();
        let path = self.paths.ntp_servers();
        match state::write_if_changed(&path, &text) {
            Ok(_) => {
                if !servers.is_empty() {
                    crate::say!("wan: NTP servers {servers:?} (for timed, in {})", path.display());
                }
                self.published_ntp = Some(servers);
            }
            Err(e) => crate::say!("cannot write {}: {e}", path.display()),
        }
    }

    fn client_actions(&mut self, actions: Vec<Action>, now: Instant) {
        for a in actions {
            match a {
                Action::Send { msg, to } => {
                    let Some(wan) = &self.wan else { return };
                    match msg.encode() {
                        Ok(bytes) => {
                            if let Err(e) = wan.sock.send_to(&bytes, (to, SERVER_PORT)) {
                                let device = &self.config.network.wan.device;
                                limited!(self.noisy, now, "wan: cannot send a DHCP request on {device}: {e}");
                            }
                        }
                        Err(e) => crate::say!("wan: cannot encode a DHCP request: {e}"),
                    }
                }
                Action::Bound(lease) => {
                    let lease = match lease.vet(self.config.network.lan.address) {
                        Ok((lease, dropped)) => {
                            for why in dropped {
                                limited!(self.noisy, now, "wan: lease from {}: {why}", lease.server);
                            }
                            lease
                        }
                        Err(why) => {
                            limited!(self.noisy, now, "wan: refused the lease {} from {}: {why}", lease.address, lease.server);
                            self.publish_ntp(Some(&[]));
                            if self.wan_addr.is_some() || !self.lease_dns.is_empty() {
                                self.set_wan_address(&WanAddress::None);
                                self.wan_addr = None;
                                self.lease_dns.clear();
                                self.update_upstreams();
                                hooks::firewall(&self.config, &self.config.network.wan.device, None);
                            }
                            continue;
                        }
                    };
                    // Before the default route: timed waits for that, then reads the file.
                    self.publish_ntp(Some(&lease.ntp));
                    let want = WanAddress::Lease { cidr: lease.address, gateway: lease.routers.first().copied(), valid_secs: lease.remaining(now) };
                    self.set_wan_address(&want);
                    let addr = Some(lease.address.addr());
                    if self.wan_addr != addr || self.lease_dns != lease.dns {
                        let secs = lease.lease_secs.map(|s| format!("{s} s")).unwrap_or_else(|| "infinite".into());
                        crate::say!("wan: lease {} from {} ({secs}), router {:?}, DNS {:?}", lease.address, lease.server, lease.routers, lease.dns);
                    }
                    let changed = self.wan_addr != addr;
                    self.wan_addr = addr;
                    self.lease_dns = lease.dns.clone();
                    self.update_upstreams();
                    if changed {
                        hooks::firewall(&self.config, &self.config.network.wan.device, self.wan_addr);
                    }
                }
                Action::Lost => {
                    crate::say!("wan: the DHCP lease ended; address removed");
                    self.publish_ntp(Some(&[]));
                    self.set_wan_address(&WanAddress::None);
                    self.wan_addr = None;
                    self.lease_dns.clear();
                    self.update_upstreams();
                    hooks::firewall(&self.config, &self.config.network.wan.device, None);
                }
            }
        }
    }

    fn on_wan_readable(&mut self, now: Instant) {
        loop {
            let Some(wan) = &mut self.wan else { return };
            let n = match wan.sock.recv_from(&mut self.buf) {
                Ok((n, _)) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => return limited!(self.noisy, now, "wan: DHCP socket: {e}"),
            };
            match Message::parse(&self.buf[..n]) {
                Ok(msg) => {
                    let actions = wan.client.on_message(&msg, now);
                    self.client_actions(actions, now);
                }
                Err(e) => limited!(self.noisy, now, "wan: dropped a malformed DHCP packet: {e}"),
            }
        }
    }

    fn on_lan_readable(&mut self, now: Instant) {
        loop {
            let Some(lan) = &mut self.lan else { return };
            let (n, from) = match lan.sock.recv_from(&mut self.buf) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    limited!(self.noisy, now, "dhcp: server socket: {e}");
                    break;
                }
            };
            let msg = match Message::parse(&self.buf[..n]) {
                Ok(m) => m,
                Err(e) => {
                    limited!(self.noisy, now, "dhcp: dropped a malformed packet from {from}: {e}");
                    continue;
                }
            };
            match lan.server.handle(&msg, state::lease_now()) {
                Ok(Some(reply)) => send_reply(lan, reply, from, now, &mut self.noisy),
                Ok(None) => {}
                Err(why) => limited!(self.noisy, now, "dhcp: dropped a request from {} ({from}): {why}", msg.chaddr),
            }
        }
        self.save_leases();
        self.publish_hosts();
    }

    fn on_link_events(&mut self, now: Instant) {
        let Ok(events) = self.events.drain() else { return };
        if !events.iter().any(|(t, _)| *t == RTM_NEWLINK || *t == RTM_DELLINK) {
            return;
        }
        let net = self.config.network.clone();
        // The WAN's carrier came back: the DHCP client asks at once.
        for link in events.iter().filter(|(t, _)| *t == RTM_NEWLINK).filter_map(|(_, p)| crate::rtnl::parse_link(p)) {
            if link.name != net.wan.device {
                continue;
            }
            let carrier = link.flags & netlink::rtnetlink::IFF_LOWER_UP != 0;
            if self.wan_carrier == Some(false) && carrier {
                if let Some(w) = &mut self.wan {
                    crate::say!("wan: {} link up: asking the DHCP server now", net.wan.device);
                    let actions = w.client.link_up(now);
                    self.client_actions(actions, now);
                }
                if let Some(v6) = &mut self.v6 {
                    if v6.link_up(&mut self.rtnl, now).dns {
                        self.update_upstreams();
                    }
                }
            }
            self.wan_carrier = Some(carrier);
        }
        match apply::apply_all_with(&mut self.rtnl, None, &net, self.firewall_ok) {
            Ok(r) => self.log_problems(r),
            Err(e) => crate::say!("cannot apply the links: {e}"),
        }
        if self.firewall_ok && net.wan.proto == WanProto::Dhcp && self.wan.is_none() {
            self.start_wan(false);
        }
        if net.dhcp.enabled && self.lan.is_none() {
            self.start_lan();
        }
        if let Some(v6) = &mut self.v6 {
            v6.links_changed(&mut self.rtnl, self.firewall_ok, now);
        }
    }

    fn on_signal(&mut self) -> bool {
        let Some(got) = self.control.as_ref().map(Control::signals) else { return true };
        if got.stop {
            return false;
        }
        if got.reload {
            crate::say!("SIGHUP: reloading the configuration");
            self.reload();
        }
        true
    }

    fn on_watch(&mut self, now: Instant) {
        let Some(names) = self.control.as_ref().map(Control::replaced) else { return };
        let ours = names.iter().any(|n| n == oxwrt_config::NETWORK_FILE || n == oxwrt_config::FIREWALL_FILE);
        // vpn.toml (vpnd's): only the firewall's VPN zone depends on it (nft/vpn.rs).
        if names.iter().any(|n| n == oxwrt_config::vpn::VPN_FILE) {
            hooks::firewall(&self.config, &self.config.network.wan.device, self.wan_addr);
        }
        if ours {
            self.reload_at = Some(now + Duration::from_secs(1));
        }
    }

    /// One round of the event loop: waits for the next event or deadline (at most
    /// `max_wait`), handles it. Returns false when netd is to exit.
    pub fn step(&mut self, max_wait: Option<Duration>) -> io::Result<bool> {
        self.follow_clock_steps();
        let now = Instant::now();
        let deadline = [
            self.wan.as_ref().and_then(|w| w.client.deadline()),
            self.dns.deadline(),
            self.reload_at,
            self.leases_deadline(),
            self.v6.as_ref().and_then(|v| v.deadline()),
        ]
        .into_iter()
        .flatten()
        .min();
        let mut wait = deadline.map(|d| d.saturating_duration_since(now));
        if let Some(m) = max_wait {
            wait = Some(wait.map_or(m, |w| w.min(m)));
        }
        let mut fds: Vec<(Source, RawFd)> = vec![(Source::LinkEvents, self.events.as_raw_fd())];
        if let Some(c) = &self.control {
            fds.push((Source::Signals, c.signal_fd().as_raw_fd()));
            if let Some(w) = c.watch_fd() {
                fds.push((Source::Watch, w.as_raw_fd()));
            }
        }
        if let Some(w) = &self.wan {
            fds.push((Source::Wan, w.sock.as_raw_fd()));
        }
        if let Some(l) = &self.lan {
            fds.push((Source::Lan, l.sock.as_raw_fd()));
        }
        fds.extend(self.dns.fds().into_iter().map(|fd| (Source::Dns, fd)));
        if let Some(v6) = &self.v6 {
            fds.extend(v6.fds().into_iter().map(|fd| (Source::Ipv6, fd)));
        }
        let ready: Vec<(Source, RawFd)> = {
            // SAFETY: every fd is owned by `self` and stays open until the poll returns.
            let mut pfds: Vec<PollFd> = fds.iter().map(|(_, fd)| PollFd::new(unsafe { BorrowedFd::borrow_raw(*fd) }, PollFlags::POLLIN)).collect();
            let timeout = match wait {
                None => PollTimeout::NONE,
                Some(w) => PollTimeout::try_from(w.as_millis().min(i32::MAX as u128) as i32 + 1).unwrap_or(PollTimeout::MAX),
            };
            match poll(&mut pfds, timeout) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
            fds.iter().zip(&pfds).filter(|(_, p)| p.revents().is_some_and(|r| !r.is_empty())).map(|(f, _)| *f).collect()
        };
        let now = Instant::now();
        for (source, fd) in ready {
            match source {
                Source::LinkEvents => self.on_link_events(now),
                Source::Signals => {
                    if !self.on_signal() {
                        return Ok(false);
                    }
                }
                Source::Watch => self.on_watch(now),
                Source::Wan => self.on_wan_readable(now),
                Source::Lan => self.on_lan_readable(now),
                Source::Dns => self.dns.on_readable(fd, now),
                Source::Ipv6 => {
                    if let Some(v6) = &mut self.v6 {
                        if v6.on_readable(fd, &mut self.rtnl, now).dns {
                            self.update_upstreams();
                        }
                    }
                }
            }
        }
        if let Some(v6) = &mut self.v6 {
            if v6.deadline().is_some_and(|d| d <= now) && v6.on_timer(&mut self.rtnl, now).dns {
                self.update_upstreams();
            }
        }
        if self.v6.as_ref().is_some_and(|v| v.lan_addrs() != self.published6) {
            self.publish_hosts6();
        }
        if self.v6.as_ref().is_some_and(|v| v.lease().map_or(&[][..], |l| &l.ntp[..]) != &self.ntp6[..]) {
            self.publish_ntp(None);
        }
        if let Some(w) = &mut self.wan {
            if w.client.deadline().is_some_and(|d| d <= now) {
                let actions = w.client.on_timer(now);
                self.client_actions(actions, now);
            }
        }
        if self.dns.deadline().is_some_and(|d| d <= now) {
            self.dns.on_timer(now);
        }
        if self.leases_deadline().is_some_and(|d| d <= now) {
            self.save_leases();
        }
        if self.reload_at.is_some_and(|d| d <= now) {
            self.reload_at = None;
            crate::say!("configuration file changed: reloading");
            self.reload();
        }
        Ok(true)
    }

    /// Saves what must survive (the leases, renewals included, when anything changed since
    /// the last write) and gives the delegated IPv6 prefix back ([`crate::ipv6::Ipv6::shutdown`]);
    /// the IPv4 network stays as it is.
    pub fn shutdown(&mut self) {
        if let Some(v6) = &mut self.v6 {
            v6.shutdown(&mut self.rtnl);
        }
        if let Some(lan) = &mut self.lan {
            if lan.server.take_stale() || self.leases_pending {
                self.leases_pending = false;
                self.write_leases();
            }
        }
    }
}

fn send_reply(lan: &LanServer, reply: crate::dhcp_server::Reply, from: SocketAddr, now: Instant, noisy: &mut Limited) {
    let bytes = match reply.msg.encode() {
        Ok(b) => b,
        Err(e) => return crate::say!("dhcp: cannot encode a reply: {e}"),
    };
    let mut to = reply.to;
    if let Some((ip, mac)) = reply.arp {
        if let Err(e) = udp::set_arp(&lan.sock, &lan.device, ip, mac) {
            limited!(noisy, now, "dhcp: cannot set the ARP entry for {ip}: {e}; replying by broadcast");
            to = Ipv4Addr::BROADCAST;
        }
    }
    if let Err(e) = lan.sock.send_to(&bytes, (to, reply.port)) {
        limited!(noisy, now, "dhcp: cannot reply to {from} via {to}: {e}");
    }
}

/// The daemon's main: signals blocked and read from a signalfd, the configuration
/// directory watched, then the event loop until SIGTERM. Returns the exit status.
pub fn run(paths: Paths) -> i32 {
    let mut control = match Control::open(&[]) {
        Ok(c) => c,
        Err(e) => {
            crate::log::LOG.error(format_args!("{e}"));
            return 1;
        }
    };
    // Whole-file replacements only (the web UI's atomic save, editors); edits written line
    // by line on the console take effect with SIGHUP or `service restart netd`.
    if let Err(e) = control.watch(&paths.config_dir) {
        crate::say!("{e}: reload with SIGHUP");
    }
    let mut d = match Daemon::start(paths) {
        Ok(d) => d,
        Err(e) => {
            crate::log::LOG.error(format_args!("cannot start: {e}"));
            return 1;
        }
    };
    d.control = Some(control);
    crate::say!("running");
    loop {
        match d.step(None) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                crate::say!("event loop: {e}");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
    crate::say!("stopping (the network stays configured)");
    d.shutdown();
    0
}
