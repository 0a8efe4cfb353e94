use super::*;

const FAM: u16 = 0x1d;

fn payloads(reqs: &mut [Request]) -> Vec<(u16, Vec<u8>)> {
    reqs.iter_mut().map(|r| (FAM, r.finish(1)[16..].to_vec())).collect()
}

fn ip(i: u32, j: u32) -> AllowedIp {
    if j == 3 {
        AllowedIp { addr: IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, i as u16, 0, 0, 0, 0)), cidr: 64 }
    } else {
        AllowedIp { addr: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | i << 8 | j << 6)), cidr: 26 }
    }
}

fn key(i: u32) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..4].copy_from_slice(&i.to_be_bytes());
    k[31] = 0x42;
    k
}

fn peers(n: u32, per: u32) -> Vec<PeerChange> {
    (0..n)
        .map(|i| PeerChange {
            public_key: key(i),
            remove: false,
            preshared_key: (i % 2 == 0).then_some([i as u8; 32]),
            endpoint: (i % 3 == 0).then(|| SocketAddr::from(([203, 0, 113, (i % 250) as u8], 51820 + i as u16))),
            persistent_keepalive: Some(25),
            replace_allowed_ips: true,
            allowed_ips: (0..per).map(|j| ip(i, j)).collect(),
        })
        .collect()
}

#[test]
fn sockaddrs_round_trip() {
    for a in ["192.0.2.1:51820", "[2001:db8::1]:443"] {
        let a: SocketAddr = a.parse().unwrap();
        let b = sockaddr_bytes(&a);
        assert_eq!(b.len(), if a.is_ipv4() { 16 } else { 28 });
        assert_eq!(&b[2..4], &a.port().to_be_bytes(), "port in network order");
        assert_eq!(sockaddr_of(&b), Some(a));
    }
    assert_eq!(sockaddr_of(&[2, 0, 1]), None);
    assert_eq!(sockaddr_of(&[99, 0, 0, 0, 0, 0, 0, 0]), None);
}

#[test]
fn set_layout_of_one_peer() {
    let change = DeviceChange {
        ifname: "wg0".into(),
        private_key: Some([1; 32]),
        listen_port: Some(51820),
        replace_peers: false,
        peers: vec![PeerChange { persistent_keepalive: None, endpoint: None, preshared_key: None, ..peers(1, 1).remove(0) }],
    };
    let mut reqs = set_device(FAM, &change, SET_MESSAGE_LIMIT);
    assert_eq!(reqs.len(), 1);
    let b = reqs[0].finish(7).to_vec();
    assert_eq!(&b[4..6], &FAM.to_ne_bytes());
    assert_eq!(&b[16..20], &[WG_CMD_SET_DEVICE, VERSION, 0, 0]);
    let top: Vec<u16> = attrs(&b[20..]).map(|a| a.kind).collect();
    assert_eq!(top, [WGDEVICE_A_IFNAME, WGDEVICE_A_PRIVATE_KEY, WGDEVICE_A_LISTEN_PORT, WGDEVICE_A_PEERS]);
    let peers_attr = attrs(&b[20..]).find(|a| a.kind == WGDEVICE_A_PEERS).unwrap();
    assert!(peers_attr.nested, "generic netlink wants NLA_F_NESTED");
    let peer = attrs(peers_attr.value).next().unwrap();
    let kinds: Vec<u16> = attrs(peer.value).map(|a| a.kind).collect();
    assert_eq!(kinds, [WGPEER_A_PUBLIC_KEY, WGPEER_A_FLAGS, WGPEER_A_ALLOWEDIPS]);
    let flags = attrs(peer.value).find(|a| a.kind == WGPEER_A_FLAGS).and_then(|a| u32_of(a.value));
    assert_eq!(flags, Some(WGPEER_F_REPLACE_ALLOWEDIPS));
    assert_eq!(b.len(), u32::from_ne_bytes(b[0..4].try_into().unwrap()) as usize);
}

#[test]
fn removal_is_the_key_and_the_flag() {
    let change = DeviceChange { ifname: "wg0".into(), peers: vec![PeerChange::remove(key(9))], ..Default::default() };
    let mut reqs = set_device(FAM, &change, SET_MESSAGE_LIMIT);
    let b = reqs[0].finish(1).to_vec();
    let peers_attr = attrs(&b[20..]).find(|a| a.kind == WGDEVICE_A_PEERS).unwrap();
    let peer = attrs(peers_attr.value).next().unwrap();
    let a: Vec<(u16, Vec<u8>)> = attrs(peer.value).map(|a| (a.kind, a.value.to_vec())).collect();
    assert_eq!(a, vec![(WGPEER_A_PUBLIC_KEY, key(9).to_vec()), (WGPEER_A_FLAGS, WGPEER_F_REMOVE_ME.to_ne_bytes().to_vec())]);
    assert!(set_device(FAM, &DeviceChange { ifname: "wg0".into(), ..Default::default() }, 8192).is_empty());
}

/// 500 peers x 4 allowed IPs: split under the limit, and read back (the dump has the
/// same layout) peer for peer, entry for entry.
#[test]
fn big_changes_are_split_and_read_back_whole() {
    let change = DeviceChange { ifname: "wg0".into(), private_key: Some([3; 32]), listen_port: Some(51820), replace_peers: false, peers: peers(500, 4) };
    let mut reqs = set_device(FAM, &change, SET_MESSAGE_LIMIT);
    assert!(reqs.len() > 10, "{} messages", reqs.len());
    for r in reqs.iter_mut() {
        let n = r.finish(1).len();
        assert!(n <= SET_MESSAGE_LIMIT, "{n} bytes");
    }
    let dev = parse_device(FAM, &payloads(&mut reqs)).unwrap();
    assert_eq!(dev.ifname, "wg0");
    assert_eq!(dev.listen_port, 51820);
    assert_eq!(dev.peers.len(), 500);
    for (p, c) in dev.peers.iter().zip(&change.peers) {
        assert_eq!(p.public_key, c.public_key);
        assert_eq!(p.allowed_ips, c.allowed_ips);
        assert_eq!(p.endpoint, c.endpoint);
        assert_eq!(Some(p.preshared_key), c.preshared_key.or(Some([0; 32])));
    }
}

/// One peer with more allowed IPs than a message holds continues in the next messages,
/// without REPLACE_ALLOWEDIPS there (which would drop the first part).
#[test]
fn one_peer_spans_several_messages() {
    let change = DeviceChange { ifname: "wg0".into(), peers: peers(3, 400), ..Default::default() };
    let mut reqs = set_device(FAM, &change, 2048);
    assert!(reqs.len() >= 3 * 400 * 28 / 2048, "{}", reqs.len());
    let mut replace = 0;
    for r in reqs.iter_mut() {
        let b = r.finish(1).to_vec();
        assert!(b.len() <= 2048);
        let peers_attr = attrs(&b[20..]).find(|a| a.kind == WGDEVICE_A_PEERS).unwrap();
        for p in attrs(peers_attr.value) {
            let f = attrs(p.value).find(|a| a.kind == WGPEER_A_FLAGS).and_then(|a| u32_of(a.value)).unwrap_or(0);
            replace += usize::from(f & WGPEER_F_REPLACE_ALLOWEDIPS != 0);
        }
    }
    assert_eq!(replace, 3, "once per peer");
    let dev = parse_device(FAM, &payloads(&mut reqs)).unwrap();
    assert_eq!(dev.peers.len(), 3);
    for (p, c) in dev.peers.iter().zip(&change.peers) {
        assert_eq!(p.allowed_ips, c.allowed_ips);
    }
}

#[test]
fn dump_parsing_never_panics_on_garbage() {
    let change = DeviceChange { ifname: "wg0".into(), peers: peers(5, 3), ..Default::default() };
    let mut reqs = set_device(FAM, &change, 8192);
    let good = payloads(&mut reqs);
    let mut seed = 0x2545_f491_u32;
    for _ in 0..2000 {
        let mut p = good.clone();
        let b = &mut p[0].1;
        for _ in 0..4 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let i = seed as usize % b.len();
            b[i] = (seed >> 8) as u8;
        }
        b.truncate(seed as usize % (b.len() + 1));
        let _ = parse_device(FAM, &p);
    }
    assert_eq!(parse_device(FAM, &[]), None);
    assert_eq!(parse_device(FAM, &[(FAM, vec![0, 1])]), None);
}

#[test]
fn debug_never_shows_secrets() {
    let d = Device { private_key: Some([0xab; 32]), peers: vec![Peer { preshared_key: [0xcd; 32], ..Default::default() }], ..Default::default() };
    let s = format!("{d:?}");
    assert!(!s.contains("abab") && !s.contains("cdcd") && !s.contains("171"), "{s}");
    let c = DeviceChange { private_key: Some([0xab; 32]), ..Default::default() };
    assert!(!format!("{c:?}").contains("171"));
}
