//! Byte-exact layouts of rtnetlink and tc requests (what iproute2 sends for the same
//! change, struct by struct from the uapi headers) and parsing of kernel-shaped replies.

use super::tc;
use super::*;
use crate::{NLMSG_HDRLEN, NLM_F_REQUEST};

fn ne16(v: u16) -> [u8; 2] {
    v.to_ne_bytes()
}

fn ne32(v: u32) -> [u8; 4] {
    v.to_ne_bytes()
}

/// An attribute as the kernel lays it out: len, type, value, zero padding.
fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
    let mut v = [&ne16(4 + value.len() as u16)[..], &ne16(kind), value].concat();
    v.resize(crate::align(v.len()), 0);
    v
}

fn hdr(len: usize, ty: u16, flags: u16, seq: u32) -> Vec<u8> {
    [&ne32(len as u32)[..], &ne16(ty), &ne16(flags), &ne32(seq), &ne32(0)].concat()
}

fn finish(mut r: Request) -> Vec<u8> {
    r.finish(1).to_vec()
}

#[test]
fn create_vlan_is_byte_exact() {
    let linkinfo = nla(IFLA_LINKINFO, &[nla(IFLA_INFO_KIND, b"vlan\0"), nla(IFLA_INFO_DATA, &nla(IFLA_VLAN_ID, &ne16(2)))].concat());
    let body = [&ifinfomsg(0, 0, 0)[..], &nla(IFLA_IFNAME, b"eth0.2\0"), &nla(IFLA_LINK, &ne32(3)), &linkinfo].concat();
    let want = [hdr(16 + body.len(), RTM_NEWLINK, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL, 1), body].concat();
    assert_eq!(finish(create_vlan("eth0.2", 3, 2)), want);
}

#[test]
fn create_veth_nests_the_peer_ifinfomsg() {
    let peer = nla(VETH_INFO_PEER, &[&ifinfomsg(0, 0, 0)[..], &nla(IFLA_IFNAME, b"b\0")].concat());
    let linkinfo = nla(IFLA_LINKINFO, &[nla(IFLA_INFO_KIND, b"veth\0"), nla(IFLA_INFO_DATA, &peer)].concat());
    let body = [&ifinfomsg(0, 0, 0)[..], &nla(IFLA_IFNAME, b"a\0"), &linkinfo].concat();
    assert_eq!(finish(create_veth("a", "b"))[NLMSG_HDRLEN..], body[..]);
}

#[test]
fn set_link_and_addresses_are_byte_exact() {
    let change = LinkChange { up: Some(true), master: Some(0), mtu: Some(1492), mac: Some([2, 0, 0, 0, 0, 1]) };
    let body = [&ifinfomsg(7, IFF_UP, IFF_UP)[..], &nla(IFLA_MASTER, &ne32(0)), &nla(IFLA_MTU, &ne32(1492)), &nla(IFLA_ADDRESS, &[2, 0, 0, 0, 0, 1])].concat();
    assert_eq!(finish(set_link(7, &change)), [hdr(16 + body.len(), RTM_NEWLINK, NLM_F_REQUEST, 1), body].concat());

    let a = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1));
    let mut info = [0u8; 16];
    info[0..8].fill(0xff);
    let body = [
        &[AF_INET, 24, 0, 0][..],
        &ne32(5),
        &nla(IFA_LOCAL, &[192, 168, 1, 1]),
        &nla(IFA_ADDRESS, &[192, 168, 1, 1]),
        &nla(IFA_BROADCAST, &[192, 168, 1, 255]),
        &nla(IFA_CACHEINFO, &info),
    ]
    .concat();
    assert_eq!(finish(add_addr(5, a, 24, None)), [hdr(16 + body.len(), RTM_NEWADDR, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE, 1), body].concat());
    let p31 = finish(add_addr(5, a, 31, None));
    assert!(crate::attr::attrs(&p31[24..]).all(|x| x.kind != IFA_BROADCAST), "no broadcast on a /31");
    let del = finish(del_addr(5, a, 24));
    assert_eq!(del.len(), 16 + 8 + 8 + 8);
    assert_eq!(&del[4..6], &ne16(RTM_DELADDR));
}

#[test]
fn routes_are_byte_exact_and_parse_back() {
    let r = Route::v4(None, 0, Some(Ipv4Addr::new(203, 0, 113, 1)), 4, RTPROT_DHCP);
    let body = [
        &[AF_INET, 0, 0, 0, 254, RTPROT_DHCP, 0, RTN_UNICAST, 0, 0, 0, 0][..],
        &nla(RTA_GATEWAY, &[203, 0, 113, 1]),
        &nla(RTA_OIF, &ne32(4)),
        &nla(RTA_TABLE, &ne32(254)),
    ]
    .concat();
    assert_eq!(finish(add_route(&r)), [hdr(16 + body.len(), RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL, 1), body.clone()].concat());
    assert_eq!(parse_route(&body), Some(r));
    let mut net = Route::v4(Some(Ipv4Addr::new(10, 0, 0, 0)), 8, None, 2, RTPROT_STATIC);
    net.priority = Some(100);
    let b = finish(del_route(&net));
    assert_eq!(&b[4..6], &ne16(RTM_DELROUTE));
    assert_eq!(parse_route(&b[16..]), Some(net));
}

#[test]
fn kernel_link_message_parses() {
    // An RTM_NEWLINK as the kernel sends it for a VLAN device (attributes trimmed).
    let linkinfo =
        nla(IFLA_LINKINFO, &[nla(IFLA_INFO_KIND, b"vlan\0"), nla(IFLA_INFO_DATA, &[nla(IFLA_VLAN_ID, &ne16(5)), nla(2, &[0; 8])].concat())].concat());
    let p = [
        &[0u8, 0, 1, 0][..], // family, pad, type ARPHRD_ETHER
        &ne32(9),
        &ne32(0x11043),
        &ne32(0),
        &nla(IFLA_IFNAME, b"eth0.5\0"),
        &nla(IFLA_MTU, &ne32(1500)),
        &nla(IFLA_LINK, &ne32(2)),
        &nla(IFLA_MASTER, &ne32(4)),
        &nla(IFLA_ADDRESS, &[2, 0, 0, 0, 0, 9]),
        &nla(IFLA_BROADCAST, &[0xff; 6]),
        &linkinfo,
    ]
    .concat();
    let l = parse_link(&p).unwrap();
    assert_eq!(
        l,
        Link {
            index: 9,
            name: "eth0.5".into(),
            flags: 0x11043,
            mtu: 1500,
            mac: Some([2, 0, 0, 0, 0, 9]),
            master: 4,
            kind: Some("vlan".into()),
            vlan_id: Some(5),
            parent: 2
        }
    );
    assert!(l.is_up());
    for n in 0..p.len() {
        let _ = parse_link(&p[..n]);
    }
    assert_eq!(parse_link(&p[..15]), None);
}

#[test]
fn kernel_addr_and_neighbour_messages_parse() {
    let mut ci = [0u8; 16];
    ci[4..8].copy_from_slice(&ne32(3600));
    let p = [
        &[AF_INET, 24, 0x80, 0][..],
        &ne32(3),
        &nla(IFA_ADDRESS, &[10, 0, 0, 2]),
        &nla(IFA_LOCAL, &[10, 0, 0, 2]),
        &nla(IFA_LABEL, b"wan\0"),
        &nla(IFA_CACHEINFO, &ci),
    ]
    .concat();
    let a = parse_addr(&p).unwrap();
    assert_eq!((a.index, a.prefix_len, a.addr(), a.valid_lft), (3, 24, Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))), Some(3600)));
    let p = [&ndmsg(AF_INET, 3, NUD_PERMANENT)[..], &nla(NDA_DST, &[10, 0, 0, 9]), &nla(NDA_LLADDR, &[2, 0, 0, 0, 0, 7])].concat();
    let n = parse_neighbour(&p).unwrap();
    assert_eq!((n.index, n.state, n.dst, n.lladdr), (3, NUD_PERMANENT, Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9))), Some(vec![2, 0, 0, 0, 0, 7])));
    let req = finish(add_neighbour(3, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)), &[2, 0, 0, 0, 0, 7], NUD_PERMANENT));
    assert_eq!(&req[16..], &p[..]);
    for n in 0..p.len() {
        let _ = (parse_neighbour(&p[..n]), parse_addr(&p[..n]), parse_route(&p[..n]));
    }
}

#[test]
fn tc_framing_is_byte_exact() {
    // tc qdisc add dev <3> root handle 1: htb default 10
    let glob = [ne32(3), ne32(10), ne32(0x10), ne32(0), ne32(0)].concat();
    let mut r = tc::new_qdisc(3, tc::handle(1, 0), tc::TC_H_ROOT, "htb");
    r.nested(tc::TCA_OPTIONS, |a| {
        a.bytes(2, &glob); // TCA_HTB_INIT
    });
    let body = [&tc::tcmsg(3, 0x10000, 0xffff_ffff, 0)[..], &nla(tc::TCA_KIND, b"htb\0"), &nla(tc::TCA_OPTIONS, &nla(2, &glob))].concat();
    assert_eq!(finish(r), [hdr(16 + body.len(), tc::RTM_NEWQDISC, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL, 1), body.clone()].concat());
    assert_eq!(&body[..20], &[&[0u8, 0, 0, 0][..], &ne32(3), &ne32(0x10000), &ne32(0xffff_ffff), &ne32(0)].concat()[..]);
    let t = tc::parse(&body).unwrap();
    assert_eq!((t.ifindex, t.handle, t.parent, t.kind.as_deref()), (3, 0x10000, tc::TC_H_ROOT, Some("htb")));
    assert_eq!(t.options, Some(nla(2, &glob)));
    // Filter info: prio 1, ETH_P_IP (0x0800) in network order.
    assert_eq!(tc::filter_info(1, 0x0800), 0x0001_0000 | u16::from_ne_bytes([0x08, 0x00]) as u32);
    let a = finish(tc::action(tc::RTM_NEWACTION, NLM_F_CREATE, "gact", |o| {
        o.u32(1, 0);
    }));
    assert_eq!(&a[16..20], &[0, 0, 0, 0]);
    assert_eq!(crate::attr::attrs(&a[20..]).count(), 1);
    assert!(tc::parse(&body[..19]).is_none());
}
