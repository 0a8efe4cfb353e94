//! Bounded load for the lab's routers ([`crate::tools::lab`]): DNS queries over UDP and
//! TCP, DHCP clients with made-up MAC addresses, a service's resident memory. Each runs
//! inside a network namespace (the laptop's), stops at a count or a time limit, whichever
//! comes first, and returns what it saw; the flood tests (xtask/tests/lab.rs) and
//! `cargo xtask bench net` share them. Packets are built with netd's own wire-format crate
//! (oxwrt-netproto); what answers them is the router.

use crate::tools::qemu::Guest;
use netproto::dhcp::{Message as Dhcp, MessageType, FLAG_BROADCAST};
use netproto::dns::{Message as Dns, Name};
use oxwrt_testkit::netns::Netns;
use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// A DNS query for `name` (type A).
pub fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let name = Name::from_ascii(name).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    Dns::query(id, name, 1).encode().expect("a query encodes")
}

/// `conns` TCP connections to `server`, each writing `queries` framed queries (names under
/// `domain`) and reading nothing; returns how many connected. The streams stay open until
/// the function returns.
pub fn dns_tcp_flood(ns: &Netns, server: SocketAddr, conns: u16, queries: u16, domain: &str) -> usize {
    let domain = domain.to_string();
    ns.run(move || {
        let mut open = Vec::new();
        for c in 0..conns {
            let Ok(mut s) = TcpStream::connect_timeout(&server, Duration::from_secs(5)) else { continue };
            let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
            let mut buf = Vec::new();
            for i in 0..queries {
                let q = dns_query(i, &format!("t{c}-{i}.{domain}"));
                buf.extend_from_slice(&(q.len() as u16).to_be_bytes());
                buf.extend_from_slice(&q);
            }
            let _ = s.write_all(&buf); // the server may close it: that is allowed
            open.push(s);
        }
        open.len()
    })
}

/// What a run of UDP queries got.
#[derive(Debug, Clone, Copy)]
pub struct UdpRun {
    pub sent: usize,
    pub answered: usize,
    pub elapsed: Duration,
}

impl UdpRun {
    /// Answers per second.
    pub fn rate(&self) -> f64 {
        self.answered as f64 / self.elapsed.as_secs_f64().max(1e-6)
    }
}

/// Sends one query for each of `names` to `server` with at most `window` unanswered at
/// once (a query unanswered for a second no longer counts against the window), for at most
/// `limit`; counts the answers (by query id).
pub fn dns_udp(ns: &Netns, server: SocketAddr, names: Vec<String>, window: usize, limit: Duration) -> UdpRun {
    ns.run(move || {
        let s = UdpSocket::bind("0.0.0.0:0").expect("a UDP socket");
        s.set_read_timeout(Some(Duration::from_millis(2))).expect("a timeout");
        let mut out: HashMap<u16, Instant> = HashMap::new();
        let (mut sent, mut answered) = (0, 0);
        let mut buf = [0u8; 1500];
        let started = Instant::now();
        let mut next = names.iter().enumerate();
        let mut done_sending = false;
        while started.elapsed() < limit && !(done_sending && out.is_empty()) {
            let now = Instant::now();
            out.retain(|_, t| now.duration_since(*t) < Duration::from_secs(1));
            while !done_sending && out.len() < window {
                match next.next() {
                    Some((i, name)) => {
                        let id = i as u16;
                        if s.send_to(&dns_query(id, name), server).is_ok() {
                            out.insert(id, Instant::now());
                            sent += 1;
                        }
                    }
                    None => done_sending = true,
                }
            }
            while let Ok(n) = s.recv(&mut buf) {
                if n >= 2 && out.remove(&u16::from_be_bytes([buf[0], buf[1]])).is_some() {
                    answered += 1;
                }
            }
        }
        UdpRun { sent, answered, elapsed: started.elapsed() }
    })
}

/// What a run of DHCP clients got.
#[derive(Debug, Clone, Copy)]
pub struct DhcpRun {
    pub offered: usize,
    pub acked: usize,
    pub elapsed: Duration,
}

/// Up to `clients` DHCP clients with made-up MACs (02:f1:..), one after the other:
/// DISCOVER, REQUEST what was offered, wait for the ACK (broadcast replies, from UDP port
/// 68 in `ns`). Stops after 10 DISCOVERs in a row got no offer (the pool or the lease
/// table is full) or after `limit`.
pub fn dhcp_clients(ns: &Netns, clients: u32, limit: Duration) -> DhcpRun {
    ns.run(move || {
        let s = UdpSocket::bind("0.0.0.0:68").expect("UDP port 68 (root, nothing else on it)");
        s.set_broadcast(true).expect("SO_BROADCAST");
        s.set_read_timeout(Some(Duration::from_millis(300))).expect("a timeout");
        let (mut offered, mut acked, mut unanswered) = (0, 0, 0);
        let mut buf = [0u8; 1500];
        let started = Instant::now();
        let mut reply = |xid: u32, want: MessageType| loop {
            match s.recv(&mut buf) {
                Ok(n) => match Dhcp::parse(&buf[..n]) {
                    Ok(m) if m.xid == xid && m.message_type() == Some(want) => break Some(m),
                    _ => continue,
                },
                Err(_) => break None,
            }
        };
        let sock = s.try_clone().expect("a second handle");
        for i in 0..clients {
            let mac = [0x02, 0xf1, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8];
            let mut d = Dhcp::request(MessageType::Discover, 0x0f00_0000 + i, mac);
            d.flags = FLAG_BROADCAST;
            let _ = sock.send_to(&d.encode().expect("encodes"), "255.255.255.255:67");
            match reply(d.xid, MessageType::Offer) {
                Some(o) => {
                    offered += 1;
                    unanswered = 0;
                    let mut q = Dhcp::request(MessageType::Request, d.xid, mac);
                    q.flags = FLAG_BROADCAST;
                    q.options.set_requested_ip(o.yiaddr);
                    if let Some(id) = o.options.server_id() {
                        q.options.set_server_id(id);
                    }
                    let _ = sock.send_to(&q.encode().expect("encodes"), "255.255.255.255:67");
                    if reply(d.xid, MessageType::Ack).is_some() {
                        acked += 1;
                    }
                }
                None => unanswered += 1,
            }
            if unanswered >= 10 || started.elapsed() > limit {
                break;
            }
        }
        DhcpRun { offered, acked, elapsed: started.elapsed() }
    })
}

/// A running service's resident memory (KiB), from the guest's `service` table and its
/// /proc/<pid>/status.
pub fn rss_kib(g: &mut Guest, service: &str) -> u64 {
    let pid = g.service_pid(service);
    let st = g.shell(&format!("cat /proc/{pid}/status"));
    st.lines()
        .find_map(|l| l.trim().strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS for {service} ({pid}):\n{st}"))
}
