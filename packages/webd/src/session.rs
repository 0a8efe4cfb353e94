//! Login sessions, their CSRF tokens, and login throttling. No I/O and no clock of its own
//! (callers pass `now`), so every rule is unit-tested with made-up times.
//!
//! - A session id is 128 bits from getrandom(2) (`oxwrt_log::rng`), sent as the cookie
//!   [`COOKIE`] (HttpOnly, SameSite=Strict, Path=/; Secure over HTTPS). Each session has
//!   its own CSRF token, another 128 random bits, which every form carries.
//! - A session ends after [`Limits::idle`] without a *user* request (a page or a form;
//!   background requests, `/api/...`, do not count: a status page left open polling
//!   does not keep a session alive), after [`Limits::absolute`] whatever happens, at
//!   logout, and all sessions end when the password changes.
//! - At most [`MAX_SESSIONS`] at once; a new login evicts the least recently used.
//! - Login throttling ([`Throttle`]): per source address and over all addresses. After
//!   [`FAILURES_PER_ADDRESS`] failed logins from one address, or [`FAILURES_GLOBAL`] from
//!   all, the next attempt is refused (429, `Retry-After`) until a lockout of 30 s has
//!   passed, doubling with each further failure up to 15 min. Failures are forgotten 15
//!   minutes after the last one. The table holds at most [`MAX_TRACKED`] addresses (the
//!   oldest is dropped; the global counter still counts it).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub const COOKIE: &str = "oxwrt_session";
/// The cookie and form token of the pages without a session (login, first password):
/// double-submit CSRF protection for them.
pub const PRE_COOKIE: &str = "oxwrt_pre";
pub const MAX_SESSIONS: usize = 8;
pub const FAILURES_PER_ADDRESS: u32 = 10;
pub const FAILURES_GLOBAL: u32 = 30;
pub const LOCKOUT: Duration = Duration::from_secs(30);
pub const MAX_LOCKOUT: Duration = Duration::from_secs(15 * 60);
pub const FORGET: Duration = Duration::from_secs(15 * 60);
pub const MAX_TRACKED: usize = 64;

/// 128 random bits as 32 lowercase hex digits.
pub fn token() -> String {
    let mut b = [0u8; 16];
    oxwrt_log::rng::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Equal bytes, compared in a time that depends on the length only.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// How long sessions last (`webd --session-idle`, `--session-max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub idle: Duration,
    pub absolute: Duration,
}

/// The limits given on the command line (`--session-idle`, `--session-max`), which
/// override those of web.toml ([`oxwrt_config::web`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitArgs {
    pub idle: Option<Duration>,
    pub absolute: Option<Duration>,
}

impl Limits {
    /// web.toml's timeouts, then the command line's over them.
    pub fn from(web: &oxwrt_config::web::Web, args: LimitArgs) -> Limits {
        Limits { idle: args.idle.unwrap_or(Duration::from_secs(web.session_idle)), absolute: args.absolute.unwrap_or(Duration::from_secs(web.session_max)) }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { idle: Duration::from_secs(15 * 60), absolute: Duration::from_secs(12 * 3600) }
    }
}

#[derive(Debug, Clone)]
pub struct Session {
    pub csrf: String,
    pub created: Instant,
    pub last_used: Instant,
}

/// The session table.
#[derive(Debug, Default)]
pub struct Sessions {
    pub limits: Limits,
    map: HashMap<String, Session>,
}

impl Sessions {
    pub fn new(limits: Limits) -> Sessions {
        Sessions { limits, map: HashMap::new() }
    }

    /// A new session; returns its id. The least recently used goes when the table is full.
    pub fn create(&mut self, now: Instant) -> String {
        self.expire(now);
        while self.map.len() >= MAX_SESSIONS {
            let Some(oldest) = self.map.iter().min_by_key(|(_, s)| s.last_used).map(|(k, _)| k.clone()) else { break };
            self.map.remove(&oldest);
        }
        let id = token();
        self.map.insert(id.clone(), Session { csrf: token(), created: now, last_used: now });
        id
    }

    /// The live session `id`, if any. `user` (a page or a form, not a background request)
    /// counts as use and restarts the idle time.
    pub fn get(&mut self, id: &str, now: Instant, user: bool) -> Option<Session> {
        let limits = self.limits;
        let s = self.map.get_mut(id)?;
        if now.saturating_duration_since(s.last_used) >= limits.idle || now.saturating_duration_since(s.created) >= limits.absolute {
            self.map.remove(id);
            return None;
        }
        if user {
            s.last_used = now;
        }
        Some(s.clone())
    }

    pub fn remove(&mut self, id: &str) {
        self.map.remove(id);
    }

    /// Every session ends (the password changed).
    pub fn clear(&mut self) {
        self.map.clear();
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn expire(&mut self, now: Instant) {
        let l = self.limits;
        self.map.retain(|_, s| now.saturating_duration_since(s.last_used) < l.idle && now.saturating_duration_since(s.created) < l.absolute);
    }
}

#[derive(Debug, Clone, Copy)]
struct Count {
    failures: u32,
    last: Instant,
}

impl Count {
    /// Until when attempts are refused, if they are.
    fn locked_until(&self, threshold: u32) -> Option<Instant> {
        if self.failures < threshold {
            return None;
        }
        let doublings = (self.failures - threshold).min(5);
        let lock = (LOCKOUT * (1 << doublings)).min(MAX_LOCKOUT);
        Some(self.last + lock)
    }
}

/// Failed logins per source address and in all (see the module docs).
#[derive(Debug, Default)]
pub struct Throttle {
    per: HashMap<IpAddr, Count>,
    global: Option<Count>,
}

impl Throttle {
    /// Err(how long to wait) when a login attempt from `from` must be refused now.
    pub fn check(&mut self, from: IpAddr, now: Instant) -> Result<(), Duration> {
        self.forget(now);
        let until = [self.per.get(&from).and_then(|c| c.locked_until(FAILURES_PER_ADDRESS)), self.global.and_then(|c| c.locked_until(FAILURES_GLOBAL))]
            .into_iter()
            .flatten()
            .max();
        match until {
            Some(t) if t > now => Err(t - now),
            _ => Ok(()),
        }
    }

    pub fn failed(&mut self, from: IpAddr, now: Instant) {
        self.forget(now);
        if !self.per.contains_key(&from) && self.per.len() >= MAX_TRACKED {
            if let Some(oldest) = self.per.iter().min_by_key(|(_, c)| c.last).map(|(k, _)| *k) {
                self.per.remove(&oldest);
            }
        }
        let c = self.per.entry(from).or_insert(Count { failures: 0, last: now });
        c.failures = c.failures.saturating_add(1);
        c.last = now;
        let g = self.global.get_or_insert(Count { failures: 0, last: now });
        g.failures = g.failures.saturating_add(1);
        g.last = now;
    }

    /// A good login clears its address's count (not the global one).
    pub fn succeeded(&mut self, from: IpAddr) {
        self.per.remove(&from);
    }

    pub fn tracked(&self) -> usize {
        self.per.len()
    }

    fn forget(&mut self, now: Instant) {
        self.per.retain(|_, c| now.saturating_duration_since(c.last) < FORGET);
        if self.global.is_some_and(|g| now.saturating_duration_since(g.last) >= FORGET) {
            self.global = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn tokens_are_128_random_bits() {
        let (a, b) = (token(), token());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }

    #[test]
    fn same_compares_bytes() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
        assert!(same(b"", b""));
    }

    #[test]
    fn idle_timeout_is_not_refreshed_by_background_requests() {
        let t0 = Instant::now();
        let mut s = Sessions::new(Limits { idle: 60 * S, absolute: 3600 * S });
        let id = s.create(t0);
        // A status page polls every 5 s: the session still ends 60 s after the last page.
        for i in 1..12 {
            assert!(s.get(&id, t0 + 5 * i * S, false).is_some(), "poll {i}");
        }
        assert!(s.get(&id, t0 + 60 * S, false).is_none());
        assert!(s.get(&id, t0 + 61 * S, true).is_none(), "gone for good");
    }

    #[test]
    fn user_requests_refresh_until_the_absolute_limit() {
        let t0 = Instant::now();
        let mut s = Sessions::new(Limits { idle: 60 * S, absolute: 200 * S });
        let id = s.create(t0);
        for i in 1..7 {
            assert!(s.get(&id, t0 + 30 * i * S, true).is_some(), "use {i}");
        }
        assert!(s.get(&id, t0 + 200 * S, true).is_none(), "absolute timeout");
    }

    #[test]
    fn table_is_bounded_and_clear_ends_all() {
        let t0 = Instant::now();
        let mut s = Sessions::new(Limits::default());
        let first = s.create(t0);
        let ids: Vec<String> = (1..20).map(|i| s.create(t0 + i * S)).collect();
        assert_eq!(s.len(), MAX_SESSIONS);
        assert!(s.get(&first, t0 + 30 * S, false).is_none(), "the least recently used went");
        assert!(s.get(ids.last().unwrap(), t0 + 30 * S, false).is_some());
        assert!(s.get("not-a-session", t0, true).is_none());
        s.clear();
        assert!(s.is_empty());
    }

    #[test]
    fn ten_failures_lock_an_address_for_30_s() {
        let t0 = Instant::now();
        let mut t = Throttle::default();
        let a: IpAddr = "192.168.1.100".parse().unwrap();
        let b: IpAddr = "192.168.1.101".parse().unwrap();
        for i in 0..FAILURES_PER_ADDRESS {
            assert_eq!(t.check(a, t0), Ok(()), "attempt {i}");
            t.failed(a, t0);
        }
        assert_eq!(t.check(a, t0), Err(LOCKOUT));
        assert_eq!(t.check(a, t0 + 29 * S), Err(S));
        assert_eq!(t.check(b, t0), Ok(()), "another address is not locked");
        assert_eq!(t.check(a, t0 + 30 * S), Ok(()));
        t.failed(a, t0 + 30 * S);
        assert_eq!(t.check(a, t0 + 30 * S), Err(2 * LOCKOUT), "doubles");
        t.succeeded(a);
        assert_eq!(t.check(a, t0 + 31 * S), Ok(()));
    }

    #[test]
    fn global_lock_and_bounded_table() {
        let t0 = Instant::now();
        let mut t = Throttle::default();
        for i in 0..FAILURES_GLOBAL {
            let from = IpAddr::from([10, 0, (i / 256) as u8, i as u8]);
            assert_eq!(t.check(from, t0), Ok(()));
            t.failed(from, t0);
        }
        assert!(t.check("10.9.9.9".parse().unwrap(), t0).is_err(), "all addresses wait");
        for i in 0..1000u32 {
            t.failed(IpAddr::from(i.to_be_bytes()), t0 + S);
        }
        assert_eq!(t.tracked(), MAX_TRACKED);
        assert_eq!(t.check("10.9.9.9".parse().unwrap(), t0 + 2 * S), Err(MAX_LOCKOUT - S), "at most the longest lockout");
        assert_eq!(t.check("10.9.9.9".parse().unwrap(), t0 + FORGET + 2 * S), Ok(()), "forgotten");
        assert_eq!(t.tracked(), 0);
    }
}
