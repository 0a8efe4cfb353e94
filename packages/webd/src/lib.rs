//! webd: the oxwrt web interface daemon (pages, security design and measurements:
//! docs/web-ui.md). Module map: [`server`] binding, limits, the serve loop; [`app`] the
//! checks every request goes through (Host, paths, body size, Origin, CSRF, first boot,
//! sessions) and the login; [`routes`] the logged-in pages and forms; [`pages`] the maud
//! templates, style sheet and script; [`password`] the scrypt hash and its file;
//! [`session`] sessions and login throttling; [`network`], [`clients`], [`system`],
//! [`logs`] the pages' work; [`status`] + [`json`] the status data.
//!
//! # Command line
//!
//! `webd [--listen ADDR]... [--config-dir DIR] [--session-idle SECS] [--session-max SECS]
//! [--confirm-window SECS]` ([`cli::USAGE`]) serves on each ADDR (`0.0.0.0:80`, `[::1]:8080`, ...; port 0
//! picks a free port). The session timeouts default to those of /etc/oxwrt/web.toml
//! ([`oxwrt_config::web`]; an invalid file is logged as an error and the built-in 15 min
//! and 12 h are used). Without `--listen` it serves on port 80 of the LAN address, of
//! 127.0.0.1 and of ::1, not on the wildcard `[::]`/`0.0.0.0`, which would include the
//! WAN ([`server::bind_default`]): the LAN address is `lan.address` of
//! /etc/oxwrt/network.toml (crate `oxwrt-config`; when that file is invalid, the image's
//! /rom/etc/oxwrt, else the built-in 192.168.1.1). webd may start before netd has put that
//! address on the LAN bridge: it is bound with IP_FREEBIND, so the bind succeeds at once
//! and connections arrive as soon as the address is there. A changed LAN address takes
//! `service restart webd`. `webd --help`, `webd --version`.
//! Logs go to standard error, one line per event, for init to capture:
//! `webd: listening on 192.168.1.1:80` for each listener, then errors only. If an address
//! cannot be bound, webd exits with status 1 and `webd: cannot listen on ...: Address in
//! use`; bad arguments exit with status 2.
//!
//! # HTTP
//!
//! The routes and the order of the checks are in [`app`]'s docs. Every response has
//! `Cache-Control: no-store`, `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`,
//! `Referrer-Policy: same-origin` and a Content-Security-Policy without inline script
//! ([`app::CSP`]). A `Host` webd does not serve gets 421 Misdirected Request.
//!
//! DNS rebinding protection: webd answers only requests whose `Host` is an IP literal
//! (`192.168.1.1`, `127.0.0.1:8080`, `[fe80::1]:80`), `localhost`, the router's hostname
//! (uname) or `hostname.lan`, with or without a port ([`server::host_allowed`]). A page of
//! another site whose name an attacker points at the router's address still carries its
//! own name in `Host`, and is refused. Any IP literal is taken, not only the router's:
//! rebinding works through names only, and the address a browser used may be a NAT's or a
//! port forward's (the end-to-end tests reach the guest as `127.0.0.1:PORT` through QEMU;
//! xtask sends `Host: 127.0.0.1:PORT`). A request without `Host` (HTTP/1.0) is
//! served: browsers always send one. netd's DNS forwarder drops public names that resolve
//! to private addresses as well (docs/network-config.md, `dns.rebind_protection`).
//!
//! # `/api/status` schema
//!
//! One object; these names are the API and are only ever added to (test `schema_is_stable`
//! in `json.rs` pins them):
//!
//! ```text
//! {
//!   "hostname": "gw",                           uname(2) nodename
//!   "oxwrt": {                                  /etc/os-release (or /usr/lib/os-release)
//!     "version": "0.1.0",                         VERSION_ID, or "unknown"
//!     "build_id": "20250101-abc123"               OXWRT_BUILD_ID, else BUILD_ID, or "unknown"
//!   },
//!   "kernel": {                                 uname(2)
//!     "release": "6.1.192",
//!     "version": "#1 Tue Jan 1 00:00:00 UTC 2025",
//!     "machine": "mips"
//!   },
//!   "uptime_seconds": 350735.47,                /proc/uptime (number, 2 decimals)
//!   "load": [0.2, 0.18, 0.12],                  /proc/loadavg: 1, 5, 15 minutes
//!   "memory": {                                 /proc/meminfo, KiB
//!     "total_kib": 13224,                         MemTotal
//!     "available_kib": 5876,                      MemAvailable (else MemFree+Buffers+Cached)
//!     "used_kib": 7348                            total - available
//!   },
//!   "interfaces": [                             getifaddrs(3), in the kernel's order
//!     {
//!       "name": "eth0",
//!       "up": true,                               IFF_UP and IFF_RUNNING (link)
//!       "operstate": "up",                        /sys/class/net/NAME/operstate
//!       "mac": "00:1a:2b:c3:d4:ff",               or null (no link-layer address)
//!       "addresses": [
//!         {"family": "ipv4", "address": "192.168.1.1", "prefix": 24},
//!         {"family": "ipv6", "address": "fe80::21a:2bff:fec3:d4ff", "prefix": 64}
//!       ]
//!     }
//!   ]
//! }
//! ```
//!
//! A source that cannot be read gives "unknown", 0 or an empty list, never an error.
//!
//! # Why hyper + tokio (measured)
//!
//! Minimal servers (answer `GET /`, 404 otherwise), built with the settings of the
//! workspace's `device` profile (opt-level "z", LTO, codegen-units 1, panic abort, strip).
//! Sizes in bytes. "mipsel" is the WRT54GL build (the docs/toolchain.md recipe):
//! static musl, MIPS32r1, `-Zbuild-std`, cargo-zigbuild, Debian's rustc 1.96; "xz" is that binary
//! through `xz -9e`, close to what squashfs stores; "host" is x86_64-unknown-linux-gnu
//! (dynamic glibc), rustup's rustc 1.95.
//!
//! | server | mipsel | xz | host |
//! |---|---|---|---|
//! | std only, fixed reply (not HTTP; the floor) | 509,336 | 151,956 | 300,024 |
//! | tiny_http 0.12, 4 worker threads | 686,080 | 209,016 | 452,616 |
//! | hyper 1.12 + hyper-util + tokio 1.54 current_thread (rt, net) | 794,132 | 233,928 | 545,432 |
//! | the same + timer, header timeout, connection cap (what webd uses) | 805,108 | 236,536 | 553,696 |
//!
//! tiny_http is ~119 KB smaller (~28 KB compressed) but starts one OS thread per
//! connection with no cap and sets no read timeout, so a LAN client holding idle
//! connections makes threads and memory grow without bound on a 16 MiB router; it cannot
//! be capped from outside because it owns the accept loop, and its last release is from
//! 2022. hyper is a complete, maintained HTTP/1.1 (keep-alive, pipelining, chunked bodies,
//! HEAD, strict parsing via httparse) and on one tokio thread gives a hard connection cap,
//! a header-read timeout (which also reaps idle keep-alives) and a bounded buffer for
//! ~28 KB of flash. Measured on the release binary: one thread, ~1 MB RSS, 40 idle
//! connections closed after 10 s while a real request waits its turn.
//! may_minihttp was left out: its coroutines have no MIPS port.
//!
//! JSON: with tiny_http and a status-like struct, serde + serde_json 695,152 bytes mipsel
//! (458,392 host), miniserde 695,200 (459,472), a hand-written writer 704,336 (470,000;
//! likely because `{}` on f64 pulls in core's float formatting, which serde_json replaces
//! with a shorter one). So serde + serde_json.
//!
//! The whole webd (`cargo xtask` flags, `device` profile): mipsel 843,672 bytes (xz
//! 258,704), x86_64-unknown-linux-musl 598,224 (xz 253,084), host glibc 621,816. The
//! mipsel binary runs under `qemu-mipsel -cpu 4Kc` (MIPS32r1).

pub mod app;
pub mod cli;
pub mod clients;
pub mod html;
pub mod json;
pub mod logs;
pub mod network;
pub mod pages;
pub mod password;
pub mod routes;
pub mod server;
pub mod session;
pub mod sqm;
pub mod status;
pub mod system;
pub mod vpn;

/// The `webd` applet (`args[0]` is its name; the rest is [`cli`]): serves until it fails;
/// returns the exit status.
pub fn main(args: Vec<String>) -> i32 {
    use std::io::Write;
    let cmd = match cli::parse_args(args.into_iter().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            log(format_args!("{e}\ntry 'webd --help'"));
            return 2;
        }
    };
    // A closed or failing stdout: exit status 1, not a panic.
    let listen = match cmd {
        cli::Command::Help => return i32::from(std::io::stdout().lock().write_all(cli::USAGE.as_bytes()).is_err()),
        cli::Command::Version => return i32::from(writeln!(std::io::stdout().lock(), "webd {}", env!("CARGO_PKG_VERSION")).is_err()),
        cli::Command::Run { listen, config_dir, limits, confirm_window } => {
            let web = oxwrt_config::web::Web::load(&config_dir).unwrap_or_else(|e| {
                LOG.error(format_args!("{e}; using the default session timeouts (docs/web-ui.md)"));
                oxwrt_config::web::Web::default()
            });
            let limits = session::Limits::from(&web, limits);
            let pending = app::rollback_at_start(&config_dir);
            (listen, std::sync::Arc::new(app::App::new(config_dir, limits, confirm_window)), pending)
        }
    };
    let (listen, app, pending) = listen;
    let bound = if listen.is_empty() { server::bind_default() } else { server::bind_all(&listen) };
    let listeners = match bound {
        Ok(l) => l,
        Err(e) => {
            log(format_args!("{e}"));
            return 1;
        }
    };
    match server::serve(listeners, app, pending) {
        Ok(()) => 0,
        Err(e) => {
            log(format_args!("cannot serve: {}", server::describe(&e)));
            1
        }
    }
}

/// webd's logger: `webd: ...` on standard error, through `oxwrt_log` (a write that fails
/// or would block is counted, never a panic, which would abort webd, nor a wait).
pub static LOG: oxwrt_log::Logger = oxwrt_log::Logger::new("webd", &oxwrt_log::STDERR);

/// One line on standard error: `webd: MESSAGE`.
pub fn log(msg: std::fmt::Arguments<'_>) {
    LOG.info(msg);
}

/// What clients can make webd say: at most 10 lines of each kind (`kind`, a fixed string)
/// per minute, then a count of the rest.
pub fn noisy(kind: &'static str, msg: impl FnOnce() -> String) {
    static LIMITS: std::sync::Mutex<oxwrt_log::Limited> = std::sync::Mutex::new(oxwrt_log::Limited::new(&LOG, 10));
    let mut limits = LIMITS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    limits.say(kind, std::time::Instant::now(), msg);
}
