//! CAKE, ingress and redirect messages against the numbers of the uapi headers
//! (linux/pkt_sched.h, pkt_cls.h, tc_act/tc_mirred.h, gen_stats.h), written out here
//! independently of the constants in cake.rs.

use super::*;
use crate::rtnetlink::tc::parse;
use crate::NLMSG_HDRLEN;

fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
    let mut v = [&(4 + value.len() as u16).to_ne_bytes()[..], &kind.to_ne_bytes(), value].concat();
    v.resize(crate::align(v.len()), 0);
    v
}

fn u32a(kind: u16, v: u32) -> Vec<u8> {
    nla(kind, &v.to_ne_bytes())
}

/// tcmsg: family 0, pad, ifindex, handle, parent, info.
fn tcmsg(ifindex: u32, handle: u32, parent: u32, info: u32) -> Vec<u8> {
    [&[0u8, 0, 0, 0][..], &ifindex.to_ne_bytes(), &handle.to_ne_bytes(), &parent.to_ne_bytes(), &info.to_ne_bytes()].concat()
}

fn body(mut r: Request) -> Vec<u8> {
    r.finish(1)[NLMSG_HDRLEN..].to_vec()
}

#[test]
fn cake_egress_is_what_tc_sends_rate_in_bytes_per_second() {
    // tc qdisc replace dev (3) root handle 5351: cake bandwidth 1900kbit diffserv3
    //   dual-srchost nat nowash no-ack-filter overhead 38 mpu 84 noatm rtt 100ms
    let o = Options {
        rate_bytes: Some(1900 * 125),
        diffserv: Some(CAKE_DIFFSERV_DIFFSERV3),
        atm: Some(CAKE_ATM_NONE),
        flow_mode: Some(CAKE_FLOW_DUAL_SRC),
        overhead: Some(38),
        mpu: Some(84),
        rtt_us: Some(100_000),
        target_us: Some(5_000),
        nat: Some(true),
        wash: Some(false),
        ingress: Some(false),
        ack_filter: Some(CAKE_ACK_NONE),
    };
    let opts = [
        nla(2, &237_500u64.to_ne_bytes()), // TCA_CAKE_BASE_RATE64: 1900 kbit/s = 237500 B/s
        u32a(3, 0),                        // DIFFSERV_MODE diffserv3
        u32a(4, 0),                        // ATM none
        u32a(5, 5),                        // FLOW_MODE dual-srchost
        u32a(6, 38),                       // OVERHEAD
        u32a(14, 84),                      // MPU
        u32a(7, 100_000),                  // RTT us
        u32a(8, 5_000),                    // TARGET us
        u32a(11, 1),                       // NAT
        u32a(13, 0),                       // WASH
        u32a(15, 0),                       // INGRESS
        u32a(16, 0),                       // ACK_FILTER
    ]
    .concat();
    let want = [tcmsg(3, 0x5351_0000, 0xffff_ffff, 0), nla(1, b"cake\0"), nla(2, &opts)].concat();
    let mut r = replace(3, 0x5351_0000, 0xffff_ffff, &o);
    let bytes = r.finish(9).to_vec();
    assert_eq!(u16::from_ne_bytes([bytes[4], bytes[5]]), 36, "RTM_NEWQDISC");
    assert_eq!(u16::from_ne_bytes([bytes[6], bytes[7]]), 0x1 | 0x400 | 0x100, "REQUEST | CREATE | REPLACE");
    assert_eq!(bytes[NLMSG_HDRLEN..], want[..]);
    // A change: no flags, the same body.
    let mut c = change(3, 0x5351_0000, 0xffff_ffff, &Options { rate_bytes: Some(125_000), ..Options::default() });
    let bytes = c.finish(1).to_vec();
    assert_eq!(u16::from_ne_bytes([bytes[6], bytes[7]]), 0x1);
    assert_eq!(bytes[NLMSG_HDRLEN..], [tcmsg(3, 0x5351_0000, 0xffff_ffff, 0), nla(1, b"cake\0"), nla(2, &nla(2, &125_000u64.to_ne_bytes()))].concat()[..]);
    // Negative overhead is a two's complement u32 on the wire.
    let neg = body(change(1, 0, 0, &Options { overhead: Some(-4), ..Options::default() }));
    assert!(neg.ends_with(&u32a(6, (-4i32) as u32)));
}

#[test]
fn dumped_options_read_back_and_compare() {
    // What cake_dump() writes (its order, RAW present, a PAD before the u64 as on 32-bit).
    let opts = [
        u32a(1, 0),
        nla(2, &1_187_500u64.to_ne_bytes()),
        u32a(5, 6),
        u32a(7, 100_000),
        u32a(8, 5_000),
        u32a(10, 0),
        u32a(9, 0),
        u32a(15, 1),
        u32a(16, 0),
        u32a(11, 1),
        u32a(3, 3),
        u32a(13, 1),
        u32a(6, 18),
        u32a(4, 0),
        u32a(14, 64),
        u32a(17, 1),
        u32a(18, 0),
    ]
    .concat();
    let got = Options::parse(&opts);
    assert_eq!(got.rate_bytes, Some(1_187_500));
    assert_eq!((got.flow_mode, got.diffserv, got.overhead, got.mpu, got.atm), (Some(6), Some(3), Some(18), Some(64), Some(0)));
    assert_eq!(
        (got.nat, got.wash, got.ingress, got.ack_filter, got.rtt_us, got.target_us),
        (Some(true), Some(true), Some(true), Some(0), Some(100_000), Some(5_000))
    );
    let mut want = got;
    assert!(want.matches(&got));
    want.rate_bytes = Some(1_000_000);
    assert!(!want.matches(&got));
    assert!(Options { rate_bytes: Some(1_187_500), ..Options::default() }.matches(&got), "unset options are not compared");
    assert!(!Options { mpu: Some(64), ..Options::default() }.matches(&Options::default()), "an option the kernel did not report differs");
}

#[test]
fn ingress_qdisc_and_redirect_filter_are_byte_exact() {
    // tc qdisc add dev (2) handle ffff: ingress
    let mut r = add_ingress(2);
    let b = r.finish(1).to_vec();
    assert_eq!(u16::from_ne_bytes([b[6], b[7]]), 0x1 | 0x400 | 0x200, "REQUEST | CREATE | EXCL");
    assert_eq!(b[NLMSG_HDRLEN..], [tcmsg(2, 0xffff_0000, 0xffff_fff1, 0), nla(1, b"ingress\0")].concat()[..]);

    // tc filter add dev (2) parent ffff: protocol all prio 49 matchall
    //   action mirred egress redirect dev (7)
    let mut mirred = vec![0u8; 28];
    mirred[8..12].copy_from_slice(&4i32.to_ne_bytes()); // TC_ACT_STOLEN
    mirred[20..24].copy_from_slice(&1i32.to_ne_bytes()); // TCA_EGRESS_REDIR
    mirred[24..28].copy_from_slice(&7u32.to_ne_bytes());
    let act = [nla(1, b"mirred\0"), nla(2, &nla(2, &mirred))].concat();
    let options = nla(2, &nla(1, &act)); // TCA_MATCHALL_ACT { 1 { kind, options } }
    let info = (49u32 << 16) | u16::from_ne_bytes(0x0003u16.to_be_bytes()) as u32;
    let want = [tcmsg(2, 0, 0xffff_0000, info), nla(1, b"matchall\0"), nla(2, &options)].concat();
    let mut f = redirect_filter(2, 49, 7);
    let b = f.finish(1).to_vec();
    assert_eq!(u16::from_ne_bytes([b[4], b[5]]), 44, "RTM_NEWTFILTER");
    assert_eq!(b[NLMSG_HDRLEN..], want[..]);

    // Read back from a dump: the kernel adds attributes (TCA_ACT_INDEX, stats) around.
    let act = [nla(1, b"mirred\0"), u32a(3, 1), nla(2, &[nla(1, &[0u8; 32]), nla(2, &mirred)].concat())].concat();
    let options = [u32a(3, 0), nla(2, &nla(1, &act))].concat();
    let dumped = [tcmsg(2, 1, 0xffff_0000, info), nla(1, b"matchall\0"), nla(2, &options)].concat();
    let t = parse(&dumped).unwrap();
    assert_eq!((filter_prio(&t), redirect_target(&t)), (49, Some(7)));
    let other = [tcmsg(2, 1, 0xffff_0000, info), nla(1, b"u32\0"), nla(2, &options)].concat();
    assert_eq!(redirect_target(&parse(&other).unwrap()), None);
}

#[test]
fn stats_app_gives_the_tins() {
    let tin = |sent: u32, drops: u32, delay: u32| {
        [
            nla(12, &1_000_000u64.to_ne_bytes()),
            nla(3, &(sent as u64 * 1000).to_ne_bytes()),
            u32a(11, 3000),
            u32a(13, 5000),
            u32a(2, sent),
            u32a(4, drops),
            u32a(8, 2),
            u32a(6, 1),
            u32a(18, delay),
            u32a(19, delay / 2),
            u32a(20, 10),
        ]
        .concat()
    };
    let app =
        [nla(2, &7u64.to_ne_bytes()), u32a(3, 4_000_000), u32a(4, 65_000), nla(10, &[nla(1, &tin(10, 1, 800)), nla(2, &tin(20, 0, 400))].concat())].concat();
    let stats2 = [nla(1, &[0u8; 16]), nla(4, &app)].concat();
    let payload = [tcmsg(2, 0x5351_0000, 0xffff_ffff, 1), nla(1, b"cake\0"), nla(7, &stats2)].concat();
    let s = parse_stats(&payload).unwrap();
    assert_eq!((s.capacity_estimate_bytes, s.memory_limit, s.memory_used), (7, 4_000_000, 65_000));
    assert_eq!(s.tins.len(), 2);
    assert_eq!(
        s.tins[0],
        Tin {
            threshold_rate_bytes: 1_000_000,
            sent_bytes: 10_000,
            sent_packets: 10,
            dropped_packets: 1,
            ecn_marked_packets: 2,
            ack_drops: 1,
            backlog_bytes: 3000,
            target_us: 5000,
            peak_delay_us: 800,
            avg_delay_us: 400,
            base_delay_us: 10
        }
    );
    assert_eq!(s.tins[1].sent_packets, 20);
    // No stats: None; garbage: no panic.
    assert_eq!(parse_stats(&[tcmsg(2, 0, 0, 0), nla(1, b"cake\0")].concat()), None);
    for n in 0..payload.len() {
        let _ = parse_stats(&payload[..n]);
    }
}
