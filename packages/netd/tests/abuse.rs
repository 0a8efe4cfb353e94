//! Issue "netd holds under abuse, fails closed": one LAN host misbehaving must not stop
//! netd for the others, nor wear out the flash. netd's server in one network namespace,
//! hand-made clients in another (raw DHCP messages, DNS over UDP and TCP). Needs root and
//! `ip` (oxwrt_testkit: skipped, or failed under OXWRT_STRICT_TESTS=1).

mod common;

use common::{can_run, tempdir, Netns};
use netd::leases::LeaseTable;
use netd::{Daemon, Paths};
use netproto::dhcp::{Message, MessageType, FLAG_BROADCAST};
use std::io::Write;
use std::net::{Ipv4Addr, TcpStream, UdpSocket};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const NETWORK: &str = r#"
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
"#;

const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 50, 1);

fn paths(tag: &str) -> Paths {
    let root = tempdir(tag);
    std::fs::write(root.join("etc/oxwrt/network.toml"), NETWORK).unwrap();
    Paths::under(&root)
}

/// The server's namespace (vS on the LAN) and a client's (vC, 192.168.50.2/24).
fn pair(tag: &str) -> (Netns, Netns) {
    let srv = Netns::new(&format!("{tag}-s"));
    let cli = Netns::new(&format!("{tag}-c"));
    srv.ip(&["link", "add", "vS", "type", "veth", "peer", "name", "vC", "netns", &cli.name]);
    srv.veth("wanS", "wanSp");
    cli.ip(&["addr", "add", "192.168.50.2/24", "dev", "vC"]);
    cli.ip(&["link", "set", "vC", "up"]);
    (srv, cli)
}

/// netd in `ns` until `stop`; then its leases (after shutdown's final write).
fn run_netd(ns: &Netns, paths: Paths, stop: Arc<AtomicBool>) -> JoinHandle<Option<LeaseTable>> {
    ns.spawn(move || {
        let mut d = Daemon::start(paths).expect("netd starts");
        while !stop.load(Ordering::Relaxed) {
            d.step(Some(Duration::from_millis(20))).expect("event loop");
        }
        d.shutdown();
        d.server_leases().cloned()
    })
}

/// Sends one DHCP message (broadcast flag set) and waits at most `limit` for the answer.
fn ask(sock: &UdpSocket, m: &Message, limit: Duration) -> Option<Message> {
    sock.send_to(&m.encode().unwrap(), (Ipv4Addr::BROADCAST, 67)).unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 1500];
    while start.elapsed() < limit {
        sock.set_read_timeout(Some(limit.saturating_sub(start.elapsed()).max(Duration::from_millis(1)))).unwrap();
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            if let Ok(r) = Message::parse(&buf[..n]) {
                if r.xid == m.xid && r.chaddr == m.chaddr {
                    return Some(r);
                }
            }
        }
    }
    None
}

fn dhcp_msg(t: MessageType, xid: u32, mac: [u8; 6], want: Option<Ipv4Addr>) -> Message {
    let mut m = Message::request(t, xid, mac);
    m.flags = FLAG_BROADCAST;
    if let Some(ip) = want {
        m.options.set_server_id(SERVER);
        m.options.set_requested_ip(ip);
    }
    m
}

/// DISCOVER, REQUEST: the address acknowledged, each answer within `limit`.
fn lease(sock: &UdpSocket, mac: [u8; 6], xid: u32, limit: Duration) -> Result<Ipv4Addr, String> {
    let offer = ask(sock, &dhcp_msg(MessageType::Discover, xid, mac, None), limit).ok_or("no OFFER in time")?;
    let ack = ask(sock, &dhcp_msg(MessageType::Request, xid + 1, mac, Some(offer.yiaddr)), limit).ok_or("no ACK in time")?;
    (ack.message_type() == Some(MessageType::Ack)).then_some(ack.yiaddr).ok_or_else(|| format!("{:?}", ack.message_type()))
}

/// A DNS query for a bare name (answered by netd itself: NXDOMAIN) over UDP; the time the
/// answer took.
fn dns_query(limit: Duration) -> Result<Duration, String> {
    let sock = UdpSocket::bind("192.168.50.2:0").unwrap();
    sock.set_read_timeout(Some(limit)).unwrap();
    let q = netproto::dns::Message::query(0x4242, netproto::dns::Name::from_ascii("nosuchhost").unwrap(), 1);
    let start = Instant::now();
    sock.send_to(&q.encode().unwrap(), (SERVER, 53)).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 1500];
    let n = sock.recv(&mut buf).map_err(|e| format!("no DNS answer within {limit:?}: {e}"))?;
    assert!(n >= 12 && buf[..2] == [0x42, 0x42], "the answer to our query: {:?}", &buf[..n]);
    Ok(start.elapsed())
}

/// One LAN host sends streams of zero-length DNS-over-TCP frames (16 connections, 2M
/// frames, 4 MiB); DNS over UDP and DHCP for another host still answer within a second.
#[test]
fn zero_length_tcp_dns_frames_do_not_freeze_netd() {
    if !can_run(&[]) {
        return;
    }
    let (srv, cli) = pair("zf");
    let stop = Arc::new(AtomicBool::new(false));
    let server = run_netd(&srv, paths("zf-server"), stop.clone());
    // netd is up when it answers DNS.
    let up = cli.run(|| (0..100).any(|_| dns_query(Duration::from_millis(200)).is_ok()));
    assert!(up, "netd's DNS forwarder answers");

    // Twice as many connections as netd serves at once (dns::MAX_TCP_CLIENTS), each
    // sending 256 KiB of zeros: 131,072 empty frames per connection, 4 MiB in all.
    let flood: Vec<_> = (0..16)
        .map(|_| {
            cli.spawn(|| {
                let Ok(mut s) = TcpStream::connect((SERVER, 53)) else { return };
                s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
                let _ = s.write_all(&vec![0u8; 256 << 10]); // netd may close the connection: fine
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let (dns, dhcp) = cli.run(|| {
        let dns = dns_query(Duration::from_secs(3));
        let sock = netd::udp::bind_dhcp(68, "vC").unwrap();
        sock.set_nonblocking(false).unwrap();
        let start = Instant::now();
        let got = lease(&sock, [2, 0, 0, 0, 0, 0x77], 0x1000, Duration::from_secs(3)).map(|ip| (ip, start.elapsed()));
        (dns, got)
    });
    stop.store(true, Ordering::Relaxed);
    for f in flood {
        let _ = f.join();
    }
    server.join().unwrap();
    let dns = dns.expect("a DNS answer");
    assert!(dns < Duration::from_secs(1), "DNS over UDP answered after {dns:?}");
    let (ip, took) = dhcp.expect("a DHCP lease");
    assert!(took < Duration::from_secs(1), "the DHCP lease ({ip}) took {took:?}");
}

fn inode(path: &Path) -> Option<(u64, i64, i64)> {
    std::fs::metadata(path).ok().map(|m| (m.ino(), m.mtime(), m.mtime_nsec()))
}

/// 1,000 renewals from one client write the lease file at most once (the file is replaced
/// by a rename on every write: a new inode); the lease survives a restart of netd.
#[test]
fn renewals_do_not_write_the_lease_file() {
    if !can_run(&[]) {
        return;
    }
    let (srv, cli) = pair("rw");
    let spaths = paths("rw-server");
    let file = spaths.leases.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let server = run_netd(&srv, spaths.clone(), stop.clone());
    let mac = [2, 0, 0, 0, 0, 0x55];
    let f = file.clone();
    let (ip, writes) = cli.run(move || {
        let sock = netd::udp::bind_dhcp(68, "vC").unwrap();
        sock.set_nonblocking(false).unwrap();
        let ip = (0..50).find_map(|i| lease(&sock, mac, 0x2000 + 2 * i, Duration::from_millis(300)).ok()).expect("a lease");
        std::thread::sleep(Duration::from_millis(200));
        let mut seen = inode(&f);
        let mut writes = 0;
        for i in 0..1000u32 {
            let ack = ask(&sock, &dhcp_msg(MessageType::Request, 0x3000 + i, mac, Some(ip)), Duration::from_secs(2)).expect("an answer to the renewal");
            assert_eq!((ack.message_type(), ack.yiaddr), (Some(MessageType::Ack), ip));
            let now = inode(&f);
            if now != seen {
                writes += 1;
                seen = now;
            }
        }
        (ip, writes)
    });
    assert!(writes <= 1, "1,000 renewals wrote the lease file {writes} times");
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
    // Restarted, netd knows the lease.
    let stop = Arc::new(AtomicBool::new(false));
    let again = run_netd(&srv, spaths, stop.clone());
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let table = again.join().unwrap().expect("the DHCP server ran");
    assert_eq!(table.by_mac(mac).map(|e| e.ip), Some(ip), "{table:?}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(&format!(" {ip} ")), "{text}");
}
