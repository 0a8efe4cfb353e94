//! netd: the router's network daemon. It applies /etc/oxwrt/network.toml and firewall.toml
//! (crate `oxwrt-config`) to the kernel over rtnetlink, runs the WAN's DHCPv4 client and
//! the LAN's DHCPv4 server, IPv6 (DHCPv6 prefix delegation, router advertisements), and drives the firewall ([`nft`]) and the DNS forwarder
//! ([`dns`]) through [`hooks`]. No `ip` binary, no shell.
//!
//! # Modules
//! | module | what |
//! |---|---|
//! | [`daemon`] | the event loop (poll over netlink, DHCP sockets, DNS, signalfd, inotify), reload |
//! | [`apply`] | configuration -> links, bridge, VLAN devices, addresses, default route; idempotent |
//! | [`rtnl`] | links, IPv4 addresses and routes over rtnetlink: a thin layer over crate `oxwrt-netlink` (crates/netlink), the workspace's one netlink implementation |
//! | [`dhcp_client`] | the WAN's RFC 2131 client state machine (no clock, no socket) |
//! | [`dhcp_server`], [`leases`] | the LAN's server (no socket) and its lease file |
//! | [`udp`] | the DHCP sockets (SO_BINDTODEVICE, SO_BROADCAST) and SIOCSARP |
//! | [`state`] | upstream DNS servers and LAN host names, for the DNS forwarder |
//! | [`hooks`] | the calls into [`nft`] and [`dns`]; their contract is documented there |
//! | [`log`] | `netd: ` log lines, a rate limit for what packets make us log |
//! | [`sysctl`] | the kernel settings for a router (conntrack size, timeouts, redirects, ...), set at start |
//! | [`budget`] | the memory netd may hold for what clients and the network make it keep, from the RAM |
//! | [`dhcpv6_client`] | the WAN's RFC 8415 client (prefix delegation) as a state machine (no clock, no socket) |
//! | [`ra`] | the LAN's router advertisements (RFC 4861, RDNSS RFC 8106): content and schedule |
//! | [`ipv6`] | `wan.ipv6 = "auto"`: the DHCPv6 and router advertisement sockets, LAN and WAN IPv6 addresses and routes |
//!
//! # Files
//! | path | |
//! |---|---|
//! | /etc/oxwrt/network.toml, firewall.toml | the configuration (read; watched) |
//! | /etc/oxwrt/netd/dhcp.leases | the DHCP server's leases (on the overlay: they survive reboots); /etc/oxwrt/netd is netd's own directory (owned by user netd in the image) |
//! | /run/netd/applied.toml | the configuration running now (used when /etc's is invalid at start) |
//! | /run/netd/resolv-upstream | the upstream DNS servers, resolv.conf format |
//! | /run/netd/resolv.conf | `nameserver 127.0.0.1` when the DNS forwarder runs, else the upstreams; /etc/resolv.conf is a link to it (rootfs/skeleton) |
//! | /proc/sys/net/ipv4/ip_forward | set to 1 once the firewall is in place; 0 while it cannot load (the WAN is then held down: [`daemon`]) |
//! | /proc/sys/net/ipv6/conf/all/forwarding, .../WAN/accept_ra | with `wan.ipv6 = "auto"`: forwarding as ip_forward; accept_ra 2 on the WAN ([`ipv6`]) |
//! | /etc/oxwrt/netd/ula-prefix | the LAN's ULA /48 when `lan.ula` is unset: made up once ([`ipv6`]) |
//! | /proc/sys/net/... ([`sysctl::SETTINGS`]), /proc/meminfo | set at start, before any link is touched; the RAM sizes the connection table |
//!
//! # Why hand-written netlink (measured)
//!
//! Three small programs do the same netlink work (dump links, addresses and routes; read
//! name, index, MTU, master, kind, address, gateway; create a bridge; add an address) and
//! were built like netd for qemu-malta-mipsel (static musl, MIPS32r1, `-Zbuild-std`,
//! cargo-zigbuild, the `device` profile: opt-level z, LTO, panic abort, stripped). Bytes;
//! "xz" is `xz -9e` of the binary, close to what squashfs stores.
//!
//! | program | mipsel | xz |
//! |---|---|---|
//! | floor: std, a nix socket, the same printing, no netlink | 470,548 | 137,004 |
//! | hand-written netlink + [`rtnl`] (then in this crate; now crate `oxwrt-netlink`) | 482,952 (+12,404) | 140,256 (+3,252) |
//! | `netlink-packet-route` 0.34 + `netlink-sys` 0.9 | 993,028 (+522,480) | 257,444 (+120,440) |
//!
//! The crates parse every attribute of every message kind into typed enums (and pull in
//! `log`, `bitflags`, `zerocopy`); netd needs a dozen attributes. Half a megabyte is an
//! eighth of a 4 MiB flash, so oxwrt writes the netlink it needs itself: crate
//! `oxwrt-netlink` (crates/netlink, only `libc`), shared by [`rtnl`], [`nft`] and later
//! daemons (sqmd's tc, WireGuard's generic netlink).
//!
//! The whole of netd from `cargo xtask package netd --board qemu-malta-mipsel`: 1,062,532
//! bytes (xz 322,152); with [`nft`] and [`dns`] as empty stubs it was 966,192 (xz 290,052).
//! Serializing /run/netd/applied.toml (TOML output) costs about 33 KB of it; the TOML
//! parser and serde (crate `oxwrt-config`) are shared with init once the daemons are one
//! multi-call binary.
//!
//! # Why no async runtime
//! One thread and poll(2): netd waits on a handful of sockets and one timer at a time; the
//! state machines take the time as an argument, which is also what makes them testable.

pub mod apply;
pub mod budget;
pub mod daemon;
pub mod dhcp_client;
pub mod dhcp_server;
pub mod dhcpv6_client;
pub mod dns;
pub mod hooks;
pub mod ipv6;
pub mod leases;
#[macro_use]
pub mod log;
pub mod nft;
pub mod ra;
pub mod rtnl;
pub mod state;
pub mod sysctl;
pub mod udp;

pub use daemon::{run, Daemon, Paths};

/// The `netd` applet: `netd` runs the daemon on the device's files; `netd --root DIR` reads
/// and writes under DIR instead of / (DIR/etc/oxwrt, DIR/run/netd, ...: for tests and for
/// trying netd on a development machine, in a network namespace); `netd --version`. Logs go
/// to standard error (`netd: ...`), which init keeps in the log ring. Returns the exit status.
pub fn main(args: Vec<String>) -> i32 {
    use std::io::Write;
    let args: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    match args.as_slice() {
        [] => run(Paths::device()),
        ["--root", dir] => run(Paths::under(std::path::Path::new(dir))),
        ["--version"] => i32::from(writeln!(std::io::stdout().lock(), "netd {}", env!("CARGO_PKG_VERSION")).is_err()),
        _ => {
            say!("usage: netd [--root DIR | --version] (configuration: /etc/oxwrt/network.toml)");
            2
        }
    }
}
