//! oxwrt-netproto: the DHCPv4, DHCPv6, neighbour discovery and DNS wire formats netd
//! speaks. [`dhcp`]: parse and build BOOTP/DHCP messages and their options. [`dhcpv6`]:
//! RFC 8415 client/server messages. [`ndp`]: router solicitations and advertisements
//! (RFC 4861, RFC 8106). [`dns`]: parse and build DNS messages, the
//! forwarder's local answers, byte-level cache helpers, TCP framing.
//!
//! Every parser takes untrusted bytes and returns `Err` with the reason and the byte
//! offset for anything malformed: no panic, no allocation beyond a small multiple of the
//! input's size. Fuzz targets live in `fuzz/` (see its README); `tests/` replays real
//! packet sequences, every truncation of them, and seeded mutations of the fuzz corpus.
//!
//! # Why no DHCP or DNS crate (measured)
//!
//! One small program per candidate: read a packet from stdin, parse it, build the reply
//! a server would (a DHCPOFFER with server id, lease time, mask, router and DNS; an A
//! answer for each question, compressed), write it out. Built with the workspace's
//! `device` profile (opt-level "z", LTO, codegen-units 1, panic abort, strip). Bytes;
//! "mipsel" is the WRT54GL build of `xtask/src/cross.rs` (static musl, MIPS32r1,
//! `-Zbuild-std`, cargo-zigbuild, Debian's rustc 1.96; each binary run under
//! `qemu-mipsel -cpu 4Kc` on the seed packets of `fuzz/corpus`), "xz" that binary through
//! `xz -9e` (about what squashfs stores), "host" x86_64-unknown-linux-gnu with rustup's
//! 1.95. In brackets: over the floor.
//!
//! | program | mipsel | xz | host |
//! |---|---|---|---|
//! | floor: std, stdin to stdout | 467,220 | 135,824 | 296,808 |
//! | DHCP, dhcproto 0.15 | 764,568 (+297,348) | 210,080 (+74,256) | 560,360 |
//! | DHCP, this crate | 483,480 (+16,260) | 140,868 (+5,044) | 313,120 |
//! | DNS, simple-dns 0.13 | 551,420 (+84,200) | 157,496 (+21,672) | 371,400 |
//! | DNS, hickory-proto 0.26 (`default-features = false, features = ["std"]`) | 783,272 (+316,052) | 217,124 (+81,300) | 592,040 |
//! | DNS, this crate | 493,160 (+25,940) | 145,028 (+9,204) | 323,592 |
//!
//! - dhcproto names domain names with hickory-proto's types, so it brings hickory-proto
//!   (with `url` and `idna`'s Unicode tables), `rand`, `ipnet` and `thiserror`: ~300 KB
//!   (74 KB compressed) for DHCP alone, on a 4 MiB flash.
//! - hickory-proto: the same ~300 KB for DNS.
//! - simple-dns is small (+84 KB) and maintained, but a forwarder cannot use it: a query
//!   whose QTYPE it does not know fails to parse (`InvalidQType`), as does a record of a
//!   class it does not know; its errors carry no position (`InvalidDnsPacket`); and it has
//!   no way to rewrite an ID or age TTLs on the bytes being relayed.
//!
//! So no dependencies at all. The DHCP codec costs 16 KB (5 KB compressed), the DNS one
//! 26 KB (9 KB; ~8 KB of it is std's `HashMap`, which the name compressor uses and netd
//! pays for anyway). They give what netd needs: errors that say what and where, record
//! data of types netd does not use passed through untouched, in-place ID rewrite and TTL
//! aging on the bytes a forwarder relays ([`dns::cache`]), and parsers whose allocation is
//! bounded by their input. This crate's side of the comparison is kept as
//! `examples/size_dhcp.rs` and `examples/size_dns.rs`.

#![forbid(unsafe_code)]

#[doc(hidden)]
pub mod checks;
pub mod dhcp;
pub mod dhcpv6;
pub mod dns;
pub mod ndp;
mod wire;

pub use wire::Truncated;
