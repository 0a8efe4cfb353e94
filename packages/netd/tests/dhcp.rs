//! DHCP over a veth pair between two network namespaces: netd's server and netd's client
//! against each other (lease, hostname recorded, route and DNS servers from the lease,
//! leases file kept across a restart), netd's server against busybox udhcpc, and netd's
//! client against dnsmasq. Needs root, `ip`, and the independent implementations (Debian:
//! busybox, dnsmasq-base); without them a test is skipped, or fails under
//! OXWRT_STRICT_TESTS=1 (oxwrt_testkit).

mod common;

use common::{can_run, tempdir, wait_for, Netns, Proc};
use netd::dhcp_client::Lease;
use netd::leases::LeaseTable;
use netd::{Daemon, Paths};
use oxwrt_testkit::Prereq;
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(30);

const SERVER_NETWORK: &str = r#"
[lan]
ports = ["vS"]
address = "192.168.50.1/24"
[wan]
device = "wanS"
proto = "static"
address = "198.51.100.2/24"
gateway = "198.51.100.1"
dns = ["198.51.100.53"]
[dhcp]
lease_time = "10m"
[dns]
enabled = false
"#;

fn client_network(hostname: &str) -> String {
    format!("[lan]\nports = [\"lanC\"]\naddress = \"10.99.0.1/24\"\n[wan]\ndevice = \"vC\"\nhostname = \"{hostname}\"\n[dhcp]\nenabled = false\n")
}

fn paths(tag: &str, network: &str) -> Paths {
    let root = tempdir(tag);
    std::fs::write(root.join("etc/oxwrt/network.toml"), network).unwrap();
    Paths::under(&root)
}

/// Two namespaces joined by vS (server side) and vC (client side), plus the devices each
/// side's configuration names.
fn pair(tag: &str) -> (Netns, Netns) {
    let srv = Netns::new(&format!("{tag}-s"));
    let cli = Netns::new(&format!("{tag}-c"));
    srv.ip(&["link", "add", "vS", "type", "veth", "peer", "name", "vC", "netns", &cli.name]);
    srv.veth("wanS", "wanSp");
    cli.veth("lanC", "lanCp");
    (srv, cli)
}

/// A netd running in `ns` until `stop`; returns the server's leases when it stopped.
fn run_netd(ns: &Netns, paths: Paths, stop: Arc<AtomicBool>) -> JoinHandle<Option<LeaseTable>> {
    ns.spawn(move || {
        let mut d = Daemon::start(paths).expect("netd starts");
        while !stop.load(Ordering::Relaxed) {
            d.step(Some(Duration::from_millis(50))).expect("event loop");
        }
        d.shutdown();
        d.server_leases().cloned()
    })
}

/// A netd client in `ns` until it has a lease (at most LIMIT).
fn get_lease(ns: &Netns, paths: Paths) -> Option<Lease> {
    ns.run(move || {
        let mut d = Daemon::start(paths).expect("netd starts");
        let start = Instant::now();
        while start.elapsed() < LIMIT {
            d.step(Some(Duration::from_millis(50))).expect("event loop");
            if let Some(l) = d.wan_lease() {
                return Some(l.clone());
            }
        }
        None
    })
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn netd_client_gets_a_lease_from_netd_server_and_leases_survive_a_restart() {
    if !can_run(&[]) {
        return;
    }
    let (srv, cli) = pair("dd");
    let spaths = paths("dd-server", SERVER_NETWORK);
    let leases_file = spaths.leases.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let server = run_netd(&srv, spaths.clone(), stop.clone());

    let cpaths = paths("dd-client", &client_network("client-one"));
    let (resolv_upstream, resolv_conf) = (cpaths.resolv_upstream(), cpaths.resolv_conf.clone());
    let lease = get_lease(&cli, cpaths).expect("the client got a lease within 30 s");
    let ip = lease.address.addr();
    assert_eq!(lease.address.prefix(), 24);
    assert!((100..=249).contains(&ip.octets()[3]) && lease.address.network() == Ipv4Addr::new(192, 168, 50, 0), "{lease:?}");
    assert_eq!(
        (lease.server, lease.routers.clone(), lease.dns.clone()),
        (Ipv4Addr::new(192, 168, 50, 1), vec![Ipv4Addr::new(192, 168, 50, 1)], vec![Ipv4Addr::new(198, 51, 100, 53)])
    );
    assert_eq!(lease.lease_secs, Some(600));

    // The client configured its WAN from the lease.
    assert_eq!(cli.addrs("vC"), [format!("{ip}/24")]);
    assert_eq!(cli.default_routes(), [("192.168.50.1".to_string(), "vC".to_string())]);
    assert_eq!(read(&resolv_upstream), "nameserver 198.51.100.53\n");
    assert_eq!(read(&resolv_conf), "nameserver 127.0.0.1\n", "the DNS forwarder is on: the router asks itself");

    // The server recorded the hostname and saved the lease.
    stop.store(true, Ordering::Relaxed);
    let table = server.join().unwrap().expect("the DHCP server ran");
    let e = table.by_ip(ip).expect("a lease for the client's address");
    assert_eq!(e.hostname.as_deref(), Some("client-one"));
    let text = read(&leases_file);
    assert!(text.contains(&format!(" {ip} client-one\n")), "{text}");

    // A restarted server knows the lease.
    let stop = Arc::new(AtomicBool::new(false));
    let again = run_netd(&srv, spaths, stop.clone());
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let table = again.join().unwrap().expect("the DHCP server ran");
    assert_eq!(table.by_ip(ip).and_then(|e| e.hostname.as_deref()), Some("client-one"));
}

#[test]
fn netd_server_leases_to_busybox_udhcpc() {
    if !can_run(&[Prereq::program("busybox", "apt-get install busybox")]) {
        return;
    }
    let (srv, cli) = pair("bb");
    let spaths = paths("bb-server", SERVER_NETWORK);
    let stop = Arc::new(AtomicBool::new(false));
    let server = run_netd(&srv, spaths, stop.clone());
    cli.ip(&["link", "set", "vC", "up"]);
    // Without -B udhcpc asks for unicast replies (netd sets an ARP entry first); with -B,
    // broadcast ones. -s /bin/true: get the lease, configure nothing.
    let mut got = Vec::new();
    for (flags, host) in [(&[][..], "bbclient"), (&["-B"][..], "bbclient-b")] {
        let mut cmd = vec!["busybox", "udhcpc", "-i", "vC", "-f", "-q", "-n", "-t", "10", "-T", "1", "-s", "/bin/true", "-x"];
        let x = format!("hostname:{host}");
        cmd.push(&x);
        cmd.extend_from_slice(flags);
        let (status, out) = cli.exec(&cmd).wait(LIMIT);
        assert_eq!(status, Some(0), "udhcpc {flags:?}: {out}");
        let line = out.lines().find(|l| l.contains("lease of")).unwrap_or_else(|| panic!("no lease in: {out}"));
        assert!(line.contains("lease of 192.168.50.") && line.contains("obtained"), "{line}");
        got.push(line.to_string());
    }
    stop.store(true, Ordering::Relaxed);
    let table = server.join().unwrap().expect("the DHCP server ran");
    assert_eq!(table.entries.len(), 1, "one client (one MAC address): {table:?}");
    assert_eq!(table.entries[0].hostname.as_deref(), Some("bbclient-b"), "the latest hostname");
    let ip = table.entries[0].ip.to_string();
    assert!(got.iter().all(|l| l.contains(&format!("lease of {ip} obtained"))), "the same address both times: {got:?}");
}

#[test]
fn netd_client_gets_a_lease_from_dnsmasq() {
    if !can_run(&[Prereq::program("dnsmasq", "apt-get install dnsmasq-base")]) {
        return;
    }
    let (srv, cli) = pair("dm");
    srv.ip(&["addr", "add", "172.30.0.1/24", "dev", "vS"]);
    srv.ip(&["link", "set", "vS", "up"]);
    // Outside the range: netd refuses a DNS server at its own address.
    let (dnsmasq, leasefile) = dnsmasq_server(&srv, "dm", "172.30.0.253");
    let cpaths = paths("dm-client", &client_network("client-two"));
    let resolv_upstream = cpaths.resolv_upstream();
    let lease = get_lease(&cli, cpaths);
    let leases = wait_for(Duration::from_secs(5), || std::fs::read_to_string(&leasefile).ok().filter(|t| !t.is_empty()));
    drop(dnsmasq);
    let lease = lease.expect("a lease from dnsmasq within 30 s");
    let ip = lease.address.addr();
    assert!((50..=60).contains(&ip.octets()[3]) && lease.address.network() == Ipv4Addr::new(172, 30, 0, 0), "{lease:?}");
    assert_eq!((lease.routers.clone(), lease.dns.clone()), (vec![Ipv4Addr::new(172, 30, 0, 1)], vec![Ipv4Addr::new(172, 30, 0, 253)]));
    assert_eq!(lease.lease_secs, Some(120));
    assert_eq!(cli.addrs("vC"), [format!("{ip}/24")]);
    assert_eq!(cli.default_routes(), [("172.30.0.1".to_string(), "vC".to_string())]);
    assert_eq!(read(&resolv_upstream), "nameserver 172.30.0.253\n");
    let leases = leases.expect("dnsmasq wrote its lease file");
    assert!(leases.contains(&format!(" {ip} client-two ")), "dnsmasq recorded netd's hostname: {leases}");
}

/// One exchange step of a bare client: carry out its actions on `sock`, return the Bound
/// lease if one came.
fn carry_out(sock: &std::net::UdpSocket, actions: Vec<netd::dhcp_client::Action>, sent_to: &mut Vec<Ipv4Addr>) -> Option<Lease> {
    let mut bound = None;
    for a in actions {
        match a {
            netd::dhcp_client::Action::Send { msg, to } => {
                sock.send_to(&msg.encode().unwrap(), (to, 67)).unwrap();
                sent_to.push(to);
            }
            netd::dhcp_client::Action::Bound(l) => bound = Some(l),
            netd::dhcp_client::Action::Lost => panic!("lost the lease"),
        }
    }
    bound
}

/// Runs the client until it has a lease (at most LIMIT) on a clock that starts at `base`
/// and runs at real speed (the server may miss the first DISCOVER: it is sent again).
fn exchange(client: &mut netd::dhcp_client::Client, sock: &std::net::UdpSocket, base: Instant, sent_to: &mut Vec<Ipv4Addr>) -> Option<Lease> {
    let start = Instant::now();
    let mut buf = [0u8; 1500];
    while start.elapsed() < LIMIT {
        let now = base + start.elapsed();
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => {
                let msg = netproto::dhcp::Message::parse(&buf[..n]).unwrap();
                let actions = client.on_message(&msg, now);
                if let Some(l) = carry_out(sock, actions, sent_to) {
                    return Some(l);
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
        if client.deadline().is_some_and(|d| d <= now) {
            let actions = client.on_timer(now);
            carry_out(sock, actions, sent_to);
        }
    }
    None
}

#[test]
fn renewal_at_t1_is_unicast_to_netd_server_and_extends_the_lease() {
    if !can_run(&[]) {
        return;
    }
    let (srv, cli) = pair("rn");
    let spaths = paths("rn-server", SERVER_NETWORK);
    let leases_file = spaths.leases.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let server = run_netd(&srv, spaths, stop.clone());
    cli.ip(&["link", "set", "vC", "up"]);
    // A bare client (no daemon), so that the test can jump its clock to T1.
    let (first, renewed, sent_to) = cli.run(|| {
        let mut rtnl = netd::rtnl::Rtnl::open().unwrap();
        let mac = rtnl.links().unwrap().into_iter().find(|l| l.name == "vC").unwrap().mac.unwrap();
        let sock = netd::udp::bind_dhcp(68, "vC").unwrap();
        sock.set_nonblocking(true).unwrap();
        let t0 = Instant::now();
        let mut client = netd::dhcp_client::Client::new(mac, Some("renewer".into()), None, 1, t0);
        let mut sent_to = Vec::new();
        let first = exchange(&mut client, &sock, t0, &mut sent_to).expect("a lease");
        let want = netd::apply::WanAddress::Lease { cidr: first.address, gateway: first.routers.first().copied(), valid_secs: Some(600) };
        netd::apply::apply_wan_address(&mut rtnl, "vC", &want).unwrap();
        sent_to.clear();
        let t1 = first.since + Duration::from_secs(first.t1.into());
        let actions = client.on_timer(t1);
        assert_eq!(client.state(), netd::dhcp_client::State::Renewing);
        carry_out(&sock, actions, &mut sent_to);
        let renewed = exchange(&mut client, &sock, t1, &mut sent_to).expect("the renewal was acknowledged");
        (first, renewed, sent_to)
    });
    assert_eq!(sent_to[0], Ipv4Addr::new(192, 168, 50, 1), "the renewal is unicast to the server");
    assert!(sent_to.iter().all(|to| *to == Ipv4Addr::new(192, 168, 50, 1)), "{sent_to:?}");
    assert_eq!(renewed.address, first.address);
    stop.store(true, Ordering::Relaxed);
    let table = server.join().unwrap().unwrap();
    let e = table.by_ip(first.address.addr()).unwrap();
    assert_eq!(e.hostname.as_deref(), Some("renewer"));
    assert!(read(&leases_file).contains("renewer"));
}

/// A WAN lease is checked like network.toml (issue "netd holds under abuse, fails closed"):
/// DNS servers at loopback or at the router's own LAN address (the forwarder would ask
/// itself) are left out, the others used.
#[test]
fn wan_lease_dns_servers_at_loopback_or_the_router_itself_are_refused() {
    if !can_run(&[Prereq::program("dnsmasq", "apt-get install dnsmasq-base")]) {
        return;
    }
    let (srv, cli) = pair("dv");
    srv.ip(&["addr", "add", "172.30.0.1/24", "dev", "vS"]);
    srv.ip(&["link", "set", "vS", "up"]);
    // 10.99.0.1: the client router's own LAN address (client_network).
    let (dnsmasq, _) = dnsmasq_server(&srv, "dv", "127.0.0.1,10.99.0.1,127.0.0.53,172.30.0.253");
    let cpaths = paths("dv-client", &client_network("client-three"));
    let resolv_upstream = cpaths.resolv_upstream();
    let lease = get_lease(&cli, cpaths);
    drop(dnsmasq);
    let lease = lease.expect("a lease from dnsmasq within 30 s");
    assert_eq!(lease.dns.len(), 4, "dnsmasq sent all four: {lease:?}");
    assert_eq!(cli.addrs("vC"), [format!("{}/24", lease.address.addr())], "the address itself is fine");
    assert_eq!(read(&resolv_upstream), "nameserver 172.30.0.253\n", "only the usable server");
}

/// dnsmasq as the DHCP server on `srv`'s vS (172.30.0.1/24 must be up): a 2-minute pool of
/// 172.30.0.50-60 handing out `dns_servers` (comma-separated); returns it and its lease file.
fn dnsmasq_server(srv: &Netns, tag: &str, dns_servers: &str) -> (Proc, std::path::PathBuf) {
    let dir = tempdir(&format!("{tag}-dnsmasq"));
    let leasefile = dir.join("dnsmasq.leases");
    let lf = format!("--dhcp-leasefile={}", leasefile.display());
    let pf = format!("--pid-file={}", dir.join("dnsmasq.pid").display());
    let dns = format!("--dhcp-option=option:dns-server,{dns_servers}");
    let dnsmasq = srv.exec(&[
        "dnsmasq",
        "--no-daemon",
        "--conf-file=/dev/null",
        "--port=0",
        "--interface=vS",
        "--bind-interfaces",
        "--user=root",
        "--dhcp-range=172.30.0.50,172.30.0.60,255.255.255.0,2m",
        &dns,
        &lf,
        &pf,
    ]);
    (dnsmasq, leasefile)
}
