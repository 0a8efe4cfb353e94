//! The firewall against the host kernel, as root, in network namespaces made for each
//! test (the host's own rules are never touched): the ruleset as `nft` lists it, and
//! real TCP connections through a router namespace between a LAN and a WAN namespace.
//! They need root, `ip` and `nft` (packages iproute2, nftables): without them a test is
//! skipped and listed at the end of the run, or fails under OXWRT_STRICT_TESTS=1
//! (oxwrt_testkit).

use super::*;
use oxwrt_testkit::Prereq;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::time::Duration;

/// A network namespace, kept alive by an open fd; code runs in it on a scoped thread.
/// (The DNS tests use it too.)
pub(crate) struct Netns {
    fd: OwnedFd,
}

pub(crate) const IP: Prereq<'static> = Prereq::Program { name: "ip", fix: "apt-get install iproute2" };
const NFT: Prereq<'static> = Prereq::Program { name: "nft", fix: "apt-get install nftables" };

impl Netns {
    /// A new namespace for a test, or None when the test may not run (not root, no `ip`,
    /// or namespaces not permitted): oxwrt_testkit records the skip, or panics under
    /// OXWRT_STRICT_TESTS=1.
    #[track_caller]
    pub(crate) fn for_test() -> Option<Netns> {
        if !oxwrt_testkit::require_all(&[Prereq::Root, IP]) {
            return None;
        }
        let ns = Netns::new();
        if ns.is_none() {
            oxwrt_testkit::missing(
                "permission to create a network namespace (unshare: EPERM)",
                "run as root with CAP_SYS_ADMIN, outside a container that forbids namespaces",
            );
        }
        ns
    }

    /// A new, empty namespace with its loopback up. None when not permitted (not root).
    fn new() -> Option<Netns> {
        let fd = std::thread::spawn(|| -> Result<OwnedFd, std::io::Error> {
            // SAFETY: unshare only changes this thread's namespace.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(File::open("/proc/thread-self/ns/net")?.into())
        })
        .join()
        .unwrap();
        match fd {
            Ok(fd) => {
                let ns = Netns { fd };
                ns.sh("ip link set lo up");
                Some(ns)
            }
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => None,
            Err(e) => panic!("unshare(CLONE_NEWNET): {e}"),
        }
    }

    pub(crate) fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: a namespace fd we own; affects this scoped thread only.
                let r = unsafe { libc::setns(self.fd.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .unwrap()
        })
    }

    /// Runs a shell command in the namespace; panics with its output when it fails.
    pub(crate) fn sh(&self, cmd: &str) -> String {
        let out = self.run(|| Command::new("sh").arg("-c").arg(cmd).output());
        let out = out.unwrap_or_else(|e| panic!("sh -c {cmd:?}: {e}"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{cmd:?} failed: {}{}", text, String::from_utf8_lossy(&out.stderr));
        text
    }

    /// How `ip ... netns PATH` names this namespace.
    fn path(&self) -> String {
        format!("/proc/{}/fd/{}", std::process::id(), self.fd.as_raw_fd())
    }
}

/// A namespace for a test that also needs `nft`, or None: see [`Netns::for_test`].
#[track_caller]
fn namespace() -> Option<Netns> {
    if !oxwrt_testkit::require(NFT) {
        return None;
    }
    Netns::for_test()
}

fn config(network: &str, firewall: &str) -> oxwrt_config::Config {
    oxwrt_config::Config::parse(network, firewall).unwrap()
}

const FORWARDS: &str = r#"
wan_ping = true
[[forward]]
name = "web server"
wan_port = 8080
to = "192.168.1.10"
to_port = 80
[[forward]]
name = "moved range"
proto = "both"
wan_port = "5000-5001"
to = "192.168.1.10"
to_port = "6000-6001"
"#;

#[test]
fn apply_puts_the_ruleset_in_place() {
    let Some(ns) = namespace() else { return };
    // netd's call: the LAN is the configuration's bridge (default br-lan).
    let applied = ns.run(|| apply(&config("", FORWARDS), "eth0", None)).unwrap();
    assert_eq!((applied.rules, applied.forwards), (21, 2), "{applied:?}");
    let text = ns.sh("nft list table inet oxwrt");
    for want in [
        "chain input {\n\t\ttype filter hook input priority filter; policy drop;",
        "ct state established,related accept comment \"replies and related ICMP errors\"",
        "ct state invalid counter packets 0 bytes 0 drop",
        "iifname \"lo\" accept",
        "iifname \"br-lan\" accept comment \"LAN to the router: web UI, DNS, DHCP\"",
        "iifname \"eth0\" udp sport 67 udp dport 68 accept",
        "iifname \"eth0\" icmp type echo-request accept",
        "iifname \"eth0\" icmpv6 type echo-request accept",
        "icmpv6 type 1-4 accept",
        "icmpv6 type 130-136 accept",
        "icmpv6 type mld2-listener-report accept",
        "iifname \"eth0\" meta nfproto ipv6 udp sport 547 udp dport 546 accept",
        "chain forward {\n\t\ttype filter hook forward priority filter; policy drop;",
        "iifname \"br-lan\" oifname \"eth0\" accept",
        "iifname \"eth0\" oifname \"br-lan\" ct status dnat accept",
        "chain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;",
        "iifname \"eth0\" meta nfproto ipv4 tcp dport 8080 dnat ip to 192.168.1.10:80 comment \"forward 'web server' tcp 8080 to 192.168.1.10:80\"",
        "iifname \"eth0\" meta nfproto ipv4 tcp dport 5000-5001 dnat ip to 192.168.1.10:tcp dport map @fwd1",
        "iifname \"eth0\" meta nfproto ipv4 udp dport 5000-5001 dnat ip to 192.168.1.10:udp dport map @fwd1",
        "map fwd1 {\n\t\ttype inet_service : inet_service\n\t\tflags constant\n\t\telements = { 5000 : 6000, 5001 : 6001 }",
        "chain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;",
        "oifname \"eth0\" meta nfproto ipv4 masquerade",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    // The JSON listing: 4 chains, 21 rules, in one table.
    let json = ns.sh("nft -j list ruleset");
    assert_eq!(json.matches("{\"chain\":").count(), 4, "{json}");
    assert_eq!(json.matches("{\"rule\":").count(), 21, "{json}");
    assert_eq!(json.matches("{\"table\":").count(), 1, "{json}");
}

#[test]
fn apply_twice_is_stable_and_a_change_replaces_everything() {
    let Some(ns) = namespace() else { return };
    let cfg = config("", FORWARDS);
    ns.run(|| apply_to(&cfg, "br-lan", "eth0")).unwrap();
    let first = ns.sh("nft list ruleset");
    ns.run(|| apply_to(&cfg, "br-lan", "eth0")).unwrap();
    assert_eq!(ns.sh("nft list ruleset"), first);
    // Fewer forwards, no ping: the old rules and the map are gone, not left behind.
    ns.run(|| apply_to(&config("", ""), "br-lan", "eth0")).unwrap();
    let now = ns.sh("nft list ruleset");
    assert!(!now.contains("dnat ip to") && !now.contains("fwd1") && !now.contains("echo-request"), "{now}");
    assert_eq!(now.matches("table inet oxwrt").count(), 1);
    // Another table (someone else's) survives oxwrt's applies and its removal.
    ns.sh("nft add table inet other");
    ns.run(|| apply_to(&cfg, "br-lan", "eth0")).unwrap();
    ns.run(remove).unwrap();
    ns.run(remove).unwrap(); // no table: still fine
    let left = ns.sh("nft list ruleset");
    assert!(left.contains("table inet other") && !left.contains("oxwrt"), "{left}");
}

#[test]
fn a_refused_transaction_changes_nothing_and_says_which_rule() {
    let Some(ns) = namespace() else { return };
    ns.run(|| apply_to(&config("", FORWARDS), "br-lan", "eth0")).unwrap();
    let before = ns.sh("nft list ruleset");
    let mut rs = rules::build(&oxwrt_config::Firewall::default(), "br-lan", "eth1").unwrap();
    rs.rules.push(rules::Rule { chain: "no-such-chain", comment: "broken".into(), exprs: vec![] });
    let mut batch = batch();
    rs.encode(&mut batch);
    let err = ns.run(|| transact(batch)).unwrap_err();
    let NftError::Refused { ref what, ref error, .. } = err else { panic!("{err:?}") };
    assert_eq!(what, "no-such-chain rule \"broken\"");
    assert_eq!(error.raw_os_error(), Some(libc::ENOENT));
    assert!(err.to_string().contains("nothing was changed"), "{err}");
    assert_eq!(ns.sh("nft list ruleset"), before, "the old ruleset is in force");
    let bad = apply_to(&config("", ""), "br-lan", "a-name-too-long-for-linux").unwrap_err();
    assert!(matches!(bad, NftError::BadInterface { role: "WAN", .. }), "{bad:?}");
}

/// LAN host 192.168.1.10 -- (lan0) router (wan0) -- WAN host 203.0.113.1; the router's
/// WAN address is 203.0.113.2.
struct Topology {
    lan: Netns,
    router: Netns,
    wan: Netns,
}

const LAN_HOST: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
const ROUTER_LAN: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
const ROUTER_WAN: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
const WAN_HOST: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
/// Long enough for a SYN to be answered on veths; a dropped SYN gets no answer at all.
const DROPPED: Duration = Duration::from_millis(1500);

impl Topology {
    /// None when the test may not run: see [`Netns::for_test`].
    #[track_caller]
    fn new() -> Option<Topology> {
        let t = Topology { lan: Netns::for_test()?, router: Netns::for_test()?, wan: Netns::for_test()? };
        let r = &t.router;
        r.sh(&format!("ip link add lan0 type veth peer name eth0 netns {}", t.lan.path()));
        r.sh(&format!("ip link add wan0 type veth peer name eth0 netns {}", t.wan.path()));
        r.sh("ip addr add 192.168.1.1/24 dev lan0 && ip link set lan0 up");
        r.sh("ip addr add 203.0.113.2/24 dev wan0 && ip link set wan0 up");
        r.run(|| std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")).unwrap();
        t.lan.sh("ip addr add 192.168.1.10/24 dev eth0 && ip link set eth0 up && ip route add default via 192.168.1.1");
        // The WAN side may route the LAN subnet to the router (an attacker at the ISP
        // could), so "cannot reach the LAN" is the firewall's doing, not routing's.
        t.wan.sh("ip addr add 203.0.113.1/24 dev eth0 && ip link set eth0 up && ip route add 192.168.1.0/24 via 203.0.113.2");
        Some(t)
    }
}

fn listen(ns: &Netns, ip: Ipv4Addr, port: u16) -> TcpListener {
    ns.run(|| TcpListener::bind((ip, port))).unwrap_or_else(|e| panic!("bind {ip}:{port}: {e}"))
}

fn connect(ns: &Netns, ip: Ipv4Addr, port: u16) -> std::io::Result<TcpStream> {
    let to = SocketAddr::from((ip, port));
    ns.run(|| TcpStream::connect_timeout(&to, DROPPED))
}

/// Accepts one connection, checks a byte goes each way, returns the peer's address.
fn exchange(listener: &TcpListener, mut client: TcpStream) -> SocketAddr {
    let (mut server, peer) = listener.accept().unwrap();
    client.write_all(b"?").unwrap();
    let mut b = [0u8; 1];
    server.read_exact(&mut b).unwrap();
    server.write_all(b"!").unwrap();
    client.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"!");
    peer
}

fn assert_dropped(r: std::io::Result<TcpStream>, what: &str) {
    match r {
        Ok(_) => panic!("{what}: connected, the firewall should drop it"),
        // Dropped: no answer at all. A refusal (RST) would mean something answered.
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{what}: {e}"),
    }
}

#[test]
fn packets_through_the_router() {
    if !oxwrt_testkit::require(NFT) {
        return;
    }
    let Some(t) = Topology::new() else { return };
    let lan_web = listen(&t.lan, LAN_HOST, 80);
    let lan_moved = listen(&t.lan, LAN_HOST, 6001);
    let router_web = listen(&t.router, Ipv4Addr::UNSPECIFIED, 80);
    let wan_web = listen(&t.wan, WAN_HOST, 8000);

    // Without the firewall the WAN host reaches the LAN host: the topology routes.
    let peer = exchange(&lan_web, connect(&t.wan, LAN_HOST, 80).unwrap());
    assert_eq!(peer.ip(), WAN_HOST);

    let cfg = config("", FORWARDS);
    let applied = t.router.run(|| apply_to(&cfg, "lan0", "wan0")).unwrap();
    assert_eq!(applied.forwards, 2);

    // LAN -> WAN: allowed, and the WAN host sees the router's WAN address (masquerade).
    let peer = exchange(&wan_web, connect(&t.lan, WAN_HOST, 8000).unwrap());
    assert_eq!(peer.ip(), ROUTER_WAN, "masqueraded");
    // LAN -> the router: allowed.
    exchange(&router_web, connect(&t.lan, ROUTER_LAN, 80).unwrap());

    // WAN -> a LAN host, and WAN -> the router's own listener: dropped.
    assert_dropped(connect(&t.wan, LAN_HOST, 80), "WAN host to LAN host port 80");
    assert_dropped(connect(&t.wan, ROUTER_WAN, 80), "WAN host to the router's port 80");
    assert_dropped(connect(&t.wan, ROUTER_LAN, 80), "WAN host to the router's LAN address");

    // The port forward WAN:8080 -> 192.168.1.10:80; the LAN host sees the real client.
    let peer = exchange(&lan_web, connect(&t.wan, ROUTER_WAN, 8080).unwrap());
    assert_eq!(peer.ip(), WAN_HOST, "DNAT only, no source NAT");
    // A shifted range, through the map: WAN 5001 -> LAN 6001.
    exchange(&lan_moved, connect(&t.wan, ROUTER_WAN, 5001).unwrap());

    // The drops were counted.
    let text = t.router.sh("nft list chain inet oxwrt input");
    assert!(!text.contains("counter packets 0 bytes 0 drop comment \"everything else\""), "{text}");

    // remove(): no firewall, so the WAN host reaches the LAN host again (no NAT either).
    t.router.run(remove).unwrap();
    let peer = exchange(&lan_web, connect(&t.wan, LAN_HOST, 80).unwrap());
    assert_eq!(peer.ip(), WAN_HOST);
}

#[test]
fn the_longest_shifted_range_fits_in_one_transaction() {
    let Some(ns) = namespace() else { return };
    // 65534 map elements: a ~1.8 MB batch, past the default socket buffer.
    let fw = "[[forward]]\nname = \"all\"\nwan_port = \"1-65534\"\nto = \"192.168.1.10\"\nto_port = \"2-65535\"\n";
    let applied = ns.run(|| apply_to(&config("", fw), "br-lan", "eth0")).unwrap();
    assert!(applied.messages > 64, "{applied:?}");
    let map = ns.sh("nft list map inet oxwrt fwd1");
    assert_eq!(map.matches(" : ").count(), 65534 + 1, "the type line and every element");
    assert!(map.contains("65534 : 65535"), "{}", &map[..300]);
}

/// One ICMP echo from the current namespace to `to`; whether a reply came.
fn ping(to: Ipv4Addr) -> bool {
    // SAFETY: plain syscalls on a socket owned here; buffers valid for their lengths.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::IPPROTO_ICMP);
        assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
        let fd = OwnedFd::from_raw_fd(fd);
        let tv = libc::timeval { tv_sec: DROPPED.as_secs() as libc::time_t, tv_usec: 500_000 };
        let tvp = (&tv as *const libc::timeval).cast();
        libc::setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVTIMEO, tvp, std::mem::size_of::<libc::timeval>() as u32);
        // Echo request: type 8, code 0, checksum, id 0x0a0a, sequence 1, 8 bytes of data.
        let mut pkt = [8u8, 0, 0, 0, 0x0a, 0x0a, 0, 1, b'o', b'x', b'w', b'r', b't', 0, 0, 0];
        let sum = pkt.chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], w[1]]))).sum::<u32>();
        let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
        pkt[2..4].copy_from_slice(&sum.to_be_bytes());
        let mut sa: libc::sockaddr_in = std::mem::zeroed();
        sa.sin_family = libc::AF_INET as libc::sa_family_t;
        sa.sin_addr = libc::in_addr { s_addr: u32::from_ne_bytes(to.octets()) };
        let sap = (&sa as *const libc::sockaddr_in).cast();
        let sent = libc::sendto(fd.as_raw_fd(), pkt.as_ptr().cast(), pkt.len(), 0, sap, std::mem::size_of::<libc::sockaddr_in>() as u32);
        assert_eq!(sent, pkt.len() as isize, "{}", std::io::Error::last_os_error());
        let mut buf = [0u8; 1500];
        loop {
            let n = libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0);
            if n < 0 {
                return false; // timed out
            }
            // An IPv4 header, then ICMP: an echo reply (type 0) from `to` with our id.
            let ihl = usize::from(buf[0] & 0xf) * 4;
            if buf[12..16] == to.octets() && buf[ihl] == 0 && buf[ihl + 4..ihl + 6] == [0x0a, 0x0a] {
                return true;
            }
        }
    }
}

#[test]
fn wan_ping_follows_the_setting() {
    let Some(t) = Topology::new() else { return };
    assert!(t.wan.run(|| ping(ROUTER_WAN)), "no firewall: the router answers");
    t.router.run(|| apply_to(&config("", ""), "lan0", "wan0")).unwrap();
    assert!(!t.wan.run(|| ping(ROUTER_WAN)), "wan_ping = false: dropped");
    assert!(t.lan.run(|| ping(ROUTER_LAN)), "the LAN may always ping the router");
    assert!(t.lan.run(|| ping(WAN_HOST)), "and through it");
    t.router.run(|| apply_to(&config("", "wan_ping = true"), "lan0", "wan0")).unwrap();
    assert!(t.wan.run(|| ping(ROUTER_WAN)), "wan_ping = true: answered");
    assert!(!t.wan.run(|| ping(LAN_HOST)), "but only the router: the LAN host stays hidden");
}
