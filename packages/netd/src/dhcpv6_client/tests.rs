//! The DHCPv6 client's exchanges and timing with a fake clock.

use super::*;

const MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x42];

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn server_id() -> Vec<u8> {
    duid_ll([2, 0, 0, 0, 0, 9])
}

fn sent(a: &[Action]) -> &Message {
    match a {
        [Action::Send(m)] => m,
        other => panic!("expected one Send, got {other:?}"),
    }
}

/// The server's answer of type `t` to `req`, delegating 2001:db8:0:10::/60.
fn answer(req: &Message, t: u8, preference: Option<u8>, valid: u32) -> Message {
    let mut m = Message::new(t, req.xid);
    m.options.push(Opt::ServerId(server_id()));
    m.options.push(Opt::ClientId(req.client_id().unwrap().to_vec()));
    let prefix = IaPrefix { preferred: valid / 2, valid, len: 60, prefix: "2001:db8:0:10::".parse().unwrap(), options: vec![] };
    m.options.push(Opt::IaPd(Ia { iaid: IAID, t1: 0, t2: 0, options: vec![Opt::IaPrefix(prefix)] }));
    m.options.push(Opt::DnsServers(vec!["2001:db8::53".parse().unwrap()]));
    if let Some(p) = preference {
        m.options.push(Opt::Preference(p));
    }
    m
}

fn bound(valid: u32) -> (Client, Instant) {
    let t0 = Instant::now();
    let mut c = Client::new(MAC, 60, 7, t0);
    let a = c.on_timer(t0 + secs(1));
    let sol = sent(&a).clone();
    let a = c.on_message(&answer(&sol, msg::ADVERTISE, Some(255), valid), t0 + secs(1));
    assert_eq!(sent(&a).msg_type, msg::REQUEST, "preference 255: REQUEST at once");
    assert_eq!(c.state(), State::Requesting);
    let req = sent(&a).clone();
    let a = c.on_message(&answer(&req, msg::REPLY, None, valid), t0 + secs(1));
    assert!(matches!(a.as_slice(), [Action::Bound(_)]), "{a:?}");
    (c, t0)
}

#[test]
fn solicit_advertise_request_reply_delegates_the_prefix() {
    let t0 = Instant::now();
    let mut c = Client::new(MAC, 56, 1, t0);
    assert!(c.deadline().unwrap() <= t0 + secs(1), "the first SOLICIT waits at most a second");
    let a = c.on_timer(t0 + secs(1));
    let sol = sent(&a).clone();
    assert_eq!(sol.msg_type, msg::SOLICIT);
    assert_eq!(sol.client_id(), Some(&duid_ll(MAC)[..]));
    assert!(sol.server_id().is_none());
    let hint = sol.ia_pd(IAID).unwrap().prefixes().next().unwrap().len;
    assert_eq!(hint, 56, "the configured length is the hint");
    assert!(sol.ia_na(IAID).is_some());
    assert!(sol.options.contains(&Opt::Oro(vec![code::DNS_SERVERS, code::SNTP_SERVERS])), "DNS and SNTP servers asked for");

    // Two ADVERTISEs: the higher preference wins, at the end of the first timeout.
    let low = answer(&sol, msg::ADVERTISE, Some(1), 7200);
    let mut high = answer(&sol, msg::ADVERTISE, Some(9), 7200);
    high.options[0] = Opt::ServerId(duid_ll([2, 0, 0, 0, 0, 0x0a]));
    assert!(c.on_message(&low, t0 + secs(1)).is_empty());
    assert!(c.on_message(&high, t0 + secs(1)).is_empty());
    let wrong_xid = Message { xid: sol.xid ^ 1, ..answer(&sol, msg::ADVERTISE, Some(255), 7200) };
    assert!(c.on_message(&wrong_xid, t0 + secs(1)).is_empty(), "another transaction");
    let a = c.on_timer(c.deadline().unwrap());
    let req = sent(&a).clone();
    assert_eq!(req.msg_type, msg::REQUEST);
    assert_eq!(req.server_id(), Some(&duid_ll([2, 0, 0, 0, 0, 0x0a])[..]), "the preferred server");
    let now = t0 + secs(3);
    let a = c.on_message(&answer(&req, msg::REPLY, None, 7200), now);
    let Action::Bound(lease) = &a[0] else { panic!("{a:?}") };
    assert_eq!(lease.prefix.unwrap().0.to_string(), "2001:db8:0:10::/60");
    assert_eq!(lease.dns, vec!["2001:db8::53".parse::<Ipv6Addr>().unwrap()]);
    assert_eq!((lease.t1, lease.t2), (1800, 2880), "0.5 and 0.8 of the preferred lifetime when the server sets none");
    assert_eq!(c.state(), State::Bound);
    assert_eq!(c.deadline(), Some(lease.since + secs(1800)));
}

#[test]
fn renew_at_t1_rebind_at_t2_lost_at_the_end() {
    let (mut c, _t0) = bound(100);
    let since = c.lease().unwrap().since;
    let t1 = since + secs(25);
    assert_eq!(c.deadline(), Some(t1));
    let a = c.on_timer(t1);
    let renew = sent(&a).clone();
    assert_eq!(renew.msg_type, msg::RENEW);
    assert_eq!(renew.server_id(), Some(&server_id()[..]), "RENEW goes to the lease's server");
    let held = renew.ia_pd(IAID).unwrap().prefixes().next().unwrap().clone();
    assert_eq!((held.prefix.to_string(), held.len), ("2001:db8:0:10::".to_string(), 60), "RENEW names the prefix held");
    // No answer: retransmissions until T2 (40 s), then REBIND without server id.
    let mut now = t1;
    let mut kinds = Vec::new();
    while now < since + secs(100) {
        now = c.deadline().unwrap();
        for a in c.on_timer(now) {
            match a {
                Action::Send(m) => kinds.push((m.msg_type, m.server_id().is_some())),
                Action::Lost => kinds.push((0, false)),
                Action::Bound(_) => panic!("bound without a reply"),
            }
        }
    }
    assert!(kinds.contains(&(msg::REBIND, false)), "{kinds:?}");
    assert!(kinds.contains(&(0, false)), "the lease ends at its valid lifetime: {kinds:?}");
    assert!(c.lease().is_none());
    assert_eq!(c.state(), State::Soliciting);
}

#[test]
fn no_binding_on_renew_requests_again_and_a_refusal_solicits_again() {
    let (mut c, t0) = bound(100);
    let a = c.on_timer(c.deadline().unwrap());
    let renew = sent(&a).clone();
    let mut nb = Message::new(msg::REPLY, renew.xid);
    nb.options = vec![
        Opt::ServerId(server_id()),
        Opt::ClientId(duid_ll(MAC)),
        Opt::IaPd(Ia { iaid: IAID, t1: 0, t2: 0, options: vec![Opt::Status(netproto::dhcpv6::Status { code: status::NO_BINDING, message: vec![] })] }),
    ];
    let a = c.on_message(&nb, t0 + secs(30));
    assert_eq!(sent(&a).msg_type, msg::REQUEST);
    assert!(c.lease().is_some(), "the lease stays while it is asked for again");
    // A REPLY to REQUEST with nothing usable: SOLICIT again.
    let again = sent(&a).clone();
    let mut empty = Message::new(msg::REPLY, again.xid);
    empty.options = vec![Opt::ServerId(server_id()), Opt::ClientId(duid_ll(MAC))];
    assert!(c.on_message(&empty, t0 + secs(31)).is_empty());
    assert_eq!(c.state(), State::Soliciting);
}

#[test]
fn retransmissions_back_off_to_the_maximum() {
    let t0 = Instant::now();
    let mut c = Client::new(MAC, 60, 3, t0);
    let mut gaps = Vec::new();
    let mut last = None;
    for _ in 0..16 {
        let now = c.deadline().unwrap();
        let a = c.on_timer(now);
        assert_eq!(sent(&a).msg_type, msg::SOLICIT);
        if let Some(l) = last {
            gaps.push(now.duration_since(l).as_secs_f64());
        }
        last = Some(now);
    }
    assert!((0.9..=1.1).contains(&gaps[0]), "{gaps:?}");
    assert!(gaps.windows(2).all(|w| w[1] >= w[0] * 1.5 || w[1] >= 3240.0), "doubling: {gaps:?}");
    assert!(gaps.iter().all(|g| *g <= 3960.0), "at most SOL_MAX_RT + 10%: {gaps:?}");
}

#[test]
fn release_gives_the_lease_back_once() {
    let (mut c, t0) = bound(7200);
    let Some(Action::Send(rel)) = c.release(t0 + secs(2)) else { panic!("no RELEASE") };
    assert_eq!(rel.msg_type, msg::RELEASE);
    assert_eq!(rel.server_id(), Some(&server_id()[..]));
    assert!(rel.ia_pd(IAID).unwrap().prefixes().next().unwrap().valid > 0, "names the prefix given back");
    assert!(c.lease().is_none() && c.deadline().is_none());
    assert!(c.release(t0 + secs(3)).is_none());
}

#[test]
fn vet_refuses_unusable_prefixes_and_servers() {
    let t0 = Instant::now();
    let life = Lifetimes { preferred: 10, valid: 20 };
    let ula: Ipv6Prefix = "fd00:1:2::/48".parse().unwrap();
    let lease = Lease {
        server_id: server_id(),
        prefix: Some(("2001:db8:0:10::/60".parse().unwrap(), life)),
        address: Some(("2001:db8:0:10::5".parse().unwrap(), life)),
        dns: vec![
            "::1".parse().unwrap(),
            "fe80::1".parse().unwrap(),
            "fd00:1:2::1".parse().unwrap(),
            "2001:db8:0:11::1".parse().unwrap(),
            "2001:db8::53".parse().unwrap(),
        ],
        ntp: vec!["fe80::123".parse().unwrap(), "fd00:1:2::1".parse().unwrap(), "2001:db8::123".parse().unwrap()],
        t1: 5,
        t2: 8,
        since: t0,
    };
    let (ok, dropped) = lease.vet(Some(ula)).unwrap();
    assert_eq!(ok.dns, vec!["2001:db8::53".parse::<Ipv6Addr>().unwrap()]);
    assert_eq!(ok.ntp, vec!["2001:db8::123".parse::<Ipv6Addr>().unwrap()], "SNTP servers (option 31): the same rules");
    assert!(ok.address.is_none(), "an address inside the delegated prefix");
    assert_eq!(dropped.len(), 7, "{dropped:?}");
    let bad = Lease { prefix: Some(("fe80::/64".parse().unwrap(), life)), address: None, ..lease.clone() };
    assert!(bad.vet(None).unwrap_err().contains("not a global unicast prefix"));
    let long = Lease { prefix: Some(("2001:db8::/80".parse().unwrap(), life)), address: None, ..lease.clone() };
    assert!(long.vet(None).unwrap_err().contains("longer than /64"));
    let many = Lease { dns: (1..100u16).map(|i| Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, i)).collect(), ..lease };
    let (ok, dropped) = many.vet(None).unwrap();
    assert_eq!(ok.dns.len(), MAX_DNS);
    assert!(dropped.iter().any(|d| d.contains("99 DNS servers")), "{dropped:?}");
}
