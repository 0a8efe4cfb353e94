//! CAKE (linux/pkt_sched.h, `TCA_CAKE_*`): the options sqmd sets ([`Options`], written
//! into TCA_OPTIONS, read back from a qdisc dump) and the statistics the qdisc reports in
//! TCA_STATS2/TCA_STATS_APP ([`Stats`], one [`Tin`] per priority tin). And the two other
//! pieces of ingress shaping: the `ingress` qdisc and a `matchall` filter whose `mirred`
//! action redirects everything a device receives to the egress of another (an IFB),
//! where CAKE shapes it ([`redirect_filter`]).
//!
//! Units are the kernel's: the rate in BYTES per second (`TCA_CAKE_BASE_RATE64`, not
//! bits), the RTT and target in microseconds, the overhead in bytes (signed).

use super::tc::{self, Tc, RTM_NEWQDISC, TCA_OPTIONS, TCA_STATS2, TC_H_INGRESS};
use crate::attr::{attrs, u32_of, Attrs};
use crate::msg::Request;
use crate::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};

pub const TCA_CAKE_PAD: u16 = 1;
pub const TCA_CAKE_BASE_RATE64: u16 = 2;
pub const TCA_CAKE_DIFFSERV_MODE: u16 = 3;
pub const TCA_CAKE_ATM: u16 = 4;
pub const TCA_CAKE_FLOW_MODE: u16 = 5;
pub const TCA_CAKE_OVERHEAD: u16 = 6;
pub const TCA_CAKE_RTT: u16 = 7;
pub const TCA_CAKE_TARGET: u16 = 8;
pub const TCA_CAKE_AUTORATE: u16 = 9;
pub const TCA_CAKE_MEMORY: u16 = 10;
pub const TCA_CAKE_NAT: u16 = 11;
pub const TCA_CAKE_RAW: u16 = 12;
pub const TCA_CAKE_WASH: u16 = 13;
pub const TCA_CAKE_MPU: u16 = 14;
pub const TCA_CAKE_INGRESS: u16 = 15;
pub const TCA_CAKE_ACK_FILTER: u16 = 16;

/// Flow isolation modes (`CAKE_FLOW_*`).
pub const CAKE_FLOW_DUAL_SRC: u32 = 5;
pub const CAKE_FLOW_DUAL_DST: u32 = 6;
pub const CAKE_FLOW_TRIPLE: u32 = 7;
/// Tin modes (`CAKE_DIFFSERV_*`).
pub const CAKE_DIFFSERV_DIFFSERV3: u32 = 0;
pub const CAKE_DIFFSERV_DIFFSERV4: u32 = 1;
pub const CAKE_DIFFSERV_DIFFSERV8: u32 = 2;
pub const CAKE_DIFFSERV_BESTEFFORT: u32 = 3;
/// Link-layer compensation (`CAKE_ATM_*`).
pub const CAKE_ATM_NONE: u32 = 0;
pub const CAKE_ATM_ATM: u32 = 1;
pub const CAKE_ATM_PTM: u32 = 2;
/// ACK filter modes (`CAKE_ACK_*`).
pub const CAKE_ACK_NONE: u32 = 0;
pub const CAKE_ACK_FILTER: u32 = 1;

/// Statistics (`TCA_CAKE_STATS_*`, `TCA_CAKE_TIN_STATS_*`).
pub const TCA_STATS_APP: u16 = 4;
pub const TCA_CAKE_STATS_CAPACITY_ESTIMATE64: u16 = 2;
pub const TCA_CAKE_STATS_MEMORY_LIMIT: u16 = 3;
pub const TCA_CAKE_STATS_MEMORY_USED: u16 = 4;
pub const TCA_CAKE_STATS_TIN_STATS: u16 = 10;
pub const TCA_CAKE_TIN_STATS_SENT_PACKETS: u16 = 2;
pub const TCA_CAKE_TIN_STATS_SENT_BYTES64: u16 = 3;
pub const TCA_CAKE_TIN_STATS_DROPPED_PACKETS: u16 = 4;
pub const TCA_CAKE_TIN_STATS_ACKS_DROPPED_PACKETS: u16 = 6;
pub const TCA_CAKE_TIN_STATS_ECN_MARKED_PACKETS: u16 = 8;
pub const TCA_CAKE_TIN_STATS_BACKLOG_BYTES: u16 = 11;
pub const TCA_CAKE_TIN_STATS_THRESHOLD_RATE64: u16 = 12;
pub const TCA_CAKE_TIN_STATS_TARGET_US: u16 = 13;
pub const TCA_CAKE_TIN_STATS_PEAK_DELAY_US: u16 = 18;
pub const TCA_CAKE_TIN_STATS_AVG_DELAY_US: u16 = 19;
pub const TCA_CAKE_TIN_STATS_BASE_DELAY_US: u16 = 20;

/// Matchall filter and mirred action (linux/pkt_cls.h, linux/tc_act/tc_mirred.h).
pub const TCA_MATCHALL_ACT: u16 = 2;
pub const TCA_MIRRED_PARMS: u16 = 2;
/// `TCA_EGRESS_REDIR`: move the packet to the egress of the target device.
pub const TCA_EGRESS_REDIR: i32 = 1;
/// `TC_ACT_STOLEN`: the action consumed the packet.
pub const TC_ACT_STOLEN: i32 = 4;
/// `ETH_P_ALL`: a filter for every protocol.
pub const ETH_P_ALL: u16 = 0x0003;
/// The ingress qdisc's handle, `ffff:`.
pub const INGRESS_HANDLE: u32 = 0xffff_0000;

/// What sqmd sets on a CAKE qdisc; also what a dump reports (attributes the kernel did not
/// report are None there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// Bytes per second (kbit/s * 125).
    pub rate_bytes: Option<u64>,
    pub diffserv: Option<u32>,
    pub atm: Option<u32>,
    pub flow_mode: Option<u32>,
    /// Bytes per packet, signed.
    pub overhead: Option<i32>,
    pub mpu: Option<u32>,
    /// Microseconds.
    pub rtt_us: Option<u32>,
    pub target_us: Option<u32>,
    pub nat: Option<bool>,
    pub wash: Option<bool>,
    pub ingress: Option<bool>,
    pub ack_filter: Option<u32>,
}

impl Options {
    /// Writes every option that is Some into a TCA_OPTIONS nest.
    pub fn write(&self, a: &mut Attrs) {
        if let Some(r) = self.rate_bytes {
            a.bytes(TCA_CAKE_BASE_RATE64, &r.to_ne_bytes());
        }
        let u32s = [
            (TCA_CAKE_DIFFSERV_MODE, self.diffserv),
            (TCA_CAKE_ATM, self.atm),
            (TCA_CAKE_FLOW_MODE, self.flow_mode),
            (TCA_CAKE_OVERHEAD, self.overhead.map(|o| o as u32)),
            (TCA_CAKE_MPU, self.mpu),
            (TCA_CAKE_RTT, self.rtt_us),
            (TCA_CAKE_TARGET, self.target_us),
            (TCA_CAKE_NAT, self.nat.map(u32::from)),
            (TCA_CAKE_WASH, self.wash.map(u32::from)),
            (TCA_CAKE_INGRESS, self.ingress.map(u32::from)),
            (TCA_CAKE_ACK_FILTER, self.ack_filter),
        ];
        for (kind, v) in u32s {
            if let Some(v) = v {
                a.u32(kind, v);
            }
        }
    }

    /// The options of a TCA_OPTIONS value of a CAKE qdisc (from a dump).
    pub fn parse(options: &[u8]) -> Options {
        let mut o = Options::default();
        for at in attrs(options) {
            let v = u32_of(at.value);
            match at.kind {
                TCA_CAKE_BASE_RATE64 => o.rate_bytes = at.value.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_ne_bytes),
                TCA_CAKE_DIFFSERV_MODE => o.diffserv = v,
                TCA_CAKE_ATM => o.atm = v,
                TCA_CAKE_FLOW_MODE => o.flow_mode = v,
                TCA_CAKE_OVERHEAD => o.overhead = v.map(|v| v as i32),
                TCA_CAKE_MPU => o.mpu = v,
                TCA_CAKE_RTT => o.rtt_us = v,
                TCA_CAKE_TARGET => o.target_us = v,
                TCA_CAKE_NAT => o.nat = v.map(|v| v != 0),
                TCA_CAKE_WASH => o.wash = v.map(|v| v != 0),
                TCA_CAKE_INGRESS => o.ingress = v.map(|v| v != 0),
                TCA_CAKE_ACK_FILTER => o.ack_filter = v,
                _ => {}
            }
        }
        o
    }

    /// Whether `reported` (from a dump) has every option this sets, with the same value.
    pub fn matches(&self, reported: &Options) -> bool {
        fn same<T: PartialEq>(want: Option<T>, have: Option<T>) -> bool {
            want.is_none() || want == have
        }
        same(self.rate_bytes, reported.rate_bytes)
            && same(self.diffserv, reported.diffserv)
            && same(self.atm, reported.atm)
            && same(self.flow_mode, reported.flow_mode)
            && same(self.overhead, reported.overhead)
            && same(self.mpu, reported.mpu)
            && same(self.rtt_us, reported.rtt_us)
            && same(self.target_us, reported.target_us)
            && same(self.nat, reported.nat)
            && same(self.wash, reported.wash)
            && same(self.ingress, reported.ingress)
            && same(self.ack_filter, reported.ack_filter)
    }
}

/// Adds a CAKE qdisc at `parent` of link `ifindex` with handle `handle`, or replaces the
/// qdisc there.
pub fn replace(ifindex: u32, handle: u32, parent: u32, o: &Options) -> Request {
    let mut req = tc::message(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE, ifindex, handle, parent, 0, Some("cake"));
    req.nested(TCA_OPTIONS, |a| o.write(a));
    req
}

/// Changes the options of the CAKE qdisc `handle` in place (no flags: `tc qdisc change`):
/// its queues and statistics stay. What a rate change sends.
pub fn change(ifindex: u32, handle: u32, parent: u32, o: &Options) -> Request {
    let mut req = tc::message(RTM_NEWQDISC, 0, ifindex, handle, parent, 0, Some("cake"));
    req.nested(TCA_OPTIONS, |a| o.write(a));
    req
}

/// Adds the ingress qdisc (`ffff:`) to link `ifindex` (EEXIST when it is there).
pub fn add_ingress(ifindex: u32) -> Request {
    tc::message(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, ifindex, INGRESS_HANDLE, TC_H_INGRESS, 0, Some("ingress"))
}

/// `struct tc_mirred`: tc_gen (index, capab, action, refcnt, bindcnt), eaction, ifindex.
pub fn tc_mirred(action: i32, eaction: i32, ifindex: u32) -> [u8; 28] {
    let mut m = [0u8; 28];
    m[8..12].copy_from_slice(&action.to_ne_bytes());
    m[20..24].copy_from_slice(&eaction.to_ne_bytes());
    m[24..28].copy_from_slice(&ifindex.to_ne_bytes());
    m
}

/// A matchall filter on the ingress qdisc of link `ifindex`, priority `prio`, every
/// protocol, whose mirred action redirects each packet to the egress of link `to`.
pub fn redirect_filter(ifindex: u32, prio: u16, to: u32) -> Request {
    let mut req = tc::new_filter(ifindex, 0, INGRESS_HANDLE, prio, ETH_P_ALL, "matchall");
    req.nested(TCA_OPTIONS, |a| {
        a.nested(TCA_MATCHALL_ACT, |acts| {
            acts.nested(1, |act| {
                act.str(tc::TCA_ACT_KIND, "mirred");
                act.nested(tc::TCA_ACT_OPTIONS, |m| m.bytes(TCA_MIRRED_PARMS, &tc_mirred(TC_ACT_STOLEN, TCA_EGRESS_REDIR, to)));
            });
        });
    });
    req
}

/// The priority of a filter (the high half of its tcm_info).
pub fn filter_prio(t: &Tc) -> u16 {
    (t.info >> 16) as u16
}

/// The device a matchall filter's mirred action redirects to (from a filter dump), if it
/// is a matchall filter with an egress-redirect mirred action.
pub fn redirect_target(t: &Tc) -> Option<u32> {
    if t.kind.as_deref() != Some("matchall") {
        return None;
    }
    let acts = attrs(t.options.as_deref()?).find(|a| a.kind == TCA_MATCHALL_ACT)?;
    for act in attrs(acts.value) {
        let mut mirred = false;
        let mut parms = None;
        for a in attrs(act.value) {
            match a.kind {
                tc::TCA_ACT_KIND => mirred = crate::attr::str_of(a.value) == "mirred",
                tc::TCA_ACT_OPTIONS => parms = attrs(a.value).find(|p| p.kind == TCA_MIRRED_PARMS).map(|p| p.value),
                _ => {}
            }
        }
        if let (true, Some(p)) = (mirred, parms) {
            let eaction = u32_of(p.get(20..24)?)? as i32;
            if eaction == TCA_EGRESS_REDIR {
                return u32_of(p.get(24..28)?);
            }
        }
    }
    None
}

/// One priority tin of a CAKE qdisc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tin {
    /// The tin's share of the rate, bytes per second.
    pub threshold_rate_bytes: u64,
    pub sent_bytes: u64,
    pub sent_packets: u32,
    pub dropped_packets: u32,
    pub ecn_marked_packets: u32,
    pub ack_drops: u32,
    pub backlog_bytes: u32,
    pub target_us: u32,
    pub peak_delay_us: u32,
    pub avg_delay_us: u32,
    pub base_delay_us: u32,
}

/// CAKE's statistics (TCA_STATS_APP).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stats {
    pub capacity_estimate_bytes: u64,
    pub memory_limit: u32,
    pub memory_used: u32,
    pub tins: Vec<Tin>,
}

fn u64_of(v: &[u8]) -> Option<u64> {
    v.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_ne_bytes)
}

/// CAKE's statistics from the payload of an RTM_NEWQDISC message (its TCA_STATS2 nest's
/// TCA_STATS_APP). At most 8 tins (`TC_CAKE_MAX_TINS`) are read.
pub fn parse_stats(payload: &[u8]) -> Option<Stats> {
    let stats2 = attrs(payload.get(20..)?).find(|a| a.kind == TCA_STATS2)?;
    let app = attrs(stats2.value).find(|a| a.kind == TCA_STATS_APP)?;
    let mut s = Stats::default();
    for a in attrs(app.value) {
        match a.kind {
            TCA_CAKE_STATS_CAPACITY_ESTIMATE64 => s.capacity_estimate_bytes = u64_of(a.value).unwrap_or(0),
            TCA_CAKE_STATS_MEMORY_LIMIT => s.memory_limit = u32_of(a.value).unwrap_or(0),
            TCA_CAKE_STATS_MEMORY_USED => s.memory_used = u32_of(a.value).unwrap_or(0),
            TCA_CAKE_STATS_TIN_STATS => {
                for tin in attrs(a.value).take(8) {
                    let mut t = Tin::default();
                    for f in attrs(tin.value) {
                        let v32 = u32_of(f.value).unwrap_or(0);
                        match f.kind {
                            TCA_CAKE_TIN_STATS_THRESHOLD_RATE64 => t.threshold_rate_bytes = u64_of(f.value).unwrap_or(0),
                            TCA_CAKE_TIN_STATS_SENT_BYTES64 => t.sent_bytes = u64_of(f.value).unwrap_or(0),
                            TCA_CAKE_TIN_STATS_SENT_PACKETS => t.sent_packets = v32,
                            TCA_CAKE_TIN_STATS_DROPPED_PACKETS => t.dropped_packets = v32,
                            TCA_CAKE_TIN_STATS_ECN_MARKED_PACKETS => t.ecn_marked_packets = v32,
                            TCA_CAKE_TIN_STATS_ACKS_DROPPED_PACKETS => t.ack_drops = v32,
                            TCA_CAKE_TIN_STATS_BACKLOG_BYTES => t.backlog_bytes = v32,
                            TCA_CAKE_TIN_STATS_TARGET_US => t.target_us = v32,
                            TCA_CAKE_TIN_STATS_PEAK_DELAY_US => t.peak_delay_us = v32,
                            TCA_CAKE_TIN_STATS_AVG_DELAY_US => t.avg_delay_us = v32,
                            TCA_CAKE_TIN_STATS_BASE_DELAY_US => t.base_delay_us = v32,
                            _ => {}
                        }
                    }
                    s.tins.push(t);
                }
            }
            _ => {}
        }
    }
    Some(s)
}

#[cfg(test)]
mod tests;
