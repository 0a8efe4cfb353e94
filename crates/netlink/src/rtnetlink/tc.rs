//! Traffic control over rtnetlink: the generic framing of qdisc, class, filter and action
//! messages (`struct tcmsg`, `struct tcamsg`, TCA_KIND, TCA_OPTIONS nesting), what sqmd
//! builds on. Qdisc-specific options (CAKE's, HTB's) are the caller's: write them into
//! TCA_OPTIONS with [`crate::Request::nested`] (or [`crate::Request::attr`] for the
//! qdiscs whose options are a plain struct, like pfifo's).

use crate::attr::{attrs, str_of, Attrs};
use crate::msg::Request;
use crate::rtnetlink::AF_UNSPEC;
use crate::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};

pub const RTM_NEWQDISC: u16 = 36;
pub const RTM_DELQDISC: u16 = 37;
pub const RTM_GETQDISC: u16 = 38;
pub const RTM_NEWTCLASS: u16 = 40;
pub const RTM_DELTCLASS: u16 = 41;
pub const RTM_GETTCLASS: u16 = 42;
pub const RTM_NEWTFILTER: u16 = 44;
pub const RTM_DELTFILTER: u16 = 45;
pub const RTM_GETTFILTER: u16 = 46;
pub const RTM_NEWACTION: u16 = 48;
pub const RTM_DELACTION: u16 = 49;
pub const RTM_GETACTION: u16 = 50;

/// Attributes of tc messages (linux/rtnetlink.h).
pub const TCA_KIND: u16 = 1;
pub const TCA_OPTIONS: u16 = 2;
pub const TCA_STATS: u16 = 3;
pub const TCA_XSTATS: u16 = 4;
pub const TCA_STATS2: u16 = 7;
pub const TCA_CHAIN: u16 = 11;

/// Action messages: the list, and each action's kind and options (linux/pkt_cls.h).
pub const TCA_ACT_TAB: u16 = 1;
pub const TCA_ACT_KIND: u16 = 1;
pub const TCA_ACT_OPTIONS: u16 = 2;
pub const TCA_ACT_INDEX: u16 = 3;

/// Special handles (linux/pkt_sched.h).
pub const TC_H_UNSPEC: u32 = 0;
pub const TC_H_ROOT: u32 = 0xffff_ffff;
pub const TC_H_INGRESS: u32 = 0xffff_fff1;
pub const TC_H_CLSACT: u32 = TC_H_INGRESS;

/// A handle `major:minor` (`1:0` is `handle(1, 0)`).
pub const fn handle(major: u16, minor: u16) -> u32 {
    ((major as u32) << 16) | minor as u32
}

/// `struct tcmsg`: family, padding, ifindex, handle, parent, info.
pub fn tcmsg(ifindex: u32, handle: u32, parent: u32, info: u32) -> [u8; 20] {
    let mut m = [0u8; 20];
    m[0] = AF_UNSPEC;
    m[4..8].copy_from_slice(&ifindex.to_ne_bytes());
    m[8..12].copy_from_slice(&handle.to_ne_bytes());
    m[12..16].copy_from_slice(&parent.to_ne_bytes());
    m[16..20].copy_from_slice(&info.to_ne_bytes());
    m
}

fn name(msg_type: u16) -> &'static str {
    match msg_type {
        RTM_NEWQDISC => "RTM_NEWQDISC",
        RTM_DELQDISC => "RTM_DELQDISC",
        RTM_GETQDISC => "RTM_GETQDISC",
        RTM_NEWTCLASS => "RTM_NEWTCLASS",
        RTM_DELTCLASS => "RTM_DELTCLASS",
        RTM_GETTCLASS => "RTM_GETTCLASS",
        RTM_NEWTFILTER => "RTM_NEWTFILTER",
        RTM_DELTFILTER => "RTM_DELTFILTER",
        RTM_GETTFILTER => "RTM_GETTFILTER",
        _ => "tc message",
    }
}

/// A tc message (qdisc, class or filter) with its tcmsg and, when given, TCA_KIND;
/// add TCA_OPTIONS to it.
pub fn message(msg_type: u16, flags: u16, ifindex: u32, handle: u32, parent: u32, info: u32, kind: Option<&str>) -> Request {
    let what = format!("{} ({} on link {ifindex}, handle {handle:x}, parent {parent:x})", name(msg_type), kind.unwrap_or("-"));
    let mut req = Request::new(msg_type, flags, &tcmsg(ifindex, handle, parent, info)).describe(what);
    if let Some(k) = kind {
        req.attr_str(TCA_KIND, k);
    }
    req
}

/// Adds a qdisc of `kind` (fails with EEXIST when one is there).
pub fn new_qdisc(ifindex: u32, handle: u32, parent: u32, kind: &str) -> Request {
    message(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, ifindex, handle, parent, 0, Some(kind))
}

/// Adds a qdisc of `kind` or replaces the one at `parent`.
pub fn replace_qdisc(ifindex: u32, handle: u32, parent: u32, kind: &str) -> Request {
    message(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE, ifindex, handle, parent, 0, Some(kind))
}

pub fn del_qdisc(ifindex: u32, handle: u32, parent: u32) -> Request {
    message(RTM_DELQDISC, 0, ifindex, handle, parent, 0, None)
}

/// Dump of the qdiscs (of every link: the kernel ignores the index of a qdisc dump).
pub fn get_qdiscs() -> Request {
    message(RTM_GETQDISC, 0, 0, 0, 0, 0, None)
}

pub fn new_class(ifindex: u32, handle: u32, parent: u32, kind: &str) -> Request {
    message(RTM_NEWTCLASS, NLM_F_CREATE | NLM_F_EXCL, ifindex, handle, parent, 0, Some(kind))
}

pub fn del_class(ifindex: u32, handle: u32, parent: u32) -> Request {
    message(RTM_DELTCLASS, 0, ifindex, handle, parent, 0, None)
}

pub fn get_classes(ifindex: u32) -> Request {
    message(RTM_GETTCLASS, 0, ifindex, 0, 0, 0, None)
}

/// A filter's tcm_info: priority in the high half, the protocol (ETH_P_*, host order
/// here) big-endian in the low half.
pub fn filter_info(prio: u16, protocol: u16) -> u32 {
    ((prio as u32) << 16) | u16::from_ne_bytes(protocol.to_be_bytes()) as u32
}

pub fn new_filter(ifindex: u32, handle: u32, parent: u32, prio: u16, protocol: u16, kind: &str) -> Request {
    message(RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, ifindex, handle, parent, filter_info(prio, protocol), Some(kind))
}

pub fn del_filter(ifindex: u32, parent: u32, prio: u16, protocol: u16) -> Request {
    message(RTM_DELTFILTER, 0, ifindex, 0, parent, filter_info(prio, protocol), None)
}

pub fn get_filters(ifindex: u32, parent: u32) -> Request {
    message(RTM_GETTFILTER, 0, ifindex, 0, parent, 0, None)
}

/// An action message (`struct tcamsg`: family and padding) whose TCA_ACT_TAB holds one
/// action of `kind` with options written by `options`.
pub fn action(msg_type: u16, flags: u16, kind: &str, options: impl FnOnce(&mut Attrs)) -> Request {
    let mut req = Request::new(msg_type, flags, &[AF_UNSPEC, 0, 0, 0]).describe(format!("tc action message {msg_type} ({kind})"));
    req.nested(TCA_ACT_TAB, |tab| {
        tab.nested(1, |a| {
            a.str(TCA_ACT_KIND, kind);
            a.nested(TCA_ACT_OPTIONS, options);
        });
    });
    req
}

/// A qdisc, class or filter as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tc {
    pub ifindex: u32,
    pub handle: u32,
    pub parent: u32,
    pub info: u32,
    pub kind: Option<String>,
    /// TCA_OPTIONS' value, unparsed (its layout is the kind's).
    pub options: Option<Vec<u8>>,
}

/// Parses the payload of RTM_NEWQDISC, RTM_NEWTCLASS or RTM_NEWTFILTER.
pub fn parse(payload: &[u8]) -> Option<Tc> {
    let f = payload.get(..20)?;
    let u32_at = |i: usize| crate::attr::u32_of(&f[i..i + 4]);
    let mut t = Tc { ifindex: u32_at(4)?, handle: u32_at(8)?, parent: u32_at(12)?, info: u32_at(16)?, kind: None, options: None };
    for a in attrs(&payload[20..]) {
        match a.kind {
            TCA_KIND => t.kind = Some(str_of(a.value)),
            TCA_OPTIONS => t.options = Some(a.value.to_vec()),
            _ => {}
        }
    }
    Some(t)
}
