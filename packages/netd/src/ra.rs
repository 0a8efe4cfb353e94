//! The LAN's router advertisements (RFC 4861 6.2) as data and a schedule, without a socket:
//! what goes into each advertisement ([`Announce::advert`]) and when the next one is due
//! ([`Schedule`]). [`crate::ipv6`] sends them.
//!
//! Content: the LAN's /64s as prefix information with L and A set (hosts make their own
//! addresses, SLAAC, RFC 4862), the router's ULA address as recursive DNS server (RDNSS,
//! RFC 8106: stable across renumbering), the local domain (`lan`) as DNS search list
//! (DNSSL, RFC 8106 5.2), the bridge's MTU (RFC 4861 4.6.4) and its MAC address. The router is a
//! default router (lifetime [`ROUTER_LIFETIME`]) only while it holds a delegated prefix:
//! without upstream IPv6 it must not attract the LAN's traffic (RFC 7084 G-4); the ULA
//! prefix is announced either way. A prefix that went away (renumbering) is announced
//! with preferred lifetime 0 and a valid lifetime of what it has left, at most 2 hours
//! (RFC 4862 5.5.3 e: hosts keep at least that much), so hosts stop using it for new
//! connections at once.
//!
//! Timing (RFC 4861 6.2.4, 6.2.6): the first [`INITIAL_COUNT`] advertisements at most
//! [`INITIAL_INTERVAL`] apart, then every [`MIN_INTERVAL`]-[`MAX_INTERVAL`] at random; a
//! router solicitation brings one within 0-0.5 s, never sooner than [`MIN_DELAY`] after
//! the one before. Every advertisement goes to all nodes (ff02::1): no unicast replies.

use netproto::dns::Name;
use netproto::ndp::{PrefixInfo, RouterAdvert};
use oxwrt_config::Ipv6Prefix;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

pub const MIN_INTERVAL: Duration = Duration::from_secs(200);
pub const MAX_INTERVAL: Duration = Duration::from_secs(600);
pub const INITIAL_COUNT: u8 = 3;
pub const INITIAL_INTERVAL: Duration = Duration::from_secs(16);
pub const MIN_DELAY: Duration = Duration::from_secs(3);
/// 3 x [`MAX_INTERVAL`] (RFC 4861 6.2.1's default).
pub const ROUTER_LIFETIME: u16 = 1800;
/// RDNSS lifetime: 3 x [`MAX_INTERVAL`] (RFC 8106 5.1 recommends at least that).
pub const RDNSS_LIFETIME: u32 = 1800;
/// The ULA /64's lifetimes: it does not change, so they are refreshed long before they end.
pub const ULA_VALID: u32 = 86_400;
pub const ULA_PREFERRED: u32 = 14_400;
/// Lifetimes of a delegated /64 are the lease's, at most these.
pub const PD_VALID_CAP: u32 = 86_400;
pub const PD_PREFERRED_CAP: u32 = 14_400;
/// What hosts keep of a deprecated prefix at least (RFC 4862 5.5.3 e).
pub const TWO_HOURS: u32 = 7200;
/// Deprecated prefixes announced at most (each is 32 bytes of the advertisement).
pub const MAX_OLD: usize = 4;

/// A /64 and when its lifetimes end (None: never).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timed {
    pub prefix: Ipv6Prefix,
    pub preferred_until: Option<Instant>,
    pub valid_until: Option<Instant>,
}

fn secs_until(t: Option<Instant>, now: Instant, cap: u32) -> u32 {
    match t {
        None => cap,
        Some(t) => (t.saturating_duration_since(now).as_secs().min(u64::from(cap))) as u32,
    }
}

/// What the advertisements say.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Announce {
    pub mac: Option<[u8; 6]>,
    pub ula: Option<Ipv6Prefix>,
    /// The LAN's /64 of the delegated prefix.
    pub delegated: Option<Timed>,
    /// Prefixes that went away: announced deprecated until their valid time ends.
    pub old: Vec<Timed>,
    pub dns: Option<Ipv6Addr>,
    /// The DNS search list (the local domain): DNSSL, with the RDNSS's lifetime.
    pub domain: Option<Name>,
    /// The LAN link's MTU.
    pub mtu: Option<u32>,
    /// The O flag: "other configuration" (the DNS server) from stateless DHCPv6 too.
    pub other: bool,
}

impl Announce {
    /// A new delegated /64 (or none): the one before, if different, is kept as deprecated.
    pub fn set_delegated(&mut self, new: Option<Timed>, now: Instant) {
        if let Some(old) = self.delegated.take() {
            if new.is_none_or(|n| n.prefix != old.prefix) {
                let left = secs_until(old.valid_until, now, TWO_HOURS);
                self.old.retain(|o| o.prefix != old.prefix);
                self.old.push(Timed { prefix: old.prefix, preferred_until: Some(now), valid_until: Some(now + Duration::from_secs(left.into())) });
                // An ISP that renumbers again and again must not grow the advertisement
                // past one packet: the newest few deprecated prefixes are announced.
                if self.old.len() > MAX_OLD {
                    self.old.remove(0);
                }
            }
        }
        if let Some(n) = new {
            self.old.retain(|o| o.prefix != n.prefix);
        }
        self.delegated = new;
    }

    /// The advertisement at `now`; deprecated prefixes whose time is over are dropped.
    pub fn advert(&mut self, now: Instant) -> RouterAdvert {
        self.old.retain(|o| o.valid_until.is_some_and(|v| v > now));
        let pi = |prefix: Ipv6Prefix, valid: u32, preferred: u32| PrefixInfo {
            prefix: prefix.addr(),
            len: prefix.prefix_len(),
            on_link: true,
            autonomous: true,
            valid,
            preferred: preferred.min(valid),
        };
        let mut prefixes = Vec::new();
        if let Some(u) = self.ula {
            prefixes.push(pi(u, ULA_VALID, ULA_PREFERRED));
        }
        if let Some(d) = self.delegated {
            prefixes.push(pi(d.prefix, secs_until(d.valid_until, now, PD_VALID_CAP), secs_until(d.preferred_until, now, PD_PREFERRED_CAP)));
        }
        for o in &self.old {
            prefixes.push(pi(o.prefix, secs_until(o.valid_until, now, TWO_HOURS), 0));
        }
        let live = self.delegated.is_some_and(|d| d.valid_until.is_none_or(|v| v > now));
        RouterAdvert {
            cur_hop_limit: 64,
            other: self.other,
            router_lifetime: if live { ROUTER_LIFETIME } else { 0 },
            source_lladdr: self.mac,
            prefixes,
            rdnss: self.dns.map(|d| vec![(RDNSS_LIFETIME, vec![d])]).unwrap_or_default(),
            dnssl: self.domain.clone().map(|d| vec![(RDNSS_LIFETIME, vec![d])]).unwrap_or_default(),
            mtu: self.mtu,
            ..RouterAdvert::default()
        }
    }
}

/// When advertisements go out.
#[derive(Debug, Clone)]
pub struct Schedule {
    next: Instant,
    initial_left: u8,
    last: Option<Instant>,
    rng: u64,
}

impl Schedule {
    /// The first advertisement at `now`.
    pub fn new(seed: u64, now: Instant) -> Schedule {
        Schedule { next: now, initial_left: INITIAL_COUNT, last: None, rng: seed | 1 }
    }

    fn random(&mut self, below_ms: u64) -> Duration {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        Duration::from_millis(self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) % below_ms.max(1))
    }

    pub fn deadline(&self) -> Instant {
        self.next
    }

    /// One went out at `now`: when the next is due.
    pub fn sent(&mut self, now: Instant) {
        self.last = Some(now);
        let span = (MAX_INTERVAL - MIN_INTERVAL).as_millis() as u64;
        let mut wait = MIN_INTERVAL + self.random(span);
        if self.initial_left > 0 {
            self.initial_left -= 1;
            if self.initial_left > 0 {
                wait = wait.min(INITIAL_INTERVAL);
            }
        }
        self.next = now + wait;
    }

    /// Sending failed (no link-local address yet, the bridge without carrier): try again
    /// in 2 s.
    pub fn failed(&mut self, now: Instant) {
        self.next = now + Duration::from_secs(2);
    }

    /// A router solicitation arrived at `now`.
    pub fn solicited(&mut self, now: Instant) {
        let mut at = now + self.random(500);
        if let Some(last) = self.last {
            at = at.max(last + MIN_DELAY);
        }
        self.next = self.next.min(at);
    }

    /// What is announced changed (a new prefix): the initial burst again.
    pub fn changed(&mut self, now: Instant) {
        self.initial_left = INITIAL_COUNT;
        self.solicited(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Ipv6Prefix {
        s.parse().unwrap()
    }

    #[test]
    fn a_renumbered_prefix_is_deprecated_then_dropped() {
        let t0 = Instant::now();
        let lan = Name::from_ascii("lan").unwrap();
        let mut a = Announce {
            ula: Some(p("fd00:1:2::/64")),
            dns: Some("fd00:1:2::1".parse().unwrap()),
            mac: Some([2, 0, 0, 0, 0, 1]),
            domain: Some(lan.clone()),
            mtu: Some(1492),
            ..Announce::default()
        };
        let ra = a.advert(t0);
        assert_eq!(ra.router_lifetime, 0, "no delegated prefix: not a default router");
        assert_eq!(ra.prefixes.len(), 1);
        assert_eq!(ra.rdnss, vec![(RDNSS_LIFETIME, vec!["fd00:1:2::1".parse().unwrap()])]);
        assert_eq!((ra.dnssl, ra.mtu), (vec![(RDNSS_LIFETIME, vec![lan])], Some(1492)));
        let old = Timed {
            prefix: p("2001:db8:0:10::/64"),
            preferred_until: Some(t0 + Duration::from_secs(3600)),
            valid_until: Some(t0 + Duration::from_secs(100_000)),
        };
        a.set_delegated(Some(old), t0);
        let ra = a.advert(t0);
        assert_eq!(ra.router_lifetime, ROUTER_LIFETIME);
        assert_eq!((ra.prefixes[1].valid, ra.prefixes[1].preferred), (PD_VALID_CAP, 3600), "the lease's lifetimes, capped");
        let new = Timed { prefix: p("2001:db8:0:20::/64"), preferred_until: None, valid_until: None };
        a.set_delegated(Some(new), t0 + Duration::from_secs(10));
        let ra = a.advert(t0 + Duration::from_secs(10));
        let got: Vec<(String, u32, u32)> = ra.prefixes.iter().map(|x| (x.prefix.to_string(), x.valid, x.preferred)).collect();
        assert_eq!(
            got,
            vec![
                ("fd00:1:2::".to_string(), ULA_VALID, ULA_PREFERRED),
                ("2001:db8:0:20::".to_string(), PD_VALID_CAP, PD_PREFERRED_CAP),
                ("2001:db8:0:10::".to_string(), TWO_HOURS, 0),
            ]
        );
        for i in 0..10u16 {
            let p = Ipv6Prefix::new(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, i, 0, 0, 0, 0), 64).unwrap();
            a.set_delegated(Some(Timed { prefix: p, preferred_until: None, valid_until: None }), t0 + Duration::from_secs(10));
        }
        assert_eq!(a.old.len(), MAX_OLD, "renumbering again and again keeps the advertisement small");
        a.set_delegated(Some(new), t0 + Duration::from_secs(10));
        let later = a.advert(t0 + Duration::from_secs(10 + u64::from(TWO_HOURS)));
        assert_eq!(later.prefixes.len(), 2, "the old prefix is gone once its valid time is over");
        a.set_delegated(None, t0 + Duration::from_secs(20_000));
        assert_eq!(a.advert(t0 + Duration::from_secs(20_000)).router_lifetime, 0, "lease lost: not a default router");
    }

    #[test]
    fn initial_burst_then_slow_and_solicitations_are_rate_limited() {
        let t0 = Instant::now();
        let mut s = Schedule::new(9, t0);
        assert_eq!(s.deadline(), t0);
        let mut now = t0;
        let mut gaps = Vec::new();
        for _ in 0..5 {
            s.sent(now);
            gaps.push(s.deadline() - now);
            now = s.deadline();
        }
        assert!(gaps[..2].iter().all(|g| *g <= INITIAL_INTERVAL), "{gaps:?}");
        assert!(gaps[2..].iter().all(|g| *g >= MIN_INTERVAL && *g <= MAX_INTERVAL), "{gaps:?}");
        s.sent(now);
        s.solicited(now + Duration::from_secs(1));
        assert_eq!(s.deadline(), now + MIN_DELAY, "not sooner than 3 s after the last");
        let later = now + Duration::from_secs(60);
        s.sent(now + MIN_DELAY);
        s.solicited(later);
        assert!(s.deadline() >= later && s.deadline() <= later + Duration::from_millis(500), "a solicitation: within 0.5 s");
    }
}
