//! The properties the fuzz targets (fuzz/) and the seeded mutation test
//! (tests/mutations.rs) check on arbitrary bytes: one definition for both. Each panics
//! when a property fails, which is how a fuzzer sees a bug. Not for the device (unused,
//! so the linker drops it).

use crate::attr::{attrs, Attrs};
use crate::error::parse_ack;
use crate::msg::{try_messages, Header};
use crate::reply::{BatchAcks, Exchange, Progress};
use crate::{genl, rtnetlink, wireguard, Error, NLMSG_HDRLEN};

/// Walks an attribute list and the lists nested in it (to `depth`); re-encodes each
/// level and checks it reads back the same.
fn walk(buf: &[u8], depth: usize) {
    let mut it = attrs(buf);
    let list: Vec<_> = it.by_ref().collect();
    // Each attribute occupies its own 4 + len bytes: together never more than the input.
    let used: usize = list.iter().map(|a| 4 + a.value.len()).sum::<usize>() + it.rest().len();
    assert!(used <= buf.len(), "attributes overlap: {used} bytes read from {}", buf.len());
    if depth > 0 {
        for a in &list {
            walk(a.value, depth - 1);
        }
    }
    let (mut out, mut over) = (Vec::new(), false);
    let mut w = Attrs::new(&mut out, false, &mut over);
    for a in &list {
        w.bytes(a.kind, a.value);
    }
    assert!(!over, "a parsed attribute does not encode");
    let back: Vec<_> = attrs(&out).map(|a| (a.kind, a.value)).collect();
    assert_eq!(back, list.iter().map(|a| (a.kind, a.value)).collect::<Vec<_>>(), "attributes changed in a round trip");
}

/// Messages and attributes: the message and attribute iterators never panic nor read
/// outside the input; headers and attribute lists round-trip.
pub fn messages(data: &[u8]) {
    if let Some(h) = Header::parse(data) {
        assert_eq!(Header::parse(&h.encode()), Some(h));
    }
    walk(data, 4);
    for m in try_messages(data) {
        let Ok(m) = m else { break };
        assert!(m.payload.len() + NLMSG_HDRLEN <= data.len());
        // Attributes after each fixed-header size in use (genl, ifaddrmsg, rtmsg, ifinfomsg, tcmsg).
        for fixed in [4, 8, 12, 16, 20] {
            if let Some(rest) = m.payload.get(fixed..) {
                walk(rest, 3);
            }
        }
    }
}

/// Acks and dumps: the reply collectors never panic; what they hand out carries the
/// request's sequence number; a refusal names the request.
pub fn replies(data: &[u8]) {
    let seq = Header::parse(data).map_or(1, |h| h.seq);
    let mut x = Exchange::new(seq, 18, "the fuzzed request".into());
    let mut seen = Vec::new();
    match x.feed(data, |m| seen.push(m.seq)) {
        Ok(Progress::Done | Progress::More) => {}
        Err(Error::Kernel { what, errno, .. }) => {
            assert_eq!(what, "the fuzzed request");
            assert_ne!(errno, 0, "a refusal without an errno");
        }
        Err(e) => {
            assert_eq!(e.request(), Some("the fuzzed request"));
            let _ = e.to_string();
        }
    }
    assert!(seen.iter().all(|s| *s == seq), "a reply of another request was handed out");
    let mut b = BatchAcks::new(vec![(seq, 0xa00, "table".into()), (seq.wrapping_add(1), 0xa03, "chain".into())], seq.saturating_sub(1)..=seq.saturating_add(2));
    if let Err(e) = b.feed(data) {
        let _ = (e.to_string(), e.errno());
    }
    for m in try_messages(data).map_while(Result::ok) {
        if let Some(ack) = parse_ack(m.flags, m.payload) {
            let _ = ack.msg.map(|s| s.len());
        }
    }
}

/// Consecutive entries of the same peer joined (what a dump split between messages is).
fn joined(peers: &[wireguard::Peer]) -> Vec<([u8; 32], Vec<wireguard::AllowedIp>)> {
    let mut out: Vec<([u8; 32], Vec<wireguard::AllowedIp>)> = Vec::new();
    for p in peers {
        match out.last_mut() {
            Some((k, ips)) if *k == p.public_key => ips.extend(p.allowed_ips.iter().copied()),
            _ => out.push((p.public_key, p.allowed_ips.clone())),
        }
    }
    out
}

/// A WireGuard device dump never panics the parser; its peers, written as SET_DEVICE
/// messages (split small and large), read back with the same keys and allowed IPs.
fn wireguard_device(data: &[u8]) {
    const FAM: u16 = 0x1d;
    let Some(dev) = wireguard::parse_device(FAM, &[(FAM, data.to_vec())]) else { return };
    let change = wireguard::DeviceChange {
        ifname: "wg0".into(),
        peers: dev
            .peers
            .iter()
            .map(|p| wireguard::PeerChange {
                public_key: p.public_key,
                remove: false,
                preshared_key: Some(p.preshared_key),
                endpoint: p.endpoint,
                persistent_keepalive: Some(p.persistent_keepalive),
                replace_allowed_ips: true,
                allowed_ips: p.allowed_ips.clone(),
            })
            .collect(),
        ..Default::default()
    };
    for limit in [1024, wireguard::SET_MESSAGE_LIMIT] {
        let parts: Vec<(u16, Vec<u8>)> = wireguard::set_device(FAM, &change, limit)
            .iter_mut()
            .map(|r| {
                let b = r.finish(1);
                assert!(b.len() <= limit, "a SET message of {} bytes, limit {limit}", b.len());
                (FAM, b[NLMSG_HDRLEN..].to_vec())
            })
            .collect();
        if dev.peers.is_empty() {
            continue;
        }
        let back = wireguard::parse_device(FAM, &parts).expect("SET messages parse");
        assert_eq!(joined(&back.peers), joined(&dev.peers), "peers changed in a SET round trip (limit {limit})");
    }
}

/// rtnetlink, tc and generic netlink parsers never panic; a parsed route encodes as a
/// request that parses back equal.
pub fn rtnetlink(data: &[u8]) {
    wireguard_device(data);
    let _ = rtnetlink::parse_link(data);
    let _ = rtnetlink::parse_addr(data).map(|a| a.addr());
    let _ = rtnetlink::parse_neighbour(data);
    let _ = rtnetlink::tc::parse(data);
    let _ = genl::parse_family(data);
    if let Some(r) = rtnetlink::parse_route(data) {
        let mut req = rtnetlink::add_route(&r);
        let bytes = req.finish(1).to_vec();
        let back = rtnetlink::parse_route(&bytes[NLMSG_HDRLEN..]).expect("an encoded route parses");
        let want = rtnetlink::Route { dst: r.dst.filter(|_| r.dst_len > 0), ..r };
        assert_eq!(back, want, "route round trip");
    }
}
