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
//! - [`generation`]: a number that changes whenever either list changes, to notice cheaply.

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Default)]
struct State {
    upstreams: Vec<Ipv4Addr>,
    /// (name, address, expiry in Unix seconds; None: static).
    hosts: Vec<(String, Ipv4Addr, Option<u64>)>,
    generation: u64,
}

static STATE: Mutex<State> = Mutex::new(State { upstreams: Vec::new(), hosts: Vec::new(), generation: 0 });

fn with<T>(f: impl FnOnce(&mut State) -> T) -> T {
    let mut s = STATE.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut s)
}

/// Now, in Unix seconds.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The DNS servers to forward to, in preference order.
pub fn upstreams() -> Vec<Ipv4Addr> {
    with(|s| s.upstreams.clone())
}

/// LAN names: static leases with a hostname, and the hostnames of leases that have not
/// expired. A name appears once (a static lease wins).
pub fn lan_hosts() -> Vec<(String, Ipv4Addr)> {
    let now = unix_now();
    with(|s| s.hosts.iter().filter(|(_, _, exp)| exp.is_none_or(|e| e > now)).map(|(n, ip, _)| (n.clone(), *ip)).collect())
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
