//! One test per validation rule, asserting the whole message (file, line:col, key, text).

use crate::{Config, Problems};

fn problems(network: &str, firewall: &str) -> Vec<String> {
    match Config::parse(network, firewall) {
        Ok(_) => Vec::new(),
        Err(Problems(p)) => p.iter().map(ToString::to_string).collect(),
    }
}

fn net(network: &str) -> Vec<String> {
    problems(network, "")
}

fn fw(firewall: &str) -> Vec<String> {
    problems("", firewall)
}

const STATIC_WAN: &str = "[wan]\nproto = \"static\"\naddress = \"203.0.113.2/24\"\ngateway = \"203.0.113.1\"\n";

#[test]
fn defaults_and_the_examples_in_docs_are_valid() {
    assert_eq!(net(""), Vec::<String>::new());
    assert_eq!(net(STATIC_WAN), Vec::<String>::new());
}

// ---- [lan]

#[test]
fn lan_prefix_must_leave_room_for_clients() {
    assert_eq!(
        net("[lan]\naddress = \"192.168.1.1/31\"\n"),
        ["network.toml:2:1: lan.address: 192.168.1.1/31: /31 is not a usable LAN prefix; use /8 to /30, e.g. 192.168.1.1/24"]
    );
    assert_eq!(
        net("[lan]\naddress = \"10.0.0.1/7\"\n"),
        ["network.toml:2:1: lan.address: 10.0.0.1/7: /7 is not a usable LAN prefix; use /8 to /30, e.g. 192.168.1.1/24"]
    );
}

#[test]
fn lan_address_must_be_a_host_address() {
    assert_eq!(
        net("[lan]\naddress = \"192.168.1.0/24\"\n"),
        ["network.toml:2:1: lan.address: 192.168.1.0 is the network address of 192.168.1.0/24, not a host address; use e.g. 192.168.1.1/24"]
    );
    assert_eq!(
        net("[lan]\naddress = \"192.168.1.255/24\"\n"),
        ["network.toml:2:1: lan.address: 192.168.1.255 is the broadcast address of 192.168.1.0/24, not a host address; use e.g. 192.168.1.1/24"]
    );
}

#[test]
fn lan_needs_ports_with_valid_unique_names() {
    assert_eq!(net("[lan]\nports = []\n"), ["network.toml:2:1: lan.ports: empty; list the devices to bridge into the LAN, e.g. [\"eth1\"]"]);
    assert_eq!(
        net("[lan]\nports = [\"eth1\", \"averyveryverylongname\", \"eth/2\", \"eth 3\", \"\", \"eth1\"]\n"),
        [
            "network.toml:2:18: lan.ports[1]: `averyveryverylongname` is 21 characters long; Linux device names have at most 15",
            "network.toml:2:43: lan.ports[2]: `eth/2` contains '/'; Linux device names cannot contain '/', ':' or whitespace",
            "network.toml:2:52: lan.ports[3]: `eth 3` contains ' '; Linux device names cannot contain '/', ':' or whitespace",
            "network.toml:2:61: lan.ports[4]: empty; a Linux device name such as \"eth0\" is needed",
            "network.toml:2:65: lan.ports[5]: `eth1` is listed twice; remove one",
        ]
    );
}

#[test]
fn a_device_is_lan_or_wan_and_never_the_bridge() {
    assert_eq!(
        net("[lan]\nports = [\"eth0\", \"br-lan\"]\n"),
        [
            "network.toml:2:10: lan.ports[0]: `eth0` is also wan.device; a device is either LAN or WAN",
            "network.toml:2:18: lan.ports[1]: `br-lan` is the bridge itself (lan.bridge); list the devices to put into it",
        ]
    );
    assert_eq!(net("[lan]\nbridge = \"eth0\"\n"), ["network.toml:2:1: lan.bridge: `eth0` is wan.device; name the bridge differently, e.g. \"br-lan\""]);
    assert_eq!(
        net("[lan]\nbridge = \"bridge-of-the-lan\"\n"),
        ["network.toml:2:1: lan.bridge: `bridge-of-the-lan` is 17 characters long; Linux device names have at most 15"]
    );
}

// ---- [wan]

#[test]
fn wan_device_name_must_be_valid() {
    assert_eq!(
        net("[wan]\ndevice = \"wan:0\"\n"),
        ["network.toml:2:1: wan.device: `wan:0` contains ':'; Linux device names cannot contain '/', ':' or whitespace"]
    );
}

#[test]
fn static_wan_needs_address_and_gateway() {
    assert_eq!(
        net("[wan]\nproto = \"static\"\n"),
        [
            "network.toml:1:2: wan.address: missing: proto = \"static\" needs address and gateway, e.g. address = \"203.0.113.2/24\" (from your ISP)",
            "network.toml:1:2: wan.gateway: missing: proto = \"static\" needs a gateway (your ISP's router), e.g. gateway = \"203.0.113.1\"",
        ]
    );
}

#[test]
fn static_wan_gateway_is_another_host_of_its_subnet() {
    assert_eq!(
        net(&STATIC_WAN.replace("203.0.113.1\"", "198.51.100.1\"")),
        ["network.toml:4:1: wan.gateway: 198.51.100.1 is outside the WAN subnet 203.0.113.0/24 (wan.address); the gateway must be a host on the WAN's own subnet"]
    );
    assert_eq!(
        net(&STATIC_WAN.replace("203.0.113.1\"", "203.0.113.2\"")),
        ["network.toml:4:1: wan.gateway: 203.0.113.2 is the router's own WAN address (wan.address); use your ISP's router"]
    );
    assert_eq!(
        net(&STATIC_WAN.replace("203.0.113.2/24", "203.0.113.0/24")),
        ["network.toml:3:1: wan.address: 203.0.113.0 is the network address of 203.0.113.0/24, not a host address; use the address your ISP gave you"]
    );
    // A /32 from the ISP with a gateway outside it is how some links are set up.
    assert_eq!(net(&STATIC_WAN.replace("203.0.113.2/24", "203.0.113.2/32").replace("203.0.113.1\"", "198.51.100.1\"")), Vec::<String>::new());
}

#[test]
fn lan_and_wan_subnets_must_not_overlap() {
    assert_eq!(
        net(&format!("[lan]\naddress = \"192.168.1.1/24\"\n{}", STATIC_WAN.replace("203.0.113.2/24", "192.168.1.2/16").replace("203.0.113.1\"", "192.168.0.1\""))),
        ["network.toml:2:1: lan.address: 192.168.1.1/24: the LAN subnet 192.168.1.0/24 overlaps the WAN subnet 192.168.0.0/16 (wan.address); choose another LAN subnet, e.g. 10.10.0.1/24"]
    );
}

#[test]
fn dhcp_wan_rejects_the_static_keys() {
    assert_eq!(
        net("[wan]\naddress = \"203.0.113.2/24\"\ngateway = \"203.0.113.1\"\ndns = [\"203.0.113.53\"]\n"),
        [
            "network.toml:2:1: wan.address: only used with proto = \"static\"; set wan.proto = \"static\" or remove this key",
            "network.toml:3:1: wan.gateway: only used with proto = \"static\"; set wan.proto = \"static\" or remove this key",
            "network.toml:4:1: wan.dns: only used with proto = \"static\"; to use other DNS servers than the DHCP lease's, set dns.upstream",
        ]
    );
}

#[test]
fn wan_dns_servers_must_be_servers() {
    assert_eq!(
        net(&format!("{STATIC_WAN}dns = [\"0.0.0.0\", \"192.168.1.1\"]\n")),
        [
            "network.toml:5:8: wan.dns[0]: 0.0.0.0 is not a DNS server's address; use your ISP's or a public DNS server, e.g. 9.9.9.9",
            "network.toml:5:19: wan.dns[1]: 192.168.1.1 is the router itself: the forwarder would ask itself; use your ISP's or a public DNS server, e.g. 9.9.9.9",
        ]
    );
}

#[test]
fn wan_mtu_mac_and_hostname_are_checked() {
    assert_eq!(
        net("[wan]\nmtu = 100\nmac = \"00:00:00:00:00:00\"\nhostname = \"my router\"\n"),
        [
            "network.toml:2:1: wan.mtu: 100 is out of range; use 576 to 9000 (1500 for Ethernet, 1492 behind PPPoE)",
            "network.toml:3:1: wan.mac: 00:00:00:00:00:00 is all zero; use a unicast address, e.g. 02:00:00:00:00:01",
            "network.toml:4:1: wan.hostname: `my router` is not a valid hostname; use letters, digits and '-' (at most 63, not starting or ending with '-'), e.g. \"nas\"",
        ]
    );
    assert_eq!(
        net("[wan]\nmac = \"01:00:5e:00:00:01\"\n"),
        ["network.toml:2:1: wan.mac: 01:00:5e:00:00:01 is a multicast address (lowest bit of the first byte set); use a unicast one, e.g. 02:00:00:00:00:01"]
    );
}

// ---- [dhcp]

#[test]
fn pool_must_be_inside_the_lan_subnet() {
    assert_eq!(
        net("[dhcp]\nstart = \"192.168.2.100\"\nend = \"192.168.1.255\"\n"),
        [
            "network.toml:2:1: dhcp.start: 192.168.2.100 is outside the LAN subnet 192.168.1.0/24 (lan.address); use an address from 192.168.1.2 to 192.168.1.254",
            "network.toml:3:1: dhcp.end: 192.168.1.255 is the broadcast address of 192.168.1.0/24; use an address from 192.168.1.2 to 192.168.1.254",
        ]
    );
}

#[test]
fn default_pool_follows_a_changed_lan_address() {
    // The default pool (.100-.249) moves with the LAN; a router at .100 is inside it.
    assert_eq!(
        net("[lan]\naddress = \"10.1.2.100/24\"\n"),
        ["network.toml: dhcp.start: the pool 10.1.2.100 - 10.1.2.249 contains the router's own address 10.1.2.100 (lan.address); start it after the router, e.g. start = \"10.1.2.101\""]
    );
}

#[test]
fn pool_must_not_run_backwards_or_contain_the_router() {
    assert_eq!(
        net("[dhcp]\nstart = \"192.168.1.200\"\nend = \"192.168.1.150\"\n"),
        ["network.toml:3:1: dhcp.end: the pool ends (192.168.1.150) before it starts (192.168.1.200); dhcp.end must not be lower than dhcp.start"]
    );
    assert_eq!(
        net("[dhcp]\nstart = \"192.168.1.1\"\n"),
        ["network.toml:2:1: dhcp.start: the pool 192.168.1.1 - 192.168.1.249 contains the router's own address 192.168.1.1 (lan.address); start it after the router, e.g. start = \"192.168.1.2\""]
    );
    assert_eq!(
        net("[lan]\naddress = \"192.168.1.254/24\"\n[dhcp]\nend = \"192.168.1.254\"\n"),
        ["network.toml:3:2: dhcp.start: the pool 192.168.1.100 - 192.168.1.254 contains the router's own address 192.168.1.254 (lan.address); end it before the router, e.g. end = \"192.168.1.253\""]
    );
    // A disabled server's pool is not checked.
    assert_eq!(net("[dhcp]\nenabled = false\nstart = \"192.168.1.1\"\n"), Vec::<String>::new());
}

#[test]
fn lease_time_and_domain_are_checked() {
    assert_eq!(
        net("[dhcp]\nlease_time = \"1m\"\ndomain = \"my lan\"\n"),
        [
            "network.toml:2:1: dhcp.lease_time: 1m is too short: clients would renew all the time; use at least 2m (default 12h)",
            "network.toml:3:1: dhcp.domain: `my lan` is not a domain name; use labels of letters, digits and '-' separated by dots, e.g. \"lan\" or \"home.arpa\"",
        ]
    );
}

const LEASES: &str = "[[dhcp.static]]
mac = \"02:00:00:00:00:01\"
ip = \"192.168.1.10\"
hostname = \"nas\"

[[dhcp.static]]
mac = \"02:00:00:00:00:02\"
ip = \"192.168.1.11\"

[[dhcp.static]]
mac = \"02:00:00:00:00:03\"
ip = \"192.168.1.12\"
";

#[test]
fn static_leases_are_inside_the_subnet_and_not_the_router() {
    assert_eq!(
        net(&LEASES.replace("192.168.1.12", "192.168.2.5")),
        ["network.toml:12:1: dhcp.static[2].ip: 192.168.2.5 is outside the LAN subnet 192.168.1.0/24; use an address from 192.168.1.2 to 192.168.1.254"]
    );
    assert_eq!(
        net(&LEASES.replace("192.168.1.11", "192.168.1.1").replace("192.168.1.12", "192.168.1.0")),
        [
            "network.toml:8:1: dhcp.static[1].ip: 192.168.1.1 is the router's own address (lan.address); choose another",
            "network.toml:12:1: dhcp.static[2].ip: 192.168.1.0 is the network address of 192.168.1.0/24; use an address from 192.168.1.2 to 192.168.1.254",
        ]
    );
}

#[test]
fn static_leases_have_unique_macs_ips_and_hostnames() {
    let text = LEASES
        .replace("02:00:00:00:00:03", "02:00:00:00:00:01")
        .replace("192.168.1.11", "192.168.1.10")
        .replace("ip = \"192.168.1.12\"", "ip = \"192.168.1.12\"\nhostname = \"NAS\"");
    assert_eq!(
        net(&text),
        [
            "network.toml:8:1: dhcp.static[1].ip: 192.168.1.10 is already given to 02:00:00:00:00:01 (dhcp.static[0]); each static lease needs its own address",
            "network.toml:11:1: dhcp.static[2].mac: 02:00:00:00:00:01 already has a static lease (dhcp.static[0]); one lease per MAC address",
            "network.toml:13:1: dhcp.static[2].hostname: `NAS` is already the hostname of dhcp.static[0]; hostnames must be unique",
        ]
    );
    assert_eq!(
        net(&LEASES.replace("\"nas\"", "\"-nas\"")),
        ["network.toml:4:1: dhcp.static[0].hostname: `-nas` is not a valid hostname; use letters, digits and '-' (at most 63, not starting or ending with '-'), e.g. \"nas\""]
    );
}

// ---- [dns]

#[test]
fn dns_cache_upstream_and_domain_are_checked() {
    assert_eq!(
        net("[dns]\ncache_size = 20000\nupstream = [\"9.9.9.9\", \"192.168.1.1\", \"224.0.0.1\"]\nlocal_domain = \"lan.\"\n"),
        [
            "network.toml:2:1: dns.cache_size: 20000 is more than 10000: every entry costs memory a small router does not have (default 150)",
            "network.toml:3:24: dns.upstream[1]: 192.168.1.1 is the router itself: the forwarder would ask itself; use your ISP's or a public DNS server, e.g. 9.9.9.9",
            "network.toml:3:39: dns.upstream[2]: 224.0.0.1 is not a DNS server's address; use your ISP's or a public DNS server, e.g. 9.9.9.9",
            "network.toml:4:1: dns.local_domain: `lan.` is not a domain name; use labels of letters, digits and '-' separated by dots, e.g. \"lan\" or \"home.arpa\"",
        ]
    );
}

#[test]
fn rebind_domains_are_domain_names() {
    assert_eq!(
        net("[dns]\nrebind_protection = false\nrebind_domain = [\"corp.example\", \"bad..example\", \"plex.direct\"]\n"),
        ["network.toml:3:34: dns.rebind_domain[1]: `bad..example` is not a domain name; use labels of letters, digits and '-' separated by dots, e.g. \"lan\" or \"home.arpa\""]
    );
    let many: Vec<String> = (0..65).map(|i| format!("\"d{i}.example\"")).collect();
    let errors = net(&format!("[dns]\nrebind_domain = [{}]\n", many.join(", ")));
    assert_eq!(errors, ["network.toml:2:1: dns.rebind_domain: 65 domains; at most 64 (a domain covers its subdomains)"]);
}

// ---- firewall.toml

#[test]
fn forwards_need_unique_names() {
    assert_eq!(
        fw("[[forward]]\nname = \"\"\nwan_port = 80\nto = \"192.168.1.10\"\n\n[[forward]]\nname = \"ssh\"\nwan_port = 22\nto = \"192.168.1.10\"\n\n[[forward]]\nname = \"ssh\"\nwan_port = 2222\nto = \"192.168.1.11\"\n"),
        [
            "firewall.toml:2:1: forward[0].name: empty; give the forward a name, e.g. \"web server\"",
            "firewall.toml:12:1: forward[2].name: `ssh` is already the name of forward[1]; names must be unique",
        ]
    );
}

#[test]
fn forward_targets_are_lan_hosts_not_the_router() {
    let one = |to: &str| fw(&format!("[[forward]]\nname = \"x\"\nwan_port = 80\nto = \"{to}\"\n"));
    assert_eq!(
        one("10.0.0.5"),
        ["firewall.toml:4:1: forward[0].to: 10.0.0.5 is outside the LAN subnet 192.168.1.0/24 (network.toml lan.address); forwards go to LAN hosts"]
    );
    assert_eq!(
        one("192.168.1.1"),
        ["firewall.toml:4:1: forward[0].to: 192.168.1.1 is the router itself; its own services are never reachable from the WAN. Forward to a LAN host"]
    );
    assert_eq!(
        one("192.168.1.255"),
        ["firewall.toml:4:1: forward[0].to: 192.168.1.255 is the broadcast address of 192.168.1.0/24, not a host; forwards go to one LAN host"]
    );
    // The LAN subnet comes from network.toml.
    assert_eq!(problems("[lan]\naddress = \"10.0.0.1/24\"\n", "[[forward]]\nname = \"x\"\nwan_port = 80\nto = \"10.0.0.5\"\n"), Vec::<String>::new());
}

#[test]
fn port_ranges_must_be_as_long_on_both_sides() {
    assert_eq!(
        fw("[[forward]]\nname = \"games\"\nwan_port = \"8000-8010\"\nto = \"192.168.1.10\"\nto_port = \"9000-9005\"\n"),
        ["firewall.toml:5:1: forward[0].to_port: 9000-9005 is 6 ports but wan_port 8000-8010 is 11 ports; a range is forwarded port by port, so both must be as long (or leave to_port out to keep the ports)"]
    );
    assert_eq!(
        fw("[[forward]]\nname = \"games\"\nwan_port = \"8000-8010\"\nto = \"192.168.1.10\"\nto_port = 80\n"),
        ["firewall.toml:5:1: forward[0].to_port: 80 is 1 port but wan_port 8000-8010 is 11 ports; a range is forwarded port by port, so both must be as long (or leave to_port out to keep the ports)"]
    );
    assert_eq!(fw("[[forward]]\nname = \"g\"\nwan_port = \"8000-8010\"\nto = \"192.168.1.10\"\nto_port = \"9000-9010\"\n"), Vec::<String>::new());
}

#[test]
fn a_wan_port_goes_to_one_place_per_protocol() {
    let text = "[[forward]]\nname = \"web\"\nwan_port = \"8080-8090\"\nto = \"192.168.1.10\"\n
[[forward]]\nname = \"dns\"\nproto = \"udp\"\nwan_port = 8085\nto = \"192.168.1.11\"\n
[[forward]]\nname = \"game\"\nproto = \"both\"\nwan_port = 8088\nto = \"192.168.1.12\"\n";
    assert_eq!(
        fw(text),
        ["firewall.toml:15:1: forward[2].wan_port: 8088 (tcp+udp) is already forwarded by forward[0] (\"web\", tcp 8080-8090); a WAN port can go to one place only"]
    );
}

#[test]
fn reversed_or_zero_ports_are_parse_errors_located_at_the_value() {
    assert_eq!(
        fw("[[forward]]\nname = \"x\"\nwan_port = \"8010-8000\"\nto = \"192.168.1.10\"\n"),
        ["firewall.toml:3:12: forward[0].wan_port: `8010-8000` ends before it starts; write the lower port first, e.g. 8000-8010"]
    );
    assert_eq!(
        fw("[[forward]]\nname = \"x\"\nwan_port = 0\nto = \"192.168.1.10\"\n"),
        ["firewall.toml:3:12: forward[0].wan_port: port 0 cannot be forwarded; ports are 1-65535"]
    );
}

// ---- parse errors, all at once, without text

#[test]
fn parse_errors_name_the_key_and_say_what_to_do() {
    assert_eq!(
        net("[wan]\nprotocol = \"dhcp\"\n"),
        ["network.toml:2:1: wan.protocol: unknown field `protocol`, expected one of `device`, `proto`, `address`, `gateway`, `dns`, `mtu`, `mac`, `hostname`, `ipv6`, `ipv6_prefix_length`; remove or rename it (every key is described in docs/network-config.md)"]
    );
    assert_eq!(
        net("[wan]\nproto = \"static\"\ngateway = \"203.0.113.300\"\n"),
        ["network.toml:3:11: wan.gateway: not an IPv4 address; write four numbers 0-255 separated by dots, e.g. \"192.168.1.10\""]
    );
    assert_eq!(
        net("[lan]\naddress = \"192.168.1.1\"\n"),
        ["network.toml:2:11: lan.address: `192.168.1.1` has no prefix length; write address/prefix, e.g. 192.168.1.1/24 (/24 is netmask 255.255.255.0)"]
    );
    assert_eq!(
        net("[[dhcp.static]]\nmac = \"02:00:00:00:00:01\"\n"),
        ["network.toml:1:1: dhcp.static[0]: missing field `ip`; add it (see docs/network-config.md)"]
    );
    assert_eq!(net("[lan\n"), ["network.toml:1:5: unclosed table, expected `]`"]);
    assert_eq!(
        net("[wan]\nmtu = 1492\n[wan]\nproto = \"dhcp\"\n"),
        ["network.toml:3:2: `wan` is defined twice; each key, and each [section], may appear only once in a file: merge them"]
    );
    assert_eq!(fw("wan_ping = 1\n"), ["firewall.toml:1:12: wan_ping: invalid type: integer `1`, expected a boolean"]);
}

#[test]
fn problems_of_both_files_come_together() {
    let p = problems("[wan]\nproto = \"static\"\n", "[[forward]]\nname = \"x\"\nwan_port = 80\nto = \"10.0.0.5\"\n");
    assert_eq!(p.len(), 3, "{p:#?}");
    let p = problems("[lan\n", "wan_ping = 1\n");
    assert_eq!(p.len(), 2, "{p:#?}");
    assert!(p[1].starts_with("firewall.toml:1:12: wan_ping: "), "{p:#?}");
}

#[test]
fn validate_without_text_has_no_line_numbers() {
    let mut cfg = Config::default();
    cfg.network.dhcp.static_leases.push(crate::StaticLease { mac: "02:00:00:00:00:01".parse().unwrap(), ip: "192.168.2.5".parse().unwrap(), hostname: None });
    let e = cfg.validate().unwrap_err();
    assert_eq!(
        e.to_string(),
        "network.toml: dhcp.static[0].ip: 192.168.2.5 is outside the LAN subnet 192.168.1.0/24; use an address from 192.168.1.2 to 192.168.1.254"
    );
}

#[test]
fn ipv6_keys_are_checked_with_file_line_and_key() {
    let got = net("[wan]\nipv6 = \"auto\"\nipv6_prefix_length = 60\n\n[lan]\nipv6_subnet = 16\nula = \"2001:db8::/48\"\n");
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].starts_with("network.toml:6:") && got[0].contains("lan.ipv6_subnet") && got[0].contains("use 0 to 15"), "{got:?}");
    assert!(got[1].starts_with("network.toml:7:") && got[1].contains("lan.ula") && got[1].contains("RFC 4193"), "{got:?}");
    let got = net("[wan]\nipv6_prefix_length = 30\n");
    assert!(got.len() == 1 && got[0].contains("wan.ipv6_prefix_length") && got[0].contains("40 to 64"), "{got:?}");
    let got = net("[wan]\nipv6 = \"on\"\n");
    assert!(got.len() == 1 && got[0].contains("wan.ipv6") && got[0].contains("auto"), "{got:?}");
    assert!(net("[wan]\nipv6 = \"auto\"\n[lan]\nula = \"fd00:1:2::/48\"\nipv6_subnet = 15\n").is_empty());
}
