//! The LAN's DNS forwarder with a cache, driven by netd's poll loop (no threads, no
//! async runtime).
//!
//! - Listens on UDP and TCP port 53 of the LAN address and of 127.0.0.1 ([`Settings`]).
//! - Answers itself ([`local`]): LAN hosts by name from the DHCP leases (`nas.lan` and
//!   bare `nas`, A records; PTR for their addresses), NXDOMAIN for other names under the
//!   local domain, bare names and reverse names of private addresses (never sent out).
//!   AAAA: the router's own name at its LAN addresses; a client's name (a lease's or a
//!   static lease's) at the global and ULA addresses the kernel's IPv6 neighbour table
//!   holds for the lease's MAC on the LAN bridge ([`local::client_addrs6`]; SLAAC hosts
//!   make their addresses up, so no lease has them), at most [`local::MAX_ADDRS6`], TTL
//!   60 s or the lease's remaining time if shorter; NODATA when it holds none. Each such
//!   AAAA (or ANY) query costs one RTM_GETNEIGH dump on a fresh netlink socket, answered
//!   by the kernel at once from its table (no waiting on the network; a few hundred bytes
//!   per neighbour, read and dropped): simpler than keeping a copy of the table from
//!   neighbour events, and never stale. A dump that fails is logged once and answered
//!   NODATA.
//! - Forwards everything else to the upstream servers (from config, or from the WAN's
//!   DHCP lease: [`Forwarder::set_upstream`]), starting with the one that answered last;
//!   each query from a new socket (random source port) with a random ID, connected to
//!   the server so that only its answers get in, and the question checked. A server that
//!   does not answer within [`Settings::timeout`], or answers SERVFAIL or REFUSED, is
//!   followed by the next; when none is left the client gets SERVFAIL. An answer with TC
//!   set is asked again over TCP from the same server.
//! - Caches answers ([`cache`]) by question, for their smallest TTL (negative answers: the
//!   SOA's minimum, RFC 2308), serving them with TTLs aged; at most `dns.cache_size`.
//! - Relays the answer's bytes as received, with the client's ID and the case of its
//!   question (DNS 0x20), without the OPT record if the client sent none, and truncated
//!   (TC, so the client retries over TCP) when larger than the client takes over UDP.
//! - DNS rebinding protection (`dns.rebind_protection`, on by default): an upstream answer
//!   with an A or AAAA record at a private, loopback or link-local address
//!   ([`rebind_target`]) is answered NOERROR with no records and not cached, as dnsmasq's
//!   `--stop-dns-rebind` does, and logged ("possible DNS-rebind attack detected"); names
//!   under `dns.rebind_domain` are exempt. LAN names are answered locally, never checked.
//! - Drops what does not parse (logged, at most 10 lines a minute); NOTIMP for other
//!   opcodes, FORMERR for a query without exactly one question.
//!
//! # Limits (memory and time, for a 16 MiB router; docs/network-config.md "Limits")
//! Sized for the router's RAM by crate::budget ([`Limits`]; the numbers below are the most,
//! from 128 MiB of RAM up; a 16 MiB router gets 2 TCP clients, 27 queries in flight and
//! 252 KiB of cached answers).
//! - TCP clients: at most [`MAX_TCP_CLIENTS`] (8); a new one closes the least recently
//!   active. Each buffers at most [`MAX_TCP_IN`] (16 KiB) of queries, the rest stays in
//!   the kernel (its TCP window closes), and [`TCP_OUT_MAX`] (64 KiB) of answers plus the
//!   one answer that went past it: 144 KiB a client at worst, plus the sockets' kernel
//!   buffers.
//! - A TCP query is 1 to [`MAX_TCP_QUERY`] (4096) bytes: a zero-length frame, or a longer
//!   one, closes the connection (after the answers to the queries before it). Frames are
//!   parsed at an offset and the buffer moves once per round, and at most
//!   [`TCP_FRAMES_PER_WAKE`] (32) queries of one client are answered per round; the rest
//!   at the next [`Forwarder::on_timer`] (due at once), after the other sockets had their
//!   turn. One host cannot hold the poll loop that also runs DHCP and the links.
//! - UDP: [`BATCH`] (64) datagrams per socket per wake-up; [`MAX_PENDING`] (128) queries
//!   upstream at once.
//! - Cache: `dns.cache_size` answers and [`MAX_CACHE_BYTES`] (4 MiB) of them.
//!
//! # Size
//! No dependency beyond netproto (the DNS wire format) and libc: the forwarder adds
//! 90,856 bytes to a static MIPS32r1 binary (29,496 after xz; `device` profile), measured
//! like the firewall (see crate::nft), netproto's DNS code included. AAAA answers for LAN
//! clients (the neighbour dump, the MACs in crate::state) added 6,400 bytes to the
//! WRT54GL's multi-call binary (3,130 to its xz squashfs; `cargo xtask build --board
//! linksys-wrt54gl`, before and after).
//!
//! # Driving it from a poll loop
//! Two ways, the same machinery:
//! ```text
//! // netd (hooks.rs): LAN names and upstreams come from crate::state by themselves.
//! let mut dns = Forwarder::new(&config)?;       // after the LAN address is up
//! loop {
//!     poll(dns.fds() for POLLIN, timeout: until dns.deadline());
//!     for each ready fd: dns.on_readable(fd, Instant::now());
//!     if dns.deadline() <= now: dns.on_timer(now);
//! }
//! // Explicit: the caller hands in the names and the servers.
//! let mut dns = Forwarder::bind(Settings { .. })?;
//! loop {
//!     poll(dns.poll_fds(): POLLIN, and POLLOUT where PollFd::write; until dns.next_deadline());
//!     for each ready fd: dns.on_ready(fd, now, &leases);   // leases: impl Leases
//!     if dns.next_deadline() <= now: dns.on_timer(now);
//! }
//! dns.set_upstream(servers);                    // when the WAN's lease brings new ones
//! ```
//! Ask for the fds again every round: TCP connections and upstream sockets come and go.
//! A loop that never waits for POLLOUT still works: a write the socket did not take at
//! once (an upstream TCP connect, a large answer to a slow TCP client) is retried from
//! `on_timer`, which the deadline brings 10 ms later. `on_ready` never blocks and
//! tolerates being called for an fd that is not ready (or no longer its own). Time comes
//! in as an argument, which is how the tests move the clock.

pub mod cache;
pub mod local;
mod sock;

#[cfg(test)]
mod tests;

pub use local::{HostTable, Leases, NoLeases, LOCAL_TTL};

use cache::{Cache, Key};
use netproto::dns::{self as proto, cache as bytes, flag, rcode, Message, Name, Record};
use oxwrt_log::{limited, Limited};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

/// How long one upstream server gets to answer before the next is asked.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// The most queries out to upstream servers at once ([`Limits::pending`]).
pub const MAX_PENDING: usize = 128;
/// The most TCP clients at once ([`Limits::tcp_clients`]).
pub const MAX_TCP_CLIENTS: usize = 8;
/// Bytes buffered from one TCP client ([`Limits::tcp_in`]).
pub const MAX_TCP_IN: usize = crate::budget::TCP_IN;
/// The most bytes of answers cached ([`Limits::cache_bytes`]).
pub const MAX_CACHE_BYTES: usize = 4 << 20;
/// The longest query taken over TCP (a query has one question; 4 KiB is more than any
/// resolver sends); a longer frame, or an empty one, closes the connection.
pub const MAX_TCP_QUERY: usize = 4096;
/// Queries answered from one TCP client per wake-up; the rest wait for the next round
/// ([`Forwarder::next_deadline`] is then now), so one client cannot hold the poll loop.
pub const TCP_FRAMES_PER_WAKE: usize = 32;
/// A TCP client with nothing in flight is closed after this long (RFC 7766 6.2.3).
pub const TCP_IDLE: Duration = Duration::from_secs(10);
/// Answers waiting for a TCP client that does not read ([`Limits::tcp_out`]).
pub const TCP_OUT_MAX: usize = crate::budget::TCP_OUT;
/// Datagrams read from one socket per readiness, so one busy client cannot starve netd.
pub const BATCH: usize = 64;
/// Log lines about bad packets per minute.
const LOG_BURST: u32 = 10;
/// How soon a write that the socket did not take is tried again, for a poll loop that
/// waits for POLLIN only ([`Forwarder::fds`]).
const WRITE_RETRY: Duration = Duration::from_millis(10);
/// EDNS DO bit (in the OPT record's TTL field).
const EDNS_DO: u32 = 0x8000;

/// What the forwarder may hold in memory: crate::budget sizes it for the router's RAM;
/// the default is the most (a router with 128 MiB or more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// TCP clients at once; a new one closes the least recently active.
    pub tcp_clients: usize,
    /// Bytes buffered from one TCP client; more wait in the kernel until these are answered.
    pub tcp_in: usize,
    /// Answers waiting for a TCP client that does not read: past this, it is closed.
    pub tcp_out: usize,
    /// Queries out to upstream servers at once; more are dropped (clients retry).
    pub pending: usize,
    /// Bytes of answers the cache keeps (besides `Settings::cache_size` entries).
    pub cache_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { tcp_clients: MAX_TCP_CLIENTS, tcp_in: MAX_TCP_IN, tcp_out: TCP_OUT_MAX, pending: MAX_PENDING, cache_bytes: MAX_CACHE_BYTES }
    }
}

/// Where and how the forwarder runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Addresses to listen on, UDP and TCP (port 0: one picked, the same for both).
    pub listen: Vec<SocketAddr>,
    /// LAN hosts are `<name>.<local_domain>`.
    pub local_domain: String,
    /// Answers kept at most (0: no cache).
    pub cache_size: usize,
    pub upstream: Vec<SocketAddr>,
    /// Per server and attempt.
    pub timeout: Duration,
    /// Refuse upstream answers that put a public name at a private, loopback or
    /// link-local address ([`rebind_address`]): DNS rebinding protection.
    pub rebind_protection: bool,
    /// Domains (and their subdomains) whose answers may be private anyway.
    pub rebind_ok: Vec<String>,
    pub limits: Limits,
}

impl Settings {
    /// From network.toml: the LAN address and 127.0.0.1, port 53; `dns.cache_size`; the
    /// local domain; `dns.upstream` or a static WAN's `wan.dns` (with a DHCP WAN the list
    /// is empty until netd calls [`Forwarder::set_upstream`] with the lease's servers).
    pub fn from_config(net: &oxwrt_config::Network) -> Settings {
        let upstream = match net.dns_upstream() {
            oxwrt_config::Upstream::Servers(s) => s.into_iter().map(|ip| SocketAddr::from((ip, proto::PORT))).collect(),
            _ => Vec::new(),
        };
        Settings {
            listen: vec![(net.lan.address.addr(), proto::PORT).into(), (Ipv4Addr::LOCALHOST, proto::PORT).into()],
            local_domain: net.local_domain().to_string(),
            cache_size: net.dns.cache_size as usize,
            upstream,
            timeout: DEFAULT_TIMEOUT,
            rebind_protection: net.dns.rebind_protection,
            rebind_ok: net.dns.rebind_domain.clone(),
            limits: crate::budget::current().dns(),
        }
    }
}

/// Counters since the forwarder started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages received from clients.
    pub queries: u64,
    /// Answered from the leases or as local NXDOMAIN.
    pub local: u64,
    /// Answered from the cache.
    pub cached: u64,
    /// Answered by an upstream server.
    pub forwarded: u64,
    /// Answered SERVFAIL: no upstream, or none answered.
    pub failed: u64,
    /// Dropped: malformed, a response, or too many in flight.
    pub dropped: u64,
    /// Upstream answers replaced by an empty one: a public name at a private address
    /// (DNS rebinding protection).
    pub rebind: u64,
}

/// An fd to poll: always for reading, for writing too when `write`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollFd {
    pub fd: RawFd,
    pub write: bool,
}

/// Who asked.
#[derive(Debug, Clone, Copy)]
enum Client {
    Udp { listener: usize, addr: SocketAddr },
    Tcp { conn: u64, addr: SocketAddr },
}

impl Client {
    fn addr(&self) -> SocketAddr {
        match self {
            Client::Udp { addr, .. } | Client::Tcp { addr, .. } => *addr,
        }
    }
}

struct UpstreamTcp {
    stream: TcpStream,
    connected: bool,
    out: Vec<u8>,
    inbuf: Vec<u8>,
}

enum Transport {
    /// Between attempts (never seen by the poll loop).
    Idle,
    Udp(UdpSocket),
    Tcp(UpstreamTcp),
}

/// A query out to an upstream server.
struct Pending {
    client: Client,
    /// The client's query: its ID, question case, EDNS.
    query: Message,
    key: Key,
    /// Our query as sent upstream (its ID changes with each attempt).
    wire: Vec<u8>,
    /// The server asked now (an address, not an index: the list may change meanwhile).
    server: SocketAddr,
    /// Servers tried, this one included.
    tried: usize,
    transport: Transport,
    deadline: Instant,
}

impl Pending {
    fn fd(&self) -> Option<RawFd> {
        match &self.transport {
            Transport::Idle => None,
            Transport::Udp(s) => Some(s.as_raw_fd()),
            Transport::Tcp(t) => Some(t.stream.as_raw_fd()),
        }
    }

    fn id(&self) -> u16 {
        u16::from_be_bytes([self.wire[0], self.wire[1]])
    }
}

struct TcpClient {
    id: u64,
    addr: SocketAddr,
    stream: TcpStream,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    last: Instant,
    eof: bool,
    dead: bool,
}

/// The forwarder: its sockets, cache and queries in flight. See the module docs.
pub struct Forwarder {
    udp: Vec<UdpSocket>,
    tcp: Vec<TcpListener>,
    clients: Vec<TcpClient>,
    next_client: u64,
    pending: Vec<Pending>,
    cache: Cache,
    upstream: Vec<SocketAddr>,
    /// The server that answered last: asked first.
    preferred: usize,
    domain: Name,
    timeout: Duration,
    stats: Stats,
    /// What clients and servers send wrong: at most [`LOG_BURST`] lines a minute.
    log: Limited,
    scratch: Vec<u8>,
    limits: Limits,
    /// The latest time given to `on_ready` or `on_timer`.
    last_now: Option<Instant>,
    /// netd's LAN names ([`Forwarder::new`]), refreshed from crate::state.
    hosts: HostTable,
    /// DNS rebinding protection: on, and the domains exempt from it.
    rebind_protection: bool,
    rebind_ok: Vec<Name>,
    /// The crate::state generation `hosts` and the upstreams were taken at; None when
    /// not following crate::state ([`Forwarder::bind`]).
    state_seen: Option<Option<u64>>,
    /// netd: the LAN bridge, whose IPv6 neighbours give the clients' AAAA records, and
    /// the clients' (name, MAC, expiry) from crate::state.
    bridge: Option<String>,
    macs: Vec<(String, [u8; 6], Option<u64>)>,
}

/// netd's LAN names: the lease table's, and clients' IPv6 addresses from the kernel's
/// neighbour table on the LAN bridge (see the module docs).
struct LanHosts<'a> {
    table: &'a HostTable,
    macs: &'a [(String, [u8; 6], Option<u64>)],
    bridge: Option<&'a str>,
}

/// A failed neighbour dump is logged once (it fails for every query alike).
static NEIGH_WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl LanHosts<'_> {
    fn client(&self, name: &str) -> Option<&(String, [u8; 6], Option<u64>)> {
        let now = crate::state::lease_now();
        self.macs.iter().find(|(n, _, exp)| n.eq_ignore_ascii_case(name) && exp.is_none_or(|e| e > now))
    }

    fn neighbours(bridge: &str) -> io::Result<Vec<(std::net::Ipv6Addr, u16, Vec<u8>)>> {
        let index = nix::net::if_::if_nametoindex(bridge).map_err(|e| io::Error::other(format!("no LAN bridge {bridge}: {e}")))?;
        crate::rtnl::Rtnl::open()?.neighbours6(index)
    }
}

impl Leases for LanHosts<'_> {
    fn lookup(&self, name: &str) -> Option<Ipv4Addr> {
        self.table.lookup(name)
    }

    fn lookup6(&self, name: &str) -> Vec<std::net::Ipv6Addr> {
        let own = self.table.lookup6(name);
        if !own.is_empty() {
            return own;
        }
        let (Some((_, mac, _)), Some(bridge)) = (self.client(name), self.bridge) else { return Vec::new() };
        match LanHosts::neighbours(bridge) {
            Ok(n) => local::client_addrs6(&n, mac),
            Err(e) => {
                if !NEIGH_WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    crate::say!("dns: cannot read the IPv6 neighbours of {bridge} (RTM_GETNEIGH dump) for AAAA answers to LAN names: {e}; answering NODATA (logged once)");
                }
                Vec::new()
            }
        }
    }

    fn ttl(&self, name: &str) -> u32 {
        match self.client(name).and_then(|c| c.2) {
            Some(exp) => u32::try_from(exp.saturating_sub(crate::state::lease_now())).unwrap_or(u32::MAX).max(1),
            None => LOCAL_TTL,
        }
    }

    fn reverse(&self, ip: Ipv4Addr) -> Option<String> {
        self.table.reverse(ip)
    }
}

fn context(e: io::Error, what: String) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// The most a UDP client takes: 512, or its EDNS size (at most 4096).
fn udp_limit(q: &Message) -> usize {
    q.edns().map_or(proto::UDP_LEN, |e| usize::from(e.udp_size).clamp(proto::UDP_LEN, 4096))
}

impl Forwarder {
    /// Binds every listen address (UDP, then TCP on the same port). The addresses must
    /// exist (bind after netd has configured the LAN).
    pub fn bind(s: Settings) -> io::Result<Forwarder> {
        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        for addr in &s.listen {
            let u = UdpSocket::bind(addr).map_err(|e| context(e, format!("cannot listen on {addr} (udp)")))?;
            let bound = u.local_addr()?;
            let t = TcpListener::bind(bound).map_err(|e| context(e, format!("cannot listen on {bound} (tcp)")))?;
            u.set_nonblocking(true)?;
            t.set_nonblocking(true)?;
            udp.push(u);
            tcp.push(t);
        }
        let domain = Name::from_ascii(&s.local_domain).map_or_else(|_| Name::root(), |n| n.to_lowercase());
        Ok(Forwarder {
            udp,
            tcp,
            clients: Vec::new(),
            next_client: 0,
            pending: Vec::new(),
            cache: Cache::new(s.cache_size, s.limits.cache_bytes),
            upstream: s.upstream,
            preferred: 0,
            domain,
            timeout: s.timeout,
            stats: Stats::default(),
            log: crate::log::rate_limited(LOG_BURST),
            scratch: vec![0; 65536],
            limits: s.limits,
            last_now: None,
            hosts: HostTable::default(),
            state_seen: None,
            bridge: None,
            macs: Vec::new(),
            rebind_protection: s.rebind_protection,
            rebind_ok: s.rebind_ok.iter().filter_map(|d| Name::from_ascii(d).ok()).collect(),
        })
    }

    /// The addresses listened on (UDP and TCP alike), ports resolved.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.udp.iter().filter_map(|u| u.local_addr().ok()).collect()
    }

    /// New upstream servers (the WAN's lease changed): later queries go to them.
    pub fn set_upstream(&mut self, servers: Vec<SocketAddr>) {
        if servers != self.upstream {
            self.upstream = servers;
            self.preferred = 0;
        }
    }

    pub fn upstream(&self) -> &[SocketAddr] {
        &self.upstream
    }

    /// Forgets every cached answer (e.g. the upstream servers changed).
    pub fn clear_cache(&mut self) {
        self.cache.clear();
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The fds to poll now. Call before every poll: connections and upstream sockets come
    /// and go.
    pub fn poll_fds(&self) -> Vec<PollFd> {
        let mut v = Vec::with_capacity(self.udp.len() * 2 + self.clients.len() + self.pending.len());
        v.extend(self.udp.iter().map(|s| PollFd { fd: s.as_raw_fd(), write: false }));
        v.extend(self.tcp.iter().map(|s| PollFd { fd: s.as_raw_fd(), write: false }));
        v.extend(self.clients.iter().map(|c| PollFd { fd: c.stream.as_raw_fd(), write: !c.out.is_empty() }));
        v.extend(self.pending.iter().filter_map(|p| {
            let write = matches!(&p.transport, Transport::Tcp(t) if !t.connected || !t.out.is_empty());
            Some(PollFd { fd: p.fd()?, write })
        }));
        v
    }

    /// When [`Forwarder::on_timer`] next has something to do: an upstream server's time
    /// running out, an idle TCP client, or (soon) a write the socket did not take yet.
    pub fn next_deadline(&self) -> Option<Instant> {
        let pending = self.pending.iter().map(|p| p.deadline);
        let idle = self.clients.iter().map(|c| c.last + TCP_IDLE);
        let retry = self.wants_write().then(|| self.last_now.map(|t| t + WRITE_RETRY)).flatten();
        let backlog = (self.state_seen.is_some() && self.has_backlog()).then_some(self.last_now).flatten();
        pending.chain(idle).chain(retry).chain(backlog).min()
    }

    /// Whether a TCP client has a whole query buffered that waits for the next round.
    fn has_backlog(&self) -> bool {
        self.clients.iter().any(|c| !c.dead && has_frame(&c.inbuf))
    }

    fn wants_write(&self) -> bool {
        self.clients.iter().any(|c| !c.out.is_empty())
            || self.pending.iter().any(|p| matches!(&p.transport, Transport::Tcp(t) if !t.connected || !t.out.is_empty()))
    }

    /// Handles whatever `fd` (one of [`Forwarder::poll_fds`]) has: queries, connections,
    /// answers. Never blocks.
    pub fn on_ready(&mut self, fd: RawFd, now: Instant, leases: &dyn Leases) {
        self.last_now = Some(now);
        if let Some(i) = self.udp.iter().position(|s| s.as_raw_fd() == fd) {
            self.read_queries(i, now, leases);
        } else if let Some(i) = self.tcp.iter().position(|s| s.as_raw_fd() == fd) {
            self.accept(i, now);
        } else if let Some(i) = self.clients.iter().position(|c| c.stream.as_raw_fd() == fd) {
            self.serve_client(i, now, leases);
        } else if let Some(i) = self.pending.iter().position(|p| p.fd() == Some(fd)) {
            self.upstream_ready(i, now);
        }
        self.clients.retain(|c| !c.dead);
    }

    /// Moves on what waits for a socket to take data (for loops that poll POLLIN only),
    /// gives up on upstream servers past their time (the next one is asked, or the client
    /// gets SERVFAIL) and closes idle TCP clients.
    pub fn on_timer(&mut self, now: Instant) {
        self.last_now = Some(now);
        for c in &mut self.clients {
            flush(c);
        }
        for i in (0..self.pending.len()).rev() {
            if matches!(&self.pending[i].transport, Transport::Tcp(t) if !t.connected || !t.out.is_empty()) {
                self.upstream_ready(i, now);
            }
        }
        for i in (0..self.pending.len()).rev() {
            if i < self.pending.len() && self.pending[i].deadline <= now {
                let server = self.pending[i].server;
                limited!(self.log, now, "dns: no answer from {server} in time");
                self.next_server(i, now);
            }
        }
        // Queries TCP clients sent beyond one round, after every ready fd had its turn
        // (netd, with crate::state's LAN names; `bind` answers all at once).
        if self.state_seen.is_some() && self.has_backlog() {
            self.follow_state();
            self.with_lan_hosts(|f, lan| f.answer_backlog(now, lan));
        }
        let pending = &self.pending;
        let busy = |id: u64| pending.iter().any(|p| matches!(p.client, Client::Tcp { conn, .. } if conn == id));
        self.clients.retain(|c| !c.dead && (now.saturating_duration_since(c.last) < TCP_IDLE || busy(c.id)));
    }

    // --- netd's interface (hooks.rs): LAN names and upstreams from crate::state ---

    /// For netd: listens as `config` says ([`Settings::from_config`]) and takes the
    /// upstream servers and LAN names from `crate::state` whenever its generation moves.
    pub fn new(config: &oxwrt_config::Config) -> io::Result<Forwarder> {
        Forwarder::new_with(config, &[])
    }

    /// [`Forwarder::new`], listening on `extra` addresses (port 53) too.
    pub fn new_with(config: &oxwrt_config::Config, extra: &[IpAddr]) -> io::Result<Forwarder> {
        let mut s = Settings::from_config(&config.network);
        s.listen.extend(extra.iter().map(|a| SocketAddr::from((*a, proto::PORT))));
        let mut f = Forwarder::bind(s)?;
        f.state_seen = Some(None);
        f.bridge = Some(config.network.lan.bridge.clone());
        f.follow_state();
        Ok(f)
    }

    fn follow_state(&mut self) {
        let Some(seen) = self.state_seen else { return };
        let generation = crate::state::generation();
        if seen != Some(generation) {
            self.state_seen = Some(Some(generation));
            let v4 = crate::state::upstreams().into_iter().map(|ip| SocketAddr::from((ip, proto::PORT)));
            let v6 = crate::state::upstreams6().into_iter().map(|ip| SocketAddr::from((ip, proto::PORT)));
            let servers = v4.chain(v6).collect();
            self.set_upstream(servers);
            self.hosts = HostTable(crate::state::lan_hosts(), crate::state::lan_hosts6());
            self.macs = crate::state::lan_macs();
        }
    }

    /// For netd: the fds to poll for POLLIN (writes that do not go through at once are
    /// retried from [`Forwarder::on_timer`]; [`Forwarder::poll_fds`] says which fds want
    /// POLLOUT, for a loop that can wait for it).
    pub fn fds(&self) -> Vec<RawFd> {
        self.poll_fds().into_iter().map(|p| p.fd).collect()
    }

    /// For netd: [`Forwarder::on_ready`] with the LAN names of `crate::state`.
    pub fn on_readable(&mut self, fd: RawFd, now: Instant) {
        self.follow_state();
        self.with_lan_hosts(|f, lan| f.on_ready(fd, now, lan));
    }

    /// Runs `f` with netd's LAN names ([`LanHosts`]), taken out of `self` meanwhile.
    fn with_lan_hosts(&mut self, f: impl FnOnce(&mut Forwarder, &dyn Leases)) {
        let hosts = std::mem::take(&mut self.hosts);
        let macs = std::mem::take(&mut self.macs);
        let bridge = self.bridge.take();
        f(self, &LanHosts { table: &hosts, macs: &macs, bridge: bridge.as_deref() });
        self.hosts = hosts;
        self.macs = macs;
        self.bridge = bridge;
    }

    /// For netd: [`Forwarder::next_deadline`].
    pub fn deadline(&self) -> Option<Instant> {
        self.next_deadline()
    }

    fn read_queries(&mut self, i: usize, now: Instant, leases: &dyn Leases) {
        let mut buf = [0u8; 4096];
        for _ in 0..BATCH {
            match self.udp[i].recv_from(&mut buf) {
                Ok((n, addr)) => self.query(&buf[..n], Client::Udp { listener: i, addr }, now, leases),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return, // ICMP errors from earlier replies: nothing to do
            }
        }
    }

    fn accept(&mut self, i: usize, now: Instant) {
        for _ in 0..BATCH {
            let (stream, addr) = match self.tcp[i].accept() {
                Ok(c) => c,
                Err(_) => return,
            };
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            if self.clients.len() >= self.limits.tcp_clients {
                if let Some(j) = (0..self.clients.len()).min_by_key(|&j| self.clients[j].last) {
                    self.clients.swap_remove(j);
                }
            }
            self.next_client += 1;
            self.clients.push(TcpClient { id: self.next_client, addr, stream, inbuf: Vec::new(), out: Vec::new(), last: now, eof: false, dead: false });
        }
    }

    /// Reads what TCP client `i` sent (up to [`Limits::tcp_in`] buffered) and answers its
    /// queries, at most [`TCP_FRAMES_PER_WAKE`] of them now (netd; the rest at the next
    /// [`Forwarder::on_timer`], due at once).
    fn serve_client(&mut self, i: usize, now: Instant, leases: &dyn Leases) {
        let mut buf = [0u8; 4096];
        let tcp_in = self.limits.tcp_in;
        let c = &mut self.clients[i];
        c.last = now;
        // Read no more than the buffer may hold: the rest waits in the kernel (the client's
        // TCP window closes) until the queries buffered are answered.
        while !c.eof && c.inbuf.len() < tcp_in {
            let room = (tcp_in - c.inbuf.len()).min(buf.len());
            match c.stream.read(&mut buf[..room]) {
                Ok(0) => c.eof = true,
                Ok(n) => c.inbuf.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    c.dead = true;
                    return;
                }
            }
        }
        let conn = c.id;
        self.answer_client(conn, now, leases);
        if self.state_seen.is_none() {
            // `bind`: no timer round can bring the caller's names; answer all that is
            // buffered now (at most MAX_TCP_IN bytes).
            while self.clients.iter().any(|c| c.id == conn && !c.dead && has_frame(&c.inbuf)) {
                self.answer_client(conn, now, leases);
            }
        }
    }

    /// Answers up to [`TCP_FRAMES_PER_WAKE`] queries buffered from TCP client `conn`,
    /// parsed at an offset (the buffer moves once). A zero-length frame, or one longer than
    /// [`MAX_TCP_QUERY`], closes the connection.
    fn answer_client(&mut self, conn: u64, now: Instant, leases: &dyn Leases) {
        let Some(c) = self.clients.iter_mut().find(|c| c.id == conn && !c.dead) else { return };
        let mut queries = Vec::new();
        let mut off = 0;
        let mut bad = None;
        while queries.len() < TCP_FRAMES_PER_WAKE {
            let rest = &c.inbuf[off..];
            let Some(len) = rest.get(..2).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]]))) else { break };
            if len == 0 || len > MAX_TCP_QUERY {
                bad = Some(len);
                break;
            }
            let Some((msg, used)) = proto::tcp::unframe(rest) else { break };
            queries.push(msg.to_vec());
            off += used;
        }
        if bad.is_some() {
            c.inbuf = Vec::new();
        } else {
            c.inbuf.drain(..off);
        }
        let addr = c.addr;
        for q in queries {
            self.query(&q, Client::Tcp { conn, addr }, now, leases);
        }
        let Some(c) = self.clients.iter_mut().find(|c| c.id == conn) else { return };
        flush(c);
        if let Some(len) = bad {
            // The answers before it went out as far as the socket took them.
            self.stats.dropped += 1;
            c.dead = true;
            limited!(self.log, now, "dns: closed the TCP connection of {addr}: it sent a {len}-byte query (1 to {MAX_TCP_QUERY} bytes are taken)");
            return;
        }
        if c.eof && c.out.is_empty() && !has_frame(&c.inbuf) && !self.pending.iter().any(|p| matches!(p.client, Client::Tcp { conn: id, .. } if id == conn)) {
            c.dead = true;
        }
    }

    /// Answers the queries TCP clients sent beyond [`TCP_FRAMES_PER_WAKE`] (one more
    /// round of each).
    fn answer_backlog(&mut self, now: Instant, leases: &dyn Leases) {
        let waiting: Vec<u64> = self.clients.iter().filter(|c| !c.dead && has_frame(&c.inbuf)).map(|c| c.id).collect();
        for conn in waiting {
            self.answer_client(conn, now, leases);
        }
        self.clients.retain(|c| !c.dead);
    }

    /// One message from a client.
    fn query(&mut self, msg: &[u8], client: Client, now: Instant, leases: &dyn Leases) {
        self.stats.queries += 1;
        let q = match Message::parse(msg) {
            Ok(q) => q,
            Err(e) => {
                self.stats.dropped += 1;
                limited!(self.log, now, "dns: dropped a malformed query from {}: {e}", client.addr());
                return;
            }
        };
        if q.header.has(flag::QR) {
            self.stats.dropped += 1;
            limited!(self.log, now, "dns: dropped a response sent to port 53 by {}", client.addr());
            return;
        }
        if q.header.opcode() != 0 {
            return self.respond(&client, &q, q.error(rcode::NOTIMP));
        }
        if q.questions.len() != 1 {
            return self.respond(&client, &q, q.error(rcode::FORMERR));
        }
        if let Some(answer) = local::answer(&q, &self.domain, leases) {
            self.stats.local += 1;
            return self.respond(&client, &q, answer);
        }
        let question = &q.questions[0];
        let dnssec_ok = q.edns().is_some_and(|e| e.flags & (EDNS_DO as u16) != 0);
        let key = Key { name: question.name.to_lowercase().wire().to_vec(), qtype: question.qtype, qclass: question.qclass, dnssec_ok };
        if let Some(answer) = self.cache.get(&key, now) {
            self.stats.cached += 1;
            return self.relay(&client, &q, answer);
        }
        if self.upstream.is_empty() {
            self.stats.failed += 1;
            return self.respond(&client, &q, q.error(rcode::SERVFAIL));
        }
        if self.pending.len() >= self.limits.pending {
            self.stats.dropped += 1;
            limited!(self.log, now, "dns: {} queries already in flight: dropped one from {}", self.limits.pending, client.addr());
            return;
        }
        self.forward(client, q, key, now);
    }

    fn forward(&mut self, client: Client, q: Message, key: Key, now: Instant) {
        let question = &q.questions[0];
        let mut up = Message::query(0, question.name.clone(), question.qtype);
        up.questions[0].qclass = question.qclass;
        up.header.set(flag::CD, q.header.has(flag::CD));
        let mut opt = Record::opt(proto::answer::EDNS_UDP_LEN);
        if key.dnssec_ok {
            opt.ttl |= EDNS_DO;
        }
        up.additional.push(opt);
        let Ok(wire) = up.encode() else {
            return self.respond(&client, &q, q.error(rcode::SERVFAIL));
        };
        let server = self.upstream[self.preferred.min(self.upstream.len() - 1)];
        self.pending.push(Pending { client, query: q, key, wire, server, tried: 0, transport: Transport::Idle, deadline: now });
        let i = self.pending.len() - 1;
        self.attempt(i, now);
    }

    /// Sends pending query `i` to its current server over UDP, from a new socket with a
    /// new ID; on failure moves on to the next server.
    fn attempt(&mut self, i: usize, now: Instant) {
        let p = &mut self.pending[i];
        p.tried += 1;
        let server = p.server;
        p.wire[..2].copy_from_slice(&sock::random_u16().to_be_bytes());
        let sent = sock::udp_to(server).and_then(|s| s.send(&p.wire).map(|_| s));
        match sent {
            Ok(s) => {
                p.transport = Transport::Udp(s);
                p.deadline = now + self.timeout;
            }
            Err(e) => {
                limited!(self.log, now, "dns: cannot send to {server}: {e}");
                self.next_server(i, now);
            }
        }
    }

    /// The current server of query `i` failed: ask the next one, or answer SERVFAIL when
    /// all have been asked.
    fn next_server(&mut self, i: usize, now: Instant) {
        let n = self.upstream.len();
        let p = &mut self.pending[i];
        if p.tried >= n || n == 0 {
            let p = self.pending.swap_remove(i);
            self.stats.failed += 1;
            let answer = p.query.error(rcode::SERVFAIL);
            return self.respond(&p.client, &p.query, answer);
        }
        let current = self.upstream.iter().position(|a| *a == p.server);
        p.server = self.upstream[current.map_or(0, |c| (c + 1) % n)];
        self.attempt(i, now);
    }

    fn upstream_ready(&mut self, i: usize, now: Instant) {
        let got = if let Transport::Tcp(t) = &mut self.pending[i].transport { tcp_progress(t).transpose() } else { self.udp_answer(i, now) };
        let server = self.pending[i].server;
        match got {
            None => {}
            Some(Ok(msg)) if matches(&msg, &self.pending[i]) => self.answer(i, msg, now),
            Some(Ok(_)) => {
                limited!(self.log, now, "dns: {server} answered over TCP with an answer to another query");
                self.next_server(i, now);
            }
            Some(Err(e)) => {
                limited!(self.log, now, "dns: {server}: {e}");
                self.next_server(i, now);
            }
        }
    }

    /// Reads the UDP socket of pending query `i` for its answer (others are dropped).
    fn udp_answer(&mut self, i: usize, now: Instant) -> Option<io::Result<Vec<u8>>> {
        let Transport::Udp(s) = &self.pending[i].transport else { return None };
        for _ in 0..BATCH {
            match s.recv(&mut self.scratch) {
                Ok(n) if matches(&self.scratch[..n], &self.pending[i]) => return Some(Ok(self.scratch[..n].to_vec())),
                Ok(_) => {
                    let server = self.pending[i].server;
                    limited!(self.log, now, "dns: ignored an answer from {server} that does not match the query");
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // ECONNREFUSED: nothing listens there (ICMP port unreachable).
                Err(e) => return Some(Err(e)),
            }
        }
        None
    }

    /// An upstream answer to pending query `i` (ID and question already checked).
    fn answer(&mut self, i: usize, msg: Vec<u8>, now: Instant) {
        let via_tcp = matches!(self.pending[i].transport, Transport::Tcp(_));
        if !via_tcp && bytes::is_truncated(&msg).unwrap_or(false) {
            let p = &mut self.pending[i];
            let server = p.server;
            let started = sock::tcp_connect_nonblocking(server).and_then(|stream| {
                let out = proto::tcp::frame(&p.wire).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                Ok(UpstreamTcp { stream, connected: false, out, inbuf: Vec::new() })
            });
            match started {
                Ok(t) => {
                    p.transport = Transport::Tcp(t);
                    p.deadline = now + self.timeout;
                }
                Err(e) => {
                    limited!(self.log, now, "dns: cannot connect to {server} over TCP: {e}");
                    self.next_server(i, now);
                }
            }
            return;
        }
        let code = msg[3] & 0xf;
        if matches!(code, rcode::SERVFAIL | rcode::REFUSED) && self.pending[i].tried < self.upstream.len() {
            return self.next_server(i, now);
        }
        let ttl = match bytes::min_ttl(&msg) {
            Ok(ttl) => ttl,
            Err(e) => {
                let server = self.pending[i].server;
                limited!(self.log, now, "dns: dropped a malformed answer from {server}: {e}");
                return self.next_server(i, now);
            }
        };
        let p = self.pending.swap_remove(i);
        if let Some(at) = self.upstream.iter().position(|a| *a == p.server) {
            self.preferred = at;
        }
        if self.rebind_protection {
            let name = &p.query.questions[0].name;
            if let Some(ip) = rebind_address(&msg).filter(|_| !self.rebind_ok.iter().any(|d| name.is_in(d))) {
                // As dnsmasq's --stop-dns-rebind: NOERROR with no records (NODATA), not
                // cached. Not REFUSED: a stub would ask its next server, which may not
                // protect its network.
                self.stats.rebind += 1;
                limited!(
                    self.log,
                    now,
                    "dns: possible DNS-rebind attack detected: {name} is {ip} (from {}), answered empty to {}; dns.rebind_domain in network.toml allows a domain",
                    p.server,
                    p.client.addr()
                );
                let empty = p.query.response();
                return self.respond(&p.client, &p.query, empty);
            }
        }
        self.stats.forwarded += 1;
        if let (Some(ttl), rcode::NOERROR | rcode::NXDOMAIN) = (ttl, code) {
            self.cache.insert(p.key, msg.clone(), ttl, now);
        }
        self.relay(&p.client, &p.query, msg);
    }

    /// Sends our own answer `m` to the client.
    fn respond(&mut self, client: &Client, q: &Message, m: Message) {
        let encoded = match client {
            Client::Udp { .. } => m.encode_truncated(udp_limit(q)),
            Client::Tcp { .. } => m.encode(),
        };
        if let Ok(b) = encoded {
            self.send(client, b);
        }
    }

    /// Sends an upstream (or cached) answer to the client: its ID, its question's case,
    /// its EDNS or none, truncated if too big for it over UDP.
    fn relay(&mut self, client: &Client, q: &Message, mut msg: Vec<u8>) {
        let _ = bytes::set_id(&mut msg, q.header.id);
        let name = q.questions[0].name.wire();
        let end = proto::HEADER_LEN + name.len();
        if msg.get(proto::HEADER_LEN..end).is_some_and(|n| n.eq_ignore_ascii_case(name)) {
            msg[proto::HEADER_LEN..end].copy_from_slice(name);
        }
        if q.edns().is_none() {
            strip_opt(&mut msg);
        }
        if matches!(client, Client::Udp { .. }) && msg.len() > udp_limit(q) {
            let mut tc = q.response();
            tc.header.set(flag::TC, true);
            return self.respond(client, q, tc);
        }
        self.send(client, msg);
    }

    fn send(&mut self, client: &Client, msg: Vec<u8>) {
        match *client {
            Client::Udp { listener, addr } => {
                let _ = self.udp[listener].send_to(&msg, addr);
            }
            Client::Tcp { conn, .. } => {
                if let Some(c) = self.clients.iter_mut().find(|c| c.id == conn && !c.dead) {
                    if let Ok(framed) = proto::tcp::frame(&msg) {
                        c.out.extend_from_slice(&framed);
                        flush(c);
                        if c.out.len() > self.limits.tcp_out {
                            c.dead = true;
                        }
                    }
                }
            }
        }
    }
}

/// Whether `buf` starts with a whole DNS-over-TCP frame.
fn has_frame(buf: &[u8]) -> bool {
    proto::tcp::unframe(buf).is_some()
}

/// Writes what a TCP client's buffer holds, as far as the socket takes it.
fn flush(c: &mut TcpClient) {
    while !c.out.is_empty() {
        match c.stream.write(&c.out) {
            Ok(0) => {
                c.dead = true;
                return;
            }
            Ok(n) => {
                c.out.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                c.dead = true;
                return;
            }
        }
    }
}

/// Whether `msg` answers pending query `p`: its ID, QR, one question, the same question.
fn matches(msg: &[u8], p: &Pending) -> bool {
    let qlen = p.query.questions[0].name.wire().len() + 4;
    let end = proto::HEADER_LEN + qlen;
    msg.len() >= end
        && msg[..2] == p.id().to_be_bytes()
        && msg[2] & 0x80 != 0
        && msg[4..6] == [0, 1]
        && msg[proto::HEADER_LEN..end].eq_ignore_ascii_case(&p.wire[proto::HEADER_LEN..end])
}

/// Moves a TCP exchange with an upstream server on: connect, send the query, read the
/// answer. Ok(Some(answer)) when it is all there.
fn tcp_progress(t: &mut UpstreamTcp) -> io::Result<Option<Vec<u8>>> {
    if !t.connected {
        if let Some(e) = t.stream.take_error()? {
            return Err(e);
        }
        match t.stream.peer_addr() {
            Ok(_) => t.connected = true,
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(None), // still connecting
            Err(e) => return Err(e),
        }
    }
    while !t.out.is_empty() {
        match t.stream.write(&t.out) {
            Ok(n) => {
                t.out.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let mut buf = [0u8; 4096];
    loop {
        if let Some((msg, _)) = proto::tcp::unframe(&t.inbuf) {
            return Ok(Some(msg.to_vec()));
        }
        match t.stream.read(&mut buf) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed the TCP connection before answering")),
            Ok(n) => t.inbuf.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Removes the OPT record when it is the message's last record (where servers put it),
/// for a client that sent no EDNS (RFC 6891 7). Leaves the message alone otherwise.
fn strip_opt(msg: &mut Vec<u8>) {
    let Some(last) = last_record(msg) else { return };
    let is_opt = msg.get(last.1..last.1 + 2) == Some(&proto::rtype::OPT.to_be_bytes()[..]);
    let arcount = u16::from_be_bytes([msg[10], msg[11]]);
    if is_opt && arcount > 0 {
        msg.truncate(last.0);
        msg[10..12].copy_from_slice(&(arcount - 1).to_be_bytes());
    }
}

/// Where the name at `p` ends (a pointer ends it).
fn skip_name(msg: &[u8], mut p: usize) -> Option<usize> {
    loop {
        let len = *msg.get(p)? as usize;
        match len {
            0 => return Some(p + 1),
            l if l & 0xc0 == 0xc0 => return Some(p + 2),
            l if l & 0xc0 != 0 => return None,
            l => p += 1 + l,
        }
    }
}

/// The first address of an A or AAAA record (any section) of `msg` that a public name must
/// not have: what DNS rebinding points a browser at ([`rebind_target`]). None when there is
/// none, or the message does not parse (it is not relayed then anyway).
pub fn rebind_address(msg: &[u8]) -> Option<IpAddr> {
    let count = |at: usize| -> Option<usize> { Some(u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]) as usize) };
    let mut p = proto::HEADER_LEN;
    for _ in 0..count(4)? {
        p = skip_name(msg, p)? + 4;
    }
    let records = count(6)? + count(8)? + count(10)?;
    for _ in 0..records {
        let t = skip_name(msg, p)?;
        let (rtype, class, rdlen) = (count(t)?, count(t + 2)?, count(t + 8)?);
        let data = msg.get(t + 10..t + 10 + rdlen)?;
        p = t + 10 + rdlen;
        let ip = match (rtype as u16, data.len()) {
            (proto::rtype::A, 4) => IpAddr::from(<[u8; 4]>::try_from(data).ok()?),
            (proto::rtype::AAAA, 16) => IpAddr::from(<[u8; 16]>::try_from(data).ok()?),
            _ => continue,
        };
        if class == 1 && rebind_target(ip) {
            return Some(ip);
        }
    }
    None
}

/// Addresses a public name must not resolve to: RFC 1918 (10/8, 172.16/12, 192.168/16),
/// loopback (127/8, ::1), "this network" (0/8, ::), link-local (169.254/16, fe80::/10),
/// unique local (fc00::/7, RFC 4193), and the IPv4-mapped forms (::ffff:a.b.c.d) of the
/// IPv4 ones.
pub fn rebind_target(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local() || v4.octets()[0] == 0,
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return rebind_target(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback() || v6.is_unspecified() || first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfe80
        }
    }
}

/// (start, type offset) of the last record of the message, if it has one and every
/// record is within the bytes.
fn last_record(msg: &[u8]) -> Option<(usize, usize)> {
    let count = |at: usize| -> Option<usize> { Some(u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]) as usize) };
    let mut p = proto::HEADER_LEN;
    for _ in 0..count(4)? {
        p = skip_name(msg, p)? + 4;
    }
    let records = count(6)? + count(8)? + count(10)?;
    let mut last = None;
    for _ in 0..records {
        let start = p;
        let t = skip_name(msg, p)?;
        let rdlen = count(t + 8)?;
        p = t + 10 + rdlen;
        if p > msg.len() {
            return None;
        }
        last = Some((start, t));
    }
    last
}
