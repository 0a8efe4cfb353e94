//! Real packets for the tests and the fuzz seed corpus: clients' DHCP messages built by
//! hand from the RFC 2131 layout (what udhcpc and dhclient put on the wire), servers'
//! replies and DNS messages from this crate's builders or written out byte by byte.
#![allow(dead_code)]

use netproto::dhcp::{self, MessageType};
use netproto::dns::{self, rtype, Message, Name, RData, Record, Soa};
use std::net::Ipv4Addr;

pub const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
pub const XID: u32 = 0x3903_f326;
pub const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
pub const OFFERED: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 100);

/// The 240 bytes before the options, byte by byte as RFC 2131 figure 1 lays them out.
pub fn bootp(op: u8, flags: u16, ciaddr: [u8; 4], yiaddr: [u8; 4], siaddr: [u8; 4]) -> Vec<u8> {
    let mut p = vec![op, 1, 6, 0]; // op, htype Ethernet, hlen 6, hops
    p.extend_from_slice(&XID.to_be_bytes());
    p.extend_from_slice(&[0, 0]); // secs
    p.extend_from_slice(&flags.to_be_bytes());
    p.extend_from_slice(&ciaddr);
    p.extend_from_slice(&yiaddr);
    p.extend_from_slice(&siaddr);
    p.extend_from_slice(&[0; 4]); // giaddr
    p.extend_from_slice(&MAC);
    p.extend_from_slice(&[0; 10]); // chaddr padding
    p.extend_from_slice(&[0; 64]); // sname
    p.extend_from_slice(&[0; 128]); // file
    p.extend_from_slice(&[99, 130, 83, 99]);
    assert_eq!(p.len(), 240);
    p
}

/// END, then zeros to the 300-byte minimum, as udhcpc and dhclient pad.
pub fn finish(mut p: Vec<u8>) -> Vec<u8> {
    p.push(255);
    if p.len() < 300 {
        p.resize(300, 0);
    }
    p
}

fn udhcpc_common(p: &mut Vec<u8>) {
    p.extend_from_slice(&[61, 7, 1]); // client id: type 1 (Ethernet) + MAC
    p.extend_from_slice(&MAC);
    p.extend_from_slice(&[57, 2, 0x02, 0x40]); // max message size 576
    p.extend_from_slice(&[55, 7, 1, 3, 6, 12, 15, 28, 42]); // parameter request list
    p.extend_from_slice(&[12, 6]);
    p.extend_from_slice(b"laptop");
    p.extend_from_slice(&[60, 12]);
    p.extend_from_slice(b"udhcp 1.36.1");
}

/// busybox udhcpc's DHCPDISCOVER (broadcast flag set, as with `udhcpc -B`).
pub fn udhcpc_discover() -> Vec<u8> {
    let mut p = bootp(1, 0x8000, [0; 4], [0; 4], [0; 4]);
    p.extend_from_slice(&[53, 1, 1]);
    udhcpc_common(&mut p);
    finish(p)
}

/// udhcpc's DHCPREQUEST in SELECTING state: requested IP and server id of the offer.
pub fn udhcpc_request() -> Vec<u8> {
    let mut p = bootp(1, 0x8000, [0; 4], [0; 4], [0; 4]);
    p.extend_from_slice(&[53, 1, 3]);
    p.extend_from_slice(&[50, 4, 192, 168, 1, 100]);
    p.extend_from_slice(&[54, 4, 192, 168, 1, 1]);
    udhcpc_common(&mut p);
    finish(p)
}

/// udhcpc renewing (unicast to the server): ciaddr set, no 50 or 54 (RFC 2131 4.3.2).
pub fn udhcpc_renew() -> Vec<u8> {
    let mut p = bootp(1, 0, [192, 168, 1, 100], [0; 4], [0; 4]);
    p.extend_from_slice(&[53, 1, 3]);
    udhcpc_common(&mut p);
    finish(p)
}

/// ISC dhclient's DHCPDISCOVER asking for its previous address.
pub fn dhclient_discover() -> Vec<u8> {
    let mut p = bootp(1, 0, [0; 4], [0; 4], [0; 4]);
    p.extend_from_slice(&[53, 1, 1, 50, 4, 192, 168, 1, 100, 12, 6]);
    p.extend_from_slice(b"laptop");
    p.extend_from_slice(&[55, 13, 1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42]);
    finish(p)
}

/// A reply with option overload (52 = 3): options continue in `file`, then `sname`,
/// and the DNS servers option is split over the two areas (RFC 3396).
pub fn overloaded_ack() -> Vec<u8> {
    let mut p = bootp(2, 0, [0; 4], [192, 168, 1, 100], [0; 4]);
    p.extend_from_slice(&[53, 1, 5, 52, 1, 3, 54, 4, 192, 168, 1, 1, 255]);
    // file area (108..236): lease time, first DNS server, END
    let file = [51, 4, 0, 0, 0x0e, 0x10, 6, 4, 192, 168, 1, 1, 255];
    p[108..108 + file.len()].copy_from_slice(&file);
    // sname area (44..108): second DNS server (concatenated onto option 6), router; no END
    let sname = [6, 4, 8, 8, 8, 8, 3, 4, 192, 168, 1, 1];
    p[44..44 + sname.len()].copy_from_slice(&sname);
    finish(p)
}

/// The server's side: replies built with the crate.
pub fn offer(discover: &dhcp::Message) -> dhcp::Message {
    let mut m = discover.reply(MessageType::Offer);
    m.yiaddr = OFFERED;
    m.options.set_server_id(SERVER);
    m.options.set_lease_time(43200);
    m.options.set_renewal_time(21600);
    m.options.set_rebinding_time(37800);
    m.options.set_subnet_mask(Ipv4Addr::new(255, 255, 255, 0));
    m.options.set_routers(&[SERVER]);
    m.options.set_dns_servers(&[SERVER]);
    m.options.set_domain_name(b"lan");
    m
}

pub fn ack(request: &dhcp::Message) -> dhcp::Message {
    let mut m = offer(request);
    m.options.set_message_type(MessageType::Ack);
    m
}

pub fn nak(request: &dhcp::Message) -> dhcp::Message {
    let mut m = request.reply(MessageType::Nak);
    m.options.set_server_id(SERVER);
    m.options.set_message(b"requested address not available");
    m
}

// --- DNS ---

/// `dig example.com` (BIND 9.18): RD and AD set, EDNS0 with a client COOKIE.
pub fn dig_query() -> Vec<u8> {
    let mut p = vec![0xa1, 0x5e, 0x01, 0x20, 0, 1, 0, 0, 0, 0, 0, 1];
    p.extend_from_slice(b"\x07example\x03com\x00\x00\x01\x00\x01");
    // OPT: root, type 41, UDP 1232, ext-rcode/version/flags 0, RDLEN 12, COOKIE (10) len 8
    p.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 12, 0, 10, 0, 8]);
    p.extend_from_slice(&[0x8d, 0x51, 0x0c, 0x93, 0x2e, 0x6d, 0x2b, 0x97]);
    p
}

/// A resolver's answer to [`dig_query`]: the answer's owner is a pointer to the question
/// (0xc00c), TTL 3600; OPT with client and server cookies.
pub fn dig_response() -> Vec<u8> {
    let mut p = vec![0xa1, 0x5e, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 1];
    p.extend_from_slice(b"\x07example\x03com\x00\x00\x01\x00\x01");
    p.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 93, 184, 215, 14]);
    p.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 28, 0, 10, 0, 24]);
    p.extend_from_slice(&[0x8d, 0x51, 0x0c, 0x93, 0x2e, 0x6d, 0x2b, 0x97]);
    p.extend_from_slice(&[1, 0, 0, 0, 0x65, 0x4a, 0x3b, 0x2c, 0xde, 0xad, 0xbe, 0xef, 0x12, 0x34, 0x56, 0x78]);
    p
}

/// `www.example.org` CNAME `web.cdn.example.net`, A of that, NS records: pointers
/// to the question, into a CNAME's RDATA, and chains of pointers.
pub fn cname_response() -> Vec<u8> {
    let mut p = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 1, 0, 0];
    // 12: question www.example.org A IN
    p.extend_from_slice(b"\x03www\x07example\x03org\x00\x00\x01\x00\x01");
    // 33: answer 1: owner -> 12, CNAME, TTL 300, RDATA at 45: "web" "cdn" "example" "net"
    p.extend_from_slice(&[0xc0, 0x0c, 0, 5, 0, 1, 0, 0, 0x01, 0x2c, 0, 21]);
    p.extend_from_slice(b"\x03web\x03cdn\x07example\x03net\x00");
    // 66: answer 2: owner -> 45 (web.cdn.example.net), A, TTL 60
    p.extend_from_slice(&[0xc0, 45, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 203, 0, 113, 7]);
    // 82: authority: owner -> 49 (cdn.example.net), NS ns1 + pointer to 49, TTL 86400
    p.extend_from_slice(&[0xc0, 49, 0, 2, 0, 1, 0, 1, 0x51, 0x80, 0, 6]);
    p.extend_from_slice(b"\x03ns1\xc0\x31");
    p
}

/// NXDOMAIN for `nope.example.com` with the zone's SOA (TTL 900, MINIMUM 300), names
/// in the SOA compressed against the question.
pub fn nxdomain_response() -> Vec<u8> {
    let mut p = vec![0xbe, 0xef, 0x81, 0x83, 0, 1, 0, 0, 0, 1, 0, 0];
    // 12: nope.example.com; example.com starts at 17
    p.extend_from_slice(b"\x04nope\x07example\x03com\x00\x00\x01\x00\x01");
    let mut rdata = b"\x02ns\xc0\x11\x0ahostmaster\xc0\x11".to_vec();
    for v in [2024010101u32, 7200, 3600, 1209600, 300] {
        rdata.extend_from_slice(&v.to_be_bytes());
    }
    p.extend_from_slice(&[0xc0, 0x11, 0, 6, 0, 1, 0, 0, 0x03, 0x84, 0, rdata.len() as u8]);
    p.extend_from_slice(&rdata);
    p
}

/// AAAA, MX and TXT: MX decoded, TXT passed through raw.
pub fn mixed_response() -> Message {
    let q = Message::query(7, Name::from_ascii("example.com").unwrap(), rtype::ANY);
    let name = q.questions[0].name.clone();
    let mut m = q.response();
    m.answers.push(Record::new(name.clone(), 120, RData::Aaaa("2001:db8::1".parse().unwrap())));
    m.answers.push(Record::new(name.clone(), 120, RData::Mx { preference: 10, exchange: name.prepend(b"mail").unwrap() }));
    m.answers.push(Record::new(name.clone(), 120, RData::Raw { rtype: rtype::TXT, data: b"\x0bv=spf1 -all".to_vec() }));
    m.additional.push(Record::new(name.prepend(b"mail").unwrap(), 120, RData::A(Ipv4Addr::new(192, 0, 2, 25))));
    m
}

pub fn lan_soa() -> Record {
    let lan = Name::from_ascii("lan").unwrap();
    Record::new(
        lan.clone(),
        60,
        RData::Soa(Box::new(Soa {
            mname: lan.prepend(b"gw").unwrap(),
            rname: lan.prepend(b"hostmaster").unwrap(),
            serial: 1,
            refresh: 3600,
            retry: 600,
            expire: 86400,
            minimum: 60,
        })),
    )
}

/// The forwarder's local answers, built with the crate.
pub fn local_a() -> Vec<u8> {
    let q = Message::query(0x4242, Name::from_ascii("laptop.lan").unwrap(), rtype::A);
    q.answer_a(&[OFFERED], 60).encode().unwrap()
}

pub fn local_ptr() -> Vec<u8> {
    let q = Message::query(0x4243, dns::reverse_name(OFFERED), rtype::PTR);
    q.answer_ptr(&Name::from_ascii("laptop.lan").unwrap(), 60).encode().unwrap()
}

pub fn local_nxdomain() -> Vec<u8> {
    let q = Message::query(0x4244, Name::from_ascii("nothere.lan").unwrap(), rtype::A);
    q.nxdomain(Some(lan_soa())).encode().unwrap()
}

/// The question's name is a pointer to itself.
pub fn self_pointer() -> Vec<u8> {
    let mut p = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    p.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
    p
}

/// Two names pointing at each other: 12 -> 20 -> 12.
pub fn pointer_pair() -> Vec<u8> {
    let mut p = vec![0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0];
    p.extend_from_slice(&[0x01, b'a', 0xc0, 20, 0, 1, 0, 1]); // question at 12: "a" -> 20
    p.extend_from_slice(&[0x01, b'b', 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4]); // answer at 20: "b" -> 12
    p
}

/// A name that points into an earlier record's TTL (which reads as a name).
pub fn ttl_pointer() -> Vec<u8> {
    #[rustfmt::skip]
    let p = vec![
        0, 1, 0x81, 0x80, 0, 0, 0, 2, 0, 0, 0, 0,
        // 12: root owner, A, IN, TTL 0x02000000 (at 17: "\x02\0\0" then a root: a name), 4 bytes
        0, 0, 1, 0, 1, 2, 0, 0, 0, 0, 4, 10, 0, 0, 1,
        // 27: owner -> 17 (the TTL above), A, IN, TTL 60, 4 bytes
        0xc0, 17, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 2,
    ];
    p
}

/// Found by the dns_parse fuzzer: the answer's owner points back to byte 22 (in the
/// question), but the labels there run on over the pointer, the rest of the answer and
/// into the OPT record after it.
pub fn pointer_overlap() -> Vec<u8> {
    #[rustfmt::skip]
    let p = vec![
        0xb7, 0x5e, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 1,
        // 12: question "e\x06\0\0\0\0\0" A IN
        7, b'e', 6, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1,
        // 25: owner -> 22: "\x01\0" "\x01\xc0" then a 22-byte label from 27 on
        0xc0, 0x16, 0, 0x10, 0x0e, 1, 1, 0x2c, 0, 0, 0, 4, 0x5d, 0xb8, 0xd7, 0x0e,
        // 41: OPT
        0, 0, 0x29, 0x04, 0xd0, 0, 0, 1, 0, 0, 0, 0x6d, 0x2b, 0x56, 0x78,
    ];
    p
}

/// (fuzz target, file name, bytes): the seed corpus under fuzz/corpus/.
pub fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let disc = dhcp::Message::parse(&udhcpc_discover()).unwrap();
    let req = dhcp::Message::parse(&udhcpc_request()).unwrap();
    let mut v = vec![
        ("dhcp_parse", "udhcpc-discover", udhcpc_discover()),
        ("dhcp_parse", "udhcpc-request", udhcpc_request()),
        ("dhcp_parse", "udhcpc-renew", udhcpc_renew()),
        ("dhcp_parse", "dhclient-discover", dhclient_discover()),
        ("dhcp_parse", "overloaded-ack", overloaded_ack()),
        ("dhcp_parse", "offer", offer(&disc).encode().unwrap()),
        ("dhcp_parse", "ack", ack(&req).encode().unwrap()),
        ("dhcp_parse", "nak", nak(&req).encode().unwrap()),
    ];
    for (name, bytes) in [
        ("dig-query", dig_query()),
        ("dig-response", dig_response()),
        ("cname-response", cname_response()),
        ("nxdomain-response", nxdomain_response()),
        ("mixed-response", mixed_response().encode().unwrap()),
        ("local-a", local_a()),
        ("local-ptr", local_ptr()),
        ("local-nxdomain", local_nxdomain()),
        ("self-pointer", self_pointer()),
        ("pointer-pair", pointer_pair()),
        ("ttl-pointer", ttl_pointer()),
        ("pointer-overlap", pointer_overlap()),
    ] {
        v.push(("dns_parse", name, bytes.clone()));
        v.push(("dns_roundtrip", name, bytes));
    }
    v.extend(dhcpv6_seeds());
    v
}

/// DHCPv6 and neighbour discovery seeds: a prefix-delegation ADVERTISE and REPLY (IA_PD,
/// IA_NA, DNS servers, status inside the IA), a router advertisement and solicitation.
fn dhcpv6_seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    use netproto::dhcpv6::{code, duid_ll, msg, status, Ia, IaAddr, IaPrefix, Message, Opt, Status};
    use netproto::ndp::{PrefixInfo, RouterAdvert};
    let pd = |status_code: Option<u16>| {
        let mut options = vec![Opt::IaPrefix(IaPrefix { preferred: 3600, valid: 7200, len: 60, prefix: "2001:db8:0:10::".parse().unwrap(), options: vec![] })];
        if let Some(c) = status_code {
            options = vec![Opt::Status(Status { code: c, message: b"no prefixes".to_vec() })];
        }
        Opt::IaPd(Ia { iaid: 1, t1: 1800, t2: 2880, options })
    };
    let mut adv = Message::new(msg::ADVERTISE, 0x123456);
    adv.options = vec![Opt::ClientId(duid_ll([2, 0, 0, 0, 0, 1])), Opt::ServerId(duid_ll([2, 0, 0, 0, 0, 9])), pd(None), Opt::Preference(255)];
    let mut reply = Message::new(msg::REPLY, 0x123457);
    reply.options = vec![
        Opt::ServerId(duid_ll([2, 0, 0, 0, 0, 9])),
        Opt::ClientId(duid_ll([2, 0, 0, 0, 0, 1])),
        Opt::IaNa(Ia {
            iaid: 1,
            t1: 0,
            t2: 0,
            options: vec![Opt::IaAddr(IaAddr { addr: "2001:db8::100".parse().unwrap(), preferred: 3600, valid: 7200, options: vec![] })],
        }),
        pd(None),
        Opt::DnsServers(vec!["2001:db8::53".parse().unwrap()]),
        Opt::Other { code: code::DOMAIN_LIST, data: b"\x03isp\x07example\x00".to_vec() },
    ];
    let mut noprefix = Message::new(msg::REPLY, 0x123458);
    noprefix.options = vec![Opt::ServerId(duid_ll([2, 0, 0, 0, 0, 9])), pd(Some(status::NO_PREFIX_AVAIL))];
    let ra = RouterAdvert {
        cur_hop_limit: 64,
        managed: true,
        other: true,
        router_lifetime: 1800,
        source_lladdr: Some([2, 0, 0, 0, 0, 9]),
        mtu: Some(1500),
        prefixes: vec![PrefixInfo { prefix: "2001:db8::".parse().unwrap(), len: 64, on_link: true, autonomous: true, valid: 86400, preferred: 14400 }],
        rdnss: vec![(1800, vec!["2001:db8::53".parse().unwrap()])],
        ..RouterAdvert::default()
    };
    vec![
        ("dhcpv6_parse", "advertise-pd", adv.encode().unwrap()),
        ("dhcpv6_parse", "reply-na-pd", reply.encode().unwrap()),
        ("dhcpv6_parse", "reply-noprefixavail", noprefix.encode().unwrap()),
        ("dhcpv6_parse", "router-advert", ra.encode()),
        ("dhcpv6_parse", "router-solicit", vec![133, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 0, 0, 0, 0, 1]),
    ]
}
