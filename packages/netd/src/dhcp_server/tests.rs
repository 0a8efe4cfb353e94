//! The server's answers, addresses and lease bookkeeping, called directly with messages
//! and Unix times.

use super::*;
use netproto::dhcp::{HwAddr, FLAG_BROADCAST};

const A: [u8; 6] = [2, 0, 0, 0, 0, 0xa];
const B: [u8; 6] = [2, 0, 0, 0, 0, 0xb];
const NOW: u64 = 1_700_000_000;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn server(pool: (&str, &str)) -> Server {
    let mut net = Network::default();
    net.dhcp.start = Some(ip(pool.0));
    net.dhcp.end = Some(ip(pool.1));
    net.dhcp.static_leases.push(StaticLease { mac: "02:00:00:00:00:5a".parse().unwrap(), ip: ip("192.168.1.10"), hostname: Some("nas".into()) });
    Server::new(ServerConfig::from_network(&net, &[]), LeaseTable::default())
}

fn msg(t: MessageType, mac: [u8; 6]) -> Message {
    let mut m = Message::request(t, 0x1234, mac);
    m.flags = FLAG_BROADCAST;
    m
}

fn discover(s: &mut Server, mac: [u8; 6], now: u64) -> Reply {
    s.handle(&msg(MessageType::Discover, mac), now).unwrap().unwrap()
}

fn request(s: &mut Server, mac: [u8; 6], want: Ipv4Addr, host: Option<&str>, now: u64) -> Reply {
    let mut m = msg(MessageType::Request, mac);
    m.options.set_server_id(ip("192.168.1.1"));
    m.options.set_requested_ip(want);
    if let Some(h) = host {
        m.options.set_hostname(h.as_bytes());
    }
    s.handle(&m, now).unwrap().unwrap()
}

fn lease(s: &mut Server, mac: [u8; 6], host: Option<&str>, now: u64) -> Ipv4Addr {
    let offer = discover(s, mac, now);
    let ack = request(s, mac, offer.msg.yiaddr, host, now);
    assert_eq!(ack.msg.message_type(), Some(MessageType::Ack));
    ack.msg.yiaddr
}

#[test]
fn offer_and_ack_carry_the_lan_settings_and_record_the_hostname() {
    let mut s = server(("192.168.1.100", "192.168.1.249"));
    let offer = discover(&mut s, A, NOW);
    assert_eq!(offer.msg.message_type(), Some(MessageType::Offer));
    assert_eq!(offer.msg.yiaddr, ip("192.168.1.100"));
    assert_eq!((offer.to, offer.port, offer.arp), (Ipv4Addr::BROADCAST, 68, None));
    let o = &offer.msg.options;
    assert_eq!(o.server_id(), Some(ip("192.168.1.1")));
    assert_eq!(o.subnet_mask(), Some(ip("255.255.255.0")));
    assert_eq!(o.routers(), vec![ip("192.168.1.1")]);
    assert_eq!(o.dns_servers(), vec![ip("192.168.1.1")], "the router's DNS forwarder");
    assert_eq!(o.domain_name(), Some(&b"lan"[..]));
    assert_eq!((o.lease_time(), o.renewal_time(), o.rebinding_time()), (Some(43200), Some(21600), Some(37800)));
    assert!(!s.take_dirty(), "an offer is not a lease");

    let ack = request(&mut s, A, offer.msg.yiaddr, Some("Laptop"), NOW);
    assert_eq!((ack.msg.message_type(), ack.msg.yiaddr), (Some(MessageType::Ack), ip("192.168.1.100")));
    assert!(s.take_dirty());
    let e = s.leases().by_mac(A).unwrap();
    assert_eq!((e.ip, e.expires, e.hostname.as_deref()), (ip("192.168.1.100"), NOW + 43200, Some("laptop")));
    assert_eq!(s.hosts(NOW), vec![("nas".to_string(), ip("192.168.1.10")), ("laptop".to_string(), ip("192.168.1.100"))]);
    assert_eq!(s.hosts(NOW + 43200), vec![("nas".to_string(), ip("192.168.1.10"))], "expired leases do not resolve");
}

#[test]
fn static_leases_are_kept_for_their_client_only() {
    let mut s = server(("192.168.1.9", "192.168.1.11"));
    let nas = [2, 0, 0, 0, 0, 0x5a];
    assert_eq!(lease(&mut s, A, None, NOW), ip("192.168.1.9"));
    assert_eq!(lease(&mut s, B, None, NOW), ip("192.168.1.11"), "192.168.1.10 is the NAS's");
    assert_eq!(lease(&mut s, nas, Some("other"), NOW), ip("192.168.1.10"));
    assert_eq!(s.leases().by_mac(nas).unwrap().hostname.as_deref(), Some("nas"), "the static hostname wins");
    let r = request(&mut s, A, ip("192.168.1.10"), None, NOW);
    assert_eq!(r.msg.message_type(), Some(MessageType::Nak));
    assert_eq!(r.to, Ipv4Addr::BROADCAST);
}

#[test]
fn a_client_gets_its_address_back_and_the_one_it_asks_for() {
    let mut s = server(("192.168.1.100", "192.168.1.249"));
    let mut d = msg(MessageType::Discover, A);
    d.options.set_requested_ip(ip("192.168.1.150"));
    assert_eq!(s.handle(&d, NOW).unwrap().unwrap().msg.yiaddr, ip("192.168.1.150"));
    let first = lease(&mut s, B, None, NOW);
    // B releases; A cannot take B's address while B's lease runs, B gets it back later.
    let mut rel = msg(MessageType::Release, B);
    rel.ciaddr = first;
    rel.options.set_server_id(ip("192.168.1.1"));
    assert_eq!(s.handle(&rel, NOW + 10).unwrap(), None);
    assert_eq!(s.leases().by_mac(B).unwrap().expires, NOW + 10);
    assert_eq!(lease(&mut s, B, None, NOW + 3 * 86400), first);
}

#[test]
fn declined_addresses_are_set_aside() {
    let mut s = server(("192.168.1.100", "192.168.1.101"));
    let got = lease(&mut s, A, None, NOW);
    let mut dec = msg(MessageType::Decline, A);
    dec.options.set_requested_ip(got);
    dec.options.set_server_id(ip("192.168.1.1"));
    assert_eq!(s.handle(&dec, NOW).unwrap(), None);
    assert!(s.leases().by_mac(A).is_none());
    assert_eq!(discover(&mut s, A, NOW + 1).msg.yiaddr, ip("192.168.1.101"));
    assert!(s.handle(&msg(MessageType::Discover, B), NOW + 2).is_err(), ".100 declined, .101 offered to A");
    assert_eq!(discover(&mut s, B, NOW + 601).msg.yiaddr, ip("192.168.1.100"), "declined for 10 minutes only");
}

#[test]
fn an_exhausted_pool_reuses_the_oldest_expired_lease() {
    let mut s = server(("192.168.1.100", "192.168.1.100"));
    assert_eq!(lease(&mut s, A, None, NOW), ip("192.168.1.100"));
    let e = s.handle(&msg(MessageType::Discover, B), NOW + 1).unwrap_err();
    assert!(e.contains("no free address"), "{e}");
    assert_eq!(discover(&mut s, B, NOW + 43200).msg.yiaddr, ip("192.168.1.100"));
}

#[test]
fn requests_for_another_server_withdraw_the_offer() {
    let mut s = server(("192.168.1.100", "192.168.1.249"));
    discover(&mut s, A, NOW);
    let mut r = msg(MessageType::Request, A);
    r.options.set_server_id(ip("192.168.1.2"));
    r.options.set_requested_ip(ip("192.168.1.100"));
    assert_eq!(s.handle(&r, NOW).unwrap(), None);
    assert_eq!(discover(&mut s, B, NOW).msg.yiaddr, ip("192.168.1.100"), "A's offer was withdrawn");
}

#[test]
fn init_reboot_renew_and_inform() {
    let mut s = server(("192.168.1.100", "192.168.1.249"));
    // INIT-REBOOT: no server id, requested address.
    let mut r = msg(MessageType::Request, A);
    r.options.set_requested_ip(ip("10.0.0.5"));
    let nak = s.handle(&r, NOW).unwrap().unwrap();
    assert_eq!(nak.msg.message_type(), Some(MessageType::Nak));
    r.options.set_requested_ip(ip("192.168.1.120"));
    assert_eq!(s.handle(&r, NOW).unwrap().unwrap().msg.yiaddr, ip("192.168.1.120"));
    // Renewing: ciaddr, unicast back to it.
    let mut renew = msg(MessageType::Request, A);
    renew.flags = 0;
    renew.ciaddr = ip("192.168.1.120");
    let ack = s.handle(&renew, NOW + 100).unwrap().unwrap();
    assert_eq!((ack.msg.message_type(), ack.to, ack.arp), (Some(MessageType::Ack), ip("192.168.1.120"), None));
    assert_eq!(s.leases().by_mac(A).unwrap().expires, NOW + 100 + 43200);
    // Renewing an address of another network: silence.
    renew.ciaddr = ip("10.0.0.5");
    assert_eq!(s.handle(&renew, NOW).unwrap(), None);
    // INFORM: options, no address, no lease time.
    let mut inf = msg(MessageType::Inform, B);
    inf.ciaddr = ip("192.168.1.77");
    let ack = s.handle(&inf, NOW).unwrap().unwrap();
    assert_eq!((ack.msg.yiaddr, ack.msg.ciaddr, ack.to), (Ipv4Addr::UNSPECIFIED, ip("192.168.1.77"), ip("192.168.1.77")));
    assert_eq!(ack.msg.options.lease_time(), None);
    assert_eq!(ack.msg.options.routers(), vec![ip("192.168.1.1")]);
}

#[test]
fn without_the_broadcast_flag_replies_are_unicast_with_an_arp_entry() {
    let mut s = server(("192.168.1.100", "192.168.1.249"));
    let mut d = msg(MessageType::Discover, A);
    d.flags = 0;
    let r = s.handle(&d, NOW).unwrap().unwrap();
    assert_eq!((r.to, r.port, r.arp), (ip("192.168.1.100"), 68, Some((ip("192.168.1.100"), A))));
    d.giaddr = ip("192.168.1.2");
    let r = s.handle(&d, NOW).unwrap().unwrap();
    assert_eq!((r.to, r.port, r.arp), (ip("192.168.1.2"), 67, None));
}

#[test]
fn odd_requests_are_refused_with_a_reason() {
    let mut s = server(("192.168.1.100", "192.168.1.249"));
    let mut m = msg(MessageType::Discover, [3, 0, 0, 0, 0, 1]);
    assert!(s.handle(&m, NOW).unwrap_err().contains("not unicast"));
    m.chaddr = HwAddr::ethernet(A);
    m.options.remove(netproto::dhcp::code::MESSAGE_TYPE);
    assert!(s.handle(&m, NOW).unwrap_err().contains("BOOTP"));
    let offer = msg(MessageType::Offer, A);
    assert!(s.handle(&offer, NOW).unwrap_err().contains("not for a server"));
    let mut reply = msg(MessageType::Discover, A).reply(MessageType::Offer);
    reply.op = Op::Reply;
    assert_eq!(s.handle(&reply, NOW).unwrap(), None);
}

#[test]
fn reconfiguring_drops_leases_that_no_longer_fit() {
    let mut s = server(("192.168.1.100", "192.168.1.249"));
    lease(&mut s, A, None, NOW);
    s.take_dirty();
    let mut net = Network::default();
    net.lan.address = "10.0.0.1/24".parse().unwrap();
    s.reconfigure(ServerConfig::from_network(&net, &[]));
    assert!(s.leases().entries.is_empty());
    assert!(s.take_dirty());
}

fn decline(s: &mut Server, mac: [u8; 6], what: Ipv4Addr, now: u64) -> Result<Option<Reply>, String> {
    let mut dec = msg(MessageType::Decline, mac);
    dec.options.set_requested_ip(what);
    dec.options.set_server_id(ip("192.168.1.1"));
    s.handle(&dec, now)
}

/// Issue "netd holds under abuse": a DECLINE counts only from the client that holds the
/// address, for pool addresses, once per address, at most MAX_DECLINED at a time.
#[test]
fn a_thousand_declines_from_one_client_leave_the_pool_usable() {
    let mut s = server(("192.168.1.100", "192.168.1.109"));
    let own = lease(&mut s, A, None, NOW);
    for i in 0..1000u32 {
        // Every pool address (A holds none of the others), addresses outside the pool,
        // and its own address again and again.
        let what = match i % 4 {
            0 => own,
            1 => Ipv4Addr::from(u32::from(ip("192.168.1.100")) + i % 10),
            2 => Ipv4Addr::from(u32::from(ip("10.0.0.0")) + i),
            _ => ip("192.168.1.10"),
        };
        let _ = decline(&mut s, A, what, NOW + 1);
    }
    assert_eq!(s.declined(), 1, "only A's own address, once");
    assert!(s.leases().by_mac(A).is_none(), "A's lease ended with its DECLINE");
    let b = lease(&mut s, B, None, NOW + 2);
    assert_ne!(b, own, "the declined address is set aside");
    assert!(s.in_pool(b));
    // Somebody else's address cannot be declined.
    assert!(decline(&mut s, A, b, NOW + 3).is_err());
    assert_eq!(s.leases().by_ip(b).map(|e| e.mac), Some(B));
    // The declined address comes back after 10 minutes.
    let c = [2, 0, 0, 0, 0, 0xc];
    assert_eq!(discover(&mut s, c, NOW + 1 + 601).msg.yiaddr, own);
}

#[test]
fn declined_addresses_are_capped() {
    let mut s = server(("192.168.1.100", "192.168.1.200"));
    for n in 0..(MAX_DECLINED as u8 + 5) {
        let mac = [2, 0, 0, 0, 1, n];
        let got = lease(&mut s, mac, None, NOW);
        let r = decline(&mut s, mac, got, NOW);
        assert_eq!(r.is_ok(), (n as usize) < MAX_DECLINED, "{n}: {r:?}");
    }
    assert_eq!(s.declined(), MAX_DECLINED);
}

/// Issue "netd holds under abuse": a renewal moves the expiry in RAM only; a new binding
/// or a new address is to be written.
#[test]
fn renewals_do_not_make_the_table_dirty() {
    let mut s = server(("192.168.1.100", "192.168.1.109"));
    let got = lease(&mut s, A, Some("laptop"), NOW);
    assert!(s.take_dirty(), "a new binding is written");
    for i in 0..1000 {
        request(&mut s, A, got, Some("laptop"), NOW + i);
        assert!(!s.take_dirty(), "renewal {i}");
    }
    assert_eq!(s.leases().by_mac(A).unwrap().expires, NOW + 999 + 43200);
    assert!(s.take_stale(), "written at shutdown");
    request(&mut s, A, got, Some("other-name"), NOW + 1000);
    assert!(s.take_dirty(), "a new name is written");
}

#[test]
fn the_lease_table_stays_within_its_budget() {
    let mut s = server(("192.168.1.100", "192.168.1.249"));
    let mut cfg = s.config().clone();
    cfg.max_leases = 3;
    s.reconfigure(cfg);
    let macs: Vec<[u8; 6]> = (1..=6).map(|i| [2, 0, 0, 0, 1, i]).collect();
    for m in &macs[..3] {
        lease(&mut s, *m, None, NOW);
    }
    // Full: a fourth client is offered nothing, and a REQUEST for a free address is NAKed.
    let e = s.handle(&msg(MessageType::Discover, macs[3]), NOW).unwrap_err();
    assert!(e.contains("the lease table is full (3 leases"), "{e}");
    let nak = request(&mut s, macs[3], ip("192.168.1.200"), None, NOW);
    assert_eq!(nak.msg.message_type(), Some(MessageType::Nak));
    assert_eq!(s.leases().entries.len(), 3);
    // A client with a lease still renews it.
    let renew = request(&mut s, macs[0], ip("192.168.1.100"), None, NOW + 100);
    assert_eq!(renew.msg.message_type(), Some(MessageType::Ack));
    // Once leases expire, new clients take their places, and the table stays at 3.
    let later = NOW + 43_200 + 1;
    assert_eq!(lease(&mut s, macs[4], None, later), ip("192.168.1.101"), "the oldest expired lease's address");
    assert_eq!(lease(&mut s, macs[5], None, later), ip("192.168.1.102"));
    assert_eq!(s.leases().entries.len(), 3);
}
