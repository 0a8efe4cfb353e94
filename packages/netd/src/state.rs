//! What netd knows that the DNS forwarder needs: the upstream DNS servers (from the
//! configuration or the WAN's DHCP lease) and the names of LAN clients (static leases and
//! the DHCP server's leases). One thread runs both, so this is process-wide state read
//! through plain functions; other processes read `/run/netd/resolv-upstream`.
//!
//! API for `dns.rs`:
//! - [`upstreams`]: the servers to forward to, in order (empty: answer only LAN names and
//!   from the cache).
//! - [`lan_hosts`]: (hostname, address) of the LAN clients whose lease runs now; hostnames
//!   are single DNS labels, lowercase (`laptop`, to be answered as `laptop.<local domain>`).
//! - [`lan_hosts6`]: (hostname, IPv6 address): the router's own name at its LAN IPv6
//!   addresses (ULA and delegated /64). netd does not know LAN clients' IPv6 addresses
//!   (SLAAC: hosts make them up); the kernel's neighbour table does, by MAC:
//! - [`lan_macs`]: (hostname, MAC, expiry) of the same clients as [`lan_hosts`] (the
//!   router's own name left out), for the forwarder to look their IPv6 addresses up in the
//!   neighbour table when asked for AAAA.
//! - [`generation`]: a number that changes whenever either list changes, to notice cheaply.
//!
//! [`lan_names`] decides which names are published: the router's own name first (at its
//! LAN address), static leases' hostnames, then what DHCP clients claim, except names no
//! client may take ([`RESERVED`], the router's own, a static lease's, one another client
//! holds already).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Default)]
struct State {
    upstreams: Vec<Ipv4Addr>,
    /// IPv6 servers (the DHCPv6 lease's), asked after the IPv4 ones.
    upstreams6: Vec<Ipv6Addr>,
    /// (name, address, expiry in Unix seconds; None: static).
    hosts: Vec<(String, Ipv4Addr, Option<u64>)>,
    /// (name, IPv6 address): the router's own name at its LAN IPv6 addresses.
    hosts6: Vec<(String, Ipv6Addr)>,
    /// (name, MAC, expiry in Unix seconds; None: static) of the LAN clients in `hosts`.
    macs: Vec<(String, [u8; 6], Option<u64>)>,
    generation: u64,
}

static STATE: Mutex<State> =
    Mutex::new(State { upstreams: Vec::new(), upstreams6: Vec::new(), hosts: Vec::new(), hosts6: Vec::new(), macs: Vec::new(), generation: 0 });

fn with<T>(f: impl FnOnce(&mut State) -> T) -> T {
    let mut s = STATE.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut s)
}

/// Names no DHCP client may claim for itself: `wpad` (browsers fetch their proxy settings
/// from `http://wpad.<domain>/wpad.dat`, RFC draft-ietf-wrec-wpad-01, so whoever holds it
/// can proxy the LAN's web traffic) and `localhost` (RFC 6761 6.3: always the loopback).
pub const RESERVED: [&str; 2] = ["wpad", "localhost"];

/// The LAN names the DNS forwarder answers, in lookup order: `router` (its hostname and LAN
/// address), then `statics` (name, address), then the hostnames DHCP clients sent for
/// their leases (name, address, expiry). A client's name is left out, and returned in the
/// second list, when it is [`RESERVED`], the router's, a static lease's or one an earlier
/// lease holds (names compared without case); the client's lease itself is unaffected.
#[allow(clippy::type_complexity)]
pub fn lan_names(
    router: Option<(&str, Ipv4Addr)>,
    statics: impl IntoIterator<Item = (String, Ipv4Addr)>,
    leases: impl IntoIterator<Item = (String, Ipv4Addr, u64)>,
) -> (Vec<(String, Ipv4Addr, Option<u64>)>, Vec<(String, Ipv4Addr)>) {
    let mut names: Vec<(String, Ipv4Addr, Option<u64>)> = Vec::new();
    let taken = |names: &[(String, Ipv4Addr, Option<u64>)], n: &str| names.iter().any(|(m, _, _)| m.eq_ignore_ascii_case(n));
    if let Some((name, ip)) = router.filter(|(n, _)| !n.is_empty()) {
        names.push((name.to_ascii_lowercase(), ip, None));
    }
    for (name, ip) in statics {
        if !taken(&names, &name) {
            names.push((name, ip, None));
        }
    }
    let mut refused = Vec::new();
    for (name, ip, expires) in leases {
        if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(&name)) || taken(&names, &name) {
            if !names.iter().any(|(m, a, _)| *a == ip && m.eq_ignore_ascii_case(&name)) {
                refused.push((name, ip));
            }
            continue;
        }
        names.push((name, ip, Some(expires)));
    }
    (names, refused)
}

/// Now, in Unix seconds (the wall clock: it jumps when timed or an operator sets it).
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// How far the wall clock may drift from the lease clock before it counts as a step
/// (timed slews smaller corrections: they drift, they do not jump).
pub const STEP_SLACK: u64 = 2;

/// The lease clock: Unix seconds that advance with the monotonic clock, so a clock step
/// (the router's clock set from 1970 or the build time to the real time, by timed or by
/// hand) neither expires every lease at once nor extends them by years. Leases are kept and
/// saved in these seconds; [`lease_clock_step`] notices a step and rebases it to the new
/// wall time, and the caller moves the leases by the same amount.
static LEASE_CLOCK: Mutex<Option<(u64, std::time::Instant)>> = Mutex::new(None);

/// Now on the lease clock (started from the wall clock at the first call).
pub fn lease_now() -> u64 {
    let mut c = LEASE_CLOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (base, at) = *c.get_or_insert_with(|| (unix_now(), std::time::Instant::now()));
    base + at.elapsed().as_secs()
}

/// When the wall clock jumped against the lease clock (by more than [`STEP_SLACK`]): the
/// jump in seconds (positive: forward), and the lease clock is moved to the wall clock.
pub fn lease_clock_step() -> Option<i64> {
    let mine = lease_now();
    let wall = unix_now();
    if wall.abs_diff(mine) <= STEP_SLACK {
        return None;
    }
    let mut c = LEASE_CLOCK.lock().unwrap_or_else(|e| e.into_inner());
    *c = Some((wall, std::time::Instant::now()));
    Some(wall as i64 - mine as i64)
}

/// The DNS servers to forward to, in preference order.
pub fn upstreams() -> Vec<Ipv4Addr> {
    with(|s| s.upstreams.clone())
}

/// LAN names: static leases with a hostname, and the hostnames of leases that have not
/// expired. A name appears once (a static lease wins).
pub fn lan_hosts() -> Vec<(String, Ipv4Addr)> {
    let now = lease_now();
    with(|s| s.hosts.iter().filter(|(_, _, exp)| exp.is_none_or(|e| e > now)).map(|(n, ip, _)| (n.clone(), *ip)).collect())
}

/// IPv6 LAN names (the router's own).
pub fn lan_hosts6() -> Vec<(String, Ipv6Addr)> {
    with(|s| s.hosts6.clone())
}

/// The LAN clients' names with their MACs and expiry (lease clock seconds; None: a static
/// lease), leases that have not expired.
pub fn lan_macs() -> Vec<(String, [u8; 6], Option<u64>)> {
    let now = lease_now();
    with(|s| s.macs.iter().filter(|(_, _, exp)| exp.is_none_or(|e| e > now)).cloned().collect())
}

pub(crate) fn set_macs(v: Vec<(String, [u8; 6], Option<u64>)>) {
    with(|s| {
        if s.macs != v {
            s.macs = v;
            s.generation += 1;
        }
    })
}

pub(crate) fn set_hosts6(v: Vec<(String, Ipv6Addr)>) {
    with(|s| {
        if s.hosts6 != v {
            s.hosts6 = v;
            s.generation += 1;
        }
    })
}

/// Changes whenever [`upstreams`] or the lease list behind [`lan_hosts`] changes.
pub fn generation() -> u64 {
    with(|s| s.generation)
}

/// Returns whether the list changed.
pub(crate) fn set_upstreams(v: &[Ipv4Addr]) -> bool {
    with(|s| {
        if s.upstreams == v {
            return false;
        }
        s.upstreams = v.to_vec();
        s.generation += 1;
        true
    })
}

/// The IPv6 DNS servers to forward to, after [`upstreams`].
pub fn upstreams6() -> Vec<Ipv6Addr> {
    with(|s| s.upstreams6.clone())
}

/// Returns whether the list changed.
pub(crate) fn set_upstreams6(v: &[Ipv6Addr]) -> bool {
    with(|s| {
        if s.upstreams6 == v {
            return false;
        }
        s.upstreams6 = v.to_vec();
        s.generation += 1;
        true
    })
}

/// resolv.conf `nameserver` lines of IPv6 servers.
pub fn resolv_conf6(servers: &[Ipv6Addr]) -> String {
    servers.iter().map(|s| format!("nameserver {s}\n")).collect()
}

pub(crate) fn set_hosts(v: Vec<(String, Ipv4Addr, Option<u64>)>) {
    with(|s| {
        if s.hosts != v {
            s.hosts = v;
            s.generation += 1;
        }
    })
}

/// resolv.conf text: `nameserver` lines.
pub fn resolv_conf(servers: &[Ipv4Addr]) -> String {
    servers.iter().map(|s| format!("nameserver {s}\n")).collect()
}

/// The servers of a resolv.conf-style file (`/run/netd/resolv-upstream`), for readers in
/// other processes; missing or unreadable: none.
pub fn read_upstream_file(path: &Path) -> Vec<Ipv4Addr> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().filter_map(|l| l.trim().strip_prefix("nameserver")).filter_map(|a| a.trim().parse().ok()).collect()
}

/// Writes `path` only if its content differs (no needless flash writes), atomically.
pub(crate) fn write_if_changed(path: &Path, text: &str) -> std::io::Result<bool> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(false);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    oxwrt_config::write_atomic(path, text.as_bytes())?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_expire_and_the_generation_moves() {
        let g = generation();
        set_hosts(vec![("nas".into(), Ipv4Addr::new(192, 168, 1, 10), None), ("old".into(), Ipv4Addr::new(192, 168, 1, 11), Some(1))]);
        assert!(generation() > g);
        assert_eq!(lan_hosts(), vec![("nas".to_string(), Ipv4Addr::new(192, 168, 1, 10))]);
        assert!(set_upstreams(&[Ipv4Addr::new(9, 9, 9, 9)]));
        assert!(!set_upstreams(&[Ipv4Addr::new(9, 9, 9, 9)]));
        assert_eq!(upstreams(), vec![Ipv4Addr::new(9, 9, 9, 9)]);
    }

    fn ip(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(192, 168, 1, last)
    }

    /// A DHCP client cannot take wpad, localhost, the router's name, a static lease's name
    /// or a name another client holds; the router's name is its LAN address.
    #[test]
    fn clients_cannot_claim_reserved_or_taken_names() {
        let statics = vec![("nas".to_string(), ip(10))];
        let far = u64::MAX;
        let leases = vec![
            ("wpad".to_string(), ip(100), far),
            ("LocalHost".to_string(), ip(101), far),
            ("gw".to_string(), ip(102), far),
            ("nas".to_string(), ip(103), far),
            ("laptop".to_string(), ip(104), far),
            ("laptop".to_string(), ip(105), far),
            ("WPAD".to_string(), ip(106), far),
        ];
        let (names, refused) = lan_names(Some(("GW", ip(1))), statics, leases);
        assert_eq!(names, vec![("gw".to_string(), ip(1), None), ("nas".to_string(), ip(10), None), ("laptop".to_string(), ip(104), Some(far))]);
        let refused: Vec<u8> = refused.iter().map(|(_, a)| a.octets()[3]).collect();
        assert_eq!(refused, [100, 101, 102, 103, 105, 106]);

        // As the forwarder answers them (not through the process-wide state: tests run in
        // parallel): the router's name is its LAN address.
        use crate::dns::Leases;
        let table = crate::dns::HostTable(names.into_iter().map(|(n, a, _)| (n, a)).collect(), Vec::new());
        assert_eq!(table.lookup("gw"), Some(ip(1)));
        assert_eq!(table.lookup("wpad"), None);
        assert_eq!(table.lookup("localhost"), None);
        assert_eq!(table.lookup("nas"), Some(ip(10)));
        assert_eq!(table.reverse(ip(103)), None, "the claimant's address has no name");
    }

    #[test]
    fn a_static_lease_keeps_its_name_when_its_own_client_sends_it() {
        let (names, refused) = lan_names(None, vec![("nas".to_string(), ip(10))], vec![("nas".to_string(), ip(10), 5)]);
        assert_eq!(names, vec![("nas".to_string(), ip(10), None)]);
        assert!(refused.is_empty(), "the static lease's own client is not refused");
    }

    #[test]
    fn resolv_files_round_trip() {
        let dir = std::env::temp_dir().join(format!("netd-state-{}", std::process::id()));
        let p = dir.join("resolv-upstream");
        let servers = [Ipv4Addr::new(203, 0, 113, 53), Ipv4Addr::new(9, 9, 9, 9)];
        assert!(write_if_changed(&p, &resolv_conf(&servers)).unwrap());
        assert!(!write_if_changed(&p, &resolv_conf(&servers)).unwrap());
        assert_eq!(read_upstream_file(&p), servers);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
