//! The fuzz seed corpus (fuzz/corpus/<target>/) and a bounded, deterministic stand-in for
//! the fuzzers that runs with every `cargo test`: seeded mutations of that corpus through
//! the same checks the fuzz targets run (`netlink::checks`).
//!
//! The seeds are built here: requests from the crate's builders, and replies laid out
//! the way the kernel sends them (dump parts, NLMSG_DONE, acks with extended-ack TLVs,
//! RTM_NEWLINK/NEWADDR/NEWROUTE/NEWNEIGH/NEWQDISC payloads, the controller's family).
//! After changing one, rewrite the files with
//! `NETLINK_BLESS=1 cargo test -p oxwrt-netlink --test mutations`.

use netlink::rtnetlink::{self as rt, tc};
use netlink::{genl, nfnetlink as nfnl, Header, Request};
use oxwrt_testkit::mutation::{self, Format};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
    let mut v = [&(4 + value.len() as u16).to_ne_bytes()[..], &kind.to_ne_bytes(), value].concat();
    v.resize(netlink::align(v.len()), 0);
    v
}

fn msg(msg_type: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = Header { len: 16 + payload.len() as u32, msg_type, flags, seq, pid: 4242 }.encode().to_vec();
    v.extend_from_slice(payload);
    v.resize(netlink::align(v.len()), 0);
    v
}

fn bytes(mut r: Request) -> Vec<u8> {
    r.finish(7).to_vec()
}

fn link_payload() -> Vec<u8> {
    let info = nla(rt::IFLA_LINKINFO, &[nla(rt::IFLA_INFO_KIND, b"vlan\0"), nla(rt::IFLA_INFO_DATA, &nla(rt::IFLA_VLAN_ID, &5u16.to_ne_bytes()))].concat());
    [
        &rt::ifinfomsg(9, 0x11043, 0)[..],
        &nla(rt::IFLA_IFNAME, b"eth0.5\0"),
        &nla(rt::IFLA_MTU, &1500u32.to_ne_bytes()),
        &nla(rt::IFLA_LINK, &2u32.to_ne_bytes()),
        &nla(rt::IFLA_ADDRESS, &[2, 0, 0, 0, 0, 9]),
        &info,
    ]
    .concat()
}

fn addr_payload() -> Vec<u8> {
    let mut ci = [0u8; 16];
    ci[4..8].copy_from_slice(&3600u32.to_ne_bytes());
    [&rt::ifaddrmsg(rt::AF_INET, 24, 3)[..], &nla(rt::IFA_ADDRESS, &[10, 0, 0, 2]), &nla(rt::IFA_LOCAL, &[10, 0, 0, 2]), &nla(rt::IFA_CACHEINFO, &ci)].concat()
}

fn route_payload() -> Vec<u8> {
    let mut r = rt::Route::v4(Some(Ipv4Addr::new(10, 10, 0, 0)), 16, Some(Ipv4Addr::new(10, 9, 0, 2)), 3, rt::RTPROT_STATIC);
    r.priority = Some(50);
    bytes(rt::add_route(&r))[16..].to_vec()
}

fn ack(seq: u32, errno: i32, text: Option<&str>) -> Vec<u8> {
    let mut p = (-errno).to_ne_bytes().to_vec();
    p.extend_from_slice(&Header { len: 40, msg_type: rt::RTM_NEWLINK, flags: 0x605, seq, pid: 4242 }.encode());
    let mut flags = netlink::NLM_F_CAPPED;
    if let Some(t) = text {
        p.extend_from_slice(&nla(netlink::NLMSGERR_ATTR_MSG, &[t.as_bytes(), b"\0"].concat()));
        p.extend_from_slice(&nla(netlink::NLMSGERR_ATTR_OFFS, &36u32.to_ne_bytes()));
        flags |= netlink::NLM_F_ACK_TLVS;
    }
    msg(netlink::NLMSG_ERROR, flags, seq, &p)
}

fn family_payload() -> Vec<u8> {
    let mut r = genl::request(genl::GENL_ID_CTRL, genl::CTRL_CMD_NEWFAMILY, 2, 0);
    r.attr_u16(genl::CTRL_ATTR_FAMILY_ID, 0x10).attr_str(genl::CTRL_ATTR_FAMILY_NAME, "nlctrl").attr_u32(genl::CTRL_ATTR_VERSION, 2);
    r.nested(genl::CTRL_ATTR_MCAST_GROUPS, |a| {
        a.nested(1, |g| {
            g.str(genl::CTRL_ATTR_MCAST_GRP_NAME, "notify");
            g.u32(genl::CTRL_ATTR_MCAST_GRP_ID, 16);
        });
    });
    bytes(r)[16..].to_vec()
}

/// A WireGuard device as a dump message carries it: two peers, v4 and v6 allowed IPs,
/// an endpoint, a preshared key.
fn wireguard_payload() -> Vec<u8> {
    use netlink::wireguard::{self as wg, AllowedIp, DeviceChange, PeerChange};
    let peer = |k: u8, ips: Vec<AllowedIp>| PeerChange {
        public_key: [k; 32],
        remove: false,
        preshared_key: Some([k + 1; 32]),
        endpoint: Some("192.0.2.7:51820".parse().unwrap()),
        persistent_keepalive: Some(25),
        replace_allowed_ips: true,
        allowed_ips: ips,
    };
    let v4 = AllowedIp { addr: IpAddr::V4(Ipv4Addr::new(10, 8, 0, 2)), cidr: 32 };
    let v6 = AllowedIp { addr: "fd00:8::2".parse().unwrap(), cidr: 128 };
    let change = DeviceChange { ifname: "wg0".into(), listen_port: Some(51820), peers: vec![peer(1, vec![v4, v6]), peer(3, vec![v4])], ..Default::default() };
    bytes(wg::set_device(0x1d, &change, wg::SET_MESSAGE_LIMIT).remove(0))[16..].to_vec()
}

/// (target, file name, bytes) of every seed.
fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let multi = netlink::NLM_F_MULTI;
    let mut batch = nfnl::Batch::new(nfnl::NFNL_SUBSYS_NFTABLES);
    batch.message(nfnl::nft::NEWCHAIN, netlink::NLM_F_CREATE, nfnl::NFPROTO_INET, "chain".into(), |a| {
        a.str(1, "oxwrt");
        a.str(3, "input");
        a.nested(4, |h| {
            h.be32(1, 1);
            h.be32(2, 0);
        });
    });
    let (batch, _, _) = batch.finish(1).unwrap();
    let mut qdisc = tc::new_qdisc(3, tc::handle(1, 0), tc::TC_H_ROOT, "htb");
    qdisc.nested(tc::TCA_OPTIONS, |a| a.bytes(2, &[3, 0, 0, 0, 10, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    let qdisc = bytes(qdisc);
    let dump = [
        msg(rt::RTM_NEWLINK, multi, 7, &link_payload()),
        msg(rt::RTM_NEWADDR, multi, 7, &addr_payload()),
        msg(netlink::NLMSG_DONE, multi, 7, &0i32.to_ne_bytes()),
    ]
    .concat();
    let neigh = bytes(rt::add_neighbour(3, IpAddr::V4(Ipv4Addr::new(10, 9, 0, 7)), &[2, 0, 0, 0, 0, 7], rt::NUD_PERMANENT));
    vec![
        ("messages", "create-vlan", bytes(rt::create_vlan("eth0.2", 3, 2))),
        ("messages", "create-veth", bytes(rt::create_veth("a", "b"))),
        ("messages", "nft-batch", batch.clone()),
        ("messages", "genl-getfamily", bytes(genl::get_family("wireguard"))),
        ("messages", "link-dump", dump.clone()),
        ("messages", "htb-qdisc", qdisc.clone()),
        ("replies", "link-dump", dump),
        ("replies", "ack", ack(7, 0, None)),
        ("replies", "ext-ack-error", ack(7, 22, Some("Unknown device type"))),
        ("replies", "stale-then-ack", [ack(6, 1, None), ack(7, 0, None)].concat()),
        ("replies", "done-with-error", msg(netlink::NLMSG_DONE, multi, 7, &(-95i32).to_ne_bytes())),
        (
            "replies",
            "dump-interrupted",
            [msg(rt::RTM_NEWLINK, multi | netlink::NLM_F_DUMP_INTR, 7, &link_payload()), msg(netlink::NLMSG_DONE, multi, 7, &[0; 4])].concat(),
        ),
        ("replies", "batch-acks", [ack(7, 0, None), ack(8, 2, Some("No such file or directory"))].concat()),
        ("rtnetlink", "link", link_payload()),
        ("rtnetlink", "addr", addr_payload()),
        ("rtnetlink", "route", route_payload()),
        ("rtnetlink", "neighbour", neigh[16..].to_vec()),
        ("rtnetlink", "qdisc", qdisc[16..].to_vec()),
        ("rtnetlink", "family", family_payload()),
        ("rtnetlink", "wireguard", wireguard_payload()),
    ]
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus")
}

#[test]
fn seed_corpus_is_up_to_date() {
    mutation::corpus_is_up_to_date(&corpus_dir(), &seeds(), "NETLINK_BLESS");
}

/// Netlink's weak spot: a 16- or 32-bit length rewritten at an aligned offset.
const NETLINK: Format = Format {
    interesting: &[0, 1, 3, 4, 0x7f, 0x80, 0xfc, 0xff, 16, 20],
    edit: |rng, d| {
        let len = d.len();
        if len >= 4 {
            let i = rng.below(len / 4) * 4;
            let v = [0u32, 3, 4, 5, 15, 16, 17, 0xffff, 0xffff_ffff, len as u32, len as u32 + 4][rng.below(11)];
            if rng.below(2) == 0 {
                d[i..i + 2].copy_from_slice(&(v as u16).to_ne_bytes());
            } else {
                d[i..i + 4].copy_from_slice(&v.to_ne_bytes());
            }
        }
    },
};

/// Iterations per target: enough to reach every error path of the seeds, small enough
/// for a debug-build `cargo test` on 2 cores (about a second).
const ROUNDS: usize = 20_000;

#[test]
fn seeded_mutations_never_break_the_checks() {
    let seeds = seeds();
    for target in ["messages", "replies", "rtnetlink"] {
        let check: fn(&[u8]) = match target {
            "messages" => netlink::checks::messages,
            "replies" => netlink::checks::replies,
            _ => netlink::checks::rtnetlink,
        };
        let mine: Vec<&[u8]> = seeds.iter().filter(|s| s.0 == target).map(|s| s.2.as_slice()).collect();
        mutation::hammer(target, &mine, check, &NETLINK, 0x6f78_776e_6c00_0001, ROUNDS);
    }
}

#[test]
fn every_seed_passes_its_check_and_parses() {
    for (target, name, bytes) in seeds() {
        match target {
            "messages" => netlink::checks::messages(&bytes),
            "replies" => netlink::checks::replies(&bytes),
            _ => netlink::checks::rtnetlink(&bytes),
        }
        if target == "rtnetlink" {
            let parsed = match name {
                "link" => rt::parse_link(&bytes).is_some(),
                "addr" => rt::parse_addr(&bytes).is_some(),
                "route" => rt::parse_route(&bytes).is_some(),
                "neighbour" => rt::parse_neighbour(&bytes).is_some(),
                "qdisc" => tc::parse(&bytes).is_some(),
                "wireguard" => netlink::wireguard::parse_device(0x1d, &[(0x1d, bytes.clone())]).is_some_and(|d| d.peers.len() == 2),
                _ => genl::parse_family(&bytes).is_some(),
            };
            assert!(parsed, "seed {name} does not parse");
        }
    }
}
