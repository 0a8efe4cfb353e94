//! IPv6 on the router (`wan.ipv6 = "auto"`), what odhcp6c and odhcpd do on OpenWrt:
//!
//! - WAN: the kernel accepts the ISP's router advertisements although the router forwards
//!   (accept_ra = 2 on the WAN device, set here; the default route comes from them), and
//!   netd's DHCPv6 client ([`crate::dhcpv6_client`]) gets a delegated prefix, perhaps a WAN
//!   address, and DNS servers. A lease goes through
//!   [`crate::dhcpv6_client::Lease::vet`] first.
//! - LAN: the bridge gets `<ULA /64>::1` (always: the DNS server address the LAN is told,
//!   stable when the ISP renumbers) and `<delegated /64>::1` with the lease's lifetimes;
//!   netd sends router advertisements for both /64s with the ULA address as RDNSS, the
//!   local domain as DNSSL and the bridge's MTU ([`crate::ra`]), and answers DHCPv6
//!   INFORMATION-REQUESTs with the same DNS server and search list (stateless DHCPv6, RFC
//!   8415 6.1: [`information_reply`]; the advertisements' O flag says so). What of the
//!   delegated prefix is not the LAN's gets an unreachable route (no loop back to the ISP,
//!   RFC 7084 WPD-5). A new prefix deprecates the old one: its LAN address stays with
//!   preferred lifetime 0 until it runs out, and the advertisements say the same. A new
//!   ULA /64 (a reload, [`Ipv6::retire_ula`]) removes the old address at once and
//!   deprecates the old /64.
//! - Shutdown ([`Ipv6::shutdown`]): RELEASE to the DHCPv6 server (at most
//!   [`RELEASE_WAIT`]), and a last advertisement with the delegated /64's lifetimes 0.
//! - Forwarding (net.ipv6.conf.all.forwarding) is turned on by the daemon only once the
//!   firewall is in place, and off when it cannot load ([`set_forwarding`]).
//!
//! The ULA /48 is `lan.ula`, else the one in /etc/oxwrt/netd/ula-prefix, else made up from
//! random bits at first start and written there (RFC 4193 3.2): one flash write per
//! router.
//!
//! Sockets: UDP [::]:546 bound to the WAN device (the client; CAP_NET_BIND_SERVICE), UDP
//! [::]:547 bound to the LAN bridge (the stateless server), a raw
//! ICMPv6 socket bound to the LAN bridge that passes only router solicitations
//! (CAP_NET_RAW). Nothing here panics on what the network sends: every packet goes through
//! the bounds-checked parsers of crate `oxwrt-netproto`.

use crate::dhcpv6_client::{self, left, Action, Client, Lease};
use crate::ra::{Announce, Schedule, Timed};
use crate::rtnl::Rtnl;
use netproto::dhcpv6::{Message, ALL_SERVERS, CLIENT_PORT, SERVER_PORT};
use netproto::dns::Name;
use netproto::ndp;
use nix::sys::socket::{self, sockopt, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn6};
use oxwrt_config::{Ipv6Prefix, Network, WanIpv6};
use oxwrt_log::{limited, Limited};
use std::ffi::OsString;
use std::io;
use std::net::{Ipv6Addr, SocketAddrV6, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

/// The file that keeps the made-up ULA prefix, in netd's directory.
pub const ULA_FILE: &str = "ula-prefix";
/// net.ipv6.conf.all.forwarding.
pub const FORWARDING: &str = "/proc/sys/net/ipv6/conf/all/forwarding";

/// Turns IPv6 forwarding on or off (`path`: [`FORWARDING`]); logs what changed or failed.
pub fn set_forwarding(path: &Path, on: bool) {
    match crate::sysctl::set(path, if on { "1" } else { "0" }) {
        crate::sysctl::Outcome::Set(_) => crate::say!("IPv6 forwarding {}", if on { "on" } else { "off" }),
        crate::sysctl::Outcome::Unchanged => {}
        crate::sysctl::Outcome::Missing => crate::say!("{} does not exist: a kernel without IPv6 (CONFIG_IPV6)", path.display()),
        crate::sysctl::Outcome::ReadOnly(v) | crate::sysctl::Outcome::Failed(v) => {
            crate::log::LOG.error(format_args!("cannot set {} to {} ({v}); netd needs CAP_NET_ADMIN", path.display(), u8::from(on)));
        }
    }
}

/// The ULA /48: configured, else kept in `dir`/ula-prefix, else made up and kept there.
pub fn ula(configured: Option<Ipv6Prefix>, dir: &Path) -> Ipv6Prefix {
    if let Some(u) = configured {
        return u;
    }
    let path = dir.join(ULA_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        match text.trim().parse::<Ipv6Prefix>() {
            Ok(p) if p.is_ula() && p.prefix_len() == 48 => return p,
            _ => crate::say!("{}: `{}` is not a ULA /48; making up a new one", path.display(), text.trim()),
        }
    }
    let p = oxwrt_config::ipv6::ula_from_random(oxwrt_log::rng::u64());
    match crate::state::write_if_changed(&path, &format!("{p}\n")) {
        Ok(_) => crate::say!("made up the LAN's ULA prefix {p} (kept in {}; set lan.ula to choose one)", path.display()),
        Err(e) => crate::say!("cannot keep the ULA prefix {p} in {}: {e}; it changes at every start until that works", path.display()),
    }
    p
}

/// UDP [::]:546 on `device` only.
fn client_socket(device: &str) -> io::Result<UdpSocket> {
    let fd = socket::socket(AddressFamily::Inet6, SockType::Datagram, SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK, None)?;
    socket::setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
    socket::setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    socket::setsockopt(&fd, sockopt::BindToDevice, &OsString::from(device))?;
    socket::bind(fd.as_raw_fd(), &SockaddrIn6::from(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, CLIENT_PORT, 0, 0)))?;
    Ok(UdpSocket::from(fd))
}

fn setopt_int(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: an int option of the size given, read during the call.
    let r =
        unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (&value as *const libc::c_int).cast(), std::mem::size_of::<libc::c_int>() as libc::socklen_t) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// ICMP6_FILTER (linux/icmpv6.h): a bit set blocks that type.
const ICMP6_FILTER: libc::c_int = 1;

/// The raw ICMPv6 socket of the LAN's router advertisements: bound to `device`, hop limit
/// 255 (RFC 4861 6.1.2: hosts drop anything else), only router solicitations come in.
fn ra_socket(device: &str, index: u32) -> io::Result<OwnedFd> {
    let fd = socket::socket(AddressFamily::Inet6, SockType::Raw, SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK, SockProtocol::IcmpV6)?;
    socket::setsockopt(&fd, sockopt::BindToDevice, &OsString::from(device))?;
    setopt_int(&fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS, 255)?;
    setopt_int(&fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, 255)?;
    setopt_int(&fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_LOOP, 0)?;
    let mut filter = [u32::MAX; 8];
    let rs = usize::from(ndp::ROUTER_SOLICIT);
    filter[rs >> 5] &= !(1u32 << (rs & 31));
    // SAFETY: the filter is 32 bytes, struct icmp6_filter's size, read during the call.
    let r = unsafe { libc::setsockopt(fd.as_raw_fd(), libc::IPPROTO_ICMPV6, ICMP6_FILTER, filter.as_ptr().cast(), 32) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    join(&fd, ndp::ALL_ROUTERS, index)?;
    Ok(fd)
}

/// Joins the link-scoped multicast `group` on device `index` (already joined: fine).
fn join(fd: &impl AsRawFd, group: Ipv6Addr, index: u32) -> io::Result<()> {
    let mreq = libc::ipv6_mreq { ipv6mr_multiaddr: libc::in6_addr { s6_addr: group.octets() }, ipv6mr_interface: index };
    // SAFETY: ipv6_mreq of the size given, read during the call.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_ADD_MEMBERSHIP,
            (&mreq as *const libc::ipv6_mreq).cast(),
            std::mem::size_of::<libc::ipv6_mreq>() as libc::socklen_t,
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EADDRINUSE) {
            return Err(e);
        }
    }
    Ok(())
}

/// UDP [::]:547 on the LAN bridge, in All_DHCP_Relay_Agents_and_Servers: the stateless
/// DHCPv6 server (RFC 8415 6.1) that tells hosts the DNS server.
fn server_socket(device: &str, index: u32) -> io::Result<UdpSocket> {
    let fd = socket::socket(AddressFamily::Inet6, SockType::Datagram, SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK, None)?;
    socket::setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
    socket::setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    socket::setsockopt(&fd, sockopt::BindToDevice, &OsString::from(device))?;
    socket::bind(fd.as_raw_fd(), &SockaddrIn6::from(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, SERVER_PORT, 0, 0)))?;
    join(&fd, ALL_SERVERS, index)?;
    Ok(UdpSocket::from(fd))
}

/// The stateless server's answer to `m` (RFC 8415 18.3.6, 18.4): a REPLY with the DNS
/// server and the search list (`domain`, option 24, RFC 3646) to an INFORMATION-REQUEST
/// that carries no IA and names no other server; None for anything else (SOLICIT and the
/// rest: this router hands out no addresses).
pub fn information_reply(m: &Message, server_id: &[u8], dns: Ipv6Addr, domain: Option<&Name>) -> Option<Message> {
    use netproto::dhcpv6::{code, msg, Opt};
    if m.msg_type != msg::INFORMATION_REQUEST {
        return None;
    }
    if m.options.iter().any(|o| matches!(o.code(), code::IA_NA | code::IA_TA | code::IA_PD)) {
        return None;
    }
    if m.server_id().is_some_and(|s| s != server_id) {
        return None;
    }
    let mut r = Message::new(msg::REPLY, m.xid);
    r.options.push(Opt::ServerId(server_id.to_vec()));
    if let Some(c) = m.client_id() {
        r.options.push(Opt::ClientId(c.to_vec()));
    }
    r.options.push(Opt::DnsServers(vec![dns]));
    if let Some(d) = domain {
        r.options.push(Opt::Other { code: code::DOMAIN_LIST, data: d.wire().to_vec() });
    }
    Some(r)
}

struct Wan {
    client: Client,
    sock: UdpSocket,
    index: u32,
}

struct Lan {
    sock: OwnedFd,
    /// The stateless DHCPv6 server (None: its socket did not open; hosts still get the DNS
    /// server from the advertisements' RDNSS).
    dhcp: Option<UdpSocket>,
    server_id: Vec<u8>,
    index: u32,
    announce: Announce,
    schedule: Schedule,
}

/// What changed for the rest of netd.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Changed {
    /// The upstream IPv6 DNS servers.
    pub dns: bool,
}

/// IPv6 of the WAN and the LAN.
pub struct Ipv6 {
    wan_dev: String,
    lan_dev: String,
    subnet: u16,
    pd_len: u8,
    ula48: Ipv6Prefix,
    /// The local domain: DNSSL and DHCPv6 option 24 (None: no domain, or not a DNS name).
    domain: Option<Name>,
    wan: Option<Wan>,
    lan: Option<Lan>,
    /// The vetted lease in force.
    lease: Option<Lease>,
    /// The LAN /64 of the delegated prefix in force.
    lan_pd: Option<Ipv6Prefix>,
    noisy: Limited,
    buf: Vec<u8>,
}

/// (index, MAC address, MTU) of device `name`.
fn index_of(rtnl: &mut Rtnl, name: &str) -> Option<(u32, Option<[u8; 6]>, u32)> {
    rtnl.links().ok()?.into_iter().find(|l| l.name == name).map(|l| (l.index, l.mac, l.mtu))
}

impl Ipv6 {
    /// IPv6 for `net`, or None when `wan.ipv6 = "off"`. `dir` is netd's own directory
    /// (the ULA file); the WAN side starts only when `wan_ok` (the firewall is loaded).
    pub fn start(net: &Network, rtnl: &mut Rtnl, dir: &Path, wan_ok: bool, now: Instant) -> Option<Ipv6> {
        if net.wan.ipv6 == WanIpv6::Off {
            return None;
        }
        let mut v6 = Ipv6 {
            wan_dev: net.wan.device.clone(),
            lan_dev: net.lan.bridge.clone(),
            subnet: net.lan.ipv6_subnet,
            pd_len: net.wan.ipv6_prefix_length,
            ula48: ula(net.lan.ula, dir),
            domain: Some(net.local_domain()).filter(|d| !d.is_empty()).and_then(|d| Name::from_ascii(d).ok()),
            wan: None,
            lan: None,
            lease: None,
            lan_pd: None,
            noisy: crate::log::rate_limited(5),
            buf: vec![0; 1500],
        };
        v6.start_lan(rtnl, now);
        if wan_ok {
            v6.start_wan(rtnl, now);
        }
        Some(v6)
    }

    /// The LAN's ULA /64.
    pub fn ula64(&self) -> Ipv6Prefix {
        self.ula48.subnet64(self.subnet).unwrap_or(self.ula48)
    }

    /// The router's LAN address the DNS forwarder listens on and the LAN is told (RDNSS);
    /// None until the LAN side is up.
    pub fn lan_dns(&self) -> Option<Ipv6Addr> {
        self.lan.as_ref().map(|_| self.ula64().host(1))
    }

    /// The router's LAN IPv6 addresses: the ULA one, and the delegated /64's while there is
    /// one (what its own name resolves to).
    pub fn lan_addrs(&self) -> Vec<Ipv6Addr> {
        self.lan_dns().into_iter().chain(self.lan_pd.filter(|_| self.lan.is_some()).map(|p| p.host(1))).collect()
    }

    /// The upstream DNS servers of the DHCPv6 lease.
    pub fn upstreams(&self) -> Vec<Ipv6Addr> {
        self.lease.as_ref().map(|l| l.dns.clone()).unwrap_or_default()
    }

    /// The lease in force (vetted).
    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    fn start_lan(&mut self, rtnl: &mut Rtnl, now: Instant) {
        if self.lan.is_some() {
            return;
        }
        let Some((index, mac, mtu)) = index_of(rtnl, &self.lan_dev) else {
            return limited!(self.noisy, now, "ipv6: no LAN bridge {} yet; the LAN gets IPv6 once it exists", self.lan_dev);
        };
        crate::sysctl::apply_device(Path::new("/proc/sys"), "LAN", &self.lan_dev);
        let ula = self.ula64();
        if let Err(e) = rtnl.add_addr6(index, ula.host(1), 64, u32::MAX, u32::MAX) {
            crate::say!("ipv6: cannot add {}/64 to {}: {e}", ula.host(1), self.lan_dev);
        }
        match ra_socket(&self.lan_dev, index) {
            Ok(sock) => {
                let dhcp = match server_socket(&self.lan_dev, index) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        crate::say!("ipv6: cannot open the DHCPv6 server socket on {} (udp 547): {e}; DNS only through router advertisements", self.lan_dev);
                        None
                    }
                };
                // The bridge's MTU (its ports' smallest); IPv6 needs 1280 at least (RFC 8200 5).
                let mtu = Some(mtu).filter(|m| *m >= 1280);
                let announce =
                    Announce { mac, ula: Some(ula), dns: Some(ula.host(1)), domain: self.domain.clone(), mtu, other: dhcp.is_some(), ..Announce::default() };
                let schedule = Schedule::new(oxwrt_log::rng::u64(), now);
                let server_id = netproto::dhcpv6::duid_ll(mac.unwrap_or([2, 0, 0, 0, 0, 2]));
                self.lan = Some(Lan { sock, dhcp, server_id, index, announce, schedule });
                crate::say!("ipv6: LAN {} at {}/64, router advertisements on", self.lan_dev, ula.host(1));
            }
            Err(e) => crate::say!("ipv6: cannot open the router advertisement socket on {}: {e}; LAN hosts get no IPv6 (netd needs CAP_NET_RAW)", self.lan_dev),
        }
    }

    /// Starts the DHCPv6 client (the firewall is in place).
    pub fn start_wan(&mut self, rtnl: &mut Rtnl, now: Instant) {
        if self.wan.is_some() {
            return;
        }
        let Some((index, mac, _)) = index_of(rtnl, &self.wan_dev) else {
            return limited!(self.noisy, now, "ipv6: no WAN device {} yet; DHCPv6 starts once it exists", self.wan_dev);
        };
        crate::sysctl::apply_device(Path::new("/proc/sys"), "WAN", &self.wan_dev);
        match client_socket(&self.wan_dev) {
            Ok(sock) => {
                let mac = mac.unwrap_or([2, 0, 0, 0, 0, 1]);
                let client = Client::new(mac, self.pd_len, oxwrt_log::rng::u64(), now);
                self.wan = Some(Wan { client, sock, index });
                crate::say!("ipv6: DHCPv6 client on {} asking for a /{} prefix", self.wan_dev, self.pd_len);
            }
            Err(e) => crate::say!("ipv6: cannot open the DHCPv6 client socket on {} (udp 546): {e}; no delegated prefix", self.wan_dev),
        }
    }

    /// Links came or went: starts the sides that could not start for want of their device
    /// (the WAN's only when `wan_ok`: the firewall is in place).
    pub fn links_changed(&mut self, rtnl: &mut Rtnl, wan_ok: bool, now: Instant) {
        if self.lan.is_none() {
            self.start_lan(rtnl, now);
        }
        if wan_ok && self.wan.is_none() {
            self.start_wan(rtnl, now);
        }
    }

    /// Stops the WAN side (the firewall did not load); the lease is forgotten.
    pub fn stop_wan(&mut self, rtnl: &mut Rtnl, now: Instant) -> Changed {
        self.wan = None;
        self.lost(rtnl, now)
    }

    /// Gives the lease back (wan.ipv6 turned off, or another WAN): RELEASE, then the
    /// addresses and routes go.
    pub fn release(&mut self, rtnl: &mut Rtnl, now: Instant) {
        if let Some(w) = &mut self.wan {
            if let Some(Action::Send(m)) = w.client.release(now) {
                let _ = send(w, &m);
            }
        }
        self.wan = None;
        self.lost(rtnl, now);
    }

    /// At shutdown (SIGTERM): the delegated prefix and WAN address go back to the ISP
    /// (RELEASE, RFC 8415 18.2.7) and a last advertisement deprecates the LAN's /64 of it
    /// (preferred and valid lifetime 0, RFC 7084 L-13) and stops being a default router
    /// (router lifetime 0, RFC 4861 6.2.5). Waits for the server's REPLY at most
    /// [`RELEASE_WAIT`] (one retransmission after a second), so that shutdown is never held
    /// longer. Returns whether the server confirmed.
    pub fn shutdown(&mut self, rtnl: &mut Rtnl) -> bool {
        let now = Instant::now();
        let lan_pd = self.lan_pd;
        let mut confirmed = false;
        if let Some(w) = &mut self.wan {
            if let Some(Action::Send(m)) = w.client.release(now) {
                confirmed = release_and_wait(w, &m, &mut self.buf, now + RELEASE_WAIT);
                crate::say!("ipv6: gave the delegated prefix back to the DHCPv6 server ({})", if confirmed { "confirmed" } else { "no reply within 1.5 s" });
            }
        }
        self.lost(rtnl, now);
        self.wan = None;
        if let Some(l) = &mut self.lan {
            // Gone now, not in two hours: the ISP may give it to someone else.
            l.announce.old.retain(|o| Some(o.prefix) != lan_pd);
            if let Some(p) = lan_pd {
                let _ = rtnl.del_addr6(l.index, p.host(1), 64);
                l.announce.old.push(Timed { prefix: p, preferred_until: Some(now), valid_until: Some(now + Duration::from_secs(1)) });
            }
            let mut ra = l.announce.advert(now);
            for pi in ra.prefixes.iter_mut().filter(|pi| Some(pi.prefix) == lan_pd.map(|p| p.addr())) {
                pi.valid = 0;
            }
            ra.router_lifetime = 0;
            let to = SockaddrIn6::from(SocketAddrV6::new(ndp::ALL_NODES, 0, 0, l.index));
            if let Err(e) = socket::sendto(l.sock.as_raw_fd(), &ra.encode(), &to, MsgFlags::empty()) {
                crate::say!("ipv6: cannot send the last router advertisement on {}: {e}", self.lan_dev);
            }
        }
        confirmed
    }

    /// The LAN's ULA /64 is no longer the one in the configuration (`lan.ula` or
    /// `lan.ipv6_subnet` changed, or IPv6 turned off): the router's address in it and so its
    /// route go, and one last advertisement from this side deprecates it (preferred lifetime
    /// 0; hosts keep what they made of it at most two hours, RFC 4862 5.5.3 e) and withdraws
    /// the old DNS server address (RDNSS lifetime 0). Returns the /64 as the next [`Ipv6`]
    /// should keep announcing it ([`Ipv6::deprecate`]); None when the LAN side never
    /// started.
    pub fn retire_ula(&mut self, rtnl: &mut Rtnl) -> Option<Timed> {
        let now = Instant::now();
        let ula = self.ula64();
        let l = self.lan.as_mut()?;
        if let Err(e) = rtnl.del_addr6(l.index, ula.host(1), 64) {
            crate::say!("ipv6: cannot remove the old ULA address {}/64 from {}: {e}", ula.host(1), self.lan_dev);
        }
        let old = Timed { prefix: ula, preferred_until: Some(now), valid_until: Some(now + Duration::from_secs(crate::ra::TWO_HOURS.into())) };
        let old_dns = l.announce.dns.take();
        l.announce.ula = None;
        l.announce.old.retain(|o| o.prefix != ula);
        l.announce.old.push(old);
        let mut ra = l.announce.advert(now);
        // The DNS server address that just went: lifetime 0, hosts drop it (RFC 8106 5.1).
        ra.rdnss = old_dns.map(|d| vec![(0, vec![d])]).unwrap_or_default();
        let to = SockaddrIn6::from(SocketAddrV6::new(ndp::ALL_NODES, 0, 0, l.index));
        if let Err(e) = socket::sendto(l.sock.as_raw_fd(), &ra.encode(), &to, MsgFlags::empty()) {
            crate::say!("ipv6: cannot send the advertisement that deprecates {ula} on {}: {e}", self.lan_dev);
        }
        crate::say!("ipv6: the LAN's ULA prefix {ula} is deprecated (the configuration changed)");
        Some(old)
    }

    /// Keeps announcing `old` (a /64 this LAN had before) as deprecated until its valid
    /// time ends, unless it is in use again.
    pub fn deprecate(&mut self, old: Timed, now: Instant) {
        let ula = self.ula64();
        let Some(l) = self.lan.as_mut() else { return };
        if old.prefix == ula || self.lan_pd == Some(old.prefix) {
            return;
        }
        l.announce.old.retain(|o| o.prefix != old.prefix);
        l.announce.old.push(old);
        if l.announce.old.len() > crate::ra::MAX_OLD {
            l.announce.old.remove(0);
        }
        l.schedule.changed(now);
    }

    pub fn fds(&self) -> Vec<RawFd> {
        let lan = self.lan.iter().flat_map(|l| std::iter::once(l.sock.as_raw_fd()).chain(l.dhcp.iter().map(|d| d.as_raw_fd())));
        self.wan.iter().map(|w| w.sock.as_raw_fd()).chain(lan).collect()
    }

    pub fn deadline(&self) -> Option<Instant> {
        [self.wan.as_ref().and_then(|w| w.client.deadline()), self.lan.as_ref().map(|l| l.schedule.deadline())].into_iter().flatten().min()
    }

    /// The WAN's carrier came back.
    pub fn link_up(&mut self, rtnl: &mut Rtnl, now: Instant) -> Changed {
        let Some(w) = &mut self.wan else { return Changed::default() };
        let actions = w.client.link_up(now);
        self.actions(actions, rtnl, now)
    }

    pub fn on_readable(&mut self, fd: RawFd, rtnl: &mut Rtnl, now: Instant) -> Changed {
        let mut changed = Changed::default();
        if self.wan.as_ref().is_some_and(|w| w.sock.as_raw_fd() == fd) {
            while let Some(w) = &mut self.wan {
                let n = match w.sock.recv_from(&mut self.buf) {
                    Ok((n, _)) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        limited!(self.noisy, now, "ipv6: DHCPv6 socket: {e}");
                        break;
                    }
                };
                match Message::parse(&self.buf[..n]) {
                    Ok(m) => {
                        let actions = w.client.on_message(&m, now);
                        let c = self.actions(actions, rtnl, now);
                        changed.dns |= c.dns;
                    }
                    Err(e) => limited!(self.noisy, now, "ipv6: dropped a malformed DHCPv6 packet: {e}"),
                }
            }
        }
        let dns = self.lan_dns();
        if let Some(l) = self.lan.as_mut().filter(|l| l.dhcp.as_ref().is_some_and(|d| d.as_raw_fd() == fd)) {
            while let Some(d) = &l.dhcp {
                let (n, from) = match d.recv_from(&mut self.buf) {
                    Ok(r) => r,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        limited!(self.noisy, now, "ipv6: DHCPv6 server socket: {e}");
                        break;
                    }
                };
                let Ok(m) = Message::parse(&self.buf[..n]) else { continue };
                let Some(reply) = dns.and_then(|dns| information_reply(&m, &l.server_id, dns, self.domain.as_ref())) else { continue };
                if let Err(e) = reply.encode().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string())).and_then(|b| d.send_to(&b, from)) {
                    limited!(self.noisy, now, "ipv6: cannot answer {from} (DHCPv6): {e}");
                }
            }
        }
        if let Some(l) = self.lan.as_mut().filter(|l| l.sock.as_raw_fd() == fd) {
            loop {
                match socket::recvfrom::<SockaddrIn6>(l.sock.as_raw_fd(), &mut self.buf) {
                    Ok((n, _)) => {
                        if ndp::parse_solicit(&self.buf[..n.min(self.buf.len())]).is_ok() {
                            l.schedule.solicited(now);
                        }
                    }
                    Err(nix::errno::Errno::EAGAIN) => break,
                    Err(e) => {
                        limited!(self.noisy, now, "ipv6: router solicitation socket: {e}");
                        break;
                    }
                }
            }
        }
        changed
    }

    pub fn on_timer(&mut self, rtnl: &mut Rtnl, now: Instant) -> Changed {
        let mut changed = Changed::default();
        if let Some(w) = &mut self.wan {
            if w.client.deadline().is_some_and(|d| d <= now) {
                let actions = w.client.on_timer(now);
                changed = self.actions(actions, rtnl, now);
            }
        }
        if let Some(l) = &mut self.lan {
            if l.schedule.deadline() <= now {
                let ra = l.announce.advert(now).encode();
                let to = SockaddrIn6::from(SocketAddrV6::new(ndp::ALL_NODES, 0, 0, l.index));
                match socket::sendto(l.sock.as_raw_fd(), &ra, &to, MsgFlags::empty()) {
                    Ok(_) => l.schedule.sent(now),
                    Err(e) => {
                        l.schedule.failed(now);
                        limited!(self.noisy, now, "ipv6: cannot send a router advertisement on {}: {e} (no link-local address yet?)", self.lan_dev);
                    }
                }
            }
        }
        changed
    }

    fn actions(&mut self, actions: Vec<Action>, rtnl: &mut Rtnl, now: Instant) -> Changed {
        let mut changed = Changed::default();
        for a in actions {
            match a {
                Action::Send(m) => {
                    if let Some(w) = &self.wan {
                        if let Err(e) = send(w, &m) {
                            // Right after the link comes up its link-local address is still
                            // being checked (DAD): the retransmission goes out once it is.
                            let why = match e.raw_os_error() {
                                Some(libc::EADDRNOTAVAIL) | Some(libc::ENETUNREACH) => " (no usable link-local address yet; sent again later)",
                                _ => "",
                            };
                            limited!(self.noisy, now, "ipv6: cannot send a DHCPv6 message on {}: {e}{why}", self.wan_dev);
                        }
                    }
                }
                Action::Bound(lease) => match lease.vet(Some(self.ula48)) {
                    Ok((lease, dropped)) => {
                        for why in dropped {
                            limited!(self.noisy, now, "ipv6: lease: {why}");
                        }
                        changed.dns |= self.bind(lease, rtnl, now);
                    }
                    Err(why) => {
                        limited!(self.noisy, now, "ipv6: refused the DHCPv6 lease: {why}");
                        changed.dns |= self.lost(rtnl, now).dns;
                    }
                },
                Action::Lost => {
                    crate::say!("ipv6: the DHCPv6 lease ended");
                    changed.dns |= self.lost(rtnl, now).dns;
                }
            }
        }
        changed
    }

    /// Applies a vetted lease; returns whether the DNS servers changed.
    fn bind(&mut self, lease: Lease, rtnl: &mut Rtnl, now: Instant) -> bool {
        let dns_changed = self.lease.as_ref().map(|l| &l.dns) != Some(&lease.dns);
        let lan_pd = lease.prefix.map(|(p, _)| {
            p.subnet64(self.subnet).unwrap_or_else(|| {
                limited!(self.noisy, now, "ipv6: lan.ipv6_subnet {} does not fit the delegated {p}; the LAN uses its first /64", self.subnet);
                p.subnet64(0).unwrap_or(p)
            })
        });
        let old_prefix = self.lease.as_ref().and_then(|l| l.prefix.map(|p| p.0));
        let new_prefix = lease.prefix.map(|p| p.0);
        if old_prefix != new_prefix || dns_changed {
            let valid = lease.prefix.map(|p| p.1.valid).unwrap_or(0);
            crate::say!(
                "ipv6: delegated prefix {} (valid {valid} s), LAN {}, WAN address {}, DNS {:?}",
                new_prefix.map_or("none".into(), |p| p.to_string()),
                lan_pd.map_or("-".into(), |p| p.to_string()),
                lease.address.map_or("none".into(), |a| a.0.to_string()),
                lease.dns
            );
        }
        if let Some(old) = old_prefix.filter(|o| Some(*o) != new_prefix) {
            let _ = rtnl.del_unreachable6(old.addr(), old.prefix_len());
        }
        if let Some(p) = new_prefix {
            if let Err(e) = rtnl.add_unreachable6(p.addr(), p.prefix_len()) {
                limited!(self.noisy, now, "ipv6: cannot add the unreachable route for {p}: {e}");
            }
        }
        // The LAN address: the old /64's deprecated, the new one's with the lease's times.
        if let (Some(l), Some(old)) = (&self.lan, self.lan_pd.filter(|o| Some(*o) != lan_pd)) {
            let valid_left = self.lease.as_ref().and_then(|x| x.prefix.map(|p| left(x.since, p.1.valid, now))).unwrap_or(0).min(crate::ra::TWO_HOURS);
            let r = if valid_left == 0 { rtnl.del_addr6(l.index, old.host(1), 64) } else { rtnl.add_addr6(l.index, old.host(1), 64, 0, valid_left) };
            if let Err(e) = r {
                limited!(self.noisy, now, "ipv6: cannot deprecate {}/64 on {}: {e}", old.host(1), self.lan_dev);
            }
        }
        let timed = lan_pd.zip(lease.prefix).map(|(p, (_, t))| Timed {
            prefix: p,
            preferred_until: (t.preferred != u32::MAX).then(|| lease.since + Duration::from_secs(t.preferred.into())),
            valid_until: (t.valid != u32::MAX).then(|| lease.since + Duration::from_secs(t.valid.into())),
        });
        if let (Some(l), Some((p, (_, t)))) = (&mut self.lan, lan_pd.zip(lease.prefix)) {
            let (pref, valid) = (left(lease.since, t.preferred, now), left(lease.since, t.valid, now));
            if let Err(e) = rtnl.add_addr6(l.index, p.host(1), 64, pref, valid) {
                limited!(self.noisy, now, "ipv6: cannot add {}/64 to {}: {e}", p.host(1), self.lan_dev);
            }
            if self.lan_pd != lan_pd {
                l.schedule.changed(now);
            }
            l.announce.set_delegated(timed, now);
        } else if let Some(l) = &mut self.lan {
            l.announce.set_delegated(None, now);
        }
        // The WAN's own address (IA_NA), a /128: the ISP's router advertisements say what
        // is on-link.
        if let Some(w) = &self.wan {
            let old = self.lease.as_ref().and_then(|l| l.address.map(|a| a.0));
            if let Some(o) = old.filter(|o| Some(*o) != lease.address.map(|a| a.0)) {
                let _ = rtnl.del_addr6(w.index, o, 128);
            }
            if let Some((a, t)) = lease.address {
                if let Err(e) = rtnl.add_addr6(w.index, a, 128, left(lease.since, t.preferred, now), left(lease.since, t.valid, now)) {
                    limited!(self.noisy, now, "ipv6: cannot add {a}/128 to {}: {e}", self.wan_dev);
                }
            }
        }
        self.lan_pd = lan_pd;
        self.lease = Some(lease);
        dns_changed
    }

    /// The lease is gone: its routes and WAN address go, the LAN's /64 is deprecated (the
    /// kernel removes it when its valid lifetime, the lease's, runs out).
    fn lost(&mut self, rtnl: &mut Rtnl, now: Instant) -> Changed {
        let Some(old) = self.lease.take() else { return Changed::default() };
        if let Some((p, _)) = old.prefix {
            let _ = rtnl.del_unreachable6(p.addr(), p.prefix_len());
        }
        if let (Some(w), Some((a, _))) = (&self.wan, old.address) {
            let _ = rtnl.del_addr6(w.index, a, 128);
        }
        if let (Some(l), Some(p)) = (&mut self.lan, self.lan_pd.take()) {
            let valid_left = old.prefix.map(|(_, t)| left(old.since, t.valid, now)).unwrap_or(0).min(crate::ra::TWO_HOURS);
            let _ = if valid_left == 0 { rtnl.del_addr6(l.index, p.host(1), 64) } else { rtnl.add_addr6(l.index, p.host(1), 64, 0, valid_left) };
            l.announce.set_delegated(None, now);
            l.schedule.changed(now);
        }
        Changed { dns: !old.dns.is_empty() }
    }
}

/// How long shutdown waits for the REPLY to a RELEASE at most.
pub const RELEASE_WAIT: Duration = Duration::from_millis(1500);

/// Sends the RELEASE `m`, again after a second without an answer, and waits until
/// `until` for the server's REPLY (same transaction ID). Returns whether it came.
fn release_and_wait(w: &Wan, m: &Message, buf: &mut [u8], until: Instant) -> bool {
    let mut resend = Some(Instant::now() + Duration::from_secs(1));
    if send(w, m).is_err() {
        return false;
    }
    loop {
        let now = Instant::now();
        if now >= until {
            return false;
        }
        if resend.is_some_and(|r| now >= r) {
            resend = None;
            let _ = send(w, m);
        }
        let wait = resend.unwrap_or(until).min(until).saturating_duration_since(now);
        let mut pfd = [libc::pollfd { fd: w.sock.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        // SAFETY: one pollfd, valid during the call.
        let n = unsafe { libc::poll(pfd.as_mut_ptr(), 1, wait.as_millis().clamp(1, 1500) as libc::c_int) };
        if n <= 0 {
            continue;
        }
        while let Ok((len, _)) = w.sock.recv_from(buf) {
            if Message::parse(&buf[..len]).is_ok_and(|r| r.msg_type == netproto::dhcpv6::msg::REPLY && r.xid == m.xid) {
                return true;
            }
        }
    }
}

fn send(w: &Wan, m: &Message) -> io::Result<()> {
    let bytes = m.encode().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    w.sock.send_to(&bytes, SocketAddrV6::new(ALL_SERVERS, SERVER_PORT, 0, w.index))?;
    Ok(())
}

/// For tests: the client's state.
pub fn client_state(v6: &Ipv6) -> Option<dhcpv6_client::State> {
    v6.wan.as_ref().map(|w| w.client.state())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ULA /48 is made up once and kept; a configured one wins; a broken file is
    /// replaced.
    #[test]
    fn the_ula_prefix_is_made_up_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("netd-ula-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = ula(None, &dir);
        assert!(first.is_ula() && first.prefix_len() == 48, "{first}");
        assert_eq!(std::fs::read_to_string(dir.join(ULA_FILE)).unwrap(), format!("{first}\n"));
        assert_eq!(ula(None, &dir), first, "the same one at the next start");
        let set: Ipv6Prefix = "fd00:1:2::/48".parse().unwrap();
        assert_eq!(ula(Some(set), &dir), set);
        std::fs::write(dir.join(ULA_FILE), "2001:db8::/48\n").unwrap();
        let again = ula(None, &dir);
        assert!(again.is_ula() && again != first, "not a ULA in the file: a new one");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn information_requests_get_the_dns_server_and_nothing_else_does() {
        use netproto::dhcpv6::{duid_ll, msg, Opt};
        let ours = duid_ll([2, 0, 0, 0, 0, 1]);
        let dns: Ipv6Addr = "fd00:1:2::1".parse().unwrap();
        let mut req = Message::new(msg::INFORMATION_REQUEST, 0x42);
        req.options = vec![Opt::ClientId(duid_ll([2, 0, 0, 0, 0, 7])), Opt::Oro(vec![23])];
        let lan = Name::from_ascii("lan").unwrap();
        let r = information_reply(&req, &ours, dns, Some(&lan)).unwrap();
        assert_eq!((r.msg_type, r.xid), (msg::REPLY, 0x42));
        assert_eq!(r.server_id(), Some(&ours[..]));
        assert_eq!(r.client_id(), Some(&duid_ll([2, 0, 0, 0, 0, 7])[..]));
        assert_eq!(r.dns_servers(), vec![dns]);
        assert!(r.options.contains(&Opt::Other { code: netproto::dhcpv6::code::DOMAIN_LIST, data: b"\x03lan\x00".to_vec() }), "{r:?}");
        let mut other_server = req.clone();
        other_server.options.push(Opt::ServerId(duid_ll([2, 0, 0, 0, 0, 9])));
        assert!(information_reply(&other_server, &ours, dns, None).is_none(), "meant for another server");
        let mut with_ia = req.clone();
        with_ia.options.push(Opt::IaNa(netproto::dhcpv6::Ia { iaid: 1, t1: 0, t2: 0, options: vec![] }));
        assert!(information_reply(&with_ia, &ours, dns, None).is_none(), "RFC 8415 18.4: an IA in an INFORMATION-REQUEST");
        let solicit = Message { msg_type: msg::SOLICIT, ..req };
        assert!(information_reply(&solicit, &ours, dns, None).is_none(), "no addresses here");
    }
}
