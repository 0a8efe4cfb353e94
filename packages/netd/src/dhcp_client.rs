//! The WAN's DHCPv4 client as a state machine (RFC 2131 section 4.4): INIT, SELECTING,
//! REQUESTING, BOUND, RENEWING, REBINDING. It reads no clock and owns no socket: the caller
//! passes the time and received messages in and carries out the [`Action`]s, so tests
//! drive it with a fake clock.
//!
//! Timing: DISCOVER and REQUEST in SELECTING/REQUESTING are sent again after 4, 8, 16, 32,
//! then every 64 s, each +-1 s at random (RFC 2131 4.1); four unanswered REQUESTs go back to
//! INIT. Bound at T1 (option 58, default half the lease) the client renews by unicast to
//! its server, at T2 (option 59, default 7/8 of the lease) it rebinds by broadcast; each
//! time it waits half the time left until T2 (resp. the end of the lease), at least 60 s,
//! and at the end of the lease the address is gone ([`Action::Lost`]). A NAK means INIT
//! again, 3 s later. No ARP probe of the offered address (no raw socket): a conflict shows
//! as the ISP's problem, not the router's.
//!
//! DISCOVER and REQUEST carry the broadcast flag, so that servers answer by broadcast: the
//! client needs only a UDP socket on port 68 bound to the WAN device.

use netproto::dhcp::{code, Message, MessageType, Op, FLAG_BROADCAST};
use oxwrt_config::Ipv4Cidr;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// RFC 2131 section 4.4 states (INIT-REBOOT: INIT with a requested address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Init,
    Selecting,
    Requesting,
    Bound,
    Renewing,
    Rebinding,
}

/// A lease, as the server gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The address with the prefix of option 1 (classful when the server sent no mask).
    pub address: Ipv4Cidr,
    pub server: Ipv4Addr,
    /// Option 3, in preference order.
    pub routers: Vec<Ipv4Addr>,
    /// Option 6.
    pub dns: Vec<Ipv4Addr>,
    /// Option 42: NTP servers (timed asks them first: /run/netd/ntp-servers).
    pub ntp: Vec<Ipv4Addr>,
    /// Option 15, when it is printable ASCII.
    pub domain: Option<String>,
    /// Seconds; None: infinite.
    pub lease_secs: Option<u32>,
    pub t1: u32,
    pub t2: u32,
    /// When the REQUEST that got this lease was sent (times count from there).
    pub since: Instant,
}

impl Lease {
    pub fn expires(&self) -> Option<Instant> {
        self.lease_secs.map(|s| self.since + Duration::from_secs(s.into()))
    }

    /// Seconds of validity left at `now` (None: infinite), for the kernel's address lifetime.
    pub fn remaining(&self, now: Instant) -> Option<u32> {
        self.expires().map(|e| e.saturating_duration_since(now).as_secs() as u32)
    }

    /// The lease as far as it can be used on a router whose LAN is `lan`, checked like
    /// network.toml's static WAN (crate `oxwrt-config`): Err (the whole lease refused) when
    /// the address is not a unicast host address or its subnet overlaps the LAN's (routes
    /// to the LAN would go out of the WAN); else the lease without the routers and DNS
    /// servers that cannot be used (loopback, the router itself, the LAN: the forwarder
    /// would ask itself), and why each was left out.
    pub fn vet(&self, lan: Ipv4Cidr) -> Result<(Lease, Vec<String>), String> {
        let a = self.address.addr();
        if a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.is_loopback() || self.address.prefix() > 32 {
            return Err(format!("{} is not a host address", self.address));
        }
        if self.address.subnet().overlaps(lan.subnet()) {
            return Err(format!(
                "its address {} is inside the LAN subnet {} (or overlaps it); the upstream network must use other addresses, or give the LAN another subnet (lan.address)",
                self.address,
                lan.subnet()
            ));
        }
        let mut out = self.clone();
        let mut dropped = Vec::new();
        out.routers.retain(|&r| {
            let why = if r == a {
                Some("the router's own WAN address")
            } else if r.is_unspecified() || r.is_broadcast() || r.is_multicast() || r.is_loopback() {
                Some("not a host address")
            } else if lan.contains(r) {
                Some("inside the LAN subnet")
            } else if self.address.prefix() < 31 && !self.address.is_host(r) {
                Some("outside the WAN subnet")
            } else {
                None
            };
            if let Some(why) = why {
                dropped.push(format!("router {r} ignored: {why}"));
            }
            why.is_none()
        });
        out.dns.retain(|&d| {
            let why = oxwrt_config::bad_dns_server(d, lan.addr()).or_else(|| (d == a).then(|| format!("{d} is the router's own WAN address")));
            if let Some(why) = &why {
                dropped.push(format!("DNS server ignored: {why}"));
            }
            why.is_none()
        });
        // The same rules for NTP servers: timed would ask the router itself, or nobody.
        out.ntp.retain(|&n| {
            let why = if n == lan.addr() || n == a {
                Some("the router itself")
            } else if n.is_unspecified() || n.is_broadcast() || n.is_multicast() || n.is_loopback() {
                Some("not a host address")
            } else {
                None
            };
            if let Some(why) = why {
                dropped.push(format!("NTP server {n} ignored: {why}"));
            }
            why.is_none()
        });
        Ok((out, dropped))
    }
}

/// What the caller must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send `msg` to `to`:67 (255.255.255.255, or the server when renewing).
    Send { msg: Message, to: Ipv4Addr },
    /// A new or renewed lease: configure the address, default route and DNS servers.
    Bound(Lease),
    /// The lease ended (expired or refused): remove the address, route and DNS servers.
    Lost,
}

/// What the client asks for (option 55): mask, router, DNS, domain, NTP, broadcast, lease,
/// T1, T2.
const PARAMETERS: [u8; 9] = [
    code::SUBNET_MASK,
    code::ROUTER,
    code::DNS_SERVERS,
    code::DOMAIN_NAME,
    code::NTP_SERVERS,
    code::BROADCAST_ADDRESS,
    code::LEASE_TIME,
    code::RENEWAL_TIME,
    code::REBINDING_TIME,
];

/// The client.
#[derive(Debug, Clone)]
pub struct Client {
    mac: [u8; 6],
    hostname: Option<String>,
    state: State,
    xid: u32,
    rng: u64,
    attempt: u32,
    /// When the current exchange started (the `secs` field).
    started: Instant,
    deadline: Option<Instant>,
    /// SELECTING: the address we ask for (a previous address); REQUESTING: the offer.
    requested: Option<Ipv4Addr>,
    server: Option<Ipv4Addr>,
    lease: Option<Lease>,
    /// When the REQUEST being answered was sent.
    request_sent: Instant,
}

fn backoff(attempt: u32) -> u64 {
    4u64 << attempt.min(4)
}

/// Prefix of a netmask; None when not contiguous.
fn mask_prefix(mask: Ipv4Addr) -> Option<u8> {
    let m = u32::from(mask);
    let p = m.leading_ones();
    (m.checked_shl(p).unwrap_or(0) == 0).then_some(p as u8)
}

fn classful(ip: Ipv4Addr) -> u8 {
    match ip.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    }
}

impl Client {
    /// A client in INIT whose first DISCOVER goes out at `now`. `hint`: the address the WAN
    /// had before (asked for again); `seed`: randomness for transaction ids and jitter.
    pub fn new(mac: [u8; 6], hostname: Option<String>, hint: Option<Ipv4Addr>, seed: u64, now: Instant) -> Client {
        Client {
            mac,
            hostname,
            state: State::Init,
            xid: 0,
            rng: seed | 1,
            attempt: 0,
            started: now,
            deadline: Some(now),
            requested: hint,
            server: None,
            lease: None,
            request_sent: now,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    /// When [`Client::on_timer`] must be called next; None: never (an infinite lease).
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    pub fn xid(&self) -> u32 {
        self.xid
    }

    fn random(&mut self) -> u64 {
        // xorshift64*: transaction ids and jitter need no more.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// `secs` +- 1 s, in milliseconds.
    fn jittered(&mut self, secs: u64) -> Duration {
        let ms = secs * 1000 + self.random() % 2001;
        Duration::from_millis(ms.saturating_sub(1000))
    }

    fn message(&self, t: MessageType, now: Instant, broadcast: bool) -> Message {
        let mut m = Message::request(t, self.xid, self.mac);
        m.secs = now.saturating_duration_since(self.started).as_secs().min(u16::MAX as u64) as u16;
        if broadcast {
            m.flags = FLAG_BROADCAST;
        }
        let mut id = vec![1u8];
        id.extend_from_slice(&self.mac);
        m.options.set_client_id(&id);
        if let Some(h) = self.hostname.as_deref().filter(|h| !h.is_empty()) {
            m.options.set_hostname(h.as_bytes());
        }
        if t != MessageType::Release && t != MessageType::Decline {
            m.options.set_parameter_request_list(&PARAMETERS);
            m.options.set_max_message_size(1500);
        }
        m
    }

    fn discover(&mut self, now: Instant) -> Action {
        let mut m = self.message(MessageType::Discover, now, true);
        if let Some(ip) = self.requested {
            m.options.set_requested_ip(ip);
        }
        Action::Send { msg: m, to: Ipv4Addr::BROADCAST }
    }

    /// REQUEST in REQUESTING (selecting the offer), RENEWING (unicast) or REBINDING.
    fn request(&mut self, now: Instant) -> Action {
        self.request_sent = now;
        match self.state {
            State::Requesting => {
                let mut m = self.message(MessageType::Request, now, true);
                if let Some(ip) = self.requested {
                    m.options.set_requested_ip(ip);
                }
                if let Some(s) = self.server {
                    m.options.set_server_id(s);
                }
                Action::Send { msg: m, to: Ipv4Addr::BROADCAST }
            }
            _ => {
                let mut m = self.message(MessageType::Request, now, false);
                // RENEWING and REBINDING always have a lease; without one (a bug), broadcast.
                let mut to = Ipv4Addr::BROADCAST;
                if let Some(lease) = &self.lease {
                    m.ciaddr = lease.address.addr();
                    if self.state == State::Renewing {
                        to = lease.server;
                    }
                }
                Action::Send { msg: m, to }
            }
        }
    }

    fn new_exchange(&mut self, now: Instant) {
        self.xid = self.random() as u32;
        self.attempt = 0;
        self.started = now;
    }

    /// Back to INIT at `at`; `Lost` when there was a lease.
    fn reset(&mut self, at: Instant, out: &mut Vec<Action>) {
        if self.lease.take().is_some() {
            out.push(Action::Lost);
        }
        self.state = State::Init;
        self.server = None;
        self.deadline = Some(at);
    }

    /// Half the time left until `end`, at least 60 s, never past `end`.
    fn retransmit_before(&self, now: Instant, end: Instant) -> Instant {
        let left = end.saturating_duration_since(now);
        (now + (left / 2).max(Duration::from_secs(60))).min(end)
    }

    fn lease_times(&self) -> (Option<Instant>, Option<Instant>, Option<Instant>) {
        let Some(l) = &self.lease else { return (None, None, None) };
        let at = |s: u32| l.since + Duration::from_secs(s.into());
        match l.lease_secs {
            Some(_) => (Some(at(l.t1)), Some(at(l.t2)), l.expires()),
            None => (None, None, None),
        }
    }

    /// The time has come (`now` >= [`Client::deadline`]): send, retransmit, move on.
    pub fn on_timer(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if self.deadline.is_none_or(|d| now < d) {
            return out;
        }
        match self.state {
            State::Init => {
                self.new_exchange(now);
                self.state = State::Selecting;
                out.push(self.discover(now));
                self.deadline = Some(now + self.jittered(backoff(0)));
            }
            State::Selecting => {
                self.attempt += 1;
                out.push(self.discover(now));
                self.deadline = Some(now + self.jittered(backoff(self.attempt)));
            }
            State::Requesting => {
                self.attempt += 1;
                if self.attempt >= 4 {
                    self.requested = None;
                    self.reset(now, &mut out);
                    return out;
                }
                out.push(self.request(now));
                self.deadline = Some(now + self.jittered(backoff(self.attempt)));
            }
            State::Bound | State::Renewing | State::Rebinding => {
                let (_, t2, end) = self.lease_times();
                let (Some(t2), Some(end)) = (t2, end) else {
                    self.deadline = None;
                    return out;
                };
                if now >= end {
                    self.requested = None;
                    self.reset(now, &mut out);
                    return out;
                }
                if self.state == State::Bound {
                    self.new_exchange(now);
                    self.state = State::Renewing;
                }
                if self.state == State::Renewing && now >= t2 {
                    self.state = State::Rebinding;
                }
                out.push(self.request(now));
                let until = if self.state == State::Renewing { t2 } else { end };
                self.deadline = Some(self.retransmit_before(now, until));
            }
        }
        out
    }

    /// The WAN's link came back (carrier): ask now instead of at the next retransmission.
    /// With a lease, confirm it by a broadcast REQUEST (REBINDING: the cable may lead to
    /// another network now, whose server answers NAK); without, DISCOVER at once.
    pub fn link_up(&mut self, now: Instant) -> Vec<Action> {
        match (self.state, self.lease_times().2) {
            (State::Bound | State::Renewing | State::Rebinding, Some(end)) => {
                self.new_exchange(now);
                self.state = State::Rebinding;
                let a = self.request(now);
                self.deadline = Some(self.retransmit_before(now, end));
                vec![a]
            }
            (State::Bound | State::Renewing | State::Rebinding, None) => Vec::new(),
            _ => {
                self.state = State::Init;
                self.server = None;
                self.deadline = Some(now);
                self.on_timer(now)
            }
        }
    }

    /// A message arrived on the client's socket. Replies to other transactions or clients,
    /// and the wrong kind for the state, are ignored.
    pub fn on_message(&mut self, msg: &Message, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if msg.op != Op::Reply || msg.xid != self.xid || msg.chaddr.as_bytes() != self.mac {
            return out;
        }
        match (self.state, msg.message_type()) {
            (State::Selecting, Some(MessageType::Offer)) => {
                let Some(server) = msg.options.server_id() else { return out };
                if msg.yiaddr.is_unspecified() || msg.yiaddr.is_broadcast() {
                    return out;
                }
                self.state = State::Requesting;
                self.requested = Some(msg.yiaddr);
                self.server = Some(server);
                self.attempt = 0;
                out.push(self.request(now));
                self.deadline = Some(now + self.jittered(backoff(0)));
            }
            (State::Requesting | State::Renewing | State::Rebinding, Some(MessageType::Ack)) => {
                if self.state == State::Requesting && msg.options.server_id().is_some_and(|s| Some(s) != self.server) {
                    return out;
                }
                let Some(lease) = self.lease_from(msg) else { return out };
                self.state = State::Bound;
                self.requested = Some(lease.address.addr());
                self.lease = Some(lease.clone());
                let (t1, _, _) = self.lease_times();
                self.deadline = t1;
                out.push(Action::Bound(lease));
            }
            (State::Requesting | State::Renewing | State::Rebinding, Some(MessageType::Nak)) => {
                if self.state == State::Requesting && msg.options.server_id().is_some_and(|s| Some(s) != self.server) {
                    return out;
                }
                self.requested = None;
                self.reset(now + Duration::from_secs(3), &mut out);
            }
            _ => {}
        }
        out
    }

    fn lease_from(&self, msg: &Message) -> Option<Lease> {
        let ip = if msg.yiaddr.is_unspecified() { self.lease.as_ref()?.address.addr() } else { msg.yiaddr };
        let prefix = msg.options.subnet_mask().and_then(mask_prefix).filter(|&p| (1..=32).contains(&p)).unwrap_or_else(|| classful(ip));
        let address = Ipv4Cidr::new(ip, prefix).ok()?;
        let server = msg.options.server_id().or(self.server).or(self.lease.as_ref().map(|l| l.server))?;
        // An ACK must carry the lease time (RFC 2131 table 3); one hour when it does not.
        let lease_secs = match msg.options.lease_time().unwrap_or(3600) {
            u32::MAX => None,
            s => Some(s.max(10)),
        };
        let l = lease_secs.unwrap_or(u32::MAX);
        let t2 = msg.options.rebinding_time().filter(|&t| t < l).unwrap_or(((l as u64) * 7 / 8) as u32);
        let t1 = msg.options.renewal_time().filter(|&t| t < t2).unwrap_or((l / 2).min(t2));
        let domain = msg.options.domain_name().filter(|d| d.iter().all(|b| b.is_ascii_graphic())).map(|d| String::from_utf8_lossy(d).into_owned());
        let routers = msg.options.routers().into_iter().filter(|r| address.contains(*r) && *r != ip).collect();
        Some(Lease {
            address,
            server,
            routers,
            dns: msg.options.dns_servers(),
            ntp: msg.options.ntp_servers(),
            domain,
            lease_secs,
            t1,
            t2,
            since: self.request_sent,
        })
    }
}

#[cfg(test)]
mod tests;
