//! The example files, round trips through the file format, and loading from a directory.

use oxwrt_config::{defaults_for, Config, Firewall, Network, Proto, SwitchLayout, Upstream, WanProto};
use std::fs;
use std::path::Path;

fn example(name: &str) -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(name)).unwrap()
}

#[test]
fn the_examples_parse_and_validate() {
    let cfg = Config::parse(&example("network.toml"), &example("firewall.toml")).unwrap_or_else(|p| panic!("{p}"));
    let wan = &cfg.network.wan;
    assert_eq!(wan.proto, WanProto::Static);
    assert_eq!(wan.address.unwrap().to_string(), "203.0.113.2/24");
    assert_eq!(wan.gateway.unwrap().to_string(), "203.0.113.1");
    assert_eq!(cfg.network.dns_upstream(), Upstream::Servers(vec!["203.0.113.53".parse().unwrap(), "9.9.9.9".parse().unwrap()]));
    assert_eq!(cfg.network.dhcp.static_leases[0].hostname.as_deref(), Some("nas"));
    assert_eq!(cfg.network.dhcp.lease_time.as_secs(), 12 * 3600);
    let fw = &cfg.firewall.forwards;
    assert_eq!(
        (fw[0].name.as_str(), fw[0].proto, fw[0].wan_port.to_string(), fw[0].target_ports().to_string()),
        ("nas web", Proto::Tcp, "8080".into(), "80".into())
    );
    assert_eq!((fw[1].proto, fw[1].wan_port.len(), fw[1].target_ports()), (Proto::Both, 16, fw[1].wan_port));
}

#[test]
fn defaults_serialize_and_parse_back_equal() {
    let wrt = SwitchLayout { device: "eth0".into(), lan_vlan: 0, wan_vlan: 1 };
    for network in [Network::default(), defaults_for(Some(&wrt))] {
        let text = network.to_toml();
        let back = Config::parse(&text, "").unwrap_or_else(|p| panic!("{p}\n{text}"));
        assert_eq!(back.network, network, "{text}");
    }
    let text = Firewall::default().to_toml();
    assert_eq!(Config::parse("", &text).unwrap().firewall, Firewall::default());
}

#[test]
fn the_default_file_reads_well() {
    assert_eq!(
        Network::default().to_toml(),
        "# /etc/oxwrt/network.toml: LAN, WAN, DHCP server, DNS forwarder.\n# Every key: docs/network-config.md\n
[lan]
ports = [\"eth1\"]
bridge = \"br-lan\"
address = \"192.168.1.1/24\"

[wan]
device = \"eth0\"
proto = \"dhcp\"

[dhcp]
enabled = true
lease_time = \"12h\"
domain = \"lan\"

[dns]
enabled = true
cache_size = 150
"
    );
}

#[test]
fn a_full_configuration_round_trips() {
    let cfg = Config::parse(&example("network.toml"), &example("firewall.toml")).unwrap();
    let (n, f) = (cfg.network.to_toml(), cfg.firewall.to_toml());
    assert_eq!(Config::parse(&n, &f).unwrap_or_else(|p| panic!("{p}\n{n}\n{f}")), cfg);
    assert!(f.contains("wan_port = 8080\n") && f.contains("wan_port = \"27015-27030\"\n"), "{f}");
}

#[test]
fn load_reads_a_directory_and_missing_files_are_defaults() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(Config::load(dir.path()).unwrap(), Config::default());
    fs::write(dir.path().join("firewall.toml"), example("firewall.toml")).unwrap();
    let cfg = Config::load(dir.path()).unwrap();
    assert_eq!((cfg.network, cfg.firewall.forwards.len()), (Network::default(), 2));
    fs::write(dir.path().join("network.toml"), "[lan]\naddress = \"10.0.0.1/24\"\n").unwrap();
    let e = Config::load(dir.path()).unwrap_err().to_string();
    assert!(e.starts_with("firewall.toml:11:1: forward[0].to: 192.168.1.10 is outside the LAN subnet 10.0.0.0/24"), "{e}");
}

#[test]
fn save_writes_both_files_that_load_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::parse(&example("network.toml"), &example("firewall.toml")).unwrap();
    cfg.save(dir.path()).unwrap();
    assert_eq!(Config::load(dir.path()).unwrap(), cfg);
    let mut bad = cfg.clone();
    bad.network.lan.address = "10.0.0.1/24".parse().unwrap();
    assert!(bad.save(dir.path()).is_err());
    assert_eq!(Config::load(dir.path()).unwrap(), cfg);
}
