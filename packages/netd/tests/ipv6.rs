//! IPv6 end to end with real peers, three network namespaces:
//!
//! - "isp": radvd (router advertisements with the M and O flags, the ISP's /64),
//!   ISC dhcpd -6 (DHCPv6 with prefix delegation: /60s out of 2001:db8:100::/56, DNS
//!   server option), dnsmasq as the ISP's DNS server (an AAAA record), a TCP server;
//! - "router": netd (`wan.ipv6 = "auto"`) between wan0 (to the ISP) and br-lan (lan0);
//! - "host": a LAN host with the Linux kernel's own SLAAC, rdisc6 and dig.
//!
//! Checked: netd gets a delegated prefix and a default route from the ISP's RAs; the LAN
//! host gets an address in the LAN /64 of the delegated prefix from netd's RA, whose RDNSS
//! is the router's ULA address (rdisc6 says so); the host pings the ISP and connects to it
//! over IPv6 with its own address (no NAT66); it resolves an AAAA name through netd's
//! forwarder over IPv6 (netd asks the ISP's server from the DHCPv6 lease); the ISP cannot
//! open a connection to the host (WAN to LAN: only established).
//!
//! Needs root, `ip`, radvd, dhcpd (isc-dhcp-server), dnsmasq, dig, rdisc6 (ndisc6),
//! busybox (ping); without them the test is skipped, or fails under OXWRT_STRICT_TESTS=1.

mod common;

use common::{can_run, tempdir, wait_for, Netns, Proc};
use netd::{Daemon, Paths};
use oxwrt_testkit::Prereq;
use std::io::{Read, Write};
use std::net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

const ROUTER: &str = r#"
[lan]
ports = ["lan0"]
address = "192.168.60.1/24"
ipv6_subnet = 3
ula = "fd00:6:6::/48"
[wan]
device = "wan0"
ipv6 = "auto"
ipv6_prefix_length = 60
[dhcp]
enabled = false
"#;

const RADVD: &str = "interface isp0 {
    AdvSendAdvert on;
    MinRtrAdvInterval 3;
    MaxRtrAdvInterval 4;
    AdvManagedFlag on;
    AdvOtherConfigFlag on;
    prefix 2001:db8:ffff::/64 { AdvOnLink on; AdvAutonomous on; };
};
";

const DHCPD6: &str = "default-lease-time 600;
max-lease-time 7200;
option dhcp6.name-servers 2001:db8:ffff::53;
subnet6 2001:db8:ffff::/64 {
    range6 2001:db8:ffff::100 2001:db8:ffff::1ff;
    prefix6 2001:db8:100:: 2001:db8:100:f0:: /60;
}
";

fn sh(ns: &Netns, cmd: &str) -> String {
    let out = std::process::Command::new("ip").args(["netns", "exec", &ns.name, "sh", "-c", cmd]).output().expect("ip netns exec");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn sh_ok(ns: &Netns, cmd: &str) -> bool {
    std::process::Command::new("ip").args(["netns", "exec", &ns.name, "sh", "-c", cmd]).status().is_ok_and(|s| s.success())
}

/// Global addresses of `dev` (not link-local, not deprecated).
fn global_addrs(ns: &Netns, dev: &str) -> Vec<(Ipv6Addr, u8)> {
    let v = ns.ip_json(&["-6", "addr", "show", "dev", dev, "scope", "global", "-deprecated"]);
    v.as_array()
        .into_iter()
        .flatten()
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| Some((a["local"].as_str()?.parse().ok()?, a["prefixlen"].as_u64()? as u8)))
        .collect()
}

fn link_local(ns: &Netns, dev: &str) -> Option<Ipv6Addr> {
    let v = ns.ip_json(&["-6", "addr", "show", "dev", dev, "scope", "link", "-tentative"]);
    v.as_array()?.iter().flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default()).find_map(|a| a["local"].as_str()?.parse().ok())
}

struct Isp {
    _radvd: Proc,
    _dhcpd: Proc,
    _dns: Proc,
    dir: std::path::PathBuf,
}

fn isp(ns: &Netns) -> Isp {
    let dir = tempdir("v6-isp");
    assert!(sh_ok(ns, "echo 1 > /proc/sys/net/ipv6/conf/all/forwarding"), "forwarding in the ISP namespace (radvd wants it)");
    ns.ip(&["addr", "add", "2001:db8:ffff::1/64", "dev", "isp0", "nodad"]);
    ns.ip(&["addr", "add", "2001:db8:ffff::53/64", "dev", "isp0", "nodad"]);
    ns.ip(&["link", "set", "isp0", "up"]);
    std::fs::write(dir.join("radvd.conf"), RADVD).unwrap();
    std::fs::write(dir.join("dhcpd6.conf"), DHCPD6).unwrap();
    std::fs::write(dir.join("dhcpd6.leases"), "").unwrap();
    let p = |f: &str| dir.join(f).display().to_string();
    let radvd = ns.exec(&["radvd", "-n", "-m", "stderr", "-C", &p("radvd.conf"), "-p", &p("radvd.pid")]);
    let dhcpd = ns.exec(&["dhcpd", "-6", "-f", "-d", "-cf", &p("dhcpd6.conf"), "-lf", &p("dhcpd6.leases"), "-pf", &p("dhcpd6.pid"), "isp0"]);
    let dns = ns.exec(&[
        "dnsmasq",
        "--no-daemon",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--user=root",
        "--listen-address=2001:db8:ffff::53",
        "--bind-interfaces",
        "--address=/www.isp.example/2001:db8:ffff::1",
        &format!("--pid-file={}", p("dnsmasq.pid")),
    ]);
    Isp { _radvd: radvd, _dhcpd: dhcpd, _dns: dns, dir }
}

#[test]
fn lan_host_gets_a_delegated_address_and_reaches_the_isp_over_ipv6() {
    if !can_run(&[
        Prereq::program("radvd", "apt-get install radvd"),
        Prereq::program("dhcpd", "apt-get install isc-dhcp-server"),
        Prereq::program("dnsmasq", "apt-get install dnsmasq-base"),
        Prereq::program("dig", "apt-get install dnsutils"),
        Prereq::program("rdisc6", "apt-get install ndisc6"),
        Prereq::program("busybox", "apt-get install busybox"),
    ]) {
        return;
    }
    let ispns = Netns::new("v6i");
    let rtr = Netns::new("v6r");
    let host = Netns::new("v6h");
    ispns.ip(&["link", "add", "isp0", "type", "veth", "peer", "name", "wan0", "netns", &rtr.name]);
    rtr.ip(&["link", "add", "lan0", "type", "veth", "peer", "name", "eth0", "netns", &host.name]);
    host.ip(&["link", "set", "eth0", "up"]);
    let the_isp = isp(&ispns);

    let root = tempdir("v6-router");
    std::fs::write(root.join("etc/oxwrt/network.toml"), ROUTER).unwrap();
    let paths = Paths::under(&root);
    let ula_file = root.join("etc/oxwrt/netd/ula-prefix");
    let stop = Arc::new(AtomicBool::new(false));
    let lease_seen: Arc<Mutex<Option<String>>> = Arc::default();
    let netd = {
        let (stop, seen) = (stop.clone(), lease_seen.clone());
        rtr.spawn(move || {
            let mut d = Daemon::start(paths).expect("netd starts");
            while !stop.load(Ordering::Relaxed) {
                d.step(Some(Duration::from_millis(50))).expect("event loop");
                let l = d.ipv6().and_then(|v| v.lease()).map(|l| format!("{:?} dns {:?}", l.prefix.map(|p| p.0.to_string()), l.dns));
                *seen.lock().unwrap() = l;
            }
        })
    };
    let logs = || {
        let dir = &the_isp.dir;
        format!("ISP dhcpd leases: {}", std::fs::read_to_string(dir.join("dhcpd6.leases")).unwrap_or_default())
    };

    // netd: a delegated /60 of the ISP's pool, the ISP's DNS server, a default route from
    // the ISP's router advertisements.
    let lease = wait_for(LIMIT, || lease_seen.lock().unwrap().clone()).unwrap_or_else(|| panic!("no DHCPv6 lease in 60 s; {}", logs()));
    assert!(lease.starts_with("Some(\"2001:db8:100:") && lease.contains("/60") && lease.contains("2001:db8:ffff::53"), "{lease}");
    let delegated: String = lease.trim_start_matches("Some(\"").split('/').next().unwrap().to_string();
    let prefix: Ipv6Addr = delegated.parse().unwrap();
    let mut seg = prefix.segments();
    seg[3] |= 3; // lan.ipv6_subnet = 3
    let lan64 = Ipv6Addr::new(seg[0], seg[1], seg[2], seg[3], 0, 0, 0, 0);
    let default = wait_for(LIMIT, || {
        let r = rtr.ip_json(&["-6", "route", "show", "default"]);
        r.as_array().and_then(|a| a.first().cloned())
    });
    assert!(default.is_some_and(|r| r["dev"] == "wan0"), "a default route on wan0 from radvd (accept_ra = 2)");
    assert_eq!(std::fs::read_to_string(&ula_file).ok(), None, "lan.ula is set: nothing made up");
    let unreachable = rtr.ip(&["-6", "route", "show", "type", "unreachable"]);
    assert!(unreachable.contains(&format!("{delegated}/60")), "the rest of the delegated prefix is unreachable: {unreachable}");

    // The LAN host: SLAAC in the LAN /64 from netd's router advertisement.
    let addr = wait_for(LIMIT, || global_addrs(&host, "eth0").into_iter().find(|(a, _)| a.segments()[..4] == lan64.segments()[..4]))
        .unwrap_or_else(|| panic!("no SLAAC address in {lan64}/64 on the host: {:?}", global_addrs(&host, "eth0")));
    assert_eq!(addr.1, 64);
    let ula_addr = global_addrs(&host, "eth0").into_iter().find(|(a, _)| a.segments()[..4] == [0xfd00, 6, 6, 3]);
    assert!(ula_addr.is_some(), "and one in the ULA /64: {:?}", global_addrs(&host, "eth0"));
    let rdisc = sh(&host, "rdisc6 -1 -w 3000 eth0");
    assert!(rdisc.contains("fd00:6:6:3::1"), "RDNSS: the router's ULA address\n{rdisc}");
    assert!(rdisc.contains(&format!("{lan64}/64")), "the delegated /64 is announced\n{rdisc}");
    assert!(rdisc.contains("Router lifetime") && !rdisc.contains("Router lifetime         :            0"), "a default router\n{rdisc}");

    // The ISP routes the delegated prefixes to the router, as an ISP's DHCPv6 relay or
    // server does (dhcpd itself installs no routes).
    let wan_ll = link_local(&rtr, "wan0").expect("wan0 has a link-local address");
    ispns.ip(&["-6", "route", "add", "2001:db8:100::/56", "via", &wan_ll.to_string(), "dev", "isp0"]);

    // Ping and TCP to the ISP from the host's own address (no NAT66).
    let pinged = wait_for(Duration::from_secs(20), || sh_ok(&host, "busybox ping -6 -c 1 -W 1 2001:db8:ffff::1 >/dev/null").then_some(()));
    assert!(pinged.is_some(), "ping 2001:db8:ffff::1 from the host through netd; {}", sh(&host, "ip -6 route; ip -6 addr"));
    let listener = ispns.run(|| TcpListener::bind("[2001:db8:ffff::1]:8080").unwrap());
    let peer = host.run(move || {
        let mut c = TcpStream::connect_timeout(&SocketAddr::from((Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 1), 8080)), Duration::from_secs(5))
            .expect("connect to the ISP");
        c.write_all(b"hi").unwrap();
        c.local_addr().unwrap()
    });
    let (mut s, seen) = listener.accept().unwrap();
    let mut buf = [0u8; 2];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(seen.ip(), peer.ip(), "the ISP sees the host's own address");
    assert_eq!(seen.ip().to_string().parse::<Ipv6Addr>().unwrap().segments()[..4], lan64.segments()[..4]);

    // AAAA through netd's forwarder on its LAN IPv6 address.
    let answer = sh(&host, "dig +short +time=3 +tries=2 AAAA www.isp.example @fd00:6:6:3::1");
    assert_eq!(answer.trim(), "2001:db8:ffff::1", "{answer}");

    // Unsolicited from the ISP to the host: dropped.
    let host_addr = addr.0;
    let _l = host.run(move || TcpListener::bind(SocketAddr::from((host_addr, 8081))).unwrap());
    let inbound = ispns.run(move || TcpStream::connect_timeout(&SocketAddr::from((host_addr, 8081)), Duration::from_secs(2)));
    assert!(inbound.is_err(), "a connection from the WAN to a LAN host must not get through");
    assert!(!sh_ok(&ispns, &format!("busybox ping -6 -c 1 -W 1 {host_addr} >/dev/null")), "nor a ping");

    stop.store(true, Ordering::Relaxed);
    netd.join().unwrap();
}
