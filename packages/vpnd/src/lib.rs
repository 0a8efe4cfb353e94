//! vpnd: oxwrt's WireGuard daemon, and `vpn`, its console command. It applies
//! /etc/oxwrt/vpn.toml (crate `oxwrt-config`, module `vpn`) to the kernel's WireGuard over
//! netlink (crate `oxwrt-netlink`: rtnetlink for the device, addresses and routes; the
//! generic netlink family "wireguard" for keys and peers), hands out client
//! configurations with QR codes, and reports each peer's state. No `wg` or `ip` binary,
//! no shell. The firewall for the VPN (the listen port on the WAN, what peers may reach)
//! is netd's, from the same vpn.toml (packages/netd/src/nft/vpn.rs).
//!
//! # Modules
//! | module | what |
//! |---|---|
//! | [`daemon`] | the poll loop: SIGHUP, vpn.toml replaced, the status socket, a periodic re-apply |
//! | [`wg`] | vpn.toml -> kernel: the difference only ([`wg::plan`], pure), link, addresses, routes |
//! | [`keys`] | private keys from getrandom(2), X25519 public keys, key files of mode 0600 |
//! | [`status`] | per-peer status as JSON and text |
//! | [`qr`] | QR codes of client configurations: text for the console, SVG for the web UI |
//! | [`cli`] | `vpn status / init / add-peer / remove-peer / enable / disable / import / public-key` |
//! | [`control`] | /run/vpnd/control.sock: the web interface's add / enable / disable / remove, group `config` only |
//! | [`log`] | `vpnd: ` and `vpn: ` log lines |
//!
//! # Files
//! | path | |
//! |---|---|
//! | /etc/oxwrt/vpn.toml | the configuration (read; watched for replacement) |
//! | /etc/oxwrt/vpnd/NAME.key, PEER.psk | private and preshared keys, mode 0600, owned by user vpnd |
//! | /run/vpnd/status.sock | the status as JSON, one answer per connection |
//! | /run/vpnd/control.sock | peer changes for the web interface ([`control`]), mode 0660, group `config` |
//!
//! # Dependencies and their flash cost
//! `x25519-dalek` (default features off: no precomputed tables, no zeroize) for public
//! keys, `qrcode` (default features off: no image crate) for QR codes. Measured on the
//! WRT54GL build (docs/benchmarks.md, "vpnd").

pub mod cli;
pub mod control;
pub mod daemon;
pub mod keys;
#[macro_use]
pub mod log;
pub mod qr;
pub mod status;
pub mod wg;

/// The `vpnd` applet: `vpnd` runs the daemon on the device's files; `vpnd --root DIR`
/// reads DIR/etc/oxwrt and uses DIR/run/vpnd (tests); `vpnd --version`.
pub fn main(args: Vec<String>) -> i32 {
    use std::io::Write;
    let args: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    match args.as_slice() {
        [] => daemon::run(daemon::Paths::device()),
        ["--root", dir] => {
            let root = std::path::Path::new(dir);
            daemon::run(daemon::Paths { config_dir: root.join("etc/oxwrt"), run_dir: root.join("run/vpnd"), synced: root.join("run/timed/synced") })
        }
        ["--version"] => i32::from(writeln!(std::io::stdout().lock(), "vpnd {}", env!("CARGO_PKG_VERSION")).is_err()),
        _ => {
            log::LOG.error(format_args!("usage: vpnd [--root DIR | --version] (configuration: /etc/oxwrt/vpn.toml)"));
            2
        }
    }
}
