use super::wgquick::{import, ClientConfig};
use super::*;

const K1: &str = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";
const K2: &str = "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=";
const K3: &str = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=";

fn good() -> String {
    format!(
        r#"[[interface]]
name = "wg0"
address = ["10.8.0.1/24", "fd00:8::1/64"]

[[peer]]
name = "phone"
public_key = "{K1}"
allowed_ips = ["10.8.0.2/32", "fd00:8::2/128"]

[[peer]]
name = "office"
public_key = "{K2}"
allowed_ips = ["192.168.50.0/24"]
endpoint = "office.example.org:51820"
persistent_keepalive = 25
"#
    )
}

fn problems(text: &str) -> Vec<String> {
    match Vpn::parse(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(p) => p.iter().map(|p| p.to_string()).collect(),
    }
}

#[test]
fn keys_are_strict_base64_of_32_bytes() {
    let k: Key = K1.parse().unwrap();
    assert_eq!(k.to_string(), K1);
    assert_eq!(format!("{:?}", Secret(k.0)), "Secret(..)", "secrets never print");
    let e = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8D=".parse::<Key>().unwrap_err().to_string();
    assert!(e.contains("43 characters"), "{e}");
    // Same length, last character with bits no key has.
    let e = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dh=".parse::<Key>().unwrap_err().to_string();
    assert!(e.contains("bits set"), "{e}");
    let e = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8D*=".parse::<Key>().unwrap_err().to_string();
    assert!(e.contains("character 43"), "{e}");
    for b in [[0u8; 32], [255; 32], core::array::from_fn(|i| i as u8)] {
        assert_eq!(Key(b).to_string().parse::<Key>().unwrap(), Key(b));
    }
}

#[test]
fn ip_nets() {
    let n: IpNet = "10.8.0.1/24".parse().unwrap();
    assert_eq!(n.network().to_string(), "10.8.0.0/24");
    assert!(!n.is_network());
    assert!(n.contains("10.8.0.200".parse().unwrap()));
    assert!(!n.contains("10.8.1.1".parse().unwrap()));
    assert!(!n.contains("fd00::1".parse().unwrap()));
    assert_eq!("10.8.0.2".parse::<IpNet>().unwrap().to_string(), "10.8.0.2/32");
    let v6: IpNet = "fd00:8::1/64".parse().unwrap();
    assert_eq!(v6.network().to_string(), "fd00:8::/64");
    assert_eq!(v6.nth(5).unwrap().to_string(), "fd00:8::5");
    assert!("0.0.0.0/0".parse::<IpNet>().unwrap().overlaps("1.2.3.4/32".parse().unwrap()));
    assert!(!"10.0.0.0/25".parse::<IpNet>().unwrap().overlaps("10.0.0.128/25".parse().unwrap()));
    assert!("::/0".parse::<IpNet>().unwrap().is_network());
    assert!("10.8.0.1/33".parse::<IpNet>().unwrap_err().to_string().contains("more than 32"));
    assert!("10.8.0.x/24".parse::<IpNet>().unwrap_err().to_string().contains("not an IPv4 or IPv6 address"));
    assert_eq!("10.0.0.0/8".parse::<IpNet>().unwrap().nth(1 << 24), None);
}

#[test]
fn endpoints() {
    let e: Endpoint = "vpn.example.org:51820".parse().unwrap();
    assert_eq!((e.host.as_str(), e.port), ("vpn.example.org", 51820));
    assert_eq!("[2001:db8::1]:443".parse::<Endpoint>().unwrap().to_string(), "[2001:db8::1]:443");
    for bad in ["vpn.example.org", "host:0", "host:70000", "2001:db8::1:51820", ":51820", "a b:1"] {
        assert!(bad.parse::<Endpoint>().is_err(), "{bad}");
    }
}

#[test]
fn a_good_file_parses_and_round_trips() {
    let vpn = Vpn::parse(&good()).unwrap();
    assert_eq!(vpn.interfaces[0].listen_port, DEFAULT_PORT);
    assert_eq!(vpn.interfaces[0].mtu, DEFAULT_MTU);
    assert_eq!(vpn.interfaces[0].key_file(), "/etc/oxwrt/vpnd/wg0.key");
    assert!(vpn.peers[0].enabled && vpn.interfaces[0].lan_access && vpn.interfaces[0].internet);
    assert_eq!(vpn.peers_of("wg0").count(), 2);
    assert_eq!(Vpn::parse(&vpn.to_toml()).unwrap(), vpn);
    assert_eq!(Vpn::parse("").unwrap(), Vpn::default());
}

#[test]
fn invalid_keys_cidrs_and_ports_are_located() {
    let text = good().replace(K2, "not-a-key");
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with("vpn.toml:12:") && p[0].contains("peer[1].public_key") && p[0].contains("not a WireGuard key"), "{p:?}");

    let p = problems(&good().replace("\"192.168.50.0/24\"", "\"192.168.50.0/40\""));
    assert!(p[0].contains("vpn.toml:13:") && p[0].contains("allowed_ips") && p[0].contains("more than 32"), "{p:?}");

    let p = problems(&good().replace("address = [", "listen_port = 0\naddress = ["));
    assert!(p[0].starts_with("vpn.toml:3:") && p[0].contains("interface[0].listen_port: 0 is not a port"), "{p:?}");

    let p = problems(&good().replace("address = [", "listen_port = 70000\naddress = ["));
    assert!(p[0].starts_with("vpn.toml:3:") && p[0].contains("listen_port"), "{p:?}");

    let p = problems(&good().replace("persistent_keepalive = 25", "persistent_keepalive = 25\ncolour = \"red\""));
    assert!(p[0].contains("unknown field `colour`") && p[0].contains("docs/vpn.md"), "{p:?}");

    let p = problems(&good().replace("\"192.168.50.0/24\"", "\"192.168.50.1/24\""));
    assert!(p[0].contains("peer[1].allowed_ips[0]: 192.168.50.1/24 has host bits set; write the network 192.168.50.0/24"), "{p:?}");

    let p = problems(&good().replace("\"10.8.0.1/24\"", "\"10.8.0.0/24\""));
    assert!(p[0].contains("interface[0].address[0]") && p[0].contains("network or broadcast"), "{p:?}");

    let p = problems(&good().replace("office.example.org:51820", "office.example.org"));
    assert!(p[0].contains("peer[1].endpoint") && p[0].contains("no port"), "{p:?}");
}

#[test]
fn duplicate_keys_and_overlapping_allowed_ips_are_rejected() {
    let p = problems(&good().replace(K2, K1));
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with("vpn.toml:12:") && p[0].contains("the same public key as peer `phone`"), "{p:?}");

    // The classic "only the first peer works": two peers claiming 10.8.0.0/24's addresses.
    let text = good() + &format!("\n[[peer]]\nname = \"laptop\"\npublic_key = \"{K3}\"\nallowed_ips = [\"10.8.0.0/24\"]\n");
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with("vpn.toml:20:") && p[0].contains("peer[2].allowed_ips[0]: 10.8.0.0/24 overlaps 10.8.0.2/32 of peer `phone` on wg0"), "{p:?}");

    let p = problems(&good().replace("name = \"office\"", "name = \"phone\""));
    assert!(p[0].contains("peer[1].name") && p[0].contains("unique"), "{p:?}");

    let p = problems(&good().replace("\"192.168.50.0/24\"", "\"0.0.0.0/0\""));
    assert!(p[0].contains("all of the router's traffic"), "{p:?}");

    let p = problems(&good().replace("name = \"office\"", "name = \"office\"\ninterface = \"wg9\""));
    assert!(p[0].contains("`wg9` is not an [[interface]]") && p[0].contains("\"wg0\""), "{p:?}");
}

#[test]
fn next_free_address_skips_the_router_and_the_peers() {
    let mut vpn = Vpn::parse(&good()).unwrap();
    let iface = vpn.interfaces[0].clone();
    let next = vpn.next_free(&iface).unwrap();
    assert_eq!(next.iter().map(|n| n.to_string()).collect::<Vec<_>>(), ["10.8.0.3/32", "fd00:8::3/128"]);
    vpn.peers.push(Peer::new("x", K3.parse().unwrap(), next));
    vpn.validate().unwrap();
    assert_eq!(vpn.next_free(&iface).unwrap()[0].to_string(), "10.8.0.4/32");
    let small = Interface::new("wg1", vec!["10.9.0.1/30".parse().unwrap()]);
    let mut v = Vpn { interfaces: vec![small.clone()], peers: vec![] };
    assert_eq!(v.next_free(&small).unwrap()[0].to_string(), "10.9.0.2/32");
    v.peers.push(Peer::new("y", K1.parse().unwrap(), vec!["10.9.0.2/32".parse().unwrap()]));
    assert_eq!(v.next_free(&small), None, "a /30 has one host besides the router (.3 is its broadcast)");
}

fn client() -> ClientConfig {
    ClientConfig {
        private_key: Secret([7; 32]),
        addresses: vec!["10.8.0.2/32".parse().unwrap(), "fd00:8::2/128".parse().unwrap()],
        dns: vec!["192.168.1.1".parse().unwrap()],
        mtu: None,
        server_public_key: K1.parse().unwrap(),
        preshared_key: Some(Secret([9; 32])),
        endpoint: "vpn.example.org:51820".into(),
        allowed_ips: vec!["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()],
        persistent_keepalive: 25,
    }
}

#[test]
fn client_config_renders_as_wg_quick() {
    let text = client().render();
    assert_eq!(
        text,
        format!(
            "[Interface]\nPrivateKey = {}\nAddress = 10.8.0.2/32, fd00:8::2/128\nDNS = 192.168.1.1\n\n[Peer]\nPublicKey = {K1}\nPresharedKey = {}\nEndpoint = vpn.example.org:51820\nAllowedIPs = 0.0.0.0/0, ::/0\nPersistentKeepalive = 25\n",
            Key([7; 32]),
            Key([9; 32])
        )
    );
    // And reads back.
    let back = import(&text).unwrap();
    assert_eq!(back.private_key, Some(Secret([7; 32])));
    assert_eq!(back.addresses, client().addresses);
    assert_eq!(back.dns, client().dns);
    assert_eq!(back.peers[0].public_key, client().server_public_key);
    assert_eq!(back.peers[0].preshared_key, Some(Secret([9; 32])));
    assert_eq!(back.peers[0].allowed_ips, client().allowed_ips);
    assert_eq!(back.peers[0].persistent_keepalive, 25);
}

#[test]
fn import_keeps_every_peer_with_its_keys() {
    let text = format!(
        "# a server\n[Interface]\nPrivateKey = {K3}\nListenPort = 51821\nAddress = 10.7.0.1/24\nPostUp = iptables -A FORWARD -i wg0 -j ACCEPT\n\n\
         # Name = anna-phone\n[Peer]\nPublicKey = {K1}\nPresharedKey = {K2}\nAllowedIPs = 10.7.0.2/32\n\n\
         # bob's laptop\n[Peer]\npublickey = {K2}\nAllowedIPs = 10.7.0.3/32, 10.7.1.0/24 # and his LAN\nEndpoint = [2001:db8::9]:51820\nPersistentKeepalive = 25\n\n\
         [Peer]\nPublicKey = {K3}\nAllowedIPs = 10.7.0.4/32\n"
    );
    let imp = import(&text).unwrap();
    assert_eq!(imp.listen_port, Some(51821));
    assert_eq!(imp.private_key.as_ref().map(|s| Key(s.0).to_string()).as_deref(), Some(K3));
    assert_eq!(imp.ignored, vec![(6, "PostUp".to_string())]);
    let names: Vec<&str> = imp.peers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["anna-phone", "bob-s-laptop", "peer3"]);
    assert_eq!(imp.peers[0].public_key.to_string(), K1);
    assert_eq!(imp.peers[0].preshared_key.as_ref().map(|s| Key(s.0).to_string()).as_deref(), Some(K2));
    assert_eq!(imp.peers[1].public_key.to_string(), K2);
    assert_eq!(imp.peers[1].allowed_ips.len(), 2);
    assert_eq!(imp.peers[1].endpoint.as_ref().unwrap().to_string(), "[2001:db8::9]:51820");
    assert_eq!(imp.peers[2].public_key.to_string(), K3);
    assert_eq!(imp.peers[2].line, 21);
}

#[test]
fn malformed_imports_name_the_line() {
    let cases = [
        (format!("[Interface]\nPrivateKey = {K1}\n[Peer]\nPublicKey = abc\n"), 4, "PublicKey"),
        (format!("[Interface]\nPrivateKey = {K1}\n[Peer]\nPublicKey = {K2}\nAllowedIPs = 10.0.0.0/99\n"), 5, "more than 32"),
        ("[Interface]\nListenPort = 0\n".to_string(), 2, "ListenPort"),
        ("[Interface]\nbogus line\n".to_string(), 2, "not `Key = Value`"),
        (format!("[Peer]\nPublicKey = {K1}\nColour = red\n"), 3, "not a [Peer] key"),
        ("[Peer]\nAllowedIPs = 10.0.0.2/32\n".to_string(), 1, "no PublicKey"),
        ("[Wat]\n".to_string(), 1, "not a section"),
        ("PrivateKey = x\n".to_string(), 1, "before any"),
        (format!("[Peer]\nPublicKey = {K1}\nEndpoint = host\n"), 3, "no port"),
        ("hello".to_string(), 1, "not `Key = Value`"),
    ];
    for (text, line, what) in cases {
        let e = import(&text).unwrap_err();
        assert_eq!(e.line, line, "{text}: {e}");
        assert!(e.to_string().contains(what), "{text}: {e}");
        assert!(!e.to_string().contains(K1), "a key is never echoed: {e}");
    }
}
