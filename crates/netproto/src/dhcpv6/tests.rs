use super::*;

/// An ADVERTISE as ISC dhcpd 4.4 sends it for a Solicit with IA_PD (hand-assembled from
/// RFC 8415's layouts, values of a real exchange).
fn advertise() -> Vec<u8> {
    let mut m = Message::new(msg::ADVERTISE, 0x00abcdef);
    m.options.push(Opt::ClientId(duid_ll([2, 0, 0, 0, 0, 1])));
    m.options.push(Opt::ServerId(vec![0, 1, 0, 1, 0x2a, 0x2b, 0x2c, 0x2d, 2, 0, 0, 0, 0, 9]));
    m.options.push(Opt::IaPd(Ia {
        iaid: 1,
        t1: 1800,
        t2: 2880,
        options: vec![Opt::IaPrefix(IaPrefix { preferred: 3600, valid: 7200, len: 60, prefix: "2001:db8:0:10::".parse().unwrap(), options: vec![] })],
    }));
    m.options.push(Opt::DnsServers(vec!["2001:db8::53".parse().unwrap()]));
    m.options.push(Opt::Preference(10));
    m.encode().unwrap()
}

#[test]
fn an_advertise_round_trips_and_reads() {
    let bytes = advertise();
    assert_eq!(&bytes[..4], &[2, 0xab, 0xcd, 0xef]);
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.encode().unwrap(), bytes);
    let pd = m.ia_pd(1).unwrap();
    let p = pd.prefixes().next().unwrap();
    assert_eq!((p.prefix.to_string(), p.len, p.valid), ("2001:db8:0:10::".to_string(), 60, 7200));
    assert_eq!(pd.status().0, status::SUCCESS);
    assert_eq!(m.dns_servers(), vec!["2001:db8::53".parse::<Ipv6Addr>().unwrap()]);
    assert_eq!(m.preference(), 10);
    assert!(m.ia_pd(2).is_none() && m.ia_na(1).is_none());
}

#[test]
fn every_truncation_is_an_error_never_a_panic() {
    let bytes = advertise();
    for n in 0..bytes.len() {
        // A cut at an option boundary is a shorter valid message; anywhere else, an error.
        if let Ok(m) = Message::parse(&bytes[..n]) {
            assert_eq!(m.encode().unwrap(), &bytes[..n], "a prefix of {n} bytes re-encodes to itself");
        }
    }
    let e = Message::parse(&bytes[..bytes.len() - 1]).unwrap_err().to_string();
    assert!(e.contains("option 7") && e.contains("past the end"), "{e}");
}

#[test]
fn bad_lengths_and_relays_are_named() {
    assert_eq!(Message::parse(&[12, 0, 0, 0]).unwrap_err(), Dhcpv6Error::NotClientServer(12));
    let e = Message::parse(&[7, 0, 0, 1, 0, 25, 0, 4, 0, 0, 0, 1]).unwrap_err().to_string();
    assert_eq!(e, "option 25 has 4 bytes, must be at least 12 (IAID, T1, T2)");
    let e = Message::parse(&[7, 0, 0, 1, 0, 23, 0, 3, 1, 2, 3]).unwrap_err().to_string();
    assert!(e.contains("multiple of 16"), "{e}");
}

#[test]
fn deep_nesting_is_kept_as_bytes() {
    // IA_PD > IAPREFIX > IA_PD (depth 3: not parsed) > ...
    let inner = Opt::Other { code: code::IA_PD, data: vec![0; 12] };
    let p = IaPrefix { preferred: 1, valid: 2, len: 64, prefix: Ipv6Addr::UNSPECIFIED, options: vec![inner.clone()] };
    let m = Message { msg_type: msg::REPLY, xid: 1, options: vec![Opt::IaPd(Ia { iaid: 1, t1: 0, t2: 0, options: vec![Opt::IaPrefix(p)] })] };
    let back = Message::parse(&m.encode().unwrap()).unwrap();
    assert_eq!(back, m);
}
