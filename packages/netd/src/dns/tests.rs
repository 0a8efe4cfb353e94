//! The forwarder over real sockets on 127.0.0.1: a client socket, fake upstream servers
//! (UDP and TCP on one port) answering with packets built with netproto, and the clock
//! moved by hand. Then `dig` (package dnsutils) as a real client.

use super::*;
use netproto::dns::{rtype, RData, Soa};
use std::collections::HashMap;
use std::net::Ipv4Addr;

struct Lan(HashMap<String, Ipv4Addr>);

impl Leases for Lan {
    fn lookup(&self, name: &str) -> Option<Ipv4Addr> {
        self.0.get(name).copied()
    }

    fn reverse(&self, ip: Ipv4Addr) -> Option<String> {
        self.0.iter().find(|(_, a)| **a == ip).map(|(n, _)| n.clone())
    }
}

fn lan() -> Lan {
    Lan(HashMap::from([("nas".to_string(), Ipv4Addr::new(192, 168, 1, 10))]))
}

const WAIT: Duration = Duration::from_secs(5);

/// A fake upstream server: UDP and TCP on one port of 127.0.0.1.
struct Upstream {
    udp: UdpSocket,
    tcp: TcpListener,
}

impl Upstream {
    fn new() -> Upstream {
        // The kernel picks a free UDP port; its TCP twin may be taken by another process
        // (tests run in parallel with other work): try another pair then.
        for _ in 0..50 {
            let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
            if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()) {
                udp.set_read_timeout(Some(WAIT)).unwrap();
                return Upstream { udp, tcp };
            }
        }
        panic!("no port of 127.0.0.1 free for both UDP and TCP in 50 tries");
    }

    fn addr(&self) -> SocketAddr {
        self.udp.local_addr().unwrap()
    }

    /// The next query the forwarder sent (it is already queued: the forwarder sent it
    /// before `pump` returned).
    fn query(&self) -> (Message, SocketAddr) {
        let mut buf = [0u8; 4096];
        let (n, from) = self.udp.recv_from(&mut buf).expect("a query reached the upstream server");
        (Message::parse(&buf[..n]).unwrap(), from)
    }

    fn nothing_received(&self) -> bool {
        self.udp.set_nonblocking(true).unwrap();
        let r = self.udp.recv_from(&mut [0u8; 512]);
        self.udp.set_nonblocking(false).unwrap();
        matches!(r, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    fn reply(&self, to: SocketAddr, m: &Message) {
        self.udp.send_to(&m.encode().unwrap(), to).unwrap();
    }
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn with_a(q: &Message, ttl: u32, ips: &[Ipv4Addr]) -> Message {
    let mut m = q.response();
    for ip in ips {
        m.answers.push(Record::new(q.questions[0].name.clone(), ttl, RData::A(*ip)));
    }
    m
}

/// NXDOMAIN (or NODATA) with the zone's SOA: record TTL `ttl`, MINIMUM `minimum`.
fn negative(q: &Message, code: u8, ttl: u32, minimum: u32) -> Message {
    let mut m = q.response();
    m.header.set_rcode(code);
    let soa = Soa { mname: name("ns.example"), rname: name("h.example"), serial: 1, refresh: 2, retry: 3, expire: 4, minimum };
    m.authority.push(Record::new(name("example"), ttl, RData::Soa(Box::new(soa))));
    m
}

fn edns_query(id: u16, n: &str, qtype: u16) -> Message {
    let mut q = Message::query(id, name(n), qtype);
    q.additional.push(Record::opt(1232));
    q
}

const EXAMPLE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 80);

/// The forwarder, a client socket and the test's clock.
struct Rig {
    fwd: Forwarder,
    client: UdpSocket,
    now: Instant,
    leases: Lan,
    /// Poll like netd's loop: POLLIN only, `on_timer` when the deadline has come, the
    /// real clock.
    pollin_only: bool,
}

impl Rig {
    fn new(upstream: Vec<SocketAddr>) -> Rig {
        let settings = Settings {
            listen: vec!["127.0.0.1:0".parse().unwrap()],
            local_domain: "lan".into(),
            cache_size: 100,
            upstream,
            timeout: DEFAULT_TIMEOUT,
            rebind_protection: true,
            rebind_ok: vec!["corp.example".into()],
            limits: Limits::default(),
        };
        // Port 0: the UDP port the kernel picks may be taken for TCP by another process.
        let fwd = (0..50).find_map(|_| Forwarder::bind(settings.clone()).ok()).expect("no 127.0.0.1 port free for both UDP and TCP in 50 tries");
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.set_read_timeout(Some(WAIT)).unwrap();
        Rig { fwd, client, now: Instant::now(), leases: lan(), pollin_only: false }
    }

    fn addr(&self) -> SocketAddr {
        self.fwd.local_addrs()[0]
    }

    /// Runs the forwarder until none of its fds has anything (as netd's loop would).
    fn pump(&mut self) {
        if self.pollin_only {
            return self.pump_pollin_only();
        }
        for _ in 0..50 {
            let fds = self.fwd.poll_fds();
            let mut pfds: Vec<libc::pollfd> =
                fds.iter().map(|f| libc::pollfd { fd: f.fd, events: libc::POLLIN | if f.write { libc::POLLOUT } else { 0 }, revents: 0 }).collect();
            // SAFETY: pfds is a valid array of its length.
            let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, 20) };
            if n <= 0 {
                return;
            }
            for p in pfds.iter().filter(|p| p.revents != 0) {
                self.fwd.on_ready(p.fd, self.now, &self.leases);
            }
        }
    }

    fn pump_pollin_only(&mut self) {
        for _ in 0..50 {
            let mut pfds: Vec<libc::pollfd> = self.fwd.fds().iter().map(|&fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect();
            let wait = self.fwd.deadline().map_or(20, |d| d.saturating_duration_since(Instant::now()).as_millis().min(20) as i32 + 1);
            // SAFETY: pfds is a valid array of its length.
            let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, wait) };
            self.now = Instant::now();
            for p in pfds.iter().filter(|p| p.revents != 0) {
                self.fwd.on_ready(p.fd, self.now, &self.leases);
            }
            let due = self.fwd.deadline().is_some_and(|d| d <= self.now);
            if due {
                self.fwd.on_timer(self.now);
            }
            if n <= 0 && !due {
                return;
            }
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.client.send_to(bytes, self.addr()).unwrap();
        self.pump();
    }

    fn ask(&mut self, q: &Message) {
        self.send(&q.encode().unwrap());
    }

    fn answer(&mut self) -> Message {
        self.pump();
        let mut buf = [0u8; 65535];
        let n = self.client.recv(&mut buf).expect("an answer");
        Message::parse(&buf[..n]).unwrap()
    }

    fn no_answer(&mut self) -> bool {
        self.pump();
        self.client.set_nonblocking(true).unwrap();
        let r = self.client.recv(&mut [0u8; 512]);
        self.client.set_nonblocking(false).unwrap();
        matches!(r, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    fn later(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
        self.fwd.on_timer(self.now);
        self.pump();
    }
}

fn addresses(m: &Message) -> Vec<Ipv4Addr> {
    m.answers.iter().filter_map(|r| if let RData::A(a) = r.data { Some(a) } else { None }).collect()
}

#[test]
fn forwards_then_answers_from_the_cache() {
    let up = Upstream::new();
    let mut rig = Rig::new(vec![up.addr()]);
    rig.ask(&edns_query(0x1111, "www.example.com", rtype::A));
    let (q, from) = up.query();
    assert_eq!(q.questions[0].name, name("www.example.com"));
    assert!(q.header.has(flag::RD));
    assert!(q.edns().is_some(), "asks upstream with EDNS");
    up.reply(from, &with_a(&q, 300, &[EXAMPLE]));
    let a = rig.answer();
    assert_eq!(a.header.id, 0x1111, "the client's ID back");
    assert_eq!((a.header.rcode(), addresses(&a), a.answers[0].ttl), (rcode::NOERROR, vec![EXAMPLE], 300));

    // Again, in other case (DNS 0x20): from the cache, upstream asked once in all.
    rig.ask(&edns_query(0x2222, "WWW.Example.COM", rtype::A));
    let b = rig.answer();
    assert_eq!(b.header.id, 0x2222);
    assert_eq!(b.questions[0].name.to_string(), "WWW.Example.COM", "the client's case");
    assert_eq!(addresses(&b), [EXAMPLE]);
    assert!(up.nothing_received(), "the second query was not forwarded");
    // Another type is another question.
    rig.ask(&edns_query(0x3333, "www.example.com", rtype::AAAA));
    let (q, _) = up.query();
    assert_eq!(q.questions[0].qtype, rtype::AAAA);
    let s = rig.fwd.stats();
    assert_eq!((s.queries, s.forwarded, s.cached), (3, 1, 1), "{s:?}");
}

#[test]
fn cached_ttls_count_down_and_expire() {
    let up = Upstream::new();
    let mut rig = Rig::new(vec![up.addr()]);
    rig.ask(&edns_query(1, "example.com", rtype::A));
    let (q, from) = up.query();
    up.reply(from, &with_a(&q, 300, &[EXAMPLE]));
    assert_eq!(rig.answer().answers[0].ttl, 300);
    rig.later(100);
    rig.ask(&edns_query(2, "example.com", rtype::A));
    assert_eq!(rig.answer().answers[0].ttl, 200);
    assert!(up.nothing_received());
    rig.later(200);
    rig.ask(&edns_query(3, "example.com", rtype::A));
    let (q, from) = up.query();
    assert_eq!(q.questions[0].name, name("example.com"), "expired: asked again");
    up.reply(from, &with_a(&q, 60, &[EXAMPLE]));
    assert_eq!(rig.answer().answers[0].ttl, 60);
}

#[test]
fn negative_answers_are_cached_for_the_soa_minimum() {
    let up = Upstream::new();
    let mut rig = Rig::new(vec![up.addr()]);
    rig.ask(&edns_query(1, "nope.example", rtype::A));
    let (q, from) = up.query();
    up.reply(from, &negative(&q, rcode::NXDOMAIN, 900, 300));
    let a = rig.answer();
    assert_eq!((a.header.rcode(), a.authority.len()), (rcode::NXDOMAIN, 1));

    rig.later(100);
    rig.ask(&edns_query(2, "nope.example", rtype::A));
    let b = rig.answer();
    assert_eq!(b.header.rcode(), rcode::NXDOMAIN);
    assert_eq!(b.authority[0].ttl, 800, "aged");
    assert!(up.nothing_received(), "from the cache");

    rig.later(201); // 301 s: past the SOA's MINIMUM, though the record said 900
    rig.ask(&edns_query(3, "nope.example", rtype::A));
    let (q, from) = up.query();
    // NODATA (NOERROR, no answer) is negative too.
    up.reply(from, &negative(&q, rcode::NOERROR, 30, 300));
    assert_eq!(rig.answer().answers.len(), 0);
    rig.later(29);
    rig.ask(&edns_query(4, "nope.example", rtype::A));
    assert_eq!(rig.answer().authority[0].ttl, 1);
    assert!(up.nothing_received());
}

#[test]
fn a_truncated_answer_is_fetched_again_over_tcp() {
    truncated_then_tcp(false);
}

/// The same through a loop that never waits for POLLOUT (netd's): the TCP connect and
/// writes move on from `on_timer`.
#[test]
fn tcp_fallback_with_pollin_only() {
    truncated_then_tcp(true);
}

fn truncated_then_tcp(pollin_only: bool) {
    let up = Upstream::new();
    let mut rig = Rig::new(vec![up.addr()]);
    rig.pollin_only = pollin_only;
    rig.ask(&edns_query(7, "big.example", rtype::A));
    let (q, from) = up.query();
    let mut tc = q.response();
    tc.header.set(flag::TC, true);
    up.reply(from, &tc);
    rig.pump(); // the forwarder connects and sends the query over TCP

    up.tcp.set_nonblocking(false).unwrap();
    let (mut conn, _) = up.tcp.accept().unwrap();
    conn.set_read_timeout(Some(WAIT)).unwrap();
    let tq = Message::parse(&proto::tcp::read_message(&mut conn).unwrap()).unwrap();
    assert_eq!(tq.questions, q.questions);
    let ips: Vec<Ipv4Addr> = (1..=40).map(|i| Ipv4Addr::new(192, 0, 2, i)).collect();
    let big = with_a(&tq, 300, &ips);
    assert!(big.encode().unwrap().len() > 512);
    proto::tcp::write_message(&mut conn, &big.encode().unwrap()).unwrap();
    let a = rig.answer();
    assert_eq!((a.header.id, addresses(&a).len()), (7, 40), "the whole answer, over UDP (EDNS 1232)");
    assert!(!a.header.has(flag::TC));

    // A client without EDNS takes 512 bytes: TC, then it asks over TCP, from the cache.
    rig.ask(&Message::query(8, name("big.example"), rtype::A));
    let short = rig.answer();
    assert!(short.header.has(flag::TC) && short.answers.is_empty(), "{short:?}");
    let mut tcp = TcpStream::connect(rig.addr()).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    proto::tcp::write_message(&mut tcp, &Message::query(9, name("big.example"), rtype::A).encode().unwrap()).unwrap();
    rig.pump();
    let full = Message::parse(&proto::tcp::read_message(&mut tcp).unwrap()).unwrap();
    assert_eq!((full.header.id, addresses(&full).len()), (9, 40));
    assert!(full.edns().is_none(), "no OPT record for a client that sent none");
}

#[test]
fn lan_hosts_are_answered_locally() {
    let up = Upstream::new();
    let mut rig = Rig::new(vec![up.addr()]);
    for (id, n) in [(1, "nas.lan"), (2, "nas"), (3, "NAS.LAN")] {
        rig.ask(&Message::query(id, name(n), rtype::A));
        let a = rig.answer();
        assert_eq!((a.header.id, addresses(&a)), (id, vec![Ipv4Addr::new(192, 168, 1, 10)]), "{n}");
        assert!(a.header.has(flag::AA));
    }
    rig.ask(&Message::query(4, name("10.1.168.192.in-addr.arpa"), rtype::PTR));
    let ptr = rig.answer();
    assert_eq!(ptr.answers[0].data, RData::Ptr(name("nas.lan")));
    rig.ask(&Message::query(5, name("laptop.lan"), rtype::A));
    assert_eq!(rig.answer().header.rcode(), rcode::NXDOMAIN);
    assert!(up.nothing_received(), "no LAN name went upstream");
    assert_eq!(rig.fwd.stats().local, 5);
}

/// Malformed packets, each dropped without an answer.
fn malformed() -> Vec<Vec<u8>> {
    let good = Message::query(0x4242, name("example.com"), rtype::A).encode().unwrap();
    let mut response = good.clone();
    response[2] |= 0x80;
    let mut lying_count = good.clone();
    lying_count[5] = 9; // nine questions, one present
    let mut label_type = good.clone();
    label_type[12] = 0x47;
    let mut looped = good[..12].to_vec();
    looped.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]); // a name pointing at itself
    vec![vec![], vec![0x12], good[..11].to_vec(), good[..20].to_vec(), response, lying_count, label_type, looped]
}

#[test]
fn malformed_queries_are_dropped() {
    let mut rig = Rig::new(vec![]);
    let bad = malformed();
    for b in &bad {
        rig.send(b);
        assert!(rig.no_answer(), "answered {b:?}");
    }
    assert_eq!(rig.fwd.stats().dropped, bad.len() as u64);
    // Over TCP too: dropped, the connection still serves a good query.
    let mut tcp = TcpStream::connect(rig.addr()).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    // (An empty message, a zero-length frame, closes the connection: see below.)
    for b in bad.iter().filter(|b| !b.is_empty()) {
        proto::tcp::write_message(&mut tcp, b).unwrap();
    }
    proto::tcp::write_message(&mut tcp, &Message::query(77, name("nas.lan"), rtype::A).encode().unwrap()).unwrap();
    rig.pump();
    let a = Message::parse(&proto::tcp::read_message(&mut tcp).unwrap()).unwrap();
    assert_eq!(a.header.id, 77);
    // Seeded mutations of a good query: whatever they parse to, no panic, and the
    // forwarder still answers afterwards.
    let good = edns_query(1, "host.example.com", rtype::A).encode().unwrap();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..3000 {
        let mut m = good.clone();
        for _ in 0..1 + (x % 4) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = (x >> 8) as usize % m.len();
            m[at] = (x >> 32) as u8;
        }
        m.truncate(m.len() - (x >> 40) as usize % 3);
        let _ = rig.client.send_to(&m, rig.addr());
        if x.is_multiple_of(100) {
            rig.pump();
        }
    }
    rig.pump();
    // Drop whatever was answered (SERVFAIL: no upstream).
    rig.client.set_nonblocking(true).unwrap();
    while rig.client.recv(&mut [0u8; 4096]).is_ok() {}
    rig.client.set_nonblocking(false).unwrap();
    rig.ask(&Message::query(5, name("nas"), rtype::A));
    assert_eq!(rig.answer().header.id, 5);
    // Opcodes other than QUERY: NOTIMP; two questions: FORMERR.
    let mut notify = Message::query(6, name("example.com"), rtype::SOA);
    notify.header.flags |= 4 << 11;
    rig.ask(&notify);
    assert_eq!(rig.answer().header.rcode(), rcode::NOTIMP);
    let mut two = Message::query(7, name("a.example"), rtype::A);
    two.questions.push(two.questions[0].clone());
    rig.ask(&two);
    assert_eq!(rig.answer().header.rcode(), rcode::FORMERR);
}

#[test]
fn a_silent_server_is_followed_by_the_next_then_servfail() {
    let (a, b) = (Upstream::new(), Upstream::new());
    let mut rig = Rig::new(vec![a.addr(), b.addr()]);
    rig.ask(&edns_query(1, "slow.example", rtype::A));
    let (qa, _) = a.query();
    assert!(b.nothing_received());
    assert_eq!(rig.fwd.next_deadline(), Some(rig.now + DEFAULT_TIMEOUT));
    rig.later(2); // a's time is up: b is asked, with a new ID
    let (qb, _) = b.query();
    assert_eq!(qb.questions, qa.questions);
    rig.later(2); // b is silent too
    let fail = rig.answer();
    assert_eq!((fail.header.id, fail.header.rcode()), (1, rcode::SERVFAIL));
    assert_eq!(rig.fwd.stats().failed, 1);
    assert_eq!(rig.fwd.next_deadline(), None, "nothing in flight");

    // b answers this time: the client gets it, and b is asked first from now on.
    rig.ask(&edns_query(2, "up.example", rtype::A));
    let _ = a.query();
    rig.later(2);
    let (q, from) = b.query();
    b.reply(from, &with_a(&q, 60, &[EXAMPLE]));
    assert_eq!(addresses(&rig.answer()), [EXAMPLE]);
    rig.ask(&edns_query(3, "next.example", rtype::A));
    let (q, from) = b.query();
    assert!(a.nothing_received());
    // SERVFAIL from b: a is tried before the client hears of it.
    b.reply(from, &q.error(rcode::SERVFAIL));
    rig.pump();
    let (q, from) = a.query();
    a.reply(from, &with_a(&q, 60, &[EXAMPLE]));
    assert_eq!(addresses(&rig.answer()), [EXAMPLE]);
}

#[test]
fn answers_that_do_not_match_are_ignored() {
    let up = Upstream::new();
    let mut rig = Rig::new(vec![up.addr()]);
    rig.ask(&edns_query(1, "example.com", rtype::A));
    let (q, from) = up.query();
    let mut wrong_id = with_a(&q, 60, &[Ipv4Addr::new(6, 6, 6, 6)]);
    wrong_id.header.id ^= 1;
    up.reply(from, &wrong_id);
    let mut wrong_name = with_a(&q, 60, &[Ipv4Addr::new(6, 6, 6, 6)]);
    wrong_name.questions[0].name = name("evil.example");
    up.reply(from, &wrong_name);
    assert!(rig.no_answer());
    up.reply(from, &with_a(&q, 60, &[EXAMPLE]));
    assert_eq!(addresses(&rig.answer()), [EXAMPLE]);
}

#[test]
fn no_upstream_means_servfail_but_lan_names_work() {
    let mut rig = Rig::new(vec![]);
    rig.ask(&Message::query(1, name("example.com"), rtype::A));
    assert_eq!(rig.answer().header.rcode(), rcode::SERVFAIL);
    rig.ask(&Message::query(2, name("nas.lan"), rtype::A));
    assert_eq!(addresses(&rig.answer()), [Ipv4Addr::new(192, 168, 1, 10)]);
}

#[test]
fn settings_from_the_configuration() {
    let cfg = oxwrt_config::Config::parse("[dns]\nupstream = [\"9.9.9.9\"]\ncache_size = 20\n[dhcp]\ndomain = \"home\"\n", "").unwrap();
    let s = Settings::from_config(&cfg.network);
    assert_eq!(s.listen, ["192.168.1.1:53".parse::<SocketAddr>().unwrap(), "127.0.0.1:53".parse().unwrap()]);
    assert_eq!((s.local_domain.as_str(), s.cache_size), ("home", 20));
    assert_eq!(s.upstream, ["9.9.9.9:53".parse::<SocketAddr>().unwrap()]);
    let dhcp_wan = Settings::from_config(&oxwrt_config::Config::default().network);
    assert!(dhcp_wan.upstream.is_empty(), "from the lease, later");
}

#[test]
fn strip_opt_removes_only_a_trailing_opt() {
    let mut with = edns_query(1, "a.example", rtype::A).encode().unwrap();
    strip_opt(&mut with);
    assert_eq!(with, Message::query(1, name("a.example"), rtype::A).encode().unwrap());
    let mut without = Message::query(1, name("a.example"), rtype::A).encode().unwrap();
    let copy = without.clone();
    strip_opt(&mut without);
    assert_eq!(without, copy);
    let mut cut = edns_query(1, "a.example", rtype::A).encode().unwrap();
    cut.pop();
    let copy = cut.clone();
    strip_opt(&mut cut);
    assert_eq!(cut, copy, "a record past the end: left alone");
}

// --- dig, a real resolver client ----------------------------------------------------

/// A fake upstream on a thread: answers every A query with EXAMPLE (TTL 300) until the
/// returned flag is set.
fn answering_upstream() -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicBool>, std::thread::JoinHandle<()>) {
    let up = Upstream::new();
    up.udp.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let addr = up.addr();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s = stop.clone();
    let h = std::thread::spawn(move || {
        while !s.load(std::sync::atomic::Ordering::Relaxed) {
            let mut buf = [0u8; 4096];
            if let Ok((n, from)) = up.udp.recv_from(&mut buf) {
                let q = Message::parse(&buf[..n]).unwrap();
                up.reply(from, &with_a(&q, 300, &[EXAMPLE]));
            }
        }
    });
    (addr, stop, h)
}

fn dig(rig: &mut Rig, args: &str) -> String {
    let port = rig.addr().port();
    let mut child = std::process::Command::new("dig")
        .args(["@127.0.0.1", "-p", &port.to_string(), "+tries=1", "+time=5"])
        .args(args.split_whitespace())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("dig runs (apt-get install dnsutils)");
    while child.try_wait().unwrap().is_none() {
        rig.now = Instant::now();
        rig.pump();
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "dig {args}: {text}");
    text
}

#[test]
fn dig_gets_answers() {
    if !oxwrt_testkit::require_program("dig", "apt-get install dnsutils") {
        return;
    }
    let (up, stop, thread) = answering_upstream();
    let mut rig = Rig::new(vec![up]);
    assert_eq!(dig(&mut rig, "+short www.example.com A"), "192.0.2.80\n");
    let full = dig(&mut rig, "www.example.com A");
    assert!(full.contains("status: NOERROR") && full.contains("flags: qr rd ra;"), "{full}");
    assert!(full.contains("www.example.com.\t300\tIN\tA\t192.0.2.80") || full.contains("www.example.com.\t29"), "{full}");
    assert_eq!(dig(&mut rig, "+short +tcp www.example.com A"), "192.0.2.80\n", "over TCP");
    assert_eq!(dig(&mut rig, "+short nas.lan"), "192.168.1.10\n");
    assert_eq!(dig(&mut rig, "+short -x 192.168.1.10"), "nas.lan.\n");
    let nx = dig(&mut rig, "printer.lan");
    assert!(nx.contains("status: NXDOMAIN") && nx.contains("flags: qr aa rd ra;"), "{nx}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    thread.join().unwrap();
}

/// netd's calls (hooks.rs), in a network namespace where the LAN address exists: `new`
/// binds the LAN address and 127.0.0.1, port 53; a loop that polls `fds()` for POLLIN
/// only and calls `on_readable` and `on_timer` like netd's gets answers. (Upstreams and
/// LAN names come from crate::state, which other tests may change: the questions asked
/// get the same answer either way.)
#[test]
fn netd_calls_in_a_namespace() {
    let Some(ns) = crate::nft::tests::Netns::for_test() else { return };
    ns.sh("ip addr add 192.168.1.1/24 dev lo"); // no dummy driver on every kernel
    let cfg = oxwrt_config::Config::default();
    ns.run(|| {
        let mut fwd = Forwarder::new(&cfg).unwrap();
        let mut addrs = fwd.local_addrs();
        addrs.sort();
        assert_eq!(addrs, ["127.0.0.1:53".parse::<SocketAddr>().unwrap(), "192.168.1.1:53".parse().unwrap()]);
        let client = UdpSocket::bind("192.168.1.1:0").unwrap();
        client.set_nonblocking(true).unwrap();
        let mut answers = Vec::new();
        for (id, n) in [(1, "printer.lan"), (2, "example.com")] {
            client.send_to(&Message::query(id, name(n), rtype::A).encode().unwrap(), "192.168.1.1:53").unwrap();
            let mut buf = [0u8; 512];
            for _ in 0..500 {
                let mut pfds: Vec<libc::pollfd> = fwd.fds().iter().map(|&fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect();
                // SAFETY: a valid array of its length.
                unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, 10) };
                let now = Instant::now();
                for p in pfds.iter().filter(|p| p.revents != 0) {
                    fwd.on_readable(p.fd, now);
                }
                if fwd.deadline().is_some_and(|d| d <= now) {
                    fwd.on_timer(now);
                }
                if let Ok(n) = client.recv(&mut buf) {
                    answers.push(Message::parse(&buf[..n]).unwrap());
                    break;
                }
            }
        }
        let codes: Vec<(u16, u8)> = answers.iter().map(|a| (a.header.id, a.header.rcode())).collect();
        // example.com: no upstream is reachable from this namespace.
        assert_eq!(codes, [(1, rcode::NXDOMAIN), (2, rcode::SERVFAIL)]);
    });
}

#[test]
fn the_upstream_list_may_change_while_queries_are_out() {
    let (a, b) = (Upstream::new(), Upstream::new());
    let mut rig = Rig::new(vec![a.addr(), b.addr()]);
    rig.ask(&edns_query(1, "one.example", rtype::A));
    rig.ask(&edns_query(2, "two.example", rtype::A));
    let (q1, from1) = a.query();
    let _ = a.query();
    // The WAN lease changed: no servers at all for now.
    rig.fwd.set_upstream(vec![]);
    // An answer from the old server still reaches its client ...
    a.reply(from1, &with_a(&q1, 60, &[EXAMPLE]));
    let first = rig.answer();
    assert_eq!((first.header.id, addresses(&first)), (1, vec![EXAMPLE]));
    // ... and a query whose server stays silent ends in SERVFAIL, with no one left to ask.
    rig.later(2);
    let second = rig.answer();
    assert_eq!((second.header.id, second.header.rcode()), (2, rcode::SERVFAIL));
    // New servers: used from the next query on.
    rig.fwd.set_upstream(vec![b.addr()]);
    rig.ask(&edns_query(3, "three.example", rtype::A));
    let (q, from) = b.query();
    b.reply(from, &with_a(&q, 60, &[EXAMPLE]));
    assert_eq!(rig.answer().header.id, 3);
}

/// Issue "netd holds under abuse": a zero-length frame closes the TCP connection (after
/// the queries before it are answered); many pipelined queries are all answered.
#[test]
fn pipelined_tcp_queries_are_answered_and_an_empty_frame_closes_the_connection() {
    let mut rig = Rig::new(vec![]);
    let mut tcp = TcpStream::connect(rig.addr()).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let mut all = Vec::new();
    for id in 0..100u16 {
        all.extend(proto::tcp::frame(&Message::query(id, name("nas.lan"), rtype::A).encode().unwrap()).unwrap());
    }
    all.extend([0, 0]);
    all.extend(proto::tcp::frame(&Message::query(1000, name("nas.lan"), rtype::A).encode().unwrap()).unwrap());
    tcp.write_all(&all).unwrap();
    rig.pump();
    for id in 0..100u16 {
        let a = Message::parse(&proto::tcp::read_message(&mut tcp).unwrap()).unwrap();
        assert_eq!(a.header.id, id);
    }
    let mut rest = Vec::new();
    let _ = tcp.read_to_end(&mut rest);
    assert!(rest.is_empty(), "closed without answering after the empty frame: {rest:?}");
    assert!(rig.fwd.clients.is_empty());
}

#[test]
fn a_tcp_query_longer_than_the_limit_closes_the_connection() {
    let mut rig = Rig::new(vec![]);
    let mut tcp = TcpStream::connect(rig.addr()).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    tcp.write_all(&((MAX_TCP_QUERY + 1) as u16).to_be_bytes()).unwrap();
    rig.pump();
    let mut rest = Vec::new();
    let _ = tcp.read_to_end(&mut rest);
    assert!(rest.is_empty());
    assert!(rig.fwd.clients.is_empty());
}

/// Asks `n` (type `qtype`) through the rig; the upstream answers with `data`; returns
/// what the client got.
fn through_upstream(rig: &mut Rig, up: &Upstream, id: u16, n: &str, qtype: u16, data: &[RData]) -> Message {
    rig.ask(&edns_query(id, n, qtype));
    let (q, from) = up.query();
    let mut m = q.response();
    m.answers.extend(data.iter().map(|d| Record::new(q.questions[0].name.clone(), 300, d.clone())));
    up.reply(from, &m);
    rig.answer()
}

/// DNS rebinding: a public name that an upstream answers with a private, loopback or
/// link-local address gets an empty NOERROR answer (as dnsmasq's --stop-dns-rebind), is
/// not cached; public addresses pass; a domain of `rebind_ok` passes; LAN names are local.
#[test]
fn rebinding_answers_are_dropped_unless_the_domain_is_allowed() {
    let up = Upstream::new();
    let mut rig = Rig::new(vec![up.addr()]);
    let evil = Ipv4Addr::new(192, 168, 1, 5);
    let a = through_upstream(&mut rig, &up, 1, "evil.example", rtype::A, &[RData::A(evil)]);
    assert_eq!((a.header.id, a.header.rcode(), a.answers.len(), a.authority.len()), (1, rcode::NOERROR, 0, 0), "evil.example: empty: {a:?}");
    assert_eq!(rig.fwd.stats().rebind, 1);
    // Not cached: asked upstream again.
    let a = through_upstream(&mut rig, &up, 2, "evil.example", rtype::A, &[RData::A(evil)]);
    assert!(a.answers.is_empty());

    let good = Ipv4Addr::new(93, 184, 216, 34);
    let a = through_upstream(&mut rig, &up, 3, "good.example", rtype::A, &[RData::A(good)]);
    assert_eq!(addresses(&a), [good], "a public address passes");

    let inside = Ipv4Addr::new(10, 1, 2, 3);
    let a = through_upstream(&mut rig, &up, 4, "git.Corp.Example", rtype::A, &[RData::A(inside)]);
    assert_eq!(addresses(&a), [inside], "rebind_ok covers subdomains, without case");
    let a = through_upstream(&mut rig, &up, 5, "corp.example.evil.example", rtype::A, &[RData::A(inside)]);
    assert!(a.answers.is_empty(), "a name merely containing the allowed domain is not in it");

    // One private record among public ones is enough; AAAA and mapped forms too.
    let a = through_upstream(&mut rig, &up, 6, "mixed.example", rtype::A, &[RData::A(good), RData::A(Ipv4Addr::LOCALHOST)]);
    assert!(a.answers.is_empty());
    for (i, v6) in ["fd00::1", "fe80::1", "::1", "::ffff:192.168.1.5", "::ffff:127.0.0.1"].iter().enumerate() {
        let a = through_upstream(&mut rig, &up, 10 + i as u16, "six.example", rtype::AAAA, &[RData::Aaaa(v6.parse().unwrap())]);
        assert!(a.answers.is_empty(), "{v6}");
    }
    let a = through_upstream(&mut rig, &up, 20, "six.example", rtype::AAAA, &[RData::Aaaa("2001:db8::1".parse().unwrap())]);
    assert_eq!(a.answers.len(), 1, "a public AAAA passes");
    assert_eq!(rig.fwd.stats().rebind, 9);

    // LAN names never go upstream and are not filtered.
    rig.ask(&edns_query(30, "nas.lan", rtype::A));
    assert_eq!(addresses(&rig.answer()), [Ipv4Addr::new(192, 168, 1, 10)]);
    assert!(up.nothing_received());
}

#[test]
fn rebind_protection_can_be_turned_off() {
    let up = Upstream::new();
    let mut rig = Rig::new(vec![up.addr()]);
    rig.fwd.rebind_protection = false;
    let evil = Ipv4Addr::new(192, 168, 1, 5);
    let a = through_upstream(&mut rig, &up, 1, "evil.example", rtype::A, &[RData::A(evil)]);
    assert_eq!(addresses(&a), [evil]);
    let cfg = oxwrt_config::Config::parse("[dns]\nrebind_protection = false\nrebind_domain = [\"plex.direct\"]\n", "").unwrap();
    let s = Settings::from_config(&cfg.network);
    assert_eq!((s.rebind_protection, s.rebind_ok.as_slice()), (false, ["plex.direct".to_string()].as_slice()));
    assert!(Settings::from_config(&oxwrt_config::Config::default().network).rebind_protection, "on by default");
}

#[test]
fn rebind_targets() {
    for ip in [
        "10.0.0.1",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.5",
        "127.0.0.1",
        "127.255.0.1",
        "0.0.0.0",
        "0.1.2.3",
        "169.254.1.1",
        "::1",
        "::",
        "fc00::1",
        "fdff::1",
        "fe80::1",
        "febf::1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.0.1",
    ] {
        assert!(rebind_target(ip.parse().unwrap()), "{ip}");
    }
    for ip in ["8.8.8.8", "172.32.0.1", "172.15.0.1", "192.0.2.1", "100.64.0.1", "2001:db8::1", "fec0::1", "::ffff:8.8.8.8", "ff02::1"] {
        assert!(!rebind_target(ip.parse().unwrap()), "{ip}");
    }
    // Truncated or garbled messages: no panic, no address.
    let mut m = Message::query(1, name("x.example"), rtype::A).response();
    m.answers.push(Record::new(name("x.example"), 1, RData::A(Ipv4Addr::new(10, 0, 0, 1))));
    let wire = m.encode().unwrap();
    assert!(rebind_address(&wire).is_some());
    for n in 0..wire.len() {
        assert!(rebind_address(&wire[..n]).is_none(), "{n} bytes");
    }
}
