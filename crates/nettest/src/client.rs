//! What a harness host can do from the test thread, each with a deadline: take a DHCP
//! lease, ping, open a TCP connection, fetch a page, resolve a name (UDP, then TCP when
//! the answer is truncated). Failures say what timed out or was refused.

use crate::dhcp::{DhcpClient, Lease};
use crate::dns::{self, Message};
use crate::host::Host;
use crate::http::{HttpConnection, HttpResponse, HttpServer};
use crate::stack::Stack;
use smoltcp::iface::SocketHandle;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::socket::{icmp, tcp, udp};
use smoltcp::wire::{Icmpv4Packet, Icmpv4Repr, IpAddress, IpEndpoint, Ipv4Address};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why an operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetError {
    /// Nothing (or not enough) came back in time: what was awaited.
    TimedOut(String),
    /// The peer answered a connection attempt with a reset.
    Refused(IpEndpoint),
    /// The host cannot send there (no address yet, no route).
    Unreachable(String),
    /// The peer answered something that makes no sense.
    Protocol(String),
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::TimedOut(what) => write!(f, "timed out waiting for {what}"),
            NetError::Refused(to) => write!(f, "connection to {to} refused (reset)"),
            NetError::Unreachable(why) => write!(f, "cannot send: {why}"),
            NetError::Protocol(why) => write!(f, "bad answer: {why}"),
        }
    }
}

impl std::error::Error for NetError {}

/// A name resolution's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsAnswer {
    pub rcode: u8,
    pub addresses: Vec<Ipv4Address>,
    /// The UDP answer was truncated (TC) and the query was repeated over TCP.
    pub over_tcp: bool,
}

impl DnsAnswer {
    pub fn is_nxdomain(&self) -> bool {
        self.rcode == dns::RCODE_NXDOMAIN
    }
}

/// Receive buffer of the client's HTTP connections, and send buffer of its uploads: a
/// window that can fill a bloated modem's queue (smoltcp scales the window).
const CLIENT_BUFFER: usize = 1 << 20;
/// How long a harness TCP connection may stay silent once established.
const TCP_IDLE: Duration = Duration::from_secs(30);

fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

impl Host {
    /// Starts a DHCP client (sending `hostname` as option 12) and waits for its first
    /// lease, which it applies to the interface (address, default route). The client stays
    /// and renews (a second call reuses it, with its first hostname); [`Host::lease`] reads
    /// its current lease.
    pub fn dhcp(&self, hostname: Option<&str>, timeout: Duration) -> Result<Lease, NetError> {
        let state = {
            let mut dhcp = self.dhcp.lock().unwrap();
            dhcp.get_or_insert_with(|| self.with(|s| DhcpClient::install(s, hostname))).clone()
        };
        self.wait_until(timeout, |_| state.lock().unwrap().lease.clone()).ok_or_else(|| NetError::TimedOut(format!("a DHCP lease for {}", self.name())))
    }

    /// The DHCP client's current lease.
    pub fn lease(&self) -> Option<Lease> {
        self.dhcp.lock().unwrap().as_ref().and_then(|s| s.lock().unwrap().lease.clone())
    }

    /// Sends one ICMP echo request and waits for the reply: the round trip time.
    pub fn ping(&self, to: Ipv4Address, timeout: Duration) -> Result<Duration, NetError> {
        let (handle, ident) = self.with(|s| {
            let ident = s.ephemeral_port();
            let mut socket = icmp::Socket::new(
                icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0; 2048]),
                icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0; 2048]),
            );
            socket.bind(icmp::Endpoint::Ident(ident)).expect("a fresh socket binds");
            (s.sockets.add(socket), ident)
        });
        let request = Icmpv4Repr::EchoRequest { ident, seq_no: 1, data: b"oxwrt-nettest" };
        let sent = self.with(|s| {
            let socket = s.sockets.get_mut::<icmp::Socket>(handle);
            let buf = socket.send(request.buffer_len(), IpAddress::Ipv4(to)).map_err(|e| NetError::Unreachable(e.to_string()))?;
            request.emit(&mut Icmpv4Packet::new_unchecked(buf), &ChecksumCapabilities::default());
            Ok(Instant::now())
        });
        let reply = sent.and_then(|sent| {
            self.wait_until(timeout, |s| {
                let socket = s.sockets.get_mut::<icmp::Socket>(handle);
                while let Ok((packet, from)) = socket.recv() {
                    let Ok(packet) = Icmpv4Packet::new_checked(packet) else { continue };
                    if let Ok(Icmpv4Repr::EchoReply { ident: i, seq_no: 1, .. }) = Icmpv4Repr::parse(&packet, &ChecksumCapabilities::default()) {
                        if i == ident && from == IpAddress::Ipv4(to) {
                            return Some(sent.elapsed());
                        }
                    }
                }
                None
            })
            .ok_or_else(|| NetError::TimedOut(format!("an echo reply from {to}")))
        });
        self.with(|s| s.sockets.remove(handle));
        reply
    }

    /// Opens a TCP connection and closes it again: Ok if it was accepted, Refused on a
    /// reset, TimedOut when nothing came back (e.g. a firewall dropping it).
    pub fn tcp_connect(&self, to: impl Into<IpEndpoint>, timeout: Duration) -> Result<(), NetError> {
        let deadline = Instant::now() + timeout;
        let handle = self.open_tcp(to.into(), 4096, 4096, deadline)?;
        self.with(|s| s.retire_tcp(handle));
        Ok(())
    }

    /// GET `path` from `to` (HTTP/1.1, `Connection: close`), the whole response.
    pub fn http_get(&self, to: impl Into<IpEndpoint>, path: &str, timeout: Duration) -> Result<HttpResponse, NetError> {
        self.http_request(to.into(), "GET", path, 0, timeout)
    }

    /// POSTs `len` generated bytes to `path` on `to` (an upload), the whole response.
    pub fn http_post(&self, to: impl Into<IpEndpoint>, path: &str, len: usize, timeout: Duration) -> Result<HttpResponse, NetError> {
        self.http_request(to.into(), "POST", path, len, timeout)
    }

    /// Serves HTTP on `port` of all of this host's addresses (see [`HttpServer`]), e.g.
    /// the LAN side of a port forward; returns the connection log.
    pub fn serve_http(&self, port: u16, body: &[u8]) -> Arc<Mutex<Vec<HttpConnection>>> {
        self.with(|s| HttpServer::install(s, None, port, body))
    }

    fn http_request(&self, to: IpEndpoint, method: &str, path: &str, upload: usize, timeout: Duration) -> Result<HttpResponse, NetError> {
        let deadline = Instant::now() + timeout;
        let handle = self.open_tcp(to, CLIENT_BUFFER, if upload > 0 { CLIENT_BUFFER } else { 4096 }, deadline)?;
        let length = if upload > 0 { format!("Content-Length: {upload}\r\n") } else { String::new() };
        let head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: oxwrt-nettest\r\n{length}Connection: close\r\n\r\n", to.addr).into_bytes();
        let chunk = [b'u'; 16384];
        let (mut head_sent, mut body_sent) = (0, 0);
        let mut data = Vec::new();
        let response = self.wait_until(left(deadline), |s| {
            let socket = s.sockets.get_mut::<tcp::Socket>(handle);
            // The head, then the upload as the send buffer frees up.
            while head_sent < head.len() && socket.can_send() {
                match socket.send_slice(&head[head_sent..]) {
                    Ok(n) if n > 0 => head_sent += n,
                    _ => break,
                }
            }
            while head_sent == head.len() && body_sent < upload && socket.can_send() {
                match socket.send_slice(&chunk[..(upload - body_sent).min(chunk.len())]) {
                    Ok(n) if n > 0 => body_sent += n,
                    _ => break,
                }
            }
            while socket.can_recv() {
                let _ = socket.recv(|b| {
                    data.extend_from_slice(b);
                    (b.len(), ())
                });
            }
            HttpResponse::parse(&data, !socket.may_recv()).transpose()
        });
        self.with(|s| s.retire_tcp(handle));
        match response {
            Some(Ok(r)) => Ok(r),
            Some(Err(e)) => Err(NetError::Protocol(format!("{method} {path} on {to}: {e}"))),
            None => Err(NetError::TimedOut(format!("the response to {method} {path} on {to} ({} bytes so far)", data.len()))),
        }
    }

    /// Resolves `name` (type A) with the server at `server`:53 over UDP; when the answer
    /// is truncated, asks again over TCP.
    pub fn resolve(&self, server: Ipv4Address, name: &str, timeout: Duration) -> Result<DnsAnswer, NetError> {
        let deadline = Instant::now() + timeout;
        let to = IpEndpoint::new(server.into(), dns::DNS_PORT);
        let (handle, query) = self.with(|s| {
            let id = s.ephemeral_port();
            let mut socket = udp::Socket::new(
                udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0; 4096]),
                udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0; 4096]),
            );
            socket.bind(s.ephemeral_port()).expect("a fresh socket binds");
            (s.sockets.add(socket), Message::query(id, name, dns::TYPE_A))
        });
        let sent = self.with(|s| s.sockets.get_mut::<udp::Socket>(handle).send_slice(&query.encode(), to)).map_err(|e| NetError::Unreachable(e.to_string()));
        let answer = sent.and_then(|()| {
            self.wait_until(left(deadline), |s| {
                let socket = s.sockets.get_mut::<udp::Socket>(handle);
                while let Ok((bytes, meta)) = socket.recv() {
                    match Message::parse(bytes) {
                        Ok(m) if m.id == query.id && m.is_response() && meta.endpoint == to => return Some(Ok(m)),
                        Ok(_) => {}
                        Err(e) => return Some(Err(NetError::Protocol(format!("DNS answer from {to}: {e}")))),
                    }
                }
                None
            })
            .unwrap_or_else(|| Err(NetError::TimedOut(format!("a DNS answer for {name} from {to} (UDP)"))))
        });
        self.with(|s| s.sockets.remove(handle));
        let answer = answer?;
        if !answer.truncated() {
            return Ok(DnsAnswer { rcode: answer.rcode(), addresses: answer.ipv4_answers(), over_tcp: false });
        }
        let answer = self.dns_over_tcp(to, &query, name, deadline)?;
        Ok(DnsAnswer { rcode: answer.rcode(), addresses: answer.ipv4_answers(), over_tcp: true })
    }

    fn dns_over_tcp(&self, to: IpEndpoint, query: &Message, name: &str, deadline: Instant) -> Result<Message, NetError> {
        let handle = self.open_tcp(to, 8192, 8192, deadline)?;
        let bytes = query.encode();
        let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&bytes);
        self.with(|s| s.sockets.get_mut::<tcp::Socket>(handle).send_slice(&framed)).map_err(|e| NetError::Unreachable(e.to_string()))?;
        let mut data = Vec::new();
        let answer = self.wait_until(left(deadline), |s| {
            let socket = s.sockets.get_mut::<tcp::Socket>(handle);
            while socket.can_recv() {
                let _ = socket.recv(|b| {
                    data.extend_from_slice(b);
                    (b.len(), ())
                });
            }
            if data.len() >= 2 {
                let len = usize::from(u16::from_be_bytes([data[0], data[1]]));
                if data.len() >= 2 + len {
                    return Some(Message::parse(&data[2..2 + len]).map_err(|e| NetError::Protocol(format!("DNS answer from {to} over TCP: {e}"))));
                }
            }
            (!socket.may_recv()).then(|| Err(NetError::Protocol(format!("{to} closed the TCP connection without a whole DNS answer"))))
        });
        self.with(|s| s.retire_tcp(handle));
        answer.unwrap_or_else(|| Err(NetError::TimedOut(format!("a DNS answer for {name} from {to} (TCP)"))))
    }

    /// A TCP connection to `to`, established by `deadline`.
    fn open_tcp(&self, to: IpEndpoint, rx: usize, tx: usize, deadline: Instant) -> Result<SocketHandle, NetError> {
        let handle = self.with(|s: &mut Stack| {
            let mut socket = tcp::Socket::new(tcp::SocketBuffer::new(vec![0; rx]), tcp::SocketBuffer::new(vec![0; tx]));
            let port = s.ephemeral_port();
            socket.connect(s.iface.context(), to, port).map_err(|e| NetError::Unreachable(format!("connect to {to}: {e}")))?;
            Ok(s.sockets.add(socket))
        })?;
        let state = self.wait_until(left(deadline), |s| match s.sockets.get::<tcp::Socket>(handle).state() {
            tcp::State::SynSent | tcp::State::SynReceived => None,
            tcp::State::Closed => Some(Err(NetError::Refused(to))),
            _ => Some(Ok(())),
        });
        match state {
            Some(Ok(())) => {
                self.with(|s| s.sockets.get_mut::<tcp::Socket>(handle).set_timeout(Some(TCP_IDLE.into())));
                Ok(handle)
            }
            Some(Err(e)) => {
                self.with(|s| s.sockets.remove(handle));
                Err(e)
            }
            None => {
                self.with(|s| {
                    s.sockets.get_mut::<tcp::Socket>(handle).abort();
                    s.retire_tcp(handle)
                });
                Err(NetError::TimedOut(format!("TCP connection to {to} to be accepted")))
            }
        }
    }
}
