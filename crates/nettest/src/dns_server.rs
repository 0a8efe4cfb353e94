//! The ISP's DNS server: answers A queries from a table of names over UDP and TCP port 53,
//! NXDOMAIN for the rest; can set TC on every UDP answer to force clients (and the
//! router's forwarder) over to TCP. Records each query with its source.

use crate::dns::{self, Message, DNS_PORT};
use crate::stack::{Service, Stack};
use smoltcp::iface::{Interface, SocketHandle, SocketSet};
use smoltcp::socket::{tcp, udp};
use smoltcp::time::Instant;
use smoltcp::wire::{IpEndpoint, Ipv4Address};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Simultaneous TCP connections the server accepts.
const TCP_LISTENERS: usize = 4;

/// A query the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsQuery {
    pub from: IpEndpoint,
    pub name: String,
    pub qtype: u16,
    pub over_tcp: bool,
    /// On the ISP host's clock.
    pub at: Instant,
}

/// The names and switches of the server, and its log; shared with the test, which may
/// change them while the server runs.
#[derive(Debug, Default)]
pub struct DnsZone {
    /// Lower-case names without the final dot.
    pub names: BTreeMap<String, Ipv4Address>,
    /// Answer UDP queries with TC set and no answers.
    pub truncate_udp: bool,
    pub ttl: u32,
    pub queries: Vec<DnsQuery>,
}

impl DnsZone {
    pub fn insert(&mut self, name: &str, address: Ipv4Address) {
        self.names.insert(name.trim_end_matches('.').to_ascii_lowercase(), address);
    }

    /// The encoded response to a query (None: not a query at all).
    fn answer(&mut self, now: Instant, query: &[u8], from: IpEndpoint, over_tcp: bool) -> Option<Vec<u8>> {
        let query = Message::parse(query).ok().filter(|m| !m.is_response())?;
        let Some(q) = query.questions.first().cloned() else {
            return Some(Message::response(&query, dns::RCODE_FORMERR, Vec::new(), false).encode());
        };
        self.queries.push(DnsQuery { from, name: q.name.clone(), qtype: q.qtype, over_tcp, at: now });
        let truncated = self.truncate_udp && !over_tcp;
        let response = match self.names.get(&q.name) {
            None => Message::response(&query, dns::RCODE_NXDOMAIN, Vec::new(), truncated),
            Some(a) if q.qtype == dns::TYPE_A => Message::response(&query, dns::RCODE_NOERROR, vec![dns::a_record(&q.name, *a, self.ttl)], truncated),
            Some(_) => Message::response(&query, dns::RCODE_NOERROR, Vec::new(), truncated),
        };
        Some(response.encode())
    }
}

struct TcpConn {
    socket: SocketHandle,
    buf: Vec<u8>,
}

pub struct DnsServer {
    address: Ipv4Address,
    udp: SocketHandle,
    tcp: Vec<TcpConn>,
    zone: Arc<Mutex<DnsZone>>,
}

impl DnsServer {
    /// Adds the server to a stack on `address` port 53 (the address must be the host's).
    pub fn install(stack: &mut Stack, address: Ipv4Address, zone: Arc<Mutex<DnsZone>>) {
        let mut udp = udp::Socket::new(
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 32], vec![0; 32 * 512]),
            udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 32], vec![0; 32 * 512]),
        );
        udp.bind((address, DNS_PORT)).expect("port 53 is free");
        let udp = stack.sockets.add(udp);
        let tcp = (0..TCP_LISTENERS)
            .map(|_| {
                let mut socket = tcp::Socket::new(tcp::SocketBuffer::new(vec![0; 4096]), tcp::SocketBuffer::new(vec![0; 8192]));
                // Listening from now on: a SYN may arrive before the next poll of services.
                socket.listen((address, DNS_PORT)).expect("a valid port");
                TcpConn { socket: stack.sockets.add(socket), buf: Vec::new() }
            })
            .collect();
        stack.add_service(DnsServer { address, udp, tcp, zone });
    }
}

impl Service for DnsServer {
    fn poll(&mut self, now: Instant, _iface: &mut Interface, sockets: &mut SocketSet<'static>) {
        let mut zone = self.zone.lock().unwrap();
        let socket = sockets.get_mut::<udp::Socket>(self.udp);
        while let Ok((query, meta)) = socket.recv() {
            let query = query.to_vec();
            if let Some(response) = zone.answer(now, &query, meta.endpoint, false) {
                let _ = socket.send_slice(&response, meta.endpoint);
            }
        }
        for conn in &mut self.tcp {
            let socket = sockets.get_mut::<tcp::Socket>(conn.socket);
            if !socket.is_open() {
                conn.buf.clear();
                let _ = socket.listen((self.address, DNS_PORT));
                continue;
            }
            let _ = socket.recv(|b| {
                conn.buf.extend_from_slice(b);
                (b.len(), ())
            });
            // Messages are prefixed with their 2-byte length.
            while conn.buf.len() >= 2 && conn.buf.len() >= 2 + usize::from(u16::from_be_bytes([conn.buf[0], conn.buf[1]])) {
                let len = usize::from(u16::from_be_bytes([conn.buf[0], conn.buf[1]]));
                let query: Vec<u8> = conn.buf.drain(..2 + len).skip(2).collect();
                let from = socket.remote_endpoint().unwrap_or(IpEndpoint::new(Ipv4Address::UNSPECIFIED.into(), 0));
                if let Some(response) = zone.answer(now, &query, from, true) {
                    let mut framed = (response.len() as u16).to_be_bytes().to_vec();
                    framed.extend_from_slice(&response);
                    let _ = socket.send_slice(&framed);
                }
            }
            if socket.state() == tcp::State::CloseWait {
                socket.close();
            }
        }
    }
}
