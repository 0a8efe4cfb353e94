//! IPv6 end to end with real peers, three network namespaces:
//!
//! - "isp": radvd (router advertisements with the M and O flags, the ISP's /64),
//!   ISC dhcpd -6 (DHCPv6 with prefix delegation: /60s out of 2001:db8:100::/56, DNS
//!   server and SNTP server options), dnsmasq as the ISP's DNS server (an AAAA record), a TCP server;
//! - "router": netd (`wan.ipv6 = "auto"`) between wan0 (to the ISP) and br-lan (lan0);
//! - "host": a LAN host with the Linux kernel's own SLAAC, rdisc6 and dig.
//!
//! Checked: netd gets a delegated prefix and a default route from the ISP's RAs; the LAN
//! host gets an address in the LAN /64 of the delegated prefix from netd's RA, whose RDNSS
//! is the router's ULA address, DNSSL the local domain and MTU br-lan's (rdisc6 says so),
//! as stateless DHCPv6 says to ISC dhclient -S (DNS server and search list); the host pings
//! the ISP and connects to it
//! over IPv6 with its own address (no NAT66); it resolves an AAAA name through netd's
//! forwarder over IPv6 (netd asks the ISP's server from the DHCPv6 lease); netd publishes
//! the lease's SNTP server for timed (/run/netd/ntp-servers); the ISP cannot
//! open a connection to the host (WAN to LAN: only established).
//!
//! A second test renumbers (the ISP's dhcpd restarted with another pool); a third runs
//! netd's own binary as the device does (user netd, its three capabilities) with a
//! made-up ULA prefix, and asks it AAAA for the router's own name and for a LAN client's
//! (busybox udhcpc's lease with a hostname; its SLAAC addresses from the router's IPv6
//! neighbour table after it pinged the router from each); a fourth, netd's binary
//! too, gets a new `lan.ula` at SIGHUP and gives the prefix back at SIGTERM (RELEASE). The
//! tests that check what netd publishes to its DNS forwarder (names are process-wide state)
//! run netd's binary, not a Daemon in the test's process, where the other tests' daemons
//! run too.
//!
//! Needs root, `ip`, radvd, dhcpd (isc-dhcp-server), dnsmasq, dig, rdisc6 (ndisc6),
//! busybox (ping, udhcpc), dhclient (isc-dhcp-client); without them the test is skipped, or fails under OXWRT_STRICT_TESTS=1.

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
[[dhcp.static]]
mac = "02:00:00:00:00:10"
ip = "192.168.60.10"
hostname = "nas"
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
option dhcp6.sntp-servers 2001:db8:ffff::123, fe80::123;
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
    dhcpd: Option<Proc>,
    _dns: Proc,
    dir: std::path::PathBuf,
}

impl Isp {
    /// (Re)starts dhcpd -6 with `conf` and an empty lease file: an ISP that forgot its
    /// bindings and hands out other prefixes.
    fn dhcpd(&mut self, ns: &Netns, conf: &str) {
        self.dhcpd = None;
        std::thread::sleep(Duration::from_millis(200));
        let p = |f: &str| self.dir.join(f).display().to_string();
        std::fs::write(self.dir.join("dhcpd6.conf"), conf).unwrap();
        std::fs::write(self.dir.join("dhcpd6.leases"), "").unwrap();
        self.dhcpd = Some(ns.exec(&["dhcpd", "-6", "-f", "-d", "-cf", &p("dhcpd6.conf"), "-lf", &p("dhcpd6.leases"), "-pf", &p("dhcpd6.pid"), "isp0"]));
    }
}

fn isp(ns: &Netns, tag: &str, dhcpd_conf: &str) -> Isp {
    let dir = tempdir(tag);
    assert!(sh_ok(ns, "echo 1 > /proc/sys/net/ipv6/conf/all/forwarding"), "forwarding in the ISP namespace (radvd wants it)");
    ns.ip(&["addr", "add", "2001:db8:ffff::1/64", "dev", "isp0", "nodad"]);
    ns.ip(&["addr", "add", "2001:db8:ffff::53/64", "dev", "isp0", "nodad"]);
    ns.ip(&["link", "set", "isp0", "up"]);
    std::fs::write(dir.join("radvd.conf"), RADVD).unwrap();
    let p = |f: &str| dir.join(f).display().to_string();
    let radvd = ns.exec(&["radvd", "-n", "-m", "stderr", "-C", &p("radvd.conf"), "-p", &p("radvd.pid")]);
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
    let mut isp = Isp { _radvd: radvd, dhcpd: None, _dns: dns, dir };
    isp.dhcpd(ns, dhcpd_conf);
    isp
}

/// Three namespaces (module docs), the ISP's servers, netd running in "router" until the
/// returned flag is set; the lease netd holds (prefix and DNS servers, as text) is
/// published in `Rig::lease`.
struct Rig {
    isp_ns: Netns,
    rtr: Netns,
    host: Netns,
    isp: Isp,
    stop: Arc<AtomicBool>,
    lease: Arc<Mutex<Option<String>>>,
    netd: Option<std::thread::JoinHandle<()>>,
    root: std::path::PathBuf,
    /// netd as the device runs it (user netd, its capabilities only): [`Rig::as_user`].
    netd_proc: Option<Proc>,
    log: std::path::PathBuf,
    ula_file: std::path::PathBuf,
}

impl Rig {
    fn new(tag: &str, dhcpd_conf: &str) -> Rig {
        Rig::start(tag, dhcpd_conf, false)
    }

    /// netd as the device runs it: its own binary as uid 101 with NET_ADMIN, NET_RAW and
    /// NET_BIND_SERVICE only (package.toml); what it did is read from its log.
    fn as_user(tag: &str, dhcpd_conf: &str) -> Rig {
        Rig::start(tag, dhcpd_conf, true)
    }

    fn start(tag: &str, dhcpd_conf: &str, as_user: bool) -> Rig {
        let isp_ns = Netns::new(&format!("{tag}i"));
        let rtr = Netns::new(&format!("{tag}r"));
        let host = Netns::new(&format!("{tag}h"));
        Rig::wire_wan(&isp_ns, &rtr);
        rtr.ip(&["link", "add", "lan0", "type", "veth", "peer", "name", "eth0", "netns", &host.name]);
        host.ip(&["link", "set", "eth0", "up"]);
        let isp = isp(&isp_ns, &format!("{tag}-isp"), dhcpd_conf);
        Rig::run(isp_ns, rtr, host, isp, tag, as_user)
    }

    /// The cable between the ISP and the router.
    fn wire_wan(isp_ns: &Netns, rtr: &Netns) {
        isp_ns.ip(&["link", "add", "isp0", "type", "veth", "peer", "name", "wan0", "netns", &rtr.name]);
    }

    /// netd started before its WAN device exists (a VLAN or USB device that comes later):
    /// the ISP's side is set up, the cable plugged in `delay` after netd started.
    fn late_wan(tag: &str, dhcpd_conf: &str, delay: Duration) -> Rig {
        let isp_ns = Netns::new(&format!("{tag}i"));
        let rtr = Netns::new(&format!("{tag}r"));
        let host = Netns::new(&format!("{tag}h"));
        rtr.ip(&["link", "add", "lan0", "type", "veth", "peer", "name", "eth0", "netns", &host.name]);
        host.ip(&["link", "set", "eth0", "up"]);
        // This host's kernel has no dummy devices: a veth pair inside the ISP stands in.
        isp_ns.veth("isp0", "isp0p");
        let isp = isp(&isp_ns, &format!("{tag}-isp"), dhcpd_conf);
        let mut rig = Rig::run(isp_ns, rtr, host, isp, tag, false);
        std::thread::sleep(delay);
        // dhcpd and radvd keep running on isp0: a veth end of the same name replaces the
        // stand-in, with the addresses added again.
        rig.isp_ns.ip(&["link", "del", "isp0"]);
        Rig::wire_wan(&rig.isp_ns, &rig.rtr);
        rig.isp_ns.ip(&["addr", "add", "2001:db8:ffff::1/64", "dev", "isp0", "nodad"]);
        rig.isp_ns.ip(&["addr", "add", "2001:db8:ffff::53/64", "dev", "isp0", "nodad"]);
        rig.isp_ns.ip(&["link", "set", "isp0", "up"]);
        // dhcpd binds to the device it found at start: started again on the new one.
        rig.isp.dhcpd(&rig.isp_ns, dhcpd_conf);
        rig
    }

    fn run(isp_ns: Netns, rtr: Netns, host: Netns, isp: Isp, tag: &str, as_user: bool) -> Rig {
        let root = tempdir(&format!("{tag}-router"));
        // As the device: no lan.ula, netd makes one up; its DHCP server on.
        let network =
            if as_user { ROUTER.replace("ula = \"fd00:6:6::/48\"\n", "").replace("[dhcp]\nenabled = false\n", "[dhcp]\n") } else { ROUTER.to_string() };
        std::fs::write(root.join("etc/oxwrt/network.toml"), network).unwrap();
        std::fs::write(root.join("etc/hostname"), "gw\n").unwrap();
        let paths = Paths::under(&root);
        let stop = Arc::new(AtomicBool::new(false));
        let lease: Arc<Mutex<Option<String>>> = Arc::default();
        let log = root.join("netd.log");
        let ula_file = root.join("etc/oxwrt/netd/ula-prefix");
        if as_user {
            assert!(std::process::Command::new("chown").args(["-R", "101:101"]).arg(&root).status().unwrap().success());
            let caps = "+net_admin,+net_raw,+net_bind_service";
            let child = std::process::Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &rtr.name,
                    "setpriv",
                    "--reuid",
                    "101",
                    "--regid",
                    "101",
                    "--clear-groups",
                    "--inh-caps",
                    caps,
                    "--ambient-caps",
                    caps,
                    "--",
                ])
                .args([env!("CARGO_BIN_EXE_netd"), "--root"])
                .arg(&root)
                .stdout(std::process::Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap();
            return Rig { isp_ns, rtr, host, isp, stop, lease, netd: None, root, netd_proc: Some(Proc(Some(child))), log, ula_file };
        }
        let netd = {
            let (stop, seen) = (stop.clone(), lease.clone());
            rtr.spawn(move || {
                let mut d = Daemon::start(paths).expect("netd starts");
                while !stop.load(Ordering::Relaxed) {
                    d.step(Some(Duration::from_millis(50))).expect("event loop");
                    let l = d.ipv6().and_then(|v| v.lease()).map(|l| format!("{:?} dns {:?}", l.prefix.map(|p| p.0.to_string()), l.dns));
                    *seen.lock().unwrap() = l;
                }
                // As netd's main does after SIGTERM.
                d.shutdown();
            })
        };
        Rig { isp_ns, rtr, host, isp, stop, lease, netd: Some(netd), root, netd_proc: None, log, ula_file }
    }

    /// The delegated prefix netd holds (its first address), once it holds one that `ok`.
    fn delegated(&self, limit: Duration, ok: impl Fn(&str) -> bool) -> Ipv6Addr {
        let lease = wait_for(limit, || self.lease.lock().unwrap().clone().filter(|l| ok(l))).unwrap_or_else(|| {
            panic!("no (new) DHCPv6 lease; ISP leases: {}", std::fs::read_to_string(self.isp.dir.join("dhcpd6.leases")).unwrap_or_default())
        });
        assert!(lease.contains("/60") && lease.contains("2001:db8:ffff::53"), "{lease}");
        lease.trim_start_matches("Some(\"").split('/').next().unwrap().parse().unwrap()
    }

    /// The ISP routes the delegated prefixes to the router, as an ISP's DHCPv6 relay or
    /// server does (dhcpd itself installs no routes).
    fn isp_routes(&self, prefix: &str) {
        let wan_ll = link_local(&self.rtr, "wan0").expect("wan0 has a link-local address");
        self.isp_ns.ip(&["-6", "route", "replace", prefix, "via", &wan_ll.to_string(), "dev", "isp0"]);
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.netd_proc = None;
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.netd.take() {
            let _ = t.join();
        }
    }
}

/// The LAN /64 (`lan.ipv6_subnet = 3`) of a delegated /60.
fn lan64(delegated: Ipv6Addr) -> Ipv6Addr {
    let mut seg = delegated.segments();
    seg[3] |= 3;
    Ipv6Addr::new(seg[0], seg[1], seg[2], seg[3], 0, 0, 0, 0)
}

fn same64(a: Ipv6Addr, b: Ipv6Addr) -> bool {
    a.segments()[..4] == b.segments()[..4]
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
        Prereq::program("dhclient", "apt-get install isc-dhcp-client"),
    ]) {
        return;
    }
    let rig = Rig::new("v6", DHCPD6);
    let (ispns, rtr, host) = (&rig.isp_ns, &rig.rtr, &rig.host);

    // netd: a delegated /60 of the ISP's pool, the ISP's DNS server, a default route from
    // the ISP's router advertisements.
    let prefix = rig.delegated(LIMIT, |l| l.starts_with("Some(\"2001:db8:100:"));
    let delegated = prefix.to_string();
    let lan64 = lan64(prefix);
    let default = wait_for(LIMIT, || {
        let r = rtr.ip_json(&["-6", "route", "show", "default"]);
        r.as_array().and_then(|a| a.first().cloned())
    });
    assert!(default.is_some_and(|r| r["dev"] == "wan0"), "a default route on wan0 from radvd (accept_ra = 2)");
    assert_eq!(std::fs::read_to_string(&rig.ula_file).ok(), None, "lan.ula is set: nothing made up");
    let unreachable = rtr.ip(&["-6", "route", "show", "type", "unreachable"]);
    assert!(unreachable.contains(&format!("{delegated}/60")), "the rest of the delegated prefix is unreachable: {unreachable}");
    // The SNTP servers of the DHCPv6 lease (option 31) for timed, the link-local one left out.
    let ntp = std::fs::read_to_string(rig.root.join("run/netd/ntp-servers")).unwrap_or_default();
    assert_eq!(ntp, "2001:db8:ffff::123\n", "/run/netd/ntp-servers");

    // The LAN host: SLAAC in the LAN /64 from netd's router advertisement.
    let addr = wait_for(LIMIT, || global_addrs(host, "eth0").into_iter().find(|(a, _)| same64(*a, lan64)))
        .unwrap_or_else(|| panic!("no SLAAC address in {lan64}/64 on the host: {:?}", global_addrs(host, "eth0")));
    assert_eq!(addr.1, 64);
    let ula_addr = global_addrs(host, "eth0").into_iter().find(|(a, _)| a.segments()[..4] == [0xfd00, 6, 6, 3]);
    assert!(ula_addr.is_some(), "and one in the ULA /64: {:?}", global_addrs(host, "eth0"));
    let rdisc = sh(host, "rdisc6 -1 -w 3000 eth0");
    assert!(rdisc.contains("fd00:6:6:3::1"), "RDNSS: the router's ULA address\n{rdisc}");
    assert!(rdisc.lines().any(|l| l.contains("DNS search list") && l.contains("lan")), "DNSSL: the local domain\n{rdisc}");
    let mtu = sh(rtr, "cat /sys/class/net/br-lan/mtu");
    assert!(rdisc.lines().any(|l| l.contains("MTU") && l.contains(&format!(" {} ", mtu.trim()))), "MTU: the bridge's {mtu}\n{rdisc}");
    assert!(rdisc.contains(&format!("{lan64}/64")), "the delegated /64 is announced\n{rdisc}");
    assert!(rdisc.lines().any(|l| l.contains("Stateful other conf.") && l.contains("Yes")), "the O flag: DNS from stateless DHCPv6 too\n{rdisc}");
    assert!(rdisc.contains("Router lifetime") && !rdisc.contains("Router lifetime         :            0"), "a default router\n{rdisc}");

    rig.isp_routes("2001:db8:100::/56");

    // Ping and TCP to the ISP from the host's own address (no NAT66).
    let pinged = wait_for(Duration::from_secs(20), || sh_ok(host, "busybox ping -6 -c 1 -W 1 2001:db8:ffff::1 >/dev/null").then_some(()));
    assert!(pinged.is_some(), "ping 2001:db8:ffff::1 from the host through netd; {}", sh(host, "ip -6 route; ip -6 addr"));
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

    // Stateless DHCPv6 (RFC 8415 6.1) as an independent client asks it: ISC dhclient -S.
    let dir = tempdir("v6-dhclient");
    let script = dir.join("script.sh");
    let out = dir.join("env");
    std::fs::write(&script, format!("#!/bin/sh\nenv > {}\n", out.display())).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let cmd = format!("timeout 20 dhclient -6 -S -1 -v -sf {} -lf {} -pf {} eth0", script.display(), dir.join("leases").display(), dir.join("pid").display());
    let said = sh(host, &cmd);
    let env = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(env.contains("new_dhcp6_name_servers=fd00:6:6:3::1"), "dhclient -S got the router's DNS server:\n{env}\n{said}");
    assert!(env.lines().any(|l| l.starts_with("new_dhcp6_domain_search=") && l.contains("lan")), "and the search list (option 24):\n{env}");

    // AAAA through netd's forwarder on its LAN IPv6 address.
    let answer = sh(host, "dig +short +time=3 +tries=2 AAAA www.isp.example @fd00:6:6:3::1");
    assert_eq!(answer.trim(), "2001:db8:ffff::1", "{answer}");

    // Unsolicited from the ISP to the host: dropped.
    let host_addr = addr.0;
    let _l = host.run(move || TcpListener::bind(SocketAddr::from((host_addr, 8081))).unwrap());
    let inbound = ispns.run(move || TcpStream::connect_timeout(&SocketAddr::from((host_addr, 8081)), Duration::from_secs(2)));
    assert!(inbound.is_err(), "a connection from the WAN to a LAN host must not get through");
    assert!(!sh_ok(ispns, &format!("busybox ping -6 -c 1 -W 1 {host_addr} >/dev/null")), "nor a ping");
}

/// Short lifetimes, so that the router renews within seconds.
const DHCPD6_SHORT: &str = "default-lease-time 40;
preferred-lifetime 20;
max-lease-time 40;
option dhcp6.name-servers 2001:db8:ffff::53;
subnet6 2001:db8:ffff::/64 {
    prefix6 PREFIX_FROM PREFIX_TO /60;
}
";

/// The ISP renumbers: dhcpd restarted with another pool and no memory of the binding. At
/// its next renewal netd gets the new prefix; LAN hosts get an address in it, and the old
/// /64 is deprecated on the host and on the router (preferred lifetime 0), not removed at
/// once.
#[test]
fn a_renumbered_prefix_reaches_the_lan_and_the_old_one_is_deprecated() {
    if !can_run(&[
        Prereq::program("radvd", "apt-get install radvd"),
        Prereq::program("dhcpd", "apt-get install isc-dhcp-server"),
        Prereq::program("dnsmasq", "apt-get install dnsmasq-base"),
    ]) {
        return;
    }
    let first = DHCPD6_SHORT.replace("PREFIX_FROM", "2001:db8:100::").replace("PREFIX_TO", "2001:db8:100:f0::");
    let mut rig = Rig::new("v6n", &first);
    let old = rig.delegated(LIMIT, |l| l.starts_with("Some(\"2001:db8:100:"));
    let old64 = lan64(old);
    let host_old = wait_for(LIMIT, || global_addrs(&rig.host, "eth0").into_iter().find(|(a, _)| same64(*a, old64)));
    assert!(host_old.is_some(), "the host has an address in {old64}/64");

    let second = DHCPD6_SHORT.replace("PREFIX_FROM", "2001:db8:200::").replace("PREFIX_TO", "2001:db8:200:f0::");
    rig.isp.dhcpd(&rig.isp_ns, &second);
    let new = rig.delegated(Duration::from_secs(90), |l| l.starts_with("Some(\"2001:db8:200:"));
    let new64 = lan64(new);
    let host_new = wait_for(LIMIT, || global_addrs(&rig.host, "eth0").into_iter().find(|(a, _)| same64(*a, new64)));
    assert!(host_new.is_some(), "the host has an address in the new {new64}/64: {}", sh(&rig.host, "ip -6 addr show dev eth0"));
    let deprecated = sh(&rig.host, "ip -6 addr show dev eth0 deprecated");
    assert!(
        deprecated.contains(&old64.to_string().trim_end_matches("::").to_string()),
        "the old /64 is deprecated on the host:\n{deprecated}\n{}",
        sh(&rig.host, "ip -6 addr show dev eth0")
    );
    let router_old = sh(&rig.rtr, "ip -6 addr show dev br-lan deprecated");
    assert!(router_old.contains(&old64.to_string().trim_end_matches("::").to_string()), "the router's old LAN address is deprecated:\n{router_old}");
    let unreachable = sh(&rig.rtr, "ip -6 route show type unreachable");
    assert!(unreachable.contains(&format!("{new}/60")) && !unreachable.contains(&format!("{old}/60")), "{unreachable}");
}

/// As the device runs it: netd's own binary as user netd (uid 101) with its three
/// capabilities, the ULA prefix made up (lan.ula unset) and kept in netd's directory; the
/// delegated prefix, the WAN's accept_ra and IPv6 forwarding set, a LAN host with an
/// address of it, AAAA records for the router's own name and for a LAN client's (its SLAAC
/// addresses, by its lease's MAC in the neighbour table); nothing in the log is an ERROR.
#[test]
fn netd_as_its_user_runs_ipv6() {
    if !can_run(&[
        Prereq::program("radvd", "apt-get install radvd"),
        Prereq::program("dhcpd", "apt-get install isc-dhcp-server"),
        Prereq::program("dnsmasq", "apt-get install dnsmasq-base"),
        Prereq::program("setpriv", "apt-get install util-linux"),
        Prereq::program("dig", "apt-get install dnsutils"),
        Prereq::program("busybox", "apt-get install busybox"),
    ]) {
        return;
    }
    let rig = Rig::as_user("v6u", DHCPD6);
    let log = || std::fs::read_to_string(&rig.log).unwrap_or_default();
    let line = wait_for(LIMIT, || log().lines().find(|l| l.contains("ipv6: delegated prefix 2001:db8:100:")).map(str::to_string))
        .unwrap_or_else(|| panic!("no delegated prefix in netd's log:\n{}", log()));
    let lan = line.split("LAN ").nth(1).and_then(|s| s.split("::/64").next()).unwrap().to_string();
    let ula = std::fs::read_to_string(&rig.ula_file).unwrap_or_else(|e| panic!("{}: {e}\n{}", rig.ula_file.display(), log()));
    let ula: oxwrt_config::Ipv6Prefix = ula.trim().parse().unwrap();
    assert!(ula.is_ula() && ula.prefix_len() == 48, "{ula}");
    assert!(log().contains(&format!("made up the LAN's ULA prefix {ula}")), "{}", log());
    for (key, want) in [("net/ipv6/conf/wan0/accept_ra", "2"), ("net/ipv6/conf/br-lan/accept_ra", "0"), ("net/ipv6/conf/all/forwarding", "1")] {
        assert_eq!(sh(&rig.rtr, &format!("cat /proc/sys/{key}")).trim(), want, "{key}\n{}", log());
    }
    let addr = wait_for(LIMIT, || {
        let out = sh(&rig.host, "ip -6 -o addr show dev eth0 scope global");
        out.split_whitespace().find(|w| w.starts_with(&format!("{lan}:"))).map(str::to_string)
    });
    assert!(addr.is_some(), "the host has no address in {lan}::/64: {}\n{}", sh(&rig.host, "ip -6 addr"), log());

    // The router's own name (/etc/hostname): its ULA and delegated LAN addresses (AAAA,
    // answered by netd; in its own process, as the names are per process); a LAN name with
    // an IPv4 address only: NODATA, not NXDOMAIN.
    let dns = ula.subnet64(3).unwrap().host(1);
    let own = sh(&rig.host, &format!("dig +short +time=3 +tries=3 AAAA gw.lan @{dns}"));
    let mut own: Vec<String> = own.split_whitespace().map(str::to_string).collect();
    own.sort();
    assert_eq!(own, [format!("{lan}::1"), dns.to_string()], "AAAA gw.lan\n{}", log());
    let nas = sh(&rig.host, &format!("dig +time=3 +tries=3 AAAA nas.lan @{dns}"));
    assert!(nas.contains("status: NOERROR") && nas.contains("ANSWER: 0"), "NODATA for a name without IPv6:\n{nas}");
    let nas4 = sh(&rig.host, &format!("dig +short +time=3 +tries=3 A nas.lan @{dns}"));
    assert_eq!(nas4.trim(), "192.168.60.10");

    // A LAN client's name: an IPv4 lease with a hostname (busybox udhcpc sends option 12;
    // its script does nothing, the lease is what counts), then a ping to the router from
    // each of its global addresses (SLAAC from netd's RAs), so the router's neighbour table
    // holds them with its MAC: AAAA laptop.lan is exactly those, with a short TTL.
    let udhcpc = sh(&rig.host, "busybox udhcpc -i eth0 -n -q -t 10 -T 1 -x hostname:laptop -s /bin/true 2>&1");
    let laptop4 = wait_for(Duration::from_secs(10), || {
        let a = sh(&rig.host, &format!("dig +short +time=3 +tries=3 A laptop.lan @{dns}"));
        (!a.trim().is_empty()).then(|| a.trim().to_string())
    });
    assert!(
        laptop4.is_some_and(|a| a.starts_with("192.168.60.")),
        "no A laptop.lan after udhcpc's lease:
{udhcpc}
{}",
        log()
    );
    let mut mine: Vec<String> = global_addrs(&rig.host, "eth0").into_iter().map(|(a, _)| a.to_string()).collect();
    mine.sort();
    assert!(mine.len() >= 2, "the host has its ULA and delegated SLAAC addresses: {mine:?}");
    for a in &mine {
        // (A new address is tentative for a moment: duplicate address detection.)
        let pinged = wait_for(Duration::from_secs(10), || sh_ok(&rig.host, &format!("busybox ping -6 -c 1 -W 1 -I {a} {dns} >/dev/null")).then_some(()));
        assert!(pinged.is_some(), "ping {dns} from {a}: {}", sh(&rig.host, "ip -6 addr; ip -6 route"));
    }
    let answer = sh(&rig.host, &format!("dig +noall +answer +time=3 +tries=3 AAAA laptop.lan @{dns}"));
    let mut got: Vec<String> = answer.lines().filter_map(|l| l.split_whitespace().nth(4).map(str::to_string)).collect();
    got.sort();
    assert_eq!(
        got,
        mine,
        "AAAA laptop.lan: the host's global addresses
{answer}
{}",
        sh(&rig.rtr, "ip -6 neigh show dev br-lan")
    );
    let ttls: Vec<u32> = answer.lines().filter_map(|l| l.split_whitespace().nth(1)?.parse().ok()).collect();
    assert!(ttls.iter().all(|t| *t <= 60), "TTL at most 60 s: {answer}");
    assert!(!got.iter().any(|a| a.starts_with("fe80")), "no link-local addresses: {answer}");
    assert!(!log().contains("ERROR"), "{}", log());
}

/// The WAN device appears only after netd started: DHCPv6 starts when it does (the link
/// event), and the prefix is delegated.
#[test]
fn dhcpv6_starts_when_the_wan_device_appears() {
    if !can_run(&[
        Prereq::program("radvd", "apt-get install radvd"),
        Prereq::program("dhcpd", "apt-get install isc-dhcp-server"),
        Prereq::program("dnsmasq", "apt-get install dnsmasq-base"),
    ]) {
        return;
    }
    let rig = Rig::late_wan("v6l", DHCPD6, Duration::from_secs(2));
    let prefix = rig.delegated(LIMIT, |l| l.starts_with("Some(\"2001:db8:100:"));
    let lan = lan64(prefix);
    let addr = wait_for(LIMIT, || global_addrs(&rig.host, "eth0").into_iter().find(|(a, _)| same64(*a, lan)));
    assert!(addr.is_some(), "the host has an address in {lan}/64");
}

/// A new `lan.ula` on reload (SIGHUP), netd's own binary as the device runs it (its own
/// process: the DNS names it publishes are per process): the router's old ULA address and
/// its route go, the new one is there, and LAN hosts get the old /64 deprecated. Then
/// SIGTERM: netd gives the delegated prefix back to the real dhcpd (its lease file says
/// so), exits within a few seconds, and its last advertisement deprecates the delegated
/// /64 on the host.
#[test]
fn a_new_ula_on_reload_and_the_prefix_released_at_shutdown() {
    if !can_run(&[
        Prereq::program("radvd", "apt-get install radvd"),
        Prereq::program("dhcpd", "apt-get install isc-dhcp-server"),
        Prereq::program("dnsmasq", "apt-get install dnsmasq-base"),
        Prereq::program("setpriv", "apt-get install util-linux"),
    ]) {
        return;
    }
    let mut rig = Rig::as_user("v6r", DHCPD6);
    let log = || std::fs::read_to_string(&rig.log).unwrap_or_default();
    let line = wait_for(LIMIT, || log().lines().find(|l| l.contains("ipv6: delegated prefix 2001:db8:100:")).map(str::to_string))
        .unwrap_or_else(|| panic!("no delegated prefix in netd's log:\n{}", log()));
    let lan: Ipv6Addr = line.split("LAN ").nth(1).and_then(|s| s.split("/64").next()).and_then(|a| a.parse().ok()).unwrap_or_else(|| panic!("{line}"));
    let ula48: oxwrt_config::Ipv6Prefix = std::fs::read_to_string(&rig.ula_file).unwrap().trim().parse().unwrap();
    let old_ula = ula48.subnet64(3).unwrap().addr();
    for want in [lan, old_ula] {
        let got = wait_for(LIMIT, || global_addrs(&rig.host, "eth0").into_iter().find(|(a, _)| same64(*a, want)));
        assert!(got.is_some(), "the host has an address in {want}/64: {:?}", global_addrs(&rig.host, "eth0"));
    }

    let config = rig.root.join("etc/oxwrt/network.toml");
    let network = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, network.replace("ipv6_subnet = 3\n", "ipv6_subnet = 3\nula = \"fd00:7:7::/48\"\n")).unwrap();
    let child = rig.netd_proc.as_mut().and_then(|p| p.0.as_mut()).unwrap();
    // SAFETY: kill(2) on our own child (`ip netns exec` and setpriv exec netd in place).
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGHUP) }, 0);
    let new_ula: Ipv6Addr = "fd00:7:7:3::".parse().unwrap();
    let moved = wait_for(Duration::from_secs(10), || {
        let r = global_addrs(&rig.rtr, "br-lan");
        (r.contains(&("fd00:7:7:3::1".parse().unwrap(), 64)) && !r.iter().any(|(a, _)| same64(*a, old_ula))).then_some(())
    });
    assert!(moved.is_some(), "br-lan: the new ULA address only\n{}\n{}", sh(&rig.rtr, "ip -6 addr show dev br-lan"), log());
    let routes = sh(&rig.rtr, "ip -6 route show dev br-lan");
    assert!(!routes.contains(&format!("{old_ula}/64")), "the old ULA route is gone:\n{routes}");
    let host_new = wait_for(LIMIT, || global_addrs(&rig.host, "eth0").into_iter().find(|(a, _)| same64(*a, new_ula)));
    assert!(host_new.is_some(), "the host has an address in the new ULA /64: {}", sh(&rig.host, "ip -6 addr show dev eth0"));
    let deprecated = sh(&rig.host, "ip -6 addr show dev eth0 deprecated");
    let old_text = old_ula.to_string().trim_end_matches("::").to_string();
    assert!(deprecated.contains(&old_text), "the old ULA /64 is deprecated on the host:\n{}", sh(&rig.host, "ip -6 addr show dev eth0"));
    // The reload starts the DHCPv6 client again: the same prefix (the same DUID).
    let again = wait_for(LIMIT, || log().lines().filter(|l| l.contains("ipv6: delegated prefix 2001:db8:100:")).nth(1).map(str::to_string));
    assert!(again.is_some_and(|l| l.contains(&format!("LAN {lan}/64"))), "{}", log());

    // SIGTERM: RELEASE, and the last advertisement.
    let leases = rig.isp.dir.join("dhcpd6.leases");
    let t = std::time::Instant::now();
    let child = rig.netd_proc.as_mut().and_then(|p| p.0.as_mut()).unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let exited = wait_for(Duration::from_secs(10), || child.try_wait().unwrap());
    let took = t.elapsed();
    assert_eq!(exited.and_then(|s| s.code()), Some(0), "{}", log());
    assert!(took < Duration::from_secs(4), "shutdown took {took:?}");
    assert!(log().contains("ipv6: gave the delegated prefix back to the DHCPv6 server (confirmed)"), "{}", log());
    let released = wait_for(Duration::from_secs(5), || {
        let text = std::fs::read_to_string(&leases).unwrap_or_default();
        text.contains("binding state released").then_some(text)
    });
    assert!(released.is_some(), "dhcpd saw no RELEASE:\n{}", std::fs::read_to_string(&leases).unwrap_or_default());
    let lan_text = lan.to_string().trim_end_matches("::").to_string();
    let gone = wait_for(Duration::from_secs(5), || sh(&rig.host, "ip -6 addr show dev eth0 deprecated").contains(&lan_text).then_some(()));
    assert!(gone.is_some(), "the host's address in {lan}/64 is deprecated:\n{}", sh(&rig.host, "ip -6 addr show dev eth0"));
    assert!(global_addrs(&rig.rtr, "br-lan").iter().all(|(a, _)| !same64(*a, lan)), "{}", sh(&rig.rtr, "ip -6 addr show dev br-lan"));
    assert!(!log().contains("ERROR"), "{}", log());
}
