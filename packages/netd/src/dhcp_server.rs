//! The LAN's DHCPv4 server (RFC 2131 section 4.3) as a function of messages and time: it
//! owns no socket, so tests call [`Server::handle`] directly; the daemon sends the
//! [`Reply`]s and saves the lease table when [`Server::take_dirty`] says so.
//!
//! - Addresses: a client's static lease; else its previous address; else the one it asks
//!   for (option 50) if free; else the first free address of the pool, then the lease that
//!   expired longest ago. Never the router's address, another client's static address, an
//!   address leased or offered to another client, or one declined in the last 10 minutes.
//! - DISCOVER -> OFFER (held 60 s); REQUEST -> ACK or NAK (selecting, INIT-REBOOT,
//!   renewing, rebinding); DECLINE -> the address is set aside for 10 minutes, then back in
//!   the pool; RELEASE -> the lease ends now (the client keeps its claim on the address);
//!   INFORM -> ACK with options only.
//! - A DECLINE counts only from the client the address was offered or leased to (as
//!   dnsmasq does), only for a pool address, once per address, and at most
//!   [`MAX_DECLINED`] (32) addresses are set aside at once: anything else is refused with a
//!   reason (logged, rate-limited). So one host cannot empty the pool with DECLINEs, and
//!   the declined list (scanned by every address choice) stays short.
//! - Writes: [`Server::take_dirty`] says the table must be saved only when a binding is
//!   new, changed address or name, or ended; renewals move the expiry in RAM
//!   ([`Server::take_stale`], for the final write at shutdown). The daemon rate-limits the
//!   saves (crate::daemon): a renewal never writes flash.
//! - Log lines caused by clients: at most 5 of a kind a minute.
//! - Hostnames (option 12) are recorded as DNS labels; a static lease's hostname wins.
//!   Which of them the DNS forwarder answers is `crate::state::lan_names`' rule (no
//!   `wpad`, `localhost`, router's or taken names); [`Server::hosts`] does not apply it.
//! - Replies go where RFC 2131 4.1 says: the relay, the client's ciaddr, broadcast when the
//!   client set the broadcast flag, else unicast to yiaddr with an ARP entry set first
//!   ([`Reply::arp`]): the client cannot answer ARP before it has its address.

use crate::leases::{fmt_mac, sanitize_hostname, LeaseEntry, LeaseTable};
use netproto::dhcp::{Message, MessageType, Op, CLIENT_PORT, HTYPE_ETHERNET, SERVER_PORT};
use oxwrt_config::{Ipv4Cidr, Network, StaticLease};
use oxwrt_log::{limited, Limited};
use std::net::Ipv4Addr;
use std::time::Instant;

/// How long an OFFER holds its address for the client.
const OFFER_SECS: u64 = 60;
/// How long a declined address is not handed out (RFC 2131 4.3.3: the server marks it
/// unavailable; it comes back to the pool after this).
const DECLINED_SECS: u64 = 600;
/// Addresses set aside after a DECLINE at once; more DECLINEs are refused (logged).
pub const MAX_DECLINED: usize = 32;
/// Packet-triggered log lines of one kind per minute.
const LOG_BURST: u32 = 5;

/// What the server hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The router's LAN address and the LAN subnet.
    pub address: Ipv4Cidr,
    /// First and last address of the pool.
    pub pool: (Ipv4Addr, Ipv4Addr),
    pub lease_secs: u32,
    /// Option 15.
    pub domain: String,
    /// Option 6: the router when its DNS forwarder runs, else the upstream servers.
    pub dns: Vec<Ipv4Addr>,
    pub statics: Vec<StaticLease>,
    /// Leases kept at most (crate::budget, from the RAM): when the table is full, a new
    /// client gets only an address whose lease has expired.
    pub max_leases: usize,
}

impl ServerConfig {
    /// From network.toml; `upstream`: the DNS servers to hand out when the forwarder is off.
    pub fn from_network(net: &Network, upstream: &[Ipv4Addr]) -> ServerConfig {
        ServerConfig {
            address: net.lan.address,
            pool: net.dhcp.pool(net.lan.address),
            lease_secs: net.dhcp.lease_time.as_secs(),
            domain: net.dhcp.domain.clone(),
            dns: if net.dns.enabled { vec![net.lan.address.addr()] } else { upstream.to_vec() },
            statics: net.dhcp.static_leases.clone(),
            max_leases: crate::budget::current().leases,
        }
    }
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub msg: Message,
    pub to: Ipv4Addr,
    pub port: u16,
    /// Set this neighbour entry (IP -> MAC) on the LAN device before sending: unicast to a
    /// client that has no address yet.
    pub arp: Option<(Ipv4Addr, [u8; 6])>,
}

#[derive(Debug, Clone)]
struct Offer {
    mac: [u8; 6],
    ip: Ipv4Addr,
    until: u64,
}

/// The server: configuration, leases, pending offers, declined addresses.
#[derive(Debug)]
pub struct Server {
    cfg: ServerConfig,
    leases: LeaseTable,
    offers: Vec<Offer>,
    /// At most [`MAX_DECLINED`], each address once.
    declined: Vec<(Ipv4Addr, u64)>,
    /// A binding is new, changed address or name, or ended: the file must be written.
    dirty: bool,
    /// Only expiry times moved (renewals): the file is behind, but that is written only
    /// at shutdown (a renewal must not write flash).
    stale: bool,
    /// What clients make us say: at most [`LOG_BURST`] lines of a kind a minute.
    log: Limited,
}

impl Server {
    pub fn new(cfg: ServerConfig, leases: LeaseTable) -> Server {
        Server { cfg, leases, offers: Vec::new(), declined: Vec::new(), dirty: false, stale: false, log: crate::log::rate_limited(LOG_BURST) }
    }

    pub fn config(&self) -> &ServerConfig {
        &self.cfg
    }

    /// A new configuration; leases that no longer fit (outside the subnet, another client's
    /// static address now) end at once.
    pub fn reconfigure(&mut self, cfg: ServerConfig) {
        self.cfg = cfg;
        self.offers.clear();
        let before = self.leases.entries.len();
        let cfg = &self.cfg;
        self.leases
            .entries
            .retain(|e| cfg.address.is_host(e.ip) && e.ip != cfg.address.addr() && !cfg.statics.iter().any(|s| s.ip == e.ip && s.mac.octets() != e.mac));
        self.dirty |= before != self.leases.entries.len();
    }

    pub fn leases(&self) -> &LeaseTable {
        &self.leases
    }

    /// Whether a binding was made, changed or ended since the last call (then save the
    /// table; renewals that only move expiry times do not count: [`Server::take_stale`]).
    pub fn take_dirty(&mut self) -> bool {
        self.stale &= !self.dirty;
        std::mem::take(&mut self.dirty)
    }

    /// Whether anything, renewals included, changed since the last save: for the final
    /// write at shutdown. Clears both flags.
    pub fn take_stale(&mut self) -> bool {
        let any = self.dirty || self.stale;
        self.dirty = false;
        self.stale = false;
        any
    }

    /// Addresses set aside after a DECLINE now.
    pub fn declined(&self) -> usize {
        self.declined.len()
    }

    /// Names for the DNS forwarder: static leases with a hostname, then current leases.
    pub fn hosts(&self, now: u64) -> Vec<(String, Ipv4Addr)> {
        let mut out: Vec<(String, Ipv4Addr)> = Vec::new();
        for s in &self.cfg.statics {
            if let Some(h) = &s.hostname {
                out.push((h.clone(), s.ip));
            }
        }
        for e in self.leases.entries.iter().filter(|e| e.expires > now) {
            if let Some(h) = &e.hostname {
                if !out.iter().any(|(n, _)| n == h) {
                    out.push((h.clone(), e.ip));
                }
            }
        }
        out
    }

    fn static_for(&self, mac: [u8; 6]) -> Option<&StaticLease> {
        self.cfg.statics.iter().find(|s| s.mac.octets() == mac)
    }

    fn in_pool(&self, ip: Ipv4Addr) -> bool {
        let (a, b) = self.cfg.pool;
        (u32::from(a)..=u32::from(b)).contains(&u32::from(ip))
    }

    /// Whether `ip` may be `mac`'s at `now`.
    fn allowed(&self, ip: Ipv4Addr, mac: [u8; 6], now: u64) -> bool {
        if let Some(s) = self.static_for(mac) {
            return s.ip == ip;
        }
        self.cfg.address.is_host(ip)
            && ip != self.cfg.address.addr()
            && self.in_pool(ip)
            && !self.cfg.statics.iter().any(|s| s.ip == ip)
            && !self.leases.entries.iter().any(|e| e.ip == ip && e.mac != mac && e.expires > now)
            && !self.offers.iter().any(|o| o.ip == ip && o.mac != mac && o.until > now)
            && !self.declined.iter().any(|(d, until)| *d == ip && *until > now)
            && self.has_room(ip, mac, now)
    }

    /// Whether binding `ip` to `mac` keeps the table within `max_leases`: the client has
    /// an entry already, there is room, or `ip`'s entry has expired (it is replaced).
    fn has_room(&self, ip: Ipv4Addr, mac: [u8; 6], now: u64) -> bool {
        self.leases.entries.len() < self.cfg.max_leases
            || self.leases.by_mac(mac).is_some()
            || self.leases.entries.iter().any(|e| e.ip == ip && e.expires <= now)
    }

    /// The address to offer `mac`, if any is left.
    fn pick(&self, mac: [u8; 6], requested: Option<Ipv4Addr>, now: u64) -> Option<Ipv4Addr> {
        if let Some(s) = self.static_for(mac) {
            return Some(s.ip);
        }
        let candidates = [self.offers.iter().find(|o| o.mac == mac && o.until > now).map(|o| o.ip), self.leases.by_mac(mac).map(|e| e.ip), requested];
        if let Some(ip) = candidates.into_iter().flatten().find(|ip| self.allowed(*ip, mac, now)) {
            return Some(ip);
        }
        let (a, b) = self.cfg.pool;
        let free = (u32::from(a)..=u32::from(b)).map(Ipv4Addr::from).find(|ip| self.leases.by_ip(*ip).is_none() && self.allowed(*ip, mac, now));
        free.or_else(|| {
            let mut expired: Vec<&LeaseEntry> = self.leases.entries.iter().filter(|e| e.expires <= now).collect();
            expired.sort_by_key(|e| e.expires);
            expired.into_iter().map(|e| e.ip).find(|ip| self.allowed(*ip, mac, now))
        })
    }

    fn reply(&self, req: &Message, t: MessageType, ip: Ipv4Addr) -> Message {
        let mut r = req.reply(t);
        r.options.set_server_id(self.cfg.address.addr());
        if t == MessageType::Nak {
            return r;
        }
        r.yiaddr = ip;
        if t != MessageType::Ack || !ip.is_unspecified() {
            let l = self.cfg.lease_secs;
            r.options.set_lease_time(l);
            r.options.set_renewal_time(l / 2);
            r.options.set_rebinding_time(((l as u64) * 7 / 8) as u32);
        }
        r.options.set_subnet_mask(self.cfg.address.netmask());
        r.options.set_broadcast_address(self.cfg.address.broadcast());
        r.options.set_routers(&[self.cfg.address.addr()]);
        if !self.cfg.dns.is_empty() {
            r.options.set_dns_servers(&self.cfg.dns);
        }
        if !self.cfg.domain.is_empty() {
            r.options.set_domain_name(self.cfg.domain.as_bytes());
        }
        r
    }

    /// Where a reply goes (RFC 2131 4.1).
    fn destination(&self, req: &Message, msg: Message) -> Reply {
        let mac: [u8; 6] = req.chaddr.as_bytes().try_into().unwrap_or([0; 6]);
        let (to, port, arp) = if !req.giaddr.is_unspecified() {
            (req.giaddr, SERVER_PORT, None)
        } else if msg.message_type() == Some(MessageType::Nak) {
            (Ipv4Addr::BROADCAST, CLIENT_PORT, None)
        } else if !req.ciaddr.is_unspecified() {
            (req.ciaddr, CLIENT_PORT, None)
        } else if req.broadcast() || msg.yiaddr.is_unspecified() {
            (Ipv4Addr::BROADCAST, CLIENT_PORT, None)
        } else {
            (msg.yiaddr, CLIENT_PORT, Some((msg.yiaddr, mac)))
        };
        Reply { msg, to, port, arp }
    }

    fn bind(&mut self, mac: [u8; 6], ip: Ipv4Addr, hostname: Option<String>, now: u64) {
        let hostname = self.static_for(mac).and_then(|s| s.hostname.clone()).or(hostname);
        let expires = now + self.cfg.lease_secs as u64;
        self.offers.retain(|o| o.mac != mac);
        self.leases.entries.retain(|e| e.ip != ip || e.mac == mac);
        match self.leases.entries.iter_mut().find(|e| e.mac == mac) {
            Some(e) => {
                let hostname = hostname.or_else(|| if e.ip == ip { e.hostname.clone() } else { None });
                let changed = e.ip != ip || e.hostname != hostname;
                if changed {
                    let t = Instant::now();
                    limited!(self.log, t, "dhcp: lease {ip} to {} ({})", fmt_mac(mac), hostname.as_deref().unwrap_or("no name"));
                }
                *e = LeaseEntry { mac, ip, expires, hostname };
                self.dirty |= changed;
                self.stale = true;
            }
            None => {
                let t = Instant::now();
                limited!(self.log, t, "dhcp: lease {ip} to {} ({})", fmt_mac(mac), hostname.as_deref().unwrap_or("no name"));
                self.leases.entries.push(LeaseEntry { mac, ip, expires, hostname });
                self.dirty = true;
            }
        }
    }

    /// Handles one message from a client; Err says why it was dropped (the daemon logs it,
    /// rate-limited). Ok(None): nothing to answer (not for us, or RELEASE/DECLINE).
    /// Moves every lease's expiry by `secs` (the clock jumped by that much: see
    /// `state::lease_now`).
    pub fn shift_leases(&mut self, secs: i64) {
        for e in &mut self.leases.entries {
            e.expires = e.expires.saturating_add_signed(secs);
        }
    }

    pub fn handle(&mut self, req: &Message, now: u64) -> Result<Option<Reply>, String> {
        if req.op != Op::Request {
            return Ok(None);
        }
        if req.htype != HTYPE_ETHERNET {
            return Err(format!("hardware type {} is not Ethernet", req.htype));
        }
        let mac: [u8; 6] = req.chaddr.as_bytes().try_into().map_err(|_| "hardware address is not 6 bytes".to_string())?;
        if mac[0] & 1 == 1 || mac == [0; 6] {
            return Err(format!("client hardware address {} is not unicast", fmt_mac(mac)));
        }
        let Some(t) = req.message_type() else { return Err("BOOTP request without a DHCP message type".into()) };
        self.offers.retain(|o| o.until > now);
        self.declined.retain(|(_, until)| *until > now);
        let hostname = req.options.hostname().and_then(sanitize_hostname);
        let ours = self.cfg.address.addr();
        Ok(match t {
            MessageType::Discover => {
                let Some(ip) = self.pick(mac, req.options.requested_ip(), now) else {
                    if self.leases.entries.len() >= self.cfg.max_leases {
                        return Err(format!(
                            "no address for {}: the lease table is full ({} leases, what this router's RAM allows) until one expires",
                            fmt_mac(mac),
                            self.cfg.max_leases
                        ));
                    }
                    return Err(format!("no free address in the pool for {}", fmt_mac(mac)));
                };
                self.offers.retain(|o| o.mac != mac);
                self.offers.push(Offer { mac, ip, until: now + OFFER_SECS });
                Some(self.destination(req, self.reply(req, MessageType::Offer, ip)))
            }
            MessageType::Request => {
                let server_id = req.options.server_id();
                let (ip, renewing) = match (server_id, req.options.requested_ip()) {
                    (Some(sid), _) if sid != ours => {
                        // The client chose another server's offer.
                        self.offers.retain(|o| o.mac != mac);
                        return Ok(None);
                    }
                    (Some(_), Some(ip)) => (ip, false),
                    (Some(_), None) if !req.ciaddr.is_unspecified() => (req.ciaddr, true),
                    (Some(_), None) => return Err("REQUEST with a server id but no requested address".into()),
                    (None, Some(ip)) => (ip, false),
                    (None, None) if !req.ciaddr.is_unspecified() => (req.ciaddr, true),
                    (None, None) => return Err("REQUEST without requested address or ciaddr".into()),
                };
                if self.allowed(ip, mac, now) {
                    self.bind(mac, ip, hostname, now);
                    Some(self.destination(req, self.reply(req, MessageType::Ack, ip)))
                } else if renewing && !self.cfg.address.contains(ip) {
                    // Renewing an address of another network: not ours to refuse.
                    None
                } else {
                    limited!(self.log, Instant::now(), "dhcp: NAK {ip} for {}: not available to it", fmt_mac(mac));
                    let mut nak = self.reply(req, MessageType::Nak, Ipv4Addr::UNSPECIFIED);
                    nak.options.set_message(b"address not available");
                    Some(self.destination(req, nak))
                }
            }
            MessageType::Decline => {
                if server_id_is_other(req, ours) {
                    return Ok(None);
                }
                let Some(ip) = req.options.requested_ip() else { return Err("DECLINE without the declined address".into()) };
                // Only the client that was offered or leased the address may decline it
                // (as dnsmasq does): anyone else could take the pool away with a few packets.
                let held = self.leases.entries.iter().any(|e| e.mac == mac && e.ip == ip && e.expires > now)
                    || self.offers.iter().any(|o| o.mac == mac && o.ip == ip && o.until > now);
                if !held {
                    return Err(format!("DECLINE of {ip}, which was not offered or leased to it: ignored"));
                }
                if !self.in_pool(ip) || self.cfg.statics.iter().any(|s| s.ip == ip) {
                    return Err(format!("DECLINE of {ip}, which is not a pool address: ignored"));
                }
                if let Some(d) = self.declined.iter_mut().find(|(d, _)| *d == ip) {
                    d.1 = now + DECLINED_SECS;
                } else if self.declined.len() >= MAX_DECLINED {
                    return Err(format!(
                        "DECLINE of {ip} ignored: {MAX_DECLINED} addresses are set aside already (find the hosts using pool addresses without a lease)"
                    ));
                } else {
                    self.declined.push((ip, now + DECLINED_SECS));
                }
                limited!(self.log, Instant::now(), "dhcp: {} declined {ip} (in use by another host?); not handed out for {DECLINED_SECS} s", fmt_mac(mac));
                let before = self.leases.entries.len();
                self.leases.entries.retain(|e| !(e.mac == mac && e.ip == ip));
                self.dirty |= before != self.leases.entries.len();
                self.offers.retain(|o| o.mac != mac);
                None
            }
            MessageType::Release => {
                if server_id_is_other(req, ours) {
                    return Ok(None);
                }
                if let Some(e) = self.leases.entries.iter_mut().find(|e| e.mac == mac && e.ip == req.ciaddr && e.expires > now) {
                    e.expires = now;
                    self.dirty = true;
                    limited!(self.log, Instant::now(), "dhcp: {} released {}", fmt_mac(mac), req.ciaddr);
                }
                None
            }
            MessageType::Inform => {
                if req.ciaddr.is_unspecified() {
                    return Err("INFORM without ciaddr".into());
                }
                let mut ack = self.reply(req, MessageType::Ack, Ipv4Addr::UNSPECIFIED);
                ack.ciaddr = req.ciaddr;
                Some(self.destination(req, ack))
            }
            other => return Err(format!("message type {} is not for a server", other.to_u8())),
        })
    }
}

fn server_id_is_other(req: &Message, ours: Ipv4Addr) -> bool {
    req.options.server_id().is_some_and(|s| s != ours)
}

#[cfg(test)]
mod tests;
