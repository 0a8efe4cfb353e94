//! timed: the router's clock.
//!
//! A WRT54G has no battery-backed clock: it boots in 1970 (or wherever the kernel starts),
//! and TLS certificates, WireGuard handshakes (whose timestamps must grow), log times and
//! DHCP lease files need a sane time. timed
//! 1. at start, moves the clock forward to the newest of the image's build time and the
//!    time it saved on flash, if the clock is behind it ([`clock::floor`]): never back;
//! 2. once there is a default route (the WAN is up), asks the NTP servers the WAN's DHCP
//!    leases named (option 42, DHCPv6 option 31: netd writes them, vetted, to /run/netd/ntp-servers; unless
//!    time.toml says `servers_from_dhcp = false`), then those of /etc/oxwrt/time.toml
//!    ([`servers`]; SNTP, RFC 4330, through [`sntp`]) in turn until one answers
//!    believably ([`judge`]: not before the build time, not decades after it), then steps the
//!    clock (an offset of a second or more) or slews it (`adjtime`, smaller ones);
//! 3. says so: `timed: clock set from SERVER (ADDRESS): offset +N.NNN s, delay N ms, stratum
//!    N` in the log and /run/timed/synced (what vpnd and the web UI wait for and show);
//! 4. asks again every [`POLL_SYNCED`] (after failures: backoff from [`POLL_MIN`] to
//!    [`POLL_MAX_UNSYNCED`]), saves the time to flash on the first sync, then at most every
//!    [`SAVE_EVERY`] and when stopped (SIGTERM: a clean reboot): a few writes a day at most
//!    on the NOR flash's overlay;
//! 5. SIGHUP (or `service restart timed`) reads time.toml again and asks at once.
//!
//! Runs as user `timed` with CAP_SYS_TIME alone (package.toml). One thread, blocking
//! sockets with timeouts, signals taken with `sigtimedwait`: no runtime, a few KiB of heap.
//!
//! # Why sntpc (measured)
//! The SNTP packet is 48 bytes, but the checks a client must make (origin timestamp, mode,
//! version, leap indicator, stratum, kiss-o'-death codes, root distance) are where
//! hand-written clients go wrong; sntpc 0.11 (`default-features = false, features = ["std",
//! "sync"]`) does them and brings only a small executor (miniloop). In the mipsel /bin/oxwrt
//! of the WRT54G class (xtask's attribution, `contains` in the manifest): timed 18,848 bytes
//! of symbols, of which sntpc's own 1,140 (the rest is inlined into timed's functions);
//! 7,510 bytes of the xz'd root filesystem.

pub mod clock;
pub mod sntp;

use oxwrt_config::Time;
use oxwrt_log::Logger;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// timed's logger: `timed: ...` on standard error (init keeps it in the log ring).
pub static LOG: Logger = Logger::new("timed", &oxwrt_log::STDERR);

macro_rules! say {
    ($($t:tt)*) => {{ $crate::LOG.info(format_args!($($t)*)); }};
}
macro_rules! warn {
    ($($t:tt)*) => {{ $crate::LOG.warn(format_args!($($t)*)); }};
}

/// First retry after a round where no server answered; doubled up to [`POLL_MAX_UNSYNCED`].
pub const POLL_MIN: Duration = Duration::from_secs(4);
/// The longest wait between rounds while the clock has never been set.
pub const POLL_MAX_UNSYNCED: Duration = Duration::from_secs(64);
/// Between rounds once the clock is set (about 17 minutes, NTP's usual longest poll).
pub const POLL_SYNCED: Duration = Duration::from_secs(1024);
/// How long one server has to answer.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(2);
/// The saved time is written at most this often (and when timed stops).
pub const SAVE_EVERY: Duration = Duration::from_secs(6 * 3600);
/// Offsets at least this large step the clock; smaller ones are slewed.
pub const STEP_AT: Duration = Duration::from_secs(1);
/// An answer later than this after the image's build time is refused as absurd (a broken
/// or hostile server), as is one before the build time.
pub const MAX_AFTER_BUILD: Duration = Duration::from_secs(30 * 365 * 86400);
/// While there is no default route (the WAN is not up yet), look again this often.
pub const NO_ROUTE_RETRY: Duration = Duration::from_secs(2);

/// Where timed reads and writes.
#[derive(Debug, Clone)]
pub struct Paths {
    /// time.toml's directory (/etc/oxwrt).
    pub config_dir: PathBuf,
    /// The saved time (/etc/oxwrt/timed/clock, on flash).
    pub saved: PathBuf,
    /// "clock set" (/run/timed/synced).
    pub synced: PathBuf,
    /// The WAN lease's NTP servers, one address a line (/run/netd/ntp-servers, netd's).
    pub dhcp_servers: PathBuf,
}

impl Paths {
    pub fn device() -> Paths {
        Paths::under(Path::new("/"))
    }

    /// The same layout under `root` (tests).
    pub fn under(root: &Path) -> Paths {
        Paths {
            config_dir: root.join("etc/oxwrt"),
            saved: root.join("etc/oxwrt/timed/clock"),
            synced: root.join("run/timed/synced"),
            dhcp_servers: root.join("run/netd/ntp-servers"),
        }
    }
}

/// The applet: `timed [--root DIR | --query SERVER | --version]`.
pub fn main(args: Vec<String>) -> i32 {
    use std::io::Write;
    let args: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    match args.as_slice() {
        [] => run(&Paths::device()),
        ["--root", dir] => run(&Paths::under(Path::new(dir))),
        ["--query", server] => query_once(server),
        ["--version"] => i32::from(writeln!(std::io::stdout().lock(), "timed {}", env!("CARGO_PKG_VERSION")).is_err()),
        _ => {
            say!("usage: timed [--root DIR | --query SERVER | --version] (configuration: /etc/oxwrt/time.toml)");
            2
        }
    }
}

/// `timed --query SERVER`: one exchange, printed; the clock is not touched.
fn query_once(server: &str) -> i32 {
    use std::io::Write;
    match resolve(server).and_then(|addrs| sntp::query_any(&addrs, ANSWER_WITHIN, sntp::SystemClock)) {
        Ok((addr, s)) => {
            let _ = writeln!(
                std::io::stdout().lock(),
                "{server} ({addr}): offset {}, delay {} ms, stratum {}",
                signed_secs(s.offset_us),
                s.delay_us / 1000,
                s.stratum
            );
            0
        }
        Err(e) => {
            warn!("{server}: {e}");
            1
        }
    }
}

/// The daemon; returns the exit status when SIGTERM or SIGINT stops it.
pub fn run(paths: &Paths) -> i32 {
    let signals = match clock::Signals::block() {
        Ok(s) => s,
        Err(e) => {
            LOG.error(format_args!("cannot block SIGTERM/SIGHUP to wait for them: {e}"));
            return 1;
        }
    };
    let saved = clock::read_saved(&paths.saved);
    match clock::floor(clock::build_time(), saved) {
        Ok(Some(to)) => say!("clock was behind the last known time: moved forward to {} ({to})", clock::utc(to)),
        Ok(None) => {}
        Err(e) => warn!("{e}"),
    }
    let mut config = load(paths);
    let mut synced = false;
    let mut last_saved: Option<Instant> = None;
    let mut backoff = POLL_MIN;
    let mut next = 0usize;
    let mut waiting_for_route = false;
    let mut list: Vec<String> = Vec::new();
    loop {
        // The lease's servers come and go with the WAN: read at every round (a few bytes
        // on tmpfs); a new list starts from its first server.
        let now_list = servers(&config, &paths.dhcp_servers);
        if now_list != list {
            list = now_list;
            next = 0;
        }
        let wait = if !config.enabled || list.is_empty() {
            Duration::from_secs(24 * 3600)
        } else if !has_default_route() {
            if !waiting_for_route {
                say!("waiting for a default route (the WAN) before asking the NTP servers");
                waiting_for_route = true;
            }
            NO_ROUTE_RETRY
        } else {
            waiting_for_route = false;
            match round(&list, &mut next) {
                Some((server, addr, sample)) => {
                    if let Err(e) = clock::correct(sample.offset_us, STEP_AT) {
                        LOG.error(format_args!("cannot set the clock (offset {} from {server}): {e}", signed_secs(sample.offset_us)));
                    } else {
                        let line = format!(
                            "clock set from {server} ({addr}): offset {}, delay {} ms, stratum {}",
                            signed_secs(sample.offset_us),
                            sample.delay_us / 1000,
                            sample.stratum
                        );
                        // The files first: whoever sees the log line finds them written.
                        mark_synced(&paths.synced, &line);
                        if !synced || last_saved.is_none_or(|t| t.elapsed() >= SAVE_EVERY) {
                            save(&paths.saved);
                            last_saved = Some(Instant::now());
                        }
                        if !synced || sample.offset_us.unsigned_abs() >= STEP_AT.as_micros() as u64 {
                            say!("{line}");
                        }
                        synced = true;
                    }
                    backoff = POLL_MIN;
                    POLL_SYNCED
                }
                None => {
                    let w = backoff;
                    backoff = (backoff * 2).min(if synced { POLL_SYNCED } else { POLL_MAX_UNSYNCED });
                    w
                }
            }
        };
        match signals.wait(wait) {
            clock::Signal::Timeout => {}
            clock::Signal::Reload => {
                say!("reloading time.toml");
                config = load(paths);
                backoff = POLL_MIN;
            }
            clock::Signal::Stop => {
                if synced {
                    save(&paths.saved);
                }
                say!("stopped");
                return 0;
            }
        }
    }
}

/// The servers to ask, in order: the WAN lease's (`dhcp_file`: one IP address a line,
/// anything else skipped) when `servers_from_dhcp`, then time.toml's, each once.
pub fn servers(config: &Time, dhcp_file: &Path) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if config.servers_from_dhcp {
        let text = std::fs::read_to_string(dhcp_file).unwrap_or_default();
        let from_lease = text.lines().filter_map(|l| l.trim().parse::<std::net::IpAddr>().ok()).map(|ip| ip.to_string());
        out.extend(from_lease.take(oxwrt_config::time::MAX_SERVERS));
    }
    for s in &config.servers {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

/// time.toml; its defaults when it is invalid (the problems are logged: the file is the
/// owner's to fix, the clock still needs setting).
fn load(paths: &Paths) -> Time {
    match Time::load(&paths.config_dir) {
        Ok(t) => {
            if !t.enabled {
                say!("network time is off (time.toml: enabled = false)");
            }
            t
        }
        Err(e) => {
            LOG.error(format_args!("{e}; using the default servers until time.toml is fixed (then: service restart timed)"));
            Time::default()
        }
    }
}

/// One round: the servers in turn from `next`, the first answer wins. A failure is logged
/// once per server and round.
fn round(servers: &[String], next: &mut usize) -> Option<(String, SocketAddr, sntp::Sample)> {
    for _ in 0..servers.len() {
        let server = &servers[*next % servers.len()];
        *next = (*next + 1) % servers.len();
        match resolve(server).and_then(|addrs| sntp::query_any(&addrs, ANSWER_WITHIN, sntp::SystemClock)) {
            Ok((addr, sample)) => match judge(clock::now_secs(), sample.offset_us, clock::build_time()) {
                Ok(()) => return Some((server.clone(), addr, sample)),
                Err(why) => warn!("{server} ({addr}): {why}; ignored"),
            },
            Err(e) => say!("{server}: {e}"),
        }
    }
    None
}

/// Whether an answer that puts the time at `now + offset_us` is believable: not before
/// the image was built, not more than [`MAX_AFTER_BUILD`] after it.
pub fn judge(now: u64, offset_us: i64, build: u64) -> Result<(), String> {
    let theirs = now as i64 + offset_us / 1_000_000;
    if theirs < build as i64 {
        return Err(format!("its time ({}) is before this image was built ({})", clock::utc(theirs.max(0) as u64), clock::utc(build)));
    }
    if theirs > (build + MAX_AFTER_BUILD.as_secs()) as i64 {
        return Err(format!("its time ({}) is more than 30 years after this image was built ({})", clock::utc(theirs as u64), clock::utc(build)));
    }
    Ok(())
}

/// Whether the router has a default route (IPv4 or IPv6): before the WAN is up there is
/// nobody to ask, and every name would fail to resolve.
pub fn has_default_route() -> bool {
    let v4 = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    // Iface Destination Gateway ...: destination 00000000 is the default route.
    if v4.lines().skip(1).any(|l| l.split_whitespace().nth(1) == Some("00000000")) {
        return true;
    }
    let v6 = std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default();
    // dest, dest prefix length, ..., device last: ::/0 not on lo.
    v6.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() >= 10 && f[0] == "00000000000000000000000000000000" && f[1] == "00" && f[9] != "lo"
    })
}

/// A server's addresses (a name through the system resolver: netd's DNS forwarder).
fn resolve(server: &str) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = match server.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, 123)],
        Err(_) => (server, 123).to_socket_addrs().map_err(|e| format!("cannot resolve the name: {e}"))?.take(4).collect(),
    };
    if addrs.is_empty() {
        return Err("the name has no address".into());
    }
    Ok(addrs)
}

fn mark_synced(path: &Path, line: &str) {
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    if let Err(e) = oxwrt_config::write_atomic(path, format!("{now} {line}\n").as_bytes()) {
        warn!("cannot write {}: {e}", path.display());
    }
}

fn save(path: &Path) {
    if let Err(e) = clock::save(path) {
        warn!("cannot save the time to {}: {e} (after a power cut the clock starts from the build time)", path.display());
    }
}

/// `+1.234 s`, `-0.020 s`.
pub fn signed_secs(us: i64) -> String {
    let sign = if us < 0 { '-' } else { '+' };
    let a = us.unsigned_abs();
    format!("{sign}{}.{:03} s", a / 1_000_000, (a % 1_000_000) / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_print_with_their_sign() {
        assert_eq!(signed_secs(1_234_567), "+1.234 s");
        assert_eq!(signed_secs(-20_000), "-0.020 s");
        assert_eq!(signed_secs(0), "+0.000 s");
    }

    #[test]
    fn absurd_answers_are_refused() {
        let build = 1_796_000_000;
        assert_eq!(judge(build, 5_000_000, build), Ok(()));
        assert_eq!(judge(0, build as i64 * 1_000_000, build), Ok(()), "from 1970 to the build time");
        let e = judge(build, -20 * 365 * 86400 * 1_000_000, build).unwrap_err();
        assert!(e.contains("before this image was built"), "{e}");
        let e = judge(build, 31 * 365 * 86400 * 1_000_000, build).unwrap_err();
        assert!(e.contains("more than 30 years after"), "{e}");
    }

    #[test]
    fn the_leases_servers_come_first() {
        let dir = std::env::temp_dir().join(format!("timed-servers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("ntp-servers");
        let mut config = Time { servers: vec!["pool.example".into(), "192.0.2.9".into()], ..Time::default() };
        assert_eq!(servers(&config, &file), ["pool.example", "192.0.2.9"], "no file: time.toml's");
        std::fs::write(&file, "192.0.2.9\ngarbage\n192.0.2.123\n").unwrap();
        assert_eq!(servers(&config, &file), ["192.0.2.9", "192.0.2.123", "pool.example"]);
        config.servers_from_dhcp = false;
        assert_eq!(servers(&config, &file), ["pool.example", "192.0.2.9"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn addresses_need_no_resolver() {
        assert_eq!(resolve("192.0.2.1").unwrap(), vec!["192.0.2.1:123".parse().unwrap()]);
        assert_eq!(resolve("2001:db8::1").unwrap(), vec!["[2001:db8::1]:123".parse().unwrap()]);
    }
}
