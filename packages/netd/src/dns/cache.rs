//! The answer cache: upstream answers kept as the bytes received, by question (name
//! without case, type, class, DNSSEC OK), for as long as their smallest TTL (RFC 2308's
//! SOA minimum for negative answers: see `netproto::dns::cache::min_ttl`), at most
//! `capacity` of them. Served with their TTLs aged by the time spent in the cache.
//! Full: the expired entries go first, then the least recently used one.

use netproto::dns::cache::age_ttls;
use std::collections::HashMap;
use std::time::Instant;

/// Longest time an answer is kept, whatever its TTL says (a day, like most resolvers
/// cap it): bounds how stale a wrong upstream answer can get.
pub const MAX_TTL: u32 = 86_400;
/// Answers larger than this are relayed but not kept (a cache of small answers stays
/// small: 150 entries of typical 100-300 byte answers are a few tens of KiB).
pub const MAX_ENTRY_LEN: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    /// Wire form, lowercase.
    pub name: Vec<u8>,
    pub qtype: u16,
    pub qclass: u16,
    /// The client asked for DNSSEC records (EDNS DO bit): a different answer.
    pub dnssec_ok: bool,
}

struct Entry {
    msg: Vec<u8>,
    stored: Instant,
    ttl: u32,
    used: u64,
}

pub struct Cache {
    entries: HashMap<Key, Entry>,
    capacity: usize,
    /// The answers' bytes kept at most, and now (keys and bookkeeping not counted: a key
    /// is a name of at most 255 bytes, an entry about 60 bytes more).
    max_bytes: usize,
    bytes: usize,
    clock: u64,
}

/// Whole seconds from `from` to `now` (0 if `now` is earlier).
fn secs(from: Instant, now: Instant) -> u64 {
    now.saturating_duration_since(from).as_secs()
}

impl Cache {
    /// At most `capacity` answers and `max_bytes` of them.
    pub fn new(capacity: usize, max_bytes: usize) -> Cache {
        Cache { entries: HashMap::new(), capacity, max_bytes, bytes: 0, clock: 0 }
    }

    /// The answers' bytes kept now.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn remove(&mut self, key: &Key) {
        if let Some(e) = self.entries.remove(key) {
            self.bytes -= e.msg.len();
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// The cached answer with its TTLs lowered by the seconds it has spent here, or None
    /// (expired entries are dropped on the way).
    pub fn get(&mut self, key: &Key, now: Instant) -> Option<Vec<u8>> {
        let e = self.entries.get_mut(key)?;
        let age = secs(e.stored, now);
        if age >= u64::from(e.ttl) {
            self.remove(key);
            return None;
        }
        self.clock += 1;
        e.used = self.clock;
        let mut msg = e.msg.clone();
        // The bytes were checked when stored; aging cannot fail on them.
        age_ttls(&mut msg, age as u32).ok()?;
        Some(msg)
    }

    /// Keeps `msg` for `ttl` seconds (capped at [`MAX_TTL`]); a TTL of 0, an answer over
    /// [`MAX_ENTRY_LEN`] or a capacity of 0 keeps nothing.
    pub fn insert(&mut self, key: Key, msg: Vec<u8>, ttl: u32, now: Instant) {
        if ttl == 0 || self.capacity == 0 || msg.len() > MAX_ENTRY_LEN || msg.len() > self.max_bytes {
            return;
        }
        self.remove(&key);
        let full = |c: &Cache| c.entries.len() >= c.capacity || c.bytes + msg.len() > c.max_bytes;
        if full(self) {
            let before = self.entries.len();
            self.entries.retain(|_, e| secs(e.stored, now) < u64::from(e.ttl));
            if self.entries.len() != before {
                self.bytes = self.entries.values().map(|e| e.msg.len()).sum();
            }
            while full(self) {
                let Some(oldest) = self.entries.iter().min_by_key(|(_, e)| e.used).map(|(k, _)| k.clone()) else { break };
                self.remove(&oldest);
            }
        }
        self.clock += 1;
        self.bytes += msg.len();
        self.entries.insert(key, Entry { msg, stored: now, ttl: ttl.min(MAX_TTL), used: self.clock });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netproto::dns::{Message, Name, RData, Record};
    use std::net::Ipv4Addr;
    use std::time::Duration;

    fn key(name: &str) -> Key {
        Key { name: Name::from_ascii(name).unwrap().wire().to_vec(), qtype: 1, qclass: 1, dnssec_ok: false }
    }

    fn answer(name: &str, ttl: u32) -> Vec<u8> {
        let q = Message::query(7, Name::from_ascii(name).unwrap(), 1);
        let mut m = q.response();
        m.answers.push(Record::new(q.questions[0].name.clone(), ttl, RData::A(Ipv4Addr::new(192, 0, 2, 1))));
        m.encode().unwrap()
    }

    fn ttl_of(msg: &[u8]) -> u32 {
        Message::parse(msg).unwrap().answers[0].ttl
    }

    #[test]
    fn ages_and_expires() {
        let t0 = Instant::now();
        let mut c = Cache::new(10, 1 << 20);
        c.insert(key("a.example"), answer("a.example", 300), 300, t0);
        assert_eq!(ttl_of(&c.get(&key("a.example"), t0).unwrap()), 300);
        assert_eq!(ttl_of(&c.get(&key("a.example"), t0 + Duration::from_millis(99_900)).unwrap()), 201);
        assert_eq!(ttl_of(&c.get(&key("a.example"), t0 + Duration::from_secs(299)).unwrap()), 1);
        assert!(c.get(&key("a.example"), t0 + Duration::from_secs(300)).is_none());
        assert_eq!(c.len(), 0, "expired entries are dropped");
    }

    #[test]
    fn evicts_expired_then_least_recently_used() {
        let t0 = Instant::now();
        let mut c = Cache::new(3, 1 << 20);
        c.insert(key("short"), answer("short", 10), 10, t0);
        c.insert(key("b"), answer("b", 300), 300, t0);
        c.insert(key("c"), answer("c", 300), 300, t0);
        let later = t0 + Duration::from_secs(20);
        c.insert(key("d"), answer("d", 300), 300, later);
        assert!(c.get(&key("b"), later).is_some(), "the expired one went, not b");
        c.insert(key("e"), answer("e", 300), 300, later);
        assert_eq!(c.len(), 3);
        assert!(c.get(&key("c"), later).is_none(), "c was the least recently used");
        for k in ["b", "d", "e"] {
            assert!(c.get(&key(k), later).is_some(), "{k}");
        }
    }

    #[test]
    fn bytes_are_bounded_too() {
        let t0 = Instant::now();
        let one = answer("n0.example", 300).len();
        let mut c = Cache::new(1000, one * 3);
        for i in 0..10 {
            c.insert(key(&format!("n{i}.example")), answer(&format!("n{i}.example"), 300), 300, t0);
            assert!(c.bytes() <= one * 3 && c.len() <= 3, "{i}: {} bytes, {} entries", c.bytes(), c.len());
        }
        assert!(c.get(&key("n9.example"), t0).is_some() && c.get(&key("n0.example"), t0).is_none(), "least recently used went first");
        c.insert(key("n9.example"), answer("n9.example", 300), 300, t0);
        assert_eq!(c.bytes(), one * 3, "a replaced answer is counted once");
        c.clear();
        assert_eq!((c.len(), c.bytes()), (0, 0));
    }

    #[test]
    fn keeps_nothing_when_it_should_not() {
        let t0 = Instant::now();
        let mut none = Cache::new(0, 1 << 20);
        none.insert(key("a"), answer("a", 300), 300, t0);
        assert_eq!(none.len(), 0);
        let mut c = Cache::new(5, 1 << 20);
        c.insert(key("zero"), answer("zero", 0), 0, t0);
        c.insert(key("big"), vec![0; MAX_ENTRY_LEN + 1], 300, t0);
        assert_eq!(c.len(), 0);
        c.insert(key("long"), answer("long", u32::MAX), u32::MAX, t0);
        assert!(c.get(&key("long"), t0 + Duration::from_secs(u64::from(MAX_TTL))).is_none(), "capped at a day");
    }
}
