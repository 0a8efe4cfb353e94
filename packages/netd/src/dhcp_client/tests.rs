//! The client's states and timing, driven with a fake clock (a base `Instant` plus
//! durations): no socket, no sleeping.

use super::*;

const MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x42];
const SERVER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const OFFERED: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn sent(actions: &[Action]) -> (&Message, Ipv4Addr) {
    match actions {
        [Action::Send { msg, to }] => (msg, *to),
        other => panic!("expected one Send, got {other:?}"),
    }
}

fn reply(to: &Message, t: MessageType, lease: Option<u32>) -> Message {
    let mut r = to.reply(t);
    r.yiaddr = if t == MessageType::Nak { Ipv4Addr::UNSPECIFIED } else { OFFERED };
    r.options.set_server_id(SERVER);
    if t != MessageType::Nak {
        r.options.set_subnet_mask(Ipv4Addr::new(255, 255, 255, 0));
        r.options.set_routers(&[SERVER]);
        r.options.set_dns_servers(&[Ipv4Addr::new(203, 0, 113, 53)]);
        if let Some(l) = lease {
            r.options.set_lease_time(l);
        }
    }
    r
}

/// A client bound at t0 with a lease of `lease` seconds; returns it and t0.
fn bound(lease: u32) -> (Client, Instant) {
    let t0 = Instant::now();
    let mut c = Client::new(MAC, Some("gw".into()), None, 42, t0);
    let a = c.on_timer(t0);
    let discover = sent(&a).0.clone();
    let a = c.on_message(&reply(&discover, MessageType::Offer, Some(lease)), t0);
    let request = sent(&a).0.clone();
    let a = c.on_message(&reply(&request, MessageType::Ack, Some(lease)), t0);
    assert!(matches!(a.as_slice(), [Action::Bound(_)]), "{a:?}");
    (c, t0)
}

#[test]
fn discover_offer_request_ack_binds_the_lease() {
    let t0 = Instant::now();
    let mut c = Client::new(MAC, Some("gw".into()), Some(Ipv4Addr::new(203, 0, 113, 9)), 1, t0);
    assert_eq!(c.deadline(), Some(t0));
    let a = c.on_timer(t0);
    let (discover, to) = sent(&a);
    assert_eq!(to, Ipv4Addr::BROADCAST);
    assert_eq!(discover.message_type(), Some(MessageType::Discover));
    assert!(discover.broadcast(), "replies must come broadcast: the WAN has no address yet");
    assert_eq!(discover.options.hostname(), Some(&b"gw"[..]));
    assert_eq!(discover.options.requested_ip(), Some(Ipv4Addr::new(203, 0, 113, 9)));
    assert_eq!(c.state(), State::Selecting);
    let discover = discover.clone();

    let a = c.on_message(&reply(&discover, MessageType::Offer, Some(3600)), t0 + secs(1));
    let (request, to) = sent(&a);
    assert_eq!((request.message_type(), to), (Some(MessageType::Request), Ipv4Addr::BROADCAST));
    assert_eq!(request.options.server_id(), Some(SERVER));
    assert_eq!(request.options.requested_ip(), Some(OFFERED));
    assert_eq!(request.options.hostname(), Some(&b"gw"[..]));
    assert!(request.broadcast());
    assert_eq!(request.xid, discover.xid);
    assert_eq!(c.state(), State::Requesting);
    let request = request.clone();

    let a = c.on_message(&reply(&request, MessageType::Ack, Some(3600)), t0 + secs(2));
    let [Action::Bound(lease)] = a.as_slice() else { panic!("{a:?}") };
    assert_eq!(lease.address.to_string(), "203.0.113.7/24");
    assert_eq!((lease.server, lease.routers.clone(), lease.dns.clone()), (SERVER, vec![SERVER], vec![Ipv4Addr::new(203, 0, 113, 53)]));
    assert_eq!((lease.lease_secs, lease.t1, lease.t2), (Some(3600), 1800, 3150));
    assert_eq!(c.state(), State::Bound);
    // T1 counts from when the REQUEST was sent.
    assert_eq!(c.deadline(), Some(t0 + secs(1) + secs(1800)));
}

#[test]
fn discover_is_retransmitted_after_4_8_16_32_then_64_seconds() {
    let t0 = Instant::now();
    let mut c = Client::new(MAC, None, None, 7, t0);
    let mut now = t0;
    let mut gaps = Vec::new();
    for _ in 0..7 {
        let a = c.on_timer(now);
        assert_eq!(sent(&a).0.message_type(), Some(MessageType::Discover));
        let next = c.deadline().unwrap();
        gaps.push(next - now);
        now = next;
    }
    for (gap, want) in gaps.iter().zip([4, 8, 16, 32, 64, 64, 64]) {
        assert!(*gap >= secs(want - 1) && *gap <= secs(want + 1), "gap {gap:?}, want {want} +- 1 s");
    }
    assert_eq!(c.state(), State::Selecting);
    assert!(c.on_timer(now - secs(2)).is_empty(), "nothing before the deadline");
}

#[test]
fn unanswered_requests_go_back_to_init() {
    let t0 = Instant::now();
    let mut c = Client::new(MAC, None, None, 3, t0);
    let d = sent(&c.on_timer(t0)).0.clone();
    c.on_message(&reply(&d, MessageType::Offer, Some(600)), t0);
    let mut now;
    for _ in 0..3 {
        now = c.deadline().unwrap();
        assert_eq!(sent(&c.on_timer(now)).0.message_type(), Some(MessageType::Request));
    }
    now = c.deadline().unwrap();
    assert!(c.on_timer(now).is_empty());
    assert_eq!(c.state(), State::Init);
    assert_eq!(sent(&c.on_timer(now)).0.message_type(), Some(MessageType::Discover));
}

#[test]
fn renews_at_t1_by_unicast_rebinds_at_t2_and_loses_the_lease_at_expiry() {
    let (mut c, t0) = bound(1000);
    assert_eq!(c.deadline(), Some(t0 + secs(500)));
    assert!(c.on_timer(t0 + secs(499)).is_empty());

    let a = c.on_timer(t0 + secs(500));
    let (req, to) = sent(&a);
    assert_eq!(c.state(), State::Renewing);
    assert_eq!(to, SERVER, "renewal is unicast to the server");
    assert_eq!((req.ciaddr, req.broadcast()), (OFFERED, false));
    assert_eq!((req.options.server_id(), req.options.requested_ip()), (None, None));
    // T2 is 875: half of the 375 s left, 187 s.
    assert_eq!(c.deadline(), Some(t0 + secs(500) + Duration::from_millis(187_500)));
    let mut now = c.deadline().unwrap();
    c.on_timer(now);
    // 187.5 s left: half of it.
    assert_eq!(c.deadline(), Some(now + Duration::from_millis(93_750)));
    now = c.deadline().unwrap();
    c.on_timer(now);
    // 93.75 s left: half is under 60 s, so 60 s.
    assert_eq!(c.deadline(), Some(now + secs(60)));
    let mut last_to = SERVER;
    while c.state() == State::Renewing {
        now = c.deadline().unwrap();
        let a = c.on_timer(now);
        assert_eq!(sent(&a).0.message_type(), Some(MessageType::Request));
        last_to = sent(&a).1;
        assert!(now <= t0 + secs(875));
    }
    assert_eq!(now, t0 + secs(875), "never waits past T2");
    assert_eq!(c.state(), State::Rebinding);
    assert_eq!(last_to, Ipv4Addr::BROADCAST, "rebinding is broadcast");
    while c.state() == State::Rebinding {
        now = c.deadline().unwrap();
        let a = c.on_timer(now);
        if now >= t0 + secs(1000) {
            assert_eq!(a, vec![Action::Lost]);
        }
    }
    assert_eq!(now, t0 + secs(1000));
    assert_eq!((c.state(), c.lease()), (State::Init, None));
    assert_eq!(c.deadline(), Some(now));
}

#[test]
fn an_ack_while_renewing_extends_the_lease() {
    let (mut c, t0) = bound(1000);
    let a = c.on_timer(t0 + secs(500));
    let req = sent(&a).0.clone();
    let a = c.on_message(&reply(&req, MessageType::Ack, Some(2000)), t0 + secs(501));
    let [Action::Bound(l)] = a.as_slice() else { panic!("{a:?}") };
    assert_eq!(l.lease_secs, Some(2000));
    assert_eq!(c.state(), State::Bound);
    assert_eq!(c.deadline(), Some(t0 + secs(500) + secs(1000)));
}

#[test]
fn a_nak_while_renewing_drops_the_address_and_starts_over() {
    let (mut c, t0) = bound(1000);
    let a = c.on_timer(t0 + secs(500));
    let req = sent(&a).0.clone();
    let a = c.on_message(&reply(&req, MessageType::Nak, None), t0 + secs(501));
    assert_eq!(a, vec![Action::Lost]);
    assert_eq!(c.state(), State::Init);
    assert_eq!(c.deadline(), Some(t0 + secs(504)));
}

#[test]
fn replies_to_others_are_ignored() {
    let t0 = Instant::now();
    let mut c = Client::new(MAC, None, None, 5, t0);
    let d = sent(&c.on_timer(t0)).0.clone();
    let mut wrong_xid = reply(&d, MessageType::Offer, Some(600));
    wrong_xid.xid ^= 1;
    assert!(c.on_message(&wrong_xid, t0).is_empty());
    let mut other = reply(&d, MessageType::Offer, Some(600));
    other.chaddr = netproto::dhcp::HwAddr::ethernet([2, 0, 0, 0, 0, 1]);
    assert!(c.on_message(&other, t0).is_empty());
    assert!(c.on_message(&reply(&d, MessageType::Ack, Some(600)), t0).is_empty(), "an ACK while selecting");
    assert_eq!(c.state(), State::Selecting);
}

#[test]
fn server_t1_t2_are_used_and_an_infinite_lease_never_renews() {
    let t0 = Instant::now();
    let mut c = Client::new(MAC, None, None, 9, t0);
    let d = sent(&c.on_timer(t0)).0.clone();
    let r = sent(&c.on_message(&reply(&d, MessageType::Offer, Some(1000)), t0)).0.clone();
    let mut ack = reply(&r, MessageType::Ack, Some(1000));
    ack.options.set_renewal_time(100);
    ack.options.set_rebinding_time(200);
    let a = c.on_message(&ack, t0);
    let [Action::Bound(l)] = a.as_slice() else { panic!() };
    assert_eq!((l.t1, l.t2), (100, 200));
    assert_eq!(c.deadline(), Some(t0 + secs(100)));

    let mut c = Client::new(MAC, None, None, 9, t0);
    let d = sent(&c.on_timer(t0)).0.clone();
    let r = sent(&c.on_message(&reply(&d, MessageType::Offer, None), t0)).0.clone();
    c.on_message(&reply(&r, MessageType::Ack, Some(u32::MAX)), t0);
    assert_eq!((c.state(), c.deadline()), (State::Bound, None));
    assert_eq!(c.lease().unwrap().remaining(t0 + secs(1 << 30)), None);
}

#[test]
fn masks_and_classful_defaults() {
    assert_eq!(mask_prefix(Ipv4Addr::new(255, 255, 255, 0)), Some(24));
    assert_eq!(mask_prefix(Ipv4Addr::new(255, 255, 255, 255)), Some(32));
    assert_eq!(mask_prefix(Ipv4Addr::new(255, 0, 255, 0)), None);
    assert_eq!(classful(Ipv4Addr::new(10, 1, 2, 3)), 8);
    assert_eq!(classful(Ipv4Addr::new(172, 16, 0, 1)), 16);
    assert_eq!(classful(Ipv4Addr::new(192, 0, 2, 1)), 24);
}

#[test]
fn link_up_asks_at_once() {
    let t0 = Instant::now();
    let mut c = Client::new(MAC, None, None, 11, t0);
    c.on_timer(t0);
    let a = c.link_up(t0 + secs(1));
    assert_eq!(sent(&a).0.message_type(), Some(MessageType::Discover), "no waiting for the 4 s retransmission");
    assert_eq!(c.state(), State::Selecting);

    let (mut c, t0) = bound(1000);
    let a = c.link_up(t0 + secs(10));
    let (req, to) = sent(&a);
    assert_eq!((req.message_type(), req.ciaddr, to), (Some(MessageType::Request), OFFERED, Ipv4Addr::BROADCAST));
    assert_eq!(c.state(), State::Rebinding);
    let req = req.clone();
    let a = c.on_message(&reply(&req, MessageType::Nak, None), t0 + secs(11));
    assert_eq!(a, vec![Action::Lost], "another network: the old address goes");
}

fn lease_with(address: &str, routers: &[&str], dns: &[&str]) -> Lease {
    Lease {
        address: address.parse().unwrap(),
        server: SERVER,
        routers: routers.iter().map(|r| r.parse().unwrap()).collect(),
        dns: dns.iter().map(|r| r.parse().unwrap()).collect(),
        ntp: Vec::new(),
        domain: None,
        lease_secs: Some(600),
        t1: 300,
        t2: 525,
        since: Instant::now(),
    }
}

#[test]
fn vet_refuses_wan_addresses_in_the_lan_and_drops_loopback_and_own_servers() {
    let lan: Ipv4Cidr = "192.168.1.1/24".parse().unwrap();
    // The WAN address inside (or overlapping) the LAN subnet, or not a host address: refused.
    for bad in ["192.168.1.77/24", "192.168.0.5/16", "127.0.0.2/8", "0.0.0.0/0", "224.0.0.5/24"] {
        assert!(lease_with(bad, &["203.0.113.1"], &[]).vet(lan).is_err(), "{bad}");
    }
    // Loopback, the router's LAN address, its own WAN address: left out, each said.
    let l = lease_with(
        "203.0.113.7/24",
        &["127.0.0.1", "192.168.1.1", "203.0.113.7", "203.0.113.1"],
        &["127.0.0.1", "192.168.1.1", "127.0.0.53", "203.0.113.7", "9.9.9.9"],
    );
    let mut l = l;
    l.ntp = ["127.0.0.1", "192.168.1.1", "203.0.113.7", "255.255.255.255", "203.0.113.123"].iter().map(|r| r.parse().unwrap()).collect();
    let (ok, dropped) = l.vet(lan).unwrap();
    assert_eq!(ok.routers, vec![OFFERED_ROUTER]);
    assert_eq!(ok.dns, vec![Ipv4Addr::new(9, 9, 9, 9)]);
    assert_eq!(ok.ntp, vec![Ipv4Addr::new(203, 0, 113, 123)], "NTP servers (option 42): the same rules");
    assert_eq!(dropped.len(), 11, "{dropped:?}");
    assert!(dropped.iter().any(|d| d.contains("192.168.1.1 is the router itself")), "{dropped:?}");
    assert!(dropped.iter().any(|d| d == "NTP server 192.168.1.1 ignored: the router itself"), "{dropped:?}");
}

const OFFERED_ROUTER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
