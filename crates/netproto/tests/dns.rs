//! DNS with real packets: dig's query and a resolver's answer, compression pointers in
//! owners and RDATA, negative answers, pointer loops, every truncation, the forwarder's
//! local answers and the cache's byte-level helpers.

mod common;

use common::*;
use netproto::dns::{self, answer, cache, flag, rcode, rtype, tcp, DnsError, EncodeError, Message, Name, RData, Record};
use netproto::Truncated;
use std::net::Ipv4Addr;

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

#[test]
fn dig_query_and_response() {
    let q = Message::parse(&dig_query()).unwrap();
    assert_eq!(q.header.id, 0xa15e);
    assert!(q.header.has(flag::RD) && q.header.has(flag::AD) && !q.header.has(flag::QR));
    assert_eq!(q.header.opcode(), 0);
    assert_eq!(q.questions.len(), 1);
    assert_eq!(q.questions[0].name, name("example.com"));
    assert_eq!((q.questions[0].qtype, q.questions[0].qclass), (rtype::A, 1));
    let edns = q.edns().unwrap();
    assert_eq!((edns.udp_size, edns.version, edns.flags), (1232, 0, 0));
    assert_eq!(&edns.options[..4], &[0, 10, 0, 8], "COOKIE option passed through");
    assert_eq!(q.encode().unwrap(), dig_query(), "re-encodes to the same bytes");

    let r = Message::parse(&dig_response()).unwrap();
    assert!(r.header.has(flag::QR) && r.header.has(flag::RA));
    assert_eq!(r.header.rcode(), rcode::NOERROR);
    assert_eq!(r.answers, [Record::new(name("example.com"), 3600, RData::A(Ipv4Addr::new(93, 184, 215, 14)))]);
    assert_eq!(r.edns().unwrap().options.len(), 28);
    assert_eq!(r.encode().unwrap(), dig_response(), "the owner compressed to 0xc00c again");
}

#[test]
fn pointers_in_owners_and_rdata() {
    let m = Message::parse(&cname_response()).unwrap();
    let cdn = name("web.cdn.example.net");
    assert_eq!(m.answers[0].name, name("www.example.org"));
    assert_eq!(m.answers[0].data, RData::Cname(cdn.clone()));
    assert_eq!(m.answers[1].name, cdn, "owner points into the CNAME's RDATA");
    assert_eq!(m.answers[1].data, RData::A(Ipv4Addr::new(203, 0, 113, 7)));
    assert_eq!(m.authority[0].name, name("cdn.example.net"));
    assert_eq!(m.authority[0].data, RData::Ns(name("ns1.cdn.example.net")));
    // Compressed and uncompressed encodings both read back the same.
    let c = m.encode().unwrap();
    let u = m.encode_uncompressed().unwrap();
    assert_eq!(c.len(), cname_response().len());
    assert!(u.len() > c.len());
    assert_eq!(Message::parse(&c).unwrap(), m);
    assert_eq!(Message::parse(&u).unwrap(), m);
}

#[test]
fn negative_answer_with_soa() {
    let m = Message::parse(&nxdomain_response()).unwrap();
    assert_eq!(m.header.rcode(), rcode::NXDOMAIN);
    let RData::Soa(soa) = &m.authority[0].data else { panic!("{:?}", m.authority[0]) };
    assert_eq!((soa.mname.to_string(), soa.rname.to_string()), ("ns.example.com".into(), "hostmaster.example.com".into()));
    assert_eq!((soa.serial, soa.minimum), (2024010101, 300));
    assert_eq!(cache::min_ttl(&nxdomain_response()), Ok(Some(300)), "min(SOA TTL 900, MINIMUM 300)");
}

#[test]
fn mixed_types_and_raw_rdata() {
    let m = mixed_response();
    let bytes = m.encode().unwrap();
    let back = Message::parse(&bytes).unwrap();
    assert_eq!(back, m);
    assert_eq!(back.answers[2].data, RData::Raw { rtype: rtype::TXT, data: b"\x0bv=spf1 -all".to_vec() });
    let mut bad = m.clone();
    bad.answers[0].data = RData::Raw { rtype: rtype::A, data: vec![1, 2, 3, 4] };
    assert_eq!(bad.encode(), Err(EncodeError::RawDecodedType { rtype: rtype::A }));
}

#[test]
fn pointer_loops_are_errors() {
    assert_eq!(Message::parse(&self_pointer()), Err(DnsError::ForwardPointer { at: 12, target: 12 }));
    assert_eq!(Message::parse(&pointer_pair()), Err(DnsError::ForwardPointer { at: 14, target: 20 }));
    assert_eq!(cache::min_ttl(&pointer_pair()), Err(DnsError::ForwardPointer { at: 14, target: 20 }));
    // A backward pointer into the header is followed (bytes 2..5 read as the name "\032"),
    // and what follows the 2-byte name no longer lines up: an error, not a panic.
    let mut p = dig_query();
    p[12] = 0xc0;
    p[13] = 0x02;
    assert!(Message::parse(&p).is_err());
}

#[test]
fn malformed_records_say_what_is_wrong() {
    let mut p = dig_response();
    p[40] = 5; // A RDLENGTH 4 -> 5
    assert!(matches!(Message::parse(&p), Err(DnsError::BadRdataLength { at: 41, rtype: 1, len: 5, .. })));
    let mut p = cname_response();
    p[44] = 20; // CNAME RDLENGTH 21 -> 20: the name runs past it
    assert_eq!(Message::parse(&p), Err(DnsError::RdataOverrun { at: 45, rtype: rtype::CNAME }));
    let mut p = dig_query();
    p[12] = 0x47; // label type 01
    assert_eq!(Message::parse(&p), Err(DnsError::BadLabelType { at: 12, byte: 0x47 }));
    assert_eq!(Message::parse(&dig_query()[..5]), Err(DnsError::Truncated(Truncated { at: 4, field: "QDCOUNT", need: 2, have: 1 })));
    assert_eq!(
        DnsError::ForwardPointer { at: 14, target: 20 }.to_string(),
        "compression pointer at byte 14 points forward, to byte 20 (a loop, or past a prior name)"
    );
}

/// Every strict prefix of every message is an error (and never a panic).
#[test]
fn every_truncation_is_an_error() {
    let msgs =
        [dig_query(), dig_response(), cname_response(), nxdomain_response(), mixed_response().encode().unwrap(), local_a(), local_ptr(), local_nxdomain()];
    for m in msgs {
        assert!(Message::parse(&m).is_ok());
        assert!(cache::min_ttl(&m).is_ok());
        for n in 0..m.len() {
            assert!(Message::parse(&m[..n]).is_err(), "{n}-byte prefix parsed");
            assert!(cache::min_ttl(&m[..n]).is_err(), "{n}-byte prefix walked");
            let mut copy = m[..n].to_vec();
            assert!(cache::age_ttls(&mut copy, 1).is_err());
        }
    }
}

#[test]
fn counts_are_not_trusted() {
    // 65535 questions claimed, none present: an error, and no 65535-entry allocation.
    let p = [0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    assert!(matches!(Message::parse(&p), Err(DnsError::Truncated(_))));
}

#[test]
fn name_budget_caps_allocation() {
    // One 255-byte name, then questions whose names are each a pointer to it: 6 bytes of
    // packet per 255 bytes of name.
    let long = [&"a".repeat(63)[..], &"b".repeat(63), &"c".repeat(63), &"d".repeat(61)].join(".");
    let q = Message::query(1, name(&long), rtype::A);
    let mut p = q.encode().unwrap();
    let n = 300u16;
    p[4..6].copy_from_slice(&n.to_be_bytes());
    for _ in 1..n {
        p.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    }
    assert!(matches!(Message::parse(&p), Err(DnsError::TooManyNameBytes { .. })));
    p[4..6].copy_from_slice(&200u16.to_be_bytes());
    assert_eq!(Message::parse(&p).unwrap().questions.len(), 200, "51,000 bytes of names is fine");
}

#[test]
fn local_answers() {
    let q = Message::query(0x4242, name("laptop.lan"), rtype::A);
    let a = Message::parse(&local_a()).unwrap();
    assert_eq!(a.header.id, 0x4242);
    assert!(a.header.has(flag::QR) && a.header.has(flag::AA) && a.header.has(flag::RD) && a.header.has(flag::RA));
    assert_eq!(a.questions, q.questions);
    assert_eq!(a.answers, [Record::new(name("laptop.lan"), 60, RData::A(OFFERED))]);
    #[rustfmt::skip]
    let expected: &[u8] = &[
        0x42, 0x42, 0x85, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
        6, b'l', b'a', b'p', b't', b'o', b'p', 3, b'l', b'a', b'n', 0, 0, 1, 0, 1,
        0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 168, 1, 100,
    ];
    assert_eq!(local_a(), expected);

    let p = Message::parse(&local_ptr()).unwrap();
    assert_eq!(p.questions[0].name, name("100.1.168.192.in-addr.arpa"));
    assert_eq!(p.answers[0].data, RData::Ptr(name("laptop.lan")));

    let nx = Message::parse(&local_nxdomain()).unwrap();
    assert_eq!(nx.header.rcode(), rcode::NXDOMAIN);
    assert!(nx.answers.is_empty());
    assert_eq!(nx.authority, [lan_soa()]);
    assert_eq!(cache::min_ttl(&local_nxdomain()), Ok(Some(60)));

    // With EDNS in the query, the answer carries OPT too.
    let dq = Message::parse(&dig_query()).unwrap();
    let r = dq.answer_a(&[Ipv4Addr::new(10, 0, 0, 1)], 60);
    assert_eq!(r.edns().unwrap().udp_size, answer::EDNS_UDP_LEN);
    assert!(!r.header.has(flag::AD) && r.header.has(flag::RD));
    assert_eq!(dq.error(rcode::REFUSED).header.rcode(), rcode::REFUSED);
    assert!(dq.answer(60, []).answers.is_empty(), "NODATA");
}

#[test]
fn reverse_names() {
    assert_eq!(dns::reverse_name(OFFERED), name("100.1.168.192.in-addr.arpa"));
    assert_eq!(dns::parse_reverse_name(&name("100.1.168.192.IN-ADDR.arpa")), Some(OFFERED));
    let not_hosts = [
        "1.168.192.in-addr.arpa",
        "256.1.168.192.in-addr.arpa",
        "01.1.168.192.in-addr.arpa",
        "a.1.168.192.in-addr.arpa",
        "1.1.168.192.ip6.arpa",
        "x.100.1.168.192.in-addr.arpa",
    ];
    for bad in not_hosts {
        assert_eq!(dns::parse_reverse_name(&name(bad)), None, "{bad}");
    }
    assert_eq!(dns::parse_reverse_name(&name("0.0.0.0.in-addr.arpa")), Some(Ipv4Addr::UNSPECIFIED));
}

#[test]
fn formerr_for_unparseable_queries() {
    let mut junk = dig_query();
    junk[12] = 0x80;
    assert!(Message::parse(&junk).is_err());
    let f = answer::formerr(&junk).unwrap();
    assert_eq!(f, [0xa1, 0x5e, 0x81, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(answer::formerr(&dig_response()), None, "never answer a response");
    assert_eq!(answer::formerr(&junk[..11]), None);
}

#[test]
fn truncation_for_udp() {
    let q = Message::parse(&dig_query()).unwrap();
    let addrs: Vec<Ipv4Addr> = (0..100).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect();
    let big = q.answer_a(&addrs, 60);
    let full = big.encode_truncated(4096).unwrap();
    assert!(!cache::is_truncated(&full).unwrap());
    assert_eq!(Message::parse(&full).unwrap().answers.len(), 100);
    let short = big.encode_truncated(dns::UDP_LEN).unwrap();
    assert!(short.len() <= dns::UDP_LEN);
    assert!(cache::is_truncated(&short).unwrap());
    let m = Message::parse(&short).unwrap();
    assert!(m.answers.is_empty() && m.questions == q.questions && m.edns().is_some());
}

#[test]
fn cache_helpers_work_on_the_bytes() {
    let mut r = dig_response();
    assert_eq!(cache::id(&r), Ok(0xa15e));
    assert_eq!(cache::min_ttl(&r), Ok(Some(3600)), "OPT's TTL field (0) is not a TTL");
    cache::set_id(&mut r, 0x0102).unwrap();
    cache::age_ttls(&mut r, 100).unwrap();
    let m = Message::parse(&r).unwrap();
    assert_eq!((m.header.id, m.answers[0].ttl), (0x0102, 3500));
    assert_eq!(m.additional[0].ttl, 0, "OPT untouched");
    cache::age_ttls(&mut r, 10_000).unwrap();
    assert_eq!(cache::min_ttl(&r), Ok(Some(0)), "stops at 0");
    assert_eq!(cache::min_ttl(&cname_response()), Ok(Some(60)));
    assert_eq!(cache::min_ttl(&dig_query()), Ok(None), "nothing to take a TTL from");
    assert!(cache::set_id(&mut [0u8; 1], 1).is_err());
    assert!(!cache::is_truncated(&dig_response()).unwrap());
}

/// Found by the dns_parse fuzzer: a name that points into an earlier record's TTL. Aging
/// that TTL changes what the name decodes to; age_ttls must still walk the message as it
/// was (it used to re-read the pointer after changing its target and fail half-way).
#[test]
fn aging_a_ttl_that_a_name_points_into() {
    let mut p = ttl_pointer();
    let m = Message::parse(&p).unwrap();
    assert_eq!(m.answers[1].name.wire(), b"\x02\0\0\0");
    assert_eq!(cache::age_ttls(&mut p, 1), Ok(()));
    assert_eq!(&p[17..21], &[1, 0xff, 0xff, 0xff]);
    assert_eq!(&p[33..37], &[0, 0, 0, 59]);
    assert!(Message::parse(&p).is_err(), "the sender's pointer now reads a bad label");
    assert_eq!(
        Message::parse(&[&[0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0][..], &[0xc0, 2, 0, 1, 0, 1]].concat()),
        Err(DnsError::PointerIntoHeader { at: 12, target: 2 })
    );
}

/// Found by the dns_parse fuzzer: a pointer back to a name that then runs forward over
/// the pointer and into the OPT record; strip_opt cut the OPT and with it part of that
/// name. Such a name is no prior occurrence: rejected everywhere.
#[test]
fn a_pointed_name_must_end_before_the_pointer() {
    let p = pointer_overlap();
    let overlap = DnsError::PointerOverlap { at: 25, target: 22 };
    assert_eq!(Message::parse(&p), Err(overlap.clone()));
    assert_eq!(cache::strip_opt(&mut p.clone()), Err(overlap.clone()));
    assert_eq!(cache::min_ttl(&p), Err(overlap));
}

#[test]
fn strip_opt_for_clients_without_edns() {
    let mut r = dig_response();
    assert_eq!(cache::strip_opt(&mut r), Ok(true));
    let m = Message::parse(&r).unwrap();
    assert!(m.additional.is_empty() && m.edns().is_none());
    assert_eq!(m.answers, Message::parse(&dig_response()).unwrap().answers);
    assert_eq!(r.len(), dig_response().len() - 39, "the 39-byte OPT record is gone");
    assert_eq!(cache::strip_opt(&mut r), Ok(false), "nothing left to strip");
    // OPT not last: left alone.
    let mut m = mixed_response();
    m.additional.insert(0, Record::opt(1232));
    let mut b = m.encode().unwrap();
    assert_eq!(cache::strip_opt(&mut b), Ok(false));
    assert_eq!(Message::parse(&b).unwrap(), m);
    assert!(cache::strip_opt(&mut pointer_pair()).is_err());
}

#[test]
fn tcp_fallback_framing() {
    let framed = tcp::frame(&dig_query()).unwrap();
    let (msg, used) = tcp::unframe(&framed).unwrap();
    assert_eq!((msg, used), (&dig_query()[..], dig_query().len() + 2));
    assert_eq!(Message::parse(msg).unwrap().header.id, 0xa15e);
}
