//! oxwrt's netlink core: one implementation of the netlink wire format and socket under
//! every netlink user of the device (netd's rtnetlink and nftables today, sqmd's tc and
//! the WireGuard family of generic netlink later).
//!
//! # Layers
//! | module | what |
//! |---|---|
//! | [`msg`] | `nlmsghdr` encode/decode, the message iterator, [`Request`] (a message being built) |
//! | [`attr`] | `nlattr` attributes: the iterator, value readers, the [`Attrs`] writer (nesting, alignment) |
//! | [`error`] | [`Error`]: a kernel refusal names the request it answered; `NLMSG_ERROR` and extended-ack parsing |
//! | [`reply`] | the replies to one request, without a socket: acks, `NLM_F_MULTI` dumps until `NLMSG_DONE`, batch acks; sequence numbers checked |
//! | [`socket`] | an `AF_NETLINK` socket: bind, send, receive into a bounded buffer, replies accepted only from the kernel (sender port 0), nonblocking notifications |
//! | [`rtnetlink`] | links, addresses, routes, neighbours: fixed headers, parsers, request builders; [`rtnetlink::tc`] the traffic-control framing (qdiscs, classes, filters, actions), [`rtnetlink::cake`] CAKE options and statistics, the ingress qdisc and the matchall + mirred redirect |
//! | [`nfnetlink`] | nfnetlink transaction batches (`NFNL_MSG_BATCH_BEGIN` ... `END`), what nf_tables needs |
//! | [`genl`] | generic netlink: `genlmsghdr`, family resolution by name (`CTRL_CMD_GETFAMILY`) |
//! | [`wireguard`] | the WireGuard family: GET_DEVICE dumps (a peer spanning messages joined), SET_DEVICE split under a size limit |
//! | [`checks`] | the properties the fuzz targets (fuzz/) check; not for the device |
//!
//! Every parser is bounds-checked and panic-free: a short or lying length ends the
//! message or attribute list (the lenient iterators) or is an [`Error::Malformed`] (the
//! reply collectors). Numbers are the kernel's uapi ABI (linux/netlink.h, rtnetlink.h,
//! if_link.h, if_addr.h, neighbour.h, pkt_sched.h, genetlink.h, netfilter/nfnetlink.h).
//!
//! # Why by hand
//! The netlink-packet-* crates parse every attribute of every message into typed enums;
//! `netlink-packet-route` + `netlink-sys` cost +522,480 bytes on mipsel against +12,404
//! for the hand-written rtnetlink netd had before (measured, see netd's lib.rs). This
//! crate depends on `libc` only (netd has it anyway) and has no `unsafe` outside
//! [`socket`].

#![deny(unsafe_code)]

pub mod attr;
pub mod checks;
pub mod error;
pub mod genl;
pub mod msg;
pub mod nfnetlink;
pub mod reply;
pub mod rtnetlink;
#[allow(unsafe_code)] // libc calls, each with its SAFETY note
pub mod socket;
pub mod wireguard;

pub use attr::{attrs, Attr, Attrs};
pub use error::Error;
pub use msg::{messages, Header, Message, Request};
pub use socket::Socket;

/// Netlink protocols (the third argument of socket(2)).
pub const NETLINK_ROUTE: i32 = 0;
pub const NETLINK_NETFILTER: i32 = 12;
pub const NETLINK_GENERIC: i32 = 16;

/// Length of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;

/// Control message types (linux/netlink.h).
pub const NLMSG_NOOP: u16 = 1;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLMSG_OVERRUN: u16 = 4;

/// Message flags (`nlmsg_flags`).
pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_MULTI: u16 = 0x2;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_ECHO: u16 = 0x8;
/// A dump was interrupted by a change: what it returned may be inconsistent.
pub const NLM_F_DUMP_INTR: u16 = 0x10;
pub const NLM_F_ROOT: u16 = 0x100;
pub const NLM_F_MATCH: u16 = 0x200;
pub const NLM_F_DUMP: u16 = NLM_F_ROOT | NLM_F_MATCH;
/// Flags of NEW requests.
pub const NLM_F_REPLACE: u16 = 0x100;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;
pub const NLM_F_APPEND: u16 = 0x800;
/// Flags of NLMSG_ERROR acks: the request was not echoed in full / TLVs follow.
pub const NLM_F_CAPPED: u16 = 0x100;
pub const NLM_F_ACK_TLVS: u16 = 0x200;

/// Attribute type bits.
pub const NLA_F_NESTED: u16 = 0x8000;
pub const NLA_F_NET_BYTEORDER: u16 = 0x4000;
pub const NLA_TYPE_MASK: u16 = 0x3fff;

/// Extended-ack attributes of NLMSG_ERROR (`enum nlmsgerr_attrs`).
pub const NLMSGERR_ATTR_MSG: u16 = 1;
pub const NLMSGERR_ATTR_OFFS: u16 = 2;

/// Rounds up to the 4-byte alignment of netlink messages and attributes (saturating: a
/// length near `usize::MAX` never wraps to a small one).
pub const fn align(n: usize) -> usize {
    n.saturating_add(3) & !3
}
