//! The WAN's DHCPv6 client (RFC 8415) as a state machine: SOLICIT, ADVERTISE, REQUEST,
//! REPLY, then RENEW at T1 and REBIND at T2 until the lease's valid lifetime ends. It asks
//! for a delegated prefix (IA_PD, with the configured length as a hint), an address for the
//! WAN (IA_NA, optional: a lease without one is fine) and the DNS servers (option 23). Like
//! [`crate::dhcp_client`] it reads no clock and owns no socket: the caller passes the time
//! and messages in and carries out the [`Action`]s.
//!
//! Timing (RFC 8415 15, 7.6): each retransmission doubles the timeout, +-10% at random,
//! up to a maximum: SOLICIT from 1 s to 3600 s; REQUEST from 1 s to 30 s, ten times, then
//! SOLICIT again; RENEW from 10 s to 600 s until T2; REBIND from 10 s to 600 s until the
//! valid lifetime ends, when the lease is gone ([`Action::Lost`]). The first SOLICIT waits
//! 0-1 s (RFC 8415 18.2.1). ADVERTISEs are collected until the first SOLICIT timeout (or
//! one with preference 255 arrives): the highest preference wins. T1 and T2 are the
//! server's when it sets them, else 0.5 and 0.8 of the shortest preferred lifetime
//! (RFC 8415 21.4).
//!
//! A REPLY to RENEW or REBIND saying NoBinding makes the client REQUEST the binding again
//! (RFC 8415 18.2.10.1); one without usable prefix or address leaves the lease as it is
//! until it runs out. [`Client::release`] gives the lease back (RELEASE, sent once).

use netproto::dhcpv6::{code, duid_ll, msg, status, Ia, IaAddr, IaPrefix, Message, Opt};
use oxwrt_config::Ipv6Prefix;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

/// The IAID of the IA_PD and the IA_NA (one of each).
pub const IAID: u32 = 1;
/// DNS servers kept from a lease (a reply can list thousands; resolv.conf's MAXNS is 3).
pub const MAX_DNS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Soliciting,
    Requesting,
    Bound,
    Renewing,
    Rebinding,
}

/// A lifetime pair, seconds (u32::MAX: infinite).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    pub preferred: u32,
    pub valid: u32,
}

/// What the server gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub server_id: Vec<u8>,
    /// The delegated prefix (IA_PD).
    pub prefix: Option<(Ipv6Prefix, Lifetimes)>,
    /// The WAN's address (IA_NA).
    pub address: Option<(Ipv6Addr, Lifetimes)>,
    pub dns: Vec<Ipv6Addr>,
    /// SNTP servers (option 31, RFC 4075): for timed, with the IPv4 lease's option 42.
    pub ntp: Vec<Ipv6Addr>,
    pub t1: u32,
    pub t2: u32,
    /// When the message that got this lease was sent (lifetimes count from there).
    pub since: Instant,
}

fn at(since: Instant, secs: u32) -> Option<Instant> {
    (secs != u32::MAX).then(|| since + Duration::from_secs(secs.into()))
}

/// Seconds left of `secs` counted from `since` (u32::MAX stays infinite).
pub fn left(since: Instant, secs: u32, now: Instant) -> u32 {
    match at(since, secs) {
        None => u32::MAX,
        Some(end) => end.saturating_duration_since(now).as_secs().min(u64::from(u32::MAX - 1)) as u32,
    }
}

fn is_global(a: Ipv6Addr) -> bool {
    let s = a.segments();
    !(a.is_unspecified()
        || a.is_loopback()
        || a.is_multicast()
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0..5] == [0; 5] && (s[5] == 0 || s[5] == 0xffff)))
}

impl Lease {
    /// When the last of its lifetimes ends (None: never).
    pub fn expires(&self) -> Option<Instant> {
        let valids = self.prefix.iter().map(|p| p.1.valid).chain(self.address.iter().map(|a| a.1.valid));
        let longest = valids.max()?;
        at(self.since, longest)
    }

    /// The lease as far as a router can use it: the prefix must be global unicast (not
    /// link-local, ULA, multicast, loopback or IPv4-mapped) and at most /64 long (the LAN
    /// gets a /64 of it); the address global and outside the prefix; DNS servers global
    /// (a link-local one would need the WAN's scope, which the forwarder cannot say) and
    /// outside the prefix and `ula` (the router's own LAN addresses: it would ask itself).
    /// Err when nothing usable is left; else the lease and what was left out.
    pub fn vet(&self, ula: Option<Ipv6Prefix>) -> Result<(Lease, Vec<String>), String> {
        let mut out = self.clone();
        let mut dropped = Vec::new();
        if let Some((p, _)) = out.prefix {
            if !is_global(p.addr()) {
                dropped.push(format!("delegated prefix {p} ignored: not a global unicast prefix"));
                out.prefix = None;
            } else if p.prefix_len() > 64 {
                dropped.push(format!("delegated prefix {p} ignored: longer than /64, no /64 for the LAN in it"));
                out.prefix = None;
            }
        }
        let inside = |a: Ipv6Addr, out: &Lease| out.prefix.is_some_and(|(p, _)| p.contains(a)) || ula.is_some_and(|u| u.contains(a));
        if let Some((a, _)) = out.address {
            if !is_global(a) || inside(a, &out) {
                dropped.push(format!("WAN address {a} ignored: not a global unicast address outside the delegated prefix"));
                out.address = None;
            }
        }
        let servers = std::mem::take(&mut out.dns);
        for d in servers {
            if !is_global(d) {
                dropped.push(format!("DNS server {d} ignored: not a global unicast address"));
            } else if inside(d, &out) {
                dropped.push(format!("DNS server {d} ignored: inside the router's own LAN prefixes (it would ask itself)"));
            } else {
                out.dns.push(d);
            }
        }
        if out.dns.len() > MAX_DNS {
            dropped.push(format!("{} DNS servers: the first {MAX_DNS} are used", out.dns.len()));
            out.dns.truncate(MAX_DNS);
        }
        // NTP servers: the same rules (timed would ask the router itself, or nobody).
        let servers = std::mem::take(&mut out.ntp);
        for n in servers {
            if !is_global(n) {
                dropped.push(format!("NTP server {n} ignored: not a global unicast address"));
            } else if inside(n, &out) {
                dropped.push(format!("NTP server {n} ignored: inside the router's own LAN prefixes"));
            } else if out.ntp.len() < MAX_DNS {
                out.ntp.push(n);
            }
        }
        if out.prefix.is_none() && out.address.is_none() {
            return Err(dropped.join("; "));
        }
        Ok((out, dropped))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send to ff02::1:2 port 547 on the WAN.
    Send(Message),
    /// A new or renewed lease.
    Bound(Lease),
    /// The lease ended: remove the prefix, the address and the DNS servers.
    Lost,
}

/// (initial, maximum) retransmission timeouts in seconds (RFC 8415 7.6).
const SOL: (u64, u64) = (1, 3600);
const REQ: (u64, u64) = (1, 30);
const REQ_MAX_RC: u32 = 10;
const REN: (u64, u64) = (10, 600);

pub struct Client {
    duid: Vec<u8>,
    pd_len: u8,
    state: State,
    xid: u32,
    rng: u64,
    attempt: u32,
    /// The current retransmission timeout.
    rt: Duration,
    started: Instant,
    sent_at: Instant,
    deadline: Option<Instant>,
    /// Soliciting: the best ADVERTISE so far; Requesting: the one being requested.
    offer: Option<Message>,
    lease: Option<Lease>,
}

impl Client {
    /// A client whose first SOLICIT goes out 0-1 s after `now`, identified by a DUID-LL of
    /// `mac`, asking for a /`pd_len`.
    pub fn new(mac: [u8; 6], pd_len: u8, seed: u64, now: Instant) -> Client {
        let mut c = Client {
            duid: duid_ll(mac),
            pd_len,
            state: State::Soliciting,
            xid: 0,
            rng: seed | 1,
            attempt: 0,
            rt: Duration::ZERO,
            started: now,
            sent_at: now,
            deadline: None,
            offer: None,
            lease: None,
        };
        let delay = Duration::from_millis(c.random() % 1000);
        c.deadline = Some(now + delay);
        c
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    fn random(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// `d` +- 10% at random.
    fn jitter(&mut self, d: Duration) -> Duration {
        let ms = d.as_millis() as u64;
        let spread = ms / 5;
        Duration::from_millis(ms - ms / 10 + if spread > 0 { self.random() % (spread + 1) } else { 0 })
    }

    /// The next retransmission timeout (RFC 8415 15).
    fn next_rt(&mut self, (irt, mrt): (u64, u64)) -> Duration {
        let next = if self.attempt == 0 { Duration::from_secs(irt) } else { self.rt * 2 };
        let capped = next.min(Duration::from_secs(mrt));
        self.rt = self.jitter(capped);
        self.rt
    }

    fn new_exchange(&mut self, state: State, now: Instant) {
        self.state = state;
        self.xid = (self.random() as u32) & 0xff_ffff;
        self.attempt = 0;
        self.rt = Duration::ZERO;
        self.started = now;
    }

    /// The IA_PD and IA_NA to ask for: what the lease holds, else hints.
    fn ias(&self) -> [Opt; 2] {
        let (pd, na) = match &self.lease {
            Some(l) => (
                l.prefix.map(|(p, t)| IaPrefix { preferred: t.preferred, valid: t.valid, len: p.prefix_len(), prefix: p.addr(), options: vec![] }),
                l.address.map(|(a, t)| IaAddr { addr: a, preferred: t.preferred, valid: t.valid, options: vec![] }),
            ),
            None => (None, None),
        };
        let pd = pd.unwrap_or(IaPrefix { preferred: 0, valid: 0, len: self.pd_len, prefix: Ipv6Addr::UNSPECIFIED, options: vec![] });
        [
            Opt::IaPd(Ia { iaid: IAID, t1: 0, t2: 0, options: vec![Opt::IaPrefix(pd)] }),
            Opt::IaNa(Ia { iaid: IAID, t1: 0, t2: 0, options: na.into_iter().map(Opt::IaAddr).collect() }),
        ]
    }

    fn message(&mut self, t: u8, now: Instant, server_id: Option<Vec<u8>>) -> Action {
        self.sent_at = now;
        let mut m = Message::new(t, self.xid);
        m.options.push(Opt::ClientId(self.duid.clone()));
        if let Some(s) = server_id {
            m.options.push(Opt::ServerId(s));
        }
        let elapsed = now.saturating_duration_since(self.started).as_millis() / 10;
        m.options.push(Opt::ElapsedTime(elapsed.min(0xffff) as u16));
        if t != msg::RELEASE {
            m.options.push(Opt::Oro(vec![code::DNS_SERVERS, code::SNTP_SERVERS]));
        }
        m.options.extend(self.ias());
        Action::Send(m)
    }

    fn offer_server(&self) -> Option<Vec<u8>> {
        self.offer.as_ref().and_then(|o| o.server_id()).map(<[u8]>::to_vec)
    }

    fn solicit_again(&mut self, at: Instant) {
        self.new_exchange(State::Soliciting, at);
        self.offer = None;
        self.deadline = Some(at);
    }

    fn times(&self) -> Option<(Option<Instant>, Option<Instant>, Option<Instant>)> {
        let l = self.lease.as_ref()?;
        Some((at(l.since, l.t1), at(l.since, l.t2), l.expires()))
    }

    /// The time has come (`now` >= [`Client::deadline`]).
    pub fn on_timer(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if self.deadline.is_none_or(|d| now < d) {
            return out;
        }
        // A lease that ran out ends whatever exchange was going on.
        if let Some((_, _, Some(end))) = self.times() {
            if now >= end {
                self.lease = None;
                out.push(Action::Lost);
                self.solicit_again(now);
            }
        }
        match self.state {
            State::Soliciting => {
                if self.attempt > 0 && self.offer.is_some() {
                    return self.request(now, out);
                }
                if self.attempt == 0 {
                    self.new_exchange(State::Soliciting, now);
                }
                out.push(self.message(msg::SOLICIT, now, None));
                let rt = self.next_rt(SOL);
                self.attempt += 1;
                self.deadline = Some(now + rt);
            }
            State::Requesting => {
                if self.attempt >= REQ_MAX_RC {
                    self.solicit_again(now);
                    out.extend(self.on_timer(now));
                    return out;
                }
                let server = self.offer_server();
                out.push(self.message(msg::REQUEST, now, server));
                let rt = self.next_rt(REQ);
                self.attempt += 1;
                self.deadline = Some(now + rt);
            }
            State::Bound | State::Renewing | State::Rebinding => {
                let Some((_, t2, end)) = self.times() else {
                    self.solicit_again(now);
                    return out;
                };
                if self.state == State::Bound {
                    self.new_exchange(State::Renewing, now);
                }
                if self.state == State::Renewing && t2.is_some_and(|t2| now >= t2) {
                    self.new_exchange(State::Rebinding, now);
                }
                let server = (self.state == State::Renewing).then(|| self.lease.as_ref().map(|l| l.server_id.clone())).flatten();
                let t = if self.state == State::Renewing { msg::RENEW } else { msg::REBIND };
                out.push(self.message(t, now, server));
                let rt = self.next_rt(REN);
                self.attempt += 1;
                let until = if self.state == State::Renewing { t2 } else { end };
                self.deadline = Some(until.map_or(now + rt, |u| (now + rt).min(u)));
            }
        }
        out
    }

    fn request(&mut self, now: Instant, mut out: Vec<Action>) -> Vec<Action> {
        self.new_exchange(State::Requesting, now);
        let server = self.offer_server();
        out.push(self.message(msg::REQUEST, now, server));
        let rt = self.next_rt(REQ);
        self.attempt += 1;
        self.deadline = Some(now + rt);
        out
    }

    /// The WAN's link came back: with a lease, REBIND at once (the link may lead elsewhere
    /// now); without, SOLICIT at once.
    pub fn link_up(&mut self, now: Instant) -> Vec<Action> {
        if self.lease.is_some() {
            self.new_exchange(State::Rebinding, now);
        } else {
            self.solicit_again(now);
        }
        self.deadline = Some(now);
        self.on_timer(now)
    }

    /// Gives the lease back: a RELEASE to its server (not retransmitted: RFC 8415 18.2.7
    /// allows giving up), and the client stops. None without a lease.
    pub fn release(&mut self, now: Instant) -> Option<Action> {
        let server = self.lease.as_ref()?.server_id.clone();
        self.new_exchange(State::Soliciting, now);
        let a = self.message(msg::RELEASE, now, Some(server));
        self.lease = None;
        self.deadline = None;
        Some(a)
    }

    /// The usable part of an ADVERTISE or REPLY: a prefix or an address with a valid
    /// lifetime, preferred not above valid (RFC 8415 21.6, 21.22: such options are
    /// ignored).
    fn lease_from(&self, m: &Message) -> Option<Lease> {
        let server_id = m.server_id()?.to_vec();
        let ok = |p: u32, v: u32| v > 0 && p <= v;
        let pd = m.ia_pd(IAID).filter(|ia| ia.status().0 == status::SUCCESS);
        let na = m.ia_na(IAID).filter(|ia| ia.status().0 == status::SUCCESS);
        let prefix = pd.and_then(|ia| {
            ia.prefixes()
                .filter(|p| ok(p.preferred, p.valid))
                .find_map(|p| Ipv6Prefix::new(p.prefix, p.len).ok().map(|x| (x, Lifetimes { preferred: p.preferred, valid: p.valid })))
        });
        let address = na.and_then(|ia| ia.addrs().find(|a| ok(a.preferred, a.valid)).map(|a| (a.addr, Lifetimes { preferred: a.preferred, valid: a.valid })));
        if prefix.is_none() && address.is_none() {
            return None;
        }
        let shortest = prefix.iter().map(|p| p.1.preferred).chain(address.iter().map(|a| a.1.preferred)).min().unwrap_or(u32::MAX);
        let ia = if prefix.is_some() { pd } else { na };
        let (t1, t2) = match ia.map(|ia| (ia.t1, ia.t2)) {
            Some((t1, t2)) if t1 > 0 && t2 > 0 && t1 <= t2 => (t1, t2),
            _ if shortest == u32::MAX => (u32::MAX, u32::MAX),
            _ => (shortest / 2, (shortest as u64 * 4 / 5) as u32),
        };
        Some(Lease { server_id, prefix, address, dns: m.dns_servers(), ntp: m.sntp_servers(), t1: t1.max(1), t2: t2.max(1), since: self.sent_at })
    }

    /// A message arrived on the client's socket. Other transactions and clients, and
    /// messages wrong for the state, are ignored.
    pub fn on_message(&mut self, m: &Message, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if m.xid != self.xid || m.client_id() != Some(self.duid.as_slice()) || m.server_id().is_none() {
            return out;
        }
        match (self.state, m.msg_type) {
            (State::Soliciting, msg::ADVERTISE) if self.deadline.is_some() => {
                if m.status().0 != status::SUCCESS || self.lease_from(m).is_none() {
                    return out;
                }
                if self.offer.as_ref().is_none_or(|o| o.preference() < m.preference()) {
                    self.offer = Some(m.clone());
                }
                if m.preference() == 255 {
                    return self.request(now, out);
                }
            }
            (State::Requesting | State::Renewing | State::Rebinding, msg::REPLY) => {
                let no_binding = [m.ia_pd(IAID), m.ia_na(IAID)].iter().flatten().any(|ia| ia.status().0 == status::NO_BINDING);
                if self.state != State::Requesting && no_binding {
                    let server = self.lease.as_ref().map(|l| l.server_id.clone());
                    self.offer = server.map(|s| {
                        let mut o = Message::new(msg::ADVERTISE, 0);
                        o.options.push(Opt::ServerId(s));
                        o
                    });
                    return self.request(now, out);
                }
                match self.lease_from(m) {
                    Some(lease) => {
                        self.state = State::Bound;
                        self.offer = None;
                        self.lease = Some(lease.clone());
                        self.deadline = self.times().and_then(|(t1, _, _)| t1);
                        out.push(Action::Bound(lease));
                    }
                    None if self.state == State::Requesting => self.solicit_again(now + Duration::from_secs(1)),
                    None => {}
                }
            }
            _ => {}
        }
        out
    }
}

#[cfg(test)]
mod tests;
