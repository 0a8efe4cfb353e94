//! The HTTP side: binding, routing and the serve loop (hyper 1, HTTP/1.1, on a
//! single-threaded tokio runtime).
//!
//! Limits, for a 16 MiB router that anyone on the LAN can connect to:
//! at most [`MAX_CONNECTIONS`] connections at once (further ones wait in the kernel's
//! backlog until one closes), request headers must arrive within [`HEADER_TIMEOUT`] (this
//! also closes idle keep-alive connections), at most [`MAX_BUF`] bytes buffered per
//! connection, and a connection is asked to close after [`MAX_CONNECTION_AGE`].

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;

use crate::app::App;
use crate::log;

pub const MAX_CONNECTIONS: usize = 32;
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// hyper's minimum is 8 KiB.
pub const MAX_BUF: usize = 16 * 1024;
pub const MAX_CONNECTION_AGE: Duration = Duration::from_secs(300);
/// How long a connection asked to close may take to finish its response.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// Listening failed: the address and the system's reason.
#[derive(Debug)]
pub struct BindError {
    pub addr: SocketAddr,
    pub error: io::Error,
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot listen on {}: {}", self.addr, describe(&self.error))
    }
}

impl std::error::Error for BindError {}

/// An I/O error's text without std's " (os error N)" suffix: "Address in use".
pub fn describe(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// Bind every address, failing on the first that cannot be bound.
pub fn bind_all(addrs: &[SocketAddr]) -> Result<Vec<TcpListener>, BindError> {
    addrs.iter().map(|&addr| TcpListener::bind(addr).map_err(|error| BindError { addr, error })).collect()
}

/// The port webd serves on by default.
pub const PORT: u16 = 80;

/// The LAN address of the configuration in `dir` (network.toml's `lan.address`); when it
/// is missing or invalid, that of `fallback` (the image's /rom/etc/oxwrt), else the
/// built-in default (192.168.1.1). What was not usable is logged.
pub fn lan_address(dir: &Path, fallback: Option<&Path>) -> Ipv4Addr {
    match oxwrt_config::Config::load(dir) {
        Ok(c) => return c.network.lan.address.addr(),
        Err(e) => log(format_args!("{}: {e}; the LAN address comes from the image's or the built-in configuration", dir.display())),
    }
    if let Some(c) = fallback.and_then(|f| oxwrt_config::Config::load(f).ok()) {
        return c.network.lan.address.addr();
    }
    oxwrt_config::Config::default().network.lan.address.addr()
}

/// The default listeners' addresses: the LAN address and loopback (IPv4 and IPv6), never
/// the wildcard, which would include the WAN.
pub fn default_addrs(lan: Ipv4Addr, port: u16) -> Vec<SocketAddr> {
    let mut v = vec![SocketAddr::from((lan, port))];
    if !lan.is_loopback() {
        v.push(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    }
    v.push(SocketAddr::from((Ipv6Addr::LOCALHOST, port)));
    v
}

/// A listener on `addr` bound with IP_FREEBIND: the bind succeeds before
/// the address exists on any interface (webd may start before netd has put the LAN
/// address on the bridge), and connections arrive once it does.
pub fn bind_freebind(addr: SocketAddr) -> io::Result<TcpListener> {
    use nix::sys::socket::{bind, listen, setsockopt, socket, sockopt, AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage};
    let family = if addr.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
    let fd = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    if addr.is_ipv6() {
        setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
    }
    // Linux honours IP_FREEBIND on IPv6 sockets too (IPV6_FREEBIND is the same bit).
    setsockopt(&fd, sockopt::IpFreebind, &true)?;
    bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrStorage::from(addr))?;
    listen(&fd, Backlog::new(128).unwrap_or(Backlog::MAXCONN))?;
    Ok(TcpListener::from(fd))
}

/// webd's default: the LAN address of /etc/oxwrt/network.toml ([`lan_address`]), 127.0.0.1
/// and ::1, port 80; not the WAN. The LAN address is bound with IP_FREEBIND
/// ([`bind_freebind`]); ::1 is left out when the kernel has no IPv6. A LAN address changed
/// later takes `service restart webd` (the web UI restarts webd when it saves one).
pub fn bind_default() -> Result<Vec<TcpListener>, BindError> {
    let lan = lan_address(Path::new(oxwrt_config::DIR), Some(Path::new("/rom/etc/oxwrt")));
    bind_default_on(lan, PORT)
}

/// [`bind_default`] for the LAN address `lan` and `port` (tests: port 0).
pub fn bind_default_on(lan: Ipv4Addr, port: u16) -> Result<Vec<TcpListener>, BindError> {
    let mut out = Vec::new();
    for addr in default_addrs(lan, port) {
        match bind_freebind(addr) {
            Ok(l) => out.push(l),
            Err(e) if addr.is_ipv6() && no_ipv6(&e) => log(format_args!("no IPv6 ({}), not listening on {addr}", describe(&e))),
            Err(error) => return Err(BindError { addr, error }),
        }
    }
    Ok(out)
}

fn no_ipv6(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(nix::libc::EAFNOSUPPORT | nix::libc::EPROTONOSUPPORT | nix::libc::EADDRNOTAVAIL))
}

/// A path that tries to leave where it points, or hides that it does: a `.` or `..`
/// segment, a backslash, or a percent-encoded `.`, `/`, `\` or NUL (`%2e`, `%2f`, `%5c`,
/// `%00`, any case). webd maps no path to a file; these get 404 before any route, so a
/// later route that does cannot be walked out of.
pub fn escapes(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    path.split('/').any(|s| s == "." || s == "..") || path.contains('\\') || ["%2e", "%2f", "%5c", "%00"].iter().any(|e| lower.contains(e))
}

/// What a request for a name webd does not serve gets (see [`host_allowed`]).
pub const MISDIRECTED: &str = "misdirected request: this router's web UI answers only its own names (its hostname, hostname.lan, localhost) and IP addresses in the Host header; a page on another site that resolves to this router (DNS rebinding) gets nothing\n";

/// Whether webd serves the `Host` value `host` (`name`, `name:port`, `1.2.3.4:port`,
/// `[::1]:port`) on a router named `hostname`: any IP literal, `localhost`, the hostname
/// and `hostname.lan` (without case, with or without a trailing dot). Everything else is
/// a name webd is not, so a page of another site whose name an attacker points at the
/// router (DNS rebinding, RFC 6454's same-origin rule is by name) cannot read the UI.
/// Any IP literal is fine: a browser sends an address only when the user typed one
/// (rebinding needs a name), and the router's addresses change with DHCP and port
/// forwards (QEMU's host-side 127.0.0.1:PORT), so listing them would refuse real users.
pub fn host_allowed(host: &str, hostname: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [v6] or [v6]:port
        let Some((addr, after)) = rest.split_once(']') else { return false };
        return addr.parse::<Ipv6Addr>().is_ok() && (after.is_empty() || after.strip_prefix(':').is_some_and(is_port));
    } else {
        match host.rsplit_once(':') {
            Some((n, port)) if is_port(port) => n,
            Some(_) => return false,
            None => host,
        }
    };
    if name.parse::<Ipv4Addr>().is_ok() {
        return true;
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    let hostname = hostname.trim();
    name.eq_ignore_ascii_case("localhost")
        || (!hostname.is_empty() && (name.eq_ignore_ascii_case(hostname) || is_lan_name(name.as_bytes(), hostname.as_bytes())))
}

/// `name` is `hostname.lan` (bytes: no char boundaries to panic on).
fn is_lan_name(name: &[u8], hostname: &[u8]) -> bool {
    let n = hostname.len();
    name.len() == n + 4 && name[..n].eq_ignore_ascii_case(hostname) && name[n..].eq_ignore_ascii_case(b".lan")
}

fn is_port(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
}

/// The Host of a request: its `Host` header, else the authority of an absolute URI;
/// None when it has neither (HTTP/1.0 clients; browsers always send one).
fn request_host<B>(req: &Request<B>) -> Option<Result<&str, ()>> {
    if let Some(h) = req.headers().get(hyper::header::HOST) {
        return Some(h.to_str().map_err(|_| ()));
    }
    req.uri().authority().map(|a| Ok(a.as_str()))
}

/// The Host check: Some(421 Misdirected Request, RFC 9110 15.5.20) for a Host webd does
/// not serve ([`host_allowed`]); None to go on.
pub fn refuse_host<B>(req: &Request<B>) -> Option<crate::app::Resp> {
    match request_host(req) {
        Some(Ok(h)) if host_allowed(h, &own_hostname()) => None,
        None => None,
        _ => Some(crate::app::plain(StatusCode::MISDIRECTED_REQUEST, MISDIRECTED)),
    }
}

/// The router's hostname (uname(2)), as [`crate::status`] shows it.
pub fn own_hostname() -> String {
    nix::sys::utsname::uname().map(|u| u.nodename().to_string_lossy().into_owned()).unwrap_or_default()
}

/// Serve on these listeners until the process is killed. Logs each listener's address.
/// Returns only if the runtime cannot start.
/// `pending`: a change waits for its confirmation (watched from the start).
pub fn serve(listeners: Vec<TcpListener>, app: Arc<App>, pending: bool) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        if pending {
            crate::app::watch_rollback(app.clone());
        }
        for l in listeners {
            l.set_nonblocking(true)?;
            let l = tokio::net::TcpListener::from_std(l)?;
            match l.local_addr() {
                Ok(a) => log(format_args!("listening on {a}")),
                Err(e) => log(format_args!("listening (address unknown: {})", describe(&e))),
            }
            tokio::spawn(accept_loop(l, slots.clone(), app.clone()));
        }
        std::future::pending::<()>().await;
        Ok(())
    })
}

async fn accept_loop(l: tokio::net::TcpListener, slots: Arc<Semaphore>, app: Arc<App>) {
    loop {
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                crate::noisy("connections open", || format!("{MAX_CONNECTIONS} connections open, new ones wait"));
                match slots.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => return, // closed: never happens
                }
            }
        };
        let (stream, peer) = match l.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors or memory: give the system a moment.
                crate::noisy("accept", || format!("accept: {}", describe(&e)));
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        tokio::spawn(async move {
            connection(stream, peer, app).await;
            drop(permit);
        });
    }
}

async fn connection(stream: tokio::net::TcpStream, peer: SocketAddr, app: Arc<App>) {
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_BUF)
        .serve_connection(TokioIo::new(stream), hyper::service::service_fn(move |req| crate::app::handle(app.clone(), peer, req)));
    let mut conn = std::pin::pin!(conn);
    let result = match tokio::time::timeout(MAX_CONNECTION_AGE, conn.as_mut()).await {
        Ok(r) => r,
        Err(_) => {
            conn.as_mut().graceful_shutdown();
            match tokio::time::timeout(CLOSE_GRACE, conn.as_mut()).await {
                Ok(r) => r,
                Err(_) => return,
            }
        }
    };
    if let Err(e) = result {
        // Clients that go away or idle out are normal; malformed requests are worth a line.
        if !(e.is_incomplete_message() || e.is_timeout() || e.is_canceled() || is_disconnect(&e)) {
            crate::noisy("bad request", || format!("{peer}: {e}"));
        }
    }
}

fn is_disconnect(e: &hyper::Error) -> bool {
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return matches!(io.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionAborted);
        }
        src = s.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn climbing_paths_are_caught() {
        for p in [
            "/../etc/passwd",
            "/api/status/..",
            "/./api/status",
            "/%2e%2e/etc/passwd",
            "/%2E%2e%2fetc%2fpasswd",
            "/..%5c..%5cetc",
            "/a\\..\\b",
            "/api/status%00",
        ] {
            assert!(escapes(p), "{p}");
        }
        for p in ["/", "/api/status", "/..x", "/x..", "/%41"] {
            assert!(!escapes(p), "{p}");
        }
    }

    #[test]
    fn only_own_names_and_ip_literals_are_served() {
        for h in
            ["gw", "GW", "gw.lan", "gw.LAN.", "localhost", "localhost:8080", "gw:80", "192.168.1.1", "127.0.0.1:34567", "[::1]", "[fe80::1]:80", "10.0.0.1"]
        {
            assert!(host_allowed(h, "gw"), "{h}");
        }
        for h in [
            "evil.example",
            "evil.example:80",
            "gw.evil.example",
            "gwx",
            "x.gw.lan",
            "",
            ":80",
            "gw:",
            "gw:http",
            "[::1",
            "[nope]:80",
            "[::1]x",
            "1.2.3.4:99999999",
        ] {
            assert!(!host_allowed(h, "gw"), "{h}");
        }
        assert!(!host_allowed("", ""), "an empty hostname matches nothing");
        let req = |host: &str| Request::builder().uri("/").header("host", host).body(()).unwrap();
        assert_eq!(refuse_host(&req("evil.example")).map(|r| r.status()), Some(StatusCode::MISDIRECTED_REQUEST));
        assert!(refuse_host(&req("localhost:80")).is_none());
        assert!(refuse_host(&req("192.168.1.1")).is_none());
    }

    #[test]
    fn bind_error_message() {
        let e = BindError { addr: "[::]:80".parse().unwrap(), error: io::Error::from_raw_os_error(nix::libc::EADDRINUSE) };
        let msg = e.to_string();
        // glibc says "Address already in use", musl "Address in use".
        assert!(msg.starts_with("cannot listen on [::]:80: Address "), "{msg}");
        assert!(msg.ends_with("in use"), "{msg}");
    }

    #[test]
    fn bind_all_reports_the_address_in_use() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let err = bind_all(&[addr]).unwrap_err();
        assert_eq!(err.addr, addr);
        assert_eq!(err.error.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn the_default_listeners_are_the_lan_address_and_loopback_not_the_wildcard() {
        let lan: Ipv4Addr = "192.168.77.1".parse().unwrap();
        let want: Vec<std::net::IpAddr> = vec![lan.into(), Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()];
        assert_eq!(default_addrs(lan, PORT).iter().map(|a| a.ip()).collect::<Vec<_>>(), want);
        assert!(default_addrs(lan, PORT).iter().all(|a| a.port() == 80));
        // Bound for real (port 0): the LAN address is not on this machine, as it is not on
        // the router before netd adds it; IP_FREEBIND lets the bind succeed all the same.
        let bound = bind_default_on(lan, 0).expect("the default listeners");
        let got: Vec<std::net::IpAddr> = bound.iter().map(|l| l.local_addr().unwrap().ip()).collect();
        assert!(got.iter().all(|ip| !ip.is_unspecified()), "{got:?}");
        assert_eq!(got[..2], want[..2], "{got:?}");
        // ::1 unless this kernel has no IPv6.
        assert!(got.len() == 2 || got[2] == want[2], "{got:?}");
    }

    #[test]
    fn the_lan_address_comes_from_network_toml() {
        let dir = std::env::temp_dir().join(format!("webd-lan-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("network.toml"), "[lan]\naddress = \"10.9.8.1/24\"\n").unwrap();
        assert_eq!(lan_address(&dir, None), Ipv4Addr::new(10, 9, 8, 1));
        // Missing or invalid: the built-in default.
        std::fs::write(dir.join("network.toml"), "[lan]\naddress = \"nonsense\"\n").unwrap();
        assert_eq!(lan_address(&dir, None), Ipv4Addr::new(192, 168, 1, 1));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
