//! The firewall and NAT: oxwrt's fixed policy plus firewall.toml's port forwards, put into
//! the kernel's nf_tables over netlink (no `nft` binary on the device).
//!
//! [`apply_to`] (and netd's [`apply`]) replaces the table `inet oxwrt` in one netlink
//! transaction (create it if missing, delete it, create it with its chains, maps and
//! rules): the kernel commits all of it or none, so the router is never without a
//! firewall, not even for a packet. Other tables (other daemons', or an administrator's)
//! are not touched. [`remove`] deletes the table. The ruleset, as `nft list table inet
//! oxwrt` shows it (each rule also has a comment saying what it is for):
//!
//! ```text
//! chain input       filter hook input, priority 0, policy drop
//!   ct state established,related accept         replies, related ICMP errors
//!   ct state invalid counter drop
//!   iifname "lo" accept
//!   iifname LAN accept                          web UI, DNS, DHCP server
//!   iifname WAN udp sport 67 udp dport 68 accept   the WAN's DHCP client
//!   iifname WAN icmp type echo-request accept   only with wan_ping = true
//!   counter drop
//! chain forward     filter hook forward, priority 0, policy drop
//!   ct state established,related accept
//!   ct state invalid counter drop
//!   iifname LAN oifname WAN accept
//!   iifname WAN oifname LAN ct status dnat accept   port forwards
//!   counter drop
//! chain prerouting  nat hook prerouting, priority -100 (dstnat)
//!   iifname WAN meta nfproto ipv4 tcp dport 8080 dnat ip to 192.168.1.10:80   one per
//!                                               forward and protocol
//! chain postrouting nat hook postrouting, priority 100 (srcnat)
//!   oifname WAN meta nfproto ipv4 masquerade
//! ```
//! A forward of a range to another range of the same length (`wan_port = "5000-5009"`,
//! `to_port = "6000-6009"`) looks the port up in a map `fwdN` (nf_tables NAT has no
//! "port plus offset"); the same range on both sides keeps the port as it is. Interfaces
//! are matched by name, so a bridge or a WAN device that is recreated needs no new rules.
//! The last rule of input and forward counts what they drop (`nft list table inet oxwrt`).
//! Known gap: a LAN client cannot reach a forward through the WAN address (no NAT
//! loopback).
//!
//! Kernel options: CONFIG_NF_TABLES, NF_TABLES_INET, NFT_CT, NFT_NAT, NFT_MASQ (and
//! NF_CONNTRACK, NF_NAT); the device kernels have them (kernel-patches/6.1/generic.config).
//! Inet-family NAT needs Linux 5.2 or later.
//!
//! # Why netlink by hand (measured)
//!
//! A program that parses the configuration and applies this ruleset, against the same
//! program without a firewall; the workspace's `device` profile (opt-level "z", LTO,
//! codegen-units 1, panic abort, strip). "mipsel": static musl, MIPS32r1 (the WRT54GL
//! recipe of docs/toolchain.md); "host": x86_64 glibc; "xz": `xz -9e`, close
//! to what squashfs stores. Bytes added to the floor:
//!
//! | firewall | mipsel | mipsel xz | host | host xz |
//! |---|---|---|---|---|
//! | none (floor: 767,940 mipsel, 579,008 host) | 0 | 0 | 0 | 0 |
//! | this module: nfnetlink by hand over libc | 26,016 | 8,292 | 25,512 | 9,928 |
//! | rustables 0.9, the same chains and rules (no maps, comments or error context) | 62,536 | 14,712 | 71,528 | 17,400 |
//!
//! Besides its size, rustables is GPL-3.0-or-later, which cannot be combined with
//! oxwrt's GPL-2.0-only, and runs bindgen (libclang) at build time. libnftnl is C (to
//! cross-compile for MIPS), the `nft` binary is what the design rules out, and
//! netlink-packet-netfilter 0.4 (MIT) has nf_tables messages but not the ct, nat, masq
//! and counter expressions, and brings derive_more, zerocopy and bitflags. What oxwrt
//! needs of the nf_tables ABI is small and fixed: the nfnetlink batch of the workspace's
//! netlink crate (`netlink::nfnetlink`, crates/netlink: messages, attributes, batch,
//! socket, acks; the measurement above had the same code in netd) and 400 lines of
//! ruleset ([`rules`]), tested against the kernel (tests.rs) and `nft`'s reading of what
//! they made.
//!
//! Module layout: [`rules`] (the ruleset as data, and its encoding into a
//! `netlink::nfnetlink::Batch`); [`batch`] and the transaction here.

pub mod rules;

#[cfg(test)]
pub(crate) mod tests;

use netlink::nfnetlink::{nft, Batch, NFNL_SUBSYS_NFTABLES, NFPROTO_INET};
use std::fmt;
use std::io;
use std::net::Ipv4Addr;
use std::time::Duration;

pub use rules::TABLE;

/// What [`apply`] put in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// Rules in all chains.
    pub rules: usize,
    /// Port forwards of firewall.toml.
    pub forwards: usize,
    /// Netlink messages in the transaction.
    pub messages: usize,
}

impl fmt::Display for Applied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "firewall table inet {TABLE}: {} rules, {} port forwards", self.rules, self.forwards)
    }
}

/// Why the firewall could not be applied. In every case the kernel's previous ruleset
/// (oxwrt's table as it was, or none) is still in force.
#[derive(Debug)]
pub enum NftError {
    /// An interface name nf_tables cannot match (empty, or over 15 bytes).
    BadInterface { role: &'static str, name: String },
    /// The netlink socket failed (`op`: open, send, receive).
    Socket { op: &'static str, error: io::Error },
    /// The kernel refused one message of the transaction, so it applied none of it.
    Refused { what: String, error: io::Error, detail: Option<String> },
}

impl fmt::Display for NftError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NftError::BadInterface { role, name } => {
                write!(f, "the {role} interface name {name:?} cannot be matched (1 to 15 bytes); nothing was changed")
            }
            NftError::Socket { op, error } => {
                write!(f, "netlink {op} failed: {error}; nothing was changed")?;
                if error.raw_os_error() == Some(libc::EPERM) || error.raw_os_error() == Some(libc::EACCES) {
                    write!(f, " (netd needs CAP_NET_ADMIN)")?;
                }
                if error.raw_os_error() == Some(libc::EPROTONOSUPPORT) {
                    write!(f, " (the kernel has no nfnetlink: CONFIG_NETFILTER_NETLINK, CONFIG_NF_TABLES)")?;
                }
                Ok(())
            }
            NftError::Refused { what, error, detail } => {
                write!(f, "the kernel refused {what}: {error}")?;
                if let Some(d) = detail {
                    write!(f, " ({d})")?;
                }
                write!(f, "; nothing was changed, the previous rules stay")?;
                match error.raw_os_error() {
                    Some(libc::ENOENT) | Some(libc::EOPNOTSUPP) => {
                        write!(f, "; does the kernel have CONFIG_NF_TABLES_INET, CONFIG_NFT_CT, CONFIG_NFT_NAT and CONFIG_NFT_MASQ?")
                    }
                    Some(libc::EPERM) => write!(f, "; netd needs CAP_NET_ADMIN, and no other program may own a table inet {TABLE} (`nft list tables`)"),
                    _ => Ok(()),
                }
            }
        }
    }
}

impl std::error::Error for NftError {}

/// An empty nf_tables batch.
pub fn batch() -> Batch {
    Batch::new(NFNL_SUBSYS_NFTABLES)
}

fn transact(batch: Batch) -> Result<(), NftError> {
    let socket = |e: netlink::Error| NftError::Socket { op: "socket", error: e.into() };
    let mut sock = netlink::Socket::open(netlink::NETLINK_NETFILTER, 0).map_err(socket)?;
    // Room for an error that echoes a whole message, should NETLINK_CAP_ACK be missing.
    sock.set_buffer_size(64 * 1024);
    // Acks without the request echoed, error text from the kernel (both optional); never
    // hang netd: the kernel answers a batch at once or not at all.
    sock.set_ext_ack();
    sock.set_recv_timeout(Some(Duration::from_secs(5))).map_err(socket)?;
    match sock.transact(batch) {
        Ok(()) => Ok(()),
        Err(netlink::Error::Kernel { what, errno, detail, .. }) => Err(NftError::Refused { what, error: io::Error::from_raw_os_error(errno), detail }),
        Err(e) => Err(NftError::Socket { op: "transaction", error: e.into() }),
    }
}

/// netd's entry point (hooks.rs): [`apply_to`] with the LAN bridge of `config`
/// (`lan.bridge`) and the WAN device `wan_if`. `wan_addr` is not needed (masquerade takes
/// the address the packet leaves with, and the kernel forgets masqueraded connections
/// when the WAN address goes); calling again on a lease change is harmless.
pub fn apply(config: &oxwrt_config::Config, wan_if: &str, _wan_addr: Option<Ipv4Addr>) -> Result<Applied, NftError> {
    apply_to(config, &config.network.lan.bridge, wan_if)
}

/// Replaces oxwrt's table with the ruleset for `cfg.firewall`, the LAN on `lan_if` and
/// the WAN on `wan_if`. Idempotent: applying the same configuration again gives the same
/// ruleset (and resets its drop counters). Needs CAP_NET_ADMIN; blocks for one netlink
/// round trip (a few hundred microseconds; milliseconds for a forward of thousands of
/// ports).
pub fn apply_to(cfg: &oxwrt_config::Config, lan_if: &str, wan_if: &str) -> Result<Applied, NftError> {
    let mut rs = rules::build(&cfg.firewall, lan_if, wan_if).map_err(|b| NftError::BadInterface { role: b.role, name: b.name })?;
    rules::vpn::add(&mut rs, &rules::vpn::load(), lan_if, wan_if).map_err(|b| NftError::BadInterface { role: b.role, name: b.name })?;
    let mut batch = batch();
    rs.encode(&mut batch);
    let messages = batch.len();
    transact(batch)?;
    Ok(Applied { rules: rs.rules.len(), forwards: cfg.firewall.forwards.len(), messages })
}

/// Deletes oxwrt's table (no-op when there is none): no firewall, no NAT.
pub fn remove() -> Result<(), NftError> {
    let mut b = batch();
    b.message(nft::NEWTABLE, netlink::NLM_F_CREATE, NFPROTO_INET, format!("create inet {TABLE} if missing"), |a| a.str(1, TABLE));
    b.message(nft::DELTABLE, 0, NFPROTO_INET, format!("delete inet {TABLE}"), |a| a.str(1, TABLE));
    transact(b)
}
