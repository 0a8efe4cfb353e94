//! netd's rtnetlink apply against the real kernel, in a network namespace of its own: the
//! bridge, its ports, addresses, the default route, MTU and MAC, read back with `ip -j`;
//! applying again changes nothing; a changed configuration changes only what differs.

mod common;

use common::{can_run, Netns};
use netd::apply::{self, WanAddress};
use netd::rtnl::Rtnl;
use oxwrt_config::{Config, Network};

fn network(text: &str) -> Network {
    Config::parse(text, "").unwrap_or_else(|p| panic!("{p}")).network
}

const FIRST: &str = r#"
[lan]
ports = ["lan0", "lan1"]
address = "192.168.7.1/24"
[wan]
device = "wan0"
proto = "static"
address = "203.0.113.2/24"
gateway = "203.0.113.1"
mtu = 1400
mac = "02:00:00:00:00:99"
"#;

const SECOND: &str = r#"
[lan]
ports = ["lan1", "lan2"]
address = "192.168.8.1/24"
[wan]
device = "wan0"
proto = "static"
address = "203.0.113.2/24"
gateway = "203.0.113.254"
mtu = 1400
mac = "02:00:00:00:00:99"
"#;

#[test]
fn applies_bridge_ports_addresses_and_routes_idempotently() {
    if !can_run(&[]) {
        return;
    }
    let ns = Netns::new("apply");
    for (a, b) in [("lan0", "lan0p"), ("lan1", "lan1p"), ("lan2", "lan2p"), ("wan0", "wan0p")] {
        ns.veth(a, b);
    }
    let (first, second) = (network(FIRST), network(SECOND));

    let (f, s) = (first.clone(), second.clone());
    let (r1, r2, r3, r4) = ns.run(move || {
        let mut rtnl = Rtnl::open().unwrap();
        let r1 = apply::apply_all(&mut rtnl, None, &f).unwrap();
        let r2 = apply::apply_all(&mut rtnl, Some(&f), &f).unwrap();
        let r3 = apply::apply_all(&mut rtnl, Some(&f), &s).unwrap();
        let r4 = apply::apply_all(&mut rtnl, Some(&s), &s).unwrap();
        (r1, r2, r3, r4)
    });
    assert_eq!(r1.problems, Vec::<String>::new());
    for want in [
        "created bridge br-lan",
        "wan0 MAC address 02:00:00:00:00:99",
        "wan0 MTU 1400",
        "wan0 up",
        "lan0 added to bridge br-lan",
        "lan1 added to bridge br-lan",
        "br-lan up",
        "added address 192.168.7.1/24 to br-lan",
        "added address 203.0.113.2/24 to wan0",
        "default route via 203.0.113.1 dev wan0",
    ] {
        assert!(r1.changes.iter().any(|c| c == want), "missing change {want:?} in {:#?}", r1.changes);
    }
    assert_eq!(r2, apply::Report::default(), "applying again must change nothing");
    assert_eq!(r4, apply::Report::default(), "applying the second configuration again must change nothing");
    assert_eq!(
        r3.changes,
        [
            "lan2 added to bridge br-lan",
            "lan2 up",
            "lan0 removed from bridge br-lan",
            "removed address 192.168.7.1/24 from br-lan",
            "added address 192.168.8.1/24 to br-lan",
            "removed default route via 203.0.113.1 dev wan0",
            "default route via 203.0.113.254 dev wan0",
        ]
    );

    // Read back with iproute2.
    let br = ns.link("br-lan");
    assert_eq!(br["linkinfo"]["info_kind"], "bridge");
    assert!(br["flags"].as_array().unwrap().iter().any(|f| f == "UP"), "{br}");
    for port in ["lan1", "lan2"] {
        assert_eq!(ns.link(port)["master"], "br-lan", "{port}");
    }
    assert!(ns.link("lan0").get("master").is_none(), "lan0 left the bridge");
    let wan = ns.link("wan0");
    assert_eq!((wan["mtu"].as_u64(), wan["address"].as_str()), (Some(1400), Some("02:00:00:00:00:99")));
    assert_eq!(ns.addrs("br-lan"), ["192.168.8.1/24"]);
    assert_eq!(ns.addrs("wan0"), ["203.0.113.2/24"]);
    assert_eq!(ns.default_routes(), [("203.0.113.254".to_string(), "wan0".to_string())]);

    // Static -> DHCP without a lease: the WAN's address and default route go.
    let report = ns.run(|| apply::apply_wan_address(&mut Rtnl::open().unwrap(), "wan0", &WanAddress::None).unwrap());
    assert_eq!(report.changes, ["removed default route via 203.0.113.254 dev wan0", "removed address 203.0.113.2/24 from wan0"]);
    assert!(ns.addrs("wan0").is_empty());
    assert!(ns.default_routes().is_empty());
}

#[test]
fn a_lease_address_expires_in_the_kernel_and_a_renamed_bridge_is_replaced() {
    if !can_run(&[]) {
        return;
    }
    let ns = Netns::new("lease");
    ns.veth("lan0", "lan0p");
    ns.veth("wan0", "wan0p");
    let mut net = network("[lan]\nports = [\"lan0\"]\n[wan]\ndevice = \"wan0\"\n");
    let old = net.clone();
    net.lan.bridge = "br-home".into();
    let (r, renamed, again) = ns.run(move || {
        let mut rtnl = Rtnl::open().unwrap();
        apply::apply_all(&mut rtnl, None, &old).unwrap();
        let lease = WanAddress::Lease { cidr: "198.51.100.20/24".parse().unwrap(), gateway: Some("198.51.100.1".parse().unwrap()), valid_secs: Some(600) };
        let r = apply::apply_wan_address(&mut rtnl, "wan0", &lease).unwrap();
        let renamed = apply::apply_all(&mut rtnl, Some(&old), &net).unwrap();
        let again = apply::apply_all(&mut rtnl, Some(&net), &net).unwrap();
        (r, renamed, again)
    });
    assert_eq!(r.changes, ["added address 198.51.100.20/24 to wan0 (valid for 600 s)", "default route via 198.51.100.1 dev wan0"]);
    let info = ns.ip_json(&["-4", "addr", "show", "dev", "wan0"]);
    let lft = info[0]["addr_info"][0]["valid_life_time"].as_u64().unwrap();
    assert!(lft <= 600 && lft > 500, "the kernel holds the lease's lifetime: {lft}");
    let route = ns.ip_json(&["-4", "route", "show", "default"]);
    assert_eq!(route[0]["protocol"], "dhcp");
    assert!(renamed.changes.contains(&"deleted bridge br-lan (the LAN bridge is now br-home)".to_string()), "{renamed:?}");
    assert!(renamed.changes.contains(&"lan0 added to bridge br-home".to_string()), "{renamed:?}");
    assert_eq!(ns.addrs("br-home"), ["192.168.1.1/24"]);
    assert!(!ns.try_ip(&["link", "show", "dev", "br-lan"]));
    assert_eq!(again, apply::Report::default());
}

#[test]
fn vlan_ports_are_created_on_their_parent() {
    if !can_run(&[]) {
        return;
    }
    let ns = Netns::new("vlan");
    ns.veth("eth0", "eth0p");
    let net = network("[lan]\nports = [\"eth0.0\"]\n[wan]\ndevice = \"eth0.1\"\n");
    // This host's kernel may lack 802.1Q (the device kernel has it: CONFIG_VLAN_8021Q).
    let has_vlan = ns.try_ip(&["link", "add", "link", "eth0", "name", "probe.7", "type", "vlan", "id", "7"]);
    let n = net.clone();
    let (r1, r2) = ns.run(move || {
        let mut rtnl = Rtnl::open().unwrap();
        (apply::apply_all(&mut rtnl, None, &n).unwrap(), apply::apply_all(&mut rtnl, Some(&n), &n).unwrap())
    });
    if !has_vlan {
        eprintln!("this kernel has no 802.1Q: checking that netd says so");
        assert!(r1.problems.iter().any(|p| p.starts_with("wan.device eth0.1: cannot create VLAN 1 on eth0:")), "{r1:?}");
        assert!(r1.problems.iter().any(|p| p.starts_with("lan.ports eth0.0: cannot create VLAN 0 on eth0:")), "{r1:?}");
        return;
    }
    assert!(r1.changes.contains(&"created VLAN device eth0.1 (VLAN 1 on eth0)".to_string()), "{r1:?}");
    assert!(r1.changes.contains(&"created VLAN device eth0.0 (VLAN 0 on eth0)".to_string()), "{r1:?}");
    assert_eq!(r2, apply::Report::default());
    let l = ns.link("eth0.1");
    assert_eq!((l["linkinfo"]["info_kind"].as_str(), l["linkinfo"]["info_data"]["id"].as_u64()), (Some("vlan"), Some(1)));
    assert_eq!(ns.link("eth0.0")["master"], "br-lan");
}

#[test]
fn a_missing_port_is_a_problem_not_an_error() {
    if !can_run(&[]) {
        return;
    }
    let ns = Netns::new("missing");
    ns.veth("wan0", "wan0p");
    let net = network("[lan]\nports = [\"eth9\"]\n[wan]\ndevice = \"wan0\"\n");
    let r = ns.run(move || apply::apply_all(&mut Rtnl::open().unwrap(), None, &net).unwrap());
    assert_eq!(r.problems, ["lan.ports eth9: no such device (applied when it appears)"]);
    assert_eq!(ns.addrs("br-lan"), ["192.168.1.1/24"]);
}
