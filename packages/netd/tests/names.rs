//! LAN names a DHCP client may not claim, end to end: netd's DHCP server and DNS forwarder
//! in one namespace, a netd client claiming `wpad` in another (a veth between them), then
//! DNS queries to the forwarder. Its own test binary: crate::state (the names the forwarder
//! answers) is process-wide, and other tests' daemons would publish theirs into it.
//! Needs root and `ip` (oxwrt_testkit: fails under OXWRT_STRICT_TESTS=1 without them).

mod common;

use common::{can_run, tempdir, Netns};
use netd::{Daemon, Paths};
use netproto::dns::{rcode, rtype, Message, Name, RData};
use std::net::{Ipv4Addr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SERVER_NETWORK: &str = r#"
[lan]
ports = ["vS"]
address = "192.168.51.1/24"
[wan]
device = "wanS"
proto = "static"
address = "198.51.100.2/24"
gateway = "198.51.100.1"
dns = ["198.51.100.53"]
"#;

fn ask(server: Ipv4Addr, name: &str) -> Message {
    let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let q = Message::query(7, Name::from_ascii(name).unwrap(), rtype::A);
    sock.send_to(&q.encode().unwrap(), (server, 53)).unwrap();
    let mut buf = [0u8; 1500];
    let n = sock.recv(&mut buf).unwrap_or_else(|e| panic!("no answer from the forwarder for {name}: {e}"));
    Message::parse(&buf[..n]).unwrap()
}

fn addresses(m: &Message) -> Vec<Ipv4Addr> {
    m.answers.iter().filter_map(|r| if let RData::A(a) = r.data { Some(a) } else { None }).collect()
}

#[test]
fn a_client_claiming_wpad_is_not_answered_for_it_and_the_router_has_its_name() {
    if !can_run(&[]) {
        return;
    }
    let srv = Netns::new("nm-s");
    let cli = Netns::new("nm-c");
    srv.ip(&["link", "add", "vS", "type", "veth", "peer", "name", "vC", "netns", &cli.name]);
    srv.veth("wanS", "wanSp");
    cli.veth("lanC", "lanCp");

    let sroot = tempdir("nm-server");
    std::fs::write(sroot.join("etc/oxwrt/network.toml"), SERVER_NETWORK).unwrap();
    std::fs::write(sroot.join("etc/hostname"), "gw\n").unwrap();
    let croot = tempdir("nm-client");
    let client_network =
        "[lan]\nports = [\"lanC\"]\naddress = \"10.98.0.1/24\"\n[wan]\ndevice = \"vC\"\nhostname = \"wpad\"\n[dhcp]\nenabled = false\n[dns]\nenabled = false\n";
    std::fs::write(croot.join("etc/oxwrt/network.toml"), client_network).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicBool::new(false));
    let (stop2, ready2) = (stop.clone(), ready.clone());
    let server = srv.spawn(move || {
        let mut d = Daemon::start(Paths::under(&sroot)).expect("netd starts");
        ready2.store(true, Ordering::Relaxed);
        while !stop2.load(Ordering::Relaxed) {
            d.step(Some(Duration::from_millis(20))).expect("event loop");
        }
        d.shutdown();
        d.server_leases().cloned()
    });
    while !ready.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // The client claims `wpad` (DHCP option 12, from wan.hostname).
    let lease = cli
        .run(move || {
            let mut d = Daemon::start(Paths::under(&croot)).expect("netd starts");
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(30) {
                d.step(Some(Duration::from_millis(50))).expect("event loop");
                if let Some(l) = d.wan_lease() {
                    return Some(l.clone());
                }
            }
            None
        })
        .expect("the client got a lease within 30 s");
    let ip = lease.address.addr();
    // Give the server's loop a round to publish the names after the ACK.
    std::thread::sleep(Duration::from_millis(200));

    let (wpad, gw, bare) = srv.run(|| {
        let lan = Ipv4Addr::new(192, 168, 51, 1);
        (ask(lan, "wpad.lan"), ask(lan, "gw.lan"), ask(lan, "wpad"))
    });
    stop.store(true, Ordering::Relaxed);
    let table = server.join().unwrap().expect("the DHCP server ran");
    assert_eq!(table.by_ip(ip).and_then(|e| e.hostname.as_deref()), Some("wpad"), "the lease itself records what the client sent");

    assert_eq!((wpad.header.rcode(), addresses(&wpad)), (rcode::NXDOMAIN, vec![]), "wpad.lan is not {ip}: {wpad:?}");
    assert_eq!((bare.header.rcode(), addresses(&bare)), (rcode::NXDOMAIN, vec![]), "nor is bare wpad");
    assert_eq!(addresses(&gw), [Ipv4Addr::new(192, 168, 51, 1)], "the router's own name is its LAN address");
}
