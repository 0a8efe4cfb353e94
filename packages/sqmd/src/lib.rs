//! sqmd: oxwrt's bufferbloat shaper. It shapes the WAN with CAKE in both directions as
//! /etc/oxwrt/sqm.toml says (schema: `oxwrt_config::sqm`; user guide: docs/sqm.md),
//! over rtnetlink (crate `oxwrt-netlink`, its `rtnetlink::cake`): no `tc` binary, no
//! shell. Upload: CAKE at the root of the WAN device. Download: the WAN's ingress
//! redirected (ingress qdisc, matchall filter, mirred action) to an IFB device with CAKE
//! in `ingress` mode, the arrangement sqm-scripts calls piece_of_cake.
//!
//! # Modules
//! | module | what |
//! |---|---|
//! | [`daemon`] | the poll loop (link notifications, signalfd, inotify, status socket, probes, 1 s counter tick, 200 ms autorate decisions), reload |
//! | [`shaper`] | configuration -> [`shaper::Plan`] -> the kernel: read back, compare, change only what differs; remove only what sqmd added |
//! | [`autorate`] | rate adaptation (`[autorate]`): cake-autorate's rules as a pure state machine, the bounded reflector set |
//! | [`probe`] | the ICMP echo probes (one raw socket) |
//! | [`status`] | the status (rates, CAKE read back, per-tin statistics): JSON on the socket, text for `sqm status` |
//! | [`cli`] | the `sqm` applet |
//! | [`log`] | `sqmd: ` log lines |
//!
//! # Files
//! | path | |
//! |---|---|
//! | /etc/oxwrt/sqm.toml | the configuration (read; a replacement by rename is applied at once; SIGHUP and `service restart sqmd` too) |
//! | /etc/oxwrt/network.toml | `wan.device`: the device shaped when sqm.toml names none |
//! | /run/sqmd/status.sock | the status, JSON or text as asked, to whoever connects (mode 0666: read-only information) |
//! | /sys/class/net/DEV/statistics | the byte counters behind the achieved rates |
//!
//! # Privileges
//! User sqmd (uid 103) with NET_ADMIN (qdiscs, filters, the IFB device) and NET_RAW (the
//! ICMP probes of rate adaptation); nothing else (packages/sqmd/package.toml).
//!
//! # Size
//! No dependency of its own beyond what the image has already (std, serde, toml,
//! serde_json via webd, nix, the netlink core); its share of the WRT54GL's flash is in
//! docs/benchmarks.md.

pub mod autorate;
pub mod cli;
pub mod daemon;
#[macro_use]
pub mod log;
pub mod probe;
pub mod shaper;
pub mod status;

pub use daemon::{run, Daemon, Paths};

/// The applets: `sqm ...` (the name it was started as ends in `sqm`) is [`cli::main`];
/// `sqmd` runs the daemon on the device's files, `sqmd --root DIR` under DIR
/// (DIR/etc/oxwrt, DIR/run/sqmd: tests, trying it in a network namespace), `sqmd
/// --version`. Returns the exit status.
pub fn main(args: Vec<String>) -> i32 {
    use std::io::Write;
    let name = args.first().map(|a| a.rsplit('/').next().unwrap_or(a).to_string()).unwrap_or_default();
    if name == "sqm" {
        return cli::main(&args);
    }
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    match rest.as_slice() {
        [] => run(Paths::device()),
        ["--root", dir] => run(Paths::under(std::path::Path::new(dir))),
        ["--version"] => i32::from(writeln!(std::io::stdout().lock(), "sqmd {}", env!("CARGO_PKG_VERSION")).is_err()),
        _ => {
            say!("usage: sqmd [--root DIR | --version] (configuration: /etc/oxwrt/sqm.toml)");
            2
        }
    }
}
